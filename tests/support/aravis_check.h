/* tests/support/aravis_check.h - what the aravis tests share: an engine
 * over an aravis camera, a lossless consumer thread that checks every
 * delivered frame against the fakes' pattern (aravis_fake.h) and counts
 * gaps, repeats and non-pool frames, and the zero-copy assertions.
 * Used by test_aravis.c (in-process fake) and test_aravis_gv.c (the GigE
 * fake over loopback); include after test_main.h. */
#ifndef DAQ_TEST_ARAVIS_CHECK_H
#define DAQ_TEST_ARAVIS_CHECK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aravis_fake.h"
#include "daq/acq.h"
#include "daq/aravis.h"
#include "daq/bus.h"
#include "daq/camera.h"
#include "daq/pool.h"
#include "test_consumer.h"

static inline void set(daq_camera *cam, const char *name, const char *value)
{
    char err[256];
    if (daq_camera_set_param_text(cam, name, value, err, sizeof err) != 0)
        fail_msg("set %s=%s: %s", name, value, err);
}

static inline daq_acq *engine(daq_camera *cam, daq_bus *bus, uint32_t slots, daq_pool_policy policy,
                              uint32_t wait_ms, uint32_t watchdog)
{
    daq_acq_config cfg;
    daq_acq_config_init(&cfg);
    cfg.slots = slots;
    cfg.pool.policy = policy;
    if (wait_ms)
        cfg.wait_timeout_ms = wait_ms;
    if (watchdog)
        cfg.watchdog_waits = watchdog;
    char err[256];
    daq_acq *a = daq_acq_create(cam, bus, &cfg, err, sizeof err);
    if (!a)
        fail_msg("acq: %s", err);
    return a;
}

static inline daq_acq_stats stats(daq_acq *a)
{
    daq_acq_stats s;
    daq_acq_stats_snapshot(a, &s);
    return s;
}

/* Polls until delivered >= n (true) or timeout_ms passes. */
static inline bool wait_delivered(daq_acq *a, uint64_t n, uint32_t timeout_ms)
{
    uint64_t end = daq_test_now_ns() + (uint64_t)timeout_ms * 1000000;
    while (stats(a).delivered < n)
        if (daq_test_now_ns() > end)
            return false;
        else
            usleep(2000);
    return true;
}

/* ---- a verifying consumer ----------------------------------------------------------- */

typedef struct consumer {
    daq_test_consumer tc;
    uint64_t frames, verify_failures, not_pool, gap_sum, repeats, backwards;
    uint64_t first_hw, last_hw;
    uint32_t side; /* expected width = height = stride (Mono8) */
    char first_failure[160];
} consumer;

static inline void check_frame(void *owner, const daq_frame *f)
{
    consumer *c = owner;
    const daq_frame_meta *m = daq_frame_meta_get(f);
    char why[128] = "";
    const uint32_t side = c->side;
    int bad = m->width != side || m->height != side || m->stride_bytes != side ||
              m->payload_bytes != (size_t)side * side || m->pixel_format != DAQ_PIXEL_MONO8;
    if (bad)
        snprintf(why, sizeof why, "geometry %ux%u stride %u bytes %zu", m->width, m->height,
                 m->stride_bytes, m->payload_bytes);
    else
        bad = fake_verify_mono8(daq_frame_cdata(f), side, side, side,
                                fake_raw_id(m->hw_frame_number), 1, why, sizeof why);
    if (bad && !c->verify_failures++)
        snprintf(c->first_failure, sizeof c->first_failure, "hw %lu: %s",
                 (unsigned long)m->hw_frame_number, why);
    if (c->frames) {
        if (m->hw_frame_number == c->last_hw)
            c->repeats++;
        else if (m->hw_frame_number < c->last_hw)
            c->backwards++;
        else
            c->gap_sum += m->hw_frame_number - c->last_hw - 1;
    } else {
        c->first_hw = m->hw_frame_number;
    }
    c->last_hw = m->hw_frame_number;
    c->not_pool += !daq_frame_used_pool(f);
    c->frames++;
}

static inline void consumer_start(consumer *c, daq_bus *bus, uint32_t depth, unsigned sleep_ms,
                                  uint32_t side)
{
    memset(c, 0, sizeof *c);
    c->side = side;
    daq_sub_config sc;
    daq_sub_config_init(&sc);
    sc.name = "verify";
    sc.policy = DAQ_SUB_LOSSLESS;
    sc.queue_depth = depth;
    sc.lossless_timeout_ms = 5000;
    daq_test_consumer_start(&c->tc, bus, &sc, check_frame, c, sleep_ms, 20 * 1000000000ll);
}

static inline void consumer_join(consumer *c, daq_bus *bus)
{
    daq_test_consumer_join(&c->tc, bus);
    if (c->verify_failures)
        fail_msg("%lu bad frames, first %s", (unsigned long)c->verify_failures, c->first_failure);
}

static inline void assert_zero_copy(const daq_acq_stats *s)
{
    assert_int_equal(daq_test_extra(&s->driver, "memcpy_count"), 0);
    assert_int_equal(daq_test_extra(&s->driver, "foreign_buffers"), 0);
    assert_int_equal(s->bytes_copied, 0);
}

/* Every pool slot home: the driver released what it held. */
static inline void assert_pool_home(daq_acq *a)
{
    daq_pool_metrics m;
    daq_pool_metrics_snapshot(daq_acq_pool(a), &m);
    assert_int_equal(m.in_use, 0);
    assert_int_equal(m.heap_in_use, 0);
}

#endif
