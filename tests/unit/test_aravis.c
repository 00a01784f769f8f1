/* The aravis driver against Aravis' in-process fake camera ("Fake_1"):
 * through the camera API and through the real engine, with consumers that
 * check every pixel against the fake's pattern (tests/support/
 * aravis_fake.h).  Zero copy is asserted three ways: the driver's
 * memcpy_count, the engine's bytes_copied and every delivered frame being
 * a pool slot (or, with the pool off, a heap frame -- still filled in
 * place).  The fake starts its 16-bit frame ids at 65401, so a 200-frame
 * stream crosses the wrap: continuous hardware numbers prove the 64-bit
 * extension.  No network is touched: the in-process fake needs none. */
#define _GNU_SOURCE
#include <arv.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "camera/camera_impl.h" /* the engine's frame calls */
#include "drivers/aravis/aravis_ids.h"
#include "drivers/aravis/aravis_impl.h"
#include "test_main.h"

#include "aravis_check.h"

#define SIDE 512u

/* An unopened aravis camera on the in-process fake: 512x512 Mono8. */
static daq_camera *fake_cam(const char *id, const char *fps)
{
    char err[256];
    if (daq_aravis_register(err, sizeof err) != 0) /* libdaq-aravis joins the registry */
        fail_msg("register: %s", err);
    daq_camera *cam = daq_camera_create("aravis", id, err, sizeof err);
    if (!cam)
        fail_msg("create: %s", err);
    set(cam, "camera", "Fake_1");
    set(cam, "pixel_format", "Mono8");
    set(cam, "width", "512");
    set(cam, "height", "512");
    set(cam, "frame_rate_hz", fps);
    return cam;
}

/* ---- tests ---------------------------------------------------------------------------- */

/* libdaq knows no aravis driver until libdaq-aravis registers it. */
static void registers_with_libdaq(void **state)
{
    char err[256];
    assert_false(daq_camera_type_known("aravis"));
    assert_null(daq_camera_create("aravis", "a", err, sizeof err));
    assert_non_null(strstr(err, "unknown camera driver 'aravis'"));
    assert_int_equal(daq_aravis_register(err, sizeof err), 0);
    assert_int_equal(daq_aravis_register(err, sizeof err), 0); /* idempotent */
    assert_true(daq_camera_type_known("aravis"));
    assert_null(daq_camera_create("nope", "a", err, sizeof err));
    assert_non_null(strstr(err, "(known: sim, mock_camera, pvcam, aravis)"));
    daq_camera *cam = daq_camera_create("aravis", "a", err, sizeof err);
    assert_non_null(cam);
    assert_string_equal(daq_camera_type(cam), "aravis");
    assert_int_equal(daq_camera_mode_get(cam), DAQ_CAMERA_FILL);
    daq_camera_destroy(cam);
}

static void ids_extend_across_wrap(void **state)
{
    aravis_id_ext x;
    aravis_id_reset(&x);
    assert_int_equal(aravis_id_extend(&x, 65534), 65534);
    assert_int_equal(aravis_id_extend(&x, 65535), 65535);
    assert_int_equal(aravis_id_extend(&x, 1), 65536); /* 0 is not an id */
    assert_int_equal(aravis_id_extend(&x, 2), 65537);
    assert_int_equal(x.wraps, 1);
    assert_int_equal(aravis_id_extend(&x, 2), 65537);  /* duplicate */
    assert_int_equal(aravis_id_extend(&x, 10), 65545); /* 7 lost */
    assert_int_equal(aravis_id_extend(&x, 8), 65543);  /* backwards */
    assert_int_equal(aravis_id_extend(&x, 9), 65544);  /* and on from there */
    aravis_id_reset(&x);
    assert_int_equal(aravis_id_extend(&x, 65530), 65530);
    assert_int_equal(aravis_id_extend(&x, 3), 65538); /* 65531..65535, 1, 2 lost: a gap of 7 */
    aravis_id_reset(&x);
    assert_int_equal(aravis_id_extend(&x, 65535), 65535);
    assert_int_equal(aravis_id_extend(&x, 0), 65536); /* a camera that does use 0 */
    assert_int_equal(aravis_id_extend(&x, 1), 65537);
    aravis_id_reset(&x);
    uint64_t hw = 0;
    for (uint32_t i = 0; i < 3 * 65535u; i++) /* three wraps one by one */
        hw = aravis_id_extend(&x, (uint64_t)(i % 65535u) + 1);
    assert_int_equal(hw, 3 * 65535u);
    assert_int_equal(x.wraps, 2);
    aravis_id_reset(&x);
    assert_int_equal(aravis_id_extend(&x, 1ull << 40), 1ull << 40); /* 64-bit ids pass */
    assert_int_equal(aravis_id_extend(&x, (1ull << 40) + 2), (1ull << 40) + 2);
}

