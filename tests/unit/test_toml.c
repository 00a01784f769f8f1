/* Unit tests of the TOML parser (daq/toml.h): the accessor API (types,
 * values, exact key and value positions, definition order, lookup, NUL in
 * strings and keys, date-time fields and text), the exact one-line errors of
 * typical config mistakes, the depth cap, and empty and large documents.
 * Conformance to the whole TOML 1.0 grammar is the toml.suite test's job
 * (tests/toml/run_toml_test.py against the official toml-test cases).
 *
 * Then the hardware config's [storage] and [tap] tables on top of it
 * (daq/config.h): defaults, every key read, and the exact errors of wrong
 * keys, types and ranges.  (The other tables are checked through `daqd check-config` by
 * tests/integration/check_configs.py.) */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "daq/config.h"
#include "daq/toml.h"
#include "test_main.h"

/* ---- helpers ---------------------------------------------------------------------- */

static daq_toml *parse_len(const char *text, size_t len)
{
    char err[256] = "";
    daq_toml *root = daq_toml_parse(text, len, "cfg.toml", err, sizeof err);
    if (!root)
        fail_msg("rejected: %s", err);
    return root;
}

static daq_toml *parse(const char *text)
{
    return parse_len(text, strlen(text));
}

static void expect_error_len(const char *text, size_t len, const char *want)
{
    char err[256] = "";
    daq_toml *root = daq_toml_parse(text, len, "cfg.toml", err, sizeof err);
    if (root) {
        daq_toml_free(root);
        fail_msg("accepted, wanted \"%s\"", want);
    }
    assert_string_equal(err, want);
}

static void expect_error(const char *text, const char *want)
{
    expect_error_len(text, strlen(text), want);
}

/* The error's "message" part, for tests that care about it but not the place. */
static void expect_error_containing(const char *text, const char *want)
{
    char err[256] = "";
    daq_toml *root = daq_toml_parse(text, strlen(text), "cfg.toml", err, sizeof err);
    if (root) {
        daq_toml_free(root);
        fail_msg("accepted, wanted \"%s\"", want);
    }
    if (!strstr(err, want))
        fail_msg("error \"%s\" does not contain \"%s\"", err, want);
}

static void assert_pos(daq_toml_pos p, uint32_t line, uint32_t col)
{
    if (p.line != line || p.col != col)
        fail_msg("position %u:%u, expected %u:%u", p.line, p.col, line, col);
}

static daq_toml_pos key_pos(const daq_toml *t, size_t i)
{
    daq_toml_pos p = {0, 0};
    assert_non_null(daq_toml_table_key(t, i, &p));
    return p;
}

static const daq_toml *get(const daq_toml *t, const char *key)
{
    const daq_toml *v = daq_toml_table_find(t, key);
    if (!v)
        fail_msg("no key '%s'", key);
    return v;
}

/* ---- documents ---------------------------------------------------------------------- */

static void empty_document(void **state)
{
    (void)state;
    const char *empties[] = {"", "\n\n", "   \t\n", "# only a comment", "\r\n# x\r\n"};
    for (size_t i = 0; i < sizeof empties / sizeof empties[0]; i++) {
        daq_toml *root = parse(empties[i]);
        assert_int_equal(daq_toml_type_of(root), DAQ_TOML_TABLE);
        assert_int_equal(daq_toml_table_size(root), 0);
        assert_null(daq_toml_table_find(root, "a"));
        assert_null(daq_toml_table_key(root, 0, NULL));
        daq_toml_free(root);
    }
    char err[64];
    daq_toml *root = daq_toml_parse(NULL, 0, NULL, err, sizeof err);
    assert_non_null(root);
    daq_toml_free(root);
    daq_toml_free(NULL);
}

static void scalar_types_and_values(void **state)
{
    (void)state;
    daq_toml *root = parse("s = \"text\"\n"
                           "lit = 'C:\\dir'\n"
                           "i = -42\n"
                           "hex = 0xDEAD_beef\n"
                           "oct = 0o755\n"
                           "bin = 0b1010\n"
                           "max = 9223372036854775807\n"
                           "min = -9223372036854775808\n"
                           "f = 6.5e-3\n"
                           "neg0 = -0.0\n"
                           "big = 1_000.5\n"
                           "pinf = +inf\n"
                           "ninf = -inf\n"
                           "nan = nan\n"
                           "t = true\n"
                           "b = false\n");
    assert_int_equal(daq_toml_type_of(get(root, "s")), DAQ_TOML_STRING);
    assert_string_equal(daq_toml_string(get(root, "s"), NULL), "text");
    assert_string_equal(daq_toml_string(get(root, "lit"), NULL), "C:\\dir");
    assert_int_equal(daq_toml_type_of(get(root, "i")), DAQ_TOML_INTEGER);
    assert_int_equal(daq_toml_integer(get(root, "i")), -42);
    assert_int_equal(daq_toml_integer(get(root, "hex")), 0xDEADBEEF);
    assert_int_equal(daq_toml_integer(get(root, "oct")), 0755);
    assert_int_equal(daq_toml_integer(get(root, "bin")), 10);
    assert_true(daq_toml_integer(get(root, "max")) == INT64_MAX);
    assert_true(daq_toml_integer(get(root, "min")) == INT64_MIN);
    assert_int_equal(daq_toml_type_of(get(root, "f")), DAQ_TOML_FLOAT);
    assert_true(daq_toml_float(get(root, "f")) == 6.5e-3);
    assert_true(daq_toml_float(get(root, "neg0")) == 0.0 &&
                signbit(daq_toml_float(get(root, "neg0"))));
    assert_true(daq_toml_float(get(root, "big")) == 1000.5);
    assert_true(isinf(daq_toml_float(get(root, "pinf"))) && daq_toml_float(get(root, "pinf")) > 0);
    assert_true(isinf(daq_toml_float(get(root, "ninf"))) && daq_toml_float(get(root, "ninf")) < 0);
    assert_true(isnan(daq_toml_float(get(root, "nan"))));
    assert_int_equal(daq_toml_type_of(get(root, "t")), DAQ_TOML_BOOL);
    assert_true(daq_toml_bool(get(root, "t")));
    assert_false(daq_toml_bool(get(root, "b")));
    daq_toml_free(root);
}

