#!/usr/bin/python3
"""daqd's gRPC camera API against a real daemon, with Debian's grpcio and
stubs generated at test time from proto/ (clients/python/daq_client).

usage: test_grpc.py DAQD
"""
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
import unittest

import grpc
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python"))
from daq_client import Client, mean_downsample, sim_pattern, stubs  # noqa: E402
from daqd_harness import Daemon  # noqa: E402

DAQD = None


def config(compression="lz4", fps=100, side=512, autostart=False):
    return """
[[devices]]
id = "cam0"
name = "Simulated camera"
autostart = %s
[devices.driver]
type = "sim"
width = %d
height = %d
frame_rate_hz = %d.0
exposure_ms = 2.0

[[devices]]
id = "stage"
[devices.driver]
type = "mock_stage"

[server]
compression = "%s"
""" % ("true" if autostart else "false", side, side, fps, compression)


def metric(d, name, **labels):
    text = d.get("/metrics")[1]
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    raise KeyError(name)


class GrpcBase(unittest.TestCase):
    compression = "lz4"
    fps = 100
    side = 512

    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(DAQD, config(cls.compression, cls.fps, cls.side)).start()
        cls.addr = "127.0.0.1:%d" % cls.d.grpc_port
        cls.c = Client(cls.addr)

    @classmethod
    def tearDownClass(cls):
        cls.c.close()
        cls.d.signal(signal.SIGTERM)
        code, secs = cls.d.wait(15)
        if code != 0:
            raise AssertionError("daqd exited %d (leak or crash?)\n%s" % (code, cls.d.log()))

    def tearDown(self):
        try:
            self.c.stop_stream("cam0")
        except grpc.RpcError:
            pass


