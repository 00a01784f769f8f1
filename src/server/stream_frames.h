/* server/stream_frames.h - rust-daq's StreamFrames over the device table:
 * each stream a task on the stream scheduler and a latest-only bus
 * subscription, frames encoded once per (frame, quality) and sent
 * zero-copy; total and per-client limits, a stall timeout, and a refusal
 * of frames that cannot fit the message limit (stream_frames.c).
 *
 * Ownership: the frame streams borrow the device table and the scheduler
 * (both outlive them); destroy requires the gRPC server to have been
 * stopped first (that ends every stream and releases its state).
 */
#ifndef DAQ_SERVER_STREAM_FRAMES_H
#define DAQ_SERVER_STREAM_FRAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daq/devices.h"
#include "server/rpc.h"
#include "server/stream_sched.h"

typedef struct daq_frame_streams daq_frame_streams;

typedef struct daq_frame_streams_config {
    bool compression_lz4;      /* FrameData.data LZ4-framed (rust-daq's default) */
    uint32_t max_per_client;   /* StreamFrames per client host; 0 = no limit */
    uint32_t max_streams;      /* StreamFrames in total ([limits] streams), >= 1 */
    uint32_t stall_timeout_ms; /* a write not done this long ends the stream, >= 1 */
    size_t max_message_bytes;  /* the server's message cap; 0 = unchecked */
} daq_frame_streams_config;

/* NULL when out of memory. */
daq_frame_streams *daq_frame_streams_create(daq_devices *devices, daq_stream_sched *sched,
                                            const daq_frame_streams_config *cfg);

/* Pool slots the streams of one camera can hold at once when `streams`
 * of them watch it: 2 each (the frame in flight and the one queued) plus
 * the shared encoder's cached rows -- the engine's dynamic_allowance, so
 * that [limits] streams can never exhaust the pool. */
uint32_t daq_frame_streams_pool_allowance(uint32_t streams);
void daq_frame_streams_destroy(daq_frame_streams *fs); /* NULL ok */

/* The StreamFrames method bound to fs into out; returns 1
 * (0 if max is too small). */
size_t daq_frame_streams_methods(daq_frame_streams *fs, daq_rpc_method *out, size_t max);

#endif
