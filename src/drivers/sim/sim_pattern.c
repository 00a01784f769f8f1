/* drivers/sim/sim_pattern.c - the simulated camera's images
 * (include/daq/sim.h): the pattern and the smooth scene, rendering, the
 * per-frame stamp and verification.
 *
 * Speed comes from one property of the hash: h ^ (h >> 15) is linear over
 * XOR, so
 *     value(x, y, n) = (f(X(x)) ^ f(Y(y) ^ N(n))) & mask,   f(h) = h ^ h >> 15
 * A row is therefore one precomputed column row XOR one per-row constant.
 * Render and verify build the column row once per call and then work on
 * 64-bit words (four 16-bit or eight 8-bit pixels per XOR), falling back
 * to per-pixel work only to name the first bad pixel.  An 8 MiB frame
 * renders or verifies in under a millisecond here (about memcpy speed), so
 * tests and clients can afford to check every pixel of every frame.
 *
 * The smooth scene is built row by row from tables: per column u, the
 * bumps' x factors and the x half of the noise hash; per row the bumps' y
 * factors; per signal value isqrt(256 s); 32-bit arithmetic and no branch
 * on the noise's sign.  That leaves a dozen integer operations per pixel:
 * a 2048 x 2048 frame renders or verifies in about 30 ms of CPU here (the
 * pattern: 0.7 ms).  The sim renders it only for its four base frames, at
 * start; daq_sim_scene_pixel evaluates the formula directly and the tests
 * hold the two equal.
 */
#include "daq/sim.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MUL_X 2654435761u
#define MUL_Y 2246822519u
#define MUL_N 3266489917u

static uint32_t mix(uint32_t h)
{
    return h ^ (h >> 15);
}

static uint32_t pixel_mask(unsigned bit_depth)
{
    return bit_depth >= 16 ? 0xFFFFu : (1u << bit_depth) - 1u;
}

unsigned daq_sim_bytes_per_pixel(unsigned bit_depth)
{
    return bit_depth <= 8 ? 1u : 2u;
}

uint16_t daq_sim_pixel(uint32_t x, uint32_t y, uint64_t n, unsigned bit_depth)
{
    uint32_t h = (x * MUL_X) ^ (y * MUL_Y) ^ ((uint32_t)(n % 4) * MUL_N);
    return (uint16_t)(mix(h) & pixel_mask(bit_depth));
}

/* The constant a row y of frame n is XORed with. */
static uint32_t row_key(uint32_t y, uint64_t n, unsigned bit_depth)
{
    return mix((y * MUL_Y) ^ ((uint32_t)(n % 4) * MUL_N)) & pixel_mask(bit_depth);
}

/* The column contributions f(X(x)) & mask as frame bytes (one row, pixels
 * little-endian), so that row y is this row XOR the row key repeated.
 * Caller frees. */
static unsigned char *column_row(uint32_t width, unsigned bit_depth)
{
    unsigned bpp = daq_sim_bytes_per_pixel(bit_depth);
    unsigned char *col = malloc((size_t)width * bpp);
    if (!col)
        return NULL;
    uint32_t mask = pixel_mask(bit_depth);
    for (uint32_t x = 0; x < width; x++) {
        uint32_t v = mix(x * MUL_X) & mask;
        col[(size_t)x * bpp] = (unsigned char)v;
        if (bpp == 2)
            col[(size_t)x * bpp + 1] = (unsigned char)(v >> 8);
    }
    return col;
}

/* The row key repeated over 8 bytes in memory order, so whole 64-bit words
 * of a row can be XORed at once whatever the host's byte order (a word
 * offset from the row start is a multiple of 8, so of the pixel size). */
typedef struct row_key_word {
    unsigned char b[8];
    uint64_t w;
} row_key_word;

static void key_word(row_key_word *k, uint32_t key, unsigned bpp)
{
    for (unsigned i = 0; i < 8; i++)
        k->b[i] = (unsigned char)(bpp == 1 ? key : (i % 2 ? key >> 8 : key));
    memcpy(&k->w, k->b, 8);
}

static uint64_t load64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static void put_row(unsigned char *dst, const unsigned char *col, size_t stride,
                    const row_key_word *k)
{
    size_t i = 0;
    for (; i + 8 <= stride; i += 8) {
        uint64_t v = load64(col + i) ^ k->w;
        memcpy(dst + i, &v, 8);
    }
    for (; i < stride; i++)
        dst[i] = col[i] ^ k->b[i % 8];
}

