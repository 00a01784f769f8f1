/* tests/fake_pvcam/fake_pvcam.c - a stand-in libpvcam.so.2 for tests: the
 * PVCAM functions the daq pvcam driver resolves, with the prototypes of
 * drivers/pvcam/pvcam_sdk.h (compiled with PVCAM_SDK_DECLARE_FUNCTIONS, so
 * the compiler checks every definition against them), simulating cameras.
 * Written from the API fact sheet docs/facts/pvcam-api.md (§2, §4.10, §5,
 * §8; cited below as "facts §N"), not from any SDK.
 *
 * Cameras: FAKE_PVCAM_CAMERAS (default 1) named pvcamUSB_0, pvcamUSB_1, ...
 * each FAKE_PVCAM_WIDTH x FAKE_PVCAM_HEIGHT (default 2048 x 2048), 16 bit
 * (FAKE_PVCAM_BIT_DEPTH), exposure in ms (EXP_RES_ONE_MILLISEC), two
 * readout ports, speeds 0..1, gains 1..2, PARAM_TEMP not ATTR_LIVE,
 * extended exposure modes with expose-out modes -- or, with
 * FAKE_PVCAM_LEGACY=1, only the legacy TIMED_MODE and TRIGGER_FIRST_MODE;
 * pl_exp_setup_cont refuses (183) any exposure mode the camera does not
 * list, and any expose-out mode it does not list.  The lists are knobs:
 * FAKE_PVCAM_EXPOSURE_MODES (comma-separated PARAM_EXPOSURE_MODE values;
 * default the six EXT_TRIG_* daq maps: 1792,2048,2304,2560,2816,3072) and
 * FAKE_PVCAM_EXPOSE_OUT_MODES (default 0,1; empty: PARAM_EXPOSE_OUT_MODE
 * is not available).
 *
 * Triggers (facts §2.7, §4.2), emulated as a camera does them:
 *   - EXT_TRIG_INTERNAL / TIMED_MODE: free-running from pl_exp_start_cont;
 *   - SOFTWARE_EDGE: each pl_exp_trigger answers TRIGGERED and queues one
 *     exposure (it starts when the previous one ended), so the frame after
 *     trigger k has FrameNr k; SOFTWARE_FIRST: the first TRIGGERED starts
 *     a free-running sequence and every later trigger is IGNORED;
 *     FAKE_PVCAM_IGNORE_EVERY=N: every Nth software trigger is IGNORED (no
 *     frame); FAKE_PVCAM_TRIGGER_FAIL=CODE: pl_exp_trigger fails with CODE;
 *   - EDGE_RISING, LEVEL: one exposure per fake_pvcam_pulse; TRIG_FIRST:
 *     the first pulse starts a free-running sequence.  Without pulses
 *     these modes make no frame at all.
 * A triggered exposure begins when the sensor takes the trigger: its
 * FRAME_INFO TimeStampBOF is then and TimeStamp the exposure later.  Built
 * a third time with FAKE_PVCAM_OMIT_TRIGGER (libpvcam_notrig.so): no
 * pl_exp_trigger symbol, as in a PVCAM before 2.5.
 * Sizes and knobs are read at pl_pvcam_init; the fault knobs at
 * pl_exp_start_cont.
 *
 * The stream: pl_exp_start_cont starts a "sensor" thread that every frame
 * period (the exposure plus FAKE_PVCAM_READOUT_US, or 1/FAKE_PVCAM_FPS when
 * set) writes frame FrameNr = 1, 2, ... into the next slot of the caller's
 * ring -- the daq sim pattern (include/daq/sim.h) of the output width x
 * height for that frame number, so any consumer can verify it -- and then
 * calls the registered EOF callback with a FRAME_INFO (FrameNr, TimeStamp
 * and TimeStampBOF in 0.1 ms ticks, hCam), outside the fake's lock, one
 * invocation at a time.  Slots are written in ring order:
 *   - CIRC_NO_OVERWRITE: get_oldest returns the oldest unread slot and
 *     locks it; unlock releases (and poisons) it.  A full ring overwrites
 *     the oldest unread frame and the next get_oldest/get_latest_ex fails
 *     once with 173 PL_ERR_BUFFER_OVERRUN; a locked slot is never written
 *     (that frame is dropped).
 *   - CIRC_OVERWRITE: get_latest_ex returns the newest frame; nothing is
 *     reported when frames are overwritten.
 * Error codes (facts §8): 157 before init, 158 double init, 175 bad handle,
 * 171 size not a multiple of the frame, 185 at start_cont after a setup
 * with CIRC_NONE, 188 start without setup, 173 overrun, 169 no frame yet,
 * 184 a non-live parameter touched while streaming, 160 unavailable
 * parameter.
 *
 * Faults (read at start): FAKE_PVCAM_DUP_EVERY=N (every Nth callback is
 * delivered twice), FAKE_PVCAM_LATE_CALLBACKS=N (N callbacks fired while
 * pl_exp_stop_cont halts), FAKE_PVCAM_GAP_EVERY=N (every Nth frame number
 * is skipped by the camera), FAKE_PVCAM_STALL_AFTER=N (no frame and no
 * callback after N frames), FAKE_PVCAM_REMOVE_AFTER=N (once N frames were
 * written, every frame getter fails with 180 PL_ERR_DEVICE_REMOVED), FAKE_PVCAM_NO_POISON=1 (unlock
 * leaves the slot's bytes alone), FAKE_PVCAM_REQUIRE_COPY_MARK=1 (see fake_pvcam.h).
 *
 * Built a second time with FAKE_PVCAM_OMIT_UNLOCK as libpvcam_nosym.so: the
 * same library without pl_exp_unlock_oldest_frame, for the driver's
 * missing-symbol path.
 */
#define _GNU_SOURCE
#define PVCAM_SDK_DECLARE_FUNCTIONS
#define PVCAM_SDK_EXPORT __attribute__((visibility("default")))
#include "drivers/pvcam/pvcam_sdk.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daq/sim.h"
#include "fake_pvcam.h"

#define EXPORT __attribute__((visibility("default")))

EXPORT fake_pvcam_events_fn fake_pvcam_events;
EXPORT fake_pvcam_counter_fn fake_pvcam_counter;
EXPORT fake_pvcam_record_copy_done_fn fake_pvcam_record_copy_done;
EXPORT fake_pvcam_pulse_fn fake_pvcam_pulse;

#define MAX_CAMS                4
#define MAX_EVENTS              (1u << 16)
#define MAX_SLOTS               4096u
#define PARAM_FRAME_BUFFER_SIZE PVCAM_PARAM_ID(PVCAM_TYPE_UNS64, 3, 300)
#define POISON                  0xA5

