/* daq/devices.h - the cameras of a configuration, brought up together.
 *
 * Per camera device of a daq_config: the camera with its driver parameters
 * applied, a bus, the configured consumers (sinks) and an acquisition
 * engine with the [pool] and [acquisition] settings.  The daemon, the
 * checkpoint validator and the gRPC server all work on this one table.
 *
 * A device whose camera cannot be created or opened is kept in the table,
 * "down", with the reason; the others work.  Callers decide whether that
 * is fatal (the daemon exits when no device came up).
 *
 * Threading: the table's shape is fixed after create.  Per-device calls
 * are as thread-safe as the engine's (daq_acq_*).  Ownership: the table owns
 * every camera, bus, sink and engine in it; accessors return borrowed
 * pointers valid until daq_devices_destroy.
 */
#ifndef DAQ_DEVICES_H
#define DAQ_DEVICES_H

#include <stdbool.h>
#include <stddef.h>

#include "daq/acq.h"
#include "daq/config.h"
#include "daq/metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct daq_devices daq_devices;
typedef struct daq_device daq_device;

/* Checks every camera device's driver parameters against its driver's
 * table by creating (not opening) the camera.  0, or -1 with
 * "FILE:LINE:COL: devices.ID.driver.KEY: message". */
int daq_devices_check(const daq_config *cfg, char *err, size_t err_len);

/* Builds the devices of cfg (only the one with id only_id, if not NULL).
 * Fails (NULL with a message) only for configuration errors; devices that
 * cannot be opened are kept down.  cfg is copied where needed. */
daq_devices *daq_devices_create(const daq_config *cfg, const char *only_id, char *err,
                                size_t err_len);

/* Stops every stream and sink, frees everything.  NULL ok. */
void daq_devices_destroy(daq_devices *ds);

size_t daq_devices_count(const daq_devices *ds);
size_t daq_devices_up(const daq_devices *ds);
daq_device *daq_devices_get(daq_devices *ds, size_t i);
daq_device *daq_devices_find(daq_devices *ds, const char *id);

/* Starts the devices marked autostart; returns how many failed (each is
 * logged). */
unsigned daq_devices_autostart(daq_devices *ds);
void daq_devices_stop_all(daq_devices *ds);

/* Metrics views of all devices, at most max; returns how many. */
size_t daq_devices_metrics(daq_devices *ds, daq_metrics_device *out, size_t max);

const char *daq_device_id(const daq_device *d);
const char *daq_device_name(const daq_device *d);
const char *daq_device_driver(const daq_device *d); /* the type as configured */
bool daq_device_is_up(const daq_device *d);
const char *daq_device_error(const daq_device *d); /* why it is down; "" when up */
daq_acq *daq_device_acq(daq_device *d);             /* NULL when down */
daq_bus *daq_device_bus(daq_device *d);
daq_camera *daq_device_camera(daq_device *d); /* NULL when down */

#ifdef __cplusplus
}
#endif
#endif
