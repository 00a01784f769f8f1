/* Unit tests of the stream-side frame encoding (server/frame_encode.h):
 * downsampling against the examples of rust-daq's own tests (docs/facts/grpc-camera-api.md §8) and
 * a naive reference, LZ4 framing round trips and malformed input, the
 * hand-written FrameData head decoded by protobuf-c (every field, and
 * presence of the optional ones), zero-copy FULL frames, and the encoder
 * cache: computed once (also from 4 threads at once, for TSan), evicted
 * oldest first, everything released.  No timing assertions. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include "daq/pool.h"
#include "daq/sim.h"
#include "daq_c.pb-c.h"
#include "server/frame_encode.h"
#include "test_main.h"

/* ---- helpers ------------------------------------------------------------------ */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

/* Image bytes from a list of u16 values. */
static uint8_t *u16_image(const uint16_t *v, size_t n)
{
    uint8_t *b = malloc(n * 2);
    assert_non_null(b);
    for (size_t i = 0; i < n; i++)
        put16(b + 2 * i, v[i]);
    return b;
}

/* The rule written out the slow way: pixel (x, y) of the output. */
static uint16_t ref_mean(const uint8_t *src, uint32_t w, unsigned f, uint32_t x, uint32_t y)
{
    uint32_t s = 0;
    for (unsigned dy = 0; dy < f; dy++)
        for (unsigned dx = 0; dx < f; dx++)
            s += get16(src + ((size_t)(y * f + dy) * w + x * f + dx) * 2);
    return (uint16_t)(s / (f * f));
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static daq_pool *make_pool(size_t slot_bytes, uint32_t slots)
{
    daq_pool_config c;
    daq_pool_config_init(&c);
    c.name = "enc";
    c.slot_bytes = slot_bytes;
    c.slot_count = slots;
    c.prefault = false;
    char err[256] = "";
    daq_pool *p = daq_pool_create(&c, err, sizeof err);
    if (!p)
        fail_msg("pool: %s", err);
    return p;
}

/* A sim frame of w x h at bit depth bits, with sequence seq. */
static daq_frame *make_frame(daq_pool *p, uint32_t w, uint32_t h, unsigned bits, uint64_t seq)
{
    daq_frame *f = daq_pool_alloc(p, NULL);
    assert_non_null(f);
    daq_sim_render(daq_frame_data(f), w, h, bits, seq);
    daq_frame_meta *m = daq_frame_meta_mut(f);
    m->width = w;
    m->height = h;
    m->bit_depth = (uint16_t)bits;
    m->payload_bytes = (size_t)w * h * daq_sim_bytes_per_pixel(bits);
    m->sequence = seq;
    m->hw_frame_number = seq + 1000;
    m->pixel_format = bits > 8 ? DAQ_PIXEL_MONO16 : DAQ_PIXEL_MONO8;
    return f;
}

static uint32_t pool_in_use(daq_pool *p)
{
    daq_pool_metrics m;
    daq_pool_metrics_snapshot(p, &m);
    return m.in_use + m.heap_in_use;
}

/* ---- downsampling -------------------------------------------------------------- */

static void check_down(const uint16_t *in, uint32_t w, uint32_t h, unsigned f, const uint16_t *want,
                       uint32_t ww, uint32_t wh)
{
    uint8_t *src = u16_image(in, (size_t)w * h);
    uint8_t dst[64];
    uint32_t ow = 0, oh = 0;
    assert_true(daq_downsample_u16(src, w, h, (size_t)w * h * 2, f, dst, &ow, &oh));
    assert_int_equal(ow, ww);
    assert_int_equal(oh, wh);
    for (uint32_t i = 0; i < ww * wh; i++)
        assert_int_equal(get16(dst + 2 * i), want[i]);
    free(src);
}

static void downsample_2x2_examples(void **state)
{
    (void)state;
    const uint16_t img[16] = {100, 200, 300, 400, 100, 200, 300, 400,
                              500, 600, 700, 800, 500, 600, 700, 800};
    check_down(img, 4, 4, 2, (const uint16_t[]){150, 350, 550, 750}, 2, 2);
    check_down((const uint16_t[]){1, 2, 3, 4}, 2, 2, 2, (const uint16_t[]){2}, 1, 1);
    check_down((const uint16_t[]){65535, 65535, 65535, 65535}, 2, 2, 2, (const uint16_t[]){65535},
               1, 1);
}

static void downsample_4x4_examples(void **state)
{
    (void)state;
    uint16_t ramp[16], ones[16];
    for (int i = 0; i < 16; i++) {
        ramp[i] = (uint16_t)i;
        ones[i] = 1;
    }
    ones[15] = 2; /* 17 / 16 truncates to 1 */
    check_down(ramp, 4, 4, 4, (const uint16_t[]){7}, 1, 1);
    check_down(ones, 4, 4, 4, (const uint16_t[]){1}, 1, 1);
}

static void downsample_saturating(void **state)
{
    (void)state;
    uint16_t full[64];
    for (int i = 0; i < 64; i++)
        full[i] = 65535;
    check_down(full, 8, 8, 4, (const uint16_t[]){65535, 65535, 65535, 65535}, 2, 2);
    check_down(full, 8, 8, 2, full, 4, 4);
}

/* Random image of w x h downsampled by f equals the slow reference. */
static void check_against_reference(uint32_t w, uint32_t h, unsigned f, uint32_t ww, uint32_t wh)
{
    size_t len = (size_t)w * h * 2;
    uint8_t *src = malloc(len), *dst = malloc((size_t)ww * wh * 2 + 2);
    assert_non_null(src);
    assert_non_null(dst);
    for (size_t i = 0; i < len; i++)
        src[i] = (uint8_t)rnd();
    uint32_t ow = 0, oh = 0;
    put16(dst + (size_t)ww * wh * 2, 0xBEEF); /* guard after the output */
    assert_true(daq_downsample_u16(src, w, h, len, f, dst, &ow, &oh));
    assert_int_equal(ow, ww);
    assert_int_equal(oh, wh);
    for (uint32_t y = 0; y < wh; y++)
        for (uint32_t x = 0; x < ww; x++)
            assert_int_equal(get16(dst + ((size_t)y * ww + x) * 2), ref_mean(src, w, f, x, y));
    assert_int_equal(get16(dst + (size_t)ww * wh * 2), 0xBEEF);
    free(src);
    free(dst);
}

static void downsample_odd_sizes_cropped(void **state)
{
    (void)state;
    check_against_reference(101, 101, 2, 50, 50);
    check_against_reference(103, 100, 4, 25, 25);
    check_against_reference(7, 5, 2, 3, 2);
    check_against_reference(4, 7, 4, 1, 1);
    check_against_reference(2048, 2, 2, 1024, 1);
}

static void check_unchanged(const uint8_t *src, uint32_t w, uint32_t h, size_t len, unsigned f)
{
    uint8_t dst[16];
    memset(dst, 0xA5, sizeof dst);
    uint32_t ow = 77, oh = 77;
    assert_false(daq_downsample_applies(w, h, len, f));
    assert_false(daq_downsample_u16(src, w, h, len, f, dst, &ow, &oh));
    for (size_t i = 0; i < sizeof dst; i++)
        assert_int_equal(dst[i], 0xA5);
    assert_int_equal(ow, 77);
    assert_int_equal(oh, 77);
}

static void downsample_passthrough(void **state)
{
    (void)state;
    uint8_t img[256] = {0};
    check_unchanged(img, 8, 8, 64, 2);          /* 8-bit: w*h bytes, not w*h*2 */
    check_unchanged(img, 8, 8, 64, 4);          /* same for FAST */
    check_unchanged(img, 4, 4, 34, 2);          /* one byte pair too many */
    check_unchanged(img, 4, 4, 31, 2);          /* odd length */
    check_unchanged(img, 1, 8, 16, 2);          /* w < 2 */
    check_unchanged(img, 8, 1, 16, 2);          /* h < 2 */
    check_unchanged(img, 3, 8, 48, 4);          /* w < 4 */
    check_unchanged(img, 8, 3, 48, 4);          /* h < 4 */
    check_unchanged(img, 0, 0, 0, 2);           /* empty */
    check_unchanged(img, 4, 4, 32, 1);          /* not a block factor */
    check_unchanged(img, 0x80000000u, 2, 0, 2); /* w*h*2 would overflow u32 */
    assert_true(daq_downsample_applies(4, 4, 32, 4));
}

/* ---- LZ4 framing ----------------------------------------------------------------- */

static void roundtrip(const void *src, size_t n)
{
    size_t cap = daq_lz4_frame_bound(n);
    assert_true(cap >= 5);
    uint8_t *framed = malloc(cap), *back = malloc(n + 1);
    assert_non_null(framed);
    assert_non_null(back);
    size_t fl = daq_lz4_frame(src, n, framed, cap);
    assert_true(fl >= 5 && fl <= cap);
    assert_int_equal(framed[0] | framed[1] << 8 | framed[2] << 16 | (uint32_t)framed[3] << 24, n);
    assert_int_equal(daq_lz4_unframe(framed, fl, back, n), (long)n);
    if (n > 0)
        assert_memory_equal(back, src, n);
    /* one byte short of room is refused */
    if (n > 0)
        assert_int_equal(daq_lz4_unframe(framed, fl, back, n - 1), -1);
    free(framed);
    free(back);
}

static void lz4_roundtrip(void **state)
{
    (void)state;
    const size_t big = 2048 * 2048 * 2; /* 8 MiB u16 gradient, as in rust-daq */
    uint8_t *g = malloc(big);
    assert_non_null(g);
    for (size_t i = 0; i < big / 2; i++)
        put16(g + 2 * i, (uint16_t)(i % 2048 + i / 2048)); /* x + y */
    roundtrip(g, big);
    uint8_t pre[16];
    assert_true(daq_lz4_frame(g, big, pre, sizeof pre) == 0); /* no room */
    size_t cap = daq_lz4_frame_bound(big);
    uint8_t *framed = malloc(cap);
    assert_non_null(framed);
    size_t fl = daq_lz4_frame(g, big, framed, cap);
    assert_memory_equal(framed, ((const uint8_t[]){0x00, 0x00, 0x80, 0x00}), 4);
    assert_true(fl < big / 4); /* a gradient compresses */
    free(framed);
    free(g);

    uint8_t *noise = malloc(512 * 1024);
    assert_non_null(noise);
    for (size_t i = 0; i < 512 * 1024; i++)
        noise[i] = (uint8_t)rnd();
    roundtrip(noise, 512 * 1024);
    free(noise);

    uint8_t *zeros = calloc(1, 20000);
    assert_non_null(zeros);
    roundtrip(zeros, 20000);
    free(zeros);

    roundtrip("abc", 3);
}

static void lz4_empty_is_five_bytes(void **state)
{
    (void)state;
    uint8_t out[16];
    memset(out, 0xFF, sizeof out);
    assert_true(daq_lz4_frame_bound(0) >= 5);
    assert_int_equal(daq_lz4_frame(NULL, 0, out, sizeof out), 5);
    assert_memory_equal(out, ((const uint8_t[]){0, 0, 0, 0, 0}), 5);
    assert_int_equal(daq_lz4_unframe(out, 5, NULL, 0), 0);
    uint8_t dst[4];
    assert_int_equal(daq_lz4_unframe(out, 5, dst, sizeof dst), 0);
    roundtrip("", 0);
}

static void lz4_unframe_rejects_malformed(void **state)
{
    (void)state;
    const char *text = "the quick brown fox jumps over the lazy dog, the quick brown fox";
    size_t n = strlen(text);
    uint8_t framed[256], out[256];
    size_t fl = daq_lz4_frame(text, n, framed, sizeof framed);
    assert_true(fl > 5);

    assert_int_equal(daq_lz4_unframe(NULL, fl, out, sizeof out), -1);
    assert_int_equal(daq_lz4_unframe(framed, 0, out, sizeof out), -1);
    assert_int_equal(daq_lz4_unframe(framed, 3, out, sizeof out), -1);
    assert_int_equal(daq_lz4_unframe(framed, 4, out, sizeof out), -1);      /* prefix only */
    assert_int_equal(daq_lz4_unframe(framed, fl - 1, out, sizeof out), -1); /* truncated */
    assert_int_equal(daq_lz4_unframe(framed, fl, out, n - 1), -1);          /* no room */
    assert_int_equal(daq_lz4_unframe(framed, fl, NULL, 0), -1);

    uint8_t bad[256];
    memcpy(bad, framed, fl);
    bad[0] = (uint8_t)(n + 1); /* declares more than the block holds */
    assert_int_equal(daq_lz4_unframe(bad, fl, out, sizeof out), -1);
    bad[0] = (uint8_t)(n - 1); /* declares less */
    assert_int_equal(daq_lz4_unframe(bad, fl, out, sizeof out), -1);
    memcpy(bad, framed, fl);
    bad[3] = 0x80; /* 2 GiB: beyond any buffer */
    assert_int_equal(daq_lz4_unframe(bad, fl, out, sizeof out), -1);

    const uint8_t zero_with_junk[] = {0, 0, 0, 0, 0x10, 'x'};
    assert_int_equal(daq_lz4_unframe(zero_with_junk, sizeof zero_with_junk, out, sizeof out), -1);
    /* a match offset pointing before the start of the output */
    const uint8_t far_match[] = {3, 0, 0, 0, 0x00, 0xFF, 0x00};
    assert_int_equal(daq_lz4_unframe(far_match, sizeof far_match, out, sizeof out), -1);
    for (int t = 0; t < 2000; t++) { /* random garbage never overruns */
        uint8_t junk[40];
        for (size_t i = 0; i < sizeof junk; i++)
            junk[i] = (uint8_t)rnd();
        junk[1] = junk[2] = junk[3] = 0;
        long r = daq_lz4_unframe(junk, 4 + rnd() % 36, out, 64);
        assert_true(r == -1 || r == junk[0]);
    }
}

/* ---- the FrameData head ------------------------------------------------------------ */

/* head || data, unpacked by protobuf-c; caller frees with free_unpacked. */
static Daq__FrameData *decode(const daq_framedata_fields *f, const void *data)
{
    uint8_t *buf = malloc(DAQ_FRAMEDATA_HEAD_MAX + f->data_len);
    assert_non_null(buf);
    size_t h = daq_framedata_head(f, buf, DAQ_FRAMEDATA_HEAD_MAX);
    assert_true(h > 0);
    assert_int_equal(buf[h - 2 - (f->data_len >= 128) - (f->data_len >= 16384)], 0x2A);
    if (f->data_len)
        memcpy(buf + h, data, f->data_len);
    Daq__FrameData *m = daq__frame_data__unpack(NULL, h + f->data_len, buf);
    assert_non_null(m);
    free(buf);
    return m;
}

static void head_every_field_decodes(void **state)
{
    (void)state;
    uint8_t data[300];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7);
    daq_framedata_fields f = {
        .device_id = "camera_0",
        .width = 2048,
        .height = 1024,
        .bit_depth = 12,
        .frame_number = UINT64_MAX,
        .timestamp_ns = 1764000000123456789ull,
        .has_exposure = true,
        .exposure_ms = 12.5,
        .roi_x = 16,
        .roi_y = 300,
        .has_temperature = true,
        .temperature_c = -25.25,
        .has_binning = true,
        .binning_x = 2,
        .binning_y = 4,
        .has_metrics = true,
        .current_fps = 99.5,
        .frames_sent = 123456789012ull,
        .frames_dropped = 7,
        .avg_latency_ms = 3.25,
        .compression = 1,
        .uncompressed_size = 4194304,
        .data_len = sizeof data,
    };
    Daq__FrameData *m = decode(&f, data);
    assert_string_equal(m->device_id, "camera_0");
    assert_int_equal(m->width, 2048);
    assert_int_equal(m->height, 1024);
    assert_int_equal(m->bit_depth, 12);
    assert_int_equal(m->data.len, sizeof data);
    assert_memory_equal(m->data.data, data, sizeof data);
    assert_true(m->frame_number == UINT64_MAX);
    assert_true(m->timestamp_ns == 1764000000123456789ull);
    assert_int_equal(m->_exposure_ms_case, DAQ__FRAME_DATA___EXPOSURE_MS_EXPOSURE_MS);
    assert_true(m->exposure_ms == 12.5);
    assert_int_equal(m->roi_x, 16);
    assert_int_equal(m->roi_y, 300);
    assert_int_equal(m->_temperature_c_case, DAQ__FRAME_DATA___TEMPERATURE_C_TEMPERATURE_C);
    assert_true(m->temperature_c == -25.25);
    assert_int_equal(m->_gain_mode_case, DAQ__FRAME_DATA___GAIN_MODE__NOT_SET);
    assert_int_equal(m->_readout_speed_case, DAQ__FRAME_DATA___READOUT_SPEED__NOT_SET);
    assert_int_equal(m->_trigger_mode_case, DAQ__FRAME_DATA___TRIGGER_MODE__NOT_SET);
    assert_int_equal(m->_binning_x_case, DAQ__FRAME_DATA___BINNING_X_BINNING_X);
    assert_int_equal(m->binning_x, 2);
    assert_int_equal(m->_binning_y_case, DAQ__FRAME_DATA___BINNING_Y_BINNING_Y);
    assert_int_equal(m->binning_y, 4);
    assert_int_equal(m->n_metadata, 0);
    assert_int_equal(m->_metrics_case, DAQ__FRAME_DATA___METRICS_METRICS);
    assert_true(m->metrics->current_fps == 99.5);
    assert_true(m->metrics->frames_sent == 123456789012ull);
    assert_true(m->metrics->frames_dropped == 7);
    assert_true(m->metrics->avg_latency_ms == 3.25);
    assert_int_equal(m->compression, DAQ__COMPRESSION_TYPE__COMPRESSION_LZ4);
    assert_int_equal(m->uncompressed_size, 4194304);
    daq__frame_data__free_unpacked(m, NULL);
}

