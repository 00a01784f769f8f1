/* drivers/pvcam/pvcam_stream.c - continuous acquisition: start/stop, the
 * circular buffer, the EOF callback and the engine's frame calls (COPY mode).
 *
 * The sequence is the facts' §6.2:
 *   open:  pl_cam_open, static parameters, pl_create_frame_info_struct,
 *          pl_cam_register_callback_ex3(EOF)                (pvcam_driver.c)
 *   start: [readout port, speed, gain] -> (re-register if a stop
 *          deregistered) -> pl_exp_setup_cont(1 region, exp_mode = the
 *          EXT_TRIG_* of trigger.mode | expose_out_mode (free-running on a
 *          legacy camera: TIMED_MODE alone), exposure, &frame_bytes,
 *          CIRC_NO_OVERWRITE | CIRC_OVERWRITE) ->
 *          PARAM_READOUT_TIME, PARAM_BIT_DEPTH -> ring of N x frame_bytes ->
 *          pl_exp_start_cont(ring, N x frame_bytes)
 *   frame: EOF callback records FrameNr and signals; the engine's wait
 *          returns; get_oldest = pl_exp_get_oldest_frame_ex (no-overwrite)
 *          or pl_exp_get_latest_frame_ex (overwrite); the engine copies;
 *          release_oldest = pl_exp_unlock_oldest_frame (no-overwrite only)
 *   stop:  callbacks ignored from here -> pl_exp_stop_cont(CCS_HALT) ->
 *          quiesce -> pl_cam_deregister_callback(EOF) -> free the ring
 *
 * Unlock after the copy.  The engine calls release_oldest only after its
 * memcpy into the pool frame (daq/camera_driver.h, acq.c copy_one), and only then
 * does this driver call pl_exp_unlock_oldest_frame: until then PVCAM may not
 * reuse the slot.  (rust-daq unlocked first and raced the DMA.)  The test
 * library tests/fake_pvcam poisons a slot the moment it is unlocked, so an
 * unlock before the copy shows up as a corrupt frame in every test that
 * verifies pixels; DAQ_PVCAM_TEST_UNLOCK_EARLY=1 reintroduces rust-daq's
 * order to prove that the tests notice.
 *
 * Pending frames are counted by frame number, not by callbacks: announced
 * = the highest FrameNr an EOF callback reported, taken = the highest
 * FrameNr get_oldest returned, pending = announced - taken.  So a duplicate
 * callback (same FrameNr, seen on optiMos) changes nothing, a missed
 * callback is covered by the next one, frames lost to an overrun make the
 * next FrameNr jump and pending shrink with it, and wait's fast path is two
 * atomic loads.  A callback arriving after stop (acquiring cleared) is
 * counted and ignored.
 *
 * Triggers.  PVCAM fixes the trigger mode at pl_exp_setup_cont, so arming
 * is a (re)start in that mode.  A PVCAM camera exposes once per trigger:
 * trigger.frames_per_trigger other than 1 is refused at start in the modes
 * that use it (software, external_edge, external_level) rather than
 * promising frames the camera will not make.  The software trigger is
 * pl_exp_trigger(flags = 0): TRIGGERED counts, IGNORED answers with the
 * reason.  trigger_index: one exposure per trigger means the frame PVCAM
 * numbers k (FrameNr, 1-based since start) is the exposure trigger k
 * began, so frames carry FrameNr (the trigger op's answer->index is the
 * count of TRIGGERED answers, the same number for the same trigger); in the
 * *_first modes the whole sequence answers trigger 1.  The camera's clock: FRAME_INFO's
 * TimeStampBOF/TimeStamp in 0.1 ms ticks (PVCAM_TICK_NS) become cam_bof_ns
 * /cam_eof_ns; the same ticks, offset to CLOCK_MONOTONIC at the first
 * frame, are bof_ns/eof_ns as before.
 *
 * Errors while streaming: 173 (buffer overrun: the ring was full in
 * no-overwrite mode) is counted, get_oldest retried, and the frames lost show
 * up as a FrameNr gap -- counted here as overruns and by the engine as loss.
 * 169 (no data yet) means the announced frames are not there after all.
 * Handle, device-removed and driver-layer errors (175, 177, 180, 193-203)
 * end the stream with pl_error_message's text; other codes are counted and
 * the frame skipped, because the facts could not establish which code a
 * real camera gives for "nothing to read".
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daq/log.h"
#include "drivers/pvcam/pvcam_impl.h"
#include "util/clock.h"

#define LOG_PVCAM "daq::pvcam"

/* Micro-Manager's CIRC_BUF_SIZE_MAX_USER, "recommended by Photometrics". */
#define RING_MAX_BYTES  (((size_t)2 << 30) - 8192)
#define RING_MIN_FRAMES 3u
#define RING_MAX_FRAMES 1024u
/* Older DMA engines write a few bytes past the last frame (Micro-Manager
 * allocates +16): the mapping has at least a page past the last frame. */
