/* camera/param.c - typed parameter values: constructors, checking against a
 * descriptor, parsing from config text and writing as JSON.
 *
 * Conversions are allowed only where nothing can be lost (int -> float when
 * the double holds the integer exactly, an integral float -> int, a string
 * -> enum when it is one of the listed names), so a config value never
 * silently changes meaning on its way into a driver.  Every message names
 * the parameter first ("exposure_ms: ..."), because the caller (daemon,
 * config loader) passes it straight to a user.
 *
 * Parsing is driven by the descriptor's type: a bare word is a string only
 * for STRING and ENUM parameters, so "12" for a string parameter stays the
 * text "12" and "abc" for a number is an error, not a string that fails
 * later with a less helpful message.
 */
#include "daq/camera.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/fatal.h"
#include "util/text.h"

const char *daq_param_type_name(daq_param_type t)
{
    switch (t) {
    case DAQ_PARAM_BOOL: return "bool";
    case DAQ_PARAM_INT: return "int";
    case DAQ_PARAM_FLOAT: return "float";
    case DAQ_PARAM_STRING: return "string";
    case DAQ_PARAM_ENUM: return "enum";
    }
    return "unknown";
}

daq_param_value daq_param_bool(bool b)
{
    daq_param_value v = {.type = DAQ_PARAM_BOOL, .b = b};
    return v;
}

daq_param_value daq_param_int(int64_t i)
{
    daq_param_value v = {.type = DAQ_PARAM_INT, .i = i};
    return v;
}

daq_param_value daq_param_float(double f)
{
    daq_param_value v = {.type = DAQ_PARAM_FLOAT, .f = f};
    return v;
}

daq_param_value daq_param_string(const char *s)
{
    daq_param_value v = {.type = DAQ_PARAM_STRING};
    if (s) {
        size_t n = strnlen(s, DAQ_PARAM_STR_MAX - 1);
        memcpy(v.s, s, n);
        v.s[n] = '\0';
    }
    return v;
}

/* A double as short as it can be written and still read back exactly. */
static void fmt_double(char *buf, size_t len, double f)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, f);
        if (strtod(buf, NULL) == f)
            return;
    }
}

/* The value as a user would have written it, for messages. */
static void fmt_value(const daq_param_value *v, char *buf, size_t len)
{
    switch (v->type) {
    case DAQ_PARAM_BOOL: snprintf(buf, len, "%s", v->b ? "true" : "false"); break;
    case DAQ_PARAM_INT: snprintf(buf, len, "%" PRId64, v->i); break;
    case DAQ_PARAM_FLOAT: fmt_double(buf, len, v->f); break;
    case DAQ_PARAM_STRING:
    case DAQ_PARAM_ENUM: snprintf(buf, len, "'%s'", v->s); break;
    default: snprintf(buf, len, "?"); break;
    }
}

static void fmt_enum_list(const daq_param_desc *d, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; d->enum_values && d->enum_values[i]; i++) {
        int n = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", d->enum_values[i]);
        if (n < 0 || (size_t)n >= len - used)
            break;
        used += (size_t)n;
    }
}

/* 2^63 as a double: the first value outside int64_t. */
#define TWO_POW_63 9223372036854775808.0

static int to_int(const daq_param_desc *d, const daq_param_value *in, daq_param_value *out,
                  char *err, size_t err_len)
{
    char got[64];
    if (in->type == DAQ_PARAM_INT) {
        *out = *in;
        return 0;
    }
    if (in->type == DAQ_PARAM_FLOAT) {
        double f = in->f;
        if (isfinite(f) && f == floor(f) && f >= -TWO_POW_63 && f < TWO_POW_63) {
            *out = daq_param_int((int64_t)f);
            return 0;
        }
        fmt_value(in, got, sizeof got);
        return daq_err(err, err_len, "%s: %s is not an integer", d->name, got);
    }
    fmt_value(in, got, sizeof got);
    return daq_err(err, err_len, "%s: expected int, got %s %s", d->name,
                   daq_param_type_name(in->type), got);
}