static void head_optional_zero_is_present(void **state)
{
    (void)state;
    daq_framedata_fields f = {
        .has_exposure = true,
        .has_temperature = true,
        .has_binning = true,
        .has_metrics = true,
    };
    Daq__FrameData *m = decode(&f, NULL);
    assert_string_equal(m->device_id, "");
    assert_int_equal(m->width, 0);
    assert_int_equal(m->data.len, 0);
    assert_int_equal(m->_exposure_ms_case, DAQ__FRAME_DATA___EXPOSURE_MS_EXPOSURE_MS);
    assert_true(m->exposure_ms == 0.0);
    assert_int_equal(m->_temperature_c_case, DAQ__FRAME_DATA___TEMPERATURE_C_TEMPERATURE_C);
    assert_true(m->temperature_c == 0.0);
    assert_int_equal(m->_binning_x_case, DAQ__FRAME_DATA___BINNING_X_BINNING_X);
    assert_int_equal(m->_binning_y_case, DAQ__FRAME_DATA___BINNING_Y_BINNING_Y);
    assert_int_equal(m->binning_x, 0);
    assert_int_equal(m->_metrics_case, DAQ__FRAME_DATA___METRICS_METRICS);
    assert_non_null(m->metrics);
    assert_true(m->metrics->frames_sent == 0);
    assert_int_equal(m->compression, DAQ__COMPRESSION_TYPE__COMPRESSION_NONE);
    daq__frame_data__free_unpacked(m, NULL);
}

