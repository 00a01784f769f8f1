/* daqd/baseline.c - the pilot's baseline file: written after a run
 * (--save-baseline), read back strictly before a later run (--baseline).
 *
 * Why a reader of its own: the file is ours and small (~2 KiB), and daqd
 * takes no JSON library for it.  The reader is a strict JSON parser (RFC
 * 8259 syntax; duplicate keys, trailing garbage, > 16 levels, > 256 leaves
 * or > 1 MiB refused) that flattens leaves to dotted paths
 * ("pool_off.fps", "machine.hostname"); the loader then demands each
 * member it needs with its type, so a truncated, hand-broken or foreign
 * file is an error that names the file and what is wrong, never a silent
 * comparison against zeros.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daqd/facts.h"
#include "daqd/pilot.h"

#define BASELINE_FORMAT "daqd-pilot-baseline/1"

/* ---- writing --------------------------------------------------------------------------- */

void daqd_pilot_figures_json(FILE *f, const daqd_pilot_figures *k)
{
    fprintf(f,
            "{\"pool\": %s, \"seconds\": %.6g, \"frames\": %lu, \"fps\": %.6g, \"hit_pct\": %.6g, "
            "\"lost\": %lu, \"alloc_dropped\": %lu",
            k->pool ? "true" : "false", k->seconds, (unsigned long)k->frames, k->fps, k->hit_pct,
            (unsigned long)k->lost, (unsigned long)k->alloc_dropped);
    for (int i = 0; i < DAQD_PILOT_CONSUMERS; i++)
        fprintf(f,
                ", \"%s\": {\"receipts\": %lu, \"p50_us\": %.6g, \"p99_us\": %.6g, "
                "\"stalls\": %lu}",
                daqd_pilot_consumer_names[i], (unsigned long)k->c[i].receipts, k->c[i].p50_us,
                k->c[i].p99_us, (unsigned long)k->c[i].stalls);
    fputc('}', f);
}

