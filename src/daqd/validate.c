/* daqd/validate.c - the rollback plan's checkpoints as a command.
 *
 *   smoke (CP3): a fixed number of frames (200) at the configured rate:
 *       PASS when pool hit rate > 95 %, drops <= 1 %, no lost frames and the
 *       stream ended cleanly; ROLLBACK when hit rate < 90 % or drops > 1 %.
 *   soak (CP4): streaming for --duration; after a warm-up, resident memory
 *       sampled every second: PASS when RSS growth <= 10 %, hit rate > 99 %,
 *       no discontinuity and no loss after warm-up; ROLLBACK when growth >
 *       20 %.
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
 * result), the verdict line, a JSON report; exit 0 PASS, 1 FAIL,
 * 2 ROLLBACK.
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
#include "daqd/daqd.h"
#include "util/clock.h"

#define MAX_CRIT 8

typedef struct thresholds {
    double min_hit_pct, rollback_hit_pct;   /* smoke */
    double max_drop_pct, rollback_drop_pct; /* smoke */
    double soak_min_hit_pct;                /* soak */
    double max_rss_pct, rollback_rss_pct;   /* soak */
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
} result;

static criterion *crit(result *r, const char *name, const char *unit, const char *rule,
                       double threshold, double measured, bool pass)
{
    criterion *c = &r->c[r->n++];
    *c = (criterion){name, unit, rule, threshold, measured, pass, false};
    return c;
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
    crit(r, "pool hit rate", "%", ">", t->min_hit_pct, hit, hit > t->min_hit_pct)->rollback =
        hit < t->rollback_hit_pct;
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
    if (!s->pool.use_pool)
        hit = 0;
    double growth = r->rss_start > 0 ? 100.0 * (r->rss_max - r->rss_start) / r->rss_start : NAN;
    const thresholds *t = &o->t;
    crit(r, "rss growth", "%", "<=", t->max_rss_pct, growth, warm && growth <= t->max_rss_pct)
        ->rollback = growth > t->rollback_rss_pct;
    crit(r, "pool hit rate", "%", ">", t->soak_min_hit_pct, hit, hit > t->soak_min_hit_pct);
    crit(r, "discontinuities", "", "=", 0, (double)(s->discontinuities - at_warm.discontinuities),
         s->discontinuities == at_warm.discontinuities);
    crit(r, "lost frames", "", "=", 0, (double)(s->lost - at_warm.lost), s->lost == at_warm.lost);
    crit(r, "stream errors", "", "=", 0, errored ? 1 : 0, !errored && warm);
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
        snprintf(th, sizeof th, "%s %g%s%s", c->rule, c->threshold, *c->unit ? " " : "", c->unit);
        snprintf(me, sizeof me, "%.2f%s%s", c->measured, *c->unit ? " " : "", c->unit);
        printf("%-18s %-14s %-14s %s%s\n", c->name, th, me, c->pass ? "PASS" : "FAIL",
               c->rollback ? " (rollback)" : "");
    }
    printf("%s\n", verdict);
}

static void json_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.6g", v);
    else
        fprintf(f, "null");
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
    fprintf(f, "{\n  \"checkpoint\": \"%s\",\n  \"device\": \"%s\",\n  \"config\": \"%s\",\n",
            o->checkpoint, o->device, o->config);
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
    fprintf(f, "}\n}\n");
    return fclose(f) == 0 ? 0 : -1;
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
    "usage: daqd validate --hardware-config FILE --device ID --checkpoint smoke|soak\n"
    "                     [--duration 10m] [--warmup 30s] [--frames 200] [--report FILE]\n"
    "thresholds (defaults from the rollback plan):\n"
    "  smoke: --min-hit-rate 95 --rollback-hit-rate 90 --max-drop-pct 1 --rollback-drop-pct 1\n"
    "  soak:  --soak-min-hit-rate 99 --max-rss-growth-pct 10 --rollback-rss-growth-pct 20\n"
    "exit: 0 PASS, 1 FAIL, 2 ROLLBACK, 64 usage error\n";

static int parse(int argc, char **argv, opts *o)
{
    *o = (opts){
        .frames = 200, .duration_ms = 600000, .warmup_ms = -1, .t = {95, 90, 1, 1, 99, 10, 20}};
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
        bool done = true;
        if (strcmp(a, "--hardware-config") == 0)
            o->config = v;
        else if (strcmp(a, "--device") == 0)
            o->device = v;
        else if (strcmp(a, "--checkpoint") == 0)
            o->checkpoint = v;
        else if (strcmp(a, "--report") == 0)
            o->report = v;
        else if (strcmp(a, "--duration") == 0 || strcmp(a, "--warmup") == 0) {
            int64_t ms = daqd_parse_duration_ms(v);
            if (ms < 0) {
                fprintf(stderr, "daqd: validate: %s: '%s' is not a duration (10m, 60s)\n", a, v);
                return -1;
            }
            *(a[2] == 'd' ? &o->duration_ms : &o->warmup_ms) = ms;
        } else if (strcmp(a, "--frames") == 0)
            o->frames = strtoull(v, NULL, 10);
        else
            done = false;
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
        (strcmp(o->checkpoint, "smoke") && strcmp(o->checkpoint, "soak")) || o->frames == 0) {
        fputs(validate_help, stderr);
        return -1;
    }
    if (o->warmup_ms < 0) /* a sixth of the soak, at most 60 s */
        o->warmup_ms = o->duration_ms / 6 < 60000 ? o->duration_ms / 6 : 60000;
    return 0;
}

int daqd_validate(int argc, char **argv)
{
    opts o;
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
    bool tty = isatty(STDERR_FILENO);
    static result r;
    validator v;
    memset(&v, 0, sizeof v);
    if (validator_start(&v, daq_device_bus(d), daq_acq_camera(daq_device_acq(d))) != 0) {
        daq_devices_destroy(ds);
        return DAQD_EXIT_FAIL;
    }
    daq_acq *a = daq_device_acq(d);
    daq_bus *bus = daq_device_bus(d);
    rc = strcmp(o.checkpoint, "smoke") == 0 ? smoke(a, &v, bus, &o, &r, tty)
                                            : soak(a, &v, bus, &o, &r, tty);
    /* Pixels are a criterion whenever the driver knows what its camera
     * sends (the sim, a test camera): the stopped validator's counts. */
    if (rc == 0 && v.verified + v.corrupt > 0)
        crit(&r, "corrupt frames", "", "=", 0, (double)r.corrupt, r.corrupt == 0);
    daq_devices_destroy(ds);
    if (rc != 0)
        return DAQD_EXIT_FAIL;
    int code;
    const char *verdict = verdict_of(&r, &code);
    printf("daqd validate: checkpoint %s, device %s, %lu frames in %.1f s, use_pool=%s\n",
           o.checkpoint, o.device, (unsigned long)r.s.delivered, r.seconds,
           r.s.pool.use_pool ? "true" : "false");
    print_table(&r, verdict);
    if (o.report && write_report(o.report, &o, &r, verdict, code) != 0)
        return DAQD_EXIT_FAIL;
    return code;
}
