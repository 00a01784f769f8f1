/* server/rpc_workers.h - the threads that run unary handlers, off the
 * completion-queue thread (docs/architecture.md §8, "Unary calls").
 *
 * A fixed number of threads ([limits] workers, 2..64, default 4) take calls
 * from two bounded FIFO lanes:
 *  - control: methods that change state (daq_rpc_method.audit: StartStream,
 *    StopStream, SetParameter, recordings ...).  They may reach hardware
 *    and take seconds (an 8192 x 8192 camera start prefaults gigabytes), so
 *    at most threads - 1 of them run at once: one thread is always left
 *    for reads.
 *  - read: everything else.  Reads never wait for a start (camera.c answers
 *    them from a snapshot while the camera starts; the engine's statistics
 *    never wait for a prefault), so one free thread answers them at once.
 * A free thread takes a read before a control call.
 *
 * Both lanes together hold at most DAQ_RPC_QUEUE_MAX calls; the next is
 * answered RESOURCE_EXHAUSTED "server busy: N calls queued" at once by the
 * dispatcher.  Ownership: a queued call holds one internal reference (taken
 * by daq_rpc_workers_submit), dropped by the worker after the call ran.
 */
#ifndef DAQ_SERVER_RPC_WORKERS_H
#define DAQ_SERVER_RPC_WORKERS_H

#include <stdbool.h>
#include <stdint.h>

#include "server/rpc_internal.h"

/* 256 queued calls: a queued call holds a gRPC call and its request (small:
 * the requests are ids and names).  Quick calls take well under 1 ms, so a
 * full read lane drains in tens of ms on 4 threads; a client that sends
 * more than that without waiting for answers is told so instead of making
 * every other client's calls wait behind its backlog. */
#define DAQ_RPC_QUEUE_MAX 256u

typedef struct daq_rpc_workers daq_rpc_workers;

/* Runs one call on a worker thread; the worker drops the queue's reference
 * afterwards. */
typedef void (*daq_rpc_run_fn)(daq_rpc_call *c);

/* Starts n threads (at least 2: one is reserved for reads) named
 * "daq-rpc-wN".  NULL only if not even 2 threads could start (err). */
daq_rpc_workers *daq_rpc_workers_start(uint32_t n, daq_rpc_run_fn run, char *err, size_t err_len);

/* Queues c on its lane (control when c's method is audited) with a
 * reference of its own.  false when the queue is full: nothing queued. */
bool daq_rpc_workers_submit(daq_rpc_workers *w, daq_rpc_call *c);

/* Calls queued now (both lanes), for the "server busy" message. */
uint32_t daq_rpc_workers_queued(daq_rpc_workers *w);

/* Lets the threads finish what is queued and running, joins them, frees.
 * The caller makes sure no call is submitted any more.  NULL ok. */
void daq_rpc_workers_stop(daq_rpc_workers *w);

#endif
