/* Unit tests of the pool and frame: recycling order, exhaustion, each
 * policy, waiting and waking, lifetime, the toggle, metrics. */
#define _GNU_SOURCE
#define _GNU_SOURCE /* F_GET_SEALS */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "daq/pool.h"
#include "test_main.h"

#define SLOT 4096

static daq_pool *make_pool(uint32_t slots, daq_pool_policy policy)
{
    daq_pool_config c;
    daq_pool_config_init(&c);
    c.name = "test";
    c.slot_bytes = SLOT;
    c.slot_count = slots;
    c.policy = policy;
    c.wait_timeout_ms = 50;
    char err[256] = "";
    daq_pool *p = daq_pool_create(&c, err, sizeof err);
    if (!p)
        fail_msg("create: %s", err);
    return p;
}

static void lifo_recycle(void **state)
{
    daq_pool *p = make_pool(4, DAQ_POOL_POLICY_HEAP);
    daq_frame *a = daq_pool_try_acquire(p);
    daq_frame *b = daq_pool_try_acquire(p);
    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    assert_int_equal(daq_frame_refcount(a), 1);
    void *a_data = daq_frame_data(a);
    void *b_data = daq_frame_data(b);
    daq_frame_unref(a);
    daq_frame_unref(b);
    /* Last in, first out: b came home last, so it goes out first, then a. */
    daq_frame *c = daq_pool_try_acquire(p);
    daq_frame *d = daq_pool_try_acquire(p);
    assert_ptr_equal(c, b);
    assert_ptr_equal(daq_frame_data(c), b_data);
    assert_ptr_equal(d, a);
    assert_ptr_equal(daq_frame_data(d), a_data);
    /* The same slot again and again while one frame at a time is used. */
    daq_frame_unref(d);
    for (int i = 0; i < 100; i++) {
        daq_frame *e = daq_pool_try_acquire(p);
        assert_ptr_equal(e, a);
        daq_frame_unref(e);
    }
    daq_frame_unref(c);
    daq_pool_destroy(p);
}

static void slots_distinct_and_aligned(void **state)
{
    daq_pool_config c;
    daq_pool_config_init(&c);
    c.slot_bytes = 1000; /* not a multiple of the alignment */
    c.slot_count = 8;
    c.alignment = 256;
    daq_pool *p = daq_pool_create(&c, NULL, 0);
    assert_non_null(p);
    daq_frame *f[8];
    for (int i = 0; i < 8; i++) {
        f[i] = daq_pool_try_acquire(p);
        assert_non_null(f[i]);
        assert_int_equal((uintptr_t)daq_frame_data(f[i]) % 256, 0);
        assert_int_equal(daq_frame_capacity(f[i]), 1000);
        assert_true(daq_frame_used_pool(f[i]));
        memset(daq_frame_data(f[i]), i + 1, 1000);
        assert_ptr_equal(daq_pool_frame_of(p, daq_frame_data(f[i])), f[i]);
    }
    for (int i = 0; i < 8; i++) {
        const unsigned char *d = daq_frame_cdata(f[i]);
        for (int k = 0; k < 1000; k++)
            assert_int_equal(d[k], i + 1); /* no slot overlaps another */
        daq_frame_unref(f[i]);
    }
    daq_pool_destroy(p);
}

static void exhaustion_try_acquire_null(void **state)
{
    daq_pool *p = make_pool(3, DAQ_POOL_POLICY_HEAP);
    daq_frame *f[3];
    for (int i = 0; i < 3; i++)
        assert_non_null(f[i] = daq_pool_try_acquire(p));
    assert_null(daq_pool_try_acquire(p));
    assert_null(daq_pool_acquire(p, 0));
    daq_pool_metrics m;
    daq_pool_metrics_snapshot(p, &m);
    assert_int_equal(m.in_use, 3);
    assert_int_equal(m.high_water, 3);
    assert_int_equal(m.low_water_free, 0);
    /* Raw acquires are not frame-path requests. */
    assert_int_equal(m.allocs, 0);
    daq_frame_unref(f[1]);
    daq_frame *g = daq_pool_try_acquire(p);
    assert_ptr_equal(g, f[1]);
    daq_frame_unref(g);
    daq_frame_unref(f[0]);
    daq_frame_unref(f[2]);
    daq_pool_metrics_snapshot(p, &m);
    assert_int_equal(m.in_use, 0);
    assert_int_equal(m.slot_returns, 4);
    daq_pool_destroy(p);
}

