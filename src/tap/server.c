/* tap/server.c - the tap server's socket and its one thread: accept, the
 * SO_PEERCRED check, HELLO, RELEASE, EOF, hello timeouts and revocation;
 * plus the path rules.  The frame path is server_reader.c, the history
 * server_history.c, statistics and metrics server_metrics.c.
 *
 * One epoll set holds the listening socket, an eventfd (destroy's stop
 * signal) and every connection; its timeout is 100 ms, so a silent client
 * is dropped at most 100 ms after its 2 s of grace and a lease at most
 * 100 ms after lease_timeout_ms.  Connections are bounded twice: readers
 * by [tap] max_readers (ERROR TOO_MANY at HELLO), connections still
 * waiting for their HELLO by 16 (the oldest is dropped), so the table is
 * max_readers + 16 entries, allocated once, and no client can make the
 * daemon hold more fds.
 *
 * The peer's credentials are checked at accept, before the connection
 * gets anything but an ERROR: a refused peer never sees a MAP or an fd.
 * Every packet is checked for its exact length, magic, version and type,
 * and received with room for control data: file descriptors a client
 * sends are closed at once and the client dropped.
 *
 * SO_SNDBUF: a Unix SOCK_SEQPACKET socket counts each queued packet's
 * skb truesize against the sender's buffer: 768 bytes for a 176-byte
 * FRAME (measured on Linux 6.18, x86-64), and the kernel doubles what
 * setsockopt asks.  So (queue_depth + 4) * 384 bytes holds queue_depth
 * FRAMEs plus room for a MAP, a REVOKED and an EOS; the kernel's floor
 * (4608, 6 packets) applies below that.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daq/log.h"
#include "tap/server_internal.h"
#include "util/clock.h"
#include "util/err.h"

#define LOG_TARGET      "daq::tap"
#define SNDBUF_PER_PKT  384
#define SNDBUF_SPARE    4
#define MAX_RECV_FDS    16
#define REFUSAL_LOG_GAP 1000000000ull
#define EV_LISTEN       ((uint64_t)1)
#define EV_STOP         ((uint64_t)2)

/* ---- paths ---------------------------------------------------------------------------------- */

static const char *runtime_dir(void)
{
    /* systemd's, a colon-separated list with several RuntimeDirectory=:
     * the first. */
    static __thread char first[4096];
    const char *e = getenv("RUNTIME_DIRECTORY");
    if (e && *e && *e != ':') {
        snprintf(first, sizeof first, "%.*s", (int)strcspn(e, ":"), e);
        return first;
    }
    e = getenv("XDG_RUNTIME_DIR");
    if (e && *e)
        return e;
    return geteuid() == 0 ? "/run" : "/tmp";
}

int daq_tap_default_path(const daq_config_tap *cfg, uint16_t grpc_port, char *out, size_t cap,
                         char *err, size_t err_len)
{
    char p[4200]; /* the runtime dir (< 4096) and the name */
    if (cfg && cfg->path[0])
        snprintf(p, sizeof p, "%s", cfg->path);
    else
        snprintf(p, sizeof p, "%s/daq/tap-%u.sock", runtime_dir(), (unsigned)grpc_port);
    size_t n = strlen(p);
    if (n > sizeof(((struct sockaddr_un *)0)->sun_path) - 1)
        return daq_err(err, err_len, "tap: socket path '%s' is longer than 107 bytes", p);
    if (n >= cap)
        return daq_err(err, err_len, "tap: socket path '%s' does not fit %zu bytes", p, cap);
    memcpy(out, p, n + 1);
    return 0;
}

uint32_t daq_tap_pool_frames(const daq_config_tap *cfg)
{
    return cfg->max_readers * (cfg->max_lease_cap + 1) + cfg->history;
}

/* mkdir -p of path's directory, mode 0755. */
static int mkdir_parent(const char *path, char *err, size_t err_len)
{
    char d[108];
    snprintf(d, sizeof d, "%s", path);
    char *slash = strrchr(d, '/');
    if (!slash || slash == d)
        return 0;
    *slash = '\0';
    for (char *q = d + 1;; q++) {
        if (*q != '/' && *q != '\0')
            continue;
        char c = *q;
        *q = '\0';
        if (mkdir(d, 0755) < 0 && errno != EEXIST)
            return daq_err(err, err_len, "tap: mkdir %s: %s", d, strerror(errno));
        *q = c;
        if (!c)
            return 0;
    }
}

