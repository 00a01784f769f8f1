/* server/frame_encode.h - turning a daq_frame into a daq.FrameData message
 * on the stream side: downsampling, LZ4 framing, the protobuf head, and a
 * per-device cache so each frame is downsampled and compressed once per
 * (quality, compression), however many streams want it.
 *
 * Rules kept from rust-daq (docs/facts/grpc-camera-api.md §7-§8):
 *  - PREVIEW = 2x2 mean, FAST = 4x4 mean, u16 little-endian only, integer
 *    truncating division, remainder rows/columns cropped, blocks from
 *    (0,0); frames that are not 16-bit, too small, or whose byte length is
 *    not w*h*2 are passed through unchanged.
 *  - LZ4: a 4-byte little-endian uncompressed length, then one raw LZ4
 *    block (no frame format), compression = COMPRESSION_LZ4 (1),
 *    uncompressed_size = the raw length.
 *
 * FULL uncompressed frames are not copied at all: the encoded form
 * references the frame's own pixels and holds a frame reference until the
 * last stream is done with it.
 */
#ifndef DAQ_SERVER_FRAME_ENCODE_H
#define DAQ_SERVER_FRAME_ENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daq/frame.h"

typedef enum daq_quality {
    DAQ_QUALITY_FULL = 0,
    DAQ_QUALITY_PREVIEW = 1,
    DAQ_QUALITY_FAST = 2,
} daq_quality;

/* ---- the pieces -------------------------------------------------------------- */

/* Averages factor x factor blocks (2 or 4) of a u16 LE image of w x h
 * pixels held in len bytes into dst ((w/factor)*(h/factor)*2 bytes).
 * Returns false, touching nothing, when the rules say "unchanged". */
bool daq_downsample_u16(const uint8_t *src, uint32_t w, uint32_t h, size_t len, unsigned factor,
                        uint8_t *dst, uint32_t *out_w, uint32_t *out_h);
/* Whether daq_downsample_u16 would downsample (true) or leave the image
 * unchanged (false); lets a caller size dst before allocating it. */
bool daq_downsample_applies(uint32_t w, uint32_t h, size_t len, unsigned factor);

/* Bytes needed to LZ4-frame n bytes; 0 when n is beyond LZ4's input limit
 * (LZ4_MAX_INPUT_SIZE, about 2 GB). */
size_t daq_lz4_frame_bound(size_t n);
/* Writes the framed form of src into dst; returns its length, 0 on failure. */
size_t daq_lz4_frame(const void *src, size_t n, void *dst, size_t cap);
/* Decodes a framed buffer into dst (cap bytes); returns the decoded length
 * or -1 when malformed or the declared length does not fit or match. */
long daq_lz4_unframe(const void *src, size_t n, void *dst, size_t cap);

/* ---- the encoded payload, shared by streams ------------------------------------- */

typedef struct daq_encoded daq_encoded; /* refcounted, immutable once made */

const void *daq_encoded_data(const daq_encoded *e); /* the FrameData.data bytes */
size_t daq_encoded_len(const daq_encoded *e);
uint32_t daq_encoded_width(const daq_encoded *e); /* after downsampling */
uint32_t daq_encoded_height(const daq_encoded *e);
bool daq_encoded_lz4(const daq_encoded *e);
size_t daq_encoded_uncompressed_size(const daq_encoded *e);
/* The frame it was made from (borrowed; for metadata). */
const daq_frame *daq_encoded_frame(const daq_encoded *e);

daq_encoded *daq_encoded_ref(daq_encoded *e);
void daq_encoded_unref(daq_encoded *e); /* NULL ok; the last unref frees it */

/* The encoded form of f (borrowed) for quality q, computed now, without any
 * cache (daq_encoder_encode uses it on a miss).  Every encoded form holds one
 * reference on f until its last unref.  The pixels are the frame's first
 * payload_bytes bytes; an unknown quality is treated as FULL, as prost
 * does.  Caller owns the returned reference; NULL when out of memory or
 * the frame is beyond LZ4's input limit. */
