/* devices/devices.c - turns a daq_config into running devices.
 *
 * Configuration errors (a driver parameter the driver does not have, a value
 * out of its range) are found here, where the driver's parameter table is
 * known, and reported at the parameter's file position.  Failures to reach
 * the hardware are not configuration errors: such a device stays in the
 * table, down, with its reason, so one missing camera does not take the
 * others with it.
 *
 * A device that is down can come up later (devices/recovery.c): the table
 * keeps its own copy of the configuration to build the camera again, and
 * the engine pointer is published once with a release store, so readers on
 * other threads (gRPC, metrics, health) see either NULL or a complete
 * device.  It never goes back to NULL before daq_devices_destroy.
 *
 * [[sync_groups]] (daq/sync.h): one matcher per group, created with the
 * table and living as long as it, with a LOSSLESS subscription on each
 * member's bus -- the bus exists even while a device is down, so a member
 * that comes up later is matched from its first frame.  The matchers hold
 * no frames (nothing consumes the sets yet), so they cost each member's
 * pool only the subscription's queue.  A sim member whose driver table
 * does not set trigger.line gets the group's line here, in make_camera, so
 * a camera rebuilt by recovery gets it too; one that sets another line was
 * refused by the config loader.
 */
#define _GNU_SOURCE
#include "daq/devices.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daq/log.h"
#include "daq/sink.h"
#include "daq/sync.h"
#include "daq/watch.h"
#include "devices/budget.h"
#include "devices/recovery.h"
#include "devices/watch_rec.h"
#include "util/err.h"

#define LOG_DEV "daq::devices"

struct daq_device {
    char id[64], name[128], driver[32];
    char error[256]; /* why it was down at start; written before the table is shared */
    daq_camera *cam; /* owned by acq once the engine exists; set before acq */
    daq_bus *bus;
    daq_acq *acq; /* NULL while down; set once (device_up), read with acq_of */
    bool autostart;
    const daq_config_device *cd; /* borrowed from the table's config copy */
    devices_rec rec;             /* recovery's record (devices/recovery.h) */
    devices_watch_rec watch;     /* the symptom watch's record (devices/watch_rec.h) */
    daq_budget *budget;          /* the table's (devices/budget.h); index: this device's slot */
    size_t index;
    size_t n_sinks;
    daq_sink *sinks[DAQ_CONFIG_MAX_CONSUMERS];
};

struct daq_devices {
    size_t n;
    daq_config *cfg;            /* owned copy: a device that comes up later is built from it */
    devices_recovery *recovery; /* owned; NULL unless daq_devices_recovery_start ran */
    devices_watch *watch;       /* owned; NULL unless daq_devices_watch_start ran */
    devices_watch_shared rss;   /* the watch's RSS timeline and hook */
    daq_budget *budget;         /* owned: [limits] memory_mb over every camera */
    size_t n_sync;
    daq_sync_group *sync[DAQ_CONFIG_MAX_SYNC_GROUPS]; /* owned */
    daq_device dev[DAQ_CONFIG_MAX_DEVICES];
};

/* ---- building a camera ------------------------------------------------------ */

static daq_param_value param_value(const daq_config_param *p)
{
    switch (p->type) {
    case DAQ_CONFIG_BOOL: return daq_param_bool(p->b);
    case DAQ_CONFIG_INT: return daq_param_int(p->i);
    case DAQ_CONFIG_FLOAT: return daq_param_float(p->f);
    case DAQ_CONFIG_STRING: break;
    }
    return daq_param_string(p->s);
}

static bool has_param(const daq_config_device *d, const char *key)
{
    for (size_t i = 0; i < d->n_params; i++)
        if (strcmp(d->params[i].key, key) == 0)
            return true;
    return false;
}

/* Sets one parameter; errors at the parameter's position. */
static int set_one(const daq_config *cfg, const daq_config_device *d, daq_camera *cam,
                   const char *key, daq_param_value v, daq_toml_pos pos, char *err, size_t err_len)
{
    char why[256];
    if (daq_camera_set_param(cam, key, &v, why, sizeof why) == 0)
        return 0;
    /* Camera messages start with "key: "; the path below already names it. */
    size_t kl = strlen(key);
    const char *msg =
        strncmp(why, key, kl) == 0 && strncmp(why + kl, ": ", 2) == 0 ? why + kl + 2 : why;
    char where[300];
    return daq_err(err, err_len, "%sdevices.%s.driver.%s: %s",
                   daq_config_where(cfg, pos, where, sizeof where), d->id, key, msg);
}

