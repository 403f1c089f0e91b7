#include "core/membership.hpp"

namespace segmentation {

std::optional<Micros> storable_instant(std::optional<Micros> instant) {
    if (!instant || *instant >= kEndOfTimestamps) return std::nullopt;
    return instant;
}

std::optional<Micros> due_time_to_store(std::optional<Micros> stored, std::optional<Micros> next, Micros as_of,
                                        bool full_evaluation) {
    bool was_due = stored && *stored <= as_of;
    bool closer = next && (!stored || *next < *stored);
    return (was_due && full_evaluation) || closer ? next : stored;
}

}  // namespace segmentation
