/* view/view.c - the live view's HTTP side: routing, the status JSON, the
 * device list, metrics, and the janitor that lets idle taps go.
 *
 * Routes (docs/adr/0010-live-view.md; the contract of issue 14):
 *   /, /index.html, /assets/<name>, /favicon.ico  the page (no token: the
 *                                                  login form must load)
 *   /api/view/devices                             the cameras, JSON
 *   /api/view/<device>/frame                      one binary frame (view_tap.c)
 *   /api/view/<device>/status                     the camera's state, JSON
 * GET and HEAD only (405 with "Allow: GET, HEAD" otherwise).  Everything is
 * read from the device table's own thread-safe snapshots (daq_acq_stats,
 * the watch's symptoms, the camera's parameters, the bus's consumers): a
 * status costs a few microseconds and takes no lock the acquisition thread
 * waits on (the bus snapshot holds each subscription's lock for a copy).
 * The consumers list (issue 16) names every subscription of the camera's
 * bus -- gRPC streams, the recorder, this view, tap readers "tap:<id>:<pid>"
 * -- at most a bus's 320, so its snapshot goes to the heap.
 *
 * The janitor is one thread for the whole view, waking once a second (a
 * condvar wait, cut short at destroy) to unsubscribe taps nobody polled
 * for 10 s: without it a viewer that closed its tab would keep a pool slot
 * and a bus subscription forever.  Test only: DAQ_TEST_VIEW_IDLE_MS=N
 * (1..600000) makes that N ms (the janitor then wakes every N/4 ms), so a
 * test sees a tap go idle and come back in a second or two.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daq/acq.h"
#include "daq/bus.h"
#include "daq/camera.h"
#include "daq/log.h"
#include "daq/watch.h"
#include "util/clock.h"
#include "util/sbuf.h"
#include "util/text.h"
#include "view/view_assets.h"
#include "view/view_internal.h"

#define DEF_MAX_PAYLOAD_MB 32u
#define MAX_PAYLOAD_MB     1024u
#define JANITOR_PERIOD_NS  1000000000ull

/* What docs/rollback.md (§1, §4) says about the live use_pool toggle; the
 * page shows it before it sends the switch. */
static const char ROLLBACK_ADVICE[] =
    "Turning acquisition.use_pool off is the immediate rollback lever (docs/rollback.md): the "
    "next frame goes to the heap, with no restart and no frame lost, and frames keep flowing "
    "through the heap path; use it on any immediate-rollback symptom (pool_exhausted, "
    "alloc_slow, frame_loss). The pool hit rate reads 0 from then on. Turning it back on is the "
    "same switch, after the cause is understood. If the live toggle is not enough, restart with "
    "PVCAM_USE_POOL=0 (the pool off from the first frame).";

/* ---- JSON into a daq_sbuf ------------------------------------------------------------------- */

/* A JSON string. */
static void sb_json_str(daq_sbuf *b, const char *s)
{
    daq_sbuf_puts(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char e[2] = {'\\', (char)*p};
            daq_sbuf_put(b, e, 2);
        } else if (*p < 0x20) {
            daq_sbuf_printf(b, "\\u%04x", *p);
        } else {
            daq_sbuf_put(b, (const char *)p, 1);
        }
    }
    daq_sbuf_puts(b, "\"");
}

/* A JSON number, null when not finite. */
static void sb_json_num(daq_sbuf *b, double v)
{
    if (isfinite(v))
        daq_sbuf_printf(b, "%.17g", v);
    else
        daq_sbuf_puts(b, "null");
}

static void answer_json(daq_http_response *out, daq_sbuf *b)
{
    if (b->oom) {
        free(b->p);
        view_text(out, 503, "view busy: out of memory");
        return;
    }
    out->status = 200;
    out->content_type = "application/json";
    out->body = b->p;
    out->len = b->len;
    out->free_body = true;
    daq_http_response_header(out, "Cache-Control", "no-store");
}

/* ---- life ------------------------------------------------------------------------------------ */

static void *janitor_main(void *arg)
{
    daq_view *v = arg;
    pthread_mutex_lock(&v->mu);
    while (!v->stop_janitor) {
        daq_cond_wait_until(&v->cv, &v->mu, daq_now_ns() + v->janitor_ns);
        if (v->stop_janitor)
            break;
        pthread_mutex_unlock(&v->mu);
        uint64_t now = daq_now_ns();
        for (size_t i = 0; i < v->n; i++)
            view_tap_idle_check(&v->taps[i], now);
        pthread_mutex_lock(&v->mu);
    }
    pthread_mutex_unlock(&v->mu);
    return NULL;
}

