/* server/storage_service.c - rust-daq's StorageService (see
 * storage_service.h) over the recorder's API (daq/storage.h).
 *
 * Each unary RPC is an ordinary handler (decode, call the recorder, pack
 * the reply, as in service.c) that runs on one of WORKERS threads: its call
 * is accepted as a stream, queued with a copy of the request (at most
 * QUEUE_MAX), and the worker sends the one reply message and the status.
 * Two workers: the recorder serialises its calls under one lock today, so
 * a second mostly waits there, but it costs one idle thread and a recorder
 * with finer locking would need nothing changed here.  A call whose client
 * left (deadline, cancel) while it was queued is dropped unrun.
 *
 * Application errors are success = false + rust-daq's text from the
 * recorder; unknown acquisitions are NOT_FOUND "Acquisition not found";
 * undecodable requests INVALID_ARGUMENT (docs/facts/grpc-storage-api.md
 * §4, §5).  protobuf-c hands strings over NUL-terminated, so a string that
 * carries a NUL byte on the wire would arrive silently cut short; the
 * strings that become paths (name, output_directory, filename_pattern) are
 * therefore checked on the wire bytes and refused.
 *
 * StreamRecordingProgress: a thread per stream (MAX_PROGRESS at most) that
 * polls the recorder's status -- every POLL_NS while waiting for a
 * recording or for the one it follows to finish, and sends a message at
 * start, every update interval and when the recording finishes.
 *
 * GetRingBufferTapInfo (rust-daq's "ring buffer tap") describes daq's
 * zero-copy tap (ADR 0012) instead of a ring file: the socket path and the
 * "daq-slots-v1" format, the first camera's pool.  It reads no disk, so it
 * is a plain unary handler on the rpc core's thread, not a queued one.  The
 * service never names the tap module (src/tap sits above src/server): the
 * daemon hands it the path as a string once its tap listens
 * (daq_storage_service_set_tap), and until then -- or with [tap] off -- the
 * answer is UNAVAILABLE.
 */
#define _GNU_SOURCE
#ifdef DAQ_WITH_STORAGE

#include "server/storage_service.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "daq/acq.h"
#include "daq/pool.h"
#include "daq/tap_proto.h"
#include "daq_c.pb-c.h"
#include "server/calls.h"
#include "server/stream_set.h"
#include "util/clock.h"
#include "util/err.h"

#define WORKERS             2
#define QUEUE_MAX           64   /* calls waiting for a worker before RESOURCE_EXHAUSTED */
#define MAX_PROGRESS        8    /* StreamRecordingProgress streams at once */
#define LIST_MAX            1000 /* ListAcquisitions entries per call (limit is clamped to it) */
#define INTERVAL_DEFAULT_MS 500u /* rust-daq's update_interval_ms default */
#define INTERVAL_MIN_MS     20u  /* below this a client would only load the recorder's lock */
#define POLL_NS             50000000ull /* how often a progress stream looks for a start or an end */
#define SEND_WAIT_NS        500000000ll /* a send's wait before the stream rechecks its call */

/* ---- the service ---------------------------------------------------------------------- */

typedef struct unary_def {
    const char *path;
    daq_rpc_unary_fn fn;
    bool audit; /* changes state: daq_rpc_method.audit */
} unary_def;

typedef struct method_ctx {
    struct daq_storage_service *svc;
    const unary_def *def;
} method_ctx;

typedef struct job {
    struct job *next;
    const method_ctx *m;
    daq_rpc_call *call; /* the job's reference */
    size_t len;
    uint8_t req[]; /* a copy of the request */
} job;

#define N_UNARY 9

struct daq_storage_service {
    daq_storage *st; /* borrowed */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *head, **tail; /* under mu */
    unsigned queued;   /* under mu */
    bool stopping;     /* under mu */
    pthread_t workers[WORKERS];
    unsigned n_workers;
    method_ctx ctx[N_UNARY];
    daq_stream_set *streams;
    atomic_uint n_progress;
    /* GetRingBufferTapInfo: set once by daq_storage_service_set_tap */
    pthread_mutex_t tap_mu;
    daq_devices *devices; /* borrowed; under tap_mu; NULL: tap off */
    char tap_path[108];   /* under tap_mu; sun_path's size */
};

/* ---- helpers ------------------------------------------------------------------------- */

/* Does string field `field` (inside message field `outer` when outer != 0)
 * carry a NUL byte on the wire? */
static bool wire_has_nul(const uint8_t *p, size_t n, uint32_t outer, uint32_t field)
{
    const uint8_t *s;
    size_t len;
    if (outer && !daq_call_wire_field(p, n, outer, &p, &n))
        return false;
    return daq_call_wire_field(p, n, field, &s, &len) && memchr(s, 0, len) != NULL;
}

/* The HDF5Config of a request applied onto h (docs/facts/grpc-storage-api.md
 * §5): "" keeps the codec, absent optional fields keep their values, the
 * two booleans are taken as sent.  0, or -1 with a message, h unchanged. */
