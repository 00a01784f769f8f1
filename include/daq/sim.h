/* daq/sim.h - the simulated camera's pixel pattern, public so that any
 * consumer (tests, clients, the Python module) can verify a frame.
 *
 * A frame of W x H pixels, bit depth B (1 byte per pixel for B <= 8, else 2
 * bytes little-endian), hardware frame number n:
 *
 *   pixel(x, y, n):
 *       h  = (uint32)(x * 2654435761) ^ (uint32)(y * 2246822519)
 *            ^ (uint32)((n % 4) * 3266489917)
 *       h ^= h >> 15
 *       value = h & (2^B - 1)
 *
 *   except the first 16 bytes of row 0, the stamp:
 *       bytes  0..7   n, uint64 little-endian
 *       bytes  8..11  0x53514144 ("DAQS"), uint32 little-endian
 *       bytes 12..15  (uint32)(n * 2654435761) ^ W ^ (H << 16), little-endian
 *
 * The pattern depends on n only through n % 4 (and the stamp), so the sim
 * pre-renders four base frames and a ring whose size is a multiple of four
 * only needs the stamp rewritten per frame: cheap at 1000+ FPS of 8 MiB.
 * Verification still catches a frame from the wrong slot, a torn copy, a
 * stale or overwritten buffer (wrong n or wrong n % 4) and any bit flip.
 * Width must be at least 16 (so the stamp fits in row 0).
 */
#ifndef DAQ_SIM_H
#define DAQ_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "daq/api.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DAQ_SIM_STAMP_MAGIC 0x53514144u
#define DAQ_SIM_MIN_WIDTH   16u

/* Bytes per pixel for a bit depth (1 or 2). */
DAQ_API unsigned daq_sim_bytes_per_pixel(unsigned bit_depth);

/* The pattern value at (x, y) for frame n, ignoring the stamp. */
DAQ_API uint16_t daq_sim_pixel(uint32_t x, uint32_t y, uint64_t n, unsigned bit_depth);

/* Writes the whole frame n (pattern and stamp) into dst (W*H*bpp bytes). */
DAQ_API void daq_sim_render(void *dst, uint32_t width, uint32_t height, unsigned bit_depth,
                            uint64_t n);

/* Writes only the stamp of frame n into the first 16 bytes of dst. */
DAQ_API void daq_sim_stamp(void *dst, uint32_t width, uint32_t height, uint64_t n);

/* Reads the frame number from a stamp; returns 0 if the magic or check does
 * not match W and H. */
DAQ_API uint64_t daq_sim_stamp_read(const void *pixels, uint32_t width, uint32_t height);

/* 0 if pixels are exactly frame n; else -1 and a description of the first
 * difference (stamp field or pixel x, y: got/want) in why. */
DAQ_API int daq_sim_verify(const void *pixels, uint32_t width, uint32_t height, unsigned bit_depth,
                           uint64_t n, char *why, size_t why_len);

#ifdef __cplusplus
}
#endif
#endif
