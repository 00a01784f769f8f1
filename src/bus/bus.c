/* bus/bus.c - fan-out of one producer's frames to bounded per-consumer
 * queues.
 *
 * Locking.  The bus has one mutex guarding a small fixed array of
 * subscription pointers (at most BUS_MAX_SUBS, in subscription order).
 * daq_bus_publish copies that array onto its stack under the lock and takes
 * a reference on every subscription in it, then releases the bus lock and
 * delivers to each subscription under that subscription's own mutex.  So
 * the bus lock is held for a few loads and atomic increments per frame,
 * never while waiting, and subscribe/unsubscribe only ever contend with
 * that copy.  Lock order is bus -> sub -> pool (an evicted frame's last
 * unref returns its slot); nothing takes them the other way round.
 *
 * Refcounted subscriptions.  A daq_sub is referenced by the bus's array and
 * by every publish (or end_stream, stats) that copied it.  Unsubscribe
 * removes it from the array, closes it, drops its queued frames and drops
 * the array's reference; a publisher still holding the sub finds it closed
 * and does nothing; the last reference frees it.  So unsubscribe is safe
 * during a publish and never waits for one.
 *
 * Queues.  Each subscription has a ring of queue_depth entries allocated at
 * subscribe time; publish and next only move pointers and counters, so the
 * frame path allocates nothing.  A queue entry owns one frame reference.
 *
 * Delivery is two passes.  The first offers the frame to every subscription
 * without waiting: gates, then enqueue or the full-queue policy.  Only a
 * LOSSLESS subscription whose queue is full is left for the second pass,
 * which waits for room on each in turn (condvar on CLOCK_MONOTONIC, up to
 * lossless_timeout_ms).  Non-lossless consumers therefore get every frame
 * at once even while a lossless one stalls the producer.
 *
 * End of stream.  An EOS marker is not a queue entry (it must neither be
 * dropped by a policy nor take room).  Each entry carries eos_before, the
 * number of EOS markers that come before its frame, and eos_tail counts the
 * markers after the last queued frame.  next returns those EOS before the
 * frame; an evicted frame hands its count on to the next entry (or to
 * eos_tail), so eviction never loses or reorders a marker.
 *
 * Close marks a subscription closed under its mutex and wakes both of its
 * condvars: a consumer in next returns DAQ_SUB_CLOSED, a producer in a
 * LOSSLESS wait gives up on it, publishes skip it.  Its queued frames stay
 * (counted in `queued`) until unsubscribe drops them.  With several full
 * LOSSLESS subscriptions the producer waits up to each one's bound in turn.
 *
 * Notify.  A subscription may carry a hook called under its mutex after
 * each enqueue and EOS (a consumer without a thread, e.g. a gRPC stream on
 * the stream scheduler, learns it has work); closed subscriptions take no
 * frames, so the hook is never called after close.  It only takes leaf
 * locks (the scheduler's), so the order stays bus -> sub -> leaf.
 *
 * Gates, per subscription, decimation first.  Decimation by N passes the
 * 1st, (1+N)th, (1+2N)th ... frame published while subscribed (counted
 * from subscription, whatever the other gates or the queue then do).  The
 * max_fps gate passes a frame whose timestamp (eof_ns, or CLOCK_MONOTONIC
 * now when that is 0) is at least ceil(1e9 / max_fps) ns after that of the
 * last frame that passed it; the first always passes, and so does one
 * stamped earlier than the last (a clock or stream restart re-anchors the
 * gate instead of closing it).  A frame that passed is the new anchor even
 * if the queue policy then drops it.
 *
 * Counting.  For every frame offered to a subscription exactly one outcome
 * is counted together with `offered`: enqueued, dropped_full,
 * dropped_timeout, skipped_decimate or skipped_rate.  dropped_oldest counts
 * entries evicted later, so enqueued = delivered + dropped_oldest + queued.
 * A LOSSLESS wait ended by daq_sub_close is no outcome: the sub was closed
 * before it could take the frame, and it is not counted as offered.
 */
#include "daq/bus.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/clock.h"
#include "util/err.h"
#include "util/fatal.h"

/* Most subscriptions on one bus; publish keeps a copy of them on its stack
 * (2.9 KiB).  [limits] streams allows up to 256 gRPC streams, all of which
 * may watch one camera, plus sinks and the recorder. */
