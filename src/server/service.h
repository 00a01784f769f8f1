/* server/service.h - rust-daq's camera API (daq.ControlService and the
 * camera subset of daq.HardwareService) over a device table, as methods for
 * the gRPC core (server/rpc.h).
 *
 * Unary methods answer from the device table on the server's thread.
 * StreamFrames and StreamParameterChanges each get a thread of their own:
 * a stream is a bus subscription with the latest-only policy, so a stalled
 * client holds at most its in-flight frame plus one and never blocks
 * acquisition; downsampling and compression happen on that thread, once per
 * frame and quality (server/frame_encode.h).
 *
 * Ownership: the service borrows the device table (which must outlive it)
 * and owns its stream threads; daq_service_destroy joins them, which
 * requires the gRPC server to have been stopped first (that closes every
 * stream).
 */
#ifndef DAQ_SERVER_SERVICE_H
#define DAQ_SERVER_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daq/devices.h"
#include "server/rpc.h"

typedef struct daq_service daq_service;

typedef struct daq_service_config {
    const char *version;             /* for GetDaemonInfo */
    bool compression_lz4;            /* FrameData.data LZ4-framed (rust-daq's default) */
    uint32_t max_streams_per_client; /* StreamFrames per client host */
    uint64_t start_ns;               /* CLOCK_MONOTONIC process start, for uptime */
} daq_service_config;

daq_service *daq_service_create(daq_devices *devices, const daq_service_config *cfg);

/* The methods to register, at most max; returns how many. */
size_t daq_service_methods(daq_service *s, daq_rpc_method *out, size_t max);

/* Joins the stream threads (the gRPC server must be stopped) and frees. */
void daq_service_destroy(daq_service *s);

/* Active StreamFrames streams (for tests and metrics). */
unsigned daq_service_streams(daq_service *s);

/* ---- shared by the service's files (not for other modules) -------------------- */

daq_devices *daq_service_devices(daq_service *s);
const daq_service_config *daq_service_cfg(daq_service *s);

/* Unary plumbing: pack a protobuf-c message as the reply, or an error. */
struct ProtobufCMessage;
void daq_service_reply(daq_rpc_reply *r, const struct ProtobufCMessage *m);
void daq_service_fail(daq_rpc_reply *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Parameter methods (server/params_service.c). */
void daq_params_list(void *ctx, const uint8_t *req, size_t len, daq_rpc_reply *r);
void daq_params_get(void *ctx, const uint8_t *req, size_t len, daq_rpc_reply *r);
void daq_params_set(void *ctx, const uint8_t *req, size_t len, daq_rpc_reply *r);
int daq_params_stream(void *ctx, daq_rpc_call *call, const uint8_t *req, size_t len,
                      char *details, size_t details_len);
/* Per-service parameter-change hub, created and joined by the service. */
struct daq_param_hub;
struct daq_param_hub *daq_param_hub_create(void);
void daq_param_hub_destroy(struct daq_param_hub *h);
struct daq_param_hub *daq_service_param_hub(daq_service *s);
/* Tells every StreamParameterChanges subscriber about a change. */
void daq_param_hub_publish(struct daq_param_hub *h, const char *device_id, const char *name,
                           const char *old_json, const char *new_json, const char *units,
                           const char *source);

/* StreamFrames (server/stream_frames.c). */
int daq_frames_stream(void *ctx, daq_rpc_call *call, const uint8_t *req, size_t len,
                      char *details, size_t details_len);
struct daq_frame_streams;
struct daq_frame_streams *daq_frame_streams_create(size_t n_devices);
void daq_frame_streams_destroy(struct daq_frame_streams *fs);
unsigned daq_frame_streams_active(struct daq_frame_streams *fs);
struct daq_frame_streams *daq_service_frame_streams(daq_service *s);

#endif
