/* daq/acq.h - the acquisition engine: one thread per camera moving frames
 * from the driver through the pool onto the bus.
 *
 * The loop (docs/architecture.md §7), for a COPY-mode driver:
 *
 *   wait (never sleeping while frames are pending) -> get_oldest ->
 *   loss check on the hardware frame number (gap: lost += gap - 1;
 *   same number again: duplicate, skipped; backwards: discontinuity) ->
 *   all-zero sample check (skipped) -> pool alloc (policy) -> copy ->
 *   release_oldest (only after the copy) -> metadata -> publish -> unref
 *
 * Duplicates and zero frames are recognised before a pool frame is taken,
 * so skipping them costs no copy.  A FILL-mode driver replaces
 * get_oldest/copy/release with fill_dequeue and keeps the driver's queue
 * topped up with empty pool frames.
 *
 * Every trace_every frames a line under target "pvcam_alloc_trace" (DEBUG)
 * carries frame total_allocated_mb avg_alloc_us last_alloc_us copy_bytes
 * pool_hit_rate_pct pool_hits pool_misses dropped_frames used_pool
 * frame_loss.  Pool exhaustion warns "Buffer pool exhausted" under target
 * "pvcam_pool", the first 10 times and then every 100th.  Stopping logs a
 * summary under "daq::acq".  A watchdog stops the stream with an error after
 * watchdog_waits consecutive empty waits of wait_timeout_ms each.
 *
 * The pool is (re)created at start when the frame size or slot count
 * changed; with slots = 0 ("auto") the count is
 *     bus bound (sum of queue depth + 1) + frames the driver holds
 *     + 1 in flight + dynamic_allowance + headroom
 *     + ceil(reserve_bytes / frame bytes) + 1
 * where reserve_bytes is kept for a consumer bounded in bytes rather than
 * frames that may subscribe while the stream runs: the recorder's queue
 * (max_buffer_mb), so a disk that falls behind never exhausts the pool.
 * An explicit smaller count is used as given, with a warning.
 *
 * Each stream adds the interval between consecutive delivered frames to a
 * log2 histogram (stats.interval: a bucket index and four single-writer
 * stores per frame), the frame-timing histogram of diagnostics bundles.
 *
 * Test only (src/pool/test_knob.h, read at daq_acq_create, which fails for
 * a bad value): DAQ_TEST_POOL_SLOW_PCT=P spins P % of each pool-slot
 * frame's own iteration time on the acquisition thread, so a
 * throughput-bound stream runs ~P % slower with the pool on;
 * DAQ_TEST_CRASH_POOL_INIT=1 aborts the process when a start finds
 * use_pool on (the plan's "pool init crash").
 *
 * -DDAQ_FRAME_POOL=OFF (ADR 0008): no pool is created; every frame is
 * copied into a heap frame of its own; use_pool is false and cannot be
 * set; stats.pool reads use_pool false, hit rate 0, slot_count 0, with
 * every frame counted as a heap (disabled) allocation.
 *
 * Threading: start/stop/set_* and stats may be called from any thread; they
 * are serialised internally.  A start holds only the control lock while it
 * prefaults its pool: stats, state, set_use_pool/policy/reserve never wait
 * for it; a second start meanwhile is refused at once ("ID is starting"),
 * a stop waits for the start to finish.  Ownership: daq_acq_create takes the camera
 * (destroyed with the engine) and borrows the bus (the caller keeps it
 * alive longer than the engine).  daq_acq_pool returns a borrowed pool
 * valid until the next start or destroy.
 */
#ifndef DAQ_ACQ_H
#define DAQ_ACQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daq/api.h"
#include "daq/bus.h"
#include "daq/camera.h"
#include "daq/pool.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct daq_acq daq_acq;

