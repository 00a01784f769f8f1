/* server/framedata_head.c - the protobuf bytes of a daq.FrameData message,
 * everything except the pixel data itself.
 *
 * Why by hand and not protobuf-c: a message is sent as a small head plus
 * the data bytes referenced zero-copy (server/rpc.h), and protobuf-c can
 * only pack a whole message into one buffer -- a copy of up to 8 MiB per
 * frame per stream.  The protobuf wire format allows fields in any order,
 * so the head carries every other field and ends with field 5's tag and
 * length; the data bytes follow as a separate slice and the concatenation
 * is a valid FrameData.
 *
 * Wire rules used (proto3, proto/daq.proto): varint fields (uint32, uint64,
 * enum) with wire type 0; double as 64-bit little-endian (wire type 1);
 * strings and sub-messages length-delimited (wire type 2).  Implicit-
 * presence scalars are omitted when zero (doubles: when their bit pattern is
 * zero, as protobuf does, so -0.0 is sent); `optional` fields and the
 * metrics message are written whenever their has_ flag is set, zero or not.
 * Fields >= 1000 are daq's extensions (a 2-byte tag each); rust-daq skips
 * them as unknown.
 * The data field is always written, even when empty, because the caller's
 * data slice follows it; an empty bytes field on the wire parses the same as
 * an absent one.
 */
#include <math.h>
#include <string.h>

#include "server/frame_encode.h"

enum { WIRE_VARINT = 0, WIRE_FIXED64 = 1, WIRE_LEN = 2 };

/* FrameData field numbers (proto/daq.proto). */
enum {
    FD_DEVICE_ID = 1,
    FD_WIDTH = 2,
    FD_HEIGHT = 3,
    FD_BIT_DEPTH = 4,
    FD_DATA = 5,
    FD_FRAME_NUMBER = 6,
    FD_TIMESTAMP_NS = 7,
    FD_EXPOSURE_MS = 8,
    FD_ROI_X = 10,
    FD_ROI_Y = 11,
    FD_TEMPERATURE_C = 20,
    FD_TRIGGER_MODE = 23,
    FD_BINNING_X = 24,
    FD_BINNING_Y = 25,
    FD_METRICS = 40,
    FD_COMPRESSION = 50,
    FD_UNCOMPRESSED_SIZE = 51,
    /* daq extensions (ADR 0011): >= 1000, unknown to rust-daq, skipped by it */
    FD_TRIGGER_INDEX = 1000,
    FD_CAMERA_TIMESTAMP_NS = 1001,
    FD_ARRIVAL_MONO_NS = 1002,
    FD_ARRIVAL_REAL_NS = 1003,
    FD_EXPOSURE_START_NS = 1004,
    FD_FRAME_FLAGS = 1005,
    FD_SEQUENCE = 1006,
};

/* StreamingMetrics field numbers. */
enum { SM_CURRENT_FPS = 1, SM_FRAMES_SENT = 2, SM_FRAMES_DROPPED = 3, SM_AVG_LATENCY_MS = 4 };

/* A bounded writer: overflow is remembered, never performed. */
typedef struct pb_writer {
    uint8_t *p, *end;
    bool overflow;
} pb_writer;

static void pb_bytes(pb_writer *w, const void *src, size_t n)
{
    if (w->overflow || (size_t)(w->end - w->p) < n) {
        w->overflow = true;
        return;
    }
    if (n > 0)
        memcpy(w->p, src, n);
    w->p += n;
}

