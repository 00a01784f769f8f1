/* storage/recording.c - one recording (storage/recording.h).
 *
 * The frame path of a recording, per camera:
 *
 *   bus -> DROP_NEWEST subscription (queue) -> writer thread
 *       -> [encoder workers, in parallel]  -> in order -> H5Dwrite_chunk
 *
 * Uncompressed, the writer hands the pool slot's bytes to H5Dwrite_chunk
 * as they are: no copy between the camera's DMA target and the file.
 * Compressed, the writer keeps a ring of jobs (2 per worker); workers
 * encode into buffers allocated once at start, the writer writes the
 * ring's head when it is done, so chunks land in frame order whatever the
 * workers' order.  A frame is unref'd only after its chunk is written.
 *
 * Memory bound: the queue depth is chosen so that queue + jobs in flight +
 * the frame in the writer's hands is at most ceil(max_buffer_bytes / frame
 * bytes) + 1 frames -- the reserve the engine adds to its pool
 * (daq_acq_reserve_frames), so a disk that falls behind fills the queue
 * and the bus drops frames for the recorder alone: the pool is never
 * exhausted, the camera never waits.
 *
 * Per-frame values (frame_number, sequence, timestamps, exposure, flags,
 * and since issue 15 trigger_index and the frame's clocks: 11 u64 per
 * frame) are batched (up to 1024 frames) and appended at each flush, so the
 * on-disk lengths of data and of every per-frame dataset are equal at every
 * flush: what SWMR readers see and what survives a kill -9.  The data
 * dataset's extent grows with every chunk (H5Dwrite_chunk needs it), in
 * memory until the flush.
 *
 * Gaps: the writer sees each frame's delivered sequence (no gaps from the
 * engine) and hardware number.  A jump of d in sequence means the bus
 * dropped d frames for the recorder; a jump of g in hardware number means
 * g frames were missing, of which g - d the camera lost.  Both become
 * rows of `missing` (the recorder's first when both happen in one step:
 * the file cannot know their order) and flags on the next frame.
 *
 * Disk faults (ENOSPC, EIO): the failed chunk's extent is taken back, the
 * recording goes to ERROR with the OS message taken from HDF5's error
 * stack, the writers unsubscribe (the bus stops queueing for them), the
 * datasets are cut back to the last flush and the file is closed.  Closing
 * writes metadata, which a full disk would refuse, leaving a file no reader
 * opens: so every recording keeps a 4 MiB ballast file beside it (hidden,
 * allocated at start) and frees it before closing after a fault.
 * Acquisition never notices.
 *
 * SWMR (HDF5 1.10) forbids creating objects or attributes while writing,
 * so everything is created before H5Fstart_swmr_write, and the closing
 * attributes (end_time, counts, final_metadata) are written after the
 * SWMR file is closed, by reopening it normally.  Each flush ends with
 * fdatasync: a flushed frame survives a power cut, not only a crash.
 *
 * A group recording (params.sync_group, issue 15) also writes, when it
 * finalises, /entry/sync/<group>: the members' frames matched by
 * (trigger_index, rank) (storage/sync_index.c).  The join is computed from
 * the trigger_index datasets read back from the reopened file, not kept
 * during the recording: the writers stay as they were, the index describes
 * exactly the rows the file holds, and it costs 8 bytes per frame per
 * member only while the close runs (the join: ~25 ms for two members of
 * 10^6 frames).  Like the closing attributes it cannot be written under
 * SWMR, and it is skipped after a disk fault (the closing attributes
 * matter more); a file without it can be joined from its datasets.
 */
#define _GNU_SOURCE
#include "storage/recording.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daq/log.h"
#include "storage/codec.h"
#include "storage/sync_index.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/fatal.h"

#define LOG_REC            "daq::storage"
#define BATCH              1024u      /* per-frame values kept between appends */
#define MISSING_BATCH      64u        /* missing rows kept between appends */
#define WAIT_NS            20000000ll /* a writer's longest wait for a frame: 20 ms */
#define MAX_CAMS           16
#define MAX_WORKERS        64
#define FLUSH_SYNC_WAIT_MS 30000u
#define RESERVE_BYTES      (4u << 20) /* metadata written at close after a full disk: KiBs */

enum {
    F_CAMERA_GAP = 1u,
    F_RECORDER_GAP = 2u,
    F_HEAP = 4u,
    F_DISCONTINUITY = 8u,
    F_TRIGGER_EXTRA = 16u, /* beyond frames_per_trigger for its trigger (issue 15) */
};
enum { MISSING_CAMERA = 1, MISSING_RECORDER = 2 };

/* The per-frame datasets, in the order of the batch arrays. */
enum {
    M_FRAME_NUMBER,
    M_SEQUENCE,
    M_TS_HW,
    M_TS,
    M_EXPOSURE,
    M_FLAGS,
    /* ADR 0011 (issue 15): the trigger and the clocks of each frame */
    M_TRIGGER,
    M_CAM_TS,
    M_ARRIVAL_MONO,
    M_ARRIVAL_REAL,
    M_EXPOSURE_START,
    M_COUNT
};
static const char *const meta_names[M_COUNT] = {
    "frame_number",    "sequence",        "timestamp_hw_ns",  "timestamp_ns",
    "exposure_ms",     "flags",           "trigger_index",    "camera_timestamp_ns",
    "arrival_mono_ns", "arrival_real_ns", "exposure_start_ns"};

/* The datasets include_timestamps = false leaves out. */
static bool meta_is_timestamp(int m)
{
    return m == M_TS_HW || m == M_TS || m == M_CAM_TS || m == M_ARRIVAL_MONO ||
           m == M_ARRIVAL_REAL || m == M_EXPOSURE_START;
}

enum { JOB_FREE = 0, JOB_QUEUED, JOB_DONE };

typedef struct rec_cam rec_cam;

typedef struct job {
    rec_cam *cam;
    daq_frame *f;
    void *out;
    size_t cap, len;
    uint32_t flags;   /* the frame's flags (gaps before it) */
    int state;        /* JOB_*, under the recording's q_mu */
    struct job *next; /* in the workers' queue */
} job;

struct rec_cam {
    daq_recording *rec;
    daq_device *dev;
    daq_acq *acq;
    daq_bus *bus;
    daq_sub *sub;
    char id[64];
    daq_camera_format fmt;
    unsigned elem;      /* bytes per pixel */
    size_t chunk_bytes; /* W * H * elem */
    uint32_t depth;     /* queue depth */
    /* file objects and what is in them: under h5_mu */
    hid_t grp, data, meta[M_COUNT], missing;
    uint64_t n_data, n_meta, n_missing;
    uint64_t b_u64[M_COUNT][BATCH]; /* exposure stored as double bits, flags widened */
    size_t nb;
    uint64_t rows[MISSING_BATCH][3];
    size_t nrows;
    /* the writer's own */
    bool have_prev;
    uint64_t prev_seq, prev_hw;
    uint64_t taken;    /* frames accepted for writing (frame limit) */
    uint64_t stop_seq; /* the engine's last delivered sequence at the stop (under mu) */
    job *jobs;
    unsigned n_jobs, head, count;
    pthread_t thread;
    bool joinable;
    /* read by status */
    _Atomic uint64_t written, bytes_in, bytes_out, dropped, lost, inflight;
    _Atomic bool done;
};

struct daq_recording {
    char id[40];
    char path[DAQ_STORAGE_PATH_MAX];
    char reserve[DAQ_STORAGE_PATH_MAX + 16]; /* the ballast file; "" when gone */
    char name[128];
    char scan_id[128];
    char sync_group[64]; /* "" unless a group recording */
    daq_storage_hdf5 hdf5;
    uint32_t flush_interval_ms, test_delay_us;
    uint64_t frame_limit, duration_ms, max_buffer_bytes;
    uint64_t real0, mono0; /* the recording's start on both clocks */

    hid_t file;
    pthread_mutex_t h5_mu;

    rec_cam cams[MAX_CAMS];
    size_t n_cams;

    /* encoders */
    pthread_t workers[MAX_WORKERS];
    unsigned n_workers;
    pthread_mutex_t q_mu;
    pthread_cond_t q_cv;    /* a job was queued, or stop */
    pthread_cond_t done_cv; /* a job was encoded */
    job *q_head, *q_tail;
    bool q_stop;

