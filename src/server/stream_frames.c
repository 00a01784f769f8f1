/* server/stream_frames.c - StreamFrames: streams as tasks on the stream
 * scheduler (stream_sched.h), no thread of their own.
 *
 * Each stream subscribes to its device's bus with the latest-only policy
 * (queue of one) and the client's max_fps as the bus's rate gate.  Its
 * step runs when a frame enters that queue (the bus's notify hook, on the
 * acquisition thread: one scheduler lock), when its call becomes writable
 * or closes (the rpc ready hook), or when its timer falls due.  A step never
 * waits: if the call can take a message it takes the newest frame, gets its
 * encoded form for the stream's quality from the device's encoder
 * (computed once per frame and quality, shared by streams) and sends it
 * with timeout 0 -- the FrameData head copied, the pixels referenced
 * zero-copy until gRPC is done with them.  So a client that stops reading
 * holds its in-flight frame plus the one waiting in its queue (2 frames: the
 * pool keeps 2 per allowed stream, daq_frame_streams_pool_allowance), and
 * never slows the acquisition thread, which only replaces that one frame.
 *
 * Limits.  Streams are admitted against [limits] streams in total and
 * streams_per_client per host (RESOURCE_EXHAUSTED with the numbers).  A
 * request whose frames cannot fit the message limit (the uncompressed
 * payload at the requested quality plus the head) is refused at once
 * (RESOURCE_EXHAUSTED, the sizes) rather than failing at the first frame;
 * a frame that outgrows it later (the camera reconfigured) ends the stream
 * with the same status.  A write that has not completed after
 * stall_timeout_ms (the client took nothing: HTTP/2 flow control holds it)
 * ends the stream with DEADLINE_EXCEEDED "client took no frame for N ms",
 * counted and logged (rate-limited), so hung viewers give their slots back.
 *
 * The stream ends with OK when the device's acquisition ends (the bus's
 * end-of-stream), as rust-daq's does, or UNAVAILABLE "cam0: reason" when it
 * ended in error (the engine ends the bus stream just before it records
 * the error: the step polls for the engine going idle for up to 1 s on a
 * 10 ms timer instead of waiting); it ends early when the client goes, and
 * with OK when the server stops (after its write in flight).  frame_number
 * carries the hardware number, so gaps are visible.
 */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/stream_frames.h"

#include "daq/log.h"
#include "daq_c.pb-c.h"
#include "server/calls.h"
#include "server/frame_encode.h"
#include "server/stream_sched.h"
#include "server/stream_set.h"
#include "util/clock.h"

#define EOS_POLL_NS 10000000ull   /* looking for the engine to go idle after EOS */
#define EOS_WAIT_NS 1000000000ull /* ... for at most this long */

struct daq_frame_streams {
    daq_devices *devices;    /* borrowed */
    daq_stream_sched *sched; /* borrowed */
    daq_frame_streams_config cfg;
    daq_stream_limit *limit; /* [limits] streams, streams_per_client */
    pthread_mutex_t mu;      /* guards enc */
    size_t n;
    daq_encoder **enc;    /* per device index, created on first use */
    _Atomic unsigned seq; /* names subscriptions */
    daq_log_ratelimit stall_rl;
};

uint32_t daq_frame_streams_pool_allowance(uint32_t streams)
{
    return 2 * streams + DAQ_ENCODER_DEPTH; /* in flight + queued each, the encoder's rows */
}

