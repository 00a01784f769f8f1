/* Unit tests of the recorder's chunk codecs (src/storage/codec.c): every
 * codec's bytes decoded with the reference libraries (zlib, liblz4) and a
 * bit-by-bit bitshuffle written here from the format's definition, the
 * framing fields, the edge sizes of bitshuffle's blocks (1, 7, 8, 4097
 * elements, several blocks plus a partial one plus leftovers), the names and
 * their errors, and the HDF5 side: filters in a dcpl and a dataset written
 * with H5Dwrite_chunk read back through libhdf5's own pipeline (so through
 * Debian's plugins).  The h5py reader check is tests/storage/codec.cmake. */
#include <hdf5.h>
#include <lz4.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "daq/sim.h"
#include "storage/codec.h"
#include "test_main.h"

/* ---- data and reference decoders --------------------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* n bytes: random (incompressible) or a slow ramp with a noisy byte in 16. */
static unsigned char *make_data(size_t n, bool random, uint64_t seed)
{
    unsigned char *p = malloc(n ? n : 1);
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++)
        p[i] = random ? (unsigned char)rng_next(&s)
                      : (unsigned char)(i / 64 + ((rng_next(&s) & 15) == 0));
    return p;
}

static uint64_t be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* bitshuffle by definition: row 8j + b, byte k, bit i = bit b of byte j of
 * element 8k + i. */
static void ref_shuffle(const unsigned char *src, unsigned char *out, size_t m, unsigned s)
{
    size_t row = m / 8;
    memset(out, 0, m * s);
    for (size_t e = 0; e < m; e++)
        for (unsigned j = 0; j < s; j++)
            for (unsigned b = 0; b < 8; b++)
                if (src[e * s + j] >> b & 1)
                    out[(8 * j + b) * row + e / 8] |= (unsigned char)(1u << (e % 8));
}

static void ref_unshuffle(const unsigned char *in, unsigned char *out, size_t m, unsigned s)
{
    size_t row = m / 8;
    memset(out, 0, m * s);
    for (size_t e = 0; e < m; e++)
        for (unsigned j = 0; j < s; j++)
            for (unsigned b = 0; b < 8; b++)
                if (in[(8 * j + b) * row + e / 8] >> (e % 8) & 1)
                    out[e * s + j] |= (unsigned char)(1u << b);
}

static size_t default_block(unsigned s)
{
    size_t m = 8192 / s / 8 * 8;
    return m < 128 ? 128 : m;
}

/* Decodes a bslz4 chunk into out (n bytes), checking every block's
 * shuffled bytes against ref_shuffle of the original.  Returns the number
 * of LZ4 blocks. */
static size_t bslz4_decode(const unsigned char *enc, size_t len, unsigned s,
                           const unsigned char *orig, unsigned char *out, size_t n)
{
    assert_true(len >= 12);
    assert_int_equal(be64(enc), n);
    assert_int_equal(be32(enc + 8), default_block(s) * s);
    size_t block = be32(enc + 8) / s, elems = n / s, done = 0, pos = 12, blocks = 0;
    unsigned char *shuf = malloc(block * s), *want = malloc(block * s);
    while (done + 8 <= elems) {
        size_t m = elems - done >= block ? block : (elems - done) / 8 * 8;
        assert_true(pos + 4 <= len);
        uint32_t c = be32(enc + pos);
        assert_true(pos + 4 + c <= len);
        int d =
            LZ4_decompress_safe((const char *)enc + pos + 4, (char *)shuf, (int)c, (int)(m * s));
        assert_int_equal(d, m * s);
        ref_shuffle(orig + done * s, want, m, s);
        assert_memory_equal(shuf, want, m * s);
        ref_unshuffle(shuf, out + done * s, m, s);
        pos += 4 + c;
        done += m;
        blocks++;
    }
    size_t left = (elems - done) * s;
    assert_true(left < 8 * s);
    assert_int_equal(pos + left, len); /* leftovers verbatim, then nothing */
    memcpy(out + done * s, enc + pos, left);
    free(shuf);
    free(want);
    return blocks;
}

