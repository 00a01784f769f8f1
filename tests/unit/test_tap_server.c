/* tests/unit/test_tap_server.c - the tap server (src/tap/tap_server.h) in
 * process, against a raw protocol client written here (socket, HELLO as a
 * struct, recvmsg with SCM_RIGHTS): no dependency on the C reader library.
 *
 * The rig: a device table from a config with two sim cameras (cam0
 * streaming 256 x 256 x 16 bit at 200 FPS, 128 KiB frames so sanitizer
 * builds keep up; cam1 idle, for the NO_DEVICE list), the pool shareable
 * as daqd makes it with [tap] on, and the server on a socket in a mkdtemp
 * directory.  Each case checks exact messages, texts and counters:
 *   - the MAP's two sealed memfds (PROT_READ maps, PROT_WRITE MAP_SHARED is
 *     EPERM) and 200 frames whose pixels are the sim pattern (daq_sim_verify)
 *     with a gap-free sequence and the slot header's generation;
 *   - the lease cap (exactly cap FRAMEs to a reader that never releases,
 *     then drops counted, the pool bounded, a RELEASE makes room for exactly
 *     one more, a second RELEASE of it is stale); a reader that does not
 *     read (its SO_SNDBUF full: socket_full drops, what was queued arrives);
 *   - EOF returning every lease within 1 s; revocation (REVOKED, the slot's
 *     generation moves on reuse, the late RELEASE stale); [tap] history
 *     (the latest frames first, then live ones with no gap and no repeat;
 *     granted min(asked, history, lease cap));
 *   - refusals: not allowed (ERROR, never an fd), bad magic, short packet,
 *     wrong length, fds sent, bad hello values, no device (with the list),
 *     too many readers, the 17th connection without HELLO;
 *   - heap frames counted unshareable; the metrics text; destroy with
 *     readers connected (BYE, every slot home); the socket path rules.
 * Bounded waits only (loops with deadlines): about 3 s in all, 5 s under
 * TSan.  The 2 s HELLO timeout itself is not waited for here.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daq/acq.h"
#include "daq/config.h"
#include "daq/devices.h"
#include "daq/pool.h"
#include "daq/sim.h"
#include "daq/tap_proto.h"
#include "tap/tap_server.h"
#include "test_main.h"

#define CAM_W 256u
#define CAM_H 256u
#define CAM_B 16u

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- the rig ------------------------------------------------------------------------------ */

typedef struct rig {
    daq_devices *ds;
    daq_device *dev;
    daq_tap_server *srv;
    char dir[64];
    char path[108];
} rig;

static void tap_defaults(daq_config_tap *t)
{
    memset(t, 0, sizeof *t);
    t->enabled = true;
    t->mode = 0600;
    t->max_readers = 4;
    t->lease_cap = 4;
    t->max_lease_cap = 8;
    t->lease_timeout_ms = 5000;
}

static void rig_up(rig *r, const daq_config_tap *tap, bool use_pool)
{
    memset(r, 0, sizeof *r);
    static const char text[] = "[[devices]]\nid = \"cam0\"\n[devices.driver]\ntype = \"sim\"\n"
                               "width = 256\nheight = 256\nbit_depth = 16\n"
                               "timing = \"realistic\"\nframe_rate_hz = 200.0\n"
                               "exposure_ms = 1.0\n"
                               "[[devices]]\nid = \"cam1\"\n[devices.driver]\ntype = \"sim\"\n"
                               "width = 64\nheight = 64\n";
    daq_config cfg;
    char err[512];
    if (daq_config_load_text(text, strlen(text), "tap_server.toml", &cfg, err, sizeof err) != 0)
        fail_msg("config: %s", err);
    cfg.tap = *tap;
    cfg.acq.pool.shareable = true; /* as daqd does with [tap] on */
    cfg.acq.pool.use_pool = use_pool;
    cfg.acq.dynamic_allowance += daq_tap_pool_frames(tap);
    r->ds = daq_devices_create(&cfg, NULL, err, sizeof err);
    if (!r->ds)
        fail_msg("devices: %s", err);
    r->dev = daq_devices_find(r->ds, "cam0");
    assert_non_null(r->dev);
    snprintf(r->dir, sizeof r->dir, "/tmp/tap-srv-XXXXXX");
    assert_non_null(mkdtemp(r->dir));
    snprintf(r->path, sizeof r->path, "%s/run/tap.sock", r->dir); /* run/: mkdir -p */
    r->srv = daq_tap_server_create(r->ds, tap, r->path, err, sizeof err);
    if (!r->srv)
        fail_msg("server: %s", err);
    assert_string_equal(daq_tap_server_path(r->srv), r->path);
    struct stat st;
    assert_int_equal(stat(r->path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(daq_device_stream_start(r->dev, 0, err, sizeof err), 0);
}

static void rig_down(rig *r)
{
    daq_tap_server_destroy(r->srv);
    struct stat st;
    assert_int_equal(stat(r->path, &st), -1); /* unlinked */
    daq_device_stream_stop(r->dev);
    daq_devices_destroy(r->ds);
    char sub[128];
    snprintf(sub, sizeof sub, "%s/run", r->dir);
    rmdir(sub);
    rmdir(r->dir);
}

static daq_acq_stats acq_stats(rig *r)
{
    daq_acq_stats st;
    daq_acq_stats_snapshot(daq_device_acq(r->dev), &st);
    return st;
}

static daq_tap_reader_stats reader_stats(rig *r, uint64_t id)
{
    daq_tap_reader_stats rs[8];
    size_t n = daq_tap_server_readers(r->srv, rs, 8);
    for (size_t i = 0; i < n; i++)
        if (rs[i].id == id)
            return rs[i];
    fail_msg("no reader %" PRIu64, id);
    return rs[0];
}

/* ---- the raw client ----------------------------------------------------------------------- */

static int cl_connect(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    memcpy(a.sun_path, path, strlen(path) + 1);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static void head(daq_tap_head *h, daq_tap_type type)
{
    h->magic = DAQ_TAP_MAGIC;
    h->version = DAQ_TAP_VERSION;
    h->type = (uint16_t)type;
}

static daq_tap_hello hello_msg(const char *device, uint32_t lease_cap)
{
    daq_tap_hello h;
    memset(&h, 0, sizeof h);
    head(&h.head, DAQ_TAP_HELLO);
    snprintf(h.device, sizeof h.device, "%s", device);
    h.lease_cap = lease_cap;
    return h;
}

/* One packet within timeout_ms: its length (0 = EOF), or -1 on timeout.
 * fds received go to fds (up to 4), their count to *nfds. */
static ssize_t cl_recv(int fd, void *buf, size_t cap, int timeout_ms, int *fds, int *nfds)
{
    if (nfds)
        *nfds = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) <= 0)
        return -1;
    union {
        char b[CMSG_SPACE(4 * sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {buf, cap};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof ctl};
    ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == ECONNRESET) {
        /* The server closed with our packet unread: the error comes
         * first, what it sent before closing after it. */
        mh.msg_controllen = sizeof ctl;
        n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n < 0)
            return 0;
    }
    assert_true(n >= 0);
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
        assert_int_equal(cm->cmsg_type, SCM_RIGHTS);
        int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < k; i++) {
            int f;
            memcpy(&f, CMSG_DATA(cm) + (size_t)i * sizeof(int), sizeof f);
            if (fds && nfds && *nfds < 4)
                fds[(*nfds)++] = f;
            else
                close(f);
        }
    }
    return n;
}