static void head_unset_optionals_absent(void **state)
{
    (void)state;
    uint8_t data[3] = {1, 2, 3};
    /* values in the optional fields must not leak out without has_ */
    daq_framedata_fields f = {.device_id = "d",
                              .exposure_ms = 5,
                              .temperature_c = 20,
                              .binning_x = 2,
                              .binning_y = 2,
                              .current_fps = 30,
                              .frames_sent = 9,
                              .width = 1,
                              .height = 3,
                              .data_len = 3};
    Daq__FrameData *m = decode(&f, data);
    assert_string_equal(m->device_id, "d");
    assert_int_equal(m->_exposure_ms_case, DAQ__FRAME_DATA___EXPOSURE_MS__NOT_SET);
    assert_int_equal(m->_temperature_c_case, DAQ__FRAME_DATA___TEMPERATURE_C__NOT_SET);
    assert_int_equal(m->_binning_x_case, DAQ__FRAME_DATA___BINNING_X__NOT_SET);
    assert_int_equal(m->_binning_y_case, DAQ__FRAME_DATA___BINNING_Y__NOT_SET);
    assert_int_equal(m->_metrics_case, DAQ__FRAME_DATA___METRICS__NOT_SET);
    assert_int_equal(m->width, 1);
    assert_int_equal(m->height, 3);
    assert_memory_equal(m->data.data, data, 3);
    daq__frame_data__free_unpacked(m, NULL);

    /* an empty message is just the data tag and a zero length */
    daq_framedata_fields none = {0};
    uint8_t buf[8];
    assert_int_equal(daq_framedata_head(&none, buf, sizeof buf), 2);
    assert_int_equal(buf[0], 0x2A);
    assert_int_equal(buf[1], 0);
}

