/* daq/sim.h - the simulated camera's images (the pattern and the smooth
 * scene), public so that any consumer (tests, clients, the Python module)
 * can verify a frame.
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
 *
 * The smooth scene (sim parameter scene = "smooth") is an image for
 * compression figures: the hash above is incompressible, a camera's image
 * is not.  Four broad bumps on a gradient, scaled to about 2..20 % of the
 * range (a fluorescence image: a dim background and brighter structures,
 * far from saturation), plus shot noise of about sqrt(signal) (gain 1
 * count per electron).  Integer arithmetic only, so any language reproduces it
 * exactly; / is floor division and >> an arithmetic (floor) shift:
 *
 *   c = n % 4,  M = 2^B - 1
 *   u = x * 4096 / W,  v = y * 4096 / H                       (0..4095)
 *   bump(t, r) = max(0, r*r - t*t) * 65536 / (r*r)             (1.0 = 65536)
 *   for each bump k (cx, cy, rx, ry, a) of the table below:
 *       b_k = ((a * bump(v - cy - 16*c, ry)) >> 16) * bump(u - cx - 24*c, rx) >> 16
 *   f = min(65535, 2 * (u + v) + b_0 + b_1 + b_2 + b_3)
 *   s = M / 50 + ((9 * M / 50) * f >> 16)                        (the signal)
 *   h = fmix32((x * 0x9E3779B1) ^ (y * 0x85EBCA77) ^ (c * 0xC2B2AE3D))  (uint32)
 *       fmix32(h): h ^= h >> 16; h *= 0x85EBCA6B; h ^= h >> 13;
 *                  h *= 0xC2B2AE35; h ^= h >> 16
 *   g = (h & 255) + (h >> 8 & 255) + (h >> 16 & 255) + (h >> 24) - 510
 *                                             (sum of 4 uniform bytes: sd ~147.8)
 *   noise = (g * isqrt(256 * s) * 887) >> 21         (sd ~sqrt(s); fits an int32)
 *       isqrt: the floor of the square root
 *   value = min(M, max(0, s + noise))
 *
 *   bump k   cx    cy    rx    ry     a
 *        0  1200  1400  1100  1000  52000
 *        1  2900  2600   900  1200  46000
 *        2  3000   900   700   600  38000
 *        3  1000  3200   800   700  30000
 *
 * Its stamp is the pattern's with magic 0x4E514144 ("DAQN"), so a frame
 * says which image it carries: daq_sim_verify checks either, by the
 * magic.  On 2048 x 2048 x 16 bit, bslz4 compresses it 1.50x and lz4 not
 * at all (about 6 of the 16 bits are noise, no byte repeats); at 12 bits
 * bslz4 gives 2.0x, lz4 1.04x (codec_h5write bench).
 *
 * The camera clock (daq_frame_info.cam_bof_ns / cam_eof_ns, ADR 0011): a
 * clock that agrees with CLOCK_MONOTONIC plus clock.offset_ns when the
 * stream starts and then runs clock.drift_ppm fast:
 *
 *   cam(t) = t0 + offset_ns + (t - t0) + round((t - t0) * drift_ppm * 1e-6)
 *
 * t0 = CLOCK_MONOTONIC at the start of the stream, t = the frame's BOF (or
 * EOF) in CLOCK_MONOTONIC ns, all in ns, signed arithmetic (a result below
 * 1 reads 1: 0 means "no camera clock").  So with drift 0 and offset 0 it
 * is bof_ns itself, and between two frames of a stream cam advances
 * (1 + drift_ppm * 1e-6) times as far as bof_ns (to 1 ns of rounding).
 * Every delay the sim applies to an exposure (fault.trigger_jitter_us) is in
 * t, so it shows in both.
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
#define DAQ_SIM_SCENE_MAGIC 0x4E514144u
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

/* Reads the frame number from a stamp (the pattern's or the scene's);
 * returns 0 if the magic is neither or the check does not match W and H. */
DAQ_API uint64_t daq_sim_stamp_read(const void *pixels, uint32_t width, uint32_t height);

/* 0 if pixels are exactly frame n -- of the smooth scene when the stamp
 * carries the scene's magic, else of the pattern; else -1 and a
 * description of the first difference (stamp field or pixel x, y:
 * got/want) in why. */
DAQ_API int daq_sim_verify(const void *pixels, uint32_t width, uint32_t height, unsigned bit_depth,
                           uint64_t n, char *why, size_t why_len);

/* ---- the smooth scene ---- */

/* The scene's value at (x, y) of a W x H frame n, ignoring the stamp (the
 * formula above, pixel by pixel: slow, for checks). */
DAQ_API uint16_t daq_sim_scene_pixel(uint32_t x, uint32_t y, uint32_t width, uint32_t height,
                                     uint64_t n, unsigned bit_depth);

/* Writes the whole scene frame n (image and scene stamp) into dst. */
DAQ_API void daq_sim_render_scene(void *dst, uint32_t width, uint32_t height, unsigned bit_depth,
                                  uint64_t n);

/* Writes only the scene stamp of frame n into the first 16 bytes of dst. */
DAQ_API void daq_sim_stamp_scene(void *dst, uint32_t width, uint32_t height, uint64_t n);

/* As daq_sim_verify, but only a scene frame passes. */
DAQ_API int daq_sim_verify_scene(const void *pixels, uint32_t width, uint32_t height,
                                 unsigned bit_depth, uint64_t n, char *why, size_t why_len);

/* ---- the simulated trigger line (ADR 0011) -------------------------------------
 * Sim cameras whose trigger.line parameter names the same line share it (a
 * process-wide registry, created on first use, never freed).  A camera
 * streaming in an external_* mode exposes on the line's pulses instead of
 * its own deadlines -- unless one of its faults (fault.trigger_miss_prob,
 * fault.trigger_miss_every, fault.trigger_double_prob, seeded) makes it miss
 * a pulse or see it twice -- and its frames carry the pulse's number as
 * trigger_index, so frames of several cameras match by index.  A line is
 * pulsed by daq_sim_line_pulse, or by its own generator while a camera on
 * it has trigger.line_hz > 0. */

/* Fires one pulse on the line called name now.  Returns its number
 * (1-based, counted per line since the line was created). */
DAQ_API uint64_t daq_sim_line_pulse(const char *name);
/* The sim cameras streaming in an external mode on the line now. */
DAQ_API unsigned daq_sim_line_listeners(const char *name);

#ifdef __cplusplus
}
#endif
#endif
