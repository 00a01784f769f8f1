/* drivers/pvcam/pvcam_sdk.h - daq's own declarations of the part of the
 * PVCAM C API that the pvcam driver uses.
 *
 * Written from the API fact sheet (docs/facts/pvcam-api.md, cited below as
 * "facts §N"; §1-§4: typedef widths, prototypes, struct layouts, constant
 * values), not
 * from Photometrics' header: daq builds, and its tests run, where no SDK is
 * installed.  The driver never links libpvcam; it dlopen()s it and resolves
 * exactly the functions listed in PVCAM_FUNCTIONS below.
 *
 * Shared by two parties on purpose: the driver (which only sees the
 * function-pointer types) and the test stand-in library tests/fake_pvcam
 * (which defines PVCAM_SDK_DECLARE_FUNCTIONS and so gets real prototypes,
 * against which the compiler checks every one of its definitions).  One
 * list, X-macro style, so the typedefs, the dlsym table and the fake's
 * exports cannot drift apart.
 *
 * Traps the facts call out, encoded here:
 *  - rs_bool is 2 bytes (unsigned short), not int or bool;
 *  - CIRC_NONE = 0, CIRC_OVERWRITE = 1, CIRC_NO_OVERWRITE = 2 (rust-daq used
 *    0 and 1, i.e. CIRC_NONE and CIRC_OVERWRITE: its "error 185" was that);
 *  - pl_exp_setup_cont: exp_bytes (one frame's bytes) comes before
 *    buffer_mode; pl_get_param: the attribute comes before the value;
 *  - pl_cam_open takes a non-const char *;
 *  - PARAM_READOUT_TIME's id says FLT64 but the value is an uns32 (µs).
 */
#ifndef DAQ_PVCAM_SDK_H
#define DAQ_PVCAM_SDK_H

#include <stddef.h>

/* ---- basic types (facts §1.3; Linux: PV_DECL is empty, plain C ABI) ------ */

typedef unsigned short rs_bool;
typedef signed char int8;
typedef unsigned char uns8;
typedef short int16;
typedef unsigned short uns16;
typedef int int32;
typedef unsigned int uns32;
typedef double flt64;
typedef signed long long long64;
typedef unsigned long long ulong64;

_Static_assert(sizeof(rs_bool) == 2, "rs_bool is 2 bytes");
_Static_assert(sizeof(int16) == 2 && sizeof(int32) == 4 && sizeof(long64) == 8,
               "PVCAM integer widths");

enum { PV_FAIL = 0, PV_OK = 1 };

/* ---- sizes (facts §4.1) ------------------------------------------------------ */

enum {
    CAM_NAME_LEN = 32,   /* includes the NUL */
    ERROR_MSG_LEN = 255, /* includes the NUL */
    CCD_NAME_LEN = 17,   /* PARAM_CHIP_NAME buffer */
    OPEN_EXCLUSIVE = 0,
};

/* ---- structs (facts §3; offsets measured against the vendor header) --------- */

typedef struct pvcam_frame_info_guid {
    uns32 f1;
    uns16 f2;
    uns16 f3;
    uns8 f4[8];
} PVCAM_FRAME_INFO_GUID;

/* FRAME_INFO's TimeStamp/TimeStampBOF unit: 0.1 ms, fixed (facts §5.5; no
 * parameter sets it -- only embedded metadata has resolution fields). */
#define PVCAM_TICK_NS 100000u

typedef struct pvcam_frame_info {
    PVCAM_FRAME_INFO_GUID FrameInfoGUID; /* set by pl_create_frame_info_struct */
    int16 hCam;
    int32 FrameNr;       /* 1-based */
    long64 TimeStamp;    /* EOF, 0.1 ms ticks */
    int32 ReadoutTime;   /* unit undocumented */
    long64 TimeStampBOF; /* BOF, 0.1 ms ticks */
} FRAME_INFO;

