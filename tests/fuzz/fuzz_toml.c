/* tests/fuzz/fuzz_toml.c - libFuzzer target for the TOML parser.
 *
 * Parses the input; on success walks the whole tree calling every accessor
 * on every node (the wrong-type ones too) and checks the API's promises:
 * positions are 1-based, strings are NUL-terminated at their length, keys
 * are found again by daq_toml_table_find, date-time fields are in range,
 * depth stays within the documented cap.  On failure the message must be a
 * "fuzz.toml:LINE:COL: ..." line.  Then a round trip: the document is
 * written back as TOML (every table inline, every string escaped) and must
 * parse into an equal tree -- the parser agreeing with itself on strings,
 * escapes, numbers and keys it produced.  Any broken promise traps, which
 * libFuzzer reports as a crash; memory errors and leaks are ASan's and LSan's.
 *
 * Built by tests/fuzz/CMakeLists.txt with clang; run by `make fuzz-smoke`
 * and `make fuzz`.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daq/toml.h"

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "fuzz_toml: check failed: %s (line %d)\n", #x, __LINE__);              \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_scalars(const daq_toml *v, daq_toml_type t)
{
    size_t len = 1;
    const char *s = daq_toml_string(v, &len);
    CHECK((s != NULL) == (t == DAQ_TOML_STRING));
    if (s)
        CHECK(s[len] == '\0' && strlen(s) <= len);
    else
        CHECK(len == 0);
    if (t != DAQ_TOML_INTEGER)
        CHECK(daq_toml_integer(v) == 0);
    if (t != DAQ_TOML_FLOAT)
        CHECK(daq_toml_float(v) == 0.0);
    if (t != DAQ_TOML_BOOL)
        CHECK(!daq_toml_bool(v));

    const daq_toml_datetime *d = daq_toml_datetime_get(v);
    const char *text = daq_toml_datetime_text(v);
    bool is_dt = t >= DAQ_TOML_DATETIME && t <= DAQ_TOML_TIME_LOCAL;
    CHECK((d != NULL) == is_dt && (text != NULL) == is_dt);
    if (!d)
        return;
    CHECK(strlen(text) >= 8);
    CHECK(d->hour >= 0 && d->hour <= 23 && d->minute >= 0 && d->minute <= 59);
    CHECK(d->second >= 0 && d->second <= 60 && d->nanosecond < 1000000000u);
    if (t != DAQ_TOML_TIME_LOCAL)
        CHECK(d->year >= 0 && d->year <= 9999 && d->month >= 1 && d->month <= 12 && d->day >= 1 &&
              d->day <= 31);
    else
        CHECK(d->year == 0 && d->month == 0 && d->day == 0);
    if (t == DAQ_TOML_DATE_LOCAL)
        CHECK(d->hour == 0 && d->minute == 0 && d->second == 0 && d->nanosecond == 0);
    CHECK(d->has_offset == (t == DAQ_TOML_DATETIME));
    CHECK(d->offset_minutes > -24 * 60 && d->offset_minutes < 24 * 60);
}

static void walk(const daq_toml *v, unsigned depth)
{
    CHECK(v != NULL && depth <= 128 + 1);
    daq_toml_type t = daq_toml_type_of(v);
    CHECK(strcmp(daq_toml_type_name(t), "unknown") != 0);
    daq_toml_pos p = daq_toml_pos_of(v);
    CHECK(p.line >= 1 && p.col >= 1);
    check_scalars(v, t);

    size_t n = daq_toml_table_size(v);
    CHECK(t == DAQ_TOML_TABLE || n == 0);
    for (size_t i = 0; i < n; i++) {
        daq_toml_pos kp = {0, 0};
        const char *key = daq_toml_table_key(v, i, &kp);
        const daq_toml *val = daq_toml_table_value(v, i);
        CHECK(key != NULL && val != NULL && kp.line >= 1 && kp.col >= 1);
        size_t klen = daq_toml_table_key_len(v, i);
        CHECK(key[klen] == '\0' && strlen(key) <= klen);
        if (strlen(key) == klen)
            CHECK(daq_toml_table_find(v, key) == val);
        walk(val, depth + 1);
    }
    CHECK(daq_toml_table_key(v, n, NULL) == NULL && daq_toml_table_value(v, n) == NULL);

    size_t m = daq_toml_array_size(v);
    CHECK(t == DAQ_TOML_ARRAY || m == 0);
    for (size_t i = 0; i < m; i++)
        walk(daq_toml_array_at(v, i), depth + 1);
    CHECK(daq_toml_array_at(v, m) == NULL);
}

/* ---- round trip ------------------------------------------------------------------ */

typedef struct out {
    char *s;
    size_t len, cap;
} out;

static void put(out *o, const char *p, size_t n)
{
    if (o->cap - o->len < n + 1) {
        while (o->cap - o->len < n + 1)
            o->cap = o->cap ? o->cap * 2 : 4096;
        o->s = realloc(o->s, o->cap);
        CHECK(o->s != NULL);
    }
    memcpy(o->s + o->len, p, n);
    o->len += n;
}

static void puts_(out *o, const char *p)
{
    put(o, p, strlen(p));
}

static void put_quoted(out *o, const char *s, size_t len)
{
    put(o, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(o, esc, 2);
        } else if (c < 0x20 || c == 0x7F) {
            snprintf(esc, sizeof esc, "\\u%04X", c);
            put(o, esc, 6);
        } else {
            put(o, (const char *)&s[i], 1);
        }
    }
    put(o, "\"", 1);
}

