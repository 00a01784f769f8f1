/* server/rpc_workers.c - the unary handlers' thread pool: two lanes, one
 * lock, one condition variable.  See server/rpc_workers.h for the model and
 * its numbers.
 *
 * Why lanes and not one FIFO: before this pool every unary handler ran on
 * the completion-queue thread, and StartStream of an 8192 x 4096 camera
 * held every other RPC, stream and scrape for its 0.5 s prefault (16.9 s at
 * 8192 x 8192 with a 32-frame ring).  A plain pool would only move the
 * problem: as many slow starts as threads and the reads wait again.  The
 * reserved thread keeps reads answered whatever the control calls do;
 * control calls of different cameras still run side by side (threads - 1
 * of them).
 *
 * Lock order: w->mu is a leaf; nothing is called under it.
 */
#define _GNU_SOURCE
#include "server/rpc_workers.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

enum { LANE_READ, LANE_CONTROL, LANES };

typedef struct lane {
    daq_rpc_call *q[DAQ_RPC_QUEUE_MAX]; /* ring of calls, oldest at head */
    uint32_t head, n;
} lane;

struct daq_rpc_workers {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a call was queued, a control call ended, or stop */
    lane lanes[LANES];
    uint32_t queued;          /* sum of the lanes' n: at most DAQ_RPC_QUEUE_MAX */
    uint32_t control_running; /* at most n_threads - 1 */
    bool stopping;
    daq_rpc_run_fn run;
    uint32_t n_threads;
    pthread_t *threads;
};

static void lane_push(lane *l, daq_rpc_call *c)
{
    l->q[(l->head + l->n) % DAQ_RPC_QUEUE_MAX] = c;
    l->n++;
}

static daq_rpc_call *lane_pop(lane *l)
{
    daq_rpc_call *c = l->q[l->head];
    l->head = (l->head + 1) % DAQ_RPC_QUEUE_MAX;
    l->n--;
    return c;
}

/* Under mu: the next call this thread may run (*control says which lane),
 * or NULL when there is none it may take. */
static daq_rpc_call *take_locked(daq_rpc_workers *w, bool *control)
{
    if (w->lanes[LANE_READ].n) {
        *control = false;
        w->queued--;
        return lane_pop(&w->lanes[LANE_READ]);
    }
    if (w->lanes[LANE_CONTROL].n && w->control_running + 1 < w->n_threads) {
        *control = true;
        w->control_running++;
        w->queued--;
        return lane_pop(&w->lanes[LANE_CONTROL]);
    }
    return NULL;
}

static void *worker_main(void *arg)
{
    daq_rpc_workers *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        bool control = false;
        daq_rpc_call *c = take_locked(w, &control);
        if (!c) {
            if (w->stopping && w->queued == 0)
                break;
            pthread_cond_wait(&w->cv, &w->mu);
            continue;
        }
        pthread_mutex_unlock(&w->mu);
        w->run(c);
        daq_rpc_call_release(c); /* the queue's reference */
        pthread_mutex_lock(&w->mu);
        if (control) {
            w->control_running--;
            pthread_cond_broadcast(&w->cv); /* a held-back control call may go now */
        }
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

daq_rpc_workers *daq_rpc_workers_start(uint32_t n, daq_rpc_run_fn run, char *err, size_t err_len)
{
    if (n < 2)
        n = 2;
    daq_rpc_workers *w = calloc(1, sizeof *w);
    pthread_t *t = calloc(n, sizeof *t);
    if (!w || !t) {
        free(w);
        free(t);
        daq_err(err, err_len, "rpc: out of memory for %u worker threads", n);
        return NULL;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->run = run;
    w->threads = t;
    for (uint32_t i = 0; i < n; i++) {
        if (pthread_create(&t[i], NULL, worker_main, w) != 0)
            break;
        char name[16]; /* the kernel's limit; i < 64 (the config's bound on workers) */
        snprintf(name, sizeof name, "daq-rpc-w%u", i % 100);
        pthread_setname_np(t[i], name);
        w->n_threads = i + 1;
    }
    if (w->n_threads < 2) {
        daq_err(err, err_len, "rpc: cannot start the worker threads (%u of %u started)",
                w->n_threads, n);
        daq_rpc_workers_stop(w);
        return NULL;
    }
    return w;
}

bool daq_rpc_workers_submit(daq_rpc_workers *w, daq_rpc_call *c)
{
    bool control = c->method && c->method->m.audit;
    pthread_mutex_lock(&w->mu);
    bool ok = w->queued < DAQ_RPC_QUEUE_MAX;
    if (ok) {
        atomic_fetch_add(&c->refs, 1); /* the queue's, dropped by the worker */
        lane_push(&w->lanes[control ? LANE_CONTROL : LANE_READ], c);
        w->queued++;
        pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return ok;
}

uint32_t daq_rpc_workers_queued(daq_rpc_workers *w)
{
    pthread_mutex_lock(&w->mu);
    uint32_t n = w->queued;
    pthread_mutex_unlock(&w->mu);
    return n;
}

void daq_rpc_workers_stop(daq_rpc_workers *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (uint32_t i = 0; i < w->n_threads; i++)
        pthread_join(w->threads[i], NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w->threads);
    free(w);
}
