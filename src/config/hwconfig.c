/* config/hwconfig.c - the hardware-config schema on top of the TOML reader.
 *
 * One function per table walks its keys in file order; each key is looked
 * up in that table's small list of known keys, converted with a checked
 * getter, or refused as unknown.  Every error names the file position of
 * the offending key or value and its dotted path, so a user can jump to it.
 * The result is a plain value struct: nothing points into the TOML tree,
 * which is freed before returning.
 */
#define _GNU_SOURCE
#include "daq/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daq/camera.h"
#include "daq/sink.h"
#include "util/addr_list.h"
#include "util/err.h"

typedef struct ctx {
    daq_config *cfg;
    char *err;
    size_t err_len;
} ctx;

char *daq_config_where(const daq_config *cfg, daq_toml_pos pos, char *buf, size_t len)
{
    snprintf(buf, len, "%s:%u:%u: ", cfg->path, pos.line, pos.col);
    return buf;
}

DAQ_PRINTF(4, 5)
static int fail(ctx *c, daq_toml_pos pos, const char *path, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return daq_err(c->err, c->err_len, "%s:%u:%u: %s: %s", c->cfg->path, pos.line, pos.col, path,
                   msg);
}

/* Records "device ID (driver "TYPE") is not a camera ...: skipped". */
static void warn_skipped(ctx *c, daq_toml_pos pos, const char *id, const char *type)
{
    if (c->cfg->n_warnings == DAQ_CONFIG_MAX_WARNINGS)
        return;
    daq_config_warning *w = &c->cfg->warnings[c->cfg->n_warnings++];
    w->pos = pos;
    snprintf(w->text, sizeof w->text,
             "device %.63s (driver \"%.31s\") is not a camera this build drives: skipped", id,
             type);
}

/* ---- typed getters ----------------------------------------------------------- */

static int want(ctx *c, const char *path, const daq_toml *v, daq_toml_type t)
{
    if (daq_toml_type_of(v) == t)
        return 0;
    return fail(c, daq_toml_pos_of(v), path, "expected %s, found %s", daq_toml_type_name(t),
                daq_toml_type_name(daq_toml_type_of(v)));
}

static int get_bool(ctx *c, const char *path, const daq_toml *v, bool *out)
{
    if (want(c, path, v, DAQ_TOML_BOOL))
        return -1;
    *out = daq_toml_bool(v);
    return 0;
}

static int get_int(ctx *c, const char *path, const daq_toml *v, int64_t lo, int64_t hi,
                   int64_t *out)
{
    if (want(c, path, v, DAQ_TOML_INTEGER))
        return -1;
    int64_t x = daq_toml_integer(v);
    if (x < lo || x > hi)
        return fail(c, daq_toml_pos_of(v), path, "%lld is out of range [%lld, %lld]", (long long)x,
                    (long long)lo, (long long)hi);
    *out = x;
    return 0;
}

static int get_u32(ctx *c, const char *path, const daq_toml *v, uint32_t lo, uint32_t hi,
                   uint32_t *out)
{
    int64_t x;
    if (get_int(c, path, v, lo, hi, &x))
        return -1;
    *out = (uint32_t)x;
    return 0;
}

static int get_u16(ctx *c, const char *path, const daq_toml *v, uint16_t *out)
{
    int64_t x;
    if (get_int(c, path, v, 0, 65535, &x))
        return -1;
    *out = (uint16_t)x;
    return 0;
}

static int get_str(ctx *c, const char *path, const daq_toml *v, char *out, size_t cap)
{
    if (want(c, path, v, DAQ_TOML_STRING))
        return -1;
    size_t len;
    const char *s = daq_toml_string(v, &len);
    if (len >= cap || memchr(s, '\0', len))
        return fail(c, daq_toml_pos_of(v), path,
                    "string too long (at most %zu bytes) or contains NUL", cap - 1);
    memcpy(out, s, len + 1);
    return 0;
}

/* A number written as an integer or a float, in [lo, hi]. */
static int get_number(ctx *c, const char *path, const daq_toml *v, double lo, double hi,
                      double *out)
{
    double f;
    if (daq_toml_type_of(v) == DAQ_TOML_INTEGER)
        f = (double)daq_toml_integer(v);
    else if (daq_toml_type_of(v) == DAQ_TOML_FLOAT)
        f = daq_toml_float(v);
    else
        return want(c, path, v, DAQ_TOML_FLOAT);
    if (!(f >= lo && f <= hi))
        return fail(c, daq_toml_pos_of(v), path, "%.15g is out of range [%.15g, %.15g]", f, lo, hi);
    *out = f;
    return 0;
}

/* Fails with "\"got\" is not one of \"a\", \"b\", ..." for the first n names
 * of a NULL-terminated list. */
static int not_one_of(ctx *c, const char *path, const daq_toml *v, const char *got,
                      const char *const *names, int n)
{
    char list[256] = "";
    for (int i = 0; i < n && names[i]; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s\"%s\"", i ? ", " : "",
                 names[i]);
    return fail(c, daq_toml_pos_of(v), path, "\"%s\" is not one of %s", got, list);
}

/* A string that must be one of the first n names of a NULL-terminated
 * list; its index in *out. */
static int get_choice(ctx *c, const char *path, const daq_toml *v, const char *const *names, int n,
                      int *out)
{
    char buf[64];
    *out = -1; /* written on every path: callers read it only after a 0 */
    if (get_str(c, path, v, buf, sizeof buf))
        return -1;
    for (int i = 0; i < n && names[i]; i++)
        if (strcmp(buf, names[i]) == 0) {
            *out = i;
            return 0;
        }
    return not_one_of(c, path, v, buf, names, n);
}

