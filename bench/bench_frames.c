/* bench/bench_frames.c - `daq-bench frames`: the whole frame path at full
 * speed.  The simulated camera in instant timing (a perfect source paced by
 * the reader), 8 MiB frames, the real engine thread copying each into a
 * pool slot and publishing it to three null consumers.  Next to it, in the
 * same run: the bare copy it must do (8 MiB memcpy from a ring of the same
 * size into rotating prefaulted buffers) as the roofline, and the same
 * stream with the pool switched off and glibc's mmap threshold pinned (the
 * heap path's real face: a fresh mapping and 2048 page faults per frame).
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "daq/acq.h"
#include "daq/log.h"
#include "malloc_count.h"

#define W       2048u
#define H       2048u
#define FRAME   ((size_t)W * H * 2)
#define RING    32u
#define DST     16u
#define WINDOWS 9u

struct null_consumer {
    daq_sub *sub;
    pthread_t thread;
};

static void *drain(void *arg)
{
    struct null_consumer *c = arg;
    daq_frame *f;
    int r;
    while ((r = daq_sub_next(c->sub, -1, &f)) != DAQ_SUB_CLOSED)
        if (r == DAQ_SUB_FRAME)
            daq_frame_unref(f);
    return NULL;
}

struct run {
    double fps, faults_per_frame, mallocs_per_frame, hit_rate;
    uint64_t frames, lost;
    uint32_t slots_used; /* pool high-water: how many slots the copies rotated over */
};

static uint64_t delivered(daq_acq *a)
{
    daq_acq_stats s;
    daq_acq_stats_snapshot(a, &s);
    return s.delivered;
}

static void wait_for(daq_acq *a, uint64_t n)
{
    while (delivered(a) < n)
        usleep(500);
}

static struct run stream(bool use_pool, bool shareable, unsigned warm, unsigned frames)
{
    char err[256];
    daq_camera *cam = daq_camera_create("sim", "bench", err, sizeof err);
    if (!cam) {
        fprintf(stderr, "daq-bench: %s\n", err);
        exit(1);
    }
    daq_camera_set_param_text(cam, "width", "2048", err, sizeof err);
    daq_camera_set_param_text(cam, "height", "2048", err, sizeof err);
    daq_camera_set_param_text(cam, "bit_depth", "16", err, sizeof err);
    daq_camera_set_param_text(cam, "timing", "instant", err, sizeof err);
    daq_camera_set_param_text(cam, "ring_frames", "32", err, sizeof err);
    daq_bus *bus = daq_bus_create("bench");
    struct null_consumer nc[3];
    for (int i = 0; i < 3; i++) {
        daq_sub_config sc;
        daq_sub_config_init(&sc);
        sc.policy = DAQ_SUB_DROP_OLDEST;
        sc.queue_depth = 4;
        nc[i].sub = daq_bus_subscribe(bus, &sc, err, sizeof err);
        pthread_create(&nc[i].thread, NULL, drain, &nc[i]);
    }
    daq_acq_config cfg;
    daq_acq_config_init(&cfg);
    cfg.pool.shareable = shareable;
    daq_acq *a = daq_acq_create(cam, bus, &cfg, err, sizeof err);
    if (a)
        daq_acq_set_use_pool(a, use_pool);
    if (!a || daq_acq_start(a, warm + frames, err, sizeof err) != 0) {
        fprintf(stderr, "daq-bench: %s\n", err);
        exit(1);
    }
    wait_for(a, warm);
    uint64_t n0 = delivered(a), t0 = bench_now_ns(), m0 = daq_malloc_count();
    long f0 = bench_minor_faults();
    /* The rate in WINDOWS windows; the median resists a noisy neighbour. */
    double rate[WINDOWS];
    uint64_t wn = n0, wt = t0;
    for (unsigned w = 0; w < WINDOWS; w++) {
        wait_for(a, warm + (uint64_t)frames * (w + 1) / WINDOWS);
        uint64_t n = delivered(a), t = bench_now_ns();
        rate[w] = (double)(n - wn) * 1e9 / (double)(t - wt);
        wn = n;
        wt = t;
    }
    daq_acq_wait_idle(a, 600000);
    daq_acq_stats s;
    daq_acq_stats_snapshot(a, &s);
    uint64_t n = s.delivered - n0;
    struct run r = {
        .fps = bench_quantile(rate, WINDOWS, 0.5),
        .faults_per_frame = (double)(bench_minor_faults() - f0) / (double)n,
        .mallocs_per_frame = (double)(daq_malloc_count() - m0) / (double)n,
        .hit_rate = s.pool.hit_rate,
        .frames = n,
        .lost = s.lost,
        .slots_used = s.pool.high_water,
    };
    for (int i = 0; i < 3; i++) {
        daq_sub_close(nc[i].sub);
        pthread_join(nc[i].thread, NULL);
    }
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
    return r;
}

