/* tests/unit/test_tap_reader.c - the zero-copy tap's C reader (daq/tap.h)
 * against the real tap server, in one process.
 *
 * The rig: one sim camera (256 x 128 x 16 bit, 64 KiB frames, realistic
 * timing at 250 FPS so sanitizer builds keep up), its pool shareable as
 * daqd makes it when [tap] is on (dynamic_allowance grown by
 * daq_tap_pool_frames), and daq_tap_server_create on a socket in a mkdtemp
 * directory.  The reader is libdaq's, used as a program would.
 *
 * Cases (exact asserts):
 *  - 300 frames: every one the sim pattern of its hardware number, stamp
 *    included; sequence and hardware numbers continuous, nothing dropped;
 *    daq_tap_frame_valid true.  Lease cap 64 / queue 64: 256 ms of slack
 *    at 250 FPS (a loaded 2-core machine under ASan lost 19-37 frames at
 *    400 FPS with a cap of 32: the server's thread got no CPU to take the
 *    RELEASEs).  Then one more frame, held: its pixels inside a mapping
 *    that /proc/self/maps lists as r--s; a write through the pointer in a
 *    forked child kills the child with SIGSEGV and the parent reads on.
 *  - lease cap 4 honoured: 4 frames held, no fifth (a 200 ms wait times
 *    out), the server counts lease-cap drops; after the 4 releases the next
 *    frame's dropped says exactly how many frames were skipped.
 *  - errors: the daemon's NO_DEVICE and NOT_ALLOWED texts verbatim; local
 *    ones (no socket, a path too long, a lease cap out of range).
 *  - close with 3 leases held: the server has no reader and no lease
 *    within 1 s.
 *  - the camera stopped: EOS, then daq_tap_next with timeout 0 says
 *    TIMEOUT at once and with 50 ms after 50 ms; a restart maps the new
 *    pool when the engine made one.
 *  - a lease revoked after lease_timeout_ms = 200: daq_tap_frame_valid
 *    false once the slot is refilled, REVOKED counted, its release local.
 * About 4 s in all.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daq/tap_proto.h"

#include "daq/acq.h"
#include "daq/config.h"
#include "daq/devices.h"
#include "daq/sim.h"
#include "daq/tap.h"
#include "tap/tap_server.h"
#include "test_main.h"

#define CAM_W     256u
#define CAM_H     128u
#define NEXT_WAIT 2000000000ll /* a frame is 4 ms away: 2 s means broken */

typedef struct rig {
    char dir[64];
    char path[128];
    daq_config cfg;
    daq_devices *ds;
    daq_device *dev;
    daq_tap_server *srv;
} rig;

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* The camera (streaming) and a server allowing the caller's uid only. */
static void rig_up(rig *r, uint32_t lease_timeout_ms)
{
    memset(r, 0, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "/tmp/daq-tap-reader-XXXXXX");
    if (!mkdtemp(r->dir))
        fail_msg("mkdtemp: %s", strerror(errno));
    snprintf(r->path, sizeof r->path, "%s/tap.sock", r->dir);
    static const char text[] = "[[devices]]\nid = \"cam0\"\n[devices.driver]\ntype = \"sim\"\n"
                               "width = 256\nheight = 128\nbit_depth = 16\n"
                               "timing = \"realistic\"\nframe_rate_hz = 250.0\n"
                               "exposure_ms = 1.0\n";
    char err[512];
    if (daq_config_load_text(text, strlen(text), "tap_reader.toml", &r->cfg, err, sizeof err) != 0)
        fail_msg("config: %s", err);
    daq_config_tap *tc = &r->cfg.tap;
    tc->enabled = true;
    snprintf(tc->path, sizeof tc->path, "%.100s", r->path);
    tc->mode = 0660;
    tc->n_allowed_uids = tc->n_allowed_gids = 0; /* our own uid only */
    tc->max_readers = 4;
    tc->lease_cap = 4;
    tc->max_lease_cap = 64;
    tc->lease_timeout_ms = lease_timeout_ms;
    tc->history = 0;
    /* as daqd does when [tap] is on */
    r->cfg.acq.pool.shareable = true;
    r->cfg.acq.dynamic_allowance += daq_tap_pool_frames(tc);
    r->ds = daq_devices_create(&r->cfg, NULL, err, sizeof err);
    if (!r->ds)
        fail_msg("devices: %s", err);
    r->dev = daq_devices_find(r->ds, "cam0");
    assert_non_null(r->dev);
    assert_non_null(daq_device_acq(r->dev));
    r->srv = daq_tap_server_create(r->ds, tc, r->path, err, sizeof err);
    if (!r->srv)
        fail_msg("tap server: %s", err);
    if (daq_device_stream_start(r->dev, 0, err, sizeof err) != 0)
        fail_msg("start: %s", err);
}

