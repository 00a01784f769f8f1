/* config/toml_scan.c - the reader: positions, errors, and the scanners of
 * TOML's lexical pieces (white space, comments, newlines, bare keys, the four
 * kinds of strings, numbers, booleans and date-times).
 *
 * The whole text is checked for valid UTF-8 once, up front, so the scanners
 * look at bytes: everything that matters to the grammar is ASCII, and a
 * non-ASCII byte is either string/comment content (already known valid) or
 * an error.  Positions are computed only when needed (a node's position, an
 * error), by counting newlines forward from the last position asked for;
 * nothing else has to track lines.
 *
 * Strings are decoded into a scratch buffer and copied into the arena with
 * their exact length.  Numbers are validated by hand against the grammar
 * (underscores, leading zeros, prefixes, signs), integers are accumulated
 * with an overflow check, and floats converted by strtod_l in the C locale,
 * so the application's locale cannot change what a document means.
 */
#define _GNU_SOURCE /* strtod_l, newlocale */
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/toml_impl.h"
#include "util/text.h"

/* ---- positions and errors ------------------------------------------------------ */

daq_toml_pos toml_pos_at(toml_reader *r, size_t off)
{
    if (off > r->len)
        off = r->len;
    if (off < r->origin)
        off = r->origin;
    if (off >= r->line_off) {
        const char *p = r->s + r->line_off, *end = r->s + off, *nl;
        while (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
            r->line++;
            p = nl + 1;
            r->line_start = (size_t)(p - r->s);
        }
    } else {
        /* backwards (an error about an earlier key): uncount the newlines */
        for (size_t k = off; k < r->line_off; k++)
            r->line -= r->s[k] == '\n';
        size_t ls = off;
        while (ls > r->origin && r->s[ls - 1] != '\n')
            ls--;
        r->line_start = ls;
    }
    r->line_off = off;
    return (daq_toml_pos){r->line, (uint32_t)(off - r->line_start + 1)};
}

void toml_fail(toml_reader *r, size_t off, const char *fmt, ...)
{
    daq_toml_pos p = toml_pos_at(r, off);
    if (r->err && r->err_len > 0) {
        int n = snprintf(r->err, r->err_len, "%s:%u:%u: ", r->file ? r->file : "<input>", p.line,
                         p.col);
        if (n >= 0 && (size_t)n < r->err_len) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(r->err + n, r->err_len - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    longjmp(r->fail, 1);
}

void *toml_alloc(toml_reader *r, size_t n)
{
    void *p = toml_arena_alloc(r->arena, n);
    if (!p)
        toml_fail(r, r->i, "out of memory");
    return p;
}

/* The code point of the valid UTF-8 sequence at p. */
static uint32_t utf8_decode(const unsigned char *p)
{
    if (p[0] < 0x80)
        return p[0];
    if (p[0] < 0xE0)
        return (uint32_t)(p[0] & 0x1F) << 6 | (p[1] & 0x3F);
    if (p[0] < 0xF0)
        return (uint32_t)(p[0] & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3F);
    return (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3F) << 12 |
           (uint32_t)(p[2] & 0x3F) << 6 | (p[3] & 0x3F);
}

const char *toml_describe(const toml_reader *r, size_t off, char *buf, size_t n)
{
    if (off >= r->len)
        return "end of file";
    unsigned char c = (unsigned char)r->s[off];
    if (c == '\n' || (c == '\r' && off + 1 < r->len && r->s[off + 1] == '\n'))
        return "end of line";
    if (c == '\t')
        return "a tab";
    if (c == '\'')
        return "\"'\"";
    if (c >= 0x20 && c < 0x7F)
        snprintf(buf, n, "'%c'", c);
    else if (c < 0x80)
        snprintf(buf, n, "control character U+%04X", c);
    else
        snprintf(buf, n, "U+%04X", (unsigned)utf8_decode((const unsigned char *)r->s + off));
    return buf;
}

const char *toml_quote(const char *s, size_t len, char *buf, size_t n)
{
    size_t o = 0;
    if (n < 8)
        return "";
    buf[o++] = '\'';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o + 8 >= n) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (c < 0x20 || c == 0x7F || c == '\\' || c == '\'')
            o += (size_t)snprintf(buf + o, n - o, c == '\\' || c == '\'' ? "\\%c" : "\\x%02X", c);
        else
            buf[o++] = (char)c;
    }
    buf[o++] = '\'';
    buf[o] = '\0';
    return buf;
}

