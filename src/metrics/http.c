/* metrics/http.c - the metrics endpoint's HTTP server on libmicrohttpd.
 * See daq/http.h.
 *
 * libmicrohttpd runs with its own listening thread and one thread per
 * connection (MHD_USE_THREAD_PER_CONNECTION): a scrape is a short request
 * every few seconds, so a thread per connection costs nothing and a slow
 * handler (or a slow client) never holds up another request.  Idle
 * connections time out after CONN_TIMEOUT_S and at most CONN_LIMIT are open
 * at once, so clients cannot pile up threads.  MHD_stop_daemon joins every
 * connection thread, which is what makes daq_http_stop wait for running
 * handlers: once it returns no handler runs and none will.
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
 * Requests: GET goes to the handler with the path (MHD has already cut off
 * the query string); every other method is answered 405 with "Allow: GET"
 * without reading a request body (MHD then closes the connection).  The
 * response is queued on the first call of the access callback, so no
 * per-request state is kept.
 *
 * Ownership: the server owns its MHD daemon; a handler's body marked
 * free_body passes to MHD (freed with free() after sending); other bodies
 * are copied before the handler's frame ends.
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
#include "util/err.h"

#define LOG_HTTP       "daq::http"
#define CONN_TIMEOUT_S 10u
#define CONN_LIMIT     64u

struct daq_http {
    struct MHD_Daemon *mhd;
    daq_http_handler handler;
    void *ctx;
    uint16_t port;
    char where[INET_ADDRSTRLEN + 8]; /* "addr:port" for messages */

    _Atomic bool started;   /* false: MHD messages are captured, not logged */
    pthread_mutex_t log_mu; /* guards start_msg */
    char start_msg[256];    /* MHD's first message while starting */
};

static const char default_type[] = "text/plain; charset=utf-8";

/* ---- MHD's log ------------------------------------------------------------- */

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
    DAQ_LOG(DAQ_LOG_WARN, LOG_HTTP, "libmicrohttpd", DAQ_F_STR("listen", h->where),
            DAQ_F_STR("error", msg));
}

/* ---- requests ---------------------------------------------------------------- */

/* Queues body (taking it over if owned) with status and content type. */
static enum MHD_Result reply(struct MHD_Connection *conn, int status, const char *type, char *body,
                             size_t len, bool owned, const char *allow)
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
    if (allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result r = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_ctx)
{
    daq_http *h = cls;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0) {
        static const char msg[] = "method not allowed\n";
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, NULL, (char *)msg, sizeof msg - 1, false,
                     "GET");
    }
    daq_http_response out = {.status = 200};
    h->handler(h->ctx, url ? url : "/", &out);
    int status = out.status >= 100 && out.status <= 999 ? out.status : 500;
    return reply(conn, status, out.content_type, out.body, out.len, out.free_body, NULL);
}

/* ---- start and stop ------------------------------------------------------------- */

/* Binds a throw-away socket as MHD will (SO_REUSEADDR) to learn errno. */
static int probe_bind(const struct sockaddr_in *sa)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    int e = bind(fd, (const struct sockaddr *)sa, sizeof *sa) == 0 ? 0 : errno;
    close(fd);
    return e;
}

daq_http *daq_http_start(const char *bind_addr, uint16_t port, daq_http_handler handler, void *ctx,
                         char *err, size_t err_len)
{
    if (!bind_addr || !handler) {
        daq_err(err, err_len, "http: bind address and handler are required");
        return NULL;
    }
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    if (inet_pton(AF_INET, bind_addr, &sa.sin_addr) != 1) {
        daq_err(err, err_len, "%s: not an IPv4 address", bind_addr);
        return NULL;
    }
    int e = probe_bind(&sa);
    if (e) {
        daq_err(err, err_len, "%s:%u: %s", bind_addr, (unsigned)port, strerror(e));
        return NULL;
    }

    daq_http *h = calloc(1, sizeof *h);
    if (!h) {
        daq_err(err, err_len, "%s:%u: out of memory", bind_addr, (unsigned)port);
        return NULL;
    }
    h->handler = handler;
    h->ctx = ctx;
    pthread_mutex_init(&h->log_mu, NULL);
    snprintf(h->where, sizeof h->where, "%s:%u", bind_addr, (unsigned)port);

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    /* The logger first, so that no start-up message goes to stderr. */
    h->mhd = MHD_start_daemon(flags, port, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER,
                              mhd_log, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                              MHD_OPTION_CONNECTION_TIMEOUT, CONN_TIMEOUT_S,
                              MHD_OPTION_CONNECTION_LIMIT, CONN_LIMIT, MHD_OPTION_END);
    if (!h->mhd) {
        pthread_mutex_lock(&h->log_mu);
        daq_err(err, err_len, "%s:%u: %s", bind_addr, (unsigned)port,
                h->start_msg[0] ? h->start_msg : "libmicrohttpd could not start");
        pthread_mutex_unlock(&h->log_mu);
        pthread_mutex_destroy(&h->log_mu);
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info && info->port ? info->port : port;
    snprintf(h->where, sizeof h->where, "%s:%u", bind_addr, (unsigned)h->port);
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
    MHD_stop_daemon(h->mhd); /* joins every connection thread: no handler runs after this */
    pthread_mutex_destroy(&h->log_mu);
    free(h);
}