static int to_float(const daq_param_desc *d, const daq_param_value *in, daq_param_value *out,
                    char *err, size_t err_len)
{
    char got[64];
    if (in->type == DAQ_PARAM_FLOAT) {
        if (!isfinite(in->f)) {
            fmt_value(in, got, sizeof got);
            return daq_err(err, err_len, "%s: %s is not a finite number", d->name, got);
        }
        *out = *in;
        return 0;
    }
    if (in->type == DAQ_PARAM_INT) {
        double f = (double)in->i;
        /* Exact only up to 2^53; beyond that the double may differ. */
        if (f >= TWO_POW_63 || (int64_t)f != in->i) {
            fmt_value(in, got, sizeof got);
            return daq_err(err, err_len, "%s: %s cannot be represented exactly as a float", d->name,
                           got);
        }
        *out = daq_param_float(f);
        return 0;
    }
    fmt_value(in, got, sizeof got);
    return daq_err(err, err_len, "%s: expected float, got %s %s", d->name,
                   daq_param_type_name(in->type), got);
}

static int check_range(const daq_param_desc *d, const daq_param_value *v, char *err, size_t err_len)
{
    if (!(d->flags & DAQ_PARAM_HAS_RANGE))
        return 0;
    bool ok;
    if (v->type == DAQ_PARAM_INT)
        ok = (double)v->i >= d->min && (double)v->i <= d->max;
    else
        ok = v->f >= d->min && v->f <= d->max;
    if (ok)
        return 0;
    char got[64], lo[32], hi[32];
    fmt_value(v, got, sizeof got);
    fmt_double(lo, sizeof lo, d->min);
    fmt_double(hi, sizeof hi, d->max);
    return daq_err(err, err_len, "%s: %s is out of range [%s, %s]", d->name, got, lo, hi);
}

int daq_param_coerce(const daq_param_desc *d, daq_param_value *v, char *err, size_t err_len)
{
    if (!d || !v)
        return daq_err(err, err_len, "daq_param_coerce: no descriptor or value");
    daq_param_value out;
    char got[DAQ_PARAM_STR_MAX + 8];
    switch (d->type) {
    case DAQ_PARAM_BOOL:
        if (v->type != DAQ_PARAM_BOOL) {
            fmt_value(v, got, sizeof got);
            return daq_err(err, err_len, "%s: expected bool, got %s %s", d->name,
                           daq_param_type_name(v->type), got);
        }
        out = *v;
        break;
    case DAQ_PARAM_INT:
        if (to_int(d, v, &out, err, err_len) < 0 || check_range(d, &out, err, err_len) < 0)
            return -1;
        break;
    case DAQ_PARAM_FLOAT:
        if (to_float(d, v, &out, err, err_len) < 0 || check_range(d, &out, err, err_len) < 0)
            return -1;
        break;
    case DAQ_PARAM_STRING:
        if (v->type != DAQ_PARAM_STRING && v->type != DAQ_PARAM_ENUM) {
            fmt_value(v, got, sizeof got);
            return daq_err(err, err_len, "%s: expected string, got %s %s", d->name,
                           daq_param_type_name(v->type), got);
        }
        out = *v;
        out.type = DAQ_PARAM_STRING;
        break;
    case DAQ_PARAM_ENUM: {
        char list[256];
        fmt_enum_list(d, list, sizeof list);
        if (v->type != DAQ_PARAM_STRING && v->type != DAQ_PARAM_ENUM) {
            fmt_value(v, got, sizeof got);
            return daq_err(err, err_len, "%s: expected one of %s, got %s %s", d->name, list,
                           daq_param_type_name(v->type), got);
        }
        bool found = false;
        for (size_t i = 0; d->enum_values && d->enum_values[i]; i++)
            if (strcmp(d->enum_values[i], v->s) == 0)
                found = true;
        if (!found)
            return daq_err(err, err_len, "%s: '%s' is not one of %s", d->name, v->s, list);
        out = *v;
        out.type = DAQ_PARAM_ENUM;
        break;
    }
    default:
        return daq_err(err, err_len, "%s: descriptor has unknown type %d", d->name, (int)d->type);
    }
    *v = out;
    return 0;
}