size_t toml_utf8_check(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t min;
        if (c >= 0xC2 && c <= 0xDF)
            n = 2, min = 0x80;
        else if (c >= 0xE0 && c <= 0xEF)
            n = 3, min = 0x800;
        else if (c >= 0xF0 && c <= 0xF4)
            n = 4, min = 0x10000;
        else
            return i;
        if (len - i < n)
            return i;
        for (size_t k = 1; k < n; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
        uint32_t cp = utf8_decode(s + i);
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += n;
    }
    return len;
}

/* ---- white space, comments, newlines ------------------------------------------------ */

/* Control characters other than tab may not appear in comments or strings. */
static bool is_control(int c)
{
    return (c >= 0 && c < 0x20 && c != '\t') || c == 0x7F;
}

void toml_skip_ws(toml_reader *r)
{
    while (r->i < r->len && (r->s[r->i] == ' ' || r->s[r->i] == '\t'))
        r->i++;
}

void toml_skip_comment(toml_reader *r)
{
    if (toml_peek(r, 0) != '#')
        return;
    for (r->i++; r->i < r->len; r->i++) {
        int c = (unsigned char)r->s[r->i];
        if (c == '\n' || c == '\r')
            return; /* toml_newline checks the CR */
        if (is_control(c)) {
            char d[40];
            toml_fail(r, r->i, "%s is not allowed in a comment",
                      toml_describe(r, r->i, d, sizeof d));
        }
    }
}

bool toml_newline(toml_reader *r)
{
    int c = toml_peek(r, 0);
    if (c == '\n') {
        r->i++;
        return true;
    }
    if (c == '\r') {
        if (toml_peek(r, 1) != '\n')
            toml_fail(r, r->i, "carriage return not followed by a newline");
        r->i += 2;
        return true;
    }
    return false;
}

void toml_skip_ws_nl(toml_reader *r)
{
    do {
        toml_skip_ws(r);
        toml_skip_comment(r);
    } while (toml_newline(r));
}

/* ---- scratch buffer ---------------------------------------------------------------- */

static void buf_put(toml_reader *r, const char *p, size_t n)
{
    if (r->buf_cap - r->buf_len < n + 1) {
        size_t cap = r->buf_cap ? r->buf_cap : 256;
        while (cap - r->buf_len < n + 1) {
            if (cap > SIZE_MAX / 2)
                toml_fail(r, r->i, "out of memory");
            cap *= 2;
        }
        char *nb = realloc(r->buf, cap);
        if (!nb)
            toml_fail(r, r->i, "out of memory");
        r->buf = nb;
        r->buf_cap = cap;
    }
    memcpy(r->buf + r->buf_len, p, n);
    r->buf_len += n;
}

static void buf_putc(toml_reader *r, char c)
{
    buf_put(r, &c, 1);
}

/* The buffer's contents as an arena string; empties the buffer. */
static toml_str buf_take(toml_reader *r)
{
    toml_str out = {toml_alloc(r, r->buf_len + 1), r->buf_len};
    if (r->buf_len)
        memcpy((char *)out.s, r->buf, r->buf_len);
    ((char *)out.s)[r->buf_len] = '\0';
    r->buf_len = 0;
    return out;
}

/* ---- keys and strings ------------------------------------------------------------------ */

