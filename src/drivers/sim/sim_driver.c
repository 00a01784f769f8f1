/* drivers/sim/sim_driver.c - the "sim" camera driver (alias "mock_camera",
 * the name rust-daq configs use): a COPY-mode driver that behaves like a
 * camera SDK so the engine's real path is exercised without hardware.
 *
 * This file is the SDK's API face: open/close, start/stop of the sensor
 * thread (sim_sensor.c), and the reader side of the ring -- wait,
 * get_oldest, release_oldest.  The reader and the sensor meet under one
 * mutex; wait's fast path is a single atomic load of the pending count, so
 * a reader that is behind never sleeps.
 *
 * Reader semantics (documented for the engine and the tests):
 *  - wait: > 0 (frames announced) at once while any are pending, even
 *    after a failure or an interrupt (the frames already in the ring stay
 *    readable); else < 0 after a readout failure; else 0 after interrupt
 *    (consumed by the wait that reports it), after stop, or on timeout.
 *  - get_oldest, no_overwrite: the oldest announcement.  overwrite: the
 *    newest; all older announcements are dropped, and each dropped frame
 *    that was never delivered counts as one overrun (a duplicate
 *    announcement of a delivered frame is dropped silently).  One frame may
 *    be borrowed at a time; the slot stays locked until release_oldest.
 *    A duplicate announcement is a second FIFO entry for the same slot:
 *    the slot is reused only after both were consumed (and released).
 *  - overruns counts frames generated but never delivered because of the
 *    ring: lost when the ring was full or the target locked, overwritten
 *    or dropped while undelivered.  So, once a stream is drained,
 *    frames_generated = distinct frames delivered + overruns, and the gaps
 *    a reader sees add up to overruns + injected_skipped_numbers minus
 *    the frames lost after the last one it read.
 *
 * Triggers (ADR 0011): start reads daq_camera_trigger_config and, in an
 * external mode, listens to its trigger line (sim_line.c) until stop; the
 * trigger op queues a software trigger for the sensor (sim_sensor.c) and
 * answers TRIGGERED with the index its frames will carry -- the count of
 * accepted triggers since start -- so a burst of triggers faster than the
 * exposures is queued, not refused; IGNORED only when the queue is full
 * ("trigger queue full (1024)") or a software_first sequence has started
 * (or its trigger is queued): "sequence already started".  A software
 * trigger the miss fault drops is still TRIGGERED (the camera took it and
 * then produced nothing, which is what the host's counters must notice).
 *
 * Counters and the error text are reset by start; stop keeps them for a
 * final stats/error call.  stop keeps the ring (and its pre-rendered base
 * frames) when the next start has the same geometry; close frees it.
 *
 * A camera that goes away and comes back (test only, for the daemon's
 * device recovery): with $DAQ_TEST_SIM_OFF_DIR set, camera <id> is
 * switched off while the file DIR/<id> exists -- open and start fail and a
 * running readout fails at its next frame, as a camera unplugged mid-run.
 * The check is one access(2) per open, start and frame, and only when the
 * variable is set; the variable, not a parameter, so that a client cannot
 * use it to probe the daemon's file system.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daq/sim.h"
#include "drivers/drivers.h"
#include "drivers/sim/sim_impl.h"
#include "util/err.h"

bool sim_switched_off(const sim *s)
{
    return s->off_file[0] && access(s->off_file, F_OK) == 0;
}

/* -1 with the reason while the test's off file exists. */
static int check_switched_on(daq_camera *cam, char *err, size_t err_len)
{
    sim *s = sim_of(cam);
    if (!sim_switched_off(s))
        return 0;
    return daq_err(err, err_len, "sim: camera '%s' is switched off (test: %s exists)",
                   daq_camera_id(cam), s->off_file);
}

static int sim_open(daq_camera *cam, char *err, size_t err_len)
{
    if (check_switched_on(cam, err, err_len) < 0)
        return -1;
    sim_of(cam)->opened = true;
    return 0;
}