static void policy_heap_counts_miss(void **state)
{
    daq_pool *p = make_pool(2, DAQ_POOL_POLICY_HEAP);
    daq_alloc_outcome o;
    daq_frame *a = daq_pool_alloc(p, &o);
    assert_int_equal(o, DAQ_ALLOC_POOL);
    daq_frame *b = daq_pool_alloc(p, &o);
    assert_int_equal(o, DAQ_ALLOC_POOL);
    daq_frame *h = daq_pool_alloc(p, &o);
    assert_non_null(h);
    assert_int_equal(o, DAQ_ALLOC_HEAP_EXHAUSTED);
    assert_false(daq_frame_used_pool(h));
    assert_int_equal(daq_frame_slot(h), -1);
    assert_int_equal(daq_frame_capacity(h), SLOT);
    assert_int_equal((uintptr_t)daq_frame_data(h) % 4096, 0);
    memset(daq_frame_data(h), 0xab, SLOT); /* the whole capacity is writable */

    daq_pool_metrics m;
    daq_pool_metrics_snapshot(p, &m);
    assert_int_equal(m.allocs, 3);
    assert_int_equal(m.hits, 2);
    assert_int_equal(m.misses, 1);
    assert_int_equal(m.heap_exhausted, 1);
    assert_int_equal(m.heap_disabled, 0);
    assert_int_equal(m.drops, 0);
    assert_int_equal(m.heap_in_use, 1);
    assert_int_equal(m.alloc_pool.count, 2);
    assert_int_equal(m.alloc_heap.count, 1);
    assert_true(fabs(m.hit_rate - 2.0 / 3.0) < 1e-9);

    daq_frame_unref(h);
    daq_frame_unref(a);
    daq_frame_unref(b);
    daq_pool_metrics_snapshot(p, &m);
    assert_int_equal(m.returns, 3);
    assert_int_equal(m.heap_frees, 1);
    assert_int_equal(m.slot_returns, 2);
    assert_int_equal(m.heap_in_use, 0);
    assert_int_equal(m.in_use, 0);
    daq_pool_destroy(p);
}

static void policy_drop_counts(void **state)
{
    daq_pool *p = make_pool(1, DAQ_POOL_POLICY_DROP);
    daq_alloc_outcome o;
    daq_frame *a = daq_pool_alloc(p, &o);
    assert_non_null(a);
    for (int i = 0; i < 5; i++) {
        assert_null(daq_pool_alloc(p, &o));
        assert_int_equal(o, DAQ_ALLOC_DROPPED);
    }
    daq_pool_metrics m;
    daq_pool_metrics_snapshot(p, &m);
    assert_int_equal(m.hits, 1);
    assert_int_equal(m.misses, 5);
    assert_int_equal(m.drops, 5);
    assert_int_equal(m.heap_exhausted, 0);
    assert_int_equal(m.heap_in_use, 0);
    daq_frame_unref(a);
    daq_pool_destroy(p);
}

struct releaser {
    daq_frame *f;
    unsigned delay_ms;
};

static void *release_later(void *arg)
{
    struct releaser *r = arg;
    usleep(r->delay_ms * 1000);
    daq_frame_unref(r->f);
    return NULL;
}