/* A socket file left at path: replaced when nobody answers on it. */
static int clear_stale(const char *path, char *err, size_t err_len)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : daq_err(err, err_len, "tap: %s: %s", path, strerror(errno));
    if (!S_ISSOCK(st.st_mode))
        return daq_err(err, err_len, "tap: %s exists and is not a socket", path);
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (s < 0)
        return daq_err(err, err_len, "tap: socket: %s", strerror(errno));
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    memcpy(a.sun_path, path, strlen(path) + 1);
    int rc = connect(s, (struct sockaddr *)&a, sizeof a);
    int e = errno;
    close(s);
    if (rc == 0 || (e != ECONNREFUSED && e != ENOENT))
        return daq_err(err, err_len, "tap: %s is in use (another daemon answers on it)", path);
    if (unlink(path) < 0 && errno != ENOENT)
        return daq_err(err, err_len, "tap: unlink %s: %s", path, strerror(errno));
    return 0;
}

/* ---- messages ------------------------------------------------------------------------------- */

/* A refusal, logged at warn -- at most one line a second, with how many
 * were not logged since: a client retrying in a loop cannot flood the log. */
static void refusal_warn(daq_tap_server *t, const char *text, const tap_conn *c)
{
    uint64_t now = daq_now_ns();
    if (t->refusal_log_ns && now - t->refusal_log_ns < REFUSAL_LOG_GAP) {
        t->refusals_unlogged++;
        return;
    }
    DAQ_LOG(DAQ_LOG_WARN, LOG_TARGET, "tap connection refused", DAQ_F_STR("error", text),
            DAQ_F_I64("pid", c->pid), DAQ_F_U64("uid", c->uid), DAQ_F_U64("gid", c->gid),
            DAQ_F_U64("suppressed", t->refusals_unlogged));
    t->refusal_log_ns = now;
    t->refusals_unlogged = 0;
}

/* ERROR to c (refusals are logged; a shutdown is not one). */
static void send_error(daq_tap_server *t, const tap_conn *c, int fd, daq_tap_error_code code,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void send_error(daq_tap_server *t, const tap_conn *c, int fd, daq_tap_error_code code,
                       const char *fmt, ...)
{
    daq_tap_error_msg e;
    memset(&e, 0, sizeof e);
    tap_head_init(&e.head, DAQ_TAP_ERROR);
    e.code = (uint32_t)code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.message, sizeof e.message, fmt, ap);
    va_end(ap);
    (void)tap_send(fd, &e, sizeof e); /* the peer is dropped either way */
    if (code != DAQ_TAP_ERR_SHUTDOWN)
        refusal_warn(t, e.message, c);
}

static size_t expected_len(uint16_t type, const uint8_t *msg, size_t n)
{
    switch (type) {
    case DAQ_TAP_HELLO: return sizeof(daq_tap_hello);
    case DAQ_TAP_BYE: return sizeof(daq_tap_head);
    case DAQ_TAP_READY: return sizeof(daq_tap_head);
    case DAQ_TAP_RELEASE: {
        if (n < 16)
            return 16;
        uint32_t count;
        memcpy(&count, msg + 8, sizeof count);
        return count >= 1 && count <= DAQ_TAP_MAX_RELEASE ? 16 + 8 * (size_t)count : 0;
    }
    default: return 0;
    }
}

/* Closes a connection's socket after reading what it still holds (fds
 * included, closed): a Unix socket closed with unread packets makes the
 * peer's next recv fail ECONNRESET before it can read our last ERROR or
 * BYE.  A packet that arrives after the drain still does that: a reader
 * should read on after an ECONNRESET, the ERROR is queued behind it. */
