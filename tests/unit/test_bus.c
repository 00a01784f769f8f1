/* Unit tests of the bus: each full-queue policy's exact counters and
 * survivors, LOSSLESS waiting and its bound, the decimation and max_fps
 * gates, end of stream, close and unsubscribe, the frames bound with a
 * real pool, a publish/subscribe/consume storm (also under TSan), invalid
 * configs, stats, and no allocation per frame. */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "daq/bus.h"
#include "daq/pool.h"
#include "malloc_count.h"
#include "test_main.h"

#define MS           1000000ull
#define SEC          1000000000ull
#define MAX_SUBS     320 /* the bus's cap (BUS_MAX_SUBS in bus.c) */
#define EOS          (-1L)
#define CONSUMER_TMO (30 * (int64_t)SEC) /* a consumer's wait; only hit on a bug */

/* ---- helpers -------------------------------------------------------------- */

/* cmocka's asserts must not fail off the main thread (they longjmp into
 * it): threads count failures here and the test checks the count. */
static _Atomic unsigned thread_failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            atomic_fetch_add(&thread_failures, 1);                                                 \
        }                                                                                          \
    } while (0)

static daq_pool *make_pool(uint32_t slots)
{
    return daq_test_pool("bus-test", 4096, slots);
}

static daq_pool_metrics pool_metrics(const daq_pool *p)
{
    daq_pool_metrics m;
    daq_pool_metrics_snapshot(p, &m);
    return m;
}

static daq_frame *make_frame(daq_pool *p, uint64_t hw, uint64_t eof_ns)
{
    daq_frame *f = daq_pool_alloc(p, NULL);
    assert_non_null(f);
    daq_frame_meta_mut(f)->hw_frame_number = hw;
    daq_frame_meta_mut(f)->eof_ns = eof_ns;
    return f;
}

/* Publishes one fresh frame and drops the producer's reference. */
static unsigned pub(daq_bus *b, daq_pool *p, uint64_t hw, uint64_t eof_ns)
{
    daq_frame *f = make_frame(p, hw, eof_ns);
    unsigned n = daq_bus_publish(b, f);
    daq_frame_unref(f);
    return n;
}

static daq_sub *sub_with(daq_bus *b, const char *name, daq_sub_policy policy, uint32_t depth)
{
    daq_sub_config c;
    daq_sub_config_init(&c);
    c.name = name;
    c.policy = policy;
    c.queue_depth = depth;
    char err[256] = "";
    daq_sub *s = daq_bus_subscribe(b, &c, err, sizeof err);
    if (!s)
        fail_msg("subscribe: %s", err);
    return s;
}

static daq_sub *sub_cfg(daq_bus *b, const daq_sub_config *c)
{
    char err[256] = "";
    daq_sub *s = daq_bus_subscribe(b, c, err, sizeof err);
    if (!s)
        fail_msg("subscribe: %s", err);
    return s;
}

/* Polls sub and expects exactly seq (hw frame numbers, EOS for an end of
 * stream), then nothing more. */
static void expect_seq(daq_sub *s, const long *seq, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        daq_frame *f = (daq_frame *)1;
        int r = daq_sub_next(s, 0, &f);
        if (seq[i] == EOS) {
            if (r != DAQ_SUB_EOS)
                fail_msg("item %zu: expected EOS, got result %d", i, r);
            assert_null(f);
        } else {
            if (r != DAQ_SUB_FRAME)
                fail_msg("item %zu: expected frame %ld, got result %d", i, seq[i], r);
            assert_int_equal(daq_frame_meta_get(f)->hw_frame_number, seq[i]);
            daq_frame_unref(f);
        }
    }
    daq_frame *f = (daq_frame *)1;
    assert_int_equal(daq_sub_next(s, 0, &f), DAQ_SUB_TIMEOUT);
    assert_null(f);
}

#define EXPECT_SEQ(s, ...)                                                                         \
    do {                                                                                           \
        const long seq_[] = {__VA_ARGS__};                                                         \
        expect_seq(s, seq_, sizeof seq_ / sizeof seq_[0]);                                         \
    } while (0)

static daq_sub_stats stats_of(const daq_sub *s)
{
    daq_sub_stats st;
    daq_sub_stats_snapshot(s, &st);
    return st;
}

/* Every offer has exactly one outcome; every entry leaves exactly once. */
static bool consistent(const daq_sub_stats *st)
{
    return st->offered == st->enqueued + st->dropped_full + st->dropped_timeout +
                              st->skipped_decimate + st->skipped_rate &&
           st->enqueued == st->delivered + st->dropped_oldest + st->queued &&
           st->dropped == st->dropped_full + st->dropped_oldest + st->dropped_timeout &&
           st->queued <= st->queue_depth && st->queue_high_water <= st->queue_depth;
}

static void check_consistent(const daq_sub_stats *st)
{
    assert_true(consistent(st));
    assert_int_equal(st->offered, st->enqueued + st->dropped_full + st->dropped_timeout +
                                      st->skipped_decimate + st->skipped_rate);
    assert_int_equal(st->enqueued, st->delivered + st->dropped_oldest + st->queued);
    assert_int_equal(st->dropped, st->dropped_full + st->dropped_oldest + st->dropped_timeout);
    assert_true(st->delivered <= st->enqueued);
    assert_true(st->queued <= st->queue_depth);
    assert_true(st->queue_high_water <= st->queue_depth);
}

/* ---- names and configs ---------------------------------------------------- */

static void policy_names_and_parse(void **state)
{
    static const struct {
        const char *s;
        daq_sub_policy p;
    } ok[] = {
        {"lossless", DAQ_SUB_LOSSLESS},       {"drop-newest", DAQ_SUB_DROP_NEWEST},
        {"drop_newest", DAQ_SUB_DROP_NEWEST}, {"drop-oldest", DAQ_SUB_DROP_OLDEST},
        {"drop_oldest", DAQ_SUB_DROP_OLDEST}, {"latest", DAQ_SUB_LATEST},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        daq_sub_policy p = (daq_sub_policy)99;
        assert_int_equal(daq_sub_policy_parse(ok[i].s, &p), 0);
        assert_int_equal(p, ok[i].p);
    }
    assert_string_equal(daq_sub_policy_name(DAQ_SUB_LOSSLESS), "lossless");
    assert_string_equal(daq_sub_policy_name(DAQ_SUB_DROP_NEWEST), "drop-newest");
    assert_string_equal(daq_sub_policy_name(DAQ_SUB_DROP_OLDEST), "drop-oldest");
    assert_string_equal(daq_sub_policy_name(DAQ_SUB_LATEST), "latest");
    static const char *const bad[] = {"",        "drop",         "drop-",   "dropnewest", "latest-",
                                      "lossles", "drop-oldestx", "LATEST_", "drop newest"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        daq_sub_policy p = DAQ_SUB_LATEST;
        assert_int_equal(daq_sub_policy_parse(bad[i], &p), -1);
        assert_int_equal(p, DAQ_SUB_LATEST); /* untouched */
    }
    daq_sub_policy p;
    assert_int_equal(daq_sub_policy_parse(NULL, &p), -1);
}

static void config_defaults(void **state)
{
    daq_sub_config c;
    memset(&c, 0xff, sizeof c);
    daq_sub_config_init(&c);
    assert_null(c.name);
    assert_int_equal(c.policy, DAQ_SUB_DROP_OLDEST);
    assert_int_equal(c.queue_depth, 4);
    assert_int_equal(c.lossless_timeout_ms, 100);
    assert_int_equal(c.decimate, 0);
    assert_true(c.max_fps == 0.0);
}

static void expect_invalid(daq_bus *b, const daq_sub_config *c, const char *word)
{
    char err[256] = "";
    assert_null(daq_bus_subscribe(b, c, err, sizeof err));
    if (!strstr(err, word))
        fail_msg("error '%s' does not mention '%s'", err, word);
    /* No err buffer: still refused, nothing written. */
    assert_null(daq_bus_subscribe(b, c, NULL, 0));
}

