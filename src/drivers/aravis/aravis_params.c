/* drivers/aravis/aravis_params.c - the aravis driver's parameters: the table
 * a daemon lists, the pending settings, and how they reach the camera.
 *
 * The camera is the authority on its own features (ranges, which pixel
 * formats exist, whether it has binning): before open a set is only
 * recorded, at open every recorded value is written, and once open a set
 * goes straight to the device with Aravis' range checking on, so a value
 * the camera refuses fails with the camera's own reason, prefixed by the
 * parameter name.  A get on an open camera reads the feature back.  Values
 * never set are never written: the camera keeps what it had.
 *
 * As in the sim driver, the index of a descriptor is its parameter id and
 * get/set are switches without a default, so a parameter cannot be listed
 * without being handled.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "drivers/aravis/aravis_impl.h"
#include "util/err.h"

enum aravis_param_id {
    P_CAMERA,
    P_PIXEL_FORMAT,
    P_PACKET_SIZE,
    P_SOCKET_BUFFER,
    P_BUFFERS,
    P_EXPOSURE_MS,
    P_FRAME_RATE_HZ,
    P_GAIN,
    P_WIDTH,
    P_HEIGHT,
    P_ROI_X,
    P_ROI_Y,
    P_BINNING,
    P_TRIGGER_SOURCE,
    P_SENSOR_WIDTH,
    P_SENSOR_HEIGHT,
    P_MODEL,
    P_DEVICE_ID,
    P_PAYLOAD_BYTES,
    P_COUNT
};

#define W DAQ_PARAM_WRITABLE
#define L DAQ_PARAM_LIVE
#define R DAQ_PARAM_HAS_RANGE

static const daq_param_desc table[P_COUNT] = {
    [P_CAMERA] = {"camera",
                  "device id, physical id or IP address to open (\"\" = the first camera "
                  "found; \"Fake_1\" = Aravis' in-process fake)",
                  "", DAQ_PARAM_STRING, W, 0, 0, NULL},
    [P_PIXEL_FORMAT] = {"pixel_format",
                        "GenICam PixelFormat, e.g. Mono8, Mono12, Mono16 (\"\" = the camera's)", "",
                        DAQ_PARAM_STRING, W, 0, 0, NULL},
    [P_PACKET_SIZE] = {"packet_size", "GigE stream packet size (0 = negotiate with the camera)",
                       "bytes", DAQ_PARAM_INT, W | R, 0, 65535, NULL},
    [P_SOCKET_BUFFER] = {"socket_buffer",
                         "GigE receive socket buffer (0 = auto: the payload size; default 0 as "
                         "root, 4 MiB otherwise)",
                         "bytes", DAQ_PARAM_INT, W | R, 0, 1 << 30, NULL},
    [P_BUFFERS] = {"buffers", "frames queued at Aravis (pool slots the driver holds)", "frames",
                   DAQ_PARAM_INT, W | R, 2, 1024, NULL},
    [P_EXPOSURE_MS] = {"exposure_ms", "ExposureTime", "ms", DAQ_PARAM_FLOAT, W | L | R, 0, 1e7,
                       NULL},
    [P_FRAME_RATE_HZ] = {"frame_rate_hz", "AcquisitionFrameRate", "Hz", DAQ_PARAM_FLOAT, W | L | R,
                         0, 1e6, NULL},
    [P_GAIN] = {"gain", "Gain (camera units)", "", DAQ_PARAM_FLOAT, W | L, 0, 0, NULL},
    [P_WIDTH] = {"width", "image Width (ROI width)", "px", DAQ_PARAM_INT, W | R, 1, 1 << 20, NULL},
    [P_HEIGHT] = {"height", "image Height (ROI height)", "px", DAQ_PARAM_INT, W | R, 1, 1 << 20,
                  NULL},
    [P_ROI_X] = {"roi.x", "OffsetX", "px", DAQ_PARAM_INT, W | R, 0, 1 << 20, NULL},
    [P_ROI_Y] = {"roi.y", "OffsetY", "px", DAQ_PARAM_INT, W | R, 0, 1 << 20, NULL},
    [P_BINNING] = {"binning", "BinningHorizontal and BinningVertical", "px", DAQ_PARAM_INT, W | R,
                   1, 64, NULL},
    [P_TRIGGER_SOURCE] = {"trigger.source",
                          "TriggerSource of the external trigger modes (\"\" = the first Line* "
                          "the camera lists)",
                          "", DAQ_PARAM_STRING, W, 0, 0, NULL},
    [P_SENSOR_WIDTH] = {"sensor_width", "SensorWidth", "px", DAQ_PARAM_INT, 0, 0, 0, NULL},
    [P_SENSOR_HEIGHT] = {"sensor_height", "SensorHeight", "px", DAQ_PARAM_INT, 0, 0, 0, NULL},
    [P_MODEL] = {"model", "vendor and model of the open camera", "", DAQ_PARAM_STRING, 0, 0, 0,
                 NULL},
    [P_DEVICE_ID] = {"device_id", "Aravis device id of the open camera", "", DAQ_PARAM_STRING, 0, 0,
                     0, NULL},
    [P_PAYLOAD_BYTES] = {"payload_bytes", "bytes per frame (PayloadSize)", "bytes", DAQ_PARAM_INT,
                         0, 0, 0, NULL},
};

#undef W
#undef L
#undef R

void aravis_settings_default(aravis_settings *s)
{
    memset(s, 0, sizeof *s);
    s->buffers = 8;
    /* Without CAP_NET_ADMIN the kernel caps "auto" at rmem_max (~200 KiB):
     * most packets of a big frame would be dropped. */
    s->socket_buffer = geteuid() == 0 ? 0 : 4 << 20;
}