static int get_policy(ctx *c, const char *path, const daq_toml *v, bool fallback_only,
                      daq_pool_policy *out)
{
    int i; /* the fallbacks are the first two: heap, drop */
    if (get_choice(c, path, v, daq_pool_policy_names, fallback_only ? 2 : INT_MAX, &i))
        return -1;
    *out = (daq_pool_policy)i;
    return 0;
}

static int get_sub_policy(ctx *c, const char *path, const daq_toml *v, daq_sub_policy *out)
{
    char buf[32];
    if (get_str(c, path, v, buf, sizeof buf))
        return -1;
    if (daq_sub_policy_parse(buf, out) == 0) /* also with '_' for '-' */
        return 0;
    return not_one_of(c, path, v, buf, daq_sub_policy_names, INT_MAX);
}

/* [server] bind: IP literals, one or a list (util/addr_list.h: "0.0.0.0"
 * IPv4 only, "::" IPv6 only, "0.0.0.0,::" both), as --bind. */
static int get_bind(ctx *c, const char *path, const daq_toml *v, char *out, size_t cap)
{
    if (get_str(c, path, v, out, cap))
        return -1;
    daq_addr_list l;
    char why[192];
    if (daq_addr_list_parse(out, &l, why, sizeof why) != 0)
        return fail(c, daq_toml_pos_of(v), path, "%s", why);
    return 0;
}

/* A comma list of DNS names (letters, digits, '-' and '.', 1..253 each). */
static int get_host_list(ctx *c, const char *path, const daq_toml *v, char *out, size_t cap)
{
    if (get_str(c, path, v, out, cap))
        return -1;
    for (const char *p = out; *p;) {
        size_t n = strcspn(p, ",");
        size_t ok = 0;
        while (ok < n && (isalnum((unsigned char)p[ok]) || p[ok] == '-' || p[ok] == '.'))
            ok++;
        if (n == 0 || n > 253 || ok != n)
            return fail(c, daq_toml_pos_of(v), path,
                        "'%.*s' is not a host name (letters, digits, '-' and '.'; names are "
                        "separated by ',')",
                        (int)(n > 64 ? 64 : n), p);
        p += n + (p[n] == ',');
    }
    return 0;
}

/* ---- walking tables ------------------------------------------------------------ */

/* Joins path + "." + key into buf. */
static const char *subpath(char *buf, size_t len, const char *path, const char *key)
{
    snprintf(buf, len, "%s%s%s", path, *path ? "." : "", key);
    return buf;
}

static int unknown(ctx *c, daq_toml_pos pos, const char *path)
{
    return fail(c, pos, path, "unknown key");
}

typedef int (*key_fn)(ctx *c, const char *key, const char *path, const daq_toml *v, void *dst);

/* Calls fn for every key of table t (path names t). */
static int walk(ctx *c, const daq_toml *t, const char *path, key_fn fn, void *dst)
{
    for (size_t i = 0; i < daq_toml_table_size(t); i++) {
        daq_toml_pos kp;
        const char *key = daq_toml_table_key(t, i, &kp);
        char sp[192];
        subpath(sp, sizeof sp, path, key);
        int rc = fn(c, key, sp, daq_toml_table_value(t, i), dst);
        if (rc == 1)
            rc = unknown(c, kp, sp);
        if (rc)
            return -1;
    }
    return 0;
}

static int pool_key(ctx *c, const char *k, const char *p, const daq_toml *v, void *dst)
{
    daq_config *g = dst;
    if (strcmp(k, "slots") == 0) {
        if (daq_toml_type_of(v) == DAQ_TOML_STRING) {
            const char *s = daq_toml_string(v, NULL);
            if (strcmp(s, "auto") != 0)
                return fail(c, daq_toml_pos_of(v), p, "expected a slot count or \"auto\"");
            g->acq.slots = 0;
            return 0;
        }
        return get_u32(c, p, v, 1, DAQ_POOL_MAX_SLOTS, &g->acq.slots);
    }
    if (strcmp(k, "use_pool") == 0)
        return get_bool(c, p, v, &g->acq.pool.use_pool);
    if (strcmp(k, "policy") == 0)
        return get_policy(c, p, v, false, &g->acq.pool.policy);
    if (strcmp(k, "wait_timeout_ms") == 0)
        return get_u32(c, p, v, 0, 600000, &g->acq.pool.wait_timeout_ms);
    if (strcmp(k, "wait_fallback") == 0)
        return get_policy(c, p, v, true, &g->acq.pool.wait_fallback);
    if (strcmp(k, "huge_pages") == 0)
        return get_bool(c, p, v, &g->acq.pool.huge_pages);
    if (strcmp(k, "prefault") == 0)
        return get_bool(c, p, v, &g->acq.pool.prefault);
    if (strcmp(k, "mlock") == 0)
        return get_bool(c, p, v, &g->acq.pool.lock_memory);
    if (strcmp(k, "dynamic_allowance") == 0)
        return get_u32(c, p, v, 0, 1024, &g->acq.dynamic_allowance);
    if (strcmp(k, "headroom") == 0)
        return get_u32(c, p, v, 0, 1024, &g->acq.headroom);
    return 1;
}