daq_frame_streams *daq_frame_streams_create(daq_devices *devices, daq_stream_sched *sched,
                                            const daq_frame_streams_config *cfg)
{
    daq_frame_streams *fs = calloc(1, sizeof *fs);
    if (!fs)
        return NULL;
    size_t n_devices = daq_devices_count(devices);
    fs->devices = devices;
    fs->sched = sched;
    fs->cfg = *cfg;
    fs->n = n_devices;
    fs->stall_rl = (daq_log_ratelimit)DAQ_LOG_RATELIMIT_INIT(5, 100);
    fs->enc = calloc(n_devices ? n_devices : 1, sizeof *fs->enc);
    fs->limit = daq_stream_limit_create("streams", cfg->max_streams, cfg->max_per_client);
    if (!fs->enc || !fs->limit) {
        free(fs->enc);
        daq_stream_limit_destroy(fs->limit);
        free(fs);
        return NULL;
    }
    pthread_mutex_init(&fs->mu, NULL);
    return fs;
}

void daq_frame_streams_destroy(daq_frame_streams *fs)
{
    if (!fs)
        return;
    for (size_t i = 0; i < fs->n; i++)
        daq_encoder_destroy(fs->enc[i]);
    free(fs->enc);
    daq_stream_limit_destroy(fs->limit);
    pthread_mutex_destroy(&fs->mu);
    free(fs);
}

static daq_encoder *encoder_for(daq_frame_streams *fs, size_t index)
{
    pthread_mutex_lock(&fs->mu);
    if (!fs->enc[index])
        fs->enc[index] = daq_encoder_create();
    daq_encoder *e = fs->enc[index];
    pthread_mutex_unlock(&fs->mu);
    return e;
}

/* ---- one stream --------------------------------------------------------------------- */

typedef struct stream {
    daq_sched_task task;
    daq_frame_streams *fs;
    daq_rpc_call *call;
    daq_bus *bus;
    daq_sub *sub;
    daq_encoder *enc;
    daq_device *dev; /* borrowed from the table */
    daq_quality quality;
    bool lz4;
    double max_fps;
    char device_id[64];
    char host[64];     /* admitted under this client host */
    atomic_bool armed; /* set up: the hooks may wake the task */
    uint64_t write_ns; /* when the write in flight started; 0: none */
    uint64_t eos_ns;   /* when the end of stream was seen; 0: not yet */
    /* StreamingMetrics */
    uint64_t sent, latency_n;
    double latency_sum_ms;
    uint64_t window_start_ns, window_frames;
    double current_fps;
} stream;

static void update_rate(stream *s, uint64_t now)
{
    if (!s->window_start_ns)
        s->window_start_ns = now;
    s->window_frames++;
    if (now - s->window_start_ns >= 1000000000ull) {
        s->current_fps = (double)s->window_frames * 1e9 / (double)(now - s->window_start_ns);
        s->window_start_ns = now;
        s->window_frames = 0;
    }
}

static void release_encoded(void *ctx)
{
    daq_encoded_unref(ctx);
}

/* Whether a message with payload bytes of FrameData.data (and the largest
 * head) fits the server's message limit. */
static bool message_fits(const daq_frame_streams *fs, size_t payload)
{
    return !fs->cfg.max_message_bytes ||
           payload + DAQ_FRAMEDATA_HEAD_MAX <= fs->cfg.max_message_bytes;
}

/* Builds and sends FrameData for enc without waiting (the stream takes
 * over its reference). */
