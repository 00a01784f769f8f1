/* Unit tests of the sim camera: the public pattern, and the driver read
 * the way the engine reads it (wait -> get_oldest -> verify -> release),
 * with every fault's injected count compared exactly with what the reader
 * observes.  Frames are small (256x256) so each case stays short under
 * TSan; timing is checked only with generous bounds (2 shared cores). */
#define _GNU_SOURCE
#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "camera/camera_impl.h" /* the engine's frame calls */
#include "daq/camera.h"
#include "daq/sim.h"
#include "test_main.h"

#define MS 1000000ll

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- helpers: a configured camera, a reader that classifies numbers -------------- */

/* Creates a sim with params given as name/text pairs, NULL-terminated. */
static daq_camera *make_sim(const char *const *kv)
{
    return daq_test_sim("test", kv);
}

static void start_ok(daq_camera *cam)
{
    daq_test_start(cam);
}

static uint64_t stat_of(daq_camera *cam, const char *name)
{
    daq_camera_stats st;
    daq_camera_stats_snapshot(cam, &st);
    return daq_test_extra(&st, name);
}

typedef struct seen {
    uint64_t frames;     /* get_oldest returned 1 */
    uint64_t distinct;   /* frames that were not a repeat of the previous number */
    uint64_t gap_sum;    /* numbers missing between consecutive frames */
    uint64_t gap_events; /* forward steps of more than one */
    uint64_t duplicates; /* same number as the previous frame */
    uint64_t backwards;  /* smaller number than the previous frame */
    uint64_t zero;       /* all-zero frames */
    uint64_t bad;        /* frames that failed verification */
    uint64_t first, last;
    uint64_t last_eof;
    uint32_t width, height;
    char why[256];
} seen;

static bool all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

/* One wait + get_oldest + check + release.  Returns wait's or get_oldest's
 * result (1 for a frame). */
static int read_one(daq_camera *cam, seen *sn, int64_t timeout_ns, unsigned hold_ms)
{
    int w = daq_camera__wait(cam, timeout_ns);
    if (w <= 0)
        return w;
    const void *px = NULL;
    daq_frame_info info;
    int g = daq_camera__get_oldest(cam, &px, &info);
    if (g <= 0)
        return g;
    uint64_t n = info.hw_frame_number;
    sn->frames++;
    if (sn->frames == 1)
        sn->first = n;
    if (sn->frames > 1 && n == sn->last) {
        sn->duplicates++;
    } else {
        sn->distinct++;
        if (sn->frames > 1 && n < sn->last)
            sn->backwards++;
        else if (sn->frames > 1 && n > sn->last + 1) {
            sn->gap_sum += n - sn->last - 1;
            sn->gap_events++;
        }
    }
    sn->last = n;
    if (info.eof_ns < sn->last_eof && sn->bad++ == 0)
        snprintf(sn->why, sizeof sn->why, "eof went backwards at frame %" PRIu64, n);
    sn->last_eof = info.eof_ns;
    sn->width = info.width;
    sn->height = info.height;
    if (all_zero(px, info.bytes)) {
        sn->zero++;
    } else {
        char why[200];
        if (daq_sim_verify(px, info.width, info.height, info.bit_depth, n, why, sizeof why) < 0 &&
            sn->bad++ == 0)
            snprintf(sn->why, sizeof sn->why, "frame %" PRIu64 ": %s", n, why);
    }
    if (hold_ms)
        sleep_ms(hold_ms);
    daq_camera__release_oldest(cam);
    return 1;
}

/* Reads until the sensor finished its frame_count and the ring is empty. */
static void drain(daq_camera *cam, seen *sn, unsigned hold_ms)
{
    uint64_t give_up = daq_test_now_ns() + 60000 * (uint64_t)MS;
    for (;;) {
        int r = read_one(cam, sn, 20 * MS, hold_ms);
        if (r < 0) {
            char err[256];
            daq_camera_error(cam, err, sizeof err);
            fail_msg("read failed: %s", err);
        }
        if (r == 0 && stat_of(cam, "sequence_complete") && stat_of(cam, "pending") == 0)
            return;
        if (daq_test_now_ns() > give_up)
            fail_msg("drain: gave up after 60 s with %" PRIu64 " frames", sn->frames);
    }
}

static void read_n(daq_camera *cam, seen *sn, uint64_t n, unsigned hold_ms)
{
    uint64_t give_up = daq_test_now_ns() + 60000 * (uint64_t)MS;
    while (sn->frames < n) {
        int r = read_one(cam, sn, 100 * MS, hold_ms);
        if (r < 0) {
            char err[256];
            daq_camera_error(cam, err, sizeof err);
            fail_msg("read failed: %s", err);
        }
        if (daq_test_now_ns() > give_up)
            fail_msg("read_n: %" PRIu64 " of %" PRIu64 " frames in 60 s", sn->frames, n);
    }
}

/* Numbers the reader never saw, before its first frame, between frames and
 * after its last: with no number faults, exactly the driver's overruns. */
static uint64_t missing(const seen *sn, const daq_camera_stats *st)
{
    return (sn->first - 1) + sn->gap_sum + (daq_test_extra(st, "last_frame_number") - sn->last);
}

static void assert_clean(const seen *sn)
{
    if (sn->bad)
        fail_msg("%" PRIu64 " bad frames, first: %s", sn->bad, sn->why);
}

/* ---- the pattern --------------------------------------------------------------------- */

static void pattern_render_verify(void **state)
{
    const unsigned depths[] = {8, 12, 16};
    for (size_t d = 0; d < 6; d++) {
        /* 37 wide: rows that are not whole 64-bit words. */
        unsigned bd = depths[d % 3], bpp = daq_sim_bytes_per_pixel(bd);
        uint32_t w = d < 3 ? 40 : 37, h = 7;
        unsigned char *buf = malloc((size_t)w * h * bpp);
        for (uint64_t n = 1; n <= 9; n++) {
            daq_sim_render(buf, w, h, bd, n);
            char why[128] = "";
            if (daq_sim_verify(buf, w, h, bd, n, why, sizeof why) < 0)
                fail_msg("depth %u frame %" PRIu64 ": %s", bd, n, why);
            assert_int_equal(daq_sim_stamp_read(buf, w, h), n);
            assert_int_equal(daq_sim_stamp_read(buf, w + 1, h), 0); /* check binds W */
            assert_int_equal(daq_sim_stamp_read(buf, w, h + 1), 0); /* and H */
            /* Every pixel outside the stamp is the documented formula. */
            for (uint32_t y = 0; y < h; y++)
                for (uint32_t x = 0; x < w; x++) {
                    if (y == 0 && x * bpp < 16)
                        continue;
                    const unsigned char *p = buf + ((size_t)y * w + x) * bpp;
                    uint32_t v = bpp == 1 ? p[0] : (uint32_t)(p[0] | p[1] << 8);
                    uint32_t hh =
                        (x * 2654435761u) ^ (y * 2246822519u) ^ ((uint32_t)(n % 4) * 3266489917u);
                    hh ^= hh >> 15;
                    assert_int_equal(v, hh & ((1u << bd) - 1));
                    assert_int_equal(v, daq_sim_pixel(x, y, n, bd));
                }
        }
        free(buf);
    }
    assert_int_equal(daq_sim_bytes_per_pixel(8), 1);
    assert_int_equal(daq_sim_bytes_per_pixel(12), 2);
    assert_int_equal(daq_sim_bytes_per_pixel(16), 2);
    /* The stamp layout, byte by byte. */
    unsigned char st[16];
    daq_sim_stamp(st, 100, 50, 0x0102030405060708ull);
    assert_int_equal(st[0], 0x08);
    assert_int_equal(st[7], 0x01);
    assert_int_equal(st[8] | st[9] << 8 | st[10] << 16 | (uint32_t)st[11] << 24,
                     DAQ_SIM_STAMP_MAGIC);
    uint32_t check = st[12] | st[13] << 8 | st[14] << 16 | (uint32_t)st[15] << 24;
    assert_int_equal(check, (uint32_t)(0x0102030405060708ull * 2654435761ull) ^ 100u ^ (50u << 16));
}

