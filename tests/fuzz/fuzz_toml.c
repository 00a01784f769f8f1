/* tests/fuzz/fuzz_toml.c - libFuzzer target for the TOML parser.
 *
 * Parses the input; on success walks the whole tree calling every accessor
 * on every node (the wrong-type ones too) and checks the API's promises:
 * positions are 1-based, strings are NUL-terminated at their length, keys
 * are found again by daq_toml_table_get, date-time fields are in range,
 * depth stays within the documented cap.  On failure the message must be a
 * "fuzz.toml:LINE:COL: ..." line.  Any broken promise traps, which libFuzzer
 * reports as a crash; memory errors and leaks are ASan's and LSan's.
 *
 * Built by tests/fuzz/CMakeLists.txt with clang; run by `make fuzz-smoke`
 * and `make fuzz`.
 */
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
            CHECK(daq_toml_table_get(v, key) == val);
        walk(val, depth + 1);
    }
    CHECK(daq_toml_table_key(v, n, NULL) == NULL && daq_toml_table_value(v, n) == NULL);

    size_t m = daq_toml_array_size(v);
    CHECK(t == DAQ_TOML_ARRAY || m == 0);
    for (size_t i = 0; i < m; i++)
        walk(daq_toml_array_get(v, i), depth + 1);
    CHECK(daq_toml_array_get(v, m) == NULL);
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
    daq_toml_free(root);
    return 0;
}