/* The [[sync_groups]] entry naming device id; NULL if none. */
static const daq_config_sync_group *sync_group_of(const daq_config *cfg, const char *id)
{
    for (size_t i = 0; i < cfg->n_sync_groups; i++)
        for (size_t k = 0; k < cfg->sync_groups[i].n_devices; k++)
            if (strcmp(cfg->sync_groups[i].devices[k], id) == 0)
                return &cfg->sync_groups[i];
    return NULL;
}

/* A sim member of a group with a line listens to it unless its own table
 * names one (the loader refused a different one). */
static int set_sync_line(const daq_config *cfg, const daq_config_device *d, daq_camera *cam,
                         char *err, size_t err_len)
{
    const daq_config_sync_group *sg = sync_group_of(cfg, d->id);
    daq_param_desc desc;
    if (!sg || !sg->line[0] || has_param(d, "trigger.line") ||
        strcmp(daq_camera_type(cam), "sim") != 0 ||
        daq_camera_get_param_desc(cam, "trigger.line", &desc, NULL, 0) != 0)
        return 0;
    return set_one(cfg, d, cam, "trigger.line", daq_param_string(sg->line), sg->pos, err, err_len);
}

/* Creates the camera of d with its parameters set (not opened). */
static daq_camera *make_camera(const daq_config *cfg, const daq_config_device *d, char *err,
                               size_t err_len)
{
    char why[256];
    daq_camera *cam = daq_camera_create(d->type, d->id, why, sizeof why);
    if (!cam) {
        char where[300];
        daq_err(err, err_len, "%sdevices.%s.driver.type: %s",
                daq_config_where(cfg, d->pos, where, sizeof where), d->id, why);
        return NULL;
    }
    /* rust-daq's mock_camera is 640x480 unless the file says otherwise. */
    if (strcmp(d->type, "mock_camera") == 0) {
        if (!has_param(d, "width") &&
            set_one(cfg, d, cam, "width", daq_param_int(640), d->pos, err, err_len))
            goto fail;
        if (!has_param(d, "height") &&
            set_one(cfg, d, cam, "height", daq_param_int(480), d->pos, err, err_len))
            goto fail;
    }
    for (size_t i = 0; i < d->n_params; i++) {
        const daq_config_param *p = &d->params[i];
        if (set_one(cfg, d, cam, p->key, param_value(p), p->pos, err, err_len))
            goto fail;
    }
    if (set_sync_line(cfg, d, cam, err, err_len))
        goto fail;
    return cam;
fail:
    daq_camera_destroy(cam);
    return NULL;
}

int daq_devices_check(const daq_config *cfg, char *err, size_t err_len)
{
    for (size_t i = 0; i < cfg->n_devices; i++) {
        daq_camera *cam = make_camera(cfg, &cfg->devices[i], err, err_len);
        if (!cam)
            return -1;
        daq_camera_destroy(cam);
    }
    return 0;
}

/* ---- building a device ---------------------------------------------------------- */

static void device_down(daq_device *d, const char *why)
{
    snprintf(d->error, sizeof d->error, "%s", why);
    DAQ_LOG(DAQ_LOG_ERROR, LOG_DEV, "device unavailable", DAQ_F_STR("device", d->id),
            DAQ_F_STR("driver", d->driver), DAQ_F_STR("error", why));
}

/* Not inlined: GCC 12's LTO, inlining the atomic load into a caller that
 * indexes the table, warns falsely (-Wstringop-overflow, "region of size
 * 0"); one call per lookup costs nothing here. */
__attribute__((noinline)) static daq_acq *acq_of(const daq_device *d)
{
    return __atomic_load_n(&d->acq, __ATOMIC_ACQUIRE);
}

/* Opens cam (taken) under an engine and publishes both: at start and for
 * recovery.  -1 with why when the camera cannot be opened (cam is then
 * destroyed). */
