/* devices/watch.c - the rollback plan's symptom watch: one thread samples
 * every camera and the process RSS and publishes the symptoms
 * (design: daq/watch.h; the judgement: devices/watch_eval.c).
 *
 * One thread for the table, like recovery: at the default interval_ms
 * (1000) a tick is one statistics snapshot per camera (a copy under the
 * engine's statistics lock, never held during a start's prefault) and one
 * read of /proc/self/statm: with 16 cameras well under a millisecond a
 * second.  Nothing is added to the frame path: every figure the watch
 * needs (pool misses, allocation latency sums, lost frames) is already
 * counted there.
 *
 * What a tick publishes goes to each device's record (devices/watch_rec.h)
 * under its mutex; logs are written by this thread only, so a rise and its
 * clear are never reordered.  Lines (target daq::rollback):
 *   WARN "rollback symptom"  device symptom value threshold window_s action
 *   INFO "rollback symptom cleared"  device symptom value threshold
 *   WARN "automatic rollback: use_pool off"  device symptom value threshold
 *        hit_rate misses
 * rss_* symptoms are the process's: device="process".
 *
 * Automatic rollback ([rollback] auto = true): a camera whose pool_exhausted,
 * alloc_slow or frame_loss has been active for auto_after_s, with its pool
 * on, gets daq_acq_set_use_pool(false): a live switch the engine makes
 * between two frames (the next allocation takes the heap path), so no
 * frame is lost.  At most once per episode of a symptom (its since_ns):
 * an operator who turns the pool back on is not overruled until the
 * symptom clears and rises again.
 */
#define _GNU_SOURCE
#include "daq/watch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daq/log.h"
#include "devices/recovery.h"
#include "devices/watch_eval.h"
#include "devices/watch_rec.h"
#include "util/clock.h"
#include "util/err.h"

#define LOG_RB    "daq::rollback"
#define NS_PER_MS 1000000ull

const char *const daq_symptom_names[] = {"pool_exhausted", "alloc_slow", "frame_loss",
                                         "rss_growth_warn", "rss_growth"};

static const char *const action_pool =
    "set acquisition.use_pool=false (live) or PVCAM_USE_POOL=0 and restart; see docs/rollback.md";
static const char *const action_leak =
    "a code-level leak: roll back the build, or PVCAM_USE_POOL=0 and restart";

const char *daq_symptom_action(daq_symptom s)
{
    if ((int)s < 0 || s >= DAQ_SYMPTOM_COUNT)
        return "";
    return s >= DAQ_SYMPTOM_RSS_GROWTH_WARN ? action_leak : action_pool;
}

struct devices_watch {
    daq_devices *ds; /* borrowed: the table owns this handle */
    daq_config_rollback cfg;
    pthread_t thread;
    pthread_mutex_t mu; /* with cv: the stop request and the thread's wait */
    pthread_cond_t cv;
    bool stop;
    /* The thread's alone. */
    size_t n;
    watch_cam cams[DAQ_CONFIG_MAX_DEVICES];
    uint64_t flipped_since[DAQ_CONFIG_MAX_DEVICES]; /* since_ns of the episode auto acted on */
    watch_proc proc;
};

/* ---- the records ---------------------------------------------------------------------- */

void devices_watch_rec_init(devices_watch_rec *r)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
}

void devices_watch_rec_destroy(devices_watch_rec *r)
{
    pthread_mutex_destroy(&r->mu);
}

void daq_device_symptoms(daq_device *d, daq_symptom_state out[DAQ_SYMPTOM_COUNT])
{
    devices_watch_rec *r = devices_watch_rec_of(d);
    pthread_mutex_lock(&r->mu);
    memcpy(out, r->sym, sizeof r->sym);
    pthread_mutex_unlock(&r->mu);
}

void daq_device_rollback_snapshot(daq_device *d, daq_device_rollback *out)
{
    devices_watch_rec *r = devices_watch_rec_of(d);
    pthread_mutex_lock(&r->mu);
    *out = r->rb;
    pthread_mutex_unlock(&r->mu);
}

size_t daq_devices_rss_timeline(daq_devices *ds, daq_rss_point *out, size_t max)
{
    devices_watch_shared *sh = devices_watch_shared_of(ds);
    pthread_mutex_lock(&sh->mu);
    size_t n = sh->n < max ? sh->n : max, skip = sh->n - n; /* the newest n */
    for (size_t i = 0; i < n; i++)
        out[i] = sh->pts[(sh->head + skip + i) % DAQ_WATCH_RSS_POINTS];
    pthread_mutex_unlock(&sh->mu);
    return n;
}

void daq_devices_set_rollback_hook(daq_devices *ds, daq_rollback_hook fn, void *ctx)
{
    devices_watch_shared *sh = devices_watch_shared_of(ds);
    pthread_mutex_lock(&sh->mu);
    sh->hook = fn;
    sh->hook_ctx = ctx;
    pthread_mutex_unlock(&sh->mu);
}

/* ---- the thread ----------------------------------------------------------------------- */