_Static_assert(sizeof(PVCAM_FRAME_INFO_GUID) == 16, "GUID layout");
_Static_assert(sizeof(FRAME_INFO) == 48, "FRAME_INFO is 48 bytes");
_Static_assert(offsetof(FRAME_INFO, hCam) == 16 && offsetof(FRAME_INFO, FrameNr) == 20 &&
                   offsetof(FRAME_INFO, TimeStamp) == 24 &&
                   offsetof(FRAME_INFO, ReadoutTime) == 32 &&
                   offsetof(FRAME_INFO, TimeStampBOF) == 40,
               "FRAME_INFO offsets");

/* One region: s2 and p2 are inclusive; output = (s2-s1+1)/sbin x (p2-p1+1)/pbin. */
typedef struct pvcam_rgn_type {
    uns16 s1, s2, sbin;
    uns16 p1, p2, pbin;
} rgn_type;

_Static_assert(sizeof(rgn_type) == 12, "rgn_type is 12 bytes");

/* The EOF handler registered with pl_cam_register_callback_ex3. */
typedef void PL_CALLBACK_SIG_EX3(const FRAME_INFO *pFrameInfo, void *pContext);

/* ---- constants (facts §4) ------------------------------------------------------- */

enum {
    TIMED_MODE = 0, /* PL_EXPOSURE_MODES (int16 for setup_*): legacy */
    /* The extended modes, (7 + k) << 8 (facts §4.2): exp_mode's high byte;
     * PARAM_EXPOSURE_MODE lists the ones a camera has, as int32 values. */
    EXT_TRIG_INTERNAL = 1792,       /* free-running, the camera's own timing */
    EXT_TRIG_TRIG_FIRST = 2048,     /* the first edge on the input starts a sequence */
    EXT_TRIG_EDGE_RISING = 2304,    /* one exposure per rising edge */
    EXT_TRIG_LEVEL = 2560,          /* exposes while the input is high */
    EXT_TRIG_SOFTWARE_FIRST = 2816, /* the first pl_exp_trigger starts a sequence */
    EXT_TRIG_SOFTWARE_EDGE = 3072,  /* one exposure per pl_exp_trigger */
    EXT_TRIG_LEVEL_OVERLAP = 3328,  /* level, exposing during readout (not mapped) */
    EXT_TRIG_LEVEL_PULSED = 3584,   /* level, pulsed (not mapped) */
    /* PL_EXPOSE_OUT_MODES (facts §4.2), OR-ed into exp_mode's low byte;
     * PARAM_EXPOSE_OUT_MODE lists a camera's. */
    EXPOSE_OUT_FIRST_ROW = 0,
    EXPOSE_OUT_ALL_ROWS = 1,
    EXPOSE_OUT_ANY_ROW = 2,
    EXPOSE_OUT_ROLLING_SHUTTER = 3,
    EXPOSE_OUT_LINE_TRIGGER = 4,
    EXPOSE_OUT_GLOBAL_SHUTTER = 5,
    MAX_EXPOSE_OUT_MODE = 6,

    /* PL_SW_TRIG_STATUSES: what pl_exp_trigger writes into *flags (facts §2.7). */
    PL_SW_TRIG_STATUS_TRIGGERED = 0,
    PL_SW_TRIG_STATUS_IGNORED = 1,

    CIRC_NONE = 0, /* sequences only: never passed to setup_cont */
    CIRC_OVERWRITE = 1,
    CIRC_NO_OVERWRITE = 2,

    CCS_HALT = 1, /* PL_CCS_ABORT_MODES: the sCMOS stop */

    PL_CALLBACK_BOF = 0,
    PL_CALLBACK_EOF = 1,

    EXP_RES_ONE_MILLISEC = 0,
    EXP_RES_ONE_MICROSEC = 1,
    EXP_RES_ONE_SEC = 2,
};

