#!/usr/bin/python3
"""Devices come back (issue 12, deliverable 6) against a real daqd: the
recovery thread retries a device that is down or whose stream failed, with
exponential backoff, and resumes its stream.

The camera goes away and comes back through the sim's test hook: with
DAQ_TEST_SIM_OFF_DIR set, sim camera <id> is switched off while the file
DIR/<id> exists (open and start fail, a running readout fails at once).

* MidStream: a client's stream runs, the camera is switched off: the open
  StreamFrames ends UNAVAILABLE with the reason, /healthz is 503 naming it
  with a "recovery" object, attempts fail while it is off, their delays
  double up to max_ms (from the log's timestamps, loose bounds); switched
  on, the device streams again by itself: a new StreamFrames gets frames,
  GetDeviceState says streaming, /healthz 200, the recovery counters and
  the downtime moved and the missed frames are estimated.
* AbsentAtStart: switched off when daqd starts (the only device: daqd
  stays up to wait for it), in ListDevices' registration failures; switched
  on, it comes up and, being autostart, streams; ListDevices lists it.
* LibraryAppears: a pvcam camera whose library is missing at start (the
  fake libpvcam is copied into place later) comes up through the real
  driver's dlopen.
* Disabled: [recovery] enabled = false keeps the old behaviour: never
  retried.

usage: test_recovery.py DAQD FAKE_LIBPVCAM
"""
import json
import os
import queue
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import unittest
from datetime import datetime

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python"))
from daq_client import Client, stubs  # noqa: E402
from daqd_harness import Daemon, wait_for  # noqa: E402

DAQD = None
FAKE = None
INITIAL_MS, MAX_MS = 200, 800
SERVING, NOT_SERVING = 1, 2

RECOVERY = """
[recovery]
initial_ms = %d
max_ms = %d
""" % (INITIAL_MS, MAX_MS)

SIM = """
[[devices]]
id = "cam0"
autostart = %s
[devices.driver]
type = "sim"
width = 64
height = 64
frame_rate_hz = 100.0
exposure_ms = 1.0
"""


def log_time(line):
    """The timestamp of a log line, in seconds."""
    stamp = line.split()[0].rstrip("Z")
    return datetime.fromisoformat(stamp).timestamp()


def fields(line):
    return {k: v.strip('"') for k, v in re.findall(r'(\w+)=("[^"]*"|\S+)', line)}


def metric(text, series):
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    raise AssertionError("no series %s in the exposition" % series)


class Base(unittest.TestCase):
    config = ""
    env = None

    def setUp(self):
        self.off_dir = tempfile.mkdtemp(prefix="daq-off-")
        self.off = os.path.join(self.off_dir, "cam0")
        self.before_start()
        env = {"DAQ_TEST_SIM_OFF_DIR": self.off_dir}
        env.update(self.env or {})
        self.d = Daemon(DAQD, self.config, env=env, name="recovery").start()
        self.c = Client("127.0.0.1:%d" % self.d.grpc_port)

    def before_start(self):
        pass

    def tearDown(self):
        self.c.close()
        self.d.signal(signal.SIGTERM)
        code, took = self.d.wait(15)
        self.assertEqual(code, 0, self.d.log())
        self.assertLess(took, 2.0, "SIGTERM took %.2f s" % took)
        shutil.rmtree(self.off_dir, ignore_errors=True)

    def switch(self, on):
        if on:
            os.unlink(self.off)
        else:
            open(self.off, "w").close()

    def healthz(self):
        status, body = self.d.get("/healthz")
        return status, json.loads(body)

    def grpc_health(self, service):
        req = stubs().health.HealthCheckRequest(service=service)
        return self.c.health.Check(req, timeout=5).status

    def lines(self, what):
        return [l for l in self.d.log().splitlines() if what in l]

    def frames(self, n, timeout=5.0):
        """n frames from a new StreamFrames (raises on a short stream)."""
        got = []
        call = self.c.frame_stream("cam0")
        timer = threading.Timer(timeout, call.cancel)
        timer.start()
        try:
            for msg in call:
                got.append(msg.frame_number)
                if len(got) >= n:
                    break
        finally:
            timer.cancel()
            call.cancel()
        self.assertEqual(len(got), n, "frames after recovery: %r\n%s" % (got, self.d.log()))
        return got


