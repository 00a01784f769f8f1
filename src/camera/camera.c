/* camera/camera.c - the caller side of the driver interface: creation with
 * a driver, and wrappers that serialise the control calls and validate
 * every parameter before a driver sees it.
 *
 * Validation lives here, once, rather than in each driver: unknown name,
 * read-only, not LIVE while streaming, then type/range/enum through
 * daq_param_coerce.  A driver's set_param therefore gets the parameter's
 * index in its own table and a value of the described type and range, and
 * checks only its own cross-field rules.
 *
 * Locking: cam->lock serialises open/close/start/stop/params/format/arm/
 * trigger so the opened/streaming flags always match the driver's state.
 * interrupt, stats, error and verify take no lock: interrupt must reach an
 * acquisition thread even while the control thread holds the lock inside a
 * slow stop, and drivers make the others safe from any thread.
 *
 * Start opens the camera implicitly if it is not open yet (a config that
 * says "start" means it), and a start while already streaming is a no-op
 * returning 0.  A driver start that fails is followed by a driver stop, so
 * half-started state is cleaned up at once.
 *
 * A start never blocks a reader: the driver's start may prefault its ring
 * (the sim's 32 x 128 MiB at 8192 x 8192 took 16.9 s) under lock.  Just
 * before it, under lock, the descriptors, values and format are copied
 * (about 25 driver get calls, microseconds) and `starting` is set; readers
 * that find lock taken and `starting` set answer from the copy, writers are
 * refused with a message (a write could only wait for the start to end).
 * A reader finding lock taken retries every 2 ms, so it notices a start
 * that began after its first look.
 *
 * The guard (the memory budget) sees every write that makes the frame or
 * the ring larger, with the resulting format, before any allocation: the
 * driver allocates at start.  A refused value is put back.
 *
 * This module knows no driver by name: creation by type is the registry's
 * (drivers/registry.c), which calls daq_camera_create_with.
 */
#include "camera/camera_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/clock.h"
#include "util/err.h"
#include "util/fatal.h"

#define READ_RETRY_NS 2000000L /* a reader's look at `starting` while lock is taken */

/* What readers get while a start runs (cam->snap). */
struct daq_camera_snap {
    size_t n;
    daq_param_desc desc[DAQ_CAMERA_MAX_PARAMS];
    daq_param_value val[DAQ_CAMERA_MAX_PARAMS];
    bool val_ok[DAQ_CAMERA_MAX_PARAMS];
    int fmt_rc;
    daq_camera_format fmt;
};

/* The lock of a camera reached through a const pointer (accessors). */
static pthread_mutex_t *cam_lock_of(const daq_camera *cam)
{
    return (pthread_mutex_t *)&cam->lock;
}

/* ---- the trigger model every camera has (ADR 0011) ---------------------------- */

/* The enum values of trigger.mode for each set of modes: built once, never
 * written again, so a descriptor copied out of the lock stays valid. */
static const char *mode_names[1u << DAQ_TRIGGER_MODE_COUNT][DAQ_TRIGGER_MODE_COUNT + 1];
static pthread_once_t mode_names_once = PTHREAD_ONCE_INIT;

static void mode_names_build(void)
{
    for (uint32_t bits = 0; bits < (1u << DAQ_TRIGGER_MODE_COUNT); bits++) {
        size_t k = 0;
        for (int m = 0; m < DAQ_TRIGGER_MODE_COUNT; m++)
            if (bits & DAQ_TRIGGER_BIT(m))
                mode_names[bits][k++] = daq_trigger_mode_name((daq_trigger_mode)m);
        mode_names[bits][k] = NULL;
    }
}

enum { OWN_MODE, OWN_FPT, OWN_TIMEOUT, OWN_ARMED };