static int device_up(daq_device *d, daq_camera *cam, const daq_config *cfg, char *why,
                     size_t why_len)
{
    daq_acq *acq = daq_acq_create(cam, d->bus, &cfg->acq, why, why_len); /* takes cam */
    if (!acq)
        return -1;
    d->cam = cam;
    daq_budget_attach(d->budget, d->index, d->id, acq, cam); /* before anyone can start it */
    __atomic_store_n(&d->acq, acq, __ATOMIC_RELEASE);
    return 0;
}

static int start_sinks(daq_device *d, const daq_config_device *cd, char *err, size_t err_len)
{
    for (size_t i = 0; i < cd->n_consumers; i++) {
        daq_sub_config sc = cd->consumers[i].sub;
        sc.name = cd->consumers[i].name;
        d->sinks[i] = daq_sink_start(d->bus, cd->consumers[i].kind, &sc, err, err_len);
        if (!d->sinks[i])
            return -1;
        d->n_sinks++;
    }
    return 0;
}

/* Returns -1 only for configuration errors. */
static int device_build(daq_device *d, const daq_config *cfg, const daq_config_device *cd,
                        char *err, size_t err_len)
{
    snprintf(d->id, sizeof d->id, "%s", cd->id);
    snprintf(d->name, sizeof d->name, "%s", cd->name);
    snprintf(d->driver, sizeof d->driver, "%s", cd->type);
    d->autostart = cd->autostart;
    d->cd = cd;
    devices_rec_init(&d->rec, cd->autostart);
    devices_watch_rec_init(&d->watch);
    daq_camera *cam = make_camera(cfg, cd, err, err_len);
    if (!cam)
        return -1;
    d->bus = daq_bus_create(cd->id);
    if (!d->bus || start_sinks(d, cd, err, err_len) != 0) {
        daq_camera_destroy(cam);
        return -1;
    }
    char why[256];
    if (device_up(d, cam, cfg, why, sizeof why) != 0)
        device_down(d, why);
    return 0;
}

static void device_free(daq_device *d)
{
    daq_acq_destroy(acq_of(d)); /* stops the stream first */
    for (size_t i = 0; i < d->n_sinks; i++)
        daq_sink_stop(d->sinks[i]);
    daq_bus_destroy(d->bus);
    devices_rec_destroy(&d->rec);
    devices_watch_rec_destroy(&d->watch);
}

/* [limits] memory_mb, or half the machine's memory when 0; logged once. */
static daq_budget *budget_create(const daq_config_limits *l)
{
    uint64_t total = l->memory_mb ? (uint64_t)l->memory_mb << 20 : daq_budget_auto_bytes();
    DAQ_LOG(DAQ_LOG_INFO, LOG_DEV, "memory budget for pools, camera rings and stream buffers",
            DAQ_F_U64("memory_mb", total >> 20),
            DAQ_F_STR("source", l->memory_mb ? "[limits] memory_mb" : "auto: half of RAM"));
    return daq_budget_create(total, l->streams, DAQ_CONFIG_MAX_DEVICES);
}

/* One matcher per [[sync_groups]] entry whose members are all in the table
 * (with only_id, none is). */
static int sync_groups_create(daq_devices *ds, char *err, size_t err_len)
{
    const daq_config *cfg = ds->cfg;
    for (size_t i = 0; i < cfg->n_sync_groups; i++) {
        const daq_config_sync_group *sg = &cfg->sync_groups[i];
        const char *ids[DAQ_CONFIG_MAX_SYNC_MEMBERS];
        daq_device *members[DAQ_CONFIG_MAX_SYNC_MEMBERS];
        bool all = true;
        for (size_t k = 0; k < sg->n_devices; k++) {
            ids[k] = sg->devices[k];
            all = all && (members[k] = daq_devices_find(ds, ids[k])) != NULL;
        }
        if (!all)
            continue;
        daq_sync_config sc;
        daq_sync_config_init(&sc);
        sc.name = sg->name;
        sc.match_timeout_ms = sg->match_timeout_ms;
        /* A camera never waits for its group: a frame that finds the queue
         * full (the matcher starved for 8 frame periods) is dropped for the
         * group and counted in the member's subscription drops, which then
         * explain the mismatch it causes.  The bench, which must see every
         * frame, keeps the bounded wait. */
        sc.lossless_timeout_ms = 0;
        char why[256];
        daq_sync_group *g =
            daq_sync_group_create(&sc, ids, (unsigned)sg->n_devices, why, sizeof why);
        if (!g) {
            char where[300];
            return daq_err(err, err_len, "%ssync_groups.%s: %s",
                           daq_config_where(cfg, sg->pos, where, sizeof where), sg->name, why);
        }
        ds->sync[ds->n_sync++] = g;
        for (size_t k = 0; k < sg->n_devices; k++)
            if (daq_sync_group_attach(g, (unsigned)k, members[k]->bus, err, err_len) != 0)
                return -1;
        if (daq_sync_group_start(g, err, err_len) != 0)
            return -1;
        DAQ_LOG(DAQ_LOG_INFO, LOG_DEV, "sync group matching", DAQ_F_STR("group", sg->name),
                DAQ_F_U64("devices", sg->n_devices), DAQ_F_STR("line", sg->line),
                DAQ_F_U64("match_timeout_ms", sg->match_timeout_ms));
    }
    return 0;
}

