/* Unit tests of [[sync_groups]] in the hardware config (src/config/hwconfig.c)
 * and of the groups a device table builds from it (src/devices/devices.c):
 * every accepted key lands in the struct, every refusal is one exact
 * "FILE:LINE:COL: path: message" line, and daq_devices_create attaches one
 * running matcher per group to its members' buses (and, streamed on a sim
 * line, it matches every pulse). */
#define _GNU_SOURCE
#include <unistd.h>

#include "daq/config.h"
#include "daq/devices.h"
#include "daq/sim.h"
#include "daq/sync.h"
#include "test_main.h"

#define CAMS                                                                                       \
    "[[devices]]\nid = \"cam0\"\n[devices.driver]\ntype = \"sim\"\n"                               \
    "[[devices]]\nid = \"cam1\"\n[devices.driver]\ntype = \"sim\"\n"                               \
    "[[devices]]\nid = \"cam2\"\n[devices.driver]\ntype = \"sim\"\n"

static void load(const char *text, daq_config *cfg)
{
    char err[512] = "";
    if (daq_config_load_text(text, strlen(text), "hw.toml", cfg, err, sizeof err) != 0)
        fail_msg("unexpected error: %s", err);
}

static void expect_error(const char *text, const char *want)
{
    static daq_config cfg;
    char err[512] = "";
    if (daq_config_load_text(text, strlen(text), "hw.toml", &cfg, err, sizeof err) == 0)
        fail_msg("loaded, wanted: %s", want);
    assert_string_equal(err, want);
}

static void groups_are_loaded(void **state)
{
    (void)state;
    static daq_config cfg;
    /* A group may come before the devices it names. */
    load("[[sync_groups]]\nname = \"pair\"\ndevices = [\"cam0\", \"cam1\"]\nline = \"laser\"\n"
         "match_timeout_ms = 250\n"
         "[[sync_groups]]\nname = \"solo\"\ndevices = [\"cam2\", \"cam3\"]\n" CAMS
         "[[devices]]\nid = \"cam3\"\n[devices.driver]\ntype = \"sim\"\n",
         &cfg);
    assert_int_equal(cfg.n_sync_groups, 2);
    const daq_config_sync_group *g = &cfg.sync_groups[0];
    assert_string_equal(g->name, "pair");
    assert_string_equal(g->line, "laser");
    assert_int_equal(g->match_timeout_ms, 250);
    assert_int_equal(g->n_devices, 2);
    assert_string_equal(g->devices[0], "cam0");
    assert_string_equal(g->devices[1], "cam1");
    assert_int_equal(g->pos.line, 1);
    assert_int_equal(g->device_pos[1].line, 3);
    assert_int_equal(g->device_pos[1].col, 20);
    g = &cfg.sync_groups[1];
    assert_string_equal(g->name, "solo");
    assert_string_equal(g->line, "");
    assert_int_equal(g->match_timeout_ms, 1000); /* the default */
    /* None at all. */
    load(CAMS, &cfg);
    assert_int_equal(cfg.n_sync_groups, 0);
}