typedef struct daq_acq_config {
    /* Pool.  slots 0 = auto.  name, slot_bytes and slot_count of pool are
     * filled by the engine; the rest (policy, huge pages, ...) is used. */
    daq_pool_config pool;
    uint32_t slots;
    uint32_t dynamic_allowance; /* auto: frames reserved for later subscribers */
    uint32_t headroom;          /* auto: spare slots */
    uint64_t reserve_bytes;     /* auto: bytes of frames kept for a later consumer (0 = none) */
    /* Loop. */
    uint32_t wait_timeout_ms;    /* one driver wait; default 2000 */
    uint32_t watchdog_waits;     /* empty waits in a row before error; default 5 */
    uint32_t trace_every;        /* alloc-trace line period in frames; default 100 */
    uint32_t zero_check_samples; /* pixels sampled for the all-zero check; 0 = off */
} daq_acq_config;

DAQ_API void daq_acq_config_init(daq_acq_config *cfg);

/* Pure sizing formula (docs/architecture.md §5). */
DAQ_API uint32_t daq_acq_auto_slots(uint32_t bus_bound, uint32_t driver_held,
                                    uint32_t dynamic_allowance, uint32_t headroom);

typedef enum daq_acq_state {
    DAQ_ACQ_IDLE = 0,
    DAQ_ACQ_STREAMING,
    DAQ_ACQ_ERROR, /* stopped by a driver error or the watchdog; start clears it */
} daq_acq_state;

DAQ_API const char *daq_acq_state_name(daq_acq_state s); /* static storage */

/* Takes ownership of cam (opened here if it is not yet) and borrows bus,
 * which must outlive the engine; cfg is copied.  Returns an engine the
 * caller owns (daq_acq_destroy), or NULL with a message, in which case cam
 * has been destroyed. */
DAQ_API daq_acq *daq_acq_create(daq_camera *cam, daq_bus *bus, const daq_acq_config *cfg, char *err,
                                size_t err_len);

/* Stops if streaming, then frees the engine, its camera and its pool
 * reference (frames still held by consumers stay valid).  NULL ok. */
DAQ_API void daq_acq_destroy(daq_acq *acq);

/* What a start is about to allocate, for the admission hook. */
typedef struct daq_acq_plan {
    size_t frame_bytes;  /* of one frame as the camera will deliver it */
    uint32_t pool_slots; /* the pool this stream gets (kept if it has this shape) */
} daq_acq_plan;

/* Asked by every start before anything is allocated: 0 to go on, or -1
 * with a message in err (the start then fails with it, nothing changed).
 * Runs on the starting thread, with no engine lock held but the control
 * lock; it may call the engine's stats and the camera's functions. */
typedef int (*daq_acq_admit_fn)(void *ctx, daq_acq *acq, const daq_acq_plan *plan, char *err,
                                size_t err_len);

/* Installs the admission hook (NULL: none); ctx is borrowed. */
DAQ_API void daq_acq_set_admit(daq_acq *acq, daq_acq_admit_fn fn, void *ctx);

/* The pool slots a start would use for frames of frame_bytes (the auto
 * formula or the configured count). */
DAQ_API uint32_t daq_acq_plan_slots(daq_acq *acq, size_t frame_bytes);

/* Starts streaming; frame_limit > 0 stops by itself after that many
 * delivered frames.  Already streaming: returns 1 and changes nothing.
 * 0 started; -1 failed (message in err, state unchanged): among others
 * "ID is starting (another start is in progress)" at once while another
 * thread's start of this engine runs, and the admission hook's refusal. */
DAQ_API int daq_acq_start(daq_acq *acq, uint64_t frame_limit, char *err, size_t err_len);

/* Stops: halts the driver, joins the thread, ends the bus stream, logs the
 * summary.  Idempotent; also cleans up after an error stop. */
DAQ_API void daq_acq_stop(daq_acq *acq);

/* Blocks until the stream has ended by itself (frame limit or error) or
 * timeout_ms passes; true if it ended. */
DAQ_API bool daq_acq_wait_idle(daq_acq *acq, uint32_t timeout_ms);

DAQ_API daq_acq_state daq_acq_state_get(const daq_acq *acq);

/* Why use_pool cannot be on in a -DDAQ_FRAME_POOL=OFF build: the text
 * daq_acq_set_use_pool(acq, true) logs there, for callers to report. */