static void head_wire_bytes_and_bounds(void **state)
{
    (void)state;
    daq_framedata_fields f = {.compression = 1, .uncompressed_size = 300, .data_len = 300};
    uint8_t buf[DAQ_FRAMEDATA_HEAD_MAX];
    size_t n = daq_framedata_head(&f, buf, sizeof buf);
    /* two-byte tags for fields 50 and 51, data tag and varint length last */
    const uint8_t want[] = {0x90, 0x03, 0x01, 0x98, 0x03, 0xAC, 0x02, 0x2A, 0xAC, 0x02};
    assert_int_equal(n, sizeof want);
    assert_memory_equal(buf, want, sizeof want);
    for (size_t cap = 0; cap < n; cap++) /* too small: 0, never an overrun */
        assert_int_equal(daq_framedata_head(&f, buf, cap), 0);

    /* every field at its largest still fits DAQ_FRAMEDATA_HEAD_MAX with an
     * id of 350 bytes, as the header promises */
    char id[351];
    memset(id, 'x', 350);
    id[350] = 0;
    daq_framedata_fields big = {.device_id = id,
                                .width = UINT32_MAX,
                                .height = UINT32_MAX,
                                .bit_depth = UINT32_MAX,
                                .frame_number = UINT64_MAX,
                                .timestamp_ns = UINT64_MAX,
                                .has_exposure = true,
                                .exposure_ms = -1,
                                .roi_x = UINT32_MAX,
                                .roi_y = UINT32_MAX,
                                .has_temperature = true,
                                .temperature_c = NAN,
                                .has_binning = true,
                                .binning_x = UINT32_MAX,
                                .binning_y = UINT32_MAX,
                                .has_metrics = true,
                                .current_fps = 1e300,
                                .frames_sent = UINT64_MAX,
                                .frames_dropped = UINT64_MAX,
                                .avg_latency_ms = -0.0,
                                .compression = 1,
                                .uncompressed_size = UINT32_MAX,
                                .data_len = SIZE_MAX};
    assert_true(daq_framedata_head(&big, buf, sizeof buf) > 0);
}

