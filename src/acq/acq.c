/* acq/acq.c - the acquisition engine: one thread per camera.
 *
 * The thread owns the stream: it alone talks to the driver's frame calls,
 * writes the stream counters (single writer, so relaxed stores, no locked
 * instructions) and, when the stream ends for any reason (stop request,
 * frame limit, driver error, watchdog), halts the driver, ends the bus
 * stream and logs the summary itself.  The control side (start/stop) only
 * creates, interrupts and joins it, so an error stop and a requested stop
 * leave the same clean state and a later start works either way.
 *
 * Per frame the loss check and the all-zero check look at the driver's
 * buffer before a pool frame is taken: a duplicate or a zero frame is
 * released without a copy.  The driver's buffer is released only after the
 * copy into the pool frame (rust-daq released it before copying: a race
 * with the SDK overwriting it).
 *
 * Two locks, so that a start blocks no reader (docs/architecture.md §9):
 * ctl_mu serialises start/stop/destroy and is held through a whole start,
 * whose pool prefault takes 0.4 ms per MiB (0.5 s for 8 x 64 MiB, seconds
 * for gigabytes); mu guards the pool pointer and the settings and is only
 * ever held for a few loads and stores, so statistics snapshots (every
 * scrape, GetDeviceState, health) never wait for a prefault.  The new pool
 * is built with neither lock held by anyone else waiting on it, then
 * swapped in under mu.  No camera call is made under mu.
 *
 * Before anything is allocated, a start asks the admission hook (the
 * memory budget, devices/budget.c) whether the plan fits.
 *
 * The frame-interval histogram costs a clock read the loop already made,
 * a count-leading-zeros and four single-writer stores per frame.  The
 * test-only knobs (DAQ_TEST_POOL_SLOW_PCT, DAQ_TEST_CRASH_POOL_INIT) are
 * plain integers read at creation: unset, one predictable branch each.
 *
 * -DDAQ_FRAME_POOL=OFF (ADR 0008) is #if, not a run-time branch, so the
 * pool build's frame path is unchanged: without it take_frame makes a heap
 * frame of the stream's frame size directly (no pool exists, no pool
 * function is called per frame), and the pool's figures in the stats are
 * stood in for by the engine's own counters (pool_figures).
 */
#define _GNU_SOURCE
#include "daq/acq.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acq/clock_model.h"
#include "camera/camera_impl.h"
#include "daq/log.h"
#include "frame/frame_impl.h"
#include "pool/latency.h"
#include "pool/test_knob.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/fatal.h"

#define LOG_ACQ   "daq::acq"
#define LOG_TRACE "pvcam_alloc_trace"
#define LOG_POOL  "pvcam_pool"

/* Stream counters: written by the acquisition thread only. */
typedef struct counters {
    _Atomic uint64_t captured, delivered, lost, discontinuities, backwards, duplicates, zero_frames,
        alloc_dropped, heap_fallbacks, last_hw_frame, bytes_copied, start_ns, first_frame_ns,
        last_frame_ns, allocated_frames;
    /* frame-interval histogram (daq_acq_stats.interval) */
    _Atomic uint64_t iv_count, iv_sum_ns, iv_max_ns;
    _Atomic uint64_t iv_buckets[DAQ_LAT_BUCKETS];
} counters;

struct daq_acq {
    pthread_mutex_t ctl_mu; /* serialises start/stop/destroy; held through a start */
    pthread_mutex_t mu;     /* pool pointer, settings, streams: held only briefly */
    _Atomic bool starting;  /* a start holds ctl_mu: a second start is refused at once */
    daq_camera *cam;        /* owned */
    daq_camera_mode mode;   /* the driver's, fixed */
    daq_bus *bus;           /* borrowed */
    daq_acq_config cfg;
    char id[64];

    daq_pool *pool; /* owned; replaced at start when the geometry changes */
    uint32_t pool_slots;
    bool pool_auto;
    _Atomic bool use_pool;

    pthread_t thread;
    bool joinable;          /* under mu */
    _Atomic bool stop_req;  /* set by stop, read by the thread */
    _Atomic int state;      /* daq_acq_state */
    uint64_t frame_limit;   /* fixed while the thread runs */
    uint64_t streams;       /* under mu */
    char error[256];        /* written by the thread before it publishes ERROR */
    const char *end_reason; /* thread-private until it ends */

    pthread_mutex_t idle_mu; /* with idle_cv: the thread has finished */
    pthread_cond_t idle_cv;
    bool running; /* under idle_mu */

    counters c;
    daq_log_ratelimit exhausted_rl;
    daq_log_ratelimit use_pool_rl; /* a client toggling use_pool in a loop must not flood the log */
    daq_acq_admit_fn admit;        /* set before the first start; may be NULL */
    void *admit_ctx;
    /* thread-private loss-check state */
    bool have_last;
    uint64_t last_hw;
    /* Timestamps (ADR 0011): the camera clock fitted against the host's.
     * The model is the thread's; clock_mu guards the fit it publishes. */
    bool triggered; /* fixed while the thread runs: no watchdog while waiting for triggers */
    daq_clock_model *clock; /* owned */
    uint32_t clock_n;       /* thread-private: pairs since the last publish */
    pthread_mutex_t clock_mu;
    daq_clock_fit clock_fit; /* under clock_mu */
    /* test-only knobs (pool/test_knob.h), fixed at creation; 0 in production */
    uint32_t test_slow_pct;
    uint32_t test_crash;
    uint64_t test_slow_prev_ns; /* thread-private: when the previous frame was done */
#if !DAQ_FRAME_POOL
    size_t frame_bytes; /* this stream's, set at start under mu */
#endif
};

/* Single-writer counter updates: a plain load and store, no lock prefix. */
static inline void bump(_Atomic uint64_t *c, uint64_t by)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + by,
                          memory_order_relaxed);
}

static inline void put(_Atomic uint64_t *c, uint64_t v)
{
    atomic_store_explicit(c, v, memory_order_relaxed);
}