static void invalid_configs(void **state)
{
    daq_bus *b = daq_bus_create("inv");
    daq_sub_config c;
    daq_sub_config_init(&c);
    c.name = "bad";
    c.queue_depth = 0;
    expect_invalid(b, &c, "queue_depth");
    c.policy = DAQ_SUB_LOSSLESS;
    expect_invalid(b, &c, "queue_depth");
    c.queue_depth = DAQ_SUB_MAX_DEPTH + 1;
    expect_invalid(b, &c, "queue_depth");
    c.queue_depth = 4;
    c.max_fps = -1.0;
    expect_invalid(b, &c, "max_fps");
    c.max_fps = NAN;
    expect_invalid(b, &c, "max_fps");
    c.max_fps = 0;
    c.policy = (daq_sub_policy)4;
    expect_invalid(b, &c, "policy");
    c.policy = (daq_sub_policy)-1;
    expect_invalid(b, &c, "policy");
    expect_invalid(b, NULL, "config");
    assert_int_equal(daq_bus_sub_count(b), 0);

    /* The edges are valid; LATEST ignores queue_depth (forced to 1). */
    c.policy = DAQ_SUB_DROP_NEWEST;
    c.queue_depth = DAQ_SUB_MAX_DEPTH;
    daq_sub *big = sub_cfg(b, &c);
    assert_int_equal(stats_of(big).queue_depth, DAQ_SUB_MAX_DEPTH);
    c.policy = DAQ_SUB_LATEST;
    c.queue_depth = 0;
    daq_sub *latest = sub_cfg(b, &c);
    assert_int_equal(stats_of(latest).queue_depth, 1);
    c.queue_depth = 100;
    c.max_fps = INFINITY; /* no limit */
    daq_sub *inf = sub_cfg(b, &c);
    assert_int_equal(stats_of(inf).queue_depth, 1);
    assert_int_equal(daq_bus_sub_count(b), 3);
    daq_bus_destroy(b);
}

static void subscription_cap(void **state)
{
    daq_bus *b = daq_bus_create("cap");
    daq_sub *subs[MAX_SUBS];
    for (int i = 0; i < MAX_SUBS; i++)
        subs[i] = sub_with(b, "s", DAQ_SUB_DROP_OLDEST, 1);
    char err[256] = "";
    daq_sub_config c;
    daq_sub_config_init(&c);
    c.name = "one-too-many";
    assert_null(daq_bus_subscribe(b, &c, err, sizeof err));
    assert_non_null(strstr(err, "320"));
    assert_non_null(strstr(err, "cap"));
    assert_int_equal(daq_bus_sub_count(b), MAX_SUBS);
    /* Room again after an unsubscribe; all 320 get a frame. */
    daq_bus_unsubscribe(b, subs[10]);
    subs[10] = sub_cfg(b, &c);
    daq_pool *p = make_pool(4);
    assert_int_equal(pub(b, p, 1, 0), MAX_SUBS);
    for (int i = 0; i < MAX_SUBS; i++)
        EXPECT_SEQ(subs[i], 1);
    daq_bus_destroy(b);
    assert_int_equal(pool_metrics(p).in_use, 0);
    daq_pool_destroy(p);
}

/* ---- policies, single-threaded and exact ---------------------------------- */

static void drop_newest_exact(void **state)
{
    daq_pool *p = make_pool(16);
    daq_bus *b = daq_bus_create("dn");
    daq_sub *s = sub_with(b, "dn", DAQ_SUB_DROP_NEWEST, 3);
    for (unsigned i = 1; i <= 10; i++)
        assert_int_equal(pub(b, p, i, 0), i <= 3 ? 1 : 0);
    daq_sub_stats st = stats_of(s);
    assert_string_equal(st.name, "dn");
    assert_int_equal(st.policy, DAQ_SUB_DROP_NEWEST);
    assert_int_equal(st.queue_depth, 3);
    assert_int_equal(st.offered, 10);
    assert_int_equal(st.enqueued, 3);
    assert_int_equal(st.dropped_full, 7);
    assert_int_equal(st.dropped_oldest, 0);
    assert_int_equal(st.dropped_timeout, 0);
    assert_int_equal(st.dropped, 7);
    assert_int_equal(st.queued, 3);
    assert_int_equal(st.queue_high_water, 3);
    assert_int_equal(st.lossless_waits, 0);
    assert_int_equal(pool_metrics(p).in_use, 3); /* dropped frames went home */
    EXPECT_SEQ(s, 1, 2, 3);
    st = stats_of(s);
    assert_int_equal(st.delivered, 3);
    assert_int_equal(st.queued, 0);
    check_consistent(&st);
    /* Room again: the next frame enters. */
    assert_int_equal(pub(b, p, 11, 0), 1);
    EXPECT_SEQ(s, 11);
    daq_bus_destroy(b);
    assert_int_equal(pool_metrics(p).in_use, 0);
    daq_pool_destroy(p);
}

/* A direct subscription (the tap): no queue, the consumer's deliver is
 * called on the publishing thread and keeps up to its own cap; a refusal
 * is a drop-newest, an end of stream is deliver(NULL), and after
 * unsubscribe nothing more arrives.  The counters keep their identities. */
typedef struct direct_ctx {
    daq_frame *held[8];
    unsigned n, cap, eos;
} direct_ctx;

static bool direct_deliver(void *ctx, daq_frame *f)
{
    direct_ctx *d = ctx;
    if (!f) {
        d->eos++;
        return false;
    }
    if (d->n == d->cap)
        return false;
    d->held[d->n++] = daq_frame_ref(f);
    return true;
}

static void direct_subscription_exact(void **state)
{
    daq_pool *p = make_pool(16);
    daq_bus *b = daq_bus_create("direct");
    direct_ctx d = {.cap = 3};
    daq_sub_config c;
    daq_sub_config_init(&c);
    c.name = "tap";
    c.queue_depth = 3;
    c.policy = DAQ_SUB_LATEST; /* ignored: a direct subscription drops newest */
    c.deliver = direct_deliver;
    c.deliver_ctx = &d;
    c.decimate = 2;
    daq_sub *s = sub_cfg(b, &c);
    assert_int_equal(daq_bus_frames_bound(b), 4);
    for (unsigned i = 1; i <= 10; i++)
        assert_int_equal(pub(b, p, i, 0), i % 2 == 1 && i <= 5 ? 1 : 0);
    assert_int_equal(d.n, 3);
    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(daq_frame_meta_get(d.held[i])->hw_frame_number, 2 * i + 1);
    daq_sub_stats st = stats_of(s);
    assert_int_equal(st.policy, DAQ_SUB_DROP_NEWEST);
    assert_int_equal(st.offered, 10);
    assert_int_equal(st.skipped_decimate, 5);
    assert_int_equal(st.enqueued, 3);
    assert_int_equal(st.delivered, 3);
    assert_int_equal(st.dropped_full, 2);
    assert_int_equal(st.queued, 0);
    check_consistent(&st);
    daq_frame *f = NULL;
    assert_int_equal(daq_sub_next(s, 0, &f), DAQ_SUB_CLOSED);
    daq_bus_end_stream(b);
    assert_int_equal(d.eos, 1);
    daq_bus_unsubscribe(b, s);
    assert_int_equal(pub(b, p, 11, 0), 0);
    daq_bus_end_stream(b);
    assert_int_equal(d.eos, 1);
    assert_int_equal(pool_metrics(p).in_use, 3); /* the consumer's own references */
    for (unsigned i = 0; i < d.n; i++)
        daq_frame_unref(d.held[i]);
    assert_int_equal(pool_metrics(p).in_use, 0);
    daq_bus_destroy(b);
    daq_pool_destroy(p);
}

