/* storage/catalog.c - the daemon's recordings, read back from the files.
 *
 * Every call walks the root afresh (catalog.h says why nothing is cached).
 * The walk opens each directory with openat(O_NOFOLLOW | O_DIRECTORY)
 * relative to its verified parent and looks at entries with
 * fstatat(AT_SYMLINK_NOFOLLOW): a symlink, to a file or to a directory, is
 * never followed, so the catalogue cannot list (nor DeleteAcquisition
 * reach) a file outside the root.  It descends 8 levels below the root and
 * stops after DAQ_CATALOG_MAX_FILES regular files named *.h5 (daq's or not),
 * which bounds one ListAcquisitions: a summary costs ~0.3 ms per file
 * (1000 small recordings on ext4, warm cache: 0.31-0.36 s, of which the
 * open and close are 0.09 ms and zeroing libhdf5's 512 KiB metadata cache
 * index a sixth), so ~3 s at the cap.
 *
 * A file is a recording when /entry has software = "daq" and a non-empty
 * recording_id; anything else (another program's HDF5, a truncated file,
 * garbage named *.h5) is skipped quietly: HDF5's automatic error printing
 * is switched off around the probes and restored after (the error stack
 * and its handler are per thread in the thread-safe libhdf5).
 *
 * Summary fields (daq_acquisition):
 *   created_at_ns  start_time_ns; else start_time parsed; else the mtime
 *   complete       end_time present (a crash or a recording in progress
 *                  leaves it out)
 *   duration_ns    end_time_ns - start_time_ns when complete; otherwise the
 *                  newest timestamp_ns of any camera - start_time_ns (what
 *                  the file holds so far), 0 when there is none
 *   sample_count   frames_written (written at stop); otherwise the sum of
 *                  the cameras' frame_number lengths
 * Attributes are read whatever their HDF5 type: fixed or variable length
 * strings, integers or floats (printed) -- h5py and C writers differ.
 *
 * Lists are newest first (created_at_ns, then path); name_pattern is an
 * fnmatch(3) glob on the name, after_ns and before_ns bound created_at_ns
 * inclusively.  Info: groups are /entry and its subgroups and their
 * subgroups (at most 16, by name); datasets are those directly under
 * /entry and under its subgroups (at most DAQ_STORAGE_MAX_DATASETS, all
 * counted in total_elements); metadata is /entry/metadata's attributes then
 * /entry/final_metadata's, a final value replacing an earlier one of the
 * same key, NX_class (the groups' NeXus tag) left out (at most
 * DAQ_STORAGE_MAX_META).  read_info's messages: "PATH: not an HDF5 file",
 * "PATH: not a daq recording".
 *
 * Files are opened H5F_ACC_RDONLY | H5F_ACC_SWMR_READ with the default file
 * access properties (the close degree must match the recorder's when it
 * has the same file open in this process), then plain RDONLY should that
 * be refused (libhdf5 1.10.8 accepts it for older superblocks and for files
 * this process has open with or without SWMR; the fallback is for other
 * versions).  Every object opened is closed before H5Fclose, so the file
 * is really closed.
 */
#include "storage/catalog.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <hdf5.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/err.h"

#define CATALOG_MAX_DEPTH 8   /* directory levels below the root */
#define DEFAULT_LIMIT     100 /* ListAcquisitions' default limit */
#define MAX_GROUPS                                                                                 \
    (sizeof(((daq_acquisition_info *)0)->groups) / sizeof(((daq_acquisition_info *)0)->groups[0]))

/* ---- HDF5 probes ------------------------------------------------------------------ */

typedef struct quiet {
    H5E_auto2_t func;
    void *data;
} quiet;

static void quiet_begin(quiet *q)
{
    q->func = NULL;
    q->data = NULL;
    H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void quiet_end(const quiet *q)
{
    H5Eset_auto2(H5E_DEFAULT, q->func, q->data);
}

static hid_t file_open(const char *path)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, H5P_DEFAULT);
    if (f < 0)
        f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    return f;
}

/* Opens loc/name when it is a hard link to an object of type want (an
 * external or soft link could lead out of the file); -1 otherwise. */
