/* devices/sync.c - the sync group matcher (daq/sync.h).
 *
 * State is an array of open sets sorted by key: with cameras in step a set
 * lives only from the first member's frame of a trigger to the last's, and
 * new keys are the highest, so an insert is an append, a lookup a binary
 * search (10 compares at the default max_open of 1024) and the set that
 * completes is nearly always the first (a memmove of the few behind it).
 * Storage for max_open + 1 sets is allocated at create, so matching
 * allocates nothing per frame.
 *
 * Resolution order is key order: when key k completes, the open sets below
 * it are declared mismatched first (lowest first), then k is reported; a
 * consumer (a group recording) so sees sets in trigger order.
 *
 * Skew histogram: log-linear, 8 buckets per power of two from 16 ns up
 * (496 buckets, 4 KiB): a quantile is the upper edge of its bucket, at most
 * 12.5 % above the true value, and never above the largest skew seen.  A
 * sim line's jitter of 100 us is so read within 12.5 us.
 *
 * The attached mode's thread is woken by the subscriptions' notify hook
 * (O(1): a flag and a signal under a leaf mutex) and at least every 200 ms
 * for timeouts; it takes one frame per member per turn so that a member
 * with a long queue cannot open many sets ahead of the others.
 */
#define _GNU_SOURCE
#include "daq/sync.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/err.h"

#define HIST_N      (16 + 60 * 8)
#define IDLE_WAKEUP (200ull * 1000000ull) /* ns: timeouts are checked at least this often */

typedef struct key {
    uint64_t index;
    uint32_t ordinal;
} key;

static int key_cmp(key a, key b)
{
    if (a.index != b.index)
        return a.index < b.index ? -1 : 1;
    return a.ordinal < b.ordinal ? -1 : a.ordinal > b.ordinal;
}

typedef struct oset {
    key k;
    uint32_t have; /* members present, bit i = member i */
    uint64_t deadline_ns;
    unsigned n_real; /* frames with an exposure_start_real_ns */
    uint64_t real_min, real_max, bof_min, bof_max;
    daq_frame *frames[DAQ_SYNC_MAX_MEMBERS]; /* only with a callback */
} oset;

typedef struct member {
    char id[64];
    daq_bus *bus;
    daq_sub *sub; /* attached mode; written under stats_mu */
    bool has_last, has_floor, has_base;
    key base;       /* its first key: sets below it predate it (it started later) */
    key last;       /* the member's latest key: ordinals, restarts */
    key late_floor; /* the highest key declared mismatched that it lacked */
} member;

struct daq_sync_group {
    char name[64];
    daq_sync_config cfg;
    unsigned n;
    uint32_t all; /* the mask of a complete set */
    member m[DAQ_SYNC_MAX_MEMBERS];
    oset *store;  /* max_open + 1 */
    oset **open;  /* n_open in use, unordered */
    oset **spare; /* n_spare free */
    unsigned n_open, n_spare;
    bool has_floor;
    key floor; /* the highest key that completed */

    pthread_mutex_t stats_mu; /* st, hist, member subs */
    daq_sync_stats st;
    uint64_t hist[HIST_N];
    uint64_t skew_max_ns;
    uint64_t skew_sum_ns; /* 584 years of skew before it wraps */

    pthread_mutex_t wake_mu; /* leaf: the notify hook takes it */
    pthread_cond_t wake_cv;
    bool wake, stop, running;
    pthread_t thread;
};

/* ---- histogram ------------------------------------------------------------------ */

static unsigned hist_bucket(uint64_t v)
{
    if (v < 16)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= 4 */
    return 16 + (e - 4) * 8 + (unsigned)((v >> (e - 3)) & 7);
}

static uint64_t hist_upper(unsigned b)
{
    if (b < 16)
        return b;
    unsigned e = (b - 16) / 8 + 4, m = (b - 16) % 8;
    return ((uint64_t)(8 + m) << (e - 3)) + ((uint64_t)1 << (e - 3)) - 1;
}

