/* drivers/sim/sim_sensor.c - the simulated sensor: one thread per stream
 * that paces frames, injects faults, writes frames into the ring and fires
 * the end-of-frame callback, like the DMA and callback threads of an SDK.
 *
 * Timing.  realistic: frame k's beginning of frame is on an absolute grid,
 * BOF(k) = BOF(k-1) + period with period = max(1/frame_rate, exposure), and
 * the frame is ready at EOF = BOF + exposure.  Deadlines are absolute so
 * the rate does not drift with scheduling delays; a frame more than one
 * period late is produced at once and the grid re-anchored there, so the
 * sensor never bursts to catch up.  chaos: the same grid plus a seeded
 * jitter of up to +-50 % of the period per frame (not accumulated).
 * instant: no waiting at all; BOF = EOF = now.  LIVE changes of exposure or
 * rate wake the sensor, which re-plans the frame it is waiting for.
 *
 * Faults are drawn from a splitmix64 stream seeded by fault.seed, a fixed
 * number of draws per frame whatever happens to the frame, so a seed gives
 * the same fault sequence whatever the timing or the reader does.  Jitter
 * has its own stream for the same reason.  Number faults (jump, backwards)
 * change the hardware number of every frame, written or lost; duplicate
 * and zero faults are counted only for frames that reach the ring, so the
 * counters equal what a reader can observe.
 *
 * Buffer modes, at the moment a frame is ready: the target is always slot
 * write_index % R (frames are written round-robin, write_index counts
 * written frames).  no_overwrite: a target still announced or locked means
 * the ring is full (FIFO reading frees slots in write order); the frame is
 * lost, its number consumed, overruns++ -- except that the instant sensor
 * waits for the slot instead (a source paced by its reader).  overwrite: a
 * target locked by the reader loses the frame (overruns++); a target still
 * announced loses its old frame instead (its entries leave the FIFO, and
 * overruns++ if it had not been delivered).
 *
 * The callback only appends (slot, info) to the ready FIFO, bumps the
 * atomic pending count and signals, as a PVCAM EOF handler should.
 *
 * Trigger modes (ADR 0011).  Instead of its own grid the sensor takes
 * triggers from its queue (software triggers, line pulses: sim_impl.h),
 * waiting on sensor_cv, which stop signals.  Per trigger taken it draws two
 * numbers from a trigger-fault stream (seeded by fault.seed, separate from
 * the per-frame one so trigger faults do not shift the others): a miss
 * (fault.trigger_miss_every: the Nth, 2Nth ... trigger taken; or
 * fault.trigger_miss_prob) produces nothing, a double
 * (fault.trigger_double_prob, not in the *_first modes) produces 2 x
 * frames_per_trigger frames with the same trigger_index.  The first frame
 * of a trigger begins at max(trigger time, previous BOF + period) -- a
 * camera cannot start a new exposure before its period is over, so queued
 * triggers are exposed back to back -- and the following ones a period
 * apart; the *_first modes go on that way for ever after their first
 * trigger.  external_level is external_edge with one frame per pulse (the
 * sim has no line level to expose during: a pulse is one exposure of
 * exposure_ms), whatever frames_per_trigger says.
 * fault.trigger_jitter_us delays each frame's BOF by a uniform 0..J us
 * (own stream again), and bof_ns, eof_ns and the camera clock all show it.
 * Triggered frames use realistic timing under chaos too (the jitter fault
 * is the trigger modes' chaos); instant timing produces a trigger's frames
 * at once, without jitter.
 *
 * The camera clock: cam(t) = t0 + clock.offset_ns + (t - t0) * (1 +
 * clock.drift_ppm * 1e-6), t0 = CLOCK_MONOTONIC at the stream's start (see
 * daq/sim.h), applied to every frame's BOF and EOF in every mode.
 */
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "drivers/sim/sim_impl.h"
#include "util/fatal.h"