static int hdf5_merge(const Daq__HDF5Config *in, daq_storage_hdf5 *h, char *err, size_t err_len)
{
    daq_storage_hdf5 out = *h;
    if (in->compression[0] && daq_codec_parse(in->compression, &out.compression, err, err_len))
        return -1;
    if (in->_compression_level_case == DAQ__HDF5_CONFIG___COMPRESSION_LEVEL_COMPRESSION_LEVEL)
        out.compression_level = in->compression_level;
    if (in->_chunk_size_case == DAQ__HDF5_CONFIG___CHUNK_SIZE_CHUNK_SIZE)
        out.chunk_size = in->chunk_size;
    if (in->_filename_pattern_case == DAQ__HDF5_CONFIG___FILENAME_PATTERN_FILENAME_PATTERN) {
        if (strlen(in->filename_pattern) >= sizeof out.filename_pattern)
            return daq_err(err, err_len, "filename_pattern: longer than %zu bytes",
                           sizeof out.filename_pattern - 1);
        snprintf(out.filename_pattern, sizeof out.filename_pattern, "%s", in->filename_pattern);
    }
    out.include_timestamps = in->include_timestamps;
    out.include_device_metadata = in->include_device_metadata;
    *h = out;
    return 0;
}

/* h as the wire's HDF5Config (strings point into h and the codec table). */
static void hdf5_out(daq_storage_hdf5 *h, Daq__HDF5Config *o)
{
    daq__hdf5_config__init(o);
    o->compression = (char *)daq_codec_names[h->compression];
    o->_compression_level_case = DAQ__HDF5_CONFIG___COMPRESSION_LEVEL_COMPRESSION_LEVEL;
    o->compression_level = h->compression_level;
    o->_chunk_size_case = DAQ__HDF5_CONFIG___CHUNK_SIZE_CHUNK_SIZE;
    o->chunk_size = h->chunk_size;
    o->_filename_pattern_case = DAQ__HDF5_CONFIG___FILENAME_PATTERN_FILENAME_PATTERN;
    o->filename_pattern = h->filename_pattern;
    o->include_timestamps = h->include_timestamps;
    o->include_device_metadata = h->include_device_metadata;
}

