// References between segments (inSegment / notInSegment): the order in which
// a customer's segments are evaluated, cycles, and who depends on whom. Pure:
// the glue supplies the segments and their references.
#pragma once

#include "core/pure.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace segmentation {

// A segment whose criteria refer to others (ids; any order, repeats allowed).
// References to ids that are not nodes (manual segments) are leaves.
struct SegmentNode {
    std::int64_t id;
    std::vector<std::int64_t> references;
};

// Segments that refer to themselves through their references. `cycle` names
// them in the order of the references, starting from the smallest id and
// ending with it again: {3, 5, 3} is 3 → 5 → 3.
class ReferenceCycle : public std::runtime_error {
public:
    explicit ReferenceCycle(std::vector<std::int64_t> cycle)
        : std::runtime_error("segment references make a cycle"), cycle_(std::move(cycle)) {}
    const std::vector<std::int64_t>& cycle() const noexcept { return cycle_; }

private:
    std::vector<std::int64_t> cycle_;
};

// The nodes' ids ordered so that every segment comes after the segments it
// refers to; among segments free to go, the smallest id first (the result is
// the same whatever the order of `nodes`). Throws ReferenceCycle.
std::vector<std::int64_t> topological_order(const std::vector<SegmentNode>& nodes);

// The segments that refer to any of `segments`, directly or through others,
// ascending; `segments` themselves are not included unless they depend on
// one another.
std::vector<std::int64_t> dependents_of(const std::vector<SegmentNode>& nodes,
                                        const std::vector<std::int64_t>& segments);

}  // namespace segmentation
