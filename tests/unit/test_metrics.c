/* The metrics exposition and its HTTP server, in process.
 *
 * Renderer: a real engine streams the simulated camera (256x256 at 500 FPS)
 * into a bus with two consumer threads; the text must carry every family
 * with its type, HELP/TYPE once and samples grouped, counters equal to
 * daq_acq_stats_snapshot / daq_bus_stats_snapshot (exactly once the stream has ended,
 * bracketed by two snapshots while it runs), cumulative histograms ending
 * in +Inf == _count, escaped label values, and a device without an engine
 * reported down.
 *
 * Recorder (a build with libdaq-storage): a real daq_storage records a
 * sim device; the daq_recorder_* families equal daq_storage_stats_snapshot
 * exactly once the recording has stopped, the flush histogram has log2
 * buckets from 1 ms, recording follows the recording; without a storage
 * pointer the families are absent.
 *
 * Server: a tiny HTTP/1.1 client over a socket talks to daq_http on an
 * ephemeral port: GET /metrics, 404 from the handler, 405 for POST, the
 * port-in-use message, concurrent scrapes while streaming, and stop waiting
 * for a handler that is still running.  Limits (issue 12): a trickling
 * client is cut at the absolute deadline, a stalled connection is evicted
 * for a whole request from the same address, a client whose slots are all
 * busy is refused while another loopback address (127.0.0.2) is served, and
 * the counters reach the daq_http_* families.
 *
 * No timing assertions beyond generous deadlines (2 shared cores,
 * sanitizers). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daq/acq.h"
#include "daq/bus.h"
#include "daq/camera.h"
#include "daq/http.h"
#include "daq/metrics.h"
#include "test_main.h"

#ifdef DAQ_WITH_STORAGE
#include "daq/config.h"
#include "daq/devices.h"
#include "daq/storage.h"
#endif

/* ---- a streaming rig: sim camera, engine, bus, two consumer threads ---------------- */

static void set(daq_camera *cam, const char *name, const char *value)
{
    char err[256];
    if (daq_camera_set_param_text(cam, name, value, err, sizeof err) != 0)
        fail_msg("set %s=%s: %s", name, value, err);
}

static daq_camera *sim(const char *id)
{
    char err[256];
    daq_camera *cam = daq_camera_create("sim", id, err, sizeof err);
    if (!cam)
        fail_msg("create: %s", err);
    set(cam, "width", "256");
    set(cam, "height", "256");
    set(cam, "bit_depth", "16");
    set(cam, "frame_rate_hz", "500");
    set(cam, "exposure_ms", "1");
    set(cam, "timing", "realistic");
    set(cam, "ring_frames", "64");
    return cam;
}

typedef struct consumer {
    daq_sub *sub;
    unsigned sleep_ms;
    pthread_t thread;
    uint64_t frames;
} consumer;

static void *consume(void *arg)
{
    consumer *c = arg;
    for (;;) {
        daq_frame *f;
        if (daq_sub_next(c->sub, 5 * 1000000000ll, &f) != DAQ_SUB_FRAME)
            return NULL; /* end of stream or closed */
        c->frames++;
        if (c->sleep_ms)
            usleep(c->sleep_ms * 1000);
        daq_frame_unref(f);
    }
}

typedef struct rig {
    daq_bus *bus;
    daq_acq *acq;
    consumer c[2];
    bool consumers_running;
} rig;

/* slots 0 = auto; holder_sleep_ms slows the lossless consumer down. */
static void rig_create(rig *r, const char *id, uint32_t slots, unsigned holder_sleep_ms)
{
    memset(r, 0, sizeof *r);
    r->bus = daq_bus_create(id);
    assert_non_null(r->bus);
    daq_acq_config cfg;
    daq_acq_config_init(&cfg);
    cfg.slots = slots;
    char err[256];
    r->acq = daq_acq_create(sim(id), r->bus, &cfg, err, sizeof err);
    if (!r->acq)
        fail_msg("acq: %s", err);
    static const struct {
        const char *name;
        daq_sub_policy policy;
        uint32_t depth;
    } subs[2] = {{"recorder", DAQ_SUB_LOSSLESS, 1024}, {"viewer", DAQ_SUB_DROP_OLDEST, 2}};
    for (int i = 0; i < 2; i++) {
        daq_sub_config sc;
        daq_sub_config_init(&sc);
        sc.name = subs[i].name;
        sc.policy = subs[i].policy;
        sc.queue_depth = subs[i].depth;
        sc.lossless_timeout_ms = 2000;
        r->c[i].sub = daq_bus_subscribe(r->bus, &sc, err, sizeof err);
        if (!r->c[i].sub)
            fail_msg("subscribe: %s", err);
        r->c[i].sleep_ms = i == 0 ? holder_sleep_ms : 0;
    }
}

static void rig_start(rig *r, uint64_t frame_limit)
{
    for (int i = 0; i < 2; i++)
        pthread_create(&r->c[i].thread, NULL, consume, &r->c[i]);
    r->consumers_running = true;
    char err[256];
    if (daq_acq_start(r->acq, frame_limit, err, sizeof err) != 0)
        fail_msg("start: %s", err);
}

/* Waits until the engine has delivered at least n frames. */
static void rig_wait_delivered(rig *r, uint64_t n)
{
    uint64_t deadline = daq_test_now_ns() + 30ull * 1000000000ull;
    for (;;) {
        daq_acq_stats s;
        daq_acq_stats_snapshot(r->acq, &s);
        if (s.delivered >= n)
            return;
        if (daq_test_now_ns() > deadline)
            fail_msg("only %lu of %lu frames delivered in 30 s", (unsigned long)s.delivered,
                     (unsigned long)n);
        usleep(10000);
    }
}

/* Runs a stream of n frames to its end; the consumers have seen its end of
 * stream and every frame is back when this returns. */
static void rig_run_to_limit(rig *r, uint64_t n)
{
    rig_start(r, n);
    if (!daq_acq_wait_idle(r->acq, 30000))
        fail_msg("stream of %lu frames did not end in 30 s", (unsigned long)n);
    for (int i = 0; i < 2; i++)
        pthread_join(r->c[i].thread, NULL);
    r->consumers_running = false;
}

static void rig_destroy(rig *r)
{
    daq_acq_stop(r->acq);
    for (int i = 0; i < 2; i++) {
        daq_sub_close(r->c[i].sub);
        if (r->consumers_running)
            pthread_join(r->c[i].thread, NULL);
        daq_bus_unsubscribe(r->bus, r->c[i].sub);
    }
    daq_acq_destroy(r->acq);
    daq_bus_destroy(r->bus);
}

static char *render(const daq_metrics_device *devs, size_t n)
{
    size_t len = 0;
    char *text = daq_metrics_render(devs, n, NULL, daq_test_now_ns(), &len);
    assert_non_null(text);
    assert_int_equal(len, strlen(text));
    assert_true(len > 0 && text[len - 1] == '\n');
    return text;
}

/* ---- reading the exposition back ---------------------------------------------------- */

/* The value of the sample whose name and labels are exactly `series`
 * (e.g. `daq_device_up{device="cam0"}`); fails the test if absent. */
static double value_of(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        if (strncmp(line, series, n) == 0 && line[n] == ' ')
            return strtod(line + n + 1, NULL);
        if (!end)
            break;
        line = end + 1;
    }
    fail_msg("no sample %s", series);
    return NAN;
}

static bool has_series(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *line = text; *line;) {
        if (strncmp(line, series, n) == 0 && line[n] == ' ')
            return true;
        const char *end = strchr(line, '\n');
        if (!end)
            break;
        line = end + 1;
    }
    return false;
}

/* A series name built printf-style, in a static buffer. */
static const char *S(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *S(const char *fmt, ...)
{
    static char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return buf;
}

static void assert_series_u64(const char *text, const char *series, uint64_t want)
{
    double got = value_of(text, series);
    if (got != (double)want)
        fail_msg("%s = %.17g, want %lu", series, got, (unsigned long)want);
}

static const char *type_of(const char *text, const char *family)
{
    static char type[32];
    char head[160];
    snprintf(head, sizeof head, "# TYPE %s ", family);
    const char *p = strstr(text, head);
    if (!p || (p != text && p[-1] != '\n'))
        return NULL;
    sscanf(p + strlen(head), "%31s", type);
    return type;
}

/* HELP then TYPE exactly once per family, and every sample inside the
 * family announced last (histograms: _bucket, _sum, _count).  Returns the
 * number of families. */
static unsigned check_layout(const char *text)
{
    char names[256][96];
    unsigned n = 0;
    char current[96] = "", type[32] = "";
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        assert_non_null(end); /* every line ends in \n */
        size_t len = (size_t)(end - line);
        char buf[1024];
        assert_true(len < sizeof buf);
        memcpy(buf, line, len);
        buf[len] = '\0';
        char name[96];
        if (strncmp(buf, "# HELP ", 7) == 0) {
            assert_int_equal(sscanf(buf + 7, "%95s", name), 1);
            for (unsigned i = 0; i < n; i++)
                if (strcmp(names[i], name) == 0)
                    fail_msg("family %s described twice", name);
            assert_true(n < 256);
            snprintf(names[n++], sizeof names[0], "%s", name);
            snprintf(current, sizeof current, "%s", name);
            type[0] = '\0';
        } else if (strncmp(buf, "# TYPE ", 7) == 0) {
            assert_int_equal(sscanf(buf + 7, "%95s %31s", name, type), 2);
            if (strcmp(name, current) != 0)
                fail_msg("TYPE %s does not follow its HELP (%s)", name, current);
        } else {
            assert_true(buf[0] != '#' && buf[0] != '\0');
            size_t k = strcspn(buf, "{ ");
            memcpy(name, buf, k);
            name[k] = '\0';
            size_t cl = strlen(current);
            bool ok = strcmp(name, current) == 0;
            if (!ok && strcmp(type, "histogram") == 0 && strncmp(name, current, cl) == 0)
                ok = !strcmp(name + cl, "_bucket") || !strcmp(name + cl, "_sum") ||
                     !strcmp(name + cl, "_count");
            if (!ok)
                fail_msg("sample %s outside its family (current %s)", name, current);
        }
        line = end + 1;
    }
    return n;
}

