#!/usr/bin/python3
"""The live view's control path (issue 14) against a real daqd: the unary
gRPC bridge POST /api/rpc/<package.Service>/<Method> runs the very handlers
a gRPC client reaches, and what it changes gRPC sees (SetExposure then
GetExposure; StartStream/StopStream then GetDeviceState; the StorageService,
whose gRPC calls its workers answer).  Its refusals,
each with its exact text: a body that does not decode (400, Grpc-Status 3),
an out-of-range exposure (the same INVALID_ARGUMENT details as over gRPC),
415 (Content-Type), 403 (a foreign Origin), 405 (GET), 413 (a body over
64 KiB), 501 (an unknown method, a streaming one).  With a tokens file: no
token is 401 with gRPC's own details, a good one is 200 and the audit line
names it, while /metrics and the page stay open.

usage: test_http_api.py DAQD
"""
import http.client
import os
import shutil
import signal
import socket
import sys
import tempfile
import unittest

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python"))
from daq_client import Client  # noqa: E402
from daqd_harness import Daemon, wait_for  # noqa: E402

DAQD = None

CONFIG = """
[[devices]]
id = "cam0"
name = "Simulated camera"
[devices.driver]
type = "sim"
width = 64
height = 64
frame_rate_hz = 50.0
exposure_ms = 2.0
"""

TOKEN = "view-test-token-0123456789abcdef"
PROTOBUF = "application/x-protobuf"
MISSING = "missing bearer token (metadata 'authorization: Bearer <token>')"


def request(port, method, path, body=None, headers=None):
    """(status, headers dict with lower-case names, body bytes)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


class Bridge:
    """POSTs protobuf messages to one daqd's bridge."""

    def __init__(self, port, token=None):
        self.port = port
        self.token = token

    def post(self, method, body, content_type=PROTOBUF, extra=None):
        h = {"Content-Type": content_type}
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        h.update(extra or {})
        return request(self.port, "POST", "/api/rpc/" + method, body, h)

    def call(self, method, msg, reply_type):
        st, h, body = self.post(method, msg.SerializeToString())
        if st != 200:
            raise AssertionError("%s: %d %r %r" % (method, st, h.get("grpc-message"), body))
        assert h["grpc-status"] == "0" and h["content-type"] == PROTOBUF, h
        r = reply_type()
        r.ParseFromString(body)
        return r


class DaemonCase(unittest.TestCase):
    """One daqd per class: started by start(), stopped (exit 0 required),
    its client closed and its scratch directory removed at the end."""
    c = None
    tmp = None

    @classmethod
    def start(cls, config, extra_args=(), token=None):
        cls.d = Daemon(DAQD, config, extra_args=extra_args).start()
        cls.c = Client("127.0.0.1:%d" % cls.d.grpc_port, timeout=10, token=token)
        cls.pb = cls.c.pb

    @classmethod
    def tearDownClass(cls):
        cls.c.close()
        cls.d.signal(signal.SIGTERM)
        code, _ = cls.d.wait(15)
        if cls.tmp:
            shutil.rmtree(cls.tmp, ignore_errors=True)
        if code != 0:
            raise AssertionError("daqd exited %d\n%s" % (code, cls.d.log()))


