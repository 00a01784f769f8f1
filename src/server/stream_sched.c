/* server/stream_sched.c - see stream_sched.h.
 *
 * One mutex guards the run queue (FIFO), the timer list (sorted by due
 * time) and every task's state:
 *
 *   IDLE --wake--> QUEUED --worker--> RUNNING --step true--> IDLE, or QUEUED
 *                                             if woken meanwhile ("again")
 *                                     RUNNING --step false--> OVER (done)
 *
 * So a task's step never runs on two workers at once, a wake is never lost
 * (it either queues the task or marks the running step to be repeated) and
 * a wake costs a lock, a few stores and at most one condvar signal.  Steps
 * run without the mutex.  Workers sleep on one condvar until the run queue
 * has work or the earliest timer falls due; with no task queued and no
 * timer set they sleep without a deadline, so idle streams cost nothing.
 *
 * Why K = min(cores, 4): a step is short (take the newest frame, get its
 * shared encoding, hand it to gRPC without waiting; or pack a parameter
 * change), so more workers than cores only add switches; 4 keeps one slow
 * encoding (LZ4 of a 32 MiB frame, ~20 ms) from delaying every other
 * stream.  Measured with 3,000 subscribers and 100 streams (hardening.
 * streams): 22 threads in daqd idle, 25 streaming, 0.0 % CPU idle; before,
 * 3,000 subscribers alone were 3,019 threads and 46 % of a core.
 */
#define _GNU_SOURCE
#include "server/stream_sched.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "util/clock.h"

#define MAX_WORKERS 4u

enum { T_IDLE = 0, T_QUEUED, T_RUNNING, T_OVER };

struct daq_stream_sched {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    daq_sched_task *run_head, *run_tail;
    daq_sched_task *t_head, *t_tail; /* timers, earliest first */
    bool stop;
    unsigned n;
    pthread_t threads[MAX_WORKERS];
};

/* ---- lists (under mu) -------------------------------------------------------------- */

static void run_push(daq_stream_sched *s, daq_sched_task *t)
{
    t->state = T_QUEUED;
    t->run_next = NULL;
    if (s->run_tail)
        s->run_tail->run_next = t;
    else
        s->run_head = t;
    s->run_tail = t;
    pthread_cond_signal(&s->cv);
}

static daq_sched_task *run_pop(daq_stream_sched *s)
{
    daq_sched_task *t = s->run_head;
    if (t && !(s->run_head = t->run_next))
        s->run_tail = NULL;
    return t;
}

static void timer_unlink(daq_stream_sched *s, daq_sched_task *t)
{
    if (!t->due_ns)
        return;
    if (t->t_prev)
        t->t_prev->t_next = t->t_next;
    else
        s->t_head = t->t_next;
    if (t->t_next)
        t->t_next->t_prev = t->t_prev;
    else
        s->t_tail = t->t_prev;
    t->t_prev = t->t_next = NULL;
    t->due_ns = 0;
}

/* Sorted insert, searching from the tail: a re-armed timeout of the same
 * length as the others lands there at once. */
static void timer_link(daq_stream_sched *s, daq_sched_task *t, uint64_t due)
{
    daq_sched_task *after = s->t_tail;
    while (after && after->due_ns > due)
        after = after->t_prev;
    t->due_ns = due;
    t->t_prev = after;
    t->t_next = after ? after->t_next : s->t_head;
    if (t->t_next)
        t->t_next->t_prev = t;
    else
        s->t_tail = t;
    if (after)
        after->t_next = t;
    else
        s->t_head = t;
}

static void wake_locked(daq_stream_sched *s, daq_sched_task *t)
{
    if (t->state == T_IDLE)
        run_push(s, t);
    else if (t->state == T_RUNNING)
        t->again = true;
}

/* ---- workers ---------------------------------------------------------------------- */

/* Moves the timers that fell due to the run queue; under mu. */
static void fire_due(daq_stream_sched *s, uint64_t now)
{
    while (s->t_head && s->t_head->due_ns <= now) {
        daq_sched_task *t = s->t_head;
        timer_unlink(s, t);
        wake_locked(s, t);
    }
}

static void *worker(void *arg)
{
    daq_stream_sched *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        fire_due(s, daq_now_ns());
        daq_sched_task *t = run_pop(s);
        if (!t) {
            if (s->t_head)
                daq_cond_wait_until(&s->cv, &s->mu, s->t_head->due_ns);
            else
                pthread_cond_wait(&s->cv, &s->mu);
            continue;
        }
        t->state = T_RUNNING;
        t->again = false;
        pthread_mutex_unlock(&s->mu);
        bool keep = t->step(t->ctx);
        pthread_mutex_lock(&s->mu);
        if (keep) {
            t->state = T_IDLE;
            if (t->again)
                run_push(s, t);
            continue;
        }
        t->state = T_OVER; /* later wakes are ignored until done removes their sources */
        timer_unlink(s, t);
        pthread_mutex_unlock(&s->mu);
        t->done(t->ctx);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- the API ---------------------------------------------------------------------- */

daq_stream_sched *daq_stream_sched_create(unsigned workers)
{
    if (workers == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        workers = cores < 1 ? 1u : (unsigned)cores;
    }
    if (workers > MAX_WORKERS)
        workers = MAX_WORKERS;
    daq_stream_sched *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    pthread_mutex_init(&s->mu, NULL);
    daq_cond_init_monotonic(&s->cv);
    for (; s->n < workers; s->n++)
        if (pthread_create(&s->threads[s->n], NULL, worker, s) != 0)
            break;
    if (s->n == 0) {
        daq_stream_sched_destroy(s);
        return NULL;
    }
    return s;
}

void daq_stream_sched_destroy(daq_stream_sched *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    for (unsigned i = 0; i < s->n; i++)
        pthread_join(s->threads[i], NULL);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

unsigned daq_stream_sched_workers(const daq_stream_sched *s)
{
    return s->n;
}

void daq_stream_sched_wake(daq_stream_sched *s, daq_sched_task *t)
{
    pthread_mutex_lock(&s->mu);
    wake_locked(s, t);
    pthread_mutex_unlock(&s->mu);
}

void daq_stream_sched_wake_at(daq_stream_sched *s, daq_sched_task *t, uint64_t due_ns)
{
    pthread_mutex_lock(&s->mu);
    if (t->state != T_OVER) {
        bool was_first = s->t_head == t;
        timer_unlink(s, t);
        if (due_ns) {
            timer_link(s, t, due_ns);
            if (s->t_head == t && !was_first)
                pthread_cond_signal(&s->cv); /* earlier than what a worker sleeps towards */
        }
    }
    pthread_mutex_unlock(&s->mu);
}