static int send_frame(stream *s, daq_encoded *enc, uint64_t now)
{
    const daq_frame_meta *m = daq_frame_meta_get(daq_encoded_frame(enc));
    update_rate(s, now);
    if (m->eof_ns && m->eof_ns <= now) {
        s->latency_sum_ms += (double)(now - m->eof_ns) / 1e6;
        s->latency_n++;
    }
    daq_sub_stats st;
    daq_sub_stats_snapshot(s->sub, &st);
    daq_framedata_fields f;
    daq_framedata_fields_from_encoded(enc, &f);
    f.device_id = s->device_id;
    f.timestamp_ns = daq_mono_to_real_ns(m->eof_ns);
    f.uncompressed_size = (uint32_t)daq_encoded_uncompressed_size(enc); /* raw too, as a hint */
    f.has_metrics = true;
    f.current_fps = s->current_fps;
    f.frames_sent = s->sent + 1;
    f.frames_dropped = st.dropped + st.skipped_rate;
    f.avg_latency_ms = s->latency_n ? s->latency_sum_ms / (double)s->latency_n : 0;
    /* trigger_mode (23): only a triggered frame carries an index, and the
     * mode cannot change while the camera streams, so internal mode costs
     * nothing and a triggered frame one parameter read. */
    daq_param_value tm;
    char err[8];
    daq_camera *cam = m->trigger_index ? daq_device_camera(s->dev) : NULL;
    if (cam && daq_camera_get_param(cam, "trigger.mode", &tm, err, sizeof err) == 0)
        f.trigger_mode = tm.s;
    uint8_t head[DAQ_FRAMEDATA_HEAD_MAX];
    size_t hn = daq_framedata_head(&f, head, sizeof head);
    if (hn == 0) {
        daq_encoded_unref(enc);
        return DAQ_RPC_CLOSED;
    }
    daq_rpc_msg msg = {head, hn, daq_encoded_data(enc), daq_encoded_len(enc), release_encoded, enc};
    int rc = daq_rpc_stream_send(s->call, &msg, 0); /* writable: checked by the caller */
    if (rc == DAQ_RPC_BUSY)
        daq_encoded_unref(enc);
    else if (rc == DAQ_RPC_SENT)
        s->sent++;
    return rc;
}

/* Ends the call with status (after its write in flight); false, the
 * step's "over". */
static bool stream_end(stream *s, int status, const char *why)
{
    if (status != DAQ_RPC_OK)
        DAQ_LOG(DAQ_LOG_ERROR, "daq::grpc", "frame stream ended by an error",
                DAQ_F_STR("device", s->device_id), DAQ_F_STR("error", why));
    daq_rpc_stream_finish(s->call, status, status ? why : NULL);
    return false;
}

/* After the end of a bus stream: UNAVAILABLE with the camera's reason when
 * the acquisition ended in error, else OK (rust-daq's clean end).  The
 * engine ends the bus stream just before it records ERROR, hence a look
 * every EOS_POLL_NS for it to go idle, for up to EOS_WAIT_NS. */
static bool end_after_eos(stream *s, uint64_t now)
{
    daq_acq *acq = daq_device_acq(s->dev);
    bool idle = !acq || daq_acq_wait_idle(acq, 0);
    if (!idle && now - s->eos_ns < EOS_WAIT_NS) {
        daq_stream_sched_wake_at(s->fs->sched, &s->task, now + EOS_POLL_NS);
        return true;
    }
    daq_device_health h;
    if (!acq || !idle || (daq_device_health_snapshot(s->dev, &h), h.healthy))
        return stream_end(s, DAQ_RPC_OK, NULL);
    char why[384]; /* device id (64) + ": " + reason (256) */
    snprintf(why, sizeof why, "%s: %s", s->device_id, h.why);
    return stream_end(s, DAQ_RPC_UNAVAILABLE, why);
}

static uint64_t stall_ns(const daq_frame_streams *fs)
{
    return (uint64_t)fs->cfg.stall_timeout_ms * 1000000u;
}

/* The write in flight has not completed: the client takes nothing.  Past
 * stall_timeout_ms the call is cancelled with DEADLINE_EXCEEDED (its status
 * could never get past the stuck frame), else the step looks again then. */
