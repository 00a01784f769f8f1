/* server/stream_set.h - the threads that serve streaming calls.
 *
 * Each streaming call (StreamFrames, StreamParameterChanges) is served by a
 * thread of its own.  A stream set starts them, counts them per client host
 * (for the per-client stream limit), reaps the finished ones as new ones
 * start, and joins the rest at shutdown -- one mechanism for every kind of
 * stream.
 *
 * Ownership: the set owns its entries; body(state) owns state and must
 * free it before returning.
 */
#ifndef DAQ_SERVER_STREAM_SET_H
#define DAQ_SERVER_STREAM_SET_H

#include <stddef.h>

typedef struct daq_stream_set daq_stream_set;

daq_stream_set *daq_stream_set_create(void);

/* Starts body(state) on a new thread, unless host already has max_per_host
 * running streams (max_per_host 0: no limit).  Returns 0, or -1 with a
 * message (then body does not run and the caller still owns state). */
int daq_stream_set_spawn(daq_stream_set *set, const char *host, unsigned max_per_host,
                         void (*body)(void *state), void *state, char *err, size_t err_len);

/* Joins every thread (their calls must be closing) and frees the set. */
void daq_stream_set_destroy(daq_stream_set *set);

#endif
