/* Device recovery (issue 12, deliverable 6), in process: [recovery] as the
 * config reads it, the backoff formula, and the recovery thread against a
 * device table of real sim cameras switched off and on through the sim's
 * test hook (DAQ_TEST_SIM_OFF_DIR: camera <id> is off while DIR/<id>
 * exists).  The daemon-level behaviour (streams, health, metrics, log) is
 * tests/integration/test_recovery.py.
 *
 * Cases that run the thread use delays of 20-50 ms and wait with generous
 * deadlines (2 shared cores, sanitizers); labelled concurrency, so TSan
 * sees the thread, the client-side hooks and the health reads together. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daq/config.h"
#include "daq/devices.h"
#include "test_main.h"

/* ---- config and formula -------------------------------------------------------------- */

static void load(const char *text, daq_config *cfg)
{
    char err[512];
    if (daq_config_load_text(text, strlen(text), "hw.toml", cfg, err, sizeof err) != 0)
        fail_msg("config: %s", err);
}

static void expect_error(const char *text, const char *want)
{
    daq_config *cfg = malloc(sizeof *cfg);
    char err[512] = "";
    assert_int_equal(daq_config_load_text(text, strlen(text), "hw.toml", cfg, err, sizeof err), -1);
    assert_string_equal(err, want);
    free(cfg);
}

static void config_defaults_and_ranges(void **state)
{
    daq_config *cfg = malloc(sizeof *cfg);
    load("", cfg);
    assert_true(cfg->recovery.enabled);
    assert_int_equal(cfg->recovery.initial_ms, 500);
    assert_int_equal(cfg->recovery.max_ms, 30000);
    assert_true(cfg->recovery.factor == 2.0);
    assert_int_equal(cfg->recovery.max_attempts, 0);
    load("[recovery]\nenabled = false\ninitial_ms = 10\nmax_ms = 86400000\nfactor = 1.5\n"
         "max_attempts = 7\n",
         cfg);
    assert_false(cfg->recovery.enabled);
    assert_int_equal(cfg->recovery.initial_ms, 10);
    assert_int_equal(cfg->recovery.max_ms, 86400000);
    assert_true(cfg->recovery.factor == 1.5);
    assert_int_equal(cfg->recovery.max_attempts, 7);
    load("[recovery]\nfactor = 3\n", cfg); /* an integer is a number too */
    assert_true(cfg->recovery.factor == 3.0);
    free(cfg);
    expect_error("[recovery]\ninitial_ms = 9\n",
                 "hw.toml:2:14: recovery.initial_ms: 9 is out of range [10, 3600000]");
    expect_error("[recovery]\nmax_ms = 86400001\n",
                 "hw.toml:2:10: recovery.max_ms: 86400001 is out of range [10, 86400000]");
    expect_error("[recovery]\nfactor = 0.5\n",
                 "hw.toml:2:10: recovery.factor: 0.5 is out of range [1, 16]");
    expect_error("[recovery]\nfactor = \"2\"\n",
                 "hw.toml:2:10: recovery.factor: expected float, found string");
    expect_error("[recovery]\nmax_attempts = -1\n",
                 "hw.toml:2:16: recovery.max_attempts: -1 is out of range [0, 4294967295]");
    expect_error("[recovery]\nenabled = 1\n",
                 "hw.toml:2:11: recovery.enabled: expected bool, found integer");
    expect_error("[recovery]\nretry = 1\n", "hw.toml:2:1: recovery.retry: unknown key");
}

static void delay_doubles_up_to_max(void **state)
{
    daq_config_recovery r;
    daq_config_recovery_init(&r);
    const uint32_t want[] = {500, 1000, 2000, 4000, 8000, 16000, 30000, 30000};
    for (uint32_t k = 0; k < sizeof want / sizeof want[0]; k++)
        assert_int_equal(daq_recovery_delay_ms(&r, k), want[k]);
    assert_int_equal(daq_recovery_delay_ms(&r, UINT32_MAX), 30000); /* no overflow */
    r.factor = 1.0;
    assert_int_equal(daq_recovery_delay_ms(&r, 1000000), 500);
    r.factor = 3.0;
    assert_int_equal(daq_recovery_delay_ms(&r, 2), 4500);
    r.initial_ms = 60000; /* max_ms caps even the first delay */
    assert_int_equal(daq_recovery_delay_ms(&r, 0), 30000);
}