/* Histogram series `name{labels,le=...}`: le increasing from 2 ns, counts
 * cumulative, +Inf last and equal to _count.  Returns _count. */
static uint64_t check_histogram(const char *text, const char *name, const char *labels)
{
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%s_bucket{%s,le=\"", name, labels);
    double last_le = 0, last_count = -1;
    unsigned buckets = 0;
    bool inf = false;
    for (const char *p = text; (p = strstr(p, prefix)); p++) {
        assert_false(inf); /* nothing after +Inf */
        const char *le = p + strlen(prefix);
        double count = strtod(strstr(le, "} ") + 2, NULL);
        if (strncmp(le, "+Inf\"", 5) == 0) {
            inf = true;
        } else {
            double v = strtod(le, NULL);
            if (buckets == 0)
                assert_true(v == 2e-9); /* 2 ns: daq_pool's first upper bound */
            else
                assert_true(v > last_le);
            last_le = v;
        }
        if (count < last_count)
            fail_msg("%s{%s}: bucket le=%g holds %g < %g", name, labels, last_le, count,
                     last_count);
        last_count = count;
        buckets++;
    }
    assert_true(inf);
    assert_int_equal(buckets, DAQ_LAT_BUCKETS); /* 31 finite bounds + +Inf */
    double count = value_of(text, S("%s_count{%s}", name, labels));
    assert_true(count == last_count);
    assert_true(value_of(text, S("%s_sum{%s}", name, labels)) >= 0);
    return (uint64_t)count;
}

/* ---- renderer tests ------------------------------------------------------------------- */

static const struct {
    const char *family, *type;
} required[] = {
    {"daq_device_info", "gauge"},
    {"daq_device_up", "gauge"},
    {"daq_acquisition_streaming", "gauge"},
    {"daq_acquisition_state", "gauge"},
    {"daq_acquisition_streams_started_total", "counter"},
    {"daq_acquisition_frames_captured_total", "counter"},
    {"daq_acquisition_frames_delivered_total", "counter"},
    {"daq_acquisition_frames_lost_total", "counter"},
    {"daq_acquisition_discontinuities_total", "counter"},
    {"daq_acquisition_duplicate_frames_total", "counter"},
    {"daq_acquisition_zero_frames_total", "counter"},
    {"daq_acquisition_alloc_dropped_frames_total", "counter"},
    {"daq_acquisition_heap_fallbacks_total", "counter"},
    {"daq_acquisition_delivery_fps", "gauge"},
    {"daq_pool_hits_total", "counter"},
    {"daq_pool_misses_total", "counter"},
    {"daq_pool_disabled_total", "counter"},
    {"daq_pool_heap_allocations_total", "counter"},
    {"daq_pool_heap_failures_total", "counter"},
    {"daq_pool_drops_total", "counter"},
    {"daq_pool_waits_total", "counter"},
    {"daq_pool_returns_total", "counter"},
    {"daq_pool_slots", "gauge"},
    {"daq_pool_slots_in_use", "gauge"},
    {"daq_pool_heap_frames_in_use", "gauge"},
    {"daq_pool_slots_high_water", "gauge"},
    {"daq_pool_hit_ratio", "gauge"},
    {"daq_pool_use_pool", "gauge"},
    {"daq_pool_slot_size_bytes", "gauge"},
    {"daq_pool_alloc_latency_seconds", "histogram"},
    {"daq_consumer_frames_delivered_total", "counter"},
    {"daq_consumer_frames_enqueued_total", "counter"},
    {"daq_consumer_frames_dropped_total", "counter"},
    {"daq_consumer_frames_skipped_total", "counter"},
    {"daq_consumer_queued_frames", "gauge"},
    {"daq_consumer_queue_high_water_frames", "gauge"},
    {"daq_camera_frames_generated_total", "counter"},
    {"daq_camera_callbacks_total", "counter"},
    {"daq_camera_overruns_total", "counter"},
    {"daq_camera_readout_errors_total", "counter"},
    {"daq_camera_events_total", "counter"},
    {"process_resident_memory_bytes", "gauge"},
    {"process_start_time_seconds", "gauge"},
    {"process_cpu_seconds_total", "counter"},
    {"daq_uptime_seconds", "gauge"},
};

static void streaming_families_and_types(void **state)
{
    rig r;
    rig_create(&r, "cam0", 0, 0);
    rig_start(&r, 0);
    rig_wait_delivered(&r, 100);
    daq_metrics_device dev = {.id = "cam0", .driver = "sim", .acq = r.acq, .bus = r.bus};
    char *text = render(&dev, 1);
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        const char *t = type_of(text, required[i].family);
        if (!t)
            fail_msg("family %s missing", required[i].family);
        if (strcmp(t, required[i].type) != 0)
            fail_msg("family %s is %s, want %s", required[i].family, t, required[i].type);
    }
    unsigned families = check_layout(text);
    printf("%u families, %zu bytes\n", families, strlen(text));
    assert_true(families >= sizeof required / sizeof required[0]);
    assert_series_u64(text, "daq_device_up{device=\"cam0\"}", 1);
    assert_series_u64(text, "daq_device_info{device=\"cam0\",driver=\"sim\"}", 1);
    assert_series_u64(text, "daq_acquisition_streaming{device=\"cam0\"}", 1);
    assert_series_u64(text, "daq_acquisition_state{device=\"cam0\",state=\"streaming\"}", 1);
    assert_series_u64(text, "daq_acquisition_state{device=\"cam0\",state=\"idle\"}", 0);
    assert_series_u64(text, "daq_acquisition_state{device=\"cam0\",state=\"error\"}", 0);
    assert_series_u64(text, "daq_pool_use_pool{device=\"cam0\"}", 1);
    assert_true(has_series(text, "daq_consumer_frames_dropped_total{device=\"cam0\","
                                 "consumer=\"viewer\",reason=\"oldest\"}"));
    assert_true(has_series(text, "daq_camera_events_total{device=\"cam0\",event=\"stalls\"}"));
    double ratio = value_of(text, "daq_pool_hit_ratio{device=\"cam0\"}");
    assert_true(ratio >= 0 && ratio <= 1);
    free(text);
    rig_destroy(&r);
}

static void counters_bracketed_while_streaming(void **state)
{
    rig r;
    rig_create(&r, "cam0", 0, 0);
    rig_start(&r, 0);
    rig_wait_delivered(&r, 50);
    daq_metrics_device dev = {.id = "cam0", .driver = "sim", .acq = r.acq, .bus = r.bus};
    daq_acq_stats a, b;
    daq_acq_stats_snapshot(r.acq, &a);
    char *text = render(&dev, 1);
    daq_acq_stats_snapshot(r.acq, &b);
    static const struct {
        const char *series;
        size_t off;
    } rows[] = {
        {"daq_acquisition_frames_captured_total", offsetof(daq_acq_stats, captured)},
        {"daq_acquisition_frames_delivered_total", offsetof(daq_acq_stats, delivered)},
        {"daq_acquisition_copied_bytes_total", offsetof(daq_acq_stats, bytes_copied)},
        {"daq_pool_hits_total", offsetof(daq_acq_stats, pool.hits)},
        {"daq_pool_returns_total", offsetof(daq_acq_stats, pool.returns)},
        {"daq_camera_frames_generated_total", offsetof(daq_acq_stats, driver.frames_generated)},
        {"daq_camera_callbacks_total", offsetof(daq_acq_stats, driver.callbacks)},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        uint64_t lo, hi;
        memcpy(&lo, (const char *)&a + rows[i].off, sizeof lo);
        memcpy(&hi, (const char *)&b + rows[i].off, sizeof hi);
        double v = value_of(text, S("%s{device=\"cam0\"}", rows[i].series));
        if (v < (double)lo || v > (double)hi)
            fail_msg("%s = %.0f, outside [%lu, %lu]", rows[i].series, v, (unsigned long)lo,
                     (unsigned long)hi);
    }
    assert_true(value_of(text, "daq_acquisition_frames_delivered_total{device=\"cam0\"}") >= 50);
    free(text);
    rig_destroy(&r);
}

