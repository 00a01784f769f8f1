/* acq/clock_model.c - the fit of a camera clock against the host's (see
 * clock_model.h for the why).
 *
 * Storage.  A ring of `window` entries, each a real (camera, host) pair.
 * At 100 fps the default 1024 entries hold 10 s of pairs, which is what a
 * fit wants: the slope error is the envelope's wander divided by the span,
 * so 5 us over 10 s is 0.5 ppm, over 1 s already 5 ppm (the acceptance is
 * 5 % of a known drift, 4 ppm of 80).  A faster camera would fill the ring
 * in less time, so when the ring is full and spans less than
 * TARGET_SPAN_NS (10 s) it is decimated instead of slid: every other entry
 * goes, and from then on one pair per `spacing_ns` of camera time is kept
 * (the others still count in `pairs` and still lower the line, below).
 * So the window covers ~10 s at any frame rate with at most `window`
 * entries.  Decimation, not "the least latency of each group": a uniform
 * sample keeps the latency distribution the fit's quantile reads.
 *
 * Fit.  The entries' camera-time span is cut into BINS (16) equal bins and
 * in each the entry at the QUANTILE (5 %) of latency is taken -- the
 * minimum in a bin of fewer than 20.  Why not the minimum everywhere: the
 * floor is what the model wants, but a floor reached by only 1 % of the
 * frames is hit in some bins and missed in others, which tilts the line
 * (measured: a sim stream on a loaded host wakes ~55 us after the end of
 * exposure, 1 % of frames ~0-10 us; minima per 250 ms bin gave 72 ppm for
 * a true 80, the 5 % quantile 80.8).  Latency is host - camera in pass 1
 * and the distance above pass 1's line in pass 2 (a steep drift then does
 * not favour a bin's early pairs).  A Theil-Sen line through those <= 16
 * points (line_fit says why not least squares; in doubles, relative to
 * the oldest pair, so ns values near 1e18 lose no precision: only
 * differences of a few 1e10 ns become doubles) gives the slope; the
 * residual is the RMS distance of the points from it.  The line is then lowered until it touches
 * the lowest entry of the newest quarter of the window, the floor near the frames being mapped
 * (arrival is never before exposure; the slope's error does not reach
 * there from the far end), and between refits a new pair below it lowers
 * it too: map() of a pair just added is never after its arrival.
 *
 * Valid when >= MIN_BINS (8) bins have a point and the window spans >=
 * MIN_SPAN_NS (200 ms) of camera time: fewer points or a shorter span make
 * the slope a guess.
 *
 * Cost.  A refit is O(entries) (a counting sort into bins, a quickselect
 * per bin, twice; then 120 slopes sorted) and runs once per entries/64 new entries, so a pair
 * costs O(64) amortised.  The scratch space is allocated at create: no
 * allocation after it.
 */
#include "acq/clock_model.h"

#include <math.h>
#include <stdlib.h>

#define BINS           16
#define MIN_BINS       8
#define QUANTILE       0.05
#define MIN_SPAN_NS    200000000ull   /* 200 ms of camera time */
#define TARGET_SPAN_NS 10000000000ull /* decimate rather than slide below 10 s */
#define DEFAULT_WINDOW 1024u
#define MIN_WINDOW     16u
#define REFIT_DIVISOR  64u /* refit after entries/64 new entries */

typedef struct clock_pair {
    uint64_t cam, host;
} clock_pair;

/* An entry as a refit sees it: x = cam - cam_ref, d = latency relative to
 * the oldest pair, r = d above the current line. */
typedef struct fit_point {
    double x, d, r;
} fit_point;

struct daq_clock_model {
    clock_pair *ring;
    fit_point *scratch; /* cap points, grouped by bin during a refit */
    uint32_t cap, head, count;
    uint64_t spacing_ns; /* keep one pair per this much camera time; 0: every pair */
    uint64_t tail_start; /* camera time of the newest entry */
    uint64_t pairs;
    uint32_t since_fit; /* entries pushed since the last refit */
    /* The fit: host = host_ref + alpha + (x + slope_m1 * x), x = cam - cam_ref. */
    bool valid;
    uint64_t cam_ref, host_ref;
    double alpha, slope_m1, residual_ns;
};

static clock_pair *at(daq_clock_model *m, uint32_t i)
{
    return &m->ring[(m->head + i) % m->cap];
}

/* Latency of p relative to the reference pair r: (p.host - r.host) -
 * (p.cam - r.cam), exact in wrapping unsigned arithmetic. */
static int64_t rel_latency(clock_pair p, clock_pair r)
{
    return (int64_t)((p.host - r.host) - (p.cam - r.cam));
}

