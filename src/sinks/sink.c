/* sinks/sink.c - the built-in consumers: one thread per sink pulling from
 * its subscription.  The thread ends when the subscription is closed; end
 * of stream is just a pause between streams.
 *
 * Test only: DAQ_TEST_LEAK_FRAMES=N (1..100000, read at each sink's start)
 * makes "stats" sinks a leaking consumer, the rollback plan's "RSS growing
 * without bound": each keeps its reference on the first N frames it gets
 * of a stream, so a small pool runs dry and every further frame lives on
 * the heap, held.  They are let go at the end of the stream (so the
 * symptom can be seen clearing) and at the sink's stop; one WARN per
 * process says the knob is set.
 */
#define _GNU_SOURCE
#include "daq/sink.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "daq/log.h"
#include "util/err.h"

#define LEAK_MAX 100000u

struct daq_sink {
    daq_bus *bus;
    daq_sub *sub;
    daq_sink_kind kind;
    pthread_t thread;
    pthread_mutex_t mu; /* guards st */
    daq_sink_stats st;
    /* DAQ_TEST_LEAK_FRAMES: the thread's alone */
    size_t leak_max, n_leaked;
    daq_frame **leaked; /* owned, leak_max entries, each an owned reference */
};

const char *const daq_sink_kind_names[] = {
    [DAQ_SINK_NULL] = "null",
    [DAQ_SINK_STATS] = "stats",
    NULL,
};

/* Mean, min and max over every 16th pixel of every 16th row. */
static void frame_stats(const daq_frame *f, double *mean, double *mn, double *mx)
{
    const daq_frame_meta *m = daq_frame_meta_get(f);
    const unsigned char *px = daq_frame_cdata(f);
    unsigned bpp = m->bit_depth > 8 ? 2 : 1;
    size_t stride = m->stride_bytes ? m->stride_bytes : (size_t)m->width * bpp;
    double sum = 0, lo = 1e30, hi = -1e30;
    uint64_t n = 0;
    for (uint32_t y = 0; y < m->height; y += 16)
        for (uint32_t x = 0; x < m->width; x += 16) {
            const unsigned char *p = px + (size_t)y * stride + (size_t)x * bpp;
            double v = bpp == 2 ? (double)(p[0] | p[1] << 8) : (double)p[0];
            sum += v;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
            n++;
        }
    *mean = n ? sum / (double)n : 0;
    *mn = n ? lo : 0;
    *mx = n ? hi : 0;
}

/* The leak's size from the environment; 0 when off.  The WARN comes once. */
static size_t leak_frames(void)
{
    static atomic_bool warned;
    const char *v = getenv("DAQ_TEST_LEAK_FRAMES");
    if (!v || !*v)
        return 0;
    char *end;
    unsigned long n = strtoul(v, &end, 10);
    if (*end || n == 0)
        return 0;
    n = n < LEAK_MAX ? n : LEAK_MAX;
    if (!atomic_exchange(&warned, true))
        DAQ_LOG(DAQ_LOG_WARN, "daq::sink", "test only: stats consumers leak frames",
                DAQ_F_STR("env", "DAQ_TEST_LEAK_FRAMES"), DAQ_F_U64("frames", n));
    return n;
}

static void leak_release(daq_sink *s)
{
    for (size_t i = 0; i < s->n_leaked; i++)
        daq_frame_unref(s->leaked[i]);
    s->n_leaked = 0;
}

/* Keeps f (true) while the leak has room; the reference is the sink's. */
static bool leak_keep(daq_sink *s, daq_frame *f)
{
    if (s->n_leaked >= s->leak_max)
        return false;
    s->leaked[s->n_leaked++] = f;
    return true;
}

static void *sink_main(void *arg)
{
    daq_sink *s = arg;
    daq_frame *f;
    int r;
    while ((r = daq_sub_next(s->sub, -1, &f)) != DAQ_SUB_CLOSED) {
        if (r == DAQ_SUB_EOS)
            leak_release(s);
        if (r != DAQ_SUB_FRAME)
            continue;
        double mean = 0, mn = 0, mx = 0;
        if (s->kind == DAQ_SINK_STATS)
            frame_stats(f, &mean, &mn, &mx);
        if (!leak_keep(s, f))
            daq_frame_unref(f);
        pthread_mutex_lock(&s->mu);
        s->st.frames++;
        s->st.last_mean = mean;
        s->st.last_min = mn;
        s->st.last_max = mx;
        pthread_mutex_unlock(&s->mu);
    }
    leak_release(s);
    return NULL;
}

daq_sink *daq_sink_start(daq_bus *bus, daq_sink_kind kind, const daq_sub_config *cfg, char *err,
                         size_t err_len)
{
    daq_sink *s = calloc(1, sizeof *s);
    if (!s) {
        daq_err(err, err_len, "out of memory");
        return NULL;
    }
    s->bus = bus;
    s->kind = kind;
    size_t leak = kind == DAQ_SINK_STATS ? leak_frames() : 0;
    if (leak && (s->leaked = calloc(leak, sizeof *s->leaked)) != NULL)
        s->leak_max = leak;
    pthread_mutex_init(&s->mu, NULL);
    s->sub = daq_bus_subscribe(bus, cfg, err, err_len);
    if (s->sub && pthread_create(&s->thread, NULL, sink_main, s) == 0)
        return s;
    if (s->sub) {
        daq_err(err, err_len, "cannot start the consumer thread");
        daq_bus_unsubscribe(bus, s->sub);
    }
    pthread_mutex_destroy(&s->mu);
    free(s->leaked);
    free(s);
    return NULL;
}

void daq_sink_stop(daq_sink *s)
{
    if (!s)
        return;
    daq_sub_close(s->sub);
    pthread_join(s->thread, NULL);
    daq_bus_unsubscribe(s->bus, s->sub);
    pthread_mutex_destroy(&s->mu);
    free(s->leaked);
    free(s);
}

void daq_sink_stats_snapshot(const daq_sink *s, daq_sink_stats *out)
{
    daq_sink *m = (daq_sink *)s;
    pthread_mutex_lock(&m->mu);
    *out = s->st;
    pthread_mutex_unlock(&m->mu);
}