#define RING_SLACK 4096u

static void bump(_Atomic uint64_t *c, uint64_t by)
{
    atomic_fetch_add_explicit(c, by, memory_order_relaxed);
}

static bool fatal_code(int16 code)
{
    return code == PL_ERR_DEVICE_HANDLE_INVALID || code == PL_ERR_DEVICE_NOT_OPEN ||
           code == PL_ERR_DEVICE_REMOVED || (code >= PL_ERR_DDI_FIRST && code <= PL_ERR_DDI_LAST);
}

/* ---- the EOF callback ------------------------------------------------------- */

void pvcam_eof_callback(const FRAME_INFO *fi, void *ctx)
{
    pvcam *p = ctx;
    uint64_t now = daq_now_ns();
    pthread_mutex_lock(&p->ev_mu);
    if (!p->acquiring) {
        bump(&p->late_callbacks, 1); /* after stop: the ring may be gone */
    } else {
        bump(&p->callbacks, 1);
        int64_t nr = fi ? fi->FrameNr : 0;
        int64_t last = atomic_load_explicit(&p->announced, memory_order_relaxed);
        if (nr <= last) {
            bump(&p->duplicate_callbacks, 1);
        } else {
            if (last == 0) /* first frame: tie the 0.1 ms ticks to CLOCK_MONOTONIC */
                atomic_store_explicit(&p->ts_offset_ns, (int64_t)now - fi->TimeStamp * 100000,
                                      memory_order_relaxed);
            atomic_store_explicit(&p->announced, nr, memory_order_release);
            pthread_cond_broadcast(&p->ev_cv);
        }
    }
    pthread_mutex_unlock(&p->ev_mu);
}

int pvcam_register_locked(pvcam *p, char *err, size_t err_len)
{
    if (p->cb_registered)
        return 0; /* never a second registration on top of the first */
    PL_CALLBACK_SIG_EX3 *fn = pvcam_eof_callback;
    void *cb;
    memcpy(&cb, &fn, sizeof cb); /* the API takes the handler as void * */
    if (pvcam_api_get()->pl_cam_register_callback_ex3(p->hcam, PL_CALLBACK_EOF, cb, p) != PV_OK) {
        pvcam_sdk_error("pl_cam_register_callback_ex3(PL_CALLBACK_EOF)", err, err_len);
        return -1;
    }
    p->cb_registered = true;
    return 0;
}

void pvcam_deregister_locked(pvcam *p)
{
    if (!p->cb_registered)
        return;
    p->cb_registered = false;
    if (pvcam_api_get()->pl_cam_deregister_callback(p->hcam, PL_CALLBACK_EOF) != PV_OK)
        pvcam_sdk_warn("pl_cam_deregister_callback", daq_camera_id(p->cam));
}

/* ---- start ---------------------------------------------------------------------- */

static int set_locked(pvcam *p, uns32 id, void *value, bool avail, const char *what, char *err,
                      size_t err_len)
{
    char call[96];
    if (!avail)
        return daq_err(err, err_len, "pvcam: %s is not available on camera %s", what,
                       p->facts.name);
    if (pvcam_api_get()->pl_set_param(p->hcam, id, value) == PV_OK)
        return 0;
    snprintf(call, sizeof call, "pl_set_param(%s)", what);
    pvcam_sdk_error(call, err, err_len);
    return -1;
}