typedef struct sensor {
    sim *s;
    const sim_settings *c;
    uint64_t fault_rng, jitter_rng;
    uint64_t prev_n;    /* last hardware number, 0 before the first */
    uint64_t generated; /* frames produced (written or lost) */
    bool stalled;
    bool have_last;
    uint64_t t0, last_nominal; /* grid of BOFs */
    /* Trigger modes. */
    daq_trigger_config trig;
    uint64_t trig_rng, tjit_rng;
    uint64_t taken;      /* triggers taken from the queue (fault.trigger_miss_every counts these) */
    uint64_t index;      /* trigger_index of the frames being produced */
    uint64_t burst_left; /* frames still due for it (the *_first modes: unused) */
    bool free_run;       /* a *_first sequence started */
    bool burst_first;    /* the next frame is the first of its trigger */
    uint64_t trig_t;     /* when that trigger arrived */
} sensor;

typedef struct frame_time {
    uint64_t bof, eof, exposure;
    uint64_t trigger_index;
} frame_time;

static uint64_t exposure_ns(sim *s)
{
    return (uint64_t)llround(atomic_load(&s->exposure_ms) * 1e6);
}

static uint64_t period_ns(sim *s, uint64_t exposure)
{
    uint64_t p = (uint64_t)llround(1e9 / atomic_load(&s->frame_rate_hz));
    return p > exposure ? p : exposure;
}

/* Waits until the next frame is due; false when stopped. */
static bool pace(sensor *t, frame_time *ft)
{
    sim *s = t->s;
    if (t->c->timing == SIM_TIMING_INSTANT) {
        ft->bof = ft->eof = daq_now_ns();
        ft->exposure = exposure_ns(s);
        return true;
    }
    double jit = t->c->timing == SIM_TIMING_CHAOS ? sim_rand_unit(&t->jitter_rng) - 0.5 : 0.0;
    uint64_t exp, period, nominal, now;
    int64_t off;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        if (s->stop_req) {
            pthread_mutex_unlock(&s->mu);
            return false;
        }
        exp = exposure_ns(s);
        period = period_ns(s, exp);
        nominal = t->have_last ? t->last_nominal + period : t->t0;
        off = (int64_t)(jit * (double)period);
        if (off < 0 && (uint64_t)-off > nominal)
            off = -(int64_t)nominal;
        ft->bof = (uint64_t)((int64_t)nominal + off);
        ft->eof = ft->bof + exp;
        now = daq_now_ns();
        if (now >= ft->eof)
            break;
        daq_cond_wait_until(&s->sensor_cv, &s->mu, ft->eof);
    }
    pthread_mutex_unlock(&s->mu);
    if (now > ft->eof + period) { /* far behind: this frame now, the grid from here */
        ft->eof = now;
        ft->bof = now - exp;
        nominal = (uint64_t)((int64_t)ft->bof - off);
    }
    ft->exposure = exp;
    t->last_nominal = nominal;
    t->have_last = true;
    return true;
}

/* Under mu: takes the oldest queued trigger, waiting for one; false when
 * stopped. */
static bool take_trigger(sim *s, sim_trig *out)
{
    while (s->trigq_len == 0 && !s->stop_req)
        pthread_cond_wait(&s->sensor_cv, &s->mu);
    if (s->stop_req)
        return false;
    *out = s->trigq[s->trigq_head];
    s->trigq_head = (s->trigq_head + 1) % SIM_TRIGQ_CAP;
    s->trigq_len--;
    return true;
}

bool sim_trig_push(sim *s, uint64_t index, uint64_t t_ns)
{
    if (s->trigq_len == SIM_TRIGQ_CAP)
        return false;
    s->trigq[(s->trigq_head + s->trigq_len) % SIM_TRIGQ_CAP] = (sim_trig){index, t_ns};
    s->trigq_len++;
    pthread_cond_broadcast(&s->sensor_cv);
    return true;
}

/* Trigger modes: takes triggers until one is to be answered (drawing its
 * faults), unless frames of the current one are still due.  false when
 * stopped. */
