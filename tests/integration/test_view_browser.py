#!/usr/bin/python3
"""tests/integration/test_view_browser.py - issue 14's acceptance in a real
browser: daqd's live view page in Debian's headless Chromium, driven by
tests/browser/driver.mjs (puppeteer-core, installed into the build tree),
against real daqd processes on loopback.  The daemon's side of every claim
is checked independently over gRPC (GetDeviceState, GetExposure,
GetParameter, ListAcquisitions), the status JSON and h5py.

Each class is one ctest entry (tests/view/browser.cmake) with a daemon and a
browser of its own:

  Page     1024x1024x16 sim at 20 FPS, a 1600x1000 page:
           * no request leaves the machine (interception, Network events and
             a trap proxy; the page's HTML/JS name no other host; CSP);
           * canvas pixels = the sim pattern through the contrast mapping
             (manual window; gamma 1 and 2; gray and inverted), FAST (bin
             4, raw and LZ4) and bin 1, for the painted frame's number;
             the auto window = the frame's min/max, the percentile window
             at the 0.1 / 99.9 % ranks;
           * zoomed FULL crop: valueAt and the #readout under the crosshair
             equal the raw pattern value;
           * FPS counters move; #exposure-set changes the exposure
             (GetExposure agrees); #rec-start/#rec-stop make an HDF5 file
             h5py reads; the screenshot (PNG, 1600x1000) is written to the
             build directory; #btn-stop stops the camera (GetDeviceState).
  Viewers  2048x2048x16 at 100 FPS, three windows (two at max 8 fps, one
           at the default 30): 0 frames lost; the third CPU-throttled 20x
           (DevTools): the others keep >= 75 % of their displayed fps, the
           camera keeps 100 FPS and loses 0, the throttled one draws < 60 %
           of its own rate before.
  Auth     a tokens file: the page shows #login, no frame is drawn and no
           frame request got 200; a wrong token says "wrong token"; the
           right one shows frames.

Exit 77 (skipped) only when /usr/bin/chromium or node is missing.

usage: test_view_browser.py DAQD BUILD_DIR [TestClass ...]
"""
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request
import zlib

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "browser"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python"))
import chromium  # noqa: E402
import png_check  # noqa: E402
from daq_client import Client, mean_downsample, sim_pattern, stubs  # noqa: E402
from daqd_harness import Daemon, wait_for  # noqa: E402

DAQD = BUILD = MODULES = None
TOKEN = "view-0123456789abcdef-secret"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---- the sim pattern (include/daq/sim.h), one pixel at a time -----------------------

def sim_pixel(x, y, n, bit_depth=16):
    h = ((x * 2654435761) & 0xFFFFFFFF) ^ ((y * 2246822519) & 0xFFFFFFFF) \
        ^ (((n % 4) * 3266489917) & 0xFFFFFFFF)
    h ^= h >> 15
    return h & ((1 << bit_depth) - 1)


def binned(x0, y0, i, j, b, n, bit_depth=16):
    """Payload pixel (i, j) at bin b of a crop at (x0, y0): the truncating
    mean of the b x b block (none of the callers' blocks touches the stamp)."""
    s = sum(sim_pixel(x0 + i * b + dx, y0 + j * b + dy, n, bit_depth)
            for dy in range(b) for dx in range(b))
    return s // (b * b)


def gray(v, lo, hi, gamma=1.0):
    """The contract's mapping: round(255 * clamp((v - lo) / (hi - lo), 0, 1) ^ (1/g))."""
    t = min(1.0, max(0.0, (v - lo) / float(hi - lo)))
    return int(255.0 * t ** (1.0 / gamma) + 0.5)


# ---- the page's side, as JS functions for the driver --------------------------------

STATE = "() => window.daqView ? daqView.state() : null"

# The painted frame's state and, in the same task (so frame_number belongs to
# them), canvas pixels and raw values at payload positions.
PIXELS = """(pts) => {
  const s = daqView.state();
  const c = document.getElementById('image');
  const ctx = c.getContext('2d');
  const px = pts.map(([i, j]) => Array.from(ctx.getImageData(i, j, 1, 1).data));
  const raw = pts.map(([i, j]) => daqView.raw(i, j));
  return {s, px, raw, cw: c.width, ch: c.height};
}"""

TEXT = "(sel) => { const e = document.querySelector(sel); return e ? e.textContent : null; }"

