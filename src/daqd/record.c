/* daqd/record.c - `daqd record`: one camera into one HDF5 file, no gRPC.
 *
 *   daqd record --hardware-config FILE --device ID (--frames N | --duration 30s)
 *               --out DIR [--compression CODEC] [--name NAME] [--allow-loss]
 *
 * The same pieces as the daemon, in one process: the device from the config
 * (only that one is built), a daq_storage whose root is --out (the other
 * [storage] settings apply), the acquisition started without a limit and a
 * recording with the frame limit or duration, which ends by itself.  The
 * recorder counts frames it writes, so --frames N puts exactly N frames per
 * camera in the file whatever the camera did before the recording began.
 *
 * Progress goes to stderr: one line rewritten 4 times a second on a
 * terminal, else a line per second (logs, CI), each with the rate over the
 * last interval: frames/s, MB/s of pixels, the queue's fill and the drops.
 * The summary goes to stdout, one "key: value" per line, so scripts can
 * read it.  Exit status: 0 only when nothing was lost (recorder drops +
 * camera losses == 0; --allow-loss accepts loss), 1 for loss or any
 * failure (an interrupted recording, a disk error, a camera error), 64 for
 * usage errors.
 *
 * Signals: SIGINT and SIGTERM are blocked before any thread exists and
 * polled between progress ticks; the first one stops the recording early
 * and finalises the file (exit 1: the recording is short), then they are
 * unblocked so that a second one ends the process at once (the file holds
 * every frame up to its last flush).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daq/config.h"
#include "daq/devices.h"
#include "daqd/daqd.h"
#include "util/clock.h"

#ifdef DAQ_WITH_STORAGE
#include "daq/storage.h"
#endif

#define TTY_TICK_MS   250  /* a terminal's progress line: 4 refreshes a second */
#define PLAIN_TICK_MS 1000 /* a pipe or a log file: a line per second */

static const char record_help[] =
    "usage: daqd record --hardware-config FILE --device ID (--frames N | --duration 30s)\n"
    "                   --out DIR [--compression none|gzip|lz4|bslz4] [--name NAME]\n"
    "                   [--allow-loss]\n"
    "  records one camera into DIR/<[storage] filename_pattern> (HDF5) without gRPC;\n"
    "  the other [storage] settings of FILE apply (compression default: its value)\n"
    "  --frames N      stop after N frames      --duration D  stop after D (30s, 2m, 500ms)\n"
    "  --name NAME     the recording's name (default: the device id)\n"
    "  --allow-loss    exit 0 even when frames were dropped or lost\n"
    "exit: 0 nothing lost, 1 frames lost or a failure, 64 usage error\n";

typedef struct record_opts {
    const char *config, *device, *out, *compression, *name;
    int codec; /* --compression parsed (a daq_codec); -1: [storage]'s */
    uint64_t frames;
    int64_t duration_ms; /* 0: --frames */
    bool allow_loss;
} record_opts;

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "daqd: record: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see daqd record --help)\n");
    return -1;
}

/* 0 parsed, 1 --help shown, -1 usage error (reported). */
static int parse(int argc, char **argv, record_opts *o)
{
    *o = (record_opts){.codec = -1};
    bool frames = false, duration = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(record_help, stdout);
            return 1;
        }
        if (strcmp(a, "--allow-loss") == 0) {
            o->allow_loss = true;
            continue;
        }
        static const char *const with_value[] = {
            "--hardware-config", "--device", "--frames", "--duration", "--out",
            "--compression",     "--name"};
        bool known = false;
        for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++)
            known |= strcmp(a, with_value[k]) == 0;
        if (!known)
            return usage_error("unknown option '%s'", a);
        if (!v)
            return usage_error("%s needs a value", a);
        i++;
        if (strcmp(a, "--hardware-config") == 0) {
            o->config = v;
        } else if (strcmp(a, "--device") == 0) {
            o->device = v;
        } else if (strcmp(a, "--out") == 0) {
            o->out = v;
        } else if (strcmp(a, "--compression") == 0) {
            o->compression = v;
        } else if (strcmp(a, "--name") == 0) {
            o->name = v;
        } else if (strcmp(a, "--frames") == 0) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(v, &end, 10);
            if (!*v || *end || errno || n == 0 || *v == '-')
                return usage_error("--frames: '%s' is not a positive number of frames", v);
            o->frames = n;
            frames = true;
        } else { /* --duration */
            o->duration_ms = daqd_parse_duration_ms(v);
            if (o->duration_ms <= 0)
                return usage_error("--duration: '%s' is not a duration above 0 (30s, 2m, 500ms)",
                                   v);
            duration = true;
        }
    }
    if (!o->config)
        return usage_error("%s is required", "--hardware-config FILE");
    if (!o->device)
        return usage_error("%s is required", "--device ID");
    if (!o->out)
        return usage_error("%s is required", "--out DIR");
    if (frames == duration)
        return usage_error("%s", "give either --frames N or --duration D");
    return 0;
}