static bool next_trigger(sensor *t)
{
    sim *s = t->s;
    const sim_settings *c = t->c;
    bool first = daq_trigger_mode_is_first(t->trig.mode);
    while (!t->free_run && t->burst_left == 0) {
        sim_trig tr;
        pthread_mutex_lock(&s->mu);
        bool ok = take_trigger(s, &tr);
        pthread_mutex_unlock(&s->mu);
        if (!ok)
            return false;
        t->taken++;
        double u_miss = sim_rand_unit(&t->trig_rng);
        double u_double = sim_rand_unit(&t->trig_rng);
        bool miss = u_miss < c->trigger_miss_prob ||
                    (c->trigger_miss_every > 0 && t->taken % (uint64_t)c->trigger_miss_every == 0);
        if (miss) {
            atomic_fetch_add_explicit(&s->trigger_miss, 1, memory_order_relaxed);
            continue;
        }
        t->index = tr.index;
        t->trig_t = tr.t_ns;
        t->burst_first = true;
        if (first) {
            t->free_run = true;
            pthread_mutex_lock(&s->mu);
            s->seq_started = true; /* further triggers are ignored, queued ones dropped */
            s->trigq_len = 0;
            pthread_mutex_unlock(&s->mu);
        } else {
            bool twice = u_double < c->trigger_double_prob;
            if (twice)
                atomic_fetch_add_explicit(&s->trigger_double, 1, memory_order_relaxed);
            uint64_t fpt = t->trig.mode == DAQ_TRIGGER_EXTERNAL_LEVEL
                               ? 1 /* a pulse is one level period: one exposure */
                               : t->trig.frames_per_trigger;
            t->burst_left = (twice ? 2u : 1u) * fpt;
        }
    }
    return true;
}

/* Trigger modes: waits until the next frame of the current trigger is
 * exposed; false when stopped. */
static bool pace_triggered(sensor *t, frame_time *ft)
{
    sim *s = t->s;
    if (!next_trigger(t))
        return false;
    if (t->burst_left)
        t->burst_left--;
    ft->trigger_index = t->index;
    uint64_t jit = (uint64_t)llround(sim_rand_unit(&t->tjit_rng) * t->c->trigger_jitter_us * 1e3);
    if (t->c->timing == SIM_TIMING_INSTANT) {
        ft->bof = ft->eof = daq_now_ns();
        ft->exposure = exposure_ns(s);
        t->burst_first = false;
        return true;
    }
    uint64_t exp, period, nominal, now;
    bool first = t->burst_first;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        if (s->stop_req) {
            pthread_mutex_unlock(&s->mu);
            return false;
        }
        exp = exposure_ns(s);
        period = period_ns(s, exp);
        nominal = t->have_last ? t->last_nominal + period : 0;
        if (t->burst_first && t->trig_t > nominal)
            nominal = t->trig_t;
        ft->bof = nominal + jit;
        ft->eof = ft->bof + exp;
        now = daq_now_ns();
        if (now >= ft->eof)
            break;
        daq_cond_wait_until(&s->sensor_cv, &s->mu, ft->eof);
    }
    pthread_mutex_unlock(&s->mu);
    /* Far behind: this frame now, the grid from here -- but not a trigger's
     * first frame, whose exposure the trigger fixed whenever this thread
     * gets to it (a scheduler delay must not look like trigger skew). */
    if (!first && now > ft->eof + period) {
        ft->eof = now;
        ft->bof = now - exp;
        nominal = ft->bof - jit;
    }
    ft->exposure = exp;
    t->last_nominal = nominal;
    t->have_last = true;
    t->burst_first = false;
    return true;
}

/* The camera's clock at host time mono (see the top comment); never 0. */
static uint64_t cam_clock(const sensor *t, uint64_t mono)
{
    int64_t d = (int64_t)(mono - t->t0);
    int64_t v = (int64_t)t->t0 + t->c->clock_offset_ns + d +
                (int64_t)llround((double)d * t->c->clock_drift_ppm * 1e-6);
    return v > 0 ? (uint64_t)v : 1;
}

/* The one injected pause; false when stopped during it. */
static bool stall(sensor *t)
{
    sim *s = t->s;
    uint64_t until = daq_now_ns() + (uint64_t)llround(t->c->stall_ms * 1e6);
    atomic_fetch_add_explicit(&s->stalls, 1, memory_order_relaxed);
    pthread_mutex_lock(&s->mu);
    while (!s->stop_req && daq_now_ns() < until)
        daq_cond_wait_until(&s->sensor_cv, &s->mu, until);
    bool stopped = s->stop_req;
    pthread_mutex_unlock(&s->mu);
    return !stopped;
}

/* Ends the stream with a readout failure; why follows "simulated readout
 * failure". */
static void fail(sensor *t, const char *why)
{
    sim *s = t->s;
    pthread_mutex_lock(&s->mu);
    s->failed = true;
    snprintf(s->error, sizeof s->error, "simulated readout failure %s", why);
    atomic_fetch_add_explicit(&s->readout_errors, 1, memory_order_relaxed);
    pthread_cond_broadcast(&s->ready_cv);
    pthread_mutex_unlock(&s->mu);
}