static int acq_key(ctx *c, const char *k, const char *p, const daq_toml *v, void *dst)
{
    daq_config *g = dst;
    if (strcmp(k, "wait_timeout_ms") == 0)
        return get_u32(c, p, v, 1, 600000, &g->acq.wait_timeout_ms);
    if (strcmp(k, "watchdog_waits") == 0)
        return get_u32(c, p, v, 1, 1000, &g->acq.watchdog_waits);
    if (strcmp(k, "trace_every") == 0)
        return get_u32(c, p, v, 0, 1000000, &g->acq.trace_every);
    return 1;
}

static int server_key(ctx *c, const char *k, const char *p, const daq_toml *v, void *dst)
{
    daq_config *g = dst;
    if (strcmp(k, "bind") == 0)
        return get_bind(c, p, v, g->bind, sizeof g->bind);
    if (strcmp(k, "port") == 0)
        return get_u16(c, p, v, &g->port);
    if (strcmp(k, "metrics_port") == 0)
        return get_u16(c, p, v, &g->metrics_port);
    if (strcmp(k, "max_streams_per_client") == 0)
        return get_u32(c, p, v, 1, 64, &g->max_streams_per_client);
    if (strcmp(k, "compression") == 0) {
        static const char *const names[] = {"none", "lz4", NULL};
        int i;
        if (get_choice(c, p, v, names, INT_MAX, &i))
            return -1;
        g->compression_lz4 = i == 1;
        return 0;
    }
    return 1;
}

static int limits_key(ctx *c, const char *k, const char *p, const daq_toml *v, void *dst)
{
    daq_config *g = dst;
    daq_config_limits *l = &g->limits;
    static const struct {
        const char *name;
        uint32_t lo, hi;
        size_t off;
    } keys[] = {
        {"memory_mb", 0, UINT32_MAX, offsetof(daq_config_limits, memory_mb)},
        {"streams", 1, 256, offsetof(daq_config_limits, streams)},
        {"subscribers", 1, 100000, offsetof(daq_config_limits, subscribers)},
        {"connections", 1, 10000, offsetof(daq_config_limits, connections)},
        {"stall_timeout_ms", 100, 600000, offsetof(daq_config_limits, stall_timeout_ms)},
        {"keepalive_ms", 1000, 3600000, offsetof(daq_config_limits, keepalive_ms)},
        {"workers", 2, 64, offsetof(daq_config_limits, workers)},
    };
    if (strcmp(k, "streams_per_client") == 0)
        return get_u32(c, p, v, 1, 256, &g->max_streams_per_client);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(k, keys[i].name) == 0)
            return get_u32(c, p, v, keys[i].lo, keys[i].hi, (uint32_t *)((char *)l + keys[i].off));
    return 1;
}

static int security_key(ctx *c, const char *k, const char *p, const daq_toml *v, void *dst)
{
    daq_config_security *s = &((daq_config *)dst)->security;
    if (strcmp(k, "tls_cert") == 0)
        return get_str(c, p, v, s->tls_cert, sizeof s->tls_cert);
    if (strcmp(k, "tls_key") == 0)
        return get_str(c, p, v, s->tls_key, sizeof s->tls_key);
    if (strcmp(k, "tls_client_ca") == 0)
        return get_str(c, p, v, s->tls_client_ca, sizeof s->tls_client_ca);
    if (strcmp(k, "tokens_file") == 0)
        return get_str(c, p, v, s->tokens_file, sizeof s->tokens_file);
    if (strcmp(k, "http_hosts") == 0)
        return get_host_list(c, p, v, s->http_hosts, sizeof s->http_hosts);
    if (strcmp(k, "http_tls") == 0) {
        bool on;
        if (get_bool(c, p, v, &on))
            return -1;
        s->http_tls = on;
        return 0;
    }
    return 1;
}

static int recovery_key(ctx *c, const char *k, const char *p, const daq_toml *v, void *dst)
{
    daq_config_recovery *r = &((daq_config *)dst)->recovery;
    if (strcmp(k, "enabled") == 0)
        return get_bool(c, p, v, &r->enabled);
    if (strcmp(k, "initial_ms") == 0)
        return get_u32(c, p, v, 10, 3600000, &r->initial_ms);
    if (strcmp(k, "max_ms") == 0)
        return get_u32(c, p, v, 10, 86400000, &r->max_ms);
    if (strcmp(k, "factor") == 0)
        return get_number(c, p, v, 1, 16, &r->factor);
    if (strcmp(k, "max_attempts") == 0)
        return get_u32(c, p, v, 0, UINT32_MAX, &r->max_attempts);
    return 1;
}

static int rollback_key(ctx *c, const char *k, const char *p, const daq_toml *v, void *dst)
{
    daq_config_rollback *r = &((daq_config *)dst)->rollback;
    static const struct {
        const char *name;
        uint32_t lo, hi;
        size_t off;
    } ints[] = {
        {"interval_ms", 50, 60000, offsetof(daq_config_rollback, interval_ms)},
        {"window_s", 1, 3600, offsetof(daq_config_rollback, window_s)},
        {"warmup_s", 0, 3600, offsetof(daq_config_rollback, warmup_s)},
        {"clear_s", 0, 3600, offsetof(daq_config_rollback, clear_s)},
        {"frame_loss", 0, UINT32_MAX, offsetof(daq_config_rollback, frame_loss)},
        {"auto_after_s", 0, 3600, offsetof(daq_config_rollback, auto_after_s)},
    };
    static const struct {
        const char *name;
        double lo, hi;
        size_t off;
    } nums[] = {
        {"exhaustion_per_min", 0, 1e9, offsetof(daq_config_rollback, exhaustion_per_min)},
        {"avg_alloc_us", 0, 1e7, offsetof(daq_config_rollback, avg_alloc_us)},
        {"rss_warn_pct", 0, 100000, offsetof(daq_config_rollback, rss_warn_pct)},
        {"rss_rollback_pct", 0, 100000, offsetof(daq_config_rollback, rss_rollback_pct)},
    };
    if (strcmp(k, "enabled") == 0)
        return get_bool(c, p, v, &r->enabled);
    if (strcmp(k, "auto") == 0)
        return get_bool(c, p, v, &r->auto_rollback);
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (strcmp(k, ints[i].name) == 0)
            return get_u32(c, p, v, ints[i].lo, ints[i].hi, (uint32_t *)((char *)r + ints[i].off));
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
        if (strcmp(k, nums[i].name) == 0)
            return get_number(c, p, v, nums[i].lo, nums[i].hi, (double *)((char *)r + nums[i].off));
    return 1;
}