static void fake_pattern_matches_plain_aravis(void **state)
{
    /* The pattern the other cases check daq's frames against, checked
     * first against frames Aravis delivers on its own (its buffers, no
     * daq code), so the expectation does not come from the code under
     * test. */
    arv_enable_interface("Fake");
    GError *e = NULL;
    ArvCamera *c = arv_camera_new("Fake_1", &e);
    assert_non_null(c);
    arv_camera_set_pixel_format(c, ARV_PIXEL_FORMAT_MONO_8, &e);
    arv_camera_set_region(c, 0, 0, SIDE, SIDE, &e);
    arv_camera_set_frame_rate(c, 200, &e);
    assert_null(e);
    size_t payload = arv_camera_get_payload(c, &e);
    ArvStream *s = arv_camera_create_stream(c, NULL, NULL, &e);
    assert_non_null(s);
    for (int i = 0; i < 4; i++)
        arv_stream_push_buffer(s, arv_buffer_new(payload, NULL));
    arv_camera_start_acquisition(c, &e);
    assert_null(e);
    guint64 last = 0;
    for (int n = 0; n < 10; n++) {
        ArvBuffer *b = arv_stream_timeout_pop_buffer(s, 2000000);
        assert_non_null(b);
        assert_int_equal(arv_buffer_get_status(b), ARV_BUFFER_STATUS_SUCCESS);
        size_t size = 0;
        const uint8_t *px = arv_buffer_get_image_data(b, &size);
        assert_int_equal(size, (size_t)SIDE * SIDE);
        guint64 id = arv_buffer_get_frame_id(b);
        char why[128];
        if (fake_verify_mono8(px, SIDE, SIDE, SIDE, (uint32_t)id, 1, why, sizeof why))
            fail_msg("plain Aravis frame: %s", why);
        if (n)
            assert_int_equal(id, last + 1); /* the first ten, before the wrap */
        last = id;
        arv_stream_push_buffer(s, b);
    }
    arv_camera_stop_acquisition(c, NULL);
    g_object_unref(s);
    g_object_unref(c);
}