    /* control: under mu */
    pthread_t ctl;
    bool ctl_joinable;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop_req, finished, ended, closed_ok;
    uint64_t flush_req, flush_done; /* generations */
    uint64_t stop_ns;               /* CLOCK_MONOTONIC: frames ending later are not written */
    uint64_t end_real_ns;
    char error[256];
    _Atomic int state;
    _Atomic bool taking; /* writers accept frames */
    _Atomic bool failed;
    _Atomic bool flushing;
    _Atomic uint64_t flushes, samples_flushed;
    _Atomic uint64_t flush_ns_sum, flush_bucket[DAQ_STORAGE_FLUSH_BUCKETS + 1];
    uint64_t acq_lost0[MAX_CAMS];
};

/* ---- HDF5 helpers ---------------------------------------------------------------------- */

/* The innermost message of the thread's HDF5 error stack; for I/O errors the
 * sec2 driver's "... error message = 'No space left on device'" becomes
 * just the OS text. */
static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    char *buf = data;
    if (!e->desc)
        return 0;
    const char *m = strstr(e->desc, "error message = '");
    if (m) {
        m += strlen("error message = '");
        size_t len = strcspn(m, "'");
        snprintf(buf, 256, "%.*s", (int)len, m);
        return 1; /* the OS text is the best there is */
    }
    if (n == 0 || !buf[0])
        snprintf(buf, 256, "%s", e->desc);
    return 0;
}

static void h5_error_text(char *out, size_t len, const char *what)
{
    char buf[256] = "";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk_cb, buf);
    snprintf(out, len, "%s", buf[0] ? buf : what);
}

static void attr_write(hid_t loc, const char *name, hid_t type, const void *v)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    if (H5Aexists(loc, name) > 0)
        H5Adelete(loc, name);
    hid_t a = H5Acreate2(loc, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) {
        H5Awrite(a, type, v);
        H5Aclose(a);
    }
    H5Sclose(sp);
}

/* Variable-length UTF-8: h5py reads these as str. */
static void attr_str(hid_t loc, const char *name, const char *v)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    attr_write(loc, name, t, &v);
    H5Tclose(t);
}

static void attr_u64(hid_t loc, const char *name, uint64_t v)
{
    attr_write(loc, name, H5T_NATIVE_UINT64, &v);
}

static void attr_i64(hid_t loc, const char *name, int64_t v)
{
    attr_write(loc, name, H5T_NATIVE_INT64, &v);
}

static void attr_f64(hid_t loc, const char *name, double v)
{
    attr_write(loc, name, H5T_NATIVE_DOUBLE, &v);
}

static void iso8601(uint64_t real_ns, char *buf, size_t len)
{
    time_t s = (time_t)(real_ns / 1000000000ull);
    struct tm tm;
    gmtime_r(&s, &tm);
    char day[32];
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%06uZ", day, (unsigned)(real_ns % 1000000000ull / 1000));
}

static hid_t create_group(hid_t loc, const char *name, const char *nx_class)
{
    hid_t g = H5Gcreate2(loc, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g >= 0 && nx_class)
        attr_str(g, "NX_class", nx_class);
    return g;
}

/* An extendable dataset of rank 1 or 2 (second dimension fixed). */
static hid_t create_series(hid_t loc, const char *name, hid_t type, hsize_t cols, hsize_t chunk)
{
    int rank = cols ? 2 : 1;
    hsize_t dims[2] = {0, cols}, max[2] = {H5S_UNLIMITED, cols}, ch[2] = {chunk, cols};
    hid_t sp = H5Screate_simple(rank, dims, max);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, rank, ch);
    hid_t d = H5Dcreate2(loc, name, type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Sclose(sp);
    return d;
}

/* Appends n rows (row_elems values each) of type to an extendable dataset
 * holding *have rows.  0 or -1. */
static int append(hid_t d, hid_t type, uint64_t *have, const void *buf, size_t n, hsize_t row_elems)
{
    if (n == 0)
        return 0;
    int rank = row_elems > 1 ? 2 : 1;
    hsize_t dims[2] = {*have + n, row_elems};
    if (H5Dset_extent(d, dims) < 0)
        return -1;
    hid_t fs = H5Dget_space(d);
    hsize_t off[2] = {*have, 0}, cnt[2] = {n, row_elems};
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, off, NULL, cnt, NULL);
    hid_t ms = H5Screate_simple(rank, cnt, NULL);
    herr_t rc = H5Dwrite(d, type, ms, fs, H5P_DEFAULT, buf);
    H5Sclose(ms);
    H5Sclose(fs);
    if (rc < 0)
        return -1;
    *have += n;
    return 0;
}

/* ---- the ballast --------------------------------------------------------------------------- */

/* ".<file>.reserve" beside the file, RESERVE_BYTES allocated.  0 or -1. */
static int reserve_create(daq_recording *r, char *err, size_t err_len)
{
    const char *slash = strrchr(r->path, '/');
    int dir_len = slash ? (int)(slash - r->path) : 1;
    snprintf(r->reserve, sizeof r->reserve, "%.*s/.%s.reserve", dir_len, slash ? r->path : ".",
             slash ? slash + 1 : r->path);
    int fd = open(r->reserve, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        daq_err(err, err_len, "%s: %s", r->reserve, strerror(errno));
        r->reserve[0] = '\0';
        return -1;
    }
    int e = posix_fallocate(fd, 0, RESERVE_BYTES);
    close(fd);
    if (e != 0) {
        unlink(r->reserve);
        r->reserve[0] = '\0';
        return daq_err(err, err_len, "%s: %s", r->path, strerror(e));
    }
    return 0;
}

static void reserve_release(daq_recording *r)
{
    if (r->reserve[0])
        unlink(r->reserve);
    r->reserve[0] = '\0';
}

/* ---- failure ---------------------------------------------------------------------------- */

