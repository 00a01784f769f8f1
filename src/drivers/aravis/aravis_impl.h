/* drivers/aravis/aravis_impl.h - the Aravis driver's private state, shared by
 * the files of the aravis driver (and, for fault injection, its tests).
 *
 * The driver is split by who runs it:
 *  - aravis_params.c: the parameter table, pending settings and how they
 *    reach the device's GenICam features (control thread);
 *  - aravis_driver.c: open/close/format/start/stop/stats (control thread,
 *    or the acquisition thread's final stop);
 *  - aravis_stream.c: fill_queue/fill_dequeue, the hot path (acquisition
 *    thread only), and the buffer cache;
 *  - aravis_trigger.c: the GenICam trigger features -- which trigger modes
 *    the camera has (open), how start configures one, the software
 *    trigger, and each frame's trigger_index.
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

#include "daq/camera_driver.h"
#include "drivers/aravis/aravis_ids.h"

#define ARAVIS_LOG "daq::aravis"

/* ---- settings (aravis_params.c) --------------------------------------------- */

enum { ARAVIS_SOCKET_AUTO = -1 }; /* socket_buffer = "auto" */

/* What the configuration asked for.  A feature is written to the device
 * only if it was set (has_*): everything else keeps the camera's own
 * value, so an empty config leaves a camera as its vendor tool left it. */
typedef struct aravis_settings {
    char camera[DAQ_PARAM_STR_MAX];         /* id, IP or "" (first found) */
    char pixel_format[DAQ_PARAM_STR_MAX];   /* "" = the camera's */
    char trigger_source[DAQ_PARAM_STR_MAX]; /* external modes: "" = the first Line* listed */
    int64_t packet_size;                    /* 0 = negotiate */
    int64_t socket_buffer;                  /* bytes, or ARAVIS_SOCKET_AUTO */
    int64_t buffers;                        /* frames queued at Aravis */
    int64_t width, height, x, y, binning;
    double exposure_ms, frame_rate_hz, gain;
    bool has_width, has_height, has_x, has_y, has_binning;
    bool has_exposure, has_frame_rate, has_gain;
} aravis_settings;

/* ---- triggers (aravis_trigger.c) ------------------------------------------------ */

/* What the open camera's GenICam trigger features offer (read at open). */
typedef struct aravis_trigger_caps {
    bool mode;                    /* TriggerMode exists at all */
    bool selector;                /* TriggerSelector exists */
    bool frame_start;             /* TriggerSelector lists FrameStart (or there is no selector) */
    bool acquisition_start;       /* ... lists AcquisitionStart */
    bool frame_burst_start;       /* ... lists FrameBurstStart */
    bool burst_count;             /* AcquisitionBurstFrameCount exists */
    bool software;                /* TriggerSoftware exists and TriggerSource lists Software */
    bool activation;              /* TriggerActivation exists */
    bool rising_edge;             /* ... lists RisingEdge */
    bool level_high;              /* ... lists LevelHigh */
    char line[DAQ_PARAM_STR_MAX]; /* the first Line* TriggerSource, "" none */
    char sources[192];            /* every TriggerSource, comma separated (messages) */
} aravis_trigger_caps;

/* ---- the buffer cache (aravis_stream.c) ------------------------------------------- */

/* One ArvBuffer wrapping one daq frame's pixels.  The cache holds one
 * GObject reference; while queued, the stream holds another. */
typedef struct aravis_entry {
    ArvBuffer *buf;
    daq_frame *frame; /* borrowed identity; owned by us only while in_flight */
    bool in_flight;   /* the driver owns the frame's reference */
} aravis_entry;

/* Buffer status counters: one per ArvBufferStatus that is not SUCCESS. */
enum {
    ARAVIS_FAIL_TIMEOUT = 0,
    ARAVIS_FAIL_MISSING_PACKETS,
    ARAVIS_FAIL_WRONG_PACKET_ID,
    ARAVIS_FAIL_SIZE_MISMATCH,
    ARAVIS_FAIL_ABORTED,
    ARAVIS_FAIL_OTHER, /* unknown, cleared, filling */
    ARAVIS_FAIL_COUNT
};

/* Aravis stream statistics that become stat extras. */
enum {
    ARAVIS_SI_COMPLETED = 0,
    ARAVIS_SI_FAILURES,
    ARAVIS_SI_UNDERRUNS,
    ARAVIS_SI_MISSING_PACKETS,
    ARAVIS_SI_RESENT_PACKETS,
    ARAVIS_SI_MISSING_FRAMES,
    ARAVIS_SI_COUNT
};