typedef struct cam {
    char name[CAM_NAME_LEN];
    bool open;
    /* settings */
    int32 port;
    int16 speed, gain;
    ulong64 exposure; /* ms, PARAM_EXPOSURE_TIME */
    /* setup */
    bool setup;
    rgn_type rgn;
    uns32 frame_bytes, width, height, exposure_ms;
    int16 mode;
    /* stream */
    bool running, stop_req;
    pthread_t thread;
    unsigned char *ring;
    uint32_t slots;
    uint32_t head, count, write_idx; /* unread queue: slots head.. (count), next write */
    bool locked;                     /* the head is locked by get_oldest */
    bool overrun;                    /* reported once by the next get */
    bool have_latest;
    uint32_t latest_slot;
    FRAME_INFO info[MAX_SLOTS];
    unsigned char *base[4]; /* the pattern of n % 4; the stamp is written per frame */
    uint64_t t0_ns;
    /* triggers: the setup's exposure mode (exp_mode without expose-out) */
    int32 trig;
    uint32_t pending; /* triggers (software or pulses) not yet exposed */
    bool seq_started; /* a *_FIRST mode got its trigger: free-running */
    /* callback */
    void *cb;
    void *cb_ctx;
    bool in_cb;
} cam;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv; /* stop requests, callback done; CLOCK_MONOTONIC */
static pthread_once_t cv_once = PTHREAD_ONCE_INIT;

static void cv_init(void)
{
    pthread_condattr_t at;
    pthread_condattr_init(&at);
    pthread_condattr_setclock(&at, CLOCK_MONOTONIC); /* the sensor's deadlines */
    pthread_cond_init(&cv, &at);
    pthread_condattr_destroy(&at);
}
static bool inited;
static int16 last_err;
static int ncams = 1;
static uns16 sensor_w = 2048, sensor_h = 2048;
static int16 bit_depth = 16;
static uint32_t readout_us;
static double fps_override;
static uint32_t dup_every, late_callbacks, gap_every, stall_after, remove_after;
static bool no_poison, require_copy_mark;
static bool legacy; /* FAKE_PVCAM_LEGACY=1: only the legacy exposure modes, no expose-out */
static uint32_t ignore_every; /* FAKE_PVCAM_IGNORE_EVERY */
static int16 trigger_fail;    /* FAKE_PVCAM_TRIGGER_FAIL */
static int16 last_exp_mode = -1;
static cam cams[MAX_CAMS];

/* The enumerations: value and name of each item. */
typedef struct eitem {
    int32 value;
    const char *name;
} eitem;

#define MAX_ITEMS 16
/* The camera's PARAM_EXPOSURE_MODE and PARAM_EXPOSE_OUT_MODE lists (set at init). */
static eitem modes_cur[MAX_ITEMS], eo_cur[MAX_ITEMS];
static uns32 n_modes_cur, n_eo_cur;

static const char *mode_name(long v)
{
    switch (v) {
    case EXT_TRIG_INTERNAL: return "Internal Trigger";
    case EXT_TRIG_TRIG_FIRST: return "Trigger First";
    case EXT_TRIG_EDGE_RISING: return "Edge Trigger";
    case EXT_TRIG_LEVEL: return "Level Trigger";
    case EXT_TRIG_SOFTWARE_FIRST: return "Software Trigger First";
    case EXT_TRIG_SOFTWARE_EDGE: return "Software Trigger Edge";
    case EXT_TRIG_LEVEL_OVERLAP: return "Level Trigger Overlap";
    case EXT_TRIG_LEVEL_PULSED: return "Level Trigger Pulsed";
    default: return "Unknown";
    }
}

static const char *expose_out_name(long v)
{
    static const char *const names[] = {"First Row",       "All Rows",    "Any Row",
                                        "Rolling Shutter", "Line Output", "Global Shutter"};
    return v >= 0 && v < 6 ? names[v] : "Unknown";
}

/* A comma-separated list of values from the environment (dflt when unset). */
static void parse_items(const char *env, const char *dflt, eitem *out, uns32 *n,
                        const char *(*name)(long))
{
    const char *v = getenv(env);
    const char *p = v ? v : dflt;
    *n = 0;
    while (*p && *n < MAX_ITEMS) {
        char *end;
        long x = strtol(p, &end, 10);
        if (end == p)
            break;
        out[(*n)++] = (eitem){(int32)x, name(x)};
        p = *end == ',' ? end + 1 : end;
    }
}

static fake_pvcam_event events[MAX_EVENTS];
static size_t n_events;
static uint64_t copy_marked; /* the highest frame nr a test marked as copied */

typedef struct counters {
    uint64_t frames_written, callbacks, duplicate_callbacks, late_callbacks, dropped_locked,
        overwritten, overrun_reports, unlocks, registrations, double_registrations,
        param_while_streaming, unlock_before_copy;
    /* triggers of the last stream */
    uint64_t sw_triggers, sw_triggered, sw_ignored, pulses, pulses_used, setups;
} counters;
static counters ctr;

/* ---- helpers (all under mu unless said) ------------------------------------------ */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static long env_long(const char *name, long dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtol(v, NULL, 10) : dflt;
}

static rs_bool fail(int16 code)
{
    last_err = code;
    return PV_FAIL;
}

static rs_bool ok(void)
{
    last_err = PL_ERR_NONE;
    return PV_OK;
}

static void event(int kind, uint32_t slot, uint64_t nr)
{
    if (n_events < MAX_EVENTS)
        events[n_events] = (fake_pvcam_event){kind, slot, nr};
    n_events++;
}

/* The open camera of a handle (handles are index + 1), or NULL with 175. */
static cam *cam_of(int16 h)
{
    if (h < 1 || h > ncams || !cams[h - 1].open) {
        last_err = PL_ERR_DEVICE_HANDLE_INVALID;
        return NULL;
    }
    return &cams[h - 1];
}

#define NEED_INIT()                                                                                \
    do {                                                                                           \
        if (!inited) {                                                                             \
            rs_bool r_ = fail(PL_ERR_LIBRARY_NOT_INITIALIZED);                                     \
            pthread_mutex_unlock(&mu);                                                             \
            return r_;                                                                             \
        }                                                                                          \
    } while (0)

static rs_bool unlock_ret(rs_bool r)
{
    pthread_mutex_unlock(&mu);
    return r;
}

/* ---- library ------------------------------------------------------------------------ */

rs_bool pl_pvcam_init(void)
{
    pthread_once(&cv_once, cv_init);
    pthread_mutex_lock(&mu);
    if (inited)
        return unlock_ret(fail(PL_ERR_LIBRARY_ALREADY_INITIALIZED));
    ncams = (int)env_long("FAKE_PVCAM_CAMERAS", 1);
    ncams = ncams < 0 ? 0 : ncams > MAX_CAMS ? MAX_CAMS : ncams;
    long w = env_long("FAKE_PVCAM_WIDTH", 2048), h = env_long("FAKE_PVCAM_HEIGHT", 2048);
    sensor_w = (uns16)(w < 16 ? 16 : w > 8192 ? 8192 : w);
    sensor_h = (uns16)(h < 1 ? 1 : h > 8192 ? 8192 : h);
    long d = env_long("FAKE_PVCAM_BIT_DEPTH", 16);
    bit_depth = (int16)(d < 9 ? 9 : d > 16 ? 16 : d);
    readout_us = (uint32_t)env_long("FAKE_PVCAM_READOUT_US", 0);
    fps_override = (double)env_long("FAKE_PVCAM_FPS", 0);
    legacy = env_long("FAKE_PVCAM_LEGACY", 0) != 0;
    parse_items("FAKE_PVCAM_EXPOSURE_MODES", "1792,2048,2304,2560,2816,3072", modes_cur,
                &n_modes_cur, mode_name);
    parse_items("FAKE_PVCAM_EXPOSE_OUT_MODES", "0,1", eo_cur, &n_eo_cur, expose_out_name);
    last_exp_mode = -1;
    memset(cams, 0, sizeof cams);
    for (int i = 0; i < ncams; i++) {
        snprintf(cams[i].name, sizeof cams[i].name, "pvcamUSB_%d", i);
        cams[i].gain = 1;
        cams[i].exposure = 10;
    }
    inited = true;
    return unlock_ret(ok());
}