static void policy_wait_woken_by_release(void **state)
{
    daq_pool *p = make_pool(1, DAQ_POOL_POLICY_WAIT);
    assert_int_equal(daq_pool_set_policy(p, DAQ_POOL_POLICY_WAIT, 5000, DAQ_POOL_POLICY_DROP), 0);
    daq_frame *a = daq_pool_alloc(p, NULL);
    assert_non_null(a);
    struct releaser r = {a, 30};
    pthread_t t;
    pthread_create(&t, NULL, release_later, &r);
    uint64_t t0 = daq_test_now_ns();
    daq_alloc_outcome o;
    daq_frame *b = daq_pool_alloc(p, &o);
    uint64_t waited = daq_test_now_ns() - t0;
    pthread_join(t, NULL);
    assert_ptr_equal(b, a); /* the released slot itself */
    assert_int_equal(o, DAQ_ALLOC_POOL_WAITED);
    /* Woken by the release, long before the 5 s timeout. */
    assert_true(waited >= 20 * 1000000ull);
    assert_true(waited < 2000 * 1000000ull);
    daq_pool_metrics m;
    daq_pool_metrics_snapshot(p, &m);
    assert_int_equal(m.hits, 2);
    assert_int_equal(m.waits, 1);
    assert_int_equal(m.wait_timeouts, 0);
    assert_int_equal(m.misses, 0);
    daq_frame_unref(b);
    daq_pool_destroy(p);
}

static void policy_wait_times_out(void **state)
{
    daq_pool *p = make_pool(1, DAQ_POOL_POLICY_WAIT);
    daq_frame *a = daq_pool_alloc(p, NULL);
    /* fallback heap (the default) */
    uint64_t t0 = daq_test_now_ns();
    daq_alloc_outcome o;
    daq_frame *h = daq_pool_alloc(p, &o);
    uint64_t waited = daq_test_now_ns() - t0;
    assert_non_null(h);
    assert_int_equal(o, DAQ_ALLOC_HEAP_EXHAUSTED);
    assert_true(waited >= 50 * 1000000ull);
    /* fallback drop */
    assert_int_equal(daq_pool_set_policy(p, DAQ_POOL_POLICY_WAIT, 20, DAQ_POOL_POLICY_DROP), 0);
    assert_null(daq_pool_alloc(p, &o));
    assert_int_equal(o, DAQ_ALLOC_DROPPED);
    daq_pool_metrics m;
    daq_pool_metrics_snapshot(p, &m);
    assert_int_equal(m.waits, 2);
    assert_int_equal(m.wait_timeouts, 2);
    assert_int_equal(m.misses, 2);
    assert_int_equal(m.heap_exhausted, 1);
    assert_int_equal(m.drops, 1);
    /* An invalid fallback is refused and changes nothing. */
    assert_int_equal(daq_pool_set_policy(p, DAQ_POOL_POLICY_HEAP, 0, DAQ_POOL_POLICY_WAIT), -1);
    uint32_t ms;
    daq_pool_policy fb;
    assert_int_equal(daq_pool_policy_get(p, &ms, &fb), DAQ_POOL_POLICY_WAIT);
    assert_int_equal(ms, 20);
    assert_int_equal(fb, DAQ_POOL_POLICY_DROP);
    daq_frame_unref(h);
    daq_frame_unref(a);
    daq_pool_destroy(p);
}

struct waiter {
    daq_pool *p;
    daq_frame *got;
    uint64_t ns;
};

static void *wait_forever(void *arg)
{
    struct waiter *w = arg;
    uint64_t t0 = daq_test_now_ns();
    w->got = daq_pool_acquire(w->p, -1);
    w->ns = daq_test_now_ns() - t0;
    return NULL;
}

