/* daq/watch.h - the rollback plan's live symptom watch (issue 13).
 *
 * One thread for the whole device table (daq_devices_watch_start) samples,
 * every [rollback] interval_ms, each camera's pool exhaustion events, pool
 * and heap allocation latency sums and lost frames, and once the process
 * RSS.  Over a sliding window (window_s) it raises the plan's symptoms:
 * pool_exhausted, alloc_slow and frame_loss per camera, rss_growth_warn and
 * rss_growth for the process (growth since the baseline taken warmup_s
 * after the first stream started).  A symptom rises when its value exceeds
 * its threshold and clears after clear_s continuously at or below it.
 * Each rise logs a WARN (target daq::rollback, "rollback symptom") with
 * the plan's action; each clear an INFO.  With [rollback] auto = true a
 * camera whose pool symptom has lasted auto_after_s gets its pool turned
 * off live (daq_acq_set_use_pool): never turned back on.
 *
 * Threading: every reader below copies under a per-device (or, for the
 * RSS timeline, the table's) lock held for the copy only, callable from
 * any thread; zeros before the watch starts (thresholds too), its last
 * figures after it stopped.
 */
#ifndef DAQ_WATCH_H
#define DAQ_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daq/api.h"
#include "daq/devices.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum daq_symptom {
    DAQ_SYMPTOM_POOL_EXHAUSTED,
    DAQ_SYMPTOM_ALLOC_SLOW,
    DAQ_SYMPTOM_FRAME_LOSS,
    DAQ_SYMPTOM_RSS_GROWTH_WARN,
    DAQ_SYMPTOM_RSS_GROWTH,
    DAQ_SYMPTOM_COUNT
} daq_symptom;

/* "pool_exhausted", "alloc_slow", "frame_loss", "rss_growth_warn", "rss_growth" */
DAQ_API extern const char *const daq_symptom_names[];

/* What the rollback plan says to do about symptom s (the WARN line's
 * "action", the live view's status): static text; "" when out of range. */
DAQ_API const char *daq_symptom_action(daq_symptom s);

typedef struct daq_symptom_state {
    bool active;
    double value, threshold;
    uint64_t raised_total;
    uint64_t since_ns; /* CLOCK_MONOTONIC when it last rose, 0 never */
} daq_symptom_state;

typedef struct daq_rss_point {
    uint64_t t_ns; /* CLOCK_MONOTONIC */
    uint64_t rss_bytes;
} daq_rss_point;

typedef struct daq_device_rollback {
    uint64_t auto_rollbacks; /* automatic use_pool flips of this camera (0 or 1) */
    uint64_t last_ns;        /* CLOCK_MONOTONIC of the last one, 0 never */
    char reason[256];        /* its evidence; "" before any */
} daq_device_rollback;

/* Starts the watch thread with the [rollback] table of the config the
 * devices were created from; nothing when it says enabled = false.  0, or
 * -1 with a message when the thread cannot be created.  Call once, after
 * daq_devices_recovery_start. */
DAQ_API int daq_devices_watch_start(daq_devices *ds, char *err, size_t err_len);
/* Stops and joins it.  Idempotent; also done by daq_devices_destroy. */
DAQ_API void daq_devices_watch_stop(daq_devices *ds);

/* Per camera: pool_exhausted, alloc_slow, frame_loss; the rss_* entries
 * are the process's, the same on every device. */
DAQ_API void daq_device_symptoms(daq_device *d, daq_symptom_state out[DAQ_SYMPTOM_COUNT]);
DAQ_API void daq_device_rollback_snapshot(daq_device *d, daq_device_rollback *out);

/* The process RSS, one point per watch tick, oldest first, from a bounded
 * ring (the last DAQ_WATCH_RSS_POINTS ticks).  Returns how many were
 * written to out (at most max). */
#define DAQ_WATCH_RSS_POINTS 3600
DAQ_API size_t daq_devices_rss_timeline(daq_devices *ds, daq_rss_point *out, size_t max);

/* Called on the watch thread after an automatic rollback turned a
 * camera's pool off (the daemon's parameter service publishes it to its
 * change subscribers).  It must not block nor call back into the watch.
 * One hook per table; set NULL (under the same lock the thread calls it
 * under) before ctx goes. */
typedef void (*daq_rollback_hook)(void *ctx, daq_device *d);
DAQ_API void daq_devices_set_rollback_hook(daq_devices *ds, daq_rollback_hook fn, void *ctx);

#ifdef __cplusplus
}
#endif
#endif