/* Under stats_mu. */
static double hist_quantile(const daq_sync_group *g, double q)
{
    uint64_t n = g->st.skew_count;
    if (n == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    uint64_t cum = 0;
    for (unsigned b = 0; b < HIST_N; b++) {
        cum += g->hist[b];
        if (cum >= rank) {
            uint64_t u = hist_upper(b);
            return (double)(u < g->skew_max_ns ? u : g->skew_max_ns) / 1e9;
        }
    }
    return (double)g->skew_max_ns / 1e9;
}

/* ---- create / destroy ---------------------------------------------------------------- */

void daq_sync_config_init(daq_sync_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->match_timeout_ms = 1000;
    cfg->max_open = DAQ_SYNC_MAX_OPEN_DEFAULT;
    cfg->queue_depth = DAQ_SYNC_QUEUE_DEPTH_DEFAULT;
    cfg->lossless_timeout_ms = 100;
}

daq_sync_group *daq_sync_group_create(const daq_sync_config *cfg, const char *const *members,
                                      unsigned n, char *err, size_t err_len)
{
    const char *name = cfg->name && cfg->name[0] ? cfg->name : "sync";
    if (n < 2 || n > DAQ_SYNC_MAX_MEMBERS) {
        daq_err(err, err_len, "sync group %s: %u devices (2..%u)", name, n, DAQ_SYNC_MAX_MEMBERS);
        return NULL;
    }
    if (cfg->match_timeout_ms < 1 || cfg->match_timeout_ms > DAQ_SYNC_TIMEOUT_MS_MAX) {
        daq_err(err, err_len, "sync group %s: match_timeout_ms %u is out of range [1, %u]", name,
                cfg->match_timeout_ms, DAQ_SYNC_TIMEOUT_MS_MAX);
        return NULL;
    }
    if (cfg->max_open < 1 || cfg->max_open > DAQ_SYNC_MAX_OPEN_LIMIT) {
        daq_err(err, err_len, "sync group %s: max_open %u is out of range [1, %u]", name,
                cfg->max_open, DAQ_SYNC_MAX_OPEN_LIMIT);
        return NULL;
    }
    if (cfg->queue_depth < 1 || cfg->queue_depth > DAQ_SUB_MAX_DEPTH) {
        daq_err(err, err_len, "sync group %s: queue_depth %u is out of range [1, %u]", name,
                cfg->queue_depth, DAQ_SUB_MAX_DEPTH);
        return NULL;
    }
    for (unsigned i = 0; i < n; i++)
        for (unsigned j = 0; j < i; j++)
            if (strcmp(members[i], members[j]) == 0) {
                daq_err(err, err_len, "sync group %s: device \"%s\" named twice", name, members[i]);
                return NULL;
            }
    daq_sync_group *g = calloc(1, sizeof *g);
    unsigned cap = cfg->max_open + 1; /* one more: a new set is stored before the eviction */
    if (g) {
        g->store = calloc(cap, sizeof *g->store);
        g->open = calloc(cap, sizeof *g->open);
        g->spare = calloc(cap, sizeof *g->spare);
    }
    if (!g || !g->store || !g->open || !g->spare) {
        if (g) {
            free(g->store);
            free(g->open);
            free(g->spare);
        }
        free(g);
        daq_err(err, err_len, "out of memory");
        return NULL;
    }
    snprintf(g->name, sizeof g->name, "%s", name);
    g->cfg = *cfg;
    g->cfg.name = g->name;
    g->n = n;
    g->all = (n == 32 ? 0 : (1u << n)) - 1u;
    for (unsigned i = 0; i < n; i++) {
        snprintf(g->m[i].id, sizeof g->m[i].id, "%s", members[i]);
        snprintf(g->st.member[i].device, sizeof g->st.member[i].device, "%s", members[i]);
    }
    for (unsigned i = 0; i < cap; i++)
        g->spare[g->n_spare++] = &g->store[i];
    snprintf(g->st.name, sizeof g->st.name, "%s", g->name);
    g->st.n_members = n;
    pthread_mutex_init(&g->stats_mu, NULL);
    pthread_mutex_init(&g->wake_mu, NULL);
    daq_cond_init_monotonic(&g->wake_cv);
    return g;
}

const char *daq_sync_group_name(const daq_sync_group *g)
{
    return g->name;
}

/* ---- matching -------------------------------------------------------------------- */

static void set_release(daq_sync_group *g, oset *s, unsigned pos)
{
    for (unsigned i = 0; i < g->n; i++) {
        daq_frame_unref(s->frames[i]);
        s->frames[i] = NULL;
    }
    memmove(&g->open[pos], &g->open[pos + 1], (g->n_open - pos - 1) * sizeof *g->open);
    g->n_open--;
    g->spare[g->n_spare++] = s;
}

static void emit(daq_sync_group *g, const oset *s, bool complete, uint64_t skew)
{
    if (!g->cfg.on_set)
        return;
    daq_sync_set out = {.trigger_index = s->k.index,
                        .ordinal = s->k.ordinal,
                        .complete = complete,
                        .n_members = g->n,
                        .skew_ns = skew};
    memcpy(out.frames, s->frames, sizeof out.frames);
    g->cfg.on_set(g->cfg.ctx, &out);
}

/* A set some member lacks.  It counts against each lacking member that
 * had started by then (or has not started at all: the group is out of step
 * either way), but not against one whose first frame came with a later key
 * -- pulses before a camera began to listen are not its misses.  A set that
 * counts against nobody is "before_start", not a mismatch. */
static void resolve_mismatch(daq_sync_group *g, unsigned pos, bool evicted)
{
    oset *s = g->open[pos];
    unsigned counted = 0;
    pthread_mutex_lock(&g->stats_mu);
    for (unsigned i = 0; i < g->n; i++) {
        member *m = &g->m[i];
        if ((s->have & (1u << i)) || (m->has_base && key_cmp(s->k, m->base) < 0))
            continue;
        g->st.member[i].mismatched++;
        counted++;
        if (!m->has_floor || key_cmp(s->k, m->late_floor) > 0)
            m->late_floor = s->k;
        m->has_floor = true;
    }
    if (counted) {
        g->st.mismatched++;
        g->st.evicted += evicted;
    } else {
        g->st.before_start++;
    }
    pthread_mutex_unlock(&g->stats_mu);
    emit(g, s, false, 0);
    set_release(g, s, pos);
}

static void resolve_complete(daq_sync_group *g, unsigned pos)
{
    oset *s = g->open[pos];
    uint64_t skew = s->n_real == g->n ? s->real_max - s->real_min : s->bof_max - s->bof_min;
    pthread_mutex_lock(&g->stats_mu);
    g->st.matched++;
    g->st.skew_count++;
    g->hist[hist_bucket(skew)]++;
    g->skew_sum_ns += skew;
    if (skew > g->skew_max_ns)
        g->skew_max_ns = skew;
    pthread_mutex_unlock(&g->stats_mu);
    if (!g->has_floor || key_cmp(s->k, g->floor) > 0)
        g->floor = s->k;
    g->has_floor = true;
    emit(g, s, true, skew);
    set_release(g, s, pos);
}

/* The position of the lowest-keyed open set, optionally only among those
 * below `below` or due by `due_ns` (0: any); -1 when none.  open[] is
 * sorted by key, so that is the first that qualifies. */
static int lowest(const daq_sync_group *g, const key *below, uint64_t due_ns)
{
    for (unsigned i = 0; i < g->n_open; i++) {
        const oset *s = g->open[i];
        if (below && key_cmp(s->k, *below) >= 0)
            return -1;
        if (!due_ns || s->deadline_ns <= due_ns)
            return (int)i;
    }
    return -1;
}

/* The first position whose key is >= k (binary search). */
static unsigned lower_bound(const daq_sync_group *g, key k)
{
    unsigned lo = 0, hi = g->n_open;
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        if (key_cmp(g->open[mid]->k, k) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int find(const daq_sync_group *g, key k)
{
    unsigned i = lower_bound(g, k);
    return i < g->n_open && key_cmp(g->open[i]->k, k) == 0 ? (int)i : -1;
}

/* A member's keys went backwards: its stream restarted. */
static void reset(daq_sync_group *g)
{
    unsigned n = g->n_open;
    while (g->n_open)
        set_release(g, g->open[0], 0);
    g->has_floor = false;
    for (unsigned i = 0; i < g->n; i++)
        g->m[i].has_last = g->m[i].has_floor = g->m[i].has_base = false;
    pthread_mutex_lock(&g->stats_mu);
    g->st.abandoned += n;
    g->st.resets++;
    pthread_mutex_unlock(&g->stats_mu);
}

#define MEMBER_COUNT(g, mi, field)                                                                 \
    do {                                                                                           \
        pthread_mutex_lock(&(g)->stats_mu);                                                        \
        (g)->st.member[mi].field++;                                                                \
        pthread_mutex_unlock(&(g)->stats_mu);                                                      \
    } while (0)

void daq_sync_group_offer(daq_sync_group *g, unsigned mi, daq_frame *f, uint64_t now_ns)
{
    if (mi >= g->n) {
        daq_frame_unref(f);
        return;
    }
    const daq_frame_meta *meta = daq_frame_meta_get(f);
    member *m = &g->m[mi];
    MEMBER_COUNT(g, mi, frames);
    if (meta->trigger_index == 0) {
        MEMBER_COUNT(g, mi, untriggered);
        daq_frame_unref(f);
        return;
    }
    if (meta->flags & DAQ_FRAME_FLAG_TRIGGER_EXTRA) {
        MEMBER_COUNT(g, mi, extra);
        daq_frame_unref(f);
        return;
    }
    key k = {meta->trigger_index, 0};
    if (m->has_last && m->last.index == k.index)
        k.ordinal = m->last.ordinal + 1;
    if (m->has_last && key_cmp(k, m->last) < 0) {
        reset(g);
        k.ordinal = 0;
    }
    m->last = k;
    m->has_last = true;
    if (!m->has_base) {
        m->base = k;
        m->has_base = true;
    }

    int pos = find(g, k);
    if (pos < 0) {
        if ((g->has_floor && key_cmp(k, g->floor) <= 0) ||
            (m->has_floor && key_cmp(k, m->late_floor) <= 0)) {
            MEMBER_COUNT(g, mi, late);
            daq_frame_unref(f);
            return;
        }
        oset *s = g->spare[--g->n_spare];
        memset(s, 0, sizeof *s);
        s->k = k;
        s->deadline_ns = now_ns + (uint64_t)g->cfg.match_timeout_ms * 1000000ull;
        s->real_min = s->bof_min = UINT64_MAX;
        unsigned at = lower_bound(g, k); /* the end, unless a member runs behind */
        memmove(&g->open[at + 1], &g->open[at], (g->n_open - at) * sizeof *g->open);
        g->open[at] = s;
        g->n_open++;
        pos = (int)at;
    }
    oset *s = g->open[pos];
    if (s->have & (1u << mi)) { /* cannot happen with ordinals; never double a frame */
        MEMBER_COUNT(g, mi, late);
        daq_frame_unref(f);
        return;
    }
    s->have |= 1u << mi;
    uint64_t real = meta->exposure_start_real_ns, bof = meta->bof_ns;
    if (real) {
        s->n_real++;
        s->real_min = real < s->real_min ? real : s->real_min;
        s->real_max = real > s->real_max ? real : s->real_max;
    }
    s->bof_min = bof < s->bof_min ? bof : s->bof_min;
    s->bof_max = bof > s->bof_max ? bof : s->bof_max;
    if (g->cfg.hold_frames)
        s->frames[mi] = f;
    else
        daq_frame_unref(f);
    if (s->have != g->all) {
        if (g->n_open > g->cfg.max_open) /* no room: the oldest set goes (maybe this one) */
            resolve_mismatch(g, (unsigned)lowest(g, NULL, 0), true);
        pthread_mutex_lock(&g->stats_mu);
        g->st.open = g->n_open;
        if (g->n_open > g->st.open_high_water)
            g->st.open_high_water = g->n_open;
        pthread_mutex_unlock(&g->stats_mu);
        return;
    }
    /* Complete: everything below it will not come (in-order cameras). */
    int old;
    while ((old = lowest(g, &k, 0)) >= 0)
        resolve_mismatch(g, (unsigned)old, false);
    resolve_complete(g, (unsigned)find(g, k));
    pthread_mutex_lock(&g->stats_mu);
    g->st.open = g->n_open;
    pthread_mutex_unlock(&g->stats_mu);
}

uint64_t daq_sync_group_expire(daq_sync_group *g, uint64_t now_ns)
{
    int pos;
    while ((pos = lowest(g, NULL, now_ns ? now_ns : 1)) >= 0)
        resolve_mismatch(g, (unsigned)pos, false);
    uint64_t next = 0;
    for (unsigned i = 0; i < g->n_open; i++)
        if (!next || g->open[i]->deadline_ns < next)
            next = g->open[i]->deadline_ns;
    pthread_mutex_lock(&g->stats_mu);
    g->st.open = g->n_open;
    pthread_mutex_unlock(&g->stats_mu);
    return next;
}

void daq_sync_group_flush(daq_sync_group *g)
{
    int pos;
    while ((pos = lowest(g, NULL, 0)) >= 0)
        resolve_mismatch(g, (unsigned)pos, false);
    pthread_mutex_lock(&g->stats_mu);
    g->st.open = 0;
    pthread_mutex_unlock(&g->stats_mu);
}

/* ---- attached mode ------------------------------------------------------------------ */

static void notify(void *ctx)
{
    daq_sync_group *g = ctx;
    pthread_mutex_lock(&g->wake_mu);
    g->wake = true;
    pthread_cond_signal(&g->wake_cv);
    pthread_mutex_unlock(&g->wake_mu);
}

int daq_sync_group_attach(daq_sync_group *g, unsigned mi, daq_bus *bus, char *err, size_t err_len)
{
    if (mi >= g->n)
        return daq_err(err, err_len, "sync group %s: no member %u", g->name, mi);
    if (g->running || g->m[mi].sub)
        return daq_err(err, err_len, "sync group %s: %s is already attached", g->name, g->m[mi].id);
    char sname[80];
    snprintf(sname, sizeof sname, "sync:%s", g->name);
    daq_sub_config sc;
    daq_sub_config_init(&sc);
    sc.name = sname;
    sc.policy = DAQ_SUB_LOSSLESS;
    sc.queue_depth = g->cfg.queue_depth;
    sc.lossless_timeout_ms = g->cfg.lossless_timeout_ms;
    sc.notify = notify;
    sc.notify_ctx = g;
    daq_sub *sub = daq_bus_subscribe(bus, &sc, err, err_len);
    if (!sub)
        return -1;
    pthread_mutex_lock(&g->stats_mu);
    g->m[mi].bus = bus;
    g->m[mi].sub = sub;
    pthread_mutex_unlock(&g->stats_mu);
    return 0;
}

static void *run(void *arg)
{
    daq_sync_group *g = arg;
    for (;;) {
        pthread_mutex_lock(&g->wake_mu);
        bool stop = g->stop;
        g->wake = false;
        pthread_mutex_unlock(&g->wake_mu);
        if (stop)
            break;
        /* One frame per member per turn: no member runs far ahead. */
        bool any;
        do {
            any = false;
            for (unsigned i = 0; i < g->n; i++) {
                daq_frame *f;
                if (daq_sub_next(g->m[i].sub, 0, &f) == DAQ_SUB_FRAME) {
                    daq_sync_group_offer(g, i, f, daq_now_ns());
                    any = true;
                }
            }
        } while (any);
        uint64_t now = daq_now_ns();
        uint64_t next = daq_sync_group_expire(g, now);
        uint64_t until = now + IDLE_WAKEUP;
        if (next && next < until)
            until = next;
        pthread_mutex_lock(&g->wake_mu);
        while (!g->wake && !g->stop)
            if (daq_cond_wait_until(&g->wake_cv, &g->wake_mu, until) == ETIMEDOUT)
                break;
        pthread_mutex_unlock(&g->wake_mu);
    }
    return NULL;
}

int daq_sync_group_start(daq_sync_group *g, char *err, size_t err_len)
{
    if (g->running)
        return 0;
    for (unsigned i = 0; i < g->n; i++)
        if (!g->m[i].sub)
            return daq_err(err, err_len, "sync group %s: %s is not attached", g->name, g->m[i].id);
    g->stop = false;
    int rc = pthread_create(&g->thread, NULL, run, g);
    if (rc != 0)
        return daq_err(err, err_len, "sync group %s: thread: %s", g->name, strerror(rc));
    g->running = true;
    return 0;
}

void daq_sync_group_stop(daq_sync_group *g)
{
    if (g->running) {
        pthread_mutex_lock(&g->wake_mu);
        g->stop = true;
        pthread_cond_signal(&g->wake_cv);
        pthread_mutex_unlock(&g->wake_mu);
        pthread_join(g->thread, NULL);
        g->running = false;
    }
    for (unsigned i = 0; i < g->n; i++) {
        member *m = &g->m[i];
        if (!m->sub)
            continue;
        daq_sub_stats ss;
        daq_sub_stats_snapshot(m->sub, &ss);
        pthread_mutex_lock(&g->stats_mu);
        g->st.member[i].sub_dropped += ss.dropped;
        daq_sub *sub = m->sub;
        m->sub = NULL;
        pthread_mutex_unlock(&g->stats_mu);
        daq_bus_unsubscribe(m->bus, sub);
    }
}

void daq_sync_group_destroy(daq_sync_group *g)
{
    if (!g)
        return;
    daq_sync_group_stop(g);
    unsigned n = g->n_open;
    while (g->n_open)
        set_release(g, g->open[0], 0);
    g->st.abandoned += n;
    pthread_mutex_destroy(&g->stats_mu);
    pthread_mutex_destroy(&g->wake_mu);
    pthread_cond_destroy(&g->wake_cv);
    free(g->store);
    free(g->open);
    free(g->spare);
    free(g);
}

/* ---- counters ------------------------------------------------------------------------- */

void daq_sync_group_stats(daq_sync_group *g, daq_sync_stats *out)
{
    pthread_mutex_lock(&g->stats_mu);
    *out = g->st;
    for (unsigned i = 0; i < g->n; i++)
        if (g->m[i].sub) {
            daq_sub_stats ss;
            daq_sub_stats_snapshot(g->m[i].sub, &ss);
            out->member[i].sub_dropped += ss.dropped;
        }
    out->skew_p50_s = hist_quantile(g, 0.50);
    out->skew_p99_s = hist_quantile(g, 0.99);
    out->skew_max_s = (double)g->skew_max_ns / 1e9;
    out->skew_sum_s = (double)g->skew_sum_ns / 1e9;
    pthread_mutex_unlock(&g->stats_mu);
}
