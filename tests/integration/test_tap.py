#!/usr/bin/python3
"""tests/integration/test_tap.py - issue 16's acceptance: the zero-copy tap
read by daq_client.tap.TapReader against a real daqd (ADR 0012, docs/tap.md).

Each class is one ctest entry (tests/tap/daemon.cmake) and starts its own
daemon with a sim camera, a [storage] root in /dev/shm and [tap] on, its
socket in the test's temp dir.

  Frames1000   1,000 consecutive frames of 512x512x16 at 250 FPS (4 s):
               every pixel equal to the sim pattern, hw frame numbers and
               sequences continuous, 0 dropped, every array a read-only view
               whose data address is the mapping's + the frame's offset (no
               copy), each lease released (the daemon counts exactly 1,000
               RELEASEs), and after close the pool and readers are back.
  Killed       a reader process holding 8 leases is SIGKILLed: within 1 s
               daq_pool_slots_in_use is back at its level, daq_tap_readers
               0, and the acquisition lost 0 frames.
  Stalled      a reader holds its 4 leases and never reads again: its
               lease_cap drops count up (one per frame), the pool never
               misses, and meanwhile a StreamFrames stream keeps getting
               frames and a 3 s recording has every frame (continuous frame
               numbers, frames_dropped 0).
  NotAllowed   [tap] allowed_uids = [not ours]: ERROR NOT_ALLOWED with its
               contract text, through TapReader and through a raw socket
               that shows no fd ever came (no ancillary data), then EOF.
  ReadOnly     a reader process writing into a frame through ctypes dies of
               SIGSEGV; daqd streams on and /healthz says ok; in numpy the
               array is not writable and a store raises ValueError.
  Heavy        three reader processes (lease cap 16) + a StreamFrames
               stream + a 200-frame recording on 2048x2048x16 at 100 FPS
               (8 MiB frames) for 5 s: acquisition loss 0, each reader
               >= 95 % of the frames sent while it counted, every one valid
               and equal to the pattern on the row it reads, the recording
               complete (200 frames, continuous, frames_dropped 0).  The
               readers count from the parent's "go" (all mapped: a reader's
               first MAP prefaults the whole arena).

Reader processes are this file run as `test_tap.py --reader MODE SOCKET`.

usage: test_tap.py DAQD [TestClass ...]
"""
import ctypes
import json
import mmap
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python"))
sys.path.insert(0, HERE)
import numpy as np  # noqa: E402
from daq_client import sim_pattern  # noqa: E402
from daq_client.tap import NOT_ALLOWED, TapError, TapReader  # noqa: E402
from daqd_harness import Daemon, wait_for  # noqa: E402

DAQD = None
PY = "/usr/bin/python3"
DEVICE = "cam0"


def log(msg):
    print("    " + msg, file=sys.stderr, flush=True)


def metrics(d):
    """[(name, labels dict, value)] of daqd's /metrics."""
    from prometheus_client.parser import text_string_to_metric_families
    out = []
    for fam in text_string_to_metric_families(d.get("/metrics")[1]):
        for s in fam.samples:
            out.append((s.name, s.labels, s.value))
    return out


def metric(d, name, **labels):
    """Sum of name's samples matching labels; KeyError when there is none."""
    return pick(metrics(d), name, **labels)


def pick(snapshot, name, **labels):
    """metric() on one metrics() snapshot: figures read at the same time."""
    vals = [v for n, lab, v in snapshot
            if n == name and all(lab.get(k) == str(x) for k, x in labels.items())]
    if not vals:
        raise KeyError("%s%s not on /metrics" % (name, labels or ""))
    return int(sum(vals))


def config(tmp, side, fps, exposure_ms, tap_extra="", max_readers=8, max_lease_cap=64,
           max_buffer_mb=256):
    return """
[[devices]]
id = "%s"
name = "Simulated camera"
autostart = true
[devices.driver]
type = "sim"
width = %d
height = %d
frame_rate_hz = %.1f
exposure_ms = %.1f

[storage]
root = "%s"
compression = "none"
max_buffer_mb = %d

[tap]
enabled = true
path = "%s"
max_readers = %d
max_lease_cap = %d
lease_timeout_ms = 0
%s
""" % (DEVICE, side, side, fps, exposure_ms, os.path.join(tmp, "rec"), max_buffer_mb,
       os.path.join(tmp, "tap.sock"), max_readers, max_lease_cap, tap_extra)