size_t daq_devices_sync_count(const daq_devices *ds)
{
    return ds->n_sync;
}

daq_sync_group *daq_devices_sync_at(daq_devices *ds, size_t i)
{
    return i < ds->n_sync ? ds->sync[i] : NULL;
}

daq_devices *daq_devices_create(const daq_config *cfg, const char *only_id, char *err,
                                size_t err_len)
{
    if (only_id && !daq_config_device_find(cfg, only_id)) {
        daq_err(err, err_len, "%s: no camera device with id \"%s\"", cfg->path, only_id);
        return NULL;
    }
    daq_devices *ds = calloc(1, sizeof *ds);
    if (ds)
        ds->cfg = malloc(sizeof *ds->cfg);
    if (!ds || !ds->cfg) {
        free(ds);
        daq_err(err, err_len, "out of memory");
        return NULL;
    }
    *ds->cfg = *cfg;
    cfg = ds->cfg;
    pthread_mutex_init(&ds->rss.mu, NULL);
    if (!(ds->budget = budget_create(&cfg->limits))) {
        daq_devices_destroy(ds);
        daq_err(err, err_len, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < cfg->n_devices; i++) {
        const daq_config_device *cd = &cfg->devices[i];
        if (only_id && strcmp(cd->id, only_id) != 0)
            continue;
        ds->dev[ds->n].budget = ds->budget;
        ds->dev[ds->n].index = ds->n;
        if (device_build(&ds->dev[ds->n++], cfg, cd, err, err_len) != 0) {
            daq_devices_destroy(ds);
            return NULL;
        }
    }
    if (sync_groups_create(ds, err, err_len) != 0) {
        daq_devices_destroy(ds);
        return NULL;
    }
    return ds;
}

void daq_devices_destroy(daq_devices *ds)
{
    if (!ds)
        return;
    daq_devices_watch_stop(ds);    /* it reads the engines */
    daq_devices_recovery_stop(ds); /* it may be bringing a device up */
    for (size_t i = 0; i < ds->n_sync; i++)
        daq_sync_group_destroy(ds->sync[i]); /* unsubscribes: before the buses go */
    for (size_t i = 0; i < ds->n; i++)
        device_free(&ds->dev[i]);
    daq_budget_destroy(ds->budget); /* after the engines that used it */
    if (ds->cfg)
        pthread_mutex_destroy(&ds->rss.mu);
    free(ds->cfg);
    free(ds);
}

/* ---- for recovery (devices/recovery.h) ---------------------------------------------- */

devices_rec *devices_rec_of(daq_device *d)
{
    return &d->rec;
}

devices_recovery **devices_recovery_slot(daq_devices *ds)
{
    return &ds->recovery;
}

const daq_config *devices_config(const daq_devices *ds)
{
    return ds->cfg;
}

int devices_device_up(daq_devices *ds, daq_device *d, char *why, size_t why_len)
{
    /* Its parameters were accepted at create: a failure now is the driver's
     * (a library that cannot be loaded yet, say), reported like a failed open. */
    daq_camera *cam = make_camera(ds->cfg, d->cd, why, why_len);
    return cam ? device_up(d, cam, ds->cfg, why, why_len) : -1;
}

/* ---- for the symptom watch (devices/watch_rec.h) ------------------------------------- */

devices_watch_rec *devices_watch_rec_of(daq_device *d)
{
    return &d->watch;
}

devices_watch **devices_watch_slot(daq_devices *ds)
{
    return &ds->watch;
}

devices_watch_shared *devices_watch_shared_of(daq_devices *ds)
{
    return &ds->rss;
}

/* ---- using them ------------------------------------------------------------------- */

size_t daq_devices_count(const daq_devices *ds)
{
    return ds->n;
}

size_t daq_devices_up(const daq_devices *ds)
{
    size_t up = 0;
    for (size_t i = 0; i < ds->n; i++)
        up += acq_of(&ds->dev[i]) != NULL;
    return up;
}

daq_device *daq_devices_at(daq_devices *ds, size_t i)
{
    return i < ds->n ? &ds->dev[i] : NULL;
}

daq_device *daq_devices_find(daq_devices *ds, const char *id)
{
    for (size_t i = 0; i < ds->n; i++)
        if (strcmp(ds->dev[i].id, id) == 0)
            return &ds->dev[i];
    return NULL;
}

unsigned daq_devices_autostart(daq_devices *ds)
{
    unsigned failed = 0;
    for (size_t i = 0; i < ds->n; i++) {
        daq_device *d = &ds->dev[i];
        if (!d->autostart || !acq_of(d))
            continue;
        char why[256];
        if (daq_device_stream_start(d, 0, why, sizeof why) < 0) {
            DAQ_LOG(DAQ_LOG_ERROR, LOG_DEV, "autostart failed", DAQ_F_STR("device", d->id),
                    DAQ_F_STR("error", why));
            devices_rec_start_failed(&d->rec);
            failed++;
        }
    }
    return failed;
}

void daq_devices_stop_all(daq_devices *ds)
{
    for (size_t i = 0; i < ds->n; i++)
        if (acq_of(&ds->dev[i]))
            daq_acq_stop(acq_of(&ds->dev[i]));
}

const char *daq_device_id(const daq_device *d)
{
    return d->id;
}

const char *daq_device_name(const daq_device *d)
{
    return d->name;
}

const char *daq_device_driver(const daq_device *d)
{
    return d->driver;
}

bool daq_device_is_up(const daq_device *d)
{
    return acq_of(d) != NULL;
}

const char *daq_device_error(const daq_device *d)
{
    return acq_of(d) ? "" : d->error;
}

daq_acq *daq_device_acq(daq_device *d)
{
    return acq_of(d);
}

daq_bus *daq_device_bus(daq_device *d)
{
    return d->bus;
}

daq_camera *daq_device_camera(daq_device *d)
{
    return acq_of(d) ? d->cam : NULL;
}

bool daq_device_healthy(const daq_device *d)
{
    daq_acq *a = acq_of(d);
    return a && daq_acq_state_get(a) != DAQ_ACQ_ERROR;
}

void daq_device_health_snapshot(daq_device *d, daq_device_health *out)
{
    out->why[0] = '\0';
    out->recovery = (daq_device_recovery){0};
    daq_acq *a = acq_of(d);
    if (!a) {
        out->state = "absent";
        out->healthy = false;
        daq_device_recovery_snapshot(d, &out->recovery);
        /* The latest attempt's reason, if recovery has tried since start. */
        snprintf(out->why, sizeof out->why, "%s",
                 out->recovery.error[0] ? out->recovery.error : d->error);
        return;
    }
    daq_acq_state s = daq_acq_state_get(a);
    out->state = daq_acq_state_name(s);
    out->healthy = s != DAQ_ACQ_ERROR;
    if (out->healthy)
        return;
    daq_device_recovery_snapshot(d, &out->recovery);
    /* The reason lives with the engine's statistics; a restart may have
     * cleared the error since the load above, so re-read the state too. */
    daq_acq_stats st;
    daq_acq_stats_snapshot(a, &st);
    out->state = daq_acq_state_name(st.state);
    out->healthy = st.state != DAQ_ACQ_ERROR;
    if (!out->healthy)
        snprintf(out->why, sizeof out->why, "%s", st.error[0] ? st.error : "stream ended in error");
}

void daq_devices_memory(daq_devices *ds, uint64_t *budget, uint64_t *committed)
{
    daq_budget_snapshot(ds->budget, budget, committed);
}