static inline uint64_t get(const _Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

const char *daq_acq_state_name(daq_acq_state s)
{
    switch (s) {
    case DAQ_ACQ_IDLE: return "idle";
    case DAQ_ACQ_STREAMING: return "streaming";
    case DAQ_ACQ_ERROR: return "error";
    }
    return "?";
}

/* Defaults, also for 0 where 0 would mean "never" (daq_acq_create). */
#define WAIT_TIMEOUT_MS 2000
#define WATCHDOG_WAITS  5

void daq_acq_config_init(daq_acq_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    daq_pool_config_init(&cfg->pool);
    cfg->slots = 0;
    cfg->dynamic_allowance = 6; /* three latest-policy gRPC streams: 2 frames each */
    cfg->headroom = 2;
    cfg->wait_timeout_ms = WAIT_TIMEOUT_MS;
    cfg->watchdog_waits = WATCHDOG_WAITS;
    cfg->trace_every = 100;
    cfg->zero_check_samples = 16;
}

uint32_t daq_acq_auto_slots(uint32_t bus_bound, uint32_t driver_held, uint32_t dynamic_allowance,
                            uint32_t headroom)
{
    uint64_t n = (uint64_t)bus_bound + driver_held + 1 + dynamic_allowance + headroom;
    return n > DAQ_POOL_MAX_SLOTS ? DAQ_POOL_MAX_SLOTS : (uint32_t)n;
}

/* ---- creation -------------------------------------------------------------- */

/* Reads the test-only knobs (all three: a bad DAQ_TEST_ALLOC_DELAY_US
 * fails here, not at the first start); 0 or -1 with a message. */
static int read_test_knobs(uint32_t *slow_pct, uint32_t *crash, char *err, size_t err_len)
{
    uint32_t delay_us;
    if (daq_test_knob_read(DAQ_TEST_POOL_SLOW_PCT, 1000,
                           "frames from pool slots take value % more acquisition-thread time",
                           slow_pct, err, err_len) != 0 ||
        daq_test_knob_read(DAQ_TEST_CRASH_POOL_INIT, 1,
                           "the process aborts when a stream starts with use_pool on", crash, err,
                           err_len) != 0)
        return -1;
    return daq_test_knob_read(DAQ_TEST_ALLOC_DELAY_US, 10000000, NULL, &delay_us, err, err_len);
}

daq_acq *daq_acq_create(daq_camera *cam, daq_bus *bus, const daq_acq_config *cfg, char *err,
                        size_t err_len)
{
    uint32_t slow_pct = 0, crash = 0;
    if (read_test_knobs(&slow_pct, &crash, err, err_len) != 0 ||
        daq_camera_open(cam, err, err_len) != 0) {
        daq_camera_destroy(cam);
        return NULL;
    }
    daq_acq *a = calloc(1, sizeof *a);
    if (!a) {
        daq_err(err, err_len, "out of memory");
        daq_camera_destroy(cam);
        return NULL;
    }
    a->cam = cam;
    a->mode = daq_camera_mode_get(cam);
    a->bus = bus;
    a->cfg = *cfg;
    if (a->cfg.wait_timeout_ms == 0)
        a->cfg.wait_timeout_ms = WAIT_TIMEOUT_MS;
    if (a->cfg.watchdog_waits == 0)
        a->cfg.watchdog_waits = WATCHDOG_WAITS;
    snprintf(a->id, sizeof a->id, "%s", daq_camera_id(cam));
    a->test_slow_pct = slow_pct;
    a->test_crash = crash;
    /* A no-pool build: false by construction, whatever config and environment say. */
    atomic_init(&a->use_pool, DAQ_FRAME_POOL && daq_pool_use_pool_resolve(cfg->pool.use_pool));
    atomic_init(&a->state, DAQ_ACQ_IDLE);
    a->exhausted_rl = (daq_log_ratelimit)DAQ_LOG_RATELIMIT_INIT(10, 100);
    a->use_pool_rl = (daq_log_ratelimit)DAQ_LOG_RATELIMIT_INIT(20, 100);
    pthread_mutex_init(&a->ctl_mu, NULL);
    pthread_mutex_init(&a->mu, NULL);
    pthread_mutex_init(&a->idle_mu, NULL);
    pthread_mutex_init(&a->clock_mu, NULL);
    daq_cond_init_monotonic(&a->idle_cv);
    a->clock = daq_clock_model_create(0); /* NULL: no estimates, nothing else lost */
    return a;
}

void daq_acq_destroy(daq_acq *a)
{
    if (!a)
        return;
    daq_acq_stop(a);
    daq_camera_destroy(a->cam);
    daq_pool_destroy(a->pool);
    daq_clock_model_destroy(a->clock);
    pthread_mutex_destroy(&a->clock_mu);
    pthread_cond_destroy(&a->idle_cv);
    pthread_mutex_destroy(&a->idle_mu);
    pthread_mutex_destroy(&a->mu);
    pthread_mutex_destroy(&a->ctl_mu);
    free(a);
}

/* ---- the frame path ------------------------------------------------------------- */

/* Updates the loss counters for hardware number hw; returns false for a
 * duplicate (to be skipped).  flags receives DAQ_FRAME_FLAG_*. */
static bool loss_check(daq_acq *a, uint64_t hw, uint32_t *flags)
{
    *flags = 0;
    if (a->have_last) {
        if (hw == a->last_hw) {
            bump(&a->c.duplicates, 1);
            return false;
        }
        if (hw > a->last_hw + 1) {
            bump(&a->c.lost, hw - a->last_hw - 1);
            bump(&a->c.discontinuities, 1);
            *flags |= DAQ_FRAME_FLAG_AFTER_GAP;
        } else if (hw < a->last_hw) {
            bump(&a->c.discontinuities, 1);
            bump(&a->c.backwards, 1);
            *flags |= DAQ_FRAME_FLAG_DISCONTINUITY;
        }
    }
    a->have_last = true;
    a->last_hw = hw;
    put(&a->c.last_hw_frame, hw);
    return true;
}

/* true if every sampled 8-byte word of the buffer is zero. */
static bool all_zero_sample(const void *px, size_t bytes, uint32_t samples)
{
    if (samples == 0 || bytes < 8)
        return false;
    const unsigned char *p = px;
    size_t words = bytes / 8;
    for (uint32_t i = 0; i < samples; i++) {
        size_t w = samples > 1 ? (words - 1) * i / (samples - 1) : 0;
        uint64_t v;
        memcpy(&v, p + w * 8, 8);
        if (v)
            return false;
    }
    return true;
}

static void fill_meta(daq_acq *a, daq_frame *f, const daq_frame_info *info, uint32_t flags)
{
    daq_frame_meta *m = daq_frame_meta_mut(f);
    m->hw_frame_number = info->hw_frame_number;
    m->sequence = get(&a->c.delivered) + 1;
    m->bof_ns = info->bof_ns;
    m->eof_ns = info->eof_ns;
    m->exposure_ns = info->exposure_ns;
    m->payload_bytes = info->bytes;
    m->width = info->width;
    m->height = info->height;
    m->stride_bytes = info->stride_bytes;
    m->bit_depth = info->bit_depth;
    m->bin_x = info->bin_x ? info->bin_x : 1;
    m->bin_y = info->bin_y ? info->bin_y : 1;
    m->pixel_format = info->pixel_format;
    m->roi = info->roi;
    m->temperature_c = info->temperature_c;
    m->flags = flags;
    m->cam_bof_ns = info->cam_bof_ns;
    m->cam_eof_ns = info->cam_eof_ns;
    m->trigger_index = info->trigger_index;
}

/* Publishes the clock fit every this many pairs (a mutex and a copy). */
#define CLOCK_PUBLISH_EVERY 64u

/* Arrival times, and the exposure start in host realtime: through the
 * camera clock's fitted model when the camera has a clock and the fit is
 * valid, else the driver's host-clock BOF.  The model is fitted on the end
 * of exposure (camera EOF, or BOF + exposure), which arrival follows by the
 * readout and transfer latency alone, so its lower envelope is tight; the
 * start is that minus the exposure in camera time. */
static void stamp_times(daq_acq *a, daq_frame_meta *m, uint64_t t)
{
    m->arrival_mono_ns = t;
    m->arrival_real_ns = daq_real_now_ns();
    uint64_t start_mono = m->bof_ns;
    if (m->cam_bof_ns && a->clock) {
        uint64_t cam_end = m->cam_eof_ns ? m->cam_eof_ns : m->cam_bof_ns + m->exposure_ns;
        uint64_t host_end;
        daq_clock_model_add(a->clock, cam_end, t);
        if (daq_clock_model_map(a->clock, cam_end, &host_end) && host_end > cam_end - m->cam_bof_ns)
            start_mono = host_end - (cam_end - m->cam_bof_ns);
        if (++a->clock_n >= CLOCK_PUBLISH_EVERY) {
            a->clock_n = 0;
            daq_clock_fit fit;
            daq_clock_model_fit(a->clock, &fit);
            pthread_mutex_lock(&a->clock_mu);
            a->clock_fit = fit;
            pthread_mutex_unlock(&a->clock_mu);
        }
    }
    m->exposure_start_real_ns = start_mono ? start_mono + (m->arrival_real_ns - t) : 0;
}

static void warn_exhausted(daq_acq *a, daq_alloc_outcome o)
{
    uint64_t n;
    if (!daq_log_ratelimit_pass(&a->exhausted_rl, &n))
        return;
    DAQ_LOG(DAQ_LOG_WARN, LOG_POOL, "Buffer pool exhausted", DAQ_F_STR("device", a->id),
            DAQ_F_U64("occurrence", n), DAQ_F_STR("outcome", daq_alloc_outcome_name(o)),
            DAQ_F_U64("pool_slots", a->pool_slots));
}

/* The pool's figures; in a no-pool build what stands for them: every
 * frame a heap allocation made because use_pool is off, no slots. */
static void pool_figures(daq_acq *a, daq_pool_metrics *m)
{
    memset(m, 0, sizeof *m);
#if DAQ_FRAME_POOL
    if (a->pool)
        daq_pool_metrics_snapshot(a->pool, m);
#else
    uint64_t made = get(&a->c.allocated_frames), failed = get(&a->c.alloc_dropped);
    m->allocs = m->disabled = made + failed;
    m->heap_disabled = made;
    m->heap_failed = m->drops = failed;
    m->slot_bytes = a->frame_bytes;
#endif
}

/* Bytes a frame of this stream can hold: the pool's slots or, without a
 * pool, the stream's frame size. */
static size_t frame_room(daq_acq *a)
{
#if DAQ_FRAME_POOL
    return daq_pool_slot_bytes(a->pool);
#else
    return a->frame_bytes;
#endif
}

static void trace_line(daq_acq *a, const daq_frame *f, size_t copy_bytes)
{
    if (!daq_log_enabled(LOG_TRACE, DAQ_LOG_DEBUG))
        return;
    daq_pool_metrics m;
    pool_figures(a, &m);
    uint64_t n = m.alloc_pool.count + m.alloc_heap.count;
    double avg_us = n ? (double)(m.alloc_pool.sum_ns + m.alloc_heap.sum_ns) / (double)n / 1e3 : 0;
    double total_mb = (double)get(&a->c.allocated_frames) * (double)m.slot_bytes / 1048576.0;
    DAQ_LOG(DAQ_LOG_DEBUG, LOG_TRACE, "Frame allocation trace",
            DAQ_F_U64("frame", get(&a->c.delivered)), DAQ_F_F64("total_allocated_mb", total_mb),
            DAQ_F_F64("avg_alloc_us", avg_us),
            DAQ_F_F64("last_alloc_us", (double)m.last_alloc_ns / 1e3),
            DAQ_F_U64("copy_bytes", copy_bytes), DAQ_F_F64("pool_hit_rate_pct", 100.0 * m.hit_rate),
            DAQ_F_U64("pool_hits", m.hits), DAQ_F_U64("pool_misses", m.misses),
            DAQ_F_U64("dropped_frames", get(&a->c.alloc_dropped)),
            DAQ_F_BOOL("used_pool", daq_frame_used_pool(f)),
            DAQ_F_U64("frame_loss", get(&a->c.lost)));
}

#if !DAQ_FRAME_POOL
/* The no-pool frame path's allocation: one heap block of the stream's
 * frame size, belonging to no pool. */
static daq_frame *heap_frame(daq_acq *a, daq_alloc_outcome *o)
{
    daq_frame *f = daq_frame__heap_new(NULL, a->frame_bytes, a->cfg.pool.alignment);
    *o = f ? DAQ_ALLOC_HEAP_DISABLED : DAQ_ALLOC_FAILED;
    return f;
}
#endif

/* A frame-path allocation with its accounting; NULL when dropped. */
static daq_frame *take_frame(daq_acq *a)
{
    daq_alloc_outcome o;
#if DAQ_FRAME_POOL
    daq_frame *f = daq_pool_alloc(a->pool, &o);
#else
    daq_frame *f = heap_frame(a, &o);
#endif
    if (o == DAQ_ALLOC_HEAP_EXHAUSTED || o == DAQ_ALLOC_HEAP_DISABLED)
        bump(&a->c.heap_fallbacks, 1);
    if (o == DAQ_ALLOC_HEAP_EXHAUSTED || o == DAQ_ALLOC_DROPPED || o == DAQ_ALLOC_FAILED)
        warn_exhausted(a, o);
    if (f)
        bump(&a->c.allocated_frames, 1);
    else
        bump(&a->c.alloc_dropped, 1);
    return f;
}

/* Adds one arrival-to-arrival interval; the thread is the only writer. */
static inline void interval_add(counters *c, uint64_t ns)
{
    bump(&c->iv_count, 1);
    bump(&c->iv_sum_ns, ns);
    bump(&c->iv_buckets[daq_lat_bucket(ns)], 1);
    if (ns > get(&c->iv_max_ns))
        put(&c->iv_max_ns, ns);
}

/* DAQ_TEST_POOL_SLOW_PCT: a pool-slot frame costs test_slow_pct % more of
 * its own iteration (from the end of the previous frame, at most 1 s). */
static DAQ_COLD void test_slow(daq_acq *a, bool pooled)
{
    uint64_t now = daq_now_ns(), prev = a->test_slow_prev_ns;
    if (pooled && prev && now > prev) {
        uint64_t iter = now - prev < 1000000000ull ? now - prev : 1000000000ull;
        daq_test_knob_spin_until(now + iter * a->test_slow_pct / 100);
        now = daq_now_ns();
    }
    a->test_slow_prev_ns = now;
}

/* Publishes a filled frame and drops the producer's reference.  Returns
 * false when the frame limit is reached. */
static bool deliver(daq_acq *a, daq_frame *f, const daq_frame_info *info, uint32_t flags)
{
    uint64_t t = daq_now_ns(); /* arrival: the frame is ready to publish */
    flags |= daq_camera__trigger_frame(a->cam, info->trigger_index, t);
    fill_meta(a, f, info, flags);
    stamp_times(a, daq_frame_meta_mut(f), t);
    daq_bus_publish(a->bus, f);
    bump(&a->c.delivered, 1);
    bump(&a->c.bytes_copied, a->mode == DAQ_CAMERA_COPY ? info->bytes : 0);
    uint64_t d = get(&a->c.delivered);
    if (d == 1)
        put(&a->c.first_frame_ns, t);
    else
        interval_add(&a->c, t - get(&a->c.last_frame_ns));
    put(&a->c.last_frame_ns, t);
    if (a->cfg.trace_every && d % a->cfg.trace_every == 0)
        trace_line(a, f, a->mode == DAQ_CAMERA_COPY ? info->bytes : 0);
    bool pooled = DAQ_UNLIKELY(a->test_slow_pct) && daq_frame_used_pool(f);
    daq_frame_unref(f);
    if (DAQ_UNLIKELY(a->test_slow_pct))
        test_slow(a, pooled);
    if (a->frame_limit && d >= a->frame_limit) {
        a->end_reason = "frame limit";
        return false;
    }
    return true;
}

static void fail(daq_acq *a, const char *what)
{
    char why[192] = "";
    daq_camera_error(a->cam, why, sizeof why);
    snprintf(a->error, sizeof a->error, "%s%s%s", what, why[0] ? ": " : "", why);
    a->end_reason = "error";
}

/* One frame from a COPY-mode driver.  Returns false to end the stream. */
static bool copy_one(daq_acq *a, const void *px, const daq_frame_info *info)
{
    bump(&a->c.captured, 1);
    uint32_t flags;
    if (!loss_check(a, info->hw_frame_number, &flags)) {
        daq_camera__release_oldest(a->cam);
        return true;
    }
    if (all_zero_sample(px, info->bytes, a->cfg.zero_check_samples)) {
        bump(&a->c.zero_frames, 1);
        daq_camera__release_oldest(a->cam);
        return true;
    }
    if (info->bytes > frame_room(a)) {
        daq_camera__release_oldest(a->cam);
        snprintf(a->error, sizeof a->error,
                 "frame of %zu bytes does not fit the %zu-byte pool slots", info->bytes,
                 frame_room(a));
        a->end_reason = "error";
        return false;
    }
    daq_frame *f = take_frame(a);
    if (!f) {
        daq_camera__release_oldest(a->cam);
        return true;
    }
    memcpy(daq_frame_data(f), px, info->bytes);
    daq_camera__release_oldest(a->cam); /* only now: the copy is complete */
    return deliver(a, f, info, flags);
}

/* Drains every ready frame; false ends the stream. */
static bool drain_copy(daq_acq *a)
{
    while (!atomic_load_explicit(&a->stop_req, memory_order_relaxed)) {
        const void *px = NULL;
        daq_frame_info info;
        memset(&info, 0, sizeof info);
        int g = daq_camera__get_oldest(a->cam, &px, &info);
        if (g < 0) {
            fail(a, "camera readout failed");
            return false;
        }
        if (g == 0)
            return true;
        if (!copy_one(a, px, &info))
            return false;
    }
    return true;
}

/* Keeps the FILL-mode driver supplied with empty frames. */
static bool fill_top_up(daq_acq *a, uint32_t want, uint32_t *queued)
{
    while (*queued < want) {
        daq_frame *f = take_frame(a);
        if (!f)
            return true; /* counted; retried after the next frame or timeout */
        if (daq_camera__fill_queue(a->cam, f) != 0) {
            fail(a, "camera refused a buffer");
            return false;
        }
        (*queued)++;
    }
    return true;
}

/* Waits for and handles one FILL-mode frame; < 0 ends, 0 timeout, 1 frame. */
static int fill_one(daq_acq *a, uint32_t *queued)
{
    daq_frame *f = NULL;
    daq_frame_info info;
    memset(&info, 0, sizeof info);
    int r = daq_camera__fill_dequeue(a->cam, (int64_t)a->cfg.wait_timeout_ms * 1000000, &f, &info);
    if (r < 0) {
        fail(a, "camera readout failed");
        return -1;
    }
    if (r == 0)
        return 0;
    (*queued)--;
    bump(&a->c.captured, 1);
    uint32_t flags;
    bool keep = loss_check(a, info.hw_frame_number, &flags);
    if (keep && all_zero_sample(daq_frame_cdata(f), info.bytes, a->cfg.zero_check_samples)) {
        bump(&a->c.zero_frames, 1);
        keep = false;
    }
    if (!keep) {
        daq_frame_unref(f);
        return 1;
    }
    return deliver(a, f, &info, flags) ? 1 : -1;
}

static bool stop_requested(daq_acq *a)
{
    return atomic_load_explicit(&a->stop_req, memory_order_relaxed);
}

/* The watchdog: counts empty waits; true when it trips. */
static bool watchdog(daq_acq *a, uint32_t *empty)
{
    if (a->triggered || ++*empty < a->cfg.watchdog_waits) /* triggers may be minutes apart */
        return false;
    snprintf(a->error, sizeof a->error, "watchdog: no frame for %u waits of %u ms",
             a->cfg.watchdog_waits, a->cfg.wait_timeout_ms);
    a->end_reason = "error";
    DAQ_LOG(DAQ_LOG_ERROR, LOG_ACQ, "acquisition stalled", DAQ_F_STR("device", a->id),
            DAQ_F_U64("waits", a->cfg.watchdog_waits),
            DAQ_F_U64("wait_timeout_ms", a->cfg.wait_timeout_ms));
    return true;
}

static void run_copy(daq_acq *a)
{
    uint32_t empty = 0;
    int64_t timeout = (int64_t)a->cfg.wait_timeout_ms * 1000000;
    while (!stop_requested(a)) {
        int r = daq_camera__wait(a->cam, timeout);
        if (stop_requested(a))
            return;
        if (r < 0) {
            fail(a, "camera wait failed");
            return;
        }
        if (r == 0) {
            if (watchdog(a, &empty))
                return;
            continue;
        }
        empty = 0;
        if (!drain_copy(a))
            return;
    }
}

static void run_fill(daq_acq *a)
{
    uint32_t held = daq_camera__fill_held(a->cam);
    uint32_t want = held ? held : 4;
    uint32_t queued = 0, empty = 0;
    if (!fill_top_up(a, want, &queued))
        return;
    while (!stop_requested(a)) {
        int r = fill_one(a, &queued);
        if (r < 0 || stop_requested(a))
            return;
        if (r == 0) {
            if (watchdog(a, &empty))
                return;
            /* Also after a timeout: a top-up that found the pool dry (drop
             * policy) may have left the driver with nothing queued, and
             * then no frame would ever come to trigger the retry. */
            if (!fill_top_up(a, want, &queued))
                return;
            continue;
        }
        empty = 0;
        if (!fill_top_up(a, want, &queued))
            return;
    }
}

static void consumer_drops(daq_acq *a, char *buf, size_t len)
{
    daq_sub_stats st[16];
    unsigned n = daq_bus_stats_snapshot(a->bus, st, 16);
    size_t off = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < n && off < len; i++) {
        int w = snprintf(buf + off, len - off, "%s%s:%" PRIu64, i ? "," : "", st[i].name,
                         st[i].dropped);
        if (w < 0)
            break;
        off += (size_t)w;
    }
}

