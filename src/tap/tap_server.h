/* tap/tap_server.h - the daemon's side of the zero-copy tap (ADR 0012,
 * wire format daq/tap_proto.h, user's guide docs/tap.md).
 *
 * One listening Unix SOCK_SEQPACKET socket and one thread (epoll) for every
 * reader of every camera: accept, SO_PEERCRED check (before anything that
 * carries an fd), HELLO, RELEASE, EOF, hello and lease timeouts.  Frames do
 * not go through that thread: each reader is a *direct* bus subscription
 * (daq_sub_config.deliver) whose deliver runs on the acquisition thread,
 * takes one reference (the lease), writes the slot's shared header and
 * sends FRAME with MSG_DONTWAIT -- one syscall, no thread hop, never a
 * wait.  A reader at its lease cap, with a full socket, or offered a frame
 * that is not in a shareable pool slot (a heap frame: pool dry or off)
 * loses that frame, counted per reason; acquisition and the other consumers
 * never notice.  Socket EOF releases all of a reader's leases at once; a
 * lease held past lease_timeout_ms is revoked (REVOKED, reference dropped).
 *
 * Bounds: max_readers readers, each holding at most its lease cap (<= 64)
 * frames; fixed-size per-reader state allocated at accept; one thread.
 *
 * Ownership: daq_tap_server_create borrows the device table (it must
 * outlive the server) and copies cfg.  The server owns its socket, thread,
 * readers, their subscriptions and leases; destroy ends them all (leases
 * released, socket file unlinked).
 */
#ifndef DAQ_TAP_TAP_SERVER_H
#define DAQ_TAP_TAP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daq/config.h"
#include "daq/devices.h"
#include "daq/tap_proto.h"

typedef struct daq_tap_server daq_tap_server;

/* The socket path a config gives: cfg->path, or the default under the
 * runtime directory for grpc_port (daq/config.h).  0, or -1 with a
 * message when it does not fit sun_path. */
int daq_tap_default_path(const daq_config_tap *cfg, uint16_t grpc_port, char *out, size_t cap,
                         char *err, size_t err_len);

/* Frames the tap can hold at once per camera: max_readers *
 * (max_lease_cap + 1) + history.  The daemon adds it to the engine's
 * dynamic_allowance so an auto-sized pool never runs dry for the tap. */
uint32_t daq_tap_pool_frames(const daq_config_tap *cfg);

/* Creates the socket at path (mkdir -p of its directory, mode 0755; a
 * stale socket file is replaced, a live one -- another daemon answers on
 * it -- is an error), chmods it to cfg->mode and starts the thread.  NULL
 * with "tap: ..." in err on failure.  The caller owns the server. */
daq_tap_server *daq_tap_server_create(daq_devices *devices, const daq_config_tap *cfg,
                                      const char *path, char *err, size_t err_len);

/* Stops the thread, sends BYE and closes every reader (their leases are
 * released), closes and unlinks the socket.  NULL ok. */
void daq_tap_server_destroy(daq_tap_server *t);

/* Borrowed, valid until destroy. */
const char *daq_tap_server_path(const daq_tap_server *t);

typedef struct daq_tap_reader_stats {
    uint64_t id;
    char device[DAQ_TAP_DEVICE_MAX];
    int32_t pid;
    uint32_t uid, gid;
    uint32_t lease_cap, queue_depth;
    uint32_t leases_held;
    uint64_t frames_sent;       /* FRAMEs sent = leases taken */
    uint64_t releases;          /* leases returned by RELEASE */
    uint64_t stale_releases;    /* RELEASE of a lease not held (revoked, unknown) */
    uint64_t drops_lease_cap;   /* frames lost: the reader held its cap */
    uint64_t drops_socket_full; /* frames lost: the socket's queue was full */
    uint64_t drops_unshareable; /* frames lost: a heap frame, or a private pool */
    uint64_t revoked;           /* leases revoked after lease_timeout_ms */
    /* Frames published while the reader mapped its first pool and had not
     * said READY (DAQ_TAP_HELLO_READY): not its frames, not drops. */
    uint64_t before_ready;
} daq_tap_reader_stats;

typedef struct daq_tap_server_stats {
    uint32_t readers;             /* connected now, past HELLO */
    uint64_t accepted;            /* connections accepted */
    uint64_t refused_not_allowed; /* SO_PEERCRED said no */
    uint64_t refused_other;       /* bad message, bad hello, no device, too many, timeout */
    uint64_t disconnects;         /* readers gone (EOF, BYE, error) */
} daq_tap_server_stats;

/* Snapshots: the server's counters, and up to max readers; returns how
 * many readers were written.  Any thread. */
void daq_tap_server_stats_snapshot(daq_tap_server *t, daq_tap_server_stats *out);
size_t daq_tap_server_readers(daq_tap_server *t, daq_tap_reader_stats *out, size_t max);

/* Appends the daq_tap_* metric families (Prometheus text) to buf, growing
 * it with realloc; returns the new length or (size_t)-1 when out of memory
 * (buf unchanged).  t may be NULL (nothing appended). */
size_t daq_tap_metrics_append(daq_tap_server *t, char **buf, size_t len, size_t *cap);

#endif
