/* drivers/aravis/aravis_driver.c - the "aravis" camera driver: GenICam
 * cameras (GigE Vision, USB3 Vision, and Aravis' fakes) through Aravis, in
 * FILL mode (docs/architecture.md §6).
 *
 * Why FILL: Aravis lets the application own the frame memory (a buffer
 * made over preallocated data), so the empty pool frames themselves are
 * queued to the stream and come back filled.  The copy that a COPY-mode
 * driver would force (SDK buffer -> pool slot: ~0.3 ms per 4 MiB here,
 * and a second pass over memory that a GigE receiver already streams
 * through once) does not exist.  The hot path is in aravis_stream.c.
 *
 * This file is the control side: open (by id, IP or "first"; the trigger
 * modes are discovered here, aravis_trigger.c), format, start (the trigger
 * mode the camera layer chose is configured first; then a fresh stream per
 * start: its socket buffer and statistics belong to that stream), stop
 * (acquisition off, stream destroyed, every queued pool frame released),
 * interrupt, stats and the error text.
 *
 * Aravis' stream statistics, the per-status failure counts and the copy
 * counter are the stat extras, which the metrics endpoint exports as
 * daq_camera_events_total{event}.  A stream's statistics are kept after
 * stop for the final report and reset by the next start.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daq/log.h"
#include "drivers/aravis/aravis_impl.h"
#include "daq/aravis.h"
#include "util/err.h"

static const char *const info_names[ARAVIS_SI_COUNT] = {
    [ARAVIS_SI_COMPLETED] = "n_completed_buffers",
    [ARAVIS_SI_FAILURES] = "n_failures",
    [ARAVIS_SI_UNDERRUNS] = "n_underruns",
    [ARAVIS_SI_MISSING_PACKETS] = "n_missing_packets",
    [ARAVIS_SI_RESENT_PACKETS] = "n_resent_packets",
    [ARAVIS_SI_MISSING_FRAMES] = "n_missing_frames",
};

ArvCamera *aravis_arv_camera(daq_camera *cam)
{
    return cam && daq_camera_driver(cam) == &daq_aravis_driver ? aravis_of(cam)->camera : NULL;
}

/* ---- open / close -------------------------------------------------------------------- */

/* The id to open: the configured one, or the first camera discovered. */
static int resolve_id(aravis *d, char *id, size_t id_len, char *err, size_t err_len)
{
    if (d->set.camera[0]) {
        snprintf(id, id_len, "%s", d->set.camera);
        if (strncmp(id, "Fake", 4) == 0)
            arv_enable_interface("Fake"); /* the in-process fake is off by default */
        return 0;
    }
    arv_update_device_list(); /* discovery: broadcasts on every interface */
    if (arv_get_n_devices() == 0)
        return daq_err(err, err_len,
                       "aravis: no camera found (set 'camera' to an id or IP address)");
    snprintf(id, id_len, "%s", arv_get_device_id(0));
    return 0;
}

static void aravis_close(daq_camera *cam)
{
    aravis *d = aravis_of(cam);
    if (d->camera)
        g_object_unref(d->camera);
    d->camera = NULL;
    d->device_id[0] = d->model[0] = '\0';
    aravis_trigger_forget(d);
}

static int aravis_open(daq_camera *cam, char *err, size_t err_len)
{
    aravis *d = aravis_of(cam);
    char id[DAQ_PARAM_STR_MAX], what[DAQ_PARAM_STR_MAX + 48];
    if (resolve_id(d, id, sizeof id, err, err_len) < 0)
        return -1;
    GError *e = NULL;
    ArvCamera *c = arv_camera_new(id, &e);
    if (!c) {
        snprintf(what, sizeof what, "aravis: cannot open camera '%s'", id);
        return aravis_gerror(&e, what, err, err_len);
    }
    d->camera = c;
    d->is_gv = arv_camera_is_gv_device(c);
    arv_camera_set_range_check_policy(c, ARV_RANGE_CHECK_POLICY_ENABLE);
    const char *vendor = arv_camera_get_vendor_name(c, NULL);
    const char *model = arv_camera_get_model_name(c, NULL);
    snprintf(d->device_id, sizeof d->device_id, "%s", id);
    snprintf(d->model, sizeof d->model, "%s %s", vendor ? vendor : "?", model ? model : "?");
    atomic_store(&d->exposure_us, arv_camera_get_exposure_time(c, &e));
    g_clear_error(&e);
    if (aravis_apply_settings(d, err, err_len) < 0) {
        aravis_close(cam);
        return -1;
    }
    aravis_trigger_discover(d);
    DAQ_LOG(DAQ_LOG_INFO, ARAVIS_LOG, "camera opened", DAQ_F_STR("device", daq_camera_id(cam)),
            DAQ_F_STR("aravis_id", d->device_id), DAQ_F_STR("model", d->model),
            DAQ_F_BOOL("gige", d->is_gv), DAQ_F_U64("trigger_modes", d->trigger_modes),
            DAQ_F_STR("trigger_sources", d->tcaps.sources));
    return 0;
}