/* Port, then speed (which resets the gain), then gain; each only if set. */
static int apply_readout_locked(pvcam *p, char *err, size_t err_len)
{
    const pvcam_settings *s = &p->set;
    int32 port = (int32)s->readout_port;
    int16 speed = (int16)s->speed_index, gain = (int16)s->gain_index;
    if (s->readout_port >= 0 && set_locked(p, PARAM_READOUT_PORT, &port, p->facts.port.avail,
                                           "PARAM_READOUT_PORT", err, err_len) < 0)
        return -1;
    if (s->speed_index >= 0 && set_locked(p, PARAM_SPDTAB_INDEX, &speed, p->facts.speed.avail,
                                          "PARAM_SPDTAB_INDEX", err, err_len) < 0)
        return -1;
    if (s->gain_index >= 0 && set_locked(p, PARAM_GAIN_INDEX, &gain, p->facts.gain.avail,
                                         "PARAM_GAIN_INDEX", err, err_len) < 0)
        return -1;
    return 0;
}

/* Reads what setup decided: readout time (ring sizing) and bit depth. */
static void after_setup_locked(pvcam *p)
{
    const pvcam_api *api = pvcam_api_get();
    uns32 us = 0; /* the id says FLT64, the value is an uns32 (docs/facts/pvcam-api.md §7.5) */
    p->readout_us = 0;
    if (p->facts.readout_time.avail &&
        api->pl_get_param(p->hcam, PARAM_READOUT_TIME, ATTR_CURRENT, &us) == PV_OK)
        p->readout_us = us;
    int16 depth = 0;
    if (p->facts.bit_depth_p.avail &&
        api->pl_get_param(p->hcam, PARAM_BIT_DEPTH, ATTR_CURRENT, &depth) == PV_OK && depth > 0 &&
        depth <= 16)
        p->facts.bit_depth = (unsigned)depth;
}

/* Frames in the ring: ring_frames, or about one second of frames, 3..1024,
 * and N x frame_bytes under 2 GiB.  0 if not even 3 frames fit. */
static uint32_t ring_count(const pvcam *p, size_t frame_bytes)
{
    uint64_t fit = (RING_MAX_BYTES - RING_SLACK) / frame_bytes;
    uint64_t n;
    if (p->set.ring_frames > 0) {
        n = (uint64_t)p->set.ring_frames;
    } else {
        double period_us = p->set.exposure_ms * 1000.0;
        if (period_us < p->readout_us)
            period_us = p->readout_us;
        double fps = 1e6 / (period_us < 1.0 ? 1.0 : period_us);
        n = (uint64_t)ceil(fps);
        n = n < RING_MIN_FRAMES ? RING_MIN_FRAMES : n > RING_MAX_FRAMES ? RING_MAX_FRAMES : n;
    }
    if (n > fit)
        n = fit;
    return n < RING_MIN_FRAMES ? 0 : (uint32_t)n;
}

