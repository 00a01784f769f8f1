/* server/stream_sched.h - a few threads that serve every streaming call.
 *
 * StreamFrames and StreamParameterChanges used to be one thread each, each
 * waking every 200 ms: 3,000 subscribers were 3,000 threads and 31-41 % of
 * a core when idle.  A stream is now a task: a non-blocking step function
 * run by one of K worker threads (K = online cores, at most 4) when
 * something happened -- a frame entered its bus queue (the bus's notify
 * hook), its call became writable or closed (the rpc ready hook), a change
 * was queued for it, or a timer it set fell due.  An idle stream costs no
 * CPU and no thread.  See stream_sched.c for the states.
 *
 * Ownership: the owner embeds a daq_sched_task in its stream state and
 * keeps it alive until the scheduler calls done(ctx) (it frees it there).
 * The scheduler never touches a task after done returns.  Destroying the
 * scheduler joins its workers; every task must be over by then (the gRPC
 * server, stopped first, closes every call).
 */
#ifndef DAQ_SERVER_STREAM_SCHED_H
#define DAQ_SERVER_STREAM_SCHED_H

#include <stdbool.h>
#include <stdint.h>

typedef struct daq_stream_sched daq_stream_sched;

/* One step: must not block (sends with timeout 0, queues polled with 0).
 * true: stay, to be run again at the next wake or timer; false: the task is
 * over -- the scheduler cancels its timer, then calls done(ctx), after
 * which the owner must see to it that nothing wakes it again (done removes
 * the hooks that call daq_stream_sched_wake, then frees). */
typedef bool (*daq_sched_step_fn)(void *ctx);
typedef void (*daq_sched_done_fn)(void *ctx);

/* Embedded in its owner; fill step, done, ctx and leave the rest zero. */
typedef struct daq_sched_task {
    daq_sched_step_fn step;
    daq_sched_done_fn done;
    void *ctx;
    /* The scheduler's, under its mutex. */
    struct daq_sched_task *run_next;        /* run queue */
    struct daq_sched_task *t_prev, *t_next; /* timer list, by due time */
    uint64_t due_ns;                        /* 0: no timer */
    unsigned char state;                    /* idle, queued, running, over */
    bool again;                             /* woken while running */
} daq_sched_task;

/* workers 0: online cores, at most 4.  NULL when out of memory or no thread
 * can be started. */
daq_stream_sched *daq_stream_sched_create(unsigned workers);
void daq_stream_sched_destroy(daq_stream_sched *s); /* NULL ok; joins */

unsigned daq_stream_sched_workers(const daq_stream_sched *s);

/* Runs t's step soon: O(1), takes only the scheduler's mutex (a leaf lock),
 * never waits -- callable from the acquisition thread's bus notify and the
 * rpc layer's ready hook while they hold their own locks.  A wake while
 * the step runs makes it run once more; wakes of an over task are ignored. */
void daq_stream_sched_wake(daq_stream_sched *s, daq_sched_task *t);

/* Wakes t at CLOCK_MONOTONIC due_ns (replacing its previous timer; 0
 * cancels).  Timers of one duration are appended at the list's tail, so
 * re-arming the same timeout is O(1). */
void daq_stream_sched_wake_at(daq_stream_sched *s, daq_sched_task *t, uint64_t due_ns);

#endif
