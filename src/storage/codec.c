/* storage/codec.c - the chunk encoders (storage/codec.h) and the codec names
 * (daq/storage.h).
 *
 * The bytes are what the HDF5 filter plugins Debian ships would have
 * written, so h5py decodes them with those plugins and nothing of ours:
 *
 *   lz4    (filter 32004, hdf5-filter-plugin's H5Z-LZ4, areaDetector's
 *          framing): u64 BE raw size, u32 BE block size, then per block
 *          u32 BE size + LZ4 block.  One block per chunk: the plugin's
 *          default block is 1 GiB and its header block size is
 *          min(raw size, 1 GiB).  A block that does not shrink is stored
 *          raw with its size equal to the block size, which is how the
 *          reader tells it apart; LZ4 is given one byte less than the block
 *          so it gives up early on incompressible data instead of
 *          compressing it all for nothing.
 *   bslz4  (filter 32008, bitshuffle 0.3.5's libh5bshuf): u64 BE raw size,
 *          u32 BE block size in bytes, then per block u32 BE size + LZ4
 *          block of the block's bitshuffled bytes.  Blocks hold 8192 bytes
 *          of elements (bitshuffle's default: 8192 / elem_size elements,
 *          a multiple of 8, at least 128); the last block is cut down to a
 *          multiple of 8 elements and the < 8 elements left over are
 *          appended verbatim.  Chunks are byte-identical to what the plugin
 *          and the python `bitshuffle` module write (tests/storage).
 *
 * The bit transpose of bitshuffle is done on 64-bit words: byte j of 8
 * elements is packed into a word with shifts and masks, eight such words
 * go through 8x8 bit-matrix transposes (three shift-and-mask rounds each)
 * and one 8x8 byte transpose, which leaves one 8-byte word for each of the
 * plane's 8 bit rows: 64 elements per step, no per-bit loop, no pass to
 * split byte planes.  On a 2048x2048 16-bit smooth-scene frame (daq/sim.h)
 * one core here encodes bslz4 at about 720 MB/s (ratio 1.35): the shuffle
 * about 1.2 GB/s, LZ4 about 1.5 GB/s; lz4 alone gives up on the noise at
 * 6 GB/s (ratio 1.0); gzip level 4 manages about 25 MB/s (ratio 1.1).
 * CPU time of one thread; tests/storage/codec_h5write bench measures them.
 *
 * Encoders are pure functions (no HDF5, no global state: any thread; on
 * the stack an 8 KiB block plus LZ4's 16 KiB state);
 * daq_codec_set_filter and daq_codec_check_available call HDF5 and so run
 * where the recorder calls HDF5.
 */
#include "storage/codec.h"

#include <lz4.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "util/err.h"

#define FILTER_LZ4   32004u /* H5Z-LZ4, registered with The HDF Group */
#define FILTER_BSHUF 32008u /* bitshuffle */

#define LZ4_BLOCK_BYTES    (1u << 30) /* H5Z-LZ4's default block */
#define BSHUF_BLOCK_TARGET 8192u      /* bitshuffle's default block, bytes (L1-sized) */
#define BSHUF_BLOCK_MIN    128u       /* elements */
#define BSHUF_MULT         8u         /* elements per bit-transpose step */
#define BSHUF_COMP_LZ4     2u         /* bitshuffle's cd_values[4]: LZ4 */
#define HEADER_BYTES       12u        /* u64 raw size + u32 block size */

const char *const daq_codec_names[] = {"none", "gzip", "lz4", "bslz4", NULL};

#define N_CODECS (sizeof daq_codec_names / sizeof daq_codec_names[0] - 1)

int daq_codec_parse(const char *s, daq_codec *out, char *err, size_t err_len)
{
    for (size_t i = 0; s && i < N_CODECS; i++) {
        if (strcasecmp(s, daq_codec_names[i]) == 0) {
            *out = (daq_codec)i;
            return 0;
        }
    }
    char list[64] = "";
    size_t used = 0;
    for (size_t i = 0; i < N_CODECS; i++) {
        int w =
            snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", daq_codec_names[i]);
        if (w > 0 && (size_t)w < sizeof list - used)
            used += (size_t)w;
    }
    return daq_err(err, err_len, "unsupported compression '%s' (supported: %s)", s ? s : "", list);
}

/* ---- byte order ------------------------------------------------------------------------ */

static void put_be32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (24 - 8 * i));
}

static void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (56 - 8 * i));
}

/* Little-endian words: byte i of memory is bits 8i..8i+7 of the value. */
static inline uint64_t load_le64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline void store_le64(unsigned char *p, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, 8);
}

/* ---- bitshuffle ------------------------------------------------------------------------ */