static bool stall_check(stream *s, uint64_t now)
{
    daq_frame_streams *fs = s->fs;
    uint64_t limit = stall_ns(fs);
    if (!s->write_ns || now - s->write_ns < limit) {
        if (s->write_ns)
            daq_stream_sched_wake_at(fs->sched, &s->task, s->write_ns + limit);
        return true;
    }
    char why[96];
    snprintf(why, sizeof why, "client took no frame for %u ms", fs->cfg.stall_timeout_ms);
    daq_stream_count_stalled();
    uint64_t nth;
    if (daq_log_ratelimit_pass(&fs->stall_rl, &nth))
        DAQ_LOG(DAQ_LOG_WARN, "daq::grpc", "frame stream ended: the client stopped reading",
                DAQ_F_STR("device", s->device_id), DAQ_F_STR("client", daq_rpc_call_peer(s->call)),
                DAQ_F_U64("stall_timeout_ms", fs->cfg.stall_timeout_ms),
                DAQ_F_U64("occurrence", nth));
    daq_rpc_stream_cancel(s->call, DAQ_RPC_DEADLINE_EXCEEDED, why);
    return false;
}

/* The stream's step (stream_sched.h): never waits. */
static bool stream_step(void *arg)
{
    stream *s = arg;
    uint64_t now = daq_now_ns();
    if (s->eos_ns)
        return end_after_eos(s, now);
    int w = daq_rpc_stream_wait_writable(s->call, 0);
    if (w == DAQ_RPC_CLOSED)
        return stream_end(s, DAQ_RPC_OK, NULL); /* a stop's drain: OK after the write in flight */
    if (w == DAQ_RPC_BUSY)
        return stall_check(s, now); /* the bus keeps only the newest frame meanwhile */
    s->write_ns = 0;
    daq_frame *f;
    int r = daq_sub_next(s->sub, 0, &f);
    if (r == DAQ_SUB_EOS) {
        s->eos_ns = now; /* acquisition ended: so does the stream */
        return end_after_eos(s, now);
    }
    if (r == DAQ_SUB_CLOSED)
        return stream_end(s, DAQ_RPC_OK, NULL);
    if (r != DAQ_SUB_FRAME)
        return true; /* nothing new: the bus's notify wakes the step */
    daq_encoded *enc = daq_encoder_encode(s->enc, f, s->quality, s->lz4);
    daq_frame_unref(f);
    if (!enc)
        return stream_end(s, DAQ_RPC_INTERNAL, "cannot encode frames");
    if (!message_fits(s->fs, daq_encoded_len(enc))) {
        char why[256];
        snprintf(why, sizeof why,
                 "%s: a frame's message is %zu bytes, over the %zu-byte message limit (the "
                 "camera was reconfigured): ask for PREVIEW or FAST, or a smaller frame",
                 s->device_id, daq_encoded_len(enc) + DAQ_FRAMEDATA_HEAD_MAX,
                 s->fs->cfg.max_message_bytes);
        daq_encoded_unref(enc);
        return stream_end(s, DAQ_RPC_RESOURCE_EXHAUSTED, why);
    }
    int rc = send_frame(s, enc, now);
    if (rc == DAQ_RPC_CLOSED)
        return stream_end(s, DAQ_RPC_OK, NULL);
    if (rc == DAQ_RPC_SENT) {
        s->write_ns = now;
        daq_stream_sched_wake_at(s->fs->sched, &s->task, now + stall_ns(s->fs));
    }
    return true;
}

/* The bus's notify and the call's ready hook: under their locks, O(1). */
static void stream_wake(void *arg)
{
    stream *s = arg;
    if (atomic_load_explicit(&s->armed, memory_order_acquire))
        daq_stream_sched_wake(s->fs->sched, &s->task);
}

/* The scheduler is done with s: no hook may wake it any more, then free. */
static void stream_done(void *arg)
{
    stream *s = arg;
    daq_rpc_stream_on_ready(s->call, NULL, NULL);
    daq_sub_close(s->sub);
    daq_bus_unsubscribe(s->bus, s->sub);
    daq_stream_limit_leave(s->fs->limit, s->host);
    daq_rpc_call_unref(s->call);
    free(s);
}

/* Step 1: the request decoded and checked (names, quality: calls.h) and
 * its device found; DAQ_RPC_OK or the status to answer (details filled). */
