/* daqd/validate.c - the rollback plan's checkpoints as a command.
 *
 *   smoke (CP3): a fixed number of frames (200) at the configured rate:
 *       PASS when pool hit rate > 95 %, drops <= 1 %, no lost frames and the
 *       stream ended cleanly; ROLLBACK when hit rate < 90 % or drops > 1 %.
 *   soak (CP4): streaming for --duration; after a warm-up, resident memory
 *       sampled every second: PASS when RSS growth <= 10 %, hit rate > 99 %,
 *       no discontinuity and no loss after warm-up; ROLLBACK when growth >
 *       20 %.
 *   pilot (CP5): the pool against the pre-migration path (pool off: every
 *       frame to the heap) in alternating windows of one run with a
 *       lossless stats consumer and a latest-only viewer attached
 *       (pilot.c): ROLLBACK when pool-on fps is > 5 % below pool-off, or
 *       pool-on p99 latency is > 50 % AND > 5 ms above pool-off; FAIL on
 *       any loss, disconnect or stream error.  --baseline compares this
 *       run's pool-on figures with a saved run's pool-off figures (the
 *       plan's pre-migration baseline) by the same rules (baseline.c).
 *
 * The device runs in this process exactly as the daemon would run it (same
 * config, pool, consumers), plus one lossless "validator" subscription
 * that counts every frame and verifies its pixels whenever the driver
 * knows what its camera sends (daq_camera_verify: the sim, a test camera).
 * "drops" are frames that never reached it: pool-path drops and the
 * validator's own queue drops; consumers configured to be lossy are
 * reported but do not fail the checkpoint.
 *
 * Output: a progress line, a table (criterion, threshold, measured,
 * result), the verdict line, a JSON report carrying the versions, config
 * digest and machine facts (facts.c); exit 0 PASS, 1 FAIL, 2 ROLLBACK.
 * On FAIL or ROLLBACK a diagnostics bundle (diag.h) is written before the
 * devices go away, with the live symptom watch's RSS timeline and states.
 */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daq/config.h"
#include "daq/devices.h"
#include "daq/log.h"
#include "daq/watch.h"
#include "daqd/daqd.h"
#include "daqd/diag.h"
#include "daqd/facts.h"
#include "daqd/pilot.h"
#include "util/clock.h"

#define MAX_CRIT 10

typedef struct thresholds {
    double min_hit_pct, rollback_hit_pct;   /* smoke */
    double max_drop_pct, rollback_drop_pct; /* smoke */
    double soak_min_hit_pct;                /* soak */
    double max_rss_pct, rollback_rss_pct;   /* soak */
    double max_fps_drop_pct;                /* pilot */
    double max_p99_pct, min_p99_us;         /* pilot: both must be exceeded */
} thresholds;

typedef struct criterion {
    const char *name, *unit, *rule; /* rule: "> 95" etc., for the table */
    double threshold, measured;
    bool pass;
    bool rollback; /* the rollback condition of this criterion holds */
} criterion;

typedef struct opts {
    const char *config, *device, *checkpoint, *report;
    int64_t duration_ms, warmup_ms;
    uint64_t frames;
    thresholds t;
    daqd_pilot_opts pilot;
    double windows, stall_ms; /* as given, checked into pilot */
    const char *save_baseline, *baseline_path, *diagnostics;
    daqd_pilot_baseline baseline; /* loaded when baseline_path */
} opts;

/* ---- the validator subscription ---------------------------------------------- */

typedef struct validator {
    daq_sub *sub;
    pthread_t thread;
    daq_camera *cam; /* borrowed: its verify op checks every pixel when it can */
    pthread_mutex_t mu;
    uint64_t frames, verified, corrupt;
} validator;

static void *validate_frames(void *arg)
{
    validator *v = arg;
    daq_frame *f;
    int r;
    /* Until the stream's end: every frame published is counted, however far
     * behind a slow (sanitized, loaded) machine lets this thread fall. */
    while ((r = daq_sub_next(v->sub, -1, &f)) != DAQ_SUB_CLOSED && r != DAQ_SUB_EOS) {
        if (r != DAQ_SUB_FRAME)
            continue;
        int ok = daq_camera_verify(v->cam, f, NULL, 0); /* 0: the content is unknown */
        daq_frame_unref(f);
        pthread_mutex_lock(&v->mu);
        v->frames++;
        v->verified += ok > 0;
        v->corrupt += ok < 0;
        pthread_mutex_unlock(&v->mu);
    }
    return NULL;
}

static int validator_start(validator *v, daq_bus *bus, daq_camera *cam)
{
    daq_sub_config sc;
    daq_sub_config_init(&sc);
    sc.name = "validator";
    sc.policy = DAQ_SUB_LOSSLESS;
    sc.queue_depth = 16;
    sc.lossless_timeout_ms = 1000;
    char err[256];
    v->sub = daq_bus_subscribe(bus, &sc, err, sizeof err);
    if (!v->sub) {
        fprintf(stderr, "daqd: validate: %s\n", err);
        return -1;
    }
    v->cam = cam;
    pthread_mutex_init(&v->mu, NULL);
    return pthread_create(&v->thread, NULL, validate_frames, v);
}

