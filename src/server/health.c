/* server/health.c - grpc.health.v1.Health on the rpc core.  See
 * server/health.h.
 *
 * Requests are decoded with the protobuf-c code generated from
 * proto/health.proto; a payload that does not decode is INVALID_ARGUMENT.
 * A status is computed, never stored: at most 16 atomic loads
 * (daq_device_healthy per device), so Check on the completion-queue thread
 * costs nothing worth caching and cannot be stale.
 *
 * Watch: the start handler resolves the name once (which device, or all, or
 * a fixed status), sends the current status as the copied head of a stream
 * message (the first send of a call never waits) and links the watcher into
 * h's list.  The one watch thread wakes every DAQ_HEALTH_POLL_MS while the
 * list is not empty, reads the devices without h->mu, then under it sends
 * each watcher whose status changed, without waiting (timeout 0): a client
 * whose previous message is still in flight gets the newer status at a
 * later tick.  The close callback (server thread) unlinks the watcher under
 * h->mu and drops its call reference, so the thread never touches a call
 * after it is over.  Lock order: h->mu, then the call's own lock (inside
 * daq_rpc_stream_send); the close callback runs without the call's lock.
 * Watchers count against [limits] subscribers together with the parameter
 * change subscribers (the limit is the service's, set by the server).
 */
#include "server/health.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health.pb-c.h"
#include "server/stream_set.h"
#include "util/clock.h"
#include "util/fatal.h"

#define CHECK_PATH "/grpc.health.v1.Health/Check"
#define WATCH_PATH "/grpc.health.v1.Health/Watch"
#define HARDWARE   "daq.HardwareService"

/* What a service name stands for. */
enum { WHAT_UNKNOWN, WHAT_FIXED_SERVING, WHAT_ALL_DEVICES, WHAT_DEVICE };

typedef struct watcher {
    struct watcher *next, **pprev;
    daq_health *h;
    daq_rpc_call *call; /* one reference, dropped by the close callback */
    char host[64];      /* admitted under h->limit for this client host */
    int what;
    size_t device; /* WHAT_DEVICE: index in the table */
    int sent;      /* the last status handed to gRPC */
} watcher;

struct daq_health {
    atomic_size_t watchers;
    bool with_storage;
    daq_devices *devices;           /* borrowed; NULL: no device table */
    struct daq_stream_limit *limit; /* borrowed; NULL: Watch is not limited */

    pthread_mutex_t mu; /* the list, stop, started */
    pthread_cond_t cv;
    watcher *head;
    bool stop, started;
    pthread_t thread;
};

daq_health *daq_health_create(bool with_storage)
{
    daq_health *h = calloc(1, sizeof *h);
    if (!h)
        daq_fatal("health: out of memory");
    atomic_init(&h->watchers, 0);
    h->with_storage = with_storage;
    pthread_mutex_init(&h->mu, NULL);
    daq_cond_init_monotonic(&h->cv);
    return h;
}