static int stream_request(daq_frame_streams *fs, const uint8_t *req, size_t len,
                          Daq__StreamFramesRequest **in, daq_device **dev, char *details,
                          size_t details_len)
{
    *in = daq__stream_frames_request__unpack(NULL, len, req);
    if (!*in) {
        snprintf(details, details_len, "malformed StreamFramesRequest message");
        return DAQ_RPC_INVALID_ARGUMENT;
    }
    int rc = daq_call_check_request(&(*in)->base, req, len, details, details_len);
    if (rc == DAQ_RPC_OK)
        rc = daq_call_device(fs->devices, (*in)->device_id, DAQ_NEED_PRODUCER, dev, details,
                             details_len);
    if (rc != DAQ_RPC_OK)
        daq__stream_frames_request__free_unpacked(*in, NULL);
    return rc;
}

static daq_quality quality_of(Daq__StreamQuality q)
{
    return q == DAQ__STREAM_QUALITY__STREAM_QUALITY_PREVIEW ? DAQ_QUALITY_PREVIEW
           : q == DAQ__STREAM_QUALITY__STREAM_QUALITY_FAST  ? DAQ_QUALITY_FAST
                                                            : DAQ_QUALITY_FULL;
}

/* The index of d in the device table (the encoder cache's key). */
static size_t device_index(daq_devices *ds, const daq_device *d)
{
    size_t i = 0;
    while (i < daq_devices_count(ds) && daq_devices_at(ds, i) != d)
        i++;
    return i;
}

/* Step 2: a frame at the requested quality, uncompressed, must fit the
 * message limit with its head, else RESOURCE_EXHAUSTED with the sizes now
 * rather than a failure at the first frame (details filled). */
static int stream_fits(daq_frame_streams *fs, daq_device *d, const char *id, daq_quality q,
                       char *details, size_t details_len)
{
    daq_camera *cam = daq_device_camera(d);
    daq_camera_format f;
    char err[128];
    if (!fs->cfg.max_message_bytes || !cam || daq_camera_get_format(cam, &f, err, sizeof err) != 0)
        return DAQ_RPC_OK; /* nothing to check against: the step checks each frame */
    unsigned factor = q == DAQ_QUALITY_PREVIEW ? 2 : q == DAQ_QUALITY_FAST ? 4 : 1;
    uint32_t w = f.width, h = f.height;
    size_t bytes = f.frame_bytes;
    if (factor > 1 && daq_downsample_applies(w, h, bytes, factor)) {
        w /= factor;
        h /= factor;
        bytes = (size_t)w * h * 2;
    }
    if (message_fits(fs, bytes))
        return DAQ_RPC_OK;
    daq_stream_count_refused(DAQ_REFUSED_MESSAGE);
    snprintf(details, details_len,
             "%s: a %s frame is %zu bytes (%u x %u, %u-bit) + up to %d of head, over the "
             "%zu-byte message limit: ask for PREVIEW or FAST, or a smaller frame",
             id,
             q == DAQ_QUALITY_PREVIEW ? "PREVIEW"
             : q == DAQ_QUALITY_FAST  ? "FAST"
                                      : "FULL",
             bytes, w, h, (unsigned)f.bit_depth, DAQ_FRAMEDATA_HEAD_MAX, fs->cfg.max_message_bytes);
    return DAQ_RPC_RESOURCE_EXHAUSTED;
}

/* Step 3: the stream's state and its latest-only subscription (named
 * "grpc:HOST#N" into name) in *out: DAQ_RPC_OK, INTERNAL when out of
 * memory, RESOURCE_EXHAUSTED when no encoder or subscription can be had
 * (details filled).  Its hooks stay quiet until it is armed. */
