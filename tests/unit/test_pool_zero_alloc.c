/* The pool path after warm-up: no heap allocation and no page fault per
 * frame.  10 000 cycles of alloc + 8 MiB copy + unref, counted by the
 * project's malloc interposer and by getrusage's minor-fault counter.  The
 * heap path is measured the same way as a control, so the counters are
 * shown to see what they are meant to see. */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "daq/pool.h"
#include "malloc_count.h"
#include "test_main.h"

#define FRAME (8u << 20)

static long minor_faults(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

static unsigned cycles(void)
{
    const char *e = getenv("DAQ_ZERO_ALLOC_CYCLES");
    return e ? (unsigned)atoi(e) : 10000;
}

struct counts {
    uint64_t mallocs;
    long faults;
};

static struct counts run(daq_pool *p, const unsigned char *src, unsigned n)
{
    uint64_t m0 = daq_malloc_count();
    long f0 = minor_faults();
    for (unsigned i = 0; i < n; i++) {
        daq_frame *f = daq_pool_alloc(p, NULL);
        memcpy(daq_frame_data(f), src, FRAME);
        daq_frame_meta_mut(f)->hw_frame_number = i + 1;
        daq_frame_unref(f);
    }
    return (struct counts){daq_malloc_count() - m0, minor_faults() - f0};
}

static daq_pool *pool_8mib(void)
{
    daq_pool_config c;
    daq_pool_config_init(&c);
    c.name = "zero";
    c.slot_bytes = FRAME;
    c.slot_count = 4;
    char err[256];
    daq_pool *p = daq_pool_create(&c, err, sizeof err);
    if (!p)
        fail_msg("%s", err);
    return p;
}

static unsigned char *source_frame(void)
{
    unsigned char *src = aligned_alloc(4096, FRAME);
    for (size_t i = 0; i < FRAME; i++)
        src[i] = (unsigned char)(i * 31u);
    return src;
}

static void pool_path_allocates_nothing(void **state)
{
    printf("counting with: %s\n", daq_malloc_count_mechanism());
    unsigned char *src = source_frame();
    daq_pool *p = pool_8mib();
    /* Warm-up: the frame path itself, then with copies.  100 000 calls is
     * what ASan's fake stack (use-after-return detection) needs to have
     * touched all of its pages once; before that it faults lazily, which
     * is the sanitizer's cost, not the pool's. */
    for (int i = 0; i < 100000; i++)
        daq_frame_unref(daq_pool_alloc(p, NULL));
    run(p, src, 16);
    unsigned n = cycles();
    struct counts c = run(p, src, n);
    printf("pool path: %u frames, %lu mallocs, %ld minor faults\n", n, (unsigned long)c.mallocs,
           c.faults);
    daq_pool_metrics m;
    daq_pool_metrics_snapshot(p, &m);
    assert_int_equal(m.hits, n + 100016);
    assert_int_equal(m.misses, 0);
    assert_int_equal(c.mallocs, 0);
    assert_int_equal(c.faults, 0);
    daq_pool_destroy(p);
    free(src);
}

static void counters_see_the_heap_path(void **state)
{
    /* Control: with use_pool off and glibc's mmap threshold pinned (so every
     * 8 MiB frame is a fresh mapping), both counters must move. */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    unsigned char *src = source_frame();
    daq_pool *p = pool_8mib();
    daq_pool_set_use_pool(p, false);
    run(p, src, 2);
    unsigned n = 20;
    struct counts c = run(p, src, n);
    printf("heap path: %u frames, %lu mallocs, %ld minor faults\n", n, (unsigned long)c.mallocs,
           c.faults);
    assert_true(c.mallocs >= n);
    assert_true(c.faults >= (long)n * 1000); /* ~2048 per fresh 8 MiB frame */
    daq_pool_destroy(p);
    free(src);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(pool_path_allocates_nothing),
    cmocka_unit_test(counters_see_the_heap_path),
};

DAQ_TEST_MAIN("pool_zero_alloc", tests)