class Open(DaemonCase):
    """No tokens file: everything open, as gRPC is."""

    @classmethod
    def setUpClass(cls):
        cls.start(CONFIG)
        cls.b = Bridge(cls.d.metrics_port)

    def test_set_exposure_then_grpc_agrees(self):
        pb = self.pb
        r = self.b.call("daq.HardwareService/SetExposure",
                        pb.SetExposureRequest(device_id="cam0", exposure_ms=7.5),
                        pb.SetExposureResponse)
        self.assertTrue(r.success)
        self.assertEqual(r.actual_exposure_ms, 7.5)
        self.assertEqual(self.c.exposure("cam0"), 7.5)
        # and back through the bridge's GetExposure
        g = self.b.call("daq.HardwareService/GetExposure",
                        pb.GetExposureRequest(device_id="cam0"), pb.GetExposureResponse)
        self.assertEqual(g.exposure_ms, 7.5)

    def test_start_stop_stream_then_grpc_agrees(self):
        pb = self.pb
        self.assertFalse(self.c.device_state("cam0").streaming)
        r = self.b.call("daq.HardwareService/StartStream",
                        pb.StartStreamRequest(device_id="cam0"), pb.StartStreamResponse)
        self.assertTrue(r.success, r.error_message)
        self.assertTrue(self.c.device_state("cam0").streaming)
        self.b.call("daq.HardwareService/StopStream", pb.StopStreamRequest(device_id="cam0"),
                    pb.StopStreamResponse)
        self.assertTrue(wait_for(lambda: not self.c.device_state("cam0").streaming, 5))

    def test_storage_service_through_bridge(self):
        # The StorageService queues gRPC calls for its own workers; the
        # bridge runs the same handler and answers the same message.
        pb = self.pb
        r = self.b.call("daq.StorageService/GetRecordingStatus", pb.GetRecordingStatusRequest(),
                        pb.RecordingStatus)
        g = self.c.storage.GetRecordingStatus(pb.GetRecordingStatusRequest(), timeout=10)
        self.assertEqual(r.state, g.state)
        self.assertEqual(r.recording_id, g.recording_id)
        st, h, body = self.b.post("daq.StorageService/StreamRecordingProgress", b"")
        self.assertEqual((st, body), (501, b"StreamRecordingProgress is a streaming method: "
                                           b"use gRPC"))

    def test_malformed_body_400(self):
        st, h, body = self.b.post("daq.HardwareService/GetExposure", b"\xff\xff\xff\xff")
        self.assertEqual(st, 400)
        self.assertEqual(h["grpc-status"], "3")
        self.assertTrue(body, "a message explains the refusal")
        self.assertEqual(body.decode(), h["grpc-message"])

    def test_out_of_range_same_details_as_grpc(self):
        pb = self.pb
        req = pb.SetExposureRequest(device_id="cam0", exposure_ms=-5.0)
        with self.assertRaises(grpc.RpcError) as e:
            self.c.hw.SetExposure(req, timeout=10)
        self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        st, h, body = self.b.post("daq.HardwareService/SetExposure", req.SerializeToString())
        self.assertEqual(st, 400)
        self.assertEqual(h["grpc-status"], "3")
        self.assertEqual(body.decode(), e.exception.details())
        self.assertEqual(h["grpc-message"], e.exception.details())
        self.assertNotEqual(self.c.exposure("cam0"), -5.0)

    def test_refusals(self):
        port = self.d.metrics_port
        msg = self.pb.GetExposureRequest(device_id="cam0").SerializeToString()
        m = "daq.HardwareService/GetExposure"
        st, h, body = self.b.post(m, msg, content_type="text/plain")
        self.assertEqual((st, body), (415, b"Content-Type must be application/x-protobuf"))
        st, h, body = self.b.post(m, msg, content_type="application/x-www-form-urlencoded")
        self.assertEqual(st, 415)
        # a page on another site (the browser names it in Origin)
        st, h, body = self.b.post(m, msg, extra={"Origin": "http://evil.example"})
        self.assertEqual(st, 403)
        self.assertEqual(body.decode(), "cross-origin request refused (Origin http://evil.example, "
                         "Host 127.0.0.1:%d)" % port)
        # the page's own origin is fine
        st, _, _ = self.b.post(m, msg, extra={"Origin": "http://127.0.0.1:%d" % port})
        self.assertEqual(st, 200)
        st, h, body = request(port, "GET", "/api/rpc/" + m)
        self.assertEqual(st, 405)
        self.assertEqual(h["allow"], "POST")
        st, h, body = self.b.post(m, b"\0" * (64 * 1024 + 1))
        self.assertEqual(st, 413)
        self.assertEqual(body, b"request body too large (65537 bytes, at most 65536)\n")
        st, h, body = self.b.post("daq.HardwareService/Nope", b"")
        self.assertEqual((st, h["grpc-status"]), (501, "12"))
        self.assertEqual(body, b"unknown method /daq.HardwareService/Nope")
        st, h, body = self.b.post("daq.HardwareService/StreamFrames", b"")
        self.assertEqual((st, h["grpc-status"]), (501, "12"))
        self.assertEqual(body, b"StreamFrames is a streaming method: use gRPC")
        # other paths take no POST; PUT is refused by the server itself
        st, h, _ = request(port, "POST", "/metrics", b"x")
        self.assertEqual((st, h["allow"]), (405, "GET, HEAD"))
        st, h, _ = request(port, "PUT", "/api/rpc/" + m, b"x")
        self.assertEqual((st, h["allow"]), (405, "GET, HEAD, POST"))


