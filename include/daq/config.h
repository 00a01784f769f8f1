/* daq/config.h - the hardware configuration file: rust-daq's schema plus
 * daq's own tables, loaded into plain structs.
 *
 *   plugin_paths = [...]          # rust-daq; accepted and ignored
 *
 *   [[devices]]                   # rust-daq: one entry per device
 *   id = "cam0"
 *   name = "Simulated camera"
 *   autostart = true              # daq: start acquiring at launch
 *   [devices.driver]
 *   type = "sim"                  # camera drivers: sim, mock_camera, ...
 *   width = 2048                  # every other key is a driver parameter
 *   [[devices.consumers]]         # daq: built-in consumers on the bus
 *   name = "stats"
 *   kind = "stats"                # "stats" or "null"
 *   policy = "drop-oldest"
 *   queue_depth = 4
 *
 *   [pool]  [acquisition]  [server]  [log]     # daq; see config/example.toml
 *   [storage]                     # daq: the recorder (libdaq-storage)
 *   [limits]  [security]          # daq: what clients may make daqd hold; TLS, tokens
 *   [recovery]                    # daq: retrying devices that are absent or failed
 *   [rollback]                    # daq: the rollback plan's symptom watch
 *   [[sync_groups]]               # daq: cameras on one trigger line, frames matched
 *   name = "pair"                 #   by trigger index (daq/sync.h); checked after the
 *   devices = ["cam0", "cam1"]    #   whole file is read: every device a camera of the
 *   line = "laser"                #   file, in at most one group, at least 2 per group
 *   match_timeout_ms = 1000
 *
 * Devices whose driver type is not a camera driver of this build (rust-daq's
 * stages, power meters, lasers, ...) are skipped with one warning naming the
 * device.  Everything else is checked: unknown keys, wrong types and
 * out-of-range values are errors "FILE:LINE:COL: key.path: message".
 * Driver parameters are kept as written, with their positions; the devices
 * module checks them against the driver's parameter table when it builds the
 * camera (daq_devices_check), with the same kind of message.
 *
 * The module knows only the TOML reader and the vocabulary of the modules
 * it configures (policy names of pool and bus, the driver registry's type
 * names); it creates nothing.  [storage] is plain data for libdaq-storage,
 * which libdaq does not link: its compression name is kept as written, with
 * its position, and checked by whoever builds the recorder
 * (daq_codec_parse in daq/storage.h), so its message still points at the
 * file.
 *
 * Ownership: daq_config is a plain value the caller owns (it can live on
 * the stack); no pointers into the TOML document survive loading.
 */
#ifndef DAQ_CONFIG_H
#define DAQ_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daq/api.h"
#include "daq/acq.h"
#include "daq/bus.h"
#include "daq/pool.h"
#include "daq/sink.h"
#include "daq/toml.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DAQ_CONFIG_MAX_DEVICES      16
#define DAQ_CONFIG_MAX_PARAMS       48
#define DAQ_CONFIG_MAX_CONSUMERS    8
#define DAQ_CONFIG_MAX_WARNINGS     32
#define DAQ_CONFIG_MAX_SYNC_GROUPS  8
#define DAQ_CONFIG_MAX_SYNC_MEMBERS 16 /* DAQ_SYNC_MAX_MEMBERS */

typedef enum daq_config_vtype {
    DAQ_CONFIG_BOOL = 0,
    DAQ_CONFIG_INT,
    DAQ_CONFIG_FLOAT,
    DAQ_CONFIG_STRING,
} daq_config_vtype;

/* A driver parameter as written in [devices.driver]. */
typedef struct daq_config_param {
    char key[64];
    daq_config_vtype type;
    bool b;
    int64_t i;
    double f;
    char s[128];
    daq_toml_pos pos;
} daq_config_param;

typedef struct daq_config_consumer {
    char name[64];
    daq_sink_kind kind;
    daq_sub_config sub; /* sub.name points into name */
    daq_toml_pos pos;
} daq_config_consumer;

typedef struct daq_config_device {
    char id[64];
    char name[128];
    char type[32]; /* as written, e.g. "mock_camera" */
    daq_toml_pos pos;
    bool autostart;
    size_t n_params;
    daq_config_param params[DAQ_CONFIG_MAX_PARAMS];
    size_t n_consumers;
    daq_config_consumer consumers[DAQ_CONFIG_MAX_CONSUMERS];
} daq_config_device;

/* [[sync_groups]]: cameras that share a trigger line, their frames matched
 * by trigger index (daq/sync.h; devices.c builds one matcher per group).
 * line: the line the group's cameras share.  A sim member whose driver
 * table does not set trigger.line gets it (devices.c); one that sets a
 * different trigger.line is an error here.  For real cameras it documents
 * the wiring. */
typedef struct daq_config_sync_group {
    char name[64];
    char line[64];             /* "" when not given */
    uint32_t match_timeout_ms; /* 1..3600000, default 1000 */
    size_t n_devices;
    char devices[DAQ_CONFIG_MAX_SYNC_MEMBERS][64];
    daq_toml_pos device_pos[DAQ_CONFIG_MAX_SYNC_MEMBERS];
    daq_toml_pos pos, name_pos, devices_pos;
} daq_config_sync_group;

