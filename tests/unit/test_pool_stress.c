/* Concurrency tests: many threads allocating and releasing on a small pool,
 * with exact counters afterwards.  They also run under TSan. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "daq/pool.h"
#include "test_main.h"

#define THREADS 16
#define SLOTS   8

static unsigned iterations(void)
{
    /* TSan runs ~10x slower; the figure is 10 000 per thread. */
    const char *e = getenv("DAQ_STRESS_ITERS");
    return e ? (unsigned)atoi(e) : 10000;
}

struct storm {
    daq_pool *p;
    unsigned id;
    unsigned iters;
    _Atomic bool *stop;
    unsigned corrupt;
};

/* Each thread stamps the frame it owns and checks the stamp survived a
 * yield: two owners of one slot would overwrite each other. */
static void *storm_thread(void *arg)
{
    struct storm *s = arg;
    for (unsigned i = 0; i < s->iters; i++) {
        daq_frame *f = daq_pool_alloc(s->p, NULL);
        if (!f)
            continue;
        uint64_t stamp = ((uint64_t)s->id << 32) | i;
        uint64_t *d = daq_frame_data(f);
        d[0] = stamp;
        d[7] = ~stamp;
        if ((i & 15) == 0)
            sched_yield();
        if (d[0] != stamp || d[7] != ~stamp)
            s->corrupt++;
        daq_frame_unref(f);
    }
    return NULL;
}

static void *flipper(void *arg)
{
    struct storm *s = arg;
    bool on = false;
    while (!atomic_load(s->stop)) {
        daq_pool_set_use_pool(s->p, on);
        on = !on;
        usleep(50);
    }
    daq_pool_set_use_pool(s->p, true);
    return NULL;
}

static daq_pool *storm_pool(daq_pool_policy policy, uint32_t wait_ms)
{
    daq_pool_config c;
    daq_pool_config_init(&c);
    c.name = "storm";
    c.slot_bytes = 4096;
    c.slot_count = SLOTS;
    c.policy = policy;
    c.wait_timeout_ms = wait_ms;
    c.wait_fallback = DAQ_POOL_POLICY_DROP;
    return daq_pool_create(&c, NULL, 0);
}

static void run_storm(daq_pool *p, bool flip, daq_pool_metrics *m)
{
    pthread_t t[THREADS], ft;
    struct storm s[THREADS];
    _Atomic bool stop = false;
    struct storm fs = {.p = p, .stop = &stop};
    if (flip)
        pthread_create(&ft, NULL, flipper, &fs);
    for (unsigned i = 0; i < THREADS; i++) {
        s[i] = (struct storm){.p = p, .id = i, .iters = iterations(), .stop = &stop};
        pthread_create(&t[i], NULL, storm_thread, &s[i]);
    }
    unsigned corrupt = 0;
    for (unsigned i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        corrupt += s[i].corrupt;
    }
    atomic_store(&stop, true);
    if (flip)
        pthread_join(ft, NULL);
    assert_int_equal(corrupt, 0);
    daq_pool_metrics_snapshot(p, m);
    printf("allocs=%lu hits=%lu misses=%lu disabled=%lu returns=%lu high_water=%u waits=%lu\n",
           (unsigned long)m->allocs, (unsigned long)m->hits, (unsigned long)m->misses,
           (unsigned long)m->disabled, (unsigned long)m->returns, m->high_water,
           (unsigned long)m->waits);
}

static void storm_exact_counters(void **state)
{
    daq_pool *p = storm_pool(DAQ_POOL_POLICY_HEAP, 0);
    daq_pool_metrics m;
    run_storm(p, false, &m);
    uint64_t total = (uint64_t)THREADS * iterations();
    assert_int_equal(m.allocs, total);
    assert_int_equal(m.hits + m.misses, total);
    assert_int_equal(m.disabled, 0);
    assert_int_equal(m.heap_exhausted, m.misses);
    assert_int_equal(m.returns, total);
    assert_int_equal(m.slot_returns, m.hits);
    assert_int_equal(m.heap_frees, m.misses);
    assert_int_equal(m.in_use, 0);
    assert_int_equal(m.heap_in_use, 0);
    assert_true(m.high_water <= SLOTS);
    assert_true(m.high_water >= 1);
    assert_int_equal(m.alloc_pool.count + m.alloc_heap.count, total);
    /* every slot is home: all SLOTS can be taken again, and no more */
    daq_frame *f[SLOTS];
    for (int i = 0; i < SLOTS; i++)
        assert_non_null(f[i] = daq_pool_try_acquire(p));
    assert_null(daq_pool_try_acquire(p));
    for (int i = 0; i < SLOTS; i++)
        daq_frame_unref(f[i]);
    daq_pool_destroy(p);
}

