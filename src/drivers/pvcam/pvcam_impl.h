/* drivers/pvcam/pvcam_impl.h - the pvcam driver's private state, shared by
 * the files of the driver only.
 *
 * Files: pvcam_lib.c (the process's one libpvcam, the SDK lock),
 * pvcam_params.c (parameter table, facts read at open, get/set),
 * pvcam_stream.c (start/stop, the ring, the EOF callback, the frame calls,
 * the software trigger),
 * pvcam_driver.c (the daq_camera_ops face: create/open/close/format/stats).
 *
 * Threads and what they own:
 *  - the control thread (every call under cam->lock): settings, facts, the
 *    table, handle, registration, the ring and its geometry;
 *  - the acquisition thread (wait, get_oldest, release_oldest, between
 *    start and stop only): `fi`, `locked`, `taken`;
 *  - PVCAM's callback thread: the EOF callback, which only touches the
 *    fields under ev_mu and the atomics below, never the SDK or the ring.
 * Every SDK call, from any of them, is made under the process-wide SDK lock
 * (pvcam_sdk_lock), with the error code read under the same hold.
 */
#ifndef DAQ_PVCAM_IMPL_H
#define DAQ_PVCAM_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "daq/camera_driver.h"
#include "drivers/pvcam/pvcam_sdk.h"
#include "util/err.h"

/* ---- pvcam_lib.c ----------------------------------------------------------- */

/* Loads the library (camera parameter `library`, else $DAQ_PVCAM_LIBRARY,
 * else libpvcam.so.2 then libpvcam.so) and calls pl_pvcam_init if this is
 * the first reference.  -1 with one line in err. */
int pvcam_lib_acquire(const char *library, char *err, size_t err_len);
/* Drops a reference; the last one calls pl_pvcam_uninit and unloads. */
void pvcam_lib_release(void);
unsigned pvcam_lib_refs(void);

void pvcam_sdk_lock(void);
void pvcam_sdk_unlock(void);
/* The loaded entry points; valid while a reference is held. */
const pvcam_api *pvcam_api_get(void);
/* Under the SDK lock, right after a failed call: reads pl_error_code once
 * and writes "pvcam: CALL failed: error N: <pl_error_message text>";
 * returns the code. */
int16 pvcam_sdk_error(const char *call, char *err, size_t err_len);
/* Under the SDK lock, right after a failed call whose failure only warrants
 * a warning (stop and close paths go on regardless): logs the same text
 * with the device id (NULL for the library itself). */
void pvcam_sdk_warn(const char *call, const char *device);

/* ---- settings, facts, parameters (pvcam_params.c) ------------------------- */

enum pvcam_param_id {
    P_CAMERA_NAME,
    P_LIBRARY,
    P_EXPOSURE_MS,
    P_BUFFER_MODE,
    P_RING_FRAMES,
    P_ROI_X,
    P_ROI_Y,
    P_ROI_WIDTH,
    P_ROI_HEIGHT,
    P_BINNING,
    P_READOUT_PORT,
    P_SPEED_INDEX,
    P_GAIN_INDEX,
    P_TEMPERATURE_C,
    P_SENSOR_WIDTH,
    P_SENSOR_HEIGHT,
    P_BIT_DEPTH,
    P_CHIP_NAME,
    P_READOUT_PORTS,
    P_FRAME_BYTES,
    P_RING_FRAMES_ACTIVE,
    P_READOUT_TIME_US,
    P_TEST_PATTERN,
    P_EXPOSE_OUT_MODE,
    P_COUNT
};

enum pvcam_buffer_mode { PVCAM_NO_OVERWRITE = 0, PVCAM_OVERWRITE };

/* What the user asked for; applied at start. */
typedef struct pvcam_settings {
    char camera_name[CAM_NAME_LEN]; /* "" = the first camera */
    char library[DAQ_PARAM_STR_MAX];
    double exposure_ms;
    int buffer_mode;
    int64_t ring_frames; /* 0 = about 1 s of frames */
    int64_t roi_x, roi_y, roi_w, roi_h, binning;
    int64_t readout_port, speed_index, gain_index; /* -1 = leave the camera's */
    int test_pattern; /* 1: the camera sends the daq sim pattern (the test fake) */
    int32 expose_out; /* EXPOSE_OUT_* OR-ed into exp_mode (default FIRST_ROW = 0) */
} pvcam_settings;

