/* frame_encode_dump - writes encoded daq.FrameData messages (head || data,
 * exactly the bytes a stream sends) to files, for the cross-language check
 * tests/unit/frame_encode_python.py: Python's protobuf parses them, Python's
 * lz4 decompresses them and numpy recomputes the 2x2 / 4x4 means from the
 * FULL image.  A manifest (one JSON object per line) tells the checker what
 * each file should hold.
 *
 *   frame_encode_dump OUTDIR     the messages and OUTDIR/manifest.jsonl
 *   frame_encode_dump --bench    LZ4 and downsampling speed on 8 MiB frames
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daq/pool.h"
#include "daq/sim.h"
#include "server/frame_encode.h"

/* Odd sizes on purpose: both downsamplings crop a remainder. */
#define DUMP_W 1030u
#define DUMP_H 771u

static daq_frame *make_frame(daq_pool *p, uint32_t w, uint32_t h, unsigned bits, uint64_t n)
{
    daq_frame *f = daq_pool_alloc(p, NULL);
    if (!f)
        return NULL;
    daq_sim_render(daq_frame_data(f), w, h, bits, n);
    daq_frame_meta *m = daq_frame_meta_mut(f);
    m->width = w;
    m->height = h;
    m->bit_depth = (uint16_t)bits;
    m->payload_bytes = (size_t)w * h * daq_sim_bytes_per_pixel(bits);
    m->sequence = n;
    m->hw_frame_number = n;
    return f;
}

/* Writes one message built from e; with_meta sets every optional field. */
static int write_message(const char *dir, const char *name, const daq_encoded *e, bool with_meta,
                         FILE *manifest, int quality)
{
    daq_framedata_fields fd;
    daq_framedata_fields_from_encoded(e, &fd);
    fd.device_id = "camera_0";
    fd.timestamp_ns = 1764000000123456789ull;
    if (with_meta) {
        fd.roi_x = 4;
        fd.roi_y = 2;
        fd.has_metrics = true;
        fd.current_fps = 30.0;
        fd.frames_sent = 1;
        fd.frames_dropped = 0; /* set, zero: absent inside metrics */
        fd.avg_latency_ms = 0.5;
    }
    uint8_t head[DAQ_FRAMEDATA_HEAD_MAX];
    size_t hl = daq_framedata_head(&fd, head, sizeof head);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.pb", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || hl == 0 || fwrite(head, 1, hl, f) != hl ||
        fwrite(daq_encoded_data(e), 1, fd.data_len, f) != fd.data_len || fclose(f) != 0) {
        fprintf(stderr, "frame_encode_dump: cannot write %s\n", path);
        return -1;
    }
    fprintf(manifest,
            "{\"file\": \"%s.pb\", \"quality\": %d, \"lz4\": %s, \"bit_depth\": %u, "
            "\"source_width\": %u, \"source_height\": %u, \"frame_number\": %" PRIu64
            ", \"with_meta\": %s}\n",
            name, quality, daq_encoded_lz4(e) ? "true" : "false", fd.bit_depth, DUMP_W, DUMP_H,
            fd.frame_number, with_meta ? "true" : "false");
    return 0;
}

typedef struct dump_case {
    const char *name;
    unsigned bits;
    daq_quality q;
    bool lz4, with_meta;
} dump_case;

static const dump_case cases[] = {
    {"full_raw", 12, DAQ_QUALITY_FULL, false, true},
    {"full_lz4", 12, DAQ_QUALITY_FULL, true, true},
    {"preview_raw", 12, DAQ_QUALITY_PREVIEW, false, true},
    {"preview_lz4", 12, DAQ_QUALITY_PREVIEW, true, false},
    {"fast_raw", 12, DAQ_QUALITY_FAST, false, false},
    {"fast_lz4", 12, DAQ_QUALITY_FAST, true, true},
    {"mono8_full_raw", 8, DAQ_QUALITY_FULL, false, false},
    {"mono8_preview_lz4", 8, DAQ_QUALITY_PREVIEW, true, true},
};

