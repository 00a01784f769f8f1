/* camera/trigger.c - the trigger modes' names, the one spelling shared by
 * the trigger.mode parameter, configs, logs and metrics (daq/trigger.h). */
#include "daq/trigger.h"

#include <string.h>

static const char *const names[DAQ_TRIGGER_MODE_COUNT] = {
    [DAQ_TRIGGER_INTERNAL] = "internal",
    [DAQ_TRIGGER_SOFTWARE] = "software",
    [DAQ_TRIGGER_SOFTWARE_FIRST] = "software_first",
    [DAQ_TRIGGER_EXTERNAL_EDGE] = "external_edge",
    [DAQ_TRIGGER_EXTERNAL_FIRST] = "external_first",
    [DAQ_TRIGGER_EXTERNAL_LEVEL] = "external_level",
};

const char *daq_trigger_mode_name(daq_trigger_mode m)
{
    return (unsigned)m < DAQ_TRIGGER_MODE_COUNT ? names[m] : "?";
}

int daq_trigger_mode_parse(const char *name)
{
    for (int m = 0; name && m < DAQ_TRIGGER_MODE_COUNT; m++)
        if (strcmp(name, names[m]) == 0)
            return m;
    return -1;
}

bool daq_trigger_mode_is_software(daq_trigger_mode m)
{
    return m == DAQ_TRIGGER_SOFTWARE || m == DAQ_TRIGGER_SOFTWARE_FIRST;
}

bool daq_trigger_mode_is_first(daq_trigger_mode m)
{
    return m == DAQ_TRIGGER_SOFTWARE_FIRST || m == DAQ_TRIGGER_EXTERNAL_FIRST;
}
