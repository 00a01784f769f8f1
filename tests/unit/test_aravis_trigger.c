/* Triggers on the aravis driver (issue 15): which modes a GenICam camera
 * offers, what start writes to its trigger features, the software trigger
 * and the trigger_index of each frame.
 *
 * Two fakes, because they differ where it matters:
 *  - Aravis' in-process fake ("Fake_1", no network) lists TriggerSelector
 *    FrameStart/AcquisitionStart, TriggerSource Line0/Software,
 *    TriggerActivation RisingEdge and TriggerSoftware (no LevelHigh, no
 *    FrameBurstStart, no AcquisitionBurstFrameCount), so it offers software,
 *    software_first, external_edge and external_first.  But its stream
 *    thread ignores TriggerSoftware: with TriggerMode On it free-runs at its
 *    fixed 25 Hz "trigger frequency" (Aravis 0.8.26).  The cases without
 *    "gv_" check the modes, the features start writes (read back from the
 *    device), the answers of the trigger op and the numbering.
 *  - arv-fake-gv-camera honours TriggerSoftware (it polls the command
 *    register every 40 ms and sends one frame per trigger seen), so the
 *    "gv_" cases -- run by tests/scripts/aravis_netns.sh next to that fake
 *    in a private network namespace -- check one frame per trigger, none
 *    without one, through the real engine in FILL mode with no copy.
 * Neither fake acts on the AcquisitionStart trigger (software_first and
 * external_first free-run at once on them): only the features are checked.
 */
#define _GNU_SOURCE
#include <arv.h>
#include <stdlib.h>

#include "camera/camera_impl.h" /* the engine's frame calls */
#include "drivers/aravis/aravis_impl.h"
#include "test_main.h"

#include "aravis_check.h"

#define SIDE       256u
#define MAX_FRAMES 256

static daq_camera *new_cam(const char *id, const char *camera, const char *fps)
{
    char err[256];
    if (daq_aravis_register(err, sizeof err) != 0)
        fail_msg("register: %s", err);
    daq_camera *cam = daq_camera_create("aravis", id, err, sizeof err);
    if (!cam)
        fail_msg("create: %s", err);
    set(cam, "camera", camera);
    set(cam, "pixel_format", "Mono8");
    set(cam, "width", "256");
    set(cam, "height", "256");
    set(cam, "frame_rate_hz", fps);
    return cam;
}

/* Opens cam, retrying a few seconds (the GigE fake may still be starting). */
static void open_cam(daq_camera *cam)
{
    char err[256];
    for (int i = 0; daq_camera_open(cam, err, sizeof err) != 0; i++) {
        if (i == 50)
            fail_msg("open: %s", err);
        usleep(100000);
    }
}

/* A trigger feature under one selector, read from the device. */
static void feature(daq_camera *cam, const char *selector, const char *name, char *out, size_t n)
{
    ArvCamera *c = aravis_arv_camera(cam);
    assert_non_null(c);
    GError *e = NULL;
    arv_camera_set_string(c, "TriggerSelector", selector, &e);
    const char *v = e ? NULL : arv_camera_get_string(c, name, &e);
    if (e)
        fail_msg("%s[%s]: %s", name, selector, e->message);
    snprintf(out, n, "%s", v ? v : "");
}

#define assert_feature(cam, sel, name, want)                                                       \
    do {                                                                                           \
        char got_[64];                                                                             \
        feature(cam, sel, name, got_, sizeof got_);                                                \
        if (strcmp(got_, want) != 0)                                                               \
            fail_msg("%s[%s] = %s, want %s", name, sel, got_, want);                               \
    } while (0)

/* Starts in mode (camera API), stops, and leaves the features to read. */
static int start_in(daq_camera *cam, const char *mode, char *err, size_t n)
{
    set(cam, "trigger.mode", mode);
    int r = daq_camera_start(cam, err, n);
    daq_camera_stop(cam);
    return r;
}

/* ---- the in-process fake --------------------------------------------------------------------- */

