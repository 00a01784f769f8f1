/* daq/camera_driver.h - writing a camera driver: the operations a driver
 * implements, the frames it describes, and how it registers.
 *
 * A driver comes in one of two shapes:
 *
 *  COPY mode: the SDK owns a ring of frame buffers (PVCAM, sim).  The engine
 *      waits, borrows the oldest ready buffer with get_oldest, copies it into
 *      a pool frame, and only then calls release_oldest.  In an overwrite
 *      buffer mode get_oldest returns the newest ready frame instead (gaps
 *      show up in the hardware frame numbers).
 *  FILL mode: the driver fills memory we give it (Aravis).  The engine hands
 *      empty pool frames over with fill_queue and gets them back filled from
 *      fill_dequeue: no copy at all.
 *
 * What the framework guarantees a driver (daq/camera.h's wrappers):
 *  - control ops (params, get_param, set_param, open, close, format, start,
 *    stop, arm, trigger) are called under the camera's lock, one at a time;
 *  - set_param gets the index of a parameter of the driver's own table, a
 *    value already coerced to its type and checked against its range and
 *    enum values, for a WRITABLE parameter, and for a LIVE one while
 *    streaming: the driver checks only its own cross-field rules;
 *  - open is called once before start (start opens if needed); close only
 *    when open; stop when streaming, and also right after a start that
 *    failed (to tidy up what it left); destroy last;
 *  - the acquisition thread calls wait, get_oldest, release_oldest (COPY)
 *    or fill_queue, fill_dequeue (FILL) without the lock, concurrently with
 *    control ops: a driver makes its LIVE parameters and its stats/error
 *    safe against that thread.
 *
 * Registration: the registry starts with the drivers built into libdaq
 * (sim, pvcam); a driver in another library registers once with
 * daq_driver_register before cameras of its type are created (libdaq-aravis:
 * daq_aravis_register).  The registry keeps the pointer: a driver
 * description is static storage.
 *
 * Ownership: the daq_camera belongs to the framework; a driver keeps its
 * own state behind the pointer its create returns (daq_camera_priv), and
 * frees it in destroy.
 */
#ifndef DAQ_CAMERA_DRIVER_H
#define DAQ_CAMERA_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daq/api.h"
#include "daq/camera.h"
#include "daq/frame.h"
#include "daq/trigger.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A frame as the driver describes it to the engine. */
typedef struct daq_frame_info {
    uint64_t hw_frame_number; /* the camera's counter (1-based for sim/PVCAM) */
    uint64_t bof_ns, eof_ns;  /* CLOCK_MONOTONIC ns; 0 when unknown */
    uint64_t exposure_ns;
    /* The camera's own clock, in ns of its timebase (PVCAM: BOF/EOF ticks
     * x 100 us; GigE Vision: the device timestamp; sim: its drifting
     * clock); 0 when the camera has none.  The engine fits these against
     * host time (daq_clock_model). */
    uint64_t cam_bof_ns, cam_eof_ns;
    uint64_t trigger_index; /* 1-based trigger this frame answers; 0: not triggered */
    size_t bytes;           /* valid pixel bytes */
    uint32_t width, height, stride_bytes;
    uint16_t bit_depth;
    uint16_t bin_x, bin_y;
    daq_pixel_format pixel_format;
    daq_roi roi;
    float temperature_c; /* NaN when unknown */
} daq_frame_info;

