/* bench/tap_iceoryx.c - `daq-bench-iceoryx`: Debian's iceoryx 2.0.3 moving
 * the tap's 8 MiB payloads, for the latency the tap is compared with
 * (issue 16: busy-poll p50 within 2x of iceoryx's on this machine).
 *
 * One run = two processes, like a tap reader and the daemon: this program
 * forks a publisher (child) and subscribes in the parent, each with its own
 * iceoryx runtime, against a RouDi that the caller (daq-bench tap) started
 * with an 8 MiB mempool (Debian's example config stops at 4 MiB chunks).
 * The publisher is the twin of the tap's source (sim camera in instant
 * timing -> engine -> pool slot): it loans a 2048x2048x16 chunk, fills all
 * 8 MiB by memcpy from a ring of 8 prefaulted frames (64 MiB, beyond the
 * caches, as the engine copies from the camera's ring), writes the
 * CLOCK_MONOTONIC time into the first 8 bytes and publishes -- as fast as
 * it can, or paced at --rate.  The subscriber takes each chunk, reads one
 * row (as the tap readers do) and records now - stamp:
 *   --mode busy     iox_sub_take_chunk in a loop (the tap's busy-poll twin)
 *   --mode waitset  iox_ws_timed_wait on HAS_DATA (its blocking twin)
 * The first 100 samples are warm-up.  Prints one JSON line:
 *   {"mode": "busy", "samples": N, "rate": .., "p50_ns": .., "p99_ns": ..,
 *    "lost": 0|1}
 * Bounded: --seconds of sampling (default 5), 10 s more for setup at most;
 * the publisher stops at SIGTERM or on its own after seconds + 10 and is
 * reaped (killed if it has not).  Exit 0 with samples, 1 otherwise.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "iceoryx_binding_c/publisher.h"
#include "iceoryx_binding_c/runtime.h"
#include "iceoryx_binding_c/subscriber.h"
#include "iceoryx_binding_c/types.h"
#include "iceoryx_binding_c/wait_set.h"

#define PAYLOAD   (2048u * 2048u * 2u)
#define ROW_BYTES (2048u * 2u)
#define WARMUP    100u
#define SRC_RING  8u
#define SERVICE   "daq-bench", "tap", "frames"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static volatile sig_atomic_t g_stop;

static void on_term(int sig)
{
    (void)sig;
    g_stop = 1;
}

/* The payload: the stamp in the first 8 bytes, a row pattern after it.
 * Stops at SIGTERM from the subscriber and leaves RouDi properly: a
 * publisher that just dies makes RouDi 2.0.3 log errors (and abort on
 * its own shutdown if the process is already gone). */
static void publisher(double seconds, double rate)
{
    struct sigaction sa = {.sa_handler = on_term};
    sigaction(SIGTERM, &sa, NULL);
    char name[64];
    snprintf(name, sizeof name, "daq-bench-pub-%d", (int)getpid());
    iox_runtime_init(name);
    iox_pub_options_t o;
    iox_pub_options_init(&o);
    iox_pub_storage_t storage;
    iox_pub_t pub = iox_pub_init(&storage, SERVICE, &o);
    uint64_t end = now_ns() + (uint64_t)((seconds + 10.0) * 1e9);
    while (!g_stop && !iox_pub_has_subscribers(pub) && now_ns() < end)
        usleep(1000);
    unsigned char *src[SRC_RING];
    for (unsigned r = 0; r < SRC_RING; r++) {
        src[r] = malloc(PAYLOAD);
        for (size_t k = 0; k < PAYLOAD; k++)
            src[r][k] = (unsigned char)(k * 2654435761u >> 13) ^ (unsigned char)r;
    }
    uint64_t period = rate > 0 ? (uint64_t)(1e9 / rate) : 0, next = now_ns();
    for (uint64_t i = 0; !g_stop && now_ns() < end; i++) {
        if (period) {
            next += period;
            struct timespec ts = {(time_t)(next / 1000000000ull), (long)(next % 1000000000ull)};
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        }
        void *p = NULL;
        if (iox_pub_loan_chunk(pub, &p, PAYLOAD) != AllocationResult_SUCCESS) {
            sched_yield(); /* every chunk out: the subscriber is behind */
            continue;
        }
        memcpy(p, src[i % SRC_RING], PAYLOAD);
        uint64_t t = now_ns();
        memcpy(p, &t, sizeof t);
        iox_pub_publish_chunk(pub, p);
    }
    for (unsigned r = 0; r < SRC_RING; r++)
        free(src[r]);
    iox_pub_deinit(pub);
    iox_runtime_shutdown();
}

static volatile unsigned g_sink;

