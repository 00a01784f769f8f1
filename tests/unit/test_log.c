/* Unit tests of the log: filter parsing and matching, level gating, the
 * exact text and JSON line shapes, every field type and its escaping,
 * truncation, daq_logf, the rate limiter, no allocation per call, and
 * whole lines and safe filter swaps under concurrency.
 *
 * Lines are captured through a pipe set with daq_log_set_fd.  A JSON line
 * is checked by a small strict JSON parser below (syntax, escapes, UTF-8),
 * which also decodes string values so escaping is checked round trip. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "daq/log.h"
#include "malloc_count.h"
#include "test_main.h"

#define TS_LEN 27 /* 2026-11-26T18:09:30.123456Z */

/* ---- capture ----------------------------------------------------------------- */

typedef struct capture {
    int rd, wr;
} capture;

/* Lines go to a fresh pipe; the read end is non-blocking unless asked. */
static capture cap_open_mode(daq_log_format fmt, const char *filter, bool blocking_read)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    if (!blocking_read)
        assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
    char err[256] = "";
    if (daq_log_set_filter(filter, err, sizeof err) != 0)
        fail_msg("filter '%s': %s", filter, err);
    daq_log_set_format(fmt);
    daq_log_set_fd(p[1]);
    return (capture){p[0], p[1]};
}

static capture cap_open(daq_log_format fmt, const char *filter)
{
    return cap_open_mode(fmt, filter, false);
}