static void stream_stop_locked(cam *c);

rs_bool pl_pvcam_uninit(void)
{
    pthread_mutex_lock(&mu);
    NEED_INIT();
    for (int i = 0; i < ncams; i++) {
        stream_stop_locked(&cams[i]);
        cams[i].open = false;
    }
    inited = false;
    return unlock_ret(ok());
}

rs_bool pl_pvcam_get_ver(uns16 *v)
{
    pthread_mutex_lock(&mu);
    NEED_INIT();
    if (!v)
        return unlock_ret(fail(PL_ERR_NULL_POINTER));
    *v = 0x03A2; /* 3.10.2: major byte, minor and trivial nibbles */
    return unlock_ret(ok());
}

rs_bool pl_cam_get_total(int16 *n)
{
    pthread_mutex_lock(&mu);
    NEED_INIT();
    if (!n)
        return unlock_ret(fail(PL_ERR_NULL_POINTER));
    *n = (int16)ncams;
    return unlock_ret(ok());
}

rs_bool pl_cam_get_name(int16 i, char *name)
{
    pthread_mutex_lock(&mu);
    NEED_INIT();
    if (!name)
        return unlock_ret(fail(PL_ERR_NULL_POINTER));
    if (i < 0 || i >= ncams)
        return unlock_ret(fail(PL_ERR_INDEX_OUT_OF_RANGE));
    memcpy(name, cams[i].name, CAM_NAME_LEN);
    return unlock_ret(ok());
}

rs_bool pl_cam_open(char *name, int16 *h, int16 mode)
{
    pthread_mutex_lock(&mu);
    NEED_INIT();
    if (!name || !h)
        return unlock_ret(fail(PL_ERR_NULL_POINTER));
    if (mode != OPEN_EXCLUSIVE)
        return unlock_ret(fail(PL_ERR_MODE_INVALID));
    for (int i = 0; i < ncams; i++)
        if (strcmp(cams[i].name, name) == 0) {
            if (cams[i].open)
                return unlock_ret(fail(PL_ERR_DEVICE_ALREADY_OPEN));
            cams[i].open = true;
            cams[i].setup = false;
            *h = (int16)(i + 1);
            return unlock_ret(ok());
        }
    return unlock_ret(fail(PL_ERR_DEVICE_NAME_UNKNOWN));
}

rs_bool pl_cam_close(int16 h)
{
    pthread_mutex_lock(&mu);
    NEED_INIT();
    cam *c = cam_of(h);
    if (!c)
        return unlock_ret(PV_FAIL);
    stream_stop_locked(c);
    c->open = false;
    c->cb = NULL;
    return unlock_ret(ok());
}

/* ---- errors -------------------------------------------------------------------------- */

int16 pl_error_code(void)
{
    pthread_mutex_lock(&mu);
    int16 e = last_err;
    pthread_mutex_unlock(&mu);
    return e;
}

static const struct {
    int16 code;
    const char *text;
} messages[] = {
    {PL_ERR_NONE, "No error (PL_ERR_NONE)"},
    {PL_ERR_NULL_POINTER, "Given pointer is not a legal address (PL_ERR_NULL_POINTER)"},
    {PL_ERR_LIBRARY_NOT_INITIALIZED,
     "The initialization hasn't been done yet (PL_ERR_LIBRARY_NOT_INITIALIZED)"},
    {PL_ERR_LIBRARY_ALREADY_INITIALIZED,
     "The initialization has been already done (PL_ERR_LIBRARY_ALREADY_INITIALIZED)"},
    {PL_ERR_PARAMETER_UNKNOWN, "Unknown parameter ID (PL_ERR_PARAMETER_UNKNOWN)"},
    {PL_ERR_PARAMETER_NOT_AVAILABLE,
     "Parameter unavailable for current device (PL_ERR_PARAMETER_NOT_AVAILABLE)"},
    {PL_ERR_PARAMETER_NOT_ENUM, "Parameter is not an enumeration (PL_ERR_PARAMETER_NOT_ENUM)"},
    {PL_ERR_ATTRIBUTE_UNKNOWN, "Unknown attribute ID (PL_ERR_ATTRIBUTE_UNKNOWN)"},
    {PL_ERR_VALUE_OUT_OF_RANGE, "Value is out of range (PL_ERR_VALUE_OUT_OF_RANGE)"},
    {PL_ERR_DATA_NOT_AVAILABLE_YET, "No data available yet (PL_ERR_DATA_NOT_AVAILABLE_YET)"},
    {PL_ERR_BUFFER_SIZE_INVALID,
     "Buffer must be integer-multiple of frame size (PL_ERR_BUFFER_SIZE_INVALID)"},
    {PL_ERR_BUFFER_OVERRUN, "The buffer is full (PL_ERR_BUFFER_OVERRUN)"},
    {PL_ERR_DEVICE_HANDLE_INVALID,
     "This is not the handle of an open device (PL_ERR_DEVICE_HANDLE_INVALID)"},
    {PL_ERR_DEVICE_NAME_UNKNOWN,
     "This is not a valid name for opening the device (PL_ERR_DEVICE_NAME_UNKNOWN)"},
    {PL_ERR_DEVICE_ALREADY_OPEN, "This device is already open (PL_ERR_DEVICE_ALREADY_OPEN)"},
    {PL_ERR_DEVICE_REMOVED, "The device has been unexpectedly removed (PL_ERR_DEVICE_REMOVED)"},
    {PL_ERR_REGION_INVALID, "Invalid region (PL_ERR_REGION_INVALID)"},
    {PL_ERR_BINNING_INVALID, "Invalid binning (PL_ERR_BINNING_INVALID)"},
    {PL_ERR_MODE_INVALID, "Invalid mode (PL_ERR_MODE_INVALID)"},
    {PL_ERR_STATE_INVALID, "Invalid internal state (PL_ERR_STATE_INVALID)"},
    {PL_ERR_CONFIGURATION_INVALID, "Invalid configuration (PL_ERR_CONFIGURATION_INVALID)"},
    {PL_ERR_INDEX_OUT_OF_RANGE, "Index is out of range (PL_ERR_INDEX_OUT_OF_RANGE)"},
    {PL_ERR_EXPOSURE_OUT_OF_RANGE, "Exposure value is out of range (PL_ERR_EXPOSURE_OUT_OF_RANGE)"},
    {PL_ERR_ACQUISITION_SETUP_REQUIRED,
     "The acquisition setup is needed first (PL_ERR_ACQUISITION_SETUP_REQUIRED)"},
    {PL_ERR_ZERO_FRAMES, "Zero frames given (PL_ERR_ZERO_FRAMES)"},
};

