/* acq/clock_model.h - a camera clock fitted against the host's (ADR 0011).
 *
 * Each frame gives a pair (camera timestamp c, host arrival h).  Arrival is
 * exposure plus a latency that is never negative and now and then large
 * (a scheduler hiccup, a USB burst), so the truth is the *lower envelope*
 * of the pairs, not their mean: the model fits h = a + b*c to the pairs with
 * the least latency over a sliding window (~10 s; per time bin the 5 %
 * latency quantile, so neither a spike above nor a rare early arrival
 * below pulls it: clock_model.c), with the line then lowered to the floor
 * of the newest pairs.  drift_ppm = (1/b - 1) * 1e6, the camera clock's rate against
 * the host's: positive when the camera clock gains (runs fast), as the
 * sim's clock.drift_ppm is meant (1/b rather than b - 1: exactly the
 * rate, not its first-order inverse).  The residual is the spread of the
 * envelope pairs about the line (how far an estimate may be off).
 *
 * Pure and single-threaded: the acquisition thread adds and maps; other
 * threads read a snapshot the owner copies out under its own lock.  No
 * allocation after create.
 *
 * Ownership: daq_clock_model_create returns a model the caller owns and
 * frees with daq_clock_model_destroy.
 */
#ifndef DAQ_CLOCK_MODEL_H
#define DAQ_CLOCK_MODEL_H

#include <stdbool.h>
#include <stdint.h>

typedef struct daq_clock_model daq_clock_model;

typedef struct daq_clock_fit {
    bool valid;         /* enough pairs spanning enough time to fit */
    uint64_t pairs;     /* pairs added since the last reset */
    double drift_ppm;   /* (1/b - 1) * 1e6: camera clock rate error vs the host's, + fast */
    double offset_ns;   /* a: host time at camera time 0 */
    double residual_ns; /* RMS distance of the envelope pairs from the line */
} daq_clock_fit;

/* window: pairs kept (>= 16, smaller is raised to 16; 0 picks the default,
 * 1024); a camera that fills it in under 10 s is decimated to cover 10 s.
 * NULL when out of memory. */
daq_clock_model *daq_clock_model_create(uint32_t window);
void daq_clock_model_destroy(daq_clock_model *m);
/* Forgets every pair (a new stream: the camera clock may have restarted). */
void daq_clock_model_reset(daq_clock_model *m);
/* Adds one pair; a camera time that goes backwards resets the model first. */
void daq_clock_model_add(daq_clock_model *m, uint64_t cam_ns, uint64_t host_ns);
/* The host time estimated for camera time cam_ns: true with *host_ns, false
 * when there is no valid fit yet.  For the pair just added it is never
 * after that pair's host time. */
bool daq_clock_model_map(const daq_clock_model *m, uint64_t cam_ns, uint64_t *host_ns);
void daq_clock_model_fit(const daq_clock_model *m, daq_clock_fit *out);

#endif
