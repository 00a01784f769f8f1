/* drivers/pvcam/pvcam_params.c - the pvcam camera's parameters: the table
 * a daemon lists, the static facts read from the camera at open, get/set,
 * and the region the settings produce.
 *
 * Settings are plain values kept by the driver and applied to the camera at
 * start (readout port, speed, gain with pl_set_param; ROI, binning,
 * exposure and buffer mode through pl_exp_setup_cont), so a config can set
 * them before the camera is open and check-config needs no camera.
 *
 * PVCAM forbids touching a parameter while the camera acquires unless its
 * ATTR_LIVE is TRUE (rust-daq's temperature poll stopped the callbacks after
 * ~19 frames).  So the facts (sizes, bit depth, exposure range, ports,
 * speeds, gains, which parameters are live) are read once at open, get
 * answers from them, and the only SDK parameter calls while streaming are
 * the ones the camera declared live: reading PARAM_TEMP and setting
 * PARAM_EXPOSURE_TIME.  The table is rebuilt at open so that exposure_ms is
 * LIVE exactly when the camera says PARAM_EXPOSURE_TIME is, and ranges are
 * the camera's.
 *
 * Trigger modes are facts too: PARAM_EXPOSURE_MODE's list, read at open,
 * maps the extended EXT_TRIG_* values onto daq's modes (INTERNAL ->
 * internal, SOFTWARE_EDGE -> software, SOFTWARE_FIRST -> software_first,
 * EDGE_RISING -> external_edge, TRIG_FIRST -> external_first, LEVEL ->
 * external_level; LEVEL_OVERLAP, LEVEL_PULSED and the legacy modes have no
 * daq mode and are not offered).  The software modes are offered only when
 * the library has pl_exp_trigger (PVCAM_CORE_2.5): a camera listing
 * SOFTWARE_EDGE on an older SDK could be armed but never triggered.
 * expose_out_mode is PARAM_EXPOSE_OUT_MODE's list (read-only "none" on a
 * camera without one), OR-ed into exp_mode at start.
 *
 * As in the sim driver, the index of a descriptor is its parameter id and
 * get/set are switches without a default, so -Wswitch names a parameter
 * listed but not handled.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "daq/sim.h"
#include "drivers/pvcam/pvcam_impl.h"

static const char *const buffer_names[] = {"no_overwrite", "overwrite", NULL};
static const char *const pattern_names[] = {"none", "sim", NULL};
static const char *const no_expose_out[] = {"none", NULL};

/* Indexed by the EXPOSE_OUT_* value. */
const char *const pvcam_expose_out_names[PVCAM_EXPOSE_OUT_NAMED + 1] = {
    "first_row", "all_rows", "any_row", "rolling_shutter", "line_trigger", "global_shutter", NULL,
};

#define W DAQ_PARAM_WRITABLE
#define R DAQ_PARAM_HAS_RANGE

