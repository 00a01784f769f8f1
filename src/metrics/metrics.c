/* metrics/metrics.c - Prometheus text exposition (format 0.0.4) of daq's
 * figures.  See daq/metrics.h.
 *
 * Two phases.  First every device is snapshotted once (daq_acq_stats_snapshot,
 * which carries the pool and driver snapshots, and daq_bus_stats_snapshot), so that
 * all families of one scrape describe the same instant per device and the
 * engine's locks are taken once per device, not once per family.  Then the
 * text is written family-major, device-minor: the format (and promtool)
 * wants each family's # HELP and # TYPE exactly once with all its samples
 * right after them, whatever the number of devices.
 *
 * Most families are one number per device read from daq_acq_stats, so they
 * are rows of a table (name, type, help, offset, width) rendered by one
 * loop; the families with their own labels (state, reasons, paths,
 * consumers, driver events) and the histograms have small functions.
 *
 * Conventions: daq_ prefix (process_* as every Prometheus client names
 * them), _total on counters, base units (seconds, bytes).  Durations that
 * are integer nanoseconds are written as exact decimal seconds; other
 * floats in the shortest form that reads back to the same double.
 *
 * The stream counters of the engine and the driver restart at zero when a
 * stream starts (as do the pool's when the engine replaces its pool);
 * Prometheus treats a counter going down as a reset, so rate() stays right.
 *
 * The latency histograms come from daq_pool's log2 buckets: bucket i holds
 * [2^i, 2^(i+1)) ns, so its upper bound 2^(i+1) ns becomes `le` in seconds
 * (a value exactly on a bound lands one bucket higher: immaterial at ns
 * resolution).  The last bucket is open-ended and only feeds +Inf.  _count
 * is the bucket total, not the snapshot's separate count, so +Inf == _count
 * even though the snapshot is not one atomic instant.
 *
 * The recorder's families (libdaq-storage, compiled in with
 * DAQ_WITH_STORAGE) are process-wide, without a device label: one
 * daq_storage_stats_snapshot per scrape.  Its flush histogram has log2
 * buckets from 1 ms (le 0.001 ... 32.768 s, +Inf), cumulative already.
 * The queue fill is written as a ratio 0..1 (base units), not a percent.
 *
 * Triggers and the camera clock (ADR 0011): per device from the same
 * snapshot (daq_acq_stats.trigger, clock_*); the trigger counters are
 * cumulative over the camera's life (not reset by an arm); the clock gauges
 * only while the fit is valid.
 *
 * The HTTP server's families (daq_http_*) are process-wide too, rendered
 * from a daq_http_stats the caller took (the daemon, which owns the
 * server); every reason is written, zeros included, so that a rejection
 * shows as a rate from its first occurrence.
 *
 * Memory: one growable buffer (doubling), plus the per-device snapshots;
 * the caller frees the returned text.  Out of memory anywhere gives NULL.
 * This is the scrape path, never the frame path, so allocating is fine.
 */
#define _GNU_SOURCE
#include "daq/metrics.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "daq/sync.h"
#include "daq/watch.h"
#include "server/stream_set.h"
#include "util/sbuf.h"
#include "util/clock.h"

#ifdef DAQ_WITH_STORAGE
#include "daq/storage.h"
#endif

/* ---- number formatting ------------------------------------------------------ */

/* Large enough for any value written below. */
#define NUM_MAX 48

static const char *fmt_u64(char *buf, uint64_t v)
{
    snprintf(buf, NUM_MAX, "%" PRIu64, v);
    return buf;
}

/* The shortest %g form that reads back as the same double; the format's
 * spellings for the non-finite values. */
static const char *fmt_double(char *buf, double v)
{
    if (isnan(v))
        return strcpy(buf, "NaN");
    if (isinf(v))
        return strcpy(buf, v > 0 ? "+Inf" : "-Inf");
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, NUM_MAX, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    return buf;
}

/* Integer nanoseconds as exact decimal seconds ("0.000123", "2", "1.5"). */
static const char *fmt_ns_seconds(char *buf, uint64_t ns)
{
    uint64_t sec = ns / 1000000000u, frac = ns % 1000000000u;
    if (!frac) {
        snprintf(buf, NUM_MAX, "%" PRIu64, sec);
        return buf;
    }
    int digits = 9;
    while (frac % 10 == 0) {
        frac /= 10;
        digits--;
    }
    snprintf(buf, NUM_MAX, "%" PRIu64 ".%0*" PRIu64, sec, digits, frac);
    return buf;
}

/* ---- families and samples ---------------------------------------------------- */

typedef enum family_type {
    COUNTER,
    GAUGE,
    HISTOGRAM,
} family_type;

static const char *const family_type_names[] = {"counter", "gauge", "histogram"};

typedef struct label {
    const char *name, *value;
} label;

static void family_begin(daq_sbuf *sb, const char *name, family_type type, const char *help)
{
    daq_sbuf_prom_family(sb, name, family_type_names[type], help);
}

/* name[suffix]{l0="v0",...} value */
static void sample(daq_sbuf *sb, const char *name, const char *suffix, const label *labels,
                   size_t n, const char *value)
{
    daq_sbuf_puts(sb, name);
    if (suffix)
        daq_sbuf_puts(sb, suffix);
    if (n) {
        daq_sbuf_puts(sb, "{");
        for (size_t i = 0; i < n; i++) {
            if (i)
                daq_sbuf_puts(sb, ",");
            daq_sbuf_puts(sb, labels[i].name);
            daq_sbuf_puts(sb, "=\"");
            daq_sbuf_prom_label(sb, labels[i].value ? labels[i].value : "");
            daq_sbuf_puts(sb, "\"");
        }
        daq_sbuf_puts(sb, "}");
    }
    daq_sbuf_puts(sb, " ");
    daq_sbuf_puts(sb, value);
    daq_sbuf_puts(sb, "\n");
}

/* ---- per-device snapshots ------------------------------------------------------ */

/* A consumer label unique within its device: a repeated subscription name
 * gets " (2)", " (3)", ... so that no two series collide. */
#define CONSUMER_LABEL_MAX 96

typedef struct consumer_snap {
    daq_sub_stats st;
    char label[CONSUMER_LABEL_MAX];
} consumer_snap;

typedef struct dev_snap {
    const char *id;     /* never NULL */
    const char *driver; /* never NULL */
    bool up;            /* acq != NULL */
    bool has_pool;      /* the engine has a pool (after its first start) */
    daq_acq_stats st;   /* zero when !up */
    consumer_snap *subs;
    unsigned n_subs;
} dev_snap;

