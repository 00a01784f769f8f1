/* tests/unit/test_view_tap.c - the live view's locking under load, for
 * ThreadSanitizer and AddressSanitizer (labelled concurrency: make check
 * runs it under TSan; daqd itself never runs under TSan, Debian's gRPC is
 * not instrumented).
 *
 * One process: a sim camera (256 x 128 x 16 bit at 400 FPS, 64 KiB
 * frames, so sanitizer builds keep up), the view on it, and a real
 * daq_http server on 127.0.0.1 port 0 whose handler is daq_view_http.
 * Against it, at once:
 *   - 6 pollers long-polling /api/view/cam0/frame over their own keep-alive
 *     socket (a tiny HTTP/1.1 client below), after=<their last seq>,
 *     wait_ms=200: bin 1 raw, bin 2 raw, a bin-4 crop in LZ4, bin 1 in LZ4,
 *     and two at the default bin 4 -- 6 > the view's 4 concurrent encodes,
 *     so the bound can be hit;
 *   - a status thread GETting /api/view/cam0/status and rendering
 *     daq_view_metrics_append, and sampling the bus's subscriber count;
 *   - the main thread starting and stopping the stream 3 times, and
 *     pausing every poller for 100 ms while the stream runs.
 * DAQ_TEST_VIEW_IDLE_MS=40 (set before daq_view_create) makes the tap
 * unsubscribe in each pause and each stopped phase and subscribe again at
 * the next request, while the acquisition thread publishes and its notify
 * hook takes tap.mu: pull_mu, mu, the hook, the janitor and the encode
 * bound all race here.
 *
 * Exact checks: every 200 is DAQV v1, header 128, the asked bin/crop, a
 * payload of width*height*2 bytes (after LZ4), seq strictly increasing per
 * poller, the pixels the sim pattern of the header's frame_number (the
 * whole frame at bin 1 through daq_sim_verify, its stamp included; binned
 * ones as block means of daq_sim_pixel); a 204 only with X-Daq-Seq, never
 * below the poller's last seq; the served/timeout/error counters (metrics
 * and status) equal to what the clients saw.  At the end, with the stream
 * running, daq_view_shutdown wakes a request blocked for 2 s within 100 ms
 * (250 under a sanitizer) and makes a new one answer at once; then
 * daq_http_stop, daq_view_destroy, the stream stopped: the pool has every
 * slot and every heap frame back (the view holds nothing after destroy).
 * A second case makes that last check deterministic (the janitor may have
 * let the frames go before the destroy above): with the default 10 s idle
 * the stopped camera's pool has the view's 1..2 frames out, and none after
 * daq_view_destroy.
 * ~2 s in release, about the same under TSan and ASan (the timeline is
 * the main thread's sleeps; the frames are small).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <lz4.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "daq/acq.h"
#include "daq/bus.h"
#include "daq/config.h"
#include "daq/devices.h"
#include "daq/http.h"
#include "daq/sim.h"
#include "test_main.h"
#include "view/view.h"

#define CAM_W    256u
#define CAM_H    128u
#define HDR      128u
#define IDLE_MS  "40"
#define CYCLES   3
#define POLLERS  6
#define MAX_REQS 20000u /* per poller: a bound, never reached in ~1.5 s */

/* The wake after daq_view_shutdown: without it the blocked request would
 * answer after its 2 s. */
#ifdef DAQ_SANITIZED /* the build's -DDAQ_SANITIZE */
#define WAKE_BOUND_MS 250u
#else
#define WAKE_BOUND_MS 100u
#endif

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* ---- the rig ------------------------------------------------------------------------------ */

typedef struct rig {
    daq_devices *ds;
    daq_device *dev;
    daq_view *view;
    daq_http *http;
    uint16_t port;
    atomic_bool stop;   /* pollers and the status thread end */
    atomic_bool paused; /* pollers ask nothing (the tap goes idle mid-stream) */
    atomic_bool failed;
    pthread_mutex_t why_mu;
    char why[512]; /* the first failure, for the main thread's fail_msg */
} rig;

/* Records the first failure of any thread (cmocka asserts only on the main
 * thread) and stops everyone. */
__attribute__((format(printf, 2, 3))) static void rig_fail(rig *r, const char *fmt, ...)
{
    pthread_mutex_lock(&r->why_mu);
    if (!atomic_load(&r->failed)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->why, sizeof r->why, fmt, ap);
        va_end(ap);
        atomic_store(&r->failed, true);
    }
    pthread_mutex_unlock(&r->why_mu);
    atomic_store(&r->stop, true);
}

