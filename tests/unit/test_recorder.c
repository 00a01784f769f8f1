/* tests/unit/test_recorder.c - the recorder core (daq/storage.h) on a sim
 * camera, read back with the HDF5 C API: every frame equal to the sim
 * pattern, per-frame datasets as long as data, counts and drops booked
 * exactly, the pool never exhausted behind a slow disk, stop semantics and
 * the texts of refusals.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daq/config.h"
#include "daq/devices.h"
#include "daq/sim.h"
#include "daq/storage.h"
#include "test_main.h"

typedef struct rig {
    char root[256];
    daq_devices *devs;
    daq_storage *st;
} rig;

static void rm_rf(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* A sim camera W x H 16-bit at fps ("0": instant timing), storage under a
 * fresh temp root; the camera streams. */
static void rig_up(rig *g, unsigned side, const char *fps, uint32_t max_buffer_mb,
                   uint32_t delay_us, daq_codec codec)
{
    memset(g, 0, sizeof *g);
    snprintf(g->root, sizeof g->root, "/tmp/daq-rec-XXXXXX");
    assert_non_null(mkdtemp(g->root));
    char timing[96] = "timing = \"instant\"";
    if (strcmp(fps, "0") != 0)
        snprintf(timing, sizeof timing, "timing = \"realistic\"\nframe_rate_hz = %s", fps);
    char text[1024];
    snprintf(text, sizeof text,
             "[[devices]]\nid = \"cam0\"\nname = \"sim\"\n[devices.driver]\ntype = \"sim\"\n"
             "width = %u\nheight = %u\nbit_depth = 16\n%s\n",
             side, side, timing);
    daq_config cfg;
    char err[512];
    assert_int_equal(daq_config_load_text(text, strlen(text), "test.toml", &cfg, err, sizeof err),
                     0);
    g->devs = daq_devices_create(&cfg, NULL, err, sizeof err);
    assert_non_null(g->devs);
    daq_storage_config sc;
    daq_storage_config_init(&sc);
    snprintf(sc.root, sizeof sc.root, "%s", g->root);
    sc.hdf5.compression = codec;
    sc.max_buffer_mb = max_buffer_mb;
    sc.test_write_delay_us = delay_us;
    sc.flush_interval_ms = 200;
    sc.workers = 2;
    g->st = daq_storage_create(g->devs, &sc, err, sizeof err);
    if (!g->st)
        fail_msg("storage: %s", err);
    daq_acq *acq = daq_device_acq(daq_devices_find(g->devs, "cam0"));
    assert_int_equal(daq_acq_start(acq, 0, err, sizeof err), 0);
}

static void rig_down(rig *g)
{
    daq_storage_destroy(g->st);
    daq_devices_destroy(g->devs);
    rm_rf(g->root);
}

static daq_acq *rig_acq(rig *g)
{
    return daq_device_acq(daq_devices_find(g->devs, "cam0"));
}

static hid_t open_ro(const char *path)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    return f;
}

static uint64_t len_of(hid_t f, const char *path)
{
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
    assert_true(d >= 0);
    hid_t sp = H5Dget_space(d);
    hsize_t dims[3] = {0};
    H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    H5Dclose(d);
    return dims[0];
}