static void drop_oldest_exact(void **state)
{
    daq_pool *p = make_pool(16);
    daq_bus *b = daq_bus_create("do");
    daq_sub *s = sub_with(b, "do", DAQ_SUB_DROP_OLDEST, 3);
    for (unsigned i = 1; i <= 10; i++)
        assert_int_equal(pub(b, p, i, 0), 1);
    daq_sub_stats st = stats_of(s);
    assert_int_equal(st.offered, 10);
    assert_int_equal(st.enqueued, 10);
    assert_int_equal(st.dropped_oldest, 7);
    assert_int_equal(st.dropped_full, 0);
    assert_int_equal(st.dropped, 7);
    assert_int_equal(st.queued, 3);
    assert_int_equal(st.queue_high_water, 3);
    assert_int_equal(pool_metrics(p).in_use, 3); /* evicted frames went home */
    /* Take one, publish two more: 9 is evicted, 10 survives behind 11/12. */
    daq_frame *f;
    assert_int_equal(daq_sub_next(s, 0, &f), DAQ_SUB_FRAME);
    assert_int_equal(daq_frame_meta_get(f)->hw_frame_number, 8);
    daq_frame_unref(f);
    pub(b, p, 11, 0);
    pub(b, p, 12, 0);
    EXPECT_SEQ(s, 10, 11, 12);
    st = stats_of(s);
    assert_int_equal(st.dropped_oldest, 8);
    assert_int_equal(st.delivered, 4);
    check_consistent(&st);
    daq_bus_destroy(b);
    assert_int_equal(pool_metrics(p).in_use, 0);
    daq_pool_destroy(p);
}

static void latest_exact(void **state)
{
    daq_pool *p = make_pool(16);
    daq_bus *b = daq_bus_create("latest");
    daq_sub *s = sub_with(b, "latest", DAQ_SUB_LATEST, 8); /* forced to 1 */
    for (unsigned i = 1; i <= 5; i++)
        assert_int_equal(pub(b, p, i, 0), 1);
    daq_sub_stats st = stats_of(s);
    assert_int_equal(st.policy, DAQ_SUB_LATEST);
    assert_int_equal(st.queue_depth, 1);
    assert_int_equal(st.offered, 5);
    assert_int_equal(st.enqueued, 5);
    assert_int_equal(st.dropped_oldest, 4);
    assert_int_equal(st.dropped, 4);
    assert_int_equal(st.queued, 1);
    assert_int_equal(st.queue_high_water, 1);
    assert_int_equal(pool_metrics(p).in_use, 1);
    EXPECT_SEQ(s, 5);
    pub(b, p, 6, 0);
    EXPECT_SEQ(s, 6);
    st = stats_of(s);
    assert_int_equal(st.delivered, 2);
    check_consistent(&st);
    assert_int_equal(daq_bus_frames_bound(b), 2);
    daq_bus_destroy(b);
    daq_pool_destroy(p);
}

static void lossless_timeout_drops(void **state)
{
    daq_pool *p = make_pool(16);
    daq_bus *b = daq_bus_create("ll");
    daq_sub_config c;
    daq_sub_config_init(&c);
    c.name = "ll";
    c.policy = DAQ_SUB_LOSSLESS;
    c.queue_depth = 2;
    c.lossless_timeout_ms = 30;
    daq_sub *s = sub_cfg(b, &c);
    daq_sub *other = sub_with(b, "other", DAQ_SUB_DROP_NEWEST, 8);
    assert_int_equal(pub(b, p, 1, 0), 2);
    assert_int_equal(pub(b, p, 2, 0), 2);
    uint64_t t0 = daq_test_now_ns();
    assert_int_equal(pub(b, p, 3, 0), 1); /* only 'other' took it */
    uint64_t took = daq_test_now_ns() - t0;
    /* Waited the bound, and not much longer (generous slack: shared CI). */
    assert_true(took >= 30 * MS);
    assert_true(took < 30 * MS + 5 * SEC);
    daq_sub_stats st = stats_of(s);
    assert_int_equal(st.offered, 3);
    assert_int_equal(st.enqueued, 2);
    assert_int_equal(st.dropped_timeout, 1);
    assert_int_equal(st.dropped, 1);
    assert_int_equal(st.lossless_waits, 1);
    assert_true(st.lossless_wait_ns >= 30 * MS);
    assert_true(st.lossless_wait_ns <= took);
    check_consistent(&st);
    EXPECT_SEQ(s, 1, 2);
    EXPECT_SEQ(other, 1, 2, 3);
    /* With room, no wait is counted. */
    assert_int_equal(pub(b, p, 4, 0), 2);
    st = stats_of(s);
    assert_int_equal(st.lossless_waits, 1);
    EXPECT_SEQ(s, 4);
    daq_bus_destroy(b);
    assert_int_equal(pool_metrics(p).in_use, 0);
    daq_pool_destroy(p);
}

static void lossless_zero_timeout_drops_at_once(void **state)
{
    daq_pool *p = make_pool(8);
    daq_bus *b = daq_bus_create("ll0");
    daq_sub_config c;
    daq_sub_config_init(&c);
    c.policy = DAQ_SUB_LOSSLESS;
    c.queue_depth = 1;
    c.lossless_timeout_ms = 0;
    daq_sub *s = sub_cfg(b, &c);
    assert_int_equal(pub(b, p, 1, 0), 1);
    assert_int_equal(pub(b, p, 2, 0), 0);
    daq_sub_stats st = stats_of(s);
    assert_string_equal(st.name, "unnamed");
    assert_int_equal(st.dropped_timeout, 1);
    assert_int_equal(st.lossless_waits, 0);
    assert_int_equal(st.lossless_wait_ns, 0);
    EXPECT_SEQ(s, 1);
    daq_bus_destroy(b);
    daq_pool_destroy(p);
}

struct producer {
    daq_bus *b;
    daq_pool *p;
    uint64_t hw;
    unsigned entered;
    uint64_t ns;
};

static void *publish_one(void *arg)
{
    struct producer *pr = arg;
    uint64_t t0 = daq_test_now_ns();
    pr->entered = pub(pr->b, pr->p, pr->hw, 0);
    pr->ns = daq_test_now_ns() - t0;
    return NULL;
}

/* Polls until the producer is inside its LOSSLESS wait on s. */
static void await_lossless_wait(const daq_sub *s, uint64_t waits)
{
    for (int i = 0; i < 30000 && stats_of(s).lossless_waits < waits; i++)
        usleep(1000);
    assert_int_equal(stats_of(s).lossless_waits, waits);
}

static void lossless_woken_by_consumer(void **state)
{
    daq_pool *p = make_pool(8);
    daq_bus *b = daq_bus_create("llw");
    daq_sub_config c;
    daq_sub_config_init(&c);
    c.policy = DAQ_SUB_LOSSLESS;
    c.queue_depth = 1;
    c.lossless_timeout_ms = 60000; /* a timeout would fail the test below */
    daq_sub *s = sub_cfg(b, &c);
    daq_sub *fast = sub_with(b, "fast", DAQ_SUB_DROP_OLDEST, 4);
    assert_int_equal(pub(b, p, 1, 0), 2);
    struct producer pr = {b, p, 2, 0, 0};
    pthread_t t;
    pthread_create(&t, NULL, publish_one, &pr);
    await_lossless_wait(s, 1);
    /* While the producer waits on s, the other subscriber has frame 2
     * already (first pass never waits) and the bus is not locked. */
    daq_frame *f;
    assert_int_equal(daq_sub_next(fast, CONSUMER_TMO, &f), DAQ_SUB_FRAME);
    assert_int_equal(daq_frame_meta_get(f)->hw_frame_number, 1);
    daq_frame_unref(f);
    assert_int_equal(daq_sub_next(fast, CONSUMER_TMO, &f), DAQ_SUB_FRAME);
    assert_int_equal(daq_frame_meta_get(f)->hw_frame_number, 2);
    daq_frame_unref(f);
    assert_int_equal(daq_bus_sub_count(b), 2);
    assert_int_equal(daq_bus_frames_bound(b), 2 + 5);
    /* The consumer takes one: the producer proceeds. */
    assert_int_equal(daq_sub_next(s, 0, &f), DAQ_SUB_FRAME);
    assert_int_equal(daq_frame_meta_get(f)->hw_frame_number, 1);
    daq_frame_unref(f);
    pthread_join(t, NULL);
    assert_int_equal(pr.entered, 2);
    assert_true(pr.ns < 30 * SEC); /* woken by the consumer, not timed out (60 s) */
    daq_sub_stats st = stats_of(s);
    assert_int_equal(st.lossless_waits, 1);
    assert_int_equal(st.dropped_timeout, 0);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.enqueued, 2);
    assert_true(st.lossless_wait_ns > 0 && st.lossless_wait_ns <= pr.ns);
    EXPECT_SEQ(s, 2);
    daq_bus_destroy(b);
    assert_int_equal(pool_metrics(p).in_use, 0);
    daq_pool_destroy(p);
}