static hid_t child_open(hid_t loc, const char *name, H5I_type_t want)
{
    H5L_info_t li;
    if (H5Lget_info(loc, name, &li, H5P_DEFAULT) < 0 || li.type != H5L_TYPE_HARD)
        return -1;
    hid_t o = H5Oopen(loc, name, H5P_DEFAULT);
    if (o < 0)
        return -1;
    if (H5Iget_type(o) != want) {
        H5Oclose(o);
        return -1;
    }
    return o;
}

/* Prints a double with the fewest digits that read back the same. */
static void print_double(double v, char *out, size_t out_len)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, out_len, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

/* A one-element attribute as text: strings as stored, numbers printed.
 * 0, or -1 (out "") for anything else. */
static int attr_text(hid_t a, char *out, size_t out_len)
{
    int rc = -1;
    out[0] = '\0';
    hid_t t = H5Aget_type(a);
    hid_t sp = H5Aget_space(a);
    if (t < 0 || sp < 0 || H5Sget_simple_extent_npoints(sp) != 1)
        goto done;
    switch (H5Tget_class(t)) {
    case H5T_STRING: {
        hid_t mt = H5Tcopy(H5T_C_S1);
        if (mt < 0)
            break;
        if (H5Tis_variable_str(t) > 0) {
            char *s = NULL;
            H5Tset_size(mt, H5T_VARIABLE);
            H5Tset_cset(mt, H5Tget_cset(t));
            if (H5Aread(a, mt, &s) >= 0) {
                snprintf(out, out_len, "%s", s ? s : "");
                rc = 0;
            }
            if (s)
                H5free_memory(s);
        } else {
            size_t n = H5Tget_size(t);
            char *buf = calloc(1, n + 1);
            H5Tset_size(mt, n + 1);
            H5Tset_strpad(mt, H5T_STR_NULLTERM);
            H5Tset_cset(mt, H5Tget_cset(t));
            if (buf && H5Aread(a, mt, buf) >= 0) {
                snprintf(out, out_len, "%s", buf);
                rc = 0;
            }
            free(buf);
        }
        H5Tclose(mt);
        break;
    }
    case H5T_INTEGER:
        if (H5Tget_sign(t) == H5T_SGN_NONE) {
            uint64_t v;
            if (H5Aread(a, H5T_NATIVE_UINT64, &v) >= 0) {
                snprintf(out, out_len, "%" PRIu64, v);
                rc = 0;
            }
        } else {
            int64_t v;
            if (H5Aread(a, H5T_NATIVE_INT64, &v) >= 0) {
                snprintf(out, out_len, "%" PRId64, v);
                rc = 0;
            }
        }
        break;
    case H5T_FLOAT: {
        double v;
        if (H5Aread(a, H5T_NATIVE_DOUBLE, &v) >= 0) {
            print_double(v, out, out_len);
            rc = 0;
        }
        break;
    }
    default: break;
    }
done:
    if (sp >= 0)
        H5Sclose(sp);
    if (t >= 0)
        H5Tclose(t);
    return rc;
}

/* obj's attribute name as text; 0, or -1 (out "") when absent. */
static int attr_get_str(hid_t obj, const char *name, char *out, size_t out_len)
{
    out[0] = '\0';
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT); /* errors are quiet here */
    if (a < 0)
        return -1;
    int rc = attr_text(a, out, out_len);
    H5Aclose(a);
    return rc;
}

/* obj's attribute name as an unsigned number, whatever it is stored as. */
static int attr_get_u64(hid_t obj, const char *name, uint64_t *v)
{
    char buf[64], *end;
    if (attr_get_str(obj, name, buf, sizeof buf) != 0 || !buf[0] || buf[0] == '-')
        return -1;
    errno = 0;
    unsigned long long u = strtoull(buf, &end, 10);
    if (*end == '\0' && errno == 0) {
        *v = u;
        return 0;
    }
    double d = strtod(buf, &end);
    if (*end != '\0' || !(d >= 0) || d >= 18446744073709551616.0)
        return -1;
    *v = (uint64_t)d;
    return 0;
}

/* "2026-12-04T23:40:00.123456Z" -> ns since the epoch; 0 if malformed. */
static uint64_t iso_parse_ns(const char *s)
{
    struct tm tm = {0};
    int consumed = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &consumed) != 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    if (t < 0)
        return 0;
    uint64_t frac = 0, scale = 1000000000ull;
    const char *p = s + consumed;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            if (scale > 1) {
                scale /= 10;
                frac += (uint64_t)(*p - '0') * scale;
            }
    return (uint64_t)t * 1000000000ull + frac;
}

