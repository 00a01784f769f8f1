/* server/rpc_bridge.c - the unary gRPC methods over HTTP POST.  See
 * server/rpc_bridge.h.
 *
 * The table is a copy of the daemon's (at most a few dozen entries, looked
 * up by a linear strcmp: ~40 compares per call, nothing next to a handler
 * that talks to a camera).  A call goes through the steps the gRPC server
 * takes, in its order: the token (daq_rpc_tokens_check, the same table and
 * the same details texts; grpc.health.v1 open), then the method (unknown
 * or streaming: UNIMPLEMENTED), then the handler, then the audit line of an
 * audited method (daq_rpc_audit_log: the gRPC server's own line, the peer
 * "http:<addr>:<port>").  The token comes before the method so that a
 * caller without one learns nothing of the table, as over gRPC.
 *
 * The checks that only HTTP needs come first and answer without the token
 * check or an audit line, as a malformed HTTP/2 request never reaches
 * either: the method (POST), the Origin (a page on another site), the
 * Content-Type (a cross-site <form> can only send form or text types).
 *
 * Every answer carries Grpc-Status and (when there are details)
 * Grpc-Message; its body is the reply message (OK) or exactly the details
 * (no newline), so the page shows and tests compare the very text a gRPC
 * client gets.  The HTTP-level refusals carry a gRPC status too
 * (UNIMPLEMENTED for 405, PERMISSION_DENIED for 403, INVALID_ARGUMENT for
 * 415): the page has one error path.
 */
#define _GNU_SOURCE
#include "server/rpc_bridge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PROTOBUF_TYPE "application/x-protobuf"
#define PEER_MAX      96

/* PERMISSION_DENIED is not in rpc.h's list: only the bridge refuses with it. */
#define RPC_PERMISSION_DENIED 7

struct daq_rpc_bridge {
    daq_rpc_method *methods;
    size_t n;
    const daq_rpc_tokens *tokens;
};

daq_rpc_bridge *daq_rpc_bridge_create(const daq_rpc_method *methods, size_t n,
                                      const daq_rpc_tokens *tokens)
{
    daq_rpc_bridge *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    if (n) {
        b->methods = malloc(n * sizeof *methods);
        if (!b->methods) {
            free(b);
            return NULL;
        }
        memcpy(b->methods, methods, n * sizeof *methods);
    }
    b->n = n;
    b->tokens = tokens;
    return b;
}

void daq_rpc_bridge_destroy(daq_rpc_bridge *b)
{
    if (!b)
        return;
    free(b->methods);
    free(b);
}

static const daq_rpc_method *method_find(const daq_rpc_bridge *b, const char *path)
{
    for (size_t i = 0; i < b->n; i++)
        if (strcmp(b->methods[i].path, path) == 0)
            return &b->methods[i];
    return NULL;
}

static int reply_error(daq_rpc_reply *reply, int status, const char *fmt, const char *arg)
{
    reply->status = status;
    snprintf(reply->details, sizeof reply->details, fmt, arg);
    return status;
}

int daq_rpc_bridge_call(daq_rpc_bridge *b, const char *path, const char *authorization,
                        const char *peer, const uint8_t *req, size_t len, daq_rpc_reply *reply)
{
    memset(reply, 0, sizeof *reply);
    const daq_rpc_method *m = method_find(b, path);
    const char *token_name = NULL;
    static const char open[] = DAQ_RPC_AUTH_OPEN_PREFIX;
    if (b->tokens && strncmp(path, open, sizeof open - 1) != 0) {
        const char *why = NULL;
        token_name = daq_rpc_tokens_check(b->tokens, authorization,
                                          authorization ? strlen(authorization) : 0, &why);
        if (!token_name) {
            daq_rpc_auth_refused_log(peer, m ? m->path : "(unregistered)", why);
            reply_error(reply, DAQ_RPC_UNAUTHENTICATED, "%s", why);
            if (m && m->audit)
                daq_rpc_audit_log(m->path, req, len, peer, NULL, reply->status, reply->details);
            return reply->status;
        }
    }
    if (!m)
        return reply_error(reply, DAQ_RPC_UNIMPLEMENTED, "unknown method %s", path);
    if (!m->unary) {
        const char *name = strrchr(path, '/');
        return reply_error(reply, DAQ_RPC_UNIMPLEMENTED, "%s is a streaming method: use gRPC",
                           name ? name + 1 : path);
    }
    static const uint8_t empty[1];
    m->unary(m->ctx, req ? req : empty, req ? len : 0, reply);
    if (reply->status != DAQ_RPC_OK && reply->body) { /* a reply body only goes with OK */
        free(reply->body);
        reply->body = NULL;
        reply->len = 0;
    }
    if (m->audit)
        daq_rpc_audit_log(m->path, req, len, peer, token_name, reply->status, reply->details);
    return reply->status;
}

/* ---- HTTP ---------------------------------------------------------------------------- */

