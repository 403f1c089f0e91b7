// The criteria language: a JSON object of bounds over customer metrics,
// nested with "all", "any" and "not". This header is the model and its
// validating reader; matcher.hpp compiles a model for evaluation.
#pragma once

#include "core/pure.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/attributes.hpp"
#include "core/exact.hpp"
#include "core/json.hpp"
#include "core/windows.hpp"

namespace segmentation {

enum class Metric : std::uint8_t {
    LifetimeValue,          // sum of order amounts
    Orders,                 // order count
    AverageOrderValue,      // lifetime value / order count
    DaysSinceLastPurchase,  // (as_of - last order) in fractional days
    PurchaseFrequency,      // orders * 30 / max(tenure days, 1)
    TenureDays,             // (as_of - customer since) in fractional days
};

// One inclusive bound, e.g. minOrders: 5 is {Orders, minimum, 5 * 10^18}.
struct Bound {
    Metric metric;
    bool minimum;         // true for min*, false for max*
    exact::int128 units;  // the threshold in units of 10^-18
};

// One level of a criteria document. Everything present at a level must hold.
// Membership of other segments ("inSegment", "notInSegment"): the customer
// is in at least one of `segments` or, negated, in none of them. Segments
// are named by id; the glue checks that they exist and make no cycle.
struct MembershipTest {
    bool negated = false;                // notInSegment
    std::vector<std::int64_t> segments;  // ids as written (non-empty)
    std::string path;                    // where in the document, for messages
};

struct Criteria {
    std::vector<Bound> bounds;
    std::vector<MembershipTest> memberships;  // inSegment / notInSegment
    bool has_loyalty_levels = false;
    std::vector<std::string> loyalty_levels;  // exact, case-sensitive names
    std::vector<Criteria> all;                // every one must match
    std::vector<Criteria> any;                // at least one must match (if present)
    std::vector<Criteria> negated;            // "not": zero or one element
    // Customer attributes (core/attributes.hpp): every condition must hold.
    std::vector<AttributeCondition> attributes;
    // Behaviour in a time window (core/windows.hpp): zero or one per level.
    std::vector<WindowCondition> windows;
};

// Criteria nest at most this deep; the top-level object is level 1.
constexpr int kMaxCriteriaDepth = 32;

// An invalid criteria document. what() is "<path>: <problem>", for example
// "criteria.any[1].minOrders: expected a non-negative number".
class CriteriaError : public std::runtime_error {
public:
    CriteriaError(const std::string& path, const std::string& problem)
        : std::runtime_error(path + ": " + problem), path_(path), problem_(problem) {}
    const std::string& path() const noexcept { return path_; }
    const std::string& problem() const noexcept { return problem_; }

private:
    std::string path_;
    std::string problem_;
};

// Validates and reads a criteria document from JSON text. Throws
// CriteriaError for every way a document can be wrong, with the path of the
// offending element rooted at `root` ("criteria" by default).
Criteria parse_criteria(std::string_view json_text, const std::string& root = "criteria");
Criteria read_criteria(const json::Value& document, const std::string& root = "criteria");

// Checks every attribute condition of a document, at every level, against
// the attributes a shop declared: a CriteriaError at the first unknown name
// or test that does not suit the attribute's kind. parse_criteria checks the
// document alone; callers that know the shop's attributes call this after it.
void check_attributes(const Criteria& criteria, const AttributeSchema& schema);
// Whether a document tests attributes anywhere.
bool uses_attributes(const Criteria& criteria) noexcept;
// Whether it tests attribute `name` anywhere.
bool uses_attribute(const Criteria& criteria, const std::string& name) noexcept;
// Whether a document has a "window" condition anywhere.
bool uses_windows(const Criteria& criteria) noexcept;
// Every segment id the criteria refer to (inSegment, notInSegment), at any
// level, ascending and without repeats.
std::vector<std::int64_t> referenced_segments(const Criteria& criteria);

// The path of the first inSegment / notInSegment test naming `segment`
// ("criteria.any[0].inSegment"), or "" when none does.
std::string reference_path(const Criteria& criteria, std::int64_t segment);

// The JSON key of a bound ("minOrders"), for messages and documentation.
std::string bound_key(Metric metric, bool minimum);

}  // namespace segmentation
