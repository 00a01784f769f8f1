/* The acquisition engine end to end in one process: the simulated camera,
 * the real engine thread, the pool and the bus, with consumer threads that
 * verify every pixel they receive.  These are the behaviours the rollback
 * plan watches: hit rate, loss, exhaustion, the toggle, the watchdog. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daq/acq.h"
#include "daq/log.h"
#include "daq/sim.h"
#include "test_consumer.h"
#include "test_main.h"

/* ---- a simulated camera ------------------------------------------------------ */

static void set(daq_camera *cam, const char *name, const char *value)
{
    char err[256];
    if (daq_camera_set_param_text(cam, name, value, err, sizeof err) != 0)
        fail_msg("set %s=%s: %s", name, value, err);
}

static daq_camera *sim(const char *id, uint32_t w, uint32_t h, const char *fps, const char *timing)
{
    char err[256], buf[32];
    daq_camera *cam = daq_camera_create("sim", id, err, sizeof err);
    if (!cam)
        fail_msg("create: %s", err);
    snprintf(buf, sizeof buf, "%u", w);
    set(cam, "width", buf);
    snprintf(buf, sizeof buf, "%u", h);
    set(cam, "height", buf);
    set(cam, "bit_depth", "16");
    set(cam, "frame_rate_hz", fps);
    set(cam, "exposure_ms", "1");
    set(cam, "timing", timing);
    /* A deep ring absorbs scheduling hiccups of a loaded (or sanitized)
     * machine; tests about overruns set their own. */
    set(cam, "ring_frames", w * h <= 512 * 512 ? "256" : "16");
    return cam;
}

static daq_acq *engine(daq_camera *cam, daq_bus *bus, uint32_t slots, daq_pool_policy policy)
{
    daq_acq_config cfg;
    daq_acq_config_init(&cfg);
    cfg.slots = slots;
    cfg.pool.policy = policy;
    char err[256];
    daq_acq *a = daq_acq_create(cam, bus, &cfg, err, sizeof err);
    if (!a)
        fail_msg("acq: %s", err);
    return a;
}

/* ---- consumers -------------------------------------------------------------------- */

typedef struct consumer {
    daq_test_consumer tc;
    bool verify;
    /* results */
    uint64_t frames, verify_failures, order_violations, repeats, zero, gap_sum, last_hw;
    uint64_t hw_backwards;
    uint64_t last_seq;
    char first_failure[160];
} consumer;

static void check_frame(void *owner, const daq_frame *f)
{
    consumer *c = owner;
    const daq_frame_meta *m = daq_frame_meta_get(f);
    if (c->frames && m->hw_frame_number == c->last_hw)
        c->repeats++;
    else if (c->frames && m->hw_frame_number < c->last_hw)
        c->hw_backwards++;
    else if (c->frames)
        c->gap_sum += m->hw_frame_number - c->last_hw - 1;
    if (c->frames && m->sequence <= c->last_seq)
        c->order_violations++;
    c->last_hw = m->hw_frame_number;
    c->last_seq = m->sequence;
    if (daq_sim_stamp_read(daq_frame_cdata(f), m->width, m->height) == 0)
        c->zero++;
    if (c->verify) {
        char why[128];
        if (daq_sim_verify(daq_frame_cdata(f), m->width, m->height, m->bit_depth,
                           m->hw_frame_number, why, sizeof why) != 0) {
            if (!c->verify_failures++)
                snprintf(c->first_failure, sizeof c->first_failure, "hw %lu: %s",
                         (unsigned long)m->hw_frame_number, why);
        }
    }
    c->frames++;
}

static void consumer_start(consumer *c, daq_bus *bus, const char *name, daq_sub_policy policy,
                           uint32_t depth, bool verify, unsigned sleep_ms)
{
    memset(c, 0, sizeof *c);
    daq_sub_config sc;
    daq_sub_config_init(&sc);
    sc.name = name;
    sc.policy = policy;
    sc.queue_depth = depth;
    sc.lossless_timeout_ms = 2000;
    c->verify = verify;
    daq_test_consumer_start(&c->tc, bus, &sc, check_frame, c, sleep_ms, 5 * 1000000000ll);
}

