/* The whole frame path -- simulated SDK ring, engine, pool copy, bus
 * fan-out to three consumers -- allocates nothing per frame once warm:
 * counted by the malloc interposer over 1000 frames while streaming. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "daq/acq.h"
#include "malloc_count.h"
#include "test_main.h"

struct drain {
    daq_sub *sub;
    pthread_t thread;
    uint64_t frames;
};

static void *drain(void *arg)
{
    struct drain *d = arg;
    daq_frame *f;
    int r;
    while ((r = daq_sub_next(d->sub, -1, &f)) != DAQ_SUB_CLOSED) {
        if (r == DAQ_SUB_FRAME) {
            d->frames++;
            daq_frame_unref(f);
        }
    }
    return NULL;
}

static uint64_t delivered(daq_acq *a)
{
    daq_acq_stats s;
    daq_acq_stats_snapshot(a, &s);
    return s.delivered;
}

static void wait_delivered(daq_acq *a, uint64_t n)
{
    for (int i = 0; i < 60000 && delivered(a) < n; i++)
        usleep(1000);
    assert_true(delivered(a) >= n);
}

static void frame_path_allocates_nothing(void **state)
{
    printf("counting with: %s\n", daq_malloc_count_mechanism());
    char err[256];
    daq_camera *cam = daq_camera_create("sim", "zero", err, sizeof err);
    assert_non_null(cam);
    assert_int_equal(daq_camera_set_param_text(cam, "width", "1024", err, sizeof err), 0);
    assert_int_equal(daq_camera_set_param_text(cam, "height", "1024", err, sizeof err), 0);
    assert_int_equal(daq_camera_set_param_text(cam, "timing", "instant", err, sizeof err), 0);
    daq_bus *bus = daq_bus_create("zero");
    struct drain d[3];
    const daq_sub_policy pol[3] = {DAQ_SUB_LOSSLESS, DAQ_SUB_DROP_OLDEST, DAQ_SUB_LATEST};
    for (int i = 0; i < 3; i++) {
        daq_sub_config sc;
        daq_sub_config_init(&sc);
        sc.policy = pol[i];
        sc.queue_depth = 8;
        d[i].sub = daq_bus_subscribe(bus, &sc, err, sizeof err);
        d[i].frames = 0;
        pthread_create(&d[i].thread, NULL, drain, &d[i]);
    }
    daq_acq_config cfg;
    daq_acq_config_init(&cfg);
    daq_acq *a = daq_acq_create(cam, bus, &cfg, err, sizeof err);
    assert_non_null(a);
    assert_int_equal(daq_acq_start(a, 0, err, sizeof err), 0);
    wait_delivered(a, 200);
    uint64_t n0 = delivered(a), m0 = daq_malloc_count();
    wait_delivered(a, n0 + 1000);
    uint64_t m1 = daq_malloc_count(), n1 = delivered(a);
    daq_acq_stop(a);
    printf("%lu frames, %lu heap allocations\n", (unsigned long)(n1 - n0),
           (unsigned long)(m1 - m0));
    assert_true(n1 - n0 >= 1000);
    assert_int_equal(m1 - m0, 0);
    for (int i = 0; i < 3; i++) {
        daq_sub_close(d[i].sub);
        pthread_join(d[i].thread, NULL);
    }
    daq_acq_stats s;
    daq_acq_stats_snapshot(a, &s);
    assert_int_equal(s.pool.misses, 0);
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(frame_path_allocates_nothing),
};

DAQ_TEST_MAIN("acq_zero_alloc", tests)
