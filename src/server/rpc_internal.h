/* server/rpc_internal.h - what rpc.c (server, completion-queue thread) and
 * rpc_call.c (per-call state, streams) share.  Not a public header.
 *
 * Tags: every batch started on a call carries a pointer to one of the
 * rpc_tag structs embedded in its daq_rpc_call, so a completion-queue event
 * names both the call and the step.  The server's shutdown notification has
 * a tag of its own.
 *
 * Reference counting (daq_rpc_call.refs): +1 for the pending request (the
 * NEW tag; the CQ thread keeps it while it handles the new call), +1 per
 * batch started (CLOSE, SEND, STATUS), +1 per handler/producer reference
 * (public daq_rpc_call_ref).  The state -- and the grpc_call -- is freed
 * when it drops to 0, on whichever thread drops it.  user_refs counts the
 * handler/producer references alone: when the last of them goes while a
 * stream has no status yet, the server ends it (INTERNAL), so a producer
 * that forgets daq_rpc_stream_finish cannot leave a client waiting forever.
 */
#ifndef DAQ_SERVER_RPC_INTERNAL_H
#define DAQ_SERVER_RPC_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>

#include "server/rpc.h"

#define DAQ_RPC_LOG         "daq::rpc"
#define DAQ_RPC_DETAILS_MAX 256
#define DAQ_RPC_HOST_MAX    128

typedef enum daq_rpc_tag_kind {
    DAQ_RPC_TAG_NEW,      /* a requested call arrived (or the request failed) */
    DAQ_RPC_TAG_CLOSE,    /* RECV_CLOSE_ON_SERVER: the call is over */
    DAQ_RPC_TAG_SEND,     /* one streamed SEND_MESSAGE */
    DAQ_RPC_TAG_STATUS,   /* the status batch (unary: with the reply) */
    DAQ_RPC_TAG_SHUTDOWN, /* grpc_server_shutdown_and_notify */
} daq_rpc_tag_kind;

typedef struct daq_rpc_tag {
    daq_rpc_tag_kind kind;
    daq_rpc_call *call; /* NULL for the shutdown tag */
} daq_rpc_tag;

/* A registered method: the caller's entry, its own copy of the path, and
 * gRPC's handle from grpc_server_register_method. */
typedef struct daq_rpc_method_reg {
    daq_rpc_method m;
    char *path;
    void *handle;
} daq_rpc_method_reg;

struct daq_rpc_server {
    grpc_server *server;
    grpc_completion_queue *cq;
    pthread_t cq_thread;
    bool cq_thread_started;
    uint16_t port;
    daq_rpc_method_reg *methods;
    size_t n_methods;
    daq_rpc_tag shutdown_tag;
    /* NULL: calls need no token (server/rpc_auth.h). */
    struct daq_rpc_tokens *tokens;

    atomic_bool stopping;            /* set first thing in daq_rpc_server_stop */
    struct daq_rpc_workers *workers; /* run unary handlers (rpc_workers.h) */

    pthread_mutex_t mu; /* guards live, shutdown_done, bodies_out, open_* */
    pthread_cond_t cv;  /* live, open_n or bodies_out reached 0, or shutdown_done */
    size_t live;        /* call states not yet freed */
    bool shutdown_done; /* the shutdown tag came back */
    size_t bodies_out;  /* stream bodies handed to gRPC, not yet released */
    /* Calls that arrived and whose CLOSE tag has not come back: what stop
     * drains, then cancels with its own status (see rpc.c, "Stop"). */
    daq_rpc_call *open_head;
    size_t open_n;
};

/* A stream body handed to gRPC: the slice's destroy callback releases it
 * through the caller's body_release and counts it back on the server,
 * whose stop waits for the count to drop to 0 -- gRPC may drop its last
 * slice reference on one of its own threads after the call is gone, even
 * after grpc_shutdown while an internal reference keeps the library up. */
typedef struct daq_rpc_body {
    daq_rpc_server *srv;
    void (*release)(void *ctx);
    void *ctx;
} daq_rpc_body;

struct daq_rpc_call {
    daq_rpc_server *srv;
    const daq_rpc_method_reg *method; /* NULL: the generic request (unimplemented) */

    /* Filled in by gRPC when the request completes. */
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array req_md;
    grpc_call_details details; /* generic request only */
    grpc_byte_buffer *payload; /* registered methods: the request message */
    int cancelled;             /* RECV_CLOSE_ON_SERVER result */

    daq_rpc_tag t_new, t_close, t_send, t_status;
    atomic_int refs;
    atomic_int user_refs;

