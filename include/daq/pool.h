/* daq/pool.h - a fixed arena of frame slots, and the frame-path allocator.
 *
 * One pool per camera.  At creation it maps one contiguous arena of
 * slot_count * slot_bytes (page- or 2 MiB-aligned), prefaults it so the first
 * frames do not page-fault, and keeps the free slots on a LIFO stack: the
 * slot returned last is handed out first, so hot slots stay in cache and
 * slots never used stay untouched.  Slot headers (struct daq_frame) live in a
 * separate array; the arena is pure pixel data.
 *
 * Two layers:
 *  - raw:  daq_pool_try_acquire() never blocks, daq_pool_acquire() waits with
 *          a timeout.  They ignore use_pool and the exhaustion policy, and are
 *          not counted as hits or misses (returns and occupancy are).
 *  - frame path: daq_pool_alloc() is what acquisition threads call.  It honours
 *          use_pool and the exhaustion policy, counts every outcome and
 *          records its own latency per path (pool / heap) in log2-ns buckets.
 *
 * Test only: DAQ_TEST_ALLOC_DELAY_US=N (read at daq_pool_create, which
 * fails for a bad value) makes every daq_pool_alloc that returns a frame
 * take N us more, counted in its latency (src/pool/test_knob.h).
 *
 * Thread safety: every function may be called from any thread, except that
 * daq_pool_destroy() must not run concurrently with calls that take frames
 * out of the pool (acquire/alloc); frames may still be unref'd from any
 * thread after destroy -- the memory goes away with the last of them.
 */
#ifndef DAQ_POOL_H
#define DAQ_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daq/api.h"
#include "daq/frame.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The compile-time switch (CMake -DDAQ_FRAME_POOL=OFF defines it 0 for
 * every target; ADR 0008): 0 builds an acquisition frame path that copies
 * every frame to the heap with no pool code on it.  The pool itself stays
 * (its API, tests and tools); only the engine stops using it. */
#ifndef DAQ_FRAME_POOL
#define DAQ_FRAME_POOL 1
#endif

typedef struct daq_pool daq_pool;

/* What daq_pool_alloc does when no slot is free. */
typedef enum daq_pool_policy {
    DAQ_POOL_POLICY_HEAP = 0, /* fall back to a heap frame (default) */
    DAQ_POOL_POLICY_DROP,     /* return NULL; the frame is dropped and counted */
    DAQ_POOL_POLICY_WAIT,     /* wait up to wait_timeout_ms, then wait_fallback */
} daq_pool_policy;

/* Largest slot count: a sanity bound on configs and the auto-sizing
 * formula (the free list holds 32-bit indices; 65534 slots of even 4 KiB
 * are 256 MiB of arena).  The number is kept from the first, lock-free
 * free list, whose 16-bit tagged head needed it (ADR 0001). */
#define DAQ_POOL_MAX_SLOTS 65534u

typedef struct daq_pool_config {
    const char *name;    /* copied; used in messages and metrics */
    size_t slot_bytes;   /* pixel bytes per slot, > 0 */
    uint32_t slot_count; /* 1 .. DAQ_POOL_MAX_SLOTS */
    size_t alignment;    /* of each slot's pixels: power of two, >= 64 */
    bool prefault;       /* write every page at creation (default true) */
    bool huge_pages;     /* 2 MiB-align the arena and madvise(MADV_HUGEPAGE) */
    bool lock_memory;    /* mlock the arena; refusal is reported, not fatal */
    /* The arena in a memfd (sealed: it can neither grow nor shrink) mapped
     * MAP_SHARED, so another process can map the same pages read-only
     * (daq_pool_memfd; the zero-copy tap, issue 16).  Same cost on the
     * frame path: prefaulted once like the private arena. */
    bool shareable;
    bool use_pool; /* false: every frame-path alloc goes to the heap */
    daq_pool_policy policy;
    uint32_t wait_timeout_ms;      /* for DAQ_POOL_POLICY_WAIT */
    daq_pool_policy wait_fallback; /* HEAP or DROP, after a wait times out */
} daq_pool_config;

