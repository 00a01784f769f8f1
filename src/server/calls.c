/* server/calls.c - device lookup, rust-daq's error texts and reply packing
 * for every method of the API (see calls.h).  The NOT_FOUND texts are
 * rust-daq's, per kind of call (docs/facts/grpc-camera-api.md §6). */
#include "server/calls.h"

#include <protobuf-c/protobuf-c.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daq/camera.h"

static const char *const not_found[] = {
    [DAQ_NEED_STATE] = "Device not found: %s",
    [DAQ_NEED_PARAMS] = "Device '%s' not found",
    [DAQ_NEED_PRODUCER] = "Device '%s' not found or not a frame producer",
    [DAQ_NEED_EXPOSURE] = "Device '%s' not found or has no exposure control",
    [DAQ_NEED_TRIGGER] = "Device '%s' not found or not triggerable",
};

daq_call_caps daq_call_camera_caps(daq_camera *cam)
{
    daq_call_caps c = {0};
    daq_param_desc e;
    if (!cam)
        return c;
    c.exposure = daq_camera_get_param_desc(cam, "exposure_ms", &e, NULL, 0) == 0;
    if (c.exposure && (e.flags & DAQ_PARAM_HAS_RANGE)) {
        c.has_range = true;
        c.min_exposure_ms = e.min;
        c.max_exposure_ms = e.max;
    }
    c.triggerable = daq_camera_can_trigger(cam);
    return c;
}

/* Does the device d (found) have what need asks for? */
static bool has(daq_device *d, daq_call_need need)
{
    switch (need) {
    case DAQ_NEED_STATE:
    case DAQ_NEED_PARAMS:
    case DAQ_NEED_PRODUCER: return true;
    case DAQ_NEED_EXPOSURE: return daq_call_camera_caps(daq_device_camera(d)).exposure;
    case DAQ_NEED_TRIGGER: return daq_call_camera_caps(daq_device_camera(d)).triggerable;
    }
    return false;
}

int daq_call_device(daq_devices *ds, const char *id, daq_call_need need, daq_device **out,
                    char *details, size_t details_len)
{
    const char *name = id ? id : "";
    daq_device *d = daq_devices_find(ds, name);
    *out = NULL;
    if (!d || !has(d, need)) {
        snprintf(details, details_len, not_found[need], name);
        return DAQ_RPC_NOT_FOUND;
    }
    if (need == DAQ_NEED_PRODUCER && !daq_device_is_up(d)) {
        snprintf(details, details_len, "Device '%s' is unavailable: %s", name, daq_device_error(d));
        return DAQ_RPC_UNAVAILABLE;
    }
    *out = d;
    return DAQ_RPC_OK;
}

daq_device *daq_call_find(daq_rpc_reply *r, daq_devices *ds, const char *id, daq_call_need need)
{
    daq_device *d;
    r->status = daq_call_device(ds, id, need, &d, r->details, sizeof r->details);
    return d;
}

int daq_call_refusal_status(const char *err)
{
    if (strstr(err, "while streaming"))
        return DAQ_RPC_FAILED_PRECONDITION;
    return DAQ_RPC_INVALID_ARGUMENT;
}

void daq_call_reply(daq_rpc_reply *r, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    r->body = malloc(n ? n : 1);
    if (!r->body) {
        daq_call_fail(r, DAQ_RPC_INTERNAL, "out of memory");
        return;
    }
    r->len = protobuf_c_message_pack(m, r->body);
    r->status = DAQ_RPC_OK;
}

int daq_call_fail(daq_rpc_reply *r, int status, const char *fmt, ...)
{
    r->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->details, sizeof r->details, fmt, ap);
    va_end(ap);
    return status;
}