class MidStream(Base):
    config = RECOVERY + SIM % "false"

    def test_failed_camera_comes_back_and_streams(self):
        stream = self.c.frame_stream("cam0")
        end = queue.Queue()

        def drain():
            n = 0
            try:
                for _ in stream:
                    n += 1
                    if n == 20:
                        end.put("running")
                end.put((n, grpc.StatusCode.OK, ""))
            except grpc.RpcError as e:
                end.put((n, e.code(), e.details()))

        threading.Thread(target=drain, daemon=True).start()
        self.assertTrue(self.c.start_stream("cam0").success)
        self.assertEqual(end.get(timeout=10), "running")

        t_off = time.monotonic()
        self.switch(on=False)
        frames, code, details = end.get(timeout=10)
        self.assertEqual(code, grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(details, "cam0: camera wait failed: simulated readout failure "
                         "(camera switched off)")

        # While it is off: 503 naming it, recovering, attempts failing.
        status, doc = wait_for(lambda: (lambda r: r if r[1]["devices"][0].get("recovery", {})
                                        .get("attempts", 0) >= 1 else None)(self.healthz()),
                               timeout=5)
        self.assertEqual(status, 503, doc)
        self.assertEqual(doc["unhealthy"], ["cam0"])
        dev = doc["devices"][0]
        self.assertEqual((dev["state"], dev["healthy"]), ("error", False))
        self.assertFalse(dev["recovery"]["gave_up"])
        self.assertFalse(self.c.device_state("cam0").streaming)
        self.assertEqual(self.grpc_health("daq.HardwareService/cam0"), NOT_SERVING)
        # Let the backoff reach max_ms: attempts at 0.2, 0.6, 1.4, 2.2 s.
        time.sleep(max(0.0, 2.5 - (time.monotonic() - t_off)))

        t_on = time.monotonic()
        self.switch(on=True)
        status, doc = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(self.healthz()),
                               timeout=5)
        back_s = time.monotonic() - t_on
        self.assertEqual(status, 200, doc)
        self.assertTrue(wait_for(lambda: self.c.device_state("cam0").streaming, timeout=3),
                        self.d.log())
        self.assertEqual(self.grpc_health("daq.HardwareService/cam0"), SERVING)
        nums = self.frames(5)
        self.assertEqual(nums, sorted(nums))
        print("mid-run: back %.2f s after the camera came on (next attempt due within "
              "max_ms %d ms); frames %r" % (back_s, MAX_MS, nums))
        self.assertLess(back_s, MAX_MS / 1000.0 + 2.0)

        # The log: one outage, failed attempts with doubling delays, one recovery.
        down = self.lines("device down: recovery will retry")
        failed = self.lines("device recovery failed")
        back = self.lines("device recovered")
        self.assertEqual(len(down), 1, self.d.log())
        self.assertIn(" WARN ", down[0])
        self.assertEqual(fields(down[0])["cause"],
                         "camera wait failed: simulated readout failure (camera switched off)")
        self.assertGreaterEqual(len(failed), 3, self.d.log())
        for i, l in enumerate(failed):
            f = fields(l)
            self.assertIn(" WARN ", l)
            self.assertEqual(int(f["attempt"]), i + 1)
            self.assertEqual(f["error"], "sim: camera 'cam0' is switched off (test: %s exists)"
                             % self.off)
        announced = [int(fields(l)["retry_in_ms"]) for l in down + failed]
        expect = [min(MAX_MS, INITIAL_MS * 2 ** k) for k in range(len(announced))]
        self.assertEqual(announced, expect)
        times = [log_time(l) for l in down + failed + back]
        gaps = [b - a for a, b in zip(times, times[1:])]
        print("announced delays (ms) %r, measured gaps (s) %s" % (
            announced, ["%.3f" % g for g in gaps]))
        for want_ms, gap in zip(announced, gaps):
            self.assertGreaterEqual(gap, want_ms / 1000.0 * 0.9)
            self.assertLess(gap, want_ms / 1000.0 + 0.5)
        self.assertEqual(len(back), 1, self.d.log())
        f = fields(back[0])
        self.assertEqual((f["device"], f["streaming"], int(f["attempt"])),
                         ("cam0", "true", len(failed) + 1))

        # Counted: one recovery, the failures, the downtime, the frames missed
        # (about 100 FPS x the outage of ~2.5 s).
        _, text = self.d.get("/metrics")
        m = lambda s: metric(text, s)  # noqa: E731
        self.assertEqual(m('daq_device_recoveries_total{device="cam0",outcome="recovered"}'), 1)
        self.assertEqual(m('daq_device_recoveries_total{device="cam0",outcome="failed"}'),
                         len(failed))
        self.assertEqual(m('daq_device_outages_total{device="cam0"}'), 1)
        self.assertEqual(m('daq_device_recovering{device="cam0"}'), 0)
        self.assertEqual(m('daq_device_recovery_attempts{device="cam0"}'), 0)
        downtime = m('daq_device_downtime_seconds_total{device="cam0"}')
        missed = m('daq_device_frames_missed_total{device="cam0"}')
        print("downtime %.2f s, frames missed (estimate) %d" % (downtime, missed))
        self.assertGreater(downtime, 2.0)
        self.assertLess(downtime, 10.0)
        self.assertGreater(missed, 50 * downtime)
        self.assertLess(missed, 150 * downtime)
        self.assertEqual(m('daq_acquisition_streaming{device="cam0"}'), 1)
        self.assertEqual(m('daq_acquisition_streams_started_total{device="cam0"}'), 2)
        stream.cancel()


