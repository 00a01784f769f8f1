/* drivers/pvcam/pvcam_driver.c - the "pvcam" camera driver: Photometrics
 * cameras through libpvcam, loaded at run time (pvcam_lib.c), in COPY mode.
 *
 * This file is the daq_camera_ops face: create (no library access, so
 * configs can be checked on machines without PVCAM), open (library, camera,
 * static facts, frame-info struct, EOF callback), close, format, stats.
 * Streaming is in pvcam_stream.c, parameters in pvcam_params.c.
 *
 * Open follows the facts' §6.2: refcounted pl_pvcam_init -> pl_cam_get_total
 * -> pl_cam_get_name (the first camera, or the one named by camera_name)
 * -> pl_cam_open(OPEN_EXCLUSIVE) -> static parameters (ATTR_AVAIL first,
 * exact types) -> pl_create_frame_info_struct ->
 * pl_cam_register_callback_ex3(EOF), once.  Close undoes it in the facts'
 * order: deregister, pl_release_frame_info_struct, pl_cam_close, and the
 * last camera's pl_pvcam_uninit and dlclose.
 *
 * The EOF callback is registered at open and deregistered by every stop (so
 * that no callback can reach a ring that is being freed); a start after a
 * stop registers it again before pl_exp_setup_cont.  So exactly one
 * registration exists whenever a stream runs and never a second on top of
 * the first (rust-daq's re-registration stopped callbacks after ~5 frames).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daq/log.h"
#include "drivers/drivers.h"
#include "drivers/pvcam/pvcam_impl.h"
#include "util/clock.h"

#define LOG_PVCAM "daq::pvcam"

/* Under the SDK lock: finds the camera to open and copies its name. */
static int pick_camera_locked(pvcam *p, char *err, size_t err_len)
{
    const pvcam_api *api = pvcam_api_get();
    int16 total = 0;
    if (api->pl_cam_get_total(&total) != PV_OK) {
        pvcam_sdk_error("pl_cam_get_total", err, err_len);
        return -1;
    }
    if (total <= 0)
        return daq_err(err, err_len, "pvcam: no camera found (pl_cam_get_total reports %d)",
                       (int)total);
    const char *want = p->set.camera_name;
    char found[256] = "";
    size_t used = 0;
    for (int16 i = 0; i < total; i++) {
        char name[CAM_NAME_LEN] = "";
        if (api->pl_cam_get_name(i, name) != PV_OK) {
            pvcam_sdk_error("pl_cam_get_name", err, err_len);
            return -1;
        }
        name[CAM_NAME_LEN - 1] = '\0';
        if ((!want[0] && i == 0) || (want[0] && strcmp(want, name) == 0)) {
            memcpy(p->facts.name, name, sizeof name);
            return 0;
        }
        int n = snprintf(found + used, sizeof found - used, "%s%s", used ? ", " : "", name);
        if (n > 0 && (size_t)n < sizeof found - used)
            used += (size_t)n;
    }
    return daq_err(err, err_len, "pvcam: no camera named '%s' (found: %s)", want, found);
}

/* Undoes whatever open did, in the facts' order. */
static void release_camera(pvcam *p)
{
    const pvcam_api *api = pvcam_api_get();
    if (p->lib_held) {
        pvcam_sdk_lock();
        pvcam_deregister_locked(p);
        if (p->fi && api->pl_release_frame_info_struct(p->fi) != PV_OK)
            pvcam_sdk_warn("pl_release_frame_info_struct", daq_camera_id(p->cam));
        if (p->opened && api->pl_cam_close(p->hcam) != PV_OK)
            pvcam_sdk_warn("pl_cam_close", daq_camera_id(p->cam));
        pvcam_sdk_unlock();
        pvcam_lib_release();
    }
    p->fi = NULL;
    p->opened = p->lib_held = p->cb_registered = false;
    memset(&p->facts, 0, sizeof p->facts);
    pvcam_table_build(p);
}

static int pvcam_open(daq_camera *cam, char *err, size_t err_len)
{
    pvcam *p = pvcam_of(cam);
    if (p->opened)
        return 0;
    if (pvcam_lib_acquire(p->set.library, err, err_len) < 0)
        return -1;
    p->lib_held = true;
    const pvcam_api *api = pvcam_api_get();
    pvcam_sdk_lock();
    int rc = pick_camera_locked(p, err, err_len);
    if (rc == 0) {
        if (api->pl_cam_open(p->facts.name, &p->hcam, OPEN_EXCLUSIVE) == PV_OK)
            p->opened = true;
        else
            rc = (pvcam_sdk_error("pl_cam_open", err, err_len), -1);
    }
    if (rc == 0)
        rc = pvcam_facts_read(p, err, err_len);
    if (rc == 0 && api->pl_create_frame_info_struct(&p->fi) != PV_OK)
        rc = (pvcam_sdk_error("pl_create_frame_info_struct", err, err_len), -1);
    if (rc == 0)
        rc = pvcam_register_locked(p, err, err_len);
    pvcam_sdk_unlock();
    if (rc < 0) {
        release_camera(p);
        return -1;
    }
    pvcam_table_build(p);
    const pvcam_facts *f = &p->facts;
    DAQ_LOG(
        DAQ_LOG_INFO, LOG_PVCAM, "pvcam camera open", DAQ_F_STR("device", daq_camera_id(cam)),
        DAQ_F_STR("camera", f->name), DAQ_F_STR("chip", f->chip),
        DAQ_F_U64("sensor_width", f->sensor_w), DAQ_F_U64("sensor_height", f->sensor_h),
        DAQ_F_U64("bit_depth", f->bit_depth),
        DAQ_F_STR("exposure_mode", f->exp_mode == TIMED_MODE ? "TIMED_MODE" : "EXT_TRIG_INTERNAL"),
        DAQ_F_STR("exposure_modes", f->exposure_modes), DAQ_F_U64("trigger_modes", f->trigger_bits),
        DAQ_F_BOOL("exposure_live", f->exposure.live), DAQ_F_BOOL("temperature_live", f->temp.live),
        DAQ_F_STR("readout_ports", f->port_names));
    return 0;
}

