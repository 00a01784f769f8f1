/* examples/acq_demo.c - the frame path in one screen (what `make run` shows
 * until the daemon exists): the simulated 2048x2048x16-bit camera at 100 FPS,
 * the acquisition engine, an auto-sized pool and two consumers -- a lossless
 * "recorder" that verifies every pixel and a drop-oldest "viewer" that is
 * deliberately slow.  Alloc-trace lines every 100 frames, then the summary.
 * DAQ_LOG and DAQ_USE_POOL/PVCAM_USE_POOL work as in the daemon. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "daq/acq.h"
#include "daq/log.h"
#include "daq/sim.h"

struct consumer {
    daq_sub *sub;
    unsigned sleep_ms;
    bool verify;
    unsigned long frames, bad;
};

static void *consume(void *arg)
{
    struct consumer *c = arg;
    daq_frame *f;
    int r;
    while ((r = daq_sub_next(c->sub, -1, &f)) != DAQ_SUB_CLOSED && r != DAQ_SUB_EOS) {
        if (r != DAQ_SUB_FRAME)
            continue;
        const daq_frame_meta *m = daq_frame_meta_get(f);
        if (c->verify && daq_sim_verify(daq_frame_cdata(f), m->width, m->height, m->bit_depth,
                                        m->hw_frame_number, NULL, 0) != 0)
            c->bad++;
        c->frames++;
        if (c->sleep_ms)
            usleep(c->sleep_ms * 1000);
        daq_frame_unref(f);
    }
    return NULL;
}

static daq_sub *subscribe(daq_bus *bus, const char *name, daq_sub_policy p, uint32_t depth)
{
    daq_sub_config sc;
    daq_sub_config_init(&sc);
    sc.name = name;
    sc.policy = p;
    sc.queue_depth = depth;
    return daq_bus_subscribe(bus, &sc, NULL, 0);
}

int main(int argc, char **argv)
{
    unsigned seconds = argc > 1 ? (unsigned)atoi(argv[1]) : 5;
    char err[256];
    if (!getenv("DAQ_LOG"))
        daq_log_set_filter("info,pvcam_alloc_trace=debug", err, sizeof err);
    else if (daq_log_set_filter(NULL, err, sizeof err) != 0)
        fprintf(stderr, "daq-demo: %s\n", err);

    daq_camera *cam = daq_camera_create("sim", "cam0", err, sizeof err);
    if (!cam) {
        fprintf(stderr, "daq-demo: %s\n", err);
        return 1;
    }
    daq_camera_set_param_text(cam, "width", "2048", err, sizeof err);
    daq_camera_set_param_text(cam, "height", "2048", err, sizeof err);
    daq_camera_set_param_text(cam, "bit_depth", "16", err, sizeof err);
    daq_camera_set_param_text(cam, "frame_rate_hz", "100", err, sizeof err);

    daq_bus *bus = daq_bus_create("cam0");
    struct consumer rec = {subscribe(bus, "recorder", DAQ_SUB_LOSSLESS, 16), 0, true, 0, 0};
    struct consumer view = {subscribe(bus, "viewer", DAQ_SUB_DROP_OLDEST, 2), 40, false, 0, 0};
    pthread_t t1, t2;
    pthread_create(&t1, NULL, consume, &rec);
    pthread_create(&t2, NULL, consume, &view);

    daq_acq_config cfg;
    daq_acq_config_init(&cfg);
    daq_acq *a = daq_acq_create(cam, bus, &cfg, err, sizeof err);
    if (!a || daq_acq_start(a, 100ull * seconds, err, sizeof err) != 0) {
        fprintf(stderr, "daq-demo: %s\n", err);
        return 1;
    }
    daq_acq_wait_idle(a, (seconds + 10) * 1000);
    daq_acq_stop(a);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);

    daq_acq_stats s;
    daq_acq_stats_snapshot(a, &s);
    printf("\ndaq-demo: %lu frames delivered at %.1f FPS, %lu lost, pool %u slots (%s), "
           "hit rate %.1f %%\n",
           (unsigned long)s.delivered, s.fps, (unsigned long)s.lost, s.pool_slots,
           s.pool_auto ? "auto" : "fixed", 100.0 * s.pool.hit_rate);
    printf("daq-demo: recorder verified %lu frames (%lu bad); viewer took %lu\n", rec.frames,
           rec.bad, view.frames);
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
    return rec.bad ? 1 : 0;
}