static void wake_test(bool permanent)
{
    daq_pool *p = make_pool(1, DAQ_POOL_POLICY_HEAP);
    daq_frame *a = daq_pool_try_acquire(p);
    struct waiter w[3];
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (struct waiter){p, (daq_frame *)1, 0};
        pthread_create(&t[i], NULL, wait_forever, &w[i]);
    }
    usleep(50 * 1000);
    if (permanent)
        daq_pool_shutdown(p);
    else
        daq_pool_flush(p);
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        assert_null(w[i].got);
        assert_true(w[i].ns < 2000 * 1000000ull);
    }
    daq_frame_unref(a);
    /* After a flush waiting works again; after shutdown it does not wait. */
    daq_frame *b = daq_pool_try_acquire(p);
    assert_non_null(b);
    uint64_t t0 = daq_test_now_ns();
    assert_null(daq_pool_acquire(p, permanent ? 5000000000 : 30000000));
    uint64_t waited = daq_test_now_ns() - t0;
    if (permanent)
        assert_true(waited < 1000000000ull);
    else
        assert_true(waited >= 30000000ull);
    daq_frame_unref(b);
    daq_pool_destroy(p);
}

static void shutdown_wakes_waiters(void **state)
{
    wake_test(true);
}

static void flush_wakes_waiters(void **state)
{
    wake_test(false);
}

static void acquire_timeout_then_success(void **state)
{
    daq_pool *p = make_pool(1, DAQ_POOL_POLICY_HEAP);
    daq_frame *a = daq_pool_try_acquire(p);
    uint64_t t0 = daq_test_now_ns();
    assert_null(daq_pool_acquire(p, 40 * 1000000));
    assert_true(daq_test_now_ns() - t0 >= 40 * 1000000ull);
    struct releaser r = {a, 20};
    pthread_t t;
    pthread_create(&t, NULL, release_later, &r);
    daq_frame *b = daq_pool_acquire(p, -1);
    pthread_join(t, NULL);
    assert_ptr_equal(b, a);
    daq_frame_unref(b);
    daq_pool_destroy(p);
}

static void destroy_with_frames_outstanding(void **state)
{
    daq_pool *p = make_pool(4, DAQ_POOL_POLICY_HEAP);
    daq_frame *a = daq_pool_alloc(p, NULL);
    daq_frame *b = daq_pool_alloc(p, NULL);
    daq_frame *c = daq_frame_ref(b);
    daq_pool_set_use_pool(p, false);
    daq_frame *h = daq_pool_alloc(p, NULL); /* heap frame keeps the pool too */
    assert_false(daq_frame_used_pool(h));
    memset(daq_frame_data(a), 1, SLOT);
    daq_pool_destroy(p);
    /* Frames stay fully usable; the pool's name is still readable. */
    memset(daq_frame_data(a), 2, SLOT);
    memset(daq_frame_data(h), 3, SLOT);
    assert_int_equal(((unsigned char *)daq_frame_data(a))[SLOT - 1], 2);
    daq_frame_unref(a);
    daq_frame_unref(b);
    daq_frame_unref(h);
    daq_frame_unref(c); /* last one: arena unmapped now (ASan/LSan check it) */

    /* Destroy with nothing outstanding frees at once; NULL is a no-op. */
    daq_pool_destroy(make_pool(2, DAQ_POOL_POLICY_HEAP));
    daq_pool_destroy(NULL);
}

static void use_pool_off_goes_to_heap(void **state)
{
    daq_pool *p = make_pool(4, DAQ_POOL_POLICY_HEAP);
    assert_true(daq_pool_use_pool(p));
    daq_pool_set_use_pool(p, false);
    daq_alloc_outcome o;
    for (int i = 0; i < 3; i++) {
        daq_frame *f = daq_pool_alloc(p, &o);
        assert_int_equal(o, DAQ_ALLOC_HEAP_DISABLED);
        assert_false(daq_frame_used_pool(f));
        daq_frame_unref(f);
    }
    daq_pool_metrics m;
    daq_pool_metrics_snapshot(p, &m);
    assert_false(m.use_pool);
    assert_int_equal(m.disabled, 3);
    assert_int_equal(m.heap_disabled, 3);
    assert_int_equal(m.misses, 0);
    assert_int_equal(m.hits, 0);
    assert_true(m.hit_rate == 0.0);
    assert_int_equal(m.in_use, 0);
    daq_pool_set_use_pool(p, true);
    daq_frame *f = daq_pool_alloc(p, &o);
    assert_int_equal(o, DAQ_ALLOC_POOL);
    daq_frame_unref(f);
    daq_pool_metrics_snapshot(p, &m);
    assert_true(fabs(m.hit_rate - 0.25) < 1e-9); /* 1 / (1 + 0 + 3) */
    daq_pool_destroy(p);
}