typedef struct aravis {
    daq_camera *cam; /* back pointer, borrowed */
    aravis_settings set;

    /* device (control thread) */
    ArvCamera *camera; /* owned while open */
    bool is_gv;
    char device_id[DAQ_PARAM_STR_MAX];
    char model[DAQ_PARAM_STR_MAX];
    size_t payload; /* bytes per frame, read at format/start */
    _Atomic double exposure_us;
    aravis_trigger_caps tcaps; /* read at open */
    uint32_t trigger_modes;    /* DAQ_TRIGGER_BITs the camera has (0 closed) */

    /* stream (created by start, destroyed by stop) */
    ArvStream *stream;
    int info_index[ARAVIS_SI_COUNT]; /* arv_stream info ids, -1 when absent */
    pthread_mutex_t stats_mu;        /* guards `stream` against stats */
    uint64_t saved_info[ARAVIS_SI_COUNT];

    /* acquisition thread */
    aravis_entry *slots; /* indexed by pool slot */
    uint32_t n_slots;
    aravis_entry *heap; /* heap frames in flight (rare: pool exhausted/off) */
    uint32_t n_heap, cap_heap;
    aravis_id_ext ids;
    _Atomic bool interrupted;

    /* trigger state of the stream: trig is fixed by start (read by the
     * acquisition thread only while streaming); accepted is the control
     * thread's (the trigger op runs under the camera lock); hw_base is the
     * acquisition thread's. */
    daq_trigger_config trig;
    uint64_t accepted; /* software triggers sent since start */
    bool have_hw_base; /* the stream's first frame seen */
    uint64_t hw_base;  /* its extended frame id */

    /* counters (single writer: the acquisition thread; reset by start) */
    _Atomic uint64_t delivered, failed, fail[ARAVIS_FAIL_COUNT], memcpy_count, memcpy_bytes, queued,
        foreign, id_wraps;

    pthread_mutex_t err_mu;
    char error[256];
} aravis;

static inline aravis *aravis_of(daq_camera *cam)
{
    return daq_camera_priv(cam);
}

/* Single-writer counter update: a plain load and store. */
static inline void aravis_bump(_Atomic uint64_t *c, uint64_t by)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + by,
                          memory_order_relaxed);
}

/* Significant bits of a pixel format (Mono12 stores 12 bits in 16). */
static inline unsigned aravis_depth_of(ArvPixelFormat pf)
{
    switch (pf) {
    case ARV_PIXEL_FORMAT_MONO_10: return 10;
    case ARV_PIXEL_FORMAT_MONO_12: return 12;
    case ARV_PIXEL_FORMAT_MONO_14: return 14;
    default: return ARV_PIXEL_FORMAT_BIT_PER_PIXEL(pf);
    }
}

/* daq's name for a GenICam pixel format (DAQ_PIXEL_UNKNOWN: delivered as bytes). */
static inline daq_pixel_format aravis_pixel_format(ArvPixelFormat pf)
{
    switch (pf) {
    case ARV_PIXEL_FORMAT_MONO_8: return DAQ_PIXEL_MONO8;
    case ARV_PIXEL_FORMAT_MONO_12: return DAQ_PIXEL_MONO12;
    case ARV_PIXEL_FORMAT_MONO_16: return DAQ_PIXEL_MONO16;
    default: return DAQ_PIXEL_UNKNOWN;
    }
}

/* aravis_params.c */
void aravis_settings_default(aravis_settings *s);
/* The params, get_param and set_param ops: the table is static storage;
 * id is an index into it; set gets a value the camera layer has validated
 * (daq/camera_driver.h). */
size_t aravis_params(daq_camera *cam, const daq_param_desc **out);
int aravis_get_param(daq_camera *cam, size_t id, daq_param_value *out, char *err, size_t err_len);
int aravis_set_param(daq_camera *cam, size_t id, const daq_param_value *v, char *err,
                     size_t err_len);
/* Writes every setting that was set to the open camera. */
int aravis_apply_settings(aravis *d, char *err, size_t err_len);
/* Formats a GError (and clears it) as "what: message"; returns -1. */
int aravis_gerror(GError **e, const char *what, char *err, size_t err_len);

/* aravis_stream.c: the FILL ops of daq/camera_driver.h.  fill_queue takes over
 * the caller's reference to empty (released by the driver on failure);
 * fill_dequeue hands one reference to *filled to the caller. */
int aravis_fill_queue(daq_camera *cam, daq_frame *empty);
int aravis_fill_dequeue(daq_camera *cam, int64_t timeout_ns, daq_frame **filled,
                        daq_frame_info *info);
/* Releases every frame the driver holds and the cached ArvBuffers; the
 * stream must be gone already. */
void aravis_release_all(aravis *d);
void aravis_set_error(aravis *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* aravis_trigger.c.  discover: at open, fills d->tcaps and d->trigger_modes
 * (never fails: a camera without trigger features is internal-only).
 * configure: at start, before AcquisitionStart, puts the camera in d->trig's
 * mode (internal: every TriggerMode Off).  index: the trigger_index of the
 * frame with extended id hw (acquisition thread). */
void aravis_trigger_discover(aravis *d);
void aravis_trigger_forget(aravis *d);
int aravis_trigger_configure(aravis *d, char *err, size_t err_len);
uint64_t aravis_trigger_index(aravis *d, uint64_t hw);
/* The trigger_modes and trigger ops of daq/camera_driver.h. */
uint32_t aravis_trigger_modes(daq_camera *cam);
int aravis_trigger_fire(daq_camera *cam, daq_trigger_answer *out, char *err, size_t err_len);

/* For tests and benchmarks (fault injection, baselines): the open
 * ArvCamera of an aravis daq camera, or NULL.  Borrowed. */
ArvCamera *aravis_arv_camera(daq_camera *cam);

/* aravis_driver.c: the driver (registered by daq_aravis_register). */
extern const daq_driver daq_aravis_driver;

#endif