static void fake_lists_its_modes(void **state)
{
    daq_camera *cam = new_cam("trig-modes", "Fake_1", "50");
    char err[256];
    assert_int_equal(aravis_of(cam)->trigger_modes, 0); /* nothing known before open */
    open_cam(cam);
    const uint32_t want =
        DAQ_TRIGGER_BIT(DAQ_TRIGGER_SOFTWARE) | DAQ_TRIGGER_BIT(DAQ_TRIGGER_SOFTWARE_FIRST) |
        DAQ_TRIGGER_BIT(DAQ_TRIGGER_EXTERNAL_EDGE) | DAQ_TRIGGER_BIT(DAQ_TRIGGER_EXTERNAL_FIRST);
    assert_int_equal(aravis_of(cam)->trigger_modes, want); /* no LevelHigh: no external_level */
    assert_int_equal(daq_camera_trigger_modes(cam), want | DAQ_TRIGGER_BIT(DAQ_TRIGGER_INTERNAL));
    assert_true(daq_camera_can_trigger(cam));
    assert_string_equal(aravis_of(cam)->tcaps.line, "Line0");
    assert_string_equal(aravis_of(cam)->tcaps.sources, "Line0, Software");
    /* The camera layer's enum refuses what the camera lacks. */
    assert_int_not_equal(
        daq_camera_set_param_text(cam, "trigger.mode", "external_level", err, sizeof err), 0);
    printf("external_level refused: %s\n", err);
    daq_camera_close(cam);
    assert_int_equal(aravis_of(cam)->trigger_modes, 0);
    daq_camera_destroy(cam);
}

static void start_writes_the_trigger_features(void **state)
{
    daq_camera *cam = new_cam("trig-features", "Fake_1", "50");
    open_cam(cam);
    char err[256];
    assert_int_equal(start_in(cam, "software", err, sizeof err), 0);
    assert_feature(cam, "FrameStart", "TriggerMode", "On");
    assert_feature(cam, "FrameStart", "TriggerSource", "Software");
    assert_feature(cam, "AcquisitionStart", "TriggerMode", "Off");

    assert_int_equal(start_in(cam, "software_first", err, sizeof err), 0);
    assert_feature(cam, "FrameStart", "TriggerMode", "Off"); /* the last run's is gone */
    assert_feature(cam, "AcquisitionStart", "TriggerMode", "On");
    assert_feature(cam, "AcquisitionStart", "TriggerSource", "Software");

    assert_int_equal(start_in(cam, "external_edge", err, sizeof err), 0);
    assert_feature(cam, "FrameStart", "TriggerMode", "On");
    assert_feature(cam, "FrameStart", "TriggerSource", "Line0");
    assert_feature(cam, "FrameStart", "TriggerActivation", "RisingEdge");
    assert_feature(cam, "AcquisitionStart", "TriggerMode", "Off");

    assert_int_equal(start_in(cam, "external_first", err, sizeof err), 0);
    assert_feature(cam, "FrameStart", "TriggerMode", "Off");
    assert_feature(cam, "AcquisitionStart", "TriggerMode", "On");
    assert_feature(cam, "AcquisitionStart", "TriggerSource", "Line0");

    assert_int_equal(start_in(cam, "internal", err, sizeof err), 0);
    assert_feature(cam, "FrameStart", "TriggerMode", "Off");
    assert_feature(cam, "AcquisitionStart", "TriggerMode", "Off");

    /* What the camera cannot do fails at start, saying why. */
    set(cam, "trigger.frames_per_trigger", "3");
    assert_int_not_equal(start_in(cam, "software", err, sizeof err), 0);
    assert_string_equal(err, "aravis: trigger.frames_per_trigger 3 needs a FrameBurstStart "
                             "trigger with AcquisitionBurstFrameCount, which camera "
                             "'trig-features' lacks (set it to 1)");
    assert_false(daq_camera_streaming(cam));
    set(cam, "trigger.frames_per_trigger", "1");
    set(cam, "trigger.source", "Line7");
    assert_int_not_equal(start_in(cam, "external_edge", err, sizeof err), 0);
    assert_string_equal(err, "trigger.source: Line7 is not one of this camera's: Line0, Software");
    set(cam, "trigger.source", "Software");
    assert_int_not_equal(start_in(cam, "external_edge", err, sizeof err), 0);
    assert_string_equal(err,
                        "trigger.source: Software is not one of this camera's: Line0, Software");
    set(cam, "trigger.source", "Line0");
    assert_int_equal(start_in(cam, "external_edge", err, sizeof err), 0);
    daq_camera_destroy(cam);
}

