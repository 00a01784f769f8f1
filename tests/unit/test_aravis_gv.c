/* The aravis driver against arv-fake-gv-camera over loopback: the real
 * GigE Vision path (GVCP control, GVSP packets into our pool slots, the
 * socket buffer, packet size).  Run by tests/scripts/aravis_netns.sh, which
 * puts this process and the fake into a private network namespace and
 * names the camera's address in DAQ_ARAVIS_GV_CAMERA; without it every
 * case skips.  DAQ_ARAVIS_GV_LOSS is the fake's lost packets per thousand
 * (its -r option): the lossy case needs it, the clean ones need 0.
 *
 * What is checked, as for the in-process fake: 200 frames filled in pool
 * slots with no copy (memcpy_count, bytes_copied, used_pool), every pixel
 * equal to the fake's pattern for the frame's id, ids continuous across
 * the 16-bit wrap.  With loss: failed buffers are counted by status and
 * never reach a consumer -- the pattern check would see a torn frame, the
 * hardware numbers a repeat -- and what they stood for shows up as lost. */
#define _GNU_SOURCE
#include <arv.h>
#include <stdlib.h>

#include "test_main.h"

#include "aravis_check.h"

#define SIDE 512u

static const char *gv_address(void)
{
    const char *ip = getenv("DAQ_ARAVIS_GV_CAMERA");
    return ip && *ip ? ip : NULL;
}

static unsigned gv_loss(void)
{
    const char *l = getenv("DAQ_ARAVIS_GV_LOSS");
    return l ? (unsigned)atoi(l) : 0;
}

/* An unopened aravis camera on the GigE fake, 512x512 Mono8.  The fake
 * process may still be starting: open is retried for a few seconds. */
static daq_camera *gv_cam(const char *id, const char *fps, const char *packet_size)
{
    char err[256];
    if (daq_aravis_register(err, sizeof err) != 0) /* libdaq-aravis joins the registry */
        fail_msg("register: %s", err);
    daq_camera *cam = daq_camera_create("aravis", id, err, sizeof err);
    if (!cam)
        fail_msg("create: %s", err);
    set(cam, "camera", gv_address());
    set(cam, "pixel_format", "Mono8");
    set(cam, "width", "512");
    set(cam, "height", "512");
    set(cam, "frame_rate_hz", fps);
    if (packet_size)
        set(cam, "packet_size", packet_size);
    for (int i = 0; daq_camera_open(cam, err, sizeof err) != 0; i++) {
        if (i == 50)
            fail_msg("open %s: %s", gv_address(), err);
        usleep(100000);
    }
    return cam;
}

#define NEED_GV(loss_wanted)                                                                       \
    do {                                                                                           \
        if (!gv_address()) {                                                                       \
            printf("no DAQ_ARAVIS_GV_CAMERA: run me through tests/scripts/aravis_netns.sh\n");     \
            skip();                                                                                \
        }                                                                                          \
        if ((gv_loss() != 0) != (loss_wanted))                                                     \
            fail_msg("this case needs the fake %s packet loss (-r)",                               \
                     (loss_wanted) ? "with" : "without");                                          \
    } while (0)

static void gv_stream_200_zero_copy(void **state)
{
    NEED_GV(false);
    daq_camera *cam = gv_cam("gv0", "100", NULL); /* packet size negotiated */
    char err[256];
    daq_param_value v;
    assert_int_equal(daq_camera_get_param(cam, "model", &v, err, sizeof err), 0);
    assert_string_equal(v.s, "Aravis Fake");
    assert_int_equal(daq_camera_get_param(cam, "packet_size", &v, err, sizeof err), 0);
    printf("negotiated packet size %ld\n", (long)v.i);
    assert_true(v.i > 0);
    daq_bus *bus = daq_bus_create("gv0");
    daq_acq *a = engine(cam, bus, 0, DAQ_POOL_POLICY_HEAP, 0, 0);
    consumer c;
    consumer_start(&c, bus, 32, 0, SIDE);
    assert_int_equal(daq_acq_start(a, 200, err, sizeof err), 0);
    assert_true(daq_acq_wait_idle(a, 60000));
    consumer_join(&c, bus);
    daq_acq_stats s = stats(a);
    printf("delivered=%lu lost=%lu fps=%.1f hw %lu..%lu wraps=%lu failed=%lu underruns=%lu "
           "missing_packets=%lu\n",
           (unsigned long)s.delivered, (unsigned long)s.lost, s.fps, (unsigned long)c.first_hw,
           (unsigned long)c.last_hw, (unsigned long)daq_test_extra(&s.driver, "frame_id_wraps"),
           (unsigned long)s.driver.readout_errors,
           (unsigned long)daq_test_extra(&s.driver, "stream_underruns"),
           (unsigned long)daq_test_extra(&s.driver, "stream_missing_packets"));
    assert_int_equal(s.state, DAQ_ACQ_IDLE);
    assert_int_equal(s.delivered, 200);
    assert_int_equal(c.frames, 200);
    assert_zero_copy(&s);
    assert_int_equal(c.not_pool, 0);
    assert_int_equal(s.heap_fallbacks, 0);
    /* Loopback with a 4 MiB socket buffer loses nothing at this rate. */
    assert_int_equal(s.driver.readout_errors, 0);
    assert_int_equal(s.lost + s.discontinuities + s.duplicates, 0);
    assert_int_equal(c.gap_sum + c.repeats + c.backwards, 0);
    assert_int_equal(c.last_hw - c.first_hw, 199);
    /* A fresh fake starts at 65401: 200 frames cross the 16-bit wrap. */
    if (c.first_hw <= 65535 && c.last_hw > 65535)
        assert_int_equal(daq_test_extra(&s.driver, "frame_id_wraps"), 1);
    assert_pool_home(a);
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
}