static void pattern_verify_catches(void **state)
{
    const uint32_t w = 64, h = 32;
    const unsigned bd = 16;
    size_t bytes = (size_t)w * h * 2;
    unsigned char *a = malloc(bytes), *b = malloc(bytes);
    char why[160];

    /* A flipped bit in one pixel, named with its coordinates. */
    daq_sim_render(a, w, h, bd, 5);
    a[(10 * w + 3) * 2] ^= 0x01;
    assert_int_equal(daq_sim_verify(a, w, h, bd, 5, why, sizeof why), -1);
    assert_non_null(strstr(why, "pixel (3, 10)"));

    /* The wrong frame number with the same n % 4: only the stamp tells. */
    daq_sim_render(a, w, h, bd, 9);
    assert_int_equal(daq_sim_verify(a, w, h, bd, 5, why, sizeof why), -1);
    assert_non_null(strstr(why, "stamp frame number: got 9 want 5"));

    /* A stale buffer: pixels of frame 6 (another n % 4) stamped as 5. */
    daq_sim_render(a, w, h, bd, 6);
    daq_sim_stamp(a, w, h, 5);
    assert_int_equal(daq_sim_verify(a, w, h, bd, 5, why, sizeof why), -1);
    assert_non_null(strstr(why, "pixel ("));

    /* A torn copy: top half frame 5, bottom half frame 6. */
    daq_sim_render(a, w, h, bd, 5);
    daq_sim_render(b, w, h, bd, 6);
    memcpy(a + bytes / 2, b + bytes / 2, bytes / 2);
    assert_int_equal(daq_sim_verify(a, w, h, bd, 5, why, sizeof why), -1);
    assert_non_null(strstr(why, ", 16)")); /* first bad row is the middle one */

    /* The last pixel of the last row. */
    daq_sim_render(a, w, h, bd, 5);
    a[bytes - 1] ^= 0x80;
    assert_int_equal(daq_sim_verify(a, w, h, bd, 5, why, sizeof why), -1);
    assert_non_null(strstr(why, "pixel (63, 31)"));

    /* A broken stamp check and an all-zero frame. */
    daq_sim_render(a, w, h, bd, 5);
    a[13] ^= 1;
    assert_int_equal(daq_sim_verify(a, w, h, bd, 5, why, sizeof why), -1);
    assert_non_null(strstr(why, "stamp check"));
    memset(a, 0, bytes);
    assert_int_equal(daq_sim_verify(a, w, h, bd, 5, why, sizeof why), -1);
    assert_non_null(strstr(why, "stamp magic"));
    assert_int_equal(daq_sim_stamp_read(a, w, h), 0);

    /* The tail of a row that is not a whole number of 64-bit words. */
    daq_sim_render(a, 37, 5, 8, 2);
    assert_int_equal(daq_sim_verify(a, 37, 5, 8, 2, why, sizeof why), 0);
    a[3 * 37 + 36] ^= 0x10;
    assert_int_equal(daq_sim_verify(a, 37, 5, 8, 2, why, sizeof why), -1);
    assert_non_null(strstr(why, "pixel (36, 3)"));

    /* Too narrow for a stamp. */
    assert_int_equal(daq_sim_verify(a, 8, 4, bd, 5, why, sizeof why), -1);
    free(a);
    free(b);
}

/* ---- the smooth scene ------------------------------------------------------------------ */

static uint32_t doc_fmix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return h;
}

static int64_t doc_bump(int64_t t, int64_t r)
{
    return r * r - t * t > 0 ? (r * r - t * t) * 65536 / (r * r) : 0;
}

static int64_t doc_floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* The smooth signal s of include/daq/sim.h, written from the comment. */
static int64_t doc_scene_signal(uint32_t x, uint32_t y, uint32_t w, uint32_t h, uint64_t n,
                                unsigned bd)
{
    static const int64_t bump[4][5] = {{1200, 1400, 1100, 1000, 52000},
                                       {2900, 2600, 900, 1200, 46000},
                                       {3000, 900, 700, 600, 38000},
                                       {1000, 3200, 800, 700, 30000}};
    int64_t c = (int64_t)(n % 4), m = (1 << bd) - 1;
    int64_t u = (int64_t)x * 4096 / w, v = (int64_t)y * 4096 / h;
    int64_t f = 2 * (u + v);
    for (int k = 0; k < 4; k++)
        f += doc_floor_div(
            doc_floor_div(bump[k][4] * doc_bump(v - bump[k][1] - 16 * c, bump[k][3]), 65536) *
                doc_bump(u - bump[k][0] - 24 * c, bump[k][2]),
            65536);
    f = f < 65535 ? f : 65535;
    return m / 50 + doc_floor_div(9 * m / 50 * f, 65536);
}

static uint32_t doc_isqrt(int64_t v)
{
    int64_t r = 0;
    while ((r + 1) * (r + 1) <= v)
        r++;
    return (uint32_t)r;
}

static uint16_t doc_scene_pixel(uint32_t x, uint32_t y, uint32_t w, uint32_t h, uint64_t n,
                                unsigned bd)
{
    int64_t s = doc_scene_signal(x, y, w, h, n, bd), m = (1 << bd) - 1;
    uint32_t hh =
        doc_fmix32((x * 0x9E3779B1u) ^ (y * 0x85EBCA77u) ^ ((uint32_t)(n % 4) * 0xC2B2AE3Du));
    int64_t g = (int64_t)((hh & 255) + (hh >> 8 & 255) + (hh >> 16 & 255) + (hh >> 24)) - 510;
    int64_t v = s + doc_floor_div(g * doc_isqrt(256 * s) * 887, 1 << 21);
    return (uint16_t)(v < 0 ? 0 : v > m ? m : v);
}

