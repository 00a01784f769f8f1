/* server/rpc.c - the gRPC server on the gRPC C core: start, the
 * completion-queue thread, dispatch of new calls, stop.  See server/rpc.h;
 * per-call state and streams are in rpc_call.c.
 *
 * Why this shape (each point was hit on this machine, see
 * docs/facts/grpc-c-core.md):
 *  - Registered methods use GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER: the
 *    single request message of a unary or server-streaming call arrives
 *    with the call, so there is no RECV_MESSAGE step.  One request is kept
 *    posted per method and re-posted as each call arrives.
 *  - One generic grpc_server_request_call is always posted too and answered
 *    UNIMPLEMENTED: without it a call to any other path hangs until the
 *    client's deadline, and the Python client streams with no deadline.
 *  - RECV_CLOSE_ON_SERVER is started on every call: it is the only reliable
 *    "the call is over" (client cancel, disconnect, deadline, cancel_all).
 *  - One completion queue, one thread, which never runs a unary handler:
 *    those go to the worker pool (rpc_workers.c: [limits] workers threads,
 *    a lane for calls that change state and may take seconds, a thread
 *    always left for reads, 256 calls queued at most).  The CQ thread only
 *    dispatches, runs the quick stream start handlers and completes
 *    batches, so a slow call delays no other call, stream or stop.
 *  - SO_REUSEPORT is off: gRPC enables it by default, and a second daqd on
 *    the same port would then silently share it instead of failing.
 *
 * Stop (daq_rpc_server_stop, on the caller's thread, while the CQ thread
 * keeps draining events), bounded at DAQ_RPC_DRAIN_NS + a few ms:
 *  1. stopping = true and shutdown_and_notify: no new call, GOAWAY sent;
 *     every open call's producer is woken and, seeing the call "closed",
 *     finishes -- StreamFrames with OK, queued behind its write in flight.
 *  2. Wait up to DAQ_RPC_DRAIN_NS (1 s) for every open call's CLOSE: a
 *     client that reads gets its last frame and the OK (measured: a few ms
 *     for a reading client of 8 MiB frames).
 *  3. The calls still open are cancelled one by one with CANCELLED and
 *     DAQ_RPC_STOP_DETAILS: a client that does not read cannot take the OK
 *     queued behind the frame HTTP/2 flow control holds, and the trailers
 *     of a cancel bypass it.  cancel_all_calls then catches a call that
 *     arrived meanwhile; it would say UNAVAILABLE "Cancelling all calls",
 *     the status clients saw before step 1-3 existed (about 30 % of reading
 *     and 90 % of stalled streams).
 *  4. Wait until the shutdown tag came back AND every call state is freed;
 *     only then grpc_completion_queue_shutdown -- a batch started on a call
 *     after that aborts the process in grpc_cq_begin_op -- and join the CQ
 *     thread, which leaves at GRPC_QUEUE_SHUTDOWN; destroy, then wait (at
 *     most BODY_WAIT_NS) until gRPC has released every stream body: a
 *     transport may drop the last slice of a cancelled write on one of its
 *     own threads after all of this.
 * Since stop drives the shutdown itself, the CQ thread needs no stop flag
 * to poll: it blocks in grpc_completion_queue_next without a timeout.
 *
 * gRPC stays initialised: grpc_init runs once per process and
 * grpc_shutdown never.  grpc_shutdown joins gRPC's executor threads, and
 * one of them may be the TCP write "backup poller", which sits in
 * epoll_wait with a 10 s deadline while a connection had a write blocked
 * on a full socket (a client sharing one connection among several 8 MiB
 * streams): measured 10.1 s stops in about 1 try of 40 with 3 streams on
 * one connection -- the daemon's whole systemd stop budget.  The process
 * exits right after; gRPC's memory stays reachable from its globals.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "daq/log.h"
#include "server/rpc_auth.h"
#include "server/rpc_internal.h"
#include "server/rpc_workers.h"
#include "util/addr_list.h"
#include "util/clock.h"
#include "util/err.h"

#define ADDR_MAX          300
#define STOP_LOG_EVERY_NS (5ull * 1000 * 1000 * 1000)
#define BODY_WAIT_NS      (500ull * 1000 * 1000)

static pthread_once_t grpc_once = PTHREAD_ONCE_INIT;

static void grpc_init_once(void)
{
    grpc_init(); /* never shut down: see "gRPC stays initialised" at the top */
}

/* ---- requests ------------------------------------------------------------------- */