/* Joins after the stream's end of stream has reached the consumer. */
static void consumer_join(consumer *c, daq_bus *bus)
{
    daq_test_consumer_join(&c->tc, bus);
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

/* ---- captured log lines ---------------------------------------------------------- */

static int log_fd = -1;
static char log_path[64];

static void log_capture(const char *filter)
{
    snprintf(log_path, sizeof log_path, "/tmp/daq-test-acq-XXXXXX");
    log_fd = mkstemp(log_path);
    assert_true(log_fd >= 0);
    daq_log_set_fd(log_fd);
    char err[256];
    assert_int_equal(daq_log_set_filter(filter, err, sizeof err), 0);
}

/* Returns the captured text (caller frees) and restores stderr. */
static char *log_release(void)
{
    daq_log_set_fd(2);
    struct stat st;
    fstat(log_fd, &st);
    char *buf = calloc(1, (size_t)st.st_size + 1);
    ssize_t n = pread(log_fd, buf, (size_t)st.st_size, 0);
    assert_true(n == st.st_size);
    close(log_fd);
    unlink(log_path);
    return buf;
}

static unsigned count_lines(const char *text, const char *needle)
{
    unsigned n = 0;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (memmem(line, len, needle, strlen(needle)))
            n++;
        line += len + (end ? 1 : 0);
    }
    return n;
}

/* ---- tests ------------------------------------------------------------------------ */

static void checkpoint_smoke_200_frames(void **state)
{
    /* CP2/CP3 in process: 200 frames at 100 FPS, 2048x2048x16, three consumers. */
    daq_bus *bus = daq_bus_create("cam0");
    daq_acq *a =
        engine(sim("cam0", daq_test_frame_side(), daq_test_frame_side(), "100", "realistic"), bus,
               0, DAQ_POOL_POLICY_HEAP);
    consumer c[3];
    consumer_start(&c[0], bus, "recorder", DAQ_SUB_LOSSLESS, 16, true, 0);
    consumer_start(&c[1], bus, "stats", DAQ_SUB_DROP_OLDEST, 4, true, 0);
    consumer_start(&c[2], bus, "viewer", DAQ_SUB_LATEST, 1, true, 0);
    run_to_limit(a, 200, 20000);
    for (int i = 0; i < 3; i++)
        consumer_join(&c[i], bus);
    daq_acq_stats s;
    daq_acq_stats_snapshot(a, &s);
    printf("delivered=%lu lost=%lu hit_rate=%.3f slots=%u fps=%.1f\n", (unsigned long)s.delivered,
           (unsigned long)s.lost, s.pool.hit_rate, s.pool_slots, s.fps);
    assert_int_equal(s.state, DAQ_ACQ_IDLE);
    assert_int_equal(s.delivered, 200);
    assert_true(s.pool.hit_rate > 0.95);
    assert_int_equal(s.pool.misses, 0);
    assert_int_equal(s.alloc_dropped, 0);
    assert_int_equal(s.lost, 0);
    assert_int_equal(s.discontinuities, 0);
    for (int i = 0; i < 3; i++) {
        if (c[i].verify_failures)
            fail_msg("consumer %d: %lu bad frames, first %s", i,
                     (unsigned long)c[i].verify_failures, c[i].first_failure);
        assert_int_equal(c[i].order_violations + c[i].hw_backwards, 0);
        assert_true(c[i].tc.eos);
    }
    assert_int_equal(c[0].frames, 200); /* lossless: every frame, in order */
    assert_int_equal(c[0].gap_sum, 0);
    assert_int_equal(c[0].last_hw, s.last_hw_frame);
    daq_sub_stats st[4];
    unsigned n = daq_bus_stats_snapshot(bus, st, 4);
    for (unsigned i = 0; i < n; i++)
        assert_int_equal(st[i].dropped, 0);
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
}

/* Runs an instant-timing sim with one fault probability through a
 * lossless verifying consumer.  The sim generates exactly 2000 frames and
 * then fails its readout (after the frames already announced), so every
 * injected fault is inside what the engine read; instant no-overwrite
 * timing never overruns, so every loss the engine counts was injected. */
#define FAULT_FRAMES 2000

