/* drivers/aravis/aravis_impl.h - the Aravis driver's private state, shared by
 * the files of the aravis driver (and, for fault injection, its tests).
 *
 * The driver is split by who runs it:
 *  - aravis_params.c: the parameter table, pending settings and how they
 *    reach the device's GenICam features (control thread);
 *  - aravis_driver.c: open/close/format/start/stop/stats (control thread,
 *    or the acquisition thread's final stop);
 *  - aravis_stream.c: fill_queue/fill_dequeue, the hot path (acquisition
 *    thread only), and the buffer cache.
 *
 * Threads: the control thread owns `set`, `camera` and the stream's
 * creation; while streaming only the acquisition thread touches the
 * stream's queues, the buffer cache and the id extender.  The engine
 * guarantees that stop runs after the acquisition thread has left
 * fill_dequeue for good.  Counters are single-writer atomics (relaxed
 * load+store), read from any thread by stats.  The stream pointer itself
 * is guarded by `stats_mu` only for stats, which may run on a metrics
 * thread while stop destroys the stream.
 */
#ifndef DAQ_ARAVIS_IMPL_H
#define DAQ_ARAVIS_IMPL_H

#include <arv.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "daq/camera.h"
#include "drivers/aravis/aravis_ids.h"

#define ARVD_LOG "daq::aravis"

/* ---- settings (aravis_params.c) --------------------------------------------- */

enum { ARVD_SOCKET_AUTO = -1 }; /* socket_buffer = "auto" */

/* What the configuration asked for.  A feature is written to the device
 * only if it was set (has_*): everything else keeps the camera's own
 * value, so an empty config leaves a camera as its vendor tool left it. */
typedef struct arvd_settings {
    char camera[DAQ_PARAM_STR_MAX];       /* id, IP or "" (first found) */
    char pixel_format[DAQ_PARAM_STR_MAX]; /* "" = the camera's */
    int64_t packet_size;                  /* 0 = negotiate */
    int64_t socket_buffer;                /* bytes, or ARVD_SOCKET_AUTO */
    int64_t buffers;                      /* frames queued at Aravis */
    int64_t width, height, x, y, binning;
    double exposure_ms, frame_rate_hz, gain;
    bool has_width, has_height, has_x, has_y, has_binning;
    bool has_exposure, has_frame_rate, has_gain;
} arvd_settings;

/* ---- the buffer cache (aravis_stream.c) ------------------------------------------- */

/* One ArvBuffer wrapping one daq frame's pixels.  The cache holds one
 * GObject reference; while queued, the stream holds another. */
typedef struct arvd_entry {
    ArvBuffer *buf;
    daq_frame *frame; /* borrowed identity; owned by us only while in_flight */
    bool in_flight;   /* the driver owns the frame's reference */
} arvd_entry;

/* Buffer status counters: one per ArvBufferStatus that is not SUCCESS. */
enum {
    ARVD_FAIL_TIMEOUT = 0,
    ARVD_FAIL_MISSING_PACKETS,
    ARVD_FAIL_WRONG_PACKET_ID,
    ARVD_FAIL_SIZE_MISMATCH,
    ARVD_FAIL_ABORTED,
    ARVD_FAIL_OTHER, /* unknown, cleared, filling */
    ARVD_FAIL_COUNT
};

/* Aravis stream statistics that become stat extras. */
enum {
    ARVD_SI_COMPLETED = 0,
    ARVD_SI_FAILURES,
    ARVD_SI_UNDERRUNS,
    ARVD_SI_MISSING_PACKETS,
    ARVD_SI_RESENT_PACKETS,
    ARVD_SI_MISSING_FRAMES,
    ARVD_SI_COUNT
};

