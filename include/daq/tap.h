/* daq/tap.h - read frames straight out of a daqd pool: the zero-copy tap's
 * reader (ADR 0012, wire format daq/tap_proto.h, guide docs/tap.md).
 *
 * daq_tap_open connects to the daemon's tap socket, says HELLO and maps
 * the camera's pool read-only (once per pool, never per frame; the pages
 * are touched once at map time so the first frames do not fault), then
 * says READY: the daemon holds frames back while we map (HELLO flag
 * DAQ_TAP_HELLO_READY), so the stream starts without drops.  Each
 * daq_tap_next hands out one frame as a pointer into that mapping plus its
 * metadata: no copy.  The frame is a lease: the daemon keeps the slot for
 * you until daq_tap_release (batched: sent with the next daq_tap_next, or
 * when DAQ_TAP_MAX_RELEASE are pending, or at daq_tap_flush).  Hold at most
 * the granted lease cap; beyond it the daemon drops new frames for you
 * (counted in daq_tap_frame.dropped), never waits.
 *
 * A lease held longer than the daemon's lease timeout is revoked: after
 * reading pixels, daq_tap_frame_valid says whether they were still that
 * frame's (the slot header's generation is unchanged).
 *
 * Threading: one daq_tap per thread; no internal locks.  Ownership: the
 * caller owns the daq_tap (daq_tap_close); a daq_tap_frame borrows its
 * pixels from the mapping until it is released or the tap closed.
 */
#ifndef DAQ_TAP_H
#define DAQ_TAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daq/api.h"
#include "daq/tap_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct daq_tap daq_tap;

typedef struct daq_tap_options {
    const char *device;   /* camera device id; NULL or "" = the first */
    uint32_t lease_cap;   /* 0 = the daemon's default */
    uint32_t queue_depth; /* 0 = the lease cap */
    uint32_t history;     /* recent frames wanted at once; default 0 */
    uint32_t decimate;    /* every N-th frame; 0/1 = all */
    double max_fps;       /* 0 = unlimited */
} daq_tap_options;

DAQ_API void daq_tap_options_init(daq_tap_options *o);

/* Connects, says HELLO, waits up to 5 s for WELCOME.  NULL with the
 * daemon's ERROR text ("tap: uid 1000 gid 1000 is not allowed ...") or the
 * local reason in err.  opt may be NULL (defaults). */
DAQ_API daq_tap *daq_tap_open(const char *socket_path, const daq_tap_options *opt, char *err,
                              size_t err_len);

/* Sends BYE, unmaps, closes.  Leases still held are released by the
 * daemon (socket EOF).  NULL ok. */
DAQ_API void daq_tap_close(daq_tap *t);

/* One frame.  pixels and everything else borrowed until released. */
typedef struct daq_tap_frame {
    const void *pixels; /* payload_bytes of them, in the read-only mapping */
    size_t payload_bytes;
    uint32_t width, height, stride_bytes;
    uint16_t pixel_format, bit_depth; /* daq_pixel_format */
    uint64_t lease;
    uint64_t sequence, hw_frame_number;
    uint64_t bof_ns, eof_ns, exposure_ns;
    uint64_t cam_bof_ns, cam_eof_ns;
    uint64_t arrival_mono_ns, arrival_real_ns, exposure_start_real_ns;
    uint64_t trigger_index;
    uint64_t publish_mono_ns; /* the daemon sent it (CLOCK_MONOTONIC) */
    uint64_t receive_mono_ns; /* this process took it (CLOCK_MONOTONIC) */
    uint64_t dropped;         /* frames lost for this reader so far */
    uint32_t flags;
    uint32_t slot;
    uint64_t generation;
    uint64_t pool_serial;
} daq_tap_frame;

/* daq_tap_next results. */
enum {
    DAQ_TAP_NEXT_FRAME = 1,   /* *out holds a frame: release it */
    DAQ_TAP_NEXT_TIMEOUT = 0, /* nothing within timeout */
    DAQ_TAP_NEXT_EOS = 2,     /* the stream ended; later calls wait for a restart */
    DAQ_TAP_NEXT_ERROR = -1,  /* the daemon closed or said ERROR: daq_tap_error */
};

/* Sends pending releases, then waits up to timeout_ns (< 0: forever, 0: a
 * poll without a syscall beyond one recv -- the busy-poll mode) for the
 * next FRAME; handles MAP and REVOKED on the way. */
DAQ_API int daq_tap_next(daq_tap *t, int64_t timeout_ns, daq_tap_frame *out);

/* true if the slot still holds f's frame: call after reading its pixels. */
DAQ_API bool daq_tap_frame_valid(const daq_tap *t, const daq_tap_frame *f);

/* Gives the lease back (queued; see above).  0, or -1 if f is not a lease
 * of this tap that is held. */
DAQ_API int daq_tap_release(daq_tap *t, const daq_tap_frame *f);

/* Sends the queued releases now.  0 or -1 (connection lost). */
DAQ_API int daq_tap_flush(daq_tap *t);

/* The socket, for poll()/epoll integration (readable: call daq_tap_next
 * with timeout 0).  Borrowed. */
DAQ_API int daq_tap_fd(const daq_tap *t);

/* What WELCOME granted; the last error text ("" if none).  Borrowed. */
DAQ_API const daq_tap_welcome *daq_tap_welcome_info(const daq_tap *t);
DAQ_API const char *daq_tap_error(const daq_tap *t);

typedef struct daq_tap_stats {
    uint64_t frames;      /* FRAMEs received */
    uint64_t released;    /* leases released */
    uint64_t revoked;     /* REVOKED received */
    uint64_t maps;        /* pools mapped */
    uint32_t leases_held; /* now */
} daq_tap_stats;

DAQ_API void daq_tap_stats_get(const daq_tap *t, daq_tap_stats *out);

#ifdef __cplusplus
}
#endif
#endif
