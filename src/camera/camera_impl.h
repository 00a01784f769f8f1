/* camera/camera_impl.h - the layout of struct daq_camera, for camera.c, the
 * acquisition engine and white-box tests only.
 *
 * The engine's per-frame driver calls are static inline here: one indirect
 * call through the ops table, no lock, no exported-function hop -- the
 * same cost as when the struct was public.  They are daq__ friends: for
 * modules of libdaq, not for callers (daq/camera.h) or drivers
 * (daq/camera_driver.h).
 */
#ifndef DAQ_CAMERA_IMPL_H
#define DAQ_CAMERA_IMPL_H

#include <pthread.h>
#include <stdbool.h>

#include "camera/trigger_track.h"
#include "daq/camera_driver.h"

/* The parameters camera.c adds to every driver's (trigger.*). */
#define DAQ_CAMERA_OWN_PARAMS 4

struct daq_camera {
    const daq_camera_ops *ops; /* the driver's; a test may substitute a spy */
    const daq_driver *driver;
    void *priv; /* the driver's state, from its create */
    char id[64];
    pthread_mutex_t lock; /* serialises the control calls (open..stop, params) */
    bool opened;          /* under lock */
    bool streaming;       /* under lock */

    /* While a driver start runs (it may prefault a ring of gigabytes for
     * seconds) readers are answered from this copy taken just before it,
     * and writers are refused, instead of waiting for lock (camera.c). */
    pthread_mutex_t snap_mu; /* leaf; guards starting and snap */
    bool starting;
    struct daq_camera_snap *snap; /* owned; allocated at the first start */

    daq_camera_guard_fn guard; /* asked when a write grows the frame or ring */
    void *guard_ctx;

    /* The trigger model (ADR 0011), under lock but for track (its own
     * mutex) and modes (written under lock, read anywhere: a word). */
    uint32_t modes;          /* DAQ_TRIGGER_BITs, internal included */
    bool ever_opened;        /* under lock: modes are the camera's, not a guess */
    daq_trigger_config trig; /* trigger.mode, frames_per_trigger, timeout_ms */
    daq_trigger_track track;
    /* The driver's table followed by the camera's own, rebuilt per lookup
     * under lock (control path: a few KiB copied). */
    daq_param_desc table[DAQ_CAMERA_MAX_PARAMS];
};

/* camera.c: 0 if drv has what a camera needs (type, ops, create), else -1
 * with "camera driver 'T' is incomplete ..." -- for creation and the
 * registry alike. */
int daq_camera__driver_check(const daq_driver *drv, char *err, size_t err_len);

/* ---- the acquisition thread's calls (no lock: see daq/camera_driver.h) --- */

static inline int daq_camera__wait(daq_camera *cam, int64_t timeout_ns)
{
    return cam->ops->wait(cam, timeout_ns);
}

static inline int daq_camera__get_oldest(daq_camera *cam, const void **pixels, daq_frame_info *info)
{
    return cam->ops->get_oldest(cam, pixels, info);
}

static inline void daq_camera__release_oldest(daq_camera *cam)
{
    cam->ops->release_oldest(cam);
}

static inline int daq_camera__fill_queue(daq_camera *cam, daq_frame *empty)
{
    return cam->ops->fill_queue(cam, empty);
}

static inline int daq_camera__fill_dequeue(daq_camera *cam, int64_t timeout_ns, daq_frame **filled,
                                           daq_frame_info *info)
{
    return cam->ops->fill_dequeue(cam, timeout_ns, filled, info);
}

/* A delivered frame's trigger bookkeeping: its flags (0 when untriggered). */
static inline uint32_t daq_camera__trigger_frame(daq_camera *cam, uint64_t index, uint64_t now_ns)
{
    return index ? daq_trigger_track_frame(&cam->track, index, now_ns) : 0;
}

/* Frames a FILL driver keeps queued; 0 for COPY drivers. */
static inline uint32_t daq_camera__fill_held(daq_camera *cam)
{
    return cam->ops->mode == DAQ_CAMERA_FILL && cam->ops->fill_held ? cam->ops->fill_held(cam) : 0;
}

#endif