static void log_summary(daq_acq *a)
{
    char drops[512];
    consumer_drops(a, drops, sizeof drops);
    daq_pool_metrics m;
    pool_figures(a, &m);
    /* A stream the camera ended is a failure an operator must see at the
     * default level, with its reason; a requested stop or a frame limit is not. */
    bool failed = a->end_reason && strcmp(a->end_reason, "error") == 0;
    DAQ_LOG(failed ? DAQ_LOG_ERROR : DAQ_LOG_INFO, LOG_ACQ,
            failed ? "acquisition stopped by an error" : "acquisition stopped",
            DAQ_F_STR("device", a->id),
            DAQ_F_STR("reason", a->end_reason ? a->end_reason : "stopped"),
            DAQ_F_U64("captured", get(&a->c.captured)),
            DAQ_F_U64("delivered", get(&a->c.delivered)), DAQ_F_U64("lost", get(&a->c.lost)),
            DAQ_F_U64("discontinuities", get(&a->c.discontinuities)),
            DAQ_F_U64("duplicates", get(&a->c.duplicates)),
            DAQ_F_U64("zero_frames", get(&a->c.zero_frames)),
            DAQ_F_U64("heap_fallbacks", get(&a->c.heap_fallbacks)),
            DAQ_F_U64("alloc_dropped", get(&a->c.alloc_dropped)),
            DAQ_F_F64("pool_hit_rate_pct", 100.0 * m.hit_rate), DAQ_F_STR("consumer_drops", drops),
            DAQ_F_STR("error", failed ? a->error : ""));
}

