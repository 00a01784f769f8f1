/* examples/tap_reader.c - read a camera's frames straight out of daqd's
 * pool with the zero-copy tap (daq/tap.h, docs/tap.md).
 *
 *   daq-tap-reader SOCKET [--device ID] [--frames N] [--seconds S] [--busy]
 *
 * Connects to daqd's tap socket ([tap] path), takes frames until N frames
 * or S seconds (whichever comes first; neither: until Ctrl-C), and per
 * frame: sums the first row of pixels (each frame's data is really read,
 * from the shared mapping, no copy), checks daq_tap_frame_valid, releases
 * the lease.  The wait is a blocking daq_tap_next (one recvmsg per frame;
 * a 200 ms interval timer's SIGALRM interrupts it so the loop can report and
 * stop when no frame comes).  --busy spins on daq_tap_next(timeout 0)
 * instead of sleeping in the kernel: lower latency for a whole core.
 *
 * Output.  Every second one line on stderr:
 *   t=3s fps=2598.0 dropped=0 invalid=0 lat_p50_us=41.2 lat_p99_us=77.9
 * and at the end exactly one line on stdout, a JSON object with these keys
 * in this order (the bench parses it: the line is stable):
 *   {"frames":N,"fps":F,"dropped":D,"invalid":I,"lat_p50_us":P,"lat_p99_us":Q,"cpu_s_per_frame":C}
 *   frames           frames received and released
 *   fps              (frames - 1) / (last receive - first receive)
 *   dropped          frames the daemon lost for this reader (its count at the last frame)
 *   invalid          frames whose slot was reused before the row was read (generation changed)
 *   lat_p50_us/p99   publish -> receive latency, CLOCK_MONOTONIC: the daemon's send to this
 *                    process's return from daq_tap_next (log-linear histogram, ~1.6 % buckets)
 *   cpu_s_per_frame  this process's user + system CPU seconds (getrusage) / frames
 * Exit status 0, or 1 when the connection failed or broke (the JSON line is still printed if
 * any frame came).
 *
 * Nothing is allocated per frame: the histograms are fixed arrays.
 */
#define _GNU_SOURCE
#include "daq/tap_proto.h"
#include "daq/tap.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>

/* Latency histogram: values below 64 ns exact, above 64 buckets per power
 * of two (1.6 % wide), up to 2^40 ns. */
#define SUB     64u
#define BUCKETS ((40u - 5u) * SUB)

typedef struct hist {
    uint64_t n;
    uint32_t b[BUCKETS];
} hist;

static unsigned bucket_of(uint64_t v)
{
    if (v < SUB)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= 6 */
    unsigned i = (e - 5u) * SUB + (unsigned)((v >> (e - 6u)) & (SUB - 1u));
    return i < BUCKETS ? i : BUCKETS - 1u;
}

/* The middle of bucket i, in ns. */
static double bucket_mid(unsigned i)
{
    if (i < SUB)
        return i;
    unsigned e = i / SUB + 5u, sub = i % SUB;
    double lo = (double)(SUB + sub) * (double)(1ull << (e - 6u));
    return lo + (double)(1ull << (e - 6u)) / 2.0;
}

static void hist_add(hist *h, uint64_t v)
{
    h->b[bucket_of(v)]++;
    h->n++;
}

static double hist_quantile_us(const hist *h, double q)
{
    if (h->n == 0)
        return 0;
    uint64_t want = (uint64_t)(q * (double)(h->n - 1)) + 1, seen = 0;
    for (unsigned i = 0; i < BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= want)
            return bucket_mid(i) / 1000.0;
    }
    return bucket_mid(BUCKETS - 1u) / 1000.0;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* The sum of row 0's pixels: reads the frame's first stride from the mapping. */