/* PL_PARAM_ATTRIBUTES (passed as int16) and the type each writes. */
enum {
    ATTR_CURRENT = 0,   /* the parameter's type */
    ATTR_COUNT = 1,     /* uns32 */
    ATTR_TYPE = 2,      /* uns16 */
    ATTR_MIN = 3,       /* the parameter's type */
    ATTR_MAX = 4,       /* the parameter's type */
    ATTR_DEFAULT = 5,   /* the parameter's type */
    ATTR_INCREMENT = 6, /* the parameter's type */
    ATTR_ACCESS = 7,    /* uns16 ACC_* */
    ATTR_AVAIL = 8,     /* rs_bool */
    ATTR_LIVE = 9,      /* rs_bool: may be accessed while acquiring */
};

enum { ACC_READ_ONLY = 1, ACC_READ_WRITE = 2, ACC_EXIST_CHECK_ONLY = 3, ACC_WRITE_ONLY = 4 };

/* Parameter ids: (TYPE << 24) + (CLASS << 16) + index (facts §4.8, §4.9). */
#define PVCAM_PARAM_ID(type, cls, index) (((uns32)(type) << 24) + ((uns32)(cls) << 16) + (index))
enum {
    PVCAM_TYPE_INT16 = 1,
    PVCAM_TYPE_FLT64 = 4,
    PVCAM_TYPE_UNS16 = 6,
    PVCAM_TYPE_UNS32 = 7,
    PVCAM_TYPE_UNS64 = 8,
    PVCAM_TYPE_ENUM = 9,
    PVCAM_TYPE_BOOLEAN = 11,
    PVCAM_TYPE_CHAR_PTR = 13,
};

/* clang-format off */
#define PARAM_SER_SIZE          PVCAM_PARAM_ID(PVCAM_TYPE_UNS16, 2, 58)    /* uns16 */
#define PARAM_PAR_SIZE          PVCAM_PARAM_ID(PVCAM_TYPE_UNS16, 2, 57)    /* uns16 */
#define PARAM_BIT_DEPTH         PVCAM_PARAM_ID(PVCAM_TYPE_INT16, 2, 511)   /* int16 */
#define PARAM_CHIP_NAME         PVCAM_PARAM_ID(PVCAM_TYPE_CHAR_PTR, 2, 129) /* char[17] */
#define PARAM_CAM_FW_VERSION    PVCAM_PARAM_ID(PVCAM_TYPE_UNS16, 2, 532)   /* uns16 */
#define PARAM_EXPOSURE_TIME     PVCAM_PARAM_ID(PVCAM_TYPE_UNS64, 3, 8)     /* ulong64, EXP_RES units */
#define PARAM_EXP_RES           PVCAM_PARAM_ID(PVCAM_TYPE_ENUM, 3, 2)      /* enum int32 */
#define PARAM_TEMP              PVCAM_PARAM_ID(PVCAM_TYPE_INT16, 2, 525)   /* int16, 1/100 degC */
#define PARAM_CIRC_BUFFER       PVCAM_PARAM_ID(PVCAM_TYPE_BOOLEAN, 3, 299) /* rs_bool */
#define PARAM_READOUT_TIME      PVCAM_PARAM_ID(PVCAM_TYPE_FLT64, 2, 179)   /* really uns32 us */
#define PARAM_READOUT_PORT      PVCAM_PARAM_ID(PVCAM_TYPE_ENUM, 2, 247)    /* enum int32 */
#define PARAM_SPDTAB_INDEX      PVCAM_PARAM_ID(PVCAM_TYPE_INT16, 2, 513)   /* int16 */
#define PARAM_GAIN_INDEX        PVCAM_PARAM_ID(PVCAM_TYPE_INT16, 2, 512)   /* int16 */
#define PARAM_EXPOSURE_MODE     PVCAM_PARAM_ID(PVCAM_TYPE_ENUM, 2, 535)    /* enum int32, read-only */
#define PARAM_EXPOSE_OUT_MODE   PVCAM_PARAM_ID(PVCAM_TYPE_ENUM, 2, 560)    /* enum int32, read-only */
/* clang-format on */