static const daq_param_desc own_params[DAQ_CAMERA_OWN_PARAMS] = {
    [OWN_MODE] = {"trigger.mode",
                  "how exposures start: internal (free-running) or on triggers; the values are the "
                  "modes this camera has",
                  "", DAQ_PARAM_ENUM, DAQ_PARAM_WRITABLE, 0, 0, NULL},
    [OWN_FPT] = {"trigger.frames_per_trigger", "frames each trigger starts (not the *_first modes)",
                 "frames", DAQ_PARAM_INT, DAQ_PARAM_WRITABLE | DAQ_PARAM_HAS_RANGE, 1,
                 DAQ_TRIGGER_FPT_MAX, NULL},
    [OWN_TIMEOUT] = {"trigger.timeout_ms",
                     "a trigger whose frames have not all arrived by then is counted missed", "ms",
                     DAQ_PARAM_INT, DAQ_PARAM_WRITABLE | DAQ_PARAM_HAS_RANGE, 1,
                     DAQ_TRIGGER_TIMEOUT_MS_MAX, NULL},
    [OWN_ARMED] = {"trigger.armed", "streaming in a trigger mode: waiting for triggers", "",
                   DAQ_PARAM_BOOL, 0, 0, 0, NULL},
};

/* A driver's modes, cut to what the camera layer can honour: no software
 * modes without a trigger op. */
static uint32_t modes_usable(const daq_camera *cam, uint32_t m)
{
    if (!cam->ops->trigger)
        m &= ~(uint32_t)DAQ_TRIGGER_SOFTWARE_BITS;
    return (m | DAQ_TRIGGER_BIT(DAQ_TRIGGER_INTERNAL)) & ((1u << DAQ_TRIGGER_MODE_COUNT) - 1);
}

/* Under lock (or at creation): asks the driver which modes it has. */
static void trigger_modes_refresh(daq_camera *cam)
{
    uint32_t m = cam->ops->trigger_modes ? cam->ops->trigger_modes(cam) : 0;
    __atomic_store_n(&cam->modes, modes_usable(cam, m), __ATOMIC_RELAXED);
}

/* The values trigger.mode accepts.  A driver that learns its modes at open
 * (PVCAM) reports only internal before: a config applied before the first
 * open may still name any mode, and start checks it against the camera's
 * (start_mode_check). */
static uint32_t modes_settable(const daq_camera *cam)
{
    if (cam->ever_opened || !cam->ops->trigger_modes)
        return cam->modes;
    return modes_usable(cam, ~0u);
}

static bool armed_locked(const daq_camera *cam)
{
    return cam->streaming && cam->trig.mode != DAQ_TRIGGER_INTERNAL;
}

/* Under lock: the driver's table followed by the camera's own, in
 * cam->table; returns the total and the driver's count in *n_drv. */
static size_t params_locked(daq_camera *cam, const daq_param_desc **table, size_t *n_drv)
{
    const daq_param_desc *drv = NULL;
    size_t n = cam->ops->params(cam, &drv);
    memcpy(cam->table, drv, n * sizeof *drv);
    memcpy(cam->table + n, own_params, sizeof own_params);
    pthread_once(&mode_names_once, mode_names_build);
    cam->table[n + OWN_MODE].enum_values = mode_names[modes_settable(cam)];
    *table = cam->table;
    if (n_drv)
        *n_drv = n;
    return n + DAQ_CAMERA_OWN_PARAMS;
}

static int own_get(daq_camera *cam, size_t k, daq_param_value *out)
{
    switch (k) {
    case OWN_MODE:
        *out = daq_param_string(daq_trigger_mode_name(cam->trig.mode));
        out->type = DAQ_PARAM_ENUM;
        return 0;
    case OWN_FPT: *out = daq_param_int(cam->trig.frames_per_trigger); return 0;
    case OWN_TIMEOUT: *out = daq_param_int(cam->trig.timeout_ms); return 0;
    default: *out = daq_param_bool(armed_locked(cam)); return 0;
    }
}

/* v is validated against own_params (type, range, enum: a supported mode). */
static void own_set(daq_camera *cam, size_t k, const daq_param_value *v)
{
    if (k == OWN_MODE)
        cam->trig.mode = (daq_trigger_mode)daq_trigger_mode_parse(v->s);
    else if (k == OWN_FPT)
        cam->trig.frames_per_trigger = (uint32_t)v->i;
    else if (k == OWN_TIMEOUT)
        cam->trig.timeout_ms = (uint32_t)v->i;
}

/* Under lock: parameter i of the merged table, from the driver or the camera. */
static int param_get(daq_camera *cam, size_t i, daq_param_value *out, char *err, size_t err_len)
{
    const daq_param_desc *t;
    size_t n_drv;
    params_locked(cam, &t, &n_drv);
    return i < n_drv ? cam->ops->get_param(cam, i, out, err, err_len)
                     : own_get(cam, i - n_drv, out);
}

