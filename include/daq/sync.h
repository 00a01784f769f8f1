/* daq/sync.h - several cameras in step: a matcher that pairs their frames by
 * trigger index (ADR 0011, decision 6).
 *
 * A sync group names cameras that share one trigger line.  Every frame they
 * deliver for trigger k carries trigger_index k (daq_frame_meta), so the
 * group matches frames by index, not by arrival time: a camera that missed a
 * pulse leaves a hole the matcher can name, where a time window would pair
 * the wrong frames for ever after.
 *
 * Keys.  A frame's key is (trigger_index, ordinal): the ordinal counts the
 * frames a camera delivered for that index (0, 1, ... : frames_per_trigger >
 * 1, or the free-running sequence of a *_first mode, all of which carry one
 * index), so the k-th frame of trigger i on one camera pairs with the k-th on
 * the others.  Not matched, only counted: frames with index 0 (not
 * triggered) and frames flagged DAQ_FRAME_FLAG_TRIGGER_EXTRA (a doubled
 * trigger's surplus: the other cameras never get one).
 *
 * Sets.  A key's set opens with the first member's frame of it and is
 * complete when every member has one: it is reported as matched and its
 * skew (the latest minus the earliest estimated exposure start:
 * exposure_start_real_ns, or bof_ns where that is 0) enters a histogram.
 * An open set is declared a mismatch -- counted against every member that
 * lacks it, reported as unmatched with what it has -- when
 *   - match_timeout_ms passed since its first frame, or
 *   - a later key completed on every member (cameras deliver in order, so
 *     the missing frame will not come), or
 *   - more than max_open sets are open (the oldest goes first).
 * Except against a member whose first frame (since the group began, or
 * reset) has a later key: those triggers came before it was listening (a
 * camera armed after the others on a running line), so such a set counts
 * against nobody (before_start) when every member lacking it is one.
 * A frame for a key already resolved (a camera later than the timeout) is
 * counted as late and dropped.  A member whose keys go backwards (its
 * stream restarted and counts from 1 again) resets the group: open sets are
 * released uncounted (abandoned) and matching starts afresh.
 *
 * Frames.  With hold_frames the matcher keeps a reference to each frame of
 * an open set (at most max_open x members frames: size the pool for it) and
 * lends a resolved set's frames to on_set, which must daq_frame_ref any it
 * keeps; without, it reads each frame's metadata and drops the frame at
 * once, holding nothing -- a group then costs the pool only its
 * subscriptions' queues, and on_set sees frames[] all NULL.  A frame is
 * shared and read-only by the time the group sees it, so an unmatched frame
 * is flagged to a consumer by its set's complete = false, not in its
 * metadata.
 *
 * Bound.  max_open must cover how far one member's frames can run ahead of
 * another's: the cameras' engine threads are scheduled independently, so at
 * 5000 triggers/s a 20 ms lag is 100 open sets.  Default 1024 (200 ms at
 * 5 kHz; ~200 bytes each when frames are not held); a holder of frames
 * chooses its own (64 x 8 MiB is already 512 MiB per member).
 *
 * Two ways to drive it:
 *   - attached (the daemon, the bench): daq_sync_group_attach gives each
 *     member a LOSSLESS subscription on its camera's bus; daq_sync_group_start
 *     runs one thread that drains them round-robin (one frame per member per
 *     turn, so open sets stay few) and expires timeouts; callbacks run on it.
 *   - manual (tests, a caller with its own thread): daq_sync_group_offer /
 *     daq_sync_group_expire / daq_sync_group_flush with the caller's clock.
 * Never both at once: the matching state belongs to one thread.
 *
 * Threading: daq_sync_group_stats may be called from any thread at any
 * time (one short lock).  Everything else from one thread, or the group's.
 * Ownership: the caller owns the group (daq_sync_group_destroy); buses are
 * borrowed and must outlive it (or daq_sync_group_stop must run first).
 */
#ifndef DAQ_SYNC_H
#define DAQ_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daq/api.h"
#include "daq/bus.h"
#include "daq/frame.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DAQ_SYNC_MAX_MEMBERS         16u
#define DAQ_SYNC_MAX_OPEN_DEFAULT    1024u
#define DAQ_SYNC_MAX_OPEN_LIMIT      4096u
#define DAQ_SYNC_TIMEOUT_MS_MAX      3600000u
#define DAQ_SYNC_QUEUE_DEPTH_DEFAULT 8u

typedef struct daq_sync_group daq_sync_group;

/* One set as the callback sees it.  frames[i] is member i's frame, borrowed
 * for the call (NULL where the member lacked it, and all NULL without
 * hold_frames). */
typedef struct daq_sync_set {
    uint64_t trigger_index;
    uint32_t ordinal; /* the frame's rank within its trigger on each camera */
    bool complete;    /* matched; else a mismatch being released */
    unsigned n_members;
    daq_frame *frames[DAQ_SYNC_MAX_MEMBERS];
    uint64_t skew_ns; /* complete sets: max - min estimated exposure start */
} daq_sync_set;

/* Called for every resolved set, in the order sets resolve, on the thread
 * driving the group, with no lock held.  It must not call this group's
 * functions other than daq_sync_group_stats. */
typedef void (*daq_sync_set_fn)(void *ctx, const daq_sync_set *set);

