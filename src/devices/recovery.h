/* devices/recovery.h - what the device table and the recovery thread share
 * (libdaq-internal; the public side is in daq/devices.h).
 *
 * Each device carries one devices_rec, the recovery's record of it: the
 * phase of its outage, the backoff, the counters.  The recovery thread
 * (recovery.c) is the only writer of the phase and the figures; the
 * client-side hooks (daq_device_stream_start/stop, a failed autostart)
 * write only the wishes (stopped, frame_limit, start_failed).  Everything
 * is under the record's own mutex, taken before nothing but the log's:
 * health checks, scrapes and stream control never wait for an attempt
 * (which runs without it).
 *
 * devices.c's helpers below (module-internal, hence devices_) give
 * recovery.c the table's insides without their layout: the record of a
 * device, the table's slot for the recovery handle, its configuration
 * copy, and "bring this device up".
 */
#ifndef DAQ_DEVICES_RECOVERY_H
#define DAQ_DEVICES_RECOVERY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "daq/devices.h"

typedef enum devices_rec_phase {
    DEVICES_REC_FINE = 0, /* up and not in error, or not wanted back (stopped by a client) */
    DEVICES_REC_WAITING,  /* in an outage, waiting for next_ns */
    DEVICES_REC_TRYING,   /* an attempt runs (outside the mutex) */
    DEVICES_REC_GAVE_UP,  /* max_attempts failed; a client may still start an engine that exists */
} devices_rec_phase;

typedef struct devices_rec {
    pthread_mutex_t mu;
    /* Wishes: written by the client-side hooks. */
    bool autostart;       /* fixed: an absent device starts streaming once up */
    bool stopped;         /* a client stopped it: do not resume (cleared by a start) */
    bool start_failed;    /* autostart failed: retry like a failed stream */
    uint64_t frame_limit; /* of the last start through daq_device_stream_start */
    /* The recovery thread's. */
    devices_rec_phase phase;
    bool resume;           /* start streaming once back */
    uint64_t resume_limit; /* frames left of a limited stream (0 = unlimited) */
    uint32_t attempts;     /* failed attempts in this outage */
    uint32_t streak;       /* failed attempts and outages since the device was last stable */
    uint64_t down_since_ns, next_ns, up_since_ns;
    double fps_at_loss; /* delivery rate of the stream that failed */
    uint64_t recovered, failed, outages, downtime_ns, frames_missed;
    char error[256]; /* the latest failed attempt's reason */
} devices_rec;

void devices_rec_init(devices_rec *r, bool autostart);
void devices_rec_destroy(devices_rec *r);
/* An autostart that failed at start: recovery retries it. */
void devices_rec_start_failed(devices_rec *r);

/* devices.c's, for recovery.c.  Borrowed pointers, valid until
 * daq_devices_destroy. */
typedef struct devices_recovery devices_recovery;
devices_rec *devices_rec_of(daq_device *d);
devices_recovery **devices_recovery_slot(daq_devices *ds); /* the table's slot for the handle */
const daq_config *devices_config(const daq_devices *ds);
/* Builds the camera of a device that is down from the configuration and
 * opens it under a new engine; -1 with why (the device stays down). */
int devices_device_up(daq_devices *ds, daq_device *d, char *why, size_t why_len);

#endif