static uint16_t msg_type(const void *buf)
{
    daq_tap_head h;
    memcpy(&h, buf, sizeof h);
    assert_int_equal(h.magic, DAQ_TAP_MAGIC);
    assert_int_equal(h.version, DAQ_TAP_VERSION);
    return h.type;
}

/* Sends HELLO and reads the WELCOME. */
static daq_tap_welcome cl_hello(int fd, const daq_tap_hello *h)
{
    assert_int_equal(send(fd, h, sizeof *h, MSG_NOSIGNAL), sizeof *h);
    union {
        uint8_t b[DAQ_TAP_MESSAGE_MAX];
        daq_tap_welcome w;
        daq_tap_error_msg e;
    } m;
    ssize_t n = cl_recv(fd, m.b, sizeof m.b, 2000, NULL, NULL);
    if (n > 0 && msg_type(m.b) == DAQ_TAP_ERROR)
        fail_msg("ERROR %u: %s", m.e.code, m.e.message);
    assert_int_equal(n, sizeof(daq_tap_welcome));
    assert_int_equal(msg_type(m.b), DAQ_TAP_WELCOME);
    assert_string_equal(m.w.format, DAQ_TAP_FORMAT);
    assert_int_equal(m.w.daemon_pid, (uint32_t)getpid());
    return m.w;
}

/* Expects an ERROR of code with text, then EOF. */
static void cl_expect_error(int fd, uint32_t code, const char *text)
{
    union {
        uint8_t b[DAQ_TAP_MESSAGE_MAX];
        daq_tap_error_msg e;
    } m;
    int fds[4], nfds;
    ssize_t n = cl_recv(fd, m.b, sizeof m.b, 2000, fds, &nfds);
    assert_int_equal(n, sizeof(daq_tap_error_msg));
    assert_int_equal(nfds, 0); /* never an fd with an ERROR */
    assert_int_equal(msg_type(m.b), DAQ_TAP_ERROR);
    assert_string_equal(m.e.message, text);
    assert_int_equal(m.e.code, code);
    assert_int_equal(cl_recv(fd, m.b, sizeof m.b, 2000, fds, &nfds), 0);
    assert_int_equal(nfds, 0);
}

/* A fresh connection sends pkt (len bytes) and is refused: ERROR code
 * with text, then EOF. */
static void cl_refused(const char *path, const void *pkt, size_t len, uint32_t code,
                       const char *text)
{
    int fd = cl_connect(path);
    assert_int_equal(send(fd, pkt, len, 0), (ssize_t)len);
    cl_expect_error(fd, code, text);
    close(fd);
}

