/* daqd/daemon.c - `daqd daemon` and `daqd check-config`: load the config,
 * bring up the devices and the endpoints, wait for a signal, shut down.
 *
 * Signals: SIGINT, SIGTERM and SIGHUP are blocked in every thread and
 * taken by sigwait() on the main thread, so no handler runs inside library
 * code.  SIGHUP reopens --log-file (logrotate's `mv` + SIGHUP, or its
 * `create`) and the daemon goes on.
 * The first one starts an orderly shutdown (streams stopped, files closed,
 * endpoints closed, everything freed: the ASan build checks for leaks); a
 * helper thread then waits for a second one and exits at once, for the
 * operator whose shutdown hangs.
 *
 * --log-file PATH: log lines go to PATH (O_APPEND, 0640) instead of
 * stderr.  A reopen opens PATH again and dup3()s it over the log's fd:
 * the fd number never changes, so a thread writing a line meanwhile
 * writes it whole to the old file or the new one, never to a closed fd.
 * The log's ring (main.c turns it on) is what /debug/log serves.
 *
 * Start-up failures (bad config, a port in use, no camera reachable) print
 * one line "daqd: ..." and exit 1.
 *
 * The recorder (built with libdaq-storage): one daq_storage for the
 * daemon's life, its settings from [storage].  Every camera's pool keeps
 * max_buffer_mb of slots for the recorder's queue (reserve_bytes), so a
 * recording started later never exhausts a pool the acquisition sized
 * without it.  The storage borrows the devices and is borrowed by the gRPC
 * server (StorageService) and the metrics endpoint, so it goes after both
 * and before the devices; destroying it finalises a recording still
 * running, after the cameras have stopped and the queues drained.
 *
 * The HTTP port (issue 14) serves, besides /metrics, /healthz and /debug,
 * the live view (view/view.h: the page, its assets, /api/view/...) and the
 * gRPC bridge (server/rpc_bridge.h: POST /api/rpc/...), which runs the gRPC
 * server's own method table, so every change the page makes goes through
 * the handlers, checks, token and audit line a gRPC client's does.  At
 * stop the HTTP server goes before the gRPC server: the bridge's handlers
 * belong to the gRPC services, which daq_server_stop frees.
 *
 * The zero-copy tap (ADR 0012, [tap] enabled): the pools go into sealed
 * memfds (acq.pool.shareable) and an auto-sized pool keeps
 * daq_tap_pool_frames() more slots (4 readers x (8 leases + 1) = 36 by
 * default) so readers at their caps never dry it.  Its socket is made
 * after the gRPC server -- the default path names the bound gRPC port --
 * and before the ready line; a failure there is fatal, like a port in use.
 * At stop it goes before the devices and the recorder: its readers' leases
 * are frame references.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daq/config.h"
#include "daq/devices.h"
#include "daq/http.h"
#include "daq/log.h"
#include "daq/metrics.h"
#include "daq/server.h"
#include "daq/watch.h"
#include "daqd/daqd.h"
#include "daqd/diag.h"
#include "server/rpc_auth.h"
#include "server/rpc_bridge.h"
#include "server/stream_frames.h"
#include "tap/tap_server.h"
#include "util/addr_list.h"
#include "util/clock.h"
#include "util/err.h"
#include "view/view.h"

#ifdef DAQ_WITH_STORAGE
#include "daq/storage.h"
#endif

#define LOG_DAQD "daqd"

int daqd_log_setup(const daq_config *cfg)
{
    daq_log_set_format(cfg->log_json ? DAQ_LOG_JSON : DAQ_LOG_TEXT);
    const char *env = getenv("DAQ_LOG");
    const char *spec = env && *env ? env : cfg->log_filter[0] ? cfg->log_filter : "info";
    char err[256];
    if (daq_log_set_filter(spec, err, sizeof err) != 0) {
        fprintf(stderr, "daqd: %s%s\n", env && *env ? "DAQ_LOG: " : "[log] filter: ", err);
        return -1;
    }
    return 0;
}

#ifdef DAQ_WITH_STORAGE
int daqd_storage_settings(const daq_config *cfg, daq_storage_config *out, char *err, size_t err_len)
{
    const daq_config_storage *s = &cfg->storage;
    daq_storage_config_init(out);
    char why[256];
    if (daq_codec_parse(s->compression, &out->hdf5.compression, why, sizeof why) != 0) {
        char where[320];
        daq_config_where(cfg, s->compression_pos, where, sizeof where);
        return daq_err(err, err_len, "%sstorage.compression: %s", where, why);
    }
    snprintf(out->root, sizeof out->root, "%s", s->root);
    out->hdf5.compression_level = s->compression_level;
    out->hdf5.chunk_size = s->chunk_size;
    snprintf(out->hdf5.filename_pattern, sizeof out->hdf5.filename_pattern, "%s",
             s->filename_pattern);
    out->hdf5.include_timestamps = s->include_timestamps;
    out->hdf5.include_device_metadata = s->include_device_metadata;
    out->flush_interval_ms = s->flush_interval_ms;
    out->max_buffer_mb = s->max_buffer_mb;
    out->workers = s->workers;
    return 0;
}

int daqd_storage_test_env(daq_storage_config *out, char *err, size_t err_len)
{
    const char *v = getenv("DAQ_TEST_WRITE_DELAY_US");
    if (!v || !*v)
        return 0;
    char *end;
    errno = 0;
    unsigned long us = strtoul(v, &end, 10);
    if (*end || errno || us > 10000000ul || *v == '-')
        return daq_err(err, err_len,
                       "DAQ_TEST_WRITE_DELAY_US='%s' is not a number of microseconds "
                       "(0..10000000)",
                       v);
    out->test_write_delay_us = (uint32_t)us;
    return 0;
}
#endif

int daqd_check_config(const char *path)
{
    daq_config *cfg = malloc(sizeof *cfg);
    char err[512];
    int rc = cfg ? daq_config_load(path, cfg, err, sizeof err) : -1;
    if (rc == 0)
        rc = daq_devices_check(cfg, err, sizeof err);
#ifdef DAQ_WITH_STORAGE
    daq_storage_config sc;
    if (rc == 0)
        rc = daqd_storage_settings(cfg, &sc, err, sizeof err);
#endif
    if (rc != 0) {
        fprintf(stderr, "%s\n", cfg ? err : "daqd: out of memory");
        free(cfg);
        return DAQD_EXIT_FAIL;
    }
    for (size_t i = 0; i < cfg->n_warnings; i++)
        fprintf(stderr, "warning: %s:%u:%u: %s\n", cfg->path, cfg->warnings[i].pos.line,
                cfg->warnings[i].pos.col, cfg->warnings[i].text);
    printf("%s: OK: %zu camera device%s", path, cfg->n_devices, cfg->n_devices == 1 ? "" : "s");
    for (size_t i = 0; i < cfg->n_devices; i++)
        printf("%s %s (%s)", i ? "," : ":", cfg->devices[i].id, cfg->devices[i].type);
    printf("; %zu other device%s skipped\n", cfg->n_skipped, cfg->n_skipped == 1 ? "" : "s");
    free(cfg);
    return DAQD_EXIT_OK;
}

/* The gRPC server registers ~35 methods; room to grow. */
#define DAEMON_MAX_METHODS 64

