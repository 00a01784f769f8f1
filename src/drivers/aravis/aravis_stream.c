/* drivers/aravis/aravis_stream.c - the FILL-mode hot path: empty pool frames
 * in, filled frames out, no pixel ever copied.
 *
 * fill_queue wraps the frame's pixel memory in an ArvBuffer (preallocated
 * data, the frame as user data) and pushes it to the stream; Aravis'
 * receive thread writes the image straight into the pool slot.
 * fill_dequeue pops a buffer, maps it back to its frame through the user
 * data and hands that frame to the engine.  The only way a byte could be
 * copied is an image that does not start at the buffer's first byte
 * (multipart or chunk layouts): it is then moved to the slot's start and
 * counted in memcpy_count, so "zero copy" is a measured fact, not a claim.
 *
 * No allocation per frame: each pool slot gets its ArvBuffer once per
 * stream (a cache indexed by slot) and the buffer is re-queued as long as
 * the slot comes back; GObject reference counts are the only per-frame
 * bookkeeping.  The cache holds one reference to each buffer and the
 * stream one more while it is queued.  Heap frames (pool exhausted or
 * switched off) get a buffer of their own, freed when they come back.
 *
 * A buffer whose status is not SUCCESS (missing packets, timeout, size
 * mismatch, aborted, ...) is counted by status and pushed straight back:
 * the engine never sees it, and the frame it stood for shows up as a gap
 * in the hardware numbers.
 *
 * fill_dequeue waits in slices of ARAVIS_SLICE_US so that interrupt, which
 * cannot wake a GAsyncQueue it does not own, is seen within one slice.
 *
 * Each frame also carries the device's timestamp (cam_bof_ns, for the
 * engine's clock model) and its trigger_index, numbered from its frame id
 * by aravis_trigger_index (aravis_trigger.c says what that assumes).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>

#include "drivers/aravis/aravis_impl.h"
#include "util/clock.h"
#include "util/fatal.h"

#define ARAVIS_SLICE_US 20000 /* interrupt latency bound while idle */

void aravis_set_error(aravis *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&d->err_mu);
    vsnprintf(d->error, sizeof d->error, fmt, ap);
    pthread_mutex_unlock(&d->err_mu);
    va_end(ap);
}

/* ---- the buffer cache ------------------------------------------------------------ */

static ArvBuffer *wrap(daq_frame *f)
{
    return arv_buffer_new_full(daq_frame_capacity(f), daq_frame_data(f), f, NULL);
}

/* The cache entry of pool slot `slot`, grown on first sight of a slot (the
 * pool's slots are seen during the first round of queueing). */
static aravis_entry *slot_entry(aravis *d, uint32_t slot)
{
    if (slot >= d->n_slots) {
        uint32_t n = slot + 1 > 2 * d->n_slots ? slot + 1 : 2 * d->n_slots;
        aravis_entry *e = realloc(d->slots, (size_t)n * sizeof *e);
        if (!e)
            return NULL;
        memset(e + d->n_slots, 0, (size_t)(n - d->n_slots) * sizeof *e);
        d->slots = e;
        d->n_slots = n;
    }
    return &d->slots[slot];
}

static aravis_entry *heap_entry_new(aravis *d)
{
    if (d->n_heap == d->cap_heap) {
        uint32_t n = d->cap_heap ? 2 * d->cap_heap : 8;
        aravis_entry *e = realloc(d->heap, (size_t)n * sizeof *e);
        if (!e)
            return NULL;
        d->heap = e;
        d->cap_heap = n;
    }
    aravis_entry *e = &d->heap[d->n_heap++];
    memset(e, 0, sizeof *e);
    return e;
}

/* The entry that owns frame f (in flight). */
static aravis_entry *entry_of(aravis *d, daq_frame *f)
{
    int32_t slot = daq_frame_slot(f);
    if (slot >= 0)
        return (uint32_t)slot < d->n_slots ? &d->slots[slot] : NULL;
    for (uint32_t i = 0; i < d->n_heap; i++)
        if (d->heap[i].frame == f)
            return &d->heap[i];
    return NULL;
}

/* Drops the cache's hold on a heap entry (its frame is handed on or
 * released by the caller). */
static void heap_entry_drop(aravis *d, aravis_entry *e)
{
    g_object_unref(e->buf);
    *e = d->heap[--d->n_heap];
}

/* An ArvBuffer over f's pixels: the slot's cached one when it still wraps
 * exactly this frame, else a new one (first use of the slot). */