VISIBLE = """(sel) => {
  const e = document.querySelector(sel);
  if (!e) return false;
  const st = getComputedStyle(e);
  return !e.hidden && st.display !== 'none' && st.visibility !== 'hidden' && e.getClientRects().length > 0;
}"""

RECT = """(sel) => { const r = document.querySelector(sel).getBoundingClientRect();
  return {left: r.left, top: r.top, width: r.width, height: r.height}; }"""

SET = "(o) => { daqView.set(o); return true; }"

# Resources the page loaded from its own origin (the HTML and its assets).
RESOURCES = """() => [location.href.split('#')[0],
  ...performance.getEntriesByType('resource').map(e => e.name)]"""


def number(text):
    """The first number in a counter's text ("31.2 fps" -> 31.2); None if none."""
    m = re.search(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", text or "")
    return float(m.group(0)) if m else None


def sim_config(side, fps, root=None, bit_depth=16, autostart=True):
    text = """
[[devices]]
id = "cam0"
name = "Simulated camera"
autostart = %s
[devices.driver]
type = "sim"
width = %d
height = %d
bit_depth = %d
frame_rate_hz = %.1f
timing = "realistic"
exposure_ms = 2.0
""" % ("true" if autostart else "false", side, side, bit_depth, fps)
    if root:
        text += "\n[storage]\nroot = %s\n" % json.dumps(root)
    return text


def http_json(port, path, token=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path))
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read().decode())


# ---- the common part -------------------------------------------------------------------

class BrowserCase(unittest.TestCase):
    side, fps, width, height, auth = 512, 20, 1280, 800, False

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="daq-view-", dir="/dev/shm")
        cls.d = cls.b = cls.c = None
        try:
            # Always a storage root of its own: without one daqd makes ./data.
            cls.root = os.path.join(cls.dir, "rec")
            os.mkdir(cls.root)
            args = ()
            if cls.auth:
                tokens = os.path.join(cls.dir, "tokens")
                with open(tokens, "w") as f:
                    f.write("viewer %s\n" % TOKEN)
                os.chmod(tokens, 0o600)
                args = ("--tokens", tokens)
            cls.d = Daemon(DAQD, sim_config(cls.side, cls.fps, cls.root), extra_args=args,
                           name="view").start()
            cls.url = "http://127.0.0.1:%d/#cam0" % cls.d.metrics_port
            cls.c = Client("127.0.0.1:%d" % cls.d.grpc_port, timeout=10,
                           token=TOKEN if cls.auth else None)
            cls.b = chromium.Browser(MODULES)
            log("%s: %s, daqd on %s" % (cls.__name__, cls.b.version, cls.url))
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.b:
            cls.b.close()
        if cls.c:
            cls.c.close()
        code = 0
        if cls.d and cls.d.proc and cls.d.proc.poll() is None:
            cls.d.signal(signal.SIGTERM)
            code, _ = cls.d.wait(30)
        shutil.rmtree(cls.dir, ignore_errors=True)
        if cls.d:
            shutil.rmtree(cls.d.dir, ignore_errors=True)
        if code != 0:  # a crash or a leak report at exit, after the viewers
            raise AssertionError("daqd exited %d on SIGTERM:\n%s" % (code, cls.d.log()[-4000:]))

    def setUp(self):
        self.t0 = time.monotonic()

    def tearDown(self):
        log("(%s: %.1f s)" % (self.id().rsplit(".", 1)[1], time.monotonic() - self.t0))

    def diag(self, page="a"):
        return "\npage log:\n%s\ndaqd log (tail):\n%s" % (
            "\n".join(self.b.logs(page)[-30:]), self.d.log()[-3000:])

    def state(self, page="a"):
        return self.b.eval(page, STATE)

    def wait_frames(self, page="a", n=2, timeout=10.0, **want):
        """Waits until n more frames were painted (and the painted frame's
        state has the wanted fields); returns that state."""
        s0 = self.state(page) or {}
        seen = s0.get("displayed") or 0
        fn = """(seen, n, want) => {
          if (!window.daqView) return null;
          const s = daqView.state();
          if (!(s.displayed >= seen + n)) return null;
          for (const k in want) if (s[k] !== want[k]) return null;
          return s;
        }"""
        try:
            return self.b.wait(page, fn, seen, n, want, timeout=timeout)
        except chromium.BrowserError as e:
            self.fail("no %d new frames with %r within %.0f s (%s); state %r%s"
                      % (n, want, timeout, e, self.state(page), self.diag(page)))

    def text(self, sel, page="a"):
        return self.b.eval(page, TEXT, sel)

    def frames_lost(self):
        return self.c.get("cam0", "acquisition.frames_lost")