/* One chunk taken: read its row, record the latency, release it. */
static void take(iox_sub_t sub, const void *p, uint64_t *lat, size_t cap, size_t *n, uint64_t *seen)
{
    uint64_t t = now_ns(), stamp;
    memcpy(&stamp, p, sizeof stamp);
    const unsigned char *b = p;
    unsigned sum = 0;
    for (unsigned k = 8; k < ROW_BYTES; k += 64)
        sum += b[k];
    g_sink = sum;
    iox_sub_release_chunk(sub, p);
    if (++*seen > WARMUP && *n < cap)
        lat[(*n)++] = t - stamp;
}

static int subscriber(bool busy, double seconds, double rate, pid_t child)
{
    char name[64];
    snprintf(name, sizeof name, "daq-bench-sub-%d", (int)getpid());
    iox_runtime_init(name);
    iox_sub_options_t o;
    iox_sub_options_init(&o);
    o.queueCapacity = 8;
    iox_sub_storage_t storage;
    iox_sub_t sub = iox_sub_init(&storage, SERVICE, &o);
    /* Unpaced, 8 MiB copies stay below 4,000/s on this machine (17 GB/s). */
    size_t cap = (size_t)(seconds * (rate > 0 ? rate * 1.2 : 4000)) + WARMUP + 16, n = 0;
    uint64_t *lat = malloc(cap * sizeof *lat), seen = 0;
    iox_ws_storage_t ws_storage;
    iox_ws_t ws = NULL;
    if (!busy) {
        ws = iox_ws_init(&ws_storage);
        iox_ws_attach_subscriber_state(ws, sub, SubscriberState_HAS_DATA, 1, NULL);
    }
    uint64_t start = now_ns(), setup_end = start + 10000000000ull, end = 0, t_first = 0;
    while (true) {
        uint64_t t = now_ns();
        if (end == 0 && seen > WARMUP) {
            t_first = t;
            end = t + (uint64_t)(seconds * 1e9);
        }
        if ((end && t >= end) || (!end && t >= setup_end))
            break;
        if (!busy) {
            iox_notification_info_t info[2];
            uint64_t missed = 0;
            struct timespec to = {0, 100000000};
            iox_ws_timed_wait(ws, to, info, 2, &missed);
        }
        const void *p = NULL;
        while (iox_sub_take_chunk(sub, &p) == ChunkReceiveResult_SUCCESS)
            take(sub, p, lat, cap, &n, &seen);
    }
    double secs = (double)(now_ns() - t_first) / 1e9;
    bool lost = iox_sub_has_lost_chunks(sub);
    if (ws) {
        iox_ws_detach_subscriber_state(ws, sub, SubscriberState_HAS_DATA);
        iox_ws_deinit(ws);
    }
    iox_sub_deinit(sub);
    iox_runtime_shutdown();
    kill(child, SIGTERM);
    for (int i = 0; i < 300 && waitpid(child, NULL, WNOHANG) == 0; i++)
        usleep(10000);
    if (waitpid(child, NULL, WNOHANG) == 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
    }
    if (n == 0) {
        fprintf(stderr, "daq-bench-iceoryx: no sample within 10 s (is iox-roudi running?)\n");
        free(lat);
        return 1;
    }
    qsort(lat, n, sizeof *lat, cmp_u64);
    printf("{\"mode\": \"%s\", \"samples\": %zu, \"rate\": %.1f, \"p50_ns\": %llu, "
           "\"p99_ns\": %llu, \"lost\": %d}\n",
           busy ? "busy" : "waitset", n, (double)n / secs, (unsigned long long)lat[n / 2],
           (unsigned long long)lat[(size_t)((double)(n - 1) * 0.99 + 0.5)], lost ? 1 : 0);
    free(lat);
    return 0;
}

int main(int argc, char **argv)
{
    bool busy = true;
    double seconds = 5, rate = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc) {
            const char *m = argv[++i];
            if (strcmp(m, "busy") != 0 && strcmp(m, "waitset") != 0)
                goto usage;
            busy = strcmp(m, "busy") == 0;
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = strtod(argv[++i], NULL);
        else if (strcmp(argv[i], "--rate") == 0 && i + 1 < argc)
            rate = strtod(argv[++i], NULL);
        else
            goto usage;
    }
    if (!(seconds > 0 && seconds <= 600) || !(rate == 0 || (rate >= 1 && rate <= 100000)))
        goto usage;
    fflush(stdout);
    pid_t child = fork();
    if (child < 0) {
        perror("daq-bench-iceoryx: fork");
        return 1;
    }
    if (child == 0) {
        publisher(seconds, rate);
        exit(0); /* not _exit: the runtime deregisters from RouDi in its static destructor */
    }
    return subscriber(busy, seconds, rate, child);
usage:
    fprintf(
        stderr,
        "usage: daq-bench-iceoryx [--mode busy|waitset] [--seconds S] [--rate HZ, 0 = unpaced]\n");
    return 2;
}