static void rig_down(rig *r)
{
    daq_tap_server_destroy(r->srv);
    daq_device_stream_stop(r->dev);
    daq_devices_destroy(r->ds);
    assert_int_equal(rmdir(r->dir), 0); /* the server unlinked its socket */
}

static daq_tap *open_tap(rig *r, uint32_t lease_cap)
{
    daq_tap_options o;
    daq_tap_options_init(&o);
    o.device = "cam0";
    o.lease_cap = lease_cap;
    o.queue_depth = lease_cap;
    char err[256] = "";
    daq_tap *t = daq_tap_open(r->path, &o, err, sizeof err);
    if (!t)
        fail_msg("open: %s", err);
    return t;
}

static void next_frame(daq_tap *t, daq_tap_frame *f)
{
    int rc = daq_tap_next(t, NEXT_WAIT, f);
    if (rc != DAQ_TAP_NEXT_FRAME)
        fail_msg("next: %d (%s)", rc, daq_tap_error(t));
}

/* The server's one reader (fails unless exactly one). */
static daq_tap_reader_stats one_reader(rig *r)
{
    daq_tap_reader_stats rs[4];
    size_t n = daq_tap_server_readers(r->srv, rs, 4);
    assert_int_equal(n, 1);
    return rs[0];
}

/* The permissions of the mapping holding p in /proc/self/maps ("" if none). */
static void maps_perms(const void *p, char perms[8])
{
    perms[0] = '\0';
    FILE *fp = fopen("/proc/self/maps", "r");
    assert_non_null(fp);
    char line[512];
    uintptr_t a = (uintptr_t)p;
    while (fgets(line, sizeof line, fp)) {
        uintptr_t lo, hi;
        char pr[8];
        if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %7s", &lo, &hi, pr) == 3 && a >= lo && a < hi) {
            snprintf(perms, 8, "%s", pr);
            break;
        }
    }
    fclose(fp);
}

/* A child writes one byte through p: it must die of SIGSEGV. */
static void child_write_faults(const void *p)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* the default action, not a sanitizer's report, and no core dump
         * (a sanitizer's shadow memory would take long to dump) */
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        struct sigaction sa = {.sa_handler = SIG_DFL};
        sigaction(SIGSEGV, &sa, NULL);
        sigaction(SIGBUS, &sa, NULL);
        *(volatile uint8_t *)(uintptr_t)p = 1;
        _exit(0);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGSEGV)
        fail_msg("the child's write into the mapping: status 0x%x, not SIGSEGV", st);
}

