/* Unit tests of the sim camera's trigger modes, trigger line, trigger
 * faults and camera clock (ADR 0011), read the way the engine reads a COPY
 * driver (wait -> get_oldest -> verify -> release), with software triggers
 * sent through the camera layer (daq_camera_trigger); one case runs two
 * cameras on a line through the real engine and checks the camera layer's
 * trigger counters against the injected faults.  Every count is
 * asserted exactly: frames per trigger index against what was sent or
 * pulsed, injected faults (the driver's extras) against what the frames
 * show.  Frames are 64 x 16 so a case takes well under a second, also
 * under TSan; timing is checked only where the design fixes it (BOF not
 * before the trigger, spacing at least a period) and the clock's rate from
 * the frames' own stamps, which no scheduling delay can disturb. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "camera/camera_impl.h" /* the engine's frame calls */
#include "daq/acq.h"
#include "daq/camera.h"
#include "daq/sim.h"
#include "test_consumer.h"
#include "test_main.h"
#include "util/clock.h"

#define MS 1000000ll

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A 64 x 16 sim with params given as name/text pairs, NULL-terminated. */
static daq_camera *make_sim(const char *id, const char *const *kv)
{
    static const char *const base[] = {"width", "64",          "height", "16", "bit_depth",
                                       "16",    "ring_frames", "256",    NULL};
    daq_camera *cam = daq_test_sim(id, base);
    daq_test_set_params(cam, kv);
    return cam;
}

static void start_ok(daq_camera *cam)
{
    daq_test_start(cam);
}

static uint64_t extra_of(daq_camera *cam, const char *name)
{
    daq_camera_stats st;
    daq_camera_stats_snapshot(cam, &st);
    return daq_test_extra(&st, name);
}

/* 1 with the next frame (its pixels verified), 0 when none came within
 * timeout. */
static int next_frame(daq_camera *cam, int64_t timeout_ns, daq_frame_info *info)
{
    int w = daq_camera__wait(cam, timeout_ns);
    if (w < 0)
        fail_msg("wait failed");
    if (w == 0)
        return 0;
    const void *px;
    int g = daq_camera__get_oldest(cam, &px, info);
    if (g != 1)
        fail_msg("get_oldest: %d", g);
    char why[128];
    if (daq_sim_verify(px, info->width, info->height, info->bit_depth, info->hw_frame_number, why,
                       sizeof why) != 0)
        fail_msg("frame %" PRIu64 ": %s", info->hw_frame_number, why);
    daq_camera__release_oldest(cam);
    return 1;
}

/* Reads frames until none comes for quiet_ms; returns how many (at most max
 * infos kept). */
static size_t drain(daq_camera *cam, daq_frame_info *out, size_t max, unsigned quiet_ms)
{
    size_t n = 0;
    daq_frame_info info;
    while (next_frame(cam, quiet_ms * MS, &info) == 1) {
        if (n < max)
            out[n] = info;
        n++;
    }
    return n;
}

static daq_trigger_answer trigger_ok(daq_camera *cam)
{
    daq_trigger_answer a;
    char err[256] = "";
    if (daq_camera_trigger(cam, &a, err, sizeof err) < 0)
        fail_msg("trigger: %s", err);
    return a;
}

/* ---- software ---------------------------------------------------------------------- */

/* 1000 software triggers sent ahead of the sensor: exactly 1000 frames,
 * one per trigger, indices 1..1000 in order, hardware numbers 1..1000. */
static void software_1000_triggers(void **state)
{
    (void)state;
    daq_camera *cam = make_sim(
        "sw", (const char *const[]){"trigger.mode", "software", "timing", "instant", NULL});
    start_ok(cam);
    assert_true(daq_camera_armed(cam));
    for (uint64_t k = 1; k <= 1000; k++) {
        daq_trigger_answer a = trigger_ok(cam);
        assert_int_equal(a.result, DAQ_TRIGGER_TRIGGERED);
        assert_int_equal(a.index, k);
    }
    static daq_frame_info f[1001];
    size_t n = drain(cam, f, 1001, 200);
    assert_int_equal(n, 1000);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(f[i].trigger_index, i + 1);
        assert_int_equal(f[i].hw_frame_number, i + 1);
        assert_true(f[i].cam_bof_ns == f[i].bof_ns); /* drift 0, offset 0 */
    }
    daq_trigger_stats ts;
    daq_camera_trigger_stats(cam, &ts);
    assert_int_equal(ts.sent, 1000);
    assert_int_equal(ts.accepted, 1000);
    assert_int_equal(ts.ignored, 0);
    assert_int_equal(extra_of(cam, "trigger_injected_miss"), 0);
    assert_int_equal(extra_of(cam, "trigger_injected_double"), 0);
    daq_camera_destroy(cam);
}