/* Length of the first dimension of dataset name in g; 0 or -1. */
static int dataset_len(hid_t g, const char *name, uint64_t *len)
{
    hid_t d = child_open(g, name, H5I_DATASET);
    if (d < 0)
        return -1;
    int rc = -1;
    hid_t sp = H5Dget_space(d);
    hsize_t dims[H5S_MAX_RANK];
    if (sp >= 0 && H5Sget_simple_extent_ndims(sp) >= 1 &&
        H5Sget_simple_extent_dims(sp, dims, NULL) >= 1) {
        *len = dims[0];
        rc = 0;
    }
    if (sp >= 0)
        H5Sclose(sp);
    H5Dclose(d);
    return rc;
}

/* The last element of the 1-D dataset name in g as u64; 0 or -1. */
static int dataset_last_u64(hid_t g, const char *name, uint64_t *v)
{
    hid_t d = child_open(g, name, H5I_DATASET);
    if (d < 0)
        return -1;
    int rc = -1;
    hid_t sp = H5Dget_space(d), ms = -1;
    hsize_t n, one = 1;
    if (sp < 0 || H5Sget_simple_extent_ndims(sp) != 1 ||
        H5Sget_simple_extent_dims(sp, &n, NULL) != 1 || n == 0)
        goto done;
    hsize_t last = n - 1;
    ms = H5Screate_simple(1, &one, NULL);
    if (ms >= 0 && H5Sselect_hyperslab(sp, H5S_SELECT_SET, &last, NULL, &one, NULL) >= 0 &&
        H5Dread(d, H5T_NATIVE_UINT64, ms, sp, H5P_DEFAULT, v) >= 0)
        rc = 0;
done:
    if (ms >= 0)
        H5Sclose(ms);
    if (sp >= 0)
        H5Sclose(sp);
    H5Dclose(d);
    return rc;
}

/* Name of the idx-th link of g by name; false when it does not fit. */
static bool link_name(hid_t g, hsize_t idx, char *out, size_t out_len)
{
    ssize_t n =
        H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, idx, out, out_len, H5P_DEFAULT);
    return n > 0 && (size_t)n < out_len;
}

/* Frames in the cameras' groups (frame_number lengths) and the newest
 * host timestamp among them. */
static void cameras_scan(hid_t entry, uint64_t *frames, uint64_t *last_ts)
{
    H5G_info_t gi;
    if (H5Gget_info(entry, &gi) < 0)
        return;
    for (hsize_t i = 0; i < gi.nlinks; i++) {
        char name[256];
        if (!link_name(entry, i, name, sizeof name))
            continue;
        hid_t g = child_open(entry, name, H5I_GROUP);
        if (g < 0)
            continue;
        uint64_t len, ts;
        if (dataset_len(g, "frame_number", &len) == 0)
            *frames += len;
        if (dataset_last_u64(g, "timestamp_ns", &ts) == 0 && ts > *last_ts)
            *last_ts = ts;
        H5Oclose(g);
    }
}

/* The summary of open file f.  0; 1 when want_id is set and the file is
 * another recording; -1 when it is not a daq recording. */