/* ---- gates ---------------------------------------------------------------- */

static void decimation_exact(void **state)
{
    daq_pool *p = make_pool(16);
    daq_bus *b = daq_bus_create("dec");
    daq_sub_config c;
    daq_sub_config_init(&c);
    c.queue_depth = 16;
    c.decimate = 3;
    daq_sub *early = sub_cfg(b, &c);
    c.decimate = 1; /* 0 and 1 both mean every frame */
    daq_sub *all1 = sub_cfg(b, &c);
    pub(b, p, 1, 0);
    pub(b, p, 2, 0);
    /* Subscribed after two publishes: counts from its own first frame. */
    c.decimate = 3;
    daq_sub *late = sub_cfg(b, &c);
    for (unsigned i = 3; i <= 10; i++)
        pub(b, p, i, 0);
    /* early: published frames 1, 4, 7, 10; late: its 1st, 4th, 7th = 3, 6, 9. */
    EXPECT_SEQ(early, 1, 4, 7, 10);
    EXPECT_SEQ(late, 3, 6, 9);
    EXPECT_SEQ(all1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
    daq_sub_stats st = stats_of(early);
    assert_int_equal(st.offered, 10);
    assert_int_equal(st.enqueued, 4);
    assert_int_equal(st.skipped_decimate, 6);
    assert_int_equal(st.skipped_rate, 0);
    assert_int_equal(st.dropped, 0); /* gated frames are not drops */
    check_consistent(&st);
    st = stats_of(late);
    assert_int_equal(st.offered, 8);
    assert_int_equal(st.skipped_decimate, 5);
    check_consistent(&st);
    daq_bus_destroy(b);
    daq_pool_destroy(p);
}

static void max_fps_exact(void **state)
{
    daq_pool *p = make_pool(32);
    daq_bus *b = daq_bus_create("fps");
    daq_sub_config c;
    daq_sub_config_init(&c);
    c.queue_depth = 32;
    c.max_fps = 100; /* at least 10 ms apart */
    daq_sub *s = sub_cfg(b, &c);
    const uint64_t t0 = 5 * SEC;
    /* Every 4 ms: 0 4 8 12 16 20 24 28 32 36 -> pass 0, 12, 24, 36. */
    for (unsigned i = 0; i < 10; i++)
        pub(b, p, i + 1, t0 + i * 4 * MS);
    EXPECT_SEQ(s, 1, 4, 7, 10);
    daq_sub_stats st = stats_of(s);
    assert_int_equal(st.offered, 10);
    assert_int_equal(st.skipped_rate, 6);
    assert_int_equal(st.skipped_decimate, 0);
    assert_int_equal(st.dropped, 0);
    check_consistent(&st);
    /* Exactly the interval passes, one ns less does not; the interval is
     * measured from the last frame that passed, not the last offered. */
    uint64_t last = t0 + 36 * MS;
    pub(b, p, 11, last + 10 * MS - 1);
    pub(b, p, 12, last + 10 * MS);
    pub(b, p, 13, last + 20 * MS - 1);
    pub(b, p, 14, last + 20 * MS);
    EXPECT_SEQ(s, 12, 14);
    /* A timestamp before the anchor (a restarted clock) passes and becomes
     * the anchor: 16 is then only 6 ms after 15. */
    uint64_t anchor = last + 20 * MS;
    pub(b, p, 15, anchor - 5 * MS);
    pub(b, p, 16, anchor + 1 * MS);
    pub(b, p, 17, anchor + 5 * MS);
    EXPECT_SEQ(s, 15, 17);
    daq_bus_destroy(b);

    /* Fractional: 3 fps is 333 333 333.3 ns, so "at least" means 333 333 334. */
    b = daq_bus_create("fps3");
    c.max_fps = 3;
    s = sub_cfg(b, &c);
    pub(b, p, 1, t0);
    pub(b, p, 2, t0 + 333333333);
    pub(b, p, 3, t0 + 333333334);
    EXPECT_SEQ(s, 1, 3);
    daq_bus_destroy(b);

    /* Without eof_ns the bus uses CLOCK_MONOTONIC now: at 0.001 fps the
     * second of two quick frames is skipped. */
    b = daq_bus_create("fps-now");
    c.max_fps = 0.001;
    s = sub_cfg(b, &c);
    pub(b, p, 1, 0);
    pub(b, p, 2, 0);
    EXPECT_SEQ(s, 1);
    assert_int_equal(stats_of(s).skipped_rate, 1);
    daq_bus_destroy(b);
    assert_int_equal(pool_metrics(p).in_use, 0);
    daq_pool_destroy(p);
}

static void gates_combined(void **state)
{
    /* Decimation first (by publish count), then max_fps on what is left;
     * a frame gated by rate still used up its decimation turn. */
    daq_pool *p = make_pool(32);
    daq_bus *b = daq_bus_create("both");
    daq_sub_config c;
    daq_sub_config_init(&c);
    c.queue_depth = 32;
    c.decimate = 2;
    c.max_fps = 100;
    daq_sub *s = sub_cfg(b, &c);
    /* Frames every 3 ms; decimation keeps 1,3,5,7,9,11 at 0,6,12,18,24,30 ms;
     * the rate gate keeps 0, 12, 24 ms -> 1, 5, 9. */
    for (unsigned i = 0; i < 12; i++)
        pub(b, p, i + 1, SEC + i * 3 * MS);
    EXPECT_SEQ(s, 1, 5, 9);
    daq_sub_stats st = stats_of(s);
    assert_int_equal(st.offered, 12);
    assert_int_equal(st.skipped_decimate, 6);
    assert_int_equal(st.skipped_rate, 3);
    assert_int_equal(st.enqueued, 3);
    check_consistent(&st);
    daq_bus_destroy(b);
    daq_pool_destroy(p);
}

/* ---- end of stream ---------------------------------------------------------- */

static void eos_order_and_once(void **state)
{
    daq_pool *p = make_pool(32);
    daq_bus *b = daq_bus_create("eos");
    daq_sub *s = sub_with(b, "s", DAQ_SUB_DROP_OLDEST, 4);
    /* On an empty queue: one EOS, then nothing. */
    daq_bus_end_stream(b);
    EXPECT_SEQ(s, EOS);
    /* After the frames queued before it, before the frames after it. */
    pub(b, p, 1, 0);
    pub(b, p, 2, 0);
    daq_bus_end_stream(b);
    pub(b, p, 3, 0);
    EXPECT_SEQ(s, 1, 2, EOS, 3);
    /* Two calls, two EOS; a subscriber that joins later gets none. */
    pub(b, p, 4, 0);
    daq_bus_end_stream(b);
    daq_bus_end_stream(b);
    daq_sub *late = sub_with(b, "late", DAQ_SUB_DROP_OLDEST, 4);
    pub(b, p, 5, 0);
    daq_bus_end_stream(b);
    EXPECT_SEQ(s, 4, EOS, EOS, 5, EOS);
    EXPECT_SEQ(late, 5, EOS);
    daq_sub_stats st = stats_of(s);
    assert_int_equal(st.delivered, 5);
    assert_int_equal(st.dropped, 0);
    check_consistent(&st);
    daq_bus_destroy(b);
    assert_int_equal(pool_metrics(p).in_use, 0);
    daq_pool_destroy(p);
}

static void eos_survives_policies(void **state)
{
    daq_pool *p = make_pool(32);
    daq_bus *b = daq_bus_create("eos-pol");
    daq_sub *old = sub_with(b, "old", DAQ_SUB_DROP_OLDEST, 2);
    daq_sub *newest = sub_with(b, "new", DAQ_SUB_DROP_NEWEST, 2);
    daq_sub *latest = sub_with(b, "latest", DAQ_SUB_LATEST, 1);
    daq_sub_config c;
    daq_sub_config_init(&c);
    c.policy = DAQ_SUB_LOSSLESS;
    c.queue_depth = 2;
    c.lossless_timeout_ms = 0;
    daq_sub *ll = sub_cfg(b, &c);
    pub(b, p, 1, 0);
    pub(b, p, 2, 0);
    daq_bus_end_stream(b); /* every queue but 'latest' is full: no room needed */
    pub(b, p, 3, 0);
    pub(b, p, 4, 0);
    pub(b, p, 5, 0);
    daq_bus_end_stream(b);
    /* drop-oldest evicted 1, 2 and 3; the EOS before 3 is kept, in place. */
    EXPECT_SEQ(old, EOS, 4, 5, EOS);
    /* drop-newest and lossless kept 1, 2; both EOS follow them. */
    EXPECT_SEQ(newest, 1, 2, EOS, EOS);
    EXPECT_SEQ(ll, 1, 2, EOS, EOS);
    /* latest: the EOS after 2 outlived the evictions of 2, 3 and 4. */
    EXPECT_SEQ(latest, EOS, 5, EOS);
    assert_int_equal(stats_of(old).dropped_oldest, 3);
    assert_int_equal(stats_of(newest).dropped_full, 3);
    assert_int_equal(stats_of(ll).dropped_timeout, 3);
    assert_int_equal(stats_of(latest).dropped_oldest, 4);

    /* The EOS between 6 and 7 outlives 6's eviction, and comes first. */
    pub(b, p, 6, 0);
    daq_bus_end_stream(b);
    pub(b, p, 7, 0);
    EXPECT_SEQ(latest, EOS, 7);
    daq_bus_destroy(b);
    assert_int_equal(pool_metrics(p).in_use, 0);
    daq_pool_destroy(p);
}

struct consumer {
    daq_sub *s;
    int64_t timeout_ns;
    int result;
    uint64_t hw;
    uint64_t ns;
};

static void *next_once(void *arg)
{
    struct consumer *c = arg;
    daq_frame *f = NULL;
    uint64_t t0 = daq_test_now_ns();
    c->result = daq_sub_next(c->s, c->timeout_ns, &f);
    c->ns = daq_test_now_ns() - t0;
    if (f) {
        c->hw = daq_frame_meta_get(f)->hw_frame_number;
        daq_frame_unref(f);
    }
    return NULL;
}

static void next_wakes_on_frame_eos_and_times_out(void **state)
{
    daq_pool *p = make_pool(8);
    daq_bus *b = daq_bus_create("wake");
    daq_sub *s = sub_with(b, "s", DAQ_SUB_DROP_OLDEST, 2);
    /* A timeout returns TIMEOUT after at least the timeout. */
    daq_frame *f = (daq_frame *)1;
    uint64_t t0 = daq_test_now_ns();
    assert_int_equal(daq_sub_next(s, 20 * (int64_t)MS, &f), DAQ_SUB_TIMEOUT);
    assert_true(daq_test_now_ns() - t0 >= 20 * MS);
    assert_null(f);
    /* A blocked next is woken by a frame, and by an end of stream. */
    struct consumer c = {s, -1, 99, 0, 0};
    pthread_t t;
    pthread_create(&t, NULL, next_once, &c);
    usleep(20 * 1000);
    pub(b, p, 7, 0);
    pthread_join(t, NULL);
    assert_int_equal(c.result, DAQ_SUB_FRAME);
    assert_int_equal(c.hw, 7);
    c = (struct consumer){s, CONSUMER_TMO, 99, 0, 0};
    pthread_create(&t, NULL, next_once, &c);
    usleep(20 * 1000);
    daq_bus_end_stream(b);
    pthread_join(t, NULL);
    assert_int_equal(c.result, DAQ_SUB_EOS);
    daq_bus_destroy(b);
    daq_pool_destroy(p);
}

/* ---- close and unsubscribe ---------------------------------------------------- */

static void close_wakes_blocked_next(void **state)
{
    daq_pool *p = make_pool(8);
    daq_bus *b = daq_bus_create("close");
    daq_sub *s = sub_with(b, "s", DAQ_SUB_DROP_OLDEST, 2);
    daq_sub *other = sub_with(b, "other", DAQ_SUB_DROP_OLDEST, 2);
    struct consumer c = {s, -1, 99, 0, 0}; /* forever: only close ends it */
    pthread_t t;
    pthread_create(&t, NULL, next_once, &c);
    usleep(30 * 1000);
    daq_sub_close(s);
    pthread_join(t, NULL);
    assert_int_equal(c.result, DAQ_SUB_CLOSED);
    /* Closed now and forever, whatever comes. */
    assert_int_equal(pub(b, p, 1, 0), 1); /* only 'other' */
    daq_bus_end_stream(b);
    daq_frame *f = (daq_frame *)1;
    assert_int_equal(daq_sub_next(s, 0, &f), DAQ_SUB_CLOSED);
    assert_null(f);
    assert_int_equal(daq_sub_next(s, 10 * (int64_t)MS, &f), DAQ_SUB_CLOSED);
    assert_int_equal(daq_sub_next(s, -1, &f), DAQ_SUB_CLOSED);
    daq_sub_close(s); /* twice is fine */
    daq_sub_stats st = stats_of(s);
    assert_int_equal(st.offered, 0);
    assert_int_equal(st.enqueued, 0);
    EXPECT_SEQ(other, 1, EOS);
    /* Still on the bus (and in the bound) until unsubscribed. */
    assert_int_equal(daq_bus_sub_count(b), 2);
    daq_bus_unsubscribe(b, s);
    assert_int_equal(daq_bus_sub_count(b), 1);
    assert_int_equal(daq_bus_frames_bound(b), 3);
    daq_bus_destroy(b);
    assert_int_equal(pool_metrics(p).in_use, 0);
    daq_pool_destroy(p);
}

static void close_wakes_lossless_producer(void **state)
{
    daq_pool *p = make_pool(8);
    daq_bus *b = daq_bus_create("close-ll");
    daq_sub_config c;
    daq_sub_config_init(&c);
    c.policy = DAQ_SUB_LOSSLESS;
    c.queue_depth = 1;
    c.lossless_timeout_ms = 60000;
    daq_sub *s = sub_cfg(b, &c);
    assert_int_equal(pub(b, p, 1, 0), 1);
    struct producer pr = {b, p, 2, 99, 0};
    pthread_t t;
    pthread_create(&t, NULL, publish_one, &pr);
    await_lossless_wait(s, 1);
    daq_sub_close(s);
    pthread_join(t, NULL);
    assert_int_equal(pr.entered, 0);
    assert_true(pr.ns < 30 * SEC); /* woken, not timed out (60 s) */
    daq_sub_stats st = stats_of(s);
    assert_int_equal(st.offered, 1); /* the interrupted frame is no outcome */
    assert_int_equal(st.enqueued, 1);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.dropped_timeout, 0);
    assert_int_equal(st.lossless_waits, 1);
    assert_int_equal(st.queued, 1);
    check_consistent(&st);
    /* Frame 1 is still queued, frame 2 went home; unsubscribe frees 1. */
    assert_int_equal(pool_metrics(p).in_use, 1);
    daq_bus_unsubscribe(b, s);
    assert_int_equal(pool_metrics(p).in_use, 0);
    daq_bus_destroy(b);
    daq_pool_destroy(p);
}