static void scene_render_verify(void **state)
{
    const unsigned depths[] = {8, 12, 16};
    for (size_t d = 0; d < 6; d++) {
        unsigned bd = depths[d % 3], bpp = daq_sim_bytes_per_pixel(bd);
        uint32_t w = d < 3 ? 40 : 37, h = d < 3 ? 7 : 23;
        unsigned char *buf = malloc((size_t)w * h * bpp);
        for (uint64_t n = 1; n <= 9; n++) {
            daq_sim_render_scene(buf, w, h, bd, n);
            char why[128] = "";
            if (daq_sim_verify_scene(buf, w, h, bd, n, why, sizeof why) < 0)
                fail_msg("depth %u frame %" PRIu64 ": %s", bd, n, why);
            if (daq_sim_verify(buf, w, h, bd, n, why, sizeof why) < 0) /* by the magic */
                fail_msg("depth %u frame %" PRIu64 ": %s", bd, n, why);
            assert_int_equal(daq_sim_stamp_read(buf, w, h), n);
            assert_int_equal(daq_sim_stamp_read(buf, w + 1, h), 0);
            assert_int_equal(buf[8] | buf[9] << 8 | buf[10] << 16 | (uint32_t)buf[11] << 24,
                             DAQ_SIM_SCENE_MAGIC);
            for (uint32_t y = 0; y < h; y++)
                for (uint32_t x = 0; x < w; x++) {
                    if (y == 0 && x * bpp < 16)
                        continue;
                    const unsigned char *p = buf + ((size_t)y * w + x) * bpp;
                    uint32_t v = bpp == 1 ? p[0] : (uint32_t)(p[0] | p[1] << 8);
                    assert_int_equal(v, doc_scene_pixel(x, y, w, h, n, bd));
                    assert_int_equal(v, daq_sim_scene_pixel(x, y, w, h, n, bd));
                }
        }
        free(buf);
    }
    /* The whole formula on a full-size frame, against the slow path. */
    const uint32_t w = 2048, h = 2048;
    uint16_t *big = malloc((size_t)w * h * 2);
    daq_sim_render_scene(big, w, h, 16, 6);
    for (uint32_t y = 0; y < h; y += 7)
        for (uint32_t x = y == 0 ? 8 : 0; x < w; x += 3)
            assert_int_equal(big[(size_t)y * w + x], doc_scene_pixel(x, y, w, h, 6, 16));
    free(big);
}

/* The scene is what it claims: signal within 2..20 % of the range, noise
 * of variance about the signal (shot noise), frames n and n + 4 alike
 * but for the stamp, n and n + 1 different. */
static void scene_is_smooth_with_shot_noise(void **state)
{
    const uint32_t w = 512, h = 512;
    const unsigned depths[] = {8, 12, 16};
    for (size_t d = 0; d < 3; d++) {
        unsigned bd = depths[d];
        int64_t m = (1 << bd) - 1, smin = m, smax = 0;
        double sum_s = 0, sum_r2 = 0;
        for (uint32_t y = 0; y < h; y++)
            for (uint32_t x = 0; x < w; x++) {
                int64_t s = doc_scene_signal(x, y, w, h, 1, bd);
                int64_t r = (int64_t)daq_sim_scene_pixel(x, y, w, h, 1, bd) - s;
                smin = s < smin ? s : smin;
                smax = s > smax ? s : smax;
                sum_s += (double)s;
                sum_r2 += (double)(r * r);
            }
        assert_true(smin >= m / 50 && smin <= m / 40);    /* about 2 % */
        assert_true(smax >= m * 3 / 20 && smax <= m / 5); /* up to 20 % */
        double ratio = sum_r2 / sum_s;                    /* var(noise) / mean(signal) */
        if (ratio < 0.9 || ratio > 1.1)
            fail_msg("depth %u: noise variance / signal = %.3f, want about 1", bd, ratio);
    }
    size_t bytes = (size_t)w * h * 2;
    unsigned char *a = malloc(bytes), *b = malloc(bytes);
    daq_sim_render_scene(a, w, h, 16, 3);
    daq_sim_render_scene(b, w, h, 16, 7);
    assert_memory_equal(a + 16, b + 16, bytes - 16);
    assert_memory_not_equal(a, b, 16);
    daq_sim_render_scene(b, w, h, 16, 4);
    size_t differ = 0;
    for (size_t i = 16; i < bytes; i += 2)
        differ += a[i] != b[i] || a[i + 1] != b[i + 1];
    assert_true(differ > bytes / 2 / 2); /* the noise is redrawn */
    free(a);
    free(b);
}

static void scene_verify_catches(void **state)
{
    const uint32_t w = 64, h = 32;
    const unsigned bd = 16;
    size_t bytes = (size_t)w * h * 2;
    unsigned char *a = malloc(bytes);
    char why[160];

    daq_sim_render_scene(a, w, h, bd, 5);
    a[(10 * w + 3) * 2] ^= 0x01;
    assert_int_equal(daq_sim_verify_scene(a, w, h, bd, 5, why, sizeof why), -1);
    assert_non_null(strstr(why, "pixel (3, 10)"));
    assert_int_equal(daq_sim_verify(a, w, h, bd, 5, why, sizeof why), -1);
    assert_non_null(strstr(why, "pixel (3, 10)"));

    daq_sim_render_scene(a, w, h, bd, 9);
    assert_int_equal(daq_sim_verify_scene(a, w, h, bd, 5, why, sizeof why), -1);
    assert_string_equal(why, "stamp frame number: got 9 want 5");

    /* Pixels of frame 6 stamped as 5. */
    daq_sim_render_scene(a, w, h, bd, 6);
    daq_sim_stamp_scene(a, w, h, 5);
    assert_int_equal(daq_sim_verify_scene(a, w, h, bd, 5, why, sizeof why), -1);
    assert_non_null(strstr(why, "pixel ("));

    /* A pattern frame is not a scene frame, and a scene's pixels under a
     * pattern stamp are not a pattern frame. */
    daq_sim_render(a, w, h, bd, 5);
    assert_int_equal(daq_sim_verify_scene(a, w, h, bd, 5, why, sizeof why), -1);
    assert_string_equal(why, "stamp magic: got 0x53514144 want 0x4e514144");
    daq_sim_render_scene(a, w, h, bd, 5);
    daq_sim_stamp(a, w, h, 5);
    assert_int_equal(daq_sim_verify(a, w, h, bd, 5, why, sizeof why), -1);
    assert_non_null(strstr(why, "pixel ("));

    /* The last pixel, and the wrong bit depth. */
    daq_sim_render_scene(a, w, h, bd, 5);
    a[bytes - 1] ^= 0x80;
    assert_int_equal(daq_sim_verify_scene(a, w, h, bd, 5, why, sizeof why), -1);
    assert_non_null(strstr(why, "pixel (63, 31)"));
    daq_sim_render_scene(a, w, h, bd, 5);
    assert_int_equal(daq_sim_verify_scene(a, w, h, 12, 5, why, sizeof why), -1);
    assert_int_equal(daq_sim_verify_scene(a, 8, 4, bd, 5, why, sizeof why), -1);
    assert_non_null(strstr(why, "width must be >= 16"));
    free(a);
}

