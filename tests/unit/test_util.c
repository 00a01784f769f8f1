/* Unit tests of the internal helpers every library compiles in
 * (src/util): text decoding shared by the TOML scanner, parameter strings
 * and gRPC peer addresses, and the error-message convention. */
#include <stdint.h>
#include <string.h>

#include "test_main.h"
#include "util/err.h"
#include "util/text.h"

static void hex_value_all_bytes(void **state)
{
    int seen = 0;
    for (int c = -1; c < 256; c++) {
        int v = daq_hex_value(c);
        if (v < 0)
            continue;
        seen++;
        assert_true(v < 16);
        assert_int_equal(v, c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    assert_int_equal(seen, 22); /* 0-9, a-f, A-F */
    assert_int_equal(daq_hex_value('g'), -1);
    assert_int_equal(daq_hex_value('F'), 15);
}

static void utf8_encode_boundaries(void **state)
{
    static const struct {
        uint32_t cp;
        const char *bytes;
    } cases[] = {
        {0x00, "\x00"},
        {0x7F, "\x7F"},
        {0x80, "\xC2\x80"},
        {0x7FF, "\xDF\xBF"},
        {0x800, "\xE0\xA0\x80"},
        {0xE9, "\xC3\xA9"},
        {0xFFFF, "\xEF\xBF\xBF"},
        {0x10000, "\xF0\x90\x80\x80"},
        {0x10FFFF, "\xF4\x8F\xBF\xBF"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[4];
        size_t want = cases[i].cp ? strlen(cases[i].bytes) : 1;
        size_t n = daq_utf8_encode(cases[i].cp, out);
        assert_int_equal(n, want);
        assert_memory_equal(out, cases[i].bytes, want);
    }
}

static void percent_decode_rules(void **state)
{
    char out[64];
    assert_int_equal(daq_percent_decode("%5B::1%5D:5000", out, sizeof out), 10);
    assert_string_equal(out, "[::1]:5000");
    /* not an escape: kept as written */
    assert_int_equal(daq_percent_decode("50%", out, sizeof out), 3);
    assert_string_equal(out, "50%");
    daq_percent_decode("%zz%4", out, sizeof out);
    assert_string_equal(out, "%zz%4");
    /* truncated to the buffer, always terminated */
    assert_int_equal(daq_percent_decode("abcdef", out, 4), 3);
    assert_string_equal(out, "abc");
    assert_int_equal(daq_percent_decode("abc", out, 0), 0);
}

static void err_returns_minus_one(void **state)
{
    char err[8] = "x";
    assert_int_equal(daq_err(err, sizeof err, "%s %d", "long message", 42), -1);
    assert_string_equal(err, "long me"); /* truncated, terminated */
    assert_int_equal(daq_err(NULL, 0, "nobody reads this"), -1);
    assert_int_equal(daq_err(err, 0, "nor this"), -1);
    assert_string_equal(err, "long me");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(hex_value_all_bytes),
    cmocka_unit_test(utf8_encode_boundaries),
    cmocka_unit_test(percent_decode_rules),
    cmocka_unit_test(err_returns_minus_one),
};

DAQ_TEST_MAIN("util", tests)