/* Puts the recording in ERROR (the first message wins) and tells everyone. */
static void fail(daq_recording *r, const char *msg)
{
    pthread_mutex_lock(&r->mu);
    if (!atomic_load(&r->failed)) {
        snprintf(r->error, sizeof r->error, "%s", msg);
        atomic_store(&r->failed, true);
        atomic_store(&r->state, DAQ_RECORDING_ERROR);
        DAQ_LOG(DAQ_LOG_ERROR, LOG_REC, "recording failed", DAQ_F_STR("recording_id", r->id),
                DAQ_F_STR("path", r->path), DAQ_F_STR("error", msg));
    }
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* ---- the file ------------------------------------------------------------------------------ */

/* Appends the camera's batched per-frame values and missing rows; under
 * h5_mu.  0 or -1 (the error stack says why). */
static int cam_append_batch(rec_cam *c)
{
    for (int m = 0; m < M_COUNT; m++) {
        if (c->meta[m] < 0)
            continue;
        uint64_t have = c->n_meta;
        /* exposure's slots hold doubles; the others widen to u64 (flags
         * narrow back to the file's u32 in the conversion) */
        hid_t mem = m == M_EXPOSURE ? H5T_NATIVE_DOUBLE : H5T_NATIVE_UINT64;
        if (append(c->meta[m], mem, &have, c->b_u64[m], c->nb, 1) != 0)
            return -1;
    }
    c->n_meta += c->nb;
    c->nb = 0;
    if (append(c->missing, H5T_NATIVE_UINT64, &c->n_missing, c->rows, c->nrows, 3) != 0)
        return -1;
    c->nrows = 0;
    return 0;
}

/* Writes one chunk (frame index n_data) and batches its values; under
 * h5_mu.  0, or -1 with the extent taken back and why in why[256] (read
 * before the rollback: every HDF5 call clears the error stack). */
static int cam_write(rec_cam *c, const void *bytes, size_t len, const uint64_t vals[M_COUNT],
                     char *why)
{
    hsize_t dims[3] = {c->n_data + 1, c->fmt.height, c->fmt.width};
    if (H5Dset_extent(c->data, dims) < 0) {
        h5_error_text(why, 256, "cannot extend the dataset");
        return -1;
    }
    hsize_t off[3] = {c->n_data, 0, 0};
    if (H5Dwrite_chunk(c->data, H5P_DEFAULT, 0, off, len, bytes) < 0) {
        h5_error_text(why, 256, "chunk write failed");
        dims[0] = c->n_data;
        H5Dset_extent(c->data, dims);
        return -1;
    }
    c->n_data++;
    for (int m = 0; m < M_COUNT; m++)
        c->b_u64[m][c->nb] = vals[m];
    c->nb++;
    if ((c->nb == BATCH || c->nrows == MISSING_BATCH) && cam_append_batch(c) != 0) {
        h5_error_text(why, 256, "cannot append per-frame values");
        return -1;
    }
    return 0;
}

static void cam_describe(rec_cam *c, bool params)
{
    daq_camera *cam = daq_device_camera(c->dev);
    attr_str(c->grp, "device_id", c->id);
    attr_str(c->grp, "name", daq_device_name(c->dev));
    attr_str(c->grp, "driver", daq_device_driver(c->dev));
    attr_u64(c->grp, "width", c->fmt.width);
    attr_u64(c->grp, "height", c->fmt.height);
    attr_u64(c->grp, "bit_depth", c->fmt.bit_depth);
    attr_f64(c->grp, "exposure_ms", c->fmt.exposure_ms);
    attr_f64(c->grp, "frame_rate_hz", c->fmt.frame_rate_hz);
    if (!params || !cam)
        return;
    hid_t g = create_group(c->grp, "parameters", "NXcollection");
    if (g < 0)
        return;
    daq_param_desc descs[DAQ_CAMERA_MAX_PARAMS];
    size_t n = daq_camera_params_snapshot(cam, descs, DAQ_CAMERA_MAX_PARAMS);
    for (size_t i = 0; i < n && i < DAQ_CAMERA_MAX_PARAMS; i++) {
        daq_param_value v;
        if (daq_camera_get_param(cam, descs[i].name, &v, NULL, 0) != 0)
            continue;
        switch (v.type) {
        case DAQ_PARAM_BOOL: attr_i64(g, descs[i].name, v.b); break;
        case DAQ_PARAM_INT: attr_i64(g, descs[i].name, v.i); break;
        case DAQ_PARAM_FLOAT: attr_f64(g, descs[i].name, v.f); break;
        default: attr_str(g, descs[i].name, v.s); break;
        }
    }
    H5Gclose(g);
}

static int cam_create(daq_recording *r, hid_t entry, rec_cam *c, char *err, size_t err_len)
{
    c->grp = create_group(entry, c->id, "NXdetector");
    if (c->grp < 0)
        return daq_err(err, err_len, "cannot create group /entry/%s", c->id);
    cam_describe(c, r->hdf5.include_device_metadata);

    hid_t pix = c->elem == 1 ? H5T_NATIVE_UINT8 : H5T_NATIVE_UINT16;
    hsize_t dims[3] = {0, c->fmt.height, c->fmt.width};
    hsize_t max[3] = {H5S_UNLIMITED, c->fmt.height, c->fmt.width};
    hsize_t ch[3] = {1, c->fmt.height, c->fmt.width};
    hid_t sp = H5Screate_simple(3, dims, max);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 3, ch);
    int rc = daq_codec_set_filter(r->hdf5.compression, r->hdf5.compression_level, c->elem, dcpl,
                                  err, err_len);
    if (rc == 0) {
        c->data = H5Dcreate2(c->grp, "data", pix, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        if (c->data < 0)
            rc = daq_err(err, err_len, "cannot create /entry/%s/data", c->id);
    }
    H5Pclose(dcpl);
    H5Sclose(sp);
    if (rc != 0)
        return -1;
    attr_str(c->data, "units", "counts");

    hsize_t chunk = r->hdf5.chunk_size ? r->hdf5.chunk_size : 4096;
    hid_t types[M_COUNT];
    for (int m = 0; m < M_COUNT; m++)
        types[m] = H5T_NATIVE_UINT64;
    types[M_EXPOSURE] = H5T_NATIVE_DOUBLE;
    types[M_FLAGS] = H5T_NATIVE_UINT32;
    for (int m = 0; m < M_COUNT; m++) {
        c->meta[m] = -1;
        if (!r->hdf5.include_timestamps && meta_is_timestamp(m))
            continue;
        c->meta[m] = create_series(c->grp, meta_names[m], types[m], 0, chunk);
        if (c->meta[m] < 0)
            return daq_err(err, err_len, "cannot create /entry/%s/%s", c->id, meta_names[m]);
    }
    static const struct {
        int m;
        const char *key, *text;
    } notes[] = {
        {M_TS_HW, "note",
         "the camera clock at the beginning of the frame, as camera_timestamp_ns; "
         "0: the driver has no camera clock"},
        {M_TS, "clock", "CLOCK_REALTIME ns at the end of the frame's arrival"},
        {M_TRIGGER, "note", "1-based trigger this frame answers; 0: not triggered"},
        {M_CAM_TS, "clock",
         "the camera's own clock at the beginning of the frame (its timebase, "
         "ns); 0: the driver has no camera clock"},
        {M_ARRIVAL_MONO, "clock", "host CLOCK_MONOTONIC ns when the engine took the frame"},
        {M_ARRIVAL_REAL, "clock", "host CLOCK_REALTIME (Unix) ns when the engine took the frame"},
        {M_EXPOSURE_START, "clock",
         "estimated exposure start, host CLOCK_REALTIME (Unix) ns, "
         "through the camera's fitted clock model; 0: unknown"},
    };
    for (size_t i = 0; i < sizeof notes / sizeof notes[0]; i++)
        if (c->meta[notes[i].m] >= 0)
            attr_str(c->meta[notes[i].m], notes[i].key, notes[i].text);
    attr_str(c->meta[M_FLAGS], "bits",
             "1 camera lost frames before this one, 2 recorder dropped frames before this one, "
             "4 heap frame (pool exhausted or off), 8 numbering discontinuity, "
             "16 beyond frames_per_trigger for its trigger");
    c->missing = create_series(c->grp, "missing", H5T_NATIVE_UINT64, 3, 64);
    if (c->missing < 0)
        return daq_err(err, err_len, "cannot create /entry/%s/missing", c->id);
    attr_str(c->missing, "columns", "first_frame_number, count, reason (1 camera, 2 recorder)");
    return 0;
}

static void kv_group(hid_t entry, const char *name, const daq_kv *kv, size_t n)
{
    hid_t g = H5Gopen2(entry, name, H5P_DEFAULT);
    if (g < 0)
        g = create_group(entry, name, "NXcollection");
    if (g < 0)
        return;
    for (size_t i = 0; i < n; i++)
        if (kv[i].key && kv[i].key[0])
            attr_str(g, kv[i].key, kv[i].value ? kv[i].value : "");
    H5Gclose(g);
}

static int file_create(daq_recording *r, const daq_recording_params *p, char *err, size_t err_len)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
    r->file = H5Fcreate(r->path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (r->file < 0) {
        char why[256];
        h5_error_text(why, sizeof why, "H5Fcreate failed");
        return daq_err(err, err_len, "%s: %s", r->path, why);
    }
    hid_t entry = create_group(r->file, "entry", "NXentry");
    if (entry < 0)
        return daq_err(err, err_len, "%s: cannot create /entry", r->path);
    char when[64], devs[MAX_CAMS * 65] = "";
    iso8601(r->real0, when, sizeof when);
    for (size_t i = 0; i < r->n_cams; i++)
        snprintf(devs + strlen(devs), sizeof devs - strlen(devs), "%s%s", i ? "," : "",
                 r->cams[i].id);
    attr_str(entry, "name", r->name);
    attr_str(entry, "recording_id", r->id);
    attr_str(entry, "start_time", when);
    attr_u64(entry, "start_time_ns", r->real0);
    attr_str(entry, "scan_id", p->scan_id ? p->scan_id : "");
    attr_str(entry, "run_uid", p->run_uid ? p->run_uid : "");
    attr_str(entry, "software", "daq");
#ifdef DAQ_VERSION
    attr_str(entry, "software_version", DAQ_VERSION);
#endif
    attr_str(entry, "compression", daq_codec_names[r->hdf5.compression]);
    attr_u64(entry, "compression_level", r->hdf5.compression_level);
    attr_u64(entry, "chunk_size", r->hdf5.chunk_size);
    attr_u64(entry, "flush_interval_ms", r->flush_interval_ms);
    attr_str(entry, "devices", devs);
    if (r->sync_group[0])
        attr_str(entry, "sync_group", r->sync_group); /* /entry/sync/<it> comes at the close */
    kv_group(entry, "metadata", p->metadata, p->n_metadata);
    kv_group(entry, "final_metadata", NULL, 0);
    int rc = 0;
    for (size_t i = 0; i < r->n_cams && rc == 0; i++)
        rc = cam_create(r, entry, &r->cams[i], err, err_len);
    H5Gclose(entry);
    if (rc != 0)
        return -1;
    if (H5Fstart_swmr_write(r->file) < 0)
        return daq_err(err, err_len, "%s: cannot start SWMR writing", r->path);
    return 0;
}

/* Appends every batch, flushes the file and syncs it; under h5_mu. */
static int file_flush(daq_recording *r)
{
    for (size_t i = 0; i < r->n_cams; i++)
        if (cam_append_batch(&r->cams[i]) != 0)
            return -1;
    if (H5Fflush(r->file, H5F_SCOPE_LOCAL) < 0)
        return -1;
    void *handle = NULL;
    if (H5Fget_vfd_handle(r->file, H5P_DEFAULT, &handle) >= 0 && handle &&
        fdatasync(*(int *)handle) != 0) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", strerror(errno));
        fail(r, msg);
        return -2;
    }
    return 0;
}

