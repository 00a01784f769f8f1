/* server/health.h - the standard gRPC health service (grpc.health.v1) for
 * daqd's gRPC server: Check and Watch, reflecting the devices.
 *
 * Services and their status:
 *   "daq.HardwareService/ID"  one per configured camera device: SERVING
 *                             while the device is healthy (up, last stream
 *                             not ended in error: daq_device_healthy),
 *                             else NOT_SERVING;
 *   "daq.HardwareService"     NOT_SERVING while any configured device is
 *                             not healthy -- the cameras are the service;
 *   ""                        (the server as a whole) follows it;
 *   "daq.ControlService", "daq.StorageService"  always SERVING: they work
 *                             whatever a camera does.
 * Without a device table (daq_health_set_devices not called) everything
 * daqd serves is SERVING.  Check of any other name is answered NOT_FOUND
 * "Unknown service: X"; Watch of it sends SERVICE_UNKNOWN (3).
 *
 * Watch sends the current status from its start handler and then every
 * change, until the client leaves or the server stops
 * (docs/facts/grpc-camera-api.md §10).  The changes come from one thread
 * for all watchers, started with the first Watch, which looks at the
 * devices every DAQ_HEALTH_POLL_MS while anyone watches and sleeps
 * otherwise; so a change shows within that time and a thousand watchers
 * cost one thread.
 *
 * Ownership: the caller owns the daq_health; it must outlive the server
 * serving its methods (destroy it after daq_rpc_server_stop).
 */
#ifndef DAQ_SERVER_HEALTH_H
#define DAQ_SERVER_HEALTH_H

#include <stdbool.h>
#include <stddef.h>

#include "daq/devices.h"
#include "server/rpc.h"

/* grpc.health.v1.HealthCheckResponse.ServingStatus */
enum {
    DAQ_HEALTH_UNKNOWN = 0,
    DAQ_HEALTH_SERVING = 1,
    DAQ_HEALTH_NOT_SERVING = 2,
    DAQ_HEALTH_SERVICE_UNKNOWN = 3,
};

#define DAQ_HEALTH_POLL_MS 250 /* how often Watch looks for a change: a scrape-like cost */

typedef struct daq_health daq_health;

/* with_storage: daq.StorageService is served too. */
daq_health *daq_health_create(bool with_storage);
void daq_health_destroy(daq_health *h); /* NULL ok; joins the Watch thread */

/* The devices whose state the status reflects (borrowed: they must outlive
 * h).  Before the server serves h's methods. */
void daq_health_set_devices(daq_health *h, daq_devices *ds);

/* Watch streams count against limit (borrowed: it outlives every Watch;
 * NULL: no limit), shared with StreamParameterChanges ([limits]
 * subscribers); the one past it is refused RESOURCE_EXHAUSTED.  Before
 * the server serves h's methods. */
struct daq_stream_limit;
void daq_health_set_subscriber_limit(daq_health *h, struct daq_stream_limit *limit);

/* The status of a service name (NULL = ""): DAQ_HEALTH_SERVICE_UNKNOWN for
 * a name daqd does not serve.  Lock-free; any thread. */
int daq_health_status(const daq_health *h, const char *service);

/* Fills out[] with the Health methods (Check, Watch) bound to h; returns
 * 2 (0 if max is too small). */
size_t daq_health_methods(daq_health *h, daq_rpc_method *out, size_t max);

/* Watch streams currently open. */
size_t daq_health_watchers(const daq_health *h);

#endif