static void type_names(void **state)
{
    (void)state;
    const char *names[] = {"table", "array",    "string",         "integer",    "float",
                           "bool",  "datetime", "datetime-local", "date-local", "time-local"};
    for (int t = DAQ_TOML_TABLE; t <= DAQ_TOML_TIME_LOCAL; t++)
        assert_string_equal(daq_toml_type_name((daq_toml_type)t), names[t]);
}

static void wrong_type_accessors(void **state)
{
    (void)state;
    daq_toml *root = parse("s = 'x'\ni = 7\nf = 1.5\nb = true\nd = 1979-05-27\na = [1]\n");
    const daq_toml *s = get(root, "s"), *i = get(root, "i"), *f = get(root, "f");
    const daq_toml *b = get(root, "b"), *d = get(root, "d"), *a = get(root, "a");
    size_t len = 99;
    assert_null(daq_toml_string(i, &len));
    assert_int_equal(len, 0);
    assert_int_equal(daq_toml_integer(s), 0);
    assert_true(daq_toml_float(i) == 0.0); /* no conversion from integer */
    assert_int_equal(daq_toml_integer(f), 0);
    assert_false(daq_toml_bool(i));
    assert_null(daq_toml_datetime_get(s));
    assert_null(daq_toml_datetime_text(b));
    assert_int_equal(daq_toml_table_size(a), 0);
    assert_null(daq_toml_table_find(a, "x"));
    assert_null(daq_toml_table_key(d, 0, NULL));
    assert_null(daq_toml_table_value(a, 0));
    assert_int_equal(daq_toml_array_size(root), 0);
    assert_null(daq_toml_array_at(root, 0));
    assert_null(daq_toml_array_at(a, 1));
    assert_null(daq_toml_table_key(root, 6, NULL));
    assert_null(daq_toml_table_find(root, NULL));
    daq_toml_free(root);
}

static void positions_of_keys_and_values(void **state)
{
    (void)state;
    daq_toml *root = parse("# daq config\n"
                           "title = \"x\"\n"
                           "[server]\n"
                           "  port = 50051  # comment\n"
                           "  bind.host = '127.0.0.1'\n"
                           "[[devices]]\n"
                           "id = \"cam0\"\n"
                           "driver = { type = \"sim\", size = [640, 480] }\n");
    assert_pos(daq_toml_pos_of(root), 1, 1);
    assert_pos(key_pos(root, 0), 2, 1); /* title */
    assert_pos(daq_toml_pos_of(get(root, "title")), 2, 9);
    const daq_toml *server = get(root, "server");
    assert_pos(key_pos(root, 1), 3, 2);
    assert_pos(daq_toml_pos_of(server), 3, 1); /* a header table starts at its '[' */
    assert_pos(key_pos(server, 0), 4, 3);
    assert_pos(daq_toml_pos_of(get(server, "port")), 4, 10);
    const daq_toml *bind = get(server, "bind");
    assert_pos(key_pos(server, 1), 5, 3);
    assert_pos(daq_toml_pos_of(bind), 5, 3); /* a dotted-key table starts at its key */
    assert_pos(key_pos(bind, 0), 5, 8);
    assert_pos(daq_toml_pos_of(get(bind, "host")), 5, 15);

    const daq_toml *devices = get(root, "devices");
    assert_int_equal(daq_toml_type_of(devices), DAQ_TOML_ARRAY);
    assert_pos(key_pos(root, 2), 6, 3);
    assert_pos(daq_toml_pos_of(devices), 6, 1);
    const daq_toml *dev = daq_toml_array_at(devices, 0);
    assert_pos(daq_toml_pos_of(dev), 6, 1);
    assert_pos(key_pos(dev, 0), 7, 1);
    assert_pos(daq_toml_pos_of(get(dev, "id")), 7, 6);
    const daq_toml *driver = get(dev, "driver");
    assert_pos(key_pos(dev, 1), 8, 1);
    assert_pos(daq_toml_pos_of(driver), 8, 10);
    assert_pos(key_pos(driver, 0), 8, 12);
    assert_pos(daq_toml_pos_of(get(driver, "type")), 8, 19);
    assert_pos(key_pos(driver, 1), 8, 26);
    const daq_toml *size = get(driver, "size");
    assert_pos(daq_toml_pos_of(size), 8, 33);
    assert_pos(daq_toml_pos_of(daq_toml_array_at(size, 0)), 8, 34);
    assert_pos(daq_toml_pos_of(daq_toml_array_at(size, 1)), 8, 39);
    daq_toml_free(root);
}

static void positions_after_crlf_bom_and_multiline(void **state)
{
    (void)state;
    /* columns count bytes from the start of the line, after a byte order mark */
    daq_toml *root = parse("\xEF\xBB\xBF"
                           "a = 1\r\n"
                           "s = \"\"\"\r\n"
                           "two\r\n"
                           "lines\"\"\"\r\n"
                           "\"\xC3\xA9t\xC3\xA9\" = \"x\"\n"
                           "'\xC3\xA9' = 2\n");
    assert_pos(key_pos(root, 0), 1, 1);
    assert_pos(daq_toml_pos_of(get(root, "a")), 1, 5);
    assert_pos(daq_toml_pos_of(get(root, "s")), 2, 5);
    assert_string_equal(daq_toml_string(get(root, "s"), NULL), "two\nlines"); /* CRLF -> LF */
    assert_pos(key_pos(root, 2), 5, 1);
    assert_pos(daq_toml_pos_of(daq_toml_table_value(root, 2)), 5, 11);
    assert_pos(key_pos(root, 3), 6, 1);
    assert_pos(daq_toml_pos_of(daq_toml_table_value(root, 3)), 6, 8);
    daq_toml_free(root);
    expect_error("\xC3\xA9 = 1\n", "cfg.toml:1:1: expected a key, found U+00E9"); /* not bare */
}

