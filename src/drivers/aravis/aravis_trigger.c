/* drivers/aravis/aravis_trigger.c - triggers on GenICam cameras: which of
 * daq's trigger modes (daq/trigger.h) a camera has, how start puts it in
 * one, the software trigger, and the trigger_index of each frame.
 *
 * The modes map onto SFNC's trigger features as follows (fpt = frames per
 * trigger):
 *
 *   software        TriggerSelector=FrameStart, TriggerSource=Software
 *                   (fpt > 1: FrameBurstStart + AcquisitionBurstFrameCount)
 *   software_first  TriggerSelector=AcquisitionStart, TriggerSource=Software
 *   external_edge   FrameStart (or FrameBurstStart), TriggerSource=Line*,
 *                   TriggerActivation=RisingEdge
 *   external_first  AcquisitionStart, Line*, RisingEdge
 *   external_level  FrameStart, Line*, TriggerActivation=LevelHigh
 *
 * each with TriggerMode=On, after every selector's TriggerMode was turned
 * Off (a camera armed by an earlier run must not keep an old trigger).
 * internal turns them all Off: the camera free-runs.  A mode is offered
 * only when the camera lists what it needs: a camera without TriggerMode
 * is internal-only, one without a Line* source has no external modes.
 * Aravis writes an enumeration entry the camera does not list without a
 * word, so every value is checked against the camera's list first.
 *
 * frames_per_trigger > 1 needs a burst trigger (FrameBurstStart with
 * AcquisitionBurstFrameCount).  Without one, start fails and says so,
 * rather than emulating a burst with several TriggerSoftware commands: a
 * camera that is still exposing drops a command that comes too soon (the
 * GigE fake polls its trigger flag every 40 ms and merges two into one), so
 * emulation would silently lose frames.
 *
 * trigger_index: a GenICam buffer says nothing about the trigger that
 * caused it, so frames are numbered by position: the k-th frame of the
 * stream (0-based) answers trigger k / fpt + 1.  The position is taken
 * from the frame id (the 64-bit extended block id, aravis_ids.h), not from
 * a count of delivered buffers, so a frame lost in the middle of a stream
 * (missing packets, no buffer queued) leaves the later indices right.  What
 * does shift them: the stream's first frame lost (the numbering starts at
 * the first frame that arrives), a camera that drops a trigger it got while
 * busy (it produces no frame, and the next trigger's frames take its
 * index), and cameras whose frame ids do not count every frame.  The
 * camera layer's tracker (trigger.timeout_ms) shows such a shift as missed
 * triggers.  In the *_first modes every frame answers trigger 1.
 *
 * Control thread (under the camera lock): discover, configure, fire.
 * Acquisition thread: index, reading d->trig, which start fixed before the
 * thread ran.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "daq/log.h"
#include "drivers/aravis/aravis_impl.h"
#include "util/err.h"

/* ---- discovery ------------------------------------------------------------------------- */

static bool available(ArvCamera *c, const char *feature)
{
    GError *e = NULL;
    gboolean ok = arv_camera_is_feature_available(c, feature, &e);
    g_clear_error(&e);
    return ok;
}

/* The entries an enumeration lists now (g_free the array, not the
 * strings), or NULL with *n = 0 when the feature is absent. */
static const char **entries(ArvCamera *c, const char *feature, guint *n)
{
    *n = 0;
    if (!available(c, feature))
        return NULL;
    GError *e = NULL;
    const char **list = arv_camera_dup_available_enumerations_as_strings(c, feature, n, &e);
    if (e) {
        g_clear_error(&e);
        g_free(list);
        *n = 0;
        return NULL;
    }
    return list;
}

static bool listed(const char **list, guint n, const char *name)
{
    for (guint i = 0; i < n; i++)
        if (list[i] && strcmp(list[i], name) == 0)
            return true;
    return false;
}

void aravis_trigger_forget(aravis *d)
{
    memset(&d->tcaps, 0, sizeof d->tcaps);
    d->trigger_modes = 0;
}