int daq_param_validate(const daq_param_desc *d, bool streaming, const daq_param_value *v,
                       const char *text, daq_param_value *out, char *err, size_t err_len)
{
    if (!d)
        return daq_err(err, err_len, "no parameter descriptor");
    if (!(d->flags & DAQ_PARAM_WRITABLE))
        return daq_err(err, err_len, "%s: parameter is read-only", d->name);
    if (streaming && !(d->flags & DAQ_PARAM_LIVE))
        return daq_err(err, err_len, "%s: cannot change while streaming", d->name);
    if (text)
        return daq_param_parse(d, text, out, err, err_len);
    if (!v)
        return daq_err(err, err_len, "%s: no value", d->name);
    *out = *v;
    return daq_param_coerce(d, out, err, err_len);
}

/* ---- parsing ----------------------------------------------------------------- */

/* Reads a "double-quoted" string with JSON/TOML basic escapes (\uXXXX
 * becomes UTF-8) or a 'single-quoted' TOML literal string (no escapes).
 * s points at the opening quote, end one past the last character; the
 * closing quote must be the last character. */
static int parse_quoted(const daq_param_desc *d, const char *s, const char *end,
                        daq_param_value *out, char *err, size_t err_len)
{
    char q = *s;
    if (end - s < 2 || end[-1] != q)
        return daq_err(err, err_len, "%s: unterminated string", d->name);
    char buf[4 * DAQ_PARAM_STR_MAX];
    size_t n = 0;
    for (const char *p = s + 1; p < end - 1; p++) {
        uint32_t cp = (unsigned char)*p;
        char u[4] = {*p};
        size_t k = 1;
        if (q == '"' && *p == '"')
            return daq_err(err, err_len, "%s: unescaped quote inside string", d->name);
        if (q == '"' && *p == '\\') {
            if (++p >= end - 1)
                return daq_err(err, err_len, "%s: string ends in a backslash", d->name);
            switch (*p) {
            case '"': cp = '"'; break;
            case '\\': cp = '\\'; break;
            case '/': cp = '/'; break;
            case 'b': cp = '\b'; break;
            case 'f': cp = '\f'; break;
            case 'n': cp = '\n'; break;
            case 'r': cp = '\r'; break;
            case 't': cp = '\t'; break;
            case 'u':
                cp = 0;
                for (int digit = 0; digit < 4; digit++) {
                    int h = (p + 1 < end - 1) ? daq_hex_value(*++p) : -1;
                    if (h < 0)
                        return daq_err(err, err_len, "%s: bad \\u escape", d->name);
                    cp = cp << 4 | (uint32_t)h;
                }
                break;
            default: return daq_err(err, err_len, "%s: unknown escape '\\%c'", d->name, *p);
            }
            k = daq_utf8_encode(cp, u); /* surrogate pairs are not joined */
        }
        if (n + k >= sizeof buf)
            break;
        memcpy(buf + n, u, k);
        n += k;
    }
    buf[n] = '\0';
    if (n >= DAQ_PARAM_STR_MAX)
        return daq_err(err, err_len, "%s: string longer than %d bytes", d->name,
                       DAQ_PARAM_STR_MAX - 1);
    *out = daq_param_string(buf);
    return 0;
}

/* A bare number: decimal integer if it is one, else a finite float.  TOML
 * digit separators ("1_000") are accepted between digits. */
static int parse_number(const char *s, size_t n, daq_param_value *out)
{
    char buf[80];
    size_t k = 0;
    if (n == 0 || n >= sizeof buf)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '_') {
            bool between = i > 0 && i + 1 < n && s[i - 1] >= '0' && s[i - 1] <= '9' &&
                           s[i + 1] >= '0' && s[i + 1] <= '9';
            if (!between)
                return -1;
            continue;
        }
        buf[k++] = s[i];
    }
    buf[k] = '\0';
    /* strtod would also take "nan", "inf" and hex; a number starts with a
     * digit, a sign or a point. */
    char c0 = buf[0] == '+' || buf[0] == '-' ? buf[1] : buf[0];
    if (!((c0 >= '0' && c0 <= '9') || c0 == '.'))
        return -1;
    if (strpbrk(buf, "xXnN"))
        return -1;
    char *end;
    errno = 0;
    long long i = strtoll(buf, &end, 10);
    if (*end == '\0' && errno == 0) {
        *out = daq_param_int((int64_t)i);
        return 0;
    }
    errno = 0;
    double f = strtod(buf, &end);
    if (*end != '\0' || !isfinite(f))
        return -1;
    *out = daq_param_float(f);
    return 0;
}

