/* daqd/pilot.h - checkpoint 5 (production pilot): pool on vs pool off in
 * windows of one run, with real consumers attached, and the baseline file
 * that keeps a run's figures for a later comparison (baseline.c).
 *
 * Internal to daqd; validate.c turns the figures into criteria.
 */
#ifndef DAQD_PILOT_H
#define DAQD_PILOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "daq/devices.h"

#define DAQD_PILOT_MAX_WINDOWS 256
enum { DAQD_PILOT_STATS = 0, DAQD_PILOT_LATEST = 1, DAQD_PILOT_CONSUMERS = 2 };
extern const char *const daqd_pilot_consumer_names[DAQD_PILOT_CONSUMERS]; /* "stats", "latest" */

typedef struct daqd_pilot_opts {
    unsigned windows;  /* even, 2..DAQD_PILOT_MAX_WINDOWS */
    int64_t window_ms; /* counted length of one window */
    int64_t settle_ms; /* not counted, after each switch of the pool */
    int64_t stall_ms;  /* a gap between two receipts longer than this is a stall */
} daqd_pilot_opts;

/* One consumer's view of a window or a kind. */
typedef struct daqd_pilot_consumer {
    uint64_t receipts;
    double p50_us, p99_us; /* arrival (frame eof_ns) to receipt; 0 when no receipt */
    uint64_t stalls;
    uint64_t disconnects;
} daqd_pilot_consumer;

/* The figures of one window, or of all windows of one kind summed. */
typedef struct daqd_pilot_figures {
    bool pool;       /* use_pool during the window(s) */
    double seconds;  /* counted time */
    uint64_t frames; /* published (delivered by the acquisition) */
    double fps;      /* frames / seconds */
    double hit_pct;  /* pool hit rate of the allocations in the window(s) */
    uint64_t lost, alloc_dropped, consumer_dropped; /* consumer_dropped: the lossless one */
    daqd_pilot_consumer c[DAQD_PILOT_CONSUMERS];
} daqd_pilot_figures;

typedef struct daqd_pilot_result {
    unsigned n_windows;
    daqd_pilot_figures window[DAQD_PILOT_MAX_WINDOWS];
    daqd_pilot_figures on, off; /* per kind */
    /* Median over the window pairs (0,1), (2,3), ... (one on, one off
     * each) of on fps / off fps: what the within-run rule compares.  A load
     * burst from another process that hits one window moves one pair, not
     * the median; the per-kind sums above are moved by it. */
    double pair_ratio_median;
    /* whole run, settles included */
    uint64_t lost, alloc_dropped, consumer_dropped, disconnects;
    bool stream_error;
} daqd_pilot_result;

/* p99 of a kind for the comparisons: the worse of the two consumers. */
double daqd_pilot_p99_us(const daqd_pilot_figures *k);

/* Runs the pilot on device d (up, not streaming): attaches the two
 * consumers, starts the acquisition, switches use_pool per window, stops,
 * detaches; the acquisition's use_pool is restored.  Progress lines on
 * stderr (tty: one rewritten line).  0, or -1 with a message in err (the
 * stream could not start). */
int daqd_pilot_run(daq_device *d, const daqd_pilot_opts *o, bool tty, daqd_pilot_result *out,
                   char *err, size_t err_len);

/* ---- baselines (baseline.c) ---- */

/* One kind or window as a JSON object (no newline): the report and the
 * baseline write the same shape. */
void daqd_pilot_figures_json(FILE *f, const daqd_pilot_figures *k);

/* What a baseline keeps for the comparison and the honesty warnings. */
typedef struct daqd_pilot_baseline {
    char device[64];
    daqd_pilot_figures on, off; /* seconds, frames, fps, p50/p99 per consumer */
    char config_digest[80];     /* "" when the baseline has null */
    char hostname[128], kernel[128], cpu_model[256], git[128], build_type[32];
    long cpus;
} daqd_pilot_baseline;

/* Writes the run's figures with the facts (daqd_facts_json) to path
 * (atomically: path.tmp, then rename).  0, or -1 with a message. */
int daqd_pilot_baseline_save(const char *path, const char *device, const char *config_path,
                             const daqd_pilot_result *r, char *err, size_t err_len);

/* Reads a baseline written by daqd_pilot_baseline_save (strict: any
 * syntax error, a missing member, another format, checkpoint or device is
 * an error): 0, or -1 with "baseline FILE: <why>" in err. */
int daqd_pilot_baseline_load(const char *path, const char *device, daqd_pilot_baseline *out,
                             char *err, size_t err_len);

/* Reads the same facts of this run into a baseline struct (only the fact
 * members), for daqd_pilot_baseline_differences. */
void daqd_pilot_facts_now(const char *config_path, daqd_pilot_baseline *out);

/* "machine (hostname, cpu_model)", "config", "build (git)" that differ
 * between a and b, joined by "; " into out ("" when none).  Returns the
 * number of differences. */
int daqd_pilot_baseline_differences(const daqd_pilot_baseline *a, const daqd_pilot_baseline *b,
                                    char *out, size_t out_len);

#endif
