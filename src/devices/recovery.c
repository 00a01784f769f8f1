/* devices/recovery.c - devices come back: one thread retries every device
 * that is down or whose stream failed, with exponential backoff, and
 * resumes its stream.
 *
 * One thread for the table (at most DAQ_CONFIG_MAX_DEVICES = 16 devices),
 * not one per device: attempts are rare (0.5 s apart at the least by
 * default) and serialising them is harmless, while a thread per device
 * would sit idle for the daemon's life.  An attempt (a camera open: the
 * sim's is immediate, a pvcam open re-enumerates the bus) runs on it
 * without any lock held, so health checks, scrapes and stream control
 * never wait for it.
 *
 * Noticing a failure.  The engine (acq.c) has no end-of-stream callback;
 * its state is one atomic load, so the thread looks at every engine every
 * POLL_NS (100 ms): a failed stream is seen within 0.1 s, small beside the
 * first delay (initial_ms, default 500), for 160 atomic loads a second
 * with 16 devices.  A device down at start, or whose autostart failed, is
 * an outage from the first look.
 *
 * An outage ends when an attempt succeeds, when a client starts the device
 * itself (StartStream), or when a client stops it (daq_device_stream_stop:
 * it is no longer wanted).  Attempt k of an outage comes
 * daq_recovery_delay_ms(streak) after the failure before it, where streak
 * counts failed attempts and outages since the device was last stable (up
 * for max_ms or longer): a device that fails again right after each
 * recovery keeps backing off instead of flapping every initial_ms.
 *
 * An attempt: a device that is down gets its camera built from the
 * configuration and opened under a new engine (devices.c); then, if it
 * should stream (its stream had failed; or it is autostart), the leftovers
 * of the failed stream are stopped (daq_acq_stop joins its thread), the
 * camera is closed -- a driver's handle may be dead after a disconnect
 * (pvcam, aravis) -- and daq_acq_start opens and starts it again.  Races
 * with clients, both rare and self-healing: a StartStream between the
 * thread's look and its stop is stopped and restarted by the attempt; one
 * between its close and start makes the attempt's start answer "already
 * streaming".
 *
 * Logs (target daq::recovery): WARN when an outage begins and for each
 * failed attempt (with the attempt number and the next delay), INFO when a
 * device is back, ERROR when max_attempts are spent.  At most one line per
 * attempt: the backoff is the rate limit.
 *
 * Stop: the thread's waits are condition waits on its own mutex, so
 * daq_devices_recovery_stop wakes it at once; only an attempt in progress
 * is waited for.  Lock order: the thread's mutex and each record's are
 * never held together nor across a call into an engine; under a record's
 * only the log's own lock is taken (its lines are written there).
 */
#define _GNU_SOURCE
#include "devices/recovery.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daq/log.h"
#include "util/clock.h"
#include "util/err.h"

#define LOG_REC   "daq::recovery"
#define POLL_NS   100000000ull /* how often every engine's state is looked at */
#define NS_PER_MS 1000000ull

struct devices_recovery {
    daq_devices *ds; /* borrowed: the table owns this handle */
    daq_config_recovery cfg;
    pthread_t thread;
    pthread_mutex_t mu; /* with cv: the stop request and the thread's wait */
    pthread_cond_t cv;
    bool stop;
};

/* ---- the record and the client-side hooks --------------------------------------------- */

void devices_rec_init(devices_rec *r, bool autostart)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    r->autostart = autostart;
}

void devices_rec_destroy(devices_rec *r)
{
    pthread_mutex_destroy(&r->mu);
}

void devices_rec_start_failed(devices_rec *r)
{
    pthread_mutex_lock(&r->mu);
    r->start_failed = true;
    pthread_mutex_unlock(&r->mu);
}

uint32_t daq_recovery_delay_ms(const daq_config_recovery *r, uint32_t failed)
{
    double d = (double)r->initial_ms * pow(r->factor, (double)failed); /* inf is fine */
    return d < (double)r->max_ms ? (uint32_t)d : r->max_ms;
}

int daq_device_stream_start(daq_device *d, uint64_t frame_limit, char *err, size_t err_len)
{
    daq_acq *a = daq_device_acq(d);
    if (!a)
        return daq_err(err, err_len, "device '%s' is unavailable: %s", daq_device_id(d),
                       daq_device_error(d));
    devices_rec *r = devices_rec_of(d);
    pthread_mutex_lock(&r->mu);
    r->stopped = false;
    r->frame_limit = frame_limit;
    pthread_mutex_unlock(&r->mu);
    return daq_acq_start(a, frame_limit, err, err_len);
}

