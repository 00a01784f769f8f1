/* The pvcam driver end to end through the fake libpvcam (tests/fake_pvcam,
 * path in $DAQ_TEST_FAKE_PVCAM): the real engine thread, pool and bus, with
 * consumers that verify every pixel against the sim pattern the fake
 * renders.  The fake is also tested on its own (error codes, and that its
 * poison-on-unlock makes a copy after the unlock fail), so the driver tests
 * can trust what it reports.
 *
 * Each case runs in its own process (ctest), so the fake's FAKE_PVCAM_*
 * environment knobs are set with setenv at the top of a case, before the
 * library is initialised (sizes) or the stream started (faults).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daq/acq.h"
#include "daq/sim.h"
#include "drivers/pvcam/pvcam_sdk.h"
#include "fake_pvcam.h"
#include "test_consumer.h"
#include "test_main.h"

static const char *fake_path(void)
{
    const char *p = getenv("DAQ_TEST_FAKE_PVCAM");
    if (!p)
        fail_msg("DAQ_TEST_FAKE_PVCAM is not set (run through ctest)");
    return p;
}

/* The fake, loaded by the test itself: the same object the driver loads. */
static void *fake_handle(void)
{
    static void *h;
    if (!h) {
        h = dlopen(fake_path(), RTLD_NOW | RTLD_LOCAL);
        if (!h)
            fail_msg("dlopen fake: %s", dlerror());
    }
    return h;
}

static void *fake_sym(const char *name)
{
    void *s = dlsym(fake_handle(), name);
    if (!s)
        fail_msg("fake has no %s", name);
    return s;
}

static uint64_t fake_counter(const char *name)
{
    fake_pvcam_counter_fn *fn;
    void *s = fake_sym("fake_pvcam_counter");
    memcpy(&fn, &s, sizeof fn);
    uint64_t v = fn(name);
    if (v == UINT64_MAX)
        fail_msg("fake counter %s unknown", name);
    return v;
}

static fake_pvcam_event events[1u << 16];

static size_t fake_events(void)
{
    fake_pvcam_events_fn *fn;
    void *s = fake_sym("fake_pvcam_events");
    memcpy(&fn, &s, sizeof fn);
    size_t n = fn(events, sizeof events / sizeof events[0]);
    assert_true(n <= sizeof events / sizeof events[0]);
    return n;
}

/* ---- cameras and engines ---------------------------------------------------------- */

static void set(daq_camera *cam, const char *name, const char *value)
{
    char err[256];
    if (daq_camera_set_param_text(cam, name, value, err, sizeof err) != 0)
        fail_msg("set %s=%s: %s", name, value, err);
}

static daq_camera *pvcam(const char *id, const char *exposure_ms, const char *mode)
{
    char err[256];
    daq_camera *cam = daq_camera_create("pvcam", id, err, sizeof err);
    if (!cam)
        fail_msg("create: %s", err);
    set(cam, "library", fake_path());
    set(cam, "camera_name", "pvcamUSB_0");
    set(cam, "exposure_ms", exposure_ms);
    set(cam, "buffer_mode", mode);
    set(cam, "test_pattern", "sim");
    return cam;
}

static void sensor_size(uint32_t w, uint32_t h)
{
    char buf[16];
    snprintf(buf, sizeof buf, "%u", w);
    setenv("FAKE_PVCAM_WIDTH", buf, 1);
    snprintf(buf, sizeof buf, "%u", h);
    setenv("FAKE_PVCAM_HEIGHT", buf, 1);
}

static daq_acq *engine(daq_camera *cam, daq_bus *bus, uint32_t wait_ms)
{
    daq_acq_config cfg;
    daq_acq_config_init(&cfg);
    if (wait_ms) {
        cfg.wait_timeout_ms = wait_ms;
        cfg.watchdog_waits = 5;
    }
    char err[256];
    daq_acq *a = daq_acq_create(cam, bus, &cfg, err, sizeof err);
    if (!a)
        fail_msg("acq: %s", err);
    return a;
}

static void run_to_limit(daq_acq *a, uint64_t frames, uint32_t timeout_ms)
{
    char err[256];
    if (daq_acq_start(a, frames, err, sizeof err) != 0)
        fail_msg("start: %s", err);
    if (!daq_acq_wait_idle(a, timeout_ms))
        fail_msg("stream of %lu frames did not end within %u ms", (unsigned long)frames,
                 timeout_ms);
}

/* ---- a verifying consumer ---------------------------------------------------------- */

typedef struct consumer {
    daq_test_consumer tc;
    daq_camera *cam;
    uint64_t frames, verified, failures, last_hw;
    uint64_t last_eof, bad_timestamps; /* EOF not increasing, or BOF not before EOF */
    double eof_step_sum_ms;            /* sum of EOF-to-EOF steps */
    char first_failure[160];
} consumer;

static void check_frame(void *owner, const daq_frame *f)
{
    consumer *c = owner;
    char why[128] = "";
    int v = daq_camera_verify(c->cam, f, why, sizeof why);
    if (v > 0)
        c->verified++;
    else if (!c->failures++)
        snprintf(c->first_failure, sizeof c->first_failure, "hw %lu: %s",
                 (unsigned long)daq_frame_meta_get(f)->hw_frame_number,
                 v == 0 ? "not verifiable" : why);
    const daq_frame_meta *m = daq_frame_meta_get(f);
    if ((c->frames && m->eof_ns <= c->last_eof) || m->bof_ns >= m->eof_ns)
        c->bad_timestamps++;
    if (c->frames)
        c->eof_step_sum_ms += (double)(m->eof_ns - c->last_eof) / 1e6;
    c->last_eof = m->eof_ns;
    c->last_hw = m->hw_frame_number;
    c->frames++;
}