#define BUS_MAX_SUBS 320u

typedef struct entry {
    daq_frame *f;        /* owned reference */
    uint32_t eos_before; /* EOS markers to return before f */
} entry;

struct daq_sub {
    _Atomic uint32_t refs;              /* the bus's array + publishers holding a copy */
    const _Atomic uint64_t *interrupts; /* the bus's daq_bus_interrupt count */
    pthread_mutex_t mu;
    pthread_cond_t not_empty; /* consumers wait here */
    pthread_cond_t not_full;  /* a LOSSLESS producer waits here */

    /* Immutable after subscribe. */
    entry *ring;
    uint32_t depth;
    daq_sub_policy policy;
    uint32_t lossless_timeout_ms;
    uint32_t decimate;    /* 1 = every frame */
    uint64_t interval_ns; /* max_fps gate; 0 = none */
    char name[64];
    void (*notify)(void *ctx); /* under mu, after a frame or EOS is queued */
    void *notify_ctx;
    bool (*deliver)(void *ctx, daq_frame *f); /* direct: under mu, instead of a queue */
    void *deliver_ctx;

    /* Under mu. */
    uint32_t head, count;
    uint32_t eos_tail; /* EOS markers after the last queued frame */
    bool closed;
    uint32_t consumers_waiting, producers_waiting;
    uint32_t decimate_left; /* offers to skip before the next one passes */
    bool rate_armed;        /* a frame has passed the max_fps gate */
    uint64_t rate_last_ns;  /* its timestamp */
    daq_sub_stats st;       /* counters; name, policy, depth, queued filled on read */
};

struct daq_bus {
    pthread_mutex_t mu;
    _Atomic uint64_t interrupts; /* bumped by daq_bus_interrupt */
    unsigned n;                  /* under mu */
    daq_sub *subs[BUS_MAX_SUBS]; /* under mu; subs[0..n) */
    char name[48];
};

/* ---- small helpers ------------------------------------------------------ */

static void copy_name(char *dst, size_t cap, const char *src, const char *dflt)
{
    snprintf(dst, cap, "%s", src && *src ? src : dflt);
}

/* ---- names and config ----------------------------------------------------- */

const char *const daq_sub_policy_names[] = {
    [DAQ_SUB_LOSSLESS] = "lossless",
    [DAQ_SUB_DROP_NEWEST] = "drop-newest",
    [DAQ_SUB_DROP_OLDEST] = "drop-oldest",
    [DAQ_SUB_LATEST] = "latest",
    NULL,
};

const char *daq_sub_policy_name(daq_sub_policy p)
{
    return (unsigned)p <= DAQ_SUB_LATEST ? daq_sub_policy_names[p] : "?";
}

/* a equals b with '_' in a also matching '-' in b. */
static bool name_eq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (*a != *b && !(*a == '_' && *b == '-'))
            return false;
    return *a == *b;
}

int daq_sub_policy_parse(const char *s, daq_sub_policy *out)
{
    for (int i = DAQ_SUB_LOSSLESS; i <= DAQ_SUB_LATEST; i++)
        if (s && name_eq(s, daq_sub_policy_names[i])) {
            *out = (daq_sub_policy)i;
            return 0;
        }
    return -1;
}

void daq_sub_config_init(daq_sub_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->policy = DAQ_SUB_DROP_OLDEST;
    cfg->queue_depth = 4;
    cfg->lossless_timeout_ms = 100;
}