static const daq_param_desc base_table[P_COUNT] = {
    [P_CAMERA_NAME] = {"camera_name",
                       "PVCAM camera name, e.g. pvcamUSB_0 (empty: the first camera); "
                       "fixed while open",
                       "", DAQ_PARAM_STRING, W, 0, 0, NULL},
    [P_LIBRARY] = {"library",
                   "libpvcam to load (empty: $DAQ_PVCAM_LIBRARY, else libpvcam.so.2 then "
                   "libpvcam.so); fixed while open",
                   "", DAQ_PARAM_STRING, W, 0, 0, NULL},
    [P_EXPOSURE_MS] = {"exposure_ms",
                       "exposure time (LIVE when the camera declares PARAM_EXPOSURE_TIME "
                       "ATTR_LIVE)",
                       "ms", DAQ_PARAM_FLOAT, W | R, 0.001, 3600000, NULL},
    [P_BUFFER_MODE] = {"buffer_mode",
                       "no_overwrite: CIRC_NO_OVERWRITE, get_oldest + unlock after the copy, "
                       "a full ring reports overruns (error 173); overwrite: CIRC_OVERWRITE, "
                       "the newest frame (get_latest)",
                       "", DAQ_PARAM_ENUM, W, 0, 0, buffer_names},
    [P_RING_FRAMES] = {"ring_frames",
                       "frames in the circular buffer (0: about 1 s of frames, 3..1024, "
                       "under 2 GiB)",
                       "frames", DAQ_PARAM_INT, W | R, 0, 1024, NULL},
    [P_ROI_X] = {"roi.x", "ROI left edge on the sensor", "px", DAQ_PARAM_INT, W | R, 0, 65535,
                 NULL},
    [P_ROI_Y] = {"roi.y", "ROI top edge on the sensor", "px", DAQ_PARAM_INT, W | R, 0, 65535, NULL},
    [P_ROI_WIDTH] = {"roi.width", "ROI width on the sensor (0 = to the sensor's edge)", "px",
                     DAQ_PARAM_INT, W | R, 0, 65536, NULL},
    [P_ROI_HEIGHT] = {"roi.height", "ROI height on the sensor (0 = to the sensor's edge)", "px",
                      DAQ_PARAM_INT, W | R, 0, 65536, NULL},
    [P_BINNING] = {"binning",
                   "binning on both axes (the ROI is trimmed to a multiple); the camera "
                   "decides which factors it supports",
                   "px", DAQ_PARAM_INT, W | R, 1, 64, NULL},
    [P_READOUT_PORT] = {"readout_port",
                        "PARAM_READOUT_PORT value to set at start (-1: leave the camera's; "
                        "see readout_ports)",
                        "", DAQ_PARAM_INT, W | R, -1, 65535, NULL},
    [P_SPEED_INDEX] = {"speed_index", "PARAM_SPDTAB_INDEX to set at start (-1: leave it)", "",
                       DAQ_PARAM_INT, W | R, -1, 32767, NULL},
    [P_GAIN_INDEX] = {"gain_index",
                      "PARAM_GAIN_INDEX to set at start, after the speed (-1: leave it)", "",
                      DAQ_PARAM_INT, W | R, -1, 32767, NULL},
    [P_TEMPERATURE_C] = {"temperature_c",
                         "sensor temperature (PARAM_TEMP); refused while streaming unless the "
                         "camera declares it ATTR_LIVE",
                         "degC", DAQ_PARAM_FLOAT, 0, 0, 0, NULL},
    [P_SENSOR_WIDTH] = {"sensor_width", "PARAM_SER_SIZE (0 before open)", "px", DAQ_PARAM_INT, 0, 0,
                        0, NULL},
    [P_SENSOR_HEIGHT] = {"sensor_height", "PARAM_PAR_SIZE (0 before open)", "px", DAQ_PARAM_INT, 0,
                         0, 0, NULL},
    [P_BIT_DEPTH] = {"bit_depth", "PARAM_BIT_DEPTH (0 before open)", "bit", DAQ_PARAM_INT, 0, 0, 0,
                     NULL},
    [P_CHIP_NAME] = {"chip_name", "PARAM_CHIP_NAME", "", DAQ_PARAM_STRING, 0, 0, 0, NULL},
    [P_READOUT_PORTS] = {"readout_ports", "the camera's readout ports as value=name", "",
                         DAQ_PARAM_STRING, 0, 0, 0, NULL},
    [P_FRAME_BYTES] = {"frame_bytes", "bytes of one frame as pl_exp_setup_cont reported it", "B",
                       DAQ_PARAM_INT, 0, 0, 0, NULL},
    [P_RING_FRAMES_ACTIVE] = {"ring_frames_active", "frames in the current (last) ring", "frames",
                              DAQ_PARAM_INT, 0, 0, 0, NULL},
    [P_READOUT_TIME_US] = {"readout_time_us", "PARAM_READOUT_TIME after the last setup", "us",
                           DAQ_PARAM_INT, 0, 0, 0, NULL},
    [P_TEST_PATTERN] = {"test_pattern",
                        "what the camera is known to send, for frame verification: none (a "
                        "real camera), sim (the daq sim pattern of daq/sim.h, as the test "
                        "library tests/fake_pvcam renders it)",
                        "", DAQ_PARAM_ENUM, W, 0, 0, pattern_names},
    [P_EXPOSE_OUT_MODE] = {"expose_out_mode",
                           "the expose-out signal (PARAM_EXPOSE_OUT_MODE, OR-ed into exp_mode "
                           "at start): once open, the modes the camera lists, or none when it "
                           "has no expose-out output",
                           "", DAQ_PARAM_ENUM, W, 0, 0, pvcam_expose_out_names},
};