int daq_device_arm(daq_device *d, char *err, size_t err_len)
{
    daq_camera *cam = daq_device_camera(d);
    if (!cam)
        return daq_err(err, err_len, "device '%s' is unavailable: %s", daq_device_id(d),
                       daq_device_error(d));
    if (daq_camera_arm_check(cam, err, err_len) != 0)
        return -1;
    if (daq_camera_streaming(cam))
        daq_device_stream_stop(d); /* PVCAM fixes exp_mode at setup: arming restarts */
    return daq_device_stream_start(d, 0, err, err_len) < 0 ? -1 : 0;
}

void daq_device_stream_stop(daq_device *d)
{
    devices_rec *r = devices_rec_of(d);
    pthread_mutex_lock(&r->mu);
    r->stopped = true;
    r->start_failed = false;
    pthread_mutex_unlock(&r->mu);
    daq_acq *a = daq_device_acq(d);
    if (a)
        daq_acq_stop(a);
}

static uint64_t ms_until(uint64_t deadline_ns, uint64_t now)
{
    return deadline_ns > now ? (deadline_ns - now + NS_PER_MS - 1) / NS_PER_MS : 0;
}

void daq_device_recovery_snapshot(daq_device *d, daq_device_recovery *out)
{
    devices_rec *r = devices_rec_of(d);
    uint64_t now = daq_now_ns();
    pthread_mutex_lock(&r->mu);
    bool out_now = r->phase != DEVICES_REC_FINE;
    *out = (daq_device_recovery){
        .recovering = r->phase == DEVICES_REC_WAITING || r->phase == DEVICES_REC_TRYING,
        .gave_up = r->phase == DEVICES_REC_GAVE_UP,
        .attempts = out_now ? r->attempts : 0,
        .retry_in_ms = r->phase == DEVICES_REC_WAITING ? ms_until(r->next_ns, now) : 0,
        .recovered = r->recovered,
        .failed = r->failed,
        .outages = r->outages,
        .downtime_ns = r->downtime_ns + (out_now ? now - r->down_since_ns : 0),
        .frames_missed = r->frames_missed,
    };
    snprintf(out->error, sizeof out->error, "%s", r->error);
    pthread_mutex_unlock(&r->mu);
}

/* ---- the thread ------------------------------------------------------------------------ */

/* What the thread saw of a device's engine before taking its record's lock
 * (the engine's lock is never taken under it). */
typedef struct seen {
    daq_acq *acq;     /* NULL: down */
    bool in_error;    /* its last stream ended in error */
    daq_acq_stats st; /* of the failed stream, when in_error and the outage is new */
} seen;

/* Under r->mu: the device needs recovery (and is wanted back). */
static bool broken(const devices_rec *r, const seen *s)
{
    return !s->acq || (s->in_error && !r->stopped) || r->start_failed;
}

/* Under r->mu. */
static void outage_begin(devices_recovery *rc, daq_device *d, devices_rec *r, const seen *s,
                         uint64_t now)
{
    if (now - r->up_since_ns >= (uint64_t)rc->cfg.max_ms * NS_PER_MS)
        r->streak = 0; /* it was stable: start the backoff over */
    r->phase = DEVICES_REC_WAITING;
    r->attempts = 0;
    r->outages++;
    r->down_since_ns = now;
    r->error[0] = '\0';
    r->fps_at_loss = 0;
    const char *cause;
    if (!s->acq) {
        r->resume = r->autostart && !r->stopped;
        r->resume_limit = 0;
        cause = daq_device_error(d);
    } else if (s->in_error && !r->stopped) {
        r->resume = true;
        r->fps_at_loss = s->st.fps;
        /* What is left of a limited stream; the engine counts from each start. */
        uint64_t lim = r->frame_limit, got = s->st.delivered;
        r->resume_limit = lim == 0 ? 0 : lim > got ? lim - got : 1;
        cause = s->st.error[0] ? s->st.error : "stream ended in error";
    } else {
        r->resume = true;
        r->resume_limit = 0;
        cause = "autostart failed";
    }
    r->start_failed = false;
    uint32_t delay = daq_recovery_delay_ms(&rc->cfg, r->streak);
    r->next_ns = now + delay * NS_PER_MS;
    DAQ_LOG(DAQ_LOG_WARN, LOG_REC, "device down: recovery will retry",
            DAQ_F_STR("device", daq_device_id(d)), DAQ_F_STR("cause", cause),
            DAQ_F_BOOL("resume_streaming", r->resume), DAQ_F_U64("retry_in_ms", delay));
}

