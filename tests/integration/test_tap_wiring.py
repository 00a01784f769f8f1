#!/usr/bin/python3
"""tests/integration/test_tap_wiring.py - the zero-copy tap as the daemon
wires it (issue 16, ADR 0012): [tap] in the config, the socket, rust-daq's
GetRingBufferTapInfo, the consumers ListDevices and the live view show, and
the tap's metrics -- against real daqd processes on loopback.

The tap's own protocol (leases, revocation, SO_PEERCRED, the readers) is
tests/unit/test_tap_server.c's and the acceptance tests'; here one reader
is a plain socket sending one HELLO (struct.pack, daq/tap_proto.h) and
reading its WELCOME, enough to be listed.  Stubs are generated from
proto/daq.proto with protoc (as test_storage_grpc.py does); a client that
knows only rust-daq's fields still parses ListDevices.  Six daemons with a
32 x 32 sim camera at 100 FPS, and a few that refuse to start: about 2 s.

usage: test_tap_wiring.py DAQD [TestClass ...]
"""
import json
import os
import shutil
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import unittest

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO = os.path.join(HERE, "..", "..", "proto")
sys.path.insert(0, HERE)
from daqd_harness import Daemon, run, wait_for  # noqa: E402

DAQD = None
TAP_MAGIC = 0x50415444          # DAQ_TAP_MAGIC
TAP_VERSION = 1
HELLO, WELCOME = 1, 2
HELLO_FMT = "<IHH64sIIIIdII"    # daq_tap_hello, 104 bytes
WELCOME_FMT = "<IHHQ64sIIIIII16s"  # daq_tap_welcome, 120 bytes
TAP_OFF = "tap: not enabled ([tap] enabled = true in the config)"


sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python"))
import daq_client  # noqa: E402

_stubs = daq_client.stubs(proto_dir=PROTO)
pb, pbg = _stubs.daq, _stubs.daq_grpc


def config(tap=None, autostart=True):
    text = """
[[devices]]
id = "cam0"
autostart = %s
[devices.driver]
type = "sim"
width = 32
height = 32
frame_rate_hz = 100.0
exposure_ms = 0.1
""" % ("true" if autostart else "false")
    if tap is not None:
        text += "\n[tap]\n" + tap
    return text