static void groups_are_checked(void **state)
{
    (void)state;
    expect_error(CAMS "[[sync_groups]]\nname = \"pair\"\ndevices = [\"cam0\", \"camX\"]\n",
                 "hw.toml:15:20: sync_groups.pair.devices[1]: no camera device \"camX\" in "
                 "this file");
    expect_error(CAMS "[[sync_groups]]\nname = \"a\"\ndevices = [\"cam0\", \"cam1\"]\n"
                      "[[sync_groups]]\nname = \"b\"\ndevices = [\"cam2\", \"cam1\"]\n",
                 "hw.toml:18:20: sync_groups.b.devices[1]: device \"cam1\" is already in sync "
                 "group \"a\"");
    expect_error(CAMS "[[sync_groups]]\nname = \"pair\"\ndevices = [\"cam0\"]\n",
                 "hw.toml:15:11: sync_groups.pair.devices: a sync group needs at least 2 "
                 "devices, found 1");
    expect_error(CAMS "[[sync_groups]]\nname = \"pair\"\ndevices = [\"cam0\", \"cam0\"]\n",
                 "hw.toml:15:20: sync_groups.pair.devices[1]: device \"cam0\" is named twice");
    expect_error(CAMS "[[sync_groups]]\nname = \"pair\"\ndevices = [\"cam0\", \"cam1\"]\n"
                      "match_timeout_ms = 0\n",
                 "hw.toml:16:20: sync_groups.pair.match_timeout_ms: 0 is out of range [1, "
                 "3600000]");
    expect_error(CAMS "[[sync_groups]]\nname = \"pair\"\ndevices = [\"cam0\", \"cam1\"]\n"
                      "match_timeout_ms = 3600001\n",
                 "hw.toml:16:20: sync_groups.pair.match_timeout_ms: 3600001 is out of range [1, "
                 "3600000]");
    expect_error(CAMS "[[sync_groups]]\nname = \"pair\"\ndevices = [\"cam0\", \"cam1\"]\n"
                      "[[sync_groups]]\nname = \"pair\"\ndevices = [\"cam2\", \"cam1\"]\n",
                 "hw.toml:17:8: sync_groups[1].name: duplicate sync group name \"pair\"");
    expect_error(CAMS "[[sync_groups]]\ndevices = [\"cam0\", \"cam1\"]\n",
                 "hw.toml:13:1: sync_groups[0]: missing required key 'name'");
    expect_error(CAMS "[[sync_groups]]\nname = \"pair\"\n",
                 "hw.toml:13:1: sync_groups.pair: missing required key 'devices'");
    expect_error(CAMS "[[sync_groups]]\nname = \"pair\"\ndevices = [\"cam0\", \"cam1\"]\n"
                      "lines = \"x\"\n",
                 "hw.toml:16:1: sync_groups.pair.lines: unknown key");
    expect_error(CAMS "[[sync_groups]]\nname = \"pair\"\ndevices = \"cam0\"\n",
                 "hw.toml:15:11: sync_groups.pair.devices: expected array, found string");
    expect_error(CAMS "[[sync_groups]]\nname = \"pair\"\ndevices = [\"cam0\", 1]\n",
                 "hw.toml:15:20: sync_groups.pair.devices[1]: expected string, found integer");
    expect_error(CAMS "[[sync_groups]]\nname = \"\"\ndevices = [\"cam0\", \"cam1\"]\n",
                 "hw.toml:14:8: sync_groups[0].name: sync group name must not be empty");
    expect_error(CAMS "[[sync_groups]]\nname = \"pair\"\ndevices = [\"cam0\", \"cam1\"]\n"
                      "line = \"\"\n",
                 "hw.toml:16:8: sync_groups.pair.line: must not be empty");
    expect_error("sync_groups = 3\n" CAMS,
                 "hw.toml:1:15: sync_groups: expected array, found integer");
    /* A member's own trigger.line must be the group's. */
    expect_error("[[devices]]\nid = \"cam0\"\n[devices.driver]\ntype = \"sim\"\n"
                 "trigger.line = \"other\"\n"
                 "[[devices]]\nid = \"cam1\"\n[devices.driver]\ntype = \"sim\"\n"
                 "[[sync_groups]]\nname = \"pair\"\ndevices = [\"cam0\", \"cam1\"]\n"
                 "line = \"laser\"\n",
                 "hw.toml:5:16: devices.cam0.driver.trigger.line: \"other\" is not the line of "
                 "its sync group \"pair\" (\"laser\")");
    /* A non-camera device (skipped with a warning) is no member either. */
    expect_error(CAMS "[[devices]]\nid = \"stage\"\n[devices.driver]\ntype = \"esp300\"\n"
                      "[[sync_groups]]\nname = \"pair\"\ndevices = [\"cam0\", \"stage\"]\n",
                 "hw.toml:19:20: sync_groups.pair.devices[1]: no camera device \"stage\" in "
                 "this file");
}

/* The table builds one running matcher per group, subscribed to each
 * member's bus, and destroys it with the table. */
static void devices_build_groups(void **state)
{
    (void)state;
    static daq_config cfg;
    load(CAMS "[[sync_groups]]\nname = \"pair\"\ndevices = [\"cam0\", \"cam2\"]\n"
              "match_timeout_ms = 300\n",
         &cfg);
    char err[512] = "";
    daq_devices *ds = daq_devices_create(&cfg, NULL, err, sizeof err);
    if (!ds)
        fail_msg("devices: %s", err);
    assert_int_equal(daq_devices_sync_count(ds), 1);
    daq_sync_group *g = daq_devices_sync_at(ds, 0);
    assert_non_null(g);
    assert_null(daq_devices_sync_at(ds, 1));
    assert_string_equal(daq_sync_group_name(g), "pair");
    daq_sync_stats s;
    daq_sync_group_stats(g, &s);
    assert_int_equal(s.n_members, 2);
    assert_string_equal(s.member[0].device, "cam0");
    assert_string_equal(s.member[1].device, "cam2");
    assert_int_equal(s.matched, 0);
    daq_sub_stats subs[8];
    unsigned n = daq_bus_stats_snapshot(daq_device_bus(daq_devices_find(ds, "cam2")), subs, 8);
    assert_int_equal(n, 1);
    assert_string_equal(subs[0].name, "sync:pair");
    assert_int_equal(subs[0].policy, DAQ_SUB_LOSSLESS);
    assert_int_equal(subs[0].queue_depth, DAQ_SYNC_QUEUE_DEPTH_DEFAULT);
    assert_int_equal(daq_bus_sub_count(daq_device_bus(daq_devices_find(ds, "cam1"))), 0);
    daq_devices_destroy(ds);
    /* Built for one device: no group is complete, none is made. */
    ds = daq_devices_create(&cfg, "cam0", err, sizeof err);
    assert_non_null(ds);
    assert_int_equal(daq_devices_sync_count(ds), 0);
    daq_devices_destroy(ds);
}

