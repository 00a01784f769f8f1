/* server/calls.c - device lookup, rust-daq's error texts and reply packing
 * for every method of the API (see calls.h).  The NOT_FOUND texts are
 * rust-daq's, per kind of call (docs/facts/grpc-camera-api.md §6).  A
 * camera's failure text maps to a status through one table (error_codes):
 * ADR 0011's contract texts first, then rust-daq's own keyword table, so a
 * trigger refusal gets the code a rust-daq client expects from either
 * daemon.
 *
 * Strict input: every request is checked once it decodes, from the proto's
 * own descriptors rather than per handler, so a method added later is
 * covered without anyone remembering to.  Names (ids, parameter names) are
 * checked on the wire bytes, the only place an embedded NUL is still
 * visible; enums on the decoded message.  A refused name is quoted back
 * escaped and cut at QUOTE_MAX bytes, so the status details stay printable
 * ASCII and inside the 256-byte reply buffer. */
#define _GNU_SOURCE /* strcasestr */
#include "server/calls.h"

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>
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
    if (strstr(err, "[limits] memory_mb")) /* devices/budget.c */
        return DAQ_RPC_RESOURCE_EXHAUSTED;
    if (strstr(err, "while streaming") || strstr(err, "is starting"))
        return DAQ_RPC_FAILED_PRECONDITION;
    return DAQ_RPC_INVALID_ARGUMENT;
}

/* Arm's and Trigger's failures (calls.h).  Order matters: the contract's
 * texts come before rust-daq's words that they also contain ("ID:
 * trigger.mode is internal (free-running) ..." is a precondition, not
 * INTERNAL; "... not supported ..." must not reach "not found"'s row).
 * daq_call_refusal_status stays separate: parameter refusals default to
 * INVALID_ARGUMENT, these to INTERNAL. */
static const struct {
    const char *text;
    int status;
} error_codes[] = {
    {"not armed", DAQ_RPC_FAILED_PRECONDITION}, /* camera.c, contract */
    /* a trigger.* setting the camera cannot honour at (re)start: the mode
     * (internal, external, one it lacks), frames_per_trigger, the source */
    {"trigger.", DAQ_RPC_FAILED_PRECONDITION},
    {"not supported", DAQ_RPC_UNIMPLEMENTED}, /* no software trigger */
    {"[limits] memory_mb", DAQ_RPC_RESOURCE_EXHAUSTED},
    {"is unavailable", DAQ_RPC_UNAVAILABLE}, /* the device went down */
    {"is starting", DAQ_RPC_FAILED_PRECONDITION},
    /* rust-daq's table (docs/facts/grpc-camera-api.md §6) */
    {"not found", DAQ_RPC_NOT_FOUND},
    {"no such device", DAQ_RPC_NOT_FOUND},
    {"busy", DAQ_RPC_FAILED_PRECONDITION},
    {"in use", DAQ_RPC_FAILED_PRECONDITION},
    {"already", DAQ_RPC_FAILED_PRECONDITION},
    {"not streaming", DAQ_RPC_FAILED_PRECONDITION},
    {"streaming", DAQ_RPC_FAILED_PRECONDITION},
    {"precondition", DAQ_RPC_FAILED_PRECONDITION},
    {"timeout", DAQ_RPC_UNAVAILABLE},
    {"communication", DAQ_RPC_UNAVAILABLE},
    {"connection", DAQ_RPC_UNAVAILABLE},
    {"invalid", DAQ_RPC_INVALID_ARGUMENT},
    {"out of range", DAQ_RPC_INVALID_ARGUMENT},
    {"bounds", DAQ_RPC_INVALID_ARGUMENT},
    {"unsupported", DAQ_RPC_UNIMPLEMENTED},
};

int daq_call_error_status(const char *err)
{
    for (size_t i = 0; i < sizeof error_codes / sizeof error_codes[0]; i++)
        if (strcasestr(err, error_codes[i].text))
            return error_codes[i].status;
    return DAQ_RPC_INTERNAL;
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

/* ---- strict input ---------------------------------------------------------------------- */

#define QUOTE_MAX  32 /* bytes of a refused name quoted back (4 each at most, escaped) */
#define ENUM_DEPTH 8  /* nested messages searched for enums (daq.proto nests 2) */

static bool varint(const uint8_t *p, size_t n, size_t *i, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; shift < 64 && *i < n; shift += 7) {
        uint8_t b = p[(*i)++];
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

bool daq_call_wire_next(const uint8_t *p, size_t n, size_t *i, uint32_t *field, int *type,
                        const uint8_t **val, size_t *val_len)
{
    uint64_t key, v;
    if (*i >= n || !varint(p, n, i, &key) || key >> 3 == 0 || key >> 3 > UINT32_MAX)
        return false;
    *field = (uint32_t)(key >> 3);
    *type = (int)(key & 7);
    *val = NULL;
    *val_len = 0;
    switch (*type) {
    case 0: return varint(p, n, i, &v);
    case 1:
    case 5: {
        size_t w = *type == 1 ? 8 : 4;
        if (n - *i < w)
            return false;
        *i += w;
        return true;
    }
    case 2:
        if (!varint(p, n, i, &v) || v > n - *i)
            return false;
        *val = p + *i;
        *val_len = (size_t)v;
        *i += (size_t)v;
        return true;
    }
    return false; /* groups and reserved types: protobuf-c refuses them too */
}

bool daq_call_wire_field(const uint8_t *p, size_t n, uint32_t field, const uint8_t **out,
                         size_t *out_len)
{
    bool found = false;
    size_t i = 0;
    uint32_t f;
    int type;
    const uint8_t *v;
    size_t vn;
    while (daq_call_wire_next(p, n, &i, &f, &type, &v, &vn))
        if (type == 2 && f == field) {
            *out = v;
            *out_len = vn;
            found = true;
        }
    return found;
}

/* The string fields that name a device, a parameter or a capability, in
 * any request. */
static bool names_something(const char *field)
{
    static const char *const names[] = {"device_id", "device_ids", "parameter_name",
                                        "parameter_names", "capability_filter"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(field, names[i]) == 0)
            return true;
    return false;
}

/* s[0..n) quoted and escaped into out: printable ASCII as is (but " and
 * backslash), anything else \xNN; cut at QUOTE_MAX bytes with "...". */
static void quote(const uint8_t *s, size_t n, char *out, size_t out_len)
{
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; i < n && i < QUOTE_MAX && o + 6 < out_len; i++) {
        uint8_t c = s[i];
        if (c == '"' || c == '\\')
            o += (size_t)snprintf(out + o, out_len - o, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            o += (size_t)snprintf(out + o, out_len - o, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    snprintf(out + o, out_len - o, "%s\"", n > QUOTE_MAX ? "..." : "");
}

/* A name's bytes: DAQ_RPC_OK, or INVALID_ARGUMENT naming the field (with
 * its index when repeated) and the first bad byte. */
static int check_name(const ProtobufCFieldDescriptor *f, size_t index, const uint8_t *s, size_t n,
                      char *details, size_t details_len)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] >= 0x20 && s[i] != 0x7f)
            continue;
        char q[4 * QUOTE_MAX + 8], at[32] = "";
        quote(s, n, q, sizeof q);
        if (f->label == PROTOBUF_C_LABEL_REPEATED)
            snprintf(at, sizeof at, "[%zu]", index);
        snprintf(details, details_len,
                 "%s%s %s: control character 0x%02x at byte %zu (names are printable text)",
                 f->name, at, q, s[i], i);
        return DAQ_RPC_INVALID_ARGUMENT;
    }
    return DAQ_RPC_OK;
}

