/* server/params_service.c - ListParameters, GetParameter, SetParameter and
 * StreamParameterChanges over the drivers' parameter tables, plus the
 * daemon's own per-device parameters under "acquisition.":
 *
 *   acquisition.use_pool           rw  the live rollback toggle
 *   acquisition.exhaustion_policy  rw  heap | drop | wait
 *   acquisition.streaming, pool_slots, pool_in_use, pool_hit_rate,
 *   pool_misses, heap_fallbacks, frames_delivered, frames_lost   read-only
 *   rollback.symptoms, rollback.auto_rollbacks   read-only (daq/watch.h)
 *
 * Values travel as JSON text, as in rust-daq: a SetParameter value is
 * parsed as JSON and, failing that, taken as a string.  Every successful
 * set is published to the StreamParameterChanges subscribers (source
 * "user"), and so is an automatic rollback's use_pool flip (source
 * "rollback", from the watch thread through daq_devices_set_rollback_hook).
 * A subscriber has no thread: the changer's thread puts the change in its
 * bounded queue (64; the oldest is dropped, and counted, if
 * the subscriber stops reading) and wakes its task on the stream scheduler
 * (stream_sched.h), whose step sends the head of the queue without waiting;
 * the call's ready hook (a write done, the call closed) wakes it again.  So
 * a slow subscriber never blocks a SetParameter, and 3,000 idle ones cost
 * no thread and no CPU.  Subscribers count against [limits] subscribers,
 * shared with health Watch (RESOURCE_EXHAUSTED with the numbers).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/params_service.h"

#include "daq/watch.h"
#include "daq_c.pb-c.h"
#include "server/calls.h"
#include "server/stream_sched.h"
#include "server/stream_set.h"
#include "util/clock.h"
#include "util/err.h"

typedef struct subscriber subscriber;

struct daq_param_hub {
    daq_devices *devices;    /* borrowed */
    daq_stream_sched *sched; /* borrowed */
    daq_stream_limit *limit; /* borrowed: [limits] subscribers */
    pthread_mutex_t mu;
    subscriber *subs; /* under mu */
};

/* ---- the daemon's parameters -------------------------------------------------------- */

static const daq_param_desc daemon_params[] = {
    {"acquisition.use_pool",
     "frames go to the pre-allocated pool (false: every frame on the heap; the rollback lever)", "",
     DAQ_PARAM_BOOL, DAQ_PARAM_WRITABLE | DAQ_PARAM_LIVE, 0, 0, NULL},
    {"acquisition.exhaustion_policy", "what a frame gets when no pool slot is free", "",
     DAQ_PARAM_ENUM, DAQ_PARAM_WRITABLE | DAQ_PARAM_LIVE, 0, 0, daq_pool_policy_names},
    {"acquisition.streaming", "acquisition is running", "", DAQ_PARAM_BOOL, 0, 0, 0, NULL},
    {"acquisition.pool_slots", "slots in the frame pool", "", DAQ_PARAM_INT, 0, 0, 0, NULL},
    {"acquisition.pool_in_use", "pool slots held by consumers now", "", DAQ_PARAM_INT, 0, 0, 0,
     NULL},
    {"acquisition.pool_hit_rate", "hits / (hits + misses + disabled) this stream", "",
     DAQ_PARAM_FLOAT, 0, 0, 0, NULL},
    {"acquisition.pool_misses", "frames that found no free slot this stream", "", DAQ_PARAM_INT, 0,
     0, 0, NULL},
    {"acquisition.heap_fallbacks", "frames that went to the heap this stream", "", DAQ_PARAM_INT, 0,
     0, 0, NULL},
    {"acquisition.frames_delivered", "frames published this stream", "", DAQ_PARAM_INT, 0, 0, 0,
     NULL},
    {"acquisition.frames_lost", "frames missing from the hardware numbering this stream", "",
     DAQ_PARAM_INT, 0, 0, 0, NULL},
    {"rollback.symptoms", "active rollback symptoms, comma-separated (\"\" when none)", "",
     DAQ_PARAM_STRING, 0, 0, 0, NULL},
    {"rollback.auto_rollbacks", "automatic use_pool flips by the symptom watch ([rollback] auto)",
     "", DAQ_PARAM_INT, 0, 0, 0, NULL},
};
#define N_DAEMON (sizeof daemon_params / sizeof daemon_params[0])