/* Checks cfg; on success fills the derived depth and rate interval. */
static bool config_ok(const daq_sub_config *cfg, uint32_t *depth, uint64_t *interval_ns, char *err,
                      size_t err_len)
{
    if (!cfg) {
        daq_err(err, err_len, "subscribe: no config");
        return false;
    }
    if ((unsigned)cfg->policy > DAQ_SUB_LATEST) {
        daq_err(err, err_len, "subscribe '%s': unknown policy %d", cfg->name ? cfg->name : "",
                (int)cfg->policy);
        return false;
    }
    *depth = cfg->policy == DAQ_SUB_LATEST && !cfg->deliver ? 1 : cfg->queue_depth;
    if (*depth < 1 || *depth > DAQ_SUB_MAX_DEPTH) {
        daq_err(err, err_len, "subscribe '%s': queue_depth %u is not in 1..%u",
                cfg->name ? cfg->name : "", cfg->queue_depth, DAQ_SUB_MAX_DEPTH);
        return false;
    }
    if (!(cfg->max_fps >= 0)) { /* also NaN */
        daq_err(err, err_len, "subscribe '%s': max_fps %g is not >= 0", cfg->name ? cfg->name : "",
                cfg->max_fps);
        return false;
    }
    /* A frame passes the gate at least 1e9/max_fps ns after the last one
     * that passed: rounded up, so "at least" holds for fractional values. */
    double iv = cfg->max_fps > 0 ? ceil(1e9 / cfg->max_fps) : 0;
    *interval_ns = iv >= 1.8e19 ? UINT64_MAX : (uint64_t)iv;
    return true;
}

/* ---- bus ------------------------------------------------------------------ */

daq_bus *daq_bus_create(const char *name)
{
    daq_bus *bus = calloc(1, sizeof *bus);
    if (!bus)
        return NULL;
    pthread_mutex_init(&bus->mu, NULL);
    copy_name(bus->name, sizeof bus->name, name, "bus");
    return bus;
}

/* Copies the current subscriptions into out, each with a reference the
 * caller drops with sub_release.  Returns how many. */
