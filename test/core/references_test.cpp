// inSegment / notInSegment: reading them, ordering segments by their
// references, cycles, dependents, and evaluating a customer's segments in
// that order with manual segments and overrides.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/criteria.hpp"
#include "core/matcher.hpp"
#include "core/references.hpp"

using segmentation::Criteria;
using segmentation::CriteriaError;
using segmentation::Customer;
using segmentation::dependents_of;
using segmentation::Matcher;
using segmentation::MemberList;
using segmentation::MembershipContext;
using segmentation::parse_criteria;
using segmentation::ReferenceCycle;
using segmentation::SegmentNode;
using segmentation::SegmentSet;
using segmentation::topological_order;
using Ids = std::vector<std::int64_t>;

namespace {

std::string error_of(const std::string& json) {
    try {
        parse_criteria(json);
    } catch (const CriteriaError& e) {
        return e.what();
    }
    return "";
}

Ids cycle_of(const std::vector<SegmentNode>& nodes) {
    try {
        topological_order(nodes);
    } catch (const ReferenceCycle& e) {
        return e.cycle();
    }
    return {};
}

Customer with_orders(std::int64_t orders) {
    Customer c;
    c.order_count = orders;
    return c;
}

}  // namespace

TEST(Membership, ReadsOneIdOrAnArrayAtAnyLevel) {
    Criteria c = parse_criteria(R"({"inSegment": 3, "any": [{"notInSegment": [7, 5, 7]}], "minOrders": 1})");
    ASSERT_EQ(c.memberships.size(), 1u);
    EXPECT_FALSE(c.memberships[0].negated);
    EXPECT_EQ(c.memberships[0].segments, Ids{3});
    EXPECT_EQ(c.memberships[0].path, "criteria.inSegment");
    ASSERT_EQ(c.any.size(), 1u);
    EXPECT_TRUE(c.any[0].memberships[0].negated);
    EXPECT_EQ(c.any[0].memberships[0].segments, (Ids{7, 5, 7}));
    EXPECT_EQ(segmentation::referenced_segments(c), (Ids{3, 5, 7}));
    EXPECT_EQ(parse_criteria(R"({"inSegment": 9223372036854775807})").memberships[0].segments,
              Ids{9223372036854775807LL});
}

TEST(Membership, RefusesWhatIsNotASegmentId) {
    const std::string both = "expected a segment id (a positive integer) or a non-empty array of segment ids";
    EXPECT_EQ(error_of(R"({"inSegment": []})"), "criteria.inSegment: " + both);
    EXPECT_EQ(error_of(R"({"inSegment": "3"})"), "criteria.inSegment: " + both);
    EXPECT_EQ(error_of(R"({"notInSegment": 0})"), "criteria.notInSegment: " + both);
    EXPECT_EQ(error_of(R"({"inSegment": -1})"), "criteria.inSegment: " + both);
    EXPECT_EQ(error_of(R"({"inSegment": 1.5})"), "criteria.inSegment: " + both);
    EXPECT_EQ(error_of(R"({"inSegment": 1e3})"), "criteria.inSegment: " + both);
    EXPECT_EQ(error_of(R"({"inSegment": 9223372036854775808})"), "criteria.inSegment: " + both);
    EXPECT_EQ(error_of(R"({"all": [{"inSegment": [1, null]}]})"),
              "criteria.all[0].inSegment[1]: expected a segment id (a positive integer)");
    EXPECT_EQ(error_of(R"({"insegment": 1})"), "criteria.insegment: unknown key (did you mean \"inSegment\"?)");
}

TEST(References, OrdersSegmentsAfterThoseTheyReferTo) {
    // 1 refers to 4, 4 to 2 and to manual segment 99; 3 stands alone.
    std::vector<SegmentNode> nodes = {{4, {2, 99}}, {1, {4}}, {2, {}}, {3, {}}};
    EXPECT_EQ(topological_order(nodes), (Ids{2, 3, 4, 1}));
    EXPECT_EQ(topological_order({{3, {}}, {2, {}}, {1, {}}}), (Ids{1, 2, 3}));
}

