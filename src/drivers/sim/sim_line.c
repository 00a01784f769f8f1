/* drivers/sim/sim_line.c - the simulated trigger line (ADR 0011 decision 4):
 * a process-wide registry of named lines that sim cameras listen to, so
 * several cameras expose on the same pulses and their frames match by
 * trigger_index.
 *
 * A line is a pulse counter and a list of listeners.  A pulse (from
 * daq_sim_line_pulse, or from the line's generator) takes the next number
 * and the time, and queues (number, time) into every listener's trigger
 * queue under that camera's mutex, as an edge reaches every camera on a
 * cable at once; the camera's sensor thread takes it from there (its
 * faults, its exposure timing).  Pushing instead of having each sensor
 * wait on the line's condition variable keeps one wait per sensor (its own
 * queue, which stop also wakes), and a pulse that arrives mid-exposure
 * waits in the queue (up to SIM_TRIGQ_CAP) instead of being lost.
 *
 * Lines are created on first use and never freed: a few hundred bytes
 * each, and a pointer a camera or test holds can never dangle.  So that no
 * client can grow the registry without bound (trigger.line is any string),
 * there are at most SIM_LINES_MAX (256) lines per process; a start on a
 * 257th is refused.  Lookup is a list walk under one registry mutex.
 *
 * The generator: one thread per line at most, running while at least one
 * listener has trigger.line_hz > 0, at the fastest such rate (absolute
 * deadlines, re-anchored when more than a period late, so it never bursts;
 * at most 100 kHz, the parameter's range).  The last such listener to stop
 * joins it, outside the line's mutex; a listener starting meanwhile waits
 * for that join to finish before starting a new one (states NONE ->
 * RUNNING -> STOPPING -> NONE), so there is never more than one thread and
 * every one is joined.
 *
 * Locks: registry mutex alone; line mutex, then a listener's mu (the
 * pulse).  Nothing takes a line's mutex while holding a camera's mu.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daq/sim.h"
#include "drivers/sim/sim_impl.h"
#include "util/err.h"

enum gen_state { GEN_NONE = 0, GEN_RUNNING, GEN_STOPPING };

struct sim_line {
    struct sim_line *next; /* registry list, under reg_mu */
    char name[DAQ_PARAM_STR_MAX];
    pthread_mutex_t mu;
    pthread_cond_t cv; /* generator deadlines, listener changes, generator state */
    /* Under mu. */
    uint64_t pulses; /* numbered 1, 2, ... since the line was created */
    sim *listeners;  /* linked through sim.line_next */
    unsigned n_listeners;
    enum gen_state gen;
    bool gen_stop;
    pthread_t gen_thread;
};

#define SIM_LINES_MAX 256

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static sim_line *lines;
static unsigned n_lines; /* under reg_mu */

static sim_line *find_locked(const char *name)
{
    for (sim_line *l = lines; l; l = l->next)
        if (strcmp(l->name, name) == 0)
            return l;
    return NULL;
}

static sim_line *line_find(const char *name)
{
    pthread_mutex_lock(&reg_mu);
    sim_line *l = find_locked(name);
    pthread_mutex_unlock(&reg_mu);
    return l;
}

sim_line *sim_line_get(const char *name)
{
    pthread_mutex_lock(&reg_mu);
    sim_line *l = find_locked(name);
    if (!l && n_lines < SIM_LINES_MAX && (l = calloc(1, sizeof *l)) != NULL) {
        n_lines++;
        snprintf(l->name, sizeof l->name, "%s", name);
        pthread_mutex_init(&l->mu, NULL);
        daq_cond_init_monotonic(&l->cv);
        l->next = lines;
        lines = l;
    }
    pthread_mutex_unlock(&reg_mu);
    return l;
}

