/* storage/catalog.h - the daemon's recordings, read back from the files.
 *
 * Nothing is kept in memory between calls: the catalogue is the set of
 * files under the root (recursively, at most DAQ_CATALOG_MAX_FILES of them
 * and 8 directory levels) whose /entry carries a recording_id attribute
 * written by daq.  So ListAcquisitions and GetAcquisitionInfo give the same
 * answers after a restart, and a file copied in by hand is never
 * "ours" (DeleteAcquisition refuses it).  Files are opened read-only with
 * SWMR (H5F_ACC_SWMR_READ), so a recording in progress or one left open by
 * a crash reads too; such files have no end_time (complete = false).
 *
 * Threading: HDF5 calls are made under the caller's lock (the storage's);
 * the functions allocate nothing that outlives the call.
 */
#ifndef DAQ_STORAGE_CATALOG_H
#define DAQ_STORAGE_CATALOG_H

#include <stdbool.h>
#include <stddef.h>

#include "daq/storage.h"

#define DAQ_CATALOG_MAX_FILES 10000

/* Reads one file's summary; 0, or -1 if it is not a daq recording. */
int daq_catalog_read_summary(const char *path, daq_acquisition *out);

/* Lists recordings under root matching filter, newest first; see
 * daq_storage_list. */
size_t daq_catalog_list(const char *root, const daq_acquisition_filter *filter,
                        daq_acquisition *out, size_t max);

/* Finds the recording id under root; 0 with its summary, -1 if absent. */
int daq_catalog_find(const char *root, const char *id, daq_acquisition *out);

/* Full description (datasets, metadata, structure) of the file at path. */
int daq_catalog_read_info(const char *path, daq_acquisition_info *out, char *err, size_t err_len);

#endif
