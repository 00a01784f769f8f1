/* server/params_service.h - rust-daq's parameter API over the device table
 * (ListParameters, GetParameter, SetParameter, StreamParameterChanges) and
 * the hub that tells StreamParameterChanges subscribers about changes.
 *
 * Ownership: the hub borrows the device table, the stream scheduler and
 * the subscriber limit (all outlive it); destroy requires the gRPC server
 * to have been stopped first (every subscriber is then gone).  Strings
 * passed to publish are copied.
 */
#ifndef DAQ_SERVER_PARAMS_SERVICE_H
#define DAQ_SERVER_PARAMS_SERVICE_H

#include <stddef.h>

#include "daq/devices.h"
#include "server/rpc.h"
#include "server/stream_sched.h"
#include "server/stream_set.h"

typedef struct daq_param_hub daq_param_hub;

/* NULL when out of memory.  Subscribers run on sched and count against
 * subscribers (both borrowed: they outlive the hub). */
daq_param_hub *daq_param_hub_create(daq_devices *devices, daq_stream_sched *sched,
                                    daq_stream_limit *subscribers);
void daq_param_hub_destroy(daq_param_hub *h); /* NULL ok */

/* The four parameter methods bound to h into out; returns 4
 * (0 if max is too small). */
size_t daq_param_hub_methods(daq_param_hub *h, daq_rpc_method *out, size_t max);

/* Tells every StreamParameterChanges subscriber that wants it about a
 * change (values as JSON text; source "user" or "hardware"). */
void daq_param_hub_publish(daq_param_hub *h, const char *device_id, const char *name,
                           const char *old_json, const char *new_json, const char *units,
                           const char *source);

#endif