/* ---- encoding frames ------------------------------------------------------------- */

static void encode_full_raw_zero_copy(void **state)
{
    (void)state;
    daq_pool *p = make_pool(640 * 480 * 2, 2);
    daq_frame *f = make_frame(p, 640, 480, 16, 1);
    assert_int_equal(daq_frame_refcount(f), 1);
    daq_encoded *e = daq_encode_frame(f, DAQ_QUALITY_FULL, false);
    assert_non_null(e);
    assert_ptr_equal(daq_encoded_data(e), daq_frame_cdata(f));
    assert_int_equal(daq_encoded_len(e), 640 * 480 * 2);
    assert_int_equal(daq_encoded_uncompressed_size(e), 640 * 480 * 2);
    assert_int_equal(daq_encoded_width(e), 640);
    assert_int_equal(daq_encoded_height(e), 480);
    assert_false(daq_encoded_lz4(e));
    assert_ptr_equal(daq_encoded_frame(e), f);
    assert_int_equal(daq_frame_refcount(f), 2);
    daq_encoded_ref(e);
    daq_encoded_unref(e);
    assert_int_equal(daq_frame_refcount(f), 2);
    daq_encoded_unref(e);
    assert_int_equal(daq_frame_refcount(f), 1);
    daq_encoded_unref(NULL);

    /* the frame may go first: the encoding keeps its pixels alive */
    e = daq_encode_frame(f, (daq_quality)9, false); /* unknown quality = FULL */
    assert_ptr_equal(daq_encoded_data(e), daq_frame_cdata(f));
    daq_frame_unref(f);
    assert_int_equal(pool_in_use(p), 1);
    assert_int_equal(daq_sim_verify(daq_encoded_data(e), 640, 480, 16, 1, NULL, 0), 0);
    daq_encoded_unref(e);
    assert_int_equal(pool_in_use(p), 0);
    daq_pool_destroy(p);
}