/* The copy the engine does, and nothing else: from a ring of RING frames
 * into ndst rotating destinations, all prefaulted.  Median of WINDOWS
 * runs of frames/WINDOWS copies. */
static double roofline_fps(unsigned frames, unsigned ndst)
{
    unsigned char *src[RING], *dst[DST];
    for (unsigned i = 0; i < RING; i++) {
        src[i] = aligned_alloc(4096, FRAME);
        bench_prefault(src[i], FRAME);
    }
    if (ndst < 1 || ndst > DST)
        ndst = ndst < 1 ? 1 : DST;
    for (unsigned i = 0; i < ndst; i++) {
        dst[i] = aligned_alloc(4096, FRAME);
        bench_prefault(dst[i], FRAME);
    }
    for (unsigned i = 0; i < 2 * RING; i++)
        memcpy(dst[i % ndst], src[i % RING], FRAME);
    double rate[WINDOWS];
    unsigned per = frames / WINDOWS ? frames / WINDOWS : 1;
    for (unsigned w = 0; w < WINDOWS; w++) {
        uint64_t t0 = bench_now_ns();
        for (unsigned i = 0; i < per; i++)
            memcpy(dst[i % ndst], src[i % RING], FRAME);
        rate[w] = per * 1e9 / (double)(bench_now_ns() - t0);
    }
    double fps = bench_quantile(rate, WINDOWS, 0.5);
    for (unsigned i = 0; i < RING; i++)
        free(src[i]);
    for (unsigned i = 0; i < ndst; i++)
        free(dst[i]);
    return fps;
}

int bench_frames_main(int argc, char **argv);

int bench_frames_main(int argc, char **argv)
{
    bool json = false;
    unsigned frames = 3000, heap_frames = 300;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (strcmp(argv[i], "--frames") == 0 && i + 1 < argc)
            frames = (unsigned)strtoul(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: daq-bench frames [--json] [--frames N]\n");
            return 2;
        }
    }
    unsetenv("DAQ_USE_POOL");
    unsetenv("PVCAM_USE_POOL");
    daq_log_set_filter("warn", NULL, 0);

    struct run pool = stream(true, false, 200, frames);
    /* The arena in a sealed memfd, mapped shared (issue 16's tap): the
     * frame path must not notice. */
    struct run shared = stream(true, true, 200, frames);
    /* Like for like: the engine's copies rotated over the pool's high-water
     * count of slots (LIFO keeps them hot), so the roofline copies into that
     * many; the all-cold variant (16 destinations) is shown beside it. */
    double roof = roofline_fps(frames, pool.slots_used);
    double roof_cold = roofline_fps(frames / 2, DST);
    /* The heap path last: pinning the mmap threshold is one-way. */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    struct run heap = stream(false, false, 20, heap_frames);

    bench_result("fps", pool.fps, "1/s",
                 "sim instant, 2048x2048x16, 3 null consumers, pool on; median of 9 windows");
    bench_result("gbps", pool.fps * (double)FRAME / 1e9, "GB/s", "payload copied per second");
    bench_result("faults_per_frame", pool.faults_per_frame, "",
                 "minor faults / frame, whole process");
    bench_result("mallocs_per_frame", pool.mallocs_per_frame, "",
                 "heap allocations / frame (interposer)");
    bench_result("pool_hit_rate", pool.hit_rate, "", "");
    bench_result("frames", (double)pool.frames, "", "measured after 200 warm-up frames");
    bench_result("lost", (double)pool.lost, "", "");
    bench_result("pool_slots_used", pool.slots_used, "", "pool high-water during the run");
    bench_result("roofline_fps", roof, "1/s",
                 "bare 8 MiB memcpy, 32-frame ring -> pool_slots_used rotating buffers");
    bench_result("ratio_vs_roofline", pool.fps / roof, "x", "fps / roofline_fps (target >= 0.9)");
    bench_result("roofline_cold_fps", roof_cold, "1/s", "same into 16 rotating buffers");
    bench_result("shared_fps", shared.fps, "1/s", "the pool's arena in a sealed memfd (shareable)");
    bench_result("shared_faults_per_frame", shared.faults_per_frame, "", "");
    bench_result("shared_mallocs_per_frame", shared.mallocs_per_frame, "", "");
    bench_result("ratio_shared_vs_private", shared.fps / pool.fps, "x",
                 "shared_fps / fps (target: 1 within noise)");
    bench_result("heap_fps", heap.fps, "1/s", "use_pool=false, M_MMAP_THRESHOLD=131072");
    bench_result("heap_faults_per_frame", heap.faults_per_frame, "", "");
    bench_result("heap_mallocs_per_frame", heap.mallocs_per_frame, "", "");
    bench_result("ratio_pool_vs_heap", pool.fps / heap.fps, "x", "fps / heap_fps");
    bench_result_str("counting", daq_malloc_count_mechanism(), "");
    bench_print("daq-bench frames: 8 MiB frames through sim -> engine -> pool -> bus", json);
    return 0;
}
