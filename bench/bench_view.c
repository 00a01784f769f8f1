/* bench/bench_view.c - `daq-bench view [--json] [--seconds N] [--check]`:
 * the live view (issue 14) in Debian's headless Chromium against a daqd of
 * its own, next to a gRPC PREVIEW stream of the same frames.
 *
 * The work is in bench/bench_view.py (it drives the browser through
 * tests/browser/driver.mjs and reads the daemon's CPU from /proc): a
 * browser, a separate daqd process (so that its CPU is its own) and a gRPC
 * client are processes anyway, and Python is where the tests already drive
 * them.  This file only hands it the paths the build knows: the daqd built
 * next to this benchmark and the build tree, where puppeteer-core is
 * installed (tests/browser/npm_install.sh, never into the source tree).
 * Exit codes are the script's: 0, 1 (a failed run or --check), 2 (usage),
 * 77 (no chromium or node here).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int bench_view_main(int argc, char **argv);

int bench_view_main(int argc, char **argv)
{
    const char *script = getenv("DAQ_BENCH_VIEW_SCRIPT");
    const char *daqd = getenv("DAQ_BENCH_DAQD");
    char **args = calloc((size_t)argc + 8, sizeof *args);
    if (!args)
        return 1;
    int n = 0;
    args[n++] = "/usr/bin/python3";
    args[n++] = (char *)(script ? script : DAQ_SOURCE_DIR "/bench/bench_view.py");
    args[n++] = "--daqd";
    args[n++] = (char *)(daqd ? daqd : DAQ_DAQD_PATH);
    args[n++] = "--build";
    args[n++] = DAQ_BINARY_DIR;
    for (int i = 0; i < argc; i++)
        args[n++] = argv[i];
    args[n] = NULL;
    fflush(stdout);
    execv(args[0], args);
    fprintf(stderr, "daq-bench view: cannot run %s: %s\n", args[0], strerror(errno));
    free(args);
    return 1;
}
