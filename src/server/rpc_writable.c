/* server/rpc_writable.c - daq_rpc_stream_wait_writable: the producer side's
 * way to take a frame only when it can go out at once (see rpc.h).  Waits on
 * the same condvar the write completion and the close signal. */
#include <errno.h>

#include "server/rpc_internal.h"
#include "util/clock.h"

int daq_rpc_stream_wait_writable(daq_rpc_call *c, int64_t timeout_ns)
{
    uint64_t deadline = timeout_ns < 0 ? 0 : daq_now_ns() + (uint64_t)timeout_ns;
    pthread_mutex_lock(&c->mu);
    int rc = DAQ_RPC_SENT;
    for (;;) {
        if (c->closed || c->finish_requested || atomic_load(&c->srv->stopping)) {
            rc = DAQ_RPC_CLOSED;
            break;
        }
        if (!c->write_busy)
            break;
        int w = timeout_ns < 0 ? pthread_cond_wait(&c->cv, &c->mu)
                               : daq_cond_wait_until(&c->cv, &c->mu, deadline);
        if (w == ETIMEDOUT) {
            rc = c->write_busy ? DAQ_RPC_BUSY : DAQ_RPC_SENT;
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}
