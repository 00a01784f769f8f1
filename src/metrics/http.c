/* metrics/http.c - daqd's HTTP server on libmicrohttpd: /metrics, /healthz,
 * /debug/..., the live view's page, frames and control bridge.  See
 * daq/http.h.
 *
 * libmicrohttpd runs with its own listening thread and one thread per
 * connection (MHD_USE_THREAD_PER_CONNECTION): a scrape is a short request
 * every few seconds, so a thread per connection costs nothing and a slow
 * handler (or a slow client) never holds up another request.
 * MHD_stop_daemon joins every connection thread, which is what makes
 * daq_http_stop wait for running handlers: once it returns no handler runs
 * and none will.
 *
 * Limits.  MHD's own limits cannot keep a slowloris out: its connection
 * timeout is an idle timeout that every byte resets, and its connection
 * limits refuse the newcomer, so 64 sockets trickling 1 byte/s blinded
 * /metrics and /healthz for as long as they trickled (issue 12: every
 * scrape failed).  So the server keeps its own table of connections (http_conn,
 * registered by MHD_OPTION_NOTIFY_CONNECTION, one per socket):
 *   - the accept policy callback (listening thread) counts the live
 *     connections of the client's address and in all; over a limit, the
 *     longest-waiting connection that has not sent a whole request and is
 *     older than EVICT_MIN_AGE_NS is shut down to make room ("evicted"),
 *     else the newcomer is refused ("client_limit", "limit").  A slowloris
 *     thus only evicts itself, and a scraper's complete request, read in
 *     well under a millisecond on loopback, gets its turn;
 *   - a reaper thread wakes every REAP_PERIOD_NS and shuts down every
 *     connection past its absolute deadline ("deadline"): request_deadline
 *     after the accept, or after the previous reply was sent (keep-alive),
 *     or after the handler returned (a reader too slow for the reply).
 *     The handler's own run time is not counted: a slow scrape is not the
 *     client's fault.  So a slot is held at most deadline + 250 ms.
 * "Shut down" is shutdown(fd, SHUT_RDWR) from our thread: the connection's
 * thread wakes from its poll on EOF and MHD closes the connection as if the
 * client had.  It is safe against fd reuse because MHD notifies
 * MHD_CONNECTION_NOTIFY_CLOSED (which takes our lock and frees the entry)
 * before it closes the socket, and we only shut down under that lock.
 * MHD's own limits stay as a backstop at twice ours (connections we shut
 * down still count in MHD until their thread has gone).
 *
 * The policy callback sees only the address, MHD_OPTION_NOTIFY_CONNECTION
 * only the connection: an admitted address reserves an entry (fd -1) that
 * the connection claims by its address and port, so a burst of accepts
 * cannot overshoot the limits whichever thread MHD notifies from; an entry
 * never claimed (MHD gave up on the socket) is dropped after a second.
 *
 * Every refused or closed connection is counted (daq_http_stats) and logged
 * at WARN, rate-limited (the first 5, then every 100th, with the running
 * count), as are MHD's own messages: an attacker cannot flood the log.
 *
 * Errors at start: MHD reports a failed bind only through its log callback,
 * as a sentence of its own.  So before starting it we bind a probe socket
 * to the same address with the same SO_REUSEADDR setting MHD uses and turn
 * errno into the message callers show ("127.0.0.1:9091: Address already in
 * use").  The probe is closed before MHD binds; should something take the
 * port in between, MHD's own message (captured from its log callback) is
 * reported instead.  After start, MHD's messages go to the daq log under
 * "daq::http".
 *
 * Requests: GET and HEAD go to the handler on the access callback's first
 * call (MHD has cut off the query string; daq_http_request_arg reads MHD's
 * decoded arguments; MHD drops a HEAD reply's body itself), with no
 * per-request state.  A POST first has its Content-Length checked (over
 * max_body_bytes: 413 before a byte of the body is read, and MHD closes
 * the connection), then its body accumulated in a per-request buffer
 * (req_ctx, freed on completion), grown by doubling up to the limit (64 KiB
 * by default: control messages are a few hundred bytes), and the handler
 * runs on the last call.  A body that grows over the limit without having
 * declared it (chunked) cannot be answered at once -- MHD 0.9.75 queues no
 * reply while a body is still arriving -- so the rest is dropped unstored,
 * the 413 goes out at its end, and past twice the limit the connection is
 * simply closed.  The connection stays in PHASE_WAITING while the body
 * arrives, so a trickled body hits the same absolute deadline as trickled
 * headers.  The auth hook runs with the whole request (body read).  Every
 * other method is answered 405 with "Allow: GET, HEAD, POST" without
 * reading a body.  A handler's extra headers are checked when set
 * (daq_http_response_header: no CR or LF, a token name) and sent as is.
 *
 * Locking: one mutex (h->mu) guards the table and the counters; it is held
 * for a scan of at most 2 x max_connections entries and never across a
 * call into MHD or the handler.
 *
 * Ownership: the server owns its MHD daemon, its table and its reaper; a
 * handler's body marked free_body passes to MHD (freed with free() after
 * sending); other bodies are copied before the handler's frame ends.
 */
