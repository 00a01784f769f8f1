/* bench/bench_record.c - `daq-bench record`: the recorder (libdaq-storage)
 * against the simplest writers of the same bytes, on a disk and on a tmpfs.
 *
 * Every run builds a fresh device table from config text (one sim camera,
 * 2048x2048x16 = 8 MiB frames, instant timing: a source as fast as the
 * engine can copy, ~1 core of this 2-core machine) and starts the engine;
 * then one writer takes frames off the camera's bus until it has written N:
 *
 *   recorder   daq_storage_start with metadata max_frames = N: the real
 *              DROP_NEWEST queue, writer thread, H5Dwrite_chunk, SWMR file
 *   raw        a DROP_NEWEST subscription of the same depth (max_buffer_mb
 *              of frames) and a loop doing write() of each frame
 *   h5dwrite   the same loop doing what a plain libhdf5 program does:
 *              H5Dwrite of each frame into an extendible (N, H, W) dataset
 *              with the same (1, H, W) chunks
 *
 * Same durability for all three: every flush_interval_ms (1000) the
 * baselines make what they wrote durable (fdatasync; H5Fflush first for
 * HDF5) and they do it once more before the clock stops, as the recorder
 * flushes at stop (its flush is H5Fflush + fdatasync too).  The baselines
 * are fed by the same running camera as the recorder rather than from idle
 * memory: the instant sim's engine copies ~850 frames/s here (~7 GB/s of
 * memcpy on one of the two cores) whoever writes, so the ratios compare
 * writers under the same load.  raw_alone (write from a ring of 8
 * pre-rendered malloc'd frames, no camera) is printed beside them as the
 * file system's own ceiling.  Clocks run from start to a closed, synced
 * file; removing the file (freeing gigabytes of tmpfs pages) is not timed.
 * The uncompressed writers run in three interleaved rounds and the median
 * run of each is reported: single runs here vary by up to 2x when anything
 * else runs on the machine (the report prints the load average).
 *
 * Instant timing overloads every writer on purpose: each writes as fast as
 * it can and drops the rest (frames_dropped is large and expected).  The
 * 100 FPS check is the opposite: paced timing at 100 FPS, 8 MiB frames, on
 * the tmpfs, where nothing may be dropped.  Compression runs use the sim's
 * smooth scene (scene = "smooth": bumps on a gradient plus shot noise) so
 * the ratios mean something.  acquire-zarr's published workload (1024x1024
 * uint16, 512 frames of random data; the sim's 16-bit hash pattern is
 * random) runs through the recorder for reference.
 *
 * The disk is a virtual disk: dd of 2 GiB with one fdatasync at the end
 * gives ~420 MB/s, writers syncing every second get 400-700 MB/s.  Sizes
 * (240 frames per disk writer, 400 per tmpfs writer) make the whole run
 * ~85 s on 2 cores; --quick is a ~10 s smoke run.  Every file goes into
 * bench-record.<pid> under the build directory and
 * /dev/shm/daq-bench-record.<pid>; both are removed at the end, on failure
 * and on SIGINT/SIGTERM.  Targets print PASS or MISS and never fail the
 * run; a run that cannot be done fails it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "bench_util.h"
#include "daq/config.h"
#include "daq/devices.h"
#include "daq/log.h"
#include "daq/sim.h"
#include "daq/storage.h"

#define FLUSH_MS      1000u /* the recorder's default flush_interval_ms */
#define QUEUE_MB      256u  /* the recorder's default max_buffer_mb */
#define WARM_FRAMES   16u   /* delivered before a writer starts: pool and ring hot */
#define ALONE_RING    8u    /* pre-rendered frames the camera-less baseline cycles */
#define SCENE_PARAM   "scene = \"smooth\"\n" /* the sim's smooth scene + shot noise */
#define START_WAIT_MS 10000u                 /* longest wait for a camera's first frames */

/* One workload: the camera's frames and how they are paced. */
struct shape {
    uint32_t width, height;
    bool paced; /* realistic timing at fps; else instant */
    double fps;
    bool scene; /* the realistic scene instead of the hash pattern */
};

static size_t shape_bytes(const struct shape *s)
{
    return (size_t)s->width * s->height * 2;
}

struct result {
    uint64_t frames, dropped, lost, bytes_in, bytes_out;
    uint64_t delivered; /* by the camera while the writer ran */
    double secs;
};