/* true if row bytes [from, stride) equal the pattern row. */
static bool row_matches(const unsigned char *row, const unsigned char *col, size_t stride,
                        size_t from, const row_key_word *k)
{
    uint64_t diff = 0;
    size_t i = from;
    for (; i + 8 <= stride; i += 8)
        diff |= load64(row + i) ^ load64(col + i) ^ k->w;
    for (; i < stride; i++)
        diff |= (uint64_t)(row[i] ^ col[i] ^ k->b[i % 8]);
    return diff == 0;
}

static void put_le(unsigned char *p, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static uint32_t stamp_check(uint64_t n, uint32_t width, uint32_t height)
{
    return (uint32_t)(n * MUL_X) ^ width ^ (height << 16);
}

static void put_stamp(void *dst, uint32_t width, uint32_t height, uint64_t n, uint32_t magic)
{
    unsigned char *p = dst;
    put_le(p, n, 8);
    put_le(p + 8, magic, 4);
    put_le(p + 12, stamp_check(n, width, height), 4);
}

void daq_sim_stamp(void *dst, uint32_t width, uint32_t height, uint64_t n)
{
    put_stamp(dst, width, height, n, DAQ_SIM_STAMP_MAGIC);
}

void daq_sim_stamp_scene(void *dst, uint32_t width, uint32_t height, uint64_t n)
{
    put_stamp(dst, width, height, n, DAQ_SIM_SCENE_MAGIC);
}

uint64_t daq_sim_stamp_read(const void *pixels, uint32_t width, uint32_t height)
{
    const unsigned char *p = pixels;
    uint64_t n = get_le(p, 8);
    uint64_t magic = get_le(p + 8, 4);
    if ((magic != DAQ_SIM_STAMP_MAGIC && magic != DAQ_SIM_SCENE_MAGIC) ||
        get_le(p + 12, 4) != stamp_check(n, width, height))
        return 0;
    return n;
}

void daq_sim_render(void *dst, uint32_t width, uint32_t height, unsigned bit_depth, uint64_t n)
{
    unsigned bpp = daq_sim_bytes_per_pixel(bit_depth);
    size_t stride = (size_t)width * bpp;
    unsigned char *p = dst;
    unsigned char *col = column_row(width, bit_depth);
    if (col) {
        for (uint32_t y = 0; y < height; y++) {
            row_key_word k;
            key_word(&k, row_key(y, n, bit_depth), bpp);
            put_row(p + y * stride, col, stride, &k);
        }
        free(col);
    } else { /* out of memory: the slow way, same result */
        for (uint32_t y = 0; y < height; y++)
            for (uint32_t x = 0; x < width; x++)
                put_le(p + y * stride + (size_t)x * bpp, daq_sim_pixel(x, y, n, bit_depth), bpp);
    }
    if (width >= DAQ_SIM_MIN_WIDTH && height > 0)
        daq_sim_stamp(dst, width, height, n);
}

static int verify_stamp(const unsigned char *p, uint32_t width, uint32_t height, uint64_t n,
                        uint32_t want_magic, char *why, size_t why_len)
{
    uint64_t got_n = get_le(p, 8);
    uint32_t magic = (uint32_t)get_le(p + 8, 4);
    uint32_t check = (uint32_t)get_le(p + 12, 4);
    if (magic != want_magic)
        snprintf(why, why_len, "stamp magic: got 0x%08" PRIx32 " want 0x%08" PRIx32, magic,
                 want_magic);
    else if (got_n != n)
        snprintf(why, why_len, "stamp frame number: got %" PRIu64 " want %" PRIu64, got_n, n);
    else if (check != stamp_check(n, width, height))
        snprintf(why, why_len, "stamp check: got 0x%08" PRIx32 " want 0x%08" PRIx32, check,
                 stamp_check(n, width, height));
    else
        return 0;
    return -1;
}

/* Checks what every frame needs; -1 with why.  why may come back replaced
 * by a scratch buffer. */
static int verify_frame_args(const void *pixels, uint32_t width, uint32_t height, char **why,
                             size_t *why_len, char *scratch, size_t scratch_len)
{
    if (!*why || *why_len == 0) {
        *why = scratch;
        *why_len = scratch_len;
    }
    (*why)[0] = '\0';
    if (!pixels || width < DAQ_SIM_MIN_WIDTH || height == 0) {
        snprintf(*why, *why_len, "bad frame: %s, %" PRIu32 "x%" PRIu32 " (width must be >= %u)",
                 pixels ? "pixels" : "no pixels", width, height, DAQ_SIM_MIN_WIDTH);
        return -1;
    }
    return 0;
}

int daq_sim_verify(const void *pixels, uint32_t width, uint32_t height, unsigned bit_depth,
                   uint64_t n, char *why, size_t why_len)
{
    char scratch[8];
    if (verify_frame_args(pixels, width, height, &why, &why_len, scratch, sizeof scratch) < 0)
        return -1;
    const unsigned char *p = pixels;
    if (get_le(p + 8, 4) == DAQ_SIM_SCENE_MAGIC)
        return daq_sim_verify_scene(pixels, width, height, bit_depth, n, why, why_len);
    if (verify_stamp(p, width, height, n, DAQ_SIM_STAMP_MAGIC, why, why_len) < 0)
        return -1;
    unsigned bpp = daq_sim_bytes_per_pixel(bit_depth);
    size_t stride = (size_t)width * bpp;
    unsigned char *col = column_row(width, bit_depth);
    if (!col) {
        snprintf(why, why_len, "out of memory verifying a %" PRIu32 "-pixel row", width);
        return -1;
    }
    int r = 0;
    for (uint32_t y = 0; y < height; y++) {
        const unsigned char *row = p + y * stride;
        size_t skip = y == 0 ? 16 : 0; /* the stamp */
        row_key_word k;
        key_word(&k, row_key(y, n, bit_depth), bpp);
        if (row_matches(row, col, stride, skip, &k))
            continue;
        for (uint32_t x = (uint32_t)(skip / bpp); x < width; x++) {
            uint64_t g = get_le(row + (size_t)x * bpp, bpp);
            uint64_t w = get_le(col + (size_t)x * bpp, bpp) ^ get_le(k.b, bpp);
            if (g != w) {
                snprintf(why, why_len,
                         "pixel (%" PRIu32 ", %" PRIu32 "): got %" PRIu64 " want %" PRIu64, x, y, g,
                         w);
                break;
            }
        }
        r = -1;
        break;
    }
    free(col);
    return r;
}

/* ---- the smooth scene ------------------------------------------------------------------ */

#define SCENE_UNITS   4096u /* u, v: position in 1/4096 of the width / height */
#define SCENE_ONE     65536 /* bump() at its centre: 1.0 */
#define SCENE_F_MAX   65535 /* f: the smooth field, 0..1 */
#define SCENE_NOISE_K 887   /* 2^21 / (16 * 147.8): g * isqrt(256 s) * K >> 21 ~ N(0, s) */
#define SCENE_DX      24    /* bump drift per n % 4, in units */
#define SCENE_DY      16
#define SCENE_HX      0x9E3779B1u
#define SCENE_HY      0x85EBCA77u
#define SCENE_HC      0xC2B2AE3Du

static const struct scene_bump {
    int64_t cx, cy, rx, ry, a;
} scene_bumps[4] = {
    {1200, 1400, 1100, 1000, 52000},
    {2900, 2600, 900, 1200, 46000},
    {3000, 900, 700, 600, 38000},
    {1000, 3200, 800, 700, 30000},
};

static uint32_t fmix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return h;
}