static int ring_alloc(pvcam *p, char *err, size_t err_len)
{
    uint32_t n = ring_count(p, p->frame_bytes);
    if (n == 0)
        return daq_err(err, err_len, "pvcam: a frame of %u bytes is too large for a 3-frame ring",
                       (unsigned)p->frame_bytes);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t bytes = (size_t)n * p->frame_bytes;
    size_t map = (bytes + RING_SLACK + page - 1) / page * page;
    /* Populated now: no page fault per frame while streaming (the SDK's
     * DMA pins the pages anyway). */
    void *ring =
        mmap(NULL, map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (ring == MAP_FAILED)
        return daq_err(err, err_len, "pvcam: cannot map a ring of %u x %u bytes", n,
                       (unsigned)p->frame_bytes);
    p->ring = ring; /* page-aligned by mmap */
    p->ring_map = map;
    p->ring_frames = n;
    return 0;
}

static void ring_free(pvcam *p)
{
    if (p->ring)
        munmap(p->ring, p->ring_map);
    p->ring = NULL;
    p->ring_map = 0;
}

static void reset_stream_state(pvcam *p)
{
    _Atomic uint64_t *c[] = {&p->callbacks,      &p->late_callbacks, &p->duplicate_callbacks,
                             &p->overruns,       &p->overrun_errors, &p->sdk_errors,
                             &p->readout_errors, &p->frames_got};
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        atomic_store(c[i], 0);
    atomic_store(&p->announced, 0);
    atomic_store(&p->taken, 0);
    atomic_store(&p->ts_offset_ns, 0);
    atomic_store(&p->triggers_accepted, 0);
    atomic_store(&p->triggers_ignored, 0);
    p->locked = false;
    const char *early = getenv("DAQ_PVCAM_TEST_UNLOCK_EARLY");
    p->unlock_early = early && strcmp(early, "1") == 0;
    if (p->unlock_early)
        DAQ_LOG(DAQ_LOG_WARN, LOG_PVCAM,
                "DAQ_PVCAM_TEST_UNLOCK_EARLY=1: unlocking before the copy (test only: frames "
                "will be corrupt)",
                DAQ_F_STR("device", daq_camera_id(p->cam)));
}

/* The expose-out mode of the settings, checked against the camera (a value
 * set before open was checked only against all PVCAM's modes).  -1 with err. */
static int expose_out_bits(const pvcam *p, int32 *out, char *err, size_t err_len)
{
    const pvcam_facts *f = &p->facts;
    int32 want = p->set.expose_out;
    *out = 0;
    if (!f->expose_out.avail || f->eo_count == 0) {
        if (want == EXPOSE_OUT_FIRST_ROW)
            return 0; /* the default: nothing to OR in */
        return daq_err(err, err_len,
                       "expose_out_mode: camera %s has no expose-out modes "
                       "(PARAM_EXPOSE_OUT_MODE is not available)",
                       f->name);
    }
    char list[160] = "";
    size_t used = 0;
    for (uint32_t i = 0; i < f->eo_count; i++) {
        if (f->eo_values[i] == want) {
            *out = want;
            return 0;
        }
        int n = snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "", f->eo_names[i]);
        if (n > 0 && (size_t)n < sizeof list - used)
            used += (size_t)n;
    }
    return daq_err(err, err_len, "expose_out_mode: camera %s has no %s (it has: %s)", f->name,
                   pvcam_expose_out_names[want], list);
}

/* exp_mode for pl_exp_setup_cont: the trigger mode's EXT_TRIG_* value with
 * the expose-out mode OR-ed in; a legacy camera's TIMED_MODE alone. */
static int exp_mode_of(pvcam *p, const daq_trigger_config *tc, int16 *out, char *err,
                       size_t err_len)
{
    const pvcam_facts *f = &p->facts;
    if ((int)tc->mode < 0 || tc->mode >= DAQ_TRIGGER_MODE_COUNT ||
        !(f->trigger_bits & DAQ_TRIGGER_BIT(tc->mode)))
        return daq_err(err, err_len, "trigger.mode: camera %s has no %s mode", f->name,
                       daq_trigger_mode_name(tc->mode));
    bool uses_fpt = tc->mode == DAQ_TRIGGER_SOFTWARE || tc->mode == DAQ_TRIGGER_EXTERNAL_EDGE ||
                    tc->mode == DAQ_TRIGGER_EXTERNAL_LEVEL;
    if (uses_fpt && tc->frames_per_trigger != 1)
        return daq_err(err, err_len,
                       "trigger.frames_per_trigger: pvcam delivers one frame per trigger "
                       "(it is %u; set it to 1)",
                       (unsigned)tc->frames_per_trigger);
    if (tc->mode == DAQ_TRIGGER_INTERNAL && f->exp_mode == TIMED_MODE) {
        *out = TIMED_MODE; /* legacy: no extended modes, no expose-out */
        return 0;
    }
    int32 eo = 0;
    if (expose_out_bits(p, &eo, err, err_len) < 0)
        return -1;
    *out = (int16)(f->trig_exp[tc->mode] | eo);
    return 0;
}

/* Under the SDK lock: everything up to the ring. */
static int setup_locked(pvcam *p, char *err, size_t err_len)
{
    if (apply_readout_locked(p, err, err_len) < 0 || pvcam_register_locked(p, err, err_len) < 0)
        return -1;
    int16 mode = p->mode == PVCAM_OVERWRITE ? CIRC_OVERWRITE : CIRC_NO_OVERWRITE;
    uns32 frame_bytes = 0;
    if (pvcam_api_get()->pl_exp_setup_cont(p->hcam, 1, &p->geom.rgn, p->stream_exp_mode,
                                           pvcam_exposure_units(p, p->set.exposure_ms),
                                           &frame_bytes, mode) != PV_OK) {
        pvcam_sdk_error("pl_exp_setup_cont", err, err_len);
        return -1;
    }
    p->frame_bytes = frame_bytes;
    if (frame_bytes < p->geom.pixel_bytes)
        return daq_err(err, err_len,
                       "pvcam: pl_exp_setup_cont reports %u bytes per frame, fewer than the "
                       "%ux%u 16-bit pixels (%zu bytes) of the region",
                       (unsigned)frame_bytes, p->geom.width, p->geom.height, p->geom.pixel_bytes);
    after_setup_locked(p);
    return 0;
}