#define _GNU_SOURCE
#include "daq/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "daq/log.h"
#include "util/addr_list.h"
#include "util/clock.h"
#include "util/err.h"

#define LOG_HTTP         "daq::http"
#define REAP_PERIOD_NS   250000000ull  /* deadline precision */
#define EVICT_MIN_AGE_NS 100000000ull  /* a newcomer's request needs < 1 ms on loopback */
#define UNCLAIMED_NS     1000000000ull /* a reservation MHD never claimed */

const char *const daq_http_reject_names[DAQ_HTTP_REJECT_COUNT] = {
    [DAQ_HTTP_REJECT_CLIENT_LIMIT] = "client_limit",
    [DAQ_HTTP_REJECT_LIMIT] = "limit",
    [DAQ_HTTP_REJECT_EVICTED] = "evicted",
    [DAQ_HTTP_REJECT_DEADLINE] = "deadline",
};

typedef enum conn_phase {
    PHASE_WAITING, /* for a whole request: the deadline runs */
    PHASE_HANDLER, /* the handler runs: no deadline */
    PHASE_SENDING, /* the reply goes out: the deadline runs */
} conn_phase;

typedef struct http_conn {
    bool used;
    bool doomed; /* shut down by us; MHD has yet to close it */
    conn_phase phase;
    int fd;                       /* -1: reserved by the policy, not claimed yet */
    struct sockaddr_storage addr; /* the client's, port included */
    socklen_t addr_len;
    uint64_t since_ns;    /* the phase's start */
    uint64_t deadline_ns; /* for PHASE_WAITING and PHASE_SENDING */
} http_conn;

/* A POST's body while it arrives (MHD's req_ctx): grown by doubling up to
 * max_body_bytes.  GET and HEAD keep none. */
typedef struct http_body {
    uint8_t *p;
    size_t len, cap; /* len counts dropped bytes too once over */
    bool over;       /* over max_body_bytes: dropped, answered 413 at the end */
} http_body;

struct daq_http {
    struct MHD_Daemon *mhd;
    daq_http_handler handler;
    void *ctx;
    daq_http_auth_fn auth;
    void *auth_ctx;
    uint16_t port;
    char where[96]; /* "addr:port" for messages */
    daq_http_limits lim;
    uint64_t deadline_ns;
    size_t max_body;          /* POST bodies */
    char *tls_cert, *tls_key; /* PEM copies for HTTPS (GnuTLS reads them at start); NULL: HTTP */

    _Atomic bool started;   /* false: MHD messages are captured, not logged */
    pthread_mutex_t log_mu; /* guards start_msg */
    char start_msg[256];    /* MHD's first message while starting */
    daq_log_ratelimit mhd_rl;
    daq_log_ratelimit reject_rl;

    pthread_mutex_t mu; /* guards everything below */
    http_conn *conns;   /* n_conns entries */
    unsigned n_conns;
    daq_http_stats stats; /* .open is computed on snapshot */
    bool stopping;
    pthread_cond_t reap_cv; /* CLOCK_MONOTONIC */
    pthread_t reaper;
    bool reaper_running;
};

static const char default_type[] = "text/plain; charset=utf-8";

/* ---- MHD's log ------------------------------------------------------------- */