static int log_key(ctx *c, const char *k, const char *p, const daq_toml *v, void *dst)
{
    daq_config *g = dst;
    if (strcmp(k, "filter") == 0 || strcmp(k, "level") == 0)
        return get_str(c, p, v, g->log_filter, sizeof g->log_filter);
    if (strcmp(k, "format") == 0) {
        static const char *const names[] = {"text", "json", NULL};
        int i;
        if (get_choice(c, p, v, names, INT_MAX, &i))
            return -1;
        g->log_json = i == 1;
        return 0;
    }
    return 1;
}

/* [storage].  compression stays a string here (libdaq does not know the
 * codecs, libdaq-storage does): its position goes with it so the daemon's
 * check can say where it was written. */
static int storage_key(ctx *c, const char *k, const char *p, const daq_toml *v, void *dst)
{
    daq_config_storage *s = &((daq_config *)dst)->storage;
    if (strcmp(k, "root") == 0) {
        if (get_str(c, p, v, s->root, sizeof s->root))
            return -1;
        return s->root[0] ? 0 : fail(c, daq_toml_pos_of(v), p, "must not be empty");
    }
    if (strcmp(k, "compression") == 0) {
        s->compression_pos = daq_toml_pos_of(v);
        return get_str(c, p, v, s->compression, sizeof s->compression);
    }
    if (strcmp(k, "compression_level") == 0)
        return get_u32(c, p, v, 0, 9, &s->compression_level);
    if (strcmp(k, "chunk_size") == 0) /* elements of u64: at most 8 MiB per chunk */
        return get_u32(c, p, v, 1, 1048576, &s->chunk_size);
    if (strcmp(k, "filename_pattern") == 0) {
        if (get_str(c, p, v, s->filename_pattern, sizeof s->filename_pattern))
            return -1;
        if (!s->filename_pattern[0])
            return fail(c, daq_toml_pos_of(v), p, "must not be empty");
        if (strchr(s->filename_pattern, '/'))
            return fail(c, daq_toml_pos_of(v), p,
                        "\"%s\" contains '/' (files go into the output directory)",
                        s->filename_pattern);
        return 0;
    }
    if (strcmp(k, "include_timestamps") == 0)
        return get_bool(c, p, v, &s->include_timestamps);
    if (strcmp(k, "include_device_metadata") == 0)
        return get_bool(c, p, v, &s->include_device_metadata);
    if (strcmp(k, "flush_interval_ms") == 0)
        return get_u32(c, p, v, 10, 3600000, &s->flush_interval_ms);
    if (strcmp(k, "max_buffer_mb") == 0)
        return get_u32(c, p, v, 1, 65536, &s->max_buffer_mb);
    if (strcmp(k, "workers") == 0)
        return get_u32(c, p, v, 0, 64, &s->workers);
    return 1;
}

/* [tap] allowed_uids / allowed_gids: up to DAQ_TAP_MAX_IDS ids, each a
 * uid_t/gid_t other than (uid_t)-1 (which chown and friends read as "no
 * change", never a real peer's credential). */
static int get_ids(ctx *c, const char *path, const daq_toml *v, uint32_t *out, size_t *n)
{
    if (want(c, path, v, DAQ_TOML_ARRAY))
        return -1;
    size_t count = daq_toml_array_size(v);
    if (count > DAQ_TAP_MAX_IDS)
        return fail(c, daq_toml_pos_of(v), path, "%zu ids (at most %d)", count, DAQ_TAP_MAX_IDS);
    for (size_t i = 0; i < count; i++) {
        char ep[224];
        snprintf(ep, sizeof ep, "%s[%zu]", path, i);
        if (get_u32(c, ep, daq_toml_array_at(v, i), 0, UINT32_MAX - 1, &out[i]))
            return -1;
    }
    *n = count;
    return 0;
}

/* [tap].  mode is an integer: TOML's 0o660 reads as it looks; a decimal
 * 660 (0o1224) is refused rather than silently giving odd permissions. */