/* Every subscription of bus, however many were added meanwhile. */
static bool snap_consumers(daq_bus *bus, dev_snap *ds)
{
    unsigned max = daq_bus_sub_count(bus) + 4;
    daq_sub_stats *st = NULL;
    unsigned n;
    for (;;) {
        daq_sub_stats *grown = realloc(st, max * sizeof *st);
        if (!grown) {
            free(st);
            return false;
        }
        st = grown;
        n = daq_bus_stats_snapshot(bus, st, max);
        if (n < max)
            break;
        max *= 2; /* perhaps more than max: ask again with room to spare */
    }
    ds->subs = calloc(n ? n : 1, sizeof *ds->subs);
    if (!ds->subs) {
        free(st);
        return false;
    }
    for (unsigned i = 0; i < n; i++) {
        consumer_snap *c = &ds->subs[i];
        c->st = st[i];
        unsigned same = 0;
        for (unsigned j = 0; j < i; j++)
            same += strcmp(st[j].name, st[i].name) == 0;
        if (same)
            snprintf(c->label, sizeof c->label, "%s (%u)", st[i].name, same + 1);
        else
            snprintf(c->label, sizeof c->label, "%s", st[i].name);
    }
    ds->n_subs = n;
    free(st);
    return true;
}

/* ---- per-device scalar families ---------------------------------------------------- */

typedef enum value_kind {
    V_U64,
    V_U32,
    V_SIZE,
    V_DOUBLE,
    V_BOOL,
} value_kind;

typedef enum need {
    NEED_ACQ,  /* devices that are up */
    NEED_POOL, /* devices whose engine has a pool */
} need;

typedef struct scalar_family {
    const char *name;
    family_type type;
    need need;
    size_t off; /* into daq_acq_stats */
    value_kind kind;
    const char *help;
} scalar_family;

#define ACQ(field) offsetof(daq_acq_stats, field)

static const char *scalar_value(char *buf, const daq_acq_stats *st, size_t off, value_kind kind)
{
    const char *p = (const char *)st + off;
    switch (kind) {
    case V_U64: {
        uint64_t v;
        memcpy(&v, p, sizeof v);
        return fmt_u64(buf, v);
    }
    case V_U32: {
        uint32_t v;
        memcpy(&v, p, sizeof v);
        return fmt_u64(buf, v);
    }
    case V_SIZE: {
        size_t v;
        memcpy(&v, p, sizeof v);
        return fmt_u64(buf, (uint64_t)v);
    }
    case V_DOUBLE: {
        double v;
        memcpy(&v, p, sizeof v);
        return fmt_double(buf, v);
    }
    case V_BOOL: {
        bool v;
        memcpy(&v, p, sizeof v);
        return strcpy(buf, v ? "1" : "0");
    }
    }
    return strcpy(buf, "NaN");
}

static bool snap_has(const dev_snap *ds, need n)
{
    return n == NEED_POOL ? ds->up && ds->has_pool : ds->up;
}

static void render_scalars(daq_sbuf *sb, const dev_snap *ds, size_t n, const scalar_family *fams,
                           size_t nf)
{
    char num[NUM_MAX];
    for (size_t f = 0; f < nf; f++) {
        family_begin(sb, fams[f].name, fams[f].type, fams[f].help);
        for (size_t d = 0; d < n; d++) {
            if (!snap_has(&ds[d], fams[f].need))
                continue;
            label l = {"device", ds[d].id};
            sample(sb, fams[f].name, NULL, &l, 1,
                   scalar_value(num, &ds[d].st, fams[f].off, fams[f].kind));
        }
    }
}

static const scalar_family acq_families[] = {
    {"daq_acquisition_streams_started_total", COUNTER, NEED_ACQ, ACQ(streams), V_U64,
     "Streams started since the engine was created."},
    {"daq_acquisition_frames_captured_total", COUNTER, NEED_ACQ, ACQ(captured), V_U64,
     "Frames taken from the driver, skipped ones included (resets when a stream starts)."},
    {"daq_acquisition_frames_delivered_total", COUNTER, NEED_ACQ, ACQ(delivered), V_U64,
     "Frames published to the bus (resets when a stream starts)."},
    {"daq_acquisition_frames_lost_total", COUNTER, NEED_ACQ, ACQ(lost), V_U64,
     "Frames missing from the hardware frame numbering (resets when a stream starts)."},
    {"daq_acquisition_discontinuities_total", COUNTER, NEED_ACQ, ACQ(discontinuities), V_U64,
     "Breaks in the hardware frame numbering, gaps and backward jumps (resets when a stream "
     "starts)."},
    {"daq_acquisition_backward_jumps_total", COUNTER, NEED_ACQ, ACQ(backwards), V_U64,
     "Backward jumps in the hardware frame numbering (resets when a stream starts)."},
    {"daq_acquisition_duplicate_frames_total", COUNTER, NEED_ACQ, ACQ(duplicates), V_U64,
     "Frames skipped because their hardware number repeated (resets when a stream starts)."},
    {"daq_acquisition_zero_frames_total", COUNTER, NEED_ACQ, ACQ(zero_frames), V_U64,
     "Frames skipped because their sampled pixels were all zero (resets when a stream starts)."},
    {"daq_acquisition_alloc_dropped_frames_total", COUNTER, NEED_ACQ, ACQ(alloc_dropped), V_U64,
     "Frames dropped because no frame could be allocated (resets when a stream starts)."},
    {"daq_acquisition_heap_fallbacks_total", COUNTER, NEED_ACQ, ACQ(heap_fallbacks), V_U64,
     "Frames that went to the heap instead of a pool slot (resets when a stream starts)."},
    {"daq_acquisition_copied_bytes_total", COUNTER, NEED_ACQ, ACQ(bytes_copied), V_U64,
     "Pixel bytes copied from the driver into frames (resets when a stream starts)."},
    {"daq_acquisition_delivery_fps", GAUGE, NEED_ACQ, ACQ(fps), V_DOUBLE,
     "Delivery rate of the current or last stream between its first and last frame, in frames "
     "per second."},
    {"daq_acquisition_last_hw_frame_number", GAUGE, NEED_ACQ, ACQ(last_hw_frame), V_U64,
     "Hardware frame number of the last frame taken from the driver."},
};

