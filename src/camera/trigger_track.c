/* camera/trigger_track.c - trigger indices, their deadlines and their
 * frames (see trigger_track.h for the design).
 *
 * Every index moves PENDING -> ANSWERED or PENDING -> MISSED exactly once,
 * and `seen` grows when an index is learned, so seen == answered + missed +
 * pending holds after every call; the counters are only ever incremented
 * under the mutex.
 */
#include "camera/trigger_track.h"

#include <string.h>

enum { TRACK_PENDING = 0, TRACK_ANSWERED, TRACK_MISSED };

static track_entry *entry(daq_trigger_track *t, uint64_t index)
{
    return &t->win[index % TRACK_WINDOW];
}

/* Frames that answer a trigger: the *_first modes start a sequence, whose
 * first frame is the answer; a level is one exposure, however long. */
static uint32_t frames_wanted(const daq_trigger_track *t)
{
    if (daq_trigger_mode_is_first(t->cfg.mode) || t->cfg.mode == DAQ_TRIGGER_EXTERNAL_LEVEL)
        return 1;
    return t->cfg.frames_per_trigger;
}

static void settle(daq_trigger_track *t, track_entry *e, uint8_t state)
{
    e->state = state;
    t->st.pending--;
    if (state == TRACK_ANSWERED)
        t->st.answered++;
    else
        t->st.missed++;
}

/* Moves the expiry cursor past settled indices, missing the pending ones
 * whose deadline is before now (all of them with now == UINT64_MAX). */
static void expire(daq_trigger_track *t, uint64_t now_ns)
{
    while (t->base && t->oldest_pending <= t->newest) {
        track_entry *e = entry(t, t->oldest_pending);
        if (e->state == TRACK_PENDING) {
            if (e->deadline_ns > now_ns)
                return;
            settle(t, e, TRACK_MISSED);
        }
        t->oldest_pending++;
    }
}

/* Learns the indices up to k (k > newest); in the external modes the ones
 * before k were pulses this camera did not see: missed at once. */
static void learn(daq_trigger_track *t, uint64_t k, uint64_t now_ns)
{
    if (!t->base)
        t->base = t->oldest_pending = t->newest = k; /* the first index sets the base */
    else
        t->newest++;
    uint64_t deadline = now_ns + (uint64_t)t->cfg.timeout_ms * 1000000u;
    for (uint64_t i = t->newest; i <= k; i++) {
        if (i - t->base >= TRACK_WINDOW) { /* the window is full: its oldest index goes */
            uint64_t old = t->base++;
            if (t->oldest_pending <= old) {
                track_entry *o = entry(t, old);
                if (o->state == TRACK_PENDING)
                    settle(t, o, TRACK_MISSED);
                t->oldest_pending = old + 1;
            }
        }
        track_entry *e = entry(t, i);
        *e = (track_entry){.deadline_ns = deadline, .state = TRACK_PENDING};
        t->st.seen++;
        t->st.pending++;
        if (i < k && t->external)
            settle(t, e, TRACK_MISSED);
    }
    t->newest = k;
}

void daq_trigger_track_init(daq_trigger_track *t)
{
    memset(t, 0, sizeof *t);
    pthread_mutex_init(&t->mu, NULL);
    t->cfg = (daq_trigger_config){DAQ_TRIGGER_INTERNAL, 1, DAQ_TRIGGER_TIMEOUT_MS_DEFAULT};
}

void daq_trigger_track_destroy(daq_trigger_track *t)
{
    pthread_mutex_destroy(&t->mu);
}

void daq_trigger_track_reset(daq_trigger_track *t, const daq_trigger_config *cfg)
{
    pthread_mutex_lock(&t->mu);
    expire(t, UINT64_MAX);
    t->cfg = *cfg;
    t->external = cfg->mode >= DAQ_TRIGGER_EXTERNAL_EDGE;
    t->st.mode = cfg->mode;
    t->st.armed = cfg->mode != DAQ_TRIGGER_INTERNAL;
    t->base = t->newest = t->oldest_pending = 0;
    pthread_mutex_unlock(&t->mu);
}

void daq_trigger_track_end(daq_trigger_track *t)
{
    pthread_mutex_lock(&t->mu);
    expire(t, UINT64_MAX);
    t->st.armed = false;
    pthread_mutex_unlock(&t->mu);
}

void daq_trigger_track_sent(daq_trigger_track *t, bool accepted, uint64_t index, uint64_t now_ns)
{
    pthread_mutex_lock(&t->mu);
    t->st.sent++;
    if (!accepted) {
        t->st.ignored++;
    } else {
        t->st.accepted++;
        if (index > t->newest || !t->base)
            learn(t, index, now_ns);
    }
    expire(t, now_ns);
    pthread_mutex_unlock(&t->mu);
}

uint32_t daq_trigger_track_frame(daq_trigger_track *t, uint64_t index, uint64_t now_ns)
{
    uint32_t flags = 0;
    pthread_mutex_lock(&t->mu);
    expire(t, now_ns); /* a frame after its trigger's deadline is late, not an answer */
    t->st.frames++;
    if (!t->base || index > t->newest)
        learn(t, index, now_ns); /* external; or a software frame ahead of its trigger's answer */
    if (index < t->base) {
        t->st.frames_late++; /* settled and pushed out of the window long ago */
    } else {
        track_entry *e = entry(t, index);
        uint32_t want = frames_wanted(t);
        if (e->state == TRACK_MISSED) {
            t->st.frames_late++;
        } else if (++e->frames == want && e->state == TRACK_PENDING) {
            settle(t, e, TRACK_ANSWERED);
        } else if (e->frames > want && !daq_trigger_mode_is_first(t->cfg.mode)) {
            t->st.frames_extra++;
            if (e->frames == want + 1)
                t->st.doubled++;
            flags = DAQ_FRAME_FLAG_TRIGGER_EXTRA;
        }
    }
    pthread_mutex_unlock(&t->mu);
    return flags;
}

void daq_trigger_track_stats(daq_trigger_track *t, uint64_t now_ns, daq_trigger_stats *out)
{
    pthread_mutex_lock(&t->mu);
    expire(t, now_ns);
    *out = t->st;
    pthread_mutex_unlock(&t->mu);
}