daq_view *daq_view_create(daq_devices *devices, const daq_view_config *cfg)
{
    daq_view *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    v->devices = devices;
    if (cfg)
        v->cfg = *cfg;
    if (!v->cfg.max_payload_mb)
        v->cfg.max_payload_mb = DEF_MAX_PAYLOAD_MB;
    if (v->cfg.max_payload_mb > MAX_PAYLOAD_MB) /* LZ4 takes int sizes */
        v->cfg.max_payload_mb = MAX_PAYLOAD_MB;
    v->idle_ns = VIEW_IDLE_NS;
    const char *knob = getenv("DAQ_TEST_VIEW_IDLE_MS");
    if (knob && *knob) {
        char *end;
        unsigned long ms = strtoul(knob, &end, 10);
        if (*end == '\0' && ms >= 1 && ms <= 600000) {
            v->idle_ns = (uint64_t)ms * 1000000ull;
            DAQ_LOG(DAQ_LOG_WARN, "daq::view", "test knob: view taps go idle sooner",
                    DAQ_F_U64("idle_ms", ms));
        }
    }
    v->janitor_ns = v->idle_ns / 4 < JANITOR_PERIOD_NS ? v->idle_ns / 4 : JANITOR_PERIOD_NS;
    v->n = devices ? daq_devices_count(devices) : 0;
    v->taps = calloc(v->n ? v->n : 1, sizeof *v->taps);
    const char *dir = getenv("DAQ_VIEW_ASSETS_DIR");
    if (dir && *dir)
        v->assets_dir = strdup(dir);
    if (!v->taps || (dir && *dir && !v->assets_dir)) {
        free(v->taps);
        free(v->assets_dir);
        free(v);
        return NULL;
    }
    for (size_t i = 0; i < v->n; i++)
        view_tap_init(&v->taps[i], v, daq_devices_at(devices, i));
    atomic_init(&v->shutdown, false);
    pthread_mutex_init(&v->mu, NULL);
    daq_cond_init_monotonic(&v->cv);
    v->janitor_running = pthread_create(&v->janitor, NULL, janitor_main, v) == 0;
    if (!v->janitor_running)
        DAQ_LOG(DAQ_LOG_WARN, "daq::view", "view janitor not started: idle taps stay subscribed",
                DAQ_F_U64("devices", v->n));
    if (v->assets_dir)
        DAQ_LOG(DAQ_LOG_WARN, "daq::view",
                "DAQ_VIEW_ASSETS_DIR set: the page is served from a directory, not from the "
                "build",
                DAQ_F_STR("dir", v->assets_dir));
    return v;
}

void daq_view_shutdown(daq_view *v)
{
    if (!v)
        return;
    atomic_store(&v->shutdown, true);
    for (size_t i = 0; i < v->n; i++)
        view_tap_wake(&v->taps[i]);
}

void daq_view_destroy(daq_view *v)
{
    if (!v)
        return;
    daq_view_shutdown(v);
    if (v->janitor_running) {
        pthread_mutex_lock(&v->mu);
        v->stop_janitor = true;
        pthread_cond_broadcast(&v->cv);
        pthread_mutex_unlock(&v->mu);
        pthread_join(v->janitor, NULL);
    }
    for (size_t i = 0; i < v->n; i++)
        view_tap_fini(&v->taps[i]);
    pthread_cond_destroy(&v->cv);
    pthread_mutex_destroy(&v->mu);
    free(v->taps);
    free(v->assets_dir);
    free(v);
}

/* ---- routes ------------------------------------------------------------------------------------
 */

bool daq_view_path_public(const char *path)
{
    if (!path)
        return false;
    return strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0 ||
           strcmp(path, "/favicon.ico") == 0 || strncmp(path, "/assets/", 8) == 0;
}

static view_tap *tap_find(daq_view *v, const char *id)
{
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->taps[i].id, id) == 0)
            return &v->taps[i];
    return NULL;
}

static void camera_format(daq_device *d, daq_camera_format *fmt, bool *known)
{
    daq_camera *cam = daq_device_camera(d);
    char err[128];
    *known = cam && daq_camera_get_format(cam, fmt, err, sizeof err) == 0;
    if (!*known)
        memset(fmt, 0, sizeof *fmt);
}

