/* devices/watch_eval.h - the symptom watch's judgement, without threads,
 * clocks or engines (libdaq-internal; the thread is devices/watch.c).
 *
 * The watch thread turns what it reads into samples with their time and
 * feeds them here; everything the rollback plan decides -- windows, warm-up,
 * counter resets, hysteresis, the RSS baseline, when to roll back
 * automatically -- is a function of those samples alone, so the unit test
 * (tests/unit/test_watch.c) drives it with a fake clock.
 *
 * A camera (watch_cam) keeps the samples of its current stream that are
 * younger than window_s in a ring; its symptoms' values are the window's
 * deltas (newest minus oldest).  A new stream -- the engine's `streams`
 * counter changed, or a counter went down -- empties the window.  Until
 * warmup_s after the stream started the window holds only the newest
 * sample (the baseline of what follows), so events of a start are never
 * counted and the values are 0.  The process (watch_proc) takes its RSS
 * baseline from the first sample warmup_s after the first stream of the
 * process started, once.
 *
 * Hysteresis (one function serves both): a symptom rises on the step its
 * value exceeds the threshold; it clears after its value has been at or
 * below the threshold for clear_s continuously.
 */
#ifndef DAQ_DEVICES_WATCH_EVAL_H
#define DAQ_DEVICES_WATCH_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daq/config.h"
#include "daq/watch.h"

#define WATCH_CAM_SYMPTOMS 3 /* pool_exhausted, alloc_slow, frame_loss: the first three */

/* One look at a camera's engine. */
typedef struct watch_cam_sample {
    uint64_t t_ns;            /* CLOCK_MONOTONIC */
    uint64_t streams;         /* the engine's starts so far */
    uint64_t stream_start_ns; /* that stream's start; 0 = unknown (t_ns is used) */
    uint64_t misses;          /* pool exhaustion events, this stream */
    uint64_t alloc_count;     /* frame allocations (pool and heap path), this stream */
    uint64_t alloc_sum_ns;    /* their summed latency */
    uint64_t lost;            /* frames lost, this stream */
} watch_cam_sample;

typedef struct watch_sym {
    daq_symptom_state s;
    uint64_t below_since_ns; /* at or below the threshold since; 0 = not below (or inactive) */
} watch_sym;

/* A change a step made: bit i rose, bit (WATCH_CLEARED_SHIFT + i) cleared. */
#define WATCH_CLEARED_SHIFT 8u

typedef struct watch_cam {
    daq_config_rollback cfg;
    watch_cam_sample *ring; /* owned, cap samples */
    size_t cap, head, n;    /* oldest at head */
    bool seen;              /* a sample came */
    watch_cam_sample last;  /* the newest sample */
    uint64_t start_ns;      /* the current stream's start */
    watch_sym sym[WATCH_CAM_SYMPTOMS];
} watch_cam;

typedef struct watch_proc {
    daq_config_rollback cfg;
    uint64_t first_start_ns; /* the process's first stream; 0 = none yet */
    uint64_t base_rss;       /* 0 = no baseline yet */
    watch_sym sym[2];        /* rss_growth_warn, rss_growth */
} watch_proc;

/* 0, or -1 when the window's ring cannot be allocated. */
int watch_cam_init(watch_cam *c, const daq_config_rollback *cfg);
void watch_cam_free(watch_cam *c);
/* One sample of a camera whose engine exists; returns the changes. */
unsigned watch_cam_step(watch_cam *c, const watch_cam_sample *s);
/* A tick without a sample (the engine is down): the window ages. */
unsigned watch_cam_idle(watch_cam *c, uint64_t t_ns);
/* The symptom (0..WATCH_CAM_SYMPTOMS-1) active for auto_after_s by now,
 * the lowest first; -1 when none.  The caller decides (auto on, pool on). */
int watch_cam_auto_due(const watch_cam *c, uint64_t t_ns);

void watch_proc_init(watch_proc *p, const daq_config_rollback *cfg);
/* A stream of the process started at start_ns (the earliest counts). */
void watch_proc_stream_seen(watch_proc *p, uint64_t start_ns);
/* One RSS sample; returns the changes (bit 0 rss_growth_warn, bit 1 rss_growth). */
unsigned watch_proc_step(watch_proc *p, uint64_t t_ns, uint64_t rss_bytes);

#endif