/* Fills defaults: alignment 4096, prefault on, use_pool on, policy heap,
 * wait 10 ms then heap.  slot_bytes and slot_count must still be set. */
DAQ_API void daq_pool_config_init(daq_pool_config *cfg);

/* The environment's verdict on use_pool: 0 when DAQ_USE_POOL or (for
 * rust-daq compatibility) PVCAM_USE_POOL says off ("0", "false", "no",
 * "off"), 1 when one says on and none says off, -1 when neither is set.
 * If which is not NULL it receives the name of the deciding variable
 * (static storage). */
DAQ_API int daq_pool_env_use_pool(const char **which);

/* The use_pool a pool configured with `configured` gets: the environment's
 * verdict when it has one, else configured.  The one place the override is
 * applied (daq_pool_create, and the engine for pools it creates later). */
DAQ_API bool daq_pool_use_pool_resolve(bool configured);

/* Creates a pool.  The environment (daq_pool_env_use_pool) overrides
 * cfg->use_pool.  Returns NULL on failure with a one-line reason in err
 * (if err_len > 0).  Caller owns the pool and releases it with
 * daq_pool_destroy(). */
DAQ_API daq_pool *daq_pool_create(const daq_pool_config *cfg, char *err, size_t err_len);

/* Releases the caller's ownership.  Wakes waiters.  Frames still out stay
 * valid; the arena is unmapped when the last of them is unref'd.  NULL ok. */
DAQ_API void daq_pool_destroy(daq_pool *p);

/* Pops the most recently returned free slot.  Never blocks.  Returns NULL
 * when none is free.  Caller owns the returned reference (refcount 1). */
DAQ_API daq_frame *daq_pool_try_acquire(daq_pool *p);

/* Like try_acquire but waits up to timeout_ns (< 0: forever) for a slot to
 * come home.  Returns NULL on timeout, flush or shutdown.  Caller owns the
 * returned reference. */
DAQ_API daq_frame *daq_pool_acquire(daq_pool *p, int64_t timeout_ns);

/* Wakes every thread waiting in acquire now; they return NULL.  Later
 * waits behave normally. */
DAQ_API void daq_pool_flush(daq_pool *p);

/* Like flush, and permanently: from now on acquire does not wait and the
 * WAIT policy behaves as its fallback.  try_acquire keeps working. */
DAQ_API void daq_pool_shutdown(daq_pool *p);

/* How a frame-path allocation ended. */
typedef enum daq_alloc_outcome {
    DAQ_ALLOC_POOL = 0,       /* a slot, at once */
    DAQ_ALLOC_POOL_WAITED,    /* a slot, after waiting */
    DAQ_ALLOC_HEAP_EXHAUSTED, /* heap frame: no slot free */
    DAQ_ALLOC_HEAP_DISABLED,  /* heap frame: use_pool is off */
    DAQ_ALLOC_DROPPED,        /* NULL: no slot, policy says drop */
    DAQ_ALLOC_FAILED,         /* NULL: the heap allocation failed */
} daq_alloc_outcome;

DAQ_API const char *daq_alloc_outcome_name(daq_alloc_outcome o); /* static storage */

/* The frame-path entry point: a writable frame of slot_bytes, from the pool
 * if use_pool is on and a slot is free, else as the policy says.  Counts the
 * outcome and its latency.  Returns NULL only for DROPPED and FAILED.
 * outcome may be NULL.  Caller owns the returned reference. */
DAQ_API daq_frame *daq_pool_alloc(daq_pool *p, daq_alloc_outcome *outcome);

/* The run-time rollback lever; safe from any thread at any time. */
DAQ_API void daq_pool_set_use_pool(daq_pool *p, bool on);
DAQ_API bool daq_pool_use_pool(const daq_pool *p);