static int param_set(daq_camera *cam, size_t i, const daq_param_value *v, char *err, size_t err_len)
{
    const daq_param_desc *t;
    size_t n_drv;
    params_locked(cam, &t, &n_drv);
    if (i < n_drv)
        return cam->ops->set_param(cam, i, v, err, err_len);
    own_set(cam, i - n_drv, v);
    return 0;
}

daq_trigger_config daq_camera_trigger_config(const daq_camera *cam)
{
    return cam->trig;
}

int daq_camera__driver_check(const daq_driver *drv, char *err, size_t err_len)
{
    if (!drv || !drv->type || !drv->ops || !drv->create)
        return daq_err(err, err_len,
                       "camera driver '%s' is incomplete (it needs type, ops, create)",
                       drv && drv->type ? drv->type : "(null)");
    return 0;
}

daq_camera *daq_camera_create_with(const daq_driver *drv, const char *id, char *err, size_t err_len)
{
    if (daq_camera__driver_check(drv, err, err_len) != 0)
        return NULL;
    daq_camera *cam = calloc(1, sizeof *cam);
    if (!cam) {
        daq_err(err, err_len, "out of memory creating camera '%s'", id ? id : drv->type);
        return NULL;
    }
    cam->driver = drv;
    cam->ops = drv->ops;
    snprintf(cam->id, sizeof cam->id, "%s", id && *id ? id : drv->type);
    pthread_mutex_init(&cam->lock, NULL);
    pthread_mutex_init(&cam->snap_mu, NULL);
    cam->priv = drv->create(cam, err, err_len);
    if (!cam->priv) {
        pthread_mutex_destroy(&cam->snap_mu);
        pthread_mutex_destroy(&cam->lock);
        free(cam);
        return NULL;
    }
    const daq_param_desc *table;
    size_t n = cam->ops->params(cam, &table);
    if (n > DAQ_CAMERA_MAX_PARAMS - DAQ_CAMERA_OWN_PARAMS)
        daq_fatal("camera driver '%s': %zu parameters, at most %d", drv->type, n,
                  DAQ_CAMERA_MAX_PARAMS - DAQ_CAMERA_OWN_PARAMS);
    daq_trigger_track_init(&cam->track);
    cam->trig = (daq_trigger_config){DAQ_TRIGGER_INTERNAL, 1, DAQ_TRIGGER_TIMEOUT_MS_DEFAULT};
    trigger_modes_refresh(cam);
    return cam;
}

void daq_camera_destroy(daq_camera *cam)
{
    if (!cam)
        return;
    daq_camera_stop(cam);
    daq_camera_close(cam);
    if (cam->ops->destroy)
        cam->ops->destroy(cam);
    daq_trigger_track_destroy(&cam->track);
    pthread_mutex_destroy(&cam->snap_mu);
    pthread_mutex_destroy(&cam->lock);
    free(cam->snap);
    free(cam);
}

const char *daq_camera_id(const daq_camera *cam)
{
    return cam->id;
}

const char *daq_camera_type(const daq_camera *cam)
{
    return cam->driver->type;
}

daq_camera_mode daq_camera_mode_get(const daq_camera *cam)
{
    return cam->ops->mode;
}

/* Takes cam->lock for a read and returns true -- or, while a start holds
 * it, returns false with snap_mu held: the caller answers from cam->snap
 * and unlocks snap_mu. */
static bool lock_for_read(daq_camera *cam)
{
    for (;;) {
        pthread_mutex_lock(&cam->snap_mu);
        if (cam->starting)
            return false;
        pthread_mutex_unlock(&cam->snap_mu);
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t); /* pthread_mutex_timedlock's clock */
        t.tv_nsec += READ_RETRY_NS;
        if (t.tv_nsec >= 1000000000L) {
            t.tv_sec++;
            t.tv_nsec -= 1000000000L;
        }
        if (pthread_mutex_timedlock(&cam->lock, &t) == 0)
            return true;
    }
}

bool daq_camera_streaming(const daq_camera *cam)
{
    daq_camera *c = (daq_camera *)cam; /* the locks are not part of the value */
    if (!lock_for_read(c)) {
        pthread_mutex_unlock(&c->snap_mu);
        return false; /* not yet: the start is in progress */
    }
    bool s = c->streaming;
    pthread_mutex_unlock(cam_lock_of(cam));
    return s;
}

