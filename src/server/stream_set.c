/* server/stream_set.c - see stream_set.h.  Threads: a mutex-guarded list;
 * a thread marks its entry done as its last act, and the entry is joined
 * and freed by the next spawn or by destroy, so no thread is ever detached.
 * Limits: a count and, with a per-host cap, a short list of hosts with
 * their counts (clients are few; a scan of it is cheaper than any index),
 * all under one leaf mutex taken once per stream start and end. */
#include "server/stream_set.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

typedef struct entry {
    pthread_t thread;
    _Atomic bool done;
    char host[64];
    void (*body)(void *);
    void *state;
    struct entry *next;
} entry;

struct daq_stream_set {
    pthread_mutex_t mu;
    entry *head; /* under mu */
};

daq_stream_set *daq_stream_set_create(void)
{
    daq_stream_set *s = calloc(1, sizeof *s);
    if (s)
        pthread_mutex_init(&s->mu, NULL);
    return s;
}

static void *run(void *arg)
{
    entry *e = arg;
    e->body(e->state);
    atomic_store(&e->done, true);
    return NULL;
}

/* Joins and frees finished entries; under mu. */
static void reap(daq_stream_set *s)
{
    for (entry **p = &s->head; *p;) {
        entry *e = *p;
        if (atomic_load(&e->done)) {
            pthread_join(e->thread, NULL);
            *p = e->next;
            free(e);
        } else {
            p = &e->next;
        }
    }
}

int daq_stream_set_spawn(daq_stream_set *s, const char *host, unsigned max_per_host,
                         void (*body)(void *state), void *state, char *err, size_t err_len)
{
    pthread_mutex_lock(&s->mu);
    reap(s);
    unsigned same = 0;
    for (entry *e = s->head; e; e = e->next)
        same += !atomic_load(&e->done) && strcmp(e->host, host) == 0;
    entry *e = NULL;
    int rc = 0;
    if (max_per_host && same >= max_per_host)
        rc = daq_err(err, err_len, "client %s already has %u streams (the most per client)", host,
                     same);
    else if (!(e = calloc(1, sizeof *e)))
        rc = daq_err(err, err_len, "out of memory");
    if (rc == 0) {
        snprintf(e->host, sizeof e->host, "%s", host);
        e->body = body;
        e->state = state;
        if (pthread_create(&e->thread, NULL, run, e) != 0) {
            free(e);
            rc = daq_err(err, err_len, "cannot start a stream thread");
        } else {
            e->next = s->head;
            s->head = e;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void daq_stream_set_destroy(daq_stream_set *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    while (s->head) {
        entry *e = s->head;
        s->head = e->next;
        pthread_join(e->thread, NULL);
        free(e);
    }
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* ---- limits -------------------------------------------------------------------- */

const char *const daq_stream_refusal_names[DAQ_REFUSED_N] = {
    [DAQ_REFUSED_TOTAL] = "streams",
    [DAQ_REFUSED_PER_CLIENT] = "streams_per_client",
    [DAQ_REFUSED_SUBSCRIBERS] = "subscribers",
    [DAQ_REFUSED_MESSAGE] = "message_size",
};

static _Atomic uint64_t g_streams_open, g_subscribers_open, g_refused[DAQ_REFUSED_N], g_stalled;

typedef struct host_count {
    char host[64];
    unsigned n;
    struct host_count *next;
} host_count;

struct daq_stream_limit {
    pthread_mutex_t mu;
    bool streams; /* frame streams (else subscribers): which counters */
    unsigned total, per_host;
    unsigned open;     /* under mu */
    host_count *hosts; /* under mu; per_host only */
};

daq_stream_limit *daq_stream_limit_create(const char *kind, unsigned total, unsigned per_host)
{
    daq_stream_limit *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    pthread_mutex_init(&l->mu, NULL);
    l->streams = strcmp(kind, "streams") == 0;
    l->total = total ? total : 1;
    l->per_host = per_host;
    return l;
}

void daq_stream_limit_destroy(daq_stream_limit *l)
{
    if (!l)
        return;
    while (l->hosts) {
        host_count *h = l->hosts;
        l->hosts = h->next;
        free(h);
    }
    pthread_mutex_destroy(&l->mu);
    free(l);
}

/* host's entry, created at 0 when absent (NULL: out of memory); under mu. */
static host_count *host_find(daq_stream_limit *l, const char *host, bool create)
{
    for (host_count *h = l->hosts; h; h = h->next)
        if (strcmp(h->host, host) == 0)
            return h;
    host_count *h = create ? calloc(1, sizeof *h) : NULL;
    if (h) {
        snprintf(h->host, sizeof h->host, "%s", host);
        h->next = l->hosts;
        l->hosts = h;
    }
    return h;
}

static _Atomic uint64_t *open_counter(const daq_stream_limit *l)
{
    return l->streams ? &g_streams_open : &g_subscribers_open;
}

int daq_stream_limit_enter(daq_stream_limit *l, const char *host, char *err, size_t err_len)
{
    pthread_mutex_lock(&l->mu);
    host_count *h = NULL;
    int rc = 0;
    daq_stream_refusal why = l->streams ? DAQ_REFUSED_TOTAL : DAQ_REFUSED_SUBSCRIBERS;
    if (l->open >= l->total) {
        rc = l->streams ? daq_err(err, err_len,
                                  "StreamFrames: %u streams open, the most in total ([limits] "
                                  "streams = %u)",
                                  l->open, l->total)
                        : daq_err(err, err_len,
                                  "%u subscribers open (parameter changes and health watches), "
                                  "the most in total ([limits] subscribers = %u)",
                                  l->open, l->total);
    } else if (l->per_host && !(h = host_find(l, host, true))) {
        rc = daq_err(err, err_len, "out of memory");
    } else if (h && h->n >= l->per_host) {
        why = DAQ_REFUSED_PER_CLIENT;
        rc = daq_err(err, err_len,
                     "client %s already has %u streams (the most per client, [limits] "
                     "streams_per_client = %u)",
                     host, h->n, l->per_host);
    } else {
        l->open++;
        if (h)
            h->n++;
        atomic_fetch_add(open_counter(l), 1);
    }
    pthread_mutex_unlock(&l->mu);
    if (rc)
        daq_stream_count_refused(why);
    return rc;
}

void daq_stream_limit_leave(daq_stream_limit *l, const char *host)
{
    pthread_mutex_lock(&l->mu);
    host_count *h = l->per_host ? host_find(l, host, false) : NULL;
    if (h && h->n)
        h->n--;
    if (l->open)
        l->open--;
    atomic_fetch_sub(open_counter(l), 1);
    pthread_mutex_unlock(&l->mu);
}

unsigned daq_stream_limit_open(const daq_stream_limit *cl)
{
    daq_stream_limit *l = (daq_stream_limit *)cl; /* the mutex is not part of the value */
    pthread_mutex_lock(&l->mu);
    unsigned n = l->open;
    pthread_mutex_unlock(&l->mu);
    return n;
}

void daq_stream_counts_snapshot(daq_stream_counts *out)
{
    out->streams_open = atomic_load(&g_streams_open);
    out->subscribers_open = atomic_load(&g_subscribers_open);
    for (int i = 0; i < DAQ_REFUSED_N; i++)
        out->refused[i] = atomic_load(&g_refused[i]);
    out->stalled = atomic_load(&g_stalled);
}

void daq_stream_count_refused(daq_stream_refusal why)
{
    atomic_fetch_add(&g_refused[why], 1);
}

void daq_stream_count_stalled(void)
{
    atomic_fetch_add(&g_stalled, 1);
}
