/* drivers/sim/sim_params.c - the simulated camera's parameters: the table a
 * daemon lists, defaults, get/set, and the output geometry they produce.
 *
 * One table drives everything: the index of a descriptor is its parameter
 * id (enum below, same order), so get and set are a switch on the id, and
 * a parameter cannot be listed without being handled (the switch has no
 * default and -Wswitch names a missing case).  Values arrive coerced and
 * range-checked by daq_camera_set_param; only rules a range cannot express
 * (bit depth 8/12/16, binning 1/2/4) and the rounding of ring_frames are
 * done here.  ROI against the sensor size is checked at format/start, not
 * per set, so a config may set roi.width before width.
 *
 * exposure_ms and frame_rate_hz are LIVE: atomics read by the sensor thread
 * once per frame; a change also wakes the sensor so a long frame period
 * re-plans at once.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "daq/sim.h"
#include "drivers/sim/sim_impl.h"
#include "util/err.h"

enum sim_param_id {
    P_WIDTH,
    P_HEIGHT,
    P_BIT_DEPTH,
    P_SCENE,
    P_EXPOSURE_MS,
    P_FRAME_RATE_HZ,
    P_TIMING,
    P_BUFFER_MODE,
    P_RING_FRAMES,
    P_FRAME_COUNT,
    P_ROI_X,
    P_ROI_Y,
    P_ROI_WIDTH,
    P_ROI_HEIGHT,
    P_BINNING,
    P_TEMPERATURE_C,
    P_FAULT_SEED,
    P_FAULT_JUMP_PROB,
    P_FAULT_JUMP_MAX,
    P_FAULT_BACKWARDS_PROB,
    P_FAULT_DUPLICATE_PROB,
    P_FAULT_ZERO_PROB,
    P_FAULT_STALL_AFTER,
    P_FAULT_STALL_MS,
    P_FAULT_FAIL_AFTER,
    P_TRIGGER_LINE,
    P_TRIGGER_LINE_HZ,
    P_FAULT_TRIGGER_MISS_PROB,
    P_FAULT_TRIGGER_MISS_EVERY,
    P_FAULT_TRIGGER_DOUBLE_PROB,
    P_FAULT_TRIGGER_JITTER_US,
    P_CLOCK_DRIFT_PPM,
    P_CLOCK_OFFSET_NS,
    P_COUNT
};

static const char *const timing_names[] = {"instant", "realistic", "chaos", NULL};
static const char *const scene_names[] = {"pattern", "smooth", NULL}; /* enum sim_scene */
static const char *const buffer_names[] = {"no_overwrite", "overwrite", NULL};

#define W   DAQ_PARAM_WRITABLE
#define L   DAQ_PARAM_LIVE
#define R   DAQ_PARAM_HAS_RANGE
#define BIG 1e15 /* "practically unlimited" for counts */