#undef W
#undef R

void pvcam_settings_default(pvcam_settings *s)
{
    memset(s, 0, sizeof *s);
    s->exposure_ms = 10.0;
    s->buffer_mode = PVCAM_NO_OVERWRITE;
    s->binning = 1;
    s->readout_port = s->speed_index = s->gain_index = -1;
}

void pvcam_table_build(pvcam *p)
{
    memcpy(p->table, base_table, sizeof p->table);
    if (!p->opened)
        return;
    const pvcam_facts *f = &p->facts;
    daq_param_desc *e = &p->table[P_EXPOSURE_MS];
    if (f->exposure.avail) {
        e->min = f->exp_min_ms > e->min ? f->exp_min_ms : e->min;
        e->max = f->exp_max_ms < e->max && f->exp_max_ms >= e->min ? f->exp_max_ms : e->max;
    }
    if (f->exposure.live)
        e->flags |= DAQ_PARAM_LIVE;
    p->table[P_ROI_X].max = f->sensor_w - 1;
    p->table[P_ROI_Y].max = f->sensor_h - 1;
    p->table[P_ROI_WIDTH].max = f->sensor_w;
    p->table[P_ROI_HEIGHT].max = f->sensor_h;
    daq_param_desc *eo = &p->table[P_EXPOSE_OUT_MODE];
    if (f->expose_out.avail && f->eo_count > 0) {
        eo->enum_values = f->eo_names;
    } else {
        eo->enum_values = no_expose_out;
        eo->flags &= ~(unsigned)DAQ_PARAM_WRITABLE;
    }
}

/* ---- facts ------------------------------------------------------------------ */

static bool get_attr(pvcam *p, uns32 id, int16 attr, void *out)
{
    return pvcam_api_get()->pl_get_param(p->hcam, id, attr, out) == PV_OK;
}

/* ATTR_AVAIL, then ATTR_LIVE of an available parameter (exact rs_bool storage). */
static pvcam_pflags pflags(pvcam *p, uns32 id)
{
    pvcam_pflags f = {false, false};
    rs_bool avail = 0, live = 0;
    f.avail = get_attr(p, id, ATTR_AVAIL, &avail) && avail;
    if (f.avail)
        f.live = get_attr(p, id, ATTR_LIVE, &live) && live;
    return f;
}

static int need(pvcam *p, uns32 id, int16 attr, void *out, const char *what, char *err,
                size_t err_len)
{
    if (get_attr(p, id, attr, out))
        return 0;
    char call[96];
    snprintf(call, sizeof call, "pl_get_param(%s)", what);
    pvcam_sdk_error(call, err, err_len);
    return -1;
}

static void read_ports(pvcam *p)
{
    pvcam_facts *f = &p->facts;
    uns32 count = 0;
    if (!f->port.avail || !get_attr(p, PARAM_READOUT_PORT, ATTR_COUNT, &count))
        return;
    get_attr(p, PARAM_READOUT_PORT, ATTR_CURRENT, &f->port_cur);
    size_t used = 0;
    for (uns32 i = 0; i < count && i < PVCAM_MAX_PORTS; i++) {
        int32 value = 0;
        char name[64] = "";
        if (pvcam_api_get()->pl_get_enum_param(p->hcam, PARAM_READOUT_PORT, i, &value, name,
                                               sizeof name) != PV_OK)
            break;
        name[sizeof name - 1] = '\0';
        f->port_values[f->port_count++] = value;
        int n = snprintf(f->port_names + used, sizeof f->port_names - used, "%s%d=%s",
                         used ? "," : "", (int)value, name);
        if (n < 0 || (size_t)n >= sizeof f->port_names - used)
            break;
        used += (size_t)n;
    }
}