/* ---- the metrics endpoint ---------------------------------------------------- */

typedef struct daemon_state {
    daq_devices *devices;
    struct daq_storage *storage; /* NULL without libdaq-storage */
    uint64_t start_ns;
    _Atomic(daq_http *) http; /* set once the endpoint runs: a first scrape may come before */
    daq_rpc_tokens *tokens;   /* --tokens / [security] tokens_file; NULL: none */
    daqd_diag_src diag;       /* /debug/...: config_text borrowed from run() */
    daq_view *view;           /* the live view (/, /assets/..., /api/view/...) */
    /* [tap]: made once the gRPC port is bound (its default path names it),
     * before the ready line; NULL when off and before. */
    _Atomic(daq_tap_server *) tap;
    /* /api/rpc/...: built once the gRPC server runs (its method table),
     * after the HTTP server has started; NULL before (a 404). */
    _Atomic(daq_rpc_bridge *) bridge;
    const char *http_hosts; /* [security] http_hosts, borrowed from the config */
} daemon_state;

/* /metrics and /healthz stay open (scrapers and probes carry no token, and
 * they tell nothing secret), and so do the live view's page and assets
 * (the login form must load); anything else needs a token when tokens are
 * configured.  /api/rpc/... is let through to the bridge, which does the
 * gRPC server's own token check (same 401 details, and the audit line
 * names the token): one check per path, never two. */
