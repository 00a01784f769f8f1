/* tests/unit/test_stream_sched.c - the stream scheduler (src/server/
 * stream_sched.c): no wake is lost, a task's step never runs on two
 * workers at once, timers fire in due order and can be cancelled, an over
 * task gets done exactly once and ignores later wakes.  Real threads, real
 * clock; each case bounded to a few hundred ms.  Labelled concurrency (TSan).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "server/stream_sched.h"
#include "util/clock.h"

#define MS 1000000ull

typedef struct probe {
    daq_sched_task task;
    atomic_int runs, inside, overlap, done;
    atomic_int seen;   /* the last generation the step saw */
    atomic_int gen;    /* bumped by wakers before each wake */
    int over_after;    /* the step says "over" on this run (0: never) */
    uint64_t fired_ns; /* when the step last ran */
    int id;
} probe;

/* Timer case: g_order[k] = id of the k-th probe to fire. */
static atomic_int g_order[4], g_fired;

static bool probe_step(void *arg)
{
    probe *p = arg;
    if (atomic_fetch_add(&p->inside, 1) != 0)
        atomic_fetch_add(&p->overlap, 1);
    atomic_store(&p->seen, atomic_load(&p->gen));
    p->fired_ns = daq_now_ns();
    struct timespec ts = {0, 20000}; /* 20 us: long enough for wakes to land meanwhile */
    nanosleep(&ts, NULL);
    int n = atomic_fetch_add(&p->runs, 1) + 1;
    atomic_fetch_sub(&p->inside, 1);
    return !(p->over_after && n >= p->over_after);
}

static void probe_done(void *arg)
{
    probe *p = arg;
    atomic_fetch_add(&p->done, 1);
}

static void probe_init(probe *p)
{
    *p = (probe){0};
    p->task = (daq_sched_task){.step = probe_step, .done = probe_done, .ctx = p};
}

static bool wait_until(bool (*pred)(probe *), probe *p, uint64_t ms)
{
    uint64_t end = daq_now_ns() + ms * MS;
    while (daq_now_ns() < end) {
        if (pred(p))
            return true;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return pred(p);
}

typedef struct waker {
    daq_stream_sched *s;
    probe *p;
    int n;
} waker;

static void *wake_loop(void *arg)
{
    waker *w = arg;
    for (int i = 0; i < w->n; i++) {
        atomic_fetch_add(&w->p->gen, 1);
        daq_stream_sched_wake(w->s, &w->p->task);
    }
    return NULL;
}

static bool saw_last(probe *p)
{
    return atomic_load(&p->seen) == atomic_load(&p->gen) && atomic_load(&p->inside) == 0;
}

/* 4 threads x 2000 wakes: the step runs at most once per wake, never on
 * two workers at once, and always after the last wake. */
static void no_lost_wake_no_overlap(void **state)
{
    (void)state;
    daq_stream_sched *s = daq_stream_sched_create(4);
    assert_non_null(s);
    probe p;
    probe_init(&p);
    pthread_t t[4];
    waker w = {s, &p, 2000};
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, wake_loop, &w), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_true(wait_until(saw_last, &p, 2000));
    assert_int_equal(atomic_load(&p.overlap), 0);
    assert_true(atomic_load(&p.runs) >= 1 && atomic_load(&p.runs) <= 8000);
    assert_int_equal(atomic_load(&p.done), 0);
    daq_stream_sched_destroy(s);
}

static bool fired_three(probe *p)
{
    (void)p;
    return atomic_load(&g_fired) == 3;
}

static bool timed_step(void *arg)
{
    probe *p = arg;
    p->fired_ns = daq_now_ns();
    int k = atomic_fetch_add(&g_fired, 1);
    if (k < 4)
        atomic_store(&g_order[k], p->id);
    return true;
}

/* Timers set out of order fire in due order, not early; a cancelled one
 * never fires. */
static void timers_in_due_order_and_cancel(void **state)
{
    (void)state;
    daq_stream_sched *s = daq_stream_sched_create(2);
    assert_non_null(s);
    probe p[4];
    for (int i = 0; i < 4; i++) {
        probe_init(&p[i]);
        p[i].task.step = timed_step;
        p[i].id = i;
    }
    uint64_t t0 = daq_now_ns();
    daq_stream_sched_wake_at(s, &p[0].task, t0 + 60 * MS);
    daq_stream_sched_wake_at(s, &p[1].task, t0 + 20 * MS);
    daq_stream_sched_wake_at(s, &p[2].task, t0 + 40 * MS);
    daq_stream_sched_wake_at(s, &p[3].task, t0 + 30 * MS);
    daq_stream_sched_wake_at(s, &p[3].task, 0); /* cancelled */
    assert_true(wait_until(fired_three, &p[0], 2000));
    struct timespec ts = {0, 50 * 1000000}; /* room for a wrong fourth */
    nanosleep(&ts, NULL);
    assert_int_equal(atomic_load(&g_fired), 3);
    assert_int_equal(atomic_load(&g_order[0]), 1);
    assert_int_equal(atomic_load(&g_order[1]), 2);
    assert_int_equal(atomic_load(&g_order[2]), 0);
    assert_true(p[1].fired_ns >= t0 + 20 * MS);
    assert_true(p[0].fired_ns >= t0 + 60 * MS);
    daq_stream_sched_destroy(s);
}

static bool done_once(probe *p)
{
    return atomic_load(&p->done) == 1;
}

/* A step that says "over" gets done once; its timer is cancelled and later
 * wakes are ignored. */
static void over_task_done_once(void **state)
{
    (void)state;
    daq_stream_sched *s = daq_stream_sched_create(2);
    assert_non_null(s);
    probe p;
    probe_init(&p);
    p.over_after = 3;
    for (int i = 0; i < 3; i++) {
        daq_stream_sched_wake(s, &p.task);
        uint64_t end = daq_now_ns() + 500 * MS;
        while (atomic_load(&p.runs) <= i && daq_now_ns() < end)
            ;
    }
    assert_true(wait_until(done_once, &p, 1000));
    daq_stream_sched_wake_at(s, &p.task, daq_now_ns() + 5 * MS);
    daq_stream_sched_wake(s, &p.task);
    struct timespec ts = {0, 30 * 1000000};
    nanosleep(&ts, NULL);
    assert_int_equal(atomic_load(&p.runs), 3);
    assert_int_equal(atomic_load(&p.done), 1);
    daq_stream_sched_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_lost_wake_no_overlap),
        cmocka_unit_test(timers_in_due_order_and_cancel),
        cmocka_unit_test(over_task_done_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