static void check_encoding(daq_frame *f, daq_quality q, bool lz4)
{
    const daq_frame_meta *m = daq_frame_meta_get(f);
    unsigned fac = q == DAQ_QUALITY_PREVIEW ? 2 : q == DAQ_QUALITY_FAST ? 4 : 1;
    bool down = fac > 1 && m->bit_depth > 8;
    uint32_t ww = down ? m->width / fac : m->width, wh = down ? m->height / fac : m->height;
    size_t raw = down ? (size_t)ww * wh * 2 : m->payload_bytes;
    daq_encoded *e = daq_encode_frame(f, q, lz4);
    assert_non_null(e);
    assert_int_equal(daq_encoded_width(e), ww);
    assert_int_equal(daq_encoded_height(e), wh);
    assert_int_equal(daq_encoded_uncompressed_size(e), raw);
    assert_int_equal(daq_encoded_lz4(e), lz4);
    uint8_t *px = malloc(raw + 1);
    assert_non_null(px);
    if (lz4) {
        assert_int_equal(daq_lz4_unframe(daq_encoded_data(e), daq_encoded_len(e), px, raw),
                         (long)raw);
    } else {
        assert_int_equal(daq_encoded_len(e), raw);
        memcpy(px, daq_encoded_data(e), raw);
        /* zero-copy exactly when nothing had to change */
        assert_true((daq_encoded_data(e) == daq_frame_cdata(f)) == !down);
    }
    const uint8_t *src = daq_frame_cdata(f);
    if (down) {
        for (uint32_t y = 0; y < wh; y += 7)
            for (uint32_t x = 0; x < ww; x++)
                assert_int_equal(get16(px + ((size_t)y * ww + x) * 2),
                                 ref_mean(src, m->width, fac, x, y));
    } else {
        assert_memory_equal(px, src, raw);
    }
    free(px);
    daq_encoded_unref(e);
}

static void encode_every_kind(void **state)
{
    (void)state;
    daq_pool *p = make_pool(1030 * 771 * 2, 2);
    daq_frame *f16 = make_frame(p, 1030, 771, 12, 5);
    daq_frame *f8 = make_frame(p, 1030, 771, 8, 6);
    for (int q = 0; q < 3; q++) {
        for (int z = 0; z < 2; z++) {
            check_encoding(f16, (daq_quality)q, z);
            check_encoding(f8, (daq_quality)q, z);
        }
    }
    assert_int_equal(daq_frame_refcount(f16), 1);
    daq_frame_unref(f16);
    daq_frame_unref(f8);
    assert_int_equal(pool_in_use(p), 0);
    daq_pool_destroy(p);
}

static void fields_from_encoded_frame(void **state)
{
    (void)state;
    daq_pool *p = make_pool(64 * 32 * 2, 1);
    daq_frame *f = make_frame(p, 64, 32, 16, 3);
    daq_frame_meta *mm = daq_frame_meta_mut(f);
    mm->exposure_ns = 2500000;
    mm->roi = (daq_roi){8, 4, 64, 32};
    mm->temperature_c = -10.5f;
    mm->bin_x = 2;
    mm->bin_y = 2;
    daq_encoded *e = daq_encode_frame(f, DAQ_QUALITY_FAST, true);
    daq_framedata_fields fd;
    daq_framedata_fields_from_encoded(e, &fd);
    fd.device_id = "cam";
    Daq__FrameData *m = decode(&fd, daq_encoded_data(e));
    assert_string_equal(m->device_id, "cam");
    assert_int_equal(m->width, 16);
    assert_int_equal(m->height, 8);
    assert_int_equal(m->bit_depth, 16);
    assert_int_equal(m->frame_number, 1003);
    assert_true(m->exposure_ms == 2.5);
    assert_int_equal(m->roi_x, 8);
    assert_int_equal(m->roi_y, 4);
    assert_true(m->temperature_c == -10.5);
    assert_int_equal(m->binning_x, 2);
    assert_int_equal(m->_metrics_case, DAQ__FRAME_DATA___METRICS__NOT_SET);
    assert_int_equal(m->compression, DAQ__COMPRESSION_TYPE__COMPRESSION_LZ4);
    assert_int_equal(m->uncompressed_size, 16 * 8 * 2);
    uint8_t px[16 * 8 * 2];
    assert_int_equal(daq_lz4_unframe(m->data.data, m->data.len, px, sizeof px), sizeof px);
    daq__frame_data__free_unpacked(m, NULL);
    daq_encoded_unref(e);

    /* unknown exposure / temperature / binning stay absent (the neutral
     * binning is 1 x 1, a value; 0 means unknown) */
    daq_frame_meta_clear(mm);
    mm->bin_x = 0;
    mm->width = 64;
    mm->height = 32;
    mm->payload_bytes = 64 * 32 * 2;
    e = daq_encode_frame(f, DAQ_QUALITY_FULL, false);
    daq_framedata_fields_from_encoded(e, &fd);
    assert_false(fd.has_exposure);
    assert_false(fd.has_temperature);
    assert_false(fd.has_binning);
    assert_int_equal(fd.compression, 0);
    assert_int_equal(fd.data_len, 64 * 32 * 2);
    daq_encoded_unref(e);
    daq_frame_unref(f);
    daq_pool_destroy(p);
}

/* ---- the encoder cache ------------------------------------------------------------- */

