/* devices/budget.c - the memory budget: what every camera holds, the one
 * check of a camera's new need against it, and the refusal message.  See
 * devices/budget.h for what is counted and why.
 *
 * A camera's record is what its last admitted start planned (pool and
 * ring are kept allocated after a stop, so they stay counted); a camera
 * that never started holds nothing.  The check of camera i:
 *   held(others) + pool_i + ring_i + streams x max(frame over all) <= total
 * computed under the mutex, so two cameras starting at once cannot both
 * take the last free gigabyte.
 */
#define _GNU_SOURCE
#include "devices/budget.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/err.h"

typedef struct need {
    uint64_t frame_bytes;
    uint32_t pool_slots;
    uint32_t ring_frames;
} need;

typedef struct entry {
    daq_budget *b;
    const char *id; /* borrowed from the device table */
    daq_acq *acq;   /* borrowed */
    daq_camera *cam;
    need held; /* what the last admitted start planned; zero: nothing */
} entry;

struct daq_budget {
    pthread_mutex_t mu; /* leaf: guards every entry's held */
    uint64_t total;
    uint32_t streams;
    size_t n;
    entry e[];
};

uint64_t daq_budget_auto_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0)
        return 1ull << 30; /* unknown: 1 GiB, enough for a 2048 x 2048 camera */
    return (uint64_t)pages * (uint64_t)page / 2;
}

daq_budget *daq_budget_create(uint64_t total_bytes, uint32_t streams, size_t n_devices)
{
    daq_budget *b = calloc(1, sizeof *b + n_devices * sizeof b->e[0]);
    if (!b)
        return NULL;
    pthread_mutex_init(&b->mu, NULL);
    b->total = total_bytes;
    b->streams = streams;
    b->n = n_devices;
    for (size_t i = 0; i < n_devices; i++)
        b->e[i].b = b;
    return b;
}

void daq_budget_destroy(daq_budget *b)
{
    if (!b)
        return;
    pthread_mutex_destroy(&b->mu);
    free(b);
}

static uint64_t own_bytes(const need *n)
{
    return n->frame_bytes * ((uint64_t)n->pool_slots + n->ring_frames);
}

/* Under mu: what the cameras hold, with camera skip's record replaced by
 * *instead (NULL: as recorded). */
static uint64_t committed_locked(const daq_budget *b, size_t skip, const need *instead)
{
    uint64_t sum = 0, frame = 0;
    for (size_t i = 0; i < b->n; i++) {
        const need *n = i == skip && instead ? instead : &b->e[i].held;
        sum += own_bytes(n);
        if (n->frame_bytes > frame)
            frame = n->frame_bytes;
    }
    return sum + (uint64_t)b->streams * frame;
}

/* "512 MiB", "1.6 GiB", "640 KiB" into buf. */
static const char *fmt_bytes(char *buf, size_t len, uint64_t v)
{
    const double k = 1024.0;
    if (v >= (uint64_t)10 << 30)
        snprintf(buf, len, "%.0f GiB", (double)v / (k * k * k));
    else if (v >= (uint64_t)1 << 30)
        snprintf(buf, len, "%.1f GiB", (double)v / (k * k * k));
    else if (v >= (uint64_t)1 << 20)
        snprintf(buf, len, "%.0f MiB", (double)v / (k * k));
    else
        snprintf(buf, len, "%.0f KiB", (double)v / k);
    return buf;
}

/* The check: 0, or -1 with the numbers.  commit records n as camera i's. */
static int admit(entry *e, const char *what, const daq_camera_format *fmt, const need *n,
                 bool commit, char *err, size_t err_len)
{
    daq_budget *b = e->b;
    size_t i = (size_t)(e - b->e);
    pthread_mutex_lock(&b->mu);
    const need none = {0, 0, 0};
    uint64_t others = committed_locked(b, i, &none);
    uint64_t after = committed_locked(b, i, n);
    bool fits = after <= b->total;
    if (fits && commit)
        e->held = *n;
    pthread_mutex_unlock(&b->mu);
    if (fits)
        return 0;
    char fb[32], nb[32], pb[32], sb[32], freeb[32], tb[32];
    uint64_t needed = after - others;
    uint64_t streams = needed - own_bytes(n);
    uint64_t left = others < b->total ? b->total - others : 0;
    const char *frame = fmt_bytes(fb, sizeof fb, n->frame_bytes);
    return daq_err(err, err_len,
                   "%s: %s (frames of %u x %u x %u bit, %s) needs %s (pool %" PRIu32
                   " x %s, camera ring %" PRIu32 " x %s, stream buffers +%s) but the memory "
                   "budget has %s free of %s ([limits] memory_mb)",
                   e->id, what, fmt->width, fmt->height, (unsigned)fmt->bit_depth, frame,
                   fmt_bytes(nb, sizeof nb, needed), n->pool_slots, frame, n->ring_frames,
                   fmt_bytes(pb, sizeof pb, n->frame_bytes), fmt_bytes(sb, sizeof sb, streams),
                   fmt_bytes(freeb, sizeof freeb, left), fmt_bytes(tb, sizeof tb, b->total));
}

/* The camera's guard: a write made the frame or the ring larger. */
static int guard(void *ctx, daq_camera *cam, const char *param, const daq_camera_format *fmt,
                 uint32_t ring_frames, char *err, size_t err_len)
{
    entry *e = ctx;
    need n = {fmt->frame_bytes, daq_acq_plan_slots(e->acq, fmt->frame_bytes), ring_frames};
    char what[96];
    snprintf(what, sizeof what, "setting %s", param);
    return admit(e, what, fmt, &n, false, err, err_len);
}

/* The engine's admission hook: a start, before its pool is built. */
static int admit_start(void *ctx, daq_acq *acq, const daq_acq_plan *plan, char *err, size_t err_len)
{
    entry *e = ctx;
    daq_camera_format fmt;
    if (daq_camera_get_format(e->cam, &fmt, err, err_len) != 0)
        return -1;
    need n = {plan->frame_bytes, plan->pool_slots, daq_camera_ring_frames(e->cam)};
    return admit(e, "start", &fmt, &n, true, err, err_len);
}

void daq_budget_attach(daq_budget *b, size_t i, const char *id, daq_acq *acq, daq_camera *cam)
{
    if (!b || i >= b->n || !acq || !cam)
        return;
    entry *e = &b->e[i];
    e->id = id;
    e->acq = acq;
    e->cam = cam;
    daq_acq_set_admit(acq, admit_start, e);
    daq_camera_set_guard(cam, guard, e);
}

void daq_budget_snapshot(daq_budget *b, uint64_t *total, uint64_t *committed)
{
    pthread_mutex_lock(&b->mu);
    *total = b->total;
    *committed = committed_locked(b, b->n, NULL);
    pthread_mutex_unlock(&b->mu);
}
