/* Unit tests of the sync group matcher (daq/sync.h): frames from a pool with
 * known trigger indices and exposure starts, offered by hand with a fake
 * clock (exact counts for matches, misses, timeouts, late frames, extras,
 * ordinals, eviction, restarts, the skew histogram, and every frame
 * returned to the pool), and the attached mode through two buses with two
 * publishing threads (also under TSan). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "daq/bus.h"
#include "daq/pool.h"
#include "daq/sync.h"
#include "test_main.h"

#define MS  1000000ull
#define SEC 1000000000ull

static daq_pool *make_pool(uint32_t slots)
{
    return daq_test_pool("sync-test", 64, slots);
}

static uint32_t pool_in_use(const daq_pool *p)
{
    daq_pool_metrics m;
    daq_pool_metrics_snapshot(p, &m);
    return m.in_use + m.heap_in_use;
}

/* A frame for trigger idx whose exposure started at real_ns (0: unknown)
 * and bof_ns. */
static daq_frame *frame(daq_pool *p, uint64_t idx, uint64_t real_ns, uint64_t bof_ns,
                        uint32_t flags)
{
    daq_alloc_outcome o;
    daq_frame *f = daq_pool_alloc(p, &o);
    if (!f)
        fail_msg("no frame");
    daq_frame_meta *m = daq_frame_meta_mut(f);
    daq_frame_meta_clear(m);
    m->trigger_index = idx;
    m->exposure_start_real_ns = real_ns;
    m->bof_ns = bof_ns;
    m->flags = flags;
    return f;
}

/* What the callback saw. */
typedef struct seen {
    uint64_t complete, partial;
    uint64_t last_key; /* index * 1000 + ordinal: sets arrive in key order */
    bool out_of_order;
    uint64_t partial_idx[16];
    bool partial_has[16][2];
    uint64_t skews[4096];
    unsigned n_skews;
} seen;

static void on_set(void *ctx, const daq_sync_set *s)
{
    seen *v = ctx;
    uint64_t k = s->trigger_index * 1000 + s->ordinal;
    if (k <= v->last_key)
        v->out_of_order = true;
    v->last_key = k;
    for (unsigned i = 0; i < s->n_members; i++)
        if (s->frames[i] && daq_frame_meta_get(s->frames[i])->trigger_index != s->trigger_index)
            v->out_of_order = true; /* a wrong frame in a set: as bad */
    if (s->complete) {
        v->complete++;
        if (v->n_skews < 4096)
            v->skews[v->n_skews++] = s->skew_ns;
        return;
    }
    if (v->partial < 16) {
        v->partial_idx[v->partial] = s->trigger_index;
        for (unsigned i = 0; i < 2 && i < s->n_members; i++)
            v->partial_has[v->partial][i] = s->frames[i] != NULL;
    }
    v->partial++;
}

static const char *const two[] = {"cam0", "cam1"};

static daq_sync_group *group(uint32_t timeout_ms, uint32_t max_open, seen *v)
{
    daq_sync_config c;
    daq_sync_config_init(&c);
    c.name = "pair";
    c.match_timeout_ms = timeout_ms;
    c.max_open = max_open;
    c.on_set = v ? on_set : NULL;
    c.ctx = v;
    c.hold_frames = v != NULL;
    char err[256] = "";
    daq_sync_group *g = daq_sync_group_create(&c, two, 2, err, sizeof err);
    if (!g)
        fail_msg("group: %s", err);
    return g;
}

static daq_sync_stats stats(daq_sync_group *g)
{
    daq_sync_stats s;
    daq_sync_group_stats(g, &s);
    return s;
}

/* ---- manual mode --------------------------------------------------------------- */

/* 1000 triggers, member 1 misses 300, 600 and 900: 997 matched, 3 mismatched
 * against member 1 only, each released as a partial set holding member 0's
 * frame, in trigger order; every frame back in the pool. */