rs_bool pl_error_message(int16 code, char *msg)
{
    /* Does not change the error code (facts §2.2). */
    if (!msg)
        return PV_FAIL;
    for (size_t i = 0; i < sizeof messages / sizeof messages[0]; i++)
        if (messages[i].code == code) {
            snprintf(msg, ERROR_MSG_LEN, "%s", messages[i].text);
            return PV_OK;
        }
    snprintf(msg, ERROR_MSG_LEN, "Unknown error");
    return PV_FAIL;
}

/* ---- parameters -------------------------------------------------------------------------- */

typedef struct pdesc {
    uns32 id;
    uns16 type; /* TYPE_* */
    uns16 access;
    bool live;
} pdesc;

static const pdesc params[] = {
    {PARAM_SER_SIZE, PVCAM_TYPE_UNS16, ACC_READ_ONLY, false},
    {PARAM_PAR_SIZE, PVCAM_TYPE_UNS16, ACC_READ_ONLY, false},
    {PARAM_BIT_DEPTH, PVCAM_TYPE_INT16, ACC_READ_ONLY, false},
    {PARAM_CHIP_NAME, PVCAM_TYPE_CHAR_PTR, ACC_READ_ONLY, false},
    {PARAM_CAM_FW_VERSION, PVCAM_TYPE_UNS16, ACC_READ_ONLY, false},
    {PARAM_EXPOSURE_TIME, PVCAM_TYPE_UNS64, ACC_READ_WRITE, false},
    {PARAM_EXP_RES, PVCAM_TYPE_ENUM, ACC_READ_ONLY, false},
    {PARAM_TEMP, PVCAM_TYPE_INT16, ACC_READ_ONLY, false},
    {PARAM_CIRC_BUFFER, PVCAM_TYPE_BOOLEAN, ACC_READ_ONLY, false},
    {PARAM_READOUT_TIME, PVCAM_TYPE_UNS32, ACC_READ_ONLY, false}, /* the id says FLT64 */
    {PARAM_READOUT_PORT, PVCAM_TYPE_ENUM, ACC_READ_WRITE, false},
    {PARAM_SPDTAB_INDEX, PVCAM_TYPE_INT16, ACC_READ_WRITE, false},
    {PARAM_GAIN_INDEX, PVCAM_TYPE_INT16, ACC_READ_WRITE, false},
    {PARAM_FRAME_BUFFER_SIZE, PVCAM_TYPE_UNS64, ACC_READ_ONLY, false},
    {PARAM_EXPOSURE_MODE, PVCAM_TYPE_ENUM, ACC_READ_ONLY, false},
    {PARAM_EXPOSE_OUT_MODE, PVCAM_TYPE_ENUM, ACC_READ_ONLY, false},
};

static const eitem ports[] = {{0, "Sensitivity"}, {1, "Speed"}};
static const eitem modes_legacy[] = {{TIMED_MODE, "Timed"}, {3, "Trigger First"}};

/* The items of an enum parameter (NULL: not an enum). */
static const eitem *enum_items(uns32 id, uns32 *n)
{
    switch (id) {
    case PARAM_READOUT_PORT: *n = 2; return ports;
    case PARAM_EXPOSURE_MODE:
        if (legacy) {
            *n = 2;
            return modes_legacy;
        }
        *n = n_modes_cur;
        return modes_cur;
    case PARAM_EXPOSE_OUT_MODE: *n = n_eo_cur; return eo_cur;
    default: *n = 0; return NULL;
    }
}

static const pdesc *pdesc_of(uns32 id)
{
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
        if (params[i].id == id)
            return &params[i];
    return NULL;
}

static bool available(const cam *c, const pdesc *d)
{
    if (d && d->id == PARAM_EXPOSE_OUT_MODE && (legacy || n_eo_cur == 0))
        return false; /* legacy cameras have no expose-out modes */
    if (d && d->id == PARAM_EXPOSURE_MODE && !legacy && n_modes_cur == 0)
        return false;
    return d && (d->id != PARAM_FRAME_BUFFER_SIZE || c->setup);
}

static uns32 frame_bytes_of(const rgn_type *r)
{
    return (uns32)((r->s2 - r->s1 + 1) / r->sbin) * (uns32)((r->p2 - r->p1 + 1) / r->pbin) * 2u;
}

/* Writes the value of attribute attr (CURRENT, MIN, MAX, DEFAULT, INCREMENT). */
static rs_bool value_of(cam *c, const pdesc *d, int16 attr, void *out)
{
    bool cur = attr == ATTR_CURRENT, mn = attr == ATTR_MIN, mx = attr == ATTR_MAX;
    switch (d->id) {
    case PARAM_SER_SIZE: *(uns16 *)out = sensor_w; break;
    case PARAM_PAR_SIZE: *(uns16 *)out = sensor_h; break;
    case PARAM_BIT_DEPTH: *(int16 *)out = bit_depth; break;
    case PARAM_CHIP_NAME: snprintf(out, CCD_NAME_LEN, "%s", "FakePVCAM-sCMOS"); break;
    case PARAM_CAM_FW_VERSION: *(uns16 *)out = 0x0814; break;
    case PARAM_EXPOSURE_TIME:
        *(ulong64 *)out = cur ? c->exposure : mn ? 1 : mx ? 3600000 : attr == ATTR_DEFAULT ? 10 : 1;
        break;
    case PARAM_EXP_RES: *(int32 *)out = EXP_RES_ONE_MILLISEC; break;
    case PARAM_TEMP: *(int16 *)out = -1500; break;
    case PARAM_CIRC_BUFFER: *(rs_bool *)out = 1; break;
    case PARAM_READOUT_TIME: *(uns32 *)out = readout_us; break; /* 4 bytes (facts §7.5) */
    case PARAM_READOUT_PORT: *(int32 *)out = cur ? c->port : mx ? 1 : 0; break;
    case PARAM_SPDTAB_INDEX: *(int16 *)out = cur ? c->speed : mx ? 1 : 0; break;
    case PARAM_GAIN_INDEX: *(int16 *)out = cur ? c->gain : mx ? 2 : 1; break;
    case PARAM_FRAME_BUFFER_SIZE: *(ulong64 *)out = (ulong64)c->frame_bytes * 20; break;
    case PARAM_EXPOSURE_MODE:
    case PARAM_EXPOSE_OUT_MODE: {
        uns32 n;
        *(int32 *)out = enum_items(d->id, &n)[mx ? n - 1 : 0].value;
        break;
    }
    default: return fail(PL_ERR_PARAMETER_UNKNOWN);
    }
    return ok();
}