static void counters_match_stats_after_stream(void **state)
{
    rig r;
    rig_create(&r, "cam0", 0, 0);
    rig_run_to_limit(&r, 300);
    daq_metrics_device dev = {.id = "cam0", .driver = "sim", .acq = r.acq, .bus = r.bus};
    char *text = render(&dev, 1);
    daq_acq_stats s;
    daq_acq_stats_snapshot(r.acq, &s);
    assert_int_equal(s.delivered, 300);

#define DEV "{device=\"cam0\"}"
    assert_series_u64(text, "daq_acquisition_streaming" DEV, 0);
    assert_series_u64(text, "daq_acquisition_state{device=\"cam0\",state=\"idle\"}", 1);
    assert_series_u64(text, "daq_acquisition_streams_started_total" DEV, s.streams);
    assert_series_u64(text, "daq_acquisition_frames_captured_total" DEV, s.captured);
    assert_series_u64(text, "daq_acquisition_frames_delivered_total" DEV, s.delivered);
    assert_series_u64(text, "daq_acquisition_frames_lost_total" DEV, s.lost);
    assert_series_u64(text, "daq_acquisition_discontinuities_total" DEV, s.discontinuities);
    assert_series_u64(text, "daq_acquisition_duplicate_frames_total" DEV, s.duplicates);
    assert_series_u64(text, "daq_acquisition_zero_frames_total" DEV, s.zero_frames);
    assert_series_u64(text, "daq_acquisition_alloc_dropped_frames_total" DEV, s.alloc_dropped);
    assert_series_u64(text, "daq_acquisition_heap_fallbacks_total" DEV, s.heap_fallbacks);
    assert_series_u64(text, "daq_acquisition_copied_bytes_total" DEV, s.bytes_copied);
    /* floats are written so that they read back exactly */
    assert_true(value_of(text, "daq_acquisition_delivery_fps" DEV) == s.fps);
    assert_true(s.fps > 0);
    assert_true(value_of(text, "daq_pool_hit_ratio" DEV) == s.pool.hit_rate);
    assert_series_u64(text, "daq_pool_hits_total" DEV, s.pool.hits);
    assert_series_u64(text, "daq_pool_misses_total" DEV, s.pool.misses);
    assert_series_u64(text, "daq_pool_disabled_total" DEV, s.pool.disabled);
    assert_series_u64(text, "daq_pool_returns_total" DEV, s.pool.returns);
    assert_series_u64(text, "daq_pool_drops_total" DEV, s.pool.drops);
    assert_series_u64(text, "daq_pool_slots" DEV, s.pool.slot_count);
    assert_series_u64(text, "daq_pool_slots_in_use" DEV, 0);
    assert_series_u64(text, "daq_pool_slots_high_water" DEV, s.pool.high_water);
    assert_series_u64(text, "daq_pool_slot_size_bytes" DEV, 256 * 256 * 2);
    assert_series_u64(text, "daq_pool_heap_allocations_total{device=\"cam0\",reason=\"exhausted\"}",
                      s.pool.heap_exhausted);
    assert_series_u64(text, "daq_pool_heap_allocations_total{device=\"cam0\",reason=\"disabled\"}",
                      s.pool.heap_disabled);
    assert_series_u64(text, "daq_camera_frames_generated_total" DEV, s.driver.frames_generated);
    assert_series_u64(text, "daq_camera_callbacks_total" DEV, s.driver.callbacks);
    assert_series_u64(text, "daq_camera_overruns_total" DEV, s.driver.overruns);
    assert_series_u64(text, "daq_camera_readout_errors_total" DEV, s.driver.readout_errors);
    assert_true(s.driver.n_extra > 0);
    for (unsigned i = 0; i < s.driver.n_extra; i++)
        assert_series_u64(
            text,
            S("daq_camera_events_total{device=\"cam0\",event=\"%s\"}", s.driver.extra[i].name),
            s.driver.extra[i].value);
#undef DEV

    /* the pool-path histogram holds exactly the hits */
    uint64_t count =
        check_histogram(text, "daq_pool_alloc_latency_seconds", "device=\"cam0\",path=\"pool\"");
    assert_int_equal(count, s.pool.hits);
    assert_true(count >= 300);
    check_histogram(text, "daq_pool_alloc_latency_seconds", "device=\"cam0\",path=\"heap\"");

    daq_sub_stats st[4];
    unsigned n = daq_bus_stats_snapshot(r.bus, st, 4);
    assert_int_equal(n, 2);
    for (unsigned i = 0; i < n; i++) {
        const char *lab = S("{device=\"cam0\",consumer=\"%s\"}", st[i].name);
        char l[128];
        snprintf(l, sizeof l, "%s", lab);
        assert_series_u64(text, S("daq_consumer_frames_delivered_total%s", l), st[i].delivered);
        assert_series_u64(text, S("daq_consumer_frames_enqueued_total%s", l), st[i].enqueued);
        assert_series_u64(text, S("daq_consumer_frames_offered_total%s", l), st[i].offered);
        assert_series_u64(text, S("daq_consumer_queued_frames%s", l), st[i].queued);
        assert_series_u64(text, S("daq_consumer_queue_high_water_frames%s", l),
                          st[i].queue_high_water);
        l[strlen(l) - 1] = '\0'; /* open the label set for a reason */
        assert_series_u64(text, S("daq_consumer_frames_dropped_total%s,reason=\"full\"}", l),
                          st[i].dropped_full);
        assert_series_u64(text, S("daq_consumer_frames_dropped_total%s,reason=\"oldest\"}", l),
                          st[i].dropped_oldest);
        assert_series_u64(text, S("daq_consumer_frames_dropped_total%s,reason=\"timeout\"}", l),
                          st[i].dropped_timeout);
        assert_series_u64(text, S("daq_consumer_frames_skipped_total%s,reason=\"decimate\"}", l),
                          st[i].skipped_decimate);
    }
    assert_int_equal(st[0].delivered, 300); /* the lossless recorder got every frame */
    free(text);
    rig_destroy(&r);
}

static void heap_paths_by_reason(void **state)
{
    /* use_pool off: every frame is a heap frame for reason "disabled". */
    rig r;
    rig_create(&r, "off", 0, 0);
    daq_acq_set_use_pool(r.acq, false);
    rig_run_to_limit(&r, 100);
    daq_metrics_device dev = {.id = "off", .driver = "sim", .acq = r.acq, .bus = r.bus};
    char *text = render(&dev, 1);
    daq_acq_stats s;
    daq_acq_stats_snapshot(r.acq, &s);
    assert_series_u64(text, "daq_pool_use_pool{device=\"off\"}", 0);
    assert_series_u64(text, "daq_pool_heap_allocations_total{device=\"off\",reason=\"disabled\"}",
                      s.pool.heap_disabled);
    assert_true(s.pool.heap_disabled >= 100);
    assert_int_equal(
        check_histogram(text, "daq_pool_alloc_latency_seconds", "device=\"off\",path=\"heap\""),
        s.pool.heap_disabled);
    assert_int_equal(
        check_histogram(text, "daq_pool_alloc_latency_seconds", "device=\"off\",path=\"pool\""), 0);
    free(text);
    rig_destroy(&r);

    /* two slots and a consumer holding frames: heap frames for "exhausted". */
    rig_create(&r, "tiny", 2, 8);
    rig_run_to_limit(&r, 200);
    dev = (daq_metrics_device){.id = "tiny", .driver = "sim", .acq = r.acq, .bus = r.bus};
    text = render(&dev, 1);
    daq_acq_stats_snapshot(r.acq, &s);
    printf("exhausted=%lu\n", (unsigned long)s.pool.heap_exhausted);
    assert_true(s.pool.heap_exhausted > 0);
    assert_series_u64(text, "daq_pool_heap_allocations_total{device=\"tiny\",reason=\"exhausted\"}",
                      s.pool.heap_exhausted);
    assert_series_u64(text, "daq_pool_misses_total{device=\"tiny\"}", s.pool.misses);
    assert_series_u64(text, "daq_acquisition_heap_fallbacks_total{device=\"tiny\"}",
                      s.heap_fallbacks);
    assert_int_equal(
        check_histogram(text, "daq_pool_alloc_latency_seconds", "device=\"tiny\",path=\"heap\""),
        s.pool.heap_exhausted);
    free(text);
    rig_destroy(&r);
}

