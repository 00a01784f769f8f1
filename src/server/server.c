/* server/server.c - the gRPC side in one handle (daq/server.h): the rpc
 * core, rust-daq's API (service.c and the modules it gathers), the
 * StorageService when there is a recorder (storage_service.c, built with
 * DAQ_WITH_STORAGE) and the health service.
 *
 * Order matters at stop: the rpc server first (every call cancelled, every
 * message body released), then the services (they join their threads,
 * whose calls are now closed), then the health service.  64 MiB is
 * rust-daq's HardwareService message cap: a FULL 16-bit 4096 x 4096 frame
 * (32 MiB) fits with room for its head.
 */
#include "daq/server.h"

#include <stdlib.h>
#include <string.h>

#include "server/health.h"
#include "server/rpc.h"
#include "server/rpc_bridge.h"
#include "server/service.h"
#include "server/storage_service.h"
#include "util/clock.h"
#include "util/err.h"

#define MAX_METHODS 48

struct daq_server {
    daq_devices *devices; /* borrowed: GetRingBufferTapInfo's camera */
    daq_health *health;
    daq_service *service;
#ifdef DAQ_WITH_STORAGE
    daq_storage_service *storage; /* NULL without a recorder */
#endif
    daq_rpc_server *rpc;
    daq_rpc_method methods[MAX_METHODS]; /* as registered: the HTTP bridge runs them too */
    size_t n_methods;
};

void daq_server_config_init(daq_server_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->bind = "127.0.0.1";
    cfg->port = 50051;
    cfg->version = "0.0.0";
    cfg->compression_lz4 = true;
    cfg->max_streams_per_client = 3;
    cfg->max_message_bytes = 64u << 20;
    cfg->start_ns = daq_now_ns();
    daq_config_limits_init(&cfg->limits);
}

daq_server *daq_server_start(daq_devices *devices, const daq_server_config *cfg, char *err,
                             size_t err_len)
{
    daq_server *s = calloc(1, sizeof *s);
    if (!s) {
        daq_err(err, err_len, "out of memory");
        return NULL;
    }
    s->devices = devices;
    bool storage_ok = true, serves_storage = false;
#ifdef DAQ_WITH_STORAGE
    if (cfg->storage)
        serves_storage = storage_ok =
            (s->storage = daq_storage_service_create(cfg->storage)) != NULL;
#endif
    daq_service_config sc = {.version = cfg->version,
                             .compression_lz4 = cfg->compression_lz4,
                             .max_streams_per_client = cfg->max_streams_per_client,
                             .start_ns = cfg->start_ns,
                             .storage = serves_storage,
                             .max_message_bytes = cfg->max_message_bytes,
                             .limits = cfg->limits};
    s->service = daq_service_create(devices, &sc);
    s->health = daq_health_create(serves_storage);
    if (s->health)
        daq_health_set_devices(s->health, devices);
    if (s->health && s->service)
        daq_health_set_subscriber_limit(s->health, daq_service_subscriber_limit(s->service));
    if (!s->health || !s->service || !storage_ok) {
        daq_err(err, err_len, "out of memory");
        daq_server_stop(s);
        return NULL;
    }
    daq_rpc_method methods[MAX_METHODS];
    size_t n = daq_service_methods(s->service, methods, MAX_METHODS);
#ifdef DAQ_WITH_STORAGE
    size_t storage_at = n;
    if (s->storage) {
        size_t k = daq_storage_service_methods(s->storage, methods + n, MAX_METHODS - n);
        if (k == 0)
            daq_fatal("server: MAX_METHODS (%d) is too small for the StorageService", MAX_METHODS);
        n += k;
    }
#endif
    size_t h = daq_health_methods(s->health, methods + n, MAX_METHODS - n);
    if (h == 0)
        daq_fatal("server: MAX_METHODS (%d) is too small for the health methods", MAX_METHODS);
    n += h;
    /* The bridge's table: the same, but the StorageService's unary methods
     * as plain unary handlers (over gRPC they are queued for its workers). */
    memcpy(s->methods, methods, n * sizeof *methods);
    s->n_methods = n;
#ifdef DAQ_WITH_STORAGE
    if (s->storage)
        daq_storage_service_bridge_methods(s->storage, s->methods + storage_at,
                                           MAX_METHODS - storage_at);
#endif
    daq_rpc_opts ro;
    daq_rpc_opts_init(&ro);
    ro.bind = cfg->bind;
    ro.port = cfg->port;
    ro.max_message_bytes = cfg->max_message_bytes;
    ro.workers = cfg->limits.workers;
    ro.max_connections = cfg->limits.connections;
    ro.keepalive_ms = cfg->limits.keepalive_ms;
    ro.tls_cert = cfg->security.tls_cert;
    ro.tls_key = cfg->security.tls_key;
    ro.tls_client_ca = cfg->security.tls_client_ca;
    ro.tokens_file = cfg->security.tokens_file;
    s->rpc = daq_rpc_server_start_opts(&ro, methods, n, err, err_len);
    if (!s->rpc) {
        daq_server_stop(s);
        return NULL;
    }
    return s;
}

size_t daq_server_methods(const daq_server *s, daq_rpc_method *out, size_t max)
{
    return daq_rpc_methods_copy(out, max, s->methods, s->n_methods);
}

uint16_t daq_server_port(const daq_server *s)
{
    return daq_rpc_server_port(s->rpc);
}

void daq_server_set_tap(daq_server *s, const char *path)
{
#ifdef DAQ_WITH_STORAGE
    if (s)
        daq_storage_service_set_tap(s->storage, s->devices, path);
#else
    (void)s;
    (void)path; /* no StorageService: GetRingBufferTapInfo is UNIMPLEMENTED */
#endif
}

void daq_server_stop(daq_server *s)
{
    if (!s)
        return;
    daq_rpc_server_stop(s->rpc);
#ifdef DAQ_WITH_STORAGE
    daq_storage_service_destroy(s->storage);
#endif
    daq_service_destroy(s->service);
    daq_health_destroy(s->health);
    free(s);
}