static void drain_close(int fd)
{
    for (int k = 0; k < 64; k++) {
        char b[DAQ_TAP_MESSAGE_MAX];
        union {
            char buf[CMSG_SPACE(MAX_RECV_FDS * sizeof(int))];
            struct cmsghdr align;
        } ctl;
        struct iovec iov = {b, sizeof b};
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl};
        ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n <= 0)
            break;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
            if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
                for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
                    int f;
                    memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof f);
                    close(f);
                }
    }
    close(fd);
}

/* ---- the connection table ------------------------------------------------------------------- */

/* Off the table and epoll, subscription ended, leases back, fd closed.
 * outcome: a refusal's counter, or NULL for a reader's disconnect. */
static void conn_close(daq_tap_server *t, tap_conn *c, uint64_t *refusal)
{
    if (c->closing)
        return;
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < t->n_conns_cap; i++)
        if (t->conns[i] == c)
            t->conns[i] = NULL;
    if (c->reader)
        t->readers--;
    else
        t->pending--;
    if (refusal)
        (*refusal)++;
    if (c->reader)
        t->disconnects++;
    pthread_mutex_unlock(&t->mu);
    epoll_ctl(t->ep, EPOLL_CTL_DEL, c->fd, NULL);
    if (c->sub) /* not holding c->mu: deliver takes it under the sub's lock */
        daq_bus_unsubscribe(c->bus, c->sub);
    c->sub = NULL;
    if (c->reader) {
        pthread_mutex_lock(&c->mu);
        uint64_t sent = c->frames_sent;
        uint64_t drops = c->drops_lease_cap + c->drops_socket_full + c->drops_unshareable;
        pthread_mutex_unlock(&c->mu);
        DAQ_LOG(DAQ_LOG_INFO, LOG_TARGET, "tap reader disconnected", DAQ_F_U64("reader", c->id),
                DAQ_F_I64("pid", c->pid), DAQ_F_U64("uid", c->uid), DAQ_F_STR("device", c->device),
                DAQ_F_U64("lease_cap", c->lease_cap), DAQ_F_U64("frames_sent", sent),
                DAQ_F_U64("drops", drops));
    }
    tap_conn_release_all(c);
    drain_close(c->fd);
    c->fd = -1;
    c->closing = true;
    c->grave_next = t->grave;
    t->grave = c;
}

