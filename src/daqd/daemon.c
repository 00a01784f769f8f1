/* daqd/daemon.c - `daqd daemon` and `daqd check-config`: load the config,
 * bring up the devices and the endpoints, wait for a signal, shut down.
 *
 * Signals: SIGINT and SIGTERM are blocked in every thread and taken by
 * sigwait() on the main thread, so no handler runs inside library code.
 * The first one starts an orderly shutdown (streams stopped, files closed,
 * endpoints closed, everything freed: the ASan build checks for leaks); a
 * helper thread then waits for a second one and exits at once, for the
 * operator whose shutdown hangs.
 *
 * Start-up failures (bad config, a port in use, no camera reachable) print
 * one line "daqd: ..." and exit 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
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
#include "daqd/daqd.h"
#include "util/clock.h"

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

int daqd_check_config(const char *path)
{
    daq_config *cfg = malloc(sizeof *cfg);
    char err[512];
    int rc = cfg ? daq_config_load(path, cfg, err, sizeof err) : -1;
    if (rc == 0)
        rc = daq_devices_check(cfg, err, sizeof err);
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

/* ---- the metrics endpoint ---------------------------------------------------- */

typedef struct daemon_state {
    daq_devices *devices;
    uint64_t start_ns;
} daemon_state;

static void http_handler(void *ctx, const char *path, daq_http_response *out)
{
    daemon_state *st = ctx;
    if (strcmp(path, "/metrics") == 0) {
        daq_metrics_device views[DAQ_CONFIG_MAX_DEVICES];
        size_t n = daq_metrics_device_views(st->devices, views, DAQ_CONFIG_MAX_DEVICES);
        out->body = daq_metrics_render(views, n, st->start_ns, &out->len);
        out->free_body = true;
        out->content_type = "text/plain; version=0.0.4; charset=utf-8";
        if (!out->body)
            out->status = 500;
        return;
    }
    if (strcmp(path, "/healthz") == 0) {
        size_t n = daq_devices_count(st->devices), up = daq_devices_up(st->devices);
        bool ok = n == 0 || up > 0;
        out->status = ok ? 200 : 503;
        out->body = malloc(64);
        if (out->body) {
            out->len = (size_t)snprintf(out->body, 64, "%s %zu/%zu devices up\n",
                                        ok ? "ok" : "unhealthy", up, n);
            out->free_body = true;
        }
        return;
    }
    out->status = 404;
    out->body = (char *)"not found: try /metrics or /healthz\n";
    out->len = strlen(out->body);
}

/* ---- signals ---------------------------------------------------------------------- */

static sigset_t stop_signals(void)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGINT);
    sigaddset(&s, SIGTERM);
    return s;
}

static void *second_signal(void *arg)
{
    (void)arg;
    sigset_t s = stop_signals();
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

/* The gRPC side: rust-daq's camera API and the health service. */
static daq_server *grpc_start(const daq_config *cfg, daq_devices *devices, uint64_t start_ns,
                              char *err, size_t err_len)
{
    daq_server_config sc;
    daq_server_config_init(&sc);
    sc.bind = cfg->bind;
    sc.port = cfg->port;
    sc.version = DAQ_VERSION;
    sc.compression_lz4 = cfg->compression_lz4;
    sc.max_streams_per_client = cfg->max_streams_per_client;
    sc.start_ns = start_ns;
    return daq_server_start(devices, &sc, err, err_len);
}

static int fail_start(const char *what, const char *why)
{
    fprintf(stderr, "daqd: %s%s\n", what, why);
    return DAQD_EXIT_FAIL;
}

static int run(daq_config *cfg, const daqd_daemon_opts *o)
{
    char err[512];
    if (o->bind)
        snprintf(cfg->bind, sizeof cfg->bind, "%s", o->bind);
    if (o->port >= 0)
        cfg->port = (uint16_t)o->port;
    int mport =
        o->metrics_port >= 0 ? o->metrics_port : port_from_env("METRICS_PORT", cfg->metrics_port);
    if (mport < 0)
        return DAQD_EXIT_USAGE;

    daemon_state st = {.start_ns = daq_now_ns()};
    st.devices = daq_devices_create(cfg, NULL, err, sizeof err);
    if (!st.devices)
        return fail_start("", err);
    size_t n = daq_devices_count(st.devices), up = daq_devices_up(st.devices);
    if (n > 0 && up == 0) {
        daq_device *d = daq_devices_at(st.devices, 0);
        snprintf(err, sizeof err, "no camera could be opened (%s: %s)", daq_device_id(d),
                 daq_device_error(d));
        daq_devices_destroy(st.devices);
        return fail_start("", err);
    }
    daq_http *http = daq_http_start(cfg->bind, (uint16_t)mport, http_handler, &st, err, sizeof err);
    if (!http) {
        daq_devices_destroy(st.devices);
        return fail_start("metrics endpoint: ", err);
    }
    daq_server *grpc = grpc_start(cfg, st.devices, st.start_ns, err, sizeof err);
    if (!grpc) {
        daq_http_stop(http);
        daq_devices_destroy(st.devices);
        return fail_start("gRPC: ", err);
    }
    daq_devices_autostart(st.devices);
    for (size_t i = 0; i < cfg->n_warnings; i++)
        daq_logf(DAQ_LOG_WARN, "daq::config", "%s:%u:%u: %s", cfg->path, cfg->warnings[i].pos.line,
                 cfg->warnings[i].pos.col, cfg->warnings[i].text);
    DAQ_LOG(DAQ_LOG_INFO, LOG_DAQD, "daqd ready", DAQ_F_STR("config", cfg->path),
            DAQ_F_U64("devices", n), DAQ_F_U64("devices_up", up), DAQ_F_STR("bind", cfg->bind),
            DAQ_F_U64("grpc_port", daq_server_port(grpc)),
            DAQ_F_U64("metrics_port", daq_http_port(http)), DAQ_F_U64("pid", (uint64_t)getpid()));

    sigset_t s = stop_signals();
    int sig = 0;
    while (sigwait(&s, &sig) != 0) {
    }
    pthread_t second;
    pthread_create(&second, NULL, second_signal, NULL);
    pthread_detach(second);
    DAQ_LOG(DAQ_LOG_INFO, LOG_DAQD, "shutting down", DAQ_F_STR("signal", strsignal(sig)));
    daq_devices_stop_all(st.devices); /* streams get their end of stream */
    daq_server_stop(grpc);            /* cancels every call, joins the stream threads */
    daq_http_stop(http);
    daq_devices_destroy(st.devices);
    daq_logf(DAQ_LOG_INFO, LOG_DAQD, "daqd stopped");
    return DAQD_EXIT_OK;
}

int daqd_daemon(const daqd_daemon_opts *o)
{
    /* Before any thread exists, so every thread inherits the mask. */
    sigset_t s = stop_signals();
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    signal(SIGPIPE, SIG_IGN);

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
    return rc;
}