static void flush_now(daq_recording *r)
{
    if (atomic_load(&r->failed))
        return;
    atomic_store(&r->flushing, true);
    atomic_store(&r->state, DAQ_RECORDING_FLUSHING);
    uint64_t t0 = daq_now_ns();
    pthread_mutex_lock(&r->h5_mu);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    uint64_t on_disk = 0;
    int rc = file_flush(r);
    for (size_t i = 0; i < r->n_cams; i++)
        on_disk += r->cams[i].n_meta;
    char why[256] = "";
    if (rc == -1)
        h5_error_text(why, sizeof why, "flush failed");
    pthread_mutex_unlock(&r->h5_mu);
    if (rc == -1)
        fail(r, why);
    uint64_t ns = daq_now_ns() - t0;
    if (rc == 0) {
        atomic_store(&r->samples_flushed, on_disk);
        atomic_fetch_add(&r->flushes, 1);
        atomic_fetch_add(&r->flush_ns_sum, ns);
        unsigned b = 0;
        while (b < DAQ_STORAGE_FLUSH_BUCKETS && ns > (1000000ull << b))
            b++;
        atomic_fetch_add(&r->flush_bucket[b], 1);
    }
    atomic_store(&r->flushing, false);
    int active = DAQ_RECORDING_FLUSHING;
    atomic_compare_exchange_strong(&r->state, &active, DAQ_RECORDING_ACTIVE);
}

/* ---- encoders --------------------------------------------------------------------------- */

static void *worker_main(void *arg)
{
    daq_recording *r = arg;
    pthread_mutex_lock(&r->q_mu);
    for (;;) {
        while (!r->q_head && !r->q_stop)
            pthread_cond_wait(&r->q_cv, &r->q_mu);
        if (!r->q_head)
            break;
        job *j = r->q_head;
        r->q_head = j->next;
        if (!r->q_head)
            r->q_tail = NULL;
        pthread_mutex_unlock(&r->q_mu);
        size_t len = daq_codec_encode(r->hdf5.compression, r->hdf5.compression_level, j->cam->elem,
                                      daq_frame_cdata(j->f), j->cam->chunk_bytes, j->out, j->cap);
        pthread_mutex_lock(&r->q_mu);
        j->len = len;
        j->state = JOB_DONE;
        pthread_cond_broadcast(&r->done_cv);
    }
    pthread_mutex_unlock(&r->q_mu);
    return NULL;
}

static void job_submit(daq_recording *r, job *j)
{
    pthread_mutex_lock(&r->q_mu);
    j->state = JOB_QUEUED;
    j->next = NULL;
    if (r->q_tail)
        r->q_tail->next = j;
    else
        r->q_head = j;
    r->q_tail = j;
    pthread_cond_signal(&r->q_cv);
    pthread_mutex_unlock(&r->q_mu);
}

/* ---- writers --------------------------------------------------------------------------------- */

/* A row of `missing`; takes h5_mu (the control thread appends rows at
 * flushes).  A full batch is appended first. */
static void cam_missing(daq_recording *r, rec_cam *c, uint64_t first, uint64_t n, uint64_t why)
{
    pthread_mutex_lock(&r->h5_mu);
    if (c->nrows == MISSING_BATCH && !atomic_load(&r->failed))
        cam_append_batch(c); /* a failure here shows at the next chunk write */
    if (c->nrows < MISSING_BATCH) {
        uint64_t *row = c->rows[c->nrows++];
        row[0] = first, row[1] = n, row[2] = why;
    }
    pthread_mutex_unlock(&r->h5_mu);
}

/* Books the gap before frame m; returns the frame's flags.  Writer thread
 * only. */
static uint32_t cam_account(daq_recording *r, rec_cam *c, const daq_frame_meta *m, bool heap)
{
    uint32_t flags = heap ? F_HEAP : 0;
    if (m->flags & DAQ_FRAME_FLAG_DISCONTINUITY)
        flags |= F_DISCONTINUITY;
    if (m->flags & DAQ_FRAME_FLAG_TRIGGER_EXTRA)
        flags |= F_TRIGGER_EXTRA;
    if (c->have_prev) {
        uint64_t dseq = m->sequence > c->prev_seq ? m->sequence - c->prev_seq - 1 : 0;
        uint64_t dhw = m->hw_frame_number > c->prev_hw ? m->hw_frame_number - c->prev_hw - 1 : 0;
        uint64_t cam_lost = dhw > dseq ? dhw - dseq : 0;
        if (dseq) {
            flags |= F_RECORDER_GAP;
            atomic_fetch_add(&c->dropped, dseq);
            cam_missing(r, c, c->prev_hw + 1, dseq, MISSING_RECORDER);
        }
        if (cam_lost) {
            flags |= F_CAMERA_GAP;
            atomic_fetch_add(&c->lost, cam_lost);
            cam_missing(r, c, c->prev_hw + 1 + dseq, cam_lost, MISSING_CAMERA);
        }
    }
    c->have_prev = true;
    c->prev_seq = m->sequence;
    c->prev_hw = m->hw_frame_number;
    return flags;
}

static void frame_values(daq_recording *r, const daq_frame_meta *m, uint32_t flags,
                         uint64_t vals[M_COUNT])
{
    double exp_ms = (double)m->exposure_ns / 1e6;
    vals[M_FRAME_NUMBER] = m->hw_frame_number;
    vals[M_SEQUENCE] = m->sequence;
    vals[M_TS_HW] = m->cam_bof_ns;
    vals[M_TS] = m->eof_ns >= r->mono0 ? r->real0 + (m->eof_ns - r->mono0)
                                       : r->real0 - (r->mono0 - m->eof_ns);
    memcpy(&vals[M_EXPOSURE], &exp_ms, sizeof exp_ms);
    vals[M_FLAGS] = flags;
    vals[M_TRIGGER] = m->trigger_index;
    vals[M_CAM_TS] = m->cam_bof_ns;
    vals[M_ARRIVAL_MONO] = m->arrival_mono_ns;
    vals[M_ARRIVAL_REAL] = m->arrival_real_ns;
    vals[M_EXPOSURE_START] = m->exposure_start_real_ns;
}

/* Writes one encoded (or raw) chunk of frame f; false after a disk fault. */
static bool cam_commit(daq_recording *r, rec_cam *c, daq_frame *f, const void *bytes, size_t len,
                       uint32_t flags)
{
    if (r->test_delay_us)
        usleep(r->test_delay_us);
    uint64_t vals[M_COUNT];
    frame_values(r, daq_frame_meta_get(f), flags, vals);
    char why[256] = "";
    pthread_mutex_lock(&r->h5_mu);
    int rc = atomic_load(&r->failed) ? -2 : cam_write(c, bytes, len, vals, why);
    pthread_mutex_unlock(&r->h5_mu);
    if (rc != 0) {
        if (rc == -1)
            fail(r, why);
        atomic_fetch_add(&c->dropped, 1);
        return false;
    }
    atomic_fetch_add(&c->written, 1);
    atomic_fetch_add(&c->bytes_in, c->chunk_bytes);
    atomic_fetch_add(&c->bytes_out, len);
    return true;
}