static void reject_log(daq_http *h, const struct sockaddr *sa, daq_http_reject why);

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    daq_http *h = cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    if (!atomic_load(&h->started)) {
        pthread_mutex_lock(&h->log_mu);
        if (!h->start_msg[0]) {
            size_t k = n < sizeof h->start_msg - 1 ? n : sizeof h->start_msg - 1;
            memcpy(h->start_msg, msg, k);
            h->start_msg[k] = '\0';
        }
        pthread_mutex_unlock(&h->log_mu);
        return;
    }
    /* MHD's backstop limits ("Server reached connection limit...") refuse a
     * connection without telling us otherwise: count them with ours. */
    if (strstr(msg, "connection limit")) {
        reject_log(h, NULL, DAQ_HTTP_REJECT_LIMIT);
        return;
    }
    uint64_t nth;
    if (daq_log_ratelimit_pass(&h->mhd_rl, &nth))
        DAQ_LOG(DAQ_LOG_WARN, LOG_HTTP, "libmicrohttpd", DAQ_F_STR("listen", h->where),
                DAQ_F_STR("error", msg), DAQ_F_U64("messages", nth));
}

/* ---- the connection table ------------------------------------------------------ */

static bool same_host(const struct sockaddr_storage *a, const struct sockaddr *b)
{
    if (a->ss_family != b->sa_family)
        return false;
    if (b->sa_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    if (b->sa_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
    return false;
}

static void addr_text(const struct sockaddr *sa, char *out, size_t len)
{
    snprintf(out, len, "-");
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)len);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)len);
}

/* Counts one refused or closed connection; logs it, rate-limited.  Takes
 * h->mu for the counter: call without it. */
static void reject_log(daq_http *h, const struct sockaddr *sa, daq_http_reject why)
{
    pthread_mutex_lock(&h->mu);
    uint64_t total = ++h->stats.rejected[why];
    pthread_mutex_unlock(&h->mu);
    if (!daq_log_ratelimit_pass(&h->reject_rl, NULL))
        return;
    char who[INET6_ADDRSTRLEN];
    addr_text(sa, who, sizeof who);
    DAQ_LOG(DAQ_LOG_WARN, LOG_HTTP, "connection rejected", DAQ_F_STR("listen", h->where),
            DAQ_F_STR("client", who), DAQ_F_STR("reason", daq_http_reject_names[why]),
            DAQ_F_U64("rejected_total", total));
}

/* Under h->mu.  Shuts c down; MHD closes it on its own thread. */
static void conn_doom(http_conn *c)
{
    c->doomed = true;
    if (c->fd >= 0)
        shutdown(c->fd, SHUT_RDWR);
}

/* Under h->mu.  The longest-waiting connection of host (NULL: any) not
 * yet in its handler, old enough to evict; NULL if none. */
static http_conn *evict_candidate(daq_http *h, const struct sockaddr *host, uint64_t now)
{
    http_conn *best = NULL;
    for (unsigned i = 0; i < h->n_conns; i++) {
        http_conn *c = &h->conns[i];
        if (!c->used || c->doomed || c->fd < 0 || c->phase != PHASE_WAITING)
            continue;
        if (host && !same_host(&c->addr, host))
            continue;
        if (now - c->since_ns < EVICT_MIN_AGE_NS)
            continue;
        if (!best || c->since_ns < best->since_ns)
            best = c;
    }
    return best;
}

