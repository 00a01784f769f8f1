#!/usr/bin/python3
"""tests/integration/test_recording.py - issue 11's acceptance: recording to
HDF5 through a real daqd, its StorageService over gRPC, read back with h5py.

Each class is one ctest entry (tests/storage/recording.cmake) and starts its
own daemon on ephemeral loopback ports with a generated hardware config and a
[storage] table.  Frames come from the sim camera and are compared pixel for
pixel with sim_pattern (clients/python/daq_client).

  Codecs      200 frames 2048x2048x16 at 100 FPS with each codec (none, gzip,
              lz4, bslz4) into a tmpfs (/dev/shm) - 839 MB/s of pixels
  Disk        1000 frames 1024x1024x16 at 100 FPS (210 MB/s), uncompressed,
              onto the build's own file system (DAQ_TEST_DISK_DIR)
  Swmr        a reader in another process (tests/storage/swmr_reader.py,
              swmr=True + refresh()) sees the file grow during a 5 s recording
  Kill9       SIGKILL mid-recording: the file holds every flushed frame
  Enospc      a 64 MiB tmpfs as root, in a private mount namespace
              (tests/storage/mount_ns.sh): RECORDING_ERROR with the OS text
  SlowDisk    DAQ_TEST_WRITE_DELAY_US makes the writer slower than the camera:
              the recorder drops, says so (metrics, file), the camera does not
  Escapes     output_directory / name / pattern escapes refused, nothing made
              outside the root; files created exclusively, mode 0640
  TwoStreams  a recording while two StreamFrames clients watch: no loss

h5py finds Debian's lz4 (32004) and bitshuffle (32008) plugins without
HDF5_PLUGIN_PATH: Debian's libhdf5 has /usr/lib/x86_64-linux-gnu/hdf5/serial/
plugins compiled in as its default plugin path, so no variable is set here.

A file left behind by a killed daqd (opened for SWMR writing and never
closed) keeps its superblock's "open for write" flags: a plain
h5py.File(path, "r") fails with "file is already open for write", while
h5py.File(path, "r", swmr=True) opens it (Kill9 checks both).

Sanitizer builds stream smaller frames (DAQ_TEST_FRAME_SIDE, as the other
daemon tests); every figure below scales with it.

usage: test_recording.py DAQD [TestClass ...]
"""
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

import grpc
import h5py
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

HERE = os.path.dirname(os.path.abspath(__file__))
STORAGE_TESTS = os.path.join(HERE, "..", "storage")
sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python"))
from daq_client import Client, decode_pixels, sim_pattern, stubs  # noqa: E402
from daqd_harness import Daemon  # noqa: E402

DAQD = None
SIDE = int(os.environ.get("DAQ_TEST_FRAME_SIDE", "2048"))
DISK_SIDE = min(1024, SIDE)
SMALL_SIDE = min(512, SIDE)
MIB = 1 << 20

PER_FRAME = ("frame_number", "sequence", "timestamp_hw_ns", "timestamp_ns", "exposure_ms",
             "flags")
PER_FRAME_DTYPE = {"frame_number": np.uint64, "sequence": np.uint64, "timestamp_hw_ns": np.uint64,
                   "timestamp_ns": np.uint64, "exposure_ms": np.float64, "flags": np.uint32}
FLAG_CAMERA_LOST, FLAG_RECORDER_DROPPED = 1, 2
REASON_CAMERA, REASON_RECORDER = 1, 2
# RecordingState (rust-daq)
IDLE, ACTIVE, FLUSHING, FINALIZING, ERROR = 1, 2, 3, 4, 5
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---- the sim's frames, fast --------------------------------------------------------

class SimFrames:
    """Expected sim frames of one size.  sim_pattern() takes 0.1 s for a 2048²
    frame: 200 frames per codec would take longer than the recording.  The
    pattern depends on the frame number n only through n % 4 and the 16-byte
    stamp at the start of the frame, whose words are n, a constant and one
    word where n's part and the size's part are XORed.  So the stamp of (w, h,
    n) is the XOR of the stamps of (w, h, n % 4), (8, 1, n) and (8, 1, n % 4),
    all made by sim_pattern itself (8x1 frames are one stamp long).  The
    constructor checks the shortcut against sim_pattern whole."""

    def __init__(self, w, h):
        self.w, self.h = w, h
        self.base = [sim_pattern(w, h, k) for k in range(4)]
        for n in (5, 1234567):
            want = sim_pattern(w, h, n)
            if not np.array_equal(self.expected(n), want) or not self.matches(want, n):
                raise AssertionError("SimFrames shortcut differs from sim_pattern (n=%d)" % n)
            if self.matches(sim_pattern(w, h, n + 4), n):
                raise AssertionError("SimFrames.matches cannot tell frame %d from %d" % (n, n + 4))

    @staticmethod
    def _stamp(n):
        return np.frombuffer(sim_pattern(8, 1, n).tobytes(), dtype=np.uint8)

    def expected(self, n):
        n = int(n)
        img = self.base[n % 4].copy()
        head = img.reshape(-1).view(np.uint8)[:16]
        head ^= self._stamp(n) ^ self._stamp(n % 4)
        return img

    def matches(self, img, n):
        """img == expected(n), without copying a frame."""
        n = int(n)
        if img.shape != (self.h, self.w) or img.dtype != self.base[0].dtype:
            return False
        flat, base = img.reshape(-1), self.base[n % 4].reshape(-1)
        head = base[:8].view(np.uint8) ^ self._stamp(n) ^ self._stamp(n % 4)
        return (np.array_equal(flat[:8].view(np.uint8), head)
                and np.array_equal(flat[8:], base[8:]))


# ---- gRPC ----------------------------------------------------------------------------