static uint64_t attr_u64(hid_t loc, const char *obj, const char *name)
{
    uint64_t v = 0;
    hid_t a = H5Aopen_by_name(loc, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(a >= 0);
    assert_true(H5Aread(a, H5T_NATIVE_UINT64, &v) >= 0);
    H5Aclose(a);
    return v;
}

static void read_u64s(hid_t f, const char *path, uint64_t *out)
{
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
    assert_true(H5Dread(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0);
    H5Dclose(d);
}

/* Every frame equals the sim pattern of its frame_number; frame numbers
 * strictly increase; per-frame datasets as long as data.  Returns N. */
static uint64_t verify_file(const char *path, unsigned side)
{
    hid_t f = open_ro(path);
    uint64_t n = len_of(f, "/entry/cam0/data");
    const char *series[] = {"frame_number",    "sequence",    "timestamp_ns",
                            "timestamp_hw_ns", "exposure_ms", "flags"};
    for (size_t i = 0; i < sizeof series / sizeof series[0]; i++) {
        char p[128];
        snprintf(p, sizeof p, "/entry/cam0/%s", series[i]);
        assert_int_equal(len_of(f, p), n);
    }
    uint64_t *fn = calloc(n + 1, sizeof *fn);
    read_u64s(f, "/entry/cam0/frame_number", fn);
    hid_t d = H5Dopen2(f, "/entry/cam0/data", H5P_DEFAULT);
    size_t bytes = (size_t)side * side * 2;
    uint16_t *px = malloc(bytes);
    for (uint64_t i = 0; i < n; i++) {
        hid_t fs = H5Dget_space(d);
        hsize_t off[3] = {i, 0, 0}, cnt[3] = {1, side, side};
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, off, NULL, cnt, NULL);
        hid_t ms = H5Screate_simple(3, cnt, NULL);
        assert_true(H5Dread(d, H5T_NATIVE_UINT16, ms, fs, H5P_DEFAULT, px) >= 0);
        H5Sclose(ms);
        H5Sclose(fs);
        char why[256];
        if (daq_sim_verify(px, side, side, 16, fn[i], why, sizeof why) != 0)
            fail_msg("frame %llu (number %llu): %s", (unsigned long long)i,
                     (unsigned long long)fn[i], why);
        if (i)
            assert_true(fn[i] > fn[i - 1]);
    }
    free(px);
    free(fn);
    H5Dclose(d);
    H5Fclose(f);
    return n;
}

static void record_codec(daq_codec codec)
{
    rig g;
    rig_up(&g, 256, "0", 64, 0, codec);
    daq_kv md[] = {{"max_frames", "50"}, {"operator", "ada"}};
    daq_record_request req = {.name = "unit", .metadata = md, .n_metadata = 2};
    daq_recording_status s;
    char err[512];
    if (daq_storage_start(g.st, &req, &s, err, sizeof err) != 0)
        fail_msg("start: %s", err);
    assert_true(daq_storage_wait_ended(g.st, 20000));
    daq_kv fin[] = {{"result", "ok"}};
    assert_int_equal(daq_storage_stop(g.st, NULL, fin, 1, &s, err, sizeof err), 0);
    assert_int_equal(s.state, DAQ_RECORDING_IDLE);
    assert_true(s.ended);
    assert_int_equal(s.samples_recorded, 50);
    assert_int_equal(s.frames_dropped, 0);
    assert_int_equal(verify_file(s.output_path, 256), 50);
    hid_t f = open_ro(s.output_path);
    assert_int_equal(attr_u64(f, "/entry", "frames_written"), 50);
    assert_int_equal(attr_u64(f, "/entry/cam0", "frames_dropped"), 0);
    assert_true(H5Aexists_by_name(f, "/entry/final_metadata", "result", H5P_DEFAULT) > 0);
    assert_true(H5Aexists_by_name(f, "/entry/metadata", "operator", H5P_DEFAULT) > 0);
    assert_true(H5Aexists_by_name(f, "/entry", "end_time", H5P_DEFAULT) > 0);
    H5Fclose(f);
    struct stat sb;
    assert_int_equal(stat(s.output_path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0640);
    /* stopping again by name returns the same figures; without a name
     * there is nothing left to stop */
    char id[40];
    snprintf(id, sizeof id, "%s", s.recording_id);
    assert_int_equal(daq_storage_stop(g.st, id, NULL, 0, &s, err, sizeof err), 0);
    assert_int_equal(s.samples_recorded, 50);
    assert_int_equal(daq_storage_stop(g.st, NULL, NULL, 0, &s, err, sizeof err), -1);
    assert_string_equal(err, "No active recording");
    rig_down(&g);
}

static void records_uncompressed(void **state)
{
    record_codec(DAQ_CODEC_NONE);
}

static void records_gzip(void **state)
{
    record_codec(DAQ_CODEC_GZIP);
}

static void records_lz4(void **state)
{
    record_codec(DAQ_CODEC_LZ4);
}

static void records_bslz4(void **state)
{
    record_codec(DAQ_CODEC_BSLZ4);
}

/* A disk slower than the camera: the recorder drops, counts and lists
 * every missing frame; the engine loses nothing and its pool is never
 * exhausted. */
static void slow_disk_drops_are_booked(void **state)
{
    rig g;
    rig_up(&g, 256, "400", 1, 20000, DAQ_CODEC_NONE); /* 1 MiB queue: 8 frames; 50 fps disk */
    daq_record_request req = {.name = "slow", .duration_ms = 1500};
    daq_recording_status s;
    char err[512];
    assert_int_equal(daq_storage_start(g.st, &req, &s, err, sizeof err), 0);
    assert_true(daq_storage_wait_ended(g.st, 20000));
    assert_int_equal(daq_storage_stop(g.st, NULL, NULL, 0, &s, err, sizeof err), 0);
    assert_true(s.frames_dropped > 0);
    daq_acq_stats as;
    daq_acq_stats_snapshot(rig_acq(&g), &as);
    assert_int_equal(as.lost, 0);
    assert_int_equal(as.pool.misses, 0);
    assert_int_equal(as.heap_fallbacks, 0);
    uint64_t n = verify_file(s.output_path, 256);
    assert_int_equal(n, s.samples_recorded);
    hid_t f = open_ro(s.output_path);
    uint64_t rows = len_of(f, "/entry/cam0/missing");
    assert_true(rows > 0);
    uint64_t(*m)[3] = calloc(rows, sizeof *m);
    read_u64s(f, "/entry/cam0/missing", (uint64_t *)m);
    uint64_t listed = 0;
    for (uint64_t i = 0; i < rows; i++) {
        assert_int_equal(m[i][2], 2); /* the camera lost nothing */
        listed += m[i][1];
    }
    /* frame numbers: written + listed cover the run without a hole */
    uint64_t *fn = calloc(n, sizeof *fn);
    read_u64s(f, "/entry/cam0/frame_number", fn);
    assert_int_equal(listed, attr_u64(f, "/entry/cam0", "frames_dropped"));
    assert_int_equal(listed, s.frames_dropped);
    assert_true(fn[n - 1] - fn[0] + 1 <= n + listed);
    free(fn);
    free(m);
    H5Fclose(f);
    rig_down(&g);
}

static void refusals_have_their_texts(void **state)
{
    rig g;
    rig_up(&g, 64, "0", 16, 0, DAQ_CODEC_NONE);
    char err[512];
    daq_recording_status s;
    daq_kv bad_dev[] = {{"devices", "nope"}};
    daq_record_request req = {.name = "x", .metadata = bad_dev, .n_metadata = 1};
    assert_int_equal(daq_storage_start(g.st, &req, &s, err, sizeof err), -1);
    assert_string_equal(err, "Device nope is not streaming");
    daq_kv bad_n[] = {{"max_frames", "ten"}};
    req.metadata = bad_n;
    assert_int_equal(daq_storage_start(g.st, &req, &s, err, sizeof err), -1);
    assert_string_equal(err, "Invalid metadata max_frames: 'ten' is not a whole number");
    req.metadata = NULL;
    req.n_metadata = 0;
    req.name = "a/b";
    assert_int_equal(daq_storage_start(g.st, &req, &s, err, sizeof err), -1);
    req.name = "ok";
    assert_int_equal(daq_storage_start(g.st, &req, &s, err, sizeof err), 0);
    assert_int_equal(daq_storage_start(g.st, &req, &s, err, sizeof err), -1);
    assert_string_equal(err, "Recording already in progress");
    assert_int_equal(daq_storage_stop(g.st, "not-an-id", NULL, 0, &s, err, sizeof err), -1);
    assert_string_equal(err, "Recording not-an-id not found");
    assert_int_equal(daq_storage_flush(g.st, NULL, true, &s, err, sizeof err), 0);
    assert_true(s.flushes_completed >= 1);
    assert_true(s.samples_flushed <= s.samples_recorded);
    assert_int_equal(daq_storage_stop(g.st, NULL, NULL, 0, &s, err, sizeof err), 0);
    assert_int_equal(daq_storage_flush(g.st, NULL, true, &s, err, sizeof err), -1);
    assert_string_equal(err, "No active recording");
    daq_codec c;
    assert_int_equal(daq_codec_parse("zstd", &c, err, sizeof err), -1);
    assert_string_equal(err, "unsupported compression 'zstd' (supported: none, gzip, lz4, bslz4)");
    rig_down(&g);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(records_uncompressed),
        cmocka_unit_test(records_gzip),
        cmocka_unit_test(records_lz4),
        cmocka_unit_test(records_bslz4),
        cmocka_unit_test(slow_disk_drops_are_booked),
        cmocka_unit_test(refusals_have_their_texts),
    };
    return daq_test_main(argc, argv, "recorder", tests, sizeof tests / sizeof tests[0]);
}