static enum MHD_Result on_accept(void *cls, const struct sockaddr *sa, socklen_t len)
{
    daq_http *h = cls;
    uint64_t now = daq_now_ns();
    unsigned mine = 0, all = 0;
    http_conn *free_slot = NULL;
    pthread_mutex_lock(&h->mu);
    for (unsigned i = 0; i < h->n_conns; i++) {
        http_conn *c = &h->conns[i];
        if (!c->used) {
            if (!free_slot)
                free_slot = c;
            continue;
        }
        if (c->doomed)
            continue;
        all++;
        mine += same_host(&c->addr, sa);
    }
    int refused = -1, evicted = 0;
    http_conn *victim = NULL;
    if (mine >= h->lim.max_per_client) {
        victim = evict_candidate(h, sa, now);
        refused = victim ? -1 : DAQ_HTTP_REJECT_CLIENT_LIMIT;
    } else if (all >= h->lim.max_connections) {
        victim = evict_candidate(h, NULL, now);
        refused = victim ? -1 : DAQ_HTTP_REJECT_LIMIT;
    }
    struct sockaddr_storage victim_addr;
    if (victim) {
        victim_addr = victim->addr;
        conn_doom(victim);
        evicted = 1;
    }
    if (refused < 0 && !free_slot)
        refused = DAQ_HTTP_REJECT_LIMIT; /* the table is MHD's backstop size: not reached */
    if (refused < 0) {
        *free_slot = (http_conn){.used = true,
                                 .phase = PHASE_WAITING,
                                 .fd = -1,
                                 .addr_len = len,
                                 .since_ns = now,
                                 .deadline_ns = now + h->deadline_ns};
        memcpy(&free_slot->addr, sa, len < sizeof free_slot->addr ? len : sizeof free_slot->addr);
        h->stats.accepted++;
    }
    pthread_mutex_unlock(&h->mu);
    if (evicted)
        reject_log(h, (const struct sockaddr *)&victim_addr, DAQ_HTTP_REJECT_EVICTED);
    if (refused >= 0) {
        reject_log(h, sa, (daq_http_reject)refused);
        return MHD_NO;
    }
    return MHD_YES;
}

static void on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    daq_http *h = cls;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        http_conn *c = *socket_context;
        if (!c)
            return;
        pthread_mutex_lock(&h->mu);
        c->used = false; /* before MHD closes the fd: no shutdown can reach a reused fd */
        pthread_mutex_unlock(&h->mu);
        *socket_context = NULL;
        return;
    }
    const union MHD_ConnectionInfo *fdi =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *ai =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    *socket_context = NULL;
    if (!fdi || !ai || !ai->client_addr)
        return;
    const struct sockaddr *sa = ai->client_addr;
    pthread_mutex_lock(&h->mu);
    for (unsigned i = 0; i < h->n_conns; i++) {
        http_conn *c = &h->conns[i];
        if (!c->used || c->fd >= 0 || !same_host(&c->addr, sa))
            continue;
        /* the same host and port: the reservation of this socket */
        bool port_ok = sa->sa_family == AF_INET
                           ? ((const struct sockaddr_in *)&c->addr)->sin_port ==
                                 ((const struct sockaddr_in *)sa)->sin_port
                           : ((const struct sockaddr_in6 *)&c->addr)->sin6_port ==
                                 ((const struct sockaddr_in6 *)sa)->sin6_port;
        if (!port_ok)
            continue;
        c->fd = fdi->connect_fd;
        *socket_context = c;
        if (c->doomed) /* evicted before it was claimed */
            shutdown(c->fd, SHUT_RDWR);
        break;
    }
    pthread_mutex_unlock(&h->mu);
}

static http_conn *conn_of(struct MHD_Connection *mc)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void conn_phase_set(daq_http *h, struct MHD_Connection *mc, conn_phase phase)
{
    http_conn *c = conn_of(mc);
    if (!c)
        return;
    uint64_t now = daq_now_ns();
    pthread_mutex_lock(&h->mu);
    c->phase = phase;
    c->since_ns = now;
    c->deadline_ns = now + h->deadline_ns;
    pthread_mutex_unlock(&h->mu);
}

/* The reply went out (or the request ended otherwise): a kept-alive
 * connection waits for its next request against a fresh deadline. */
static void on_completed(void *cls, struct MHD_Connection *mc, void **req_ctx,
                         enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    http_body *b = *req_ctx;
    if (b) {
        free(b->p);
        free(b);
        *req_ctx = NULL;
    }
    conn_phase_set(cls, mc, PHASE_WAITING);
}

