/* server/service.c - the unary part of rust-daq's camera API over the device
 * table: daemon info, devices, state, exposure, stream start/stop, arm and
 * trigger; and the method table tying in parameters and frame streams.
 *
 * Every request is decoded with protobuf-c; a payload that does not decode
 * is INVALID_ARGUMENT, an unknown device NOT_FOUND with rust-daq's message
 * text, so clients that match on codes behave the same with either daemon.
 *
 * ListDevices' DeviceInfo carries daq's consumers extension (field 1000,
 * issue 16): every subscription of the camera's bus -- gRPC streams, the
 * recorder, the live view, tap readers -- from one daq_bus_stats_snapshot.
 * A bus holds at most 320 subscriptions (~200 B of stats each), so the
 * snapshot goes to the heap, once per camera per call.
 */
#define _GNU_SOURCE
#include "server/service.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "daq/bus.h"
#include "daq/watch.h"
#include "daq_c.pb-c.h"
#include "server/calls.h"
#include "server/params_service.h"
#include "server/stream_frames.h"
#include "server/stream_sched.h"
#include "server/stream_set.h"
#include "util/clock.h"
#include "util/fatal.h"

struct daq_service {
    daq_devices *devices;
    daq_service_config cfg;
    daq_stream_sched *sched;       /* every stream's steps */
    daq_stream_limit *subscribers; /* parameter changes + health Watch */
    daq_param_hub *params;
    daq_frame_streams *frames;
};

/* ---- ControlService --------------------------------------------------------------- */

static void get_daemon_info(void *ctx, const uint8_t *req, size_t len, daq_rpc_reply *r)
{
    daq_service *s = ctx;
    DAQ_CALL_DECODE(Daq__DaemonInfoRequest, daq__daemon_info_request, in, req, len, r);
    daq__daemon_info_request__free_unpacked(in, NULL);
    /* rust-daq adds "storage_hdf5" when built with its recorder */
    char *features[] = {"networking", "camera",  "frame_streaming",
                        "lz4",        "metrics", "storage_hdf5"};
    const char *hw[16];
    size_t n_hw = daq_camera_types(hw, 16);
    if (n_hw > 16)
        n_hw = 16;
    Daq__DaemonInfoResponse out = DAQ__DAEMON_INFO_RESPONSE__INIT;
    out.version = (char *)s->cfg.version;
    out.n_features = sizeof features / sizeof features[0] - (s->cfg.storage ? 0 : 1);
    out.features = features;
    out.n_available_hardware = n_hw;
    out.available_hardware = (char **)hw;
    out.uptime_seconds = (daq_now_ns() - s->cfg.start_ns) / 1000000000ull;
    daq_call_reply(r, &out.base);
}

/* ---- devices ----------------------------------------------------------------------- */

static const char *const capability_filters[][2] = {
    {"movable", "movable"},
    {"readable", "readable"},
    {"triggerable", "triggerable"},
    {"frame_producer", "frame_producer"},
    {"frameproducer", "frame_producer"},
    {"exposure_control", "exposure_controllable"},
    {"exposurecontrol", "exposure_controllable"},
};