/* After the acquisition stopped (its end of stream drains the validator) or,
 * with drain false, at once. */
static void validator_stop(validator *v, daq_bus *bus, bool drain, uint64_t *frames,
                           uint64_t *corrupt, uint64_t *dropped)
{
    if (!drain)
        daq_sub_close(v->sub);
    pthread_join(v->thread, NULL);
    daq_sub_stats st;
    daq_sub_stats_snapshot(v->sub, &st);
    daq_bus_unsubscribe(bus, v->sub);
    *frames = v->frames;
    *corrupt = v->corrupt;
    *dropped = st.dropped;
    pthread_mutex_destroy(&v->mu);
}

/* ---- measuring ------------------------------------------------------------------- */

static double rss_mib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / 1048576.0;
}

static double pct(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static void progress(bool tty, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, tty ? "\r%-100s" : "%s\n", line);
    fflush(stderr);
}

/* ---- the checkpoints -------------------------------------------------------------- */

typedef struct result {
    criterion c[MAX_CRIT];
    size_t n;
    daq_acq_stats s;
    uint64_t validator_frames, corrupt, validator_dropped;
    double seconds, rss_start, rss_end, rss_max;
    bool ran;
    daqd_pilot_result pilot;
    char warning[1024];  /* baseline from another machine/config/build; "" none */
    char diag_dir[4096]; /* where the bundle went; "" none */
} result;

static criterion *crit(result *r, const char *name, const char *unit, const char *rule,
                       double threshold, double measured, bool pass)
{
    criterion *c = &r->c[r->n++];
    *c = (criterion){name, unit, rule, threshold, measured, pass, false};
    return c;
}

/* The hit-rate row judges the pool.  With the pool off (PVCAM_USE_POOL=0,
 * the live toggle, a -DDAQ_FRAME_POOL=OFF build) there is no pool to judge:
 * the row says so and the checkpoint judges the heap path on its other
 * rows, so confirming a rollback never answers "roll back".  rollback_pct
 * NAN: the checkpoint has no rollback condition on the hit rate. */
static void hit_rate_crit(result *r, bool use_pool, double min_pct, double rollback_pct, double hit)
{
    if (!use_pool) {
        crit(r, "pool hit rate", "%", "n/a (pool off)", NAN, NAN, true);
        return;
    }
    crit(r, "pool hit rate", "%", ">", min_pct, hit, hit > min_pct)->rollback = hit < rollback_pct;
}

static bool wait_until(daq_acq *a, uint64_t deadline_ns, bool tty, uint64_t frames)
{
    while (daq_now_ns() < deadline_ns) {
        if (daq_acq_wait_idle(a, 250))
            return true;
        daq_acq_stats s;
        daq_acq_stats_snapshot(a, &s);
        progress(tty, "smoke: %lu/%lu frames  %.1f fps  hit %.1f %%  lost %lu",
                 (unsigned long)s.delivered, (unsigned long)frames, s.fps, 100.0 * s.pool.hit_rate,
                 (unsigned long)s.lost);
    }
    return false;
}

static int smoke(daq_acq *a, validator *v, daq_bus *bus, const opts *o, result *r, bool tty)
{
    char err[256];
    daq_camera_format fmt;
    double rate = 100;
    if (daq_camera_get_format(daq_acq_camera(a), &fmt, err, sizeof err) == 0 &&
        fmt.frame_rate_hz > 0)
        rate = fmt.frame_rate_hz;
    uint64_t t0 = daq_now_ns();
    if (daq_acq_start(a, o->frames, err, sizeof err) < 0) {
        fprintf(stderr, "daqd: validate: cannot start: %s\n", err);
        validator_stop(v, bus, false, &r->validator_frames, &r->corrupt, &r->validator_dropped);
        return -1;
    }
    double budget_s = (double)o->frames / rate * 3 + 10;
    bool ended = wait_until(a, t0 + (uint64_t)(budget_s * 1e9), tty, o->frames);
    daq_acq_stop(a);
    validator_stop(v, bus, true, &r->validator_frames, &r->corrupt, &r->validator_dropped);
    r->seconds = (double)(daq_now_ns() - t0) / 1e9;
    daq_acq_stats_snapshot(a, &r->s);
    if (tty)
        fputc('\n', stderr);
    const daq_acq_stats *s = &r->s;
    uint64_t drops = s->alloc_dropped + r->validator_dropped;
    double hit = 100.0 * s->pool.hit_rate, drop = pct(drops, s->captured);
    const thresholds *t = &o->t;
    hit_rate_crit(r, s->pool.use_pool, t->min_hit_pct, t->rollback_hit_pct, hit);
    crit(r, "drops", "%", "<=", t->max_drop_pct, drop, drop <= t->max_drop_pct)->rollback =
        drop > t->rollback_drop_pct;
    crit(r, "lost frames", "", "=", 0, (double)s->lost, s->lost == 0);
    bool clean = ended && s->state != DAQ_ACQ_ERROR && s->delivered >= o->frames;
    crit(r, "frames delivered", "", ">=", (double)o->frames, (double)s->delivered, clean);
    return 0;
}

