/* daqd/pilot.c - checkpoint 5: the frame pool against the pre-migration
 * path (every frame to the heap) in windows of one run.
 *
 * Why windows of one run: two separate runs differ by more than the 5 %
 * the plan allows (page cache, CPU frequency, other load: on the loaded
 * 2-core test machine identical 2 s windows of one run delivered 58k and
 * 83k fps); windows of one stream share most of that, and the within-run
 * rule takes the median of the window pairs' ratios (pilot.h).  The order
 * is A B B A A B ... (pool on, off, off, on, on, off):
 * a linear drift over the run (a warming machine, a build starting next
 * door) then weighs on both kinds alike instead of always on the second.
 * After each switch of the pool a settle (default 0.5 s) is not counted:
 * frames allocated before the switch are still in flight.
 *
 * Consumers, attached for the whole run as the daemon's would be:
 *   stats  - lossless queue (depth 16): takes every frame, as a recorder;
 *   latest - latest-only (depth 1, drop-oldest), as a gRPC viewer: wakes,
 *            takes the newest frame and "sends" it (a checksum of a row).
 * Each records latency = receipt - the frame's arrival (eof_ns, what the
 * driver stamped when the frame was complete) in a histogram of 16
 * sub-buckets per power of two (6 % resolution: a log2 histogram would
 * move p99 only by factors of 2, too coarse for a +50 % rule).
 * A stall is a gap > stall_ms between two receipts while frames were
 * flowing: the frame received had waited (latency > stall_ms / 2) or
 * frames were published in between (its sequence is not the next one), so
 * a slow camera's natural period is no stall.  A disconnect is a
 * subscription that ended before the pilot stopped the stream.
 */
#define _GNU_SOURCE
#include "daqd/pilot.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daq/acq.h"
#include "daq/bus.h"
#include "daq/frame.h"
#include "util/clock.h"
#include "util/err.h"

const char *const daqd_pilot_consumer_names[DAQD_PILOT_CONSUMERS] = {"stats", "latest"};

/* ---- latency histogram: 16 sub-buckets per octave, 1 ns .. 2^40 ns --------------- */

#define SUB_BITS 4
#define SUB      (1u << SUB_BITS)
#define OCTAVES  40
#define NBUCKETS (SUB + (OCTAVES - SUB_BITS) * SUB)

typedef struct hist {
    uint64_t n;
    uint64_t b[NBUCKETS];
} hist;

static unsigned bucket_of(uint64_t v)
{
    if (v < SUB)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= SUB_BITS */
    unsigned i = SUB + (e - SUB_BITS) * SUB + (unsigned)((v >> (e - SUB_BITS)) & (SUB - 1));
    return i < NBUCKETS ? i : NBUCKETS - 1;
}

static uint64_t bucket_upper(unsigned i)
{
    if (i < SUB)
        return i + 1;
    unsigned e = (i - SUB) / SUB + SUB_BITS, s = (i - SUB) % SUB;
    return ((uint64_t)(SUB + s + 1)) << (e - SUB_BITS);
}

static double hist_quantile_us(const hist *h, double q)
{
    if (!h->n)
        return 0;
    uint64_t rank = (uint64_t)ceil(q * (double)h->n), sum = 0;
    for (unsigned i = 0; i < NBUCKETS; i++)
        if ((sum += h->b[i]) >= rank)
            return (double)bucket_upper(i) / 1e3;
    return (double)bucket_upper(NBUCKETS - 1) / 1e3;
}

static void hist_merge(hist *into, const hist *h)
{
    into->n += h->n;
    for (unsigned i = 0; i < NBUCKETS; i++)
        into->b[i] += h->b[i];
}

/* ---- consumers ---------------------------------------------------------------------- */

typedef struct consumer {
    int which; /* DAQD_PILOT_STATS / _LATEST */
    daq_sub *sub;
    pthread_t thread;
    const atomic_int *window; /* the counted window now, -1 while settling */
    const atomic_bool *ending;
    int64_t stall_ns;
    uint64_t checksum; /* the "send": keeps the read from being optimised away */
    /* per window; written by the consumer thread only, read after the join */
    hist h[DAQD_PILOT_MAX_WINDOWS];
    uint64_t receipts[DAQD_PILOT_MAX_WINDOWS], stalls[DAQD_PILOT_MAX_WINDOWS];
    uint64_t disconnects;
} consumer;