static void encoder_computes_once(void **state)
{
    (void)state;
    daq_pool *p = make_pool(256 * 256 * 2, 2);
    daq_frame *f = make_frame(p, 256, 256, 16, 1);
    daq_encoder *enc = daq_encoder_create();
    assert_non_null(enc);
    daq_encoded *first = daq_encoder_encode(enc, f, DAQ_QUALITY_PREVIEW, true);
    for (int i = 0; i < 50; i++) {
        daq_encoded *again = daq_encoder_encode(enc, f, DAQ_QUALITY_PREVIEW, true);
        assert_ptr_equal(again, first);
        daq_encoded_unref(again);
    }
    assert_int_equal(daq_encoder_computed(enc), 1);
    /* other kinds of the same frame are separate entries */
    for (int round = 0; round < 3; round++)
        for (int q = 0; q < 3; q++)
            for (int z = 0; z < 2; z++)
                daq_encoded_unref(daq_encoder_encode(enc, f, (daq_quality)q, z));
    assert_int_equal(daq_encoder_computed(enc), 6);
    /* an unknown quality is FULL, also in the cache */
    daq_encoded *full = daq_encoder_encode(enc, f, DAQ_QUALITY_FULL, false);
    daq_encoded *odd = daq_encoder_encode(enc, f, (daq_quality)7, false);
    assert_ptr_equal(full, odd);
    assert_ptr_equal(daq_encoded_data(full), daq_frame_cdata(f)); /* zero-copy via cache too */
    daq_encoded_unref(full);
    daq_encoded_unref(odd);
    assert_int_equal(daq_encoder_computed(enc), 6);
    daq_encoded_unref(first);
    daq_frame_unref(f);
    assert_int_equal(pool_in_use(p), 1); /* the cache still holds it */
    daq_encoder_destroy(enc);
    assert_int_equal(pool_in_use(p), 0);
    daq_pool_destroy(p);
}

static void encoder_evicts_oldest(void **state)
{
    (void)state;
    enum { N = DAQ_ENCODER_DEPTH + 3 };
    daq_pool *p = make_pool(64 * 64 * 2, N);
    daq_encoder *enc = daq_encoder_create();
    daq_frame *f[N];
    for (int i = 0; i < N; i++) {
        f[i] = make_frame(p, 64, 64, 16, (uint64_t)i + 1);
        daq_encoded_unref(daq_encoder_encode(enc, f[i], DAQ_QUALITY_FAST, false));
        daq_encoded_unref(daq_encoder_encode(enc, f[i], DAQ_QUALITY_FULL, true));
        /* the cache holds a row reference and one per encoding */
        assert_int_equal(daq_frame_refcount(f[i]), 4);
    }
    assert_int_equal(daq_encoder_computed(enc), 2 * N);
    for (int i = 0; i < N; i++) /* the oldest rows are gone, the newest stay */
        assert_int_equal(daq_frame_refcount(f[i]), i < N - DAQ_ENCODER_DEPTH ? 1 : 4);
    /* the newest are served from the cache */
    for (int i = N - DAQ_ENCODER_DEPTH; i < N; i++)
        daq_encoded_unref(daq_encoder_encode(enc, f[i], DAQ_QUALITY_FAST, false));
    assert_int_equal(daq_encoder_computed(enc), 2 * N);
    /* an evicted frame is computed again (and evicts the oldest row) */
    daq_encoded_unref(daq_encoder_encode(enc, f[0], DAQ_QUALITY_FAST, false));
    assert_int_equal(daq_encoder_computed(enc), 2 * N + 1);
    assert_int_equal(daq_frame_refcount(f[N - DAQ_ENCODER_DEPTH]), 1);
    for (int i = 0; i < N; i++)
        daq_frame_unref(f[i]);
    daq_encoder_destroy(enc);
    assert_int_equal(pool_in_use(p), 0);
    daq_pool_destroy(p);
}

static void encoder_same_sequence_other_frame(void **state)
{
    (void)state;
    /* an acquisition restart: sequence 1 again, in another frame */
    daq_pool *p = make_pool(64 * 64 * 2, 2);
    daq_encoder *enc = daq_encoder_create();
    daq_frame *a = make_frame(p, 64, 64, 16, 1);
    daq_frame *b = make_frame(p, 64, 64, 16, 1);
    daq_sim_render(daq_frame_data(b), 64, 64, 16, 2);
    daq_encoded *ea = daq_encoder_encode(enc, a, DAQ_QUALITY_FULL, true);
    daq_encoded *eb = daq_encoder_encode(enc, b, DAQ_QUALITY_FULL, true);
    assert_ptr_not_equal(ea, eb);
    assert_ptr_equal(daq_encoded_frame(eb), b);
    assert_int_equal(daq_encoder_computed(enc), 2);
    daq_encoded_unref(ea);
    daq_encoded_unref(eb);
    daq_frame_unref(a);
    daq_frame_unref(b);
    daq_encoder_destroy(enc);
    assert_int_equal(pool_in_use(p), 0);
    daq_pool_destroy(p);
}

enum { THREADS = 4, ROUNDS = 8, FRAMES = 3 };

typedef struct race_ctx {
    daq_encoder *enc;
    daq_frame **frames;
    pthread_barrier_t *start;
    int id;
    daq_encoded *got[ROUNDS][FRAMES][3];
} race_ctx;