/* Fills info (strings point into d and the static table). */
static void device_info(daq_device *d, Daq__DeviceInfo *info, Daq__DeviceMetadata *md, char **capv,
                        size_t *ncap)
{
    daq__device_info__init(info);
    daq__device_metadata__init(md);
    info->id = (char *)daq_device_id(d);
    info->name = (char *)daq_device_name(d);
    info->driver_type = (char *)daq_device_driver(d);
    info->category = DAQ__DEVICE_CATEGORY__DEVICE_CATEGORY_CAMERA;
    daq_camera *cam = daq_device_camera(d);
    daq_call_caps c = daq_call_camera_caps(cam);
    *ncap = 0;
    capv[(*ncap)++] = "frame_producer";
    if (c.exposure)
        capv[(*ncap)++] = "exposure_controllable";
    if (c.triggerable)
        capv[(*ncap)++] = "triggerable";
    capv[(*ncap)++] = "parameterized";
    info->n_capabilities = *ncap;
    info->capabilities = capv;
    /* rust-daq's Python client reads the deprecated flags, not the list. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    info->is_frame_producer = 1;
    info->is_exposure_controllable = c.exposure;
    info->is_triggerable = c.triggerable;
    info->is_parameterized = 1;
#pragma GCC diagnostic pop
    daq_camera_format f;
    char err[128];
    if (cam && daq_camera_get_format(cam, &f, err, sizeof err) == 0) {
        md->_frame_width_case = DAQ__DEVICE_METADATA___FRAME_WIDTH_FRAME_WIDTH;
        md->frame_width = f.width;
        md->_frame_height_case = DAQ__DEVICE_METADATA___FRAME_HEIGHT_FRAME_HEIGHT;
        md->frame_height = f.height;
        md->_bits_per_pixel_case = DAQ__DEVICE_METADATA___BITS_PER_PIXEL_BITS_PER_PIXEL;
        md->bits_per_pixel = f.bit_depth;
    }
    if (c.has_range) {
        md->_min_exposure_ms_case = DAQ__DEVICE_METADATA___MIN_EXPOSURE_MS_MIN_EXPOSURE_MS;
        md->min_exposure_ms = c.min_exposure_ms;
        md->_max_exposure_ms_case = DAQ__DEVICE_METADATA___MAX_EXPOSURE_MS_MAX_EXPOSURE_MS;
        md->max_exposure_ms = c.max_exposure_ms;
    }
    info->metadata = md;
}

/* The consumers of one camera, as ListDevices sends them: the wire
 * messages point into stats. */
#define CONSUMERS_MAX 320u /* a bus's subscriptions, at most (bus.c) */
typedef struct consumers {
    daq_sub_stats stats[CONSUMERS_MAX];
    Daq__ConsumerInfo info[CONSUMERS_MAX];
    Daq__ConsumerInfo *ptrs[CONSUMERS_MAX];
} consumers;

/* info->consumers from d's bus; *out is the caller's to free (NULL when
 * out of memory: the list is left empty rather than the call failed). */
static void device_consumers(daq_device *d, Daq__DeviceInfo *info, consumers **out)
{
    daq_bus *bus = daq_device_bus(d);
    consumers *c = bus ? malloc(sizeof *c) : NULL;
    *out = c;
    if (!c)
        return;
    unsigned n = daq_bus_stats_snapshot(bus, c->stats, CONSUMERS_MAX);
    for (unsigned i = 0; i < n; i++) {
        const daq_sub_stats *st = &c->stats[i];
        Daq__ConsumerInfo *ci = &c->info[i];
        daq__consumer_info__init(ci);
        ci->name = (char *)st->name;
        ci->policy = (char *)daq_sub_policy_name(st->policy);
        ci->queue_depth = st->queue_depth;
        ci->delivered = st->delivered;
        ci->dropped = st->dropped;
        ci->queued = st->queued;
        c->ptrs[i] = ci;
    }
    info->n_consumers = n;
    info->consumers = c->ptrs;
}

static bool has_cap(char **capv, size_t n, const char *want)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(capv[i], want) == 0)
            return true;
    return false;
}