static bool http_auth(void *ctx, const daq_http_request *req)
{
    daemon_state *st = ctx;
    const char *path = req->path;
    if (strcmp(path, "/metrics") == 0 || strcmp(path, "/healthz") == 0 ||
        daq_view_path_public(path) ||
        strncmp(path, DAQ_RPC_BRIDGE_PREFIX, strlen(DAQ_RPC_BRIDGE_PREFIX)) == 0)
        return true;
    const char *why;
    const char *a = req->authorization;
    return daq_rpc_tokens_check(st->tokens, a, a ? strlen(a) : 0, &why) != NULL;
}

static void metrics_reply(daemon_state *st, daq_http_response *out)
{
    daq_metrics_device views[DAQ_CONFIG_MAX_DEVICES];
    size_t n = daq_metrics_device_views(st->devices, views, DAQ_CONFIG_MAX_DEVICES);
    daq_http *self = atomic_load(&st->http);
    daq_http_stats hs;
    if (self)
        daq_http_stats_snapshot(self, &hs);
    daq_metrics_sources src = {.devs = views,
                               .n = n,
                               .storage = st->storage,
                               .process_start_ns = st->start_ns,
                               .http = self ? &hs : NULL,
                               .devices = st->devices};
    out->body = daq_metrics_render_sources(&src, &out->len);
    out->free_body = true;
    out->content_type = "text/plain; version=0.0.4; charset=utf-8";
    if (!out->body) {
        out->status = 500;
        return;
    }
    size_t cap = out->len, len = daq_view_metrics_append(st->view, &out->body, out->len, &cap);
    if (len != (size_t)-1)
        len = daq_tap_metrics_append(atomic_load(&st->tap), &out->body, len, &cap);
    if (len == (size_t)-1) {
        free(out->body);
        out->body = NULL;
        out->len = 0;
        out->status = 500;
        return;
    }
    out->len = len;
}

static void http_handler(void *ctx, const daq_http_request *req, daq_http_response *out)
{
    daemon_state *st = ctx;
    if ((strncmp(req->path, "/api/", 5) == 0 || strncmp(req->path, "/debug/", 7) == 0) &&
        !daqd_http_host_ok(req->host, st->http_hosts)) {
        char msg[DAQ_HTTP_HEADER_VALUE_MAX + 256];
        snprintf(msg, sizeof msg,
                 "Host '%.64s' is not a name of this daemon (DNS rebinding?): use an IP "
                 "address, localhost or this host's name, or list the name in [security] "
                 "http_hosts\n",
                 req->host);
        out->status = 403;
        out->body = strdup(msg);
        out->len = out->body ? strlen(out->body) : 0;
        out->free_body = true;
        return;
    }
    /* The view and the bridge decide their own methods; what follows is
     * read-only (GET, and HEAD which the server answers without the body). */
    if (daq_view_http(st->view, req, out))
        return;
    if (daq_rpc_bridge_http(atomic_load(&st->bridge), req, out))
        return;
    const char *path = req->path;
    if (strcmp(req->method, "POST") == 0) {
        out->status = 405;
        out->body = (char *)"method not allowed: POST is for " DAQ_RPC_BRIDGE_PREFIX "...\n";
        out->len = strlen(out->body);
        daq_http_response_header(out, "Allow", "GET, HEAD");
        return;
    }
    if (strcmp(path, "/metrics") == 0) {
        metrics_reply(st, out);
        return;
    }
    if (strcmp(path, "/healthz") == 0) {
        daqd_healthz(st->devices, out);
        return;
    }
    if (daqd_diag_http(&st->diag, path, out))
        return;
    out->status = 404;
    out->body = (char *)"not found: try /, /metrics, /healthz, " DAQD_DIAG_PATHS "\n";
    out->len = strlen(out->body);
}

/* Where a person points a browser: the first bind address ("0.0.0.0" and
 * "::" mean every interface: the host's name stands for them), IPv6 in
 * brackets. */