/* The symptom watch's parameters (daq/watch.h); -1: not one of them. */
static int rollback_get(daq_device *d, const char *name, daq_param_value *v)
{
    if (strcmp(name, "rollback.auto_rollbacks") == 0) {
        daq_device_rollback rb;
        daq_device_rollback_snapshot(d, &rb);
        *v = daq_param_int((int64_t)rb.auto_rollbacks);
        return 0;
    }
    if (strcmp(name, "rollback.symptoms") != 0)
        return -1;
    daq_symptom_state sym[DAQ_SYMPTOM_COUNT];
    daq_device_symptoms(d, sym);
    char list[DAQ_PARAM_STR_MAX] = "";
    for (int k = 0; k < DAQ_SYMPTOM_COUNT; k++)
        if (sym[k].active) {
            size_t n = strlen(list);
            snprintf(list + n, sizeof list - n, "%s%s", n ? "," : "", daq_symptom_names[k]);
        }
    *v = daq_param_string(list);
    return 0;
}

static int daemon_get(daq_device *d, daq_acq *a, const char *name, daq_param_value *v)
{
    if (strncmp(name, "rollback.", 9) == 0)
        return rollback_get(d, name, v);
    daq_acq_stats s;
    daq_acq_stats_snapshot(a, &s);
    if (strcmp(name, "acquisition.use_pool") == 0)
        *v = daq_param_bool(daq_acq_use_pool(a));
    else if (strcmp(name, "acquisition.exhaustion_policy") == 0) {
        *v = daq_param_string(daq_pool_policy_name(daq_acq_policy(a)));
        v->type = DAQ_PARAM_ENUM;
    } else if (strcmp(name, "acquisition.streaming") == 0)
        *v = daq_param_bool(s.state == DAQ_ACQ_STREAMING);
    else if (strcmp(name, "acquisition.pool_slots") == 0)
        *v = daq_param_int(s.pool_slots);
    else if (strcmp(name, "acquisition.pool_in_use") == 0)
        *v = daq_param_int(s.pool.in_use);
    else if (strcmp(name, "acquisition.pool_hit_rate") == 0)
        *v = daq_param_float(s.pool.hit_rate);
    else if (strcmp(name, "acquisition.pool_misses") == 0)
        *v = daq_param_int((int64_t)s.pool.misses);
    else if (strcmp(name, "acquisition.heap_fallbacks") == 0)
        *v = daq_param_int((int64_t)s.heap_fallbacks);
    else if (strcmp(name, "acquisition.frames_delivered") == 0)
        *v = daq_param_int((int64_t)s.delivered);
    else if (strcmp(name, "acquisition.frames_lost") == 0)
        *v = daq_param_int((int64_t)s.lost);
    else
        return -1;
    return 0;
}

/* v is coerced to the descriptor already. */
static int daemon_set(daq_acq *a, const char *name, const daq_param_value *v, char *err,
                      size_t err_len)
{
    if (strcmp(name, "acquisition.use_pool") == 0) {
        /* A -DDAQ_FRAME_POOL=OFF build has no pool to turn on: refused, not ignored. */
        if (daq_acq_set_use_pool(a, v->b) != 0)
            return daq_err(err, err_len, "%s: %s", name, DAQ_ACQ_POOL_OFF_BUILD);
        return 0;
    }
    daq_pool_policy p;
    daq_pool_config d; /* a wait policy set here waits and falls back as by default */
    daq_pool_config_init(&d);
    if (daq_pool_policy_parse(v->s, &p) != 0 ||
        daq_acq_set_policy(a, p, d.wait_timeout_ms, d.wait_fallback) != 0)
        return daq_err(err, err_len, "%s: cannot set \"%s\"", name, v->s);
    return 0;
}

