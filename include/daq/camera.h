/* daq/camera.h - the camera driver interface, its parameter table and the
 * registry of drivers by type name.
 *
 * A driver comes in one of two shapes (architecture §6):
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
 * Parameters (exposure, ROI, binning, buffer mode, frame rate, ...) are
 * described by a table of daq_param_desc so that a daemon can list, get and
 * set them without knowing the driver.  daq_camera_set_param validates type,
 * range and enum values, and refuses parameters that are not LIVE while the
 * camera streams, before the driver sees the value.
 *
 * Threading: a camera is driven by one control thread (open/start/stop/
 * params) and, while streaming, one acquisition thread (wait, get_oldest,
 * release_oldest, fill_*).  The wrappers below serialise the control calls;
 * drivers make get_param/set_param of LIVE parameters safe against the
 * acquisition thread.
 *
 * Ownership: daq_camera_create returns a camera the caller owns and frees
 * with daq_camera_destroy.  Pointers returned by accessors are borrowed for
 * the camera's lifetime.
 */
#ifndef DAQ_CAMERA_H
#define DAQ_CAMERA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pthread.h>

#include "daq/frame.h"

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

typedef struct daq_param_value {
    daq_param_type type;
    bool b;
    int64_t i;
    double f;
    char s[DAQ_PARAM_STR_MAX]; /* STRING and ENUM */
} daq_param_value;

typedef struct daq_param_desc {
    const char *name; /* "exposure_ms", "roi.width", "fault.seed" */
    const char *description;
    const char *units; /* "" when none */
    daq_param_type type;
    unsigned flags;
    double min, max;                /* with DAQ_PARAM_HAS_RANGE */
    const char *const *enum_values; /* NULL-terminated, for ENUM */
} daq_param_desc;

const char *daq_param_type_name(daq_param_type t); /* "bool", "int", "float", "string", "enum" */

/* Value constructors. */
daq_param_value daq_param_bool(bool b);
daq_param_value daq_param_int(int64_t i);
daq_param_value daq_param_float(double f);
daq_param_value daq_param_string(const char *s); /* truncated to DAQ_PARAM_STR_MAX-1 */

/* Checks v against d and converts it to d's type where that loses nothing
 * (int -> float; integral float -> int; string -> enum).  Returns 0, or -1
 * with a message in err naming the parameter and the rule broken. */
int daq_param_coerce(const daq_param_desc *d, daq_param_value *v, char *err, size_t err_len);

/* Parses text (as in a config file or a JSON value: true/false, numbers,
 * strings with or without quotes) into a value of d's type, checked as
 * daq_param_coerce does. */
int daq_param_parse(const daq_param_desc *d, const char *text, daq_param_value *out, char *err,
                    size_t err_len);

/* Writes v as JSON text (true, 12, 12.5, "name") into buf; returns buf. */
char *daq_param_format_json(const daq_param_value *v, char *buf, size_t len);

const daq_param_desc *daq_param_find(const daq_param_desc *table, size_t n, const char *name);
/* The index of name in a driver's table of n, or -1 with "unknown
 * parameter 'name'" in err. */
int daq_param_index(const daq_param_desc *table, size_t n, const char *name, char *err, size_t len);
/* The index of s in a NULL-terminated list of enum names, -1 if absent. */
int daq_param_enum_index(const char *const *names, const char *s);

/* ---- frames as a driver describes them ----------------------------------------- */

typedef struct daq_frame_info {
    uint64_t hw_frame_number; /* the camera's counter (1-based for sim/PVCAM) */
    uint64_t bof_ns, eof_ns;  /* CLOCK_MONOTONIC ns; 0 when unknown */
    uint64_t exposure_ns;
    size_t bytes; /* valid pixel bytes */
    uint32_t width, height, stride_bytes;
    uint16_t bit_depth;
    uint16_t bin_x, bin_y;
    daq_pixel_format pixel_format;
    daq_roi roi;
    float temperature_c; /* NaN when unknown */
} daq_frame_info;

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
    const char *name; /* static storage */
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

/* Copies a driver's n extras (names in static storage) into out; more than
 * DAQ_CAMERA_EXTRA_MAX is a driver bug and aborts. */
void daq_camera_stats_set_extras(daq_camera_stats *out, const daq_camera_extra *x, size_t n);
/* The extra called name, borrowed from s; NULL when the driver has none. */
const daq_camera_extra *daq_camera_stats_find(const daq_camera_stats *s, const char *name);

typedef enum daq_camera_mode {
    DAQ_CAMERA_COPY = 0,
    DAQ_CAMERA_FILL,
} daq_camera_mode;

/* ---- the driver side --------------------------------------------------------------- */

typedef struct daq_camera daq_camera;