static void list_devices(void *ctx, const uint8_t *req, size_t len, daq_rpc_reply *r)
{
    daq_service *s = ctx;
    DAQ_CALL_DECODE(Daq__ListDevicesRequest, daq__list_devices_request, in, req, len, r);
    const char *want = NULL;
    if (in->_capability_filter_case ==
        DAQ__LIST_DEVICES_REQUEST___CAPABILITY_FILTER_CAPABILITY_FILTER) {
        for (size_t i = 0; i < sizeof capability_filters / sizeof capability_filters[0]; i++)
            if (strcasecmp(in->capability_filter, capability_filters[i][0]) == 0)
                want = capability_filters[i][1];
        if (!want) {
            daq_call_fail(r, DAQ_RPC_INVALID_ARGUMENT, "Unknown capability: %s",
                          in->capability_filter);
            daq__list_devices_request__free_unpacked(in, NULL);
            return;
        }
    }
    size_t n = daq_devices_count(s->devices);
    Daq__DeviceInfo info[DAQ_CONFIG_MAX_DEVICES], *infos[DAQ_CONFIG_MAX_DEVICES];
    Daq__DeviceMetadata md[DAQ_CONFIG_MAX_DEVICES];
    Daq__RegistrationFailure fail[DAQ_CONFIG_MAX_DEVICES], *fails[DAQ_CONFIG_MAX_DEVICES];
    char *capv[DAQ_CONFIG_MAX_DEVICES][4];
    consumers *cons[DAQ_CONFIG_MAX_DEVICES] = {NULL};
    size_t n_out = 0, n_fail = 0;
    for (size_t i = 0; i < n; i++) {
        daq_device *d = daq_devices_at(s->devices, i);
        if (!daq_device_is_up(d)) {
            daq__registration_failure__init(&fail[n_fail]);
            fail[n_fail].device_id = (char *)daq_device_id(d);
            fail[n_fail].device_name = (char *)daq_device_name(d);
            fail[n_fail].driver_type = (char *)daq_device_driver(d);
            fail[n_fail].error = (char *)daq_device_error(d);
            fails[n_fail] = &fail[n_fail];
            n_fail++;
            continue;
        }
        size_t ncap;
        device_info(d, &info[n_out], &md[n_out], capv[n_out], &ncap);
        if (want && !has_cap(capv[n_out], ncap, want))
            continue;
        device_consumers(d, &info[n_out], &cons[n_out]);
        infos[n_out] = &info[n_out];
        n_out++;
    }
    Daq__ListDevicesResponse out = DAQ__LIST_DEVICES_RESPONSE__INIT;
    out.n_devices = n_out;
    out.devices = infos;
    out.n_registration_failures = n_fail;
    out.registration_failures = fails;
    daq_call_reply(r, &out.base);
    for (size_t i = 0; i < n_out; i++)
        free(cons[i]);
    daq__list_devices_request__free_unpacked(in, NULL);
}

static bool exposure_ms(daq_camera *cam, double *ms)
{
    daq_param_value v;
    char err[128];
    if (!cam || daq_camera_get_param(cam, "exposure_ms", &v, err, sizeof err) != 0)
        return false;
    *ms = v.type == DAQ_PARAM_INT ? (double)v.i : v.f;
    return true;
}

