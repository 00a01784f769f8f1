/* pool/test_knob.c - parsing and timing of the test-only knobs
 * (pool/test_knob.h).  Strict on purpose: "10us", "-1" or "1e3" is a typo
 * in a test, and a knob silently read as 0 would make that test pass for
 * the wrong reason. */
#include "pool/test_knob.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "daq/log.h"
#include "util/clock.h"
#include "util/err.h"

int daq_test_knob_read(const char *var, uint32_t max, const char *warn_what, uint32_t *out,
                       char *err, size_t err_len)
{
    *out = 0;
    const char *v = getenv(var);
    if (!v || !*v)
        return 0;
    unsigned long long n = 0;
    for (const char *c = v; *c; c++) {
        if (*c < '0' || *c > '9' || n > max)
            return daq_err(err, err_len, "%s: \"%s\" is not an integer in 0..%u", var, v, max);
        n = n * 10 + (unsigned)(*c - '0');
    }
    if (n > max)
        return daq_err(err, err_len, "%s: \"%s\" is not an integer in 0..%u", var, v, max);
    *out = (uint32_t)n;
    if (n && warn_what) {
        char msg[160];
        snprintf(msg, sizeof msg, "test only: %s", warn_what);
        DAQ_LOG(DAQ_LOG_WARN, "daq::test", msg, DAQ_F_STR("knob", var), DAQ_F_U64("value", n));
    }
    return 0;
}

void daq_test_knob_sleep_until(uint64_t deadline_ns)
{
    struct timespec ts = {.tv_sec = (time_t)(deadline_ns / 1000000000ull),
                          .tv_nsec = (long)(deadline_ns % 1000000000ull)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

void daq_test_knob_spin_until(uint64_t deadline_ns)
{
    while (daq_now_ns() < deadline_ns) {
    }
}
