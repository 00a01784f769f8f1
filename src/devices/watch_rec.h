/* devices/watch_rec.h - what the device table and the symptom watch share
 * (libdaq-internal; the public side is daq/watch.h).
 *
 * Each device carries one devices_watch_rec: the symptoms and the
 * automatic rollback as the watch thread last published them, under the
 * record's own mutex (held for a copy only), so scrapes and GetDeviceState
 * never wait for a sampling tick.  The table carries the RSS timeline
 * ring and the rollback hook the same way.  Both outlive the watch thread (readers after a stop
 * see its last figures) and are freed with the table.
 */
#ifndef DAQ_DEVICES_WATCH_REC_H
#define DAQ_DEVICES_WATCH_REC_H

#include <pthread.h>

#include "daq/watch.h"

typedef struct devices_watch_rec {
    pthread_mutex_t mu;
    daq_symptom_state sym[DAQ_SYMPTOM_COUNT];
    daq_device_rollback rb;
} devices_watch_rec;

/* The table's: the RSS timeline and the rollback hook, under mu. */
typedef struct devices_watch_shared {
    pthread_mutex_t mu;
    size_t head, n; /* oldest at head */
    daq_rss_point pts[DAQ_WATCH_RSS_POINTS];
    daq_rollback_hook hook; /* NULL: none */
    void *hook_ctx;
} devices_watch_shared;

void devices_watch_rec_init(devices_watch_rec *r);
void devices_watch_rec_destroy(devices_watch_rec *r);

/* devices.c's, for watch.c.  Borrowed, valid until daq_devices_destroy. */
typedef struct devices_watch devices_watch;
devices_watch_rec *devices_watch_rec_of(daq_device *d);
devices_watch **devices_watch_slot(daq_devices *ds); /* the table's slot for the thread */
devices_watch_shared *devices_watch_shared_of(daq_devices *ds);

#endif