/* Decodes an H5Z-LZ4 chunk; *raw_blocks counts blocks stored uncompressed. */
static void lz4_decode(const unsigned char *enc, size_t len, unsigned char *out, size_t n,
                       size_t *raw_blocks)
{
    assert_true(len >= 12);
    assert_int_equal(be64(enc), n);
    size_t block = be32(enc + 8), pos = 12;
    assert_int_equal(block, n < (1u << 30) ? n : (1u << 30));
    *raw_blocks = 0;
    for (size_t done = 0; done < n; done += block) {
        size_t bytes = n - done < block ? n - done : block;
        uint32_t c = be32(enc + pos);
        assert_true(c <= bytes);
        if (c == bytes) {
            memcpy(out + done, enc + pos + 4, bytes);
            ++*raw_blocks;
        } else {
            int d = LZ4_decompress_safe((const char *)enc + pos + 4, (char *)out + done, (int)c,
                                        (int)bytes);
            assert_int_equal(d, bytes);
        }
        pos += 4 + c;
    }
    assert_int_equal(pos, len);
}

static unsigned char *encode(daq_codec c, unsigned level, unsigned s, const void *src, size_t n,
                             size_t *len)
{
    size_t cap = daq_codec_bound(c, n);
    unsigned char *dst = malloc(cap);
    *len = daq_codec_encode(c, level, s, src, n, dst, cap);
    assert_true(*len > 0);
    assert_true(*len <= cap);
    return dst;
}

/* ---- names --------------------------------------------------------------------------- */

static void names_follow_the_enum(void **state)
{
    assert_string_equal(daq_codec_names[DAQ_CODEC_NONE], "none");
    assert_string_equal(daq_codec_names[DAQ_CODEC_GZIP], "gzip");
    assert_string_equal(daq_codec_names[DAQ_CODEC_LZ4], "lz4");
    assert_string_equal(daq_codec_names[DAQ_CODEC_BSLZ4], "bslz4");
    assert_null(daq_codec_names[4]);
}

static void parse_is_case_insensitive(void **state)
{
    const struct {
        const char *text;
        daq_codec want;
    } ok[] = {{"none", DAQ_CODEC_NONE},
              {"GZIP", DAQ_CODEC_GZIP},
              {"Lz4", DAQ_CODEC_LZ4},
              {"bslz4", DAQ_CODEC_BSLZ4},
              {"BSLZ4", DAQ_CODEC_BSLZ4}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        daq_codec c = (daq_codec)99;
        char err[128] = "untouched";
        assert_int_equal(daq_codec_parse(ok[i].text, &c, err, sizeof err), 0);
        assert_int_equal(c, ok[i].want);
        assert_string_equal(err, "untouched");
    }
}

static void parse_refuses_with_the_list(void **state)
{
    const char *bad[] = {"zstd", "bitshuffle", "", "lz4 ", "deflate", "blosc"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        daq_codec c = DAQ_CODEC_GZIP;
        char err[160], want[160];
        assert_int_equal(daq_codec_parse(bad[i], &c, err, sizeof err), -1);
        snprintf(want, sizeof want,
                 "unsupported compression '%s' (supported: none, gzip, lz4, bslz4)", bad[i]);
        assert_string_equal(err, want);
        assert_int_equal(c, DAQ_CODEC_GZIP); /* untouched */
    }
    daq_codec c;
    assert_int_equal(daq_codec_parse("zstd", &c, NULL, 0), -1); /* code only */
}

/* ---- the encoders ------------------------------------------------------------------------ */

static void gzip_round_trip(void **state)
{
    const size_t sizes[] = {1, 7, 4096, 65536 + 3};
    const unsigned levels[] = {0, 1, 4, 9};
    for (size_t i = 0; i < 4; i++)
        for (size_t l = 0; l < 4; l++)
            for (int random = 0; random < 2; random++) {
                size_t n = sizes[i], len;
                unsigned char *src = make_data(n, random, i * 7 + l);
                unsigned char *enc = encode(DAQ_CODEC_GZIP, levels[l], 1, src, n, &len);
                unsigned char *dec = malloc(n);
                uLongf dn = (uLongf)n;
                assert_int_equal(uncompress(dec, &dn, enc, (uLong)len), Z_OK);
                assert_int_equal(dn, n);
                assert_memory_equal(dec, src, n);
                if (!random && n > 4096 && levels[l] > 0)
                    assert_true(len < n / 4);
                free(src);
                free(enc);
                free(dec);
            }
    unsigned char b[64], out[128];
    memset(b, 1, sizeof b);
    assert_int_equal(daq_codec_encode(DAQ_CODEC_GZIP, 10, 1, b, sizeof b, out, sizeof out), 0);
}