static void sim_stop(daq_camera *cam);

static void sim_close(daq_camera *cam)
{
    sim *s = sim_of(cam);
    sim_stop(cam);
    sim_ring_free(&s->ring);
    free(s->fifo);
    s->fifo = NULL;
    s->fifo_cap = 0;
    s->opened = false;
}

static int sim_format(daq_camera *cam, daq_camera_format *out, char *err, size_t err_len)
{
    sim *s = sim_of(cam);
    sim_geom g;
    if (sim_geom_compute(&s->set, &g, err, err_len) < 0)
        return -1;
    double exposure_ms = atomic_load(&s->exposure_ms);
    double rate = atomic_load(&s->frame_rate_hz);
    if (rate > 1000.0 / exposure_ms)
        rate = 1000.0 / exposure_ms; /* the period is at least the exposure */
    *out = (daq_camera_format){
        .width = g.width,
        .height = g.height,
        .stride_bytes = g.stride,
        .bit_depth = (uint16_t)g.bit_depth,
        .pixel_format = g.pixel_format,
        .frame_bytes = g.frame_bytes,
        .exposure_ms = exposure_ms,
        .frame_rate_hz = s->set.timing == SIM_TIMING_INSTANT ? 0.0 : rate,
    };
    return 0;
}

/* Under mu: an empty FIFO and every slot free (nothing announced, locked
 * or being written). */
static void reset_ring_state(sim *s)
{
    s->fifo_head = s->fifo_len = 0;
    atomic_store(&s->pending, 0);
    s->locked_slot = -1;
    s->write_index = 0;
    for (uint32_t i = 0; i < s->ring.count; i++) {
        sim_slot *sl = &s->ring.slots[i];
        sl->pending = 0;
        sl->locked = sl->writing = false;
        sl->accounted = true;
    }
}

static void reset_counters(sim *s)
{
    _Atomic uint64_t *c[] = {&s->frames_generated, &s->callbacks,      &s->overruns,
                             &s->readout_errors,   &s->jumps,          &s->skipped_numbers,
                             &s->backwards,        &s->duplicates,     &s->zero_frames,
                             &s->stalls,           &s->last_number,    &s->sequence_complete,
                             &s->trigger_miss,     &s->trigger_double, &s->trigger_overflows};
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        atomic_store(c[i], 0);
}

static int sim_start(daq_camera *cam, char *err, size_t err_len)
{
    sim *s = sim_of(cam);
    if (!s->opened)
        return daq_err(err, err_len, "sim: camera '%s' is not open", daq_camera_id(cam));
    if (s->thread_live)
        return daq_err(err, err_len, "sim: camera '%s' is already streaming", daq_camera_id(cam));
    if (check_switched_on(cam, err, err_len) < 0)
        return -1;
    sim_geom g;
    if (sim_geom_compute(&s->set, &g, err, err_len) < 0)
        return -1;
    uint32_t count = (uint32_t)s->set.ring_frames;
    if (sim_ring_prepare(&s->ring, &g, count, err, err_len) < 0)
        return -1;
    if (s->fifo_cap != 2 * count) { /* each slot is announced at most twice */
        free(s->fifo);
        s->fifo = calloc(2 * (size_t)count, sizeof *s->fifo);
        s->fifo_cap = s->fifo ? 2 * count : 0;
        if (!s->fifo) {
            return daq_err(err, err_len, "sim: out of memory for the ready FIFO");
        }
    }
    s->geom = g;
    s->run = s->set;
    s->trig = daq_camera_trigger_config(cam);
    atomic_store(&s->ring_frames, count);
    reset_counters(s);
    pthread_mutex_lock(&s->mu);
    reset_ring_state(s);
    s->running = true;
    s->stop_req = false;
    s->failed = false;
    s->interrupted = false;
    s->error[0] = '\0';
    s->trigq_head = s->trigq_len = 0;
    s->sw_accepted = 0;
    s->seq_started = false;
    pthread_mutex_unlock(&s->mu);
    if (s->trig.mode >= DAQ_TRIGGER_EXTERNAL_EDGE) {
        const char *name = s->run.line[0] ? s->run.line : daq_camera_id(cam);
        sim_line *l = sim_line_get(name);
        if (!l)
            return daq_err(err, err_len,
                           "trigger.line: cannot create sim trigger line '%s' (at most 256 "
                           "lines per process; reuse a name)",
                           name);
        if (sim_line_listen(l, s, s->run.line_hz, err, err_len) < 0)
            return -1;
        s->line = l;
    }
    int rc = pthread_create(&s->thread, NULL, sim_sensor_main, s);
    if (rc != 0) {
        pthread_mutex_lock(&s->mu);
        s->running = false;
        pthread_mutex_unlock(&s->mu);
        return daq_err(err, err_len, "sim: cannot start the sensor thread: %s", strerror(rc));
    }
    s->thread_live = true;
    return 0;
}