static void storm_with_use_pool_flips(void **state)
{
    daq_pool *p = storm_pool(DAQ_POOL_POLICY_HEAP, 0);
    daq_pool_metrics m;
    run_storm(p, true, &m);
    uint64_t total = (uint64_t)THREADS * iterations();
    assert_int_equal(m.hits + m.misses + m.disabled, total);
    assert_int_equal(m.heap_disabled, m.disabled);
    assert_int_equal(m.heap_exhausted, m.misses);
    assert_int_equal(m.returns, total);
    assert_int_equal(m.in_use, 0);
    assert_int_equal(m.heap_in_use, 0);
    assert_true(m.high_water <= SLOTS);
    assert_true(m.disabled > 0); /* the flips did land mid-storm */
    assert_true(m.hits > 0);
    daq_pool_destroy(p);
}

static void storm_wait_policy_no_lost_wakeup(void **state)
{
    /* 16 threads on 8 slots all waiting their turn: a lost wake-up would
     * surface as a 5 s timeout, i.e. a miss. */
    daq_pool *p = storm_pool(DAQ_POOL_POLICY_WAIT, 5000);
    daq_pool_metrics m;
    run_storm(p, false, &m);
    uint64_t total = (uint64_t)THREADS * iterations();
    assert_int_equal(m.hits, total);
    assert_int_equal(m.misses, 0);
    assert_int_equal(m.wait_timeouts, 0);
    assert_int_equal(m.returns, total);
    assert_int_equal(m.in_use, 0);
    assert_true(m.high_water <= SLOTS);
    daq_pool_destroy(p);
}

/* Frames released by another thread than the one that made them, with two
 * references each: every frame goes through a shared mailbox. */
struct swap_ctx {
    daq_pool *p;
    _Atomic(daq_frame *) *box;
    unsigned iters;
    _Atomic unsigned bad;
};

static void *swapper(void *arg)
{
    struct swap_ctx *c = arg;
    for (unsigned i = 0; i < c->iters; i++) {
        daq_frame *f = daq_pool_alloc(c->p, NULL);
        daq_frame_meta_mut(f)->hw_frame_number = i + 1;
        daq_frame *other = atomic_exchange(&c->box[i % 4], daq_frame_ref(f));
        daq_frame_unref(f);
        if (other) {
            if (daq_frame_meta_get(other)->hw_frame_number == 0)
                atomic_fetch_add(&c->bad, 1); /* cmocka asserts only on the main thread */
            daq_frame_unref(other);
        }
    }
    return NULL;
}

static void cross_thread_release(void **state)
{
    daq_pool *p = storm_pool(DAQ_POOL_POLICY_HEAP, 0);
    _Atomic(daq_frame *) box[4];
    for (int i = 0; i < 4; i++)
        atomic_init(&box[i], NULL);
    pthread_t t[4];
    struct swap_ctx c = {p, box, iterations(), 0};
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, swapper, &c);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 4; i++)
        daq_frame_unref(atomic_exchange(&box[i], NULL));
    assert_int_equal(atomic_load(&c.bad), 0);
    daq_pool_metrics m;
    daq_pool_metrics_snapshot(p, &m);
    assert_int_equal(m.allocs, 4ull * iterations());
    assert_int_equal(m.returns, m.allocs);
    assert_int_equal(m.in_use, 0);
    assert_int_equal(m.heap_in_use, 0);
    daq_pool_destroy(p);
}

struct holder {
    daq_frame *f[4];
    pthread_barrier_t *go;
};

static void *release_after_barrier(void *arg)
{
    struct holder *h = arg;
    pthread_barrier_wait(h->go);
    for (int i = 0; i < 4; i++)
        daq_frame_unref(h->f[i]);
    return NULL;
}

static void destroy_races_releases(void **state)
{
    /* The owner destroys the pool while four threads return its frames:
     * exactly one party unmaps it, nobody touches it afterwards. */
    for (int round = 0; round < 200; round++) {
        daq_pool_config c;
        daq_pool_config_init(&c);
        c.slot_bytes = 4096;
        c.slot_count = 12;
        daq_pool *p = daq_pool_create(&c, NULL, 0);
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, 5);
        struct holder h[4];
        pthread_t t[4];
        for (int i = 0; i < 4; i++) {
            for (int k = 0; k < 4; k++) {
                if (k == 3)
                    daq_pool_set_use_pool(p, false); /* one heap frame each */
                h[i].f[k] = daq_pool_alloc(p, NULL);
                daq_pool_set_use_pool(p, true);
            }
            h[i].go = &go;
            pthread_create(&t[i], NULL, release_after_barrier, &h[i]);
        }
        pthread_barrier_wait(&go);
        daq_pool_destroy(p);
        for (int i = 0; i < 4; i++)
            pthread_join(t[i], NULL);
        pthread_barrier_destroy(&go);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(storm_exact_counters),
    cmocka_unit_test(storm_with_use_pool_flips),
    cmocka_unit_test(storm_wait_policy_no_lost_wakeup),
    cmocka_unit_test(cross_thread_release),
    cmocka_unit_test(destroy_races_releases),
};

DAQ_TEST_MAIN("pool_stress", tests)
