/* server/rpc_auth.c - the tokens file and the bearer-token check of every
 * call.  See server/rpc_auth.h for the file format and the rules.
 *
 * Entries are kept in fixed DAQ_RPC_TOKEN_MAX-byte, zero-padded buffers so
 * the check can compare the presented token with every entry over the same
 * number of bytes (256 x at most 256 entries = 64 KiB of XORs, ~10 us)
 * and pick the match with a mask instead of a branch: how long a refusal
 * takes does not depend on how many leading bytes were right.
 *
 * Runs on the completion-queue thread for every call before its handler:
 * no allocation, no lock, the table is read-only after load.
 */
#define _GNU_SOURCE
#include "server/rpc_auth.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <grpc/byte_buffer_reader.h>

#include "daq/log.h"
#include "server/rpc_internal.h"
#include "util/err.h"

#define DAQ_RPC_AUTH_LOG  "daq::auth"
#define DAQ_RPC_AUDIT_LOG "daq::audit"

#define TOKENS_FILE_MAX (1u << 20) /* 1 MiB: 256 entries of 256-byte tokens fit 16 times */

typedef struct token_entry {
    char name[DAQ_RPC_TOKEN_NAME_MAX + 1];
    uint8_t token[DAQ_RPC_TOKEN_MAX]; /* zero-padded */
    size_t len;
    unsigned line;
} token_entry;

struct daq_rpc_tokens {
    size_t n;
    token_entry e[DAQ_RPC_TOKENS_MAX];
};

static bool name_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-' || ch == '.' || ch == '@';
}

static bool visible(char ch)
{
    return ch > ' ' && ch < 0x7f;
}

/* The next whitespace-separated field of [*p, end); false at the end. */
static bool next_field(const char **p, const char *end, const char **start, size_t *len)
{
    const char *s = *p;
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    if (s == end)
        return false;
    const char *e = s;
    while (e < end && *e != ' ' && *e != '\t')
        e++;
    *start = s;
    *len = (size_t)(e - s);
    *p = e;
    return true;
}

static int parse_line(daq_rpc_tokens *t, const char *s, const char *end, unsigned line,
                      const char *where, char *err, size_t err_len)
{
    const char *name, *tok, *extra;
    size_t nlen, tlen, xlen;
    if (!next_field(&s, end, &name, &nlen))
        return 0; /* blank */
    if (!next_field(&s, end, &tok, &tlen))
        return daq_err(err, err_len, "%s:%u: '%.*s' has no token (expected \"name token\")", where,
                       line, (int)(nlen > 64 ? 64 : nlen), name);
    if (next_field(&s, end, &extra, &xlen))
        return daq_err(err, err_len, "%s:%u: more than two fields (expected \"name token\")", where,
                       line);
    if (nlen > DAQ_RPC_TOKEN_NAME_MAX)
        return daq_err(err, err_len, "%s:%u: name is %zu characters, at most %d", where, line, nlen,
                       DAQ_RPC_TOKEN_NAME_MAX);
    for (size_t i = 0; i < nlen; i++)
        if (!name_char(name[i]))
            return daq_err(err, err_len,
                           "%s:%u: name '%.*s': only letters, digits and _ - . @ are allowed",
                           where, line, (int)nlen, name);
    if (tlen < DAQ_RPC_TOKEN_MIN || tlen > DAQ_RPC_TOKEN_MAX)
        return daq_err(err, err_len, "%s:%u: token of '%.*s' is %zu characters, must be %d..%d",
                       where, line, (int)nlen, name, tlen, DAQ_RPC_TOKEN_MIN, DAQ_RPC_TOKEN_MAX);
    for (size_t i = 0; i < tlen; i++)
        if (!visible(tok[i]))
            return daq_err(err, err_len,
                           "%s:%u: token of '%.*s' has a character that is not visible ASCII",
                           where, line, (int)nlen, name);
    for (size_t i = 0; i < t->n; i++) {
        const token_entry *o = &t->e[i];
        if (strlen(o->name) == nlen && memcmp(o->name, name, nlen) == 0)
            return daq_err(err, err_len, "%s:%u: name '%s' is already used on line %u", where, line,
                           o->name, o->line);
        if (o->len == tlen && memcmp(o->token, tok, tlen) == 0)
            return daq_err(err, err_len,
                           "%s:%u: '%.*s' has the same token as '%s' (line %u): the audit log "
                           "could not tell them apart",
                           where, line, (int)nlen, name, o->name, o->line);
    }
    if (t->n == DAQ_RPC_TOKENS_MAX)
        return daq_err(err, err_len, "%s:%u: more than %d tokens", where, line, DAQ_RPC_TOKENS_MAX);
    token_entry *e = &t->e[t->n++];
    memcpy(e->name, name, nlen);
    memcpy(e->token, tok, tlen);
    e->len = tlen;
    e->line = line;
    return 0;
}