static int soak(daq_acq *a, validator *v, daq_bus *bus, const opts *o, result *r, bool tty)
{
    char err[256];
    uint64_t t0 = daq_now_ns();
    if (daq_acq_start(a, 0, err, sizeof err) < 0) {
        fprintf(stderr, "daqd: validate: cannot start: %s\n", err);
        validator_stop(v, bus, false, &r->validator_frames, &r->corrupt, &r->validator_dropped);
        return -1;
    }
    uint64_t warm_end = t0 + (uint64_t)o->warmup_ms * 1000000;
    uint64_t end = t0 + (uint64_t)o->duration_ms * 1000000;
    daq_acq_stats at_warm;
    memset(&at_warm, 0, sizeof at_warm);
    bool warm = false;
    uint64_t next = t0 + 1000000000ull, shown = 0;
    while (daq_now_ns() < end && daq_acq_state_get(a) == DAQ_ACQ_STREAMING) {
        uint64_t now = daq_now_ns();
        if (now < next) {
            usleep((useconds_t)((next - now) / 1000 > 200000 ? 200000 : (next - now) / 1000));
            continue;
        }
        next += 1000000000ull;
        double rss = rss_mib();
        daq_acq_stats s;
        daq_acq_stats_snapshot(a, &s);
        if (!warm && now >= warm_end) {
            warm = true;
            at_warm = s;
            r->rss_start = r->rss_max = rss;
        } else if (warm && rss > r->rss_max) {
            r->rss_max = rss;
        }
        uint64_t elapsed = (now - t0) / 1000000000ull;
        if (tty || elapsed >= shown + 10) {
            shown = elapsed;
            progress(
                tty,
                "soak: %lu/%lld s  %s  frames %lu  %.1f fps  hit %.1f %%  rss %.1f MiB  lost %lu",
                (unsigned long)elapsed, (long long)(o->duration_ms / 1000),
                warm ? "measuring" : "warm-up", (unsigned long)s.delivered, s.fps,
                100.0 * s.pool.hit_rate, rss, (unsigned long)s.lost);
        }
    }
    bool errored = daq_acq_state_get(a) == DAQ_ACQ_ERROR;
    daq_acq_stats_snapshot(a, &r->s);
    daq_acq_stop(a);
    validator_stop(v, bus, true, &r->validator_frames, &r->corrupt, &r->validator_dropped);
    r->rss_end = rss_mib();
    r->seconds = (double)(daq_now_ns() - t0) / 1e9;
    if (tty)
        fputc('\n', stderr);
    const daq_acq_stats *s = &r->s;
    uint64_t hits = s->pool.hits - at_warm.pool.hits, allocs = s->pool.allocs - at_warm.pool.allocs;
    double hit = allocs ? 100.0 * (double)hits / (double)allocs : 0;
    double growth = r->rss_start > 0 ? 100.0 * (r->rss_max - r->rss_start) / r->rss_start : NAN;
    const thresholds *t = &o->t;
    crit(r, "rss growth", "%", "<=", t->max_rss_pct, growth, warm && growth <= t->max_rss_pct)
        ->rollback = growth > t->rollback_rss_pct;
    hit_rate_crit(r, s->pool.use_pool, t->soak_min_hit_pct, NAN, hit);
    crit(r, "discontinuities", "", "=", 0, (double)(s->discontinuities - at_warm.discontinuities),
         s->discontinuities == at_warm.discontinuities);
    crit(r, "lost frames", "", "=", 0, (double)(s->lost - at_warm.lost), s->lost == at_warm.lost);
    crit(r, "stream errors", "", "=", 0, errored ? 1 : 0, !errored && warm);
    return 0;
}

/* The plan's two rollback rules for pool-on figures against a reference
 * (this run's pool-off windows, or a baseline's): fps lower by more than
 * max_fps_drop_pct; p99 higher by more than max_p99_pct AND min_p99_us (a
 * 0.4 -> 0.8 ms change is noise on a loaded machine, not a GUI lag: 5 ms,
 * a third of a 60 Hz display frame, is the default). */
static void compare(result *r, const char *fps_name, const char *p99_name,
                    const daqd_pilot_figures *on, const daqd_pilot_figures *ref, double ratio,
                    const thresholds *t)
{
    double drop = 100.0 * (1.0 - ratio);
    crit(r, fps_name, "%", "<=", t->max_fps_drop_pct, drop, drop <= t->max_fps_drop_pct)->rollback =
        drop > t->max_fps_drop_pct;
    double p_on = daqd_pilot_p99_us(on), p_ref = daqd_pilot_p99_us(ref);
    double rise_us = p_on - p_ref, rise = p_ref > 0 ? 100.0 * rise_us / p_ref : NAN;
    bool worse = rise_us > t->min_p99_us && !(rise <= t->max_p99_pct);
    crit(r, p99_name, "%", "<=", t->max_p99_pct, rise, !worse && p_on > 0 && p_ref > 0)->rollback =
        worse;
}