/* The daq trigger mode of an extended exposure mode, or -1 (facts §4.2). */
static int daq_mode_of(int32 v)
{
    switch (v) {
    case EXT_TRIG_INTERNAL: return DAQ_TRIGGER_INTERNAL;
    case EXT_TRIG_SOFTWARE_EDGE: return DAQ_TRIGGER_SOFTWARE;
    case EXT_TRIG_SOFTWARE_FIRST: return DAQ_TRIGGER_SOFTWARE_FIRST;
    case EXT_TRIG_EDGE_RISING: return DAQ_TRIGGER_EXTERNAL_EDGE;
    case EXT_TRIG_TRIG_FIRST: return DAQ_TRIGGER_EXTERNAL_FIRST;
    case EXT_TRIG_LEVEL: return DAQ_TRIGGER_EXTERNAL_LEVEL;
    default: return -1; /* LEVEL_OVERLAP, LEVEL_PULSED, legacy modes */
    }
}

/* PARAM_EXPOSURE_MODE's list -> the trigger modes and the free-running
 * exp_mode: EXT_TRIG_INTERNAL when listed (as the SDK's live example
 * passes), else the legacy TIMED_MODE, which is all older cameras accept
 * (docs/facts/pvcam-api.md §4.2). */
static void read_exposure_modes(pvcam *p)
{
    pvcam_facts *f = &p->facts;
    for (int m = 0; m < DAQ_TRIGGER_MODE_COUNT; m++)
        f->trig_exp[m] = -1;
    f->trigger_bits = DAQ_TRIGGER_BIT(DAQ_TRIGGER_INTERNAL);
    f->exp_mode = TIMED_MODE;
    uns32 count = 0;
    if (!pflags(p, PARAM_EXPOSURE_MODE).avail ||
        !get_attr(p, PARAM_EXPOSURE_MODE, ATTR_COUNT, &count))
        return;
    bool sw = pvcam_api_get()->pl_exp_trigger != NULL;
    size_t used = 0;
    for (uns32 i = 0; i < count && i < 64; i++) {
        int32 value = -1;
        char name[64] = "";
        if (pvcam_api_get()->pl_get_enum_param(p->hcam, PARAM_EXPOSURE_MODE, i, &value, name,
                                               sizeof name) != PV_OK)
            break;
        name[sizeof name - 1] = '\0';
        int n = snprintf(f->exposure_modes + used, sizeof f->exposure_modes - used, "%s%d=%s",
                         used ? "," : "", (int)value, name);
        if (n > 0 && (size_t)n < sizeof f->exposure_modes - used)
            used += (size_t)n;
        int m = daq_mode_of(value);
        if (m < 0 || (daq_trigger_mode_is_software((daq_trigger_mode)m) && !sw))
            continue;
        f->trig_exp[m] = value;
        f->trigger_bits |= DAQ_TRIGGER_BIT(m);
        if (m == DAQ_TRIGGER_INTERNAL)
            f->exp_mode = EXT_TRIG_INTERNAL;
    }
}