static void live_view_url(const char *bind, uint16_t port, bool https, char *out, size_t cap)
{
    size_t n = strcspn(bind, ",");
    char first[64];
    snprintf(first, sizeof first, "%.*s", (int)(n < sizeof first ? n : sizeof first - 1), bind);
    char host[256];
    if (strcmp(first, "0.0.0.0") == 0 || strcmp(first, "::") == 0) {
        if (gethostname(host, sizeof host) != 0)
            snprintf(host, sizeof host, "localhost");
        host[sizeof host - 1] = '\0';
    } else {
        snprintf(host, sizeof host, strchr(first, ':') ? "[%s]" : "%s", first);
    }
    snprintf(out, cap, "%s://%s:%u/", https ? "https" : "http", host, (unsigned)port);
}

/* A PEM file's text (the caller frees with pem_free), or NULL with
 * "PATH: why".  The files were checked by daq_rpc_tls_check already. */
static char *pem_read(const char *path, char *err, size_t err_len)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        return NULL;
    }
    enum { PEM_MAX = 1 << 20 }; /* a certificate chain is a few KiB */
    char *buf = malloc(PEM_MAX + 1);
    size_t n = buf ? fread(buf, 1, PEM_MAX + 1, f) : 0;
    bool bad = !buf || ferror(f) || n > PEM_MAX;
    fclose(f);
    if (bad) {
        snprintf(err, err_len, "%s: %s", path, !buf ? "out of memory" : "unreadable or over 1 MiB");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* Frees a pem_read text, wiping it first: it may be a private key. */
static void pem_free(char *pem)
{
    if (pem)
        explicit_bzero(pem, strlen(pem));
    free(pem);
}

/* ---- signals ---------------------------------------------------------------------- */

sigset_t daqd_stop_signals(void)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGINT);
    sigaddset(&s, SIGTERM);
    return s;
}

/* The main thread's set: the stop signals and SIGHUP (reopen the log). */
static sigset_t daemon_signals(void)
{
    sigset_t s = daqd_stop_signals();
    sigaddset(&s, SIGHUP);
    return s;
}

/* ---- --log-file ---------------------------------------------------------------------- */

static const char *log_path; /* --log-file; NULL: stderr */
static int log_fd = -1;

static int log_file_open(void)
{
    return open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

/* At start: 0, or -1 with "daqd: --log-file PATH: why" on stderr. */
static int log_file_start(const char *path)
{
    log_path = path;
    if (!path)
        return 0;
    if ((log_fd = log_file_open()) < 0) {
        fprintf(stderr, "daqd: --log-file %s: %s\n", path, strerror(errno));
        return -1;
    }
    daq_log_set_fd(log_fd);
    return 0;
}

static void log_file_reopen(void)
{
    if (!log_path) {
        daq_logf(DAQ_LOG_INFO, LOG_DAQD, "SIGHUP: no --log-file to reopen");
        return;
    }
    int fd = log_file_open();
    if (fd < 0 || dup3(fd, log_fd, O_CLOEXEC) < 0) {
        DAQ_LOG(DAQ_LOG_ERROR, LOG_DAQD, "log file not reopened", DAQ_F_STR("path", log_path),
                DAQ_F_STR("error", strerror(errno)));
    } else {
        DAQ_LOG(DAQ_LOG_INFO, LOG_DAQD, "log file reopened", DAQ_F_STR("path", log_path));
    }
    if (fd >= 0)
        close(fd);
}

static void log_file_stop(void)
{
    if (log_fd >= 0) {
        daq_log_set_fd(STDERR_FILENO);
        close(log_fd);
        log_fd = -1;
    }
}

static void *second_signal(void *arg)
{
    (void)arg;
    sigset_t s = daqd_stop_signals();
    int sig;
    if (sigwait(&s, &sig) == 0) {
        static const char msg[] = "daqd: second signal: exiting now\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)w;
        _exit(DAQD_EXIT_FAIL);
    }
    return NULL;
}

static int port_from_env(const char *name, int fallback)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return fallback;
    char *end;
    long p = strtol(v, &end, 10);
    if (*end || p < 0 || p > 65535) {
        fprintf(stderr, "daqd: %s='%s' is not a port number\n", name, v);
        return -2;
    }
    return (int)p;
}

/* ---- the daemon --------------------------------------------------------------------- */