/* ---- one lookup for both kinds ---------------------------------------------------------- */

typedef struct target {
    daq_device *dev;
    daq_camera *cam;
    daq_acq *acq;
    daq_param_desc desc; /* a copy: a camera's table may be refined by open */
    bool daemon;
} target;

/* Finds device and parameter: DAQ_RPC_OK, or the status to answer with its
 * message in r. */
static int find_param(daq_param_hub *h, const char *dev_id, const char *name, target *t,
                      daq_rpc_reply *r)
{
    memset(t, 0, sizeof *t);
    if (!(t->dev = daq_call_find(r, h->devices, dev_id, DAQ_NEED_PARAMS)))
        return r->status;
    t->cam = daq_device_camera(t->dev);
    t->acq = daq_device_acq(t->dev);
    const daq_param_desc *d = t->acq ? daq_param_find(daemon_params, N_DAEMON, name) : NULL;
    if (d) {
        t->desc = *d;
        t->daemon = true;
    } else if (!t->cam || daq_camera_get_param_desc(t->cam, name, &t->desc, NULL, 0) != 0) {
        return daq_call_fail(r, DAQ_RPC_NOT_FOUND, "Device '%s' does not support parameter '%s'",
                             dev_id, name);
    }
    return DAQ_RPC_OK;
}

static int get_value(target *t, daq_param_value *v, char *err, size_t err_len)
{
    if (t->daemon)
        return daemon_get(t->dev, t->acq, t->desc.name, v);
    return daq_camera_get_param(t->cam, t->desc.name, v, err, err_len);
}

/* ---- the unary methods ---------------------------------------------------------------------- */

static const char *dtype(daq_param_type t)
{
    switch (t) {
    case DAQ_PARAM_BOOL: return "bool";
    case DAQ_PARAM_INT: return "int";
    case DAQ_PARAM_FLOAT: return "float";
    case DAQ_PARAM_STRING:
    case DAQ_PARAM_ENUM: break;
    }
    return "string"; /* enums are strings with enum_values, as rust-daq declares them */
}

static void describe(Daq__ParameterDescriptor *p, const char *dev, const daq_param_desc *d,
                     char **enums, size_t max_enums)
{
    daq__parameter_descriptor__init(p);
    p->device_id = (char *)dev;
    p->name = (char *)d->name;
    p->description = (char *)(d->description ? d->description : "");
    p->dtype = (char *)dtype(d->type);
    p->units = (char *)(d->units ? d->units : "");
    p->readable = 1;
    p->writable = (d->flags & DAQ_PARAM_WRITABLE) != 0;
    if (d->flags & DAQ_PARAM_HAS_RANGE) {
        p->_min_value_case = DAQ__PARAMETER_DESCRIPTOR___MIN_VALUE_MIN_VALUE;
        p->min_value = d->min;
        p->_max_value_case = DAQ__PARAMETER_DESCRIPTOR___MAX_VALUE_MAX_VALUE;
        p->max_value = d->max;
    }
    size_t n = 0;
    for (const char *const *e = d->enum_values; e && *e && n < max_enums; e++)
        enums[n++] = (char *)*e;
    p->n_enum_values = n;
    p->enum_values = enums;
}

