/* examples/pool_demo.c - the pool path in one screen: a producer copies
 * 8 MiB frames into pool slots at a fixed rate and shares each with two
 * consumer threads; the last consumer to let go returns the slot.  Three
 * phases show the normal path, the rollback lever (use_pool off) and
 * exhaustion with heap fallback, each followed by the pool's metrics. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daq/pool.h"

#define FRAME  (8u << 20)
#define QDEPTH 4

/* A consumer: a small bounded queue and a thread that holds each frame for
 * hold_ms before releasing it. */
struct consumer {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    daq_frame *q[QDEPTH];
    unsigned head, len;
    bool done;
    unsigned hold_ms;
    unsigned long seen, skipped;
    pthread_t thread;
};

static void *consume(void *arg)
{
    struct consumer *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (c->len == 0 && !c->done)
            pthread_cond_wait(&c->cv, &c->mu);
        if (c->len == 0)
            break;
        daq_frame *f = c->q[c->head];
        c->head = (c->head + 1) % QDEPTH;
        c->len--;
        pthread_mutex_unlock(&c->mu);
        if (c->hold_ms)
            usleep(c->hold_ms * 1000);
        c->seen++;
        daq_frame_unref(f); /* the consumer's reference */
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* Gives c its own reference to f, or skips f if c's queue is full. */
static void offer(struct consumer *c, daq_frame *f)
{
    pthread_mutex_lock(&c->mu);
    if (c->len == QDEPTH) {
        c->skipped++;
    } else {
        c->q[(c->head + c->len++) % QDEPTH] = daq_frame_ref(f);
        pthread_cond_signal(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
}

static void sleep_until(struct timespec *t, long period_ns)
{
    t->tv_nsec += period_ns;
    while (t->tv_nsec >= 1000000000) {
        t->tv_nsec -= 1000000000;
        t->tv_sec++;
    }
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, t, NULL);
}

static void produce(daq_pool *p, const unsigned char *src, unsigned frames, unsigned fps,
                    struct consumer *cs, unsigned ncs)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    for (unsigned i = 0; i < frames; i++) {
        daq_frame *f = daq_pool_alloc(p, NULL);
        if (f) {
            memcpy(daq_frame_data(f), src, FRAME);
            daq_frame_meta_mut(f)->hw_frame_number = i + 1;
            for (unsigned k = 0; k < ncs; k++)
                offer(&cs[k], f);
            daq_frame_unref(f); /* the producer's reference */
        }
        sleep_until(&t, 1000000000L / fps);
    }
}

static void report(const char *phase, daq_pool *p)
{
    daq_pool_metrics m;
    daq_pool_metrics_snapshot(p, &m);
    printf("\n== %s\n", phase);
    printf("  use_pool=%s  hit_rate=%.1f%%  allocs=%lu hits=%lu misses=%lu disabled=%lu\n",
           m.use_pool ? "true" : "false", 100.0 * m.hit_rate, (unsigned long)m.allocs,
           (unsigned long)m.hits, (unsigned long)m.misses, (unsigned long)m.disabled);
    printf("  heap allocations: exhausted=%lu disabled=%lu  drops=%lu  returns=%lu\n",
           (unsigned long)m.heap_exhausted, (unsigned long)m.heap_disabled, (unsigned long)m.drops,
           (unsigned long)m.returns);
    printf("  slots: %u  in_use=%u  high_water=%u  low_water_free=%u\n", m.slot_count, m.in_use,
           m.high_water, m.low_water_free);
    printf("  alloc latency p50: pool %lu ns (n=%lu), heap %lu ns (n=%lu)\n",
           (unsigned long)daq_latency_quantile_ns(&m.alloc_pool, 0.5),
           (unsigned long)m.alloc_pool.count,
           (unsigned long)daq_latency_quantile_ns(&m.alloc_heap, 0.5),
           (unsigned long)m.alloc_heap.count);
}

static void run_phase(const char *name, daq_pool *p, const unsigned char *src, unsigned frames,
                      unsigned hold_ms)
{
    struct consumer cs[2];
    for (int k = 0; k < 2; k++) {
        memset(&cs[k], 0, sizeof cs[k]);
        pthread_mutex_init(&cs[k].mu, NULL);
        pthread_cond_init(&cs[k].cv, NULL);
        cs[k].hold_ms = k == 0 ? hold_ms : 1;
        pthread_create(&cs[k].thread, NULL, consume, &cs[k]);
    }
    daq_pool_metrics_reset(p);
    produce(p, src, frames, 100, cs, 2);
    for (int k = 0; k < 2; k++) {
        pthread_mutex_lock(&cs[k].mu);
        cs[k].done = true;
        pthread_cond_signal(&cs[k].cv);
        pthread_mutex_unlock(&cs[k].mu);
        pthread_join(cs[k].thread, NULL);
        pthread_mutex_destroy(&cs[k].mu);
        pthread_cond_destroy(&cs[k].cv);
    }
    report(name, p);
    printf("  consumers: a saw %lu (skipped %lu), b saw %lu (skipped %lu)\n", cs[0].seen,
           cs[0].skipped, cs[1].seen, cs[1].skipped);
}

int main(void)
{
    unsigned char *src = malloc(FRAME);
    for (size_t i = 0; i < FRAME; i++)
        src[i] = (unsigned char)(i * 7u);

    /* 2 consumers x (queue 4 + 1 held) + 1 in flight + 1 headroom. */
    daq_pool_config cfg;
    daq_pool_config_init(&cfg);
    cfg.name = "demo";
    cfg.slot_bytes = FRAME;
    cfg.slot_count = 2 * (QDEPTH + 1) + 2;
    char err[256];
    daq_pool *p = daq_pool_create(&cfg, err, sizeof err);
    if (!p) {
        fprintf(stderr, "daq-demo: %s\n", err);
        return 1;
    }
    printf("daq-demo: %u slots x 8 MiB, 100 FPS, two consumers", cfg.slot_count);
    printf(" (DAQ_USE_POOL/PVCAM_USE_POOL=0 switch the pool off)\n");

    run_phase("1. pool path: 200 frames", p, src, 200, 5);
    daq_pool_set_use_pool(p, false);
    run_phase("2. use_pool=false (the rollback lever): 50 frames", p, src, 50, 5);
    daq_pool_set_use_pool(p, true);
    /* A consumer holding each frame 45 ms backs up its queue; with a pool
     * sized for 1 consumer, the producer falls back to the heap. */
    daq_pool_destroy(p);
    cfg.slot_count = QDEPTH;
    p = daq_pool_create(&cfg, err, sizeof err);
    run_phase("3. undersized pool, slow consumer: 100 frames, heap fallback", p, src, 100, 45);
    daq_pool_destroy(p);
    free(src);
    return 0;
}