size_t aravis_params(daq_camera *cam, const daq_param_desc **out)
{
    *out = table;
    return P_COUNT;
}

int aravis_gerror(GError **e, const char *what, char *err, size_t err_len)
{
    daq_err(err, err_len, "%s: %s", what, *e && (*e)->message ? (*e)->message : "failed");
    g_clear_error(e);
    return -1;
}

/* ---- reading the device ------------------------------------------------------ */

static int get_open(aravis *d, int id, daq_param_value *out, char *err, size_t err_len)
{
    ArvCamera *c = d->camera;
    GError *e = NULL;
    gint x = 0, y = 0, w = 0, h = 0, dx = 1, dy = 1;
    switch ((enum aravis_param_id)id) {
    case P_PIXEL_FORMAT: {
        const char *s = arv_camera_get_pixel_format_as_string(c, &e);
        *out = daq_param_string(s ? s : "");
        break;
    }
    case P_EXPOSURE_MS: *out = daq_param_float(arv_camera_get_exposure_time(c, &e) / 1000.0); break;
    case P_FRAME_RATE_HZ: *out = daq_param_float(arv_camera_get_frame_rate(c, &e)); break;
    case P_GAIN: *out = daq_param_float(arv_camera_get_gain(c, &e)); break;
    case P_WIDTH:
    case P_HEIGHT:
    case P_ROI_X:
    case P_ROI_Y:
        arv_camera_get_region(c, &x, &y, &w, &h, &e);
        *out = daq_param_int(id == P_WIDTH ? w : id == P_HEIGHT ? h : id == P_ROI_X ? x : y);
        break;
    case P_BINNING:
        arv_camera_get_binning(c, &dx, &dy, &e);
        *out = daq_param_int(dx);
        break;
    case P_SENSOR_WIDTH:
    case P_SENSOR_HEIGHT:
        arv_camera_get_sensor_size(c, &w, &h, &e);
        *out = daq_param_int(id == P_SENSOR_WIDTH ? w : h);
        break;
    case P_PAYLOAD_BYTES: *out = daq_param_int(arv_camera_get_payload(c, &e)); break;
    case P_PACKET_SIZE:
        *out = daq_param_int(d->is_gv ? arv_camera_gv_get_packet_size(c, &e) : 0);
        break;
    case P_CAMERA:
    case P_SOCKET_BUFFER:
    case P_BUFFERS:
    case P_TRIGGER_SOURCE:
    case P_MODEL:
    case P_DEVICE_ID:
    case P_COUNT: return 1; /* not a device feature */
    }
    return e ? aravis_gerror(&e, table[id].name, err, err_len) : 0;
}

int aravis_get_param(daq_camera *cam, size_t index, daq_param_value *out, char *err, size_t err_len)
{
    aravis *d = aravis_of(cam);
    int id = (int)index;
    if (d->camera) {
        int r = get_open(d, id, out, err, err_len);
        if (r <= 0)
            return r;
    }
    const aravis_settings *s = &d->set;
    switch ((enum aravis_param_id)id) {
    case P_CAMERA: *out = daq_param_string(s->camera); break;
    case P_PIXEL_FORMAT: *out = daq_param_string(s->pixel_format); break;
    case P_PACKET_SIZE: *out = daq_param_int(s->packet_size); break;
    case P_SOCKET_BUFFER: *out = daq_param_int(s->socket_buffer); break;
    case P_BUFFERS: *out = daq_param_int(s->buffers); break;
    case P_EXPOSURE_MS: *out = daq_param_float(s->exposure_ms); break;
    case P_FRAME_RATE_HZ: *out = daq_param_float(s->frame_rate_hz); break;
    case P_GAIN: *out = daq_param_float(s->gain); break;
    case P_WIDTH: *out = daq_param_int(s->width); break;
    case P_HEIGHT: *out = daq_param_int(s->height); break;
    case P_ROI_X: *out = daq_param_int(s->x); break;
    case P_ROI_Y: *out = daq_param_int(s->y); break;
    case P_BINNING: *out = daq_param_int(s->has_binning ? s->binning : 1); break;
    case P_TRIGGER_SOURCE: *out = daq_param_string(s->trigger_source); break;
    case P_MODEL: *out = daq_param_string(d->model); break;
    case P_DEVICE_ID: *out = daq_param_string(d->device_id); break;
    case P_SENSOR_WIDTH:
    case P_SENSOR_HEIGHT:
    case P_PAYLOAD_BYTES: *out = daq_param_int(0); break;
    case P_COUNT: return -1;
    }
    return 0;
}