static void definition_order(void **state)
{
    (void)state;
    daq_toml *root = parse("zeta = 1\n"
                           "alpha = 2\n"
                           "m.z = 3\n"
                           "m.a = 4\n"
                           "[b.sub]\n"
                           "[a]\n"
                           "[b]\n"
                           "later = 5\n");
    const char *want[] = {"zeta", "alpha", "m", "b", "a"};
    assert_int_equal(daq_toml_table_size(root), 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(daq_toml_table_key(root, i, NULL), want[i]);
    const daq_toml *m = get(root, "m");
    assert_string_equal(daq_toml_table_key(m, 0, NULL), "z");
    assert_string_equal(daq_toml_table_key(m, 1, NULL), "a");
    const daq_toml *b = get(root, "b");
    assert_string_equal(daq_toml_table_key(b, 0, NULL), "sub");
    assert_string_equal(daq_toml_table_key(b, 1, NULL), "later");
    daq_toml_free(root);
}

static void implicit_table_defined_later(void **state)
{
    (void)state;
    daq_toml *root = parse("[a.b]\n"
                           "x = 1\n"
                           "[a]\n"
                           "y = 2\n");
    /* 'a' was first named on line 1; its definition is the [a] on line 3 */
    assert_pos(key_pos(root, 0), 3, 2);
    const daq_toml *a = get(root, "a");
    assert_pos(daq_toml_pos_of(a), 3, 1);
    assert_int_equal(daq_toml_table_size(a), 2);
    assert_int_equal(daq_toml_integer(get(get(a, "b"), "x")), 1);
    assert_int_equal(daq_toml_integer(get(a, "y")), 2);
    daq_toml_free(root);
}

static void arrays_of_tables(void **state)
{
    (void)state;
    daq_toml *root = parse("[[devices]]\n"
                           "id = 'a'\n"
                           "[devices.driver]\n"
                           "type = 'sim'\n"
                           "[[devices]]\n"
                           "id = 'b'\n"
                           "[devices.driver]\n"
                           "type = 'pvcam'\n"
                           "[[devices.driver.ports]]\n"
                           "n = 1\n"
                           "[[devices.driver.ports]]\n"
                           "n = 2\n");
    const daq_toml *devices = get(root, "devices");
    assert_int_equal(daq_toml_array_size(devices), 2);
    const daq_toml *d1 = daq_toml_array_at(devices, 1);
    assert_string_equal(daq_toml_string(get(d1, "id"), NULL), "b");
    assert_pos(daq_toml_pos_of(d1), 5, 1);
    const daq_toml *drv = get(d1, "driver");
    assert_string_equal(daq_toml_string(get(drv, "type"), NULL), "pvcam");
    const daq_toml *ports = get(drv, "ports");
    assert_int_equal(daq_toml_array_size(ports), 2);
    assert_int_equal(daq_toml_integer(get(daq_toml_array_at(ports, 1), "n")), 2);
    const daq_toml *d0 = daq_toml_array_at(devices, 0);
    assert_string_equal(daq_toml_string(get(get(d0, "driver"), "type"), NULL), "sim");
    assert_null(daq_toml_table_find(get(d0, "driver"), "ports"));
    daq_toml_free(root);
}

static void mixed_and_nested_arrays(void **state)
{
    (void)state;
    daq_toml *root = parse("a = [1, 'two', 3.0, [4], {five = 5}, ]\n"
                           "e = [\n"
                           "  # comment\n"
                           "]\n");
    const daq_toml *a = get(root, "a");
    assert_int_equal(daq_toml_array_size(a), 5);
    assert_int_equal(daq_toml_type_of(daq_toml_array_at(a, 1)), DAQ_TOML_STRING);
    assert_int_equal(daq_toml_type_of(daq_toml_array_at(a, 3)), DAQ_TOML_ARRAY);
    assert_int_equal(daq_toml_integer(get(daq_toml_array_at(a, 4), "five")), 5);
    assert_int_equal(daq_toml_array_size(get(root, "e")), 0);
    daq_toml_free(root);
}

static void get_by_key(void **state)
{
    (void)state;
    daq_toml *root = parse("\"quoted key\" = 1\n"
                           "'' = 2\n"
                           "a.\"b.c\" = 3\n"
                           "KEY = 4\n");
    assert_int_equal(daq_toml_integer(get(root, "quoted key")), 1);
    assert_int_equal(daq_toml_integer(get(root, "")), 2);
    assert_int_equal(daq_toml_integer(get(get(root, "a"), "b.c")), 3);
    assert_null(daq_toml_table_find(root, "key")); /* keys are case-sensitive */
    assert_null(daq_toml_table_find(root, "a.b.c"));
    daq_toml_free(root);
}

static void strings_with_nul_and_escapes(void **state)
{
    (void)state;
    daq_toml *root = parse("s = \"a\\u0000b\"\n"
                           "\"k\\u0000ey\" = 1\n"
                           "e = \"\\b\\t\\n\\f\\r\\\"\\\\\\u00e9\\U0001F600\"\n"
                           "ml = \"\"\"\n"
                           "one \\\n"
                           "    two\"\"\"\n"
                           "q = '''it's \"\"''''\n");
    size_t len = 0;
    const char *s = daq_toml_string(get(root, "s"), &len);
    assert_int_equal(len, 3);
    assert_memory_equal(s, "a\0b", 4); /* NUL-terminated after the length too */
    assert_string_equal(daq_toml_table_key(root, 1, NULL), "k"); /* truncated at the NUL */
    assert_int_equal(daq_toml_table_key_len(root, 1), 4);
    assert_string_equal(daq_toml_string(get(root, "e"), &len),
                        "\b\t\n\f\r\"\\\xC3\xA9\xF0\x9F\x98\x80");
    assert_int_equal(len, 13);
    assert_string_equal(daq_toml_string(get(root, "ml"), NULL), "one two");
    assert_string_equal(daq_toml_string(get(root, "q"), NULL), "it's \"\"'");
    daq_toml_free(root);
}

static void datetime_fields_and_text(void **state)
{
    (void)state;
    daq_toml *root = parse("odt = 1979-05-27 07:32:00.999999999-07:30\n"
                           "z = 1979-05-27t07:32:00z\n"
                           "ldt = 2000-02-29T23:59:59.5\n"
                           "ld = 2024-12-31\n"
                           "lt = 07:32:00.1234567891\n"
                           "leap = 2016-12-31T23:59:60Z\n");
    const daq_toml *v = get(root, "odt");
    assert_int_equal(daq_toml_type_of(v), DAQ_TOML_DATETIME);
    const daq_toml_datetime *d = daq_toml_datetime_get(v);
    assert_int_equal(d->year, 1979);
    assert_int_equal(d->month, 5);
    assert_int_equal(d->day, 27);
    assert_int_equal(d->hour, 7);
    assert_int_equal(d->minute, 32);
    assert_int_equal(d->second, 0);
    assert_int_equal(d->nanosecond, 999999999);
    assert_true(d->has_offset);
    assert_int_equal(d->offset_minutes, -450);
    assert_string_equal(daq_toml_datetime_text(v), "1979-05-27 07:32:00.999999999-07:30");

    d = daq_toml_datetime_get(get(root, "z"));
    assert_true(d->has_offset);
    assert_int_equal(d->offset_minutes, 0);
    assert_string_equal(daq_toml_datetime_text(get(root, "z")), "1979-05-27t07:32:00z");

    v = get(root, "ldt");
    assert_int_equal(daq_toml_type_of(v), DAQ_TOML_DATETIME_LOCAL);
    d = daq_toml_datetime_get(v);
    assert_false(d->has_offset);
    assert_int_equal(d->day, 29);
    assert_int_equal(d->nanosecond, 500000000);

    v = get(root, "ld");
    assert_int_equal(daq_toml_type_of(v), DAQ_TOML_DATE_LOCAL);
    d = daq_toml_datetime_get(v);
    assert_int_equal(d->year, 2024);
    assert_int_equal(d->hour + d->minute + d->second, 0);
    assert_string_equal(daq_toml_datetime_text(v), "2024-12-31");

    v = get(root, "lt");
    assert_int_equal(daq_toml_type_of(v), DAQ_TOML_TIME_LOCAL);
    d = daq_toml_datetime_get(v);
    assert_int_equal(d->year + d->month + d->day, 0);
    assert_int_equal(d->nanosecond, 123456789); /* truncated to ns */
    assert_string_equal(daq_toml_datetime_text(v), "07:32:00.1234567891");

    assert_int_equal(daq_toml_datetime_get(get(root, "leap"))->second, 60);
    daq_toml_free(root);
}

/* ---- errors ------------------------------------------------------------------------ */

static void error_duplicate_key(void **state)
{
    (void)state;
    expect_error("[server]\n"
                 "port = 50051\n"
                 "bind = 'x'\n"
                 "    port = 50052\n",
                 "cfg.toml:4:5: duplicate key 'port' (first defined at 2:1)");
    expect_error("a.b = 1\na.b = 2\n", "cfg.toml:2:3: duplicate key 'a.b' (first defined at 1:3)");
    expect_error("t = { x = 1, x = 2 }\n",
                 "cfg.toml:1:14: duplicate key 'x' (first defined at 1:7)");
}

static void error_missing_equals(void **state)
{
    (void)state;
    expect_error("[server]\nport 8080\n", "cfg.toml:2:6: expected '=' after the key, found '8'");
    expect_error("port\n", "cfg.toml:1:5: expected '=' after the key, found end of line");
    expect_error("port =\n", "cfg.toml:1:7: expected a value, found end of line");
}

static void error_unterminated_string(void **state)
{
    (void)state;
    expect_error("name = \"cam0\nid = 1\n",
                 "cfg.toml:1:8: unterminated string (a basic string must end on its line)");
    expect_error("a = 1\nb = '''\nno end\n", "cfg.toml:2:5: unterminated multi-line string");
    expect_error("s = \"bad \\q\"\n", "cfg.toml:1:10: invalid escape sequence '\\q'");
}

static void error_bad_numbers(void **state)
{
    (void)state;
    expect_error("fps = 0100\n",
                 "cfg.toml:1:7: invalid number '0100': leading zeros are not allowed");
    expect_error("n = 9223372036854775808\n",
                 "cfg.toml:1:5: integer '9223372036854775808' is out of range (64-bit signed)");
    expect_error("n = -9223372036854775809\n",
                 "cfg.toml:1:5: integer '-9223372036854775809' is out of range (64-bit signed)");
    expect_error("n = 0x1_0000_0000_0000_0000\n",
                 "cfg.toml:1:5: integer '0x1_0000_0000_0000_0000' is out of range (64-bit signed)");
    expect_error("n = 1__000\n",
                 "cfg.toml:1:5: invalid number '1__000': '_' must stand between two digits");
    expect_error("x = 1.\n",
                 "cfg.toml:1:5: invalid number '1.': a decimal point needs digits on both sides");
    expect_error("x = 1e999\n", "cfg.toml:1:5: float '1e999' is out of range");
    expect_error("n = 42 ms\n", "cfg.toml:1:8: expected the end of the line, found 'm'");
    expect_error("on = yes\n", "cfg.toml:1:6: expected a value, found 'y'");
    expect_error("on = True\n", "cfg.toml:1:6: invalid value 'True' (booleans are true and false)");
}

static void error_bad_datetimes(void **state)
{
    (void)state;
    expect_error("d = 2023-02-29\n", "cfg.toml:1:13: day 29 is out of range for 2023-02");
    expect_error("d = 2023-13-01\n", "cfg.toml:1:10: month 13 is out of range (01-12)");
    expect_error("t = 24:00:00\n", "cfg.toml:1:5: hour 24 is out of range (00-23)");
    expect_error("t = 12:00\n", "cfg.toml:1:5: invalid time: expected HH:MM:SS");
    expect_error("t = 2023-01-01T00:00:00+1:00\n",
                 "cfg.toml:1:24: invalid time offset: expected Z, +HH:MM or -HH:MM");
}

static void error_table_redefinitions(void **state)
{
    (void)state;
    expect_error("[server]\nport = 1\n[pool]\n[server]\n",
                 "cfg.toml:4:2: table 'server' is defined twice (first at 1:1)");
    expect_error("server.port = 1\n[server]\n",
                 "cfg.toml:2:2: 'server' is already a table made by dotted keys (defined at 1:1); "
                 "a [table] header cannot redefine it");
    expect_error("[a.b]\n[a]\nb.c = 1\n", "cfg.toml:3:1: cannot add to table 'b' with dotted "
                                          "keys: it is defined by its header at 1:1");
    expect_error("driver = { type = 'sim' }\ndriver.width = 640\n",
                 "cfg.toml:2:1: 'driver' is already an inline table (defined at 1:1); dotted keys "
                 "cannot extend it");
    expect_error("driver = { type = 'sim' }\n[driver.x]\n",
                 "cfg.toml:2:2: 'driver' is already an inline table (defined at 1:1); a table "
                 "header cannot extend it");
    expect_error("devices = []\n[[devices]]\n",
                 "cfg.toml:2:3: 'devices' is already an array (defined at 1:1); an [[array of "
                 "tables]] header cannot append to it");
    expect_error("[[devices]]\n[devices]\n",
                 "cfg.toml:2:2: 'devices' is already an array of tables (defined at 1:3); a "
                 "[table] header cannot redefine it");
    expect_error("port = 1\n[port]\n", "cfg.toml:2:2: 'port' is already an integer (defined at "
                                       "1:1); a [table] header cannot redefine it");
    expect_error("t = { a = 1, }\n", "cfg.toml:1:14: trailing comma in an inline table");
    expect_error("t = { a = 1,\n b = 2 }\n",
                 "cfg.toml:1:13: an inline table must be on one line (newline before its '}')");
}

static void error_encoding_and_control(void **state)
{
    (void)state;
    expect_error("a = \"\xFF\"\n", "cfg.toml:1:6: invalid UTF-8 (byte 0xFF)");
    expect_error("a = \"\xED\xA0\x80\"\n",
                 "cfg.toml:1:6: invalid UTF-8 (byte 0xED)"); /* surrogate */
    expect_error("a = 1\rb = 2\n", "cfg.toml:1:6: carriage return not followed by a newline");
    expect_error("a = 1 # bell \x07\n",
                 "cfg.toml:1:14: control character U+0007 is not allowed in a comment");
    expect_error_len("a = \"x\0y\"\n", 10,
                     "cfg.toml:1:7: control character U+0000 is not allowed in a string (use an "
                     "escape)");
    expect_error("\xEF\xBB\xBF\xEF\xBB\xBF"
                 "a = 1\n",
                 "cfg.toml:1:1: expected a key, found U+FEFF");
}

static void error_file_name_and_buffer(void **state)
{
    (void)state;
    char err[64];
    assert_null(daq_toml_parse("a = ", 4, NULL, err, sizeof err));
    assert_string_equal(err, "<input>:1:5: expected a value, found end of file");
    char small[12];
    assert_null(daq_toml_parse("a = ", 4, "cfg.toml", small, sizeof small));
    assert_string_equal(small, "cfg.toml:1:");
    assert_null(daq_toml_parse("a = ", 4, "cfg.toml", NULL, 0));
    assert_null(daq_toml_parse_file("/", err, sizeof err));
    assert_string_equal(err, "/: Is a directory");
    assert_null(daq_toml_parse_file("/nonexistent/daq.toml", err, sizeof err));
    assert_string_equal(err, "/nonexistent/daq.toml: No such file or directory");
}

static void parse_file(void **state)
{
    (void)state;
    char path[] = "/tmp/daq_test_toml_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "[server]\nport = 50051\nport = 1\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    char err[256], want[256];
    assert_null(daq_toml_parse_file(path, err, sizeof err));
    snprintf(want, sizeof want, "%s:3:1: duplicate key 'port' (first defined at 2:1)", path);
    assert_string_equal(err, want);

    fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, 22), 22);
    close(fd);
    daq_toml *root = daq_toml_parse_file(path, err, sizeof err);
    assert_non_null(root);
    assert_int_equal(daq_toml_integer(get(get(root, "server"), "port")), 50051);
    daq_toml_free(root);
    unlink(path);
}

