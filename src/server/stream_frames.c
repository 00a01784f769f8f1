/* server/stream_frames.c - StreamFrames: one thread per stream.
 *
 * Each stream subscribes to its device's bus with the latest-only policy
 * (queue of one) and the client's max_fps as the bus's rate gate.  The
 * thread waits until the call can take a message, then takes the newest
 * frame, gets its encoded form for the stream's quality from the device's
 * encoder (computed once per frame and quality, shared by streams), and
 * sends it: the FrameData head copied, the pixels referenced zero-copy
 * until gRPC is done with them.  So a client that stops reading holds its
 * in-flight frame plus the one waiting in its queue, and never slows the
 * acquisition thread, which only ever replaces that one queued frame.
 *
 * The stream ends with OK when the device's acquisition ends (the bus's
 * end-of-stream), as rust-daq's does; it ends early when the client goes.
 * frame_number carries the hardware number, so gaps are visible.
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
#include "server/stream_set.h"
#include "util/clock.h"

#define POLL_NS 200000000ll /* how often a waiting stream looks at its call */

struct daq_frame_streams {
    daq_devices *devices; /* borrowed */
    daq_frame_streams_config cfg;
    daq_stream_set *threads;
    pthread_mutex_t mu; /* guards enc */
    size_t n;
    daq_encoder **enc;    /* per device index, created on first use */
    _Atomic unsigned seq; /* names subscriptions */
};

