#!/usr/bin/python3
"""The live view's daemon side (issue 14): frames, status, assets, metrics.

One real daqd on loopback with two sim cameras (cam0 256x192 16-bit, cam1
100x60 8-bit, 50 FPS each); everything is asked over HTTP as the page asks
it, and checked against the sim's pattern (include/daq/sim.h) and gRPC:

* the binary frame header v1, field by field; bin 1 crops equal the
  pattern pixel for pixel, the stamp's frame number equals the header's;
  bin 2 and 4 (whole frames and crops, 16- and 8-bit) equal the block means
  of the pattern (blocks touching the stamp left out); lz4=1 decodes
  (lz4.block, uncompressed_size) to the same;
* after/wait_ms: seq strictly increasing, a 204 with X-Daq-Seq when the
  stream is stopped, the restarted stream's frames reach the view;
* every 400/404/405 text exactly;
* the status JSON agrees with GetDeviceState / GetParameter (streaming,
  use_pool, exposure) also after SetParameter / SetExposure;
* the viewers gauge counts 2 distinct viewer ids; metrics families;
* the page and every file of src/view/www at /assets/ with its type,
  ETag, no-cache, nosniff and the page's CSP.

usage: test_view_frames.py DAQD
"""
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

import grpc
import lz4.block
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, HERE)
from daqd_harness import Daemon, wait_for  # noqa: E402

DAQD = None
WWW = os.path.join(ROOT, "src", "view", "www")
CSP = "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'"

CONFIG = """
[[devices]]
id = "cam0"
autostart = true
[devices.driver]
type = "sim"
width = 256
height = 192
bit_depth = 16
frame_rate_hz = 50.0

[[devices]]
id = "cam1"
autostart = true
[devices.driver]
type = "sim"
width = 100
height = 60
bit_depth = 8
frame_rate_hz = 50.0
"""

HEADER = struct.Struct("<4sHHIIQQQQQIIIIIIIIQQQIIQ")
assert HEADER.size == 128
FIELDS = ("magic", "version", "header_len", "flags", "bpp", "seq", "frame_number",
          "hw_timestamp_ns", "arrival_unix_ns", "sent_unix_ns", "full_width", "full_height",
          "x", "y", "width", "height", "bin", "bit_depth", "frames_delivered", "frames_lost",
          "pool_misses", "payload_len", "trigger_index", "exposure_start_unix_ns")


def generate_stubs():
    """daq_pb2 and daq_pb2_grpc from proto/daq.proto, into a temporary directory."""
    out = tempfile.mkdtemp(prefix="daq-view-stubs-")
    plugin = shutil.which("grpc_python_plugin")
    if not plugin:
        raise RuntimeError("grpc_python_plugin not found (Debian: protobuf-compiler-grpc)")
    subprocess.run(["protoc", "-I", os.path.join(ROOT, "proto"), "--python_out=" + out,
                    "--grpc_python_out=" + out, "--plugin=protoc-gen-grpc_python=" + plugin,
                    "daq.proto"], check=True)
    sys.path.insert(0, out)
    import daq_pb2
    import daq_pb2_grpc
    return daq_pb2, daq_pb2_grpc


pb, pbg = generate_stubs()


def pattern(width, height, bit_depth, n):
    """The sim pattern of frame n (include/daq/sim.h), stamp not applied."""
    x = np.arange(width, dtype=np.uint64)[None, :]
    y = np.arange(height, dtype=np.uint64)[:, None]
    m32 = np.uint64(0xFFFFFFFF)
    h = ((x * np.uint64(2654435761)) & m32) ^ ((y * np.uint64(2246822519)) & m32) \
        ^ np.uint64(((n % 4) * 3266489917) & 0xFFFFFFFF)
    h ^= h >> np.uint64(15)
    return (h & np.uint64((1 << bit_depth) - 1)).astype(np.int64)


