/* bench/bench_aravis.c - `daq-bench aravis`: 2048x2048 Mono8 frames from
 * Aravis' fake GigE Vision camera over loopback, through the aravis driver
 * and the acquisition engine, next to two baselines measured in the same
 * run on the same camera connection:
 *
 *  plain  Aravis as its own examples use it: a stream with buffers of its
 *         own, pop, push back.  Nothing is done with the pixels.  This is
 *         what the receiver can do; daq must not be slower (fps ratio).
 *  copy   the integration daq replaces: pop an Aravis buffer, take a pool
 *         frame, memcpy the image into it, push the buffer back, drop the
 *         frame.  No engine, no bus: a lower bound on a copying driver's
 *         cost, so "daq uses less CPU than copy" is a conservative claim.
 *  daq    the aravis driver in FILL mode under the real engine (pool, loss
 *         check, bus) with one consumer thread taking every frame.
 *
 * The fake camera is a separate process: its CPU is not ours.  CPU per
 * frame is this process's CPU time (CLOCK_PROCESS_CPUTIME_ID: Aravis'
 * receive thread, the engine, the consumer, this thread) over a window of
 * frames, read at the window's first and last frame by the thread that
 * sees them.  Rounds interleave the three modes (order rotated) so that
 * drift (the fake's pace, the host) falls on all of them alike; ratios are
 * taken within a round and their median reported, next to the medians of
 * the absolute figures.
 *
 * Network: the bench makes itself a private network namespace (unshare
 * CLONE_NEWNET, or with a user namespace when not root) before any thread
 * exists, brings lo up, and starts arv-fake-gv-camera-0.8 on 127.0.0.1
 * inside it -- GigE discovery and the fake never touch the host's network.
 */
#define _GNU_SOURCE
#include <arv.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "daq/aravis.h"
#include "daq/acq.h"
#include "daq/log.h"
#include "drivers/aravis/aravis_impl.h"

#define SIDE        2048
#define PACKET_SIZE 8972 /* a jumbo frame's payload: 9000 - IP/UDP/GVSP headers */
#define N_BUFFERS   8    /* queued at Aravis, the same in every mode */

extern char **environ;

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One measured window: frames good frames between two stamps. */
typedef struct window {
    double t0, t1, c0, c1; /* wall s, CPU s */
    uint64_t frames, failed;
    uint64_t lost; /* frame ids skipped between good frames: the fake sent them, we missed them */
} window;

static void stamp(double *t, double *c)
{
    *t = (double)bench_now_ns() / 1e9;
    *c = cpu_s();
}

static double fps_of(const window *w)
{
    return w->t1 > w->t0 ? (double)w->frames / (w->t1 - w->t0) : 0;
}

static double cpu_per_frame(const window *w)
{
    return w->frames ? (w->c1 - w->c0) / (double)w->frames : 0;
}

/* ---- the namespace and the fake ---------------------------------------------------- */

static pid_t fake_pid = -1;

static int enter_netns(void)
{
    int flags = CLONE_NEWNET | (geteuid() == 0 ? 0 : CLONE_NEWUSER);
    if (unshare(flags) != 0) {
        fprintf(stderr,
                "daq-bench aravis: cannot make a network namespace (%s); it needs root or "
                "unprivileged user namespaces\n",
                strerror(errno));
        return -1;
    }
    if (system("PATH=$PATH:/usr/sbin:/sbin ip link set lo up") != 0) {
        fprintf(stderr, "daq-bench aravis: 'ip link set lo up' failed (iproute2?)\n");
        return -1;
    }
    return 0;
}

