#!/usr/bin/python3
"""tests/integration/test_storage_grpc.py - rust-daq's StorageService as daqd
serves it (docs/facts/grpc-storage-api.md), against a real daemon.

The daemon runs as a process on ephemeral loopback ports (daqd_harness) with
two small sim cameras and a [storage] table whose root is a fresh directory;
the client is Debian's grpcio with stubs generated here from proto/ by protoc
and grpc_python_plugin, and h5py reads the files back.  Every RPC's happy
path and application errors, the escapes a client could try through
ConfigureStorage.output_directory and StartRecording.name, the catalogue
across a daemon restart, and StreamRecordingProgress's timing.  The heavy
acceptance tests (codecs x big frames, SWMR, kill -9, ENOSPC, slow disk) are
tests/integration/test_recording.py.

usage: test_storage_grpc.py DAQD [TestClass ...]
"""
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import grpc
import h5py
from google.protobuf.json_format import MessageToDict

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO = os.path.join(HERE, "..", "..", "proto")
sys.path.insert(0, HERE)
from daqd_harness import Daemon  # noqa: E402

DAQD = None
SIDE = 64   # small frames: this file tests the API, not throughput
FPS = 100
# RecordingState and ScanState (storage facts §3)
IDLE, ACTIVE, FLUSHING, FINALIZING, ERROR = 1, 2, 3, 4, 5
RUNNING, COMPLETED, STOPPED, SCAN_ERROR = 2, 4, 5, 6
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
SUPPORTED = "(supported: none, gzip, lz4, bslz4)"
UNARY = ("ConfigureStorage", "GetStorageConfig", "StartRecording", "StopRecording",
         "GetRecordingStatus", "ListAcquisitions", "GetAcquisitionInfo", "DeleteAcquisition",
         "FlushToStorage")
GARBAGE = b"\xff\xff\xff\xff\x0f\x0a\x99"  # a varint key that never ends


def generate_stubs():
    """daq_pb2 and daq_pb2_grpc from proto/daq.proto, into a temporary directory."""
    out = tempfile.mkdtemp(prefix="daq-storage-stubs-")
    plugin = shutil.which("grpc_python_plugin")
    if not plugin:
        raise RuntimeError("grpc_python_plugin not found (Debian: protobuf-compiler-grpc)")
    subprocess.run(["protoc", "-I", PROTO, "--python_out=" + out, "--grpc_python_out=" + out,
                    "--plugin=protoc-gen-grpc_python=" + plugin, "daq.proto"], check=True)
    sys.path.insert(0, out)
    import daq_pb2
    import daq_pb2_grpc
    return daq_pb2, daq_pb2_grpc


pb, pbg = generate_stubs()


def daemon_config(root, max_buffer_mb):
    text = ""
    for cam in ("cam0", "cam1"):
        text += """
[[devices]]
id = "%s"
name = "Simulated camera"
autostart = false
[devices.driver]
type = "sim"
width = %d
height = %d
frame_rate_hz = %d.0
exposure_ms = 1.0
""" % (cam, SIDE, SIDE, FPS)
    return text + """
[storage]
root = "%s"
compression = "none"
flush_interval_ms = 100
max_buffer_mb = %d
workers = 1
""" % (root, max_buffer_mb)


