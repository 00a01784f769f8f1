/* daqd/diag.c - the diagnostics' text producers: histograms.csv, rss.csv,
 * symptoms.txt, the log ring and the /debug/... table of the metrics port.
 *
 * One producer per text, shared by the HTTP endpoints (`daqd diagnose`
 * fetches them from a running daemon) and the local bundle (validate
 * writes one from its in-process devices), so a bundle reads the same
 * whichever way it was made.  Texts are built with open_memstream: the
 * largest, rss.csv, is at most 3600 points x ~25 bytes = 90 KB; the
 * histograms are 3 x 32 buckets per camera.  Nothing here runs on the
 * frame path: a producer costs one stats snapshot per camera.
 */
#define _GNU_SOURCE
#include "daqd/diag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daq/acq.h"
#include "daq/config.h"
#include "daq/devices.h"
#include "daq/http.h"
#include "daq/log.h"
#include "daq/metrics.h"
#include "daq/pool.h"
#include "daq/watch.h"
#include "daqd/bundle.h"
#include "daqd/facts.h"
#include "util/err.h"

/* Closes a memstream (its buffer and size are final only then) into
 * the text, and *len if len is not NULL; NULL if anything failed. */
static char *stream_close(FILE *f, char **buf, size_t *n, size_t *len)
{
    bool bad = ferror(f) != 0;
    if (fclose(f) != 0 || bad) {
        free(*buf);
        return NULL;
    }
    if (len)
        *len = *n;
    return *buf;
}

static void hist_rows(FILE *f, const char *dev, const char *name, const daq_latency_hist *h)
{
    for (unsigned i = 0; i < DAQ_LAT_BUCKETS; i++) {
        if (!h->buckets[i])
            continue;
        if (i + 1 == DAQ_LAT_BUCKETS)
            fprintf(f, "%s,%s,+Inf,%llu\n", dev, name, (unsigned long long)h->buckets[i]);
        else
            fprintf(f, "%s,%s,%llu,%llu\n", dev, name,
                    (unsigned long long)daq_latency_bucket_upper_ns(i),
                    (unsigned long long)h->buckets[i]);
    }
}

char *daqd_diag_histograms_csv(daq_devices *ds, size_t *len)
{
    daq_acq_stats *st = malloc(sizeof *st); /* ~1.5 KB with the histograms */
    char *buf = NULL;
    size_t n = 0;
    FILE *f = st ? open_memstream(&buf, &n) : NULL;
    if (!f) {
        free(st);
        return NULL;
    }
    fputs("device,histogram,le_ns,count\n", f);
    for (size_t i = 0; i < daq_devices_count(ds); i++) {
        daq_device *d = daq_devices_at(ds, i);
        daq_acq *acq = daq_device_acq(d);
        if (!acq)
            continue;
        daq_acq_stats_snapshot(acq, st);
        hist_rows(f, daq_device_id(d), "frame_interval", &st->interval);
        hist_rows(f, daq_device_id(d), "alloc_pool", &st->pool.alloc_pool);
        hist_rows(f, daq_device_id(d), "alloc_heap", &st->pool.alloc_heap);
    }
    free(st);
    return stream_close(f, &buf, &n, len);
}

char *daqd_diag_rss_csv(daq_devices *ds, size_t *len)
{
    daq_rss_point *pts = malloc(DAQ_WATCH_RSS_POINTS * sizeof *pts);
    if (!pts)
        return NULL;
    size_t np = daq_devices_rss_timeline(ds, pts, DAQ_WATCH_RSS_POINTS);
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f) {
        free(pts);
        return NULL;
    }
    fputs("t_s,rss_bytes\n", f);
    for (size_t i = 0; i < np; i++)
        fprintf(f, "%.3f,%llu\n", (double)(pts[i].t_ns - pts[0].t_ns) / 1e9,
                (unsigned long long)pts[i].rss_bytes);
    free(pts);
    return stream_close(f, &buf, &n, len);
}

static void symptom_line(FILE *f, const char *dev, daq_symptom s, const daq_symptom_state *st)
{
    fprintf(f, "%s %s active=%d value=%.3f threshold=%.3f raised_total=%llu\n", dev,
            daq_symptom_names[s], st->active ? 1 : 0, st->value, st->threshold,
            (unsigned long long)st->raised_total);
}