/* A PVCAM parameter's availability and live-ness, read at open. */
typedef struct pvcam_pflags {
    bool avail, live;
} pvcam_pflags;

#define PVCAM_MAX_PORTS 8
/* The named PL_EXPOSE_OUT_MODES: EXPOSE_OUT_FIRST_ROW .. GLOBAL_SHUTTER. */
#define PVCAM_EXPOSE_OUT_NAMED MAX_EXPOSE_OUT_MODE
extern const char *const pvcam_expose_out_names[PVCAM_EXPOSE_OUT_NAMED + 1];

/* Static facts, read once at open (never while streaming). */
typedef struct pvcam_facts {
    char name[CAM_NAME_LEN];
    char chip[CCD_NAME_LEN];
    uint32_t sensor_w, sensor_h;
    unsigned bit_depth;
    int32 exp_res;       /* EXP_RES_*; ms when PARAM_EXP_RES is absent */
    double units_per_ms; /* exposure units in one millisecond */
    double exp_min_ms, exp_max_ms;
    pvcam_pflags exposure, temp, port, speed, gain, readout_time, bit_depth_p, circ;
    int32 port_cur;
    uint32_t port_count;
    int32 port_values[PVCAM_MAX_PORTS];
    char port_names[DAQ_PARAM_STR_MAX]; /* "0=Sensitivity,1=Speed" */
    int16 speed_cur, speed_min, speed_max;
    int16 gain_cur, gain_min, gain_max;
    int16 exp_mode; /* free-running exp_mode: EXT_TRIG_INTERNAL, or legacy TIMED_MODE */
    /* PARAM_EXPOSURE_MODE: the EXT_TRIG_* value of each daq trigger mode the
     * camera has (-1: not listed); trigger_bits = those modes as
     * DAQ_TRIGGER_BITs, the software ones only when pl_exp_trigger resolved. */
    int32 trig_exp[DAQ_TRIGGER_MODE_COUNT];
    uint32_t trigger_bits;
    char exposure_modes[DAQ_PARAM_STR_MAX]; /* "1792=Internal Trigger,..." as listed */
    /* PARAM_EXPOSE_OUT_MODE: the named values the camera lists, and their
     * names (NULL-terminated; the expose_out_mode enum while open). */
    pvcam_pflags expose_out;
    uint32_t eo_count;
    int32 eo_values[PVCAM_EXPOSE_OUT_NAMED];
    const char *eo_names[PVCAM_EXPOSE_OUT_NAMED + 1];
} pvcam_facts;

/* The region and output geometry of the current settings. */
typedef struct pvcam_geom {
    rgn_type rgn;
    daq_roi roi;
    uint32_t bin, width, height, stride;
    size_t pixel_bytes;
} pvcam_geom;