/* scene = "smooth" streams scene frames; back to "pattern" with the same
 * geometry, the ring is rebuilt and frames are the pattern again. */
static void scene_param_streams_scene(void **state)
{
    daq_camera *cam =
        make_sim((const char *const[]){"width", "256", "height", "64", "timing", "instant",
                                       "frame_count", "12", "scene", "smooth", NULL});
    char err[256];
    daq_param_value v;
    assert_int_equal(daq_camera_get_param(cam, "scene", &v, err, sizeof err), 0);
    assert_string_equal(v.s, "smooth");
    for (int round = 0; round < 2; round++) {
        start_ok(cam);
        uint64_t frames = 0, give_up = daq_test_now_ns() + 30000 * (uint64_t)MS;
        while (frames < 12) {
            if (daq_test_now_ns() > give_up)
                fail_msg("round %d: %" PRIu64 " of 12 frames in 30 s", round, frames);
            if (daq_camera__wait(cam, 100 * MS) <= 0)
                continue;
            const void *px;
            daq_frame_info info;
            assert_int_equal(daq_camera__get_oldest(cam, &px, &info), 1);
            frames++;
            uint64_t n = info.hw_frame_number;
            assert_int_equal(n, frames);
            int r = round == 0 ? daq_sim_verify_scene(px, 256, 64, 16, n, err, sizeof err)
                               : daq_sim_verify(px, 256, 64, 16, n, err, sizeof err);
            if (r < 0)
                fail_msg("round %d frame %" PRIu64 ": %s", round, n, err);
            const unsigned char *p = px;
            uint32_t magic = p[8] | p[9] << 8 | p[10] << 16 | (uint32_t)p[11] << 24;
            assert_int_equal(magic, round == 0 ? DAQ_SIM_SCENE_MAGIC : DAQ_SIM_STAMP_MAGIC);
            daq_camera__release_oldest(cam);
        }
        daq_camera_stop(cam);
        assert_int_equal(daq_camera_set_param_text(cam, "scene", "pattern", err, sizeof err), 0);
    }
    assert_int_equal(daq_camera_set_param_text(cam, "scene", "noise", err, sizeof err), -1);
    assert_string_equal(err, "scene: 'noise' is not one of pattern, smooth");
    daq_camera_destroy(cam);
}

/* ---- streaming ------------------------------------------------------------------------- */

static void realistic_in_order(void **state)
{
    daq_camera *cam = make_sim((const char *const[]){
        "width", "256", "height", "256", "frame_rate_hz", "100", "exposure_ms", "2", NULL});
    daq_camera_format f;
    char err[256];
    assert_int_equal(daq_camera_get_format(cam, &f, err, sizeof err), 0);
    assert_int_equal(f.width, 256);
    assert_int_equal(f.stride_bytes, 512);
    assert_int_equal(f.frame_bytes, 256 * 256 * 2);
    assert_int_equal(f.pixel_format, DAQ_PIXEL_MONO16);
    assert_true(fabs(f.frame_rate_hz - 100) < 1e-9);
    uint64_t t0 = daq_test_now_ns();
    start_ok(cam);
    seen sn = {0};
    const void *px;
    daq_frame_info info;
    read_n(cam, &sn, 30, 0);
    uint64_t elapsed = daq_test_now_ns() - t0;
    assert_clean(&sn);
    assert_int_equal(sn.first, 1);
    assert_int_equal(sn.last, 30);
    assert_int_equal(sn.gap_events + sn.duplicates + sn.backwards + sn.zero, 0);
    /* 29 periods of 10 ms at least (absolute deadlines), generously bounded above. */
    assert_true(elapsed >= 29 * 10 * (uint64_t)MS - 2 * (uint64_t)MS);
    assert_true(elapsed < 30 * 10 * (uint64_t)MS * 10);

    assert_true(daq_camera__wait(cam, 2000 * MS) > 0);
    assert_int_equal(daq_camera__get_oldest(cam, &px, &info), 1);
    assert_int_equal(info.hw_frame_number, 31);
    assert_int_equal(info.eof_ns - info.bof_ns, 2 * MS);
    assert_int_equal(info.exposure_ns, 2 * MS);
    assert_int_equal(info.width, 256);
    assert_int_equal(info.height, 256);
    assert_int_equal(info.stride_bytes, 512);
    assert_int_equal(info.bytes, 256 * 256 * 2);
    assert_int_equal(info.bit_depth, 16);
    assert_int_equal(info.bin_x, 1);
    assert_int_equal(info.pixel_format, DAQ_PIXEL_MONO16);
    assert_int_equal(info.roi.width, 256);
    assert_true(info.temperature_c < -10 && info.temperature_c > -30);
    assert_true(info.eof_ns <= daq_test_now_ns());
    /* A second get_oldest before release is refused. */
    const void *px2;
    assert_true(daq_camera__get_oldest(cam, &px2, &info) < 0);
    daq_camera__release_oldest(cam);
    daq_camera_error(cam, err, sizeof err);
    assert_non_null(strstr(err, "release_oldest"));

    daq_camera_stop(cam);
    daq_camera_stats st;
    daq_camera_stats_snapshot(cam, &st);
    assert_true(st.frames_generated >= 31);
    assert_int_equal(st.overruns, 0);
    assert_int_equal(st.callbacks, st.frames_generated);
    assert_int_equal(daq_test_extra(&st, "ring_frames"), 32);
    daq_camera_destroy(cam);
}

/* 2048 x 2048 x 16 bit at 100 FPS in the plain build; DAQ_SIM_TEST_SIZE
 * (or a sanitizer build: 512) shrinks it. */
static void realistic_full_size(void **state)
{
    const char *env = getenv("DAQ_SIM_TEST_SIZE");
#ifdef DAQ_SANITIZED
    const char *size = env ? env : "512";
#else
    const char *size = env ? env : "2048";
#endif
    daq_camera *cam = make_sim((const char *const[]){"width", size, "height", size, "frame_rate_hz",
                                                     "100", "exposure_ms", "1", "timing",
                                                     "realistic", "frame_count", "40", NULL});
    start_ok(cam);
    seen sn = {0};
    drain(cam, &sn, 0);
    daq_camera_stats st;
    daq_camera_stats_snapshot(cam, &st);
    daq_camera_stop(cam);
    assert_clean(&sn);
    assert_int_equal(sn.first, 1);
    assert_int_equal(sn.width, (uint32_t)atoi(size));
    assert_int_equal(st.frames_generated, 40);
    /* Verification may be slower than 10 ms a frame in a slow build: lost
     * frames then show up exactly as gaps (or after the last frame read). */
    assert_int_equal(missing(&sn, &st), st.overruns);
    assert_int_equal(sn.distinct + st.overruns, 40);
    daq_camera_destroy(cam);
}

