/* camera/trigger_track.h - the bookkeeping behind daq_trigger_stats: which
 * trigger indices a camera knows, which got their frames in time, which
 * were missed (daq/trigger.h states the identities it keeps).
 *
 * A window of the last TRACK_WINDOW indices, each with its deadline and its
 * frame count.  Indices are learned in order -- from accepted software
 * triggers, or in the external modes from the frames themselves (an index
 * that jumps means the pulses between were missed).  Deadlines grow with the
 * index, so expiry walks forward from the oldest pending index and stops at
 * the first one still in time: O(1) per frame amortised, no thread, no
 * timer -- whoever looks (a frame, a trigger, a stats snapshot) expires what
 * is due.  4096 indices cover 4 s of triggers at 1 kHz with the default
 * 1 s timeout; an index pushed out of the window while pending is missed.
 *
 * Thread-safe: one mutex (a leaf), taken once per triggered frame and per
 * trigger; untriggered frames (index 0) never reach it.
 */
#ifndef DAQ_TRIGGER_TRACK_H
#define DAQ_TRIGGER_TRACK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "daq/frame.h"
#include "daq/trigger.h"

#define TRACK_WINDOW 4096u

typedef struct track_entry {
    uint64_t deadline_ns;
    uint32_t frames;
    uint8_t state; /* TRACK_PENDING, TRACK_ANSWERED, TRACK_MISSED */
} track_entry;

typedef struct daq_trigger_track {
    pthread_mutex_t mu;
    daq_trigger_config cfg;
    bool external;           /* indices are learned from frames */
    uint64_t base;           /* lowest index in the window; 0: nothing learned since reset */
    uint64_t newest;         /* highest index learned */
    uint64_t oldest_pending; /* expiry's cursor */
    daq_trigger_stats st;    /* counters cumulative over the camera's life; mode and
                              * armed those of the current (or last) stream */
    track_entry win[TRACK_WINDOW];
} daq_trigger_track;

void daq_trigger_track_init(daq_trigger_track *t);
void daq_trigger_track_destroy(daq_trigger_track *t);
/* A new stream in cfg's mode (armed unless internal): what is still
 * pending is missed, indices start over. */
void daq_trigger_track_reset(daq_trigger_track *t, const daq_trigger_config *cfg);
/* The stream ended (or its start failed): what is still pending is
 * missed, and the camera is no longer armed. */
void daq_trigger_track_end(daq_trigger_track *t);
/* A software trigger was sent: accepted with its index, or ignored. */
void daq_trigger_track_sent(daq_trigger_track *t, bool accepted, uint64_t index, uint64_t now_ns);
/* A frame carrying index (> 0) arrived at now_ns; returns the frame flags
 * it earns (DAQ_FRAME_FLAG_TRIGGER_EXTRA beyond frames_per_trigger). */
uint32_t daq_trigger_track_frame(daq_trigger_track *t, uint64_t index, uint64_t now_ns);
/* Expires what is due at now_ns and copies the counters into out. */
void daq_trigger_track_stats(daq_trigger_track *t, uint64_t now_ns, daq_trigger_stats *out);

#endif