/* Return conventions: 0 ok / -1 error with a message in err, unless noted. */
typedef struct daq_camera_ops {
    daq_camera_mode mode;
    void (*destroy)(daq_camera *cam); /* frees the driver's state; stopped and closed */

    /* The parameter table: static storage, or the driver's state (then it
     * may change only inside open and close, which run under the lock). */
    size_t (*params)(daq_camera *cam, const daq_param_desc **table);
    /* index: the parameter's position in that table. */
    int (*get_param)(daq_camera *cam, size_t index, daq_param_value *out, char *err,
                     size_t err_len);
    /* v is coerced to the described type and inside its range (see above). */
    int (*set_param)(daq_camera *cam, size_t index, const daq_param_value *v, char *err,
                     size_t err_len);

    int (*open)(daq_camera *cam, char *err, size_t err_len);
    void (*close)(daq_camera *cam);
    int (*format)(daq_camera *cam, daq_camera_format *out, char *err, size_t err_len);
    int (*start)(daq_camera *cam, char *err, size_t err_len);
    void (*stop)(daq_camera *cam); /* must also work after an error, and twice */

    /* COPY mode, acquisition thread.  wait: > 0 frames ready, 0 timeout,
     * < 0 the camera failed (error tells why).  get_oldest: 1 with a
     * buffer borrowed until release_oldest, 0 nothing ready after all,
     * < 0 failed. */
    int (*wait)(daq_camera *cam, int64_t timeout_ns);
    /* Any thread: makes a blocked wait/fill_dequeue return 0 promptly (and
     * the next one too, if none is blocked).  Releases nothing; the engine
     * calls it to stop its thread before it calls stop. */
    void (*interrupt)(daq_camera *cam);
    int (*get_oldest)(daq_camera *cam, const void **pixels, daq_frame_info *info);
    void (*release_oldest)(daq_camera *cam);

    /* FILL mode, acquisition thread.  fill_queue takes the caller's reference
     * to an empty frame; fill_dequeue returns 1 with a filled frame whose
     * reference the caller now owns, 0 on timeout, < 0 failed.  fill_held:
     * how many frames the driver keeps queued (for pool sizing). */
    int (*fill_queue)(daq_camera *cam, daq_frame *empty);
    int (*fill_dequeue)(daq_camera *cam, int64_t timeout_ns, daq_frame **filled,
                        daq_frame_info *info);
    uint32_t (*fill_held)(daq_camera *cam);

    /* Optional (NULL: internal only).  The trigger modes the camera has, as
     * DAQ_TRIGGER_BIT(mode)s (internal is implied).  Under the lock; asked
     * again after open and close, so a driver may discover them at open
     * (PVCAM's PARAM_EXPOSURE_MODE).  start reads the chosen mode with
     * daq_camera_trigger_config and starts in it (armed). */
    uint32_t (*trigger_modes)(daq_camera *cam);
    /* Optional (NULL: no software trigger).  One software trigger, under
     * the lock, only while streaming in a software mode (camera.c checks):
     * 0 with the camera's answer in *out -- TRIGGERED with the index its
     * frames will carry, or IGNORED with the reason -- or -1 when the
     * trigger could not be sent at all (message in err). */
    int (*trigger)(daq_camera *cam, daq_trigger_answer *out, char *err, size_t err_len);

    /* Any thread. */
    void (*stats)(daq_camera *cam, daq_camera_stats *out);
    /* Any thread: copies the last acquisition-side error text into buf. */
    void (*error)(daq_camera *cam, char *buf, size_t len);

    /* Optional (NULL: the content is unknown).  Checks a delivered frame
     * against the pattern this camera is known to produce (the sim's, or a
     * test camera's), so that checkpoints and tests can verify every pixel
     * without knowing the driver.  Any thread, concurrently with streaming;
     * reads only settings fixed while streaming.  1 verified, 0 nothing to
     * verify against, -1 wrong (why says where). */
    int (*verify)(daq_camera *cam, const daq_frame_meta *m, const void *pixels, char *why,
                  size_t len);
} daq_camera_ops;

typedef struct daq_driver {
    const char *type;           /* "sim" */
    const char *const *aliases; /* NULL-terminated, e.g. {"mock_camera", NULL}; may be NULL */
    const char *description;
    const daq_camera_ops *ops;
    /* Allocates the driver's state for a new camera and returns it (the
     * camera's priv), or NULL with a message.  Parameters are set after
     * create and before open. */
    void *(*create)(daq_camera *cam, char *err, size_t err_len);
} daq_driver;

/* Adds drv (borrowed for the program's life) to the registry.  Registering
 * the same driver again is a no-op.  -1 with a message when its type or an
 * alias is taken by another driver or the registry is full.  Call at
 * start-up, before other threads create cameras. */
DAQ_API int daq_driver_register(const daq_driver *drv, char *err, size_t err_len);
/* The registered driver for type (name or alias, exact), borrowed:
 * registered drivers live for the program.  NULL if none. */
DAQ_API const daq_driver *daq_driver_find(const char *type);

/* Creates an unopened camera of drv, registered or not (a driver private
 * to a program or a test; borrowed, it must outlive the camera).  As
 * daq_camera_create otherwise: the caller owns the camera. */
DAQ_API daq_camera *daq_camera_create_with(const daq_driver *drv, const char *id, char *err,
                                           size_t err_len);

/* The trigger settings the camera's start must use (a copy).  For a
 * driver's start (and anything else under the camera's lock). */
DAQ_API daq_trigger_config daq_camera_trigger_config(const daq_camera *cam);

/* The driver's state, as its create returned it (borrowed). */
DAQ_API void *daq_camera_priv(const daq_camera *cam);
/* The camera's driver, borrowed: it outlives the camera. */
DAQ_API const daq_driver *daq_camera_driver(const daq_camera *cam);

/* Copies a driver's n extras (names in static storage) into out; more than
 * DAQ_CAMERA_EXTRA_MAX is a driver bug and aborts. */
DAQ_API void daq_camera_stats_set_extras(daq_camera_stats *out, const daq_camera_extra *x,
                                         size_t n);

#ifdef __cplusplus
}
#endif
#endif