static void json_u32_or_null(daq_sbuf *b, bool known, uint32_t v)
{
    if (known)
        daq_sbuf_printf(b, "%" PRIu32, v);
    else
        daq_sbuf_puts(b, "null");
}

static void answer_devices(daq_view *v, daq_http_response *out)
{
    daq_sbuf b = {0};
    daq_sbuf_puts(&b, "{\"devices\":[");
    for (size_t i = 0; i < v->n; i++) {
        daq_device *d = v->taps[i].dev;
        daq_camera_format fmt;
        bool known;
        camera_format(d, &fmt, &known);
        daq_acq *acq = daq_device_acq(d);
        if (i)
            daq_sbuf_puts(&b, ",");
        daq_sbuf_puts(&b, "{\"id\":");
        sb_json_str(&b, daq_device_id(d));
        daq_sbuf_puts(&b, ",\"name\":");
        sb_json_str(&b, daq_device_name(d) ? daq_device_name(d) : daq_device_id(d));
        daq_sbuf_puts(&b, ",\"width\":");
        json_u32_or_null(&b, known, fmt.width);
        daq_sbuf_puts(&b, ",\"height\":");
        json_u32_or_null(&b, known, fmt.height);
        daq_sbuf_puts(&b, ",\"bit_depth\":");
        json_u32_or_null(&b, known, fmt.bit_depth);
        daq_sbuf_printf(&b, ",\"streaming\":%s}",
                        acq && daq_acq_state_get(acq) == DAQ_ACQ_STREAMING ? "true" : "false");
    }
    daq_sbuf_puts(&b, "]}\n");
    answer_json(out, &b);
}

/* "consumers":[{name, policy, delivered, dropped}, ...] of d's bus; an
 * empty list when out of memory (the status still answers). */
#define VIEW_CONSUMERS_MAX 320u /* a bus's subscriptions, at most */
static void json_consumers(daq_sbuf *b, daq_device *d)
{
    daq_bus *bus = daq_device_bus(d);
    daq_sub_stats *st = bus ? malloc(VIEW_CONSUMERS_MAX * sizeof *st) : NULL;
    unsigned n = st ? daq_bus_stats_snapshot(bus, st, VIEW_CONSUMERS_MAX) : 0;
    daq_sbuf_puts(b, ",\"consumers\":[");
    for (unsigned i = 0; i < n; i++) {
        daq_sbuf_puts(b, i ? ",{\"name\":" : "{\"name\":");
        sb_json_str(b, st[i].name);
        daq_sbuf_puts(b, ",\"policy\":");
        sb_json_str(b, daq_sub_policy_name(st[i].policy));
        daq_sbuf_printf(b, ",\"delivered\":%" PRIu64 ",\"dropped\":%" PRIu64 "}", st[i].delivered,
                        st[i].dropped);
    }
    daq_sbuf_puts(b, "]");
    free(st);
}