TEST(References, NamesACycleFromItsSmallestSegment) {
    EXPECT_EQ(cycle_of({{5, {5}}}), (Ids{5, 5}));
    EXPECT_EQ(cycle_of({{7, {3}}, {3, {9}}, {9, {7}}, {1, {}}}), (Ids{3, 9, 7, 3}));
    // A segment leading into a cycle is not part of it.
    EXPECT_EQ(cycle_of({{1, {2}}, {2, {3}}, {3, {2}}}), (Ids{2, 3, 2}));
    EXPECT_EQ(cycle_of({{1, {2}}, {2, {}}}), Ids{});
}

TEST(References, FindsDependentsThroughOtherSegments) {
    std::vector<SegmentNode> nodes = {{1, {}}, {2, {1}}, {3, {2}}, {4, {}}, {5, {4, 1}}, {6, {42}}};
    EXPECT_EQ(dependents_of(nodes, {1}), (Ids{2, 3, 5}));
    EXPECT_EQ(dependents_of(nodes, {3}), Ids{});
    EXPECT_EQ(dependents_of(nodes, {42}), Ids{6});  // a manual segment
    EXPECT_EQ(dependents_of(nodes, {4, 2}), (Ids{3, 5}));
}

TEST(SegmentSetMembership, EvaluatesReferencedSegmentsFirstAndReportsIdsAscending) {
    // 1: in segment 3 (which comes later by id); 2: not in 1; 3: at least 2 orders.
    SegmentSet set;
    set.add(1, Matcher(parse_criteria(R"({"inSegment": 3})")));
    set.add(2, Matcher(parse_criteria(R"({"notInSegment": 1})")));
    set.add(3, Matcher(parse_criteria(R"({"minOrders": 2})")));
    set.order_by_references();
    EXPECT_TRUE(set.uses_membership());
    EXPECT_FALSE(set.refers_to_manual());
    Ids matched;
    set.evaluate(with_orders(5), 0, matched);
    EXPECT_EQ(matched, (Ids{1, 3}));
    matched.clear();
    set.evaluate(with_orders(1), 0, matched);
    EXPECT_EQ(matched, Ids{2});
    EXPECT_EQ(set.dependents({3}), (Ids{1, 2}));
    EXPECT_EQ(set.referrers(1), Ids{2});
}

TEST(SegmentSetMembership, ReadsManualSegmentsFromTheContext) {
    SegmentSet set;
    set.add(2, Matcher(parse_criteria(R"({"inSegment": [7, 8]})")));
    set.add(3, Matcher(parse_criteria(R"({"notInSegment": 8})")));
    set.order_by_references();
    EXPECT_TRUE(set.refers_to_manual());
    Ids matched;
    set.evaluate(with_orders(0), 0, matched);
    EXPECT_EQ(matched, Ids{3});
    MembershipContext in_eight;
    in_eight.manual = {8};
    matched.clear();
    set.evaluate(with_orders(0), 0, matched, in_eight);
    EXPECT_EQ(matched, Ids{2});
}

TEST(SegmentSetMembership, OverridesWinOverCriteriaAndCascade) {
    SegmentSet set;
    set.add(1, Matcher(parse_criteria(R"({"minOrders": 2})")));
    set.add(2, Matcher(parse_criteria(R"({"inSegment": 1})")));
    set.order_by_references();
    MembershipContext included;
    included.included = {1};
    Ids matched;
    set.evaluate(with_orders(0), 0, matched, included);
    EXPECT_EQ(matched, (Ids{1, 2}));  // included in 1, so in 2 as well
    MembershipContext excluded;
    excluded.excluded = {1};
    matched.clear();
    set.evaluate(with_orders(9), 0, matched, excluded);
    EXPECT_EQ(matched, Ids{});
    MembershipContext excluded_from_dependent;
    excluded_from_dependent.excluded = {2};
    matched.clear();
    set.evaluate(with_orders(9), 0, matched, excluded_from_dependent);
    EXPECT_EQ(matched, Ids{1});
}