daq_rpc_tokens *daq_rpc_tokens_parse(const char *text, size_t len, const char *where, char *err,
                                     size_t err_len)
{
    daq_rpc_tokens *t = calloc(1, sizeof *t);
    if (!t) {
        daq_err(err, err_len, "%s: out of memory", where);
        return NULL;
    }
    const char *p = text, *end = text + len;
    unsigned line = 0;
    while (p < end) {
        line++;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        const char *hash = memchr(p, '#', (size_t)(eol - p));
        const char *stop = hash ? hash : eol;
        while (stop > p && stop[-1] == '\r')
            stop--;
        for (const char *q = p; q < stop; q++)
            if (*q == '\0') {
                daq_err(err, err_len, "%s:%u: a NUL byte (not a text file?)", where, line);
                daq_rpc_tokens_free(t);
                return NULL;
            }
        if (parse_line(t, p, stop, line, where, err, err_len) != 0) {
            daq_rpc_tokens_free(t);
            return NULL;
        }
        p = nl ? nl + 1 : end;
    }
    if (t->n == 0) {
        daq_err(err, err_len, "%s: no tokens (one \"name token\" per line)", where);
        daq_rpc_tokens_free(t);
        return NULL;
    }
    return t;
}

daq_rpc_tokens *daq_rpc_tokens_load(const char *path, char *err, size_t err_len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        daq_err(err, err_len, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        daq_err(err, err_len, "%s: not a regular file", path);
        return NULL;
    }
    if (st.st_mode & 007) {
        fclose(f);
        daq_err(err, err_len, "%s: mode %04o lets others read or change the tokens (chmod o-rwx)",
                path, (unsigned)(st.st_mode & 07777));
        return NULL;
    }
    if (st.st_size > TOKENS_FILE_MAX) {
        fclose(f);
        daq_err(err, err_len, "%s: %lld bytes, at most %u", path, (long long)st.st_size,
                TOKENS_FILE_MAX);
        return NULL;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t n = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
    int rd_err = buf ? ferror(f) : ENOMEM;
    fclose(f);
    if (!buf || rd_err) {
        free(buf);
        daq_err(err, err_len, "%s: cannot read it", path);
        return NULL;
    }
    daq_rpc_tokens *t = daq_rpc_tokens_parse(buf, n, path, err, err_len);
    explicit_bzero(buf, n);
    free(buf);
    return t;
}

void daq_rpc_tokens_free(daq_rpc_tokens *t)
{
    if (!t)
        return;
    explicit_bzero(t, sizeof *t);
    free(t);
}

size_t daq_rpc_tokens_count(const daq_rpc_tokens *t)
{
    return t ? t->n : 0;
}

const char *daq_rpc_tokens_check(const daq_rpc_tokens *t, const char *authorization, size_t len,
                                 const char **why)
{
    static const char scheme[] = "bearer ";
    const size_t slen = sizeof scheme - 1;
    *why = DAQ_RPC_AUTH_MISSING;
    if (!authorization || len <= slen || strncasecmp(authorization, scheme, slen) != 0)
        return NULL;
    const char *tok = authorization + slen;
    size_t tlen = len - slen;
    while (tlen && *tok == ' ')
        tok++, tlen--;
    *why = DAQ_RPC_AUTH_UNKNOWN;
    if (tlen == 0 || tlen > DAQ_RPC_TOKEN_MAX)
        return NULL;
    uint8_t cand[DAQ_RPC_TOKEN_MAX] = {0};
    memcpy(cand, tok, tlen);
    size_t found = SIZE_MAX; /* every entry is compared: no early exit */
    for (size_t i = 0; i < t->n; i++) {
        const token_entry *e = &t->e[i];
        uint8_t diff = (uint8_t)(e->len != tlen);
        for (size_t k = 0; k < DAQ_RPC_TOKEN_MAX; k++)
            diff |= (uint8_t)(e->token[k] ^ cand[k]);
        size_t match = (size_t)0 - (size_t)(diff == 0); /* all ones on a match */
        found = (found & ~match) | (i & match);
    }
    explicit_bzero(cand, sizeof cand);
    if (found == SIZE_MAX)
        return NULL;
    *why = NULL;
    return t->e[found].name;
}

/* ---- a gRPC call ---------------------------------------------------------------- */

static bool slice_is(grpc_slice s, const char *text, size_t len)
{
    return GRPC_SLICE_LENGTH(s) == len && memcmp(GRPC_SLICE_START_PTR(s), text, len) == 0;
}

/* The path of the call: the registered method's, or the generic request's. */
static bool call_is_open(const daq_rpc_call *c)
{
    static const char open[] = DAQ_RPC_AUTH_OPEN_PREFIX;
    if (c->method)
        return strncmp(c->method->path, open, sizeof open - 1) == 0;
    grpc_slice m = c->details.method;
    return GRPC_SLICE_LENGTH(m) >= sizeof open - 1 &&
           memcmp(GRPC_SLICE_START_PTR(m), open, sizeof open - 1) == 0;
}

bool daq_rpc_call_authorize(daq_rpc_call *c, const daq_rpc_tokens *t)
{
    if (!t || call_is_open(c))
        return true;
    static const char key[] = "authorization";
    const char *value = NULL;
    size_t len = 0;
    for (size_t i = 0; i < c->req_md.count; i++) {
        const grpc_metadata *m = &c->req_md.metadata[i];
        if (slice_is(m->key, key, sizeof key - 1)) {
            value = (const char *)GRPC_SLICE_START_PTR(m->value);
            len = GRPC_SLICE_LENGTH(m->value);
            break;
        }
    }
    const char *why;
    c->token_name = daq_rpc_tokens_check(t, value, len, &why);
    if (c->token_name)
        return true;
    daq_rpc_auth_refused_log(daq_rpc_call_peer(c), c->method ? c->method->path : "(unregistered)",
                             why);
    daq_rpc_call_reply(c, DAQ_RPC_UNAUTHENTICATED, why, NULL, 0);
    return false;
}

/* The device a HardwareService request names: field 1 (device_id in every
 * audited one), read when it comes first as protobuf writers put it; ""
 * otherwise, or when it is not printable ASCII (the log stays one line). */
static void request_device(const char *path, const uint8_t *p, size_t n, char *out, size_t cap)
{
    static const char hw[] = "/daq.HardwareService/";
    out[0] = '\0';
    if (!p || strncmp(path, hw, sizeof hw - 1) != 0)
        return;
    size_t len = n >= 2 ? p[1] : 0;
    bool ok = n >= 2 && p[0] == 0x0a && len < 0x80 && len + 2 <= n && len < cap;
    for (size_t i = 0; ok && i < len; i++)
        ok = p[2 + i] >= ' ' && p[2 + i] < 0x7f;
    if (ok) {
        memcpy(out, p + 2, len);
        out[len] = '\0';
    }
}

void daq_rpc_audit_log(const char *path, const uint8_t *req, size_t len, const char *peer,
                       const char *token_name, int status, const char *details)
{
    char device[64];
    request_device(path, req, len, device, sizeof device);
    DAQ_LOG(DAQ_LOG_INFO, DAQ_RPC_AUDIT_LOG, "call", DAQ_F_STR("method", path),
            DAQ_F_STR("device", device), DAQ_F_STR("peer", peer ? peer : "-"),
            DAQ_F_STR("token", token_name ? token_name : "-"), DAQ_F_I64("status", status),
            DAQ_F_STR("details", details ? details : ""));
}

void daq_rpc_auth_refused_log(const char *peer, const char *path, const char *why)
{
    /* Rate-limited: a client hammering without a token cannot flood the log. */
    static daq_log_ratelimit rl = DAQ_LOG_RATELIMIT_INIT(5, 100);
    uint64_t nth;
    if (daq_log_ratelimit_pass(&rl, &nth))
        DAQ_LOG(DAQ_LOG_WARN, DAQ_RPC_AUTH_LOG, "call refused", DAQ_F_STR("peer", peer),
                DAQ_F_STR("method", path), DAQ_F_STR("reason", why),
                DAQ_F_U64("refused_total", nth));
}

void daq_rpc_call_audit(const daq_rpc_call *c, int status, const char *details)
{
    if (!c->method || !c->method->m.audit)
        return;
    grpc_byte_buffer_reader r;
    grpc_slice msg = grpc_empty_slice();
    bool have = c->payload && grpc_byte_buffer_reader_init(&r, c->payload);
    if (have) {
        msg = grpc_byte_buffer_reader_readall(&r);
        grpc_byte_buffer_reader_destroy(&r);
    }
    daq_rpc_audit_log(c->method->path, have ? GRPC_SLICE_START_PTR(msg) : NULL,
                      have ? GRPC_SLICE_LENGTH(msg) : 0, daq_rpc_call_peer(c), c->token_name,
                      status, details);
    grpc_slice_unref(msg);
}