static void consumer_start(consumer *c, daq_bus *bus, daq_camera *cam, uint32_t depth,
                           unsigned sleep_ms)
{
    memset(c, 0, sizeof *c);
    daq_sub_config sc;
    daq_sub_config_init(&sc);
    sc.name = "verify";
    sc.policy = DAQ_SUB_LOSSLESS;
    sc.queue_depth = depth;
    sc.lossless_timeout_ms = 5000;
    c->cam = cam;
    daq_test_consumer_start(&c->tc, bus, &sc, check_frame, c, sleep_ms, 10 * 1000000000ll);
}

static void consumer_join(consumer *c, daq_bus *bus)
{
    daq_test_consumer_join(&c->tc, bus);
}

/* Every frame the SDK handed out with get_oldest was unlocked exactly once,
 * before the next get_oldest, and no frame was written into its slot in
 * between.  Returns the number of get/unlock pairs. */
static size_t assert_get_unlock_order(size_t n)
{
    size_t pairs = 0;
    bool locked = false;
    fake_pvcam_event held = {0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        const fake_pvcam_event *e = &events[i];
        switch (e->kind) {
        case FAKE_EV_GET_OLDEST:
            if (locked)
                fail_msg("event %zu: get_oldest of frame %lu while frame %lu is locked", i,
                         (unsigned long)e->nr, (unsigned long)held.nr);
            locked = true;
            held = *e;
            break;
        case FAKE_EV_UNLOCK:
            if (!locked || e->slot != held.slot || e->nr != held.nr)
                fail_msg("event %zu: unlock of slot %u frame %lu without its get", i, e->slot,
                         (unsigned long)e->nr);
            locked = false;
            pairs++;
            break;
        case FAKE_EV_WRITE:
            if (locked && e->slot == held.slot)
                fail_msg("event %zu: frame %lu written into locked slot %u", i,
                         (unsigned long)e->nr, e->slot);
            break;
        default: break;
        }
    }
    assert_false(locked);
    return pairs;
}

/* ---- the fake on its own ----------------------------------------------------------- */

typedef struct api {
#define M(ret, name, args) name##_fn *name;
    PVCAM_FUNCTIONS(M)
#undef M
} api;