static void cl_release(int fd, const uint64_t *leases, uint32_t n)
{
    daq_tap_release_msg r;
    memset(&r, 0, sizeof r);
    head(&r.head, DAQ_TAP_RELEASE);
    r.count = n;
    memcpy(r.lease, leases, n * sizeof *leases);
    size_t len = 16 + 8 * (size_t)n;
    assert_int_equal(send(fd, &r, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* A reader's view of one MAP: both memfds mapped read-only. */
typedef struct cl_map {
    daq_tap_map m;
    const uint8_t *arena;
    const daq_slot_header *headers;
} cl_map;

static void cl_map_take(cl_map *cm, const daq_tap_map *m, const int *fds, int nfds)
{
    assert_int_equal(nfds, 2);
    cm->m = *m;
    assert_int_equal(m->header_size, sizeof(daq_slot_header));
    assert_true(m->slot_count >= 1);
    assert_true(m->slot_bytes >= (uint64_t)CAM_W * CAM_H * 2);
    /* Sealed: no writable shared mapping of either. */
    assert_true(mmap(NULL, m->arena_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0) ==
                MAP_FAILED);
    assert_int_equal(errno, EPERM);
    assert_true(mmap(NULL, m->header_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fds[1], 0) ==
                MAP_FAILED);
    assert_int_equal(errno, EPERM);
    void *a = mmap(NULL, m->arena_bytes, PROT_READ, MAP_SHARED, fds[0], 0);
    void *h = mmap(NULL, m->header_bytes, PROT_READ, MAP_SHARED, fds[1], 0);
    assert_true(a != MAP_FAILED && h != MAP_FAILED);
    cm->arena = a;
    cm->headers = h;
    close(fds[0]);
    close(fds[1]);
}

static void cl_map_drop(cl_map *cm)
{
    if (cm->arena)
        munmap((void *)cm->arena, cm->m.arena_bytes);
    if (cm->headers)
        munmap((void *)cm->headers, cm->m.header_bytes);
    memset(cm, 0, sizeof *cm);
}

typedef union msg {
    uint8_t b[DAQ_TAP_MESSAGE_MAX];
    daq_tap_head h;
    daq_tap_map map;
    daq_tap_frame_msg frame;
    daq_tap_revoked revoked;
    daq_tap_error_msg error;
} msg;

/* Reads until a FRAME (taking a MAP on the way) within timeout_ms: true
 * with it in *f, false on timeout. */
static bool cl_next_frame(int fd, cl_map *cm, daq_tap_frame_msg *f, int timeout_ms)
{
    uint64_t end = daq_test_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    for (;;) {
        int64_t left = (int64_t)(end - daq_test_now_ns()) / 1000000;
        if (left <= 0)
            return false;
        msg m;
        int fds[4], nfds;
        ssize_t n = cl_recv(fd, m.b, sizeof m.b, (int)left, fds, &nfds);
        if (n < 0)
            return false;
        assert_true(n > 0);
        uint16_t t = msg_type(m.b);
        if (t == DAQ_TAP_MAP) {
            assert_int_equal(n, sizeof(daq_tap_map));
            cl_map_drop(cm);
            cl_map_take(cm, &m.map, fds, nfds);
            continue;
        }
        assert_int_equal(nfds, 0);
        if (t == DAQ_TAP_FRAME) {
            assert_int_equal(n, sizeof(daq_tap_frame_msg));
            *f = m.frame;
            return true;
        }
        if (t != DAQ_TAP_EOS)
            fail_msg("unexpected message type %u", t);
    }
}

/* ---- cases -------------------------------------------------------------------------------- */

/* HELLO, WELCOME, MAP, then 200 frames checked pixel by pixel. */
static void test_frames(void **state)
{
    (void)state;
    daq_config_tap tap;
    tap_defaults(&tap);
    tap.max_lease_cap = 64; /* 320 ms of frames: no drop on a loaded machine */
    rig r;
    rig_up(&r, &tap, true);
    int fd = cl_connect(r.path);
    daq_tap_hello h = hello_msg("", 64); /* "": the first camera */
    h.history = 3;                       /* more than [tap] history 0: granted 0 */
    daq_tap_welcome w = cl_hello(fd, &h);
    assert_string_equal(w.device, "cam0");
    assert_int_equal(w.lease_cap, 64);
    assert_int_equal(w.queue_depth, 64);
    assert_int_equal(w.history, 0);
    assert_int_equal(w.lease_timeout_ms, 5000);
    assert_int_equal(w.reader_id, 1);
    cl_map cm = {0};
    uint64_t last_seq = 0, last_lease = 0;
    for (int i = 0; i < 200; i++) {
        daq_tap_frame_msg f;
        assert_true(cl_next_frame(fd, &cm, &f, 2000));
        assert_non_null(cm.arena);
        assert_int_equal(f.pool_serial, cm.m.pool_serial);
        assert_int_equal(f.lease, last_lease + 1);
        last_lease = f.lease;
        if (last_seq && f.sequence != last_seq + 1)
            fail_msg("gap %" PRIu64 " -> %" PRIu64 " (dropped %" PRIu64 ")", last_seq, f.sequence,
                     f.dropped);
        last_seq = f.sequence;
        assert_int_equal(f.width, CAM_W);
        assert_int_equal(f.height, CAM_H);
        assert_int_equal(f.bit_depth, CAM_B);
        assert_int_equal(f.payload_bytes, CAM_W * CAM_H * 2);
        assert_int_equal(f.dropped, 0);
        assert_true(f.slot < cm.m.slot_count);
        assert_int_equal(f.offset, (uint64_t)f.slot * cm.m.slot_stride);
        assert_true(f.publish_mono_ns >= f.eof_ns);
        char why[256] = "";
        if (daq_sim_verify(cm.arena + f.offset, f.width, f.height, f.bit_depth, f.hw_frame_number,
                           why, sizeof why) != 0)
            fail_msg("frame %" PRIu64 ": %s", f.sequence, why);
        const daq_slot_header *sh = &cm.headers[f.slot];
        assert_int_equal(__atomic_load_n(&sh->generation, __ATOMIC_ACQUIRE), f.generation);
        assert_int_equal(sh->sequence, f.sequence);
        assert_int_equal(sh->hw_frame_number, f.hw_frame_number);
        assert_int_equal(sh->width, CAM_W);
        assert_int_equal(sh->payload_bytes, CAM_W * CAM_H * 2);
        cl_release(fd, &f.lease, 1);
    }
    daq_tap_reader_stats rs = reader_stats(&r, w.reader_id);
    assert_string_equal(rs.device, "cam0");
    assert_int_equal(rs.pid, getpid());
    assert_int_equal(rs.uid, geteuid());
    assert_true(rs.frames_sent >= 200);
    assert_int_equal(rs.drops_lease_cap + rs.drops_socket_full + rs.drops_unshareable, 0);
    close(fd);
    cl_map_drop(&cm);
    rig_down(&r);
}

/* A reader that never releases gets exactly its cap; a RELEASE makes room
 * for exactly one more. */
static void test_lease_cap(void **state)
{
    (void)state;
    daq_config_tap tap;
    tap_defaults(&tap);
    rig r;
    rig_up(&r, &tap, true);
    int fd = cl_connect(r.path);
    daq_tap_hello h = hello_msg("cam0", 3);
    daq_tap_welcome w = cl_hello(fd, &h);
    assert_int_equal(w.lease_cap, 3);
    cl_map cm = {0};
    daq_tap_frame_msg f[3];
    for (int i = 0; i < 3; i++) {
        assert_true(cl_next_frame(fd, &cm, &f[i], 2000));
        assert_int_equal(f[i].lease, (uint64_t)i + 1);
        assert_int_equal(f[i].leases_held, (uint32_t)i + 1);
    }
    daq_tap_frame_msg extra;
    uint64_t end = daq_test_now_ns() + 3000000000ull;
    while (reader_stats(&r, w.reader_id).drops_lease_cap < 20 && daq_test_now_ns() < end)
        sleep_ms(10);
    assert_false(cl_next_frame(fd, &cm, &extra, 50)); /* 20 frames published meanwhile */
    daq_tap_reader_stats a = reader_stats(&r, w.reader_id);
    assert_int_equal(a.leases_held, 3);
    assert_int_equal(a.frames_sent, 3);
    assert_true(a.drops_lease_cap >= 20);
    assert_true(acq_stats(&r).pool.in_use <= 3 + 4); /* our 3 + the engine's few */
    daq_tap_reader_stats b = a;
    end = daq_test_now_ns() + 2000000000ull;
    while ((b = reader_stats(&r, w.reader_id)).drops_lease_cap == a.drops_lease_cap &&
           daq_test_now_ns() < end)
        sleep_ms(10);
    assert_true(b.drops_lease_cap > a.drops_lease_cap);

    cl_release(fd, &f[1].lease, 1);
    assert_true(cl_next_frame(fd, &cm, &extra, 1000));
    assert_int_equal(extra.lease, 4);
    assert_int_equal(extra.leases_held, 3);
    assert_true(extra.dropped >= b.drops_lease_cap);
    assert_false(cl_next_frame(fd, &cm, &extra, 200));
    daq_tap_reader_stats c = reader_stats(&r, w.reader_id);
    assert_int_equal(c.frames_sent, 4);
    assert_int_equal(c.releases, 1);
    assert_int_equal(c.leases_held, 3);
    /* A lease released twice is stale the second time. */
    cl_release(fd, &f[1].lease, 1);
    sleep_ms(150);
    assert_int_equal(reader_stats(&r, w.reader_id).stale_releases, 1);
    close(fd);
    cl_map_drop(&cm);
    rig_down(&r);
}

/* A reader that does not read: its socket holds about queue_depth FRAMEs
 * (SO_SNDBUF), then frames are dropped as socket_full, not held. */
static void test_socket_full(void **state)
{
    (void)state;
    daq_config_tap tap;
    tap_defaults(&tap);
    rig r;
    rig_up(&r, &tap, true);
    int fd = cl_connect(r.path);
    daq_tap_hello h = hello_msg("cam0", 8);
    h.queue_depth = 2;
    daq_tap_welcome w = cl_hello(fd, &h);
    assert_int_equal(w.queue_depth, 2);
    uint64_t end = daq_test_now_ns() + 3000000000ull;
    while (reader_stats(&r, w.reader_id).drops_socket_full < 10 && daq_test_now_ns() < end)
        sleep_ms(10);
    daq_tap_reader_stats rs = reader_stats(&r, w.reader_id);
    print_message("queue_depth 2: %" PRIu64 " FRAMEs queued before the socket was full\n",
                  rs.frames_sent);
    assert_true(rs.drops_socket_full >= 10);
    assert_int_equal(rs.drops_lease_cap, 0);
    assert_true(rs.frames_sent >= 2 && rs.frames_sent <= 7); /* the kernel's 4608-byte floor */
    assert_int_equal(rs.leases_held, rs.frames_sent);
    /* What was queued arrives, in order; a release makes room again. */
    cl_map cm = {0};
    daq_tap_frame_msg f;
    for (uint64_t i = 1; i <= rs.frames_sent; i++) {
        assert_true(cl_next_frame(fd, &cm, &f, 1000));
        assert_int_equal(f.lease, i);
        cl_release(fd, &f.lease, 1);
    }
    assert_true(cl_next_frame(fd, &cm, &f, 1000));
    assert_int_equal(f.lease, rs.frames_sent + 1);
    assert_true(f.dropped >= 10);
    /* A RELEASE whose count is out of range is a bad message. */
    daq_tap_release_msg bad;
    memset(&bad, 0, sizeof bad);
    head(&bad.head, DAQ_TAP_RELEASE);
    bad.count = 63;
    assert_int_equal(send(fd, &bad, sizeof bad, 0), sizeof bad);
    msg m;
    ssize_t n;
    while ((n = cl_recv(fd, m.b, sizeof m.b, 1000, NULL, NULL)) > 0 &&
           msg_type(m.b) != DAQ_TAP_ERROR) {
    }
    assert_int_equal(n, sizeof(daq_tap_error_msg));
    assert_string_equal(m.error.message, "tap: a RELEASE of 63 leases (1..62)");
    close(fd);
    cl_map_drop(&cm);
    rig_down(&r);
}

/* EOF gives every lease back at once. */
static void test_eof_releases(void **state)
{
    (void)state;
    daq_config_tap tap;
    tap_defaults(&tap);
    rig r;
    rig_up(&r, &tap, true);
    int fd = cl_connect(r.path);
    daq_tap_hello h = hello_msg("cam0", 4);
    cl_hello(fd, &h);
    cl_map cm = {0};
    daq_tap_frame_msg f;
    for (int i = 0; i < 4; i++)
        if (!cl_next_frame(fd, &cm, &f, 2000)) {
            daq_tap_reader_stats rs = reader_stats(&r, 1);
            fail_msg("frame %d: sent %" PRIu64 " held %u cap %" PRIu64 " full %" PRIu64
                     " unsh %" PRIu64,
                     i, rs.frames_sent, rs.leases_held, rs.drops_lease_cap, rs.drops_socket_full,
                     rs.drops_unshareable);
        }
    daq_device_stream_stop(r.dev); /* the engine lets its frames go: only ours are out */
    assert_int_equal(acq_stats(&r).pool.in_use, 4);
    close(fd);
    uint64_t end = daq_test_now_ns() + 1000000000ull;
    while (acq_stats(&r).pool.in_use != 0 && daq_test_now_ns() < end)
        sleep_ms(5);
    assert_int_equal(acq_stats(&r).pool.in_use, 0);
    daq_tap_server_stats st;
    daq_tap_server_stats_snapshot(r.srv, &st);
    assert_int_equal(st.readers, 0);
    assert_int_equal(st.accepted, 1);
    assert_int_equal(st.disconnects, 1);
    cl_map_drop(&cm);
    rig_down(&r);
}

/* A lease held past lease_timeout_ms is revoked; the slot is reused with a
 * new generation; the late RELEASE is stale. */
static void test_revocation(void **state)
{
    (void)state;
    daq_config_tap tap;
    tap_defaults(&tap);
    tap.lease_timeout_ms = 200;
    rig r;
    rig_up(&r, &tap, true);
    int fd = cl_connect(r.path);
    daq_tap_hello h = hello_msg("cam0", 1);
    daq_tap_welcome w = cl_hello(fd, &h);
    assert_int_equal(w.lease_timeout_ms, 200);
    cl_map cm = {0};
    daq_tap_frame_msg f;
    assert_true(cl_next_frame(fd, &cm, &f, 2000));
    uint64_t t0 = daq_test_now_ns();
    msg m;
    ssize_t n = cl_recv(fd, m.b, sizeof m.b, 2000, NULL, NULL);
    assert_int_equal(n, sizeof(daq_tap_revoked));
    assert_int_equal(msg_type(m.b), DAQ_TAP_REVOKED);
    /* Not before 200 ms after the lease was taken, and within a tick or so
     * of it (loose: a loaded machine or a sanitizer build). */
    uint64_t now = daq_test_now_ns();
    assert_true(now - f.publish_mono_ns >= 200000000ull);
    assert_true(now - t0 <= 1000000000ull);
    assert_int_equal(m.revoked.lease, f.lease);
    assert_int_equal(m.revoked.pool_serial, f.pool_serial);
    assert_int_equal(m.revoked.slot, f.slot);
    /* The next frame may reuse the slot: its generation moves on. */
    uint64_t end = daq_test_now_ns() + 2000000000ull;
    while (__atomic_load_n(&cm.headers[f.slot].generation, __ATOMIC_ACQUIRE) == f.generation &&
           daq_test_now_ns() < end)
        sleep_ms(5);
    assert_true(__atomic_load_n(&cm.headers[f.slot].generation, __ATOMIC_ACQUIRE) > f.generation);
    cl_release(fd, &f.lease, 1);
    sleep_ms(150);
    daq_tap_reader_stats rs = reader_stats(&r, w.reader_id);
    assert_true(rs.revoked >= 1);
    assert_true(rs.stale_releases >= 1);
    assert_int_equal(rs.releases, 0);
    close(fd);
    cl_map_drop(&cm);
    rig_down(&r);
}

/* A peer not in allowed_uids gets ERROR NOT_ALLOWED and never an fd. */
static void test_not_allowed(void **state)
{
    (void)state;
    daq_config_tap tap;
    tap_defaults(&tap);
    tap.allowed_uids[0] = geteuid() + 1000;
    tap.n_allowed_uids = 1;
    rig r;
    rig_up(&r, &tap, true);
    int fd = cl_connect(r.path);
    daq_tap_hello h = hello_msg("cam0", 0);
    (void)send(fd, &h, sizeof h, MSG_NOSIGNAL); /* may find the socket closed: no matter */
    char text[DAQ_TAP_ERROR_TEXT];
    snprintf(text, sizeof text,
             "tap: uid %u gid %u (pid %d) is not allowed (allowed uids: %u; gids: none)",
             (unsigned)geteuid(), (unsigned)getegid(), (int)getpid(), (unsigned)geteuid() + 1000);
    cl_expect_error(fd, DAQ_TAP_ERR_NOT_ALLOWED, text);
    close(fd);
    daq_tap_server_stats st;
    daq_tap_server_stats_snapshot(r.srv, &st);
    assert_int_equal(st.refused_not_allowed, 1);
    assert_int_equal(st.accepted, 0);
    assert_int_equal(st.readers, 0);
    rig_down(&r);
}

/* Malformed packets and bad hellos: ERROR and close. */
static void test_bad_messages(void **state)
{
    (void)state;
    daq_config_tap tap;
    tap_defaults(&tap);
    rig r;
    rig_up(&r, &tap, true);

    daq_tap_hello h = hello_msg("cam0", 0);
    h.head.magic = 0x12345678;
    cl_refused(r.path, &h, sizeof h, DAQ_TAP_ERR_BAD_MESSAGE,
               "tap: bad magic 0x12345678 (want 0x50415444)");

    cl_refused(r.path, "DTAP", 4, DAQ_TAP_ERR_BAD_MESSAGE,
               "tap: a 4-byte packet is shorter than a message head");

    h = hello_msg("cam0", 0);
    cl_refused(r.path, &h, sizeof h - 8, DAQ_TAP_ERR_BAD_MESSAGE,
               "tap: message type 1 is 96 bytes, not 104");

    int fd = cl_connect(r.path); /* a HELLO carrying an fd */
    h = hello_msg("cam0", 0);
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    union {
        char b[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct iovec iov = {&h, sizeof h};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof ctl.b};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &devnull, sizeof devnull);
    assert_int_equal(sendmsg(fd, &mh, 0), sizeof h);
    close(devnull);
    cl_expect_error(fd, DAQ_TAP_ERR_BAD_MESSAGE, "tap: readers send no file descriptors");
    close(fd);

    h = hello_msg("cam0", 9);
    cl_refused(r.path, &h, sizeof h, DAQ_TAP_ERR_BAD_HELLO,
               "tap: lease_cap 9 is more than max_lease_cap 8");

    h = hello_msg("cam0", 0);
    h.queue_depth = 257;
    cl_refused(r.path, &h, sizeof h, DAQ_TAP_ERR_BAD_HELLO,
               "tap: queue_depth 257 is more than 256");

    h = hello_msg("cam0", 0);
    h.max_fps = -1;
    cl_refused(r.path, &h, sizeof h, DAQ_TAP_ERR_BAD_HELLO,
               "tap: max_fps -1 is not a rate (0 or more)");

    h = hello_msg("cam0", 0);
    memset(h.device, 'x', sizeof h.device);
    cl_refused(r.path, &h, sizeof h, DAQ_TAP_ERR_BAD_HELLO,
               "tap: device id is not NUL-terminated within 64 bytes");

    h = hello_msg("nope", 0);
    cl_refused(r.path, &h, sizeof h, DAQ_TAP_ERR_NO_DEVICE,
               "tap: no camera device 'nope' (devices: cam0, cam1)");

    /* A reader past HELLO that sends a second HELLO is dropped too. */
    fd = cl_connect(r.path);
    h = hello_msg("cam1", 0);
    cl_hello(fd, &h);
    assert_int_equal(send(fd, &h, sizeof h, 0), sizeof h);
    cl_expect_error(fd, DAQ_TAP_ERR_BAD_MESSAGE, "tap: unexpected message type 1");
    close(fd);

    daq_tap_server_stats st;
    daq_tap_server_stats_snapshot(r.srv, &st);
    assert_int_equal(st.accepted, 10);
    assert_int_equal(st.refused_other, 9);
    assert_int_equal(st.disconnects, 1);
    assert_int_equal(st.readers, 0);
    rig_down(&r);
}

/* max_readers + 1 -> TOO_MANY. */
static void test_too_many(void **state)
{
    (void)state;
    daq_config_tap tap;
    tap_defaults(&tap);
    tap.max_readers = 2;
    rig r;
    rig_up(&r, &tap, true);
    int a = cl_connect(r.path), b = cl_connect(r.path), c = cl_connect(r.path);
    daq_tap_hello h = hello_msg("cam0", 1);
    assert_int_equal(cl_hello(a, &h).reader_id, 1);
    assert_int_equal(cl_hello(b, &h).reader_id, 2);
    assert_int_equal(send(c, &h, sizeof h, 0), sizeof h);
    cl_expect_error(c, DAQ_TAP_ERR_TOO_MANY,
                    "tap: 2 readers are connected, as many as [tap] max_readers allows");
    daq_tap_server_stats st;
    daq_tap_server_stats_snapshot(r.srv, &st);
    assert_int_equal(st.readers, 2);
    assert_int_equal(st.refused_other, 1);
    close(a);
    close(b);
    close(c);
    /* 17 connections that say nothing: the oldest is dropped at the 17th. */
    int idle[17];
    for (int i = 0; i < 17; i++) {
        idle[i] = cl_connect(r.path);
        sleep_ms(2); /* accepted one by one: "oldest" is well defined */
    }
    cl_expect_error(idle[0], DAQ_TAP_ERR_HELLO_TIMEOUT,
                    "tap: no HELLO yet and 16 more connections wait: dropped");
    msg m;
    for (int i = 1; i < 17; i++)
        assert_int_equal(cl_recv(idle[i], m.b, sizeof m.b, i == 1 ? 50 : 0, NULL, NULL), -1);
    daq_tap_server_stats_snapshot(r.srv, &st);
    assert_int_equal(st.refused_other, 2);
    assert_int_equal(st.accepted, 20);
    for (int i = 0; i < 17; i++)
        close(idle[i]);
    rig_down(&r);
}

/* Heap frames (use_pool off) are not shareable: counted, never sent. */
static void test_unshareable(void **state)
{
    (void)state;
    daq_config_tap tap;
    tap_defaults(&tap);
    rig r;
    rig_up(&r, &tap, false);
    int fd = cl_connect(r.path);
    daq_tap_hello h = hello_msg("cam0", 0);
    daq_tap_welcome w = cl_hello(fd, &h);
    msg m;
    uint64_t end = daq_test_now_ns() + 3000000000ull;
    while (reader_stats(&r, w.reader_id).drops_unshareable < 20 && daq_test_now_ns() < end)
        sleep_ms(10);
    assert_int_equal(cl_recv(fd, m.b, sizeof m.b, 0, NULL, NULL), -1); /* no MAP, no FRAME */
    daq_tap_reader_stats rs = reader_stats(&r, w.reader_id);
    assert_true(rs.drops_unshareable >= 20);
    assert_int_equal(rs.frames_sent, 0);
    assert_int_equal(rs.drops_lease_cap, 0);
    close(fd);
    rig_down(&r);
}

static void expect_line(const char *text, const char *line)
{
    if (!strstr(text, line))
        fail_msg("metrics lack '%s' in:\n%s", line, text);
}

/* The metric families, with the values of the snapshot. */
static void test_metrics(void **state)
{
    (void)state;
    daq_config_tap tap;
    tap_defaults(&tap);
    tap.allowed_uids[0] = geteuid();
    tap.n_allowed_uids = 1;
    rig r;
    rig_up(&r, &tap, true);
    int fd = cl_connect(r.path);
    daq_tap_hello h = hello_msg("cam0", 2);
    daq_tap_welcome w = cl_hello(fd, &h);
    cl_map cm = {0};
    daq_tap_frame_msg f;
    assert_true(cl_next_frame(fd, &cm, &f, 2000));
    assert_true(cl_next_frame(fd, &cm, &f, 2000));
    cl_release(fd, &f.lease, 1);
    assert_true(cl_next_frame(fd, &cm, &f, 2000));
    daq_device_stream_stop(r.dev); /* the numbers hold still */
    sleep_ms(50);
    daq_tap_reader_stats rs = reader_stats(&r, w.reader_id);
    assert_int_equal(rs.frames_sent, 3);
    assert_int_equal(rs.releases, 1);
    assert_int_equal(rs.leases_held, 2);
    char *buf = NULL;
    size_t cap = 0;
    size_t len = daq_tap_metrics_append(r.srv, &buf, 0, &cap);
    assert_true(len != (size_t)-1 && len > 0);
    assert_int_equal(strlen(buf), len);
    char lbl[160], line[256];
    snprintf(lbl, sizeof lbl, "{device=\"cam0\",reader=\"%" PRIu64 "\",pid=\"%d\",uid=\"%u\"",
             w.reader_id, (int)getpid(), (unsigned)geteuid());
    expect_line(buf, "# TYPE daq_tap_readers gauge\ndaq_tap_readers 1\n");
    expect_line(buf, "# TYPE daq_tap_connections_total counter\n");
    expect_line(buf, "daq_tap_connections_total{outcome=\"accepted\"} 1\n");
    expect_line(buf, "daq_tap_connections_total{outcome=\"refused_not_allowed\"} 0\n");
    expect_line(buf, "daq_tap_connections_total{outcome=\"refused_other\"} 0\n");
    expect_line(buf, "daq_tap_disconnects_total 0\n");
    snprintf(line, sizeof line, "daq_tap_leases_held%s} 2\n", lbl);
    expect_line(buf, line);
    snprintf(line, sizeof line, "daq_tap_lease_cap%s} 2\n", lbl);
    expect_line(buf, line);
    snprintf(line, sizeof line, "daq_tap_frames_sent_total%s} 3\n", lbl);
    expect_line(buf, line);
    snprintf(line, sizeof line, "daq_tap_releases_total%s} 1\n", lbl);
    expect_line(buf, line);
    snprintf(line, sizeof line, "daq_tap_drops_total%s,reason=\"lease_cap\"} %" PRIu64 "\n", lbl,
             rs.drops_lease_cap);
    expect_line(buf, line);
    snprintf(line, sizeof line, "daq_tap_drops_total%s,reason=\"socket_full\"} %" PRIu64 "\n", lbl,
             rs.drops_socket_full);
    expect_line(buf, line);
    snprintf(line, sizeof line, "daq_tap_drops_total%s,reason=\"unshareable\"} 0\n", lbl);
    expect_line(buf, line);
    snprintf(line, sizeof line, "daq_tap_revocations_total%s} 0\n", lbl);
    expect_line(buf, line);
    /* Appending keeps what was there. */
    size_t len2 = daq_tap_metrics_append(r.srv, &buf, len, &cap);
    assert_int_equal(len2, 2 * len);
    assert_int_equal(daq_tap_metrics_append(NULL, &buf, len2, &cap), len2);
    free(buf);
    close(fd);
    cl_map_drop(&cm);
    rig_down(&r);
}

/* Destroy with readers holding leases: BYE, EOF, every slot home. */
static void test_destroy_with_readers(void **state)
{
    (void)state;
    daq_config_tap tap;
    tap_defaults(&tap);
    rig r;
    rig_up(&r, &tap, true);
    int fd[2];
    cl_map cm[2];
    memset(cm, 0, sizeof cm);
    for (int k = 0; k < 2; k++) {
        fd[k] = cl_connect(r.path);
        daq_tap_hello h = hello_msg("cam0", 2);
        cl_hello(fd[k], &h);
        daq_tap_frame_msg f;
        assert_true(cl_next_frame(fd[k], &cm[k], &f, 2000));
        assert_true(cl_next_frame(fd[k], &cm[k], &f, 2000));
    }
    int idle = cl_connect(r.path); /* not past HELLO: told SHUTDOWN */
    sleep_ms(50);
    daq_device_stream_stop(r.dev);
    assert_true(acq_stats(&r).pool.in_use >= 2); /* both hold 2, maybe the same frames */
    daq_tap_server_destroy(r.srv);
    r.srv = NULL;
    assert_int_equal(acq_stats(&r).pool.in_use, 0);
    for (int k = 0; k < 2; k++) {
        msg m;
        ssize_t n;
        while ((n = cl_recv(fd[k], m.b, sizeof m.b, 1000, NULL, NULL)) > 0 &&
               msg_type(m.b) != DAQ_TAP_BYE) {
        }
        assert_int_equal(n, sizeof(daq_tap_head));
        assert_int_equal(cl_recv(fd[k], m.b, sizeof m.b, 1000, NULL, NULL), 0);
        close(fd[k]);
        cl_map_drop(&cm[k]);
    }
    cl_expect_error(idle, DAQ_TAP_ERR_SHUTDOWN, "tap: the daemon is stopping");
    close(idle);
    rig_down(&r);
}

/* The path rules: default path, too long, stale replaced, live refused. */
static void test_socket_path(void **state)
{
    (void)state;
    daq_config_tap tap;
    tap_defaults(&tap);
    char out[108], err[256];
    assert_int_equal(setenv("RUNTIME_DIRECTORY", "/run/daqd", 1), 0);
    assert_int_equal(daq_tap_default_path(&tap, 50051, out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, "/run/daqd/daq/tap-50051.sock");
    assert_int_equal(unsetenv("RUNTIME_DIRECTORY"), 0);
    assert_int_equal(setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1), 0);
    assert_int_equal(daq_tap_default_path(&tap, 7, out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, "/run/user/1000/daq/tap-7.sock");
    assert_int_equal(unsetenv("XDG_RUNTIME_DIR"), 0);
    assert_int_equal(daq_tap_default_path(&tap, 7, out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, geteuid() == 0 ? "/run/daq/tap-7.sock" : "/tmp/daq/tap-7.sock");
    snprintf(tap.path, sizeof tap.path, "/x/s.sock");
    assert_int_equal(daq_tap_default_path(&tap, 7, out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, "/x/s.sock");
    tap.path[0] = '\0';
    char longdir[200];
    memset(longdir, 'a', 120);
    longdir[0] = '/';
    longdir[120] = '\0';
    assert_int_equal(setenv("RUNTIME_DIRECTORY", longdir, 1), 0);
    assert_int_equal(daq_tap_default_path(&tap, 7, out, sizeof out, err, sizeof err), -1);
    char want[300];
    snprintf(want, sizeof want, "tap: socket path '%s/daq/tap-7.sock' is longer than 107 bytes",
             longdir);
    assert_string_equal(err, want);
    assert_int_equal(unsetenv("RUNTIME_DIRECTORY"), 0);
    assert_int_equal(daq_tap_pool_frames(&tap), 4 * 9);

    /* Stale: a socket file nobody listens on is replaced. */
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/tap-srv-XXXXXX");
    assert_non_null(mkdtemp(dir));
    char path[108];
    snprintf(path, sizeof path, "%s/t.sock", dir);
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    memcpy(a.sun_path, path, strlen(path) + 1);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    close(s);
    daq_config cfg;
    static const char text[] = "[[devices]]\nid = \"c\"\n[devices.driver]\ntype = \"sim\"\n";
    assert_int_equal(daq_config_load_text(text, strlen(text), "t.toml", &cfg, err, sizeof err), 0);
    daq_devices *ds = daq_devices_create(&cfg, NULL, err, sizeof err);
    assert_non_null(ds);
    daq_tap_server *t1 = daq_tap_server_create(ds, &tap, path, err, sizeof err);
    if (!t1)
        fail_msg("stale: %s", err);
    /* Live: a second server on the same path is refused. */
    assert_null(daq_tap_server_create(ds, &tap, path, err, sizeof err));
    snprintf(want, sizeof want, "tap: %s is in use (another daemon answers on it)", path);
    assert_string_equal(err, want);
    daq_tap_server_destroy(t1);
    struct stat st;
    assert_int_equal(stat(path, &st), -1);
    daq_devices_destroy(ds);
    rmdir(dir);
}

/* [tap] history 4: a reader asking 3 gets the 3 latest frames right after
 * WELCOME, then the live ones with no gap and no repeat; one whose lease
 * cap is 2 asking 10 is granted 2. */
static void test_history(void **state)
{
    (void)state;
    daq_config_tap tap;
    tap_defaults(&tap);
    tap.history = 4;
    rig r;
    rig_up(&r, &tap, true);
    uint64_t end = daq_test_now_ns() + 3000000000ull;
    while (acq_stats(&r).delivered < 10 && daq_test_now_ns() < end) /* the history fills */
        sleep_ms(10);
    int fd = cl_connect(r.path);
    daq_tap_hello h = hello_msg("cam0", 8);
    h.history = 3;
    daq_tap_welcome w = cl_hello(fd, &h);
    assert_int_equal(w.history, 3);
    cl_map cm = {0};
    uint64_t last_seq = 0;
    for (int i = 0; i < 23; i++) {
        daq_tap_frame_msg f;
        assert_true(cl_next_frame(fd, &cm, &f, 2000));
        assert_int_equal(f.lease, (uint64_t)i + 1);
        if (last_seq && f.sequence != last_seq + 1)
            fail_msg("frame %d: %" PRIu64 " after %" PRIu64, i, f.sequence, last_seq);
        last_seq = f.sequence;
        char why[256] = "";
        if (daq_sim_verify(cm.arena + f.offset, f.width, f.height, f.bit_depth, f.hw_frame_number,
                           why, sizeof why) != 0)
            fail_msg("frame %" PRIu64 ": %s", f.sequence, why);
        assert_int_equal(__atomic_load_n(&cm.headers[f.slot].generation, __ATOMIC_ACQUIRE),
                         f.generation);
        assert_int_equal(cm.headers[f.slot].sequence, f.sequence);
        cl_release(fd, &f.lease, 1);
    }
    /* Stopped: the history holds still, the newest frames exactly. */
    daq_device_stream_stop(r.dev);
    uint64_t last = acq_stats(&r).delivered;
    int fd2 = cl_connect(r.path);
    h = hello_msg("cam0", 2);
    h.history = 10;
    w = cl_hello(fd2, &h);
    assert_int_equal(w.history, 2);
    cl_map cm2 = {0};
    daq_tap_frame_msg a, b;
    assert_true(cl_next_frame(fd2, &cm2, &a, 2000));
    assert_true(cl_next_frame(fd2, &cm2, &b, 2000));
    assert_int_equal(a.sequence, last - 1);
    assert_int_equal(b.sequence, last);
    assert_int_equal(a.lease, 1);
    assert_int_equal(b.lease, 2);
    assert_false(cl_next_frame(fd2, &cm2, &a, 100));
    close(fd2);
    cl_map_drop(&cm2);
    close(fd);
    cl_map_drop(&cm);
    daq_tap_server_destroy(r.srv); /* the history's references go too */
    r.srv = NULL;
    assert_int_equal(acq_stats(&r).pool.in_use, 0);
    rig_down(&r);
}

/* One case a line: tests/CMakeLists.txt finds them by line. */
// clang-format off
/* DAQ_TAP_HELLO_READY: the first MAP comes alone; frames published while
 * the reader maps are not sent and not its drops; READY starts a complete
 * stream.  An unknown flag is a bad hello. */
static void test_ready_gate(void **state)
{
    (void)state;
    daq_config_tap tap;
    tap_defaults(&tap);
    rig r;
    rig_up(&r, &tap, true);
    int fd = cl_connect(r.path);
    daq_tap_hello h = hello_msg("cam0", 4);
    h.flags = DAQ_TAP_HELLO_READY;
    daq_tap_welcome w = cl_hello(fd, &h);
    msg m;
    int fds[4], nfds;
    ssize_t n = cl_recv(fd, m.b, sizeof m.b, 2000, fds, &nfds);
    assert_int_equal(n, sizeof(daq_tap_map));
    assert_int_equal(msg_type(m.b), DAQ_TAP_MAP);
    cl_map cm = {0};
    cl_map_take(&cm, &m.map, fds, nfds);
    /* A slow mapper: 200 ms at 200 frames/s, far past the lease cap of 4. */
    sleep_ms(200);
    assert_int_equal(cl_recv(fd, m.b, sizeof m.b, 0, NULL, NULL), -1); /* nothing but the MAP */
    daq_tap_reader_stats rs = reader_stats(&r, w.reader_id);
    assert_int_equal(rs.frames_sent, 0);
    assert_true(rs.before_ready >= 10);
    assert_int_equal(rs.drops_lease_cap + rs.drops_socket_full + rs.drops_unshareable, 0);
    daq_tap_head ready;
    head(&ready, DAQ_TAP_READY);
    assert_int_equal(send(fd, &ready, sizeof ready, 0), sizeof ready);
    uint64_t last = 0;
    for (int i = 0; i < 20; i++) {
        daq_tap_frame_msg f;
        assert_true(cl_next_frame(fd, &cm, &f, 2000));
        assert_int_equal(f.lease, (uint64_t)i + 1);
        assert_int_equal(f.dropped, 0);
        if (last)
            assert_int_equal(f.sequence, last + 1);
        last = f.sequence;
        cl_release(fd, &f.lease, 1);
    }
    close(fd);
    cl_map_drop(&cm);

    h.flags = 2;
    cl_refused(r.path, &h, sizeof h, DAQ_TAP_ERR_BAD_HELLO, "tap: unknown HELLO flags 0x2");
    rig_down(&r);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_frames),
    cmocka_unit_test(test_lease_cap),
    cmocka_unit_test(test_socket_full),
    cmocka_unit_test(test_eof_releases),
    cmocka_unit_test(test_revocation),
    cmocka_unit_test(test_history),
    cmocka_unit_test(test_ready_gate),
    cmocka_unit_test(test_not_allowed),
    cmocka_unit_test(test_bad_messages),
    cmocka_unit_test(test_too_many),
    cmocka_unit_test(test_unshareable),
    cmocka_unit_test(test_metrics),
    cmocka_unit_test(test_destroy_with_readers),
    cmocka_unit_test(test_socket_path),
};
// clang-format on

DAQ_TEST_MAIN("tap_server", tests)
