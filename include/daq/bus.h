/* daq/bus.h - fan-out of frames from one producer to many consumers.
 *
 * One bus per camera.  The acquisition thread publishes each frame once;
 * every subscription gets its own reference in its own bounded queue, and
 * each consumer pulls from its queue on its own thread.  A subscription has
 * a policy for a full queue:
 *
 *   LOSSLESS     the producer waits up to lossless_timeout_ms for room, then
 *                drops the frame for this subscription and counts it
 *   DROP_NEWEST  the new frame is dropped for this subscription
 *   DROP_OLDEST  the oldest queued frame is dropped to make room
 *   LATEST       queue of one, always the newest frame (newest-only)
 *
 * plus two gates applied before queueing: decimation (every N-th published
 * frame) and a maximum rate (max_fps, by the frames' end-of-frame
 * timestamps).  Only LOSSLESS can make the producer wait, and never longer
 * than its bound per frame.
 *
 * Bound: a consumer that takes one frame at a time (unrefs it before the
 * next daq_sub_next) holds at most queue_depth + 1 frames, however slow or
 * stuck it is.  Pool sizing relies on this: daq_bus_frames_bound().
 *
 * Subscriptions can be added and removed while frames flow.  Nothing is
 * allocated per frame: queues are rings sized at subscribe time.
 *
 * Ownership: daq_bus_publish borrows the frame (it takes one reference per
 * queue it enters).  daq_sub_next hands the caller an owned reference.
 * The bus owns its subscriptions; daq_bus_unsubscribe frees one, and
 * daq_bus_destroy frees all that remain.
 */
#ifndef DAQ_BUS_H
#define DAQ_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daq/api.h"
#include "daq/frame.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct daq_bus daq_bus;
typedef struct daq_sub daq_sub;

typedef enum daq_sub_policy {
    DAQ_SUB_LOSSLESS = 0,
    DAQ_SUB_DROP_NEWEST,
    DAQ_SUB_DROP_OLDEST,
    DAQ_SUB_LATEST,
} daq_sub_policy;

/* The policies' names indexed by daq_sub_policy, NULL-terminated:
 * "lossless", "drop-newest", "drop-oldest", "latest". */
DAQ_API extern const char *const daq_sub_policy_names[];
/* Static storage; "?" when out of range. */
DAQ_API const char *daq_sub_policy_name(daq_sub_policy p);
/* Parses the names above (also with '_' for '-'); returns 0 or -1. */
DAQ_API int daq_sub_policy_parse(const char *s, daq_sub_policy *out);

#define DAQ_SUB_MAX_DEPTH 4096u

typedef struct daq_sub_config {
    const char *name; /* copied; for stats and logs */
    daq_sub_policy policy;
    uint32_t queue_depth;         /* 1..DAQ_SUB_MAX_DEPTH; forced to 1 for LATEST */
    uint32_t lossless_timeout_ms; /* LOSSLESS: longest wait per frame */
    uint32_t decimate;            /* deliver every N-th published frame; 0/1 = all */
    double max_fps;               /* 0 = unlimited */
    /* Called each time a frame or an end of stream enters the queue, on the
     * publishing thread (the acquisition thread) under the subscription's
     * lock: it must be O(1), take only leaf locks and never wait.  Lets a
     * consumer that has no thread of its own learn that there is work.
     * NULL: none, and no cost.  Never called once daq_sub_close or
     * daq_bus_unsubscribe has returned. */
    void (*notify)(void *ctx);
    void *notify_ctx;
    /* A direct subscription (the zero-copy tap, ADR 0012) has no queue: a
     * frame that passes the gates is handed to deliver on the publishing
     * thread, under the subscription's lock.  deliver borrows f and takes
     * its own reference if it keeps it; it returns true when it took the
     * frame (counted enqueued and delivered) and false when it refused it
     * (counted dropped_full: drop-newest).  An end of stream calls
     * deliver(ctx, NULL), whose return is ignored.  The rules of notify
     * hold: O(1), leaf locks only, never waits (a non-blocking send is
     * fine), never called once daq_sub_close or daq_bus_unsubscribe has
     * returned.  queue_depth is then the most frames the consumer holds at
     * once (it counts in daq_bus_frames_bound), policy reads DROP_NEWEST
     * and daq_sub_next answers DAQ_SUB_CLOSED.  NULL: a queued subscription. */
    bool (*deliver)(void *ctx, daq_frame *f);
    void *deliver_ctx;
} daq_sub_config;