typedef struct pvcam {
    daq_camera *cam; /* borrowed back-pointer */

    /* ---- control thread -------------------------------------------------- */
    pvcam_settings set;
    bool lib_held;      /* holds a library reference */
    bool opened;        /* pl_cam_open succeeded */
    bool cb_registered; /* the EOF callback is registered */
    bool sdk_started;   /* pl_exp_start_cont succeeded, no stop yet */
    bool stream_live;   /* start set the SDK up; stop not done yet */
    /* the trigger modes of the last open (facts.trigger_bits survive a
     * close here, so a reopen -- recovery -- keeps trigger.mode) */
    uint32_t known_trigger_bits;
    int16 hcam;
    pvcam_facts facts;
    daq_param_desc table[P_COUNT]; /* the base table with the camera's ranges/LIVE flags */
    /* the stream (fixed between start and stop) */
    pvcam_geom geom;
    int mode;          /* pvcam_buffer_mode */
    uns32 frame_bytes; /* one frame, as pl_exp_setup_cont reported it */
    uint32_t ring_frames;
    uns32 readout_us;
    unsigned char *ring; /* owned mapping of ring_map bytes */
    size_t ring_map;
    _Atomic uint64_t exposure_ns; /* of the stream; a LIVE set changes it */
    daq_trigger_mode trig_mode;   /* of the stream */
    int16 stream_exp_mode;        /* what pl_exp_setup_cont got */
    /* software triggers the camera took since start (TRIGGERED); written
     * under the camera lock, read by the acquisition thread */
    _Atomic uint64_t triggers_accepted;
    _Atomic uint64_t triggers_ignored;
    bool unlock_early; /* test only: DAQ_PVCAM_TEST_UNLOCK_EARLY, rust-daq's race */

    /* ---- acquisition thread ------------------------------------------------ */
    FRAME_INFO *fi; /* from pl_create_frame_info_struct; the _ex getters fill it */
    bool locked;    /* a frame is borrowed (get_oldest .. release_oldest) */

    /* ---- the callback side --------------------------------------------------- */
    pthread_mutex_t ev_mu;
    pthread_cond_t ev_cv; /* a frame was announced, interrupt, failure, stop */
    /* under ev_mu */
    bool acquiring; /* callbacks are recorded only while set */
    bool interrupted;
    bool failed;
    char error[320];
    /* frame numbers: the highest announced by a callback, the highest taken
     * by get_oldest; announced - taken = frames pending */
    _Atomic int64_t announced, taken;
    _Atomic int64_t ts_offset_ns; /* CLOCK_MONOTONIC ns - 0.1 ms ticks * 1e5 */

    /* counters of the current stream (reset by start) */
    _Atomic uint64_t callbacks, late_callbacks, duplicate_callbacks, overruns, overrun_errors,
        sdk_errors, readout_errors, frames_got;
} pvcam;

static inline pvcam *pvcam_of(daq_camera *cam)
{
    return daq_camera_priv(cam);
}

void pvcam_settings_default(pvcam_settings *s);
/* Rebuilds p->table from the base table and (when open) the facts. */
void pvcam_table_build(pvcam *p);
/* Under the SDK lock, camera open: reads the facts. -1 with err. */
int pvcam_facts_read(pvcam *p, char *err, size_t err_len);
/* The params, get_param and set_param ops: the table is p->table (refined
 * at open, under the camera's lock); id is an index into it; set gets a
 * value the camera layer has validated (daq/camera_driver.h). */
size_t pvcam_params(daq_camera *cam, const daq_param_desc **table);
int pvcam_get_param(daq_camera *cam, size_t id, daq_param_value *out, char *err, size_t err_len);
int pvcam_set_param(daq_camera *cam, size_t id, const daq_param_value *v, char *err,
                    size_t err_len);
/* The verify op: the sim pattern check when test_pattern says so. */
int pvcam_verify(daq_camera *cam, const daq_frame_meta *m, const void *pixels, char *why,
                 size_t len);
/* The region and output size of the settings on this sensor. */
int pvcam_geom_compute(const pvcam *p, pvcam_geom *g, char *err, size_t err_len);
/* Exposure in the camera's units (at least 1). */
uns32 pvcam_exposure_units(const pvcam *p, double ms);
daq_pixel_format pvcam_pixel_format(unsigned bit_depth);

/* ---- the stream (pvcam_stream.c) ---------------------------------------------- */

/* EOF handler (PVCAM's thread): records and signals, nothing else. */
PL_CALLBACK_SIG_EX3 pvcam_eof_callback;
/* Under the SDK lock: registers the callback if it is not. */
int pvcam_register_locked(pvcam *p, char *err, size_t err_len);
/* Under the SDK lock: deregisters it if it is. */
void pvcam_deregister_locked(pvcam *p);

int pvcam_start(daq_camera *cam, char *err, size_t err_len);
void pvcam_stop(daq_camera *cam);
int pvcam_wait(daq_camera *cam, int64_t timeout_ns);
void pvcam_interrupt(daq_camera *cam);
int pvcam_get_oldest(daq_camera *cam, const void **pixels, daq_frame_info *info);
void pvcam_release_oldest(daq_camera *cam);
/* The trigger_modes op: internal only until the first open, then the
 * modes of the last open (open or closed: a closed camera keeps offering
 * what it had, and start checks again against the camera it opens). */
uint32_t pvcam_trigger_modes(daq_camera *cam);
/* The trigger op: pl_exp_trigger; TRIGGERED/IGNORED, -1 when it failed. */
int pvcam_trigger(daq_camera *cam, daq_trigger_answer *out, char *err, size_t err_len);

#endif
