#include "glue/segments/actor.hpp"

char* segmentation_actor_setting = nullptr;

namespace segmentation::glue {

Datum actor() {
    return pg::call([] {
        if (segmentation_actor_setting != nullptr && segmentation_actor_setting[0] != '\0')
            return CStringGetTextDatum(segmentation_actor_setting);
        return CStringGetTextDatum(GetUserNameFromId(GetOuterUserId(), false));
    });
}

}  // namespace segmentation::glue
