/* tap/reader.c - the zero-copy tap's C reader (daq/tap.h; wire format
 * daq/tap_proto.h, guide docs/tap.md, ADR 0012).
 *
 * One connected SOCK_SEQPACKET socket and a few read-only mappings.  The
 * reader's whole state is one calloc at daq_tap_open: up to TAP_MAPS pool
 * mappings, a table of the leases the caller holds and the queue of
 * releases not sent yet -- nothing is allocated, mapped or unmapped per
 * frame, so daq_tap_next costs one recvmsg (plus a ppoll when it has to
 * wait) and a copy of 176 bytes of metadata.
 *
 * Mappings.  A MAP brings the pool's two sealed memfds; both are mapped
 * whole, PROT_READ, MAP_SHARED and MAP_POPULATE: the first touch of a
 * shared 4 KiB page costs 2.6 us here (5.3 ms per 8 MiB frame), so the
 * page tables are filled once at map time, never on the frame path (a
 * pool of 45 x 8 MiB maps in about 20 ms: daq-tap-reader's first frame
 * came 22 ms after open, at 1,000 frames/s).  The
 * sizes MAP claims are checked against fstat of the fds (the daemon sealed
 * them against shrinking, so a size that matches now stays true): a reader
 * never dereferences past what the kernel backs.  A restart with a new
 * frame size makes a new pool; its MAP arrives before its first FRAME.  An
 * older mapping is unmapped once no lease the caller holds points into it
 * and a newer one exists; TAP_MAPS = 4 leaves room for the caller to hold
 * frames across two restarts.
 *
 * Leases.  The table holds every FRAME handed out and not yet released:
 * the granted cap (<= 64) plus leases the daemon revoked that the caller
 * has not let go of yet, hence 2 * DAQ_TAP_MAX_LEASES entries.  Releases
 * are queued and sent in one RELEASE of up to 62 lease numbers (one packet
 * of at most 512 bytes), at the next daq_tap_next or daq_tap_flush: a
 * reader that releases each frame before asking for the next sends one
 * RELEASE per frame, piggybacked on the same call.  A revoked lease's
 * release is local only: the daemon already let the frame go.
 *
 * The generation check (daq_tap_frame_valid) is a seqlock read: the
 * caller's pixel loads, an acquire fence, then the slot header's
 * generation; the daemon bumps it with a full barrier before a reused
 * slot's new pixels are written, so an unchanged value means the pixels
 * read were the frame's.
 *
 * Errors.  A packet with a wrong magic, version, type or length, a MAP
 * whose sizes do not match its fds, a FRAME outside its mapping: the
 * connection is given up (the tap is dead, every later call says so) with
 * the reason in daq_tap_error.  An ERROR from the daemon is passed through
 * verbatim.  Stray fds on any packet but MAP are closed.
 *
 * Waiting: a blocking recvmsg for timeout < 0, ppoll then a non-blocking
 * recvmsg for timeout > 0 (nanosecond deadline), one non-blocking recvmsg
 * for 0.  A signal delivered to the waiting thread ends the wait early with
 * DAQ_TAP_NEXT_TIMEOUT, so a program's SIGINT handler gets control back.
 *
 * Threading: none of its own; one daq_tap per thread (no locks).
 */
#define _GNU_SOURCE
#include "daq/tap_proto.h"
#include "daq/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daq/pool.h"
#include "util/err.h"

#define TAP_MAPS         4u
#define TAP_HELD_MAX     (2u * DAQ_TAP_MAX_LEASES)
#define TAP_OPEN_WAIT_NS 5000000000ll
#define TAP_ERR_LEN      256u
#define TAP_FDS_MAX      2u /* fds one packet may carry (MAP's two) */

typedef struct tap_map {
    uint64_t pool_serial; /* 0: the entry is free */
    const uint8_t *arena;
    size_t arena_bytes;
    const uint8_t *headers;
    size_t header_bytes;
    uint32_t slot_count, header_size;
    uint32_t held; /* leases in the table pointing into this mapping */
} tap_map;

typedef struct tap_lease {
    uint64_t lease;
    uint32_t map; /* index into maps */
    bool revoked;
} tap_lease;