/* Everything written so far, NUL-terminated; returns its length. */
static size_t cap_read(capture *c, char *buf, size_t n)
{
    size_t len = 0;
    while (len + 1 < n) {
        ssize_t r = read(c->rd, buf + len, n - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    return len;
}

static void cap_close(capture *c)
{
    daq_log_set_fd(STDERR_FILENO);
    daq_log_set_format(DAQ_LOG_TEXT);
    close(c->rd);
    if (c->wr >= 0)
        close(c->wr);
}

/* Exactly one line was written: returns its length (with the '\n'). */
static size_t one_line(capture *c, char *buf, size_t n)
{
    size_t len = cap_read(c, buf, n);
    assert_true(len > 0);
    assert_int_equal(buf[len - 1], '\n');
    assert_ptr_equal(strchr(buf, '\n'), buf + len - 1);
    return len;
}

static void assert_timestamp(const char *p)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
    for (size_t i = 0; i < TS_LEN; i++) {
        if (shape[i] == 'd')
            assert_true(isdigit((unsigned char)p[i]));
        else
            assert_int_equal(p[i], shape[i]);
    }
    int mon = atoi(p + 5), day = atoi(p + 8), hour = atoi(p + 11), min = atoi(p + 14);
    assert_true(mon >= 1 && mon <= 12);
    assert_true(day >= 1 && day <= 31);
    assert_true(hour < 24 && min < 60 && atoi(p + 17) < 61);
}

static void set_filter_ok(const char *spec)
{
    char err[256] = "";
    if (daq_log_set_filter(spec, err, sizeof err) != 0)
        fail_msg("filter '%s': %s", spec, err);
}

/* ---- a strict JSON parser, enough for one log line --------------------------- */

typedef struct jp {
    const unsigned char *p;
} jp;

static bool j_value(jp *j, int depth);

static size_t utf8_put(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    out[0] = (char)(0xe0 | cp >> 12);
    out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
    out[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
}

static bool j_escape(jp *j, char *tmp, size_t *k)
{
    unsigned e = *j->p++;
    const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
    const char *hit = e ? strchr(from, (int)e) : NULL;
    if (hit) {
        tmp[(*k)++] = to[hit - from];
        return true;
    }
    if (e != 'u')
        return false;
    unsigned cp = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = *j->p++;
        if (!isxdigit(c))
            return false;
        cp = cp * 16 + (unsigned)(isdigit(c) ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    if (cp >= 0xd800 && cp < 0xe000)
        return false; /* the log never needs surrogate pairs */
    *k += utf8_put(tmp + *k, cp);
    return true;
}

static bool j_utf8(jp *j, unsigned c, char *tmp, size_t *k)
{
    size_t len = c > 0xf4 ? 0 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
    if (!len)
        return false;
    tmp[(*k)++] = (char)c;
    for (size_t i = 1; i < len; i++) {
        if ((*j->p & 0xc0) != 0x80)
            return false;
        tmp[(*k)++] = (char)*j->p++;
    }
    return true;
}

/* A string; decoded into out (out_n bytes) when out is not NULL. */
static bool j_string(jp *j, char *out, size_t out_n)
{
    size_t n = 0;
    if (*j->p++ != '"')
        return false;
    for (;;) {
        unsigned c = *j->p++;
        if (c == '"')
            break;
        char tmp[4];
        size_t k = 0;
        if (c < 0x20) /* raw control characters, and the end of the text */
            return false;
        if (c == '\\' ? !j_escape(j, tmp, &k) : c >= 0x80 ? !j_utf8(j, c, tmp, &k) : false)
            return false;
        if (k == 0)
            tmp[k++] = (char)c;
        if (out && n + k < out_n)
            memcpy(out + n, tmp, k);
        n += k;
    }
    if (out)
        out[n < out_n ? n : out_n - 1] = '\0';
    return true;
}

static bool j_digits(jp *j)
{
    if (!isdigit(*j->p))
        return false;
    while (isdigit(*j->p))
        j->p++;
    return true;
}

static bool j_number(jp *j)
{
    if (*j->p == '-')
        j->p++;
    if (*j->p == '0')
        j->p++;
    else if (!j_digits(j))
        return false;
    if (*j->p == '.') {
        j->p++;
        if (!j_digits(j))
            return false;
    }
    if (*j->p == 'e' || *j->p == 'E') {
        j->p++;
        if (*j->p == '+' || *j->p == '-')
            j->p++;
        if (!j_digits(j))
            return false;
    }
    return true;
}

static bool j_literal(jp *j, const char *word)
{
    size_t n = strlen(word);
    if (strncmp((const char *)j->p, word, n) != 0)
        return false;
    j->p += n;
    return true;
}

static bool j_members(jp *j, char close, int depth)
{
    j->p++;
    if (*j->p == close) {
        j->p++;
        return true;
    }
    for (;;) {
        if (close == '}' && (!j_string(j, NULL, 0) || *j->p++ != ':'))
            return false;
        if (!j_value(j, depth + 1))
            return false;
        unsigned c = *j->p++;
        if (c == (unsigned)close)
            return true;
        if (c != ',')
            return false;
    }
}

static bool j_value(jp *j, int depth)
{
    if (depth > 16)
        return false;
    switch (*j->p) {
    case '{': return j_members(j, '}', depth);
    case '[': return j_members(j, ']', depth);
    case '"': return j_string(j, NULL, 0);
    case 't': return j_literal(j, "true");
    case 'f': return j_literal(j, "false");
    case 'n': return j_literal(j, "null");
    default: return j_number(j);
    }
}

/* One JSON object followed by exactly "\n". */
static bool json_line_valid(const char *line)
{
    jp j = {(const unsigned char *)line};
    return *j.p == '{' && j_value(&j, 0) && strcmp((const char *)j.p, "\n") == 0;
}

/* The decoded string value of "key" (the first occurrence). */
static void json_get_string(const char *line, const char *key, char *out, size_t n)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *at = strstr(line, pat);
    if (!at)
        fail_msg("no string \"%s\" in %s", key, line);
    jp j = {(const unsigned char *)at + strlen(pat) - 1};
    assert_true(j_string(&j, out, n));
}

static void json_parser_rejects_bad_lines(void **state)
{
    /* The checker itself must be able to say no. */
    assert_true(json_line_valid("{\"a\":[1,-2.5e3,true,null,\"\\u00e9\"],\"b\":{}}\n"));
    assert_false(json_line_valid("{\"a\":1}"));            /* no newline */
    assert_false(json_line_valid("{\"a\":1}}\n"));         /* extra brace */
    assert_false(json_line_valid("{\"a\":\"x\ny\"}\n"));   /* raw control */
    assert_false(json_line_valid("{\"a\":\"\\x\"}\n"));    /* bad escape */
    assert_false(json_line_valid("{\"a\":\"\xff\"}\n"));   /* not UTF-8 */
    assert_false(json_line_valid("{\"a\":NaN}\n"));        /* not a number */
    assert_false(json_line_valid("{\"a\":12.}\n"));        /* not a number */
    assert_false(json_line_valid("{\"a\":\"unclosed}\n")); /* open string */
    assert_false(json_line_valid("{\"a\":1,}\n"));         /* trailing comma */
}

/* ---- levels and filter parsing --------------------------------------------- */

static void level_names_and_parse(void **state)
{
    static const char *const names[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "OFF"};
    static const char *const spellings[] = {"trace", "Debug", "INFO", "wArN", "error", "off"};
    for (int i = DAQ_LOG_TRACE; i <= DAQ_LOG_OFF; i++) {
        assert_string_equal(daq_log_level_name((daq_log_level)i), names[i]);
        daq_log_level l = DAQ_LOG_OFF;
        assert_int_equal(daq_log_level_parse(spellings[i], &l), 0);
        assert_int_equal(l, i);
    }
    daq_log_level l = DAQ_LOG_WARN;
    static const char *const bad[] = {"", "inf", "infos", "warning", " info", "loud"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(daq_log_level_parse(bad[i], &l), -1);
    assert_int_equal(daq_log_level_parse(NULL, &l), -1);
    assert_int_equal(l, DAQ_LOG_WARN); /* untouched on failure */
}

static void filter_parse_valid(void **state)
{
    set_filter_ok("  info , pvcam_alloc_trace = debug,pvcam_pool=WARN  ,, ");
    assert_true(daq_log_enabled("daq::acq", DAQ_LOG_INFO));
    assert_false(daq_log_enabled("daq::acq", DAQ_LOG_DEBUG));
    assert_true(daq_log_enabled("pvcam_alloc_trace", DAQ_LOG_DEBUG));
    assert_false(daq_log_enabled("pvcam_alloc_trace", DAQ_LOG_TRACE));
    assert_true(daq_log_enabled("pvcam_pool", DAQ_LOG_WARN));
    assert_false(daq_log_enabled("pvcam_pool", DAQ_LOG_INFO));

    /* No bare level: the default stays info. */
    set_filter_ok("pvcam_pool=error");
    assert_true(daq_log_enabled("daq", DAQ_LOG_INFO));
    assert_false(daq_log_enabled("daq", DAQ_LOG_DEBUG));
    assert_false(daq_log_enabled("pvcam_pool", DAQ_LOG_WARN));

    /* A later bare level and a later directive for the same target win. */
    set_filter_ok("debug,warn,daq=trace,daq=error");
    assert_false(daq_log_enabled("other", DAQ_LOG_INFO));
    assert_true(daq_log_enabled("other", DAQ_LOG_WARN));
    assert_false(daq_log_enabled("daq", DAQ_LOG_WARN));
    assert_true(daq_log_enabled("daq", DAQ_LOG_ERROR));

    /* Empty and blank specs mean "info". */
    set_filter_ok("trace");
    set_filter_ok("");
    assert_false(daq_log_enabled("daq", DAQ_LOG_DEBUG));
    assert_true(daq_log_enabled("daq", DAQ_LOG_INFO));
    set_filter_ok("trace");
    set_filter_ok(" \t ");
    assert_false(daq_log_enabled("daq", DAQ_LOG_DEBUG));

    /* Off, by default and per target. */
    set_filter_ok("OFF,daq::acq=Error");
    assert_false(daq_log_enabled("daq", DAQ_LOG_ERROR));
    assert_true(daq_log_enabled("daq::acq", DAQ_LOG_ERROR));
    assert_false(daq_log_enabled("daq::acq", DAQ_LOG_WARN));
    set_filter_ok("trace,noisy=off");
    assert_false(daq_log_enabled("noisy", DAQ_LOG_ERROR));
    assert_true(daq_log_enabled("quiet", DAQ_LOG_TRACE));
}

static void filter_invalid_rejected_and_kept(void **state)
{
    static const struct {
        const char *spec, *err;
    } cases[] = {
        {"info,pvcam_pool=loud",
         "invalid DAQ_LOG directive 'pvcam_pool=loud': unknown level 'loud'"},
        {"loud", "invalid DAQ_LOG directive 'loud': unknown level 'loud'"},
        {"info, daq::acq  =  ", "invalid DAQ_LOG directive 'daq::acq  =': missing level after '='"},
        {"=debug", "invalid DAQ_LOG directive '=debug': missing target before '='"},
        {"da q=debug", "invalid DAQ_LOG directive 'da q=debug': invalid target 'da q'"},
        {"daq=debug=trace", "invalid DAQ_LOG directive 'daq=debug=trace': unknown level "
                            "'debug=trace'"},
        {"warn,daq=info,x=verbose", "invalid DAQ_LOG directive 'x=verbose': unknown level "
                                    "'verbose'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        set_filter_ok("debug,keep=error");
        char err[256] = "";
        assert_int_equal(daq_log_set_filter(cases[i].spec, err, sizeof err), -1);
        assert_string_equal(err, cases[i].err);
        /* The old filter is still the one in force. */
        assert_true(daq_log_enabled("other", DAQ_LOG_DEBUG));
        assert_false(daq_log_enabled("other", DAQ_LOG_TRACE));
        assert_false(daq_log_enabled("keep", DAQ_LOG_WARN));
        assert_true(daq_log_enabled("keep", DAQ_LOG_ERROR));
    }
    /* No error buffer, or a short one: still -1, nothing overrun. */
    assert_int_equal(daq_log_set_filter("x=y", NULL, 0), -1);
    char small[12];
    memset(small, 'z', sizeof small);
    assert_int_equal(daq_log_set_filter("x=y", small, 8), -1);
    assert_string_equal(small, "invalid");
    assert_int_equal(small[8], 'z');
}

static void filter_from_environment(void **state)
{
    setenv("DAQ_LOG", "warn,daq::acq=trace", 1);
    set_filter_ok(NULL);
    assert_false(daq_log_enabled("daq", DAQ_LOG_INFO));
    assert_true(daq_log_enabled("daq::acq", DAQ_LOG_TRACE));

    setenv("DAQ_LOG", "", 1);
    set_filter_ok(NULL);
    assert_true(daq_log_enabled("daq", DAQ_LOG_INFO));
    assert_false(daq_log_enabled("daq", DAQ_LOG_DEBUG));

    set_filter_ok("trace");
    unsetenv("DAQ_LOG");
    set_filter_ok(NULL);
    assert_false(daq_log_enabled("daq", DAQ_LOG_DEBUG));
    assert_true(daq_log_enabled("daq", DAQ_LOG_INFO));

    setenv("DAQ_LOG", "pvcam_pool=loud", 1);
    char err[256] = "";
    assert_int_equal(daq_log_set_filter(NULL, err, sizeof err), -1);
    assert_string_equal(err, "invalid DAQ_LOG directive 'pvcam_pool=loud': unknown level 'loud'");
    assert_true(daq_log_enabled("daq", DAQ_LOG_INFO));
    unsetenv("DAQ_LOG");
}

static void target_matching(void **state)
{
    set_filter_ok("error,daq=warn,daq::acq=debug,daq::acq::deep=trace,pvcam=info");
    /* Equal, or followed by "::". */
    assert_true(daq_log_enabled("daq", DAQ_LOG_WARN));
    assert_false(daq_log_enabled("daq", DAQ_LOG_INFO));
    assert_true(daq_log_enabled("daq::bus", DAQ_LOG_WARN));
    assert_false(daq_log_enabled("daq::bus", DAQ_LOG_INFO));
    /* Not a plain string prefix. */
    assert_false(daq_log_enabled("daqx", DAQ_LOG_WARN));
    assert_false(daq_log_enabled("daq:x", DAQ_LOG_WARN));
    assert_false(daq_log_enabled("da", DAQ_LOG_WARN));
    assert_false(daq_log_enabled("pvcam_alloc_trace", DAQ_LOG_INFO));
    assert_true(daq_log_enabled("pvcam::x", DAQ_LOG_INFO));
    /* The longest match wins, whatever the order in the spec. */
    assert_true(daq_log_enabled("daq::acq", DAQ_LOG_DEBUG));
    assert_false(daq_log_enabled("daq::acq", DAQ_LOG_TRACE));
    assert_true(daq_log_enabled("daq::acq::ring", DAQ_LOG_DEBUG));
    assert_true(daq_log_enabled("daq::acq::deep", DAQ_LOG_TRACE));
    assert_true(daq_log_enabled("daq::acq::deep::er", DAQ_LOG_TRACE));
    assert_false(daq_log_enabled("daq::acquire", DAQ_LOG_INFO)); /* daq, not daq::acq */
    assert_true(daq_log_enabled("daq::acquire", DAQ_LOG_WARN));
    /* No match: the default.  NULL reads as "daq". */
    assert_false(daq_log_enabled("other", DAQ_LOG_WARN));
    assert_true(daq_log_enabled("other", DAQ_LOG_ERROR));
    assert_true(daq_log_enabled(NULL, DAQ_LOG_WARN));
    assert_false(daq_log_enabled(NULL, DAQ_LOG_INFO));
    /* Longer directives listed first match the same way. */
    set_filter_ok("daq::acq::deep=trace,daq::acq=debug,daq=warn,error");
    assert_false(daq_log_enabled("daq::acq", DAQ_LOG_TRACE));
    assert_true(daq_log_enabled("daq::acq::deep", DAQ_LOG_TRACE));
    assert_false(daq_log_enabled("daq::x", DAQ_LOG_INFO));
}

static int evaluated;

static uint64_t side_effect(void)
{
    return (uint64_t)++evaluated;
}

static void level_gating(void **state)
{
    capture c = cap_open(DAQ_LOG_TEXT, "warn");
    char buf[4096];
    assert_false(daq_log_enabled("daq", DAQ_LOG_TRACE));
    assert_false(daq_log_enabled("daq", DAQ_LOG_INFO));
    assert_true(daq_log_enabled("daq", DAQ_LOG_WARN));
    assert_true(daq_log_enabled("daq", DAQ_LOG_ERROR));
    assert_false(daq_log_enabled("daq", DAQ_LOG_OFF)); /* not a line level */
    assert_false(daq_log_enabled("daq", (daq_log_level)42));
    assert_false(daq_log_enabled("daq", (daq_log_level)-1));

    /* Off lines write nothing and the macro evaluates no field. */
    evaluated = 0;
    DAQ_LOG(DAQ_LOG_INFO, "daq", "quiet", DAQ_F_U64("n", side_effect()));
    daq_log_write(DAQ_LOG_DEBUG, "daq", "quiet", NULL);
    daq_logf(DAQ_LOG_TRACE, "daq", "quiet %d", 1);
    daq_log_write(DAQ_LOG_OFF, "daq", "never", NULL);
    assert_int_equal(evaluated, 0);
    assert_int_equal(cap_read(&c, buf, sizeof buf), 0);

    DAQ_LOG(DAQ_LOG_WARN, "daq", "loud", DAQ_F_U64("n", side_effect()));
    assert_int_equal(evaluated, 1);
    one_line(&c, buf, sizeof buf);
    assert_string_equal(buf + TS_LEN, "  WARN daq: loud n=1\n");

    set_filter_ok("off");
    daq_log_write(DAQ_LOG_ERROR, "daq", "off", NULL);
    assert_int_equal(cap_read(&c, buf, sizeof buf), 0);

    set_filter_ok("trace");
    assert_true(daq_log_enabled("anything::at::all", DAQ_LOG_TRACE));
    cap_close(&c);
}

/* ---- text lines --------------------------------------------------------------- */

static void text_line_shape(void **state)
{
    capture c = cap_open(DAQ_LOG_TEXT, "trace");
    char buf[4096];
    DAQ_LOG(DAQ_LOG_INFO, "daq::acq", "stream started", DAQ_F_STR("device", "cam0"),
            DAQ_F_U64("fps", 100));
    size_t len = one_line(&c, buf, sizeof buf);
    assert_timestamp(buf);
    assert_string_equal(buf + TS_LEN, "  INFO daq::acq: stream started device=\"cam0\" fps=100\n");
    assert_int_equal(len, TS_LEN + strlen("  INFO daq::acq: stream started device=\"cam0\" "
                                          "fps=100\n"));

    /* Levels right-aligned in 5 columns after one space. */
    static const char *const shown[] = {" TRACE", " DEBUG", "  INFO", "  WARN", " ERROR"};
    for (int l = DAQ_LOG_TRACE; l <= DAQ_LOG_ERROR; l++) {
        daq_log_write((daq_log_level)l, "t", "m", NULL);
        one_line(&c, buf, sizeof buf);
        char want[64];
        snprintf(want, sizeof want, "%s t: m\n", shown[l]);
        assert_string_equal(buf + TS_LEN, want);
    }

    /* NULL target, message, fields and string value. */
    daq_log_write(DAQ_LOG_INFO, NULL, NULL, NULL);
    one_line(&c, buf, sizeof buf);
    assert_string_equal(buf + TS_LEN, "  INFO daq: \n");
    DAQ_LOG(DAQ_LOG_INFO, "t", "m", DAQ_F_STR("s", NULL), DAQ_F_STR(NULL, "v"));
    one_line(&c, buf, sizeof buf);
    assert_string_equal(buf + TS_LEN, "  INFO t: m s=null ?=\"v\"\n");
    cap_close(&c);
}

static time_t parse_timestamp(const char *p)
{
    struct tm tm = {0};
    tm.tm_year = atoi(p) - 1900;
    tm.tm_mon = atoi(p + 5) - 1;
    tm.tm_mday = atoi(p + 8);
    tm.tm_hour = atoi(p + 11);
    tm.tm_min = atoi(p + 14);
    tm.tm_sec = atoi(p + 17);
    return timegm(&tm);
}

static void timestamp_is_utc_now(void **state)
{
    capture c = cap_open(DAQ_LOG_TEXT, "info");
    char buf[4096];
    struct timespec t0, t1;
    clock_gettime(CLOCK_REALTIME, &t0);
    daq_log_write(DAQ_LOG_INFO, "t", "now", NULL);
    clock_gettime(CLOCK_REALTIME, &t1);
    one_line(&c, buf, sizeof buf);
    assert_timestamp(buf);
    /* The civil date agrees with the C library's timegm, to the microsecond. */
    long long us = (long long)parse_timestamp(buf) * 1000000 + atoi(buf + 20);
    long long us0 = (long long)t0.tv_sec * 1000000 + t0.tv_nsec / 1000;
    long long us1 = (long long)t1.tv_sec * 1000000 + t1.tv_nsec / 1000;
    assert_true(us >= us0 && us <= us1);
    cap_close(&c);
}

static void text_field_types(void **state)
{
    capture c = cap_open(DAQ_LOG_TEXT, "trace");
    char buf[4096];
    DAQ_LOG(DAQ_LOG_DEBUG, "daq::t", "types", DAQ_F_U64("u", UINT64_MAX), DAQ_F_U64("z", 0),
            DAQ_F_I64("i", INT64_MIN), DAQ_F_I64("neg", -42), DAQ_F_I64("pos", 7),
            DAQ_F_F64("half", 12.5), DAQ_F_F64("whole", 3.0), DAQ_F_F64("round", 2.0625),
            DAQ_F_F64("carry", 1.9999), DAQ_F_F64("quarter", -0.25), DAQ_F_F64("tiny", -1e-9),
            DAQ_F_F64("big", 1.5e20), DAQ_F_F64("e15", 1e15), DAQ_F_F64("nan", NAN),
            DAQ_F_F64("inf", INFINITY), DAQ_F_F64("ninf", -INFINITY), DAQ_F_BOOL("yes", true),
            DAQ_F_BOOL("no", false), DAQ_F_STR("s", "cam0"), DAQ_F_STR("empty", ""));
    one_line(&c, buf, sizeof buf);
    assert_string_equal(buf + TS_LEN,
                        " DEBUG daq::t: types u=18446744073709551615 z=0 i=-9223372036854775808 "
                        "neg=-42 pos=7 half=12.5 whole=3.0 round=2.063 carry=2.0 quarter=-0.25 "
                        "tiny=0.0 big=1.5e20 e15=1.0e15 nan=NaN inf=inf ninf=-inf yes=true "
                        "no=false s=\"cam0\" empty=\"\"\n");
    cap_close(&c);
}

static void text_escaping(void **state)
{
    capture c = cap_open(DAQ_LOG_TEXT, "trace");
    char buf[4096];
    /* Message, target and keys: control characters only, so no line is forged. */
    DAQ_LOG(DAQ_LOG_INFO, "daq\n", "two\nlines\ttab \"q\" back\\slash \x1b!",
            DAQ_F_STR("v", "a\"b\\c\nd\re\x01"
                           "f\x7f µs→✓ \xff"),
            DAQ_F_BOOL("k\x02", true));
    one_line(&c, buf, sizeof buf);
    assert_string_equal(buf + TS_LEN, "  INFO daq\\n: two\\nlines\\ttab \"q\" back\\slash \\u{1b}! "
                                      "v=\"a\\\"b\\\\c\\nd\\re\\u{1}f\\u{7f} µs→✓ \xff\" "
                                      "k\\u{2}=true\n");
    cap_close(&c);
}

/* ---- JSON lines ------------------------------------------------------------------ */

static void json_line_shape(void **state)
{
    capture c = cap_open(DAQ_LOG_JSON, "trace");
    char buf[4096];
    DAQ_LOG(DAQ_LOG_INFO, "daq::acq", "stream started", DAQ_F_STR("device", "cam0"),
            DAQ_F_U64("fps", 100));
    one_line(&c, buf, sizeof buf);
    assert_true(json_line_valid(buf));
    static const char head[] = "{\"timestamp\":\"";
    assert_memory_equal(buf, head, strlen(head));
    assert_timestamp(buf + strlen(head));
    assert_string_equal(buf + strlen(head) + TS_LEN,
                        "\",\"level\":\"INFO\",\"target\":\"daq::acq\",\"fields\":{\"message\":"
                        "\"stream started\",\"device\":\"cam0\",\"fps\":100}}\n");

    daq_log_write(DAQ_LOG_ERROR, NULL, NULL, NULL);
    one_line(&c, buf, sizeof buf);
    assert_true(json_line_valid(buf));
    assert_string_equal(
        buf + strlen(head) + TS_LEN,
        "\",\"level\":\"ERROR\",\"target\":\"daq\",\"fields\":{\"message\":\"\"}}\n");
    cap_close(&c);
}

static void json_field_types(void **state)
{
    capture c = cap_open(DAQ_LOG_JSON, "trace");
    char buf[4096];
    DAQ_LOG(DAQ_LOG_WARN, "t", "m", DAQ_F_U64("u", UINT64_MAX), DAQ_F_I64("i", INT64_MIN),
            DAQ_F_F64("half", 12.5), DAQ_F_F64("big", -1.5e20), DAQ_F_F64("nan", NAN),
            DAQ_F_F64("inf", INFINITY), DAQ_F_F64("ninf", -INFINITY), DAQ_F_BOOL("yes", true),
            DAQ_F_BOOL("no", false), DAQ_F_STR("s", "x"), DAQ_F_STR("null", NULL),
            DAQ_F_STR("k\"ey", "v"));
    one_line(&c, buf, sizeof buf);
    assert_true(json_line_valid(buf));
    const char *fields = strstr(buf, "\"fields\":");
    assert_non_null(fields);
    assert_string_equal(fields, "\"fields\":{\"message\":\"m\",\"u\":18446744073709551615,"
                                "\"i\":-9223372036854775808,\"half\":12.5,\"big\":-1.5e20,"
                                "\"nan\":null,\"inf\":null,\"ninf\":null,\"yes\":true,"
                                "\"no\":false,\"s\":\"x\",\"null\":null,\"k\\\"ey\":\"v\"}}\n");
    cap_close(&c);
}

static void json_escaping_round_trip(void **state)
{
    capture c = cap_open(DAQ_LOG_JSON, "trace");
    char buf[4096], got[1024];
    /* Every ASCII byte, then UTF-8 of 2, 3 and 4 bytes. */
    char all[256];
    size_t n = 0;
    for (int b = 1; b < 128; b++)
        all[n++] = (char)b;
    strcpy(all + n, "µ✓😀");
    DAQ_LOG(DAQ_LOG_INFO, "daq\"t", all, DAQ_F_STR("s", all));
    one_line(&c, buf, sizeof buf);
    assert_true(json_line_valid(buf));
    json_get_string(buf, "message", got, sizeof got);
    assert_string_equal(got, all);
    json_get_string(buf, "s", got, sizeof got);
    assert_string_equal(got, all);
    json_get_string(buf, "target", got, sizeof got);
    assert_string_equal(got, "daq\"t");
    /* The escapes used are the short ones where JSON has them. */
    assert_non_null(strstr(buf, "\\u0001\\u0002"));
    assert_non_null(strstr(buf, "\\t\\n\\u000b\\u000c\\r"));
    assert_non_null(strstr(buf, "!\\\"#"));
    assert_non_null(strstr(buf, "[\\\\]"));
    assert_non_null(strstr(buf, "~\\u007f"));

    /* Bytes that are not UTF-8 become U+FFFD; the line still parses. */
    daq_log_write(DAQ_LOG_INFO, "t",
                  "a\xff"
                  "b\xc3(\xe2\x82",
                  NULL);
    one_line(&c, buf, sizeof buf);
    assert_true(json_line_valid(buf));
    json_get_string(buf, "message", got, sizeof got);
    assert_string_equal(got, "a\xef\xbf\xbd"
                             "b\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd");
    cap_close(&c);
}

/* ---- truncation ---------------------------------------------------------------- */

static void text_truncation(void **state)
{
    capture c = cap_open(DAQ_LOG_TEXT, "trace");
    char buf[8192], big[3001];
    memset(big, 'a', 3000);
    big[3000] = '\0';
    DAQ_LOG(DAQ_LOG_INFO, "t", big, DAQ_F_U64("after", 1));
    size_t len = one_line(&c, buf, sizeof buf);
    assert_true(len <= DAQ_LOG_LINE_MAX && len > DAQ_LOG_LINE_MAX - 16);
    assert_string_equal(buf + len - 4, "...\n");
    assert_memory_equal(buf + TS_LEN, "  INFO t: aaa", 13);
    assert_null(strstr(buf, "after="));

    /* An escape sequence is never split: only whole "\n" pairs before "...". */
    memset(big, '\n', 3000);
    daq_log_write(DAQ_LOG_INFO, "t", big, NULL);
    len = one_line(&c, buf, sizeof buf);
    const char *msg = buf + TS_LEN + strlen("  INFO t: ");
    size_t body = (size_t)(buf + len - 4 - msg);
    assert_int_equal(body % 2, 0);
    for (size_t i = 0; i < body; i += 2)
        assert_memory_equal(msg + i, "\\n", 2);

    /* Around the limit: whole lines fit exactly, longer ones are cut. */
    size_t fixed = TS_LEN + strlen("  INFO t: \n");
    for (size_t m = DAQ_LOG_LINE_MAX - fixed - 8; m <= DAQ_LOG_LINE_MAX - fixed + 8; m++) {
        memset(big, 'b', m);
        big[m] = '\0';
        daq_log_write(DAQ_LOG_INFO, "t", big, NULL);
        len = one_line(&c, buf, sizeof buf);
        assert_true(len <= DAQ_LOG_LINE_MAX);
        if (fixed + m <= DAQ_LOG_LINE_MAX - 3) /* the reserve for "..." */
            assert_int_equal(len, fixed + m);
        else
            assert_string_equal(buf + len - 4, "...\n");
    }
    cap_close(&c);
}

static void json_truncation_stays_valid(void **state)
{
    capture c = cap_open(DAQ_LOG_JSON, "trace");
    char buf[8192], big[3001], got[4096];
    memset(big, 'a', 3000);
    big[3000] = '\0';

    /* A long message: cut inside the string, closed, fields dropped. */
    DAQ_LOG(DAQ_LOG_INFO, "t", big, DAQ_F_U64("after", 1));
    size_t len = one_line(&c, buf, sizeof buf);
    assert_true(len <= DAQ_LOG_LINE_MAX);
    assert_true(json_line_valid(buf));
    assert_string_equal(buf + len - 7, "...\"}}\n");
    assert_null(strstr(buf, "after"));

    /* A long field after a short message: the message and earlier fields stay. */
    DAQ_LOG(DAQ_LOG_INFO, "t", "short", DAQ_F_U64("n", 5), DAQ_F_STR("long", big),
            DAQ_F_BOOL("dropped", true));
    len = one_line(&c, buf, sizeof buf);
    assert_true(json_line_valid(buf));
    json_get_string(buf, "message", got, sizeof got);
    assert_string_equal(got, "short");
    assert_non_null(strstr(buf, ",\"n\":5,\"long\":\"aaa"));
    assert_null(strstr(buf, "dropped"));

    /* A long target: the line is the header alone, still an object. */
    daq_log_write(DAQ_LOG_INFO, big, "m", NULL);
    len = one_line(&c, buf, sizeof buf);
    assert_true(len <= DAQ_LOG_LINE_MAX);
    assert_true(json_line_valid(buf));
    assert_string_equal(buf + len - 6, "...\"}\n");

    /* Every cut position around the limit: in the message, in an escape,
     * in a number, in a UTF-8 key or value.  Each line valid, none too long. */
    for (size_t m = 1200; m <= 1400; m++) {
        for (size_t i = 0; i < m; i++)
            big[i] = "ab\"\n"[i % 4];
        big[m] = '\0';
        DAQ_LOG(DAQ_LOG_INFO, "t", big, DAQ_F_U64("u", 1234567890123ull),
                DAQ_F_STR("Âµ", "ââ\"â"), DAQ_F_F64("f", -1.5),
                DAQ_F_BOOL("b", true), DAQ_F_STR(NULL, NULL), DAQ_F_STR("s", "tail"));
        len = one_line(&c, buf, sizeof buf);
        assert_true(len <= DAQ_LOG_LINE_MAX);
        if (!json_line_valid(buf))
            fail_msg("invalid JSON at m=%zu: %s", m, buf);
    }
    cap_close(&c);
}

/* ---- daq_logf -------------------------------------------------------------------- */

static void logf_formats_message(void **state)
{
    capture c = cap_open(DAQ_LOG_TEXT, "info");
    char buf[8192];
    daq_logf(DAQ_LOG_WARN, "daq::acq", "frame %u of %s took %.1f ms", 7u, "cam0", 2.25);
    one_line(&c, buf, sizeof buf);
    assert_string_equal(buf + TS_LEN, "  WARN daq::acq: frame 7 of cam0 took 2.2 ms\n");

    daq_logf(DAQ_LOG_DEBUG, "daq::acq", "off %d", 1);
    assert_int_equal(cap_read(&c, buf, sizeof buf), 0);

    /* Longer than a line: cut like any other. */
    daq_logf(DAQ_LOG_INFO, "t", "%03000d", 5);
    size_t len = one_line(&c, buf, sizeof buf);
    assert_true(len <= DAQ_LOG_LINE_MAX);
    assert_string_equal(buf + len - 4, "...\n");

    daq_log_set_format(DAQ_LOG_JSON);
    daq_logf(DAQ_LOG_ERROR, "t", "quote \"%s\"", "x\ny");
    one_line(&c, buf, sizeof buf);
    assert_true(json_line_valid(buf));
    char got[256];
    json_get_string(buf, "message", got, sizeof got);
    assert_string_equal(got, "quote \"x\ny\"");
    cap_close(&c);
}

static void errno_preserved(void **state)
{
    capture c = cap_open(DAQ_LOG_TEXT, "trace");
    daq_log_set_fd(-1); /* every write fails with EBADF */
    errno = ERANGE;
    DAQ_LOG(DAQ_LOG_INFO, "t", "m", DAQ_F_U64("n", 1));
    assert_int_equal(errno, ERANGE);
    daq_logf(DAQ_LOG_INFO, "t", "m %d", 1);
    assert_int_equal(errno, ERANGE);
    cap_close(&c);
}

/* ---- rate limiting ---------------------------------------------------------------- */

static void ratelimit_first_then_every(void **state)
{
    daq_log_ratelimit rl = DAQ_LOG_RATELIMIT_INIT(10, 100);
    uint64_t passed[64], np = 0;
    for (uint64_t k = 1; k <= 1000; k++) {
        uint64_t occ = 0;
        if (daq_log_ratelimit_pass(&rl, &occ)) {
            assert_true(np < 64);
            passed[np++] = occ;
        }
        assert_int_equal(occ, k);
    }
    static const uint64_t want[] = {1,   2,   3,   4,   5,   6,   7,   8,   9,  10,
                                    110, 210, 310, 410, 510, 610, 710, 810, 910};
    assert_int_equal(np, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < np; i++)
        assert_int_equal(passed[i], want[i]);
    assert_int_equal(rl.count, 1000);
}

/* The occurrence numbers that pass among 1..n, as a bit string. */
static void ratelimit_pattern(uint64_t first, uint64_t every, char *out, size_t n)
{
    daq_log_ratelimit rl = DAQ_LOG_RATELIMIT_INIT(first, every);
    for (size_t i = 0; i < n; i++)
        out[i] = daq_log_ratelimit_pass(&rl, NULL) ? '1' : '0';
    out[n] = '\0';
}

static void ratelimit_edges(void **state)
{
    char p[16];
    ratelimit_pattern(3, 0, p, 12);
    assert_string_equal(p, "111000000000"); /* every = 0: only the first ones */
    ratelimit_pattern(0, 0, p, 12);
    assert_string_equal(p, "000000000000");
    ratelimit_pattern(0, 1, p, 12);
    assert_string_equal(p, "111111111111");
    ratelimit_pattern(0, 3, p, 12);
    assert_string_equal(p, "001001001001"); /* 3, 6, 9, 12 */
    ratelimit_pattern(2, 3, p, 12);
    assert_string_equal(p, "110010010010"); /* 1, 2, 5, 8, 11 */
    ratelimit_pattern(1, 1, p, 12);
    assert_string_equal(p, "111111111111");
}

#define RL_THREADS 4
#define RL_CALLS   10000

static void *ratelimit_worker(void *arg)
{
    daq_log_ratelimit *rl = arg;
    uint64_t passed = 0;
    for (int i = 0; i < RL_CALLS; i++)
        passed += daq_log_ratelimit_pass(rl, NULL);
    return (void *)(uintptr_t)passed;
}

static void ratelimit_concurrent(void **state)
{
    daq_log_ratelimit rl = DAQ_LOG_RATELIMIT_INIT(10, 100);
    pthread_t t[RL_THREADS];
    for (int i = 0; i < RL_THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, ratelimit_worker, &rl), 0);
    uint64_t passed = 0;
    for (int i = 0; i < RL_THREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        passed += (uint64_t)(uintptr_t)r;
    }
    /* No occurrence lost or counted twice: 10 + (40000 - 10) / 100. */
    assert_int_equal(rl.count, RL_THREADS * RL_CALLS);
    assert_int_equal(passed, 10 + (RL_THREADS * RL_CALLS - 10) / 100);
}

/* ---- no allocation per call ------------------------------------------------------- */

static void log_burst(int n)
{
    static daq_log_ratelimit rl = DAQ_LOG_RATELIMIT_INIT(1, 10);
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    for (int i = 0; i < n; i++) {
        daq_log_set_format(i % 2 ? DAQ_LOG_JSON : DAQ_LOG_TEXT);
        DAQ_LOG(DAQ_LOG_INFO, "daq::acq", "frame", DAQ_F_U64("n", (uint64_t)i), DAQ_F_I64("d", -i),
                DAQ_F_F64("ms", i * 0.25), DAQ_F_F64("big", 1e300), DAQ_F_BOOL("ok", i % 3 == 0),
                DAQ_F_STR("dev", "cam\"0\"\n"));
        daq_logf(DAQ_LOG_WARN, "daq::acq", "frame %d of %s %.3f", i, "cam0", i * 0.5);
        daq_log_write(DAQ_LOG_ERROR, "daq::acq", big, NULL); /* truncated */
        assert_false(daq_log_enabled("quiet", DAQ_LOG_ERROR));
        assert_true(daq_log_enabled("daq::acq::x", DAQ_LOG_TRACE));
        (void)daq_log_ratelimit_pass(&rl, NULL);
    }
}

static void no_allocation_per_call(void **state)
{
    printf("counting with: %s\n", daq_malloc_count_mechanism());
    int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    daq_log_set_fd(fd);
    /* Control: the counter sees the filter swap's allocation. */
    uint64_t m0 = daq_malloc_count();
    set_filter_ok("trace,quiet=off");
    assert_true(daq_malloc_count() > m0);

    log_burst(10); /* warm-up */
    m0 = daq_malloc_count();
    log_burst(1000);
    uint64_t m1 = daq_malloc_count();
    printf("1000 rounds of 3 lines: %lu allocations\n", (unsigned long)(m1 - m0));
    assert_int_equal(m1, m0);
    daq_log_set_fd(STDERR_FILENO);
    daq_log_set_format(DAQ_LOG_TEXT);
    close(fd);
}

/* ---- concurrency ------------------------------------------------------------------ */

#define LINE_THREADS 4
#define LINES        2000
#define PAD          "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz"

typedef struct sink {
    int fd;
    char *buf;
    size_t len, cap;
} sink;

static void *sink_drain(void *arg)
{
    sink *s = arg;
    for (;;) {
        if (s->len + 65536 > s->cap) {
            s->cap *= 2;
            s->buf = realloc(s->buf, s->cap);
            if (!s->buf)
                abort();
        }
        ssize_t r = read(s->fd, s->buf + s->len, s->cap - s->len - 1);
        if (r <= 0)
            break;
        s->len += (size_t)r;
    }
    s->buf[s->len] = '\0';
    return NULL;
}

static void *line_writer(void *arg)
{
    uint64_t t = (uint64_t)(uintptr_t)arg;
    for (uint64_t i = 0; i < LINES; i++)
        DAQ_LOG(DAQ_LOG_INFO, "daq::conc", "line", DAQ_F_U64("t", t), DAQ_F_U64("seq", i),
                DAQ_F_STR("pad", PAD));
    return NULL;
}

/* One line "  INFO daq::conc: line t=T seq=S pad=..." checked byte for byte. */
static void check_line(const char *line, size_t len, bool seen[LINE_THREADS][LINES])
{
    assert_true(len > TS_LEN);
    assert_timestamp(line);
    const char *t_at = strstr(line, " t=");
    const char *s_at = strstr(line, " seq=");
    assert_non_null(t_at);
    assert_non_null(s_at);
    unsigned long t = strtoul(t_at + 3, NULL, 10), s = strtoul(s_at + 5, NULL, 10);
    assert_true(t < LINE_THREADS && s < LINES);
    char want[256];
    int n =
        snprintf(want, sizeof want, "  INFO daq::conc: line t=%lu seq=%lu pad=\"%s\"", t, s, PAD);
    assert_int_equal(len, TS_LEN + (size_t)n);
    assert_memory_equal(line + TS_LEN, want, (size_t)n);
    assert_false(seen[t][s]);
    seen[t][s] = true;
}

static void lines_intact_under_concurrency(void **state)
{
    capture c = cap_open_mode(DAQ_LOG_TEXT, "info", true);
    sink s = {.fd = c.rd, .cap = 1 << 20};
    s.buf = malloc(s.cap);
    pthread_t drain, w[LINE_THREADS];
    assert_int_equal(pthread_create(&drain, NULL, sink_drain, &s), 0);
    for (uintptr_t i = 0; i < LINE_THREADS; i++)
        assert_int_equal(pthread_create(&w[i], NULL, line_writer, (void *)i), 0);
    for (int i = 0; i < LINE_THREADS; i++)
        pthread_join(w[i], NULL);
    daq_log_set_fd(STDERR_FILENO);
    close(c.wr); /* EOF for the drain */
    c.wr = -1;
    pthread_join(drain, NULL);

    static bool seen[LINE_THREADS][LINES];
    memset(seen, 0, sizeof seen);
    size_t lines = 0;
    for (char *p = s.buf; *p;) {
        char *nl = strchr(p, '\n');
        assert_non_null(nl);
        check_line(p, (size_t)(nl - p), seen);
        lines++;
        p = nl + 1;
    }
    assert_int_equal(lines, LINE_THREADS * LINES);
    for (int t = 0; t < LINE_THREADS; t++)
        for (int i = 0; i < LINES; i++)
            assert_true(seen[t][i]);
    free(s.buf);
    cap_close(&c);
}

#define READERS 2
#define SWAPS   2000

static atomic_bool swapping;

/* Counts reads that break an invariant true under every filter the
 * swapper installs: a torn or freed filter would break one. */
static void *filter_reader(void *arg)
{
    uint64_t reads = 0, bad = 0;
    while (atomic_load(&swapping) || reads < 1000) {
        bad += daq_log_enabled("x", DAQ_LOG_WARN);
        bad += !daq_log_enabled("x::sub", DAQ_LOG_ERROR);
        bad += !daq_log_enabled("other", DAQ_LOG_WARN);
        bad += daq_log_enabled("other", DAQ_LOG_TRACE);
        bad += !daq_log_enabled("y::z", DAQ_LOG_DEBUG);
        (void)daq_log_enabled("other", DAQ_LOG_DEBUG); /* true or false, by timing */
        reads++;
    }
    *(uint64_t *)arg = bad;
    return (void *)(uintptr_t)reads;
}

static void filter_swap_under_readers(void **state)
{
    set_filter_ok("debug,x=error");
    atomic_store(&swapping, true);
    pthread_t r[READERS];
    uint64_t bad[READERS];
    for (int i = 0; i < READERS; i++)
        assert_int_equal(pthread_create(&r[i], NULL, filter_reader, &bad[i]), 0);
    for (int i = 0; i < SWAPS; i++) {
        set_filter_ok(i % 2 ? "debug,x=error,y=debug" : "warn,x=error,y::z=trace,y=off");
        /* A rejected spec in between changes nothing. */
        assert_int_equal(daq_log_set_filter("x=nope", NULL, 0), -1);
    }
    atomic_store(&swapping, false);
    for (int i = 0; i < READERS; i++) {
        void *reads;
        pthread_join(r[i], &reads);
        assert_true((uintptr_t)reads >= 1000);
        assert_int_equal(bad[i], 0);
    }
    assert_true(daq_log_enabled("other", DAQ_LOG_DEBUG)); /* the last one: debug */
    assert_false(daq_log_enabled("y::z", DAQ_LOG_TRACE));
}

/* ---- the ring ---------------------------------------------------------------------- */

/* Lines to /dev/null, the ring on with these bounds, filter "info". */
static int ring_setup(size_t lines, size_t bytes)
{
    int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    daq_log_set_fd(fd);
    daq_log_set_format(DAQ_LOG_TEXT);
    set_filter_ok("info");
    assert_int_equal(daq_log_ring_enable(lines, bytes), 0);
    return fd;
}

static void ring_teardown(int fd)
{
    assert_int_equal(daq_log_ring_enable(0, 0), 0);
    daq_log_set_fd(STDERR_FILENO);
    close(fd);
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void ring_off_gives_empty_text(void **state)
{
    (void)state;
    assert_int_equal(daq_log_ring_enable(0, 0), 0);
    daq_logf(DAQ_LOG_WARN, "t", "not kept");
    size_t len = 99;
    char *t = daq_log_ring_dump(&len);
    assert_non_null(t);
    assert_string_equal(t, "");
    assert_int_equal(len, 0);
    free(t);
}

static void ring_keeps_the_last_lines(void **state)
{
    (void)state;
    int fd = ring_setup(4, 1 << 20);
    for (int i = 1; i <= 10; i++)
        DAQ_LOG(DAQ_LOG_INFO, "daq::t", "line", DAQ_F_U64("n", i));
    size_t len;
    char *t = daq_log_ring_dump(&len);
    assert_int_equal(len, strlen(t));
    assert_int_equal(count_lines(t), 4);
    const char *p = t;
    for (int i = 7; i <= 10; i++) { /* oldest first, whole lines */
        char want[64];
        snprintf(want, sizeof want, "  INFO daq::t: line n=%d\n", i);
        assert_memory_equal(p + TS_LEN, want, strlen(want));
        p += TS_LEN + strlen(want);
    }
    assert_int_equal(*p, '\0');
    free(t);
    /* Enabling again starts empty. */
    assert_int_equal(daq_log_ring_enable(4, 1 << 20), 0);
    t = daq_log_ring_dump(NULL);
    assert_string_equal(t, "");
    free(t);
    ring_teardown(fd);
}

static void ring_bounded_in_bytes_across_the_wrap(void **state)
{
    (void)state;
    int fd = ring_setup(1000, 300);
    char last[64] = "";
    for (int i = 0; i < 57; i++) { /* lines of ~50 bytes wrap the 300 bytes many times */
        DAQ_LOG(DAQ_LOG_WARN, "w", "x", DAQ_F_U64("i", i),
                DAQ_F_STR("pad", i % 2 ? "ab" : "abcdefgh"));
        snprintf(last, sizeof last, "  WARN w: x i=%d pad=\"%s\"\n", i, i % 2 ? "ab" : "abcdefgh");
    }
    size_t len;
    char *t = daq_log_ring_dump(&len);
    assert_true(len <= 300);
    assert_true(count_lines(t) >= 4);
    /* Every line whole: a timestamp, then the text; the newest last. */
    for (const char *l = t; *l; l = strchr(l, '\n') + 1) {
        assert_true(strlen(l) > TS_LEN);
        assert_memory_equal(l, "20", 2);
        assert_int_equal(l[TS_LEN - 1], 'Z');
    }
    assert_string_equal(t + len - strlen(last) + 0, last);
    free(t);
    /* A line longer than the ring is cut to its size, not lost or overrun. */
    char big[400];
    memset(big, 'b', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    daq_logf(DAQ_LOG_WARN, "w", "%s", big);
    t = daq_log_ring_dump(&len);
    assert_int_equal(len, 300);
    free(t);
    ring_teardown(fd);
}

static void ring_skips_filtered_lines(void **state)
{
    (void)state;
    int fd = ring_setup(16, 4096);
    set_filter_ok("warn");
    DAQ_LOG(DAQ_LOG_INFO, "t", "quiet", DAQ_F_U64("n", 1));
    DAQ_LOG(DAQ_LOG_WARN, "t", "loud", DAQ_F_U64("n", 2));
    char *t = daq_log_ring_dump(NULL);
    assert_int_equal(count_lines(t), 1);
    assert_non_null(strstr(t, "loud"));
    assert_null(strstr(t, "quiet"));
    free(t);
    ring_teardown(fd);
}

static void ring_no_allocation_per_line(void **state)
{
    (void)state;
    int fd = ring_setup(DAQ_LOG_RING_LINES, DAQ_LOG_RING_BYTES);
    set_filter_ok("trace,quiet=off"); /* what log_burst expects */
    log_burst(10);
    uint64_t m0 = daq_malloc_count();
    log_burst(3000); /* wraps the 2048 lines */
    assert_int_equal(daq_malloc_count(), m0);
    size_t len;
    char *t = daq_log_ring_dump(&len);
    /* 2 KB error lines: the 1 MiB bound comes before the 2048 lines */
    assert_true(len <= DAQ_LOG_RING_BYTES && len > DAQ_LOG_RING_BYTES - DAQ_LOG_LINE_MAX);
    assert_true(count_lines(t) > 500 && count_lines(t) < DAQ_LOG_RING_LINES);
    free(t);
    ring_teardown(fd);
    daq_log_set_format(DAQ_LOG_TEXT);
}

static void *ring_writer(void *arg)
{
    for (int i = 0; i < 3000; i++)
        DAQ_LOG(DAQ_LOG_INFO, "daq::ring", "line", DAQ_F_U64("thread", (uintptr_t)arg),
                DAQ_F_U64("i", i), DAQ_F_STR("pad", PAD));
    return NULL;
}

static void ring_whole_lines_under_concurrency(void **state)
{
    (void)state;
    int fd = ring_setup(256, 16384);
    pthread_t th[3];
    for (uintptr_t i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&th[i], NULL, ring_writer, (void *)i), 0);
    for (int k = 0; k < 200; k++) {
        size_t len;
        char *t = daq_log_ring_dump(&len);
        assert_true(len <= 16384);
        for (const char *l = t; *l; l = strchr(l, '\n') + 1) {
            assert_non_null(strchr(l, '\n'));
            assert_memory_equal(l + TS_LEN, "  INFO daq::ring: line thread=", 30);
            assert_non_null(strstr(l, PAD "\"\n"));
        }
        free(t);
    }
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    ring_teardown(fd);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(json_parser_rejects_bad_lines),
    cmocka_unit_test(level_names_and_parse),
    cmocka_unit_test(filter_parse_valid),
    cmocka_unit_test(filter_invalid_rejected_and_kept),
    cmocka_unit_test(filter_from_environment),
    cmocka_unit_test(target_matching),
    cmocka_unit_test(level_gating),
    cmocka_unit_test(text_line_shape),
    cmocka_unit_test(timestamp_is_utc_now),
    cmocka_unit_test(text_field_types),
    cmocka_unit_test(text_escaping),
    cmocka_unit_test(json_line_shape),
    cmocka_unit_test(json_field_types),
    cmocka_unit_test(json_escaping_round_trip),
    cmocka_unit_test(text_truncation),
    cmocka_unit_test(json_truncation_stays_valid),
    cmocka_unit_test(logf_formats_message),
    cmocka_unit_test(errno_preserved),
    cmocka_unit_test(ratelimit_first_then_every),
    cmocka_unit_test(ratelimit_edges),
    cmocka_unit_test(ratelimit_concurrent),
    cmocka_unit_test(no_allocation_per_call),
    cmocka_unit_test(lines_intact_under_concurrency),
    cmocka_unit_test(filter_swap_under_readers),
    cmocka_unit_test(ring_off_gives_empty_text),
    cmocka_unit_test(ring_keeps_the_last_lines),
    cmocka_unit_test(ring_bounded_in_bytes_across_the_wrap),
    cmocka_unit_test(ring_skips_filtered_lines),
    cmocka_unit_test(ring_no_allocation_per_line),
    cmocka_unit_test(ring_whole_lines_under_concurrency),
};

DAQ_TEST_MAIN("log", tests)