/* software_first: nothing before the trigger, then a free-running
 * sequence all carrying index 1, a period apart; a second trigger is
 * IGNORED with its reason. */
static void software_first_sequence(void **state)
{
    (void)state;
    daq_camera *cam =
        make_sim("swf", (const char *const[]){"trigger.mode", "software_first", "exposure_ms", "1",
                                              "frame_rate_hz", "500", NULL});
    start_ok(cam);
    daq_frame_info f[16];
    assert_int_equal(next_frame(cam, 60 * MS, &f[0]), 0); /* armed, no trigger: nothing */
    uint64_t before = daq_now_ns();
    daq_trigger_answer a = trigger_ok(cam);
    assert_int_equal(a.result, DAQ_TRIGGER_TRIGGERED);
    assert_int_equal(a.index, 1);
    for (int i = 0; i < 10; i++)
        assert_int_equal(next_frame(cam, 2000 * MS, &f[i]), 1);
    assert_true(f[0].bof_ns >= before);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(f[i].trigger_index, 1);
        assert_int_equal(f[i].hw_frame_number, (uint64_t)i + 1);
        assert_int_equal(f[i].exposure_ns, 1000000);
        if (i)
            assert_true(f[i].bof_ns - f[i - 1].bof_ns >= 2000000); /* the 500 Hz period */
    }
    a = trigger_ok(cam);
    assert_int_equal(a.result, DAQ_TRIGGER_IGNORED);
    assert_string_equal(a.reason, "sequence already started");
    daq_trigger_stats ts;
    daq_camera_trigger_stats(cam, &ts);
    assert_int_equal(ts.sent, 2);
    assert_int_equal(ts.accepted, 1);
    assert_int_equal(ts.ignored, 1);
    daq_camera_destroy(cam);
}

/* frames_per_trigger = 3: three frames per trigger, a period apart, none
 * beginning before its trigger. */
static void frames_per_trigger_three(void **state)
{
    (void)state;
    daq_camera *cam = make_sim(
        "fpt", (const char *const[]){"trigger.mode", "software", "trigger.frames_per_trigger", "3",
                                     "exposure_ms", "0.5", "frame_rate_hz", "2000", NULL});
    start_ok(cam);
    uint64_t sent_at[21];
    for (uint64_t k = 1; k <= 20; k++) {
        sent_at[k] = daq_now_ns();
        assert_int_equal(trigger_ok(cam).index, k);
        if (k % 5 == 0)
            sleep_ms(5); /* some bursts queue, some triggers find the camera idle */
    }
    daq_frame_info f[64];
    size_t n = drain(cam, f, 64, 200);
    assert_int_equal(n, 60);
    for (size_t i = 0; i < n; i++) {
        uint64_t k = i / 3 + 1;
        assert_int_equal(f[i].trigger_index, k);
        assert_int_equal(f[i].hw_frame_number, i + 1);
        assert_true(f[i].bof_ns >= sent_at[k]);
        if (i)
            assert_true(f[i].bof_ns - f[i - 1].bof_ns >= 500000);
    }
    daq_camera_destroy(cam);
}

/* Triggers queue while the camera exposes, up to 1024 beyond the one being
 * exposed; then IGNORED with the reason.  Stop interrupts a long exposure. */