static int check_names(const ProtobufCMessageDescriptor *md, const uint8_t *req, size_t len,
                       char *details, size_t details_len)
{
    size_t i = 0, seen[64] = {0}; /* occurrences per field index, for repeated ones */
    uint32_t field;
    int type;
    const uint8_t *v;
    size_t vn;
    while (daq_call_wire_next(req, len, &i, &field, &type, &v, &vn)) {
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(md, field);
        if (type != 2 || !f || f->type != PROTOBUF_C_TYPE_STRING || !names_something(f->name))
            continue;
        size_t k = (size_t)(f - md->fields);
        size_t index = k < 64 ? seen[k]++ : 0;
        if (check_name(f, index, v, vn, details, details_len) != DAQ_RPC_OK)
            return DAQ_RPC_INVALID_ARGUMENT;
    }
    return DAQ_RPC_OK;
}

/* How many values field f has in m (0 when absent), and where they start. */
static size_t field_values(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                           const void **at)
{
    const char *base = (const char *)m;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        *at = *(const void *const *)(base + f->offset);
        return *(const size_t *)(base + f->quantifier_offset);
    }
    *at = base + f->offset;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_MESSAGE &&
        f->quantifier_offset)
        return *(const protobuf_c_boolean *)(base + f->quantifier_offset) != 0;
    return 1;
}

static int bad_enum(const ProtobufCFieldDescriptor *f, const char *path, int32_t v, char *details,
                    size_t details_len)
{
    const ProtobufCEnumDescriptor *ed = f->descriptor;
    int o = snprintf(details, details_len, "%s%s: %d is not a %s (", path, f->name, (int)v,
                     ed->short_name);
    for (unsigned i = 0; i < ed->n_values && o >= 0 && (size_t)o < details_len; i++)
        o += snprintf(details + o, details_len - (size_t)o, "%s%s", i ? ", " : "",
                      ed->values[i].name);
    if (o >= 0 && (size_t)o < details_len)
        snprintf(details + o, details_len - (size_t)o, ")");
    return DAQ_RPC_INVALID_ARGUMENT;
}

static int check_enums(const ProtobufCMessage *m, const char *path, int depth, char *details,
                       size_t details_len)
{
    const ProtobufCMessageDescriptor *md = m->descriptor;
    for (unsigned k = 0; k < md->n_fields; k++) {
        const ProtobufCFieldDescriptor *f = &md->fields[k];
        const void *at;
        size_t n;
        if (f->type == PROTOBUF_C_TYPE_ENUM) {
            n = field_values(m, f, &at);
            for (size_t i = 0; i < n; i++) {
                int32_t v = ((const int32_t *)at)[i];
                if (!protobuf_c_enum_descriptor_get_value(f->descriptor, v))
                    return bad_enum(f, path, v, details, details_len);
            }
        } else if (f->type == PROTOBUF_C_TYPE_MESSAGE && depth < ENUM_DEPTH) {
            n = field_values(m, f, &at);
            /* repeated: the array; singular: the member, itself a pointer */
            const ProtobufCMessage *const *sub = at;
            char p[128];
            snprintf(p, sizeof p, "%s%s.", path, f->name);
            for (size_t i = 0; i < n; i++)
                if (sub[i] && check_enums(sub[i], p, depth + 1, details, details_len))
                    return DAQ_RPC_INVALID_ARGUMENT;
        }
    }
    return DAQ_RPC_OK;
}

int daq_call_check_request(const ProtobufCMessage *m, const uint8_t *req, size_t len, char *details,
                           size_t details_len)
{
    if (check_names(m->descriptor, req, len, details, details_len) != DAQ_RPC_OK)
        return DAQ_RPC_INVALID_ARGUMENT;
    return check_enums(m, "", 0, details, details_len);
}