/* One received packet: the largest message is DAQ_TAP_MESSAGE_MAX. */
typedef union tap_msg {
    daq_tap_head head;
    daq_tap_welcome welcome;
    daq_tap_map map;
    daq_tap_frame_msg frame;
    daq_tap_revoked revoked;
    daq_tap_error_msg error;
    uint8_t raw[DAQ_TAP_MESSAGE_MAX];
} tap_msg;

struct daq_tap {
    int fd;
    bool dead;   /* the connection was given up: error says why */
    bool closed; /* ... because the daemon closed it (EOF, reset) */
    daq_tap_welcome welcome;
    tap_map maps[TAP_MAPS];
    tap_lease held[TAP_HELD_MAX];
    uint32_t n_held;
    daq_tap_release_msg pending; /* the next RELEASE, filled as the caller releases */
    uint64_t local_drops;        /* FRAMEs refused here: the table was full */
    daq_tap_stats stats;
    tap_msg msg;
    char error[TAP_ERR_LEN];
};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void head_init(daq_tap_head *h, daq_tap_type type)
{
    h->magic = DAQ_TAP_MAGIC;
    h->version = DAQ_TAP_VERSION;
    h->type = (uint16_t)type;
}

/* Gives the connection up with a reason; returns DAQ_TAP_NEXT_ERROR. */
DAQ_PRINTF(2, 3) static int tap_fail(daq_tap *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->error, sizeof t->error, fmt, ap);
    va_end(ap);
    t->dead = true;
    return DAQ_TAP_NEXT_ERROR;
}

void daq_tap_options_init(daq_tap_options *o)
{
    memset(o, 0, sizeof *o);
}

/* ---- receiving --------------------------------------------------------------------------- */

/* The size each message the daemon sends must have; 0 for a type it never
 * sends. */
static size_t daemon_msg_size(uint16_t type)
{
    switch (type) {
    case DAQ_TAP_WELCOME: return sizeof(daq_tap_welcome);
    case DAQ_TAP_MAP: return sizeof(daq_tap_map);
    case DAQ_TAP_FRAME: return sizeof(daq_tap_frame_msg);
    case DAQ_TAP_REVOKED: return sizeof(daq_tap_revoked);
    case DAQ_TAP_EOS: return sizeof(daq_tap_head);
    case DAQ_TAP_BYE: return sizeof(daq_tap_head);
    case DAQ_TAP_ERROR: return sizeof(daq_tap_error_msg);
    default: return 0;
    }
}

/* One packet into t->msg, with up to TAP_FDS_MAX fds in fds[] (*n_fds;
 * the caller owns them).  flags: MSG_DONTWAIT or 0.  Returns 1 (a valid
 * packet), 0 (nothing: EAGAIN) or DAQ_TAP_NEXT_ERROR (the tap is dead). */
static int tap_recv(daq_tap *t, int flags, int *fds, unsigned *n_fds)
{
    *n_fds = 0;
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(TAP_FDS_MAX * sizeof(int))];
    } ctl;
    struct iovec iov = {.iov_base = t->msg.raw, .iov_len = sizeof t->msg.raw};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
    ssize_t n = recvmsg(t->fd, &mh, flags | MSG_CMSG_CLOEXEC);
    if (n < 0) {
        /* EINTR: a signal ends a blocking wait (the caller's Ctrl-C) */
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return 0;
        t->closed = errno == ECONNRESET;
        return tap_fail(t, "tap: recv: %s", strerror(errno));
    }
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const unsigned char *data = CMSG_DATA(c);
        for (size_t i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, data + i * sizeof(int), sizeof fd);
            if (*n_fds < TAP_FDS_MAX)
                fds[(*n_fds)++] = fd;
            else
                close(fd);
        }
    }
    const char *bad = NULL;
    if (n == 0)
        bad = "";
    else if (mh.msg_flags & MSG_TRUNC)
        bad = "a packet longer than 512 bytes";
    else if (mh.msg_flags & MSG_CTRUNC)
        bad = "more than 2 fds on one packet";
    else if ((size_t)n < sizeof(daq_tap_head) || t->msg.head.magic != DAQ_TAP_MAGIC)
        bad = "bad magic";
    else if (t->msg.head.version != DAQ_TAP_VERSION)
        bad = "unknown version";
    else if (daemon_msg_size(t->msg.head.type) == 0)
        bad = "unexpected message type";
    else if ((size_t)n != daemon_msg_size(t->msg.head.type))
        bad = "wrong length";
    if (bad) {
        for (unsigned i = 0; i < *n_fds; i++)
            close(fds[i]);
        *n_fds = 0;
        if (n == 0) {
            t->closed = true;
            return tap_fail(t, "tap: the daemon closed the connection");
        }
        if (!strcmp(bad, "unexpected message type") || !strcmp(bad, "wrong length"))
            return tap_fail(t, "tap: bad message from the daemon: %s (type %u, %zd bytes)", bad,
                            (unsigned)t->msg.head.type, n);
        return tap_fail(t, "tap: bad message from the daemon: %s", bad);
    }
    if (t->msg.head.type != DAQ_TAP_MAP) {
        for (unsigned i = 0; i < *n_fds; i++)
            close(fds[i]);
        *n_fds = 0;
    }
    return 1;
}