static void *acq_thread(void *arg)
{
    daq_acq *a = arg;
    if (a->mode == DAQ_CAMERA_FILL)
        run_fill(a);
    else
        run_copy(a);
    /* Whatever ended the stream, leave the driver halted and tell consumers. */
    daq_camera_stop(a->cam);
    daq_bus_end_stream(a->bus);
    if (get(&a->c.heap_fallbacks))
        daq_pool_trim_heap(a->pool); /* process-wide (NULL without a pool): heap frames go back */
    log_summary(a);
    bool failed = a->end_reason && strcmp(a->end_reason, "error") == 0;
    atomic_store_explicit(&a->state, failed ? DAQ_ACQ_ERROR : DAQ_ACQ_IDLE, memory_order_release);
    pthread_mutex_lock(&a->idle_mu);
    a->running = false;
    pthread_cond_broadcast(&a->idle_cv);
    pthread_mutex_unlock(&a->idle_mu);
    return NULL;
}

/* ---- control ------------------------------------------------------------------ */

/* Joins a thread that has ended (or been asked to); under a->ctl_mu. */
static void reap(daq_acq *a)
{
    if (!a->joinable)
        return;
    atomic_store(&a->stop_req, true);
    daq_camera_interrupt(a->cam);
    daq_bus_interrupt(a->bus); /* a lossless consumer may hold the thread in publish */
    pthread_join(a->thread, NULL);
    a->joinable = false;
}