char *daqd_diag_symptoms_text(daq_devices *ds, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f)
        return NULL;
    daq_symptom_state st[DAQ_SYMPTOM_COUNT];
    size_t nd = daq_devices_count(ds);
    for (size_t i = 0; i < nd; i++) {
        daq_device *d = daq_devices_at(ds, i);
        daq_device_symptoms(d, st);
        for (int s = 0; s < DAQ_SYMPTOM_RSS_GROWTH_WARN; s++)
            symptom_line(f, daq_device_id(d), (daq_symptom)s, &st[s]);
    }
    if (nd > 0)
        for (int s = DAQ_SYMPTOM_RSS_GROWTH_WARN; s < DAQ_SYMPTOM_COUNT; s++)
            symptom_line(f, "process", (daq_symptom)s, &st[s]);
    return stream_close(f, &buf, &n, len);
}

char *daqd_diag_facts_json(const char *config_path, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f)
        return NULL;
    fputs("{\n", f);
    if (daqd_facts_json(f, "  ", config_path) != 0)
        fputs("  \"error\": \"facts unavailable\"", f);
    fflush(f); /* buf and n are current after a flush */
    fputs(n && buf[n - 1] == '\n' ? "}\n" : "\n}\n", f);
    return stream_close(f, &buf, &n, len);
}

/* ---- /debug/... ---------------------------------------------------------------------- */

static char *p_log(const daqd_diag_src *s, size_t *len)
{
    (void)s;
    return daq_log_ring_dump(len);
}

static char *p_config(const daqd_diag_src *s, size_t *len)
{
    char *t = strdup(s->config_text ? s->config_text : "");
    if (t && len)
        *len = strlen(t);
    return t;
}

static char *p_facts(const daqd_diag_src *s, size_t *len)
{
    return daqd_diag_facts_json(s->config_path, len);
}

static char *p_rss(const daqd_diag_src *s, size_t *len)
{
    return daqd_diag_rss_csv(s->devices, len);
}

static char *p_hist(const daqd_diag_src *s, size_t *len)
{
    return daqd_diag_histograms_csv(s->devices, len);
}

static char *p_symptoms(const daqd_diag_src *s, size_t *len)
{
    return daqd_diag_symptoms_text(s->devices, len);
}

static const struct {
    const char *path, *type;
    char *(*produce)(const daqd_diag_src *s, size_t *len);
} debug_paths[] = {
    {"/debug/log", "text/plain; charset=utf-8", p_log},
    {"/debug/config", "text/plain; charset=utf-8", p_config},
    {"/debug/facts", "application/json", p_facts},
    {"/debug/rss.csv", "text/csv", p_rss},
    {"/debug/histograms.csv", "text/csv", p_hist},
    {"/debug/symptoms", "text/plain; charset=utf-8", p_symptoms},
};

bool daqd_diag_http(const daqd_diag_src *s, const char *path, daq_http_response *out)
{
    for (size_t i = 0; i < sizeof debug_paths / sizeof debug_paths[0]; i++) {
        if (strcmp(path, debug_paths[i].path) != 0)
            continue;
        out->body = debug_paths[i].produce(s, &out->len);
        out->free_body = true;
        out->content_type = debug_paths[i].type;
        if (!out->body)
            out->status = 500;
        return true;
    }
    return false;
}

char *daqd_diag_read_file(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max, f) : 0;
    bool bad = ferror(f) != 0;
    fclose(f);
    if (!buf || bad) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

/* ---- the local bundle --------------------------------------------------------------- */

static char *metrics_text(daq_devices *ds)
{
    daq_metrics_device views[DAQ_CONFIG_MAX_DEVICES];
    size_t n = daq_metrics_device_views(ds, views, DAQ_CONFIG_MAX_DEVICES);
    daq_metrics_sources src = {.devs = views, .n = n, .devices = ds};
    return daq_metrics_render_sources(&src, NULL);
}

int daqd_diag_bundle_local(const char *dir, daq_devices *ds, const char *config_path,
                           const char *reason, char *err, size_t err_len)
{
    char *config =
        config_path ? daqd_diag_read_file(config_path, DAQD_DIAG_CONFIG_MAX, NULL) : NULL;
    char *parts[] = {
        daq_log_ring_dump(NULL),
        metrics_text(ds),
        daqd_diag_facts_json(config_path, NULL),
        daqd_diag_rss_csv(ds, NULL),
        daqd_diag_histograms_csv(ds, NULL),
        daqd_diag_symptoms_text(ds, NULL),
    };
    daqd_bundle b = {.reason = reason,
                     .source = "in-process (daqd validate)",
                     .log = parts[0],
                     .metrics = parts[1],
                     .config = config,
                     .facts = parts[2],
                     .rss_csv = parts[3],
                     .hist_csv = parts[4],
                     .symptoms = parts[5]};
    int rc = daqd_bundle_write(dir, &b, err, err_len);
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        free(parts[i]);
    free(config);
    return rc;
}