static void none_is_a_copy(void **state)
{
    unsigned char src[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, dst[10] = {0};
    assert_int_equal(daq_codec_bound(DAQ_CODEC_NONE, 10), 10);
    assert_int_equal(daq_codec_encode(DAQ_CODEC_NONE, 0, 2, src, 10, dst, 10), 10);
    assert_memory_equal(src, dst, 10);
}

static void lz4_round_trip(void **state)
{
    const size_t sizes[] = {1, 7, 8, 4097 * 2, 2048 * 2048 * 2};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i], len, raw;
        unsigned char *src = make_data(n, false, i);
        unsigned char *enc = encode(DAQ_CODEC_LZ4, 0, 1, src, n, &len);
        unsigned char *dec = malloc(n);
        lz4_decode(enc, len, dec, n, &raw);
        assert_memory_equal(dec, src, n);
        if (n > 4096) {
            assert_int_equal(raw, 0);
            assert_true(len < n / 2);
        }
        free(src);
        free(enc);
        free(dec);
    }
}

static void lz4_incompressible_block_stored_raw(void **state)
{
    const size_t sizes[] = {1, 100, 8192, 1 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i], len, raw;
        unsigned char *src = make_data(n, true, 42 + i);
        unsigned char *enc = encode(DAQ_CODEC_LZ4, 0, 2 - (n & 1), src, n, &len);
        assert_int_equal(len, n + 16); /* header + one block size + the raw bytes */
        assert_int_equal(be32(enc + 12), n);
        assert_memory_equal(enc + 16, src, n);
        unsigned char *dec = malloc(n);
        lz4_decode(enc, len, dec, n, &raw);
        assert_int_equal(raw, 1);
        assert_memory_equal(dec, src, n);
        assert_int_equal(daq_codec_bound(DAQ_CODEC_LZ4, n), n + 16);
        free(src);
        free(enc);
        free(dec);
    }
}

static void bslz4_round_trip_edge_sizes(void **state)
{
    const unsigned elem[] = {1, 2, 4, 8};
    /* 1, 7 elements: leftovers only; 8: one short block; 4097: a block (of
     * 4096 for uint16) and leftovers or a short block; 3 blocks + 13. */
    for (size_t e = 0; e < 4; e++) {
        unsigned s = elem[e];
        size_t block = default_block(s);
        const size_t counts[] = {1, 7, 8, 9, 4097, 3 * block + 13, 3 * block + 64, 2 * block};
        for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
            for (int random = 0; random < 2; random++) {
                size_t n = counts[i] * s, len;
                unsigned char *src = make_data(n, random, e * 100 + i);
                unsigned char *enc = encode(DAQ_CODEC_BSLZ4, 0, s, src, n, &len);
                unsigned char *dec = malloc(n);
                size_t blocks = bslz4_decode(enc, len, s, src, dec, n);
                size_t full = counts[i] / block, rest = counts[i] % block / 8 * 8;
                assert_int_equal(blocks, full + (rest ? 1 : 0));
                assert_memory_equal(dec, src, n);
                free(src);
                free(enc);
                free(dec);
            }
    }
}

/* A uint16 ramp: the high byte's bit planes are almost constant, so
 * bitshuffle makes them compressible where plain LZ4 sees no repeats. */