int daq_param_parse(const daq_param_desc *d, const char *text, daq_param_value *out, char *err,
                    size_t err_len)
{
    if (!d || !out)
        return daq_err(err, err_len, "daq_param_parse: no descriptor or output");
    if (!text)
        text = "";
    const char *s = text, *end = text + strlen(text);
    while (s < end && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
        s++;
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
        end--;
    size_t n = (size_t)(end - s);
    daq_param_value v;
    if (n > 0 && (*s == '"' || *s == '\'')) {
        if (parse_quoted(d, s, end, &v, err, err_len) < 0)
            return -1;
    } else if (d->type == DAQ_PARAM_STRING || d->type == DAQ_PARAM_ENUM) {
        if (n >= DAQ_PARAM_STR_MAX)
            return daq_err(err, err_len, "%s: string longer than %d bytes", d->name,
                           DAQ_PARAM_STR_MAX - 1);
        char buf[DAQ_PARAM_STR_MAX];
        memcpy(buf, s, n);
        buf[n] = '\0';
        v = daq_param_string(buf);
    } else if (n == 4 && memcmp(s, "true", 4) == 0) {
        v = daq_param_bool(true);
    } else if (n == 5 && memcmp(s, "false", 5) == 0) {
        v = daq_param_bool(false);
    } else if (parse_number(s, n, &v) < 0) {
        return daq_err(err, err_len, "%s: cannot parse '%.*s' as %s", d->name,
                       (int)(n > 64 ? 64 : n), s, daq_param_type_name(d->type));
    }
    if (daq_param_coerce(d, &v, err, err_len) < 0)
        return -1;
    *out = v;
    return 0;
}

/* ---- JSON ---------------------------------------------------------------------- */

char *daq_param_format_json(const daq_param_value *v, char *buf, size_t len)
{
    if (!buf || len == 0)
        return buf;
    buf[0] = '\0';
    if (!v)
        return buf;
    switch (v->type) {
    case DAQ_PARAM_BOOL: snprintf(buf, len, "%s", v->b ? "true" : "false"); break;
    case DAQ_PARAM_INT: snprintf(buf, len, "%" PRId64, v->i); break;
    case DAQ_PARAM_FLOAT: {
        if (!isfinite(v->f)) { /* JSON has no NaN or infinity */
            snprintf(buf, len, "null");
            break;
        }
        char num[40];
        fmt_double(num, sizeof num, v->f);
        /* Keep a float recognisable as one: 10 -> 10.0. */
        if (strspn(num, "-0123456789") == strlen(num))
            strcat(num, ".0");
        snprintf(buf, len, "%s", num);
        break;
    }
    case DAQ_PARAM_STRING:
    case DAQ_PARAM_ENUM: {
        size_t o = 0;
        /* Each step writes at most 6 bytes; stop while the quote and NUL fit. */
        buf[o++] = '"';
        for (const unsigned char *p = (const unsigned char *)v->s; *p && o + 8 < len; p++) {
            switch (*p) {
            case '"': o += (size_t)snprintf(buf + o, len - o, "\\\""); break;
            case '\\': o += (size_t)snprintf(buf + o, len - o, "\\\\"); break;
            case '\n': o += (size_t)snprintf(buf + o, len - o, "\\n"); break;
            case '\r': o += (size_t)snprintf(buf + o, len - o, "\\r"); break;
            case '\t': o += (size_t)snprintf(buf + o, len - o, "\\t"); break;
            default:
                if (*p < 0x20)
                    o += (size_t)snprintf(buf + o, len - o, "\\u%04x", *p);
                else
                    buf[o++] = (char)*p;
            }
        }
        if (o + 1 < len)
            buf[o++] = '"';
        buf[o < len ? o : len - 1] = '\0';
        break;
    }
    default: snprintf(buf, len, "null"); break;
    }
    return buf;
}

const daq_param_desc *daq_param_find(const daq_param_desc *table, size_t n, const char *name)
{
    if (!table || !name)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (table[i].name && strcmp(table[i].name, name) == 0)
            return &table[i];
    return NULL;
}

int daq_param_enum_index(const char *const *names, const char *s)
{
    for (int i = 0; names && names[i] && s; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}