/* Resident set in bytes; 0 when /proc cannot be read. */
static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    unsigned long long size = 0, resident = 0;
    int got = fscanf(f, "%llu %llu", &size, &resident);
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return got == 2 && page > 0 ? (uint64_t)resident * (uint64_t)page : 0;
}

static void rss_record(daq_devices *ds, uint64_t t_ns, uint64_t rss)
{
    devices_watch_shared *sh = devices_watch_shared_of(ds);
    pthread_mutex_lock(&sh->mu);
    sh->pts[(sh->head + sh->n) % DAQ_WATCH_RSS_POINTS] = (daq_rss_point){t_ns, rss};
    if (sh->n < DAQ_WATCH_RSS_POINTS)
        sh->n++;
    else
        sh->head = (sh->head + 1) % DAQ_WATCH_RSS_POINTS;
    pthread_mutex_unlock(&sh->mu);
}

/* Logs the rises and clears of one step: symptoms [first, first + count)
 * of the published table, bit i of changes for symptom first + i. */
static void log_changes(const daq_config_rollback *cfg, const char *who, unsigned changes,
                        const watch_sym *sym, unsigned first, unsigned count)
{
    for (unsigned i = 0; i < count; i++) {
        const char *name = daq_symptom_names[first + i];
        const daq_symptom_state *s = &sym[i].s;
        if (changes & (1u << i))
            DAQ_LOG(DAQ_LOG_WARN, LOG_RB, "rollback symptom", DAQ_F_STR("device", who),
                    DAQ_F_STR("symptom", name), DAQ_F_F64("value", s->value),
                    DAQ_F_F64("threshold", s->threshold), DAQ_F_U64("window_s", cfg->window_s),
                    DAQ_F_STR("action", daq_symptom_action((daq_symptom)(first + i))));
        if (changes & (1u << (WATCH_CLEARED_SHIFT + i)))
            DAQ_LOG(DAQ_LOG_INFO, LOG_RB, "rollback symptom cleared", DAQ_F_STR("device", who),
                    DAQ_F_STR("symptom", name), DAQ_F_F64("value", s->value),
                    DAQ_F_F64("threshold", s->threshold));
    }
}

/* One look at a camera's engine; the stats of it in *st.  false: down. */
static bool cam_sample(daq_acq *a, uint64_t now, watch_cam_sample *s, daq_acq_stats *st)
{
    if (!a)
        return false;
    daq_acq_stats_snapshot(a, st);
    const daq_pool_metrics *m = &st->pool;
    *s = (watch_cam_sample){
        .t_ns = now,
        .streams = st->streams,
        .stream_start_ns = st->start_ns,
        .misses = m->misses,
        .alloc_count = m->alloc_pool.count + m->alloc_heap.count,
        .alloc_sum_ns = m->alloc_pool.sum_ns + m->alloc_heap.sum_ns,
        .lost = st->lost,
    };
    return true;
}

/* The automatic rollback of camera i, when due.  No lock held. */
static void auto_rollback(devices_watch *w, size_t i, daq_device *d, daq_acq *a,
                          const daq_acq_stats *st, uint64_t now)
{
    watch_cam *c = &w->cams[i];
    int k = watch_cam_auto_due(c, now);
    if (k < 0 || c->sym[k].s.since_ns == w->flipped_since[i] || !daq_acq_use_pool(a))
        return;
    w->flipped_since[i] = c->sym[k].s.since_ns;
    daq_acq_set_use_pool(a, false);
    const daq_symptom_state *s = &c->sym[k].s;
    const char *id = daq_device_id(d);
    DAQ_LOG(DAQ_LOG_WARN, LOG_RB, "automatic rollback: use_pool off", DAQ_F_STR("device", id),
            DAQ_F_STR("symptom", daq_symptom_names[k]), DAQ_F_F64("value", s->value),
            DAQ_F_F64("threshold", s->threshold),
            DAQ_F_U64("active_s", (now - s->since_ns) / 1000000000ull),
            DAQ_F_F64("hit_rate", st->pool.hit_rate), DAQ_F_U64("misses", st->pool.misses));
    devices_watch_rec *r = devices_watch_rec_of(d);
    pthread_mutex_lock(&r->mu);
    r->rb.auto_rollbacks++;
    r->rb.last_ns = now;
    snprintf(r->rb.reason, sizeof r->rb.reason,
             "%s %.6g > %.6g for %u s (hit_rate %.3f, misses %llu): use_pool off",
             daq_symptom_names[k], s->value, s->threshold, w->cfg.auto_after_s, st->pool.hit_rate,
             (unsigned long long)st->pool.misses);
    pthread_mutex_unlock(&r->mu);
    devices_watch_shared *sh = devices_watch_shared_of(w->ds);
    pthread_mutex_lock(&sh->mu);
    if (sh->hook)
        sh->hook(sh->hook_ctx, d);
    pthread_mutex_unlock(&sh->mu);
}

