/* pool/latency.h - the log2-ns bucket of daq_latency_hist, shared by the
 * pool's alloc histograms and the engine's frame-interval histogram so both
 * read with daq_latency_bucket_upper_ns.  Inline: it is on the frame path
 * (a count-leading-zeros and a compare). */
#ifndef DAQ_POOL_LATENCY_H
#define DAQ_POOL_LATENCY_H

#include <stdint.h>

#include "daq/pool.h"

/* Bucket i holds [2^i, 2^(i+1)) ns; 0 and 1 ns go to bucket 0, everything
 * above the last bucket's bound to the last one. */
static inline unsigned daq_lat_bucket(uint64_t ns)
{
    if (ns < 2)
        return 0;
    unsigned b = 63u - (unsigned)__builtin_clzll(ns);
    return b < DAQ_LAT_BUCKETS ? b : DAQ_LAT_BUCKETS - 1;
}

#endif
