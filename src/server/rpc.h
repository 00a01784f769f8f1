/* server/rpc.h - a small gRPC server on the gRPC C core (libgrpc) for
 * unary and server-streaming methods, carrying protobuf bytes.
 *
 * The core owns one completion queue and one thread that drives every call
 * through its states (new -> reply | stream -> status -> closed).  Methods
 * are registered by full path ("/daq.HardwareService/ListDevices"); a
 * generic handler answers every other path UNIMPLEMENTED at once, so no
 * client ever hangs on a method daqd does not serve.
 *
 * Unary handlers run on a pool of worker threads (server/rpc_workers.h):
 * a handler may block on hardware (a camera start), but never on the
 * network.  Methods marked audit (they change state) are the ones that may
 * be slow; they never take the last free thread, which stays for reads.
 *
 * Streaming: the start handler receives a call reference and usually hands
 * it to a thread of its own (the "stream side": downsampling, compression,
 * rate gates live there, never on an acquisition thread).  That thread sends
 * with daq_rpc_stream_send, which allows one write in flight per call and
 * waits (bounded) for the previous one to complete; it learns that the
 * client went away (cancel, disconnect, deadline, server shutdown) from
 * the send result or daq_rpc_stream_closed, finishes with
 * daq_rpc_stream_finish and drops its reference with daq_rpc_call_unref.
 *
 * Messages are sent as up to two parts: a small head (copied) and an
 * optional body referenced zero-copy, released through its callback when
 * gRPC no longer needs it -- so a full frame goes out without a copy.
 *
 * Ownership: the server owns calls; a start handler that accepts a stream
 * owns one reference and must release it.  daq_rpc_server_stop cancels all
 * calls and returns once every reference has been released.
 */
#ifndef DAQ_SERVER_RPC_H
#define DAQ_SERVER_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* gRPC status codes used by daq (values of grpc_status_code). */
enum {
    DAQ_RPC_OK = 0,
    DAQ_RPC_CANCELLED = 1,
    DAQ_RPC_UNKNOWN = 2,
    DAQ_RPC_INVALID_ARGUMENT = 3,
    DAQ_RPC_DEADLINE_EXCEEDED = 4,
    DAQ_RPC_NOT_FOUND = 5,
    DAQ_RPC_FAILED_PRECONDITION = 9,
    DAQ_RPC_RESOURCE_EXHAUSTED = 8,
    DAQ_RPC_UNIMPLEMENTED = 12,
    DAQ_RPC_INTERNAL = 13,
    DAQ_RPC_UNAVAILABLE = 14,
    DAQ_RPC_UNAUTHENTICATED = 16,
};

typedef struct daq_rpc_server daq_rpc_server;
typedef struct daq_rpc_call daq_rpc_call;

/* A unary reply: status (DAQ_RPC_OK with a body, or an error with details).
 * body is malloc'd by the handler and freed by the server. */
typedef struct daq_rpc_reply {
    int status;
    char details[256];
    uint8_t *body;
    size_t len;
} daq_rpc_reply;

/* req/len: the request message (len may be 0 for an all-default message),
 * borrowed for the handler's run; decoding it is the handler's business
 * (INVALID_ARGUMENT when it does not decode).  A call without a request
 * message is answered INVALID_ARGUMENT without calling the handler. */
typedef void (*daq_rpc_unary_fn)(void *ctx, const uint8_t *req, size_t len, daq_rpc_reply *reply);

/* Returns DAQ_RPC_OK to accept the stream -- the handler then owns one
 * reference on call -- or an error status (details filled), which the server
 * sends; the call is then not the handler's. */
typedef int (*daq_rpc_stream_fn)(void *ctx, daq_rpc_call *call, const uint8_t *req, size_t len,
                                 char *details, size_t details_len);

typedef struct daq_rpc_method {
    const char *path;       /* "/package.Service/Method" */
    daq_rpc_unary_fn unary; /* exactly one of unary, stream */
    daq_rpc_stream_fn stream;
    void *ctx;
    /* Changes state (a parameter, a stream, a recording): the call is logged
     * once when its status is sent (target "daq::audit": method, peer, token
     * name, status), so an operator can tell who changed what. */
    bool audit;
} daq_rpc_method;