def tree(path):
    """Everything under path, symlinks not followed: relpath -> (type, size, mtime)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            out[os.path.relpath(p, path)] = (st.st_mode >> 12, st.st_size, st.st_mtime_ns)
    return out


def hdf5(compression="none", **kw):
    return pb.HDF5Config(compression=compression, include_timestamps=True,
                         include_device_metadata=True, **kw)


# The daemon's settings ([storage] above, rust-daq's defaults for the rest).
DEFAULT_HDF5 = hdf5("none", compression_level=4, chunk_size=4096,
                    filename_pattern="{name}_{timestamp}.h5")


def settings(c):
    """A StorageConfig without the disk figures (which move with every file)."""
    d = MessageToDict(c)
    d.pop("diskSpaceAvailableBytes", None)
    d.pop("diskSpaceUsedBytes", None)
    return d


def attr(h, path, key):
    v = h[path].attrs[key]
    return v.decode() if isinstance(v, bytes) else v


class Base(unittest.TestCase):
    """One daemon per class; base/root is the storage root, base/outside a
    directory next to it that nothing may touch."""
    env = None
    max_buffer_mb = 8

    @classmethod
    def setUpClass(cls):
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
        cls.base = os.path.realpath(tempfile.mkdtemp(prefix="daq-stgrpc-", dir=shm))
        cls.root = os.path.join(cls.base, "root")
        cls.outside = os.path.join(cls.base, "outside")
        os.makedirs(cls.root)
        os.makedirs(cls.outside)
        with open(os.path.join(cls.outside, "sentinel"), "w") as f:
            f.write("x")
        os.symlink(cls.outside, os.path.join(cls.root, "link"))
        try:
            cls.start_daemon()
        except BaseException:
            shutil.rmtree(cls.base, ignore_errors=True)
            raise

    @classmethod
    def start_daemon(cls):
        cls.d = Daemon(DAQD, daemon_config(cls.root, cls.max_buffer_mb), env=cls.env,
                       name="storage").start()
        cls.channel = grpc.insecure_channel("127.0.0.1:%d" % cls.d.grpc_port)
        cls.st = pbg.StorageServiceStub(cls.channel)
        cls.hw = pbg.HardwareServiceStub(cls.channel)

    @classmethod
    def stop_daemon(cls):
        cls.channel.close()
        cls.d.signal(signal.SIGTERM)
        code, _ = cls.d.wait(30)
        if code != 0:
            raise AssertionError("daqd exited %d (leak or crash?)\n%s" % (code, cls.d.log()))

    @classmethod
    def tearDownClass(cls):
        try:
            cls.stop_daemon()
        finally:
            shutil.rmtree(cls.base, ignore_errors=True)

    def tearDown(self):
        try:  # a recording a failed test left running
            self.st.StopRecording(pb.StopRecordingRequest(), timeout=30)
        except grpc.RpcError:
            pass
        for cam in ("cam0", "cam1"):
            self.hw.StopStream(pb.StopStreamRequest(device_id=cam), timeout=10)
        r = self.st.ConfigureStorage(pb.ConfigureStorageRequest(
            output_directory=self.root, hdf5_config=DEFAULT_HDF5, flush_interval_ms=100,
            max_buffer_mb=self.max_buffer_mb), timeout=10)
        self.assertTrue(r.success, r.error_message)

    # -- helpers

    def stream(self, *cams):
        for cam in cams:
            r = self.hw.StartStream(pb.StartStreamRequest(device_id=cam), timeout=10)
            self.assertTrue(r.success)

    def start(self, name="run", metadata=None, override=None, scan_id=None, run_uid=None):
        req = pb.StartRecordingRequest(name=name, metadata=metadata or {})
        if override is not None:
            req.config_override.CopyFrom(override)
        if scan_id is not None:
            req.scan_id = scan_id
        if run_uid is not None:
            req.run_uid = run_uid
        return self.st.StartRecording(req, timeout=30)

    def start_ok(self, *a, **kw):
        r = self.start(*a, **kw)
        self.assertTrue(r.success, "StartRecording: %r\n%s" % (r.error_message, self.d.log()[-3000:]))
        self.assertRegex(r.recording_id, UUID4)
        self.assertTrue(r.output_path.startswith(self.root + "/"), r.output_path)
        return r

    def stop(self, rid=None, final=None):
        req = pb.StopRecordingRequest(final_metadata=final or {})
        if rid is not None:
            req.recording_id = rid
        return self.st.StopRecording(req, timeout=60)

    def status(self, rid=None):
        req = pb.GetRecordingStatusRequest()
        if rid is not None:
            req.recording_id = rid
        return self.st.GetRecordingStatus(req, timeout=10)

    def wait_samples(self, n, timeout=10.0):
        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end:
            s = self.status()
            if s.samples_recorded >= n:
                return s
            time.sleep(0.02)
        self.fail("fewer than %d samples after %.0f s: %s" % (n, timeout, self.status()))

    def wait_idle(self, rid, timeout=20.0):
        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end:
            s = self.status(rid)
            if s.state in (IDLE, ERROR):
                return s
            time.sleep(0.02)
        self.fail("recording %s still running after %.0f s" % (rid, timeout))

    def record(self, name, frames, **kw):
        """A recording of `frames` frames per streaming camera, finished by
        itself and then stopped; returns (start, stop) responses."""
        md = dict(kw.pop("metadata", {}))
        md["max_frames"] = str(frames)
        r = self.start_ok(name, md, **kw)
        self.wait_idle(r.recording_id)
        s = self.stop(r.recording_id)
        self.assertTrue(s.success, s.error_message)
        return r, s

    def config(self):
        return self.st.GetStorageConfig(pb.GetStorageConfigRequest(), timeout=10)

    def configure(self, output_directory="", h=None, **kw):
        req = pb.ConfigureStorageRequest(output_directory=output_directory, **kw)
        if h is not None:
            req.hdf5_config.CopyFrom(h)
        return self.st.ConfigureStorage(req, timeout=10)


class Api(Base):
    def test_unimplemented_and_malformed(self):
        # served since issue 16 (the zero-copy tap): UNAVAILABLE while [tap] is off
        with self.assertRaises(grpc.RpcError) as e:
            self.channel.unary_unary("/daq.StorageService/GetRingBufferTapInfo")(b"", timeout=5)
        self.assertEqual(e.exception.code(), grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(e.exception.details(),
                         "tap: not enabled ([tap] enabled = true in the config)")
        with self.assertRaises(grpc.RpcError) as e:
            self.channel.unary_unary("/daq.StorageService/NoSuchMethod")(b"", timeout=5)
        self.assertEqual(e.exception.code(), grpc.StatusCode.UNIMPLEMENTED)
        for rpc in UNARY + ("GetRingBufferTapInfo",):
            with self.subTest(rpc=rpc):
                with self.assertRaises(grpc.RpcError) as e:
                    self.channel.unary_unary("/daq.StorageService/" + rpc)(GARBAGE, timeout=5)
                self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
                self.assertRegex(e.exception.details(), r"^malformed Daq__\w+ message$")
        with self.assertRaises(grpc.RpcError) as e:
            next(self.channel.unary_stream("/daq.StorageService/StreamRecordingProgress")(
                GARBAGE, timeout=5))
        self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        # the service still answers
        self.assertEqual(self.config().output_directory, self.root)

    def test_daemon_info_names_the_feature(self):
        info = pbg.ControlServiceStub(self.channel).GetDaemonInfo(pb.DaemonInfoRequest(), timeout=5)
        self.assertIn("storage_hdf5", list(info.features))  # rust-daq's name for it

    def test_storage_config_from_the_daemon_config(self):
        c = self.config()
        self.assertEqual(c.output_directory, self.root)
        self.assertEqual(c.hdf5_config.compression, "none")
        self.assertEqual(c.hdf5_config.compression_level, 4)
        self.assertEqual(c.hdf5_config.chunk_size, 4096)
        self.assertEqual(c.hdf5_config.filename_pattern, "{name}_{timestamp}.h5")
        self.assertTrue(c.hdf5_config.include_timestamps)
        self.assertTrue(c.hdf5_config.include_device_metadata)
        self.assertEqual((c.flush_interval_ms, c.max_buffer_mb), (100, 8))
        vfs = os.statvfs(self.root)
        self.assertGreater(c.disk_space_available_bytes, 0)
        self.assertLessEqual(c.disk_space_available_bytes, vfs.f_blocks * vfs.f_frsize)

    def test_configure_storage(self):
        r = self.configure("sub/dir", hdf5("gzip", compression_level=6, chunk_size=512,
                                           filename_pattern="{name}.h5"),
                           flush_interval_ms=250, max_buffer_mb=16)
        self.assertTrue(r.success, r.error_message)
        self.assertEqual(r.error_message, "")
        self.assertEqual(r.resolved_output_directory, os.path.join(self.root, "sub", "dir"))
        self.assertTrue(os.path.isdir(r.resolved_output_directory))
        c = self.config()
        self.assertEqual(c.output_directory, r.resolved_output_directory)
        self.assertEqual((c.hdf5_config.compression, c.hdf5_config.compression_level,
                          c.hdf5_config.chunk_size, c.hdf5_config.filename_pattern),
                         ("gzip", 6, 512, "{name}.h5"))
        self.assertEqual((c.flush_interval_ms, c.max_buffer_mb), (250, 16))
        # "" keeps the directory, absent fields keep their values
        r = self.configure("")
        self.assertTrue(r.success, r.error_message)
        self.assertEqual(r.resolved_output_directory, os.path.join(self.root, "sub", "dir"))
        self.assertEqual(settings(self.config()), settings(c))
        # an HDF5Config replaces: "" keeps the codec, absent optionals keep theirs
        r = self.configure("", pb.HDF5Config(compression="", include_timestamps=True))
        self.assertTrue(r.success, r.error_message)
        h = self.config().hdf5_config
        self.assertEqual((h.compression, h.compression_level, h.chunk_size, h.filename_pattern),
                         ("gzip", 6, 512, "{name}.h5"))
        self.assertEqual((h.include_timestamps, h.include_device_metadata), (True, False))
        # refusals change nothing
        before = settings(self.config())
        for h, want in ((hdf5("zstd"), "unsupported compression 'zstd' " + SUPPORTED),
                        (hdf5("gzip", compression_level=12),
                         "compression_level 12 out of range (gzip: 0..9)")):
            with self.subTest(compression=h.compression):
                r = self.configure("elsewhere", h)
                self.assertFalse(r.success)
                self.assertEqual(r.error_message, want)
                self.assertEqual(r.resolved_output_directory, "")
        r = self.configure("", flush_interval_ms=0)
        self.assertFalse(r.success)
        self.assertEqual(r.error_message, "flush_interval_ms 0 out of range (10..3600000)")
        self.assertEqual(settings(self.config()), before)
        self.assertFalse(os.path.exists(os.path.join(self.root, "sub", "dir", "elsewhere")))
        self.assertFalse(os.path.exists(os.path.join(self.root, "elsewhere")))

    def test_output_directory_escapes(self):
        before = tree(self.base)
        far = os.path.join(tempfile.gettempdir(), "daq-stgrpc-escape-%d" % os.getpid())
        for od in ("../x", "..", "../outside/y", os.path.relpath(far, self.root), far,
                   os.path.join(self.outside, "abs"), "/", "link", "link/sub", "a/../../x"):
            with self.subTest(output_directory=od):
                r = self.configure(od)
                self.assertFalse(r.success, "%r accepted: %s" % (od, r.resolved_output_directory))
                self.assertTrue(r.error_message.startswith("Invalid output path: "),
                                r.error_message)
                self.assertEqual(self.config().output_directory, self.root)
        r = self.configure("ok\x00/../../x")
        self.assertFalse(r.success)
        self.assertEqual(r.error_message, "Invalid output path: contains a NUL byte")
        self.assertEqual(tree(self.base), before)
        self.assertFalse(os.path.lexists(far))

    def test_recording_lifecycle(self):
        r = self.start("nothing")
        self.assertFalse(r.success)
        self.assertEqual(r.error_message, "No streaming camera to record")
        self.assertEqual((r.recording_id, r.output_path), ("", ""))
        self.stream("cam0", "cam1")
        r = self.start_ok("life", {"operator": "ada"}, scan_id="scan-7", run_uid="run-1")
        rid = r.recording_id
        self.assertEqual(os.path.dirname(r.output_path), self.root)
        self.assertTrue(os.path.basename(r.output_path).startswith("life_"))
        again = self.start("again")
        self.assertFalse(again.success)
        self.assertEqual(again.error_message, "Recording already in progress")
        self.assertEqual(again.recording_id, "")
        s = self.wait_samples(20)
        self.assertEqual((s.recording_id, s.output_path), (rid, r.output_path))
        self.assertIn(s.state, (ACTIVE, FLUSHING))
        self.assertGreater(s.start_time_ns, 0)
        self.assertGreater(s.elapsed_ns, 0)
        self.assertEqual(s.error_message, "")
        self.assertEqual(MessageToDict(self.status(rid))["recordingId"], rid)
        with self.assertRaises(grpc.RpcError) as e:
            self.status("0" * 8 + "-0000-4000-8000-" + "0" * 12)
        self.assertEqual(e.exception.code(), grpc.StatusCode.NOT_FOUND)
        self.assertEqual(e.exception.details(),
                         "Recording 00000000-0000-4000-8000-000000000000 not found")
        # a synchronous flush covers every frame written before it
        before = self.status(rid).samples_recorded
        f = self.st.FlushToStorage(pb.FlushToStorageRequest(recording_id=rid, sync=True),
                                   timeout=30)
        self.assertTrue(f.success, f.error_message)
        self.assertGreaterEqual(f.samples_flushed, before)
        self.assertGreater(f.bytes_written, 0)
        self.assertGreaterEqual(self.status(rid).flushes_completed, 1)
        f = self.st.FlushToStorage(pb.FlushToStorageRequest(recording_id="nope"), timeout=30)
        self.assertEqual((f.success, f.error_message), (False, "Recording nope not found"))
        # stop: unknown id, then the recording itself
        s = self.stop("nope")
        self.assertEqual((s.success, s.error_message), (False, "Recording nope not found"))
        s = self.stop(final={"verdict": "good"})
        self.assertTrue(s.success, s.error_message)
        self.assertEqual(s.error_message, "")
        self.assertEqual((s.acquisition_id, s.output_path), (rid, r.output_path))
        self.assertEqual(s.file_size_bytes, os.stat(r.output_path).st_size)
        self.assertGreater(s.duration_ns, 0)
        with h5py.File(r.output_path, "r") as h:
            n = sum(h["entry"][cam]["data"].shape[0] for cam in ("cam0", "cam1"))
            self.assertEqual(attr(h, "entry", "recording_id"), rid)
            self.assertEqual(attr(h, "entry", "scan_id"), "scan-7")
            self.assertEqual(attr(h, "entry", "run_uid"), "run-1")
            self.assertEqual(attr(h, "entry/metadata", "operator"), "ada")
            self.assertEqual(attr(h, "entry/final_metadata", "verdict"), "good")
            self.assertEqual(int(h["entry"].attrs["frames_written"]), n)
        self.assertEqual(s.total_samples, n)
        self.assertGreaterEqual(n, 20)
        st = self.status()
        self.assertEqual((st.recording_id, st.state, st.samples_recorded), (rid, IDLE, n))
        # nothing to stop or flush any more
        s = self.stop()
        self.assertEqual((s.success, s.error_message), (False, "No active recording"))
        f = self.st.FlushToStorage(pb.FlushToStorageRequest(sync=True), timeout=30)
        self.assertEqual((f.success, f.error_message), (False, "No active recording"))

    def test_stops_by_itself_at_max_frames(self):
        self.stream("cam0")
        r = self.start_ok("limited", {"max_frames": "15"})
        st = self.wait_idle(r.recording_id)
        self.assertEqual((st.state, st.samples_recorded), (IDLE, 15))
        s = self.stop()  # the last recording, nobody stopped it yet
        self.assertTrue(s.success, s.error_message)
        self.assertEqual((s.acquisition_id, s.total_samples), (r.recording_id, 15))
        self.assertEqual(s.file_size_bytes, os.stat(r.output_path).st_size)
        s = self.stop()
        self.assertEqual((s.success, s.error_message), (False, "No active recording"))

    def test_metadata_extensions_and_errors(self):
        self.stream("cam0")
        for md, want in (({"max_frames": "abc"},
                          "Invalid metadata max_frames: 'abc' is not a whole number"),
                         ({"duration_ms": "-5"},
                          "Invalid metadata duration_ms: '-5' is not a whole number"),
                         ({"devices": "nope"}, "Device nope is not streaming"),
                         ({"devices": "cam0,cam1"}, "Device cam1 is not streaming")):
            with self.subTest(metadata=md):
                before = tree(self.base)
                r = self.start("bad", md)
                self.assertFalse(r.success)
                self.assertEqual(r.error_message, want)
                self.assertEqual(tree(self.base), before)
        self.stream("cam1")
        r, s = self.record("one_camera", 10, metadata={"devices": "cam1"})
        self.assertEqual(s.total_samples, 10)
        with h5py.File(r.output_path, "r") as h:
            self.assertIn("cam1", h["entry"])
            self.assertNotIn("cam0", h["entry"])
            self.assertEqual(attr(h, "entry/metadata", "devices"), "cam1")

    def test_name_escapes(self):
        self.stream("cam0")
        before = tree(self.base)
        for name in ("a/b", "../x", "/tmp/x", "x/../../y", "a\x00b", "\x00", "ok\x00/../x"):
            with self.subTest(name=name):
                r = self.start(name)
                self.assertFalse(r.success, "name %r accepted: %s" % (name, r.output_path))
                self.assertTrue(r.error_message.startswith("Invalid name: "), r.error_message)
                self.assertEqual(r.recording_id, "")
        self.assertEqual(tree(self.base), before)
        # other bytes are sanitised into a name inside the root
        r, _ = self.record("..héllo wörld", 3)
        base = os.path.basename(r.output_path)
        self.assertRegex(base, r"^[A-Za-z0-9._-]+$")
        self.assertFalse(base.startswith("."))

    def test_config_override_is_for_one_recording(self):
        self.stream("cam0")
        before = settings(self.config())
        r = self.start("zstd", override=hdf5("zstd"))
        self.assertFalse(r.success)
        self.assertEqual(r.error_message, "unsupported compression 'zstd' " + SUPPORTED)
        r, s = self.record("lz4", 10, override=hdf5("lz4", filename_pattern="ovr_{name}.h5"))
        self.assertEqual(os.path.basename(r.output_path), "ovr_lz4.h5")
        with h5py.File(r.output_path, "r") as h:
            d = h["entry/cam0/data"]
            dcpl = d.id.get_create_plist()
            self.assertEqual([dcpl.get_filter(i)[0] for i in range(dcpl.get_nfilters())], [32004])
            self.assertEqual(d[3].shape, (SIDE, SIDE))  # decodes through the plugin
            self.assertEqual(d.shape, (10, SIDE, SIDE))
        self.assertEqual(settings(self.config()), before)


class Catalogue(Base):
    """Three recordings, then the catalogue: filters, info, a restart, delete."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        t = cls("test_list")
        t.stream("cam0")
        cls.recs = {}
        for name, frames in (("alpha", 5), ("beta", 7), ("gamma", 9)):
            r, s = t.record(name, frames, scan_id="scan-" + name, metadata={"who": name})
            cls.recs[name] = (r, s)
            time.sleep(0.01)  # distinct creation times
        t.hw.StopStream(pb.StopStreamRequest(device_id="cam0"), timeout=10)

    def list(self, **kw):
        return self.st.ListAcquisitions(pb.ListAcquisitionsRequest(**kw), timeout=30)

    def info(self, aid):
        return self.st.GetAcquisitionInfo(pb.GetAcquisitionInfoRequest(acquisition_id=aid),
                                          timeout=30)

    def test_list(self):
        lst = self.list()
        self.assertEqual(lst.total_count, 3)
        self.assertEqual([a.name for a in lst.acquisitions], ["gamma", "beta", "alpha"])
        for a in lst.acquisitions:
            r, s = self.recs[a.name]
            self.assertEqual((a.acquisition_id, a.file_path), (r.recording_id, r.output_path))
            self.assertEqual(a.file_size_bytes, os.stat(a.file_path).st_size)
            self.assertEqual(a.sample_count, s.total_samples)
            self.assertGreater(a.created_at_ns, 0)
            self.assertGreater(a.duration_ns, 0)
        beta = lst.acquisitions[1]
        self.assertEqual([a.name for a in self.list(name_pattern="?e*").acquisitions], ["beta"])
        self.assertEqual([a.name for a in self.list(name_pattern="[ab]*").acquisitions],
                         ["beta", "alpha"])
        self.assertEqual(self.list(name_pattern="nomatch*").total_count, 0)
        page = self.list(limit=1, offset=1)
        self.assertEqual((page.total_count, [a.name for a in page.acquisitions]), (3, ["beta"]))
        self.assertEqual([a.name for a in self.list(offset=5).acquisitions], [])
        after = self.list(after_timestamp_ns=beta.created_at_ns + 1)
        self.assertEqual([a.name for a in after.acquisitions], ["gamma"])
        before = self.list(before_timestamp_ns=beta.created_at_ns - 1)
        self.assertEqual([a.name for a in before.acquisitions], ["alpha"])

    def test_info(self):
        r, s = self.recs["beta"]
        i = self.info(r.recording_id)
        self.assertEqual((i.acquisition_id, i.name, i.file_path),
                         (r.recording_id, "beta", r.output_path))
        self.assertEqual(i.file_size_bytes, os.stat(r.output_path).st_size)
        self.assertEqual(i.metadata["who"], "beta")
        self.assertEqual(i.metadata["max_frames"], "7")
        self.assertTrue(i.HasField("scan_id"))
        self.assertEqual(i.scan_id, "scan-beta")
        self.assertFalse(i.HasField("run_uid"))
        ds = {d.name: d for d in i.datasets}
        data = ds["/entry/cam0/data"]
        self.assertEqual((data.dtype, list(data.shape), data.device_id, data.sample_count),
                         ("uint16", [7, SIDE, SIDE], "cam0", 7))
        self.assertEqual(ds["/entry/cam0/frame_number"].dtype, "uint64")
        self.assertEqual(ds["/entry/cam0/exposure_ms"].dtype, "float64")
        self.assertEqual(i.structure.dataset_count, len(i.datasets))
        self.assertIn("/entry/cam0", i.structure.groups)
        self.assertEqual(i.structure.compression, "none")
        with self.assertRaises(grpc.RpcError) as e:
            self.info("no-such-id")
        self.assertEqual(e.exception.code(), grpc.StatusCode.NOT_FOUND)
        self.assertEqual(e.exception.details(), "Acquisition not found")

    def test_restart_gives_the_same_answers(self):
        ids = [self.recs[n][0].recording_id for n in ("alpha", "beta", "gamma")]
        before = (MessageToDict(self.list()), [MessageToDict(self.info(i)) for i in ids])
        type(self).stop_daemon()
        type(self).start_daemon()
        after = (MessageToDict(self.list()), [MessageToDict(self.info(i)) for i in ids])
        self.assertEqual(after, before)

    def test_z_delete_removes_only_our_file(self):
        # foreign files under the root: a hand-made HDF5 file and a text file
        foreign = os.path.join(self.root, "foreign.h5")
        with h5py.File(foreign, "w") as h:
            h.create_group("entry").attrs["NX_class"] = "NXentry"
        with open(os.path.join(self.root, "notes.txt"), "w") as f:
            f.write("keep me")
        r, _ = self.recs["alpha"]
        aid = r.recording_id
        d = self.st.DeleteAcquisition(pb.DeleteAcquisitionRequest(acquisition_id=aid), timeout=30)
        self.assertEqual((d.success, d.error_message, d.bytes_freed),
                         (False, "Deletion requires confirm=true", 0))
        self.assertTrue(os.path.exists(r.output_path))
        with self.assertRaises(grpc.RpcError) as e:
            self.st.DeleteAcquisition(pb.DeleteAcquisitionRequest(acquisition_id="foreign",
                                                                  confirm=True), timeout=30)
        self.assertEqual(e.exception.code(), grpc.StatusCode.NOT_FOUND)
        self.assertEqual(e.exception.details(), "Acquisition not found")
        before = tree(self.base)
        size = os.stat(r.output_path).st_size
        d = self.st.DeleteAcquisition(pb.DeleteAcquisitionRequest(acquisition_id=aid, confirm=True),
                                      timeout=30)
        self.assertTrue(d.success, d.error_message)
        self.assertEqual(d.bytes_freed, size)
        gone = set(before) - set(tree(self.base))
        self.assertEqual(gone, {os.path.relpath(r.output_path, self.base)})
        self.assertTrue(os.path.exists(foreign))
        self.assertEqual([a.name for a in self.list().acquisitions], ["gamma", "beta"])
        with self.assertRaises(grpc.RpcError) as e:
            self.st.DeleteAcquisition(pb.DeleteAcquisitionRequest(acquisition_id=aid,
                                                                  confirm=True), timeout=30)
        self.assertEqual(e.exception.code(), grpc.StatusCode.NOT_FOUND)
        # a recording in progress is not deleted
        self.stream("cam0")
        r = self.start_ok("busy")
        self.wait_samples(5)
        d = self.st.DeleteAcquisition(pb.DeleteAcquisitionRequest(acquisition_id=r.recording_id,
                                                                  confirm=True), timeout=30)
        self.assertFalse(d.success)
        self.assertEqual(d.error_message,
                         "Recording %s is in progress: stop it first" % r.recording_id)
        self.assertTrue(self.stop(r.recording_id).success)
        self.assertTrue(os.path.exists(r.output_path))


