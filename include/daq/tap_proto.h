/* daq/tap_proto.h - the zero-copy tap's wire format, "daq-slots-v1"
 * (ADR 0012; the user's guide is docs/tap.md).
 *
 * A local reader maps a camera's pool read-only and reads frames where the
 * camera put them.  The conversation runs over one Unix SOCK_SEQPACKET
 * socket: every message is one packet holding one fixed struct below,
 * little-endian (x86-64 and aarch64 both are), starting with daq_tap_head.
 * A packet whose magic, version, type or length is wrong is refused: the
 * daemon answers ERROR and closes; a reader gives up the connection.
 *
 *   reader -> HELLO     device, lease cap, queue depth, history, gates
 *   daemon -> WELCOME   or ERROR and close (peer not allowed -- checked with
 *                       SO_PEERCRED before anything else is sent --, bad
 *                       hello, unknown device, too many readers)
 *   daemon -> MAP       + 2 fds by SCM_RIGHTS: [arena memfd, header memfd];
 *                       before the first frame from each pool (a restart with
 *                       a new frame size makes a new pool)
 *   daemon -> FRAME     one per frame: the notification and a lease (one
 *                       reference on the frame, held by the daemon for the
 *                       reader until RELEASE, EOF or revocation)
 *   reader -> READY     (with HELLO flag DAQ_TAP_HELLO_READY) it has mapped
 *                       the first MAP: the daemon sends that MAP alone and no
 *                       FRAME until READY, so frames published while a
 *                       reader maps and prefaults the pool (tens of ms for
 *                       hundreds of MiB) are not its frames -- not sent,
 *                       not counted as its drops -- and its stream starts
 *                       complete.  Later MAPs (a new pool) are not gated.
 *   reader -> RELEASE   lease numbers, batched (unknown ones are counted and
 *                       ignored: a revoked lease may be released late)
 *   daemon -> REVOKED   a lease held past [tap] lease_timeout_ms: the daemon
 *                       dropped its reference; the slot's generation in the
 *                       header changes when the slot is reused
 *   daemon -> EOS       the stream ended (frames follow if it restarts)
 *   either -> BYE       orderly close; socket EOF means the same, and the
 *                       daemon then releases every lease of that reader
 *
 * A reader never writes the mappings (both memfds are sealed against
 * writable mappings).  To read a frame: pixels at arena + offset, then
 * compare the slot header's generation (daq_slot_header in daq/pool.h, at
 * headers + slot * header_size) with the FRAME's: equal means the pixels
 * read were that frame's.  Fields never move; a later version appends and
 * bumps DAQ_TAP_VERSION.
 */
#ifndef DAQ_TAP_PROTO_H
#define DAQ_TAP_PROTO_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DAQ_TAP_MAGIC       0x50415444u /* "DTAP" as little-endian bytes */
#define DAQ_TAP_VERSION     1u
#define DAQ_TAP_FORMAT      "daq-slots-v1" /* GetRingBufferTapInfo.data_format */
#define DAQ_TAP_DEVICE_MAX  64u            /* device id bytes, NUL included */
#define DAQ_TAP_MAX_LEASES  64u            /* a reader's lease cap, at most */
#define DAQ_TAP_MAX_QUEUE   256u           /* a reader's queue depth, at most */
#define DAQ_TAP_MAX_RELEASE 62u            /* lease numbers in one RELEASE */
#define DAQ_TAP_MESSAGE_MAX 512u           /* no packet is longer */
#define DAQ_TAP_ERROR_TEXT  240u

typedef enum daq_tap_type {
    DAQ_TAP_HELLO = 1,
    DAQ_TAP_WELCOME = 2,
    DAQ_TAP_MAP = 3,
    DAQ_TAP_FRAME = 4,
    DAQ_TAP_RELEASE = 5,
    DAQ_TAP_REVOKED = 6,
    DAQ_TAP_EOS = 7,
    DAQ_TAP_BYE = 8,
    DAQ_TAP_ERROR = 9,
    DAQ_TAP_READY = 10,
} daq_tap_type;

/* HELLO flags. */
#define DAQ_TAP_HELLO_READY 1u /* the reader sends READY after its first MAP */

/* ERROR codes; the text says what exactly. */
typedef enum daq_tap_error_code {
    DAQ_TAP_ERR_NOT_ALLOWED = 1,   /* the peer's uid/gid is not in [tap] allowed_* */
    DAQ_TAP_ERR_BAD_MESSAGE = 2,   /* magic, version, type, length or fds wrong */
    DAQ_TAP_ERR_BAD_HELLO = 3,     /* a value out of range */
    DAQ_TAP_ERR_NO_DEVICE = 4,     /* no camera device of that id */
    DAQ_TAP_ERR_TOO_MANY = 5,      /* [tap] max_readers are connected */
    DAQ_TAP_ERR_HELLO_TIMEOUT = 6, /* no HELLO within 2 s of connecting */
    DAQ_TAP_ERR_SHUTDOWN = 7,      /* the daemon is stopping */
} daq_tap_error_code;

typedef struct daq_tap_head {
    uint32_t magic;   /* DAQ_TAP_MAGIC */
    uint16_t version; /* DAQ_TAP_VERSION */
    uint16_t type;    /* daq_tap_type */
} daq_tap_head;