/* A pool of 8 frames and 4 of them queued: the FILL contract without the
 * engine, so the driver's own frame description is what is checked. */
typedef struct rig {
    daq_pool *pool;
    daq_camera *cam;
} rig;

static void rig_start(rig *r, daq_camera *cam)
{
    char err[256];
    daq_camera_format fmt;
    assert_int_equal(daq_camera_get_format(cam, &fmt, err, sizeof err), 0);
    daq_pool_config pc;
    daq_pool_config_init(&pc);
    pc.slot_bytes = fmt.frame_bytes;
    pc.slot_count = 8;
    r->pool = daq_pool_create(&pc, err, sizeof err);
    assert_non_null(r->pool);
    r->cam = cam;
    if (daq_camera_start(cam, err, sizeof err) != 0)
        fail_msg("start: %s", err);
    for (int i = 0; i < 4; i++)
        assert_int_equal(daq_camera__fill_queue(cam, daq_pool_try_acquire(r->pool)), 0);
}

/* The next frame's description (requeued at once). */
static daq_frame_info rig_next(rig *r)
{
    daq_frame *f = NULL;
    daq_frame_info info;
    memset(&info, 0, sizeof info);
    assert_int_equal(daq_camera__fill_dequeue(r->cam, 2000000000ll, &f, &info), 1);
    assert_true(daq_frame_used_pool(f));
    assert_int_equal(daq_camera__fill_queue(r->cam, f), 0);
    return info;
}

static void rig_stop(rig *r)
{
    daq_camera_stop(r->cam);
    daq_pool_metrics m;
    daq_pool_metrics_snapshot(r->pool, &m);
    assert_int_equal(m.in_use, 0);
    daq_pool_destroy(r->pool);
}

static void fake_software_trigger_answers(void **state)
{
    daq_camera *cam = new_cam("trig-answers", "Fake_1", "50");
    open_cam(cam);
    char err[256];
    daq_trigger_answer a;
    /* Not streaming: the camera layer refuses before the driver. */
    set(cam, "trigger.mode", "software");
    assert_int_not_equal(daq_camera_trigger(cam, &a, err, sizeof err), 0);
    assert_string_equal(err, "trig-answers: not armed");

    rig r;
    rig_start(&r, cam);
    assert_true(daq_camera_armed(cam));
    for (uint64_t i = 1; i <= 5; i++) {
        assert_int_equal(daq_camera_trigger(cam, &a, err, sizeof err), 0);
        assert_int_equal(a.result, DAQ_TRIGGER_TRIGGERED);
        assert_int_equal(a.index, i);
    }
    /* The fake free-runs anyway (see the top): its frames are numbered in
     * order, one trigger each, and carry its clock (host realtime). */
    daq_frame_info first = rig_next(&r);
    for (uint64_t k = 1; k < 6; k++) {
        daq_frame_info f = rig_next(&r);
        assert_int_equal(f.trigger_index - first.trigger_index,
                         f.hw_frame_number - first.hw_frame_number);
    }
    assert_int_equal(first.trigger_index, 1); /* the stream's first frame */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    assert_true(first.cam_bof_ns > now - 5000000000ull && first.cam_bof_ns <= now);
    rig_stop(&r);

    /* software_first: one trigger starts the sequence, the next is ignored,
     * every frame answers trigger 1. */
    set(cam, "trigger.mode", "software_first");
    rig_start(&r, cam);
    assert_int_equal(daq_camera_trigger(cam, &a, err, sizeof err), 0);
    assert_int_equal(a.result, DAQ_TRIGGER_TRIGGERED);
    assert_int_equal(a.index, 1);
    assert_int_equal(daq_camera_trigger(cam, &a, err, sizeof err), 0);
    assert_int_equal(a.result, DAQ_TRIGGER_IGNORED);
    assert_string_equal(a.reason, "sequence already started");
    for (int k = 0; k < 3; k++)
        assert_int_equal(rig_next(&r).trigger_index, 1);
    rig_stop(&r);

    /* internal: frames answer no trigger, and the camera is not armed. */
    set(cam, "trigger.mode", "internal");
    rig_start(&r, cam);
    assert_false(daq_camera_armed(cam));
    assert_int_not_equal(daq_camera_trigger(cam, &a, err, sizeof err), 0);
    assert_string_equal(err, "trig-answers: not armed");
    for (int k = 0; k < 3; k++)
        assert_int_equal(rig_next(&r).trigger_index, 0);
    rig_stop(&r);
    daq_camera_destroy(cam);
}

