/* Unit tests of the gRPC server core without a client: the address helpers
 * (peer host, listen address), start/stop, bind failures with their
 * message, method-table validation, and the health service's handlers
 * called directly.  Calls over the wire are tests/server/test_rpc.py. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daq/acq.h"
#include "daq/config.h"
#include "daq/devices.h"
#include "health.pb-c.h"
#include "server/health.h"
#include "server/rpc_internal.h"
#include "test_main.h"

static void unary_nop(void *ctx, const uint8_t *req, size_t len, daq_rpc_reply *reply)
{
}

static const daq_rpc_method nop_method = {.path = "/t.T/Nop", .unary = unary_nop};

static const char *host_of(const char *peer)
{
    static char out[DAQ_RPC_HOST_MAX];
    daq_rpc_peer_host(peer, out, sizeof out);
    return out;
}

static void peer_host_forms(void **state)
{
    assert_string_equal(host_of("ipv4:127.0.0.1:54312"), "127.0.0.1");
    assert_string_equal(host_of("ipv6:[::1]:5000"), "::1");
    assert_string_equal(host_of("ipv6:%5B::1%5D:5000"), "::1");
    assert_string_equal(host_of("ipv6:%5Bfe80::1%25eth0%5D:80"), "fe80::1%eth0");
    assert_string_equal(host_of("ipv4:10.0.0.2"), "10.0.0.2"); /* no port */
    assert_string_equal(host_of("unix:/run/daq.sock"), "/run/daq.sock");
    assert_string_equal(host_of("something-else"), "something-else");
    assert_string_equal(host_of(""), "");
    assert_string_equal(host_of(NULL), "");
    assert_string_equal(host_of("ipv6:[::1"), "::1"); /* unterminated bracket */
}

static void peer_host_truncates(void **state)
{
    char out[5];
    assert_int_equal(daq_rpc_peer_host("ipv4:127.0.0.1:1", out, sizeof out), 4);
    assert_string_equal(out, "127.");
    char one[1] = {'x'};
    assert_int_equal(daq_rpc_peer_host("ipv4:1.2.3.4:5", one, sizeof one), 0);
    assert_int_equal(one[0], '\0');
}

static void listen_addr_forms(void **state)
{
    char out[64];
    assert_true(daq_rpc_format_addr("127.0.0.1", 50051, out, sizeof out));
    assert_string_equal(out, "127.0.0.1:50051");
    assert_true(daq_rpc_format_addr("::", 0, out, sizeof out));
    assert_string_equal(out, "[::]:0");
    assert_true(daq_rpc_format_addr("[::1]", 7, out, sizeof out));
    assert_string_equal(out, "[::1]:7");
    assert_true(daq_rpc_format_addr("localhost", 1, out, sizeof out));
    assert_string_equal(out, "localhost:1");
    assert_false(daq_rpc_format_addr("127.0.0.1", 50051, out, 8));
}

static void start_stop_ephemeral(void **state)
{
    char err[256] = "";
    daq_rpc_server *s =
        daq_rpc_server_start("127.0.0.1", 0, &nop_method, 1, 1 << 20, err, sizeof err);
    assert_non_null(s);
    assert_int_not_equal(daq_rpc_server_port(s), 0);
    daq_rpc_server_stop(s);
    daq_rpc_server_stop(NULL);
    assert_int_equal(daq_rpc_server_port(NULL), 0);

    daq_rpc_counters k;
    daq_rpc_counters_snapshot(&k);
    assert_int_equal(k.states_created, k.states_freed); /* the posted requests went */
    assert_int_equal(k.calls, k.calls_done);
}

static void port_in_use_by_grpc(void **state)
{
    char err[256] = "";
    daq_rpc_server *a = daq_rpc_server_start("127.0.0.1", 0, &nop_method, 1, 0, err, sizeof err);
    assert_non_null(a);
    uint16_t port = daq_rpc_server_port(a);
    daq_rpc_server *b = daq_rpc_server_start("127.0.0.1", port, &nop_method, 1, 0, err, sizeof err);
    assert_null(b);
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1:%u: cannot bind: Address already in use",
             (unsigned)port);
    assert_string_equal(err, want);
    daq_rpc_server_stop(a);
}