int daqd_pilot_baseline_save(const char *path, const char *device, const char *config_path,
                             const daqd_pilot_result *r, char *err, size_t err_len)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        snprintf(err, err_len, "baseline %s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    fprintf(f, "{\n  \"format\": \"%s\",\n  \"checkpoint\": \"pilot\",\n  \"device\": \"%s\",\n",
            BASELINE_FORMAT, device);
    fprintf(f, "  \"pool_on\": ");
    daqd_pilot_figures_json(f, &r->on);
    fprintf(f, ",\n  \"pool_off\": ");
    daqd_pilot_figures_json(f, &r->off);
    fprintf(f, ",\n");
    int rc = daqd_facts_json(f, "  ", config_path);
    fprintf(f, "}\n");
    if (fclose(f) != 0 || rc != 0 || rename(tmp, path) != 0) {
        snprintf(err, err_len, "baseline %s: cannot write: %s", path, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}

/* ---- a strict, flattening JSON reader ------------------------------------------------- */

#define MAX_LEAVES 256
#define MAX_DEPTH  16

typedef enum { J_STR, J_NUM, J_BOOL, J_NULL } jtype;

typedef struct leaf {
    char path[128];
    jtype type;
    char text[256]; /* string contents (unescaped) or the literal */
} leaf;

typedef struct parser {
    const char *s, *end;
    leaf *leaves;
    size_t n;
    char why[160];
} parser;

static int fail(parser *p, const char *fmt, ...)
{
    if (!p->why[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->why, sizeof p->why, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static void skip_ws(parser *p)
{
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
        p->s++;
}

static size_t offset_of(const parser *p, const char *base)
{
    return (size_t)(p->s - base);
}

/* A string at p->s into out (UTF-8 kept, \u escapes above 0x7f as '?'). */
static int parse_string(parser *p, char *out, size_t out_len)
{
    if (p->s >= p->end || *p->s != '"')
        return fail(p, "expected a string");
    p->s++;
    size_t n = 0;
    while (p->s < p->end && *p->s != '"') {
        unsigned char c = (unsigned char)*p->s++;
        if (c < 0x20)
            return fail(p, "control character in a string");
        if (c == '\\') {
            if (p->s >= p->end)
                break;
            char e = *p->s++;
            const char *map = strchr("\"\"\\\\//b\bf\fn\nr\rt\t", e);
            if (e == 'u') {
                unsigned v = 0;
                for (int i = 0; i < 4; i++, p->s++) {
                    if (p->s >= p->end || !isxdigit((unsigned char)*p->s))
                        return fail(p, "bad \\u escape");
                    v = v * 16 + (unsigned)(isdigit((unsigned char)*p->s)
                                                ? *p->s - '0'
                                                : (tolower((unsigned char)*p->s) - 'a' + 10));
                }
                c = v < 0x80 ? (unsigned char)v : '?';
            } else if (map && ((map - "\"\"\\\\//b\bf\fn\nr\rt\t") % 2 == 0)) {
                c = (unsigned char)map[1];
            } else {
                return fail(p, "bad escape \\%c", e);
            }
        }
        if (n + 1 < out_len)
            out[n++] = (char)c;
    }
    if (p->s >= p->end)
        return fail(p, "unterminated string");
    p->s++;
    out[n] = '\0';
    return 0;
}

static int add_leaf(parser *p, const char *path, jtype t, const char *text, size_t len)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->leaves[i].path, path) == 0)
            return fail(p, "duplicate member \"%s\"", path);
    if (p->n == MAX_LEAVES)
        return fail(p, "more than %d values", MAX_LEAVES);
    leaf *l = &p->leaves[p->n++];
    snprintf(l->path, sizeof l->path, "%s", path);
    l->type = t;
    snprintf(l->text, sizeof l->text, "%.*s", (int)len, text);
    return 0;
}

static int parse_value(parser *p, const char *path, int depth);

static int parse_container(parser *p, const char *path, int depth, bool object)
{
    if (depth > MAX_DEPTH)
        return fail(p, "nested deeper than %d", MAX_DEPTH);
    p->s++; /* { or [ */
    skip_ws(p);
    char close = object ? '}' : ']';
    if (p->s < p->end && *p->s == close) {
        p->s++;
        return 0;
    }
    for (unsigned i = 0;; i++) {
        char key[96], sub[128];
        skip_ws(p);
        if (object) {
            if (parse_string(p, key, sizeof key) != 0)
                return -1;
            skip_ws(p);
            if (p->s >= p->end || *p->s++ != ':')
                return fail(p, "expected ':' after \"%s\"", key);
        } else {
            snprintf(key, sizeof key, "%u", i);
        }
        snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", key);
        if (parse_value(p, sub, depth + 1) != 0)
            return -1;
        skip_ws(p);
        if (p->s < p->end && *p->s == ',') {
            p->s++;
            continue;
        }
        if (p->s < p->end && *p->s == close) {
            p->s++;
            return 0;
        }
        return fail(p, "expected ',' or '%c'", close);
    }
}

static int parse_value(parser *p, const char *path, int depth)
{
    skip_ws(p);
    if (p->s >= p->end)
        return fail(p, "unexpected end of file");
    char c = *p->s;
    if (c == '{' || c == '[')
        return parse_container(p, path, depth, c == '{');
    if (c == '"') {
        char text[256];
        return parse_string(p, text, sizeof text) == 0
                   ? add_leaf(p, path, J_STR, text, strlen(text))
                   : -1;
    }
    static const struct {
        const char *word;
        jtype type;
    } words[] = {{"true", J_BOOL}, {"false", J_BOOL}, {"null", J_NULL}};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(words[i].word);
        if ((size_t)(p->end - p->s) >= n && memcmp(p->s, words[i].word, n) == 0) {
            p->s += n;
            return add_leaf(p, path, words[i].type, words[i].word, n);
        }
    }
    /* number: -?(0|[1-9]d*)(.d+)?([eE][+-]?d+)? */
    const char *start = p->s;
    if (p->s < p->end && *p->s == '-')
        p->s++;
    size_t digits = 0;
    while (p->s < p->end && isdigit((unsigned char)*p->s))
        p->s++, digits++;
    if (!digits || (digits > 1 && start[*start == '-'] == '0'))
        return fail(p, "bad value");
    if (p->s < p->end && *p->s == '.') {
        p->s++;
        for (digits = 0; p->s < p->end && isdigit((unsigned char)*p->s); p->s++)
            digits++;
        if (!digits)
            return fail(p, "bad number");
    }
    if (p->s < p->end && (*p->s == 'e' || *p->s == 'E')) {
        p->s++;
        if (p->s < p->end && (*p->s == '+' || *p->s == '-'))
            p->s++;
        for (digits = 0; p->s < p->end && isdigit((unsigned char)*p->s); p->s++)
            digits++;
        if (!digits)
            return fail(p, "bad number");
    }
    return add_leaf(p, path, J_NUM, start, (size_t)(p->s - start));
}

static const leaf *find(const parser *p, const char *path)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->leaves[i].path, path) == 0)
            return &p->leaves[i];
    return NULL;
}

