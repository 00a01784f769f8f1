/* view/view_tap.c - the view's tap on a camera and the binary frame
 * endpoint (GET /api/view/<device>/frame, format v1 in docs/live-view.md).
 *
 * The tap.  Per camera, on the first frame request, one bus subscription
 * with the LATEST policy (a queue of one: the acquisition thread only ever
 * replaces that frame, so no viewer can back-pressure acquisition) and a
 * notify hook that wakes the requests waiting on the tap's condvar.  The
 * tap has no thread: a request pulls the queued frame itself (daq_sub_next
 * with timeout 0) and keeps it as the tap's "latest", numbered by the tap
 * (seq: 1, 2, ... per device, never reset while daqd runs, so a viewer's
 * `after` stays meaningful across StopStream/StartStream).  The bus lives
 * as long as the device table, and a LATEST subscription outlives a
 * stream's end (it just sees one end-of-stream), so the frames of a
 * restarted stream reach the viewers with no resubscription -- as the
 * table's sinks do.  A tap no request used for 10 s unsubscribes and drops
 * its frame (holds no pool slot); the next request subscribes again.
 *
 * Frames the view holds, per camera: the tap's queue (1) + its latest (1)
 * + one per request being encoded, at most VIEW_MAX_ENCODES (4) at once
 * (a 5th request with a frame to answer waits for a slot inside its
 * wait_ms, else 503 "view busy") = 6 frames, however many viewers poll.
 * Pool sizing: the subscription arrives while the stream runs, so an
 * auto-sized pool must keep those 6 (DAQ_VIEW_POOL_FRAMES) in [acquisition]
 * dynamic_allowance, on top of the gRPC streams' share
 * (daq_frame_streams_pool_allowance): daqd adds both.  With less, a busy
 * view makes frames fall back to the heap (counted, never lost).  Waiting
 * requests hold no frame, only a place on the condvar.
 *
 * Encoding.  The reply is built in one buffer (the server frees it,
 * free_body): 128-byte header (docs/live-view.md; offsets 116 and 120 carry
 * trigger_index and the estimated exposure start), then the payload written
 * straight from the frame's pixels -- one copy for bin 1, the block means
 * for bin 2/4 (the whole-frame u16 case by daq_downsample_u16, the gRPC
 * PREVIEW/FAST reduction itself; crops and 8-bit frames by the same rule
 * here), and for lz4=1 one raw LZ4 block compressed from the frame (bin 1,
 * whole frame) or from a scratch copy of the binned pixels.  Binning a
 * 2048^2 16-bit frame at bin 4 reads 8 MiB and takes ~3 ms on one core; a
 * viewer's max fps bounds how often it is asked for.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <lz4.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daq/acq.h"
#include "daq/bus.h"
#include "daq/log.h"
#include "server/frame_encode.h"
#include "util/clock.h"
#include "view/view_internal.h"

_Static_assert(DAQ_VIEW_POOL_FRAMES == 2 + VIEW_MAX_ENCODES, "the view's frame bound");

#define HEADER_LEN   128u
#define MAX_WAIT_MS  2000u
#define DEF_WAIT_MS  1000u
#define NS_PER_MS    1000000ull
#define GOT_TEXT_MAX 40

/* ---- the tap ---------------------------------------------------------------------------- */