def rust_daq_list_devices():
    """ListDevicesResponse as a client that knows only rust-daq's fields
    sees it: DeviceInfo without daq's consumers (1000), in a descriptor pool
    of its own (daq.proto's messages are in the default one)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    f = descriptor_pb2.FileDescriptorProto(name="rust_daq_min.proto", package="rustdaq",
                                           syntax="proto3")
    T = descriptor_pb2.FieldDescriptorProto
    info = f.message_type.add(name="DeviceInfo")
    info.field.add(name="id", number=1, type=T.TYPE_STRING, label=T.LABEL_OPTIONAL)
    info.field.add(name="capabilities", number=100, type=T.TYPE_STRING, label=T.LABEL_REPEATED)
    resp = f.message_type.add(name="ListDevicesResponse")
    resp.field.add(name="devices", number=1, type=T.TYPE_MESSAGE, label=T.LABEL_REPEATED,
                   type_name=".rustdaq.DeviceInfo")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.MessageFactory(pool).GetPrototype(
        pool.FindMessageTypeByName("rustdaq.ListDevicesResponse"))


def hello(device=b"cam0", lease_cap=2):
    return struct.pack(HELLO_FMT, TAP_MAGIC, TAP_VERSION, HELLO, device, lease_cap, 0, 0, 0, 0.0,
                       0, 0)


class DaemonCase(unittest.TestCase):
    """One daemon per test; its gRPC channel and stubs."""
    TAP = None
    ENV = None

    def start(self, tap, env=None, autostart=True, unset=()):
        self.d = Daemon(DAQD, config(tap, autostart), env=env)
        for k in unset:
            self.d.env.pop(k, None)
        self.addCleanup(self.d.kill)
        self.d.start()
        self.ch = grpc.insecure_channel("127.0.0.1:%d" % self.d.grpc_port)
        self.addCleanup(self.ch.close)
        self.hw = pbg.HardwareServiceStub(self.ch)
        self.storage = pbg.StorageServiceStub(self.ch)

    def consumers(self):
        """{name: ConsumerInfo} of cam0 from ListDevices."""
        r = self.hw.ListDevices(pb.ListDevicesRequest(), timeout=5)
        self.assertEqual([d.id for d in r.devices], ["cam0"])
        return {c.name: c for c in r.devices[0].consumers}

    def view_consumers(self):
        code, body = self.d.get("/api/view/cam0/status")
        self.assertEqual(code, 200, body)
        return {c["name"]: c for c in json.loads(body)["consumers"]}

    def metric(self, name):
        """The value of an unlabelled sample, or None when absent."""
        code, body = self.d.get("/metrics")
        self.assertEqual(code, 200)
        for line in body.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None


class TapOn(DaemonCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="daq-tap-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.path = os.path.join(self.dir, "run", "tap.sock")  # its directory is made
        # lease_timeout_ms = 0: a reader that never releases keeps its leases
        # however slow the machine (no revocation after 5 s)
        self.start('enabled = true\npath = "%s"\nmode = 0o660\nlease_timeout_ms = 0\n'
                   % self.path)

    def test_ready_line_socket_and_tap_info(self):
        self.assertEqual(self.d.fields.get("tap"), '"%s"' % self.path)
        st = os.stat(self.path)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)
        # the camera streams (autostart): its pool is in the answer
        self.assertTrue(wait_for(lambda: self.storage.GetRingBufferTapInfo(
            pb.GetRingBufferTapInfoRequest(), timeout=5).capacity_bytes > 0))
        info = self.storage.GetRingBufferTapInfo(pb.GetRingBufferTapInfoRequest(), timeout=5)
        self.assertEqual(info.file_path, self.path)
        self.assertEqual(info.data_format, "daq-slots-v1")
        self.assertEqual(info.magic, TAP_MAGIC)
        self.assertEqual(info.header_size, 64)
        self.assertEqual(info.stream_id, "cam0")
        headers = info.total_size_bytes - info.capacity_bytes
        self.assertGreater(headers, 0)  # the slot headers' memfd: whole pages
        self.assertEqual(headers % 4096, 0)
        self.assertEqual((info.write_head, info.read_tail, info.write_epoch), (0, 0, 0))
        self.assertFalse(info.HasField("arrow_schema_json"))

    def test_stream_and_reader_listed_as_consumers(self):
        self.assertEqual(self.metric("daq_tap_readers"), 0)
        # a gRPC stream: listed while it runs
        call = self.hw.StreamFrames(pb.StreamFramesRequest(device_id="cam0"), timeout=20)
        self.addCleanup(call.cancel)
        next(call)
        cons = self.consumers()
        grpc_names = [n for n in cons if n.startswith("grpc:127.0.0.1#")]
        self.assertEqual(len(grpc_names), 1, sorted(cons))
        c = cons[grpc_names[0]]
        self.assertEqual((c.policy, c.queue_depth), ("latest", 1))
        self.assertTrue(wait_for(lambda: self.consumers()[grpc_names[0]].delivered > 0))
        self.assertIn(grpc_names[0], self.view_consumers())
        # a tap reader: one HELLO on a plain socket
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.addCleanup(s.close)
        s.settimeout(5)
        s.connect(self.path)
        s.send(hello(lease_cap=2))
        w = struct.unpack(WELCOME_FMT, s.recv(512)[:120])
        self.assertEqual(w[:3], (TAP_MAGIC, TAP_VERSION, WELCOME))
        self.assertEqual(w[4].rstrip(b"\0"), b"cam0")
        self.assertEqual(w[5], 2)  # the lease cap granted
        name = "tap:%d:%d" % (w[3], os.getpid())
        self.assertTrue(wait_for(lambda: name in self.consumers()), sorted(self.consumers()))
        c = self.consumers()[name]
        self.assertEqual((c.policy, c.queue_depth, c.queued), ("drop-newest", 2, 0))
        v = self.view_consumers()[name]
        self.assertEqual(v["policy"], "drop-newest")
        self.assertEqual(sorted(v), ["delivered", "dropped", "name", "policy"])
        self.assertEqual(self.metric("daq_tap_readers"), 1)
        # rust-daq's clients skip the extension as an unknown field
        raw = self.ch.unary_unary("/daq.HardwareService/ListDevices")(b"", timeout=5)
        old = rust_daq_list_devices().FromString(raw)
        self.assertEqual([d.id for d in old.devices], ["cam0"])
        self.assertIn("frame_producer", old.devices[0].capabilities)
        self.assertGreater(len(pb.ListDevicesResponse.FromString(raw).devices[0].consumers), 1)
        # gone with its socket
        s.close()
        self.assertTrue(wait_for(lambda: name not in self.consumers()))
        self.assertTrue(wait_for(lambda: self.metric("daq_tap_readers") == 0))
        self.assertIn(grpc_names[0], self.consumers())

    def test_stop_with_a_reader_holding_leases(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.addCleanup(s.close)
        s.settimeout(5)
        s.connect(self.path)
        s.send(hello(lease_cap=2))
        w = struct.unpack(WELCOME_FMT, s.recv(512)[:120])
        self.assertEqual(w[2], WELCOME)
        name = "tap:%d:%d" % (w[3], os.getpid())
        # frames reach it and it never releases them: it holds its 2 leases
        # and loses the rest (drop-newest), while the daemon stops
        self.assertTrue(wait_for(lambda: self.consumers()[name].dropped > 0))
        self.assertEqual(self.consumers()[name].delivered, 2)
        self.d.signal()
        code, _ = self.d.wait(15)
        self.assertEqual(code, 0, self.d.log())
        self.assertFalse(os.path.exists(self.path))

    def test_socket_removed_at_stop(self):
        self.d.signal()
        code, _ = self.d.wait(15)
        self.assertEqual(code, 0, self.d.log())
        self.assertFalse(os.path.exists(self.path))


class TapDefaultPath(DaemonCase):
    def test_default_path_names_the_bound_grpc_port(self):
        rt = tempfile.mkdtemp(prefix="daq-tap-rt-")
        self.addCleanup(shutil.rmtree, rt, True)
        self.start("enabled = true\n", env={"XDG_RUNTIME_DIR": rt}, autostart=False,
                   unset=("RUNTIME_DIRECTORY",))
        path = os.path.join(rt, "daq", "tap-%d.sock" % self.d.grpc_port)
        self.assertEqual(self.d.fields.get("tap"), '"%s"' % path)
        self.assertTrue(stat.S_ISSOCK(os.stat(path).st_mode))
        info = self.storage.GetRingBufferTapInfo(pb.GetRingBufferTapInfoRequest(), timeout=5)
        self.assertEqual(info.file_path, path)
        # not streaming: no pool to describe
        self.assertEqual((info.stream_id, info.capacity_bytes, info.total_size_bytes),
                         ("cam0", 0, 0))


class TapOff(DaemonCase):
    def test_off_by_default(self):
        self.start(None)
        self.assertNotIn("tap", self.d.fields)
        with self.assertRaises(grpc.RpcError) as e:
            self.storage.GetRingBufferTapInfo(pb.GetRingBufferTapInfoRequest(), timeout=5)
        self.assertEqual(e.exception.code(), grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(e.exception.details(), TAP_OFF)
        code, body = self.d.get("/metrics")
        self.assertNotIn("daq_tap_", body)
        # consumers are listed with the tap off too
        call = self.hw.StreamFrames(pb.StreamFramesRequest(device_id="cam0"), timeout=20)
        self.addCleanup(call.cancel)
        next(call)
        self.assertEqual([n for n in self.consumers() if n.startswith("grpc:")],
                         ["grpc:127.0.0.1#1"])


class TapConfigErrors(unittest.TestCase):
    def check(self, tap, where_msg):
        d = tempfile.mkdtemp(prefix="daq-tap-bad-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "hw.toml")
        with open(path, "w") as f:
            f.write(config(tap))
        want = "%s:%s" % (path, where_msg)
        r = run([DAQD, "check-config", path])
        self.assertEqual((r.returncode, r.stderr.strip()), (1, want))
        r = run([DAQD, "daemon", "--hardware-config", path, "--port", "0", "--metrics-port", "0"])
        self.assertEqual((r.returncode, r.stderr.strip()), (1, "daqd: " + want))

    def test_bad_keys_name_file_line_col(self):
        # [tap] is line 12 of config(): its second key is on line 14
        self.check("enabled = true\nmax_readers = 0\n",
                   "14:15: tap.max_readers: 0 is out of range [1, 64]")
        self.check("enabled = true\nreaders = 2\n", "14:1: tap.readers: unknown key")
        self.check("max_lease_cap = 2\nlease_cap = 3\n",
                   "14:13: tap.lease_cap: 3 is more than tap.max_lease_cap (2)")
        self.check('path = "/%s"\n' % ("x" * 107),
                   "13:8: tap.path: string too long (at most 107 bytes) or contains NUL")

    def test_socket_failure_is_fatal(self):
        d = tempfile.mkdtemp(prefix="daq-tap-bad-")
        self.addCleanup(shutil.rmtree, d, True)
        blocker = os.path.join(d, "file")
        open(blocker, "w").close()
        daemon = Daemon(DAQD, config('enabled = true\npath = "%s/tap.sock"\n' % blocker))
        self.addCleanup(daemon.kill)
        daemon.proc = subprocess.Popen(daemon.args, stderr=subprocess.PIPE,
                                       stdout=subprocess.DEVNULL, env=daemon.env, text=True)
        try:
            _, err = daemon.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.fail("daqd did not exit on a tap it cannot create")
        self.assertEqual(daemon.proc.returncode, 1, err)
        last = err.strip().splitlines()[-1]
        self.assertTrue(last.startswith("daqd: tap: "), err)
        self.assertNotIn("daqd ready", err)


if __name__ == "__main__":
    DAQD = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