static void port_in_use_by_socket(void **state)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 1), 0);
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);

    char err[256] = "";
    daq_rpc_server *s =
        daq_rpc_server_start("127.0.0.1", ntohs(sa.sin_port), &nop_method, 1, 0, err, sizeof err);
    assert_null(s);
    assert_non_null(strstr(err, "Address already in use"));
    close(fd);
}

static void bad_address(void **state)
{
    char err[256] = "";
    assert_null(daq_rpc_server_start("192.0.2.1", 0, &nop_method, 1, 0, err, sizeof err));
    assert_non_null(strstr(err, "192.0.2.1:0: cannot bind"));
    assert_null(daq_rpc_server_start("", 0, &nop_method, 1, 0, err, sizeof err));
    assert_null(daq_rpc_server_start(NULL, 0, &nop_method, 1, 0, err, sizeof err));
}

static int stream_nop(void *ctx, daq_rpc_call *c, const uint8_t *req, size_t len, char *details,
                      size_t details_len)
{
    return DAQ_RPC_UNIMPLEMENTED;
}

static void method_table_checked(void **state)
{
    char err[256] = "";
    daq_rpc_method twice[] = {nop_method, nop_method};
    assert_null(daq_rpc_server_start("127.0.0.1", 0, twice, 2, 0, err, sizeof err));
    assert_string_equal(err, "rpc method /t.T/Nop registered twice");

    daq_rpc_method both = {.path = "/t.T/Both", .unary = unary_nop, .stream = stream_nop};
    assert_null(daq_rpc_server_start("127.0.0.1", 0, &both, 1, 0, err, sizeof err));
    assert_string_equal(err, "rpc method /t.T/Both: exactly one of unary, stream");

    daq_rpc_method none = {.path = "/t.T/None"};
    assert_null(daq_rpc_server_start("127.0.0.1", 0, &none, 1, 0, err, sizeof err));

    daq_rpc_method rel = {.path = "t.T/Rel", .unary = unary_nop};
    assert_null(daq_rpc_server_start("127.0.0.1", 0, &rel, 1, 0, err, sizeof err));
    assert_non_null(strstr(err, "must start with '/'"));

    /* No methods at all: every call is UNIMPLEMENTED, still a valid server. */
    daq_rpc_server *s = daq_rpc_server_start("127.0.0.1", 0, NULL, 0, 0, err, sizeof err);
    assert_non_null(s);
    daq_rpc_server_stop(s);
}

/* ---- health, handlers called directly -------------------------------------------- */

static size_t pack_request(const char *service, uint8_t *buf)
{
    Grpc__Health__V1__HealthCheckRequest r = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    r.service = (char *)service;
    return grpc__health__v1__health_check_request__pack(&r, buf);
}

static void health_status_table(void **state)
{
    daq_health *h = daq_health_create(false);
    assert_int_equal(daq_health_status(h, ""), DAQ_HEALTH_SERVING);
    assert_int_equal(daq_health_status(h, NULL), DAQ_HEALTH_SERVING);
    assert_int_equal(daq_health_status(h, "daq.ControlService"), DAQ_HEALTH_SERVING);
    assert_int_equal(daq_health_status(h, "daq.HardwareService"), DAQ_HEALTH_SERVING);
    assert_int_equal(daq_health_status(h, "daq.hardwareservice"), DAQ_HEALTH_SERVICE_UNKNOWN);
    assert_int_equal(daq_health_status(h, "daq.ScanService"), DAQ_HEALTH_SERVICE_UNKNOWN);
    daq_rpc_method m[2];
    assert_int_equal(daq_health_methods(h, m, 1), 0);
    assert_int_equal(daq_health_watchers(h), 0);
    daq_health_destroy(h);
    daq_health_destroy(NULL);
}