static void run_fault(const char *param, const char *value, daq_acq_stats *s, consumer *c,
                      daq_camera_stats *drv)
{
    daq_bus *bus = daq_bus_create("faulty");
    daq_camera *cam = sim("faulty", 256, 64, "1000", "instant");
    set(cam, "fault.seed", "12345");
    set(cam, "fault.fail_after", "2000");
    set(cam, param, value);
    daq_acq *a = engine(cam, bus, 0, DAQ_POOL_POLICY_HEAP);
    consumer_start(c, bus, "check", DAQ_SUB_LOSSLESS, 64, true, 0);
    char err[256];
    assert_int_equal(daq_acq_start(a, 0, err, sizeof err), 0);
    assert_true(daq_acq_wait_idle(a, 30000));
    consumer_join(c, bus);
    daq_acq_stats_snapshot(a, s);
    *drv = s->driver;
    assert_int_equal(s->state, DAQ_ACQ_ERROR);
    assert_non_null(strstr(s->error, "simulated readout failure"));
    assert_int_equal(drv->frames_generated, FAULT_FRAMES);
    assert_int_equal(c->verify_failures, 0);
    assert_int_equal(c->order_violations + c->repeats, 0);
    assert_int_equal(c->zero, 0);
    assert_int_equal(c->frames, s->delivered);
    assert_int_equal(s->delivered + s->zero_frames, FAULT_FRAMES);
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
}

static void injected_jumps_counted_exactly(void **state)
{
    daq_acq_stats s;
    consumer c;
    daq_camera_stats d;
    run_fault("fault.jump_prob", "0.05", &s, &c, &d);
    uint64_t skipped = daq_test_extra(&d, "injected_skipped_numbers");
    uint64_t jumps = daq_test_extra(&d, "injected_jumps");
    printf("jumps=%lu skipped=%lu lost=%lu disc=%lu\n", (unsigned long)jumps,
           (unsigned long)skipped, (unsigned long)s.lost, (unsigned long)s.discontinuities);
    assert_true(jumps > 10);
    assert_int_equal(d.overruns, 0);
    assert_int_equal(s.lost, skipped);
    assert_int_equal(s.discontinuities, jumps);
    assert_int_equal(c.gap_sum, skipped); /* consumers see every gap */
}

static void injected_duplicates_skipped(void **state)
{
    daq_acq_stats s;
    consumer c;
    daq_camera_stats d;
    run_fault("fault.duplicate_prob", "0.05", &s, &c, &d);
    uint64_t dups = daq_test_extra(&d, "injected_duplicates");
    assert_true(dups > 10);
    assert_int_equal(s.duplicates, dups);
    assert_int_equal(s.lost, 0);
    assert_int_equal(s.captured, FAULT_FRAMES + dups);
}

static void injected_zero_frames_skipped(void **state)
{
    daq_acq_stats s;
    consumer c;
    daq_camera_stats d;
    run_fault("fault.zero_prob", "0.05", &s, &c, &d);
    uint64_t zeros = daq_test_extra(&d, "injected_zero_frames");
    assert_true(zeros > 10);
    assert_int_equal(s.zero_frames, zeros);
    assert_int_equal(s.lost, 0);        /* a skipped zero frame is not a gap */
    assert_int_equal(c.gap_sum, zeros); /* but consumers see its number missing */
}

static void injected_backwards_counted(void **state)
{
    daq_acq_stats s;
    consumer c;
    daq_camera_stats d;
    memset(&c, 0, sizeof c);
    run_fault("fault.backwards_prob", "0.02", &s, &c, &d);
    uint64_t back = daq_test_extra(&d, "injected_backwards");
    assert_true(back > 5);
    assert_int_equal(s.backwards, back);
    assert_int_equal(s.discontinuities, back);
    assert_int_equal(s.lost, 0);
    assert_int_equal(c.hw_backwards, back);
}

