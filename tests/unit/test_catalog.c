/* tests/unit/test_catalog.c - the catalogue reads recordings back from files.
 *
 * The files are written here by hand with the HDF5 API in the recorder's
 * layout (docs: include/daq/storage.h): /entry with its attributes,
 * /entry/metadata and /entry/final_metadata, one group per camera with
 * data (N,H,W), the per-frame datasets and a parameters subgroup.  Around
 * them sit what a root may also hold: another program's HDF5 file, garbage
 * named *.h5, an empty *.h5, a recording not named *.h5, symlinks to
 * recordings outside the root, a recording left by a writer killed with
 * SIGKILL while in SWMR mode, and one still open for writing in this
 * process.  Every case works in a fresh mkdtemp directory, removed at the
 * end (a failing case leaves it behind for inspection).
 */
#define _GNU_SOURCE /* nftw */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <hdf5.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_main.h"

#include "storage/catalog.h"

#define S  1000000000ull       /* ns per second */
#define T0 (1798761599ull * S) /* 2026-12-31 23:59:59 UTC */

/* snprintf that fails the test instead of cutting the text. */
__attribute__((format(printf, 3, 4))) static void fmt(char *buf, size_t n, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int r = vsnprintf(buf, n, f, ap);
    va_end(ap);
    assert_true(r >= 0 && (size_t)r < n);
}

typedef struct fx {
    char tmp[PATH_MAX];
    char root[PATH_MAX + 8];
    char outside[PATH_MAX + 8];
} fx;