static double mb_per_s(const struct result *r)
{
    return r->secs > 0 ? (double)r->bytes_in / 1e6 / r->secs : 0;
}

static double fps(const struct result *r)
{
    return r->secs > 0 ? (double)r->frames / r->secs : 0;
}

/* Compression ratio: pixel bytes in / bytes written. */
static double ratio(const struct result *r)
{
    return r->bytes_out ? (double)r->bytes_in / (double)r->bytes_out : 0;
}

static void die(const char *what, const char *err)
{
    fprintf(stderr, "daq-bench record: %s: %s\n", what, err);
    exit(1); /* atexit removes the target directories */
}

/* ---- target directories and their cleanup -------------------------------------------- */

struct target {
    const char *name; /* "disk" / "tmpfs": the prefix of its figures */
    char dir[PATH_MAX];
    char fs[32];
};

static struct target targets[2];
static bool targets_made;

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[PATH_MAX + 256];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

static void cleanup(void)
{
    if (!targets_made)
        return;
    targets_made = false;
    for (size_t i = 0; i < 2; i++)
        if (targets[i].dir[0])
            remove_dir(targets[i].dir);
}

static void on_signal(int sig)
{
    /* Not async-signal-safe (opendir), but the process is going anyway and
     * leaving gigabytes in /dev/shm would be worse. */
    cleanup();
    signal(sig, SIG_DFL);
    raise(sig);
}

static const char *fs_name(long type)
{
    switch (type) {
    case TMPFS_MAGIC: return "tmpfs";
    case EXT4_SUPER_MAGIC: return "ext4";
    case XFS_SUPER_MAGIC: return "xfs";
    case BTRFS_SUPER_MAGIC: return "btrfs";
    case OVERLAYFS_SUPER_MAGIC: return "overlay";
    default: return NULL;
    }
}

static void target_make(struct target *t, const char *name, const char *parent)
{
    t->name = name;
    snprintf(t->dir, sizeof t->dir, "%s/%s.%ld", parent,
             strcmp(name, "disk") == 0 ? "bench-record" : "daq-bench-record", (long)getpid());
    if (mkdir(t->dir, 0750) != 0)
        die(t->dir, strerror(errno));
    struct statfs sf;
    if (statfs(t->dir, &sf) != 0)
        die(t->dir, strerror(errno));
    const char *fs = fs_name((long)sf.f_type);
    if (fs)
        snprintf(t->fs, sizeof t->fs, "%s", fs);
    else
        snprintf(t->fs, sizeof t->fs, "0x%lx", (unsigned long)sf.f_type);
}

/* The build directory: this binary is <build>/bench/daq-bench. */
static void build_dir(char *out, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        die("/proc/self/exe", strerror(errno));
    exe[n] = '\0';
    snprintf(out, len, "%s", dirname(dirname(exe)));
}

/* ---- the camera ----------------------------------------------------------------------- */

struct camera {
    daq_devices *ds;
    daq_acq *acq;
    daq_bus *bus;
};

/* Builds the device table (the camera is opened, not started). */
static void camera_create(struct camera *c, const struct shape *s)
{
    static daq_config cfg; /* ~100 KiB: not on the stack */
    char text[1024], err[512];
    int n =
        snprintf(text, sizeof text,
                 "[[devices]]\nid = \"cam0\"\n[devices.driver]\ntype = \"sim\"\n"
                 "width = %u\nheight = %u\nbit_depth = 16\nring_frames = 32\n"
                 "timing = \"%s\"\nframe_rate_hz = %.1f\nexposure_ms = %.3f\n%s",
                 s->width, s->height, s->paced ? "realistic" : "instant", s->paced ? s->fps : 100.0,
                 s->paced ? 500.0 / s->fps : 0.01, s->scene ? SCENE_PARAM : "");
    if (daq_config_load_text(text, (size_t)n, "bench-record", &cfg, err, sizeof err) != 0)
        die("config", err);
    c->ds = daq_devices_create(&cfg, NULL, err, sizeof err);
    if (!c->ds)
        die("devices", err);
    daq_device *d = daq_devices_at(c->ds, 0);
    c->acq = daq_device_acq(d);
    if (!c->acq)
        die("cam0", daq_device_error(d));
    c->bus = daq_device_bus(d);
}