static void env_forces_heap(void **state)
{
    static const char *const vars[] = {"DAQ_USE_POOL", "PVCAM_USE_POOL"};
    const char *which;
    unsetenv("DAQ_USE_POOL");
    unsetenv("PVCAM_USE_POOL");
    assert_int_equal(daq_pool_env_use_pool(&which), -1);
    for (int v = 0; v < 2; v++) {
        setenv(vars[v], "0", 1);
        assert_int_equal(daq_pool_env_use_pool(&which), 0);
        assert_string_equal(which, vars[v]);
        daq_pool *p = make_pool(2, DAQ_POOL_POLICY_HEAP);
        assert_false(daq_pool_use_pool(p));
        daq_alloc_outcome o;
        daq_frame *f = daq_pool_alloc(p, &o);
        assert_int_equal(o, DAQ_ALLOC_HEAP_DISABLED);
        daq_frame_unref(f);
        daq_pool_destroy(p);
        unsetenv(vars[v]);
    }
    /* Off wins over on; words are accepted. */
    setenv("DAQ_USE_POOL", "1", 1);
    setenv("PVCAM_USE_POOL", "false", 1);
    assert_int_equal(daq_pool_env_use_pool(&which), 0);
    assert_string_equal(which, "PVCAM_USE_POOL");
    unsetenv("PVCAM_USE_POOL");
    /* On overrides a config that said off. */
    daq_pool_config c;
    daq_pool_config_init(&c);
    c.slot_bytes = SLOT;
    c.slot_count = 1;
    c.use_pool = false;
    daq_pool *p = daq_pool_create(&c, NULL, 0);
    assert_true(daq_pool_use_pool(p));
    daq_pool_destroy(p);
    unsetenv("DAQ_USE_POOL");
}

static void metrics_reset_and_latency(void **state)
{
    daq_pool *p = make_pool(2, DAQ_POOL_POLICY_HEAP);
    daq_frame *a = daq_pool_alloc(p, NULL);
    daq_frame *b = daq_pool_alloc(p, NULL);
    daq_frame *h = daq_pool_alloc(p, NULL);
    daq_frame_unref(b);
    daq_pool_metrics m;
    daq_pool_metrics_snapshot(p, &m);
    assert_int_equal(m.high_water, 2);
    uint64_t sum = 0;
    for (int i = 0; i < DAQ_LAT_BUCKETS; i++)
        sum += m.alloc_pool.buckets[i];
    assert_int_equal(sum, 2);
    assert_true(m.alloc_pool.max_ns >= m.alloc_pool.sum_ns / 2);
    assert_true(daq_latency_quantile_ns(&m.alloc_pool, 0.5) > 0);

    daq_pool_metrics_reset(p);
    daq_pool_metrics_snapshot(p, &m);
    assert_int_equal(m.allocs, 0);
    assert_int_equal(m.returns, 0);
    assert_int_equal(m.alloc_pool.count, 0);
    assert_int_equal(m.alloc_heap.count, 0);
    assert_int_equal(m.in_use, 1);     /* a is still out */
    assert_int_equal(m.high_water, 1); /* restarts from now */
    assert_int_equal(m.heap_in_use, 1);
    assert_int_equal(daq_latency_quantile_ns(&m.alloc_pool, 0.5), 0);
    daq_frame_unref(a);
    daq_frame_unref(h);
    daq_pool_destroy(p);
}