static const daq_param_desc table[P_COUNT] = {
    [P_WIDTH] = {"width", "sensor width", "px", DAQ_PARAM_INT, W | R, 16, 16384, NULL},
    [P_HEIGHT] = {"height", "sensor height", "px", DAQ_PARAM_INT, W | R, 16, 16384, NULL},
    [P_BIT_DEPTH] = {"bit_depth", "bits per pixel: 8 (1 byte) or 12, 16 (2 bytes)", "bit",
                     DAQ_PARAM_INT, W | R, 8, 16, NULL},
    [P_SCENE] = {"scene",
                 "pattern: a per-pixel hash, fast to verify, incompressible; smooth: bumps on a "
                 "gradient at 20-60% of the range plus shot noise, for compression figures "
                 "(include/daq/sim.h)",
                 "", DAQ_PARAM_ENUM, W, 0, 0, scene_names},
    [P_EXPOSURE_MS] = {"exposure_ms", "exposure time; also bounds the frame period", "ms",
                       DAQ_PARAM_FLOAT, W | L | R, 0.001, 10000, NULL},
    [P_FRAME_RATE_HZ] = {"frame_rate_hz", "frame rate for realistic and chaos timing", "Hz",
                         DAQ_PARAM_FLOAT, W | L | R, 0.1, 100000, NULL},
    [P_TIMING] = {"timing",
                  "instant: as fast as possible; realistic: frame_rate_hz on absolute "
                  "deadlines; chaos: realistic with seeded jitter up to +-50% of the period",
                  "", DAQ_PARAM_ENUM, W, 0, 0, timing_names},
    [P_BUFFER_MODE] = {"buffer_mode",
                       "no_overwrite: a full ring loses new frames; overwrite: new frames "
                       "replace unread ones and get_oldest returns the newest",
                       "", DAQ_PARAM_ENUM, W, 0, 0, buffer_names},
    [P_RING_FRAMES] = {"ring_frames",
                       "frame buffers in the camera's ring (rounded up to a "
                       "multiple of 4)",
                       "frames", DAQ_PARAM_INT, W | R, 4, 1024, NULL},
    [P_FRAME_COUNT] = {"frame_count", "frames to produce per start, then idle (0 = unlimited)",
                       "frames", DAQ_PARAM_INT, W | R, 0, BIG, NULL},
    [P_ROI_X] = {"roi.x", "ROI left edge on the sensor", "px", DAQ_PARAM_INT, W | R, 0, 16383,
                 NULL},
    [P_ROI_Y] = {"roi.y", "ROI top edge on the sensor", "px", DAQ_PARAM_INT, W | R, 0, 16383, NULL},
    [P_ROI_WIDTH] = {"roi.width", "ROI width on the sensor (0 = to the sensor's edge)", "px",
                     DAQ_PARAM_INT, W | R, 0, 16384, NULL},
    [P_ROI_HEIGHT] = {"roi.height", "ROI height on the sensor (0 = to the sensor's edge)", "px",
                      DAQ_PARAM_INT, W | R, 0, 16384, NULL},
    [P_BINNING] = {"binning", "binning on both axes: 1, 2 or 4", "px", DAQ_PARAM_INT, W | R, 1, 4,
                   NULL},
    [P_TEMPERATURE_C] = {"temperature_c", "sensor temperature", "degC", DAQ_PARAM_FLOAT, 0, 0, 0,
                         NULL},
    [P_FAULT_SEED] = {"fault.seed", "seed of the fault and jitter generator", "", DAQ_PARAM_INT, W,
                      0, 0, NULL},
    [P_FAULT_JUMP_PROB] = {"fault.jump_prob",
                           "per frame: the hardware number jumps forward by 2..fault.jump_max", "",
                           DAQ_PARAM_FLOAT, W | R, 0, 1, NULL},
    [P_FAULT_JUMP_MAX] = {"fault.jump_max", "largest forward jump (skips up to jump_max - 1)", "",
                          DAQ_PARAM_INT, W | R, 2, 1000000, NULL},
    [P_FAULT_BACKWARDS_PROB] = {"fault.backwards_prob",
                                "per frame: the hardware number goes back by 1..3 and "
                                "continues from there",
                                "", DAQ_PARAM_FLOAT, W | R, 0, 1, NULL},
    [P_FAULT_DUPLICATE_PROB] = {"fault.duplicate_prob",
                                "per frame: the EOF callback announces the frame twice", "",
                                DAQ_PARAM_FLOAT, W | R, 0, 1, NULL},
    [P_FAULT_ZERO_PROB] = {"fault.zero_prob", "per frame: the frame is all zeros", "",
                           DAQ_PARAM_FLOAT, W | R, 0, 1, NULL},
    [P_FAULT_STALL_AFTER] = {"fault.stall_after",
                             "the sensor pauses once after this many frames (0 = never)", "frames",
                             DAQ_PARAM_INT, W | R, 0, BIG, NULL},
    [P_FAULT_STALL_MS] = {"fault.stall_ms", "length of the pause", "ms", DAQ_PARAM_FLOAT, W | R, 0,
                          3600000, NULL},
    [P_FAULT_FAIL_AFTER] = {"fault.fail_after",
                            "the readout fails after this many frames (0 = never)", "frames",
                            DAQ_PARAM_INT, W | R, 0, BIG, NULL},
    [P_TRIGGER_LINE] = {"trigger.line",
                        "the simulated trigger line the external modes listen to; cameras naming "
                        "the same line see the same pulses (\"\" = a private line named after "
                        "the camera's id)",
                        "", DAQ_PARAM_STRING, W, 0, 0, NULL},
    [P_TRIGGER_LINE_HZ] = {"trigger.line_hz",
                           "while streaming in an external mode, the line's generator pulses at "
                           "this rate (0 = only daq_sim_line_pulse)",
                           "Hz", DAQ_PARAM_FLOAT, W | R, 0, 100000, NULL},
    [P_FAULT_TRIGGER_MISS_PROB] = {"fault.trigger_miss_prob",
                                   "per trigger: the camera misses it (no frames)", "",
                                   DAQ_PARAM_FLOAT, W | R, 0, 1, NULL},
    [P_FAULT_TRIGGER_MISS_EVERY] = {"fault.trigger_miss_every",
                                    "the camera misses every Nth trigger it sees (0 = never)", "",
                                    DAQ_PARAM_INT, W | R, 0, BIG, NULL},
    [P_FAULT_TRIGGER_DOUBLE_PROB] = {"fault.trigger_double_prob",
                                     "per trigger: the camera sees it twice (2 x "
                                     "frames_per_trigger frames, the same trigger_index)",
                                     "", DAQ_PARAM_FLOAT, W | R, 0, 1, NULL},
    [P_FAULT_TRIGGER_JITTER_US] = {"fault.trigger_jitter_us",
                                   "per triggered frame: the exposure starts a uniform 0..J us "
                                   "late (bof_ns and the camera clock show it)",
                                   "us", DAQ_PARAM_FLOAT, W | R, 0, 1e6, NULL},
    [P_CLOCK_DRIFT_PPM] = {"clock.drift_ppm",
                           "the camera clock's rate error against CLOCK_MONOTONIC "
                           "(include/daq/sim.h)",
                           "ppm", DAQ_PARAM_FLOAT, W | R, -1000, 1000, NULL},
    [P_CLOCK_OFFSET_NS] = {"clock.offset_ns",
                           "the camera clock minus CLOCK_MONOTONIC at the stream's start", "ns",
                           DAQ_PARAM_INT, W | R, -1e18, 1e18, NULL},
};