static void params_list(void *ctx, const uint8_t *req, size_t len, daq_rpc_reply *r)
{
    daq_param_hub *h = ctx;
    DAQ_CALL_DECODE(Daq__ListParametersRequest, daq__list_parameters_request, in, req, len, r);
    daq_device *d = daq_call_find(r, h->devices, in->device_id, DAQ_NEED_PARAMS);
    if (!d) {
        daq__list_parameters_request__free_unpacked(in, NULL);
        return;
    }
    daq_param_desc table[DAQ_CAMERA_MAX_PARAMS];
    size_t n = daq_device_camera(d)
                   ? daq_camera_params_snapshot(daq_device_camera(d), table, DAQ_CAMERA_MAX_PARAMS)
                   : 0;
    size_t nd = daq_device_acq(d) ? N_DAEMON : 0, total = n + nd;
    Daq__ParameterDescriptor *p = calloc(total + 1, sizeof *p);
    Daq__ParameterDescriptor **pp = calloc(total + 1, sizeof *pp);
    char **enums = calloc((total + 1) * 16, sizeof *enums);
    if (!p || !pp || !enums) {
        daq_call_fail(r, DAQ_RPC_INTERNAL, "out of memory");
    } else {
        for (size_t i = 0; i < total; i++) {
            describe(&p[i], in->device_id, i < n ? &table[i] : &daemon_params[i - n],
                     enums + i * 16, 16);
            pp[i] = &p[i];
        }
        Daq__ListParametersResponse out = DAQ__LIST_PARAMETERS_RESPONSE__INIT;
        out.n_parameters = total;
        out.parameters = pp;
        daq_call_reply(r, &out.base);
    }
    free(p);
    free(pp);
    free(enums);
    daq__list_parameters_request__free_unpacked(in, NULL);
}

static void params_get(void *ctx, const uint8_t *req, size_t len, daq_rpc_reply *r)
{
    daq_param_hub *h = ctx;
    DAQ_CALL_DECODE(Daq__GetParameterRequest, daq__get_parameter_request, in, req, len, r);
    target t;
    daq_param_value v;
    char err[256], json[2 * DAQ_PARAM_STR_MAX];
    if (find_param(h, in->device_id, in->parameter_name, &t, r) == DAQ_RPC_OK) {
        if (get_value(&t, &v, err, sizeof err) != 0) {
            daq_call_fail(r, DAQ_RPC_INTERNAL, "%s", err);
        } else {
            Daq__ParameterValue out = DAQ__PARAMETER_VALUE__INIT;
            out.device_id = in->device_id;
            out.name = in->parameter_name;
            out.value = daq_param_format_json(&v, json, sizeof json);
            out.units = (char *)(t.desc.units ? t.desc.units : "");
            out.timestamp_ns = daq_real_now_ns();
            daq_call_reply(r, &out.base);
        }
    }
    daq__get_parameter_request__free_unpacked(in, NULL);
}

/* Sets t's parameter from JSON text through the one validation path: the
 * camera's for its own parameters, daq_param_validate for the daemon's. */
static int set_value(target *t, const char *text, char *err, size_t err_len)
{
    if (!t->daemon)
        return daq_camera_set_param_text(t->cam, t->desc.name, text, err, err_len);
    daq_param_value v;
    if (daq_param_validate(&t->desc, false, NULL, text, &v, err, err_len) != 0)
        return -1;
    return daemon_set(t->acq, t->desc.name, &v, err, err_len);
}

static void params_set(void *ctx, const uint8_t *req, size_t len, daq_rpc_reply *r)
{
    daq_param_hub *h = ctx;
    DAQ_CALL_DECODE(Daq__SetParameterRequest, daq__set_parameter_request, in, req, len, r);
    target t;
    daq_param_value old, v;
    char err[256], before[2 * DAQ_PARAM_STR_MAX], after[2 * DAQ_PARAM_STR_MAX];
    if (find_param(h, in->device_id, in->parameter_name, &t, r) == DAQ_RPC_OK) {
        bool had = get_value(&t, &old, err, sizeof err) == 0;
        if (set_value(&t, in->value, err, sizeof err) != 0) {
            daq_call_fail(r, daq_call_refusal_status(err), "%s", err);
        } else {
            Daq__SetParameterResponse out = DAQ__SET_PARAMETER_RESPONSE__INIT;
            out.success = 1;
            if (get_value(&t, &v, err, sizeof err) == 0)
                out.actual_value = daq_param_format_json(&v, after, sizeof after);
            daq_call_reply(r, &out.base);
            daq_param_hub_publish(h, in->device_id, t.desc.name,
                                  had ? daq_param_format_json(&old, before, sizeof before) : "",
                                  out.actual_value, t.desc.units ? t.desc.units : "", "user");
        }
    }
    daq__set_parameter_request__free_unpacked(in, NULL);
}