/* Starts streaming with a pool that keeps reserve_bytes for a writer that
 * subscribes later (what daqd does for the recorder's queue), and waits
 * for WARM_FRAMES. */
static void camera_run(struct camera *c, uint64_t reserve_bytes)
{
    char err[256];
    daq_acq_set_reserve_bytes(c->acq, reserve_bytes);
    if (daq_acq_start(c->acq, 0, err, sizeof err) != 0)
        die("start cam0", err);
    uint64_t t0 = bench_now_ns();
    for (;;) {
        daq_acq_stats st;
        daq_acq_stats_snapshot(c->acq, &st);
        if (st.delivered >= WARM_FRAMES)
            break;
        if (st.state == DAQ_ACQ_ERROR)
            die("cam0", st.error);
        if (bench_now_ns() - t0 > START_WAIT_MS * 1000000ull)
            die("cam0", "no frames within 10 s");
        usleep(2000);
    }
}

/* The camera's loss and delivery counters, for a window around a run. */
static void camera_counts(struct camera *c, uint64_t *lost, uint64_t *delivered)
{
    daq_acq_stats st;
    daq_acq_stats_snapshot(c->acq, &st);
    *lost = st.lost;
    *delivered = st.delivered;
}

static void camera_stop(struct camera *c)
{
    daq_acq_stop(c->acq);
    daq_devices_destroy(c->ds);
    memset(c, 0, sizeof *c);
}

/* ---- baselines: raw write() and plain H5Dwrite --------------------------------------- */

enum base_kind { BASE_RAW, BASE_H5 };

struct base {
    enum base_kind kind;
    char path[PATH_MAX + 32];
    size_t frame_bytes;
    uint32_t width, height;
    uint64_t n;
    int fd;
    hid_t file, dset;
};