static void params_pending_then_device(void **state)
{
    char err[256];
    daq_camera *cam = fake_cam("fake-params", "50");
    assert_int_equal(daq_camera_mode_get(cam), DAQ_CAMERA_FILL);
    daq_param_value v;
    assert_int_equal(daq_camera_get_param(cam, "buffers", &v, err, sizeof err), 0);
    assert_int_equal(v.i, 8);
    assert_int_equal(daq_camera_get_param(cam, "socket_buffer", &v, err, sizeof err), 0);
    assert_int_equal(v.i, geteuid() == 0 ? 0 : 4 << 20);
    assert_int_equal(daq_camera_get_param(cam, "width", &v, err, sizeof err), 0);
    assert_int_equal(v.i, 512); /* pending, not open yet */
    assert_int_not_equal(daq_camera_set_param_text(cam, "gamma", "1", err, sizeof err), 0);
    assert_non_null(strstr(err, "unknown parameter"));
    assert_int_not_equal(daq_camera_set_param_text(cam, "buffers", "1", err, sizeof err), 0);

    assert_int_equal(daq_camera_open(cam, err, sizeof err), 0);
    assert_int_equal(daq_camera_get_param(cam, "model", &v, err, sizeof err), 0);
    assert_string_equal(v.s, "Aravis Fake");
    assert_int_equal(daq_camera_get_param(cam, "device_id", &v, err, sizeof err), 0);
    assert_string_equal(v.s, "Fake_1");
    assert_int_equal(daq_camera_get_param(cam, "sensor_width", &v, err, sizeof err), 0);
    assert_int_equal(v.i, 2048);
    assert_int_equal(daq_camera_get_param(cam, "payload_bytes", &v, err, sizeof err), 0);
    assert_int_equal(v.i, SIDE * SIDE);
    assert_int_equal(daq_camera_get_param(cam, "pixel_format", &v, err, sizeof err), 0);
    assert_string_equal(v.s, "Mono8");
    assert_int_equal(daq_camera_get_param(cam, "frame_rate_hz", &v, err, sizeof err), 0);
    assert_true(v.f > 49.9 && v.f < 50.1);
    /* The camera is the authority once open. */
    assert_int_not_equal(daq_camera_set_param_text(cam, "camera", "\"x\"", err, sizeof err), 0);
    assert_non_null(strstr(err, "open"));
    assert_int_not_equal(daq_camera_set_param_text(cam, "pixel_format", "Bogus", err, sizeof err),
                         0);
    assert_non_null(strstr(err, "pixel_format"));
    assert_int_not_equal(daq_camera_set_param_text(cam, "frame_rate_hz", "5000", err, sizeof err),
                         0); /* the fake's maximum is 1000 */
    assert_non_null(strstr(err, "frame_rate_hz"));
    assert_int_equal(daq_camera_get_param(cam, "frame_rate_hz", &v, err, sizeof err), 0);
    assert_true(v.f > 49.9 && v.f < 50.1); /* unchanged */
    set(cam, "roi.x", "64");
    assert_int_equal(daq_camera_get_param(cam, "roi.x", &v, err, sizeof err), 0);
    assert_int_equal(v.i, 64);
    set(cam, "roi.x", "0");
    daq_camera_format fmt;
    assert_int_equal(daq_camera_get_format(cam, &fmt, err, sizeof err), 0);
    assert_int_equal(fmt.width, SIDE);
    assert_int_equal(fmt.frame_bytes, SIDE * SIDE);
    assert_int_equal(fmt.pixel_format, DAQ_PIXEL_MONO8);
    assert_int_equal(fmt.bit_depth, 8);
    /* Streaming: ROI is locked by the wrapper, exposure is live. */
    assert_int_equal(daq_camera_start(cam, err, sizeof err), 0);
    assert_int_not_equal(daq_camera_set_param_text(cam, "width", "256", err, sizeof err), 0);
    assert_non_null(strstr(err, "streaming"));
    set(cam, "exposure_ms", "5");
    assert_int_equal(daq_camera_get_param(cam, "exposure_ms", &v, err, sizeof err), 0);
    assert_true(v.f > 4.99 && v.f < 5.01);
    daq_camera_stop(cam);
    daq_camera_destroy(cam);
}

static void stream_200_zero_copy_across_wrap(void **state)
{
    daq_bus *bus = daq_bus_create("fake0");
    daq_acq *a = engine(fake_cam("fake0", "200"), bus, 0, DAQ_POOL_POLICY_HEAP, 0, 0);
    consumer c;
    consumer_start(&c, bus, 32, 0, SIDE);
    char err[256];
    assert_int_equal(daq_acq_start(a, 200, err, sizeof err), 0);
    assert_true(daq_acq_wait_idle(a, 30000));
    consumer_join(&c, bus);
    daq_acq_stats s = stats(a);
    printf("delivered=%lu lost=%lu fps=%.1f slots=%u hw %lu..%lu wraps=%lu underruns=%lu\n",
           (unsigned long)s.delivered, (unsigned long)s.lost, s.fps, s.pool_slots,
           (unsigned long)c.first_hw, (unsigned long)c.last_hw,
           (unsigned long)daq_test_extra(&s.driver, "frame_id_wraps"),
           (unsigned long)daq_test_extra(&s.driver, "stream_underruns"));
    assert_int_equal(s.state, DAQ_ACQ_IDLE);
    assert_int_equal(s.delivered, 200);
    assert_int_equal(c.frames, 200);
    assert_true(c.tc.eos);
    assert_zero_copy(&s);
    assert_int_equal(c.not_pool, 0); /* every frame was filled in its pool slot */
    assert_int_equal(s.heap_fallbacks, 0);
    assert_int_equal(s.pool.misses, 0);
    /* Continuous across the 16-bit wrap (a fresh fake starts at 65401). */
    assert_int_equal(s.lost + s.discontinuities + s.duplicates, 0);
    assert_int_equal(c.gap_sum + c.repeats + c.backwards, 0);
    assert_int_equal(c.first_hw, 65401);
    assert_int_equal(c.last_hw, 65401 + 199);
    assert_int_equal(daq_test_extra(&s.driver, "frame_id_wraps"), 1);
    assert_int_equal(s.driver.readout_errors, 0);
    assert_true(daq_test_extra(&s.driver, "stream_completed_buffers") >= 200);
    assert_pool_home(a);
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
}