/* ---- the change hub and its streams ------------------------------------------------------- */

#define CHANGE_QUEUE 64
#define MAX_NAMES    16

typedef struct change {
    char device_id[64], name[96], old_value[256], new_value[256], units[32], source[16];
    uint64_t timestamp_ns;
} change;

struct subscriber {
    daq_sched_task task;
    struct subscriber *next; /* in the hub, under hub->mu */
    atomic_bool armed;       /* set up: publish and the ready hook may wake it */
    pthread_mutex_t mu;
    change q[CHANGE_QUEUE];
    unsigned head, len; /* under mu */
    uint64_t first;     /* under mu: the number of q[head] among all changes queued */
    uint64_t dropped;   /* changes this subscriber never got */
    char device_id[64];
    bool any_device;
    size_t n_names;
    char names[MAX_NAMES][96];
    char host[64];
    daq_rpc_call *call;
    daq_param_hub *hub;
};

/* The symptom watch turned a camera's pool off ([rollback] auto): told
 * like a SetParameter, source "rollback". */
static void auto_rollback_published(void *ctx, daq_device *d)
{
    daq_param_hub_publish(ctx, daq_device_id(d), "acquisition.use_pool", "true", "false", "",
                          "rollback");
}

daq_param_hub *daq_param_hub_create(daq_devices *devices, daq_stream_sched *sched,
                                    daq_stream_limit *subscribers)
{
    daq_param_hub *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->devices = devices;
    h->sched = sched;
    h->limit = subscribers;
    pthread_mutex_init(&h->mu, NULL);
    if (devices)
        daq_devices_set_rollback_hook(devices, auto_rollback_published, h);
    return h;
}

void daq_param_hub_destroy(daq_param_hub *h)
{
    if (!h)
        return;
    if (h->devices) /* waits for a call in progress */
        daq_devices_set_rollback_hook(h->devices, NULL, NULL);
    pthread_mutex_destroy(&h->mu); /* every subscriber unlinked itself as its call ended */
    free(h);
}

static bool wants(const subscriber *s, const char *dev, const char *name)
{
    if (!s->any_device && strcmp(s->device_id, dev) != 0)
        return false;
    if (s->n_names == 0)
        return true;
    for (size_t i = 0; i < s->n_names; i++)
        if (strcmp(s->names[i], name) == 0)
            return true;
    return false;
}

void daq_param_hub_publish(daq_param_hub *h, const char *device_id, const char *name,
                           const char *old_json, const char *new_json, const char *units,
                           const char *source)
{
    change c;
    memset(&c, 0, sizeof c);
    snprintf(c.device_id, sizeof c.device_id, "%s", device_id);
    snprintf(c.name, sizeof c.name, "%s", name);
    snprintf(c.old_value, sizeof c.old_value, "%s", old_json ? old_json : "");
    snprintf(c.new_value, sizeof c.new_value, "%s", new_json ? new_json : "");
    snprintf(c.units, sizeof c.units, "%s", units ? units : "");
    snprintf(c.source, sizeof c.source, "%s", source);
    c.timestamp_ns = daq_real_now_ns();
    pthread_mutex_lock(&h->mu);
    for (subscriber *s = h->subs; s; s = s->next) {
        if (!wants(s, device_id, name))
            continue;
        pthread_mutex_lock(&s->mu);
        if (s->len == CHANGE_QUEUE) { /* a subscriber that stopped reading */
            s->head = (s->head + 1) % CHANGE_QUEUE;
            s->len--;
            s->first++;
            s->dropped++;
        }
        s->q[(s->head + s->len++) % CHANGE_QUEUE] = c;
        pthread_mutex_unlock(&s->mu);
        if (atomic_load_explicit(&s->armed, memory_order_acquire))
            daq_stream_sched_wake(h->sched, &s->task);
    }
    pthread_mutex_unlock(&h->mu);
}