static int dump(const char *dir)
{
    daq_pool_config c;
    daq_pool_config_init(&c);
    c.name = "dump";
    c.slot_bytes = (size_t)DUMP_W * DUMP_H * 2;
    c.slot_count = 2;
    daq_pool *p = daq_pool_create(&c, NULL, 0);
    char path[4096];
    snprintf(path, sizeof path, "%s/manifest.jsonl", dir);
    FILE *manifest = fopen(path, "w");
    daq_frame *f16 = p ? make_frame(p, DUMP_W, DUMP_H, 12, 41) : NULL;
    daq_frame *f8 = p ? make_frame(p, DUMP_W, DUMP_H, 8, 42) : NULL;
    daq_encoder *enc = daq_encoder_create();
    int rc = (manifest && f16 && f8 && enc) ? 0 : -1;
    if (f16) { /* exercise the optional fields on the 16-bit frame */
        daq_frame_meta *m = daq_frame_meta_mut(f16);
        m->exposure_ns = 12500000;
        m->temperature_c = -20.0f;
        m->bin_x = m->bin_y = 1;
    }
    for (size_t i = 0; rc == 0 && i < sizeof cases / sizeof cases[0]; i++) {
        const dump_case *dc = &cases[i];
        daq_encoded *e = daq_encoder_encode(enc, dc->bits > 8 ? f16 : f8, dc->q, dc->lz4);
        rc = e ? write_message(dir, dc->name, e, dc->with_meta, manifest, (int)dc->q) : -1;
        daq_encoded_unref(e);
    }
    if (manifest && fclose(manifest) != 0)
        rc = -1;
    daq_encoder_destroy(enc);
    daq_frame_unref(f16);
    daq_frame_unref(f8);
    daq_pool_destroy(p);
    return rc;
}

/* ---- --bench ------------------------------------------------------------------ */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef size_t (*bench_fn)(const uint8_t *src, size_t n, uint8_t *dst, size_t cap);

static size_t run_down2(const uint8_t *src, size_t n, uint8_t *dst, size_t cap)
{
    return daq_downsample_u16(src, 2048, 2048, n, 2, dst, NULL, NULL) ? 1 : 0;
}

static size_t run_down4(const uint8_t *src, size_t n, uint8_t *dst, size_t cap)
{
    return daq_downsample_u16(src, 2048, 2048, n, 4, dst, NULL, NULL) ? 1 : 0;
}

static size_t run_lz4(const uint8_t *src, size_t n, uint8_t *dst, size_t cap)
{
    return daq_lz4_frame(src, n, dst, cap);
}

/* Input MB/s of fn over about half a second. */
static double bench(bench_fn fn, const uint8_t *src, size_t n, uint8_t *dst, size_t cap,
                    size_t *out)
{
    int iters = 0;
    double t0 = now_s(), t;
    do {
        *out = fn(src, n, dst, cap);
        iters++;
        t = now_s();
    } while (t - t0 < 0.5);
    return (double)n * iters / (t - t0) / 1e6;
}

static double bench_unframe(const uint8_t *framed, size_t fl, uint8_t *dst, size_t n)
{
    int iters = 0;
    double t0 = now_s(), t;
    do {
        if (daq_lz4_unframe(framed, fl, dst, n) != (long)n)
            return -1;
        iters++;
        t = now_s();
    } while (t - t0 < 0.5);
    return (double)n * iters / (t - t0) / 1e6;
}

static void bench_image(const char *label, const uint8_t *src, size_t n, uint8_t *dst, size_t cap)
{
    size_t fl = 0, ok = 0;
    double lz = bench(run_lz4, src, n, dst, cap, &fl);
    uint8_t *back = malloc(n);
    double un = back ? bench_unframe(dst, fl, back, n) : -1;
    free(back);
    printf("%-22s lz4 %7.0f MB/s (ratio %.3f)  unlz4 %7.0f MB/s\n", label, lz, (double)fl / n, un);
    printf("%-22s 2x2 %7.0f MB/s", label, bench(run_down2, src, n, dst, cap, &ok));
    printf("  4x4 %7.0f MB/s\n", bench(run_down4, src, n, dst, cap, &ok));
}

static int run_bench(void)
{
    const size_t n = 2048 * 2048 * 2;
    size_t cap = daq_lz4_frame_bound(n);
    uint8_t *img = malloc(n), *dst = malloc(cap);
    if (!img || !dst)
        return -1;
    printf("8 MiB frame (2048 x 2048 u16), input megabytes per second, one thread\n");
    daq_sim_render(img, 2048, 2048, 12, 1);
    bench_image("sim 12-bit (noise)", img, n, dst, cap);
    for (size_t i = 0; i < n / 2; i++) { /* x + y */
        uint32_t v = (uint32_t)(i % 2048 + i / 2048);
        img[2 * i] = (uint8_t)v;
        img[2 * i + 1] = (uint8_t)(v >> 8);
    }
    bench_image("u16 gradient x+y", img, n, dst, cap);
    uint32_t seed = 1;
    for (size_t i = 0; i < n / 2; i++) { /* a dark frame: offset 100 + 3 bits of noise */
        seed = seed * 1664525u + 1013904223u;
        uint32_t v = 100 + (seed >> 29);
        img[2 * i] = (uint8_t)v;
        img[2 * i + 1] = (uint8_t)(v >> 8);
    }
    bench_image("dark 100 + 3-bit noise", img, n, dst, cap);
    free(img);
    free(dst);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--bench") == 0)
        return run_bench() == 0 ? 0 : 1;
    if (argc != 2) {
        fprintf(stderr, "usage: frame_encode_dump OUTDIR | --bench\n");
        return 2;
    }
    return dump(argv[1]) == 0 ? 0 : 1;
}
