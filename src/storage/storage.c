/* storage/storage.c - the recorder manager (daq/storage.h).
 *
 * One lock orders everything a client can ask: settings, start, stop,
 * status, flush and the catalogue.  At most one recording runs; the last
 * one is kept after it ends (its status stays readable, and a StopRecording
 * of a recording that ended by its limit returns its figures).  Figures for
 * metrics are totals since the storage was created: the recordings that
 * are gone plus the current one.
 *
 * Where files go is decided here and checked by storage/paths.h: the
 * output directory is resolved inside the root when it is configured, the
 * name is sanitised, and the file is created exclusively before HDF5 opens
 * it.  A recording id is a UUID v4 from getrandom(2).
 */
#define _GNU_SOURCE
#include "daq/storage.h"

#include <errno.h>
#include <ftw.h>
#include <hdf5.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daq/log.h"
#include "daq/sync.h"
#include "storage/catalog.h"
#include "storage/codec.h"
#include "storage/paths.h"
#include "storage/recording.h"
#include "util/clock.h"
#include "util/err.h"

#define LOG_ST "daq::storage"

struct daq_storage {
    daq_devices *devices;
    pthread_mutex_t mu;
    daq_storage_config cfg; /* root and output_directory canonical */
    daq_recording *cur;     /* running, or the last one (finished) */
    bool cur_stopped;       /* a client has stopped cur (or it was replaced) */
    daq_storage_stats gone; /* figures of recordings that are gone (per-bucket counts) */
};

const char *daq_recording_state_name(daq_recording_state s)
{
    switch (s) {
    case DAQ_RECORDING_IDLE: return "idle";
    case DAQ_RECORDING_ACTIVE: return "active";
    case DAQ_RECORDING_FLUSHING: return "flushing";
    case DAQ_RECORDING_FINALIZING: return "finalizing";
    case DAQ_RECORDING_ERROR: return "error";
    }
    return "?";
}

void daq_storage_config_init(daq_storage_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->root, sizeof cfg->root, "data");
    cfg->hdf5.compression = DAQ_CODEC_GZIP;
    cfg->hdf5.compression_level = 4;
    cfg->hdf5.chunk_size = 4096;
    snprintf(cfg->hdf5.filename_pattern, sizeof cfg->hdf5.filename_pattern,
             "{name}_{timestamp}.h5");
    cfg->hdf5.include_timestamps = true;
    cfg->hdf5.include_device_metadata = true;
    cfg->flush_interval_ms = 1000;
    cfg->max_buffer_mb = 256;
}

/* Settings a client may send, checked before anything changes. */
static int check_settings(const daq_storage_config *c, char *err, size_t err_len)
{
    if ((unsigned)c->hdf5.compression > DAQ_CODEC_BSLZ4)
        return daq_err(err, err_len, "unknown compression %d", (int)c->hdf5.compression);
    if (c->hdf5.compression == DAQ_CODEC_GZIP && c->hdf5.compression_level > 9)
        return daq_err(err, err_len, "compression_level %u out of range (gzip: 0..9)",
                       c->hdf5.compression_level);
    if (c->flush_interval_ms < 10 || c->flush_interval_ms > 3600000)
        return daq_err(err, err_len, "flush_interval_ms %u out of range (10..3600000)",
                       c->flush_interval_ms);
    if (c->max_buffer_mb < 1 || c->max_buffer_mb > 65536)
        return daq_err(err, err_len, "max_buffer_mb %u out of range (1..65536)", c->max_buffer_mb);
    if (!c->hdf5.filename_pattern[0])
        return daq_err(err, err_len, "filename_pattern is empty");
    return daq_codec_check_available(c->hdf5.compression, err, err_len);
}

static void set_reserve(daq_storage *st)
{
    for (size_t i = 0; i < daq_devices_count(st->devices); i++) {
        daq_acq *acq = daq_device_acq(daq_devices_at(st->devices, i));
        if (acq)
            daq_acq_set_reserve_bytes(acq, (uint64_t)st->cfg.max_buffer_mb << 20);
    }
}