static void sim_stop(daq_camera *cam)
{
    sim *s = sim_of(cam);
    pthread_mutex_lock(&s->mu);
    s->stop_req = true;
    pthread_cond_broadcast(&s->sensor_cv);
    pthread_cond_broadcast(&s->ready_cv);
    pthread_mutex_unlock(&s->mu);
    if (s->thread_live) {
        pthread_join(s->thread, NULL);
        s->thread_live = false;
    }
    if (s->line) { /* after the join: nothing waits for pulses any more */
        sim_line_unlisten(s->line, s);
        s->line = NULL;
    }
    pthread_mutex_lock(&s->mu);
    s->running = false;
    reset_ring_state(s);
    pthread_cond_broadcast(&s->ready_cv);
    pthread_mutex_unlock(&s->mu);
}

static int sim_wait(daq_camera *cam, int64_t timeout_ns)
{
    sim *s = sim_of(cam);
    uint32_t n = atomic_load_explicit(&s->pending, memory_order_acquire);
    if (n > 0)
        return n > (uint32_t)INT32_MAX ? INT32_MAX : (int)n;
    uint64_t deadline = timeout_ns < 0 ? UINT64_MAX : daq_now_ns() + (uint64_t)timeout_ns;
    int r;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        if (s->fifo_len > 0) {
            r = (int)s->fifo_len;
            break;
        }
        if (s->failed) {
            r = -1;
            break;
        }
        if (s->interrupted) {
            s->interrupted = false;
            r = 0;
            break;
        }
        if (!s->running || daq_now_ns() >= deadline) {
            r = 0;
            break;
        }
        if (deadline == UINT64_MAX)
            pthread_cond_wait(&s->ready_cv, &s->mu);
        else
            daq_cond_wait_until(&s->ready_cv, &s->mu, deadline);
    }
    pthread_mutex_unlock(&s->mu);
    return r;
}

static void sim_interrupt(daq_camera *cam)
{
    sim *s = sim_of(cam);
    pthread_mutex_lock(&s->mu);
    s->interrupted = true;
    pthread_cond_broadcast(&s->ready_cv);
    pthread_mutex_unlock(&s->mu);
}

/* Under mu: takes the FIFO's oldest (head) or newest (tail) entry. */
static sim_entry *fifo_take(sim *s, bool newest)
{
    uint32_t k = newest ? (s->fifo_head + s->fifo_len - 1) % s->fifo_cap : s->fifo_head;
    sim_entry *e = &s->fifo[k];
    if (!newest)
        s->fifo_head = (s->fifo_head + 1) % s->fifo_cap;
    s->fifo_len--;
    s->ring.slots[e->slot].pending--;
    atomic_fetch_sub_explicit(&s->pending, 1, memory_order_relaxed);
    return e;
}

/* Under mu, overwrite mode: drops every announcement older than the one
 * just taken for slot keep. */