/* PARAM_EXPOSE_OUT_MODE's list: the values daq can name (facts §4.2). */
static void read_expose_out(pvcam *p)
{
    pvcam_facts *f = &p->facts;
    f->expose_out = pflags(p, PARAM_EXPOSE_OUT_MODE);
    uns32 count = 0;
    if (!f->expose_out.avail || !get_attr(p, PARAM_EXPOSE_OUT_MODE, ATTR_COUNT, &count))
        return;
    for (uns32 i = 0; i < count && i < 64 && f->eo_count < PVCAM_EXPOSE_OUT_NAMED; i++) {
        int32 value = -1;
        char name[64] = "";
        if (pvcam_api_get()->pl_get_enum_param(p->hcam, PARAM_EXPOSE_OUT_MODE, i, &value, name,
                                               sizeof name) != PV_OK)
            break;
        if (value < 0 || value >= PVCAM_EXPOSE_OUT_NAMED)
            continue;
        f->eo_values[f->eo_count] = value;
        f->eo_names[f->eo_count++] = pvcam_expose_out_names[value];
    }
    f->eo_names[f->eo_count] = NULL;
}

int pvcam_facts_read(pvcam *p, char *err, size_t err_len)
{
    pvcam_facts *f = &p->facts;
    uns16 w = 0, h = 0;
    if (need(p, PARAM_SER_SIZE, ATTR_CURRENT, &w, "PARAM_SER_SIZE", err, err_len) < 0 ||
        need(p, PARAM_PAR_SIZE, ATTR_CURRENT, &h, "PARAM_PAR_SIZE", err, err_len) < 0)
        return -1;
    f->sensor_w = w;
    f->sensor_h = h;
    f->circ = pflags(p, PARAM_CIRC_BUFFER);
    if (!f->circ.avail)
        return daq_err(err, err_len,
                       "pvcam: camera %s has no circular buffer (PARAM_CIRC_BUFFER not "
                       "available): continuous acquisition is impossible",
                       f->name);
    int16 depth = 16;
    f->bit_depth_p = pflags(p, PARAM_BIT_DEPTH);
    if (f->bit_depth_p.avail &&
        need(p, PARAM_BIT_DEPTH, ATTR_CURRENT, &depth, "PARAM_BIT_DEPTH", err, err_len) < 0)
        return -1;
    f->bit_depth = depth > 0 && depth <= 16 ? (unsigned)depth : 16;
    if (pflags(p, PARAM_CHIP_NAME).avail) {
        char chip[CCD_NAME_LEN + 15] = ""; /* room beyond CCD_NAME_LEN, should one overrun */
        if (get_attr(p, PARAM_CHIP_NAME, ATTR_CURRENT, chip))
            snprintf(f->chip, sizeof f->chip, "%s", chip);
    }
    f->exp_res = EXP_RES_ONE_MILLISEC;
    if (pflags(p, PARAM_EXP_RES).avail)
        get_attr(p, PARAM_EXP_RES, ATTR_CURRENT, &f->exp_res);
    f->units_per_ms = f->exp_res == EXP_RES_ONE_MICROSEC ? 1000.0
                      : f->exp_res == EXP_RES_ONE_SEC    ? 0.001
                                                         : 1.0;
    f->exposure = pflags(p, PARAM_EXPOSURE_TIME);
    if (f->exposure.avail) {
        ulong64 lo = 0, hi = 0;
        if (get_attr(p, PARAM_EXPOSURE_TIME, ATTR_MIN, &lo) &&
            get_attr(p, PARAM_EXPOSURE_TIME, ATTR_MAX, &hi) && hi >= lo) {
            f->exp_min_ms = (double)(lo ? lo : 1) / f->units_per_ms;
            f->exp_max_ms = (double)hi / f->units_per_ms;
        }
    }
    f->temp = pflags(p, PARAM_TEMP);
    f->port = pflags(p, PARAM_READOUT_PORT);
    read_ports(p);
    f->speed = pflags(p, PARAM_SPDTAB_INDEX);
    if (f->speed.avail) {
        get_attr(p, PARAM_SPDTAB_INDEX, ATTR_CURRENT, &f->speed_cur);
        get_attr(p, PARAM_SPDTAB_INDEX, ATTR_MIN, &f->speed_min);
        get_attr(p, PARAM_SPDTAB_INDEX, ATTR_MAX, &f->speed_max);
    }
    f->gain = pflags(p, PARAM_GAIN_INDEX);
    if (f->gain.avail) {
        get_attr(p, PARAM_GAIN_INDEX, ATTR_CURRENT, &f->gain_cur);
        get_attr(p, PARAM_GAIN_INDEX, ATTR_MIN, &f->gain_min);
        get_attr(p, PARAM_GAIN_INDEX, ATTR_MAX, &f->gain_max);
    }
    f->readout_time = pflags(p, PARAM_READOUT_TIME);
    read_exposure_modes(p);
    read_expose_out(p);
    return 0;
}