static void interrupt_releases_lossless_producer(void **state)
{
    /* How the engine stops promptly while a lossless consumer is stuck: the
     * waiting publish gives up, the frame counts as a timeout drop, and the
     * subscription keeps working. */
    daq_pool *p = make_pool(8);
    daq_bus *b = daq_bus_create("interrupt");
    daq_sub_config c;
    daq_sub_config_init(&c);
    c.policy = DAQ_SUB_LOSSLESS;
    c.queue_depth = 1;
    c.lossless_timeout_ms = 60000;
    daq_sub *s = sub_cfg(b, &c);
    assert_int_equal(pub(b, p, 1, 0), 1);
    struct producer pr = {b, p, 2, 99, 0};
    pthread_t t;
    pthread_create(&t, NULL, publish_one, &pr);
    await_lossless_wait(s, 1);
    daq_bus_interrupt(b);
    pthread_join(t, NULL);
    assert_int_equal(pr.entered, 0);
    assert_true(pr.ns < 30 * SEC);
    daq_sub_stats st = stats_of(s);
    assert_int_equal(st.dropped_timeout, 1);
    assert_int_equal(st.queued, 1);
    check_consistent(&st);
    daq_frame *f;
    assert_int_equal(daq_sub_next(s, 0, &f), DAQ_SUB_FRAME);
    daq_frame_unref(f);
    assert_int_equal(pub(b, p, 3, 0), 1); /* later publishes are queued as usual */
    daq_bus_unsubscribe(b, s);
    assert_int_equal(pool_metrics(p).in_use, 0);
    daq_bus_destroy(b);
    daq_pool_destroy(p);
}