/* Whether to write f (inside the recording's time and limit); *flags
 * receives its flags. */
static bool cam_accept(daq_recording *r, rec_cam *c, daq_frame *f, uint32_t *flags)
{
    const daq_frame_meta *m = daq_frame_meta_get(f);
    if (m->payload_bytes < c->chunk_bytes || m->width != c->fmt.width || m->height != c->fmt.height)
        return false; /* the camera changed format under the recording: not ours to write */
    if (!atomic_load(&r->taking)) {
        pthread_mutex_lock(&r->mu);
        uint64_t stop_ns = r->stop_ns;
        pthread_mutex_unlock(&r->mu);
        if (m->eof_ns > stop_ns)
            return false;
    }
    if (r->frame_limit && c->taken >= r->frame_limit)
        return false;
    c->taken++;
    *flags = cam_account(r, c, m, !daq_frame_used_pool(f));
    return true;
}

static bool cam_should_end(daq_recording *r, rec_cam *c)
{
    return atomic_load(&r->failed) || (r->frame_limit && c->taken >= r->frame_limit);
}

/* The in-order head of the ring, once encoded: write it and free the slot. */
static void ring_retire(daq_recording *r, rec_cam *c)
{
    job *j = &c->jobs[c->head];
    if (j->len == 0) {
        fail(r, "chunk encoding failed");
        atomic_fetch_add(&c->dropped, 1);
    } else {
        cam_commit(r, c, j->f, j->out, j->len, j->flags);
    }
    daq_frame_unref(j->f);
    j->f = NULL;
    j->state = JOB_FREE;
    c->head = (c->head + 1) % c->n_jobs;
    c->count--;
    atomic_fetch_sub(&c->inflight, 1);
}

static bool ring_head_done(daq_recording *r, rec_cam *c, int64_t wait_ns)
{
    pthread_mutex_lock(&r->q_mu);
    job *j = &c->jobs[c->head];
    if (j->state != JOB_DONE && wait_ns > 0)
        daq_cond_wait_until(&r->done_cv, &r->q_mu, daq_now_ns() + (uint64_t)wait_ns);
    bool done = j->state == JOB_DONE;
    pthread_mutex_unlock(&r->q_mu);
    return done;
}

static void *writer_main(void *arg)
{
    rec_cam *c = arg;
    daq_recording *r = c->rec;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    bool compress = r->hdf5.compression != DAQ_CODEC_NONE;
    bool open = true; /* still taking frames */
    while (open || c->count) {
        if (open && cam_should_end(r, c))
            open = false;
        if (open && (!compress || c->count < c->n_jobs)) {
            daq_frame *f = NULL;
            uint32_t flags = 0;
            int rc = daq_sub_next(c->sub, c->count ? 0 : WAIT_NS, &f);
            if (rc == DAQ_SUB_FRAME) {
                if (!cam_accept(r, c, f, &flags)) {
                    daq_frame_unref(f);
                    if (!atomic_load(&r->taking))
                        open = false; /* past the stop time */
                } else if (!compress) {
                    cam_commit(r, c, f, daq_frame_cdata(f), c->chunk_bytes, flags);
                    daq_frame_unref(f);
                } else {
                    job *j = &c->jobs[(c->head + c->count) % c->n_jobs];
                    j->f = f;
                    j->len = 0;
                    j->flags = flags;
                    c->count++;
                    atomic_fetch_add(&c->inflight, 1);
                    job_submit(r, j);
                }
                continue;
            }
            if (rc == DAQ_SUB_CLOSED)
                open = false;
            else if (rc == DAQ_SUB_TIMEOUT && !atomic_load(&r->taking) && c->count == 0)
                open = false; /* queue drained after stop */
        }
        /* Ring not full: a short wait, then back to the queue. */
        if (c->count && ring_head_done(r, c, open && c->count < c->n_jobs ? 1000000 : WAIT_NS))
            ring_retire(r, c);
    }
    /* Frames delivered before the stop that never reached us (the queue
     * was full when they came) are recorder drops too. */
    if (!atomic_load(&r->failed) && !(r->frame_limit && c->taken >= r->frame_limit)) {
        pthread_mutex_lock(&r->mu);
        uint64_t stop_seq = c->stop_seq;
        pthread_mutex_unlock(&r->mu);
        if (c->have_prev && stop_seq > c->prev_seq) {
            atomic_fetch_add(&c->dropped, stop_seq - c->prev_seq);
            cam_missing(r, c, c->prev_hw + 1, stop_seq - c->prev_seq, MISSING_RECORDER);
        }
    }
    daq_sub_close(c->sub);
    pthread_mutex_lock(&r->mu);
    atomic_store(&c->done, true);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* ---- control ------------------------------------------------------------------------------- */

static bool all_writers_done(daq_recording *r)
{
    for (size_t i = 0; i < r->n_cams; i++)
        if (!atomic_load(&r->cams[i].done))
            return false;
    return true;
}

/* ---- a group recording's matched sets -------------------------------------------------- */

/* Member c's trigger indices as written, frames beyond frames_per_trigger
 * zeroed (the live matcher leaves them out too: a doubled trigger's surplus
 * has no partner by design); *extra counts those.  *out is the caller's to
 * free.  0, or -1 with why. */
static int sync_read_member(hid_t entry, const rec_cam *c, uint64_t **out, size_t *n,
                            uint64_t *extra, char *why, size_t why_len)
{
    char path[96];
    *out = NULL;
    *n = 0;
    *extra = 0;
    snprintf(path, sizeof path, "%s/trigger_index", c->id);
    hid_t d = H5Dopen2(entry, path, H5P_DEFAULT);
    if (d < 0)
        return daq_err(why, why_len, "cannot open /entry/%s", path);
    hid_t sp = H5Dget_space(d);
    hsize_t dims[1] = {0};
    H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    int rc = 0;
    if (dims[0]) {
        *out = malloc(dims[0] * sizeof(uint64_t));
        if (!*out)
            rc = daq_err(why, why_len, "out of memory reading /entry/%s", path);
        else if (H5Dread(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, *out) < 0)
            rc = daq_err(why, why_len, "cannot read /entry/%s", path);
    }
    H5Dclose(d);
    if (rc != 0 || !dims[0]) {
        free(*out);
        *out = NULL;
        return rc;
    }
    *n = dims[0];
    /* the flags, 64 Ki rows at a time (256 KiB) */
    snprintf(path, sizeof path, "%s/flags", c->id);
    d = H5Dopen2(entry, path, H5P_DEFAULT);
    if (d < 0)
        return 0; /* no flags, no extras */
    static const hsize_t block = 65536;
    uint32_t *flags = malloc(block * sizeof *flags);
    hid_t fs = H5Dget_space(d);
    hsize_t fdims[1] = {0};
    H5Sget_simple_extent_dims(fs, fdims, NULL);
    hsize_t rows = fdims[0] < dims[0] ? fdims[0] : dims[0];
    for (hsize_t off = 0; flags && off < rows; off += block) {
        hsize_t cnt = rows - off < block ? rows - off : block;
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, &off, NULL, &cnt, NULL);
        hid_t ms = H5Screate_simple(1, &cnt, NULL);
        herr_t e = H5Dread(d, H5T_NATIVE_UINT32, ms, fs, H5P_DEFAULT, flags);
        H5Sclose(ms);
        if (e < 0)
            break;
        for (hsize_t i = 0; i < cnt; i++)
            if ((flags[i] & F_TRIGGER_EXTRA) && (*out)[off + i]) {
                (*out)[off + i] = 0;
                (*extra)++;
            }
    }
    free(flags);
    H5Sclose(fs);
    H5Dclose(d);
    return 0;
}

/* A (K,) u64 dataset under g.  0 or -1. */
static int sync_series(hid_t g, const char *name, const uint64_t *v, size_t k, hsize_t chunk,
                       const char *note)
{
    hid_t d = create_series(g, name, H5T_NATIVE_UINT64, 0, chunk);
    if (d < 0)
        return -1;
    uint64_t have = 0;
    int rc = append(d, H5T_NATIVE_UINT64, &have, v, k, 1);
    if (note)
        attr_str(d, "note", note);
    H5Dclose(d);
    return rc;
}

/* Writes /entry/sync/<group>; on the reopened file, under h5_mu.  A failure
 * is logged and leaves the rest of the file as it is. */