static void misses_are_counted_exactly(void **state)
{
    (void)state;
    daq_pool *p = make_pool(64);
    seen *v = calloc(1, sizeof *v);
    daq_sync_group *g = group(1000, 64, v);
    uint64_t now = 1 * SEC;
    for (uint64_t i = 1; i <= 1000; i++, now += MS) {
        daq_sync_group_offer(g, 0, frame(p, i, 0, now, 0), now);
        if (i % 300 != 0)
            daq_sync_group_offer(g, 1, frame(p, i, 0, now + 1000, 0), now);
    }
    daq_sync_stats s = stats(g);
    assert_int_equal(s.matched, 997);
    assert_int_equal(s.mismatched, 3);
    assert_int_equal(s.member[0].mismatched, 0);
    assert_int_equal(s.member[1].mismatched, 3);
    assert_int_equal(s.member[0].frames, 1000);
    assert_int_equal(s.member[1].frames, 997);
    assert_int_equal(s.evicted, 0);
    assert_int_equal(s.open, 0);
    assert_int_equal(s.open_high_water, 2); /* 300 waits until 301 completes */
    assert_string_equal(s.name, "pair");
    assert_string_equal(s.member[1].device, "cam1");
    assert_int_equal(v->complete, 997);
    assert_int_equal(v->partial, 3);
    assert_false(v->out_of_order);
    for (unsigned k = 0; k < 3; k++) {
        assert_int_equal(v->partial_idx[k], 300 * (k + 1));
        assert_true(v->partial_has[k][0]);
        assert_false(v->partial_has[k][1]);
    }
    assert_int_equal(pool_in_use(p), 0);
    /* bof_ns skews (no realtime estimate): exactly 1000 ns each. */
    assert_int_equal(s.skew_count, 997);
    assert_true(s.skew_max_s == 1000e-9);
    daq_sync_group_destroy(g);
    daq_pool_destroy(p);
    free(v);
}

/* The last trigger of a run has no later one to resolve it: the timeout
 * does, exactly at match_timeout_ms after its first frame; a frame that
 * comes after that is late, not a new set. */
static void timeout_then_late(void **state)
{
    (void)state;
    daq_pool *p = make_pool(8);
    seen *v = calloc(1, sizeof *v);
    daq_sync_group *g = group(250, 64, v);
    uint64_t t0 = 5 * SEC;
    daq_sync_group_offer(g, 0, frame(p, 7, 0, t0, 0), t0);
    assert_int_equal(daq_sync_group_expire(g, t0 + 250 * MS - 1), t0 + 250 * MS);
    assert_int_equal(stats(g).mismatched, 0);
    assert_int_equal(stats(g).open, 1);
    assert_int_equal(pool_in_use(p), 1); /* held while incomplete */
    assert_int_equal(daq_sync_group_expire(g, t0 + 250 * MS), 0);
    daq_sync_stats s = stats(g);
    assert_int_equal(s.mismatched, 1);
    assert_int_equal(s.member[1].mismatched, 1);
    assert_int_equal(s.open, 0);
    assert_int_equal(pool_in_use(p), 0);
    daq_sync_group_offer(g, 1, frame(p, 7, 0, t0, 0), t0 + 300 * MS);
    s = stats(g);
    assert_int_equal(s.member[1].late, 1);
    assert_int_equal(s.open, 0);
    assert_int_equal(s.mismatched, 1);
    assert_int_equal(pool_in_use(p), 0);
    /* The next trigger matches as usual. */
    daq_sync_group_offer(g, 1, frame(p, 8, 0, t0, 0), t0 + 400 * MS);
    daq_sync_group_offer(g, 0, frame(p, 8, 0, t0, 0), t0 + 400 * MS);
    assert_int_equal(stats(g).matched, 1);
    assert_int_equal(v->partial, 1);
    assert_int_equal(v->complete, 1);
    daq_sync_group_destroy(g);
    daq_pool_destroy(p);
    free(v);
}

/* Index 0 (not triggered) and TRIGGER_EXTRA frames are counted, not
 * matched; frames_per_trigger > 1 pairs by ordinal. */
static void untriggered_extra_and_ordinals(void **state)
{
    (void)state;
    daq_pool *p = make_pool(16);
    seen *v = calloc(1, sizeof *v);
    daq_sync_group *g = group(1000, 64, v);
    uint64_t now = SEC;
    daq_sync_group_offer(g, 0, frame(p, 0, 0, 0, 0), now);
    daq_sync_group_offer(g, 1, frame(p, 0, 0, 0, 0), now);
    for (uint64_t i = 1; i <= 10; i++)
        for (unsigned k = 0; k < 3; k++) { /* 3 frames per trigger on both */
            daq_sync_group_offer(g, 0, frame(p, i, 0, 100, 0), now);
            daq_sync_group_offer(g, 1, frame(p, i, 0, 100, 0), now);
        }
    /* A doubled trigger on member 1: its surplus is flagged by the engine. */
    daq_sync_group_offer(g, 1, frame(p, 10, 0, 100, DAQ_FRAME_FLAG_TRIGGER_EXTRA), now);
    daq_sync_stats s = stats(g);
    assert_int_equal(s.matched, 30);
    assert_int_equal(s.mismatched, 0);
    assert_int_equal(s.member[0].untriggered, 1);
    assert_int_equal(s.member[1].untriggered, 1);
    assert_int_equal(s.member[1].extra, 1);
    assert_int_equal(s.member[1].frames, 32);
    assert_false(v->out_of_order);
    assert_int_equal(v->last_key, 10 * 1000 + 2);
    assert_int_equal(pool_in_use(p), 0);
    daq_sync_group_destroy(g);
    daq_pool_destroy(p);
    free(v);
}