static const scalar_family pool_families[] = {
    {"daq_pool_hits_total", COUNTER, NEED_POOL, ACQ(pool.hits), V_U64,
     "Frame allocations served by a pool slot, at once or after a wait."},
    {"daq_pool_misses_total", COUNTER, NEED_POOL, ACQ(pool.misses), V_U64,
     "Frame allocations that found no free slot with the pool on."},
    {"daq_pool_disabled_total", COUNTER, NEED_POOL, ACQ(pool.disabled), V_U64,
     "Frame allocations that bypassed the pool because use_pool was off."},
    {"daq_pool_heap_failures_total", COUNTER, NEED_POOL, ACQ(pool.heap_failed), V_U64,
     "Heap frame allocations that failed (the frame was dropped)."},
    {"daq_pool_drops_total", COUNTER, NEED_POOL, ACQ(pool.drops), V_U64,
     "Frame allocations that returned no frame (drop policy or heap failure)."},
    {"daq_pool_waits_total", COUNTER, NEED_POOL, ACQ(pool.waits), V_U64,
     "Frame allocations that waited for a slot (wait policy)."},
    {"daq_pool_wait_timeouts_total", COUNTER, NEED_POOL, ACQ(pool.wait_timeouts), V_U64,
     "Waits for a slot that ended without one."},
    {"daq_pool_returns_total", COUNTER, NEED_POOL, ACQ(pool.returns), V_U64,
     "Frames released for good: slots returned plus heap frames freed."},
    {"daq_pool_slots", GAUGE, NEED_POOL, ACQ(pool.slot_count), V_U32, "Slots in the pool."},
    {"daq_pool_slots_in_use", GAUGE, NEED_POOL, ACQ(pool.in_use), V_U32,
     "Slots out of the pool now."},
    {"daq_pool_heap_frames_in_use", GAUGE, NEED_POOL, ACQ(pool.heap_in_use), V_U32,
     "Heap frames alive now."},
    {"daq_pool_slots_high_water", GAUGE, NEED_POOL, ACQ(pool.high_water), V_U32,
     "Most slots out of the pool at once."},
    {"daq_pool_slots_free_low_water", GAUGE, NEED_POOL, ACQ(pool.low_water_free), V_U32,
     "Fewest slots free at once."},
    {"daq_pool_hit_ratio", GAUGE, NEED_POOL, ACQ(pool.hit_rate), V_DOUBLE,
     "Hits over all frame allocations, 0 to 1 (0 while use_pool is off)."},
    {"daq_pool_use_pool", GAUGE, NEED_POOL, ACQ(pool.use_pool), V_BOOL,
     "1 when frames come from the pool, 0 when use_pool is off (the rollback lever)."},
    {"daq_pool_slot_size_bytes", GAUGE, NEED_POOL, ACQ(pool.slot_bytes), V_SIZE,
     "Pixel bytes per pool slot."},
};

static const scalar_family camera_families[] = {
    {"daq_camera_frames_generated_total", COUNTER, NEED_ACQ, ACQ(driver.frames_generated), V_U64,
     "Frames the sensor or SDK produced (driver counter, resets when a stream starts)."},
    {"daq_camera_callbacks_total", COUNTER, NEED_ACQ, ACQ(driver.callbacks), V_U64,
     "End-of-frame notifications from the sensor or SDK (driver counter)."},
    {"daq_camera_overruns_total", COUNTER, NEED_ACQ, ACQ(driver.overruns), V_U64,
     "Frames the driver's ring could not keep (driver counter)."},
    {"daq_camera_readout_errors_total", COUNTER, NEED_ACQ, ACQ(driver.readout_errors), V_U64,
     "Readout errors reported by the driver (driver counter)."},
};

static const scalar_family trigger_families[] = {
    {"daq_trigger_pending", GAUGE, NEED_ACQ, ACQ(trigger.pending), V_U64,
     "Accepted triggers still waiting for their frames (within trigger.timeout_ms)."},
    {"daq_trigger_frames_extra_total", COUNTER, NEED_ACQ, ACQ(trigger.frames_extra), V_U64,
     "Frames beyond frames_per_trigger for their trigger (a doubled trigger)."},
    {"daq_trigger_frames_late_total", COUNTER, NEED_ACQ, ACQ(trigger.frames_late), V_U64,
     "Frames for a trigger already counted missed."},
    {"daq_trigger_armed", GAUGE, NEED_ACQ, ACQ(trigger.armed), V_BOOL,
     "1 while the camera streams in a trigger mode (waits for triggers), else 0."},
};

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* ---- families with their own labels ------------------------------------------------------ */

static void render_device(daq_sbuf *sb, const dev_snap *ds, size_t n)
{
    family_begin(sb, "daq_device_info", GAUGE, "Configured devices and their drivers; always 1.");
    for (size_t d = 0; d < n; d++) {
        label l[] = {{"device", ds[d].id}, {"driver", ds[d].driver}};
        sample(sb, "daq_device_info", NULL, l, 2, "1");
    }
    family_begin(sb, "daq_device_up", GAUGE,
                 "1 when the device's acquisition engine is up, 0 when it failed to come up.");
    for (size_t d = 0; d < n; d++) {
        label l = {"device", ds[d].id};
        sample(sb, "daq_device_up", NULL, &l, 1, ds[d].up ? "1" : "0");
    }
}

static void render_state(daq_sbuf *sb, const dev_snap *ds, size_t n)
{
    family_begin(sb, "daq_acquisition_streaming", GAUGE, "1 while the device streams, else 0.");
    for (size_t d = 0; d < n; d++) {
        if (!ds[d].up)
            continue;
        label l = {"device", ds[d].id};
        sample(sb, "daq_acquisition_streaming", NULL, &l, 1,
               ds[d].st.state == DAQ_ACQ_STREAMING ? "1" : "0");
    }
    static const daq_acq_state states[] = {DAQ_ACQ_IDLE, DAQ_ACQ_STREAMING, DAQ_ACQ_ERROR};
    family_begin(sb, "daq_acquisition_state", GAUGE,
                 "Acquisition engine state: 1 for the current state, 0 for the others.");
    for (size_t d = 0; d < n; d++) {
        if (!ds[d].up)
            continue;
        for (size_t i = 0; i < COUNT_OF(states); i++) {
            label l[] = {{"device", ds[d].id}, {"state", daq_acq_state_name(states[i])}};
            sample(sb, "daq_acquisition_state", NULL, l, 2,
                   ds[d].st.state == states[i] ? "1" : "0");
        }
    }
}

static void render_pool_heap(daq_sbuf *sb, const dev_snap *ds, size_t n)
{
    char num[NUM_MAX];
    family_begin(sb, "daq_pool_heap_allocations_total", COUNTER,
                 "Heap frames made instead of pool slots, by reason: no free slot (exhausted) "
                 "or use_pool off (disabled).");
    for (size_t d = 0; d < n; d++) {
        if (!snap_has(&ds[d], NEED_POOL))
            continue;
        label l[] = {{"device", ds[d].id}, {"reason", "exhausted"}};
        sample(sb, "daq_pool_heap_allocations_total", NULL, l, 2,
               fmt_u64(num, ds[d].st.pool.heap_exhausted));
        l[1].value = "disabled";
        sample(sb, "daq_pool_heap_allocations_total", NULL, l, 2,
               fmt_u64(num, ds[d].st.pool.heap_disabled));
    }
}

static void render_histogram(daq_sbuf *sb, const char *name, const char *device, const char *path,
                             const daq_latency_hist *h)
{
    char num[NUM_MAX], le[NUM_MAX];
    label l[] = {{"device", device}, {"path", path}, {"le", le}};
    uint64_t cum = 0;
    for (unsigned i = 0; i + 1 < DAQ_LAT_BUCKETS; i++) {
        cum += h->buckets[i];
        fmt_double(le, (double)daq_latency_bucket_upper_ns(i) / 1e9);
        sample(sb, name, "_bucket", l, 3, fmt_u64(num, cum));
    }
    cum += h->buckets[DAQ_LAT_BUCKETS - 1];
    strcpy(le, "+Inf");
    sample(sb, name, "_bucket", l, 3, fmt_u64(num, cum));
    sample(sb, name, "_sum", l, 2, fmt_ns_seconds(num, h->sum_ns));
    sample(sb, name, "_count", l, 2, fmt_u64(num, cum));
}