/* Under r->mu: the outage is over; how long it lasted is added up. */
static uint64_t outage_end(devices_rec *r, uint64_t now)
{
    uint64_t down = now - r->down_since_ns;
    r->phase = DEVICES_REC_FINE;
    r->up_since_ns = now;
    r->downtime_ns += down;
    r->frames_missed += (uint64_t)llround(r->fps_at_loss * (double)down / 1e9);
    return down;
}

/* Brings d back: up if it is down, then streaming if it should.  0, or -1
 * with why.  No lock held. */
static int attempt(devices_recovery *rc, daq_device *d, bool resume, uint64_t limit, char *why,
                   size_t why_len)
{
    daq_acq *a = daq_device_acq(d);
    if (!a) {
        if (devices_device_up(rc->ds, d, why, why_len) != 0)
            return -1;
        a = daq_device_acq(d);
    } else if (daq_acq_state_get(a) == DAQ_ACQ_ERROR) {
        daq_acq_stop(a);                     /* joins the failed stream's thread */
        daq_camera_close(daq_acq_camera(a)); /* reopened by the start: no dead handle */
    }
    if (!resume)
        return 0;
    return daq_acq_start(a, limit, why, why_len) < 0 ? -1 : 0;
}

/* Under r->mu, after an attempt.  Returns true when a client stopped the
 * device meanwhile and the stream the attempt started must go. */
static bool attempt_done(devices_recovery *rc, daq_device *d, devices_rec *r, int rc_attempt,
                         const char *why, uint64_t now)
{
    const char *id = daq_device_id(d);
    if (rc_attempt == 0) {
        r->recovered++;
        r->streak++; /* so that a failure right after this one backs off further */
        uint32_t tries = r->attempts + 1;
        uint64_t down = outage_end(r, now);
        DAQ_LOG(DAQ_LOG_INFO, LOG_REC, "device recovered", DAQ_F_STR("device", id),
                DAQ_F_U64("attempt", tries), DAQ_F_U64("down_ms", down / NS_PER_MS),
                DAQ_F_BOOL("streaming", r->resume),
                DAQ_F_U64("frames_missed_total", r->frames_missed));
        return r->resume && r->stopped;
    }
    r->failed++;
    r->attempts++;
    r->streak++;
    snprintf(r->error, sizeof r->error, "%s", why);
    if (rc->cfg.max_attempts && r->attempts >= rc->cfg.max_attempts) {
        r->phase = DEVICES_REC_GAVE_UP;
        DAQ_LOG(DAQ_LOG_ERROR, LOG_REC, "device recovery gave up", DAQ_F_STR("device", id),
                DAQ_F_U64("attempts", r->attempts), DAQ_F_STR("error", why));
        return false;
    }
    uint32_t delay = daq_recovery_delay_ms(&rc->cfg, r->streak);
    r->phase = DEVICES_REC_WAITING;
    r->next_ns = now + delay * NS_PER_MS;
    DAQ_LOG(DAQ_LOG_WARN, LOG_REC, "device recovery failed", DAQ_F_STR("device", id),
            DAQ_F_U64("attempt", r->attempts), DAQ_F_STR("error", why),
            DAQ_F_U64("retry_in_ms", delay));
    return false;
}

/* One look at device d: begins, advances or ends its outage.  Returns when
 * it needs the next look (UINT64_MAX: the poll will do). */