static void health_check_handler(void **state)
{
    daq_health *h = daq_health_create(false);
    daq_rpc_method m[2];
    assert_int_equal(daq_health_methods(h, m, 2), 2);
    assert_string_equal(m[0].path, "/grpc.health.v1.Health/Check");
    assert_non_null(m[0].unary);
    assert_string_equal(m[1].path, "/grpc.health.v1.Health/Watch");
    assert_non_null(m[1].stream);

    uint8_t req[64];
    daq_rpc_reply r = {0};
    m[0].unary(m[0].ctx, req, pack_request("daq.HardwareService", req), &r);
    assert_int_equal(r.status, DAQ_RPC_OK);
    Grpc__Health__V1__HealthCheckResponse *resp =
        grpc__health__v1__health_check_response__unpack(NULL, r.len, r.body);
    assert_non_null(resp);
    assert_int_equal(resp->status, DAQ_HEALTH_SERVING);
    grpc__health__v1__health_check_response__free_unpacked(resp, NULL);
    free(r.body);

    daq_rpc_reply e = {0};
    m[0].unary(m[0].ctx, NULL, 0, &e); /* the empty message is service "" */
    assert_int_equal(e.status, DAQ_RPC_OK);
    free(e.body);

    daq_rpc_reply u = {0};
    m[0].unary(m[0].ctx, req, pack_request("nope", req), &u);
    assert_int_equal(u.status, DAQ_RPC_NOT_FOUND);
    assert_string_equal(u.details, "Unknown service: nope");
    assert_null(u.body);

    static const uint8_t garbage[] = {0x0a, 0x05, 'a', 'b'}; /* field 1, 5 bytes, 2 there */
    daq_rpc_reply g = {0};
    m[0].unary(m[0].ctx, garbage, sizeof garbage, &g);
    assert_int_equal(g.status, DAQ_RPC_INVALID_ARGUMENT);
    assert_null(g.body);

    char details[256] = "";
    assert_int_equal(m[1].stream(m[1].ctx, NULL, garbage, sizeof garbage, details, sizeof details),
                     DAQ_RPC_INVALID_ARGUMENT);
    assert_string_equal(details, "cannot decode HealthCheckRequest");
    daq_health_destroy(h);
}

/* ---- health, following real devices ---------------------------------------------- */

/* cam0: a sim camera whose readout fails after 5 frames; cam1: a pvcam
 * camera whose library is not there (absent). */
static const char devices_toml[] = "[[devices]]\n"
                                   "id = \"cam0\"\n"
                                   "[devices.driver]\n"
                                   "type = \"sim\"\n"
                                   "width = 32\n"
                                   "height = 32\n"
                                   "timing = \"instant\"\n"
                                   "\"fault.fail_after\" = 5\n"
                                   "[[devices]]\n"
                                   "id = \"cam1\"\n"
                                   "[devices.driver]\n"
                                   "type = \"pvcam\"\n"
                                   "library = \"/nonexistent/libpvcam.so.2\"\n";

static daq_devices *make_devices(void)
{
    daq_config *cfg = malloc(sizeof *cfg);
    assert_non_null(cfg);
    char err[512] = "";
    assert_int_equal(
        daq_config_load_text(devices_toml, strlen(devices_toml), "t.toml", cfg, err, sizeof err),
        0);
    daq_devices *ds = daq_devices_create(cfg, NULL, err, sizeof err);
    free(cfg);
    assert_non_null(ds);
    return ds;
}