#ifndef DAQ_VERSION
#define DAQ_VERSION "0.0.0"
#endif

/* The gRPC side: rust-daq's camera API, the StorageService when there is a
 * recorder, and the health service. */
static daq_server *grpc_start(const daq_config *cfg, daq_devices *devices,
                              struct daq_storage *storage, uint64_t start_ns, char *err,
                              size_t err_len)
{
    daq_server_config sc;
    daq_server_config_init(&sc);
    sc.bind = cfg->bind;
    sc.port = cfg->port;
    sc.version = DAQ_VERSION;
    sc.compression_lz4 = cfg->compression_lz4;
    sc.max_streams_per_client = cfg->max_streams_per_client;
    sc.start_ns = start_ns;
    sc.storage = storage;
    sc.limits = cfg->limits;
    sc.security = cfg->security;
    return daq_server_start(devices, &sc, err, err_len);
}

#ifdef DAQ_WITH_STORAGE
/* The daemon's recorder with the settings from [storage]. */
static daq_storage *storage_start(daq_devices *devices, const daq_storage_config *sc, char *err,
                                  size_t err_len)
{
    daq_storage *st = daq_storage_create(devices, sc, err, err_len);
    if (!st)
        return NULL;
    DAQ_LOG(DAQ_LOG_INFO, LOG_DAQD, "recorder ready", DAQ_F_STR("root", daq_storage_root(st)),
            DAQ_F_STR("compression", daq_codec_names[sc->hdf5.compression]),
            DAQ_F_U64("max_buffer_mb", sc->max_buffer_mb),
            DAQ_F_U64("flush_interval_ms", sc->flush_interval_ms),
            DAQ_F_U64("workers", sc->workers));
    if (sc->test_write_delay_us)
        DAQ_LOG(DAQ_LOG_WARN, LOG_DAQD, "test only: recorder slowed down",
                DAQ_F_U64("write_delay_us", sc->test_write_delay_us));
    return st;
}
#endif

static void storage_destroy(struct daq_storage *storage)
{
#ifdef DAQ_WITH_STORAGE
    daq_storage_destroy(storage);
#else
    (void)storage;
#endif
}

/* Stops and frees what serve() has made so far (whatever is not made yet
 * is NULL), in the one safe order: HTTP before gRPC -- the bridge runs the
 * gRPC services' handlers, which daq_server_stop frees, and daq_http_stop
 * waits for the last of them --; the tap before the recorder and the
 * devices -- its readers' leases are frame references into their pools. */
static void serve_teardown(daemon_state *st, daq_http *http, daq_rpc_bridge *bridge,
                           daq_server *grpc)
{
    daq_view_shutdown(st->view); /* wakes the long polls daq_http_stop waits for */
    daq_http_stop(http);
    daq_rpc_bridge_destroy(bridge);
    daq_view_destroy(st->view);
    daq_server_stop(grpc); /* cancels every call, joins the stream threads */
    daq_tap_server_destroy(atomic_load(&st->tap));
    atomic_store(&st->tap, NULL);
    storage_destroy(st->storage); /* finalises a running recording */
    daq_devices_destroy(st->devices);
}

static int fail_start(const char *what, const char *why)
{
    fprintf(stderr, "daqd: %s%s\n", what, why);
    return DAQD_EXIT_FAIL;
}

static void override(char *dst, size_t cap, const char *flag_value)
{
    if (flag_value)
        snprintf(dst, cap, "%s", flag_value);
}

/* Flags over [security] and --bind over [server] bind; then every file is
 * read and checked and the bind rule applied -- before any device opens,
 * so a typo costs one line and exit 1, not a camera start.  The rule: an
 * address other than loopback needs TLS (the token would travel in clear
 * text otherwise) and a token, or the operator's --insecure. */