int pvcam_start(daq_camera *cam, char *err, size_t err_len)
{
    pvcam *p = pvcam_of(cam);
    if (!p->opened)
        return daq_err(err, err_len, "pvcam: camera '%s' is not open", daq_camera_id(cam));
    if (p->stream_live)
        return daq_err(err, err_len, "pvcam: camera '%s' is already streaming", daq_camera_id(cam));
    if (pvcam_geom_compute(p, &p->geom, err, err_len) < 0)
        return -1;
    daq_trigger_config tc = daq_camera_trigger_config(cam);
    if (exp_mode_of(p, &tc, &p->stream_exp_mode, err, err_len) < 0)
        return -1;
    p->trig_mode = tc.mode;
    p->mode = p->set.buffer_mode;
    atomic_store(&p->exposure_ns, (uint64_t)llround(p->set.exposure_ms * 1e6));
    reset_stream_state(p);
    p->stream_live = true; /* from here, stop has something to undo */
    pvcam_sdk_lock();
    int rc = setup_locked(p, err, err_len);
    pvcam_sdk_unlock();
    if (rc == 0)
        rc = ring_alloc(p, err, err_len);
    if (rc < 0)
        return -1;
    pthread_mutex_lock(&p->ev_mu);
    p->acquiring = true; /* before start_cont: the first callback may come at once */
    p->interrupted = p->failed = false;
    p->error[0] = '\0';
    pthread_mutex_unlock(&p->ev_mu);
    pvcam_sdk_lock();
    uns32 size = (uns32)((size_t)p->ring_frames * p->frame_bytes);
    if (pvcam_api_get()->pl_exp_start_cont(p->hcam, p->ring, size) == PV_OK)
        p->sdk_started = true;
    else
        pvcam_sdk_error("pl_exp_start_cont", err, err_len);
    pvcam_sdk_unlock();
    if (!p->sdk_started)
        return -1;
    DAQ_LOG(DAQ_LOG_INFO, LOG_PVCAM, "pvcam stream started",
            DAQ_F_STR("device", daq_camera_id(cam)), DAQ_F_STR("camera", p->facts.name),
            DAQ_F_STR("buffer_mode",
                      p->mode == PVCAM_OVERWRITE ? "CIRC_OVERWRITE" : "CIRC_NO_OVERWRITE"),
            DAQ_F_STR("trigger_mode", daq_trigger_mode_name(p->trig_mode)),
            DAQ_F_U64("exp_mode", (uint16_t)p->stream_exp_mode), DAQ_F_U64("width", p->geom.width),
            DAQ_F_U64("height", p->geom.height), DAQ_F_U64("frame_bytes", p->frame_bytes),
            DAQ_F_U64("ring_frames", p->ring_frames), DAQ_F_U64("readout_time_us", p->readout_us),
            DAQ_F_F64("exposure_ms", p->set.exposure_ms));
    return 0;
}

/* ---- stop ------------------------------------------------------------------------ */