static void bslz4_beats_lz4_on_smooth_data(void **state)
{
    size_t elems = 512 * 512, n = elems * 2, lz, bs;
    uint16_t *src = malloc(n);
    uint64_t s = 7;
    for (size_t i = 0; i < elems; i++)
        src[i] = (uint16_t)(20000 + (i % 512) * 8 + (rng_next(&s) & 63));
    unsigned char *a = encode(DAQ_CODEC_LZ4, 0, 2, src, n, &lz);
    unsigned char *b = encode(DAQ_CODEC_BSLZ4, 0, 2, src, n, &bs);
    assert_true(bs < n * 2 / 3);
    assert_true(bs < lz);
    free(src);
    free(a);
    free(b);
}

/* The sim's smooth scene (daq/sim.h) is what the compression figures are
 * measured on: bitshuffle gains on it, plain LZ4 cannot (its noise fills
 * the low bits of every pixel). */
static void bslz4_compresses_the_sim_scene(void **state)
{
    const uint32_t side = 1024;
    const unsigned depths[] = {16, 12};
    const double min_ratio[] = {1.3, 1.6};
    for (size_t d = 0; d < 2; d++) {
        size_t n = (size_t)side * side * 2, lz, bs;
        unsigned char *frame = malloc(n);
        daq_sim_render_scene(frame, side, side, depths[d], 1);
        unsigned char *a = encode(DAQ_CODEC_LZ4, 0, 2, frame, n, &lz);
        unsigned char *b = encode(DAQ_CODEC_BSLZ4, 0, 2, frame, n, &bs);
        double ratio = (double)n / (double)bs;
        if (ratio < min_ratio[d])
            fail_msg("%u bit scene: bslz4 ratio %.3f, want >= %.1f", depths[d], ratio,
                     min_ratio[d]);
        assert_true(lz > bs);
        unsigned char *dec = malloc(n);
        bslz4_decode(b, bs, 2, frame, dec, n);
        assert_memory_equal(dec, frame, n);
        free(frame);
        free(a);
        free(b);
        free(dec);
    }
}

static void encode_refuses_bad_arguments(void **state)
{
    unsigned char src[64] = {0}, dst[4096];
    for (daq_codec c = DAQ_CODEC_NONE; c <= DAQ_CODEC_BSLZ4; c++) {
        assert_int_equal(daq_codec_encode(c, 1, 2, src, 7, dst, sizeof dst), 0);  /* n % s */
        assert_int_equal(daq_codec_encode(c, 1, 3, src, 9, dst, sizeof dst), 0);  /* s = 3 */
        assert_int_equal(daq_codec_encode(c, 1, 1, src, 0, dst, sizeof dst), 0);  /* empty */
        assert_int_equal(daq_codec_encode(c, 1, 1, NULL, 8, dst, sizeof dst), 0); /* no src */
        size_t bound = daq_codec_bound(c, sizeof src);
        assert_true(bound >= sizeof src);
        assert_int_equal(daq_codec_encode(c, 1, 1, src, sizeof src, dst, bound - 1), 0);
        assert_true(daq_codec_encode(c, 1, 1, src, sizeof src, dst, bound) > 0);
    }
}

/* The worst case: random data in every codec fits daq_codec_bound. */
static void bound_holds_for_random_data(void **state)
{
    const size_t sizes[] = {8, 8192, 8192 * 3 + 56, 1 << 20};
    for (size_t i = 0; i < 4; i++) {
        unsigned char *src = make_data(sizes[i], true, i);
        for (daq_codec c = DAQ_CODEC_NONE; c <= DAQ_CODEC_BSLZ4; c++)
            for (unsigned s = 1; s <= 8; s *= 2) {
                size_t len;
                free(encode(c, 9, s, src, sizes[i], &len));
            }
        free(src);
    }
}

/* ---- HDF5: filters and a dataset written chunk by chunk -------------------------------- */

