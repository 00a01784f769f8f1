/* tests/server/rpc_test_server.c - daq_rpc_server with the health service
 * and test methods, driven by tests/server/test_rpc.py.
 *
 *   rpc_test_server [PORT]     listens on 127.0.0.1:PORT (default 0),
 *                              prints "port=<n>" when ready
 *
 * SIGTERM/SIGINT stop the server; it then prints its counters and exits 0
 * only if every call state, call and message body was released, every
 * producer thread ended and no Watch is left.  A failed start prints the
 * server's message on stderr and exits 2.
 *
 * Test methods (package daq.test, raw bytes, no protobuf needed):
 *   Echo    unary: the request bytes back (tests send HealthCheckRequest).
 *   Stream  server-streaming; request = 3 little-endian u32: count (0 =
 *           until the client goes), size, send timeout in ms (0 = wait
 *           forever).  Message seq = an 8-byte LE seq head (copied) plus a
 *           body of `size` bytes, body[i] = (i + seq) & 0xff, sent
 *           zero-copy from a malloc'd buffer freed by its release callback.
 *           On BUSY the producer keeps the body and retries (counted).
 *   Hang    server-streaming: sends nothing, waits until the call closes.
 *   Forget  server-streaming: accepts and drops its reference at once (the
 *           server must end the stream with INTERNAL).
 *   Reject  server-streaming: refuses with FAILED_PRECONDITION.
 *   Stats   unary: "key=value ..." counters as text.
 * Every streaming method runs its producer on a thread of its own; all are
 * joined after the server stopped.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/health.h"
#include "server/rpc.h"

#define MAX_SIZE   (64u << 20)
#define MAX_MSG    (100u << 20)
#define MAX_THREAD 4096

static _Atomic uint64_t bodies_alloc, bodies_released, busy_returns, producers_running;
static uint8_t *pattern; /* MAX_SIZE + 256 bytes: pattern[i] = i & 0xff */
static daq_health *health;

static pthread_mutex_t threads_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_t threads[MAX_THREAD];
static size_t n_threads;

typedef struct producer {
    daq_rpc_call *call;
    uint32_t count, size, timeout_ms;
    void (*run)(struct producer *p);
} producer;

static void *producer_main(void *arg)
{
    producer *p = arg;
    p->run(p);
    daq_rpc_call_unref(p->call);
    free(p);
    atomic_fetch_sub(&producers_running, 1);
    return NULL;
}

/* Starts p on a thread of its own; false (p not taken) if none is left. */
static bool spawn(producer *p)
{
    pthread_mutex_lock(&threads_mu);
    bool ok = n_threads < MAX_THREAD;
    if (ok) {
        atomic_fetch_add(&producers_running, 1);
        ok = pthread_create(&threads[n_threads], NULL, producer_main, p) == 0;
        if (ok)
            n_threads++;
        else
            atomic_fetch_sub(&producers_running, 1);
    }
    pthread_mutex_unlock(&threads_mu);
    return ok;
}

static void join_all(void)
{
    pthread_mutex_lock(&threads_mu);
    for (size_t i = 0; i < n_threads; i++)
        pthread_join(threads[i], NULL);
    n_threads = 0;
    pthread_mutex_unlock(&threads_mu);
}