static void gv_jumbo_packets(void **state)
{
    /* An explicit packet size (the 8972-byte jumbo size of the bench). */
    NEED_GV(false);
    daq_camera *cam = gv_cam("gv1", "100", "8972");
    char err[256];
    daq_param_value v;
    assert_int_equal(daq_camera_get_param(cam, "packet_size", &v, err, sizeof err), 0);
    assert_int_equal(v.i, 8972);
    daq_bus *bus = daq_bus_create("gv1");
    daq_acq *a = engine(cam, bus, 0, DAQ_POOL_POLICY_HEAP, 0, 0);
    consumer c;
    consumer_start(&c, bus, 32, 0, SIDE);
    assert_int_equal(daq_acq_start(a, 200, err, sizeof err), 0);
    assert_true(daq_acq_wait_idle(a, 60000));
    consumer_join(&c, bus);
    daq_acq_stats s = stats(a);
    assert_int_equal(s.delivered, 200);
    assert_int_equal(c.frames, 200);
    assert_zero_copy(&s);
    assert_int_equal(c.not_pool, 0);
    assert_int_equal(s.lost + c.gap_sum + c.repeats + c.backwards, 0);
    assert_pool_home(a);
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
}

static void gv_lossy_failed_buffers_never_delivered(void **state)
{
    NEED_GV(true);
    daq_camera *cam = gv_cam("gv2", "100", NULL);
    daq_bus *bus = daq_bus_create("gv2");
    daq_acq *a = engine(cam, bus, 0, DAQ_POOL_POLICY_HEAP, 0, 0);
    consumer c;
    consumer_start(&c, bus, 32, 0, SIDE);
    char err[256];
    assert_int_equal(daq_acq_start(a, 0, err, sizeof err), 0);
    /* Enough failures and enough good frames to say something about both. */
    uint64_t end = daq_test_now_ns() + 60000000000ull;
    while (daq_test_now_ns() < end) {
        daq_acq_stats s = stats(a);
        if (s.delivered >= 40 && s.driver.readout_errors >= 10)
            break;
        usleep(10000);
    }
    daq_acq_stop(a);
    consumer_join(&c, bus);
    daq_acq_stats s = stats(a);
    uint64_t by_status = 0;
    static const char *const fails[] = {"failed_timeout",         "failed_missing_packets",
                                        "failed_wrong_packet_id", "failed_size_mismatch",
                                        "failed_aborted",         "failed_other"};
    for (size_t i = 0; i < sizeof fails / sizeof fails[0]; i++)
        by_status += daq_test_extra(&s.driver, fails[i]);
    printf("loss %u/1000: delivered=%lu failed=%lu (missing_packets %lu, timeout %lu) lost=%lu "
           "stream: failures=%lu missing_packets=%lu resent=%lu underruns=%lu\n",
           gv_loss(), (unsigned long)s.delivered, (unsigned long)s.driver.readout_errors,
           (unsigned long)daq_test_extra(&s.driver, "failed_missing_packets"),
           (unsigned long)daq_test_extra(&s.driver, "failed_timeout"), (unsigned long)s.lost,
           (unsigned long)daq_test_extra(&s.driver, "stream_failures"),
           (unsigned long)daq_test_extra(&s.driver, "stream_missing_packets"),
           (unsigned long)daq_test_extra(&s.driver, "stream_resent_packets"),
           (unsigned long)daq_test_extra(&s.driver, "stream_underruns"));
    assert_true(s.delivered >= 40);
    assert_true(s.driver.readout_errors >= 10);
    assert_int_equal(by_status, s.driver.readout_errors);
    assert_true(daq_test_extra(&s.driver, "stream_missing_packets") > 0);
    /* Never delivered: every frame a consumer saw was whole (the pattern
     * check in consumer_join), none twice, none out of order... */
    assert_int_equal(c.frames, s.delivered);
    assert_int_equal(c.repeats + c.backwards, 0);
    assert_int_equal(s.duplicates + s.backwards, 0);
    /* ...and the gaps the engine counted as lost are failed buffers: no
     * frame went missing that Aravis did not report (the failures after
     * the last good frame are not gaps yet, hence <=). */
    assert_int_equal(c.gap_sum, s.lost);
    assert_true(s.lost > 0);
    assert_true(s.lost <= s.driver.readout_errors + daq_test_extra(&s.driver, "stream_underruns") +
                              daq_test_extra(&s.driver, "stream_missing_frames"));
    assert_zero_copy(&s);
    assert_pool_home(a);
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(gv_stream_200_zero_copy),
    cmocka_unit_test(gv_jumbo_packets),
    cmocka_unit_test(gv_lossy_failed_buffers_never_delivered),
};

DAQ_TEST_MAIN("aravis_gv", tests)