/* ---- the thread ---------------------------------------------------------------------- */

typedef struct rig {
    char dir[64], off[96];
    daq_config *cfg;
    daq_devices *ds;
    daq_device *d;
} rig;

static void switch_off(rig *r, bool off)
{
    if (off) {
        int fd = open(r->off, O_CREAT | O_WRONLY, 0600);
        assert_true(fd >= 0);
        close(fd);
    } else {
        assert_int_equal(unlink(r->off), 0);
    }
}

/* One sim camera "cam0" (64x64, 200 FPS) with the given [recovery] and
 * autostart, switched off first when off_at_start; recovery running. */
static void rig_up(rig *r, const char *recovery, bool autostart, bool off_at_start)
{
    memset(r, 0, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "/tmp/daq-recovery-XXXXXX");
    assert_non_null(mkdtemp(r->dir));
    snprintf(r->off, sizeof r->off, "%s/cam0", r->dir);
    setenv("DAQ_TEST_SIM_OFF_DIR", r->dir, 1); /* read when the camera is created */
    if (off_at_start)
        switch_off(r, true);
    char text[1024];
    snprintf(text, sizeof text,
             "%s\n[[devices]]\nid = \"cam0\"\nautostart = %s\n[devices.driver]\ntype = \"sim\"\n"
             "width = 64\nheight = 64\nframe_rate_hz = 200.0\nexposure_ms = 1.0\n",
             recovery, autostart ? "true" : "false");
    r->cfg = malloc(sizeof *r->cfg);
    load(text, r->cfg);
    r->cfg->acq.wait_timeout_ms = 50; /* a switched-off camera is seen at its next frame anyway */
    char err[512];
    r->ds = daq_devices_create(r->cfg, NULL, err, sizeof err);
    if (!r->ds)
        fail_msg("devices: %s", err);
    r->d = daq_devices_find(r->ds, "cam0");
    daq_devices_autostart(r->ds);
    if (daq_devices_recovery_start(r->ds, err, sizeof err) != 0)
        fail_msg("recovery: %s", err);
}

static void rig_down(rig *r)
{
    daq_devices_destroy(r->ds);
    free(r->cfg);
    unlink(r->off);
    rmdir(r->dir);
    unsetenv("DAQ_TEST_SIM_OFF_DIR");
}

static daq_acq_state state_of(rig *r)
{
    daq_acq *a = daq_device_acq(r->d);
    return a ? daq_acq_state_get(a) : DAQ_ACQ_ERROR;
}

static bool streaming(rig *r)
{
    return daq_device_acq(r->d) && state_of(r) == DAQ_ACQ_STREAMING;
}

static daq_device_recovery snap(rig *r)
{
    daq_device_recovery s;
    daq_device_recovery_snapshot(r->d, &s);
    return s;
}

static bool failed_at_least_2(rig *r)
{
    return snap(r).failed >= 2;
}

/* The record is updated right after the attempt's start: wait for it, not
 * for the stream. */
static bool recovered(rig *r)
{
    return snap(r).recovered >= 1;
}

static bool in_error(rig *r)
{
    return daq_device_acq(r->d) && state_of(r) == DAQ_ACQ_ERROR;
}

static bool gave_up(rig *r)
{
    return snap(r).gave_up;
}

/* Polls pred for up to 5 s. */
static bool eventually(rig *r, bool (*pred)(rig *))
{
    uint64_t end = daq_test_now_ns() + 5000000000ull;
    while (!pred(r)) {
        if (daq_test_now_ns() > end)
            return false;
        usleep(5000);
    }
    return true;
}

