/* Unit tests of the tokens file, the bearer check and the bind lists
 * (server/rpc_auth.h, util/addr_list.h): the accepted forms and every
 * refusal with its message.  Over the wire: tests/integration/test_tls.py. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/rpc_auth.h"
#include "test_main.h"
#include "util/addr_list.h"

#define ALICE "alice-token-0123456789"
#define BOB   "bob-token-abcdefghijkl"

static daq_rpc_tokens *parse(const char *text, char *err, size_t err_len)
{
    return daq_rpc_tokens_parse(text, strlen(text), "T", err, err_len);
}

static const char *check(const daq_rpc_tokens *t, const char *hdr, const char **why)
{
    return daq_rpc_tokens_check(t, hdr, hdr ? strlen(hdr) : 0, why);
}

static void tokens_accepted_forms(void **state)
{
    char err[256] = "";
    daq_rpc_tokens *t =
        parse("# comment\n\n  alice " ALICE "  # trailing\r\nbob\t" BOB, err, sizeof err);
    assert_non_null(t);
    assert_int_equal(daq_rpc_tokens_count(t), 2);
    const char *why = NULL;
    assert_string_equal(check(t, "Bearer " ALICE, &why), "alice");
    assert_null(why);
    assert_string_equal(check(t, "bearer " BOB, &why), "bob");
    assert_null(check(t, NULL, &why));
    assert_string_equal(why, DAQ_RPC_AUTH_MISSING);
    assert_null(check(t, ALICE, &why)); /* no scheme */
    assert_string_equal(why, DAQ_RPC_AUTH_MISSING);
    assert_null(check(t, "Basic " ALICE, &why));
    assert_string_equal(why, DAQ_RPC_AUTH_MISSING);
    assert_null(check(t, "Bearer " ALICE "x", &why)); /* longer */
    assert_string_equal(why, DAQ_RPC_AUTH_UNKNOWN);
    assert_null(check(t, "Bearer alice-token-012345678", &why)); /* a prefix */
    assert_string_equal(why, DAQ_RPC_AUTH_UNKNOWN);
    assert_null(check(t, "Bearer alice", &why)); /* the name is no token */
    assert_string_equal(why, DAQ_RPC_AUTH_UNKNOWN);
    daq_rpc_tokens_free(t);
}

static void tokens_refusals(void **state)
{
    static const struct {
        const char *text, *err;
    } cases[] = {
        {"", "T: no tokens (one \"name token\" per line)"},
        {"# only\n", "T: no tokens (one \"name token\" per line)"},
        {"alice\n", "T:1: 'alice' has no token (expected \"name token\")"},
        {"alice " ALICE " x\n", "T:1: more than two fields (expected \"name token\")"},
        {"\nalice short\n", "T:2: token of 'alice' is 5 characters, must be 16..256"},
        {"al/ce " ALICE "\n", "T:1: name 'al/ce': only letters, digits and _ - . @ are allowed"},
        {"alice " ALICE "\nalice " BOB "\n", "T:2: name 'alice' is already used on line 1"},
        {"alice " ALICE "\nbob " ALICE "\n",
         "T:2: 'bob' has the same token as 'alice' (line 1): the audit log could not tell them "
         "apart"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[256] = "";
        assert_null(parse(cases[i].text, err, sizeof err));
        assert_string_equal(err, cases[i].err);
    }
}

static void tokens_file_mode(void **state)
{
    char path[] = "/tmp/daq-tokens-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "alice " ALICE "\n", 7 + strlen(ALICE)), 7 + strlen(ALICE));
    close(fd);
    char err[256] = "", want[300];
    assert_int_equal(chmod(path, 0640), 0);
    daq_rpc_tokens *t = daq_rpc_tokens_load(path, err, sizeof err);
    assert_non_null(t);
    daq_rpc_tokens_free(t);
    assert_int_equal(chmod(path, 0604), 0);
    assert_null(daq_rpc_tokens_load(path, err, sizeof err));
    snprintf(want, sizeof want, "%s: mode 0604 lets others read or change the tokens (chmod o-rwx)",
             path);
    assert_string_equal(err, want);
    unlink(path);
    assert_null(daq_rpc_tokens_load(path, err, sizeof err));
    snprintf(want, sizeof want, "%s: No such file or directory", path);
    assert_string_equal(err, want);
}

static void addr_lists(void **state)
{
    char err[256] = "";
    daq_addr_list l;
    assert_int_equal(daq_addr_list_parse("0.0.0.0", &l, err, sizeof err), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.a[0].family, AF_INET);
    assert_true(l.a[0].wildcard);
    assert_false(daq_addr_list_loopback(&l));
    assert_int_equal(daq_addr_list_parse("[::1]", &l, err, sizeof err), 0);
    assert_string_equal(l.a[0].host, "::1");
    assert_int_equal(l.a[0].family, AF_INET6);
    assert_true(daq_addr_list_loopback(&l));
    assert_int_equal(daq_addr_list_parse("0.0.0.0,::", &l, err, sizeof err), 0);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.a[1].family, AF_INET6);
    assert_true(l.a[1].wildcard);
    assert_int_equal(daq_addr_list_parse("127.0.0.2,::1", &l, err, sizeof err), 0);
    assert_true(daq_addr_list_loopback(&l));
    assert_int_equal(daq_addr_list_parse("127.0.0.1,192.0.2.1", &l, err, sizeof err), 0);
    assert_false(daq_addr_list_loopback(&l));

    assert_int_equal(daq_addr_list_parse("localhost", &l, err, sizeof err), -1);
    assert_string_equal(err, "'localhost': 'localhost' is not an IPv4 or IPv6 address (e.g. "
                             "127.0.0.1, 0.0.0.0, ::1, ::, or 0.0.0.0,:: for both)");
    assert_int_equal(daq_addr_list_parse("::,::", &l, err, sizeof err), -1);
    assert_string_equal(err, "'::,::': :: is listed twice");
    assert_int_equal(daq_addr_list_parse("0.0.0.0,", &l, err, sizeof err), -1);
    assert_string_equal(err, "'0.0.0.0,': empty or overlong address");
    assert_int_equal(
        daq_addr_list_parse("1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4,5.5.5.5", &l, err, sizeof err), -1);
    assert_string_equal(err, "'1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4,5.5.5.5': more than 4 addresses");
}

/* One per line: tests/hardening/tls.cmake registers each line's test. */
// clang-format off
static const struct CMUnitTest tests[] = {
    cmocka_unit_test(tokens_accepted_forms),
    cmocka_unit_test(tokens_refusals),
    cmocka_unit_test(tokens_file_mode),
    cmocka_unit_test(addr_lists),
};
// clang-format on

DAQ_TEST_MAIN("rpc_auth", tests)