/* floor(v / 2^21) for an int32 v (|noise product| < 1.86e9), without a
 * branch on the noise's random sign and whatever the compiler does with >>
 * of a negative: shifted as v + 2^31, which is unsigned. */
static int32_t floor_shift21(int32_t v)
{
    return (int32_t)(((uint32_t)v + 0x80000000u) >> 21) - 1024;
}

static uint32_t isqrt32(uint32_t v)
{
    uint32_t r = 0, bit = 1u << 30;
    while (bit > v)
        bit >>= 2;
    while (bit) {
        if (v >= r + bit) {
            v -= r + bit;
            r = (r >> 1) + bit;
        } else {
            r >>= 1;
        }
        bit >>= 2;
    }
    return r;
}

static int64_t scene_bump(int64_t t, int64_t r)
{
    int64_t d = r * r - t * t;
    return d > 0 ? d * SCENE_ONE / (r * r) : 0;
}

static uint32_t scene_unit(uint32_t i, uint32_t size)
{
    return (uint32_t)((uint64_t)i * SCENE_UNITS / size);
}

/* Noise draw g: the sum of the hash's four bytes less their mean. */
static int32_t scene_g(uint32_t h)
{
    return (int32_t)((h & 255) + (h >> 8 & 255) + (h >> 16 & 255) + (h >> 24)) - 510;
}