static void get_device_state(void *ctx, const uint8_t *req, size_t len, daq_rpc_reply *r)
{
    daq_service *s = ctx;
    DAQ_CALL_DECODE(Daq__DeviceStateRequest, daq__device_state_request, in, req, len, r);
    daq_device *d = daq_call_find(r, s->devices, in->device_id, DAQ_NEED_STATE);
    if (d) {
        Daq__DeviceStateResponse out = DAQ__DEVICE_STATE_RESPONSE__INIT;
        out.device_id = in->device_id;
        out.online = daq_device_is_up(d);
        daq_acq *a = daq_device_acq(d);
        if (a) {
            out._streaming_case = DAQ__DEVICE_STATE_RESPONSE___STREAMING_STREAMING;
            out.streaming = daq_acq_state_get(a) == DAQ_ACQ_STREAMING;
        }
        daq_camera *cam = daq_device_camera(d);
        if (cam && daq_camera_can_trigger(cam)) { /* as rust-daq: for Triggerable devices */
            out._armed_case = DAQ__DEVICE_STATE_RESPONSE___ARMED_ARMED;
            out.armed = daq_camera_armed(cam);
        }
        double ms;
        if (exposure_ms(cam, &ms)) {
            out._exposure_ms_case = DAQ__DEVICE_STATE_RESPONSE___EXPOSURE_MS_EXPOSURE_MS;
            out.exposure_ms = ms;
        }
        if (a) {
            out._use_pool_case = DAQ__DEVICE_STATE_RESPONSE___USE_POOL_USE_POOL;
            out.use_pool = daq_acq_use_pool(a);
        }
        daq_symptom_state sym[DAQ_SYMPTOM_COUNT];
        daq_device_symptoms(d, sym);
        char *names[DAQ_SYMPTOM_COUNT];
        for (int k = 0; k < DAQ_SYMPTOM_COUNT; k++)
            if (sym[k].active)
                names[out.n_rollback_symptoms++] = (char *)daq_symptom_names[k];
        out.rollback_symptoms = names;
        daq_device_rollback rb;
        daq_device_rollback_snapshot(d, &rb);
        out.auto_rollbacks = rb.auto_rollbacks;
        out.auto_rollback_reason = rb.reason;
        daq_call_reply(r, &out.base);
    }
    daq__device_state_request__free_unpacked(in, NULL);
}

/* ---- exposure --------------------------------------------------------------------------- */

/* The camera of device id for a call that needs `need`, or NULL with r failed. */
static daq_camera *camera_for(daq_service *s, const char *id, daq_call_need need, daq_rpc_reply *r)
{
    daq_device *d = daq_call_find(r, s->devices, id, need);
    return d ? daq_device_camera(d) : NULL;
}

static void set_exposure(void *ctx, const uint8_t *req, size_t len, daq_rpc_reply *r)
{
    daq_service *s = ctx;
    DAQ_CALL_DECODE(Daq__SetExposureRequest, daq__set_exposure_request, in, req, len, r);
    daq_camera *cam = camera_for(s, in->device_id, DAQ_NEED_EXPOSURE, r);
    double old_ms = 0;
    if (cam && exposure_ms(cam, &old_ms)) {
        daq_param_value v = daq_param_float(in->exposure_ms);
        char err[256];
        if (daq_camera_set_param(cam, "exposure_ms", &v, err, sizeof err) != 0) {
            daq_call_fail(r, DAQ_RPC_INVALID_ARGUMENT, "Invalid exposure value: %s", err);
        } else {
            Daq__SetExposureResponse out = DAQ__SET_EXPOSURE_RESPONSE__INIT;
            out.success = 1;
            exposure_ms(cam, &out.actual_exposure_ms);
            daq_call_reply(r, &out.base);
            char o[64], n[64];
            snprintf(o, sizeof o, "%.17g", old_ms);
            snprintf(n, sizeof n, "%.17g", out.actual_exposure_ms);
            daq_param_hub_publish(s->params, in->device_id, "exposure_ms", o, n, "ms", "user");
        }
    }
    daq__set_exposure_request__free_unpacked(in, NULL);
}

static void get_exposure(void *ctx, const uint8_t *req, size_t len, daq_rpc_reply *r)
{
    daq_service *s = ctx;
    DAQ_CALL_DECODE(Daq__GetExposureRequest, daq__get_exposure_request, in, req, len, r);
    daq_camera *cam = camera_for(s, in->device_id, DAQ_NEED_EXPOSURE, r);
    if (cam) {
        Daq__GetExposureResponse out = DAQ__GET_EXPOSURE_RESPONSE__INIT;
        exposure_ms(cam, &out.exposure_ms);
        daq_call_reply(r, &out.base);
    }
    daq__get_exposure_request__free_unpacked(in, NULL);
}

/* ---- streaming control ---------------------------------------------------------------- */