rs_bool pl_get_param(int16 h, uns32 id, int16 attr, void *out)
{
    pthread_mutex_lock(&mu);
    NEED_INIT();
    cam *c = cam_of(h);
    if (!c)
        return unlock_ret(PV_FAIL);
    if (!out)
        return unlock_ret(fail(PL_ERR_NULL_POINTER));
    const pdesc *d = pdesc_of(id);
    bool avail = available(c, d);
    switch (attr) {
    case ATTR_AVAIL: *(rs_bool *)out = avail; return unlock_ret(ok());
    case ATTR_LIVE: *(rs_bool *)out = avail && d->live; return unlock_ret(ok());
    case ATTR_TYPE: *(uns16 *)out = avail ? d->type : 0; return unlock_ret(ok());
    case ATTR_ACCESS: *(uns16 *)out = avail ? d->access : 0; return unlock_ret(ok());
    default: break;
    }
    if (!avail)
        return unlock_ret(fail(d ? PL_ERR_PARAMETER_NOT_AVAILABLE : PL_ERR_PARAMETER_UNKNOWN));
    if (c->running && !d->live) { /* the rule the driver must keep (facts §5.7) */
        ctr.param_while_streaming++;
        return unlock_ret(fail(PL_ERR_STATE_INVALID));
    }
    if (attr == ATTR_COUNT) {
        uns32 n;
        *(uns32 *)out = enum_items(d->id, &n)            ? n
                        : d->type == PVCAM_TYPE_CHAR_PTR ? CCD_NAME_LEN
                                                         : 1;
        return unlock_ret(ok());
    }
    if (attr < ATTR_CURRENT || attr > ATTR_INCREMENT || attr == ATTR_COUNT || attr == ATTR_TYPE)
        return unlock_ret(fail(PL_ERR_ATTRIBUTE_UNKNOWN));
    return unlock_ret(value_of(c, d, attr, out));
}

rs_bool pl_set_param(int16 h, uns32 id, void *value)
{
    pthread_mutex_lock(&mu);
    NEED_INIT();
    cam *c = cam_of(h);
    if (!c)
        return unlock_ret(PV_FAIL);
    if (!value)
        return unlock_ret(fail(PL_ERR_NULL_POINTER));
    const pdesc *d = pdesc_of(id);
    if (!available(c, d))
        return unlock_ret(fail(d ? PL_ERR_PARAMETER_NOT_AVAILABLE : PL_ERR_PARAMETER_UNKNOWN));
    if (d->access != ACC_READ_WRITE)
        return unlock_ret(fail(PL_ERR_ACCESS_DENIED));
    if (c->running && !d->live) {
        ctr.param_while_streaming++;
        return unlock_ret(fail(PL_ERR_STATE_INVALID));
    }
    switch (id) {
    case PARAM_READOUT_PORT: {
        int32 v = *(int32 *)value;
        if (v < 0 || v > 1)
            return unlock_ret(fail(PL_ERR_VALUE_OUT_OF_RANGE));
        c->port = v;
        c->speed = 0; /* a port change resets the speed and the gain */
        c->gain = 1;
        break;
    }
    case PARAM_SPDTAB_INDEX: {
        int16 v = *(int16 *)value;
        if (v < 0 || v > 1)
            return unlock_ret(fail(PL_ERR_VALUE_OUT_OF_RANGE));
        c->speed = v;
        c->gain = 1; /* setting the speed resets the gain to 1x (facts §4.9) */
        break;
    }
    case PARAM_GAIN_INDEX: {
        int16 v = *(int16 *)value;
        if (v < 1 || v > 2)
            return unlock_ret(fail(PL_ERR_VALUE_OUT_OF_RANGE));
        c->gain = v;
        break;
    }
    case PARAM_EXPOSURE_TIME: {
        ulong64 v = *(ulong64 *)value;
        if (v < 1 || v > 3600000)
            return unlock_ret(fail(PL_ERR_EXPOSURE_OUT_OF_RANGE));
        c->exposure = v;
        break;
    }
    default: return unlock_ret(fail(PL_ERR_PARAMETER_UNKNOWN));
    }
    return unlock_ret(ok());
}

rs_bool pl_get_enum_param(int16 h, uns32 id, uns32 index, int32 *value, char *desc, uns32 length)
{
    pthread_mutex_lock(&mu);
    NEED_INIT();
    cam *c = cam_of(h);
    if (!c)
        return unlock_ret(PV_FAIL);
    if (!value || !desc)
        return unlock_ret(fail(PL_ERR_NULL_POINTER));
    uns32 n;
    const eitem *items = enum_items(id, &n);
    if (!available(c, pdesc_of(id)))
        return unlock_ret(
            fail(pdesc_of(id) ? PL_ERR_PARAMETER_NOT_AVAILABLE : PL_ERR_PARAMETER_UNKNOWN));
    if (!items)
        return unlock_ret(fail(PL_ERR_PARAMETER_NOT_ENUM));
    if (c->running) {
        ctr.param_while_streaming++;
        return unlock_ret(fail(PL_ERR_STATE_INVALID));
    }
    if (index >= n)
        return unlock_ret(fail(PL_ERR_INDEX_OUT_OF_RANGE));
    *value = items[index].value;
    snprintf(desc, length, "%s", items[index].name);
    return unlock_ret(ok());
}

/* ---- the stream ------------------------------------------------------------------------ */

rs_bool pl_exp_setup_cont(int16 h, uns16 rgn_total, const rgn_type *rgn, int16 exp_mode,
                          uns32 exposure, uns32 *exp_bytes, int16 buffer_mode)
{
    pthread_mutex_lock(&mu);
    NEED_INIT();
    cam *c = cam_of(h);
    if (!c)
        return unlock_ret(PV_FAIL);
    if (!rgn || !exp_bytes)
        return unlock_ret(fail(PL_ERR_NULL_POINTER));
    if (c->running)
        return unlock_ret(fail(PL_ERR_STATE_INVALID));
    if (rgn_total != 1)
        return unlock_ret(fail(PL_ERR_REGION_INVALID));
    if (rgn->s1 > rgn->s2 || rgn->s2 >= sensor_w || rgn->p1 > rgn->p2 || rgn->p2 >= sensor_h)
        return unlock_ret(fail(PL_ERR_REGION_INVALID));
    if (rgn->sbin < 1 || rgn->pbin < 1 || rgn->sbin > 64 || rgn->pbin > 64 ||
        (rgn->s2 - rgn->s1 + 1) % rgn->sbin || (rgn->p2 - rgn->p1 + 1) % rgn->pbin ||
        (uns32)((rgn->s2 - rgn->s1 + 1) / rgn->sbin) < DAQ_SIM_MIN_WIDTH)
        return unlock_ret(fail(PL_ERR_BINNING_INVALID));
    /* Only the modes PARAM_EXPOSURE_MODE lists: extended trigger modes with
     * an expose-out mode in the low bits, or (legacy) a legacy mode alone. */
    uns32 nm;
    const eitem *modes = enum_items(PARAM_EXPOSURE_MODE, &nm);
    bool known = false;
    for (uns32 i = 0; i < nm; i++)
        known |= legacy ? exp_mode == modes[i].value : (exp_mode & ~0xFF) == modes[i].value;
    bool eo_known = legacy || (exp_mode & 0xFF) == 0; /* FIRST_ROW (0) when there is none */
    for (uns32 i = 0; !legacy && i < n_eo_cur; i++)
        eo_known |= (exp_mode & 0xFF) == eo_cur[i].value;
    if (!known || !eo_known)
        return unlock_ret(fail(PL_ERR_MODE_INVALID));
    last_exp_mode = exp_mode;
    ctr.setups++;
    c->trig = legacy ? EXT_TRIG_INTERNAL : (exp_mode & ~0xFF);
    if (exposure < 1 || exposure > 3600000)
        return unlock_ret(fail(PL_ERR_EXPOSURE_OUT_OF_RANGE));
    /* CIRC_NONE is accepted here and refused by start_cont with 185, as
     * rust-daq saw with its wrong constant (facts §7.1). */
    if (buffer_mode != CIRC_NONE && buffer_mode != CIRC_OVERWRITE &&
        buffer_mode != CIRC_NO_OVERWRITE)
        return unlock_ret(fail(PL_ERR_MODE_INVALID));
    c->rgn = *rgn;
    c->width = (uns32)(rgn->s2 - rgn->s1 + 1) / rgn->sbin;
    c->height = (uns32)(rgn->p2 - rgn->p1 + 1) / rgn->pbin;
    c->frame_bytes = frame_bytes_of(rgn);
    c->exposure_ms = exposure;
    c->exposure = exposure;
    c->mode = buffer_mode;
    c->setup = true;
    *exp_bytes = c->frame_bytes; /* ONE frame (facts §5.1) */
    return unlock_ret(ok());
}