/* The latest-only consumer's "send": one row of the image read. */
static uint64_t row_checksum(const daq_frame *f)
{
    const daq_frame_meta *m = daq_frame_meta_get(f);
    const unsigned char *p = daq_frame_cdata(f);
    size_t n = m->stride_bytes ? m->stride_bytes : m->payload_bytes;
    if (n > m->payload_bytes)
        n = m->payload_bytes;
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s = s * 31 + p[i];
    return s;
}

static void *consume(void *arg)
{
    consumer *c = arg;
    uint64_t last_ns = 0, last_seq = 0;
    for (;;) {
        daq_frame *f;
        int r = daq_sub_next(c->sub, -1, &f);
        if (r == DAQ_SUB_EOS || r == DAQ_SUB_CLOSED) {
            c->disconnects += !atomic_load(c->ending);
            return NULL;
        }
        if (r != DAQ_SUB_FRAME)
            continue;
        uint64_t now = daq_now_ns();
        int w = atomic_load(c->window);
        const daq_frame_meta *m = daq_frame_meta_get(f);
        uint64_t lat = m->eof_ns && m->eof_ns <= now ? now - m->eof_ns : 0;
        if (w >= 0) {
            c->receipts[w]++;
            if (m->eof_ns) {
                c->h[w].n++;
                c->h[w].b[bucket_of(lat)]++;
            }
            bool flowing = lat > (uint64_t)c->stall_ns / 2 || m->sequence > last_seq + 1;
            if (last_ns && now - last_ns > (uint64_t)c->stall_ns && flowing)
                c->stalls[w]++;
        }
        last_ns = now;
        last_seq = m->sequence;
        if (c->which == DAQD_PILOT_LATEST)
            c->checksum += row_checksum(f);
        daq_frame_unref(f);
    }
}

static int consumer_start(consumer *c, int which, daq_bus *bus, const atomic_int *window,
                          const atomic_bool *ending, int64_t stall_ms, char *err, size_t err_len)
{
    daq_sub_config sc;
    daq_sub_config_init(&sc);
    sc.name = which == DAQD_PILOT_STATS ? "pilot-stats" : "pilot-latest";
    sc.policy = which == DAQD_PILOT_STATS ? DAQ_SUB_LOSSLESS : DAQ_SUB_DROP_OLDEST;
    sc.queue_depth = which == DAQD_PILOT_STATS ? 16 : 1;
    sc.lossless_timeout_ms = 1000;
    c->which = which;
    c->window = window;
    c->ending = ending;
    c->stall_ns = stall_ms * 1000000;
    c->sub = daq_bus_subscribe(bus, &sc, err, err_len);
    if (!c->sub)
        return -1;
    if (pthread_create(&c->thread, NULL, consume, c) != 0) {
        daq_bus_unsubscribe(bus, c->sub);
        snprintf(err, err_len, "cannot start the %s consumer thread", sc.name);
        return -1;
    }
    return 0;
}

/* After the stream ended (EOS wakes it) or, with close, at once. */
static void consumer_stop(consumer *c, daq_bus *bus, bool close, uint64_t *dropped)
{
    if (close)
        daq_sub_close(c->sub);
    pthread_join(c->thread, NULL);
    daq_sub_stats st;
    daq_sub_stats_snapshot(c->sub, &st);
    daq_bus_unsubscribe(bus, c->sub);
    *dropped = st.dropped;
}

/* ---- the run -------------------------------------------------------------------------- */

double daqd_pilot_p99_us(const daqd_pilot_figures *k)
{
    return fmax(k->c[DAQD_PILOT_STATS].p99_us, k->c[DAQD_PILOT_LATEST].p99_us);
}

/* ABBA: pool on for windows 0, 3, 4, 7, 8, ... */
static bool window_pool(unsigned w)
{
    return ((w + 1) / 2) % 2 == 0;
}