/* Gives the memory of freed heap frames back to the OS (malloc_trim), now
 * and once more 300 ms later (on a thread of its own, created once), when
 * the consumers have let go of the last ones.  For the end of a stream or
 * of heap mode: glibc keeps freed 8 MiB blocks mapped otherwise (RSS stayed
 * at 2.1-3.3x after heap mode or a load).  Syscalls: never per frame. */
DAQ_API void daq_pool_trim_heap(daq_pool *p);

/* Changes the exhaustion policy at run time.  fallback must be HEAP or
 * DROP.  Returns 0, or -1 for an invalid combination (nothing changed). */
DAQ_API int daq_pool_set_policy(daq_pool *p, daq_pool_policy policy, uint32_t wait_timeout_ms,
                                daq_pool_policy fallback);
DAQ_API daq_pool_policy daq_pool_policy_get(const daq_pool *p, uint32_t *wait_timeout_ms,
                                            daq_pool_policy *fallback);
/* The policies' names indexed by daq_pool_policy, NULL-terminated:
 * "heap", "drop", "wait" (the first two are the valid wait fallbacks). */
DAQ_API extern const char *const daq_pool_policy_names[];
/* Static storage; "?" when out of range. */
DAQ_API const char *daq_pool_policy_name(daq_pool_policy policy);
/* Parses one of daq_pool_policy_names; returns 0 or -1. */
DAQ_API int daq_pool_policy_parse(const char *s, daq_pool_policy *out);
/* true if policy is a policy and fallback is HEAP or DROP. */
DAQ_API bool daq_pool_policy_valid(daq_pool_policy policy, daq_pool_policy fallback);

/* Static facts, borrowed for the pool's lifetime. */
DAQ_API const char *daq_pool_name(const daq_pool *p);
DAQ_API size_t daq_pool_slot_bytes(const daq_pool *p);
/* A shareable pool's memfd, borrowed: the pool closes it at its end (dup it
 * to keep it, or to send it with SCM_RIGHTS); -1 for a private arena. */
DAQ_API int daq_pool_memfd(const daq_pool *p);
/* The arena's bytes (the memfd's size) and slot's pixels' offset in it. */
DAQ_API size_t daq_pool_arena_bytes(const daq_pool *p);
DAQ_API size_t daq_pool_slot_offset(const daq_pool *p, uint32_t slot);
DAQ_API uint32_t daq_pool_slot_count(const daq_pool *p);

/* The shared header of one slot of a shareable pool (issue 16, ADR 0012):
 * 64 bytes, little-endian, in a second sealed memfd of slot_count of them
 * (daq_pool_header_memfd), so a process that maps the arena can tell what a
 * slot holds and whether it still holds it.  The pool bumps generation
 * (a full barrier) each time the slot leaves the free list, before anyone
 * writes the new frame's pixels; a reader that loads generation after
 * reading pixels and finds the value of its descriptor knows the pixels were
 * that frame's (seqlock fashion).  The other fields are the frame's summary,
 * written by whoever shares the frame (the tap) before it tells a reader.
 * This layout is part of the "daq-slots-v1" wire format: never reorder. */
typedef struct daq_slot_header {
    uint64_t generation; /* atomic (__atomic builtins); 1 after the first use */
    uint64_t sequence;   /* the frame's daq_frame_meta.sequence */
    uint64_t hw_frame_number;
    uint64_t eof_ns;          /* CLOCK_MONOTONIC */
    uint64_t arrival_real_ns; /* Unix ns */
    uint32_t width, height, stride_bytes;
    uint16_t pixel_format; /* daq_pixel_format */
    uint16_t bit_depth;
    uint32_t payload_bytes;
    uint32_t flags; /* DAQ_FRAME_FLAG_* */
} daq_slot_header;

/* A shareable pool's header memfd (borrowed, like daq_pool_memfd; -1 for a
 * private arena), its size (slot_count * 64 rounded up to a page) and slot
 * i's header, writable by the daemon (NULL for a private arena).  Both
 * memfds are sealed against grow, shrink and future writes once the pool
 * has mapped them: another process can map them read-only only. */