static void fx_init(fx *f)
{
    char raw[] = "/tmp/daq_catalog_XXXXXX";
    assert_non_null(mkdtemp(raw));
    assert_non_null(realpath(raw, f->tmp));
    fmt(f->root, sizeof f->root, "%s/root", f->tmp);
    fmt(f->outside, sizeof f->outside, "%s/outside", f->tmp);
    assert_int_equal(mkdir(f->root, 0750), 0);
    assert_int_equal(mkdir(f->outside, 0750), 0);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void fx_fini(fx *f)
{
    assert_int_equal(nftw(f->tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

/* ---- writing files in the recorder's layout ------------------------------------------ */

typedef struct cam_spec {
    const char *id;
    unsigned frames, h, w;
    hid_t pixel;       /* H5T_NATIVE_UINT16 or H5T_NATIVE_UINT8 */
    uint64_t first_ts; /* timestamp_ns of frame 0; 10 ms apart */
} cam_spec;

typedef struct rec_spec {
    const char *id, *name;
    uint64_t start_ns, end_ns; /* end 0: no end_time (never finished) */
    bool frames_written;       /* /entry frames_written (written at stop) */
    uint64_t frames_written_value;
    bool fixed_strings; /* fixed-length instead of variable-length strings */
    bool numbers_as_strings;
    const char *software; /* NULL: "daq" */
    const char *scan_id, *run_uid;
    const char *meta[6][2];
    const char *final_meta[4][2];
    cam_spec cams[3];
} rec_spec;

static void attr_str(hid_t obj, const char *name, const char *value, bool fixed)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    assert_true(H5Tset_size(t, fixed ? (strlen(value) ? strlen(value) : 1) : H5T_VARIABLE) >= 0);
    H5Tset_cset(t, H5T_CSET_UTF8);
    if (fixed)
        H5Tset_strpad(t, H5T_STR_NULLPAD);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(a >= 0);
    if (fixed) {
        char buf[512] = "";
        fmt(buf, sizeof buf, "%s", value);
        assert_true(H5Awrite(a, t, buf) >= 0);
    } else {
        assert_true(H5Awrite(a, t, &value) >= 0);
    }
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
}

static void attr_num(hid_t obj, const char *name, hid_t type, const void *v)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(a >= 0);
    assert_true(H5Awrite(a, type, v) >= 0);
    H5Aclose(a);
    H5Sclose(sp);
}

static void attr_u64(hid_t obj, const char *name, uint64_t v, const rec_spec *r)
{
    if (r && r->numbers_as_strings) {
        char buf[32];
        fmt(buf, sizeof buf, "%llu", (unsigned long long)v);
        attr_str(obj, name, buf, r->fixed_strings);
    } else {
        attr_num(obj, name, H5T_STD_U64LE, &v);
    }
}

static void iso(uint64_t ns, char *out, size_t len)
{
    time_t t = (time_t)(ns / S);
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    fmt(out, len, "%s.%06uZ", base, (unsigned)(ns % S / 1000));
}

/* A 1-D extendable dataset of n elements of type t (values from buf). */
static hid_t per_frame(hid_t g, const char *name, hid_t t, size_t n, const void *buf)
{
    hsize_t dims = n, max = H5S_UNLIMITED, chunk = 64;
    hid_t sp = H5Screate_simple(1, &dims, &max);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, &chunk);
    hid_t d = H5Dcreate2(g, name, t, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    assert_true(d >= 0);
    if (n)
        assert_true(H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    H5Pclose(dcpl);
    H5Sclose(sp);
    return d;
}

static void camera_write(hid_t entry, const cam_spec *c, const rec_spec *r)
{
    hid_t g = H5Gcreate2(entry, c->id, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(g >= 0);
    attr_str(g, "NX_class", "NXdetector", r->fixed_strings);
    attr_str(g, "driver", "sim", r->fixed_strings);
    size_t n = c->frames, px = H5Tget_size(c->pixel);
    hsize_t dims[3] = {n, c->h, c->w}, max[3] = {H5S_UNLIMITED, c->h, c->w},
            chunk[3] = {1, c->h, c->w};
    hid_t sp = H5Screate_simple(3, dims, max);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 3, chunk);
    hid_t d = H5Dcreate2(g, "data", c->pixel, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    assert_true(d >= 0);
    unsigned char *pix = calloc(n ? n : 1, (size_t)c->h * c->w * px);
    if (n)
        assert_true(H5Dwrite(d, c->pixel, H5S_ALL, H5S_ALL, H5P_DEFAULT, pix) >= 0);
    free(pix);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);

    uint64_t *u = calloc(n + 1, sizeof *u), *ts = calloc(n + 1, sizeof *ts);
    double *exp = calloc(n + 1, sizeof *exp);
    uint32_t *flags = calloc(n + 1, sizeof *flags);
    for (size_t i = 0; i < n; i++) {
        u[i] = 100 + i;
        ts[i] = c->first_ts + i * 10000000ull;
        exp[i] = 5.0;
    }
    H5Dclose(per_frame(g, "frame_number", H5T_STD_U64LE, n, u));
    H5Dclose(per_frame(g, "sequence", H5T_STD_U64LE, n, u));
    H5Dclose(per_frame(g, "timestamp_hw_ns", H5T_STD_U64LE, n, u));
    H5Dclose(per_frame(g, "timestamp_ns", H5T_STD_U64LE, n, ts));
    H5Dclose(per_frame(g, "exposure_ms", H5T_IEEE_F64LE, n, exp));
    H5Dclose(per_frame(g, "flags", H5T_STD_U32LE, n, flags));
    free(u);
    free(ts);
    free(exp);
    free(flags);

    hsize_t mdims[2] = {0, 3}, mmax[2] = {H5S_UNLIMITED, 3}, mchunk[2] = {64, 3};
    sp = H5Screate_simple(2, mdims, mmax);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 2, mchunk);
    d = H5Dcreate2(g, "missing", H5T_STD_U64LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    assert_true(d >= 0);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);

    hid_t p = H5Gcreate2(g, "parameters", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    double e = 5.0;
    attr_num(p, "exposure_ms", H5T_IEEE_F64LE, &e);
    attr_str(p, "pattern", "gradient", r->fixed_strings);
    H5Gclose(p);
    H5Gclose(g);
}

/* The /entry tree of r in file f (every camera with its frames). */
static void entry_write(hid_t f, const rec_spec *r)
{
    bool fx_ = r->fixed_strings;
    hid_t e = H5Gcreate2(f, "entry", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(e >= 0);
    char buf[64], devices[128] = "";
    attr_str(e, "NX_class", "NXentry", fx_);
    attr_str(e, "name", r->name, fx_);
    attr_str(e, "recording_id", r->id, fx_);
    attr_str(e, "software", r->software ? r->software : "daq", fx_);
    attr_str(e, "software_version", "0.1.0", fx_);
    iso(r->start_ns, buf, sizeof buf);
    attr_str(e, "start_time", buf, fx_);
    attr_u64(e, "start_time_ns", r->start_ns, r);
    if (r->end_ns) {
        iso(r->end_ns, buf, sizeof buf);
        attr_str(e, "end_time", buf, fx_);
        attr_u64(e, "end_time_ns", r->end_ns, r);
    }
    attr_str(e, "scan_id", r->scan_id ? r->scan_id : "", fx_);
    attr_str(e, "run_uid", r->run_uid ? r->run_uid : "", fx_);
    attr_str(e, "compression", "lz4", fx_);
    attr_u64(e, "compression_level", 0, r);
    attr_u64(e, "chunk_size", 4096, r);
    attr_u64(e, "flush_interval_ms", 1000, r);
    for (size_t i = 0; i < 3 && r->cams[i].id; i++)
        fmt(devices + strlen(devices), sizeof devices - strlen(devices), "%s%s", i ? "," : "",
            r->cams[i].id);
    attr_str(e, "devices", devices, fx_);
    if (r->frames_written)
        attr_u64(e, "frames_written", r->frames_written_value, r);
    hid_t m = H5Gcreate2(e, "metadata", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    attr_str(m, "NX_class", "NXcollection", fx_);
    for (size_t i = 0; i < 6 && r->meta[i][0]; i++)
        attr_str(m, r->meta[i][0], r->meta[i][1], fx_);
    H5Gclose(m);
    if (r->end_ns) {
        m = H5Gcreate2(e, "final_metadata", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        attr_str(m, "NX_class", "NXcollection", fx_);
        for (size_t i = 0; i < 4 && r->final_meta[i][0]; i++)
            attr_str(m, r->final_meta[i][0], r->final_meta[i][1], fx_);
        H5Gclose(m);
    }
    for (size_t i = 0; i < 3 && r->cams[i].id; i++)
        camera_write(e, &r->cams[i], r);
    H5Gclose(e);
}

static hid_t file_create_latest(const char *path)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
    hid_t f = H5Fcreate(path, H5F_ACC_EXCL, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    assert_true(f >= 0);
    return f;
}

static void rec_write(const char *path, const rec_spec *r)
{
    hid_t f = file_create_latest(path);
    entry_write(f, r);
    assert_true(H5Fclose(f) >= 0);
}

/* A complete one-camera recording of n 4x6 frames. */
static void simple_write(const char *path, const char *id, const char *name, uint64_t start,
                         unsigned n)
{
    rec_spec r = {.id = id,
                  .name = name,
                  .start_ns = start,
                  .end_ns = start + 2 * S,
                  .frames_written = true,
                  .frames_written_value = n,
                  .cams = {{"cam0", n, 4, 6, H5T_NATIVE_UINT16, start + S / 2}}};
    rec_write(path, &r);
}

static void path_of(char *out, size_t len, const char *dir, const char *rel)
{
    fmt(out, len, "%s/%s", dir, rel);
}

static void text_write(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void mkdirs(const char *root, const char *rel)
{
    char p[2 * PATH_MAX];
    path_of(p, sizeof p, root, rel);
    for (char *s = p + strlen(root) + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            assert_true(mkdir(p, 0750) == 0 || errno == EEXIST);
            *s = c;
            if (!c)
                break;
        }
    }
}

/* ---- cases -------------------------------------------------------------------------- */

/* The populated root of list_newest_first_skipping_others. */
static void populate(const fx *f)
{
    char p[2 * PATH_MAX], q[2 * PATH_MAX];
    mkdirs(f->root, "sub/deeper");
    path_of(p, sizeof p, f->root, "old.h5");
    simple_write(p, "id-old", "old", T0 - 100 * S, 3);
    path_of(p, sizeof p, f->root, "sub/mid.h5");
    simple_write(p, "id-mid", "mid", T0 - 50 * S, 4);
    path_of(p, sizeof p, f->root, "sub/deeper/new.h5");
    simple_write(p, "id-new", "new", T0, 5);

    /* Another program's HDF5 files: no recording_id; software not daq. */
    path_of(p, sizeof p, f->root, "foreign.h5");
    hid_t h = file_create_latest(p);
    hid_t g = H5Gcreate2(h, "entry", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    attr_str(g, "NX_class", "NXentry", false);
    H5Gclose(g);
    H5Fclose(h);
    path_of(p, sizeof p, f->root, "other_sw.h5");
    rec_spec other = {.id = "id-other", .name = "other", .start_ns = T0, .software = "rust-daq"};
    rec_write(p, &other);
    path_of(p, sizeof p, f->root, "plain.h5"); /* default libver: no SWMR */
    h = H5Fcreate(p, H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(h);
    /* Not HDF5 at all. */
    path_of(p, sizeof p, f->root, "x.h5");
    text_write(p, "this is not an HDF5 file\n");
    path_of(p, sizeof p, f->root, "empty.h5");
    text_write(p, "");
    /* A recording not named *.h5. */
    path_of(p, sizeof p, f->root, "named.hdf5");
    simple_write(p, "id-hdf5", "named", T0, 1);
    /* Recordings outside, reachable through symlinks: never followed. */
    path_of(q, sizeof q, f->outside, "out.h5");
    simple_write(q, "id-out", "out", T0 + S, 1);
    path_of(p, sizeof p, f->root, "link.h5");
    assert_int_equal(symlink(q, p), 0);
    path_of(p, sizeof p, f->root, "dirlink");
    assert_int_equal(symlink(f->outside, p), 0);
}

static void list_newest_first_skipping_others(void **state)
{
    fx f;
    fx_init(&f);
    populate(&f);
    daq_acquisition out[8];
    memset(out, 0, sizeof out);
    size_t total = daq_catalog_list(f.root, NULL, out, 8);
    assert_int_equal(total, 3);
    assert_string_equal(out[0].acquisition_id, "id-new");
    assert_string_equal(out[1].acquisition_id, "id-mid");
    assert_string_equal(out[2].acquisition_id, "id-old");
    assert_string_equal(out[3].acquisition_id, "");

    char p[2 * PATH_MAX];
    path_of(p, sizeof p, f.root, "sub/deeper/new.h5");
    const daq_acquisition *a = &out[0];
    assert_string_equal(a->name, "new");
    assert_string_equal(a->file_path, p);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(a->file_size_bytes, (uint64_t)st.st_size);
    assert_int_equal(a->created_at_ns, T0);
    assert_int_equal(a->duration_ns, 2 * S);
    assert_int_equal(a->sample_count, 5);
    assert_true(a->complete);
    assert_int_equal(out[1].sample_count, 4);
    assert_int_equal(out[2].created_at_ns, T0 - 100 * S);
    fx_fini(&f);
}

static void read_summary_refuses_non_recordings(void **state)
{
    fx f;
    fx_init(&f);
    populate(&f);
    const char *not_ours[] = {"foreign.h5", "other_sw.h5", "plain.h5",
                              "x.h5",       "empty.h5",    "missing.h5"};
    char p[2 * PATH_MAX];
    daq_acquisition a;
    for (size_t i = 0; i < sizeof not_ours / sizeof not_ours[0]; i++) {
        path_of(p, sizeof p, f.root, not_ours[i]);
        assert_int_equal(daq_catalog_read_summary(p, &a), -1);
    }
    path_of(p, sizeof p, f.root, "named.hdf5"); /* the file itself is a recording */
    assert_int_equal(daq_catalog_read_summary(p, &a), 0);
    assert_string_equal(a.acquisition_id, "id-hdf5");
    fx_fini(&f);
}

static int handler_calls;

static herr_t count_errors(hid_t stack, void *data)
{
    handler_calls++;
    return 0;
}

static void probes_silent_and_handler_restored(void **state)
{
    fx f;
    fx_init(&f);
    populate(&f);
    int token = 0;
    H5Eset_auto2(H5E_DEFAULT, count_errors, &token);
    handler_calls = 0;
    daq_acquisition out[8], a;
    daq_acquisition_info *info = calloc(1, sizeof *info);
    char p[2 * PATH_MAX], err[512];
    assert_int_equal(daq_catalog_list(f.root, NULL, out, 8), 3);
    assert_int_equal(daq_catalog_find(f.root, "nope", &a), -1);
    path_of(p, sizeof p, f.root, "x.h5");
    assert_int_equal(daq_catalog_read_summary(p, &a), -1);
    assert_int_equal(daq_catalog_read_info(p, info, err, sizeof err), -1);
    assert_int_equal(handler_calls, 0);
    H5E_auto2_t fn = NULL;
    void *data = NULL;
    H5Eget_auto2(H5E_DEFAULT, &fn, &data);
    assert_ptr_equal(fn, count_errors);
    assert_ptr_equal(data, &token);
    /* The handler is live again: a failing call of ours reaches it. */
    H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(handler_calls > 0);
    H5Eset_auto2(H5E_DEFAULT, (H5E_auto2_t)H5Eprint2, stderr);
    free(info);
    fx_fini(&f);
}

static void filters_offset_and_limit(void **state)
{
    fx f;
    fx_init(&f);
    char p[2 * PATH_MAX];
    const char *names[] = {"alpha_1", "beta", "alpha_2", "gamma"};
    for (int i = 0; i < 4; i++) {
        char rel[32], id[32];
        fmt(rel, sizeof rel, "r%d.h5", i);
        fmt(id, sizeof id, "id-%d", i);
        path_of(p, sizeof p, f.root, rel);
        simple_write(p, id, names[i], T0 + (uint64_t)i * S, 1); /* id-3 newest */
    }
    daq_acquisition out[8];
    daq_acquisition_filter flt = {.name_pattern = "alpha*"};
    assert_int_equal(daq_catalog_list(f.root, &flt, out, 8), 2);
    assert_string_equal(out[0].name, "alpha_2");
    assert_string_equal(out[1].name, "alpha_1");
    flt = (daq_acquisition_filter){.name_pattern = "?eta"};
    assert_int_equal(daq_catalog_list(f.root, &flt, out, 8), 1);
    assert_string_equal(out[0].name, "beta");
    flt = (daq_acquisition_filter){.name_pattern = "delta"};
    assert_int_equal(daq_catalog_list(f.root, &flt, out, 8), 0);

    /* Bounds are inclusive. */
    flt = (daq_acquisition_filter){.after_ns = T0 + 2 * S};
    assert_int_equal(daq_catalog_list(f.root, &flt, out, 8), 2);
    assert_string_equal(out[0].acquisition_id, "id-3");
    assert_string_equal(out[1].acquisition_id, "id-2");
    flt = (daq_acquisition_filter){.before_ns = T0 + 1 * S};
    assert_int_equal(daq_catalog_list(f.root, &flt, out, 8), 2);
    assert_string_equal(out[0].acquisition_id, "id-1");
    assert_string_equal(out[1].acquisition_id, "id-0");
    flt = (daq_acquisition_filter){.after_ns = T0 + 1, .before_ns = T0 + 2 * S};
    assert_int_equal(daq_catalog_list(f.root, &flt, out, 8), 2);
    assert_string_equal(out[0].acquisition_id, "id-2");

    /* Paging: total counts every match, out gets the page. */
    memset(out, 0, sizeof out);
    flt = (daq_acquisition_filter){.offset = 1, .limit = 2};
    assert_int_equal(daq_catalog_list(f.root, &flt, out, 8), 4);
    assert_string_equal(out[0].acquisition_id, "id-2");
    assert_string_equal(out[1].acquisition_id, "id-1");
    assert_string_equal(out[2].acquisition_id, "");
    flt = (daq_acquisition_filter){.offset = 9};
    memset(out, 0, sizeof out);
    assert_int_equal(daq_catalog_list(f.root, &flt, out, 8), 4);
    assert_string_equal(out[0].acquisition_id, "");
    /* max caps the page below limit. */
    flt = (daq_acquisition_filter){.limit = 3};
    memset(out, 0, sizeof out);
    assert_int_equal(daq_catalog_list(f.root, &flt, out, 1), 4);
    assert_string_equal(out[0].acquisition_id, "id-3");
    assert_string_equal(out[1].acquisition_id, "");
    fx_fini(&f);
}

static void default_limit_is_100(void **state)
{
    fx f;
    fx_init(&f);
    char p[2 * PATH_MAX];
    for (int i = 0; i < 103; i++) {
        char rel[32], id[32];
        fmt(rel, sizeof rel, "r%03d.h5", i);
        fmt(id, sizeof id, "id-%03d", i);
        path_of(p, sizeof p, f.root, rel);
        simple_write(p, id, "many", T0 + (uint64_t)i * S, 1);
    }
    daq_acquisition *out = calloc(120, sizeof *out);
    daq_acquisition_filter flt = {0};
    assert_int_equal(daq_catalog_list(f.root, &flt, out, 120), 103);
    assert_string_equal(out[0].acquisition_id, "id-102");
    assert_string_equal(out[99].acquisition_id, "id-003");
    assert_string_equal(out[100].acquisition_id, "");
    free(out);
    fx_fini(&f);
}

static void depth_limited_to_8_levels(void **state)
{
    fx f;
    fx_init(&f);
    char p[2 * PATH_MAX];
    mkdirs(f.root, "1/2/3/4/5/6/7/8/9");
    path_of(p, sizeof p, f.root, "1/2/3/4/5/6/7/8/at8.h5");
    simple_write(p, "id-8", "at8", T0, 1);
    path_of(p, sizeof p, f.root, "1/2/3/4/5/6/7/8/9/at9.h5");
    simple_write(p, "id-9", "at9", T0 + S, 1);
    daq_acquisition out[4];
    assert_int_equal(daq_catalog_list(f.root, NULL, out, 4), 1);
    assert_string_equal(out[0].acquisition_id, "id-8");
    daq_acquisition a;
    assert_int_equal(daq_catalog_find(f.root, "id-9", &a), -1);
    fx_fini(&f);
}

static void find_by_id(void **state)
{
    fx f;
    fx_init(&f);
    populate(&f);
    daq_acquisition a;
    char p[2 * PATH_MAX];
    assert_int_equal(daq_catalog_find(f.root, "id-mid", &a), 0);
    path_of(p, sizeof p, f.root, "sub/mid.h5");
    assert_string_equal(a.file_path, p);
    assert_string_equal(a.name, "mid");
    assert_int_equal(a.sample_count, 4);
    assert_int_equal(daq_catalog_find(f.root, "id-out", &a), -1);   /* via symlink only */
    assert_int_equal(daq_catalog_find(f.root, "id-hdf5", &a), -1);  /* not *.h5 */
    assert_int_equal(daq_catalog_find(f.root, "id-other", &a), -1); /* not daq's */
    assert_int_equal(daq_catalog_find(f.root, "id-mi", &a), -1);    /* whole ids only */
    assert_int_equal(daq_catalog_find(f.root, "", &a), -1);
    fx_fini(&f);
}

static void unfinished_counts_frames_from_datasets(void **state)
{
    fx f;
    fx_init(&f);
    char p[2 * PATH_MAX];
    path_of(p, sizeof p, f.root, "crash.h5");
    /* Two cameras, no end_time, no frames_written: sample_count is the sum
     * of frame_number lengths, duration reaches the newest timestamp. */
    rec_spec r = {.id = "id-crash",
                  .name = "crash",
                  .start_ns = T0,
                  .fixed_strings = true,
                  .cams = {{"cam0", 7, 4, 6, H5T_NATIVE_UINT16, T0 + S},
                           {"cam1", 5, 2, 2, H5T_NATIVE_UINT8, T0 + 3 * S}}};
    rec_write(p, &r);
    daq_acquisition a;
    assert_int_equal(daq_catalog_read_summary(p, &a), 0);
    assert_false(a.complete);
    assert_int_equal(a.sample_count, 12);
    /* cam1's last frame: T0 + 3 s + 4 * 10 ms. */
    assert_int_equal(a.duration_ns, 3 * S + 40000000ull);
    assert_int_equal(a.created_at_ns, T0);

    /* frames_written, when there, is the answer (the recorder's count). */
    path_of(p, sizeof p, f.root, "done.h5");
    r.id = "id-done";
    r.end_ns = T0 + 10 * S;
    r.frames_written = true;
    r.frames_written_value = 99;
    rec_write(p, &r);
    assert_int_equal(daq_catalog_read_summary(p, &a), 0);
    assert_true(a.complete);
    assert_int_equal(a.sample_count, 99);
    assert_int_equal(a.duration_ns, 10 * S);
    fx_fini(&f);
}

static void numbers_stored_as_strings_read(void **state)
{
    fx f;
    fx_init(&f);
    char p[2 * PATH_MAX];
    path_of(p, sizeof p, f.root, "s.h5");
    rec_spec r = {.id = "id-s",
                  .name = "s",
                  .start_ns = T0 + 123456789,
                  .end_ns = T0 + 5 * S,
                  .frames_written = true,
                  .frames_written_value = 42,
                  .numbers_as_strings = true,
                  .cams = {{"cam0", 1, 2, 2, H5T_NATIVE_UINT16, T0}}};
    rec_write(p, &r);
    daq_acquisition a;
    assert_int_equal(daq_catalog_read_summary(p, &a), 0);
    assert_int_equal(a.created_at_ns, T0 + 123456789);
    assert_int_equal(a.duration_ns, 5 * S - 123456789);
    assert_int_equal(a.sample_count, 42);
    fx_fini(&f);
}

static void info_describes_the_file(void **state)
{
    fx f;
    fx_init(&f);
    char p[2 * PATH_MAX], err[512] = "";
    path_of(p, sizeof p, f.root, "info.h5");
    rec_spec r = {.id = "id-info",
                  .name = "info run",
                  .start_ns = T0,
                  .end_ns = T0 + 3 * S,
                  .frames_written = true,
                  .frames_written_value = 5,
                  .scan_id = "scan-7",
                  .run_uid = "uid-42",
                  .meta = {{"sample", "quartz"}, {"devices", "cam0,cam1"}, {"operator", "ada"}},
                  .final_meta = {{"result", "ok"}, {"operator", "grace"}},
                  .cams = {{"cam0", 3, 4, 6, H5T_NATIVE_UINT16, T0 + S},
                           {"cam1", 2, 8, 2, H5T_NATIVE_UINT8, T0 + S}}};
    rec_write(p, &r);
    daq_acquisition_info *info = calloc(1, sizeof *info);
    assert_int_equal(daq_catalog_read_info(p, info, err, sizeof err), 0);
    assert_string_equal(info->summary.acquisition_id, "id-info");
    assert_string_equal(info->summary.name, "info run");
    assert_int_equal(info->summary.sample_count, 5);
    assert_string_equal(info->scan_id, "scan-7");
    assert_string_equal(info->run_uid, "uid-42");
    assert_string_equal(info->compression, "lz4");
    assert_int_equal(info->chunk_size, 4096);

    /* Groups by name under /entry, then each one's subgroups. */
    const char *groups[] = {"/entry",
                            "/entry/cam0",
                            "/entry/cam0/parameters",
                            "/entry/cam1",
                            "/entry/cam1/parameters",
                            "/entry/final_metadata",
                            "/entry/metadata"};
    assert_int_equal(info->n_groups, 7);
    for (size_t i = 0; i < 7; i++)
        assert_string_equal(info->groups[i], groups[i]);

    /* Datasets by name within each camera. */
    struct {
        const char *name, *dtype, *dev;
        unsigned rank;
        uint64_t shape[3];
    } want[] = {
        {"/entry/cam0/data", "uint16", "cam0", 3, {3, 4, 6}},
        {"/entry/cam0/exposure_ms", "float64", "cam0", 1, {3}},
        {"/entry/cam0/flags", "uint32", "cam0", 1, {3}},
        {"/entry/cam0/frame_number", "uint64", "cam0", 1, {3}},
        {"/entry/cam0/missing", "uint64", "cam0", 2, {0, 3}},
        {"/entry/cam0/sequence", "uint64", "cam0", 1, {3}},
        {"/entry/cam0/timestamp_hw_ns", "uint64", "cam0", 1, {3}},
        {"/entry/cam0/timestamp_ns", "uint64", "cam0", 1, {3}},
        {"/entry/cam1/data", "uint8", "cam1", 3, {2, 8, 2}},
    };
    assert_int_equal(info->n_datasets, 16);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const daq_dataset_info *d = &info->datasets[i];
        assert_string_equal(d->name, want[i].name);
        assert_string_equal(d->dtype, want[i].dtype);
        assert_string_equal(d->device_id, want[i].dev);
        assert_int_equal(d->rank, want[i].rank);
        for (unsigned k = 0; k < d->rank; k++)
            assert_int_equal(d->shape[k], want[i].shape[k]);
        assert_int_equal(d->sample_count, want[i].shape[0]);
    }
    /* cam0: 3*4*6 + 6 per-frame * 3 + 0; cam1: 2*8*2 + 6 * 2 + 0. */
    assert_int_equal(info->total_elements, 72 + 18 + 32 + 12);

    /* Metadata by name, final_metadata after it, a final value replacing;
     * the groups' NX_class is not the client's. */
    const char *mk[] = {"devices", "operator", "sample", "result"};
    const char *mv[] = {"cam0,cam1", "grace", "quartz", "ok"};
    assert_int_equal(info->n_metadata, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(info->meta_key[i], mk[i]);
        assert_string_equal(info->meta_value[i], mv[i]);
    }

    /* Not a recording: messages name the file. */
    char want_err[3 * PATH_MAX];
    path_of(p, sizeof p, f.root, "x.h5");
    text_write(p, "garbage");
    assert_int_equal(daq_catalog_read_info(p, info, err, sizeof err), -1);
    fmt(want_err, sizeof want_err, "%s: not an HDF5 file", p);
    assert_string_equal(err, want_err);
    path_of(p, sizeof p, f.root, "foreign.h5");
    H5Fclose(file_create_latest(p));
    assert_int_equal(daq_catalog_read_info(p, info, err, sizeof err), -1);
    fmt(want_err, sizeof want_err, "%s: not a daq recording", p);
    assert_string_equal(err, want_err);
    free(info);
    fx_fini(&f);
}

/* Extends the 1-D dataset name of g by one element v. */
static void append_u64(hid_t g, const char *name, uint64_t v)
{
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    hid_t sp = H5Dget_space(d);
    hsize_t n, one = 1;
    H5Sget_simple_extent_dims(sp, &n, NULL);
    H5Sclose(sp);
    hsize_t nn = n + 1;
    assert_true(H5Dset_extent(d, &nn) >= 0);
    sp = H5Dget_space(d);
    H5Sselect_hyperslab(sp, H5S_SELECT_SET, &n, NULL, &one, NULL);
    hid_t ms = H5Screate_simple(1, &one, NULL);
    assert_true(H5Dwrite(d, H5T_NATIVE_UINT64, ms, sp, H5P_DEFAULT, &v) >= 0);
    H5Sclose(ms);
    H5Sclose(sp);
    H5Dclose(d);
}

/* What a recorder killed by SIGKILL leaves: written in SWMR mode, flushed,
 * never closed.  A plain open fails; the catalogue still lists it. */
static void killed_swmr_writer_listed_incomplete(void **state)
{
    fx f;
    fx_init(&f);
    char p[2 * PATH_MAX];
    path_of(p, sizeof p, f.root, "killed.h5");
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        rec_spec r = {.id = "id-killed",
                      .name = "killed",
                      .start_ns = T0,
                      .cams = {{"cam0", 2, 4, 6, H5T_NATIVE_UINT16, T0 + S}}};
        hid_t h = file_create_latest(p);
        entry_write(h, &r);
        if (H5Fstart_swmr_write(h) < 0)
            _exit(3);
        hid_t g = H5Gopen2(h, "/entry/cam0", H5P_DEFAULT);
        for (int i = 0; i < 3; i++) {
            append_u64(g, "frame_number", 102 + (uint64_t)i);
            append_u64(g, "timestamp_ns", T0 + 2 * S + (uint64_t)i * S);
        }
        H5Gclose(g);
        if (H5Fflush(h, H5F_SCOPE_GLOBAL) < 0)
            _exit(4);
        raise(SIGKILL);
        _exit(5);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);

    H5E_auto2_t fn;
    void *data;
    H5Eget_auto2(H5E_DEFAULT, &fn, &data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t plain = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    H5Eset_auto2(H5E_DEFAULT, fn, data);
    assert_true(plain < 0); /* "file is already open for write" */

    daq_acquisition out[2];
    assert_int_equal(daq_catalog_list(f.root, NULL, out, 2), 1);
    assert_string_equal(out[0].acquisition_id, "id-killed");
    assert_false(out[0].complete);
    assert_int_equal(out[0].sample_count, 5);
    assert_int_equal(out[0].duration_ns, 4 * S); /* last timestamp T0 + 4 s */
    fx_fini(&f);
}

/* The recording in progress: the recorder in this process has the file
 * open in SWMR-write mode while ListAcquisitions runs. */
static void open_for_writing_in_process_listed(void **state)
{
    fx f;
    fx_init(&f);
    char p[2 * PATH_MAX];
    path_of(p, sizeof p, f.root, "live.h5");
    rec_spec r = {.id = "id-live",
                  .name = "live",
                  .start_ns = T0,
                  .cams = {{"cam0", 1, 4, 6, H5T_NATIVE_UINT16, T0 + S}}};
    hid_t h = file_create_latest(p);
    entry_write(h, &r);
    assert_true(H5Fstart_swmr_write(h) >= 0);
    hid_t g = H5Gopen2(h, "/entry/cam0", H5P_DEFAULT);
    append_u64(g, "frame_number", 101);
    append_u64(g, "timestamp_ns", T0 + 3 * S);
    assert_true(H5Fflush(h, H5F_SCOPE_GLOBAL) >= 0);

    daq_acquisition out[2];
    assert_int_equal(daq_catalog_list(f.root, NULL, out, 2), 1);
    assert_string_equal(out[0].acquisition_id, "id-live");
    assert_false(out[0].complete);
    assert_int_equal(out[0].sample_count, 2);
    assert_int_equal(out[0].duration_ns, 3 * S);

    /* The writer carries on after the catalogue looked. */
    append_u64(g, "frame_number", 102);
    append_u64(g, "timestamp_ns", T0 + 4 * S);
    H5Gclose(g);
    assert_true(H5Fclose(h) >= 0);
    daq_acquisition a;
    assert_int_equal(daq_catalog_read_summary(p, &a), 0);
    assert_int_equal(a.sample_count, 3);
    fx_fini(&f);
}

/* A recording this process has open read-write without SWMR (as while the
 * recorder finalises it): the catalogue's read-only open shares it. */
static void open_without_swmr_in_process_listed(void **state)
{
    fx f;
    fx_init(&f);
    char p[2 * PATH_MAX];
    path_of(p, sizeof p, f.root, "final.h5");
    simple_write(p, "id-final", "final", T0, 6);
    hid_t h = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(h >= 0);
    daq_acquisition out[2];
    assert_int_equal(daq_catalog_list(f.root, NULL, out, 2), 1);
    assert_string_equal(out[0].acquisition_id, "id-final");
    assert_int_equal(out[0].sample_count, 6);
    assert_true(H5Fclose(h) >= 0);
    fx_fini(&f);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(list_newest_first_skipping_others),
    cmocka_unit_test(read_summary_refuses_non_recordings),
    cmocka_unit_test(probes_silent_and_handler_restored),
    cmocka_unit_test(filters_offset_and_limit),
    cmocka_unit_test(default_limit_is_100),
    cmocka_unit_test(depth_limited_to_8_levels),
    cmocka_unit_test(find_by_id),
    cmocka_unit_test(unfinished_counts_frames_from_datasets),
    cmocka_unit_test(numbers_stored_as_strings_read),
    cmocka_unit_test(info_describes_the_file),
    cmocka_unit_test(killed_swmr_writer_listed_incomplete),
    cmocka_unit_test(open_for_writing_in_process_listed),
    cmocka_unit_test(open_without_swmr_in_process_listed),
};

DAQ_TEST_MAIN("catalog", tests)