static void render_pool_latency(daq_sbuf *sb, const dev_snap *ds, size_t n)
{
    const char *name = "daq_pool_alloc_latency_seconds";
    family_begin(sb, name, HISTOGRAM,
                 "Latency of frame allocations on the frame path, by path (pool slot or heap).");
    for (size_t d = 0; d < n; d++) {
        if (!snap_has(&ds[d], NEED_POOL))
            continue;
        render_histogram(sb, name, ds[d].id, "pool", &ds[d].st.pool.alloc_pool);
        render_histogram(sb, name, ds[d].id, "heap", &ds[d].st.pool.alloc_heap);
    }
}

/* ---- consumers (bus subscriptions) --------------------------------------------------------- */

typedef struct consumer_family {
    const char *name;
    family_type type;
    size_t off; /* into daq_sub_stats */
    value_kind kind;
    const char *help;
} consumer_family;

#define SUB(field) offsetof(daq_sub_stats, field)

static const consumer_family consumer_families[] = {
    {"daq_consumer_frames_offered_total", COUNTER, SUB(offered), V_U64,
     "Frames published while the consumer was subscribed."},
    {"daq_consumer_frames_enqueued_total", COUNTER, SUB(enqueued), V_U64,
     "Frames that entered the consumer's queue."},
    {"daq_consumer_frames_delivered_total", COUNTER, SUB(delivered), V_U64,
     "Frames the consumer took from its queue."},
    {"daq_consumer_lossless_waits_total", COUNTER, SUB(lossless_waits), V_U64,
     "Times the producer waited for room in the consumer's lossless queue."},
    {"daq_consumer_queued_frames", GAUGE, SUB(queued), V_U32,
     "Frames in the consumer's queue now."},
    {"daq_consumer_queue_high_water_frames", GAUGE, SUB(queue_high_water), V_U32,
     "Most frames in the consumer's queue at once."},
    {"daq_consumer_queue_depth_frames", GAUGE, SUB(queue_depth), V_U32,
     "Capacity of the consumer's queue."},
};

typedef struct reason_value {
    const char *reason;
    size_t off; /* into daq_sub_stats */
} reason_value;

static const reason_value drop_reasons[] = {
    {"full", SUB(dropped_full)},
    {"oldest", SUB(dropped_oldest)},
    {"timeout", SUB(dropped_timeout)},
};

static const reason_value skip_reasons[] = {
    {"decimate", SUB(skipped_decimate)},
    {"max_fps", SUB(skipped_rate)},
};

static void render_consumer_reasons(daq_sbuf *sb, const dev_snap *ds, size_t n, const char *name,
                                    const char *help, const reason_value *rv, size_t nr)
{
    char num[NUM_MAX];
    family_begin(sb, name, COUNTER, help);
    for (size_t d = 0; d < n; d++) {
        for (unsigned s = 0; s < ds[d].n_subs; s++) {
            const consumer_snap *c = &ds[d].subs[s];
            for (size_t r = 0; r < nr; r++) {
                label l[] = {
                    {"device", ds[d].id}, {"consumer", c->label}, {"reason", rv[r].reason}};
                uint64_t v;
                memcpy(&v, (const char *)&c->st + rv[r].off, sizeof v);
                sample(sb, name, NULL, l, 3, fmt_u64(num, v));
            }
        }
    }
}

static void render_consumers(daq_sbuf *sb, const dev_snap *ds, size_t n)
{
    char num[NUM_MAX];
    family_begin(sb, "daq_consumer_info", GAUGE,
                 "Bus subscriptions (consumers) and their queue policies; always 1.");
    for (size_t d = 0; d < n; d++) {
        for (unsigned s = 0; s < ds[d].n_subs; s++) {
            const consumer_snap *c = &ds[d].subs[s];
            label l[] = {{"device", ds[d].id},
                         {"consumer", c->label},
                         {"policy", daq_sub_policy_name(c->st.policy)}};
            sample(sb, "daq_consumer_info", NULL, l, 3, "1");
        }
    }
    for (size_t f = 0; f < COUNT_OF(consumer_families); f++) {
        const consumer_family *cf = &consumer_families[f];
        family_begin(sb, cf->name, cf->type, cf->help);
        for (size_t d = 0; d < n; d++) {
            for (unsigned s = 0; s < ds[d].n_subs; s++) {
                const consumer_snap *c = &ds[d].subs[s];
                label l[] = {{"device", ds[d].id}, {"consumer", c->label}};
                const char *p = (const char *)&c->st + cf->off;
                uint64_t v;
                if (cf->kind == V_U32) {
                    uint32_t v32;
                    memcpy(&v32, p, sizeof v32);
                    v = v32;
                } else {
                    memcpy(&v, p, sizeof v);
                }
                sample(sb, cf->name, NULL, l, 2, fmt_u64(num, v));
            }
        }
    }
    family_begin(sb, "daq_consumer_lossless_wait_seconds_total", COUNTER,
                 "Time the producer spent waiting for room in the consumer's lossless queue.");
    for (size_t d = 0; d < n; d++) {
        for (unsigned s = 0; s < ds[d].n_subs; s++) {
            const consumer_snap *c = &ds[d].subs[s];
            label l[] = {{"device", ds[d].id}, {"consumer", c->label}};
            sample(sb, "daq_consumer_lossless_wait_seconds_total", NULL, l, 2,
                   fmt_ns_seconds(num, c->st.lossless_wait_ns));
        }
    }
    render_consumer_reasons(sb, ds, n, "daq_consumer_frames_dropped_total",
                            "Frames dropped for the consumer, by reason: queue full (drop-newest), "
                            "oldest evicted (drop-oldest, latest), lossless wait timed out.",
                            drop_reasons, COUNT_OF(drop_reasons));
    render_consumer_reasons(sb, ds, n, "daq_consumer_frames_skipped_total",
                            "Frames not offered to the consumer's queue, by gate: decimation or "
                            "maximum rate.",
                            skip_reasons, COUNT_OF(skip_reasons));
}

/* ---- driver events ------------------------------------------------------------------------- */