static void conn_free(tap_conn *c)
{
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static bool peer_allowed(const daq_config_tap *cfg, uid_t uid, gid_t gid)
{
    if (!cfg->n_allowed_uids && !cfg->n_allowed_gids)
        return uid == geteuid();
    for (size_t i = 0; i < cfg->n_allowed_uids; i++)
        if (cfg->allowed_uids[i] == uid)
            return true;
    for (size_t i = 0; i < cfg->n_allowed_gids; i++)
        if (cfg->allowed_gids[i] == gid)
            return true;
    return false;
}

static void id_list(char *out, size_t cap, const uint32_t *ids, size_t n, bool self)
{
    size_t len = 0;
    out[0] = '\0';
    if (self && n == 0) {
        snprintf(out, cap, "%u (the daemon's)", (unsigned)geteuid());
        return;
    }
    if (n == 0)
        snprintf(out, cap, "none");
    for (size_t i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%u", i ? ", " : "", (unsigned)ids[i]);
}

/* Accepts one connection; false when there is none (or no fd for it). */
static bool accept_one(daq_tap_server *t)
{
    int fd = accept4(t->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)) {
        /* Out of fds: the connection waits in the backlog, and the listening
         * socket, still readable, would spin the loop; ignored until the
         * next tick. */
        struct epoll_event ev = {.events = 0, .data.u64 = EV_LISTEN};
        if (epoll_ctl(t->ep, EPOLL_CTL_MOD, t->listen_fd, &ev) == 0)
            t->accept_paused = true;
        return false;
    }
    if (fd < 0)
        return errno == ECONNABORTED || errno == EINTR; /* a peer already gone: next */
    struct ucred cr;
    socklen_t cl = sizeof cr;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0) {
        close(fd);
        return true;
    }
    if (!peer_allowed(&t->cfg, cr.uid, cr.gid)) {
        char uids[160], gids[160];
        bool none = !t->cfg.n_allowed_uids && !t->cfg.n_allowed_gids;
        id_list(uids, sizeof uids, t->cfg.allowed_uids, t->cfg.n_allowed_uids, none);
        id_list(gids, sizeof gids, t->cfg.allowed_gids, t->cfg.n_allowed_gids, false);
        pthread_mutex_lock(&t->mu); /* counted before the peer can see the refusal */
        t->refused_not_allowed++;
        pthread_mutex_unlock(&t->mu);
        tap_conn who = {.pid = cr.pid, .uid = cr.uid, .gid = cr.gid};
        send_error(t, &who, fd, DAQ_TAP_ERR_NOT_ALLOWED,
                   "tap: uid %u gid %u (pid %d) is not allowed (allowed uids: %s; gids: %s)",
                   (unsigned)cr.uid, (unsigned)cr.gid, (int)cr.pid, uids, gids);
        drain_close(fd);
        return true;
    }
    if (t->pending >= TAP_PENDING_MAX) { /* the oldest waiter goes */
        tap_conn *old = NULL;
        for (size_t i = 0; i < t->n_conns_cap; i++) {
            tap_conn *c = t->conns[i];
            if (c && !c->reader && (!old || c->connected_ns < old->connected_ns))
                old = c;
        }
        if (old) {
            send_error(t, old, old->fd, DAQ_TAP_ERR_HELLO_TIMEOUT,
                       "tap: no HELLO yet and %u more connections wait: dropped", TAP_PENDING_MAX);
            conn_close(t, old, &t->refused_other);
        }
    }
    tap_conn *c = calloc(1, sizeof *c);
    size_t slot = t->n_conns_cap;
    for (size_t i = 0; i < t->n_conns_cap; i++)
        if (!t->conns[i]) {
            slot = i;
            break;
        }
    if (!c || slot == t->n_conns_cap) {
        free(c);
        close(fd);
        pthread_mutex_lock(&t->mu);
        t->refused_other++;
        pthread_mutex_unlock(&t->mu);
        return true;
    }
    c->t = t;
    c->fd = fd;
    c->connected_ns = daq_now_ns();
    c->pid = cr.pid;
    c->uid = cr.uid;
    c->gid = cr.gid;
    c->next_lease = 1;
    atomic_init(&c->dead, false);
    pthread_mutex_init(&c->mu, NULL);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
    if (epoll_ctl(t->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        conn_free(c);
        close(fd);
        return true;
    }
    pthread_mutex_lock(&t->mu);
    t->conns[slot] = c;
    t->pending++;
    t->accepted++;
    pthread_mutex_unlock(&t->mu);
    return true;
}

/* ---- HELLO ---------------------------------------------------------------------------------- */

/* The device list for NO_DEVICE: "a, b". */
static void device_list(daq_devices *ds, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    size_t n = daq_devices_count(ds);
    for (size_t i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? ", " : "",
                                daq_device_id(daq_devices_at(ds, i)));
    if (n == 0)
        snprintf(out, cap, "none");
}

/* Validates a HELLO and makes the connection a reader; false when it was
 * refused (the ERROR is sent, the caller closes). */
static bool hello(daq_tap_server *t, tap_conn *c, const daq_tap_hello *h)
{
    const daq_config_tap *cfg = &t->cfg;
    if (!memchr(h->device, '\0', sizeof h->device)) {
        send_error(t, c, c->fd, DAQ_TAP_ERR_BAD_HELLO,
                   "tap: device id is not NUL-terminated within %u bytes", DAQ_TAP_DEVICE_MAX);
        return false;
    }
    uint32_t cap = h->lease_cap ? h->lease_cap : cfg->lease_cap;
    if (cap > cfg->max_lease_cap || cap > DAQ_TAP_MAX_LEASES) {
        send_error(t, c, c->fd, DAQ_TAP_ERR_BAD_HELLO,
                   "tap: lease_cap %u is more than max_lease_cap %u", cap, cfg->max_lease_cap);
        return false;
    }
    if (cap == 0)
        cap = 1;
    if (h->queue_depth > DAQ_TAP_MAX_QUEUE) {
        send_error(t, c, c->fd, DAQ_TAP_ERR_BAD_HELLO, "tap: queue_depth %u is more than %u",
                   h->queue_depth, DAQ_TAP_MAX_QUEUE);
        return false;
    }
    uint32_t depth = h->queue_depth ? h->queue_depth : cap;
    if (h->flags & ~DAQ_TAP_HELLO_READY) {
        send_error(t, c, c->fd, DAQ_TAP_ERR_BAD_HELLO, "tap: unknown HELLO flags 0x%x",
                   h->flags & ~DAQ_TAP_HELLO_READY);
        return false;
    }
    if (isnan(h->max_fps) || h->max_fps < 0 || isinf(h->max_fps)) {
        send_error(t, c, c->fd, DAQ_TAP_ERR_BAD_HELLO, "tap: max_fps %g is not a rate (0 or more)",
                   h->max_fps);
        return false;
    }
    daq_device *dev = NULL;
    if (h->device[0])
        dev = daq_devices_find(t->devices, h->device);
    else if (daq_devices_count(t->devices) > 0)
        dev = daq_devices_at(t->devices, 0);
    if (!dev || !daq_device_bus(dev)) {
        char list[200];
        device_list(t->devices, list, sizeof list);
        send_error(t, c, c->fd, DAQ_TAP_ERR_NO_DEVICE, "tap: no camera device '%s' (devices: %s)",
                   h->device, list);
        return false;
    }
    if (t->readers >= cfg->max_readers) {
        send_error(t, c, c->fd, DAQ_TAP_ERR_TOO_MANY,
                   "tap: %u readers are connected, as many as [tap] max_readers allows",
                   t->readers);
        return false;
    }
    c->id = ++t->next_id;
    snprintf(c->device, sizeof c->device, "%s", daq_device_id(dev));
    c->lease_cap = cap;
    c->queue_depth = depth;
    c->bus = daq_device_bus(dev);

    int sndbuf = (int)(depth + SNDBUF_SPARE) * SNDBUF_PER_PKT;
    (void)setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);

    daq_tap_welcome w;
    memset(&w, 0, sizeof w);
    tap_head_init(&w.head, DAQ_TAP_WELCOME);
    w.reader_id = c->id;
    snprintf(w.device, sizeof w.device, "%s", c->device);
    w.lease_cap = cap;
    w.queue_depth = depth;
    w.history = h->history < cfg->history ? h->history : cfg->history;
    if (w.history > cap)
        w.history = cap;
    w.lease_timeout_ms = cfg->lease_timeout_ms;
    w.daemon_pid = t->pid;
    memcpy(w.format, DAQ_TAP_FORMAT, sizeof DAQ_TAP_FORMAT);
    char name[64];
    snprintf(name, sizeof name, "tap:%" PRIu64 ":%d", c->id, (int)c->pid);
    daq_sub_config sc;
    daq_sub_config_init(&sc);
    sc.name = name;
    sc.policy = DAQ_SUB_DROP_NEWEST;
    sc.queue_depth = cap;
    sc.decimate = h->decimate;
    sc.max_fps = h->max_fps;
    sc.deliver = tap_deliver;
    sc.deliver_ctx = c;
    char err[256] = "";
    daq_sub *sub = daq_bus_subscribe(c->bus, &sc, err, sizeof err);
    if (!sub) {
        send_error(t, c, c->fd, DAQ_TAP_ERR_BAD_HELLO, "tap: %s", err);
        return false;
    }
    /* A reader in the table before it hears WELCOME: what it asks of the
     * statistics next finds it. */
    pthread_mutex_lock(&t->mu);
    c->sub = sub;
    c->reader = true;
    t->pending--;
    t->readers++;
    pthread_mutex_unlock(&t->mu);
    /* History, then WELCOME and the history FRAMEs under c->mu: deliver,
     * subscribed already, sends nothing before them (the frames of these
     * few microseconds are in the history, or are not offered). */
    daq_frame *hist[16];
    uint32_t nh = w.history ? tap_history_take(t, c->bus, hist, w.history) : 0;
    pthread_mutex_lock(&c->mu);
    /* With history the stream has begun: its MAP and frames are queued. */
    c->await_ready = (h->flags & DAQ_TAP_HELLO_READY) && nh == 0;
    c->welcomed = tap_send(c->fd, &w, sizeof w) == 0;
    for (uint32_t i = 0; c->welcomed && i < nh; i++)
        if (tap_conn_send_frame(c, hist[i], false)) {
            c->hist_serial = daq_pool_serial(daq_frame_pool(hist[i]));
            c->hist_last_seq = daq_frame_meta_get(hist[i])->sequence;
        }
    pthread_mutex_unlock(&c->mu);
    for (uint32_t i = 0; i < nh; i++)
        daq_frame_unref(hist[i]);
    if (!c->welcomed)
        atomic_store(&c->dead, true); /* reaped as a disconnect */
    DAQ_LOG(DAQ_LOG_INFO, LOG_TARGET, "tap reader connected", DAQ_F_U64("reader", c->id),
            DAQ_F_I64("pid", c->pid), DAQ_F_U64("uid", c->uid), DAQ_F_STR("device", c->device),
            DAQ_F_U64("lease_cap", cap), DAQ_F_U64("frames_sent", 0), DAQ_F_U64("drops", 0));
    return true;
}

