/* tests/metrics/metrics_dump.c - prints a real exposition for the format
 * checkers (check_exposition.sh: promtool and prometheus_client).
 *
 * Streams the simulated camera (256x256, 500 FPS) for about a second into
 * two consumers on threads, then renders three devices while the stream
 * still runs: the streaming one (id with a quote and a backslash, so the
 * escaping is exercised by the real parsers), one that failed to come up
 * (acq NULL) and an idle engine that never started (no pool yet).  Prints
 * the text to stdout; exit status 1 on any setup failure.
 *
 * With --storage DIR (a build with libdaq-storage) a fourth device "rec0"
 * (sim, 64x64) comes from a daq_devices table with a recorder on it: one
 * recording of 50 frames into DIR, finished, and a second one still
 * running when the exposition is rendered, so every daq_recorder_* family
 * has real values (frames, bytes, flushes, recording 1).
 *
 * usage: metrics_dump [seconds] [--storage DIR]
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daq/acq.h"
#include "daq/bus.h"
#include "daq/camera.h"
#include "daq/metrics.h"

#ifdef DAQ_WITH_STORAGE
#include "daq/config.h"
#include "daq/devices.h"
#include "daq/storage.h"
#endif

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, const char *err)
{
    fprintf(stderr, "metrics_dump: %s: %s\n", what, err);
    exit(1);
}

static daq_camera *sim(const char *id)
{
    char err[256];
    daq_camera *cam = daq_camera_create("sim", id, err, sizeof err);
    if (!cam)
        die("camera", err);
    static const char *const params[][2] = {
        {"width", "256"},         {"height", "256"},    {"bit_depth", "16"},
        {"frame_rate_hz", "500"}, {"exposure_ms", "1"}, {"timing", "realistic"},
        {"ring_frames", "64"},
    };
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
        if (daq_camera_set_param_text(cam, params[i][0], params[i][1], err, sizeof err) != 0)
            die(params[i][0], err);
    return cam;
}

static void *consume(void *arg)
{
    daq_sub *sub = arg;
    for (;;) {
        daq_frame *f;
        int r = daq_sub_next(sub, 5 * 1000000000ll, &f);
        if (r != DAQ_SUB_FRAME)
            return NULL;
        daq_frame_unref(f);
    }
}

static daq_sub *subscribe(daq_bus *bus, const char *name, daq_sub_policy policy)
{
    daq_sub_config sc;
    daq_sub_config_init(&sc);
    sc.name = name;
    sc.policy = policy;
    sc.queue_depth = 8;
    char err[256];
    daq_sub *s = daq_bus_subscribe(bus, &sc, err, sizeof err);
    if (!s)
        die("subscribe", err);
    return s;
}

#ifdef DAQ_WITH_STORAGE
typedef struct recorder {
    daq_config cfg;
    daq_devices *ds;
    daq_acq *acq;
    daq_storage *st;
} recorder;

/* rec0 streaming, a finished recording of 50 frames and a running one. */
static void recorder_start(recorder *r, const char *root)
{
    static const char text[] = "[[devices]]\nid = \"rec0\"\n[devices.driver]\ntype = \"sim\"\n"
                               "width = 64\nheight = 64\nframe_rate_hz = 500.0\n"
                               "exposure_ms = 1.0\ntiming = \"realistic\"\n";
    char err[512];
    if (daq_config_load_text(text, strlen(text), "rec.toml", &r->cfg, err, sizeof err) != 0)
        die("config", err);
    r->cfg.acq.reserve_bytes = 1u << 20;
    if (!(r->ds = daq_devices_create(&r->cfg, NULL, err, sizeof err)))
        die("devices", err);
    r->acq = daq_device_acq(daq_devices_find(r->ds, "rec0"));
    daq_storage_config sc;
    daq_storage_config_init(&sc);
    snprintf(sc.root, sizeof sc.root, "%s", root);
    sc.hdf5.compression = DAQ_CODEC_LZ4;
    sc.max_buffer_mb = 1;
    sc.flush_interval_ms = 20;
    if (!(r->st = daq_storage_create(r->ds, &sc, err, sizeof err)))
        die("storage", err);
    if (daq_acq_start(r->acq, 0, err, sizeof err) != 0)
        die("start rec0", err);
    daq_recording_status s;
    daq_record_request req = {.name = "dump", .frame_limit = 50};
    if (daq_storage_start(r->st, &req, &s, err, sizeof err) != 0)
        die("record", err);
    if (!daq_storage_wait_ended(r->st, 30000))
        die("record", "50 frames not recorded in 30 s");
    if (daq_storage_stop(r->st, NULL, NULL, 0, &s, err, sizeof err) != 0)
        die("stop", err);
    req.frame_limit = 0;
    if (daq_storage_start(r->st, &req, &s, err, sizeof err) != 0)
        die("record again", err);
}

