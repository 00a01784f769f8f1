/* tests/storage/codec_h5write.c - writes HDF5 files the way the recorder
 * does (every chunk pre-encoded by src/storage/codec.c and written with
 * H5Dwrite_chunk), for check_codec_h5.py to read with h5py and compare
 * with what the reference writers (bitshuffle, hdf5plugin, h5py's gzip)
 * produce; and measures the encoders.
 *
 *   codec_h5write write OUT.h5
 *       /<codec>/<shape> for codec none, gzip (level 5), lz4, bslz4 and
 *       shape u16 (256 x 192 uint16, 5 frames), u8 (128 x 96 uint8, 4
 *       frames), odd (37 x 29 uint16, 3 frames: 1073 elements, so a short
 *       bitshuffle block and 1 leftover element), all (N, H, W) with chunk
 *       (1, H, W) and maxshape (None, H, W), libver latest.  The frames of
 *       each shape (sim pattern, smooth scene, random, flat, ramp) are also
 *       written raw to OUT.<shape>.raw: the reader's truth.
 *   codec_h5write bench [SIDE [ROUNDS]]
 *       encodes a SIDE x SIDE (default 2048) smooth-scene frame, 16 and 12
 *       bit, ROUNDS times (default 20) with each codec on one thread (gzip
 *       at level 4, rust-daq's default) and prints input MB/s and the
 *       compression ratio.
 */
#define _GNU_SOURCE
#include <hdf5.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daq/sim.h"
#include "storage/codec.h"

#define GZIP_LEVEL 5

static void die(const char *what)
{
    fprintf(stderr, "codec_h5write: %s\n", what);
    exit(1);
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

typedef struct shape {
    const char *name;
    uint32_t w, h, frames;
    unsigned bytes; /* per pixel */
} shape;

/* Frame i of a shape: what it shows does not matter, what it exercises
 * does (compressible, incompressible, constant). */
static void make_frame(const shape *s, uint32_t i, unsigned char *dst)
{
    size_t n = (size_t)s->w * s->h * s->bytes;
    unsigned bits = s->bytes == 1 ? 8 : 16;
    uint64_t seed = i * 77 + s->w;
    switch (i) {
    case 0: daq_sim_render(dst, s->w, s->h, bits, 1); break;
    case 1: daq_sim_render_scene(dst, s->w, s->h, bits, 2); break;
    case 2:
        for (size_t k = 0; k < n; k++)
            dst[k] = (unsigned char)splitmix(&seed);
        break;
    case 3: memset(dst, 0x5A, n); break;
    default:
        if (s->bytes == 2)
            daq_sim_render_scene(dst, s->w, s->h, 12, i);
        else
            for (size_t k = 0; k < n; k++)
                dst[k] = (unsigned char)(k / 97);
    }
}

static void write_file(const char *out)
{
    const shape shapes[] = {{"u16", 256, 192, 5, 2}, {"u8", 128, 96, 4, 1}, {"odd", 37, 29, 3, 2}};
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
    hid_t f = H5Fcreate(out, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (f < 0)
        die("cannot create the file");
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        const shape *s = &shapes[k];
        size_t n = (size_t)s->w * s->h * s->bytes;
        unsigned char *frames = malloc(n * s->frames);
        for (uint32_t i = 0; i < s->frames; i++)
            make_frame(s, i, frames + i * n);
        char path[4096];
        snprintf(path, sizeof path, "%s.%s.raw", out, s->name);
        FILE *raw = fopen(path, "wb");
        if (!raw || fwrite(frames, n, s->frames, raw) != s->frames || fclose(raw) != 0)
            die("cannot write the raw frames");
        for (daq_codec c = DAQ_CODEC_NONE; c <= DAQ_CODEC_BSLZ4; c++) {
            char err[256];
            if (daq_codec_check_available(c, err, sizeof err) < 0)
                die(err);
            hid_t g =
                H5Lexists(f, daq_codec_names[c], H5P_DEFAULT) > 0
                    ? H5Gopen2(f, daq_codec_names[c], H5P_DEFAULT)
                    : H5Gcreate2(f, daq_codec_names[c], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            hsize_t dims[3] = {0, s->h, s->w}, max[3] = {H5S_UNLIMITED, s->h, s->w};
            hsize_t chunk[3] = {1, s->h, s->w};
            hid_t space = H5Screate_simple(3, dims, max);
            hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
            H5Pset_chunk(dcpl, 3, chunk);
            if (daq_codec_set_filter(c, GZIP_LEVEL, s->bytes, dcpl, err, sizeof err) < 0)
                die(err);
            hid_t type = s->bytes == 1 ? H5T_STD_U8LE : H5T_STD_U16LE;
            hid_t d = H5Dcreate2(g, s->name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
            if (d < 0)
                die("cannot create a dataset");
            size_t cap = daq_codec_bound(c, n);
            unsigned char *enc = malloc(cap);
            for (uint32_t i = 0; i < s->frames; i++) {
                size_t len = daq_codec_encode(c, GZIP_LEVEL, s->bytes, frames + i * n, n, enc, cap);
                hsize_t size[3] = {i + 1, s->h, s->w}, off[3] = {i, 0, 0};
                if (len == 0 || H5Dset_extent(d, size) < 0 ||
                    H5Dwrite_chunk(d, H5P_DEFAULT, 0, off, len, enc) < 0)
                    die("cannot write a chunk");
            }
            free(enc);
            H5Dclose(d);
            H5Pclose(dcpl);
            H5Sclose(space);
            H5Gclose(g);
        }
        free(frames);
    }
    H5Fclose(f);
    H5Pclose(fapl);
}

/* The thread's CPU time: figures that do not depend on the neighbours. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void bench(uint32_t side, unsigned rounds)
{
    size_t n = (size_t)side * side * 2;
    unsigned char *frame = malloc(n);
    printf("%-6s %4s %10s %8s   (%ux%u smooth scene, %u rounds, one thread's CPU time)\n", "codec",
           "bits", "MB/s in", "ratio", side, side, rounds);
    for (unsigned bits = 16; bits >= 12; bits -= 4) {
        daq_sim_render_scene(frame, side, side, bits, 1);
        for (daq_codec c = DAQ_CODEC_NONE; c <= DAQ_CODEC_BSLZ4; c++) {
            size_t cap = daq_codec_bound(c, n), len = 0;
            unsigned char *dst = malloc(cap);
            double t0 = now_s();
            for (unsigned r = 0; r < rounds; r++)
                len = daq_codec_encode(c, 4, 2, frame, n, dst, cap);
            double dt = now_s() - t0;
            if (len == 0)
                die("encode failed");
            printf("%-6s %4u %10.0f %8.3f\n", daq_codec_names[c], bits,
                   (double)n * rounds / dt / 1e6, (double)n / (double)len);
            free(dst);
        }
    }
    free(frame);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "write") == 0) {
        write_file(argv[2]);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "bench") == 0) {
        uint32_t side = argc > 2 ? (uint32_t)atoi(argv[2]) : 2048;
        unsigned rounds = argc > 3 ? (unsigned)atoi(argv[3]) : 20;
        if (side < 16 || rounds == 0)
            die("bench: SIDE >= 16, ROUNDS >= 1");
        bench(side, rounds);
        return 0;
    }
    fprintf(stderr, "usage: codec_h5write write OUT.h5 | bench [SIDE [ROUNDS]]\n");
    return 2;
}