# ---- one page: network, pixels, controls, recording, screenshot ---------------------------

class Page(BrowserCase):
    side, fps, width, height = 1024, 20, 1600, 1000

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.b.open("a", cls.url, width=cls.width, height=cls.height, intercept=True)

    def test_1_nothing_leaves_the_machine(self):
        self.wait_frames(n=3)
        ext = self.b.external()
        self.assertEqual(ext, [], "requests to other hosts: %r" % ext)
        # The page's own files name no other host (the XML namespace URIs of
        # SVG/XHTML are identifiers, never fetched).
        port = self.d.metrics_port
        urls = sorted({u for u in self.b.eval("a", RESOURCES)
                       if u.startswith("http://127.0.0.1:%d/" % port) and "/api/" not in u})
        self.assertTrue(urls, "no page resources seen")
        log("page files: %s" % ", ".join(u.split(str(port), 1)[1] for u in urls))
        namespaces = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xhtml"}
        for u in urls:
            with urllib.request.urlopen(u, timeout=5) as r:
                body = r.read().decode("utf-8", "replace")
                if u.endswith("/"):
                    csp = r.headers.get("Content-Security-Policy", "")
                    self.assertIn("default-src 'self'", csp, "the page's CSP header")
            for m in re.finditer(r"(?i)\b(?:https?|wss?)://[^\s'\"`)<>]*", body):
                if m.group(0).rstrip("/") in namespaces:
                    continue
                try:
                    host = urllib.parse.urlsplit(m.group(0)).hostname
                except ValueError:
                    host = None
                self.assertIn(host, ("127.0.0.1", "localhost", "::1"),
                              "%s names another host: %s" % (u, m.group(0)))

    def check_pixels(self, want_bin, lo, hi, gamma=1, inverted=False):
        s = self.wait_frames(n=2, bin=want_bin)
        w, h = s["width"], s["height"]
        pts = [(1, 1), (w - 1, h - 1), (w // 2, h // 3), (7, 5), (w // 3, 1), (w - 2, 2),
               (3, h - 2), (w // 5, h // 2)]
        r = self.b.eval("a", PIXELS, [list(p) for p in pts])
        s = r["s"]
        self.assertEqual((r["cw"], r["ch"]), (s["width"], s["height"]),
                         "canvas backing store = payload")
        self.assertEqual(s["bin"], want_bin)
        self.assertEqual(s["contrast"]["mode"], "manual")
        self.assertEqual((s["contrast"]["lo"], s["contrast"]["hi"]), (lo, hi))
        self.assertEqual(s["contrast"]["gamma"], gamma)
        self.assertEqual(s["colormap"], "inverted" if inverted else "gray")
        n, b = s["frame_number"], s["bin"]
        self.assertEqual((s["full_width"], s["full_height"]), (self.side, self.side))
        for (i, j), px, raw in zip(pts, r["px"], r["raw"]):
            v = binned(s["x"], s["y"], i, j, b, n)
            self.assertEqual(raw, v, "raw(%d, %d) of frame %d at bin %d" % (i, j, n, b))
            want = gray(v, lo, hi, gamma)
            if inverted:
                want = 255 - want
            self.assertEqual(px[3], 255, "alpha at (%d, %d)" % (i, j))
            self.assertEqual(px[0], px[1], "gray: r = g at (%d, %d)" % (i, j))
            self.assertEqual(px[1], px[2], "gray: g = b at (%d, %d)" % (i, j))
            self.assertLessEqual(abs(px[0] - want), 1,
                                 "canvas (%d, %d) of frame %d bin %d: raw %d -> %d, want %d"
                                 % (i, j, n, b, v, px[0], want))
        return s

    def test_2_pixels_match_the_pattern(self):
        self.wait_frames(n=1)
        # FAST: block means cluster around 32768 (sd ~4700): a window that
        # maps most of them to mid-grays.
        lo, hi = 24000, 42000
        self.b.eval("a", SET, {"contrastMode": "manual", "lo": lo, "hi": hi, "gamma": 1,
                               "colormap": "gray", "mode": "fast", "zoom": 1})
        s = self.check_pixels(4, lo, hi)
        self.assertEqual((s["width"], s["height"]), (self.side // 4, self.side // 4))
        log("FAST: frame %d, %dx%d at bin 4 matches" % (s["frame_number"], s["width"], s["height"]))
        # The same through LZ4 (the page decodes the raw block).
        self.b.eval("a", SET, {"lz4": True})
        ok = wait_for(lambda: any("/frame?" in u and "lz4=1" in u for u in self.b.recent("a")[-3:]),
                      timeout=5)
        self.assertTrue(ok, "no lz4=1 frame request after set({lz4: true})")
        s = self.check_pixels(4, lo, hi)
        log("FAST + LZ4: frame %d matches" % s["frame_number"])
        self.b.eval("a", SET, {"lz4": False})
        # gamma 2 and the inverted map.
        self.b.eval("a", SET, {"gamma": 2, "colormap": "inverted"})
        s = self.check_pixels(4, lo, hi, gamma=2, inverted=True)
        log("FAST, gamma 2, inverted: frame %d matches" % s["frame_number"])
        self.b.eval("a", SET, {"gamma": 1, "colormap": "gray"})
        # bin 1, the whole frame (1024^2 x 2 bytes = 2 MiB), the full range.
        lo, hi = 1000, 64000
        self.b.eval("a", SET, {"mode": "full", "zoom": 1, "contrastMode": "manual", "lo": lo,
                               "hi": hi})
        s = self.check_pixels(1, lo, hi)
        log("FULL: frame %d, %dx%d at bin 1 matches" % (s["frame_number"], s["width"], s["height"]))

    def test_2b_auto_and_percentile_windows(self):
        """auto: lo/hi = min/max of the painted frame; percentile (the
        default 0.1 / 99.9 %): lo/hi at those ranks of its values (half a
        per-mille of slack for the percentile's definition)."""
        for mode in ("auto", "percentile"):
            self.b.eval("a", SET, {"mode": "fast", "zoom": 1, "contrastMode": mode,
                                   "pctLow": 0.1, "pctHigh": 99.9})
            s = self.wait_frames(n=2, bin=4)
            s = self.b.eval("a", STATE)
            self.assertEqual(s["contrast"]["mode"], mode)
            frame = mean_downsample(sim_pattern(self.side, self.side, s["frame_number"]), 4)
            lo, hi = s["contrast"]["lo"], s["contrast"]["hi"]
            if mode == "auto":
                self.assertEqual((lo, hi), (int(frame.min()), int(frame.max())),
                                 "auto window of frame %d" % s["frame_number"])
            else:
                v, n = frame.reshape(-1), frame.size
                below_lo, upto_lo = (v < lo).sum() / n, (v <= lo).sum() / n
                below_hi, upto_hi = (v < hi).sum() / n, (v <= hi).sum() / n
                self.assertTrue(below_lo <= 0.0015 and upto_lo >= 0.0005,
                                "lo %d of frame %d: %.4f %% below, %.4f %% at or below"
                                % (lo, s["frame_number"], 100 * below_lo, 100 * upto_lo))
                self.assertTrue(below_hi <= 0.9995 and upto_hi >= 0.9985,
                                "hi %d of frame %d: %.4f %% below, %.4f %% at or below"
                                % (hi, s["frame_number"], 100 * below_hi, 100 * upto_hi))
            log("%s: window %d..%d of frame %d" % (mode, lo, hi, s["frame_number"]))

    def test_3_zoomed_readout_is_the_raw_value(self):
        fx, fy = 700, 300
        self.b.eval("a", SET, {"mode": "full", "zoom": 4, "center": [fx, fy]})
        s = wait_for(lambda: (lambda s: s if s and s["bin"] == 1 and s["width"] < self.side
                              and s["x"] <= fx < s["x"] + s["width"]
                              and s["y"] <= fy < s["y"] + s["height"] else None)(self.state()),
                     timeout=10)
        self.assertTrue(s, "no zoomed bin-1 crop around (%d, %d): %r%s"
                        % (fx, fy, self.state(), self.diag()))
        log("zoom 4: crop %dx%d at (%d, %d)" % (s["width"], s["height"], s["x"], s["y"]))
        r = self.b.eval("a", """(pts) => ({s: daqView.state(),
                                 v: pts.map(([x, y]) => daqView.valueAt(x, y))})""",
                        [[fx, fy], [fx + 3, fy + 2], [s["x"], max(1, s["y"])]])
        for (x, y), v in zip([(fx, fy), (fx + 3, fy + 2), (s["x"], max(1, s["y"]))], r["v"]):
            self.assertEqual(v, sim_pixel(x, y, r["s"]["frame_number"]),
                             "valueAt(%d, %d) of frame %d" % (x, y, r["s"]["frame_number"]))
        self.assertIsNone(self.b.eval("a", "() => daqView.valueAt(-1, 5)"))
        # The crosshair: click the image where full-resolution (fx, fy) is drawn.
        self.b.select("a", "#tool", "crosshair")
        rect = self.b.eval("a", RECT, "#image")
        px = rect["left"] + (fx - s["x"] + 0.5) * rect["width"] / s["width"]
        py = rect["top"] + (fy - s["y"] + 0.5) * rect["height"] / s["height"]
        self.b.mouse_click("a", px, py)
        got = None
        for _ in range(40):
            r = self.b.eval("a", "(sel) => ({t: document.querySelector(sel).textContent,"
                                 " s: daqView.state()})", "#readout")
            m = re.search(r"x=\s*(\d+),\s*y=\s*(\d+),\s*value=\s*(-?\d+)", r["t"] or "")
            if m:
                got = tuple(int(g) for g in m.groups())
                if r["s"]["bin"] == 1 and got[2] == sim_pixel(got[0], got[1], r["s"]["frame_number"]):
                    break
            time.sleep(0.05)
        self.assertIsNotNone(got, "no readout after a click at (%.0f, %.0f): %r" % (px, py, r))
        x, y, v = got
        self.assertLessEqual(abs(x - fx), 1, "readout x %d for a click on %d" % (x, fx))
        self.assertLessEqual(abs(y - fy), 1, "readout y %d for a click on %d" % (y, fy))
        self.assertEqual(v, sim_pixel(x, y, r["s"]["frame_number"]),
                         "readout %r of frame %d" % (r["t"], r["s"]["frame_number"]))
        log("readout %r = pattern of frame %d" % (r["t"], r["s"]["frame_number"]))
        self.b.eval("a", SET, {"mode": "fast", "zoom": 1})

    def test_4_counters_move(self):
        self.wait_frames(n=2)
        ids = ("#fps-camera", "#fps-delivered", "#fps-displayed", "#frame-number")
        first = {k: self.text(k) for k in ids}
        s0 = self.state()
        time.sleep(1.5)
        second = {k: self.text(k) for k in ids}
        s1 = self.state()
        log("counters: %r -> %r" % (first, second))
        for k in ("#fps-camera", "#fps-delivered", "#fps-displayed"):
            self.assertGreater(number(second[k]) or 0, 0, "%s shows %r" % (k, second[k]))
        self.assertGreater(number(second["#frame-number"]), number(first["#frame-number"]))
        self.assertGreater(s1["displayed"], s0["displayed"])
        self.assertGreater(s1["fps"]["displayed"], 0)
        self.assertGreater(s1["fps"]["camera"], 0)
        self.assertLessEqual(abs(s1["fps"]["camera"] - self.fps), self.fps * 0.2,
                             "camera fps %r for a %d FPS camera" % (s1["fps"]["camera"], self.fps))
        self.assertGreater(s1["frame_number"], s0["frame_number"])

    def test_5_exposure_from_the_page(self):
        self.assertEqual(self.c.exposure("cam0"), 2.0)
        self.b.type("a", "#exposure", "7.5")
        self.b.click("a", "#exposure-set")
        got = wait_for(lambda: self.c.exposure("cam0") == 7.5, timeout=5)
        self.assertTrue(got, "GetExposure says %r after #exposure-set 7.5; #message %r%s"
                        % (self.c.exposure("cam0"), self.text("#message"), self.diag()))

    def test_6_recording_from_the_page(self):
        self.b.type("a", "#rec-name", "from_the_page")
        self.b.click("a", "#rec-start")
        pb = stubs().daq
        st = stubs().daq_grpc.StorageServiceStub(self.c.channel)
        ACTIVE = 2
        ok = wait_for(lambda: st.GetRecordingStatus(pb.GetRecordingStatusRequest(),
                                                    timeout=5).state == ACTIVE, timeout=5)
        self.assertTrue(ok, "no recording after #rec-start: #rec-status %r #message %r%s"
                        % (self.text("#rec-status"), self.text("#message"), self.diag()))
        time.sleep(1.2)
        self.b.click("a", "#rec-stop")
        IDLE, ERROR = 1, 5
        ok = wait_for(lambda: st.GetRecordingStatus(pb.GetRecordingStatusRequest(),
                                                    timeout=5).state in (IDLE, ERROR), timeout=10)
        status = st.GetRecordingStatus(pb.GetRecordingStatusRequest(), timeout=5)
        self.assertTrue(ok and status.state == IDLE,
                        "recording not stopped after #rec-stop: %s #rec-status %r #message %r%s"
                        % (status, self.text("#rec-status"), self.text("#message"), self.diag()))
        acqs = wait_for(lambda: [a for a in st.ListAcquisitions(pb.ListAcquisitionsRequest(),
                                                                timeout=5).acquisitions
                                 if a.name == "from_the_page" and a.sample_count > 0], timeout=10)
        self.assertEqual(len(acqs), 1, "acquisitions: %r" % acqs)
        a = acqs[0]
        self.assertTrue(os.path.realpath(a.file_path).startswith(os.path.realpath(self.root)))
        with h5py.File(a.file_path, "r") as f:
            data = f["entry/cam0/data"]
            fn = f["entry/cam0/frame_number"][...]
            self.assertEqual(data.shape, (a.sample_count, self.side, self.side))
            self.assertEqual(data.dtype, np.dtype("<u2"))
            self.assertEqual(len(fn), a.sample_count)
            # ~1.2 s at 20 FPS, with the page's and the daemon's latencies.
            self.assertGreaterEqual(a.sample_count, 10)
            self.assertLessEqual(a.sample_count, 60)
            for k in (0, a.sample_count - 1):
                self.assertTrue(np.array_equal(data[k], sim_pattern(self.side, self.side, int(fn[k]))),
                                "recorded frame %d (number %d) is not the pattern" % (k, fn[k]))
        log("recording: %s, %d frames of %dx%d" % (a.file_path, a.sample_count, self.side, self.side))
        base = os.path.basename(a.file_path)
        ok = wait_for(lambda: base in (self.text("#rec-status") or ""), timeout=5)
        self.assertTrue(ok, "#rec-status %r does not name %s" % (self.text("#rec-status"), base))

    def test_7_screenshot(self):
        self.b.eval("a", SET, {"mode": "fast", "zoom": 1, "contrastMode": "percentile"})
        self.wait_frames(n=3, bin=4)
        path = os.path.join(BUILD, "view-screenshot.png")
        self.b.screenshot("a", path)
        print("screenshot: %s" % path, flush=True)
        with open(path, "rb") as f:
            data = f.read()
        chunks = list(png_check.chunks(data))  # signature, every CRC, IEND
        self.assertEqual(chunks[0][0], b"IHDR")
        w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        self.assertEqual((w, h), (self.width, self.height))
        depth, ctype = data[24], data[25]
        self.assertEqual(depth, 8)
        rows = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
        self.assertEqual(len(rows), h * (1 + w * png_check.CHANNELS[ctype]), "IDAT size")
        # The image area shows a frame: a 200x200 clip of its middle (the
        # whole 1600x1000 PNG takes png_check ~5 s to decode).
        rect = self.b.eval("a", RECT, "#image")
        clip = {"x": rect["left"] + rect["width"] / 2 - 100, "y": rect["top"] + rect["height"] / 2 - 100,
                "width": 200, "height": 200}
        self.assertGreater(min(rect["width"], rect["height"]), 200, "the image is drawn: %r" % rect)
        part = os.path.join(BUILD, "view-screenshot-image.png")
        self.b.screenshot("a", part, clip=clip)
        w, h, pixels = png_check.read(part)
        self.assertEqual((w, h), (200, 200))
        values = {px for row in pixels for px in row}
        self.assertGreater(len(values), 50, "the image area of the screenshot is flat: no frame")
        os.unlink(part)

    def test_8_stop_from_the_page(self):
        self.assertTrue(self.c.device_state("cam0").streaming)
        self.b.click("a", "#btn-stop")
        ok = wait_for(lambda: not self.c.device_state("cam0").streaming, timeout=5)
        self.assertTrue(ok, "GetDeviceState still streaming after #btn-stop; #message %r%s"
                        % (self.text("#message"), self.diag()))
        ok = wait_for(lambda: self.state()["streaming"] is False, timeout=5)
        self.assertTrue(ok, "the page does not say stopped: %r" % self.state())
        self.b.click("a", "#btn-start")
        ok = wait_for(lambda: self.c.device_state("cam0").streaming, timeout=5)
        self.assertTrue(ok, "#btn-start did not start the camera%s" % self.diag())
        self.wait_frames(n=2)

    def test_9_triggered_frames_show_their_trigger(self):
        # issue 15: a software-triggered camera's frames carry their trigger
        # index to the page (header offset 116) and the info bar shows it
        hidden = "() => document.querySelector('#frame-trigger').hidden"
        self.assertIs(self.b.eval("a", hidden), True)  # free-running: no trigger shown
        self.c.stop_stream("cam0")  # the mode is fixed while streaming
        self.c.set("cam0", "trigger.mode", "software")
        try:
            self.assertTrue(self.c.arm("cam0"))
            for i in range(1, 4):
                self.assertTrue(self.c.trigger("cam0").success)
                self.wait_frames(n=1, trigger_index=i)
            self.assertEqual(self.text("#trigger-index"), "3")
            self.assertIs(self.b.eval("a", hidden), False)
            s = self.state()
            self.assertGreater(int(s["exposure_start_ns"]), 0)
        finally:
            self.c.stop_stream("cam0")
            self.c.set("cam0", "trigger.mode", "internal")
            self.c.start_stream("cam0")


# ---- three viewers, one of them throttled ----------------------------------------------------

class Viewers(BrowserCase):
    side, fps = 2048, 100
    WINDOW = 3.0
    VIEWER_FPS = 8   # the unthrottled viewers' max fps
    KEEP = 0.75      # the unthrottled viewers keep >= 75 % of their fps
    SLOWER = 0.6     # the throttled one draws < 60 % of its own fps before

    def sample(self, pages):
        """(monotonic time, value) of the status and each page's displayed
        count, each timed at its own reading (a reading through the browser
        takes ~10-100 ms under load)."""
        out = {}
        t = time.monotonic()
        st = http_json(self.d.metrics_port, "/api/view/cam0/status")
        out["status"] = ((t + time.monotonic()) / 2, st)
        for p in pages:
            t = time.monotonic()
            v = self.state(p)["displayed"]
            out[p] = ((t + time.monotonic()) / 2, v)
        return out

    def measure(self, pages):
        """Displayed fps per page and the camera's delivered fps over WINDOW."""
        a = self.sample(pages)
        time.sleep(self.WINDOW)
        b = self.sample(pages)

        def rate(k, f=lambda v: v):
            return (f(b[k][1]) - f(a[k][1])) / (b[k][0] - a[k][0])
        return ({p: rate(p) for p in pages}, rate("status", lambda st: st["frames_delivered"]),
                b["status"][1])

    def test_three_viewers_and_a_frozen_one(self):
        pages = ("a", "b", "c")
        for p in pages:
            self.b.open(p, self.url, width=800, height=600, intercept=False)
        # a and b at 8 fps, a rate this box sustains with its other work
        # (their verdict: they keep it); c at the default 30 (its verdict:
        # it slows down when throttled).
        for p in ("a", "b"):
            self.b.eval(p, SET, {"maxFps": self.VIEWER_FPS})
        for p in pages:
            self.wait_frames(p, n=5, timeout=15)
        # The fps verdicts compare two 3 s windows on a shared 2-core box:
        # a second pair of windows when the first misses (the camera and
        # loss verdicts hold in every window; a real slow-down fails twice).
        for attempt in (1, 2):
            before, after = self.before_and_throttled(pages)
            keep = all(after[p] >= before[p] * self.KEEP for p in ("a", "b"))
            slower = after["c"] < before["c"] * self.SLOWER
            if keep and slower:
                break
            log("attempt %d: fps verdicts missed (load average %s)" % (attempt, os.getloadavg()))
        for p in ("a", "b"):
            self.assertGreaterEqual(after[p], before[p] * self.KEEP,
                                    "viewer %s: %.1f fps before, %.1f with c throttled"
                                    % (p, before[p], after[p]))
        self.assertLess(after["c"], before["c"] * self.SLOWER,
                        "the throttle did not act: c %.1f -> %.1f fps" % (before["c"], after["c"]))

    def before_and_throttled(self, pages):
        before, cam_before, st = self.measure(pages)
        lost = self.frames_lost()
        log("before: displayed fps %s, camera %.1f fps (status camera_fps %s), lost %s / %s"
            % ({p: round(v, 1) for p, v in before.items()}, cam_before, st["camera_fps"], lost,
               st["frames_lost"]))
        self.assertEqual(lost, 0, "acquisition.frames_lost with three viewers")
        self.assertEqual(st["frames_lost"], 0)
        self.assertEqual(st["view"]["viewers"], 3)
        self.assertGreater(cam_before, self.fps * 0.95)
        for p in pages:
            self.assertGreater(before[p], 2, "viewer %s draws %.1f fps" % (p, before[p]))
        self.b.throttle("c", 20)
        try:
            time.sleep(1.0)
            after, cam_after, st = self.measure(pages)
        finally:
            self.b.throttle("c", 1)
        lost = self.frames_lost()
        log("c throttled 20x: displayed fps %s, camera %.1f fps (status camera_fps %s), lost %s / %s"
            % ({p: round(v, 1) for p, v in after.items()}, cam_after, st["camera_fps"], lost,
               st["frames_lost"]))
        self.assertEqual(lost, 0, "acquisition.frames_lost with a throttled viewer")
        self.assertEqual(st["frames_lost"], 0)
        self.assertGreater(cam_after, self.fps * 0.95, "the camera slowed down")
        self.assertGreater(st["camera_fps"], self.fps * 0.95)
        time.sleep(0.5)
        return before, after


# ---- authentication ---------------------------------------------------------------------------

class Auth(BrowserCase):
    side, fps, auth = 256, 20, True

    def test_login(self):
        self.b.open("a", self.url, intercept=True)
        try:
            self.b.wait("a", VISIBLE, "#login", timeout=10)
        except chromium.BrowserError:
            self.fail("no #login shown without a token%s" % self.diag())
        time.sleep(1.5)
        s = self.state()
        self.assertEqual(s["displayed"], 0, "frames drawn without a token: %r" % s)
        self.assertFalse(s["logged_in"])
        reqs = self.b.requests("a")
        ok_frames = {k: v for k, v in reqs.items() if "/frame" in k and k.endswith(" 200")}
        self.assertEqual(ok_frames, {}, "frame requests answered 200 without a token: %r" % reqs)
        self.assertTrue(any(k.endswith(" 401") for k in reqs), "no 401 seen: %r" % reqs)
        # A wrong token: refused, said so.
        self.b.type("a", "#token", "not-" + TOKEN)
        self.b.click("a", "#login-btn")
        try:
            self.b.wait("a", "(sel) => /wrong token/.test(document.querySelector(sel).textContent)",
                        "#login-error", timeout=5)
        except chromium.BrowserError:
            self.fail("#login-error %r after a wrong token" % self.text("#login-error"))
        self.assertEqual(self.state()["displayed"], 0)
        # The right one: frames.
        self.b.type("a", "#token", TOKEN)
        self.b.click("a", "#login-btn")
        s = self.wait_frames(n=3, timeout=10)
        self.assertTrue(s["logged_in"])
        self.assertFalse(self.b.eval("a", VISIBLE, "#login"), "#login still shown after login")
        reqs = self.b.requests("a")
        self.assertTrue(any("/frame" in k and k.endswith(" 200") for k in reqs), reqs)
        # Never in the URL nor a cookie.
        where = self.b.eval("a", "() => ({url: location.href, cookie: document.cookie})")
        self.assertNotIn(TOKEN, json.dumps(where))
        log("auth: login shown, 0 frames without the token; %d drawn with it" % s["displayed"])


def main():
    global DAQD, BUILD, MODULES
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    why = chromium.missing()
    if why:
        print("SKIP: " + why)
        return chromium.SKIP
    DAQD, BUILD = sys.argv[1], os.path.abspath(sys.argv[2])
    MODULES = chromium.install(BUILD)
    names = sys.argv[3:] or ["Page", "Viewers", "Auth"]
    suite = unittest.TestSuite(unittest.defaultTestLoader.loadTestsFromTestCase(globals()[n])
                               for n in names)
    ok = unittest.TextTestRunner(verbosity=2, stream=sys.stderr).run(suite).wasSuccessful()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