static uint64_t device_step(devices_recovery *rc, daq_device *d)
{
    devices_rec *r = devices_rec_of(d);
    seen s = {.acq = daq_device_acq(d)};
    s.in_error = s.acq && daq_acq_state_get(s.acq) == DAQ_ACQ_ERROR;
    pthread_mutex_lock(&r->mu);
    bool fresh = r->phase == DEVICES_REC_FINE && s.in_error && !r->stopped;
    pthread_mutex_unlock(&r->mu);
    if (fresh) /* a new outage: the failed stream's reason and rate, outside r->mu */
        daq_acq_stats_snapshot(s.acq, &s.st);
    uint64_t now = daq_now_ns();
    pthread_mutex_lock(&r->mu);
    bool down = broken(r, &s);
    if (r->phase == DEVICES_REC_FINE) {
        if (down)
            outage_begin(rc, d, r, &s, now);
    } else if (!down) {
        /* A client started it (or stopped it: no longer wanted). */
        uint64_t ms = outage_end(r, now) / NS_PER_MS;
        DAQ_LOG(DAQ_LOG_INFO, LOG_REC,
                r->stopped ? "device recovery ended: stopped by a client"
                           : "device back: started by a client",
                DAQ_F_STR("device", daq_device_id(d)), DAQ_F_U64("down_ms", ms));
    }
    if (r->phase != DEVICES_REC_WAITING) {
        pthread_mutex_unlock(&r->mu);
        return UINT64_MAX;
    }
    if (now < r->next_ns) {
        uint64_t next = r->next_ns;
        pthread_mutex_unlock(&r->mu);
        return next;
    }
    r->phase = DEVICES_REC_TRYING;
    bool resume = r->resume;
    uint64_t limit = r->resume_limit;
    pthread_mutex_unlock(&r->mu);

    char why[256] = "";
    int result = attempt(rc, d, resume, limit, why, sizeof why);

    pthread_mutex_lock(&r->mu);
    bool undo = attempt_done(rc, d, r, result, why, daq_now_ns());
    uint64_t next = r->phase == DEVICES_REC_WAITING ? r->next_ns : UINT64_MAX;
    pthread_mutex_unlock(&r->mu);
    if (undo)
        daq_acq_stop(daq_device_acq(d));
    return next;
}

static bool stopping(devices_recovery *rc)
{
    pthread_mutex_lock(&rc->mu);
    bool stop = rc->stop;
    pthread_mutex_unlock(&rc->mu);
    return stop;
}

static void *recovery_main(void *arg)
{
    devices_recovery *rc = arg;
    size_t n = daq_devices_count(rc->ds);
    for (;;) {
        uint64_t wake = daq_now_ns() + POLL_NS;
        for (size_t i = 0; i < n && !stopping(rc); i++) {
            uint64_t next = device_step(rc, daq_devices_at(rc->ds, i));
            wake = next < wake ? next : wake;
        }
        pthread_mutex_lock(&rc->mu);
        while (!rc->stop && daq_cond_wait_until(&rc->cv, &rc->mu, wake) != ETIMEDOUT) {
        }
        bool stop = rc->stop;
        pthread_mutex_unlock(&rc->mu);
        if (stop)
            return NULL;
    }
}

int daq_devices_recovery_start(daq_devices *ds, char *err, size_t err_len)
{
    const daq_config_recovery *cfg = &devices_config(ds)->recovery;
    devices_recovery **slot = devices_recovery_slot(ds);
    if (!cfg->enabled || *slot)
        return 0;
    devices_recovery *rc = calloc(1, sizeof *rc);
    if (!rc)
        return daq_err(err, err_len, "cannot start the recovery thread: out of memory");
    rc->ds = ds;
    rc->cfg = *cfg;
    pthread_mutex_init(&rc->mu, NULL);
    daq_cond_init_monotonic(&rc->cv);
    int e = pthread_create(&rc->thread, NULL, recovery_main, rc);
    if (e != 0) {
        pthread_cond_destroy(&rc->cv);
        pthread_mutex_destroy(&rc->mu);
        free(rc);
        return daq_err(err, err_len, "cannot start the recovery thread: %s", strerror(e));
    }
    *slot = rc;
    DAQ_LOG(DAQ_LOG_INFO, LOG_REC, "device recovery on", DAQ_F_U64("initial_ms", cfg->initial_ms),
            DAQ_F_U64("max_ms", cfg->max_ms), DAQ_F_F64("factor", cfg->factor),
            DAQ_F_U64("max_attempts", cfg->max_attempts));
    return 0;
}

void daq_devices_recovery_stop(daq_devices *ds)
{
    devices_recovery **slot = devices_recovery_slot(ds);
    devices_recovery *rc = *slot;
    if (!rc)
        return;
    pthread_mutex_lock(&rc->mu);
    rc->stop = true;
    pthread_cond_broadcast(&rc->cv);
    pthread_mutex_unlock(&rc->mu);
    pthread_join(rc->thread, NULL);
    pthread_cond_destroy(&rc->cv);
    pthread_mutex_destroy(&rc->mu);
    free(rc);
    *slot = NULL;
}