static int stream_new(daq_frame_streams *fs, daq_rpc_call *call, daq_device *d,
                      const Daq__StreamFramesRequest *in, char *name, size_t name_len, stream **out,
                      char *details, size_t details_len)
{
    stream *s = *out = calloc(1, sizeof *s);
    if (!s) {
        snprintf(details, details_len, "out of memory");
        return DAQ_RPC_INTERNAL;
    }
    s->task = (daq_sched_task){.step = stream_step, .done = stream_done, .ctx = s};
    s->fs = fs;
    atomic_init(&s->armed, false);
    snprintf(s->device_id, sizeof s->device_id, "%s", in->device_id);
    snprintf(s->host, sizeof s->host, "%s", daq_rpc_call_peer_host(call));
    s->dev = d;
    s->quality = quality_of(in->quality);
    s->lz4 = fs->cfg.compression_lz4;
    s->call = call;
    s->bus = daq_device_bus(d);
    s->enc = encoder_for(fs, device_index(fs->devices, d));
    s->max_fps = in->max_fps;
    daq_sub_config sc;
    daq_sub_config_init(&sc);
    snprintf(name, name_len, "grpc:%s#%u", s->host, atomic_fetch_add(&fs->seq, 1) + 1);
    sc.name = name;
    sc.policy = DAQ_SUB_LATEST;
    sc.queue_depth = 1;
    sc.max_fps = in->max_fps;
    sc.notify = stream_wake;
    sc.notify_ctx = s;
    s->sub = s->enc ? daq_bus_subscribe(s->bus, &sc, details, details_len) : NULL;
    if (!s->sub) {
        if (!s->enc)
            snprintf(details, details_len, "out of memory");
        free(s);
        *out = NULL;
        return DAQ_RPC_RESOURCE_EXHAUSTED;
    }
    return DAQ_RPC_OK;
}

/* StreamFrames' start handler: request, size, admission, stream, task. */
static int frames_stream_start(void *ctx, daq_rpc_call *call, const uint8_t *req, size_t len,
                               char *details, size_t details_len)
{
    daq_frame_streams *fs = ctx;
    Daq__StreamFramesRequest *in;
    daq_device *d;
    int rc = stream_request(fs, req, len, &in, &d, details, details_len);
    if (rc == DAQ_RPC_OK) {
        rc = stream_fits(fs, d, in->device_id, quality_of(in->quality), details, details_len);
        if (rc == DAQ_RPC_OK && daq_stream_limit_enter(fs->limit, daq_rpc_call_peer_host(call),
                                                       details, details_len) != 0)
            rc = DAQ_RPC_RESOURCE_EXHAUSTED;
        if (rc != DAQ_RPC_OK)
            daq__stream_frames_request__free_unpacked(in, NULL);
    }
    if (rc != DAQ_RPC_OK)
        return rc;
    char name[96];
    stream *s;
    rc = stream_new(fs, call, d, in, name, sizeof name, &s, details, details_len);
    daq__stream_frames_request__free_unpacked(in, NULL);
    if (rc != DAQ_RPC_OK) {
        daq_stream_limit_leave(fs->limit, daq_rpc_call_peer_host(call));
        return rc;
    }
    DAQ_LOG(DAQ_LOG_INFO, "daq::grpc", "frame stream opening", DAQ_F_STR("device", s->device_id),
            DAQ_F_STR("client", daq_rpc_call_peer(call)), DAQ_F_STR("subscription", name),
            DAQ_F_U64("quality", s->quality), DAQ_F_U64("max_fps", (uint64_t)s->max_fps));
    /* Armed, then one wake: a frame or a close that came before the hook
     * was set is seen by that first step. */
    daq_rpc_stream_on_ready(call, stream_wake, s);
    atomic_store_explicit(&s->armed, true, memory_order_release);
    daq_stream_sched_wake(fs->sched, &s->task);
    return DAQ_RPC_OK;
}

size_t daq_frame_streams_methods(daq_frame_streams *fs, daq_rpc_method *out, size_t max)
{
    const daq_rpc_method m = {"/daq.HardwareService/StreamFrames", NULL, frames_stream_start, fs,
                              false};
    return daq_rpc_methods_copy(out, max, &m, 1);
}