static int pilot(daq_device *d, const opts *o, result *r, bool tty)
{
    char err[256];
    daqd_pilot_result *p = &r->pilot;
    uint64_t t0 = daq_now_ns();
    if (daqd_pilot_run(d, &o->pilot, tty, p, err, sizeof err) != 0) {
        fprintf(stderr, "daqd: validate: cannot start: %s\n", err);
        return -1;
    }
    r->seconds = (double)(daq_now_ns() - t0) / 1e9;
    daq_acq_stats_snapshot(daq_device_acq(d), &r->s);
    r->validator_frames = p->on.c[DAQD_PILOT_STATS].receipts + p->off.c[DAQD_PILOT_STATS].receipts;
    r->validator_dropped = p->consumer_dropped;
    /* within the run: the median pair ratio (pilot.h); against a baseline
     * (another run, no pairs): the sums */
    compare(r, "fps on vs off", "p99 on vs off", &p->on, &p->off, p->pair_ratio_median, &o->t);
    if (o->baseline_path)
        compare(r, "fps vs baseline", "p99 vs baseline", &p->on, &o->baseline.off,
                o->baseline.off.fps > 0 ? p->on.fps / o->baseline.off.fps : NAN, &o->t);
    uint64_t lost = p->lost + p->alloc_dropped + p->consumer_dropped;
    crit(r, "lost frames", "", "=", 0, (double)lost, lost == 0);
    crit(r, "disconnects", "", "=", 0, (double)p->disconnects, p->disconnects == 0);
    crit(r, "stream errors", "", "=", 0, p->stream_error ? 1 : 0, !p->stream_error);
    if (o->baseline_path) {
        daqd_pilot_baseline now;
        daqd_pilot_facts_now(o->config, &now);
        char diff[900];
        if (daqd_pilot_baseline_differences(&o->baseline, &now, diff, sizeof diff) > 0)
            snprintf(r->warning, sizeof r->warning, "comparing across machines/configs: %s", diff);
    }
    return 0;
}

/* ---- output --------------------------------------------------------------------------- */

static const char *verdict_of(const result *r, int *code)
{
    bool rollback = false, fail = false;
    for (size_t i = 0; i < r->n; i++) {
        rollback |= r->c[i].rollback;
        fail |= !r->c[i].pass;
    }
    *code = rollback ? DAQD_EXIT_ROLLBACK : fail ? DAQD_EXIT_FAIL : DAQD_EXIT_OK;
    return rollback ? "ROLLBACK: set PVCAM_USE_POOL=0 and restart" : fail ? "FAIL" : "PASS";
}

static void print_table(const result *r, const char *verdict)
{
    printf("%-18s %-14s %-14s %s\n", "criterion", "threshold", "measured", "result");
    for (size_t i = 0; i < r->n; i++) {
        const criterion *c = &r->c[i];
        char th[32], me[32];
        if (isnan(c->threshold)) /* a row that judges nothing: its rule says why */
            snprintf(th, sizeof th, "%s", c->rule);
        else
            snprintf(th, sizeof th, "%s %g%s%s", c->rule, c->threshold, *c->unit ? " " : "",
                     c->unit);
        if (isnan(c->measured))
            snprintf(me, sizeof me, "-");
        else
            snprintf(me, sizeof me, "%.2f%s%s", c->measured, *c->unit ? " " : "", c->unit);
        printf("%-18s %-14s %-14s %s%s\n", c->name, th, me, c->pass ? "PASS" : "FAIL",
               c->rollback ? " (rollback)" : "");
    }
    printf("%s\n", verdict);
}

static void print_pilot(const daqd_pilot_result *p)
{
    printf("%-8s %-5s %8s %9s %7s %11s %11s %11s %11s %7s\n", "window", "pool", "seconds", "fps",
           "hit %", "stats p50", "stats p99", "latest p50", "latest p99", "stalls");
    for (unsigned w = 0; w <= p->n_windows + 1; w++) {
        const daqd_pilot_figures *f = w < p->n_windows    ? &p->window[w]
                                      : w == p->n_windows ? &p->on
                                                          : &p->off;
        char name[16];
        snprintf(name, sizeof name, w < p->n_windows ? "%u" : "all", w + 1);
        printf("%-8s %-5s %8.2f %9.1f %7.1f %8.0f us %8.0f us %8.0f us %8.0f us %7lu\n", name,
               f->pool ? "on" : "off", f->seconds, f->fps, f->hit_pct,
               f->c[DAQD_PILOT_STATS].p50_us, f->c[DAQD_PILOT_STATS].p99_us,
               f->c[DAQD_PILOT_LATEST].p50_us, f->c[DAQD_PILOT_LATEST].p99_us,
               (unsigned long)(f->c[0].stalls + f->c[1].stalls));
    }
    printf("fps on/off: %.3f (median of %u window pairs), %.3f (sums)\n", p->pair_ratio_median,
           p->n_windows / 2, p->off.fps > 0 ? p->on.fps / p->off.fps : NAN);
}