static void software_queue_full(void **state)
{
    (void)state;
    daq_camera *cam =
        make_sim("full", (const char *const[]){"trigger.mode", "software", "exposure_ms", "5000",
                                               "frame_rate_hz", "0.1", NULL});
    start_ok(cam);
    uint64_t accepted = 0, ignored = 0;
    for (int k = 0; k < 1100; k++) {
        daq_trigger_answer a = trigger_ok(cam);
        if (a.result == DAQ_TRIGGER_TRIGGERED) {
            assert_int_equal(a.index, ++accepted);
        } else {
            assert_string_equal(a.reason, "trigger queue full (1024)");
            ignored++;
        }
    }
    /* 1024 queued, plus the first once the sensor took it out of the queue
     * (before or after the queue filled: a slot frees then) */
    assert_true(accepted == 1024 || accepted == 1025);
    assert_int_equal(accepted + ignored, 1100);
    daq_trigger_stats ts;
    daq_camera_trigger_stats(cam, &ts);
    assert_int_equal(ts.accepted, accepted);
    assert_int_equal(ts.ignored, ignored);
    uint64_t t0 = daq_now_ns();
    daq_camera_stop(cam); /* the sensor is inside a 5 s exposure */
    assert_true(daq_now_ns() - t0 < 1000 * MS);
    daq_camera_destroy(cam);
}

/* ---- faults ------------------------------------------------------------------------- */

typedef struct per_index {
    uint64_t frames[401];
} per_index;

/* Sends n software triggers (frames_per_trigger fpt) to a camera with the
 * given faults and counts frames per index. */
static void run_faults(const char *const *faults, unsigned n, unsigned fpt, per_index *out,
                       uint64_t *miss_extra, uint64_t *double_extra)
{
    char fpt_text[16];
    snprintf(fpt_text, sizeof fpt_text, "%u", fpt);
    daq_camera *cam =
        make_sim("flt", (const char *const[]){"trigger.mode", "software", "timing", "instant",
                                              "trigger.frames_per_trigger", fpt_text, NULL});
    char err[256];
    for (size_t i = 0; faults[i]; i += 2)
        if (daq_camera_set_param_text(cam, faults[i], faults[i + 1], err, sizeof err) < 0)
            fail_msg("set %s: %s", faults[i], err);
    start_ok(cam);
    memset(out, 0, sizeof *out);
    daq_frame_info info;
    for (unsigned k = 1; k <= n; k++) {
        daq_trigger_answer a = trigger_ok(cam);
        assert_int_equal(a.result, DAQ_TRIGGER_TRIGGERED); /* a missed one too */
        assert_int_equal(a.index, k);
        while (next_frame(cam, 0, &info) == 1) /* keep the ring from filling */
            out->frames[info.trigger_index]++;
    }
    while (next_frame(cam, 200 * MS, &info) == 1)
        out->frames[info.trigger_index]++;
    *miss_extra = extra_of(cam, "trigger_injected_miss");
    *double_extra = extra_of(cam, "trigger_injected_double");
    assert_int_equal(extra_of(cam, "trigger_queue_overflows"), 0);
    assert_int_equal(out->frames[0], 0);
    daq_camera_destroy(cam);
}

/* miss_every = 7: exactly triggers 7, 14, ... produce nothing; doubles
 * (seeded) give 2 x fpt frames; the extras equal what the frames show, and
 * the same seed gives the same doubles. */
static void faults_miss_every_and_double(void **state)
{
    (void)state;
    static const char *const faults[] = {"fault.trigger_miss_every",
                                         "7",
                                         "fault.trigger_double_prob",
                                         "0.1",
                                         "fault.seed",
                                         "42",
                                         NULL};
    per_index a, b;
    uint64_t miss, dbl, miss2, dbl2;
    run_faults(faults, 300, 2, &a, &miss, &dbl);
    uint64_t seen_miss = 0, seen_double = 0;
    for (unsigned k = 1; k <= 300; k++) {
        if (k % 7 == 0) {
            assert_int_equal(a.frames[k], 0);
            seen_miss++;
        } else if (a.frames[k] == 4) {
            seen_double++;
        } else {
            assert_int_equal(a.frames[k], 2);
        }
    }
    assert_int_equal(seen_miss, 42);
    assert_int_equal(miss, seen_miss);
    assert_int_equal(dbl, seen_double);
    assert_true(seen_double >= 5 && seen_double <= 60); /* ~26 expected of 258 */
    run_faults(faults, 300, 2, &b, &miss2, &dbl2);
    assert_memory_equal(a.frames, b.frames, sizeof a.frames);
}