DAQ_API int daq_pool_header_memfd(const daq_pool *p);
DAQ_API size_t daq_pool_header_bytes(const daq_pool *p);
DAQ_API daq_slot_header *daq_pool_slot_header(daq_pool *p, uint32_t slot);

/* A number no other pool of this process has had (1, 2, ...): tells a
 * pool from a later one at the same address. */
DAQ_API uint64_t daq_pool_serial(const daq_pool *p);

/* The pool whose slot f is, borrowed while the caller holds a reference
 * on f (a pool lives as long as its frames); NULL for a heap frame. */
DAQ_API daq_pool *daq_frame_pool(const daq_frame *f);

/* The frame whose pixels start at data.  For fill-mode drivers that get
 * only a buffer pointer back from an SDK.  Aborts if data is not the start
 * of a slot of this pool.  Borrowed: no reference is taken. */
DAQ_API daq_frame *daq_pool_frame_of(daq_pool *p, const void *data);

/* Latency histogram: bucket i counts allocations that took [2^i, 2^(i+1))
 * ns (bucket 0 also holds 0 and 1 ns; the last one everything above). */
#define DAQ_LAT_BUCKETS 32

typedef struct daq_latency_hist {
    uint64_t count;
    uint64_t sum_ns;
    uint64_t max_ns;
    uint64_t buckets[DAQ_LAT_BUCKETS];
} daq_latency_hist;

/* Upper bound of bucket i in ns (2^(i+1)); the value at quantile q (0..1)
 * estimated as the upper bound of the bucket holding it; 0 when empty. */
DAQ_API uint64_t daq_latency_bucket_upper_ns(unsigned i);
DAQ_API uint64_t daq_latency_quantile_ns(const daq_latency_hist *h, double q);

/* A snapshot of one pool's figures.  Counters are monotonic between resets;
 * each is read atomically, the set as a whole is not a single instant. */
typedef struct daq_pool_metrics {
    /* frame path (daq_pool_alloc) */
    uint64_t allocs;         /* requests = hits + misses + disabled */
    uint64_t hits;           /* served by a slot (at once or after a wait) */
    uint64_t misses;         /* pool on, no slot (after any wait) */
    uint64_t disabled;       /* pool off: went to the heap by choice */
    uint64_t heap_exhausted; /* heap frames made because of a miss */
    uint64_t heap_disabled;  /* heap frames made because use_pool is off */
    uint64_t heap_failed;    /* heap allocation failed: frame dropped */
    uint64_t drops;          /* frames not allocated (policy drop or failure) */
    uint64_t waits;          /* requests that had to wait */
    uint64_t wait_timeouts;  /* waits that ended without a slot */
    /* releases, from any path */
    uint64_t returns;      /* slot_returns + heap_frees */
    uint64_t slot_returns; /* slots that came home */
    uint64_t heap_frees;   /* heap frames freed */
    /* occupancy */
    uint32_t slot_count;
    uint32_t in_use;         /* slots out now */
    uint32_t heap_in_use;    /* heap frames alive now */
    uint32_t high_water;     /* most slots out at once */
    uint32_t low_water_free; /* fewest slots free at once */
    size_t slot_bytes;
    /* hits / (hits + misses + disabled); 0 while use_pool is off */
    double hit_rate;
    bool use_pool;
    /* how creation went */
    bool prefaulted, huge_pages, memory_locked;
    uint64_t last_alloc_ns;      /* latency of the most recent daq_pool_alloc */
    daq_latency_hist alloc_pool; /* daq_pool_alloc latency, slot path */
    daq_latency_hist alloc_heap; /* daq_pool_alloc latency, heap path */
} daq_pool_metrics;

DAQ_API void daq_pool_metrics_snapshot(const daq_pool *p, daq_pool_metrics *out);

/* Zeroes the counters and histograms; high/low water restart from now. */
DAQ_API void daq_pool_metrics_reset(daq_pool *p);

#ifdef __cplusplus
}
#endif
#endif