/* The pool slots a stream of frame_bytes frames gets (auto: the formula
 * of daq/acq.h); *formula receives the formula's count.  Takes mu briefly. */
static uint32_t plan_slots(daq_acq *a, size_t frame_bytes, uint32_t *formula)
{
#if !DAQ_FRAME_POOL
    *formula = 0;
    return 0; /* no pool: nothing to size */
#else
    uint32_t held = daq_camera__fill_held(a->cam);
    pthread_mutex_lock(&a->mu);
    uint32_t reserve = daq_acq_reserve_frames(a->cfg.reserve_bytes, frame_bytes);
    *formula = daq_acq_auto_slots(daq_bus_frames_bound(a->bus) + reserve + (reserve > 0), held,
                                  a->cfg.dynamic_allowance, a->cfg.headroom);
    uint32_t slots = a->cfg.slots ? a->cfg.slots : *formula;
    pthread_mutex_unlock(&a->mu);
    return slots;
#endif
}

uint32_t daq_acq_plan_slots(daq_acq *a, size_t frame_bytes)
{
    uint32_t formula;
    return plan_slots(a, frame_bytes, &formula);
}

void daq_acq_set_admit(daq_acq *a, daq_acq_admit_fn fn, void *ctx)
{
    pthread_mutex_lock(&a->mu);
    a->admit = fn;
    a->admit_ctx = ctx;
    pthread_mutex_unlock(&a->mu);
}

