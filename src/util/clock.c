/* util/clock.c - see clock.h. */
#include "util/clock.h"

uint64_t daq_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t daq_real_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t daq_mono_to_real_ns(uint64_t mono_ns)
{
    uint64_t wall = daq_real_now_ns(), now = daq_now_ns();
    return mono_ns && mono_ns <= now ? wall - (now - mono_ns) : wall;
}

uint64_t daq_real_to_mono_ns(uint64_t real_ns)
{
    if (!real_ns)
        return 0;
    uint64_t wall = daq_real_now_ns(), now = daq_now_ns();
    uint64_t age = wall > real_ns ? wall - real_ns : 0;
    return now > age ? now - age : 0;
}

static struct timespec ns_to_ts(uint64_t ns)
{
    return (struct timespec){.tv_sec = (time_t)(ns / 1000000000ull),
                             .tv_nsec = (long)(ns % 1000000000ull)};
}

struct timespec daq_deadline_after(int64_t timeout_ns)
{
    return ns_to_ts(daq_now_ns() + (uint64_t)(timeout_ns > 0 ? timeout_ns : 0));
}

void daq_cond_init_monotonic(pthread_cond_t *cv)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
}

int daq_cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, uint64_t deadline_ns)
{
    struct timespec ts = ns_to_ts(deadline_ns);
    return pthread_cond_timedwait(cv, mu, &ts);
}
