/* daqd/bundle.h - the diagnostics bundle writer: one directory of texts
 * and PNG plots, the same whether its parts came from a daemon over HTTP
 * (`daqd diagnose`) or from in-process state (validate,
 * daqd_diag_bundle_local).
 *
 * Ownership: every pointer in daqd_bundle is borrowed for the call.
 */
#ifndef DAQD_BUNDLE_H
#define DAQD_BUNDLE_H

#include <stddef.h>

typedef struct daqd_bundle {
    /* summary.txt's first line; NULL: the symptoms active now, or "no
     * rollback symptom active" */
    const char *reason;
    const char *source; /* where the parts came from, e.g. "daqd at 127.0.0.1:9091" */
    /* The parts, NUL-ended; NULL: not available (the file says so). */
    const char *log;      /* log.txt: the log ring */
    const char *metrics;  /* metrics.txt: /metrics */
    const char *config;   /* config.toml: the config as loaded */
    const char *facts;    /* facts.json */
    const char *rss_csv;  /* rss.csv: "t_s,rss_bytes" */
    const char *hist_csv; /* histograms.csv: "device,histogram,le_ns,count" */
    const char *symptoms; /* symptoms.txt: daqd_diag_symptoms_text's lines */
} daqd_bundle;

/* Creates dir (0750; an existing empty directory is used, a non-empty one
 * refused) and writes summary.txt, log.txt, metrics.txt, config.toml,
 * facts.json, rss.csv, histograms.csv, symptoms.txt, rss.png and, per
 * device, frame_interval_<device>.png and alloc_latency_<device>.png.
 * 0, or -1 with a message in err. */
int daqd_bundle_write(const char *dir, const daqd_bundle *b, char *err, size_t err_len);

#endif