// A definition change evaluates only the segments it moves and what they
// refer to (segment_triggers.cpp): their membership is the whole set's.
TEST(SegmentSetMembership, LimitedToSomeSegmentsKeepsWhatTheyReferTo) {
    SegmentSet set;
    set.add(1, Matcher(parse_criteria(R"({"minOrders": 2})")));
    set.add(2, Matcher(parse_criteria(R"({"inSegment": 4, "all": [{"inSegment": 7}]})")));  // a later one, a manual one
    set.add(3, Matcher(parse_criteria(R"({"minOrders": 5})")));
    set.add(4, Matcher(parse_criteria(R"({"notInSegment": 3, "inSegment": 1})")));
    set.add(5, Matcher(parse_criteria(R"({"inSegment": 3})")));
    set.order_by_references();
    set.freeze(9);
    set.set_has_overrides(true);
    set.set_version(42, true);
    SegmentSet limited = set.limited_to({2, 8});  // 8: not an automatic segment of the set
    EXPECT_EQ(limited.size(), 4u);                // 2, 4, 1 and 3, which 4 refers to
    EXPECT_TRUE(limited.contains(1) && limited.contains(2) && limited.contains(3) && limited.contains(4));
    EXPECT_FALSE(limited.contains(5));
    EXPECT_TRUE(limited.frozen(9));
    EXPECT_TRUE(limited.has_overrides());
    EXPECT_EQ(limited.version(), 42);
    EXPECT_TRUE(limited.refers_to_manual());
    MembershipContext in_seven;
    in_seven.manual = {7};
    for (std::int64_t orders : {0, 2, 5}) {
        for (const MembershipContext& context : {MembershipContext{}, in_seven}) {
            Ids all, part;
            set.evaluate(with_orders(orders), 0, all, context);
            limited.evaluate(with_orders(orders), 0, part, context);
            Ids expected;
            for (std::int64_t id : all)
                if (id != 5) expected.push_back(id);
            EXPECT_EQ(part, expected) << orders << " orders";
        }
    }
    Ids matched;
    limited.evaluate(with_orders(2), 0, matched, in_seven);
    EXPECT_EQ(matched, (Ids{1, 2, 4}));
    EXPECT_EQ(set.limited_to({5}).size(), 2u);  // 5 and 3
    EXPECT_EQ(set.limited_to({1}).size(), 1u);
    EXPECT_TRUE(set.limited_to({8}).empty());
}

TEST(SegmentSetMembership, RefusesACycle) {
    SegmentSet set;
    set.add(1, Matcher(parse_criteria(R"({"inSegment": 2})")));
    set.add(2, Matcher(parse_criteria(R"({"any": [{"minOrders": 1}, {"not": {"inSegment": 1}}]})")));
    EXPECT_THROW(set.order_by_references(), ReferenceCycle);
}

TEST(MatcherMembership, HoldsOnlyWithAView) {
    Matcher m(parse_criteria(R"({"notInSegment": 4})"));
    EXPECT_TRUE(m.uses_membership());
    EXPECT_EQ(m.references(), Ids{4});
    EXPECT_FALSE(m.matches(with_orders(1), 0));
    EXPECT_TRUE(m.matches(with_orders(1), 0, MemberList({1, 3})));
    EXPECT_FALSE(m.matches(with_orders(1), 0, MemberList({1, 4})));
    EXPECT_FALSE(Matcher(parse_criteria(R"({"minOrders": 1})")).uses_membership());
}

TEST(SegmentSetMembership, RememberedMembershipIsUsableOnlySettledAndWithoutManualReferences) {
    SegmentSet automatic_only;
    automatic_only.add(1, Matcher(parse_criteria(R"({"minOrders": 2})")));
    automatic_only.order_by_references();
    EXPECT_FALSE(automatic_only.remembered_membership_usable());  // no version yet: not settled
    automatic_only.set_version(7, true);
    EXPECT_TRUE(automatic_only.remembered_membership_usable());
    automatic_only.set_version(8, false);  // an online change pending
    EXPECT_FALSE(automatic_only.remembered_membership_usable());

    SegmentSet with_manual;
    with_manual.add(2, Matcher(parse_criteria(R"({"inSegment": 9})")));
    with_manual.order_by_references();
    with_manual.set_version(7, true);
    EXPECT_FALSE(with_manual.remembered_membership_usable());
}