class Unary(GrpcBase):
    def test_daemon_info(self):
        info = self.c.daemon_info()
        self.assertRegex(info.version, r"^\d+\.\d+\.\d+")
        self.assertIn("sim", list(info.available_hardware))
        self.assertGreaterEqual(info.uptime_seconds, 0)

    def test_list_devices(self):
        devs = self.c.list_devices()
        self.assertEqual([d.id for d in devs], ["cam0"])  # the stage is not a camera
        d = devs[0]
        self.assertEqual(d.driver_type, "sim")
        self.assertEqual(d.category, 1)
        self.assertTrue(d.is_frame_producer)
        self.assertTrue(d.is_exposure_controllable)
        self.assertTrue(d.HasField("metadata"))
        self.assertEqual((d.metadata.frame_width, d.metadata.frame_height,
                          d.metadata.bits_per_pixel), (self.side, self.side, 16))
        self.assertTrue(d.metadata.HasField("min_exposure_ms"))
        self.assertIn("frame_producer", list(d.capabilities))
        self.assertEqual(len(self.c.list_devices("FrameProducer")), 1)
        self.assertEqual(len(self.c.list_devices("movable")), 0)
        with self.assertRaises(grpc.RpcError) as e:
            self.c.list_devices("teleport")
        self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("Unknown capability", e.exception.details())

    def test_device_state_and_exposure(self):
        st = self.c.device_state("cam0")
        self.assertTrue(st.online)
        self.assertTrue(st.HasField("streaming"))
        self.assertFalse(st.streaming)
        self.assertEqual(self.c.set_exposure("cam0", 7.5), 7.5)
        self.assertEqual(self.c.exposure("cam0"), 7.5)
        self.assertEqual(self.c.device_state("cam0").exposure_ms, 7.5)
        with self.assertRaises(grpc.RpcError) as e:
            self.c.set_exposure("cam0", 1e9)
        self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertEqual(self.c.exposure("cam0"), 7.5)  # unchanged

    def test_unknown_device(self):
        for call in (lambda: self.c.device_state("nope"), lambda: self.c.exposure("nope"),
                     lambda: self.c.start_stream("nope"), lambda: self.c.parameters("nope"),
                     lambda: self.c.get("nope", "width")):
            with self.assertRaises(grpc.RpcError) as e:
                call()
            self.assertEqual(e.exception.code(), grpc.StatusCode.NOT_FOUND)

    def test_parameters(self):
        params = {p.name: p for p in self.c.parameters("cam0")}
        self.assertIn("exposure_ms", params)
        self.assertIn("acquisition.use_pool", params)
        self.assertTrue(params["acquisition.use_pool"].writable)
        self.assertFalse(params["acquisition.pool_slots"].writable)
        self.assertEqual(params["timing"].dtype, "string")
        self.assertIn("instant", list(params["timing"].enum_values))
        self.assertTrue(params["exposure_ms"].HasField("max_value"))
        self.assertEqual(self.c.set("cam0", "exposure_ms", 3.25), 3.25)
        self.assertEqual(self.c.get("cam0", "exposure_ms"), 3.25)
        self.assertEqual(self.c.set("cam0", "timing", "chaos"), "chaos")
        self.assertEqual(self.c.set("cam0", "timing", "realistic"), "realistic")
        self.assertEqual(self.c.get("cam0", "acquisition.use_pool"), True)
        self.assertEqual(self.c.get("cam0", "acquisition.exhaustion_policy"), "heap")
        # rust-daq accepts a bare string as a JSON string
        pb = stubs().daq
        r = self.c.hw.SetParameter(pb.SetParameterRequest(
            device_id="cam0", parameter_name="timing", value="realistic"))
        self.assertTrue(r.success)
        self.assertEqual(json.loads(r.actual_value), "realistic")
        for name, value, code in (("exposure_ms", "1e9", "INVALID_ARGUMENT"),
                                  ("exposure_ms", "\"fast\"", "INVALID_ARGUMENT"),
                                  ("timing", "\"sometimes\"", "INVALID_ARGUMENT"),
                                  ("acquisition.pool_slots", "4", "INVALID_ARGUMENT"),
                                  ("no_such_thing", "1", "NOT_FOUND")):
            with self.assertRaises(grpc.RpcError, msg=name) as e:
                self.c.hw.SetParameter(pb.SetParameterRequest(
                    device_id="cam0", parameter_name=name, value=value))
            self.assertEqual(e.exception.code().name, code, name)
            self.assertTrue(e.exception.details(), name)

    def test_parameter_changes_stream(self):
        pb = stubs().daq
        call = self.c.hw.StreamParameterChanges(pb.StreamParameterChangesRequest(
            device_id="cam0", parameter_names=["exposure_ms"]))
        got = []

        def read():
            for ch in call:
                got.append(ch)
                break
        t = threading.Thread(target=read)
        t.start()
        time.sleep(0.3)
        self.c.set("cam0", "timing", "chaos")  # filtered out
        self.c.set("cam0", "exposure_ms", 4.5)
        t.join(10)
        call.cancel()
        self.c.set("cam0", "timing", "realistic")
        self.assertEqual(len(got), 1)
        self.assertEqual((got[0].name, json.loads(got[0].new_value), got[0].source),
                         ("exposure_ms", 4.5, "user"))

    def test_health(self):
        h = stubs().health
        r = self.c.health.Check(h.HealthCheckRequest(service=""), timeout=5)
        self.assertEqual(r.status, 1)
        r = self.c.health.Check(h.HealthCheckRequest(service="daq.HardwareService"), timeout=5)
        self.assertEqual(r.status, 1)
        with self.assertRaises(grpc.RpcError) as e:
            self.c.health.Check(h.HealthCheckRequest(service="nope"), timeout=5)
        self.assertEqual(e.exception.code(), grpc.StatusCode.NOT_FOUND)

    def test_unknown_method_and_garbage(self):
        t0 = time.monotonic()
        with self.assertRaises(grpc.RpcError) as e:
            self.c.channel.unary_unary("/daq.HardwareService/MoveAbsolute")(b"", timeout=5)
        self.assertEqual(e.exception.code(), grpc.StatusCode.UNIMPLEMENTED)
        self.assertLess(time.monotonic() - t0, 1.0)
        with self.assertRaises(grpc.RpcError) as e:
            self.c.channel.unary_stream("/daq.HardwareService/SubscribeDeviceState")(
                b"", timeout=5).__next__()
        self.assertEqual(e.exception.code(), grpc.StatusCode.UNIMPLEMENTED)
        for path in ("/daq.HardwareService/ListDevices", "/daq.HardwareService/GetParameter",
                     "/daq.ControlService/GetDaemonInfo"):
            with self.assertRaises(grpc.RpcError, msg=path) as e:
                self.c.channel.unary_unary(path)(b"\xff\xff\xff\xff\x0f\x0a\x99", timeout=5)
            self.assertNotEqual(e.exception.code(), grpc.StatusCode.OK)
        with self.assertRaises(grpc.RpcError) as e:
            next(self.c.channel.unary_stream("/daq.HardwareService/StreamFrames")(
                b"\x0a\xff\xff", timeout=5))
        self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertEqual(self.c.list_devices()[0].id, "cam0")  # still serving


