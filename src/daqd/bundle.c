/* daqd/bundle.c - writes a diagnostics bundle directory.
 *
 * One writer for both sources (a daemon over HTTP, in-process state): the
 * parts arrive as the texts the /debug/... endpoints serve, and the plots
 * are drawn from those texts (rss.csv, histograms.csv), so a bundle made
 * by `daqd diagnose` and one made by validate cannot disagree.
 *
 * summary.txt is what an operator reads first: line 1 says why the bundle
 * exists (the caller's reason, or which rollback symptoms are active now),
 * then the "rollback symptom" WARN lines found in the log, the active
 * symptoms per device, versions, the pool state from the metrics, and
 * what each file holds.
 *
 * A directory that exists and is not empty is refused: a bundle never
 * mixes with an older one or with the operator's files.
 */
#define _GNU_SOURCE
#include "daqd/bundle.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "daqd/plot.h"
#include "util/err.h"

#define MAX_DEVS  64
#define N_BUCKETS 32 /* DAQ_LAT_BUCKETS: bucket i holds values up to 2^(i+1) ns */

enum { H_INTERVAL, H_POOL, H_HEAP, H_COUNT };
static const char *const hist_names[H_COUNT] = {"frame_interval", "alloc_pool", "alloc_heap"};

typedef struct dev_hists {
    char id[64];
    double counts[H_COUNT][N_BUCKETS];
} dev_hists;

typedef struct bundle_devs {
    size_t n;
    dev_hists d[MAX_DEVS];
} bundle_devs;

/* ---- directory and files -------------------------------------------------------- */

static int dir_prepare(const char *dir, char *err, size_t err_len)
{
    if (mkdir(dir, 0750) == 0)
        return 0;
    if (errno != EEXIST)
        return daq_err(err, err_len, "cannot create %s: %s", dir, strerror(errno));
    DIR *d = opendir(dir);
    if (!d)
        return daq_err(err, err_len, "%s exists and cannot be read: %s", dir, strerror(errno));
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            rc = daq_err(err, err_len, "%s exists and is not empty: give a new directory", dir);
            break;
        }
    closedir(d);
    return rc;
}

static int file_put(const char *dir, const char *name, const char *text, char *err, size_t err_len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return daq_err(err, err_len, "cannot write %s: %s", path, strerror(errno));
    size_t n = text ? strlen(text) : 0;
    bool ok = fwrite(text ? text : "", 1, n, f) == n;
    if (fclose(f) != 0 || !ok)
        return daq_err(err, err_len, "cannot write %s: %s", path, strerror(errno));
    return 0;
}

/* ---- parsing the parts ---------------------------------------------------------------- */

static dev_hists *dev_get(bundle_devs *ds, const char *id, size_t len)
{
    for (size_t i = 0; i < ds->n; i++)
        if (strlen(ds->d[i].id) == len && strncmp(ds->d[i].id, id, len) == 0)
            return &ds->d[i];
    if (ds->n == MAX_DEVS || len >= sizeof ds->d[0].id)
        return NULL;
    dev_hists *d = &ds->d[ds->n++];
    memset(d, 0, sizeof *d);
    memcpy(d->id, id, len);
    return d;
}

/* Devices named in symptoms.txt ("process" is not one) and histograms.csv. */
static void devs_parse(bundle_devs *ds, const char *symptoms, const char *hist_csv)
{
    ds->n = 0;
    for (const char *l = symptoms; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : "") {
        size_t n = strcspn(l, " \n");
        if (n && !(n == 7 && strncmp(l, "process", 7) == 0))
            dev_get(ds, l, n);
    }
    const char *l = hist_csv ? strchr(hist_csv, '\n') : NULL; /* after the header */
    for (; l && *++l; l = strchr(l, '\n')) {
        char id[64], hist[32], le[32];
        double count;
        if (sscanf(l, "%63[^,],%31[^,],%31[^,],%lf", id, hist, le, &count) != 4)
            continue;
        dev_hists *d = dev_get(ds, id, strlen(id));
        unsigned long long ns = strtoull(le, NULL, 10);
        unsigned b = strcmp(le, "+Inf") == 0 ? N_BUCKETS - 1 : 0;
        while (b + 1 < N_BUCKETS && ns > (2ull << b))
            b++;
        for (int h = 0; d && h < H_COUNT; h++)
            if (strcmp(hist, hist_names[h]) == 0)
                d->counts[h][b] += count;
    }
}

/* ---- plots ------------------------------------------------------------------------------ */

static void fmt_ns(char *out, size_t n, double ns)
{
    static const char *const units[] = {"ns", "us", "ms", "s"};
    int u = 0;
    while (u < 3 && ns >= 1000) {
        ns /= 1000;
        u++;
    }
    snprintf(out, n, "%.3g%s", ns, units[u]);
}

