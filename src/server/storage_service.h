/* server/storage_service.h - rust-daq's daq.StorageService over the
 * recorder (daq/storage.h), as methods for the gRPC core (server/rpc.h).
 *
 * Every recorder call may wait on the disk -- StopRecording drains the
 * queues and closes the file, FlushToStorage(sync) waits for fdatasync, the
 * catalogue opens HDF5 files -- and the rpc core's unary handlers run on its
 * one completion-queue thread, which every frame stream needs to make
 * progress.  So the service's unary RPCs are accepted as one-message
 * streams and answered by two worker threads of its own (a bounded queue
 * of 64 calls; RESOURCE_EXHAUSTED beyond).  On the wire they are ordinary
 * unary calls.  StreamRecordingProgress gets a thread per stream, at most
 * 8 at once.  docs/facts/grpc-storage-api.md has the wire facts (§2) and
 * the mapping (§5).
 *
 * Only built with libdaq-storage (DAQ_WITH_STORAGE); without a recorder
 * the server does not register the service and its paths answer
 * UNIMPLEMENTED.
 *
 * Ownership: the service borrows the storage, which must outlive it, and
 * owns its worker and stream threads; destroy joins them, which requires
 * the gRPC server to have been stopped first (that closes every call).
 */
#ifndef DAQ_SERVER_STORAGE_SERVICE_H
#define DAQ_SERVER_STORAGE_SERVICE_H

#ifdef DAQ_WITH_STORAGE

#include <stddef.h>

#include "daq/storage.h"
#include "server/rpc.h"

typedef struct daq_storage_service daq_storage_service;

/* NULL when out of memory or no thread could be started. */
daq_storage_service *daq_storage_service_create(daq_storage *st);

/* The StorageService's methods into out; returns how many (0 if max is too
 * small: nothing copied). */
size_t daq_storage_service_methods(daq_storage_service *s, daq_rpc_method *out, size_t max);

/* The same methods for the HTTP bridge (server/rpc_bridge.h), which has no
 * gRPC call to queue: the unary ones as plain unary handlers (run on the
 * caller's thread, the same code and checks the workers run), the progress
 * stream as it is (the bridge refuses streams).  Same return as above. */
size_t daq_storage_service_bridge_methods(daq_storage_service *s, daq_rpc_method *out, size_t max);

/* GetRingBufferTapInfo's answer: the tap's socket path (copied) and the
 * devices whose first camera it describes (borrowed; they outlive the
 * service).  NULL devices or a NULL/"" path: the tap is off (UNAVAILABLE),
 * as before the first call.  Any thread. */
void daq_storage_service_set_tap(daq_storage_service *s, daq_devices *devices, const char *path);

/* Joins the worker and stream threads (the gRPC server must be stopped)
 * and frees.  NULL ok. */
void daq_storage_service_destroy(daq_storage_service *s);

#endif
#endif