#define DAQ_ACQ_POOL_OFF_BUILD "this daqd was built with -DDAQ_FRAME_POOL=OFF"

/* Switches the pool on or off now and for later pools; 0.  In a
 * -DDAQ_FRAME_POOL=OFF build use_pool is false by construction: turning it
 * on returns -1 (and logs DAQ_ACQ_POOL_OFF_BUILD), off is a no-op. */
DAQ_API int daq_acq_set_use_pool(daq_acq *acq, bool on);
DAQ_API bool daq_acq_use_pool(const daq_acq *acq);

/* true when this libdaq was built with the frame pool on the acquisition
 * path (DAQ_FRAME_POOL=1, the default). */
DAQ_API bool daq_acq_frame_pool_built(void);

/* Changes reserve_bytes for the pools of later starts (the running pool
 * keeps its size). */
DAQ_API void daq_acq_set_reserve_bytes(daq_acq *acq, uint64_t bytes);

/* Frames a reserve of bytes stands for with frames of frame_bytes:
 * ceil(bytes / frame_bytes), 0 for 0 bytes (the pool adds 1 more). */
DAQ_API uint32_t daq_acq_reserve_frames(uint64_t bytes, size_t frame_bytes);

/* Changes the exhaustion policy now and for later pools (see
 * daq_pool_set_policy); -1 for an invalid combination. */
DAQ_API int daq_acq_set_policy(daq_acq *acq, daq_pool_policy policy, uint32_t wait_timeout_ms,
                               daq_pool_policy fallback);
DAQ_API daq_pool_policy daq_acq_policy(daq_acq *acq);

DAQ_API daq_camera *daq_acq_camera(daq_acq *acq); /* borrowed */
DAQ_API daq_bus *daq_acq_bus(daq_acq *acq);       /* borrowed */
/* borrowed; NULL before the first start, and always in a -DDAQ_FRAME_POOL=OFF build */
DAQ_API daq_pool *daq_acq_pool(daq_acq *acq);

typedef struct daq_acq_stats {
    daq_acq_state state;
    char error[256];  /* why the last stream ended in ERROR */
    uint64_t streams; /* starts so far */
    /* this stream (reset at start) */
    uint64_t captured;        /* frames taken from the driver, skipped ones included */
    uint64_t delivered;       /* frames published to the bus */
    uint64_t lost;            /* frames missing from the hardware numbering */
    uint64_t discontinuities; /* breaks in the numbering (gaps and backward jumps) */
    uint64_t backwards;       /* of which backward jumps */
    uint64_t duplicates;      /* same number again: skipped */
    uint64_t zero_frames;     /* all-zero sample: skipped */
    uint64_t alloc_dropped;   /* no pool frame and policy drop (or heap failure) */
    uint64_t heap_fallbacks;  /* frames that went to the heap */
    uint64_t last_hw_frame;
    uint64_t bytes_copied;
    uint64_t start_ns, first_frame_ns, last_frame_ns; /* CLOCK_MONOTONIC */
    double fps; /* delivery rate between the first and the last frame */
    /* Arrival-to-arrival interval of delivered frames (the engine's clock
     * as each frame is ready to publish), log2 buckets as the pool's
     * (daq_latency_bucket_upper_ns); count = delivered - 1. */
    daq_latency_hist interval;
    uint32_t pool_slots;
    bool pool_auto;
    daq_pool_metrics pool;
    daq_camera_stats driver;
    daq_trigger_stats trigger; /* the camera's (daq_camera_trigger_stats) */
    /* The camera clock's fit against the host's (ADR 0011), as of the last
     * 64 frames with a camera timestamp; zero until it is valid. */
    bool clock_valid;
    double clock_drift_ppm, clock_residual_ns;
    uint64_t clock_pairs;
} daq_acq_stats;

DAQ_API void daq_acq_stats_snapshot(daq_acq *acq, daq_acq_stats *out);

#ifdef __cplusplus
}
#endif
#endif