static uint32_t scene_max(unsigned bit_depth)
{
    return pixel_mask(bit_depth);
}

/* The signal s from the field f. */
/* f <= 65535 and 9 M / 50 <= 11796: the product fits 32 bits. */
static uint32_t scene_signal(uint32_t f, uint32_t maxv)
{
    return maxv / 50 + ((9 * maxv / 50) * f >> 16);
}

/* |g| <= 510, amp <= 4095: |g * amp * 887| < 1.86e9 fits an int32. */
static uint16_t scene_value(uint32_t s, int32_t g, uint32_t amp, uint32_t maxv)
{
    int32_t v = (int32_t)s + floor_shift21(g * (int32_t)amp * SCENE_NOISE_K);
    v = v < 0 ? 0 : v;
    return (uint16_t)((uint32_t)v > maxv ? maxv : (uint32_t)v);
}

uint16_t daq_sim_scene_pixel(uint32_t x, uint32_t y, uint32_t width, uint32_t height, uint64_t n,
                             unsigned bit_depth)
{
    uint32_t c = (uint32_t)(n % 4), maxv = scene_max(bit_depth);
    int64_t u = scene_unit(x, width), v = scene_unit(y, height);
    int64_t f = 2 * (u + v);
    for (int k = 0; k < 4; k++) {
        const struct scene_bump *b = &scene_bumps[k];
        int64_t ry = (b->a * scene_bump(v - b->cy - SCENE_DY * c, b->ry)) >> 16;
        f += (ry * scene_bump(u - b->cx - SCENE_DX * c, b->rx)) >> 16;
    }
    uint32_t s = scene_signal((uint32_t)(f < SCENE_F_MAX ? f : SCENE_F_MAX), maxv);
    uint32_t h = fmix32((x * SCENE_HX) ^ (y * SCENE_HY) ^ (c * SCENE_HC));
    return scene_value(s, scene_g(h), isqrt32(256 * s), maxv);
}

/* Tables that make a row a dozen operations per pixel. */
typedef struct scene_rows {
    uint32_t width, height, c, maxv, bpp;
    int32_t *u2;    /* 2 * u, per column */
    int32_t *bx[4]; /* bump k's x factor, per column */
    uint32_t *hx;   /* x * SCENE_HX, per column */
    uint16_t *amp;  /* isqrt(256 s), per signal value s */
    uint16_t *vals; /* one row's values */
    unsigned char *mem;
} scene_rows;

static void scene_rows_free(scene_rows *t)
{
    free(t->mem);
    t->mem = NULL;
}

static int scene_rows_init(scene_rows *t, uint32_t width, uint32_t height, unsigned bit_depth,
                           uint64_t n)
{
    t->width = width;
    t->height = height;
    t->c = (uint32_t)(n % 4);
    t->maxv = scene_max(bit_depth);
    t->bpp = daq_sim_bytes_per_pixel(bit_depth);
    size_t cols = (size_t)width * 6 * 4, amps = ((size_t)t->maxv + 1) * 2;
    t->mem = malloc(cols + amps + (size_t)width * 2);
    if (!t->mem)
        return -1;
    int32_t *col = (int32_t *)t->mem;
    t->u2 = col;
    for (int k = 0; k < 4; k++)
        t->bx[k] = col + (size_t)width * (1 + (size_t)k);
    t->hx = (uint32_t *)(col + (size_t)width * 5);
    t->amp = (uint16_t *)(t->mem + cols);
    t->vals = (uint16_t *)(t->mem + cols + amps);
    for (uint32_t x = 0; x < width; x++) {
        int64_t u = scene_unit(x, width);
        t->u2[x] = (int32_t)(2 * u);
        for (int k = 0; k < 4; k++) {
            const struct scene_bump *b = &scene_bumps[k];
            t->bx[k][x] = (int32_t)scene_bump(u - b->cx - SCENE_DX * t->c, b->rx);
        }
        t->hx[x] = x * SCENE_HX;
    }
    uint32_t lo = scene_signal(0, t->maxv), hi = scene_signal(SCENE_F_MAX, t->maxv);
    for (uint32_t s = lo; s <= hi; s++)
        t->amp[s] = (uint16_t)isqrt32(256 * s);
    return 0;
}

