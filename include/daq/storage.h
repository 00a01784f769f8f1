/* daq/storage.h - libdaq-storage: recording camera frames to HDF5.
 *
 * A daq_storage is the daemon's one recorder: a root directory that every
 * file lives under, the current settings (rust-daq's StorageService
 * ConfigureStorage / HDF5Config), at most one recording at a time, and the
 * catalogue of finished recordings (read back from the files, so it
 * survives a restart).
 *
 * A recording is a bus consumer on one or more cameras.  Each camera gets a
 * DROP_NEWEST subscription whose queue holds max_buffer_mb of frames and a
 * writer thread of its own; the acquisition thread never touches a file.
 * Uncompressed frames go from the pool slot to the file with no copy
 * (H5Dwrite_chunk of the slot's bytes); compressed frames are encoded by
 * `workers` threads in parallel and written in order.  When the disk falls
 * behind, the queue fills and the bus drops new frames for the recorder
 * only: the camera and the other consumers never wait.  Every drop is
 * counted and listed in the file.
 *
 * File layout (one file per recording, SWMR, docs/storage.md):
 *
 *   /entry                      NX_class=NXentry, name, recording_id,
 *                               start_time, end_time (ISO 8601, UTC),
 *                               scan_id, run_uid, compression, ...
 *   /entry/metadata             the request's metadata (string attributes)
 *   /entry/final_metadata       StopRecording's final_metadata
 *   /entry/<device_id>/data     (N, H, W) pixels, chunk (1, H, W)
 *   /entry/<device_id>/{frame_number, sequence, timestamp_hw_ns,
 *                       timestamp_ns, exposure_ms, flags}   one per frame
 *   /entry/<device_id>/missing  (M, 3) uint64 rows (first frame number,
 *                               count, reason 1 = camera, 2 = recorder)
 *
 * Threading: every function may be called from any thread; calls are
 * serialised by the storage's lock.  Ownership: the storage borrows the
 * device table (which must outlive it); strings in requests are borrowed
 * for the call; results are written into caller storage.
 */
#ifndef DAQ_STORAGE_H
#define DAQ_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daq/api.h"
#include "daq/devices.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct daq_storage daq_storage;

typedef enum daq_codec {
    DAQ_CODEC_NONE = 0,
    DAQ_CODEC_GZIP,  /* HDF5 deflate (filter 1), compression_level 0..9 */
    DAQ_CODEC_LZ4,   /* HDF5 filter 32004, areaDetector's framing */
    DAQ_CODEC_BSLZ4, /* HDF5 filter 32008, bitshuffle + LZ4 */
} daq_codec;

/* The codecs' names indexed by daq_codec, NULL-terminated: "none", "gzip",
 * "lz4", "bslz4". */
DAQ_API extern const char *const daq_codec_names[];
/* 0, or -1 with "unsupported compression 'zstd' (supported: none, gzip,
 * lz4, bslz4)" in err. */
DAQ_API int daq_codec_parse(const char *s, daq_codec *out, char *err, size_t err_len);

#define DAQ_STORAGE_PATH_MAX 1024

/* rust-daq's HDF5Config. */
typedef struct daq_storage_hdf5 {
    daq_codec compression;        /* default gzip (rust-daq's default) */
    uint32_t compression_level;   /* gzip: 0..9, default 4 */
    uint32_t chunk_size;          /* elements per chunk of the per-frame datasets; default 4096 */
    char filename_pattern[256];   /* default "{name}_{timestamp}.h5"; {name} {timestamp} {date}
                                     {datetime} */
    bool include_timestamps;      /* timestamp_* datasets (default true) */
    bool include_device_metadata; /* camera description and parameters as attributes (default true)
                                   */
} daq_storage_hdf5;

/* The settings ConfigureStorage changes, plus the daemon's own. */
typedef struct daq_storage_config {
    char root[DAQ_STORAGE_PATH_MAX];             /* every file lives under it (created) */
    char output_directory[DAQ_STORAGE_PATH_MAX]; /* "" = root; relative paths are under root */
    daq_storage_hdf5 hdf5;
    uint32_t flush_interval_ms;   /* default 1000 */
    uint32_t max_buffer_mb;       /* recorder queue per camera; default 256 */
    uint32_t workers;             /* compression threads; 0 = online cores */
    uint32_t test_write_delay_us; /* test only: sleep per written frame (a slow disk) */
} daq_storage_config;

/* rust-daq's defaults (root "data"). */
DAQ_API void daq_storage_config_init(daq_storage_config *cfg);

