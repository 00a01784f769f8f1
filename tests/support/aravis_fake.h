/* tests/support/aravis_fake.h - what Aravis' fake cameras send, so that the
 * tests can check every pixel daq delivers.
 *
 * Both fakes (the in-process "Fake" interface and arv-fake-gv-camera) fill
 * a Mono8 frame with a diagonal ramp scaled by gain and exposure:
 *
 *     pixel(x, y) = clamp(((x + y + id) mod 255) * scale, 0, 255)
 *     scale = 1 + gain + log10(exposure_us / 10000)
 *
 * with the frame's 16-bit GigE Vision id (1..65535, 0 skipped, starting at
 * 65401 on a fresh camera).  At the fakes' defaults (gain 0, exposure
 * 10 ms) the scale is 1.  This is the "diagonal ramp" fill of Aravis'
 * fake camera (src/arvfakecamera.c, the same across 0.6..0.8), and the
 * test fake_pattern_matches_plain_aravis checks it against frames of a
 * plain Aravis acquisition (Aravis 0.8.26 here) before any daq frame is
 * judged by it.
 *
 * The driver extends ids to 64 bits starting from the first raw id it
 * sees, so a delivered hardware number hw maps back to raw id
 * ((hw - 1) mod 65535) + 1.
 */
#ifndef DAQ_TEST_ARAVIS_FAKE_H
#define DAQ_TEST_ARAVIS_FAKE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

static inline uint32_t fake_raw_id(uint64_t hw)
{
    return (uint32_t)((hw - 1) % 65535u) + 1;
}

/* 0 if the w x h Mono8 image (stride bytes per row) is the fake's frame of
 * raw id `id` at scale 1, checking every row_step-th row in full; else -1
 * with the first difference in why. */
static inline int fake_verify_mono8(const uint8_t *px, uint32_t w, uint32_t h, uint32_t stride,
                                    uint32_t id, uint32_t row_step, char *why, size_t why_len)
{
    for (uint32_t y = 0; y < h; y += row_step ? row_step : 1) {
        const uint8_t *row = px + (size_t)y * stride;
        uint32_t v = (y + id) % 255; /* value at x = 0, then +1 mod 255 */
        for (uint32_t x = 0; x < w; x++) {
            if (row[x] != v) {
                snprintf(why, why_len, "id %u: pixel (%u, %u) is %u, expected %u", id, x, y, row[x],
                         v);
                return -1;
            }
            if (++v == 255)
                v = 0;
        }
    }
    return 0;
}

#endif