static void emit(out *o, const daq_toml *v)
{
    char buf[64];
    switch (daq_toml_type_of(v)) {
    case DAQ_TOML_TABLE:
        puts_(o, "{");
        for (size_t i = 0; i < daq_toml_table_size(v); i++) {
            puts_(o, i ? ", " : " ");
            put_quoted(o, daq_toml_table_key(v, i, NULL), daq_toml_table_key_len(v, i));
            puts_(o, " = ");
            emit(o, daq_toml_table_value(v, i));
        }
        puts_(o, " }");
        return;
    case DAQ_TOML_ARRAY:
        puts_(o, "[");
        for (size_t i = 0; i < daq_toml_array_size(v); i++) {
            puts_(o, i ? ",\n" : "\n");
            emit(o, daq_toml_array_at(v, i));
        }
        puts_(o, "]");
        return;
    case DAQ_TOML_STRING: {
        size_t len;
        const char *s = daq_toml_string(v, &len);
        put_quoted(o, s, len);
        return;
    }
    case DAQ_TOML_INTEGER: snprintf(buf, sizeof buf, "%lld", (long long)daq_toml_integer(v)); break;
    case DAQ_TOML_FLOAT: {
        double f = daq_toml_float(v);
        if (isnan(f))
            snprintf(buf, sizeof buf, "nan");
        else if (isinf(f))
            snprintf(buf, sizeof buf, "%sinf", f < 0 ? "-" : "+");
        else if (snprintf(buf, sizeof buf, "%.17g", f), !strpbrk(buf, ".e"))
            strcat(buf, ".0");
        break;
    }
    case DAQ_TOML_BOOL: snprintf(buf, sizeof buf, "%s", daq_toml_bool(v) ? "true" : "false"); break;
    default: puts_(o, daq_toml_datetime_text(v)); return;
    }
    puts_(o, buf);
}

static void check_same(const daq_toml *a, const daq_toml *b)
{
    daq_toml_type t = daq_toml_type_of(a);
    CHECK(t == daq_toml_type_of(b));
    CHECK(daq_toml_table_size(a) == daq_toml_table_size(b));
    for (size_t i = 0; i < daq_toml_table_size(a); i++) {
        size_t n = daq_toml_table_key_len(a, i);
        CHECK(n == daq_toml_table_key_len(b, i));
        CHECK(memcmp(daq_toml_table_key(a, i, NULL), daq_toml_table_key(b, i, NULL), n) == 0);
        check_same(daq_toml_table_value(a, i), daq_toml_table_value(b, i));
    }
    CHECK(daq_toml_array_size(a) == daq_toml_array_size(b));
    for (size_t i = 0; i < daq_toml_array_size(a); i++)
        check_same(daq_toml_array_at(a, i), daq_toml_array_at(b, i));
    size_t la, lb;
    const char *sa = daq_toml_string(a, &la), *sb = daq_toml_string(b, &lb);
    CHECK(la == lb && (!sa || memcmp(sa, sb, la) == 0));
    CHECK(daq_toml_integer(a) == daq_toml_integer(b));
    double fa = daq_toml_float(a), fb = daq_toml_float(b);
    CHECK((isnan(fa) && isnan(fb)) || (fa == fb && signbit(fa) == signbit(fb)));
    CHECK(daq_toml_bool(a) == daq_toml_bool(b));
    const daq_toml_datetime *da = daq_toml_datetime_get(a), *db = daq_toml_datetime_get(b);
    if (da) {
        CHECK(da->year == db->year && da->month == db->month && da->day == db->day);
        CHECK(da->hour == db->hour && da->minute == db->minute && da->second == db->second);
        CHECK(da->nanosecond == db->nanosecond && da->has_offset == db->has_offset);
        CHECK(da->offset_minutes == db->offset_minutes);
        CHECK(strcmp(daq_toml_datetime_text(a), daq_toml_datetime_text(b)) == 0);
    }
}

/* Writes root's entries as "key = value" lines and parses them again. */
static void round_trip(const daq_toml *root)
{
    out o = {0};
    puts_(&o, "# round trip\n");
    for (size_t i = 0; i < daq_toml_table_size(root); i++) {
        put_quoted(&o, daq_toml_table_key(root, i, NULL), daq_toml_table_key_len(root, i));
        puts_(&o, " = ");
        emit(&o, daq_toml_table_value(root, i));
        puts_(&o, "\n");
    }
    char err[256];
    daq_toml *again = daq_toml_parse(o.s, o.len, "again.toml", err, sizeof err);
    if (!again)
        fprintf(stderr, "fuzz_toml: round trip rejected: %s\n%.*s\n", err, (int)o.len, o.s);
    CHECK(again != NULL);
    check_same(root, again);
    daq_toml_free(again);
    free(o.s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    daq_toml *root = daq_toml_parse((const char *)data, size, "fuzz.toml", err, sizeof err);
    if (!root) {
        CHECK(strncmp(err, "fuzz.toml:", 10) == 0 && strchr(err, '\n') == NULL);
        return 0;
    }
    CHECK(daq_toml_type_of(root) == DAQ_TOML_TABLE);
    walk(root, 0);
    round_trip(root);
    daq_toml_free(root);
    return 0;
}
