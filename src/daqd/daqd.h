/* daqd/daqd.h - the daemon program's pieces (not part of libdaq). */
#ifndef DAQD_H
#define DAQD_H

#include <stdint.h>

#define DAQD_EXIT_OK 0
#define DAQD_EXIT_FAIL 1
#define DAQD_EXIT_ROLLBACK 2
#define DAQD_EXIT_USAGE 64

typedef struct daqd_daemon_opts {
    const char *config;
    const char *bind;     /* NULL: from the config */
    int port;             /* < 0: from the config */
    int metrics_port;     /* < 0: from METRICS_PORT or the config */
} daqd_daemon_opts;

int daqd_daemon(const daqd_daemon_opts *o);
int daqd_check_config(const char *path);
int daqd_validate(int argc, char **argv);

/* Applies [log] and DAQ_LOG (which wins) from a loaded config. */
struct daq_config;
int daqd_log_setup(const struct daq_config *cfg);

/* "10m", "90s", "1h", "500ms" or seconds; -1 if malformed. */
int64_t daqd_parse_duration_ms(const char *s);

#endif
