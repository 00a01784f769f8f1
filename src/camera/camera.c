/* camera/camera.c - the caller side of the driver interface: creation by
 * type, and wrappers that serialise the control calls and validate every
 * parameter before a driver sees it.
 *
 * Validation lives here, once, rather than in each driver: unknown name,
 * read-only, not LIVE while streaming, then type/range/enum through
 * daq_param_coerce.  A driver's set_param therefore only deals with values
 * of the described type and range (plus its own cross-field rules).
 *
 * Locking: cam->lock serialises open/close/start/stop/params/format so the
 * opened/streaming flags always match the driver's state.  interrupt, stats
 * and error take no lock: interrupt must reach an acquisition thread even
 * while the control thread holds the lock inside a slow stop, and drivers
 * make stats/error safe from any thread.
 *
 * Start opens the camera implicitly if it is not open yet (a config that
 * says "start" means it), and a start while already streaming is a no-op
 * returning 0.  A driver start that fails is followed by a driver stop, so
 * half-started state is cleaned up at once.
 */
#include "daq/camera.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/fatal.h"

/* The lock of a camera reached through a const pointer (accessors). */
static pthread_mutex_t *cam_lock_of(const daq_camera *cam)
{
    return (pthread_mutex_t *)&cam->lock;
}

static void known_drivers(char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    const daq_driver *const *list = daq_driver_list();
    for (size_t i = 0; list[i]; i++) {
        const char *name = list[i]->type;
        for (size_t a = 0; name; a++) {
            int n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", name);
            if (n < 0 || (size_t)n >= len - used)
                return;
            used += (size_t)n;
            name = list[i]->aliases ? list[i]->aliases[a] : NULL;
        }
    }
}

daq_camera *daq_camera_create(const char *type, const char *id, char *err, size_t len)
{
    const daq_driver *drv = type ? daq_driver_find(type) : NULL;
    if (!drv) {
        char known[256];
        known_drivers(known, sizeof known);
        daq_err(err, len, "unknown camera driver '%s' (known: %s)", type ? type : "(null)", known);
        return NULL;
    }
    daq_camera *cam = calloc(1, sizeof *cam);
    if (!cam) {
        daq_err(err, len, "out of memory creating camera '%s'", id ? id : drv->type);
        return NULL;
    }
    cam->driver = drv;
    snprintf(cam->id, sizeof cam->id, "%s", id && *id ? id : drv->type);
    pthread_mutex_init(&cam->lock, NULL);
    if (drv->create(cam, err, len) < 0 || !cam->ops) {
        if (!cam->ops)
            daq_err(err, len, "driver '%s' did not set up camera '%s'", drv->type, cam->id);
        pthread_mutex_destroy(&cam->lock);
        free(cam);
        return NULL;
    }
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
    pthread_mutex_destroy(&cam->lock);
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

bool daq_camera_streaming(const daq_camera *cam)
{
    pthread_mutex_lock(cam_lock_of(cam));
    bool s = cam->streaming;
    pthread_mutex_unlock(cam_lock_of(cam));
    return s;
}

size_t daq_camera_params(daq_camera *cam, const daq_param_desc **table)
{
    pthread_mutex_lock(&cam->lock);
    size_t n = cam->ops->params(cam, table);
    pthread_mutex_unlock(&cam->lock);
    return n;
}

/* Under cam->lock: the descriptor of name, or an error naming it. */
static const daq_param_desc *find_locked(daq_camera *cam, const char *name, char *err, size_t len)
{
    const daq_param_desc *table = NULL;
    size_t n = cam->ops->params(cam, &table);
    const daq_param_desc *d = daq_param_find(table, n, name);
    if (!d)
        daq_err(err, len, "unknown parameter '%s'", name ? name : "(null)");
    return d;
}

int daq_camera_get_param(daq_camera *cam, const char *name, daq_param_value *out, char *err,
                         size_t len)
{
    pthread_mutex_lock(&cam->lock);
    int r = -1;
    if (find_locked(cam, name, err, len))
        r = cam->ops->get_param(cam, name, out, err, len);
    pthread_mutex_unlock(&cam->lock);
    return r;
}

/* Under cam->lock: may d be written now? */
static int writable_locked(daq_camera *cam, const daq_param_desc *d, char *err, size_t len)
{
    if (!(d->flags & DAQ_PARAM_WRITABLE))
        return daq_err(err, len, "%s: parameter is read-only", d->name);
    if (cam->streaming && !(d->flags & DAQ_PARAM_LIVE))
        return daq_err(err, len, "%s: cannot change while streaming", d->name);
    return 0;
}

int daq_camera_set_param(daq_camera *cam, const char *name, const daq_param_value *v, char *err,
                         size_t len)
{
    if (!v)
        return daq_err(err, len, "%s: no value", name ? name : "(null)");
    pthread_mutex_lock(&cam->lock);
    int r = -1;
    const daq_param_desc *d = find_locked(cam, name, err, len);
    daq_param_value c = *v;
    if (d && writable_locked(cam, d, err, len) == 0 && daq_param_coerce(d, &c, err, len) == 0)
        r = cam->ops->set_param(cam, d->name, &c, err, len);
    pthread_mutex_unlock(&cam->lock);
    return r;
}

int daq_camera_set_param_text(daq_camera *cam, const char *name, const char *text, char *err,
                              size_t len)
{
    pthread_mutex_lock(&cam->lock);
    int r = -1;
    const daq_param_desc *d = find_locked(cam, name, err, len);
    daq_param_value c;
    if (d && writable_locked(cam, d, err, len) == 0 && daq_param_parse(d, text, &c, err, len) == 0)
        r = cam->ops->set_param(cam, d->name, &c, err, len);
    pthread_mutex_unlock(&cam->lock);
    return r;
}

static int open_locked(daq_camera *cam, char *err, size_t len)
{
    if (cam->opened)
        return 0;
    if (cam->ops->open(cam, err, len) < 0)
        return -1;
    cam->opened = true;
    return 0;
}

int daq_camera_open(daq_camera *cam, char *err, size_t len)
{
    pthread_mutex_lock(&cam->lock);
    int r = open_locked(cam, err, len);
    pthread_mutex_unlock(&cam->lock);
    return r;
}

static void stop_locked(daq_camera *cam)
{
    if (!cam->streaming)
        return;
    cam->ops->stop(cam);
    cam->streaming = false;
}

void daq_camera_close(daq_camera *cam)
{
    pthread_mutex_lock(&cam->lock);
    stop_locked(cam);
    if (cam->opened) {
        cam->ops->close(cam);
        cam->opened = false;
    }
    pthread_mutex_unlock(&cam->lock);
}

int daq_camera_format_get(daq_camera *cam, daq_camera_format *out, char *err, size_t len)
{
    pthread_mutex_lock(&cam->lock);
    int r = cam->ops->format(cam, out, err, len);
    pthread_mutex_unlock(&cam->lock);
    return r;
}

int daq_camera_start(daq_camera *cam, char *err, size_t len)
{
    pthread_mutex_lock(&cam->lock);
    int r = 0;
    if (!cam->streaming) {
        r = open_locked(cam, err, len);
        if (r == 0) {
            r = cam->ops->start(cam, err, len);
            if (r < 0)
                cam->ops->stop(cam); /* tidy up whatever start left behind */
            else
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

void daq_camera_interrupt(daq_camera *cam)
{
    if (cam->ops->interrupt)
        cam->ops->interrupt(cam);
}

void daq_camera_stats_get(daq_camera *cam, daq_camera_stats *out)
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