static void set_filter_adds_mandatory_filters(void **state)
{
    char err[256];
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    assert_int_equal(daq_codec_set_filter(DAQ_CODEC_NONE, 0, 2, dcpl, err, sizeof err), 0);
    assert_int_equal(H5Pget_nfilters(dcpl), 0);
    H5Pclose(dcpl);

    const struct {
        daq_codec c;
        unsigned level, elem;
        H5Z_filter_t id;
        size_t ncd;
        unsigned cd0, cd1;
    } want[] = {
        {DAQ_CODEC_GZIP, 6, 2, H5Z_FILTER_DEFLATE, 1, 6, 0},
        {DAQ_CODEC_LZ4, 0, 2, 32004, 1, 0, 0},
        {DAQ_CODEC_BSLZ4, 0, 2, 32008, 2, 4096, 2},
        {DAQ_CODEC_BSLZ4, 0, 1, 32008, 2, 8192, 2},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        dcpl = H5Pcreate(H5P_DATASET_CREATE);
        assert_int_equal(
            daq_codec_set_filter(want[i].c, want[i].level, want[i].elem, dcpl, err, sizeof err), 0);
        assert_int_equal(H5Pget_nfilters(dcpl), 1);
        unsigned flags, cd[8];
        size_t ncd = 8;
        char name[64];
        H5Z_filter_t id = H5Pget_filter2(dcpl, 0, &flags, &ncd, cd, sizeof name, name, NULL);
        assert_int_equal(id, want[i].id);
        assert_int_equal(ncd, want[i].ncd);
        assert_int_equal(cd[0], want[i].cd0);
        if (ncd > 1)
            assert_int_equal(cd[1], want[i].cd1);
        if (want[i].c != DAQ_CODEC_GZIP)
            assert_int_equal(flags & H5Z_FLAG_OPTIONAL, 0);
        H5Pclose(dcpl);
    }
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    assert_int_equal(daq_codec_set_filter(DAQ_CODEC_GZIP, 10, 2, dcpl, err, sizeof err), -1);
    assert_string_equal(err, "compression_level: 10 is out of range [0, 9]");
    assert_int_equal(daq_codec_set_filter(DAQ_CODEC_LZ4, 0, 3, dcpl, err, sizeof err), -1);
    assert_string_equal(err, "element size 3 is not 1, 2, 4 or 8");
    assert_int_equal(H5Pget_nfilters(dcpl), 0);
    H5Pclose(dcpl);
}

static void every_codec_available_here(void **state)
{
    for (daq_codec c = DAQ_CODEC_NONE; c <= DAQ_CODEC_BSLZ4; c++) {
        char err[256] = "";
        if (daq_codec_check_available(c, err, sizeof err) < 0)
            fail_msg("%s: %s", daq_codec_names[c], err);
    }
}

/* With plugin loading off and the plugins unloaded, the message names the
 * Debian package to install. */
static void missing_plugin_names_the_package(void **state)
{
    H5open();
    assert_true(H5PLset_loading_state(0) >= 0);
    H5E_BEGIN_TRY
    {
        H5Zunregister(32004);
        H5Zunregister(32008);
    }
    H5E_END_TRY;
    char err[256];
    assert_int_equal(daq_codec_check_available(DAQ_CODEC_LZ4, err, sizeof err), -1);
    assert_string_equal(err, "compression 'lz4': HDF5 filter 32004 is not available (install the "
                             "Debian package hdf5-filter-plugin, or set HDF5_PLUGIN_PATH to its "
                             "plugin directory)");
    assert_int_equal(daq_codec_check_available(DAQ_CODEC_BSLZ4, err, sizeof err), -1);
    assert_string_equal(err, "compression 'bslz4': HDF5 filter 32008 is not available (install the "
                             "Debian package bitshuffle, or set HDF5_PLUGIN_PATH to its plugin "
                             "directory)");
    assert_int_equal(daq_codec_check_available(DAQ_CODEC_GZIP, err, sizeof err), 0);
    assert_int_equal(daq_codec_check_available(DAQ_CODEC_NONE, err, sizeof err), 0);
    assert_true(H5PLset_loading_state(H5PL_ALL_PLUGIN) >= 0);
    assert_int_equal(daq_codec_check_available(DAQ_CODEC_LZ4, err, sizeof err), 0);
}

/* (N, H, W) datasets, chunk (1, H, W), every chunk written pre-encoded with
 * H5Dwrite_chunk, read back with H5Dread: libhdf5 decodes with the
 * deflate filter and Debian's plugins.  In memory (core driver, no file). */