def stamp(n, w, h):
    """The 16 bytes the sim writes at the start of frame n (sim_pattern's)."""
    return (n.to_bytes(8, "little") + (0x53514144).to_bytes(4, "little")
            + (((n * 2654435761) & 0xFFFFFFFF) ^ w ^ (h << 16) & 0xFFFFFFFF).to_bytes(4, "little"))


class SimCheck:
    """Every pixel of a frame against the sim pattern: apart from its 16-byte
    stamp, frame n equals frame n % 4's pattern, so four are computed once."""

    def __init__(self, w, h):
        self.w, self.h = w, h
        self.base = [sim_pattern(w, h, k) for k in range(4)]

    def matches(self, img, n):
        b = self.base[n % 4]
        return (img.shape == b.shape and np.array_equal(img[1:], b[1:])
                and np.array_equal(img[0, 8:], b[0, 8:])
                and img[0, :8].tobytes() == stamp(n, self.w, self.h))


class Base(unittest.TestCase):
    # 250 FPS: a reader's 64 leases are 256 ms of slack against a busy host
    side, fps, exposure_ms, tap_extra = 512, 250, 1.0, ""
    max_readers, max_lease_cap, max_buffer_mb = 8, 64, 256
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="daq-tap-", dir="/dev/shm")
        cls.sock = os.path.join(cls.tmp, "tap.sock")
        try:
            cls.d = Daemon(DAQD, config(cls.tmp, cls.side, cls.fps, cls.exposure_ms,
                                        cls.tap_extra, cls.max_readers, cls.max_lease_cap,
                                        cls.max_buffer_mb),
                           name="tap").start()
        except BaseException:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise
        cls.addr = "127.0.0.1:%d" % cls.d.grpc_port
        ok = wait_for(lambda: cls.delivered() > 10, 10.0)
        if not ok:
            cls.d.kill()
            raise AssertionError("the sim camera does not stream:\n" + cls.d.log())

    @classmethod
    def delivered(cls):
        try:
            return metric(cls.d, "daq_acquisition_frames_delivered_total", device=DEVICE)
        except KeyError:
            return 0

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.d.proc.poll() is None:
                cls.d.signal(signal.SIGTERM)
                code, _ = cls.d.wait(30)
                if code != 0:
                    raise AssertionError("daqd exited %d\n%s" % (code, cls.d.log()[-4000:]))
        finally:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def m(self, name, **labels):
        return metric(self.d, name, **labels)

    def in_use(self):
        return self.m("daq_pool_slots_in_use", device=DEVICE)

    def in_use_level(self, samples=20):
        """The most slots out while nothing but the camera runs (a frame being
        filled, one being published)."""
        lv = 0
        for _ in range(samples):
            lv = max(lv, self.in_use())
            time.sleep(0.01)
        return lv

    def assert_no_loss(self):
        self.assertEqual(self.m("daq_acquisition_frames_lost_total", device=DEVICE), 0)
        self.assertEqual(self.m("daq_acquisition_alloc_dropped_frames_total", device=DEVICE), 0)
        self.assertEqual(self.m("daq_acquisition_heap_fallbacks_total", device=DEVICE), 0)
        self.assertEqual(self.m("daq_pool_misses_total", device=DEVICE), 0)

    def reader_proc(self, mode, *args):
        p = subprocess.Popen([PY, os.path.abspath(__file__), "--reader", mode, self.sock]
                             + [str(a) for a in args], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: p.poll() is None and (p.kill(), p.wait()))
        return p


# ---- a. 1,000 frames equal to the sim pattern, no copy ---------------------------------