/* ---- mappings ---------------------------------------------------------------------------- */

static void map_drop(tap_map *m)
{
    if (m->arena)
        munmap((void *)m->arena, m->arena_bytes);
    if (m->headers)
        munmap((void *)m->headers, m->header_bytes);
    memset(m, 0, sizeof *m);
}

/* Unmaps every mapping no held lease points into that has a newer one. */
static void maps_sweep(daq_tap *t)
{
    uint64_t newest = 0;
    for (unsigned i = 0; i < TAP_MAPS; i++)
        if (t->maps[i].pool_serial > newest)
            newest = t->maps[i].pool_serial;
    for (unsigned i = 0; i < TAP_MAPS; i++)
        if (t->maps[i].pool_serial && t->maps[i].pool_serial < newest && t->maps[i].held == 0)
            map_drop(&t->maps[i]);
}

static int map_find(const daq_tap *t, uint64_t pool_serial)
{
    for (unsigned i = 0; i < TAP_MAPS; i++)
        if (pool_serial && t->maps[i].pool_serial == pool_serial)
            return (int)i;
    return -1;
}

/* A size of fd (fstat), or -1. */
static int64_t fd_size(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? (int64_t)st.st_size : -1;
}

/* Handles t->msg.map with its fds (taken: closed here in every case). */
static int tap_on_map(daq_tap *t, int *fds, unsigned n_fds)
{
    const daq_tap_map *m = &t->msg.map;
    int rc = 0;
    void *arena = MAP_FAILED, *headers = MAP_FAILED;
    if (n_fds != 2) {
        rc = tap_fail(t, "tap: bad message from the daemon: MAP with %u fds, not 2", n_fds);
        goto out;
    }
    int64_t a = fd_size(fds[0]), h = fd_size(fds[1]);
    if (a < 0 || h < 0 || (uint64_t)a != m->arena_bytes || (uint64_t)h != m->header_bytes) {
        rc =
            tap_fail(t, "tap: MAP of pool %llu says %llu + %llu bytes, its memfds have %lld + %lld",
                     (unsigned long long)m->pool_serial, (unsigned long long)m->arena_bytes,
                     (unsigned long long)m->header_bytes, (long long)a, (long long)h);
        goto out;
    }
    if (m->pool_serial == 0 || m->slot_count == 0 || m->header_size < sizeof(daq_slot_header) ||
        m->arena_bytes == 0 || m->header_bytes / m->header_size < m->slot_count ||
        m->header_size % 8 != 0) {
        rc = tap_fail(t, "tap: MAP of pool %llu: a bad layout (%u slots, headers of %u bytes)",
                      (unsigned long long)m->pool_serial, m->slot_count, m->header_size);
        goto out;
    }
    if (map_find(t, m->pool_serial) >= 0)
        goto out; /* mapped already: the same pool, nothing new */
    maps_sweep(t);
    int free_i = -1;
    for (unsigned i = 0; i < TAP_MAPS && free_i < 0; i++)
        if (t->maps[i].pool_serial == 0)
            free_i = (int)i;
    if (free_i < 0) {
        rc = tap_fail(t, "tap: %u pools are mapped with frames held in each: release them",
                      TAP_MAPS);
        goto out;
    }
    arena = mmap(NULL, (size_t)m->arena_bytes, PROT_READ, MAP_SHARED | MAP_POPULATE, fds[0], 0);
    if (arena == MAP_FAILED) {
        rc = tap_fail(t, "tap: mmap of pool %llu's %llu bytes: %s",
                      (unsigned long long)m->pool_serial, (unsigned long long)m->arena_bytes,
                      strerror(errno));
        goto out;
    }
    headers = mmap(NULL, (size_t)m->header_bytes, PROT_READ, MAP_SHARED | MAP_POPULATE, fds[1], 0);
    if (headers == MAP_FAILED) {
        rc = tap_fail(t, "tap: mmap of pool %llu's headers: %s", (unsigned long long)m->pool_serial,
                      strerror(errno));
        munmap(arena, (size_t)m->arena_bytes);
        goto out;
    }
    t->maps[free_i] = (tap_map){.pool_serial = m->pool_serial,
                                .arena = arena,
                                .arena_bytes = (size_t)m->arena_bytes,
                                .headers = headers,
                                .header_bytes = (size_t)m->header_bytes,
                                .slot_count = m->slot_count,
                                .header_size = m->header_size};
    t->stats.maps++;
out:
    for (unsigned i = 0; i < n_fds; i++)
        close(fds[i]);
    return rc;
}