/* Listens on bind_addr:port (port 0: ephemeral) and serves methods (the
 * array is copied).  max_message_bytes caps received and sent messages
 * (0: gRPC's defaults, 4 MiB received, sent unlimited).  The port is bound
 * exclusively (no SO_REUSEPORT sharing with a second daqd).  NULL with a
 * message ("127.0.0.1:50051: cannot bind: Address already in use") on
 * failure. */
daq_rpc_server *daq_rpc_server_start(const char *bind_addr, uint16_t port,
                                     const daq_rpc_method *methods, size_t n,
                                     size_t max_message_bytes, char *err, size_t err_len);

/* Everything daq_rpc_server_start_opts takes besides the methods; strings
 * borrowed for the call. */
typedef struct daq_rpc_opts {
    const char *bind;         /* required */
    uint16_t port;            /* 0: ephemeral */
    size_t max_message_bytes; /* 0: gRPC's defaults */
    uint32_t workers;         /* threads running unary handlers (default 4) */
    uint32_t max_connections; /* 0: unlimited */
    uint32_t keepalive_ms;    /* HTTP/2 keepalive ping period; 0: gRPC's default */
    /* TLS and bearer tokens (server/rpc_auth.h); NULL or "": off.  tls_cert
     * and tls_key go together; tls_client_ca (needs them) turns on mutual
     * TLS; tokens_file makes every call but grpc.health.v1 need a token. */
    const char *tls_cert, *tls_key, *tls_client_ca, *tokens_file;
} daq_rpc_opts;

void daq_rpc_opts_init(daq_rpc_opts *o);

/* daq_rpc_server_start with every option. */
daq_rpc_server *daq_rpc_server_start_opts(const daq_rpc_opts *o, const daq_rpc_method *methods,
                                          size_t n, char *err, size_t err_len);

uint16_t daq_rpc_server_port(const daq_rpc_server *s);

/* For the modules that each bring their methods (a `*_methods(ctx, out,
 * max)` function): copies table[0..n) into out when all n fit in max and
 * returns n; else copies nothing and returns 0 (whoever gathers the
 * tables treats 0 as fatal: methods must never go silently unserved). */
size_t daq_rpc_methods_copy(daq_rpc_method *out, size_t max, const daq_rpc_method *table, size_t n);

/* How long stop lets open calls end by themselves (a stream's producer
 * finishing with OK, its last frame and status reaching the client) before
 * it cancels them with CANCELLED and DAQ_RPC_STOP_DETAILS; then how long it
 * lets the connections close gracefully, so that those statuses are
 * flushed, before it tears them down. */
#define DAQ_RPC_DRAIN_NS     (500ull * 1000 * 1000)
#define DAQ_RPC_CLOSE_NS     (500ull * 1000 * 1000)
#define DAQ_RPC_STOP_DETAILS "daqd is shutting down"

/* Stops accepting new calls, tells every stream producer (they see
 * daq_rpc_stream_closed), waits up to DAQ_RPC_DRAIN_NS for the open calls
 * to end with the status their producers chose, cancels the rest
 * (CANCELLED, DAQ_RPC_STOP_DETAILS), waits until all references are
 * released, frees.  Bounded: DAQ_RPC_DRAIN_NS + DAQ_RPC_CLOSE_NS + a few
 * ms when producers
 * release their references promptly.  Every message body handed to a
 * stream has been released when it returns (else the server's state is
 * leaked, logged).  Not from a handler or close callback (they run on the
 * server's thread).  NULL ok. */
void daq_rpc_server_stop(daq_rpc_server *s);

/* Process-wide cumulative counters (all servers), for tests and metrics.
 * A "state" exists for every posted request, so created - freed is the
 * number of states alive; calls - calls_done the calls alive. */
typedef struct daq_rpc_counters {
    uint64_t states_created, states_freed;
    uint64_t calls;      /* calls that arrived */
    uint64_t calls_done; /* ... whose state has been freed */
    uint64_t unimplemented;
    uint64_t streams; /* streams a start handler accepted */
} daq_rpc_counters;

void daq_rpc_counters_snapshot(daq_rpc_counters *out);

/* ---- streams --------------------------------------------------------------- */

/* One message: head bytes are copied; body (may be NULL) is referenced and
 * released with body_release(body_ctx) exactly once, when gRPC is done with
 * it or the message is not sent. */
typedef struct daq_rpc_msg {
    const uint8_t *head;
    size_t head_len;
    const void *body;
    size_t body_len;
    void (*body_release)(void *body_ctx);
    void *body_ctx;
} daq_rpc_msg;