class Frames1000(Base):
    def test_1000_frames_views_of_the_pool(self):
        chk = SimCheck(self.side, self.side)
        level = self.in_use_level()
        bad, gaps, last, first = [], 0, None, None
        with TapReader(self.sock, device=DEVICE, lease_cap=64, queue_depth=64) as tap:
            w = tap.welcome
            self.assertEqual((w["device"], w["lease_cap"], w["queue_depth"], w["format"]),
                             (DEVICE, 64, 64, "daq-slots-v1"))
            self.assertEqual(w["daemon_pid"], self.d.proc.pid)
            rid = w["reader_id"]
            t0 = time.monotonic()
            for i in range(1000):
                with tap.next(timeout=2.0) as f:
                    a = f.array
                    if i == 0:
                        first = (f.sequence, f.hw_frame_number)
                        self.assertIsInstance(a.base, mmap.mmap)
                        self.assertEqual(a.dtype, np.dtype("<u2"))
                        self.assertEqual((f.width, f.height, f.stride_bytes, f.bit_depth),
                                         (self.side, self.side, 2 * self.side, 16))
                    # a view over the mapping at the frame's offset: no copy
                    self.assertFalse(a.flags.writeable)
                    self.assertFalse(a.flags.owndata)
                    whole = np.frombuffer(a.base, np.uint8)
                    self.assertTrue(np.shares_memory(a, whole))
                    self.assertEqual(a.__array_interface__["data"][0],
                                     whole.__array_interface__["data"][0] + f.offset)
                    if not chk.matches(a, f.hw_frame_number) or not f.valid():
                        bad.append(f.hw_frame_number)
                    if last is not None and (f.hw_frame_number, f.sequence) != (last[0] + 1,
                                                                                last[1] + 1):
                        gaps += 1
                    last = (f.hw_frame_number, f.sequence)
                    self.assertEqual(f.dropped, 0)
                self.assertEqual(tap.leases_held, 0)  # released at the with's end
            took = time.monotonic() - t0
            tap.flush()
            # the daemon saw exactly the 1,000 RELEASEs; it holds what it sent since
            self.assertTrue(wait_for(lambda: self.m("daq_tap_releases_total", reader=rid) == 1000,
                                     2.0), self.m("daq_tap_releases_total", reader=rid))
            ms = metrics(self.d)
            sent = pick(ms, "daq_tap_frames_sent_total", reader=rid)
            self.assertEqual(pick(ms, "daq_tap_leases_held", reader=rid), sent - 1000)
            self.assertEqual(self.m("daq_tap_drops_total", reader=rid), 0)
            self.assertEqual(self.m("daq_tap_readers"), 1)
        self.assertEqual(bad, [], "frames differing from the sim pattern (or revoked)")
        self.assertEqual(gaps, 0)
        self.assertEqual(last[0] - first[1], 999)
        self.assertTrue(wait_for(lambda: self.m("daq_tap_readers") == 0, 2.0))
        self.assertTrue(wait_for(lambda: self.in_use() <= level, 2.0))
        self.assert_no_loss()
        log("1000 frames %d..%d in %.2f s, all equal to the pattern, %d sent"
            % (first[1], last[0], took, sent))


# ---- b. a reader killed while holding leases --------------------------------------------

class Killed(Base):
    def test_sigkill_returns_the_leases_within_1s(self):
        level = self.in_use_level()
        p = self.reader_proc("hold", 8)
        line = p.stdout.readline()
        if not line.startswith("held 8 "):
            self.fail(line + p.stderr.read())
        rid = int(line.split()[2])
        self.assertEqual(self.m("daq_tap_leases_held", reader=rid, pid=p.pid), 8)
        self.assertEqual(self.m("daq_tap_readers"), 1)
        self.assertGreaterEqual(self.in_use(), 8)
        lost0 = self.m("daq_acquisition_frames_lost_total", device=DEVICE)
        p.kill()
        t0 = time.monotonic()
        back = wait_for(lambda: self.m("daq_tap_readers") == 0 and self.in_use() <= level,
                        1.0, 0.01)
        took = time.monotonic() - t0
        self.assertTrue(back, "after 1 s: %d readers, %d slots in use (level %d)"
                        % (self.m("daq_tap_readers"), self.in_use(), level))
        self.assertLess(took, 1.0)
        self.assertEqual(p.wait(5), -signal.SIGKILL)
        self.assertEqual(self.m("daq_tap_disconnects_total"), 1)
        self.assertEqual(lost0, 0)
        self.assert_no_loss()
        log("killed reader's 8 leases back in %.0f ms" % (took * 1000))


# ---- c. a reader that stops reading -------------------------------------------------------