static void reader_frames_equal_the_pattern(void **state)
{
    (void)state;
    static rig r;
    rig_up(&r, 5000);
    daq_tap *t = open_tap(&r, 64);
    const daq_tap_welcome *w = daq_tap_welcome_info(t);
    assert_int_equal(w->lease_cap, 64);
    assert_int_equal(w->queue_depth, 64);
    assert_int_equal(w->history, 0);
    assert_int_equal(w->lease_timeout_ms, 5000);
    assert_int_equal(w->daemon_pid, (uint32_t)getpid());
    assert_string_equal(w->device, "cam0");
    assert_string_equal(w->format, DAQ_TAP_FORMAT);
    assert_true(daq_tap_fd(t) >= 0);
    assert_string_equal(daq_tap_error(t), "");

    uint64_t seq0 = 0, hw0 = 0;
    daq_tap_frame f;
    for (unsigned i = 0; i < 300; i++) {
        next_frame(t, &f);
        assert_int_equal(f.width, CAM_W);
        assert_int_equal(f.height, CAM_H);
        assert_int_equal(f.stride_bytes, CAM_W * 2);
        assert_int_equal(f.payload_bytes, CAM_W * CAM_H * 2);
        assert_int_equal(f.bit_depth, 16);
        assert_int_equal(f.pixel_format, DAQ_PIXEL_MONO16);
        char why[256];
        if (daq_sim_verify(f.pixels, CAM_W, CAM_H, 16, f.hw_frame_number, why, sizeof why) != 0)
            fail_msg("frame %u (hw %" PRIu64 ", sequence %" PRIu64 ", slot %u, lease %" PRIu64
                     ", generation %" PRIu64 ", still valid %d): %s",
                     i, f.hw_frame_number, f.sequence, f.slot, f.lease, f.generation,
                     (int)daq_tap_frame_valid(t, &f), why);
        assert_true(daq_tap_frame_valid(t, &f));
        if (i == 0) {
            seq0 = f.sequence;
            hw0 = f.hw_frame_number;
        }
        if (f.sequence != seq0 + i || f.hw_frame_number != hw0 + i || f.dropped != 0) {
            daq_tap_reader_stats rs = one_reader(&r);
            fail_msg("frame %u: sequence %" PRIu64 " (want %" PRIu64 "), hw %" PRIu64
                     " (want %" PRIu64 "), dropped %" PRIu64 " (lease cap %" PRIu64
                     ", socket full %" PRIu64 ", unshareable %" PRIu64 ")",
                     i, f.sequence, seq0 + i, f.hw_frame_number, hw0 + i, f.dropped,
                     rs.drops_lease_cap, rs.drops_socket_full, rs.drops_unshareable);
        }
        assert_true(f.generation >= 1);
        assert_true(f.publish_mono_ns > 0);
        assert_true(f.receive_mono_ns >= f.publish_mono_ns);
        assert_true(f.eof_ns > 0);
        assert_int_equal(daq_tap_release(t, &f), 0);
        assert_int_equal(daq_tap_release(t, &f), -1); /* not held any more */
    }
    /* One more, held: its pixels are in a read-only shared mapping, and a
     * write through the pointer kills the writer, not the reader. */
    next_frame(t, &f);
    char perms[8];
    maps_perms(f.pixels, perms);
    assert_string_equal(perms, "r--s");
    maps_perms((const uint8_t *)f.pixels + f.payload_bytes - 1, perms);
    assert_string_equal(perms, "r--s");
    child_write_faults(f.pixels);
    assert_true(daq_tap_frame_valid(t, &f)); /* the parent is unaffected */
    char why[256];
    if (daq_sim_verify(f.pixels, CAM_W, CAM_H, 16, f.hw_frame_number, why, sizeof why) != 0)
        fail_msg("after the child's write: %s", why);
    assert_int_equal(daq_tap_release(t, &f), 0);
    assert_int_equal(daq_tap_flush(t), 0);
    daq_tap_stats st;
    daq_tap_stats_get(t, &st);
    assert_int_equal(st.frames, 301);
    assert_int_equal(st.released, 301);
    assert_int_equal(st.revoked, 0);
    assert_int_equal(st.maps, 1);
    assert_int_equal(st.leases_held, 0);
    daq_tap_reader_stats rs = one_reader(&r);
    assert_true(rs.frames_sent >= 301);
    assert_int_equal(rs.drops_lease_cap + rs.drops_socket_full + rs.drops_unshareable, 0);
    assert_int_equal(rs.stale_releases, 0);
    assert_int_equal(rs.pid, getpid());
    daq_tap_close(t);
    rig_down(&r);
}