static uint64_t row_sum(const daq_tap_frame *f)
{
    uint64_t s = 0;
    if (f->bit_depth <= 8) {
        const uint8_t *p = f->pixels;
        for (uint32_t x = 0; x < f->width && x < f->payload_bytes; x++)
            s += p[x];
    } else {
        const uint16_t *p = f->pixels;
        for (uint32_t x = 0; x < f->width && 2u * x + 1u < f->payload_bytes; x++)
            s += p[x];
    }
    return s;
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void on_alarm(int sig)
{
    (void)sig; /* only interrupts the wait */
}

static void usage(void)
{
    fprintf(stderr,
            "usage: daq-tap-reader SOCKET [--device ID] [--frames N] [--seconds S] [--busy]\n");
}

static hist total, second;

int main(int argc, char **argv)
{
    const char *path = NULL;
    daq_tap_options opt;
    daq_tap_options_init(&opt);
    uint64_t max_frames = 0;
    double max_seconds = 0;
    bool busy = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--device") && i + 1 < argc)
            opt.device = argv[++i];
        else if (!strcmp(argv[i], "--frames") && i + 1 < argc)
            max_frames = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            max_seconds = strtod(argv[++i], NULL);
        else if (!strcmp(argv[i], "--busy"))
            busy = true;
        else if (argv[i][0] != '-' && !path)
            path = argv[i];
        else {
            usage();
            return 2;
        }
    }
    if (!path) {
        usage();
        return 2;
    }
    /* no SA_RESTART: a signal ends daq_tap_next's wait */
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    struct sigaction al = {.sa_handler = on_alarm};
    sigaction(SIGALRM, &al, NULL);

    char err[256];
    daq_tap *tap = daq_tap_open(path, &opt, err, sizeof err);
    if (!tap) {
        fprintf(stderr, "daq-tap-reader: %s\n", err);
        return 1;
    }
    const daq_tap_welcome *w = daq_tap_welcome_info(tap);
    fprintf(stderr,
            "daq-tap-reader: reader %" PRIu64
            " of %s, lease cap %u, queue %u, lease timeout %u ms\n",
            w->reader_id, w->device, w->lease_cap, w->queue_depth, w->lease_timeout_ms);

    if (!busy) {
        struct itimerval it = {{0, 200000}, {0, 200000}};
        setitimer(ITIMER_REAL, &it, NULL);
    }
    uint64_t t0 = now_ns(), end = max_seconds > 0 ? t0 + (uint64_t)(max_seconds * 1e9) : 0;
    uint64_t next_report = t0 + 1000000000ull;
    uint64_t frames = 0, invalid = 0, dropped = 0, first_rx = 0, last_rx = 0;
    uint64_t sec_frames = 0, sec_invalid = 0, sec_dropped0 = 0;
    volatile uint64_t sink = 0;
    double cpu0 = cpu_s();
    int status = 0;
    while (!stop && (max_frames == 0 || frames < max_frames)) {
        uint64_t now = now_ns();
        if (end && now >= end)
            break;
        if (now >= next_report) {
            fprintf(stderr,
                    "t=%.0fs fps=%.1f dropped=%" PRIu64 " invalid=%" PRIu64
                    " lat_p50_us=%.1f lat_p99_us=%.1f\n",
                    (double)(now - t0) / 1e9, (double)sec_frames, dropped - sec_dropped0,
                    sec_invalid, hist_quantile_us(&second, 0.5), hist_quantile_us(&second, 0.99));
            memset(&second, 0, sizeof second);
            sec_frames = sec_invalid = 0;
            sec_dropped0 = dropped;
            next_report += 1000000000ull;
            if (next_report <= now)
                next_report = now + 1000000000ull;
        }
        daq_tap_frame f;
        int rc = daq_tap_next(tap, busy ? 0 : -1, &f);
        if (rc == DAQ_TAP_NEXT_TIMEOUT || rc == DAQ_TAP_NEXT_EOS)
            continue;
        if (rc == DAQ_TAP_NEXT_ERROR) {
            fprintf(stderr, "daq-tap-reader: %s\n", daq_tap_error(tap));
            status = 1;
            break;
        }
        sink += row_sum(&f);
        if (!daq_tap_frame_valid(tap, &f)) {
            invalid++;
            sec_invalid++;
        }
        uint64_t lat =
            f.receive_mono_ns > f.publish_mono_ns ? f.receive_mono_ns - f.publish_mono_ns : 0;
        hist_add(&total, lat);
        hist_add(&second, lat);
        dropped = f.dropped;
        if (!first_rx) {
            first_rx = f.receive_mono_ns;
            fprintf(stderr, "daq-tap-reader: first frame %.1f ms after open (the pool mapped)\n",
                    (double)(first_rx - t0) / 1e6);
        }
        last_rx = f.receive_mono_ns;
        frames++;
        sec_frames++;
        daq_tap_release(tap, &f);
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    daq_tap_flush(tap);
    double cpu = cpu_s() - cpu0;
    daq_tap_close(tap);
    (void)sink;
    double fps = frames > 1 && last_rx > first_rx
                     ? (double)(frames - 1) * 1e9 / (double)(last_rx - first_rx)
                     : 0;
    if (frames || status == 0)
        printf("{\"frames\":%" PRIu64 ",\"fps\":%.1f,\"dropped\":%" PRIu64 ",\"invalid\":%" PRIu64
               ",\"lat_p50_us\":%.1f,\"lat_p99_us\":%.1f,\"cpu_s_per_frame\":%.9f}\n",
               frames, fps, dropped, invalid, hist_quantile_us(&total, 0.5),
               hist_quantile_us(&total, 0.99), frames ? cpu / (double)frames : 0);
    return status;
}