static uint64_t period_ns(const cam *c)
{
    if (fps_override > 0)
        return (uint64_t)(1e9 / fps_override);
    return (uint64_t)c->exposure_ms * 1000000u + (uint64_t)readout_us * 1000u;
}

/* Under mu: the next frame goes into the ring; returns false if dropped. */
static bool write_frame(cam *c, uint64_t nr, uint64_t t_ns)
{
    uint32_t w = c->write_idx;
    if (c->count == c->slots) { /* full: w is the head */
        if (c->locked) {
            ctr.dropped_locked++;
            event(FAKE_EV_DROP_LOCKED, w, nr);
            if (c->mode == CIRC_NO_OVERWRITE)
                c->overrun = true;
            return false;
        }
        event(FAKE_EV_OVERWRITE, w, (uint64_t)c->info[w].FrameNr);
        ctr.overwritten++;
        c->head = (c->head + 1) % c->slots;
        c->count--;
        if (c->mode == CIRC_NO_OVERWRITE)
            c->overrun = true;
    }
    unsigned char *dst = c->ring + (size_t)w * c->frame_bytes;
    memcpy(dst, c->base[nr % 4], c->frame_bytes);
    daq_sim_stamp(dst, c->width, c->height, nr);
    int64_t ticks = (int64_t)((t_ns - c->t0_ns) / 100000u) + 1000; /* 0.1 ms */
    c->info[w] = (FRAME_INFO){
        .hCam = (int16)(c - cams + 1),
        .FrameNr = (int32)nr,
        .TimeStamp = ticks,
        .ReadoutTime = (int32)(readout_us / 100u),
        .TimeStampBOF = ticks - (int64_t)c->exposure_ms * 10,
    };
    c->write_idx = (w + 1) % c->slots;
    c->count++;
    c->latest_slot = w;
    c->have_latest = true;
    ctr.frames_written++;
    event(FAKE_EV_WRITE, w, nr);
    return true;
}

/* Under mu, returns unlocked: one EOF callback (none if deregistered). */
static void fire(cam *c, const FRAME_INFO *fi)
{
    if (!c->cb)
        return;
    PL_CALLBACK_SIG_EX3 *fn;
    void *p = c->cb;
    memcpy(&fn, &p, sizeof fn);
    void *ctx = c->cb_ctx;
    c->in_cb = true;
    pthread_mutex_unlock(&mu);
    fn(fi, ctx); /* outside the lock: the handler may call the API (facts §5.6) */
    pthread_mutex_lock(&mu);
    c->in_cb = false;
    pthread_cond_broadcast(&cv);
}

/* One exposure per trigger (until a *_FIRST mode's sequence starts). */
static bool per_trigger(const cam *c)
{
    return c->trig != EXT_TRIG_INTERNAL && !c->seq_started;
}

#define IDLE UINT64_MAX /* no exposure in progress: waiting for a trigger */

