/* drivers/aravis/aravis_ids.h - GigE Vision frame ids to a monotonic 64-bit
 * hardware frame number.
 *
 * GigE Vision 1.x block ids are 16 bit, and 0 is reserved: a camera counts
 * 1, 2, ..., 65535, 1, 2, ...  (Aravis' fake cameras start at 65401 so the
 * wrap comes early).  The engine's loss check compares consecutive hardware
 * numbers, so a raw id would turn every wrap into a "backwards" jump and
 * hide the frames lost across it.  The extender keeps a 64-bit count that
 * advances by the forward distance between consecutive ids:
 *
 *  - distance = (raw - last) mod 2^16, minus one when the step crossed the
 *    wrap and landed on a non-zero id (0 was skipped, it is not a frame);
 *  - a distance above half the range is a step backwards (a reordered or
 *    restarted camera), applied as such so the engine flags it;
 *  - ids above 0xFFFF mean the device uses 64-bit ids (GEV 2 extended ids,
 *    USB3 Vision): they are monotonic already and pass through.
 *
 * Only successful buffers are fed in: a failed buffer's id may be stale
 * (Aravis' fake leaves the previous one in a size-mismatch buffer), and
 * the frames it stands for show up as a gap, which is what they are.
 * Header-only and pure so the tests can drive it with any sequence.
 */
#ifndef DAQ_ARAVIS_IDS_H
#define DAQ_ARAVIS_IDS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct aravis_id_ext {
    bool have;
    uint64_t last_raw; /* the previous raw id */
    uint64_t ext;      /* its extended value */
    uint64_t wraps;    /* 16-bit wraps seen */
} aravis_id_ext;

static inline void aravis_id_reset(aravis_id_ext *x)
{
    x->have = false;
    x->last_raw = x->ext = x->wraps = 0;
}

/* The 64-bit number of raw id; updates the state. */
static inline uint64_t aravis_id_extend(aravis_id_ext *x, uint64_t raw)
{
    if (!x->have || raw > 0xFFFFu || x->last_raw > 0xFFFFu) {
        x->have = true;
        x->last_raw = raw;
        x->ext = raw;
        return raw;
    }
    uint64_t fwd = (raw - x->last_raw) & 0xFFFFu;
    if (fwd > 0x8000u) { /* backwards */
        uint64_t back = (x->last_raw - raw) & 0xFFFFu;
        x->ext = x->ext > back ? x->ext - back : 0;
    } else {
        if (raw < x->last_raw) { /* crossed the wrap */
            x->wraps++;
            if (raw != 0 && fwd > 1)
                fwd--; /* id 0 is not a frame */
        }
        x->ext += fwd;
    }
    x->last_raw = raw;
    return x->ext;
}

#endif
