/* Death tests: misuse of frames must abort at once with a message that
 * names the problem.  Each case runs in a forked child; the parent checks
 * that the child died of SIGABRT and what it wrote to stderr. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daq/pool.h"
#include "test_main.h"

typedef void (*misuse_fn)(void);

static void expect_death(misuse_fn fn, const char *needle)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        fn();
        _exit(0); /* survived: the parent reports it */
    }
    close(fds[1]);
    char buf[4096];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof buf - 1 && (n = read(fds[0], buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
        fail_msg("child did not abort (status 0x%x); stderr: %s", status, buf);
    if (!strstr(buf, needle))
        fail_msg("stderr lacks '%s': %s", needle, buf);
}

static daq_pool *small_pool(const char *name)
{
    daq_pool_config c;
    daq_pool_config_init(&c);
    c.name = name;
    c.slot_bytes = 4096;
    c.slot_count = 2;
    return daq_pool_create(&c, NULL, 0);
}

static void do_double_unref(void)
{
    daq_pool *p = small_pool("cam0");
    daq_frame *f = daq_pool_try_acquire(p);
    daq_frame_unref(f);
    daq_frame_unref(f);
}

static void do_extra_unref(void)
{
    daq_pool *p = small_pool("cam1");
    daq_frame *f = daq_pool_alloc(p, NULL);
    daq_frame_ref(f);
    daq_frame_unref(f);
    daq_frame_unref(f);
    daq_frame_unref(f);
}

static void do_ref_released(void)
{
    daq_pool *p = small_pool("cam2");
    daq_frame *f = daq_pool_try_acquire(p);
    daq_frame_unref(f);
    daq_frame_ref(f);
}

static void do_foreign_unref(void)
{
    static _Alignas(64) unsigned char junk[512];
    memset(junk, 0x5a, sizeof junk);
    daq_frame_unref((daq_frame *)junk);
}

static void do_forged_header(void)
{
    /* A byte copy of a real header: magic right, address wrong. */
    daq_pool *p = small_pool("cam3");
    daq_frame *f = daq_pool_try_acquire(p);
    static _Alignas(64) unsigned char copy[1024];
    memcpy(copy, f, 256);
    daq_frame_unref((daq_frame *)copy);
}

static void do_foreign_data(void)
{
    daq_pool *p = small_pool("cam4");
    daq_frame *f = daq_pool_try_acquire(p);
    daq_pool_frame_of(p, (unsigned char *)daq_frame_data(f) + 8);
}

static void do_other_pool_data(void)
{
    daq_pool *a = small_pool("a");
    daq_pool *b = small_pool("b");
    daq_frame *f = daq_pool_try_acquire(a);
    daq_pool_frame_of(b, daq_frame_data(f));
}

static void do_acquire_after_destroy(void)
{
    daq_pool *p = small_pool("cam5");
    daq_frame *f = daq_pool_try_acquire(p);
    daq_pool_destroy(p); /* f keeps the memory alive, but the pool is closed */
    daq_pool_try_acquire(p);
    daq_frame_unref(f);
}

static void double_return(void **state)
{
    expect_death(do_double_unref, "double return / refcount underflow");
    expect_death(do_double_unref, "pool 'cam0'");
}

static void refcount_underflow(void **state)
{
    expect_death(do_extra_unref, "refcount underflow");
    expect_death(do_ref_released, "ref of a released frame");
}

static void foreign_pointer(void **state)
{
    expect_death(do_foreign_unref, "not a daq frame");
    expect_death(do_forged_header, "is not that slot");
    expect_death(do_foreign_data, "not the start of a slot of pool 'cam4'");
    expect_death(do_other_pool_data, "of pool 'b'");
}

static void acquire_after_destroy(void **state)
{
    expect_death(do_acquire_after_destroy, "acquire from destroyed pool 'cam5'");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(double_return),
    cmocka_unit_test(refcount_underflow),
    cmocka_unit_test(foreign_pointer),
    cmocka_unit_test(acquire_after_destroy),
};

DAQ_TEST_MAIN("pool_death", tests)