/* Member path as a string (null allowed when nullable: ""). */
static int get_str(parser *p, const char *path, bool nullable, char *out, size_t out_len)
{
    const leaf *l = find(p, path);
    if (l && l->type == J_STR)
        return snprintf(out, out_len, "%s", l->text), 0;
    if (l && l->type == J_NULL && nullable)
        return snprintf(out, out_len, "%s", ""), 0;
    return fail(p, l ? "\"%s\" is not a string" : "\"%s\" is missing", path);
}

static int get_num(parser *p, const char *path, double *out)
{
    const leaf *l = find(p, path);
    if (!l || l->type != J_NUM)
        return fail(p, l ? "\"%s\" is not a number" : "\"%s\" is missing", path);
    *out = strtod(l->text, NULL);
    if (!isfinite(*out) || *out < 0)
        return fail(p, "\"%s\" is out of range", path);
    return 0;
}

static int get_kind(parser *p, const char *kind, daqd_pilot_figures *k)
{
    char path[128];
    double v;
    int rc = 0;
#define NUM(member, field)                                                                         \
    snprintf(path, sizeof path, "%s.%s", kind, member);                                            \
    rc |= get_num(p, path, &v);                                                                    \
    field = v
    NUM("seconds", k->seconds);
    NUM("frames", k->frames);
    NUM("fps", k->fps);
    for (int i = 0; i < DAQD_PILOT_CONSUMERS; i++) {
        char member[64];
        snprintf(member, sizeof member, "%s.p50_us", daqd_pilot_consumer_names[i]);
        NUM(member, k->c[i].p50_us);
        snprintf(member, sizeof member, "%s.p99_us", daqd_pilot_consumer_names[i]);
        NUM(member, k->c[i].p99_us);
    }
#undef NUM
    if (rc == 0 && !(k->fps > 0))
        return fail(p, "\"%s.fps\" is not positive", kind);
    return rc;
}

static char *read_all(const char *path, size_t *len, char *err, size_t err_len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_len, "baseline %s: cannot read: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 20;
    char *buf = malloc(cap + 1);
    *len = buf ? fread(buf, 1, cap + 1, f) : 0;
    bool bad = !buf || ferror(f) || *len > cap;
    fclose(f);
    if (bad) {
        snprintf(err, err_len, "baseline %s: cannot read: %s", path,
                 buf && *len > cap ? "larger than 1 MiB" : "I/O error");
        free(buf);
        return NULL;
    }
    return buf;
}