static void instant_throughput(void **state)
{
    daq_camera *cam = make_sim((const char *const[]){"width", "256", "height", "64", "timing",
                                                     "instant", "frame_count", "3000", NULL});
    daq_camera_format f;
    char err[256];
    assert_int_equal(daq_camera_get_format(cam, &f, err, sizeof err), 0);
    assert_true(f.frame_rate_hz == 0.0);
    uint64_t t0 = daq_test_now_ns();
    start_ok(cam);
    seen sn = {0};
    drain(cam, &sn, 0);
    double s = (double)(daq_test_now_ns() - t0) / 1e9;
    daq_camera_stop(cam);
    assert_clean(&sn);
    assert_int_equal(sn.frames, 3000);
    assert_int_equal(sn.last, 3000);
    assert_int_equal(sn.gap_events, 0);
    daq_camera_stats st;
    daq_camera_stats_snapshot(cam, &st);
    assert_int_equal(st.overruns, 0); /* an instant no_overwrite sensor waits for the reader */
    assert_int_equal(st.frames_generated, 3000);
    print_message("instant: %.0f frames/s of 32 KiB, verified\n", 3000 / s);
    daq_camera_destroy(cam);
}

static void no_overwrite_overrun(void **state)
{
    daq_camera *cam = make_sim(
        (const char *const[]){"width", "256", "height", "64", "frame_rate_hz", "500", "exposure_ms",
                              "0.1", "ring_frames", "4", "frame_count", "100", NULL});
    start_ok(cam);
    seen sn = {0};
    drain(cam, &sn, 5); /* 5 ms per frame against a 2 ms period */
    daq_camera_stats st;
    daq_camera_stats_snapshot(cam, &st);
    daq_camera_stop(cam);
    assert_clean(&sn);
    assert_int_equal(st.frames_generated, 100);
    assert_true(st.overruns > 0);
    assert_int_equal(sn.distinct + st.overruns, 100);
    assert_int_equal(sn.first, 1); /* the ring starts empty: the first frame always fits */
    assert_int_equal(missing(&sn, &st), st.overruns);
    assert_int_equal(sn.duplicates + sn.backwards, 0);
    daq_camera_destroy(cam);
}

static void overwrite_newest(void **state)
{
    /* Deterministic: nothing read until the sequence is complete, then the
     * newest frame comes first and the older ones are overruns. */
    daq_camera *cam = make_sim((const char *const[]){
        "width", "64", "height", "16", "frame_rate_hz", "1000", "exposure_ms", "0.1", "ring_frames",
        "4", "buffer_mode", "overwrite", "frame_count", "10", NULL});
    start_ok(cam);
    uint64_t give_up = daq_test_now_ns() + 30000 * (uint64_t)MS;
    while (!stat_of(cam, "sequence_complete"))
        assert_true(daq_test_now_ns() < give_up);
    assert_int_equal(stat_of(cam, "pending"), 4); /* 6 overwritten */
    seen sn = {0};
    assert_int_equal(read_one(cam, &sn, 0, 0), 1);
    assert_int_equal(sn.last, 10);
    assert_int_equal(daq_camera__wait(cam, 0), 0);
    daq_camera_stats st;
    daq_camera_stats_snapshot(cam, &st);
    assert_int_equal(st.overruns, 9);
    assert_clean(&sn);
    daq_camera_stop(cam);

    /* A slow reader: numbers only increase, gaps are exactly the overruns. */
    char err[256];
    assert_int_equal(daq_camera_set_param_text(cam, "frame_count", "150", err, sizeof err), 0);
    assert_int_equal(daq_camera_set_param_text(cam, "frame_rate_hz", "500", err, sizeof err), 0);
    start_ok(cam);
    memset(&sn, 0, sizeof sn);
    drain(cam, &sn, 4);
    daq_camera_stats_snapshot(cam, &st);
    daq_camera_stop(cam);
    assert_clean(&sn);
    assert_true(st.overruns > 0);
    assert_int_equal(sn.backwards + sn.duplicates, 0);
    assert_int_equal(sn.distinct + st.overruns, 150);
    assert_int_equal(missing(&sn, &st), st.overruns);
    daq_camera_destroy(cam);
}

/* A fault run: instant, no_overwrite (paced by the reader, so no overruns
 * blur the counts), 256 x 32, n frames. */
static daq_camera *fault_run(const char *name, const char *prob, const char *seed, int n, seen *sn,
                             daq_camera_stats *st)
{
    char count[16];
    snprintf(count, sizeof count, "%d", n);
    daq_camera *cam =
        make_sim((const char *const[]){"width", "256", "height", "32", "timing", "instant",
                                       "frame_count", count, "fault.seed", seed, name, prob, NULL});
    start_ok(cam);
    drain(cam, sn, 0);
    daq_camera_stats_snapshot(cam, st);
    daq_camera_stop(cam);
    assert_clean(sn);
    assert_int_equal(st->frames_generated, (uint64_t)n);
    assert_int_equal(st->overruns, 0);
    return cam;
}

static void fault_jumps(void **state)
{
    seen sn = {0};
    daq_camera_stats st;
    daq_camera *cam = fault_run("fault.jump_prob", "0.2", "42", 400, &sn, &st);
    uint64_t jumps = daq_test_extra(&st, "injected_jumps"),
             skipped = daq_test_extra(&st, "injected_skipped_numbers");
    assert_true(jumps > 20);
    assert_true(skipped >= jumps && skipped <= 3 * jumps); /* jump_max 4: 1..3 each */
    assert_int_equal(sn.gap_events, jumps);
    assert_int_equal(sn.gap_sum, skipped);
    assert_int_equal(sn.frames, 400);
    assert_int_equal(sn.last, 400 + skipped);
    assert_int_equal(sn.duplicates + sn.backwards + sn.zero, 0);
    daq_camera_destroy(cam);
}

static void fault_duplicates(void **state)
{
    seen sn = {0};
    daq_camera_stats st;
    daq_camera *cam = fault_run("fault.duplicate_prob", "0.1", "7", 400, &sn, &st);
    uint64_t dups = daq_test_extra(&st, "injected_duplicates");
    assert_true(dups > 10);
    assert_int_equal(sn.duplicates, dups);
    assert_int_equal(sn.frames, 400 + dups);
    assert_int_equal(st.callbacks, 400 + dups);
    assert_int_equal(sn.gap_events + sn.backwards, 0);
    daq_camera_destroy(cam);
}