/* ---- writing the device ----------------------------------------------------------- */

/* Aravis writes an unknown enumeration entry without complaint: check it
 * against the camera's list, and name the choices. */
static int check_pixel_format(ArvCamera *c, const char *name, char *err, size_t err_len)
{
    GError *e = NULL;
    guint n = 0;
    const char **list = arv_camera_dup_available_pixel_formats_as_strings(c, &n, &e);
    if (e) {
        g_free(list);
        return aravis_gerror(&e, "pixel_format", err, err_len);
    }
    char names[256] = "";
    size_t used = 0;
    bool found = false;
    for (guint i = 0; i < n && list; i++) {
        found |= strcmp(list[i], name) == 0;
        int w = snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", list[i]);
        if (w > 0 && (size_t)w < sizeof names - used)
            used += (size_t)w;
    }
    g_free(list);
    return found ? 0
                 : daq_err(err, err_len, "pixel_format: %s is not one of this camera's: %s", name,
                           names);
}

/* Writes one recorded setting to the open camera. */
static int write_one(aravis *d, int id, char *err, size_t err_len)
{
    ArvCamera *c = d->camera;
    const aravis_settings *s = &d->set;
    GError *e = NULL;
    switch ((enum aravis_param_id)id) {
    case P_PIXEL_FORMAT:
        if (check_pixel_format(c, s->pixel_format, err, err_len) < 0)
            return -1;
        arv_camera_set_pixel_format_from_string(c, s->pixel_format, &e);
        break;
    case P_EXPOSURE_MS:
        arv_camera_set_exposure_time(c, s->exposure_ms * 1000.0, &e);
        if (!e)
            atomic_store(&d->exposure_us, arv_camera_get_exposure_time(c, &e));
        break;
    case P_FRAME_RATE_HZ: {
        /* arv_camera_set_frame_rate clamps to the bounds without a word:
         * a rate the camera cannot do is an error here, not a surprise. */
        double lo = 0, hi = 0;
        arv_camera_get_frame_rate_bounds(c, &lo, &hi, &e);
        if (!e && (s->frame_rate_hz < lo || s->frame_rate_hz > hi))
            return daq_err(err, err_len, "frame_rate_hz: %g Hz is outside this camera's %g..%g Hz",
                           s->frame_rate_hz, lo, hi);
        if (!e)
            arv_camera_set_frame_rate(c, s->frame_rate_hz, &e);
        break;
    }
    case P_GAIN: arv_camera_set_gain(c, s->gain, &e); break;
    case P_WIDTH: arv_camera_set_integer(c, "Width", s->width, &e); break;
    case P_HEIGHT: arv_camera_set_integer(c, "Height", s->height, &e); break;
    case P_ROI_X: arv_camera_set_integer(c, "OffsetX", s->x, &e); break;
    case P_ROI_Y: arv_camera_set_integer(c, "OffsetY", s->y, &e); break;
    case P_BINNING: arv_camera_set_binning(c, (gint)s->binning, (gint)s->binning, &e); break;
    case P_PACKET_SIZE:
        if (!d->is_gv)
            return 0; /* GigE only; other transports have no packets */
        if (s->packet_size == 0)
            arv_camera_gv_auto_packet_size(c, &e);
        else
            arv_camera_gv_set_packet_size(c, (gint)s->packet_size, &e);
        break;
    case P_CAMERA:
    case P_SOCKET_BUFFER:
    case P_BUFFERS:
    case P_TRIGGER_SOURCE: return 0; /* used at open / start */
    case P_SENSOR_WIDTH:             /* read-only: the camera layer refuses them before a set */
    case P_SENSOR_HEIGHT:
    case P_MODEL:
    case P_DEVICE_ID:
    case P_PAYLOAD_BYTES:
    case P_COUNT: daq_fatal("aravis: write_one of read-only parameter %d", id);
    }
    return e ? aravis_gerror(&e, table[id].name, err, err_len) : 0;
}

