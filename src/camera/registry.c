/* camera/registry.c - the built-in drivers by type name.
 *
 * A fixed, compiled-in list: daq has a handful of drivers and no plugin
 * loading, so a static table is the whole registry (no registration calls,
 * no init order to get wrong).  Lookup is exact and case-sensitive, by the
 * canonical type or an alias kept for configs of the system daq replaces.
 */
#include <string.h>

#include "daq/camera.h"
#include "drivers/drivers.h"

static const daq_driver *const drivers[] = {
    &daq_sim_driver,
    &daq_pvcam_driver,  /* PVCAM, libpvcam loaded at open (dlopen) */
    &daq_aravis_driver, /* GenICam via Aravis, FILL mode */
    NULL,
};

const daq_driver *const *daq_driver_list(void)
{
    return drivers;
}

const daq_driver *daq_driver_find(const char *type)
{
    if (!type)
        return NULL;
    for (size_t i = 0; drivers[i]; i++) {
        if (strcmp(drivers[i]->type, type) == 0)
            return drivers[i];
        for (size_t a = 0; drivers[i]->aliases && drivers[i]->aliases[a]; a++)
            if (strcmp(drivers[i]->aliases[a], type) == 0)
                return drivers[i];
    }
    return NULL;
}