static uint64_t file_size(const char *path)
{
    struct stat sb;
    return path[0] && stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

/* ---- settings ------------------------------------------------------------------------- */

static void configure_storage(void *ctx, const uint8_t *req, size_t len, daq_rpc_reply *r)
{
    daq_storage *st = ((const method_ctx *)ctx)->svc->st;
    DAQ_CALL_DECODE(Daq__ConfigureStorageRequest, daq__configure_storage_request, in, req, len, r);
    daq_storage_config cfg;
    uint64_t avail, used;
    char resolved[DAQ_STORAGE_PATH_MAX] = "", err[512] = "";
    int rc = 0;
    daq_storage_config_snapshot(st, &cfg, &avail, &used);
    if (wire_has_nul(req, len, 0, 1))
        rc = daq_err(err, sizeof err, "Invalid output path: contains a NUL byte");
    else if (wire_has_nul(req, len, 2, 4))
        rc = daq_err(err, sizeof err, "filename_pattern: contains a NUL byte");
    else if (strlen(in->output_directory) >= sizeof cfg.output_directory)
        rc = daq_err(err, sizeof err, "Invalid output path: longer than %zu bytes",
                     sizeof cfg.output_directory - 1);
    if (rc == 0 && in->output_directory[0]) /* "" keeps the current directory */
        snprintf(cfg.output_directory, sizeof cfg.output_directory, "%s", in->output_directory);
    if (rc == 0 && in->hdf5_config)
        rc = hdf5_merge(in->hdf5_config, &cfg.hdf5, err, sizeof err);
    if (in->_flush_interval_ms_case ==
        DAQ__CONFIGURE_STORAGE_REQUEST___FLUSH_INTERVAL_MS_FLUSH_INTERVAL_MS)
        cfg.flush_interval_ms = in->flush_interval_ms;
    if (in->_max_buffer_mb_case == DAQ__CONFIGURE_STORAGE_REQUEST___MAX_BUFFER_MB_MAX_BUFFER_MB)
        cfg.max_buffer_mb = in->max_buffer_mb;
    if (rc == 0)
        rc = daq_storage_configure(st, &cfg, resolved, sizeof resolved, err, sizeof err);
    Daq__ConfigureStorageResponse out = DAQ__CONFIGURE_STORAGE_RESPONSE__INIT;
    out.success = rc == 0;
    out.error_message = rc == 0 ? "" : err;
    out.resolved_output_directory = resolved;
    daq_call_reply(r, &out.base);
    daq__configure_storage_request__free_unpacked(in, NULL);
}

static void get_storage_config(void *ctx, const uint8_t *req, size_t len, daq_rpc_reply *r)
{
    daq_storage *st = ((const method_ctx *)ctx)->svc->st;
    DAQ_CALL_DECODE(Daq__GetStorageConfigRequest, daq__get_storage_config_request, in, req, len, r);
    daq__get_storage_config_request__free_unpacked(in, NULL);
    daq_storage_config cfg;
    uint64_t avail = 0, used = 0;
    daq_storage_config_snapshot(st, &cfg, &avail, &used);
    /* The directory as files will be written to it: "" is the root, a
     * relative one is below it. */
    char dir[2 * DAQ_STORAGE_PATH_MAX + 2];
    const char *root = daq_storage_root(st);
    if (!cfg.output_directory[0])
        snprintf(dir, sizeof dir, "%s", root);
    else if (cfg.output_directory[0] == '/')
        snprintf(dir, sizeof dir, "%s", cfg.output_directory);
    else
        snprintf(dir, sizeof dir, "%s/%s", root, cfg.output_directory);
    Daq__HDF5Config h;
    hdf5_out(&cfg.hdf5, &h);
    Daq__StorageConfig out = DAQ__STORAGE_CONFIG__INIT;
    out.output_directory = dir;
    out.hdf5_config = &h;
    out.flush_interval_ms = cfg.flush_interval_ms;
    out.max_buffer_mb = cfg.max_buffer_mb;
    out.disk_space_available_bytes = avail;
    out.disk_space_used_bytes = used;
    daq_call_reply(r, &out.base);
}

/* ---- recording ------------------------------------------------------------------------ */

/* The request as the recorder's (pointing into in).  The recorder reads
 * daq's metadata extensions (devices, max_frames, duration_ms) itself. */
static void start_request(const Daq__StartRecordingRequest *in, daq_kv *kv, daq_record_request *rq)
{
    for (size_t i = 0; i < in->n_metadata; i++)
        kv[i] = (daq_kv){in->metadata[i]->key, in->metadata[i]->value};
    rq->metadata = kv;
    rq->n_metadata = in->n_metadata;
    rq->name = in->name;
    if (in->_scan_id_case == DAQ__START_RECORDING_REQUEST___SCAN_ID_SCAN_ID)
        rq->scan_id = in->scan_id;
    if (in->_run_uid_case == DAQ__START_RECORDING_REQUEST___RUN_UID_RUN_UID)
        rq->run_uid = in->run_uid;
}

static void start_recording(void *ctx, const uint8_t *req, size_t len, daq_rpc_reply *r)
{
    daq_storage *st = ((const method_ctx *)ctx)->svc->st;
    DAQ_CALL_DECODE(Daq__StartRecordingRequest, daq__start_recording_request, in, req, len, r);
    daq_kv *kv = calloc(in->n_metadata + 1, sizeof *kv);
    daq_recording_status *rs = calloc(1, sizeof *rs);
    daq_record_request rq = {0};
    daq_storage_config cfg;
    char err[512] = "";
    int rc = 0;
    if (!kv || !rs) {
        daq_call_fail(r, DAQ_RPC_INTERNAL, "out of memory");
        goto done;
    }
    if (wire_has_nul(req, len, 0, 1))
        rc = daq_err(err, sizeof err, "Invalid name: contains a NUL byte");
    else if (wire_has_nul(req, len, 3, 4))
        rc = daq_err(err, sizeof err, "filename_pattern: contains a NUL byte");
    start_request(in, kv, &rq);
    if (rc == 0 && in->_config_override_case ==
                       DAQ__START_RECORDING_REQUEST___CONFIG_OVERRIDE_CONFIG_OVERRIDE) {
        uint64_t avail, used;
        daq_storage_config_snapshot(st, &cfg, &avail, &used);
        rc = hdf5_merge(in->config_override, &cfg.hdf5, err, sizeof err);
        rq.config_override = &cfg.hdf5;
    }
    if (rc == 0)
        rc = daq_storage_start(st, &rq, rs, err, sizeof err);
    Daq__StartRecordingResponse out = DAQ__START_RECORDING_RESPONSE__INIT;
    out.success = rc == 0;
    out.error_message = rc == 0 ? "" : err;
    out.recording_id = rc == 0 ? rs->recording_id : "";
    out.output_path = rc == 0 ? rs->output_path : "";
    daq_call_reply(r, &out.base);
done:
    free(kv);
    free(rs);
    daq__start_recording_request__free_unpacked(in, NULL);
}

static void stop_recording(void *ctx, const uint8_t *req, size_t len, daq_rpc_reply *r)
{
    daq_storage *st = ((const method_ctx *)ctx)->svc->st;
    DAQ_CALL_DECODE(Daq__StopRecordingRequest, daq__stop_recording_request, in, req, len, r);
    daq_kv *kv = calloc(in->n_final_metadata + 1, sizeof *kv);
    daq_recording_status *rs = calloc(1, sizeof *rs);
    if (!kv || !rs) {
        daq_call_fail(r, DAQ_RPC_INTERNAL, "out of memory");
    } else {
        for (size_t i = 0; i < in->n_final_metadata; i++)
            kv[i] = (daq_kv){in->final_metadata[i]->key, in->final_metadata[i]->value};
        const char *id =
            in->_recording_id_case == DAQ__STOP_RECORDING_REQUEST___RECORDING_ID_RECORDING_ID
                ? in->recording_id
                : NULL;
        char err[512] = "";
        int rc = daq_storage_stop(st, id, kv, in->n_final_metadata, rs, err, sizeof err);
        Daq__StopRecordingResponse out = DAQ__STOP_RECORDING_RESPONSE__INIT;
        out.success = rc == 0;
        out.error_message = rc == 0 ? "" : err;
        if (rc == 0) {
            out.acquisition_id = rs->recording_id;
            out.output_path = rs->output_path;
            out.file_size_bytes = file_size(rs->output_path); /* closed by now */
            out.total_samples = rs->samples_recorded;
            out.duration_ns = rs->elapsed_ns;
        }
        daq_call_reply(r, &out.base);
    }
    free(kv);
    free(rs);
    daq__stop_recording_request__free_unpacked(in, NULL);
}

static void get_recording_status(void *ctx, const uint8_t *req, size_t len, daq_rpc_reply *r)
{
    daq_storage *st = ((const method_ctx *)ctx)->svc->st;
    DAQ_CALL_DECODE(Daq__GetRecordingStatusRequest, daq__get_recording_status_request, in, req, len,
                    r);
    bool by_id =
        in->_recording_id_case == DAQ__GET_RECORDING_STATUS_REQUEST___RECORDING_ID_RECORDING_ID &&
        in->recording_id[0];
    daq_recording_status *rs = calloc(1, sizeof *rs);
    char err[256] = "";
    Daq__RecordingStatus out = DAQ__RECORDING_STATUS__INIT;
    if (!rs) {
        daq_call_fail(r, DAQ_RPC_INTERNAL, "out of memory");
    } else if (daq_storage_status(st, by_id ? in->recording_id : NULL, rs, err, sizeof err) != 0) {
        if (by_id) {
            daq_call_fail(r, DAQ_RPC_NOT_FOUND, "%s", err);
        } else { /* nothing recorded yet: an idle recorder */
            out.state = DAQ__RECORDING_STATE__RECORDING_IDLE;
            daq_call_reply(r, &out.base);
        }
    } else {
        out.recording_id = rs->recording_id;
        out.state = (Daq__RecordingState)rs->state; /* the same numbers (storage.h) */
        out.output_path = rs->output_path;
        out.samples_recorded = rs->samples_recorded;
        out.bytes_written = rs->bytes_written;
        out.start_time_ns = rs->start_time_ns;
        out.elapsed_ns = rs->elapsed_ns;
        out.buffer_fill_percent = rs->buffer_fill_percent;
        out.pending_samples = rs->pending_samples;
        out.flushes_completed = rs->flushes_completed;
        out.error_message = rs->error_message;
        daq_call_reply(r, &out.base);
    }
    free(rs);
    daq__get_recording_status_request__free_unpacked(in, NULL);
}

static void flush_to_storage(void *ctx, const uint8_t *req, size_t len, daq_rpc_reply *r)
{
    daq_storage *st = ((const method_ctx *)ctx)->svc->st;
    DAQ_CALL_DECODE(Daq__FlushToStorageRequest, daq__flush_to_storage_request, in, req, len, r);
    daq_recording_status *rs = calloc(1, sizeof *rs);
    if (!rs) {
        daq_call_fail(r, DAQ_RPC_INTERNAL, "out of memory");
    } else {
        const char *id =
            in->_recording_id_case == DAQ__FLUSH_TO_STORAGE_REQUEST___RECORDING_ID_RECORDING_ID
                ? in->recording_id
                : NULL;
        char err[512] = "";
        int rc = daq_storage_flush(st, id, in->sync, rs, err, sizeof err);
        Daq__FlushToStorageResponse out = DAQ__FLUSH_TO_STORAGE_RESPONSE__INIT;
        out.success = rc == 0;
        out.error_message = rc == 0 ? "" : err;
        if (rc == 0) {
            out.samples_flushed = rs->samples_flushed;
            out.bytes_written = rs->bytes_written;
        }
        daq_call_reply(r, &out.base);
    }
    free(rs);
    daq__flush_to_storage_request__free_unpacked(in, NULL);
}

/* ---- catalogue ------------------------------------------------------------------------ */

static void list_acquisitions(void *ctx, const uint8_t *req, size_t len, daq_rpc_reply *r)
{
    daq_storage *st = ((const method_ctx *)ctx)->svc->st;
    DAQ_CALL_DECODE(Daq__ListAcquisitionsRequest, daq__list_acquisitions_request, in, req, len, r);
    daq_acquisition_filter f = {0};
    if (in->_name_pattern_case == DAQ__LIST_ACQUISITIONS_REQUEST___NAME_PATTERN_NAME_PATTERN)
        f.name_pattern = in->name_pattern;
    if (in->_after_timestamp_ns_case ==
        DAQ__LIST_ACQUISITIONS_REQUEST___AFTER_TIMESTAMP_NS_AFTER_TIMESTAMP_NS)
        f.after_ns = in->after_timestamp_ns;
    if (in->_before_timestamp_ns_case ==
        DAQ__LIST_ACQUISITIONS_REQUEST___BEFORE_TIMESTAMP_NS_BEFORE_TIMESTAMP_NS)
        f.before_ns = in->before_timestamp_ns;
    f.limit = in->_limit_case == DAQ__LIST_ACQUISITIONS_REQUEST___LIMIT_LIMIT ? in->limit : 0;
    if (f.limit == 0)
        f.limit = 100; /* rust-daq's default */
    if (f.limit > LIST_MAX)
        f.limit = LIST_MAX;
    if (in->_offset_case == DAQ__LIST_ACQUISITIONS_REQUEST___OFFSET_OFFSET)
        f.offset = in->offset;
    daq_acquisition *a = calloc(f.limit, sizeof *a);
    Daq__AcquisitionSummary *sum = calloc(f.limit, sizeof *sum);
    Daq__AcquisitionSummary **sp = calloc(f.limit, sizeof *sp);
    if (!a || !sum || !sp) {
        daq_call_fail(r, DAQ_RPC_INTERNAL, "out of memory");
    } else {
        size_t total = daq_storage_list(st, &f, a, f.limit);
        size_t n = total > f.offset ? total - f.offset : 0;
        if (n > f.limit)
            n = f.limit;
        for (size_t i = 0; i < n; i++) {
            daq__acquisition_summary__init(&sum[i]);
            sum[i].acquisition_id = a[i].acquisition_id;
            sum[i].name = a[i].name;
            sum[i].file_path = a[i].file_path;
            sum[i].file_size_bytes = a[i].file_size_bytes;
            sum[i].created_at_ns = a[i].created_at_ns;
            sum[i].duration_ns = a[i].duration_ns;
            sum[i].sample_count = a[i].sample_count;
            sp[i] = &sum[i];
        }
        Daq__ListAcquisitionsResponse out = DAQ__LIST_ACQUISITIONS_RESPONSE__INIT;
        out.n_acquisitions = n;
        out.acquisitions = sp;
        out.total_count = total > UINT32_MAX ? UINT32_MAX : (uint32_t)total;
        daq_call_reply(r, &out.base);
    }
    free(a);
    free(sum);
    free(sp);
    daq__list_acquisitions_request__free_unpacked(in, NULL);
}

/* The NOT_FOUND text of the catalogue (docs/facts/grpc-storage-api.md §4). */
static const char not_found[] = "Acquisition not found";

/* The AcquisitionInfo message of info, with its parts in caller storage. */
typedef struct info_msg {
    Daq__AcquisitionInfo out;
    Daq__DatasetInfo ds[DAQ_STORAGE_MAX_DATASETS], *dsp[DAQ_STORAGE_MAX_DATASETS];
    uint64_t shape[DAQ_STORAGE_MAX_DATASETS][3];
    Daq__AcquisitionInfo__MetadataEntry me[DAQ_STORAGE_MAX_META], *mep[DAQ_STORAGE_MAX_META];
    Daq__HDF5Structure structure;
    char *groups[16];
} info_msg;

static void info_build(daq_acquisition_info *a, info_msg *m)
{
    Daq__AcquisitionInfo *o = &m->out;
    daq__acquisition_info__init(o);
    o->acquisition_id = a->summary.acquisition_id;
    o->name = a->summary.name;
    o->file_path = a->summary.file_path;
    o->file_size_bytes = a->summary.file_size_bytes;
    o->created_at_ns = a->summary.created_at_ns;
    o->duration_ns = a->summary.duration_ns;
    size_t nd = a->n_datasets < DAQ_STORAGE_MAX_DATASETS ? a->n_datasets : DAQ_STORAGE_MAX_DATASETS;
    for (size_t i = 0; i < nd; i++) {
        daq_dataset_info *d = &a->datasets[i];
        daq__dataset_info__init(&m->ds[i]);
        m->ds[i].name = d->name;
        m->ds[i].dtype = d->dtype;
        m->ds[i].n_shape = d->rank < 3 ? d->rank : 3;
        memcpy(m->shape[i], d->shape, sizeof m->shape[i]);
        m->ds[i].shape = m->shape[i];
        m->ds[i].device_id = d->device_id;
        m->ds[i].sample_count = d->sample_count;
        m->dsp[i] = &m->ds[i];
    }
    o->n_datasets = nd;
    o->datasets = m->dsp;
    size_t nm = a->n_metadata < DAQ_STORAGE_MAX_META ? a->n_metadata : DAQ_STORAGE_MAX_META;
    for (size_t i = 0; i < nm; i++) {
        daq__acquisition_info__metadata_entry__init(&m->me[i]);
        m->me[i].key = a->meta_key[i];
        m->me[i].value = a->meta_value[i];
        m->mep[i] = &m->me[i];
    }
    o->n_metadata = nm;
    o->metadata = m->mep;
    if (a->scan_id[0]) {
        o->_scan_id_case = DAQ__ACQUISITION_INFO___SCAN_ID_SCAN_ID;
        o->scan_id = a->scan_id;
    }
    if (a->run_uid[0]) {
        o->_run_uid_case = DAQ__ACQUISITION_INFO___RUN_UID_RUN_UID;
        o->run_uid = a->run_uid;
    }
    daq__hdf5_structure__init(&m->structure);
    size_t ng = a->n_groups < 16 ? a->n_groups : 16;
    for (size_t i = 0; i < ng; i++)
        m->groups[i] = a->groups[i];
    m->structure.n_groups = ng;
    m->structure.groups = m->groups;
    m->structure.dataset_count = (uint32_t)a->n_datasets;
    m->structure.total_elements = a->total_elements;
    m->structure.compression = a->compression;
    m->structure.chunk_size = a->chunk_size;
    o->structure = &m->structure;
}

static void get_acquisition_info(void *ctx, const uint8_t *req, size_t len, daq_rpc_reply *r)
{
    daq_storage *st = ((const method_ctx *)ctx)->svc->st;
    DAQ_CALL_DECODE(Daq__GetAcquisitionInfoRequest, daq__get_acquisition_info_request, in, req, len,
                    r);
    daq_acquisition_info *a = calloc(1, sizeof *a);
    info_msg *m = calloc(1, sizeof *m);
    char err[512] = "";
    if (!a || !m)
        daq_call_fail(r, DAQ_RPC_INTERNAL, "out of memory");
    else if (daq_storage_info(st, in->acquisition_id, a, err, sizeof err) != 0)
        daq_call_fail(r, strcmp(err, not_found) == 0 ? DAQ_RPC_NOT_FOUND : DAQ_RPC_INTERNAL, "%s",
                      err);
    else {
        info_build(a, m);
        daq_call_reply(r, &m->out.base);
    }
    free(a);
    free(m);
    daq__get_acquisition_info_request__free_unpacked(in, NULL);
}

static void delete_acquisition(void *ctx, const uint8_t *req, size_t len, daq_rpc_reply *r)
{
    daq_storage *st = ((const method_ctx *)ctx)->svc->st;
    DAQ_CALL_DECODE(Daq__DeleteAcquisitionRequest, daq__delete_acquisition_request, in, req, len,
                    r);
    uint64_t freed = 0;
    bool missing = false;
    char err[512] = "";
    int rc =
        daq_storage_delete(st, in->acquisition_id, in->confirm, &freed, &missing, err, sizeof err);
    if (rc != 0 && missing) {
        daq_call_fail(r, DAQ_RPC_NOT_FOUND, "%s", not_found);
    } else {
        Daq__DeleteAcquisitionResponse out = DAQ__DELETE_ACQUISITION_RESPONSE__INIT;
        out.success = rc == 0;
        out.error_message = rc == 0 ? "" : err;
        out.bytes_freed = rc == 0 ? freed : 0;
        daq_call_reply(r, &out.base);
    }
    daq__delete_acquisition_request__free_unpacked(in, NULL);
}

/* ---- the workers ---------------------------------------------------------------------- */

/* Sends the reply (one message and OK, or the error status) on the call. */
static void respond(daq_rpc_call *call, daq_rpc_reply *r)
{
    if (r->status != DAQ_RPC_OK) {
        daq_rpc_stream_finish(call, r->status, r->details);
        return;
    }
    daq_rpc_msg msg = {.head = r->body, .head_len = r->len}; /* copied by the core */
    while (daq_rpc_stream_send(call, &msg, SEND_WAIT_NS) == DAQ_RPC_BUSY) {
    }
    daq_rpc_stream_finish(call, DAQ_RPC_OK, NULL);
}

static void *worker(void *arg)
{
    daq_storage_service *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->head && !s->stopping)
            pthread_cond_wait(&s->cv, &s->mu);
        job *j = s->head;
        if (j) {
            s->head = j->next;
            if (!s->head)
                s->tail = &s->head;
            s->queued--;
        }
        pthread_mutex_unlock(&s->mu);
        if (!j)
            return NULL; /* stopping and drained */
        if (!daq_rpc_stream_closed(j->call)) {
            daq_rpc_reply r;
            memset(&r, 0, sizeof r);
            r.status = DAQ_RPC_INTERNAL; /* a handler that forgot to answer */
            snprintf(r.details, sizeof r.details, "no reply");
            j->m->def->fn((void *)j->m, j->req, j->len, &r);
            respond(j->call, &r);
            free(r.body);
        }
        daq_rpc_stream_finish(j->call, DAQ_RPC_CANCELLED, NULL); /* no-op once answered */
        daq_rpc_call_unref(j->call);
        free(j);
    }
}