class Streaming(GrpcBase):
    def check_full(self, frames):
        for f in frames:
            want = sim_pattern(f.width, f.height, f.number)
            self.assertTrue(np.array_equal(f.pixels, want), "frame %d differs" % f.number)

    def test_full_frames_verified_and_frame_count(self):
        got = []
        ready = threading.Event()

        def reader():
            call = self.c.frame_stream("cam0")
            ready.set()
            for msg in call:  # ends when the 50-frame acquisition ends
                got.append(msg)
        t = threading.Thread(target=reader)
        t.start()
        ready.wait(5)
        time.sleep(0.3)
        r = self.c.start_stream("cam0", frame_count=50)
        self.assertTrue(r.success)
        t.join(30)
        self.assertFalse(t.is_alive(), "the stream did not end with the acquisition")
        self.assertGreater(len(got), 10)
        self.assertLessEqual(len(got), 50)
        self.assertEqual(got[-1].frame_number, 50)  # the producer stopped after 50
        self.assertEqual(self.c.stop_stream("cam0"), 50)
        from daq_client import decode_pixels
        compression = {m.compression for m in got}
        self.assertEqual(compression, {1 if self.compression == "lz4" else 0})
        for m in got:
            self.assertEqual(m.uncompressed_size, self.side * self.side * 2)
            self.assertTrue(m.HasField("metrics"))
            px = decode_pixels(m)
            self.assertTrue(np.array_equal(px, sim_pattern(m.width, m.height, m.frame_number)))
        nums = [m.frame_number for m in got]
        self.assertEqual(nums, sorted(nums))

    def test_preview_and_fast_match_numpy(self):
        self.c.start_stream("cam0")
        for quality, factor in (("preview", 2), ("fast", 4)):
            frames = list(self.c.frames("cam0", quality=quality, max_frames=3))
            self.assertEqual(len(frames), 3)
            for f in frames:
                self.assertEqual((f.width, f.height), (self.side // factor, self.side // factor))
                ref = mean_downsample(sim_pattern(self.side, self.side, f.number), factor)
                self.assertTrue(np.array_equal(f.pixels, ref), quality)
        self.c.stop_stream("cam0")

    def test_start_stream_is_idempotent(self):
        self.assertEqual(self.c.start_stream("cam0").error_message, "")
        r = self.c.start_stream("cam0")
        self.assertTrue(r.success)
        self.assertEqual(r.error_message, "Already streaming")
        self.assertTrue(self.c.device_state("cam0").streaming)
        time.sleep(0.5)
        self.assertGreater(self.c.stop_stream("cam0"), 10)
        self.assertFalse(self.c.device_state("cam0").streaming)


class RawStreaming(Streaming):
    compression = "none"


class Rollback(GrpcBase):
    fps = 200
    side = 256

    def test_use_pool_toggle_mid_stream(self):
        d = self.d
        self.c.start_stream("cam0")
        frames = []
        stop = threading.Event()

        def reader():
            for f in self.c.frames("cam0"):
                frames.append(f.number)
                if stop.is_set():
                    break
        t = threading.Thread(target=reader)
        t.start()
        time.sleep(1.0)
        hits0 = metric(d, "daq_pool_hits_total", device="cam0")
        self.assertEqual(self.c.set("cam0", "acquisition.use_pool", False), False)
        time.sleep(1.0)
        heap1 = metric(d, "daq_pool_heap_allocations_total", device="cam0", reason="disabled")
        self.assertGreater(heap1, 100)  # ~200 FPS on the heap
        self.assertEqual(metric(d, "daq_pool_use_pool", device="cam0"), 0)
        self.assertEqual(self.c.set("cam0", "acquisition.use_pool", True), True)
        hits1 = metric(d, "daq_pool_hits_total", device="cam0")
        time.sleep(1.0)
        self.assertGreater(metric(d, "daq_pool_hits_total", device="cam0"), hits1 + 100)
        self.assertLess(metric(d, "daq_pool_heap_allocations_total", device="cam0",
                               reason="disabled"), heap1 + 10)
        stop.set()
        t.join(10)
        self.assertEqual(metric(d, "daq_acquisition_frames_lost_total", device="cam0"), 0)
        self.assertGreater(hits0, 0)
        self.assertGreater(len(frames), 100)
        self.c.stop_stream("cam0")


def stalled_client(addr, ready):
    """A client process that opens a stream and is then killed."""
    sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python"))
    from daq_client import Client as C
    c = C(addr)
    for i, _ in enumerate(c.frame_stream("cam0")):
        if i == 3:
            ready.set()
            time.sleep(60)


class Backpressure(GrpcBase):
    fps = 100
    side = 512

    def test_three_streams_one_stalled(self):
        d = self.d
        self.c.start_stream("cam0")
        counts = {10: 0, 30: 0}
        stop = threading.Event()

        def reader(fps):
            with Client(self.addr) as c:
                for _ in c.frames("cam0", max_fps=fps):
                    counts[fps] += 1
                    if stop.is_set():
                        break
        stalled = self.c.frame_stream("cam0", max_fps=0)
        first = next(stalled)  # then this client stops reading for 10 s
        self.assertGreater(first.frame_number, 0)
        threads = [threading.Thread(target=reader, args=(f,)) for f in counts]
        for t in threads:
            t.start()
        time.sleep(1.0)
        # a fourth stream from the same client host is refused (max 3); asked
        # now, while the stalled one is within [limits] stall_timeout_ms (10 s)
        with self.assertRaises(grpc.RpcError) as e:
            next(self.c.frame_stream("cam0"))
        self.assertEqual(e.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        del0 = metric(d, "daq_acquisition_frames_delivered_total", device="cam0")
        c0 = dict(counts)
        time.sleep(10.0)
        del1 = metric(d, "daq_acquisition_frames_delivered_total", device="cam0")
        c1 = dict(counts)
        rate = (del1 - del0) / 10.0
        self.assertGreater(rate, 85, "acquisition slowed to %.1f FPS" % rate)
        self.assertGreater((c1[10] - c0[10]) / 10.0, 7, counts)
        self.assertGreater((c1[30] - c0[30]) / 10.0, 20, counts)
        self.assertLessEqual((c1[10] - c0[10]) / 10.0, 11, counts)
        self.assertEqual(metric(d, "daq_pool_misses_total", device="cam0"), 0)
        self.assertEqual(metric(d, "daq_acquisition_frames_lost_total", device="cam0"), 0)
        stalled.cancel()
        stop.set()
        for t in threads:
            t.join(10)

    def test_cancel_and_killed_client(self):
        self.c.start_stream("cam0")
        call = self.c.frame_stream("cam0")
        next(call)
        call.cancel()
        ctx = multiprocessing.get_context("spawn")
        ready = ctx.Event()
        p = ctx.Process(target=stalled_client, args=(self.addr, ready))
        p.start()
        self.assertTrue(ready.wait(20))
        os.kill(p.pid, signal.SIGKILL)
        p.join()
        deadline = time.time() + 10
        while time.time() < deadline:
            streams = [s for s in text_string_to_metric_families(self.d.get("/metrics")[1])
                       if s.name == "daq_consumer_info"]
            if not any(smp.labels["consumer"].startswith("grpc:")
                       for fam in streams for smp in fam.samples):
                break
            time.sleep(0.2)
        else:
            self.fail("stream subscriptions not released after cancel and kill")
        frames = list(self.c.frames("cam0", max_frames=5))  # still serving
        self.assertEqual(len(frames), 5)
        self.c.stop_stream("cam0")


if __name__ == "__main__":
    DAQD = sys.argv.pop(1)
    unittest.main(verbosity=2)
