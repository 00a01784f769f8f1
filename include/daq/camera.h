/* daq/camera.h - a camera, as its callers see it: an opaque handle with
 * locked operations, its parameter table, and what it reports.
 *
 * A camera is created by driver type name ("sim", "pvcam", "aravis", ...)
 * from the driver registry; drivers themselves are written against
 * daq/camera_driver.h, which callers never need.
 *
 * Parameters (exposure, ROI, binning, buffer mode, frame rate, ...) are
 * described by daq_param_desc so that a daemon can list, get and set them
 * without knowing the driver.  daq_camera_set_param is the one validation
 * path: unknown name, read-only, not LIVE while the camera streams, then
 * type, range and enum value (daq_param_coerce) -- the driver only ever
 * sees a value of the described type inside the described range.
 *
 * Threading: every function below takes the camera's lock for the driver
 * call it makes, so control calls from any number of threads are
 * serialised and the camera's open/streaming state always matches the
 * driver's.  Exceptions, for the acquisition side: daq_camera_interrupt,
 * daq_camera_stats_snapshot, daq_camera_error and daq_camera_verify take no
 * lock (an interrupt must reach a thread while a slow stop holds the lock;
 * drivers make these safe from any thread).  While daq_camera_start runs
 * the driver's start (a ring prefault can take seconds), the reads --
 * params_snapshot, get_param_desc, get_param, get_format, streaming --
 * answer from a copy taken just before it, and set_param is refused at once
 * ("NAME: camera 'ID' is starting ..."), so no caller waits for a start.
 *
 * Ownership: daq_camera_create returns a camera the caller owns and frees
 * with daq_camera_destroy (or hands to daq_acq_create, which then owns it).
 * Strings returned by accessors are borrowed for the camera's lifetime.
 * Descriptor strings (name, description, units, enum values) are the
 * driver's static storage, valid for the whole program.
 */
#ifndef DAQ_CAMERA_H
#define DAQ_CAMERA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daq/api.h"
#include "daq/frame.h"
#include "daq/trigger.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- parameters ------------------------------------------------------------ */

typedef enum daq_param_type {
    DAQ_PARAM_BOOL = 0,
    DAQ_PARAM_INT,
    DAQ_PARAM_FLOAT,
    DAQ_PARAM_STRING,
    DAQ_PARAM_ENUM, /* a string from enum_values */
} daq_param_type;

enum {
    DAQ_PARAM_WRITABLE = 1u << 0,  /* settable (when not streaming) */
    DAQ_PARAM_LIVE = 1u << 1,      /* also settable while streaming */
    DAQ_PARAM_HAS_RANGE = 1u << 2, /* min/max apply (INT, FLOAT) */
};

#define DAQ_PARAM_STR_MAX 128

/* Most parameters a camera may describe, the driver's and the four
 * trigger.* every camera has (a driver with more than 76 is a bug and
 * aborts at creation). */
#define DAQ_CAMERA_MAX_PARAMS 80

typedef struct daq_param_value {
    daq_param_type type;
    bool b;
    int64_t i;
    double f;
    char s[DAQ_PARAM_STR_MAX]; /* STRING and ENUM */
} daq_param_value;

/* Every pointer is static storage of whoever describes the parameter. */
typedef struct daq_param_desc {
    const char *name; /* "exposure_ms", "roi.width", "fault.seed" */
    const char *description;
    const char *units; /* "" when none */
    daq_param_type type;
    unsigned flags;
    double min, max;                /* with DAQ_PARAM_HAS_RANGE */
    const char *const *enum_values; /* NULL-terminated, for ENUM */
} daq_param_desc;

DAQ_API const char *daq_param_type_name(daq_param_type t); /* "bool", "int", ... (static) */

/* Value constructors. */
DAQ_API daq_param_value daq_param_bool(bool b);
DAQ_API daq_param_value daq_param_int(int64_t i);
DAQ_API daq_param_value daq_param_float(double f);
DAQ_API daq_param_value daq_param_string(const char *s); /* truncated to DAQ_PARAM_STR_MAX-1 */

/* Checks v against d and converts it to d's type where that loses nothing
 * (int -> float; integral float -> int; string -> enum).  Returns 0, or -1
 * with a message in err naming the parameter and the rule broken. */
DAQ_API int daq_param_coerce(const daq_param_desc *d, daq_param_value *v, char *err,
                             size_t err_len);

/* Parses text (as in a config file or a JSON value: true/false, numbers,
 * strings with or without quotes) into a value of d's type, checked as
 * daq_param_coerce does. */
DAQ_API int daq_param_parse(const daq_param_desc *d, const char *text, daq_param_value *out,
                            char *err, size_t err_len);

