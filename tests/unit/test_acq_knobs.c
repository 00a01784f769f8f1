/* The test-only knobs of the frame path (src/pool/test_knob.h), which the
 * rollback tests use to make a healthy pool look sick: each one does what
 * it says, is refused when malformed, warns when set, and costs nothing
 * when unset.  The crash knob is a death test in a forked child. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daq/acq.h"
#include "daq/log.h"
#include "test_main.h"

static daq_camera *sim(const char *id, uint32_t side, const char *fps, const char *timing)
{
    char err[256], buf[32];
    daq_camera *cam = daq_camera_create("sim", id, err, sizeof err);
    if (!cam)
        fail_msg("create: %s", err);
    snprintf(buf, sizeof buf, "%u", side);
    const char *const kv[][2] = {{"width", buf},         {"height", buf},    {"bit_depth", "16"},
                                 {"frame_rate_hz", fps}, {"timing", timing}, {"ring_frames", "16"}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        if (daq_camera_set_param_text(cam, kv[i][0], kv[i][1], err, sizeof err) != 0)
            fail_msg("set %s: %s", kv[i][0], err);
    return cam;
}

/* An engine on a fresh sim, or NULL with err (the knobs are read here). */
static daq_acq *engine(daq_bus *bus, uint32_t side, const char *fps, const char *timing, char *err,
                       size_t err_len)
{
    daq_acq_config cfg;
    daq_acq_config_init(&cfg);
    return daq_acq_create(sim("knob", side, fps, timing), bus, &cfg, err, err_len);
}

static daq_pool *pool(char *err, size_t err_len)
{
    daq_pool_config c;
    daq_pool_config_init(&c);
    c.name = "knob";
    c.slot_bytes = 4096;
    c.slot_count = 4;
    return daq_pool_create(&c, err, err_len);
}

static void knobs_unset(void)
{
    unsetenv("DAQ_TEST_ALLOC_DELAY_US");
    unsetenv("DAQ_TEST_POOL_SLOW_PCT");
    unsetenv("DAQ_TEST_CRASH_POOL_INIT");
    unsetenv("DAQ_USE_POOL");
}

/* ---- ALLOC_DELAY ------------------------------------------------------------------ */

/* Three slot and three heap allocations: with a 2000 us delay every one of
 * them lands in a bucket at or above 2 ms, and the average says so; unset,
 * the same allocations take microseconds. */
static void alloc_delay_shows_in_both_histograms(void **state)
{
    char err[256];
    for (int delayed = 1; delayed >= 0; delayed--) {
        if (delayed)
            setenv("DAQ_TEST_ALLOC_DELAY_US", "2000", 1);
        daq_pool *p = pool(err, sizeof err);
        knobs_unset();
        assert_non_null(p);
        daq_frame *f[6];
        for (int i = 0; i < 6; i++) {
            daq_pool_set_use_pool(p, i < 3);
            f[i] = daq_pool_alloc(p, NULL);
            assert_non_null(f[i]);
        }
        daq_pool_metrics m;
        daq_pool_metrics_snapshot(p, &m);
        const daq_latency_hist *h[2] = {&m.alloc_pool, &m.alloc_heap};
        for (int k = 0; k < 2; k++) {
            assert_int_equal(h[k]->count, 3);
            double avg_us = (double)h[k]->sum_ns / 3 / 1e3;
            printf("%s %s: avg %.1f us, p0 bucket upper %lu ns\n", delayed ? "delayed" : "plain",
                   k ? "heap" : "pool", avg_us, (unsigned long)daq_latency_quantile_ns(h[k], 0.01));
            if (delayed) {
                assert_true(avg_us >= 2000);
                assert_true(daq_latency_quantile_ns(h[k], 0.01) >= 2000000);
                assert_true(m.last_alloc_ns >= 2000000);
            } else {
                assert_true(avg_us < 1000);
            }
        }
        for (int i = 0; i < 6; i++)
            daq_frame_unref(f[i]);
        daq_pool_destroy(p);
    }
}