daq_encoded *daq_encode_frame(daq_frame *f, daq_quality q, bool lz4);

/* A per-device cache of recent encodings (a few frames deep, per quality and
 * compression).  Thread-safe; two streams asking for the same encoding at
 * once wait for one computation. */
typedef struct daq_encoder daq_encoder;

/* Frames an encoder keeps encodings of (all six kinds each, at most). */
#define DAQ_ENCODER_DEPTH 4

daq_encoder *daq_encoder_create(void); /* NULL when out of memory */
/* Drops cached references.  Must not run concurrently with get. NULL ok. */
void daq_encoder_destroy(daq_encoder *e);

/* The encoded form of f (borrowed) for quality q, LZ4 or raw.  Frames are
 * identified by their meta sequence number together with the frame object
 * (a restarted camera's sequence 1 is another frame).  Caller owns the
 * returned reference; NULL only when out of memory. */
daq_encoded *daq_encoder_encode(daq_encoder *e, daq_frame *f, daq_quality q, bool lz4);

/* Encodings actually computed (not served from the cache), for tests and
 * metrics. */
uint64_t daq_encoder_computed(const daq_encoder *e);

/* ---- the message head ----------------------------------------------------------- */

typedef struct daq_framedata_fields {
    const char *device_id;
    uint32_t width, height, bit_depth;
    uint64_t frame_number, timestamp_ns;
    bool has_exposure;
    double exposure_ms;
    uint32_t roi_x, roi_y;
    bool has_temperature;
    double temperature_c;
    bool has_binning;
    uint32_t binning_x, binning_y;
    bool has_metrics;
    double current_fps;
    uint64_t frames_sent, frames_dropped;
    double avg_latency_ms;
    int compression; /* 0 none, 1 LZ4 */
    uint32_t uncompressed_size;
    size_t data_len;
    /* trigger_mode (23): the camera's trigger.mode name when not internal,
     * NULL (absent) otherwise; borrowed, set by the stream (the frame does
     * not know its camera's mode). */
    const char *trigger_mode;
    /* daq extensions 1000..1006 (ADR 0011; implicit presence, 0 omitted). */
    uint64_t trigger_index, camera_timestamp_ns, arrival_mono_ns, arrival_real_ns;
    uint64_t exposure_start_ns, sequence;
    uint32_t frame_flags;
} daq_framedata_fields;

/* Every other field at its largest takes under 270 bytes (the extensions
 * 1000..1006: 7 x 12; a trigger_mode name: < 20), so this fits any head
 * whose device_id is at most 240 bytes long (ids are < 64). */
#define DAQ_FRAMEDATA_HEAD_MAX 512

/* Fills out from an encoding and its frame's metadata: width, height (after
 * downsampling), bit_depth, frame_number (the camera's hw_frame_number),
 * exposure_ms (set when exposure_ns != 0), roi_x/y, temperature_c (set when
 * not NaN), binning (set when bin_x and bin_y are not 0, i.e. also at a
 * cleared frame's neutral 1 x 1), compression, uncompressed_size (LZ4
 * only: 0, so absent, for raw data), data_len, and the timestamp
 * extensions: trigger_index, camera_timestamp_ns (cam_bof_ns),
 * arrival_mono_ns, arrival_real_ns, exposure_start_ns
 * (exposure_start_real_ns), frame_flags (flags), sequence.
 * Everything else -- device_id, timestamp_ns (wall clock: frame stamps are
 * CLOCK_MONOTONIC), trigger_mode and metrics -- is zeroed for the stream to
 * fill.  out borrows nothing from e. */
void daq_framedata_fields_from_encoded(const daq_encoded *e, daq_framedata_fields *out);

/* Encodes every FrameData field of f as protobuf (proto3 rules: zero
 * scalars omitted, optional fields with presence), ending with the tag and
 * length of field 5 (data) so that data_len bytes of data can follow as a
 * separate slice.  Returns the head length, 0 if cap is too small. */
size_t daq_framedata_head(const daq_framedata_fields *f, uint8_t *buf, size_t cap);

#endif