#ifdef DAQ_WITH_STORAGE

/* ---- progress ------------------------------------------------------------------------ */

typedef struct progress {
    bool tty;
    uint64_t last_ns, last_frames, last_bytes;
    size_t width; /* of the last line on a terminal, to blank it */
} progress;

static void progress_show(progress *p, const record_opts *o, const daq_recording_status *s)
{
    uint64_t now = daq_now_ns();
    double dt = (double)(now - p->last_ns) / 1e9;
    double fps = dt > 0 ? (double)(s->samples_recorded - p->last_frames) / dt : 0;
    double mbps = dt > 0 ? (double)(s->bytes_in - p->last_bytes) / 1e6 / dt : 0;
    p->last_ns = now;
    p->last_frames = s->samples_recorded;
    p->last_bytes = s->bytes_in;
    char done[64];
    if (o->duration_ms)
        snprintf(done, sizeof done, "%.1f/%.1f s", (double)s->elapsed_ns / 1e9,
                 (double)o->duration_ms / 1e3);
    else
        snprintf(done, sizeof done, "%llu/%llu frames", (unsigned long long)s->samples_recorded,
                 (unsigned long long)o->frames);
    char line[256];
    int n = snprintf(line, sizeof line,
                     "record %s: %s  %.1f fps  %.1f MB/s  queue %u %%  dropped %llu  lost %llu",
                     o->device, done, fps, mbps, s->buffer_fill_percent,
                     (unsigned long long)s->frames_dropped, (unsigned long long)s->frames_lost);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    if (p->tty) {
        /* pad over a longer previous line; no newline until the end */
        fprintf(stderr, "\r%s%*s", line, p->width > len ? (int)(p->width - len) : 0, "");
        p->width = len;
    } else {
        fprintf(stderr, "%s\n", line);
    }
    fflush(stderr);
}

static void progress_end(progress *p)
{
    if (p->tty && p->width) {
        fputc('\n', stderr);
        fflush(stderr);
    }
}

/* ---- the recording ------------------------------------------------------------------- */

/* The signal pending, or 0. */
static int signal_pending(void)
{
    sigset_t s = daqd_stop_signals();
    struct timespec zero = {0, 0};
    int sig = sigtimedwait(&s, NULL, &zero);
    return sig > 0 ? sig : 0;
}

static void print_summary(const record_opts *o, const daq_recording_status *s, daq_codec codec)
{
    double secs = (double)s->elapsed_ns / 1e9;
    printf("file: %s\n", s->output_path);
    printf("recording_id: %s\n", s->recording_id);
    printf("device: %s\n", o->device);
    printf("compression: %s\n", daq_codec_names[codec]);
    printf("frames_written: %llu\n", (unsigned long long)s->samples_recorded);
    printf("frames_dropped: %llu\n", (unsigned long long)s->frames_dropped);
    printf("frames_lost: %llu\n", (unsigned long long)s->frames_lost);
    printf("mb: %.3f\n", (double)s->bytes_in / 1e6);              /* pixels recorded, 10^6 bytes */
    printf("mb_written: %.3f\n", (double)s->bytes_written / 1e6); /* after compression */
    printf("mb_per_s: %.1f\n", secs > 0 ? (double)s->bytes_in / 1e6 / secs : 0.0);
    printf("duration_s: %.3f\n", secs);
    fflush(stdout);
}