/* The start handler of every unary method: queue the call for a worker. */
static int unary_start(void *ctx, daq_rpc_call *call, const uint8_t *req, size_t len, char *details,
                       size_t details_len)
{
    method_ctx *m = ctx;
    daq_storage_service *s = m->svc;
    job *j = malloc(sizeof *j + len);
    if (!j) {
        snprintf(details, details_len, "out of memory");
        return DAQ_RPC_INTERNAL;
    }
    j->next = NULL;
    j->m = m;
    j->call = call;
    j->len = len;
    if (len)
        memcpy(j->req, req, len);
    int rc = DAQ_RPC_OK;
    pthread_mutex_lock(&s->mu);
    if (s->stopping) {
        snprintf(details, details_len, "the server is stopping");
        rc = DAQ_RPC_UNAVAILABLE;
    } else if (s->queued >= QUEUE_MAX) {
        snprintf(details, details_len,
                 "StorageService: %d calls are waiting for the recorder (the most); retry later",
                 QUEUE_MAX);
        rc = DAQ_RPC_RESOURCE_EXHAUSTED;
    } else {
        *s->tail = j;
        s->tail = &j->next;
        s->queued++;
        pthread_cond_signal(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    if (rc != DAQ_RPC_OK)
        free(j);
    return rc;
}

/* ---- StreamRecordingProgress ------------------------------------------------------------ */

typedef struct progress {
    daq_storage_service *svc;
    daq_rpc_call *call; /* the stream's reference */
    char scan_id[128];
    uint64_t interval_ns;
    daq_recording_status rs;
    uint64_t last_samples, last_t; /* at the previous message, for the rate */
    bool have_last;
} progress;

static bool running(const daq_recording_status *r)
{
    return r->state == DAQ_RECORDING_ACTIVE || r->state == DAQ_RECORDING_FLUSHING ||
           r->state == DAQ_RECORDING_FINALIZING;
}

static Daq__ScanState scan_state(const daq_recording_status *r)
{
    if (running(r))
        return DAQ__SCAN_STATE__SCAN_RUNNING;
    if (r->state == DAQ_RECORDING_ERROR)
        return DAQ__SCAN_STATE__SCAN_ERROR;
    return r->ended ? DAQ__SCAN_STATE__SCAN_COMPLETED : DAQ__SCAN_STATE__SCAN_STOPPED;
}

/* Waits for the recording to follow (storage facts §5) and writes its id;
 * false when the call closed first. */
static bool progress_find(progress *p, char *id, size_t id_len)
{
    daq_storage *st = p->svc->st;
    char ignore[sizeof p->rs.recording_id] = "";
    uint64_t poll = p->interval_ns < POLL_NS ? p->interval_ns : POLL_NS;
    for (bool first = true;; first = false) {
        if (daq_storage_status(st, NULL, &p->rs, NULL, 0) == 0) {
            bool match;
            if (p->scan_id[0]) {
                match = strcmp(p->rs.scan_id, p->scan_id) == 0;
            } else if (first && !running(&p->rs)) {
                /* finished before this stream came: wait for the next one */
                snprintf(ignore, sizeof ignore, "%s", p->rs.recording_id);
                match = false;
            } else {
                match = running(&p->rs) || strcmp(p->rs.recording_id, ignore) != 0;
            }
            if (match) {
                snprintf(id, id_len, "%s", p->rs.recording_id);
                return true;
            }
        }
        if (daq_rpc_stream_wait_closed(p->call, (int64_t)poll))
            return false;
    }
}

/* Refreshes p->rs until the monotonic time next, every POLL_NS, returning
 * early when the recording is no longer running (so its last message is
 * not an interval late).  false when the call closed or the recorder no
 * longer knows the recording. */
static bool progress_wait(progress *p, const char *id, uint64_t next)
{
    uint64_t now;
    do {
        now = daq_now_ns();
        uint64_t wait = next > now ? next - now : 0;
        if (wait > POLL_NS)
            wait = POLL_NS;
        if (daq_rpc_stream_wait_closed(p->call, (int64_t)wait))
            return false;
        if (daq_storage_status(p->svc->st, id, &p->rs, NULL, 0) != 0)
            return false;
        if (!running(&p->rs))
            return true;
    } while (daq_now_ns() < next);
    return true;
}

/* Sends p->rs as a RecordingProgress; false when the call closed. */
static bool progress_send(progress *p)
{
    daq_recording_status *r = &p->rs;
    bool done = !running(r);
    uint64_t now = daq_now_ns();
    Daq__RecordingProgress m = DAQ__RECORDING_PROGRESS__INIT;
    m.scan_id = r->scan_id;
    m.state = scan_state(r);
    m.timestamp_ns = daq_real_now_ns();
    m.samples_recorded = r->samples_recorded;
    m.bytes_written = r->bytes_written;
    if (p->have_last && !done && now > p->last_t)
        m.samples_per_second =
            (double)(r->samples_recorded - p->last_samples) * 1e9 / (double)(now - p->last_t);
    else if (r->elapsed_ns)
        m.samples_per_second = (double)r->samples_recorded * 1e9 / (double)r->elapsed_ns;
    m.buffer_fill_percent = r->buffer_fill_percent;
    m.flush_in_progress = r->flush_in_progress;
    if (done || r->estimated_remaining_ns) {
        m._estimated_remaining_ns_case =
            DAQ__RECORDING_PROGRESS___ESTIMATED_REMAINING_NS_ESTIMATED_REMAINING_NS;
        m.estimated_remaining_ns = done ? 0 : r->estimated_remaining_ns;
    }
    p->last_samples = r->samples_recorded;
    p->last_t = now;
    p->have_last = true;
    uint8_t buf[512]; /* a RecordingProgress is < 200 bytes: 128-byte scan id + 9 numbers */
    daq_rpc_msg msg = {.head = buf, .head_len = daq__recording_progress__pack(&m, buf)};
    int rc;
    while ((rc = daq_rpc_stream_send(p->call, &msg, SEND_WAIT_NS)) == DAQ_RPC_BUSY) {
    }
    return rc == DAQ_RPC_SENT;
}

static void progress_stream(void *arg)
{
    progress *p = arg;
    char id[sizeof p->rs.recording_id];
    if (progress_find(p, id, sizeof id)) {
        uint64_t next = daq_now_ns();
        /* A message now, every interval, and the last one at the end. */
        while (progress_send(p) && running(&p->rs)) {
            next += p->interval_ns;
            if (!progress_wait(p, id, next))
                break;
        }
    }
    daq_rpc_stream_finish(p->call, DAQ_RPC_OK, NULL);
    daq_rpc_call_unref(p->call);
    atomic_fetch_sub(&p->svc->n_progress, 1);
    free(p);
}

static int progress_start(void *ctx, daq_rpc_call *call, const uint8_t *req, size_t len,
                          char *details, size_t details_len)
{
    daq_storage_service *s = ctx;
    Daq__StreamRecordingProgressRequest *in =
        daq__stream_recording_progress_request__unpack(NULL, len, req);
    if (!in) {
        snprintf(details, details_len, "malformed Daq__StreamRecordingProgressRequest message");
        return DAQ_RPC_INVALID_ARGUMENT;
    }
    progress *p = calloc(1, sizeof *p);
    int rc = DAQ_RPC_OK;
    if (!p) {
        snprintf(details, details_len, "out of memory");
        rc = DAQ_RPC_INTERNAL;
    } else {
        uint32_t ms = in->update_interval_ms ? in->update_interval_ms : INTERVAL_DEFAULT_MS;
        p->interval_ns = (uint64_t)(ms < INTERVAL_MIN_MS ? INTERVAL_MIN_MS : ms) * 1000000ull;
        snprintf(p->scan_id, sizeof p->scan_id, "%s", in->scan_id);
        p->svc = s;
        p->call = call;
    }
    daq__stream_recording_progress_request__free_unpacked(in, NULL);
    if (rc != DAQ_RPC_OK)
        return rc;
    if (atomic_fetch_add(&s->n_progress, 1) >= MAX_PROGRESS) {
        atomic_fetch_sub(&s->n_progress, 1);
        free(p);
        snprintf(details, details_len,
                 "StreamRecordingProgress: %d streams are open (the most); close one first",
                 MAX_PROGRESS);
        return DAQ_RPC_RESOURCE_EXHAUSTED;
    }
    if (daq_stream_set_spawn(s->streams, daq_rpc_call_peer_host(call), 0, progress_stream, p,
                             details, details_len) != 0) {
        atomic_fetch_sub(&s->n_progress, 1);
        free(p);
        return DAQ_RPC_RESOURCE_EXHAUSTED;
    }
    return DAQ_RPC_OK;
}

/* ---- GetRingBufferTapInfo -------------------------------------------------------------- */

/* The text a client gets while the tap is off: says how to turn it on. */
#define TAP_OFF "tap: not enabled ([tap] enabled = true in the config)"

/* The bytes of d's pool while it streams into a shareable one: arena and
 * slot headers; 0 and 0 otherwise.  The engine frees a pool only when a
 * later start has made its successor (acq.c, prepare_pool), and that start
 * needs this stream stopped first: between the state check and the reads
 * (nanoseconds) a stop, a new pool's creation and prefault (milliseconds)
 * would have to fit. */
static void tap_pool_bytes(daq_device *d, uint64_t *arena, uint64_t *headers)
{
    *arena = *headers = 0;
    daq_acq *acq = d ? daq_device_acq(d) : NULL;
    if (!acq || daq_acq_state_get(acq) != DAQ_ACQ_STREAMING)
        return;
    daq_pool *p = daq_acq_pool(acq);
    if (!p || daq_pool_memfd(p) < 0)
        return;
    *arena = daq_pool_arena_bytes(p);
    *headers = daq_pool_header_bytes(p);
}

static void get_ring_buffer_tap_info(void *ctx, const uint8_t *req, size_t len, daq_rpc_reply *r)
{
    daq_storage_service *s = ctx;
    DAQ_CALL_DECODE(Daq__GetRingBufferTapInfoRequest, daq__get_ring_buffer_tap_info_request, in,
                    req, len, r);
    daq__get_ring_buffer_tap_info_request__free_unpacked(in, NULL);
    char path[sizeof s->tap_path];
    pthread_mutex_lock(&s->tap_mu);
    daq_devices *devices = s->devices;
    memcpy(path, s->tap_path, sizeof path);
    pthread_mutex_unlock(&s->tap_mu);
    if (!devices || !path[0]) {
        daq_call_fail(r, DAQ_RPC_UNAVAILABLE, "%s", TAP_OFF);
        return;
    }
    daq_device *d = daq_devices_count(devices) ? daq_devices_at(devices, 0) : NULL;
    uint64_t arena, headers;
    tap_pool_bytes(d, &arena, &headers);
    Daq__RingBufferTapInfo out = DAQ__RING_BUFFER_TAP_INFO__INIT;
    out.file_path = path;
    out.total_size_bytes = arena + headers;
    out.capacity_bytes = arena;
    out.header_size = sizeof(daq_slot_header);
    out.stream_id = d ? (char *)daq_device_id(d) : "";
    out.magic = DAQ_TAP_MAGIC;
    out.data_format = DAQ_TAP_FORMAT;
    daq_call_reply(r, &out.base);
}

void daq_storage_service_set_tap(daq_storage_service *s, daq_devices *devices, const char *path)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->tap_mu);
    bool on = devices && path && path[0];
    s->devices = on ? devices : NULL;
    snprintf(s->tap_path, sizeof s->tap_path, "%s", on ? path : "");
    pthread_mutex_unlock(&s->tap_mu);
}

