/* server/stream_frames.h - rust-daq's StreamFrames over the device table:
 * one thread per stream, each a latest-only bus subscription, frames
 * encoded once per (frame, quality) and sent zero-copy (stream_frames.c).
 *
 * Ownership: the frame streams borrow the device table (which outlives
 * them) and own their threads; destroy joins them, which requires the gRPC
 * server to have been stopped first (that closes every stream).
 */
#ifndef DAQ_SERVER_STREAM_FRAMES_H
#define DAQ_SERVER_STREAM_FRAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daq/devices.h"
#include "server/rpc.h"

typedef struct daq_frame_streams daq_frame_streams;

typedef struct daq_frame_streams_config {
    bool compression_lz4;    /* FrameData.data LZ4-framed (rust-daq's default) */
    uint32_t max_per_client; /* StreamFrames per client host; 0 = no limit */
} daq_frame_streams_config;

/* NULL when out of memory. */
daq_frame_streams *daq_frame_streams_create(daq_devices *devices,
                                            const daq_frame_streams_config *cfg);
void daq_frame_streams_destroy(daq_frame_streams *fs); /* NULL ok */

/* The StreamFrames method bound to fs into out; returns 1
 * (0 if max is too small). */
size_t daq_frame_streams_methods(daq_frame_streams *fs, daq_rpc_method *out, size_t max);

#endif
