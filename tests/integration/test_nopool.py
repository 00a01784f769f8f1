#!/usr/bin/python3
"""The -DDAQ_FRAME_POOL=OFF build (ADR 0008): the compile-time rollback.

Runs against a daqd built with the switch off: `validate --checkpoint
smoke` reports use_pool=false -- also when the environment asks for the
pool -- and every alloc-trace line says used_pool=false; a daemon streams
a sim camera with no frame loss, every frame a heap frame and no pool
series on /metrics; SetParameter acquisition.use_pool=true is refused with
the build's reason (not silently ignored); and it stops cleanly on SIGTERM.

usage: test_nopool.py DAQD
"""
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import unittest

from daqd_harness import Daemon, run, wait_for

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "clients", "python"))
import grpc  # noqa: E402
from daq_client import Client  # noqa: E402

DAQD = None

SMOKE_CONFIG = """
[[devices]]
id = "cam0"
[devices.driver]
type = "sim"
width = 512
height = 512
bit_depth = 16
frame_rate_hz = 100.0
ring_frames = 64
"""

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
"""


def metric(text, name, device="cam0"):
    m = re.search(r'^%s\{[^}]*device="%s"[^}]*\} (\S+)$' % (re.escape(name), device), text, re.M)
    return float(m.group(1)) if m else None


class NoPoolTest(unittest.TestCase):
    def validate(self, env):
        """The smoke checkpoint on a small sim (512x512 at 100 FPS: heap
        frames of 8 MiB cost ~5 ms of page faults each, which a loaded
        2-core runner cannot always afford at 100 FPS); the report and the
        run's stderr."""
        tmp = tempfile.mkdtemp(prefix="daqd-nopool-")
        try:
            config = os.path.join(tmp, "smoke.toml")
            with open(config, "w") as f:
                f.write(SMOKE_CONFIG)
            report = os.path.join(tmp, "report.json")
            e = {"DAQ_LOG": "info,pvcam_alloc_trace=debug"}
            e.update(env)
            r = run([DAQD, "validate", "--hardware-config", config, "--device", "cam0",
                     "--checkpoint", "smoke", "--report", report], env=e, timeout=120)
            self.assertTrue(os.path.exists(report), r.stdout + r.stderr)
            with open(report) as f:
                return r, json.load(f)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_validate_reports_used_pool_false(self):
        for env in ({}, {"DAQ_USE_POOL": "1", "PVCAM_USE_POOL": "1"}):
            r, rep = self.validate(env)
            out = r.stdout + r.stderr
            self.assertIn(r.returncode, (0, 1, 2), out)  # a verdict, not a crash
            self.assertIs(rep["use_pool"], False, env)
            self.assertIn("use_pool=false", r.stdout)
            self.assertEqual(rep["stats"]["delivered"], 200, out)
            self.assertEqual(rep["stats"]["lost"], 0, out)
            self.assertEqual(rep["stats"]["pool_hits"], 0)
            self.assertEqual(rep["stats"]["pool_slots"], 0)
            versions = rep.get("versions", {})
            if "frame_pool" in versions:
                self.assertIs(versions["frame_pool"], False)
            trace = [l for l in r.stderr.splitlines() if "pvcam_alloc_trace" in l]
            self.assertGreaterEqual(len(trace), 1, out)  # every trace_every frames
            for line in trace:
                self.assertIn("used_pool=false", line)
                self.assertIn("pool_hits=0", line)
            self.assertNotIn("used_pool=true", r.stderr)

    def test_daemon_streams_heap_frames(self):
        d = Daemon(DAQD, CONFIG).start()
        try:
            def delivered():
                v = metric(d.get("/metrics")[1], "daq_acquisition_frames_delivered_total")
                return v if v and v >= 200 else None
            self.assertTrue(wait_for(delivered, timeout=10), d.log())
            text = d.get("/metrics")[1]
            self.assertEqual(metric(text, "daq_acquisition_frames_lost_total"), 0)
            heap = metric(text, "daq_acquisition_heap_fallbacks_total")
            self.assertGreaterEqual(heap, 200)
            self.assertIsNone(metric(text, "daq_pool_use_pool"), "a pool series without a pool")
            self.assertIn("use_pool=false", d.log())
            with Client("127.0.0.1:%d" % d.grpc_port) as c:
                with self.assertRaises(grpc.RpcError) as e:
                    c.set("cam0", "acquisition.use_pool", True)
                self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
                self.assertEqual(e.exception.details(), "acquisition.use_pool: this daqd was "
                                 "built with -DDAQ_FRAME_POOL=OFF")
                self.assertIs(c.get("cam0", "acquisition.use_pool"), False)
            d.signal(signal.SIGTERM)
            code, _ = d.wait(15)
            self.assertEqual(code, 0, d.log())
            self.assertNotIn("ERROR", d.log())
        finally:
            d.kill()


if __name__ == "__main__":
    DAQD = sys.argv[1]
    unittest.main(argv=sys.argv[:1], verbosity=2)
