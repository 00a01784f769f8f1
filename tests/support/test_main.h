/* tests/support/test_main.h - run one named cmocka test, so that ctest lists
 * and reports every test case on its own line.
 *
 *   test_binary            runs every test of the file
 *   test_binary NAME       runs only NAME; an unknown NAME is an error, so a
 *                          stale name in CMakeLists.txt cannot pass silently
 *   test_binary --list     prints the names
 */
#ifndef DAQ_TEST_MAIN_H
#define DAQ_TEST_MAIN_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "daq/camera.h"
#include "daq/pool.h"

static inline int daq_test_main(int argc, char **argv, const char *group,
                                const struct CMUnitTest *tests, size_t n)
{
    if (argc > 1 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < n; i++)
            printf("%s\n", tests[i].name);
        return 0;
    }
    if (argc > 1) {
        for (size_t i = 0; i < n; i++)
            if (strcmp(tests[i].name, argv[1]) == 0)
                return _cmocka_run_group_tests(group, &tests[i], 1, NULL, NULL);
        fprintf(stderr, "%s: no test named '%s'\n", group, argv[1]);
        return 2;
    }
    return _cmocka_run_group_tests(group, tests, n, NULL, NULL);
}

/* CLOCK_MONOTONIC in ns, for deadlines and rates in tests. */
static inline uint64_t daq_test_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The side of the square frames real-time tests stream: 2048 by default,
 * smaller in sanitizer builds (DAQ_TEST_FRAME_SIDE), where 8 MiB copies
 * cannot keep 100 FPS. */
static inline uint32_t daq_test_frame_side(void)
{
    const char *e = getenv("DAQ_TEST_FRAME_SIDE");
    return e ? (uint32_t)atoi(e) : 2048;
}

/* The driver stat extra called name; a missing one fails the test. */
static inline uint64_t daq_test_extra(const daq_camera_stats *s, const char *name)
{
    const daq_camera_extra *x = daq_camera_stats_find(s, name);
    if (!x)
        fail_msg("driver stat %s missing", name);
    return x ? x->value : 0;
}

/* Sets params given as name/text pairs (NULL-terminated; kv may be NULL);
 * a refused one fails the test. */
static inline void daq_test_set_params(daq_camera *cam, const char *const *kv)
{
    char err[256] = "";
    for (size_t i = 0; kv && kv[i]; i += 2)
        if (daq_camera_set_param_text(cam, kv[i], kv[i + 1], err, sizeof err) < 0)
            fail_msg("set %s=%s: %s", kv[i], kv[i + 1], err);
}

/* A sim camera called id with params kv (daq_test_set_params); the caller
 * owns it. */
static inline daq_camera *daq_test_sim(const char *id, const char *const *kv)
{
    char err[256] = "";
    daq_camera *cam = daq_camera_create("sim", id, err, sizeof err);
    if (!cam)
        fail_msg("create: %s", err);
    daq_test_set_params(cam, kv);
    return cam;
}

/* Starts cam; a failure fails the test. */
static inline void daq_test_start(daq_camera *cam)
{
    char err[256] = "";
    if (daq_camera_start(cam, err, sizeof err) < 0)
        fail_msg("start: %s", err);
}

/* A pool of slots x slot_bytes with the heap policy; the caller owns it. */
static inline daq_pool *daq_test_pool(const char *name, size_t slot_bytes, uint32_t slots)
{
    daq_pool_config c;
    daq_pool_config_init(&c);
    c.name = name;
    c.slot_bytes = slot_bytes;
    c.slot_count = slots;
    c.policy = DAQ_POOL_POLICY_HEAP;
    char err[256] = "";
    daq_pool *p = daq_pool_create(&c, err, sizeof err);
    if (!p)
        fail_msg("pool: %s", err);
    return p;
}

#define DAQ_TEST_MAIN(group, tests)                                                                \
    int main(int argc, char **argv)                                                                \
    {                                                                                              \
        return daq_test_main(argc, argv, group, tests, sizeof(tests) / sizeof((tests)[0]));        \
    }

#endif