static void handler(void *ctx, const daq_http_request *req, daq_http_response *out)
{
    rig *r = ctx;
    if (daq_view_http(r->view, req, out))
        return;
    out->status = 404;
    out->body = (char *)"not found\n";
    out->len = strlen(out->body);
}

/* The camera, the view (idle_ms: DAQ_TEST_VIEW_IDLE_MS, NULL: the
 * default 10 s) and the server. */
static void rig_up(rig *r, const char *idle_ms)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->why_mu, NULL);
    static const char text[] = "[[devices]]\nid = \"cam0\"\n[devices.driver]\ntype = \"sim\"\n"
                               "width = 256\nheight = 128\nbit_depth = 16\n"
                               "timing = \"realistic\"\nframe_rate_hz = 400.0\n"
                               "exposure_ms = 1.0\n";
    daq_config cfg;
    char err[512];
    if (daq_config_load_text(text, strlen(text), "view_tap.toml", &cfg, err, sizeof err) != 0)
        fail_msg("config: %s", err);
    cfg.acq.dynamic_allowance += DAQ_VIEW_POOL_FRAMES; /* as daqd sizes it */
    r->ds = daq_devices_create(&cfg, NULL, err, sizeof err);
    if (!r->ds)
        fail_msg("devices: %s", err);
    r->dev = daq_devices_find(r->ds, "cam0");
    assert_non_null(r->dev);
    assert_non_null(daq_device_acq(r->dev));
    if (idle_ms)
        assert_int_equal(setenv("DAQ_TEST_VIEW_IDLE_MS", idle_ms, 1), 0); /* read at create */
    else
        assert_int_equal(unsetenv("DAQ_TEST_VIEW_IDLE_MS"), 0);
    r->view = daq_view_create(r->ds, NULL);
    assert_int_equal(unsetenv("DAQ_TEST_VIEW_IDLE_MS"), 0);
    assert_non_null(r->view);
    daq_http_limits lim = {.max_connections = 32, .max_per_client = 16};
    daq_http_opts o = {
        .bind = "127.0.0.1", .port = 0, .handler = handler, .ctx = r, .limits = &lim};
    r->http = daq_http_start_opts(&o, err, sizeof err);
    if (!r->http)
        fail_msg("http: %s", err);
    r->port = daq_http_port(r->http);
}

/* ---- a tiny HTTP/1.1 client: one keep-alive connection per thread ------------------------- */

typedef struct conn {
    int fd; /* -1: not connected */
    uint16_t port;
} conn;

typedef struct reply {
    int status;
    bool has_seq; /* X-Daq-Seq */
    uint64_t x_seq;
    char ctype[64]; /* Content-Type, "" when absent */
    uint8_t *body;  /* malloc'd, NUL-terminated; NULL when empty */
    size_t len;
} reply;