/* The engine of device id for a producer call, or NULL with r failed. */
static void start_stream(void *ctx, const uint8_t *req, size_t len, daq_rpc_reply *r)
{
    daq_service *s = ctx;
    DAQ_CALL_DECODE(Daq__StartStreamRequest, daq__start_stream_request, in, req, len, r);
    daq_device *d = daq_call_find(r, s->devices, in->device_id, DAQ_NEED_PRODUCER);
    if (d) {
        uint64_t limit =
            in->_frame_count_case == DAQ__START_STREAM_REQUEST___FRAME_COUNT_FRAME_COUNT
                ? in->frame_count
                : 0;
        char err[256];
        /* Through the device, which remembers the wish: recovery resumes it
         * (with what is left of the limit) after a camera failure. */
        int rc = daq_device_stream_start(d, limit, err, sizeof err);
        Daq__StartStreamResponse out = DAQ__START_STREAM_RESPONSE__INIT;
        if (rc < 0) {
            daq_call_fail(r, DAQ_RPC_FAILED_PRECONDITION, "Cannot start '%s': %s", in->device_id,
                          err);
        } else {
            out.success = 1;
            out.error_message = rc == 1 ? "Already streaming" : "";
            daq_call_reply(r, &out.base);
        }
    }
    daq__start_stream_request__free_unpacked(in, NULL);
}

static void stop_stream(void *ctx, const uint8_t *req, size_t len, daq_rpc_reply *r)
{
    daq_service *s = ctx;
    DAQ_CALL_DECODE(Daq__StopStreamRequest, daq__stop_stream_request, in, req, len, r);
    daq_device *d = daq_call_find(r, s->devices, in->device_id, DAQ_NEED_PRODUCER);
    daq_acq *a = d ? daq_device_acq(d) : NULL;
    if (a) {
        daq_device_stream_stop(d); /* also cancels a pending resume */
        daq_acq_stats st;
        daq_acq_stats_snapshot(a, &st);
        Daq__StopStreamResponse out = DAQ__STOP_STREAM_RESPONSE__INIT;
        out.success = 1;
        out.frames_captured = st.delivered;
        daq_call_reply(r, &out.base);
    }
    daq__stop_stream_request__free_unpacked(in, NULL);
}

/* ---- arm and trigger -------------------------------------------------------------------- */

/* Arm is a (re)start in the camera's trigger mode (ADR 0011): through the
 * device, like StartStream, so recovery resumes the armed stream after a
 * camera failure.  Refusals carry camera.c's contract texts; their codes
 * come from the one table in calls.c. */
static void arm(void *ctx, const uint8_t *req, size_t len, daq_rpc_reply *r)
{
    daq_service *s = ctx;
    DAQ_CALL_DECODE(Daq__ArmRequest, daq__arm_request, in, req, len, r);
    daq_device *d = daq_call_find(r, s->devices, in->device_id, DAQ_NEED_TRIGGER);
    char err[256] = "";
    if (d && daq_device_arm(d, err, sizeof err) != 0) {
        daq_call_fail(r, daq_call_error_status(err), "%s", err);
    } else if (d) {
        Daq__ArmResponse out = DAQ__ARM_RESPONSE__INIT;
        out.success = out.armed = 1;
        daq_call_reply(r, &out.base);
    }
    daq__arm_request__free_unpacked(in, NULL);
}

/* Never a silent success: TRIGGERED is success, IGNORED is a call that
 * worked with the camera's "no" in error_message (gRPC OK, success false,
 * as rust-daq's ArmResponse/TriggerResponse shape allows), a trigger that
 * could not be sent an error status. */