_Static_assert(PARAM_SER_SIZE == 0x0602003Au && PARAM_PAR_SIZE == 0x06020039u &&
                   PARAM_BIT_DEPTH == 0x010201FFu && PARAM_CHIP_NAME == 0x0D020081u &&
                   PARAM_CAM_FW_VERSION == 0x06020214u && PARAM_EXPOSURE_TIME == 0x08030008u &&
                   PARAM_EXP_RES == 0x09030002u && PARAM_TEMP == 0x0102020Du &&
                   PARAM_CIRC_BUFFER == 0x0B03012Bu && PARAM_READOUT_TIME == 0x040200B3u &&
                   PARAM_READOUT_PORT == 0x090200F7u && PARAM_SPDTAB_INDEX == 0x01020201u &&
                   PARAM_GAIN_INDEX == 0x01020200u && PARAM_EXPOSURE_MODE == 0x09020217u &&
                   PARAM_EXPOSE_OUT_MODE == 0x09020230u,
               "parameter ids as listed in the facts (§4.9)");

/* Error codes (facts §4.10; numbers decoded from the real library). */
enum {
    PL_ERR_NONE = 0,
    PL_ERR_INSTALLATION_CORRUPTED = 151,
    PL_ERR_INSUFFICIENT_RESOURCES = 152,
    PL_ERR_NULL_POINTER = 153,
    PL_ERR_NOT_AVAILABLE = 154,
    PL_ERR_ACCESS_DENIED = 156,
    PL_ERR_LIBRARY_NOT_INITIALIZED = 157,
    PL_ERR_LIBRARY_ALREADY_INITIALIZED = 158,
    PL_ERR_PARAMETER_UNKNOWN = 159,
    PL_ERR_PARAMETER_NOT_AVAILABLE = 160,
    PL_ERR_PARAMETER_NOT_ENUM = 161,
    PL_ERR_ATTRIBUTE_UNKNOWN = 162,
    PL_ERR_VALUE_INVALID = 164,
    PL_ERR_VALUE_OUT_OF_RANGE = 165,
    PL_ERR_DATA_NOT_AVAILABLE_YET = 169,
    PL_ERR_BUFFER_SIZE_INVALID = 171,
    PL_ERR_BUFFER_TOO_SMALL = 172,
    PL_ERR_BUFFER_OVERRUN = 173,
    PL_ERR_DEVICE_HANDLE_INVALID = 175,
    PL_ERR_DEVICE_NAME_UNKNOWN = 176,
    PL_ERR_DEVICE_NOT_OPEN = 177,
    PL_ERR_DEVICE_ALREADY_OPEN = 178,
    PL_ERR_DEVICE_REMOVED = 180,
    PL_ERR_REGION_INVALID = 181,
    PL_ERR_BINNING_INVALID = 182,
    PL_ERR_MODE_INVALID = 183,
    PL_ERR_STATE_INVALID = 184,
    PL_ERR_CONFIGURATION_INVALID = 185,
    PL_ERR_INDEX_OUT_OF_RANGE = 186,
    PL_ERR_EXPOSURE_OUT_OF_RANGE = 187,
    PL_ERR_ACQUISITION_SETUP_REQUIRED = 188,
    PL_ERR_ZERO_FRAMES = 191,
    PL_ERR_DDI_FIRST = 193, /* 193..203: driver-layer errors */
    PL_ERR_DDI_LAST = 203,
};

/* ---- the functions the driver resolves (facts §2), in one list ------------------ */

