/* tap/server_history.c - [tap] history: the last H (<= 16) frames of each
 * camera, so a reader that joins can start with what just happened (a
 * viewer's first image at once, a trigger's frames a moment late).
 *
 * One direct subscription per device, owned by the server: its deliver,
 * on the publishing thread, writes the slot's shared header (the readers'
 * deliver does the same, on that same thread, so the writes never race)
 * and swaps the frame into a ring of H references under a leaf mutex: one
 * ref, one store, at most one unref per frame.  Heap frames are not kept
 * (a reader could not map them).  A new reader's HELLO takes references on
 * up to min(asked, H, lease cap) of them, oldest first; they are sent
 * right after WELCOME, before any live frame.  The pool's auto-sizing
 * counts H per camera (daq_tap_pool_frames).
 */
#include <stdio.h>
#include <stdlib.h>

#include "tap/server_internal.h"
#include "util/err.h"

static bool hist_deliver(void *ctx, daq_frame *f)
{
    tap_history *h = ctx;
    if (!f)
        return false;
    daq_pool *p = daq_frame_pool(f);
    if (!p || daq_pool_memfd(p) < 0 || daq_frame_slot(f) < 0)
        return false;
    tap_slot_header_fill(daq_pool_slot_header(p, (uint32_t)daq_frame_slot(f)),
                         daq_frame_meta_get(f));
    daq_frame_ref(f);
    pthread_mutex_lock(&h->mu);
    daq_frame *old = h->ring[h->next];
    h->ring[h->next] = f;
    h->next = (h->next + 1) % h->cap;
    if (h->n < h->cap)
        h->n++;
    pthread_mutex_unlock(&h->mu);
    daq_frame_unref(old); /* NULL ok; not under the lock: it may send a slot home */
    return true;
}

int tap_history_start(daq_tap_server *t, char *err, size_t err_len)
{
    uint32_t cap = t->cfg.history;
    if (cap == 0)
        return 0;
    if (cap > sizeof t->hist[0].ring / sizeof t->hist[0].ring[0])
        return daq_err(err, err_len, "tap: history %u is more than 16", cap);
    size_t n = daq_devices_count(t->devices);
    t->hist = calloc(n ? n : 1, sizeof *t->hist);
    if (!t->hist)
        return daq_err(err, err_len, "tap: out of memory");
    for (size_t i = 0; i < n; i++) {
        tap_history *h = &t->hist[i];
        pthread_mutex_init(&h->mu, NULL);
        h->cap = cap;
        t->n_hist = i + 1;
        h->bus = daq_device_bus(daq_devices_at(t->devices, i));
        if (!h->bus)
            continue;
        daq_sub_config sc;
        daq_sub_config_init(&sc);
        sc.name = "tap:history";
        sc.policy = DAQ_SUB_DROP_NEWEST;
        sc.queue_depth = cap;
        sc.deliver = hist_deliver;
        sc.deliver_ctx = h;
        char e[256] = "";
        h->sub = daq_bus_subscribe(h->bus, &sc, e, sizeof e);
        if (!h->sub)
            return daq_err(err, err_len, "tap: history: %s", e);
    }
    return 0;
}

void tap_history_stop(daq_tap_server *t)
{
    for (size_t i = 0; i < t->n_hist; i++) {
        tap_history *h = &t->hist[i];
        if (h->sub) /* after this no deliver runs: the ring is ours */
            daq_bus_unsubscribe(h->bus, h->sub);
        for (uint32_t k = 0; k < h->cap; k++)
            daq_frame_unref(h->ring[k]);
        pthread_mutex_destroy(&h->mu);
    }
    free(t->hist);
    t->hist = NULL;
    t->n_hist = 0;
}

uint32_t tap_history_take(daq_tap_server *t, daq_bus *bus, daq_frame **out, uint32_t max)
{
    for (size_t i = 0; i < t->n_hist; i++) {
        tap_history *h = &t->hist[i];
        if (h->bus != bus || !h->sub)
            continue;
        pthread_mutex_lock(&h->mu);
        uint32_t n = h->n < max ? h->n : max;
        /* the newest n, oldest first */
        for (uint32_t k = 0; k < n; k++)
            out[k] = daq_frame_ref(h->ring[(h->next + h->cap - n + k) % h->cap]);
        pthread_mutex_unlock(&h->mu);
        return n;
    }
    return 0;
}