static int start_fake(void)
{
    char *argv[] = {"arv-fake-gv-camera-0.8", "-i", "127.0.0.1", "-s", "DAQ-BENCH", NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawnp(&fake_pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        fprintf(stderr, "daq-bench aravis: cannot start %s: %s (aravis-tools)\n", argv[0],
                strerror(rc));
        fake_pid = -1;
        return -1;
    }
    return 0;
}

static void stop_fake(void)
{
    if (fake_pid > 0) {
        kill(fake_pid, SIGTERM);
        waitpid(fake_pid, NULL, 0);
        fake_pid = -1;
    }
}

/* ---- baselines on the driver's own camera connection ------------------------------- */

/* A stream configured as the driver configures its own. */
static ArvStream *baseline_stream(ArvCamera *c, int64_t socket_buffer, size_t payload,
                                  ArvBuffer **bufs)
{
    GError *e = NULL;
    ArvStream *s = arv_camera_create_stream(c, NULL, NULL, &e);
    if (!s) {
        fprintf(stderr, "baseline stream: %s\n", e ? e->message : "?");
        g_clear_error(&e);
        return NULL;
    }
    g_object_set(
        s, "socket-buffer",
        socket_buffer ? ARV_GV_STREAM_SOCKET_BUFFER_FIXED : ARV_GV_STREAM_SOCKET_BUFFER_AUTO, NULL);
    if (socket_buffer)
        g_object_set(s, "socket-buffer-size", (gint)socket_buffer, NULL);
    for (int i = 0; i < N_BUFFERS; i++) {
        bufs[i] = arv_buffer_new(payload, NULL);
        /* Prefaulted like the pool's slots, so first-touch faults do not
         * count against the baseline.  Ours to write: not queued yet. */
        bench_prefault((void *)arv_buffer_get_data(bufs[i], NULL), payload);
        arv_stream_push_buffer(s, g_object_ref(bufs[i]));
    }
    return s;
}

/* plain (pool == NULL) or copy: warm-up frames, then a window of n. */
static int run_baseline(ArvCamera *c, int64_t socket_buffer, size_t payload, daq_pool *pool,
                        uint64_t warm, uint64_t n, window *w)
{
    ArvBuffer *bufs[N_BUFFERS];
    ArvStream *s = baseline_stream(c, socket_buffer, payload, bufs);
    if (!s)
        return -1;
    memset(w, 0, sizeof *w);
    arv_camera_start_acquisition(c, NULL);
    uint64_t good = 0;
    guint64 last_id = 0;
    int rc = 0;
    while (good < warm + n) {
        ArvBuffer *b = arv_stream_timeout_pop_buffer(s, 5000000);
        if (!b) {
            fprintf(stderr, "baseline: no frame for 5 s\n");
            rc = -1;
            break;
        }
        if (arv_buffer_get_status(b) != ARV_BUFFER_STATUS_SUCCESS) {
            w->failed += good >= warm;
            arv_stream_push_buffer(s, b);
            continue;
        }
        guint64 id = arv_buffer_get_frame_id(b);
        if (good >= warm && last_id && id > last_id + 1 && id - last_id < 0x8000)
            w->lost += id - last_id - 1; /* (a wrap, 65535 -> 1, is no loss) */
        last_id = id;
        if (pool) {
            size_t size = 0;
            const void *img = arv_buffer_get_image_data(b, &size);
            daq_frame *f = daq_pool_try_acquire(pool);
            if (f) {
                memcpy(daq_frame_data(f), img, size);
                daq_frame_unref(f);
            }
        }
        arv_stream_push_buffer(s, b);
        if (++good == warm)
            stamp(&w->t0, &w->c0);
    }
    stamp(&w->t1, &w->c1);
    w->frames = good > warm ? good - warm : 0;
    arv_camera_stop_acquisition(c, NULL);
    g_object_unref(s);
    for (int i = 0; i < N_BUFFERS; i++)
        g_object_unref(bufs[i]);
    return rc;
}

/* ---- daq: the driver under the engine ----------------------------------------------- */

typedef struct daq_consumer {
    daq_sub *sub;
    uint64_t warm, n, seen;
    window *w;
} daq_consumer;

/* Takes every frame; stamps the window at the warm-up'th and last frame. */
static void *consume(void *arg)
{
    daq_consumer *dc = arg;
    daq_frame *f;
    int r;
    while ((r = daq_sub_next(dc->sub, -1, &f)) != DAQ_SUB_CLOSED && r != DAQ_SUB_EOS) {
        if (r != DAQ_SUB_FRAME)
            continue;
        daq_frame_unref(f);
        dc->seen++;
        if (dc->seen == dc->warm)
            stamp(&dc->w->t0, &dc->w->c0);
        if (dc->seen == dc->warm + dc->n)
            stamp(&dc->w->t1, &dc->w->c1);
    }
    return NULL;
}

static int run_daq(daq_acq *a, daq_bus *bus, uint64_t warm, uint64_t n, window *w,
                   uint64_t *memcpy_count)
{
    memset(w, 0, sizeof *w);
    daq_sub_config sc;
    daq_sub_config_init(&sc);
    sc.name = "bench";
    sc.policy = DAQ_SUB_LOSSLESS;
    sc.queue_depth = 8;
    char err[256];
    daq_consumer dc = {.warm = warm, .n = n, .w = w};
    dc.sub = daq_bus_subscribe(bus, &sc, err, sizeof err);
    if (!dc.sub) {
        fprintf(stderr, "subscribe: %s\n", err);
        return -1;
    }
    pthread_t t;
    pthread_create(&t, NULL, consume, &dc);
    int rc = daq_acq_start(a, warm + n, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "daq start: %s\n", err);
    else if (!daq_acq_wait_idle(a, 120000))
        rc = -1;
    daq_acq_stop(a);
    pthread_join(t, NULL);
    daq_bus_unsubscribe(bus, dc.sub);
    daq_acq_stats s;
    daq_acq_stats_snapshot(a, &s);
    w->frames = dc.seen >= warm + n ? n : 0;
    w->failed = s.driver.readout_errors;
    w->lost = s.lost;
    const daq_camera_extra *copies = daq_camera_stats_find(&s.driver, "memcpy_count");
    *memcpy_count += copies ? copies->value : 0;
    if (s.state != DAQ_ACQ_IDLE || !w->frames) {
        fprintf(stderr, "daq run: state %s, %lu of %lu frames: %s\n", daq_acq_state_name(s.state),
                (unsigned long)dc.seen, (unsigned long)(warm + n), s.error);
        rc = -1;
    }
    return rc;
}

/* ---- main ----------------------------------------------------------------------------- */

static double median(double *v, size_t n)
{
    return bench_quantile(v, n, 0.5);
}

int bench_aravis_main(int argc, char **argv);

int bench_aravis_main(int argc, char **argv)
{
    bool json = false;
    unsigned rounds = 5;
    uint64_t frames = 200, warm = 20;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = (unsigned)atoi(argv[++i]);
        else if (strcmp(argv[i], "--frames") == 0 && i + 1 < argc)
            frames = (uint64_t)atoll(argv[++i]);
        else {
            fprintf(stderr, "usage: daq-bench aravis [--json] [--rounds N] [--frames N]\n");
            return 2;
        }
    }
    if (rounds < 1 || rounds > 50 || frames < 10)
        return fprintf(stderr, "daq-bench aravis: bad --rounds/--frames\n"), 2;
    daq_log_set_filter("warn", NULL, 0);
    if (enter_netns() != 0 || start_fake() != 0)
        return 1;

    char err[256];
    int rc = 1;
    daq_bus *bus = daq_bus_create("bench");
    daq_camera *cam = daq_aravis_register(err, sizeof err) == 0
                          ? daq_camera_create("aravis", "bench", err, sizeof err)
                          : NULL;
    const char *settings[][2] = {
        {"camera", "127.0.0.1"}, {"pixel_format", "Mono8"}, {"width", "2048"},
        {"height", "2048"},      {"frame_rate_hz", "1000"}, /* the fake's maximum */
        {"packet_size", "8972"}, {"buffers", "8"},
    };
    for (size_t i = 0; cam && i < sizeof settings / sizeof settings[0]; i++)
        if (daq_camera_set_param_text(cam, settings[i][0], settings[i][1], err, sizeof err)) {
            fprintf(stderr, "set %s: %s\n", settings[i][0], err);
            goto out;
        }
    /* The fake process may still be binding its sockets. */
    for (int i = 0; cam && daq_camera_open(cam, err, sizeof err) != 0; i++)
        if (i == 50) {
            fprintf(stderr, "open 127.0.0.1: %s\n", err);
            goto out;
        } else
            usleep(100000);
    daq_param_value sb;
    daq_camera_get_param(cam, "socket_buffer", &sb, err, sizeof err);
    ArvCamera *ac = aravis_arv_camera(cam);
    daq_camera_format fmt;
    if (daq_camera_get_format(cam, &fmt, err, sizeof err) != 0) {
        fprintf(stderr, "format: %s\n", err);
        goto out;
    }
    daq_acq_config cfg;
    daq_acq_config_init(&cfg);
    daq_acq *a = daq_acq_create(cam, bus, &cfg, err, sizeof err);
    cam = NULL; /* the engine's now */
    if (!a) {
        fprintf(stderr, "acq: %s\n", err);
        goto out;
    }
    daq_pool_config pc;
    daq_pool_config_init(&pc);
    pc.name = "bench-copy";
    pc.slot_bytes = fmt.frame_bytes;
    pc.slot_count = 16;
    daq_pool *copy_pool = daq_pool_create(&pc, err, sizeof err);
    if (!copy_pool) {
        fprintf(stderr, "pool: %s\n", err);
        daq_acq_destroy(a);
        goto out;
    }

    double fps[3][50], cpu[3][50];
    uint64_t failed[3] = {0}, lost[3] = {0}, memcpy_count = 0;
    static const char *const names[3] = {"plain", "copy", "daq"};
    rc = 0;
    for (unsigned r = 0; r < rounds && rc == 0; r++) {
        for (unsigned k = 0; k < 3 && rc == 0; k++) {
            unsigned m = (r + k) % 3; /* rotate the order: none always runs first */
            window w;
            rc = m == 2 ? run_daq(a, bus, warm, frames, &w, &memcpy_count)
                        : run_baseline(ac, sb.i, fmt.frame_bytes, m == 1 ? copy_pool : NULL, warm,
                                       frames, &w);
            fps[m][r] = fps_of(&w);
            cpu[m][r] = cpu_per_frame(&w);
            failed[m] += w.failed;
            lost[m] += w.lost;
            /* Per-round figures on stderr, also with --json (stdout). */
            fprintf(stderr, "round %u %-5s %7.1f fps %8.3f ms CPU/frame (%lu failed, %lu lost)\n",
                    r, names[m], fps[m][r], cpu[m][r] * 1e3, (unsigned long)w.failed,
                    (unsigned long)w.lost);
        }
    }
    if (rc == 0) {
        /* Ratios per round first (its three windows ran back to back, under
         * the same host load), then their median: the fake's pace drifts
         * with the host far more than between adjacent windows. */
        double fr[50], cr_copy[50], cr_plain[50], fr_min = 1e9;
        for (unsigned r = 0; r < rounds; r++) {
            fr[r] = fps[2][r] / fps[0][r];
            fr_min = fr[r] < fr_min ? fr[r] : fr_min;
            cr_copy[r] = cpu[2][r] / cpu[1][r];
            cr_plain[r] = cpu[2][r] / cpu[0][r];
        }
        double f[3], c[3]; /* median() sorts in place: after the ratios */
        for (int m = 0; m < 3; m++) {
            f[m] = median(fps[m], rounds);
            c[m] = median(cpu[m], rounds);
        }
        bench_result("daq_fps", f[2], "1/s", "driver + engine + one consumer, median of rounds");
        bench_result("plain_fps", f[0], "1/s", "plain Aravis loop, its own buffers");
        bench_result("copy_fps", f[1], "1/s", "Aravis buffer -> memcpy into a pool frame");
        bench_result("daq_cpu_s_per_frame", c[2], "s", "this process only (not the fake)");
        bench_result("plain_cpu_s_per_frame", c[0], "s", "");
        bench_result("copy_cpu_s_per_frame", c[1], "s", "");
        bench_result("fps_ratio_vs_plain", median(fr, rounds), "x",
                     "daq / plain, median of per-round ratios (target >= 0.95)");
        bench_result("fps_ratio_vs_plain_min", fr_min, "x", "worst round");
        bench_result("cpu_ratio_vs_copy", median(cr_copy, rounds), "x",
                     "daq / copy CPU per frame, median of per-round ratios (target < 1)");
        bench_result("cpu_ratio_vs_plain", median(cr_plain, rounds), "x",
                     "daq / plain CPU per frame, median of per-round ratios");
        bench_result("daq_memcpy_count", (double)memcpy_count, "", "frame copies by the driver");
        bench_result("failed_buffers_daq", (double)failed[2], "", "all rounds");
        bench_result("failed_buffers_plain", (double)failed[0], "", "all rounds");
        bench_result("failed_buffers_copy", (double)failed[1], "", "all rounds");
        bench_result("lost_frames_daq", (double)lost[2], "", "engine loss count, warm-up included");
        bench_result("lost_frames_plain", (double)lost[0], "", "gaps in frame ids after warm-up");
        bench_result("lost_frames_copy", (double)lost[1], "", "gaps in frame ids after warm-up");
        bench_result("rounds", rounds, "", "plain/copy/daq interleaved, order rotated");
        bench_result("frames_per_window", (double)frames, "", "after warm-up frames");
        bench_result("frame_bytes", (double)fmt.frame_bytes, "B", "2048x2048 Mono8");
        bench_result("packet_size", PACKET_SIZE, "B", "GVSP packet size");
        bench_result("socket_buffer", (double)sb.i, "B", "0 = Aravis auto (root)");
        bench_print("daq-bench aravis: 2048x2048 Mono8, fake GigE camera over loopback", json);
    }
    daq_acq_destroy(a);
    daq_pool_destroy(copy_pool);
out:
    daq_camera_destroy(cam);
    daq_bus_destroy(bus);
    stop_fake();
    return rc == 0 ? 0 : 1;
}