static void h5dwrite_chunk_read_back_by_hdf5(void **state)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_core(fapl, 1 << 20, 0);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
    hid_t f = H5Fcreate("codec-test.h5", H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    assert_true(f >= 0);
    const uint32_t frames = 3;
    const struct {
        hid_t type;
        unsigned s;
        hsize_t h, w;
    } shapes[] = {{H5T_NATIVE_UINT16, 2, 96, 100},
                  {H5T_NATIVE_UINT8, 1, 37, 29},
                  {H5T_NATIVE_UINT16, 2, 7, 3}};
    for (daq_codec c = DAQ_CODEC_NONE; c <= DAQ_CODEC_BSLZ4; c++)
        for (size_t k = 0; k < 3; k++) {
            unsigned s = shapes[k].s;
            hsize_t h = shapes[k].h, w = shapes[k].w, n = h * w * s;
            hsize_t dims[3] = {frames, h, w}, chunk[3] = {1, h, w};
            hid_t space = H5Screate_simple(3, dims, NULL);
            hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
            H5Pset_chunk(dcpl, 3, chunk);
            char err[256], name[32];
            assert_int_equal(daq_codec_set_filter(c, 5, s, dcpl, err, sizeof err), 0);
            snprintf(name, sizeof name, "%s_%zu", daq_codec_names[c], k);
            hid_t d = H5Dcreate2(f, name, shapes[k].type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
            assert_true(d >= 0);
            unsigned char *all = malloc(frames * n);
            for (uint32_t i = 0; i < frames; i++) {
                unsigned char *src = all + i * n, *data = make_data(n, i == 1, 1000 + i);
                memcpy(src, data, n); /* frame 1 random */
                free(data);
                size_t len;
                unsigned char *enc = encode(c, 5, s, src, n, &len);
                hsize_t off[3] = {i, 0, 0};
                assert_true(H5Dwrite_chunk(d, H5P_DEFAULT, 0, off, len, enc) >= 0);
                free(enc);
            }
            H5Dclose(d);
            d = H5Dopen2(f, name, H5P_DEFAULT);
            unsigned char *back = calloc(frames, n);
            assert_true(H5Dread(d, shapes[k].type, H5S_ALL, H5S_ALL, H5P_DEFAULT, back) >= 0);
            if (memcmp(back, all, frames * n) != 0)
                fail_msg("%s: data read back differs", name);
            if (c == DAQ_CODEC_BSLZ4) { /* what set_local made of our cd_values */
                hid_t p = H5Dget_create_plist(d);
                unsigned flags, cd[8];
                size_t ncd = 8;
                assert_int_equal(H5Pget_filter2(p, 0, &flags, &ncd, cd, 0, NULL, NULL), 32008);
                assert_int_equal(ncd, 5);
                assert_int_equal(cd[2], s);
                assert_int_equal(cd[3], default_block(s));
                assert_int_equal(cd[4], 2);
                H5Pclose(p);
            }
            free(all);
            free(back);
            H5Dclose(d);
            H5Pclose(dcpl);
            H5Sclose(space);
        }
    H5Fclose(f);
    H5Pclose(fapl);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(missing_plugin_names_the_package), /* first: nothing loaded yet */
    cmocka_unit_test(names_follow_the_enum),
    cmocka_unit_test(parse_is_case_insensitive),
    cmocka_unit_test(parse_refuses_with_the_list),
    cmocka_unit_test(none_is_a_copy),
    cmocka_unit_test(gzip_round_trip),
    cmocka_unit_test(lz4_round_trip),
    cmocka_unit_test(lz4_incompressible_block_stored_raw),
    cmocka_unit_test(bslz4_round_trip_edge_sizes),
    cmocka_unit_test(bslz4_beats_lz4_on_smooth_data),
    cmocka_unit_test(bslz4_compresses_the_sim_scene),
    cmocka_unit_test(encode_refuses_bad_arguments),
    cmocka_unit_test(bound_holds_for_random_data),
    cmocka_unit_test(set_filter_adds_mandatory_filters),
    cmocka_unit_test(every_codec_available_here),
    cmocka_unit_test(h5dwrite_chunk_read_back_by_hdf5),
};

DAQ_TEST_MAIN("codec", tests)