static int plot_put(daqd_canvas *c, const char *dir, const char *name, char *err, size_t err_len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!c)
        return daq_err(err, err_len, "%s: out of memory", path);
    int rc = daqd_png_write(c, path);
    daqd_canvas_free(c);
    return rc == 0 ? 0 : daq_err(err, err_len, "cannot write %s: %s", path, strerror(errno));
}

static int plot_rss(const char *dir, const char *csv, char *err, size_t err_len)
{
    size_t cap = 1, n = 0;
    for (const char *p = csv; p && *p; p++)
        cap += *p == '\n';
    double *x = malloc(cap * sizeof *x), *y = malloc(cap * sizeof *y);
    const char *l = csv ? strchr(csv, '\n') : NULL;
    for (; x && y && l && *++l; l = strchr(l, '\n')) {
        double t, rss;
        if (sscanf(l, "%lf,%lf", &t, &rss) == 2 && n < cap) {
            x[n] = t;
            y[n++] = rss / (1024.0 * 1024.0);
        }
    }
    daqd_canvas *c = x && y ? daqd_plot_line("Process RSS", "time since the first sample (s)",
                                             "RSS (MiB)", x, y, n)
                            : NULL;
    free(x);
    free(y);
    return plot_put(c, dir, "rss.png", err, err_len);
}

/* One histogram plot of a device: series first..first+ns-1, the buckets
 * from the lowest to the highest non-empty one (at least 8 shown). */
static int plot_hist(const char *dir, const char *file, const char *title, const dev_hists *d,
                     int first, int ns, char *err, size_t err_len)
{
    int lo = N_BUCKETS, hi = -1;
    for (int s = first; s < first + ns; s++)
        for (int b = 0; b < N_BUCKETS; b++)
            if (d->counts[s][b] > 0) {
                lo = b < lo ? b : lo;
                hi = b > hi ? b : hi;
            }
    bool empty = hi < 0;
    if (empty) {
        lo = 8; /* empty: 512 ns .. 256 us, an honest blank */
        hi = 17;
    }
    while (hi - lo < 7)
        lo > 0 ? lo-- : hi++;
    size_t ncat = (size_t)(hi - lo + 1);
    char labels[N_BUCKETS][16];
    const char *lab[N_BUCKETS];
    double values[H_COUNT * N_BUCKETS];
    const char *names[H_COUNT];
    for (size_t i = 0; i < ncat; i++) {
        fmt_ns(labels[i], sizeof labels[i], (double)(2ull << (lo + (int)i)));
        lab[i] = labels[i];
        for (int s = 0; s < ns; s++)
            values[(size_t)s * ncat + i] = d->counts[first + s][lo + (int)i];
    }
    for (int s = 0; s < ns; s++)
        names[s] = hist_names[first + s];
    char full[192];
    snprintf(full, sizeof full, "%s: %s%s", d->id, title, empty ? " (no data)" : "");
    daqd_canvas *c = daqd_plot_bars(full, "bucket upper bound (log2 buckets)", "count", lab, ncat,
                                    names, values, (size_t)ns);
    return plot_put(c, dir, file, err, err_len);
}