static void *race_thread(void *arg)
{
    race_ctx *c = arg;
    pthread_barrier_wait(c->start);
    for (int r = 0; r < ROUNDS; r++)
        for (int i = 0; i < FRAMES; i++)
            for (int k = 0; k < 3; k++) {
                int q = (k + c->id) % 3; /* threads collide in different orders */
                c->got[r][i][q] = daq_encoder_encode(c->enc, c->frames[i], (daq_quality)q, true);
            }
    return NULL;
}

static void encoder_concurrent_once(void **state)
{
    (void)state;
    /* 2048 x 512 u16 so each computation takes a while and requests overlap */
    daq_pool *p = make_pool(2048 * 512 * 2, FRAMES);
    daq_encoder *enc = daq_encoder_create();
    daq_frame *frames[FRAMES];
    for (int i = 0; i < FRAMES; i++)
        frames[i] = make_frame(p, 2048, 512, 16, (uint64_t)i + 10);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, THREADS);
    static race_ctx ctx[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        ctx[i] = (race_ctx){.enc = enc, .frames = frames, .start = &start, .id = i};
        assert_int_equal(pthread_create(&t[i], NULL, race_thread, &ctx[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&start);
    assert_int_equal(daq_encoder_computed(enc), FRAMES * 3);
    for (int i = 0; i < THREADS; i++)
        for (int r = 0; r < ROUNDS; r++)
            for (int f = 0; f < FRAMES; f++)
                for (int q = 0; q < 3; q++) {
                    assert_ptr_equal(ctx[i].got[r][f][q], ctx[0].got[0][f][q]);
                    daq_encoded_unref(ctx[i].got[r][f][q]);
                }
    for (int i = 0; i < FRAMES; i++)
        daq_frame_unref(frames[i]);
    assert_int_equal(pool_in_use(p), FRAMES);
    daq_encoder_destroy(enc);
    assert_int_equal(pool_in_use(p), 0);
    daq_pool_destroy(p);
}

/* More frames in flight than rows, from several threads: every answer is
 * right (cached or not) and everything is released. */
typedef struct churn_ctx {
    daq_encoder *enc;
    daq_frame **frames;
    int n, id;
} churn_ctx;

static void *churn_thread(void *arg)
{
    churn_ctx *c = arg;
    for (int r = 0; r < 200; r++) {
        int i = (r * 7 + c->id * 3) % c->n;
        daq_quality q = (daq_quality)((r + c->id) % 3);
        daq_encoded *e = daq_encoder_encode(c->enc, c->frames[i], q, (r & 1) != 0);
        if (!e || daq_encoded_frame(e) != c->frames[i])
            return (void *)1;
        daq_encoded_unref(e);
    }
    return NULL;
}

static void encoder_churn_releases_all(void **state)
{
    (void)state;
    /* more threads than rows: sometimes every row is pinned and an encoding
     * is computed without the cache */
    enum { N = DAQ_ENCODER_DEPTH * 2 + 1, CHURN = DAQ_ENCODER_DEPTH + 2 };
    daq_pool *p = make_pool(128 * 64 * 2, N);
    daq_encoder *enc = daq_encoder_create();
    daq_frame *frames[N];
    for (int i = 0; i < N; i++)
        frames[i] = make_frame(p, 128, 64, 16, (uint64_t)i + 1);
    churn_ctx ctx[CHURN];
    pthread_t t[CHURN];
    for (int i = 0; i < CHURN; i++) {
        ctx[i] = (churn_ctx){.enc = enc, .frames = frames, .n = N, .id = i};
        assert_int_equal(pthread_create(&t[i], NULL, churn_thread, &ctx[i]), 0);
    }
    for (int i = 0; i < CHURN; i++) {
        void *rv;
        pthread_join(t[i], &rv);
        assert_null(rv);
    }
    assert_true(daq_encoder_computed(enc) >= 6);
    for (int i = 0; i < N; i++)
        daq_frame_unref(frames[i]);
    daq_encoder_destroy(enc);
    daq_encoder_destroy(NULL);
    assert_int_equal(pool_in_use(p), 0);
    daq_pool_destroy(p);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(downsample_2x2_examples),
    cmocka_unit_test(downsample_4x4_examples),
    cmocka_unit_test(downsample_saturating),
    cmocka_unit_test(downsample_odd_sizes_cropped),
    cmocka_unit_test(downsample_passthrough),
    cmocka_unit_test(lz4_roundtrip),
    cmocka_unit_test(lz4_empty_is_five_bytes),
    cmocka_unit_test(lz4_unframe_rejects_malformed),
    cmocka_unit_test(head_every_field_decodes),
    cmocka_unit_test(head_optional_zero_is_present),
    cmocka_unit_test(head_unset_optionals_absent),
    cmocka_unit_test(head_wire_bytes_and_bounds),
    cmocka_unit_test(encode_full_raw_zero_copy),
    cmocka_unit_test(encode_every_kind),
    cmocka_unit_test(fields_from_encoded_frame),
    cmocka_unit_test(encoder_computes_once),
    cmocka_unit_test(encoder_evicts_oldest),
    cmocka_unit_test(encoder_same_sequence_other_frame),
    cmocka_unit_test(encoder_concurrent_once),
    cmocka_unit_test(encoder_churn_releases_all),
};

DAQ_TEST_MAIN("frame_encode", tests)