/* Creates root if missing (0750) and resolves it (symlinks resolved).
 * Returns a storage the caller owns (daq_storage_destroy), or NULL with a
 * message.  devices is borrowed and must outlive the storage. */
DAQ_API daq_storage *daq_storage_create(daq_devices *devices, const daq_storage_config *cfg,
                                        char *err, size_t err_len);

/* Stops and finalises a running recording, frees.  NULL ok. */
DAQ_API void daq_storage_destroy(daq_storage *st);

/* The canonical root (borrowed, valid until destroy). */
DAQ_API const char *daq_storage_root(const daq_storage *st);

/* ---- settings (ConfigureStorage / GetStorageConfig) ------------------------------ */

/* Applies cfg's output_directory (created under root, refused with
 * "Invalid output path: ..." when it resolves outside), hdf5, flush interval
 * and buffer size; root and workers are ignored.  resolved (may be NULL)
 * receives the canonical output directory.  0, or -1 with a message and
 * nothing changed. */
DAQ_API int daq_storage_configure(daq_storage *st, const daq_storage_config *cfg, char *resolved,
                                  size_t resolved_len, char *err, size_t err_len);

/* The current settings, and the output directory's file system space. */
DAQ_API void daq_storage_config_snapshot(daq_storage *st, daq_storage_config *out,
                                         uint64_t *disk_available_bytes, uint64_t *disk_used_bytes);

/* Bytes each camera's pool should keep for the recorder's queue (pool
 * auto-sizing, daq_acq_config.reserve_bytes). */
DAQ_API uint64_t daq_storage_reserve_bytes(const daq_storage *st);

/* ---- recordings ---------------------------------------------------------------- */

typedef enum daq_recording_state {
    DAQ_RECORDING_IDLE = 1, /* values are rust-daq's RecordingState */
    DAQ_RECORDING_ACTIVE = 2,
    DAQ_RECORDING_FLUSHING = 3,
    DAQ_RECORDING_FINALIZING = 4,
    DAQ_RECORDING_ERROR = 5,
} daq_recording_state;

DAQ_API const char *daq_recording_state_name(daq_recording_state s); /* static storage */

typedef struct daq_kv {
    const char *key, *value;
} daq_kv;

typedef struct daq_record_request {
    const char *name;       /* sanitised into the file name; "/" or NUL refused */
    const daq_kv *metadata; /* n_metadata pairs; "devices" = "cam0,cam1" picks cameras */
    size_t n_metadata;
    const daq_storage_hdf5 *config_override; /* NULL: the storage's hdf5 settings */
    const char *scan_id;                     /* NULL or "" when absent */
    const char *run_uid;
    uint64_t frame_limit; /* stop by itself after this many frames per camera; 0 = none */
    uint64_t duration_ms; /* stop by itself after this long; 0 = none */
} daq_record_request;

typedef struct daq_recording_status {
    char recording_id[40];
    daq_recording_state state;
    char output_path[DAQ_STORAGE_PATH_MAX];
    char scan_id[128];
    uint64_t samples_recorded; /* frames written, all cameras */
    uint64_t bytes_written;    /* bytes handed to the file (after compression) */
    uint64_t bytes_in;         /* pixel bytes before compression */
    uint64_t frames_dropped;   /* by the recorder (queue full, or after an error) */
    uint64_t frames_lost;      /* by the cameras during the recording */
    uint64_t start_time_ns;    /* CLOCK_REALTIME */
    uint64_t elapsed_ns;
    uint32_t buffer_fill_percent; /* fullest camera queue */
    uint64_t pending_samples;     /* queued + being encoded, all cameras */
    uint64_t flushes_completed;
    uint64_t samples_flushed; /* frames on disk as of the last flush */
    bool flush_in_progress;
    uint64_t estimated_remaining_ns; /* with a frame limit or duration; 0 unknown */
    bool ended;                      /* reached its limit: waiting for stop */
    char error_message[256];
} daq_recording_status;

/* Starts a recording of every streaming camera (or those named in
 * metadata "devices").  Writes the new recording's id and path.  0, or -1
 * with rust-daq's text ("Recording already in progress", ...). */
DAQ_API int daq_storage_start(daq_storage *st, const daq_record_request *req,
                              daq_recording_status *out, char *err, size_t err_len);

/* Stops the recording id (NULL or "": the current one): drains the queues,
 * flushes, writes end_time, final_metadata and the counts, closes.
 * out receives the final status.  0, or -1 ("No active recording",
 * "Recording <id> not found"). */