static void numbering_by_frame_id(void **state)
{
    /* Frame k*fpt+j of a stream answers trigger k+1, counted from frame
     * ids, so a frame lost in the middle shifts nothing. */
    aravis d;
    memset(&d, 0, sizeof d);
    d.trig = (daq_trigger_config){DAQ_TRIGGER_SOFTWARE, 3, 1000};
    const uint64_t hw[] = {65534, 65535, 65536, 65537, 65539, 65540, 65541};
    const uint64_t want[] = {1, 1, 1, 2, 2, 3, 3}; /* 65538 lost */
    for (size_t i = 0; i < sizeof hw / sizeof hw[0]; i++)
        assert_int_equal(aravis_trigger_index(&d, hw[i]), want[i]);
    d.have_hw_base = false;
    d.trig = (daq_trigger_config){DAQ_TRIGGER_EXTERNAL_LEVEL, 4, 1000}; /* one frame per pulse */
    assert_int_equal(aravis_trigger_index(&d, 10), 1);
    assert_int_equal(aravis_trigger_index(&d, 11), 2);
    assert_int_equal(aravis_trigger_index(&d, 13), 4);
    assert_int_equal(aravis_trigger_index(&d, 5), 1); /* ids restarted: count from there */
    d.trig.mode = DAQ_TRIGGER_EXTERNAL_FIRST;
    assert_int_equal(aravis_trigger_index(&d, 99), 1);
    d.trig.mode = DAQ_TRIGGER_INTERNAL;
    assert_int_equal(aravis_trigger_index(&d, 99), 0);
}

/* ---- the GigE fake -----------------------------------------------------------------------------
 */

static const char *gv_address(void)
{
    const char *ip = getenv("DAQ_ARAVIS_GV_CAMERA");
    return ip && *ip ? ip : NULL;
}

