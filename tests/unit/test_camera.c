/* Unit tests of the caller side of the camera interface: parameter values
 * (coercion, parsing, JSON, lookup, the one validation of a set), the
 * driver registry (built-ins, registration, clashes), and the wrappers'
 * validation and state rules, driven through the sim driver. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "camera/camera_impl.h" /* white box: flags, ops, the engine's inline calls */
#include "daq/camera.h"
#include "test_main.h"

static const char *const colours[] = {"red", "green", "blue", NULL};

static const daq_param_desc table[] = {
    {"exposure_ms", "exposure", "ms", DAQ_PARAM_FLOAT,
     DAQ_PARAM_WRITABLE | DAQ_PARAM_LIVE | DAQ_PARAM_HAS_RANGE, 0.001, 10000, NULL},
    {"width", "width", "px", DAQ_PARAM_INT, DAQ_PARAM_WRITABLE | DAQ_PARAM_HAS_RANGE, 16, 16384,
     NULL},
    {"seed", "seed", "", DAQ_PARAM_INT, DAQ_PARAM_WRITABLE, 0, 0, NULL},
    {"ratio", "ratio", "", DAQ_PARAM_FLOAT, DAQ_PARAM_WRITABLE, 0, 0, NULL},
    {"enabled", "on/off", "", DAQ_PARAM_BOOL, DAQ_PARAM_WRITABLE, 0, 0, NULL},
    {"label", "free text", "", DAQ_PARAM_STRING, DAQ_PARAM_WRITABLE, 0, 0, NULL},
    {"colour", "one of three", "", DAQ_PARAM_ENUM, DAQ_PARAM_WRITABLE, 0, 0, colours},
};
#define N_TABLE (sizeof table / sizeof table[0])

static const daq_param_desc *desc(const char *name)
{
    const daq_param_desc *d = daq_param_find(table, N_TABLE, name);
    if (!d)
        fail_msg("no descriptor %s", name);
    return d;
}

/* Coerces v for the named descriptor; returns the result, message in err. */
static int coerce(const char *name, daq_param_value *v, char *err, size_t len)
{
    err[0] = '\0';
    return daq_param_coerce(desc(name), v, err, len);
}

static int parse(const char *name, const char *text, daq_param_value *out, char *err, size_t len)
{
    err[0] = '\0';
    return daq_param_parse(desc(name), text, out, err, len);
}

/* ---- values ----------------------------------------------------------------------------- */

static void param_constructors(void **state)
{
    assert_string_equal(daq_param_type_name(DAQ_PARAM_BOOL), "bool");
    assert_string_equal(daq_param_type_name(DAQ_PARAM_INT), "int");
    assert_string_equal(daq_param_type_name(DAQ_PARAM_FLOAT), "float");
    assert_string_equal(daq_param_type_name(DAQ_PARAM_STRING), "string");
    assert_string_equal(daq_param_type_name(DAQ_PARAM_ENUM), "enum");
    daq_param_value v = daq_param_bool(true);
    assert_int_equal(v.type, DAQ_PARAM_BOOL);
    assert_true(v.b);
    v = daq_param_int(-5);
    assert_int_equal(v.type, DAQ_PARAM_INT);
    assert_int_equal(v.i, -5);
    v = daq_param_float(2.5);
    assert_int_equal(v.type, DAQ_PARAM_FLOAT);
    assert_true(v.f == 2.5);
    v = daq_param_string("abc");
    assert_int_equal(v.type, DAQ_PARAM_STRING);
    assert_string_equal(v.s, "abc");
    char longs[300];
    memset(longs, 'x', sizeof longs - 1);
    longs[sizeof longs - 1] = '\0';
    v = daq_param_string(longs);
    assert_int_equal(strlen(v.s), DAQ_PARAM_STR_MAX - 1);
    v = daq_param_string(NULL);
    assert_string_equal(v.s, "");
}