const daq_driver *daq_camera_driver(const daq_camera *cam)
{
    return cam->driver;
}

void *daq_camera_priv(const daq_camera *cam)
{
    return cam->priv;
}

size_t daq_camera_params_snapshot(daq_camera *cam, daq_param_desc *out, size_t max)
{
    if (!lock_for_read(cam)) {
        size_t n = cam->snap->n;
        if (n && max)
            memcpy(out, cam->snap->desc, (n < max ? n : max) * sizeof *out);
        pthread_mutex_unlock(&cam->snap_mu);
        return n;
    }
    const daq_param_desc *table = NULL;
    size_t n = params_locked(cam, &table, NULL);
    if (n && max) /* out may be NULL with max 0: just the count */
        memcpy(out, table, (n < max ? n : max) * sizeof *table);
    pthread_mutex_unlock(&cam->lock);
    return n;
}

/* Under cam->lock: the index of name in the driver's table (its descriptor
 * in *d), or -1 with an error naming it. */
static int find_locked(daq_camera *cam, const char *name, const daq_param_desc **d, char *err,
                       size_t err_len)
{
    const daq_param_desc *table = NULL;
    size_t n = params_locked(cam, &table, NULL);
    *d = daq_param_find(table, n, name);
    if (!*d)
        return daq_err(err, err_len, "unknown parameter '%s'", name ? name : "(null)");
    return (int)(*d - table);
}

/* Under snap_mu while starting: the index of name in the copy, or -1 with
 * the same message as find_locked. */
static int find_snap(daq_camera *cam, const char *name, char *err, size_t err_len)
{
    const daq_param_desc *d = daq_param_find(cam->snap->desc, cam->snap->n, name);
    if (!d)
        return daq_err(err, err_len, "unknown parameter '%s'", name ? name : "(null)");
    return (int)(d - cam->snap->desc);
}

/* Under cam->lock: the driver's "ring_frames" value, 0 when it has none. */
static uint32_t ring_frames_locked(daq_camera *cam)
{
    const daq_param_desc *d;
    daq_param_value v;
    int i = find_locked(cam, "ring_frames", &d, NULL, 0);
    if (i < 0 || param_get(cam, (size_t)i, &v, NULL, 0) != 0 || v.type != DAQ_PARAM_INT || v.i < 0)
        return 0;
    return v.i > UINT32_MAX ? UINT32_MAX : (uint32_t)v.i;
}

int daq_camera_get_param_desc(daq_camera *cam, const char *name, daq_param_desc *out, char *err,
                              size_t err_len)
{
    if (!lock_for_read(cam)) {
        int i = find_snap(cam, name, err, err_len);
        if (i >= 0)
            *out = cam->snap->desc[i];
        pthread_mutex_unlock(&cam->snap_mu);
        return i < 0 ? -1 : 0;
    }
    const daq_param_desc *d;
    int i = find_locked(cam, name, &d, err, err_len);
    if (i >= 0)
        *out = *d;
    pthread_mutex_unlock(&cam->lock);
    return i < 0 ? -1 : 0;
}

int daq_camera_get_param(daq_camera *cam, const char *name, daq_param_value *out, char *err,
                         size_t err_len)
{
    if (!lock_for_read(cam)) {
        int i = find_snap(cam, name, err, err_len);
        if (i >= 0 && !cam->snap->val_ok[i])
            i = daq_err(err, err_len, "%s: not readable while camera '%s' starts", name, cam->id);
        if (i >= 0)
            *out = cam->snap->val[i];
        pthread_mutex_unlock(&cam->snap_mu);
        return i < 0 ? -1 : 0;
    }
    const daq_param_desc *d;
    int i = find_locked(cam, name, &d, err, err_len);
    int r = i < 0 ? -1 : param_get(cam, (size_t)i, out, err, err_len);
    pthread_mutex_unlock(&cam->lock);
    return r;
}

/* Under cam->lock: a set through the one validation path
 * (daq_param_validate); the driver gets a checked value. */