static void tap_notify(void *ctx)
{
    view_tap *t = ctx;
    pthread_mutex_lock(&t->mu);
    t->notified = true;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

void view_tap_init(view_tap *t, daq_view *v, daq_device *d)
{
    memset(t, 0, sizeof *t);
    t->v = v;
    t->dev = d;
    t->id = daq_device_id(d);
    pthread_mutex_init(&t->pull_mu, NULL);
    pthread_mutex_init(&t->mu, NULL);
    daq_cond_init_monotonic(&t->cv);
}

void view_tap_fini(view_tap *t)
{
    if (t->sub)
        daq_bus_unsubscribe(daq_device_bus(t->dev), t->sub);
    t->sub = NULL;
    daq_frame_unref(t->latest);
    t->latest = NULL;
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    pthread_mutex_destroy(&t->pull_mu);
}

void view_tap_wake(view_tap *t)
{
    pthread_mutex_lock(&t->mu);
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

/* Subscribes if the tap is idle; false when the bus refuses (logged). */
static bool tap_subscribe(view_tap *t)
{
    bool ok = true;
    pthread_mutex_lock(&t->pull_mu);
    if (!t->sub) {
        daq_sub_config c;
        daq_sub_config_init(&c);
        c.name = "view";
        c.policy = DAQ_SUB_LATEST;
        c.queue_depth = 1;
        c.notify = tap_notify;
        c.notify_ctx = t;
        char err[256];
        t->sub = daq_bus_subscribe(daq_device_bus(t->dev), &c, err, sizeof err);
        if (t->sub) {
            pthread_mutex_lock(&t->mu);
            t->subscribed = true;
            t->notified = true; /* nothing queued yet, but cheap to look */
            pthread_mutex_unlock(&t->mu);
        } else {
            ok = false;
            DAQ_LOG(DAQ_LOG_WARN, "daq::view", "view subscription refused",
                    DAQ_F_STR("device", t->id), DAQ_F_STR("error", err));
        }
    }
    pthread_mutex_unlock(&t->pull_mu);
    return ok;
}

/* Moves the newest queued frame (if any) to latest. */
static void tap_pull(view_tap *t)
{
    daq_frame *newest = NULL;
    pthread_mutex_lock(&t->pull_mu);
    if (t->sub) {
        for (;;) {
            daq_frame *f = NULL;
            int r = daq_sub_next(t->sub, 0, &f);
            if (r == DAQ_SUB_FRAME) {
                daq_frame_unref(newest);
                newest = f;
            } else if (r != DAQ_SUB_EOS) {
                break; /* empty (or closed) */
            }
        }
    }
    pthread_mutex_unlock(&t->pull_mu);
    if (!newest)
        return;
    pthread_mutex_lock(&t->mu);
    daq_frame *old = t->latest;
    t->latest = newest;
    t->seq++;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    daq_frame_unref(old);
}

void view_tap_idle_check(view_tap *t, uint64_t now)
{
    daq_sub *sub = NULL;
    daq_frame *old = NULL;
    pthread_mutex_lock(&t->pull_mu);
    pthread_mutex_lock(&t->mu);
    /* now was read before the locks: a request may have stamped a later
     * last_request_ns since, and the difference would wrap (found by
     * test_view_tap: a watched tap unsubscribed, its viewer froze 1 s). */
    if (t->subscribed && now >= t->last_request_ns && now - t->last_request_ns >= t->v->idle_ns) {
        sub = t->sub;
        t->sub = NULL;
        t->subscribed = false;
        old = t->latest;
        t->latest = NULL;
    }
    pthread_mutex_unlock(&t->mu);
    if (sub)
        daq_bus_unsubscribe(daq_device_bus(t->dev), sub);
    pthread_mutex_unlock(&t->pull_mu);
    daq_frame_unref(old);
    if (sub)
        DAQ_LOG(DAQ_LOG_DEBUG, "daq::view", "view tap idle: unsubscribed",
                DAQ_F_STR("device", t->id));
}

double view_tap_fps(view_tap *t, bool streaming, uint64_t delivered, double stream_avg_fps,
                    uint64_t now)
{
    pthread_mutex_lock(&t->mu);
    if (!streaming) {
        t->fps = 0;
        t->fps_known = true;
        t->fps_t0_ns = 0;
    } else if (!t->fps_t0_ns || delivered < t->fps_d0) {
        /* first look, or a new stream: the stream's average until a window
         * of our own is complete */
        t->fps_t0_ns = now;
        t->fps_d0 = delivered;
        t->fps = stream_avg_fps;
        t->fps_known = delivered > 1;
    } else if (now - t->fps_t0_ns >= 1000000000ull) {
        t->fps = (double)(delivered - t->fps_d0) * 1e9 / (double)(now - t->fps_t0_ns);
        t->fps_known = true;
        t->fps_t0_ns = now;
        t->fps_d0 = delivered;
    }
    double fps = t->fps_known ? t->fps : NAN;
    pthread_mutex_unlock(&t->mu);
    return fps;
}

unsigned view_tap_viewers(view_tap *t, uint64_t now)
{
    unsigned n = 0;
    pthread_mutex_lock(&t->mu);
    for (unsigned i = 0; i < VIEW_MAX_VIEWER_IDS; i++)
        if (t->viewers[i].seen_ns && now - t->viewers[i].seen_ns < VIEW_VIEWER_WINDOW_NS)
            n++;
    pthread_mutex_unlock(&t->mu);
    return n;
}

/* Under t->mu: notes viewer id seen now (replacing the stalest entry when
 * the table is full). */
static void viewer_seen(view_tap *t, const char *id, uint64_t now)
{
    view_viewer *slot = NULL;
    for (unsigned i = 0; i < VIEW_MAX_VIEWER_IDS; i++) {
        view_viewer *w = &t->viewers[i];
        if (w->seen_ns && strcmp(w->id, id) == 0) {
            slot = w;
            break;
        }
        if (!slot || w->seen_ns < slot->seen_ns)
            slot = w;
    }
    snprintf(slot->id, sizeof slot->id, "%s", id);
    slot->seen_ns = now;
}

/* ---- arguments ------------------------------------------------------------------------------ */

void view_text(daq_http_response *out, int status, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof buf)
        n = sizeof buf - 1;
    out->status = status;
    out->content_type = "text/plain; charset=utf-8";
    out->body = malloc((size_t)n + 1);
    if (out->body) {
        memcpy(out->body, buf, (size_t)n + 1);
        out->len = (size_t)n;
        out->free_body = true;
    } else {
        out->len = 0;
    }
    daq_http_response_header(out, "Cache-Control", "no-store");
}

/* A client's value, printable and short, for an error text. */
static const char *got_text(const char *s, char buf[GOT_TEXT_MAX + 4])
{
    size_t i = 0;
    for (; s[i] && i < GOT_TEXT_MAX; i++)
        buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (s[i])
        buf[i++] = '.', buf[i++] = '.', buf[i++] = '.';
    buf[i] = '\0';
    return buf;
}

/* A decimal number 0..max, all digits. */
static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (!*s || strlen(s) > 20)
        return false;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

typedef struct frame_args {
    uint64_t after;
    uint32_t wait_ms;
    unsigned bin;
    bool has_x, has_y, has_w, has_h;
    uint32_t x, y, w, h;
    bool lz4;
    const char *viewer; /* borrowed from the request, or NULL */
} frame_args;

static bool valid_viewer(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > VIEW_VIEWER_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* Parses the query; false with the 400 answer set. */
static bool parse_args(const daq_http_request *req, frame_args *a, daq_http_response *out)
{
    char got[GOT_TEXT_MAX + 4];
    uint64_t v;
    memset(a, 0, sizeof *a);
    a->wait_ms = DEF_WAIT_MS;
    a->bin = 4;
    const char *s;
    if ((s = daq_http_request_arg(req, "after")) != NULL) {
        if (!parse_u64(s, UINT64_MAX, &a->after)) {
            view_text(out, 400, "after: must be a sequence number, 0 or more (got %s)",
                      got_text(s, got));
            return false;
        }
    }
    if ((s = daq_http_request_arg(req, "wait_ms")) != NULL) {
        if (!parse_u64(s, MAX_WAIT_MS, &v)) {
            view_text(out, 400, "wait_ms: must be 0..%u (got %s)", MAX_WAIT_MS, got_text(s, got));
            return false;
        }
        a->wait_ms = (uint32_t)v;
    }
    const char *mode = daq_http_request_arg(req, "mode");
    const char *bin = daq_http_request_arg(req, "bin");
    if (mode) {
        if (strcmp(mode, "fast") == 0)
            a->bin = 4;
        else if (strcmp(mode, "preview") == 0)
            a->bin = 2;
        else if (strcmp(mode, "full") == 0)
            a->bin = 1;
        else {
            view_text(out, 400, "mode: must be fast, preview or full (got %s)",
                      got_text(mode, got));
            return false;
        }
    }
    if (bin) {
        if (!parse_u64(bin, 4, &v) || (v != 1 && v != 2 && v != 4)) {
            view_text(out, 400, "bin: must be 1, 2 or 4 (got %s)", got_text(bin, got));
            return false;
        }
        if (mode && v != a->bin) {
            view_text(out, 400, "mode: %s means bin=%u, but bin=%u was given", mode, a->bin,
                      (unsigned)v);
            return false;
        }
        a->bin = (unsigned)v;
    }
    static const char *const crop_names[4] = {"x", "y", "w", "h"};
    bool *has[4] = {&a->has_x, &a->has_y, &a->has_w, &a->has_h};
    uint32_t *val[4] = {&a->x, &a->y, &a->w, &a->h};
    for (int i = 0; i < 4; i++) {
        if ((s = daq_http_request_arg(req, crop_names[i])) == NULL)
            continue;
        if (!parse_u64(s, UINT32_MAX, &v)) {
            view_text(out, 400, "%s: must be a whole number of full-resolution pixels (got %s)",
                      crop_names[i], got_text(s, got));
            return false;
        }
        *has[i] = true;
        *val[i] = (uint32_t)v;
    }
    if ((s = daq_http_request_arg(req, "lz4")) != NULL) {
        if (strcmp(s, "1") == 0)
            a->lz4 = true;
        else if (strcmp(s, "0") != 0) {
            view_text(out, 400, "lz4: must be 0 or 1 (got %s)", got_text(s, got));
            return false;
        }
    }
    if ((s = daq_http_request_arg(req, "viewer")) != NULL) {
        if (!valid_viewer(s)) {
            view_text(out, 400, "viewer: must be 1..32 characters A-Z a-z 0-9 _ - (got %s)",
                      got_text(s, got));
            return false;
        }
        a->viewer = s;
    }
    return true;
}

/* The payload cap check on the crop as asked (w x h px, before clamping
 * to the frame: a request is refused for what it asks, whatever the
 * camera's size is today); false with the 400 answer set. */
static bool payload_fits(const daq_view *v, uint32_t w, uint32_t h, unsigned bin, unsigned bpp,
                         daq_http_response *out)
{
    uint64_t bytes = (uint64_t)(w / bin) * (h / bin) * bpp;
    uint64_t cap = (uint64_t)v->cfg.max_payload_mb << 20;
    if (bytes <= cap)
        return true;
    char size[32];
    if (bytes % (1u << 20) == 0)
        snprintf(size, sizeof size, "%" PRIu64, bytes >> 20);
    else
        snprintf(size, sizeof size, "%.1f", (double)bytes / (1u << 20));
    view_text(out, 400,
              "crop: %" PRIu32 " x %" PRIu32 " px at bin %u is %s MiB, more than the %" PRIu32
              " MiB a view frame may carry: zoom in or bin",
              w, h, bin, size, v->cfg.max_payload_mb);
    return false;
}

/* ---- encoding ---------------------------------------------------------------------------- */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

typedef struct crop {
    uint32_t x, y, w, h; /* full-resolution px, multiples of bin */
    uint32_t ow, oh;     /* payload px */
    unsigned bin, bpp;
} crop;

/* Block means of c from src (rows of stride bytes) into dst (ow*oh*bpp
 * bytes): integer truncating division, blocks from the crop's origin. */
static bool bin_pixels(const uint8_t *src, size_t stride, size_t payload_bytes, uint32_t full_w,
                       uint32_t full_h, const crop *c, uint8_t *dst)
{
    size_t row_bytes = (size_t)c->ow * c->bpp;
    if (c->bin == 1) {
        for (uint32_t j = 0; j < c->oh; j++)
            memcpy(dst + j * row_bytes, src + (size_t)(c->y + j) * stride + (size_t)c->x * c->bpp,
                   row_bytes);
        return true;
    }
    if (c->bpp == 2 && c->x == 0 && c->y == 0 && c->w == full_w - full_w % c->bin &&
        c->h == full_h - full_h % c->bin && stride == (size_t)full_w * 2 &&
        daq_downsample_applies(full_w, full_h, payload_bytes, c->bin)) {
        /* the whole frame: the gRPC stream's PREVIEW/FAST reduction itself */
        uint32_t ow, oh;
        return daq_downsample_u16(src, full_w, full_h, payload_bytes, c->bin, dst, &ow, &oh) &&
               ow == c->ow && oh == c->oh;
    }
    uint32_t *sums = malloc((size_t)c->ow * sizeof *sums);
    if (!sums)
        return false;
    unsigned b = c->bin, area = b * b;
    for (uint32_t j = 0; j < c->oh; j++) {
        memset(sums, 0, (size_t)c->ow * sizeof *sums);
        for (unsigned r = 0; r < b; r++) {
            const uint8_t *row = src + (size_t)(c->y + j * b + r) * stride + (size_t)c->x * c->bpp;
            if (c->bpp == 1) {
                for (uint32_t i = 0; i < c->ow; i++)
                    for (unsigned k = 0; k < b; k++)
                        sums[i] += row[i * b + k];
            } else {
                for (uint32_t i = 0; i < c->ow; i++)
                    for (unsigned k = 0; k < b; k++) {
                        const uint8_t *p = row + 2 * ((size_t)i * b + k);
                        sums[i] += (uint32_t)p[0] | (uint32_t)p[1] << 8;
                    }
            }
        }
        uint8_t *o = dst + j * row_bytes;
        if (c->bpp == 1)
            for (uint32_t i = 0; i < c->ow; i++)
                o[i] = (uint8_t)(sums[i] / area);
        else
            for (uint32_t i = 0; i < c->ow; i++)
                put16(o + 2 * i, (uint16_t)(sums[i] / area));
    }
    free(sums);
    return true;
}

/* Clamps the asked crop to a frame of w x h; false when nothing is left. */
static bool crop_clamp(const frame_args *a, uint32_t full_w, uint32_t full_h, crop *c)
{
    unsigned b = c->bin;
    uint32_t x = a->has_x ? a->x : 0, y = a->has_y ? a->y : 0;
    x = x < full_w ? x - x % b : full_w;
    y = y < full_h ? y - y % b : full_h;
    uint32_t w = a->has_w ? a->w : full_w, h = a->has_h ? a->h : full_h;
    if (w > full_w - x)
        w = full_w - x;
    if (h > full_h - y)
        h = full_h - y;
    c->x = x;
    c->y = y;
    c->w = w - w % b;
    c->h = h - h % b;
    c->ow = c->w / b;
    c->oh = c->h / b;
    return c->ow > 0 && c->oh > 0;
}

/* Builds the 200 answer for frame f (a reference the caller keeps). */
static void encode_reply(view_tap *t, const frame_args *a, daq_frame *f, uint64_t seq,
                         daq_http_response *out)
{
    const daq_frame_meta *m = daq_frame_meta_get(f);
    crop c = {.bin = a->bin};
    c.bpp = (m->bit_depth <= 8 || m->pixel_format == DAQ_PIXEL_MONO8) ? 1 : 2;
    size_t stride = m->stride_bytes ? m->stride_bytes : (size_t)m->width * c.bpp;
    size_t payload_bytes = m->payload_bytes;
    if (payload_bytes > daq_frame_capacity(f))
        payload_bytes = daq_frame_capacity(f);
    if (m->width == 0 || m->height == 0 || stride < (size_t)m->width * c.bpp ||
        payload_bytes < (size_t)(m->height - 1) * stride + (size_t)m->width * c.bpp) {
        view_text(out, 500, "frame: %" PRIu32 " x %" PRIu32 " px in %zu bytes is not a picture",
                  m->width, m->height, payload_bytes);
        return;
    }
    if (!crop_clamp(a, m->width, m->height, &c)) {
        view_text(out, 400,
                  "crop: nothing of the %" PRIu32 " x %" PRIu32 " frame is left at bin %u "
                  "(x=%" PRIu32 ", y=%" PRIu32 ")",
                  m->width, m->height, c.bin, a->has_x ? a->x : 0, a->has_y ? a->y : 0);
        return;
    }
    if (!payload_fits(t->v, c.w, c.h, c.bin, c.bpp, out))
        return;
    size_t raw = (size_t)c.ow * c.oh * c.bpp;
    size_t room = a->lz4 ? (size_t)LZ4_compressBound((int)raw) : raw;
    uint8_t *reply = malloc(HEADER_LEN + room);
    if (!reply) {
        view_text(out, 503, "view busy: out of memory for a %zu-byte frame", raw);
        return;
    }
    const uint8_t *pixels = daq_frame_cdata(f);
    size_t payload_len = raw;
    bool ok = true;
    if (!a->lz4) {
        ok = bin_pixels(pixels, stride, payload_bytes, m->width, m->height, &c, reply + HEADER_LEN);
    } else {
        const uint8_t *src = pixels; /* bin 1 of a whole, unpadded frame: compress in place */
        uint8_t *scratch = NULL;
        if (!(c.bin == 1 && c.x == 0 && c.y == 0 && c.w == m->width && c.h == m->height &&
              stride == (size_t)m->width * c.bpp)) {
            scratch = malloc(raw);
            ok = scratch &&
                 bin_pixels(pixels, stride, payload_bytes, m->width, m->height, &c, scratch);
            src = scratch;
        }
        int n = ok ? LZ4_compress_default((const char *)src, (char *)reply + HEADER_LEN, (int)raw,
                                          (int)room)
                   : 0;
        free(scratch);
        ok = n > 0;
        payload_len = ok ? (size_t)n : 0;
    }
    if (!ok) {
        free(reply);
        view_text(out, 500, "frame: encoding failed");
        return;
    }
    daq_acq_stats st;
    daq_acq *acq = daq_device_acq(t->dev);
    if (acq)
        daq_acq_stats_snapshot(acq, &st);
    else
        memset(&st, 0, sizeof st);
    uint8_t *h = reply;
    memset(h, 0, HEADER_LEN);
    memcpy(h, "DAQV", 4);
    put16(h + 4, 1);
    put16(h + 6, HEADER_LEN);
    put32(h + 8, a->lz4 ? 1u : 0u);
    put32(h + 12, c.bpp);
    put64(h + 16, seq);
    put64(h + 24, m->hw_frame_number);
    put64(h + 32, m->eof_ns);
    put64(h + 40, daq_mono_to_real_ns(m->eof_ns));
    put64(h + 48, daq_real_now_ns());
    put32(h + 56, m->width);
    put32(h + 60, m->height);
    put32(h + 64, c.x);
    put32(h + 68, c.y);
    put32(h + 72, c.ow);
    put32(h + 76, c.oh);
    put32(h + 80, c.bin);
    put32(h + 84, m->bit_depth);
    put64(h + 88, st.delivered);
    put64(h + 96, st.lost);
    put64(h + 104, st.pool.misses);
    put32(h + 112, (uint32_t)payload_len);
    /* ADR 0011: in what were 12 reserved bytes, so no version change (an
     * older page reads zeros there and ignores them) */
    put32(h + 116, (uint32_t)m->trigger_index); /* low 32 bits: 4e9 triggers per arm */
    put64(h + 120, m->exposure_start_real_ns);
    out->status = 200;
    out->content_type = "application/octet-stream";
    out->body = (char *)reply;
    out->len = HEADER_LEN + payload_len;
    out->free_body = true;
    daq_http_response_header(out, "Cache-Control", "no-store");
}

/* ---- the endpoint ---------------------------------------------------------------------------- */

static void count(view_tap *t, uint64_t *counter)
{
    pthread_mutex_lock(&t->mu);
    (*counter)++;
    pthread_mutex_unlock(&t->mu);
}

static unsigned bin_index(unsigned bin)
{
    return bin == 1 ? 0 : bin == 2 ? 1 : 2;
}

void view_frame_answer(view_tap *t, const daq_http_request *req, daq_http_response *out)
{
    frame_args a;
    if (!parse_args(req, &a, out)) {
        count(t, &t->req_error);
        return;
    }
    /* The cap, before waiting, on the crop as asked: the whole frame is
     * the camera's current format (unknown while it is down: checked on
     * the frame then). */
    daq_camera *cam = daq_device_camera(t->dev);
    daq_camera_format fmt;
    char err[128];
    if (cam && daq_camera_get_format(cam, &fmt, err, sizeof err) == 0) {
        unsigned bpp = fmt.bit_depth <= 8 ? 1 : 2;
        uint32_t w = a.has_w ? a.w : fmt.width, h = a.has_h ? a.h : fmt.height;
        if (!payload_fits(t->v, w, h, a.bin, bpp, out)) {
            count(t, &t->req_error);
            return;
        }
    }
    uint64_t now = daq_now_ns();
    pthread_mutex_lock(&t->mu);
    t->last_request_ns = now;
    if (a.viewer)
        viewer_seen(t, a.viewer, now);
    bool subscribed = t->subscribed;
    pthread_mutex_unlock(&t->mu);
    if (!subscribed && !atomic_load(&t->v->shutdown))
        tap_subscribe(t);

    uint64_t deadline = now + (uint64_t)a.wait_ms * NS_PER_MS;
    daq_frame *f = NULL;
    uint64_t seq = 0;
    bool busy = false;
    tap_pull(t);
    pthread_mutex_lock(&t->mu);
    for (;;) {
        if (t->notified) {
            t->notified = false;
            pthread_mutex_unlock(&t->mu);
            tap_pull(t);
            pthread_mutex_lock(&t->mu);
            continue;
        }
        bool down = atomic_load(&t->v->shutdown);
        bool expired = daq_now_ns() >= deadline;
        if (!down && t->latest && t->seq > a.after) {
            if (t->encodes < VIEW_MAX_ENCODES) {
                t->encodes++;
                f = daq_frame_ref(t->latest);
                seq = t->seq;
                break;
            }
            if (expired) {
                busy = true;
                break;
            }
        } else if (down || expired) {
            break;
        }
        daq_cond_wait_until(&t->cv, &t->mu, deadline);
    }
    uint64_t latest_seq = t->seq;
    if (f)
        t->last_request_ns = daq_now_ns();
    pthread_mutex_unlock(&t->mu);

    if (busy) {
        view_text(out, 503, "view busy: %u requests are encoding frames of %s, try again",
                  VIEW_MAX_ENCODES, t->id);
        count(t, &t->req_error);
        return;
    }
    if (!f) {
        char s[24];
        snprintf(s, sizeof s, "%" PRIu64, latest_seq);
        out->status = 204;
        out->body = NULL;
        out->len = 0;
        daq_http_response_header(out, "X-Daq-Seq", s);
        daq_http_response_header(out, "Cache-Control", "no-store");
        count(t, &t->req_timeout);
        return;
    }
    encode_reply(t, &a, f, seq, out);
    daq_frame_unref(f);
    pthread_mutex_lock(&t->mu);
    t->encodes--;
    pthread_cond_broadcast(&t->cv); /* a slot for a request waiting on one */
    if (out->status == 200) {
        t->served[bin_index(a.bin)]++;
        t->req_frame++;
    } else {
        t->req_error++;
    }
    pthread_mutex_unlock(&t->mu);
}