/* A sim member of a group with a line listens to it unless it names one. */
static void sim_members_get_the_line(void **state)
{
    (void)state;
    static daq_config cfg;
    load("[[devices]]\nid = \"cam0\"\n[devices.driver]\ntype = \"sim\"\n"
         "[[devices]]\nid = \"cam1\"\n[devices.driver]\ntype = \"sim\"\n"
         "trigger.line = \"laser\"\n"
         "[[sync_groups]]\nname = \"pair\"\ndevices = [\"cam0\", \"cam1\"]\nline = \"laser\"\n",
         &cfg);
    char err[512] = "";
    daq_devices *ds = daq_devices_create(&cfg, NULL, err, sizeof err);
    if (!ds)
        fail_msg("devices: %s", err);
    daq_camera *cam = daq_device_camera(daq_devices_find(ds, "cam0"));
    assert_non_null(cam);
    daq_param_desc d;
    if (daq_camera_get_param_desc(cam, "trigger.line", &d, NULL, 0) != 0) {
        daq_devices_destroy(ds); /* the sim has no trigger line in this build */
        skip();
    }
    daq_param_value v;
    for (int i = 0; i < 2; i++) {
        cam = daq_device_camera(daq_devices_find(ds, i ? "cam1" : "cam0"));
        assert_int_equal(daq_camera_get_param(cam, "trigger.line", &v, err, sizeof err), 0);
        assert_string_equal(v.s, "laser");
    }
    daq_devices_destroy(ds);
}

/* End to end through the table: two sim cameras of the file on the group's
 * line (the line given by the group only), streamed, 200 pulses: 200 sets
 * matched by the table's matcher, none mismatched. */
static void devices_match_on_the_line(void **state)
{
    (void)state;
    static daq_config cfg;
    const char *cam = "[devices.driver]\ntype = \"sim\"\nwidth = 64\nheight = 64\n"
                      "trigger.mode = \"external_edge\"\nframe_rate_hz = 10000\n"
                      "exposure_ms = 0.01\n";
    char text[1024];
    snprintf(text, sizeof text,
             "[[devices]]\nid = \"cam0\"\n%s[[devices]]\nid = \"cam1\"\n%s"
             "[[sync_groups]]\nname = \"pair\"\ndevices = [\"cam0\", \"cam1\"]\n"
             "line = \"sync-config-test\"\n",
             cam, cam);
    char err[512] = "";
    if (daq_config_load_text(text, strlen(text), "hw.toml", &cfg, err, sizeof err) != 0) {
        if (strstr(err, "trigger.") || strstr(err, "unknown parameter"))
            skip(); /* a build whose sim has no trigger line */
        fail_msg("config: %s", err);
    }
    daq_devices *ds = daq_devices_create(&cfg, NULL, err, sizeof err);
    if (!ds)
        fail_msg("devices: %s", err);
    for (int i = 0; i < 2; i++)
        assert_int_equal(daq_device_stream_start(daq_devices_at(ds, (size_t)i), 0, err, sizeof err),
                         0);
    uint64_t until = daq_test_now_ns() + 5000000000ull;
    while (daq_sim_line_listeners("sync-config-test") < 2 && daq_test_now_ns() < until)
        usleep(1000);
    assert_int_equal(daq_sim_line_listeners("sync-config-test"), 2);
    for (int i = 0; i < 200; i++) {
        daq_sim_line_pulse("sync-config-test");
        usleep(1000);
    }
    daq_sync_group *g = daq_devices_sync_at(ds, 0);
    daq_sync_stats s;
    until = daq_test_now_ns() + 10000000000ull;
    do {
        usleep(2000);
        daq_sync_group_stats(g, &s);
    } while (s.matched + s.mismatched < 200 && daq_test_now_ns() < until);
    assert_int_equal(s.matched, 200);
    assert_int_equal(s.mismatched, 0);
    assert_int_equal(s.before_start, 0);
    assert_int_equal(s.member[0].frames, 200);
    assert_int_equal(s.member[1].frames, 200);
    assert_true(s.skew_count == 200 && s.skew_max_s < 0.5);
    daq_devices_stop_all(ds);
    daq_devices_destroy(ds);
}

int main(int argc, char **argv)
{
    /* One per line: tests/CMakeLists.txt registers each line's test. */
    // clang-format off
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(groups_are_loaded),
        cmocka_unit_test(groups_are_checked),
        cmocka_unit_test(devices_build_groups),
        cmocka_unit_test(sim_members_get_the_line),
        cmocka_unit_test(devices_match_on_the_line),
    };
    // clang-format on
    return daq_test_main(argc, argv, "sync_config", tests, sizeof tests / sizeof tests[0]);
}