static void failed_buffers_counted_never_delivered(void **state)
{
    daq_bus *bus = daq_bus_create("fake1");
    daq_camera *cam = fake_cam("fake1", "100");
    daq_acq *a = engine(cam, bus, 0, DAQ_POOL_POLICY_HEAP, 0, 0);
    consumer c;
    consumer_start(&c, bus, 32, 0, SIDE);
    char err[256];
    assert_int_equal(daq_acq_start(a, 0, err, sizeof err), 0);
    assert_true(wait_delivered(a, 20, 10000));
    /* Make the fake's frames bigger than the buffers: it marks them
     * SIZE_MISMATCH (without using a frame id) and hands them back. */
    ArvCamera *ac = aravis_arv_camera(cam);
    assert_non_null(ac);
    GError *e = NULL;
    arv_camera_set_integer(ac, "Width", 1024, &e);
    if (e)
        fail_msg("Width: %s", e->message);
    uint64_t end = daq_test_now_ns() + 10000000000ull;
    while (stats(a).driver.readout_errors < 5 && daq_test_now_ns() < end)
        usleep(5000);
    arv_camera_set_integer(ac, "Width", SIDE, &e);
    assert_null(e);
    uint64_t before = stats(a).delivered;
    assert_true(wait_delivered(a, before + 50, 10000));
    daq_acq_stop(a);
    consumer_join(&c, bus);
    daq_acq_stats s = stats(a);
    uint64_t mismatch = daq_test_extra(&s.driver, "failed_size_mismatch");
    printf("delivered=%lu failed=%lu size_mismatch=%lu stream_failures=%lu\n",
           (unsigned long)s.delivered, (unsigned long)s.driver.readout_errors,
           (unsigned long)mismatch, (unsigned long)daq_test_extra(&s.driver, "stream_failures"));
    assert_true(mismatch >= 5);
    assert_int_equal(s.driver.readout_errors, mismatch);
    assert_true(daq_test_extra(&s.driver, "stream_failures") >= mismatch);
    /* None reached the engine: no stale frame, no repeat, nothing torn. */
    assert_int_equal(c.frames, s.delivered);
    assert_int_equal(s.captured, s.delivered);
    assert_int_equal(s.duplicates + s.backwards + s.lost, 0);
    assert_int_equal(c.gap_sum + c.repeats + c.backwards, 0);
    assert_zero_copy(&s);
    assert_pool_home(a);
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
}

static void stop_start_cycles(void **state)
{
    daq_bus *bus = daq_bus_create("fake2");
    daq_acq *a = engine(fake_cam("fake2", "500"), bus, 0, DAQ_POOL_POLICY_HEAP, 0, 0);
    char err[256];
    for (int i = 0; i < 5; i++) {
        consumer c;
        consumer_start(&c, bus, 32, 0, SIDE);
        assert_int_equal(daq_acq_start(a, 20, err, sizeof err), 0);
        assert_true(daq_acq_wait_idle(a, 10000));
        consumer_join(&c, bus);
        daq_acq_stats s = stats(a);
        assert_int_equal(s.state, DAQ_ACQ_IDLE);
        assert_int_equal(s.delivered, 20);
        assert_int_equal(c.frames, 20);
        assert_int_equal(s.lost + c.gap_sum, 0);
        assert_zero_copy(&s);
        assert_pool_home(a);
    }
    /* And a stream stopped from outside while running. */
    consumer c;
    consumer_start(&c, bus, 32, 0, SIDE);
    assert_int_equal(daq_acq_start(a, 0, err, sizeof err), 0);
    assert_true(wait_delivered(a, 30, 10000));
    daq_acq_stop(a);
    consumer_join(&c, bus);
    assert_int_equal(stats(a).streams, 6);
    assert_pool_home(a);
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
}

