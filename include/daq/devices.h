/* daq/devices.h - the cameras of a configuration, brought up together.
 *
 * Per camera device of a daq_config: the camera with its driver parameters
 * applied, a bus, the configured consumers (sinks) and an acquisition
 * engine with the [pool] and [acquisition] settings.  The daemon, the
 * checkpoint validator and the gRPC server all work on this one table.
 *
 * A device whose camera cannot be created or opened is kept in the table,
 * "down", with the reason; the others work.  Callers decide whether that
 * is fatal (the daemon exits when no device came up and recovery is off).
 *
 * Recovery (daq_devices_recovery_start; src/devices/recovery.c): one
 * thread for the whole table retries a device that is down or whose
 * stream ended in error, with exponential backoff ([recovery]), and
 * resumes its stream if it was streaming (an error stop: it was; a down
 * device: if autostart).  A device that is down may so come up later:
 * daq_device_acq and daq_device_camera go from NULL to an engine once,
 * never back, so a caller that got a pointer may keep it.
 *
 * The rollback symptom watch (daq_devices_watch_start; daq/watch.h,
 * src/devices/watch.c): one more thread for the table samples every camera
 * and the process RSS and raises the rollback plan's symptoms; with
 * [rollback] auto it turns a symptomatic camera's pool off live.
 * daq_devices_destroy stops it first.
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
#include <stdint.h>

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
 * logged, and retried by recovery if it runs). */
DAQ_API unsigned daq_devices_autostart(daq_devices *ds);
DAQ_API void daq_devices_stop_all(daq_devices *ds);

/* Starts the recovery thread with the [recovery] settings of the config the
 * table was made from; nothing when they say enabled = false.  0, or -1
 * with a message when the thread cannot be created.  Call once, after
 * daq_devices_autostart. */
DAQ_API int daq_devices_recovery_start(daq_devices *ds, char *err, size_t err_len);
/* Stops it: wakes it from any backoff wait at once, waits for an attempt
 * in progress (a camera being opened) and joins it.  Idempotent; also done
 * by daq_devices_destroy.  Call before daq_devices_stop_all, or a stream
 * being stopped could be resumed. */
DAQ_API void daq_devices_recovery_stop(daq_devices *ds);

/* The wait before failed attempt number `failed` + 1 of an outage:
 * min(max_ms, initial_ms * factor^failed), in ms. */
DAQ_API uint32_t daq_recovery_delay_ms(const daq_config_recovery *r, uint32_t failed);

/* Stream control as a client asks for it (StartStream, StopStream): the
 * device remembers the wish, so recovery resumes a stream a client started
 * (with what is left of its frame_limit) and not one a client stopped
 * after it failed.  Start: daq_acq_start's result (1 already streaming, 0,
 * -1 with a message, also for a device that is down).  Callers that use
 * daq_acq_start/stop directly instead still get a failed stream resumed,
 * unlimited (its limit unknown), and cannot cancel that by a stop. */
DAQ_API int daq_device_stream_start(daq_device *d, uint64_t frame_limit, char *err, size_t err_len);
DAQ_API void daq_device_stream_stop(daq_device *d);
/* Arm (ADR 0011): refused unless the camera's trigger.mode is a trigger
 * mode (daq_camera_arm_check's text); then the stream is (re)started in that
 * mode, unlimited, and the camera waits for triggers.  0, or -1 with a
 * message. */
DAQ_API int daq_device_arm(daq_device *d, char *err, size_t err_len);

/* The memory budget ([limits] memory_mb; 0 = half of RAM) and what the
 * cameras hold of it: pools, camera rings, stream buffers (devices/budget.h).
 * A parameter write or a start that would exceed it is refused with the
 * numbers before anything is allocated. */
DAQ_API void daq_devices_memory(daq_devices *ds, uint64_t *budget, uint64_t *committed);

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

/* What recovery is doing about a device, and has done. */
typedef struct daq_device_recovery {
    bool recovering;        /* in an outage that is being retried */
    bool gave_up;           /* max_attempts failed; a device that is up can still be started */
    uint32_t attempts;      /* failed attempts in the current outage */
    uint64_t retry_in_ms;   /* until the next attempt; 0 while one runs */
    uint64_t recovered;     /* attempts that brought the device back, since create */
    uint64_t failed;        /* attempts that did not */
    uint64_t outages;       /* outages recovery has seen (absent at start counts) */
    uint64_t downtime_ns;   /* time in outages, the current one included */
    uint64_t frames_missed; /* estimate: each ended outage's length x the rate of the
                             * stream that failed (0 for a device that was not streaming) */
    char error[256];        /* the latest failed attempt's reason; "" before any */
} daq_device_recovery;

DAQ_API void daq_device_recovery_snapshot(daq_device *d, daq_device_recovery *out);

typedef struct daq_device_health {
    const char *state;            /* "idle", "streaming", "error" or "absent"; static storage */
    bool healthy;                 /* as daq_device_healthy */
    char why[256];                /* why not healthy (the open or stream error, or for an absent
                                   * device the latest attempt's); "" when healthy */
    daq_device_recovery recovery; /* filled only when not healthy; zero otherwise */
} daq_device_health;

/* Copies the device's health into *out.  Lock-free unless the device is
 * not healthy: the reason is then read under the engine's statistics lock
 * (held only briefly, never during a start's prefault) and the recovery's
 * under its record's (never held during an attempt). */
DAQ_API void daq_device_health_snapshot(daq_device *d, daq_device_health *out);

#ifdef __cplusplus
}
#endif
#endif