/* ---- geometry ------------------------------------------------------------------ */

daq_pixel_format pvcam_pixel_format(unsigned bit_depth)
{
    return bit_depth <= 12 ? DAQ_PIXEL_MONO12 : DAQ_PIXEL_MONO16;
}

uns32 pvcam_exposure_units(const pvcam *p, double ms)
{
    double per_ms = p->opened ? p->facts.units_per_ms : 1.0;
    double u = llround(ms * per_ms);
    return u < 1 ? 1 : u > 4294967295.0 ? 4294967295u : (uns32)u;
}

int pvcam_geom_compute(const pvcam *p, pvcam_geom *g, char *err, size_t err_len)
{
    memset(g, 0, sizeof *g);
    if (!p->opened)
        return daq_err(err, err_len, "pvcam: camera '%s' is not open", daq_camera_id(p->cam));
    const pvcam_settings *s = &p->set;
    int64_t sw = p->facts.sensor_w, sh = p->facts.sensor_h;
    int64_t rw = s->roi_w ? s->roi_w : sw - s->roi_x;
    int64_t rh = s->roi_h ? s->roi_h : sh - s->roi_y;
    if (s->roi_x >= sw || rw <= 0 || s->roi_x + rw > sw)
        return daq_err(err, err_len,
                       "pvcam: roi: x %" PRId64 " + width %" PRId64
                       " does not fit the sensor (%" PRId64 " wide)",
                       s->roi_x, rw, sw);
    if (s->roi_y >= sh || rh <= 0 || s->roi_y + rh > sh)
        return daq_err(err, err_len,
                       "pvcam: roi: y %" PRId64 " + height %" PRId64
                       " does not fit the sensor (%" PRId64 " high)",
                       s->roi_y, rh, sh);
    int64_t bin = s->binning;
    if (rw / bin == 0 || rh / bin == 0)
        return daq_err(err, err_len,
                       "pvcam: roi %" PRId64 "x%" PRId64 " is smaller than binning %" PRId64, rw,
                       rh, bin);
    rw = rw / bin * bin; /* PVCAM bins whole groups: trim the ROI to a multiple */
    rh = rh / bin * bin;
    g->rgn = (rgn_type){
        .s1 = (uns16)s->roi_x,
        .s2 = (uns16)(s->roi_x + rw - 1),
        .sbin = (uns16)bin,
        .p1 = (uns16)s->roi_y,
        .p2 = (uns16)(s->roi_y + rh - 1),
        .pbin = (uns16)bin,
    };
    g->roi = (daq_roi){(uint32_t)s->roi_x, (uint32_t)s->roi_y, (uint32_t)rw, (uint32_t)rh};
    g->bin = (uint32_t)bin;
    g->width = (uint32_t)(rw / bin);
    g->height = (uint32_t)(rh / bin);
    g->stride = g->width * 2; /* PVCAM hands 12- and 16-bit pixels over as uns16 */
    g->pixel_bytes = (size_t)g->stride * g->height;
    return 0;
}

/* ---- get / set --------------------------------------------------------------------- */

static daq_param_value enum_value(const char *s)
{
    daq_param_value v = daq_param_string(s);
    v.type = DAQ_PARAM_ENUM;
    return v;
}

/* A setting, or the camera's value read at open, or -1. */
static int64_t or_camera(int64_t set, bool open_avail, int64_t cur)
{
    return set >= 0 ? set : open_avail ? cur : -1;
}