/* The one validation of a set, used by daq_camera_set_param and by any
 * other table of parameters (the daemon's own): d must be WRITABLE, and
 * LIVE when streaming; then text, when not NULL, is parsed
 * (daq_param_parse), else *v is coerced (daq_param_coerce), into *out.
 * 0, or -1 with a message starting with d's name. */
DAQ_API int daq_param_validate(const daq_param_desc *d, bool streaming, const daq_param_value *v,
                               const char *text, daq_param_value *out, char *err, size_t err_len);

/* Writes v as JSON text (true, 12, 12.5, "name") into the caller's buf;
 * returns buf. */
DAQ_API char *daq_param_format_json(const daq_param_value *v, char *buf, size_t len);

/* The descriptor called name in table[0..n), borrowed from table; NULL if absent. */
DAQ_API const daq_param_desc *daq_param_find(const daq_param_desc *table, size_t n,
                                             const char *name);
/* The index of s in a NULL-terminated list of enum names, -1 if absent. */
DAQ_API int daq_param_enum_index(const char *const *names, const char *s);

/* ---- what a camera reports --------------------------------------------------- */

typedef enum daq_camera_mode {
    DAQ_CAMERA_COPY = 0, /* the SDK owns a ring; the engine copies into pool frames */
    DAQ_CAMERA_FILL,     /* the driver fills pool frames the engine lends it */
} daq_camera_mode;

/* The frame geometry the camera will deliver with its current settings. */
typedef struct daq_camera_format {
    uint32_t width, height, stride_bytes;
    uint16_t bit_depth;
    daq_pixel_format pixel_format;
    size_t frame_bytes;
    double exposure_ms;
    double frame_rate_hz; /* expected rate; 0 when free-running/unknown */
} daq_camera_format;

/* Counters a driver keeps; the named extras are driver-specific (e.g. Aravis
 * stream statistics) and end up in metrics. */
#define DAQ_CAMERA_EXTRA_MAX 16

typedef struct daq_camera_extra {
    const char *name; /* static storage of the driver */
    uint64_t value;
} daq_camera_extra;

typedef struct daq_camera_stats {
    uint64_t frames_generated; /* frames the sensor/SDK produced */
    uint64_t callbacks;        /* end-of-frame notifications */
    uint64_t overruns;         /* frames the ring could not keep */
    uint64_t readout_errors;
    unsigned n_extra;
    daq_camera_extra extra[DAQ_CAMERA_EXTRA_MAX];
} daq_camera_stats;

/* The extra called name, borrowed from s; NULL when the driver has none. */
DAQ_API const daq_camera_extra *daq_camera_stats_find(const daq_camera_stats *s, const char *name);

/* ---- the camera ---------------------------------------------------------------- */

typedef struct daq_camera daq_camera;

/* Creates an unopened camera of the registered driver for type (its name or
 * an alias, exact) with an id (copied; the type when NULL or empty).
 * Returns NULL with a message; an unknown type lists the known ones.  The
 * caller owns the camera. */
DAQ_API daq_camera *daq_camera_create(const char *type, const char *id, char *err, size_t err_len);
/* Stops, closes and frees.  NULL ok. */
DAQ_API void daq_camera_destroy(daq_camera *cam);

/* Driver types that daq_camera_create accepts, names and aliases, in
 * registration order: copies up to max pointers (static storage) into out
 * and returns how many there are. */
DAQ_API size_t daq_camera_types(const char **out, size_t max);
/* true if type names a registered driver (name or alias, exact). */
DAQ_API bool daq_camera_type_known(const char *type);

/* Borrowed for the camera's lifetime. */
DAQ_API const char *daq_camera_id(const daq_camera *cam);
/* The driver's canonical type (static storage). */
DAQ_API const char *daq_camera_type(const daq_camera *cam);
DAQ_API daq_camera_mode daq_camera_mode_get(const daq_camera *cam);
DAQ_API bool daq_camera_streaming(const daq_camera *cam);
/* The trigger modes the camera has (DAQ_TRIGGER_BITs, internal always
 * included), as the driver reported them at creation or last open. */
DAQ_API uint32_t daq_camera_trigger_modes(daq_camera *cam);
/* true if the camera has any mode besides internal ("triggerable"). */
DAQ_API bool daq_camera_can_trigger(daq_camera *cam);

/* Copies the camera's parameter descriptors, at most max, into out (a
 * consistent set: taken under the lock, as open may refine ranges); returns
 * how many the camera has (out may be NULL with max 0). */
DAQ_API size_t daq_camera_params_snapshot(daq_camera *cam, daq_param_desc *out, size_t max);
/* The descriptor of name, copied into out: 0, or -1 with "unknown
 * parameter 'name'". */
