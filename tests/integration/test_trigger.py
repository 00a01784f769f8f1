#!/usr/bin/python3
"""tests/integration/test_trigger.py - Arm, Trigger and the trigger
parameters (ADR 0011) through gRPC against a real daqd with a sim camera.

Three daemons, each with one small sim camera (32 x 32, exposure 0.1 ms, so
a trigger's frame is made in well under a millisecond and 1000 triggers take
about a second):
  Software1000  1000 software triggers while a FULL StreamFrames stream
                reads: exactly 1000 frames, trigger_index 1..1000 in order,
                frame numbers equal to the indices; armed while streaming,
                disarmed by StopStream; the counters exact (sent = accepted
                = 1000, ignored 0), then a burst of 200 back to back, which
                the sim queues (1200 frames made, none lost).  Its own
                daemon, so the counters start at 0.
  Modes         the refusals and their contract texts (not armed, Arm in
                internal, Trigger in external_edge, an unknown mode),
                software_first (the first trigger starts a sequence, the
                second is IGNORED with its reason), frames_per_trigger 3,
                the parameters' descriptors and round trips.
  Clients       daq_client's arm() / trigger() and the CLI round trip; and
                a client whose stubs are built from rust-daq's messages only
                (docs/facts/grpc-camera-api.md §4: no daq extension fields),
                in a child process, since its daq.proto would clash with
                daq_client's in protobuf's global descriptor pool.

The frame stream is opened after Arm (Arm restarts the acquisition, which
ends earlier streams) and triggers wait for the daemon's "frame stream
opening" log line, written once the stream's subscription exists: a frame
made before it would never reach the stream.  The 1000 triggers go in lock
step with the stream (the next after the last frame arrived): a stream is
latest-only by design and may skip frames a burst outruns; the burst is
counted on the engine side instead.

usage: test_trigger.py DAQD [TestClass ...]
       test_trigger.py --rust-client ADDRESS     (the child; prints JSON)
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "clients", "python"))
sys.path.insert(0, HERE)
from daqd_harness import Daemon, run, wait_for  # noqa: E402

DAQD = None
PY = "/usr/bin/python3"
SIDE = 32
FPS = 500  # software_first's free-running sequence
MODES = ["internal", "software", "software_first", "external_edge", "external_first",
         "external_level"]
ARM_INTERNAL = ("cam0: trigger.mode is internal (free-running): set a trigger mode first "
                "(software, software_first, external_edge, external_first, external_level)")
NOT_ARMED = "cam0: not armed"
FROM_LINE = "cam0: trigger.mode is external_edge: triggers come from the line, not software"
IGNORED_FIRST = "cam0: trigger ignored: sequence already started"
BAD_MODE = ("trigger.mode: 'bogus' is not one of internal, software, software_first, "
            "external_edge, external_first, external_level")
FLAG_TRIGGER_EXTRA = 1 << 2
FRAME_WAIT_S = 2.0  # one triggered frame, made in < 1 ms, reaching the stream

CONFIG = """
[[devices]]
id = "cam0"
name = "Triggered sim camera"
autostart = false
[devices.driver]
type = "sim"
width = %d
height = %d
frame_rate_hz = %d.0
exposure_ms = 0.1

[[devices]]
id = "stage"
[devices.driver]
type = "mock_stage"

[server]
compression = "none"
""" % (SIDE, SIDE, FPS)


def metrics(d):
    """{(name, frozenset(labels)): value} of daqd's /metrics."""
    from prometheus_client.parser import text_string_to_metric_families
    out = {}
    for fam in text_string_to_metric_families(d.get("/metrics")[1]):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def trigger_counts(d, device="cam0"):
    """daq_trigger_total{device,result} as {"sent": n, "accepted": n, "ignored": n}."""
    m = metrics(d)
    return {r: int(m[("daq_trigger_total", frozenset({("device", device), ("result", r)}))])
            for r in ("sent", "accepted", "ignored")}


def armed_gauge(d, device="cam0"):
    return int(metrics(d)[("daq_trigger_armed", frozenset({("device", device)}))])