static void json_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.6g", v);
    else
        fprintf(f, "null");
}

/* "pilot": settings, per-kind and per-window figures (the alternation),
 * whole-run loss; "baseline": the file and the figures compared against. */
static void write_pilot(FILE *f, const opts *o, const result *r)
{
    const daqd_pilot_result *p = &r->pilot;
    fprintf(f,
            "  \"pilot\": {\"windows\": %u, \"window_s\": %.6g, \"settle_s\": %.6g, "
            "\"stall_ms\": %lld, \"max_fps_drop_pct\": %.6g, \"max_p99_increase_pct\": %.6g, "
            "\"min_p99_increase_us\": %.6g,\n    \"lost\": %lu, \"alloc_dropped\": %lu, "
            "\"consumer_dropped\": %lu, \"disconnects\": %lu, \"stream_error\": %s,\n"
            "    \"fps_ratio_pair_median\": ",
            o->pilot.windows, (double)o->pilot.window_ms / 1e3, (double)o->pilot.settle_ms / 1e3,
            (long long)o->pilot.stall_ms, o->t.max_fps_drop_pct, o->t.max_p99_pct, o->t.min_p99_us,
            (unsigned long)p->lost, (unsigned long)p->alloc_dropped,
            (unsigned long)p->consumer_dropped, (unsigned long)p->disconnects,
            p->stream_error ? "true" : "false");
    json_num(f, p->pair_ratio_median);
    fprintf(f, ",\n    \"pool_on\": ");
    daqd_pilot_figures_json(f, &p->on);
    fprintf(f, ",\n    \"pool_off\": ");
    daqd_pilot_figures_json(f, &p->off);
    fprintf(f, ",\n    \"per_window\": [\n");
    for (unsigned w = 0; w < p->n_windows; w++) {
        fprintf(f, "      ");
        daqd_pilot_figures_json(f, &p->window[w]);
        fprintf(f, "%s\n", w + 1 < p->n_windows ? "," : "");
    }
    fprintf(f, "    ]},\n  \"baseline\": ");
    if (!o->baseline_path) {
        fprintf(f, "null,\n");
        return;
    }
    fprintf(f, "{\"file\": ");
    daqd_json_str(f, o->baseline_path);
    fprintf(f, ", \"config_digest\": ");
    daqd_json_str(f, o->baseline.config_digest);
    fprintf(f, ", \"hostname\": ");
    daqd_json_str(f, o->baseline.hostname);
    fprintf(f, ",\n    \"pool_on\": ");
    daqd_pilot_figures_json(f, &o->baseline.on);
    fprintf(f, ",\n    \"pool_off\": ");
    daqd_pilot_figures_json(f, &o->baseline.off);
    fprintf(f, "},\n");
}

static int write_report(const char *path, const opts *o, const result *r, const char *verdict,
                        int code)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "daqd: validate: cannot write %s\n", path);
        return -1;
    }
    const daq_acq_stats *s = &r->s;
    fprintf(f, "{\n  \"checkpoint\": \"%s\",\n  \"device\": ", o->checkpoint);
    daqd_json_str(f, o->device);
    fprintf(f, ",\n  \"config\": ");
    daqd_json_str(f, o->config);
    fprintf(f, ",\n");
    fprintf(f, "  \"verdict\": \"%s\",\n  \"exit_code\": %d,\n  \"use_pool\": %s,\n", verdict, code,
            s->pool.use_pool ? "true" : "false");
    fprintf(f, "  \"duration_s\": ");
    json_num(f, r->seconds);
    fprintf(f, ",\n  \"criteria\": [\n");
    for (size_t i = 0; i < r->n; i++) {
        const criterion *c = &r->c[i];
        fprintf(f, "    {\"name\": \"%s\", \"rule\": \"%s\", \"threshold\": ", c->name, c->rule);
        json_num(f, c->threshold);
        fprintf(f, ", \"measured\": ");
        json_num(f, c->measured);
        fprintf(f, ", \"unit\": \"%s\", \"pass\": %s, \"rollback\": %s}%s\n", c->unit,
                c->pass ? "true" : "false", c->rollback ? "true" : "false",
                i + 1 < r->n ? "," : "");
    }
    fprintf(f,
            "  ],\n  \"stats\": {\"captured\": %lu, \"delivered\": %lu, \"lost\": %lu, "
            "\"discontinuities\": %lu, \"duplicates\": %lu, \"zero_frames\": %lu, "
            "\"alloc_dropped\": %lu, \"heap_fallbacks\": %lu, \"pool_hits\": %lu, "
            "\"pool_misses\": %lu, \"pool_slots\": %u, \"validator_frames\": %lu, "
            "\"validator_dropped\": %lu, \"corrupt_frames\": %lu, \"fps\": ",
            (unsigned long)s->captured, (unsigned long)s->delivered, (unsigned long)s->lost,
            (unsigned long)s->discontinuities, (unsigned long)s->duplicates,
            (unsigned long)s->zero_frames, (unsigned long)s->alloc_dropped,
            (unsigned long)s->heap_fallbacks, (unsigned long)s->pool.hits,
            (unsigned long)s->pool.misses, s->pool_slots, (unsigned long)r->validator_frames,
            (unsigned long)r->validator_dropped, (unsigned long)r->corrupt);
    json_num(f, s->fps);
    fprintf(f, ", \"rss_start_mib\": ");
    json_num(f, r->rss_start);
    fprintf(f, ", \"rss_max_mib\": ");
    json_num(f, r->rss_max);
    fprintf(f, "},\n");
    if (strcmp(o->checkpoint, "pilot") == 0)
        write_pilot(f, o, r);
    fprintf(f, "  \"warning\": ");
    if (r->warning[0])
        daqd_json_str(f, r->warning);
    else
        fputs("null", f);
    fprintf(f, ",\n  \"diagnostics\": ");
    if (r->diag_dir[0])
        daqd_json_str(f, r->diag_dir);
    else
        fputs("null", f);
    fprintf(f, ",\n");
    int rc = daqd_facts_json(f, "  ", o->config);
    fprintf(f, "}\n");
    return fclose(f) == 0 && rc == 0 ? 0 : -1;
}