typedef struct arvd {
    daq_camera *cam; /* back pointer, borrowed */
    arvd_settings set;

    /* device (control thread) */
    ArvCamera *camera; /* owned while open */
    bool is_gv;
    char device_id[DAQ_PARAM_STR_MAX];
    char model[DAQ_PARAM_STR_MAX];
    size_t payload; /* bytes per frame, read at format/start */
    _Atomic double exposure_us;

    /* stream (created by start, destroyed by stop) */
    ArvStream *stream;
    int info_index[ARVD_SI_COUNT]; /* arv_stream info ids, -1 when absent */
    pthread_mutex_t stats_mu;      /* guards `stream` against stats */
    uint64_t saved_info[ARVD_SI_COUNT];

    /* acquisition thread */
    arvd_entry *slots; /* indexed by pool slot */
    uint32_t n_slots;
    arvd_entry *heap; /* heap frames in flight (rare: pool exhausted/off) */
    uint32_t n_heap, cap_heap;
    arvd_id_ext ids;
    _Atomic bool interrupted;

    /* counters (single writer: the acquisition thread; reset by start) */
    _Atomic uint64_t delivered, failed, fail[ARVD_FAIL_COUNT], memcpy_count, memcpy_bytes, queued,
        foreign, id_wraps;

    pthread_mutex_t err_mu;
    char error[256];
} arvd;

static inline arvd *arvd_of(daq_camera *cam)
{
    return cam->priv;
}

/* Single-writer counter update: a plain load and store. */
static inline void arvd_bump(_Atomic uint64_t *c, uint64_t by)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + by,
                          memory_order_relaxed);
}

/* Significant bits of a pixel format (Mono12 stores 12 bits in 16). */
static inline unsigned arvd_depth_of(ArvPixelFormat pf)
{
    switch (pf) {
    case ARV_PIXEL_FORMAT_MONO_10: return 10;
    case ARV_PIXEL_FORMAT_MONO_12: return 12;
    case ARV_PIXEL_FORMAT_MONO_14: return 14;
    default: return ARV_PIXEL_FORMAT_BIT_PER_PIXEL(pf);
    }
}

/* daq's name for a GenICam pixel format (DAQ_PIXEL_UNKNOWN: delivered as bytes). */
static inline daq_pixel_format arvd_pixel_format(ArvPixelFormat pf)
{
    switch (pf) {
    case ARV_PIXEL_FORMAT_MONO_8: return DAQ_PIXEL_MONO8;
    case ARV_PIXEL_FORMAT_MONO_12: return DAQ_PIXEL_MONO12;
    case ARV_PIXEL_FORMAT_MONO_16: return DAQ_PIXEL_MONO16;
    default: return DAQ_PIXEL_UNKNOWN;
    }
}

/* aravis_params.c */
void arvd_settings_default(arvd_settings *s);
size_t arvd_params_table(const daq_param_desc **out);
int arvd_param_get(arvd *d, const char *name, daq_param_value *out, char *err, size_t len);
int arvd_param_set(arvd *d, const char *name, const daq_param_value *v, char *err, size_t len);
/* Writes every setting that was set to the open camera. */
int arvd_apply_settings(arvd *d, char *err, size_t len);
/* Formats a GError (and clears it) as "what: message"; returns -1. */
int arvd_gerror(GError **e, char *err, size_t len, const char *what);

/* aravis_stream.c: the FILL ops of daq/camera.h.  fill_queue takes over
 * the caller's reference to empty (released by the driver on failure);
 * fill_dequeue hands one reference to *filled to the caller. */
int arvd_fill_queue(daq_camera *cam, daq_frame *empty);
int arvd_fill_dequeue(daq_camera *cam, int64_t timeout_ns, daq_frame **filled,
                      daq_frame_info *info);
/* Releases every frame the driver holds and the cached ArvBuffers; the
 * stream must be gone already. */
void arvd_release_all(arvd *d);
void arvd_set_error(arvd *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* For tests and benchmarks (fault injection, baselines): the open
 * ArvCamera of an aravis daq camera, or NULL.  Borrowed. */
ArvCamera *daq_aravis_arv_camera(daq_camera *cam);

#endif