class Recorder:
    """The camera Client plus the StorageService stub on the same channel."""

    def __init__(self, addr):
        self.c = Client(addr, timeout=30.0)
        self.pb = stubs().daq
        self.st = stubs().daq_grpc.StorageServiceStub(self.c.channel)

    def close(self):
        self.c.close()

    def hdf5(self, compression="none", level=None, pattern=None, chunk_size=None):
        h = self.pb.HDF5Config(compression=compression, include_timestamps=True,
                               include_device_metadata=True)
        if level is not None:
            h.compression_level = level
        if pattern is not None:
            h.filename_pattern = pattern
        if chunk_size is not None:
            h.chunk_size = chunk_size
        return h

    def configure(self, output_directory="", hdf5=None, flush_interval_ms=None, max_buffer_mb=None):
        req = self.pb.ConfigureStorageRequest(output_directory=output_directory,
                                              hdf5_config=hdf5 or self.hdf5())
        if flush_interval_ms is not None:
            req.flush_interval_ms = flush_interval_ms
        if max_buffer_mb is not None:
            req.max_buffer_mb = max_buffer_mb
        return self.st.ConfigureStorage(req, timeout=30)

    def storage_config(self):
        return self.st.GetStorageConfig(self.pb.GetStorageConfigRequest(), timeout=30)

    def start(self, name, metadata=None, override=None, scan_id=None, run_uid=None):
        req = self.pb.StartRecordingRequest(name=name, metadata=metadata or {})
        if override is not None:
            req.config_override.CopyFrom(override)
        if scan_id is not None:
            req.scan_id = scan_id
        if run_uid is not None:
            req.run_uid = run_uid
        return self.st.StartRecording(req, timeout=30)

    def stop(self, rid=None, final=None, timeout=120):
        req = self.pb.StopRecordingRequest(final_metadata=final or {})
        if rid is not None:
            req.recording_id = rid
        return self.st.StopRecording(req, timeout=timeout)

    def status(self, rid=None):
        req = self.pb.GetRecordingStatusRequest()
        if rid is not None:
            req.recording_id = rid
        return self.st.GetRecordingStatus(req, timeout=30)

    def flush(self, rid=None, sync=True):
        req = self.pb.FlushToStorageRequest(sync=sync)
        if rid is not None:
            req.recording_id = rid
        return self.st.FlushToStorage(req, timeout=60)

    def progress(self, interval_ms=200):
        return self.st.StreamRecordingProgress(self.pb.StreamRecordingProgressRequest(
            scan_id="", update_interval_ms=interval_ms))

    def list(self):
        return self.st.ListAcquisitions(self.pb.ListAcquisitionsRequest(), timeout=30)

    def info(self, aid):
        return self.st.GetAcquisitionInfo(self.pb.GetAcquisitionInfoRequest(acquisition_id=aid),
                                          timeout=30)

    def delete(self, aid, confirm):
        return self.st.DeleteAcquisition(self.pb.DeleteAcquisitionRequest(
            acquisition_id=aid, confirm=confirm), timeout=30)


def metric_sum(d, name, **labels):
    """Sum of the samples of one name (all devices unless labels say)."""
    text = d.get("/metrics")[1]
    total, seen = 0.0, False
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
                seen = True
    if not seen:
        raise KeyError("%s%s not on /metrics" % (name, labels or ""))
    return total


# ---- the daemon's config -------------------------------------------------------------

def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return json.dumps(str(v))  # a TOML basic string for these values


def daemon_config(root, side, fps=100, storage=None, cameras=("cam0",)):
    text = ""
    for cam in cameras:
        text += """
[[devices]]
id = "%s"
name = "Simulated camera"
autostart = false
[devices.driver]
type = "sim"
width = %d
height = %d
frame_rate_hz = %.1f
exposure_ms = 2.0
""" % (cam, side, side, fps)
    text += "\n[storage]\nroot = %s\n" % toml_value(root)
    for k, v in (storage or {}).items():
        text += "%s = %s\n" % (k, toml_value(v))
    return text


