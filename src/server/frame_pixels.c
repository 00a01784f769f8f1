/* server/frame_pixels.c - the two pixel transforms of the stream side:
 * block-mean downsampling and LZ4 framing.  Pure functions, no state.
 *
 * Downsampling follows rust-daq's downsample.rs to the bit (docs/facts/grpc-camera-api.md §8), so a
 * client that compares our PREVIEW/FAST frames with its own expectations
 * sees the same numbers: u16 little-endian, blocks from (0,0) stepping
 * through the ORIGINAL row stride, remainder rows and columns cropped, sum
 * in u32 and truncating division.  Anything the rules call "unchanged"
 * (8-bit frames show up as a length mismatch) returns false and touches
 * nothing, so the caller sends the frame as it is.  Pixels are read and
 * written byte by byte so the code does not depend on host endianness or
 * alignment; compilers turn those into plain 16-bit loads on x86/ARM.  The
 * block width is a compile-time constant in the two hot variants (2 and 4),
 * so the inner sums unroll.
 *
 * LZ4 framing is lz4_flex's compress_prepend_size (docs/facts/grpc-camera-api.md §7): a 4-byte
 * little-endian uncompressed length, then one raw LZ4 block -- no frame
 * format, no checksum.  liblz4's block API produces and reads exactly that.
 * The decoder trusts nothing: the declared length must fit the caller's
 * buffer and the block must decode to exactly that many bytes.
 */
#include <limits.h>
#include <string.h>

#include <lz4.h>

#include "server/frame_encode.h"

/* ---- downsampling ------------------------------------------------------------ */

#define DOWNSAMPLE_MAX_FACTOR 16u /* 16*16 u16 values still sum within u32 */

static inline uint32_t load_u16le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static inline void store_u16le(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* len == w * h * 2, without overflow for any w, h. */
static bool length_matches(uint32_t w, uint32_t h, size_t len)
{
    if (w == 0 || len % 2 != 0)
        return false;
    size_t px = len / 2;
    return px % w == 0 && px / w == h;
}

bool daq_downsample_applies(uint32_t w, uint32_t h, size_t len, unsigned factor)
{
    if (factor < 2 || factor > DOWNSAMPLE_MAX_FACTOR)
        return false;
    if (w < factor || h < factor)
        return false;
    return length_matches(w, h, len);
}

/* The sum of one f x f block whose top-left pixel is at p. */
static inline uint32_t block_sum(const uint8_t *p, size_t stride, unsigned f)
{
    uint32_t s = 0;
    for (unsigned dy = 0; dy < f; dy++, p += stride)
        for (unsigned dx = 0; dx < f; dx++)
            s += load_u16le(p + 2 * dx);
    return s;
}

/* Every output pixel of a f-downsampled image; inlined with f constant. */
static inline void downsample_blocks(const uint8_t *src, size_t stride, unsigned f, uint32_t ow,
                                     uint32_t oh, uint8_t *dst)
{
    const uint32_t area = f * f;
    for (uint32_t y = 0; y < oh; y++) {
        const uint8_t *row = src + (size_t)y * f * stride;
        uint8_t *out = dst + (size_t)y * ow * 2;
        for (uint32_t x = 0; x < ow; x++)
            store_u16le(out + 2 * (size_t)x, block_sum(row + (size_t)x * f * 2, stride, f) / area);
    }
}

static void downsample_2(const uint8_t *src, size_t stride, uint32_t ow, uint32_t oh, uint8_t *dst)
{
    downsample_blocks(src, stride, 2, ow, oh, dst);
}

static void downsample_4(const uint8_t *src, size_t stride, uint32_t ow, uint32_t oh, uint8_t *dst)
{
    downsample_blocks(src, stride, 4, ow, oh, dst);
}

bool daq_downsample_u16(const uint8_t *src, uint32_t w, uint32_t h, size_t len, unsigned factor,
                        uint8_t *dst, uint32_t *out_w, uint32_t *out_h)
{
    if (!daq_downsample_applies(w, h, len, factor))
        return false;
    uint32_t ow = w / factor, oh = h / factor;
    size_t stride = (size_t)w * 2;
    if (factor == 2)
        downsample_2(src, stride, ow, oh, dst);
    else if (factor == 4)
        downsample_4(src, stride, ow, oh, dst);
    else
        downsample_blocks(src, stride, factor, ow, oh, dst);
    if (out_w)
        *out_w = ow;
    if (out_h)
        *out_h = oh;
    return true;
}

/* ---- LZ4 framing ------------------------------------------------------------- */

#define LZ4_PREFIX 4u

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int clamp_int(size_t n)
{
    return n > (size_t)INT_MAX ? INT_MAX : (int)n;
}

size_t daq_lz4_frame_bound(size_t n)
{
    if (n > (size_t)LZ4_MAX_INPUT_SIZE)
        return 0;
    return LZ4_PREFIX + (size_t)LZ4_compressBound((int)n);
}

size_t daq_lz4_frame(const void *src, size_t n, void *dst, size_t cap)
{
    static const char nothing = 0; /* liblz4 wants a pointer even for 0 bytes */
    if (n > (size_t)LZ4_MAX_INPUT_SIZE || cap <= LZ4_PREFIX || !dst || (n > 0 && !src))
        return 0;
    uint8_t *out = dst;
    int r = LZ4_compress_default(n > 0 ? src : &nothing, (char *)out + LZ4_PREFIX, (int)n,
                                 clamp_int(cap - LZ4_PREFIX));
    if (r <= 0)
        return 0;
    put_le32(out, (uint32_t)n);
    return LZ4_PREFIX + (size_t)r;
}

long daq_lz4_unframe(const void *src, size_t n, void *dst, size_t cap)
{
    char spare; /* a valid target for a 0-byte decode into a NULL dst */
    if (!src || n <= LZ4_PREFIX || n - LZ4_PREFIX > (size_t)INT_MAX)
        return -1;
    const uint8_t *in = src;
    uint32_t want = get_le32(in);
    if (want > cap || want > (uint32_t)LZ4_MAX_INPUT_SIZE || (want > 0 && !dst))
        return -1;
    int got = LZ4_decompress_safe((const char *)in + LZ4_PREFIX, dst ? dst : &spare,
                                  (int)(n - LZ4_PREFIX), (int)want);
    if (got < 0 || (uint32_t)got != want)
        return -1;
    return (long)got;
}