/* Transposes the 8x8 bit matrix whose row r is byte r of each word:
 * afterwards byte b holds, in bit r, what was bit b of byte r.  Two words
 * at once: GCC and Clang lower it to SSE2 on x86-64 (and to pairs of
 * scalar operations elsewhere), 18 % faster for the whole bslz4 encode of
 * a 16-bit frame here than one word at a time. */
typedef uint64_t u64x2 __attribute__((vector_size(16)));

static inline u64x2 bit_transpose8x2(u64x2 x)
{
    u64x2 t;
    t = (x ^ (x >> 7)) & 0x00AA00AA00AA00AAull;
    x ^= t ^ (t << 7);
    t = (x ^ (x >> 14)) & 0x0000CCCC0000CCCCull;
    x ^= t ^ (t << 14);
    t = (x ^ (x >> 28)) & 0x00000000F0F0F0F0ull;
    x ^= t ^ (t << 28);
    return x;
}

/* One word: the tail of a block. */
static inline uint64_t bit_transpose8(uint64_t x)
{
    u64x2 v = {x, 0};
    return bit_transpose8x2(v)[0];
}

/* Transposes the 8x8 byte matrix whose row q is a[q]: afterwards byte q of
 * a[b] is what was byte b of a[q]. */
static inline void byte_transpose8(uint64_t a[8])
{
    uint64_t t;
    for (int q = 0; q < 8; q += 2) {
        t = ((a[q] >> 8) ^ a[q + 1]) & 0x00FF00FF00FF00FFull;
        a[q + 1] ^= t;
        a[q] ^= t << 8;
    }
    for (int q = 0; q < 8; q += (q & 1) ? 3 : 1) { /* 0, 1, 4, 5 */
        t = ((a[q] >> 16) ^ a[q + 2]) & 0x0000FFFF0000FFFFull;
        a[q + 2] ^= t;
        a[q] ^= t << 16;
    }
    for (int q = 0; q < 4; q++) {
        t = ((a[q] >> 32) ^ a[q + 4]) & 0x00000000FFFFFFFFull;
        a[q + 4] ^= t;
        a[q] ^= t << 32;
    }
}

/* Packs byte j of 8 consecutive elements of s bytes at p into g[j] (byte
 * i of the word = element i), for every j < s: the input of one bit
 * transpose per byte plane, without a pass over memory to split planes. */
static inline void gather8(const unsigned char *p, unsigned s, uint64_t g[8])
{
    switch (s) {
    case 1: g[0] = load_le64(p); break;
    case 2:
        for (unsigned j = 0; j < 2; j++) {
            uint64_t w[2];
            for (int h = 0; h < 2; h++) { /* 4 elements: their byte j, packed */
                uint64_t x = load_le64(p + 8 * h) >> (8 * j) & 0x00FF00FF00FF00FFull;
                x = (x | x >> 8) & 0x0000FFFF0000FFFFull;
                w[h] = (x | x >> 16) & 0x00000000FFFFFFFFull;
            }
            g[j] = w[0] | w[1] << 32;
        }
        break;
    case 4:
        for (unsigned j = 0; j < 4; j++) {
            uint64_t v = 0;
            for (int h = 0; h < 4; h++) { /* 2 elements: their byte j, packed */
                uint64_t x = load_le64(p + 8 * h) >> (8 * j) & 0x000000FF000000FFull;
                v |= ((x | x >> 24) & 0xFFFFull) << (16 * h);
            }
            g[j] = v;
        }
        break;
    default: /* 8: one element per word, a byte transpose */
        for (int q = 0; q < 8; q++)
            g[q] = load_le64(p + 8 * q);
        byte_transpose8(g);
    }
}

/* Bitshuffles m elements (m a multiple of 8) of s bytes from src into out:
 * out row 8j + b (m/8 bytes) holds bit b of byte j of every element, element
 * 8k + i in bit i of the row's byte k.  Inlined per element size so the
 * gathers unroll. */
static inline __attribute__((always_inline)) void
shuffle_block(const unsigned char *src, unsigned char *out, size_t m, unsigned s)
{
    size_t row = m / 8; /* bytes per bit row */
    size_t k = 0;
    for (; k + 8 <= row; k += 8) { /* 64 elements: one word per bit row */
        uint64_t a[8][8];          /* [byte plane][element group] */
        for (int q = 0; q < 8; q += 2) {
            uint64_t g0[8], g1[8];
            gather8(src + (k + (size_t)q) * 8 * s, s, g0);
            gather8(src + (k + (size_t)q + 1) * 8 * s, s, g1);
            for (unsigned j = 0; j < s; j++) {
                u64x2 x = bit_transpose8x2((u64x2){g0[j], g1[j]});
                a[j][q] = x[0];
                a[j][q + 1] = x[1];
            }
        }
        for (unsigned j = 0; j < s; j++) {
            byte_transpose8(a[j]);
            for (int b = 0; b < 8; b++)
                store_le64(out + (8 * j + (size_t)b) * row + k, a[j][b]);
        }
    }
    for (; k < row; k++) { /* a last block of m % 64 != 0 elements */
        uint64_t g[8];
        gather8(src + k * 8 * s, s, g);
        for (unsigned j = 0; j < s; j++) {
            uint64_t x = bit_transpose8(g[j]);
            for (int b = 0; b < 8; b++)
                out[(8 * j + (size_t)b) * row + k] = (unsigned char)(x >> (8 * b));
        }
    }
}