void pvcam_stop(daq_camera *cam)
{
    pvcam *p = pvcam_of(cam);
    pthread_mutex_lock(&p->ev_mu);
    p->acquiring = false; /* every callback from here on is late and ignored */
    pthread_cond_broadcast(&p->ev_cv);
    pthread_mutex_unlock(&p->ev_mu);
    if (!p->stream_live)
        return;
    pvcam_sdk_lock();
    if (p->sdk_started && pvcam_api_get()->pl_exp_stop_cont(p->hcam, CCS_HALT) != PV_OK)
        pvcam_sdk_warn("pl_exp_stop_cont(CCS_HALT)", daq_camera_id(cam));
    p->sdk_started = false;
    pvcam_sdk_unlock();
    /* Quiesce: the callback records entirely under ev_mu, so holding it once
     * after the halt waits out a callback that was recording; any callback
     * after that sees acquiring == false and touches nothing but counters.
     * The deregistration then stops PVCAM from calling at all. */
    pthread_mutex_lock(&p->ev_mu);
    pthread_mutex_unlock(&p->ev_mu);
    pvcam_sdk_lock();
    pvcam_deregister_locked(p);
    pvcam_sdk_unlock();
    ring_free(p); /* only now: nothing can write into it any more */
    p->locked = false;
    p->stream_live = false;
    DAQ_LOG(DAQ_LOG_INFO, LOG_PVCAM, "pvcam stream stopped",
            DAQ_F_STR("device", daq_camera_id(cam)),
            DAQ_F_U64("frames", atomic_load(&p->frames_got)),
            DAQ_F_U64("callbacks", atomic_load(&p->callbacks)),
            DAQ_F_U64("late_callbacks", atomic_load(&p->late_callbacks)),
            DAQ_F_U64("duplicate_callbacks", atomic_load(&p->duplicate_callbacks)),
            DAQ_F_U64("overruns", atomic_load(&p->overruns)),
            DAQ_F_U64("overrun_errors", atomic_load(&p->overrun_errors)));
}

/* ---- the frame calls (acquisition thread) ------------------------------------------ */

/* Frames announced and not yet taken, as wait's count (0 when none). */
static int pending(pvcam *p)
{
    int64_t n = atomic_load_explicit(&p->announced, memory_order_acquire) -
                atomic_load_explicit(&p->taken, memory_order_relaxed);
    return n <= 0 ? 0 : n > INT32_MAX ? INT32_MAX : (int)n;
}

int pvcam_wait(daq_camera *cam, int64_t timeout_ns)
{
    pvcam *p = pvcam_of(cam);
    int r = pending(p);
    if (r > 0)
        return r; /* the fast path: two atomic loads, no lock */
    uint64_t deadline = timeout_ns < 0 ? UINT64_MAX : daq_now_ns() + (uint64_t)timeout_ns;
    pthread_mutex_lock(&p->ev_mu);
    for (;;) {
        if ((r = pending(p)) > 0)
            break;
        if (p->failed) {
            r = -1;
            break;
        }
        if (p->interrupted) {
            p->interrupted = false;
            r = 0;
            break;
        }
        if (!p->acquiring || daq_now_ns() >= deadline) {
            r = 0;
            break;
        }
        if (deadline == UINT64_MAX)
            pthread_cond_wait(&p->ev_cv, &p->ev_mu);
        else
            daq_cond_wait_until(&p->ev_cv, &p->ev_mu, deadline);
    }
    pthread_mutex_unlock(&p->ev_mu);
    return r;
}

void pvcam_interrupt(daq_camera *cam)
{
    pvcam *p = pvcam_of(cam);
    pthread_mutex_lock(&p->ev_mu);
    p->interrupted = true;
    pthread_cond_broadcast(&p->ev_cv);
    pthread_mutex_unlock(&p->ev_mu);
}

/* Ends the stream: wait and get_oldest fail from now on with this text. */
static int fail_stream(pvcam *p, const char *why)
{
    bump(&p->readout_errors, 1);
    pthread_mutex_lock(&p->ev_mu);
    p->failed = true;
    snprintf(p->error, sizeof p->error, "%s", why);
    pthread_cond_broadcast(&p->ev_cv);
    pthread_mutex_unlock(&p->ev_mu);
    return -1;
}

static void note_soft_error(pvcam *p, const char *why)
{
    bump(&p->sdk_errors, 1);
    DAQ_LOG(DAQ_LOG_WARN, LOG_PVCAM, "frame not read", DAQ_F_STR("device", daq_camera_id(p->cam)),
            DAQ_F_STR("error", why));
}

/* One SDK get: no-overwrite -> the oldest (locked until unlock), overwrite
 * -> the newest.  Retries after 173, counting it in overrun_errors and
 * *overran.  Returns the code (0 ok). */