static void trigger(void *ctx, const uint8_t *req, size_t len, daq_rpc_reply *r)
{
    daq_service *s = ctx;
    DAQ_CALL_DECODE(Daq__TriggerRequest, daq__trigger_request, in, req, len, r);
    daq_camera *cam = camera_for(s, in->device_id, DAQ_NEED_TRIGGER, r);
    if (cam) {
        uint64_t t = daq_real_now_ns(); /* taken before triggering, as rust-daq does */
        daq_trigger_answer answer;
        char err[256] = "", ignored[sizeof answer.reason + 160];
        memset(&answer, 0, sizeof answer);
        if (daq_camera_trigger(cam, &answer, err, sizeof err) != 0) {
            daq_call_fail(r, daq_call_error_status(err), "%s", err);
        } else {
            Daq__TriggerResponse out = DAQ__TRIGGER_RESPONSE__INIT;
            out.trigger_timestamp_ns = t;
            if (answer.result == DAQ_TRIGGER_TRIGGERED) {
                out.success = 1;
            } else {
                snprintf(ignored, sizeof ignored, "%s: trigger ignored: %s", daq_camera_id(cam),
                         answer.reason);
                out.error_message = ignored;
            }
            daq_call_reply(r, &out.base);
        }
    }
    daq__trigger_request__free_unpacked(in, NULL);
}

/* ---- the service ------------------------------------------------------------------------ */

daq_service *daq_service_create(daq_devices *devices, const daq_service_config *cfg)
{
    daq_service *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->devices = devices;
    s->cfg = *cfg;
    if (s->cfg.limits.streams == 0) /* a config without [limits] values: the defaults */
        daq_config_limits_init(&s->cfg.limits);
    const daq_config_limits *l = &s->cfg.limits;
    daq_frame_streams_config fc = {cfg->compression_lz4, cfg->max_streams_per_client, l->streams,
                                   l->stall_timeout_ms, cfg->max_message_bytes};
    s->sched = daq_stream_sched_create(0);
    s->subscribers = daq_stream_limit_create("subscribers", l->subscribers, 0);
    if (s->sched && s->subscribers) {
        s->params = daq_param_hub_create(devices, s->sched, s->subscribers);
        s->frames = daq_frame_streams_create(devices, s->sched, &fc);
    }
    if (!s->params || !s->frames) {
        daq_service_destroy(s);
        return NULL;
    }
    return s;
}

void daq_service_destroy(daq_service *s)
{
    if (!s)
        return;
    daq_stream_sched_destroy(s->sched); /* no task left: the gRPC server has stopped */
    daq_frame_streams_destroy(s->frames);
    daq_param_hub_destroy(s->params);
    daq_stream_limit_destroy(s->subscribers);
    free(s);
}

daq_stream_limit *daq_service_subscriber_limit(daq_service *s)
{
    return s->subscribers;
}

/* A module's table that did not fit (0) is a build mistake: a method would
 * go unserved, so it aborts. */
static size_t methods_fit(size_t n)
{
    if (n == 0)
        daq_fatal("service: the method array is too small; raise its size");
    return n;
}

size_t daq_service_methods(daq_service *s, daq_rpc_method *out, size_t max)
{
    const daq_rpc_method own[] = {
        {"/daq.ControlService/GetDaemonInfo", get_daemon_info, NULL, s, false},
        {"/daq.HardwareService/ListDevices", list_devices, NULL, s, false},
        {"/daq.HardwareService/GetDeviceState", get_device_state, NULL, s, false},
        {"/daq.HardwareService/SetExposure", set_exposure, NULL, s, true},
        {"/daq.HardwareService/GetExposure", get_exposure, NULL, s, false},
        {"/daq.HardwareService/Arm", arm, NULL, s, true},
        {"/daq.HardwareService/Trigger", trigger, NULL, s, true},
        {"/daq.HardwareService/StartStream", start_stream, NULL, s, true},
        {"/daq.HardwareService/StopStream", stop_stream, NULL, s, true},
    };
    size_t n = methods_fit(daq_rpc_methods_copy(out, max, own, sizeof own / sizeof own[0]));
    n += methods_fit(daq_frame_streams_methods(s->frames, out + n, max - n));
    n += methods_fit(daq_param_hub_methods(s->params, out + n, max - n));
    return n;
}
