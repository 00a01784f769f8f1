/* bench/bench_grpc.c - `daq-bench grpc`: FULL 8 MiB frames from daqd's
 * StreamFrames to a sync Python grpcio client, raw and LZ4, next to a plain
 * gRPC server-streaming baseline in the same run.
 *
 * The baseline is the same C core serving pre-built 8 MiB messages from a
 * thread (no camera, pool, bus or encoding): what the transport and the
 * client can do.  The daq runs stream the simulated 2048x2048x16-bit camera
 * at 400 FPS through the real engine, bus and stream threads: well above
 * what the client can read, so a stream that waits for its next write finds
 * a fresh frame within ~2.5 ms (at 200 FPS these waits alone cost ~15 %),
 * yet not instant timing, which would spend a whole core of this 2-core
 * machine copying frames nobody reads.  The client reads raw message bytes without parsing
 * them, the same work for every server; the Python client is the
 * bottleneck here, as the feasibility notes found.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "daq/config.h"
#include "daq/devices.h"
#include "daq/log.h"
#include "daq/server.h"
#include "server/rpc.h" /* the baseline: a plain C-core stream */

#define FRAME (2048u * 2048u * 2u)

static const char *client_script(void)
{
    static char path[512];
    const char *env = getenv("DAQ_BENCH_GRPC_CLIENT");
    snprintf(path, sizeof path, "%s", env ? env : DAQ_SOURCE_DIR "/bench/grpc_client.py");
    return path;
}

/* Runs the Python client; returns frames/s and bytes/s. */
static int run_client(uint16_t port, const char *method, const char *req_hex, unsigned n,
                      double *fps, double *bps)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s 127.0.0.1:%u %s '%s' %u 10", client_script(),
             port, method, req_hex, n);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    char line[512] = "";
    if (!fgets(line, sizeof line, p))
        line[0] = '\0';
    int rc = pclose(p);
    unsigned frames = 0;
    double secs = 0, bytes = 0;
    const char *f = strstr(line, "\"frames\": "), *s = strstr(line, "\"seconds\": "),
               *b = strstr(line, "\"bytes\": ");
    if (rc != 0 || !f || !s || !b)
        return -1;
    frames = (unsigned)strtoul(f + 10, NULL, 10);
    secs = strtod(s + 11, NULL);
    bytes = strtod(b + 9, NULL);
    *fps = frames / secs;
    *bps = bytes / secs;
    return 0;
}

/* ---- the baseline: one method streaming a pre-built message ----------------------- */

#define BASE_BUFFERS 16 /* rotated, like pool slots, so caches do not flatter it */
static unsigned char *g_payload[BASE_BUFFERS];
static uint8_t g_head[16];
static size_t g_head_len;

static void no_release(void *ctx)
{
    (void)ctx;
}

static void *baseline_thread(void *arg)
{
    daq_rpc_call *call = arg;
    for (unsigned i = 0;; i++) {
        daq_rpc_msg m = {g_head, g_head_len, g_payload[i % BASE_BUFFERS], FRAME, no_release, NULL};
        int rc;
        while ((rc = daq_rpc_stream_send(call, &m, 200000000)) == DAQ_RPC_BUSY) {
        }
        if (rc == DAQ_RPC_CLOSED)
            break;
    }
    daq_rpc_stream_finish(call, DAQ_RPC_OK, NULL);
    daq_rpc_call_unref(call);
    return NULL;
}

static pthread_t g_baseline;

static int baseline_start(void *ctx, daq_rpc_call *call, const uint8_t *req, size_t len,
                          char *details, size_t dlen)
{
    (void)ctx, (void)req, (void)len, (void)details, (void)dlen;
    return pthread_create(&g_baseline, NULL, baseline_thread, call) == 0 ? DAQ_RPC_OK
                                                                         : DAQ_RPC_INTERNAL;
}