static void label_values_escaped(void **state)
{
    /* A bus without an engine: consumers are rendered from the bus alone. */
    daq_bus *bus = daq_bus_create("weird");
    daq_sub_config sc;
    daq_sub_config_init(&sc);
    const char *names[] = {"q\"uote", "q\"uote", "back\\slash"};
    daq_sub *subs[3];
    for (int i = 0; i < 3; i++) {
        sc.name = names[i];
        subs[i] = daq_bus_subscribe(bus, &sc, NULL, 0);
        assert_non_null(subs[i]);
    }
    daq_metrics_device dev = {.id = "cam\"0\\x\ny", .driver = "d\"rv", .acq = NULL, .bus = bus};
    char *text = render(&dev, 1);
    assert_series_u64(text, "daq_device_info{device=\"cam\\\"0\\\\x\\ny\",driver=\"d\\\"rv\"}", 1);
    assert_series_u64(text, "daq_device_up{device=\"cam\\\"0\\\\x\\ny\"}", 0);
    const char *dev_l = "device=\"cam\\\"0\\\\x\\ny\"";
    assert_true(has_series(text, S("daq_consumer_info{%s,consumer=\"q\\\"uote\",policy=\"drop-"
                                   "oldest\"}",
                                   dev_l)));
    /* the same name twice stays two series */
    assert_true(has_series(text, S("daq_consumer_info{%s,consumer=\"q\\\"uote (2)\",policy=\"drop-"
                                   "oldest\"}",
                                   dev_l)));
    assert_true(has_series(
        text, S("daq_consumer_frames_delivered_total{%s,consumer=\"back\\\\slash\"}", dev_l)));
    /* no raw line feed or unescaped quote leaked: every line still parses */
    check_layout(text);
    for (const char *p = text; (p = strstr(p, "{")); p++)
        assert_true(p == text || p[-1] != '\n');
    free(text);
    for (int i = 0; i < 3; i++)
        daq_bus_unsubscribe(bus, subs[i]);
    daq_bus_destroy(bus);
}

static void device_down_and_idle_engine(void **state)
{
    daq_bus *bus = daq_bus_create("idle");
    daq_acq_config cfg;
    daq_acq_config_init(&cfg);
    char err[256];
    daq_acq *idle = daq_acq_create(sim("idle"), bus, &cfg, err, sizeof err);
    assert_non_null(idle);
    daq_metrics_device devs[] = {
        {.id = "down", .driver = "pvcam", .acq = NULL, .bus = NULL},
        {.id = "idle", .driver = "sim", .acq = idle, .bus = bus},
        {.id = NULL, .driver = NULL, .acq = NULL, .bus = NULL},
    };
    char *text = render(devs, 3);
    check_layout(text);
    assert_series_u64(text, "daq_device_up{device=\"down\"}", 0);
    assert_series_u64(text, "daq_device_info{device=\"down\",driver=\"pvcam\"}", 1);
    assert_series_u64(text, "daq_device_up{device=\"\"}", 0);
    assert_false(has_series(text, "daq_acquisition_streaming{device=\"down\"}"));
    assert_false(has_series(text, "daq_camera_frames_generated_total{device=\"down\"}"));
    assert_series_u64(text, "daq_device_up{device=\"idle\"}", 1);
    assert_series_u64(text, "daq_acquisition_streaming{device=\"idle\"}", 0);
    assert_series_u64(text, "daq_acquisition_state{device=\"idle\",state=\"idle\"}", 1);
    assert_series_u64(text, "daq_acquisition_streams_started_total{device=\"idle\"}", 0);
    /* no pool before the first start: no pool samples rather than zeros */
    assert_false(has_series(text, "daq_pool_slots{device=\"idle\"}"));
    assert_null(strstr(text, "daq_pool_alloc_latency_seconds_count{device=\"idle\""));
    assert_non_null(type_of(text, "daq_pool_alloc_latency_seconds"));
    free(text);

    /* nothing at all: the process families alone */
    text = render(NULL, 0);
    check_layout(text);
    assert_non_null(type_of(text, "daq_device_up"));
    assert_null(strstr(text, "device=\""));
    assert_true(value_of(text, "process_resident_memory_bytes") > 0);
    free(text);
    daq_acq_destroy(idle);
    daq_bus_destroy(bus);
}

static void process_families(void **state)
{
    uint64_t start = daq_test_now_ns() - 5ull * 1000000000ull; /* "started" 5 s ago */
    size_t len;
    char *text = daq_metrics_render(NULL, 0, NULL, start, &len);
    assert_non_null(text);
    double up = value_of(text, "daq_uptime_seconds");
    assert_true(up >= 5.0 && up < 600.0);
    double rss = value_of(text, "process_resident_memory_bytes");
    assert_true(rss > 1024 * 1024 && rss < 64.0 * 1024 * 1024 * 1024);
    assert_true(value_of(text, "process_virtual_memory_bytes") >= rss);
    double t0 = value_of(text, "process_start_time_seconds");
    double now = (double)time(NULL);
    printf("start=%.2f now=%.0f uptime=%.3f\n", t0, now, up);
    assert_true(t0 <= now + 1 && t0 > now - 3600); /* this test process started just now */
    assert_true(value_of(text, "process_cpu_seconds_total") >= 0);
    free(text);

    /* a start in the future reads as no uptime, not a wrapped counter */
    text = daq_metrics_render(NULL, 0, NULL, daq_test_now_ns() + 60ull * 1000000000ull, NULL);
    assert_non_null(text);
    assert_true(value_of(text, "daq_uptime_seconds") == 0);
    /* the start time is the kernel's and does not move between scrapes */
    assert_true(value_of(text, "process_start_time_seconds") == t0);
    free(text);
}

/* ---- a tiny HTTP client ------------------------------------------------------------------- */

typedef struct http_reply {
    int status;
    char *raw; /* head and body; NUL-terminated */
    const char *body;
} http_reply;

/* One request on a fresh connection (Connection: close); reads to EOF.
 * Returns 0 with the reply, -1 when there was no HTTP reply at all. */
static int http_request_from(const char *src, uint16_t port, const char *method, const char *path,
                             const char *body, http_reply *r)
{
    memset(r, 0, sizeof *r);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct timeval tv = {.tv_sec = 30};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in me = {.sin_family = AF_INET};
    inet_pton(AF_INET, src, &me.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&me, sizeof me), 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    char req[512];
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     method, path, body ? strlen(body) : 0, body ? body : "");
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        close(fd);
        return -1;
    }
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (;;) {
        if (len + 4096 > cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        ssize_t got = recv(fd, buf + len, cap - len - 1, 0);
        if (got <= 0)
            break;
        len += (size_t)got;
    }
    close(fd);
    buf[len] = '\0';
    if (sscanf(buf, "HTTP/1.%*d %d", &r->status) != 1) {
        free(buf);
        return -1;
    }
    r->raw = buf;
    const char *sep = strstr(buf, "\r\n\r\n");
    r->body = sep ? sep + 4 : "";
    return 0;
}

static int http_request(uint16_t port, const char *method, const char *path, const char *body,
                        http_reply *r)
{
    return http_request_from("127.0.0.1", port, method, path, body, r);
}

/* The value of a response header (case-insensitive name), or NULL. */
static const char *http_header(const http_reply *r, const char *name, char *out, size_t len)
{
    size_t n = strlen(name);
    for (const char *line = strstr(r->raw, "\r\n"); line && line + 2 < r->body;
         line = strstr(line + 2, "\r\n")) {
        const char *h = line + 2;
        if (strncasecmp(h, name, n) == 0 && h[n] == ':') {
            h += n + 1;
            while (*h == ' ')
                h++;
            size_t k = strcspn(h, "\r\n");
            snprintf(out, len, "%.*s", (int)k, h);
            return out;
        }
    }
    return NULL;
}

/* ---- the server's handler for these tests ------------------------------------------------------
 */

typedef struct server_ctx {
    const daq_metrics_device *devs;
    size_t n;
    uint64_t start_ns;
    atomic_uint calls;
    /* /slow blocks until released */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool entered, release, done;
    /* what the last /echo saw (under mu) */
    char method[8], peer[64], content_type[64], origin[64], host[64], authorization[64];
    uint8_t *body;
    size_t body_len;
    bool body_null;
} server_ctx;

static void copy_field(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "(null)");
}