static int security_setup(daq_config *cfg, const daqd_daemon_opts *o, daq_rpc_tokens **tokens)
{
    daq_config_security *sec = &cfg->security;
    override(cfg->bind, sizeof cfg->bind, o->bind);
    override(sec->tls_cert, sizeof sec->tls_cert, o->tls_cert);
    override(sec->tls_key, sizeof sec->tls_key, o->tls_key);
    override(sec->tls_client_ca, sizeof sec->tls_client_ca, o->tls_client_ca);
    override(sec->tokens_file, sizeof sec->tokens_file, o->tokens);
    char err[512];
    daq_addr_list binds;
    if (daq_addr_list_parse(cfg->bind, &binds, err, sizeof err) != 0)
        return fail_start("--bind ", err);
    bool tls = sec->tls_cert[0] || sec->tls_key[0] || sec->tls_client_ca[0];
    if (tls &&
        daq_rpc_tls_check(sec->tls_cert, sec->tls_key, sec->tls_client_ca, err, sizeof err) != 0)
        return fail_start("TLS: ", err);
    *tokens = NULL;
    if (sec->tokens_file[0] && !(*tokens = daq_rpc_tokens_load(sec->tokens_file, err, sizeof err)))
        return fail_start("tokens: ", err);
    bool loopback = daq_addr_list_loopback(&binds);
    /* The HTTP port carries tokens too (the live view, /debug): over a
     * network it gets the gRPC port's certificate unless told otherwise. */
    if (sec->http_tls < 0)
        sec->http_tls = tls && !loopback;
    if (sec->http_tls && !(sec->tls_cert[0] && sec->tls_key[0])) {
        daq_rpc_tokens_free(*tokens);
        *tokens = NULL;
        return fail_start("TLS: ", "[security] http_tls needs tls_cert and tls_key");
    }
    if (*tokens && !sec->http_tls && !loopback)
        DAQ_LOG(DAQ_LOG_WARN, LOG_DAQD,
                "tokens cross the HTTP port in clear text: set [security] http_tls = true",
                DAQ_F_STR("bind", cfg->bind));
    if (loopback)
        return DAQD_EXIT_OK;
    if (!tls || !*tokens) {
        const char *missing = !tls && !*tokens ? "TLS and tokens" : !tls ? "TLS" : "tokens";
        if (!o->insecure) {
            daq_rpc_tokens_free(*tokens);
            *tokens = NULL;
            fprintf(stderr,
                    "daqd: refusing to serve on %s without TLS and tokens (no %s): set "
                    "--tls-cert, --tls-key and --tokens ([security] in the config), or pass "
                    "--insecure to accept that anyone who can reach it controls the cameras\n",
                    cfg->bind, missing);
            return DAQD_EXIT_FAIL;
        }
        DAQ_LOG(DAQ_LOG_WARN, LOG_DAQD, "--insecure: serving beyond loopback without protection",
                DAQ_F_STR("bind", cfg->bind), DAQ_F_STR("missing", missing));
    }
    return DAQD_EXIT_OK;
}

/* Once the security is settled: devices, endpoints, the wait.  tokens
 * borrowed (HTTP auth), config_text too (/debug/config). */