static void slow_drop_oldest_never_misses(void **state)
{
    /* The sizing property: consumers inside their bounds never exhaust an
     * auto-sized pool, and a 50 ms/frame consumer does not slow the producer. */
    daq_bus *bus = daq_bus_create("cam1");
    daq_acq *a = engine(sim("cam1", 512, 512, "100", "realistic"), bus, 0, DAQ_POOL_POLICY_DROP);
    consumer slow, fast;
    consumer_start(&slow, bus, "slow", DAQ_SUB_DROP_OLDEST, 4, false, 50);
    consumer_start(&fast, bus, "recorder", DAQ_SUB_LOSSLESS, 32, true, 0);
    uint64_t t0 = daq_test_now_ns();
    run_to_limit(a, 300, 20000);
    double secs = (double)(daq_test_now_ns() - t0) / 1e9;
    consumer_join(&slow, bus);
    consumer_join(&fast, bus);
    daq_acq_stats s;
    daq_acq_stats_snapshot(a, &s);
    printf("secs=%.2f slots=%u slow got %lu\n", secs, s.pool_slots, (unsigned long)slow.frames);
    assert_int_equal(s.pool.misses, 0);
    assert_int_equal(s.alloc_dropped, 0);
    assert_int_equal(s.lost, 0);
    assert_int_equal(s.driver.overruns, 0);
    assert_int_equal(fast.frames, 300);
    assert_int_equal(fast.verify_failures, 0);
    assert_true(slow.frames < 150); /* it really was slow ... */
    assert_true(secs < 6.0);        /* ... and the stream still ran at ~100 FPS (3 s) */
    daq_sub_stats st[2];
    daq_bus_stats_snapshot(bus, st, 2);
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
}

static void never_reading_lossless_costs_its_bound(void **state)
{
    daq_bus *bus = daq_bus_create("cam2");
    daq_acq *a = engine(sim("cam2", 256, 256, "100", "realistic"), bus, 0, DAQ_POOL_POLICY_HEAP);
    daq_sub_config sc;
    daq_sub_config_init(&sc);
    sc.name = "stuck";
    sc.policy = DAQ_SUB_LOSSLESS;
    sc.queue_depth = 4;
    sc.lossless_timeout_ms = 3;
    daq_sub *stuck = daq_bus_subscribe(bus, &sc, NULL, 0);
    assert_non_null(stuck);
    run_to_limit(a, 100, 20000);
    daq_sub_stats st;
    daq_sub_stats_snapshot(stuck, &st);
    daq_acq_stats s;
    daq_acq_stats_snapshot(a, &s);
    printf("waits=%lu wait_ms_avg=%.2f dropped=%lu\n", (unsigned long)st.lossless_waits,
           st.lossless_waits ? (double)st.lossless_wait_ns / st.lossless_waits / 1e6 : 0.0,
           (unsigned long)st.dropped_timeout);
    assert_int_equal(st.enqueued, 4);
    assert_int_equal(st.dropped_timeout, 96);
    assert_true(st.lossless_wait_ns / st.lossless_waits < 50 * 1000000ull);
    assert_int_equal(s.lost, 0);
    assert_int_equal(s.pool.misses, 0);
    daq_bus_unsubscribe(bus, stuck);
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
}

/* An explicit pool smaller than the formula, a consumer that holds frames. */
static void small_pool(daq_pool_policy policy, daq_acq_stats *s, consumer *c, char **log)
{
    log_capture("info,pvcam_pool=warn");
    daq_bus *bus = daq_bus_create("tiny");
    daq_acq *a = engine(sim("tiny", 256, 256, "400", "realistic"), bus, 2, policy);
    /* A deep queue: the consumer holds frames without ever blocking the producer. */
    consumer_start(c, bus, "holder", DAQ_SUB_LOSSLESS, 1024, true, 8);
    run_to_limit(a, 400, 30000);
    consumer_join(c, bus);
    daq_acq_stats_snapshot(a, s);
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
    *log = log_release();
}

static void explicit_small_pool_heap_fallback(void **state)
{
    daq_acq_stats s;
    consumer c;
    char *log;
    small_pool(DAQ_POOL_POLICY_HEAP, &s, &c, &log);
    assert_non_null(strstr(log, "pool smaller than the sizing formula"));
    assert_true(s.heap_fallbacks > 0);
    assert_int_equal(s.heap_fallbacks, s.pool.heap_exhausted);
    assert_int_equal(s.alloc_dropped, 0);
    assert_int_equal(c.frames, 400); /* every frame arrives intact */
    assert_int_equal(c.verify_failures, 0);
    assert_int_equal(s.lost, 0);
    free(log);
}

