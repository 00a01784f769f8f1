/* tests/support/test_consumer.h - a bus consumer on its own thread, for
 * tests that stream through the engine and check every frame.
 *
 * The loop is the same everywhere (take the next frame, check it, maybe
 * sleep to play a slow consumer, drop it; stop at end of stream or when the
 * bus stays silent for wait_ns); what differs is the check, which the test
 * passes as on_frame with its own state as owner.
 */
#ifndef DAQ_TEST_CONSUMER_H
#define DAQ_TEST_CONSUMER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "daq/bus.h"
#include "daq/frame.h"
#include "test_main.h"

typedef struct daq_test_consumer {
    daq_sub *sub; /* owned: unsubscribed by daq_test_consumer_join */
    pthread_t thread;
    /* Called on the consumer thread for every frame (borrowed for the call). */
    void (*on_frame)(void *owner, const daq_frame *f);
    void *owner;       /* the test's per-consumer state, borrowed */
    unsigned sleep_ms; /* after each frame: a slow consumer */
    int64_t wait_ns;   /* a bus silent this long ends the loop */
    bool eos;          /* the loop ended on the stream's end of stream */
} daq_test_consumer;

static inline void *daq_test_consume(void *arg)
{
    daq_test_consumer *tc = arg;
    for (;;) {
        daq_frame *f;
        int r = daq_sub_next(tc->sub, tc->wait_ns, &f);
        if (r == DAQ_SUB_EOS)
            tc->eos = true;
        if (r != DAQ_SUB_FRAME)
            return NULL;
        tc->on_frame(tc->owner, f);
        if (tc->sleep_ms)
            usleep(tc->sleep_ms * 1000);
        daq_frame_unref(f);
    }
}

/* Subscribes with sc (sc->name etc. borrowed for the call) and starts the
 * thread; a failed subscription fails the test. */
static inline void daq_test_consumer_start(daq_test_consumer *tc, daq_bus *bus,
                                           const daq_sub_config *sc,
                                           void (*on_frame)(void *, const daq_frame *), void *owner,
                                           unsigned sleep_ms, int64_t wait_ns)
{
    memset(tc, 0, sizeof *tc);
    char err[256];
    tc->sub = daq_bus_subscribe(bus, sc, err, sizeof err);
    if (!tc->sub)
        fail_msg("subscribe: %s", err);
    tc->on_frame = on_frame;
    tc->owner = owner;
    tc->sleep_ms = sleep_ms;
    tc->wait_ns = wait_ns;
    pthread_create(&tc->thread, NULL, daq_test_consume, tc);
}

/* Joins the thread (after end of stream or silence) and unsubscribes. */
static inline void daq_test_consumer_join(daq_test_consumer *tc, daq_bus *bus)
{
    pthread_join(tc->thread, NULL);
    daq_bus_unsubscribe(bus, tc->sub);
}

#endif