static void *reaper_main(void *arg)
{
    daq_http *h = arg;
    pthread_mutex_lock(&h->mu);
    while (!h->stopping) {
        struct timespec until = daq_deadline_after((int64_t)REAP_PERIOD_NS);
        pthread_cond_timedwait(&h->reap_cv, &h->mu, &until);
        if (h->stopping)
            break;
        uint64_t now = daq_now_ns();
        for (unsigned i = 0; i < h->n_conns; i++) {
            http_conn *c = &h->conns[i];
            if (!c->used || c->doomed)
                continue;
            if (c->fd < 0) {
                if (now - c->since_ns > UNCLAIMED_NS)
                    c->used = false;
                continue;
            }
            if (c->phase == PHASE_HANDLER || now < c->deadline_ns)
                continue;
            struct sockaddr_storage who = c->addr;
            conn_doom(c);
            pthread_mutex_unlock(&h->mu); /* reject_log takes it */
            reject_log(h, (const struct sockaddr *)&who, DAQ_HTTP_REJECT_DEADLINE);
            pthread_mutex_lock(&h->mu);
        }
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

void daq_http_stats_snapshot(const daq_http *h, daq_http_stats *out)
{
    daq_http *m = (daq_http *)h; /* the lock, not the figures, is mutable */
    pthread_mutex_lock(&m->mu);
    *out = m->stats;
    out->open = 0;
    for (unsigned i = 0; i < m->n_conns; i++)
        out->open += m->conns[i].used && m->conns[i].fd >= 0;
    pthread_mutex_unlock(&m->mu);
}

/* ---- requests ---------------------------------------------------------------- */

const char *daq_http_request_arg(const daq_http_request *req, const char *name)
{
    if (!req || !req->conn_ || !name)
        return NULL;
    return MHD_lookup_connection_value(req->conn_, MHD_GET_ARGUMENT_KIND, name);
}

/* A header name is an RFC 9110 token; neither name nor value may hold a
 * CR or LF (a handler echoing a client's text must not split the reply). */
static bool header_name_ok(const char *s)
{
    if (!s || !*s || strlen(s) >= sizeof((daq_http_response *)0)->headers[0].name)
        return false;
    for (; *s; s++)
        if (*s <= ' ' || *s >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", *s))
            return false;
    return true;
}

int daq_http_response_header(daq_http_response *out, const char *name, const char *value)
{
    if (!out || out->n_headers >= DAQ_HTTP_MAX_HEADERS || !header_name_ok(name) || !value ||
        strpbrk(value, "\r\n"))
        return -1;
    unsigned i = out->n_headers++;
    snprintf(out->headers[i].name, sizeof out->headers[i].name, "%s", name);
    snprintf(out->headers[i].value, sizeof out->headers[i].value, "%s", value);
    return 0;
}

/* Queues body (taking it over if owned) with status and content type,
 * plus one more header when hdr is set (Allow, WWW-Authenticate) and the
 * handler's extra headers when extra is set. */
static enum MHD_Result reply(struct MHD_Connection *conn, int status, const char *type, char *body,
                             size_t len, bool owned, const char *hdr, const char *hdr_value,
                             const daq_http_response *extra)
{
    static char empty[1];
    struct MHD_Response *resp;
    if (!body || !len) {
        if (owned)
            free(body);
        resp = MHD_create_response_from_buffer(0, empty, MHD_RESPMEM_PERSISTENT);
    } else if (owned) {
        resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
        if (!resp)
            free(body);
    } else {
        resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_COPY);
    }
    if (!resp)
        return MHD_NO; /* out of memory: MHD closes the connection */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type ? type : default_type);
    if (hdr)
        MHD_add_response_header(resp, hdr, hdr_value);
    for (unsigned i = 0; extra && i < extra->n_headers && i < DAQ_HTTP_MAX_HEADERS; i++)
        MHD_add_response_header(resp, extra->headers[i].name, extra->headers[i].value);
    enum MHD_Result r = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result reply_text(daq_http *h, struct MHD_Connection *conn, int status,
                                  const char *text, const char *hdr, const char *hdr_value)
{
    conn_phase_set(h, conn, PHASE_SENDING);
    return reply(conn, status, NULL, (char *)text, strlen(text), false, hdr, hdr_value, NULL);
}

/* 413, before the handler: "request body too large (N bytes, at most M)". */
static enum MHD_Result reply_too_large(daq_http *h, struct MHD_Connection *conn,
                                       unsigned long long n)
{
    char msg[128];
    snprintf(msg, sizeof msg, "request body too large (%llu bytes, at most %zu)\n", n, h->max_body);
    conn_phase_set(h, conn, PHASE_SENDING);
    return reply(conn, MHD_HTTP_CONTENT_TOO_LARGE, NULL, msg, strlen(msg), false, NULL, NULL, NULL);
}

/* "127.0.0.1:54321", "[::1]:54321", or "-". */
static void peer_text(struct MHD_Connection *conn, char *out, size_t len)
{
    const union MHD_ConnectionInfo *ai =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ai ? ai->client_addr : NULL;
    char host[INET6_ADDRSTRLEN];
    addr_text(sa, host, sizeof host);
    if (sa && sa->sa_family == AF_INET)
        snprintf(out, len, "%s:%u", host, ntohs(((const struct sockaddr_in *)sa)->sin_port));
    else if (sa && sa->sa_family == AF_INET6)
        snprintf(out, len, "[%s]:%u", host, ntohs(((const struct sockaddr_in6 *)sa)->sin6_port));
    else
        snprintf(out, len, "-");
}

/* Accumulates a POST body into *req_ctx.  MHD_YES to go on reading,
 * MHD_NO to close the connection. */
static enum MHD_Result body_take(daq_http *h, http_body *b, const char *data, size_t *size)
{
    size_t n = *size;
    *size = 0; /* consumed (or dropped, once over the limit) */
    if (b->over || b->len + n > h->max_body) {
        /* A body growing over the limit (chunked, or longer than it said).
         * MHD 0.9.75 takes no reply before the body's end, so what is left
         * is read and dropped for the 413 at the end -- up to as much again
         * as the limit, then the connection is closed: a client streaming
         * forever costs one buffer and the request deadline, never memory. */
        if (!b->over) {
            free(b->p);
            b->p = NULL;
            b->cap = 0;
            b->over = true;
        }
        b->len += n;
        return b->len > 2 * h->max_body ? MHD_NO : MHD_YES;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n)
            cap *= 2;
        if (cap > h->max_body)
            cap = h->max_body;
        uint8_t *p = realloc(b->p, cap);
        if (!p)
            return MHD_NO;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_ctx)
{
    (void)version;
    daq_http *h = cls;
    bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    http_body *b = *req_ctx;
    if (post && !b) {
        /* The headers are in; the body is not read yet.  A declared length
         * over the limit is refused before a byte of it is read. */
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (*cl != '-' && !*end && !errno && n > h->max_body)
                return reply_too_large(h, conn, n);
        }
        if (!(b = calloc(1, sizeof *b)))
            return MHD_NO;
        *req_ctx = b;
        return MHD_YES; /* MHD calls again with the body, then with size 0 */
    }
    if (post && *upload_data_size)
        return body_take(h, b, upload_data, upload_data_size);
    if (post && b->over)
        return reply_too_large(h, conn, b->len);
    if (!post && strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply_text(h, conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n",
                          MHD_HTTP_HEADER_ALLOW, "GET, HEAD, POST");

    char peer[INET6_ADDRSTRLEN + 16];
    peer_text(conn, peer, sizeof peer);
    daq_http_request rq = {
        .method = method,
        .path = url ? url : "/",
        .authorization =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
        .content_type =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
        .origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin"),
        .host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST),
        .if_none_match =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH),
        .body = post ? (b->p ? b->p : (const uint8_t *)"") : NULL,
        .body_len = post ? b->len : 0,
        .peer = peer,
        .conn_ = conn,
    };
    if (h->auth && !h->auth(h->auth_ctx, &rq))
        return reply_text(h, conn, MHD_HTTP_UNAUTHORIZED,
                          "unauthorized: send Authorization: Bearer <token>\n",
                          MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"daqd\"");
    daq_http_response out = {.status = 200};
    conn_phase_set(h, conn, PHASE_HANDLER);
    h->handler(h->ctx, &rq, &out);
    conn_phase_set(h, conn, PHASE_SENDING);
    int status = out.status >= 100 && out.status <= 999 ? out.status : 500;
    return reply(conn, status, out.content_type, out.body, out.len, out.free_body, NULL, NULL,
                 &out);
}