static void drop_older(sim *s, uint32_t keep)
{
    while (s->fifo_len > 0) {
        sim_entry *e = fifo_take(s, false);
        sim_slot *sl = &s->ring.slots[e->slot];
        if (e->slot != keep && !sl->accounted) {
            sl->accounted = true;
            atomic_fetch_add_explicit(&s->overruns, 1, memory_order_relaxed);
        }
    }
}

static int sim_get_oldest(daq_camera *cam, const void **pixels, daq_frame_info *info)
{
    sim *s = sim_of(cam);
    int r = 1;
    pthread_mutex_lock(&s->mu);
    if (s->locked_slot >= 0) {
        snprintf(s->error, sizeof s->error,
                 "sim: get_oldest called again before release_oldest of slot %d",
                 (int)s->locked_slot);
        r = -1;
    } else if (s->fifo_len == 0) {
        r = s->failed ? -1 : 0;
    } else {
        bool overwrite = s->run.buffer_mode == SIM_OVERWRITE;
        sim_entry *e = fifo_take(s, overwrite);
        uint32_t slot = e->slot;
        *info = e->info; /* copy before drop_older may reuse the entry */
        if (overwrite)
            drop_older(s, slot);
        sim_slot *sl = &s->ring.slots[slot];
        sl->locked = true;
        sl->accounted = true;
        s->locked_slot = (int32_t)slot;
        *pixels = sl->pixels;
    }
    pthread_mutex_unlock(&s->mu);
    return r;
}

static void sim_release_oldest(daq_camera *cam)
{
    sim *s = sim_of(cam);
    pthread_mutex_lock(&s->mu);
    if (s->locked_slot >= 0) {
        s->ring.slots[s->locked_slot].locked = false;
        s->locked_slot = -1;
        pthread_cond_signal(&s->sensor_cv); /* an instant sensor may wait for it */
    }
    pthread_mutex_unlock(&s->mu);
}

/* The sim has every mode: the sensor models them all (sim_sensor.c). */
static uint32_t sim_trigger_modes(daq_camera *cam)
{
    (void)cam;
    uint32_t m = 0;
    for (int k = DAQ_TRIGGER_SOFTWARE; k < DAQ_TRIGGER_MODE_COUNT; k++)
        m |= DAQ_TRIGGER_BIT(k);
    return m;
}

static int sim_trigger(daq_camera *cam, daq_trigger_answer *out, char *err, size_t err_len)
{
    sim *s = sim_of(cam);
    memset(out, 0, sizeof *out);
    int r = 0;
    pthread_mutex_lock(&s->mu);
    if (!s->running || !daq_trigger_mode_is_software(s->trig.mode)) {
        r = daq_err(err, err_len, "sim: camera '%s' is not streaming in a software trigger mode",
                    daq_camera_id(cam));
    } else if (s->trig.mode == DAQ_TRIGGER_SOFTWARE_FIRST && (s->seq_started || s->trigq_len > 0)) {
        out->result = DAQ_TRIGGER_IGNORED;
        snprintf(out->reason, sizeof out->reason, "sequence already started");
    } else if (!sim_trig_push(s, s->sw_accepted + 1, daq_now_ns())) {
        out->result = DAQ_TRIGGER_IGNORED;
        snprintf(out->reason, sizeof out->reason, "trigger queue full (%u)", SIM_TRIGQ_CAP);
    } else {
        out->result = DAQ_TRIGGER_TRIGGERED;
        out->index = ++s->sw_accepted;
    }
    pthread_mutex_unlock(&s->mu);
    return r;
}