static api load_api(void)
{
    api a;
#define M(ret, name, args)                                                                         \
    do {                                                                                           \
        void *s_ = fake_sym(#name);                                                                \
        memcpy(&a.name, &s_, sizeof s_);                                                           \
    } while (0);
    PVCAM_FUNCTIONS(M)
#undef M
    return a;
}

static void fake_error_codes(void **state)
{
    sensor_size(64, 32);
    api a = load_api();
    int16 n = -1, h = -1;
    char msg[ERROR_MSG_LEN];
    /* before init */
    assert_int_equal(a.pl_cam_get_total(&n), PV_FAIL);
    assert_int_equal(a.pl_error_code(), PL_ERR_LIBRARY_NOT_INITIALIZED);
    assert_int_equal(a.pl_pvcam_uninit(), PV_FAIL);
    assert_int_equal(a.pl_error_code(), PL_ERR_LIBRARY_NOT_INITIALIZED);
    /* double init */
    assert_int_equal(a.pl_pvcam_init(), PV_OK);
    assert_int_equal(a.pl_error_code(), 0);
    assert_int_equal(a.pl_pvcam_init(), PV_FAIL);
    assert_int_equal(a.pl_error_code(), PL_ERR_LIBRARY_ALREADY_INITIALIZED);
    assert_int_equal(a.pl_error_message(PL_ERR_LIBRARY_ALREADY_INITIALIZED, msg), PV_OK);
    assert_non_null(strstr(msg, "(PL_ERR_LIBRARY_ALREADY_INITIALIZED)"));
    assert_int_equal(a.pl_error_message(42, msg), PV_FAIL);
    assert_string_equal(msg, "Unknown error");
    /* enumeration and names */
    assert_int_equal(a.pl_cam_get_total(&n), PV_OK);
    assert_int_equal(n, 1);
    char name[CAM_NAME_LEN];
    assert_int_equal(a.pl_cam_get_name(0, name), PV_OK);
    assert_string_equal(name, "pvcamUSB_0");
    assert_int_equal(a.pl_cam_get_name(1, name), PV_FAIL);
    assert_int_equal(a.pl_error_code(), PL_ERR_INDEX_OUT_OF_RANGE);
    char bad[] = "pvcamUSB_9";
    assert_int_equal(a.pl_cam_open(bad, &h, OPEN_EXCLUSIVE), PV_FAIL);
    assert_int_equal(a.pl_error_code(), PL_ERR_DEVICE_NAME_UNKNOWN);
    assert_int_equal(a.pl_cam_open(name, &h, OPEN_EXCLUSIVE), PV_OK);
    /* bad handle */
    uns16 w = 0;
    assert_int_equal(a.pl_get_param((int16)(h + 7), PARAM_SER_SIZE, ATTR_CURRENT, &w), PV_FAIL);
    assert_int_equal(a.pl_error_code(), PL_ERR_DEVICE_HANDLE_INVALID);
    assert_int_equal(a.pl_get_param(h, PARAM_SER_SIZE, ATTR_CURRENT, &w), PV_OK);
    assert_int_equal(w, 64);
    /* exact widths: rs_bool is 2 bytes, PARAM_READOUT_TIME writes 4 */
    unsigned char avail[4] = {0xEE, 0xEE, 0xEE, 0xEE};
    assert_int_equal(a.pl_get_param(h, PARAM_CIRC_BUFFER, ATTR_AVAIL, avail), PV_OK);
    assert_int_equal(avail[0] | avail[1] << 8, 1);
    assert_int_equal(avail[2], 0xEE);
    /* start before setup */
    static unsigned char ring[64 * 32 * 2 * 4 + 1];
    assert_int_equal(a.pl_exp_start_cont(h, ring, 64 * 32 * 2 * 3), PV_FAIL);
    assert_int_equal(a.pl_error_code(), PL_ERR_ACQUISITION_SETUP_REQUIRED);
    rgn_type r = {0, 63, 1, 0, 31, 1};
    uns32 bytes = 0;
    /* an exposure mode the camera does not list (this one has extended modes) */
    assert_int_equal(a.pl_exp_setup_cont(h, 1, &r, TIMED_MODE, 5, &bytes, CIRC_OVERWRITE), PV_FAIL);
    assert_int_equal(a.pl_error_code(), PL_ERR_MODE_INVALID);
    /* CIRC_NONE: setup accepts, start refuses with 185 (rust-daq's "error 185") */
    assert_int_equal(a.pl_exp_setup_cont(h, 1, &r, EXT_TRIG_INTERNAL, 5, &bytes, CIRC_NONE), PV_OK);
    assert_int_equal(bytes, 64 * 32 * 2); /* ONE frame */
    assert_int_equal(a.pl_exp_start_cont(h, ring, bytes * 3), PV_FAIL);
    assert_int_equal(a.pl_error_code(), PL_ERR_CONFIGURATION_INVALID);
    assert_int_equal(a.pl_error_message(PL_ERR_CONFIGURATION_INVALID, msg), PV_OK);
    assert_string_equal(msg, "Invalid configuration (PL_ERR_CONFIGURATION_INVALID)");
    /* bad size */
    assert_int_equal(a.pl_exp_setup_cont(h, 1, &r, EXT_TRIG_INTERNAL, 5, &bytes, CIRC_NO_OVERWRITE),
                     PV_OK);
    assert_int_equal(a.pl_exp_start_cont(h, ring, bytes * 3 + 1), PV_FAIL);
    assert_int_equal(a.pl_error_code(), PL_ERR_BUFFER_SIZE_INVALID);
    /* nothing to read before start, and get needs a stream */
    void *px = NULL;
    assert_int_equal(a.pl_exp_get_oldest_frame_ex(h, &px, NULL), PV_FAIL);
    /* close, uninit, and the handle is gone */
    assert_int_equal(a.pl_cam_close(h), PV_OK);
    assert_int_equal(a.pl_cam_close(h), PV_FAIL);
    assert_int_equal(a.pl_error_code(), PL_ERR_DEVICE_HANDLE_INVALID);
    assert_int_equal(a.pl_pvcam_uninit(), PV_OK);
    assert_int_equal(a.pl_pvcam_uninit(), PV_FAIL);
    assert_int_equal(a.pl_error_code(), PL_ERR_LIBRARY_NOT_INITIALIZED);
}

static atomic_int direct_callbacks;

static void direct_eof(const FRAME_INFO *fi, void *ctx)
{
    (void)fi;
    (void)ctx;
    atomic_fetch_add(&direct_callbacks, 1);
}

/* The fake's detector works: copying after the unlock reads poison (and
 * is counted without a copy mark), copying before it reads the frame. */
static void fake_detects_unlock_before_copy(void **state)
{
    sensor_size(64, 32);
    setenv("FAKE_PVCAM_REQUIRE_COPY_MARK", "1", 1);
    api a = load_api();
    int16 h;
    char name[CAM_NAME_LEN] = "pvcamUSB_0";
    assert_int_equal(a.pl_pvcam_init(), PV_OK);
    assert_int_equal(a.pl_cam_open(name, &h, OPEN_EXCLUSIVE), PV_OK);
    void *cb;
    PL_CALLBACK_SIG_EX3 *fn = direct_eof;
    memcpy(&cb, &fn, sizeof cb);
    assert_int_equal(a.pl_cam_register_callback_ex3(h, PL_CALLBACK_EOF, cb, NULL), PV_OK);
    rgn_type r = {0, 63, 1, 0, 31, 1};
    uns32 bytes = 0;
    assert_int_equal(a.pl_exp_setup_cont(h, 1, &r, EXT_TRIG_INTERNAL, 1, &bytes, CIRC_NO_OVERWRITE),
                     PV_OK);
    static unsigned char ring[64 * 32 * 2 * 8];
    static unsigned char copy[64 * 32 * 2];
    assert_int_equal(a.pl_exp_start_cont(h, ring, bytes * 8), PV_OK);
    while (atomic_load(&direct_callbacks) < 2)
        usleep(1000);
    fake_pvcam_record_copy_done_fn *mark;
    void *s = fake_sym("fake_pvcam_record_copy_done");
    memcpy(&mark, &s, sizeof mark);
    FRAME_INFO *fi = NULL;
    assert_int_equal(a.pl_create_frame_info_struct(&fi), PV_OK);
    void *px = NULL;
    /* right: get, copy, mark, unlock */
    assert_int_equal(a.pl_exp_get_oldest_frame_ex(h, &px, fi), PV_OK);
    assert_int_equal(fi->FrameNr, 1);
    memcpy(copy, px, bytes);
    mark((uint64_t)fi->FrameNr);
    assert_int_equal(a.pl_exp_unlock_oldest_frame(h), PV_OK);
    assert_int_equal(daq_sim_verify(copy, 64, 32, 16, 1, NULL, 0), 0);
    assert_int_equal(fake_counter("unlock_before_copy"), 0);
    /* wrong: get, unlock, copy (rust-daq's order) */
    assert_int_equal(a.pl_exp_get_oldest_frame_ex(h, &px, fi), PV_OK);
    assert_int_equal(fi->FrameNr, 2);
    assert_int_equal(a.pl_exp_unlock_oldest_frame(h), PV_OK);
    memcpy(copy, px, bytes);
    char why[128];
    assert_int_not_equal(daq_sim_verify(copy, 64, 32, 16, 2, why, sizeof why), 0);
    print_message("copy after unlock: %s\n", why);
    assert_int_equal(fake_counter("unlock_before_copy"), 1);
    /* unlock with nothing locked is an error */
    assert_int_equal(a.pl_exp_unlock_oldest_frame(h), PV_FAIL);
    assert_int_equal(a.pl_error_code(), PL_ERR_STATE_INVALID);
    assert_int_equal(a.pl_exp_stop_cont(h, CCS_HALT), PV_OK);
    assert_int_equal(a.pl_cam_deregister_callback(h, PL_CALLBACK_EOF), PV_OK);
    assert_int_equal(a.pl_release_frame_info_struct(fi), PV_OK);
    assert_int_equal(a.pl_cam_close(h), PV_OK);
    assert_int_equal(a.pl_pvcam_uninit(), PV_OK);
}

/* ---- the driver ----------------------------------------------------------------------- */

/* Acceptance: 200 frames at 100 FPS, 2048 x 2048 x 16 bit, no-overwrite. */
static void no_overwrite_200_frames_at_100fps(void **state)
{
    uint32_t sd = daq_test_frame_side();
    sensor_size(sd, sd);
    daq_bus *bus = daq_bus_create("pv");
    daq_camera *cam = pvcam("pv", "10", "no_overwrite");
    daq_acq *a = engine(cam, bus, 0);
    consumer c;
    consumer_start(&c, bus, cam, 64, 0);
    uint64_t t0 = daq_test_now_ns();
    run_to_limit(a, 200, 30000);
    double secs = (double)(daq_test_now_ns() - t0) / 1e9;
    consumer_join(&c, bus);
    daq_acq_stats s;
    daq_acq_stats_snapshot(a, &s);
    size_t n = fake_events();
    size_t pairs = assert_get_unlock_order(n);
    daq_param_value ring;
    char err[256];
    assert_int_equal(daq_camera_get_param(cam, "ring_frames_active", &ring, err, sizeof err), 0);
    print_message("%ux%u: %lu frames in %.2f s (%.1f fps), lost %lu, hit rate %.1f %%, "
                  "verified %lu, get/unlock pairs %zu, ring %ld frames, events %zu\n",
                  sd, sd, (unsigned long)s.delivered, secs, s.fps, (unsigned long)s.lost,
                  100.0 * s.pool.hit_rate, (unsigned long)c.verified, pairs, (long)ring.i, n);
    if (c.failures)
        fail_msg("%lu frames failed verification, first: %s", (unsigned long)c.failures,
                 c.first_failure);
    assert_int_equal(s.state, DAQ_ACQ_IDLE);
    assert_int_equal(s.delivered, 200);
    assert_int_equal(c.verified, 200);
    assert_int_equal(s.lost, 0);
    assert_int_equal(s.duplicates, 0);
    assert_int_equal(s.pool.misses, 0);
    assert_true(s.pool.hit_rate == 1.0);
    assert_true(pairs >= 200);
    /* FRAME_INFO's 0.1 ms ticks became CLOCK_MONOTONIC ns: increasing, BOF
     * one exposure before EOF, and about 10 ms apart */
    double step = c.eof_step_sum_ms / 199.0;
    print_message("EOF timestamps: mean step %.2f ms, bad %lu\n", step,
                  (unsigned long)c.bad_timestamps);
    assert_int_equal(c.bad_timestamps, 0);
    assert_true(step > 9.0 && step < 17.0);
    assert_int_equal(fake_counter("overrun_reports"), 0);
    assert_int_equal(fake_counter("param_while_streaming"), 0);
    assert_int_equal(fake_counter("double_registrations"), 0);
    /* the camera's 100 FPS and never faster; the floor leaves room for a loaded machine */
    assert_true(s.fps > 60 && s.fps < 110);
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
}

/* The same stream with rust-daq's order (unlock, then copy) forced by the
 * driver's test switch: the verification above must notice. */
static void unlock_before_copy_is_caught(void **state)
{
    sensor_size(256, 256);
    setenv("DAQ_PVCAM_TEST_UNLOCK_EARLY", "1", 1);
    daq_bus *bus = daq_bus_create("early");
    daq_camera *cam = pvcam("early", "5", "no_overwrite");
    daq_acq *a = engine(cam, bus, 0);
    consumer c;
    consumer_start(&c, bus, cam, 64, 0);
    run_to_limit(a, 30, 20000);
    consumer_join(&c, bus);
    print_message("unlock before copy: %lu of %lu frames corrupt (%s)\n", (unsigned long)c.failures,
                  (unsigned long)c.frames, c.first_failure);
    assert_int_equal(c.frames, 30);
    assert_int_equal(c.failures, 30);
    unsetenv("DAQ_PVCAM_TEST_UNLOCK_EARLY");
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
}

static void overwrite_mode_uses_get_latest(void **state)
{
    sensor_size(256, 256);
    daq_bus *bus = daq_bus_create("ow");
    daq_camera *cam = pvcam("ow", "5", "overwrite");
    daq_acq *a = engine(cam, bus, 0);
    consumer c;
    consumer_start(&c, bus, cam, 64, 0);
    run_to_limit(a, 50, 20000);
    consumer_join(&c, bus);
    daq_acq_stats s;
    daq_acq_stats_snapshot(a, &s);
    size_t n = fake_events(), latest = 0, oldest = 0, unlocks = 0;
    for (size_t i = 0; i < n; i++) {
        latest += events[i].kind == FAKE_EV_GET_LATEST;
        oldest += events[i].kind == FAKE_EV_GET_OLDEST;
        unlocks += events[i].kind == FAKE_EV_UNLOCK;
    }
    print_message("overwrite: %lu delivered, %zu get_latest, lost %lu\n",
                  (unsigned long)s.delivered, latest, (unsigned long)s.lost);
    if (c.failures)
        fail_msg("verification: %s", c.first_failure);
    assert_int_equal(s.delivered, 50);
    assert_true(latest >= 50);
    assert_int_equal(oldest, 0);
    assert_int_equal(unlocks, 0);
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
}

/* A slow lossless consumer holds the engine back; the 3-frame ring fills,
 * the fake reports 173 and the frames it overwrote are counted as lost. */
static void slow_engine_overruns_counted_as_loss(void **state)
{
    sensor_size(256, 256);
    daq_bus *bus = daq_bus_create("slow");
    daq_camera *cam = pvcam("slow", "2", "no_overwrite");
    set(cam, "ring_frames", "3");
    daq_acq *a = engine(cam, bus, 0);
    consumer c;
    consumer_start(&c, bus, cam, 1, 20);
    run_to_limit(a, 40, 30000);
    consumer_join(&c, bus);
    daq_acq_stats s;
    daq_acq_stats_snapshot(a, &s);
    uint64_t reports = fake_counter("overrun_reports");
    print_message("slow engine: delivered %lu, lost %lu, 173 reports %lu, driver overruns "
                  "%lu (errors %lu), camera overwrote %lu\n",
                  (unsigned long)s.delivered, (unsigned long)s.lost, (unsigned long)reports,
                  (unsigned long)s.driver.overruns,
                  (unsigned long)daq_test_extra(&s.driver, "overrun_errors"),
                  (unsigned long)fake_counter("overwritten"));
    if (c.failures)
        fail_msg("verification: %s", c.first_failure);
    assert_int_equal(s.delivered, 40);
    assert_true(reports > 0);
    assert_true(daq_test_extra(&s.driver, "overrun_errors") > 0);
    assert_true(s.driver.overruns > 0);
    assert_true(s.lost > 0);
    assert_true(s.lost >= s.driver.overruns);
    assert_int_equal(s.state, DAQ_ACQ_IDLE);
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
}

static void stall_trips_watchdog(void **state)
{
    sensor_size(256, 256);
    setenv("FAKE_PVCAM_STALL_AFTER", "10", 1);
    daq_bus *bus = daq_bus_create("stall");
    daq_camera *cam = pvcam("stall", "5", "no_overwrite");
    daq_acq *a = engine(cam, bus, 100);
    char err[256];
    assert_int_equal(daq_acq_start(a, 0, err, sizeof err), 0);
    uint64_t t0 = daq_test_now_ns();
    assert_true(daq_acq_wait_idle(a, 5000));
    double secs = (double)(daq_test_now_ns() - t0) / 1e9;
    daq_acq_stats s;
    daq_acq_stats_snapshot(a, &s);
    print_message("stall: ended after %.2f s: %s\n", secs, s.error);
    assert_int_equal(s.state, DAQ_ACQ_ERROR);
    assert_non_null(strstr(s.error, "watchdog"));
    assert_int_equal(s.delivered, 10);
    assert_false(daq_camera_streaming(cam)); /* halted: stop_cont, deregister, ring freed */
    /* and a new stream after the error stop works */
    unsetenv("FAKE_PVCAM_STALL_AFTER");
    run_to_limit(a, 20, 10000);
    daq_acq_stats_snapshot(a, &s);
    assert_int_equal(s.state, DAQ_ACQ_IDLE);
    assert_int_equal(s.delivered, 20);
    assert_int_equal(fake_counter("double_registrations"), 0);
    assert_int_equal(fake_counter("registrations"), 2); /* open, and the restart */
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
}

static void duplicate_and_late_callbacks_ignored(void **state)
{
    sensor_size(256, 256);
    setenv("FAKE_PVCAM_DUP_EVERY", "3", 1);
    setenv("FAKE_PVCAM_LATE_CALLBACKS", "4", 1);
    daq_bus *bus = daq_bus_create("dup");
    daq_camera *cam = pvcam("dup", "5", "no_overwrite");
    daq_acq *a = engine(cam, bus, 0);
    consumer c;
    consumer_start(&c, bus, cam, 64, 0);
    run_to_limit(a, 60, 20000);
    consumer_join(&c, bus);
    daq_acq_stop(a);
    daq_acq_stats s;
    daq_camera_stats d;
    daq_acq_stats_snapshot(a, &s);
    daq_camera_stats_snapshot(cam, &d);
    print_message("duplicates: fake %lu, driver ignored %lu; late: fake %lu, driver ignored "
                  "%lu; delivered %lu, lost %lu\n",
                  (unsigned long)fake_counter("duplicate_callbacks"),
                  (unsigned long)daq_test_extra(&d, "duplicate_callbacks"),
                  (unsigned long)fake_counter("late_callbacks"),
                  (unsigned long)daq_test_extra(&d, "late_callbacks"), (unsigned long)s.delivered,
                  (unsigned long)s.lost);
    if (c.failures)
        fail_msg("verification: %s", c.first_failure);
    assert_int_equal(s.delivered, 60);
    assert_int_equal(s.lost, 0);
    assert_int_equal(s.duplicates, 0); /* never reached the engine */
    assert_true(fake_counter("duplicate_callbacks") > 0);
    assert_int_equal(daq_test_extra(&d, "duplicate_callbacks"),
                     fake_counter("duplicate_callbacks"));
    assert_int_equal(fake_counter("late_callbacks"), 4);
    assert_int_equal(daq_test_extra(&d, "late_callbacks"), 4);
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
}

static void camera_gaps_counted_as_loss(void **state)
{
    sensor_size(256, 256);
    setenv("FAKE_PVCAM_GAP_EVERY", "10", 1);
    daq_bus *bus = daq_bus_create("gap");
    daq_camera *cam = pvcam("gap", "2", "no_overwrite");
    daq_acq *a = engine(cam, bus, 0);
    consumer c;
    consumer_start(&c, bus, cam, 64, 0);
    run_to_limit(a, 45, 20000);
    consumer_join(&c, bus);
    daq_acq_stats s;
    daq_acq_stats_snapshot(a, &s);
    if (c.failures)
        fail_msg("verification: %s", c.first_failure);
    /* numbers 10, 20, 30, 40, 50 never exist: 45 delivered end at 50 or 51 */
    print_message("gaps: delivered %lu, lost %lu, last hw %lu\n", (unsigned long)s.delivered,
                  (unsigned long)s.lost, (unsigned long)s.last_hw_frame);
    assert_int_equal(s.delivered, 45);
    assert_int_equal(s.lost, s.last_hw_frame - 45);
    assert_true(s.lost >= 4);
    assert_int_equal(s.driver.overruns, 0); /* the camera's gaps are not ring overruns */
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
}

static void roi_binning_and_readout_params(void **state)
{
    sensor_size(1024, 512);
    daq_bus *bus = daq_bus_create("roi");
    daq_camera *cam = pvcam("roi", "5", "no_overwrite");
    set(cam, "roi.x", "100");
    set(cam, "roi.y", "50");
    set(cam, "roi.width", "512");
    set(cam, "roi.height", "256");
    set(cam, "binning", "2");
    set(cam, "readout_port", "1");
    set(cam, "speed_index", "1");
    set(cam, "gain_index", "2");
    char err[256];
    assert_int_equal(daq_camera_open(cam, err, sizeof err), 0);
    daq_param_value v;
    assert_int_equal(daq_camera_get_param(cam, "sensor_width", &v, err, sizeof err), 0);
    assert_int_equal(v.i, 1024);
    assert_int_equal(daq_camera_get_param(cam, "readout_ports", &v, err, sizeof err), 0);
    assert_string_equal(v.s, "0=Sensitivity,1=Speed");
    assert_int_equal(daq_camera_get_param(cam, "temperature_c", &v, err, sizeof err), 0);
    assert_true(v.f == -15.0);
    daq_camera_format f;
    assert_int_equal(daq_camera_get_format(cam, &f, err, sizeof err), 0);
    assert_int_equal(f.width, 256);
    assert_int_equal(f.height, 128);
    daq_acq *a = engine(cam, bus, 0);
    consumer c;
    consumer_start(&c, bus, cam, 64, 0);
    assert_int_equal(daq_acq_start(a, 0, err, sizeof err), 0);
    /* while streaming: PARAM_TEMP is not ATTR_LIVE, so no SDK access */
    assert_int_not_equal(daq_camera_get_param(cam, "temperature_c", &v, err, sizeof err), 0);
    assert_non_null(strstr(err, "ATTR_LIVE"));
    assert_int_not_equal(daq_camera_set_param_text(cam, "exposure_ms", "7", err, sizeof err), 0);
    usleep(200 * 1000);
    daq_acq_stop(a);
    consumer_join(&c, bus);
    if (c.failures)
        fail_msg("verification: %s", c.first_failure);
    assert_true(c.verified > 10);
    assert_int_equal(daq_camera_get_param(cam, "frame_bytes", &v, err, sizeof err), 0);
    assert_int_equal(v.i, 256 * 128 * 2);
    assert_int_equal(daq_camera_get_param(cam, "gain_index", &v, err, sizeof err), 0);
    assert_int_equal(v.i, 2);
    assert_int_equal(fake_counter("param_while_streaming"), 0);
    /* the camera lists EXT_TRIG_INTERNAL and expose-out modes: the SDK example's mode */
    assert_int_equal(fake_counter("last_exp_mode"), EXT_TRIG_INTERNAL | EXPOSE_OUT_FIRST_ROW);
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
}

/* A legacy camera lists only legacy exposure modes: the driver sets up with
 * TIMED_MODE (the fake refuses any mode it does not list). */
static void legacy_camera_gets_timed_mode(void **state)
{
    sensor_size(128, 64);
    setenv("FAKE_PVCAM_LEGACY", "1", 1);
    daq_bus *bus = daq_bus_create("legacy");
    daq_camera *cam = pvcam("legacy", "5", "no_overwrite");
    daq_acq *a = engine(cam, bus, 0);
    consumer c;
    consumer_start(&c, bus, cam, 64, 0);
    run_to_limit(a, 10, 10000);
    consumer_join(&c, bus);
    if (c.failures)
        fail_msg("verification: %s", c.first_failure);
    assert_int_equal(c.verified, 10);
    assert_int_equal(fake_counter("last_exp_mode"), TIMED_MODE);
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
}

/* A camera unplugged mid-stream: the get fails with 180, the stream ends in
 * ERROR with the SDK's message, and the error stop still halts, deregisters
 * and frees (the camera restarts once it is back). */
static void device_removed_ends_stream_with_sdk_message(void **state)
{
    sensor_size(128, 64);
    setenv("FAKE_PVCAM_REMOVE_AFTER", "15", 1);
    daq_bus *bus = daq_bus_create("rm");
    daq_camera *cam = pvcam("rm", "2", "no_overwrite");
    daq_acq *a = engine(cam, bus, 0);
    char err[256];
    assert_int_equal(daq_acq_start(a, 0, err, sizeof err), 0);
    assert_true(daq_acq_wait_idle(a, 10000));
    daq_acq_stats s;
    daq_acq_stats_snapshot(a, &s);
    print_message("removed: %s\n", s.error);
    assert_int_equal(s.state, DAQ_ACQ_ERROR);
    assert_non_null(strstr(s.error, "error 180"));
    assert_non_null(strstr(s.error, "(PL_ERR_DEVICE_REMOVED)"));
    assert_true(s.delivered <= 15);
    assert_false(daq_camera_streaming(cam));
    daq_camera_stats d;
    daq_camera_stats_snapshot(cam, &d);
    assert_int_equal(d.readout_errors, 1);
    unsetenv("FAKE_PVCAM_REMOVE_AFTER");
    run_to_limit(a, 10, 10000);
    daq_acq_stats_snapshot(a, &s);
    assert_int_equal(s.state, DAQ_ACQ_IDLE);
    assert_int_equal(s.delivered, 10);
    assert_int_equal(fake_counter("double_registrations"), 0);
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
}

/* Two cameras share the process's one library: one init, a reference per
 * open camera, uninit with the last close; a camera asking for another
 * library meanwhile is refused with one line. */
static void two_cameras_share_one_init(void **state)
{
    sensor_size(128, 64);
    setenv("FAKE_PVCAM_CAMERAS", "2", 1);
    char err[512];
    daq_camera *c0 = pvcam("a", "5", "no_overwrite");
    daq_camera *c1 = pvcam("b", "5", "no_overwrite");
    set(c1, "camera_name", "pvcamUSB_1");
    assert_int_equal(daq_camera_open(c0, err, sizeof err), 0);
    assert_int_equal(daq_camera_open(c1, err, sizeof err), 0);
    daq_camera_stats st;
    daq_camera_stats_snapshot(c0, &st);
    assert_int_equal(daq_test_extra(&st, "library_refs"), 2);
    daq_camera *other = daq_camera_create("pvcam", "c", err, sizeof err);
    set(other, "library", getenv("DAQ_TEST_FAKE_PVCAM_NOSYM"));
    assert_int_not_equal(daq_camera_open(other, err, sizeof err), 0);
    assert_non_null(strstr(err, "already loaded"));
    assert_null(strchr(err, '\n'));
    daq_camera_destroy(other);
    /* both stream at once */
    daq_bus *b0 = daq_bus_create("a"), *b1 = daq_bus_create("b");
    daq_acq *a0 = engine(c0, b0, 0), *a1 = engine(c1, b1, 0);
    consumer k0, k1;
    consumer_start(&k0, b0, c0, 64, 0);
    consumer_start(&k1, b1, c1, 64, 0);
    assert_int_equal(daq_acq_start(a0, 20, err, sizeof err), 0);
    assert_int_equal(daq_acq_start(a1, 20, err, sizeof err), 0);
    assert_true(daq_acq_wait_idle(a0, 10000));
    assert_true(daq_acq_wait_idle(a1, 10000));
    daq_acq_stop(a0);
    daq_acq_stop(a1);
    consumer_join(&k0, b0);
    consumer_join(&k1, b1);
    assert_int_equal(k0.verified, 20);
    assert_int_equal(k1.verified, 20);
    daq_acq_destroy(a0); /* closes camera a: the library stays for b */
    daq_camera_stats_snapshot(c1, &st);
    assert_int_equal(daq_test_extra(&st, "library_refs"), 1);
    daq_acq_destroy(a1);
    daq_bus_destroy(b0);
    daq_bus_destroy(b1);
    /* everything released: the library initialises again for a new camera */
    daq_camera *again = pvcam("again", "5", "no_overwrite");
    assert_int_equal(daq_camera_open(again, err, sizeof err), 0);
    daq_camera_destroy(again);
}

/* Ring sizing: about one second of frames, clamped to 3..1024. */
static void ring_is_about_one_second(void **state)
{
    sensor_size(64, 64);
    struct {
        const char *exposure;
        int64_t want;
    } cases[] = {{"10", 100}, {"1000", 3}, {"0.5", 1024}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        daq_camera *cam = pvcam("ring", cases[i].exposure, "no_overwrite");
        char err[256];
        assert_int_equal(daq_camera_open(cam, err, sizeof err), 0);
        if (daq_camera_start(cam, err, sizeof err) != 0)
            fail_msg("start: %s", err);
        daq_param_value v;
        assert_int_equal(daq_camera_get_param(cam, "ring_frames_active", &v, err, sizeof err), 0);
        assert_int_equal(v.i, cases[i].want);
        daq_camera_stop(cam);
        daq_camera_destroy(cam);
    }
}

static void library_absent_is_one_line(void **state)
{
    char err[512];
    daq_camera *cam = daq_camera_create("pvcam", "absent", err, sizeof err);
    assert_non_null(cam);
    set(cam, "library", "/nonexistent/libpvcam.so.2");
    assert_int_not_equal(daq_camera_open(cam, err, sizeof err), 0);
    print_message("absent: %s\n", err);
    assert_null(strchr(err, '\n'));
    assert_non_null(strstr(err, "cannot load /nonexistent/libpvcam.so.2"));
    daq_camera_destroy(cam);

    const char *nosym = getenv("DAQ_TEST_FAKE_PVCAM_NOSYM");
    assert_non_null(nosym);
    cam = daq_camera_create("pvcam", "nosym", err, sizeof err);
    set(cam, "library", nosym);
    assert_int_not_equal(daq_camera_open(cam, err, sizeof err), 0);
    print_message("missing symbol: %s\n", err);
    assert_null(strchr(err, '\n'));
    assert_non_null(strstr(err, "has no symbol pl_exp_unlock_oldest_frame"));
    daq_camera_destroy(cam);

    /* the default name with no SDK installed: also one line, never a crash */
    unsetenv("DAQ_PVCAM_LIBRARY");
    cam = daq_camera_create("pvcam", "default", err, sizeof err);
    int rc = daq_camera_open(cam, err, sizeof err);
    if (rc != 0) {
        print_message("default: %s\n", err);
        assert_null(strchr(err, '\n'));
        assert_non_null(strstr(err, "libpvcam"));
    }
    daq_camera_destroy(cam);
}

static void unknown_camera_name_lists_cameras(void **state)
{
    sensor_size(64, 64);
    char err[512];
    daq_camera *cam = pvcam("nm", "5", "no_overwrite");
    set(cam, "camera_name", "pvcamPCIE_7");
    assert_int_not_equal(daq_camera_open(cam, err, sizeof err), 0);
    assert_non_null(strstr(err, "found: pvcamUSB_0"));
    daq_camera_destroy(cam);
    /* and the library was released: a later camera initialises it again */
    cam = pvcam("nm2", "5", "no_overwrite");
    set(cam, "camera_name", "");
    assert_int_equal(daq_camera_open(cam, err, sizeof err), 0);
    daq_param_value v;
    assert_int_equal(daq_camera_get_param(cam, "camera_name", &v, err, sizeof err), 0);
    assert_string_equal(v.s, "pvcamUSB_0");
    daq_camera_destroy(cam);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(fake_error_codes),
    cmocka_unit_test(fake_detects_unlock_before_copy),
    cmocka_unit_test(no_overwrite_200_frames_at_100fps),
    cmocka_unit_test(unlock_before_copy_is_caught),
    cmocka_unit_test(overwrite_mode_uses_get_latest),
    cmocka_unit_test(slow_engine_overruns_counted_as_loss),
    cmocka_unit_test(stall_trips_watchdog),
    cmocka_unit_test(duplicate_and_late_callbacks_ignored),
    cmocka_unit_test(camera_gaps_counted_as_loss),
    cmocka_unit_test(roi_binning_and_readout_params),
    cmocka_unit_test(legacy_camera_gets_timed_mode),
    cmocka_unit_test(device_removed_ends_stream_with_sdk_message),
    cmocka_unit_test(two_cameras_share_one_init),
    cmocka_unit_test(ring_is_about_one_second),
    cmocka_unit_test(library_absent_is_one_line),
    cmocka_unit_test(unknown_camera_name_lists_cameras),
};

DAQ_TEST_MAIN("pvcam", tests)