static void lease_cap_is_honoured(void **state)
{
    (void)state;
    static rig r;
    rig_up(&r, 5000);
    daq_tap *t = open_tap(&r, 4);
    assert_int_equal(daq_tap_welcome_info(t)->lease_cap, 4);
    daq_tap_frame held[4], f;
    for (unsigned i = 0; i < 4; i++) {
        next_frame(t, &held[i]);
        if (i > 0)
            assert_int_equal(held[i].sequence, held[i - 1].sequence + 1);
    }
    /* At the cap: the daemon drops new frames for us, sends none. */
    assert_int_equal(daq_tap_next(t, 200000000, &f), DAQ_TAP_NEXT_TIMEOUT);
    daq_tap_reader_stats rs = one_reader(&r);
    assert_int_equal(rs.leases_held, 4);
    assert_true(rs.drops_lease_cap >= 20); /* 200 ms at 250 FPS: ~50 */
    daq_tap_stats st;
    daq_tap_stats_get(t, &st);
    assert_int_equal(st.leases_held, 4);
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(daq_tap_release(t, &held[i]), 0);
    next_frame(t, &f);
    /* every frame between the last held and this one was dropped for us */
    assert_true(f.sequence > held[3].sequence + 20);
    assert_int_equal(f.dropped, held[3].dropped + (f.sequence - held[3].sequence - 1));
    assert_true(daq_tap_frame_valid(t, &f));
    assert_int_equal(daq_tap_release(t, &f), 0);
    assert_int_equal(daq_tap_flush(t), 0);
    daq_tap_stats_get(t, &st);
    assert_int_equal(st.frames, 5);
    assert_int_equal(st.released, 5);
    assert_int_equal(st.leases_held, 0);
    daq_tap_close(t);
    rig_down(&r);
}