static int write_all(int fd, const void *p, size_t len)
{
    const char *c = p;
    while (len > 0) {
        ssize_t w = write(fd, c, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        len -= (size_t)w;
    }
    return 0;
}

static void base_open(struct base *b, enum base_kind kind, const struct target *t,
                      const struct shape *s)
{
    memset(b, 0, sizeof *b);
    b->kind = kind;
    b->width = s->width;
    b->height = s->height;
    b->frame_bytes = shape_bytes(s);
    b->fd = -1;
    snprintf(b->path, sizeof b->path, "%s/baseline.%s", t->dir, kind == BASE_RAW ? "raw" : "h5");
    if (kind == BASE_RAW) {
        b->fd = open(b->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
        if (b->fd < 0)
            die(b->path, strerror(errno));
        return;
    }
    /* A plain program: default file access (the sec2 driver), an extendible
     * dataset chunked one frame per chunk, no filter. */
    b->file = H5Fcreate(b->path, H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[3] = {0, s->height, s->width}, maxd[3] = {H5S_UNLIMITED, s->height, s->width};
    hsize_t chunk[3] = {1, s->height, s->width};
    hid_t space = H5Screate_simple(3, dims, maxd);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 3, chunk);
    b->dset = b->file < 0 ? -1
                          : H5Dcreate2(b->file, "data", H5T_STD_U16LE, space, H5P_DEFAULT, dcpl,
                                       H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Sclose(space);
    if (b->dset < 0)
        die(b->path, "H5Fcreate/H5Dcreate2 failed");
    void *fdp = NULL;
    if (H5Fget_vfd_handle(b->file, H5P_DEFAULT, &fdp) < 0 || !fdp)
        die(b->path, "H5Fget_vfd_handle failed");
    b->fd = *(int *)fdp;
}

static void base_write(struct base *b, const void *pixels)
{
    if (b->kind == BASE_RAW) {
        if (write_all(b->fd, pixels, b->frame_bytes) != 0)
            die(b->path, strerror(errno));
    } else {
        hsize_t dims[3] = {b->n + 1, b->height, b->width};
        hsize_t start[3] = {b->n, 0, 0}, count[3] = {1, b->height, b->width};
        if (H5Dset_extent(b->dset, dims) < 0)
            die(b->path, "H5Dset_extent failed");
        hid_t fspace = H5Dget_space(b->dset);
        hid_t mspace = H5Screate_simple(3, count, NULL);
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL);
        herr_t rc = H5Dwrite(b->dset, H5T_NATIVE_UINT16, mspace, fspace, H5P_DEFAULT, pixels);
        H5Sclose(mspace);
        H5Sclose(fspace);
        if (rc < 0)
            die(b->path, "H5Dwrite failed");
    }
    b->n++;
}

/* Makes everything written so far durable, as the recorder's flush does. */
static void base_sync(struct base *b)
{
    if (b->kind == BASE_H5 && H5Fflush(b->file, H5F_SCOPE_LOCAL) < 0)
        die(b->path, "H5Fflush failed");
    if (fdatasync(b->fd) != 0)
        die(b->path, strerror(errno));
}

/* Final sync and close; returns the file's size.  The caller removes the
 * file after stopping its clock (freeing gigabytes of tmpfs pages is not
 * writing). */
static uint64_t base_close(struct base *b)
{
    base_sync(b);
    if (b->kind == BASE_RAW)
        close(b->fd);
    else if (H5Dclose(b->dset) < 0 || H5Fclose(b->file) < 0)
        die(b->path, "H5Fclose failed");
    struct stat st;
    return stat(b->path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* A baseline fed by the camera: a DROP_NEWEST queue of QUEUE_MB of frames
 * subscribed when the clock starts, as the recorder's is. */
static struct result run_baseline(enum base_kind kind, const struct target *t,
                                  const struct shape *s, unsigned n)
{
    char err[256];
    size_t fb = shape_bytes(s);
    struct camera cam;
    camera_create(&cam, s);
    camera_run(&cam, (uint64_t)QUEUE_MB << 20);
    daq_sub_config sc;
    daq_sub_config_init(&sc);
    sc.name = "bench-baseline";
    sc.policy = DAQ_SUB_DROP_NEWEST;
    sc.queue_depth = (uint32_t)((((uint64_t)QUEUE_MB << 20) + fb - 1) / fb);
    if (sc.queue_depth > DAQ_SUB_MAX_DEPTH)
        sc.queue_depth = DAQ_SUB_MAX_DEPTH;
    uint64_t lost0, del0, lost1, del1;
    camera_counts(&cam, &lost0, &del0);
    uint64_t t0 = bench_now_ns();
    daq_sub *sub = daq_bus_subscribe(cam.bus, &sc, err, sizeof err);
    if (!sub)
        die("subscribe", err);
    struct base b;
    base_open(&b, kind, t, s);
    uint64_t last_sync = t0;
    while (b.n < n) {
        daq_frame *f;
        int r = daq_sub_next(sub, (int64_t)START_WAIT_MS * 1000000, &f);
        if (r != DAQ_SUB_FRAME)
            die("baseline", "the camera stopped delivering frames");
        base_write(&b, daq_frame_data(f));
        daq_frame_unref(f);
        uint64_t now = bench_now_ns();
        if (now - last_sync >= FLUSH_MS * 1000000ull) {
            base_sync(&b);
            last_sync = now;
        }
    }
    daq_sub_stats ss;
    daq_sub_stats_snapshot(sub, &ss);
    struct result res = {.frames = b.n, .dropped = ss.dropped, .bytes_in = b.n * fb};
    res.bytes_out = base_close(&b);
    res.secs = (double)(bench_now_ns() - t0) / 1e9;
    unlink(b.path);
    camera_counts(&cam, &lost1, &del1);
    res.lost = lost1 - lost0;
    res.delivered = del1 - del0;
    daq_sub_close(sub);
    daq_bus_unsubscribe(cam.bus, sub);
    camera_stop(&cam);
    return res;
}

/* raw without a camera: the file system's ceiling for this writer. */
static struct result run_raw_alone(const struct target *t, const struct shape *s, unsigned n)
{
    size_t fb = shape_bytes(s);
    void *ring[ALONE_RING];
    for (unsigned i = 0; i < ALONE_RING; i++) {
        ring[i] = malloc(fb);
        if (!ring[i])
            die("malloc", strerror(errno));
        daq_sim_render(ring[i], s->width, s->height, 16, i);
    }
    uint64_t t0 = bench_now_ns(), last_sync = t0;
    struct base b;
    base_open(&b, BASE_RAW, t, s);
    while (b.n < n) {
        base_write(&b, ring[b.n % ALONE_RING]);
        uint64_t now = bench_now_ns();
        if (now - last_sync >= FLUSH_MS * 1000000ull) {
            base_sync(&b);
            last_sync = now;
        }
    }
    struct result res = {.frames = b.n, .bytes_in = b.n * fb};
    res.bytes_out = base_close(&b);
    res.secs = (double)(bench_now_ns() - t0) / 1e9;
    unlink(b.path);
    for (unsigned i = 0; i < ALONE_RING; i++)
        free(ring[i]);
    return res;
}

/* ---- the recorder ----------------------------------------------------------------------- */

static struct result run_recorder(const struct target *t, const struct shape *s, daq_codec codec,
                                  unsigned n)
{
    char err[512];
    daq_storage_config sc;
    daq_storage_config_init(&sc);
    snprintf(sc.root, sizeof sc.root, "%s", t->dir);
    sc.hdf5.compression = codec;
    sc.flush_interval_ms = FLUSH_MS;
    sc.max_buffer_mb = QUEUE_MB;
    /* The storage borrows the device table, so the table comes first; the
     * pool's reserve is the storage's own figure. */
    struct camera cam;
    camera_create(&cam, s);
    daq_storage *st = daq_storage_create(cam.ds, &sc, err, sizeof err);
    if (!st)
        die("daq_storage_create", err);
    camera_run(&cam, daq_storage_reserve_bytes(st));
    char limit[32];
    snprintf(limit, sizeof limit, "%u", n);
    daq_kv meta[] = {{"max_frames", limit}, {"bench", "daq-bench record"}};
    daq_record_request req = {.name = "bench", .metadata = meta, .n_metadata = 2};
    daq_recording_status rs;
    uint64_t lost0, del0, lost1, del1;
    camera_counts(&cam, &lost0, &del0);
    uint64_t t0 = bench_now_ns();
    if (daq_storage_start(st, &req, &rs, err, sizeof err) != 0)
        die("daq_storage_start", err);
    /* Bounded: even a 10 FPS writer finishes within n / 10 s. */
    uint32_t wait_ms = 30000u + n * 100u;
    if (!daq_storage_wait_ended(st, wait_ms))
        fprintf(stderr, "daq-bench record: %s: recording did not reach %u frames in %u ms\n",
                t->name, n, wait_ms);
    if (daq_storage_stop(st, NULL, NULL, 0, &rs, err, sizeof err) != 0)
        die("daq_storage_stop", err);
    struct result res = {
        .secs = (double)(bench_now_ns() - t0) / 1e9,
        .frames = rs.samples_recorded,
        .dropped = rs.frames_dropped,
        .bytes_in = rs.bytes_in,
        .bytes_out = rs.bytes_written,
    };
    camera_counts(&cam, &lost1, &del1);
    res.lost = lost1 - lost0;
    res.delivered = del1 - del0;
    if (rs.state == DAQ_RECORDING_ERROR)
        die("recording", rs.error_message);
    /* A figure is only as good as the file: it must hold what was counted. */
    struct stat fst;
    if (stat(rs.output_path, &fst) != 0)
        die(rs.output_path, strerror(errno));
    if ((uint64_t)fst.st_size < rs.bytes_written)
        die(rs.output_path, "file smaller than the bytes the recorder reports written");
    unlink(rs.output_path);
    daq_storage_destroy(st);
    camera_stop(&cam);
    return res;
}

/* ---- the report --------------------------------------------------------------------------- */

static void key(char *out, size_t len, const struct target *t, const char *what)
{
    snprintf(out, len, "%s_%s", t->name, what);
}

static void put(const struct target *t, const char *what, double v, const char *unit,
                const char *note)
{
    char k[48];
    key(k, sizeof k, t, what);
    bench_result(k, v, unit, note);
}

static const char *pass(bool ok)
{
    return ok ? "PASS" : "MISS";
}

#define ROUNDS 3u /* interleaved rounds of the uncompressed writers */

struct sizes {
    unsigned disk, tmpfs, compress, zarr, paced, rounds;
};

/* The run with the median throughput (whole, so its counts go with it). */
static struct result median(struct result *v, unsigned n)
{
    for (unsigned i = 1; i < n; i++)
        for (unsigned j = i; j > 0 && mb_per_s(&v[j]) < mb_per_s(&v[j - 1]); j--) {
            struct result x = v[j];
            v[j] = v[j - 1];
            v[j - 1] = x;
        }
    return v[n / 2];
}

/* The 1-minute load average: builds or tests running beside the bench
 * distort every figure, so the report says how busy the machine was. */
static double loadavg(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

static void progress(bool json, const char *what)
{
    if (!json)
        fprintf(stderr, "daq-bench record: %s\n", what);
}

int bench_record_main(int argc, char **argv);

int bench_record_main(int argc, char **argv)
{
    bool json = false, quick = false;
    const char *disk_parent = NULL, *tmpfs_parent = "/dev/shm";
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (strcmp(argv[i], "--quick") == 0)
            quick = true;
        else if (strcmp(argv[i], "--disk") == 0 && i + 1 < argc)
            disk_parent = argv[++i];
        else if (strcmp(argv[i], "--tmpfs") == 0 && i + 1 < argc)
            tmpfs_parent = argv[++i];
        else {
            fprintf(stderr, "usage: daq-bench record [--json] [--quick] [--disk DIR] "
                            "[--tmpfs DIR]\n");
            return 2;
        }
    }
    /* Frames per run: ~3 s per uncompressed writer at the rates measured
     * here; --quick is a smoke run. */
    const struct sizes sz = quick ? (struct sizes){16, 32, 16, 64, 100, 1}
                                  : (struct sizes){240, 400, 160, 512, 300, ROUNDS};
    char bdir[PATH_MAX];
    if (!disk_parent) {
        build_dir(bdir, sizeof bdir);
        disk_parent = bdir;
    }
    daq_log_set_filter("warn", NULL, 0);
    atexit(cleanup);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    double load0 = loadavg();
    targets_made = true;
    target_make(&targets[0], "disk", disk_parent);
    target_make(&targets[1], "tmpfs", tmpfs_parent);
    if (strcmp(targets[1].fs, "tmpfs") != 0)
        die(targets[1].dir, "not a tmpfs (--tmpfs DIR)");

    const struct shape big = {2048, 2048, false, 0, false};
    const struct shape scene = {2048, 2048, false, 0, true};
    const struct shape zarr = {1024, 1024, false, 0, false};
    const struct shape paced = {2048, 2048, true, 100.0, false};
    struct {
        struct result rec, raw, h5, alone, lz4, bslz4, zarr;
    } r[2];
    char what[PATH_MAX + 128];
    for (int i = 0; i < 2; i++) {
        const struct target *t = &targets[i];
        unsigned n = i == 0 ? sz.disk : sz.tmpfs;
        snprintf(what, sizeof what, "%s (%s, %s): %u frames per writer, %u rounds", t->name, t->fs,
                 t->dir, n, sz.rounds);
        progress(json, what);
        r[i].alone = run_raw_alone(t, &big, n);
        struct result raw[ROUNDS], h5[ROUNDS], rec[ROUNDS];
        for (unsigned k = 0; k < sz.rounds; k++) {
            raw[k] = run_baseline(BASE_RAW, t, &big, n);
            h5[k] = run_baseline(BASE_H5, t, &big, n);
            rec[k] = run_recorder(t, &big, DAQ_CODEC_NONE, n);
        }
        r[i].raw = median(raw, sz.rounds);
        r[i].h5 = median(h5, sz.rounds);
        r[i].rec = median(rec, sz.rounds);
        progress(json, "  compression and the acquire-zarr workload");
        r[i].lz4 = run_recorder(t, &scene, DAQ_CODEC_LZ4, sz.compress);
        r[i].bslz4 = run_recorder(t, &scene, DAQ_CODEC_BSLZ4, sz.compress);
        r[i].zarr = run_recorder(t, &zarr, DAQ_CODEC_NONE, sz.zarr);
    }
    progress(json, "tmpfs: 100 FPS of 8 MiB frames");
    struct result p = run_recorder(&targets[1], &paced, DAQ_CODEC_NONE, sz.paced);

    char note[112];
    for (int i = 0; i < 2; i++) {
        const struct target *t = &targets[i];
        snprintf(note, sizeof note, "recorder, none, %" PRIu64 " frames 2048x2048x16, instant",
                 r[i].rec.frames);
        put(t, "mb_per_s", mb_per_s(&r[i].rec), "MB/s", note);
        put(t, "fps", fps(&r[i].rec), "1/s", "frames written / (start .. stop returned)");
        put(t, "frames_dropped", (double)r[i].rec.dropped, "",
            "by the recorder (instant timing overloads it)");
        put(t, "camera_fps", (double)r[i].rec.delivered / r[i].rec.secs, "1/s",
            "frames the instant sim delivered meanwhile (each one copied)");
        put(t, "raw_mb_per_s", mb_per_s(&r[i].raw), "MB/s",
            "write() + fdatasync/1 s, fed by the same camera");
        put(t, "ratio_vs_raw", mb_per_s(&r[i].rec) / mb_per_s(&r[i].raw), "x",
            "mb_per_s / raw_mb_per_s (target >= 0.9)");
        put(t, "h5dwrite_mb_per_s", mb_per_s(&r[i].h5), "MB/s",
            "H5Dwrite, chunk (1,H,W), H5Fflush+fdatasync/1 s, same camera");
        put(t, "ratio_vs_h5dwrite", mb_per_s(&r[i].rec) / mb_per_s(&r[i].h5), "x",
            "mb_per_s / h5dwrite_mb_per_s (target >= 1.0)");
        put(t, "raw_alone_mb_per_s", mb_per_s(&r[i].alone), "MB/s",
            "write() + fdatasync/1 s from 8 malloc'd frames, no camera");
        put(t, "lz4_in_mb_per_s", mb_per_s(&r[i].lz4), "MB/s",
            "recorder, lz4, realistic scene: pixel bytes in");
        put(t, "lz4_fps", fps(&r[i].lz4), "1/s", "");
        put(t, "lz4_ratio", ratio(&r[i].lz4), "x", "bytes in / bytes written");
        put(t, "bslz4_in_mb_per_s", mb_per_s(&r[i].bslz4), "MB/s",
            "recorder, bslz4, realistic scene");
        put(t, "bslz4_fps", fps(&r[i].bslz4), "1/s", "");
        put(t, "bslz4_ratio", ratio(&r[i].bslz4), "x", "");
        snprintf(note, sizeof note,
                 "acquire-zarr workload: %" PRIu64 " frames 1024x1024 uint16 random, none",
                 r[i].zarr.frames);
        put(t, "zarr_mb_per_s", mb_per_s(&r[i].zarr), "MB/s", note);
        put(t, "zarr_fps", fps(&r[i].zarr), "1/s", "");
        put(t, "zarr_frames_dropped", (double)r[i].zarr.dropped, "", "");
    }
    bench_result("tmpfs_100fps_fps", fps(&p), "1/s",
                 "paced sim at 100 FPS, 8 MiB frames, recorder none");
    bench_result("tmpfs_100fps_frames_dropped", (double)p.dropped, "", "by the recorder");
    bench_result("tmpfs_100fps_frames_lost", (double)p.lost, "", "by the camera");
    for (int i = 0; i < 2; i++) {
        char k[48];
        key(k, sizeof k, &targets[i], "target_ratio_vs_raw");
        bench_result_str(k, pass(mb_per_s(&r[i].rec) >= 0.9 * mb_per_s(&r[i].raw)),
                         ">= 0.9, uncompressed");
        key(k, sizeof k, &targets[i], "target_ratio_vs_h5dwrite");
        bench_result_str(k, pass(mb_per_s(&r[i].rec) >= mb_per_s(&r[i].h5)), ">= 1.0");
    }
    bench_result_str("tmpfs_target_100fps_0_dropped",
                     pass(p.dropped == 0 && p.lost == 0 && p.frames == sz.paced),
                     "0 dropped, 0 lost, every frame written");
    /* Uncompressed bytes are the same whatever the image, so none's rate
     * on the pattern stands for none on the scene. */
    snprintf(note, sizeof note, "lz4 %.1f fps (%.2fx) vs none %.1f fps; bslz4 %.1f fps (%.2fx)",
             fps(&r[0].lz4), ratio(&r[0].lz4), fps(&r[0].rec), fps(&r[0].bslz4),
             ratio(&r[0].bslz4));
    bench_result_str("disk_lz4_beats_none", fps(&r[0].lz4) > fps(&r[0].rec) ? "yes" : "no", note);
    bench_result("loadavg_start", load0, "", "1-min load average before the run (2 cores)");
    bench_result("loadavg_end", loadavg(), "",
                 "after it; other work on the machine distorts figures");
    bench_result_str("disk_fs", targets[0].fs, targets[0].dir);
    bench_result_str("tmpfs_fs", targets[1].fs, targets[1].dir);
    bench_print("daq-bench record: 8 MiB sim frames to HDF5, on a disk and a tmpfs", json);
    cleanup();
    return 0;
}