static aravis_entry *entry_for(aravis *d, daq_frame *f)
{
    int32_t slot = daq_frame_slot(f);
    aravis_entry *e = slot >= 0 ? slot_entry(d, (uint32_t)slot) : heap_entry_new(d);
    if (!e)
        return NULL;
    if (e->buf && e->frame == f)
        return e;
    if (e->buf)
        g_object_unref(e->buf); /* a slot of another pool: the engine replaced it */
    e->buf = wrap(f);
    e->frame = f;
    return e;
}

/* ---- queue ------------------------------------------------------------------------------ */

int aravis_fill_queue(daq_camera *cam, daq_frame *f)
{
    aravis *d = aravis_of(cam);
    if (!d->stream) {
        aravis_set_error(d, "aravis: fill_queue while not streaming");
        daq_frame_unref(f);
        return -1;
    }
    if (daq_frame_capacity(f) < d->payload) {
        aravis_set_error(d, "aravis: a %zu-byte frame cannot hold the %zu-byte payload",
                         daq_frame_capacity(f), d->payload);
        daq_frame_unref(f);
        return -1;
    }
    aravis_entry *e = entry_for(d, f);
    if (!e) {
        aravis_set_error(d, "aravis: out of memory for the buffer cache");
        daq_frame_unref(f);
        return -1;
    }
    e->in_flight = true;
    aravis_bump(&d->queued, 1);
    arv_stream_push_buffer(d->stream, g_object_ref(e->buf)); /* the stream's reference */
    return 0;
}

/* ---- dequeue ----------------------------------------------------------------------------- */

static unsigned fail_index(ArvBufferStatus st)
{
    switch (st) {
    case ARV_BUFFER_STATUS_TIMEOUT: return ARAVIS_FAIL_TIMEOUT;
    case ARV_BUFFER_STATUS_MISSING_PACKETS: return ARAVIS_FAIL_MISSING_PACKETS;
    case ARV_BUFFER_STATUS_WRONG_PACKET_ID: return ARAVIS_FAIL_WRONG_PACKET_ID;
    case ARV_BUFFER_STATUS_SIZE_MISMATCH: return ARAVIS_FAIL_SIZE_MISMATCH;
    case ARV_BUFFER_STATUS_ABORTED: return ARAVIS_FAIL_ABORTED;
    default: return ARAVIS_FAIL_OTHER;
    }
}

static void describe(aravis *d, ArvBuffer *b, size_t bytes, daq_frame_info *info)
{
    gint w = arv_buffer_get_image_width(b), h = arv_buffer_get_image_height(b);
    gint x = arv_buffer_get_image_x(b), y = arv_buffer_get_image_y(b);
    gint xpad = 0, ypad = 0;
    arv_buffer_get_image_padding(b, &xpad, &ypad);
    ArvPixelFormat pf = arv_buffer_get_image_pixel_format(b);
    unsigned bits = ARV_PIXEL_FORMAT_BIT_PER_PIXEL(pf);
    uint64_t wraps = d->ids.wraps;
    info->hw_frame_number = aravis_id_extend(&d->ids, arv_buffer_get_frame_id(b));
    if (d->ids.wraps != wraps)
        aravis_bump(&d->id_wraps, 1);
    /* Aravis stamps buffers with the host's wall clock (g_get_real_time). */
    info->eof_ns = daq_real_to_mono_ns(arv_buffer_get_system_timestamp(b));
    /* The device's own timestamp, in ns of its timebase (GigE Vision: the
     * leader's tick count scaled by the tick frequency; the fakes: the
     * host's wall clock when they filled the frame); the engine fits it
     * against host time.  0 when the camera sends none. */
    info->cam_bof_ns = arv_buffer_get_timestamp(b);
    info->trigger_index = aravis_trigger_index(d, info->hw_frame_number);
    info->exposure_ns =
        (uint64_t)(atomic_load_explicit(&d->exposure_us, memory_order_relaxed) * 1000.0);
    info->bytes = bytes;
    info->width = (uint32_t)w;
    info->height = (uint32_t)h;
    info->stride_bytes = (uint32_t)((size_t)w * bits / 8 + (size_t)xpad);
    info->bit_depth = (uint16_t)aravis_depth_of(pf);
    info->pixel_format = aravis_pixel_format(pf);
    info->roi = (daq_roi){(uint32_t)x, (uint32_t)y, (uint32_t)w, (uint32_t)h};
    info->temperature_c = NAN;
}