static int conn_open(conn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    struct timeval tv = {5, 0}; /* a hung server fails the test, not the timeout */
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(c->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    return 0;
}

static void conn_close(conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

/* The value of header name in the block hdr (lines after the status line),
 * copied into v; false when absent. */
static bool header_value(const char *hdr, const char *name, char *v, size_t vlen)
{
    size_t n = strlen(name);
    for (const char *p = strstr(hdr, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *s = line + n + 1;
            while (*s == ' ')
                s++;
            size_t k = strcspn(s, "\r\n");
            if (k >= vlen)
                k = vlen - 1;
            memcpy(v, s, k);
            v[k] = '\0';
            return true;
        }
    }
    return false;
}

/* One GET on c (reconnecting when needed); 0 with *rp filled (free
 * rp->body), -1 with a reason in err. */
static int get_once(conn *c, const char *path, reply *rp, bool *fresh, char *err, size_t errlen)
{
    memset(rp, 0, sizeof *rp);
    *fresh = c->fd < 0;
    if (c->fd < 0 && conn_open(c) != 0) {
        snprintf(err, errlen, "connect: %s", strerror(errno));
        return -1;
    }
    char req[512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
    if (send(c->fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        snprintf(err, errlen, "send: %s", strerror(errno));
        return -1;
    }
    char head[8192];
    size_t got = 0;
    char *end = NULL;
    while (!end) {
        if (got == sizeof head - 1) {
            snprintf(err, errlen, "headers longer than %zu bytes", sizeof head);
            return -1;
        }
        ssize_t k = recv(c->fd, head + got, sizeof head - 1 - got, 0);
        if (k <= 0) {
            snprintf(err, errlen, "recv (headers, %zu bytes in): %s", got,
                     k == 0 ? "connection closed" : strerror(errno));
            return -1;
        }
        got += (size_t)k;
        head[got] = '\0';
        end = strstr(head, "\r\n\r\n");
    }
    *end = '\0';
    size_t body_have = got - (size_t)(end + 4 - head);
    if (sscanf(head, "HTTP/1.1 %d", &rp->status) != 1) {
        snprintf(err, errlen, "status line: %.80s", head);
        return -1;
    }
    char v[256];
    size_t clen = 0;
    if (header_value(head, "Content-Length", v, sizeof v))
        clen = strtoull(v, NULL, 10);
    header_value(head, "Content-Type", rp->ctype, sizeof rp->ctype);
    if (header_value(head, "X-Daq-Seq", v, sizeof v)) {
        rp->has_seq = true;
        rp->x_seq = strtoull(v, NULL, 10);
    }
    bool close_after = header_value(head, "Connection", v, sizeof v) && strcasecmp(v, "close") == 0;
    if (rp->status == 204)
        clen = 0;
    if (body_have > clen) {
        snprintf(err, errlen, "%zu bytes after a %zu-byte body", body_have - clen, clen);
        return -1;
    }
    if (clen) {
        rp->body = malloc(clen + 1);
        if (!rp->body) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        memcpy(rp->body, end + 4, body_have);
        while (body_have < clen) {
            ssize_t k = recv(c->fd, rp->body + body_have, clen - body_have, 0);
            if (k <= 0) {
                snprintf(err, errlen, "recv (body, %zu of %zu bytes): %s", body_have, clen,
                         k == 0 ? "connection closed" : strerror(errno));
                free(rp->body);
                rp->body = NULL;
                return -1;
            }
            body_have += (size_t)k;
        }
        rp->body[clen] = '\0';
        rp->len = clen;
    }
    if (close_after)
        conn_close(c);
    return 0;
}

/* get_once, again on a fresh connection when a kept-alive one failed (the
 * server may close an idle one). */
static int http_get(conn *c, const char *path, reply *rp, char *err, size_t errlen)
{
    bool fresh;
    if (get_once(c, path, rp, &fresh, err, errlen) == 0)
        return 0;
    conn_close(c);
    if (fresh)
        return -1;
    return get_once(c, path, rp, &fresh, err, errlen) == 0 ? 0 : (conn_close(c), -1);
}

/* ---- pollers ------------------------------------------------------------------------------ */

typedef struct poller {
    rig *r;
    unsigned idx;
    unsigned bin; /* 0: not asked (the default, 4) */
    bool lz4;
    bool crop; /* x=10&y=6&w=101&h=50 */
    /* what every 200 must say */
    unsigned want_bin;
    uint32_t want_x, want_y, want_w, want_h; /* payload px */
    /* results (read by the main thread after join) */
    uint64_t n200, n204, last_seq;
    pthread_t th;
} poller;

/* The payload of p's 200 is the sim pattern of frame n: bit-exact (stamp
 * included) at bin 1 whole-frame, else block means of daq_sim_pixel (blocks
 * touching the stamp, row 0's first 8 pixels, skipped). */
static bool pixels_ok(const poller *p, const uint8_t *pix, uint64_t n, char *why, size_t whylen)
{
    if (p->want_bin == 1 && p->want_w == CAM_W && p->want_h == CAM_H) {
        uint64_t stamped = daq_sim_stamp_read(pix, CAM_W, CAM_H);
        if (stamped != n) {
            snprintf(why, whylen, "stamp says frame %" PRIu64 ", header %" PRIu64, stamped, n);
            return false;
        }
        return daq_sim_verify(pix, CAM_W, CAM_H, 16, n, why, whylen) == 0;
    }
    unsigned b = p->want_bin;
    for (uint32_t j = 0; j < p->want_h; j++)
        for (uint32_t i = 0; i < p->want_w; i++) {
            uint32_t x0 = p->want_x + i * b, y0 = p->want_y + j * b;
            if (y0 == 0 && x0 < 8)
                continue;
            uint32_t sum = 0;
            for (unsigned dy = 0; dy < b; dy++)
                for (unsigned dx = 0; dx < b; dx++)
                    sum += daq_sim_pixel(x0 + dx, y0 + dy, n, 16);
            const uint8_t *q = pix + 2 * ((size_t)j * p->want_w + i);
            unsigned got = (unsigned)q[0] | (unsigned)q[1] << 8;
            if (got != sum / (b * b)) {
                snprintf(why, whylen, "pixel (%" PRIu32 ", %" PRIu32 ") = %u, want %u", i, j, got,
                         sum / (b * b));
                return false;
            }
        }
    return true;
}

/* Checks one 200 of p; false with the reason set. */
static bool frame_ok(poller *p, const reply *rp, char *why, size_t whylen)
{
    const uint8_t *h = rp->body;
    if (strcmp(rp->ctype, "application/octet-stream") != 0) {
        snprintf(why, whylen, "Content-Type %s", rp->ctype);
        return false;
    }
    if (rp->len < HDR || memcmp(h, "DAQV", 4) != 0 || (h[4] | h[5] << 8) != 1 ||
        (h[6] | h[7] << 8) != HDR) {
        snprintf(why, whylen, "%zu bytes: not a DAQV v1 header of 128", rp->len);
        return false;
    }
    uint64_t seq = le64(h + 16), fn = le64(h + 24);
    uint32_t flags = le32(h + 8), bpp = le32(h + 12), plen = le32(h + 112);
    if (seq <= p->last_seq) {
        snprintf(why, whylen, "seq %" PRIu64 " after %" PRIu64, seq, p->last_seq);
        return false;
    }
    if (flags != (p->lz4 ? 1u : 0u) || bpp != 2 || le32(h + 56) != CAM_W || le32(h + 60) != CAM_H ||
        le32(h + 64) != p->want_x || le32(h + 68) != p->want_y || le32(h + 72) != p->want_w ||
        le32(h + 76) != p->want_h || le32(h + 80) != p->want_bin || le32(h + 84) != 16) {
        snprintf(why, whylen,
                 "header: flags %u bpp %u frame %ux%u crop (%u,%u) %ux%u bin %u depth %u", flags,
                 bpp, le32(h + 56), le32(h + 60), le32(h + 64), le32(h + 68), le32(h + 72),
                 le32(h + 76), le32(h + 80), le32(h + 84));
        return false;
    }
    /* ADR 0011: trigger_index (free-running: 0) and the estimated exposure
     * start (the engine's, never 0 for the sim) where 12 bytes were
     * reserved */
    if (le32(h + 116) != 0 || le64(h + 120) == 0) {
        snprintf(why, whylen, "trigger_index %u exposure_start_ns %" PRIu64, le32(h + 116),
                 le64(h + 120));
        return false;
    }
    if (plen != rp->len - HDR) {
        snprintf(why, whylen, "payload_len %u in a %zu-byte body", plen, rp->len);
        return false;
    }
    size_t want = (size_t)p->want_w * p->want_h * 2;
    const uint8_t *pix = h + HDR;
    uint8_t *dec = NULL;
    if (p->lz4) {
        dec = malloc(want + 64); /* room to see a too-long payload */
        int n = dec ? LZ4_decompress_safe((const char *)pix, (char *)dec, (int)plen, (int)want + 64)
                    : -1;
        if (n < 0 || (size_t)n != want) {
            snprintf(why, whylen, "LZ4 payload decodes to %d bytes, want %zu", n, want);
            free(dec);
            return false;
        }
        pix = dec;
    } else if (plen != want) {
        snprintf(why, whylen, "payload_len %u, want %zu", plen, want);
        return false;
    }
    bool ok = pixels_ok(p, pix, fn, why, whylen);
    free(dec);
    p->last_seq = seq;
    return ok;
}

static void *poller_main(void *arg)
{
    poller *p = arg;
    rig *r = p->r;
    conn c = {.fd = -1, .port = r->port};
    char extra[128] = "";
    size_t e = 0;
    if (p->bin)
        e += (size_t)snprintf(extra + e, sizeof extra - e, "&bin=%u", p->bin);
    if (p->crop)
        e += (size_t)snprintf(extra + e, sizeof extra - e, "&x=10&y=6&w=101&h=50");
    if (p->lz4)
        snprintf(extra + e, sizeof extra - e, "&lz4=1");
    for (unsigned k = 0; k < MAX_REQS && !atomic_load(&r->stop); k++) {
        if (atomic_load(&r->paused)) {
            sleep_ms(2);
            continue;
        }
        char path[256], err[256], why[256];
        snprintf(path, sizeof path,
                 "/api/view/cam0/frame?after=%" PRIu64 "&wait_ms=200%s&viewer=p%u", p->last_seq,
                 extra, p->idx);
        reply rp;
        if (http_get(&c, path, &rp, err, sizeof err) != 0) {
            rig_fail(r, "poller %u: %s: %s", p->idx, path, err);
            break;
        }
        if (rp.status == 200) {
            if (!frame_ok(p, &rp, why, sizeof why))
                rig_fail(r, "poller %u: %s: %s", p->idx, path, why);
            p->n200++;
        } else if (rp.status == 204) {
            if (!rp.has_seq || rp.len != 0 || rp.x_seq < p->last_seq)
                rig_fail(r,
                         "poller %u: 204 with%s X-Daq-Seq %" PRIu64 " (last seq %" PRIu64
                         "), %zu bytes",
                         p->idx, rp.has_seq ? "" : "out", rp.x_seq, p->last_seq, rp.len);
            p->n204++;
        } else if (rp.status == 503 && rp.body &&
                   strncmp((char *)rp.body, "view busy: 4 requests are encoding frames of cam0",
                           49) == 0) {
            /* 6 pollers, at most 4 encodes at once: under a slow (TSan)
             * build the fifth may be told to come back, as any viewer. */
            sleep_ms(2);
        } else {
            rig_fail(r, "poller %u: %s: %d %s", p->idx, path, rp.status,
                     rp.body ? (char *)rp.body : "");
        }
        free(rp.body);
    }
    conn_close(&c);
    return NULL;
}

/* ---- the status thread -------------------------------------------------------------------- */

typedef struct watcher {
    rig *r;
    unsigned baseline;                 /* bus subscribers without the view */
    unsigned subscribes, unsubscribes; /* transitions of the view's subscription seen */
    uint64_t statuses;
    pthread_t th;
} watcher;

/* The number after key in s, or -1 (as UINT64_MAX) when key is absent. */
static uint64_t json_u64(const char *s, const char *key)
{
    const char *p = strstr(s, key);
    return p ? strtoull(p + strlen(key), NULL, 10) : UINT64_MAX;
}

/* The value of series (its full name with labels, then a space) in a
 * Prometheus text, or UINT64_MAX. */
static uint64_t series_u64(const char *text, const char *series)
{
    const char *p = strstr(text, series);
    return p ? strtoull(p + strlen(series), NULL, 10) : UINT64_MAX;
}

#define STATUS_HEAD "{\"device\":\"cam0\",\"streaming\":"

static void *watcher_main(void *arg)
{
    watcher *w = arg;
    rig *r = w->r;
    conn c = {.fd = -1, .port = r->port};
    daq_bus *bus = daq_device_bus(r->dev);
    bool was_subscribed = daq_bus_sub_count(bus) > w->baseline;
    uint64_t last_seq = 0, last_served = 0;
    for (unsigned k = 0; k < 100000 && !atomic_load(&r->stop); k++) {
        unsigned subs = daq_bus_sub_count(bus);
        if (subs > w->baseline + 1) {
            rig_fail(r, "the bus has %u subscribers: more than the view's one", subs);
            break;
        }
        bool now = subs == w->baseline + 1;
        if (now && !was_subscribed)
            w->subscribes++;
        if (!now && was_subscribed)
            w->unsubscribes++;
        was_subscribed = now;
        if (k % 4 == 0) {
            reply rp;
            char err[256];
            if (http_get(&c, "/api/view/cam0/status", &rp, err, sizeof err) != 0) {
                rig_fail(r, "status: %s", err);
                break;
            }
            const char *b = rp.body ? (const char *)rp.body : "";
            uint64_t seq = json_u64(b, "\"seq\":");
            if (rp.status != 200 || strcmp(rp.ctype, "application/json") != 0 ||
                strncmp(b, STATUS_HEAD, strlen(STATUS_HEAD)) != 0 ||
                !strstr(b, "\"width\":256,\"height\":128,\"bit_depth\":16,") || seq == UINT64_MAX ||
                seq < last_seq) {
                rig_fail(r, "status %d (%s), seq %" PRIu64 " after %" PRIu64 ": %.300s", rp.status,
                         rp.ctype, seq, last_seq, b);
                free(rp.body);
                break;
            }
            last_seq = seq;
            free(rp.body);
            w->statuses++;
            char *m = NULL;
            size_t cap = 0, len = daq_view_metrics_append(r->view, &m, 0, &cap);
            uint64_t served =
                len == (size_t)-1
                    ? UINT64_MAX
                    : series_u64(m, "daq_view_frames_served_total{device=\"cam0\",bin=\"1\"} ");
            if (served == UINT64_MAX || served < last_served || len != strlen(m)) {
                rig_fail(r, "metrics: served %" PRIu64 " after %" PRIu64 ": %.300s", served,
                         last_served, m ? m : "(none)");
                free(m);
                break;
            }
            last_served = served;
            free(m);
        }
        sleep_ms(5);
    }
    conn_close(&c);
    return NULL;
}

/* ---- the blocked request of the shutdown ------------------------------------------------- */

typedef struct blocker {
    rig *r;
    const char *path;
    reply rp;
    int rc;
    char err[256];
    uint64_t done_ns;
    pthread_t th;
} blocker;

static void *blocker_main(void *arg)
{
    blocker *b = arg;
    conn c = {.fd = -1, .port = b->r->port};
    b->rc = http_get(&c, b->path, &b->rp, b->err, sizeof b->err);
    b->done_ns = daq_test_now_ns();
    conn_close(&c);
    return NULL;
}

/* ---- the test ----------------------------------------------------------------------------- */

static void view_tap_races_and_releases(void **state)
{
    (void)state;
    static rig r; /* large: not on the stack */
    rig_up(&r, IDLE_MS);
    daq_bus *bus = daq_device_bus(r.dev);
    daq_acq *acq = daq_device_acq(r.dev);
    watcher w = {.r = &r, .baseline = daq_bus_sub_count(bus)};
    /* payload px: the crop x=10,y=6,w=101,h=50 at bin 4 is x=8,y=4, 100x48 -> 25x12 */
    poller ps[POLLERS] = {
        {.bin = 1, .want_bin = 1, .want_w = CAM_W, .want_h = CAM_H},
        {.bin = 2, .want_bin = 2, .want_w = CAM_W / 2, .want_h = CAM_H / 2},
        {.bin = 4,
         .lz4 = true,
         .crop = true,
         .want_bin = 4,
         .want_x = 8,
         .want_y = 4,
         .want_w = 25,
         .want_h = 12},
        {.bin = 1, .lz4 = true, .want_bin = 1, .want_w = CAM_W, .want_h = CAM_H},
        {.want_bin = 4, .want_w = CAM_W / 4, .want_h = CAM_H / 4},
        {.want_bin = 4, .want_w = CAM_W / 4, .want_h = CAM_H / 4},
    };
    char err[256];
    assert_int_equal(daq_device_stream_start(r.dev, 0, err, sizeof err), 0);
    for (unsigned i = 0; i < POLLERS; i++) {
        ps[i].r = &r;
        ps[i].idx = i;
        assert_int_equal(pthread_create(&ps[i].th, NULL, poller_main, &ps[i]), 0);
    }
    assert_int_equal(pthread_create(&w.th, NULL, watcher_main, &w), 0);

    /* Each cycle: streaming and polled, streaming and nobody asks (the tap
     * goes idle under a running stream), polled again, stopped (the long
     * polls wait: idle again). */
    for (int cycle = 0; cycle < CYCLES && !atomic_load(&r.failed); cycle++) {
        if (cycle > 0 && daq_device_stream_start(r.dev, 0, err, sizeof err) != 0)
            rig_fail(&r, "start %d: %s", cycle, err);
        sleep_ms(150);
        atomic_store(&r.paused, true);
        sleep_ms(100);
        atomic_store(&r.paused, false);
        sleep_ms(100);
        daq_device_stream_stop(r.dev);
        sleep_ms(150);
    }
    if (!atomic_load(&r.failed) && daq_device_stream_start(r.dev, 0, err, sizeof err) != 0)
        rig_fail(&r, "start: %s", err);
    sleep_ms(100);
    atomic_store(&r.stop, true);
    for (unsigned i = 0; i < POLLERS; i++)
        pthread_join(ps[i].th, NULL);
    pthread_join(w.th, NULL);
    if (atomic_load(&r.failed))
        fail_msg("%s", r.why);

    /* Every poller saw frames; the counters are what the clients saw. */
    uint64_t by_bin[3] = {0}, n200 = 0, n204 = 0, max_seq = 0;
    for (unsigned i = 0; i < POLLERS; i++) {
        print_message("poller %u: %" PRIu64 " frames, %" PRIu64 " 204s, last seq %" PRIu64 "\n", i,
                      ps[i].n200, ps[i].n204, ps[i].last_seq);
        if (ps[i].n200 < 10)
            fail_msg("poller %u: %" PRIu64 " frames in %d cycles", i, ps[i].n200, CYCLES);
        by_bin[ps[i].want_bin == 1 ? 0 : ps[i].want_bin == 2 ? 1 : 2] += ps[i].n200;
        n200 += ps[i].n200;
        n204 += ps[i].n204;
        if (ps[i].last_seq > max_seq)
            max_seq = ps[i].last_seq;
    }
    print_message("subscribes %u, unsubscribes %u, %" PRIu64 " statuses\n", w.subscribes,
                  w.unsubscribes, w.statuses);
    /* one idle per pause and per stopped phase */
    assert_true(w.unsubscribes >= CYCLES);
    assert_true(w.subscribes >= CYCLES);
    assert_true(w.statuses >= 10);
    char *m = NULL;
    size_t cap = 0, len = daq_view_metrics_append(r.view, &m, 0, &cap);
    assert_int_not_equal(len, (size_t)-1);
    assert_int_equal(series_u64(m, "daq_view_frames_served_total{device=\"cam0\",bin=\"1\"} "),
                     by_bin[0]);
    assert_int_equal(series_u64(m, "daq_view_frames_served_total{device=\"cam0\",bin=\"2\"} "),
                     by_bin[1]);
    assert_int_equal(series_u64(m, "daq_view_frames_served_total{device=\"cam0\",bin=\"4\"} "),
                     by_bin[2]);
    assert_int_equal(series_u64(m, "daq_view_requests_total{device=\"cam0\",result=\"frame\"} "),
                     n200);
    assert_int_equal(series_u64(m, "daq_view_requests_total{device=\"cam0\",result=\"timeout\"} "),
                     n204);
    assert_int_equal(series_u64(m, "daq_view_requests_total{device=\"cam0\",result=\"error\"} "),
                     0);
    assert_int_equal(series_u64(m, "daq_view_viewers{device=\"cam0\"} "), POLLERS);
    free(m);
    conn c = {.fd = -1, .port = r.port};
    reply rp;
    if (http_get(&c, "/api/view/cam0/status", &rp, err, sizeof err) != 0)
        fail_msg("status: %s", err);
    assert_int_equal(rp.status, 200);
    assert_int_equal(json_u64((char *)rp.body, "\"viewers\":"), POLLERS);
    assert_int_equal(json_u64((char *)rp.body, "\"frames_served\":"), n200);
    assert_true(json_u64((char *)rp.body, "\"seq\":") >= max_seq);
    free(rp.body);
    conn_close(&c);

    /* Shutdown with the stream running: a request that no frame can answer
     * (after is far ahead) is blocked for 2 s; daq_view_shutdown answers it
     * at once, and every later one too. */
    blocker b = {.r = &r, .path = "/api/view/cam0/frame?after=1000000000000&wait_ms=2000"};
    assert_int_equal(pthread_create(&b.th, NULL, blocker_main, &b), 0);
    sleep_ms(300);
    uint64_t t0 = daq_test_now_ns();
    daq_view_shutdown(r.view);
    pthread_join(b.th, NULL);
    if (b.rc != 0)
        fail_msg("blocked request: %s", b.err);
    assert_true(b.done_ns >= t0); /* it was blocked until shutdown */
    uint64_t woke_ms = (b.done_ns - t0) / 1000000u;
    print_message("shutdown woke the blocked request in %" PRIu64 " ms\n", woke_ms);
    assert_int_equal(b.rp.status, 204);
    assert_true(b.rp.has_seq);
    assert_true(b.rp.x_seq >= max_seq);
    free(b.rp.body);
    if (woke_ms > WAKE_BOUND_MS)
        fail_msg("shutdown woke the blocked request after %" PRIu64 " ms (bound %u)", woke_ms,
                 WAKE_BOUND_MS);
    b = (blocker){.r = &r, .path = "/api/view/cam0/frame?wait_ms=2000"};
    t0 = daq_test_now_ns();
    assert_int_equal(pthread_create(&b.th, NULL, blocker_main, &b), 0);
    pthread_join(b.th, NULL);
    if (b.rc != 0)
        fail_msg("request after shutdown: %s", b.err);
    assert_int_equal(b.rp.status, 204);
    assert_true(b.rp.has_seq);
    free(b.rp.body);
    woke_ms = (b.done_ns - t0) / 1000000u;
    if (woke_ms > WAKE_BOUND_MS)
        fail_msg("a request after shutdown took %" PRIu64 " ms (bound %u)", woke_ms, WAKE_BOUND_MS);

    daq_http_stop(r.http);
    daq_view_destroy(r.view);
    assert_int_equal(daq_bus_sub_count(bus), w.baseline);
    daq_acq_stats st;
    daq_acq_stats_snapshot(acq, &st);
    assert_true(st.delivered > 0);
    daq_device_stream_stop(r.dev);
    daq_acq_stats_snapshot(acq, &st);
    print_message("pool: %u slots, %u in use, %u heap frames alive, %" PRIu64 " misses\n",
                  st.pool.slot_count, st.pool.in_use, st.pool.heap_in_use, st.pool.misses);
    assert_int_equal(st.pool.in_use, 0);
    assert_int_equal(st.pool.heap_in_use, 0);
    daq_devices_destroy(r.ds);
    pthread_mutex_destroy(&r.why_mu);
}

/* The same end, deterministic: with the default idle time (10 s) the tap
 * holds the frame it served (and maybe one queued) when the stream stops,
 * so the pool has 1 or 2 slots out, all of them the view's; after
 * daq_view_destroy it has every one back.  (In the test above the janitor
 * may have let them go before the destroy.) */
static void view_destroy_gives_frames_back(void **state)
{
    (void)state;
    static rig r;
    rig_up(&r, NULL);
    daq_bus *bus = daq_device_bus(r.dev);
    daq_acq *acq = daq_device_acq(r.dev);
    unsigned baseline = daq_bus_sub_count(bus);
    char err[256];
    assert_int_equal(daq_device_stream_start(r.dev, 0, err, sizeof err), 0);
    conn c = {.fd = -1, .port = r.port};
    reply rp;
    if (http_get(&c, "/api/view/cam0/frame?bin=1&wait_ms=2000", &rp, err, sizeof err) != 0)
        fail_msg("frame: %s", err);
    conn_close(&c);
    assert_int_equal(rp.status, 200);
    assert_int_equal(rp.len, HDR + CAM_W * CAM_H * 2);
    uint64_t fn = le64(rp.body + 24);
    assert_int_equal(daq_sim_stamp_read(rp.body + HDR, CAM_W, CAM_H), fn);
    free(rp.body);
    assert_int_equal(daq_bus_sub_count(bus), baseline + 1);
    daq_device_stream_stop(r.dev);
    daq_acq_stats st;
    daq_acq_stats_snapshot(acq, &st);
    print_message("stopped: %u slots out, %u heap frames alive\n", st.pool.in_use,
                  st.pool.heap_in_use);
    if (daq_acq_frame_pool_built()) { /* a -DDAQ_FRAME_POOL=OFF build counts no frames */
        assert_true(st.pool.in_use + st.pool.heap_in_use >= 1); /* the view's latest */
        assert_true(st.pool.in_use + st.pool.heap_in_use <= 2); /* + its LATEST queue */
    }
    daq_view_shutdown(r.view);
    daq_http_stop(r.http);
    daq_view_destroy(r.view);
    assert_int_equal(daq_bus_sub_count(bus), baseline);
    daq_acq_stats_snapshot(acq, &st);
    assert_int_equal(st.pool.in_use, 0);
    assert_int_equal(st.pool.heap_in_use, 0);
    daq_devices_destroy(r.ds);
    pthread_mutex_destroy(&r.why_mu);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(view_tap_races_and_releases),
        cmocka_unit_test(view_destroy_gives_frames_back),
    };
    return daq_test_main(argc, argv, "view_tap", tests, sizeof tests / sizeof tests[0]);
}