#if !DAQ_FRAME_POOL
/* No pool: only the stream's frame size, for its heap frames. */
static int prepare_pool(daq_acq *a, const daq_camera_format *fmt, uint32_t slots, char *err,
                        size_t err_len)
{
    pthread_mutex_lock(&a->mu);
    a->frame_bytes = fmt->frame_bytes;
    a->pool_auto = false;
    a->pool_slots = 0;
    pthread_mutex_unlock(&a->mu);
    return 0;
}
#else
/* Sizes and (re)creates the pool for this stream; under ctl_mu only: the
 * prefault of a new pool runs while readers take mu freely. */
static int prepare_pool(daq_acq *a, const daq_camera_format *fmt, uint32_t slots, char *err,
                        size_t err_len)
{
    pthread_mutex_lock(&a->mu);
    daq_pool *old = a->pool;
    a->pool_auto = a->cfg.slots == 0;
    daq_pool_config pc = a->cfg.pool;
    pthread_mutex_unlock(&a->mu);
    if (old && daq_pool_slot_count(old) == slots && daq_pool_slot_bytes(old) == fmt->frame_bytes) {
        daq_pool_metrics_reset(old);
        return 0;
    }
    pc.name = a->id;
    pc.slot_bytes = fmt->frame_bytes;
    pc.slot_count = slots;
    daq_pool *p = daq_pool_create(&pc, err, err_len); /* the slow part: prefault */
    if (!p)
        return -1;
    pthread_mutex_lock(&a->mu);
    daq_pool_set_use_pool(p, atomic_load(&a->use_pool)); /* under mu: a toggle meanwhile counts */
    a->pool = p;
    a->pool_slots = slots;
    pthread_mutex_unlock(&a->mu);
    daq_pool_destroy(old); /* frames still out keep the old one alive */
    return 0;
}
#endif

/* Plans the stream (slots, bytes) and asks the admission hook; 0 or -1
 * (err) before anything is allocated. */
static int plan_and_admit(daq_acq *a, const daq_camera_format *fmt, uint32_t *slots, char *err,
                          size_t err_len)
{
    uint32_t formula;
    *slots = plan_slots(a, fmt->frame_bytes, &formula);
    if (*slots < formula)
        DAQ_LOG(DAQ_LOG_WARN, LOG_ACQ, "pool smaller than the sizing formula: expect exhaustion",
                DAQ_F_STR("device", a->id), DAQ_F_U64("slots", *slots),
                DAQ_F_U64("formula", formula));
    pthread_mutex_lock(&a->mu);
    daq_acq_admit_fn admit = a->admit;
    void *ctx = a->admit_ctx;
    pthread_mutex_unlock(&a->mu);
    daq_acq_plan plan = {.frame_bytes = fmt->frame_bytes, .pool_slots = *slots};
    return admit ? admit(ctx, a, &plan, err, err_len) : 0;
}

