/* daq/trigger.h - the trigger model every camera shares (ADR 0011).
 *
 * One model in the camera layer, not one per driver: a driver reports the
 * modes it has as a bit set (daq_camera_ops.trigger_modes), and camera.c
 * turns that into the parameters every camera gets -- trigger.mode (an enum
 * listing exactly the supported modes, so an unsupported one is refused with
 * the list by the ordinary enum check), trigger.frames_per_trigger,
 * trigger.timeout_ms and the read-only trigger.armed.
 *
 * "Armed" is not a separate driver state: a camera whose trigger.mode is not
 * internal starts streaming in that mode and then waits for triggers, so
 * armed == streaming && mode != internal.  Arming a camera that streams
 * restarts it (PVCAM fixes exp_mode at pl_exp_setup_cont).
 *
 * Indices: every trigger a camera acts on has a 1-based trigger_index,
 * counted from the start of the stream; every frame it produced for that
 * trigger carries the index (daq_frame_meta.trigger_index), so frames and
 * triggers can be matched one by one, and across cameras on one line.
 *
 * Counters (daq_trigger_stats) obey identities that tests assert exactly:
 *     sent == accepted + ignored              (software triggers)
 *     seen == answered + missed + pending     (every index the camera knows)
 * A trigger is answered when its frames_per_trigger frames arrived within
 * trigger.timeout_ms of it; missed when its deadline passed first, or when a
 * later index arrived while it had none (external modes, where the host
 * learns of triggers only from frames).  Frames beyond frames_per_trigger
 * for one index count as frames_extra and mark the trigger doubled; a frame
 * for an index already declared missed counts as frames_late.  In the
 * *_first modes one trigger starts a free-running sequence: it is answered
 * by its first frame and the rest of the sequence is neither extra nor late.
 */
#ifndef DAQ_TRIGGER_H
#define DAQ_TRIGGER_H

#include <stdbool.h>
#include <stdint.h>

#include "daq/api.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum daq_trigger_mode {
    DAQ_TRIGGER_INTERNAL = 0,   /* free-running at the camera's own rate */
    DAQ_TRIGGER_SOFTWARE,       /* frames_per_trigger frames per software trigger */
    DAQ_TRIGGER_SOFTWARE_FIRST, /* one software trigger starts a free-running sequence */
    DAQ_TRIGGER_EXTERNAL_EDGE,  /* frames_per_trigger frames per edge on the line */
    DAQ_TRIGGER_EXTERNAL_FIRST, /* one edge starts a free-running sequence */
    DAQ_TRIGGER_EXTERNAL_LEVEL, /* exposes while the line is high */
    DAQ_TRIGGER_MODE_COUNT
} daq_trigger_mode;

#define DAQ_TRIGGER_BIT(m) (1u << (m))
#define DAQ_TRIGGER_SOFTWARE_BITS                                                                  \
    (DAQ_TRIGGER_BIT(DAQ_TRIGGER_SOFTWARE) | DAQ_TRIGGER_BIT(DAQ_TRIGGER_SOFTWARE_FIRST))

/* "internal", "software", "software_first", "external_edge",
 * "external_first", "external_level" (static storage); "?" out of range. */
DAQ_API const char *daq_trigger_mode_name(daq_trigger_mode m);
/* The mode called name, or -1. */
DAQ_API int daq_trigger_mode_parse(const char *name);
/* true for the two software modes (daq_camera_trigger applies). */
DAQ_API bool daq_trigger_mode_is_software(daq_trigger_mode m);
/* true for the *_first modes (one trigger, then free-running). */
DAQ_API bool daq_trigger_mode_is_first(daq_trigger_mode m);

#define DAQ_TRIGGER_FPT_MAX            65535u
#define DAQ_TRIGGER_TIMEOUT_MS_DEFAULT 1000u
#define DAQ_TRIGGER_TIMEOUT_MS_MAX     3600000u

/* The settings a driver's start reads (daq_camera_trigger_config). */
typedef struct daq_trigger_config {
    daq_trigger_mode mode;
    uint32_t frames_per_trigger; /* 1..DAQ_TRIGGER_FPT_MAX; not for *_first and level */
    uint32_t timeout_ms;         /* the "missed" threshold */
} daq_trigger_config;

typedef enum daq_trigger_result {
    DAQ_TRIGGER_TRIGGERED = 0, /* the camera took it (PVCAM PL_SW_TRIG_STATUS_TRIGGERED) */
    DAQ_TRIGGER_IGNORED = 1,   /* the camera said no (busy, sequence already running, ...) */
} daq_trigger_result;

/* What one software trigger got. */
typedef struct daq_trigger_answer {
    daq_trigger_result result;
    uint64_t index;   /* TRIGGERED: the trigger_index its frames will carry */
    char reason[128]; /* IGNORED: the SDK's or driver's reason */
} daq_trigger_answer;

typedef struct daq_trigger_stats {
    daq_trigger_mode mode;            /* of the current (or last) stream */
    bool armed;                       /* streaming in a trigger mode now */
    uint64_t sent, accepted, ignored; /* software triggers */
    uint64_t seen;                    /* trigger indices known */
    uint64_t answered, missed, pending;
    uint64_t doubled;      /* triggers that got more than frames_per_trigger frames */
    uint64_t frames;       /* frames that carried a trigger index */
    uint64_t frames_extra; /* frames beyond frames_per_trigger */
    uint64_t frames_late;  /* frames for an index already declared missed */
} daq_trigger_stats;

#ifdef __cplusplus
}
#endif
#endif