static int16 sdk_get(pvcam *p, void **ptr, bool *overran, char *why, size_t len)
{
    const pvcam_api *api = pvcam_api_get();
    bool oldest = p->mode == PVCAM_NO_OVERWRITE;
    int16 code = 0;
    pvcam_sdk_lock();
    for (int tries = 0; tries < 3; tries++) {
        rs_bool ok = oldest ? api->pl_exp_get_oldest_frame_ex(p->hcam, ptr, p->fi)
                            : api->pl_exp_get_latest_frame_ex(p->hcam, ptr, p->fi);
        if (ok == PV_OK) {
            code = 0;
            break;
        }
        code = pvcam_sdk_error(oldest ? "pl_exp_get_oldest_frame_ex" : "pl_exp_get_latest_frame_ex",
                               why, len);
        if (code != PL_ERR_BUFFER_OVERRUN)
            break;
        bump(&p->overrun_errors, 1); /* frames were overwritten: the next get is past them */
        *overran = true;
    }
    if (code == 0 && oldest && p->unlock_early) /* test only: rust-daq's race */
        api->pl_exp_unlock_oldest_frame(p->hcam);
    pvcam_sdk_unlock();
    return code;
}

/* The trigger frame nr answers (see the top of the file); 0 free-running. */
static uint64_t trigger_index_of(pvcam *p, int64_t nr)
{
    if (p->trig_mode == DAQ_TRIGGER_INTERNAL || nr <= 0)
        return 0;
    if (daq_trigger_mode_is_first(p->trig_mode))
        return 1;
    /* Not capped by triggers_accepted: that count rises only after
     * pl_exp_trigger returns, and a short exposure's frame can be taken
     * before that. */
    return (uint64_t)nr;
}

static void fill_info(pvcam *p, int64_t nr, daq_frame_info *info)
{
    const FRAME_INFO *fi = p->fi;
    int64_t off = atomic_load_explicit(&p->ts_offset_ns, memory_order_relaxed);
    uint64_t exposure = atomic_load_explicit(&p->exposure_ns, memory_order_relaxed);
    uint64_t eof = fi->TimeStamp > 0 ? (uint64_t)(fi->TimeStamp * 100000 + off) : daq_now_ns();
    uint64_t bof = fi->TimeStampBOF > 0 ? (uint64_t)(fi->TimeStampBOF * 100000 + off)
                   : eof > exposure     ? eof - exposure
                                        : 0;
    const pvcam_geom *g = &p->geom;
    *info = (daq_frame_info){
        .hw_frame_number = (uint64_t)nr,
        .bof_ns = bof,
        .eof_ns = eof,
        .exposure_ns = exposure,
        .cam_bof_ns = fi->TimeStampBOF > 0 ? (uint64_t)fi->TimeStampBOF * PVCAM_TICK_NS : 0,
        .cam_eof_ns = fi->TimeStamp > 0 ? (uint64_t)fi->TimeStamp * PVCAM_TICK_NS : 0,
        .trigger_index = trigger_index_of(p, nr),
        .bytes = g->pixel_bytes,
        .width = g->width,
        .height = g->height,
        .stride_bytes = g->stride,
        .bit_depth = (uint16_t)p->facts.bit_depth,
        .bin_x = (uint16_t)g->bin,
        .bin_y = (uint16_t)g->bin,
        .pixel_format = pvcam_pixel_format(p->facts.bit_depth),
        .roi = g->roi,
        .temperature_c = NAN, /* PARAM_TEMP is not read per frame */
    };
}

int pvcam_get_oldest(daq_camera *cam, const void **pixels, daq_frame_info *info)
{
    pvcam *p = pvcam_of(cam);
    if (p->failed)
        return -1;
    if (p->locked)
        return fail_stream(p, "pvcam: get_oldest called again before release_oldest");
    int64_t announced = atomic_load_explicit(&p->announced, memory_order_acquire);
    int64_t taken = atomic_load_explicit(&p->taken, memory_order_relaxed);
    if (announced <= taken)
        return 0;
    void *ptr = NULL;
    char why[320] = "";
    bool overran = false;
    int16 code = sdk_get(p, &ptr, &overran, why, sizeof why);
    if (code != 0) {
        if (fatal_code(code))
            return fail_stream(p, why);
        if (code != PL_ERR_BUFFER_OVERRUN && code != PL_ERR_DATA_NOT_AVAILABLE_YET)
            note_soft_error(p, why);
        if (code != PL_ERR_BUFFER_OVERRUN) /* what was announced is not there after all */
            atomic_store_explicit(&p->taken, announced, memory_order_relaxed);
        return 0;
    }
    unsigned char *px = ptr;
    size_t ring_bytes = (size_t)p->ring_frames * p->frame_bytes;
    if (px < p->ring || px + p->geom.pixel_bytes > p->ring + ring_bytes)
        return fail_stream(p, "pvcam: the SDK returned a frame outside the ring");
    int64_t nr = p->fi->FrameNr;
    if (nr > taken + 1 && (p->mode == PVCAM_OVERWRITE || overran))
        bump(&p->overruns, (uint64_t)(nr - taken - 1)); /* overwritten before they were read */
    if (nr > taken)
        atomic_store_explicit(&p->taken, nr, memory_order_relaxed);
    bump(&p->frames_got, 1);
    fill_info(p, nr, info);
    p->locked = true;
    *pixels = px;
    return 1;
}