/* ---- arguments ------------------------------------------------------------------------- */

int64_t daqd_parse_duration_ms(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v >= 0))
        return -1;
    double mul = strcmp(end, "ms") == 0                             ? 1
                 : strcmp(end, "s") == 0 || !*end                   ? 1e3
                 : strcmp(end, "m") == 0 || strcmp(end, "min") == 0 ? 60e3
                 : strcmp(end, "h") == 0                            ? 3600e3
                                                                    : -1;
    return mul < 0 ? -1 : (int64_t)(v * mul);
}

static const char validate_help[] =
    "usage: daqd validate --hardware-config FILE --device ID --checkpoint smoke|soak|pilot\n"
    "                     [--report FILE] [--diagnostics DIR]\n"
    "  smoke: [--frames 200]\n"
    "  soak:  [--duration 10m] [--warmup 30s]\n"
    "  pilot: [--windows 6] [--window 5s] [--settle 500ms] [--stall-ms 100]\n"
    "         [--save-baseline FILE] [--baseline FILE]\n"
    "thresholds (defaults from the rollback plan):\n"
    "  smoke: --min-hit-rate 95 --rollback-hit-rate 90 --max-drop-pct 1 --rollback-drop-pct 1\n"
    "  soak:  --soak-min-hit-rate 99 --max-rss-growth-pct 10 --rollback-rss-growth-pct 20\n"
    "  pilot: --max-fps-drop-pct 5 --max-p99-increase-pct 50 --min-p99-increase-us 5000\n"
    "pilot: windows alternate pool on / pool off (on, off, off, on, ...; --windows even, 2..256),\n"
    "  each switch followed by an uncounted settle; --baseline compares pool-on figures with\n"
    "  the baseline's pool-off figures (an unreadable, malformed or foreign baseline: exit 64)\n"
    "on FAIL or ROLLBACK a diagnostics bundle goes to --diagnostics DIR (default REPORT.diag,\n"
    "  or daqd-diagnostics-CHECKPOINT-UTCTIME without --report)\n"
    "exit: 0 PASS, 1 FAIL, 2 ROLLBACK, 64 usage error or bad baseline\n";

