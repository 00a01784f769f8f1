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

#include "daq/bus.h"
#include "daq/config.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct daq_sink daq_sink;

/* Subscribes to bus with cfg (name copied) and starts the thread.  NULL with
 * a message on failure. */
daq_sink *daq_sink_start(daq_bus *bus, daq_consumer_kind kind, const daq_sub_config *cfg,
                         char *err, size_t err_len);

/* Closes the subscription, joins the thread, unsubscribes, frees.  NULL ok. */
void daq_sink_stop(daq_sink *s);

typedef struct daq_sink_stats {
    uint64_t frames;
    double last_mean, last_min, last_max; /* stats: the last frame's figures */
} daq_sink_stats;

void daq_sink_stats_get(const daq_sink *s, daq_sink_stats *out);

#ifdef __cplusplus
}
#endif
#endif