/* ---- limits -------------------------------------------------------------------------- */

static char *repeat(const char *prefix, const char *unit, size_t n, const char *suffix_unit,
                    const char *tail)
{
    size_t len = strlen(prefix) + n * (strlen(unit) + strlen(suffix_unit)) + strlen(tail) + 1;
    char *s = malloc(len), *p = s;
    p += sprintf(p, "%s", prefix);
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s", unit);
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s", suffix_unit);
    sprintf(p, "%s", tail);
    return s;
}

static void depth_limit(void **state)
{
    (void)state;
    char *ok = repeat("a = ", "[", 128, "]", "\n");
    daq_toml *root = parse(ok);
    const daq_toml *v = get(root, "a");
    for (int d = 1; d < 128; d++)
        v = daq_toml_array_at(v, 0);
    assert_int_equal(daq_toml_type_of(v), DAQ_TOML_ARRAY);
    assert_int_equal(daq_toml_array_size(v), 0);
    daq_toml_free(root);
    free(ok);

    char *deep = repeat("a = ", "[", 129, "]", "\n");
    expect_error(deep, "cfg.toml:1:133: nesting deeper than 128 levels");
    free(deep);

    /* far deeper than any stack could take by recursion: still a plain error */
    char *very = repeat("a = ", "{b = [", 100000, "]}", "\n");
    expect_error_containing(very, "nesting deeper than 128 levels");
    free(very);

    char *header = repeat("[", "a.", 128, "", "a]\n");
    expect_error_containing(header, "nesting deeper than 128 levels");
    free(header);
    char *header_ok = repeat("[", "a.", 127, "", "a]\n");
    daq_toml_free(parse(header_ok));
    free(header_ok);
    /* 128 tables and an integer in the last */
    char *dotted_ok = repeat("", "a.", 128, "", "a = 1\n");
    daq_toml_free(parse(dotted_ok));
    free(dotted_ok);
    char *dotted = repeat("", "a.", 129, "", "a = 1\n");
    expect_error_containing(dotted, "nesting deeper than 128 levels");
    free(dotted);
}