static int tap_key(ctx *c, const char *k, const char *p, const daq_toml *v, void *dst)
{
    daq_config_tap *t = &((daq_config *)dst)->tap;
    if (strcmp(k, "enabled") == 0)
        return get_bool(c, p, v, &t->enabled);
    if (strcmp(k, "path") == 0)
        return get_str(c, p, v, t->path, sizeof t->path);
    if (strcmp(k, "mode") == 0) {
        if (want(c, p, v, DAQ_TOML_INTEGER))
            return -1;
        int64_t m = daq_toml_integer(v);
        if (m < 0 || m > 0777)
            return fail(c, daq_toml_pos_of(v), p,
                        "%lld is not a permission mode (0 to 0o777; write it as 0o660)",
                        (long long)m);
        t->mode = (uint32_t)m;
        return 0;
    }
    if (strcmp(k, "allowed_uids") == 0)
        return get_ids(c, p, v, t->allowed_uids, &t->n_allowed_uids);
    if (strcmp(k, "allowed_gids") == 0)
        return get_ids(c, p, v, t->allowed_gids, &t->n_allowed_gids);
    if (strcmp(k, "max_readers") == 0)
        return get_u32(c, p, v, 1, 64, &t->max_readers);
    if (strcmp(k, "lease_cap") == 0)
        return get_u32(c, p, v, 1, 64, &t->lease_cap); /* <= max_lease_cap: tap_table */
    if (strcmp(k, "max_lease_cap") == 0)
        return get_u32(c, p, v, 1, 64, &t->max_lease_cap);
    if (strcmp(k, "lease_timeout_ms") == 0)
        return get_u32(c, p, v, 0, 3600000, &t->lease_timeout_ms);
    if (strcmp(k, "history") == 0)
        return get_u32(c, p, v, 0, 16, &t->history);
    return 1;
}

/* The keys, then lease_cap against max_lease_cap (either may come first).
 * An absent lease_cap follows a smaller max_lease_cap down; a written one
 * above it is an error at the lease_cap. */
static int tap_table(ctx *c, const daq_toml *t, const char *path)
{
    if (walk(c, t, path, tap_key, c->cfg))
        return -1;
    daq_config_tap *tap = &c->cfg->tap;
    if (tap->lease_cap <= tap->max_lease_cap)
        return 0;
    const daq_toml *lc = daq_toml_table_find(t, "lease_cap");
    if (!lc) {
        tap->lease_cap = tap->max_lease_cap;
        return 0;
    }
    return fail(c, daq_toml_pos_of(lc), "tap.lease_cap", "%u is more than tap.max_lease_cap (%u)",
                tap->lease_cap, tap->max_lease_cap);
}

static int consumer_key(ctx *c, const char *k, const char *p, const daq_toml *v, void *dst)
{
    daq_config_consumer *cs = dst;
    if (strcmp(k, "name") == 0)
        return get_str(c, p, v, cs->name, sizeof cs->name);
    if (strcmp(k, "kind") == 0) {
        int i;
        if (get_choice(c, p, v, daq_sink_kind_names, INT_MAX, &i))
            return -1;
        cs->kind = (daq_sink_kind)i;
        return 0;
    }
    if (strcmp(k, "policy") == 0)
        return get_sub_policy(c, p, v, &cs->sub.policy);
    if (strcmp(k, "queue_depth") == 0)
        return get_u32(c, p, v, 1, DAQ_SUB_MAX_DEPTH, &cs->sub.queue_depth);
    if (strcmp(k, "lossless_timeout_ms") == 0)
        return get_u32(c, p, v, 0, 600000, &cs->sub.lossless_timeout_ms);
    if (strcmp(k, "decimate") == 0)
        return get_u32(c, p, v, 1, 1000000, &cs->sub.decimate);
    if (strcmp(k, "max_fps") == 0)
        return get_number(c, p, v, 0, 1e6, &cs->sub.max_fps);
    return 1;
}

static int driver_param(ctx *c, const char *p, const char *key, const daq_toml *v,
                        daq_config_device *d)
{
    if (d->n_params == DAQ_CONFIG_MAX_PARAMS)
        return fail(c, daq_toml_pos_of(v), p, "too many driver parameters (at most %d)",
                    DAQ_CONFIG_MAX_PARAMS);
    daq_config_param *q = &d->params[d->n_params];
    memset(q, 0, sizeof *q);
    if (strlen(key) >= sizeof q->key)
        return fail(c, daq_toml_pos_of(v), p, "parameter name too long");
    strcpy(q->key, key);
    q->pos = daq_toml_pos_of(v);
    switch (daq_toml_type_of(v)) {
    case DAQ_TOML_BOOL:
        q->type = DAQ_CONFIG_BOOL;
        q->b = daq_toml_bool(v);
        break;
    case DAQ_TOML_INTEGER:
        q->type = DAQ_CONFIG_INT;
        q->i = daq_toml_integer(v);
        break;
    case DAQ_TOML_FLOAT:
        q->type = DAQ_CONFIG_FLOAT;
        q->f = daq_toml_float(v);
        break;
    case DAQ_TOML_STRING:
        q->type = DAQ_CONFIG_STRING;
        if (get_str(c, p, v, q->s, sizeof q->s))
            return -1;
        break;
    default:
        return fail(c, q->pos, p, "expected a boolean, number or string, found %s",
                    daq_toml_type_name(daq_toml_type_of(v)));
    }
    d->n_params++;
    return 0;
}

/* A dotted key (`roi.width = 1024`, `fault.jump_prob = 0.05`) is a table in
 * TOML; drivers name such parameters "roi.width", so the table's leaves
 * become parameters under the dotted name, at any depth. */