/* Sends c without waiting: DAQ_RPC_SENT, BUSY or CLOSED. */
static int send_change(subscriber *s, const change *c)
{
    Daq__ParameterChange m = DAQ__PARAMETER_CHANGE__INIT;
    m.device_id = (char *)c->device_id;
    m.name = (char *)c->name;
    m.old_value = (char *)c->old_value;
    m.new_value = (char *)c->new_value;
    m.units = (char *)c->units;
    m.timestamp_ns = c->timestamp_ns;
    m.source = (char *)c->source;
    uint8_t buf[1024];
    size_t n = daq__parameter_change__pack(&m, buf);
    daq_rpc_msg msg = {.head = buf, .head_len = n};
    return daq_rpc_stream_send(s->call, &msg, 0);
}

/* The subscriber's step (stream_sched.h): sends the oldest queued change
 * if the call can take it; the ready hook brings the step back when the
 * write is done.  The head is popped after the send only if publish did
 * not drop it meanwhile. */
static bool change_step(void *arg)
{
    subscriber *s = arg;
    if (daq_rpc_stream_closed(s->call)) {
        daq_rpc_stream_finish(s->call, DAQ_RPC_OK, NULL); /* the server stopping: OK */
        return false;
    }
    change c;
    pthread_mutex_lock(&s->mu);
    bool have = s->len > 0;
    uint64_t which = s->first;
    if (have)
        c = s->q[s->head];
    pthread_mutex_unlock(&s->mu);
    if (!have)
        return true;
    int rc = send_change(s, &c);
    if (rc == DAQ_RPC_CLOSED) {
        daq_rpc_stream_finish(s->call, DAQ_RPC_OK, NULL);
        return false;
    }
    if (rc == DAQ_RPC_SENT) {
        pthread_mutex_lock(&s->mu);
        if (s->len > 0 && s->first == which) {
            s->head = (s->head + 1) % CHANGE_QUEUE;
            s->len--;
            s->first++;
        }
        pthread_mutex_unlock(&s->mu);
    }
    return true;
}

static void change_wake(void *arg)
{
    subscriber *s = arg;
    if (atomic_load_explicit(&s->armed, memory_order_acquire))
        daq_stream_sched_wake(s->hub->sched, &s->task);
}

static void unlink_sub(daq_param_hub *h, subscriber *s)
{
    pthread_mutex_lock(&h->mu);
    for (subscriber **p = &h->subs; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            break;
        }
    pthread_mutex_unlock(&h->mu);
}