static void large_document(void **state)
{
    (void)state;
    enum { N = 10000 };
    size_t cap = (size_t)N * 40, len = 0;
    char *text = malloc(cap);
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(text + len, cap - len, "key_%d = %d\n", i, i * 3);
    len += (size_t)snprintf(text + len, cap - len, "[[t]]\nx = [");
    for (int i = 0; i < N && len + 16 < cap; i++)
        len += (size_t)snprintf(text + len, cap - len, "%d,", i);
    len += (size_t)snprintf(text + len, cap - len, "]\n");
    daq_toml *root = parse_len(text, len);
    assert_int_equal(daq_toml_table_size(root), N + 1);
    char key[32];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "key_%d", i);
        assert_string_equal(daq_toml_table_key(root, (size_t)i, NULL), key);
        assert_int_equal(daq_toml_integer(get(root, key)), i * 3);
        assert_pos(key_pos(root, (size_t)i), (uint32_t)i + 1, 1);
    }
    const daq_toml *x = get(daq_toml_array_at(get(root, "t"), 0), "x");
    assert_true(daq_toml_array_size(x) > 1000);
    daq_toml_free(root);

    /* the duplicate of key N/2 at the end is found, with both positions */
    len = 0;
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(text + len, cap - len, "key_%d = %d\n", i, i);
    len += (size_t)snprintf(text + len, cap - len, "key_%d = 0\n", N / 2);
    char want[128];
    snprintf(want, sizeof want, "cfg.toml:%d:1: duplicate key 'key_%d' (first defined at %d:1)",
             N + 1, N / 2, N / 2 + 1);
    expect_error_len(text, len, want);
    free(text);
}