daq_clock_model *daq_clock_model_create(uint32_t window)
{
    if (window == 0)
        window = DEFAULT_WINDOW;
    if (window < MIN_WINDOW)
        window = MIN_WINDOW;
    daq_clock_model *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->ring = calloc(window, sizeof *m->ring);
    m->scratch = calloc(window, sizeof *m->scratch);
    if (!m->ring || !m->scratch) {
        daq_clock_model_destroy(m);
        return NULL;
    }
    m->cap = window;
    return m;
}

void daq_clock_model_destroy(daq_clock_model *m)
{
    if (!m)
        return;
    free(m->ring);
    free(m->scratch);
    free(m);
}

void daq_clock_model_reset(daq_clock_model *m)
{
    m->head = m->count = 0;
    m->spacing_ns = m->tail_start = 0;
    m->pairs = 0;
    m->since_fit = 0;
    m->valid = false;
    m->alpha = m->slope_m1 = m->residual_ns = 0;
}

static void swap_points(fit_point *a, fit_point *b)
{
    fit_point t = *a;
    *a = *b;
    *b = t;
}

/* Moves the k-th smallest r of p[0..n) to p[k] (quickselect, Lomuto's
 * partition around the middle element: a bin in time order is nearly
 * sorted by r under a drift, which a middle pivot handles). */
static void select_kth(fit_point *p, uint32_t n, uint32_t k)
{
    uint32_t lo = 0, hi = n - 1;
    while (lo < hi) {
        swap_points(&p[lo + (hi - lo) / 2], &p[hi]);
        double pivot = p[hi].r;
        uint32_t store = lo;
        for (uint32_t i = lo; i < hi; i++)
            if (p[i].r < pivot)
                swap_points(&p[i], &p[store++]);
        swap_points(&p[store], &p[hi]);
        if (k == store)
            return;
        if (k < store)
            hi = store - 1;
        else
            lo = store + 1;
    }
}

/* The entry at the QUANTILE of latency in each bin, latency measured
 * above the line d = a + s*x (s = a = 0: plain host - cam).  Returns the
 * bins with a point; px/pd get the points. */
static int pick_bins(daq_clock_model *m, double a, double s, double *px, double *pd)
{
    const clock_pair ref = *at(m, 0);
    uint64_t span = at(m, m->count - 1)->cam - ref.cam;
    uint64_t width = span / BINS + 1;
    uint32_t start[BINS + 1] = {0}, fill[BINS];
    for (uint32_t i = 0; i < m->count; i++)
        start[(at(m, i)->cam - ref.cam) / width + 1]++;
    for (int b = 0; b < BINS; b++) {
        start[b + 1] += start[b];
        fill[b] = start[b];
    }
    for (uint32_t i = 0; i < m->count; i++) {
        const clock_pair *p = at(m, i);
        uint64_t dx = p->cam - ref.cam;
        fit_point *f = &m->scratch[fill[dx / width]++];
        f->x = (double)dx;
        f->d = (double)rel_latency(*p, ref);
        f->r = f->d - (a + s * f->x);
    }
    int n = 0;
    for (int b = 0; b < BINS; b++) {
        uint32_t c = start[b + 1] - start[b];
        if (!c)
            continue;
        uint32_t k = (uint32_t)(c * QUANTILE);
        select_kth(&m->scratch[start[b]], c, k);
        px[n] = m->scratch[start[b] + k].x;
        pd[n] = m->scratch[start[b] + k].d;
        n++;
    }
    return n;
}

static int cmp_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

/* The median of v[0..n) (reorders v). */
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Theil-Sen: the slope is the median of the slopes between every two of
 * the n points, the intercept the median of d - s*x.  Not least squares:
 * the floor moves in steps (a loaded host's wake-up latency changes by
 * 10-15 us for a second or two), and a step under a few bins tilts a
 * least-squares line by all of it, the median of pairwise slopes much
 * less (measured on sim streams with a CPU hog: 80 ppm fitted to within
 * 0.2 where least squares was off by up to 3).  16 points: 120 slopes. */
static bool line_fit(const double *x, const double *d, int n, double *a, double *s)
{
    double v[BINS * (BINS - 1) / 2];
    int m = 0;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (x[j] != x[i])
                v[m++] = (d[j] - d[i]) / (x[j] - x[i]);
    if (m == 0)
        return false;
    *s = median(v, m);
    for (int i = 0; i < n; i++)
        v[i] = d[i] - *s * x[i];
    *a = median(v, n);
    return true;
}

