/* drivers/sim/sim_pattern.c - the simulated camera's pixel pattern
 * (include/daq/sim.h): rendering, the per-frame stamp and verification.
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

void daq_sim_stamp(void *dst, uint32_t width, uint32_t height, uint64_t n)
{
    unsigned char *p = dst;
    put_le(p, n, 8);
    put_le(p + 8, DAQ_SIM_STAMP_MAGIC, 4);
    put_le(p + 12, stamp_check(n, width, height), 4);
}

uint64_t daq_sim_stamp_read(const void *pixels, uint32_t width, uint32_t height)
{
    const unsigned char *p = pixels;
    uint64_t n = get_le(p, 8);
    if (get_le(p + 8, 4) != DAQ_SIM_STAMP_MAGIC ||
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
                        char *why, size_t why_len)
{
    uint64_t got_n = get_le(p, 8);
    uint32_t magic = (uint32_t)get_le(p + 8, 4);
    uint32_t check = (uint32_t)get_le(p + 12, 4);
    if (magic != DAQ_SIM_STAMP_MAGIC)
        snprintf(why, why_len, "stamp magic: got 0x%08" PRIx32 " want 0x%08" PRIx32, magic,
                 (uint32_t)DAQ_SIM_STAMP_MAGIC);
    else if (got_n != n)
        snprintf(why, why_len, "stamp frame number: got %" PRIu64 " want %" PRIu64, got_n, n);
    else if (check != stamp_check(n, width, height))
        snprintf(why, why_len, "stamp check: got 0x%08" PRIx32 " want 0x%08" PRIx32, check,
                 stamp_check(n, width, height));
    else
        return 0;
    return -1;
}

int daq_sim_verify(const void *pixels, uint32_t width, uint32_t height, unsigned bit_depth,
                   uint64_t n, char *why, size_t why_len)
{
    char scratch[8];
    if (!why || why_len == 0) {
        why = scratch;
        why_len = sizeof scratch;
    }
    why[0] = '\0';
    if (!pixels || width < DAQ_SIM_MIN_WIDTH || height == 0) {
        snprintf(why, why_len, "bad frame: %s, %" PRIu32 "x%" PRIu32 " (width must be >= %u)",
                 pixels ? "pixels" : "no pixels", width, height, DAQ_SIM_MIN_WIDTH);
        return -1;
    }
    const unsigned char *p = pixels;
    if (verify_stamp(p, width, height, n, why, why_len) < 0)
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