typedef struct daq_tap_hello {
    daq_tap_head head;
    char device[DAQ_TAP_DEVICE_MAX]; /* NUL-terminated id; "" = the first camera device */
    uint32_t lease_cap;   /* frames held at once, 1..[tap] max_lease_cap; 0 = [tap] lease_cap */
    uint32_t queue_depth; /* FRAMEs that may wait unread in the socket, 1..256; 0 = lease cap */
    uint32_t history;     /* recent frames wanted at once, 0..[tap] history */
    uint32_t decimate;    /* every N-th frame; 0 or 1 = all */
    double max_fps;       /* at most this rate; 0 = unlimited */
    uint32_t flags;       /* DAQ_TAP_HELLO_*; others refused */
    uint32_t reserved;    /* 0 */
} daq_tap_hello;

typedef struct daq_tap_welcome {
    daq_tap_head head;
    uint64_t reader_id; /* unique in this daemon's life; metrics say reader="<id>" */
    char device[DAQ_TAP_DEVICE_MAX];
    uint32_t lease_cap;        /* granted */
    uint32_t queue_depth;      /* granted */
    uint32_t history;          /* granted: that many FRAMEs may follow at once */
    uint32_t lease_timeout_ms; /* a lease held longer is revoked; 0 = never */
    uint32_t daemon_pid;
    uint32_t reserved;
    char format[16]; /* DAQ_TAP_FORMAT, NUL-padded */
} daq_tap_welcome;

typedef struct daq_tap_map {
    daq_tap_head head;
    uint64_t pool_serial;  /* the FRAMEs of this pool name it */
    uint64_t arena_bytes;  /* size of fds[0]: map it whole, PROT_READ, MAP_SHARED */
    uint64_t header_bytes; /* size of fds[1]: the same */
    uint64_t slot_stride;  /* slot i's pixels at i * slot_stride */
    uint64_t slot_bytes;   /* one slot's capacity */
    uint32_t slot_count;
    uint32_t header_size; /* sizeof(daq_slot_header) = 64: slot i's at i * header_size */
} daq_tap_map;

typedef struct daq_tap_frame_msg {
    daq_tap_head head;
    uint64_t lease;       /* this reader's lease number, 1, 2, ...: what RELEASE names */
    uint64_t pool_serial; /* of the MAP whose mapping holds the pixels */
    uint64_t generation;  /* the slot header's generation for this frame */
    uint64_t offset;      /* of the pixels in the arena */
    uint32_t slot;
    uint32_t payload_bytes;
    uint32_t width, height, stride_bytes;
    uint16_t pixel_format; /* daq_pixel_format */
    uint16_t bit_depth;
    uint64_t sequence; /* daq_frame_meta: delivered sequence, 1-based, per stream */
    uint64_t hw_frame_number;
    uint64_t bof_ns, eof_ns, exposure_ns; /* CLOCK_MONOTONIC */
    uint64_t cam_bof_ns, cam_eof_ns;      /* the camera's clock; 0 = none */
    uint64_t arrival_mono_ns, arrival_real_ns, exposure_start_real_ns;
    uint64_t trigger_index;
    uint64_t publish_mono_ns; /* CLOCK_MONOTONIC as the daemon sent it: latency's origin */
    uint64_t dropped;         /* frames this reader has lost so far, all reasons */
    uint32_t flags;           /* DAQ_FRAME_FLAG_* */
    uint32_t leases_held;     /* by this reader, this one included */
} daq_tap_frame_msg;

typedef struct daq_tap_release_msg {
    daq_tap_head head;
    uint32_t count; /* 1..DAQ_TAP_MAX_RELEASE; the packet is 16 + 8 * count bytes */
    uint32_t reserved;
    uint64_t lease[DAQ_TAP_MAX_RELEASE];
} daq_tap_release_msg;

typedef struct daq_tap_revoked {
    daq_tap_head head;
    uint64_t lease;
    uint64_t pool_serial;
    uint32_t slot;
    uint32_t reserved;
} daq_tap_revoked;

typedef struct daq_tap_error_msg {
    daq_tap_head head;
    uint32_t code; /* daq_tap_error_code */
    uint32_t reserved;
    char message[DAQ_TAP_ERROR_TEXT]; /* NUL-terminated: "tap: ..." */
} daq_tap_error_msg;

/* EOS, BYE and READY are a bare daq_tap_head. */

#ifndef __cplusplus
_Static_assert(sizeof(daq_tap_head) == 8, "daq-slots-v1");
_Static_assert(sizeof(daq_tap_hello) == 104, "daq-slots-v1");
_Static_assert(sizeof(daq_tap_welcome) == 120, "daq-slots-v1");
_Static_assert(sizeof(daq_tap_map) == 56, "daq-slots-v1");
_Static_assert(sizeof(daq_tap_frame_msg) == 176, "daq-slots-v1");
_Static_assert(sizeof(daq_tap_release_msg) == 512, "daq-slots-v1");
_Static_assert(sizeof(daq_tap_revoked) == 32, "daq-slots-v1");
_Static_assert(sizeof(daq_tap_error_msg) == 256, "daq-slots-v1");
#endif

#ifdef __cplusplus
}
#endif
#endif