bool toml_is_bare_key_char(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

toml_str toml_read_bare_key(toml_reader *r)
{
    size_t start = r->i;
    while (r->i < r->len && toml_is_bare_key_char((unsigned char)r->s[r->i]))
        r->i++;
    buf_put(r, r->s + start, r->i - start);
    return buf_take(r);
}

static void put_utf8(toml_reader *r, uint32_t cp)
{
    char b[4];
    buf_put(r, b, daq_utf8_encode(cp, b));
}

/* An escape sequence at the cursor (on the backslash) of a basic string. */
static void read_escape(toml_reader *r)
{
    size_t at = r->i;
    int e = toml_peek(r, 1);
    const char *simple = "b\bt\tn\nf\fr\r\"\"\\\\";
    for (const char *p = simple; *p; p += 2)
        if (e == *p) {
            buf_putc(r, p[1]);
            r->i += 2;
            return;
        }
    if (e != 'u' && e != 'U') {
        char d[40];
        if (e > 0x20 && e < 0x7F)
            toml_fail(r, at, "invalid escape sequence '\\%c'", e);
        toml_fail(r, at, "invalid escape sequence: backslash followed by %s",
                  toml_describe(r, at + 1, d, sizeof d));
    }
    size_t n = e == 'u' ? 4 : 8;
    uint32_t cp = 0;
    for (size_t k = 0; k < n; k++) {
        int h = daq_hex_value(toml_peek(r, 2 + k));
        if (h < 0)
            toml_fail(r, at, "\\%c escape needs %zu hexadecimal digits", e, n);
        cp = cp << 4 | (uint32_t)h;
    }
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        toml_fail(r, at, "escape \\%c%.*s is not a Unicode scalar value", e, (int)n, r->s + at + 2);
    put_utf8(r, cp);
    r->i += 2 + n;
}

static DAQ_NORETURN void bad_char_in_string(toml_reader *r)
{
    char d[40];
    toml_fail(r, r->i, "%s is not allowed in a string (use an escape)",
              toml_describe(r, r->i, d, sizeof d));
}

/* The rest of a one-line string after its opening quote q. */
static toml_str read_line_string(toml_reader *r, size_t start, char q)
{
    for (;;) {
        int c = toml_peek(r, 0);
        if (c < 0 || c == '\n' || c == '\r')
            toml_fail(r, start, "unterminated string (a %s string must end on its line)",
                      q == '"' ? "basic" : "literal");
        if (c == q) {
            r->i++;
            return buf_take(r);
        }
        if (c == '\\' && q == '"') {
            read_escape(r);
            continue;
        }
        if (is_control(c))
            bad_char_in_string(r);
        size_t run = r->i + 1; /* the current byte is ordinary content */
        while (run < r->len && r->s[run] != q && r->s[run] != '\\' &&
               !is_control((unsigned char)r->s[run]))
            run++;
        buf_put(r, r->s + r->i, run - r->i);
        r->i = run;
    }
}

/* After a backslash at the cursor in a multi-line basic string: if only white
 * space follows it on its line, skips that and all white space and newlines
 * after it ("line ending backslash") and returns true. */
static bool line_ending_backslash(toml_reader *r)
{
    size_t j = r->i + 1;
    while (j < r->len && (r->s[j] == ' ' || r->s[j] == '\t'))
        j++;
    if (j >= r->len || (r->s[j] != '\n' && r->s[j] != '\r'))
        return false;
    r->i = j;
    for (;;) {
        toml_skip_ws(r);
        if (!toml_newline(r))
            return true;
    }
}

/* The rest of a multi-line string after its opening quotes (and newline). */
static toml_str read_ml_string(toml_reader *r, size_t start, char q)
{
    for (;;) {
        int c = toml_peek(r, 0);
        if (c < 0)
            toml_fail(r, start, "unterminated multi-line string");
        if (c == q) {
            size_t n = 0;
            while (n < 5 && toml_peek(r, n) == q)
                n++;
            r->i += n;
            if (n >= 3) {
                /* up to two quotes just before the closing three are content */
                buf_put(r, r->s + r->i - n, n - 3);
                return buf_take(r);
            }
            buf_put(r, r->s + r->i - n, n);
            continue;
        }
        if (c == '\\' && q == '"') {
            if (!line_ending_backslash(r))
                read_escape(r);
            continue;
        }
        if (c == '\n' || c == '\r') {
            toml_newline(r); /* CRLF is stored as LF */
            buf_putc(r, '\n');
            continue;
        }
        if (is_control(c))
            bad_char_in_string(r);
        size_t run = r->i + 1; /* the current byte is ordinary content */
        while (run < r->len && r->s[run] != q && r->s[run] != '\\' && r->s[run] != '\n' &&
               !is_control((unsigned char)r->s[run]))
            run++;
        buf_put(r, r->s + r->i, run - r->i);
        r->i = run;
    }
}

toml_str toml_read_string(toml_reader *r, bool multiline_ok)
{
    size_t start = r->i;
    char q = r->s[r->i];
    if (toml_peek(r, 1) == q && toml_peek(r, 2) == q) {
        if (!multiline_ok)
            toml_fail(r, start, "a multi-line string cannot be a key");
        r->i += 3;
        if (toml_peek(r, 0) == '\n' || toml_peek(r, 0) == '\r')
            toml_newline(r); /* a newline right after the opening quotes is trimmed */
        return read_ml_string(r, start, q);
    }
    r->i++;
    return read_line_string(r, start, q);
}

/* ---- numbers ----------------------------------------------------------------------------- */

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int digit_value(int c, int base)
{
    int v = daq_hex_value(c);
    return v >= 0 && v < base ? v : -1;
}

/* Digits of base at *p (up to end), single underscores between digits.
 * Returns how many digits; fails on a misplaced underscore. */
static size_t scan_digits(toml_reader *r, size_t tok, size_t tok_len, const char **p,
                          const char *end, int base)
{
    size_t n = 0;
    const char *q = *p;
    while (q < end) {
        if (digit_value((unsigned char)*q, base) >= 0) {
            n++;
            q++;
        } else if (*q == '_') {
            if (n == 0 || q + 1 >= end || digit_value((unsigned char)q[1], base) < 0)
                toml_fail(r, tok, "invalid number '%.*s': '_' must stand between two digits",
                          (int)tok_len, r->s + tok);
            q++;
        } else {
            break;
        }
    }
    *p = q;
    return n;
}

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void)
{
    c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

static double to_double(toml_reader *r, size_t tok, size_t len)
{
    for (size_t k = 0; k < len; k++)
        if (r->s[tok + k] != '_')
            buf_putc(r, r->s[tok + k]);
    buf_putc(r, '\0');
    pthread_once(&c_locale_once, c_locale_init);
    double d = c_locale ? strtod_l(r->buf, NULL, c_locale) : strtod(r->buf, NULL);
    r->buf_len = 0;
    if (isinf(d))
        toml_fail(r, tok, "float '%.*s' is out of range", (int)len, r->s + tok);
    return d;
}

/* A number token [tok, tok + len): the characters a number may contain. */
static daq_toml *read_number(toml_reader *r, size_t tok, size_t len, daq_toml_pos pos)
{
    const char *p = r->s + tok, *end = p + len;
    int len_i = (int)len;
    bool sign = *p == '+' || *p == '-', neg = *p == '-';
    if (sign)
        p++;
    if (end - p == 3 && (memcmp(p, "inf", 3) == 0 || memcmp(p, "nan", 3) == 0)) {
        daq_toml *v = toml_node_new(r->arena, DAQ_TOML_FLOAT, pos);
        if (!v)
            toml_fail(r, tok, "out of memory");
        v->u.f = p[0] == 'i' ? (neg ? -INFINITY : INFINITY) : (neg ? -NAN : NAN);
        return v;
    }
    int base = 10;
    if (end - p >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'o' || p[1] == 'b')) {
        base = p[1] == 'x' ? 16 : p[1] == 'o' ? 8 : 2;
        if (sign)
            toml_fail(r, tok, "invalid number '%.*s': only decimal integers may have a sign", len_i,
                      r->s + tok);
        p += 2;
    }
    const char *digits = p;
    size_t n = scan_digits(r, tok, len, &p, end, base);
    if (n == 0)
        toml_fail(r, tok, "invalid number '%.*s'", len_i, r->s + tok);
    if (base == 10 && n > 1 && *digits == '0')
        toml_fail(r, tok, "invalid number '%.*s': leading zeros are not allowed", len_i,
                  r->s + tok);
    bool is_float = false;
    if (base == 10 && p < end && *p == '.') {
        is_float = true;
        p++;
        if (p >= end || !is_digit((unsigned char)*p))
            toml_fail(r, tok, "invalid number '%.*s': a decimal point needs digits on both sides",
                      len_i, r->s + tok);
        scan_digits(r, tok, len, &p, end, 10);
    }
    if (base == 10 && p < end && (*p == 'e' || *p == 'E')) {
        is_float = true;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || !is_digit((unsigned char)*p))
            toml_fail(r, tok, "invalid number '%.*s': the exponent needs digits", len_i,
                      r->s + tok);
        scan_digits(r, tok, len, &p, end, 10);
    }
    if (p != end)
        toml_fail(r, tok, "invalid number '%.*s'", len_i, r->s + tok);

    daq_toml *v = toml_node_new(r->arena, is_float ? DAQ_TOML_FLOAT : DAQ_TOML_INTEGER, pos);
    if (!v)
        toml_fail(r, tok, "out of memory");
    if (is_float) {
        v->u.f = to_double(r, tok, len);
        return v;
    }
    /* magnitude, up to 2^63 for a negative number */
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, mag = 0;
    for (const char *q = digits; q < end; q++) {
        if (*q == '_')
            continue;
        uint64_t d = (uint64_t)digit_value((unsigned char)*q, base);
        if (mag > (limit - d) / (uint64_t)base)
            toml_fail(r, tok, "integer '%.*s' is out of range (64-bit signed)", len_i, r->s + tok);
        mag = mag * (uint64_t)base + d;
    }
    v->u.i = !neg ? (int64_t)mag : mag > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)mag;
    return v;
}