static int set_locked(daq_camera *cam, const char *name, const daq_param_value *v, const char *text,
                      char *err, size_t err_len)
{
    const daq_param_desc *d;
    int i = find_locked(cam, name, &d, err, err_len);
    if (i < 0)
        return -1;
    daq_param_value c;
    if (daq_param_validate(d, cam->streaming, v, text, &c, err, err_len) != 0)
        return -1;
    if (!cam->guard)
        return param_set(cam, (size_t)i, &c, err, err_len);
    daq_param_value old;
    daq_camera_format before = {0}, after;
    char why[128];
    bool have_old = param_get(cam, (size_t)i, &old, why, sizeof why) == 0;
    if (cam->ops->format(cam, &before, why, sizeof why) != 0)
        before.frame_bytes = 0; /* e.g. an ROI off the sensor: any valid format is larger */
    uint32_t ring_before = ring_frames_locked(cam);
    if (param_set(cam, (size_t)i, &c, err, err_len) != 0)
        return -1;
    uint32_t ring = ring_frames_locked(cam);
    if (cam->ops->format(cam, &after, why, sizeof why) != 0 ||
        (after.frame_bytes <= before.frame_bytes && ring <= ring_before))
        return 0; /* nothing grew (or no valid format yet: the start checks) */
    if (cam->guard(cam->guard_ctx, cam, d->name, &after, ring, err, err_len) == 0)
        return 0;
    if (have_old)
        param_set(cam, (size_t)i, &old, why, sizeof why);
    return -1;
}

/* Refuses a write while a start runs: it could only wait for the start. */
static int refuse_starting(daq_camera *cam, const char *name, char *err, size_t err_len)
{
    pthread_mutex_unlock(&cam->snap_mu);
    return daq_err(err, err_len, "%s: camera '%s' is starting; set it once the start has ended",
                   name ? name : "(null)", cam->id);
}

int daq_camera_set_param(daq_camera *cam, const char *name, const daq_param_value *v, char *err,
                         size_t err_len)
{
    if (!v)
        return daq_err(err, err_len, "%s: no value", name ? name : "(null)");
    if (!lock_for_read(cam))
        return refuse_starting(cam, name, err, err_len);
    int r = set_locked(cam, name, v, NULL, err, err_len);
    pthread_mutex_unlock(&cam->lock);
    return r;
}

int daq_camera_set_param_text(daq_camera *cam, const char *name, const char *text, char *err,
                              size_t err_len)
{
    if (!text)
        return daq_err(err, err_len, "%s: no value", name ? name : "(null)");
    if (!lock_for_read(cam))
        return refuse_starting(cam, name, err, err_len);
    int r = set_locked(cam, name, NULL, text, err, err_len);
    pthread_mutex_unlock(&cam->lock);
    return r;
}

void daq_camera_set_guard(daq_camera *cam, daq_camera_guard_fn fn, void *ctx)
{
    pthread_mutex_lock(&cam->lock);
    cam->guard = fn;
    cam->guard_ctx = ctx;
    pthread_mutex_unlock(&cam->lock);
}

uint32_t daq_camera_ring_frames(daq_camera *cam)
{
    daq_param_value v;
    if (daq_camera_get_param(cam, "ring_frames", &v, NULL, 0) != 0 || v.type != DAQ_PARAM_INT ||
        v.i < 0)
        return 0;
    return v.i > UINT32_MAX ? UINT32_MAX : (uint32_t)v.i;
}

static int open_locked(daq_camera *cam, char *err, size_t err_len)
{
    if (cam->opened)
        return 0;
    if (cam->ops->open(cam, err, err_len) < 0)
        return -1;
    cam->opened = true;
    cam->ever_opened = true;
    trigger_modes_refresh(cam);
    return 0;
}

int daq_camera_open(daq_camera *cam, char *err, size_t err_len)
{
    pthread_mutex_lock(&cam->lock);
    int r = open_locked(cam, err, err_len);
    pthread_mutex_unlock(&cam->lock);
    return r;
}

static void stop_locked(daq_camera *cam)
{
    if (!cam->streaming)
        return;
    cam->ops->stop(cam);
    cam->streaming = false;
    daq_trigger_track_end(&cam->track);
}

void daq_camera_close(daq_camera *cam)
{
    pthread_mutex_lock(&cam->lock);
    stop_locked(cam);
    if (cam->opened) {
        cam->ops->close(cam);
        cam->opened = false;
        trigger_modes_refresh(cam);
    }
    pthread_mutex_unlock(&cam->lock);
}

