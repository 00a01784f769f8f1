#!/usr/bin/python3
"""Honest health (issue 12, deliverable 5) against a real daqd: /healthz and
grpc.health.v1 (Check and Watch) follow the devices.

* A camera that fails mid-stream (the sim's fault.fail_after): /healthz 503
  naming it with state "error" and the reason, daq.HardwareService, "" and
  daq.HardwareService/cam0 NOT_SERVING (Check, and a Watch opened before
  the failure receives the change), the summary logged at ERROR.  A new
  start without the fault brings everything back to 200 / SERVING.
* A camera absent at start (pvcam without its library): 503 naming it with
  state "absent" and why; the healthy camera's own service stays SERVING.

usage: test_health.py DAQD
"""
import json
import os
import queue
import signal
import sys
import threading
import time
import unittest

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python"))
from daq_client import Client, stubs  # noqa: E402
from daqd_harness import Daemon, wait_for  # noqa: E402

DAQD = None
SERVING, NOT_SERVING = 1, 2
FAIL_AFTER = 50  # frames: 0.5 s at 100 FPS

# Recovery off: this test is about the failure being reported and stays
# in it; test_recovery.py covers the device coming back.
SIM = """
[recovery]
enabled = false

[[devices]]
id = "cam0"
[devices.driver]
type = "sim"
width = 64
height = 64
frame_rate_hz = 100.0
exposure_ms = 1.0
"fault.fail_after" = %d
"""

ABSENT = """
[[devices]]
id = "cam1"
name = "Camera that is not there"
[devices.driver]
type = "pvcam"
library = "/nonexistent/libpvcam.so.2"
"""


class HealthBase(unittest.TestCase):
    config = ""

    def setUp(self):
        self.d = Daemon(DAQD, self.config).start()
        self.c = Client("127.0.0.1:%d" % self.d.grpc_port)
        self.h = stubs().health

    def tearDown(self):
        self.c.close()
        self.d.signal(signal.SIGTERM)
        code, _ = self.d.wait(15)
        self.assertEqual(code, 0, self.d.log())

    def check(self, service):
        return self.c.health.Check(self.h.HealthCheckRequest(service=service), timeout=5).status

    def healthz(self):
        status, body = self.d.get("/healthz")
        doc = json.loads(body)  # always JSON, whatever the status
        return status, doc

    def watch(self, service):
        """A Watch on service; its statuses arrive in the returned queue."""
        call = self.c.health.Watch(self.h.HealthCheckRequest(service=service))
        q = queue.Queue()

        def pump():
            try:
                for r in call:
                    q.put(r.status)
            except grpc.RpcError as e:
                q.put(e.code())

        threading.Thread(target=pump, daemon=True).start()
        return call, q

    def next_status(self, q, want, timeout=3.0):
        """Statuses until want arrives (or timeout); returns all seen."""
        seen = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                s = q.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            seen.append(s)
            if s == want:
                break
        return seen