static void latency_buckets(void **state)
{
    daq_latency_hist h;
    memset(&h, 0, sizeof h);
    h.buckets[3] = 90;  /* 8..15 ns */
    h.buckets[10] = 10; /* 1024..2047 ns */
    assert_int_equal(daq_latency_bucket_upper_ns(3), 16);
    assert_int_equal(daq_latency_quantile_ns(&h, 0.5), 16);
    assert_int_equal(daq_latency_quantile_ns(&h, 0.9), 16);
    assert_int_equal(daq_latency_quantile_ns(&h, 0.95), 2048);
    assert_int_equal(daq_latency_quantile_ns(&h, 1.0), 2048);
}

static void frame_ref_and_meta(void **state)
{
    daq_pool *p = make_pool(2, DAQ_POOL_POLICY_HEAP);
    daq_frame *f = daq_pool_alloc(p, NULL);
    daq_frame_meta *m = daq_frame_meta_mut(f);
    assert_true(isnan(m->temperature_c));
    assert_int_equal(m->hw_frame_number, 0);
    m->hw_frame_number = 42;
    m->width = 64;
    daq_frame *g = daq_frame_ref(f);
    assert_ptr_equal(g, f);
    assert_int_equal(daq_frame_refcount(f), 2);
    assert_int_equal(daq_frame_meta_get(g)->hw_frame_number, 42);
    daq_frame_unref(g);
    assert_int_equal(daq_frame_refcount(f), 1);
    daq_frame_unref(f);
    /* The frame path hands out clean metadata on reuse. */
    daq_frame *again = daq_pool_alloc(p, NULL);
    assert_ptr_equal(again, f);
    assert_int_equal(daq_frame_meta_get(again)->hw_frame_number, 0);
    daq_frame_unref(again);
    daq_frame_unref(NULL);
    daq_pool_destroy(p);
}

static void bad_configs_rejected(void **state)
{
    daq_pool_config c;
    char err[256];
    daq_pool_config_init(&c);
    c.slot_bytes = 0;
    c.slot_count = 4;
    assert_null(daq_pool_create(&c, err, sizeof err));
    assert_non_null(strstr(err, "slot_bytes"));
    c.slot_bytes = 64;
    c.slot_count = DAQ_POOL_MAX_SLOTS + 1;
    assert_null(daq_pool_create(&c, err, sizeof err));
    c.slot_count = 4;
    c.alignment = 100;
    assert_null(daq_pool_create(&c, err, sizeof err));
    assert_non_null(strstr(err, "alignment"));
    c.alignment = 64;
    c.wait_fallback = DAQ_POOL_POLICY_WAIT;
    assert_null(daq_pool_create(&c, err, sizeof err));
    c.wait_fallback = DAQ_POOL_POLICY_HEAP;
    c.slot_bytes = SIZE_MAX / 2;
    assert_null(daq_pool_create(&c, err, sizeof err));
    /* and the policy names round-trip */
    daq_pool_policy pol;
    assert_int_equal(daq_pool_policy_parse("wait", &pol), 0);
    assert_int_equal(pol, DAQ_POOL_POLICY_WAIT);
    assert_int_equal(daq_pool_policy_parse("sometimes", &pol), -1);
    assert_string_equal(daq_pool_policy_name(DAQ_POOL_POLICY_DROP), "drop");
    assert_string_equal(daq_alloc_outcome_name(DAQ_ALLOC_HEAP_DISABLED), "heap_disabled");
}

