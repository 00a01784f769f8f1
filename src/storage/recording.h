/* storage/recording.h - one recording: a file, a writer thread per camera,
 * compression workers and a control thread that flushes and finalises.
 *
 * The storage manager (storage.c) creates the file's path and calls
 * daq_recording_start; the recording then runs by itself until
 * daq_recording_stop, its frame limit or duration, or a disk fault.  It
 * finalises itself in every case (the control thread closes the file and
 * writes the closing attributes), so a recording that ends by its limit
 * leaves a complete file even if no client ever calls stop.
 *
 * Threads (docs/architecture.md, "threads"): per camera one writer (takes
 * frames from its bus subscription, writes chunks), `workers` encoders
 * when compressing, one control thread (flush timer, duration, finalise).
 * Every HDF5 call of the recording is made under its h5 lock.
 *
 * Ownership: params are copied; devices, cameras and buses are borrowed
 * from the device table, which outlives the recording.  The caller owns
 * the recording (daq_recording_destroy, after daq_recording_stop).
 */
#ifndef DAQ_STORAGE_RECORDING_H
#define DAQ_STORAGE_RECORDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daq/devices.h"
#include "daq/storage.h"

typedef struct daq_recording daq_recording;

typedef struct daq_recording_params {
    const char *id;   /* UUID */
    const char *path; /* file created (empty, 0640) by the caller */
    const char *name; /* as requested (already checked) */
    daq_storage_hdf5 hdf5;
    uint32_t flush_interval_ms;
    uint32_t workers; /* > 0 */
    uint32_t test_write_delay_us;
    uint64_t max_buffer_bytes; /* per camera: queue + frames being encoded */
    uint64_t frame_limit;      /* per camera; 0 = none */
    uint64_t duration_ms;      /* 0 = none */
    const daq_kv *metadata;
    size_t n_metadata;
    const char *scan_id, *run_uid; /* "" when absent */
    daq_device *const *devices;    /* streaming cameras, borrowed */
    size_t n_devices;
    /* A group recording (metadata "sync_group"): the group's name, its
     * members being devices[] in the group's order; at finalisation the
     * recording writes /entry/sync/<name> (storage/sync_index.h).  NULL or
     * "": none. */
    const char *sync_group;
} daq_recording_params;

/* Creates the file's layout, subscribes to every camera and starts the
 * threads.  NULL with a message (the file is removed) on failure. */
daq_recording *daq_recording_start(const daq_recording_params *p, char *err, size_t err_len);

/* Stops taking frames (frames that ended before this call are still
 * written), finalises if that has not happened yet, and writes
 * final_metadata.  Idempotent; returns after the file is closed. */
void daq_recording_stop(daq_recording *r, const daq_kv *final_metadata, size_t n_final);

/* Asks for a flush now; with sync, waits for it (at most 30 s). */
void daq_recording_flush(daq_recording *r, bool sync);

/* Blocks until the recording has finalised by itself (limit, duration or
 * error) or timeout_ms passes; true if it has. */
bool daq_recording_wait_finished(daq_recording *r, uint32_t timeout_ms);

bool daq_recording_finished(daq_recording *r);

/* Status; id, path and scan_id filled too. */
void daq_recording_status_snapshot(daq_recording *r, daq_recording_status *out);

/* Flush latency figures for metrics, added into the arrays (see
 * daq_storage_stats). */
void daq_recording_flush_stats(daq_recording *r, uint64_t *count, uint64_t *ns_sum,
                               uint64_t *bucket);

/* Joins everything (stops first if needed) and frees.  NULL ok. */
void daq_recording_destroy(daq_recording *r);

#endif