/* ---- the thread ----------------------------------------------------------------------------- */

static void bad_message(daq_tap_server *t, tap_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void bad_message(daq_tap_server *t, tap_conn *c, const char *fmt, ...)
{
    char text[DAQ_TAP_ERROR_TEXT];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    send_error(t, c, c->fd, DAQ_TAP_ERR_BAD_MESSAGE, "%s", text);
    conn_close(t, c, c->reader ? NULL : &t->refused_other);
}

/* Reads every packet waiting on c. */
static void conn_readable(daq_tap_server *t, tap_conn *c)
{
    for (;;) {
        union {
            uint8_t b[DAQ_TAP_MESSAGE_MAX + 1];
            daq_tap_hello hello;
            daq_tap_release_msg release;
        } msg;
        union {
            char buf[CMSG_SPACE(MAX_RECV_FDS * sizeof(int))];
            struct cmsghdr align;
        } ctl;
        struct iovec iov = {msg.b, sizeof msg.b};
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl};
        ssize_t n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        bool fds = (mh.msg_flags & MSG_CTRUNC) != 0;
        for (struct cmsghdr *cm = n >= 0 ? CMSG_FIRSTHDR(&mh) : NULL; cm;
             cm = CMSG_NXTHDR(&mh, cm)) {
            if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                continue;
            size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < k; i++) {
                int fd;
                memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
                close(fd);
            }
            fds = true;
        }
        if (n <= 0) { /* EOF, or an error: the reader is gone */
            conn_close(t, c, c->reader ? NULL : &t->refused_other);
            return;
        }
        if (fds) {
            bad_message(t, c, "tap: readers send no file descriptors");
            return;
        }
        if ((size_t)n < sizeof(daq_tap_head)) {
            bad_message(t, c, "tap: a %zd-byte packet is shorter than a message head", n);
            return;
        }
        daq_tap_head h;
        memcpy(&h, msg.b, sizeof h);
        if (h.magic != DAQ_TAP_MAGIC) {
            bad_message(t, c, "tap: bad magic 0x%08x (want 0x%08x)", h.magic, DAQ_TAP_MAGIC);
            return;
        }
        if (h.version != DAQ_TAP_VERSION) {
            bad_message(t, c, "tap: protocol version %u is not %u", h.version, DAQ_TAP_VERSION);
            return;
        }
        bool want = c->reader ? (h.type == DAQ_TAP_RELEASE || h.type == DAQ_TAP_BYE ||
                                 h.type == DAQ_TAP_READY)
                              : (h.type == DAQ_TAP_HELLO || h.type == DAQ_TAP_BYE);
        if (!want) {
            bad_message(t, c, "tap: unexpected message type %u", h.type);
            return;
        }
        if (h.type == DAQ_TAP_RELEASE && n >= 16 &&
            (msg.release.count < 1 || msg.release.count > DAQ_TAP_MAX_RELEASE)) {
            bad_message(t, c, "tap: a RELEASE of %u leases (1..%u)", msg.release.count,
                        DAQ_TAP_MAX_RELEASE);
            return;
        }
        size_t len = expected_len(h.type, msg.b, (size_t)n);
        if (len == 0 || (size_t)n != len) {
            bad_message(t, c, "tap: message type %u is %zd bytes, not %zu", h.type, n, len);
            return;
        }
        if (h.type == DAQ_TAP_BYE) {
            conn_close(t, c, c->reader ? NULL : &t->refused_other);
            return;
        }
        if (h.type == DAQ_TAP_HELLO) {
            if (!hello(t, c, &msg.hello)) {
                conn_close(t, c, &t->refused_other);
                return;
            }
            continue;
        }
        if (h.type == DAQ_TAP_READY) {
            pthread_mutex_lock(&c->mu);
            c->await_ready = false; /* a READY without a wait: harmless */
            pthread_mutex_unlock(&c->mu);
            continue;
        }
        tap_conn_release(c, msg.release.lease, msg.release.count);
    }
}