/* Sleeps until deadline, showing progress; false if the stream stopped. */
static bool run_until(daq_acq *a, uint64_t deadline, bool tty, unsigned w, const daqd_pilot_opts *o)
{
    while (daq_now_ns() < deadline) {
        if (daq_acq_state_get(a) != DAQ_ACQ_STREAMING)
            return false;
        uint64_t left = deadline - daq_now_ns();
        usleep((useconds_t)(left > 100000000 ? 100000 : left / 1000 + 1));
        if (tty) {
            daq_acq_stats s;
            daq_acq_stats_snapshot(a, &s);
            fprintf(stderr, "\rpilot: window %u/%u  pool %-3s  %lu frames  %.0f fps  lost %lu   ",
                    w + 1, o->windows, window_pool(w) ? "on" : "off", (unsigned long)s.delivered,
                    s.fps, (unsigned long)s.lost);
        }
    }
    return daq_acq_state_get(a) == DAQ_ACQ_STREAMING;
}

static void window_figures(daqd_pilot_figures *f, const daq_acq_stats *s0, const daq_acq_stats *s1,
                           double seconds)
{
    f->seconds = seconds;
    f->frames = s1->delivered - s0->delivered;
    f->fps = seconds > 0 ? (double)f->frames / seconds : 0;
    uint64_t allocs = s1->pool.allocs - s0->pool.allocs, hits = s1->pool.hits - s0->pool.hits;
    f->hit_pct = allocs ? 100.0 * (double)hits / (double)allocs : 0;
    f->lost = s1->lost - s0->lost;
    f->alloc_dropped = s1->alloc_dropped - s0->alloc_dropped;
}

