/* devices/watch_eval.c - windows, warm-up and hysteresis of the symptom
 * watch (design: devices/watch_eval.h).
 *
 * Costs: a camera's ring holds window_s * 1000 / interval_ms + 2 samples
 * of 56 bytes (62 at the defaults, 3.5 KB); a step is O(1) amortised
 * (aging pops from the front).  Rates are over the configured window, not
 * the span the ring happens to cover: right after warm-up a single
 * exhaustion event reads 1 / window_s * 60 per minute, the same as later,
 * so the threshold means the same at any time.
 */
#include "devices/watch_eval.h"

#include <stdlib.h>
#include <string.h>

#define NS_PER_S 1000000000ull

/* ---- hysteresis ------------------------------------------------------------------------ */

/* 1 rose, -1 cleared, 0 no change. */
static int sym_step(watch_sym *y, double value, uint64_t now, uint64_t clear_ns)
{
    y->s.value = value;
    if (value > y->s.threshold) {
        y->below_since_ns = 0;
        if (y->s.active)
            return 0;
        y->s.active = true;
        y->s.since_ns = now;
        y->s.raised_total++;
        return 1;
    }
    if (!y->s.active)
        return 0;
    if (y->below_since_ns == 0)
        y->below_since_ns = now;
    if (now - y->below_since_ns < clear_ns)
        return 0;
    y->s.active = false;
    y->below_since_ns = 0;
    return -1;
}

static unsigned change_bit(int change, unsigned i)
{
    return change > 0 ? 1u << i : change < 0 ? 1u << (WATCH_CLEARED_SHIFT + i) : 0u;
}

/* ---- a camera ------------------------------------------------------------------------- */

int watch_cam_init(watch_cam *c, const daq_config_rollback *cfg)
{
    memset(c, 0, sizeof *c);
    c->cfg = *cfg;
    c->cap = (size_t)cfg->window_s * 1000u / (cfg->interval_ms ? cfg->interval_ms : 1u) + 2u;
    c->ring = calloc(c->cap, sizeof *c->ring);
    if (!c->ring)
        return -1;
    const double thr[WATCH_CAM_SYMPTOMS] = {cfg->exhaustion_per_min, cfg->avg_alloc_us,
                                            (double)cfg->frame_loss};
    for (unsigned i = 0; i < WATCH_CAM_SYMPTOMS; i++)
        c->sym[i].s.threshold = thr[i];
    return 0;
}

void watch_cam_free(watch_cam *c)
{
    free(c->ring);
    c->ring = NULL;
}

static const watch_cam_sample *ring_at(const watch_cam *c, size_t i)
{
    return &c->ring[(c->head + i) % c->cap];
}

static void ring_push(watch_cam *c, const watch_cam_sample *s)
{
    if (c->n == c->cap) { /* an irregular clock: the oldest goes */
        c->head = (c->head + 1) % c->cap;
        c->n--;
    }
    c->ring[(c->head + c->n) % c->cap] = *s;
    c->n++;
}

/* Drops samples older than the window (the newest always stays). */
static void ring_age(watch_cam *c, uint64_t now)
{
    uint64_t w = (uint64_t)c->cfg.window_s * NS_PER_S;
    while (c->n > 1 && now - ring_at(c, 0)->t_ns > w) {
        c->head = (c->head + 1) % c->cap;
        c->n--;
    }
}

static bool new_stream(const watch_cam *c, const watch_cam_sample *s)
{
    const watch_cam_sample *l = &c->last;
    return !c->seen || s->streams != l->streams || s->misses < l->misses ||
           s->alloc_count < l->alloc_count || s->alloc_sum_ns < l->alloc_sum_ns ||
           s->lost < l->lost;
}

/* The values over the window: 0 with fewer than two samples. */
static unsigned cam_judge(watch_cam *c, uint64_t now)
{
    double v[WATCH_CAM_SYMPTOMS] = {0, 0, 0};
    if (c->n >= 2) {
        const watch_cam_sample *a = ring_at(c, 0), *b = ring_at(c, c->n - 1);
        v[0] = (double)(b->misses - a->misses) * 60.0 / (double)c->cfg.window_s;
        uint64_t n = b->alloc_count - a->alloc_count;
        v[1] = n ? (double)(b->alloc_sum_ns - a->alloc_sum_ns) / (double)n / 1000.0 : 0.0;
        v[2] = (double)(b->lost - a->lost);
    }
    unsigned changes = 0;
    uint64_t clear_ns = (uint64_t)c->cfg.clear_s * NS_PER_S;
    for (unsigned i = 0; i < WATCH_CAM_SYMPTOMS; i++)
        changes |= change_bit(sym_step(&c->sym[i], v[i], now, clear_ns), i);
    return changes;
}

unsigned watch_cam_step(watch_cam *c, const watch_cam_sample *s)
{
    if (new_stream(c, s)) {
        c->n = 0;
        c->head = 0;
        c->start_ns = s->stream_start_ns ? s->stream_start_ns : s->t_ns;
    }
    c->seen = true;
    c->last = *s;
    bool warm = s->streams > 0 && s->t_ns - c->start_ns >= (uint64_t)c->cfg.warmup_s * NS_PER_S;
    if (!warm)
        c->n = 0; /* only the newest: the baseline once warm */
    ring_push(c, s);
    ring_age(c, s->t_ns);
    return cam_judge(c, s->t_ns);
}

unsigned watch_cam_idle(watch_cam *c, uint64_t t_ns)
{
    ring_age(c, t_ns);
    if (c->n && t_ns - ring_at(c, 0)->t_ns > (uint64_t)c->cfg.window_s * NS_PER_S)
        c->n = 0; /* even the newest is out of the window */
    return cam_judge(c, t_ns);
}

int watch_cam_auto_due(const watch_cam *c, uint64_t t_ns)
{
    uint64_t after = (uint64_t)c->cfg.auto_after_s * NS_PER_S;
    for (int i = 0; i < WATCH_CAM_SYMPTOMS; i++)
        if (c->sym[i].s.active && t_ns - c->sym[i].s.since_ns >= after)
            return i;
    return -1;
}

/* ---- the process ---------------------------------------------------------------------- */

void watch_proc_init(watch_proc *p, const daq_config_rollback *cfg)
{
    memset(p, 0, sizeof *p);
    p->cfg = *cfg;
    p->sym[0].s.threshold = cfg->rss_warn_pct;
    p->sym[1].s.threshold = cfg->rss_rollback_pct;
}

void watch_proc_stream_seen(watch_proc *p, uint64_t start_ns)
{
    if (start_ns && (p->first_start_ns == 0 || start_ns < p->first_start_ns) && p->base_rss == 0)
        p->first_start_ns = start_ns;
}

unsigned watch_proc_step(watch_proc *p, uint64_t t_ns, uint64_t rss_bytes)
{
    if (p->base_rss == 0 && p->first_start_ns && rss_bytes &&
        t_ns - p->first_start_ns >= (uint64_t)p->cfg.warmup_s * NS_PER_S)
        p->base_rss = rss_bytes;
    double growth = 0;
    if (p->base_rss)
        growth = ((double)rss_bytes - (double)p->base_rss) * 100.0 / (double)p->base_rss;
    unsigned changes = 0;
    uint64_t clear_ns = (uint64_t)p->cfg.clear_s * NS_PER_S;
    for (unsigned i = 0; i < 2; i++)
        changes |= change_bit(sym_step(&p->sym[i], growth, t_ns, clear_ns), i);
    return changes;
}