static int parse(int argc, char **argv, opts *o)
{
    *o = (opts){.frames = 200,
                .duration_ms = 600000,
                .warmup_ms = -1,
                .t = {95, 90, 1, 1, 99, 10, 20, 5, 50, 5000},
                .pilot = {.window_ms = 5000, .settle_ms = 500},
                .windows = 6,
                .stall_ms = 100};
    static const struct {
        const char *flag;
        size_t off;
    } nums[] = {
        {"--min-hit-rate", offsetof(opts, t.min_hit_pct)},
        {"--rollback-hit-rate", offsetof(opts, t.rollback_hit_pct)},
        {"--max-drop-pct", offsetof(opts, t.max_drop_pct)},
        {"--rollback-drop-pct", offsetof(opts, t.rollback_drop_pct)},
        {"--soak-min-hit-rate", offsetof(opts, t.soak_min_hit_pct)},
        {"--max-rss-growth-pct", offsetof(opts, t.max_rss_pct)},
        {"--rollback-rss-growth-pct", offsetof(opts, t.rollback_rss_pct)},
        {"--max-fps-drop-pct", offsetof(opts, t.max_fps_drop_pct)},
        {"--max-p99-increase-pct", offsetof(opts, t.max_p99_pct)},
        {"--min-p99-increase-us", offsetof(opts, t.min_p99_us)},
        {"--windows", offsetof(opts, windows)},
        {"--stall-ms", offsetof(opts, stall_ms)},
    };
    static const struct {
        const char *flag;
        size_t off;
    } durations[] = {
        {"--duration", offsetof(opts, duration_ms)},
        {"--warmup", offsetof(opts, warmup_ms)},
        {"--window", offsetof(opts, pilot.window_ms)},
        {"--settle", offsetof(opts, pilot.settle_ms)},
    };
    static const struct {
        const char *flag;
        size_t off;
    } strs[] = {
        {"--hardware-config", offsetof(opts, config)},
        {"--device", offsetof(opts, device)},
        {"--checkpoint", offsetof(opts, checkpoint)},
        {"--report", offsetof(opts, report)},
        {"--save-baseline", offsetof(opts, save_baseline)},
        {"--baseline", offsetof(opts, baseline_path)},
        {"--diagnostics", offsetof(opts, diagnostics)},
    };
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(validate_help, stdout);
            return 1;
        }
        if (!v) {
            fprintf(stderr, "daqd: validate: %s needs a value\n", a);
            return -1;
        }
        i++;
        bool done = false;
        for (size_t k = 0; !done && k < sizeof strs / sizeof strs[0]; k++)
            if (strcmp(a, strs[k].flag) == 0) {
                *(const char **)((char *)o + strs[k].off) = v;
                done = true;
            }
        for (size_t k = 0; !done && k < sizeof durations / sizeof durations[0]; k++)
            if (strcmp(a, durations[k].flag) == 0) {
                int64_t ms = daqd_parse_duration_ms(v);
                if (ms < 0) {
                    fprintf(stderr, "daqd: validate: %s: '%s' is not a duration (10m, 60s)\n", a,
                            v);
                    return -1;
                }
                *(int64_t *)((char *)o + durations[k].off) = ms;
                done = true;
            }
        if (!done && strcmp(a, "--frames") == 0) {
            o->frames = strtoull(v, NULL, 10);
            done = true;
        }
        for (size_t k = 0; !done && k < sizeof nums / sizeof nums[0]; k++)
            if (strcmp(a, nums[k].flag) == 0) {
                char *end;
                *(double *)((char *)o + nums[k].off) = strtod(v, &end);
                done = *end == '\0';
            }
        if (!done) {
            fprintf(stderr, "daqd: validate: unknown option or bad value: %s %s\n", a, v);
            return -1;
        }
    }
    if (!o->config || !o->device || !o->checkpoint ||
        (strcmp(o->checkpoint, "smoke") && strcmp(o->checkpoint, "soak") &&
         strcmp(o->checkpoint, "pilot")) ||
        o->frames == 0) {
        fputs(validate_help, stderr);
        return -1;
    }
    bool is_pilot = strcmp(o->checkpoint, "pilot") == 0;
    if (!is_pilot && (o->save_baseline || o->baseline_path)) {
        fprintf(stderr, "daqd: validate: --save-baseline and --baseline are for the pilot\n");
        return -1;
    }
    if (is_pilot) {
        if (!(o->windows >= 2 && o->windows <= DAQD_PILOT_MAX_WINDOWS) ||
            o->windows != floor(o->windows) || fmod(o->windows, 2) != 0) {
            fprintf(stderr, "daqd: validate: --windows must be even, 2..%d\n",
                    DAQD_PILOT_MAX_WINDOWS);
            return -1;
        }
        if (o->pilot.window_ms < 10 || !(o->stall_ms >= 1)) {
            fprintf(stderr, "daqd: validate: --window must be >= 10ms, --stall-ms >= 1\n");
            return -1;
        }
        o->pilot.windows = (unsigned)o->windows;
        o->pilot.stall_ms = (int64_t)o->stall_ms;
        char err[1024];
        /* Checked before the run: a bad baseline should not cost a pilot. */
        if (o->baseline_path && daqd_pilot_baseline_load(o->baseline_path, o->device, &o->baseline,
                                                         err, sizeof err) != 0) {
            fprintf(stderr, "daqd: validate: %s\n", err);
            return -1;
        }
    }
    if (o->warmup_ms < 0) /* a sixth of the soak, at most 60 s */
        o->warmup_ms = o->duration_ms / 6 < 60000 ? o->duration_ms / 6 : 60000;
    return 0;
}

/* The failed criteria, for the bundle's summary.txt: "ROLLBACK: fps on vs
 * off: measured 9.81 %, rule <= 5 %; ..." */
static void failure_reason(const result *r, const char *verdict, char *out, size_t out_len)
{
    size_t w = (size_t)snprintf(out, out_len, "%s:", verdict);
    for (size_t i = 0; i < r->n && w < out_len; i++) {
        const criterion *c = &r->c[i];
        if (c->pass && !c->rollback)
            continue;
        w += (size_t)snprintf(out + w, out_len - w, " %s: measured %.2f%s%s, rule %s %g%s%s%s;",
                              c->name, c->measured, *c->unit ? " " : "", c->unit, c->rule,
                              c->threshold, *c->unit ? " " : "", c->unit,
                              c->rollback ? " (rollback)" : "");
    }
}