/* One pulse now: its number, queued into every listener.  Under l->mu. */
static uint64_t fire_locked(sim_line *l)
{
    uint64_t n = ++l->pulses;
    uint64_t t = daq_now_ns();
    for (sim *s = l->listeners; s; s = s->line_next) {
        pthread_mutex_lock(&s->mu);
        if (!s->seq_started && !sim_trig_push(s, n, t))
            atomic_fetch_add_explicit(&s->trigger_overflows, 1, memory_order_relaxed);
        pthread_mutex_unlock(&s->mu);
    }
    return n;
}

/* The generator's rate: the fastest listener's line_hz (0: none).  Under mu. */
static double gen_hz(const sim_line *l)
{
    double hz = 0;
    for (const sim *s = l->listeners; s; s = s->line_next)
        if (s->line_hz > hz)
            hz = s->line_hz;
    return hz;
}

static void *gen_main(void *arg)
{
    sim_line *l = arg;
    pthread_mutex_lock(&l->mu);
    uint64_t next = 0;
    while (!l->gen_stop) {
        double hz = gen_hz(l);
        if (hz <= 0) { /* only between the last such listener leaving and its join */
            pthread_cond_wait(&l->cv, &l->mu);
            continue;
        }
        uint64_t period = (uint64_t)llround(1e9 / hz);
        uint64_t now = daq_now_ns();
        if (next == 0 || now > next + period) /* first pulse, or far behind: re-anchor */
            next = now + period;
        if (now < next) {
            daq_cond_wait_until(&l->cv, &l->mu, next);
            continue; /* re-check stop and the rate */
        }
        fire_locked(l);
        next += period;
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

int sim_line_listen(sim_line *l, sim *s, double hz, char *err, size_t err_len)
{
    pthread_mutex_lock(&l->mu);
    s->line_hz = hz;
    s->line_next = l->listeners;
    l->listeners = s;
    l->n_listeners++;
    pthread_cond_broadcast(&l->cv); /* a running generator re-reads the rate */
    if (hz > 0) {
        while (l->gen == GEN_STOPPING) /* another camera is joining the old one */
            pthread_cond_wait(&l->cv, &l->mu);
        if (l->gen == GEN_NONE) {
            l->gen_stop = false;
            int rc = pthread_create(&l->gen_thread, NULL, gen_main, l);
            if (rc != 0) {
                pthread_mutex_unlock(&l->mu);
                sim_line_unlisten(l, s);
                return daq_err(err, err_len, "sim: cannot start the generator of line '%s': %s",
                               l->name, strerror(rc));
            }
            l->gen = GEN_RUNNING;
        }
    }
    pthread_mutex_unlock(&l->mu);
    return 0;
}

void sim_line_unlisten(sim_line *l, sim *s)
{
    pthread_mutex_lock(&l->mu);
    for (sim **p = &l->listeners; *p; p = &(*p)->line_next) {
        if (*p == s) {
            *p = s->line_next;
            l->n_listeners--;
            break;
        }
    }
    s->line_next = NULL;
    bool join = l->gen == GEN_RUNNING && gen_hz(l) <= 0;
    if (join) {
        l->gen = GEN_STOPPING;
        l->gen_stop = true;
    }
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    if (!join)
        return;
    pthread_join(l->gen_thread, NULL);
    pthread_mutex_lock(&l->mu);
    l->gen = GEN_NONE;
    pthread_cond_broadcast(&l->cv); /* a listener waiting to start a new one */
    pthread_mutex_unlock(&l->mu);
}

uint64_t daq_sim_line_pulse(const char *name)
{
    sim_line *l = sim_line_get(name ? name : "");
    if (!l)
        return 0;
    pthread_mutex_lock(&l->mu);
    uint64_t n = fire_locked(l);
    pthread_mutex_unlock(&l->mu);
    return n;
}

unsigned daq_sim_line_listeners(const char *name)
{
    sim_line *l = line_find(name ? name : "");
    if (!l)
        return 0;
    pthread_mutex_lock(&l->mu);
    unsigned n = l->n_listeners;
    pthread_mutex_unlock(&l->mu);
    return n;
}