static void errors_pass_through(void **state)
{
    (void)state;
    static rig r;
    rig_up(&r, 5000);
    char err[256];
    daq_tap_options o;
    daq_tap_options_init(&o);
    o.device = "nope";
    assert_null(daq_tap_open(r.path, &o, err, sizeof err));
    assert_string_equal(err, "tap: no camera device 'nope' (devices: cam0)");

    /* Local refusals: nothing is sent. */
    o.device = NULL;
    o.lease_cap = 65;
    assert_null(daq_tap_open(r.path, &o, err, sizeof err));
    assert_string_equal(err, "tap: lease_cap 65 / queue_depth 0: out of range (at most 64 / 256; "
                             "0 = the daemon's default)");
    char nosock[160];
    snprintf(nosock, sizeof nosock, "%s/none.sock", r.dir);
    assert_null(daq_tap_open(nosock, NULL, err, sizeof err));
    char want[256];
    snprintf(want, sizeof want, "tap: %s: No such file or directory", nosock);
    assert_string_equal(err, want);
    char longp[200];
    memset(longp, 'a', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    assert_null(daq_tap_open(longp, NULL, err, sizeof err));
    assert_string_equal(err,
                        "tap: socket path 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                        "aaaaaaaaaaaaaaa' is longer than 107 bytes");

    /* A second server that allows only another uid: refused before any fd. */
    daq_config_tap tc = r.cfg.tap;
    uint32_t other = (uint32_t)geteuid() + 4242u;
    tc.allowed_uids[0] = other;
    tc.n_allowed_uids = 1;
    tc.allowed_gids[0] = (uint32_t)getegid() + 4242u;
    tc.n_allowed_gids = 1;
    char path2[160];
    snprintf(path2, sizeof path2, "%s/strict.sock", r.dir);
    snprintf(tc.path, sizeof tc.path, "%.100s", path2);
    daq_tap_server *strict = daq_tap_server_create(r.ds, &tc, path2, err, sizeof err);
    if (!strict)
        fail_msg("strict server: %s", err);
    assert_null(daq_tap_open(path2, NULL, err, sizeof err));
    snprintf(want, sizeof want,
             "tap: uid %u gid %u (pid %d) is not allowed (allowed uids: %u; gids: %u)",
             (unsigned)geteuid(), (unsigned)getegid(), (int)getpid(), other,
             (unsigned)getegid() + 4242u);
    assert_string_equal(err, want);
    daq_tap_server_stats ss;
    uint64_t t0 = daq_test_now_ns();
    do { /* counted by the server's thread after it answered */
        daq_tap_server_stats_snapshot(strict, &ss);
        if (ss.refused_not_allowed == 0)
            sleep_ms(2);
    } while (ss.refused_not_allowed == 0 && daq_test_now_ns() - t0 < 1000000000ull);
    assert_int_equal(ss.refused_not_allowed, 1);
    assert_int_equal(ss.accepted, 0); /* counted past the check only */
    assert_int_equal(ss.readers, 0);
    daq_tap_server_destroy(strict);
    rig_down(&r);
}

static void close_with_leases_held_releases_them(void **state)
{
    (void)state;
    static rig r;
    rig_up(&r, 5000);
    daq_tap *t = open_tap(&r, 4);
    daq_tap_frame f[3];
    for (unsigned i = 0; i < 3; i++)
        next_frame(t, &f[i]);
    daq_tap_reader_stats rs = one_reader(&r);
    assert_true(rs.leases_held >= 3); /* a fourth may wait in the socket */
    daq_tap_close(t);
    uint64_t t0 = daq_test_now_ns();
    for (;;) {
        daq_tap_server_stats ss;
        daq_tap_server_stats_snapshot(r.srv, &ss);
        daq_tap_reader_stats rr[4];
        size_t n = daq_tap_server_readers(r.srv, rr, 4);
        uint32_t leases = 0;
        for (size_t i = 0; i < n; i++)
            leases += rr[i].leases_held;
        if (ss.readers == 0 && leases == 0) {
            assert_int_equal(ss.disconnects, 1);
            break;
        }
        if (daq_test_now_ns() - t0 > 1000000000ull)
            fail_msg("1 s after close: %u readers, %u leases", ss.readers, leases);
        sleep_ms(5);
    }
    print_message("leases back %.1f ms after close\n", (double)(daq_test_now_ns() - t0) / 1e6);
    rig_down(&r);
}

static void timeout_when_the_camera_is_stopped(void **state)
{
    (void)state;
    static rig r;
    rig_up(&r, 5000);
    daq_tap *t = open_tap(&r, 4);
    daq_tap_frame f;
    next_frame(t, &f);
    uint64_t serial0 = f.pool_serial;
    assert_int_equal(daq_tap_release(t, &f), 0);
    daq_device_stream_stop(r.dev);
    /* what was sent before the stop, then the end of the stream */
    int rc;
    unsigned frames = 0;
    while ((rc = daq_tap_next(t, NEXT_WAIT, &f)) == DAQ_TAP_NEXT_FRAME && frames < 100) {
        frames++;
        assert_int_equal(daq_tap_release(t, &f), 0);
    }
    assert_int_equal(rc, DAQ_TAP_NEXT_EOS);
    assert_true(frames <= 5);
    assert_int_equal(daq_tap_next(t, 0, &f), DAQ_TAP_NEXT_TIMEOUT);
    uint64_t t0 = daq_test_now_ns();
    assert_int_equal(daq_tap_next(t, 50000000, &f), DAQ_TAP_NEXT_TIMEOUT);
    uint64_t took = daq_test_now_ns() - t0;
    assert_true(took >= 50000000ull);
    assert_true(took < 1000000000ull);
    /* A restart: frames flow again on the same connection.  The engine
     * sizes a new pool when the bus's bound grew (our subscription): then a
     * second MAP came, and the first mapping is gone (no lease in it). */
    char err[256];
    if (daq_device_stream_start(r.dev, 0, err, sizeof err) != 0)
        fail_msg("restart: %s", err);
    next_frame(t, &f);
    char why[256];
    if (daq_sim_verify(f.pixels, CAM_W, CAM_H, 16, f.hw_frame_number, why, sizeof why) != 0)
        fail_msg("after restart: %s", why);
    assert_int_equal(daq_tap_release(t, &f), 0);
    daq_tap_stats st;
    daq_tap_stats_get(t, &st);
    print_message("pool serial %" PRIu64 " -> %" PRIu64 "\n", serial0, f.pool_serial);
    assert_int_equal(st.maps, f.pool_serial == serial0 ? 1 : 2);
    daq_tap_close(t);
    rig_down(&r);
}

/* A lease held past lease_timeout_ms (200 ms): REVOKED arrives, the slot
 * goes back to the pool and is refilled (the pool hands out the slot
 * returned last first: the next frame, ours again at cap 1, lands in it),
 * and daq_tap_frame_valid says so.  The revoked lease's release is local:
 * the daemon never sees it (no stale release). */
static void revoked_lease_is_detected(void **state)
{
    (void)state;
    static rig r;
    rig_up(&r, 200);
    daq_tap *t = open_tap(&r, 1);
    assert_int_equal(daq_tap_welcome_info(t)->lease_timeout_ms, 200);
    daq_tap_frame f, g;
    next_frame(t, &f);
    assert_true(daq_tap_frame_valid(t, &f));
    sleep_ms(450); /* revoked at 200..300 ms; the slot refilled a frame later */
    assert_false(daq_tap_frame_valid(t, &f));
    daq_tap_stats st;
    daq_tap_stats_get(t, &st);
    assert_int_equal(st.revoked, 0); /* not read yet: REVOKED waits in the socket */
    next_frame(t, &g);
    daq_tap_stats_get(t, &st);
    assert_true(st.revoked >= 1);
    assert_int_equal(st.leases_held, 2); /* f stays held here until released */
    assert_true(g.sequence > f.sequence + 1);
    assert_int_equal(g.dropped, g.sequence - f.sequence - 1); /* at the cap meanwhile */
    assert_int_equal(daq_tap_release(t, &f), 0);              /* local only */
    assert_int_equal(daq_tap_release(t, &f), -1);
    assert_int_equal(daq_tap_release(t, &g), 0);
    assert_int_equal(daq_tap_flush(t), 0);
    daq_tap_stats_get(t, &st);
    assert_int_equal(st.released, 2);
    assert_int_equal(st.leases_held, 0);
    daq_tap_reader_stats rs = one_reader(&r);
    assert_true(rs.revoked >= 1);
    if (rs.revoked == 1) { /* g was not revoked too (a slow machine) */
        uint64_t t0 = daq_test_now_ns();
        while ((rs = one_reader(&r)).releases < 1 && daq_test_now_ns() - t0 < 1000000000ull)
            sleep_ms(2);
        assert_int_equal(rs.releases, 1); /* g's */
        assert_int_equal(rs.stale_releases, 0);
    }
    daq_tap_close(t);
    rig_down(&r);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reader_frames_equal_the_pattern),
        cmocka_unit_test(lease_cap_is_honoured),
        cmocka_unit_test(errors_pass_through),
        cmocka_unit_test(close_with_leases_held_releases_them),
        cmocka_unit_test(timeout_when_the_camera_is_stopped),
        cmocka_unit_test(revoked_lease_is_detected),
    };
    return daq_test_main(argc, argv, "tap_reader", tests, sizeof tests / sizeof tests[0]);
}