int daq_camera_get_format(daq_camera *cam, daq_camera_format *out, char *err, size_t err_len)
{
    if (!lock_for_read(cam)) {
        int r = cam->snap->fmt_rc;
        if (r == 0)
            *out = cam->snap->fmt;
        else
            daq_err(err, err_len, "camera '%s': no valid format", cam->id);
        pthread_mutex_unlock(&cam->snap_mu);
        return r;
    }
    int r = cam->ops->format(cam, out, err, err_len);
    pthread_mutex_unlock(&cam->lock);
    return r;
}

/* The camera's modes from `from` on (internal: all), ", "-separated. */
static const char *trigger_mode_list(const daq_camera *cam, daq_trigger_mode from, char *buf,
                                     size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (int m = from; m < DAQ_TRIGGER_MODE_COUNT && off < len; m++)
        if (cam->modes & DAQ_TRIGGER_BIT(m)) {
            int w = snprintf(buf + off, len - off, "%s%s", off ? ", " : "",
                             daq_trigger_mode_name((daq_trigger_mode)m));
            if (w < 0)
                break;
            off += (size_t)w;
        }
    return buf;
}

/* Under lock, before a start: the camera must have the mode set before its
 * first open (see modes_settable). */
static int start_mode_check(daq_camera *cam, char *err, size_t err_len)
{
    if (cam->modes & DAQ_TRIGGER_BIT(cam->trig.mode))
        return 0;
    char modes[160];
    trigger_mode_list(cam, DAQ_TRIGGER_INTERNAL, modes, sizeof modes);
    return daq_err(err, err_len, "trigger.mode: camera '%s' (%s) has no mode '%s'; it has: %s",
                   cam->id, cam->driver->type, daq_trigger_mode_name(cam->trig.mode), modes);
}

/* Under lock, before a driver start: the copy readers get meanwhile, and
 * `starting` set.  false when the copy cannot be allocated (the start then
 * goes on without it: readers wait, as before). */
static bool snap_begin(daq_camera *cam)
{
    if (!cam->snap)
        cam->snap = calloc(1, sizeof *cam->snap);
    struct daq_camera_snap *sn = cam->snap;
    if (!sn)
        return false;
    const daq_param_desc *table = NULL;
    size_t n = params_locked(cam, &table, NULL);
    char why[128];
    pthread_mutex_lock(&cam->snap_mu);
    sn->n = n;
    memcpy(sn->desc, table, n * sizeof *table);
    for (size_t i = 0; i < n; i++)
        sn->val_ok[i] = param_get(cam, i, &sn->val[i], why, sizeof why) == 0;
    sn->fmt_rc = cam->ops->format(cam, &sn->fmt, why, sizeof why) == 0 ? 0 : -1;
    cam->starting = true;
    pthread_mutex_unlock(&cam->snap_mu);
    return true;
}

static void snap_end(daq_camera *cam)
{
    pthread_mutex_lock(&cam->snap_mu);
    cam->starting = false;
    pthread_mutex_unlock(&cam->snap_mu);
}

int daq_camera_start(daq_camera *cam, char *err, size_t err_len)
{
    pthread_mutex_lock(&cam->lock);
    int r = 0;
    if (!cam->streaming) {
        r = open_locked(cam, err, err_len);
        if (r == 0)
            r = start_mode_check(cam, err, err_len);
        if (r == 0) {
            daq_trigger_track_reset(&cam->track, &cam->trig);
            bool snap = snap_begin(cam);
            r = cam->ops->start(cam, err, err_len);
            if (snap)
                snap_end(cam);
            if (r < 0) {
                cam->ops->stop(cam); /* tidy up whatever start left behind */
                daq_trigger_track_end(&cam->track);
            } else
                cam->streaming = true;
        }
    }
    pthread_mutex_unlock(&cam->lock);
    return r < 0 ? -1 : 0;
}

void daq_camera_stop(daq_camera *cam)
{
    pthread_mutex_lock(&cam->lock);
    stop_locked(cam);
    pthread_mutex_unlock(&cam->lock);
}