static void refit(daq_clock_model *m)
{
    m->since_fit = 0;
    m->valid = false;
    if (m->count < MIN_BINS)
        return;
    const clock_pair ref = *at(m, 0);
    if (at(m, m->count - 1)->cam - ref.cam < MIN_SPAN_NS)
        return;
    double px[BINS], pd[BINS], a, s;
    int n = pick_bins(m, 0, 0, px, pd);
    if (n < MIN_BINS || !line_fit(px, pd, n, &a, &s))
        return;
    n = pick_bins(m, a, s, px, pd);
    if (n < MIN_BINS || !line_fit(px, pd, n, &a, &s))
        return;
    double sum2 = 0;
    for (int i = 0; i < n; i++) {
        double r = pd[i] - (a + s * px[i]);
        sum2 += r * r;
    }
    m->residual_ns = sqrt(sum2 / n);
    /* The offset: the floor of the newest quarter, near the frames being
     * mapped (the pair just added among them): the slope's error does not
     * reach there from the far end of the window, and a quarter has
     * enough pairs for a floor (4 of 64 would not). */
    uint64_t newest_from = (at(m, m->count - 1)->cam - ref.cam) / 4 * 3;
    double lowest = INFINITY;
    for (uint32_t i = m->count; i-- > 0;) {
        const clock_pair *p = at(m, i);
        if (p->cam - ref.cam < newest_from)
            break;
        double x = (double)(p->cam - ref.cam);
        double r = (double)rel_latency(*p, ref) - (a + s * x);
        if (r < lowest)
            lowest = r;
    }
    m->alpha = a + lowest;
    m->slope_m1 = s;
    m->cam_ref = ref.cam;
    m->host_ref = ref.host;
    m->valid = true;
}

/* Drops every other entry of a full ring (the newest stays), so it covers
 * twice the time; from then on one pair per spacing_ns is kept.  In place,
 * in logical order: entry n is written from entry i >= n. */
static void decimate(daq_clock_model *m)
{
    uint64_t span = at(m, m->count - 1)->cam - at(m, 0)->cam;
    uint32_t n = 0;
    /* keep odd offsets from the newest: i = count-1, count-3, ... */
    for (uint32_t i = (m->count - 1) % 2; i < m->count; i += 2)
        *at(m, n++) = *at(m, i);
    m->count = n;
    uint64_t spacing = m->spacing_ns ? 2 * m->spacing_ns : 2 * (span / (m->cap - 1));
    m->spacing_ns = spacing ? spacing : 1; /* 1: a frozen camera clock stops growing the ring */
}

/* Lowers the line under p if p is below it: a pair with less latency than
 * any the last refit saw (the line is refitted only every entries/64), so
 * map() of the pair just added is never after its arrival. */
static void keep_under(daq_clock_model *m, clock_pair p)
{
    if (!m->valid)
        return;
    double x = (double)(int64_t)(p.cam - m->cam_ref);
    double r = (double)(int64_t)(p.host - m->host_ref) - (m->alpha + x + m->slope_m1 * x);
    if (r < 0)
        m->alpha += r;
}

void daq_clock_model_add(daq_clock_model *m, uint64_t cam_ns, uint64_t host_ns)
{
    if (m->count && cam_ns < at(m, m->count - 1)->cam)
        daq_clock_model_reset(m); /* the camera clock restarted */
    m->pairs++;
    clock_pair p = {cam_ns, host_ns};
    if (m->count && m->spacing_ns && cam_ns - m->tail_start < m->spacing_ns) {
        keep_under(m, p); /* decimated away, but its arrival still bounds the line */
        return;
    }
    if (m->count == m->cap) {
        if (at(m, m->count - 1)->cam - at(m, 0)->cam < TARGET_SPAN_NS) {
            decimate(m);
        } else {
            m->head = (m->head + 1) % m->cap;
            m->count--;
        }
    }
    *at(m, m->count) = p;
    m->count++;
    m->tail_start = cam_ns;
    m->since_fit++;
    if ((uint64_t)m->since_fit * REFIT_DIVISOR >= m->count)
        refit(m);
    else
        keep_under(m, p);
}

bool daq_clock_model_map(const daq_clock_model *m, uint64_t cam_ns, uint64_t *host_ns)
{
    if (!m->valid)
        return false;
    double x = (double)(int64_t)(cam_ns - m->cam_ref);
    double y = m->alpha + x + m->slope_m1 * x;
    *host_ns = m->host_ref + (uint64_t)(int64_t)llround(y);
    return true;
}

void daq_clock_model_fit(const daq_clock_model *m, daq_clock_fit *out)
{
    out->valid = m->valid;
    out->pairs = m->pairs;
    if (!m->valid) {
        out->drift_ppm = out->offset_ns = out->residual_ns = 0;
        return;
    }
    /* the host runs b = 1 + slope_m1 per camera unit: the camera 1/b */
    out->drift_ppm = -m->slope_m1 / (1 + m->slope_m1) * 1e6;
    out->residual_ns = m->residual_ns;
    /* host at camera 0: host_ref + alpha - cam_ref * (1 + slope_m1); only
     * informational (a double near 1e18 keeps ~100 ns). */
    out->offset_ns =
        (double)m->host_ref + m->alpha - (double)m->cam_ref - m->slope_m1 * (double)m->cam_ref;
}