static void health_absent_device_not_serving(void **state)
{
    daq_devices *ds = make_devices();
    daq_health *h = daq_health_create(false);
    daq_health_set_devices(h, ds);
    assert_int_equal(daq_health_status(h, ""), DAQ_HEALTH_NOT_SERVING);
    assert_int_equal(daq_health_status(h, "daq.HardwareService"), DAQ_HEALTH_NOT_SERVING);
    assert_int_equal(daq_health_status(h, "daq.HardwareService/cam0"), DAQ_HEALTH_SERVING);
    assert_int_equal(daq_health_status(h, "daq.HardwareService/cam1"), DAQ_HEALTH_NOT_SERVING);
    assert_int_equal(daq_health_status(h, "daq.ControlService"), DAQ_HEALTH_SERVING);
    assert_int_equal(daq_health_status(h, "daq.HardwareService/"), DAQ_HEALTH_SERVICE_UNKNOWN);
    assert_int_equal(daq_health_status(h, "daq.HardwareService/cam"), DAQ_HEALTH_SERVICE_UNKNOWN);
    assert_int_equal(daq_health_status(h, "daq.HardwareServicecam0"), DAQ_HEALTH_SERVICE_UNKNOWN);

    daq_device_health dh;
    daq_device_health_snapshot(daq_devices_find(ds, "cam1"), &dh);
    assert_string_equal(dh.state, "absent");
    assert_false(dh.healthy);
    assert_string_equal(dh.why, daq_device_error(daq_devices_find(ds, "cam1")));
    assert_true(strncmp(dh.why, "pvcam: cannot load /nonexistent/libpvcam.so.2", 45) == 0);
    daq_device_health_snapshot(daq_devices_find(ds, "cam0"), &dh);
    assert_string_equal(dh.state, "idle");
    assert_true(dh.healthy);
    assert_string_equal(dh.why, "");
    daq_health_destroy(h);
    daq_devices_destroy(ds);
}

static void health_stream_error_not_serving_until_restart(void **state)
{
    daq_devices *ds = make_devices();
    daq_health *h = daq_health_create(false);
    daq_health_set_devices(h, ds);
    daq_device *cam0 = daq_devices_find(ds, "cam0");
    char err[256] = "";
    assert_int_equal(daq_acq_start(daq_device_acq(cam0), 0, err, sizeof err), 0);
    assert_true(daq_acq_wait_idle(daq_device_acq(cam0), 5000));
    assert_false(daq_device_healthy(cam0));
    assert_int_equal(daq_health_status(h, "daq.HardwareService/cam0"), DAQ_HEALTH_NOT_SERVING);
    daq_device_health dh;
    daq_device_health_snapshot(cam0, &dh);
    assert_string_equal(dh.state, "error");
    assert_false(dh.healthy);
    assert_string_equal(dh.why, "camera readout failed: simulated readout failure after 5 frames");

    /* A start clears the error; a frame limit below the fault ends it cleanly. */
    assert_int_equal(daq_acq_start(daq_device_acq(cam0), 3, err, sizeof err), 0);
    assert_true(daq_acq_wait_idle(daq_device_acq(cam0), 5000));
    assert_true(daq_device_healthy(cam0));
    assert_int_equal(daq_health_status(h, "daq.HardwareService/cam0"), DAQ_HEALTH_SERVING);
    daq_device_health_snapshot(cam0, &dh);
    assert_string_equal(dh.state, "idle");
    assert_string_equal(dh.why, "");
    daq_acq_stop(daq_device_acq(cam0));
    daq_health_destroy(h);
    daq_devices_destroy(ds);
}

/* One per line: tests/CMakeLists.txt registers each line's test. */
// clang-format off
static const struct CMUnitTest tests[] = {
    cmocka_unit_test(peer_host_forms),
    cmocka_unit_test(peer_host_truncates),
    cmocka_unit_test(listen_addr_forms),
    cmocka_unit_test(start_stop_ephemeral),
    cmocka_unit_test(port_in_use_by_grpc),
    cmocka_unit_test(port_in_use_by_socket),
    cmocka_unit_test(bad_address),
    cmocka_unit_test(method_table_checked),
    cmocka_unit_test(health_status_table),
    cmocka_unit_test(health_check_handler),
    cmocka_unit_test(health_absent_device_not_serving),
    cmocka_unit_test(health_stream_error_not_serving_until_restart),
};
// clang-format on

DAQ_TEST_MAIN("rpc", tests)