class FailMidStream(HealthBase):
    config = SIM % FAIL_AFTER

    def test_failure_is_reported_everywhere(self):
        status, doc = self.healthz()
        self.assertEqual(status, 200, doc)
        self.assertEqual((doc["status"], doc["devices_up"], doc["devices_total"], doc["unhealthy"]),
                         ("ok", 1, 1, []))
        self.assertEqual(doc["devices"], [{"id": "cam0", "driver": "sim", "state": "idle",
                                           "healthy": True}])
        for s in ("", "daq.HardwareService", "daq.HardwareService/cam0", "daq.ControlService"):
            self.assertEqual(self.check(s), SERVING, s)
        calls = {}
        for s in ("", "daq.HardwareService", "daq.HardwareService/cam0"):
            calls[s] = self.watch(s)
            self.assertEqual(self.next_status(calls[s][1], SERVING), [SERVING], s)

        stream = self.c.frame_stream("cam0")
        end = queue.Queue()

        def drain():
            n = 0
            try:
                for _ in stream:
                    n += 1
                end.put((n, grpc.StatusCode.OK, ""))
            except grpc.RpcError as e:
                end.put((n, e.code(), e.details()))

        threading.Thread(target=drain, daemon=True).start()
        self.c.start_stream("cam0")
        frames, code, details = end.get(timeout=10)
        print("stream ended after %d frames with %s %r" % (frames, code, details))
        # the stream says why it ended: the camera failed, not a clean end
        self.assertEqual(code, grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(details, "cam0: camera wait failed: simulated readout failure after %d "
                         "frames" % FAIL_AFTER)

        # The engine's state is set right after the stream ends: poll briefly.
        status, doc = wait_for(lambda: (lambda r: r if r[0] == 503 else None)(self.healthz()),
                               timeout=3)
        self.assertEqual(status, 503, doc)
        self.assertEqual((doc["status"], doc["devices_up"], doc["unhealthy"]),
                         ("unhealthy", 1, ["cam0"]))
        dev = doc["devices"][0]
        self.assertEqual((dev["id"], dev["state"], dev["healthy"]), ("cam0", "error", False))
        self.assertEqual(dev["error"], "camera wait failed: simulated readout failure after %d "
                         "frames" % FAIL_AFTER)
        for s in ("", "daq.HardwareService", "daq.HardwareService/cam0"):
            self.assertEqual(self.check(s), NOT_SERVING, s)
            self.assertEqual(self.next_status(calls[s][1], NOT_SERVING), [NOT_SERVING], s)
        self.assertEqual(self.check("daq.ControlService"), SERVING)
        with self.assertRaises(grpc.RpcError) as e:
            self.check("daq.HardwareService/nope")
        self.assertEqual(e.exception.code(), grpc.StatusCode.NOT_FOUND)
        self.assertEqual(e.exception.details(), "Unknown service: daq.HardwareService/nope")

        lines = [l for l in self.d.log().splitlines() if "acquisition stopped by an error" in l]
        self.assertEqual(len(lines), 1, self.d.log())
        self.assertIn(" ERROR ", lines[0])
        self.assertIn('device="cam0"', lines[0])
        self.assertIn('error="camera wait failed: simulated readout failure', lines[0])

        # A start without the fault clears the error: healthy again, and the
        # watchers hear it.
        self.c.set("cam0", "fault.fail_after", 0)
        self.c.start_stream("cam0")
        status, doc = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(self.healthz()),
                               timeout=3)
        self.assertEqual(status, 200, doc)
        self.assertEqual(doc["devices"][0]["state"], "streaming")
        for s in ("", "daq.HardwareService", "daq.HardwareService/cam0"):
            self.assertEqual(self.check(s), SERVING, s)
            self.assertEqual(self.next_status(calls[s][1], SERVING), [SERVING], s)
            calls[s][0].cancel()
        self.c.stop_stream("cam0")
        stream.cancel()


class AbsentAtStart(HealthBase):
    config = SIM % 0 + ABSENT

    def test_absent_device_is_named(self):
        status, doc = self.healthz()
        self.assertEqual(status, 503, doc)
        self.assertEqual((doc["status"], doc["devices_up"], doc["devices_total"], doc["unhealthy"]),
                         ("unhealthy", 1, 2, ["cam1"]))
        cam0, cam1 = doc["devices"]
        self.assertEqual(cam0, {"id": "cam0", "driver": "sim", "state": "idle", "healthy": True})
        self.assertEqual((cam1["id"], cam1["driver"], cam1["state"], cam1["healthy"]),
                         ("cam1", "pvcam", "absent", False))
        self.assertTrue(cam1["error"].startswith(
            "pvcam: cannot load /nonexistent/libpvcam.so.2"), cam1["error"])
        self.assertEqual(self.check(""), NOT_SERVING)
        self.assertEqual(self.check("daq.HardwareService"), NOT_SERVING)
        self.assertEqual(self.check("daq.HardwareService/cam1"), NOT_SERVING)
        self.assertEqual(self.check("daq.HardwareService/cam0"), SERVING)
        self.assertEqual(self.check("daq.ControlService"), SERVING)
        call, q = self.watch("daq.HardwareService")
        self.assertEqual(self.next_status(q, NOT_SERVING), [NOT_SERVING])
        # Nothing changes: no second message within two poll periods.
        self.assertEqual(self.next_status(q, None, timeout=0.6), [])
        call.cancel()
        # The healthy camera works while the other is absent.
        self.c.start_stream("cam0")
        status, doc = self.healthz()
        self.assertEqual((status, doc["devices"][0]["state"]), (503, "streaming"))
        self.c.stop_stream("cam0")


if __name__ == "__main__":
    DAQD = sys.argv.pop(1)
    unittest.main(verbosity=2)