static void sync_write(daq_recording *r, hid_t entry)
{
    uint64_t *idx[MAX_CAMS] = {0}, extra[MAX_CAMS] = {0};
    daq_sync_index_member mem[MAX_CAMS];
    daq_sync_index x;
    memset(mem, 0, sizeof mem);
    memset(&x, 0, sizeof x);
    char why[256] = "";
    int rc = 0;
    for (size_t i = 0; i < r->n_cams && rc == 0; i++)
        rc = sync_read_member(entry, &r->cams[i], &idx[i], &mem[i].n, &extra[i], why, sizeof why);
    for (size_t i = 0; i < r->n_cams; i++)
        mem[i].trigger_index = idx[i];
    if (rc == 0)
        rc = daq_sync_index_build(mem, r->n_cams, &x, why, sizeof why);
    hid_t sync = -1, g = -1;
    if (rc == 0) {
        sync = H5Lexists(entry, "sync", H5P_DEFAULT) > 0
                   ? H5Gopen2(entry, "sync", H5P_DEFAULT)
                   : create_group(entry, "sync", "NXcollection");
        g = sync >= 0 ? create_group(sync, r->sync_group, "NXcollection") : -1;
        if (g < 0)
            rc = daq_err(why, sizeof why, "cannot create /entry/sync/%s", r->sync_group);
    }
    hsize_t chunk = r->hdf5.chunk_size ? r->hdf5.chunk_size : 4096;
    if (rc == 0 &&
        (sync_series(g, "trigger_index", x.trigger_index, x.matched, chunk,
                     "the trigger index of each matched set (a frame of it on every member), "
                     "ascending") != 0 ||
         sync_series(g, "rank", x.rank, x.matched, chunk,
                     "the set's rank within its trigger (frames_per_trigger > 1), 0-based") != 0))
        rc = daq_err(why, sizeof why, "cannot write /entry/sync/%s", r->sync_group);
    char devs[MAX_CAMS * 65] = "";
    for (size_t i = 0; i < r->n_cams && rc == 0; i++) {
        rec_cam *c = &r->cams[i];
        snprintf(devs + strlen(devs), sizeof devs - strlen(devs), "%s%s", i ? "," : "", c->id);
        char note[160];
        snprintf(note, sizeof note, "the row of each matched set's frame in /entry/%s/data", c->id);
        if (sync_series(g, c->id, x.rows[i], x.matched, chunk, note) != 0) {
            rc = daq_err(why, sizeof why, "cannot write /entry/sync/%s/%s", r->sync_group, c->id);
            break;
        }
        char name[96];
        snprintf(name, sizeof name, "triggered_%s", c->id);
        attr_u64(g, name, x.triggered[i]);
        snprintf(name, sizeof name, "unmatched_%s", c->id);
        attr_u64(g, name, x.unmatched[i]);
        snprintf(name, sizeof name, "edge_%s", c->id);
        attr_u64(g, name, x.edge[i]);
        snprintf(name, sizeof name, "extra_%s", c->id);
        attr_u64(g, name, extra[i]);
    }
    if (rc == 0) {
        attr_str(g, "devices", devs);
        attr_u64(g, "matched", x.matched);
        attr_str(g, "note",
                 "frames matched by (trigger_index, rank) on every member; per member: "
                 "triggered = matched + unmatched + edge (edge: before the latest first or after "
                 "the earliest last set of the members, where start and stop reach the cameras "
                 "apart); extra: frames beyond frames_per_trigger, left out");
        DAQ_LOG(DAQ_LOG_INFO, LOG_REC, "group recording matched", DAQ_F_STR("recording_id", r->id),
                DAQ_F_STR("group", r->sync_group), DAQ_F_U64("matched", x.matched));
    } else {
        DAQ_LOG(DAQ_LOG_WARN, LOG_REC, "group recording: no matched sets written",
                DAQ_F_STR("recording_id", r->id), DAQ_F_STR("group", r->sync_group),
                DAQ_F_STR("error", why));
    }
    if (g >= 0)
        H5Gclose(g);
    if (sync >= 0)
        H5Gclose(sync);
    daq_sync_index_free(&x);
    for (size_t i = 0; i < r->n_cams; i++)
        free(idx[i]);
}

/* Closing attributes, by reopening the closed SWMR file normally. */
static void write_closing(daq_recording *r, const daq_kv *final, size_t n_final, bool counts)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    /* SWMR readers may still have the file open: their shared lock would
     * refuse a writer, and the attributes are written in one go. */
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_file_locking(fapl, 0, 1);
    hid_t f = H5Fopen(r->path, H5F_ACC_RDWR, fapl);
    H5Pclose(fapl);
    if (f < 0)
        return;
    hid_t entry = H5Gopen2(f, "entry", H5P_DEFAULT);
    if (entry >= 0) {
        if (counts) {
            char when[64];
            iso8601(r->end_real_ns, when, sizeof when);
            attr_str(entry, "end_time", when);
            attr_u64(entry, "end_time_ns", r->end_real_ns);
            uint64_t total = 0;
            for (size_t i = 0; i < r->n_cams; i++) {
                rec_cam *c = &r->cams[i];
                total += c->n_data;
                hid_t g = H5Gopen2(entry, c->id, H5P_DEFAULT);
                if (g < 0)
                    continue;
                attr_u64(g, "frames_written", c->n_data);
                attr_u64(g, "frames_dropped", atomic_load(&c->dropped));
                attr_u64(g, "frames_lost", atomic_load(&c->lost));
                H5Gclose(g);
            }
            attr_u64(entry, "frames_written", total);
            if (atomic_load(&r->failed))
                attr_str(entry, "error", r->error);
            else if (r->sync_group[0])
                sync_write(r, entry); /* not after a disk fault: the closing attributes first */
        }
        if (n_final)
            kv_group(entry, "final_metadata", final, n_final);
        H5Gclose(entry);
    }
    H5Fflush(f, H5F_SCOPE_LOCAL);
    void *handle = NULL;
    if (H5Fget_vfd_handle(f, H5P_DEFAULT, &handle) >= 0 && handle)
        fdatasync(*(int *)handle);
    H5Fclose(f);
}

/* Marks the end of the recording's time: frames that end later are not
 * written; frames delivered up to now are written or counted as dropped.
 * Under mu. */
static void mark_stop(daq_recording *r)
{
    if (!atomic_load(&r->taking))
        return;
    r->stop_ns = daq_now_ns();
    for (size_t i = 0; i < r->n_cams; i++) {
        daq_acq_stats st;
        daq_acq_stats_snapshot(r->cams[i].acq, &st);
        r->cams[i].stop_seq = st.delivered;
    }
    atomic_store(&r->taking, false);
}