int daqd_pilot_baseline_load(const char *path, const char *device, daqd_pilot_baseline *out,
                             char *err, size_t err_len)
{
    memset(out, 0, sizeof *out);
    size_t len;
    char *buf = read_all(path, &len, err, err_len);
    if (!buf)
        return -1;
    static leaf leaves[MAX_LEAVES];
    parser p = {.s = buf, .end = buf + len, .leaves = leaves};
    int rc = 0;
    skip_ws(&p);
    if (p.s >= p.end || *p.s != '{')
        rc = fail(&p, "not a JSON object");
    else
        rc = parse_value(&p, "", 0);
    skip_ws(&p);
    if (rc == 0 && p.s != p.end)
        rc = fail(&p, "trailing characters");
    if (rc != 0) {
        snprintf(err, err_len, "baseline %s: malformed at byte %zu: %s", path, offset_of(&p, buf),
                 p.why);
        free(buf);
        return -1;
    }
    free(buf);
    char format[64] = "", checkpoint[32] = "", digest[80];
    double cpus = 0;
    rc |= get_str(&p, "format", false, format, sizeof format);
    if (rc == 0 && strcmp(format, BASELINE_FORMAT) != 0)
        rc = fail(&p, "format \"%s\" is not %s", format, BASELINE_FORMAT);
    rc |= get_str(&p, "checkpoint", false, checkpoint, sizeof checkpoint);
    if (rc == 0 && strcmp(checkpoint, "pilot") != 0)
        rc = fail(&p, "checkpoint \"%s\" is not pilot", checkpoint);
    rc |= get_str(&p, "device", false, out->device, sizeof out->device);
    if (rc == 0 && strcmp(out->device, device) != 0)
        rc = fail(&p, "device \"%s\" is not %s", out->device, device);
    rc |= get_kind(&p, "pool_on", &out->on);
    rc |= get_kind(&p, "pool_off", &out->off);
    rc |= get_str(&p, "config_digest", true, digest, sizeof digest);
    snprintf(out->config_digest, sizeof out->config_digest, "%s", digest);
    rc |= get_str(&p, "machine.hostname", false, out->hostname, sizeof out->hostname);
    rc |= get_str(&p, "machine.kernel", false, out->kernel, sizeof out->kernel);
    rc |= get_str(&p, "machine.cpu_model", false, out->cpu_model, sizeof out->cpu_model);
    rc |= get_num(&p, "machine.cpus", &cpus);
    out->cpus = (long)cpus;
    rc |= get_str(&p, "versions.git", false, out->git, sizeof out->git);
    rc |= get_str(&p, "versions.build_type", false, out->build_type, sizeof out->build_type);
    out->on.pool = true;
    if (rc != 0) {
        snprintf(err, err_len, "baseline %s: %s", path, p.why);
        return -1;
    }
    return 0;
}

/* ---- honesty ------------------------------------------------------------------------------ */

void daqd_pilot_facts_now(const char *config_path, daqd_pilot_baseline *out)
{
    /* The same writer as every report, read back: one definition of a fact. */
    memset(out, 0, sizeof *out);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return;
    fputc('{', f);
    daqd_facts_json(f, "", config_path);
    fputc('}', f);
    fclose(f);
    static leaf leaves[MAX_LEAVES];
    parser p = {.s = text, .end = text + len, .leaves = leaves};
    if (parse_value(&p, "", 0) == 0) {
        double cpus = 0;
        get_str(&p, "config_digest", true, out->config_digest, sizeof out->config_digest);
        get_str(&p, "machine.hostname", false, out->hostname, sizeof out->hostname);
        get_str(&p, "machine.kernel", false, out->kernel, sizeof out->kernel);
        get_str(&p, "machine.cpu_model", false, out->cpu_model, sizeof out->cpu_model);
        get_num(&p, "machine.cpus", &cpus);
        out->cpus = (long)cpus;
        get_str(&p, "versions.git", false, out->git, sizeof out->git);
        get_str(&p, "versions.build_type", false, out->build_type, sizeof out->build_type);
    }
    free(text);
}

int daqd_pilot_baseline_differences(const daqd_pilot_baseline *a, const daqd_pilot_baseline *b,
                                    char *out, size_t out_len)
{
    const struct {
        const char *what, *x, *y;
    } facts[] = {
        {"machine (hostname)", a->hostname, b->hostname},
        {"machine (cpu_model)", a->cpu_model, b->cpu_model},
        {"machine (kernel)", a->kernel, b->kernel},
        {"config (config_digest)", a->config_digest, b->config_digest},
        {"build (git)", a->git, b->git},
        {"build (build_type)", a->build_type, b->build_type},
    };
    int n = 0;
    size_t w = 0;
    *out = '\0';
    for (size_t i = 0; i < sizeof facts / sizeof facts[0]; i++) {
        bool differ = strcmp(facts[i].x, facts[i].y) != 0;
        if (i == 1 && a->cpus != b->cpus)
            differ = true;
        if (!differ)
            continue;
        n++;
        if (w < out_len)
            w += (size_t)snprintf(out + w, out_len - w, "%s%s: '%s' vs '%s'", w ? "; " : "",
                                  facts[i].what, facts[i].x, facts[i].y);
    }
    return n;
}