enum {
    DAQ_RPC_SENT = 0,    /* handed to gRPC */
    DAQ_RPC_BUSY = 1,    /* the previous write did not complete within timeout; nothing sent */
    DAQ_RPC_CLOSED = -1, /* the call is over; nothing sent */
};

/* Sends m once the previous write on this call has completed, waiting up to
 * timeout_ns (< 0: forever).  On DAQ_RPC_BUSY the caller still owns m (body
 * not released); on SENT or CLOSED the body has been taken over (released
 * by the server).  body_release may run on any thread (a gRPC thread once
 * the transport is done with the bytes, possibly after the call is freed),
 * but before daq_rpc_server_stop returns.  The first message also carries
 * the initial metadata.  Call from one thread per call (or a start
 * handler, whose first send never waits). */
int daq_rpc_stream_send(daq_rpc_call *c, const daq_rpc_msg *m, int64_t timeout_ns);

/* Waits up to timeout_ns (< 0: forever) until a message could be sent at
 * once (no write in flight).  Returns DAQ_RPC_SENT (= writable now),
 * DAQ_RPC_BUSY or DAQ_RPC_CLOSED.  Lets a producer take the newest frame
 * only when it can go out, so a stream holds its in-flight frame and no
 * other. */
int daq_rpc_stream_wait_writable(daq_rpc_call *c, int64_t timeout_ns);

/* true once the client cancelled, disconnected, the deadline passed, a
 * write failed, the server is stopping, or the call ended after a finish. */
bool daq_rpc_stream_closed(const daq_rpc_call *c);

/* Waits up to timeout_ns for the call to close; true if closed. */
bool daq_rpc_stream_wait_closed(daq_rpc_call *c, int64_t timeout_ns);

/* Ends the stream with a status after the write in flight (once; later
 * calls are ignored; harmless on a closed call).  While the server stops,
 * the call reads as closed but is still open for DAQ_RPC_DRAIN_NS: a
 * finish then reaches the client (a stream ended by the stop ends with the
 * status its producer chose, e.g. StreamFrames' OK).  A stream whose last
 * reference is released without a finish is ended with INTERNAL. */
void daq_rpc_stream_finish(daq_rpc_call *c, int status, const char *details);

/* Ends the stream now with status and details, whatever is in flight:
 * for a client that stopped reading, whose status a normal finish would
 * queue behind a write that never completes.  Its reader gets the
 * messages its window already holds, then the status.  Once; harmless on
 * a closed call. */
void daq_rpc_stream_cancel(daq_rpc_call *c, int status, const char *details);

/* Runs fn(ctx, c) once when the call is over (client gone, cancel,
 * deadline, server stopping, or finished and closed): on the server's
 * thread -- quick, may call daq_rpc_call_unref -- or at once on this thread
 * if the call is already over.  One per call; a later one replaces it.  So
 * a stream needs no thread of its own just to notice the client leaving. */
typedef void (*daq_rpc_close_cb)(void *ctx, daq_rpc_call *c);
void daq_rpc_stream_on_close(daq_rpc_call *c, daq_rpc_close_cb fn, void *ctx);

/* Runs fn(ctx) whenever the call may have changed for its producer: a
 * write completed (writable again), the call closed, or the server started
 * stopping.  It runs under the call's lock, on the server's thread (or
 * stop's): it must be O(1), take only leaf locks and call nothing on c --
 * typically it queues the stream on a scheduler, whose step then looks at
 * the call.  One per call; a later one replaces it; fn NULL removes it, and
 * once that returns fn is never called again.  So a stream needs no thread
 * to wait for its call to become writable. */
typedef void (*daq_rpc_ready_cb)(void *ctx);
void daq_rpc_stream_on_ready(daq_rpc_call *c, daq_rpc_ready_cb fn, void *ctx);

/* The client's address as gRPC reports it, e.g. "ipv4:127.0.0.1:54312";
 * and just the host part ("127.0.0.1"), for per-client limits.  Borrowed,
 * valid while the caller holds a reference. */
const char *daq_rpc_call_peer(const daq_rpc_call *c);
const char *daq_rpc_call_peer_host(const daq_rpc_call *c);

void daq_rpc_call_ref(daq_rpc_call *c);
void daq_rpc_call_unref(daq_rpc_call *c);

#endif