/* ---- the hardware config's [storage] table ------------------------------------------ */

static void load_config(const char *text, daq_config *cfg)
{
    char err[512] = "";
    if (daq_config_load_text(text, strlen(text), "hw.toml", cfg, err, sizeof err) != 0)
        fail_msg("rejected: %s", err);
}

static void expect_config_error(const char *text, const char *want)
{
    static daq_config cfg;
    char err[512] = "";
    if (daq_config_load_text(text, strlen(text), "hw.toml", &cfg, err, sizeof err) == 0)
        fail_msg("accepted, wanted \"%s\"", want);
    assert_string_equal(err, want);
}

/* Dotted driver keys are TOML tables; their leaves become parameters under
 * the dotted name, at any depth, with the leaf's position. */
static void config_dotted_driver_keys(void **state)
{
    (void)state;
    static daq_config cfg;
    load_config("[[devices]]\nid = \"cam0\"\n[devices.driver]\ntype = \"sim\"\n"
                "roi.width = 128\nfault.jump_prob = 0.05\n\"fault.seed\" = 7\na.b.c = true\n",
                &cfg);
    const daq_config_device *d = &cfg.devices[0];
    assert_int_equal(d->n_params, 4);
    assert_string_equal(d->params[0].key, "roi.width");
    assert_int_equal(d->params[0].i, 128);
    assert_int_equal(d->params[0].pos.line, 5);
    assert_string_equal(d->params[1].key, "fault.jump_prob");
    assert_true(d->params[1].f == 0.05);
    assert_string_equal(d->params[2].key, "fault.seed");
    assert_string_equal(d->params[3].key, "a.b.c");
    assert_true(d->params[3].b);
    expect_config_error("[[devices]]\nid = \"cam0\"\n[devices.driver]\ntype = \"sim\"\n"
                        "roi.width = [1]\n",
                        "hw.toml:5:13: devices.cam0.driver.roi.width: expected a boolean, "
                        "number or string, found array");
}

static void storage_defaults_are_rust_daqs(void **state)
{
    (void)state;
    static daq_config cfg;
    load_config("", &cfg);
    const daq_config_storage *s = &cfg.storage;
    assert_string_equal(s->root, "data");
    assert_string_equal(s->compression, "gzip");
    assert_int_equal(s->compression_pos.line, 0); /* not written */
    assert_int_equal(s->compression_level, 4);
    assert_int_equal(s->chunk_size, 4096);
    assert_string_equal(s->filename_pattern, "{name}_{timestamp}.h5");
    assert_true(s->include_timestamps);
    assert_true(s->include_device_metadata);
    assert_int_equal(s->flush_interval_ms, 1000);
    assert_int_equal(s->max_buffer_mb, 256);
    assert_int_equal(s->workers, 0);
    /* daq_config_defaults gives the same */
    static daq_config d;
    daq_config_defaults(&d);
    assert_memory_equal(&d.storage, s, sizeof *s);
}

static void storage_every_key_read(void **state)
{
    (void)state;
    static daq_config cfg;
    load_config("[storage]\n"
                "root = \"/srv/recordings\"\n"
                "compression = \"zstd\"\n" /* kept as written: the daemon checks it */
                "compression_level = 9\n"
                "chunk_size = 1\n"
                "filename_pattern = \"{date}-{name}.h5\"\n"
                "include_timestamps = false\n"
                "include_device_metadata = false\n"
                "flush_interval_ms = 10\n"
                "max_buffer_mb = 65536\n"
                "workers = 64\n",
                &cfg);
    const daq_config_storage *s = &cfg.storage;
    assert_string_equal(s->root, "/srv/recordings");
    assert_string_equal(s->compression, "zstd");
    assert_int_equal(s->compression_pos.line, 3);
    assert_int_equal(s->compression_pos.col, 15);
    assert_int_equal(s->compression_level, 9);
    assert_int_equal(s->chunk_size, 1);
    assert_string_equal(s->filename_pattern, "{date}-{name}.h5");
    assert_false(s->include_timestamps);
    assert_false(s->include_device_metadata);
    assert_int_equal(s->flush_interval_ms, 10);
    assert_int_equal(s->max_buffer_mb, 65536);
    assert_int_equal(s->workers, 64);
    /* the other tables keep their defaults */
    assert_int_equal(cfg.port, 50051);
}