static void sub_free(subscriber *s)
{
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* The scheduler is done with s: no hook may wake it any more, then free. */
static void change_done(void *arg)
{
    subscriber *s = arg;
    daq_param_hub *h = s->hub;
    daq_rpc_stream_on_ready(s->call, NULL, NULL);
    unlink_sub(h, s); /* after this no publisher can reach s */
    daq_stream_limit_leave(h->limit, s->host);
    daq_rpc_call_unref(s->call);
    sub_free(s);
}

/* StreamParameterChanges' request decoded and checked (names: calls.h;
 * device; count of names): DAQ_RPC_OK with *in
 * (the caller frees it), or the status to answer (details filled). */
static int change_request(daq_param_hub *h, const uint8_t *req, size_t len,
                          Daq__StreamParameterChangesRequest **in, char *details,
                          size_t details_len)
{
    *in = daq__stream_parameter_changes_request__unpack(NULL, len, req);
    if (!*in) {
        snprintf(details, details_len, "malformed StreamParameterChangesRequest message");
        return DAQ_RPC_INVALID_ARGUMENT;
    }
    int rc = daq_call_check_request(&(*in)->base, req, len, details, details_len);
    daq_device *d;
    if (rc == DAQ_RPC_OK &&
        (*in)->_device_id_case == DAQ__STREAM_PARAMETER_CHANGES_REQUEST___DEVICE_ID_DEVICE_ID)
        rc = daq_call_device(h->devices, (*in)->device_id, DAQ_NEED_PARAMS, &d, details,
                             details_len);
    if (rc == DAQ_RPC_OK && (*in)->n_parameter_names > MAX_NAMES) {
        snprintf(details, details_len, "at most %d parameter names", MAX_NAMES);
        rc = DAQ_RPC_INVALID_ARGUMENT;
    }
    if (rc != DAQ_RPC_OK)
        daq__stream_parameter_changes_request__free_unpacked(*in, NULL);
    return rc;
}

/* A subscriber for the request's device (or all) and names (or all); NULL
 * when out of memory. */
static subscriber *subscriber_new(daq_param_hub *h, daq_rpc_call *call,
                                  const Daq__StreamParameterChangesRequest *in)
{
    subscriber *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    pthread_mutex_init(&s->mu, NULL);
    s->task = (daq_sched_task){.step = change_step, .done = change_done, .ctx = s};
    atomic_init(&s->armed, false);
    snprintf(s->host, sizeof s->host, "%s", daq_rpc_call_peer_host(call));
    s->any_device =
        in->_device_id_case != DAQ__STREAM_PARAMETER_CHANGES_REQUEST___DEVICE_ID_DEVICE_ID;
    if (!s->any_device)
        snprintf(s->device_id, sizeof s->device_id, "%s", in->device_id);
    for (size_t i = 0; i < in->n_parameter_names; i++)
        snprintf(s->names[s->n_names++], sizeof s->names[0], "%s", in->parameter_names[i]);
    s->call = call;
    s->hub = h;
    return s;
}

/* StreamParameterChanges' start handler: request, admission, subscriber,
 * task. */
static int params_stream_start(void *ctx, daq_rpc_call *call, const uint8_t *req, size_t len,
                               char *details, size_t details_len)
{
    daq_param_hub *h = ctx;
    Daq__StreamParameterChangesRequest *in;
    int rc = change_request(h, req, len, &in, details, details_len);
    if (rc != DAQ_RPC_OK)
        return rc;
    if (daq_stream_limit_enter(h->limit, daq_rpc_call_peer_host(call), details, details_len)) {
        daq__stream_parameter_changes_request__free_unpacked(in, NULL);
        return DAQ_RPC_RESOURCE_EXHAUSTED;
    }
    subscriber *s = subscriber_new(h, call, in);
    daq__stream_parameter_changes_request__free_unpacked(in, NULL);
    if (!s) {
        daq_stream_limit_leave(h->limit, daq_rpc_call_peer_host(call));
        snprintf(details, details_len, "out of memory");
        return DAQ_RPC_INTERNAL;
    }
    pthread_mutex_lock(&h->mu);
    s->next = h->subs;
    h->subs = s;
    pthread_mutex_unlock(&h->mu);
    /* Armed, then one wake: a close that came before the hook was set is
     * seen by that first step. */
    daq_rpc_stream_on_ready(call, change_wake, s);
    atomic_store_explicit(&s->armed, true, memory_order_release);
    daq_stream_sched_wake(h->sched, &s->task);
    return DAQ_RPC_OK;
}

size_t daq_param_hub_methods(daq_param_hub *h, daq_rpc_method *out, size_t max)
{
    const daq_rpc_method all[] = {
        {"/daq.HardwareService/ListParameters", params_list, NULL, h, false},
        {"/daq.HardwareService/GetParameter", params_get, NULL, h, false},
        {"/daq.HardwareService/SetParameter", params_set, NULL, h, true},
        {"/daq.HardwareService/StreamParameterChanges", NULL, params_stream_start, h, false},
    };
    return daq_rpc_methods_copy(out, max, all, sizeof all / sizeof all[0]);
}