daq_frame_streams *daq_frame_streams_create(daq_devices *devices,
                                            const daq_frame_streams_config *cfg)
{
    daq_frame_streams *fs = calloc(1, sizeof *fs);
    if (!fs)
        return NULL;
    size_t n_devices = daq_devices_count(devices);
    fs->devices = devices;
    fs->cfg = *cfg;
    fs->n = n_devices;
    fs->enc = calloc(n_devices ? n_devices : 1, sizeof *fs->enc);
    fs->threads = daq_stream_set_create();
    if (!fs->enc || !fs->threads) {
        free(fs->enc);
        daq_stream_set_destroy(fs->threads);
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
    daq_stream_set_destroy(fs->threads);
    for (size_t i = 0; i < fs->n; i++)
        daq_encoder_destroy(fs->enc[i]);
    free(fs->enc);
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
    daq_rpc_call *call;
    daq_bus *bus;
    daq_sub *sub;
    daq_encoder *enc;
    daq_device *dev; /* borrowed from the table */
    daq_quality quality;
    bool lz4;
    double max_fps;
    char device_id[64];
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

/* Builds and sends FrameData for enc (the stream takes over its reference). */
static int send_frame(stream *s, daq_encoded *enc)
{
    const daq_frame_meta *m = daq_frame_meta_get(daq_encoded_frame(enc));
    uint64_t now = daq_now_ns();
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

/* After the end of a bus stream: UNAVAILABLE with the camera's reason when
 * the acquisition ended in error, else OK (rust-daq's clean end).  The
 * engine ends the bus stream just before it publishes ERROR, hence the
 * short wait for it to go idle. */
static int end_status(stream *s, char *why, size_t len)
{
    daq_acq *acq = daq_device_acq(s->dev);
    if (!acq || !daq_acq_wait_idle(acq, 1000))
        return DAQ_RPC_OK;
    daq_device_health h;
    daq_device_health_snapshot(s->dev, &h);
    if (h.healthy)
        return DAQ_RPC_OK;
    snprintf(why, len, "%s: %s", s->device_id, h.why);
    return DAQ_RPC_UNAVAILABLE;
}

static void frame_stream(void *arg)
{
    stream *s = arg;
    int status = DAQ_RPC_OK;
    char why[384] = "cannot encode frames"; /* device id (64) + ": " + reason (256) */
    for (;;) {
        int w = daq_rpc_stream_wait_writable(s->call, POLL_NS);
        if (w == DAQ_RPC_CLOSED)
            break;
        if (w == DAQ_RPC_BUSY)
            continue; /* the client is slow: the bus keeps only the newest frame meanwhile */
        daq_frame *f;
        int r = daq_sub_next(s->sub, POLL_NS, &f);
        if (r == DAQ_SUB_EOS) {
            status = end_status(s, why, sizeof why); /* acquisition ended: so does the stream */
            break;
        }
        if (r == DAQ_SUB_CLOSED)
            break;
        if (r != DAQ_SUB_FRAME)
            continue;
        daq_encoded *enc = daq_encoder_encode(s->enc, f, s->quality, s->lz4);
        daq_frame_unref(f);
        if (!enc) {
            status = DAQ_RPC_INTERNAL;
            break;
        }
        if (send_frame(s, enc) == DAQ_RPC_CLOSED)
            break;
    }
    if (status != DAQ_RPC_OK)
        DAQ_LOG(DAQ_LOG_ERROR, "daq::grpc", "frame stream ended by an error",
                DAQ_F_STR("device", s->device_id), DAQ_F_STR("error", why));
    daq_rpc_stream_finish(s->call, status, status ? why : NULL);
    daq_sub_close(s->sub);
    daq_bus_unsubscribe(s->bus, s->sub);
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

/* Step 2: the stream's state and its latest-only subscription (named
 * "grpc:HOST#N" into name) in *out: DAQ_RPC_OK, INTERNAL when out of
 * memory, RESOURCE_EXHAUSTED when no encoder or subscription can be had
 * (details filled). */
static int stream_new(daq_frame_streams *fs, daq_rpc_call *call, daq_device *d,
                      const Daq__StreamFramesRequest *in, char *name, size_t name_len, stream **out,
                      char *details, size_t details_len)
{
    stream *s = *out = calloc(1, sizeof *s);
    if (!s) {
        snprintf(details, details_len, "out of memory");
        return DAQ_RPC_INTERNAL;
    }
    snprintf(s->device_id, sizeof s->device_id, "%s", in->device_id);
    s->dev = d;
    s->quality = quality_of(in->quality);
    s->lz4 = fs->cfg.compression_lz4;
    s->call = call;
    s->bus = daq_device_bus(d);
    s->enc = encoder_for(fs, device_index(fs->devices, d));
    s->max_fps = in->max_fps;
    daq_sub_config sc;
    daq_sub_config_init(&sc);
    snprintf(name, name_len, "grpc:%s#%u", daq_rpc_call_peer_host(call),
             atomic_fetch_add(&fs->seq, 1) + 1);
    sc.name = name;
    sc.policy = DAQ_SUB_LATEST;
    sc.queue_depth = 1;
    sc.max_fps = in->max_fps;
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

static void stream_free_unstarted(stream *s)
{
    daq_bus_unsubscribe(s->bus, s->sub);
    free(s);
}

/* StreamFrames' start handler: request, stream, thread. */
static int frames_stream_start(void *ctx, daq_rpc_call *call, const uint8_t *req, size_t len,
                               char *details, size_t details_len)
{
    daq_frame_streams *fs = ctx;
    Daq__StreamFramesRequest *in;
    daq_device *d;
    int rc = stream_request(fs, req, len, &in, &d, details, details_len);
    if (rc != DAQ_RPC_OK)
        return rc;
    char name[96];
    stream *s;
    rc = stream_new(fs, call, d, in, name, sizeof name, &s, details, details_len);
    daq__stream_frames_request__free_unpacked(in, NULL);
    if (rc != DAQ_RPC_OK)
        return rc;
    /* Logged before the thread owns s (and the call reference). */
    DAQ_LOG(DAQ_LOG_INFO, "daq::grpc", "frame stream opening", DAQ_F_STR("device", s->device_id),
            DAQ_F_STR("client", daq_rpc_call_peer(call)), DAQ_F_STR("subscription", name),
            DAQ_F_U64("quality", s->quality), DAQ_F_U64("max_fps", (uint64_t)s->max_fps));
    if (daq_stream_set_spawn(fs->threads, daq_rpc_call_peer_host(call), fs->cfg.max_per_client,
                             frame_stream, s, details, details_len) != 0) {
        stream_free_unstarted(s);
        return DAQ_RPC_RESOURCE_EXHAUSTED;
    }
    return DAQ_RPC_OK;
}

size_t daq_frame_streams_methods(daq_frame_streams *fs, daq_rpc_method *out, size_t max)
{
    const daq_rpc_method m = {"/daq.HardwareService/StreamFrames", NULL, frames_stream_start, fs};
    return daq_rpc_methods_copy(out, max, &m, 1);
}