/* Records v for id; true if it is a device feature to write now. */
static bool record(aravis_settings *s, int id, const daq_param_value *v)
{
    switch ((enum aravis_param_id)id) {
    case P_CAMERA: snprintf(s->camera, sizeof s->camera, "%s", v->s); return false;
    case P_PIXEL_FORMAT: snprintf(s->pixel_format, sizeof s->pixel_format, "%s", v->s); break;
    case P_PACKET_SIZE: s->packet_size = v->i; break;
    case P_SOCKET_BUFFER: s->socket_buffer = v->i; return false;
    case P_BUFFERS: s->buffers = v->i; return false;
    case P_TRIGGER_SOURCE:
        /* Checked against the camera's list by the start that uses it. */
        snprintf(s->trigger_source, sizeof s->trigger_source, "%s", v->s);
        return false;
    case P_EXPOSURE_MS: s->exposure_ms = v->f, s->has_exposure = true; break;
    case P_FRAME_RATE_HZ: s->frame_rate_hz = v->f, s->has_frame_rate = true; break;
    case P_GAIN: s->gain = v->f, s->has_gain = true; break;
    case P_WIDTH: s->width = v->i, s->has_width = true; break;
    case P_HEIGHT: s->height = v->i, s->has_height = true; break;
    case P_ROI_X: s->x = v->i, s->has_x = true; break;
    case P_ROI_Y: s->y = v->i, s->has_y = true; break;
    case P_BINNING: s->binning = v->i, s->has_binning = true; break;
    case P_SENSOR_WIDTH:
    case P_SENSOR_HEIGHT:
    case P_MODEL:
    case P_DEVICE_ID:
    case P_PAYLOAD_BYTES:
    case P_COUNT: return false;
    }
    return true;
}

int aravis_set_param(daq_camera *cam, size_t index, const daq_param_value *v, char *err,
                     size_t err_len)
{
    aravis *d = aravis_of(cam);
    int id = (int)index;
    const daq_param_value c = *v;
    if (id == P_CAMERA && d->camera)
        return daq_err(err, err_len, "camera: cannot change while the camera is open");
    aravis_settings old = d->set;
    if (!record(&d->set, id, &c) || !d->camera)
        return 0;
    if (write_one(d, id, err, err_len) < 0) {
        d->set = old; /* the camera refused: keep what it has */
        return -1;
    }
    return 0;
}

/* ---- open ------------------------------------------------------------------------------ */

static bool has_feature(ArvCamera *c, const char *name)
{
    GError *e = NULL;
    gboolean ok = arv_camera_is_feature_available(c, name, &e);
    g_clear_error(&e);
    return ok;
}

/* The ROI: offsets to 0 first so a larger size fits, then size, then the
 * offsets asked for (or back to what they were). */
static int apply_region(aravis *d, char *err, size_t err_len)
{
    const aravis_settings *s = &d->set;
    if (!s->has_width && !s->has_height && !s->has_x && !s->has_y)
        return 0;
    ArvCamera *c = d->camera;
    GError *e = NULL;
    gint x, y, w, h;
    arv_camera_get_region(c, &x, &y, &w, &h, &e);
    if (e)
        return aravis_gerror(&e, "region", err, err_len);
    bool offsets = has_feature(c, "OffsetX") && has_feature(c, "OffsetY");
    if (offsets && (x || y)) {
        arv_camera_set_integer(c, "OffsetX", 0, &e);
        if (!e)
            arv_camera_set_integer(c, "OffsetY", 0, &e);
        if (e)
            return aravis_gerror(&e, "roi", err, err_len);
    }
    if (s->has_width && write_one(d, P_WIDTH, err, err_len) < 0)
        return -1;
    if (s->has_height && write_one(d, P_HEIGHT, err, err_len) < 0)
        return -1;
    if (!offsets)
        return s->has_x || s->has_y
                   ? daq_err(err, err_len, "roi: the camera has no OffsetX/OffsetY")
                   : 0;
    arv_camera_set_integer(c, "OffsetX", s->has_x ? s->x : x, &e);
    if (!e)
        arv_camera_set_integer(c, "OffsetY", s->has_y ? s->y : y, &e);
    return e ? aravis_gerror(&e, "roi", err, err_len) : 0;
}

int aravis_apply_settings(aravis *d, char *err, size_t err_len)
{
    const aravis_settings *s = &d->set;
    if (s->pixel_format[0] && write_one(d, P_PIXEL_FORMAT, err, err_len) < 0)
        return -1;
    if (s->has_binning && write_one(d, P_BINNING, err, err_len) < 0)
        return -1;
    if (apply_region(d, err, err_len) < 0)
        return -1;
    if (s->has_exposure && write_one(d, P_EXPOSURE_MS, err, err_len) < 0)
        return -1;
    if (s->has_frame_rate && write_one(d, P_FRAME_RATE_HZ, err, err_len) < 0)
        return -1;
    if (s->has_gain && write_one(d, P_GAIN, err, err_len) < 0)
        return -1;
    return write_one(d, P_PACKET_SIZE, err, err_len);
}