/* ---- date-times ---------------------------------------------------------------------------- */

/* n decimal digits at off as a number, or -1. */
static int fixed_digits(const toml_reader *r, size_t off, size_t n)
{
    int v = 0;
    for (size_t k = 0; k < n; k++) {
        if (off + k >= r->len || !is_digit((unsigned char)r->s[off + k]))
            return -1;
        v = v * 10 + (r->s[off + k] - '0');
    }
    return v;
}

static bool char_at(const toml_reader *r, size_t off, char c)
{
    return off < r->len && r->s[off] == c;
}

static int days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    return m == 2 && leap ? 29 : days[m - 1];
}

/* HH:MM:SS[.frac] at *p into dt. */
static void read_time(toml_reader *r, size_t *p, daq_toml_datetime *dt)
{
    size_t at = *p;
    dt->hour = fixed_digits(r, at, 2);
    dt->minute = fixed_digits(r, at + 3, 2);
    dt->second = fixed_digits(r, at + 6, 2);
    if (dt->hour < 0 || !char_at(r, at + 2, ':') || dt->minute < 0 || !char_at(r, at + 5, ':') ||
        dt->second < 0)
        toml_fail(r, at, "invalid time: expected HH:MM:SS");
    if (dt->hour > 23)
        toml_fail(r, at, "hour %d is out of range (00-23)", dt->hour);
    if (dt->minute > 59)
        toml_fail(r, at + 3, "minute %d is out of range (00-59)", dt->minute);
    if (dt->second > 60) /* 60: a leap second, as RFC 3339 allows */
        toml_fail(r, at + 6, "second %d is out of range (00-60)", dt->second);
    at += 8;
    if (char_at(r, at, '.')) {
        size_t n = 0;
        uint32_t ns = 0;
        while (at + 1 + n < r->len && is_digit((unsigned char)r->s[at + 1 + n])) {
            if (n < 9)
                ns = ns * 10 + (uint32_t)(r->s[at + 1 + n] - '0');
            n++;
        }
        if (n == 0)
            toml_fail(r, at, "invalid time: a decimal point needs digits after it");
        for (size_t k = n; k < 9; k++)
            ns *= 10;
        dt->nanosecond = ns;
        at += 1 + n;
    }
    *p = at;
}