/* ---- format -------------------------------------------------------------------------------- */

static int aravis_format(daq_camera *cam, daq_camera_format *out, char *err, size_t err_len)
{
    aravis *d = aravis_of(cam);
    if (!d->camera)
        return daq_err(err, err_len, "aravis: camera '%s' is not open", daq_camera_id(cam));
    ArvCamera *c = d->camera;
    GError *e = NULL;
    gint x, y, w, h;
    arv_camera_get_region(c, &x, &y, &w, &h, &e);
    ArvPixelFormat pf = e ? 0 : arv_camera_get_pixel_format(c, &e);
    size_t payload = e ? 0 : arv_camera_get_payload(c, &e);
    if (e)
        return aravis_gerror(&e, "aravis: format", err, err_len);
    double rate = arv_camera_get_frame_rate(c, &e);
    g_clear_error(&e); /* optional feature */
    unsigned bits = ARV_PIXEL_FORMAT_BIT_PER_PIXEL(pf);
    *out = (daq_camera_format){
        .width = (uint32_t)w,
        .height = (uint32_t)h,
        .stride_bytes = (uint32_t)((size_t)w * bits / 8),
        .bit_depth = (uint16_t)aravis_depth_of(pf),
        .pixel_format = aravis_pixel_format(pf),
        .frame_bytes = payload,
        .exposure_ms = atomic_load(&d->exposure_us) / 1000.0,
        .frame_rate_hz = rate > 0 ? rate : 0,
    };
    d->payload = payload;
    return 0;
}

/* ---- start / stop ---------------------------------------------------------------------------- */

static void reset_counters(aravis *d)
{
    _Atomic uint64_t *c[] = {&d->delivered, &d->failed,  &d->memcpy_count, &d->memcpy_bytes,
                             &d->queued,    &d->foreign, &d->id_wraps};
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        atomic_store(c[i], 0);
    for (size_t i = 0; i < ARAVIS_FAIL_COUNT; i++)
        atomic_store(&d->fail[i], 0);
    memset(d->saved_info, 0, sizeof d->saved_info);
    aravis_id_reset(&d->ids);
    atomic_store(&d->interrupted, false);
}

/* Which of the stream statistics this stream type declares. */
static void find_infos(aravis *d, ArvStream *s)
{
    guint n = arv_stream_get_n_infos(s);
    for (int k = 0; k < ARAVIS_SI_COUNT; k++) {
        d->info_index[k] = -1;
        for (guint i = 0; i < n; i++)
            if (strcmp(arv_stream_get_info_name(s, i), info_names[k]) == 0)
                d->info_index[k] = (int)i;
    }
}

static void configure_gv_stream(aravis *d, ArvStream *s)
{
    int64_t sb = d->set.socket_buffer;
    g_object_set(s, "socket-buffer",
                 sb ? ARV_GV_STREAM_SOCKET_BUFFER_FIXED : ARV_GV_STREAM_SOCKET_BUFFER_AUTO, NULL);
    if (sb)
        g_object_set(s, "socket-buffer-size", (gint)sb, NULL);
}