    pthread_mutex_t mu; /* everything below; serialises send batches */
    pthread_cond_t cv;  /* write slot free, or closed */
    bool is_stream;
    bool closed;           /* cancelled, a write failed, or the call is over */
    bool close_seen;       /* the CLOSE tag came back */
    bool write_busy;       /* a SEND_MESSAGE is in flight */
    bool md_sent;          /* initial metadata went out (or is going) */
    bool finish_requested; /* daq_rpc_stream_finish was called */
    bool status_started;   /* the status batch was started */
    int finish_status;
    char finish_details[DAQ_RPC_DETAILS_MAX];
    grpc_byte_buffer *send_bb;  /* the message in flight (SEND tag) */
    grpc_byte_buffer *reply_bb; /* the unary reply (STATUS tag) */
    daq_rpc_close_cb on_close;
    void *on_close_ctx;
    daq_rpc_ready_cb on_ready; /* called under mu (daq_rpc_stream_on_ready) */
    void *on_ready_ctx;

    daq_rpc_call *open_prev, *open_next; /* srv->open_head list, under srv->mu */
    bool is_open;                        /* on that list */

    char *peer; /* from grpc_call_get_peer, gpr_free'd */
    char peer_host[DAQ_RPC_HOST_MAX];
    /* The name of the caller's bearer token (borrowed from the server's
     * tokens, which outlive every call); NULL without tokens.  Audit only:
     * the token itself is never kept. */
    const char *token_name;
};

/* ---- rpc_call.c: call states ------------------------------------------------ */

/* A fresh state for a request on method m (NULL: generic), one reference
 * (the NEW tag); counts as live on s. */
daq_rpc_call *daq_rpc_call_new(daq_rpc_server *s, const daq_rpc_method_reg *m);

/* Drops one internal reference (a batch's or the NEW tag's). */
void daq_rpc_call_release(daq_rpc_call *c);

/* After the call arrived: records the peer and starts RECV_CLOSE_ON_SERVER.
 * false if the close batch could not be started (the call is then marked
 * closed). */
bool daq_rpc_call_begin(daq_rpc_call *c);

/* Unary reply: initial metadata + message (status OK only) + status as one
 * batch.  Takes body (malloc'd; freed by gRPC or here). */
void daq_rpc_call_reply(daq_rpc_call *c, int status, const char *details, uint8_t *body,
                        size_t len);

/* Every call still open (arrived, CLOSE not back) with one internal
 * reference each, in a malloc'd array the caller frees after releasing
 * them (daq_rpc_call_release); *n its length.  For stop. */
daq_rpc_call **daq_rpc_open_calls(daq_rpc_server *s, size_t *n);

/* Wakes a producer waiting on c (wait_writable, send, wait_closed) so it
 * sees the server stopping now rather than at its next poll. */
void daq_rpc_call_wake(daq_rpc_call *c);

/* Counts a stream a start handler accepted (daq_rpc_counters.streams). */
void daq_rpc_count_stream(void);

/* Handles a CLOSE, SEND or STATUS event and drops that batch's reference. */
void daq_rpc_call_event(daq_rpc_call *c, daq_rpc_tag_kind kind, bool ok);

/* ---- rpc_listen.c: listeners of exactly the family asked ------------------------ */

/* The channel arg (a socket mutator) every server is created with. */
grpc_arg daq_rpc_listen_arg(void);

/* For the grpc_server_add_http2_port about to run on this thread: AF_INET
 * refuses IPv6 listeners (for 0.0.0.0 only: gRPC binds a specific IPv4
 * address as ::ffff:a.b.c.d on an IPv6 socket), AF_INET6 makes them
 * IPV6_V6ONLY, 0 leaves them. */
void daq_rpc_listen_family(int family);

/* ---- pure helpers (unit-tested) ------------------------------------------------ */

/* The host part of a gRPC peer string: "ipv4:127.0.0.1:5000" -> "127.0.0.1",
 * "ipv6:[::1]:5000" or "ipv6:%5B::1%5D:5000" -> "::1", "unix:/run/x" ->
 * "/run/x", anything else unchanged.  Writes at most cap-1 bytes and a NUL;
 * returns the length written. */
size_t daq_rpc_peer_host(const char *peer, char *out, size_t cap);

/* "host:port" for grpc_server_add_http2_port: an IPv6 literal gets its
 * brackets ("::" -> "[::]:50051").  Returns false if it does not fit. */
bool daq_rpc_format_addr(const char *host, uint16_t port, char *out, size_t cap);

#endif