static int driver_leaf(ctx *c, const char *name, const char *p, const daq_toml *v,
                       daq_config_device *d)
{
    if (daq_toml_type_of(v) != DAQ_TOML_TABLE)
        return driver_param(c, p, name, v, d);
    for (size_t i = 0; i < daq_toml_table_size(v); i++) {
        daq_toml_pos kp;
        const char *key = daq_toml_table_key(v, i, &kp);
        char sub[64], sp[192];
        if ((size_t)snprintf(sub, sizeof sub, "%s.%s", name, key) >= sizeof sub)
            return fail(c, kp, p, "parameter name too long");
        subpath(sp, sizeof sp, p, key);
        if (driver_leaf(c, sub, sp, daq_toml_table_value(v, i), d))
            return -1;
    }
    return 0;
}

static int driver_key(ctx *c, const char *k, const char *p, const daq_toml *v, void *dst)
{
    if (strcmp(k, "type") == 0)
        return 0; /* read before the walk */
    return driver_leaf(c, k, p, v, dst);
}

static int consumers(ctx *c, const char *path, const daq_toml *v, daq_config_device *d)
{
    if (want(c, path, v, DAQ_TOML_ARRAY))
        return -1;
    for (size_t i = 0; i < daq_toml_array_size(v); i++) {
        const daq_toml *t = daq_toml_array_at(v, i);
        char p[192];
        snprintf(p, sizeof p, "%s[%zu]", path, i);
        if (want(c, p, t, DAQ_TOML_TABLE))
            return -1;
        if (d->n_consumers == DAQ_CONFIG_MAX_CONSUMERS)
            return fail(c, daq_toml_pos_of(t), p, "too many consumers (at most %d)",
                        DAQ_CONFIG_MAX_CONSUMERS);
        daq_config_consumer *cs = &d->consumers[d->n_consumers];
        memset(cs, 0, sizeof *cs);
        daq_sub_config_init(&cs->sub);
        cs->pos = daq_toml_pos_of(t);
        snprintf(cs->name, sizeof cs->name, "consumer%zu", i);
        if (walk(c, t, p, consumer_key, cs))
            return -1;
        cs->sub.name = NULL; /* set by the user of the struct: it may be copied */
        for (size_t k = 0; k < d->n_consumers; k++)
            if (strcmp(d->consumers[k].name, cs->name) == 0)
                return fail(c, cs->pos, p, "duplicate consumer name \"%s\"", cs->name);
        d->n_consumers++;
    }
    return 0;
}

static int device_key(ctx *c, const char *k, const char *p, const daq_toml *v, void *dst)
{
    daq_config_device *d = dst;
    if (strcmp(k, "id") == 0 || strcmp(k, "driver") == 0)
        return 0; /* read before the walk */
    if (strcmp(k, "name") == 0)
        return get_str(c, p, v, d->name, sizeof d->name);
    if (strcmp(k, "autostart") == 0)
        return get_bool(c, p, v, &d->autostart);
    if (strcmp(k, "consumers") == 0)
        return consumers(c, p, v, d);
    return 1;
}

/* A string key a table must have. */
static const daq_toml *required(ctx *c, const daq_toml *t, const char *key, const char *path)
{
    const daq_toml *v = daq_toml_table_find(t, key);
    if (!v)
        fail(c, daq_toml_pos_of(t), path, "missing required key '%s'", key);
    return v;
}

static int device(ctx *c, const daq_toml *t, size_t index)
{
    char path[96];
    snprintf(path, sizeof path, "devices[%zu]", index);
    if (want(c, path, t, DAQ_TOML_TABLE))
        return -1;
    daq_config_device tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.pos = daq_toml_pos_of(t);
    char p[128];
    const daq_toml *id = required(c, t, "id", path);
    if (!id || get_str(c, subpath(p, sizeof p, path, "id"), id, tmp.id, sizeof tmp.id))
        return -1;
    if (!tmp.id[0])
        return fail(c, daq_toml_pos_of(id), p, "device id must not be empty");
    snprintf(path, sizeof path, "devices.%s", tmp.id);
    const daq_toml *drv = required(c, t, "driver", path);
    if (!drv || want(c, subpath(p, sizeof p, path, "driver"), drv, DAQ_TOML_TABLE))
        return -1;
    const daq_toml *type = required(c, drv, "type", p);
    char tp[160];
    if (!type || get_str(c, subpath(tp, sizeof tp, p, "type"), type, tmp.type, sizeof tmp.type))
        return -1;
    if (!daq_camera_type_known(tmp.type)) {
        /* rust-daq's other devices: stages, meters, lasers.  Not ours. */
        warn_skipped(c, tmp.pos, tmp.id, tmp.type);
        c->cfg->n_skipped++;
        return 0;
    }
    if (daq_config_device_find(c->cfg, tmp.id))
        return fail(c, daq_toml_pos_of(id), path, "duplicate device id \"%s\"", tmp.id);
    if (c->cfg->n_devices == DAQ_CONFIG_MAX_DEVICES)
        return fail(c, tmp.pos, path, "too many camera devices (at most %d)",
                    DAQ_CONFIG_MAX_DEVICES);
    snprintf(tmp.name, sizeof tmp.name, "%s", tmp.id);
    if (walk(c, t, path, device_key, &tmp) || walk(c, drv, p, driver_key, &tmp))
        return -1;
    c->cfg->devices[c->cfg->n_devices++] = tmp;
    return 0;
}

/* ---- [[sync_groups]] ------------------------------------------------------------ */