class Frames:
    """A StreamFrames call read on its own thread: (frame_number,
    trigger_index, frame_flags) per message, and a condition to wait on."""

    def __init__(self, call):
        self.call = call
        self.got = []
        self.code = None
        self.cv = threading.Condition()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        try:
            for m in self.call:
                with self.cv:
                    self.got.append((m.frame_number, m.trigger_index, m.frame_flags))
                    self.cv.notify_all()
            code = grpc.StatusCode.OK
        except grpc.RpcError as e:
            code = e.code()
        with self.cv:
            self.code = code
            self.cv.notify_all()

    def wait(self, n, timeout=FRAME_WAIT_S):
        """True once n messages arrived (False at the timeout)."""
        with self.cv:
            return self.cv.wait_for(lambda: len(self.got) >= n, timeout)

    def count(self):
        with self.cv:
            return len(self.got)

    def close(self):
        self.call.cancel()
        self.t.join(5)


class Base(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        sys.path.insert(0, CLIENT_DIR)
        from daq_client import Client
        cls.d = Daemon(DAQD, CONFIG).start()
        cls.addr = "127.0.0.1:%d" % cls.d.grpc_port
        cls.c = Client(cls.addr)
        cls.pb = cls.c.pb
        fields = cls.pb.FrameData.DESCRIPTOR.fields_by_name
        assert "trigger_index" in fields and fields["trigger_index"].number == 1000, \
            "proto/daq.proto's FrameData lacks trigger_index = 1000 (ADR 0011)"

    @classmethod
    def tearDownClass(cls):
        cls.c.close()
        cls.d.signal(signal.SIGTERM)
        code, _ = cls.d.wait(15)
        if code != 0:
            raise AssertionError("daqd exited %d\n%s" % (code, cls.d.log()))

    def tearDown(self):
        self.c.stop_stream("cam0")
        self.c.set("cam0", "trigger.mode", "internal")
        self.c.set("cam0", "trigger.frames_per_trigger", 1)

    def status(self, fn):
        """(code, details) of the gRPC error fn() raises."""
        with self.assertRaises(grpc.RpcError) as e:
            fn()
        return e.exception.code(), e.exception.details()

    def arm_and_stream(self, mode):
        """Sets mode, arms, opens a FULL stream and waits for its subscription."""
        self.assertEqual(self.c.set("cam0", "trigger.mode", mode), mode)
        opened = self.d.log().count("frame stream opening")
        self.assertTrue(self.c.arm("cam0"))
        f = Frames(self.c.frame_stream("cam0", quality="full"))
        self.addCleanup(f.close)
        self.assertTrue(wait_for(lambda: self.d.log().count("frame stream opening") > opened,
                                 5.0), "the frame stream did not open")
        return f


class Software1000(Base):
    def test_1000_software_triggers(self):
        self.assertEqual(trigger_counts(self.d), {"sent": 0, "accepted": 0, "ignored": 0})
        st = self.c.device_state("cam0")
        self.assertTrue(st.HasField("armed"))
        self.assertFalse(st.armed)
        f = self.arm_and_stream("software")
        self.assertTrue(self.c.device_state("cam0").armed)
        self.assertIs(self.c.get("cam0", "trigger.armed"), True)
        self.assertEqual(armed_gauge(self.d), 1)
        time.sleep(0.1)
        self.assertEqual(f.count(), 0, "frames without a trigger")
        t0 = time.monotonic()
        before = time.time_ns()
        for i in range(1, 1001):
            r = self.c.trigger("cam0")
            self.assertTrue(r.success, "trigger %d: %s" % (i, r.error_message))
            self.assertEqual(r.error_message, "")
            self.assertTrue(before <= r.trigger_timestamp_ns <= time.time_ns())
            self.assertTrue(f.wait(i), "trigger %d: no frame within %.1f s (got %d)"
                            % (i, FRAME_WAIT_S, f.count()))
        took = time.monotonic() - t0
        time.sleep(0.1)  # nothing beyond one frame per trigger
        self.assertEqual(f.count(), 1000)
        self.assertEqual([g[1] for g in f.got], list(range(1, 1001)))  # trigger_index
        self.assertEqual([g[0] for g in f.got], list(range(1, 1001)))  # frame_number
        self.assertEqual([g for g in f.got if g[2] & FLAG_TRIGGER_EXTRA], [])
        self.assertLess(took, 30.0)
        self.assertEqual(trigger_counts(self.d), {"sent": 1000, "accepted": 1000, "ignored": 0})

        # A burst: the sim queues triggers (none ignored), so every one makes
        # its frame; the stream may skip some (latest-only), the engine not.
        for i in range(200):
            self.assertTrue(self.c.trigger("cam0").success)
        self.assertEqual(trigger_counts(self.d), {"sent": 1200, "accepted": 1200, "ignored": 0})
        self.assertTrue(wait_for(lambda: f.count() and f.got[-1][1] == 1200, 5.0),
                        "the burst's last frame did not reach the stream")
        tail = f.got[1000:]
        self.assertEqual([g[0] for g in tail], [g[1] for g in tail])
        self.assertEqual(sorted(set(g[1] for g in tail)), [g[1] for g in tail])
        answered = frozenset({("device", "cam0"), ("outcome", "answered")})
        self.assertEqual(wait_for(lambda: metrics(self.d)[("daq_trigger_outcome_total",
                                                           answered)] == 1200, 5.0), True)
        self.assertEqual(self.c.stop_stream("cam0"), 1200)  # frames_captured
        self.assertFalse(self.c.device_state("cam0").armed)
        self.assertIs(self.c.get("cam0", "trigger.armed"), False)
        self.assertEqual(armed_gauge(self.d), 0)
        self.assertEqual(self.status(lambda: self.c.trigger("cam0")),
                         (grpc.StatusCode.FAILED_PRECONDITION, NOT_ARMED))
        print("1000 triggers in lock step with the stream: %.2f s" % took, file=sys.stderr)


class Modes(Base):
    def test_devices_and_lookup(self):
        devs = {d.id: d for d in self.c.list_devices()}
        self.assertTrue(devs["cam0"].is_triggerable)
        self.assertIn("triggerable", list(devs["cam0"].capabilities))
        self.assertEqual([d.id for d in self.c.list_devices("triggerable")], ["cam0"])
        for dev in ("nope", "stage"):
            want = (grpc.StatusCode.NOT_FOUND, "Device '%s' not found or not triggerable" % dev)
            self.assertEqual(self.status(lambda: self.c.arm(dev)), want)
            self.assertEqual(self.status(lambda: self.c.trigger(dev)), want)

    def test_not_armed(self):
        want = (grpc.StatusCode.FAILED_PRECONDITION, NOT_ARMED)
        self.assertEqual(self.status(lambda: self.c.trigger("cam0")), want)  # stopped, internal
        self.c.set("cam0", "trigger.mode", "software")
        self.assertEqual(self.status(lambda: self.c.trigger("cam0")), want)  # stopped, software
        self.c.set("cam0", "trigger.mode", "internal")
        self.assertTrue(self.c.start_stream("cam0").success)
        self.assertEqual(self.status(lambda: self.c.trigger("cam0")), want)  # free-running
        st = self.c.device_state("cam0")
        self.assertTrue(st.streaming)
        self.assertFalse(st.armed)

    def test_arm_internal(self):
        self.assertEqual(self.status(lambda: self.c.arm("cam0")),
                         (grpc.StatusCode.FAILED_PRECONDITION, ARM_INTERNAL))
        self.assertFalse(self.c.device_state("cam0").streaming)  # nothing was started

    def test_external_edge(self):
        f = self.arm_and_stream("external_edge")
        self.assertTrue(self.c.device_state("cam0").armed)
        c0 = trigger_counts(self.d)
        self.assertEqual(self.status(lambda: self.c.trigger("cam0")),
                         (grpc.StatusCode.FAILED_PRECONDITION, FROM_LINE))
        self.assertEqual(trigger_counts(self.d), c0)  # refused: not sent
        time.sleep(0.1)
        self.assertEqual(f.count(), 0)  # nobody pulses the line

    def test_unknown_mode_and_live_refusal(self):
        self.assertEqual(self.status(lambda: self.c.set("cam0", "trigger.mode", "bogus")),
                         (grpc.StatusCode.INVALID_ARGUMENT, BAD_MODE))
        self.assertEqual(self.c.get("cam0", "trigger.mode"), "internal")
        self.arm_and_stream("software")
        code, _ = self.status(lambda: self.c.set("cam0", "trigger.mode", "internal"))
        self.assertEqual(code, grpc.StatusCode.FAILED_PRECONDITION)  # not LIVE
        self.assertEqual(self.c.get("cam0", "trigger.mode"), "software")

    def test_software_first(self):
        f = self.arm_and_stream("software_first")
        c0 = trigger_counts(self.d)
        time.sleep(0.1)
        self.assertEqual(f.count(), 0, "a sequence before its trigger")
        r = self.c.trigger("cam0")
        self.assertTrue(r.success, r.error_message)
        self.assertTrue(f.wait(10), "no free-running sequence after the first trigger")
        r = self.c.trigger("cam0")
        self.assertFalse(r.success)
        self.assertEqual(r.error_message, IGNORED_FIRST)
        self.assertNotEqual(r.trigger_timestamp_ns, 0)
        n = f.count()
        self.assertTrue(f.wait(n + 10), "the sequence stopped at the ignored trigger")
        self.assertEqual(set(g[1] for g in f.got), {1})  # one sequence, trigger 1
        numbers = [g[0] for g in f.got]
        self.assertEqual(numbers, sorted(set(numbers)))
        c1 = trigger_counts(self.d)
        self.assertEqual({k: c1[k] - c0[k] for k in c1}, {"sent": 2, "accepted": 1, "ignored": 1})
        self.assertEqual(c1["sent"], c1["accepted"] + c1["ignored"])

    def test_frames_per_trigger(self):
        """3 frames per trigger.  They come back to back (0.1 ms exposure),
        faster than a latest-only stream needs to pass them on, so the
        stream may skip some but always gets each trigger's last one; the
        engine's count is exact."""
        self.assertEqual(self.c.set("cam0", "trigger.frames_per_trigger", 3), 3)
        f = self.arm_and_stream("software")
        c0 = metrics(self.d)
        answered = ("daq_trigger_outcome_total",
                    frozenset({("device", "cam0"), ("outcome", "answered")}))
        for i in range(1, 11):
            self.assertTrue(self.c.trigger("cam0").success)
            self.assertTrue(wait_for(lambda: f.count() and f.got[-1][0] == 3 * i, FRAME_WAIT_S),
                            "trigger %d: last frame %s" % (i, f.got[-1:]))
        self.assertEqual(wait_for(lambda: metrics(self.d)[answered] - c0[answered] == 10, 5.0),
                         True)
        time.sleep(0.1)
        self.assertEqual(f.got[-1][:2], (30, 10))
        self.assertEqual([g for g in f.got if g[1] != (g[0] - 1) // 3 + 1], [])
        self.assertEqual([g for g in f.got if g[2] & FLAG_TRIGGER_EXTRA], [])
        self.assertEqual(self.c.stop_stream("cam0"), 30)  # frames_captured: none lost

    def test_parameters(self):
        p = {x.name: x for x in self.c.parameters("cam0")}
        mode = p["trigger.mode"]
        self.assertEqual((mode.dtype, mode.writable, list(mode.enum_values)),
                         ("string", True, MODES))
        for name, lo, hi in (("trigger.frames_per_trigger", 1, 65535),
                             ("trigger.timeout_ms", 1, 3600000)):
            d = p[name]
            self.assertEqual((d.dtype, d.writable, d.min_value, d.max_value),
                             ("int", True, lo, hi), name)
        self.assertEqual((p["trigger.armed"].dtype, p["trigger.armed"].writable),
                         ("bool", False))
        self.assertEqual(self.c.get("cam0", "trigger.frames_per_trigger"), 1)
        self.assertEqual(self.c.get("cam0", "trigger.timeout_ms"), 1000)
        self.assertIs(self.c.get("cam0", "trigger.armed"), False)
        for name, value in (("trigger.frames_per_trigger", 7), ("trigger.timeout_ms", 250),
                            ("trigger.mode", "external_first")):
            self.assertEqual(self.c.set("cam0", name, value), value)
            self.assertEqual(self.c.get("cam0", name), value)
        self.c.set("cam0", "trigger.timeout_ms", 1000)
        for name, value in (("trigger.frames_per_trigger", 0),
                            ("trigger.frames_per_trigger", 65536),
                            ("trigger.timeout_ms", 0), ("trigger.armed", True)):
            code, _ = self.status(lambda: self.c.set("cam0", name, value))
            self.assertEqual(code, grpc.StatusCode.INVALID_ARGUMENT, (name, value))
        self.assertEqual(self.c.get("cam0", "trigger.frames_per_trigger"), 7)


class Clients(Base):
    def cli(self, *args):
        return run([PY, "-m", "daq_client", "--address", self.addr, *args],
                   env={"PYTHONPATH": CLIENT_DIR}, timeout=60)

    def test_cli_round_trip(self):
        r = self.cli("trigger", "cam0")
        self.assertEqual((r.returncode, r.stdout, r.stderr),
                         (1, "", "daq_client: FAILED_PRECONDITION: %s\n" % NOT_ARMED))
        r = self.cli("arm", "cam0")
        self.assertEqual((r.returncode, r.stderr),
                         (1, "daq_client: FAILED_PRECONDITION: %s\n" % ARM_INTERNAL))
        self.assertEqual(self.cli("set", "cam0", "trigger.mode", "software").stdout,
                         '"software"\n')
        r = self.cli("arm", "cam0")
        self.assertEqual((r.returncode, r.stdout), (0, "cam0: armed\n"), r.stderr)
        self.assertIs(json.loads(self.cli("state", "cam0").stdout)["armed"], True)
        r = self.cli("trigger", "cam0", "-n", "3")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 3)
        for line in lines:
            self.assertRegex(line, r"^cam0: triggered at \d{19}$")
        self.assertEqual(self.cli("stop", "cam0").stdout, "cam0: stopped after 3 frames\n")
        self.assertEqual(self.cli("set", "cam0", "trigger.mode", "software_first").returncode, 0)
        self.assertEqual(self.cli("arm", "cam0").returncode, 0)
        r = self.cli("trigger", "cam0", "-n", "2")
        self.assertEqual(r.returncode, 1)  # one was ignored
        lines = r.stdout.splitlines()
        self.assertRegex(lines[0], r"^cam0: triggered at \d{19}$")
        self.assertEqual(lines[1:], [IGNORED_FIRST])

    def test_python_client(self):
        from daq_client import Frame
        self.assertEqual(Frame._fields[-1], "trigger_index")
        self.assertEqual(self.c.set("cam0", "trigger.mode", "software"), "software")
        self.assertIs(self.c.arm("cam0"), True)
        got = []
        opened = self.d.log().count("frame stream opening")

        def read():
            for fr in self.c.frames("cam0", max_frames=5):
                got.append(fr)

        t = threading.Thread(target=read, daemon=True)
        t.start()
        self.assertTrue(wait_for(lambda: self.d.log().count("frame stream opening") > opened))
        for i in range(1, 6):
            r = self.c.trigger("cam0")
            self.assertTrue(r.success, r.error_message)
            self.assertTrue(wait_for(lambda: len(got) >= i, FRAME_WAIT_S), "trigger %d" % i)
        t.join(10)
        self.assertFalse(t.is_alive())
        self.assertEqual([(f.number, f.trigger_index) for f in got], [(i, i) for i in range(1, 6)])
        self.assertEqual(got[0].pixels.shape, (SIDE, SIDE))

    def test_rust_daq_stubs(self):
        """Arm, Trigger, the parameters and the frames through stubs built
        from rust-daq's messages alone: daq's extensions must not disturb a
        rust-daq client."""
        r = run([PY, os.path.abspath(__file__), "--rust-client", self.addr], timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        got = json.loads(r.stdout)
        self.assertEqual(got.pop("sent"), got["last_frame_number"])
        self.assertGreaterEqual(got.pop("frames"), 20)
        self.assertEqual(got, {
            "trigger_stopped": ["FAILED_PRECONDITION", NOT_ARMED],
            "arm_internal": ["FAILED_PRECONDITION", ARM_INTERNAL],
            "set_mode": [True, '"software"'],
            "get_mode": '"software"',
            "arm": [True, True, ""],
            "armed": [True, True],
            "lockstep": True,
            "unknown_fields": True,
            "trigger_mode": ["software"],  # FrameData.trigger_mode (23) when not internal
            "last_frame_number": got["last_frame_number"],
            "stop": True,
            "armed_after_stop": [True, False],
            "enum_values": MODES,
        })


# ---- the child: stubs from rust-daq's messages (docs/facts/grpc-camera-api.md §4) ------

RUST_DAQ_PROTO = """
syntax = "proto3";
package daq;

service HardwareService {
  rpc GetDeviceState(DeviceStateRequest) returns (DeviceStateResponse);
  rpc Arm(ArmRequest) returns (ArmResponse);
  rpc Trigger(TriggerRequest) returns (TriggerResponse);
  rpc StopStream(StopStreamRequest) returns (StopStreamResponse);
  rpc StreamFrames(StreamFramesRequest) returns (stream FrameData);
  rpc ListParameters(ListParametersRequest) returns (ListParametersResponse);
  rpc GetParameter(GetParameterRequest) returns (ParameterValue);
  rpc SetParameter(SetParameterRequest) returns (SetParameterResponse);
}

message DeviceStateRequest { string device_id = 1; }
message DeviceStateResponse {
  string device_id = 1;
  bool online = 2;
  optional double position = 10;
  optional double last_reading = 11;
  optional bool armed = 12;
  optional bool streaming = 13;
  optional double exposure_ms = 14;
}
message ArmRequest { string device_id = 1; }
message ArmResponse { bool success = 1; string error_message = 2; bool armed = 3; }
message TriggerRequest { string device_id = 1; }
message TriggerResponse {
  bool success = 1;
  string error_message = 2;
  uint64 trigger_timestamp_ns = 3;
}
message StopStreamRequest { string device_id = 1; }
message StopStreamResponse { bool success = 1; uint64 frames_captured = 2; }
enum StreamQuality {
  STREAM_QUALITY_FULL = 0;
  STREAM_QUALITY_PREVIEW = 1;
  STREAM_QUALITY_FAST = 2;
}
message StreamFramesRequest { string device_id = 1; uint32 max_fps = 2; StreamQuality quality = 3; }
enum CompressionType { COMPRESSION_NONE = 0; COMPRESSION_LZ4 = 1; }
message StreamingMetrics {
  double current_fps = 1;
  uint64 frames_sent = 2;
  uint64 frames_dropped = 3;
  double avg_latency_ms = 4;
}
message FrameData {
  string device_id = 1;
  uint32 width = 2;
  uint32 height = 3;
  uint32 bit_depth = 4;
  bytes data = 5;
  uint64 frame_number = 6;
  uint64 timestamp_ns = 7;
  optional double exposure_ms = 8;
  uint32 roi_x = 10;
  uint32 roi_y = 11;
  optional double temperature_c = 20;
  optional string gain_mode = 21;
  optional string readout_speed = 22;
  optional string trigger_mode = 23;
  optional uint32 binning_x = 24;
  optional uint32 binning_y = 25;
  map<string, string> metadata = 30;
  optional StreamingMetrics metrics = 40;
  CompressionType compression = 50;
  uint32 uncompressed_size = 51;
}
message ListParametersRequest { string device_id = 1; }
message ListParametersResponse { repeated ParameterDescriptor parameters = 1; }
message ParameterDescriptor {
  string device_id = 1;
  string name = 2;
  string description = 3;
  string dtype = 4;
  string units = 5;
  bool readable = 6;
  bool writable = 7;
  optional double min_value = 10;
  optional double max_value = 11;
  repeated string enum_values = 12;
}
message GetParameterRequest { string device_id = 1; string parameter_name = 2; }
message ParameterValue {
  string device_id = 1;
  string name = 2;
  string value = 3;
  string units = 4;
  uint64 timestamp_ns = 5;
}
message SetParameterRequest { string device_id = 1; string parameter_name = 2; string value = 3; }
message SetParameterResponse { bool success = 1; string error_message = 2; string actual_value = 3; }
"""


def rust_client(addr):
    """What a rust-daq client sees, as JSON on stdout (the parent asserts)."""
    out = tempfile.mkdtemp(prefix="rust-daq-stubs-")
    try:
        with open(os.path.join(out, "daq.proto"), "w") as f:
            f.write(RUST_DAQ_PROTO)
        plugin = shutil.which("grpc_python_plugin")
        subprocess.run(["protoc", "-I", out, "--python_out=" + out, "--grpc_python_out=" + out,
                        "--plugin=protoc-gen-grpc_python=" + plugin, "daq.proto"], check=True)
        sys.path.insert(0, out)
        import daq_pb2 as pb
        import daq_pb2_grpc as pbg
    finally:
        shutil.rmtree(out, ignore_errors=True)
    ch = grpc.insecure_channel(addr)
    hw = pbg.HardwareServiceStub(ch)
    T = 10
    got = {}

    def err(fn):
        try:
            fn()
        except grpc.RpcError as e:
            return [e.code().name, e.details()]
        return None

    def state():
        s = hw.GetDeviceState(pb.DeviceStateRequest(device_id="cam0"), timeout=T)
        return [s.HasField("armed"), s.armed]

    trig = pb.TriggerRequest(device_id="cam0")
    got["trigger_stopped"] = err(lambda: hw.Trigger(trig, timeout=T))
    got["arm_internal"] = err(lambda: hw.Arm(pb.ArmRequest(device_id="cam0"), timeout=T))
    p = {d.name: d for d in hw.ListParameters(pb.ListParametersRequest(device_id="cam0"),
                                              timeout=T).parameters}
    got["enum_values"] = list(p["trigger.mode"].enum_values)
    s = hw.SetParameter(pb.SetParameterRequest(device_id="cam0", parameter_name="trigger.mode",
                                               value='"software"'), timeout=T)
    got["set_mode"] = [s.success, s.actual_value]
    got["get_mode"] = hw.GetParameter(pb.GetParameterRequest(
        device_id="cam0", parameter_name="trigger.mode"), timeout=T).value
    a = hw.Arm(pb.ArmRequest(device_id="cam0"), timeout=T)
    got["arm"] = [a.success, a.armed, a.error_message]
    got["armed"] = state()

    # The stream's subscription is not visible from here: trigger until the
    # first frame arrives, then in lock step.
    frames, cv = [], threading.Condition()
    call = hw.StreamFrames(pb.StreamFramesRequest(device_id="cam0"))

    def read():
        try:
            for m in call:
                with cv:
                    frames.append(m)
                    cv.notify_all()
        except grpc.RpcError:
            pass

    t = threading.Thread(target=read, daemon=True)
    t.start()
    sent = 0
    lockstep = True
    for _ in range(50):
        sent += hw.Trigger(trig, timeout=T).success
        with cv:
            if cv.wait_for(lambda: frames, 0.2):
                break
    for _ in range(20):
        n = len(frames)
        sent += hw.Trigger(trig, timeout=T).success
        with cv:
            lockstep &= cv.wait_for(lambda: len(frames) > n, 2.0)
    got["sent"] = sent
    got["frames"] = len(frames)
    got["lockstep"] = lockstep
    got["last_frame_number"] = frames[-1].frame_number if frames else None
    # daq's fields 1000.. arrive as unknown fields the rust-daq stubs skip
    got["unknown_fields"] = all(m.width == SIDE and m.height == SIDE and
                                len(m.data) == SIDE * SIDE * 2 for m in frames)
    got["trigger_mode"] = sorted(set(m.trigger_mode if m.HasField("trigger_mode") else ""
                                     for m in frames))
    got["stop"] = hw.StopStream(pb.StopStreamRequest(device_id="cam0"), timeout=T).success
    call.cancel()
    t.join(5)
    got["armed_after_stop"] = state()
    hw.SetParameter(pb.SetParameterRequest(device_id="cam0", parameter_name="trigger.mode",
                                           value='"internal"'), timeout=T)
    ch.close()
    print(json.dumps(got))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--rust-client":
        rust_client(sys.argv[2])
        sys.exit(0)
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    DAQD = sys.argv.pop(1)
    unittest.main(verbosity=2)
