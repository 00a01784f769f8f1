/* daq/sink.h - consumers that ship with daq, each a bus subscription with
 * its own thread.
 *
 *   null   takes every frame it is given and drops it: bus load without
 *          work, and a stand-in for a client in tests and sizing
 *   stats  per-frame intensity statistics (mean, min, max) on a sparse grid
 *          of pixels (every 16th pixel of every 16th row): cheap at any rate
 *
 * Ownership: daq_sink_start returns a sink the caller stops and frees with
 * daq_sink_stop; the bus must outlive it.
 */
#ifndef DAQ_SINK_H
#define DAQ_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "daq/api.h"
#include "daq/bus.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct daq_sink daq_sink;

typedef enum daq_sink_kind {
    DAQ_SINK_NULL = 0, /* takes frames and drops them (bus load, sizing) */
    DAQ_SINK_STATS,    /* per-frame intensity statistics */
} daq_sink_kind;

/* The kinds' names indexed by daq_sink_kind, NULL-terminated: "null",
 * "stats" (the config's [[devices.consumers]] kind). */
DAQ_API extern const char *const daq_sink_kind_names[];

/* Subscribes to bus (borrowed: it must outlive the sink) with cfg (copied)
 * and starts the thread.  Returns a sink the caller owns (daq_sink_stop),
 * or NULL with a message. */
DAQ_API daq_sink *daq_sink_start(daq_bus *bus, daq_sink_kind kind, const daq_sub_config *cfg,
                                 char *err, size_t err_len);

/* Closes the subscription, joins the thread, unsubscribes, frees.  NULL ok. */
DAQ_API void daq_sink_stop(daq_sink *s);

typedef struct daq_sink_stats {
    uint64_t frames;
    double last_mean, last_min, last_max; /* stats: the last frame's figures */
} daq_sink_stats;

DAQ_API void daq_sink_stats_snapshot(const daq_sink *s, daq_sink_stats *out);

#ifdef __cplusplus
}
#endif
#endif
