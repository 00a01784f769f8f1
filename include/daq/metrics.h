/* daq/metrics.h - Prometheus text exposition of daq's figures.
 *
 * Renders, per device (label device="<id>"), the engine's stream counters,
 * the pool's counters, occupancy and alloc-latency histograms, each bus
 * subscription's delivered/dropped counters, the driver's counters and the
 * streaming state, plus process figures (resident memory, start time,
 * uptime).  Names follow Prometheus conventions: a daq_ prefix, _total on
 * counters, base units (seconds, bytes).  Output is text format 0.0.4 and
 * passes `promtool check metrics`.
 *
 * The views are read-only: rendering takes the same snapshots any caller
 * can take (daq_acq_stats_snapshot, daq_bus_stats_snapshot) and never touches the frame
 * path beyond their short locks.
 *
 * With a recorder (libdaq-storage), the daq_recorder_* families come from
 * daq_storage_stats_snapshot: frames, bytes and drops since the daemon
 * started, queue fill, flush latency, free disk, errors, recording 0/1.
 * The recorder is passed as an opaque pointer so that this header, and
 * libdaq-server's ABI, are the same whether or not the library was built
 * with libdaq-storage.
 *
 * With the HTTP server's counters (daq_http_stats_snapshot), the daq_http_*
 * families: daq_http_connections_accepted_total,
 * daq_http_rejected_connections_total{reason=...} (every reason of
 * daq_http_reject_names, zeros included, so rate() works from the first
 * scrape) and daq_http_connections_open.
 */
#ifndef DAQ_METRICS_H
#define DAQ_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "daq/api.h"
#include "daq/acq.h"
#include "daq/bus.h"
#include "daq/devices.h"
#include "daq/http.h"

#ifdef __cplusplus
extern "C" {
#endif

struct daq_storage; /* daq/storage.h */

typedef struct daq_metrics_device {
    const char *id;     /* label "device"; borrowed */
    const char *driver; /* label "driver" on daq_device_info; borrowed */
    daq_acq *acq;       /* borrowed; NULL: the device failed to come up (daq_device_up 0) */
    daq_bus *bus;       /* borrowed; may be NULL with acq */
} daq_metrics_device;

/* Views of every device of a table, at most max, into out; returns how
 * many.  Borrowed from ds: valid until it is destroyed. */
DAQ_API size_t daq_metrics_device_views(daq_devices *ds, daq_metrics_device *out, size_t max);

/* Renders the exposition for n devices and, when storage is not NULL, the
 * recorder's families (borrowed for the call; a library built without
 * libdaq-storage has no recorder and ignores it).  process_start_ns is the
 * CLOCK_MONOTONIC time the process started (for daq_uptime_seconds).
 * Returns a NUL-terminated buffer the caller frees, its length in *len; NULL
 * only when out of memory. */
DAQ_API char *daq_metrics_render(const daq_metrics_device *devs, size_t n,
                                 struct daq_storage *storage, uint64_t process_start_ns,
                                 size_t *len);

/* Everything one scrape renders; members after process_start_ns may be
 * added (zero-initialise the struct).  All pointers borrowed for the call. */
typedef struct daq_metrics_sources {
    const daq_metrics_device *devs;
    size_t n;
    struct daq_storage *storage; /* NULL: no recorder families */
    uint64_t process_start_ns;
    const daq_http_stats *http; /* NULL: no daq_http_* families */
    daq_devices *devices;       /* NULL: no daq_memory_* families (the budget) */
} daq_metrics_sources;

/* daq_metrics_render with every source; same result and ownership. */
DAQ_API char *daq_metrics_render_sources(const daq_metrics_sources *src, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