void aravis_trigger_discover(aravis *d)
{
    ArvCamera *c = d->camera;
    aravis_trigger_caps *t = &d->tcaps;
    aravis_trigger_forget(d);
    t->mode = available(c, "TriggerMode");
    if (!t->mode)
        return; /* internal only */
    guint n = 0;
    const char **l = entries(c, "TriggerSelector", &n);
    t->selector = l != NULL;
    t->frame_start = !t->selector || listed(l, n, "FrameStart");
    t->acquisition_start = listed(l, n, "AcquisitionStart");
    t->frame_burst_start = listed(l, n, "FrameBurstStart");
    g_free(l);
    t->burst_count = available(c, "AcquisitionBurstFrameCount");

    l = entries(c, "TriggerSource", &n);
    size_t used = 0;
    for (guint i = 0; i < n; i++) {
        if (!t->line[0] && strncmp(l[i], "Line", 4) == 0)
            snprintf(t->line, sizeof t->line, "%s", l[i]);
        int w = snprintf(t->sources + used, sizeof t->sources - used, "%s%s", i ? ", " : "", l[i]);
        if (w > 0 && (size_t)w < sizeof t->sources - used)
            used += (size_t)w;
    }
    GError *e = NULL;
    t->software = listed(l, n, "Software") && arv_camera_is_software_trigger_supported(c, &e);
    g_clear_error(&e);
    g_free(l);

    l = entries(c, "TriggerActivation", &n);
    t->activation = l != NULL;
    t->rising_edge = listed(l, n, "RisingEdge");
    t->level_high = listed(l, n, "LevelHigh");
    g_free(l);

    uint32_t m = 0;
    if (t->software && t->frame_start)
        m |= DAQ_TRIGGER_BIT(DAQ_TRIGGER_SOFTWARE);
    if (t->software && t->acquisition_start)
        m |= DAQ_TRIGGER_BIT(DAQ_TRIGGER_SOFTWARE_FIRST);
    if (t->line[0] && t->frame_start)
        m |= DAQ_TRIGGER_BIT(DAQ_TRIGGER_EXTERNAL_EDGE);
    if (t->line[0] && t->acquisition_start)
        m |= DAQ_TRIGGER_BIT(DAQ_TRIGGER_EXTERNAL_FIRST);
    if (t->line[0] && t->frame_start && t->level_high)
        m |= DAQ_TRIGGER_BIT(DAQ_TRIGGER_EXTERNAL_LEVEL);
    d->trigger_modes = m;
}

uint32_t aravis_trigger_modes(daq_camera *cam)
{
    return aravis_of(cam)->trigger_modes;
}

/* ---- configuration at start ------------------------------------------------------------------ */

/* Sets an enumeration to an entry it lists (Aravis would write any). */
static int set_enum(ArvCamera *c, const char *feature, const char *value, char *err, size_t err_len)
{
    guint n = 0;
    const char **l = entries(c, feature, &n);
    bool ok = listed(l, n, value);
    g_free(l);
    if (!ok)
        return daq_err(err, err_len, "aravis: %s has no entry %s", feature, value);
    GError *e = NULL;
    arv_camera_set_string(c, feature, value, &e);
    if (!e)
        return 0;
    char what[160];
    snprintf(what, sizeof what, "aravis: %s=%s", feature, value);
    return aravis_gerror(&e, what, err, err_len);
}

/* Every selector's TriggerMode Off.  Selectors other than the three daq
 * uses may refuse (read-only on some cameras): only ours must succeed. */
static int triggers_off(aravis *d, char *err, size_t err_len)
{
    ArvCamera *c = d->camera;
    if (!d->tcaps.mode)
        return 0;
    if (!d->tcaps.selector)
        return set_enum(c, "TriggerMode", "Off", err, err_len);
    guint n = 0;
    const char **l = entries(c, "TriggerSelector", &n);
    int rc = 0;
    for (guint i = 0; i < n && rc == 0; i++) {
        bool ours = strcmp(l[i], "FrameStart") == 0 || strcmp(l[i], "AcquisitionStart") == 0 ||
                    strcmp(l[i], "FrameBurstStart") == 0;
        char why[256];
        if ((set_enum(c, "TriggerSelector", l[i], why, sizeof why) < 0 ||
             set_enum(c, "TriggerMode", "Off", why, sizeof why) < 0) &&
            ours)
            rc = daq_err(err, err_len, "%s", why);
    }
    g_free(l);
    return rc;
}

/* One trigger On: selector (when the camera has selectors), source,
 * activation (NULL: the camera's), then TriggerMode. */
static int arm(aravis *d, const char *selector, const char *source, const char *activation,
               char *err, size_t err_len)
{
    ArvCamera *c = d->camera;
    if (d->tcaps.selector && set_enum(c, "TriggerSelector", selector, err, err_len) < 0)
        return -1;
    if (set_enum(c, "TriggerSource", source, err, err_len) < 0)
        return -1;
    if (activation && d->tcaps.activation &&
        set_enum(c, "TriggerActivation", activation, err, err_len) < 0)
        return -1;
    return set_enum(c, "TriggerMode", "On", err, err_len);
}

/* FrameStart, or for several frames per trigger the burst trigger. */
static int arm_frames(aravis *d, const char *source, const char *activation, char *err,
                      size_t err_len)
{
    uint32_t fpt = d->trig.frames_per_trigger;
    if (fpt <= 1)
        return arm(d, "FrameStart", source, activation, err, err_len);
    if (!d->tcaps.frame_burst_start || !d->tcaps.burst_count)
        return daq_err(err, err_len,
                       "aravis: trigger.frames_per_trigger %u needs a FrameBurstStart trigger "
                       "with AcquisitionBurstFrameCount, which camera '%s' lacks (set it to 1)",
                       fpt, daq_camera_id(d->cam));
    GError *e = NULL;
    arv_camera_set_integer(d->camera, "AcquisitionBurstFrameCount", fpt, &e);
    if (e)
        return aravis_gerror(&e, "aravis: AcquisitionBurstFrameCount", err, err_len);
    return arm(d, "FrameBurstStart", source, activation, err, err_len);
}