/* A member that delivers nothing: sets pile up to max_open, then the
 * oldest goes; flush declares the rest.  Frames held never exceed
 * max_open. */
static void eviction_bounds_what_is_held(void **state)
{
    (void)state;
    daq_pool *p = make_pool(16);
    seen *v = calloc(1, sizeof *v);
    daq_sync_group *g = group(60000, 4, v);
    for (uint64_t i = 1; i <= 10; i++) {
        daq_sync_group_offer(g, 0, frame(p, i, 0, 0, 0), SEC);
        assert_true(pool_in_use(p) <= 4);
    }
    daq_sync_stats s = stats(g);
    assert_int_equal(s.open, 4);
    assert_int_equal(s.open_high_water, 4);
    assert_int_equal(s.evicted, 6);
    assert_int_equal(s.mismatched, 6);
    assert_int_equal(v->partial_idx[0], 1);
    assert_int_equal(v->partial_idx[5], 6);
    daq_sync_group_flush(g);
    s = stats(g);
    assert_int_equal(s.open, 0);
    assert_int_equal(s.mismatched, 10);
    assert_int_equal(s.member[1].mismatched, 10);
    assert_int_equal(s.member[0].mismatched, 0);
    assert_int_equal(pool_in_use(p), 0);
    assert_false(v->out_of_order);
    daq_sync_group_destroy(g);
    daq_pool_destroy(p);
    free(v);
}

/* A member whose indices go backwards restarted: the group resets
 * (open sets abandoned, not mismatches) and matches the new numbering. */
static void restart_resets(void **state)
{
    (void)state;
    daq_pool *p = make_pool(16);
    daq_sync_group *g = group(1000, 64, NULL);
    for (uint64_t i = 1; i <= 5; i++) {
        daq_sync_group_offer(g, 0, frame(p, i, 0, 0, 0), SEC);
        daq_sync_group_offer(g, 1, frame(p, i, 0, 0, 0), SEC);
    }
    daq_sync_group_offer(g, 0, frame(p, 6, 0, 0, 0), SEC); /* open, then both restart */
    for (uint64_t i = 1; i <= 3; i++) {
        daq_sync_group_offer(g, 0, frame(p, i, 0, 0, 0), SEC);
        daq_sync_group_offer(g, 1, frame(p, i, 0, 0, 0), SEC);
    }
    daq_sync_stats s = stats(g);
    assert_int_equal(s.resets, 1);
    assert_int_equal(s.abandoned, 1);
    assert_int_equal(s.matched, 8);
    assert_int_equal(s.mismatched, 0);
    assert_int_equal(pool_in_use(p), 0); /* no callback: nothing was ever held */
    daq_sync_group_destroy(g);
    daq_pool_destroy(p);
}

/* A camera that starts listening after the others (armed later on a
 * running line) is not blamed for the pulses before its first frame:
 * those sets are before_start, not mismatches; its misses after that are. */
static void late_joiner_is_not_blamed(void **state)
{
    (void)state;
    daq_pool *p = make_pool(16);
    seen *v = calloc(1, sizeof *v);
    daq_sync_group *g = group(1000, 64, v);
    for (uint64_t i = 1; i <= 10; i++) {
        daq_sync_group_offer(g, 0, frame(p, i, 0, 0, 0), SEC);
        if (i >= 4 && i != 8)
            daq_sync_group_offer(g, 1, frame(p, i, 0, 0, 0), SEC);
    }
    daq_sync_stats s = stats(g);
    assert_int_equal(s.before_start, 3);
    assert_int_equal(s.mismatched, 1);
    assert_int_equal(s.member[1].mismatched, 1);
    assert_int_equal(s.matched, 6);
    assert_int_equal(v->partial, 4); /* the consumer still sees every incomplete set */
    assert_int_equal(v->partial_idx[3], 8);
    assert_int_equal(pool_in_use(p), 0);
    daq_sync_group_destroy(g);
    daq_pool_destroy(p);
    free(v);
}

/* Skew = max - min of the exposure starts; realtime estimates when every
 * frame has one, bof_ns otherwise; p50/p99 from the histogram within its
 * 12.5 % step, never above the max. */