DAQ_API int daq_storage_stop(daq_storage *st, const char *id, const daq_kv *final_metadata,
                             size_t n_final, daq_recording_status *out, char *err, size_t err_len);

/* Status of id (NULL or "": the current recording, else the last one).
 * -1 with a message if there is none / it is unknown. */
DAQ_API int daq_storage_status(daq_storage *st, const char *id, daq_recording_status *out,
                               char *err, size_t err_len);

/* Asks the writers to flush now; with sync waits until they have.  -1
 * ("No active recording") otherwise. */
DAQ_API int daq_storage_flush(daq_storage *st, const char *id, bool sync, daq_recording_status *out,
                              char *err, size_t err_len);

/* Blocks until the current recording has reached its frame limit or
 * duration (or failed), or timeout_ms passes; true if it has. */
DAQ_API bool daq_storage_wait_ended(daq_storage *st, uint32_t timeout_ms);

/* ---- the catalogue (ListAcquisitions / GetAcquisitionInfo / Delete) ------------- */

typedef struct daq_acquisition {
    char acquisition_id[40]; /* the recording id */
    char name[128];
    char file_path[DAQ_STORAGE_PATH_MAX];
    uint64_t file_size_bytes;
    uint64_t created_at_ns; /* CLOCK_REALTIME, from start_time */
    uint64_t duration_ns;
    uint64_t sample_count; /* frames, all cameras */
    bool complete;         /* end_time written (false after a crash) */
} daq_acquisition;

typedef struct daq_acquisition_filter {
    const char *name_pattern;     /* fnmatch glob on the name; NULL = all */
    uint64_t after_ns, before_ns; /* created_at bounds; 0 = none */
    uint32_t limit, offset;       /* limit 0 = 100 */
} daq_acquisition_filter;

/* Scans the root for the daemon's recordings, newest first.  Writes up to
 * max entries into out (after filter's offset); returns the total that
 * matched (total_count). */
DAQ_API size_t daq_storage_list(daq_storage *st, const daq_acquisition_filter *filter,
                                daq_acquisition *out, size_t max);

typedef struct daq_dataset_info {
    char name[256]; /* path in the file */
    char dtype[16]; /* "uint16", "float64", ... */
    uint64_t shape[3];
    unsigned rank;
    char device_id[64];
    uint64_t sample_count;
} daq_dataset_info;

#define DAQ_STORAGE_MAX_DATASETS 64
#define DAQ_STORAGE_MAX_META     32

typedef struct daq_acquisition_info {
    daq_acquisition summary;
    size_t n_datasets;
    daq_dataset_info datasets[DAQ_STORAGE_MAX_DATASETS];
    size_t n_metadata;
    char meta_key[DAQ_STORAGE_MAX_META][64];
    char meta_value[DAQ_STORAGE_MAX_META][256];
    char scan_id[128], run_uid[128];
    size_t n_groups;
    char groups[16][128];
    char compression[16];
    uint32_t chunk_size;
    uint64_t total_elements;
} daq_acquisition_info;

/* 0; -1 with "Acquisition not found" when id is not one of the daemon's
 * recordings under the root. */
DAQ_API int daq_storage_info(daq_storage *st, const char *id, daq_acquisition_info *out, char *err,
                             size_t err_len);

/* Removes a finished recording's file.  -1 with "Deletion requires
 * confirm=true", "Acquisition not found" (*not_found set) or the OS error. */
DAQ_API int daq_storage_delete(daq_storage *st, const char *id, bool confirm, uint64_t *bytes_freed,
                               bool *not_found, char *err, size_t err_len);

/* ---- metrics ----------------------------------------------------------------------- */

#define DAQ_STORAGE_FLUSH_BUCKETS 16 /* log2 buckets from 1 ms: le 1,2,4,...,32768 ms, +Inf */

typedef struct daq_storage_stats {
    bool recording;
    uint64_t frames_written, bytes_written, frames_dropped; /* since the daemon started */
    uint32_t queue_fill_percent;
    uint64_t flushes;
    uint64_t flush_ns_sum;
    uint64_t flush_bucket[DAQ_STORAGE_FLUSH_BUCKETS + 1]; /* cumulative per le, last = +Inf */
    uint64_t disk_free_bytes;
    uint64_t errors;
} daq_storage_stats;

DAQ_API void daq_storage_stats_snapshot(daq_storage *st, daq_storage_stats *out);

#ifdef __cplusplus
}
#endif
#endif
