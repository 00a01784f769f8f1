/* tests/fuzz/fuzz_rpc.c - libFuzzer target for daqd's request handling.
 *
 * A daemon context is built once, in process and without the network: a
 * device table from a TOML config (a 32x32 sim camera "cam0", and "gone", a
 * pvcam device that stays down because no libpvcam is installed) and the
 * camera service over it (daq_service_methods: every method daqd serves
 * for the camera API, with its handler pointers).  Each input is one call:
 * the first byte picks the method, the rest is the request's bytes.
 *
 *  - unary methods run their real handler with a daq_rpc_reply, exactly as
 *    the gRPC core's thread calls them (server/rpc.c);
 *  - the two streaming methods need a daq_rpc_call, which only the gRPC
 *    core can make: for them the decode + strict-input layer the start
 *    handler runs first (daq_call_check_request) is fuzzed instead.
 *
 * Checked on every call, besides ASan/UBSan/LSan: a reply's status is one
 * gRPC defines; an OK reply decodes as the method's response type (from the
 * proto's service descriptor, not a hand table); an error has a
 * NUL-terminated message; a request that does not decode is
 * INVALID_ARGUMENT; a request whose device_id / parameter_name(s) /
 * capability_filter carries a byte < 0x20 or 0x7f is INVALID_ARGUMENT
 * (the oracle scans the wire bytes itself, so a handler that forgot the
 * check is caught).  Any broken promise traps.
 *
 * Each input starts from the same state: after the call every acquisition
 * is stopped and every writable parameter put back to its value at start
 * (so SetParameter width=16384 cannot feed a later StartStream's
 * allocation, and a crash reproduces from its one input).
 *
 * Built by tests/fuzz/CMakeLists.txt with clang; run by `make fuzz-smoke`
 * and `make fuzz-rpc`.
 */
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daq/camera.h"
#include "daq/config.h"
#include "daq/devices.h"
#include "daq/log.h"
#include "daq_c.pb-c.h"
#include "server/calls.h"
#include "server/service.h"

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "fuzz_rpc: check failed: %s (line %d)\n", #x, __LINE__);               \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

#define MAX_METHODS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char config_text[] = "[[devices]]\n"
                                  "id = \"cam0\"\n"
                                  "[devices.driver]\n"
                                  "type = \"sim\"\n"
                                  "width = 32\n"
                                  "height = 32\n"
                                  "frame_rate_hz = 200.0\n"
                                  "exposure_ms = 1.0\n"
                                  "\n"
                                  "[[devices]]\n"
                                  "id = \"gone\"\n"
                                  "[devices.driver]\n"
                                  "type = \"pvcam\"\n";

typedef struct saved_param {
    daq_camera *cam;
    const char *name; /* static storage of the driver */
    char json[2 * DAQ_PARAM_STR_MAX];
} saved_param;

static struct {
    daq_config cfg;
    daq_devices *ds;
    daq_service *svc;
    daq_rpc_method m[MAX_METHODS];
    const ProtobufCMessageDescriptor *in[MAX_METHODS], *out[MAX_METHODS];
    size_t n;
    saved_param params[DAQ_CONFIG_MAX_DEVICES * DAQ_CAMERA_MAX_PARAMS];
    size_t n_params;
    bool use_pool[DAQ_CONFIG_MAX_DEVICES];
    daq_pool_policy policy[DAQ_CONFIG_MAX_DEVICES];
} G;

/* The request and response types of method path "/pkg.Service/Method". */
static void method_types(const char *path, const ProtobufCMessageDescriptor **in,
                         const ProtobufCMessageDescriptor **out)
{
    static const ProtobufCServiceDescriptor *const services[] = {&daq__control_service__descriptor,
                                                                 &daq__hardware_service__descriptor,
                                                                 &daq__storage_service__descriptor};
    const char *slash = strrchr(path, '/');
    CHECK(path[0] == '/' && slash && slash > path);
    for (size_t i = 0; i < sizeof services / sizeof services[0]; i++) {
        size_t n = strlen(services[i]->name);
        if ((size_t)(slash - path - 1) != n || memcmp(path + 1, services[i]->name, n) != 0)
            continue;
        const ProtobufCMethodDescriptor *md =
            protobuf_c_service_descriptor_get_method_by_name(services[i], slash + 1);
        CHECK(md != NULL);
        *in = md->input;
        *out = md->output;
        return;
    }
    CHECK(!"a served method missing from daq.proto");
}

static void save_state(void)
{
    for (size_t d = 0; d < daq_devices_count(G.ds); d++) {
        daq_device *dev = daq_devices_at(G.ds, d);
        daq_acq *a = daq_device_acq(dev);
        if (a) {
            G.use_pool[d] = daq_acq_use_pool(a);
            G.policy[d] = daq_acq_policy(a);
        }
        daq_camera *cam = daq_device_camera(dev);
        if (!cam)
            continue;
        daq_param_desc t[DAQ_CAMERA_MAX_PARAMS];
        size_t n = daq_camera_params_snapshot(cam, t, DAQ_CAMERA_MAX_PARAMS);
        for (size_t i = 0; i < n; i++) {
            daq_param_value v;
            if (!(t[i].flags & DAQ_PARAM_WRITABLE) ||
                daq_camera_get_param(cam, t[i].name, &v, NULL, 0) != 0)
                continue;
            saved_param *p = &G.params[G.n_params++];
            p->cam = cam;
            p->name = t[i].name;
            daq_param_format_json(&v, p->json, sizeof p->json);
        }
    }
}