static void skew_quantiles(void **state)
{
    (void)state;
    daq_pool *p = make_pool(8);
    seen *v = calloc(1, sizeof *v);
    daq_sync_group *g = group(1000, 64, v);
    /* 1000 sets with skews 100, 200, ..., 100000 ns (realtime). */
    for (uint64_t i = 1; i <= 1000; i++) {
        uint64_t t = 1700000000ull * SEC + i * MS;
        daq_sync_group_offer(g, 0, frame(p, i, t + i * 100, 1, 0), SEC);
        daq_sync_group_offer(g, 1, frame(p, i, t, 999999, 0), SEC);
    }
    daq_sync_stats s = stats(g);
    assert_int_equal(s.skew_count, 1000);
    assert_true(s.skew_max_s == 100000e-9);
    assert_true(s.skew_sum_s == 50050000e-9); /* 100 * (1 + ... + 1000) ns */
    assert_true(s.skew_p50_s >= 50000e-9 && s.skew_p50_s <= 50000e-9 * 1.125);
    assert_true(s.skew_p99_s >= 99000e-9 && s.skew_p99_s <= 100000e-9);
    assert_int_equal(v->skews[0], 100);
    assert_int_equal(v->skews[999], 100000);
    /* One frame without a realtime estimate: bof_ns for the whole set. */
    daq_sync_group_offer(g, 0, frame(p, 1001, 1700000000ull * SEC, 5000, 0), SEC);
    daq_sync_group_offer(g, 1, frame(p, 1001, 0, 5300, 0), SEC);
    assert_int_equal(v->skews[1000], 300);
    daq_sync_group_destroy(g);
    daq_pool_destroy(p);
    free(v);
}

static void create_errors(void **state)
{
    (void)state;
    daq_sync_config c;
    daq_sync_config_init(&c);
    c.name = "g";
    char err[256];
    assert_null(daq_sync_group_create(&c, two, 1, err, sizeof err));
    assert_string_equal(err, "sync group g: 1 devices (2..16)");
    const char *const dup[] = {"cam0", "cam0"};
    assert_null(daq_sync_group_create(&c, dup, 2, err, sizeof err));
    assert_string_equal(err, "sync group g: device \"cam0\" named twice");
    c.match_timeout_ms = 0;
    assert_null(daq_sync_group_create(&c, two, 2, err, sizeof err));
    assert_string_equal(err, "sync group g: match_timeout_ms 0 is out of range [1, 3600000]");
    daq_sync_config_init(&c);
    c.max_open = 0;
    assert_null(daq_sync_group_create(&c, two, 2, err, sizeof err));
    assert_string_equal(err, "sync group sync: max_open 0 is out of range [1, 4096]");
    daq_sync_config_init(&c);
    daq_sync_group *g = daq_sync_group_create(&c, two, 2, err, sizeof err);
    assert_non_null(g);
    assert_int_equal(daq_sync_group_start(g, err, sizeof err), -1);
    assert_string_equal(err, "sync group sync: cam0 is not attached");
    daq_sync_group_destroy(g);
}

/* ---- attached mode ---------------------------------------------------------------- */

#define N_ATTACHED 3000u

struct producer {
    daq_bus *bus;
    daq_pool *pool;
    unsigned miss_every; /* 0: none */
};

static void *produce(void *arg)
{
    struct producer *pr = arg;
    for (uint64_t i = 1; i <= N_ATTACHED; i++) {
        if (pr->miss_every && i % pr->miss_every == 0)
            continue;
        daq_frame *f = frame(pr->pool, i, 0, i * 10, 0);
        daq_bus_publish(pr->bus, f);
        daq_frame_unref(f);
        if (i % 64 == 0)
            sched_yield();
    }
    return NULL;
}

/* Two cameras publishing on two threads, the matcher's thread draining
 * LOSSLESS subscriptions: 3000 triggers, 3 missed on cam1 -> 2997 matched,
 * 3 mismatched, nothing dropped, every frame home. */