/* On FAIL or ROLLBACK, while the devices still exist: the bundle. */
static void write_bundle(daq_devices *ds, const opts *o, result *r, const char *verdict)
{
    if (o->diagnostics) {
        snprintf(r->diag_dir, sizeof r->diag_dir, "%s", o->diagnostics);
    } else if (o->report) {
        snprintf(r->diag_dir, sizeof r->diag_dir, "%s.diag", o->report);
    } else {
        char stamp[32];
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
        snprintf(r->diag_dir, sizeof r->diag_dir, "daqd-diagnostics-%s-%s", o->checkpoint, stamp);
    }
    char reason[2048], err[512];
    failure_reason(r, verdict, reason, sizeof reason);
    if (daqd_diag_bundle_local(r->diag_dir, ds, o->config, reason, err, sizeof err) != 0) {
        fprintf(stderr, "daqd: validate: diagnostics bundle %s: %s\n", r->diag_dir, err);
        r->diag_dir[0] = '\0';
        return;
    }
    printf("diagnostics bundle: %s\n", r->diag_dir);
}

int daqd_validate(int argc, char **argv)
{
    static opts o;
    int rc = parse(argc, argv, &o);
    if (rc != 0)
        return rc > 0 ? DAQD_EXIT_OK : DAQD_EXIT_USAGE;
    daq_config *cfg = malloc(sizeof *cfg);
    char err[512];
    if (!cfg || daq_config_load(o.config, cfg, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", cfg ? err : "daqd: out of memory");
        free(cfg);
        return DAQD_EXIT_FAIL;
    }
    if (daqd_log_setup(cfg) != 0) {
        free(cfg);
        return DAQD_EXIT_FAIL;
    }
    daq_devices *ds = daq_devices_create(cfg, o.device, err, sizeof err);
    free(cfg);
    if (!ds) {
        fprintf(stderr, "daqd: validate: %s\n", err);
        return DAQD_EXIT_FAIL;
    }
    daq_device *d = daq_devices_find(ds, o.device);
    if (!daq_device_is_up(d)) {
        fprintf(stderr, "daqd: validate: device %s is unavailable: %s\n", o.device,
                daq_device_error(d));
        daq_devices_destroy(ds);
        return DAQD_EXIT_FAIL;
    }
    /* The symptom watch runs as in the daemon: its RSS timeline and
     * symptom states go into a bundle; a watch that cannot start costs the
     * bundle those, not the checkpoint. */
    if (daq_devices_watch_start(ds, err, sizeof err) != 0)
        fprintf(stderr, "daqd: validate: symptom watch: %s\n", err);
    bool tty = isatty(STDERR_FILENO);
    static result r;
    daq_acq *a = daq_device_acq(d);
    daq_bus *bus = daq_device_bus(d);
    validator v;
    memset(&v, 0, sizeof v);
    if (strcmp(o.checkpoint, "pilot") == 0) {
        /* its own consumers (pilot.c): a verifying validator would bound the
         * throughput the pilot compares */
        rc = pilot(d, &o, &r, tty);
    } else if (validator_start(&v, bus, daq_acq_camera(a)) != 0) {
        rc = -1;
    } else {
        rc = strcmp(o.checkpoint, "smoke") == 0 ? smoke(a, &v, bus, &o, &r, tty)
                                                : soak(a, &v, bus, &o, &r, tty);
        /* Pixels are a criterion whenever the driver knows what its camera
         * sends (the sim, a test camera): the stopped validator's counts. */
        if (rc == 0 && v.verified + v.corrupt > 0)
            crit(&r, "corrupt frames", "", "=", 0, (double)r.corrupt, r.corrupt == 0);
    }
    if (rc != 0) {
        daq_devices_destroy(ds);
        return DAQD_EXIT_FAIL;
    }
    int code;
    const char *verdict = verdict_of(&r, &code);
    printf("daqd validate: checkpoint %s, device %s, %lu frames in %.1f s, use_pool=%s\n",
           o.checkpoint, o.device, (unsigned long)r.s.delivered, r.seconds,
           r.s.pool.use_pool ? "true" : "false");
    if (r.warning[0])
        printf("warning: %s\n", r.warning);
    if (strcmp(o.checkpoint, "pilot") == 0)
        print_pilot(&r.pilot);
    if (code != DAQD_EXIT_OK)
        write_bundle(ds, &o, &r, verdict);
    daq_devices_destroy(ds);
    print_table(&r, verdict);
    if (o.save_baseline) {
        if (daqd_pilot_baseline_save(o.save_baseline, o.device, o.config, &r.pilot, err,
                                     sizeof err) != 0) {
            fprintf(stderr, "daqd: validate: %s\n", err);
            return DAQD_EXIT_FAIL;
        }
        fprintf(stderr, "baseline saved: %s\n", o.save_baseline);
    }
    if (o.report && write_report(o.report, &o, &r, verdict, code) != 0)
        return DAQD_EXIT_FAIL;
    return code;
}