#define PVCAM_FUNCTIONS(X)                                                                         \
    X(rs_bool, pl_pvcam_init, (void))                                                              \
    X(rs_bool, pl_pvcam_uninit, (void))                                                            \
    X(rs_bool, pl_pvcam_get_ver, (uns16 * pvcam_version))                                          \
    X(rs_bool, pl_cam_get_total, (int16 * totl_cams))                                              \
    X(rs_bool, pl_cam_get_name, (int16 cam_num, char *camera_name))                                \
    X(rs_bool, pl_cam_open, (char *camera_name, int16 *hcam, int16 o_mode))                        \
    X(rs_bool, pl_cam_close, (int16 hcam))                                                         \
    X(int16, pl_error_code, (void))                                                                \
    X(rs_bool, pl_error_message, (int16 err_code, char *msg))                                      \
    X(rs_bool, pl_get_param,                                                                       \
      (int16 hcam, uns32 param_id, int16 param_attribute, void *param_value))                      \
    X(rs_bool, pl_set_param, (int16 hcam, uns32 param_id, void *param_value))                      \
    X(rs_bool, pl_get_enum_param,                                                                  \
      (int16 hcam, uns32 param_id, uns32 index, int32 * value, char *desc, uns32 length))          \
    X(rs_bool, pl_exp_setup_cont,                                                                  \
      (int16 hcam, uns16 rgn_total, const rgn_type *rgn_array, int16 exp_mode,                     \
       uns32 exposure_time, uns32 *exp_bytes, int16 buffer_mode))                                  \
    X(rs_bool, pl_exp_start_cont, (int16 hcam, void *pixel_stream, uns32 size))                    \
    X(rs_bool, pl_exp_stop_cont, (int16 hcam, int16 cam_state))                                    \
    X(rs_bool, pl_exp_get_oldest_frame_ex, (int16 hcam, void **frame, FRAME_INFO *frame_info))     \
    X(rs_bool, pl_exp_get_latest_frame_ex, (int16 hcam, void **frame, FRAME_INFO *frame_info))     \
    X(rs_bool, pl_exp_unlock_oldest_frame, (int16 hcam))                                           \
    X(rs_bool, pl_cam_register_callback_ex3,                                                       \
      (int16 hcam, int32 callback_event, void *callback, void *context))                           \
    X(rs_bool, pl_cam_deregister_callback, (int16 hcam, int32 callback_event))                     \
    X(rs_bool, pl_create_frame_info_struct, (FRAME_INFO * *new_frame))                             \
    X(rs_bool, pl_release_frame_info_struct, (FRAME_INFO * frame_to_delete))

/* Optional functions: resolved when the library has them, NULL otherwise.
 * pl_exp_trigger is versioned PVCAM_CORE_2.5 in the real library (facts
 * §1.1), so older SDKs lack it: without it a camera has no software
 * trigger modes, but everything else works.  flags: in 0, out
 * PL_SW_TRIG_STATUS_*; value: reserved, 0. */
#define PVCAM_OPTIONAL_FUNCTIONS(X)                                                                \
    X(rs_bool, pl_exp_trigger, (int16 hcam, uns32 * flags, uns32 value))

/* pl_xxx_fn: the function type of each, for the driver's pointer table. */
#define PVCAM_FN_TYPEDEF(ret, name, args) typedef ret name##_fn args;
PVCAM_FUNCTIONS(PVCAM_FN_TYPEDEF)
PVCAM_OPTIONAL_FUNCTIONS(PVCAM_FN_TYPEDEF)
#undef PVCAM_FN_TYPEDEF

/* The resolved entry points of one loaded library (optional ones may be NULL). */
typedef struct pvcam_api {
#define PVCAM_FN_MEMBER(ret, name, args) name##_fn *name;
    PVCAM_FUNCTIONS(PVCAM_FN_MEMBER)
    PVCAM_OPTIONAL_FUNCTIONS(PVCAM_FN_MEMBER)
#undef PVCAM_FN_MEMBER
} pvcam_api;

/* Real prototypes, for the library that implements them (the fake). */
#ifdef PVCAM_SDK_DECLARE_FUNCTIONS
#ifndef PVCAM_SDK_EXPORT
#define PVCAM_SDK_EXPORT
#endif
#define PVCAM_FN_DECL(ret, name, args) PVCAM_SDK_EXPORT ret name args;
PVCAM_FUNCTIONS(PVCAM_FN_DECL)
PVCAM_OPTIONAL_FUNCTIONS(PVCAM_FN_DECL)
#undef PVCAM_FN_DECL
#endif

#endif