int daq_camera_arm_check(daq_camera *cam, char *err, size_t err_len)
{
    pthread_mutex_lock(&cam->lock);
    int r = 0;
    if (cam->trig.mode == DAQ_TRIGGER_INTERNAL) {
        char modes[160];
        trigger_mode_list(cam, DAQ_TRIGGER_SOFTWARE, modes, sizeof modes);
        r = *modes
                ? daq_err(err, err_len,
                          "%s: trigger.mode is internal (free-running): set a trigger mode first "
                          "(%s)",
                          cam->id, modes)
                : daq_err(err, err_len,
                          "%s: trigger.mode is internal (free-running) and this camera (%s) has "
                          "no other mode",
                          cam->id, cam->driver->type);
    }
    pthread_mutex_unlock(&cam->lock);
    return r;
}

bool daq_camera_armed(daq_camera *cam)
{
    if (!lock_for_read(cam)) {
        pthread_mutex_unlock(&cam->snap_mu);
        return false; /* not yet: the start is in progress */
    }
    bool a = armed_locked(cam);
    pthread_mutex_unlock(&cam->lock);
    return a;
}

uint32_t daq_camera_trigger_modes(daq_camera *cam)
{
    return __atomic_load_n(&cam->modes, __ATOMIC_RELAXED);
}

bool daq_camera_can_trigger(daq_camera *cam)
{
    return (daq_camera_trigger_modes(cam) & ~DAQ_TRIGGER_BIT(DAQ_TRIGGER_INTERNAL)) != 0;
}

/* Under lock: why a software trigger cannot be sent now, or 0. */
static int trigger_refused(daq_camera *cam, char *err, size_t err_len)
{
    daq_trigger_mode m = cam->trig.mode;
    if (!armed_locked(cam))
        return daq_err(err, err_len, "%s: not armed", cam->id);
    if (!daq_trigger_mode_is_software(m))
        return daq_err(err, err_len,
                       "%s: trigger.mode is %s: triggers come from the line, not software", cam->id,
                       daq_trigger_mode_name(m));
    if (!cam->ops->trigger)
        return daq_err(err, err_len, "%s: software trigger not supported by this camera (%s)",
                       cam->id, cam->driver->type);
    return 0;
}

int daq_camera_trigger(daq_camera *cam, daq_trigger_answer *out, char *err, size_t err_len)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&cam->lock);
    int r = trigger_refused(cam, err, err_len);
    if (r == 0)
        r = cam->ops->trigger(cam, out, err, err_len) < 0 ? -1 : 0;
    if (r == 0)
        daq_trigger_track_sent(&cam->track, out->result == DAQ_TRIGGER_TRIGGERED, out->index,
                               daq_now_ns());
    pthread_mutex_unlock(&cam->lock);
    return r;
}

void daq_camera_trigger_stats(daq_camera *cam, daq_trigger_stats *out)
{
    /* The tracker's own lock only: a scrape never waits for a slow control
     * call holding the camera's. */
    daq_trigger_track_stats(&cam->track, daq_now_ns(), out);
}

void daq_camera_interrupt(daq_camera *cam)
{
    if (cam->ops->interrupt)
        cam->ops->interrupt(cam);
}

void daq_camera_stats_snapshot(daq_camera *cam, daq_camera_stats *out)
{
    memset(out, 0, sizeof *out);
    if (cam->ops->stats)
        cam->ops->stats(cam, out);
}

int daq_camera_verify(daq_camera *cam, const daq_frame *f, char *why, size_t len)
{
    if (!cam->ops->verify)
        return 0;
    return cam->ops->verify(cam, daq_frame_meta_get(f), daq_frame_cdata(f), why, len);
}

void daq_camera_stats_set_extras(daq_camera_stats *out, const daq_camera_extra *x, size_t n)
{
    if (n > DAQ_CAMERA_EXTRA_MAX)
        daq_fatal("camera stats: %zu extras, at most %d", n, DAQ_CAMERA_EXTRA_MAX);
    memcpy(out->extra, x, n * sizeof *x);
    out->n_extra = (unsigned)n;
}

const daq_camera_extra *daq_camera_stats_find(const daq_camera_stats *s, const char *name)
{
    for (unsigned i = 0; i < s->n_extra && i < DAQ_CAMERA_EXTRA_MAX; i++)
        if (strcmp(s->extra[i].name, name) == 0)
            return &s->extra[i];
    return NULL;
}

void daq_camera_error(daq_camera *cam, char *buf, size_t len)
{
    if (!buf || len == 0)
        return;
    buf[0] = '\0';
    if (cam->ops->error)
        cam->ops->error(cam, buf, len);
}