static void storage_errors_name_key_and_place(void **state)
{
    (void)state;
    expect_config_error("[storage]\nroot = \"\"\n", "hw.toml:2:8: storage.root: must not be empty");
    expect_config_error("[storage]\nroot = 5\n",
                        "hw.toml:2:8: storage.root: expected string, found integer");
    expect_config_error("[storage]\ncompression = true\n",
                        "hw.toml:2:15: storage.compression: expected string, found bool");
    expect_config_error("[storage]\ncompression_level = 10\n",
                        "hw.toml:2:21: storage.compression_level: 10 is out of range [0, 9]");
    expect_config_error("[storage]\nchunk_size = 0\n",
                        "hw.toml:2:14: storage.chunk_size: 0 is out of range [1, 1048576]");
    expect_config_error("[storage]\nflush_interval_ms = 5\n",
                        "hw.toml:2:21: storage.flush_interval_ms: 5 is out of range [10, 3600000]");
    expect_config_error(
        "[storage]\nflush_interval_ms = 3600001\n",
        "hw.toml:2:21: storage.flush_interval_ms: 3600001 is out of range [10, 3600000]");
    expect_config_error("[storage]\nmax_buffer_mb = 0\n",
                        "hw.toml:2:17: storage.max_buffer_mb: 0 is out of range [1, 65536]");
    expect_config_error("[storage]\nmax_buffer_mb = 65537\n",
                        "hw.toml:2:17: storage.max_buffer_mb: 65537 is out of range [1, 65536]");
    expect_config_error("[storage]\nworkers = 65\n",
                        "hw.toml:2:11: storage.workers: 65 is out of range [0, 64]");
    expect_config_error("[storage]\nworkers = -1\n",
                        "hw.toml:2:11: storage.workers: -1 is out of range [0, 64]");
    expect_config_error("[storage]\ninclude_timestamps = 1\n",
                        "hw.toml:2:22: storage.include_timestamps: expected bool, found integer");
    expect_config_error("[storage]\nfilename_pattern = \"a/{name}.h5\"\n",
                        "hw.toml:2:20: storage.filename_pattern: \"a/{name}.h5\" contains '/' "
                        "(files go into the output directory)");
    expect_config_error("[storage]\nformat = \"hdf5\"\n",
                        "hw.toml:2:1: storage.format: unknown key");
    expect_config_error("storage = 1\n", "hw.toml:1:11: storage: expected table, found integer");
    expect_config_error("[storage]\ncompression = \"an-unreasonably-long-codec-name-x\"\n",
                        "hw.toml:2:15: storage.compression: string too long (at most 31 bytes) "
                        "or contains NUL");
}

/* ---- [tap] ------------------------------------------------------------------------ */

static void tap_defaults(void **state)
{
    (void)state;
    static daq_config cfg;
    load_config("", &cfg);
    const daq_config_tap *t = &cfg.tap;
    assert_false(t->enabled);
    assert_string_equal(t->path, "");
    assert_int_equal(t->mode, 0660);
    assert_int_equal(t->n_allowed_uids, 0);
    assert_int_equal(t->n_allowed_gids, 0);
    assert_int_equal(t->max_readers, 4);
    assert_int_equal(t->lease_cap, 4);
    assert_int_equal(t->max_lease_cap, 8);
    assert_int_equal(t->lease_timeout_ms, 5000);
    assert_int_equal(t->history, 0);
    static daq_config d;
    daq_config_defaults(&d);
    assert_memory_equal(&d.tap, t, sizeof *t);
}

static void tap_every_key_read(void **state)
{
    (void)state;
    static daq_config cfg;
    load_config("[tap]\n"
                "enabled = true\n"
                "path = \"/run/daq/tap.sock\"\n"
                "mode = 0o600\n"
                "allowed_uids = [1000, 0, 4294967294]\n"
                "allowed_gids = [27]\n"
                "max_readers = 64\n"
                "lease_cap = 64\n"
                "max_lease_cap = 64\n"
                "lease_timeout_ms = 3600000\n"
                "history = 16\n",
                &cfg);
    const daq_config_tap *t = &cfg.tap;
    assert_true(t->enabled);
    assert_string_equal(t->path, "/run/daq/tap.sock");
    assert_int_equal(t->mode, 0600);
    assert_int_equal(t->n_allowed_uids, 3);
    assert_int_equal(t->allowed_uids[0], 1000);
    assert_int_equal(t->allowed_uids[1], 0);
    assert_int_equal(t->allowed_uids[2], 4294967294u);
    assert_int_equal(t->n_allowed_gids, 1);
    assert_int_equal(t->allowed_gids[0], 27);
    assert_int_equal(t->max_readers, 64);
    assert_int_equal(t->lease_cap, 64);
    assert_int_equal(t->max_lease_cap, 64);
    assert_int_equal(t->lease_timeout_ms, 3600000);
    assert_int_equal(t->history, 16);

    /* the low ends; a decimal mode is taken as written (432 = 0o660) */
    load_config("[tap]\nmode = 432\nmax_readers = 1\nlease_cap = 1\nmax_lease_cap = 1\n"
                "lease_timeout_ms = 0\nhistory = 0\nallowed_uids = []\n",
                &cfg);
    assert_int_equal(cfg.tap.mode, 0660);
    assert_int_equal(cfg.tap.max_readers, 1);
    assert_int_equal(cfg.tap.lease_cap, 1);
    assert_int_equal(cfg.tap.max_lease_cap, 1);
    assert_int_equal(cfg.tap.lease_timeout_ms, 0);
    assert_int_equal(cfg.tap.n_allowed_uids, 0);

    /* a 107-byte path fits sun_path */
    char text[256];
    snprintf(text, sizeof text, "[tap]\npath = \"/%0106d\"\n", 0);
    load_config(text, &cfg);
    assert_int_equal(strlen(cfg.tap.path), 107);

    /* an absent lease_cap follows a smaller max_lease_cap; a written one may
     * come before max_lease_cap */
    load_config("[tap]\nmax_lease_cap = 2\n", &cfg);
    assert_int_equal(cfg.tap.lease_cap, 2);
    assert_int_equal(cfg.tap.max_lease_cap, 2);
    load_config("[tap]\nlease_cap = 12\nmax_lease_cap = 12\n", &cfg);
    assert_int_equal(cfg.tap.lease_cap, 12);
}