/* miss_prob and double_prob together: the extras equal the indices with
 * no frame and with twice the frames. */
static void faults_random_miss_and_double(void **state)
{
    (void)state;
    static const char *const faults[] = {"fault.trigger_miss_prob",
                                         "0.1",
                                         "fault.trigger_double_prob",
                                         "0.1",
                                         "fault.seed",
                                         "7",
                                         NULL};
    per_index a;
    uint64_t miss, dbl;
    run_faults(faults, 400, 1, &a, &miss, &dbl);
    uint64_t seen_miss = 0, seen_double = 0;
    for (unsigned k = 1; k <= 400; k++) {
        if (a.frames[k] == 0)
            seen_miss++;
        else if (a.frames[k] == 2)
            seen_double++;
        else
            assert_int_equal(a.frames[k], 1);
    }
    assert_int_equal(miss, seen_miss);
    assert_int_equal(dbl, seen_double);
    assert_true(seen_miss >= 10 && seen_miss <= 80);
    assert_true(seen_double >= 10 && seen_double <= 80);
}

/* ---- the trigger line ----------------------------------------------------------------- */

/* Two cameras on one line: N pulses, and both see exactly indices 1..N in
 * order; the listener count follows start and stop. */
static void two_cameras_one_line(void **state)
{
    (void)state;
    const char *const kv[] = {"trigger.mode",  "external_edge", "trigger.line",
                              "t-line-2",      "exposure_ms",   "0.2",
                              "frame_rate_hz", "5000",          NULL};
    daq_camera *a = make_sim("la", kv), *b = make_sim("lb", kv);
    assert_int_equal(daq_sim_line_listeners("t-line-2"), 0);
    start_ok(a);
    start_ok(b);
    assert_int_equal(daq_sim_line_listeners("t-line-2"), 2);
    assert_int_equal(daq_sim_line_listeners("la"), 0); /* not a's private line */
    for (uint64_t k = 1; k <= 200; k++) {
        assert_int_equal(daq_sim_line_pulse("t-line-2"), k);
        if (k % 50 == 0)
            sleep_ms(2);
    }
    daq_camera *cams[2] = {a, b};
    for (int c = 0; c < 2; c++) {
        static daq_frame_info f[201];
        size_t n = drain(cams[c], f, 201, 200);
        assert_int_equal(n, 200);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(f[i].trigger_index, i + 1);
            assert_int_equal(f[i].hw_frame_number, i + 1);
        }
    }
    daq_camera_stop(a);
    assert_int_equal(daq_sim_line_listeners("t-line-2"), 1);
    daq_camera_stop(b);
    assert_int_equal(daq_sim_line_listeners("t-line-2"), 0);
    daq_camera_destroy(a);
    daq_camera_destroy(b);
}

/* The default line is private, named after the camera's id; external_first
 * starts free-running on the first pulse it sees, every frame carrying that
 * pulse's number; pulses before the start are not seen. */
static void external_first_private_line(void **state)
{
    (void)state;
    daq_camera *cam =
        make_sim("xf", (const char *const[]){"trigger.mode", "external_first", "exposure_ms", "1",
                                             "frame_rate_hz", "500", NULL});
    for (uint64_t k = 1; k <= 3; k++)
        assert_int_equal(daq_sim_line_pulse("xf"), k); /* nobody listens yet */
    start_ok(cam);
    assert_int_equal(daq_sim_line_listeners("xf"), 1);
    daq_frame_info f[8];
    assert_int_equal(next_frame(cam, 50 * MS, &f[0]), 0);
    assert_int_equal(daq_sim_line_pulse("xf"), 4);
    for (int i = 0; i < 5; i++)
        assert_int_equal(next_frame(cam, 2000 * MS, &f[i]), 1);
    assert_int_equal(daq_sim_line_pulse("xf"), 5); /* ignored: the sequence runs */
    for (int i = 5; i < 8; i++)
        assert_int_equal(next_frame(cam, 2000 * MS, &f[i]), 1);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(f[i].trigger_index, 4);
        assert_int_equal(f[i].hw_frame_number, (uint64_t)i + 1);
    }
    daq_camera_destroy(cam);
    assert_int_equal(daq_sim_line_listeners("xf"), 0);
}

