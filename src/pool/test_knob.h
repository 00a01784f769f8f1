/* pool/test_knob.h - the test-only environment knobs of the frame path.
 *
 * The rollback plan's symptoms must be provable on a machine whose pool is
 * healthy, so tests slow or break the pool on purpose (issue 13):
 *   DAQ_TEST_ALLOC_DELAY_US=N   every daq_pool_alloc takes N us more (0..10000000)
 *   DAQ_TEST_POOL_SLOW_PCT=P    pool-slot frames cost P % more acquisition-thread
 *                               time (0..1000)
 *   DAQ_TEST_CRASH_POOL_INIT=1  abort() when a stream starts with use_pool on (0..1)
 * Each is read once, where the object that uses it is created (pool or
 * engine), and cached in a plain integer: unset costs one predictable
 * branch per frame.  A value that is not a decimal number in range makes the
 * creation fail with "DAQ_TEST_...: ... is not an integer in 0..MAX"; a set
 * knob logs one WARN "test only: ..." (target "daq::test") so no production
 * log hides one.
 */
#ifndef DAQ_POOL_TEST_KNOB_H
#define DAQ_POOL_TEST_KNOB_H

#include <stddef.h>
#include <stdint.h>

#define DAQ_TEST_ALLOC_DELAY_US  "DAQ_TEST_ALLOC_DELAY_US"
#define DAQ_TEST_POOL_SLOW_PCT   "DAQ_TEST_POOL_SLOW_PCT"
#define DAQ_TEST_CRASH_POOL_INIT "DAQ_TEST_CRASH_POOL_INIT"

/* Reads knob var (unset or empty: 0) into *out.  warn_what, when not NULL
 * and the knob is set to a non-zero value, is logged as "test only: <warn_what>"
 * with the variable and its value.  0, or -1 with a message in err. */
int daq_test_knob_read(const char *var, uint32_t max, const char *warn_what, uint32_t *out,
                       char *err, size_t err_len);

/* Sleeps until the CLOCK_MONOTONIC time deadline_ns (ALLOC_DELAY). */
void daq_test_knob_sleep_until(uint64_t deadline_ns);

/* Busy-waits until deadline_ns (POOL_SLOW: the time must be CPU time of the
 * acquisition thread, as a slower pool would be). */
void daq_test_knob_spin_until(uint64_t deadline_ns);

#endif
