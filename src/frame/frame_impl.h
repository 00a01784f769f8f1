/* frame/frame_impl.h - the layout of struct daq_frame, shared by the frame
 * and pool modules only.  Everyone else sees an opaque handle.
 *
 * A header is 64-byte aligned so two frames' refcounts never share a cache
 * line (consumers on different cores unref different frames).  Pool headers
 * live in the pool's header array, apart from the pixel arena; a heap
 * frame's header sits at the start of its own block, pixels after it.
 */
#ifndef DAQ_FRAME_IMPL_H
#define DAQ_FRAME_IMPL_H

#include <stdatomic.h>

#include "daq/frame.h"
#include "daq/pool.h"

#define DAQ_FRAME_MAGIC     0x46514144u /* "DAQF" */
#define DAQ_FRAME_HEAP_SLOT (-1)

struct daq_frame {
    _Alignas(64) uint32_t magic;
    _Atomic uint32_t refcount; /* 0 while a slot is free */
    int32_t slot;              /* index in pool, or DAQ_FRAME_HEAP_SLOT */
    uint32_t reserved;
    daq_pool *pool; /* borrowed: a pool outlives its frames */
    unsigned char *data;
    size_t capacity;
    daq_frame_meta meta;
};

/* frame.c: sets up slot header i of pool p once, at pool creation. */
void daq_frame__init_slot(daq_frame *f, daq_pool *p, int32_t slot, void *data, size_t capacity);

/* frame.c: one block holding header and capacity bytes of pixels aligned to
 * align; refcount 1.  NULL when out of memory.  The caller accounts for it. */
daq_frame *daq_frame__heap_new(daq_pool *p, size_t capacity, size_t align);

/* pool.c: called by the last unref.  Slot frames go back on the free list;
 * heap frames were already freed and only their accounting remains. */
void daq_pool__slot_home(daq_pool *p, daq_frame *f);
void daq_pool__heap_gone(daq_pool *p);

#endif