static void handle(void *arg, const daq_http_request *req, daq_http_response *out)
{
    server_ctx *c = arg;
    const char *path = req->path;
    atomic_fetch_add(&c->calls, 1);
    if (strcmp(path, "/metrics") == 0) {
        out->body = daq_metrics_render(c->devs, c->n, NULL, c->start_ns, &out->len);
        out->free_body = true;
        out->content_type = "text/plain; version=0.0.4; charset=utf-8";
        if (!out->body)
            out->status = 500;
    } else if (strcmp(path, "/healthz") == 0) {
        out->body = (char *)"ok\n";
        out->len = 3;
    } else if (strcmp(path, "/echo") == 0) {
        pthread_mutex_lock(&c->mu);
        copy_field(c->method, sizeof c->method, req->method);
        copy_field(c->peer, sizeof c->peer, req->peer);
        copy_field(c->content_type, sizeof c->content_type, req->content_type);
        copy_field(c->origin, sizeof c->origin, req->origin);
        copy_field(c->host, sizeof c->host, req->host);
        copy_field(c->authorization, sizeof c->authorization, req->authorization);
        free(c->body);
        c->body_null = req->body == NULL;
        c->body = malloc(req->body_len + 1);
        memcpy(c->body, req->body ? req->body : (const uint8_t *)"", req->body_len);
        c->body_len = req->body_len;
        pthread_mutex_unlock(&c->mu);
        char *b = malloc(64);
        out->len = (size_t)snprintf(b, 64, "got %zu\n", req->body_len);
        out->body = b;
        out->free_body = true;
    } else if (strcmp(path, "/args") == 0) {
        const char *a = daq_http_request_arg(req, "a"), *b = daq_http_request_arg(req, "b");
        const char *none = daq_http_request_arg(req, "c");
        char *t = malloc(128);
        out->len = (size_t)snprintf(t, 128, "a=[%s] b=[%s] c=[%s]\n", a ? a : "NULL",
                                    b ? b : "NULL", none ? none : "NULL");
        out->body = t;
        out->free_body = true;
    } else if (strcmp(path, "/headers") == 0) {
        out->status = 204;
        assert_int_equal(daq_http_response_header(out, "X-Daq-Seq", "42"), 0);
        assert_int_equal(daq_http_response_header(out, "Cache-Control", "no-store"), 0);
        /* refused, nothing added: the reply must not be split */
        assert_int_equal(daq_http_response_header(out, "X-Evil", "1\r\nSet-Cookie: a=b"), -1);
        assert_int_equal(out->n_headers, 2);
    } else if (strcmp(path, "/slow") == 0) {
        pthread_mutex_lock(&c->mu);
        c->entered = true;
        pthread_cond_broadcast(&c->cv);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 30;
        while (!c->release)
            if (pthread_cond_timedwait(&c->cv, &c->mu, &until) != 0)
                break;
        c->done = true;
        pthread_mutex_unlock(&c->mu);
        out->body = (char *)"slow\n";
        out->len = 5;
    } else {
        out->status = 404;
        out->body = strdup("not found\n");
        out->len = strlen(out->body);
        out->free_body = true;
    }
}

static void server_ctx_init(server_ctx *c, const daq_metrics_device *devs, size_t n)
{
    memset(c, 0, sizeof *c);
    c->devs = devs;
    c->n = n;
    c->start_ns = daq_test_now_ns();
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
}

static daq_http *server_start(server_ctx *c)
{
    char err[256];
    daq_http *h = daq_http_start("127.0.0.1", 0, handle, c, err, sizeof err);
    if (!h)
        fail_msg("http start: %s", err);
    assert_true(daq_http_port(h) != 0);
    return h;
}

/* ---- server tests -------------------------------------------------------------------------------
 */