static void pb_varint(pb_writer *w, uint64_t v)
{
    uint8_t b[10];
    size_t n = 0;
    while (v >= 0x80) {
        b[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b[n++] = (uint8_t)v;
    pb_bytes(w, b, n);
}

static void pb_tag(pb_writer *w, unsigned field, unsigned wire)
{
    pb_varint(w, (uint64_t)field << 3 | wire);
}

static uint64_t double_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

/* A double, always (explicit presence). */
static void pb_double(pb_writer *w, unsigned field, double d)
{
    uint64_t u = double_bits(d);
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(u >> (8 * i));
    pb_tag(w, field, WIRE_FIXED64);
    pb_bytes(w, b, sizeof b);
}

/* Implicit presence: omitted when zero. */
static void pb_double_implicit(pb_writer *w, unsigned field, double d)
{
    if (double_bits(d) != 0)
        pb_double(w, field, d);
}

static void pb_uint(pb_writer *w, unsigned field, uint64_t v)
{
    pb_tag(w, field, WIRE_VARINT);
    pb_varint(w, v);
}

static void pb_uint_implicit(pb_writer *w, unsigned field, uint64_t v)
{
    if (v != 0)
        pb_uint(w, field, v);
}

static void pb_len_field(pb_writer *w, unsigned field, const void *src, size_t n)
{
    pb_tag(w, field, WIRE_LEN);
    pb_varint(w, n);
    pb_bytes(w, src, n);
}

/* StreamingMetrics as an embedded message (at most 4 x 11 bytes). */
static void pb_metrics(pb_writer *w, const daq_framedata_fields *f)
{
    uint8_t buf[64];
    pb_writer m = {buf, buf + sizeof buf, false};
    pb_double_implicit(&m, SM_CURRENT_FPS, f->current_fps);
    pb_uint_implicit(&m, SM_FRAMES_SENT, f->frames_sent);
    pb_uint_implicit(&m, SM_FRAMES_DROPPED, f->frames_dropped);
    pb_double_implicit(&m, SM_AVG_LATENCY_MS, f->avg_latency_ms);
    pb_len_field(w, FD_METRICS, buf, (size_t)(m.p - buf));
}

static void pb_optionals(pb_writer *w, const daq_framedata_fields *f)
{
    if (f->has_exposure)
        pb_double(w, FD_EXPOSURE_MS, f->exposure_ms);
    if (f->has_temperature)
        pb_double(w, FD_TEMPERATURE_C, f->temperature_c);
    if (f->trigger_mode)
        pb_len_field(w, FD_TRIGGER_MODE, f->trigger_mode, strlen(f->trigger_mode));
    if (f->has_binning) {
        pb_uint(w, FD_BINNING_X, f->binning_x);
        pb_uint(w, FD_BINNING_Y, f->binning_y);
    }
    if (f->has_metrics)
        pb_metrics(w, f);
}

size_t daq_framedata_head(const daq_framedata_fields *f, uint8_t *buf, size_t cap)
{
    pb_writer w = {buf, buf + cap, false};
    if (f->device_id && f->device_id[0])
        pb_len_field(&w, FD_DEVICE_ID, f->device_id, strlen(f->device_id));
    pb_uint_implicit(&w, FD_WIDTH, f->width);
    pb_uint_implicit(&w, FD_HEIGHT, f->height);
    pb_uint_implicit(&w, FD_BIT_DEPTH, f->bit_depth);
    pb_uint_implicit(&w, FD_FRAME_NUMBER, f->frame_number);
    pb_uint_implicit(&w, FD_TIMESTAMP_NS, f->timestamp_ns);
    pb_uint_implicit(&w, FD_ROI_X, f->roi_x);
    pb_uint_implicit(&w, FD_ROI_Y, f->roi_y);
    pb_optionals(&w, f);
    /* an enum: negative values go out as 10-byte varints, as protobuf does */
    pb_uint_implicit(&w, FD_COMPRESSION, (uint64_t)(int64_t)f->compression);
    pb_uint_implicit(&w, FD_UNCOMPRESSED_SIZE, f->uncompressed_size);
    pb_uint_implicit(&w, FD_TRIGGER_INDEX, f->trigger_index);
    pb_uint_implicit(&w, FD_CAMERA_TIMESTAMP_NS, f->camera_timestamp_ns);
    pb_uint_implicit(&w, FD_ARRIVAL_MONO_NS, f->arrival_mono_ns);
    pb_uint_implicit(&w, FD_ARRIVAL_REAL_NS, f->arrival_real_ns);
    pb_uint_implicit(&w, FD_EXPOSURE_START_NS, f->exposure_start_ns);
    pb_uint_implicit(&w, FD_FRAME_FLAGS, f->frame_flags);
    pb_uint_implicit(&w, FD_SEQUENCE, f->sequence);
    pb_tag(&w, FD_DATA, WIRE_LEN); /* last: the data slice follows */
    pb_varint(&w, f->data_len);
    return w.overflow ? 0 : (size_t)(w.p - buf);
}

void daq_framedata_fields_from_encoded(const daq_encoded *e, daq_framedata_fields *out)
{
    const daq_frame_meta *m = daq_frame_meta_get(daq_encoded_frame(e));
    memset(out, 0, sizeof *out);
    out->width = daq_encoded_width(e);
    out->height = daq_encoded_height(e);
    out->bit_depth = m->bit_depth;
    out->frame_number = m->hw_frame_number;
    out->has_exposure = m->exposure_ns != 0;
    out->exposure_ms = (double)m->exposure_ns / 1e6;
    out->roi_x = m->roi.x;
    out->roi_y = m->roi.y;
    out->has_temperature = !isnan(m->temperature_c);
    out->temperature_c = out->has_temperature ? (double)m->temperature_c : 0.0;
    out->has_binning = m->bin_x != 0 && m->bin_y != 0;
    out->binning_x = m->bin_x;
    out->binning_y = m->bin_y;
    out->compression = daq_encoded_lz4(e) ? 1 : 0;
    /* as rust-daq: the raw length accompanies LZ4 data; raw data is its own size */
    if (daq_encoded_lz4(e))
        out->uncompressed_size = (uint32_t)daq_encoded_uncompressed_size(e);
    out->data_len = daq_encoded_len(e);
    out->trigger_index = m->trigger_index;
    out->camera_timestamp_ns = m->cam_bof_ns;
    out->arrival_mono_ns = m->arrival_mono_ns;
    out->arrival_real_ns = m->arrival_real_ns;
    out->exposure_start_ns = m->exposure_start_real_ns;
    out->frame_flags = m->flags;
    out->sequence = m->sequence;
}
