#!/usr/bin/python3
"""The pvcam driver inside a real daqd, against the fake libpvcam of
tests/fake_pvcam (which renders the sim pattern, so frames are verified
pixel for pixel): a gRPC StreamFrames stream, `daqd validate --checkpoint
smoke`, and a daemon whose pvcam device points at a missing library but
keeps serving its sim device.

usage: test_pvcam_daemon.py DAQD FAKE_LIBPVCAM
"""
import os
import signal
import sys
import tempfile
import threading
import time
import unittest

import grpc
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python"))
from daq_client import Client, decode_pixels, sim_pattern  # noqa: E402
from daqd_harness import Daemon, run, wait_for  # noqa: E402

DAQD = None
FAKE = None
# Sanitizer builds stream smaller frames (as the C tests do).
SIDE = int(os.environ.get("DAQ_TEST_FRAME_SIDE", "2048"))


def pvcam_config(library, fps_ms=10.0, autostart=False):
    return """
[[devices]]
id = "pv0"
name = "Fake Photometrics camera"
autostart = %s
[devices.driver]
type = "pvcam"
library = "%s"
camera_name = "pvcamUSB_0"
exposure_ms = %.1f
buffer_mode = "no_overwrite"
test_pattern = "sim"
""" % ("true" if autostart else "false", library, fps_ms)


def fake_env():
    return {"FAKE_PVCAM_WIDTH": str(SIDE), "FAKE_PVCAM_HEIGHT": str(SIDE)}


class PvcamStream(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(DAQD, pvcam_config(FAKE), env=fake_env(), name="pvcam").start()
        cls.c = Client("127.0.0.1:%d" % cls.d.grpc_port)

    @classmethod
    def tearDownClass(cls):
        cls.c.close()
        cls.d.signal(signal.SIGTERM)
        code, _ = cls.d.wait(20)
        if code != 0:
            raise AssertionError("daqd exited %d\n%s" % (code, cls.d.log()))

    def test_listed_with_driver_type(self):
        devs = {d.id: d for d in self.c.list_devices()}
        self.assertIn("pv0", devs, self.d.log())
        self.assertEqual(devs["pv0"].driver_type, "pvcam")
        self.assertEqual(self.c.get("pv0", "sensor_width"), SIDE)
        self.assertEqual(self.c.get("pv0", "camera_name"), "pvcamUSB_0")

    def test_stream_frames_verified(self):
        got = []
        ready = threading.Event()

        def reader():
            call = self.c.frame_stream("pv0")
            ready.set()
            for msg in call:  # ends when the acquisition's 60 frames are done
                got.append(msg)
        t = threading.Thread(target=reader)
        t.start()
        ready.wait(5)
        time.sleep(0.3)
        t0 = time.monotonic()
        self.assertTrue(self.c.start_stream("pv0", frame_count=60).success)
        t.join(60)
        secs = time.monotonic() - t0
        self.assertFalse(t.is_alive(), "the stream did not end with the acquisition")
        self.assertGreater(len(got), 10, self.d.log())
        self.assertEqual(got[-1].frame_number, 60)
        for m in got:
            self.assertEqual((m.width, m.height, m.bit_depth), (SIDE, SIDE, 16))
            px = decode_pixels(m)
            self.assertTrue(np.array_equal(px, sim_pattern(SIDE, SIDE, m.frame_number)),
                            "frame %d differs from the fake's pattern" % m.frame_number)
        numbers = [m.frame_number for m in got]
        self.assertEqual(numbers, sorted(set(numbers)))
        print("pvcam via gRPC: %d of 60 frames received and verified in %.2f s"
              % (len(got), secs), file=sys.stderr)
        self.assertEqual(self.c.stop_stream("pv0"), 60)


class PvcamValidate(unittest.TestCase):
    def test_smoke_passes(self):
        dirn = tempfile.mkdtemp(prefix="pvcam-validate-")
        cfg = os.path.join(dirn, "pvcam.toml")
        with open(cfg, "w") as f:
            f.write(pvcam_config(FAKE))
        report = os.path.join(dirn, "report.json")
        r = run([DAQD, "validate", "--hardware-config", cfg, "--device", "pv0",
                 "--checkpoint", "smoke", "--report", report], env=fake_env(), timeout=180)
        print(r.stdout, file=sys.stderr)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout.strip().splitlines()[-1], "PASS")
        import json
        with open(report) as f:
            rep = json.load(f)
        c = {x["name"]: x for x in rep["criteria"]}
        # the pixels were checked, through the driver's verify op
        self.assertIn("corrupt frames", c)
        self.assertTrue(c["corrupt frames"]["pass"])
        self.assertEqual(c["lost frames"]["measured"], 0)