typedef struct frame_faults {
    bool zero, duplicate;
} frame_faults;

/* Draws this frame's faults and returns its hardware number. */
static uint64_t next_number(sensor *t, frame_faults *f)
{
    const sim_settings *c = t->c;
    sim *s = t->s;
    double u_back = sim_rand_unit(&t->fault_rng);
    double u_jump = sim_rand_unit(&t->fault_rng);
    double u_dup = sim_rand_unit(&t->fault_rng);
    double u_zero = sim_rand_unit(&t->fault_rng);
    uint64_t r_back = sim_rand_next(&t->fault_rng);
    uint64_t r_jump = sim_rand_next(&t->fault_rng);
    f->duplicate = u_dup < c->duplicate_prob;
    f->zero = u_zero < c->zero_prob;

    uint64_t n;
    if (t->prev_n == 0) {
        n = 1;
    } else if (u_back < c->backwards_prob && t->prev_n >= 2) {
        uint64_t back = 1 + r_back % 3;
        if (back > t->prev_n - 1)
            back = t->prev_n - 1;
        n = t->prev_n - back;
        atomic_fetch_add_explicit(&s->backwards, 1, memory_order_relaxed);
    } else if (u_jump < c->jump_prob) {
        uint64_t jump = 2 + r_jump % (uint64_t)(c->jump_max - 1); /* 2 .. jump_max */
        n = t->prev_n + jump;
        atomic_fetch_add_explicit(&s->jumps, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&s->skipped_numbers, jump - 1, memory_order_relaxed);
    } else {
        n = t->prev_n + 1;
    }
    t->prev_n = n;
    return n;
}

/* Removes slot i's announcements (they are the oldest entries: frames are
 * announced in write order and i was written longest ago).  Under mu. */
static void evict(sim *s, uint32_t i)
{
    sim_slot *sl = &s->ring.slots[i];
    while (s->fifo_len > 0 && s->fifo[s->fifo_head].slot == i) {
        s->fifo_head = (s->fifo_head + 1) % s->fifo_cap;
        s->fifo_len--;
        sl->pending--;
        atomic_fetch_sub_explicit(&s->pending, 1, memory_order_relaxed);
    }
    if (sl->pending != 0)
        daq_fatal("sim: slot %u still announced %u times after eviction", i, sl->pending);
    if (!sl->accounted) {
        sl->accounted = true;
        atomic_fetch_add_explicit(&s->overruns, 1, memory_order_relaxed);
    }
}

enum { CLAIM_LOST = -1, CLAIM_STOP = -2 };

/* The slot frame goes to, CLAIM_LOST or CLAIM_STOP.  Under mu. */
static int64_t claim(sensor *t)
{
    sim *s = t->s;
    for (;;) {
        if (s->stop_req)
            return CLAIM_STOP;
        uint32_t i = (uint32_t)(s->write_index % s->ring.count);
        sim_slot *sl = &s->ring.slots[i];
        if (t->c->buffer_mode == SIM_NO_OVERWRITE) {
            if (sl->pending == 0 && !sl->locked)
                return i;
            if (t->c->timing != SIM_TIMING_INSTANT)
                return CLAIM_LOST;
            pthread_cond_wait(&s->sensor_cv, &s->mu);
            continue;
        }
        if (sl->locked)
            return CLAIM_LOST;
        evict(s, i);
        return i;
    }
}

/* The EOF handler: announce and signal, nothing else. */
static void eof_callback(sim *s, uint32_t slot, const daq_frame_info *info)
{
    pthread_mutex_lock(&s->mu);
    if (s->fifo_len == s->fifo_cap)
        daq_fatal("sim: ready FIFO overflow (%u entries)", s->fifo_cap);
    sim_entry *e = &s->fifo[(s->fifo_head + s->fifo_len) % s->fifo_cap];
    e->slot = slot;
    e->info = *info;
    s->fifo_len++;
    s->ring.slots[slot].pending++;
    atomic_fetch_add_explicit(&s->pending, 1, memory_order_release);
    atomic_fetch_add_explicit(&s->callbacks, 1, memory_order_relaxed);
    pthread_cond_broadcast(&s->ready_cv);
    pthread_mutex_unlock(&s->mu);
}

