/* tap/server_reader.c - the tap's frame path: one reader's deliver, its
 * lease table, RELEASE and revocation.
 *
 * deliver runs on the acquisition thread under the bus subscription's
 * lock, so it is built to cost one sendmsg and never wait: the reader's
 * mutex is a leaf held for a few hundred ns (the other holder, the server
 * thread, only copies or clears lease entries under it), the lease table
 * is a fixed array of at most 64 entries (the only search: a free entry),
 * the FRAME is a 176-byte struct on the stack and the send is
 * MSG_DONTWAIT.  A full socket (the reader is behind: its SO_SNDBUF holds
 * about queue_depth FRAMEs) loses the frame, counted; a broken one marks
 * the reader dead for the thread to reap.  Nothing is allocated.
 *
 * The slot's shared header (daq_slot_header) is written here, before the
 * FRAME goes out, by the thread that publishes the frame: every reader of
 * a camera is delivered on that same thread, so the writes of the same
 * values by several readers never race.  generation is the pool's: read
 * (acquire) after the header, it is the frame's as long as we hold our
 * reference (the slot cannot go back to the free list under it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "daq/pool.h"
#include "tap/server_internal.h"
#include "util/clock.h"

void tap_head_init(daq_tap_head *h, daq_tap_type type)
{
    h->magic = DAQ_TAP_MAGIC;
    h->version = DAQ_TAP_VERSION;
    h->type = (uint16_t)type;
}

int tap_send(int fd, const void *msg, size_t len)
{
    ssize_t n;
    do
        n = send(fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    return (size_t)n == len ? 0 : (errno = EMSGSIZE, -1);
}

/* MAP with the pool's two memfds; the caller holds c->mu. */
static int send_map(tap_conn *c, daq_pool *p)
{
    daq_tap_map m;
    memset(&m, 0, sizeof m);
    tap_head_init(&m.head, DAQ_TAP_MAP);
    m.pool_serial = daq_pool_serial(p);
    m.arena_bytes = daq_pool_arena_bytes(p);
    m.header_bytes = daq_pool_header_bytes(p);
    m.slot_count = daq_pool_slot_count(p);
    m.slot_stride = m.slot_count > 1 ? daq_pool_slot_offset(p, 1) - daq_pool_slot_offset(p, 0)
                                     : daq_pool_slot_bytes(p);
    m.slot_bytes = daq_pool_slot_bytes(p);
    m.header_size = (uint32_t)sizeof(daq_slot_header);
    int fds[2] = {daq_pool_memfd(p), daq_pool_header_memfd(p)};
    union {
        char buf[CMSG_SPACE(sizeof fds)];
        struct cmsghdr align;
    } u;
    memset(&u, 0, sizeof u);
    struct iovec iov = {&m, sizeof m};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(cm), fds, sizeof fds);
    ssize_t n;
    do
        n = sendmsg(c->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof m ? 0 : -1;
}

void tap_slot_header_fill(daq_slot_header *h, const daq_frame_meta *m)
{
    h->sequence = m->sequence;
    h->hw_frame_number = m->hw_frame_number;
    h->eof_ns = m->eof_ns;
    h->arrival_real_ns = m->arrival_real_ns;
    h->width = m->width;
    h->height = m->height;
    h->stride_bytes = m->stride_bytes;
    h->pixel_format = (uint16_t)m->pixel_format;
    h->bit_depth = m->bit_depth;
    h->payload_bytes = (uint32_t)m->payload_bytes;
    h->flags = m->flags;
}

/* A send that failed: EAGAIN is a full socket (the frame is lost for this
 * reader), anything else a broken one. */
static void send_failed(tap_conn *c)
{
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
        c->drops_socket_full++;
    else
        atomic_store(&c->dead, true);
}