/* external_level: one frame per pulse of the configured exposure, whatever
 * frames_per_trigger says; faults apply to pulses as to software triggers. */
static void external_level_one_frame_per_pulse(void **state)
{
    (void)state;
    daq_camera *cam = make_sim(
        "lvl", (const char *const[]){"trigger.mode", "external_level", "trigger.frames_per_trigger",
                                     "3", "fault.trigger_miss_every", "4", "exposure_ms", "0.3",
                                     "frame_rate_hz", "1000", NULL});
    start_ok(cam);
    for (uint64_t k = 1; k <= 12; k++)
        assert_int_equal(daq_sim_line_pulse("lvl"), k);
    daq_frame_info f[16];
    size_t n = drain(cam, f, 16, 200);
    assert_int_equal(n, 9); /* pulses 4, 8, 12 missed */
    static const uint64_t want[] = {1, 2, 3, 5, 6, 7, 9, 10, 11};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(f[i].trigger_index, want[i]);
        assert_int_equal(f[i].exposure_ns, 300000);
        assert_int_equal(f[i].eof_ns - f[i].bof_ns, 300000);
    }
    assert_int_equal(extra_of(cam, "trigger_injected_miss"), 3);
    daq_camera_destroy(cam);
}

/* trigger.line_hz: the generator pulses while the camera streams, each
 * pulse a frame with the pulse's number, and stops (joined) with it: the
 * next manual pulse number follows the last generated one directly,
 * however long we wait. */
static void line_generator_runs_and_stops(void **state)
{
    (void)state;
    daq_camera *cam =
        make_sim("gen", (const char *const[]){"trigger.mode", "external_edge", "trigger.line",
                                              "t-gen", "trigger.line_hz", "200", "exposure_ms", "1",
                                              "frame_rate_hz", "1000", NULL});
    start_ok(cam);
    uint64_t until = daq_now_ns() + 300 * MS, frames = 0;
    daq_frame_info f;
    while (daq_now_ns() < until) {
        if (next_frame(cam, 20 * MS, &f) == 1)
            assert_int_equal(f.trigger_index, ++frames); /* consecutive from 1 */
    }
    daq_camera_stop(cam);
    assert_int_equal(daq_sim_line_listeners("t-gen"), 0);
    uint64_t p1 = daq_sim_line_pulse("t-gen");
    sleep_ms(60);
    uint64_t p2 = daq_sim_line_pulse("t-gen");
    assert_int_equal(p2, p1 + 1); /* nothing fired in between: the generator is gone */
    uint64_t generated = p1 - 1;
    assert_true(generated >= 20 && generated <= 70);             /* 200 Hz for 300 ms: ~60 */
    assert_true(frames <= generated && frames + 2 >= generated); /* the last may be in flight */
    daq_camera_destroy(cam);
}

/* The generator's pulses produce frames, indices consecutive from 1. */
static void line_generator_frames(void **state)
{
    (void)state;
    daq_camera *cam =
        make_sim("gen2", (const char *const[]){"trigger.mode", "external_edge", "trigger.line",
                                               "t-gen2", "trigger.line_hz", "250", "exposure_ms",
                                               "1", "frame_rate_hz", "1000", NULL});
    start_ok(cam);
    daq_frame_info f[20];
    for (int i = 0; i < 20; i++)
        assert_int_equal(next_frame(cam, 2000 * MS, &f[i]), 1);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(f[i].trigger_index, (uint64_t)i + 1);
        if (i) /* at least the camera's 1 ms period; the generator's grid may be late */
            assert_true(f[i].bof_ns - f[i - 1].bof_ns >= 1000000);
    }
    /* pulses on an absolute 4 ms grid: 19 periods, less the first pulse's
     * and the first frame's lateness (a loaded machine) */
    assert_true(f[19].bof_ns - f[0].bof_ns >= 15 * 4000000);
    daq_camera_destroy(cam);
}