static void *sensor(void *arg)
{
    cam *c = arg;
    pthread_mutex_lock(&mu);
    uint64_t period = period_ns(c), next = c->t0_ns + period, nr = 0, made = 0;
    if (per_trigger(c))
        next = IDLE;
    while (!c->stop_req) {
        if (next == IDLE) { /* take a trigger: its exposure begins now */
            if (c->seq_started || c->pending) {
                if (!c->seq_started)
                    c->pending--;
                next = now_ns() + period;
            } else {
                pthread_cond_wait(&cv, &mu);
                continue;
            }
        }
        uint64_t now = now_ns();
        if (now < next) {
            struct timespec ts = {(time_t)(next / 1000000000u), (long)(next % 1000000000u)};
            pthread_cond_timedwait(&cv, &mu, &ts);
            continue;
        }
        if (per_trigger(c))
            next = IDLE; /* this exposure's trigger is used up */
        else
            next += period;
        if (next < now) /* fell far behind (sanitizers): no burst to catch up */
            next = now + period;
        if (stall_after && made >= stall_after)
            continue; /* stalled: no frame, no callback */
        nr++;
        if (gap_every && nr % gap_every == 0)
            nr++; /* the camera skipped a number: a lost frame */
        made++;
        if (!write_frame(c, nr, now))
            continue; /* no EOF for a frame that was not written */
        FRAME_INFO fi = c->info[(c->write_idx + c->slots - 1) % c->slots];
        ctr.callbacks++;
        fire(c, &fi);
        if (dup_every && made % dup_every == 0 && !c->stop_req) {
            ctr.duplicate_callbacks++;
            fire(c, &fi); /* the same FrameNr again (optiMos, facts §5.6) */
        }
    }
    /* Callbacks the SDK still delivers while halting (facts §5.6). */
    for (uint32_t i = 0; i < late_callbacks; i++) {
        FRAME_INFO fi = {.hCam = (int16)(c - cams + 1), .FrameNr = (int32)(nr + 1 + i)};
        ctr.late_callbacks++;
        fire(c, &fi);
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

rs_bool pl_exp_start_cont(int16 h, void *buf, uns32 size)
{
    pthread_mutex_lock(&mu);
    NEED_INIT();
    cam *c = cam_of(h);
    if (!c)
        return unlock_ret(PV_FAIL);
    if (!c->setup)
        return unlock_ret(fail(PL_ERR_ACQUISITION_SETUP_REQUIRED));
    if (c->running)
        return unlock_ret(fail(PL_ERR_STATE_INVALID));
    if (c->mode == CIRC_NONE)
        return unlock_ret(fail(PL_ERR_CONFIGURATION_INVALID));
    if (!buf)
        return unlock_ret(fail(PL_ERR_NULL_POINTER));
    if (size < c->frame_bytes)
        return unlock_ret(fail(PL_ERR_ZERO_FRAMES));
    if (size % c->frame_bytes)
        return unlock_ret(fail(PL_ERR_BUFFER_SIZE_INVALID));
    if (size / c->frame_bytes > MAX_SLOTS)
        return unlock_ret(fail(PL_ERR_BUFFER_TOO_SMALL));
    for (int i = 0; i < 4; i++) {
        c->base[i] = malloc(c->frame_bytes);
        if (!c->base[i]) {
            for (int k = 0; k < i; k++)
                free(c->base[k]);
            return unlock_ret(fail(PL_ERR_INSUFFICIENT_RESOURCES));
        }
        daq_sim_render(c->base[i], c->width, c->height, (unsigned)bit_depth, (uint64_t)i);
    }
    dup_every = (uint32_t)env_long("FAKE_PVCAM_DUP_EVERY", 0);
    late_callbacks = (uint32_t)env_long("FAKE_PVCAM_LATE_CALLBACKS", 0);
    gap_every = (uint32_t)env_long("FAKE_PVCAM_GAP_EVERY", 0);
    stall_after = (uint32_t)env_long("FAKE_PVCAM_STALL_AFTER", 0);
    remove_after = (uint32_t)env_long("FAKE_PVCAM_REMOVE_AFTER", 0);
    no_poison = env_long("FAKE_PVCAM_NO_POISON", 0) != 0;
    require_copy_mark = env_long("FAKE_PVCAM_REQUIRE_COPY_MARK", 0) != 0;
    ignore_every = (uint32_t)env_long("FAKE_PVCAM_IGNORE_EVERY", 0);
    trigger_fail = (int16)env_long("FAKE_PVCAM_TRIGGER_FAIL", 0);
    ctr.sw_triggers = ctr.sw_triggered = ctr.sw_ignored = ctr.pulses = ctr.pulses_used = 0;
    c->pending = 0;
    c->seq_started = false;
    /* The stream's counters; registrations and parameter misuse are the process's. */
    ctr.frames_written = ctr.callbacks = ctr.duplicate_callbacks = ctr.late_callbacks = 0;
    ctr.dropped_locked = ctr.overwritten = ctr.overrun_reports = ctr.unlocks = 0;
    ctr.unlock_before_copy = 0;
    n_events = 0;
    copy_marked = 0;
    c->ring = buf;
    c->slots = size / c->frame_bytes;
    c->head = c->count = c->write_idx = 0;
    c->locked = c->overrun = c->have_latest = false;
    c->stop_req = false;
    c->t0_ns = now_ns();
    if (pthread_create(&c->thread, NULL, sensor, c) != 0) {
        for (int i = 0; i < 4; i++)
            free(c->base[i]);
        return unlock_ret(fail(PL_ERR_INSUFFICIENT_RESOURCES));
    }
    c->running = true;
    return unlock_ret(ok());
}

/* Under mu: halts the sensor thread (late callbacks included). */
static void stream_stop_locked(cam *c)
{
    if (!c->running)
        return;
    c->stop_req = true;
    pthread_cond_broadcast(&cv);
    pthread_t t = c->thread;
    pthread_mutex_unlock(&mu);
    pthread_join(t, NULL);
    pthread_mutex_lock(&mu);
    c->running = false;
    c->ring = NULL;
    c->locked = false;
    for (int i = 0; i < 4; i++) {
        free(c->base[i]);
        c->base[i] = NULL;
    }
}

rs_bool pl_exp_stop_cont(int16 h, int16 state)
{
    pthread_mutex_lock(&mu);
    NEED_INIT();
    cam *c = cam_of(h);
    if (!c)
        return unlock_ret(PV_FAIL);
    if (state < 0 || state > 6)
        return unlock_ret(fail(PL_ERR_MODE_INVALID));
    stream_stop_locked(c);
    return unlock_ret(ok());
}

/* Common checks of the frame getters; NULL with the error set. */
static cam *streaming_cam(int16 h, void **frame)
{
    cam *c = cam_of(h);
    if (!c)
        return NULL;
    if (!frame) {
        last_err = PL_ERR_NULL_POINTER;
        return NULL;
    }
    if (!c->running) {
        last_err = PL_ERR_ACQUISITION_SETUP_REQUIRED;
        return NULL;
    }
    if (remove_after && ctr.frames_written >= remove_after) { /* unplugged */
        last_err = PL_ERR_DEVICE_REMOVED;
        return NULL;
    }
    if (c->overrun) { /* reported once, by the next get (facts §5.3) */
        c->overrun = false;
        ctr.overrun_reports++;
        last_err = PL_ERR_BUFFER_OVERRUN;
        return NULL;
    }
    return c;
}

rs_bool pl_exp_get_oldest_frame_ex(int16 h, void **frame, FRAME_INFO *fi)
{
    pthread_mutex_lock(&mu);
    NEED_INIT();
    cam *c = streaming_cam(h, frame);
    if (!c)
        return unlock_ret(PV_FAIL);
    if (c->count == 0)
        return unlock_ret(fail(PL_ERR_DATA_NOT_AVAILABLE_YET));
    c->locked = true; /* again the same head if called twice without unlock */
    *frame = c->ring + (size_t)c->head * c->frame_bytes;
    if (fi)
        *fi = c->info[c->head];
    event(FAKE_EV_GET_OLDEST, c->head, (uint64_t)c->info[c->head].FrameNr);
    return unlock_ret(ok());
}

rs_bool pl_exp_get_latest_frame_ex(int16 h, void **frame, FRAME_INFO *fi)
{
    pthread_mutex_lock(&mu);
    NEED_INIT();
    cam *c = streaming_cam(h, frame);
    if (!c)
        return unlock_ret(PV_FAIL);
    if (!c->have_latest)
        return unlock_ret(fail(PL_ERR_DATA_NOT_AVAILABLE_YET));
    *frame = c->ring + (size_t)c->latest_slot * c->frame_bytes;
    if (fi)
        *fi = c->info[c->latest_slot];
    if (c->mode == CIRC_OVERWRITE) { /* everything up to the newest counts as read */
        c->head = c->write_idx;
        c->count = 0;
    }
    event(FAKE_EV_GET_LATEST, c->latest_slot, (uint64_t)c->info[c->latest_slot].FrameNr);
    return unlock_ret(ok());
}

#ifndef FAKE_PVCAM_OMIT_UNLOCK
rs_bool pl_exp_unlock_oldest_frame(int16 h)
{
    pthread_mutex_lock(&mu);
    NEED_INIT();
    cam *c = cam_of(h);
    if (!c)
        return unlock_ret(PV_FAIL);
    if (!c->running || !c->locked || c->count == 0)
        return unlock_ret(fail(PL_ERR_STATE_INVALID));
    uint64_t nr = (uint64_t)c->info[c->head].FrameNr;
    event(FAKE_EV_UNLOCK, c->head, nr);
    ctr.unlocks++;
    if (require_copy_mark && copy_marked < nr)
        ctr.unlock_before_copy++;
    /* From now on the DMA may reuse the slot: poison it, so that a copy
     * made after this unlock reads garbage instead of the frame. */
    if (!no_poison)
        memset(c->ring + (size_t)c->head * c->frame_bytes, POISON, c->frame_bytes);
    c->head = (c->head + 1) % c->slots;
    c->count--;
    c->locked = false;
    return unlock_ret(ok());
}
#endif

/* ---- triggers ------------------------------------------------------------------------------ */

#ifndef FAKE_PVCAM_OMIT_TRIGGER
rs_bool pl_exp_trigger(int16 h, uns32 *flags, uns32 value)
{
    pthread_mutex_lock(&mu);
    NEED_INIT();
    cam *c = cam_of(h);
    if (!c)
        return unlock_ret(PV_FAIL);
    if (!flags)
        return unlock_ret(fail(PL_ERR_NULL_POINTER));
    if (*flags != 0 || value != 0) /* in: 0; reserved: 0 (facts §2.7) */
        return unlock_ret(fail(PL_ERR_VALUE_INVALID));
    if (!c->running)
        return unlock_ret(fail(PL_ERR_STATE_INVALID));
    if (c->trig != EXT_TRIG_SOFTWARE_EDGE && c->trig != EXT_TRIG_SOFTWARE_FIRST)
        return unlock_ret(fail(PL_ERR_MODE_INVALID));
    if (trigger_fail)
        return unlock_ret(fail(trigger_fail));
    ctr.sw_triggers++;
    bool ignore = (ignore_every && ctr.sw_triggers % ignore_every == 0) || c->seq_started;
    if (ignore) {
        ctr.sw_ignored++;
        *flags = PL_SW_TRIG_STATUS_IGNORED;
        return unlock_ret(ok());
    }
    ctr.sw_triggered++;
    if (c->trig == EXT_TRIG_SOFTWARE_FIRST)
        c->seq_started = true;
    else
        c->pending++;
    pthread_cond_broadcast(&cv);
    *flags = PL_SW_TRIG_STATUS_TRIGGERED;
    return unlock_ret(ok());
}
#endif

int fake_pvcam_pulse(int index)
{
    pthread_mutex_lock(&mu);
    int used = 0;
    if (inited && index >= 0 && index < ncams) {
        cam *c = &cams[index];
        ctr.pulses++;
        bool external = c->trig == EXT_TRIG_EDGE_RISING || c->trig == EXT_TRIG_LEVEL ||
                        c->trig == EXT_TRIG_TRIG_FIRST;
        if (c->running && external && !c->seq_started) {
            used = 1;
            ctr.pulses_used++;
            if (c->trig == EXT_TRIG_TRIG_FIRST)
                c->seq_started = true;
            else
                c->pending++;
            pthread_cond_broadcast(&cv);
        }
    }
    pthread_mutex_unlock(&mu);
    return used;
}

/* ---- callbacks and FRAME_INFO ------------------------------------------------------------ */

rs_bool pl_cam_register_callback_ex3(int16 h, int32 event_id, void *callback, void *context)
{
    pthread_mutex_lock(&mu);
    NEED_INIT();
    cam *c = cam_of(h);
    if (!c)
        return unlock_ret(PV_FAIL);
    if (!callback)
        return unlock_ret(fail(PL_ERR_NULL_POINTER));
    if (event_id != PL_CALLBACK_EOF)
        return unlock_ret(fail(PL_ERR_NOT_AVAILABLE));
    if (c->cb)
        ctr.double_registrations++; /* "registers or replaces"; rust-daq's callbacks died */
    ctr.registrations++;
    c->cb = callback;
    c->cb_ctx = context;
    return unlock_ret(ok());
}

rs_bool pl_cam_deregister_callback(int16 h, int32 event_id)
{
    pthread_mutex_lock(&mu);
    NEED_INIT();
    cam *c = cam_of(h);
    if (!c)
        return unlock_ret(PV_FAIL);
    if (event_id != PL_CALLBACK_EOF)
        return unlock_ret(fail(PL_ERR_NOT_AVAILABLE));
    c->cb = NULL;
    while (c->in_cb) /* no handler runs once this returns */
        pthread_cond_wait(&cv, &mu);
    return unlock_ret(ok());
}

rs_bool pl_create_frame_info_struct(FRAME_INFO **out)
{
    pthread_mutex_lock(&mu);
    if (!out)
        return unlock_ret(fail(PL_ERR_NULL_POINTER));
    *out = calloc(1, sizeof **out);
    if (!*out)
        return unlock_ret(fail(PL_ERR_INSUFFICIENT_RESOURCES));
    (*out)->FrameInfoGUID =
        (PVCAM_FRAME_INFO_GUID){0x3f1a2b4c, 0x1d2e, 0x4f50, {1, 2, 3, 4, 5, 6, 7, 8}};
    return unlock_ret(ok());
}

rs_bool pl_release_frame_info_struct(FRAME_INFO *fi)
{
    pthread_mutex_lock(&mu);
    if (!fi)
        return unlock_ret(fail(PL_ERR_NULL_POINTER));
    free(fi);
    return unlock_ret(ok());
}

/* ---- test hooks -------------------------------------------------------------------------- */

size_t fake_pvcam_events(fake_pvcam_event *out, size_t max)
{
    pthread_mutex_lock(&mu);
    size_t n = n_events < MAX_EVENTS ? n_events : MAX_EVENTS;
    for (size_t i = 0; i < n && i < max; i++)
        out[i] = events[i];
    size_t total = n_events;
    pthread_mutex_unlock(&mu);
    return total;
}

uint64_t fake_pvcam_counter(const char *name)
{
    static const struct {
        const char *name;
        size_t off;
    } names[] = {
#define C(x) {#x, offsetof(counters, x)}
        C(frames_written),
        C(callbacks),
        C(duplicate_callbacks),
        C(late_callbacks),
        C(dropped_locked),
        C(overwritten),
        C(overrun_reports),
        C(unlocks),
        C(registrations),
        C(double_registrations),
        C(param_while_streaming),
        C(unlock_before_copy),
        C(sw_triggers),
        C(sw_triggered),
        C(sw_ignored),
        C(pulses),
        C(pulses_used),
        C(setups),
#undef C
    };
    uint64_t v = UINT64_MAX;
    pthread_mutex_lock(&mu);
    if (strcmp(name, "last_exp_mode") == 0) /* the exp_mode of the last accepted setup */
        v = (uint64_t)(int64_t)last_exp_mode;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(names[i].name, name) == 0)
            memcpy(&v, (const char *)&ctr + names[i].off, sizeof v);
    pthread_mutex_unlock(&mu);
    return v;
}

void fake_pvcam_record_copy_done(uint64_t nr)
{
    pthread_mutex_lock(&mu);
    event(FAKE_EV_COPY_DONE, 0, nr);
    if (nr > copy_marked)
        copy_marked = nr;
    pthread_mutex_unlock(&mu);
}