/* ---- open / close ------------------------------------------------------------------------ */

static int send_msg(daq_tap *t, const void *msg, size_t len)
{
    ssize_t n;
    do
        n = send(t->fd, msg, len, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n == (ssize_t)len)
        return 0;
    int e = n < 0 ? errno : EMSGSIZE;
    tap_fail(t, "tap: send: %s", n < 0 ? strerror(e) : "short write");
    errno = e;
    return -1;
}

daq_tap *daq_tap_open(const char *socket_path, const daq_tap_options *opt, char *err,
                      size_t err_len)
{
    daq_tap_options defaults;
    if (!opt) {
        daq_tap_options_init(&defaults);
        opt = &defaults;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    const char *device = opt->device ? opt->device : "";
    if (!socket_path || !*socket_path) {
        daq_err(err, err_len, "tap: no socket path");
        return NULL;
    }
    if (strlen(socket_path) >= sizeof sa.sun_path) {
        daq_err(err, err_len, "tap: socket path '%s' is longer than %zu bytes", socket_path,
                sizeof sa.sun_path - 1);
        return NULL;
    }
    if (strlen(device) >= DAQ_TAP_DEVICE_MAX) {
        daq_err(err, err_len, "tap: device id '%s' is longer than %u bytes", device,
                DAQ_TAP_DEVICE_MAX - 1);
        return NULL;
    }
    if (opt->lease_cap > DAQ_TAP_MAX_LEASES || opt->queue_depth > DAQ_TAP_MAX_QUEUE) {
        daq_err(err, err_len,
                "tap: lease_cap %u / queue_depth %u: out of range (at most %u / %u; 0 = the "
                "daemon's default)",
                opt->lease_cap, opt->queue_depth, DAQ_TAP_MAX_LEASES, DAQ_TAP_MAX_QUEUE);
        return NULL;
    }
    if (!(opt->max_fps >= 0) || isinf(opt->max_fps)) {
        daq_err(err, err_len, "tap: max_fps %g: must be a finite number >= 0 (0 = unlimited)",
                opt->max_fps);
        return NULL;
    }
    daq_tap *t = calloc(1, sizeof *t);
    if (!t) {
        daq_err(err, err_len, "tap: out of memory");
        return NULL;
    }
    head_init(&t->pending.head, DAQ_TAP_RELEASE);
    memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
    t->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (t->fd < 0) {
        daq_err(err, err_len, "tap: socket: %s", strerror(errno));
        free(t);
        return NULL;
    }
    int rc;
    do
        rc = connect(t->fd, (struct sockaddr *)&sa, sizeof sa);
    while (rc < 0 && errno == EINTR);
    if (rc < 0) {
        daq_err(err, err_len, "tap: %s: %s", socket_path, strerror(errno));
        goto fail;
    }
    daq_tap_hello h = {.lease_cap = opt->lease_cap,
                       .queue_depth = opt->queue_depth,
                       .history = opt->history,
                       .decimate = opt->decimate,
                       .max_fps = opt->max_fps,
                       .flags = DAQ_TAP_HELLO_READY};
    head_init(&h.head, DAQ_TAP_HELLO);
    memcpy(h.device, device, strlen(device) + 1);
    /* A daemon that refuses the peer answers ERROR and closes without
     * reading: the send may fail (EPIPE) with the ERROR waiting to be read. */
    if (send_msg(t, &h, sizeof h) < 0 && errno != EPIPE && errno != ECONNRESET) {
        daq_err(err, err_len, "%s", t->error);
        goto fail;
    }
    t->dead = false;
    uint64_t deadline = mono_ns() + TAP_OPEN_WAIT_NS;
    for (;;) {
        uint64_t now = mono_ns();
        if (now >= deadline) {
            daq_err(err, err_len, "tap: %s: no WELCOME within 5 s", socket_path);
            goto fail;
        }
        struct pollfd p = {.fd = t->fd, .events = POLLIN};
        uint64_t left = deadline - now;
        struct timespec ts = {(time_t)(left / 1000000000u), (long)(left % 1000000000u)};
        if (ppoll(&p, 1, &ts, NULL) < 0 && errno != EINTR) {
            daq_err(err, err_len, "tap: poll: %s", strerror(errno));
            goto fail;
        }
        int fds[TAP_FDS_MAX];
        unsigned n_fds;
        int got = tap_recv(t, MSG_DONTWAIT, fds, &n_fds);
        if (got == 0)
            continue;
        if (got < 0) {
            if (t->closed)
                daq_err(err, err_len, "tap: %s: the daemon closed the connection before WELCOME",
                        socket_path);
            else
                daq_err(err, err_len, "%s", t->error);
            goto fail;
        }
        for (unsigned i = 0; i < n_fds; i++)
            close(fds[i]);
        if (t->msg.head.type == DAQ_TAP_ERROR) {
            t->msg.error.message[sizeof t->msg.error.message - 1] = '\0';
            daq_err(err, err_len, "%s", t->msg.error.message);
            goto fail;
        }
        if (t->msg.head.type != DAQ_TAP_WELCOME) {
            daq_err(err, err_len, "tap: bad message from the daemon: type %u before WELCOME",
                    (unsigned)t->msg.head.type);
            goto fail;
        }
        break;
    }
    t->welcome = t->msg.welcome;
    t->welcome.device[sizeof t->welcome.device - 1] = '\0';
    if (strncmp(t->welcome.format, DAQ_TAP_FORMAT, sizeof t->welcome.format) != 0) {
        daq_err(err, err_len, "tap: the daemon speaks '%.16s', not %s", t->welcome.format,
                DAQ_TAP_FORMAT);
        goto fail;
    }
    return t;
fail:
    close(t->fd);
    free(t);
    return NULL;
}

void daq_tap_close(daq_tap *t)
{
    if (!t)
        return;
    if (!t->dead) {
        daq_tap_head bye;
        head_init(&bye, DAQ_TAP_BYE);
        /* best effort: EOF says the same */
        ssize_t n = send(t->fd, &bye, sizeof bye, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)n;
    }
    close(t->fd);
    for (unsigned i = 0; i < TAP_MAPS; i++)
        map_drop(&t->maps[i]);
    free(t);
}

/* ---- frames ------------------------------------------------------------------------------ */

static int lease_find(const daq_tap *t, uint64_t lease)
{
    for (uint32_t i = 0; i < t->n_held; i++)
        if (t->held[i].lease == lease)
            return (int)i;
    return -1;
}

/* Takes entry i out of the table (the last one moves into its place). */
static void lease_remove(daq_tap *t, uint32_t i)
{
    tap_map *m = &t->maps[t->held[i].map];
    if (m->held > 0)
        m->held--;
    t->held[i] = t->held[--t->n_held];
    if (m->held == 0)
        maps_sweep(t);
}

int daq_tap_flush(daq_tap *t)
{
    if (t->dead)
        return -1;
    if (t->pending.count == 0)
        return 0;
    size_t len = offsetof(daq_tap_release_msg, lease) + t->pending.count * sizeof(uint64_t);
    if (send_msg(t, &t->pending, len) < 0)
        return -1;
    t->pending.count = 0;
    return 0;
}

int daq_tap_release(daq_tap *t, const daq_tap_frame *f)
{
    if (!t || !f)
        return -1;
    int i = lease_find(t, f->lease);
    if (i < 0)
        return -1;
    bool revoked = t->held[i].revoked;
    lease_remove(t, (uint32_t)i);
    t->stats.released++;
    if (revoked || t->dead)
        return 0; /* the daemon let it go already */
    t->pending.lease[t->pending.count++] = f->lease;
    if (t->pending.count == DAQ_TAP_MAX_RELEASE)
        daq_tap_flush(t); /* a failure makes the tap dead: next says so */
    return 0;
}

/* Fills out from t->msg.frame; DAQ_TAP_NEXT_FRAME, TIMEOUT (a frame
 * refused here, see local_drops) or ERROR. */
static int tap_on_frame(daq_tap *t, daq_tap_frame *out, uint64_t received)
{
    const daq_tap_frame_msg *m = &t->msg.frame;
    int mi = map_find(t, m->pool_serial);
    if (mi < 0)
        return tap_fail(t, "tap: bad message from the daemon: FRAME of pool %llu before its MAP",
                        (unsigned long long)m->pool_serial);
    const tap_map *map = &t->maps[mi];
    if (m->slot >= map->slot_count || m->offset > map->arena_bytes ||
        m->payload_bytes > map->arena_bytes - m->offset)
        return tap_fail(t,
                        "tap: bad message from the daemon: FRAME slot %u, %u bytes at %llu: "
                        "outside pool %llu (%u slots, %zu bytes)",
                        m->slot, m->payload_bytes, (unsigned long long)m->offset,
                        (unsigned long long)m->pool_serial, map->slot_count, map->arena_bytes);
    if (t->n_held == TAP_HELD_MAX) {
        /* Revoked leases the caller never released fill the table: give
         * this one back at once rather than lose track of it. */
        t->local_drops++;
        t->pending.lease[t->pending.count++] = m->lease;
        if (t->pending.count == DAQ_TAP_MAX_RELEASE && daq_tap_flush(t) < 0)
            return DAQ_TAP_NEXT_ERROR;
        return DAQ_TAP_NEXT_TIMEOUT;
    }
    t->held[t->n_held++] = (tap_lease){.lease = m->lease, .map = (uint32_t)mi};
    t->maps[mi].held++;
    t->stats.frames++;
    *out = (daq_tap_frame){
        .pixels = map->arena + m->offset,
        .payload_bytes = m->payload_bytes,
        .width = m->width,
        .height = m->height,
        .stride_bytes = m->stride_bytes,
        .pixel_format = m->pixel_format,
        .bit_depth = m->bit_depth,
        .lease = m->lease,
        .sequence = m->sequence,
        .hw_frame_number = m->hw_frame_number,
        .bof_ns = m->bof_ns,
        .eof_ns = m->eof_ns,
        .exposure_ns = m->exposure_ns,
        .cam_bof_ns = m->cam_bof_ns,
        .cam_eof_ns = m->cam_eof_ns,
        .arrival_mono_ns = m->arrival_mono_ns,
        .arrival_real_ns = m->arrival_real_ns,
        .exposure_start_real_ns = m->exposure_start_real_ns,
        .trigger_index = m->trigger_index,
        .publish_mono_ns = m->publish_mono_ns,
        .receive_mono_ns = received,
        .dropped = m->dropped + t->local_drops,
        .flags = m->flags,
        .slot = m->slot,
        .generation = m->generation,
        .pool_serial = m->pool_serial,
    };
    return DAQ_TAP_NEXT_FRAME;
}

int daq_tap_next(daq_tap *t, int64_t timeout_ns, daq_tap_frame *out)
{
    if (t->dead || daq_tap_flush(t) < 0)
        return DAQ_TAP_NEXT_ERROR;
    uint64_t deadline = timeout_ns > 0 ? mono_ns() + (uint64_t)timeout_ns : 0;
    for (;;) {
        int flags = timeout_ns < 0 ? 0 : MSG_DONTWAIT;
        int fds[TAP_FDS_MAX];
        unsigned n_fds;
        int got = tap_recv(t, flags, fds, &n_fds);
        if (got < 0)
            return DAQ_TAP_NEXT_ERROR;
        if (got == 0) {
            /* nothing (a poll), or a signal interrupted the blocking recv */
            if (timeout_ns <= 0)
                return DAQ_TAP_NEXT_TIMEOUT;
            uint64_t now = mono_ns();
            if (now >= deadline)
                return DAQ_TAP_NEXT_TIMEOUT;
            struct pollfd p = {.fd = t->fd, .events = POLLIN};
            uint64_t left = deadline - now;
            struct timespec ts = {(time_t)(left / 1000000000u), (long)(left % 1000000000u)};
            if (ppoll(&p, 1, &ts, NULL) < 0) {
                if (errno == EINTR)
                    return DAQ_TAP_NEXT_TIMEOUT; /* a signal ends the wait early */
                return tap_fail(t, "tap: poll: %s", strerror(errno));
            }
            continue;
        }
        switch (t->msg.head.type) {
        case DAQ_TAP_FRAME: {
            uint64_t received = mono_ns();
            int rc = tap_on_frame(t, out, received);
            if (rc != DAQ_TAP_NEXT_TIMEOUT)
                return rc;
            break; /* refused here: wait on for the next */
        }
        case DAQ_TAP_MAP: {
            /* Mapped and prefaulted: READY starts the stream (the daemon
             * holds frames back from us until then; later MAPs need none,
             * and a READY then is harmless). */
            daq_tap_head ready;
            head_init(&ready, DAQ_TAP_READY);
            if (tap_on_map(t, fds, n_fds) < 0 || send_msg(t, &ready, sizeof ready) < 0)
                return DAQ_TAP_NEXT_ERROR;
            break;
        }
        case DAQ_TAP_REVOKED: {
            int i = lease_find(t, t->msg.revoked.lease);
            if (i >= 0 && !t->held[i].revoked) {
                t->held[i].revoked = true;
                t->stats.revoked++;
            }
            break;
        }
        case DAQ_TAP_EOS: return DAQ_TAP_NEXT_EOS;
        case DAQ_TAP_ERROR:
            t->msg.error.message[sizeof t->msg.error.message - 1] = '\0';
            return tap_fail(t, "%s", t->msg.error.message);
        case DAQ_TAP_BYE: return tap_fail(t, "tap: the daemon closed the connection (BYE)");
        default: /* WELCOME again */
            return tap_fail(t, "tap: bad message from the daemon: type %u after WELCOME",
                            (unsigned)t->msg.head.type);
        }
    }
}

bool daq_tap_frame_valid(const daq_tap *t, const daq_tap_frame *f)
{
    if (!t || !f)
        return false;
    int mi = map_find(t, f->pool_serial);
    if (mi < 0)
        return false;
    const tap_map *m = &t->maps[mi];
    if (f->slot >= m->slot_count)
        return false;
    const daq_slot_header *h =
        (const daq_slot_header *)(m->headers + (size_t)f->slot * m->header_size);
#ifdef __SANITIZE_THREAD__
    /* TSan models no fences (GCC refuses them under -fsanitize=thread); it
     * does not see that two mappings alias either: a plain acquire load. */
    return __atomic_load_n(&h->generation, __ATOMIC_ACQUIRE) == f->generation;
#else
    /* the caller's pixel loads happen before the generation's */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return __atomic_load_n(&h->generation, __ATOMIC_RELAXED) == f->generation;
#endif
}

int daq_tap_fd(const daq_tap *t)
{
    return t->fd;
}

const daq_tap_welcome *daq_tap_welcome_info(const daq_tap *t)
{
    return &t->welcome;
}

const char *daq_tap_error(const daq_tap *t)
{
    return t->error;
}

void daq_tap_stats_get(const daq_tap *t, daq_tap_stats *out)
{
    *out = t->stats;
    out->leases_held = t->n_held;
}
