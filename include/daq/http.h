/* daq/http.h - a small HTTP/1.1 server for the metrics endpoint
 * (libmicrohttpd underneath, its own thread pool).
 *
 * GET requests are passed to one handler with the path; anything else is
 * answered 405.  The handler runs on a server thread and fills a response;
 * it must be thread-safe against the rest of the program.
 *
 * Limits (daq_http_limits), so that slow or many clients cannot blind
 * monitoring: at most max_connections open connections, at most
 * max_per_client from one client address, and every request must arrive
 * whole, and its reply be sent, within request_deadline_ms of the
 * connection's accept (or of the previous reply on a kept-alive
 * connection): an absolute deadline that trickled bytes do not extend.
 * The handler's own run time is not counted.  A new connection over a limit
 * takes the place of the longest-waiting connection that has not sent a
 * whole request (from the same client for the per-client limit): a
 * slowloris only ever evicts itself.  Each connection closed or refused
 * this way is counted by reason (daq_http_stats_snapshot).
 *
 * Ownership: daq_http_start returns a server the caller stops with
 * daq_http_stop (which waits for running handlers).  A response body marked
 * free_body is freed by the server after sending.
 */
#ifndef DAQ_HTTP_H
#define DAQ_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daq/api.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct daq_http daq_http;

typedef struct daq_http_response {
    int status;               /* default 200 */
    const char *content_type; /* default "text/plain; charset=utf-8" */
    char *body;               /* may be NULL (empty body) */
    size_t len;
    bool free_body; /* the server frees body after sending */
} daq_http_response;

typedef void (*daq_http_handler)(void *ctx, const char *path, daq_http_response *out);

#define DAQ_HTTP_MAX_CONNECTIONS     64u
#define DAQ_HTTP_MAX_PER_CLIENT      8u
#define DAQ_HTTP_REQUEST_DEADLINE_MS 5000u

typedef struct daq_http_limits {
    unsigned max_connections;     /* 0: DAQ_HTTP_MAX_CONNECTIONS */
    unsigned max_per_client;      /* 0: DAQ_HTTP_MAX_PER_CLIENT; at most max_connections */
    unsigned request_deadline_ms; /* 0: DAQ_HTTP_REQUEST_DEADLINE_MS */
} daq_http_limits;

/* Why a connection was refused or closed by the server. */
typedef enum daq_http_reject {
    DAQ_HTTP_REJECT_CLIENT_LIMIT = 0, /* refused: its client had max_per_client busy */
    DAQ_HTTP_REJECT_LIMIT,            /* refused: max_connections busy (or libmicrohttpd's cap) */
    DAQ_HTTP_REJECT_EVICTED,          /* closed unfinished to make room for a new connection */
    DAQ_HTTP_REJECT_DEADLINE,         /* closed: request not in (or reply not out) in time */
    DAQ_HTTP_REJECT_COUNT,
} daq_http_reject;

/* "client_limit", "limit", "evicted", "deadline": the label values of
 * daq_http_rejected_connections_total{reason=...}.  Static storage. */
DAQ_API extern const char *const daq_http_reject_names[DAQ_HTTP_REJECT_COUNT];

typedef struct daq_http_stats {
    uint64_t accepted;                        /* connections admitted since start */
    uint64_t rejected[DAQ_HTTP_REJECT_COUNT]; /* since start, by daq_http_reject */
    uint32_t open;                            /* connections open now */
} daq_http_stats;

/* Decides whether a GET of path may be served, given the request's
 * Authorization header (NULL when absent).  false: the server answers 401
 * with "WWW-Authenticate: Bearer" without calling the handler.  Runs on a
 * server thread, like the handler. */
typedef bool (*daq_http_auth_fn)(void *ctx, const char *path, const char *authorization);

/* Everything daq_http_start_opts takes; strings and pointers borrowed for
 * the call, except ctx and auth_ctx (for the server's life). */
typedef struct daq_http_opts {
    const char *bind; /* "127.0.0.1", "0.0.0.0" (IPv4 only), "::1", "::" (IPv6 only),
                       * "0.0.0.0,::" (both, one dual-stack socket) */
    uint16_t port;    /* 0: ephemeral */
    daq_http_handler handler;
    void *ctx;
    const daq_http_limits *limits; /* NULL: every default */
    daq_http_auth_fn auth;         /* NULL: every path is served */
    void *auth_ctx;
} daq_http_opts;

DAQ_API daq_http *daq_http_start_opts(const daq_http_opts *o, char *err, size_t err_len);

/* Listens on bind_addr (an IP literal or list, see daq_http_opts.bind) and
 * port (0: ephemeral).  ctx is borrowed: it must outlive the server.  Returns a
 * server the caller owns (daq_http_stop), or NULL with a message such as
 * "127.0.0.1:9091: Address already in use" (the address, the port,
 * strerror). */
DAQ_API daq_http *daq_http_start(const char *bind_addr, uint16_t port, daq_http_handler handler,
                                 void *ctx, char *err, size_t err_len);

/* daq_http_start with limits (NULL: every default).  limits is copied. */
DAQ_API daq_http *daq_http_start_limits(const char *bind_addr, uint16_t port,
                                        daq_http_handler handler, void *ctx,
                                        const daq_http_limits *limits, char *err, size_t err_len);

/* Copies the connection counters into out (consistent per field).  Safe
 * from any thread, the handler included, until daq_http_stop. */
DAQ_API void daq_http_stats_snapshot(const daq_http *h, daq_http_stats *out);

/* The port actually bound. */
DAQ_API uint16_t daq_http_port(const daq_http *h);

DAQ_API void daq_http_stop(daq_http *h); /* NULL ok */

#ifdef __cplusplus
}
#endif
#endif