class PvcamTrigger(unittest.TestCase):
    """Triggers through the daemon (issue 15): software mode set in the
    config before the camera opens, Arm and Trigger round-trip the fake's
    pl_exp_trigger; a camera that turns out not to have the configured mode
    is refused at Arm with FAILED_PRECONDITION naming what it has."""

    CONFIG = pvcam_config("%s").replace('test_pattern = "sim"', 'test_pattern = "sim"\n'
                                        '"trigger.mode" = "software"')

    def daemon(self, modes):
        env = dict(fake_env(), FAKE_PVCAM_WIDTH="64", FAKE_PVCAM_HEIGHT="64",
                   FAKE_PVCAM_EXPOSURE_MODES=modes)
        d = Daemon(DAQD, self.CONFIG % FAKE, env=env, name="pvtrig").start()
        self.addCleanup(lambda: (d.signal(signal.SIGTERM), d.wait(20)))
        c = Client("127.0.0.1:%d" % d.grpc_port)
        self.addCleanup(c.close)
        return d, c

    def test_software_trigger_round_trip(self):
        d, c = self.daemon("1792,3072")
        self.assertEqual(c.get("pv0", "trigger.mode"), "software")
        self.assertTrue(c.arm("pv0"), d.log())
        self.assertIs(c.get("pv0", "trigger.armed"), True)
        for _ in range(3):
            self.assertTrue(c.trigger("pv0").success, d.log())

        def answered():
            _, text = d.get("/metrics")
            line = 'daq_trigger_outcome_total{device="pv0",outcome="answered"} '
            return next((float(x[len(line):]) for x in text.splitlines()
                         if x.startswith(line)), None) == 3
        self.assertTrue(wait_for(answered), d.log())

    def test_mode_the_camera_lacks_refused_at_arm(self):
        d, c = self.daemon("1792,2304")
        with self.assertRaises(grpc.RpcError) as cm:
            c.arm("pv0")
        self.assertEqual(cm.exception.code(), grpc.StatusCode.FAILED_PRECONDITION)
        self.assertEqual(cm.exception.details(),
                         "trigger.mode: camera 'pv0' (pvcam) has no mode 'software'; it has: "
                         "internal, external_edge")


class MissingLibrary(unittest.TestCase):
    CONFIG = """
[[devices]]
id = "pv0"
[devices.driver]
type = "pvcam"
library = "/nonexistent/libpvcam.so.2"

[[devices]]
id = "sim0"
[devices.driver]
type = "sim"
width = 256
height = 256
frame_rate_hz = 100.0
"""

    def test_pvcam_failure_reported_sim_served(self):
        d = Daemon(DAQD, self.CONFIG, name="missing").start()
        try:
            c = Client("127.0.0.1:%d" % d.grpc_port)
            resp = c.hw.ListDevices(c.pb.ListDevicesRequest(), timeout=10)
            ids = [x.id for x in resp.devices]
            self.assertIn("sim0", ids)
            self.assertNotIn("pv0", ids)
            fails = {f.device_id: f for f in resp.registration_failures}
            self.assertIn("pv0", fails, d.log())
            err = fails["pv0"].error
            self.assertIn("cannot load /nonexistent/libpvcam.so.2", err)
            self.assertNotIn("\n", err)
            self.assertEqual(fails["pv0"].driver_type, "pvcam")
            # the log has it on one line too
            lines = [l for l in d.log().splitlines() if "device unavailable" in l]
            self.assertTrue(any("pv0" in l and "cannot load" in l for l in lines), d.log())
            # the sim device streams
            self.assertTrue(c.start_stream("sim0", frame_count=20).success)
            got = list(c.frames("sim0", max_frames=3))
            self.assertEqual(len(got), 3)
            for f in got:
                self.assertTrue(np.array_equal(f.pixels, sim_pattern(256, 256, f.number)))
            c.close()
        finally:
            d.signal(signal.SIGTERM)
            code, _ = d.wait(20)
        self.assertEqual(code, 0, d.log())


if __name__ == "__main__":
    DAQD = os.path.abspath(sys.argv.pop(1))
    FAKE = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