/* Back to the state save_state() saw: streams stopped, parameters as they
 * were (twice over, for parameters whose range depends on another). */
static void restore_state(void)
{
    for (size_t d = 0; d < daq_devices_count(G.ds); d++) {
        daq_acq *a = daq_device_acq(daq_devices_at(G.ds, d));
        if (!a)
            continue;
        daq_acq_stop(a);
        daq_acq_set_use_pool(a, G.use_pool[d]);
        daq_pool_config pc;
        daq_pool_config_init(&pc);
        daq_acq_set_policy(a, G.policy[d], pc.wait_timeout_ms, pc.wait_fallback);
    }
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < G.n_params; i++) {
            saved_param *p = &G.params[i];
            daq_param_value v;
            char now[sizeof p->json];
            if (daq_camera_get_param(p->cam, p->name, &v, NULL, 0) == 0 &&
                strcmp(daq_param_format_json(&v, now, sizeof now), p->json) == 0)
                continue;
            daq_camera_set_param_text(p->cam, p->name, p->json, NULL, 0);
        }
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const daq_rpc_method *)a)->path, ((const daq_rpc_method *)b)->path);
}

static void init(void)
{
    char err[512];
    CHECK(daq_log_set_filter("off", err, sizeof err) == 0); /* DAQ_LOG=... to see them */
    CHECK(daq_config_load_text(config_text, strlen(config_text), "fuzz.toml", &G.cfg, err,
                               sizeof err) == 0);
    G.ds = daq_devices_create(&G.cfg, NULL, err, sizeof err);
    CHECK(G.ds != NULL);
    CHECK(daq_devices_up(G.ds) == 1); /* cam0 up, gone down */
    daq_service_config sc = {
        .version = "0.0.0-fuzz", .compression_lz4 = true, .max_streams_per_client = 3};
    G.svc = daq_service_create(G.ds, &sc);
    CHECK(G.svc != NULL);
    G.n = daq_service_methods(G.svc, G.m, MAX_METHODS);
    CHECK(G.n > 0 && G.n <= MAX_METHODS);
    /* by path, so the first byte's meaning changes only when a method is
     * added or removed, not when a module's table is reordered */
    qsort(G.m, G.n, sizeof G.m[0], by_path);
    for (size_t i = 0; i < G.n; i++) {
        method_types(G.m[i].path, &G.in[i], &G.out[i]);
        if (getenv("FUZZ_RPC_LIST")) /* for tests/fuzz/make_rpc_corpus.py */
            fprintf(stderr, "fuzz_rpc method %zu %s\n", i, G.m[i].path);
    }
    save_state();
}

/* The oracle for names: does a top-level device_id / device_ids /
 * parameter_name / parameter_names / capability_filter of req carry a
 * control byte? */
static bool has_bad_name(const ProtobufCMessageDescriptor *md, const uint8_t *req, size_t len)
{
    size_t i = 0;
    uint32_t field;
    int type;
    const uint8_t *v;
    size_t vn;
    while (daq_call_wire_next(req, len, &i, &field, &type, &v, &vn)) {
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(md, field);
        if (type != 2 || !f || f->type != PROTOBUF_C_TYPE_STRING ||
            (strncmp(f->name, "device_id", 9) != 0 && strncmp(f->name, "parameter_name", 14) != 0 &&
             strcmp(f->name, "capability_filter") != 0))
            continue;
        for (size_t k = 0; k < vn; k++)
            if (v[k] < 0x20 || v[k] == 0x7f)
                return true;
    }
    return false;
}

static bool known_status(int s)
{
    return s >= 0 && s <= 16;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!G.ds)
        init();
    if (size == 0)
        return 0;
    size_t k = data[0] % G.n;
    const uint8_t *req = data + 1;
    size_t len = size - 1;
    const daq_rpc_method *m = &G.m[k];
    ProtobufCMessage *dec = protobuf_c_message_unpack(G.in[k], NULL, len, req);
    bool bad_name = dec && has_bad_name(G.in[k], req, len);

    if (m->unary) {
        daq_rpc_reply r = {.status = 0};
        m->unary(m->ctx, req, len, &r);
        CHECK(known_status(r.status));
        CHECK(memchr(r.details, 0, sizeof r.details) != NULL);
        if (!dec || bad_name)
            CHECK(r.status == 3 /* INVALID_ARGUMENT */);
        if (r.status == 0) {
            CHECK(r.body != NULL);
            ProtobufCMessage *o = protobuf_c_message_unpack(G.out[k], NULL, r.len, r.body);
            CHECK(o != NULL);
            protobuf_c_message_free_unpacked(o, NULL);
        } else {
            CHECK(r.details[0] != '\0');
        }
        free(r.body);
    } else if (dec) {
        char details[256] = "";
        int rc = daq_call_check_request(dec, req, len, details, sizeof details);
        CHECK(rc == 0 || rc == 3);
        CHECK(!bad_name || rc == 3);
        CHECK(rc == 0 || details[0] != '\0');
    }
    if (dec)
        protobuf_c_message_free_unpacked(dec, NULL);
    restore_state();
    return 0;
}