static void stop_is_prompt_while_waiting(void **state)
{
    /* 1 frame/s: the engine sits in fill_dequeue most of the time. */
    daq_bus *bus = daq_bus_create("fake3");
    daq_acq *a = engine(fake_cam("fake3", "1"), bus, 0, DAQ_POOL_POLICY_HEAP, 5000, 0);
    consumer c;
    consumer_start(&c, bus, 8, 0, SIDE);
    char err[256];
    assert_int_equal(daq_acq_start(a, 0, err, sizeof err), 0);
    assert_true(wait_delivered(a, 1, 5000));
    usleep(100000);
    uint64_t t0 = daq_test_now_ns();
    daq_acq_stop(a);
    double ms = (double)(daq_test_now_ns() - t0) / 1e6;
    printf("stop took %.1f ms\n", ms);
    /* Bound: one slice of the driver's wait, plus the fake's own sleep to
     * its next frame (up to 1 s at 1 Hz) when its stream thread joins. */
    assert_true(ms < 2500);
    consumer_join(&c, bus);
    assert_pool_home(a);
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
}

typedef struct interrupter {
    daq_camera *cam;
    unsigned after_ms;
} interrupter;

static void *interrupt_later(void *arg)
{
    interrupter *it = arg;
    usleep(it->after_ms * 1000);
    daq_camera_interrupt(it->cam);
    return NULL;
}

static void camera_api_fill_and_interrupt(void **state)
{
    /* The FILL contract without the engine: the frames that come back are
     * the frames that went in, filled in place. */
    char err[256];
    daq_camera *cam = fake_cam("fake4", "200");
    assert_int_equal(daq_camera_open(cam, err, sizeof err), 0);
    daq_camera_format fmt;
    assert_int_equal(daq_camera_get_format(cam, &fmt, err, sizeof err), 0);
    daq_pool_config pc;
    daq_pool_config_init(&pc);
    pc.slot_bytes = fmt.frame_bytes;
    pc.slot_count = 8;
    daq_pool *pool = daq_pool_create(&pc, err, sizeof err);
    assert_non_null(pool);
    assert_int_equal(daq_camera__fill_held(cam), 8);
    assert_int_equal(daq_camera_start(cam, err, sizeof err), 0);
    void *queued[4];
    for (int i = 0; i < 4; i++) {
        daq_frame *f = daq_pool_try_acquire(pool);
        queued[i] = daq_frame_data(f);
        assert_int_equal(daq_camera__fill_queue(cam, f), 0);
    }
    daq_frame *held[4];
    uint64_t last = 0;
    for (int n = 0; n < 24; n++) {
        daq_frame *f = NULL;
        daq_frame_info info;
        memset(&info, 0, sizeof info);
        assert_int_equal(daq_camera__fill_dequeue(cam, 2000000000ll, &f, &info), 1);
        bool ours = false;
        for (int i = 0; i < 4; i++)
            ours |= daq_frame_data(f) == queued[i];
        assert_true(ours);
        assert_int_equal(info.bytes, fmt.frame_bytes);
        if (n)
            assert_int_equal(info.hw_frame_number, last + 1);
        last = info.hw_frame_number;
        char why[128];
        if (fake_verify_mono8(daq_frame_cdata(f), SIDE, SIDE, SIDE,
                              fake_raw_id(info.hw_frame_number), 1, why, sizeof why))
            fail_msg("%s", why);
        if (n < 20)
            assert_int_equal(daq_camera__fill_queue(cam, f), 0); /* round and round */
        else
            held[n - 20] = f; /* keep the last four: nothing queued any more */
    }
    /* Nothing queued: a long wait, cut short by an interrupt. */
    interrupter it = {cam, 150};
    pthread_t t;
    pthread_create(&t, NULL, interrupt_later, &it);
    daq_frame *f = NULL;
    daq_frame_info info;
    uint64_t t0 = daq_test_now_ns();
    assert_int_equal(daq_camera__fill_dequeue(cam, 10000000000ll, &f, &info), 0);
    double ms = (double)(daq_test_now_ns() - t0) / 1e6;
    pthread_join(t, NULL);
    printf("interrupted after %.1f ms\n", ms);
    assert_true(ms >= 100 && ms < 2000);
    /* An interrupt with nobody waiting ends the next wait at once... */
    daq_camera_interrupt(cam);
    t0 = daq_test_now_ns();
    assert_int_equal(daq_camera__fill_dequeue(cam, 10000000000ll, &f, &info), 0);
    assert_true(daq_test_now_ns() - t0 < 500000000ull);
    /* ...and only that one. */
    t0 = daq_test_now_ns();
    assert_int_equal(daq_camera__fill_dequeue(cam, 60000000ll, &f, &info), 0);
    assert_true(daq_test_now_ns() - t0 >= 50000000ull);
    daq_camera_stats st;
    daq_camera_stats_snapshot(cam, &st);
    assert_int_equal(daq_test_extra(&st, "memcpy_count"), 0);
    /* Requeue two, stop: the driver hands them back to the pool. */
    assert_int_equal(daq_camera__fill_queue(cam, held[0]), 0);
    assert_int_equal(daq_camera__fill_queue(cam, held[1]), 0);
    daq_camera_stop(cam);
    daq_frame_unref(held[2]);
    daq_frame_unref(held[3]);
    daq_pool_metrics m;
    daq_pool_metrics_snapshot(pool, &m);
    assert_int_equal(m.in_use, 0);
    daq_camera_destroy(cam);
    daq_pool_destroy(pool);
}