static void explicit_small_pool_drop_ratelimited(void **state)
{
    daq_acq_stats s;
    consumer c;
    char *log;
    small_pool(DAQ_POOL_POLICY_DROP, &s, &c, &log);
    uint64_t n = s.alloc_dropped;
    unsigned lines = count_lines(log, "Buffer pool exhausted");
    unsigned want = (unsigned)(n < 10 ? n : 10 + (n - 10) / 100);
    printf("dropped=%lu warning lines=%u\n", (unsigned long)n, lines);
    assert_true(n > 110);
    assert_int_equal(lines, want);
    assert_int_equal(count_lines(log, "pvcam_pool"), want);
    assert_int_equal(c.frames, 400); /* the limit counts delivered frames */
    assert_int_equal(s.captured, 400 + n);
    assert_int_equal(c.verify_failures, 0);
    free(log);
}

static void env_off_traces_heap(const char *var)
{
    setenv(var, "0", 1);
    log_capture("info,pvcam_alloc_trace=debug");
    daq_bus *bus = daq_bus_create("off");
    daq_acq *a = engine(sim("off", 256, 256, "500", "realistic"), bus, 0, DAQ_POOL_POLICY_HEAP);
    consumer c;
    consumer_start(&c, bus, "check", DAQ_SUB_LOSSLESS, 16, true, 0);
    run_to_limit(a, 300, 20000);
    consumer_join(&c, bus);
    daq_acq_stats s;
    daq_acq_stats_snapshot(a, &s);
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
    char *log = log_release();
    unsetenv(var);
    assert_int_equal(count_lines(log, "pvcam_alloc_trace"), 3);
    assert_int_equal(count_lines(log, "used_pool=false"), 3);
    assert_int_equal(count_lines(log, "pool_hit_rate_pct=0.0 pool_hits=0 "), 3);
    assert_int_equal(count_lines(log, "pool_hits=0"), 3);
    assert_non_null(strstr(log, "frame=300 "));
    assert_int_equal(s.pool.disabled, 300);
    assert_int_equal(s.pool.hits, 0);
    assert_int_equal(s.heap_fallbacks, 300);
    assert_int_equal(c.frames, 300);
    assert_int_equal(c.verify_failures, 0);
    free(log);
}

static void pvcam_use_pool_env_off(void **state)
{
    env_off_traces_heap("PVCAM_USE_POOL");
}

static void daq_use_pool_env_off(void **state)
{
    env_off_traces_heap("DAQ_USE_POOL");
}

struct flipper {
    daq_acq *a;
    _Atomic bool stop;
    unsigned flips;
};

static void *flip(void *arg)
{
    struct flipper *f = arg;
    bool on = false;
    while (!atomic_load(&f->stop)) {
        daq_acq_set_use_pool(f->a, on);
        on = !on;
        f->flips++;
        usleep(20000);
    }
    daq_acq_set_use_pool(f->a, true);
    return NULL;
}

static void use_pool_flipped_live_loses_nothing(void **state)
{
    daq_bus *bus = daq_bus_create("flip");
    daq_acq *a = engine(sim("flip", 512, 512, "100", "realistic"), bus, 0, DAQ_POOL_POLICY_HEAP);
    consumer c;
    consumer_start(&c, bus, "check", DAQ_SUB_LOSSLESS, 32, true, 0);
    struct flipper fl = {.a = a};
    pthread_t t;
    pthread_create(&t, NULL, flip, &fl);
    run_to_limit(a, 300, 30000);
    atomic_store(&fl.stop, true);
    pthread_join(t, NULL);
    consumer_join(&c, bus);
    daq_acq_stats s;
    daq_acq_stats_snapshot(a, &s);
    printf("flips=%u hits=%lu disabled=%lu\n", fl.flips, (unsigned long)s.pool.hits,
           (unsigned long)s.pool.disabled);
    assert_true(s.pool.hits > 0);
    assert_true(s.pool.disabled > 0);
    assert_int_equal(s.pool.hits + s.pool.disabled, 300);
    assert_int_equal(s.lost, 0);
    assert_int_equal(c.frames, 300);
    assert_int_equal(c.verify_failures, 0);
    assert_int_equal(s.pool.in_use + s.pool.heap_in_use, 0);
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
}

