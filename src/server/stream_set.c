/* server/stream_set.c - see stream_set.h.  A mutex-guarded list; a thread
 * marks its entry done as its last act, and the entry is joined and freed
 * by the next spawn or by destroy, so no thread is ever detached. */
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
