/* daq/server.h - libdaq-server: rust-daq's gRPC camera API
 * (daq.ControlService, the camera subset of daq.HardwareService) and the
 * standard health service, served over a device table.
 *
 * One call starts the whole gRPC side: a server on the gRPC C core with one
 * completion-queue thread, the API's methods, one thread per frame or
 * parameter-change stream (docs/architecture.md, "threads").  Everything
 * the server does to a camera goes through the camera's locked calls and
 * the engine's; a stream is a latest-only bus subscription, so no client
 * can slow acquisition.
 *
 * Ownership: the server borrows the device table, which must outlive it;
 * daq_server_stop cancels every call, joins every stream thread and frees.
 * Stop the devices' streams first (daq_devices_stop_all) for clients to get
 * rust-daq's clean end of stream rather than a cancellation.
 */
#ifndef DAQ_SERVER_H
#define DAQ_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daq/api.h"
#include "daq/devices.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct daq_server daq_server;
struct daq_storage; /* daq/storage.h (libdaq-storage) */

typedef struct daq_server_config {
    const char *bind;                /* IPv4/IPv6 address; default "127.0.0.1" (borrowed) */
    uint16_t port;                   /* default 50051; 0: ephemeral */
    const char *version;             /* GetDaemonInfo's version (borrowed; static) */
    bool compression_lz4;            /* FrameData.data LZ4-framed (rust-daq's default: true) */
    uint32_t max_streams_per_client; /* StreamFrames per client host (default 3) */
    size_t max_message_bytes;        /* received and sent messages (default 64 MiB) */
    uint64_t start_ns;               /* CLOCK_MONOTONIC process start, for uptime */
    struct daq_storage *storage;     /* StorageService's recorder (borrowed, outlives the
                                      * server); NULL: StorageService is UNIMPLEMENTED */
    daq_config_limits limits;        /* [limits] (default: daq_config_limits_init) */
    daq_config_security security;    /* [security] (default: all off) */
} daq_server_config;

/* The defaults above; start_ns = now. */
DAQ_API void daq_server_config_init(daq_server_config *cfg);

/* Listens and serves.  Returns a server the caller owns (daq_server_stop);
 * devices is borrowed, cfg copied (its strings borrowed until stop).  NULL
 * with a message ("127.0.0.1:50051: cannot bind: Address already in use")
 * on failure. */
DAQ_API daq_server *daq_server_start(daq_devices *devices, const daq_server_config *cfg, char *err,
                                     size_t err_len);

/* The port actually bound. */
DAQ_API uint16_t daq_server_port(const daq_server *s);

/* The zero-copy tap's socket path for GetRingBufferTapInfo (copied); NULL
 * or "" = the tap is off, the default (UNAVAILABLE).  A setter rather than
 * a config field: the tap's default path names the bound gRPC port, so the
 * daemon makes the tap after daq_server_start.  Any thread. */
DAQ_API void daq_server_set_tap(daq_server *s, const char *path);

/* Stops accepting, cancels every call, joins the stream threads, frees.
 * NULL ok. */
DAQ_API void daq_server_stop(daq_server *s);

#ifdef __cplusplus
}
#endif
#endif