static void render_camera_events(daq_sbuf *sb, const dev_snap *ds, size_t n)
{
    char num[NUM_MAX];
    family_begin(sb, "daq_camera_events_total", COUNTER,
                 "Driver-specific named counters of the camera driver, by event.");
    for (size_t d = 0; d < n; d++) {
        if (!ds[d].up)
            continue;
        const daq_camera_stats *cs = &ds[d].st.driver;
        unsigned ne = cs->n_extra < DAQ_CAMERA_EXTRA_MAX ? cs->n_extra : DAQ_CAMERA_EXTRA_MAX;
        for (unsigned i = 0; i < ne; i++) {
            if (!cs->extra[i].name)
                continue;
            label l[] = {{"device", ds[d].id}, {"event", cs->extra[i].name}};
            sample(sb, "daq_camera_events_total", NULL, l, 2, fmt_u64(num, cs->extra[i].value));
        }
    }
}

/* ---- triggers and the camera clock (ADR 0011) --------------------------------------------- */

/* The trigger counters with a result / outcome label, every value written
 * (zeros too: a first ignored trigger shows as a rate at once).  The
 * identities sent == accepted + ignored and seen == answered + missed +
 * pending hold within one scrape (one snapshot per device). */
static void render_triggers(daq_sbuf *sb, const dev_snap *ds, size_t n)
{
    char num[NUM_MAX];
    family_begin(sb, "daq_trigger_total", COUNTER,
                 "Software triggers by result: sent, accepted (TRIGGERED) and ignored (IGNORED) by "
                 "the camera; sent = accepted + ignored.");
    for (size_t d = 0; d < n; d++) {
        if (!ds[d].up)
            continue;
        const daq_trigger_stats *t = &ds[d].st.trigger;
        const struct {
            const char *result;
            uint64_t v;
        } rows[] = {{"sent", t->sent}, {"accepted", t->accepted}, {"ignored", t->ignored}};
        for (size_t i = 0; i < COUNT_OF(rows); i++) {
            label l[] = {{"device", ds[d].id}, {"result", rows[i].result}};
            sample(sb, "daq_trigger_total", NULL, l, 2, fmt_u64(num, rows[i].v));
        }
    }
    family_begin(sb, "daq_trigger_outcome_total", COUNTER,
                 "Triggers by outcome: answered (their frames arrived within trigger.timeout_ms) "
                 "or missed.");
    for (size_t d = 0; d < n; d++) {
        if (!ds[d].up)
            continue;
        const daq_trigger_stats *t = &ds[d].st.trigger;
        label l[] = {{"device", ds[d].id}, {"outcome", "answered"}};
        sample(sb, "daq_trigger_outcome_total", NULL, l, 2, fmt_u64(num, t->answered));
        l[1].value = "missed";
        sample(sb, "daq_trigger_outcome_total", NULL, l, 2, fmt_u64(num, t->missed));
    }
}

/* The clock model's fit, only while it is valid: an absent series is "no
 * fit yet" (a camera without a clock, or the first 200 ms of a stream), a
 * 0 would read as "no drift". */
static void render_clock(daq_sbuf *sb, const dev_snap *ds, size_t n)
{
    char num[NUM_MAX];
    family_begin(sb, "daq_clock_drift_ppm", GAUGE,
                 "Camera clock rate error against the host's CLOCK_MONOTONIC, in parts per "
                 "million (fitted lower envelope of timestamp pairs; absent until the fit is "
                 "valid).");
    for (size_t d = 0; d < n; d++) {
        if (!ds[d].up || !ds[d].st.clock_valid)
            continue;
        label l = {"device", ds[d].id};
        sample(sb, "daq_clock_drift_ppm", NULL, &l, 1, fmt_double(num, ds[d].st.clock_drift_ppm));
    }
    family_begin(sb, "daq_clock_residual_seconds", GAUGE,
                 "RMS distance of the clock fit's envelope points from its line: how far an "
                 "estimated exposure start may be off (absent until the fit is valid).");
    for (size_t d = 0; d < n; d++) {
        if (!ds[d].up || !ds[d].st.clock_valid)
            continue;
        label l = {"device", ds[d].id};
        sample(sb, "daq_clock_residual_seconds", NULL, &l, 1,
               fmt_double(num, ds[d].st.clock_residual_ns / 1e9));
    }
}

/* ---- the recorder (libdaq-storage) ------------------------------------------------------- */

#ifdef DAQ_WITH_STORAGE
static void render_recorder(daq_sbuf *sb, daq_storage *storage)
{
    daq_storage_stats st;
    daq_storage_stats_snapshot(storage, &st);
    char num[NUM_MAX];
    static const struct {
        const char *name;
        family_type type;
        size_t off;
        const char *help;
    } scalars[] = {
        {"daq_recorder_frames_total", COUNTER, offsetof(daq_storage_stats, frames_written),
         "Frames written to recordings since the daemon started."},
        {"daq_recorder_bytes_total", COUNTER, offsetof(daq_storage_stats, bytes_written),
         "Bytes handed to recording files (after compression) since the daemon started."},
        {"daq_recorder_dropped_frames_total", COUNTER, offsetof(daq_storage_stats, frames_dropped),
         "Frames the recorder dropped (queue full, or after an error) since the daemon "
         "started."},
        {"daq_recorder_errors_total", COUNTER, offsetof(daq_storage_stats, errors),
         "Recorder errors (disk full, I/O errors) since the daemon started."},
        {"daq_recorder_disk_free_bytes", GAUGE, offsetof(daq_storage_stats, disk_free_bytes),
         "Bytes available on the file system of the recorder's output directory."},
    };
    for (size_t i = 0; i < COUNT_OF(scalars); i++) {
        uint64_t v;
        memcpy(&v, (const char *)&st + scalars[i].off, sizeof v);
        family_begin(sb, scalars[i].name, scalars[i].type, scalars[i].help);
        sample(sb, scalars[i].name, NULL, NULL, 0, fmt_u64(num, v));
    }
    family_begin(sb, "daq_recorder_recording", GAUGE, "1 while a recording runs, else 0.");
    sample(sb, "daq_recorder_recording", NULL, NULL, 0, st.recording ? "1" : "0");
    family_begin(sb, "daq_recorder_queue_fill_ratio", GAUGE,
                 "Fill of the fullest camera queue of the running recording, 0 to 1.");
    sample(sb, "daq_recorder_queue_fill_ratio", NULL, NULL, 0,
           fmt_double(num, (double)st.queue_fill_percent / 100.0));

    const char *name = "daq_recorder_flush_duration_seconds";
    family_begin(sb, name, HISTOGRAM, "Duration of the recorder's flushes to disk.");
    char le[NUM_MAX];
    label l = {"le", le};
    for (unsigned i = 0; i < DAQ_STORAGE_FLUSH_BUCKETS; i++) {
        fmt_double(le, (double)(1ull << i) / 1e3); /* bucket i: le 2^i ms */
        sample(sb, name, "_bucket", &l, 1, fmt_u64(num, st.flush_bucket[i]));
    }
    uint64_t total = st.flush_bucket[DAQ_STORAGE_FLUSH_BUCKETS];
    strcpy(le, "+Inf");
    sample(sb, name, "_bucket", &l, 1, fmt_u64(num, total));
    sample(sb, name, "_sum", NULL, 0, fmt_ns_seconds(num, st.flush_ns_sum));
    sample(sb, name, "_count", NULL, 0, fmt_u64(num, total));
}
#endif

