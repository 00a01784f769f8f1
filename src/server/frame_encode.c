/* server/frame_encode.c - the encoded payload of a FrameData message and
 * the per-device cache that computes each one once.
 *
 * daq_encoded.  An immutable, refcounted result: the data bytes, the image
 * size after downsampling, whether they are LZ4-framed and the raw length.
 * Every encoded form holds one reference on its frame, for two reasons: a
 * FULL raw encoding (and a downsampling that the rules turn into a no-op)
 * points straight at the frame's pixels -- the frame must outlive every
 * stream still sending them -- and daq_encoded_frame() hands the frame's
 * metadata to the message head.  Any other encoding owns a malloc'd buffer;
 * allocation is fine here (stream threads, never the acquisition thread).
 *
 * daq_encoder.  Several streams of one device usually want the same frame
 * at the same quality; downsampling and LZ4 (milliseconds for 8 MiB) should
 * run once, not once per stream.  The cache is a small table of rows, one
 * per frame (DAQ_ENCODER_DEPTH of them), each with a slot per encoding kind
 * (3 qualities x raw/LZ4).  A row is keyed by the frame's meta sequence
 * number AND the frame object: the row holds a frame reference, so the
 * object cannot be recycled while the row exists, and a camera restart that
 * begins again at sequence 1 never gets a stale encoding of another frame.
 *
 * A slot is EMPTY, BUSY (one thread computing it, outside the lock) or
 * READY (it owns one encoded reference).  A thread that finds BUSY waits on
 * the encoder's condvar; the computing thread broadcasts when it is done.
 * If the computation fails the slot goes back to EMPTY and a waiter tries
 * itself.  Each thread inside get pins its row, and only unpinned rows are
 * evicted, so a row never disappears under a waiter and nothing is computed
 * twice.  A new frame takes a free row or evicts the oldest unpinned row
 * (insertion order: robust against sequence restarts); if every row is
 * pinned -- more frames in flight than DEPTH -- the encoding is computed
 * without being cached.  Evicted references are dropped after the lock is
 * released (the last one may unmap pixels or return a pool slot).
 *
 * Lock order: encoder -> (nothing); frame and pool locks are only taken
 * after the encoder lock is released, except for daq_frame_ref on a frame
 * the caller already holds, which takes no lock.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "server/frame_encode.h"

/* ---- daq_encoded --------------------------------------------------------------- */

struct daq_encoded {
    atomic_uint refs;
    daq_frame *frame;    /* one reference, dropped by the last unref */
    const uint8_t *data; /* the frame's pixels or owned */
    uint8_t *owned;      /* malloc'd data, or NULL when zero-copy */
    size_t len;          /* bytes at data */
    size_t raw_len;      /* bytes before LZ4 (== len when raw) */
    uint32_t width, height;
    bool lz4;
};

const void *daq_encoded_data(const daq_encoded *e)
{
    return e->data;
}

size_t daq_encoded_len(const daq_encoded *e)
{
    return e->len;
}

uint32_t daq_encoded_width(const daq_encoded *e)
{
    return e->width;
}

uint32_t daq_encoded_height(const daq_encoded *e)
{
    return e->height;
}

bool daq_encoded_lz4(const daq_encoded *e)
{
    return e->lz4;
}

size_t daq_encoded_uncompressed_size(const daq_encoded *e)
{
    return e->raw_len;
}

const daq_frame *daq_encoded_frame(const daq_encoded *e)
{
    return e->frame;
}

daq_encoded *daq_encoded_ref(daq_encoded *e)
{
    atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
    return e;
}

void daq_encoded_unref(daq_encoded *e)
{
    if (!e)
        return;
    if (atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) != 1)
        return;
    free(e->owned);
    daq_frame_unref(e->frame);
    free(e);
}

/* ---- computing one encoding ------------------------------------------------------ */

