// The automatic segments of the database, compiled once per backend and
// compiled again after any change to segmentation.segments.
//
// Definitions are read like catalog entries: always the latest committed
// version (plus this transaction's own changes), never an older snapshot.
// Evaluators hold the definitions lock in share mode and editors (anything
// that changes segments) in exclusive mode, so a customer is never evaluated
// against criteria that are being replaced; see CONTRIBUTING.md.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/matcher.hpp"
#include "glue/boundary/guard.hpp"

namespace segmentation::glue {

// The compiled automatic segments, in the order of their references
// (inSegment, notInSegment). Building them refuses references to segments
// that do not exist (42704) and cycles (22023). Takes the definitions lock
// in share mode first (held to the end of the transaction). Callers keep the
// pointer for as long as they use the set: an invalidation may replace the
// cached one at any statement boundary.
std::shared_ptr<const SegmentSet> automatic_segments();

// The automatic segments (as "3 (\"Name\")") whose criteria refer to one
// of `segments`, as the latest snapshot sees them: those referring to the
// first of `segments` that has any, which is stored in `referenced`.
std::vector<std::string> segments_referring_to(const std::vector<int64>& segments, int64& referenced);

// Whether segment `id` exists (manual or automatic). Needs SPI.
bool segment_exists(int64 id);

// Takes the definitions lock in share mode (evaluators; automatic_segments()
// does it too) or in exclusive mode (editors of segments). Every path that
// locks customers takes this lock first, so the two never wait in a cycle.
void lock_definitions_shared();
void lock_definitions_exclusively();

// Drops the compiled segments; the trigger on segments calls this (through a
// relcache invalidation, so other backends drop theirs at commit).
SEGMENTATION_PG_CONTEXT void register_segment_cache_callbacks();

}  // namespace segmentation::glue