static int aravis_start(daq_camera *cam, char *err, size_t err_len)
{
    aravis *d = aravis_of(cam);
    if (!d->camera)
        return daq_err(err, err_len, "aravis: camera '%s' is not open", daq_camera_id(cam));
    if (d->stream)
        return daq_err(err, err_len, "aravis: camera '%s' is already streaming",
                       daq_camera_id(cam));
    daq_camera_format fmt;
    if (aravis_format(cam, &fmt, err, err_len) < 0)
        return -1;
    GError *e = NULL;
    arv_camera_set_acquisition_mode(d->camera, ARV_ACQUISITION_MODE_CONTINUOUS, &e);
    if (e)
        return aravis_gerror(&e, "aravis: AcquisitionMode", err, err_len);
    /* Before the stream exists: a camera armed here waits for its trigger
     * from AcquisitionStart on, and produces nothing the engine must drop. */
    d->trig = daq_camera_trigger_config(cam);
    if (aravis_trigger_configure(d, err, err_len) < 0)
        return -1;
    ArvStream *s = arv_camera_create_stream(d->camera, NULL, NULL, &e);
    if (!s)
        return aravis_gerror(&e, "aravis: cannot create the stream", err, err_len);
    if (ARV_IS_GV_STREAM(s))
        configure_gv_stream(d, s);
    find_infos(d, s);
    reset_counters(d);
    pthread_mutex_lock(&d->err_mu);
    d->error[0] = '\0';
    pthread_mutex_unlock(&d->err_mu);
    pthread_mutex_lock(&d->stats_mu);
    d->stream = s;
    pthread_mutex_unlock(&d->stats_mu);
    /* Frames that arrive before the engine has queued its buffers are
     * underruns (counted by Aravis), never losses: the loss check starts
     * at the first delivered frame. */
    arv_camera_start_acquisition(d->camera, &e);
    if (e)
        return aravis_gerror(&e, "aravis: AcquisitionStart", err, err_len); /* the wrapper stops */
    DAQ_LOG(DAQ_LOG_INFO, ARAVIS_LOG, "stream started", DAQ_F_STR("device", daq_camera_id(cam)),
            DAQ_F_U64("payload", d->payload), DAQ_F_U64("buffers", (uint64_t)d->set.buffers),
            DAQ_F_I64("socket_buffer", d->is_gv ? d->set.socket_buffer : -1),
            DAQ_F_STR("trigger_mode", daq_trigger_mode_name(d->trig.mode)),
            DAQ_F_U64("frames_per_trigger", d->trig.frames_per_trigger));
    return 0;
}

/* Under stats_mu: the stream's statistics into saved_info. */
static void snapshot_infos(aravis *d)
{
    for (int k = 0; k < ARAVIS_SI_COUNT; k++)
        d->saved_info[k] = d->info_index[k] >= 0
                               ? arv_stream_get_info_uint64(d->stream, (guint)d->info_index[k])
                               : 0;
}

static void aravis_stop(daq_camera *cam)
{
    aravis *d = aravis_of(cam);
    if (!d->stream)
        return;
    GError *e = NULL;
    arv_camera_stop_acquisition(d->camera, &e);
    if (e) {
        DAQ_LOG(DAQ_LOG_WARN, ARAVIS_LOG, "AcquisitionStop failed",
                DAQ_F_STR("device", daq_camera_id(cam)), DAQ_F_STR("error", e->message));
        g_clear_error(&e);
    }
    pthread_mutex_lock(&d->stats_mu);
    snapshot_infos(d);
    ArvStream *s = d->stream;
    d->stream = NULL;
    pthread_mutex_unlock(&d->stats_mu);
    g_object_unref(s); /* joins the receive thread, drops its hold on our buffers */
    aravis_release_all(d);
    DAQ_LOG(DAQ_LOG_INFO, ARAVIS_LOG, "stream stopped", DAQ_F_STR("device", daq_camera_id(cam)),
            DAQ_F_U64("delivered", atomic_load(&d->delivered)),
            DAQ_F_U64("failed", atomic_load(&d->failed)),
            DAQ_F_U64("underruns", d->saved_info[ARAVIS_SI_UNDERRUNS]),
            DAQ_F_U64("memcpy_count", atomic_load(&d->memcpy_count)));
}

static void aravis_interrupt(daq_camera *cam)
{
    atomic_store_explicit(&aravis_of(cam)->interrupted, true, memory_order_release);
}

static uint32_t aravis_fill_held(daq_camera *cam)
{
    return (uint32_t)aravis_of(cam)->set.buffers;
}

/* ---- stats / error ----------------------------------------------------------------------------
 */