void daq_health_destroy(daq_health *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    h->stop = true;
    pthread_cond_broadcast(&h->cv);
    bool started = h->started;
    pthread_mutex_unlock(&h->mu);
    if (started)
        pthread_join(h->thread, NULL);
    /* The server has stopped: every close callback has run, the list is empty. */
    if (h->head)
        daq_fatal("health: destroyed with %zu Watch streams open", daq_health_watchers(h));
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

void daq_health_set_devices(daq_health *h, daq_devices *ds)
{
    h->devices = ds;
}

void daq_health_set_subscriber_limit(daq_health *h, struct daq_stream_limit *limit)
{
    h->limit = limit;
}

size_t daq_health_watchers(const daq_health *h)
{
    return atomic_load(&((daq_health *)h)->watchers);
}

/* ---- statuses ------------------------------------------------------------------ */

/* Resolves a service name; *device is set for WHAT_DEVICE. */
static int resolve(const daq_health *h, const char *service, size_t *device)
{
    if (!service || !*service || strcmp(service, HARDWARE) == 0)
        return WHAT_ALL_DEVICES;
    if (strcmp(service, "daq.ControlService") == 0)
        return WHAT_FIXED_SERVING;
    if (h->with_storage && strcmp(service, "daq.StorageService") == 0)
        return WHAT_FIXED_SERVING;
    size_t hl = sizeof HARDWARE - 1;
    if (h->devices && strncmp(service, HARDWARE, hl) == 0 && service[hl] == '/') {
        for (size_t i = 0; i < daq_devices_count(h->devices); i++)
            if (strcmp(service + hl + 1, daq_device_id(daq_devices_at(h->devices, i))) == 0) {
                *device = i;
                return WHAT_DEVICE;
            }
    }
    return WHAT_UNKNOWN;
}

static int serving(bool ok)
{
    return ok ? DAQ_HEALTH_SERVING : DAQ_HEALTH_NOT_SERVING;
}

static bool device_ok(const daq_health *h, size_t i)
{
    return daq_device_healthy(daq_devices_at(h->devices, i));
}

static bool all_ok(const daq_health *h)
{
    if (!h->devices)
        return true;
    for (size_t i = 0; i < daq_devices_count(h->devices); i++)
        if (!device_ok(h, i))
            return false;
    return true;
}

static int status_of(const daq_health *h, int what, size_t device)
{
    switch (what) {
    case WHAT_FIXED_SERVING: return DAQ_HEALTH_SERVING;
    case WHAT_ALL_DEVICES: return serving(all_ok(h));
    case WHAT_DEVICE: return serving(device_ok(h, device));
    }
    return DAQ_HEALTH_SERVICE_UNKNOWN;
}

int daq_health_status(const daq_health *h, const char *service)
{
    size_t device = 0;
    int what = resolve(h, service, &device); /* before device is read */
    return status_of(h, what, device);
}

/* ---- messages ------------------------------------------------------------------ */

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

static int send_status(daq_rpc_call *c, int status)
{
    uint8_t buf[8];
    daq_rpc_msg m = {.head = buf, .head_len = pack_status(status, buf)};
    return daq_rpc_stream_send(c, &m, 0);
}

/* ---- Check ------------------------------------------------------------------------ */

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

/* ---- Watch ---------------------------------------------------------------------- */

static void *watch_thread(void *arg)
{
    daq_health *h = arg;
    size_t n = h->devices ? daq_devices_count(h->devices) : 0;
    bool ok[DAQ_CONFIG_MAX_DEVICES] = {false};
    pthread_mutex_lock(&h->mu);
    while (!h->stop) {
        if (!h->head) {
            pthread_cond_wait(&h->cv, &h->mu);
            continue;
        }
        uint64_t deadline = daq_now_ns() + (uint64_t)DAQ_HEALTH_POLL_MS * 1000000u;
        while (!h->stop && daq_cond_wait_until(&h->cv, &h->mu, deadline) != ETIMEDOUT)
            ;
        if (h->stop)
            break;
        /* Device states without h->mu: the close callbacks never wait on them. */
        pthread_mutex_unlock(&h->mu);
        bool all = true;
        for (size_t i = 0; i < n && i < DAQ_CONFIG_MAX_DEVICES; i++)
            all &= ok[i] = device_ok(h, i);
        pthread_mutex_lock(&h->mu);
        for (watcher *w = h->head; w; w = w->next) {
            int st = w->what == WHAT_ALL_DEVICES ? serving(all)
                     : w->what == WHAT_DEVICE    ? serving(ok[w->device])
                                                 : w->sent;
            if (st != w->sent && send_status(w->call, st) == DAQ_RPC_SENT)
                w->sent = st; /* BUSY: next tick; CLOSED: the close callback follows */
        }
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

static void watch_closed(void *ctx, daq_rpc_call *c)
{
    watcher *w = ctx;
    daq_health *h = w->h;
    pthread_mutex_lock(&h->mu);
    *w->pprev = w->next;
    if (w->next)
        w->next->pprev = w->pprev;
    pthread_mutex_unlock(&h->mu);
    if (h->limit)
        daq_stream_limit_leave(h->limit, w->host);
    free(w);
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
    if (h->limit &&
        daq_stream_limit_enter(h->limit, daq_rpc_call_peer_host(c), details, details_len) != 0) {
        free(name);
        return DAQ_RPC_RESOURCE_EXHAUSTED;
    }
    watcher *w = calloc(1, sizeof *w);
    if (!w)
        daq_fatal("health: out of memory");
    snprintf(w->host, sizeof w->host, "%s", daq_rpc_call_peer_host(c));
    w->h = h;
    w->call = c;
    w->what = resolve(h, name, &w->device);
    free(name);

    pthread_mutex_lock(&h->mu);
    if (!h->started) {
        if (pthread_create(&h->thread, NULL, watch_thread, h) != 0)
            daq_fatal("health: cannot start the Watch thread");
        h->started = true;
    }
    /* First message and link under h->mu: the thread sends only after it. */
    w->sent = status_of(h, w->what, w->device);
    send_status(c, w->sent); /* CLOSED: the close callback follows */
    w->next = h->head;
    w->pprev = &h->head;
    if (h->head)
        h->head->pprev = &w->next;
    h->head = w;
    atomic_fetch_add(&h->watchers, 1);
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    /* Not under h->mu: on a call already over it runs at once, here. */
    daq_rpc_stream_on_close(c, watch_closed, w);
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
