/* bench/bench_util.c - see bench_util.h. */
#define _GNU_SOURCE
#include "bench_util.h"

#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

long bench_minor_faults(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_quantile(double *v, size_t n, double q)
{
    if (n == 0)
        return NAN;
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

void bench_batches(bench_body body, void *ctx, unsigned batches, unsigned per_batch,
                   double *median_ns, double *p99_ns)
{
    double *v = malloc(sizeof *v * batches);
    body(ctx, per_batch * 10); /* warm caches and branch predictors */
    for (unsigned b = 0; b < batches; b++) {
        uint64_t t0 = bench_now_ns();
        body(ctx, per_batch);
        v[b] = (double)(bench_now_ns() - t0) / per_batch;
    }
    *median_ns = bench_quantile(v, batches, 0.5);
    *p99_ns = bench_quantile(v, batches, 0.99);
    free(v);
}

int bench_pin(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        return -1;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET((int)n - 1, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0 ? (int)n - 1 : -1;
}

void bench_prefault(void *p, size_t len)
{
    unsigned char *c = p;
    for (size_t i = 0; i < len; i++)
        c[i] = (unsigned char)(i * 2654435761u >> 13);
}

#define MAX_ROWS 64

static struct row {
    char key[48];
    double value;
    char str[96];
    bool is_str;
    char unit[16];
    char note[112];
} rows[MAX_ROWS];
static size_t nrows;

static struct row *add_row(const char *key, const char *note)
{
    if (nrows == MAX_ROWS) {
        fprintf(stderr, "daq-bench: too many results\n");
        exit(1);
    }
    struct row *r = &rows[nrows++];
    memset(r, 0, sizeof *r);
    snprintf(r->key, sizeof r->key, "%s", key);
    snprintf(r->note, sizeof r->note, "%s", note ? note : "");
    return r;
}

void bench_result(const char *key, double value, const char *unit, const char *note)
{
    struct row *r = add_row(key, note);
    r->value = value;
    snprintf(r->unit, sizeof r->unit, "%s", unit ? unit : "");
}

void bench_result_str(const char *key, const char *value, const char *note)
{
    struct row *r = add_row(key, note);
    r->is_str = true;
    snprintf(r->str, sizeof r->str, "%s", value);
}

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", *s);
        else
            putchar(*s);
    }
    putchar('"');
}

void bench_print(const char *title, bool json)
{
    if (json) {
        printf("{");
        for (size_t i = 0; i < nrows; i++) {
            printf(i ? ", " : "");
            json_string(rows[i].key);
            printf(": ");
            if (rows[i].is_str)
                json_string(rows[i].str);
            else if (isfinite(rows[i].value))
                printf("%.6g", rows[i].value);
            else
                printf("null");
        }
        printf("}\n");
        return;
    }
    printf("%s\n", title);
    printf("%-30s %14s %-6s %s\n", "figure", "value", "unit", "how");
    for (size_t i = 0; i < nrows; i++) {
        if (rows[i].is_str)
            printf("%-30s %14s %-6s %s\n", rows[i].key, rows[i].str, "", rows[i].note);
        else
            printf("%-30s %14.4g %-6s %s\n", rows[i].key, rows[i].value, rows[i].unit,
                   rows[i].note);
    }
}