static uint32_t get_u32(const uint8_t *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* ---- Stream ------------------------------------------------------------------------ */

static void body_release(void *ctx)
{
    free(ctx);
    atomic_fetch_add(&bodies_released, 1);
}

static void run_stream(producer *p)
{
    int64_t timeout = p->timeout_ms ? (int64_t)p->timeout_ms * 1000000 : -1;
    for (uint64_t seq = 0; p->count == 0 || seq < p->count; seq++) {
        uint8_t head[8];
        for (int i = 0; i < 8; i++)
            head[i] = (uint8_t)(seq >> (8 * i));
        uint8_t *body = p->size ? malloc(p->size) : NULL;
        if (body) {
            memcpy(body, pattern + (seq & 0xff), p->size);
            atomic_fetch_add(&bodies_alloc, 1);
        }
        daq_rpc_msg m = {.head = head,
                         .head_len = sizeof head,
                         .body = body,
                         .body_len = p->size,
                         .body_release = body_release,
                         .body_ctx = body};
        int rc;
        while ((rc = daq_rpc_stream_send(p->call, &m, timeout)) == DAQ_RPC_BUSY)
            atomic_fetch_add(&busy_returns, 1); /* still ours: try again */
        if (rc == DAQ_RPC_CLOSED)
            return;
    }
    daq_rpc_stream_finish(p->call, DAQ_RPC_OK, NULL);
}

static int start_stream(void *ctx, daq_rpc_call *c, const uint8_t *req, size_t len, char *details,
                        size_t details_len)
{
    if (len != 12) {
        snprintf(details, details_len, "Stream wants 12 bytes, got %zu", len);
        return DAQ_RPC_INVALID_ARGUMENT;
    }
    producer *p = calloc(1, sizeof *p);
    p->call = c;
    p->count = get_u32(req);
    p->size = get_u32(req + 4);
    p->timeout_ms = get_u32(req + 8);
    p->run = run_stream;
    if (p->size > MAX_SIZE) {
        free(p);
        snprintf(details, details_len, "size above %u", MAX_SIZE);
        return DAQ_RPC_INVALID_ARGUMENT;
    }
    if (!spawn(p)) {
        free(p);
        snprintf(details, details_len, "no thread");
        return DAQ_RPC_RESOURCE_EXHAUSTED;
    }
    return DAQ_RPC_OK;
}

/* ---- Hang, Forget, Reject ------------------------------------------------------------- */

static void run_hang(producer *p)
{
    daq_rpc_stream_wait_closed(p->call, -1);
    daq_rpc_stream_finish(p->call, DAQ_RPC_OK, NULL); /* harmless on a closed call */
}

static int start_hang(void *ctx, daq_rpc_call *c, const uint8_t *req, size_t len, char *details,
                      size_t details_len)
{
    producer *p = calloc(1, sizeof *p);
    p->call = c;
    p->run = run_hang;
    if (!spawn(p)) {
        free(p);
        snprintf(details, details_len, "no thread");
        return DAQ_RPC_RESOURCE_EXHAUSTED;
    }
    return DAQ_RPC_OK;
}

static int start_forget(void *ctx, daq_rpc_call *c, const uint8_t *req, size_t len, char *details,
                        size_t details_len)
{
    daq_rpc_call_unref(c);
    return DAQ_RPC_OK;
}

static int start_reject(void *ctx, daq_rpc_call *c, const uint8_t *req, size_t len, char *details,
                        size_t details_len)
{
    snprintf(details, details_len, "rejected");
    return DAQ_RPC_FAILED_PRECONDITION;
}

/* ---- unary --------------------------------------------------------------------------- */

static void echo(void *ctx, const uint8_t *req, size_t len, daq_rpc_reply *reply)
{
    reply->body = malloc(len ? len : 1);
    memcpy(reply->body, req, len);
    reply->len = len;
}

static int format_stats(char *buf, size_t cap)
{
    daq_rpc_counters k;
    daq_rpc_counters_snapshot(&k);
    return snprintf(
        buf, cap,
        "calls=%llu calls_done=%llu live_calls=%llu states_created=%llu "
        "states_freed=%llu unimplemented=%llu streams=%llu bodies_alloc=%llu "
        "bodies_released=%llu bodies_out=%llu busy=%llu producers=%llu watchers=%zu",
        (unsigned long long)k.calls, (unsigned long long)k.calls_done,
        (unsigned long long)(k.calls - k.calls_done), (unsigned long long)k.states_created,
        (unsigned long long)k.states_freed, (unsigned long long)k.unimplemented,
        (unsigned long long)k.streams, (unsigned long long)atomic_load(&bodies_alloc),
        (unsigned long long)atomic_load(&bodies_released),
        (unsigned long long)(atomic_load(&bodies_alloc) - atomic_load(&bodies_released)),
        (unsigned long long)atomic_load(&busy_returns),
        (unsigned long long)atomic_load(&producers_running), daq_health_watchers(health));
}

static void stats(void *ctx, const uint8_t *req, size_t len, daq_rpc_reply *reply)
{
    char buf[1024];
    int n = format_stats(buf, sizeof buf);
    reply->body = malloc((size_t)n);
    memcpy(reply->body, buf, (size_t)n);
    reply->len = (size_t)n;
}

/* ---- main ------------------------------------------------------------------------------ */

static size_t methods(daq_rpc_method *m, size_t max)
{
    size_t n = daq_health_methods(health, m, max);
    m[n++] = (daq_rpc_method){.path = "/daq.test.Test/Echo", .unary = echo};
    m[n++] = (daq_rpc_method){.path = "/daq.test.Test/Stats", .unary = stats};
    m[n++] = (daq_rpc_method){.path = "/daq.test.Test/Stream", .stream = start_stream};
    m[n++] = (daq_rpc_method){.path = "/daq.test.Test/Hang", .stream = start_hang};
    m[n++] = (daq_rpc_method){.path = "/daq.test.Test/Forget", .stream = start_forget};
    m[n++] = (daq_rpc_method){.path = "/daq.test.Test/Reject", .stream = start_reject};
    return n;
}

static bool all_released(void)
{
    daq_rpc_counters k;
    daq_rpc_counters_snapshot(&k);
    return k.states_created == k.states_freed && k.calls == k.calls_done &&
           atomic_load(&bodies_alloc) == atomic_load(&bodies_released) &&
           atomic_load(&producers_running) == 0 && daq_health_watchers(health) == 0;
}

int main(int argc, char **argv)
{
    uint16_t port = argc > 1 ? (uint16_t)strtoul(argv[1], NULL, 10) : 0;
    sigset_t stop_sigs;
    sigemptyset(&stop_sigs);
    sigaddset(&stop_sigs, SIGTERM);
    sigaddset(&stop_sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_sigs, NULL); /* every thread inherits it */

    pattern = malloc(MAX_SIZE + 256);
    for (size_t i = 0; i < MAX_SIZE + 256; i++)
        pattern[i] = (uint8_t)i;
    health = daq_health_create(false);

    daq_rpc_method m[16];
    size_t n = methods(m, 16);
    char err[256];
    daq_rpc_server *s = daq_rpc_server_start("127.0.0.1", port, m, n, MAX_MSG, err, sizeof err);
    if (!s) {
        fprintf(stderr, "rpc_test_server: %s\n", err);
        daq_health_destroy(health);
        free(pattern);
        return 2;
    }
    printf("port=%u\n", (unsigned)daq_rpc_server_port(s));
    fflush(stdout);

    int sig = 0;
    sigwait(&stop_sigs, &sig);
    daq_rpc_server_stop(s);
    join_all();

    char buf[1024];
    format_stats(buf, sizeof buf);
    bool ok = all_released();
    printf("stopped %s %s\n", buf, ok ? "released=all" : "released=INCOMPLETE");
    fflush(stdout);
    daq_health_destroy(health);
    free(pattern);
    return ok ? 0 : 1;
}