static void safe_name(char *out, size_t n, const char *id)
{
    size_t i = 0;
    for (; id[i] && i + 1 < n; i++) {
        char ch = id[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.';
        out[i] = ok ? ch : '_';
    }
    out[i] = '\0';
}

static int plots_write(const char *dir, const daqd_bundle *b, const bundle_devs *ds, char *err,
                       size_t err_len)
{
    if (plot_rss(dir, b->rss_csv, err, err_len) != 0)
        return -1;
    for (size_t i = 0; i < ds->n; i++) {
        char id[64], file[128];
        safe_name(id, sizeof id, ds->d[i].id);
        snprintf(file, sizeof file, "frame_interval_%s.png", id);
        if (plot_hist(dir, file, "frame interval", &ds->d[i], H_INTERVAL, 1, err, err_len) != 0)
            return -1;
        snprintf(file, sizeof file, "alloc_latency_%s.png", id);
        if (plot_hist(dir, file, "alloc latency", &ds->d[i], H_POOL, 2, err, err_len) != 0)
            return -1;
    }
    return 0;
}

/* ---- summary.txt ------------------------------------------------------------------------- */

/* Lines of text containing all of needles (NULL-ended), each prefixed. */
static size_t lines_with(FILE *f, const char *text, const char *const *needles, const char *prefix)
{
    size_t found = 0;
    for (const char *l = text; l && *l;) {
        const char *end = strchr(l, '\n');
        size_t n = end ? (size_t)(end - l) : strlen(l);
        bool all = true;
        for (const char *const *k = needles; *k && all; k++)
            all = memmem(l, n, *k, strlen(*k)) != NULL;
        if (all) {
            fprintf(f, "%s%.*s\n", prefix, (int)n, l);
            found++;
        }
        l = end ? end + 1 : l + n;
    }
    return found;
}

/* "cam0 pool_exhausted, process rss_growth" from symptoms.txt; "" if none. */
static void active_list(char *out, size_t n, const char *symptoms)
{
    out[0] = '\0';
    size_t at = 0;
    for (const char *l = symptoms; l && *l;) {
        const char *end = strchr(l, '\n');
        size_t len = end ? (size_t)(end - l) : strlen(l);
        if (memmem(l, len, " active=1", 9)) {
            size_t name = (size_t)((const char *)memmem(l, len, " active=", 8) - l);
            int k = snprintf(out + at, n - at, "%s%.*s", at ? ", " : "", (int)name, l);
            if (k < 0 || (size_t)k >= n - at)
                break;
            at += (size_t)k;
        }
        l = end ? end + 1 : l + len;
    }
}

static void summary_versions(FILE *f, const char *facts)
{
    const char *v = facts ? strstr(facts, "\"versions\"") : NULL;
    v = v ? strchr(v, '{') : NULL;
    const char *end = v ? strchr(v, '}') : NULL;
    if (end)
        fprintf(f, "versions: %.*s\n", (int)(end + 1 - v), v);
    else
        fputs("versions: unavailable (no facts)\n", f);
}

static char *summary_text(const daqd_bundle *b)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f)
        return NULL;
    char active[2048];
    active_list(active, sizeof active, b->symptoms);
    if (b->reason)
        fprintf(f, "%s\n", b->reason);
    else if (active[0])
        fprintf(f, "rollback symptoms active now: %s\n", active);
    else
        fputs("no rollback symptom active\n", f);
    fprintf(f, "source: %s\n\n", b->source ? b->source : "unknown");

    static const char *const warn_text[] = {"rollback symptom", "WARN", NULL};
    fputs("rollback symptom WARN lines in the log:\n", f);
    if (lines_with(f, b->log, warn_text, "  ") == 0)
        fputs("  none\n", f);
    fprintf(f, "\nactive symptoms now: %s\n", active[0] ? active : "none");
    static const char *const active_key[] = {" active=1", NULL};
    lines_with(f, b->symptoms, active_key, "  ");
    fputc('\n', f);
    summary_versions(f, b->facts);

    fputs("\npool state (from metrics.txt):\n", f);
    static const char *const pool_keys[][2] = {{"daq_pool_use_pool{", NULL},
                                               {"daq_pool_hit_ratio{", NULL},
                                               {"daq_rollback_auto_total{", NULL}};
    size_t shown = 0;
    for (size_t k = 0; k < sizeof pool_keys / sizeof pool_keys[0]; k++)
        shown += lines_with(f, b->metrics, pool_keys[k], "  ");
    if (!shown)
        fputs("  unavailable\n", f);

    fputs("\nfiles:\n"
          "  summary.txt      this file\n"
          "  log.txt          the daemon's last log lines (its in-memory ring)\n"
          "  metrics.txt      /metrics (Prometheus text)\n"
          "  config.toml      the config file as loaded\n"
          "  facts.json       versions, config digest, machine\n"
          "  symptoms.txt     every rollback symptom per device: active, value, threshold\n"
          "  rss.csv, rss.png the process RSS over time (one point per watch tick)\n"
          "  histograms.csv   frame_interval, alloc_pool, alloc_heap log2-ns buckets per device\n"
          "  frame_interval_<device>.png, alloc_latency_<device>.png   those histograms\n",
          f);
    bool bad = ferror(f) != 0;
    if (fclose(f) != 0 || bad) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* ---- the bundle ---------------------------------------------------------------------------- */

int daqd_bundle_write(const char *dir, const daqd_bundle *b, char *err, size_t err_len)
{
    if (dir_prepare(dir, err, err_len) != 0)
        return -1;
    char *summary = summary_text(b);
    if (!summary)
        return daq_err(err, err_len, "summary: out of memory");
    const struct {
        const char *name, *text;
    } files[] = {
        {"summary.txt", summary},        {"log.txt", b->log},           {"metrics.txt", b->metrics},
        {"config.toml", b->config},      {"facts.json", b->facts},      {"rss.csv", b->rss_csv},
        {"histograms.csv", b->hist_csv}, {"symptoms.txt", b->symptoms},
    };
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof files / sizeof files[0]; i++)
        rc = file_put(dir, files[i].name, files[i].text, err, err_len);
    free(summary);
    bundle_devs *ds = rc == 0 ? malloc(sizeof *ds) : NULL;
    if (rc == 0 && !ds)
        return daq_err(err, err_len, "plots: out of memory");
    if (ds) {
        devs_parse(ds, b->symptoms, b->hist_csv);
        rc = plots_write(dir, b, ds, err, err_len);
        free(ds);
    }
    return rc;
}