class Stalled(Base):
    def test_stalled_reader_costs_nobody(self):
        from daq_client import Client
        c = Client(self.addr, timeout=30.0)
        self.addCleanup(c.close)
        tap = TapReader(self.sock, device=DEVICE, lease_cap=4)
        self.addCleanup(tap.close)
        rid = tap.welcome["reader_id"]
        held = [tap.next(2.0) for _ in range(4)]  # held, never released, no next()
        self.assertNotIn(None, held)
        time.sleep(0.2)
        self.assertEqual(self.m("daq_tap_leases_held", reader=rid), 4)
        drops0 = self.m("daq_tap_drops_total", reader=rid, reason="lease_cap")

        got, arrivals = [], []
        call = c.frame_stream(DEVICE)

        def watch():
            import grpc
            try:
                for msg in call:
                    got.append(msg.frame_number)
                    arrivals.append(time.monotonic())
            except grpc.RpcError:
                pass
        t = threading.Thread(target=watch, daemon=True)
        t.start()
        self.assertTrue(wait_for(lambda: len(got) > 0, 5.0), "the stream got no frame")
        d0 = self.delivered()
        t0 = time.monotonic()
        rec = c.record("stalled_tap", devices=DEVICE)
        time.sleep(3.0)
        stop = c.stop_recording(rec["recording_id"])
        d1, t1 = self.delivered(), time.monotonic()
        time.sleep(0.3)
        call.cancel()
        t.join(10)

        drops = self.m("daq_tap_drops_total", reader=rid, reason="lease_cap") - drops0
        self.assertEqual(self.m("daq_tap_leases_held", reader=rid), 4)
        self.assertEqual(self.m("daq_tap_frames_sent_total", reader=rid), 4)
        # every frame since the reader stalled was dropped for it, none waited
        self.assertGreaterEqual(drops, d1 - d0)
        self.assertEqual(self.m("daq_tap_drops_total", reader=rid, reason="socket_full"), 0)
        self.assertEqual(self.m("daq_tap_drops_total", reader=rid, reason="unshareable"), 0)
        self.assert_no_loss()
        # the stream: frames all along (no gap over 0.5 s while recording)
        during = [a for a in arrivals if t0 <= a <= t1]
        self.assertGreater(len(during), 0.5 * self.fps * (t1 - t0),
                           "%d stream frames in %.1f s" % (len(during), t1 - t0))
        self.assertLess(max(np.diff(during)), 0.5)
        # the recording: every frame from its first to its last, none dropped
        import h5py
        with h5py.File(stop["output_path"], "r") as f:
            g = f["entry"][DEVICE]
            fn = g["frame_number"][...].astype(np.int64)
            n = g["data"].shape[0]
            self.assertEqual(int(g.attrs["frames_dropped"]), 0)
        self.assertEqual(n, stop["total_samples"])
        self.assertEqual(len(fn), n)
        self.assertTrue(np.all(np.diff(fn) == 1), "recorded frame numbers not continuous")
        self.assertGreater(n, 0.9 * self.fps * 3.0)
        for f in held:
            f.release()
        tap.flush()  # (the daemon then sends it new frames at once: not counted here)
        self.assertTrue(wait_for(lambda: self.m("daq_tap_releases_total", reader=rid) == 4, 2.0))
        tap.close()
        self.assertTrue(wait_for(lambda: self.m("daq_tap_readers") == 0, 2.0))
        log("stalled reader: %d drops; stream %d frames; recording %d frames, 0 dropped"
            % (drops, len(got), n))


# ---- d. a peer that is not allowed --------------------------------------------------------

OTHER_UID = (os.getuid() + 4242) % 65534 or 4242