static void bitshuffle_block(const unsigned char *src, unsigned char *out, size_t m, unsigned s)
{
    switch (s) {
    case 1: shuffle_block(src, out, m, 1); break;
    case 2: shuffle_block(src, out, m, 2); break;
    case 4: shuffle_block(src, out, m, 4); break;
    default: shuffle_block(src, out, m, 8); break;
    }
}

/* bitshuffle's default block: BSHUF_BLOCK_TARGET bytes of elements, a
 * multiple of 8 elements, at least 128 elements. */
static size_t bshuf_block_elems(unsigned elem_size)
{
    size_t m = BSHUF_BLOCK_TARGET / elem_size / BSHUF_MULT * BSHUF_MULT;
    return m < BSHUF_BLOCK_MIN ? BSHUF_BLOCK_MIN : m;
}

static size_t encode_bslz4(unsigned s, const unsigned char *src, size_t n, unsigned char *dst,
                           size_t cap)
{
    size_t block = bshuf_block_elems(s);
    size_t elems = n / s;
    unsigned char shuffled[BSHUF_BLOCK_TARGET];
    put_be64(dst, n);
    put_be32(dst + 8, (uint32_t)(block * s));
    size_t pos = HEADER_BYTES, done = 0;
    while (done + BSHUF_MULT <= elems) {
        size_t m = elems - done >= block ? block : (elems - done) / BSHUF_MULT * BSHUF_MULT;
        size_t bytes = m * s;
        bitshuffle_block(src + done * s, shuffled, m, s);
        if (cap - pos < 4)
            return 0;
        int c = LZ4_compress_default(
            (const char *)shuffled, (char *)dst + pos + 4, (int)bytes,
            (int)(cap - pos - 4 > (size_t)INT32_MAX ? INT32_MAX : cap - pos - 4));
        if (c <= 0)
            return 0;
        put_be32(dst + pos, (uint32_t)c);
        pos += 4 + (size_t)c;
        done += m;
    }
    size_t left = (elems - done) * s;
    if (cap - pos < left)
        return 0;
    memcpy(dst + pos, src + done * s, left);
    return pos + left;
}

/* ---- lz4 (H5Z-LZ4 framing) ------------------------------------------------------------- */

static size_t encode_lz4(const unsigned char *src, size_t n, unsigned char *dst, size_t cap)
{
    size_t block = n < LZ4_BLOCK_BYTES ? n : LZ4_BLOCK_BYTES;
    put_be64(dst, n);
    put_be32(dst + 8, (uint32_t)block);
    size_t pos = HEADER_BYTES;
    for (size_t done = 0; done < n; done += block) {
        size_t bytes = n - done < block ? n - done : block;
        if (cap - pos < 4 + bytes)
            return 0;
        /* Room for one byte less than raw: LZ4 stops as soon as it cannot
         * shrink the block. */
        int c = LZ4_compress_default((const char *)src + done, (char *)dst + pos + 4, (int)bytes,
                                     (int)bytes - 1);
        if (c > 0 && (size_t)c < bytes) {
            put_be32(dst + pos, (uint32_t)c);
            pos += 4 + (size_t)c;
        } else { /* stored raw: size == block size tells the reader */
            put_be32(dst + pos, (uint32_t)bytes);
            memcpy(dst + pos + 4, src + done, bytes);
            pos += 4 + bytes;
        }
    }
    return pos;
}

/* ---- the codec interface ---------------------------------------------------------------- */

size_t daq_codec_bound(daq_codec c, size_t n)
{
    switch (c) {
    case DAQ_CODEC_NONE: return n;
    case DAQ_CODEC_GZIP: return (size_t)compressBound((uLong)n);
    case DAQ_CODEC_LZ4: {
        size_t blocks = (n + LZ4_BLOCK_BYTES - 1) / LZ4_BLOCK_BYTES;
        return HEADER_BYTES + 4 * blocks + n;
    }
    case DAQ_CODEC_BSLZ4: {
        /* Every element size has 8192-byte blocks; the last, shorter one
         * and the < 8 leftover elements (<= 56 bytes) on top. */
        size_t blocks = n / BSHUF_BLOCK_TARGET + 1;
        return HEADER_BYTES + blocks * (4 + (size_t)LZ4_compressBound(BSHUF_BLOCK_TARGET)) + 7 * 8;
    }
    }
    return 0;
}