/* ---- lifecycle ----------------------------------------------------------------------- */

static const unary_def unary_defs[N_UNARY] = {
    {"/daq.StorageService/ConfigureStorage", configure_storage, true},
    {"/daq.StorageService/GetStorageConfig", get_storage_config, false},
    {"/daq.StorageService/StartRecording", start_recording, true},
    {"/daq.StorageService/StopRecording", stop_recording, true},
    {"/daq.StorageService/GetRecordingStatus", get_recording_status, false},
    {"/daq.StorageService/ListAcquisitions", list_acquisitions, false},
    {"/daq.StorageService/GetAcquisitionInfo", get_acquisition_info, false},
    {"/daq.StorageService/DeleteAcquisition", delete_acquisition, true},
    {"/daq.StorageService/FlushToStorage", flush_to_storage, true},
};

daq_storage_service *daq_storage_service_create(daq_storage *st)
{
    daq_storage_service *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->st = st;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->tap_mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->tail = &s->head;
    atomic_init(&s->n_progress, 0);
    for (size_t i = 0; i < N_UNARY; i++)
        s->ctx[i] = (method_ctx){s, &unary_defs[i]};
    s->streams = daq_stream_set_create();
    if (!s->streams) {
        daq_storage_service_destroy(s);
        return NULL;
    }
    for (; s->n_workers < WORKERS; s->n_workers++)
        if (pthread_create(&s->workers[s->n_workers], NULL, worker, s) != 0) {
            daq_storage_service_destroy(s);
            return NULL;
        }
    return s;
}