static void consumer_figures(daqd_pilot_consumer *out, const hist *h, uint64_t receipts,
                             uint64_t stalls)
{
    out->receipts = receipts;
    out->stalls = stalls;
    out->p50_us = hist_quantile_us(h, 0.50);
    out->p99_us = hist_quantile_us(h, 0.99);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of on/off fps over the pairs of windows (windows is even). */
static double pair_ratio_median(const daqd_pilot_result *r)
{
    double ratio[DAQD_PILOT_MAX_WINDOWS / 2];
    unsigned n = 0;
    for (unsigned w = 0; w + 1 < r->n_windows; w += 2) {
        const daqd_pilot_figures *a = &r->window[w], *b = &r->window[w + 1];
        const daqd_pilot_figures *on = a->pool ? a : b, *off = a->pool ? b : a;
        if (off->fps > 0)
            ratio[n++] = on->fps / off->fps;
    }
    if (!n)
        return NAN;
    qsort(ratio, n, sizeof ratio[0], cmp_double);
    return n % 2 ? ratio[n / 2] : (ratio[n / 2 - 1] + ratio[n / 2]) / 2;
}

/* Per-window and per-kind figures from the joined consumers. */
static void summarize(daqd_pilot_result *r, consumer c[DAQD_PILOT_CONSUMERS])
{
    static hist kind_h[2][DAQD_PILOT_CONSUMERS];
    memset(kind_h, 0, sizeof kind_h);
    daqd_pilot_figures *kinds[2] = {&r->off, &r->on};
    r->off.pool = false;
    r->on.pool = true;
    uint64_t allocs[2] = {0, 0}, hits[2] = {0, 0};
    for (unsigned w = 0; w < r->n_windows; w++) {
        daqd_pilot_figures *f = &r->window[w], *k = kinds[f->pool];
        for (int i = 0; i < DAQD_PILOT_CONSUMERS; i++) {
            consumer_figures(&f->c[i], &c[i].h[w], c[i].receipts[w], c[i].stalls[w]);
            hist_merge(&kind_h[f->pool][i], &c[i].h[w]);
            k->c[i].receipts += c[i].receipts[w];
            k->c[i].stalls += c[i].stalls[w];
        }
        k->seconds += f->seconds;
        k->frames += f->frames;
        k->lost += f->lost;
        k->alloc_dropped += f->alloc_dropped;
        allocs[f->pool] += f->frames;
        hits[f->pool] += (uint64_t)llround(f->hit_pct * (double)f->frames / 100.0);
    }
    for (int p = 0; p < 2; p++) {
        daqd_pilot_figures *k = kinds[p];
        k->fps = k->seconds > 0 ? (double)k->frames / k->seconds : 0;
        k->hit_pct = allocs[p] ? 100.0 * (double)hits[p] / (double)allocs[p] : 0;
        for (int i = 0; i < DAQD_PILOT_CONSUMERS; i++)
            consumer_figures(&k->c[i], &kind_h[p][i], k->c[i].receipts, k->c[i].stalls);
    }
    for (int i = 0; i < DAQD_PILOT_CONSUMERS; i++)
        r->disconnects += c[i].disconnects;
    r->pair_ratio_median = pair_ratio_median(r);
}

int daqd_pilot_run(daq_device *d, const daqd_pilot_opts *o, bool tty, daqd_pilot_result *out,
                   char *err, size_t err_len)
{
    /* Pool against heap: a build without the pool would compare the heap
     * with itself and call it a pass. */
    if (!daq_acq_frame_pool_built())
        return daq_err(err, err_len, "pilot: %s: nothing to compare", DAQ_ACQ_POOL_OFF_BUILD);
    daq_acq *a = daq_device_acq(d);
    daq_bus *bus = daq_device_bus(d);
    memset(out, 0, sizeof *out);
    static consumer c[DAQD_PILOT_CONSUMERS]; /* ~1.2 MiB of histograms each (bss) */
    memset(c, 0, sizeof c);
    atomic_int window = -1;
    atomic_bool ending = false;
    int started = 0;
    for (; started < DAQD_PILOT_CONSUMERS; started++)
        if (consumer_start(&c[started], started, bus, &window, &ending, o->stall_ms, err,
                           err_len) != 0)
            break;
    bool was_pool = daq_acq_use_pool(a);
    uint64_t dropped = 0;
    if (started < DAQD_PILOT_CONSUMERS || daq_acq_start(a, 0, err, err_len) < 0) {
        for (int i = 0; i < started; i++)
            consumer_stop(&c[i], bus, true, &dropped);
        return -1;
    }
    daq_acq_stats s0, s1;
    bool streaming = true;
    for (unsigned w = 0; w < o->windows && streaming; w++) {
        bool pool = window_pool(w);
        if (w == 0 || pool != window_pool(w - 1)) {
            daq_acq_set_use_pool(a, pool);
            streaming = run_until(a, daq_now_ns() + (uint64_t)o->settle_ms * 1000000, tty, w, o);
        }
        daq_acq_stats_snapshot(a, &s0);
        uint64_t t0 = daq_now_ns();
        atomic_store(&window, (int)w);
        streaming = streaming && run_until(a, t0 + (uint64_t)o->window_ms * 1000000, tty, w, o);
        atomic_store(&window, -1);
        daq_acq_stats_snapshot(a, &s1);
        out->window[w].pool = pool;
        window_figures(&out->window[w], &s0, &s1, (double)(daq_now_ns() - t0) / 1e9);
        out->n_windows = w + 1;
    }
    if (tty)
        fputc('\n', stderr);
    out->stream_error = !streaming;
    /* The lossless consumer's drops up to the end of the last window: the
     * stop itself interrupts a publish waiting on its full queue (one drop
     * of a throughput-bound stream that is no loss of the run). */
    daq_sub_stats st;
    daq_sub_stats_snapshot(c[DAQD_PILOT_STATS].sub, &st);
    out->consumer_dropped = st.dropped;
    atomic_store(&ending, true);
    daq_acq_stop(a);
    for (int i = 0; i < DAQD_PILOT_CONSUMERS; i++)
        consumer_stop(&c[i], bus, false, &dropped);
    daq_acq_stats_snapshot(a, &s1);
    daq_acq_set_use_pool(a, was_pool);
    out->lost = s1.lost;
    out->alloc_dropped = s1.alloc_dropped;
    summarize(out, c);
    out->on.consumer_dropped = out->off.consumer_dropped = 0; /* not attributable per window */
    return 0;
}