/* Posts the request for the next call of m (NULL: the generic request). */
static void post_request(daq_rpc_server *s, const daq_rpc_method_reg *m)
{
    if (atomic_load(&s->stopping))
        return;
    daq_rpc_call *c = daq_rpc_call_new(s, m);
    grpc_call_error e;
    if (m)
        e = grpc_server_request_registered_call(s->server, m->handle, &c->call, &c->deadline,
                                                &c->req_md, &c->payload, s->cq, s->cq, &c->t_new);
    else
        e = grpc_server_request_call(s->server, &c->call, &c->details, &c->req_md, s->cq, s->cq,
                                     &c->t_new);
    if (e != GRPC_CALL_OK) {
        DAQ_LOG(DAQ_LOG_ERROR, DAQ_RPC_LOG, "cannot post a call request", DAQ_F_I64("error", e),
                DAQ_F_STR("method", m ? m->path : "*"));
        daq_rpc_call_release(c);
    }
}

/* The request message as one contiguous slice (a copy); false if there is
 * none or it cannot be read (e.g. an unknown compression). */
static bool read_payload(grpc_byte_buffer *bb, grpc_slice *out)
{
    if (!bb)
        return false;
    grpc_byte_buffer_reader r;
    if (!grpc_byte_buffer_reader_init(&r, bb))
        return false;
    *out = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    return true;
}

/* ---- dispatch (CQ thread) ------------------------------------------------------ */

static void answer_unimplemented(daq_rpc_call *c)
{
    char details[DAQ_RPC_DETAILS_MAX];
    size_t len = GRPC_SLICE_LENGTH(c->details.method);
    snprintf(details, sizeof details, "method %.*s is not implemented by daqd",
             (int)(len > 200 ? 200 : len), (const char *)GRPC_SLICE_START_PTR(c->details.method));
    DAQ_LOG(DAQ_LOG_DEBUG, DAQ_RPC_LOG, "unimplemented method", DAQ_F_STR("details", details),
            DAQ_F_STR("peer", daq_rpc_call_peer(c)));
    daq_rpc_call_reply(c, DAQ_RPC_UNIMPLEMENTED, details, NULL, 0);
}

/* On a worker thread (rpc_workers.c). */
static void run_unary(daq_rpc_call *c)
{
    if (atomic_load(&c->srv->stopping)) { /* queued before the stop: not started any more */
        daq_rpc_call_reply(c, DAQ_RPC_UNAVAILABLE, DAQ_RPC_STOP_DETAILS, NULL, 0);
        return;
    }
    grpc_slice req;
    if (!read_payload(c->payload, &req)) {
        daq_rpc_call_reply(c, DAQ_RPC_INVALID_ARGUMENT, "missing or unreadable request message",
                           NULL, 0);
        return;
    }
    daq_rpc_reply r = {.status = DAQ_RPC_OK};
    const daq_rpc_method *m = &c->method->m;
    m->unary(m->ctx, GRPC_SLICE_START_PTR(req), GRPC_SLICE_LENGTH(req), &r);
    grpc_slice_unref(req);
    r.details[sizeof r.details - 1] = '\0';
    daq_rpc_call_reply(c, r.status, r.details, r.body, r.body ? r.len : 0);
}

/* Hands a unary call to the workers; a full queue is answered here, at
 * once, with the numbers. */
static void queue_unary(daq_rpc_server *s, daq_rpc_call *c)
{
    if (daq_rpc_workers_submit(s->workers, c))
        return;
    char details[DAQ_RPC_DETAILS_MAX];
    snprintf(details, sizeof details,
             "server busy: %u calls queued (at most %u); try again shortly",
             daq_rpc_workers_queued(s->workers), DAQ_RPC_QUEUE_MAX);
    daq_rpc_call_reply(c, DAQ_RPC_RESOURCE_EXHAUSTED, details, NULL, 0);
}

static void run_stream(daq_rpc_call *c)
{
    grpc_slice req;
    if (!read_payload(c->payload, &req)) {
        daq_rpc_stream_finish(c, DAQ_RPC_INVALID_ARGUMENT, "missing or unreadable request message");
        return;
    }
    char details[DAQ_RPC_DETAILS_MAX] = "";
    const daq_rpc_method *m = &c->method->m;
    daq_rpc_call_ref(c); /* the handler's, if it accepts */
    int st = m->stream(m->ctx, c, GRPC_SLICE_START_PTR(req), GRPC_SLICE_LENGTH(req), details,
                       sizeof details);
    grpc_slice_unref(req);
    if (st == DAQ_RPC_OK) {
        daq_rpc_count_stream();
        return;
    }
    details[sizeof details - 1] = '\0';
    daq_rpc_stream_finish(c, st, details);
    daq_rpc_call_unref(c);
}

