/* bench/bench_util.h - shared timing, statistics and output helpers of
 * daq-bench.  Every figure a benchmark prints is either measured in the same
 * run or derived from figures that were. */
#ifndef DAQ_BENCH_UTIL_H
#define DAQ_BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

uint64_t bench_now_ns(void);
long bench_minor_faults(void);

/* Sorts v in place and returns its q-quantile (0..1). */
double bench_quantile(double *v, size_t n, double q);

/* Runs body(ctx, per_batch) batches times, timing each batch; fills the
 * median and p99 of the per-iteration cost in ns.  The clock is read once
 * per batch, so its own cost is spread over per_batch iterations. */
typedef void (*bench_body)(void *ctx, unsigned n);
void bench_batches(bench_body body, void *ctx, unsigned batches, unsigned per_batch,
                   double *median_ns, double *p99_ns);

/* Pins the calling thread to one CPU (the last one) to cut scheduler noise;
 * returns the CPU or -1. */
int bench_pin(void);

/* Writes a page-touching pattern into len bytes so no page is left
 * mapped to the shared zero page. */
void bench_prefault(void *p, size_t len);

/* Results: a flat list of key / value / unit / note rows, printed as a table
 * and, with --json, as one JSON object of key: value. */
void bench_result(const char *key, double value, const char *unit, const char *note);
void bench_result_str(const char *key, const char *value, const char *note);
void bench_print(const char *title, bool json);

#endif