static void sim_stats(daq_camera *cam, daq_camera_stats *out)
{
    sim *s = sim_of(cam);
    memset(out, 0, sizeof *out);
    out->frames_generated = atomic_load(&s->frames_generated);
    out->callbacks = atomic_load(&s->callbacks);
    out->overruns = atomic_load(&s->overruns);
    out->readout_errors = atomic_load(&s->readout_errors);
    const daq_camera_extra extra[] = {
        {"injected_jumps", atomic_load(&s->jumps)},
        {"injected_skipped_numbers", atomic_load(&s->skipped_numbers)},
        {"injected_backwards", atomic_load(&s->backwards)},
        {"injected_duplicates", atomic_load(&s->duplicates)},
        {"injected_zero_frames", atomic_load(&s->zero_frames)},
        {"stalls", atomic_load(&s->stalls)},
        {"ring_frames", atomic_load(&s->ring_frames)},
        {"last_frame_number", atomic_load(&s->last_number)},
        {"pending", atomic_load(&s->pending)},
        {"sequence_complete", atomic_load(&s->sequence_complete)},
        {"trigger_injected_miss", atomic_load(&s->trigger_miss)},
        {"trigger_injected_double", atomic_load(&s->trigger_double)},
        {"trigger_queue_overflows", atomic_load(&s->trigger_overflows)},
    };
    daq_camera_stats_set_extras(out, extra, sizeof extra / sizeof extra[0]);
}

static void sim_error(daq_camera *cam, char *buf, size_t len)
{
    sim *s = sim_of(cam);
    pthread_mutex_lock(&s->mu);
    snprintf(buf, len, "%s", s->error);
    pthread_mutex_unlock(&s->mu);
}

/* Every sim frame is the pattern or the smooth scene of daq/sim.h for its
 * frame number; daq_sim_verify tells them apart by the stamp's magic. */
static int sim_verify(daq_camera *cam, const daq_frame_meta *m, const void *pixels, char *why,
                      size_t len)
{
    (void)cam;
    return daq_sim_verify(pixels, m->width, m->height, m->bit_depth, m->hw_frame_number, why,
                          len) == 0
               ? 1
               : -1;
}

static void sim_destroy(daq_camera *cam)
{
    sim *s = sim_of(cam);
    if (!s)
        return;
    sim_close(cam);
    pthread_cond_destroy(&s->ready_cv);
    pthread_cond_destroy(&s->sensor_cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static const daq_camera_ops sim_ops = {
    .mode = DAQ_CAMERA_COPY,
    .destroy = sim_destroy,
    .params = sim_params,
    .get_param = sim_get_param,
    .set_param = sim_set_param,
    .open = sim_open,
    .close = sim_close,
    .format = sim_format,
    .start = sim_start,
    .stop = sim_stop,
    .wait = sim_wait,
    .interrupt = sim_interrupt,
    .get_oldest = sim_get_oldest,
    .release_oldest = sim_release_oldest,
    .trigger_modes = sim_trigger_modes,
    .trigger = sim_trigger,
    .stats = sim_stats,
    .error = sim_error,
    .verify = sim_verify,
};

/* Allocates the driver state (the camera's priv, freed by sim_destroy). */
static void *sim_create(daq_camera *cam, char *err, size_t err_len)
{
    sim *s = calloc(1, sizeof *s);
    if (!s) {
        daq_err(err, err_len, "sim: out of memory");
        return NULL;
    }
    s->cam = cam;
    const char *off_dir = getenv("DAQ_TEST_SIM_OFF_DIR");
    if (off_dir && *off_dir)
        snprintf(s->off_file, sizeof s->off_file, "%s/%s", off_dir, daq_camera_id(cam));
    sim_settings_default(&s->set);
    atomic_init(&s->exposure_ms, 10.0);
    atomic_init(&s->frame_rate_hz, 100.0);
    s->locked_slot = -1;
    pthread_mutex_init(&s->mu, NULL);
    daq_cond_init_monotonic(&s->ready_cv);
    daq_cond_init_monotonic(&s->sensor_cv);
    return s;
}

static const char *const sim_aliases[] = {"mock_camera", NULL};

const daq_driver daq_sim_driver = {
    .type = "sim",
    .aliases = sim_aliases,
    .description = "simulated camera: SDK-like ring, sensor thread, verifiable pattern, "
                   "seeded fault injection",
    .ops = &sim_ops,
    .create = sim_create,
};
