/* server/stream_set.h - how many streaming calls there are, and the
 * threads of those that still have one.
 *
 * Limits.  A daq_stream_limit admits streams of one kind against a total
 * and a per-client-host cap ([limits] streams = 8 and streams_per_client =
 * 3 for StreamFrames; subscribers = 4096 for StreamParameterChanges and
 * health Watch together, no per-host cap), so no number of clients can make
 * daqd hold more than the pools were sized for (docs/architecture.md §8).
 * A refusal is RESOURCE_EXHAUSTED with the numbers and is counted by
 * reason; process-wide counters (daq_stream_counts) feed /metrics.
 *
 * Threads.  StreamRecordingProgress (at most 8) still has a thread of its
 * own: a stream set starts them, reaps the finished ones as new ones start
 * and joins the rest at shutdown.  Frame streams and subscribers run on
 * the stream scheduler (stream_sched.h) and use only the limits.
 *
 * Ownership: the set owns its entries; body(state) owns state and must
 * free it before returning.  A limit copies its strings.
 */
#ifndef DAQ_SERVER_STREAM_SET_H
#define DAQ_SERVER_STREAM_SET_H

#include <stddef.h>
#include <stdint.h>

typedef struct daq_stream_set daq_stream_set;

daq_stream_set *daq_stream_set_create(void);

/* Starts body(state) on a new thread, unless host already has max_per_host
 * running streams (max_per_host 0: no limit).  Returns 0, or -1 with a
 * message (then body does not run and the caller still owns state). */
int daq_stream_set_spawn(daq_stream_set *set, const char *host, unsigned max_per_host,
                         void (*body)(void *state), void *state, char *err, size_t err_len);

/* Joins every thread (their calls must be closing) and frees the set. */
void daq_stream_set_destroy(daq_stream_set *set);

/* ---- limits -------------------------------------------------------------------- */

typedef struct daq_stream_limit daq_stream_limit;

/* Why a stream was refused (label reason of daq_grpc_streams_refused_total). */
typedef enum daq_stream_refusal {
    DAQ_REFUSED_TOTAL = 0,   /* "streams": [limits] streams reached */
    DAQ_REFUSED_PER_CLIENT,  /* "streams_per_client" */
    DAQ_REFUSED_SUBSCRIBERS, /* "subscribers": [limits] subscribers reached */
    DAQ_REFUSED_MESSAGE,     /* "message_size": a frame would not fit max_message_bytes */
    DAQ_REFUSED_N,
} daq_stream_refusal;

extern const char *const daq_stream_refusal_names[DAQ_REFUSED_N];

/* kind: "streams" (counted as frame streams) or "subscribers"; total >= 1;
 * per_host 0 = no per-host cap.  NULL when out of memory. */
daq_stream_limit *daq_stream_limit_create(const char *kind, unsigned total, unsigned per_host);
void daq_stream_limit_destroy(daq_stream_limit *l); /* NULL ok; all must have left */

/* Admits one stream of host: 0, or -1 with a message naming the limit and
 * the numbers ("StreamFrames: 8 streams open, the most in total ([limits]
 * streams = 8)"), counted as refused.  Each 0 needs one leave. */
int daq_stream_limit_enter(daq_stream_limit *l, const char *host, char *err, size_t err_len);
void daq_stream_limit_leave(daq_stream_limit *l, const char *host);
unsigned daq_stream_limit_open(const daq_stream_limit *l);

/* ---- process-wide counters (all servers), for /metrics ---------------------------- */

typedef struct daq_stream_counts {
    uint64_t streams_open;     /* StreamFrames calls being served */
    uint64_t subscribers_open; /* StreamParameterChanges + health Watch */
    uint64_t refused[DAQ_REFUSED_N];
    uint64_t stalled; /* streams ended because the client took nothing */
} daq_stream_counts;

void daq_stream_counts_snapshot(daq_stream_counts *out);
void daq_stream_count_refused(daq_stream_refusal why);
void daq_stream_count_stalled(void);

#endif