typedef struct daq_sync_config {
    const char *name;          /* copied; for stats and logs */
    uint32_t match_timeout_ms; /* 1..DAQ_SYNC_TIMEOUT_MS_MAX */
    uint32_t max_open;         /* open sets kept, 1..DAQ_SYNC_MAX_OPEN_LIMIT */
    /* Attached mode: each member's LOSSLESS subscription. */
    uint32_t queue_depth;         /* 1..DAQ_SUB_MAX_DEPTH */
    uint32_t lossless_timeout_ms; /* the camera's longest wait per frame */
    daq_sync_set_fn on_set;       /* NULL: counters only */
    void *ctx;
    bool hold_frames; /* keep open sets' frames and lend them to on_set */
} daq_sync_config;

/* Defaults: timeout 1000 ms, max_open 1024, queue depth 8, lossless
 * timeout 100 ms, no callback, frames not held. */
DAQ_API void daq_sync_config_init(daq_sync_config *cfg);

/* A group of n (2..DAQ_SYNC_MAX_MEMBERS) members named by members[] (device
 * ids, copied; member i is index i everywhere below).  cfg is copied.
 * Returns a group the caller owns, or NULL with a message. */
DAQ_API daq_sync_group *daq_sync_group_create(const daq_sync_config *cfg,
                                              const char *const *members, unsigned n, char *err,
                                              size_t err_len);

/* Stops the thread if running, unsubscribes, releases open sets (abandoned,
 * not counted as mismatches) and frees.  NULL ok. */
DAQ_API void daq_sync_group_destroy(daq_sync_group *g);

/* Attached mode.  Subscribes member to bus (LOSSLESS, the configured depth;
 * the subscription is named "sync:GROUP").  Before start; bus is borrowed.
 * 0, or -1 with a message. */
DAQ_API int daq_sync_group_attach(daq_sync_group *g, unsigned member, daq_bus *bus, char *err,
                                  size_t err_len);
/* Starts the matching thread; every member must be attached.  0, or -1
 * with a message. */
DAQ_API int daq_sync_group_start(daq_sync_group *g, char *err, size_t err_len);
/* Joins the thread (frames still queued stay queued) and unsubscribes.
 * Idempotent. */
DAQ_API void daq_sync_group_stop(daq_sync_group *g);

/* Manual mode.  Offers member's frame f (consumed: the group takes over the
 * caller's reference) at the caller's monotonic now_ns. */
DAQ_API void daq_sync_group_offer(daq_sync_group *g, unsigned member, daq_frame *f,
                                  uint64_t now_ns);
/* Declares the sets whose match_timeout_ms has passed at now_ns mismatched.
 * Returns the deadline of the oldest set still open (0: none). */
DAQ_API uint64_t daq_sync_group_expire(daq_sync_group *g, uint64_t now_ns);
/* Declares every open set mismatched now (the end of a run). */
DAQ_API void daq_sync_group_flush(daq_sync_group *g);

/* ---- counters ---------------------------------------------------------------- */

typedef struct daq_sync_member_stats {
    char device[64];
    uint64_t frames;      /* frames the group took for this member */
    uint64_t mismatched;  /* sets declared mismatched that this member lacked */
    uint64_t late;        /* frames for a key already resolved: dropped */
    uint64_t untriggered; /* trigger_index 0: not matched */
    uint64_t extra;       /* DAQ_FRAME_FLAG_TRIGGER_EXTRA: not matched */
    uint64_t sub_dropped; /* attached: frames its subscription dropped (bus) */
} daq_sync_member_stats;

typedef struct daq_sync_stats {
    char name[64];
    unsigned n_members;
    uint64_t matched;      /* complete sets */
    uint64_t mismatched;   /* sets declared mismatched (each counts once here,
                            * and once per lacking member below) */
    uint64_t evicted;      /* of those, for want of room (max_open) */
    uint64_t before_start; /* incomplete sets only members that started later lacked */
    uint64_t abandoned;    /* open sets released uncounted: a reset or destroy */
    uint64_t resets;       /* a member's keys went backwards */
    uint32_t open;         /* sets open now */
    uint32_t open_high_water;
    /* Skew of matched sets, seconds: quantiles from a log-linear histogram
     * (8 steps per power of two: each value is the upper edge of its
     * bucket, at most 12.5 % above the truth; exact below 16 ns). */
    uint64_t skew_count;
    double skew_p50_s, skew_p99_s, skew_max_s;
    double skew_sum_s; /* of every matched set's skew: a Prometheus summary's _sum */
    daq_sync_member_stats member[DAQ_SYNC_MAX_MEMBERS];
} daq_sync_stats;

/* Any thread: a consistent copy of the counters. */
DAQ_API void daq_sync_group_stats(daq_sync_group *g, daq_sync_stats *out);
/* The group's name (borrowed for its lifetime). */
DAQ_API const char *daq_sync_group_name(const daq_sync_group *g);

/* ---- the groups of a device table (src/devices/devices.c) ----------------------
 * daq_devices_create builds one attached, running group per [[sync_groups]]
 * entry whose devices are all in the table (none when it was built for one
 * device), in file order; daq_devices_destroy destroys them first.  For
 * metrics: daq_sync_matched_total{group} = matched,
 * daq_sync_mismatch_total{group,device} = member[i].mismatched,
 * daq_sync_skew_seconds{group,quantile="0.5"|"0.99"} = skew_p50_s/p99_s. */
typedef struct daq_devices daq_devices;
DAQ_API size_t daq_devices_sync_count(const daq_devices *ds);
/* Borrowed from the table until daq_devices_destroy; NULL past the end. */
DAQ_API daq_sync_group *daq_devices_sync_at(daq_devices *ds, size_t i);

#ifdef __cplusplus
}
#endif
#endif