class Progress(Base):
    def read(self, call, out):
        """Collects (receive time, message) from a progress stream until it ends."""
        try:
            for m in call:
                out.append((time.monotonic(), m))
        except grpc.RpcError as e:
            out.append((time.monotonic(), e))

    def follow(self, scan_id="", interval_ms=100, timeout=30):
        call = self.st.StreamRecordingProgress(pb.StreamRecordingProgressRequest(
            scan_id=scan_id, update_interval_ms=interval_ms), timeout=timeout)
        got = []
        t = threading.Thread(target=self.read, args=(call, got), daemon=True)
        t.start()
        return call, got, t

    def check_ended_ok(self, got, t):
        t.join(20)
        self.assertFalse(t.is_alive(), "the progress stream did not end")
        self.assertTrue(got, "no progress message")
        self.assertNotIsInstance(got[-1][1], grpc.RpcError, "stream failed: %r" % (got[-1][1],))

    def test_interval_samples_and_last_message(self):
        self.stream("cam0")
        call, got, t = self.follow(interval_ms=100)  # waits for a recording
        time.sleep(0.3)
        self.assertEqual(got, [])
        r = self.start_ok("progress", {"max_frames": "100"}, scan_id="p1")  # 1 s at 100 FPS
        self.check_ended_ok(got, t)
        msgs = [m for _, m in got]
        self.assertTrue(all(m.scan_id == "p1" for m in msgs))
        running = [(at, m) for at, m in got if m.state == RUNNING]
        self.assertGreaterEqual(len(running), 6, msgs)
        self.assertLessEqual(len(running), 16, msgs)
        last = msgs[-1]
        self.assertEqual((last.state, last.samples_recorded), (COMPLETED, 100))
        self.assertTrue(last.HasField("estimated_remaining_ns"))
        self.assertEqual(last.estimated_remaining_ns, 0)
        self.assertEqual([m for m in msgs[:-1] if m.state != RUNNING], [])
        # every interval: the server's timestamps and the arrival times
        stamps = [m.timestamp_ns for _, m in running]
        gaps = [(b - a) / 1e6 for a, b in zip(stamps, stamps[1:])]
        self.assertTrue(90 <= statistics.median(gaps) <= 130, gaps)
        arrivals = [at for at, _ in running]
        agaps = [(b - a) * 1e3 for a, b in zip(arrivals, arrivals[1:])]
        self.assertTrue(70 <= statistics.median(agaps) <= 160, agaps)
        samples = [m.samples_recorded for m in msgs]
        self.assertEqual(samples, sorted(samples))
        rates = [m.samples_per_second for _, m in running[1:]]
        self.assertTrue(50 <= statistics.median(rates) <= 150, rates)
        self.assertTrue(self.stop(r.recording_id).success)

    def test_stopped_by_a_client(self):
        self.stream("cam0")
        r = self.start_ok("stopped")
        call, got, t = self.follow(interval_ms=50)
        self.wait_samples(20)
        self.assertTrue(self.stop().success)
        self.check_ended_ok(got, t)
        self.assertEqual(got[-1][1].state, STOPPED)
        self.assertEqual(got[-1][1].samples_recorded, self.status(r.recording_id).samples_recorded)

    def test_scan_id_selects_the_recording(self):
        self.stream("cam0")
        other, other_got, ot = self.follow(scan_id="other", interval_ms=50, timeout=1.5)
        r = self.start_ok("mine", scan_id="mine")
        mine, got, t = self.follow(scan_id="mine", interval_ms=50)
        self.wait_samples(10)
        self.assertTrue(self.stop(r.recording_id).success)
        self.check_ended_ok(got, t)
        self.assertTrue(all(m.scan_id == "mine" for _, m in got))
        ot.join(10)
        self.assertEqual(len(other_got), 1)
        self.assertIsInstance(other_got[0][1], grpc.RpcError)
        self.assertEqual(other_got[0][1].code(), grpc.StatusCode.DEADLINE_EXCEEDED)
        # a finished recording with the scan id: one last message, then the end
        late, late_got, lt = self.follow(scan_id="mine", interval_ms=50)
        self.check_ended_ok(late_got, lt)
        self.assertEqual([m.state for _, m in late_got], [STOPPED])

    def test_interval_clamped_to_20_ms(self):
        self.stream("cam0")
        call, got, t = self.follow(interval_ms=1)
        r = self.start_ok("fast", {"max_frames": "40"})
        self.check_ended_ok(got, t)
        stamps = [m.timestamp_ns for _, m in got if m.state == RUNNING]
        gaps = [(b - a) / 1e6 for a, b in zip(stamps, stamps[1:])]
        self.assertGreaterEqual(len(gaps), 5)
        self.assertTrue(18 <= statistics.median(gaps) <= 40, gaps)
        self.assertTrue(self.stop(r.recording_id).success)

    def test_at_most_8_streams(self):
        calls = [self.follow(scan_id="never", timeout=30) for _ in range(8)]
        time.sleep(0.5)
        self.assertEqual([c for c, got, _ in calls if got or c.done()], [])
        with self.assertRaises(grpc.RpcError) as e:
            next(self.st.StreamRecordingProgress(pb.StreamRecordingProgressRequest(
                scan_id="never"), timeout=10))
        self.assertEqual(e.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertEqual(e.exception.details(), "StreamRecordingProgress: 8 streams are open "
                                                "(the most); close one first")
        for c, _, t in calls:
            c.cancel()
        for _, got, t in calls:
            t.join(10)
            self.assertEqual(got[-1][1].code(), grpc.StatusCode.CANCELLED)
        # the slots come back once the streams have seen the cancel
        t_end = time.monotonic() + 10
        while True:
            with self.assertRaises(grpc.RpcError) as e:
                next(self.st.StreamRecordingProgress(pb.StreamRecordingProgressRequest(
                    scan_id="never"), timeout=0.3))
            if e.exception.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                break
            self.assertEqual(e.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
            self.assertLess(time.monotonic(), t_end, "stream slots not released")
            time.sleep(0.1)


class SlowStop(Base):
    """A recorder slower than the camera (the test-only per-frame delay): its
    queue fills, and StopRecording takes seconds to drain it.  Meanwhile the
    camera API must keep answering at once -- the storage calls run on the
    service's own workers, not on the gRPC thread every call goes through."""
    env = {"DAQ_TEST_WRITE_DELAY_US": "20000"}  # 50 frames/s against a 100 FPS camera
    max_buffer_mb = 1                           # 128 frames of 8 KiB queued at most

    def test_camera_api_answers_during_a_long_stop(self):
        self.stream("cam0")
        r = self.start_ok("slow")
        time.sleep(1.5)
        self.assertGreater(self.status().pending_samples, 20)
        done = {}

        def stopper():
            t0 = time.monotonic()
            done["stop"] = self.stop(r.recording_id)
            done["secs"] = time.monotonic() - t0

        t = threading.Thread(target=stopper)
        t.start()
        time.sleep(0.1)
        lat = []
        while t.is_alive() and len(lat) < 1000:
            t0 = time.monotonic()
            st = self.hw.GetDeviceState(pb.DeviceStateRequest(device_id="cam0"), timeout=10)
            lat.append(time.monotonic() - t0)
            self.assertTrue(st.online)
            time.sleep(0.02)
        t.join(60)
        self.assertFalse(t.is_alive())
        self.assertTrue(done["stop"].success, done["stop"].error_message)
        self.assertGreater(done["secs"], 0.5, "the stop was too quick to show anything")
        self.assertGreaterEqual(len(lat), 10)
        self.assertLess(max(lat), 0.25, "the camera API stalled during StopRecording: %r" % lat)
        self.assertEqual(done["stop"].total_samples,
                         h5py.File(r.output_path, "r")["entry/cam0/data"].shape[0])


if __name__ == "__main__":
    DAQD = sys.argv.pop(1)
    unittest.main(verbosity=2)