/* Hello timeouts, revocations and readers a send found dead. */
static void tick(daq_tap_server *t)
{
    uint64_t now = daq_now_ns();
    if (t->accept_paused) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EV_LISTEN};
        t->accept_paused = epoll_ctl(t->ep, EPOLL_CTL_MOD, t->listen_fd, &ev) != 0;
    }
    uint64_t timeout_ns = (uint64_t)t->cfg.lease_timeout_ms * 1000000ull;
    for (size_t i = 0; i < t->n_conns_cap; i++) {
        tap_conn *c = t->conns[i];
        if (!c)
            continue;
        if (!c->reader) {
            if (now - c->connected_ns >= TAP_HELLO_NS) {
                send_error(t, c, c->fd, DAQ_TAP_ERR_HELLO_TIMEOUT, "tap: no HELLO within 2 s");
                conn_close(t, c, &t->refused_other);
            }
            continue;
        }
        if (timeout_ns)
            tap_conn_revoke_old(c, now, timeout_ns);
        if (atomic_load(&c->dead))
            conn_close(t, c, NULL);
    }
}

static void bury(daq_tap_server *t)
{
    while (t->grave) {
        tap_conn *c = t->grave;
        t->grave = c->grave_next;
        conn_free(c);
    }
}

static void *server_thread(void *arg)
{
    daq_tap_server *t = arg;
    struct epoll_event evs[32];
    for (;;) {
        int n = epoll_wait(t->ep, evs, 32, TAP_TICK_MS);
        if (n < 0 && errno != EINTR)
            break;
        bool stop = false;
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u64 == EV_STOP) {
                stop = true;
            } else if (evs[i].data.u64 == EV_LISTEN) {
                for (int k = 0; k < 16 && accept_one(t); k++) { /* a burst, bounded */
                }
            } else {
                tap_conn *c = evs[i].data.ptr;
                if (!c->closing) /* closed earlier in this pass: in the grave */
                    conn_readable(t, c);
            }
        }
        if (stop)
            break;
        tick(t);
        /* Only now: an event of this pass may have named a conn closed
         * before it was reached. */
        bury(t);
    }
    bury(t);
    return NULL;
}