static void tap_errors_name_key_and_place(void **state)
{
    (void)state;
    expect_config_error("[tap]\nenabled = 1\n",
                        "hw.toml:2:11: tap.enabled: expected bool, found integer");
    expect_config_error("[tap]\npath = 1\n",
                        "hw.toml:2:8: tap.path: expected string, found integer");
    char text[256];
    snprintf(text, sizeof text, "[tap]\npath = \"/%0107d\"\n", 0);
    expect_config_error(text, "hw.toml:2:8: tap.path: string too long (at most 107 bytes) or "
                              "contains NUL");
    expect_config_error("[tap]\nmode = 0o1000\n",
                        "hw.toml:2:8: tap.mode: 512 is not a permission mode (0 to 0o777; write "
                        "it as 0o660)");
    expect_config_error("[tap]\nmode = 660\n",
                        "hw.toml:2:8: tap.mode: 660 is not a permission mode (0 to 0o777; write "
                        "it as 0o660)");
    expect_config_error("[tap]\nmode = -1\n",
                        "hw.toml:2:8: tap.mode: -1 is not a permission mode (0 to 0o777; write "
                        "it as 0o660)");
    expect_config_error("[tap]\nmode = \"0660\"\n",
                        "hw.toml:2:8: tap.mode: expected integer, found string");
    expect_config_error("[tap]\nallowed_uids = 1000\n",
                        "hw.toml:2:16: tap.allowed_uids: expected array, found integer");
    expect_config_error("[tap]\nallowed_uids = [1000, \"bob\"]\n",
                        "hw.toml:2:23: tap.allowed_uids[1]: expected integer, found string");
    expect_config_error("[tap]\nallowed_gids = [-1]\n",
                        "hw.toml:2:17: tap.allowed_gids[0]: -1 is out of range [0, 4294967294]");
    expect_config_error("[tap]\nallowed_gids = [4294967295]\n",
                        "hw.toml:2:17: tap.allowed_gids[0]: 4294967295 is out of range [0, "
                        "4294967294]");
    snprintf(text, sizeof text, "[tap]\nallowed_uids = [%s]\n",
             "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17");
    expect_config_error(text, "hw.toml:2:16: tap.allowed_uids: 17 ids (at most 16)");
    expect_config_error("[tap]\nmax_readers = 0\n",
                        "hw.toml:2:15: tap.max_readers: 0 is out of range [1, 64]");
    expect_config_error("[tap]\nmax_readers = 65\n",
                        "hw.toml:2:15: tap.max_readers: 65 is out of range [1, 64]");
    expect_config_error("[tap]\nlease_cap = 0\n",
                        "hw.toml:2:13: tap.lease_cap: 0 is out of range [1, 64]");
    expect_config_error("[tap]\nmax_lease_cap = 65\n",
                        "hw.toml:2:17: tap.max_lease_cap: 65 is out of range [1, 64]");
    expect_config_error("[tap]\nlease_timeout_ms = 3600001\n",
                        "hw.toml:2:20: tap.lease_timeout_ms: 3600001 is out of range [0, 3600000]");
    expect_config_error("[tap]\nhistory = 17\n",
                        "hw.toml:2:11: tap.history: 17 is out of range [0, 16]");
    /* the cross-check, at the lease_cap whichever key comes first */
    expect_config_error("[tap]\nlease_cap = 9\n",
                        "hw.toml:2:13: tap.lease_cap: 9 is more than tap.max_lease_cap (8)");
    expect_config_error("[tap]\nmax_lease_cap = 3\nlease_cap = 4\n",
                        "hw.toml:3:13: tap.lease_cap: 4 is more than tap.max_lease_cap (3)");
    expect_config_error("[tap]\nlease_cap = 4\nmax_lease_cap = 3\n",
                        "hw.toml:2:13: tap.lease_cap: 4 is more than tap.max_lease_cap (3)");
    expect_config_error("[tap]\nreaders = 2\n", "hw.toml:2:1: tap.readers: unknown key");
    expect_config_error("tap = true\n", "hw.toml:1:7: tap: expected table, found bool");
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empty_document),
        cmocka_unit_test(scalar_types_and_values),
        cmocka_unit_test(type_names),
        cmocka_unit_test(wrong_type_accessors),
        cmocka_unit_test(positions_of_keys_and_values),
        cmocka_unit_test(positions_after_crlf_bom_and_multiline),
        cmocka_unit_test(definition_order),
        cmocka_unit_test(implicit_table_defined_later),
        cmocka_unit_test(arrays_of_tables),
        cmocka_unit_test(mixed_and_nested_arrays),
        cmocka_unit_test(get_by_key),
        cmocka_unit_test(strings_with_nul_and_escapes),
        cmocka_unit_test(datetime_fields_and_text),
        cmocka_unit_test(error_duplicate_key),
        cmocka_unit_test(error_missing_equals),
        cmocka_unit_test(error_unterminated_string),
        cmocka_unit_test(error_bad_numbers),
        cmocka_unit_test(error_bad_datetimes),
        cmocka_unit_test(error_table_redefinitions),
        cmocka_unit_test(error_encoding_and_control),
        cmocka_unit_test(error_file_name_and_buffer),
        cmocka_unit_test(parse_file),
        cmocka_unit_test(depth_limit),
        cmocka_unit_test(large_document),
        cmocka_unit_test(config_dotted_driver_keys),
        cmocka_unit_test(storage_defaults_are_rust_daqs),
        cmocka_unit_test(storage_every_key_read),
        cmocka_unit_test(storage_errors_name_key_and_place),
        cmocka_unit_test(tap_defaults),
        cmocka_unit_test(tap_every_key_read),
        cmocka_unit_test(tap_errors_name_key_and_place),
    };
    return daq_test_main(argc, argv, "toml", tests, sizeof tests / sizeof tests[0]);
}