/* [storage]: rust-daq's HDF5Config defaults and daq's own recorder
 * settings (daq_storage_config in daq/storage.h mirrors it). */
typedef struct daq_config_storage {
    char root[1024];              /* every recording lives under it; default "data"
                                   * (relative: to the daemon's working directory) */
    char compression[32];         /* as written, default "gzip" (rust-daq's); unchecked */
    daq_toml_pos compression_pos; /* where it was written; {0, 0} for the default */
    uint32_t compression_level;   /* gzip 0..9, default 4 */
    uint32_t chunk_size;          /* > 0, default 4096 */
    char filename_pattern[256];   /* default "{name}_{timestamp}.h5" */
    bool include_timestamps;      /* default true */
    bool include_device_metadata; /* default true */
    uint32_t flush_interval_ms;   /* 10..3600000, default 1000 */
    uint32_t max_buffer_mb;       /* recorder queue per camera, 1..65536, default 256 */
    uint32_t workers;             /* compression threads, 0 (online cores)..64, default 0 */
} daq_config_storage;

/* [limits]: everything a client can make the daemon hold, sized together
 * (docs/architecture.md, "Limits").  Every field has a default; 0 means
 * "auto" only where said. */
typedef struct daq_config_limits {
    uint32_t memory_mb;        /* pools, SDK rings and stream buffers of all cameras;
                                * 0 (default) = half of physical memory */
    uint32_t streams;          /* frame streams in total, 1..256, default 8 */
    uint32_t subscribers;      /* parameter-change + health watchers, 1..100000, default 4096 */
    uint32_t connections;      /* gRPC connections in total, 1..10000, default 256 */
    uint32_t stall_timeout_ms; /* a stream whose client takes nothing this long ends,
                                * 100..600000, default 10000 */
    uint32_t keepalive_ms;     /* HTTP/2 keepalive ping period, 1000..3600000, default 30000 */
    uint32_t workers;          /* threads running unary calls, 2..64, default 4 */
} daq_config_limits;

/* [security]: TLS and bearer tokens for gRPC (and the HTTP side beyond
 * /metrics and /healthz).  Paths as written; "" = not configured.  The
 * files are read by whoever starts the server, not here. */
typedef struct daq_config_security {
    char tls_cert[512];      /* PEM server certificate chain */
    char tls_key[512];       /* PEM private key */
    char tls_client_ca[512]; /* PEM CA bundle: clients must present a certificate (mTLS) */
    char tokens_file[512];   /* "name token" per line */
    /* Host names browsers may use for the HTTP port's /api/ and /debug/
     * besides IP literals, "localhost" and this host's name: a comma list
     * ("lab-pc.example.org,daq.lab"); "" = none.  The DNS-rebinding guard
     * (docs/live-view.md). */
    char http_hosts[256];
    /* [security] http_tls: the HTTP port (live view, /debug, /metrics) over
     * TLS with tls_cert/tls_key.  -1 (key absent): on when TLS is set and
     * the bind is not loopback (a token must not cross a network in clear
     * text); 0: off; 1: on. */
    int http_tls;
} daq_config_security;

/* [recovery]: devices absent at start or whose stream failed are retried
 * with exponential backoff (daq/devices.h, daq_devices_recovery_start).
 * Attempt k (1-based) of an outage waits min(max_ms, initial_ms *
 * factor^(k-1)) after the failure before it. */
typedef struct daq_config_recovery {
    bool enabled;          /* default true */
    uint32_t initial_ms;   /* first delay, 10..3600000, default 500 */
    uint32_t max_ms;       /* caps every delay, 10..86400000, default 30000 */
    double factor;         /* growth per failed attempt, 1..16, default 2 */
    uint32_t max_attempts; /* failed attempts before giving up; 0 (default) = never */
} daq_config_recovery;

/* [rollback]: the rollback plan's live symptom watch (daq/watch.h,
 * daq_devices_watch_start).  Every interval_ms the watch samples each
 * camera and the process RSS; a symptom rises when its value over the last
 * window_s exceeds its threshold and clears after clear_s at or below it.
 * A camera is not judged for warmup_s after its stream starts; the RSS
 * baseline is taken warmup_s after the first stream of the process. */
typedef struct daq_config_rollback {
    bool enabled;              /* default true */
    uint32_t interval_ms;      /* sampling period, 50..60000, default 1000 */
    uint32_t window_s;         /* sliding window, 1..3600, default 60 */
    uint32_t warmup_s;         /* 0..3600, default 30 */
    uint32_t clear_s;          /* below the threshold this long to clear, 0..3600, default 10 */
    double exhaustion_per_min; /* pool exhaustion events per minute, 0..1e9, default 0 */
    double avg_alloc_us;       /* mean frame allocation time, 0..1e7 us, default 1000 */
    uint32_t frame_loss;       /* lost frames in the window, default 0 */
    double rss_warn_pct;       /* RSS growth since warm-up, 0..100000 %, default 10 */
    double rss_rollback_pct;   /* the same, rollback level, default 20 */
    bool auto_rollback;        /* "auto": turn a symptomatic camera's pool off; default false */
    uint32_t auto_after_s;     /* symptom active this long first, 0..3600, default 5 */
} daq_config_rollback;

