/* drivers/sim/sim_clock.c - monotonic time and deadline waits for the sim.
 *
 * Every wait in the sim (frame deadlines, stalls, the reader's timeout) is
 * a condition-variable wait on an absolute CLOCK_MONOTONIC deadline, never
 * a sleep: stop, interrupt and LIVE parameter changes must cut it short,
 * and wall-clock steps must not stretch it.
 */
#include <time.h>

#include "drivers/sim/sim_impl.h"

uint64_t sim_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void sim_cond_init(pthread_cond_t *cv)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
}

void sim_cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, uint64_t deadline_ns)
{
    struct timespec ts = {.tv_sec = (time_t)(deadline_ns / 1000000000ull),
                          .tv_nsec = (long)(deadline_ns % 1000000000ull)};
    pthread_cond_timedwait(cv, mu, &ts);
}