static void fault_zero_frames(void **state)
{
    seen sn = {0};
    daq_camera_stats st;
    daq_camera *cam = fault_run("fault.zero_prob", "0.1", "3", 400, &sn, &st);
    uint64_t zeros = daq_test_extra(&st, "injected_zero_frames");
    assert_true(zeros > 10);
    assert_int_equal(sn.zero, zeros);
    assert_int_equal(sn.frames, 400);
    assert_int_equal(sn.gap_events + sn.duplicates + sn.backwards, 0);
    daq_camera_destroy(cam);
}

static void fault_backwards(void **state)
{
    seen sn = {0};
    daq_camera_stats st;
    daq_camera *cam = fault_run("fault.backwards_prob", "0.05", "11", 400, &sn, &st);
    uint64_t back = daq_test_extra(&st, "injected_backwards");
    assert_true(back > 5);
    assert_int_equal(sn.backwards, back);
    assert_int_equal(sn.frames, 400);
    assert_int_equal(sn.gap_events + sn.duplicates + sn.zero, 0);
    daq_camera_destroy(cam);
}

/* The same seed gives the same numbers; another seed does not. */
static void fault_deterministic(void **state)
{
    uint64_t nums[3][120];
    const char *seeds[3] = {"5", "5", "6"};
    for (int r = 0; r < 3; r++) {
        daq_camera *cam = make_sim(
            (const char *const[]){"width", "64", "height", "16", "timing", "instant", "frame_count",
                                  "120", "fault.seed", seeds[r], "fault.jump_prob", "0.1",
                                  "fault.jump_max", "9", "fault.backwards_prob", "0.05", NULL});
        start_ok(cam);
        seen sn = {0};
        for (int i = 0; i < 120; i++) {
            read_n(cam, &sn, (uint64_t)i + 1, 0);
            nums[r][i] = sn.last;
        }
        daq_camera_destroy(cam); /* while streaming: stops, closes, frees */
    }
    assert_memory_equal(nums[0], nums[1], sizeof nums[0]);
    assert_memory_not_equal(nums[0], nums[2], sizeof nums[0]);
}

static void stall_resumes(void **state)
{
    daq_camera *cam = make_sim((const char *const[]){"width", "64", "height", "16", "frame_rate_hz",
                                                     "200", "exposure_ms", "1", "fault.stall_after",
                                                     "5", "fault.stall_ms", "600", NULL});
    start_ok(cam);
    seen sn = {0};
    read_n(cam, &sn, 5, 0);
    uint64_t eof5 = sn.last_eof;
    assert_int_equal(read_one(cam, &sn, 150 * MS, 0), 0); /* timed out during the stall */
    assert_int_equal(stat_of(cam, "stalls"), 1);
    read_n(cam, &sn, 6, 0);
    uint64_t t6 = daq_test_now_ns();
    /* The first frame after the pause is stamped after it ... */
    assert_true(sn.last_eof - eof5 >= 500 * (uint64_t)MS);
    read_n(cam, &sn, 10, 0);
    /* ... and the sensor does not burst to catch up: frames 7..10 take
     * four 5 ms periods again (half that as the bound). */
    uint64_t t10 = daq_test_now_ns();
    assert_true(t10 - t6 >= 10 * (uint64_t)MS);
    assert_true(t10 - t6 < 10000 * (uint64_t)MS);
    assert_int_equal(sn.first, 1);
    assert_int_equal(sn.last, 10); /* the pause consumes no numbers */
    assert_int_equal(sn.gap_events, 0);
    assert_clean(&sn);
    assert_int_equal(stat_of(cam, "stalls"), 1);
    daq_camera_destroy(cam);
}

static void fail_after_n(void **state)
{
    daq_camera *cam = make_sim((const char *const[]){"width", "64", "height", "16", "timing",
                                                     "instant", "fault.fail_after", "10", NULL});
    start_ok(cam);
    seen sn = {0};
    read_n(cam, &sn, 10, 0); /* the frames before the failure are all readable */
    assert_int_equal(daq_camera__wait(cam, 5000 * MS), -1);
    const void *px;
    daq_frame_info info;
    assert_true(daq_camera__get_oldest(cam, &px, &info) < 0);
    char err[256];
    daq_camera_error(cam, err, sizeof err);
    assert_string_equal(err, "simulated readout failure after 10 frames");
    daq_camera_stats st;
    daq_camera_stats_snapshot(cam, &st);
    assert_int_equal(st.readout_errors, 1);
    assert_int_equal(st.frames_generated, 10);
    assert_int_equal(sn.last, 10);
    assert_clean(&sn);
    daq_camera_stop(cam);
    daq_camera_stop(cam);
    /* A new start clears the failure. */
    assert_int_equal(daq_camera_set_param_text(cam, "fault.fail_after", "0", err, sizeof err), 0);
    start_ok(cam);
    memset(&sn, 0, sizeof sn);
    read_n(cam, &sn, 3, 0);
    assert_int_equal(sn.first, 1);
    daq_camera_error(cam, err, sizeof err);
    assert_string_equal(err, "");
    daq_camera_destroy(cam);
}

typedef struct waiter {
    daq_camera *cam;
    int64_t timeout_ns;
    int result;
    uint64_t took_ns;
} waiter;

static void *wait_thread(void *arg)
{
    waiter *w = arg;
    uint64_t t0 = daq_test_now_ns();
    w->result = daq_camera__wait(w->cam, w->timeout_ns);
    w->took_ns = daq_test_now_ns() - t0;
    return NULL;
}

static void interrupt_wakes_wait(void **state)
{
    daq_camera *cam = make_sim((const char *const[]){"width", "64", "height", "16", "frame_rate_hz",
                                                     "0.1", "exposure_ms", "1", NULL});
    start_ok(cam);
    seen sn = {0};
    read_n(cam, &sn, 1, 0); /* the next frame is 10 s away */
    const void *px;
    daq_frame_info info;
    assert_int_equal(daq_camera__get_oldest(cam, &px, &info), 0); /* nothing ready: 0 */
    waiter w = {.cam = cam, .timeout_ns = 20000 * MS, .result = 99};
    pthread_t th;
    pthread_create(&th, NULL, wait_thread, &w);
    sleep_ms(50);
    daq_camera_interrupt(cam);
    pthread_join(th, NULL);
    assert_int_equal(w.result, 0);
    assert_true(w.took_ns < 5000 * (uint64_t)MS);
    /* With nobody waiting, the next wait returns 0 at once, and only that one. */
    daq_camera_interrupt(cam);
    uint64_t t0 = daq_test_now_ns();
    assert_int_equal(daq_camera__wait(cam, 20000 * MS), 0);
    assert_true(daq_test_now_ns() - t0 < 5000 * (uint64_t)MS);
    t0 = daq_test_now_ns();
    assert_int_equal(daq_camera__wait(cam, 100 * MS), 0);
    assert_true(daq_test_now_ns() - t0 >= 90 * (uint64_t)MS); /* a real timeout this time */
    daq_camera_destroy(cam);
}

