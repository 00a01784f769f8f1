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

#include "daq/api.h"
#include "daq/acq.h"
#include "daq/config.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct daq_devices daq_devices;
typedef struct daq_device daq_device;

/* Checks every camera device's driver parameters against its driver's
 * table by creating (not opening) the camera.  0, or -1 with
 * "FILE:LINE:COL: devices.ID.driver.KEY: message". */
DAQ_API int daq_devices_check(const daq_config *cfg, char *err, size_t err_len);

/* Builds the devices of cfg (only the one with id only_id, if not NULL).
 * Returns a table the caller owns (daq_devices_destroy).  Fails (NULL with
 * a message) only for configuration errors; devices that cannot be opened
 * are kept down.  cfg is copied where needed: it may go right after. */
DAQ_API daq_devices *daq_devices_create(const daq_config *cfg, const char *only_id, char *err,
                                        size_t err_len);

/* Stops every stream and sink, frees everything.  NULL ok. */
DAQ_API void daq_devices_destroy(daq_devices *ds);

DAQ_API size_t daq_devices_count(const daq_devices *ds);
DAQ_API size_t daq_devices_up(const daq_devices *ds);
/* Devices are borrowed from the table, valid until daq_devices_destroy;
 * NULL past the end / for an unknown id. */
DAQ_API daq_device *daq_devices_at(daq_devices *ds, size_t i);
DAQ_API daq_device *daq_devices_find(daq_devices *ds, const char *id);

/* Starts the devices marked autostart; returns how many failed (each is
 * logged). */
DAQ_API unsigned daq_devices_autostart(daq_devices *ds);
DAQ_API void daq_devices_stop_all(daq_devices *ds);

/* Every pointer below is borrowed from the table, valid until
 * daq_devices_destroy. */
DAQ_API const char *daq_device_id(const daq_device *d);
DAQ_API const char *daq_device_name(const daq_device *d);
DAQ_API const char *daq_device_driver(const daq_device *d); /* the type as configured */
DAQ_API bool daq_device_is_up(const daq_device *d);
DAQ_API const char *daq_device_error(const daq_device *d); /* why it is down; "" when up */
DAQ_API daq_acq *daq_device_acq(daq_device *d);            /* NULL when down */
DAQ_API daq_bus *daq_device_bus(daq_device *d);
DAQ_API daq_camera *daq_device_camera(daq_device *d); /* NULL when down */

/* Health: a device is healthy when it is up (created and opened at start)
 * and its last stream did not end in error (engine state ERROR, which the
 * next successful start clears).  An idle device is healthy.
 *
 * daq_device_healthy is one atomic load: cheap enough for every health
 * Check and scrape, callable from any thread. */
DAQ_API bool daq_device_healthy(const daq_device *d);

typedef struct daq_device_health {
    const char *state; /* "idle", "streaming", "error" or "absent"; static storage */
    bool healthy;      /* as daq_device_healthy */
    char why[256];     /* why not healthy (the open or stream error); "" when healthy */
} daq_device_health;

/* Copies the device's health into *out.  Lock-free unless the device is in
 * error: the reason is then read under the engine's lock (a start of that
 * device in progress delays it). */
DAQ_API void daq_device_health_snapshot(daq_device *d, daq_device_health *out);

#ifdef __cplusplus
}
#endif
#endif