DAQ_API int daq_camera_get_param_desc(daq_camera *cam, const char *name, daq_param_desc *out,
                                      char *err, size_t err_len);
DAQ_API int daq_camera_get_param(daq_camera *cam, const char *name, daq_param_value *out, char *err,
                                 size_t err_len);
/* Validates (unknown name, read-only, not LIVE while streaming, type,
 * range, enum) and sets.  Messages start with the parameter's name, but
 * "unknown parameter 'name'". */
DAQ_API int daq_camera_set_param(daq_camera *cam, const char *name, const daq_param_value *v,
                                 char *err, size_t err_len);
/* Asked, under the camera's lock, after a write that makes the frame
 * (frame_bytes) or the driver's ring (ring_frames) larger: 0 keeps the new
 * value, -1 (with a message in err) puts the old one back and the set
 * fails with that message.  fmt is the format with the new value.  It must
 * not call this camera's functions (the lock is held). */
typedef int (*daq_camera_guard_fn)(void *ctx, daq_camera *cam, const char *param,
                                   const daq_camera_format *fmt, uint32_t ring_frames, char *err,
                                   size_t err_len);

/* Installs the guard (NULL: none); ctx is borrowed. */
DAQ_API void daq_camera_set_guard(daq_camera *cam, daq_camera_guard_fn fn, void *ctx);

/* The frames of the driver's own ring (its "ring_frames" parameter), 0 when
 * it has none (FILL drivers use pool frames). */
DAQ_API uint32_t daq_camera_ring_frames(daq_camera *cam);

/* Parses text for the named parameter (daq_param_parse), then sets it. */
DAQ_API int daq_camera_set_param_text(daq_camera *cam, const char *name, const char *text,
                                      char *err, size_t err_len);

DAQ_API int daq_camera_open(daq_camera *cam, char *err, size_t err_len); /* idempotent */
DAQ_API void daq_camera_close(daq_camera *cam);                          /* idempotent */
DAQ_API int daq_camera_get_format(daq_camera *cam, daq_camera_format *out, char *err,
                                  size_t err_len);
/* Opens first if needed; already streaming: 0, nothing changes.  A driver
 * start that fails is followed by a driver stop. */
DAQ_API int daq_camera_start(daq_camera *cam, char *err, size_t err_len);
DAQ_API void daq_camera_stop(daq_camera *cam); /* idempotent, also after errors */

/* 0 if the camera can be armed as set (trigger.mode is not internal), else
 * -1 with "ID: trigger.mode is internal (free-running): set a trigger mode
 * first (software, ...)".  Arming itself is a (re)start: daq_device_arm. */
DAQ_API int daq_camera_arm_check(daq_camera *cam, char *err, size_t err_len);
/* true while streaming in a trigger mode (waiting for triggers). */
DAQ_API bool daq_camera_armed(daq_camera *cam);
/* One software trigger: 0 with the camera's answer in *out (TRIGGERED or
 * IGNORED with its reason, both counted), or -1 with a message: "ID: not
 * armed" when not streaming in a trigger mode, "ID: trigger.mode is M:
 * triggers come from the line, not software" in an external mode, "ID:
 * software trigger not supported ..." when the driver has none, or the
 * driver's failure. */
DAQ_API int daq_camera_trigger(daq_camera *cam, daq_trigger_answer *out, char *err, size_t err_len);
/* Any thread, without the camera's lock: the trigger counters (daq/
 * trigger.h's identities hold in every snapshot), with the mode and armed
 * state of the current (or last) stream; expires pending triggers whose
 * timeout has passed. */
DAQ_API void daq_camera_trigger_stats(daq_camera *cam, daq_trigger_stats *out);

/* Any thread, no lock: makes a blocked driver wait return promptly. */
DAQ_API void daq_camera_interrupt(daq_camera *cam);
/* Any thread, no lock: the driver's counters, copied into out. */
DAQ_API void daq_camera_stats_snapshot(daq_camera *cam, daq_camera_stats *out);
/* Any thread, no lock: the last acquisition-side error text, copied into
 * buf ("" when none). */
DAQ_API void daq_camera_error(daq_camera *cam, char *buf, size_t len);
/* Any thread, no lock: the driver's check of a delivered frame (borrowed)
 * against the content it is known to produce: 1 verified, 0 the camera's
 * content is unknown, -1 wrong with a reason in why (may be NULL). */
DAQ_API int daq_camera_verify(daq_camera *cam, const daq_frame *f, char *why, size_t len);

#ifdef __cplusplus
}
#endif
#endif