static void stop_during_stall_is_prompt(void **state)
{
    daq_camera *cam = make_sim((const char *const[]){"width", "64", "height", "16", "frame_rate_hz",
                                                     "200", "exposure_ms", "1", "fault.stall_after",
                                                     "1", "fault.stall_ms", "60000", NULL});
    start_ok(cam);
    seen sn = {0};
    read_n(cam, &sn, 1, 0);
    sleep_ms(20);
    assert_int_equal(stat_of(cam, "stalls"), 1);
    uint64_t t0 = daq_test_now_ns();
    daq_camera_stop(cam);
    assert_true(daq_test_now_ns() - t0 < 3000 * (uint64_t)MS);
    assert_false(daq_camera_streaming(cam));
    /* A wait after stop does not block. */
    t0 = daq_test_now_ns();
    assert_int_equal(daq_camera__wait(cam, 20000 * MS), 0);
    assert_true(daq_test_now_ns() - t0 < 3000 * (uint64_t)MS);
    daq_camera_destroy(cam);
}

static int thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static void start_stop_repeat(void **state)
{
    daq_camera *cam =
        make_sim((const char *const[]){"width", "64", "height", "16", "timing", "instant", NULL});
    char err[256];
    /* One run first: TSan starts a helper thread with the first thread. */
    start_ok(cam);
    daq_camera_stop(cam);
    int threads = thread_count();
    assert_true(threads >= 1);
    for (int i = 0; i < 50; i++) {
        /* Every tenth run changes the geometry, so the ring is rebuilt too. */
        if (i % 10 == 5)
            assert_int_equal(daq_camera_set_param_text(cam, "width", i % 20 == 5 ? "128" : "64",
                                                       err, sizeof err),
                             0);
        start_ok(cam);
        assert_true(daq_camera_streaming(cam));
        seen sn = {0};
        read_n(cam, &sn, 2, 0);
        assert_int_equal(sn.first, 1); /* numbering restarts with each start */
        assert_clean(&sn);
        daq_camera_stop(cam);
        if (i % 2)
            daq_camera_stop(cam);
        assert_false(daq_camera_streaming(cam));
    }
    assert_int_equal(thread_count(), threads);
    daq_camera_destroy(cam);
    assert_int_equal(thread_count(), threads);
}

typedef struct live_reader {
    daq_camera *cam;
    _Atomic bool stop;
    _Atomic uint64_t frames, last_exposure_ns;
    uint64_t bad;
} live_reader;

static void *live_read_thread(void *arg)
{
    live_reader *lr = arg;
    while (!atomic_load(&lr->stop)) {
        int w = daq_camera__wait(lr->cam, 50 * MS);
        if (w < 0)
            lr->bad++;
        if (w <= 0)
            continue;
        const void *px;
        daq_frame_info info;
        if (daq_camera__get_oldest(lr->cam, &px, &info) != 1)
            continue;
        if (daq_sim_verify(px, info.width, info.height, info.bit_depth, info.hw_frame_number, NULL,
                           0) < 0)
            lr->bad++;
        atomic_store(&lr->last_exposure_ns, info.exposure_ns);
        atomic_fetch_add(&lr->frames, 1);
        daq_camera__release_oldest(lr->cam);
    }
    return NULL;
}

static void wait_frames(live_reader *lr, uint64_t target, uint64_t within_ms)
{
    uint64_t give_up = daq_test_now_ns() + within_ms * (uint64_t)MS;
    while (atomic_load(&lr->frames) < target) {
        if (daq_test_now_ns() > give_up)
            fail_msg("%" PRIu64 " of %" PRIu64 " frames in %" PRIu64 " ms",
                     atomic_load(&lr->frames), target, within_ms);
        sleep_ms(2);
    }
}

static void live_change_while_streaming(void **state)
{
    daq_camera *cam = make_sim((const char *const[]){"width", "64", "height", "16", "frame_rate_hz",
                                                     "0.2", "exposure_ms", "1", NULL});
    start_ok(cam);
    live_reader lr = {.cam = cam};
    pthread_t th;
    pthread_create(&th, NULL, live_read_thread, &lr);
    wait_frames(&lr, 1, 5000);
    /* The sensor waits 5 s for frame 2; a new rate re-plans at once. */
    char err[256];
    assert_int_equal(daq_camera_set_param(cam, "frame_rate_hz",
                                          &(daq_param_value){.type = DAQ_PARAM_INT, .i = 200}, err,
                                          sizeof err),
                     0);
    wait_frames(&lr, 11, 2500);
    for (int i = 0; i < 20; i++) { /* exposure changes race the sensor's reads */
        assert_int_equal(
            daq_camera_set_param_text(cam, "exposure_ms", i % 2 ? "2" : "3", err, sizeof err), 0);
        sleep_ms(1);
    }
    /* Frames announced before the last change may still carry 3 ms. */
    uint64_t give_up = daq_test_now_ns() + 4000 * (uint64_t)MS;
    while (atomic_load(&lr.last_exposure_ns) != 2 * (uint64_t)MS && daq_test_now_ns() < give_up)
        sleep_ms(2);
    assert_int_equal(atomic_load(&lr.last_exposure_ns), 2 * MS);
    daq_param_value v;
    assert_int_equal(daq_camera_get_param(cam, "exposure_ms", &v, err, sizeof err), 0);
    assert_true(v.type == DAQ_PARAM_FLOAT && v.f == 2.0);
    daq_camera_format f;
    assert_int_equal(daq_camera_get_format(cam, &f, err, sizeof err), 0);
    assert_true(fabs(f.frame_rate_hz - 200) < 1e-9);
    atomic_store(&lr.stop, true);
    daq_camera_interrupt(cam);
    pthread_join(th, NULL);
    assert_int_equal(lr.bad, 0);
    daq_camera_destroy(cam);
}

static void static_param_refused_while_streaming(void **state)
{
    daq_camera *cam = make_sim((const char *const[]){"width", "64", "height", "16", NULL});
    start_ok(cam);
    char err[256];
    const char *statics[] = {"width", "bit_depth", "timing",     "ring_frames",
                             "roi.x", "binning",   "fault.seed", "fault.fail_after"};
    const char *values[] = {"128", "8", "instant", "8", "1", "2", "3", "5"};
    for (size_t i = 0; i < sizeof statics / sizeof statics[0]; i++) {
        assert_int_equal(daq_camera_set_param_text(cam, statics[i], values[i], err, sizeof err),
                         -1);
        assert_non_null(strstr(err, "cannot change while streaming"));
        assert_non_null(strstr(err, statics[i]));
    }
    assert_int_equal(daq_camera_set_param_text(cam, "frame_rate_hz", "50", err, sizeof err), 0);
    daq_param_value v;
    assert_int_equal(daq_camera_get_param(cam, "width", &v, err, sizeof err), 0);
    assert_int_equal(v.i, 64);
    daq_camera_stop(cam);
    assert_int_equal(daq_camera_set_param_text(cam, "width", "128", err, sizeof err), 0);
    daq_camera_destroy(cam);
}