static void stall_trips_watchdog_then_restart(void **state)
{
    daq_bus *bus = daq_bus_create("stall");
    daq_camera *cam = sim("stall", 256, 256, "200", "realistic");
    set(cam, "fault.stall_after", "20");
    set(cam, "fault.stall_ms", "30000");
    daq_acq_config cfg;
    daq_acq_config_init(&cfg);
    cfg.wait_timeout_ms = 100;
    cfg.watchdog_waits = 5;
    char err[256];
    daq_acq *a = daq_acq_create(cam, bus, &cfg, err, sizeof err);
    assert_non_null(a);
    assert_int_equal(daq_acq_start(a, 0, err, sizeof err), 0);
    uint64_t t0 = daq_test_now_ns();
    assert_true(daq_acq_wait_idle(a, 5000));
    double secs = (double)(daq_test_now_ns() - t0) / 1e9;
    daq_acq_stats s;
    daq_acq_stats_snapshot(a, &s);
    printf("ended after %.2f s: %s\n", secs, s.error);
    assert_int_equal(s.state, DAQ_ACQ_ERROR);
    assert_non_null(strstr(s.error, "watchdog"));
    assert_int_equal(s.delivered, 20);
    assert_true(secs < 2.0);                 /* 20 frames (0.1 s) + 5 x 100 ms, with slack */
    assert_false(daq_camera_streaming(cam)); /* the driver was halted */
    /* A later start works. */
    set(cam, "fault.stall_after", "0");
    run_to_limit(a, 50, 10000);
    daq_acq_stats_snapshot(a, &s);
    assert_int_equal(s.state, DAQ_ACQ_IDLE);
    assert_int_equal(s.delivered, 50);
    assert_int_equal(s.error[0], '\0');
    daq_acq_stop(a);
    daq_acq_stop(a); /* idempotent */
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
}

static void readout_failure_stops_cleanly(void **state)
{
    daq_bus *bus = daq_bus_create("fail");
    daq_camera *cam = sim("fail", 256, 256, "500", "realistic");
    set(cam, "fault.fail_after", "30");
    daq_acq *a = engine(cam, bus, 0, DAQ_POOL_POLICY_HEAP);
    consumer c;
    consumer_start(&c, bus, "check", DAQ_SUB_LOSSLESS, 16, true, 0);
    char err[256];
    assert_int_equal(daq_acq_start(a, 0, err, sizeof err), 0);
    assert_true(daq_acq_wait_idle(a, 5000));
    consumer_join(&c, bus); /* it got its end of stream */
    daq_acq_stats s;
    daq_acq_stats_snapshot(a, &s);
    assert_int_equal(s.state, DAQ_ACQ_ERROR);
    assert_non_null(strstr(s.error, "simulated readout failure"));
    assert_int_equal(c.frames, 30);
    assert_true(c.tc.eos);
    assert_false(daq_camera_streaming(cam));
    set(cam, "fault.fail_after", "0");
    run_to_limit(a, 10, 10000);
    daq_acq_stats_snapshot(a, &s);
    assert_int_equal(s.state, DAQ_ACQ_IDLE);
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
}

static unsigned thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    unsigned n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n - 2;
}

static void *nothing(void *arg)
{
    return arg;
}

static void start_stop_200_cycles(void **state)
{
    /* A first thread lets sanitizer runtimes start their helper threads
     * before the count is taken. */
    pthread_t t;
    pthread_create(&t, NULL, nothing, NULL);
    pthread_join(t, NULL);
    unsigned before = thread_count();
    daq_bus *bus = daq_bus_create("cycle");
    daq_acq *a = engine(sim("cycle", 128, 128, "2000", "realistic"), bus, 0, DAQ_POOL_POLICY_HEAP);
    consumer c;
    consumer_start(&c, bus, "check", DAQ_SUB_DROP_OLDEST, 4, true, 0);
    char err[256];
    for (int i = 0; i < 200; i++) {
        assert_int_equal(daq_acq_start(a, 0, err, sizeof err), 0);
        assert_int_equal(daq_acq_start(a, 0, err, sizeof err), 1); /* already streaming */
        if (i % 4 == 0)
            usleep(2000);
        daq_acq_stop(a);
        assert_int_equal(daq_acq_state_get(a), DAQ_ACQ_IDLE);
    }
    daq_sub_close(c.tc.sub);
    consumer_join(&c, bus);
    assert_int_equal(c.verify_failures, 0);
    daq_acq_stats s;
    daq_acq_stats_snapshot(a, &s);
    assert_int_equal(s.streams, 200);
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
    assert_int_equal(thread_count(), before);
}