/* ---- life ----------------------------------------------------------------------------------- */

daq_tap_server *daq_tap_server_create(daq_devices *devices, const daq_config_tap *cfg,
                                      const char *path, char *err, size_t err_len)
{
    if (strlen(path) > sizeof(((struct sockaddr_un *)0)->sun_path) - 1) {
        daq_err(err, err_len, "tap: socket path '%s' is longer than 107 bytes", path);
        return NULL;
    }
    if (cfg->max_readers == 0 || cfg->max_lease_cap == 0 ||
        cfg->max_lease_cap > DAQ_TAP_MAX_LEASES || cfg->lease_cap == 0 ||
        cfg->lease_cap > cfg->max_lease_cap) {
        daq_err(err, err_len, "tap: lease_cap %u, max_lease_cap %u, max_readers %u out of range",
                cfg->lease_cap, cfg->max_lease_cap, cfg->max_readers);
        return NULL;
    }
    daq_tap_server *t = calloc(1, sizeof *t);
    if (!t) {
        daq_err(err, err_len, "tap: out of memory");
        return NULL;
    }
    t->devices = devices;
    t->cfg = *cfg;
    snprintf(t->path, sizeof t->path, "%s", path);
    t->listen_fd = t->stop_fd = t->ep = -1;
    t->pid = (uint32_t)getpid();
    pthread_mutex_init(&t->mu, NULL);
    t->n_conns_cap = cfg->max_readers + TAP_PENDING_MAX;
    t->conns = calloc(t->n_conns_cap, sizeof *t->conns);
    if (!t->conns) {
        daq_err(err, err_len, "tap: out of memory");
        goto fail;
    }
    if (mkdir_parent(path, err, err_len) < 0 || clear_stale(path, err, err_len) < 0)
        goto fail;
    t->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (t->listen_fd < 0) {
        daq_err(err, err_len, "tap: socket: %s", strerror(errno));
        goto fail;
    }
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    memcpy(a.sun_path, path, strlen(path) + 1);
    if (bind(t->listen_fd, (struct sockaddr *)&a, sizeof a) < 0) {
        daq_err(err, err_len, "tap: bind %s: %s", path, strerror(errno));
        goto fail;
    }
    if (chmod(path, cfg->mode) < 0 || listen(t->listen_fd, 16) < 0) {
        daq_err(err, err_len, "tap: %s: %s", path, strerror(errno));
        unlink(path);
        goto fail;
    }
    t->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    t->ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event el = {.events = EPOLLIN, .data.u64 = EV_LISTEN};
    struct epoll_event es = {.events = EPOLLIN, .data.u64 = EV_STOP};
    if (t->stop_fd < 0 || t->ep < 0 || epoll_ctl(t->ep, EPOLL_CTL_ADD, t->listen_fd, &el) < 0 ||
        epoll_ctl(t->ep, EPOLL_CTL_ADD, t->stop_fd, &es) < 0) {
        daq_err(err, err_len, "tap: epoll: %s", strerror(errno));
        unlink(path);
        goto fail;
    }
    if (tap_history_start(t, err, err_len) < 0) {
        tap_history_stop(t);
        unlink(path);
        goto fail;
    }
    int rc = pthread_create(&t->thread, NULL, server_thread, t);
    if (rc != 0) {
        daq_err(err, err_len, "tap: thread: %s", strerror(rc));
        tap_history_stop(t);
        unlink(path);
        goto fail;
    }
    t->thread_started = true;
    DAQ_LOG(DAQ_LOG_INFO, LOG_TARGET, "tap listening", DAQ_F_STR("path", path),
            DAQ_F_U64("max_readers", cfg->max_readers), DAQ_F_U64("lease_cap", cfg->lease_cap));
    return t;
fail:
    if (t->listen_fd >= 0)
        close(t->listen_fd);
    if (t->stop_fd >= 0)
        close(t->stop_fd);
    if (t->ep >= 0)
        close(t->ep);
    free(t->conns);
    pthread_mutex_destroy(&t->mu);
    free(t);
    return NULL;
}

void daq_tap_server_destroy(daq_tap_server *t)
{
    if (!t)
        return;
    if (t->thread_started) {
        uint64_t one = 1;
        ssize_t w = write(t->stop_fd, &one, sizeof one);
        (void)w;
        pthread_join(t->thread, NULL);
    }
    /* The thread is gone: the table is ours. */
    for (size_t i = 0; i < t->n_conns_cap; i++) {
        tap_conn *c = t->conns[i];
        if (!c)
            continue;
        if (c->reader) {
            daq_tap_head bye;
            tap_head_init(&bye, DAQ_TAP_BYE);
            (void)tap_send(c->fd, &bye, sizeof bye);
        } else {
            send_error(t, c, c->fd, DAQ_TAP_ERR_SHUTDOWN, "tap: the daemon is stopping");
        }
        conn_close(t, c, c->reader ? NULL : &t->refused_other);
    }
    bury(t);
    tap_history_stop(t);
    close(t->listen_fd);
    unlink(t->path);
    close(t->stop_fd);
    close(t->ep);
    free(t->conns);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

const char *daq_tap_server_path(const daq_tap_server *t)
{
    return t->path;
}