static int serve(daq_config *cfg, const daqd_daemon_opts *o, daq_rpc_tokens *tokens,
                 const char *config_text)
{
    char err[512];
    if (o->port >= 0)
        cfg->port = (uint16_t)o->port;
    int mport =
        o->metrics_port >= 0 ? o->metrics_port : port_from_env("METRICS_PORT", cfg->metrics_port);
    if (mport < 0)
        return DAQD_EXIT_USAGE;

    daemon_state st = {
        .start_ns = daq_now_ns(), .tokens = tokens, .http_hosts = cfg->security.http_hosts};
    st.diag.config_path = cfg->path;
    st.diag.config_text = config_text;
#ifdef DAQ_WITH_STORAGE
    /* Before the devices: a bad [storage] is a config error like any other,
     * and the pools they make keep room for the recorder's queue. */
    daq_storage_config sc;
    if (daqd_storage_settings(cfg, &sc, err, sizeof err) != 0 ||
        daqd_storage_test_env(&sc, err, sizeof err) != 0)
        return fail_start("", err);
    cfg->acq.reserve_bytes = (uint64_t)sc.max_buffer_mb << 20;
#endif
    /* Auto-sized pools keep 2 frames for each stream [limits] streams allows
     * (issue 12) and the live view's bound (its tap and its encodes, ADR
     * 0010): neither the stream limit nor viewers can exhaust a pool. */
    uint32_t allowance =
        daq_frame_streams_pool_allowance(cfg->limits.streams) + DAQ_VIEW_POOL_FRAMES;
    if (cfg->tap.enabled) {
        /* the tap's readers at their lease caps, and pools they can map */
        allowance += daq_tap_pool_frames(&cfg->tap);
        cfg->acq.pool.shareable = true;
    }
    if (cfg->acq.dynamic_allowance < allowance)
        cfg->acq.dynamic_allowance = allowance;
    st.devices = daq_devices_create(cfg, NULL, err, sizeof err);
    if (!st.devices)
        return fail_start("", err);
    st.diag.devices = st.devices;
    size_t n = daq_devices_count(st.devices), up = daq_devices_up(st.devices);
    /* With recovery the daemon waits for its cameras (switched on after
     * the host, say); without, nothing would ever come up. */
    if (n > 0 && up == 0 && !cfg->recovery.enabled) {
        daq_device *d = daq_devices_at(st.devices, 0);
        snprintf(err, sizeof err, "no camera could be opened (%s: %s)", daq_device_id(d),
                 daq_device_error(d));
        daq_devices_destroy(st.devices);
        return fail_start("", err);
    }
#ifdef DAQ_WITH_STORAGE
    st.storage = storage_start(st.devices, &sc, err, sizeof err);
    if (!st.storage) {
        daq_devices_destroy(st.devices);
        return fail_start("storage: ", err);
    }
#endif
    /* The live view borrows the devices; it answers nothing until the
     * HTTP server runs, and is destroyed after it (daq_http_stop waits for
     * its long polls, which daq_view_shutdown has woken). */
    st.view = daq_view_create(st.devices, NULL);
    if (!st.view) {
        serve_teardown(&st, NULL, NULL, NULL);
        return fail_start("live view: ", "out of memory");
    }
    daq_http_opts ho = {.bind = cfg->bind,
                        .port = (uint16_t)mport,
                        .handler = http_handler,
                        .ctx = &st,
                        .auth = tokens ? http_auth : NULL,
                        .auth_ctx = &st};
    char *pem_cert = NULL, *pem_key = NULL;
    if (cfg->security.http_tls &&
        (!(pem_cert = pem_read(cfg->security.tls_cert, err, sizeof err)) ||
         !(pem_key = pem_read(cfg->security.tls_key, err, sizeof err)))) {
        free(pem_cert);
        serve_teardown(&st, NULL, NULL, NULL);
        return fail_start("TLS: ", err);
    }
    ho.tls_cert_pem = pem_cert;
    ho.tls_key_pem = pem_key;
    daq_http *http = daq_http_start_opts(&ho, err, sizeof err);
    pem_free(pem_cert);
    pem_free(pem_key);
    if (!http) {
        serve_teardown(&st, NULL, NULL, NULL);
        return fail_start("metrics endpoint: ", err);
    }
    atomic_store(&st.http, http);
    daq_server *grpc = grpc_start(cfg, st.devices, st.storage, st.start_ns, err, sizeof err);
    if (!grpc) {
        serve_teardown(&st, http, NULL, NULL);
        return fail_start("gRPC: ", err);
    }
    /* The bridge runs the gRPC server's own method table (so its services'
     * state, limits and audit), with the daemon's tokens. */
    daq_rpc_method methods[DAEMON_MAX_METHODS];
    size_t n_methods = daq_server_methods(grpc, methods, DAEMON_MAX_METHODS);
    daq_rpc_bridge *bridge = n_methods ? daq_rpc_bridge_create(methods, n_methods, tokens) : NULL;
    if (n_methods && !bridge) /* the page then shows but cannot control: /api/rpc/ is a 404 */
        DAQ_LOG(DAQ_LOG_ERROR, LOG_DAQD, "the HTTP bridge to the gRPC methods is off",
                DAQ_F_STR("error", "out of memory"));
    atomic_store(&st.bridge, bridge);
    char tap_path[108] = "";
    if (cfg->tap.enabled) {
        daq_tap_server *tap = NULL;
        if (daq_tap_default_path(&cfg->tap, daq_server_port(grpc), tap_path, sizeof tap_path, err,
                                 sizeof err) == 0)
            tap = daq_tap_server_create(st.devices, &cfg->tap, tap_path, err, sizeof err);
        if (!tap) {
            serve_teardown(&st, http, bridge, grpc);
            return fail_start("", err);
        }
        atomic_store(&st.tap, tap);
        daq_server_set_tap(grpc, daq_tap_server_path(tap)); /* GetRingBufferTapInfo */
    }
    daq_devices_autostart(st.devices);
    if (daq_devices_recovery_start(st.devices, err, sizeof err) != 0)
        DAQ_LOG(DAQ_LOG_ERROR, LOG_DAQD, "devices will not be retried", DAQ_F_STR("error", err));
    if (daq_devices_watch_start(st.devices, err, sizeof err) != 0)
        DAQ_LOG(DAQ_LOG_ERROR, LOG_DAQD, "rollback symptoms will not be watched",
                DAQ_F_STR("error", err));
    for (size_t i = 0; i < cfg->n_warnings; i++)
        daq_logf(DAQ_LOG_WARN, "daq::config", "%s:%u:%u: %s", cfg->path, cfg->warnings[i].pos.line,
                 cfg->warnings[i].pos.col, cfg->warnings[i].text);
    char view_url[300];
    live_view_url(cfg->bind, daq_http_port(http), cfg->security.http_tls, view_url,
                  sizeof view_url);
    if (daq_log_enabled(LOG_DAQD, DAQ_LOG_INFO)) {
        /* tap="..." only when the tap is on */
        daq_log_field f[] = {DAQ_F_STR("config", cfg->path),
                             DAQ_F_U64("devices", n),
                             DAQ_F_U64("devices_up", up),
                             DAQ_F_STR("bind", cfg->bind),
                             DAQ_F_U64("grpc_port", daq_server_port(grpc)),
                             DAQ_F_U64("metrics_port", daq_http_port(http)),
                             DAQ_F_STR("live_view", view_url),
                             DAQ_F_U64("pid", (uint64_t)getpid()),
                             DAQ_F_END,
                             DAQ_F_END};
        if (tap_path[0]) {
            f[8] = f[7];
            f[7] = DAQ_F_STR("tap", tap_path);
        }
        daq_log_write(DAQ_LOG_INFO, LOG_DAQD, "daqd ready", f);
    }

    sigset_t s = daemon_signals();
    int sig = 0;
    for (;;) {
        if (sigwait(&s, &sig) != 0)
            continue;
        if (sig != SIGHUP)
            break;
        log_file_reopen(); /* and go on serving */
    }
    pthread_t second;
    pthread_create(&second, NULL, second_signal, NULL);
    pthread_detach(second);
    DAQ_LOG(DAQ_LOG_INFO, LOG_DAQD, "shutting down", DAQ_F_STR("signal", strsignal(sig)));
    daq_devices_watch_stop(st.devices);
    daq_devices_recovery_stop(st.devices); /* before the stop, which it would undo */
    daq_devices_stop_all(st.devices);      /* streams and recorder queues get their end of stream */
    serve_teardown(&st, http, bridge, grpc);
    daq_logf(DAQ_LOG_INFO, LOG_DAQD, "daqd stopped");
    return DAQD_EXIT_OK;
}

