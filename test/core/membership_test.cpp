#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "core/membership.hpp"

using namespace segmentation;

namespace {

using Changes = std::vector<std::pair<std::int64_t, bool>>;

Changes changes(const std::vector<std::int64_t>& matched, const std::vector<std::int64_t>& current) {
    Changes out;
    for_each_membership_change(matched, current,
                               [&](std::int64_t segment, bool added) { out.emplace_back(segment, added); });
    return out;
}

constexpr Micros kNow = 1000 * kMicrosPerDay;
constexpr Micros kHour = 3600LL * 1000000LL;

}  // namespace

TEST(MembershipChanges, NothingWhenTheListsAgree) {
    EXPECT_TRUE(changes({}, {}).empty());
    EXPECT_TRUE(changes({1, 5, 9}, {1, 5, 9}).empty());
}

TEST(MembershipChanges, AddsWhatMatchesOnlyAndRemovesWhatNoLongerMatches) {
    EXPECT_EQ(changes({1, 2}, {}), (Changes{{1, true}, {2, true}}));
    EXPECT_EQ(changes({}, {3, 4}), (Changes{{3, false}, {4, false}}));
    EXPECT_EQ(changes({1, 4, 6, 10}, {2, 4, 7, 10, 12}),
              (Changes{{1, true}, {2, false}, {6, true}, {7, false}, {12, false}}));
}

TEST(MembershipChanges, TailsOfEitherListAreWalked) {
    EXPECT_EQ(changes({5, 6, 7}, {5}), (Changes{{6, true}, {7, true}}));
    EXPECT_EQ(changes({5}, {5, 6, 7}), (Changes{{6, false}, {7, false}}));
}

TEST(StorableInstant, BeyondTheTimestampRangeIsNever) {
    EXPECT_EQ(storable_instant(std::nullopt), std::nullopt);
    EXPECT_EQ(storable_instant(kNow), std::optional<Micros>(kNow));
    EXPECT_EQ(storable_instant(kEndOfTimestamps - 1), std::optional<Micros>(kEndOfTimestamps - 1));
    EXPECT_EQ(storable_instant(kEndOfTimestamps), std::nullopt);
    EXPECT_EQ(storable_instant(INT64_MAX), std::nullopt);
}

TEST(DueTimeToStore, ADueCustomerEvaluatedInFullGetsItsExactDueTime) {
    EXPECT_EQ(due_time_to_store(kNow - kHour, kNow + 5 * kHour, kNow, true), std::optional<Micros>(kNow + 5 * kHour));
    EXPECT_EQ(due_time_to_store(kNow, std::nullopt, kNow, true), std::nullopt);  // due exactly now, never again
}

TEST(DueTimeToStore, AnEarlierStoredTimeIsKeptWhenNotDue) {
    EXPECT_EQ(due_time_to_store(kNow + kHour, kNow + 5 * kHour, kNow, true), std::optional<Micros>(kNow + kHour));
    EXPECT_EQ(due_time_to_store(kNow + kHour, std::nullopt, kNow, true), std::optional<Micros>(kNow + kHour));
    EXPECT_EQ(due_time_to_store(kNow + kHour, kNow + kHour, kNow, true), std::optional<Micros>(kNow + kHour));
}

TEST(DueTimeToStore, AChangeThatCameCloserMovesIt) {
    EXPECT_EQ(due_time_to_store(kNow + 5 * kHour, kNow + kHour, kNow, true), std::optional<Micros>(kNow + kHour));
    EXPECT_EQ(due_time_to_store(std::nullopt, kNow + kHour, kNow, true), std::optional<Micros>(kNow + kHour));
    EXPECT_EQ(due_time_to_store(std::nullopt, std::nullopt, kNow, true), std::nullopt);
}

TEST(DueTimeToStore, APartialEvaluationNeverEndsAWait) {
    // Due (or waiting since a change to a table that is not live: -infinity).
    EXPECT_EQ(due_time_to_store(kNow - kHour, kNow + 5 * kHour, kNow, false), std::optional<Micros>(kNow - kHour));
    EXPECT_EQ(due_time_to_store(kNow - kHour, std::nullopt, kNow, false), std::optional<Micros>(kNow - kHour));
    EXPECT_EQ(due_time_to_store(INT64_MIN, kNow + kHour, kNow, false), std::optional<Micros>(INT64_MIN));
    // Not due: the same as a full evaluation.
    EXPECT_EQ(due_time_to_store(kNow + 5 * kHour, kNow + kHour, kNow, false), std::optional<Micros>(kNow + kHour));
}