static void roi_binning_geometry(void **state)
{
    daq_camera *cam = make_sim((const char *const[]){
        "width", "512", "height", "256", "roi.x", "16", "roi.y", "8", "roi.width", "256",
        "roi.height", "128", "binning", "2", "bit_depth", "12", "timing", "instant", NULL});
    char err[256];
    daq_camera_format f;
    assert_int_equal(daq_camera_get_format(cam, &f, err, sizeof err), 0);
    assert_int_equal(f.width, 128);
    assert_int_equal(f.height, 64);
    assert_int_equal(f.stride_bytes, 256);
    assert_int_equal(f.frame_bytes, 128 * 64 * 2);
    assert_int_equal(f.bit_depth, 12);
    assert_int_equal(f.pixel_format, DAQ_PIXEL_MONO12);
    start_ok(cam);
    assert_int_equal(daq_camera__wait(cam, 5000 * MS) > 0, 1);
    const void *px;
    daq_frame_info info;
    assert_int_equal(daq_camera__get_oldest(cam, &px, &info), 1);
    assert_int_equal(info.width, 128);
    assert_int_equal(info.height, 64);
    assert_int_equal(info.bin_x, 2);
    assert_int_equal(info.bin_y, 2);
    assert_int_equal(info.roi.x, 16);
    assert_int_equal(info.roi.y, 8);
    assert_int_equal(info.roi.width, 256);
    assert_int_equal(info.roi.height, 128);
    assert_int_equal(daq_sim_verify(px, 128, 64, 12, info.hw_frame_number, err, sizeof err), 0);
    const uint16_t *p16 = px;
    for (size_t i = 8; i < 128 * 64; i++)
        assert_true(p16[i] <= 4095);
    daq_camera__release_oldest(cam);
    daq_camera_stop(cam);

    /* 8 bit, full sensor (zeros), binning 4. */
    const char *const full[] = {"roi.x",     "0",          "roi.y", "0",       "roi.width",
                                "0",         "roi.height", "0",     "binning", "4",
                                "bit_depth", "8",          NULL};
    for (size_t i = 0; full[i]; i += 2)
        assert_int_equal(daq_camera_set_param_text(cam, full[i], full[i + 1], err, sizeof err), 0);
    assert_int_equal(daq_camera_get_format(cam, &f, err, sizeof err), 0);
    assert_int_equal(f.width, 128);
    assert_int_equal(f.height, 64);
    assert_int_equal(f.stride_bytes, 128);
    assert_int_equal(f.pixel_format, DAQ_PIXEL_MONO8);
    start_ok(cam);
    seen sn = {0};
    read_n(cam, &sn, 5, 0);
    assert_clean(&sn);
    assert_int_equal(sn.width, 128);
    daq_camera_stop(cam);

    /* Too narrow after binning. */
    assert_int_equal(daq_camera_set_param_text(cam, "roi.width", "32", err, sizeof err), 0);
    assert_int_equal(daq_camera_start(cam, err, sizeof err), -1);
    assert_non_null(strstr(err, "at least 16"));
    assert_false(daq_camera_streaming(cam));
    /* Off the sensor. */
    assert_int_equal(daq_camera_set_param_text(cam, "roi.x", "400", err, sizeof err), 0);
    assert_int_equal(daq_camera_set_param_text(cam, "roi.width", "200", err, sizeof err), 0);
    assert_int_equal(daq_camera_start(cam, err, sizeof err), -1);
    assert_non_null(strstr(err, "does not fit the sensor"));
    assert_int_equal(daq_camera_get_format(cam, &f, err, sizeof err), -1);
    /* Binning 3 and bit depth 10 are refused when set. */
    assert_int_equal(daq_camera_set_param_text(cam, "binning", "3", err, sizeof err), -1);
    assert_non_null(strstr(err, "binning"));
    assert_int_equal(daq_camera_set_param_text(cam, "bit_depth", "10", err, sizeof err), -1);
    assert_non_null(strstr(err, "bit_depth: 10"));
    /* ring_frames rounds up to a multiple of 4. */
    daq_param_value v;
    assert_int_equal(daq_camera_set_param_text(cam, "ring_frames", "5", err, sizeof err), 0);
    assert_int_equal(daq_camera_get_param(cam, "ring_frames", &v, err, sizeof err), 0);
    assert_int_equal(v.i, 8);
    daq_camera_destroy(cam);
}

static void chaos_timing(void **state)
{
    daq_camera *cam = make_sim((const char *const[]){"width", "64", "height", "16", "frame_rate_hz",
                                                     "400", "exposure_ms", "0.5", "timing", "chaos",
                                                     "fault.seed", "9", NULL});
    uint64_t t0 = daq_test_now_ns();
    start_ok(cam);
    seen sn = {0};
    read_n(cam, &sn, 40, 0);
    assert_clean(&sn); /* includes: eof never goes backwards */
    assert_int_equal(sn.last, 40);
    assert_int_equal(sn.gap_events, 0);
    /* 39 periods of 2.5 ms +- half of one: at least ~95 ms. */
    assert_true(daq_test_now_ns() - t0 >= 90 * (uint64_t)MS);
    daq_camera_destroy(cam);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(pattern_render_verify),
    cmocka_unit_test(pattern_verify_catches),
    cmocka_unit_test(scene_render_verify),
    cmocka_unit_test(scene_is_smooth_with_shot_noise),
    cmocka_unit_test(scene_verify_catches),
    cmocka_unit_test(scene_param_streams_scene),
    cmocka_unit_test(realistic_in_order),
    cmocka_unit_test(realistic_full_size),
    cmocka_unit_test(instant_throughput),
    cmocka_unit_test(no_overwrite_overrun),
    cmocka_unit_test(overwrite_newest),
    cmocka_unit_test(fault_jumps),
    cmocka_unit_test(fault_duplicates),
    cmocka_unit_test(fault_zero_frames),
    cmocka_unit_test(fault_backwards),
    cmocka_unit_test(fault_deterministic),
    cmocka_unit_test(stall_resumes),
    cmocka_unit_test(fail_after_n),
    cmocka_unit_test(interrupt_wakes_wait),
    cmocka_unit_test(stop_during_stall_is_prompt),
    cmocka_unit_test(start_stop_repeat),
    cmocka_unit_test(live_change_while_streaming),
    cmocka_unit_test(static_param_refused_while_streaming),
    cmocka_unit_test(roi_binning_geometry),
    cmocka_unit_test(chaos_timing),
};

DAQ_TEST_MAIN("sim", tests)