static void coerce_numbers(void **state)
{
    char err[256];
    daq_param_value v = daq_param_int(20);
    assert_int_equal(coerce("exposure_ms", &v, err, sizeof err), 0); /* int -> float */
    assert_int_equal(v.type, DAQ_PARAM_FLOAT);
    assert_true(v.f == 20.0);

    v = daq_param_float(512.0);
    assert_int_equal(coerce("width", &v, err, sizeof err), 0); /* integral float -> int */
    assert_int_equal(v.type, DAQ_PARAM_INT);
    assert_int_equal(v.i, 512);

    v = daq_param_float(512.5);
    assert_int_equal(coerce("width", &v, err, sizeof err), -1);
    assert_string_equal(err, "width: 512.5 is not an integer");
    assert_true(v.type == DAQ_PARAM_FLOAT && v.f == 512.5); /* untouched on failure */

    v = daq_param_float(1e30);
    assert_int_equal(coerce("seed", &v, err, sizeof err), -1);
    assert_non_null(strstr(err, "not an integer"));

    v = daq_param_int((INT64_C(1) << 53) + 1); /* no double holds it */
    assert_int_equal(coerce("ratio", &v, err, sizeof err), -1);
    assert_non_null(strstr(err, "ratio: 9007199254740993 cannot be represented exactly"));
    v = daq_param_int(INT64_C(1) << 53);
    assert_int_equal(coerce("ratio", &v, err, sizeof err), 0);

    v = daq_param_float(NAN);
    assert_int_equal(coerce("ratio", &v, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a finite number"));
    v = daq_param_float(INFINITY);
    assert_int_equal(coerce("ratio", &v, err, sizeof err), -1);

    v = daq_param_bool(true);
    assert_int_equal(coerce("width", &v, err, sizeof err), -1);
    assert_string_equal(err, "width: expected int, got bool true");
    v = daq_param_string("12");
    assert_int_equal(coerce("exposure_ms", &v, err, sizeof err), -1);
    assert_string_equal(err, "exposure_ms: expected float, got string '12'");
}

static void coerce_ranges(void **state)
{
    char err[256];
    daq_param_value v = daq_param_int(20000);
    assert_int_equal(coerce("exposure_ms", &v, err, sizeof err), -1);
    assert_string_equal(err, "exposure_ms: 20000 is out of range [0.001, 10000]");
    v = daq_param_float(0.0005);
    assert_int_equal(coerce("exposure_ms", &v, err, sizeof err), -1);
    assert_string_equal(err, "exposure_ms: 0.0005 is out of range [0.001, 10000]");
    v = daq_param_float(0.001); /* bounds are inclusive */
    assert_int_equal(coerce("exposure_ms", &v, err, sizeof err), 0);
    v = daq_param_float(10000);
    assert_int_equal(coerce("exposure_ms", &v, err, sizeof err), 0);
    v = daq_param_int(15);
    assert_int_equal(coerce("width", &v, err, sizeof err), -1);
    assert_string_equal(err, "width: 15 is out of range [16, 16384]");
    v = daq_param_int(16384);
    assert_int_equal(coerce("width", &v, err, sizeof err), 0);
    v = daq_param_int(INT64_MIN); /* no range: anything goes */
    assert_int_equal(coerce("seed", &v, err, sizeof err), 0);
    assert_true(v.i == INT64_MIN);
}

static void coerce_strings_enums_bools(void **state)
{
    char err[256];
    daq_param_value v = daq_param_string("green");
    assert_int_equal(coerce("colour", &v, err, sizeof err), 0);
    assert_int_equal(v.type, DAQ_PARAM_ENUM);
    assert_string_equal(v.s, "green");
    v = daq_param_string("Green"); /* case matters */
    assert_int_equal(coerce("colour", &v, err, sizeof err), -1);
    assert_string_equal(err, "colour: 'Green' is not one of red, green, blue");
    v = daq_param_int(1);
    assert_int_equal(coerce("colour", &v, err, sizeof err), -1);
    assert_non_null(strstr(err, "colour: expected one of red, green, blue, got int 1"));

    v = daq_param_string("anything");
    assert_int_equal(coerce("label", &v, err, sizeof err), 0);
    assert_int_equal(v.type, DAQ_PARAM_STRING);
    v = daq_param_float(1.5);
    assert_int_equal(coerce("label", &v, err, sizeof err), -1);
    assert_string_equal(err, "label: expected string, got float 1.5");

    v = daq_param_bool(false);
    assert_int_equal(coerce("enabled", &v, err, sizeof err), 0);
    v = daq_param_int(1); /* no int -> bool */
    assert_int_equal(coerce("enabled", &v, err, sizeof err), -1);
    assert_string_equal(err, "enabled: expected bool, got int 1");

    assert_int_equal(daq_param_coerce(NULL, &v, err, sizeof err), -1);
    /* A zero-length message buffer is not written. */
    v = daq_param_int(1);
    assert_int_equal(daq_param_coerce(desc("enabled"), &v, NULL, 0), -1);
}

static void parse_text(void **state)
{
    char err[256];
    daq_param_value v;
    assert_int_equal(parse("enabled", "true", &v, err, sizeof err), 0);
    assert_true(v.type == DAQ_PARAM_BOOL && v.b);
    assert_int_equal(parse("enabled", " false\n", &v, err, sizeof err), 0);
    assert_true(v.type == DAQ_PARAM_BOOL && !v.b);
    assert_int_equal(parse("enabled", "yes", &v, err, sizeof err), -1);
    assert_string_equal(err, "enabled: cannot parse 'yes' as bool");
    assert_int_equal(parse("enabled", "True", &v, err, sizeof err), -1);

    assert_int_equal(parse("width", " 512 ", &v, err, sizeof err), 0);
    assert_true(v.type == DAQ_PARAM_INT && v.i == 512);
    assert_int_equal(parse("width", "1_024", &v, err, sizeof err), 0); /* TOML separators */
    assert_int_equal(v.i, 1024);
    assert_int_equal(parse("width", "2e3", &v, err, sizeof err), 0); /* integral float */
    assert_true(v.type == DAQ_PARAM_INT && v.i == 2000);
    assert_int_equal(parse("width", "512.5", &v, err, sizeof err), -1);
    assert_string_equal(err, "width: 512.5 is not an integer");
    assert_int_equal(parse("width", "99999", &v, err, sizeof err), -1);
    assert_string_equal(err, "width: 99999 is out of range [16, 16384]");
    assert_int_equal(parse("width", "abc", &v, err, sizeof err), -1);
    assert_string_equal(err, "width: cannot parse 'abc' as int");
    assert_int_equal(parse("width", "", &v, err, sizeof err), -1);
    assert_int_equal(parse("width", "0x10", &v, err, sizeof err), -1);
    assert_int_equal(parse("width", "1__0", &v, err, sizeof err), -1);
    assert_int_equal(parse("width", "\"512\"", &v, err, sizeof err), -1); /* a string */
    assert_string_equal(err, "width: expected int, got string '512'");
    assert_int_equal(parse("seed", "-7", &v, err, sizeof err), 0);
    assert_int_equal(v.i, -7);
    assert_int_equal(parse("seed", "true", &v, err, sizeof err), -1);

    assert_int_equal(parse("exposure_ms", "12.5", &v, err, sizeof err), 0);
    assert_true(v.type == DAQ_PARAM_FLOAT && v.f == 12.5);
    assert_int_equal(parse("exposure_ms", "20", &v, err, sizeof err), 0);
    assert_true(v.type == DAQ_PARAM_FLOAT && v.f == 20.0);
    assert_int_equal(parse("exposure_ms", ".5", &v, err, sizeof err), 0);
    assert_int_equal(parse("exposure_ms", "nan", &v, err, sizeof err), -1);
    assert_int_equal(parse("exposure_ms", "inf", &v, err, sizeof err), -1);
    assert_int_equal(parse("exposure_ms", "1e999", &v, err, sizeof err), -1);
    assert_int_equal(parse("exposure_ms", "5 ms", &v, err, sizeof err), -1);

    assert_int_equal(parse("label", "\"hello world\"", &v, err, sizeof err), 0);
    assert_string_equal(v.s, "hello world");
    assert_int_equal(parse("label", "bare words ", &v, err, sizeof err), 0);
    assert_string_equal(v.s, "bare words");
    assert_int_equal(parse("label", "12", &v, err, sizeof err), 0); /* text, not a number */
    assert_true(v.type == DAQ_PARAM_STRING && strcmp(v.s, "12") == 0);
    assert_int_equal(parse("label", "'C:\\dir'", &v, err, sizeof err), 0); /* TOML literal */
    assert_string_equal(v.s, "C:\\dir");
    assert_int_equal(parse("label", "\"a\\\"b\\n\\u00e9\\\\\"", &v, err, sizeof err), 0);
    assert_string_equal(v.s, "a\"b\n\xc3\xa9\\");
    assert_int_equal(parse("label", "\"gr\xc3\xbc\xc3\x9f\"", &v, err, sizeof err), 0);
    assert_string_equal(v.s, "gr\xc3\xbc\xc3\x9f"); /* raw UTF-8 passes through */
    assert_int_equal(parse("label", "\"\\u20ac\"", &v, err, sizeof err), 0);
    assert_string_equal(v.s, "\xe2\x82\xac");
    assert_int_equal(parse("label", "\"\\u12\"", &v, err, sizeof err), -1);
    assert_non_null(strstr(err, "bad \\u escape"));
    assert_int_equal(parse("label", "\"a\"b\"", &v, err, sizeof err), -1);
    assert_int_equal(parse("label", "\"\"", &v, err, sizeof err), 0);
    assert_string_equal(v.s, "");
    assert_int_equal(parse("label", "\"open", &v, err, sizeof err), -1);
    assert_string_equal(err, "label: unterminated string");
    assert_int_equal(parse("label", "\"", &v, err, sizeof err), -1);
    assert_int_equal(parse("label", "\"bad \\q\"", &v, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown escape"));
    char big[300] = "\"";
    memset(big + 1, 'y', 200);
    strcpy(big + 201, "\"");
    assert_int_equal(parse("label", big, &v, err, sizeof err), -1);
    assert_non_null(strstr(err, "longer than"));

    assert_int_equal(parse("colour", "blue", &v, err, sizeof err), 0);
    assert_true(v.type == DAQ_PARAM_ENUM && strcmp(v.s, "blue") == 0);
    assert_int_equal(parse("colour", "\"red\"", &v, err, sizeof err), 0);
    assert_int_equal(v.type, DAQ_PARAM_ENUM);
    assert_int_equal(parse("colour", "purple", &v, err, sizeof err), -1);
    assert_string_equal(err, "colour: 'purple' is not one of red, green, blue");
}

static void format_json(void **state)
{
    char buf[64];
    daq_param_value v = daq_param_bool(true);
    assert_string_equal(daq_param_format_json(&v, buf, sizeof buf), "true");
    v = daq_param_bool(false);
    assert_string_equal(daq_param_format_json(&v, buf, sizeof buf), "false");
    v = daq_param_int(-42);
    assert_string_equal(daq_param_format_json(&v, buf, sizeof buf), "-42");
    v = daq_param_int(INT64_MAX);
    assert_string_equal(daq_param_format_json(&v, buf, sizeof buf), "9223372036854775807");
    v = daq_param_float(12.5);
    assert_string_equal(daq_param_format_json(&v, buf, sizeof buf), "12.5");
    v = daq_param_float(10);
    assert_string_equal(daq_param_format_json(&v, buf, sizeof buf), "10.0");
    v = daq_param_float(0.1);
    assert_string_equal(daq_param_format_json(&v, buf, sizeof buf), "0.1");
    v = daq_param_float(1.0 / 3);
    assert_true(strtod(daq_param_format_json(&v, buf, sizeof buf), NULL) == 1.0 / 3);
    v = daq_param_float(1e-7);
    assert_string_equal(daq_param_format_json(&v, buf, sizeof buf), "1e-07");
    v = daq_param_float(NAN);
    assert_string_equal(daq_param_format_json(&v, buf, sizeof buf), "null");
    v = daq_param_string("say \"hi\"\\\n\t\x01");
    assert_string_equal(daq_param_format_json(&v, buf, sizeof buf),
                        "\"say \\\"hi\\\"\\\\\\n\\t\\u0001\"");
    v = daq_param_string("blue");
    v.type = DAQ_PARAM_ENUM;
    assert_string_equal(daq_param_format_json(&v, buf, sizeof buf), "\"blue\"");
    /* Truncation stays NUL-terminated and within the buffer. */
    char small[6];
    memset(small, 'Z', sizeof small);
    v = daq_param_string("abcdefgh");
    daq_param_format_json(&v, small, sizeof small);
    assert_true(strlen(small) < sizeof small);
    v = daq_param_int(123456789);
    daq_param_format_json(&v, small, sizeof small);
    assert_string_equal(small, "12345");
    /* Round trip: what format writes, parse reads back. */
    daq_param_value back;
    char err[128];
    v = daq_param_string("a\"b\\c");
    daq_param_format_json(&v, buf, sizeof buf);
    assert_int_equal(parse("label", buf, &back, err, sizeof err), 0);
    assert_string_equal(back.s, v.s);
    v = daq_param_float(0.1 + 0.2);
    daq_param_format_json(&v, buf, sizeof buf);
    assert_int_equal(parse("ratio", buf, &back, err, sizeof err), 0);
    assert_true(back.f == v.f);
}

static void find_params(void **state)
{
    assert_ptr_equal(daq_param_find(table, N_TABLE, "width"), &table[1]);
    assert_ptr_equal(daq_param_find(table, N_TABLE, "colour"), &table[N_TABLE - 1]);
    assert_null(daq_param_find(table, N_TABLE, "Width"));
    assert_null(daq_param_find(table, N_TABLE, "widt"));
    assert_null(daq_param_find(table, N_TABLE, ""));
    assert_null(daq_param_find(table, N_TABLE, NULL));
    assert_null(daq_param_find(NULL, 3, "width"));
    assert_null(daq_param_find(table, 1, "width")); /* only the first n are searched */
}

/* The one validation of a set, for any table (the daemon's own too). */
static void validate_set(void **state)
{
    char err[256];
    daq_param_value out, v = daq_param_int(20);
    const daq_param_desc ro = {"ro", "", "", DAQ_PARAM_INT, 0, 0, 0, NULL};
    assert_int_equal(daq_param_validate(&ro, false, &v, NULL, &out, err, sizeof err), -1);
    assert_string_equal(err, "ro: parameter is read-only");
    /* not LIVE: refused while streaming, accepted (coerced) otherwise */
    assert_int_equal(daq_param_validate(desc("width"), true, &v, NULL, &out, err, sizeof err), -1);
    assert_string_equal(err, "width: cannot change while streaming");
    v = daq_param_float(20.0);
    assert_int_equal(daq_param_validate(desc("width"), false, &v, NULL, &out, err, sizeof err), 0);
    assert_true(out.type == DAQ_PARAM_INT && out.i == 20);
    /* LIVE: fine while streaming; text is parsed, range still checked */
    assert_int_equal(
        daq_param_validate(desc("exposure_ms"), true, NULL, "2.5", &out, err, sizeof err), 0);
    assert_true(out.type == DAQ_PARAM_FLOAT && out.f == 2.5);
    assert_int_equal(
        daq_param_validate(desc("exposure_ms"), true, NULL, "1e9", &out, err, sizeof err), -1);
    assert_non_null(strstr(err, "exposure_ms: "));
    assert_non_null(strstr(err, "out of range"));
    assert_int_equal(daq_param_validate(desc("colour"), false, NULL, NULL, &out, err, sizeof err),
                     -1);
    assert_string_equal(err, "colour: no value");
}

/* ---- registry ---------------------------------------------------------------------------- */

static void registry_and_alias(void **state)
{
    const char *types[64];
    size_t n = daq_camera_types(types, 64);
    assert_true(n >= 3 && n <= 64);
    /* libdaq's built-ins, in order: sim (and its rust-daq alias), pvcam */
    assert_string_equal(types[0], "sim");
    assert_string_equal(types[1], "mock_camera");
    assert_string_equal(types[2], "pvcam");
    assert_int_equal(daq_camera_types(types, 1), n); /* the count, whatever max */
    assert_true(daq_camera_type_known("sim"));
    assert_true(daq_camera_type_known("mock_camera"));
    assert_false(daq_camera_type_known("SIM"));
    assert_false(daq_camera_type_known(""));
    assert_false(daq_camera_type_known(NULL));
    const daq_driver *sim = daq_driver_find("sim");
    assert_non_null(sim);
    assert_string_equal(sim->type, "sim");
    assert_non_null(sim->description);
    assert_ptr_equal(daq_driver_find("mock_camera"), sim);
    assert_null(daq_driver_find("SIM"));
    assert_null(daq_driver_find("foo"));
    assert_null(daq_driver_find(NULL));

    char err[256] = "";
    assert_null(daq_camera_create("foo", "cam0", err, sizeof err));
    /* every registered driver is named; the list grows with the drivers */
    assert_non_null(strstr(err, "unknown camera driver 'foo' (known: sim, mock_camera, pvcam"));
    assert_null(daq_camera_create(NULL, "cam0", err, sizeof err));
    assert_non_null(strstr(err, "unknown camera driver"));

    daq_camera *cam = daq_camera_create("mock_camera", "cam0", err, sizeof err);
    assert_non_null(cam);
    assert_string_equal(daq_camera_type(cam), "sim"); /* canonical, not the alias */
    assert_string_equal(daq_camera_id(cam), "cam0");
    assert_int_equal(daq_camera_mode_get(cam), DAQ_CAMERA_COPY);
    assert_false(daq_camera_streaming(cam));
    /* rust-daq's mock_camera parameters exist under the same names. */
    daq_param_value v;
    assert_int_equal(daq_camera_get_param(cam, "width", &v, err, sizeof err), 0);
    assert_int_equal(v.i, 2048);
    assert_int_equal(daq_camera_get_param(cam, "height", &v, err, sizeof err), 0);
    assert_int_equal(v.i, 2048);
    daq_camera_destroy(cam);

    /* A long id is truncated, a missing one defaults to the type. */
    char longid[200];
    memset(longid, 'i', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    cam = daq_camera_create("sim", longid, err, sizeof err);
    assert_int_equal(strlen(daq_camera_id(cam)), sizeof cam->id - 1);
    daq_camera_destroy(cam);
    cam = daq_camera_create("sim", NULL, err, sizeof err);
    assert_string_equal(daq_camera_id(cam), "sim");
    daq_camera_destroy(cam);
    daq_camera_destroy(NULL);
}

/* A driver of the test's own: sim's ops under other names, to register. */
static void *sim_create_via(daq_camera *cam, char *err, size_t err_len)
{
    return daq_driver_find("sim")->create(cam, err, err_len);
}

static const char *const test_aliases[] = {"test_cam_alias", NULL};
static daq_driver test_driver = {"test_cam", test_aliases, "a test driver", NULL, sim_create_via};
static const char *const clash_aliases[] = {"mock_camera", NULL};
static daq_driver clash_driver = {"test_clash", clash_aliases, "takes sim's alias", NULL,
                                  sim_create_via};

static void registry_register(void **state)
{
    char err[256] = "";
    test_driver.ops = clash_driver.ops = daq_driver_find("sim")->ops;
    assert_false(daq_camera_type_known("test_cam"));
    size_t before = daq_camera_types(NULL, 0);
    /* a driver private to a program works without registering */
    daq_camera *cam = daq_camera_create_with(&test_driver, "t0", err, sizeof err);
    assert_non_null(cam);
    assert_ptr_equal(daq_camera_driver(cam), &test_driver);
    assert_string_equal(daq_camera_type(cam), "test_cam");
    assert_non_null(daq_camera_priv(cam));
    daq_camera_destroy(cam);

    assert_int_equal(daq_driver_register(&test_driver, err, sizeof err), 0);
    assert_int_equal(daq_driver_register(&test_driver, err, sizeof err), 0); /* idempotent */
    assert_int_equal(daq_camera_types(NULL, 0), before + 2);
    assert_true(daq_camera_type_known("test_cam_alias"));
    cam = daq_camera_create("test_cam_alias", "t1", err, sizeof err);
    assert_non_null(cam);
    assert_string_equal(daq_camera_type(cam), "test_cam");
    daq_camera_destroy(cam);

    /* a type or alias taken by another driver is refused, naming it */
    assert_int_equal(daq_driver_register(&clash_driver, err, sizeof err), -1);
    assert_string_equal(
        err, "camera driver 'test_clash': type 'mock_camera' is taken by another driver");
    assert_false(daq_camera_type_known("test_clash"));
    daq_driver incomplete = {"test_incomplete", NULL, "", NULL, NULL};
    assert_int_equal(daq_driver_register(&incomplete, err, sizeof err), -1);
    assert_non_null(strstr(err, "is incomplete"));
    assert_null(daq_camera_create_with(&incomplete, "x", err, sizeof err));
    assert_non_null(strstr(err, "is incomplete"));
    assert_int_equal(daq_camera_types(NULL, 0), before + 2);
}

/* ---- wrappers ------------------------------------------------------------------------------ */

static daq_camera *make_cam(void)
{
    char err[256] = "";
    daq_camera *cam = daq_camera_create("sim", "w", err, sizeof err);
    if (!cam)
        fail_msg("create: %s", err);
    /* Small and instant, so starting is cheap. */
    if (daq_camera_set_param_text(cam, "width", "64", err, sizeof err) < 0 ||
        daq_camera_set_param_text(cam, "height", "16", err, sizeof err) < 0 ||
        daq_camera_set_param_text(cam, "timing", "instant", err, sizeof err) < 0)
        fail_msg("set: %s", err);
    return cam;
}

static void wrapper_param_validation(void **state)
{
    daq_camera *cam = make_cam();
    char err[256];
    daq_param_value v = daq_param_int(1);
    assert_int_equal(daq_camera_set_param(cam, "x", &v, err, sizeof err), -1);
    assert_string_equal(err, "unknown parameter 'x'");
    assert_int_equal(daq_camera_set_param_text(cam, "nope", "1", err, sizeof err), -1);
    assert_string_equal(err, "unknown parameter 'nope'");
    assert_int_equal(daq_camera_get_param(cam, "nope", &v, err, sizeof err), -1);
    assert_string_equal(err, "unknown parameter 'nope'");

    v = daq_param_float(-30);
    assert_int_equal(daq_camera_set_param(cam, "temperature_c", &v, err, sizeof err), -1);
    assert_string_equal(err, "temperature_c: parameter is read-only");
    assert_int_equal(daq_camera_get_param(cam, "temperature_c", &v, err, sizeof err), 0);
    assert_true(v.type == DAQ_PARAM_FLOAT && v.f < 0);

    v = daq_param_int(20000);
    assert_int_equal(daq_camera_set_param(cam, "exposure_ms", &v, err, sizeof err), -1);
    assert_string_equal(err, "exposure_ms: 20000 is out of range [0.001, 10000]");
    v = daq_param_string("fast");
    assert_int_equal(daq_camera_set_param(cam, "timing", &v, err, sizeof err), -1);
    assert_string_equal(err, "timing: 'fast' is not one of instant, realistic, chaos");
    v = daq_param_string("64");
    assert_int_equal(daq_camera_set_param(cam, "width", &v, err, sizeof err), -1);
    assert_non_null(strstr(err, "width: expected int"));
    assert_int_equal(daq_camera_set_param(cam, "width", NULL, err, sizeof err), -1);

    /* Accepted values read back in the described type. */
    v = daq_param_float(128.0);
    assert_int_equal(daq_camera_set_param(cam, "width", &v, err, sizeof err), 0);
    assert_int_equal(daq_camera_get_param(cam, "width", &v, err, sizeof err), 0);
    assert_true(v.type == DAQ_PARAM_INT && v.i == 128);
    assert_int_equal(daq_camera_set_param_text(cam, "exposure_ms", "5", err, sizeof err), 0);
    assert_int_equal(daq_camera_get_param(cam, "exposure_ms", &v, err, sizeof err), 0);
    assert_true(v.type == DAQ_PARAM_FLOAT && v.f == 5.0);
    assert_int_equal(
        daq_camera_set_param_text(cam, "buffer_mode", "\"overwrite\"", err, sizeof err), 0);
    assert_int_equal(daq_camera_get_param(cam, "buffer_mode", &v, err, sizeof err), 0);
    assert_true(v.type == DAQ_PARAM_ENUM && strcmp(v.s, "overwrite") == 0);
    char json[64];
    assert_string_equal(daq_param_format_json(&v, json, sizeof json), "\"overwrite\"");

    /* Every listed parameter can be read and is described. */
    daq_param_desc t[DAQ_CAMERA_MAX_PARAMS];
    size_t n = daq_camera_params_snapshot(cam, t, DAQ_CAMERA_MAX_PARAMS);
    assert_true(n >= 20 && n <= DAQ_CAMERA_MAX_PARAMS);
    daq_param_desc one;
    assert_int_equal(daq_camera_get_param_desc(cam, "fault.seed", &one, err, sizeof err), 0);
    assert_string_equal(one.name, "fault.seed");
    assert_int_equal(daq_camera_get_param_desc(cam, "nope", &one, err, sizeof err), -1);
    assert_string_equal(err, "unknown parameter 'nope'");
    daq_param_desc two[2];
    assert_int_equal(daq_camera_params_snapshot(cam, two, 2), n); /* copies 2, counts all */
    assert_int_equal(daq_camera_params_snapshot(cam, NULL, 0), n);
    assert_string_equal(two[1].name, t[1].name);
    for (size_t i = 0; i < n; i++) {
        assert_non_null(t[i].description);
        assert_non_null(t[i].units);
        if (daq_camera_get_param(cam, t[i].name, &v, err, sizeof err) < 0)
            fail_msg("get %s: %s", t[i].name, err);
        daq_param_value c = v;
        if (daq_param_coerce(&t[i], &c, err, sizeof err) < 0 &&
            strcmp(t[i].name, "temperature_c") != 0)
            fail_msg("%s reads back a value its own descriptor refuses: %s", t[i].name, err);
    }
    assert_non_null(daq_param_find(t, n, "fault.jump_max"));
    daq_camera_destroy(cam);
}

static void wrapper_streaming_rules(void **state)
{
    daq_camera *cam = make_cam();
    char err[256];
    assert_int_equal(daq_camera_open(cam, err, sizeof err), 0);
    assert_int_equal(daq_camera_open(cam, err, sizeof err), 0); /* idempotent */
    assert_true(cam->opened);
    daq_camera_close(cam);
    daq_camera_close(cam);
    assert_false(cam->opened);

    /* start opens implicitly; a second start is a no-op. */
    assert_int_equal(daq_camera_start(cam, err, sizeof err), 0);
    assert_true(cam->opened);
    assert_true(daq_camera_streaming(cam));
    assert_int_equal(daq_camera_start(cam, err, sizeof err), 0);
    assert_true(daq_camera_streaming(cam));

    assert_int_equal(daq_camera_set_param_text(cam, "width", "32", err, sizeof err), -1);
    assert_string_equal(err, "width: cannot change while streaming");
    assert_int_equal(daq_camera_set_param_text(cam, "temperature_c", "1", err, sizeof err), -1);
    assert_string_equal(err, "temperature_c: parameter is read-only");
    assert_int_equal(daq_camera_set_param_text(cam, "exposure_ms", "0.5", err, sizeof err), 0);
    assert_int_equal(daq_camera_set_param_text(cam, "exposure_ms", "-1", err, sizeof err), -1);
    assert_non_null(strstr(err, "out of range"));

    daq_camera_format f;
    assert_int_equal(daq_camera_get_format(cam, &f, err, sizeof err), 0);
    assert_int_equal(f.width, 64);
    assert_true(f.exposure_ms == 0.5);

    /* Frames flow through the engine's calls while streaming. */
    assert_true(daq_camera__wait(cam, 5000000000ll) > 0);
    const void *px;
    daq_frame_info info;
    assert_int_equal(daq_camera__get_oldest(cam, &px, &info), 1);
    assert_int_equal(info.hw_frame_number, 1);
    daq_camera__release_oldest(cam);
    assert_int_equal(daq_camera__fill_held(cam), 0); /* a COPY driver holds no frames */

    daq_camera_stop(cam);
    daq_camera_stop(cam); /* idempotent */
    assert_false(daq_camera_streaming(cam));
    assert_true(cam->opened); /* stop does not close */
    assert_int_equal(daq_camera_set_param_text(cam, "width", "32", err, sizeof err), 0);

    daq_camera_stats st;
    daq_camera_stats_snapshot(cam, &st);
    assert_true(st.frames_generated >= 1);
    daq_camera_interrupt(cam); /* no lock taken, no stream needed */

    /* A start that fails leaves the camera stopped and says why. */
    assert_int_equal(daq_camera_set_param_text(cam, "roi.x", "40", err, sizeof err), 0);
    assert_int_equal(daq_camera_start(cam, err, sizeof err), -1);
    assert_non_null(strstr(err, "does not fit the sensor"));
    assert_false(daq_camera_streaming(cam));
    assert_int_equal(daq_camera_get_format(cam, &f, err, sizeof err), -1);
    assert_int_equal(daq_camera_set_param_text(cam, "roi.x", "0", err, sizeof err), 0);
    assert_int_equal(daq_camera_start(cam, err, sizeof err), 0);

    /* close stops first; destroy of a streaming camera is clean too. */
    daq_camera_close(cam);
    assert_false(daq_camera_streaming(cam));
    assert_int_equal(daq_camera_start(cam, err, sizeof err), 0);
    daq_camera_destroy(cam);
}

static void wrapper_error_and_stats_fresh(void **state)
{
    daq_camera *cam = make_cam();
    char buf[64] = "junk";
    daq_camera_error(cam, buf, sizeof buf);
    assert_string_equal(buf, "");
    daq_camera_error(cam, NULL, 0);
    daq_camera_stats st;
    memset(&st, 0xff, sizeof st);
    daq_camera_stats_snapshot(cam, &st);
    assert_int_equal(st.frames_generated, 0);
    assert_int_equal(st.overruns, 0);
    assert_true(st.n_extra > 0 && st.n_extra <= DAQ_CAMERA_EXTRA_MAX);
    for (unsigned i = 0; i < st.n_extra; i++)
        assert_non_null(st.extra[i].name);
    /* Waiting on a camera that never started returns at once. */
    assert_int_equal(daq_camera__wait(cam, 5000000000ll), 0);
    const void *px;
    daq_frame_info info;
    assert_int_equal(daq_camera__get_oldest(cam, &px, &info), 0);
    daq_camera__release_oldest(cam); /* nothing borrowed: harmless */
    daq_camera_destroy(cam);
}

/* A spy in front of the sim's ops: counts what reaches the driver and
 * records the last value set, so the wrapper's own rules are tested apart
 * from the driver's (the sim checks some of them again). */
static const daq_camera_ops *real_ops;
static daq_camera_ops spy_ops;
static int spy_set, spy_open, spy_close, spy_start, spy_stop;
static bool spy_fail_start;
static daq_param_value spy_value;
static size_t spy_index;
static int spy_arm, spy_trigger;

static int spy_set_param(daq_camera *cam, size_t index, const daq_param_value *v, char *err,
                         size_t len)
{
    spy_set++;
    spy_value = *v;
    spy_index = index;
    return real_ops->set_param(cam, index, v, err, len);
}

static uint32_t spy_modes_fn(daq_camera *cam)
{
    spy_arm++; /* asked at open and close */
    return DAQ_TRIGGER_SOFTWARE_BITS | DAQ_TRIGGER_BIT(DAQ_TRIGGER_EXTERNAL_EDGE);
}

/* The first trigger is taken, the second ignored, the third fails. */
static int spy_trigger_fn(daq_camera *cam, daq_trigger_answer *out, char *err, size_t len)
{
    spy_trigger++;
    if (spy_trigger == 3) {
        snprintf(err, len, "spy: trigger line broken");
        return -1;
    }
    out->result = spy_trigger == 1 ? DAQ_TRIGGER_TRIGGERED : DAQ_TRIGGER_IGNORED;
    out->index = 1;
    snprintf(out->reason, sizeof out->reason, "%s", spy_trigger == 1 ? "" : "spy: busy");
    return 0;
}

static int spy_open_fn(daq_camera *cam, char *err, size_t len)
{
    spy_open++;
    return real_ops->open(cam, err, len);
}

static void spy_close_fn(daq_camera *cam)
{
    spy_close++;
    real_ops->close(cam);
}

static int spy_start_fn(daq_camera *cam, char *err, size_t len)
{
    spy_start++;
    if (spy_fail_start) {
        snprintf(err, len, "spy: start refused");
        return -1;
    }
    return real_ops->start(cam, err, len);
}

static void spy_stop_fn(daq_camera *cam)
{
    spy_stop++;
    real_ops->stop(cam);
}

static void wrapper_calls_driver_as_documented(void **state)
{
    daq_camera *cam = make_cam();
    real_ops = cam->ops;
    spy_ops = *real_ops;
    spy_ops.set_param = spy_set_param;
    spy_ops.open = spy_open_fn;
    spy_ops.close = spy_close_fn;
    spy_ops.start = spy_start_fn;
    spy_ops.stop = spy_stop_fn;
    spy_ops.trigger_modes = NULL;
    spy_ops.trigger = NULL;
    cam->ops = &spy_ops;
    spy_set = spy_open = spy_close = spy_start = spy_stop = spy_arm = spy_trigger = 0;
    spy_fail_start = false;
    char err[256];

    /* The driver sees only coerced, valid values, by their table index. */
    daq_param_value v = daq_param_int(7);
    assert_int_equal(daq_camera_set_param(cam, "exposure_ms", &v, err, sizeof err), 0);
    assert_int_equal(spy_set, 1);
    assert_true(spy_value.type == DAQ_PARAM_FLOAT && spy_value.f == 7.0);
    const daq_param_desc *sim_table;
    size_t nt = real_ops->params(cam, &sim_table);
    assert_true(spy_index < nt);
    assert_string_equal(sim_table[spy_index].name, "exposure_ms");
    assert_int_equal(daq_camera_set_param_text(cam, "timing", "chaos", err, sizeof err), 0);
    assert_true(spy_value.type == DAQ_PARAM_ENUM && strcmp(spy_value.s, "chaos") == 0);
    assert_int_equal(daq_camera_set_param_text(cam, "timing", "instant", err, sizeof err), 0);
    spy_set = 0;
    v = daq_param_int(99999);
    assert_int_equal(daq_camera_set_param(cam, "width", &v, err, sizeof err), -1);
    assert_int_equal(daq_camera_set_param(cam, "temperature_c", &v, err, sizeof err), -1);
    assert_int_equal(daq_camera_set_param(cam, "bogus", &v, err, sizeof err), -1);
    assert_int_equal(daq_camera_set_param_text(cam, "width", "wide", err, sizeof err), -1);
    assert_int_equal(spy_set, 0);

    /* open once; start opens implicitly and only once. */
    assert_int_equal(daq_camera_start(cam, err, sizeof err), 0);
    assert_int_equal(daq_camera_open(cam, err, sizeof err), 0);
    assert_int_equal(daq_camera_start(cam, err, sizeof err), 0);
    assert_int_equal(spy_open, 1);
    assert_int_equal(spy_start, 1);
    /* Not LIVE while streaming: refused before the driver is asked. */
    v = daq_param_int(32);
    assert_int_equal(daq_camera_set_param(cam, "width", &v, err, sizeof err), -1);
    assert_string_equal(err, "width: cannot change while streaming");
    assert_int_equal(daq_camera_set_param_text(cam, "binning", "2", err, sizeof err), -1);
    assert_string_equal(err, "binning: cannot change while streaming");
    assert_int_equal(spy_set, 0);
    v = daq_param_float(3);
    assert_int_equal(daq_camera_set_param(cam, "frame_rate_hz", &v, err, sizeof err), 0);
    assert_int_equal(spy_set, 1);

    /* stop reaches the driver once however often it is called. */
    daq_camera_stop(cam);
    daq_camera_stop(cam);
    assert_int_equal(spy_stop, 1);

    /* A failed start is cleaned up with a driver stop and leaves the
     * camera stopped. */
    spy_fail_start = true;
    assert_int_equal(daq_camera_start(cam, err, sizeof err), -1);
    assert_string_equal(err, "spy: start refused");
    assert_int_equal(spy_stop, 2);
    assert_false(daq_camera_streaming(cam));
    daq_camera_stop(cam);
    assert_int_equal(spy_stop, 2);
    spy_fail_start = false;

    /* Triggers (ADR 0011).  A driver without modes or trigger op is
     * internal only: Arm is refused with the text, Trigger is "not armed",
     * and the enum refuses other modes with the list. */
    daq_trigger_answer ans;
    daq_trigger_stats ts;
    spy_ops.trigger_modes = NULL;
    spy_ops.trigger = NULL;
    daq_camera_close(cam); /* the modes are asked again at open and close */
    assert_false(daq_camera_can_trigger(cam));
    assert_int_equal(daq_camera_trigger_modes(cam), DAQ_TRIGGER_BIT(DAQ_TRIGGER_INTERNAL));
    assert_int_equal(daq_camera_arm_check(cam, err, sizeof err), -1);
    assert_string_equal(err, "w: trigger.mode is internal (free-running) and this camera (sim) has "
                             "no other mode");
    assert_int_equal(daq_camera_trigger(cam, &ans, err, sizeof err), -1);
    assert_string_equal(err, "w: not armed");
    assert_int_equal(daq_camera_set_param_text(cam, "trigger.mode", "software", err, sizeof err),
                     -1);
    assert_string_equal(err, "trigger.mode: 'software' is not one of internal");

    /* With modes and a trigger op: the answer comes back as the driver gave
     * it, counted; a failure is an error and not a trigger sent. */
    spy_ops.trigger_modes = spy_modes_fn;
    spy_ops.trigger = spy_trigger_fn;
    assert_int_equal(daq_camera_open(cam, err, sizeof err), 0);
    assert_int_equal(spy_arm, 1);
    assert_true(daq_camera_can_trigger(cam));
    assert_int_equal(daq_camera_arm_check(cam, err, sizeof err), -1);
    assert_string_equal(err, "w: trigger.mode is internal (free-running): set a trigger mode first "
                             "(software, software_first, external_edge)");
    assert_int_equal(
        daq_camera_set_param_text(cam, "trigger.mode", "external_level", err, sizeof err), -1);
    assert_string_equal(err, "trigger.mode: 'external_level' is not one of internal, software, "
                             "software_first, external_edge");
    assert_int_equal(daq_camera_set_param_text(cam, "trigger.mode", "software", err, sizeof err),
                     0);
    assert_int_equal(daq_camera_set_param_text(cam, "trigger.timeout_ms", "50", err, sizeof err),
                     0);
    assert_int_equal(daq_camera_arm_check(cam, err, sizeof err), 0);
    assert_false(daq_camera_armed(cam));
    assert_int_equal(daq_camera_trigger(cam, &ans, err, sizeof err), -1);
    assert_string_equal(err, "w: not armed");
    assert_int_equal(daq_camera_start(cam, err, sizeof err), 0);
    assert_true(daq_camera_armed(cam));
    assert_int_equal(daq_camera_get_param(cam, "trigger.armed", &v, err, sizeof err), 0);
    assert_true(v.b);
    assert_int_equal(daq_camera_trigger(cam, &ans, err, sizeof err), 0);
    assert_int_equal(ans.result, DAQ_TRIGGER_TRIGGERED);
    assert_int_equal(ans.index, 1);
    assert_int_equal(daq_camera_trigger(cam, &ans, err, sizeof err), 0);
    assert_int_equal(ans.result, DAQ_TRIGGER_IGNORED);
    assert_string_equal(ans.reason, "spy: busy");
    assert_int_equal(daq_camera_trigger(cam, &ans, err, sizeof err), -1);
    assert_string_equal(err, "spy: trigger line broken");
    assert_int_equal(daq_camera_set_param_text(cam, "trigger.mode", "internal", err, sizeof err),
                     -1);
    assert_string_equal(err, "trigger.mode: cannot change while streaming");
    daq_camera_trigger_stats(cam, &ts);
    assert_int_equal(ts.mode, DAQ_TRIGGER_SOFTWARE);
    assert_true(ts.armed);
    assert_int_equal(ts.sent, 2);
    assert_int_equal(ts.accepted, 1);
    assert_int_equal(ts.ignored, 1);
    assert_int_equal(ts.seen, 1);
    assert_int_equal(ts.pending + ts.answered + ts.missed, 1);
    daq_camera_stop(cam); /* its frame never came: missed */
    daq_camera_trigger_stats(cam, &ts);
    assert_int_equal(ts.missed, 1);
    assert_int_equal(ts.pending, 0);
    assert_false(ts.armed);
    assert_int_equal(spy_trigger, 3);

    /* An external mode takes no software trigger. */
    assert_int_equal(
        daq_camera_set_param_text(cam, "trigger.mode", "external_edge", err, sizeof err), 0);
    assert_int_equal(daq_camera_start(cam, err, sizeof err), 0);
    assert_int_equal(daq_camera_trigger(cam, &ans, err, sizeof err), -1);
    assert_string_equal(err, "w: trigger.mode is external_edge: triggers come from the line, not "
                             "software");
    daq_camera_stop(cam);
    assert_int_equal(daq_camera_set_param_text(cam, "trigger.mode", "internal", err, sizeof err),
                     0);
    assert_int_equal(spy_stop, 4);
    assert_int_equal(spy_close, 1);
    spy_stop = 2; /* as before this part, for the counts below */
    spy_close = 0;

    /* close stops a stream first, closes once; destroy does the rest. */
    assert_int_equal(daq_camera_start(cam, err, sizeof err), 0);
    daq_camera_close(cam);
    daq_camera_close(cam);
    assert_int_equal(spy_stop, 3);
    assert_int_equal(spy_close, 1);
    daq_camera_destroy(cam);
    assert_int_equal(spy_close, 1);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(param_constructors),
    cmocka_unit_test(coerce_numbers),
    cmocka_unit_test(coerce_ranges),
    cmocka_unit_test(coerce_strings_enums_bools),
    cmocka_unit_test(parse_text),
    cmocka_unit_test(format_json),
    cmocka_unit_test(find_params),
    cmocka_unit_test(validate_set),
    cmocka_unit_test(registry_and_alias),
    cmocka_unit_test(registry_register),
    cmocka_unit_test(wrapper_param_validation),
    cmocka_unit_test(wrapper_streaming_rules),
    cmocka_unit_test(wrapper_error_and_stats_fresh),
    cmocka_unit_test(wrapper_calls_driver_as_documented),
};

DAQ_TEST_MAIN("camera", tests)