static void unsubscribe_during_lossless_wait(void **state)
{
    /* The producer holds its own reference on the sub: unsubscribe wakes
     * it and returns; the sub is freed when the producer lets go (ASan
     * checks the order). */
    daq_pool *p = make_pool(8);
    daq_bus *b = daq_bus_create("unsub-ll");
    daq_sub_config c;
    daq_sub_config_init(&c);
    c.policy = DAQ_SUB_LOSSLESS;
    c.queue_depth = 1;
    c.lossless_timeout_ms = 60000;
    daq_sub *s = sub_cfg(b, &c);
    pub(b, p, 1, 0);
    struct producer pr = {b, p, 2, 99, 0};
    pthread_t t;
    pthread_create(&t, NULL, publish_one, &pr);
    await_lossless_wait(s, 1);
    daq_bus_unsubscribe(b, s);
    pthread_join(t, NULL);
    assert_int_equal(pr.entered, 0);
    assert_true(pr.ns < 30 * SEC);
    assert_int_equal(daq_bus_sub_count(b), 0);
    assert_int_equal(pool_metrics(p).in_use, 0);
    daq_bus_destroy(b);
    daq_pool_destroy(p);
}

struct reader {
    daq_sub *s;
    unsigned take;
};

static void *read_some_then_leave(void *arg)
{
    struct reader *r = arg;
    for (unsigned i = 0; i < r->take; i++) {
        daq_frame *f;
        CHECK(daq_sub_next(r->s, CONSUMER_TMO, &f) == DAQ_SUB_FRAME);
        daq_frame_unref(f);
    }
    return NULL;
}

static void unsubscribe_returns_queued_frames(void **state)
{
    daq_pool *p = make_pool(32);
    daq_bus *b = daq_bus_create("unsub");
    daq_sub *s[3] = {
        sub_with(b, "a", DAQ_SUB_DROP_OLDEST, 5),
        sub_with(b, "b", DAQ_SUB_DROP_NEWEST, 7),
        sub_with(b, "c", DAQ_SUB_LATEST, 1),
    };
    /* Consumers take a few frames and go away without closing. */
    pthread_t t[3];
    struct reader r[3] = {{s[0], 3}, {s[1], 2}, {s[2], 1}};
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, read_some_then_leave, &r[i]);
    for (unsigned i = 1; i <= 40; i++) {
        pub(b, p, i, 0);
        if (i < 4)
            usleep(2000); /* let the readers see some */
    }
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&thread_failures), 0);
    daq_pool_metrics m = pool_metrics(p);
    assert_true(m.in_use > 0);
    assert_true(m.in_use <= 5 + 7 + 1);
    assert_int_equal(m.heap_in_use, 0);
    for (int i = 0; i < 3; i++) {
        daq_sub_stats st = stats_of(s[i]);
        assert_int_equal(st.delivered, r[i].take);
        check_consistent(&st);
        daq_bus_unsubscribe(b, s[i]);
    }
    assert_int_equal(daq_bus_sub_count(b), 0);
    assert_int_equal(daq_bus_frames_bound(b), 0);
    m = pool_metrics(p);
    assert_int_equal(m.in_use, 0);
    assert_int_equal(m.heap_in_use, 0);
    /* The bus goes on with no subscribers. */
    assert_int_equal(pub(b, p, 41, 0), 0);
    daq_bus_destroy(b);
    daq_pool_destroy(p);
}

static void destroy_frees_subs_and_frames(void **state)
{
    daq_pool *p = make_pool(32);
    daq_bus *b = daq_bus_create(NULL);
    sub_with(b, "a", DAQ_SUB_DROP_OLDEST, 8);
    sub_with(b, "b", DAQ_SUB_LATEST, 1);
    daq_sub *c = sub_with(b, "c", DAQ_SUB_DROP_NEWEST, 3);
    for (unsigned i = 1; i <= 20; i++)
        pub(b, p, i, 0);
    daq_bus_end_stream(b);
    daq_sub_close(c);
    /* a holds 13..20, b holds 20 too, c holds 1..3. */
    assert_int_equal(pool_metrics(p).in_use, 8 + 3);
    daq_bus_destroy(b); /* LSan: no sub or ring left behind */
    assert_int_equal(pool_metrics(p).in_use, 0);
    daq_bus_destroy(NULL);
    daq_pool_destroy(p);
}

/* ---- the bound, with a real pool ---------------------------------------------- */

/* One subscriber whose consumer either never reads or reads one frame and
 * keeps it: over 1000 publishes the pool never has more than depth (+1)
 * frames out between publishes, and no publish blocks. */
static void bound_case(daq_sub_policy policy, uint32_t depth, bool hold_one)
{
    daq_pool *p = make_pool(64); /* far more than the bound: a breach shows */
    daq_bus *b = daq_bus_create("bound");
    daq_sub *s = sub_with(b, "s", policy, depth);
    uint32_t eff = policy == DAQ_SUB_LATEST ? 1 : depth;
    assert_int_equal(daq_bus_frames_bound(b), eff + 1);
    uint32_t limit = eff + (hold_one ? 1 : 0);
    daq_frame *held = NULL;
    uint64_t worst = 0;
    uint32_t max_in_use = 0;
    for (unsigned i = 1; i <= 1000; i++) {
        daq_frame *f = make_frame(p, i, 0);
        uint64_t t0 = daq_test_now_ns();
        daq_bus_publish(b, f);
        uint64_t ns = daq_test_now_ns() - t0;
        daq_frame_unref(f);
        worst = ns > worst ? ns : worst;
        if (hold_one && !held)
            assert_int_equal(daq_sub_next(s, 0, &held), DAQ_SUB_FRAME);
        daq_pool_metrics m = pool_metrics(p);
        max_in_use = m.in_use > max_in_use ? m.in_use : max_in_use;
        if (m.in_use > limit)
            fail_msg("%s depth %u: %u frames out after publish %u, bound %u",
                     daq_sub_policy_name(policy), depth, m.in_use, i, limit);
        assert_int_equal(m.heap_in_use, 0);
    }
    assert_int_equal(max_in_use, limit); /* the bound is reached, so it is tight */
    assert_true(worst < 1 * SEC);        /* never waited (generous: shared CPUs) */
    assert_true(limit <= daq_bus_frames_bound(b));
    daq_sub_stats st = stats_of(s);
    assert_int_equal(st.offered, 1000);
    assert_int_equal(st.lossless_waits, 0);
    assert_int_equal(st.queue_high_water, eff);
    check_consistent(&st);
    daq_frame_unref(held);
    daq_bus_destroy(b);
    assert_int_equal(pool_metrics(p).in_use, 0);
    daq_pool_destroy(p);
}

static void bound_with_real_pool(void **state)
{
    static const daq_sub_policy policies[] = {DAQ_SUB_DROP_NEWEST, DAQ_SUB_DROP_OLDEST,
                                              DAQ_SUB_LATEST};
    for (size_t i = 0; i < 3; i++)
        for (uint32_t depth = 1; depth <= 8; depth *= 2) {
            bound_case(policies[i], depth, false);
            bound_case(policies[i], depth, true);
        }
}

/* All policies at once, one consumer holding one frame at a time and
 * reading slowly: pool occupancy never exceeds daq_bus_frames_bound. */