/* Ballast files a killed daemon left beside its recordings
 * (storage/recording.c): ".<file>.h5.reserve", 4 MiB each. */
static int stale_reserve(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    const char *base = path + ftw->base;
    size_t n = strlen(base);
    if (type == FTW_F && S_ISREG(sb->st_mode) && base[0] == '.' && n > 11 &&
        strcmp(base + n - 11, ".h5.reserve") == 0 && unlink(path) == 0)
        DAQ_LOG(DAQ_LOG_INFO, LOG_ST, "stale ballast removed", DAQ_F_STR("path", path));
    return ftw->level > 8 ? FTW_SKIP_SUBTREE : FTW_CONTINUE;
}

daq_storage *daq_storage_create(daq_devices *devices, const daq_storage_config *cfg, char *err,
                                size_t err_len)
{
    /* The library's exit handler would flush files still open at exit: a
     * recording that failed to close must be left as it is on disk. */
    H5dont_atexit();
    if (check_settings(cfg, err, err_len) != 0)
        return NULL;
    daq_storage *st = calloc(1, sizeof *st);
    if (!st) {
        daq_err(err, err_len, "out of memory");
        return NULL;
    }
    st->devices = devices;
    st->cfg = *cfg;
    if (daq_path_make_root(cfg->root, st->cfg.root, sizeof st->cfg.root, err, err_len) != 0 ||
        daq_path_resolve_dir(st->cfg.root, cfg->output_directory, st->cfg.output_directory,
                             sizeof st->cfg.output_directory, err, err_len) != 0) {
        free(st);
        return NULL;
    }
    if (st->cfg.workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        st->cfg.workers = n > 0 ? (uint32_t)n : 1;
    }
    pthread_mutex_init(&st->mu, NULL);
    set_reserve(st);
    nftw(st->cfg.root, stale_reserve, 16, FTW_PHYS | FTW_ACTIONRETVAL);
    return st;
}

/* Adds r's figures to acc (flush buckets as per-bucket counts); returns
 * r's queue fill. */
static uint32_t add_figures(daq_recording *r, daq_storage_stats *acc)
{
    daq_recording_status s;
    daq_recording_status_snapshot(r, &s);
    acc->frames_written += s.samples_recorded;
    acc->bytes_written += s.bytes_written;
    acc->frames_dropped += s.frames_dropped;
    acc->errors += s.state == DAQ_RECORDING_ERROR;
    daq_recording_flush_stats(r, &acc->flushes, &acc->flush_ns_sum, acc->flush_bucket);
    return s.buffer_fill_percent;
}

/* Adds a finished recording's figures to the totals and frees it; under mu. */
static void retire(daq_storage *st)
{
    if (!st->cur)
        return;
    daq_recording_stop(st->cur, NULL, 0);
    add_figures(st->cur, &st->gone);
    daq_recording_destroy(st->cur);
    st->cur = NULL;
}