/* Produces one frame that is due; false when stopping. */
static bool produce(sensor *t, const frame_time *ft)
{
    sim *s = t->s;
    const sim_geom *g = &s->geom;
    frame_faults f;
    uint64_t n = next_number(t, &f);
    t->generated++;
    atomic_fetch_add_explicit(&s->frames_generated, 1, memory_order_relaxed);
    atomic_store_explicit(&s->last_number, n, memory_order_relaxed);

    pthread_mutex_lock(&s->mu);
    int64_t slot = claim(t);
    if (slot >= 0)
        s->ring.slots[slot].writing = true;
    else if (slot == CLAIM_LOST)
        atomic_fetch_add_explicit(&s->overruns, 1, memory_order_relaxed);
    pthread_mutex_unlock(&s->mu);
    if (slot == CLAIM_STOP)
        return false;
    if (slot == CLAIM_LOST) {
        if (t->c->timing == SIM_TIMING_INSTANT)
            sched_yield(); /* a free-running sensor leaves the reader some CPU */
        return true;
    }

    sim_ring_write(&s->ring, (uint32_t)slot, n, f.zero);
    daq_frame_info info = {
        .hw_frame_number = n,
        .bof_ns = ft->bof,
        .eof_ns = ft->eof,
        .exposure_ns = ft->exposure,
        .cam_bof_ns = cam_clock(t, ft->bof),
        .cam_eof_ns = cam_clock(t, ft->eof),
        .trigger_index = ft->trigger_index,
        .bytes = g->frame_bytes,
        .width = g->width,
        .height = g->height,
        .stride_bytes = g->stride,
        .bit_depth = (uint16_t)g->bit_depth,
        .bin_x = (uint16_t)g->bin,
        .bin_y = (uint16_t)g->bin,
        .pixel_format = g->pixel_format,
        .roi = g->roi,
        .temperature_c = SIM_TEMPERATURE_C,
    };
    if (f.zero)
        atomic_fetch_add_explicit(&s->zero_frames, 1, memory_order_relaxed);
    if (f.duplicate)
        atomic_fetch_add_explicit(&s->duplicates, 1, memory_order_relaxed);

    /* The transfer is complete: the SDK's own bookkeeping, then the EOF
     * handler (twice for an injected duplicate callback). */
    pthread_mutex_lock(&s->mu);
    s->ring.slots[slot].writing = false;
    s->ring.slots[slot].accounted = false;
    s->write_index++;
    pthread_mutex_unlock(&s->mu);
    eof_callback(s, (uint32_t)slot, &info);
    if (f.duplicate)
        eof_callback(s, (uint32_t)slot, &info);
    return true;
}

void *sim_sensor_main(void *arg)
{
    sim *s = arg;
    sensor t = {.s = s, .c = &s->run};
    t.fault_rng = s->run.seed;
    t.jitter_rng = s->run.seed ^ 0x6A09E667F3BCC909ull;
    t.trig_rng = s->run.seed ^ 0xBB67AE8584CAA73Bull;
    t.tjit_rng = s->run.seed ^ 0x3C6EF372FE94F82Bull;
    t.trig = s->trig;
    t.t0 = daq_now_ns();
    bool triggered = t.trig.mode != DAQ_TRIGGER_INTERNAL;
    const sim_settings *c = t.c;
    for (;;) {
        if (c->frame_count > 0 && t.generated >= (uint64_t)c->frame_count) {
            atomic_store(&s->sequence_complete, 1); /* after the last callback */
            break;
        }
        if (c->stall_after > 0 && !t.stalled && t.generated >= (uint64_t)c->stall_after) {
            t.stalled = true;
            if (!stall(&t))
                break;
        }
        frame_time ft = {0};
        if (!(triggered ? pace_triggered(&t, &ft) : pace(&t, &ft)))
            break;
        if (c->fail_after > 0 && t.generated >= (uint64_t)c->fail_after) {
            char why[64];
            snprintf(why, sizeof why, "after %llu frames", (unsigned long long)t.generated);
            fail(&t, why);
            break;
        }
        if (sim_switched_off(s)) {
            fail(&t, "(camera switched off)");
            break;
        }
        if (!produce(&t, &ft))
            break;
    }
    return NULL;
}
