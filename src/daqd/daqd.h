/* daqd/daqd.h - the daemon program's pieces (not part of libdaq). */
#ifndef DAQD_H
#define DAQD_H

#include <stddef.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#define DAQD_EXIT_OK       0
#define DAQD_EXIT_FAIL     1
#define DAQD_EXIT_ROLLBACK 2
#define DAQD_EXIT_USAGE    64

typedef struct daqd_daemon_opts {
    const char *config;
    const char *bind; /* NULL: from the config */
    int port;         /* < 0: from the config */
    int metrics_port; /* < 0: from METRICS_PORT or the config */
    bool insecure;    /* --insecure: serve a non-loopback address without TLS/tokens */
    /* --tls-cert, --tls-key, --tls-client-ca, --tokens: NULL = [security]'s */
    const char *tls_cert, *tls_key, *tls_client_ca, *tokens;
    const char *log_file; /* --log-file: lines go there (SIGHUP reopens); NULL: stderr */
} daqd_daemon_opts;

int daqd_daemon(const daqd_daemon_opts *o);

int daqd_check_config(const char *path);
int daqd_validate(int argc, char **argv);
/* `daqd record` (record.c): exit 0 nothing lost, 1 loss or failure, 64 usage. */
int daqd_record(int argc, char **argv);
/* `daqd diagnose` (diagnose.c): fetches a daemon's /debug/... and /metrics
 * and writes a bundle; exit 0, 1 on failure, 64 usage. */
int daqd_diagnose(int argc, char **argv);

/* SIGINT and SIGTERM: blocked in every thread, taken with sigwait. */
sigset_t daqd_stop_signals(void);

/* Applies [log] and DAQ_LOG (which wins) from a loaded config. */
struct daq_config;
int daqd_log_setup(const struct daq_config *cfg);

/* The DNS-rebinding guard (hostcheck.c): whether a request whose Host
 * header is host (NULL: none) may reach /api/ and /debug/: an IP literal,
 * "localhost", this machine's name, or a name in allowed (a comma list,
 * [security] http_hosts; NULL or "": none). */
bool daqd_http_host_ok(const char *host, const char *allowed);

/* GET /healthz (healthz.c): 200 when every configured device is up and not
 * in error, else 503; a JSON body naming each device, its state and why it
 * is not healthy.  Fills out (body malloc'd, free_body set; status 500 with
 * no body if out of memory).  ds is borrowed for the call. */
struct daq_devices;
struct daq_http_response;
void daqd_healthz(struct daq_devices *ds, struct daq_http_response *out);

/* "10m", "90s", "1h", "500ms" or seconds; -1 if malformed. */
int64_t daqd_parse_duration_ms(const char *s);

#ifdef DAQ_WITH_STORAGE
/* The recorder's settings from [storage] (daq_storage_config_init, then the
 * table's values).  0, or -1 with "FILE:LINE:COL: storage.compression:
 * unsupported compression 'zstd' (supported: none, gzip, lz4, bslz4)". */
struct daq_storage_config;
int daqd_storage_settings(const struct daq_config *cfg, struct daq_storage_config *out, char *err,
                          size_t err_len);

/* Test only: DAQ_TEST_WRITE_DELAY_US (microseconds the writer sleeps per
 * frame, a slow disk) into out.  0, or -1 with a message if malformed. */
int daqd_storage_test_env(struct daq_storage_config *out, char *err, size_t err_len);
#endif

#endif