static void finalise(daq_recording *r)
{
    if (!atomic_load(&r->failed))
        atomic_store(&r->state, DAQ_RECORDING_FINALIZING);
    pthread_mutex_lock(&r->mu);
    mark_stop(r);
    pthread_mutex_unlock(&r->mu);
    for (size_t i = 0; i < r->n_cams; i++) {
        rec_cam *c = &r->cams[i];
        if (c->joinable)
            pthread_join(c->thread, NULL);
        c->joinable = false;
        /* Cleared under mu first: status snapshots read the sub's queue
         * fill under mu, from a progress stream's thread. */
        daq_sub *sub = c->sub;
        pthread_mutex_lock(&r->mu);
        c->sub = NULL;
        pthread_mutex_unlock(&r->mu);
        daq_bus_unsubscribe(c->bus, sub);
    }
    pthread_mutex_lock(&r->q_mu);
    r->q_stop = true;
    pthread_cond_broadcast(&r->q_cv);
    pthread_mutex_unlock(&r->q_mu);
    for (unsigned w = 0; w < r->n_workers; w++)
        pthread_join(r->workers[w], NULL);
    r->n_workers = 0;

    flush_now(r);
    pthread_mutex_lock(&r->h5_mu);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    for (size_t i = 0; i < r->n_cams; i++) {
        rec_cam *c = &r->cams[i];
        if (atomic_load(&r->failed) && c->n_data > c->n_meta) {
            /* after a fault: back to the last flush, where every per-frame
             * dataset has the same length */
            hsize_t dims[3] = {c->n_meta, c->fmt.height, c->fmt.width};
            if (H5Dset_extent(c->data, dims) >= 0)
                c->n_data = c->n_meta;
        }
        for (int m = 0; m < M_COUNT; m++)
            if (c->meta[m] >= 0)
                H5Dclose(c->meta[m]);
        H5Dclose(c->missing);
        H5Dclose(c->data);
        H5Gclose(c->grp);
    }
    if (atomic_load(&r->failed))
        reserve_release(r); /* room for the metadata the close writes */
    bool ok = H5Fclose(r->file) >= 0;
    r->file = -1;
    r->end_real_ns = daq_real_now_ns();
    write_closing(r, NULL, 0, true);
    reserve_release(r);
    pthread_mutex_unlock(&r->h5_mu);

    pthread_mutex_lock(&r->mu);
    r->closed_ok = ok;
    r->finished = true;
    atomic_store(&r->state, atomic_load(&r->failed) ? DAQ_RECORDING_ERROR : DAQ_RECORDING_IDLE);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);

    uint64_t written = 0, dropped = 0, lost = 0;
    for (size_t i = 0; i < r->n_cams; i++) {
        written += atomic_load(&r->cams[i].written);
        dropped += atomic_load(&r->cams[i].dropped);
        lost += atomic_load(&r->cams[i].lost);
    }
    DAQ_LOG(DAQ_LOG_INFO, LOG_REC, "recording finished", DAQ_F_STR("recording_id", r->id),
            DAQ_F_STR("path", r->path), DAQ_F_U64("frames_written", written),
            DAQ_F_U64("frames_dropped", dropped), DAQ_F_U64("frames_lost", lost),
            DAQ_F_BOOL("ended_by_limit", r->ended), DAQ_F_STR("error", r->error));
}

static void *control_main(void *arg)
{
    daq_recording *r = arg;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    uint64_t period = (uint64_t)r->flush_interval_ms * 1000000ull;
    uint64_t next_flush = daq_now_ns() + period;
    uint64_t end = r->duration_ms ? r->mono0 + r->duration_ms * 1000000ull : UINT64_MAX;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        if (r->stop_req || atomic_load(&r->failed))
            break;
        if (all_writers_done(r)) {
            r->ended = true;
            break;
        }
        uint64_t now = daq_now_ns();
        if (now >= end) {
            r->ended = true;
            break;
        }
        if (now >= next_flush || r->flush_req != r->flush_done) {
            uint64_t gen = r->flush_req;
            pthread_mutex_unlock(&r->mu);
            flush_now(r);
            pthread_mutex_lock(&r->mu);
            r->flush_done = gen;
            pthread_cond_broadcast(&r->cv);
            next_flush = daq_now_ns() + period;
            continue;
        }
        daq_cond_wait_until(&r->cv, &r->mu, next_flush < end ? next_flush : end);
    }
    pthread_mutex_unlock(&r->mu);
    finalise(r);
    pthread_mutex_lock(&r->mu);
    r->flush_done = r->flush_req;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* ---- start ---------------------------------------------------------------------------------- */

/* Frees what start allocated; every thread has been joined. */
static void rec_free(daq_recording *r)
{
    for (size_t i = 0; i < r->n_cams; i++) {
        rec_cam *c = &r->cams[i];
        for (unsigned j = 0; c->jobs && j < c->n_jobs; j++)
            free(c->jobs[j].out);
        free(c->jobs);
    }
    pthread_mutex_destroy(&r->mu);
    pthread_mutex_destroy(&r->h5_mu);
    pthread_mutex_destroy(&r->q_mu);
    pthread_cond_destroy(&r->cv);
    pthread_cond_destroy(&r->q_cv);
    pthread_cond_destroy(&r->done_cv);
    free(r);
}

static void cleanup_partial(daq_recording *r)
{
    atomic_store(&r->taking, false);
    for (size_t i = 0; i < r->n_cams; i++) {
        rec_cam *c = &r->cams[i];
        if (c->sub)
            daq_sub_close(c->sub);
        if (c->joinable)
            pthread_join(c->thread, NULL);
        if (c->sub)
            daq_bus_unsubscribe(c->bus, c->sub);
    }
    pthread_mutex_lock(&r->q_mu);
    r->q_stop = true;
    pthread_cond_broadcast(&r->q_cv);
    pthread_mutex_unlock(&r->q_mu);
    for (unsigned w = 0; w < r->n_workers; w++)
        pthread_join(r->workers[w], NULL);
    if (r->file >= 0) {
        pthread_mutex_lock(&r->h5_mu);
        H5Fclose(r->file);
        pthread_mutex_unlock(&r->h5_mu);
    }
    unlink(r->path);
    reserve_release(r);
    rec_free(r);
}

/* Geometry and queue of one camera; 0 or -1. */
static int cam_prepare(daq_recording *r, rec_cam *c, daq_device *d, char *err, size_t err_len)
{
    c->rec = r;
    c->dev = d;
    c->acq = daq_device_acq(d);
    c->bus = daq_device_bus(d);
    c->grp = c->data = c->missing = -1;
    snprintf(c->id, sizeof c->id, "%s", daq_device_id(d));
    daq_camera *cam = daq_device_camera(d);
    if (!cam || !c->acq)
        return daq_err(err, err_len, "Device %s is not streaming", c->id);
    if (daq_camera_get_format(cam, &c->fmt, err, err_len) != 0)
        return -1;
    c->elem = c->fmt.bit_depth <= 8 ? 1 : 2;
    c->chunk_bytes = (size_t)c->fmt.width * c->fmt.height * c->elem;
    if (c->fmt.stride_bytes && c->fmt.stride_bytes != c->fmt.width * c->elem)
        return daq_err(err, err_len, "Device %s: rows are padded (stride %u): not recordable",
                       c->id, c->fmt.stride_bytes);
    /* queue + jobs + the writer's frame <= reserve + 1 (see the header) */
    uint32_t frames = daq_acq_reserve_frames(r->max_buffer_bytes, c->chunk_bytes);
    if (frames < 2)
        frames = 2;
    c->n_jobs = 0;
    if (r->hdf5.compression != DAQ_CODEC_NONE) {
        c->n_jobs = 2 * r->n_workers;
        if (c->n_jobs > frames / 2)
            c->n_jobs = frames / 2 ? frames / 2 : 1;
        c->jobs = calloc(c->n_jobs, sizeof *c->jobs);
        if (!c->jobs)
            return daq_err(err, err_len, "out of memory");
        for (unsigned j = 0; j < c->n_jobs; j++) {
            c->jobs[j].cam = c;
            c->jobs[j].cap = daq_codec_bound(r->hdf5.compression, c->chunk_bytes);
            c->jobs[j].out = malloc(c->jobs[j].cap);
            if (!c->jobs[j].out)
                return daq_err(err, err_len, "out of memory for encode buffers");
        }
    }
    c->depth = frames > c->n_jobs + 1 ? frames - c->n_jobs : 1;
    if (c->depth > DAQ_SUB_MAX_DEPTH)
        c->depth = DAQ_SUB_MAX_DEPTH;
    return 0;
}