static void huge_pages_and_mlock_degrade(void **state)
{
    daq_pool_config c;
    daq_pool_config_init(&c);
    c.name = "huge";
    c.slot_bytes = 3u << 20; /* 3 MiB: slots straddle huge pages */
    c.slot_count = 4;
    c.huge_pages = true;
    c.lock_memory = true;
    char err[256];
    daq_pool *p = daq_pool_create(&c, err, sizeof err);
    assert_non_null(p);
    daq_pool_metrics m;
    daq_pool_metrics_snapshot(p, &m);
    assert_true(m.prefaulted);
    /* mlock may be refused (RLIMIT_MEMLOCK is 8 MiB for non-root): creation
     * still succeeds and reports which it was. */
    printf("huge_pages=%d memory_locked=%d\n", m.huge_pages, m.memory_locked);
    daq_frame *f = daq_pool_try_acquire(p);
    assert_int_equal((uintptr_t)daq_frame_data(f) % (2u << 20), 0); /* slot 0 at 2 MiB */
    memset(daq_frame_data(f), 7, c.slot_bytes);
    daq_frame_unref(f);
    daq_pool_destroy(p);
}

/* A shareable pool (issue 16): the arena is a memfd sealed against grow,
 * shrink and further seals; another mapping of it sees the frames' pixels
 * at daq_pool_slot_offset, and a read-only mapping cannot be written (the
 * writer faults, in a child here, not the pool's owner).  At 2 MiB
 * alignment, as the engine's huge-page pools ask. */
static void shareable_arena_is_a_sealed_memfd(void **state)
{
    (void)state;
    daq_pool_config c;
    daq_pool_config_init(&c);
    c.name = "shared";
    c.slot_bytes = 300000; /* not a page multiple: stride and offsets matter */
    c.slot_count = 4;
    c.huge_pages = true;
    c.shareable = true;
    char err[256] = "";
    daq_pool *p = daq_pool_create(&c, err, sizeof err);
    assert_non_null(p);
    int fd = daq_pool_memfd(p);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal((size_t)st.st_size, daq_pool_arena_bytes(p));
    const int want = F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL;
    assert_int_equal(fcntl(fd, F_GET_SEALS) & want, want);
    assert_int_equal(ftruncate(fd, 4096), -1); /* nobody can shrink it under a reader */
    /* Nobody else can map it writable, whatever the fd's mode. */
    assert_true(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED);
    assert_int_equal(errno, EPERM);

    daq_frame *f[4];
    for (int i = 0; i < 4; i++) {
        f[i] = daq_pool_try_acquire(p);
        assert_int_equal((uintptr_t)daq_frame_data(f[i]) % 64, 0);
        memset(daq_frame_data(f[i]), 0x40 + i, c.slot_bytes);
    }
    const unsigned char *ro = mmap(NULL, daq_pool_arena_bytes(p), PROT_READ, MAP_SHARED, fd, 0);
    assert_true(ro != MAP_FAILED);
    for (int i = 0; i < 4; i++) {
        const unsigned char *px = ro + daq_pool_slot_offset(p, (uint32_t)daq_frame_slot(f[i]));
        assert_int_equal(px[0], 0x40 + i);
        assert_int_equal(px[c.slot_bytes - 1], 0x40 + i);
        assert_memory_equal(px, daq_frame_data(f[i]), c.slot_bytes);
    }
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL);
        ((volatile unsigned char *)ro)[0] = 1; /* must fault */
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGSEGV);
    assert_int_equal(((unsigned char *)daq_frame_data(f[0]))[0], 0x40);
    munmap((void *)ro, daq_pool_arena_bytes(p));
    for (int i = 0; i < 4; i++)
        daq_frame_unref(f[i]);
    daq_pool_destroy(p);

    /* A private arena has no memfd, no headers. */
    daq_pool *q = make_pool(2, DAQ_POOL_POLICY_HEAP);
    assert_int_equal(daq_pool_memfd(q), -1);
    assert_int_equal(daq_pool_header_memfd(q), -1);
    assert_null(daq_pool_slot_header(q, 0));
    assert_true(daq_pool_serial(q) > 0);
    daq_pool_destroy(q);
}