static void reset_stream(daq_acq *a, uint64_t frame_limit)
{
    _Atomic uint64_t *all[] = {&a->c.captured,        &a->c.delivered,        &a->c.lost,
                               &a->c.discontinuities, &a->c.backwards,        &a->c.duplicates,
                               &a->c.zero_frames,     &a->c.alloc_dropped,    &a->c.heap_fallbacks,
                               &a->c.last_hw_frame,   &a->c.bytes_copied,     &a->c.last_frame_ns,
                               &a->c.first_frame_ns,  &a->c.allocated_frames, &a->c.iv_count,
                               &a->c.iv_sum_ns,       &a->c.iv_max_ns};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        put(all[i], 0);
    for (unsigned i = 0; i < DAQ_LAT_BUCKETS; i++)
        put(&a->c.iv_buckets[i], 0);
    a->test_slow_prev_ns = 0;
    put(&a->c.start_ns, daq_now_ns());
    a->have_last = false;
    a->last_hw = 0;
    a->frame_limit = frame_limit;
    a->end_reason = NULL;
    a->error[0] = '\0';
    if (a->clock)
        daq_clock_model_reset(a->clock); /* the camera clock may restart with the stream */
    a->clock_n = 0;
    pthread_mutex_lock(&a->clock_mu);
    memset(&a->clock_fit, 0, sizeof a->clock_fit);
    pthread_mutex_unlock(&a->clock_mu);
    __atomic_store_n(&a->exhausted_rl.count, 0, __ATOMIC_RELAXED);
}

/* Starts the acquisition thread after a successful camera start; under ctl_mu. */
static int spawn(daq_acq *a, char *err, size_t err_len)
{
    atomic_store(&a->stop_req, false);
    atomic_store(&a->state, DAQ_ACQ_STREAMING);
    pthread_mutex_lock(&a->idle_mu);
    a->running = true;
    pthread_mutex_unlock(&a->idle_mu);
    if (pthread_create(&a->thread, NULL, acq_thread, a) != 0) {
        daq_err(err, err_len, "cannot start the acquisition thread: %s", strerror(errno));
        daq_camera_stop(a->cam);
        atomic_store(&a->state, DAQ_ACQ_IDLE);
        pthread_mutex_lock(&a->idle_mu);
        a->running = false;
        pthread_mutex_unlock(&a->idle_mu);
        return -1;
    }
    a->joinable = true;
    pthread_mutex_lock(&a->mu);
    a->streams++;
    pthread_mutex_unlock(&a->mu);
    return 0;
}

/* DAQ_TEST_CRASH_POOL_INIT: the plan's "pool init crash", for the code
 * rollback's crash-loop guard to be tested against. */
static DAQ_COLD DAQ_NORETURN void test_crash(daq_acq *a)
{
    DAQ_LOG(DAQ_LOG_ERROR, LOG_ACQ, "test only: crashing at pool init", DAQ_F_STR("device", a->id),
            DAQ_F_STR("knob", DAQ_TEST_CRASH_POOL_INIT));
    abort();
}

int daq_acq_start(daq_acq *a, uint64_t frame_limit, char *err, size_t err_len)
{
    if (atomic_exchange(&a->starting, true))
        return daq_err(err, err_len, "%s is starting (another start is in progress)", a->id);
    pthread_mutex_lock(&a->ctl_mu);
    if (a->joinable && atomic_load(&a->state) == DAQ_ACQ_STREAMING) {
        pthread_mutex_unlock(&a->ctl_mu);
        atomic_store(&a->starting, false);
        return 1;
    }
    reap(a); /* a stream that ended by itself */
    daq_camera_format fmt;
    uint32_t slots = 0;
    int rc = daq_camera_open(a->cam, err, err_len);
    if (rc == 0)
        rc = daq_camera_get_format(a->cam, &fmt, err, err_len);
    if (rc == 0)
        rc = plan_and_admit(a, &fmt, &slots, err, err_len);
    if (rc == 0)
        rc = prepare_pool(a, &fmt, slots, err, err_len);
    if (rc == 0 && DAQ_UNLIKELY(a->test_crash) && atomic_load(&a->use_pool))
        test_crash(a);
    if (rc == 0) {
        reset_stream(a, frame_limit);
        rc = daq_camera_start(a->cam, err, err_len);
    }
    if (rc == 0) {
        a->triggered = daq_camera_armed(a->cam);
        rc = spawn(a, err, err_len);
    }
    if (rc == 0)
        DAQ_LOG(DAQ_LOG_INFO, LOG_ACQ, "acquisition started", DAQ_F_STR("device", a->id),
                DAQ_F_U64("width", fmt.width), DAQ_F_U64("height", fmt.height),
                DAQ_F_U64("bit_depth", fmt.bit_depth), DAQ_F_U64("frame_bytes", fmt.frame_bytes),
                DAQ_F_U64("pool_slots", slots), DAQ_F_BOOL("pool_auto", a->pool_auto),
                DAQ_F_BOOL("use_pool", daq_acq_use_pool(a)), DAQ_F_U64("frame_limit", frame_limit));
    pthread_mutex_unlock(&a->ctl_mu);
    atomic_store(&a->starting, false);
    return rc == 0 ? 0 : -1;
}

void daq_acq_stop(daq_acq *a)
{
    pthread_mutex_lock(&a->ctl_mu);
    reap(a);
    daq_camera_stop(a->cam); /* idempotent: covers a start that failed half-way */
    pthread_mutex_unlock(&a->ctl_mu);
}

bool daq_acq_wait_idle(daq_acq *a, uint32_t timeout_ms)
{
    uint64_t deadline = daq_now_ns() + (uint64_t)timeout_ms * 1000000;
    pthread_mutex_lock(&a->idle_mu);
    int rc = 0;
    while (a->running && rc != ETIMEDOUT)
        rc = daq_cond_wait_until(&a->idle_cv, &a->idle_mu, deadline);
    bool idle = !a->running;
    pthread_mutex_unlock(&a->idle_mu);
    return idle;
}

