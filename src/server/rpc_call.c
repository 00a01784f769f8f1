/* server/rpc_call.c - per-call state: references, unary replies, streams.
 * See server/rpc.h for the API and server/rpc_internal.h for the tags and
 * the reference rules.
 *
 * Threads: the CQ thread creates states, starts RECV_CLOSE_ON_SERVER and
 * unary replies, and handles every completion; a stream's producer thread
 * starts its own SEND_MESSAGE batches.  gRPC wants send batches on one call
 * serialised, so every batch start happens under the call's mutex -- that
 * also keeps write_busy, closed and the status in step.  The mutex is
 * never held across anything that waits: start_batch only queues work, and
 * byte buffers (whose destruction may run a caller's body_release) are
 * destroyed after unlocking.
 *
 * Streams keep at most one SEND_MESSAGE in flight (gRPC allows no more):
 * daq_rpc_stream_send waits on the call's condvar for the slot, which the
 * SEND completion frees and the CLOSE completion (cancel, disconnect,
 * deadline, server stop) ends for good.  A finish requested while a write
 * is in flight is started by that write's completion.
 *
 * Release of message bodies, exactly once on every path: a sent body is a
 * zero-copy slice whose destroy callback calls the caller's body_release
 * (when the transport drops the slice) and counts the body back on the
 * server, so stop can wait for the last one; a body refused because the
 * call is over is released here; a body whose batch failed to start goes
 * with its byte buffer; on BUSY nothing was taken.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/slice.h>
#include <grpc/support/alloc.h>

#include "daq/log.h"
#include "server/rpc_auth.h"
#include "server/rpc_internal.h"
#include "util/clock.h"
#include "util/fatal.h"

static _Atomic uint64_t g_states_created, g_states_freed, g_calls, g_calls_done, g_unimpl,
    g_streams;

void daq_rpc_counters_snapshot(daq_rpc_counters *out)
{
    out->states_created = atomic_load(&g_states_created);
    out->states_freed = atomic_load(&g_states_freed);
    out->calls = atomic_load(&g_calls);
    out->calls_done = atomic_load(&g_calls_done);
    out->unimplemented = atomic_load(&g_unimpl);
    out->streams = atomic_load(&g_streams);
}

void daq_rpc_count_stream(void)
{
    atomic_fetch_add(&g_streams, 1);
}

/* ---- life of a state ------------------------------------------------------------ */

daq_rpc_call *daq_rpc_call_new(daq_rpc_server *s, const daq_rpc_method_reg *m)
{
    daq_rpc_call *c = calloc(1, sizeof *c);
    if (!c)
        daq_fatal("rpc: out of memory for a call state");
    c->srv = s;
    c->method = m;
    c->is_stream = m && m->m.stream;
    grpc_metadata_array_init(&c->req_md);
    grpc_call_details_init(&c->details);
    c->t_new = (daq_rpc_tag){DAQ_RPC_TAG_NEW, c};
    c->t_close = (daq_rpc_tag){DAQ_RPC_TAG_CLOSE, c};
    c->t_send = (daq_rpc_tag){DAQ_RPC_TAG_SEND, c};
    c->t_status = (daq_rpc_tag){DAQ_RPC_TAG_STATUS, c};
    atomic_init(&c->refs, 1);
    atomic_init(&c->user_refs, 0);
    pthread_mutex_init(&c->mu, NULL);
    daq_cond_init_monotonic(&c->cv);

    pthread_mutex_lock(&s->mu);
    s->live++;
    pthread_mutex_unlock(&s->mu);
    atomic_fetch_add(&g_states_created, 1);
    return c;
}

