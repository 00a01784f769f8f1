/* daqd/diag.h - the diagnostics the daemon can hand out: text producers
 * shared by the HTTP /debug/... endpoints and the bundle writer, and the
 * bundle itself (bundle.c) for `daqd diagnose` (remote, over HTTP) and
 * `daqd validate` (local, in-process).
 *
 * Ownership: every char * returned is malloc'd and the caller's to free;
 * NULL means out of memory.  ds is borrowed for the call.
 */
#ifndef DAQD_DIAG_H
#define DAQD_DIAG_H

#include <stdbool.h>
#include <stddef.h>

struct daq_devices;
struct daq_http_response;

/* "device,histogram,le_ns,count" then one row per non-empty log2 bucket of
 * the histograms frame_interval, alloc_pool and alloc_heap of each device
 * (le_ns = the bucket's upper bound; the last bucket says "+Inf"). */
char *daqd_diag_histograms_csv(struct daq_devices *ds, size_t *len);

/* "t_s,rss_bytes": the watch's RSS timeline, t_s seconds since the first
 * point (3 decimals), oldest first. */
char *daqd_diag_rss_csv(struct daq_devices *ds, size_t *len);

/* One line per device x symptom:
 *   "cam0 pool_exhausted active=0 value=0.000 threshold=0.000 raised_total=0"
 * the process-wide rss_* symptoms once, under device "process". */
char *daqd_diag_symptoms_text(struct daq_devices *ds, size_t *len);

/* "{ <daqd_facts_json members> }" as one JSON object. */
char *daqd_diag_facts_json(const char *config_path, size_t *len);

/* The /debug/... endpoints of the metrics port.  Everything borrowed. */
typedef struct daqd_diag_src {
    struct daq_devices *devices;
    const char *config_path; /* may be NULL */
    const char *config_text; /* the config file as loaded; may be NULL */
} daqd_diag_src;

/* The debug paths for the 404 text. */
#define DAQD_DIAG_PATHS                                                                            \
    "/debug/log, /debug/config, /debug/facts, /debug/rss.csv, /debug/histograms.csv, "             \
    "/debug/symptoms"

/* Serves path if it is one of DAQD_DIAG_PATHS (true; out filled, body
 * malloc'd, status 500 if out of memory); false for any other path. */
bool daqd_diag_http(const daqd_diag_src *s, const char *path, struct daq_http_response *out);

/* The config is served as loaded, up to this size (configs are ~10 KB). */
#define DAQD_DIAG_CONFIG_MAX (1u << 20)

/* A file's first max bytes, NUL-ended, malloc'd; NULL if unreadable. */
char *daqd_diag_read_file(const char *path, size_t max, size_t *len);

/* Writes a whole bundle for an in-process device table into dir (created
 * 0750; an existing non-empty dir is refused): reason goes first into
 * summary.txt.  config_path may be NULL (no config.toml, no digest).
 * 0, or -1 with a message in err. */
int daqd_diag_bundle_local(const char *dir, struct daq_devices *ds, const char *config_path,
                           const char *reason, char *err, size_t err_len);

#endif
