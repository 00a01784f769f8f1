/* daq/http.h - a small HTTP/1.1 server for the metrics endpoint
 * (libmicrohttpd underneath, its own thread pool).
 *
 * GET, HEAD and POST requests are passed to one handler (daq_http_request:
 * path, query arguments, the few headers daq uses, a POST's whole body up to
 * max_body_bytes, else 413 without calling it); any other method is
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

/* One request as the handler sees it.  Every pointer is borrowed for the
 * handler's run (and the auth hook's): copy what must outlive it. */
typedef struct daq_http_request {
    const char *method;        /* "GET", "HEAD" or "POST" (others never reach a handler) */
    const char *path;          /* without the query string, not decoded */
    const char *authorization; /* the Authorization header, or NULL */
    const char *content_type;  /* the Content-Type header, or NULL */
    const char *origin;        /* the Origin header (browsers send it on POST), or NULL */
    const char *host;          /* the Host header, or NULL */
    const char *if_none_match; /* the If-None-Match header (cache revalidation), or NULL */
    const uint8_t *body;       /* POST: the whole body (<= max_body_bytes); else NULL */
    size_t body_len;
    const char *peer; /* the client's address and port, "127.0.0.1:54321" / "[::1]:54321" */
    void *conn_;      /* the server's, for daq_http_request_arg */
} daq_http_request;

/* The URL query argument name ("...?after=12&bin=4"), percent-decoded, or
 * NULL when absent.  Borrowed until the handler returns. */
DAQ_API const char *daq_http_request_arg(const daq_http_request *req, const char *name);

#define DAQ_HTTP_MAX_HEADERS      6
#define DAQ_HTTP_HEADER_VALUE_MAX 256

typedef struct daq_http_response {
    int status;               /* default 200 */
    const char *content_type; /* default "text/plain; charset=utf-8" */
    char *body;               /* may be NULL (empty body) */
    size_t len;
    bool free_body; /* the server frees body after sending */
    /* Extra headers (daq_http_response_header); the server sends them as is. */
    unsigned n_headers;
    struct {
        char name[48];
        char value[DAQ_HTTP_HEADER_VALUE_MAX];
    } headers[DAQ_HTTP_MAX_HEADERS];
} daq_http_response;

/* Adds a header to out (both copied, value truncated to fit).  Returns 0,
 * or -1 when DAQ_HTTP_MAX_HEADERS are already set or the name or value holds
 * a CR or LF (no header injection): nothing added. */
DAQ_API int daq_http_response_header(daq_http_response *out, const char *name, const char *value);

/* The handler answers one request; it runs on a server thread (one per
 * connection) and may block (a long poll), but should not for long:
 * daq_http_stop waits for it. */
typedef void (*daq_http_handler)(void *ctx, const daq_http_request *req, daq_http_response *out);

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

/* Decides whether a request may be served (req->authorization is the
 * Authorization header, NULL when absent; the body, for a POST, is already
 * read).  false: the server answers 401 with "WWW-Authenticate: Bearer"
 * without calling the handler.  Runs on a server thread, like the
 * handler. */
typedef bool (*daq_http_auth_fn)(void *ctx, const daq_http_request *req);

/* POST bodies up to 64 KiB: the control requests are a few hundred bytes. */
#define DAQ_HTTP_MAX_BODY_BYTES (64u * 1024u)

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
    size_t max_body_bytes; /* POST bodies; 0: DAQ_HTTP_MAX_BODY_BYTES */
    /* HTTPS: the certificate chain and its private key as PEM text (not
     * paths), both or neither; copied.  NULL: plain HTTP. */
    const char *tls_cert_pem, *tls_key_pem;
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