class NotAllowed(Base):
    side, fps, exposure_ms = 32, 100, 1.0
    tap_extra = "allowed_uids = [%d]\n" % OTHER_UID

    def expected_text(self, pid):
        return ("tap: uid %d gid %d (pid %d) is not allowed (allowed uids: %d; gids: none)"
                % (os.geteuid(), os.getegid(), pid, OTHER_UID))

    def test_refused_before_any_fd(self):
        with self.assertRaises(TapError) as e:
            TapReader(self.sock, device=DEVICE)
        self.assertEqual(e.exception.code, NOT_ALLOWED)
        self.assertEqual(e.exception.message, self.expected_text(os.getpid()))
        # raw: whatever comes carries no ancillary data (no SCM_RIGHTS), then EOF
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.settimeout(5.0)
        s.connect(self.sock)
        hello = struct.pack("<IHH64sIIIIdII", 0x50415444, 1, 1, DEVICE.encode(), 0, 0, 0, 0,
                            0.0, 0, 0)
        try:
            s.send(hello)
        except OSError:
            pass  # closed on before the HELLO: the ERROR is queued all the same
        msg, anc, flags, _ = s.recvmsg(512, socket.CMSG_SPACE(64 * 4))
        self.assertEqual(anc, [])
        self.assertEqual(flags & socket.MSG_CTRUNC, 0)
        self.assertEqual(len(msg), 256)
        magic, version, typ, code = struct.unpack_from("<IHHI", msg)
        self.assertEqual((magic, version, typ, code), (0x50415444, 1, 9, NOT_ALLOWED))
        self.assertEqual(msg[16:].split(b"\0")[0].decode(), self.expected_text(os.getpid()))
        rest, anc, _, _ = s.recvmsg(512, socket.CMSG_SPACE(64 * 4))
        self.assertEqual((rest, anc), (b"", []))
        s.close()
        self.assertTrue(wait_for(lambda: self.m("daq_tap_connections_total",
                                                outcome="refused_not_allowed") == 2, 2.0))
        self.assertEqual(self.m("daq_tap_connections_total", outcome="accepted"), 0)
        self.assertEqual(self.m("daq_tap_readers"), 0)


# ---- e. a reader cannot write into the pool ---------------------------------------------

class ReadOnly(Base):
    side, fps, exposure_ms = 256, 200, 1.0

    def test_write_faults_in_the_reader(self):
        with TapReader(self.sock, device=DEVICE) as tap:
            with tap.next(2.0) as f:
                a = f.array
                self.assertFalse(a.flags.writeable)
                with self.assertRaises(ValueError):
                    a[0, 0] = 1
                with self.assertRaises(ValueError):
                    a.setflags(write=True)
                with self.assertRaises(TypeError):  # a read-only mapping
                    f._pool.arena[0] = 1
        p = self.reader_proc("write")
        out, err = p.communicate(timeout=30)
        self.assertIn("writing at ", out)
        self.assertNotIn("wrote", out)
        self.assertEqual(p.returncode, -signal.SIGSEGV, err)
        self.assertIsNone(self.d.proc.poll(), "daqd died")
        self.assertEqual(self.d.get("/healthz")[0], 200)
        n0 = self.delivered()
        self.assertTrue(wait_for(lambda: self.delivered() > n0 + 20, 2.0), "daqd stopped streaming")
        self.assertTrue(wait_for(lambda: self.m("daq_tap_readers") == 0, 2.0))
        with TapReader(self.sock, device=DEVICE) as tap:  # and it still serves the tap
            with tap.next(2.0) as f:
                self.assertTrue(SimCheck(self.side, self.side).matches(f.array, f.hw_frame_number))
        self.assert_no_loss()


# ---- f. three readers + a stream + a recording at 100 FPS of 8 MiB ----------------------

class Heavy(Base):
    side, fps, exposure_ms = 2048, 100, 2.0
    # the pool grows by max_readers * (max_lease_cap + 1) slots of 8 MiB
    max_readers, max_lease_cap = 4, 16
    # 1 GiB of recorder queue (128 frames): on 2 cores shared by the daemon,
    # 3 readers and a gRPC client the writer to /dev/shm stalls now and then
    max_buffer_mb = 1024
    SECONDS = 5.0

    def test_three_readers_stream_and_recording(self):
        from daq_client import Client
        c = Client(self.addr, timeout=60.0)
        self.addCleanup(c.close)
        procs = [self.reader_proc("count", self.SECONDS) for _ in range(3)]
        for p in procs:
            line = p.stdout.readline()
            if line.strip() != "ready":
                self.fail(line + p.stderr.read())
        for p in procs:  # all mapped and reading: count from now
            p.stdin.write("go\n")
            p.stdin.flush()
        call = c.frame_stream(DEVICE)
        streamed = []

        def watch():
            import grpc
            try:
                for msg in call:
                    streamed.append(msg.frame_number)
            except grpc.RpcError:
                pass
        t = threading.Thread(target=watch, daemon=True)
        t.start()
        d0 = self.delivered()
        rec = c.record("heavy_tap", devices=DEVICE, frames=200)
        c.wait_recording(rec["recording_id"], timeout=30)
        stop = c.stop_recording(rec["recording_id"])
        drops = {(lab["reader"], lab["reason"]): int(v) for n, lab, v in metrics(self.d)
                 if n == "daq_tap_drops_total" and v}
        results = []
        for p in procs:
            out, err = p.communicate(timeout=30)
            self.assertEqual(p.returncode, 0, err)
            results.append(json.loads(out))
        d1 = self.delivered()
        call.cancel()
        t.join(10)
        self.assert_no_loss()
        for r in results:
            self.assertEqual(r["invalid"], 0, r)
            self.assertEqual(r["bad"], 0, r)
            self.assertGreaterEqual(r["frames"], 0.95 * r["span"], (r, drops))
            self.assertGreaterEqual(r["span"], 0.9 * self.fps * self.SECONDS, r)
        self.assertGreater(len(streamed), 10)
        import h5py
        with h5py.File(stop["output_path"], "r") as f:
            g = f["entry"][DEVICE]
            fn = g["frame_number"][...].astype(np.int64)
            self.assertEqual(g["data"].shape[0], 200)
            self.assertEqual(int(g.attrs["frames_dropped"]), 0)
        self.assertEqual(stop["total_samples"], 200)
        self.assertTrue(np.all(np.diff(fn) == 1))
        log("3 readers: %s of %s frames; stream %d of %d; recording 200 of 200; drops %s"
            % ([r["frames"] for r in results], [r["span"] for r in results], len(streamed),
               d1 - d0, drops))