class AbsentAtStart(Base):
    config = RECOVERY + SIM % "true"

    def before_start(self):
        self.switch(on=False)

    def test_absent_device_comes_up_and_autostarts(self):
        status, doc = self.healthz()
        self.assertEqual(status, 503, doc)
        dev = doc["devices"][0]
        self.assertEqual((dev["id"], dev["state"]), ("cam0", "absent"))
        self.assertEqual(dev["error"], "sim: camera 'cam0' is switched off (test: %s exists)"
                         % self.off)
        resp = self.c.hw.ListDevices(self.c.pb.ListDevicesRequest(), timeout=5)
        self.assertEqual([f.device_id for f in resp.registration_failures], ["cam0"])
        self.assertEqual(list(resp.devices), [])
        self.assertFalse(self.c.device_state("cam0").online)
        wait_for(lambda: len(self.lines("device recovery failed")) >= 2, timeout=5)

        t_on = time.monotonic()
        self.switch(on=True)
        status, doc = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(self.healthz()),
                               timeout=5)
        back_s = time.monotonic() - t_on
        self.assertEqual(status, 200, doc)
        print("absent at start: up %.2f s after the camera came on (before this change: "
              "never)" % back_s)
        resp = self.c.hw.ListDevices(self.c.pb.ListDevicesRequest(), timeout=5)
        self.assertEqual([d.id for d in resp.devices], ["cam0"])
        self.assertEqual(list(resp.registration_failures), [])
        st = wait_for(lambda: (lambda s: s if s.streaming else None)(self.c.device_state("cam0")),
                      timeout=3)
        self.assertTrue(st and st.online and st.streaming, self.d.log())
        self.frames(3)
        self.assertEqual(len(self.lines("device recovered")), 1, self.d.log())


class LibraryAppears(Base):
    env = {"FAKE_PVCAM_WIDTH": "64", "FAKE_PVCAM_HEIGHT": "64"}

    def before_start(self):
        self.lib = os.path.join(self.off_dir, "libpvcam.so.2")
        self.config = RECOVERY + """
[[devices]]
id = "pv0"
[devices.driver]
type = "pvcam"
library = "%s"
camera_name = "pvcamUSB_0"
""" % self.lib

    def test_missing_library_installed_later(self):
        status, doc = self.healthz()
        self.assertEqual((status, doc["devices"][0]["state"]), (503, "absent"))
        wait_for(lambda: self.lines("device recovery failed"), timeout=5)
        shutil.copy(FAKE, self.lib)
        status, doc = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(self.healthz()),
                               timeout=5)
        self.assertEqual(status, 200, doc)
        # not autostart: up and idle
        self.assertEqual(doc["devices"][0]["state"], "idle")
        st = self.c.device_state("pv0")
        self.assertEqual((st.online, st.streaming), (True, False))
        self.assertTrue(self.c.start_stream("pv0", frame_count=5).success)


class Disabled(Base):
    config = "[recovery]\nenabled = false\n" + SIM % "true" + """
[[devices]]
id = "cam1"
[devices.driver]
type = "sim"
"""

    def before_start(self):
        self.switch(on=False)

    def test_never_retried(self):
        self.switch(on=True)
        time.sleep(1.0)
        status, doc = self.healthz()
        self.assertEqual((status, doc["devices"][0]["state"]), (503, "absent"))
        self.assertNotIn("recovery", doc["devices"][0])
        self.assertEqual(self.lines("daq::recovery"), [])


if __name__ == "__main__":
    DAQD = sys.argv.pop(1)
    FAKE = sys.argv.pop(1)
    unittest.main(verbosity=2)