static void tick(devices_watch *w)
{
    uint64_t now = daq_now_ns();
    daq_acq_stats st;
    for (size_t i = 0; i < w->n; i++) {
        daq_device *d = daq_devices_at(w->ds, i);
        daq_acq *a = daq_device_acq(d);
        watch_cam_sample s;
        bool up = cam_sample(a, now, &s, &st);
        unsigned changes = up ? watch_cam_step(&w->cams[i], &s) : watch_cam_idle(&w->cams[i], now);
        if (up && s.streams)
            watch_proc_stream_seen(&w->proc, s.stream_start_ns ? s.stream_start_ns : now);
        log_changes(&w->cfg, daq_device_id(d), changes, w->cams[i].sym, 0, WATCH_CAM_SYMPTOMS);
        if (up && w->cfg.auto_rollback)
            auto_rollback(w, i, d, a, &st, now);
    }
    uint64_t rss = rss_bytes();
    rss_record(w->ds, now, rss);
    unsigned pc = watch_proc_step(&w->proc, now, rss);
    log_changes(&w->cfg, "process", pc, w->proc.sym, DAQ_SYMPTOM_RSS_GROWTH_WARN, 2);
    for (size_t i = 0; i < w->n; i++) {
        devices_watch_rec *r = devices_watch_rec_of(daq_devices_at(w->ds, i));
        pthread_mutex_lock(&r->mu);
        for (unsigned k = 0; k < WATCH_CAM_SYMPTOMS; k++)
            r->sym[k] = w->cams[i].sym[k].s;
        r->sym[DAQ_SYMPTOM_RSS_GROWTH_WARN] = w->proc.sym[0].s;
        r->sym[DAQ_SYMPTOM_RSS_GROWTH] = w->proc.sym[1].s;
        pthread_mutex_unlock(&r->mu);
    }
}

static void *watch_main(void *arg)
{
    devices_watch *w = arg;
    uint64_t next = daq_now_ns();
    for (;;) {
        tick(w);
        next += (uint64_t)w->cfg.interval_ms * NS_PER_MS;
        uint64_t now = daq_now_ns();
        if (next < now) /* a tick that overran: no burst to catch up */
            next = now;
        pthread_mutex_lock(&w->mu);
        while (!w->stop && daq_cond_wait_until(&w->cv, &w->mu, next) != ETIMEDOUT) {
        }
        bool stop = w->stop;
        pthread_mutex_unlock(&w->mu);
        if (stop)
            return NULL;
    }
}

static void watch_free(devices_watch *w)
{
    for (size_t i = 0; i < w->n; i++)
        watch_cam_free(&w->cams[i]);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

int daq_devices_watch_start(daq_devices *ds, char *err, size_t err_len)
{
    const daq_config_rollback *cfg = &devices_config(ds)->rollback;
    devices_watch **slot = devices_watch_slot(ds);
    if (!cfg->enabled || *slot)
        return 0;
    devices_watch *w = calloc(1, sizeof *w);
    if (!w)
        return daq_err(err, err_len, "cannot start the symptom watch: out of memory");
    w->ds = ds;
    w->cfg = *cfg;
    pthread_mutex_init(&w->mu, NULL);
    daq_cond_init_monotonic(&w->cv);
    watch_proc_init(&w->proc, cfg);
    for (; w->n < daq_devices_count(ds); w->n++)
        if (watch_cam_init(&w->cams[w->n], cfg) != 0) {
            watch_free(w);
            return daq_err(err, err_len, "cannot start the symptom watch: out of memory");
        }
    for (size_t i = 0; i < w->n; i++) { /* thresholds are published from the start */
        devices_watch_rec *r = devices_watch_rec_of(daq_devices_at(ds, i));
        pthread_mutex_lock(&r->mu);
        for (unsigned k = 0; k < WATCH_CAM_SYMPTOMS; k++)
            r->sym[k].threshold = w->cams[i].sym[k].s.threshold;
        r->sym[DAQ_SYMPTOM_RSS_GROWTH_WARN].threshold = cfg->rss_warn_pct;
        r->sym[DAQ_SYMPTOM_RSS_GROWTH].threshold = cfg->rss_rollback_pct;
        pthread_mutex_unlock(&r->mu);
    }
    int e = pthread_create(&w->thread, NULL, watch_main, w);
    if (e != 0) {
        watch_free(w);
        return daq_err(err, err_len, "cannot start the symptom watch: %s", strerror(e));
    }
    *slot = w;
    DAQ_LOG(DAQ_LOG_INFO, LOG_RB, "rollback symptom watch on",
            DAQ_F_U64("interval_ms", cfg->interval_ms), DAQ_F_U64("window_s", cfg->window_s),
            DAQ_F_U64("warmup_s", cfg->warmup_s), DAQ_F_BOOL("auto", cfg->auto_rollback));
    return 0;
}

void daq_devices_watch_stop(daq_devices *ds)
{
    devices_watch **slot = devices_watch_slot(ds);
    devices_watch *w = *slot;
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    watch_free(w);
    *slot = NULL;
}