static unsigned quality_factor(daq_quality q)
{
    switch (q) {
    case DAQ_QUALITY_PREVIEW: return 2;
    case DAQ_QUALITY_FAST: return 4;
    default: return 1; /* FULL, and unknown values as prost reads them */
    }
}

/* Downsamples e's pixels into an owned buffer if the rules allow it.
 * Returns false only when out of memory. */
static bool encode_downsample(daq_encoded *e, unsigned factor)
{
    if (!daq_downsample_applies(e->width, e->height, e->len, factor))
        return true; /* unchanged: keep pointing at the frame */
    size_t n = (size_t)(e->width / factor) * (e->height / factor) * 2;
    uint8_t *buf = malloc(n);
    if (!buf)
        return false;
    daq_downsample_u16(e->data, e->width, e->height, e->len, factor, buf, &e->width, &e->height);
    e->owned = buf;
    e->data = buf;
    e->len = e->raw_len = n;
    return true;
}

/* Replaces e's data by its LZ4-framed form.  false when out of memory or
 * beyond LZ4's limit. */
static bool encode_lz4(daq_encoded *e)
{
    size_t cap = daq_lz4_frame_bound(e->len);
    uint8_t *buf = cap ? malloc(cap) : NULL;
    if (!buf)
        return false;
    size_t n = daq_lz4_frame(e->data, e->len, buf, cap);
    if (n == 0) {
        free(buf);
        return false;
    }
    uint8_t *fit = realloc(buf, n); /* give back the worst-case margin */
    free(e->owned);
    e->owned = fit ? fit : buf;
    e->data = e->owned;
    e->len = n;
    e->lz4 = true;
    return true;
}

daq_encoded *daq_encode_frame(daq_frame *f, daq_quality q, bool lz4)
{
    daq_encoded *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    const daq_frame_meta *m = daq_frame_meta_get(f);
    size_t n = m->payload_bytes;
    if (n > daq_frame_capacity(f))
        n = daq_frame_capacity(f);
    atomic_init(&e->refs, 1);
    e->frame = daq_frame_ref(f);
    e->data = daq_frame_cdata(f);
    e->len = e->raw_len = n;
    e->width = m->width;
    e->height = m->height;
    unsigned factor = quality_factor(q);
    if ((factor > 1 && !encode_downsample(e, factor)) || (lz4 && !encode_lz4(e))) {
        daq_encoded_unref(e);
        return NULL;
    }
    return e;
}

/* ---- the cache ----------------------------------------------------------------- */

#define ENC_KINDS 6 /* 3 qualities x {raw, LZ4} */

typedef enum slot_state { SLOT_EMPTY = 0, SLOT_BUSY, SLOT_READY } slot_state;

typedef struct enc_row {
    daq_frame *frame; /* NULL: row free; else one reference */
    uint64_t sequence;
    uint64_t born; /* insertion order, oldest evicted first */
    unsigned pins; /* threads inside get on this row */
    slot_state state[ENC_KINDS];
    daq_encoded *enc[ENC_KINDS]; /* one reference each while READY */
} enc_row;

struct daq_encoder {
    pthread_mutex_t mu;
    pthread_cond_t done; /* a BUSY slot left BUSY */
    enc_row rows[DAQ_ENCODER_DEPTH];
    uint64_t next_born;
    _Atomic uint64_t computed;
};

daq_encoder *daq_encoder_create(void)
{
    daq_encoder *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    if (pthread_mutex_init(&e->mu, NULL) != 0) {
        free(e);
        return NULL;
    }
    if (pthread_cond_init(&e->done, NULL) != 0) {
        pthread_mutex_destroy(&e->mu);
        free(e);
        return NULL;
    }
    atomic_init(&e->computed, 0);
    return e;
}

/* Drops everything a row holds (it must be unpinned); call without the
 * encoder lock: the last references may free pixels or return slots. */
static void row_release(enc_row *r)
{
    for (int k = 0; k < ENC_KINDS; k++)
        daq_encoded_unref(r->enc[k]);
    daq_frame_unref(r->frame);
}