static int sync_key(ctx *c, const char *k, const char *p, const daq_toml *v, void *dst)
{
    daq_config_sync_group *sg = dst;
    if (strcmp(k, "name") == 0)
        return 0; /* read before the walk */
    if (strcmp(k, "line") == 0) {
        if (get_str(c, p, v, sg->line, sizeof sg->line))
            return -1;
        return sg->line[0] ? 0 : fail(c, daq_toml_pos_of(v), p, "must not be empty");
    }
    if (strcmp(k, "match_timeout_ms") == 0)
        return get_u32(c, p, v, 1, 3600000, &sg->match_timeout_ms);
    if (strcmp(k, "devices") == 0) {
        if (want(c, p, v, DAQ_TOML_ARRAY))
            return -1;
        sg->devices_pos = daq_toml_pos_of(v);
        size_t n = daq_toml_array_size(v);
        if (n > DAQ_CONFIG_MAX_SYNC_MEMBERS)
            return fail(c, daq_toml_pos_of(v), p, "%zu devices (at most %d)", n,
                        DAQ_CONFIG_MAX_SYNC_MEMBERS);
        for (size_t i = 0; i < n; i++) {
            const daq_toml *e = daq_toml_array_at(v, i);
            char ep[224];
            snprintf(ep, sizeof ep, "%s[%zu]", p, i);
            if (get_str(c, ep, e, sg->devices[i], sizeof sg->devices[i]))
                return -1;
            sg->device_pos[i] = daq_toml_pos_of(e);
            for (size_t j = 0; j < i; j++)
                if (strcmp(sg->devices[j], sg->devices[i]) == 0)
                    return fail(c, sg->device_pos[i], ep, "device \"%s\" is named twice",
                                sg->devices[i]);
        }
        sg->n_devices = n;
        return 0;
    }
    return 1;
}

/* The group's own keys; devices are checked against the file's cameras in
 * check_sync_groups, once every [[devices]] entry is read. */
static int sync_group(ctx *c, const daq_toml *t, size_t index)
{
    char path[96];
    snprintf(path, sizeof path, "sync_groups[%zu]", index);
    if (want(c, path, t, DAQ_TOML_TABLE))
        return -1;
    if (c->cfg->n_sync_groups == DAQ_CONFIG_MAX_SYNC_GROUPS)
        return fail(c, daq_toml_pos_of(t), path, "too many sync groups (at most %d)",
                    DAQ_CONFIG_MAX_SYNC_GROUPS);
    daq_config_sync_group *sg = &c->cfg->sync_groups[c->cfg->n_sync_groups];
    memset(sg, 0, sizeof *sg);
    sg->pos = daq_toml_pos_of(t);
    sg->match_timeout_ms = 1000;
    char p[128];
    const daq_toml *name = required(c, t, "name", path);
    if (!name || get_str(c, subpath(p, sizeof p, path, "name"), name, sg->name, sizeof sg->name))
        return -1;
    sg->name_pos = daq_toml_pos_of(name);
    if (!sg->name[0])
        return fail(c, sg->name_pos, p, "sync group name must not be empty");
    for (size_t i = 0; i < c->cfg->n_sync_groups; i++)
        if (strcmp(c->cfg->sync_groups[i].name, sg->name) == 0)
            return fail(c, sg->name_pos, p, "duplicate sync group name \"%s\"", sg->name);
    snprintf(path, sizeof path, "sync_groups.%s", sg->name);
    if (!daq_toml_table_find(t, "devices"))
        return fail(c, sg->pos, path, "missing required key 'devices'");
    if (walk(c, t, path, sync_key, sg))
        return -1;
    if (sg->n_devices < 2)
        return fail(c, sg->devices_pos, subpath(p, sizeof p, path, "devices"),
                    "a sync group needs at least 2 devices, found %zu", sg->n_devices);
    c->cfg->n_sync_groups++;
    return 0;
}

static const daq_config_param *find_param(const daq_config_device *d, const char *key)
{
    for (size_t i = 0; i < d->n_params; i++)
        if (strcmp(d->params[i].key, key) == 0)
            return &d->params[i];
    return NULL;
}

/* Each member a camera of the file, in one group only; a sim member's own
 * trigger.line, when set, must be the group's line. */
static int check_sync_groups(ctx *c)
{
    const daq_config *g = c->cfg;
    for (size_t i = 0; i < g->n_sync_groups; i++) {
        const daq_config_sync_group *sg = &g->sync_groups[i];
        for (size_t k = 0; k < sg->n_devices; k++) {
            char p[224];
            snprintf(p, sizeof p, "sync_groups.%s.devices[%zu]", sg->name, k);
            const daq_config_device *d = daq_config_device_find(g, sg->devices[k]);
            if (!d)
                return fail(c, sg->device_pos[k], p, "no camera device \"%s\" in this file",
                            sg->devices[k]);
            for (size_t j = 0; j < i; j++)
                for (size_t m = 0; m < g->sync_groups[j].n_devices; m++)
                    if (strcmp(g->sync_groups[j].devices[m], sg->devices[k]) == 0)
                        return fail(c, sg->device_pos[k], p,
                                    "device \"%s\" is already in sync group \"%s\"", sg->devices[k],
                                    g->sync_groups[j].name);
            const daq_config_param *tl = find_param(d, "trigger.line");
            if (sg->line[0] && tl && tl->type == DAQ_CONFIG_STRING && strcmp(tl->s, sg->line)) {
                snprintf(p, sizeof p, "devices.%s.driver.trigger.line", d->id);
                return fail(c, tl->pos, p,
                            "\"%s\" is not the line of its sync group \"%s\" (\"%s\")", tl->s,
                            sg->name, sg->line);
            }
        }
    }
    return 0;
}