/* Row y of the scene, as frame bytes.  vals: width scratch values. */
static void scene_row(const scene_rows *t, uint32_t y, uint16_t *vals, unsigned char *dst)
{
    int64_t v = scene_unit(y, t->height);
    uint32_t ry[4]; /* <= 52000, times bx <= 65536: fits 32 bits */
    const int32_t *bx[4];
    int nb = 0;
    for (int k = 0; k < 4; k++) { /* bumps that reach this row */
        const struct scene_bump *b = &scene_bumps[k];
        int64_t r = (b->a * scene_bump(v - b->cy - SCENE_DY * t->c, b->ry)) >> 16;
        if (r) {
            ry[nb] = (uint32_t)r;
            bx[nb++] = t->bx[k];
        }
    }
    const uint32_t width = t->width, maxv = t->maxv, hyc = (y * SCENE_HY) ^ (t->c * SCENE_HC);
    const int32_t *u2 = t->u2;
    const uint32_t *hx = t->hx;
    const uint16_t *amp = t->amp;
    const uint32_t v2 = (uint32_t)(2 * v);
    for (uint32_t x = 0; x < width; x++) {
        uint32_t f = (uint32_t)u2[x] + v2;
        for (int k = 0; k < nb; k++)
            f += ry[k] * (uint32_t)bx[k][x] >> 16;
        uint32_t s = scene_signal(f < SCENE_F_MAX ? f : SCENE_F_MAX, maxv);
        vals[x] = scene_value(s, scene_g(fmix32(hx[x] ^ hyc)), amp[s], maxv);
    }
    if (t->bpp == 2) {
        for (uint32_t x = 0; x < width; x++) {
            dst[2 * (size_t)x] = (unsigned char)vals[x];
            dst[2 * (size_t)x + 1] = (unsigned char)(vals[x] >> 8);
        }
    } else {
        for (uint32_t x = 0; x < width; x++)
            dst[x] = (unsigned char)vals[x];
    }
}

void daq_sim_render_scene(void *dst, uint32_t width, uint32_t height, unsigned bit_depth,
                          uint64_t n)
{
    unsigned bpp = daq_sim_bytes_per_pixel(bit_depth);
    size_t stride = (size_t)width * bpp;
    unsigned char *p = dst;
    scene_rows t;
    if (scene_rows_init(&t, width, height, bit_depth, n) == 0) {
        for (uint32_t y = 0; y < height; y++)
            scene_row(&t, y, t.vals, p + y * stride);
        scene_rows_free(&t);
    } else { /* out of memory: the slow way, same result */
        for (uint32_t y = 0; y < height; y++)
            for (uint32_t x = 0; x < width; x++)
                put_le(p + y * stride + (size_t)x * bpp,
                       daq_sim_scene_pixel(x, y, width, height, n, bit_depth), bpp);
    }
    if (width >= DAQ_SIM_MIN_WIDTH && height > 0)
        daq_sim_stamp_scene(dst, width, height, n);
}

int daq_sim_verify_scene(const void *pixels, uint32_t width, uint32_t height, unsigned bit_depth,
                         uint64_t n, char *why, size_t why_len)
{
    char scratch[8];
    if (verify_frame_args(pixels, width, height, &why, &why_len, scratch, sizeof scratch) < 0)
        return -1;
    const unsigned char *p = pixels;
    if (verify_stamp(p, width, height, n, DAQ_SIM_SCENE_MAGIC, why, why_len) < 0)
        return -1;
    unsigned bpp = daq_sim_bytes_per_pixel(bit_depth);
    size_t stride = (size_t)width * bpp;
    scene_rows t;
    unsigned char *want = malloc(stride);
    if (!want || scene_rows_init(&t, width, height, bit_depth, n) < 0) {
        free(want);
        snprintf(why, why_len, "out of memory verifying a %" PRIu32 "-pixel row", width);
        return -1;
    }
    int r = 0;
    for (uint32_t y = 0; y < height && r == 0; y++) {
        const unsigned char *row = p + y * stride;
        size_t skip = y == 0 ? 16 : 0; /* the stamp */
        scene_row(&t, y, t.vals, want);
        if (memcmp(row + skip, want + skip, stride - skip) == 0)
            continue;
        for (uint32_t x = (uint32_t)(skip / bpp); x < width; x++) {
            uint64_t g = get_le(row + (size_t)x * bpp, bpp);
            uint64_t w = get_le(want + (size_t)x * bpp, bpp);
            if (g != w) {
                snprintf(why, why_len,
                         "pixel (%" PRIu32 ", %" PRIu32 "): got %" PRIu64 " want %" PRIu64, x, y, g,
                         w);
                break;
            }
        }
        r = -1;
    }
    scene_rows_free(&t);
    free(want);
    return r;
}