void pvcam_release_oldest(daq_camera *cam)
{
    pvcam *p = pvcam_of(cam);
    if (!p->locked)
        return;
    p->locked = false;
    if (p->mode == PVCAM_OVERWRITE || p->unlock_early)
        return; /* get_latest locks nothing */
    char why[320] = "";
    pvcam_sdk_lock();
    bool ok = pvcam_api_get()->pl_exp_unlock_oldest_frame(p->hcam) == PV_OK;
    if (!ok)
        pvcam_sdk_error("pl_exp_unlock_oldest_frame", why, sizeof why);
    pvcam_sdk_unlock();
    if (!ok)
        fail_stream(p, why);
}

/* ---- triggers (control thread, under the camera lock) --------------------------------- */

uint32_t pvcam_trigger_modes(daq_camera *cam)
{
    pvcam *p = pvcam_of(cam);
    if (p->opened)
        p->known_trigger_bits = p->facts.trigger_bits;
    return p->known_trigger_bits | DAQ_TRIGGER_BIT(DAQ_TRIGGER_INTERNAL);
}

int pvcam_trigger(daq_camera *cam, daq_trigger_answer *out, char *err, size_t err_len)
{
    pvcam *p = pvcam_of(cam);
    memset(out, 0, sizeof *out);
    if (!p->sdk_started)
        return daq_err(err, err_len, "pvcam: camera '%s' is not streaming", daq_camera_id(cam));
    const pvcam_api *api = pvcam_api_get();
    if (!api->pl_exp_trigger) /* camera.c never asks: the software modes were not offered */
        return daq_err(err, err_len,
                       "pvcam: the loaded libpvcam has no pl_exp_trigger (PVCAM before 2.5)");
    if (!daq_trigger_mode_is_software(p->trig_mode))
        return daq_err(err, err_len, "pvcam: camera '%s' streams in %s, not a software mode",
                       daq_camera_id(cam), daq_trigger_mode_name(p->trig_mode));
    uns32 flags = 0; /* in: 0 (facts §2.7) */
    pvcam_sdk_lock();
    bool ok = api->pl_exp_trigger(p->hcam, &flags, 0) == PV_OK;
    if (!ok)
        pvcam_sdk_error("pl_exp_trigger", err, err_len);
    pvcam_sdk_unlock();
    if (!ok)
        return -1;
    if (flags == PL_SW_TRIG_STATUS_TRIGGERED) {
        uint64_t k = atomic_fetch_add_explicit(&p->triggers_accepted, 1, memory_order_release) + 1;
        out->result = DAQ_TRIGGER_TRIGGERED;
        out->index = daq_trigger_mode_is_first(p->trig_mode) ? 1 : k;
        return 0;
    }
    atomic_fetch_add_explicit(&p->triggers_ignored, 1, memory_order_relaxed);
    out->result = DAQ_TRIGGER_IGNORED;
    if (flags == PL_SW_TRIG_STATUS_IGNORED)
        snprintf(out->reason, sizeof out->reason,
                 "pvcam: the camera ignored the trigger (PL_SW_TRIG_STATUS_IGNORED)%s",
                 daq_trigger_mode_is_first(p->trig_mode) && atomic_load(&p->triggers_accepted) > 0
                     ? ": sequence already started"
                     : "");
    else
        snprintf(out->reason, sizeof out->reason,
                 "pvcam: pl_exp_trigger answered status %u, neither TRIGGERED nor IGNORED",
                 (unsigned)flags);
    return 0;
}