/* ---- strict parsing and the WARN line ---------------------------------------------- */

static void bad_values_refuse_creation(void **state)
{
    static const char *const cases[][3] = {
        {"DAQ_TEST_ALLOC_DELAY_US", "10us",
         "DAQ_TEST_ALLOC_DELAY_US: \"10us\" is not an integer in 0..10000000"},
        {"DAQ_TEST_ALLOC_DELAY_US", "-1", "is not an integer in 0..10000000"},
        {"DAQ_TEST_ALLOC_DELAY_US", "10000001", "is not an integer in 0..10000000"},
        {"DAQ_TEST_POOL_SLOW_PCT", "1e3",
         "DAQ_TEST_POOL_SLOW_PCT: \"1e3\" is not an integer in 0..1000"},
        {"DAQ_TEST_POOL_SLOW_PCT", "99999999999999999999", "is not an integer in 0..1000"},
        {"DAQ_TEST_CRASH_POOL_INIT", "yes",
         "DAQ_TEST_CRASH_POOL_INIT: \"yes\" is not an integer in 0..1"},
        {"DAQ_TEST_CRASH_POOL_INIT", "2", "is not an integer in 0..1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256] = "";
        setenv(cases[i][0], cases[i][1], 1);
        daq_bus *bus = daq_bus_create("bad");
        daq_acq *a = engine(bus, 64, "100", "instant", err, sizeof err);
        daq_bus_destroy(bus);
        if (a)
            fail_msg("%s=%s: the engine was created", cases[i][0], cases[i][1]);
        if (!strstr(err, cases[i][2]))
            fail_msg("%s=%s: message '%s' lacks '%s'", cases[i][0], cases[i][1], err, cases[i][2]);
        if (strcmp(cases[i][0], "DAQ_TEST_ALLOC_DELAY_US") == 0) {
            err[0] = '\0';
            assert_null(pool(err, sizeof err));
            assert_non_null(strstr(err, cases[i][2]));
        }
        knobs_unset();
    }
}

/* Set knobs warn once each at creation ("test only: ..."); unset ones and
 * "0" say nothing. */
static void set_knobs_warn(void **state)
{
    char path[] = "/tmp/daq-test-knobs-XXXXXX", err[256];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    daq_log_set_fd(fd);
    assert_int_equal(daq_log_set_filter("info", err, sizeof err), 0);
    daq_bus *bus = daq_bus_create("warn");
    daq_acq *plain = engine(bus, 64, "100", "instant", err, sizeof err);
    setenv("DAQ_TEST_ALLOC_DELAY_US", "0", 1);
    daq_pool *p0 = pool(err, sizeof err);
    setenv("DAQ_TEST_POOL_SLOW_PCT", "10", 1);
    setenv("DAQ_TEST_CRASH_POOL_INIT", "1", 1);
    setenv("DAQ_TEST_ALLOC_DELAY_US", "5", 1);
    daq_acq *a = engine(bus, 64, "100", "instant", err, sizeof err);
    daq_pool *p = pool(err, sizeof err);
    knobs_unset();
    daq_log_set_fd(2);
    assert_non_null(plain);
    assert_non_null(a);
    assert_non_null(p0);
    assert_non_null(p);
    daq_acq_destroy(plain);
    daq_acq_destroy(a);
    daq_pool_destroy(p0);
    daq_pool_destroy(p);
    daq_bus_destroy(bus);
    struct stat st;
    fstat(fd, &st);
    char *log = calloc(1, (size_t)st.st_size + 1);
    assert_true(pread(fd, log, (size_t)st.st_size, 0) == st.st_size);
    close(fd);
    unlink(path);
    printf("%s", log);
    unsigned n = 0;
    for (const char *q = log; (q = strstr(q, "test only: ")); q++)
        n++;
    assert_int_equal(n, 3); /* slow pct and crash at the engine, delay at the pool */
    assert_non_null(strstr(log, "knob=\"DAQ_TEST_POOL_SLOW_PCT\" value=10"));
    assert_non_null(strstr(log, "knob=\"DAQ_TEST_CRASH_POOL_INIT\" value=1"));
    assert_non_null(strstr(log, "knob=\"DAQ_TEST_ALLOC_DELAY_US\" value=5"));
    free(log);
}

/* ---- POOL_SLOW_PCT ----------------------------------------------------------------- */

/* Frames per second of an instant (throughput-bound) sim over a fixed
 * second, with DAQ_TEST_POOL_SLOW_PCT=pct (NULL: unset). */
static double instant_fps(const char *pct, bool use_pool)
{
    char err[256];
    if (pct)
        setenv("DAQ_TEST_POOL_SLOW_PCT", pct, 1);
    daq_bus *bus = daq_bus_create("slow");
    daq_acq *a = engine(bus, 256, "1000", "instant", err, sizeof err);
    knobs_unset();
    if (!a)
        fail_msg("engine: %s", err);
    daq_acq_set_use_pool(a, use_pool);
    assert_int_equal(daq_acq_start(a, 0, err, sizeof err), 0);
    usleep(1000 * 1000);
    daq_acq_stop(a);
    daq_acq_stats s;
    daq_acq_stats_snapshot(a, &s);
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
    printf("slow_pct=%s use_pool=%d: %lu frames, %.0f fps\n", pct ? pct : "unset", use_pool,
           (unsigned long)s.delivered, s.fps);
    assert_true(s.delivered > 100);
    return s.fps;
}

/* 200 % more time per pool frame makes the stream ~3x slower; a generous
 * bound (< 0.75x) keeps the test robust on a loaded machine.  Heap frames
 * (use_pool off) are not slowed: the same knob leaves that path's rate
 * within noise of its own unset rate (> 0.4x: malloc per frame makes the
 * heap path's rate noisy on a shared machine, 0.6-1.7x measured; the two
 * paths are not compared with each other). */
static void slow_pct_slows_only_the_pool_path(void **state)
{
    if (!daq_acq_frame_pool_built())
        skip();
    double fast = instant_fps(NULL, true);
    double slow = instant_fps("200", true);
    double heap = instant_fps(NULL, false);
    double heap_knob = instant_fps("200", false);
    printf("pool: slowed/plain %.2f; heap: with knob/plain %.2f\n", slow / fast, heap_knob / heap);
    assert_true(slow < 0.75 * fast);
    assert_true(heap_knob > 0.4 * heap);
}

/* ---- CRASH_POOL_INIT --------------------------------------------------------------- */

/* Runs a 20-frame stream in a forked child with the crash knob set (and
 * use_pool as given); returns the child's wait status and its stderr. */
static int crash_child(bool use_pool, char *out, size_t out_len)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        setenv("DAQ_TEST_CRASH_POOL_INIT", "1", 1);
        if (!use_pool)
            setenv("DAQ_USE_POOL", "0", 1);
        char err[256];
        daq_bus *bus = daq_bus_create("crash");
        daq_acq *a = engine(bus, 64, "1000", "instant", err, sizeof err);
        if (!a || daq_acq_start(a, 20, err, sizeof err) != 0 || !daq_acq_wait_idle(a, 10000))
            _exit(3);
        daq_acq_destroy(a);
        daq_bus_destroy(bus);
        _exit(0);
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t n;
    while (len < out_len - 1 && (n = read(fds[0], out + len, out_len - 1 - len)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void crash_knob_aborts_a_pool_start(void **state)
{
    char out[8192];
    int status = crash_child(true, out, sizeof out);
    if (!daq_acq_frame_pool_built()) {
        /* use_pool is false by construction: nothing to crash */
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        return;
    }
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
        fail_msg("child did not abort (status 0x%x); stderr: %s", status, out);
    assert_non_null(strstr(out, "test only: crashing at pool init"));
}

static void crash_knob_spares_a_heap_start(void **state)
{
    char out[8192];
    int status = crash_child(false, out, sizeof out);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("child with DAQ_USE_POOL=0 did not finish (status 0x%x); stderr: %s", status, out);
    assert_null(strstr(out, "crashing at pool init"));
}

/* ---- the compile-time switch -------------------------------------------------------- */

/* With the pool built in, use_pool follows config, environment and the
 * setter.  Built with -DDAQ_FRAME_POOL=OFF it is false whatever they say:
 * turning it on is refused with DAQ_ACQ_POOL_OFF_BUILD, no pool exists,
 * and every delivered frame was a heap frame. */
static void use_pool_is_false_by_construction(void **state)
{
    char path[] = "/tmp/daq-test-nopool-XXXXXX", err[256];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    daq_log_set_fd(fd);
    assert_int_equal(daq_log_set_filter("info", err, sizeof err), 0);
    setenv("DAQ_USE_POOL", "1", 1);
    daq_bus *bus = daq_bus_create("switch");
    daq_acq *a = engine(bus, 64, "1000", "instant", err, sizeof err);
    knobs_unset();
    assert_non_null(a);
    bool built = daq_acq_frame_pool_built();
    assert_int_equal(built, DAQ_FRAME_POOL);
    assert_int_equal(daq_acq_use_pool(a), built);
    assert_int_equal(daq_acq_set_use_pool(a, true), built ? 0 : -1);
    assert_int_equal(daq_acq_set_use_pool(a, false), 0);
    assert_false(daq_acq_use_pool(a));
    assert_int_equal(daq_acq_set_use_pool(a, true), built ? 0 : -1);
    assert_int_equal(daq_acq_use_pool(a), built);
    assert_int_equal(daq_acq_start(a, 50, err, sizeof err), 0);
    assert_true(daq_acq_wait_idle(a, 10000));
    daq_acq_stats s;
    daq_acq_stats_snapshot(a, &s);
    daq_log_set_fd(2);
    struct stat st;
    fstat(fd, &st);
    char *log = calloc(1, (size_t)st.st_size + 1);
    assert_true(pread(fd, log, (size_t)st.st_size, 0) == st.st_size);
    close(fd);
    unlink(path);
    assert_int_equal(s.delivered, 50);
    assert_int_equal(s.pool.use_pool, built);
    if (built) {
        assert_non_null(daq_acq_pool(a));
        assert_int_equal(s.pool.hits, 50);
        assert_null(strstr(log, DAQ_ACQ_POOL_OFF_BUILD));
    } else {
        assert_null(daq_acq_pool(a));
        assert_int_equal(s.pool_slots, 0);
        assert_int_equal(s.pool.slot_count, 0);
        assert_int_equal(s.pool.hits, 0);
        assert_true(s.pool.hit_rate == 0.0);
        assert_int_equal(s.heap_fallbacks, 50);
        assert_int_equal(s.pool.heap_disabled, 50);
        assert_int_equal(daq_acq_plan_slots(a, 4096), 0);
        assert_non_null(strstr(log, "use_pool cannot be turned on: " DAQ_ACQ_POOL_OFF_BUILD));
        assert_non_null(strstr(log, "use_pool=false"));
    }
    free(log);
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(alloc_delay_shows_in_both_histograms),
    cmocka_unit_test(bad_values_refuse_creation),
    cmocka_unit_test(set_knobs_warn),
    cmocka_unit_test(slow_pct_slows_only_the_pool_path),
    cmocka_unit_test(crash_knob_aborts_a_pool_start),
    cmocka_unit_test(crash_knob_spares_a_heap_start),
    cmocka_unit_test(use_pool_is_false_by_construction),
};

DAQ_TEST_MAIN("acq_knobs", tests)