static void attached_two_buses(void **state)
{
    (void)state;
    daq_pool *p = make_pool(256);
    seen *v = calloc(1, sizeof *v);
    daq_sync_config c;
    daq_sync_config_init(&c);
    c.name = "pair";
    c.queue_depth = 32;
    c.lossless_timeout_ms = 5000; /* lossless for real: a stalled matcher is a failure */
    c.on_set = on_set;
    c.ctx = v;
    c.hold_frames = true;
    c.max_open = 4096; /* one producer may run a whole run ahead of the other */
    char err[256] = "";
    daq_sync_group *g = daq_sync_group_create(&c, two, 2, err, sizeof err);
    assert_non_null(g);
    daq_bus *b0 = daq_bus_create("cam0"), *b1 = daq_bus_create("cam1");
    assert_int_equal(daq_sync_group_attach(g, 0, b0, err, sizeof err), 0);
    assert_int_equal(daq_sync_group_attach(g, 1, b1, err, sizeof err), 0);
    assert_int_equal(daq_sync_group_attach(g, 1, b1, err, sizeof err), -1);
    assert_string_equal(err, "sync group pair: cam1 is already attached");
    assert_int_equal(daq_sync_group_start(g, err, sizeof err), 0);
    struct producer p0 = {b0, p, 0}, p1 = {b1, p, 1000};
    pthread_t t0, t1;
    pthread_create(&t0, NULL, produce, &p0);
    pthread_create(&t1, NULL, produce, &p1);
    pthread_join(t0, NULL);
    pthread_join(t1, NULL);
    uint64_t deadline = daq_test_now_ns() + 20 * SEC;
    daq_sync_stats s;
    do {
        usleep(2000);
        s = stats(g);
    } while (s.matched + s.mismatched < N_ATTACHED && daq_test_now_ns() < deadline);
    daq_sync_group_stop(g);
    s = stats(g);
    assert_int_equal(s.matched, N_ATTACHED - 3);
    assert_int_equal(s.mismatched, 3);
    assert_int_equal(s.member[1].mismatched, 3);
    assert_int_equal(s.member[0].mismatched, 0);
    assert_int_equal(s.member[0].sub_dropped, 0);
    assert_int_equal(s.member[1].sub_dropped, 0);
    assert_int_equal(s.member[0].frames, N_ATTACHED);
    assert_int_equal(s.member[1].frames, N_ATTACHED - 3);
    assert_int_equal(s.open, 0);
    assert_false(v->out_of_order);
    assert_int_equal(daq_bus_sub_count(b0), 0); /* stop unsubscribed */
    daq_sync_group_destroy(g);
    daq_bus_destroy(b0);
    daq_bus_destroy(b1);
    assert_int_equal(pool_in_use(p), 0);
    daq_pool_destroy(p);
    free(v);
}

/* The thread expires a lone set by the timeout, with nothing else coming. */
static void attached_timeout(void **state)
{
    (void)state;
    daq_pool *p = make_pool(8);
    daq_sync_config c;
    daq_sync_config_init(&c);
    c.match_timeout_ms = 50;
    char err[256] = "";
    daq_sync_group *g = daq_sync_group_create(&c, two, 2, err, sizeof err);
    daq_bus *b0 = daq_bus_create("cam0"), *b1 = daq_bus_create("cam1");
    assert_int_equal(daq_sync_group_attach(g, 0, b0, err, sizeof err), 0);
    assert_int_equal(daq_sync_group_attach(g, 1, b1, err, sizeof err), 0);
    assert_int_equal(daq_sync_group_start(g, err, sizeof err), 0);
    uint64_t t0 = daq_test_now_ns();
    daq_frame *f = frame(p, 1, 0, 0, 0);
    daq_bus_publish(b0, f);
    daq_frame_unref(f);
    daq_sync_stats s;
    do {
        usleep(1000);
        s = stats(g);
    } while (s.mismatched == 0 && daq_test_now_ns() < t0 + 5 * SEC);
    uint64_t took = daq_test_now_ns() - t0;
    assert_int_equal(s.mismatched, 1);
    assert_int_equal(s.member[1].mismatched, 1);
    assert_true(took >= 50 * MS);
    assert_true(took < 1 * SEC); /* the deadline wakes it, not the idle tick alone */
    daq_sync_group_destroy(g);
    daq_bus_destroy(b0);
    daq_bus_destroy(b1);
    assert_int_equal(pool_in_use(p), 0);
    daq_pool_destroy(p);
}

int main(int argc, char **argv)
{
    /* One per line: tests/CMakeLists.txt registers each line's test. */
    // clang-format off
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(misses_are_counted_exactly),
        cmocka_unit_test(timeout_then_late),
        cmocka_unit_test(untriggered_extra_and_ordinals),
        cmocka_unit_test(eviction_bounds_what_is_held),
        cmocka_unit_test(restart_resets),
        cmocka_unit_test(late_joiner_is_not_blamed),
        cmocka_unit_test(skew_quantiles),
        cmocka_unit_test(create_errors),
        cmocka_unit_test(attached_two_buses),
        cmocka_unit_test(attached_timeout),
    };
    // clang-format on
    return daq_test_main(argc, argv, "sync", tests, sizeof tests / sizeof tests[0]);
}