static int run(daq_config *cfg, const daqd_daemon_opts *o)
{
    daq_rpc_tokens *tokens = NULL;
    int rc = security_setup(cfg, o, &tokens);
    /* The config as loaded, for /debug/config (a later edit of the file
     * is not what this daemon runs). */
    char *config_text = daqd_diag_read_file(cfg->path, DAQD_DIAG_CONFIG_MAX, NULL);
    if (rc == DAQD_EXIT_OK)
        rc = serve(cfg, o, tokens, config_text);
    free(config_text);
    daq_rpc_tokens_free(tokens);
    return rc;
}

int daqd_daemon(const daqd_daemon_opts *o)
{
    /* Before any thread exists, so every thread inherits the mask. */
    sigset_t s = daemon_signals();
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (log_file_start(o->log_file) != 0)
        return DAQD_EXIT_FAIL;

    daq_config *cfg = malloc(sizeof *cfg);
    if (!cfg)
        return fail_start("", "out of memory");
    char err[512];
    int rc;
    if (daq_config_load(o->config, cfg, err, sizeof err) != 0)
        rc = fail_start("", err);
    else if (daqd_log_setup(cfg) != 0)
        rc = DAQD_EXIT_FAIL;
    else
        rc = run(cfg, o);
    free(cfg);
    log_file_stop();
    return rc;
}