daq_acq_state daq_acq_state_get(const daq_acq *a)
{
    return (daq_acq_state)atomic_load_explicit(&a->state, memory_order_acquire);
}

int daq_acq_set_use_pool(daq_acq *a, bool on)
{
    uint64_t n;
#if !DAQ_FRAME_POOL
    if (on && daq_log_ratelimit_pass(&a->use_pool_rl, &n))
        DAQ_LOG(DAQ_LOG_WARN, LOG_ACQ, "use_pool cannot be turned on: " DAQ_ACQ_POOL_OFF_BUILD,
                DAQ_F_STR("device", a->id), DAQ_F_U64("occurrence", n));
    return on ? -1 : 0;
#else
    pthread_mutex_lock(&a->mu);
    bool was = atomic_exchange(&a->use_pool, on);
    if (a->pool)
        daq_pool_set_use_pool(a->pool, on);
    pthread_mutex_unlock(&a->mu);
    if (was != on && daq_log_ratelimit_pass(&a->use_pool_rl, &n))
        DAQ_LOG(DAQ_LOG_INFO, LOG_ACQ, "use_pool changed", DAQ_F_STR("device", a->id),
                DAQ_F_BOOL("use_pool", on), DAQ_F_U64("occurrence", n));
    return 0;
#endif
}

bool daq_acq_frame_pool_built(void)
{
    return DAQ_FRAME_POOL;
}

void daq_acq_set_reserve_bytes(daq_acq *a, uint64_t bytes)
{
    pthread_mutex_lock(&a->mu);
    a->cfg.reserve_bytes = bytes;
    pthread_mutex_unlock(&a->mu);
}

uint32_t daq_acq_reserve_frames(uint64_t bytes, size_t frame_bytes)
{
    if (bytes == 0 || frame_bytes == 0)
        return 0;
    uint64_t n = (bytes + frame_bytes - 1) / frame_bytes;
    return n > DAQ_POOL_MAX_SLOTS ? DAQ_POOL_MAX_SLOTS : (uint32_t)n;
}

bool daq_acq_use_pool(const daq_acq *a)
{
    return atomic_load(&a->use_pool);
}

int daq_acq_set_policy(daq_acq *a, daq_pool_policy policy, uint32_t wait_timeout_ms,
                       daq_pool_policy fallback)
{
    pthread_mutex_lock(&a->mu);
    int rc = 0;
    if (a->pool)
        rc = daq_pool_set_policy(a->pool, policy, wait_timeout_ms, fallback);
    else if (!daq_pool_policy_valid(policy, fallback))
        rc = -1;
    if (rc == 0) {
        a->cfg.pool.policy = policy;
        a->cfg.pool.wait_timeout_ms = wait_timeout_ms;
        a->cfg.pool.wait_fallback = fallback;
    }
    pthread_mutex_unlock(&a->mu);
    return rc;
}

daq_pool_policy daq_acq_policy(daq_acq *a)
{
    pthread_mutex_lock(&a->mu);
    daq_pool_policy p = a->cfg.pool.policy;
    pthread_mutex_unlock(&a->mu);
    return p;
}

daq_camera *daq_acq_camera(daq_acq *a)
{
    return a->cam;
}

daq_bus *daq_acq_bus(daq_acq *a)
{
    return a->bus;
}

daq_pool *daq_acq_pool(daq_acq *a)
{
    return a->pool;
}

void daq_acq_stats_snapshot(daq_acq *a, daq_acq_stats *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_lock(&a->mu);
    s->state = daq_acq_state_get(a);
    if (s->state == DAQ_ACQ_ERROR)
        snprintf(s->error, sizeof s->error, "%s", a->error);
    s->streams = a->streams;
    s->captured = get(&a->c.captured);
    s->delivered = get(&a->c.delivered);
    s->lost = get(&a->c.lost);
    s->discontinuities = get(&a->c.discontinuities);
    s->backwards = get(&a->c.backwards);
    s->duplicates = get(&a->c.duplicates);
    s->zero_frames = get(&a->c.zero_frames);
    s->alloc_dropped = get(&a->c.alloc_dropped);
    s->heap_fallbacks = get(&a->c.heap_fallbacks);
    s->last_hw_frame = get(&a->c.last_hw_frame);
    s->bytes_copied = get(&a->c.bytes_copied);
    s->start_ns = get(&a->c.start_ns);
    s->first_frame_ns = get(&a->c.first_frame_ns);
    s->last_frame_ns = get(&a->c.last_frame_ns);
    if (s->delivered > 1 && s->last_frame_ns > s->first_frame_ns)
        s->fps = (double)(s->delivered - 1) * 1e9 / (double)(s->last_frame_ns - s->first_frame_ns);
    s->interval.count = get(&a->c.iv_count);
    s->interval.sum_ns = get(&a->c.iv_sum_ns);
    s->interval.max_ns = get(&a->c.iv_max_ns);
    for (unsigned i = 0; i < DAQ_LAT_BUCKETS; i++)
        s->interval.buckets[i] = get(&a->c.iv_buckets[i]);
    s->pool_slots = a->pool_slots;
    s->pool_auto = a->pool_auto;
    pool_figures(a, &s->pool);
    pthread_mutex_unlock(&a->mu);
    daq_camera_stats_snapshot(a->cam, &s->driver);
    daq_camera_trigger_stats(a->cam, &s->trigger);
    pthread_mutex_lock(&a->clock_mu);
    s->clock_valid = a->clock_fit.valid;
    s->clock_drift_ppm = a->clock_fit.drift_ppm;
    s->clock_residual_ns = a->clock_fit.residual_ns;
    s->clock_pairs = a->clock_fit.pairs;
    pthread_mutex_unlock(&a->clock_mu);
}