/* The shared slot headers: a sealed memfd of 64 bytes a slot, read-only to
 * everybody but the pool; a slot's generation goes up by one each time it
 * leaves the free list, so a reader holding (slot, generation) can tell a
 * recycled slot from its frame.  Heap frames belong to no pool. */
static void shareable_slot_headers_count_generations(void **state)
{
    (void)state;
    daq_pool_config c;
    daq_pool_config_init(&c);
    c.name = "hdr";
    c.slot_bytes = 4096;
    c.slot_count = 3;
    c.shareable = true;
    char err[256] = "";
    daq_pool *p = daq_pool_create(&c, err, sizeof err);
    assert_non_null(p);
    int hfd = daq_pool_header_memfd(p);
    assert_true(hfd >= 0);
    assert_int_equal(daq_pool_header_bytes(p) % 4096, 0);
    assert_true(daq_pool_header_bytes(p) >= 3 * sizeof(daq_slot_header));
    const int want = F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL;
    assert_int_equal(fcntl(hfd, F_GET_SEALS) & want, want);
    assert_true(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, hfd, 0) == MAP_FAILED);
    const daq_slot_header *ro = mmap(NULL, daq_pool_header_bytes(p), PROT_READ, MAP_SHARED, hfd, 0);
    assert_true(ro != MAP_FAILED);
    for (uint32_t i = 0; i < 3; i++)
        assert_int_equal(ro[i].generation, 0);

    daq_frame *f = daq_pool_try_acquire(p);
    uint32_t slot = (uint32_t)daq_frame_slot(f);
    assert_ptr_equal(daq_frame_pool(f), p);
    assert_int_equal(ro[slot].generation, 1);
    daq_pool_slot_header(p, slot)->sequence = 77; /* the sharer's summary */
    assert_int_equal(ro[slot].sequence, 77);
    daq_frame_unref(f);
    assert_int_equal(ro[slot].generation, 1); /* a return does not bump */
    f = daq_pool_alloc(p, NULL);              /* LIFO: the same slot again */
    assert_int_equal(daq_frame_slot(f), (int32_t)slot);
    assert_int_equal(ro[slot].generation, 2);
    daq_frame_unref(f);

    daq_pool_set_use_pool(p, false);
    daq_frame *h = daq_pool_alloc(p, NULL);
    assert_null(daq_frame_pool(h));
    daq_frame_unref(h);

    daq_pool *q = daq_pool_create(&c, err, sizeof err);
    assert_true(daq_pool_serial(q) > daq_pool_serial(p));
    daq_pool_destroy(q);
    munmap((void *)ro, daq_pool_header_bytes(p));
    daq_pool_destroy(p);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(lifo_recycle),
    cmocka_unit_test(slots_distinct_and_aligned),
    cmocka_unit_test(exhaustion_try_acquire_null),
    cmocka_unit_test(policy_heap_counts_miss),
    cmocka_unit_test(policy_drop_counts),
    cmocka_unit_test(policy_wait_woken_by_release),
    cmocka_unit_test(policy_wait_times_out),
    cmocka_unit_test(shutdown_wakes_waiters),
    cmocka_unit_test(flush_wakes_waiters),
    cmocka_unit_test(acquire_timeout_then_success),
    cmocka_unit_test(destroy_with_frames_outstanding),
    cmocka_unit_test(use_pool_off_goes_to_heap),
    cmocka_unit_test(env_forces_heap),
    cmocka_unit_test(metrics_reset_and_latency),
    cmocka_unit_test(latency_buckets),
    cmocka_unit_test(frame_ref_and_meta),
    cmocka_unit_test(bad_configs_rejected),
    cmocka_unit_test(huge_pages_and_mlock_degrade),
    cmocka_unit_test(shareable_arena_is_a_sealed_memfd),
    cmocka_unit_test(shareable_slot_headers_count_generations),
};

DAQ_TEST_MAIN("pool", tests)
