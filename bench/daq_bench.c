/* bench/daq_bench.c - `daq-bench <suite> [--json]`: benchmark programs that
 * print figures and ratios against baselines measured in the same run. */
#include <stdio.h>
#include <string.h>

int bench_pool_main(int argc, char **argv);
int bench_frames_main(int argc, char **argv);
int bench_grpc_main(int argc, char **argv);
int bench_aravis_main(int argc, char **argv);
int bench_view_main(int argc, char **argv);
int bench_sync_main(int argc, char **argv);
int bench_tap_main(int argc, char **argv);
#ifdef DAQ_WITH_STORAGE
int bench_record_main(int argc, char **argv);
#endif

static const struct suite {
    const char *name;
    int (*main)(int, char **);
    const char *what;
} suites[] = {
    {"pool", bench_pool_main, "frame slot bookkeeping and copies vs GstBufferPool, malloc, memcpy"},
    {"frames", bench_frames_main, "sim -> engine -> pool -> bus at full speed vs memcpy and heap"},
    {"grpc", bench_grpc_main, "StreamFrames to a Python client, raw and LZ4, vs a plain stream"},
    {"aravis", bench_aravis_main,
     "fake GigE camera over loopback: FILL-mode driver vs plain Aravis and a copying loop"},
    {"view", bench_view_main,
     "the live view in headless Chromium: displayed fps, latency, daemon CPU vs gRPC PREVIEW"},
    {"sync", bench_sync_main,
     "two sim cameras on one trigger line: matched sets, mismatches vs injected, skew"},
    {"tap", bench_tap_main,
     "the zero-copy tap: C and Python readers vs gRPC FULL, a copying reader and iceoryx"},
#ifdef DAQ_WITH_STORAGE
    {"record", bench_record_main,
     "recording to HDF5 on a disk and a tmpfs vs write()+fdatasync and plain H5Dwrite"},
#endif
};

static int usage(FILE *to)
{
    fprintf(to, "usage: daq-bench <suite> [--json] [suite options]\nsuites:\n");
    for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++)
        fprintf(to, "  %-8s %s\n", suites[i].name, suites[i].what);
    return to == stderr ? 2 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        return usage(stdout);
    for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++)
        if (strcmp(argv[1], suites[i].name) == 0)
            return suites[i].main(argc - 2, argv + 2);
    fprintf(stderr, "daq-bench: unknown suite '%s'\n", argv[1]);
    return usage(stderr);
}