static void call_free(daq_rpc_call *c)
{
    daq_rpc_server *s = c->srv;
    if (c->call) {
        grpc_call_unref(c->call);
        atomic_fetch_add(&g_calls_done, 1);
    }
    if (c->payload)
        grpc_byte_buffer_destroy(c->payload);
    if (c->send_bb) /* not reached: the SEND tag holds a reference */
        grpc_byte_buffer_destroy(c->send_bb);
    if (c->reply_bb)
        grpc_byte_buffer_destroy(c->reply_bb);
    grpc_metadata_array_destroy(&c->req_md);
    grpc_call_details_destroy(&c->details);
    if (c->peer)
        gpr_free(c->peer);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
    atomic_fetch_add(&g_states_freed, 1);

    /* Last: once live is 0 and unlocked, daq_rpc_server_stop may free s. */
    pthread_mutex_lock(&s->mu);
    if (--s->live == 0)
        pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void daq_rpc_call_release(daq_rpc_call *c)
{
    int before = atomic_fetch_sub(&c->refs, 1);
    if (before <= 0)
        daq_fatal("rpc: call state released more often than referenced");
    if (before == 1)
        call_free(c);
}

/* ---- batches (all under c->mu) -------------------------------------------------------- */

/* Starts ops on the tag's batch, holding one reference for it; false (and no
 * reference) if gRPC refused the batch. */
static bool start_batch_locked(daq_rpc_call *c, const grpc_op *ops, size_t n, daq_rpc_tag *tag)
{
    atomic_fetch_add(&c->refs, 1);
    grpc_call_error e = grpc_call_start_batch(c->call, ops, n, tag, NULL);
    if (e == GRPC_CALL_OK)
        return true;
    atomic_fetch_sub(&c->refs, 1); /* the caller still holds one: never the last */
    DAQ_LOG(DAQ_LOG_WARN, DAQ_RPC_LOG, "start_batch refused", DAQ_F_I64("error", e),
            DAQ_F_I64("tag", tag->kind));
    return false;
}

static grpc_op op_initial_md(void)
{
    grpc_op op = {0};
    op.op = GRPC_OP_SEND_INITIAL_METADATA;
    return op;
}

/* Status (and the initial metadata if none went out yet): the stream's
 * last batch.  details is copied by gRPC before start_batch returns. */
static void start_status_locked(daq_rpc_call *c, int status, const char *details)
{
    grpc_op ops[2];
    size_t n = 0;
    if (!c->md_sent)
        ops[n++] = op_initial_md();
    grpc_slice d = grpc_slice_from_copied_string(details ? details : "");
    grpc_op st = {0};
    st.op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    st.data.send_status_from_server.status = (grpc_status_code)status;
    st.data.send_status_from_server.status_details = (details && *details) ? &d : NULL;
    ops[n++] = st;
    c->md_sent = true;
    c->status_started = true;
    daq_rpc_call_audit(c, status, details);
    start_batch_locked(c, ops, n, &c->t_status);
    grpc_slice_unref(d);
}

/* ---- the open-call list (stop drains and cancels it) ---------------------------------- */

static void open_link(daq_rpc_call *c)
{
    daq_rpc_server *s = c->srv;
    pthread_mutex_lock(&s->mu);
    c->open_prev = NULL;
    c->open_next = s->open_head;
    if (s->open_head)
        s->open_head->open_prev = c;
    s->open_head = c;
    c->is_open = true;
    s->open_n++;
    pthread_mutex_unlock(&s->mu);
}

static void open_unlink(daq_rpc_call *c)
{
    daq_rpc_server *s = c->srv;
    pthread_mutex_lock(&s->mu);
    if (c->is_open) {
        if (c->open_prev)
            c->open_prev->open_next = c->open_next;
        else
            s->open_head = c->open_next;
        if (c->open_next)
            c->open_next->open_prev = c->open_prev;
        c->is_open = false;
        if (--s->open_n == 0)
            pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
}

daq_rpc_call **daq_rpc_open_calls(daq_rpc_server *s, size_t *n)
{
    pthread_mutex_lock(&s->mu);
    daq_rpc_call **v = malloc((s->open_n ? s->open_n : 1) * sizeof *v);
    if (!v)
        daq_fatal("rpc: out of memory listing open calls");
    size_t k = 0;
    for (daq_rpc_call *c = s->open_head; c; c = c->open_next) {
        atomic_fetch_add(&c->refs, 1); /* alive: the CLOSE batch's reference is not dropped yet */
        v[k++] = c;
    }
    pthread_mutex_unlock(&s->mu);
    *n = k;
    return v;
}

/* Tells the producer, whichever way it waits: condvar or ready hook. */
static void notify_locked(daq_rpc_call *c)
{
    pthread_cond_broadcast(&c->cv);
    if (c->on_ready)
        c->on_ready(c->on_ready_ctx);
}

void daq_rpc_call_wake(daq_rpc_call *c)
{
    pthread_mutex_lock(&c->mu);
    notify_locked(c);
    pthread_mutex_unlock(&c->mu);
}

bool daq_rpc_call_begin(daq_rpc_call *c)
{
    char *peer = grpc_call_get_peer(c->call);
    c->peer = peer;
    daq_rpc_peer_host(peer, c->peer_host, sizeof c->peer_host);
    atomic_fetch_add(&g_calls, 1);
    if (!c->method)
        atomic_fetch_add(&g_unimpl, 1);

    grpc_op op = {0};
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &c->cancelled;
    open_link(c); /* before the batch: its CLOSE unlinks */
    pthread_mutex_lock(&c->mu);
    bool ok = start_batch_locked(c, &op, 1, &c->t_close);
    if (!ok)
        c->closed = true;
    pthread_mutex_unlock(&c->mu);
    if (!ok)
        open_unlink(c);
    return ok;
}

static void free_body(void *p)
{
    free(p);
}

void daq_rpc_call_reply(daq_rpc_call *c, int status, const char *details, uint8_t *body, size_t len)
{
    grpc_byte_buffer *bb = NULL;
    if (status == DAQ_RPC_OK) {
        grpc_slice sl = grpc_empty_slice();
        size_t n = 0;
        if (body && len) {
            sl = grpc_slice_new(body, len, free_body); /* zero-copy, freed by gRPC */
            n = 1;
        } else {
            free(body);
        }
        bb = grpc_raw_byte_buffer_create(&sl, n);
        if (n)
            grpc_slice_unref(sl);
        details = NULL;
    } else {
        free(body);
    }

    grpc_slice d = grpc_slice_from_copied_string(details ? details : "");
    grpc_op ops[3];
    size_t n = 0;
    ops[n++] = op_initial_md();
    if (bb) {
        grpc_op m = {0};
        m.op = GRPC_OP_SEND_MESSAGE;
        m.data.send_message.send_message = bb;
        ops[n++] = m;
    }
    grpc_op st = {0};
    st.op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    st.data.send_status_from_server.status = (grpc_status_code)status;
    st.data.send_status_from_server.status_details = (details && *details) ? &d : NULL;
    ops[n++] = st;

    daq_rpc_call_audit(c, status, details);
    pthread_mutex_lock(&c->mu);
    c->md_sent = c->status_started = c->finish_requested = true;
    c->reply_bb = bb; /* destroyed with the state, after the STATUS tag */
    start_batch_locked(c, ops, n, &c->t_status);
    pthread_mutex_unlock(&c->mu);
    grpc_slice_unref(d);
}

/* ---- completions (CQ thread) ------------------------------------------------------ */

static void on_send_done(daq_rpc_call *c, bool ok)
{
    pthread_mutex_lock(&c->mu);
    grpc_byte_buffer *bb = c->send_bb;
    c->send_bb = NULL;
    c->write_busy = false;
    if (!ok)
        c->closed = true;
    if (c->finish_requested && !c->status_started)
        start_status_locked(c, c->finish_status, c->finish_details);
    notify_locked(c);
    pthread_mutex_unlock(&c->mu);
    if (bb)
        grpc_byte_buffer_destroy(bb); /* drops our slice refs; the body goes when gRPC's do */
}

static void on_close_done(daq_rpc_call *c)
{
    open_unlink(c);
    pthread_mutex_lock(&c->mu);
    c->close_seen = true;
    c->closed = true; /* over either way; cancelled says whether it ended abnormally */
    daq_rpc_close_cb fn = c->on_close;
    void *ctx = c->on_close_ctx;
    c->on_close = NULL;
    notify_locked(c);
    pthread_mutex_unlock(&c->mu);
    if (c->cancelled && c->is_stream)
        DAQ_LOG(DAQ_LOG_DEBUG, DAQ_RPC_LOG, "stream closed by the client or shutdown",
                DAQ_F_STR("method", c->method->path), DAQ_F_STR("peer", daq_rpc_call_peer(c)));
    if (fn)
        fn(ctx, c);
}

void daq_rpc_call_event(daq_rpc_call *c, daq_rpc_tag_kind kind, bool ok)
{
    switch (kind) {
    case DAQ_RPC_TAG_SEND: on_send_done(c, ok); break;
    case DAQ_RPC_TAG_CLOSE: on_close_done(c); break;
    case DAQ_RPC_TAG_STATUS: /* nothing to do but drop the batch's reference */
    default: break;
    }
    daq_rpc_call_release(c);
}

static bool call_over_locked(const daq_rpc_call *c)
{
    return c->closed || atomic_load(&c->srv->stopping);
}

/* ---- the public call API ----------------------------------------------------------- */

void daq_rpc_call_ref(daq_rpc_call *c)
{
    atomic_fetch_add(&c->user_refs, 1);
    atomic_fetch_add(&c->refs, 1);
}

void daq_rpc_call_unref(daq_rpc_call *c)
{
    if (!c)
        return;
    if (atomic_fetch_sub(&c->user_refs, 1) == 1 && c->is_stream) {
        pthread_mutex_lock(&c->mu);
        /* Not when the call is over (or the server stopping: cancel_all ends it). */
        if (!c->finish_requested && !c->close_seen && !call_over_locked(c)) {
            DAQ_LOG(DAQ_LOG_WARN, DAQ_RPC_LOG, "stream released without a status",
                    DAQ_F_STR("method", c->method->path));
            c->finish_requested = true;
            c->finish_status = DAQ_RPC_INTERNAL;
            snprintf(c->finish_details, sizeof c->finish_details, "stream ended by the server");
            if (!c->write_busy)
                start_status_locked(c, c->finish_status, c->finish_details);
        }
        pthread_mutex_unlock(&c->mu);
    }
    daq_rpc_call_release(c);
}

/* The body slice's destroy callback (any thread). */
static void body_done(void *arg)
{
    daq_rpc_body *b = arg;
    daq_rpc_server *s = b->srv;
    if (b->release)
        b->release(b->ctx);
    free(b);
    pthread_mutex_lock(&s->mu);
    if (--s->bodies_out == 0)
        pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static grpc_slice body_slice(daq_rpc_call *c, const daq_rpc_msg *m)
{
    daq_rpc_body *b = malloc(sizeof *b);
    if (!b)
        daq_fatal("rpc: out of memory for a message body");
    *b = (daq_rpc_body){c->srv, m->body_release, m->body_ctx};
    pthread_mutex_lock(&c->srv->mu);
    c->srv->bodies_out++;
    pthread_mutex_unlock(&c->srv->mu);
    return grpc_slice_new_with_user_data((void *)m->body, m->body_len, body_done, b);
}

static void release_body(const daq_rpc_msg *m)
{
    if (m->body && m->body_release)
        m->body_release(m->body_ctx);
}

/* Builds the message (copied head + zero-copy body) and starts its write.
 * On failure the returned buffer must be destroyed by the caller after
 * unlocking (that releases the body); *started says which. */
static grpc_byte_buffer *start_write_locked(daq_rpc_call *c, const daq_rpc_msg *m, bool *started)
{
    grpc_slice sl[2];
    size_t n = 0;
    if (m->head && m->head_len)
        sl[n++] = grpc_slice_from_copied_buffer((const char *)m->head, m->head_len);
    if (m->body && m->body_len)
        sl[n++] = body_slice(c, m);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(sl, n);
    for (size_t i = 0; i < n; i++)
        grpc_slice_unref(sl[i]); /* the buffer holds its own references */

    grpc_op ops[2];
    size_t nops = 0;
    if (!c->md_sent)
        ops[nops++] = op_initial_md();
    grpc_op w = {0};
    w.op = GRPC_OP_SEND_MESSAGE;
    w.data.send_message.send_message = bb;
    ops[nops++] = w;
    *started = start_batch_locked(c, ops, nops, &c->t_send);
    if (!*started) {
        c->closed = true;
        pthread_cond_broadcast(&c->cv);
        return bb;
    }
    c->md_sent = true;
    c->write_busy = true;
    c->send_bb = bb;
    return NULL;
}

/* Lets a producer take its newest frame only when it can go out at once. */
int daq_rpc_stream_wait_writable(daq_rpc_call *c, int64_t timeout_ns)
{
    uint64_t deadline = timeout_ns < 0 ? 0 : daq_now_ns() + (uint64_t)timeout_ns;
    pthread_mutex_lock(&c->mu);
    int rc = DAQ_RPC_SENT;
    for (;;) {
        if (call_over_locked(c) || c->finish_requested) {
            rc = DAQ_RPC_CLOSED;
            break;
        }
        if (!c->write_busy)
            break;
        int w = timeout_ns < 0 ? pthread_cond_wait(&c->cv, &c->mu)
                               : daq_cond_wait_until(&c->cv, &c->mu, deadline);
        if (w == ETIMEDOUT) {
            rc = c->write_busy ? DAQ_RPC_BUSY : DAQ_RPC_SENT;
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int daq_rpc_stream_send(daq_rpc_call *c, const daq_rpc_msg *m, int64_t timeout_ns)
{
    uint64_t deadline = timeout_ns < 0 ? 0 : daq_now_ns() + (uint64_t)timeout_ns;
    pthread_mutex_lock(&c->mu);
    while (c->write_busy && !call_over_locked(c)) {
        if (timeout_ns < 0)
            pthread_cond_wait(&c->cv, &c->mu);
        else if (daq_cond_wait_until(&c->cv, &c->mu, deadline) == ETIMEDOUT)
            break;
    }
    if (call_over_locked(c) || c->finish_requested) {
        pthread_mutex_unlock(&c->mu);
        release_body(m);
        return DAQ_RPC_CLOSED;
    }
    if (c->write_busy) {
        pthread_mutex_unlock(&c->mu);
        return DAQ_RPC_BUSY;
    }
    bool started;
    grpc_byte_buffer *failed = start_write_locked(c, m, &started);
    pthread_mutex_unlock(&c->mu);
    if (m->body && !m->body_len)
        release_body(m); /* an empty body is not sent: done with it now */
    if (failed)
        grpc_byte_buffer_destroy(failed); /* releases the body slice */
    return started ? DAQ_RPC_SENT : DAQ_RPC_CLOSED;
}

bool daq_rpc_stream_closed(const daq_rpc_call *c)
{
    daq_rpc_call *mc = (daq_rpc_call *)c; /* the mutex is not logically state */
    pthread_mutex_lock(&mc->mu);
    bool over = call_over_locked(c);
    pthread_mutex_unlock(&mc->mu);
    return over;
}

bool daq_rpc_stream_wait_closed(daq_rpc_call *c, int64_t timeout_ns)
{
    uint64_t deadline = timeout_ns < 0 ? 0 : daq_now_ns() + (uint64_t)timeout_ns;
    pthread_mutex_lock(&c->mu);
    while (!call_over_locked(c)) {
        if (timeout_ns < 0)
            pthread_cond_wait(&c->cv, &c->mu);
        else if (daq_cond_wait_until(&c->cv, &c->mu, deadline) == ETIMEDOUT)
            break;
    }
    bool over = call_over_locked(c);
    pthread_mutex_unlock(&c->mu);
    return over;
}

void daq_rpc_stream_finish(daq_rpc_call *c, int status, const char *details)
{
    pthread_mutex_lock(&c->mu);
    if (!c->finish_requested) {
        c->finish_requested = true;
        c->finish_status = status;
        snprintf(c->finish_details, sizeof c->finish_details, "%s", details ? details : "");
        if (!c->write_busy)
            start_status_locked(c, status, c->finish_details);
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
}

void daq_rpc_stream_on_close(daq_rpc_call *c, daq_rpc_close_cb fn, void *ctx)
{
    pthread_mutex_lock(&c->mu);
    bool now = c->close_seen;
    if (!now) {
        c->on_close = fn;
        c->on_close_ctx = ctx;
    }
    pthread_mutex_unlock(&c->mu);
    if (now && fn)
        fn(ctx, c);
}

void daq_rpc_stream_cancel(daq_rpc_call *c, int status, const char *details)
{
    pthread_mutex_lock(&c->mu);
    bool cancel = !c->close_seen && !c->status_started;
    if (cancel) /* no status batch after this: the cancel carries it */
        c->finish_requested = c->status_started = true;
    pthread_mutex_unlock(&c->mu);
    if (cancel)
        grpc_call_cancel_with_status(c->call, (grpc_status_code)status, details ? details : "",
                                     NULL);
}

void daq_rpc_stream_on_ready(daq_rpc_call *c, daq_rpc_ready_cb fn, void *ctx)
{
    pthread_mutex_lock(&c->mu);
    c->on_ready = fn;
    c->on_ready_ctx = ctx;
    pthread_mutex_unlock(&c->mu);
}

const char *daq_rpc_call_peer(const daq_rpc_call *c)
{
    return c->peer ? c->peer : "";
}

const char *daq_rpc_call_peer_host(const daq_rpc_call *c)
{
    return c->peer_host;
}