static daq_toml *read_datetime(toml_reader *r, daq_toml_pos pos)
{
    size_t start = r->i, p = start;
    daq_toml_datetime dt = {0};
    bool date = false, time = false;
    if (char_at(r, start + 4, '-')) {
        dt.year = fixed_digits(r, p, 4);
        dt.month = fixed_digits(r, p + 5, 2);
        dt.day = fixed_digits(r, p + 8, 2);
        if (dt.year < 0 || dt.month < 0 || !char_at(r, p + 7, '-') || dt.day < 0 ||
            (p + 10 < r->len && is_digit((unsigned char)r->s[p + 10])))
            toml_fail(r, start, "invalid date: expected YYYY-MM-DD");
        if (dt.month < 1 || dt.month > 12)
            toml_fail(r, start + 5, "month %d is out of range (01-12)", dt.month);
        if (dt.day < 1 || dt.day > days_in_month(dt.year, dt.month))
            toml_fail(r, start + 8, "day %d is out of range for %04d-%02d", dt.day, dt.year,
                      dt.month);
        date = true;
        p += 10;
        int c = p < r->len ? (unsigned char)r->s[p] : -1;
        if (c == 'T' || c == 't' ||
            (c == ' ' && p + 1 < r->len && is_digit((unsigned char)r->s[p + 1]))) {
            p++;
            read_time(r, &p, &dt);
            time = true;
        }
    } else {
        read_time(r, &p, &dt);
        time = true;
    }
    daq_toml_type type = !date  ? DAQ_TOML_TIME_LOCAL
                         : time ? DAQ_TOML_DATETIME_LOCAL
                                : DAQ_TOML_DATE_LOCAL;
    if (date && time) {
        int c = p < r->len ? (unsigned char)r->s[p] : -1;
        if (c == 'Z' || c == 'z') {
            dt.has_offset = true;
            p++;
        } else if (c == '+' || c == '-') {
            int h = fixed_digits(r, p + 1, 2), m = fixed_digits(r, p + 4, 2);
            if (h < 0 || !char_at(r, p + 3, ':') || m < 0)
                toml_fail(r, p, "invalid time offset: expected Z, +HH:MM or -HH:MM");
            if (h > 23 || m > 59)
                toml_fail(r, p, "time offset %.6s is out of range", r->s + p);
            dt.has_offset = true;
            dt.offset_minutes = (c == '-' ? -1 : 1) * (h * 60 + m);
            p += 6;
        }
        if (dt.has_offset)
            type = DAQ_TOML_DATETIME;
    }
    daq_toml *v = toml_node_new(r->arena, type, pos);
    char *text = toml_arena_alloc(r->arena, p - start + 1);
    if (!v || !text)
        toml_fail(r, start, "out of memory");
    memcpy(text, r->s + start, p - start);
    text[p - start] = '\0';
    v->u.dt.dt = dt;
    v->u.dt.text = text;
    r->i = p;
    return v;
}

