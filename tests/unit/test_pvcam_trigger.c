/* The pvcam driver's trigger support through the fake libpvcam
 * (tests/fake_pvcam): PARAM_EXPOSURE_MODE's list becomes trigger.mode,
 * each mode (and expose_out_mode) reaches pl_exp_setup_cont as the right
 * exp_mode bits, software triggers round-trip through pl_exp_trigger
 * (TRIGGERED -> one frame carrying the trigger's index, IGNORED -> the
 * reason), external modes make frames only on the fake's pulses, a library
 * without pl_exp_trigger offers no software mode, and FRAME_INFO's 0.1 ms
 * ticks reach daq_frame_info / daq_frame_meta as camera-clock ns.
 *
 * Frames are taken with the driver's own COPY calls (wait, get_oldest,
 * release_oldest: what the engine does) so each trigger can be matched to
 * the one frame it produced without a thread in between; one case runs the
 * real engine to see the same fields arrive in daq_frame_meta.
 *
 * Each case runs in its own process (ctest): FAKE_PVCAM_* knobs are set
 * with setenv before the library is initialised (lists) or the stream
 * started (trigger faults).  Exposures are 2 ms, so every wait here is
 * bounded by a few hundred ms.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daq/acq.h"
#include "daq/camera_driver.h"
#include "drivers/pvcam/pvcam_sdk.h"
#include "fake_pvcam.h"
#include "test_consumer.h"
#include "test_main.h"

static const char *lib_path(const char *env)
{
    const char *p = getenv(env);
    if (!p)
        fail_msg("%s is not set (run through ctest)", env);
    return p;
}

#define FAKE   "DAQ_TEST_FAKE_PVCAM"
#define NOTRIG "DAQ_TEST_FAKE_PVCAM_NOTRIG"

/* A hook of the fake the driver loaded (dlopen of a loaded path returns it). */
static void *fake_sym(const char *env, const char *name)
{
    void *h = dlopen(lib_path(env), RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    if (!h)
        h = dlopen(lib_path(env), RTLD_NOW | RTLD_LOCAL);
    if (!h)
        fail_msg("dlopen fake: %s", dlerror());
    void *s = dlsym(h, name);
    if (!s)
        fail_msg("fake has no %s", name);
    return s;
}

static uint64_t counter_of(const char *env, const char *name)
{
    fake_pvcam_counter_fn *fn;
    void *s = fake_sym(env, "fake_pvcam_counter");
    memcpy(&fn, &s, sizeof fn);
    uint64_t v = fn(name);
    if (v == UINT64_MAX)
        fail_msg("fake counter %s unknown", name);
    return v;
}

static uint64_t counter(const char *name)
{
    return counter_of(FAKE, name);
}

static int pulse(void)
{
    fake_pvcam_pulse_fn *fn;
    void *s = fake_sym(FAKE, "fake_pvcam_pulse");
    memcpy(&fn, &s, sizeof fn);
    return fn(0);
}

static void set(daq_camera *cam, const char *name, const char *value)
{
    char err[256];
    if (daq_camera_set_param_text(cam, name, value, err, sizeof err) != 0)
        fail_msg("set %s=%s: %s", name, value, err);
}

/* An opened pvcam camera on lib (small sensor, 2 ms exposure). */
static daq_camera *camera(const char *id, const char *env)
{
    setenv("FAKE_PVCAM_WIDTH", "64", 1);
    setenv("FAKE_PVCAM_HEIGHT", "32", 1);
    char err[256];
    daq_camera *cam = daq_camera_create("pvcam", id, err, sizeof err);
    if (!cam)
        fail_msg("create: %s", err);
    set(cam, "library", lib_path(env));
    set(cam, "exposure_ms", "2");
    set(cam, "test_pattern", "sim");
    if (daq_camera_open(cam, err, sizeof err) != 0)
        fail_msg("open: %s", err);
    return cam;
}

static void start(daq_camera *cam)
{
    char err[256];
    if (daq_camera_start(cam, err, sizeof err) != 0)
        fail_msg("start: %s", err);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* One frame through the driver's COPY calls: 1 with its info, 0 when none
 * came within ms. */
static int take(daq_camera *cam, uint32_t ms, daq_frame_info *info)
{
    const daq_camera_ops *o = daq_camera_driver(cam)->ops;
    uint64_t end = mono_ms() + ms;
    for (;;) {
        uint64_t now = mono_ms();
        if (now >= end)
            return 0;
        int r = o->wait(cam, (int64_t)(end - now) * 1000000);
        if (r < 0)
            fail_msg("wait failed");
        if (r == 0)
            continue;
        const void *px;
        memset(info, 0, sizeof *info);
        int g = o->get_oldest(cam, &px, info);
        if (g < 0)
            fail_msg("get_oldest failed");
        if (g == 1) {
            o->release_oldest(cam);
            return 1;
        }
    }
}

static void take_one(daq_camera *cam, daq_frame_info *info)
{
    if (take(cam, 1000, info) != 1)
        fail_msg("no frame within 1 s");
}

/* The names an enum parameter lists, comma separated. */
static void enum_list(daq_camera *cam, const char *name, char *buf, size_t len, unsigned *flags)
{
    daq_param_desc d;
    char err[256];
    if (daq_camera_get_param_desc(cam, name, &d, err, sizeof err) != 0)
        fail_msg("%s", err);
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; d.enum_values && d.enum_values[i]; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? "," : "", d.enum_values[i]);
    if (flags)
        *flags = d.flags;
}

static void get_text(daq_camera *cam, const char *name, char *buf, size_t len)
{
    daq_param_value v;
    char err[256];
    if (daq_camera_get_param(cam, name, &v, err, sizeof err) != 0)
        fail_msg("get %s: %s", name, err);
    snprintf(buf, len, "%s", v.s);
}

#define ALL_SIX                                                                                    \
    (DAQ_TRIGGER_BIT(DAQ_TRIGGER_INTERNAL) | DAQ_TRIGGER_BIT(DAQ_TRIGGER_SOFTWARE) |               \
     DAQ_TRIGGER_BIT(DAQ_TRIGGER_SOFTWARE_FIRST) | DAQ_TRIGGER_BIT(DAQ_TRIGGER_EXTERNAL_EDGE) |    \
     DAQ_TRIGGER_BIT(DAQ_TRIGGER_EXTERNAL_FIRST) | DAQ_TRIGGER_BIT(DAQ_TRIGGER_EXTERNAL_LEVEL))

/* ---- modes -> exp_mode ---------------------------------------------------------------- */

/* Every EXT_TRIG_* mode the camera lists that daq maps becomes a
 * trigger.mode value, and each reaches pl_exp_setup_cont as its value with
 * the expose-out mode OR-ed in; LEVEL_OVERLAP/LEVEL_PULSED are not offered. */
static void each_listed_mode_reaches_setup(void **state)
{
    (void)state;
    setenv("FAKE_PVCAM_EXPOSURE_MODES", "1792,2048,2304,2560,2816,3072,3328,3584", 1);
    setenv("FAKE_PVCAM_EXPOSE_OUT_MODES", "0,1,2,5", 1);
    char err[256];
    daq_camera *cam = daq_camera_create("pvcam", "modes", err, sizeof err);
    assert_non_null(cam);
    /* Before open nothing is known: internal only. */
    assert_int_equal(daq_camera_trigger_modes(cam), DAQ_TRIGGER_BIT(DAQ_TRIGGER_INTERNAL));
    daq_camera_destroy(cam);

    cam = camera("modes", FAKE);
    assert_int_equal(daq_camera_trigger_modes(cam), ALL_SIX);
    assert_true(daq_camera_can_trigger(cam));
    char list[256];
    enum_list(cam, "trigger.mode", list, sizeof list, NULL);
    assert_string_equal(list, "internal,software,software_first,external_edge,external_first,"
                              "external_level");
    enum_list(cam, "expose_out_mode", list, sizeof list, NULL);
    assert_string_equal(list, "first_row,all_rows,any_row,global_shutter");

    static const struct {
        const char *mode;
        int exp;
    } modes[] = {
        {"internal", EXT_TRIG_INTERNAL},
        {"software", EXT_TRIG_SOFTWARE_EDGE},
        {"software_first", EXT_TRIG_SOFTWARE_FIRST},
        {"external_edge", EXT_TRIG_EDGE_RISING},
        {"external_first", EXT_TRIG_TRIG_FIRST},
        {"external_level", EXT_TRIG_LEVEL},
    };
    static const struct {
        const char *name;
        int bits;
    } outs[] = {{"first_row", EXPOSE_OUT_FIRST_ROW},
                {"any_row", EXPOSE_OUT_ANY_ROW},
                {"global_shutter", EXPOSE_OUT_GLOBAL_SHUTTER}};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        for (size_t k = 0; k < sizeof outs / sizeof outs[0]; k++) {
            set(cam, "trigger.mode", modes[i].mode);
            set(cam, "expose_out_mode", outs[k].name);
            uint64_t setups = counter("setups");
            start(cam);
            assert_int_equal(counter("setups"), setups + 1);
            assert_int_equal(counter("last_exp_mode"), modes[i].exp | outs[k].bits);
            assert_int_equal(daq_camera_armed(cam), i != 0);
            daq_camera_stop(cam);
        }
    /* The modes survive a close (recovery reopens): trigger.mode stays. */
    set(cam, "trigger.mode", "external_level");
    daq_camera_close(cam);
    assert_int_equal(daq_camera_trigger_modes(cam), ALL_SIX);
    get_text(cam, "trigger.mode", list, sizeof list);
    assert_string_equal(list, "external_level");
    start(cam);
    assert_int_equal(counter("last_exp_mode"), EXT_TRIG_LEVEL | EXPOSE_OUT_GLOBAL_SHUTTER);
    daq_camera_destroy(cam);
}

/* A camera listing only some modes offers exactly those; one without
 * PARAM_EXPOSE_OUT_MODE has expose_out_mode "none", read-only, and nothing
 * OR-ed in. */
static void camera_lists_a_subset(void **state)
{
    (void)state;
    setenv("FAKE_PVCAM_EXPOSURE_MODES", "1792,3072,3328", 1);
    setenv("FAKE_PVCAM_EXPOSE_OUT_MODES", "", 1);
    daq_camera *cam = camera("subset", FAKE);
    assert_int_equal(daq_camera_trigger_modes(cam),
                     DAQ_TRIGGER_BIT(DAQ_TRIGGER_INTERNAL) | DAQ_TRIGGER_BIT(DAQ_TRIGGER_SOFTWARE));
    char err[256];
    assert_int_equal(
        daq_camera_set_param_text(cam, "trigger.mode", "external_edge", err, sizeof err), -1);
    assert_string_equal(err, "trigger.mode: 'external_edge' is not one of internal, software");
    char list[64];
    unsigned flags = 0;
    enum_list(cam, "expose_out_mode", list, sizeof list, &flags);
    assert_string_equal(list, "none");
    assert_false(flags & DAQ_PARAM_WRITABLE);
    get_text(cam, "expose_out_mode", list, sizeof list);
    assert_string_equal(list, "none");
    set(cam, "trigger.mode", "software");
    start(cam);
    assert_int_equal(counter("last_exp_mode"), EXT_TRIG_SOFTWARE_EDGE);
    daq_camera_destroy(cam);
}

/* An expose-out mode set before open that the camera turns out not to
 * list is refused at start, naming what it has. */
static void expose_out_checked_at_start(void **state)
{
    (void)state;
    setenv("FAKE_PVCAM_EXPOSE_OUT_MODES", "0,1", 1);
    char err[256];
    daq_camera *cam = daq_camera_create("pvcam", "eo", err, sizeof err);
    assert_non_null(cam);
    set(cam, "library", lib_path(FAKE));
    set(cam, "expose_out_mode", "rolling_shutter"); /* any PVCAM mode before open */
    setenv("FAKE_PVCAM_WIDTH", "64", 1);
    setenv("FAKE_PVCAM_HEIGHT", "32", 1);
    assert_int_equal(daq_camera_start(cam, err, sizeof err), -1);
    assert_string_equal(err, "expose_out_mode: camera pvcamUSB_0 has no rolling_shutter (it has: "
                             "first_row, all_rows)");
    assert_int_equal(counter("setups"), 0);
    daq_camera_destroy(cam);
}

/* ---- software triggers ------------------------------------------------------------------ */

/* TRIGGERED -> exactly one frame, carrying the trigger's index; IGNORED
 * (the fake ignores every 3rd) -> the answer says so with the reason and
 * no frame comes; the counters of camera.c and of the fake agree.  The
 * camera clock: TimeStampBOF/TimeStamp ticks x 100 us, exposure apart. */
static void software_trigger_round_trip(void **state)
{
    (void)state;
    setenv("FAKE_PVCAM_IGNORE_EVERY", "3", 1);
    daq_camera *cam = camera("sw", FAKE);
    set(cam, "trigger.mode", "software");
    start(cam);
    assert_true(daq_camera_armed(cam));
    daq_frame_info info;
    assert_int_equal(take(cam, 100, &info), 0); /* armed: nothing without a trigger */

    daq_trigger_answer a;
    char err[256];
    uint64_t expect_index = 0, last_eof = 0;
    for (int t = 1; t <= 7; t++) {
        assert_int_equal(daq_camera_trigger(cam, &a, err, sizeof err), 0);
        if (t % 3 == 0) {
            assert_int_equal(a.result, DAQ_TRIGGER_IGNORED);
            assert_string_equal(
                a.reason, "pvcam: the camera ignored the trigger (PL_SW_TRIG_STATUS_IGNORED)");
            assert_int_equal(take(cam, 30, &info), 0); /* an ignored trigger makes no frame */
            continue;
        }
        expect_index++;
        assert_int_equal(a.result, DAQ_TRIGGER_TRIGGERED);
        assert_int_equal(a.index, expect_index);
        take_one(cam, &info);
        assert_int_equal(info.trigger_index, expect_index);
        assert_int_equal(info.hw_frame_number, expect_index);
        /* Camera clock: 0.1 ms ticks in ns; BOF one 2 ms exposure before EOF. */
        assert_true(info.cam_bof_ns > 0);
        assert_int_equal(info.cam_bof_ns % PVCAM_TICK_NS, 0);
        assert_int_equal(info.cam_eof_ns - info.cam_bof_ns, 2000000);
        assert_true(info.cam_eof_ns > last_eof);
        last_eof = info.cam_eof_ns;
        assert_int_equal(take(cam, 20, &info), 0); /* one frame per trigger, no more */
    }
    assert_int_equal(counter("sw_triggers"), 7);
    assert_int_equal(counter("sw_triggered"), 5);
    assert_int_equal(counter("sw_ignored"), 2);
    daq_trigger_stats ts;
    daq_camera_trigger_stats(cam, &ts);
    assert_int_equal(ts.sent, 7);
    assert_int_equal(ts.accepted, 5);
    assert_int_equal(ts.ignored, 2);
    daq_camera_stats cs;
    daq_camera_stats_snapshot(cam, &cs);
    const daq_camera_extra *x = daq_camera_stats_find(&cs, "triggers_accepted");
    assert_non_null(x);
    assert_int_equal(x->value, 5);
    daq_camera_destroy(cam);
}

/* software_first: the first trigger starts a free-running sequence whose
 * frames all answer trigger 1; later triggers are IGNORED ("sequence
 * already started"). */
static void software_first_sequence(void **state)
{
    (void)state;
    daq_camera *cam = camera("swf", FAKE);
    set(cam, "trigger.mode", "software_first");
    set(cam, "trigger.frames_per_trigger", "4"); /* ignored by the *_first modes */
    start(cam);
    daq_frame_info info;
    assert_int_equal(take(cam, 100, &info), 0);
    daq_trigger_answer a;
    char err[256];
    assert_int_equal(daq_camera_trigger(cam, &a, err, sizeof err), 0);
    assert_int_equal(a.result, DAQ_TRIGGER_TRIGGERED);
    assert_int_equal(a.index, 1);
    for (uint64_t n = 1; n <= 5; n++) {
        take_one(cam, &info);
        assert_int_equal(info.hw_frame_number, n);
        assert_int_equal(info.trigger_index, 1);
    }
    assert_int_equal(daq_camera_trigger(cam, &a, err, sizeof err), 0);
    assert_int_equal(a.result, DAQ_TRIGGER_IGNORED);
    assert_string_equal(a.reason, "pvcam: the camera ignored the trigger "
                                  "(PL_SW_TRIG_STATUS_IGNORED): sequence already started");
    daq_camera_destroy(cam);
}

/* A failing pl_exp_trigger is -1 with PVCAM's code and message. */
static void trigger_failure_reports_pvcam_error(void **state)
{
    (void)state;
    setenv("FAKE_PVCAM_TRIGGER_FAIL", "184", 1);
    daq_camera *cam = camera("swfail", FAKE);
    set(cam, "trigger.mode", "software");
    start(cam);
    daq_trigger_answer a;
    char err[256];
    assert_int_equal(daq_camera_trigger(cam, &a, err, sizeof err), -1);
    assert_string_equal(err, "pvcam: pl_exp_trigger failed: error 184: Invalid internal state "
                             "(PL_ERR_STATE_INVALID)");
    daq_camera_destroy(cam);
}

/* PVCAM exposes once per trigger: frames_per_trigger > 1 is refused at
 * start in the modes that use it, and ignored by internal / *_first. */
static void frames_per_trigger_must_be_one(void **state)
{
    (void)state;
    daq_camera *cam = camera("fpt", FAKE);
    set(cam, "trigger.frames_per_trigger", "2");
    const char *refused[] = {"software", "external_edge", "external_level"};
    char err[256];
    for (size_t i = 0; i < 3; i++) {
        set(cam, "trigger.mode", refused[i]);
        assert_int_equal(daq_camera_start(cam, err, sizeof err), -1);
        assert_string_equal(err, "trigger.frames_per_trigger: pvcam delivers one frame per "
                                 "trigger (it is 2; set it to 1)");
        assert_false(daq_camera_streaming(cam));
    }
    assert_int_equal(counter("setups"), 0);
    const char *fine[] = {"internal", "software_first", "external_first"};
    for (size_t i = 0; i < 3; i++) {
        set(cam, "trigger.mode", fine[i]);
        start(cam);
        daq_camera_stop(cam);
    }
    assert_int_equal(counter("setups"), 3);
    daq_camera_destroy(cam);
}

/* ---- external modes ---------------------------------------------------------------------- */

/* external_edge: no frame without a pulse, one per pulse (index = the
 * pulse's number); software triggers are refused.  external_first: the
 * first pulse starts the sequence (all index 1), later pulses do nothing. */
static void external_modes_need_pulses(void **state)
{
    (void)state;
    daq_camera *cam = camera("ext", FAKE);
    set(cam, "trigger.mode", "external_edge");
    start(cam);
    daq_frame_info info;
    assert_int_equal(take(cam, 100, &info), 0);
    daq_trigger_answer a;
    char err[256];
    assert_int_equal(daq_camera_trigger(cam, &a, err, sizeof err), -1);
    assert_string_equal(err, "ext: trigger.mode is external_edge: triggers come from the line, "
                             "not software");
    for (uint64_t n = 1; n <= 3; n++) {
        assert_int_equal(pulse(), 1);
        take_one(cam, &info);
        assert_int_equal(info.trigger_index, n);
        assert_int_equal(info.cam_eof_ns - info.cam_bof_ns, 2000000);
        assert_int_equal(take(cam, 20, &info), 0);
    }
    daq_camera_stop(cam);
    assert_int_equal(pulse(), 0); /* not streaming: nothing to act on */

    set(cam, "trigger.mode", "external_first");
    start(cam);
    assert_int_equal(take(cam, 100, &info), 0);
    assert_int_equal(pulse(), 1);
    for (uint64_t n = 1; n <= 4; n++) {
        take_one(cam, &info);
        assert_int_equal(info.hw_frame_number, n);
        assert_int_equal(info.trigger_index, 1);
    }
    assert_int_equal(pulse(), 0); /* the sequence runs already */
    /* the fake's counters of this stream: the two pulses since its start */
    assert_int_equal(counter("pulses"), 2);
    assert_int_equal(counter("pulses_used"), 1);
    daq_camera_destroy(cam);
}

/* ---- a PVCAM without pl_exp_trigger -------------------------------------------------------- */

static void library_without_pl_exp_trigger(void **state)
{
    (void)state;
    daq_camera *cam = camera("old", NOTRIG);
    assert_int_equal(daq_camera_trigger_modes(cam), ALL_SIX & ~(uint32_t)DAQ_TRIGGER_SOFTWARE_BITS);
    char err[256];
    assert_int_equal(daq_camera_set_param_text(cam, "trigger.mode", "software", err, sizeof err),
                     -1);
    assert_string_equal(err, "trigger.mode: 'software' is not one of internal, external_edge, "
                             "external_first, external_level");
    assert_int_equal(
        daq_camera_set_param_text(cam, "trigger.mode", "software_first", err, sizeof err), -1);
    /* The rest works: an external mode arms. */
    set(cam, "trigger.mode", "external_edge");
    start(cam);
    assert_int_equal(counter_of(NOTRIG, "last_exp_mode"), EXT_TRIG_EDGE_RISING);
    assert_true(daq_camera_armed(cam));
    daq_camera_destroy(cam);
}

/* ---- through the engine: daq_frame_meta ------------------------------------------------------ */

typedef struct metas {
    daq_frame_meta m[16];
    unsigned n;
} metas;

static void keep_meta(void *owner, const daq_frame *f)
{
    metas *ms = owner;
    unsigned n = __atomic_load_n(&ms->n, __ATOMIC_RELAXED);
    if (n < 16) {
        ms->m[n] = *daq_frame_meta_get(f);
        __atomic_store_n(&ms->n, n + 1, __ATOMIC_RELEASE); /* the test polls it */
    }
}

/* Software triggers with the real engine: every frame's meta carries its
 * trigger's index and the camera clock (BOF/EOF ns, one exposure apart). */
static void engine_frames_carry_index_and_camera_clock(void **state)
{
    (void)state;
    daq_camera *cam = camera("eng", FAKE);
    set(cam, "trigger.mode", "software");
    daq_bus *bus = daq_bus_create("eng");
    daq_acq_config cfg;
    daq_acq_config_init(&cfg);
    char err[256];
    daq_acq *acq = daq_acq_create(cam, bus, &cfg, err, sizeof err);
    if (!acq)
        fail_msg("acq: %s", err);
    metas ms = {0};
    daq_sub_config sc;
    daq_sub_config_init(&sc);
    sc.name = "meta";
    sc.policy = DAQ_SUB_LOSSLESS;
    sc.queue_depth = 16;
    daq_test_consumer tc;
    daq_test_consumer_start(&tc, bus, &sc, keep_meta, &ms, 0, 500 * 1000000ll);
    if (daq_acq_start(acq, 0, err, sizeof err) != 0)
        fail_msg("start: %s", err);
    daq_trigger_answer a;
    for (uint64_t t = 1; t <= 4; t++) {
        assert_int_equal(daq_camera_trigger(cam, &a, err, sizeof err), 0);
        assert_int_equal(a.result, DAQ_TRIGGER_TRIGGERED);
        usleep(20000);
    }
    for (int i = 0; i < 200 && __atomic_load_n(&ms.n, __ATOMIC_ACQUIRE) < 4; i++)
        usleep(10000); /* the last frame's way through engine and bus: at most 2 s */
    daq_acq_stop(acq);
    daq_test_consumer_join(&tc, bus);
    assert_int_equal(ms.n, 4);
    for (unsigned i = 0; i < 4; i++) {
        assert_int_equal(ms.m[i].trigger_index, i + 1);
        assert_int_equal(ms.m[i].hw_frame_number, i + 1);
        assert_true(ms.m[i].cam_bof_ns > 0);
        assert_int_equal(ms.m[i].cam_eof_ns - ms.m[i].cam_bof_ns, 2000000);
        assert_false(ms.m[i].flags & DAQ_FRAME_FLAG_TRIGGER_EXTRA);
        /* the triggers were 20 ms apart: so are the exposures, on the
         * camera's clock (give scheduling 10 ms of slack) */
        if (i)
            assert_true(ms.m[i].cam_bof_ns - ms.m[i - 1].cam_bof_ns >= 10000000);
    }
    daq_acq_destroy(acq); /* and its camera */
    daq_bus_destroy(bus);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(each_listed_mode_reaches_setup),
    cmocka_unit_test(camera_lists_a_subset),
    cmocka_unit_test(expose_out_checked_at_start),
    cmocka_unit_test(software_trigger_round_trip),
    cmocka_unit_test(software_first_sequence),
    cmocka_unit_test(trigger_failure_reports_pvcam_error),
    cmocka_unit_test(frames_per_trigger_must_be_one),
    cmocka_unit_test(external_modes_need_pulses),
    cmocka_unit_test(library_without_pl_exp_trigger),
    cmocka_unit_test(engine_frames_carry_index_and_camera_clock),
};

DAQ_TEST_MAIN("pvcam_trigger", tests)