static int http_status_of(int rpc_status)
{
    switch (rpc_status) {
    case DAQ_RPC_OK: return 200;
    case DAQ_RPC_INVALID_ARGUMENT: return 400;
    case DAQ_RPC_UNAUTHENTICATED: return 401;
    case RPC_PERMISSION_DENIED: return 403;
    case DAQ_RPC_NOT_FOUND: return 404;
    case DAQ_RPC_FAILED_PRECONDITION: return 409;
    case DAQ_RPC_RESOURCE_EXHAUSTED: return 429;
    case DAQ_RPC_UNIMPLEMENTED: return 501;
    case DAQ_RPC_UNAVAILABLE: return 503;
    case DAQ_RPC_DEADLINE_EXCEEDED: return 504;
    default: return 500;
    }
}

/* Fills out with the reply: the message (OK) or the details as the body,
 * Grpc-Status and Grpc-Message either way.  Takes reply->body over. */
static void http_answer(daq_http_response *out, int http_status, daq_rpc_reply *reply)
{
    out->status = http_status;
    char num[16];
    snprintf(num, sizeof num, "%d", reply->status);
    daq_http_response_header(out, "Grpc-Status", num);
    /* Details are one line by convention; a stray control character must
     * not cost the header (daq_http_response_header refuses CR and LF). */
    char msg[sizeof reply->details];
    snprintf(msg, sizeof msg, "%s", reply->details);
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < ' ' || *p == 0x7f)
            *p = ' ';
    if (msg[0]) /* as gRPC, which sends no empty status message */
        daq_http_response_header(out, "Grpc-Message", msg);
    daq_http_response_header(out, "Cache-Control", "no-store");
    if (reply->status == DAQ_RPC_UNAUTHENTICATED)
        daq_http_response_header(out, "WWW-Authenticate", "Bearer realm=\"daqd\"");
    if (reply->status == DAQ_RPC_OK) {
        out->content_type = PROTOBUF_TYPE;
        out->body = (char *)reply->body;
        out->len = reply->len;
        out->free_body = true;
        reply->body = NULL;
        return;
    }
    free(reply->body);
    reply->body = NULL;
    size_t n = strlen(reply->details);
    out->body = malloc(n + 1);
    if (out->body) {
        memcpy(out->body, reply->details, n + 1);
        out->len = n;
        out->free_body = true;
    }
}

/* An HTTP-level refusal (nothing ran): status, a gRPC status for the
 * page's one code path, the text. */
static bool http_refuse(daq_http_response *out, int http_status, int rpc_status, const char *text)
{
    daq_rpc_reply r = {.status = rpc_status};
    snprintf(r.details, sizeof r.details, "%s", text);
    http_answer(out, http_status, &r);
    return true;
}

/* "application/x-protobuf", any case, parameters allowed. */
static bool type_is_protobuf(const char *t)
{
    size_t n = sizeof PROTOBUF_TYPE - 1;
    if (!t || strncasecmp(t, PROTOBUF_TYPE, n) != 0)
        return false;
    return t[n] == '\0' || t[n] == ';' || t[n] == ' ' || t[n] == '\t';
}

bool daq_rpc_bridge_http(daq_rpc_bridge *b, const daq_http_request *req, daq_http_response *out)
{
    static const char prefix[] = DAQ_RPC_BRIDGE_PREFIX;
    if (!b || strncmp(req->path, prefix, sizeof prefix - 1) != 0)
        return false;
    char text[sizeof((daq_rpc_reply *)0)->details];
    if (strcmp(req->method, "POST") != 0) {
        daq_http_response_header(out, "Allow", "POST");
        snprintf(text, sizeof text, "method not allowed: %s takes POST", prefix);
        return http_refuse(out, 405, DAQ_RPC_UNIMPLEMENTED, text);
    }
    if (req->origin) {
        char want[DAQ_HTTP_HEADER_VALUE_MAX];
        snprintf(want, sizeof want, "http://%s", req->host ? req->host : "");
        if (!req->host || strcmp(req->origin, want) != 0) {
            snprintf(text, sizeof text, "cross-origin request refused (Origin %.96s, Host %.96s)",
                     req->origin, req->host ? req->host : "(none)");
            return http_refuse(out, 403, RPC_PERMISSION_DENIED, text);
        }
    }
    if (!type_is_protobuf(req->content_type))
        return http_refuse(out, 415, DAQ_RPC_INVALID_ARGUMENT,
                           "Content-Type must be " PROTOBUF_TYPE);
    /* "/api/rpc/daq.HardwareService/SetExposure" -> "/daq.HardwareService/SetExposure" */
    const char *path = req->path + sizeof prefix - 2;
    char peer[PEER_MAX];
    snprintf(peer, sizeof peer, "http:%s", req->peer ? req->peer : "-");
    daq_rpc_reply reply;
    int st =
        daq_rpc_bridge_call(b, path, req->authorization, peer, req->body, req->body_len, &reply);
    http_answer(out, http_status_of(st), &reply);
    return true;
}