typedef struct session {
    daq_config *cfg;
    daq_devices *devices;
    daq_storage *storage;
    daq_acq *acq;
    daq_storage_config sc;
} session;

static void session_end(session *ss)
{
    if (ss->acq)
        daq_acq_stop(ss->acq);
    daq_storage_destroy(ss->storage); /* after the camera: its queue has drained */
    daq_devices_destroy(ss->devices);
    free(ss->cfg);
}

/* Config, settings, the one device, the recorder.  0, or -1 (reported). */
static int session_open(session *ss, const record_opts *o)
{
    char err[512];
    ss->cfg = malloc(sizeof *ss->cfg);
    if (!ss->cfg) {
        fprintf(stderr, "daqd: record: out of memory\n");
        return -1;
    }
    if (daq_config_load(o->config, ss->cfg, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    /* A command line tool: warnings and errors only, unless DAQ_LOG asks;
     * the config's [log] filter is the daemon's (demo.toml traces every
     * 100th frame), and would bury the progress line. */
    snprintf(ss->cfg->log_filter, sizeof ss->cfg->log_filter, "warn");
    if (daqd_log_setup(ss->cfg) != 0)
        return -1;
    if (daqd_storage_settings(ss->cfg, &ss->sc, err, sizeof err) != 0 ||
        daqd_storage_test_env(&ss->sc, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    if (o->codec >= 0)
        ss->sc.hdf5.compression = (daq_codec)o->codec;
    if (snprintf(ss->sc.root, sizeof ss->sc.root, "%s", o->out) >= (int)sizeof ss->sc.root) {
        fprintf(stderr, "daqd: record: --out: path too long\n");
        return -1;
    }
    ss->cfg->acq.reserve_bytes = (uint64_t)ss->sc.max_buffer_mb << 20;
    ss->devices = daq_devices_create(ss->cfg, o->device, err, sizeof err);
    if (!ss->devices) {
        fprintf(stderr, "daqd: record: %s\n", err);
        return -1;
    }
    daq_device *d = daq_devices_find(ss->devices, o->device);
    if (!daq_device_is_up(d)) {
        fprintf(stderr, "daqd: record: device %s is unavailable: %s\n", o->device,
                daq_device_error(d));
        return -1;
    }
    ss->storage = daq_storage_create(ss->devices, &ss->sc, err, sizeof err);
    if (!ss->storage) {
        fprintf(stderr, "daqd: record: %s\n", err);
        return -1;
    }
    ss->acq = daq_device_acq(d);
    return 0;
}

/* Waits for the recording's end, showing progress; stops it early on a
 * signal or when the camera stops.  Returns the reason it stopped early
 * ("" when it reached its limit) in why. */
static void follow(session *ss, const record_opts *o, char *why, size_t why_len)
{
    progress p = {.tty = isatty(STDERR_FILENO) == 1, .last_ns = daq_now_ns()};
    uint32_t tick = p.tty ? TTY_TICK_MS : PLAIN_TICK_MS;
    why[0] = '\0';
    for (;;) {
        bool ended = daq_storage_wait_ended(ss->storage, tick);
        daq_recording_status s;
        char err[256];
        if (daq_storage_status(ss->storage, NULL, &s, err, sizeof err) == 0)
            progress_show(&p, o, &s);
        if (ended)
            break;
        int sig = signal_pending();
        if (sig) {
            snprintf(why, why_len, "interrupted by %s", sig == SIGINT ? "SIGINT" : "SIGTERM");
            break;
        }
        if (daq_acq_state_get(ss->acq) != DAQ_ACQ_STREAMING) {
            daq_acq_stats st;
            daq_acq_stats_snapshot(ss->acq, &st);
            snprintf(why, why_len, "camera %.63s stopped: %.255s", o->device,
                     st.error[0] ? st.error : "end of stream");
            break;
        }
    }
    progress_end(&p);
}

static int record(const record_opts *o)
{
    session ss = {0};
    if (session_open(&ss, o) != 0) {
        session_end(&ss);
        return DAQD_EXIT_FAIL;
    }
    daq_codec codec = ss.sc.hdf5.compression;
    char err[512];
    if (daq_acq_start(ss.acq, 0, err, sizeof err) < 0) {
        fprintf(stderr, "daqd: record: cannot start %s: %s\n", o->device, err);
        session_end(&ss);
        return DAQD_EXIT_FAIL;
    }
    const daq_kv meta[] = {{"devices", o->device}};
    daq_record_request req = {
        .name = o->name ? o->name : o->device,
        .metadata = meta,
        .n_metadata = 1,
        .frame_limit = o->duration_ms ? 0 : o->frames,
        .duration_ms = (uint64_t)o->duration_ms,
    };
    daq_recording_status s;
    if (daq_storage_start(ss.storage, &req, &s, err, sizeof err) != 0) {
        fprintf(stderr, "daqd: record: %s\n", err);
        session_end(&ss);
        return DAQD_EXIT_FAIL;
    }
    char id[sizeof s.recording_id];
    snprintf(id, sizeof id, "%s", s.recording_id);
    fprintf(stderr, "daqd: record: %s -> %s (%s)\n", o->device, s.output_path,
            daq_codec_names[codec]);

    char why[384];
    follow(&ss, o, why, sizeof why);
    /* From here a second signal ends the process at once: the file holds
     * every frame up to its last flush.  One that came in the meantime is
     * the first, not the second. */
    int late = signal_pending();
    if (late && !why[0])
        snprintf(why, sizeof why, "interrupted by %s", late == SIGINT ? "SIGINT" : "SIGTERM");
    sigset_t sigs = daqd_stop_signals();
    pthread_sigmask(SIG_UNBLOCK, &sigs, NULL);

    int rc = daq_storage_stop(ss.storage, id, NULL, 0, &s, err, sizeof err);
    daq_acq_stop(ss.acq);
    if (rc != 0) {
        fprintf(stderr, "daqd: record: %s\n", err);
        session_end(&ss);
        return DAQD_EXIT_FAIL;
    }
    print_summary(o, &s, codec);
    uint64_t loss = s.frames_dropped + s.frames_lost;
    int code = DAQD_EXIT_OK;
    if (s.state == DAQ_RECORDING_ERROR) {
        fprintf(stderr, "daqd: record: recording failed: %s\n", s.error_message);
        code = DAQD_EXIT_FAIL;
    } else if (why[0]) {
        fprintf(stderr, "daqd: record: %s: the recording is short\n", why);
        code = DAQD_EXIT_FAIL;
    } else if (loss && !o->allow_loss) {
        fprintf(stderr,
                "daqd: record: %llu frames dropped by the recorder, %llu lost by the camera "
                "(--allow-loss accepts that)\n",
                (unsigned long long)s.frames_dropped, (unsigned long long)s.frames_lost);
        code = DAQD_EXIT_FAIL;
    }
    session_end(&ss);
    return code;
}

int daqd_record(int argc, char **argv)
{
    record_opts o;
    int rc = parse(argc, argv, &o);
    if (rc != 0)
        return rc > 0 ? DAQD_EXIT_OK : DAQD_EXIT_USAGE;
    daq_codec codec;
    char err[256];
    if (o.compression) {
        if (daq_codec_parse(o.compression, &codec, err, sizeof err) != 0) {
            fprintf(stderr, "daqd: record: --compression: %s (see daqd record --help)\n", err);
            return DAQD_EXIT_USAGE;
        }
        o.codec = (int)codec;
    }
    /* Before any thread exists, so every thread inherits the mask. */
    sigset_t s = daqd_stop_signals();
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    signal(SIGPIPE, SIG_IGN);
    return record(&o);
}

#else /* !DAQ_WITH_STORAGE */

int daqd_record(int argc, char **argv)
{
    record_opts o;
    int rc = parse(argc, argv, &o);
    if (rc != 0)
        return rc > 0 ? DAQD_EXIT_OK : DAQD_EXIT_USAGE;
    fprintf(stderr, "daqd: record: this daqd was built without libdaq-storage "
                    "(DAQ_WITH_STORAGE=OFF)\n");
    return DAQD_EXIT_FAIL;
}

#endif