# ---- the reader processes ----------------------------------------------------------------

def reader_main(mode, path, args):
    if mode == "hold":  # hold N leases, say so, wait to be killed
        n = int(args[0])
        tap = TapReader(path, device=DEVICE, lease_cap=n)
        held = [tap.next(5.0) for _ in range(n)]
        assert None not in held
        print("held %d %d" % (n, tap.welcome["reader_id"]), flush=True)
        time.sleep(60)
    elif mode == "write":  # write into a frame's pixels through ctypes: SIGSEGV
        tap = TapReader(path, device=DEVICE)
        f = tap.next(5.0)
        addr = f.array.__array_interface__["data"][0]
        print("writing at %#x" % addr, flush=True)
        ctypes.c_uint16.from_address(addr).value = 1
        print("wrote", flush=True)
    elif mode == "count":  # count frames from "go" on, checking one row of each
        seconds = float(args[0])
        go = threading.Event()
        threading.Thread(target=lambda: sys.stdin.readline() and go.set(), daemon=True).start()
        f = None
        with TapReader(path, device=DEVICE, lease_cap=16, queue_depth=16) as tap:
            frames = invalid = bad = 0
            rows = lo = hi = deadline = None
            while deadline is None or time.monotonic() < deadline:
                f = tap.next(1.0)
                if f is None:
                    continue
                with f:
                    if rows is None:  # row 1 of the pattern's 4 frames (row 0 has the stamp)
                        rows = [sim_pattern(f.width, 2, k)[1] for k in range(4)]
                        print("ready", flush=True)
                    if not np.array_equal(f.array[1], rows[f.hw_frame_number % 4]):
                        bad += 1
                    if not f.valid():
                        invalid += 1
                    # counting starts at go, with the first frame sent after it
                    # (not one queued while the parent waited for the others)
                    if not go.is_set() or (deadline is None and
                                           f.receive_mono_ns - f.publish_mono_ns > 20000000):
                        continue
                    if deadline is None:
                        deadline = time.monotonic() + seconds
                        lo, dropped0 = f.hw_frame_number, f.dropped
                    frames += 1
                    hi = f.hw_frame_number
            print(json.dumps({"frames": frames, "invalid": invalid, "bad": bad,
                              "span": hi - lo + 1, "dropped": f.dropped - dropped0 if f else -1}))
    else:
        raise SystemExit("unknown reader mode " + mode)


def main():
    global DAQD
    if len(sys.argv) > 3 and sys.argv[1] == "--reader":
        reader_main(sys.argv[2], sys.argv[3], sys.argv[4:])
        return
    DAQD = sys.argv.pop(1)
    names = sys.argv[1:]
    loader = unittest.TestLoader()
    mod = sys.modules[__name__]
    suite = loader.loadTestsFromNames(names, mod) if names else loader.loadTestsFromModule(mod)
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    if not result.wasSuccessful():
        sys.exit(1)


if __name__ == "__main__":
    main()