static void stop_during_lossless_wait(void **state)
{
    daq_bus *bus = daq_bus_create("block");
    daq_acq *a = engine(sim("block", 128, 128, "1000", "realistic"), bus, 0, DAQ_POOL_POLICY_HEAP);
    daq_sub_config sc;
    daq_sub_config_init(&sc);
    sc.name = "never";
    sc.policy = DAQ_SUB_LOSSLESS;
    sc.queue_depth = 2;
    sc.lossless_timeout_ms = 60000;
    daq_sub *never = daq_bus_subscribe(bus, &sc, NULL, 0);
    char err[256];
    assert_int_equal(daq_acq_start(a, 0, err, sizeof err), 0);
    daq_sub_stats st;
    for (int i = 0; i < 500; i++) { /* until the producer is blocked on the full queue */
        daq_sub_stats_snapshot(never, &st);
        if (st.lossless_waits > 0)
            break;
        usleep(1000);
    }
    assert_true(st.lossless_waits > 0);
    uint64_t t0 = daq_test_now_ns();
    daq_acq_stop(a);
    double secs = (double)(daq_test_now_ns() - t0) / 1e9;
    printf("stop took %.3f s\n", secs);
    assert_true(secs < 2.0);
    assert_int_equal(daq_acq_state_get(a), DAQ_ACQ_IDLE);
    daq_bus_unsubscribe(bus, never);
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
}

static void no_overwrite_overruns_are_lost(void **state)
{
    /* The engine is slowed by a lossless consumer that takes 30 ms a frame;
     * the sim's 4-slot ring at 100 FPS overruns and the engine counts each
     * overrun as a lost frame. */
    daq_bus *bus = daq_bus_create("slow");
    daq_camera *cam = sim("slow", 256, 256, "100", "realistic");
    set(cam, "buffer_mode", "no_overwrite");
    set(cam, "ring_frames", "4");
    daq_acq *a = engine(cam, bus, 0, DAQ_POOL_POLICY_HEAP);
    consumer c;
    consumer_start(&c, bus, "slow", DAQ_SUB_LOSSLESS, 1, true, 30);
    run_to_limit(a, 60, 30000);
    consumer_join(&c, bus);
    daq_acq_stats s;
    daq_acq_stats_snapshot(a, &s);
    uint64_t last_generated = daq_test_extra(&s.driver, "last_frame_number");
    printf("overruns=%lu lost=%lu last delivered %lu of %lu\n", (unsigned long)s.driver.overruns,
           (unsigned long)s.lost, (unsigned long)s.last_hw_frame, (unsigned long)last_generated);
    assert_true(s.driver.overruns > 20);
    /* Every gap the engine saw is an overrun; overruns after the last
     * delivered frame are not visible as a gap (the stream stopped). */
    assert_true(s.lost <= s.driver.overruns);
    assert_true(s.driver.overruns <= s.lost + (last_generated - s.last_hw_frame));
    assert_int_equal(c.gap_sum, s.lost);
    assert_int_equal(c.verify_failures, 0);
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
}

static void overwrite_mode_delivers_newest(void **state)
{
    daq_bus *bus = daq_bus_create("ow");
    daq_camera *cam = sim("ow", 256, 256, "200", "realistic");
    set(cam, "buffer_mode", "overwrite");
    set(cam, "ring_frames", "8");
    daq_acq *a = engine(cam, bus, 0, DAQ_POOL_POLICY_HEAP);
    consumer c;
    consumer_start(&c, bus, "slow", DAQ_SUB_LOSSLESS, 1, true, 20);
    run_to_limit(a, 40, 30000);
    consumer_join(&c, bus);
    daq_acq_stats s;
    daq_acq_stats_snapshot(a, &s);
    assert_true(s.lost > 0);
    assert_int_equal(c.gap_sum, s.lost);
    assert_int_equal(c.verify_failures, 0);
    assert_int_equal(c.order_violations + c.hw_backwards, 0);
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
}