class Tokens(DaemonCase):
    """A tokens file: the bridge does gRPC's token check and audit."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="daqd-http-api-")
        tokens = os.path.join(cls.tmp, "tokens")
        with open(tokens, "w") as f:
            f.write("viewer %s\n" % TOKEN)
        os.chmod(tokens, 0o600)
        cls.start(CONFIG, ("--tokens", tokens), token=TOKEN)

    def test_token(self):
        pb = self.pb
        req = pb.SetExposureRequest(device_id="cam0", exposure_ms=3.25).SerializeToString()
        m = "daq.HardwareService/SetExposure"
        st, h, body = Bridge(self.d.metrics_port).post(m, req)
        self.assertEqual((st, h["grpc-status"], body.decode()), (401, "16", MISSING))
        st, h, body = Bridge(self.d.metrics_port, "x" * 32).post(m, req)
        self.assertEqual((st, h["grpc-status"], body.decode()), (401, "16", "unknown token"))
        self.assertEqual(self.c.exposure("cam0"), 2.0)  # nothing changed
        r = Bridge(self.d.metrics_port, TOKEN).call(m, pb.SetExposureRequest(
            device_id="cam0", exposure_ms=3.25), pb.SetExposureResponse)
        self.assertEqual(r.actual_exposure_ms, 3.25)
        self.assertEqual(self.c.exposure("cam0"), 3.25)
        audit = [ln for ln in self.d.lines if "daq::audit" in ln and "SetExposure" in ln]
        ok = [ln for ln in audit if 'token="viewer"' in ln or "token=viewer" in ln]
        self.assertEqual(len(ok), 1, "".join(audit))
        self.assertIn("status=0", ok[0])
        self.assertRegex(ok[0], r'peer="?http:127\.0\.0\.1:\d+')
        self.assertIn("cam0", ok[0])
        refused = [ln for ln in audit if "status=16" in ln]
        self.assertEqual(len(refused), 2, "".join(audit))
        # /metrics and the page stay open; the view's API does not
        self.assertEqual(request(self.d.metrics_port, "GET", "/metrics")[0], 200)
        self.assertEqual(request(self.d.metrics_port, "GET", "/")[0], 200)
        self.assertEqual(request(self.d.metrics_port, "GET", "/api/view/devices")[0], 401)


class Rebinding(DaemonCase):
    """The DNS-rebinding guard: /api/ and /debug/ answer only a Host that is
    an IP literal, localhost, this host's name or a listed name."""

    @classmethod
    def setUpClass(cls):
        cls.start(CONFIG + '\n[security]\nhttp_hosts = "daq.lab.example,Scope-1"\n')

    def get(self, path, host):
        return request(self.d.metrics_port, "GET", path, headers={"Host": host})

    def test_foreign_host_refused(self):
        port = self.d.metrics_port
        for path in ("/api/view/devices", "/api/view/cam0/status", "/debug/config"):
            st, _, body = self.get(path, "evil.example:%d" % port)
            self.assertEqual(st, 403, path)
            self.assertEqual(body.decode(), "Host 'evil.example:%d' is not a name of this daemon "
                             "(DNS rebinding?): use an IP address, localhost or this host's "
                             "name, or list the name in [security] http_hosts\n" % port)
        st, _, _ = request(port, "POST", "/api/rpc/daq.HardwareService/StopStream", b"",
                           {"Host": "evil.example:%d" % port, "Content-Type": PROTOBUF,
                            "Origin": "http://evil.example:%d" % port})
        self.assertEqual(st, 403)
        # the page itself, /metrics and /healthz are not guarded
        for path in ("/", "/metrics", "/healthz"):
            self.assertIn(self.get(path, "evil.example")[0], (200, 503), path)

    def test_local_names_served(self):
        port = self.d.metrics_port
        for host in ("127.0.0.1:%d" % port, "[::1]:%d" % port, "localhost:%d" % port,
                     "LOCALHOST", socket.gethostname(), "daq.lab.example:%d" % port, "scope-1"):
            st, _, body = self.get("/api/view/devices", host)
            self.assertEqual(st, 200, "%s: %r" % (host, body))
        # a listed name's suffix or prefix is not the name
        for host in ("lab.example", "xdaq.lab.example", "daq.lab.example.evil.com"):
            self.assertEqual(self.get("/api/view/devices", host)[0], 403, host)

    def test_bad_http_hosts_config(self):
        import subprocess
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "bad.toml")
            with open(path, "w") as f:
                f.write(CONFIG + '\n[security]\nhttp_hosts = "ok.example,bad name"\n')
            r = subprocess.run([DAQD, "check-config", path], capture_output=True, text=True,
                               timeout=20)
            self.assertNotEqual(r.returncode, 0)
            line = CONFIG.count("\n") + 3
            self.assertIn("%s:%d:14: security.http_hosts: 'bad name' is not a host name" %
                          (path, line), r.stderr + r.stdout)


if __name__ == "__main__":
    DAQD = sys.argv.pop(1)
    unittest.main(verbosity=2)
