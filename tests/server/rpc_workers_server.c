/* tests/server/rpc_workers_server.c - a gRPC server for tests/server/
 * test_rpc_workers.py: how the worker pool (src/server/rpc_workers.c)
 * shares its threads between slow calls that change state and quick reads.
 *
 *   rpc_workers_server WORKERS    prints "port=<n>" when ready; SIGTERM stops
 *                                 it and prints "stopped ms=<stop time>
 *                                 released=all|INCOMPLETE"
 *
 * Methods (raw bytes, no protobuf):
 *   /t.W/Slow   audit (the control lane): sleeps the little-endian uint32 ms
 *               of its request, answers the number of Slow calls running
 *               at its start (uint32) -- the lane's bound seen from inside
 *   /t.W/Quick  a read: answers at once with the number of Slow calls
 *               running (uint32)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/rpc.h"
#include "util/clock.h"

static atomic_uint slow_running;

static void answer_u32(daq_rpc_reply *r, uint32_t v)
{
    r->body = malloc(4);
    if (!r->body) {
        r->status = DAQ_RPC_INTERNAL;
        return;
    }
    memcpy(r->body, &v, 4);
    r->len = 4;
}

static void slow(void *ctx, const uint8_t *req, size_t len, daq_rpc_reply *r)
{
    uint32_t ms = 0;
    if (len >= 4)
        memcpy(&ms, req, 4);
    uint32_t running = atomic_fetch_add(&slow_running, 1) + 1;
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
    atomic_fetch_sub(&slow_running, 1);
    answer_u32(r, running);
}

static void quick(void *ctx, const uint8_t *req, size_t len, daq_rpc_reply *r)
{
    answer_u32(r, atomic_load(&slow_running));
}

int main(int argc, char **argv)
{
    sigset_t stop_sigs;
    sigemptyset(&stop_sigs);
    sigaddset(&stop_sigs, SIGTERM);
    sigaddset(&stop_sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_sigs, NULL); /* every thread inherits it */

    daq_rpc_opts o;
    daq_rpc_opts_init(&o);
    o.workers = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 4;
    const daq_rpc_method m[] = {
        {.path = "/t.W/Slow", .unary = slow, .audit = true},
        {.path = "/t.W/Quick", .unary = quick},
    };
    char err[256];
    daq_rpc_server *s = daq_rpc_server_start_opts(&o, m, 2, err, sizeof err);
    if (!s) {
        fprintf(stderr, "rpc_workers_server: %s\n", err);
        return 2;
    }
    printf("port=%u\n", (unsigned)daq_rpc_server_port(s));
    fflush(stdout);

    int sig = 0;
    sigwait(&stop_sigs, &sig);
    uint64_t t0 = daq_now_ns();
    daq_rpc_server_stop(s);
    uint64_t ms = (daq_now_ns() - t0) / 1000000;
    daq_rpc_counters k;
    daq_rpc_counters_snapshot(&k);
    bool ok = k.states_created == k.states_freed && k.calls == k.calls_done;
    printf("stopped ms=%llu released=%s\n", (unsigned long long)ms, ok ? "all" : "INCOMPLETE");
    fflush(stdout);
    return ok ? 0 : 1;
}