static void bound_many_subs_slow_reader(void **state)
{
    daq_pool *p = make_pool(64);
    daq_bus *b = daq_bus_create("bound-all");
    daq_sub *s[3] = {
        sub_with(b, "n", DAQ_SUB_DROP_NEWEST, 3),
        sub_with(b, "o", DAQ_SUB_DROP_OLDEST, 5),
        sub_with(b, "l", DAQ_SUB_LATEST, 1),
    };
    uint32_t bound = daq_bus_frames_bound(b);
    assert_int_equal(bound, 4 + 6 + 2);
    daq_frame *held[3] = {NULL, NULL, NULL};
    uint64_t last[3] = {0, 0, 0};
    for (unsigned i = 1; i <= 1000; i++) {
        pub(b, p, i, 0);
        for (int k = 0; k < 3; k++)
            if (i % (unsigned)(7 + k) == 0) { /* a slow reader, one frame at a time */
                daq_frame_unref(held[k]);
                held[k] = NULL;
                assert_int_equal(daq_sub_next(s[k], 0, &held[k]), DAQ_SUB_FRAME);
                uint64_t hw = daq_frame_meta_get(held[k])->hw_frame_number;
                assert_true(hw > last[k]); /* in order */
                last[k] = hw;
            }
        daq_pool_metrics m = pool_metrics(p);
        assert_true(m.in_use <= bound);
        assert_int_equal(m.heap_in_use, 0);
    }
    for (int k = 0; k < 3; k++)
        daq_frame_unref(held[k]);
    daq_bus_destroy(b);
    assert_int_equal(pool_metrics(p).in_use, 0);
    daq_pool_destroy(p);
}

/* ---- stats ------------------------------------------------------------------ */

static void stats_listing(void **state)
{
    daq_pool *p = make_pool(16);
    daq_bus *b = daq_bus_create("stats");
    assert_int_equal(daq_bus_frames_bound(b), 0);
    assert_int_equal(daq_bus_stats_snapshot(b, NULL, 0), 0);
    daq_sub_config c;
    daq_sub_config_init(&c);
    char longname[100];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    c.name = longname; /* truncated to fit, not overflowing */
    c.queue_depth = 2;
    daq_sub *a = sub_cfg(b, &c);
    daq_sub *bb = sub_with(b, "second", DAQ_SUB_LOSSLESS, 4);
    daq_sub *cc = sub_with(b, "third", DAQ_SUB_DROP_NEWEST, 1);
    assert_int_equal(daq_bus_sub_count(b), 3);
    assert_int_equal(daq_bus_frames_bound(b), 3 + 5 + 2);
    for (unsigned i = 1; i <= 4; i++)
        pub(b, p, i, 0);
    daq_frame *f;
    assert_int_equal(daq_sub_next(bb, 0, &f), DAQ_SUB_FRAME);
    daq_frame_unref(f);
    daq_sub_stats st[4];
    memset(st, 0, sizeof st);
    assert_int_equal(daq_bus_stats_snapshot(b, st, 4), 3);
    assert_int_equal(strlen(st[0].name), sizeof st[0].name - 1);
    assert_string_equal(st[1].name, "second");
    assert_string_equal(st[2].name, "third");
    assert_int_equal(st[0].policy, DAQ_SUB_DROP_OLDEST);
    assert_int_equal(st[1].policy, DAQ_SUB_LOSSLESS);
    assert_int_equal(st[0].dropped_oldest, 2);
    assert_int_equal(st[0].queued, 2);
    assert_int_equal(st[1].delivered, 1);
    assert_int_equal(st[1].queued, 3);
    assert_int_equal(st[1].queue_high_water, 4);
    assert_int_equal(st[1].dropped, 0);
    assert_int_equal(st[2].dropped_full, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(st[i].offered, 4);
        check_consistent(&st[i]);
    }
    /* Fewer slots than subscriptions: only the first ones. */
    memset(st, 0, sizeof st);
    assert_int_equal(daq_bus_stats_snapshot(b, st, 2), 2);
    assert_string_equal(st[1].name, "second");
    assert_int_equal(st[2].offered, 0);
    /* Unsubscribing keeps the others in order. */
    daq_bus_unsubscribe(b, bb);
    assert_int_equal(daq_bus_stats_snapshot(b, st, 4), 2);
    assert_int_equal(st[0].queue_depth, 2);
    assert_string_equal(st[1].name, "third");
    assert_int_equal(daq_bus_frames_bound(b), 3 + 2);
    (void)a;
    (void)cc;
    daq_bus_destroy(b);
    daq_pool_destroy(p);
}

/* ---- no allocation per frame -------------------------------------------------- */

static void no_allocation_per_frame(void **state)
{
    printf("counting with: %s\n", daq_malloc_count_mechanism());
    daq_pool *p = make_pool(64);
    daq_bus *b = daq_bus_create("zero");
    daq_sub *s[6];
    s[0] = sub_with(b, "ll", DAQ_SUB_LOSSLESS, 4);
    s[1] = sub_with(b, "dn", DAQ_SUB_DROP_NEWEST, 2);
    s[2] = sub_with(b, "do", DAQ_SUB_DROP_OLDEST, 2);
    s[3] = sub_with(b, "la", DAQ_SUB_LATEST, 1);
    daq_sub_config c;
    daq_sub_config_init(&c);
    c.decimate = 3;
    c.max_fps = 1000;
    s[4] = sub_cfg(b, &c); /* gates */
    c.decimate = 0;
    c.max_fps = 0.001;
    s[5] = sub_cfg(b, &c); /* gate with no eof_ns: reads the clock */
    uint64_t m0 = 0, t = SEC;
    unsigned delivered = 0;
    for (int round = 0; round < 2; round++) {
        if (round == 1)
            m0 = daq_malloc_count();
        unsigned n = round == 0 ? 200 : 10000;
        for (unsigned i = 0; i < n; i++) {
            daq_frame *f = daq_pool_alloc(p, NULL);
            daq_frame_meta_mut(f)->hw_frame_number = i + 1;
            daq_frame_meta_mut(f)->eof_ns = (i & 7) ? (t += 400000) : 0;
            daq_bus_publish(b, f);
            daq_bus_publish(b, f); /* the same frame twice: full queues each time */
            daq_frame_unref(f);
            if (i % 100 == 0)
                daq_bus_end_stream(b);
            for (int k = 0; k < 6; k++) {
                daq_frame *g;
                int r;
                while ((r = daq_sub_next(s[k], 0, &g)) != DAQ_SUB_TIMEOUT)
                    if (r == DAQ_SUB_FRAME) {
                        daq_frame_unref(g);
                        delivered += round;
                    }
            }
        }
    }
    uint64_t mallocs = daq_malloc_count() - m0;
    printf("10000 publish+next rounds on 6 subscriptions: %u frames delivered, %lu mallocs\n",
           delivered, (unsigned long)mallocs);
    assert_true(delivered > 30000);
    assert_int_equal(mallocs, 0);
    /* The counter does see allocations: subscribing makes some. */
    uint64_t m1 = daq_malloc_count();
    daq_bus_unsubscribe(b, sub_with(b, "probe", DAQ_SUB_DROP_OLDEST, 4));
    assert_true(daq_malloc_count() > m1);
    daq_bus_destroy(b);
    assert_int_equal(pool_metrics(p).in_use, 0);
    daq_pool_destroy(p);
}

/* ---- concurrency storm ---------------------------------------------------------- */

static unsigned storm_frames(void)
{
    const char *e = getenv("DAQ_BUS_STORM_FRAMES");
    return e ? (unsigned)atoi(e) : 20000;
}

#define STORM_EOS_EVERY 1000

struct storm {
    daq_bus *b;
    daq_pool *p;
    _Atomic bool done; /* the producer has finished */
    unsigned frames;
};

/* A consumer: reads until closed (or, with want_eos, until that many end of
 * stream markers), checks order, counts. */
struct cons {
    daq_sub *s;
    unsigned want_eos;    /* 0: until closed */
    unsigned leave_after; /* 0: never; else stop reading after that many frames */
    uint64_t frames, eos, last_hw;
    bool disorder;
};

/* Set once the producer is done: consumers waiting for EOS give up then
 * (a lost EOS fails the test instead of hanging it). */
static _Atomic uint64_t give_up_at_ns;

static void *cons_thread(void *arg)
{
    struct cons *c = arg;
    for (;;) {
        daq_frame *f;
        int r = daq_sub_next(c->s, 50 * (int64_t)MS, &f);
        if (r == DAQ_SUB_CLOSED)
            break;
        uint64_t give_up = atomic_load(&give_up_at_ns);
        if (r == DAQ_SUB_TIMEOUT && give_up && daq_test_now_ns() > give_up)
            break;
        if (r == DAQ_SUB_EOS && ++c->eos == c->want_eos)
            break;
        if (r != DAQ_SUB_FRAME)
            continue;
        uint64_t hw = daq_frame_meta_get(f)->hw_frame_number;
        if (hw <= c->last_hw)
            c->disorder = true;
        c->last_hw = hw;
        if ((c->frames & 15) == 0)
            sched_yield(); /* hold a frame for a while, sometimes */
        daq_frame_unref(f);
        if (++c->frames == c->leave_after)
            break; /* a consumer that goes away without closing */
    }
    return NULL;
}