void daq_storage_service_destroy(daq_storage_service *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    for (unsigned i = 0; i < s->n_workers; i++)
        pthread_join(s->workers[i], NULL); /* each drains the queue before it returns */
    daq_stream_set_destroy(s->streams);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->tap_mu);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

size_t daq_storage_service_methods(daq_storage_service *s, daq_rpc_method *out, size_t max)
{
    daq_rpc_method all[N_UNARY + 2];
    for (size_t i = 0; i < N_UNARY; i++)
        all[i] = (daq_rpc_method){unary_defs[i].path, NULL, unary_start, &s->ctx[i],
                                  unary_defs[i].audit};
    all[N_UNARY] = (daq_rpc_method){"/daq.StorageService/StreamRecordingProgress", NULL,
                                    progress_start, s, false};
    all[N_UNARY + 1] = (daq_rpc_method){"/daq.StorageService/GetRingBufferTapInfo",
                                        get_ring_buffer_tap_info, NULL, s, false};
    return daq_rpc_methods_copy(out, max, all, N_UNARY + 2);
}

size_t daq_storage_service_bridge_methods(daq_storage_service *s, daq_rpc_method *out, size_t max)
{
    size_t n = daq_storage_service_methods(s, out, max);
    for (size_t i = 0; i < n && i < N_UNARY; i++) {
        out[i].unary = unary_defs[i].fn;
        out[i].stream = NULL;
    }
    return n;
}

#endif