static int summary_read(hid_t f, const char *path, const char *want_id, daq_acquisition *out)
{
    /* A cut path would name another file (DeleteAcquisition unlinks it). */
    if (strlen(path) >= sizeof out->file_path)
        return -1;
    hid_t entry = child_open(f, "entry", H5I_GROUP);
    if (entry < 0)
        return -1;
    int rc = -1;
    char buf[256];
    if (attr_get_str(entry, "software", buf, sizeof buf) != 0 || strcmp(buf, "daq") != 0)
        goto done;
    if (attr_get_str(entry, "recording_id", buf, sizeof buf) != 0 || !buf[0] ||
        strlen(buf) >= sizeof out->acquisition_id)
        goto done;
    if (want_id && strcmp(buf, want_id) != 0) {
        rc = 1;
        goto done;
    }
    memset(out, 0, sizeof *out);
    memcpy(out->acquisition_id, buf, strlen(buf) + 1);
    attr_get_str(entry, "name", out->name, sizeof out->name);
    strcpy(out->file_path, path);
    struct stat st;
    bool have_stat = stat(path, &st) == 0;
    if (have_stat)
        out->file_size_bytes = (uint64_t)st.st_size;

    uint64_t start = 0, end = 0;
    if (attr_get_u64(entry, "start_time_ns", &start) != 0 || start == 0) {
        start = attr_get_str(entry, "start_time", buf, sizeof buf) == 0 ? iso_parse_ns(buf) : 0;
        if (start == 0 && have_stat)
            start = (uint64_t)st.st_mtim.tv_sec * 1000000000ull + (uint64_t)st.st_mtim.tv_nsec;
    }
    out->created_at_ns = start;
    out->complete = attr_get_str(entry, "end_time", buf, sizeof buf) == 0;
    if (out->complete && attr_get_u64(entry, "end_time_ns", &end) != 0)
        end = iso_parse_ns(buf);

    uint64_t frames = 0, last_ts = 0;
    bool have_frames = attr_get_u64(entry, "frames_written", &frames) == 0;
    if (!have_frames || !out->complete) {
        uint64_t counted = 0;
        cameras_scan(entry, &counted, &last_ts);
        if (!have_frames)
            frames = counted;
    }
    out->sample_count = frames;
    if (out->complete)
        out->duration_ns = end > start ? end - start : 0;
    else
        out->duration_ns = last_ts > start ? last_ts - start : 0;
    rc = 0;
done:
    H5Oclose(entry);
    return rc;
}

static int probe(const char *path, const char *want_id, daq_acquisition *out)
{
    hid_t f = file_open(path);
    if (f < 0)
        return -1;
    int rc = summary_read(f, path, want_id, out);
    H5Fclose(f);
    return rc;
}

int daq_catalog_read_summary(const char *path, daq_acquisition *out)
{
    quiet q;
    quiet_begin(&q);
    int rc = probe(path, NULL, out);
    quiet_end(&q);
    return rc;
}

/* ---- walking the root ---------------------------------------------------------------- */

typedef struct walker {
    int (*visit)(const char *path, void *arg); /* nonzero stops the walk */
    void *arg;
    size_t files; /* *.h5 seen */
    bool stop;
    char path[PATH_MAX];
} walker;

static bool is_h5(const char *name)
{
    size_t n = strlen(name);
    return n > 3 && strcmp(name + n - 3, ".h5") == 0;
}

/* Walks the directory open as dfd (taken), whose path is w->path[0..len). */
static void walk_dir(walker *w, int dfd, size_t len, int depth)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return;
    }
    struct dirent *e;
    while (!w->stop && (e = readdir(d)) != NULL) {
        const char *nm = e->d_name;
        if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0)
            continue;
        struct stat st;
        size_t nl = strlen(nm);
        if (len + 1 + nl >= sizeof w->path || fstatat(dirfd(d), nm, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        w->path[len] = '/';
        memcpy(w->path + len + 1, nm, nl + 1);
        if (S_ISDIR(st.st_mode) && depth < CATALOG_MAX_DEPTH) {
            int fd = openat(dirfd(d), nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd >= 0)
                walk_dir(w, fd, len + 1 + nl, depth + 1);
        } else if (S_ISREG(st.st_mode) && is_h5(nm)) {
            if (++w->files > DAQ_CATALOG_MAX_FILES)
                w->stop = true;
            else if (w->visit(w->path, w->arg) != 0)
                w->stop = true;
        }
        w->path[len] = '\0';
    }
    closedir(d);
}

static void walk(const char *root, int (*visit)(const char *, void *), void *arg)
{
    walker *w = calloc(1, sizeof *w);
    if (!w)
        return;
    w->visit = visit;
    w->arg = arg;
    /* "/" as root: children are "/x", not "//x". */
    size_t len = strcmp(root, "/") == 0 ? 0 : strlen(root);
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (len < sizeof w->path && fd >= 0) {
        memcpy(w->path, root, len);
        w->path[len] = '\0';
        walk_dir(w, fd, len, 0);
    } else if (fd >= 0) {
        close(fd);
    }
    free(w);
}

/* ---- list and find ----------------------------------------------------------------- */

typedef struct lister {
    const daq_acquisition_filter *filter;
    daq_acquisition *v;
    size_t n, cap;
} lister;