/* ---- start and stop ------------------------------------------------------------- */

/* Binds a throw-away socket as MHD will (SO_REUSEADDR, IPV6_V6ONLY
 * unless dual) to learn errno. */
static int probe_bind(const struct sockaddr_storage *sa, socklen_t len, bool dual)
{
    int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    int on = 1, v6only = !dual;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (sa->ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
    int e = bind(fd, (const struct sockaddr *)sa, len) == 0 ? 0 : errno;
    close(fd);
    return e;
}

/* "addr:port" for messages; an IPv6 address (or a list) in brackets. */
static void where_format(char *out, size_t cap, const char *bind_addr, uint16_t port)
{
    snprintf(out, cap, strchr(bind_addr, ':') ? "[%s]:%u" : "%s:%u", bind_addr, (unsigned)port);
}

/* The one socket address MHD listens on: a single address, or 0.0.0.0,::
 * as one dual-stack [::] socket (*dual).  MHD listens on one socket per
 * daemon, so other lists are refused rather than half served. */
static int listen_addr(const char *spec, uint16_t port, struct sockaddr_storage *sa, socklen_t *len,
                       bool *dual, char *err, size_t err_len)
{
    daq_addr_list l;
    if (daq_addr_list_parse(spec, &l, err, err_len) != 0)
        return -1;
    *dual = l.n == 2 && l.a[0].wildcard && l.a[1].wildcard && l.a[0].family != l.a[1].family;
    if (l.n > 1 && !*dual)
        return daq_err(err, err_len,
                       "'%s': the HTTP endpoint listens on one address, or on 0.0.0.0,:: (both "
                       "families)",
                       spec);
    const daq_addr *a = &l.a[0];
    if (*dual)
        a = l.a[0].family == AF_INET6 ? &l.a[0] : &l.a[1];
    memset(sa, 0, sizeof *sa);
    if (a->family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        inet_pton(AF_INET, a->host, &s4->sin_addr);
        *len = sizeof *s4;
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        inet_pton(AF_INET6, a->host, &s6->sin6_addr);
        *len = sizeof *s6;
    }
    return 0;
}

static void limits_resolve(const daq_http_limits *in, daq_http_limits *out)
{
    *out = in ? *in : (daq_http_limits){0};
    if (!out->max_connections)
        out->max_connections = DAQ_HTTP_MAX_CONNECTIONS;
    if (!out->max_per_client)
        out->max_per_client = DAQ_HTTP_MAX_PER_CLIENT;
    if (out->max_per_client > out->max_connections)
        out->max_per_client = out->max_connections;
    if (!out->request_deadline_ms)
        out->request_deadline_ms = DAQ_HTTP_REQUEST_DEADLINE_MS;
}

static void http_free(daq_http *h)
{
    pthread_cond_destroy(&h->reap_cv);
    pthread_mutex_destroy(&h->mu);
    pthread_mutex_destroy(&h->log_mu);
    free(h->conns);
    free(h->tls_cert);
    if (h->tls_key) { /* a private key: not left in freed memory */
        explicit_bzero(h->tls_key, strlen(h->tls_key));
        free(h->tls_key);
    }
    free(h);
}

daq_http *daq_http_start(const char *bind_addr, uint16_t port, daq_http_handler handler, void *ctx,
                         char *err, size_t err_len)
{
    return daq_http_start_limits(bind_addr, port, handler, ctx, NULL, err, err_len);
}

daq_http *daq_http_start_limits(const char *bind_addr, uint16_t port, daq_http_handler handler,
                                void *ctx, const daq_http_limits *limits, char *err, size_t err_len)
{
    daq_http_opts o = {
        .bind = bind_addr, .port = port, .handler = handler, .ctx = ctx, .limits = limits};
    return daq_http_start_opts(&o, err, err_len);
}

daq_http *daq_http_start_opts(const daq_http_opts *o, char *err, size_t err_len)
{
    const char *bind_addr = o->bind;
    uint16_t port = o->port;
    const daq_http_limits *limits = o->limits;
    if (!bind_addr || !o->handler) {
        daq_err(err, err_len, "http: bind address and handler are required");
        return NULL;
    }
    struct sockaddr_storage sa;
    socklen_t sa_len = 0;
    bool dual;
    if (listen_addr(bind_addr, port, &sa, &sa_len, &dual, err, err_len) != 0)
        return NULL;
    char where[sizeof((daq_http *)0)->where];
    where_format(where, sizeof where, bind_addr, port);
    int e = probe_bind(&sa, sa_len, dual);
    if (e) {
        daq_err(err, err_len, "%s: %s", where, strerror(e));
        return NULL;
    }

    daq_http *h = calloc(1, sizeof *h);
    if (!h) {
        daq_err(err, err_len, "%s: out of memory", where);
        return NULL;
    }
    h->handler = o->handler;
    h->ctx = o->ctx;
    h->auth = o->auth;
    h->auth_ctx = o->auth_ctx;
    h->max_body = o->max_body_bytes ? o->max_body_bytes : DAQ_HTTP_MAX_BODY_BYTES;
    if (!o->tls_cert_pem != !o->tls_key_pem) {
        daq_err(err, err_len, "%s: HTTPS needs both a certificate and its key", where);
        free(h);
        return NULL;
    }
    if (o->tls_cert_pem &&
        (!(h->tls_cert = strdup(o->tls_cert_pem)) || !(h->tls_key = strdup(o->tls_key_pem)))) {
        free(h->tls_cert);
        free(h);
        daq_err(err, err_len, "%s: out of memory", where);
        return NULL;
    }
    limits_resolve(limits, &h->lim);
    h->deadline_ns = (uint64_t)h->lim.request_deadline_ms * 1000000u;
    h->mhd_rl = (daq_log_ratelimit)DAQ_LOG_RATELIMIT_INIT(5, 100);
    h->reject_rl = (daq_log_ratelimit)DAQ_LOG_RATELIMIT_INIT(5, 100);
    pthread_mutex_init(&h->log_mu, NULL);
    pthread_mutex_init(&h->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->reap_cv, &ca);
    pthread_condattr_destroy(&ca);
    snprintf(h->where, sizeof h->where, "%s", where);

    /* MHD's limits are a backstop at twice ours: a connection we shut down
     * counts in MHD until its thread has gone.  The table holds them all. */
    unsigned mhd_limit = 2 * h->lim.max_connections, mhd_per_ip = 2 * h->lim.max_per_client;
    unsigned idle_s = 2 * ((h->lim.request_deadline_ms + 999) / 1000);
    h->n_conns = mhd_limit + 8;
    h->conns = calloc(h->n_conns, sizeof *h->conns);
    if (!h->conns) {
        daq_err(err, err_len, "%s: out of memory", where);
        http_free(h);
        return NULL;
    }

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    /* IPv6 without DUAL_STACK: MHD sets IPV6_V6ONLY, no IPv4 on "::". */
    if (sa.ss_family == AF_INET6)
        flags |= dual ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
    /* HTTPS: MHD's TLS (GnuTLS) on the same connections, limits and
     * deadlines: a handshake trickled in hits the request deadline too. */
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key},
        {MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls_cert},
        {MHD_OPTION_END, 0, NULL},
    };
    if (h->tls_cert)
        flags |= MHD_USE_TLS;
    else
        tls_opts[0].option = MHD_OPTION_END;
    /* The logger first, so that no start-up message goes to stderr. */
    h->mhd = MHD_start_daemon(
        flags, port, on_accept, h, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
        h, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_CONNECTION_TIMEOUT, idle_s,
        MHD_OPTION_CONNECTION_LIMIT, mhd_limit, MHD_OPTION_PER_IP_CONNECTION_LIMIT, mhd_per_ip,
        MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
    if (!h->mhd) {
        pthread_mutex_lock(&h->log_mu);
        daq_err(err, err_len, "%s: %s", where,
                h->start_msg[0] ? h->start_msg : "libmicrohttpd could not start");
        pthread_mutex_unlock(&h->log_mu);
        http_free(h);
        return NULL;
    }
    if ((e = pthread_create(&h->reaper, NULL, reaper_main, h)) != 0) {
        MHD_stop_daemon(h->mhd);
        daq_err(err, err_len, "%s: reaper thread: %s", where, strerror(e));
        http_free(h);
        return NULL;
    }
    h->reaper_running = true;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info && info->port ? info->port : port;
    where_format(h->where, sizeof h->where, bind_addr, h->port);
    atomic_store(&h->started, true);
    return h;
}

uint16_t daq_http_port(const daq_http *h)
{
    return h->port;
}

void daq_http_stop(daq_http *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    h->stopping = true;
    pthread_cond_signal(&h->reap_cv);
    pthread_mutex_unlock(&h->mu);
    if (h->reaper_running)
        pthread_join(h->reaper, NULL);
    MHD_stop_daemon(h->mhd); /* joins every connection thread: no handler runs after this */
    http_free(h);
}