static int top_key(ctx *c, const char *k, const char *p, const daq_toml *v, void *dst)
{
    (void)dst;
    if (strcmp(k, "devices") == 0) {
        if (want(c, p, v, DAQ_TOML_ARRAY))
            return -1;
        for (size_t i = 0; i < daq_toml_array_size(v); i++)
            if (device(c, daq_toml_array_at(v, i), i))
                return -1;
        return 0;
    }
    if (strcmp(k, "plugin_paths") == 0)
        return want(c, p, v, DAQ_TOML_ARRAY); /* rust-daq's YAML plugins: not used */
    if (strcmp(k, "sync_groups") == 0) {
        if (want(c, p, v, DAQ_TOML_ARRAY))
            return -1;
        for (size_t i = 0; i < daq_toml_array_size(v); i++)
            if (sync_group(c, daq_toml_array_at(v, i), i))
                return -1;
        return 0;
    }
    static const struct {
        const char *name;
        key_fn fn;
    } tables[] = {
        {"pool", pool_key},         {"acquisition", acq_key},   {"server", server_key},
        {"log", log_key},           {"storage", storage_key},   {"limits", limits_key},
        {"security", security_key}, {"recovery", recovery_key}, {"rollback", rollback_key}};
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
        if (strcmp(k, tables[i].name) == 0)
            return want(c, p, v, DAQ_TOML_TABLE) ? -1 : walk(c, v, p, tables[i].fn, c->cfg);
    if (strcmp(k, "tap") == 0)
        return want(c, p, v, DAQ_TOML_TABLE) ? -1 : tap_table(c, v, p);
    return 1;
}

/* ---- entry points ------------------------------------------------------------------ */

void daq_config_limits_init(daq_config_limits *l)
{
    *l = (daq_config_limits){.memory_mb = 0,
                             .streams = 8,
                             .subscribers = 4096,
                             .connections = 256,
                             .stall_timeout_ms = 10000,
                             .keepalive_ms = 30000,
                             .workers = 4};
}

void daq_config_recovery_init(daq_config_recovery *r)
{
    *r = (daq_config_recovery){
        .enabled = true, .initial_ms = 500, .max_ms = 30000, .factor = 2.0, .max_attempts = 0};
}

void daq_config_rollback_init(daq_config_rollback *r)
{
    *r = (daq_config_rollback){.enabled = true,
                               .interval_ms = 1000,
                               .window_s = 60,
                               .warmup_s = 30,
                               .clear_s = 10,
                               .exhaustion_per_min = 0,
                               .avg_alloc_us = 1000,
                               .frame_loss = 0,
                               .rss_warn_pct = 10,
                               .rss_rollback_pct = 20,
                               .auto_rollback = false,
                               .auto_after_s = 5};
}

void daq_config_defaults(daq_config *g)
{
    memset(g, 0, sizeof *g);
    daq_acq_config_init(&g->acq); /* [pool] and [acquisition]: the engine's defaults */
    snprintf(g->bind, sizeof g->bind, "127.0.0.1");
    g->port = 50051;
    g->metrics_port = 9091;
    g->security.http_tls = -1;
    g->max_streams_per_client = 3;
    g->compression_lz4 = true;
    daq_config_limits_init(&g->limits);
    daq_config_recovery_init(&g->recovery);
    daq_config_rollback_init(&g->rollback);
    g->tap = (daq_config_tap){.enabled = false, /* path "" = the runtime dir's default */
                              .mode = 0660,
                              .max_readers = 4,
                              .lease_cap = 4,
                              .max_lease_cap = 8,
                              .lease_timeout_ms = 5000,
                              .history = 0};
    daq_config_storage *s = &g->storage; /* rust-daq's HDF5Config defaults */
    snprintf(s->root, sizeof s->root, "data");
    snprintf(s->compression, sizeof s->compression, "gzip");
    s->compression_level = 4;
    s->chunk_size = 4096;
    snprintf(s->filename_pattern, sizeof s->filename_pattern, "{name}_{timestamp}.h5");
    s->include_timestamps = true;
    s->include_device_metadata = true;
    s->flush_interval_ms = 1000;
    s->max_buffer_mb = 256;
    s->workers = 0;
}

static int load_doc(daq_toml *doc, daq_config *cfg, char *err, size_t err_len)
{
    ctx c = {cfg, err, err_len};
    int rc = walk(&c, doc, "", top_key, NULL);
    if (rc == 0)
        rc = check_sync_groups(&c); /* [[sync_groups]] may come before [[devices]] */
    daq_toml_free(doc);
    return rc;
}

int daq_config_load_text(const char *text, size_t len, const char *name, daq_config *cfg, char *err,
                         size_t err_len)
{
    daq_config_defaults(cfg);
    snprintf(cfg->path, sizeof cfg->path, "%s", name ? name : "<config>");
    daq_toml *doc = daq_toml_parse(text, len, cfg->path, err, err_len);
    return doc ? load_doc(doc, cfg, err, err_len) : -1;
}

int daq_config_load(const char *path, daq_config *cfg, char *err, size_t err_len)
{
    daq_config_defaults(cfg);
    snprintf(cfg->path, sizeof cfg->path, "%s", path);
    daq_toml *doc = daq_toml_parse_file(path, err, err_len);
    return doc ? load_doc(doc, cfg, err, err_len) : -1;
}

const daq_config_device *daq_config_device_find(const daq_config *cfg, const char *id)
{
    for (size_t i = 0; i < cfg->n_devices; i++)
        if (strcmp(cfg->devices[i].id, id) == 0)
            return &cfg->devices[i];
    return NULL;
}
