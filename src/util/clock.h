/* util/clock.h - monotonic time and deadline waits.
 *
 * Every timed wait in daq is a condition-variable wait on an absolute
 * CLOCK_MONOTONIC deadline: wall-clock steps must not stretch or shorten it,
 * and whoever signals the condition can cut it short (a sleep could not).
 */
#ifndef DAQ_UTIL_CLOCK_H
#define DAQ_UTIL_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in ns. */
uint64_t daq_now_ns(void);

/* Wall-clock time (CLOCK_REALTIME) in ns since the Unix epoch: for
 * timestamps that leave the process, never for intervals. */
uint64_t daq_real_now_ns(void);

/* Conversions between CLOCK_MONOTONIC and wall-clock (CLOCK_REALTIME) ns
 * through the current offset of the two clocks, so a wall-clock step moves
 * the result.  daq_mono_to_real_ns(0) and a mono time in the future give
 * "now"; daq_real_to_mono_ns(0) is 0 (unknown), a real time in the future
 * gives "now". */
uint64_t daq_mono_to_real_ns(uint64_t mono_ns);
uint64_t daq_real_to_mono_ns(uint64_t real_ns);

/* The absolute CLOCK_MONOTONIC time timeout_ns from now (>= 0). */
struct timespec daq_deadline_after(int64_t timeout_ns);

/* Initialises cv to time its waits on CLOCK_MONOTONIC. */
void daq_cond_init_monotonic(pthread_cond_t *cv);

/* pthread_cond_timedwait until deadline_ns (CLOCK_MONOTONIC); returns its
 * result (0 or ETIMEDOUT). */
int daq_cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, uint64_t deadline_ns);

#endif