static void answer_status(view_tap *t, daq_http_response *out)
{
    daq_device *d = t->dev;
    uint64_t now = daq_now_ns();
    daq_camera_format fmt;
    bool known;
    camera_format(d, &fmt, &known);
    daq_acq *acq = daq_device_acq(d);
    daq_acq_stats st;
    if (acq)
        daq_acq_stats_snapshot(acq, &st);
    else
        memset(&st, 0, sizeof st);
    bool streaming = acq && st.state == DAQ_ACQ_STREAMING;
    double fps = acq ? view_tap_fps(t, streaming, st.delivered, st.fps, now) : NAN;
    double exposure = NAN;
    daq_camera *cam = daq_device_camera(d);
    daq_param_value pv;
    char err[128];
    if (cam && daq_camera_get_param(cam, "exposure_ms", &pv, err, sizeof err) == 0)
        exposure = pv.type == DAQ_PARAM_INT ? (double)pv.i : pv.f;
    daq_symptom_state sym[DAQ_SYMPTOM_COUNT];
    daq_device_symptoms(d, sym);
    daq_device_rollback rb;
    daq_device_rollback_snapshot(d, &rb);
    unsigned viewers = view_tap_viewers(t, now);
    pthread_mutex_lock(&t->mu);
    uint64_t served = t->served[0] + t->served[1] + t->served[2];
    uint64_t seq = t->seq;
    pthread_mutex_unlock(&t->mu);

    daq_sbuf b = {0};
    daq_sbuf_puts(&b, "{\"device\":");
    sb_json_str(&b, t->id);
    daq_sbuf_printf(&b, ",\"streaming\":%s,\"width\":", streaming ? "true" : "false");
    json_u32_or_null(&b, known, fmt.width);
    daq_sbuf_puts(&b, ",\"height\":");
    json_u32_or_null(&b, known, fmt.height);
    daq_sbuf_puts(&b, ",\"bit_depth\":");
    json_u32_or_null(&b, known, fmt.bit_depth);
    daq_sbuf_puts(&b, ",\"camera_fps\":");
    sb_json_num(&b, fps);
    daq_sbuf_printf(&b, ",\"frames_delivered\":%" PRIu64 ",\"frames_lost\":%" PRIu64, st.delivered,
                    st.lost);
    daq_sbuf_puts(&b, ",\"exposure_ms\":");
    sb_json_num(&b, exposure);
    if (acq) {
        daq_sbuf_printf(&b,
                        ",\"use_pool\":%s,\"pool_slots\":%" PRIu32 ",\"pool_in_use\":%" PRIu32
                        ",\"pool_hit_rate\":",
                        daq_acq_use_pool(acq) ? "true" : "false", st.pool.slot_count,
                        st.pool.in_use);
        sb_json_num(&b, st.pool.hit_rate);
        daq_sbuf_printf(&b, ",\"pool_misses\":%" PRIu64 ",\"heap_fallbacks\":%" PRIu64,
                        st.pool.misses, st.heap_fallbacks);
    } else {
        daq_sbuf_puts(&b, ",\"use_pool\":null,\"pool_slots\":null,\"pool_in_use\":null,"
                          "\"pool_hit_rate\":null,\"pool_misses\":null,\"heap_fallbacks\":null");
    }
    daq_sbuf_puts(&b, ",\"symptoms\":[");
    bool first = true;
    for (int k = 0; k < DAQ_SYMPTOM_COUNT; k++) {
        if (!sym[k].active)
            continue;
        daq_sbuf_puts(&b, first ? "{\"symptom\":" : ",{\"symptom\":");
        first = false;
        sb_json_str(&b, daq_symptom_names[k]);
        daq_sbuf_puts(&b, ",\"value\":");
        sb_json_num(&b, sym[k].value);
        daq_sbuf_puts(&b, ",\"threshold\":");
        sb_json_num(&b, sym[k].threshold);
        daq_sbuf_puts(&b, ",\"action\":");
        sb_json_str(&b, daq_symptom_action((daq_symptom)k));
        daq_sbuf_puts(&b, "}");
    }
    daq_sbuf_printf(
        &b, "],\"auto_rollbacks\":%" PRIu64 ",\"auto_rollback_reason\":", rb.auto_rollbacks);
    sb_json_str(&b, rb.reason);
    daq_sbuf_puts(&b, ",\"rollback_advice\":");
    sb_json_str(&b, ROLLBACK_ADVICE);
    json_consumers(&b, d);
    daq_sbuf_printf(
        &b, ",\"view\":{\"viewers\":%u,\"frames_served\":%" PRIu64 ",\"seq\":%" PRIu64 "}}\n",
        viewers, served, seq);
    answer_json(out, &b);
}

/* "/api/view/<device>/<what>": the decoded device id and what; false when
 * the path has another shape. */
static bool split_device_path(const char *rest, char *id, size_t id_len, const char **what)
{
    const char *slash = strchr(rest, '/');
    if (!slash || slash == rest || (size_t)(slash - rest) >= id_len)
        return false;
    char raw[256];
    size_t n = (size_t)(slash - rest);
    if (n >= sizeof raw)
        return false;
    memcpy(raw, rest, n);
    raw[n] = '\0';
    daq_percent_decode(raw, id, id_len);
    *what = slash + 1;
    return true;
}

