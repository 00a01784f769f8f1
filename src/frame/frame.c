/* frame/frame.c - reference counting and the last-unref hand-back.
 *
 * The refcount is the only shared mutable state of a frame.  unref takes a
 * shortcut when the count is 1: the caller then holds the only reference,
 * nobody else can ref it, so no atomic read-modify-write is needed; the
 * common single-consumer case costs a load and a store.  A count that is
 * already 0 means the frame was released before: fatal.
 */
#include "frame/frame_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/fatal.h"

static DAQ_COLD DAQ_NORETURN void frame_die(const daq_frame *f, const char *what)
{
    if (f->slot == DAQ_FRAME_HEAP_SLOT)
        daq_fatal("%s: heap frame %p", what, (const void *)f);
    daq_fatal("%s: frame %p, slot %d of pool '%s'", what, (const void *)f, f->slot,
              daq_pool_name(f->pool));
}

static inline void frame_check(const daq_frame *f)
{
    if (DAQ_UNLIKELY(f->magic != DAQ_FRAME_MAGIC))
        daq_fatal("foreign pointer: %p is not a daq frame (bad magic 0x%08x)", (const void *)f,
                  f->magic);
}

void daq_frame_meta_clear(daq_frame_meta *m)
{
    memset(m, 0, sizeof *m);
    m->temperature_c = NAN;
    m->bin_x = m->bin_y = 1;
}

void daq_frame__init_slot(daq_frame *f, daq_pool *p, int32_t slot, void *data, size_t capacity)
{
    memset(f, 0, sizeof *f);
    f->magic = DAQ_FRAME_MAGIC;
    atomic_init(&f->refcount, 0);
    f->slot = slot;
    f->pool = p;
    f->data = data;
    f->capacity = capacity;
    daq_frame_meta_clear(&f->meta);
}

static size_t heap_header_bytes(size_t align)
{
    return (sizeof(daq_frame) + align - 1) & ~(align - 1);
}

daq_frame *daq_frame__heap_new(daq_pool *p, size_t capacity, size_t align)
{
    void *blk = NULL;
    size_t hdr = heap_header_bytes(align);
    if (capacity > SIZE_MAX - hdr || posix_memalign(&blk, align, hdr + capacity) != 0)
        return NULL;
    daq_frame *f = blk;
    daq_frame__init_slot(f, p, DAQ_FRAME_HEAP_SLOT, (unsigned char *)blk + hdr, capacity);
    atomic_store_explicit(&f->refcount, 1, memory_order_relaxed);
    return f;
}

daq_frame *daq_frame_ref(daq_frame *f)
{
    frame_check(f);
    uint32_t prev = atomic_fetch_add_explicit(&f->refcount, 1, memory_order_relaxed);
    if (DAQ_UNLIKELY(prev == 0))
        frame_die(f, "ref of a released frame");
    return f;
}

static void frame_release(daq_frame *f)
{
    daq_pool *p = f->pool;
    if (f->slot != DAQ_FRAME_HEAP_SLOT) {
        daq_pool__slot_home(p, f);
        return;
    }
    f->magic = 0; /* a later unref of this block is caught by ASan or the magic */
    free(f);
#if !DAQ_FRAME_POOL
    if (!p)
        return; /* a no-pool engine's frame (ADR 0008): nobody to account to */
#endif
    daq_pool__heap_gone(p);
}

void daq_frame_unref(daq_frame *f)
{
    if (!f)
        return;
    frame_check(f);
    if (atomic_load_explicit(&f->refcount, memory_order_acquire) == 1) {
        atomic_store_explicit(&f->refcount, 0, memory_order_relaxed);
    } else {
        uint32_t prev = atomic_fetch_sub_explicit(&f->refcount, 1, memory_order_acq_rel);
        if (DAQ_UNLIKELY(prev == 0))
            frame_die(f, f->slot == DAQ_FRAME_HEAP_SLOT
                             ? "refcount underflow (unref of a released frame)"
                             : "double return / refcount underflow (slot already free)");
        if (prev != 1)
            return;
    }
    frame_release(f);
}

void *daq_frame_data(daq_frame *f)
{
    return f->data;
}

const void *daq_frame_cdata(const daq_frame *f)
{
    return f->data;
}

size_t daq_frame_capacity(const daq_frame *f)
{
    return f->capacity;
}

daq_frame_meta *daq_frame_meta_mut(daq_frame *f)
{
    return &f->meta;
}

const daq_frame_meta *daq_frame_meta_get(const daq_frame *f)
{
    return &f->meta;
}

bool daq_frame_used_pool(const daq_frame *f)
{
    return f->slot != DAQ_FRAME_HEAP_SLOT;
}

int32_t daq_frame_slot(const daq_frame *f)
{
    return f->slot;
}

uint32_t daq_frame_refcount(const daq_frame *f)
{
    return atomic_load_explicit(&f->refcount, memory_order_relaxed);
}