static void http_get_metrics(void **state)
{
    daq_metrics_device dev = {.id = "down", .driver = "sim", .acq = NULL, .bus = NULL};
    server_ctx c;
    server_ctx_init(&c, &dev, 1);
    daq_http *h = server_start(&c);
    http_reply r;
    assert_int_equal(http_request(daq_http_port(h), "GET", "/metrics", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    char v[128];
    assert_non_null(http_header(&r, "Content-Type", v, sizeof v));
    assert_string_equal(v, "text/plain; version=0.0.4; charset=utf-8");
    assert_non_null(http_header(&r, "Content-Length", v, sizeof v));
    assert_int_equal(strtoul(v, NULL, 10), strlen(r.body));
    assert_non_null(strstr(r.body, "# TYPE daq_device_up gauge\n"));
    assert_non_null(strstr(r.body, "daq_device_up{device=\"down\"} 0\n"));
    check_layout(r.body);
    free(r.raw);

    /* a query string is not part of the path */
    assert_int_equal(http_request(daq_http_port(h), "GET", "/healthz?verbose=1", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok\n");
    assert_non_null(http_header(&r, "Content-Type", v, sizeof v));
    assert_string_equal(v, "text/plain; charset=utf-8"); /* the default */
    free(r.raw);
    daq_http_stop(h);
    assert_int_equal(atomic_load(&c.calls), 2);
}

static void http_unknown_path_404(void **state)
{
    server_ctx c;
    server_ctx_init(&c, NULL, 0);
    daq_http *h = server_start(&c);
    http_reply r;
    assert_int_equal(http_request(daq_http_port(h), "GET", "/nope", NULL, &r), 0);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.body, "not found\n");
    free(r.raw);
    daq_http_stop(h);
}

static void http_other_methods_405(void **state)
{
    server_ctx c;
    server_ctx_init(&c, NULL, 0);
    daq_http *h = server_start(&c);
    static const char *const methods[] = {"PUT", "DELETE", "PATCH", "OPTIONS"};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        http_reply r;
        assert_int_equal(http_request(daq_http_port(h), methods[i], "/echo", "x=1", &r), 0);
        if (r.status != 405)
            fail_msg("%s answered %d", methods[i], r.status);
        char v[64];
        assert_non_null(http_header(&r, "Allow", v, sizeof v));
        assert_string_equal(v, "GET, HEAD, POST");
        assert_string_equal(r.body, "method not allowed\n");
        free(r.raw);
    }
    assert_int_equal(atomic_load(&c.calls), 0); /* the handler never saw them */
    /* HEAD: the handler runs as for GET, the reply has no body */
    http_reply r;
    assert_int_equal(http_request(daq_http_port(h), "HEAD", "/echo", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "");
    assert_string_equal(c.method, "HEAD");
    assert_true(c.body_null);
    free(r.raw);
    daq_http_stop(h);
    free(c.body);
}

/* Sends req[0..len) on a fresh connection and reads the reply to EOF. */
static int http_raw(uint16_t port, const char *req, size_t len, http_reply *r)
{
    memset(r, 0, sizeof *r);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct timeval tv = {.tv_sec = 30};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    size_t sent = 0;
    while (sent < len) {
        ssize_t k = send(fd, req + sent, len - sent, MSG_NOSIGNAL);
        if (k <= 0)
            break; /* the server may close early (413): read what it said */
        sent += (size_t)k;
    }
    size_t cap = 65536, got = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (;;) {
        ssize_t k = recv(fd, buf + got, cap - got - 1, 0);
        if (k <= 0)
            break;
        got += (size_t)k;
        if (got + 1 >= cap)
            break;
    }
    close(fd);
    buf[got] = '\0';
    if (sscanf(buf, "HTTP/1.%*d %d", &r->status) != 1) {
        free(buf);
        return -1;
    }
    r->raw = buf;
    const char *sep = strstr(buf, "\r\n\r\n");
    r->body = sep ? sep + 4 : "";
    return 0;
}

static daq_http *server_start_limits(server_ctx *c, daq_http_limits lim);
static daq_http_stats stats_of(const daq_http *h);

static daq_http *server_start_body(server_ctx *c, size_t max_body)
{
    char err[256];
    daq_http_opts o = {
        .bind = "127.0.0.1", .handler = handle, .ctx = c, .max_body_bytes = max_body};
    daq_http *h = daq_http_start_opts(&o, err, sizeof err);
    if (!h)
        fail_msg("http start: %s", err);
    return h;
}

/* A POST's body reaches the handler byte for byte (NULs and all), with the
 * request's headers and the peer. */
static void http_post_body_reaches_handler(void **state)
{
    server_ctx c;
    server_ctx_init(&c, NULL, 0);
    daq_http *h = server_start_body(&c, 4096);
    uint8_t body[4096];
    for (size_t i = 0; i < sizeof body; i++)
        body[i] = (uint8_t)(i * 7 + (i >> 8));
    body[0] = 0;
    char req[8192];
    int n = snprintf(req, sizeof req,
                     "POST /echo HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nConnection: close\r\n"
                     "Content-Type: application/x-protobuf\r\nOrigin: http://127.0.0.1:%u\r\n"
                     "Authorization: Bearer abc\r\nContent-Length: %zu\r\n\r\n",
                     (unsigned)daq_http_port(h), (unsigned)daq_http_port(h), sizeof body);
    memcpy(req + n, body, sizeof body); /* exactly the limit: accepted */
    http_reply r;
    assert_int_equal(http_raw(daq_http_port(h), req, (size_t)n + sizeof body, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "got 4096\n");
    free(r.raw);
    assert_string_equal(c.method, "POST");
    assert_int_equal(c.body_len, sizeof body);
    assert_memory_equal(c.body, body, sizeof body);
    assert_string_equal(c.content_type, "application/x-protobuf");
    assert_string_equal(c.authorization, "Bearer abc");
    char want[64];
    snprintf(want, sizeof want, "http://127.0.0.1:%u", (unsigned)daq_http_port(h));
    assert_string_equal(c.origin, want);
    assert_string_equal(c.host, want + 7);
    assert_true(strncmp(c.peer, "127.0.0.1:", 10) == 0 && atoi(c.peer + 10) > 0);

    /* an empty POST reaches it too, with a non-NULL empty body */
    assert_int_equal(http_request(daq_http_port(h), "POST", "/echo", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "got 0\n");
    assert_false(c.body_null);
    assert_string_equal(c.origin, "(null)");
    free(r.raw);
    /* a GET has no body */
    assert_int_equal(http_request(daq_http_port(h), "GET", "/echo", NULL, &r), 0);
    assert_string_equal(r.body, "got 0\n");
    assert_true(c.body_null);
    free(r.raw);
    daq_http_stop(h);
    free(c.body);
}

/* Over max_body_bytes, declared or sent (chunked): 413, handler not called. */
static void http_post_too_large_413(void **state)
{
    server_ctx c;
    server_ctx_init(&c, NULL, 0);
    daq_http *h = server_start_body(&c, 1024);
    http_reply r;
    char req[4096];
    int n = snprintf(req, sizeof req,
                     "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     "Content-Length: 1025\r\n\r\n");
    memset(req + n, 'a', 1025);
    assert_int_equal(http_raw(daq_http_port(h), req, (size_t)n + 1025, &r), 0);
    assert_int_equal(r.status, 413);
    assert_string_equal(r.body, "request body too large (1025 bytes, at most 1024)\n");
    free(r.raw);
    /* declared huge, nothing sent: refused on the headers alone */
    n = snprintf(req, sizeof req,
                 "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\r\n");
    assert_int_equal(http_raw(daq_http_port(h), req, (size_t)n, &r), 0);
    assert_int_equal(r.status, 413);
    assert_string_equal(r.body, "request body too large (10000000000 bytes, at most 1024)\n");
    free(r.raw);
    /* chunked, no length declared: refused once the body has grown over
     * (MHD takes the reply at the body's end; all 1800 bytes are counted) */
    n = snprintf(req, sizeof req,
                 "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n");
    for (int k = 0; k < 3; k++) {
        n += snprintf(req + n, sizeof req - (size_t)n, "258\r\n"); /* 600 bytes */
        memset(req + n, 'b', 600);
        n += 600;
        n += snprintf(req + n, sizeof req - (size_t)n, "\r\n");
    }
    n += snprintf(req + n, sizeof req - (size_t)n, "0\r\n\r\n");
    assert_int_equal(http_raw(daq_http_port(h), req, (size_t)n, &r), 0);
    assert_int_equal(r.status, 413);
    unsigned long long got = 0;
    if (sscanf(r.body, "request body too large (%llu bytes, at most 1024)", &got) != 1)
        fail_msg("413 body: %s", r.body);
    assert_int_equal(got, 1800);
    free(r.raw);
    assert_int_equal(atomic_load(&c.calls), 0);
    /* and the server goes on */
    assert_int_equal(http_request(daq_http_port(h), "POST", "/echo", "small", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "got 5\n");
    free(r.raw);
    daq_http_stop(h);
    free(c.body);
}

/* A body trickled in is bound by the same absolute deadline as headers. */
static void http_post_trickle_hits_deadline(void **state)
{
    server_ctx c;
    server_ctx_init(&c, NULL, 0);
    daq_http *h = server_start_limits(&c, (daq_http_limits){.request_deadline_ms = 400});
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(daq_http_port(h))};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    static const char head[] = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n";
    assert_int_equal(send(fd, head, sizeof head - 1, MSG_NOSIGNAL), (ssize_t)(sizeof head - 1));
    uint64_t t0 = daq_test_now_ns();
    bool closed = false;
    for (size_t i = 0; i < 200 && !closed; i++) { /* 10 s at most */
        usleep(50 * 1000);
        char b;
        ssize_t got = recv(fd, &b, 1, MSG_DONTWAIT);
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ||
            send(fd, "z", 1, MSG_NOSIGNAL) != 1)
            closed = true;
    }
    double s = (double)(daq_test_now_ns() - t0) / 1e9;
    close(fd);
    printf("trickled body closed after %.3f s (deadline 0.4 s)\n", s);
    assert_true(closed);
    assert_true(s >= 0.3 && s < 5.0);
    assert_int_equal(stats_of(h).rejected[DAQ_HTTP_REJECT_DEADLINE], 1);
    assert_int_equal(atomic_load(&c.calls), 0);
    daq_http_stop(h);
}

static void http_query_args_decoded(void **state)
{
    server_ctx c;
    server_ctx_init(&c, NULL, 0);
    daq_http *h = server_start(&c);
    http_reply r;
    assert_int_equal(http_request(daq_http_port(h), "GET", "/args?a=1&b=x%20y", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "a=[1] b=[x y] c=[NULL]\n");
    free(r.raw);
    daq_http_stop(h);
}

static void http_response_headers(void **state)
{
    server_ctx c;
    server_ctx_init(&c, NULL, 0);
    daq_http *h = server_start(&c);
    http_reply r;
    assert_int_equal(http_request(daq_http_port(h), "GET", "/headers", NULL, &r), 0);
    assert_int_equal(r.status, 204);
    char v[64];
    assert_non_null(http_header(&r, "X-Daq-Seq", v, sizeof v));
    assert_string_equal(v, "42");
    assert_non_null(http_header(&r, "Cache-Control", v, sizeof v));
    assert_string_equal(v, "no-store");
    assert_null(http_header(&r, "X-Evil", v, sizeof v));
    assert_null(http_header(&r, "Set-Cookie", v, sizeof v));
    free(r.raw);
    daq_http_stop(h);

    /* the rules, without a server */
    daq_http_response out = {.status = 200};
    assert_int_equal(daq_http_response_header(&out, "X-A", "a\nb"), -1);
    assert_int_equal(daq_http_response_header(&out, "X-A\r\nX-B", "1"), -1);
    assert_int_equal(daq_http_response_header(&out, "X-A: b", "1"), -1);
    assert_int_equal(daq_http_response_header(&out, "", "1"), -1);
    assert_int_equal(daq_http_response_header(&out, "X-A", NULL), -1);
    assert_int_equal(out.n_headers, 0);
    char big[1000];
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    for (unsigned i = 0; i < DAQ_HTTP_MAX_HEADERS; i++)
        assert_int_equal(daq_http_response_header(&out, "X-Big", big), 0);
    assert_int_equal(strlen(out.headers[0].value), DAQ_HTTP_HEADER_VALUE_MAX - 1);
    assert_int_equal(daq_http_response_header(&out, "X-One-Too-Many", "1"), -1);
    assert_int_equal(out.n_headers, DAQ_HTTP_MAX_HEADERS);
}

static void http_port_in_use(void **state)
{
    server_ctx c;
    server_ctx_init(&c, NULL, 0);
    daq_http *h = server_start(&c);
    uint16_t port = daq_http_port(h);
    char err[256] = "", want[128];
    daq_http *second = daq_http_start("127.0.0.1", port, handle, &c, err, sizeof err);
    assert_null(second);
    snprintf(want, sizeof want, "127.0.0.1:%u: Address already in use", (unsigned)port);
    assert_string_equal(err, want);
    /* the first server is unharmed */
    http_reply r;
    assert_int_equal(http_request(port, "GET", "/healthz", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    free(r.raw);
    daq_http_stop(h);

    assert_null(daq_http_start("localhost", 0, handle, &c, err, sizeof err));
    assert_string_equal(err, "'localhost': 'localhost' is not an IPv4 or IPv6 address (e.g. "
                             "127.0.0.1, 0.0.0.0, ::1, ::, or 0.0.0.0,:: for both)");
    daq_http_stop(NULL);
}

typedef struct client_arg {
    uint16_t port;
    const char *path;
    int rc, status, ok;
} client_arg;

static void *client(void *arg)
{
    client_arg *a = arg;
    http_reply r;
    a->rc = http_request(a->port, "GET", a->path, NULL, &r);
    if (a->rc == 0) {
        a->status = r.status;
        free(r.raw);
    }
    return NULL;
}

typedef struct stopper_arg {
    daq_http *h;
    server_ctx *c;
    atomic_bool returned;
    bool done_at_return;
} stopper_arg;

static void *stopper(void *arg)
{
    stopper_arg *s = arg;
    daq_http_stop(s->h);
    pthread_mutex_lock(&s->c->mu);
    s->done_at_return = s->c->done;
    pthread_mutex_unlock(&s->c->mu);
    atomic_store(&s->returned, true);
    return NULL;
}

static void http_stop_waits_for_running_handler(void **state)
{
    server_ctx c;
    server_ctx_init(&c, NULL, 0);
    daq_http *h = server_start(&c);
    client_arg ca = {.port = daq_http_port(h), .path = "/slow"};
    pthread_t ct, st;
    pthread_create(&ct, NULL, client, &ca);

    pthread_mutex_lock(&c.mu);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 30;
    while (!c.entered)
        if (pthread_cond_timedwait(&c.cv, &c.mu, &until) != 0)
            break;
    assert_true(c.entered);
    pthread_mutex_unlock(&c.mu);

    stopper_arg sa = {.h = h, .c = &c};
    pthread_create(&st, NULL, stopper, &sa);
    usleep(200 * 1000);
    /* The handler is blocked on us: a stop that returned now did not wait. */
    assert_false(atomic_load(&sa.returned));
    pthread_mutex_lock(&c.mu);
    c.release = true;
    pthread_cond_broadcast(&c.cv);
    pthread_mutex_unlock(&c.mu);
    pthread_join(st, NULL);
    assert_true(sa.done_at_return);
    pthread_join(ct, NULL);
    printf("client during stop: rc=%d status=%d\n", ca.rc, ca.status);
    assert_true(ca.rc == -1 || ca.status == 200);
}

static void http_concurrent_scrapes_while_streaming(void **state)
{
    rig r;
    rig_create(&r, "cam0", 0, 0);
    rig_start(&r, 0);
    rig_wait_delivered(&r, 20);
    daq_metrics_device dev = {.id = "cam0", .driver = "sim", .acq = r.acq, .bus = r.bus};
    server_ctx c;
    server_ctx_init(&c, &dev, 1);
    daq_http *h = server_start(&c);
    enum { CLIENTS = 4, ROUNDS = 10 };
    double last_delivered = -1;
    for (int round = 0; round < ROUNDS; round++) {
        client_arg ca[CLIENTS];
        pthread_t t[CLIENTS];
        for (int i = 0; i < CLIENTS; i++) {
            ca[i] = (client_arg){.port = daq_http_port(h), .path = "/metrics"};
            pthread_create(&t[i], NULL, client, &ca[i]);
        }
        for (int i = 0; i < CLIENTS; i++) {
            pthread_join(t[i], NULL);
            assert_int_equal(ca[i].rc, 0);
            assert_int_equal(ca[i].status, 200);
        }
        http_reply one;
        assert_int_equal(http_request(daq_http_port(h), "GET", "/metrics", NULL, &one), 0);
        double d = value_of(one.body, "daq_acquisition_frames_delivered_total{device=\"cam0\"}");
        assert_true(d >= last_delivered); /* one stream: the counter only grows */
        last_delivered = d;
        free(one.raw);
    }
    daq_http_stop(h);
    assert_int_equal(atomic_load(&c.calls), ROUNDS * (CLIENTS + 1));
    rig_destroy(&r);
}

/* ---- limits --------------------------------------------------------------------------------- */

static daq_http *server_start_limits(server_ctx *c, daq_http_limits lim)
{
    char err[256];
    daq_http *h = daq_http_start_limits("127.0.0.1", 0, handle, c, &lim, err, sizeof err);
    if (!h)
        fail_msg("http start: %s", err);
    return h;
}

/* A connection from 127.0.0.1 that has sent the start of a request. */
static int stalled_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(send(fd, "GET /metr", 9, MSG_NOSIGNAL), 9);
    return fd;
}

static daq_http_stats stats_of(const daq_http *h)
{
    daq_http_stats st;
    daq_http_stats_snapshot(h, &st);
    return st;
}

/* Polls until the server has n connections open (30 s at most). */
static void wait_open(const daq_http *h, uint32_t n)
{
    uint64_t until = daq_test_now_ns() + 30ull * 1000000000ull;
    while (stats_of(h).open != n && daq_test_now_ns() < until)
        usleep(5 * 1000);
    assert_int_equal(stats_of(h).open, n);
}

static void http_trickle_does_not_extend_deadline(void **state)
{
    server_ctx c;
    server_ctx_init(&c, NULL, 0);
    daq_http *h = server_start_limits(&c, (daq_http_limits){.request_deadline_ms = 400});
    int fd = stalled_connect(daq_http_port(h));
    uint64_t t0 = daq_test_now_ns();
    /* One byte every 50 ms: an idle timeout would never fire. */
    bool closed = false;
    static const char more[] =
        "ics HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    for (size_t i = 0; i < 200 && !closed; i++) { /* 10 s at most */
        usleep(50 * 1000);
        char b;
        ssize_t got = recv(fd, &b, 1, MSG_DONTWAIT);
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ||
            send(fd, &more[i % (sizeof more - 1)], 1, MSG_NOSIGNAL) != 1)
            closed = true;
    }
    double s = (double)(daq_test_now_ns() - t0) / 1e9;
    close(fd);
    printf("trickling client closed after %.3f s (deadline 0.4 s)\n", s);
    assert_true(closed);
    assert_true(s >= 0.3 && s < 5.0);
    daq_http_stats st = stats_of(h);
    assert_int_equal(st.rejected[DAQ_HTTP_REJECT_DEADLINE], 1);
    assert_int_equal(st.accepted, 1);
    http_reply r; /* and the endpoint still answers */
    assert_int_equal(http_request(daq_http_port(h), "GET", "/healthz", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    free(r.raw);
    daq_http_stop(h);
}

static void http_stalled_connection_evicted_for_whole_request(void **state)
{
    server_ctx c;
    server_ctx_init(&c, NULL, 0);
    daq_http *h = server_start_limits(&c, (daq_http_limits){.max_per_client = 2});
    int a = stalled_connect(daq_http_port(h)), b = stalled_connect(daq_http_port(h));
    wait_open(h, 2);
    usleep(150 * 1000); /* older than the eviction's minimum age */
    http_reply r;
    assert_int_equal(http_request(daq_http_port(h), "GET", "/healthz", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    free(r.raw);
    daq_http_stats st = stats_of(h);
    assert_int_equal(st.rejected[DAQ_HTTP_REJECT_EVICTED], 1);
    assert_int_equal(st.rejected[DAQ_HTTP_REJECT_CLIENT_LIMIT], 0);
    assert_int_equal(st.accepted, 3);
    /* the oldest went: reading it gives EOF */
    struct timeval tv = {.tv_sec = 10};
    setsockopt(a, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[64];
    assert_int_equal(recv(a, buf, sizeof buf, 0), 0);
    close(a);
    close(b);
    daq_http_stop(h);
}

static void http_busy_client_refused_other_address_served(void **state)
{
    server_ctx c;
    server_ctx_init(&c, NULL, 0);
    daq_http *h = server_start_limits(&c, (daq_http_limits){.max_per_client = 1});
    client_arg ca = {.port = daq_http_port(h), .path = "/slow"};
    pthread_t ct;
    pthread_create(&ct, NULL, client, &ca);
    pthread_mutex_lock(&c.mu);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 30;
    while (!c.entered)
        if (pthread_cond_timedwait(&c.cv, &c.mu, &until) != 0)
            break;
    assert_true(c.entered);
    pthread_mutex_unlock(&c.mu);
    usleep(150 * 1000); /* old enough to evict, were it not in its handler */

    /* 127.0.0.1's one slot is in a handler: refused, not evicted */
    http_reply r;
    assert_int_equal(http_request(daq_http_port(h), "GET", "/healthz", NULL, &r), -1);
    /* another address is served meanwhile */
    assert_int_equal(http_request_from("127.0.0.2", daq_http_port(h), "GET", "/healthz", NULL, &r),
                     0);
    assert_int_equal(r.status, 200);
    free(r.raw);
    daq_http_stats st = stats_of(h);
    assert_int_equal(st.rejected[DAQ_HTTP_REJECT_CLIENT_LIMIT], 1);
    assert_int_equal(st.rejected[DAQ_HTTP_REJECT_EVICTED], 0);

    pthread_mutex_lock(&c.mu);
    c.release = true;
    pthread_cond_broadcast(&c.cv);
    pthread_mutex_unlock(&c.mu);
    pthread_join(ct, NULL);
    assert_int_equal(ca.rc, 0);
    assert_int_equal(ca.status, 200);
    daq_http_stop(h);
}

static void http_families_rendered(void **state)
{
    (void)state;
    daq_http_stats hs = {.accepted = 7, .open = 2};
    hs.rejected[DAQ_HTTP_REJECT_DEADLINE] = 3;
    hs.rejected[DAQ_HTTP_REJECT_EVICTED] = 11;
    daq_metrics_sources src = {.process_start_ns = daq_test_now_ns(), .http = &hs};
    size_t len;
    char *text = daq_metrics_render_sources(&src, &len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    check_layout(text);
    assert_non_null(strstr(text, "# TYPE daq_http_rejected_connections_total counter\n"));
    assert_true(value_of(text, "daq_http_rejected_connections_total{reason=\"deadline\"}") == 3);
    assert_true(value_of(text, "daq_http_rejected_connections_total{reason=\"evicted\"}") == 11);
    assert_true(value_of(text, "daq_http_rejected_connections_total{reason=\"client_limit\"}") ==
                0);
    assert_true(value_of(text, "daq_http_rejected_connections_total{reason=\"limit\"}") == 0);
    assert_true(value_of(text, "daq_http_connections_accepted_total") == 7);
    assert_true(value_of(text, "daq_http_connections_open") == 2);
    free(text);
    text = daq_metrics_render(NULL, 0, NULL, daq_test_now_ns(), NULL); /* no server: none */
    assert_null(strstr(text, "daq_http_"));
    free(text);
}

/* ---- the recorder's families ------------------------------------------------------------ */

static void recorder_families_absent_without_storage(void **state)
{
    (void)state;
    daq_metrics_device devs[] = {{.id = "cam0", .driver = "sim"}};
    char *text = render(devs, 1); /* storage NULL */
    assert_null(strstr(text, "daq_recorder_"));
    free(text);
}

#ifdef DAQ_WITH_STORAGE

static const struct {
    const char *family, *type;
} recorder_families[] = {
    {"daq_recorder_frames_total", "counter"},
    {"daq_recorder_bytes_total", "counter"},
    {"daq_recorder_dropped_frames_total", "counter"},
    {"daq_recorder_errors_total", "counter"},
    {"daq_recorder_disk_free_bytes", "gauge"},
    {"daq_recorder_recording", "gauge"},
    {"daq_recorder_queue_fill_ratio", "gauge"},
    {"daq_recorder_flush_duration_seconds", "histogram"},
};

/* A sim device ("rec0", 64x64x16 at 500 FPS) in a daq_devices table, and a
 * recorder on it writing uncompressed into a fresh directory. */
typedef struct rec_rig {
    daq_config cfg;
    daq_devices *ds;
    daq_acq *acq;
    daq_storage *st;
    char root[64];
} rec_rig;

static void rec_rig_create(rec_rig *r)
{
    static const char text[] = "[[devices]]\n"
                               "id = \"rec0\"\n"
                               "[devices.driver]\n"
                               "type = \"sim\"\n"
                               "width = 64\n"
                               "height = 64\n"
                               "frame_rate_hz = 500.0\n"
                               "exposure_ms = 1.0\n"
                               "timing = \"realistic\"\n";
    char err[512];
    memset(r, 0, sizeof *r);
    if (daq_config_load_text(text, strlen(text), "rec.toml", &r->cfg, err, sizeof err) != 0)
        fail_msg("config: %s", err);
    r->cfg.acq.reserve_bytes = 1u << 20; /* the recorder's queue, as the daemon keeps it */
    r->ds = daq_devices_create(&r->cfg, NULL, err, sizeof err);
    if (!r->ds)
        fail_msg("devices: %s", err);
    r->acq = daq_device_acq(daq_devices_find(r->ds, "rec0"));
    assert_non_null(r->acq);
    snprintf(r->root, sizeof r->root, "/tmp/daq-metrics-rec-XXXXXX");
    assert_non_null(mkdtemp(r->root));
    daq_storage_config sc;
    daq_storage_config_init(&sc);
    snprintf(sc.root, sizeof sc.root, "%s", r->root);
    sc.hdf5.compression = DAQ_CODEC_NONE;
    sc.max_buffer_mb = 1;
    sc.flush_interval_ms = 20; /* several flushes in a short recording */
    r->st = daq_storage_create(r->ds, &sc, err, sizeof err);
    if (!r->st)
        fail_msg("storage: %s", err);
    if (daq_acq_start(r->acq, 0, err, sizeof err) != 0)
        fail_msg("start: %s", err);
}

static void rec_rig_record(rec_rig *r, uint64_t frame_limit, daq_recording_status *out)
{
    daq_record_request req = {.name = "metrics", .frame_limit = frame_limit};
    char err[256];
    if (daq_storage_start(r->st, &req, out, err, sizeof err) != 0)
        fail_msg("record: %s", err);
}

static void rec_rig_destroy(rec_rig *r)
{
    daq_acq_stop(r->acq);
    daq_storage_destroy(r->st);
    daq_devices_destroy(r->ds);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->root);
    assert_int_equal(system(cmd), 0);
}

static char *render_rig(rec_rig *r)
{
    daq_metrics_device views[4];
    size_t n = daq_metrics_device_views(r->ds, views, 4);
    size_t len = 0;
    char *text = daq_metrics_render(views, n, r->st, daq_test_now_ns(), &len);
    assert_non_null(text);
    assert_int_equal(len, strlen(text));
    return text;
}

static void recorder_counters_match_snapshot_after_stop(void **state)
{
    (void)state;
    static rec_rig r;
    rec_rig_create(&r);
    char *text = render_rig(&r); /* before any recording: zeros */
    check_layout(text);
    for (size_t i = 0; i < sizeof recorder_families / sizeof recorder_families[0]; i++) {
        const char *t = type_of(text, recorder_families[i].family);
        if (!t || strcmp(t, recorder_families[i].type) != 0)
            fail_msg("%s: type %s, want %s", recorder_families[i].family, t ? t : "(missing)",
                     recorder_families[i].type);
    }
    assert_series_u64(text, "daq_recorder_frames_total", 0);
    assert_series_u64(text, "daq_recorder_recording", 0);
    assert_series_u64(text, "daq_recorder_flush_duration_seconds_count", 0);
    assert_true(value_of(text, "daq_recorder_disk_free_bytes") > 0);
    free(text);

    enum { FRAMES = 120 };
    daq_recording_status s;
    rec_rig_record(&r, FRAMES, &s);
    assert_true(daq_storage_wait_ended(r.st, 30000));
    char err[256];
    if (daq_storage_stop(r.st, s.recording_id, NULL, 0, &s, err, sizeof err) != 0)
        fail_msg("stop: %s", err);
    assert_int_equal(s.samples_recorded, FRAMES);

    daq_storage_stats st;
    daq_storage_stats_snapshot(r.st, &st);
    text = render_rig(&r); /* nothing records now: the same instant */
    check_layout(text);
    assert_series_u64(text, "daq_recorder_frames_total", st.frames_written);
    assert_int_equal(st.frames_written, FRAMES);
    assert_series_u64(text, "daq_recorder_bytes_total", st.bytes_written);
    assert_true(st.bytes_written >= (uint64_t)FRAMES * 64 * 64 * 2); /* uncompressed pixels */
    assert_series_u64(text, "daq_recorder_dropped_frames_total", st.frames_dropped);
    assert_series_u64(text, "daq_recorder_errors_total", st.errors);
    assert_int_equal(st.errors, 0);
    assert_series_u64(text, "daq_recorder_recording", 0);
    assert_true(value_of(text, "daq_recorder_queue_fill_ratio") ==
                (double)st.queue_fill_percent / 100.0);

    /* the flush histogram: le 2^i ms, cumulative, +Inf == _count == the
     * snapshot's total, at least the flush at stop */
    const char *h = "daq_recorder_flush_duration_seconds";
    double last = 0;
    for (unsigned i = 0; i < DAQ_STORAGE_FLUSH_BUCKETS; i++) {
        char le[32];
        snprintf(le, sizeof le, "%g", (double)(1u << i) / 1e3);
        double v = value_of(text, S("%s_bucket{le=\"%s\"}", h, le));
        assert_true(v == (double)st.flush_bucket[i]);
        assert_true(v >= last);
        last = v;
    }
    uint64_t total = st.flush_bucket[DAQ_STORAGE_FLUSH_BUCKETS];
    assert_true(total >= 1 && (double)total >= last);
    assert_series_u64(text, S("%s_bucket{le=\"+Inf\"}", h), total);
    assert_series_u64(text, S("%s_count", h), total);
    double sum = value_of(text, S("%s_sum", h));
    assert_true(fabs(sum - (double)st.flush_ns_sum / 1e9) < 1e-9);
    free(text);
    rec_rig_destroy(&r);
}

static void recorder_gauge_follows_recording(void **state)
{
    (void)state;
    static rec_rig r;
    rec_rig_create(&r);
    daq_recording_status s;
    rec_rig_record(&r, 0, &s); /* until stopped */
    char *text = render_rig(&r);
    assert_series_u64(text, "daq_recorder_recording", 1);
    double fill = value_of(text, "daq_recorder_queue_fill_ratio");
    assert_true(fill >= 0 && fill <= 1);
    free(text);
    char err[256];
    if (daq_storage_stop(r.st, NULL, NULL, 0, &s, err, sizeof err) != 0)
        fail_msg("stop: %s", err);
    text = render_rig(&r);
    assert_series_u64(text, "daq_recorder_recording", 0);
    assert_series_u64(text, "daq_recorder_frames_total", s.samples_recorded);
    free(text);
    rec_rig_destroy(&r);
}

#else /* a build without libdaq-storage has no recorder to measure */

static void recorder_counters_match_snapshot_after_stop(void **state)
{
    (void)state;
    skip();
}

static void recorder_gauge_follows_recording(void **state)
{
    (void)state;
    skip();
}

#endif

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(streaming_families_and_types),
    cmocka_unit_test(counters_bracketed_while_streaming),
    cmocka_unit_test(counters_match_stats_after_stream),
    cmocka_unit_test(heap_paths_by_reason),
    cmocka_unit_test(label_values_escaped),
    cmocka_unit_test(device_down_and_idle_engine),
    cmocka_unit_test(process_families),
    cmocka_unit_test(http_get_metrics),
    cmocka_unit_test(http_unknown_path_404),
    cmocka_unit_test(http_other_methods_405),
    cmocka_unit_test(http_post_body_reaches_handler),
    cmocka_unit_test(http_post_too_large_413),
    cmocka_unit_test(http_post_trickle_hits_deadline),
    cmocka_unit_test(http_query_args_decoded),
    cmocka_unit_test(http_response_headers),
    cmocka_unit_test(http_port_in_use),
    cmocka_unit_test(http_stop_waits_for_running_handler),
    cmocka_unit_test(http_concurrent_scrapes_while_streaming),
    cmocka_unit_test(http_trickle_does_not_extend_deadline),
    cmocka_unit_test(http_stalled_connection_evicted_for_whole_request),
    cmocka_unit_test(http_busy_client_refused_other_address_served),
    cmocka_unit_test(http_families_rendered),
    cmocka_unit_test(recorder_families_absent_without_storage),
    cmocka_unit_test(recorder_counters_match_snapshot_after_stop),
    cmocka_unit_test(recorder_gauge_follows_recording),
};

DAQ_TEST_MAIN("metrics", tests)