/* ---- through the engine ---------------------------------------------------------------- */

typedef struct line_consumer {
    daq_test_consumer tc;
    _Atomic uint64_t frames;
    uint64_t per_index[128], extra_flagged, bad_order;
    uint64_t last_index;
} line_consumer;

static void on_line_frame(void *owner, const daq_frame *f)
{
    line_consumer *c = owner;
    const daq_frame_meta *m = daq_frame_meta_get(f);
    if (m->trigger_index < 128)
        c->per_index[m->trigger_index]++;
    if (m->flags & DAQ_FRAME_FLAG_TRIGGER_EXTRA)
        c->extra_flagged++;
    if (m->trigger_index < c->last_index)
        c->bad_order++;
    c->last_index = m->trigger_index;
    atomic_fetch_add(&c->frames, 1);
}

/* Two cameras on one line, each through its own engine and a LOSSLESS
 * subscriber: one misses every 10th pulse, the other sees some twice.
 * The frames carry the pulse numbers, the engine flags the doubled
 * frames, and the camera layer's counters equal the injected faults. */
static void engine_two_cameras_faults(void **state)
{
    (void)state;
    const char *const common[] = {"trigger.mode",  "external_edge", "trigger.line",
                                  "t-eng",         "exposure_ms",   "0.5",
                                  "frame_rate_hz", "1000",          NULL};
    daq_camera *cam[2] = {make_sim("ea", common), make_sim("eb", common)};
    char err[256];
    assert_int_equal(
        daq_camera_set_param_text(cam[0], "fault.trigger_miss_every", "10", err, sizeof err), 0);
    assert_int_equal(
        daq_camera_set_param_text(cam[1], "fault.trigger_double_prob", "0.1", err, sizeof err), 0);
    assert_int_equal(daq_camera_set_param_text(cam[1], "fault.seed", "5", err, sizeof err), 0);
    daq_bus *bus[2];
    daq_acq *acq[2];
    static line_consumer c[2];
    for (int i = 0; i < 2; i++) {
        bus[i] = daq_bus_create(daq_camera_id(cam[i]));
        daq_acq_config cfg;
        daq_acq_config_init(&cfg);
        cfg.pool.policy = DAQ_POOL_POLICY_HEAP;
        acq[i] = daq_acq_create(cam[i], bus[i], &cfg, err, sizeof err);
        if (!acq[i])
            fail_msg("acq: %s", err);
        memset(&c[i], 0, sizeof c[i]);
        daq_sub_config sc;
        daq_sub_config_init(&sc);
        sc.name = "check";
        sc.policy = DAQ_SUB_LOSSLESS;
        sc.queue_depth = 64;
        sc.lossless_timeout_ms = 2000;
        daq_test_consumer_start(&c[i].tc, bus[i], &sc, on_line_frame, &c[i], 0, 5000 * MS);
        if (daq_acq_start(acq[i], 0, err, sizeof err) != 0)
            fail_msg("start: %s", err);
    }
    assert_int_equal(daq_sim_line_listeners("t-eng"), 2);
    for (uint64_t k = 1; k <= 95; k++) { /* the last miss (90) is followed by pulses */
        assert_int_equal(daq_sim_line_pulse("t-eng"), k);
        sleep_ms(2);
    }
    uint64_t doubles = extra_of(cam[1], "trigger_injected_double");
    uint64_t want[2] = {95 - 9, 95 + doubles};
    uint64_t until = daq_now_ns() + 5000 * MS;
    while ((atomic_load(&c[0].frames) < want[0] || atomic_load(&c[1].frames) < want[1]) &&
           daq_now_ns() < until)
        sleep_ms(5);
    daq_acq_stats st[2];
    for (int i = 0; i < 2; i++)
        daq_acq_stats_snapshot(acq[i], &st[i]);
    for (int i = 0; i < 2; i++) {
        daq_acq_stop(acq[i]);
        daq_test_consumer_join(&c[i].tc, bus[i]);
    }
    assert_int_equal(extra_of(cam[0], "trigger_injected_miss"), 9);
    assert_int_equal(extra_of(cam[1], "trigger_injected_miss"), 0);
    assert_true(doubles >= 2 && doubles <= 25); /* ~10 expected */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(atomic_load(&c[i].frames), want[i]);
        assert_int_equal(c[i].bad_order, 0);
        assert_int_equal(c[i].per_index[0], 0);
    }
    uint64_t seen_double = 0;
    for (uint64_t k = 1; k <= 95; k++) {
        assert_int_equal(c[0].per_index[k], k % 10 == 0 ? 0 : 1);
        assert_true(c[1].per_index[k] == 1 || c[1].per_index[k] == 2);
        seen_double += c[1].per_index[k] == 2;
    }
    assert_int_equal(seen_double, doubles);
    assert_int_equal(c[0].extra_flagged, 0);
    assert_int_equal(c[1].extra_flagged, doubles);
    /* the camera layer's counters (daq/trigger.h), snapshot before the stop */
    const daq_trigger_stats *a = &st[0].trigger, *b = &st[1].trigger;
    assert_int_equal(a->seen, 95);
    assert_int_equal(a->missed, 9);
    assert_int_equal(a->answered, 86);
    assert_int_equal(a->frames, 86);
    assert_int_equal(b->seen, 95);
    assert_int_equal(b->missed, 0);
    assert_int_equal(b->answered, 95);
    assert_int_equal(b->doubled, doubles);
    assert_int_equal(b->frames_extra, doubles);
    assert_int_equal(b->frames, 95 + doubles);
    for (int i = 0; i < 2; i++) {
        daq_acq_destroy(acq[i]); /* and its camera */
        daq_bus_destroy(bus[i]);
    }
}