def block_means(img, b):
    h, w = img.shape[0] // b * b, img.shape[1] // b * b
    return img[:h, :w].reshape(h // b, b, w // b, b).sum(axis=(1, 3)) // (b * b)


def parse(body):
    hdr = dict(zip(FIELDS, HEADER.unpack_from(body)))
    return hdr, body[128:]


def pixels(hdr, payload):
    if hdr["flags"] & 1:
        payload = lz4.block.decompress(payload, uncompressed_size=hdr["width"] * hdr["height"]
                                       * hdr["bpp"])
    dt = np.uint8 if hdr["bpp"] == 1 else np.dtype("<u2")
    return np.frombuffer(payload, dtype=dt).reshape(hdr["height"], hdr["width"]).astype(np.int64)


class ViewFramesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(DAQD, CONFIG, name="view").start()
        cls.base = "http://127.0.0.1:%d" % cls.d.metrics_port
        cls.channel = grpc.insecure_channel("127.0.0.1:%d" % cls.d.grpc_port)
        cls.hw = pbg.HardwareServiceStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.d.kill()

    def request(self, path, method="GET", timeout=5.0, headers=None):
        req = urllib.request.Request(self.base + path, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def frame(self, dev="cam0", query="", expect=200):
        st, headers, body = self.request("/api/view/%s/frame?%s" % (dev, query))
        self.assertEqual(st, expect, body[:200])
        if st != 200:
            return headers, None, None
        self.assertEqual(headers["Content-Type"], "application/octet-stream")
        self.assertEqual(headers["Cache-Control"], "no-store")
        hdr, payload = parse(body)
        self.assertEqual(hdr["payload_len"], len(payload))
        return headers, hdr, payload

    def check_pattern(self, hdr, got):
        """got (payload pixels) equals the pattern's block means for the
        header's frame, blocks touching the stamp left out."""
        W, H, B = hdr["full_width"], hdr["full_height"], hdr["bit_depth"]
        b, x, y = hdr["bin"], hdr["x"], hdr["y"]
        full = pattern(W, H, B, hdr["frame_number"])
        region = full[y:y + hdr["height"] * b, x:x + hdr["width"] * b]
        want = block_means(region, b) if b > 1 else region
        self.assertEqual(got.shape, want.shape)
        mask = np.ones(want.shape, dtype=bool)
        stamp_px = 16 // hdr["bpp"]
        if y == 0:  # blocks of row 0 that overlap the stamp's pixels
            cols = (x + np.arange(want.shape[1]) * b) < stamp_px
            mask[0, cols] = False
        bad = np.argwhere((got != want) & mask)
        self.assertEqual(len(bad), 0, "first difference at payload (i, j) = %s: got %d want %d"
                         % (tuple(bad[0][::-1]) if len(bad) else None,
                            got[tuple(bad[0])] if len(bad) else 0,
                            want[tuple(bad[0])] if len(bad) else 0))

    # ---- the header and the pixels ----------------------------------------------------------

    def test_header_and_bin1_pixels(self):
        t0 = time.time_ns()
        _, h, payload = self.frame("cam0", "bin=1")
        t1 = time.time_ns()
        self.assertEqual(h["magic"], b"DAQV")
        self.assertEqual((h["version"], h["header_len"], h["flags"], h["bpp"]), (1, 128, 0, 2))
        self.assertGreaterEqual(h["seq"], 1)
        self.assertEqual((h["full_width"], h["full_height"], h["x"], h["y"]), (256, 192, 0, 0))
        self.assertEqual((h["width"], h["height"], h["bin"], h["bit_depth"]), (256, 192, 1, 16))
        self.assertEqual(h["payload_len"], 256 * 192 * 2)
        self.assertEqual(h["trigger_index"], 0)  # free-running: no trigger (ADR 0011)
        self.assertGreater(h["frame_number"], 0)
        self.assertGreater(h["hw_timestamp_ns"], 0)
        # arrival (the frame's monotonic stamp on the wall clock) precedes the
        # reply, which was built within this request
        self.assertLessEqual(h["arrival_unix_ns"], h["sent_unix_ns"])
        # the estimated exposure start precedes arrival by the exposure and
        # the readout, well under a second for this camera
        self.assertLessEqual(h["exposure_start_unix_ns"], h["arrival_unix_ns"])
        self.assertGreater(h["exposure_start_unix_ns"], h["arrival_unix_ns"] - 10**9)
        self.assertGreater(h["arrival_unix_ns"], t0 - 2 * 10**9)
        self.assertGreaterEqual(h["sent_unix_ns"], t0 - 10**6)
        self.assertLessEqual(h["sent_unix_ns"], t1 + 10**6)
        self.assertGreaterEqual(h["frames_delivered"], h["frame_number"] - h["frames_lost"])
        self.assertEqual(h["frames_lost"], 0)
        self.assertEqual(h["pool_misses"], 0)
        # the stamp: frame number, magic "DAQS", check word
        n, magic, check = struct.unpack_from("<QII", payload)
        self.assertEqual(n, h["frame_number"])
        self.assertEqual(magic, 0x53514144)
        self.assertEqual(check, ((n * 2654435761) & 0xFFFFFFFF) ^ 256 ^ (192 << 16))
        self.check_pattern(h, pixels(h, payload))

    def test_bin1_crop(self):
        _, h, payload = self.frame("cam0", "mode=full&x=13&y=7&w=50&h=31")
        self.assertEqual((h["x"], h["y"], h["width"], h["height"], h["bin"]), (13, 7, 50, 31, 1))
        self.check_pattern(h, pixels(h, payload))
        # clamped to the frame
        _, h, payload = self.frame("cam0", "bin=1&x=250&y=190&w=100&h=100")
        self.assertEqual((h["x"], h["y"], h["width"], h["height"]), (250, 190, 6, 2))
        self.check_pattern(h, pixels(h, payload))

    def test_bin2_bin4_whole_and_crops(self):
        for query, wh in (("bin=2", (128, 96)), ("", (64, 48)), ("mode=preview", (128, 96)),
                          ("mode=fast", (64, 48)), ("bin=4&w=256&h=192", (64, 48))):
            _, h, payload = self.frame("cam0", query)
            self.assertEqual((h["width"], h["height"], h["x"], h["y"]), wh + (0, 0), query)
            self.check_pattern(h, pixels(h, payload))
        # crop origin and size rounded down to the bin
        _, h, payload = self.frame("cam0", "bin=4&x=10&y=5&w=50&h=30")
        self.assertEqual((h["x"], h["y"], h["width"], h["height"], h["bin"]), (8, 4, 12, 7, 4))
        self.check_pattern(h, pixels(h, payload))
        _, h, payload = self.frame("cam0", "bin=2&x=3&y=0&w=21&h=9")
        self.assertEqual((h["x"], h["y"], h["width"], h["height"]), (2, 0, 10, 4))
        self.check_pattern(h, pixels(h, payload))

    def test_8bit_frames(self):
        for query, wh in (("bin=1", (100, 60)), ("bin=2", (50, 30)), ("bin=4", (25, 15)),
                          ("bin=2&x=5&y=3&w=41&h=17", (20, 8))):
            _, h, payload = self.frame("cam1", query)
            self.assertEqual((h["bpp"], h["bit_depth"]), (1, 8))
            self.assertEqual((h["width"], h["height"]), wh)
            self.assertEqual(h["payload_len"], wh[0] * wh[1])
            if h["bin"] == 1:
                self.assertEqual(struct.unpack_from("<Q", payload)[0], h["frame_number"])
            self.check_pattern(h, pixels(h, payload))

    def test_lz4(self):
        for dev, query in (("cam0", "bin=1"), ("cam0", "bin=2"), ("cam0", "bin=1&x=4&w=20&h=8"),
                           ("cam1", "bin=4")):
            _, h, payload = self.frame(dev, query + "&lz4=1")
            self.assertEqual(h["flags"], 1)
            got = pixels(h, payload)  # lz4.block.decompress(uncompressed_size=w*h*bpp)
            self.check_pattern(h, got)
            _, h0, raw = self.frame(dev, query + "&lz4=0")
            self.assertEqual(h0["flags"], 0)
            self.assertEqual(h0["payload_len"], h["width"] * h["height"] * h["bpp"])

    # ---- after / wait_ms ------------------------------------------------------------------------

    def test_after_wait_and_restart(self):
        _, h, _ = self.frame("cam0", "bin=4")
        seqs, numbers = [h["seq"]], [h["frame_number"]]
        for _ in range(5):
            _, h, _ = self.frame("cam0", "bin=4&wait_ms=2000&after=%d" % seqs[-1])
            seqs.append(h["seq"])
            numbers.append(h["frame_number"])
        self.assertEqual(seqs, sorted(set(seqs)), seqs)  # strictly increasing
        self.assertEqual(numbers, sorted(set(numbers)), numbers)
        try:
            self.hw.StopStream(pb.StopStreamRequest(device_id="cam0"), timeout=10)
            # the newest frame of the stopped stream, then nothing
            _, h, _ = self.frame("cam0", "bin=4&wait_ms=0")
            last = h["seq"]
            t0 = time.monotonic()
            headers, _, _ = self.frame("cam0", "bin=4&wait_ms=300&after=%d" % last, expect=204)
            waited = time.monotonic() - t0
            self.assertEqual(headers["X-Daq-Seq"], str(last))
            self.assertGreaterEqual(waited, 0.28)
            self.assertLess(waited, 1.5)
            # wait_ms=0 answers at once
            headers, _, _ = self.frame("cam0", "wait_ms=0&after=%d" % last, expect=204)
            self.assertEqual(headers["X-Daq-Seq"], str(last))
        finally:
            r = self.hw.StartStream(pb.StartStreamRequest(device_id="cam0"), timeout=10)
        self.assertTrue(r.success, r)
        _, h, payload = self.frame("cam0", "bin=1&wait_ms=2000&after=%d" % last)
        self.assertGreater(h["seq"], last)
        self.check_pattern(h, pixels(h, payload))

    # ---- errors ---------------------------------------------------------------------------------

    def test_error_texts(self):
        cases = [
            ("/api/view/cam0/frame?bin=3", 400, "bin: must be 1, 2 or 4 (got 3)"),
            ("/api/view/cam0/frame?bin=x", 400, "bin: must be 1, 2 or 4 (got x)"),
            ("/api/view/cam0/frame?wait_ms=5000", 400, "wait_ms: must be 0..2000 (got 5000)"),
            ("/api/view/cam0/frame?wait_ms=-1", 400, "wait_ms: must be 0..2000 (got -1)"),
            ("/api/view/cam0/frame?after=abc", 400,
             "after: must be a sequence number, 0 or more (got abc)"),
            ("/api/view/cam0/frame?mode=slow", 400,
             "mode: must be fast, preview or full (got slow)"),
            ("/api/view/cam0/frame?mode=fast&bin=2", 400,
             "mode: fast means bin=4, but bin=2 was given"),
            ("/api/view/cam0/frame?x=-5", 400,
             "x: must be a whole number of full-resolution pixels (got -5)"),
            ("/api/view/cam0/frame?h=1.5", 400,
             "h: must be a whole number of full-resolution pixels (got 1.5)"),
            ("/api/view/cam0/frame?lz4=yes", 400, "lz4: must be 0 or 1 (got yes)"),
            ("/api/view/cam0/frame?viewer=a%20b", 400,
             "viewer: must be 1..32 characters A-Z a-z 0-9 _ - (got a b)"),
            ("/api/view/cam0/frame?viewer=" + "v" * 33, 400,
             "viewer: must be 1..32 characters A-Z a-z 0-9 _ - (got " + "v" * 33 + ")"),
            ("/api/view/cam0/frame?bin=1&w=8192&h=8192", 400,
             "crop: 8192 x 8192 px at bin 1 is 128 MiB, more than the 32 MiB a view frame may "
             "carry: zoom in or bin"),
            ("/api/view/cam0/frame?x=1000", 400,
             "crop: nothing of the 256 x 192 frame is left at bin 4 (x=1000, y=0)"),
            ("/api/view/camX/frame", 404, 'no device "camX"'),
            ("/api/view/camX/status", 404, 'no device "camX"'),
            ("/api/view/cam0/nothing", 404,
             "no such view path (/api/view/cam0/frame, /api/view/cam0/status)"),
            ("/api/view/cam0", 404, "no such view path (/api/view/devices, "
             "/api/view/<device>/frame, /api/view/<device>/status)"),
            ("/assets/missing.js", 404, "no such asset"),
        ]
        for path, status, text in cases:
            st, headers, body = self.request(path)
            self.assertEqual((st, body.decode()), (status, text), path)
            self.assertTrue(headers["Content-Type"].startswith("text/plain"), path)
        st, headers, body = self.request("/api/view/cam0/frame", method="POST")
        self.assertEqual(st, 405, body)
        self.assertEqual(headers["Allow"], "GET, HEAD")
        self.assertEqual(body.decode(), "POST: only GET and HEAD")

    # ---- status and devices ---------------------------------------------------------------------

    def status(self, dev="cam0"):
        st, headers, body = self.request("/api/view/%s/status" % dev)
        self.assertEqual(st, 200, body)
        self.assertEqual(headers["Content-Type"], "application/json")
        self.assertEqual(headers["Cache-Control"], "no-store")
        return json.loads(body)

    def grpc_state(self, dev="cam0"):
        return self.hw.GetDeviceState(pb.DeviceStateRequest(device_id=dev), timeout=10)

    def grpc_param(self, name, dev="cam0"):
        return self.hw.GetParameter(pb.GetParameterRequest(device_id=dev, parameter_name=name),
                                    timeout=10).value

    def test_status_agrees_with_grpc(self):
        wait_for(lambda: self.status()["frames_delivered"] >= 60, timeout=5)
        s = self.status()
        g = self.grpc_state()
        keys = ("device", "streaming", "width", "height", "bit_depth", "camera_fps",
                "frames_delivered", "frames_lost", "exposure_ms", "use_pool", "pool_slots",
                "pool_in_use", "pool_hit_rate", "pool_misses", "heap_fallbacks", "symptoms",
                "auto_rollbacks", "auto_rollback_reason", "rollback_advice", "consumers",
                "view")
        self.assertEqual(sorted(s), sorted(keys))
        # the bus's subscribers (issue 16): this view's own among them
        for c in s["consumers"]:
            self.assertEqual(sorted(c), ["delivered", "dropped", "name", "policy"])
        self.assertEqual(sorted(s["view"]), ["frames_served", "seq", "viewers"])
        self.assertEqual((s["device"], s["width"], s["height"], s["bit_depth"]),
                         ("cam0", 256, 192, 16))
        self.assertEqual(s["streaming"], g.streaming)
        self.assertTrue(s["streaming"])
        self.assertEqual(s["use_pool"], g.use_pool)
        self.assertEqual(str(s["use_pool"]).lower(), self.grpc_param("acquisition.use_pool"))
        self.assertEqual(s["exposure_ms"], g.exposure_ms)
        self.assertEqual(s["exposure_ms"], float(self.grpc_param("exposure_ms")))
        self.assertEqual(s["symptoms"], [])
        self.assertEqual(list(g.rollback_symptoms), [])
        self.assertEqual((s["auto_rollbacks"], s["auto_rollback_reason"]),
                         (g.auto_rollbacks, g.auto_rollback_reason))
        self.assertEqual(s["frames_lost"], 0)
        self.assertEqual(s["pool_hit_rate"], 1.0)
        self.assertEqual(s["heap_fallbacks"], 0)
        self.assertGreater(s["pool_slots"], 0)
        self.assertIn("acquisition.use_pool off", s["rollback_advice"])
        self.assertIn("no restart and no frame lost", s["rollback_advice"])
        # camera_fps measured over ~1 s: 50 FPS configured
        time.sleep(1.1)
        fps = self.status()["camera_fps"]
        self.assertGreater(fps, 35.0)
        self.assertLess(fps, 65.0)
        # changes made over gRPC show up
        try:
            r = self.hw.SetParameter(pb.SetParameterRequest(
                device_id="cam0", parameter_name="acquisition.use_pool", value="false"),
                timeout=10)
            self.assertTrue(r.success, r)
            r = self.hw.SetExposure(pb.SetExposureRequest(device_id="cam0", exposure_ms=15.0),
                                    timeout=10)
            s = self.status()
            self.assertEqual((s["use_pool"], self.grpc_state().use_pool), (False, False))
            self.assertEqual(s["exposure_ms"], 15.0)
            self.assertEqual(s["exposure_ms"], self.grpc_state().exposure_ms)
        finally:
            self.hw.SetParameter(pb.SetParameterRequest(
                device_id="cam0", parameter_name="acquisition.use_pool", value="true"),
                timeout=10)
            self.hw.SetExposure(pb.SetExposureRequest(device_id="cam0", exposure_ms=10.0),
                                timeout=10)
        self.assertTrue(self.status()["use_pool"])

    def test_devices(self):
        st, headers, body = self.request("/api/view/devices")
        self.assertEqual(st, 200)
        self.assertEqual(headers["Content-Type"], "application/json")
        self.assertEqual(json.loads(body), {"devices": [
            {"id": "cam0", "name": "cam0", "width": 256, "height": 192, "bit_depth": 16,
             "streaming": True},
            {"id": "cam1", "name": "cam1", "width": 100, "height": 60, "bit_depth": 8,
             "streaming": True}]})

    # ---- viewers and metrics --------------------------------------------------------------------

    def test_viewers_and_metrics(self):
        # cam1's only viewer ids are these (the other cam1 requests carry none)
        for v in ("tab-A", "tab_B", "tab-A"):
            self.frame("cam1", "bin=4&viewer=" + v)
        self.assertEqual(self.status("cam1")["view"]["viewers"], 2)
        st, _, body = self.request("/metrics")
        text = body.decode()
        self.assertEqual(st, 200)
        for name, typ in (("daq_view_frames_served_total", "counter"),
                          ("daq_view_viewers", "gauge"), ("daq_view_requests_total", "counter")):
            self.assertEqual(text.count("# TYPE %s %s\n" % (name, typ)), 1, name)
            self.assertEqual(text.count("# HELP %s " % name), 1, name)
        self.assertRegex(text, r'(?m)^daq_view_viewers\{device="cam1"\} 2$')
        m = re.search(r'(?m)^daq_view_frames_served_total\{device="cam1",bin="4"\} (\d+)$', text)
        self.assertIsNotNone(m)
        self.assertGreaterEqual(int(m.group(1)), 3)
        for result in ("frame", "timeout", "error"):
            self.assertRegex(text, r'(?m)^daq_view_requests_total\{device="cam0",result="%s"\} '
                             r'\d+$' % result)

    # ---- the page -------------------------------------------------------------------------------

    def test_assets(self):
        types = {".html": "text/html", ".js": "text/javascript", ".css": "text/css",
                 ".svg": "image/svg+xml", ".png": "image/png"}
        names = sorted(n for n in os.listdir(WWW) if not n.startswith(".") and
                       not n.endswith("~"))
        self.assertIn("index.html", names)
        for n in names:
            with open(os.path.join(WWW, n), "rb") as f:
                want = f.read()
            paths = ["/assets/" + n] + (["/", "/index.html"] if n == "index.html" else [])
            for path in paths:
                st, headers, body = self.request(path)
                self.assertEqual(st, 200, path)
                self.assertEqual(body, want, path)
                ext = os.path.splitext(n)[1]
                if ext in types:
                    self.assertEqual(headers["Content-Type"].split(";")[0], types[ext], path)
                self.assertRegex(headers["ETag"], r'^"[0-9a-f]{16}"$')
                self.assertEqual(headers["Cache-Control"], "no-cache")
                self.assertEqual(headers["X-Content-Type-Options"], "nosniff")
                if ext == ".html":
                    self.assertEqual(headers["Content-Security-Policy"], CSP)
        # the same content, the same ETag; HEAD has it too
        _, h1, _ = self.request("/")
        st, h2, body = self.request("/index.html", method="HEAD")
        self.assertEqual((st, body), (200, b""))
        self.assertEqual(h1["ETag"], h2["ETag"])
        # a reload revalidates: 304 without the bytes for its ETag (also in
        # a list, weak, or *), 200 with them for another
        for inm in (h1["ETag"], 'W/' + h1["ETag"], '"x", ' + h1["ETag"], "*"):
            st, h3, body = self.request("/", headers={"If-None-Match": inm})
            self.assertEqual((st, body), (304, b""), inm)
            self.assertEqual(h3["ETag"], h1["ETag"])
        st, _, body = self.request("/", headers={"If-None-Match": '"0000000000000000"'})
        self.assertEqual(st, 200)
        self.assertTrue(body)

    # ---- last: shutdown with a long poll in flight ------------------------------------------------

    def test_zz_shutdown_wakes_long_polls(self):
        """SIGTERM while a viewer waits (after = far ahead, wait_ms 2000):
        the poll ends at once (204, or the connection closes) and daqd exits
        0 with nothing from the sanitizers (the ASan suite runs this)."""
        result = {}

        def poll():
            t0 = time.monotonic()
            try:
                result["status"] = self.request("/api/view/cam0/frame?after=999999999&wait_ms=2000",
                                                timeout=10)[0]
            except Exception as e:  # the server may close the connection instead
                result["status"] = repr(e)
            result["took"] = time.monotonic() - t0

        th = threading.Thread(target=poll)
        th.start()
        time.sleep(0.3)  # the poll is waiting
        self.d.signal(signal.SIGTERM)
        code, took = self.d.wait(10)
        th.join(10)
        self.assertEqual(code, 0, self.d.log()[-3000:])
        self.assertLess(result["took"], 1.8, result)
        self.assertNotIn("Sanitizer", self.d.log())


class ViewIdleTest(unittest.TestCase):
    """A tap nobody polls gives back its subscription and its frame (10 s in
    production; DAQ_TEST_VIEW_IDLE_MS=600 here) and comes back on demand,
    seq going on from where it was."""

    def test_idle_tap_unsubscribes_and_returns(self):
        d = Daemon(DAQD, CONFIG, env={"DAQ_TEST_VIEW_IDLE_MS": "600"}, name="view-idle").start()
        base = "http://127.0.0.1:%d" % d.metrics_port
        try:
            def get(path):
                with urllib.request.urlopen(base + path, timeout=5) as r:
                    return r.read()

            def view_subscribed():
                return 'daq_consumer_info{device="cam1",consumer="view",' in get(
                    "/metrics").decode()

            self.assertFalse(view_subscribed())  # nothing before the first request
            h1, _ = parse(get("/api/view/cam1/frame?bin=1"))
            self.assertTrue(view_subscribed())
            self.assertTrue(wait_for(lambda: not view_subscribed(), timeout=3))
            h2, payload = parse(get("/api/view/cam1/frame?bin=1&after=%d" % h1["seq"]))
            self.assertTrue(view_subscribed())
            self.assertGreater(h2["seq"], h1["seq"])
            self.assertGreater(h2["frame_number"], h1["frame_number"])
            self.assertEqual(struct.unpack_from("<Q", payload)[0], h2["frame_number"])
            self.assertIn("test knob: view taps go idle sooner", d.log())
        finally:
            d.kill()


if __name__ == "__main__":
    DAQD = sys.argv[1]
    unittest.main(argv=sys.argv[:1], verbosity=2)