void daq_encoder_destroy(daq_encoder *e)
{
    if (!e)
        return;
    for (int i = 0; i < DAQ_ENCODER_DEPTH; i++)
        row_release(&e->rows[i]);
    pthread_cond_destroy(&e->done);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

uint64_t daq_encoder_computed(const daq_encoder *e)
{
    return atomic_load_explicit(&e->computed, memory_order_relaxed);
}

static enc_row *row_find(daq_encoder *e, const daq_frame *f, uint64_t seq)
{
    for (int i = 0; i < DAQ_ENCODER_DEPTH; i++)
        if (e->rows[i].frame == f && e->rows[i].sequence == seq)
            return &e->rows[i];
    return NULL;
}

/* A free row, else the oldest unpinned one (its contents are moved to
 * *victim for release after unlock), else NULL. */
static enc_row *row_take(daq_encoder *e, enc_row *victim)
{
    enc_row *best = NULL;
    for (int i = 0; i < DAQ_ENCODER_DEPTH; i++) {
        enc_row *r = &e->rows[i];
        if (!r->frame)
            return r;
        if (r->pins == 0 && (!best || r->born < best->born))
            best = r;
    }
    if (best) {
        *victim = *best;
        memset(best, 0, sizeof *best);
    }
    return best;
}

static void row_claim(daq_encoder *e, enc_row *r, daq_frame *f, uint64_t seq)
{
    r->frame = daq_frame_ref(f);
    r->sequence = seq;
    r->born = e->next_born++;
}

/* With the lock held and r pinned: the slot's encoding, computing it (the
 * lock dropped meanwhile) or waiting for the thread that is.  Returns a new
 * reference, NULL when the computation failed in this thread. */
static daq_encoded *slot_get(daq_encoder *e, enc_row *r, int k, daq_frame *f, daq_quality q,
                             bool lz4)
{
    for (;;) {
        if (r->state[k] == SLOT_READY)
            return daq_encoded_ref(r->enc[k]);
        if (r->state[k] == SLOT_BUSY) {
            pthread_cond_wait(&e->done, &e->mu);
            continue;
        }
        r->state[k] = SLOT_BUSY;
        pthread_mutex_unlock(&e->mu);
        daq_encoded *enc = daq_encode_frame(f, q, lz4);
        pthread_mutex_lock(&e->mu);
        if (enc) {
            r->enc[k] = daq_encoded_ref(enc);
            atomic_fetch_add_explicit(&e->computed, 1, memory_order_relaxed);
        }
        r->state[k] = enc ? SLOT_READY : SLOT_EMPTY;
        pthread_cond_broadcast(&e->done);
        return enc;
    }
}

static daq_encoded *encode_uncached(daq_encoder *e, daq_frame *f, daq_quality q, bool lz4)
{
    daq_encoded *enc = daq_encode_frame(f, q, lz4);
    if (enc)
        atomic_fetch_add_explicit(&e->computed, 1, memory_order_relaxed);
    return enc;
}

daq_encoded *daq_encoder_encode(daq_encoder *e, daq_frame *f, daq_quality q, bool lz4)
{
    if (quality_factor(q) == 1)
        q = DAQ_QUALITY_FULL;
    int k = (int)q * 2 + (lz4 ? 1 : 0);
    uint64_t seq = daq_frame_meta_get(f)->sequence;
    enc_row victim = {0};

    pthread_mutex_lock(&e->mu);
    enc_row *r = row_find(e, f, seq);
    if (!r) {
        r = row_take(e, &victim);
        if (r)
            row_claim(e, r, f, seq);
    }
    if (!r) {
        pthread_mutex_unlock(&e->mu);
        return encode_uncached(e, f, q, lz4);
    }
    r->pins++;
    daq_encoded *enc = slot_get(e, r, k, f, q, lz4);
    r->pins--;
    pthread_mutex_unlock(&e->mu);
    row_release(&victim);
    return enc;
}