/* ---- the camera clock ------------------------------------------------------------------- */

/* clock.drift_ppm: between frames the camera clock advances (1 + ppm*1e-6)
 * times as far as the host's, to within 1 ppm over ~300 ms; offset_ns
 * shows at the start. */
static void clock_drift_and_offset(void **state)
{
    (void)state;
    daq_camera *cam = make_sim(
        "clk", (const char *const[]){"clock.drift_ppm", "250", "clock.offset_ns", "5000000000",
                                     "exposure_ms", "1", "frame_rate_hz", "500", NULL});
    uint64_t before = daq_now_ns();
    start_ok(cam);
    daq_frame_info f[150];
    for (int i = 0; i < 150; i++)
        assert_int_equal(next_frame(cam, 2000 * MS, &f[i]), 1);
    uint64_t after = daq_now_ns();
    double host = (double)(f[149].bof_ns - f[0].bof_ns);
    double camd = (double)(f[149].cam_bof_ns - f[0].cam_bof_ns);
    assert_true(host > 250e6);
    double ppm = (camd / host - 1.0) * 1e6;
    if (fabs(ppm - 250.0) > 1.0)
        fail_msg("drift %.3f ppm, want 250 +- 1", ppm);
    /* cam - host = offset + (t - t0) * 250e-6, t0 in [before, after] */
    for (int i = 0; i < 150; i += 149) {
        int64_t d = (int64_t)(f[i].cam_bof_ns - f[i].bof_ns) - 5000000000ll;
        assert_true(d >= 0);
        assert_true((double)d <= (double)(after - before) * 250e-6 + 2);
        int64_t exp_cam = (int64_t)(f[i].cam_eof_ns - f[i].cam_bof_ns);
        assert_true(llabs(exp_cam - 1000250) <= 1); /* the exposure, drifted (+- rounding) */
        assert_int_equal(f[i].trigger_index, 0);    /* internal */
    }
    daq_camera_destroy(cam);
}

/* fault.trigger_jitter_us: each triggered frame begins 0..J us after its
 * trigger, varying, and the camera clock shows the same instant. */