/* A counter family with one sample per reason: reasons[i] counts[i]. */
static void counter_by_reason(daq_sbuf *sb, const char *name, const char *help,
                              const char *const *reasons, const uint64_t *counts, size_t n)
{
    char num[NUM_MAX];
    family_begin(sb, name, COUNTER, help);
    for (size_t r = 0; r < n; r++) {
        label l = {"reason", reasons[r]};
        sample(sb, name, NULL, &l, 1, fmt_u64(num, counts[r]));
    }
}

/* ---- the HTTP server ------------------------------------------------------------------------ */

static void render_http(daq_sbuf *sb, const daq_http_stats *st)
{
    char num[NUM_MAX];
    family_begin(sb, "daq_http_connections_accepted_total", COUNTER,
                 "Connections the metrics endpoint admitted since it started.");
    sample(sb, "daq_http_connections_accepted_total", NULL, NULL, 0, fmt_u64(num, st->accepted));
    counter_by_reason(sb, "daq_http_rejected_connections_total",
                      "Connections the metrics endpoint refused or closed, by reason: "
                      "client_limit, limit (connection limits), evicted (unfinished, for a newer "
                      "connection), deadline (request not in or reply not out in time).",
                      daq_http_reject_names, st->rejected, DAQ_HTTP_REJECT_COUNT);
    family_begin(sb, "daq_http_connections_open", GAUGE,
                 "Connections open on the metrics endpoint now.");
    sample(sb, "daq_http_connections_open", NULL, NULL, 0, fmt_u64(num, st->open));
}

static void render_memory(daq_sbuf *sb, daq_devices *devices)
{
    uint64_t budget, committed;
    daq_devices_memory(devices, &budget, &committed);
    char num[NUM_MAX];
    family_begin(sb, "daq_memory_budget_bytes", GAUGE,
                 "Memory the cameras may hold: [limits] memory_mb (0: half of RAM).");
    sample(sb, "daq_memory_budget_bytes", NULL, NULL, 0, fmt_u64(num, budget));
    family_begin(sb, "daq_memory_committed_bytes", GAUGE,
                 "Of it, held by the cameras' pools and rings as their last starts planned, "
                 "plus [limits] streams x the largest frame for stream buffers.");
    sample(sb, "daq_memory_committed_bytes", NULL, NULL, 0, fmt_u64(num, committed));
}

/* Device recovery ([recovery], daq_device_recovery_snapshot): one record
 * lock per device, never held during an attempt. */
typedef enum recovery_family {
    R_RECOVERING,
    R_ATTEMPTS,
    R_OUTAGES,
    R_DOWNTIME,
    R_MISSED,
    R_COUNT
} recovery_family;

static const struct {
    const char *name;
    family_type type;
    const char *help;
} recovery_families[R_COUNT] = {
    [R_RECOVERING] = {"daq_device_recovering", GAUGE,
                      "1 while recovery retries the device (down, or its stream failed), else 0."},
    [R_ATTEMPTS] = {"daq_device_recovery_attempts", GAUGE,
                    "Failed recovery attempts in the device's current outage (0 when none)."},
    [R_OUTAGES] = {"daq_device_outages_total", COUNTER,
                   "Outages recovery has seen: down at start, a failed stream or autostart."},
    [R_DOWNTIME] = {"daq_device_downtime_seconds_total", COUNTER,
                    "Time the device spent in outages, the current one included."},
    [R_MISSED] = {"daq_device_frames_missed_total", COUNTER,
                  "Estimated frames not acquired during ended outages: each one's length x the "
                  "rate of the stream that failed."},
};

static const char *recovery_value(char *num, const daq_device_recovery *r, recovery_family f)
{
    switch (f) {
    case R_RECOVERING: return r->recovering ? "1" : "0";
    case R_ATTEMPTS: return fmt_u64(num, r->attempts);
    case R_OUTAGES: return fmt_u64(num, r->outages);
    case R_DOWNTIME: return fmt_ns_seconds(num, r->downtime_ns);
    case R_MISSED: return fmt_u64(num, r->frames_missed);
    case R_COUNT: break;
    }
    return "0";
}

static void render_recovery(daq_sbuf *sb, daq_devices *devices)
{
    size_t n = daq_devices_count(devices);
    n = n < DAQ_CONFIG_MAX_DEVICES ? n : DAQ_CONFIG_MAX_DEVICES;
    daq_device_recovery r[DAQ_CONFIG_MAX_DEVICES];
    for (size_t i = 0; i < n; i++)
        daq_device_recovery_snapshot(daq_devices_at(devices, i), &r[i]);
    char num[NUM_MAX];
    family_begin(sb, "daq_device_recoveries_total", COUNTER,
                 "Recovery attempts by outcome: recovered (the device came back, streaming again "
                 "if it was) or failed.");
    for (size_t i = 0; i < n; i++) {
        const char *id = daq_device_id(daq_devices_at(devices, i));
        label ok[] = {{"device", id}, {"outcome", "recovered"}};
        sample(sb, "daq_device_recoveries_total", NULL, ok, 2, fmt_u64(num, r[i].recovered));
        label bad[] = {{"device", id}, {"outcome", "failed"}};
        sample(sb, "daq_device_recoveries_total", NULL, bad, 2, fmt_u64(num, r[i].failed));
    }
    for (int f = 0; f < R_COUNT; f++) {
        family_begin(sb, recovery_families[f].name, recovery_families[f].type,
                     recovery_families[f].help);
        for (size_t i = 0; i < n; i++) {
            label l = {"device", daq_device_id(daq_devices_at(devices, i))};
            sample(sb, recovery_families[f].name, NULL, &l, 1,
                   recovery_value(num, &r[i], (recovery_family)f));
        }
    }
}

/* The rollback symptom watch (daq/watch.h): per camera its own symptoms,
 * the process's rss_* ones once with device="process" (they are the same
 * on every device's record).  One record lock per device, for a copy. */
typedef enum symptom_family { S_ACTIVE, S_VALUE, S_THRESHOLD, S_RAISED, S_COUNT } symptom_family;

static const struct {
    const char *name;
    family_type type;
    const char *help;
} symptom_families[S_COUNT] = {
    [S_ACTIVE] = {"daq_rollback_symptom", GAUGE,
                  "1 while the rollback plan's symptom is active ([rollback] thresholds, window, "
                  "warm-up and hysteresis), else 0."},
    [S_VALUE] = {"daq_rollback_symptom_value", GAUGE,
                 "The symptom's value over the window: exhaustion events per minute, mean alloc "
                 "time in microseconds, lost frames, RSS growth in percent of the baseline."},
    [S_THRESHOLD] = {"daq_rollback_symptom_threshold", GAUGE,
                     "The symptom's threshold from [rollback]: it rises above it."},
    [S_RAISED] = {"daq_rollback_symptom_raised_total", COUNTER, "Times the symptom rose."},
};