static int baseline(unsigned n, double *fps, double *bps)
{
    for (unsigned i = 0; i < BASE_BUFFERS; i++) {
        g_payload[i] = malloc(FRAME);
        bench_prefault(g_payload[i], FRAME);
    }
    /* field 1 (bytes) of an 8 MiB message: tag 0x0a + varint length */
    g_head[0] = 0x0a;
    g_head_len = 1;
    for (uint32_t v = FRAME;; v >>= 7) {
        g_head[g_head_len++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        if (v <= 0x7f)
            break;
    }
    daq_rpc_method m = {"/bench.Baseline/Stream", NULL, baseline_start, NULL, false};
    char err[256];
    daq_rpc_server *srv = daq_rpc_server_start("127.0.0.1", 0, &m, 1, 64u << 20, err, sizeof err);
    if (!srv) {
        fprintf(stderr, "daq-bench: %s\n", err);
        return -1;
    }
    int rc = run_client(daq_rpc_server_port(srv), "/bench.Baseline/Stream", "", n, fps, bps);
    daq_rpc_server_stop(srv);
    pthread_join(g_baseline, NULL);
    for (unsigned i = 0; i < BASE_BUFFERS; i++)
        free(g_payload[i]);
    return rc;
}

/* ---- daq: the real path ----------------------------------------------------------------- */

static const char config_text[] = "[[devices]]\n"
                                  "id = \"cam0\"\n"
                                  "[devices.driver]\n"
                                  "type = \"sim\"\n"
                                  "width = 2048\n"
                                  "height = 2048\n"
                                  "frame_rate_hz = 400.0\n"
                                  "exposure_ms = 1.0\n";

static int daq_run(bool lz4, unsigned n, double *fps, double *bps, double *wire_ratio)
{
    static daq_config cfg;
    char err[512];
    if (daq_config_load_text(config_text, sizeof config_text - 1, "bench", &cfg, err, sizeof err) !=
        0) {
        fprintf(stderr, "daq-bench: %s\n", err);
        return -1;
    }
    daq_devices *ds = daq_devices_create(&cfg, NULL, err, sizeof err);
    if (!ds) {
        fprintf(stderr, "daq-bench: %s\n", err);
        return -1;
    }
    daq_server_config sc; /* daqd's gRPC side, as daqd starts it */
    daq_server_config_init(&sc);
    sc.port = 0;
    sc.version = "bench";
    sc.compression_lz4 = lz4;
    daq_server *srv = daq_server_start(ds, &sc, err, sizeof err);
    daq_acq *a = daq_device_acq(daq_devices_at(ds, 0));
    int rc = srv && daq_acq_start(a, 0, err, sizeof err) == 0 ? 0 : -1;
    if (rc == 0) /* StreamFramesRequest{device_id: "cam0"} */
        rc = run_client(daq_server_port(srv), "/daq.HardwareService/StreamFrames", "0a0463616d30",
                        n, fps, bps);
    *wire_ratio = *bps / (*fps * FRAME);
    daq_acq_stop(a);
    daq_server_stop(srv);
    daq_devices_destroy(ds);
    return rc;
}

int bench_grpc_main(int argc, char **argv);

int bench_grpc_main(int argc, char **argv)
{
    bool json = false;
    unsigned n = 200;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (strcmp(argv[i], "--frames") == 0 && i + 1 < argc)
            n = (unsigned)strtoul(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: daq-bench grpc [--json] [--frames N]\n");
            return 2;
        }
    }
    daq_log_set_filter("warn", NULL, 0);
    /* Two interleaved rounds, averaged: the machine's noise hits all three. */
    double bfps = 0, bbps = 0, rfps = 0, rbps = 0, lfps = 0, lbps = 0, rw = 0, lw = 0;
    for (int round = 0; round < 2; round++) {
        double f[3], b[3], w[2];
        if (baseline(n, &f[0], &b[0]) || daq_run(false, n, &f[1], &b[1], &w[0]) ||
            daq_run(true, n, &f[2], &b[2], &w[1])) {
            fprintf(stderr, "daq-bench grpc: a run failed\n");
            return 1;
        }
        bfps += f[0] / 2, bbps += b[0] / 2, rfps += f[1] / 2, rbps += b[1] / 2;
        lfps += f[2] / 2, lbps += b[2] / 2, rw += w[0] / 2, lw += w[1] / 2;
    }
    bench_result("baseline_fps", bfps, "1/s", "plain C-core stream of 8 MiB messages");
    bench_result("baseline_mbps", bbps / 1e6, "MB/s", "");
    bench_result("raw_fps", rfps, "1/s", "daqd StreamFrames FULL, uncompressed (zero-copy)");
    bench_result("raw_mbps", rbps / 1e6, "MB/s", "");
    bench_result("ratio_vs_baseline", rfps / bfps, "x", "raw_fps / baseline_fps (target >= 0.8)");
    bench_result("lz4_fps", lfps, "1/s",
                 "daqd StreamFrames FULL, LZ4 (compressed on the stream side)");
    bench_result("lz4_mbps", lbps / 1e6, "MB/s", "bytes on the wire");
    bench_result("lz4_wire_ratio", lw, "x", "compressed / raw size of the sim's pattern");
    bench_result("lz4_ratio_vs_baseline", lfps / bfps, "x", "lz4_fps / baseline_fps");
    bench_result_str("client", "/usr/bin/python3 grpcio sync, raw bytes, no parsing", "");
    bench_print("daq-bench grpc: 2048x2048x16 frames to a Python client over loopback", json);
    return 0;
}
