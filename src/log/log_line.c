/* log/log_line.c - the bytes of one log line, text or JSON.
 *
 * Everything is written by hand into the caller's (stack) buffer.  stdio
 * is avoided on purpose: its %f follows LC_NUMERIC, so a program that sets
 * a German locale would log "12,5" and break every JSON consumer, and its
 * float code may allocate.  gmtime_r is avoided because glibc takes its
 * time-zone lock even for UTC; the civil date is computed from the day
 * number instead.  The only library calls are memcpy/strlen and, for
 * floats of 1e15 and beyond, log10/pow.
 *
 * Truncation.  The last few bytes of the buffer are a reserve that only
 * closing bytes may use ("...", a closing quote, "}}", "\n"), so a cut line
 * can always be finished.  Ordinary output stops at the first piece that
 * does not fit, and pieces are indivisible: an escape sequence, a UTF-8
 * character, a number, a JSON key.  Only runs of plain characters are cut
 * anywhere.  A cut text line ends in "...\n".  In JSON a cut inside a
 * string value closes that string as `..."`, a cut anywhere else rolls the
 * line back to the start of that field; the open objects are then closed,
 * so a cut JSON line is still one valid JSON object, with the fields that
 * fit.  The price: a line is cut when it exceeds size - 8 bytes (JSON) or
 * size - 4 (text), slightly before the buffer is really full.
 *
 * Escaping.  Text output is for people: control characters in the target,
 * message and keys are escaped (a message cannot forge a second line) and
 * string values are quoted, with escapes in the style of Rust's Debug
 * (\", \\, \n, \r, \t, \u{1b}) as rust-daq printed them.  JSON output uses
 * JSON's escapes (\u001b) and replaces bytes that are not UTF-8 by \ufffd,
 * so every line parses.
 */
#include "log/log_line.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define TEXT_RESERVE 4  /* "...\n" */
#define JSON_RESERVE 8  /* "...\"" + "}}" + "\n", one spare */
#define TS_LEN       27 /* 2026-11-26T18:09:30.123456Z */

typedef struct line_buf {
    char *p;
    size_t len;
    size_t cap;  /* ordinary output ends here; the reserve follows */
    size_t size; /* the whole buffer */
    bool full;   /* a piece did not fit: the line is cut here */
} line_buf;

typedef enum esc_style {
    ESC_BARE,   /* text target, message, key: control characters only */
    ESC_QUOTED, /* text string value: also " and \ */
    ESC_JSON,   /* JSON string: " \ controls, and bytes that are not UTF-8 */
} esc_style;

/* ---- the buffer ------------------------------------------------------------ */