daq_recording *daq_recording_start(const daq_recording_params *p, char *err, size_t err_len)
{
    if (p->n_devices == 0 || p->n_devices > MAX_CAMS) {
        daq_err(err, err_len, "a recording takes 1..%d cameras", MAX_CAMS);
        return NULL;
    }
    daq_recording *r = calloc(1, sizeof *r);
    if (!r) {
        daq_err(err, err_len, "out of memory");
        return NULL;
    }
    snprintf(r->id, sizeof r->id, "%s", p->id);
    snprintf(r->path, sizeof r->path, "%s", p->path);
    snprintf(r->name, sizeof r->name, "%s", p->name ? p->name : "");
    snprintf(r->scan_id, sizeof r->scan_id, "%s", p->scan_id ? p->scan_id : "");
    snprintf(r->sync_group, sizeof r->sync_group, "%s", p->sync_group ? p->sync_group : "");
    r->hdf5 = p->hdf5;
    r->flush_interval_ms = p->flush_interval_ms ? p->flush_interval_ms : 1000;
    r->test_delay_us = p->test_write_delay_us;
    r->frame_limit = p->frame_limit;
    r->duration_ms = p->duration_ms;
    r->max_buffer_bytes = p->max_buffer_bytes;
    r->file = -1;
    r->n_cams = p->n_devices;
    pthread_mutex_init(&r->mu, NULL);
    pthread_mutex_init(&r->h5_mu, NULL);
    pthread_mutex_init(&r->q_mu, NULL);
    daq_cond_init_monotonic(&r->cv);
    daq_cond_init_monotonic(&r->q_cv);
    daq_cond_init_monotonic(&r->done_cv);
    atomic_store(&r->state, DAQ_RECORDING_ACTIVE);
    r->n_workers = p->hdf5.compression == DAQ_CODEC_NONE ? 0 : p->workers;
    if (r->n_workers > MAX_WORKERS)
        r->n_workers = MAX_WORKERS;
    if (p->hdf5.compression != DAQ_CODEC_NONE && r->n_workers == 0)
        r->n_workers = 1;

    for (size_t i = 0; i < r->n_cams; i++) {
        if (cam_prepare(r, &r->cams[i], p->devices[i], err, err_len) != 0) {
            r->n_workers = 0;
            cleanup_partial(r);
            return NULL;
        }
        for (size_t k = 0; k < i; k++)
            if (strcmp(r->cams[k].id, r->cams[i].id) == 0) {
                daq_err(err, err_len, "Device %s named twice", r->cams[i].id);
                r->n_workers = 0;
                cleanup_partial(r);
                return NULL;
            }
    }
    r->real0 = daq_real_now_ns();
    r->mono0 = daq_now_ns();

    pthread_mutex_lock(&r->h5_mu);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    int rc = reserve_create(r, err, err_len) == 0 ? file_create(r, p, err, err_len) : -1;
    pthread_mutex_unlock(&r->h5_mu);
    if (rc != 0) {
        r->n_workers = 0;
        cleanup_partial(r);
        return NULL;
    }

    unsigned nw = r->n_workers;
    r->n_workers = 0;
    for (unsigned w = 0; w < nw; w++) {
        if (pthread_create(&r->workers[w], NULL, worker_main, r) != 0)
            break;
        r->n_workers++;
    }
    atomic_store(&r->taking, true);
    r->stop_ns = UINT64_MAX;
    for (size_t i = 0; i < r->n_cams; i++) {
        rec_cam *c = &r->cams[i];
        daq_sub_config sc;
        daq_sub_config_init(&sc);
        char sname[80];
        snprintf(sname, sizeof sname, "recorder");
        sc.name = sname;
        sc.policy = DAQ_SUB_DROP_NEWEST;
        sc.queue_depth = c->depth;
        c->sub = daq_bus_subscribe(c->bus, &sc, err, err_len);
        if (!c->sub || pthread_create(&c->thread, NULL, writer_main, c) != 0) {
            if (c->sub)
                daq_err(err, err_len, "cannot start a writer thread");
            cleanup_partial(r);
            return NULL;
        }
        c->joinable = true;
    }
    if (pthread_create(&r->ctl, NULL, control_main, r) != 0) {
        daq_err(err, err_len, "cannot start the recording's control thread");
        cleanup_partial(r);
        return NULL;
    }
    r->ctl_joinable = true;
    DAQ_LOG(DAQ_LOG_INFO, LOG_REC, "recording started", DAQ_F_STR("recording_id", r->id),
            DAQ_F_STR("path", r->path), DAQ_F_U64("cameras", r->n_cams),
            DAQ_F_STR("compression", daq_codec_names[r->hdf5.compression]),
            DAQ_F_U64("workers", r->n_workers), DAQ_F_U64("queue_depth", r->cams[0].depth));
    return r;
}

/* ---- control from outside ------------------------------------------------------------------- */

void daq_recording_stop(daq_recording *r, const daq_kv *final, size_t n_final)
{
    pthread_mutex_lock(&r->mu);
    mark_stop(r);
    r->stop_req = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (r->ctl_joinable) {
        pthread_join(r->ctl, NULL);
        r->ctl_joinable = false;
    }
    if (n_final) {
        pthread_mutex_lock(&r->h5_mu);
        write_closing(r, final, n_final, false);
        pthread_mutex_unlock(&r->h5_mu);
    }
}

void daq_recording_flush(daq_recording *r, bool sync)
{
    pthread_mutex_lock(&r->mu);
    uint64_t gen = ++r->flush_req;
    pthread_cond_broadcast(&r->cv);
    uint64_t deadline = daq_now_ns() + FLUSH_SYNC_WAIT_MS * 1000000ull;
    while (sync && r->flush_done < gen && !r->finished &&
           daq_cond_wait_until(&r->cv, &r->mu, deadline) == 0)
        ;
    pthread_mutex_unlock(&r->mu);
}

bool daq_recording_wait_finished(daq_recording *r, uint32_t timeout_ms)
{
    uint64_t deadline = daq_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    pthread_mutex_lock(&r->mu);
    int rc = 0;
    while (!r->finished && rc == 0)
        rc = daq_cond_wait_until(&r->cv, &r->mu, deadline);
    bool done = r->finished;
    pthread_mutex_unlock(&r->mu);
    return done;
}

bool daq_recording_finished(daq_recording *r)
{
    pthread_mutex_lock(&r->mu);
    bool done = r->finished;
    pthread_mutex_unlock(&r->mu);
    return done;
}

void daq_recording_status_snapshot(daq_recording *r, daq_recording_status *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->recording_id, sizeof out->recording_id, "%s", r->id);
    snprintf(out->output_path, sizeof out->output_path, "%s", r->path);
    snprintf(out->scan_id, sizeof out->scan_id, "%s", r->scan_id);
    out->state = (daq_recording_state)atomic_load(&r->state);
    out->start_time_ns = r->real0;
    uint32_t fill = 0;
    for (size_t i = 0; i < r->n_cams; i++) {
        rec_cam *c = &r->cams[i];
        out->samples_recorded += atomic_load(&c->written);
        out->bytes_in += atomic_load(&c->bytes_in);
        out->bytes_written += atomic_load(&c->bytes_out);
        out->frames_dropped += atomic_load(&c->dropped);
        out->frames_lost += atomic_load(&c->lost);
        out->pending_samples += atomic_load(&c->inflight);
    }
    out->flushes_completed = atomic_load(&r->flushes);
    out->samples_flushed = atomic_load(&r->samples_flushed);
    out->flush_in_progress = atomic_load(&r->flushing);
    pthread_mutex_lock(&r->mu);
    bool finished = r->finished;
    out->ended = r->ended;
    out->elapsed_ns = (finished ? r->end_real_ns : daq_real_now_ns()) - r->real0;
    snprintf(out->error_message, sizeof out->error_message, "%s", r->error);
    if (!finished) {
        for (size_t i = 0; i < r->n_cams; i++) {
            rec_cam *c = &r->cams[i];
            if (!c->sub)
                continue;
            daq_sub_stats st;
            daq_sub_stats_snapshot(c->sub, &st);
            out->pending_samples += st.queued;
            uint32_t f = st.queue_depth ? (uint32_t)(100ull * st.queued / st.queue_depth) : 0;
            fill = f > fill ? f : fill;
        }
    }
    pthread_mutex_unlock(&r->mu);
    out->buffer_fill_percent = fill;
    if (!finished && out->elapsed_ns > 0) {
        double fps = (double)out->samples_recorded / ((double)out->elapsed_ns / 1e9);
        if (r->duration_ms && r->duration_ms * 1000000ull > out->elapsed_ns)
            out->estimated_remaining_ns = r->duration_ms * 1000000ull - out->elapsed_ns;
        else if (r->frame_limit && fps > 0) {
            uint64_t want = r->frame_limit * r->n_cams;
            if (want > out->samples_recorded)
                out->estimated_remaining_ns =
                    (uint64_t)((double)(want - out->samples_recorded) / fps * 1e9);
        }
    }
}

void daq_recording_flush_stats(daq_recording *r, uint64_t *count, uint64_t *ns_sum,
                               uint64_t *bucket)
{
    *count += atomic_load(&r->flushes);
    *ns_sum += atomic_load(&r->flush_ns_sum);
    for (unsigned b = 0; b <= DAQ_STORAGE_FLUSH_BUCKETS; b++)
        bucket[b] += atomic_load(&r->flush_bucket[b]);
}

void daq_recording_destroy(daq_recording *r)
{
    if (!r)
        return;
    daq_recording_stop(r, NULL, 0);
    rec_free(r);
}