static bool filter_match(const daq_acquisition_filter *f, const daq_acquisition *a)
{
    if (!f)
        return true;
    if (f->name_pattern && fnmatch(f->name_pattern, a->name, 0) != 0)
        return false;
    if (f->after_ns && a->created_at_ns < f->after_ns)
        return false;
    if (f->before_ns && a->created_at_ns > f->before_ns)
        return false;
    return true;
}

static int list_visit(const char *path, void *arg)
{
    lister *l = arg;
    daq_acquisition a;
    if (probe(path, NULL, &a) != 0 || !filter_match(l->filter, &a))
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        daq_acquisition *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return 1; /* list what we have */
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = a;
    return 0;
}

static int newest_first(const void *x, const void *y)
{
    const daq_acquisition *a = x, *b = y;
    if (a->created_at_ns != b->created_at_ns)
        return a->created_at_ns > b->created_at_ns ? -1 : 1;
    return strcmp(a->file_path, b->file_path);
}

size_t daq_catalog_list(const char *root, const daq_acquisition_filter *filter,
                        daq_acquisition *out, size_t max)
{
    lister l = {.filter = filter};
    quiet q;
    quiet_begin(&q);
    walk(root, list_visit, &l);
    quiet_end(&q);
    if (l.n > 1)
        qsort(l.v, l.n, sizeof *l.v, newest_first);
    size_t limit = filter && filter->limit ? filter->limit : DEFAULT_LIMIT;
    size_t offset = filter ? filter->offset : 0;
    if (limit > max)
        limit = max;
    for (size_t i = 0; i < limit && offset + i < l.n; i++)
        out[i] = l.v[offset + i];
    free(l.v);
    return l.n;
}

typedef struct finder {
    const char *id;
    daq_acquisition *out;
    bool found;
} finder;

static int find_visit(const char *path, void *arg)
{
    finder *fd = arg;
    if (probe(path, fd->id, fd->out) != 0)
        return 0;
    fd->found = true;
    return 1;
}

int daq_catalog_find(const char *root, const char *id, daq_acquisition *out)
{
    if (!id || !*id)
        return -1;
    finder fd = {.id = id, .out = out};
    quiet q;
    quiet_begin(&q);
    walk(root, find_visit, &fd);
    quiet_end(&q);
    return fd.found ? 0 : -1;
}

/* ---- info ---------------------------------------------------------------------------- */

static void dtype_name(hid_t t, char *out, size_t out_len)
{
    size_t bits = H5Tget_size(t) * 8;
    switch (H5Tget_class(t)) {
    case H5T_INTEGER:
        snprintf(out, out_len, "%sint%zu", H5Tget_sign(t) == H5T_SGN_NONE ? "u" : "", bits);
        break;
    case H5T_FLOAT: snprintf(out, out_len, "float%zu", bits); break;
    case H5T_STRING: snprintf(out, out_len, "string"); break;
    case H5T_COMPOUND: snprintf(out, out_len, "compound"); break;
    default: snprintf(out, out_len, "unknown"); break;
    }
}

static void group_add(daq_acquisition_info *out, const char *path)
{
    if (out->n_groups < MAX_GROUPS && strlen(path) < sizeof out->groups[0])
        strcpy(out->groups[out->n_groups++], path);
}

/* Describes dataset name of g (group path gpath, device dev). */
static void dataset_add(daq_acquisition_info *out, hid_t g, const char *gpath, const char *name,
                        const char *dev)
{
    hid_t d = child_open(g, name, H5I_DATASET);
    if (d < 0)
        return;
    hid_t sp = H5Dget_space(d), t = H5Dget_type(d);
    hsize_t dims[H5S_MAX_RANK];
    int rank = sp >= 0 ? H5Sget_simple_extent_dims(sp, dims, NULL) : -1;
    if (rank >= 0 && t >= 0) {
        uint64_t elems = 1;
        for (int i = 0; i < rank; i++)
            elems *= dims[i];
        out->total_elements += elems;
        daq_dataset_info *di = &out->datasets[out->n_datasets];
        /* A name that does not fit is left out rather than cut. */
        if (out->n_datasets < DAQ_STORAGE_MAX_DATASETS &&
            strlen(gpath) + 1 + strlen(name) < sizeof di->name &&
            strlen(dev) < sizeof di->device_id) {
            out->n_datasets++;
            strcpy(di->name, gpath);
            strcat(di->name, "/");
            strcat(di->name, name);
            dtype_name(t, di->dtype, sizeof di->dtype);
            di->rank = rank < 3 ? (unsigned)rank : 3;
            for (unsigned i = 0; i < di->rank; i++)
                di->shape[i] = dims[i];
            strcpy(di->device_id, dev);
            di->sample_count = rank > 0 ? dims[0] : 1;
        }
    }
    if (t >= 0)
        H5Tclose(t);
    if (sp >= 0)
        H5Sclose(sp);
    H5Dclose(d);
}