#undef W
#undef L
#undef R

void sim_settings_default(sim_settings *s)
{
    memset(s, 0, sizeof *s);
    s->width = 2048;
    s->height = 2048;
    s->bit_depth = 16;
    s->timing = SIM_TIMING_REALISTIC;
    s->buffer_mode = SIM_NO_OVERWRITE;
    s->ring_frames = 32;
    s->binning = 1;
    s->seed = 1;
    s->jump_max = 4;
    s->stall_ms = 1000;
}

size_t sim_params(daq_camera *cam, const daq_param_desc **out)
{
    *out = table;
    return P_COUNT;
}

int sim_get_param(daq_camera *cam, size_t id, daq_param_value *out, char *err, size_t err_len)
{
    sim *s = sim_of(cam);
    const sim_settings *c = &s->set;
    switch ((enum sim_param_id)id) {
    case P_WIDTH: *out = daq_param_int(c->width); break;
    case P_HEIGHT: *out = daq_param_int(c->height); break;
    case P_BIT_DEPTH: *out = daq_param_int(c->bit_depth); break;
    case P_SCENE:
        *out = daq_param_string(scene_names[c->scene]);
        out->type = DAQ_PARAM_ENUM;
        break;
    case P_EXPOSURE_MS: *out = daq_param_float(atomic_load(&s->exposure_ms)); break;
    case P_FRAME_RATE_HZ: *out = daq_param_float(atomic_load(&s->frame_rate_hz)); break;
    case P_TIMING:
        *out = daq_param_string(timing_names[c->timing]);
        out->type = DAQ_PARAM_ENUM;
        break;
    case P_BUFFER_MODE:
        *out = daq_param_string(buffer_names[c->buffer_mode]);
        out->type = DAQ_PARAM_ENUM;
        break;
    case P_RING_FRAMES: *out = daq_param_int(c->ring_frames); break;
    case P_FRAME_COUNT: *out = daq_param_int(c->frame_count); break;
    case P_ROI_X: *out = daq_param_int(c->roi_x); break;
    case P_ROI_Y: *out = daq_param_int(c->roi_y); break;
    case P_ROI_WIDTH: *out = daq_param_int(c->roi_w); break;
    case P_ROI_HEIGHT: *out = daq_param_int(c->roi_h); break;
    case P_BINNING: *out = daq_param_int(c->binning); break;
    case P_TEMPERATURE_C: *out = daq_param_float(SIM_TEMPERATURE_C); break;
    case P_FAULT_SEED: *out = daq_param_int((int64_t)c->seed); break;
    case P_FAULT_JUMP_PROB: *out = daq_param_float(c->jump_prob); break;
    case P_FAULT_JUMP_MAX: *out = daq_param_int(c->jump_max); break;
    case P_FAULT_BACKWARDS_PROB: *out = daq_param_float(c->backwards_prob); break;
    case P_FAULT_DUPLICATE_PROB: *out = daq_param_float(c->duplicate_prob); break;
    case P_FAULT_ZERO_PROB: *out = daq_param_float(c->zero_prob); break;
    case P_FAULT_STALL_AFTER: *out = daq_param_int(c->stall_after); break;
    case P_FAULT_STALL_MS: *out = daq_param_float(c->stall_ms); break;
    case P_FAULT_FAIL_AFTER: *out = daq_param_int(c->fail_after); break;
    case P_TRIGGER_LINE: *out = daq_param_string(c->line); break;
    case P_TRIGGER_LINE_HZ: *out = daq_param_float(c->line_hz); break;
    case P_FAULT_TRIGGER_MISS_PROB: *out = daq_param_float(c->trigger_miss_prob); break;
    case P_FAULT_TRIGGER_MISS_EVERY: *out = daq_param_int(c->trigger_miss_every); break;
    case P_FAULT_TRIGGER_DOUBLE_PROB: *out = daq_param_float(c->trigger_double_prob); break;
    case P_FAULT_TRIGGER_JITTER_US: *out = daq_param_float(c->trigger_jitter_us); break;
    case P_CLOCK_DRIFT_PPM: *out = daq_param_float(c->clock_drift_ppm); break;
    case P_CLOCK_OFFSET_NS: *out = daq_param_int(c->clock_offset_ns); break;
    case P_COUNT: return -1;
    }
    return 0;
}