static const char *symptom_value(char *num, const daq_symptom_state *s, symptom_family f)
{
    switch (f) {
    case S_ACTIVE: return s->active ? "1" : "0";
    case S_VALUE: return fmt_double(num, s->value);
    case S_THRESHOLD: return fmt_double(num, s->threshold);
    case S_RAISED: return fmt_u64(num, s->raised_total);
    case S_COUNT: break;
    }
    return "0";
}

/* [[sync_groups]] (daq/sync.h): one stats copy per group, one short lock each. */
static void render_sync(daq_sbuf *sb, daq_devices *devices)
{
    size_t n = devices ? daq_devices_sync_count(devices) : 0;
    daq_sync_stats *st = calloc(n ? n : 1, sizeof *st); /* ~3 KiB each, per scrape */
    if (!st)
        n = 0; /* the families still say what they would hold */
    for (size_t g = 0; g < n; g++)
        daq_sync_group_stats(daq_devices_sync_at(devices, g), &st[g]);
    char num[NUM_MAX];
    family_begin(sb, "daq_sync_matched_total", COUNTER,
                 "Trigger indices every camera of the sync group delivered a frame for "
                 "(matched sets).");
    for (size_t g = 0; g < n; g++) {
        label l = {"group", st[g].name};
        sample(sb, "daq_sync_matched_total", NULL, &l, 1, fmt_u64(num, st[g].matched));
    }
    family_begin(sb, "daq_sync_mismatch_total", COUNTER,
                 "Trigger indices this camera lacked while another camera of its sync group had "
                 "them (after match_timeout_ms, or once a later index completed).");
    for (size_t g = 0; g < n; g++)
        for (unsigned i = 0; i < st[g].n_members; i++) {
            label l[] = {{"group", st[g].name}, {"device", st[g].member[i].device}};
            sample(sb, "daq_sync_mismatch_total", NULL, l, 2,
                   fmt_u64(num, st[g].member[i].mismatched));
        }
    family_begin(sb, "daq_sync_skew_seconds", GAUGE,
                 "Spread (latest minus earliest) of the estimated exposure starts within the "
                 "group's matched sets since start: quantiles of a log-linear histogram (each "
                 "at most 12.5 % above the true value).");
    for (size_t g = 0; g < n; g++) {
        if (!st[g].skew_count)
            continue;
        label q50[] = {{"group", st[g].name}, {"quantile", "0.5"}};
        sample(sb, "daq_sync_skew_seconds", NULL, q50, 2, fmt_double(num, st[g].skew_p50_s));
        label q99[] = {{"group", st[g].name}, {"quantile", "0.99"}};
        sample(sb, "daq_sync_skew_seconds", NULL, q99, 2, fmt_double(num, st[g].skew_p99_s));
    }
    family_begin(sb, "daq_sync_open_sets", GAUGE,
                 "Trigger indices some but not all cameras of the sync group have delivered.");
    for (size_t g = 0; g < n; g++) {
        label l = {"group", st[g].name};
        sample(sb, "daq_sync_open_sets", NULL, &l, 1, fmt_u64(num, st[g].open));
    }
    free(st);
}

static void render_rollback(daq_sbuf *sb, daq_devices *devices)
{
    size_t n = daq_devices_count(devices);
    n = n < DAQ_CONFIG_MAX_DEVICES ? n : DAQ_CONFIG_MAX_DEVICES;
    daq_symptom_state sym[DAQ_CONFIG_MAX_DEVICES][DAQ_SYMPTOM_COUNT];
    daq_device_rollback rb[DAQ_CONFIG_MAX_DEVICES];
    for (size_t i = 0; i < n; i++) {
        daq_device_symptoms(daq_devices_at(devices, i), sym[i]);
        daq_device_rollback_snapshot(daq_devices_at(devices, i), &rb[i]);
    }
    char num[NUM_MAX];
    for (int f = 0; f < S_COUNT; f++) {
        const char *name = symptom_families[f].name;
        family_begin(sb, name, symptom_families[f].type, symptom_families[f].help);
        for (size_t i = 0; i < n; i++)
            for (int k = 0; k < DAQ_SYMPTOM_RSS_GROWTH_WARN; k++) {
                label l[] = {{"device", daq_device_id(daq_devices_at(devices, i))},
                             {"symptom", daq_symptom_names[k]}};
                sample(sb, name, NULL, l, 2, symptom_value(num, &sym[i][k], (symptom_family)f));
            }
        for (int k = DAQ_SYMPTOM_RSS_GROWTH_WARN; n && k < DAQ_SYMPTOM_COUNT; k++) {
            label l[] = {{"device", "process"}, {"symptom", daq_symptom_names[k]}};
            sample(sb, name, NULL, l, 2, symptom_value(num, &sym[0][k], (symptom_family)f));
        }
    }
    family_begin(sb, "daq_rollback_auto_total", COUNTER,
                 "Automatic rollbacks ([rollback] auto): the camera's use_pool turned off live.");
    for (size_t i = 0; i < n; i++) {
        label l = {"device", daq_device_id(daq_devices_at(devices, i))};
        sample(sb, "daq_rollback_auto_total", NULL, &l, 1, fmt_u64(num, rb[i].auto_rollbacks));
    }
}

/* ---- process --------------------------------------------------------------------------------- */

static double process_start_unix;

/* The process start as every Prometheus client reports it: the kernel's
 * start time of the process (field 22 of /proc/self/stat, in clock ticks
 * after boot) plus the boot time (btime in /proc/stat).  Stable across
 * scrapes, unlike anything derived from "now".  0 if /proc says nothing. */
static void process_start_read(void)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* comm (field 2) may hold spaces and parentheses: start after the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p)
        return;
    unsigned long long ticks = 0;
    int field = 2;
    char *save = NULL;
    for (char *tok = strtok_r(p + 1, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        if (++field == 22) {
            ticks = strtoull(tok, NULL, 10);
            break;
        }
    }
    unsigned long long btime = 0;
    f = fopen("/proc/stat", "r");
    if (!f)
        return;
    char line[256];
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "btime %llu", &btime) == 1)
            break;
    fclose(f);
    long hz = sysconf(_SC_CLK_TCK);
    if (btime && ticks && hz > 0)
        process_start_unix = (double)btime + (double)ticks / (double)hz;
}