/* The groups and datasets of g (path gpath); recurses once (depth 0: /entry). */
static void structure_scan(daq_acquisition_info *out, hid_t g, const char *gpath, const char *dev,
                           int depth)
{
    H5G_info_t gi;
    if (H5Gget_info(g, &gi) < 0)
        return;
    for (hsize_t i = 0; i < gi.nlinks; i++) {
        char name[256], path[1024];
        if (!link_name(g, i, name, sizeof name))
            continue;
        snprintf(path, sizeof path, "%s/%s", gpath, name);
        hid_t sub = child_open(g, name, H5I_GROUP);
        if (sub >= 0) {
            group_add(out, path);
            if (depth == 0)
                structure_scan(out, sub, path, name, 1);
            H5Oclose(sub);
        } else {
            dataset_add(out, g, gpath, name, dev);
        }
    }
}

static herr_t meta_visit(hid_t loc, const char *name, const H5A_info_t *ai, void *arg)
{
    daq_acquisition_info *out = arg;
    char value[sizeof out->meta_value[0]];
    if (strcmp(name, "NX_class") == 0)
        return 0; /* the recorder's NeXus tag on the group, not the client's */
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0)
        return 0;
    int rc = attr_text(a, value, sizeof value);
    H5Aclose(a);
    if (rc != 0 || strlen(name) >= sizeof out->meta_key[0])
        return 0;
    size_t i = 0;
    while (i < out->n_metadata && strcmp(out->meta_key[i], name) != 0)
        i++;
    if (i == DAQ_STORAGE_MAX_META)
        return 1;
    strcpy(out->meta_key[i], name);
    strcpy(out->meta_value[i], value);
    if (i == out->n_metadata)
        out->n_metadata++;
    return 0;
}

static void metadata_read(daq_acquisition_info *out, hid_t entry, const char *group)
{
    hid_t g = child_open(entry, group, H5I_GROUP);
    if (g < 0)
        return;
    hsize_t idx = 0;
    H5Aiterate2(g, H5_INDEX_NAME, H5_ITER_INC, &idx, meta_visit, out);
    H5Oclose(g);
}

int daq_catalog_read_info(const char *path, daq_acquisition_info *out, char *err, size_t err_len)
{
    memset(out, 0, sizeof *out);
    quiet q;
    quiet_begin(&q);
    int rc = -1;
    hid_t entry = -1, f = file_open(path);
    if (f < 0) {
        daq_err(err, err_len, "%s: not an HDF5 file", path);
        goto done;
    }
    if (summary_read(f, path, NULL, &out->summary) != 0 ||
        (entry = child_open(f, "entry", H5I_GROUP)) < 0) {
        daq_err(err, err_len, "%s: not a daq recording", path);
        goto done;
    }
    attr_get_str(entry, "scan_id", out->scan_id, sizeof out->scan_id);
    attr_get_str(entry, "run_uid", out->run_uid, sizeof out->run_uid);
    attr_get_str(entry, "compression", out->compression, sizeof out->compression);
    uint64_t cs;
    if (attr_get_u64(entry, "chunk_size", &cs) == 0)
        out->chunk_size = cs > UINT32_MAX ? UINT32_MAX : (uint32_t)cs;
    group_add(out, "/entry");
    structure_scan(out, entry, "/entry", "", 0);
    metadata_read(out, entry, "metadata");
    metadata_read(out, entry, "final_metadata");
    rc = 0;
done:
    if (entry >= 0)
        H5Oclose(entry);
    if (f >= 0)
        H5Fclose(f);
    quiet_end(&q);
    return rc;
}