/* Wakes the sensor so it re-plans its current frame with new LIVE values. */
static void wake_sensor(sim *s)
{
    pthread_mutex_lock(&s->mu);
    pthread_cond_broadcast(&s->sensor_cv);
    pthread_mutex_unlock(&s->mu);
}

int sim_set_param(daq_camera *cam, size_t id, const daq_param_value *v, char *err, size_t err_len)
{
    sim *s = sim_of(cam);
    const daq_param_value c = *v;
    sim_settings *st = &s->set;
    switch ((enum sim_param_id)id) {
    case P_WIDTH: st->width = c.i; break;
    case P_HEIGHT: st->height = c.i; break;
    case P_BIT_DEPTH:
        if (c.i != 8 && c.i != 12 && c.i != 16)
            return daq_err(err, err_len, "bit_depth: %" PRId64 " is not one of 8, 12, 16", c.i);
        st->bit_depth = c.i;
        break;
    case P_EXPOSURE_MS:
        atomic_store(&s->exposure_ms, c.f);
        wake_sensor(s);
        break;
    case P_FRAME_RATE_HZ:
        atomic_store(&s->frame_rate_hz, c.f);
        wake_sensor(s);
        break;
    case P_SCENE: st->scene = daq_param_enum_index(scene_names, c.s); break;
    case P_TIMING: st->timing = daq_param_enum_index(timing_names, c.s); break;
    case P_BUFFER_MODE: st->buffer_mode = daq_param_enum_index(buffer_names, c.s); break;
    case P_RING_FRAMES: st->ring_frames = (c.i + 3) / 4 * 4; break;
    case P_FRAME_COUNT: st->frame_count = c.i; break;
    case P_ROI_X: st->roi_x = c.i; break;
    case P_ROI_Y: st->roi_y = c.i; break;
    case P_ROI_WIDTH: st->roi_w = c.i; break;
    case P_ROI_HEIGHT: st->roi_h = c.i; break;
    case P_BINNING:
        if (c.i == 3)
            return daq_err(err, err_len, "binning: 3 is not one of 1, 2, 4");
        st->binning = c.i;
        break;
    case P_FAULT_SEED: st->seed = (uint64_t)c.i; break;
    case P_FAULT_JUMP_PROB: st->jump_prob = c.f; break;
    case P_FAULT_JUMP_MAX: st->jump_max = c.i; break;
    case P_FAULT_BACKWARDS_PROB: st->backwards_prob = c.f; break;
    case P_FAULT_DUPLICATE_PROB: st->duplicate_prob = c.f; break;
    case P_FAULT_ZERO_PROB: st->zero_prob = c.f; break;
    case P_FAULT_STALL_AFTER: st->stall_after = c.i; break;
    case P_FAULT_STALL_MS: st->stall_ms = c.f; break;
    case P_FAULT_FAIL_AFTER: st->fail_after = c.i; break;
    case P_TRIGGER_LINE: snprintf(st->line, sizeof st->line, "%s", c.s); break;
    case P_TRIGGER_LINE_HZ: st->line_hz = c.f; break;
    case P_FAULT_TRIGGER_MISS_PROB: st->trigger_miss_prob = c.f; break;
    case P_FAULT_TRIGGER_MISS_EVERY: st->trigger_miss_every = c.i; break;
    case P_FAULT_TRIGGER_DOUBLE_PROB: st->trigger_double_prob = c.f; break;
    case P_FAULT_TRIGGER_JITTER_US: st->trigger_jitter_us = c.f; break;
    case P_CLOCK_DRIFT_PPM: st->clock_drift_ppm = c.f; break;
    case P_CLOCK_OFFSET_NS: st->clock_offset_ns = c.i; break;
    case P_TEMPERATURE_C:
    case P_COUNT: return -1;
    }
    return 0;
}