/* Makes sure the image starts at the frame's first byte; counts a move. */
static size_t settle_image(aravis *d, ArvBuffer *b, daq_frame *f)
{
    size_t size = 0;
    const void *img = arv_buffer_get_image_data(b, &size);
    if (!img) /* not an image payload: the whole buffer is the data */
        img = arv_buffer_get_data(b, &size);
    void *dst = daq_frame_data(f);
    if (img != dst && img && size) {
        const char *base = arv_buffer_get_data(b, NULL);
        if ((const char *)img < base || (const char *)img + size > base + daq_frame_capacity(f)) {
            aravis_bump(&d->foreign, 1); /* not our memory at all: must not happen */
            return 0;
        }
        memmove(dst, img, size);
        aravis_bump(&d->memcpy_count, 1);
        aravis_bump(&d->memcpy_bytes, size);
    }
    return size;
}

/* A popped buffer: 1 with a filled frame handed out, 0 if recycled. */
static int take(aravis *d, ArvBuffer *b, daq_frame **filled, daq_frame_info *info)
{
    ArvBufferStatus st = arv_buffer_get_status(b);
    if (st != ARV_BUFFER_STATUS_SUCCESS) {
        aravis_bump(&d->failed, 1);
        aravis_bump(&d->fail[fail_index(st)], 1);
        arv_stream_push_buffer(d->stream, b); /* the stream's reference goes back */
        return 0;
    }
    daq_frame *f = (daq_frame *)arv_buffer_get_user_data(b);
    aravis_entry *e = entry_of(d, f);
    if (!e || !e->in_flight || e->buf != b) {
        aravis_bump(&d->foreign, 1); /* not a buffer of ours: drop it */
        g_object_unref(b);
        return 0;
    }
    size_t bytes = settle_image(d, b, f);
    describe(d, b, bytes, info);
    g_object_unref(b); /* the stream's reference */
    e->in_flight = false;
    if (daq_frame_slot(f) < 0)
        heap_entry_drop(d, e);
    aravis_bump(&d->queued, (uint64_t)-1);
    aravis_bump(&d->delivered, 1);
    *filled = f; /* the driver's reference is now the caller's */
    return 1;
}

int aravis_fill_dequeue(daq_camera *cam, int64_t timeout_ns, daq_frame **filled,
                        daq_frame_info *info)
{
    aravis *d = aravis_of(cam);
    if (!d->stream)
        return 0;
    uint64_t deadline = daq_now_ns() + (uint64_t)(timeout_ns > 0 ? timeout_ns : 0);
    for (;;) {
        if (atomic_exchange_explicit(&d->interrupted, false, memory_order_acquire))
            return 0;
        uint64_t now = daq_now_ns();
        uint64_t left_us = deadline > now ? (deadline - now) / 1000 : 0;
        ArvBuffer *b = left_us
                           ? arv_stream_timeout_pop_buffer(
                                 d->stream, left_us < ARAVIS_SLICE_US ? left_us : ARAVIS_SLICE_US)
                           : arv_stream_try_pop_buffer(d->stream);
        if (b && take(d, b, filled, info))
            return 1;
        if (!b && daq_now_ns() >= deadline)
            return 0;
    }
}

/* ---- stop ---------------------------------------------------------------------------------- */

void aravis_release_all(aravis *d)
{
    for (uint32_t i = 0; i < d->n_slots; i++) {
        aravis_entry *e = &d->slots[i];
        if (!e->buf)
            continue;
        /* The stream is finalized, so ours must be the only reference
         * left; anything else could still write into a returned slot. */
        if (G_OBJECT(e->buf)->ref_count != 1)
            daq_fatal("aravis: camera '%s': buffer of slot %u still referenced (%u) after the "
                      "stream was destroyed",
                      daq_camera_id(d->cam), i, G_OBJECT(e->buf)->ref_count);
        if (e->in_flight)
            daq_frame_unref(e->frame);
        g_object_unref(e->buf);
    }
    while (d->n_heap) {
        aravis_entry *e = &d->heap[d->n_heap - 1];
        daq_frame *f = e->frame;
        heap_entry_drop(d, e);
        daq_frame_unref(f);
    }
    free(d->slots);
    free(d->heap);
    d->slots = d->heap = NULL;
    d->n_slots = d->n_heap = d->cap_heap = 0;
    atomic_store(&d->queued, 0);
}