static void absent_device_comes_up_streaming(void **state)
{
    rig r;
    rig_up(&r, "[recovery]\ninitial_ms = 20\nmax_ms = 40\n", true, true);
    assert_false(daq_device_is_up(r.d));
    assert_true(eventually(&r, failed_at_least_2));
    daq_device_health h;
    daq_device_health_snapshot(r.d, &h);
    assert_string_equal(h.state, "absent");
    assert_true(h.recovery.recovering);
    assert_true(h.recovery.attempts >= 2);
    char want[256];
    snprintf(want, sizeof want, "sim: camera 'cam0' is switched off (test: %s exists)", r.off);
    assert_string_equal(h.why, want);
    assert_string_equal(h.recovery.error, want);
    switch_off(&r, false);
    assert_true(eventually(&r, recovered));
    assert_true(streaming(&r)); /* autostart: it streams once up */
    assert_true(daq_device_healthy(r.d));
    assert_string_equal(daq_device_error(r.d), "");
    daq_device_recovery s = snap(&r);
    assert_false(s.recovering);
    assert_int_equal(s.attempts, 0);
    assert_int_equal(s.recovered, 1);
    assert_int_equal(s.outages, 1);
    assert_true(s.failed >= 2);
    assert_true(s.downtime_ns > 0);
    rig_down(&r);
}

static void failed_stream_resumes(void **state)
{
    rig r;
    rig_up(&r, "[recovery]\ninitial_ms = 20\nmax_ms = 40\n", false, false);
    char err[256];
    assert_int_equal(daq_device_stream_start(r.d, 0, err, sizeof err), 0);
    switch_off(&r, true);
    assert_true(eventually(&r, failed_at_least_2)); /* restarts fail while it is off */
    assert_int_equal(state_of(&r), DAQ_ACQ_ERROR);
    switch_off(&r, false);
    assert_true(eventually(&r, recovered));
    assert_true(streaming(&r));
    daq_device_recovery s = snap(&r);
    assert_int_equal(s.recovered, 1);
    assert_int_equal(s.outages, 1);
    daq_acq_stats st;
    daq_acq_stats_snapshot(daq_device_acq(r.d), &st);
    assert_int_equal(st.streams, 2); /* the client's and the recovery's */
    rig_down(&r);
}

static void client_stop_cancels_resume(void **state)
{
    rig r;
    rig_up(&r, "[recovery]\ninitial_ms = 50\nmax_ms = 50\n", false, false);
    char err[256];
    assert_int_equal(daq_device_stream_start(r.d, 0, err, sizeof err), 0);
    switch_off(&r, true);
    assert_true(eventually(&r, in_error));
    daq_device_stream_stop(r.d); /* the client no longer wants it */
    switch_off(&r, false);
    usleep(300000); /* six delays: a resume would have happened */
    assert_int_equal(state_of(&r), DAQ_ACQ_ERROR);
    daq_device_recovery s = snap(&r);
    assert_false(s.recovering);
    assert_int_equal(s.recovered, 0);
    /* A start clears the wish to stay stopped. */
    assert_int_equal(daq_device_stream_start(r.d, 0, err, sizeof err), 0);
    assert_true(streaming(&r));
    rig_down(&r);
}

static void gives_up_after_max_attempts(void **state)
{
    rig r;
    rig_up(&r, "[recovery]\ninitial_ms = 10\nmax_ms = 20\nmax_attempts = 3\n", false, true);
    assert_true(eventually(&r, gave_up));
    switch_off(&r, false);
    usleep(100000);
    daq_device_recovery s = snap(&r);
    assert_true(s.gave_up);
    assert_false(s.recovering);
    assert_int_equal(s.failed, 3);
    assert_false(daq_device_is_up(r.d));
    rig_down(&r);
}

/* Stop does not sit out a backoff: with a 60 s delay pending, destroy (which
 * stops the thread) returns at once. */
static void stop_cuts_the_backoff_short(void **state)
{
    rig r;
    rig_up(&r, "[recovery]\ninitial_ms = 60000\nmax_ms = 60000\n", false, true);
    usleep(200000); /* the thread has seen the outage and waits */
    assert_true(snap(&r).recovering);
    uint64_t t0 = daq_test_now_ns();
    daq_devices_recovery_stop(r.ds);
    assert_true(daq_test_now_ns() - t0 < 2000000000ull);
    daq_devices_recovery_stop(r.ds); /* idempotent */
    rig_down(&r);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(config_defaults_and_ranges),
    cmocka_unit_test(delay_doubles_up_to_max),
    cmocka_unit_test(absent_device_comes_up_streaming),
    cmocka_unit_test(failed_stream_resumes),
    cmocka_unit_test(client_stop_cancels_resume),
    cmocka_unit_test(gives_up_after_max_attempts),
    cmocka_unit_test(stop_cuts_the_backoff_short),
};

DAQ_TEST_MAIN("recovery", tests)