static daq_pixel_format pixel_format_of(unsigned bit_depth)
{
    switch (bit_depth) {
    case 8: return DAQ_PIXEL_MONO8;
    case 12: return DAQ_PIXEL_MONO12;
    case 16: return DAQ_PIXEL_MONO16;
    default: return DAQ_PIXEL_UNKNOWN;
    }
}

int sim_geom_compute(const sim_settings *s, sim_geom *g, char *err, size_t err_len)
{
    memset(g, 0, sizeof *g);
    int64_t rw = s->roi_w ? s->roi_w : s->width - s->roi_x;
    int64_t rh = s->roi_h ? s->roi_h : s->height - s->roi_y;
    if (s->roi_x >= s->width || rw <= 0 || s->roi_x + rw > s->width) {
        return daq_err(err, err_len,
                       "roi: x %" PRId64 " + width %" PRId64 " does not fit the sensor (%" PRId64
                       " wide)",
                       s->roi_x, rw, s->width);
    }
    if (s->roi_y >= s->height || rh <= 0 || s->roi_y + rh > s->height) {
        return daq_err(err, err_len,
                       "roi: y %" PRId64 " + height %" PRId64 " does not fit the sensor (%" PRId64
                       " high)",
                       s->roi_y, rh, s->height);
    }
    g->roi = (daq_roi){(uint32_t)s->roi_x, (uint32_t)s->roi_y, (uint32_t)rw, (uint32_t)rh};
    g->bin = (uint32_t)s->binning;
    g->width = g->roi.width / g->bin;
    g->height = g->roi.height / g->bin;
    if (g->width < DAQ_SIM_MIN_WIDTH || g->height < 1) {
        return daq_err(err, err_len,
                       "output %" PRIu32 "x%" PRIu32 " (roi %" PRIu32 "x%" PRIu32 " binned %" PRIu32
                       "x) is too small: the width must be at least %u",
                       g->width, g->height, g->roi.width, g->roi.height, g->bin, DAQ_SIM_MIN_WIDTH);
    }
    g->bit_depth = (unsigned)s->bit_depth;
    g->scene = s->scene;
    g->bpp = g->bit_depth <= 8 ? 1 : 2;
    g->pixel_format = pixel_format_of(g->bit_depth);
    g->stride = g->width * g->bpp;
    g->frame_bytes = (size_t)g->stride * g->height;
    return 0;
}
