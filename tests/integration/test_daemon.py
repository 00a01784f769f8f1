#!/usr/bin/python3
"""daqd as a process: metrics while streaming (promtool + prometheus_client),
health, clean shutdown on SIGTERM, start-up failures with one clear line.

usage: test_daemon.py DAQD
"""
import json
import re
import signal
import socket
import subprocess
import sys
import time
import unittest

from prometheus_client.parser import text_string_to_metric_families

from daqd_harness import Daemon, run

DAQD = None

CONFIG = """
[[devices]]
id = "cam0"
autostart = true
[devices.driver]
type = "sim"
width = 256
height = 256
frame_rate_hz = 200.0
[[devices.consumers]]
name = "stats"
kind = "stats"
policy = "drop-oldest"
queue_depth = 4

[[devices]]
id = "stage"
[devices.driver]
type = "mock_stage"
"""


def samples(text):
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(smp, name, **labels):
    return smp[(name, tuple(sorted(labels.items())))]


class DaemonTest(unittest.TestCase):
    def test_metrics_while_streaming_and_sigterm(self):
        d = Daemon(DAQD, CONFIG).start()
        try:
            self.assertIn("stage", d.log())  # the skipped device is named
            time.sleep(1.0)
            status, first = d.get("/metrics")
            self.assertEqual(status, 200)
            check = subprocess.run(["promtool", "check", "metrics"], input=first,
                                   capture_output=True, text=True)
            self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
            a = samples(first)
            time.sleep(1.0)
            b = samples(d.get("/metrics")[1])
            for name in ("daq_acquisition_frames_delivered_total", "daq_acquisition_frames_captured_total",
                         "daq_pool_hits_total"):
                before, after = value(a, name, device="cam0"), value(b, name, device="cam0")
                self.assertGreater(after, before, name)
                self.assertGreater(after - before, 100, name)  # ~200 FPS
            self.assertEqual(value(b, "daq_acquisition_frames_lost_total", device="cam0"), 0)
            self.assertEqual(value(b, "daq_acquisition_streaming", device="cam0"), 1)
            self.assertEqual(value(b, "daq_pool_use_pool", device="cam0"), 1)
            self.assertEqual(value(b, "daq_pool_hit_ratio", device="cam0"), 1.0)
            self.assertGreater(value(b, "daq_consumer_frames_delivered_total",
                                     device="cam0", consumer="stats"), 0)
            self.assertGreater(value(b, "process_resident_memory_bytes"), 1e6)
            self.assertGreater(value(b, "daq_uptime_seconds"), 1.0)
            count = value(b, "daq_pool_alloc_latency_seconds_count", device="cam0", path="pool")
            self.assertGreater(count, 0)
            status, body = d.get("/healthz")
            self.assertEqual((status, json.loads(body)["status"]), (200, "ok"))
            self.assertEqual(d.get("/nope")[0], 404)
        finally:
            d.signal(signal.SIGTERM)
        code, secs = d.wait(10)
        self.assertEqual(code, 0, d.log())
        self.assertLess(secs, 2.0)
        self.assertIn("acquisition stopped", d.log())  # the summary line
        self.assertIn("daqd stopped", d.log())

    def test_use_pool_env_shows_in_metrics(self):
        d = Daemon(DAQD, CONFIG, env={"PVCAM_USE_POOL": "0"}).start()
        try:
            time.sleep(0.5)
            s = samples(d.get("/metrics")[1])
            self.assertEqual(value(s, "daq_pool_use_pool", device="cam0"), 0)
            self.assertEqual(value(s, "daq_pool_hit_ratio", device="cam0"), 0)
            self.assertGreater(value(s, "daq_pool_heap_allocations_total", device="cam0",
                                     reason="disabled"), 0)
        finally:
            d.signal(signal.SIGINT)
        self.assertEqual(d.wait(10)[0], 0, d.log())

    def test_second_signal_exits_at_once(self):
        d = Daemon(DAQD, CONFIG).start()
        d.signal(signal.SIGTERM)
        d.signal(signal.SIGTERM)
        code, secs = d.wait(5)
        self.assertIn(code, (0, 1))  # 1 when the second one landed mid-shutdown
        self.assertLess(secs, 2.0)

    def test_metrics_port_in_use(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        try:
            d = Daemon(DAQD, CONFIG)
            args = [a for a in d.args]
            args[args.index("--metrics-port") + 1] = str(port)
            r = run(args, timeout=30)
        finally:
            s.close()
        self.assertEqual(r.returncode, 1)
        last = r.stderr.strip().splitlines()[-1]
        self.assertRegex(last, r"^daqd: metrics endpoint: 127\.0\.0\.1:%d: .*in use" % port)

    def test_metrics_port_from_env(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        d = Daemon(DAQD, CONFIG)
        i = d.args.index("--metrics-port")
        del d.args[i:i + 2]
        d.env["METRICS_PORT"] = str(port)
        d.start()
        try:
            self.assertEqual(d.metrics_port, port)
            self.assertEqual(d.get("/healthz")[0], 200)
        finally:
            d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(10)[0], 0)

    def test_bad_config_one_line(self):
        d = Daemon(DAQD, "[server]\nport = \"x\"\n")
        r = run(d.args, timeout=30)
        self.assertEqual(r.returncode, 1)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertRegex(lines[0], r"^daqd: .*test\.toml:2:8: server\.port: expected integer")

    def test_usage_errors(self):
        r = run([DAQD, "daemon"], timeout=10)
        self.assertEqual(r.returncode, 64)
        self.assertIn("--hardware-config", r.stderr)
        r = run([DAQD, "frobnicate"], timeout=10)
        self.assertEqual(r.returncode, 64)
        r = run([DAQD, "--version"], timeout=10)
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^daqd \d+\.\d+\.\d+")
        r = run([DAQD, "--help"], timeout=10)
        self.assertEqual(r.returncode, 0)
        self.assertIn("validate", r.stdout)


if __name__ == "__main__":
    DAQD = sys.argv.pop(1)
    unittest.main(verbosity=2)