static void auto_sizing_formula(void **state)
{
    assert_int_equal(daq_acq_auto_slots(0, 0, 0, 0), 1);
    assert_int_equal(daq_acq_auto_slots(3 * 5, 0, 6, 2), 24);
    assert_int_equal(daq_acq_auto_slots(10, 8, 0, 0), 19);
    assert_int_equal(daq_acq_auto_slots(UINT32_MAX / 2, UINT32_MAX / 2, 9, 9), DAQ_POOL_MAX_SLOTS);
    /* and the engine uses it: two subscriptions of depth 4 and 16 */
    daq_bus *bus = daq_bus_create("size");
    daq_sub_config sc;
    daq_sub_config_init(&sc);
    sc.queue_depth = 4;
    daq_sub *s1 = daq_bus_subscribe(bus, &sc, NULL, 0);
    sc.queue_depth = 16;
    daq_sub *s2 = daq_bus_subscribe(bus, &sc, NULL, 0);
    daq_acq *a = engine(sim("size", 64, 64, "1000", "realistic"), bus, 0, DAQ_POOL_POLICY_HEAP);
    run_to_limit(a, 5, 10000);
    daq_acq_stats s;
    daq_acq_stats_snapshot(a, &s);
    daq_acq_config cfg;
    daq_acq_config_init(&cfg);
    assert_true(s.pool_auto);
    assert_int_equal(s.pool_slots, (4 + 1) + (16 + 1) + 1 + cfg.dynamic_allowance + cfg.headroom);
    daq_bus_unsubscribe(bus, s1);
    daq_bus_unsubscribe(bus, s2);
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
}

/* The frame-interval histogram: at 100 FPS the 10 ms period lies in the
 * log2 bucket [2^23, 2^24) ns (8.4..16.8 ms), which must hold most of the
 * intervals; one interval per delivered frame after the first, summing to
 * the span between the first and the last; a new stream starts afresh. */
static void interval_histogram_holds_the_period(void **state)
{
    daq_bus *bus = daq_bus_create("tick");
    daq_acq *a = engine(sim("tick", 256, 64, "100", "realistic"), bus, 0, DAQ_POOL_POLICY_HEAP);
    for (int round = 0; round < 2; round++) {
        run_to_limit(a, round ? 20 : 150, 20000);
        daq_acq_stats s;
        daq_acq_stats_snapshot(a, &s);
        const daq_latency_hist *h = &s.interval;
        uint64_t total = 0, top = 0;
        unsigned top_i = 0;
        for (unsigned i = 0; i < DAQ_LAT_BUCKETS; i++) {
            total += h->buckets[i];
            if (h->buckets[i] > top) {
                top = h->buckets[i];
                top_i = i;
            }
        }
        printf("round %d: intervals %lu, mode bucket %u (%lu), p50 %lu ns, max %lu ns\n", round,
               (unsigned long)h->count, top_i, (unsigned long)top,
               (unsigned long)daq_latency_quantile_ns(h, 0.5), (unsigned long)h->max_ns);
        assert_int_equal(h->count, s.delivered - 1);
        assert_int_equal(total, h->count);
        assert_int_equal(h->sum_ns, s.last_frame_ns - s.first_frame_ns);
        assert_true(h->max_ns >= h->sum_ns / h->count);
        assert_int_equal(daq_latency_bucket_upper_ns(23), 1ull << 24);
        assert_int_equal(top_i, 23);
        assert_true(top * 2 > total);
    }
    daq_acq_destroy(a);
    daq_bus_destroy(bus);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(checkpoint_smoke_200_frames),
    cmocka_unit_test(injected_jumps_counted_exactly),
    cmocka_unit_test(injected_duplicates_skipped),
    cmocka_unit_test(injected_zero_frames_skipped),
    cmocka_unit_test(injected_backwards_counted),
    cmocka_unit_test(slow_drop_oldest_never_misses),
    cmocka_unit_test(never_reading_lossless_costs_its_bound),
    cmocka_unit_test(explicit_small_pool_heap_fallback),
    cmocka_unit_test(explicit_small_pool_drop_ratelimited),
    cmocka_unit_test(pvcam_use_pool_env_off),
    cmocka_unit_test(daq_use_pool_env_off),
    cmocka_unit_test(use_pool_flipped_live_loses_nothing),
    cmocka_unit_test(stall_trips_watchdog_then_restart),
    cmocka_unit_test(readout_failure_stops_cleanly),
    cmocka_unit_test(start_stop_200_cycles),
    cmocka_unit_test(stop_during_lossless_wait),
    cmocka_unit_test(no_overwrite_overruns_are_lost),
    cmocka_unit_test(overwrite_mode_delivers_newest),
    cmocka_unit_test(auto_sizing_formula),
    cmocka_unit_test(interval_histogram_holds_the_period),
};

DAQ_TEST_MAIN("acq", tests)
