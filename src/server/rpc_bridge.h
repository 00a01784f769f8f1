/* server/rpc_bridge.h - the unary methods of the gRPC server, callable over
 * HTTP (POST /api/rpc/<package.Service>/<Method>, body: the protobuf
 * request), so the live view's page changes the camera through exactly
 * the handlers, argument checks, token check and audit line a gRPC client
 * goes through (docs/adr/0010-live-view.md).
 *
 * It is a bridge, not a second API: it knows no method by name, only the
 * table the daemon registers with the gRPC server.  Streaming methods are
 * refused (UNIMPLEMENTED: use gRPC).  Handlers run on the HTTP
 * connection's thread; the HTTP server's connection limits bound how many
 * run at once.
 *
 * HTTP mapping: 200 with the reply message (application/x-protobuf) when
 * the status is OK; otherwise the status's HTTP equivalent
 * (INVALID_ARGUMENT 400, UNAUTHENTICATED 401, NOT_FOUND 404,
 * FAILED_PRECONDITION 409, RESOURCE_EXHAUSTED 429, UNIMPLEMENTED 501,
 * UNAVAILABLE 503, DEADLINE_EXCEEDED 504, others 500) with the details as a
 * text body (exactly the details, no newline).  Either way the header
 * Grpc-Status (the number) is set, and Grpc-Message (the details, control
 * characters as spaces, at most 255 bytes) when there are details.  A browser on another site must
 * not drive the camera: the request must be a POST with Content-Type application/x-protobuf (which
 * a cross-site form cannot send without a CORS preflight, and the daemon answers none), and an
 * Origin header, when present, must name the Host the request was sent to (403 otherwise).
 *
 * Ownership: the bridge copies the method table (the ctx pointers inside
 * stay borrowed: the service that owns them must outlive the bridge) and
 * borrows tokens (NULL: none), which must outlive it.
 */
#ifndef DAQ_SERVER_RPC_BRIDGE_H
#define DAQ_SERVER_RPC_BRIDGE_H

#include <stdbool.h>
#include <stddef.h>

#include "daq/http.h"
#include "server/rpc.h"
#include "server/rpc_auth.h"

#define DAQ_RPC_BRIDGE_PREFIX "/api/rpc/"

typedef struct daq_rpc_bridge daq_rpc_bridge;

/* NULL when out of memory. */
daq_rpc_bridge *daq_rpc_bridge_create(const daq_rpc_method *methods, size_t n,
                                      const daq_rpc_tokens *tokens);

/* Runs method path ("/daq.HardwareService/SetExposure") with the request
 * message req[0..len) as a gRPC call would: token check (authorization: the
 * Authorization header or NULL), the handler, the audit line (peer as
 * given).  Fills reply (body malloc'd, the caller frees) and returns
 * reply->status. */
int daq_rpc_bridge_call(daq_rpc_bridge *b, const char *path, const char *authorization,
                        const char *peer, const uint8_t *req, size_t len, daq_rpc_reply *reply);

/* Answers req when its path starts with DAQ_RPC_BRIDGE_PREFIX (true), else
 * returns false touching nothing. */
bool daq_rpc_bridge_http(daq_rpc_bridge *b, const daq_http_request *req, daq_http_response *out);

void daq_rpc_bridge_destroy(daq_rpc_bridge *b); /* NULL ok */

/* The method table a running daq_server registered with its gRPC core
 * (server/server.c), for daq_rpc_bridge_create: copies it into out as
 * daq_rpc_methods_copy does (n, or 0 when it does not fit in max).  The
 * ctx pointers inside belong to the server: the bridge must go before
 * daq_server_stop. */
struct daq_server;
size_t daq_server_methods(const struct daq_server *s, daq_rpc_method *out, size_t max);

#endif