static void jitter_shows_in_both_clocks(void **state)
{
    (void)state;
    daq_camera *cam =
        make_sim("jit", (const char *const[]){"trigger.mode", "software", "fault.trigger_jitter_us",
                                              "2000", "fault.seed", "3", "exposure_ms", "0.1",
                                              "frame_rate_hz", "100", NULL});
    start_ok(cam);
    uint64_t lo = UINT64_MAX, hi = 0;
    for (int k = 1; k <= 20; k++) {
        uint64_t before = daq_now_ns();
        assert_int_equal(trigger_ok(cam).index, (uint64_t)k);
        uint64_t after = daq_now_ns();
        daq_frame_info f;
        assert_int_equal(next_frame(cam, 2000 * MS, &f), 1);
        assert_int_equal(f.trigger_index, (uint64_t)k);
        assert_true(f.bof_ns >= before);
        assert_true(f.bof_ns <= after + 2000000);
        assert_true(f.cam_bof_ns == f.bof_ns); /* drift 0, offset 0: the same instant */
        uint64_t delay = f.bof_ns - before;
        lo = delay < lo ? delay : lo;
        hi = delay > hi ? delay : hi;
        sleep_ms(12); /* longer than the 10 ms period: each trigger finds the camera idle */
    }
    assert_true(hi - lo > 300000); /* 20 uniform draws over 2 ms do vary */
    daq_camera_destroy(cam);
}

/* The sim lists every mode; its params describe the line and the faults. */
static void modes_and_params(void **state)
{
    (void)state;
    daq_camera *cam = make_sim("prm", NULL);
    uint32_t want = 0;
    for (int m = 0; m < DAQ_TRIGGER_MODE_COUNT; m++)
        want |= DAQ_TRIGGER_BIT(m);
    assert_int_equal(daq_camera_trigger_modes(cam) | DAQ_TRIGGER_BIT(DAQ_TRIGGER_INTERNAL), want);
    assert_true(daq_camera_can_trigger(cam));
    char err[256];
    assert_int_equal(daq_camera_set_param_text(cam, "trigger.line", "bench", err, sizeof err), 0);
    daq_param_value v;
    assert_int_equal(daq_camera_get_param(cam, "trigger.line", &v, err, sizeof err), 0);
    assert_string_equal(v.s, "bench");
    assert_int_equal(daq_camera_set_param_text(cam, "clock.drift_ppm", "2000", err, sizeof err),
                     -1);
    daq_camera_destroy(cam);
}

/* trigger.line is any string a client sets: the process keeps at most 256
 * lines, and a start on one more is refused with the reason. */
static void line_registry_is_bounded(void **state)
{
    (void)state;
    char name[32];
    for (int i = 0; i < 256; i++) {
        snprintf(name, sizeof name, "bounded-%d", i);
        assert_int_equal(daq_sim_line_pulse(name), 1);
    }
    assert_int_equal(daq_sim_line_pulse("one-too-many"), 0);
    assert_int_equal(daq_sim_line_pulse("bounded-7"), 2); /* existing lines still work */
    static const char *const kv[] = {"trigger.mode", "external_edge", "trigger.line", "another",
                                     NULL};
    daq_camera *cam = make_sim("cam0", kv);
    char err[256] = "";
    assert_int_equal(daq_camera_start(cam, err, sizeof err), -1);
    assert_string_equal(err, "trigger.line: cannot create sim trigger line 'another' (at most 256 "
                             "lines per process; reuse a name)");
    daq_camera_destroy(cam);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(software_1000_triggers),
    cmocka_unit_test(software_first_sequence),
    cmocka_unit_test(frames_per_trigger_three),
    cmocka_unit_test(software_queue_full),
    cmocka_unit_test(faults_miss_every_and_double),
    cmocka_unit_test(faults_random_miss_and_double),
    cmocka_unit_test(two_cameras_one_line),
    cmocka_unit_test(external_first_private_line),
    cmocka_unit_test(external_level_one_frame_per_pulse),
    cmocka_unit_test(line_generator_runs_and_stops),
    cmocka_unit_test(line_generator_frames),
    cmocka_unit_test(engine_two_cameras_faults),
    cmocka_unit_test(clock_drift_and_offset),
    cmocka_unit_test(jitter_shows_in_both_clocks),
    cmocka_unit_test(modes_and_params),
    cmocka_unit_test(line_registry_is_bounded),
};

DAQ_TEST_MAIN("sim_trigger", tests)