bool daq_view_http(daq_view *v, const daq_http_request *req, daq_http_response *out)
{
    const char *path = req->path;
    if (!path)
        return false;
    bool page = daq_view_path_public(path);
    bool api = strncmp(path, "/api/view/", 10) == 0;
    if (!page && !api)
        return false;
    if (!v) {
        view_text(out, 503, "view unavailable");
        return true;
    }
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        view_text(out, 405, "%s: only GET and HEAD", req->method);
        daq_http_response_header(out, "Allow", "GET, HEAD");
        return true;
    }
    if (page) {
        const char *name = path[1] == '\0' ? "index.html" : path + 1;
        if (strncmp(path, "/assets/", 8) == 0)
            name = path + 8;
        daq_view_asset_answer(v->assets_dir, name, req->if_none_match, out);
        return true;
    }
    const char *rest = path + 10;
    if (strcmp(rest, "devices") == 0) {
        answer_devices(v, out);
        return true;
    }
    char id[128];
    const char *what;
    if (!split_device_path(rest, id, sizeof id, &what)) {
        view_text(out, 404,
                  "no such view path (/api/view/devices, /api/view/<device>/frame, "
                  "/api/view/<device>/status)");
        return true;
    }
    view_tap *t = tap_find(v, id);
    if (!t) {
        char shown[64];
        size_t i = 0;
        for (; id[i] && i < sizeof shown - 1; i++)
            shown[i] = (id[i] >= 0x20 && id[i] < 0x7f) ? id[i] : '?';
        shown[i] = '\0';
        view_text(out, 404, "no device \"%s\"", shown);
        return true;
    }
    if (strcmp(what, "frame") == 0)
        view_frame_answer(t, req, out);
    else if (strcmp(what, "status") == 0)
        answer_status(t, out);
    else
        view_text(out, 404, "no such view path (/api/view/%s/frame, /api/view/%s/status)", t->id,
                  t->id);
    return true;
}

/* ---- metrics -----------------------------------------------------------------------------------
 */

size_t daq_view_metrics_append(daq_view *v, char **buf, size_t len, size_t *cap)
{
    if (!v)
        return len;
    daq_sbuf b = {*buf, len, *cap, false};
    uint64_t now = daq_now_ns();
    typedef struct snap {
        uint64_t served[3], frame, timeout, error;
        unsigned viewers;
    } snap;
    snap *s = calloc(v->n ? v->n : 1, sizeof *s);
    if (!s)
        return (size_t)-1;
    for (size_t i = 0; i < v->n; i++) {
        view_tap *t = &v->taps[i];
        s[i].viewers = view_tap_viewers(t, now);
        pthread_mutex_lock(&t->mu);
        memcpy(s[i].served, t->served, sizeof s[i].served);
        s[i].frame = t->req_frame;
        s[i].timeout = t->req_timeout;
        s[i].error = t->req_error;
        pthread_mutex_unlock(&t->mu);
    }
    static const char *const bins[3] = {"1", "2", "4"};
    daq_sbuf_prom_family(&b, "daq_view_frames_served_total", "counter",
                         "Frames the live view answered, by device and binning.");
    for (size_t i = 0; i < v->n; i++)
        for (int k = 0; k < 3; k++) {
            daq_sbuf_puts(&b, "daq_view_frames_served_total{device=\"");
            daq_sbuf_prom_label(&b, v->taps[i].id);
            daq_sbuf_printf(&b, "\",bin=\"%s\"} %" PRIu64 "\n", bins[k], s[i].served[k]);
        }
    daq_sbuf_prom_family(
        &b, "daq_view_viewers", "gauge",
        "Distinct viewer ids that asked the live view for a frame in the last 5 s.");
    for (size_t i = 0; i < v->n; i++) {
        daq_sbuf_puts(&b, "daq_view_viewers{device=\"");
        daq_sbuf_prom_label(&b, v->taps[i].id);
        daq_sbuf_printf(&b, "\"} %u\n", s[i].viewers);
    }
    daq_sbuf_prom_family(
        &b, "daq_view_requests_total", "counter",
        "Live view frame requests by result: frame, timeout (no new frame in wait_ms: 204) "
        "or error (4xx/5xx).");
    for (size_t i = 0; i < v->n; i++) {
        const uint64_t by[3] = {s[i].frame, s[i].timeout, s[i].error};
        static const char *const results[3] = {"frame", "timeout", "error"};
        for (int k = 0; k < 3; k++) {
            daq_sbuf_puts(&b, "daq_view_requests_total{device=\"");
            daq_sbuf_prom_label(&b, v->taps[i].id);
            daq_sbuf_printf(&b, "\",result=\"%s\"} %" PRIu64 "\n", results[k], by[k]);
        }
    }
    free(s);
    if (b.oom) {
        /* buf may have moved in a successful realloc before the failure:
         * keep the caller's pointer valid, drop what was appended. */
        *buf = b.p;
        *cap = b.cap;
        return (size_t)-1;
    }
    *buf = b.p;
    *cap = b.cap;
    return b.len;
}