static void pool_off_heap_frames_filled_in_place(void **state)
{
    daq_bus *bus = daq_bus_create("fake5");
    daq_acq *a = engine(fake_cam("fake5", "500"), bus, 0, DAQ_POOL_POLICY_HEAP, 0, 0);
    daq_acq_set_use_pool(a, false);
    consumer c;
    consumer_start(&c, bus, 32, 0, SIDE);
    char err[256];
    assert_int_equal(daq_acq_start(a, 60, err, sizeof err), 0);
    assert_true(daq_acq_wait_idle(a, 20000));
    consumer_join(&c, bus);
    daq_acq_stats s = stats(a);
    assert_int_equal(s.delivered, 60);
    assert_int_equal(c.not_pool, 60);
    assert_int_equal(s.lost + c.gap_sum, 0);
    assert_zero_copy(&s);
    assert_pool_home(a); /* heap frames freed, none leaked (ASan checks) */
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
}

static void dry_pool_recovers_after_timeout(void **state)
{
    /* Two slots, the driver wants two, drop policy, a consumer holding
     * frames: top-ups find the pool dry and the driver runs empty.  The
     * engine must top up again after a timeout, or no frame ever comes
     * and the watchdog ends the stream. */
    daq_bus *bus = daq_bus_create("fake6");
    daq_camera *cam = fake_cam("fake6", "100");
    set(cam, "buffers", "2");
    daq_acq *a = engine(cam, bus, 2, DAQ_POOL_POLICY_DROP, 100, 20);
    consumer c;
    consumer_start(&c, bus, 1, 150, SIDE);
    char err[256];
    assert_int_equal(daq_acq_start(a, 12, err, sizeof err), 0);
    assert_true(daq_acq_wait_idle(a, 30000));
    consumer_join(&c, bus);
    daq_acq_stats s = stats(a);
    printf("state=%s delivered=%lu alloc_dropped=%lu error=%s\n", daq_acq_state_name(s.state),
           (unsigned long)s.delivered, (unsigned long)s.alloc_dropped, s.error);
    assert_int_equal(s.state, DAQ_ACQ_IDLE);
    assert_int_equal(s.delivered, 12);
    assert_true(s.alloc_dropped > 0); /* the pool did run dry */
    assert_zero_copy(&s);
    assert_pool_home(a);
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(registers_with_libdaq),
    cmocka_unit_test(ids_extend_across_wrap),
    cmocka_unit_test(fake_pattern_matches_plain_aravis),
    cmocka_unit_test(params_pending_then_device),
    cmocka_unit_test(stream_200_zero_copy_across_wrap),
    cmocka_unit_test(failed_buffers_counted_never_delivered),
    cmocka_unit_test(stop_start_cycles),
    cmocka_unit_test(stop_is_prompt_while_waiting),
    cmocka_unit_test(camera_api_fill_and_interrupt),
    cmocka_unit_test(pool_off_heap_frames_filled_in_place),
    cmocka_unit_test(dry_pool_recovers_after_timeout),
};

DAQ_TEST_MAIN("aravis", tests)