bool tap_conn_send_frame(tap_conn *c, daq_frame *f, bool write_header)
{
    daq_pool *p = daq_frame_pool(f);
    if (!p || daq_pool_memfd(p) < 0 || daq_frame_slot(f) < 0) {
        c->drops_unshareable++;
        return false;
    }
    if (c->held >= c->lease_cap) {
        c->drops_lease_cap++;
        return false;
    }
    uint64_t serial = daq_pool_serial(p);
    if (serial != c->mapped_serial) {
        if (send_map(c, p) < 0) {
            send_failed(c);
            return false;
        }
        c->mapped_serial = serial;
    }
    uint32_t slot = (uint32_t)daq_frame_slot(f);
    const daq_frame_meta *m = daq_frame_meta_get(f);
    daq_slot_header *sh = daq_pool_slot_header(p, slot);
    if (write_header)
        tap_slot_header_fill(sh, m);
    uint64_t gen = __atomic_load_n(&sh->generation, __ATOMIC_ACQUIRE);

    tap_lease *l = NULL;
    for (uint32_t i = 0; i < c->lease_cap; i++)
        if (!c->leases[i].f) {
            l = &c->leases[i];
            break;
        }
    if (!l) { /* held < lease_cap says there is one */
        c->drops_lease_cap++;
        return false;
    }
    daq_tap_frame_msg fm;
    memset(&fm, 0, sizeof fm);
    tap_head_init(&fm.head, DAQ_TAP_FRAME);
    fm.lease = c->next_lease;
    fm.pool_serial = serial;
    fm.generation = gen;
    fm.offset = daq_pool_slot_offset(p, slot);
    fm.slot = slot;
    fm.payload_bytes = (uint32_t)m->payload_bytes;
    fm.width = m->width;
    fm.height = m->height;
    fm.stride_bytes = m->stride_bytes;
    fm.pixel_format = (uint16_t)m->pixel_format;
    fm.bit_depth = m->bit_depth;
    fm.sequence = m->sequence;
    fm.hw_frame_number = m->hw_frame_number;
    fm.bof_ns = m->bof_ns;
    fm.eof_ns = m->eof_ns;
    fm.exposure_ns = m->exposure_ns;
    fm.cam_bof_ns = m->cam_bof_ns;
    fm.cam_eof_ns = m->cam_eof_ns;
    fm.arrival_mono_ns = m->arrival_mono_ns;
    fm.arrival_real_ns = m->arrival_real_ns;
    fm.exposure_start_real_ns = m->exposure_start_real_ns;
    fm.trigger_index = m->trigger_index;
    fm.dropped = c->drops_lease_cap + c->drops_socket_full + c->drops_unshareable;
    fm.flags = m->flags;
    fm.leases_held = c->held + 1;
    daq_frame_ref(f);
    uint64_t now = daq_now_ns();
    fm.publish_mono_ns = now;
    if (tap_send(c->fd, &fm, sizeof fm) < 0) {
        daq_frame_unref(f); /* not the last: the caller holds one */
        send_failed(c);
        return false;
    }
    l->no = c->next_lease++;
    l->f = f;
    l->taken_ns = now;
    c->held++;
    c->frames_sent++;
    return true;
}

/* Before READY (DAQ_TAP_HELLO_READY): the first MAP goes out alone, and
 * the frame is not the reader's -- it is mapping the pool, and its stream
 * starts with the first frame after READY.  Counted apart from drops. */
static void deliver_before_ready(tap_conn *c, daq_frame *f)
{
    daq_pool *p = daq_frame_pool(f);
    if (p && daq_pool_memfd(p) >= 0 && daq_pool_serial(p) != c->mapped_serial) {
        if (send_map(c, p) == 0)
            c->mapped_serial = daq_pool_serial(p);
        else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS)
            atomic_store(&c->dead, true);
    }
    c->skipped_before_ready++;
}