static void recorder_stop(recorder *r)
{
    char err[256];
    daq_recording_status s;
    if (daq_storage_stop(r->st, NULL, NULL, 0, &s, err, sizeof err) != 0)
        die("stop", err);
    daq_acq_stop(r->acq);
    daq_storage_destroy(r->st);
    daq_devices_destroy(r->ds);
}
#endif

int main(int argc, char **argv)
{
    uint64_t t0 = mono_ns();
    const char *storage_root = NULL;
    if (argc > 3 && strcmp(argv[2], "--storage") == 0)
        storage_root = argv[3];
    double secs = argc > 1 ? atof(argv[1]) : 1.0;
    char err[256];
    const char *id = "cam\"0\\a";

    daq_bus *bus = daq_bus_create(id);
    daq_acq_config cfg;
    daq_acq_config_init(&cfg);
    daq_acq *acq = daq_acq_create(sim(id), bus, &cfg, err, sizeof err);
    if (!acq)
        die("acq", err);
    daq_sub *subs[2] = {subscribe(bus, "recorder", DAQ_SUB_LOSSLESS),
                        subscribe(bus, "viewer", DAQ_SUB_LATEST)};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, consume, subs[i]);

    daq_bus *idle_bus = daq_bus_create("idle");
    daq_acq *idle = daq_acq_create(sim("idle"), idle_bus, &cfg, err, sizeof err);
    if (!idle)
        die("acq idle", err);

    if (daq_acq_start(acq, 0, err, sizeof err) != 0)
        die("start", err);
    usleep((useconds_t)(secs * 1e6));

    daq_metrics_device devs[4] = {
        {.id = id, .driver = "sim", .acq = acq, .bus = bus},
        {.id = "broken", .driver = "pvcam", .acq = NULL, .bus = NULL},
        {.id = "idle", .driver = "sim", .acq = idle, .bus = idle_bus},
    };
    size_t n = 3;
    struct daq_storage *storage = NULL;
#ifdef DAQ_WITH_STORAGE
    static recorder rec;
    if (storage_root) {
        recorder_start(&rec, storage_root);
        n += daq_metrics_device_views(rec.ds, devs + 3, 1);
        storage = rec.st;
    }
#else
    if (storage_root)
        die("--storage", "this build has no libdaq-storage");
#endif
    size_t len;
    char *text = daq_metrics_render(devs, n, storage, t0, &len);
    if (!text)
        die("render", "out of memory");
    fwrite(text, 1, len, stdout);
    free(text);

#ifdef DAQ_WITH_STORAGE
    if (storage_root)
        recorder_stop(&rec);
#endif
    daq_acq_stop(acq);
    for (int i = 0; i < 2; i++) {
        daq_sub_close(subs[i]);
        pthread_join(th[i], NULL);
    }
    daq_acq_destroy(acq);
    daq_acq_destroy(idle);
    daq_bus_destroy(bus);
    daq_bus_destroy(idle_bus);
    return fflush(stdout) == 0 ? 0 : 1;
}