/* [tap]: the zero-copy tap (ADR 0012, docs/tap.md).  Local readers map a
 * camera's pool read-only through one Unix SOCK_SEQPACKET socket.  On, the
 * pools live in sealed memfds and an auto-sized pool keeps room for
 * max_readers * (max_lease_cap + 1) + history frames more. */
#define DAQ_TAP_MAX_IDS 16
typedef struct daq_config_tap {
    bool enabled; /* default false */
    /* The socket; "" (default) = <runtime dir>/daq/tap-<gRPC port>.sock, the
     * runtime dir being $RUNTIME_DIRECTORY, $XDG_RUNTIME_DIR, /run as root,
     * else /tmp.  At most 107 bytes (sun_path). */
    char path[108];
    uint32_t mode; /* of the socket file, default 0660 */
    /* Peers allowed (SO_PEERCRED): uid in allowed_uids or gid in
     * allowed_gids; both empty (default) = the daemon's own uid only.
     * Root is not implied. */
    uint32_t allowed_uids[DAQ_TAP_MAX_IDS];
    size_t n_allowed_uids;
    uint32_t allowed_gids[DAQ_TAP_MAX_IDS];
    size_t n_allowed_gids;
    uint32_t max_readers;      /* at once, all devices, 1..64, default 4 */
    uint32_t lease_cap;        /* a reader's default lease cap, 1..max_lease_cap, default 4 */
    uint32_t max_lease_cap;    /* the most a reader may ask, 1..64, default 8 */
    uint32_t lease_timeout_ms; /* revoke a lease held longer; 0 = never; default 5000 */
    uint32_t history;          /* recent frames kept per camera for new readers, 0..16, default 0 */
} daq_config_tap;

typedef struct daq_config_warning {
    daq_toml_pos pos;
    char text[192];
} daq_config_warning;

typedef struct daq_config {
    char path[256];
    size_t n_devices; /* camera devices only */
    daq_config_device devices[DAQ_CONFIG_MAX_DEVICES];
    size_t n_skipped; /* devices of other kinds */
    size_t n_warnings;
    daq_config_warning warnings[DAQ_CONFIG_MAX_WARNINGS]; /* print with path:line:col */

    /* [pool] and [acquisition], as every engine of the config gets them:
     * [pool] slots ("auto" = 0), use_pool, policy, wait_timeout_ms,
     * wait_fallback, huge_pages, prefault, mlock, dynamic_allowance,
     * headroom; [acquisition] wait_timeout_ms, watchdog_waits, trace_every.
     * acq.pool's name, slot_bytes and slot_count are the engine's. */
    daq_acq_config acq;

    /* [server] */
    char bind[64];
    uint16_t port, metrics_port;
    uint32_t max_streams_per_client; /* also [limits] streams_per_client */
    bool compression_lz4;

    /* [limits], [security] */
    daq_config_limits limits;
    daq_config_security security;

    /* [recovery] */
    daq_config_recovery recovery;

    /* [rollback] */
    daq_config_rollback rollback;

    /* [log] */
    char log_filter[256]; /* "" = DAQ_LOG or "info" */
    bool log_json;

    /* [storage] */
    daq_config_storage storage;

    /* [tap] */
    daq_config_tap tap;

    /* [[sync_groups]] */
    size_t n_sync_groups;
    daq_config_sync_group sync_groups[DAQ_CONFIG_MAX_SYNC_GROUPS];
} daq_config;

/* The defaults every key has when absent. */
DAQ_API void daq_config_defaults(daq_config *cfg);

/* [limits]' defaults alone (daq_config_defaults uses them). */
DAQ_API void daq_config_limits_init(daq_config_limits *l);

/* [recovery]'s defaults alone (daq_config_defaults uses them). */
DAQ_API void daq_config_recovery_init(daq_config_recovery *r);

/* [rollback]'s defaults alone (daq_config_defaults uses them). */
DAQ_API void daq_config_rollback_init(daq_config_rollback *r);

/* Loads and checks a file.  0, or -1 with one line "FILE:LINE:COL: ..." in
 * err (or "FILE: reason" when it cannot be read). */
DAQ_API int daq_config_load(const char *path, daq_config *cfg, char *err, size_t err_len);

/* The same for text in memory; name is used in messages. */
DAQ_API int daq_config_load_text(const char *text, size_t len, const char *name, daq_config *cfg,
                                 char *err, size_t err_len);

/* The device with this id, borrowed from cfg; NULL if absent. */
DAQ_API const daq_config_device *daq_config_device_find(const daq_config *cfg, const char *id);

/* Writes "FILE:LINE:COL: " for pos into the caller's buf; returns buf. */
DAQ_API char *daq_config_where(const daq_config *cfg, daq_toml_pos pos, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