static void pvcam_close(daq_camera *cam)
{
    pvcam *p = pvcam_of(cam);
    pvcam_stop(cam);
    release_camera(p);
}

static int pvcam_format(daq_camera *cam, daq_camera_format *out, char *err, size_t err_len)
{
    pvcam *p = pvcam_of(cam);
    pvcam_geom g;
    if (pvcam_geom_compute(p, &g, err, err_len) < 0)
        return -1;
    double period_ms = p->set.exposure_ms;
    if (period_ms < p->readout_us / 1000.0)
        period_ms = p->readout_us / 1000.0;
    *out = (daq_camera_format){
        .width = g.width,
        .height = g.height,
        .stride_bytes = g.stride,
        .bit_depth = (uint16_t)p->facts.bit_depth,
        .pixel_format = pvcam_pixel_format(p->facts.bit_depth),
        .frame_bytes = g.pixel_bytes,
        .exposure_ms = p->set.exposure_ms,
        .frame_rate_hz = period_ms > 0 ? 1000.0 / period_ms : 0.0,
    };
    return 0;
}

static void pvcam_stats(daq_camera *cam, daq_camera_stats *out)
{
    pvcam *p = pvcam_of(cam);
    memset(out, 0, sizeof *out);
    int64_t announced = atomic_load(&p->announced), taken = atomic_load(&p->taken);
    out->frames_generated = (uint64_t)announced; /* the highest FrameNr announced */
    out->callbacks = atomic_load(&p->callbacks);
    out->overruns = atomic_load(&p->overruns);
    out->readout_errors = atomic_load(&p->readout_errors);
    const daq_camera_extra extra[] = {
        {"late_callbacks", atomic_load(&p->late_callbacks)},
        {"duplicate_callbacks", atomic_load(&p->duplicate_callbacks)},
        {"overrun_errors", atomic_load(&p->overrun_errors)},
        {"sdk_errors", atomic_load(&p->sdk_errors)},
        {"frames_read", atomic_load(&p->frames_got)},
        {"last_frame_number", (uint64_t)announced},
        {"pending", announced > taken ? (uint64_t)(announced - taken) : 0},
        {"library_refs", pvcam_lib_refs()},
        {"triggers_accepted", atomic_load(&p->triggers_accepted)},
        {"triggers_ignored", atomic_load(&p->triggers_ignored)},
    };
    daq_camera_stats_set_extras(out, extra, sizeof extra / sizeof extra[0]);
}

static void pvcam_error(daq_camera *cam, char *buf, size_t len)
{
    pvcam *p = pvcam_of(cam);
    pthread_mutex_lock(&p->ev_mu);
    snprintf(buf, len, "%s", p->error);
    pthread_mutex_unlock(&p->ev_mu);
}

static void pvcam_destroy(daq_camera *cam)
{
    pvcam *p = pvcam_of(cam);
    if (!p)
        return;
    pvcam_close(cam);
    pthread_cond_destroy(&p->ev_cv);
    pthread_mutex_destroy(&p->ev_mu);
    free(p);
}

static const daq_camera_ops pvcam_ops = {
    .mode = DAQ_CAMERA_COPY,
    .destroy = pvcam_destroy,
    .params = pvcam_params,
    .get_param = pvcam_get_param,
    .set_param = pvcam_set_param,
    .open = pvcam_open,
    .close = pvcam_close,
    .format = pvcam_format,
    .start = pvcam_start,
    .stop = pvcam_stop,
    .wait = pvcam_wait,
    .interrupt = pvcam_interrupt,
    .get_oldest = pvcam_get_oldest,
    .release_oldest = pvcam_release_oldest,
    .stats = pvcam_stats,
    .error = pvcam_error,
    .verify = pvcam_verify,
    .trigger_modes = pvcam_trigger_modes,
    .trigger = pvcam_trigger,
};

/* Allocates the driver state (the camera's priv, freed by pvcam_destroy).
 * Touches no library: that happens at open. */
static void *pvcam_create(daq_camera *cam, char *err, size_t err_len)
{
    pvcam *p = calloc(1, sizeof *p);
    if (!p) {
        daq_err(err, err_len, "pvcam: out of memory");
        return NULL;
    }
    p->cam = cam;
    pvcam_settings_default(&p->set);
    pthread_mutex_init(&p->ev_mu, NULL);
    daq_cond_init_monotonic(&p->ev_cv);
    pvcam_table_build(p);
    return p;
}

const daq_driver daq_pvcam_driver = {
    .type = "pvcam",
    .aliases = NULL,
    .description = "Photometrics cameras through libpvcam (loaded at run time): continuous "
                   "acquisition into a circular buffer, EOF callback, COPY mode",
    .ops = &pvcam_ops,
    .create = pvcam_create,
};
