/* daq/frame.h - the one frame type of daq.
 *
 * A daq_frame is a reference-counted handle to one image: a pixel buffer plus
 * inline metadata (no allocation per frame).  It comes either from a pool slot
 * (used_pool = true) or, when the pool is exhausted or switched off, from one
 * heap block holding header and pixels (used_pool = false).  Both kinds have
 * the same API; only the last unref differs: a slot goes back to its pool's
 * LIFO free list, a heap block is freed.
 *
 * Ownership rules (they hold for every function below):
 *  - A frame returned by an allocating call (daq_pool_alloc, daq_pool_acquire,
 *    daq_pool_try_acquire) carries one reference owned by the caller, with
 *    refcount 1; the caller may write pixels and metadata.
 *  - Once a frame has been shared (refcount > 1, e.g. published to a bus) it
 *    is read-only for everybody, including the producer.
 *  - Every daq_frame_ref() is matched by exactly one daq_frame_unref().
 *  - Accessors borrow: they neither take nor drop a reference, and the pointers
 *    they return are valid only while the caller holds a reference.
 *
 * Misuse is fatal, not undefined: unref of a dead frame (refcount underflow),
 * ref of a dead frame and pointers that are not daq frames abort the process
 * with a message naming the frame, slot and pool.
 */
#ifndef DAQ_FRAME_H
#define DAQ_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daq/api.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct daq_frame daq_frame;

typedef enum daq_pixel_format {
    DAQ_PIXEL_UNKNOWN = 0,
    DAQ_PIXEL_MONO8,
    DAQ_PIXEL_MONO12, /* 12 bits stored in 16 */
    DAQ_PIXEL_MONO16,
} daq_pixel_format;

/* Frame flags (daq_frame_meta.flags). */
enum {
    DAQ_FRAME_FLAG_DISCONTINUITY = 1u << 0, /* hardware numbers went backwards */
    DAQ_FRAME_FLAG_AFTER_GAP = 1u << 1,     /* frames were lost before this one */
    DAQ_FRAME_FLAG_TRIGGER_EXTRA = 1u << 2, /* beyond frames_per_trigger for its trigger */
};

typedef struct daq_roi {
    uint32_t x, y, width, height;
} daq_roi;

/* Inline metadata; plain data, written by the producer before publishing. */
typedef struct daq_frame_meta {
    uint64_t hw_frame_number; /* camera's own counter (1-based for sim, PVCAM) */
    uint64_t sequence;        /* delivered sequence number, 1-based, no gaps */
    uint64_t bof_ns;          /* beginning of frame, CLOCK_MONOTONIC ns */
    uint64_t eof_ns;          /* end of frame, CLOCK_MONOTONIC ns */
    uint64_t exposure_ns;
    size_t payload_bytes; /* bytes of pixel data valid in the buffer */
    uint32_t width, height;
    uint32_t stride_bytes;
    uint16_t bit_depth;
    uint16_t bin_x, bin_y;
    daq_pixel_format pixel_format;
    daq_roi roi;
    float temperature_c; /* NaN when unknown */
    uint32_t flags;      /* DAQ_FRAME_FLAG_* */
    /* Timestamps (ADR 0011).  The camera's own clock (ns of its timebase,
     * 0 when it has none), the host's arrival (when the engine took the
     * frame), and the exposure start estimated in host realtime through
     * the camera's fitted clock model (0 until the model has a fit, or
     * without a camera clock: then bof_ns-based). */
    uint64_t cam_bof_ns, cam_eof_ns;
    uint64_t arrival_mono_ns; /* CLOCK_MONOTONIC */
    uint64_t arrival_real_ns; /* CLOCK_REALTIME, Unix ns */
    uint64_t exposure_start_real_ns;
    uint64_t trigger_index; /* 1-based trigger this frame answers; 0: not triggered */
} daq_frame_meta;

/* Takes a new reference; returns f.  Caller owns the new reference. */
DAQ_API daq_frame *daq_frame_ref(daq_frame *f);

/* Drops the caller's reference (consumes it).  The last unref returns the slot
 * to its pool or frees the heap block.  NULL is ignored. */
DAQ_API void daq_frame_unref(daq_frame *f);

/* Pixel memory, daq_frame_capacity() bytes, aligned as the pool was
 * configured.  Both borrowed, valid while the caller holds a reference;
 * write only while you hold the only one. */
DAQ_API void *daq_frame_data(daq_frame *f);
DAQ_API const void *daq_frame_cdata(const daq_frame *f);
DAQ_API size_t daq_frame_capacity(const daq_frame *f);

/* Inline metadata.  Both borrowed, valid while the caller holds a
 * reference; write only while you hold the only one. */
DAQ_API daq_frame_meta *daq_frame_meta_mut(daq_frame *f);
DAQ_API const daq_frame_meta *daq_frame_meta_get(const daq_frame *f);

/* true if the frame lives in a pool slot, false if it is a heap block. */
DAQ_API bool daq_frame_used_pool(const daq_frame *f);

/* Slot index in its pool, or -1 for a heap frame. */
DAQ_API int32_t daq_frame_slot(const daq_frame *f);

/* Current reference count; exact only while no other thread refs/unrefs. */
DAQ_API uint32_t daq_frame_refcount(const daq_frame *f);

/* Resets metadata to its neutral state (NaN temperature, zero counters). */
DAQ_API void daq_frame_meta_clear(daq_frame_meta *m);

#ifdef __cplusplus
}
#endif
#endif