static void aravis_stats(daq_camera *cam, daq_camera_stats *out)
{
    aravis *d = aravis_of(cam);
    uint64_t si[ARAVIS_SI_COUNT];
    pthread_mutex_lock(&d->stats_mu);
    if (d->stream)
        snapshot_infos(d);
    memcpy(si, d->saved_info, sizeof si);
    pthread_mutex_unlock(&d->stats_mu);
    memset(out, 0, sizeof *out);
    out->frames_generated = si[ARAVIS_SI_COMPLETED] + si[ARAVIS_SI_FAILURES];
    out->overruns = si[ARAVIS_SI_UNDERRUNS]; /* frames that found no buffer */
    out->readout_errors = atomic_load(&d->failed);
    const daq_camera_extra x[] = {
        /* Counters only (metrics export them as *_total): the number of
         * buffers queued right now is a level, kept out of here. */
        {"memcpy_count", atomic_load(&d->memcpy_count)},
        {"failed_timeout", atomic_load(&d->fail[ARAVIS_FAIL_TIMEOUT])},
        {"failed_missing_packets", atomic_load(&d->fail[ARAVIS_FAIL_MISSING_PACKETS])},
        {"failed_wrong_packet_id", atomic_load(&d->fail[ARAVIS_FAIL_WRONG_PACKET_ID])},
        {"failed_size_mismatch", atomic_load(&d->fail[ARAVIS_FAIL_SIZE_MISMATCH])},
        {"failed_aborted", atomic_load(&d->fail[ARAVIS_FAIL_ABORTED])},
        {"failed_other", atomic_load(&d->fail[ARAVIS_FAIL_OTHER])},
        {"stream_completed_buffers", si[ARAVIS_SI_COMPLETED]},
        {"stream_failures", si[ARAVIS_SI_FAILURES]},
        {"stream_underruns", si[ARAVIS_SI_UNDERRUNS]},
        {"stream_missing_packets", si[ARAVIS_SI_MISSING_PACKETS]},
        {"stream_resent_packets", si[ARAVIS_SI_RESENT_PACKETS]},
        {"stream_missing_frames", si[ARAVIS_SI_MISSING_FRAMES]},
        {"frame_id_wraps", atomic_load(&d->id_wraps)},
        {"memcpy_bytes", atomic_load(&d->memcpy_bytes)},
        {"foreign_buffers", atomic_load(&d->foreign)},
    };
    daq_camera_stats_set_extras(out, x, sizeof x / sizeof x[0]);
}

static void aravis_error(daq_camera *cam, char *buf, size_t len)
{
    aravis *d = aravis_of(cam);
    pthread_mutex_lock(&d->err_mu);
    snprintf(buf, len, "%s", d->error);
    pthread_mutex_unlock(&d->err_mu);
}

/* ---- life cycle
 * ---------------------------------------------------------------------------------- */

static void aravis_destroy(daq_camera *cam)
{
    aravis *d = aravis_of(cam);
    if (!d)
        return;
    aravis_stop(cam);
    aravis_close(cam);
    pthread_mutex_destroy(&d->stats_mu);
    pthread_mutex_destroy(&d->err_mu);
    free(d);
}

static const daq_camera_ops aravis_ops = {
    .mode = DAQ_CAMERA_FILL,
    .destroy = aravis_destroy,
    .params = aravis_params,
    .get_param = aravis_get_param,
    .set_param = aravis_set_param,
    .open = aravis_open,
    .close = aravis_close,
    .format = aravis_format,
    .start = aravis_start,
    .stop = aravis_stop,
    .interrupt = aravis_interrupt,
    .fill_queue = aravis_fill_queue,
    .fill_dequeue = aravis_fill_dequeue,
    .fill_held = aravis_fill_held,
    .trigger_modes = aravis_trigger_modes,
    .trigger = aravis_trigger_fire,
    .stats = aravis_stats,
    .error = aravis_error,
};

/* Allocates the driver state (the camera's priv, freed by aravis_destroy). */
static void *aravis_create(daq_camera *cam, char *err, size_t err_len)
{
    aravis *d = calloc(1, sizeof *d);
    if (!d) {
        daq_err(err, err_len, "aravis: out of memory");
        return NULL;
    }
    d->cam = cam;
    aravis_settings_default(&d->set);
    pthread_mutex_init(&d->stats_mu, NULL);
    pthread_mutex_init(&d->err_mu, NULL);
    for (int k = 0; k < ARAVIS_SI_COUNT; k++)
        d->info_index[k] = -1;
    return d;
}

const daq_driver daq_aravis_driver = {
    .type = "aravis",
    .aliases = NULL,
    .description = "GenICam cameras (GigE Vision, USB3 Vision) through Aravis, zero-copy",
    .ops = &aravis_ops,
    .create = aravis_create,
};

int daq_aravis_register(char *err, size_t err_len)
{
    return daq_driver_register(&daq_aravis_driver, err, err_len);
}