static void render_process(daq_sbuf *sb, uint64_t process_start_ns)
{
    char num[NUM_MAX];
    long page = sysconf(_SC_PAGESIZE);
    unsigned long long vm_pages = 0, rss_pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%llu %llu", &vm_pages, &rss_pages) != 2)
            vm_pages = rss_pages = 0;
        fclose(f);
    }
    family_begin(sb, "process_resident_memory_bytes", GAUGE, "Resident memory size in bytes.");
    sample(sb, "process_resident_memory_bytes", NULL, NULL, 0,
           fmt_u64(num, (uint64_t)rss_pages * (uint64_t)page));
    family_begin(sb, "process_virtual_memory_bytes", GAUGE, "Virtual memory size in bytes.");
    sample(sb, "process_virtual_memory_bytes", NULL, NULL, 0,
           fmt_u64(num, (uint64_t)vm_pages * (uint64_t)page));

    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, process_start_read);
    uint64_t now = daq_now_ns();
    uint64_t up_ns = now > process_start_ns ? now - process_start_ns : 0;
    double start = process_start_unix;
    if (start <= 0) { /* no /proc: from the caller's monotonic start */
        struct timespec rt;
        clock_gettime(CLOCK_REALTIME, &rt);
        start = (double)rt.tv_sec + (double)rt.tv_nsec / 1e9 - (double)up_ns / 1e9;
    }
    family_begin(sb, "process_start_time_seconds", GAUGE,
                 "Start time of the process since the Unix epoch in seconds.");
    sample(sb, "process_start_time_seconds", NULL, NULL, 0, fmt_double(num, start));

    struct rusage ru;
    uint64_t cpu_us = 0;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        cpu_us = (uint64_t)ru.ru_utime.tv_sec * 1000000u + (uint64_t)ru.ru_utime.tv_usec +
                 (uint64_t)ru.ru_stime.tv_sec * 1000000u + (uint64_t)ru.ru_stime.tv_usec;
    family_begin(sb, "process_cpu_seconds_total", COUNTER,
                 "Total user and system CPU time spent in seconds.");
    sample(sb, "process_cpu_seconds_total", NULL, NULL, 0, fmt_ns_seconds(num, cpu_us * 1000u));

    family_begin(sb, "daq_uptime_seconds", GAUGE, "Seconds since the daq process started.");
    sample(sb, "daq_uptime_seconds", NULL, NULL, 0, fmt_ns_seconds(num, up_ns));
}

/* ---- the whole exposition ----------------------------------------------------------------------
 */

static void snaps_free(dev_snap *ds, size_t n)
{
    for (size_t d = 0; d < n; d++)
        free(ds[d].subs);
    free(ds);
}

size_t daq_metrics_device_views(daq_devices *ds, daq_metrics_device *out, size_t max)
{
    size_t n = daq_devices_count(ds);
    n = n < max ? n : max;
    for (size_t i = 0; i < n; i++) {
        daq_device *d = daq_devices_at(ds, i);
        out[i] = (daq_metrics_device){daq_device_id(d), daq_device_driver(d), daq_device_acq(d),
                                      daq_device_bus(d)};
    }
    return n;
}

char *daq_metrics_render(const daq_metrics_device *devs, size_t n, struct daq_storage *storage,
                         uint64_t process_start_ns, size_t *len)
{
    daq_metrics_sources src = {
        .devs = devs, .n = n, .storage = storage, .process_start_ns = process_start_ns};
    return daq_metrics_render_sources(&src, len);
}

/* The gRPC streams' limits (server/stream_set.h): process-wide counters,
 * zeros included so rate() works from the first scrape. */
static void render_grpc_streams(daq_sbuf *sb)
{
    char num[NUM_MAX];
    daq_stream_counts c;
    daq_stream_counts_snapshot(&c);
    family_begin(sb, "daq_grpc_streams_open", GAUGE, "StreamFrames calls being served now.");
    sample(sb, "daq_grpc_streams_open", NULL, NULL, 0, fmt_u64(num, c.streams_open));
    family_begin(sb, "daq_grpc_subscribers_open", GAUGE,
                 "StreamParameterChanges and health Watch calls open now.");
    sample(sb, "daq_grpc_subscribers_open", NULL, NULL, 0, fmt_u64(num, c.subscribers_open));
    counter_by_reason(sb, "daq_grpc_streams_refused_total",
                      "Streaming calls refused RESOURCE_EXHAUSTED, by reason: streams, "
                      "streams_per_client, subscribers ([limits]), message_size (a frame over "
                      "the message limit).",
                      daq_stream_refusal_names, c.refused, DAQ_REFUSED_N);
    family_begin(sb, "daq_grpc_streams_stalled_total", COUNTER,
                 "Frame streams ended DEADLINE_EXCEEDED because the client took no frame for "
                 "[limits] stall_timeout_ms.");
    sample(sb, "daq_grpc_streams_stalled_total", NULL, NULL, 0, fmt_u64(num, c.stalled));
}

char *daq_metrics_render_sources(const daq_metrics_sources *src, size_t *len)
{
    const daq_metrics_device *devs = src->devs;
    size_t n = src->n;
    struct daq_storage *storage = src->storage;
    uint64_t process_start_ns = src->process_start_ns;
    if (len)
        *len = 0;
    dev_snap *ds = calloc(n ? n : 1, sizeof *ds);
    if (!ds)
        return NULL;
    for (size_t d = 0; d < n; d++) {
        ds[d].id = devs[d].id ? devs[d].id : "";
        ds[d].driver = devs[d].driver ? devs[d].driver : "";
        ds[d].up = devs[d].acq != NULL;
        if (ds[d].up) {
            daq_acq_stats_snapshot(devs[d].acq, &ds[d].st);
            ds[d].has_pool = ds[d].st.pool.slot_count > 0;
        }
        if (devs[d].bus && !snap_consumers(devs[d].bus, &ds[d])) {
            snaps_free(ds, n);
            return NULL;
        }
    }

    daq_sbuf sb = {0};
    render_device(&sb, ds, n);
    render_state(&sb, ds, n);
    render_scalars(&sb, ds, n, acq_families, COUNT_OF(acq_families));
    render_scalars(&sb, ds, n, pool_families, COUNT_OF(pool_families));
    render_pool_heap(&sb, ds, n);
    render_pool_latency(&sb, ds, n);
    render_consumers(&sb, ds, n);
    render_scalars(&sb, ds, n, camera_families, COUNT_OF(camera_families));
    render_camera_events(&sb, ds, n);
    render_triggers(&sb, ds, n);
    render_scalars(&sb, ds, n, trigger_families, COUNT_OF(trigger_families));
    render_clock(&sb, ds, n);
#ifdef DAQ_WITH_STORAGE
    if (storage)
        render_recorder(&sb, storage);
#else
    (void)storage; /* no recorder in this build */
#endif
    if (src->http)
        render_http(&sb, src->http);
    if (src->devices)
        render_memory(&sb, src->devices);
    if (src->devices)
        render_recovery(&sb, src->devices);
    if (src->devices)
        render_rollback(&sb, src->devices);
    render_sync(&sb, src->devices); /* its families even without a table */
    render_grpc_streams(&sb);
    render_process(&sb, process_start_ns);
    snaps_free(ds, n);

    if (sb.oom || !sb.p) {
        free(sb.p);
        return NULL;
    }
    if (len)
        *len = sb.len;
    return sb.p;
}