static void on_new_call(daq_rpc_server *s, daq_rpc_call *c, bool ok)
{
    if (!ok) { /* the request was failed: the server is shutting down */
        daq_rpc_call_release(c);
        return;
    }
    post_request(s, c->method); /* the next call of this method */
    if (!daq_rpc_call_begin(c))
        grpc_call_cancel(c->call, NULL);
    else if (!daq_rpc_call_authorize(c, s->tokens))
        ; /* answered UNAUTHENTICATED */
    else if (!c->method)
        answer_unimplemented(c);
    else if (c->method->m.unary)
        queue_unary(s, c);
    else
        run_stream(c);
    daq_rpc_call_release(c); /* the NEW tag's reference */
}

static void *cq_main(void *arg)
{
    daq_rpc_server *s = arg;
    for (;;) {
        grpc_event ev =
            grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        daq_rpc_tag *t = ev.tag;
        if (t->kind == DAQ_RPC_TAG_SHUTDOWN) {
            pthread_mutex_lock(&s->mu);
            s->shutdown_done = true;
            pthread_cond_broadcast(&s->cv);
            pthread_mutex_unlock(&s->mu);
        } else if (t->kind == DAQ_RPC_TAG_NEW) {
            on_new_call(s, t->call, ev.success != 0);
        } else {
            daq_rpc_call_event(t->call, t->kind, ev.success != 0);
        }
    }
    return NULL;
}

/* ---- start ------------------------------------------------------------------------- */

static int check_methods(const daq_rpc_method *methods, size_t n, char *err, size_t err_len)
{
    for (size_t i = 0; i < n; i++) {
        const daq_rpc_method *m = &methods[i];
        if (!m->path || m->path[0] != '/')
            return daq_err(err, err_len, "rpc method %zu: path must start with '/'", i);
        if (!m->unary == !m->stream)
            return daq_err(err, err_len, "rpc method %s: exactly one of unary, stream", m->path);
        for (size_t j = 0; j < i; j++)
            if (strcmp(methods[j].path, m->path) == 0)
                return daq_err(err, err_len, "rpc method %s registered twice", m->path);
    }
    return 0;
}

/* gRPC logs its own reason; this finds errno for the message callers show
 * by binding a probe socket the same way. */
static void explain_bind_failure(const char *host, uint16_t port, char *err, size_t err_len)
{
    char where[ADDR_MAX];
    daq_rpc_format_addr(host, port, where, sizeof where);
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%u", (unsigned)port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int g = getaddrinfo(host, portstr, &hints, &ai);
    if (g != 0) {
        daq_err(err, err_len, "%s: cannot bind: %s", where, gai_strerror(g));
        return;
    }
    int saved = 0;
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0)
            saved = errno;
        close(fd);
    } else {
        saved = errno;
    }
    freeaddrinfo(ai);
    if (saved)
        daq_err(err, err_len, "%s: cannot bind: %s", where, strerror(saved));
    else
        daq_err(err, err_len, "%s: cannot bind (gRPC refused the address)", where);
}

static grpc_arg int_arg(const char *key, int value)
{
    grpc_arg a = {.type = GRPC_ARG_INTEGER, .key = (char *)key};
    a.value.integer = value;
    return a;
}

/* Keepalive: the server pings every keepalive_ms and drops a connection
 * whose peer does not answer within as long (at most KEEPALIVE_TIMEOUT_MS)
 * -- also while
 * no data flows (a stalled viewer) and with no call open, so a dead host's
 * connections and streams go in keepalive + timeout instead of TCP's
 * retransmission timeout (~15 min).  A connection cap (opts
 * max_connections) has no channel arg in gRPC 1.51's core; it is not
 * enforced here (see docs/deploy.md).  The TLS handshake must finish in
 * HANDSHAKE_TIMEOUT_MS (gRPC's default: 120 s per half-open connection). */
#define KEEPALIVE_TIMEOUT_MS 10000
#define HANDSHAKE_TIMEOUT_MS 10000

