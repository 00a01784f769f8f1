/* server/calls.h - what every method of rust-daq's API does the same way:
 * decode the request, find the device the call names, answer with
 * rust-daq's status and message when it is not there, pack the reply.
 *
 * rust-daq's clients match on status codes and sometimes on message text,
 * so the texts are contracts: the device-lookup texts are one table
 * (calls.c), keyed by what the call needs of the device; a method's own
 * texts ("Unknown capability", "Invalid exposure value") stay beside it.
 *
 * Ownership: replies own their packed body (malloc'd, freed by the rpc
 * core); devices returned are borrowed from the table (valid until the
 * table is destroyed, which outlives the server).
 */
#ifndef DAQ_SERVER_CALLS_H
#define DAQ_SERVER_CALLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daq/camera.h"
#include "daq/devices.h"
#include "server/rpc.h"

/* What a call needs of the device it names; decides the NOT_FOUND text. */
typedef enum daq_call_need {
    DAQ_NEED_STATE,    /* any device: "Device not found: ID" */
    DAQ_NEED_PARAMS,   /* any device: "Device 'ID' not found" */
    DAQ_NEED_PRODUCER, /* a device that is up: "... not found or not a frame producer",
                          UNAVAILABLE "Device 'ID' is unavailable: why" when down */
    DAQ_NEED_EXPOSURE, /* an up camera with exposure_ms: "... or has no exposure control" */
    DAQ_NEED_TRIGGER,  /* an up camera with a trigger mode besides internal
                          (daq_camera_can_trigger): "... or not triggerable" */
} daq_call_need;

/* What a camera can do, as rust-daq's capabilities see it: exposure
 * control (a parameter exposure_ms, with its range when it has one) and
 * triggers (any trigger mode besides internal: Arm works for every one of
 * them, Trigger for the software ones).  All false for NULL (a device that is down). */
typedef struct daq_call_caps {
    bool exposure, triggerable, has_range;
    double min_exposure_ms, max_exposure_ms;
} daq_call_caps;

daq_call_caps daq_call_camera_caps(daq_camera *cam);

/* Finds device id (NULL: "") for a call that needs `need`.  Returns
 * DAQ_RPC_OK with *out set, or the status to answer with its message in
 * details (*out NULL). */
int daq_call_device(daq_devices *ds, const char *id, daq_call_need need, daq_device **out,
                    char *details, size_t details_len);

/* The same for a unary call: the device, or NULL with r's status and
 * details set. */
daq_device *daq_call_find(daq_rpc_reply *r, daq_devices *ds, const char *id, daq_call_need need);

/* The status for a camera layer's refusal of a set (its message): over the
 * memory budget ("[limits] memory_mb") RESOURCE_EXHAUSTED; while streaming
 * or starting FAILED_PRECONDITION; else INVALID_ARGUMENT.  (An unknown
 * parameter never gets this far: the lookup answers NOT_FOUND first.) */
int daq_call_refusal_status(const char *err);

/* The status for a camera's or device's failure text err (Arm, Trigger):
 * one table (calls.c), first match wins, case-insensitive.  The contract
 * texts of ADR 0011 first -- "not armed" and "trigger.mode is"
 * FAILED_PRECONDITION, "not supported" UNIMPLEMENTED -- then daq's own
 * ("[limits] memory_mb" RESOURCE_EXHAUSTED, "is unavailable" UNAVAILABLE),
 * then rust-daq's hardware-error table (not found -> NOT_FOUND; busy, in
 * use, already, streaming, precondition -> FAILED_PRECONDITION; timeout,
 * communication, connection -> UNAVAILABLE; invalid, out of range, bounds
 * -> INVALID_ARGUMENT; unsupported -> UNIMPLEMENTED); anything else
 * INTERNAL, as rust-daq answers. */
int daq_call_error_status(const char *err);

/* Packs m as r's body with status OK (INTERNAL when out of memory). */
struct ProtobufCMessage;
void daq_call_reply(daq_rpc_reply *r, const struct ProtobufCMessage *m);
/* Sets r's status and details; returns status (for `return daq_call_fail(...)`). */
int daq_call_fail(daq_rpc_reply *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- strict input ---------------------------------------------------------------------- */

/* Walks the wire bytes p[0..n) of a message one top-level field at a time
 * from *i: true with the field's number, wire type (0, 1, 2, 5) and, for a
 * length-delimited field (type 2), its bytes in *val (borrowed from p);
 * false at the end or on bytes that do not parse (which a successful
 * protobuf-c decode has already ruled out). */
bool daq_call_wire_next(const uint8_t *p, size_t n, size_t *i, uint32_t *field, int *type,
                        const uint8_t **val, size_t *val_len);

/* The bytes of the last occurrence (protobuf's rule: the last one wins) of
 * length-delimited field `field` at the top level of p[0..n), borrowed
 * from p; false when absent. */
bool daq_call_wire_field(const uint8_t *p, size_t n, uint32_t field, const uint8_t **out,
                         size_t *out_len);

/* What every request gets after it decodes, before anything looks at it:
 *  - the fields that name things (device_id, device_ids, parameter_name,
 *    parameter_names, capability_filter), checked on the wire bytes req[0..len): protobuf-c
 *    hands strings over NUL-terminated, so "cam0\0x" would otherwise
 *    arrive as "cam0" and address cam0.  A NUL, a control character
 *    (< 0x20) or DEL is refused:
 *      device_id "cam0\x00x": control character 0x00 at byte 4 (names are printable text)
 *  - every enum field (nested messages too) holds a value the proto
 *    declares; proto3 decoders keep unknown numbers, which would otherwise
 *    fall into a default branch:
 *      quality: 7 is not a StreamQuality (STREAM_QUALITY_FULL, STREAM_QUALITY_PREVIEW, ...)
 * Returns DAQ_RPC_OK, or DAQ_RPC_INVALID_ARGUMENT with the message in
 * details.  m is the decoded form of req. */
int daq_call_check_request(const struct ProtobufCMessage *m, const uint8_t *req, size_t len,
                           char *details, size_t details_len);

/* Decodes a request of protobuf-c type T (functions fn__unpack) into var
 * and checks it (daq_call_check_request), or fails the call with
 * INVALID_ARGUMENT ("malformed T message", or the check's message) and
 * returns from the handler.  The handler frees var with
 * fn__free_unpacked. */
#define DAQ_CALL_DECODE(T, fn, var, req, len, r)                                                   \
    T *var = fn##__unpack(NULL, (len), (req));                                                     \
    if (!var) {                                                                                    \
        daq_call_fail((r), DAQ_RPC_INVALID_ARGUMENT, "malformed " #T " message");                  \
        return;                                                                                    \
    }                                                                                              \
    if (daq_call_check_request(&var->base, (req), (len), (r)->details, sizeof(r)->details) !=      \
        DAQ_RPC_OK) {                                                                              \
        (r)->status = DAQ_RPC_INVALID_ARGUMENT;                                                    \
        fn##__free_unpacked(var, NULL);                                                            \
        return;                                                                                    \
    }

#endif