static int read_temperature(pvcam *p, daq_param_value *out, char *err, size_t err_len)
{
    if (!p->opened)
        return daq_err(err, err_len, "temperature_c: the camera is not open");
    if (!p->facts.temp.avail)
        return daq_err(err, err_len, "temperature_c: PARAM_TEMP is not available on this camera");
    if (p->stream_live && !p->facts.temp.live)
        return daq_err(err, err_len,
                       "temperature_c: not readable while streaming (PARAM_TEMP is not "
                       "ATTR_LIVE on this camera)");
    int16 t = 0;
    pvcam_sdk_lock();
    bool ok = get_attr(p, PARAM_TEMP, ATTR_CURRENT, &t);
    if (!ok)
        pvcam_sdk_error("pl_get_param(PARAM_TEMP)", err, err_len);
    pvcam_sdk_unlock();
    if (!ok)
        return -1;
    *out = daq_param_float(t / 100.0);
    return 0;
}

size_t pvcam_params(daq_camera *cam, const daq_param_desc **table)
{
    *table = pvcam_of(cam)->table;
    return P_COUNT;
}

int pvcam_get_param(daq_camera *cam, size_t id, daq_param_value *out, char *err, size_t err_len)
{
    pvcam *p = pvcam_of(cam);
    const pvcam_settings *s = &p->set;
    const pvcam_facts *f = &p->facts;
    bool o = p->opened;
    switch ((enum pvcam_param_id)id) {
    case P_CAMERA_NAME: *out = daq_param_string(o ? f->name : s->camera_name); break;
    case P_LIBRARY: *out = daq_param_string(s->library); break;
    case P_EXPOSURE_MS: *out = daq_param_float(s->exposure_ms); break;
    case P_BUFFER_MODE: *out = enum_value(buffer_names[s->buffer_mode]); break;
    case P_RING_FRAMES: *out = daq_param_int(s->ring_frames); break;
    case P_ROI_X: *out = daq_param_int(s->roi_x); break;
    case P_ROI_Y: *out = daq_param_int(s->roi_y); break;
    case P_ROI_WIDTH: *out = daq_param_int(s->roi_w); break;
    case P_ROI_HEIGHT: *out = daq_param_int(s->roi_h); break;
    case P_BINNING: *out = daq_param_int(s->binning); break;
    case P_READOUT_PORT:
        *out = daq_param_int(or_camera(s->readout_port, o && f->port.avail, f->port_cur));
        break;
    case P_SPEED_INDEX:
        *out = daq_param_int(or_camera(s->speed_index, o && f->speed.avail, f->speed_cur));
        break;
    case P_GAIN_INDEX:
        *out = daq_param_int(or_camera(s->gain_index, o && f->gain.avail, f->gain_cur));
        break;
    case P_TEMPERATURE_C: return read_temperature(p, out, err, err_len);
    case P_SENSOR_WIDTH: *out = daq_param_int(o ? f->sensor_w : 0); break;
    case P_SENSOR_HEIGHT: *out = daq_param_int(o ? f->sensor_h : 0); break;
    case P_BIT_DEPTH: *out = daq_param_int(o ? f->bit_depth : 0); break;
    case P_CHIP_NAME: *out = daq_param_string(o ? f->chip : ""); break;
    case P_READOUT_PORTS: *out = daq_param_string(o ? f->port_names : ""); break;
    case P_FRAME_BYTES: *out = daq_param_int(p->frame_bytes); break;
    case P_RING_FRAMES_ACTIVE: *out = daq_param_int(p->ring_frames); break;
    case P_READOUT_TIME_US: *out = daq_param_int(p->readout_us); break;
    case P_TEST_PATTERN: *out = enum_value(pattern_names[s->test_pattern]); break;
    case P_EXPOSE_OUT_MODE:
        *out = enum_value(o && !(f->expose_out.avail && f->eo_count > 0)
                              ? "none"
                              : pvcam_expose_out_names[s->expose_out]);
        break;
    case P_COUNT: return -1;
    }
    return 0;
}

