/* server/health.h - the standard gRPC health service (grpc.health.v1) for
 * daqd's gRPC server: Check and Watch.
 *
 * "" and the services daqd serves ("daq.ControlService",
 * "daq.HardwareService") are SERVING.  Check of any other name is answered
 * NOT_FOUND "Unknown service: X"; Watch of it sends SERVICE_UNKNOWN (3) and,
 * like Watch of a known name, stays open until the client leaves or the
 * server stops (docs/facts/grpc-camera-api.md §10).  Watch needs no thread: it sends the current
 * status from its start handler and releases its call reference from the
 * call's close callback.
 *
 * Ownership: the caller owns the daq_health; it must outlive the server
 * serving its methods (destroy it after daq_rpc_server_stop).
 */
#ifndef DAQ_SERVER_HEALTH_H
#define DAQ_SERVER_HEALTH_H

#include <stdbool.h>
#include <stddef.h>

#include "server/rpc.h"

/* grpc.health.v1.HealthCheckResponse.ServingStatus */
enum {
    DAQ_HEALTH_UNKNOWN = 0,
    DAQ_HEALTH_SERVING = 1,
    DAQ_HEALTH_NOT_SERVING = 2,
    DAQ_HEALTH_SERVICE_UNKNOWN = 3,
};

typedef struct daq_health daq_health;

/* with_storage: daq.StorageService is served too. */
daq_health *daq_health_create(bool with_storage);
void daq_health_destroy(daq_health *h); /* NULL ok */

/* The status of a service name (NULL = ""): DAQ_HEALTH_SERVICE_UNKNOWN for
 * a name daqd does not serve. */
int daq_health_status(const daq_health *h, const char *service);

/* Fills out[] with the Health methods (Check, Watch) bound to h; returns
 * 2 (0 if max is too small). */
size_t daq_health_methods(daq_health *h, daq_rpc_method *out, size_t max);

/* Watch streams currently open. */
size_t daq_health_watchers(const daq_health *h);

#endif