void daq_storage_destroy(daq_storage *st)
{
    if (!st)
        return;
    pthread_mutex_lock(&st->mu);
    retire(st);
    pthread_mutex_unlock(&st->mu);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

const char *daq_storage_root(const daq_storage *st)
{
    return st->cfg.root;
}

/* ---- settings ------------------------------------------------------------------------ */

int daq_storage_configure(daq_storage *st, const daq_storage_config *cfg, char *resolved,
                          size_t resolved_len, char *err, size_t err_len)
{
    if (check_settings(cfg, err, err_len) != 0)
        return -1;
    pthread_mutex_lock(&st->mu);
    char dir[DAQ_STORAGE_PATH_MAX];
    int rc =
        daq_path_resolve_dir(st->cfg.root, cfg->output_directory, dir, sizeof dir, err, err_len);
    if (rc == 0) {
        snprintf(st->cfg.output_directory, sizeof st->cfg.output_directory, "%s", dir);
        st->cfg.hdf5 = cfg->hdf5;
        st->cfg.flush_interval_ms = cfg->flush_interval_ms;
        st->cfg.max_buffer_mb = cfg->max_buffer_mb;
        set_reserve(st);
        if (resolved)
            snprintf(resolved, resolved_len, "%s", dir);
        DAQ_LOG(DAQ_LOG_INFO, LOG_ST, "storage configured", DAQ_F_STR("output_directory", dir),
                DAQ_F_STR("compression", daq_codec_names[cfg->hdf5.compression]),
                DAQ_F_U64("flush_interval_ms", cfg->flush_interval_ms),
                DAQ_F_U64("max_buffer_mb", cfg->max_buffer_mb));
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

void daq_storage_config_snapshot(daq_storage *st, daq_storage_config *out,
                                 uint64_t *disk_available_bytes, uint64_t *disk_used_bytes)
{
    pthread_mutex_lock(&st->mu);
    *out = st->cfg;
    pthread_mutex_unlock(&st->mu);
    uint64_t avail = 0, used = 0;
    daq_path_disk_space(out->output_directory, &avail, &used);
    if (disk_available_bytes)
        *disk_available_bytes = avail;
    if (disk_used_bytes)
        *disk_used_bytes = used;
}

uint64_t daq_storage_reserve_bytes(const daq_storage *st)
{
    return (uint64_t)st->cfg.max_buffer_mb << 20;
}

/* ---- recordings ---------------------------------------------------------------------- */

static void uuid_v4(char out[40])
{
    uint8_t b[16];
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t n = getrandom(b + got, sizeof b - got, 0);
        if (n > 0)
            got += (size_t)n;
        else if (errno != EINTR)
            daq_fatal("getrandom: %s", strerror(errno));
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(out, 40, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

static const char *meta_find(const daq_record_request *req, const char *key)
{
    for (size_t i = 0; i < req->n_metadata; i++)
        if (req->metadata[i].key && strcmp(req->metadata[i].key, key) == 0)
            return req->metadata[i].value ? req->metadata[i].value : "";
    return NULL;
}

/* A metadata extension that must be a whole number. */
static int meta_u64(const daq_record_request *req, const char *key, uint64_t *out, char *err,
                    size_t err_len)
{
    const char *v = meta_find(req, key);
    *out = 0;
    if (!v)
        return 0;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (!*v || *end || errno || v[0] == '-')
        return daq_err(err, err_len, "Invalid metadata %s: '%s' is not a whole number", key, v);
    *out = n;
    return 0;
}

static bool streaming(daq_device *d)
{
    daq_acq *acq = daq_device_acq(d);
    return acq && daq_acq_state_get(acq) == DAQ_ACQ_STREAMING;
}

/* The cameras a request names (metadata "devices") or every streaming one. */
static int pick_list(daq_storage *st, const daq_record_request *req, daq_device **out, size_t *n,
                     char *err, size_t err_len)
{
    *n = 0;
    const char *list = meta_find(req, "devices");
    if (!list || !*list) {
        for (size_t i = 0; i < daq_devices_count(st->devices) && *n < DAQ_CONFIG_MAX_DEVICES; i++) {
            daq_device *d = daq_devices_at(st->devices, i);
            if (streaming(d))
                out[(*n)++] = d;
        }
        return *n ? 0 : daq_err(err, err_len, "No streaming camera to record");
    }
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ",");
        char id[64];
        snprintf(id, sizeof id, "%.*s", (int)(len < sizeof id ? len : sizeof id - 1), p);
        char *s = id, *e = id + strlen(id);
        while (*s == ' ')
            s++;
        while (e > s && e[-1] == ' ')
            *--e = '\0';
        if (*s) {
            daq_device *d = daq_devices_find(st->devices, s);
            if (!d || !streaming(d))
                return daq_err(err, err_len, "Device %s is not streaming", s);
            for (size_t k = 0; k < *n; k++)
                if (out[k] == d)
                    return daq_err(err, err_len, "Device %s named twice", s);
            if (*n == DAQ_CONFIG_MAX_DEVICES)
                return daq_err(err, err_len, "too many devices");
            out[(*n)++] = d;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return *n ? 0 : daq_err(err, err_len, "No streaming camera to record");
}

/* A group recording (metadata "sync_group", issue 15): exactly the members
 * of the daemon's [[sync_groups]] group of that name, in its order (the
 * file's /entry/sync/<group> lists them so).  A "devices" list as well must
 * name the same cameras. */
static int pick_group(daq_storage *st, const char *group, const daq_record_request *req,
                      daq_device **out, size_t *n, char *err, size_t err_len)
{
    *n = 0;
    daq_sync_group *g = NULL;
    char names[512] = "";
    size_t ng = daq_devices_sync_count(st->devices);
    for (size_t i = 0; i < ng; i++) {
        daq_sync_group *gi = daq_devices_sync_at(st->devices, i);
        const char *name = daq_sync_group_name(gi);
        if (strcmp(name, group) == 0)
            g = gi;
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", name);
    }
    if (!g && ng)
        return daq_err(err, err_len, "Unknown sync group '%s' (groups: %s)", group, names);
    if (!g)
        return daq_err(err, err_len, "Unknown sync group '%s' (no [[sync_groups]] configured)",
                       group);
    daq_sync_stats gs;
    daq_sync_group_stats(g, &gs);
    char members[DAQ_SYNC_MAX_MEMBERS * 66] = "";
    for (unsigned k = 0; k < gs.n_members; k++)
        snprintf(members + strlen(members), sizeof members - strlen(members), "%s%s", k ? ", " : "",
                 gs.member[k].device);
    const char *list = meta_find(req, "devices");
    if (list && *list) {
        daq_device *named[DAQ_CONFIG_MAX_DEVICES];
        size_t n_named = 0;
        if (pick_list(st, req, named, &n_named, err, err_len) != 0)
            return -1;
        bool same = n_named == gs.n_members;
        for (size_t i = 0; i < n_named && same; i++) {
            bool in = false;
            for (unsigned k = 0; k < gs.n_members && !in; k++)
                in = strcmp(daq_device_id(named[i]), gs.member[k].device) == 0;
            same = in;
        }
        if (!same)
            return daq_err(err, err_len, "Metadata devices '%s' differ from sync group '%s' (%s)",
                           list, group, members);
    }
    for (unsigned k = 0; k < gs.n_members; k++) {
        const char *id = gs.member[k].device;
        daq_device *d = daq_devices_find(st->devices, id);
        if (!d || !streaming(d))
            return daq_err(err, err_len, "Device %s of sync group '%s' is not streaming", id,
                           group);
        /* its rows become /entry/sync/<group>/<id>, beside these two */
        if (strcmp(id, "trigger_index") == 0 || strcmp(id, "rank") == 0)
            return daq_err(err, err_len,
                           "Device id '%s' of sync group '%s' clashes with /entry/sync/%s/%s", id,
                           group, group, id);
        out[(*n)++] = d;
    }
    return 0;
}

static int pick_devices(daq_storage *st, const daq_record_request *req, daq_device **out, size_t *n,
                        char *err, size_t err_len)
{
    const char *group = meta_find(req, "sync_group");
    if (group && *group)
        return pick_group(st, group, req, out, n, err, err_len);
    return pick_list(st, req, out, n, err, err_len);
}

static bool cur_active(daq_storage *st)
{
    return st->cur && !daq_recording_finished(st->cur);
}

int daq_storage_start(daq_storage *st, const daq_record_request *req, daq_recording_status *out,
                      char *err, size_t err_len)
{
    pthread_mutex_lock(&st->mu);
    int rc = -1;
    char file[256], path[DAQ_STORAGE_PATH_MAX], dir[DAQ_STORAGE_PATH_MAX], safe[128], id[40];
    daq_device *devs[DAQ_CONFIG_MAX_DEVICES];
    size_t n_devs = 0;
    uint64_t frames = 0, duration = 0;
    daq_storage_hdf5 h = req->config_override ? *req->config_override : st->cfg.hdf5;
    daq_storage_config probe = st->cfg;
    probe.hdf5 = h;
    const char *name = req->name ? req->name : "";
    if (cur_active(st)) {
        daq_err(err, err_len, "Recording already in progress");
    } else if (check_settings(&probe, err, err_len) == 0 &&
               daq_path_sanitise_name(name, strlen(name), safe, sizeof safe, err, err_len) == 0 &&
               meta_u64(req, "max_frames", &frames, err, err_len) == 0 &&
               meta_u64(req, "duration_ms", &duration, err, err_len) == 0 &&
               pick_devices(st, req, devs, &n_devs, err, err_len) == 0 &&
               daq_path_expand_pattern(h.filename_pattern, safe, daq_real_now_ns(), file,
                                       sizeof file, err, err_len) == 0 &&
               /* again: the directory may have been swapped for a symlink since */
               daq_path_resolve_dir(st->cfg.root, st->cfg.output_directory, dir, sizeof dir, err,
                                    err_len) == 0 &&
               daq_path_create_exclusive(dir, file, path, sizeof path, err, err_len) == 0) {
        retire(st);
        uuid_v4(id);
        daq_recording_params p = {
            .id = id,
            .path = path,
            .name = name,
            .hdf5 = h,
            .flush_interval_ms = st->cfg.flush_interval_ms,
            .workers = st->cfg.workers,
            .test_write_delay_us = st->cfg.test_write_delay_us,
            .max_buffer_bytes = (uint64_t)st->cfg.max_buffer_mb << 20,
            .frame_limit = frames ? frames : req->frame_limit,
            .duration_ms = duration ? duration : req->duration_ms,
            .metadata = req->metadata,
            .n_metadata = req->n_metadata,
            .scan_id = req->scan_id ? req->scan_id : "",
            .run_uid = req->run_uid ? req->run_uid : "",
            .devices = devs,
            .n_devices = n_devs,
            .sync_group = meta_find(req, "sync_group"),
        };
        st->cur = daq_recording_start(&p, err, err_len);
        st->cur_stopped = false;
        if (st->cur) {
            rc = 0;
            if (out)
                daq_recording_status_snapshot(st->cur, out);
        }
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

static bool id_is(daq_recording *r, const char *id)
{
    daq_recording_status s;
    daq_recording_status_snapshot(r, &s);
    return strcmp(s.recording_id, id) == 0;
}

int daq_storage_stop(daq_storage *st, const char *id, const daq_kv *final_metadata, size_t n_final,
                     daq_recording_status *out, char *err, size_t err_len)
{
    pthread_mutex_lock(&st->mu);
    int rc = -1;
    bool named = id && *id;
    if (named && (!st->cur || !id_is(st->cur, id))) {
        daq_err(err, err_len, "Recording %s not found", id);
    } else if (!named && (!st->cur || (st->cur_stopped && daq_recording_finished(st->cur)))) {
        daq_err(err, err_len, "No active recording");
    } else {
        daq_recording_stop(st->cur, final_metadata, n_final);
        st->cur_stopped = true;
        daq_recording_status s;
        daq_recording_status_snapshot(st->cur, &s);
        if (out)
            *out = s;
        rc = s.state == DAQ_RECORDING_ERROR
                 ? daq_err(err, err_len, "Recording failed: %s", s.error_message)
                 : 0;
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

int daq_storage_status(daq_storage *st, const char *id, daq_recording_status *out, char *err,
                       size_t err_len)
{
    pthread_mutex_lock(&st->mu);
    int rc = 0;
    bool named = id && *id;
    if (named && (!st->cur || !id_is(st->cur, id))) {
        rc = daq_err(err, err_len, "Recording %s not found", id);
    } else if (!st->cur) {
        memset(out, 0, sizeof *out);
        out->state = DAQ_RECORDING_IDLE;
    } else {
        daq_recording_status_snapshot(st->cur, out);
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

int daq_storage_flush(daq_storage *st, const char *id, bool sync, daq_recording_status *out,
                      char *err, size_t err_len)
{
    pthread_mutex_lock(&st->mu);
    int rc = -1;
    bool named = id && *id;
    if (named && (!st->cur || !id_is(st->cur, id)))
        daq_err(err, err_len, "Recording %s not found", id);
    else if (!cur_active(st))
        daq_err(err, err_len, "No active recording");
    else
        rc = 0;
    /* Under the lock: a flush takes milliseconds to a second, and the
     * recording must not be replaced meanwhile. */
    if (rc == 0) {
        daq_recording_flush(st->cur, sync);
        if (out)
            daq_recording_status_snapshot(st->cur, out);
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

bool daq_storage_wait_ended(daq_storage *st, uint32_t timeout_ms)
{
    /* Polled, not waited on the recording: a start may replace it meanwhile. */
    uint64_t deadline = daq_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    for (;;) {
        pthread_mutex_lock(&st->mu);
        bool ended = !cur_active(st);
        pthread_mutex_unlock(&st->mu);
        if (ended || daq_now_ns() >= deadline)
            return ended;
        usleep(20000);
    }
}

/* ---- the catalogue ----------------------------------------------------------------------- */

size_t daq_storage_list(daq_storage *st, const daq_acquisition_filter *filter, daq_acquisition *out,
                        size_t max)
{
    /* No lock: the root never changes and a scan of 10000 files takes
     * seconds; status and stop must not wait for it. */
    return daq_catalog_list(st->cfg.root, filter, out, max);
}

int daq_storage_info(daq_storage *st, const char *id, daq_acquisition_info *out, char *err,
                     size_t err_len)
{
    daq_acquisition a; /* no lock, as daq_storage_list */
    return daq_catalog_find(st->cfg.root, id, &a) == 0
               ? daq_catalog_read_info(a.file_path, out, err, err_len)
               : daq_err(err, err_len, "Acquisition not found");
}

int daq_storage_delete(daq_storage *st, const char *id, bool confirm, uint64_t *bytes_freed,
                       bool *not_found, char *err, size_t err_len)
{
    *bytes_freed = 0;
    *not_found = false;
    if (!confirm)
        return daq_err(err, err_len, "Deletion requires confirm=true");
    pthread_mutex_lock(&st->mu);
    daq_acquisition a;
    int rc = -1;
    if (daq_catalog_find(st->cfg.root, id, &a) != 0) {
        *not_found = true;
        daq_err(err, err_len, "Acquisition not found");
    } else if (cur_active(st) && id_is(st->cur, id)) {
        daq_err(err, err_len, "Recording %s is in progress: stop it first", id);
    } else if (unlink(a.file_path) != 0) {
        daq_err(err, err_len, "%s: %s", a.file_path, strerror(errno));
    } else {
        *bytes_freed = a.file_size_bytes;
        rc = 0;
        DAQ_LOG(DAQ_LOG_INFO, LOG_ST, "acquisition deleted", DAQ_F_STR("acquisition_id", id),
                DAQ_F_STR("path", a.file_path), DAQ_F_U64("bytes_freed", a.file_size_bytes));
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

/* ---- metrics ----------------------------------------------------------------------------- */

void daq_storage_stats_snapshot(daq_storage *st, daq_storage_stats *out)
{
    pthread_mutex_lock(&st->mu);
    *out = st->gone;
    if (st->cur) {
        out->recording = !daq_recording_finished(st->cur);
        out->queue_fill_percent = add_figures(st->cur, out);
    }
    char dir[DAQ_STORAGE_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", st->cfg.output_directory);
    pthread_mutex_unlock(&st->mu);
    uint64_t used;
    daq_path_disk_space(dir, &out->disk_free_bytes, &used);
    /* per-bucket counts -> cumulative, as Prometheus wants them */
    for (unsigned b = 1; b <= DAQ_STORAGE_FLUSH_BUCKETS; b++)
        out->flush_bucket[b] += out->flush_bucket[b - 1];
}