/* An indivisible piece: all of it, or nothing and the line is cut. */
static void buf_put(line_buf *b, const char *s, size_t n)
{
    if (b->full || b->len > b->cap || n > b->cap - b->len) {
        b->full = true;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void buf_puts(line_buf *b, const char *s)
{
    buf_put(b, s, strlen(s));
}

static void buf_putc(line_buf *b, char c)
{
    buf_put(b, &c, 1);
}

/* Plain characters: as many as fit. */
static void buf_put_run(line_buf *b, const char *s, size_t n)
{
    if (b->full)
        return;
    size_t room = b->len < b->cap ? b->cap - b->len : 0;
    if (n > room) {
        n = room;
        b->full = true;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

/* Closing bytes: may use the reserve. */
static void buf_tail(line_buf *b, const char *s)
{
    size_t n = strlen(s);
    if (n > b->size - b->len) /* cannot happen: the reserves cover every tail */
        n = b->size - b->len;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

/* ---- escaping ---------------------------------------------------------------- */

static bool byte_plain(unsigned char c, esc_style st)
{
    if (c < 0x20 || c == 0x7f || c >= 0x80)
        return false;
    return st == ESC_BARE || (c != '"' && c != '\\');
}

/* Length of the UTF-8 sequence starting at s (2..4), 0 if it is not a
 * well-formed one.  Stops at a NUL, which is never a continuation byte. */
static size_t utf8_len(const unsigned char *s)
{
    size_t n = s[0] >= 0xf5 ? 0 : s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

static char hex_digit(unsigned v)
{
    return "0123456789abcdef"[v & 15];
}

/* A control character: \u{1b} in text (Rust's Debug style), \u001b in JSON. */
static size_t esc_control(unsigned char c, esc_style st, char *out)
{
    size_t n = 0;
    out[n++] = '\\';
    out[n++] = 'u';
    if (st == ESC_JSON) {
        out[n++] = '0';
        out[n++] = '0';
        out[n++] = hex_digit(c >> 4);
    } else {
        out[n++] = '{';
        if (c >> 4)
            out[n++] = hex_digit(c >> 4);
    }
    out[n++] = hex_digit(c);
    if (st != ESC_JSON)
        out[n++] = '}';
    return n;
}

/* The escaped form of the character at s, into out (8 bytes); returns its
 * length and sets *used to the bytes of s it stands for. */
static size_t esc_unit(const unsigned char *s, esc_style st, char *out, size_t *used)
{
    unsigned char c = s[0];
    *used = 1;
    if (c >= 0x80) {
        size_t n = utf8_len(s);
        if (n) {
            memcpy(out, s, n);
            *used = n;
            return n;
        }
        if (st == ESC_JSON) {
            memcpy(out, "\\ufffd", 6);
            return 6;
        }
        out[0] = (char)c; /* text: the raw byte, as a terminal would show it */
        return 1;
    }
    out[0] = '\\';
    switch (c) {
    case '\n': out[1] = 'n'; return 2;
    case '\r': out[1] = 'r'; return 2;
    case '\t': out[1] = 't'; return 2;
    case '"':
    case '\\': out[1] = (char)c; return 2;
    default: return esc_control(c, st, out);
    }
}

static void put_escaped(line_buf *b, const char *s, esc_style st)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p && !b->full) {
        size_t run = 0;
        while (p[run] && byte_plain(p[run], st))
            run++;
        if (run) {
            buf_put_run(b, (const char *)p, run);
            p += run;
            continue;
        }
        char unit[8];
        size_t used;
        size_t n = esc_unit(p, st, unit, &used);
        buf_put(b, unit, n);
        p += used;
    }
}

/* ---- numbers and time -------------------------------------------------------- */

/* Decimal digits of v into out (20 bytes); returns their number. */
static size_t u64_digits(char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

static void put_u64(line_buf *b, uint64_t v)
{
    char d[20];
    buf_put(b, d, u64_digits(d, v));
}

static void put_i64(line_buf *b, int64_t v)
{
    char d[21];
    size_t n = 0;
    uint64_t m = (uint64_t)v;
    if (v < 0) {
        d[n++] = '-';
        m = 0 - m; /* also right for INT64_MIN */
    }
    n += u64_digits(d + n, m);
    buf_put(b, d, n);
}

/* Splits a >= 1e15 into a mantissa in [1, 10) and a power of ten. */
static double f64_scale(double a, int *exp10)
{
    int e = (int)floor(log10(a));
    a /= pow(10.0, e);
    while (a >= 10.0) { /* log10 may be off by one near powers of ten */
        a /= 10.0;
        e++;
    }
    while (a < 1.0) {
        a *= 10.0;
        e--;
    }
    *exp10 = e;
    return a;
}

/* A finite double with up to 3 decimals, trailing zeros dropped but one
 * kept ("12.5", "3.0", "0.125"); from 1e15 on with an exponent ("1.5e20"),
 * a form JSON accepts too.  out: 32 bytes. */
static size_t f64_digits(char *out, double v)
{
    double a = fabs(v);
    int exp10 = 0;
    if (a >= 1e15)
        a = f64_scale(a, &exp10);
    uint64_t m = (uint64_t)(a * 1000.0 + 0.5); /* thousandths, rounded */
    if (exp10 && m >= 10000) {                 /* 9.9996 rounded up to 10.000 */
        m /= 10;
        exp10++;
    }
    size_t n = 0;
    if (signbit(v) && (m || exp10))
        out[n++] = '-';
    n += u64_digits(out + n, m / 1000);
    out[n++] = '.';
    unsigned frac = (unsigned)(m % 1000);
    out[n++] = (char)('0' + frac / 100);
    if (frac % 100)
        out[n++] = (char)('0' + frac / 10 % 10);
    if (frac % 10)
        out[n++] = (char)('0' + frac % 10);
    if (exp10) {
        out[n++] = 'e';
        n += u64_digits(out + n, (uint64_t)exp10);
    }
    return n;
}

static void put_f64(line_buf *b, double v, bool json)
{
    if (isnan(v)) {
        buf_puts(b, json ? "null" : "NaN");
    } else if (isinf(v)) {
        buf_puts(b, json ? "null" : v < 0 ? "-inf" : "inf");
    } else {
        char d[32];
        buf_put(b, d, f64_digits(d, v));
    }
}

static void digits_fixed(char *out, unsigned v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* Days since 1970-01-01 to a proleptic Gregorian date, counting in 400-year
 * eras of 146097 days that start on 1 March, so the leap day is last. */
static void civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
    days += 719468; /* 0000-03-01 to 1970-01-01 */
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    unsigned doe = (unsigned)(days - era * 146097);                       /* [0, 146096] */
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
    unsigned mp = (5 * doy + 2) / 153;                                    /* March = 0 */
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* RFC 3339, UTC, microseconds: TS_LEN bytes into out. */
static void timestamp_format(char *out, const struct timespec *ts)
{
    int64_t days = ts->tv_sec / 86400, sec = ts->tv_sec % 86400;
    if (sec < 0) {
        sec += 86400;
        days--;
    }
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    memcpy(out, "0000-00-00T00:00:00.000000Z", TS_LEN);
    digits_fixed(out, (unsigned)(y < 0 ? 0 : y > 9999 ? 9999 : y), 4);
    digits_fixed(out + 5, m, 2);
    digits_fixed(out + 8, d, 2);
    digits_fixed(out + 11, (unsigned)(sec / 3600), 2);
    digits_fixed(out + 14, (unsigned)(sec / 60 % 60), 2);
    digits_fixed(out + 17, (unsigned)(sec % 60), 2);
    digits_fixed(out + 20, (unsigned)(ts->tv_nsec / 1000), 6);
}

/* ---- text lines ---------------------------------------------------------------- */

static bool field_present(const daq_log_field *f)
{
    return f && f->type > DAQ_LOG_F_END && f->type <= DAQ_LOG_F_STR;
}

static const char *field_key(const daq_log_field *f)
{
    return f->key ? f->key : "?";
}

static void text_value(line_buf *b, const daq_log_field *f)
{
    switch (f->type) {
    case DAQ_LOG_F_U64: put_u64(b, f->v.u); break;
    case DAQ_LOG_F_I64: put_i64(b, f->v.i); break;
    case DAQ_LOG_F_F64: put_f64(b, f->v.f, false); break;
    case DAQ_LOG_F_BOOL: buf_puts(b, f->v.b ? "true" : "false"); break;
    case DAQ_LOG_F_STR:
        if (!f->v.s) {
            buf_puts(b, "null");
            break;
        }
        buf_putc(b, '"');
        put_escaped(b, f->v.s, ESC_QUOTED);
        buf_putc(b, '"');
        break;
    case DAQ_LOG_F_END: break;
    }
}

static void text_line(line_buf *b, const daq_log_record *r)
{
    static const char *const padded[] = {"TRACE", "DEBUG", " INFO", " WARN", "ERROR"};
    char ts[TS_LEN];
    timestamp_format(ts, &r->time);
    buf_put(b, ts, TS_LEN);
    buf_putc(b, ' ');
    buf_puts(b, padded[r->level]);
    buf_putc(b, ' ');
    put_escaped(b, r->target, ESC_BARE);
    buf_put(b, ": ", 2);
    put_escaped(b, r->message, ESC_BARE);
    for (const daq_log_field *f = r->fields; field_present(f); f++) {
        buf_putc(b, ' ');
        put_escaped(b, field_key(f), ESC_BARE);
        buf_putc(b, '=');
        text_value(b, f);
    }
    buf_tail(b, b->full ? "...\n" : "\n");
}

/* ---- JSON lines ---------------------------------------------------------------- */

/* "s", escaped, after a key that starts at mark.  Cut inside, it is closed
 * as ..." ; if not even its opening quote fits, the line goes back to mark. */
static void json_string(line_buf *b, const char *s, size_t mark)
{
    buf_putc(b, '"');
    if (b->full) {
        b->len = mark;
        return;
    }
    put_escaped(b, s, ESC_JSON);
    if (!b->full)
        buf_putc(b, '"');
    if (b->full)
        buf_tail(b, "...\"");
}

static void json_field(line_buf *b, const daq_log_field *f)
{
    size_t mark = b->len;
    buf_put(b, ",\"", 2);
    put_escaped(b, field_key(f), ESC_JSON);
    buf_put(b, "\":", 2);
    switch (f->type) {
    case DAQ_LOG_F_STR:
        if (f->v.s) {
            json_string(b, f->v.s, mark);
            return;
        }
        buf_puts(b, "null");
        break;
    case DAQ_LOG_F_F64: put_f64(b, f->v.f, true); break;
    default: text_value(b, f); break; /* integers and booleans read the same */
    }
    if (b->full)
        b->len = mark;
}

static void json_line(line_buf *b, const daq_log_record *r)
{
    char ts[TS_LEN];
    timestamp_format(ts, &r->time);
    buf_puts(b, "{\"timestamp\":\"");
    buf_put(b, ts, TS_LEN);
    buf_puts(b, "\",\"level\":\"");
    buf_puts(b, daq_log_level_name(r->level));
    buf_putc(b, '"');
    size_t mark = b->len;
    buf_puts(b, ",\"target\":");
    json_string(b, r->target, mark);
    buf_puts(b, ",\"fields\":{");
    bool fields_open = !b->full;
    mark = b->len;
    buf_puts(b, "\"message\":");
    json_string(b, r->message, mark);
    for (const daq_log_field *f = r->fields; field_present(f); f++)
        json_field(b, f);
    buf_tail(b, fields_open ? "}}\n" : "}\n");
}

/* ---- entry ------------------------------------------------------------------- */

size_t daq_log_line_format(char *buf, size_t size, daq_log_format fmt, const daq_log_record *r)
{
    bool json = fmt == DAQ_LOG_JSON;
    line_buf b = {
        .p = buf,
        .size = size,
        .cap = size - (json ? JSON_RESERVE : TEXT_RESERVE),
    };
    if (json)
        json_line(&b, r);
    else
        text_line(&b, r);
    return b.len;
}