static bool elem_size_ok(unsigned s)
{
    return s == 1 || s == 2 || s == 4 || s == 8;
}

size_t daq_codec_encode(daq_codec c, unsigned level, unsigned elem_size, const void *src, size_t n,
                        void *dst, size_t cap)
{
    if (!src || !dst || n == 0 || !elem_size_ok(elem_size) || n % elem_size != 0 ||
        cap < daq_codec_bound(c, n))
        return 0;
    switch (c) {
    case DAQ_CODEC_NONE: memcpy(dst, src, n); return n;
    case DAQ_CODEC_GZIP: {
        if (level > 9)
            return 0;
        uLongf len = (uLongf)cap;
        if (compress2(dst, &len, src, (uLong)n, (int)level) != Z_OK)
            return 0;
        return (size_t)len;
    }
    case DAQ_CODEC_LZ4: return encode_lz4(src, n, dst, cap);
    case DAQ_CODEC_BSLZ4: return encode_bslz4(elem_size, src, n, dst, cap);
    }
    return 0;
}

int daq_codec_set_filter(daq_codec c, unsigned level, unsigned elem_size, hid_t dcpl, char *err,
                         size_t err_len)
{
    if (!elem_size_ok(elem_size))
        return daq_err(err, err_len, "element size %u is not 1, 2, 4 or 8", elem_size);
    herr_t r = 0;
    switch (c) {
    case DAQ_CODEC_NONE: return 0;
    case DAQ_CODEC_GZIP:
        if (level > 9)
            return daq_err(err, err_len, "compression_level: %u is out of range [0, 9]", level);
        r = H5Pset_deflate(dcpl, level);
        break;
    case DAQ_CODEC_LZ4: {
        /* 0: the plugin's default block, the one block per chunk we write. */
        const unsigned cd[1] = {0};
        r = H5Pset_filter(dcpl, FILTER_LZ4, H5Z_FLAG_MANDATORY, 1, cd);
        break;
    }
    case DAQ_CODEC_BSLZ4: {
        /* The user half of bitshuffle's cd_values (block size in elements,
         * compressor); its set_local, run by H5Dcreate, prepends format
         * version 0.3 and the element size: (0, 3, elem, block, 2). */
        const unsigned cd[2] = {(unsigned)bshuf_block_elems(elem_size), BSHUF_COMP_LZ4};
        r = H5Pset_filter(dcpl, FILTER_BSHUF, H5Z_FLAG_MANDATORY, 2, cd);
        break;
    }
    default: return daq_err(err, err_len, "compression: unknown codec %d", (int)c);
    }
    if (r < 0)
        return daq_err(err, err_len, "compression '%s': cannot add HDF5 filter to the dataset",
                       daq_codec_names[c]);
    return 0;
}

int daq_codec_check_available(daq_codec c, char *err, size_t err_len)
{
    H5Z_filter_t id;
    const char *package;
    switch (c) {
    case DAQ_CODEC_NONE: return 0;
    case DAQ_CODEC_GZIP:
        id = H5Z_FILTER_DEFLATE;
        package = NULL; /* built into libhdf5 */
        break;
    case DAQ_CODEC_LZ4:
        id = FILTER_LZ4;
        package = "hdf5-filter-plugin";
        break;
    case DAQ_CODEC_BSLZ4:
        id = FILTER_BSHUF;
        package = "bitshuffle";
        break;
    default: return daq_err(err, err_len, "compression: unknown codec %d", (int)c);
    }
    /* H5Zfilter_avail loads the plugin from HDF5_PLUGIN_PATH or Debian's
     * default directory; a missing one is an answer, not an error to print. */
    htri_t avail = 0;
    unsigned flags = 0;
    H5E_BEGIN_TRY
    {
        avail = H5Zfilter_avail(id);
        if (avail > 0 && H5Zget_filter_info(id, &flags) < 0)
            avail = 0;
    }
    H5E_END_TRY;
    if (avail > 0 && (flags & H5Z_FILTER_CONFIG_DECODE_ENABLED))
        return 0;
    if (!package)
        return daq_err(err, err_len,
                       "compression '%s': HDF5 filter %u is not available in this libhdf5",
                       daq_codec_names[c], (unsigned)id);
    return daq_err(err, err_len,
                   "compression '%s': HDF5 filter %u is not available (install the Debian "
                   "package %s, or set HDF5_PLUGIN_PATH to its plugin directory)",
                   daq_codec_names[c], (unsigned)id, package);
}