/* ---- scalars -----------------------------------------------------------------------------------
 */

static bool is_number_char(int c)
{
    return toml_is_bare_key_char(c) || c == '.' || c == '+';
}

daq_toml *toml_read_scalar(toml_reader *r)
{
    size_t start = r->i;
    daq_toml_pos pos = toml_pos_at(r, start);
    size_t end = start;
    while (end < r->len && is_number_char((unsigned char)r->s[end]))
        end++;
    size_t len = end - start;
    const char *s = r->s + start;
    if ((len == 4 && memcmp(s, "true", 4) == 0) || (len == 5 && memcmp(s, "false", 5) == 0)) {
        daq_toml *v = toml_node_new(r->arena, DAQ_TOML_BOOL, pos);
        if (!v)
            toml_fail(r, start, "out of memory");
        v->u.b = len == 4;
        r->i = end;
        return v;
    }
    if (len > 0 && (*s == 't' || *s == 'f' || *s == 'T' || *s == 'F'))
        toml_fail(r, start, "invalid value '%.*s' (booleans are true and false)", (int)len, s);
    if (fixed_digits(r, start, 4) >= 0 && char_at(r, start + 4, '-'))
        return read_datetime(r, pos);
    if (fixed_digits(r, start, 2) >= 0 && char_at(r, start + 2, ':'))
        return read_datetime(r, pos);
    if (len == 0 || !(is_digit((unsigned char)*s) || *s == '+' || *s == '-' || *s == '.' ||
                      *s == 'i' || *s == 'n')) {
        char d[40];
        toml_fail(r, start, "expected a value, found %s", toml_describe(r, start, d, sizeof d));
    }
    daq_toml *v = read_number(r, start, len, pos);
    r->i = end;
    return v;
}