static unsigned hold_all(const daq_bus *cbus, daq_sub **out)
{
    daq_bus *bus = (daq_bus *)cbus; /* the mutex is not part of the value */
    pthread_mutex_lock(&bus->mu);
    unsigned n = bus->n;
    for (unsigned i = 0; i < n; i++) {
        out[i] = bus->subs[i];
        atomic_fetch_add_explicit(&out[i]->refs, 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&bus->mu);
    return n;
}

static void sub_free(daq_sub *s);

static void sub_release(daq_sub *s)
{
    if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
        sub_free(s);
}

/* ---- one subscription's queue (all under s->mu) ---------------------------- */

static void enqueue_locked(daq_sub *s, daq_frame *f)
{
    uint32_t i = s->head + s->count;
    if (i >= s->depth)
        i -= s->depth;
    s->ring[i].f = daq_frame_ref(f);
    s->ring[i].eos_before = s->eos_tail;
    s->eos_tail = 0;
    s->count++;
    s->st.offered++;
    s->st.enqueued++;
    if (s->count > s->st.queue_high_water)
        s->st.queue_high_water = s->count;
    if (s->consumers_waiting)
        pthread_cond_signal(&s->not_empty);
    if (s->notify)
        s->notify(s->notify_ctx);
}

/* Removes the head entry; its EOS markers move to whatever now comes first.
 * Returns the entry's frame reference, now the caller's. */
static daq_frame *pop_locked(daq_sub *s)
{
    entry e = s->ring[s->head];
    if (++s->head == s->depth)
        s->head = 0;
    if (--s->count)
        s->ring[s->head].eos_before += e.eos_before;
    else
        s->eos_tail += e.eos_before;
    if (s->producers_waiting)
        pthread_cond_signal(&s->not_full);
    return e.f;
}

static void drain_locked(daq_sub *s)
{
    while (s->count)
        daq_frame_unref(pop_locked(s));
    s->eos_tail = 0;
}

/* Decimation, then max_fps.  false: gated, counted as the offer's outcome.
 * *ts is the frame's timestamp, read on first need (0 = not yet). */
static bool gates_pass_locked(daq_sub *s, const daq_frame *f, uint64_t *ts)
{
    if (s->decimate > 1) {
        if (s->decimate_left) {
            s->decimate_left--;
            s->st.offered++;
            s->st.skipped_decimate++;
            return false;
        }
        s->decimate_left = s->decimate - 1;
    }
    if (s->interval_ns) {
        if (!*ts) {
            *ts = daq_frame_meta_get(f)->eof_ns;
            if (!*ts)
                *ts = daq_now_ns();
        }
        /* A timestamp before the last pass (a clock or stream restart)
         * passes and re-anchors the gate rather than closing it. */
        if (s->rate_armed && *ts >= s->rate_last_ns && *ts - s->rate_last_ns < s->interval_ns) {
            s->st.offered++;
            s->st.skipped_rate++;
            return false;
        }
        s->rate_armed = true;
        s->rate_last_ns = *ts;
    }
    return true;
}

enum offer { OFFER_OUT = 0, OFFER_IN = 1, OFFER_WAIT = 2 };

/* First pass: never waits.  OFFER_WAIT: a LOSSLESS queue is full and the
 * frame passed the gates; sub_offer_wait decides. */
static enum offer sub_offer(daq_sub *s, daq_frame *f, uint64_t *ts)
{
    enum offer r = OFFER_OUT;
    pthread_mutex_lock(&s->mu);
    if (s->closed || !gates_pass_locked(s, f, ts)) {
        r = OFFER_OUT;
    } else if (s->deliver) {
        s->st.offered++;
        if (s->deliver(s->deliver_ctx, f)) {
            s->st.enqueued++;
            s->st.delivered++;
            r = OFFER_IN;
        } else {
            s->st.dropped_full++;
        }
    } else if (s->count < s->depth) {
        enqueue_locked(s, f);
        r = OFFER_IN;
    } else {
        switch (s->policy) {
        case DAQ_SUB_DROP_NEWEST:
            s->st.offered++;
            s->st.dropped_full++;
            break;
        case DAQ_SUB_DROP_OLDEST:
        case DAQ_SUB_LATEST:
            /* Unref before the new frame enters: the queue never holds
             * more than depth frames, not even for an instant. */
            daq_frame_unref(pop_locked(s));
            s->st.dropped_oldest++;
            enqueue_locked(s, f);
            r = OFFER_IN;
            break;
        case DAQ_SUB_LOSSLESS:
            if (s->lossless_timeout_ms) {
                r = OFFER_WAIT;
            } else {
                s->st.offered++;
                s->st.dropped_timeout++;
            }
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return r;
}

/* Second pass, LOSSLESS only: waits up to the timeout for room. */
static enum offer sub_offer_wait(daq_sub *s, daq_frame *f)
{
    enum offer r = OFFER_OUT;
    pthread_mutex_lock(&s->mu);
    if (!s->closed && s->count >= s->depth) {
        uint64_t t0 = daq_now_ns();
        struct timespec dl = daq_deadline_after((int64_t)s->lossless_timeout_ms * 1000000);
        uint64_t gen = atomic_load(s->interrupts);
        s->st.lossless_waits++;
        s->producers_waiting++;
        while (!s->closed && s->count >= s->depth && atomic_load(s->interrupts) == gen)
            if (pthread_cond_timedwait(&s->not_full, &s->mu, &dl) == ETIMEDOUT)
                break;
        s->producers_waiting--;
        s->st.lossless_wait_ns += daq_now_ns() - t0;
    }
    if (s->closed) {
        r = OFFER_OUT; /* closed while we waited: no outcome, not a drop */
    } else if (s->count < s->depth) {
        enqueue_locked(s, f);
        r = OFFER_IN;
    } else {
        s->st.offered++;
        s->st.dropped_timeout++;
    }
    pthread_mutex_unlock(&s->mu);
    return r;
}

/* ---- subscribe / unsubscribe ---------------------------------------------- */

daq_sub *daq_bus_subscribe(daq_bus *bus, const daq_sub_config *cfg, char *err, size_t err_len)
{
    uint32_t depth;
    uint64_t interval_ns;
    if (!config_ok(cfg, &depth, &interval_ns, err, err_len))
        return NULL;
    daq_sub *s = calloc(1, sizeof *s);
    entry *ring = calloc(depth, sizeof *ring);
    if (!s || !ring) {
        free(s);
        free(ring);
        daq_err(err, err_len, "subscribe '%s': out of memory", cfg->name ? cfg->name : "");
        return NULL;
    }
    atomic_init(&s->refs, 1); /* the bus's array */
    s->interrupts = &bus->interrupts;
    pthread_mutex_init(&s->mu, NULL);
    daq_cond_init_monotonic(&s->not_empty);
    daq_cond_init_monotonic(&s->not_full);
    s->ring = ring;
    s->depth = depth;
    s->policy = cfg->policy;
    s->lossless_timeout_ms = cfg->lossless_timeout_ms;
    s->decimate = cfg->decimate > 1 ? cfg->decimate : 1;
    s->interval_ns = interval_ns;
    copy_name(s->name, sizeof s->name, cfg->name, "unnamed");
    s->notify = cfg->notify;
    s->notify_ctx = cfg->notify_ctx;
    s->deliver = cfg->deliver;
    s->deliver_ctx = cfg->deliver_ctx;
    if (s->deliver)
        s->policy = DAQ_SUB_DROP_NEWEST; /* what a refusal is */

    pthread_mutex_lock(&bus->mu);
    bool full = bus->n == BUS_MAX_SUBS;
    if (!full)
        bus->subs[bus->n++] = s;
    pthread_mutex_unlock(&bus->mu);
    if (full) {
        daq_err(err, err_len, "subscribe '%s': bus '%s' already has %u subscriptions, the most",
                s->name, bus->name, BUS_MAX_SUBS);
        sub_free(s);
        return NULL;
    }
    return s;
}

static void sub_free(daq_sub *s)
{
    drain_locked(s); /* last reference: nobody else can lock it */
    pthread_cond_destroy(&s->not_full);
    pthread_cond_destroy(&s->not_empty);
    pthread_mutex_destroy(&s->mu);
    free(s->ring);
    free(s);
}

/* Closes s and drops its queued frames, then the array's reference. */
static void sub_retire(daq_sub *s)
{
    pthread_mutex_lock(&s->mu);
    s->closed = true;
    drain_locked(s);
    pthread_cond_broadcast(&s->not_empty);
    pthread_cond_broadcast(&s->not_full);
    pthread_mutex_unlock(&s->mu);
    sub_release(s);
}

void daq_bus_unsubscribe(daq_bus *bus, daq_sub *sub)
{
    bool found = false;
    pthread_mutex_lock(&bus->mu);
    for (unsigned i = 0; i < bus->n; i++)
        if (bus->subs[i] == sub) {
            memmove(&bus->subs[i], &bus->subs[i + 1], (bus->n - i - 1) * sizeof bus->subs[0]);
            bus->n--;
            found = true;
            break;
        }
    pthread_mutex_unlock(&bus->mu);
    if (!found)
        daq_fatal("unsubscribe: %p is not a subscription of bus '%s'", (void *)sub, bus->name);
    sub_retire(sub);
}

void daq_bus_destroy(daq_bus *bus)
{
    if (!bus)
        return;
    for (unsigned i = 0; i < bus->n; i++)
        sub_retire(bus->subs[i]);
    pthread_mutex_destroy(&bus->mu);
    free(bus);
}

/* ---- producer side -------------------------------------------------------- */

unsigned daq_bus_publish(daq_bus *bus, daq_frame *f)
{
    daq_sub *subs[BUS_MAX_SUBS];
    unsigned char must_wait[BUS_MAX_SUBS];
    unsigned n = hold_all(bus, subs), entered = 0, waits = 0;
    uint64_t ts = 0;
    for (unsigned i = 0; i < n; i++) {
        enum offer r = sub_offer(subs[i], f, &ts);
        entered += r == OFFER_IN;
        must_wait[i] = r == OFFER_WAIT;
        waits += must_wait[i];
    }
    for (unsigned i = 0; i < n && waits; i++)
        if (must_wait[i]) {
            entered += sub_offer_wait(subs[i], f) == OFFER_IN;
            waits--;
        }
    for (unsigned i = 0; i < n; i++)
        sub_release(subs[i]);
    return entered;
}

void daq_bus_interrupt(daq_bus *bus)
{
    atomic_fetch_add(&bus->interrupts, 1);
    daq_sub *subs[BUS_MAX_SUBS];
    unsigned n = hold_all(bus, subs);
    for (unsigned i = 0; i < n; i++) {
        /* Under the sub's mutex: a waiter either saw the new count before it
         * slept or is asleep now and gets this broadcast. */
        pthread_mutex_lock(&subs[i]->mu);
        pthread_cond_broadcast(&subs[i]->not_full);
        pthread_mutex_unlock(&subs[i]->mu);
        sub_release(subs[i]);
    }
}

void daq_bus_end_stream(daq_bus *bus)
{
    daq_sub *subs[BUS_MAX_SUBS];
    unsigned n = hold_all(bus, subs);
    for (unsigned i = 0; i < n; i++) {
        daq_sub *s = subs[i];
        pthread_mutex_lock(&s->mu);
        if (!s->closed && s->deliver) {
            s->deliver(s->deliver_ctx, NULL);
        } else if (!s->closed) {
            s->eos_tail++;
            if (s->consumers_waiting)
                pthread_cond_signal(&s->not_empty);
            if (s->notify)
                s->notify(s->notify_ctx);
        }
        pthread_mutex_unlock(&s->mu);
        sub_release(s);
    }
}

uint32_t daq_bus_frames_bound(const daq_bus *cbus)
{
    daq_bus *bus = (daq_bus *)cbus;
    uint32_t sum = 0;
    pthread_mutex_lock(&bus->mu);
    for (unsigned i = 0; i < bus->n; i++)
        sum += bus->subs[i]->depth + 1;
    pthread_mutex_unlock(&bus->mu);
    return sum;
}

unsigned daq_bus_sub_count(const daq_bus *cbus)
{
    daq_bus *bus = (daq_bus *)cbus;
    pthread_mutex_lock(&bus->mu);
    unsigned n = bus->n;
    pthread_mutex_unlock(&bus->mu);
    return n;
}

/* ---- consumer side -------------------------------------------------------- */

/* One result without waiting; DAQ_SUB_TIMEOUT when there is nothing. */
static int take_locked(daq_sub *s, daq_frame **out)
{
    if (s->closed || s->deliver)
        return DAQ_SUB_CLOSED;
    if (s->count) {
        entry *e = &s->ring[s->head];
        if (e->eos_before) {
            e->eos_before--;
            return DAQ_SUB_EOS;
        }
        *out = pop_locked(s);
        s->st.delivered++;
        return DAQ_SUB_FRAME;
    }
    if (s->eos_tail) {
        s->eos_tail--;
        return DAQ_SUB_EOS;
    }
    return DAQ_SUB_TIMEOUT;
}

int daq_sub_next(daq_sub *s, int64_t timeout_ns, daq_frame **out)
{
    *out = NULL;
    struct timespec dl;
    bool have_dl = false;
    pthread_mutex_lock(&s->mu);
    int r;
    while ((r = take_locked(s, out)) == DAQ_SUB_TIMEOUT && timeout_ns != 0) {
        int rc;
        s->consumers_waiting++;
        if (timeout_ns < 0) {
            rc = pthread_cond_wait(&s->not_empty, &s->mu);
        } else {
            if (!have_dl) {
                dl = daq_deadline_after(timeout_ns);
                have_dl = true;
            }
            rc = pthread_cond_timedwait(&s->not_empty, &s->mu, &dl);
        }
        s->consumers_waiting--;
        if (rc == ETIMEDOUT) {
            r = take_locked(s, out);
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return r;
}

void daq_sub_close(daq_sub *s)
{
    pthread_mutex_lock(&s->mu);
    s->closed = true;
    pthread_cond_broadcast(&s->not_empty);
    pthread_cond_broadcast(&s->not_full);
    pthread_mutex_unlock(&s->mu);
}

/* ---- stats ---------------------------------------------------------------- */

void daq_sub_stats_snapshot(const daq_sub *cs, daq_sub_stats *out)
{
    daq_sub *s = (daq_sub *)cs; /* the mutex is not part of the value */
    pthread_mutex_lock(&s->mu);
    *out = s->st;
    out->queued = s->count;
    pthread_mutex_unlock(&s->mu);
    memcpy(out->name, s->name, sizeof out->name);
    out->policy = s->policy;
    out->queue_depth = s->depth;
    out->dropped = out->dropped_full + out->dropped_oldest + out->dropped_timeout;
}

unsigned daq_bus_stats_snapshot(const daq_bus *bus, daq_sub_stats *out, unsigned max)
{
    daq_sub *subs[BUS_MAX_SUBS];
    unsigned n = hold_all(bus, subs);
    for (unsigned i = 0; i < n; i++) {
        if (i < max)
            daq_sub_stats_snapshot(subs[i], &out[i]);
        sub_release(subs[i]);
    }
    return n < max ? n : max;
}