static void *storm_producer(void *arg)
{
    struct storm *st = arg;
    for (unsigned i = 1; i <= st->frames; i++) {
        daq_frame *f = daq_pool_alloc(st->p, NULL);
        daq_frame_meta_mut(f)->hw_frame_number = i;
        daq_frame_meta_mut(f)->eof_ns = daq_test_now_ns();
        daq_bus_publish(st->b, f);
        daq_frame_unref(f);
        if (i % STORM_EOS_EVERY == 0)
            daq_bus_end_stream(st->b);
    }
    atomic_store(&st->done, true);
    return NULL;
}

/* Subscribes, consumes for a while, closes, checks, unsubscribes; again. */
static void *storm_churner(void *arg)
{
    struct storm *st = arg;
    static const daq_sub_policy policies[] = {DAQ_SUB_LOSSLESS, DAQ_SUB_DROP_NEWEST,
                                              DAQ_SUB_DROP_OLDEST, DAQ_SUB_LATEST};
    unsigned rounds = 0;
    while (!atomic_load(&st->done)) {
        daq_sub_config c;
        daq_sub_config_init(&c);
        c.name = "churn";
        c.policy = policies[rounds % 4];
        c.queue_depth = 1 + rounds % 6;
        c.lossless_timeout_ms = 2;
        c.decimate = rounds % 3;
        c.max_fps = rounds % 5 == 4 ? 20000 : 0;
        char err[128];
        daq_sub *s = daq_bus_subscribe(st->b, &c, err, sizeof err);
        CHECK(s != NULL);
        if (!s)
            break;
        struct cons cn = {.s = s, .leave_after = rounds % 4 == 3 ? 5 : 0};
        pthread_t t;
        bool with_consumer = rounds % 7 != 6; /* sometimes nobody ever reads */
        if (with_consumer)
            pthread_create(&t, NULL, cons_thread, &cn);
        usleep(500 + (rounds % 5) * 400);
        daq_sub_close(s);
        if (with_consumer)
            pthread_join(t, NULL);
        daq_sub_stats ss;
        daq_sub_stats_snapshot(s, &ss);
        CHECK(consistent(&ss));
        CHECK(ss.delivered == cn.frames);
        CHECK(!cn.disorder);
        daq_bus_unsubscribe(st->b, s);
        rounds++;
    }
    return (void *)(uintptr_t)rounds;
}

static void *storm_watcher(void *arg)
{
    struct storm *st = arg;
    daq_sub_stats ss[MAX_SUBS];
    while (!atomic_load(&st->done)) {
        unsigned n = daq_bus_stats_snapshot(st->b, ss, MAX_SUBS);
        for (unsigned i = 0; i < n; i++)
            CHECK(ss[i].queued <= ss[i].queue_depth);
        CHECK(daq_bus_frames_bound(st->b) <= MAX_SUBS * (DAQ_SUB_MAX_DEPTH + 1));
        (void)daq_bus_sub_count(st->b);
        usleep(200);
    }
    return NULL;
}

static void storm_publish_while_subscribing(void **state)
{
    struct storm st = {.b = daq_bus_create("storm"), .p = make_pool(32), .frames = storm_frames()};
    atomic_init(&st.done, false);
    unsigned total_eos = st.frames / STORM_EOS_EVERY + 1;
    /* Two subscribers for the whole run, which must see every EOS. */
    daq_sub_config c;
    daq_sub_config_init(&c);
    c.name = "keep-lossless";
    c.policy = DAQ_SUB_LOSSLESS;
    c.queue_depth = 8;
    c.lossless_timeout_ms = 2;
    struct cons keep[2] = {
        {.s = sub_cfg(st.b, &c), .want_eos = total_eos},
        {.s = sub_with(st.b, "keep-oldest", DAQ_SUB_DROP_OLDEST, 2), .want_eos = total_eos}};
    pthread_t kt[2], prod, churn[2], watch;
    for (int i = 0; i < 2; i++)
        pthread_create(&kt[i], NULL, cons_thread, &keep[i]);
    for (int i = 0; i < 2; i++)
        pthread_create(&churn[i], NULL, storm_churner, &st);
    pthread_create(&watch, NULL, storm_watcher, &st);
    pthread_create(&prod, NULL, storm_producer, &st);
    pthread_join(prod, NULL);
    daq_bus_end_stream(st.b); /* the last EOS */
    atomic_store(&give_up_at_ns, daq_test_now_ns() + 60 * SEC);
    uintptr_t rounds = 0;
    for (int i = 0; i < 2; i++) {
        void *r;
        pthread_join(churn[i], &r);
        rounds += (uintptr_t)r;
    }
    pthread_join(watch, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(kt[i], NULL);
    assert_int_equal(atomic_load(&thread_failures), 0);
    printf("storm: %u frames, %lu churn subscriptions\n", st.frames, (unsigned long)rounds);
    assert_true(rounds > 0);
    for (int i = 0; i < 2; i++) {
        daq_sub_stats ss;
        daq_sub_stats_snapshot(keep[i].s, &ss);
        printf("%s: enqueued %lu delivered %lu dropped %lu waits %lu\n", ss.name,
               (unsigned long)ss.enqueued, (unsigned long)ss.delivered, (unsigned long)ss.dropped,
               (unsigned long)ss.lossless_waits);
        assert_int_equal(keep[i].eos, total_eos); /* every EOS, each once */
        assert_false(keep[i].disorder);
        assert_int_equal(ss.offered, st.frames);
        assert_int_equal(ss.delivered, keep[i].frames);
        assert_int_equal(ss.queued, 0);
        check_consistent(&ss);
        assert_int_equal(daq_sub_next(keep[i].s, 0, &(daq_frame *){NULL}), DAQ_SUB_TIMEOUT);
    }
    assert_int_equal(daq_bus_sub_count(st.b), 2);
    daq_bus_destroy(st.b);
    daq_pool_metrics m = pool_metrics(st.p);
    assert_int_equal(m.in_use, 0);
    assert_int_equal(m.heap_in_use, 0);
    assert_int_equal(m.allocs, st.frames);
    daq_pool_destroy(st.p);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(policy_names_and_parse),
    cmocka_unit_test(config_defaults),
    cmocka_unit_test(invalid_configs),
    cmocka_unit_test(subscription_cap),
    cmocka_unit_test(drop_newest_exact),
    cmocka_unit_test(direct_subscription_exact),
    cmocka_unit_test(drop_oldest_exact),
    cmocka_unit_test(latest_exact),
    cmocka_unit_test(lossless_timeout_drops),
    cmocka_unit_test(lossless_zero_timeout_drops_at_once),
    cmocka_unit_test(lossless_woken_by_consumer),
    cmocka_unit_test(decimation_exact),
    cmocka_unit_test(max_fps_exact),
    cmocka_unit_test(gates_combined),
    cmocka_unit_test(eos_order_and_once),
    cmocka_unit_test(eos_survives_policies),
    cmocka_unit_test(next_wakes_on_frame_eos_and_times_out),
    cmocka_unit_test(close_wakes_blocked_next),
    cmocka_unit_test(close_wakes_lossless_producer),
    cmocka_unit_test(interrupt_releases_lossless_producer),
    cmocka_unit_test(unsubscribe_during_lossless_wait),
    cmocka_unit_test(unsubscribe_returns_queued_frames),
    cmocka_unit_test(destroy_frees_subs_and_frames),
    cmocka_unit_test(bound_with_real_pool),
    cmocka_unit_test(bound_many_subs_slow_reader),
    cmocka_unit_test(stats_listing),
    cmocka_unit_test(no_allocation_per_frame),
    cmocka_unit_test(storm_publish_while_subscribing),
};

DAQ_TEST_MAIN("bus", tests)