/* A LIVE exposure change while streaming: PARAM_EXPOSURE_TIME, which the
 * camera declared ATTR_LIVE (the table marks exposure_ms LIVE only then). */
static int set_exposure_live(pvcam *p, double ms, char *err, size_t err_len)
{
    ulong64 units = pvcam_exposure_units(p, ms);
    pvcam_sdk_lock();
    bool ok = pvcam_api_get()->pl_set_param(p->hcam, PARAM_EXPOSURE_TIME, &units) == PV_OK;
    if (!ok)
        pvcam_sdk_error("pl_set_param(PARAM_EXPOSURE_TIME)", err, err_len);
    pvcam_sdk_unlock();
    if (ok)
        atomic_store(&p->exposure_ns, (uint64_t)llround(ms * 1e6));
    return ok ? 0 : -1;
}

int pvcam_set_param(daq_camera *cam, size_t id, const daq_param_value *v, char *err, size_t err_len)
{
    pvcam *p = pvcam_of(cam);
    const daq_param_desc *d = &p->table[id];
    const daq_param_value c = *v;
    pvcam_settings *s = &p->set;
    switch ((enum pvcam_param_id)id) {
    case P_CAMERA_NAME:
    case P_LIBRARY:
        if (p->opened)
            return daq_err(err, err_len, "%s: cannot change while the camera is open", d->name);
        if (id == P_CAMERA_NAME && strlen(c.s) >= sizeof s->camera_name)
            return daq_err(err, err_len, "camera_name: longer than %d characters",
                           CAM_NAME_LEN - 1);
        if (id == P_CAMERA_NAME)
            snprintf(s->camera_name, sizeof s->camera_name, "%s", c.s);
        else
            snprintf(s->library, sizeof s->library, "%s", c.s);
        break;
    case P_EXPOSURE_MS:
        if (p->stream_live && set_exposure_live(p, c.f, err, err_len) < 0)
            return -1;
        s->exposure_ms = c.f;
        break;
    case P_BUFFER_MODE: s->buffer_mode = daq_param_enum_index(buffer_names, c.s); break;
    case P_RING_FRAMES:
        if (c.i > 0 && c.i < 3)
            return daq_err(err, err_len, "ring_frames: %" PRId64 " is below 3 (0 = auto)", c.i);
        s->ring_frames = c.i;
        break;
    case P_ROI_X: s->roi_x = c.i; break;
    case P_ROI_Y: s->roi_y = c.i; break;
    case P_ROI_WIDTH: s->roi_w = c.i; break;
    case P_ROI_HEIGHT: s->roi_h = c.i; break;
    case P_BINNING: s->binning = c.i; break;
    case P_READOUT_PORT: s->readout_port = c.i; break;
    case P_SPEED_INDEX: s->speed_index = c.i; break;
    case P_GAIN_INDEX: s->gain_index = c.i; break;
    case P_TEST_PATTERN: s->test_pattern = daq_param_enum_index(pattern_names, c.s); break;
    case P_EXPOSE_OUT_MODE:
        s->expose_out = (int32)daq_param_enum_index(pvcam_expose_out_names, c.s);
        break;
    case P_TEMPERATURE_C:
    case P_SENSOR_WIDTH:
    case P_SENSOR_HEIGHT:
    case P_BIT_DEPTH:
    case P_CHIP_NAME:
    case P_READOUT_PORTS:
    case P_FRAME_BYTES:
    case P_RING_FRAMES_ACTIVE:
    case P_READOUT_TIME_US:
    case P_COUNT: return -1;
    }
    return 0;
}

/* ---- verification ------------------------------------------------------------------ */

int pvcam_verify(daq_camera *cam, const daq_frame_meta *m, const void *pixels, char *why,
                 size_t len)
{
    if (pvcam_of(cam)->set.test_pattern != 1)
        return 0; /* a real camera: nothing known about the scene */
    return daq_sim_verify(pixels, m->width, m->height, m->bit_depth, m->hw_frame_number, why,
                          len) == 0
               ? 1
               : -1;
}