bool tap_deliver(void *ctx, daq_frame *f)
{
    tap_conn *c = ctx;
    pthread_mutex_lock(&c->mu);
    bool took = false;
    if (!c->welcomed || atomic_load_explicit(&c->dead, memory_order_relaxed)) {
        /* not yet (the frames of the WELCOME's microseconds), or gone */
    } else if (!f) {
        c->hist_serial = 0; /* a restart may keep the pool: its sequences start over */
        daq_tap_head eos;
        tap_head_init(&eos, DAQ_TAP_EOS);
        if (tap_send(c->fd, &eos, sizeof eos) < 0 && errno != EAGAIN)
            atomic_store(&c->dead, true);
    } else if (c->await_ready) {
        deliver_before_ready(c, f);
    } else if (c->hist_serial && daq_frame_pool(f) &&
               daq_pool_serial(daq_frame_pool(f)) == c->hist_serial &&
               daq_frame_meta_get(f)->sequence <= c->hist_last_seq) {
        /* sent already as history: published while the reader joined */
    } else {
        c->hist_serial = 0;
        took = tap_conn_send_frame(c, f, true);
    }
    pthread_mutex_unlock(&c->mu);
    return took;
}

void tap_conn_release(tap_conn *c, const uint64_t *leases, uint32_t n)
{
    daq_frame *back[DAQ_TAP_MAX_RELEASE];
    uint32_t nb = 0;
    pthread_mutex_lock(&c->mu);
    for (uint32_t k = 0; k < n; k++) {
        bool found = false;
        for (uint32_t i = 0; leases[k] && i < c->lease_cap; i++)
            if (c->leases[i].f && c->leases[i].no == leases[k]) {
                back[nb++] = c->leases[i].f;
                c->leases[i] = (tap_lease){0};
                c->held--;
                c->releases++;
                found = true;
                break;
            }
        if (!found)
            c->stale_releases++;
    }
    pthread_mutex_unlock(&c->mu);
    /* Outside the lock: the last reference returns a slot to its pool. */
    for (uint32_t k = 0; k < nb; k++)
        daq_frame_unref(back[k]);
}

void tap_conn_revoke_old(tap_conn *c, uint64_t now, uint64_t timeout_ns)
{
    daq_frame *back[DAQ_TAP_MAX_LEASES];
    uint32_t nb = 0;
    pthread_mutex_lock(&c->mu);
    for (uint32_t i = 0; i < c->lease_cap; i++) {
        tap_lease *l = &c->leases[i];
        /* Not now - taken: a lease taken on the acquisition thread after
         * the caller read its clock is newer than now. */
        if (!l->f || l->taken_ns + timeout_ns > now)
            continue;
        daq_tap_revoked rv;
        memset(&rv, 0, sizeof rv);
        tap_head_init(&rv.head, DAQ_TAP_REVOKED);
        rv.lease = l->no;
        daq_pool *p = daq_frame_pool(l->f);
        rv.pool_serial = p ? daq_pool_serial(p) : 0;
        rv.slot = (uint32_t)daq_frame_slot(l->f);
        /* Revoked whether or not the reader hears of it: its late RELEASE
         * is counted stale either way. */
        if (tap_send(c->fd, &rv, sizeof rv) < 0 && errno != EAGAIN)
            atomic_store(&c->dead, true);
        back[nb++] = l->f;
        *l = (tap_lease){0};
        c->held--;
        c->revoked++;
    }
    pthread_mutex_unlock(&c->mu);
    for (uint32_t k = 0; k < nb; k++)
        daq_frame_unref(back[k]);
}

void tap_conn_release_all(tap_conn *c)
{
    daq_frame *back[DAQ_TAP_MAX_LEASES];
    uint32_t nb = 0;
    pthread_mutex_lock(&c->mu);
    for (uint32_t i = 0; i < DAQ_TAP_MAX_LEASES; i++)
        if (c->leases[i].f) {
            back[nb++] = c->leases[i].f;
            c->leases[i] = (tap_lease){0};
        }
    c->held = 0;
    pthread_mutex_unlock(&c->mu);
    for (uint32_t k = 0; k < nb; k++)
        daq_frame_unref(back[k]);
}