/* Return conventions: 0 ok / -1 error with a message in err, unless noted. */
typedef struct daq_camera_ops {
    daq_camera_mode mode;
    void (*destroy)(daq_camera *cam); /* frees cam->priv; the camera is stopped and closed */

    /* Parameter table, valid until the next open/close/set_param. */
    size_t (*params)(daq_camera *cam, const daq_param_desc **table);
    int (*get_param)(daq_camera *cam, const char *name, daq_param_value *out, char *err,
                     size_t len);
    /* v is already coerced to the described type and range-checked. */
    int (*set_param)(daq_camera *cam, const char *name, const daq_param_value *v, char *err,
                     size_t len);

    int (*open)(daq_camera *cam, char *err, size_t len);
    void (*close)(daq_camera *cam);
    int (*format)(daq_camera *cam, daq_camera_format *out, char *err, size_t len);
    int (*start)(daq_camera *cam, char *err, size_t len);
    void (*stop)(daq_camera *cam); /* must also work after an error, and twice */

    /* COPY mode, acquisition thread.  wait: > 0 frames ready, 0 timeout,
     * < 0 the camera failed (daq_camera_error tells why).  get_oldest:
     * 1 with a borrowed buffer, 0 nothing ready after all, < 0 failed. */
    int (*wait)(daq_camera *cam, int64_t timeout_ns);
    /* Any thread: makes a blocked wait/fill_dequeue return 0 promptly (and
     * the next one too, if none is blocked).  Releases nothing; the engine
     * calls it to stop its thread before it calls stop. */
    void (*interrupt)(daq_camera *cam);
    int (*get_oldest)(daq_camera *cam, const void **pixels, daq_frame_info *info);
    void (*release_oldest)(daq_camera *cam);

    /* FILL mode, acquisition thread.  fill_queue takes the caller's reference
     * to an empty frame; fill_dequeue returns 1 with a filled frame whose
     * reference the caller now owns, 0 on timeout, < 0 failed.  held: how
     * many frames the driver keeps queued (for pool sizing). */
    int (*fill_queue)(daq_camera *cam, daq_frame *empty);
    int (*fill_dequeue)(daq_camera *cam, int64_t timeout_ns, daq_frame **filled,
                        daq_frame_info *info);
    uint32_t (*fill_held)(daq_camera *cam);

    /* Optional (NULL: not supported). */
    int (*arm)(daq_camera *cam, char *err, size_t len);
    int (*trigger)(daq_camera *cam, char *err, size_t len);

    void (*stats)(daq_camera *cam, daq_camera_stats *out);
    /* Copies the last acquisition-side error text into buf. */
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

/* The part of a camera the framework owns; drivers allocate their own state
 * in priv.  Embedded by value, never allocated by drivers. */
struct daq_camera {
    const daq_camera_ops *ops;
    const struct daq_driver *driver;
    void *priv;
    char id[64];
    pthread_mutex_t lock; /* serialises the control calls (open..stop, params) */
    bool opened;          /* under lock */
    bool streaming;       /* under lock */
};

typedef struct daq_driver {
    const char *type;           /* "sim" */
    const char *const *aliases; /* NULL-terminated, e.g. {"mock_camera", NULL}; may be NULL */
    const char *description;
    /* Fills cam->ops and cam->priv.  Parameters are set after create and
     * before open. */
    int (*create)(daq_camera *cam, char *err, size_t len);
} daq_driver;

/* ---- the caller side ------------------------------------------------------------------ */

/* Every built-in driver, NULL-terminated. */
const daq_driver *const *daq_driver_list(void);
/* By type or alias (exact, case-sensitive); NULL if unknown. */
const daq_driver *daq_driver_find(const char *type);

/* Creates an unopened camera of the given driver type with an id (copied).
 * Returns NULL with a message (unknown type lists the known ones). */
daq_camera *daq_camera_create(const char *type, const char *id, char *err, size_t len);
/* Stops, closes and frees.  NULL ok. */
void daq_camera_destroy(daq_camera *cam);

const char *daq_camera_id(const daq_camera *cam);
const char *daq_camera_type(const daq_camera *cam); /* the driver's canonical type */
daq_camera_mode daq_camera_mode_get(const daq_camera *cam);
bool daq_camera_streaming(const daq_camera *cam);

size_t daq_camera_params(daq_camera *cam, const daq_param_desc **table);
int daq_camera_get_param(daq_camera *cam, const char *name, daq_param_value *out, char *err,
                         size_t len);
/* Validates (unknown name, read-only, not LIVE while streaming, type,
 * range, enum) and sets.  Unknown names say "unknown parameter". */
int daq_camera_set_param(daq_camera *cam, const char *name, const daq_param_value *v, char *err,
                         size_t len);
/* Parses text for the named parameter, then sets it. */
int daq_camera_set_param_text(daq_camera *cam, const char *name, const char *text, char *err,
                              size_t len);

int daq_camera_open(daq_camera *cam, char *err, size_t len); /* idempotent */
void daq_camera_close(daq_camera *cam);                      /* idempotent */
int daq_camera_format_get(daq_camera *cam, daq_camera_format *out, char *err, size_t len);
int daq_camera_start(daq_camera *cam, char *err, size_t len);
void daq_camera_stop(daq_camera *cam);      /* idempotent, also after errors */
void daq_camera_interrupt(daq_camera *cam); /* any thread, no lock taken */
void daq_camera_stats_get(daq_camera *cam, daq_camera_stats *out);
void daq_camera_error(daq_camera *cam, char *buf, size_t len);
/* The driver's verify op on a delivered frame (borrowed): 1 verified, 0 the
 * camera's content is unknown, -1 wrong with a reason in why (may be NULL).
 * Any thread, no lock taken. */
int daq_camera_verify(daq_camera *cam, const daq_frame *f, char *why, size_t len);

#ifdef __cplusplus
}
#endif
#endif