/* Defaults: DROP_OLDEST, depth 4, lossless timeout 100 ms, no gates. */
DAQ_API void daq_sub_config_init(daq_sub_config *cfg);

/* name is copied.  Returns a bus the caller owns (daq_bus_destroy); NULL
 * only when out of memory. */
DAQ_API daq_bus *daq_bus_create(const char *name);

/* Frees the bus and every subscription still on it, dropping queued
 * frames.  No thread may be publishing or inside daq_sub_next. */
DAQ_API void daq_bus_destroy(daq_bus *bus);

/* Adds a subscription; it sees frames published after this returns.  The
 * subscription is owned by the bus (freed by daq_bus_unsubscribe or
 * daq_bus_destroy); the caller borrows it until then.  cfg is copied.
 * Returns NULL with a message in err for an invalid config. */
DAQ_API daq_sub *daq_bus_subscribe(daq_bus *bus, const daq_sub_config *cfg, char *err,
                                   size_t err_len);

/* Removes and frees sub, dropping its queued frames.  Must not race with a
 * daq_sub_next on the same sub: daq_sub_close it and join its consumer
 * first.  Safe while the producer publishes. */
DAQ_API void daq_bus_unsubscribe(daq_bus *bus, daq_sub *sub);

/* Producer side: offers f to every subscription.  Borrows f.  Returns the
 * number of queues it entered. */
DAQ_API unsigned daq_bus_publish(daq_bus *bus, daq_frame *f);

/* Makes a publish that is waiting on a full LOSSLESS queue give up now (the
 * frame is dropped for that subscription and counted as dropped_timeout).
 * Any thread; for stopping a producer promptly.  Later publishes wait as
 * usual. */
DAQ_API void daq_bus_interrupt(daq_bus *bus);

/* Marks the end of a stream: each subscription's daq_sub_next returns
 * DAQ_SUB_EOS once, after the frames already queued.  Later frames flow as
 * usual. */
DAQ_API void daq_bus_end_stream(daq_bus *bus);

/* Sum over subscriptions of (queue depth + 1): the most frames consumers
 * can hold at once.  Used to size the pool. */
DAQ_API uint32_t daq_bus_frames_bound(const daq_bus *bus);
DAQ_API unsigned daq_bus_sub_count(const daq_bus *bus);

/* daq_sub_next results. */
enum {
    DAQ_SUB_FRAME = 1,   /* *out holds a frame; the caller owns the reference */
    DAQ_SUB_TIMEOUT = 0, /* nothing within timeout */
    DAQ_SUB_EOS = -1,    /* end of stream (see daq_bus_end_stream) */
    DAQ_SUB_CLOSED = -2, /* daq_sub_close was called */
};

/* Consumer side: the oldest queued frame, waiting up to timeout_ns
 * (< 0: forever, 0: poll). */
DAQ_API int daq_sub_next(daq_sub *sub, int64_t timeout_ns, daq_frame **out);

/* Wakes a consumer blocked in daq_sub_next (it returns DAQ_SUB_CLOSED, as
 * do all later calls) and stops deliveries to sub.  Any thread. */
DAQ_API void daq_sub_close(daq_sub *sub);

typedef struct daq_sub_stats {
    char name[64];
    daq_sub_policy policy;
    uint32_t queue_depth;
    uint64_t offered;          /* frames published while subscribed */
    uint64_t enqueued;         /* entered the queue */
    uint64_t delivered;        /* taken by daq_sub_next */
    uint64_t skipped_decimate; /* not offered to the queue: decimation gate */
    uint64_t skipped_rate;     /* not offered to the queue: max_fps gate */
    uint64_t dropped_full;     /* DROP_NEWEST: queue full */
    uint64_t dropped_oldest;   /* DROP_OLDEST / LATEST: evicted */
    uint64_t dropped_timeout;  /* LOSSLESS: waited the bound, still full */
    uint64_t dropped;          /* sum of the three drop counters */
    uint64_t lossless_waits;   /* LOSSLESS: times the producer had to wait */
    uint64_t lossless_wait_ns; /* LOSSLESS: total time the producer waited */
    uint32_t queued;           /* in the queue now */
    uint32_t queue_high_water;
} daq_sub_stats;

DAQ_API void daq_sub_stats_snapshot(const daq_sub *sub, daq_sub_stats *out);

/* Stats of every subscription, at most max of them; returns how many. */
DAQ_API unsigned daq_bus_stats_snapshot(const daq_bus *bus, daq_sub_stats *out, unsigned max);

#ifdef __cplusplus
}
#endif
#endif
