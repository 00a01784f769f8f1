/* daqd/main.c - the command line: daemon, check-config, validate, record,
 * diagnose.
 *
 * The CLI keeps rust-daq's shape (`daqd daemon --port 50051
 * --hardware-config FILE`) so the two daemons are interchangeable in
 * scripts and unit files.  Usage errors exit 64 so they never look like a
 * checkpoint verdict (validate uses 0, 1 and 2).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daq/log.h"
#include "daqd/daqd.h"

#ifdef DAQ_WITH_ARAVIS
#include "daq/aravis.h"
#endif

#ifndef DAQ_VERSION
#define DAQ_VERSION "0.0.0"
#endif

static const char usage_text[] =
    "usage: daqd <command> [options]\n"
    "\n"
    "commands:\n"
    "  daemon --hardware-config FILE [--port N] [--bind ADDR[,ADDR]] [--metrics-port N]\n"
    "         [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]] [--tokens FILE]\n"
    "         [--insecure] [--log-file PATH]\n"
    "        run the acquisition daemon (gRPC on --port, default 50051; Prometheus\n"
    "        metrics on --metrics-port or $METRICS_PORT, default 9091).  --bind takes\n"
    "        IP literals: 0.0.0.0 = IPv4 only, :: = IPv6 only, 0.0.0.0,:: = both.\n"
    "        A --bind other than loopback needs TLS and --tokens (every call then\n"
    "        carries 'authorization: Bearer <token>'), or --insecure.  --log-file: log\n"
    "        lines go to PATH (appended) instead of stderr; SIGHUP reopens it (logrotate).\n"
    "        The metrics port also serves /healthz and /debug/{log,config,facts,rss.csv,\n"
    "        histograms.csv,symptoms} (these need a token when tokens are configured)\n"
    "  check-config FILE\n"
    "        load and check a hardware config; exit 0 if every camera device is valid\n"
    "  validate --hardware-config FILE --device ID --checkpoint smoke|soak|pilot\n"
    "           [--duration 10m] [--report out.json] [--baseline FILE]\n"
    "           [--save-baseline FILE] [--diagnostics DIR] [threshold options]\n"
    "        run a rollback-plan checkpoint; exit 0 PASS, 1 FAIL, 2 ROLLBACK\n"
    "        (daqd validate --help lists the thresholds)\n"
    "  record --hardware-config FILE --device ID (--frames N | --duration 30s) --out DIR\n"
    "         [--compression none|gzip|lz4|bslz4] [--name NAME] [--allow-loss]\n"
    "        record one camera to an HDF5 file in DIR without gRPC; exit 0 when no\n"
    "        frame was lost, 1 otherwise (unless --allow-loss)\n"
    "  diagnose --address HOST:PORT --out DIR [--token TOKEN | --token-file FILE]\n"
    "        fetch a running daemon's diagnostics from its metrics port (HOST:PORT) and\n"
    "        write a bundle to DIR: summary.txt, log, metrics, config, facts, RSS and\n"
    "        histogram CSVs, symptoms and PNG plots; exit 0 written, 1 failure\n"
    "\n"
    "options: --help, --version\n"
    "environment: DAQ_LOG (log filter, e.g. \"info,pvcam_alloc_trace=debug\"),\n"
    "  METRICS_PORT, DAQ_USE_POOL=0 / PVCAM_USE_POOL=0 (frames go to the heap)\n"
    "exit: 64 for usage errors\n";

static int usage(FILE *to, int code)
{
    fputs(usage_text, to);
    return code;
}

static int bad(const char *fmt, const char *arg)
{
    fprintf(stderr, "daqd: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see daqd --help)\n");
    return DAQD_EXIT_USAGE;
}

/* Parses a port number 0..65535; -1 if malformed. */
static int port_arg(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    return *s && !*end && v >= 0 && v <= 65535 ? (int)v : -1;
}

static int cmd_daemon(int argc, char **argv)
{
    daqd_daemon_opts o = {.port = -1, .metrics_port = -1};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return usage(stdout, 0);
        const char **file = strcmp(a, "--tls-cert") == 0        ? &o.tls_cert
                            : strcmp(a, "--tls-key") == 0       ? &o.tls_key
                            : strcmp(a, "--tls-client-ca") == 0 ? &o.tls_client_ca
                            : strcmp(a, "--tokens") == 0        ? &o.tokens
                            : strcmp(a, "--log-file") == 0      ? &o.log_file
                                                                : NULL;
        if (!v && (file || strcmp(a, "--hardware-config") == 0 || strcmp(a, "--port") == 0 ||
                   strcmp(a, "--bind") == 0 || strcmp(a, "--metrics-port") == 0))
            return bad("%s needs a value", a);
        if (file) {
            *file = v;
            i++;
            continue;
        }
        if (strcmp(a, "--hardware-config") == 0) {
            o.config = v;
            i++;
        } else if (strcmp(a, "--port") == 0) {
            if ((o.port = port_arg(v)) < 0)
                return bad("--port: '%s' is not a port number", v);
            i++;
        } else if (strcmp(a, "--metrics-port") == 0) {
            if ((o.metrics_port = port_arg(v)) < 0)
                return bad("--metrics-port: '%s' is not a port number", v);
            i++;
        } else if (strcmp(a, "--bind") == 0) {
            o.bind = v;
            i++;
        } else if (strcmp(a, "--insecure") == 0) {
            o.insecure = true;
        } else {
            return bad("daemon: unknown option '%s'", a);
        }
    }
    if (!o.config)
        return bad("daemon: %s is required", "--hardware-config FILE");
    return daqd_daemon(&o);
}

/* The commands that may write a diagnostics bundle keep their last log
 * lines in memory (the log's ring: 2048 lines, 1 MiB) for its log.txt and
 * the daemon's /debug/log.  Off again after, so ASan sees it freed. */
static int with_log_ring(int (*cmd)(int, char **), int argc, char **argv)
{
    daq_log_ring_enable(DAQ_LOG_RING_LINES, DAQ_LOG_RING_BYTES); /* off if out of memory */
    int rc = cmd(argc, argv);
    daq_log_ring_enable(0, 0);
    return rc;
}

/* Drivers that live outside libdaq join the registry before any config is
 * read, so every command knows every camera type of this build. */
static int register_drivers(void)
{
#ifdef DAQ_WITH_ARAVIS
    char err[256];
    if (daq_aravis_register(err, sizeof err) != 0) {
        fprintf(stderr, "daqd: %s\n", err);
        return -1;
    }
#endif
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr, DAQD_EXIT_USAGE);
    if (register_drivers() != 0)
        return DAQD_EXIT_FAIL;
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0)
        return usage(stdout, 0);
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("daqd %s\n", DAQ_VERSION);
        return 0;
    }
    if (strcmp(cmd, "daemon") == 0)
        return with_log_ring(cmd_daemon, argc - 2, argv + 2);
    if (strcmp(cmd, "check-config") == 0) {
        if (argc == 3 && strcmp(argv[2], "--help") == 0)
            return usage(stdout, 0);
        if (argc != 3)
            return bad("check-config needs exactly one %s", "FILE");
        return daqd_check_config(argv[2]);
    }
    if (strcmp(cmd, "validate") == 0)
        return with_log_ring(daqd_validate, argc - 2, argv + 2);
    if (strcmp(cmd, "record") == 0)
        return daqd_record(argc - 2, argv + 2);
    if (strcmp(cmd, "diagnose") == 0)
        return daqd_diagnose(argc - 2, argv + 2);
    return bad("unknown command '%s'", cmd);
}
