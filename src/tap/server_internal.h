/* tap/server_internal.h - the tap server's shared state, between the
 * connection thread (server.c: socket, accept, HELLO, timeouts), the frame
 * path (server_reader.c: deliver, leases, RELEASE, revocation), the history
 * (server_history.c) and the statistics (server_metrics.c).
 *
 * Locks: t->mu guards the connection table and the server counters; each
 * reader's mu (c->mu, a leaf: nothing is locked under it but the pool's own
 * free list when a frame's last reference goes) guards its lease table and
 * counters; a history's mu is a leaf too, never held with c->mu.  Order:
 * t->mu before c->mu, never the reverse; bus calls (subscribe,
 * unsubscribe) are made holding none of them, because deliver runs under
 * the bus subscription's lock and takes c->mu.  The connection table is
 * written by the thread only (under t->mu), so the thread reads it without.
 */
#ifndef DAQ_TAP_SERVER_INTERNAL_H
#define DAQ_TAP_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "daq/bus.h"
#include "daq/frame.h"
#include "daq/pool.h"
#include "tap/tap_server.h"

/* Connections still waiting for their HELLO, at most: a client that
 * connects and says nothing costs one fd for 2 s; past 16 the oldest goes,
 * so no client can pile up fds. */
#define TAP_PENDING_MAX 16u
#define TAP_HELLO_NS    2000000000ull
/* The thread's epoll timeout: how late a hello timeout or a revocation
 * may fire. */
#define TAP_TICK_MS 100

typedef struct tap_lease {
    uint64_t no;       /* 0 = free entry */
    daq_frame *f;      /* the reader's reference */
    uint64_t taken_ns; /* CLOCK_MONOTONIC, for lease_timeout_ms */
} tap_lease;

typedef struct tap_conn tap_conn;
struct tap_conn {
    daq_tap_server *t;
    int fd;
    bool reader;  /* past HELLO (a WELCOME went out) */
    bool closing; /* off the table, freed at the end of the thread's pass */
    struct tap_conn *grave_next;
    uint64_t connected_ns;
    pid_t pid;
    uid_t uid;
    gid_t gid;
    /* set once at HELLO, read-only after */
    uint64_t id;
    char device[DAQ_TAP_DEVICE_MAX];
    daq_bus *bus;
    daq_sub *sub;
    uint32_t lease_cap, queue_depth;
    atomic_bool dead; /* a send failed for good: the thread reaps it */

    pthread_mutex_t mu; /* leaf: everything below */
    bool welcomed;      /* WELCOME sent: deliver may send */
    /* HELLO asked DAQ_TAP_HELLO_READY and READY has not come: deliver sends
     * the first MAP alone and skips frames (counted, not drops). */
    bool await_ready;
    uint64_t skipped_before_ready;
    tap_lease leases[DAQ_TAP_MAX_LEASES];
    uint32_t held;
    uint64_t next_lease;
    uint64_t mapped_serial; /* the pool the reader has a MAP of; 0 none */
    /* The last history frame sent at HELLO (pool serial 0: none): a live
     * frame up to it, published while the reader joined, is not sent twice. */
    uint64_t hist_serial, hist_last_seq;
    uint64_t frames_sent, releases, stale_releases;
    uint64_t drops_lease_cap, drops_socket_full, drops_unshareable, revoked;
};

/* [tap] history: the last H shareable frames of one device, kept by a
 * direct subscription of the server's own (its deliver writes each slot's
 * shared header, on the publishing thread, before the frame enters). */
typedef struct tap_history {
    pthread_mutex_t mu; /* leaf */
    daq_bus *bus;
    daq_sub *sub;
    daq_frame *ring[16]; /* [tap] history <= 16 */
    uint32_t cap, next, n;
} tap_history;

struct daq_tap_server {
    daq_devices *devices;
    daq_config_tap cfg;
    char path[108];
    int listen_fd, stop_fd, ep;
    pthread_t thread;
    bool thread_started;
    uint32_t pid;

    pthread_mutex_t mu; /* the table and the counters below */
    tap_conn **conns;   /* max_readers + TAP_PENDING_MAX entries; NULL = free */
    size_t n_conns_cap;
    uint32_t readers, pending;
    uint64_t next_id;
    uint64_t accepted, refused_not_allowed, refused_other, disconnects;
    uint64_t refusal_log_ns, refusals_unlogged; /* warn at most once a second */
    tap_conn *grave;    /* closed this pass, freed at its end (thread only) */
    bool accept_paused; /* out of fds: the listening socket is off until the tick */
    tap_history *hist;  /* one per device when [tap] history > 0, else NULL */
    size_t n_hist;
};

/* server_reader.c */
bool tap_deliver(void *ctx, daq_frame *f);
/* Sends f as a FRAME (a MAP first when its pool is new to the reader),
 * taking a lease; false when dropped (counted).  The caller holds c->mu
 * and a reference on f.  write_header: fill the slot's shared header first
 * (only on the thread that publishes f: several readers write it). */
bool tap_conn_send_frame(tap_conn *c, daq_frame *f, bool write_header);
void tap_slot_header_fill(daq_slot_header *h, const daq_frame_meta *m);
/* A RELEASE from the reader (thread). */
void tap_conn_release(tap_conn *c, const uint64_t *leases, uint32_t n);
/* Revokes the leases held past timeout_ns (thread). */
void tap_conn_revoke_old(tap_conn *c, uint64_t now, uint64_t timeout_ns);
/* Drops every lease (after the unsubscribe). */
void tap_conn_release_all(tap_conn *c);
/* server_history.c: the history subscriptions (create, destroy), and
 * references on up to max of a bus's latest frames, oldest first. */
int tap_history_start(daq_tap_server *t, char *err, size_t err_len);
void tap_history_stop(daq_tap_server *t);
uint32_t tap_history_take(daq_tap_server *t, daq_bus *bus, daq_frame **out, uint32_t max);
/* One packet, never waiting: 0 or -1 with errno. */
int tap_send(int fd, const void *msg, size_t len);
void tap_head_init(daq_tap_head *h, daq_tap_type type);

#endif
