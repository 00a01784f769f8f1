/* server/service.h - rust-daq's camera API (daq.ControlService and the
 * camera subset of daq.HardwareService) over a device table, as methods for
 * the gRPC core (server/rpc.h).
 *
 * Unary methods answer from the device table.  StreamFrames and
 * StreamParameterChanges are tasks on one stream scheduler the service owns
 * (server/stream_sched.h: min(cores, 4) threads for any number of streams):
 * a frame stream is a bus subscription with the latest-only policy, so a
 * stalled client holds at most its in-flight frame plus one and never
 * blocks acquisition; downsampling and compression happen on the
 * scheduler's threads, once per frame and quality (server/frame_encode.h).
 * The service also owns the limits: [limits] streams / streams_per_client
 * for frame streams, [limits] subscribers for parameter changes and health
 * Watch together.
 *
 * The service is the top of the server's modules: it creates the
 * parameter hub (server/params_service.h) and the frame streams
 * (server/stream_frames.h), handing each the device table and its
 * settings, and gathers their methods; they never call back into it.
 *
 * Ownership: the service borrows the device table (which must outlive it)
 * and owns the stream scheduler; daq_service_destroy joins its threads,
 * which requires the gRPC server to have been stopped first (that ends
 * every stream).
 */
#ifndef DAQ_SERVER_SERVICE_H
#define DAQ_SERVER_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daq/config.h"
#include "daq/devices.h"
#include "server/rpc.h"

typedef struct daq_service daq_service;

typedef struct daq_service_config {
    const char *version;             /* for GetDaemonInfo */
    bool compression_lz4;            /* FrameData.data LZ4-framed (rust-daq's default) */
    uint32_t max_streams_per_client; /* StreamFrames per client host */
    uint64_t start_ns;               /* CLOCK_MONOTONIC process start, for uptime */
    bool storage;                    /* the StorageService is served ("storage_hdf5") */
    size_t max_message_bytes;        /* the server's cap: StreamFrames refuses bigger frames */
    daq_config_limits limits;        /* streams, subscribers, stall_timeout_ms; all 0: defaults */
} daq_service_config;

/* NULL when out of memory.  cfg is copied (version borrowed: static). */
daq_service *daq_service_create(daq_devices *devices, const daq_service_config *cfg);

/* The methods to register into out; returns how many.  An array too small
 * for all of them aborts (a build mistake, not a run-time condition). */
size_t daq_service_methods(daq_service *s, daq_rpc_method *out, size_t max);

/* Stops the stream scheduler (the gRPC server must be stopped) and frees. */
void daq_service_destroy(daq_service *s);

/* The subscriber limit ([limits] subscribers) that health Watch shares with
 * StreamParameterChanges; borrowed, valid until daq_service_destroy. */
struct daq_stream_limit *daq_service_subscriber_limit(daq_service *s);

#endif