def tree(path):
    """Everything under path (not following symlinks): relpath -> (kind, size, mode, mtime)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            out[os.path.relpath(p, path)] = (st.st_mode >> 12, st.st_size, st.st_mode & 0o7777,
                                             st.st_mtime_ns)
    return out


def attr_str(v):
    if isinstance(v, (bytes, np.bytes_)):
        return v.decode()
    if isinstance(v, np.ndarray) and v.shape == ():
        return attr_str(v[()])
    return str(v)


def iso_ns(s):
    t = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return (int(t.timestamp()) * 1000000 + t.microsecond) * 1000


# ---- the tests' common part ---------------------------------------------------------

class RecordingBase(unittest.TestCase):
    side = SMALL_SIDE
    fps = 100
    storage = {}
    env = None
    cameras = ("cam0",)

    @classmethod
    def make_root(cls):
        return tempfile.mkdtemp(prefix="daq-rec-", dir="/dev/shm")

    @classmethod
    def remove_root(cls):
        shutil.rmtree(cls.root, ignore_errors=True)

    @classmethod
    def setUpClass(cls):
        cls.root = cls.make_root()
        try:
            cls.sim = SimFrames(cls.side, cls.side)
            cls.start_daemon()
        except BaseException:
            cls.remove_root()
            raise

    @classmethod
    def start_daemon(cls):
        cls.d = Daemon(DAQD, daemon_config(cls.root, cls.side, cls.fps, cls.storage, cls.cameras),
                       env=cls.env, name="recording").start()
        cls.rec = Recorder("127.0.0.1:%d" % cls.d.grpc_port)

    @classmethod
    def stop_daemon(cls, expect_clean=True):
        cls.rec.close()
        if cls.d.proc.poll() is not None:
            return
        cls.d.signal(signal.SIGTERM)
        code, _ = cls.d.wait(60)
        if expect_clean and code != 0:
            raise AssertionError("daqd exited %d (leak or crash?)\n%s" % (code, cls.d.log()))

    @classmethod
    def tearDownClass(cls):
        try:
            cls.stop_daemon()
        finally:
            cls.remove_root()

    def tearDown(self):
        for cam in self.cameras:
            try:
                self.rec.c.stop_stream(cam)
            except grpc.RpcError:
                pass

    # -- recording helpers

    def start_ok(self, name, metadata=None, **kw):
        r = self.rec.start(name, metadata, **kw)
        self.assertTrue(r.success, "StartRecording failed: %r\n%s" % (r.error_message, self.d.log()))
        self.assertRegex(r.recording_id, UUID4)
        self.assertTrue(r.output_path.startswith(os.path.realpath(self.root) + "/"), r.output_path)
        return r

    def wait_state(self, rid, states, timeout):
        deadline = time.monotonic() + timeout
        st = None
        while time.monotonic() < deadline:
            st = self.rec.status(rid)
            if st.state in states:
                return st
            time.sleep(0.05)
        self.fail("recording %s not in state %s after %.0f s: last status %s\n%s"
                  % (rid, states, timeout, st, self.d.log()[-4000:]))

    def record_frames(self, name, frames, metadata=None, timeout=300, **kw):
        """A recording that stops by itself after `frames` (max_frames)."""
        meta = {"max_frames": str(frames)}
        meta.update(metadata or {})
        t0 = time.monotonic()
        r = self.start_ok(name, meta, **kw)
        self.wait_state(r.recording_id, (IDLE, ERROR), timeout)
        stop = self.rec.stop(r.recording_id)
        self.assertTrue(stop.success, "StopRecording of an ended recording: %r" % stop.error_message)
        return r, stop, time.monotonic() - t0

    def check_stop_matches_file(self, stop, info):
        self.assertEqual(stop.total_samples, info["n_total"])
        self.assertEqual(stop.file_size_bytes, os.stat(info["path"]).st_size)
        self.assertEqual(stop.acquisition_id, info["recording_id"])
        self.assertEqual(os.path.realpath(stop.output_path), os.path.realpath(info["path"]))
        # duration_ns and the file's times: the same clock readings (1 ms slack
        # for a duration measured on the monotonic clock).
        file_duration = info["end_time_ns"] - info["start_time_ns"]
        self.assertLessEqual(abs(stop.duration_ns - file_duration), 1000000,
                             "duration_ns %d vs end_time_ns - start_time_ns %d"
                             % (stop.duration_ns, file_duration))

    def verify_file(self, path, codec="none", level=None, lossless=True, complete=True, swmr=False,
                    metadata=None, devices=None):
        """Opens the recording, checks the layout and every frame against the
        sim pattern; returns what it found.  complete: True = finished (end
        time and counts written), False = crashed (no end_time), None = either."""
        devices = devices or self.cameras
        info = {"path": path, "devices": {}}
        with h5py.File(path, "r", swmr=swmr) as f:
            e = f["entry"]
            a = e.attrs
            self.assertEqual(attr_str(a["NX_class"]), "NXentry")
            self.assertEqual(attr_str(a["software"]), "daq")
            info["recording_id"] = attr_str(a["recording_id"])
            self.assertRegex(info["recording_id"], UUID4)
            self.assertEqual(attr_str(a["compression"]), codec)
            if level is not None:
                self.assertEqual(int(a["compression_level"]), level)
            self.assertEqual(sorted(attr_str(a["devices"]).split(",")), sorted(devices))
            start_iso = attr_str(a["start_time"])
            self.assertRegex(start_iso, ISO)
            info["start_time_ns"] = int(a["start_time_ns"])
            self.assertEqual(iso_ns(start_iso), info["start_time_ns"] // 1000 * 1000)
            if complete:
                self.assertIn("end_time", a, "no end_time in a finished recording (closing "
                              "attributes not written)")
                end_iso = attr_str(a["end_time"])
                self.assertRegex(end_iso, ISO)
                info["end_time_ns"] = int(a["end_time_ns"])
                self.assertEqual(iso_ns(end_iso), info["end_time_ns"] // 1000 * 1000)
                self.assertGreaterEqual(info["end_time_ns"], info["start_time_ns"])
            elif complete is False:
                self.assertNotIn("end_time", a, "a crashed recording has no end_time")
            if metadata:
                m = e["metadata"].attrs
                for k, v in metadata.items():
                    self.assertEqual(attr_str(m[k]), v, "metadata " + k)
            n_total = 0
            for dev in devices:
                got = self.verify_device(e[dev], codec, level, lossless, complete, info)
                info["devices"][dev] = got
                n_total += got["n"]
            info["n_total"] = n_total
            if complete:
                self.assertEqual(int(a["frames_written"]), n_total)
        return info

    def verify_device(self, g, codec, level, lossless, complete, info):
        ga = g.attrs
        self.assertEqual(attr_str(ga["NX_class"]), "NXdetector")
        self.assertEqual(attr_str(ga["driver"]), "sim")
        self.assertGreater(len(g["parameters"].attrs), 0, "driver parameters as attributes")
        data = g["data"]
        w = h = self.side
        self.assertEqual(data.dtype, np.dtype("<u2"))
        self.assertEqual(data.shape[1:], (h, w))
        self.assertEqual(data.chunks, (1, h, w))
        self.assertEqual(data.maxshape, (None, h, w))
        filters = data._filters
        if codec == "none":
            self.assertFalse(set(filters) & {"gzip", "32004", "32008"}, filters)
        elif codec == "gzip":
            self.assertEqual(data.compression, "gzip")
            if level is not None:
                self.assertEqual(data.compression_opts, level)
        else:
            self.assertIn({"lz4": "32004", "bslz4": "32008"}[codec], filters)
        n = data.shape[0]
        per = {}
        for k in PER_FRAME:
            per[k] = g[k][...]
            self.assertEqual(per[k].dtype, PER_FRAME_DTYPE[k], k)
            self.assertEqual(per[k].shape, (n,), "%s has %d values for %d frames" % (k, len(per[k]), n))
        missing = g["missing"][...]
        self.assertEqual(missing.dtype, np.uint64)
        self.assertEqual(missing.shape[1:], (3,))
        fn, seq, flags = per["frame_number"], per["sequence"], per["flags"]
        got = {"n": n, "frame_number": fn, "sequence": seq, "flags": flags, "missing": missing,
               "timestamp_ns": per["timestamp_ns"], "attrs": dict(ga)}
        if n:
            self.assertTrue(np.all(np.diff(seq.astype(np.int64)) >= 1), "sequence not increasing")
            self.assertTrue(np.all(np.diff(per["timestamp_ns"].astype(np.int64)) >= 0))
            self.assertTrue(np.allclose(per["exposure_ms"], 2.0), per["exposure_ms"][:5])
            lo = info["start_time_ns"] - 10**9
            hi = info.get("end_time_ns", time.time_ns()) + 10**9
            self.assertTrue(lo <= int(per["timestamp_ns"][0]) and int(per["timestamp_ns"][-1]) <= hi,
                            "timestamp_ns outside the recording's time")
        if lossless:
            self.assertTrue(np.all(np.diff(fn.astype(np.int64)) == 1),
                            "frame_number not continuous: gaps after %s"
                            % fn[:-1][np.diff(fn.astype(np.int64)) != 1][:10])
            self.assertTrue(np.all(np.diff(seq.astype(np.int64)) == 1), "sequence has gaps")
            self.assertEqual(int(np.count_nonzero(flags & (FLAG_CAMERA_LOST | FLAG_RECORDER_DROPPED))),
                             0, "frames flagged as after a loss")
            self.assertEqual(missing.shape[0], 0, "missing rows: %s" % missing[:10])
            if complete:
                self.assertEqual(int(ga["frames_dropped"]), 0)
                self.assertEqual(int(ga["frames_lost"]), 0)
        if complete:
            self.assertEqual(int(ga["frames_written"]), n)
        # every frame, pixel for pixel
        t0 = time.monotonic()
        batch = max(1, (64 * MIB) // (w * h * 2))
        bad = []
        for i0 in range(0, n, batch):
            block = data[i0:i0 + batch]
            for j in range(block.shape[0]):
                if not self.sim.matches(block[j], fn[i0 + j]):
                    bad.append((i0 + j, int(fn[i0 + j])))
        self.assertEqual(bad[:10], [], "%d frames differ from the sim pattern (index, frame_number)"
                         % len(bad))
        got["verify_s"] = time.monotonic() - t0
        return got


# ---- 1. every codec, 2048², into a tmpfs -------------------------------------------

class Codecs(RecordingBase):
    side = SIDE
    frames = 200
    # gzip cannot keep up with 839 MB/s of noise-like pixels (zlib: ~35 MB/s per
    # core here), so the queue holds the whole recording: 0 drops is then a
    # matter of the queue and the pool's reserve being as large as declared.
    storage = {"max_buffer_mb": (200 * SIDE * SIDE * 2) // MIB + 64, "flush_interval_ms": 500,
               "compression": "none"}

    def test_codecs(self):
        cfg = self.rec.configure("codecs", self.rec.hdf5("none"), flush_interval_ms=500)
        self.assertTrue(cfg.success, cfg.error_message)
        resolved = os.path.join(os.path.realpath(self.root), "codecs")
        self.assertEqual(cfg.resolved_output_directory, resolved)
        sc = self.rec.storage_config()
        self.assertEqual(sc.output_directory, resolved)
        self.assertEqual(sc.hdf5_config.compression, "none")
        self.assertGreater(sc.disk_space_available_bytes, 0)
        self.assertTrue(self.rec.c.start_stream("cam0").success)
        for codec in ("none", "gzip", "lz4", "bslz4"):
            with self.subTest(codec=codec):
                self.one_codec(codec)
        self.assertEqual(metric_sum(self.d, "daq_acquisition_frames_lost_total", device="cam0"), 0)

    def one_codec(self, codec):
        level = 1 if codec == "gzip" else None
        meta = {"operator": "acceptance", "codec": codec}
        # none through the storage's settings, the others through config_override
        override = None if codec == "none" else self.rec.hdf5(codec, level)
        r, stop, secs = self.record_frames("codec_" + codec, self.frames, meta, override=override,
                                           scan_id="scan-" + codec, run_uid="run-1")
        info = self.verify_file(r.output_path, codec, level, metadata=meta)
        dev = info["devices"]["cam0"]
        self.assertEqual(dev["n"], self.frames)
        self.check_stop_matches_file(stop, info)
        with h5py.File(r.output_path, "r") as f:
            self.assertEqual(attr_str(f["entry"].attrs["scan_id"]), "scan-" + codec)
            self.assertEqual(attr_str(f["entry"].attrs["run_uid"]), "run-1")
            self.assertEqual(attr_str(f["entry"].attrs["name"]), "codec_" + codec)
        size = os.stat(r.output_path).st_size
        log("codec %-5s: %d frames %dx%d in %.1f s, file %.1f MB (ratio %.3f), verified in %.1f s"
            % (codec, dev["n"], self.side, self.side, secs, size / 1e6,
               dev["n"] * self.side * self.side * 2 / size, dev["verify_s"]))
        # the catalogue knows it; deleting needs confirm and frees the tmpfs
        listed = {a.acquisition_id: a for a in self.rec.list().acquisitions}
        self.assertIn(r.recording_id, listed)
        self.assertEqual(listed[r.recording_id].sample_count, self.frames)
        self.assertEqual(listed[r.recording_id].file_size_bytes, size)
        d = self.rec.delete(r.recording_id, False)
        self.assertFalse(d.success)
        self.assertEqual(d.error_message, "Deletion requires confirm=true")
        self.assertTrue(os.path.exists(r.output_path))
        d = self.rec.delete(r.recording_id, True)
        self.assertTrue(d.success, d.error_message)
        self.assertEqual(d.bytes_freed, size)
        self.assertFalse(os.path.exists(r.output_path))


# ---- 1b. 1000 frames 1024², uncompressed, onto the disk -----------------------------

class Disk(RecordingBase):
    side = DISK_SIDE
    frames = 1000
    # 512 MiB = 2.5 s of frames: room for fdatasync stalls at the flushes.
    storage = {"max_buffer_mb": 512, "compression": "none"}

    @classmethod
    def make_root(cls):
        base = os.environ.get("DAQ_TEST_DISK_DIR") or os.path.join(HERE, "..", "..", "build")
        os.makedirs(base, exist_ok=True)
        return tempfile.mkdtemp(prefix="daq-rec-disk-", dir=base)

    def test_disk_uncompressed(self):
        fs = subprocess.run(["stat", "-f", "-c", "%T", self.root], capture_output=True, text=True)
        log("disk target %s (%s)" % (self.root, fs.stdout.strip()))
        self.assertTrue(self.rec.c.start_stream("cam0").success)
        meta = {"operator": "acceptance"}
        r, stop, secs = self.record_frames("disk", self.frames, meta)
        info = self.verify_file(r.output_path, "none", metadata=meta)
        self.assertEqual(info["devices"]["cam0"]["n"], self.frames)
        self.check_stop_matches_file(stop, info)
        self.assertEqual(os.stat(r.output_path).st_mode & 0o777, 0o640)
        self.assertEqual(metric_sum(self.d, "daq_acquisition_frames_lost_total", device="cam0"), 0)
        log("disk: %d frames %dx%d in %.1f s (%.0f MB/s at 100 FPS), file %.1f MB"
            % (self.frames, self.side, self.side, secs, self.side * self.side * 2 * 100 / 1e6,
               os.stat(r.output_path).st_size / 1e6))


# ---- 2. a SWMR reader in another process ---------------------------------------------

class Swmr(RecordingBase):
    storage = {"flush_interval_ms": 250, "compression": "none"}

    def test_reader_sees_growth(self):
        self.assertTrue(self.rec.c.start_stream("cam0").success)
        r = self.start_ok("swmr", {"duration_ms": "5000"})
        t_start = time.time()
        reader = subprocess.Popen(
            [sys.executable, os.path.join(STORAGE_TESTS, "swmr_reader.py"), r.output_path,
             "/entry/cam0", "30"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        try:
            self.wait_state(r.recording_id, (IDLE, ERROR), 60)
            t_end = time.time()
            out, err = reader.communicate("", timeout=60)  # closes its stdin: it ends
        finally:
            if reader.poll() is None:
                reader.kill()
                reader.wait()
        stop = self.rec.stop(r.recording_id)
        self.assertTrue(stop.success, stop.error_message)
        self.assertEqual(reader.returncode, 0, "reader failed:\n" + err)
        seen = [json.loads(line) for line in out.splitlines() if line.strip()]
        growth = [s for s in seen if s["event"] == "grew"]
        # the first size the reader sees is where it starts, not growth
        during = [s for s in growth[1:] if t_start <= s["t"] <= t_end]
        log("swmr: reader saw %d sizes, grew %d times while recording: %s"
            % (len(growth), len(during), [s["n"] for s in growth]))
        self.assertGreaterEqual(len(during), 3, "the reader saw the dataset grow %d times: %s\n%s"
                                % (len(during), seen, err))
        self.assertEqual([s for s in seen if s["event"] == "bad"], [])
        self.assertTrue(all(s["verified"] for s in growth), growth)
        info = self.verify_file(r.output_path, "none")
        self.assertGreaterEqual(info["n_total"], growth[-1]["n"])
        self.check_stop_matches_file(stop, info)


# ---- 3. kill -9 mid-recording --------------------------------------------------------

class Kill9(RecordingBase):
    storage = {"flush_interval_ms": 500, "compression": "lz4"}

    def test_kill9(self):
        self.assertTrue(self.rec.c.start_stream("cam0").success)
        r = self.start_ok("crash")
        reports = []
        call = self.rec.progress(200)

        def watch():
            try:
                for p in call:
                    reports.append(p)
            except grpc.RpcError:
                pass
        t = threading.Thread(target=watch, daemon=True)
        t.start()
        time.sleep(2.0)
        fl = self.rec.flush(r.recording_id, sync=True)
        self.assertTrue(fl.success, fl.error_message)
        self.assertGreater(fl.samples_flushed, 50)  # ~2 s at 100 FPS
        time.sleep(0.7)
        self.assertTrue(reports, "no progress report in 2.7 s")
        last = reports[-1]
        self.assertGreaterEqual(last.samples_recorded, fl.samples_flushed)
        self.assertGreater(last.samples_per_second, 0)
        self.d.proc.kill()  # SIGKILL
        self.d.proc.wait()
        call.cancel()
        log("kill9: flushed %d before the kill, last progress report %d recorded"
            % (fl.samples_flushed, last.samples_recorded))

        with self.assertRaises(OSError) as e:
            h5py.File(r.output_path, "r")
        self.assertIn("already open for write", str(e.exception))
        info = self.verify_file(r.output_path, "lz4", complete=False, swmr=True)
        n = info["devices"]["cam0"]["n"]
        self.assertGreaterEqual(n, fl.samples_flushed)
        log("kill9: the file holds %d frames, all verified; plain open refused, swmr=True opens" % n)

        # a new daemon on the same root lists it (read from the file)
        self.start_daemon()
        listed = {a.acquisition_id: a for a in self.rec.list().acquisitions}
        self.assertIn(r.recording_id, listed, "the crashed recording is not listed after restart")
        self.assertEqual(listed[r.recording_id].sample_count, n)
        ai = self.rec.info(r.recording_id)
        self.assertEqual(ai.acquisition_id, r.recording_id)
        self.assertEqual(os.path.realpath(ai.file_path), os.path.realpath(r.output_path))


# ---- 4. ENOSPC on a 64 MiB tmpfs -----------------------------------------------------

class Enospc(RecordingBase):
    storage = {"flush_interval_ms": 200, "max_buffer_mb": 16, "compression": "none"}

    @classmethod
    def make_root(cls):
        # Only inside a private mount namespace (tests/storage/mount_ns.sh):
        # the tmpfs then vanishes with the namespace whatever happens here.
        try:
            mine = os.readlink("/proc/self/ns/mnt")
            parent = os.readlink("/proc/%d/ns/mnt" % os.getppid())
        except OSError as e:
            raise unittest.SkipTest("cannot compare mount namespaces: %s" % e)
        if mine == parent:
            raise unittest.SkipTest("not in a private mount namespace (run through "
                                    "tests/storage/mount_ns.sh); not mounting anything")
        root = tempfile.mkdtemp(prefix="daq-enospc-")
        m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,mode=0750", "tmpfs", root],
                           capture_output=True, text=True)
        if m.returncode != 0:
            os.rmdir(root)
            raise unittest.SkipTest("cannot mount a tmpfs: " + (m.stderr.strip() or "mount failed"))
        return root

    @classmethod
    def remove_root(cls):
        subprocess.run(["umount", "-l", cls.root], capture_output=True)
        shutil.rmtree(cls.root, ignore_errors=True)

    def test_enospc(self):
        self.assertTrue(self.rec.c.start_stream("cam0").success)
        stream_frames = []
        stop_watch = threading.Event()
        call = self.rec.c.frame_stream("cam0")

        def watch():
            try:
                for m in call:
                    stream_frames.append((time.monotonic(), m.frame_number, m))
                    if len(stream_frames) > 2000:
                        del stream_frames[:1000]
                    if stop_watch.is_set():
                        break
            except grpc.RpcError:
                pass
        t = threading.Thread(target=watch, daemon=True)
        t.start()
        r = self.start_ok("fill")
        st = self.wait_state(r.recording_id, (ERROR, IDLE), 60)
        t_err = time.monotonic()
        self.assertEqual(st.state, ERROR, "a full tmpfs did not put the recording in RECORDING_ERROR")
        self.assertIn("No space left on device", st.error_message)
        log("enospc: state ERROR after %d frames: %r" % (st.samples_recorded, st.error_message))
        # the daemon answers, the camera streams, the stream client still gets frames
        time.sleep(1.5)
        self.assertTrue(self.rec.c.device_state("cam0").streaming)
        self.assertTrue(self.rec.c.daemon_info().version)
        after = [f for f in stream_frames if f[0] > t_err + 0.2]
        self.assertGreater(len(after), 20, "the stream client got %d frames in the 1.3 s after the "
                           "error" % len(after))
        m = after[-1][2]
        self.assertTrue(np.array_equal(decode_pixels(m), sim_pattern(m.width, m.height,
                                                                     m.frame_number)))
        st2 = self.rec.status(r.recording_id)
        self.assertEqual(st2.state, ERROR)
        self.assertEqual(st2.error_message, st.error_message)
        # the file: readable up to the last good flush (swmr=True: it may still be open)
        # (complete=None: whether the closing attributes made it onto a full
        # disk is not the point)
        info = self.verify_file(r.output_path, "none", complete=None, swmr=True)
        n = info["devices"]["cam0"]["n"]
        self.assertGreater(n, 0)
        log("enospc: the file holds %d frames, all verified" % n)
        stop = self.rec.stop(r.recording_id)
        log("enospc: StopRecording after the error: success=%s %r"
            % (stop.success, stop.error_message))
        self.assertTrue(self.rec.c.device_state("cam0").streaming)
        stop_watch.set()
        call.cancel()
        t.join(10)
        self.assertEqual(metric_sum(self.d, "daq_acquisition_frames_lost_total", device="cam0"), 0)


# ---- 5. a disk slower than the camera ------------------------------------------------

class SlowDisk(RecordingBase):
    # 20 ms per written frame (50 FPS) under a 100 FPS camera; the queue holds
    # 4 MiB (8 frames of 512²): about half the frames are dropped by the
    # recorder, none by the camera.
    delay_us = 20000
    storage = {"max_buffer_mb": 4, "flush_interval_ms": 500, "compression": "none"}
    env = {"DAQ_TEST_WRITE_DELAY_US": str(delay_us)}

    def test_drops_declared(self):
        self.assertTrue(self.rec.c.start_stream("cam0").success)
        time.sleep(0.3)
        r = self.start_ok("slow", {"duration_ms": "3000"})
        fills, pending = [], []
        while True:
            st = self.rec.status(r.recording_id)
            if st.state in (IDLE, ERROR):
                break
            fills.append(st.buffer_fill_percent)
            pending.append(st.pending_samples)
            time.sleep(0.1)
            self.assertLess(len(fills), 600, "the recording did not end")
        stop = self.rec.stop(r.recording_id)
        self.assertTrue(stop.success, stop.error_message)
        self.assertGreaterEqual(max(fills), 50, "buffer_fill_percent never showed the full queue: "
                                "%s" % fills)
        self.assertGreater(max(pending), 0)
        dropped_metric = metric_sum(self.d, "daq_recorder_dropped_frames_total")

        info = self.verify_file(r.output_path, "none", lossless=False)
        dev = info["devices"]["cam0"]
        fn = dev["frame_number"].astype(np.int64)
        seq = dev["sequence"].astype(np.int64)
        missing = dev["missing"]
        dropped = int(dev["attrs"]["frames_dropped"])
        log("slow disk: %d written, %d dropped (file), %d (metrics), %d missing rows, "
            "max fill %d%%" % (dev["n"], dropped, dropped_metric, missing.shape[0], max(fills)))
        self.assertGreater(dropped, 20)
        self.assertEqual(dropped_metric, dropped)
        self.assertEqual(int(dev["attrs"]["frames_lost"]), 0)
        self.assertEqual(info["n_total"], stop.total_samples)
        # missing rows: all the recorder's, and they add up to frames_dropped
        self.assertTrue(np.all(missing[:, 2] == REASON_RECORDER), missing)
        self.assertEqual(int(missing[:, 1].sum()), dropped)
        # each gap in the written frames is a missing row and flags its next frame
        gaps = np.nonzero(np.diff(fn) != 1)[0]
        self.assertGreater(len(gaps), 0)
        self.assertTrue(np.array_equal(np.diff(fn), np.diff(seq)),
                        "camera numbers and sequence disagree (the camera lost nothing)")
        rows = {(int(a), int(b)) for a, b, _ in missing}
        for i in gaps:
            self.assertIn((int(fn[i]) + 1, int(fn[i + 1] - fn[i] - 1)), rows,
                          "gap after frame %d not in missing" % fn[i])
            self.assertTrue(dev["flags"][i + 1] & FLAG_RECORDER_DROPPED)
        self.assertEqual(int(np.count_nonzero(dev["flags"] & FLAG_RECORDER_DROPPED)), len(gaps))
        gap_frames = int((np.diff(fn)[gaps] - 1).sum())
        # rows not between two written frames can only follow the last one
        for a, b, _ in missing:
            if (int(a), int(b)) not in {(int(fn[i]) + 1, int(fn[i + 1] - fn[i] - 1)) for i in gaps}:
                self.assertGreater(int(a), int(fn[-1]), "a missing row inside the recording "
                                   "without a gap: %s" % ([a, b],))
        self.assertLessEqual(gap_frames, dropped)
        # the camera and the pool: nothing lost, never exhausted
        for name in ("daq_acquisition_frames_lost_total", "daq_acquisition_alloc_dropped_frames_total",
                     "daq_acquisition_heap_fallbacks_total", "daq_pool_misses_total",
                     "daq_pool_drops_total"):
            self.assertEqual(metric_sum(self.d, name, device="cam0"), 0, name)
        self.assertEqual(metric_sum(self.d, "daq_pool_heap_allocations_total", device="cam0",
                                    reason="exhausted"), 0)
        self.assertTrue(self.rec.c.device_state("cam0").streaming)


# ---- 6. escapes -----------------------------------------------------------------------

class Escapes(RecordingBase):
    storage = {"compression": "none"}

    @classmethod
    def make_root(cls):
        cls.base = tempfile.mkdtemp(prefix="daq-rec-esc-", dir="/dev/shm")
        root = os.path.join(cls.base, "root")
        cls.outside = os.path.join(cls.base, "outside")
        os.makedirs(root)
        os.makedirs(cls.outside)
        with open(os.path.join(cls.outside, "sentinel"), "w") as f:
            f.write("x")
        os.symlink(cls.outside, os.path.join(root, "link"))
        return root

    @classmethod
    def remove_root(cls):
        shutil.rmtree(cls.base, ignore_errors=True)

    def setUp(self):
        cfg = self.rec.configure("", self.rec.hdf5("none"))
        self.assertTrue(cfg.success, cfg.error_message)

    def test_output_directory_escapes(self):
        far = "/tmp/daq-acc-escape-" + uuid.uuid4().hex  # a name nobody else uses
        rel_far = os.path.relpath(far, os.path.realpath(self.root))
        before = tree(self.base)
        for od in ("../x", "..", "../outside/sub", rel_far, far, os.path.join(self.outside, "abs"),
                   "link", "link/sub", "sub/../../x", "./link/../link/sub"):
            with self.subTest(output_directory=od):
                r = self.rec.configure(od, self.rec.hdf5("none"))
                self.assertFalse(r.success, "output_directory %r accepted: %s"
                                 % (od, r.resolved_output_directory))
                self.assertTrue(r.error_message.startswith("Invalid output path: "), r.error_message)
                self.assertEqual(self.rec.storage_config().output_directory,
                                 os.path.realpath(self.root))
        after = tree(self.base)
        self.assertEqual(outside_root(after), outside_root(before))
        if after != before:
            log("escapes: refused output directories left something inside the root: %s"
                % sorted(set(after) ^ set(before)))
        self.assertFalse(os.path.lexists(far))
        # the same settings inside the root are fine
        r = self.rec.configure("sub/dir", self.rec.hdf5("none"))
        self.assertTrue(r.success, r.error_message)
        self.assertEqual(r.resolved_output_directory, os.path.join(os.path.realpath(self.root),
                                                                   "sub", "dir"))
        self.assertTrue(os.path.isdir(r.resolved_output_directory))

    def test_name_escapes(self):
        self.assertTrue(self.rec.c.start_stream("cam0").success)
        far = "daq-acc-escape-" + uuid.uuid4().hex
        before = tree(self.base)
        for name in ("a/b", "../" + far, "../../../../tmp/" + far, "/tmp/" + far, "a\x00b", "\x00",
                     "x/../../" + far):
            with self.subTest(name=name):
                r = self.rec.start(name)
                self.assertFalse(r.success, "name %r accepted: %s" % (name, r.output_path))
                self.assertTrue(r.error_message, "refused without a message")
                log("escapes: name %r refused: %r" % (name, r.error_message))
                self.assertFalse(r.recording_id)
        after = tree(self.base)
        self.assertEqual(outside_root(after), outside_root(before))
        self.assertEqual(after, before, "a refused name left a file in the root")
        self.assertFalse(os.path.lexists(os.path.join("/tmp", far)))
        # a pattern that climbs out: refused, or sanitised into the root
        r = self.rec.start("p", override=self.rec.hdf5("none", pattern="../" + far + "_{name}.h5"))
        if r.success:
            self.assertTrue(r.output_path.startswith(os.path.realpath(self.root) + "/"),
                            r.output_path)
            self.assertTrue(self.rec.stop(r.recording_id).success)
        self.assertFalse(os.path.lexists(os.path.join(self.base, far + "_p.h5")))
        self.assertEqual(outside_root(tree(self.base)), outside_root(before))

    def test_exclusive_mode_0640_and_sanitised_name(self):
        self.assertTrue(self.rec.c.start_stream("cam0").success)
        fixed = self.rec.hdf5("none", pattern="fixed_{name}.h5")
        r, stop, _ = self.record_frames("same", 20, override=fixed)
        self.assertEqual(os.path.basename(r.output_path), "fixed_same.h5")
        st = os.stat(r.output_path)
        self.assertEqual(st.st_mode & 0o777, 0o640)
        first = (st.st_size, st.st_mtime_ns, st.st_ino)
        r2 = self.rec.start("same", {"max_frames": "20"}, override=fixed)
        log("escapes: a second recording onto fixed_same.h5: success=%s %r %s"
            % (r2.success, r2.error_message, r2.output_path))
        if r2.success:  # then under another name
            self.assertNotEqual(r2.output_path, r.output_path)
            self.wait_state(r2.recording_id, (IDLE, ERROR), 60)
            self.assertTrue(self.rec.stop(r2.recording_id).success)
        st = os.stat(r.output_path)
        self.assertEqual((st.st_size, st.st_mtime_ns, st.st_ino), first, "the file was overwritten")
        with h5py.File(r.output_path, "r") as f:
            self.assertEqual(attr_str(f["entry"].attrs["recording_id"]), r.recording_id)
        # odd characters are sanitised, not refused, and stay inside the root
        r3, _, _ = self.record_frames("run 7: *?<>|\\ é", 5)
        self.assertEqual(os.path.dirname(r3.output_path), os.path.realpath(self.root))
        self.assertTrue(os.path.exists(r3.output_path))


def outside_root(snapshot):
    """The part of a tree(base) snapshot that is not under root/."""
    return {k: v for k, v in snapshot.items() if k != "root" and not k.startswith("root/")}


# ---- 7. two stream clients and a recording -------------------------------------------

class TwoStreams(RecordingBase):
    storage = {"flush_interval_ms": 500, "compression": "lz4"}

    def test_two_streams_and_a_recording(self):
        self.assertTrue(self.rec.c.start_stream("cam0").success)
        got, bad = [[], []], []
        stop = threading.Event()
        calls = [self.rec.c.frame_stream("cam0"), self.rec.c.frame_stream("cam0")]

        def watch(i):
            try:
                for m in calls[i]:
                    got[i].append(m.frame_number)
                    if len(got[i]) % 25 == 0 and not np.array_equal(
                            decode_pixels(m), self.sim.expected(m.frame_number)):
                        bad.append((i, m.frame_number))  # sampled pixels differ
                    if stop.is_set():
                        break
            except grpc.RpcError:
                pass
        threads = [threading.Thread(target=watch, args=(i,), daemon=True) for i in (0, 1)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        lost0 = metric_sum(self.d, "daq_acquisition_frames_lost_total", device="cam0")
        meta = {"watchers": "2"}
        r = self.start_ok("watched", meta)
        time.sleep(3.0)
        final = {"result": "ok", "note": "stopped by the test"}
        sp = self.rec.stop(r.recording_id, final)
        self.assertTrue(sp.success, sp.error_message)
        time.sleep(0.3)
        stop.set()
        for c in calls:
            c.cancel()
        for t in threads:
            t.join(10)
        self.assertEqual(metric_sum(self.d, "daq_acquisition_frames_lost_total", device="cam0"), 0)
        self.assertEqual(lost0, 0)
        self.assertEqual(bad, [], "(stream, frame_number) differing from the sim pattern")
        for i in (0, 1):
            self.assertGreater(len(got[i]), 150, "stream %d got %d frames in 3.8 s" % (i, len(got[i])))
        info = self.verify_file(r.output_path, "lz4", metadata=meta)
        n = info["devices"]["cam0"]["n"]
        self.assertGreater(n, 250)  # ~3 s at 100 FPS
        self.check_stop_matches_file(sp, info)
        with h5py.File(r.output_path, "r") as f:
            fm = f["entry/final_metadata"].attrs
            self.assertEqual({k: attr_str(v) for k, v in fm.items() if k != "NX_class"}, final)
        log("two streams: %d and %d frames streamed, %d recorded, lost 0"
            % (len(got[0]), len(got[1]), n))


def main():
    global DAQD
    DAQD = sys.argv.pop(1)
    names = sys.argv[1:]
    loader = unittest.TestLoader()
    mod = sys.modules[__name__]
    suite = loader.loadTestsFromNames(names, mod) if names else loader.loadTestsFromModule(mod)
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    if not result.wasSuccessful():
        sys.exit(1)
    if result.skipped and len(result.skipped) >= result.testsRun:
        for _, why in result.skipped:
            print("SKIP: " + why, file=sys.stderr)
        sys.exit(77)  # ctest SKIP_RETURN_CODE


if __name__ == "__main__":
    main()
