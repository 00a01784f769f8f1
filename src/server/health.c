/* server/health.c - grpc.health.v1.Health on the rpc core.  See
 * server/health.h.
 *
 * Requests are decoded with the protobuf-c code generated from
 * proto/health.proto; a payload that does not decode is INVALID_ARGUMENT.
 * Responses are two bytes at most, so Watch sends its one message as the
 * copied head of a stream message, from the start handler on the
 * completion-queue thread (the first send of a call never waits).  Its
 * reference on the call is dropped by the close callback, which runs when
 * the client cancels or goes away, or when the server stops.
 */
#include "server/health.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health.pb-c.h"
#include "util/fatal.h"

#define CHECK_PATH "/grpc.health.v1.Health/Check"
#define WATCH_PATH "/grpc.health.v1.Health/Watch"

/* The last entry only with the StorageService. */
static const char *const served[] = {"", "daq.ControlService", "daq.HardwareService",
                                     "daq.StorageService"};

struct daq_health {
    atomic_size_t watchers;
    size_t n_served;
};

daq_health *daq_health_create(bool with_storage)
{
    daq_health *h = calloc(1, sizeof *h);
    if (!h)
        daq_fatal("health: out of memory");
    atomic_init(&h->watchers, 0);
    h->n_served = sizeof served / sizeof served[0] - (with_storage ? 0 : 1);
    return h;
}

void daq_health_destroy(daq_health *h)
{
    free(h);
}

int daq_health_status(const daq_health *h, const char *service)
{
    if (!service)
        service = "";
    for (size_t i = 0; i < h->n_served; i++)
        if (strcmp(service, served[i]) == 0)
            return DAQ_HEALTH_SERVING;
    return DAQ_HEALTH_SERVICE_UNKNOWN;
}

size_t daq_health_watchers(const daq_health *h)
{
    return atomic_load(&((daq_health *)h)->watchers);
}

/* The requested service name, malloc'd; NULL if the request does not decode. */
static char *decode_service(const uint8_t *req, size_t len)
{
    Grpc__Health__V1__HealthCheckRequest *r =
        grpc__health__v1__health_check_request__unpack(NULL, len, req);
    if (!r)
        return NULL;
    char *name = strdup(r->service ? r->service : "");
    grpc__health__v1__health_check_request__free_unpacked(r, NULL);
    if (!name)
        daq_fatal("health: out of memory");
    return name;
}

/* Packs a HealthCheckResponse into buf (at least 8 bytes); returns its length. */
static size_t pack_status(int status, uint8_t *buf)
{
    Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    resp.status = (Grpc__Health__V1__HealthCheckResponse__ServingStatus)status;
    return grpc__health__v1__health_check_response__pack(&resp, buf);
}

static void check(void *ctx, const uint8_t *req, size_t len, daq_rpc_reply *reply)
{
    daq_health *h = ctx;
    char *name = decode_service(req, len);
    if (!name) {
        reply->status = DAQ_RPC_INVALID_ARGUMENT;
        snprintf(reply->details, sizeof reply->details, "cannot decode HealthCheckRequest");
        return;
    }
    int st = daq_health_status(h, name);
    if (st == DAQ_HEALTH_SERVICE_UNKNOWN) {
        reply->status = DAQ_RPC_NOT_FOUND;
        snprintf(reply->details, sizeof reply->details, "Unknown service: %s", name);
        free(name);
        return;
    }
    free(name);
    reply->body = malloc(8);
    if (!reply->body)
        daq_fatal("health: out of memory");
    reply->len = pack_status(st, reply->body);
    reply->status = DAQ_RPC_OK;
}

static void watch_closed(void *ctx, daq_rpc_call *c)
{
    daq_health *h = ctx;
    atomic_fetch_sub(&h->watchers, 1);
    daq_rpc_call_unref(c);
}

static int watch(void *ctx, daq_rpc_call *c, const uint8_t *req, size_t len, char *details,
                 size_t details_len)
{
    daq_health *h = ctx;
    char *name = decode_service(req, len);
    if (!name) {
        snprintf(details, details_len, "cannot decode HealthCheckRequest");
        return DAQ_RPC_INVALID_ARGUMENT;
    }
    int st = daq_health_status(h, name);
    free(name);

    /* The close callback owns our reference from here on. */
    atomic_fetch_add(&h->watchers, 1);
    daq_rpc_stream_on_close(c, watch_closed, h);
    uint8_t buf[8];
    daq_rpc_msg m = {.head = buf, .head_len = pack_status(st, buf)};
    daq_rpc_stream_send(c, &m, 0); /* CLOSED: the close callback follows */
    return DAQ_RPC_OK;
}

size_t daq_health_methods(daq_health *h, daq_rpc_method *out, size_t max)
{
    const daq_rpc_method all[] = {
        {.path = CHECK_PATH, .unary = check, .ctx = h},
        {.path = WATCH_PATH, .stream = watch, .ctx = h},
    };
    return daq_rpc_methods_copy(out, max, all, 2);
}