int aravis_trigger_configure(aravis *d, char *err, size_t err_len)
{
    const daq_trigger_mode mode = d->trig.mode;
    d->accepted = 0;
    d->have_hw_base = false;
    d->hw_base = 0;
    if (mode != DAQ_TRIGGER_INTERNAL && !(d->trigger_modes & DAQ_TRIGGER_BIT(mode)))
        return daq_err(err, err_len, "aravis: camera '%s' has no %s trigger", daq_camera_id(d->cam),
                       daq_trigger_mode_name(mode));
    const char *line = d->set.trigger_source[0] ? d->set.trigger_source : d->tcaps.line;
    bool external = mode >= DAQ_TRIGGER_EXTERNAL_EDGE && mode <= DAQ_TRIGGER_EXTERNAL_LEVEL;
    if (external) {
        guint n = 0;
        const char **l = entries(d->camera, "TriggerSource", &n);
        bool ok = strcmp(line, "Software") != 0 && listed(l, n, line);
        g_free(l);
        if (!ok)
            return daq_err(err, err_len, "trigger.source: %s is not one of this camera's: %s", line,
                           d->tcaps.sources);
    }
    if (triggers_off(d, err, err_len) < 0)
        return -1;
    const char *edge = d->tcaps.rising_edge ? "RisingEdge" : NULL;
    switch (mode) {
    case DAQ_TRIGGER_INTERNAL: return 0;
    case DAQ_TRIGGER_SOFTWARE: return arm_frames(d, "Software", NULL, err, err_len);
    case DAQ_TRIGGER_SOFTWARE_FIRST:
        return arm(d, "AcquisitionStart", "Software", NULL, err, err_len);
    case DAQ_TRIGGER_EXTERNAL_EDGE: return arm_frames(d, line, edge, err, err_len);
    case DAQ_TRIGGER_EXTERNAL_FIRST: return arm(d, "AcquisitionStart", line, edge, err, err_len);
    case DAQ_TRIGGER_EXTERNAL_LEVEL: return arm(d, "FrameStart", line, "LevelHigh", err, err_len);
    case DAQ_TRIGGER_MODE_COUNT: break;
    }
    return daq_err(err, err_len, "aravis: unknown trigger mode %d", (int)mode);
}

/* ---- the software trigger ------------------------------------------------------------------- */

int aravis_trigger_fire(daq_camera *cam, daq_trigger_answer *out, char *err, size_t err_len)
{
    aravis *d = aravis_of(cam);
    memset(out, 0, sizeof *out);
    if (!d->stream || !daq_trigger_mode_is_software(d->trig.mode))
        return daq_err(err, err_len, "aravis: camera '%s' is not streaming in a software mode",
                       daq_camera_id(cam));
    if (d->trig.mode == DAQ_TRIGGER_SOFTWARE_FIRST && d->accepted) {
        out->result = DAQ_TRIGGER_IGNORED;
        snprintf(out->reason, sizeof out->reason, "sequence already started");
        return 0;
    }
    GError *e = NULL;
    arv_camera_software_trigger(d->camera, &e);
    if (e)
        return aravis_gerror(&e, "aravis: TriggerSoftware", err, err_len);
    d->accepted++;
    /* GenICam has no answer to a trigger command: the camera took it as far
     * as the host can know. */
    out->result = DAQ_TRIGGER_TRIGGERED;
    out->index = d->trig.mode == DAQ_TRIGGER_SOFTWARE_FIRST ? 1 : d->accepted;
    return 0;
}

/* ---- frames ------------------------------------------------------------------------------------
 */

uint64_t aravis_trigger_index(aravis *d, uint64_t hw)
{
    switch (d->trig.mode) {
    case DAQ_TRIGGER_INTERNAL: return 0;
    case DAQ_TRIGGER_SOFTWARE_FIRST:
    case DAQ_TRIGGER_EXTERNAL_FIRST: return 1;
    default: break;
    }
    /* A step back means the camera restarted its ids: count from there. */
    if (!d->have_hw_base || hw < d->hw_base) {
        d->have_hw_base = true;
        d->hw_base = hw;
    }
    uint64_t fpt = d->trig.mode == DAQ_TRIGGER_EXTERNAL_LEVEL || d->trig.frames_per_trigger == 0
                       ? 1
                       : d->trig.frames_per_trigger;
    return (hw - d->hw_base) / fpt + 1;
}