#define NEED_GV()                                                                                  \
    do {                                                                                           \
        if (!gv_address()) {                                                                       \
            printf("no DAQ_ARAVIS_GV_CAMERA: run me through tests/scripts/aravis_netns.sh\n");     \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* A verifying consumer (aravis_check.h) that also records each frame's
 * trigger index and camera timestamp. */
typedef struct tconsumer {
    consumer c;
    uint64_t n;
    uint64_t index[MAX_FRAMES], cam_bof[MAX_FRAMES];
} tconsumer;

static void check_triggered(void *owner, const daq_frame *f)
{
    tconsumer *t = owner;
    check_frame(&t->c, f);
    const daq_frame_meta *m = daq_frame_meta_get(f);
    if (t->n < MAX_FRAMES) {
        t->index[t->n] = m->trigger_index;
        t->cam_bof[t->n] = m->cam_bof_ns;
    }
    t->n++;
}

static void tconsumer_start(tconsumer *t, daq_bus *bus)
{
    memset(t, 0, sizeof *t);
    t->c.side = SIDE;
    daq_sub_config sc;
    daq_sub_config_init(&sc);
    sc.name = "verify";
    sc.policy = DAQ_SUB_LOSSLESS;
    sc.queue_depth = 32;
    sc.lossless_timeout_ms = 5000;
    daq_test_consumer_start(&t->c.tc, bus, &sc, check_triggered, t, 0, 20 * 1000000000ll);
}

static void gv_software_50_triggers_zero_copy(void **state)
{
    NEED_GV();
    daq_camera *cam = new_cam("gvtrig", gv_address(), "100");
    open_cam(cam);
    assert_int_equal(aravis_of(cam)->trigger_modes & DAQ_TRIGGER_SOFTWARE_BITS,
                     DAQ_TRIGGER_SOFTWARE_BITS);
    set(cam, "trigger.mode", "software");
    daq_bus *bus = daq_bus_create("gvtrig");
    daq_acq *a = engine(cam, bus, 0, DAQ_POOL_POLICY_HEAP, 0, 0);
    tconsumer t;
    tconsumer_start(&t, bus);
    char err[256];
    assert_int_equal(daq_acq_start(a, 0, err, sizeof err), 0);
    assert_true(daq_camera_armed(cam));
    usleep(300000);
    assert_int_equal(stats(a).delivered, 0); /* armed: nothing without a trigger */
    /* One trigger at a time: the fake polls its trigger register every
     * 40 ms and would merge two that come quicker into one frame. */
    const uint64_t n = 50;
    uint64_t t0 = daq_test_now_ns();
    for (uint64_t i = 1; i <= n; i++) {
        daq_trigger_answer ans;
        if (daq_camera_trigger(cam, &ans, err, sizeof err) != 0)
            fail_msg("trigger %lu: %s", (unsigned long)i, err);
        assert_int_equal(ans.result, DAQ_TRIGGER_TRIGGERED);
        assert_int_equal(ans.index, i);
        if (!wait_delivered(a, i, 2000))
            fail_msg("trigger %lu: no frame within 2 s", (unsigned long)i);
    }
    double ms = (double)(daq_test_now_ns() - t0) / 1e6;
    usleep(300000);
    daq_acq_stats s = stats(a);
    assert_int_equal(s.delivered, n); /* and none after the last trigger */
    daq_acq_stop(a);
    consumer_join(&t.c, bus);
    s = stats(a);
    printf("%lu triggers -> %lu frames in %.0f ms; hw %lu..%lu; clock_pairs %lu\n",
           (unsigned long)n, (unsigned long)t.n, ms, (unsigned long)t.c.first_hw,
           (unsigned long)t.c.last_hw, (unsigned long)s.clock_pairs);
    assert_int_equal(t.n, n);
    assert_int_equal(t.c.frames, n);
    for (uint64_t i = 0; i < n; i++) {
        if (t.index[i] != i + 1)
            fail_msg("frame %lu carries trigger_index %lu", (unsigned long)i,
                     (unsigned long)t.index[i]);
        assert_true(t.cam_bof[i] != 0);
        if (i)
            assert_true(t.cam_bof[i] > t.cam_bof[i - 1]);
    }
    /* FILL, no copy: every frame was a pool slot the engine lent. */
    assert_zero_copy(&s);
    assert_int_equal(t.c.not_pool, 0);
    assert_int_equal(s.heap_fallbacks, 0);
    assert_int_equal(t.c.gap_sum + t.c.repeats + t.c.backwards, 0);
    assert_int_equal(s.trigger.sent, n);
    assert_int_equal(s.trigger.accepted, n);
    assert_int_equal(s.trigger.frames, n);
    assert_pool_home(a);

    /* Back to internal: TriggerMode Off again, the camera free-runs. */
    set(cam, "trigger.mode", "internal");
    tconsumer_start(&t, bus);
    assert_int_equal(daq_acq_start(a, 20, err, sizeof err), 0);
    assert_true(daq_acq_wait_idle(a, 10000));
    consumer_join(&t.c, bus);
    assert_int_equal(t.n, 20);
    for (uint64_t i = 0; i < 20; i++)
        assert_int_equal(t.index[i], 0);
    assert_pool_home(a);

    /* external_edge on Line0, which nothing drives on the fake: armed,
     * silent, and deaf to software triggers. */
    set(cam, "trigger.mode", "external_edge");
    tconsumer_start(&t, bus);
    assert_int_equal(daq_acq_start(a, 0, err, sizeof err), 0);
    assert_true(daq_camera_armed(cam));
    daq_trigger_answer ans;
    assert_int_not_equal(daq_camera_trigger(cam, &ans, err, sizeof err), 0);
    assert_string_equal(err, "gvtrig: trigger.mode is external_edge: triggers come from the line, "
                             "not software");
    usleep(300000);
    assert_int_equal(stats(a).delivered, 0);
    daq_acq_stop(a);
    consumer_join(&t.c, bus);
    assert_int_equal(t.n, 0);
    assert_pool_home(a);
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(fake_lists_its_modes),
    cmocka_unit_test(start_writes_the_trigger_features),
    cmocka_unit_test(fake_software_trigger_answers),
    cmocka_unit_test(numbering_by_frame_id),
    cmocka_unit_test(gv_software_50_triggers_zero_copy),
};

DAQ_TEST_MAIN("aravis_trigger", tests)