static grpc_server *create_grpc_server(const daq_rpc_opts *o)
{
    size_t max_message_bytes = o->max_message_bytes;
    int max = max_message_bytes > INT_MAX ? INT_MAX : (int)max_message_bytes;
    grpc_arg args[10];
    size_t n = 0;
    args[n++] = int_arg(GRPC_ARG_ALLOW_REUSEPORT, 0);
    args[n++] = daq_rpc_listen_arg();
    args[n++] = int_arg(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, HANDSHAKE_TIMEOUT_MS);
    if (max > 0) {
        args[n++] = int_arg(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, max);
        args[n++] = int_arg(GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, max);
    }
    if (o->keepalive_ms > 0) {
        int ka = o->keepalive_ms > INT_MAX ? INT_MAX : (int)o->keepalive_ms;
        args[n++] = int_arg(GRPC_ARG_KEEPALIVE_TIME_MS, ka);
        args[n++] = int_arg(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                            ka < KEEPALIVE_TIMEOUT_MS ? ka : KEEPALIVE_TIMEOUT_MS);
        args[n++] = int_arg(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
        args[n++] = int_arg(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    }
    grpc_channel_args ca = {.num_args = n, .args = args};
    return grpc_server_create(&ca, NULL);
}

static int register_methods(daq_rpc_server *s, const daq_rpc_method *methods, size_t n, char *err,
                            size_t err_len)
{
    s->methods = calloc(n ? n : 1, sizeof *s->methods);
    if (!s->methods)
        return daq_err(err, err_len, "rpc: out of memory");
    for (size_t i = 0; i < n; i++) {
        daq_rpc_method_reg *r = &s->methods[i];
        r->m = methods[i];
        r->path = strdup(methods[i].path);
        if (!r->path)
            return daq_err(err, err_len, "rpc: out of memory");
        r->m.path = r->path;
        r->handle = grpc_server_register_method(s->server, r->path, NULL,
                                                GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
        if (!r->handle)
            return daq_err(err, err_len, "rpc method %s: gRPC refused to register it", r->path);
        s->n_methods = i + 1;
    }
    return 0;
}

/* Until gRPC has released every stream body (see daq_rpc_body); false if
 * it did not within BODY_WAIT_NS. */
static bool wait_bodies(daq_rpc_server *s)
{
    uint64_t give_up = daq_now_ns() + BODY_WAIT_NS;
    pthread_mutex_lock(&s->mu);
    while (s->bodies_out > 0 && daq_cond_wait_until(&s->cv, &s->mu, give_up) != ETIMEDOUT)
        ;
    size_t out = s->bodies_out;
    pthread_mutex_unlock(&s->mu);
    if (out)
        DAQ_LOG(DAQ_LOG_ERROR, DAQ_RPC_LOG, "stop: gRPC kept message bodies; server state leaked",
                DAQ_F_U64("bodies", out));
    return out == 0;
}

static void server_free(daq_rpc_server *s)
{
    daq_rpc_tokens_free(s->tokens); /* no call is left to borrow a name */
    s->tokens = NULL;
    if (s->server)
        grpc_server_destroy(s->server);
    if (s->cq)
        grpc_completion_queue_destroy(s->cq);
    /* No grpc_shutdown: see "gRPC stays initialised" at the top. */
    if (!wait_bodies(s))
        return; /* a late release would still touch s */
    for (size_t i = 0; i < s->n_methods; i++)
        free(s->methods[i].path);
    free(s->methods);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

/* One listener of the family the address names (rpc_listen.c). */
static int add_port(daq_rpc_server *s, const daq_addr *a, uint16_t port,
                    grpc_server_credentials *creds, char *err, size_t err_len)
{
    char addr[ADDR_MAX];
    if (!daq_rpc_format_addr(a->host, port, addr, sizeof addr))
        return daq_err(err, err_len, "rpc: bind address too long");
    /* A specific IPv4 address needs no rule: gRPC binds it as ::ffff:a.b.c.d,
     * which only IPv4 traffic to that address reaches. */
    daq_rpc_listen_family(a->family == AF_INET && !a->wildcard ? 0 : a->family);
    int bound = grpc_server_add_http2_port(s->server, addr, creds);
    daq_rpc_listen_family(0);
    if (bound <= 0 || bound > UINT16_MAX) {
        explain_bind_failure(a->host, port, err, err_len);
        return -1;
    }
    s->port = (uint16_t)bound;
    return 0;
}

/* Every address of the bind list on one port: the first one picks it when
 * port is 0, the others follow (a dual-stack daqd has one port). */
static int add_ports(daq_rpc_server *s, const daq_rpc_opts *o, char *err, size_t err_len)
{
    daq_addr_list l;
    if (daq_addr_list_parse(o->bind, &l, err, err_len) != 0)
        return -1;
    bool tls = (o->tls_cert && *o->tls_cert) || (o->tls_key && *o->tls_key) ||
               (o->tls_client_ca && *o->tls_client_ca);
    grpc_server_credentials *creds =
        tls ? daq_rpc_tls_credentials(o->tls_cert, o->tls_key, o->tls_client_ca, err, err_len)
            : grpc_insecure_server_credentials_create();
    if (!creds)
        return -1;
    int rc = 0;
    uint16_t port = o->port;
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        rc = add_port(s, &l.a[i], port, creds, err, err_len);
        port = s->port;
    }
    grpc_server_credentials_release(creds);
    return rc;
}

void daq_rpc_opts_init(daq_rpc_opts *o)
{
    *o = (daq_rpc_opts){.bind = "127.0.0.1", .workers = 4};
}

daq_rpc_server *daq_rpc_server_start(const char *bind_addr, uint16_t port,
                                     const daq_rpc_method *methods, size_t n,
                                     size_t max_message_bytes, char *err, size_t err_len)
{
    daq_rpc_opts o;
    daq_rpc_opts_init(&o);
    o.bind = bind_addr;
    o.port = port;
    o.max_message_bytes = max_message_bytes;
    return daq_rpc_server_start_opts(&o, methods, n, err, err_len);
}

daq_rpc_server *daq_rpc_server_start_opts(const daq_rpc_opts *o, const daq_rpc_method *methods,
                                          size_t n, char *err, size_t err_len)
{
    const char *bind_addr = o->bind;
    if (!bind_addr || !*bind_addr) {
        daq_err(err, err_len, "rpc: no bind address");
        return NULL;
    }
    if (check_methods(methods, n, err, err_len) != 0)
        return NULL;
    daq_rpc_server *s = calloc(1, sizeof *s);
    if (!s) {
        daq_err(err, err_len, "rpc: out of memory");
        return NULL;
    }
    pthread_once(&grpc_once, grpc_init_once);
    pthread_mutex_init(&s->mu, NULL);
    daq_cond_init_monotonic(&s->cv);
    atomic_init(&s->stopping, false);
    s->shutdown_tag = (daq_rpc_tag){DAQ_RPC_TAG_SHUTDOWN, NULL};
    s->server = create_grpc_server(o);
    s->cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(s->server, s->cq, NULL);

    int rc = register_methods(s, methods, n, err, err_len);
    if (rc == 0 && o->tokens_file && *o->tokens_file &&
        !(s->tokens = daq_rpc_tokens_load(o->tokens_file, err, err_len)))
        rc = -1;
    if (rc == 0)
        rc = add_ports(s, o, err, err_len);
    /* Started either way: a failed start then takes the ordinary stop path. */
    grpc_server_start(s->server);
    if (rc == 0)
        for (size_t i = 0; i <= s->n_methods; i++)
            post_request(s, i < s->n_methods ? &s->methods[i] : NULL);
    s->workers = daq_rpc_workers_start(o->workers, run_unary, err, err_len);
    if (!s->workers)
        daq_fatal("rpc: cannot start the worker threads"); /* requests are posted */
    if (pthread_create(&s->cq_thread, NULL, cq_main, s) != 0)
        daq_fatal("rpc: cannot start the completion-queue thread"); /* requests are posted */
    s->cq_thread_started = true;
    pthread_setname_np(s->cq_thread, "daq-rpc");
    if (rc != 0) {
        daq_rpc_server_stop(s);
        return NULL;
    }
    DAQ_LOG(DAQ_LOG_INFO, DAQ_RPC_LOG, "gRPC server listening", DAQ_F_STR("addr", bind_addr),
            DAQ_F_U64("port", s->port), DAQ_F_U64("methods", n),
            DAQ_F_BOOL("tls", o->tls_cert && *o->tls_cert),
            DAQ_F_BOOL("mtls", o->tls_client_ca && *o->tls_client_ca),
            DAQ_F_U64("tokens", daq_rpc_tokens_count(s->tokens)));
    return s;
}

size_t daq_rpc_methods_copy(daq_rpc_method *out, size_t max, const daq_rpc_method *table, size_t n)
{
    if (n > max)
        return 0;
    memcpy(out, table, n * sizeof *table);
    return n;
}

uint16_t daq_rpc_server_port(const daq_rpc_server *s)
{
    return s ? s->port : 0;
}

/* ---- stop ---------------------------------------------------------------------------- */

/* Until no call is open or the drain deadline passed; the number left. */
static size_t wait_open_closed(daq_rpc_server *s, uint64_t deadline)
{
    pthread_mutex_lock(&s->mu);
    while (s->open_n > 0 && daq_cond_wait_until(&s->cv, &s->mu, deadline) != ETIMEDOUT)
        ;
    size_t left = s->open_n;
    pthread_mutex_unlock(&s->mu);
    return left;
}

/* Wakes every open call's producer, or (cancel) ends the call with
 * CANCELLED and the stop's own text: a client that does not read cannot
 * take the OK queued behind the frame it never reads. */
static void for_open_calls(daq_rpc_server *s, bool cancel)
{
    size_t n;
    daq_rpc_call **v = daq_rpc_open_calls(s, &n);
    for (size_t i = 0; i < n; i++) {
        if (cancel)
            grpc_call_cancel_with_status(v[i]->call, GRPC_STATUS_CANCELLED, DAQ_RPC_STOP_DETAILS,
                                         NULL);
        else
            daq_rpc_call_wake(v[i]);
        daq_rpc_call_release(v[i]);
    }
    free(v);
}

/* Until the shutdown tag came back (every connection closed) or deadline. */
static bool wait_shutdown_tag(daq_rpc_server *s, uint64_t deadline)
{
    pthread_mutex_lock(&s->mu);
    while (!s->shutdown_done && daq_cond_wait_until(&s->cv, &s->mu, deadline) != ETIMEDOUT)
        ;
    bool done = s->shutdown_done;
    pthread_mutex_unlock(&s->mu);
    return done;
}

/* Until the shutdown tag is back and no call state is left. */
static void wait_drained(daq_rpc_server *s)
{
    uint64_t next_log = daq_now_ns() + STOP_LOG_EVERY_NS;
    pthread_mutex_lock(&s->mu);
    while (!s->shutdown_done || s->live > 0) {
        if (daq_cond_wait_until(&s->cv, &s->mu, next_log) == ETIMEDOUT) {
            DAQ_LOG(DAQ_LOG_WARN, DAQ_RPC_LOG, "stop: waiting for calls to be released",
                    DAQ_F_U64("live", s->live), DAQ_F_BOOL("shutdown_done", s->shutdown_done));
            next_log = daq_now_ns() + STOP_LOG_EVERY_NS;
        }
    }
    pthread_mutex_unlock(&s->mu);
}

void daq_rpc_server_stop(daq_rpc_server *s)
{
    if (!s)
        return;
    uint64_t t0 = daq_now_ns();
    atomic_store(&s->stopping, true);
    grpc_server_shutdown_and_notify(s->server, s->cq, &s->shutdown_tag);
    for_open_calls(s, false); /* producers see stopping now and finish */
    size_t cancelled = wait_open_closed(s, t0 + DAQ_RPC_DRAIN_NS);
    if (cancelled) {
        for_open_calls(s, true);
        DAQ_LOG(DAQ_LOG_WARN, DAQ_RPC_LOG, "stop: calls not drained in time, cancelled",
                DAQ_F_U64("calls", cancelled), DAQ_F_U64("drain_ms", DAQ_RPC_DRAIN_NS / 1000000));
    }
    /* A cancel's trailers are only queued: let the connections close
     * gracefully (GOAWAY went out in step 1) so they reach the clients,
     * before cancel_all_calls tears down whatever is left. */
    bool graceful = wait_shutdown_tag(s, daq_now_ns() + DAQ_RPC_CLOSE_NS);
    grpc_server_cancel_all_calls(s->server);
    wait_drained(s);
    /* Every queued call has been answered by now (live is 0): the workers
     * are idle and must be gone before the queue shuts down, since a batch
     * started after that aborts the process. */
    daq_rpc_workers_stop(s->workers);
    grpc_completion_queue_shutdown(s->cq);
    if (s->cq_thread_started)
        pthread_join(s->cq_thread, NULL);
    uint16_t port = s->port;
    server_free(s);
    DAQ_LOG(DAQ_LOG_INFO, DAQ_RPC_LOG, "gRPC server stopped", DAQ_F_U64("port", port),
            DAQ_F_U64("cancelled", cancelled), DAQ_F_BOOL("graceful", graceful),
            DAQ_F_U64("ms", (daq_now_ns() - t0) / 1000000));
}
