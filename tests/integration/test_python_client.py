#!/usr/bin/python3
"""tests/integration/test_python_client.py - the Python client as a user
installs it (issue 11): pip-installed offline into a venv made with
--system-site-packages from Debian's /usr/bin/python3, talking to a real
daqd, its recordings read back with h5py.

Steps, in order (one ctest entry, storage.python_client):
  1  `pip install --no-build-isolation --no-index ./clients/python` from the
     source tree's top (clients/python/README.md's command): the package
     lands in the venv with the gRPC stubs its build generated, its version
     is the project's, and the source tree is left as it was; an sdist
     carries the protos, so a wheel builds from it alone.
  2  the venv's python, with no path into the source tree, records 20 frames
     of a 256x192 sim camera through Client.record (lz4 for this recording
     only), waits for it to end by itself, stops, lists, inspects; then the
     error answers (busy, idle, delete without confirm) and a second
     recording with flush, progress, final metadata and delete; h5py reads
     the first file and every frame equals sim_pattern.
  3  the CLI (`daq-client record ... --json`, `python -m daq_client
     recordings --json`), a recording without limit stopped by SIGTERM, and
     the refusal with no streaming camera.
  4  nothing was written into the venv's site-packages at run time (file
     list, sizes and mtimes as after the install) and no stubs were
     generated into the per-user cache (XDG_CACHE_HOME points at a scratch
     directory for every venv process; pip keeps its own cache there).

The client code runs in the venv's interpreter: this file re-executes itself
there with --child (never importing daq_client in the parent, and never
putting clients/python on sys.path).

usage: test_python_client.py DAQD
"""
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import unittest
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.normpath(os.path.join(HERE, "..", ".."))
PKG = os.path.join(SRC, "clients", "python")
DAQD = None
W, H = 256, 192
FPS = 50
FRAMES = 20
PIP_S = 300  # an offline pip install takes ~2 s here; generous for a loaded machine
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def config(root):
    return """
[[devices]]
id = "cam0"
name = "Simulated camera"
[devices.driver]
type = "sim"
width = %d
height = %d
frame_rate_hz = %d.0
exposure_ms = 1.0

[storage]
root = "%s"
flush_interval_ms = 200
""" % (W, H, FPS, root)


def run(args, timeout, **kw):
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)
    return r


def tree(top):
    """{relative path: (size, mtime_ns)} of every file and directory."""
    out = {}
    for d, dirs, files in os.walk(top):
        for n in dirs + files:
            p = os.path.join(d, n)
            st = os.lstat(p)
            out[os.path.relpath(p, top)] = (st.st_size if n in files else 0, st.st_mtime_ns)
    return out


def source_state():
    """git's view of clients/python, ignored files included: what a build
    must not change.  __pycache__ is left out: the other daemon tests import
    daq_client from the tree and may make it at any moment."""
    r = run(["git", "-C", SRC, "status", "--porcelain", "--ignored", "--", "clients/python"], 60)
    if r.returncode != 0:
        return None  # not a git checkout: nothing to compare
    return [line for line in r.stdout.splitlines() if "__pycache__" not in line]


def text(v):
    """An HDF5 string attribute as str (h5py gives bytes for fixed-length ones)."""
    return v.decode() if isinstance(v, bytes) else str(v)


def cmake_version():
    with open(os.path.join(SRC, "CMakeLists.txt")) as f:
        return re.search(r"project\(daq VERSION ([0-9.]+)", f.read()).group(1)


class PythonClient(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="daq-pyclient-")
        try:
            cls.install_and_start()
        except BaseException:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise

    @classmethod
    def install_and_start(cls):
        from daqd_harness import Daemon
        cls.venv = os.path.join(cls.tmp, "venv")
        cls.root = os.path.join(cls.tmp, "root")
        cls.cache = os.path.join(cls.tmp, "cache")  # XDG_CACHE_HOME of every client
        cls.src_before = source_state()
        r = run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", cls.venv], 120)
        if r.returncode != 0:
            raise AssertionError("venv: %s%s" % (r.stdout, r.stderr))
        cls.py = os.path.join(cls.venv, "bin", "python")
        # The command README.md gives, from the top of the source tree.
        cls.pip = run([cls.py, "-m", "pip", "install", "--no-build-isolation", "--no-index",
                       "./clients/python"], PIP_S, cwd=SRC, env=cls.env())
        if cls.pip.returncode != 0:
            raise AssertionError("pip install failed:\n%s%s" % (cls.pip.stdout, cls.pip.stderr))
        r = run([cls.py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], 60,
                cwd=cls.tmp, env=cls.env())
        cls.site = r.stdout.strip()
        cls.site_after_install = tree(cls.site)
        cls.d = Daemon(DAQD, config(cls.root)).start()
        cls.addr = "127.0.0.1:%d" % cls.d.grpc_port

    @classmethod
    def tearDownClass(cls):
        cls.d.signal(signal.SIGTERM)
        code, _ = cls.d.wait(30)
        shutil.rmtree(cls.tmp, ignore_errors=True)
        if code != 0:
            raise AssertionError("daqd exited %d\n%s" % (code, cls.d.log()))

    @classmethod
    def env(cls):
        """The environment of every venv process: nothing pointing into the
        source tree, an empty per-user cache."""
        e = {k: v for k, v in os.environ.items()
             if k not in ("PYTHONPATH", "DAQ_PROTO_DIR", "PYTHONDONTWRITEBYTECODE",
                          "VIRTUAL_ENV", "PYTHONHOME")}
        e["XDG_CACHE_HOME"] = cls.cache
        e["PIP_NO_INPUT"] = "1"
        return e

    def child(self, step):
        r = run([self.py, os.path.abspath(__file__), "--child", step, self.addr, self.root], 300,
                cwd=self.tmp, env=self.env())
        if r.returncode != 0:
            self.fail("child %s failed (%d):\n%s%s\n%s" % (step, r.returncode, r.stdout, r.stderr,
                                                          self.d.log()[-3000:]))
        return json.loads(r.stdout.strip().splitlines()[-1])

    def cli(self, *args, ok=True):
        r = run([os.path.join(self.venv, "bin", "daq-client"), "--address", self.addr] +
                list(args), 300, cwd=self.tmp, env=self.env())
        if ok and r.returncode != 0:
            self.fail("daq-client %s: %d\n%s%s" % (" ".join(args), r.returncode, r.stdout,
                                                   r.stderr))
        return r

    # ---- 1: the install ---------------------------------------------------------------

    def test_1_installed_package(self):
        pkg = os.path.join(self.site, "daq_client")
        for f in ("__init__.py", "__main__.py", "recording.py", "_protogen.py",
                  "_generated/__init__.py", "_generated/daq_pb2.py",
                  "_generated/daq_pb2_grpc.py", "_generated/health_pb2.py",
                  "_generated/health_pb2_grpc.py"):
            self.assertTrue(os.path.isfile(os.path.join(pkg, f)), f)
        with open(os.path.join(pkg, "_generated", "daq_pb2_grpc.py")) as f:
            text = f.read()
        self.assertIn("from . import daq_pb2 as daq__pb2", text)
        self.assertIn("class StorageServiceStub", text)
        version = cmake_version()
        self.assertTrue(os.path.isdir(os.path.join(self.site,
                                                   "daq_client-%s.dist-info" % version)),
                        "dist-info of version %s (project(daq VERSION)) missing: %s"
                        % (version, sorted(p for p in os.listdir(self.site) if "daq" in p)))
        self.assertTrue(os.access(os.path.join(self.venv, "bin", "daq-client"), os.X_OK))
        # The dependencies came from Debian's packages, not a download.
        self.assertIn("Requirement already satisfied: grpcio in /usr/lib/python3/dist-packages",
                      self.pip.stdout)
        self.assertEqual(source_state(), self.src_before, "the build changed clients/python")

    def test_1_sdist_carries_the_protos(self):
        out = os.path.join(self.tmp, "sdist")
        r = run(["/usr/bin/python3", "setup.py", "-q", "sdist", "-d", out], 120, cwd=PKG)
        self.assertEqual(r.returncode, 0, r.stderr)
        (name,) = os.listdir(out)
        with tarfile.open(os.path.join(out, name)) as t:
            names = t.getnames()
        base = name[:-len(".tar.gz")]
        for f in ("proto/daq.proto", "proto/health.proto", "setup.py", "pyproject.toml",
                  "daq_client/_protogen.py"):
            self.assertIn(base + "/" + f, names)
        # A wheel from the sdist alone: pip unpacks it far from the tree.
        wheels = os.path.join(self.tmp, "wheels")
        r = run(["/usr/bin/python3", "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                 "--no-index", "-w", wheels, os.path.join(out, name)], PIP_S, cwd=self.tmp,
                env=self.env())
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        (whl,) = os.listdir(wheels)
        with zipfile.ZipFile(os.path.join(wheels, whl)) as z:
            self.assertIn("daq_client/_generated/daq_pb2.py", z.namelist())
        self.assertEqual(source_state(), self.src_before, "the sdist changed clients/python")

    # ---- 2: the API from the venv -----------------------------------------------------

    def test_2_record_api(self):
        o = self.child("api")
        site_pkg = os.path.join(self.site, "daq_client")
        self.assertEqual(o["module_file"], os.path.join(site_pkg, "__init__.py"))
        self.assertEqual(o["stubs_file"], os.path.join(site_pkg, "_generated", "daq_pb2.py"))

        rec, stop, st = o["rec"], o["stop"], o["status"]
        rid = rec["recording_id"]
        self.assertRegex(rid, UUID4)
        self.assertTrue(rec["output_path"].startswith(os.path.realpath(self.root) + "/"),
                        rec["output_path"])
        self.assertEqual(st["state"], "RECORDING_IDLE", st)
        self.assertEqual(st["samples_recorded"], FRAMES)
        self.assertEqual(sorted(stop), ["acquisition_id", "duration_ns", "file_size_bytes",
                                        "output_path", "total_samples"])
        self.assertEqual(stop["acquisition_id"], rid)
        self.assertEqual(stop["output_path"], rec["output_path"])
        self.assertEqual(stop["total_samples"], FRAMES)
        self.assertEqual(stop["file_size_bytes"], o["file_size"])
        self.assertGreater(stop["duration_ns"], 0)
        # compression= is this recording's override: the daemon's stays gzip.
        self.assertEqual(o["compression_before"], "gzip")
        self.assertEqual(o["compression_after"], "gzip")

        # The file, read with h5py in the venv.
        self.assertEqual(o["shape"], [FRAMES, H, W])
        fn = o["frame_numbers"]
        self.assertEqual(fn, list(range(fn[0], fn[0] + FRAMES)))
        self.assertEqual(o["bad_frames"], [])
        self.assertEqual(o["frames_checked"], FRAMES)
        self.assertEqual(o["filter"], 32004)
        self.assertEqual(o["entry"], {"name": "pyclient", "recording_id": rid,
                                      "compression": "lz4", "scan_id": "scan-7",
                                      "run_uid": "run-1"})
        self.assertEqual(o["metadata"], {"operator": "test", "devices": "cam0",
                                         "max_frames": str(FRAMES)})

        # Refusals, whole texts.
        self.assertEqual(o["busy"], ["StartRecording", "Recording already in progress"])
        self.assertEqual(o["idle"], ["StopRecording", "No active recording"])
        self.assertEqual(o["delete_refused"],
                         ["DeleteAcquisition", "Deletion requires confirm=true"])
        self.assertEqual(o["bad_args"], ["frames: 0 is not a positive count",
                                         "duration: -1 is not a positive time (seconds)",
                                         "metadata['devices'] = 'cam1' conflicts with the "
                                         "argument's 'cam0'"])

        # The second recording: flush, progress, status, final metadata, delete.
        rid2 = o["rec2"]["recording_id"]
        self.assertNotEqual(rid2, rid)
        self.assertIn(o["status2"]["state"], ("RECORDING_ACTIVE", "RECORDING_FLUSHING"))
        self.assertEqual(o["status2"]["recording_id"], rid2)
        self.assertGreater(o["flush"]["samples_flushed"], 0)
        self.assertGreaterEqual(o["flush"]["samples_flushed"], o["recorded_before_flush"])
        self.assertEqual(len(o["progress"]), 2)
        s = [p["samples_recorded"] for p in o["progress"]]
        self.assertLessEqual(s[0], s[1])
        self.assertEqual(o["stop2"]["acquisition_id"], rid2)
        self.assertGreaterEqual(o["stop2"]["total_samples"], o["flush"]["samples_flushed"])
        self.assertEqual(o["final_metadata"], {"note": "done"})
        self.assertEqual(o["deleted"], o["stop2"]["file_size_bytes"])
        self.assertFalse(os.path.exists(o["stop2"]["output_path"]))

        # ListAcquisitions / GetAcquisitionInfo, read before the delete.
        listed = {r["acquisition_id"]: r for r in o["recordings"]}
        self.assertEqual(set(listed), {rid, rid2})
        self.assertEqual(listed[rid]["name"], "pyclient")
        self.assertEqual(listed[rid]["sample_count"], FRAMES)
        self.assertEqual(listed[rid]["file_path"], rec["output_path"])
        self.assertEqual(listed[rid]["file_size_bytes"], stop["file_size_bytes"])
        self.assertEqual([r["acquisition_id"] for r in o["recordings_glob"]], [rid])
        self.assertEqual(len(o["recordings_limit"]), 1)
        info = o["info"]
        self.assertEqual(info["acquisition_id"], rid)
        self.assertEqual(info["scan_id"], "scan-7")
        self.assertEqual(info["run_uid"], "run-1")
        self.assertEqual(info["metadata"].get("operator"), "test")
        data = [d for d in info["datasets"] if d["name"].endswith("cam0/data")]
        self.assertEqual(len(data), 1, info["datasets"])
        self.assertEqual(data[0]["shape"], [FRAMES, H, W])
        self.assertEqual(o["not_found"], "NOT_FOUND")

    # ---- 3: the CLI -------------------------------------------------------------------

    def test_3_cli(self):
        r = self.cli("record", "cli-run", "--device", "cam0", "--frames", str(FRAMES),
                     "--start-stream", "--compression", "none", "--meta", "k=v", "--json")
        summary = json.loads(r.stdout)
        self.assertEqual(summary["total_samples"], FRAMES)
        self.assertEqual(summary["file_size_bytes"], os.path.getsize(summary["output_path"]))
        self.assertRegex(summary["acquisition_id"], UUID4)
        import h5py
        with h5py.File(summary["output_path"], "r") as f:
            self.assertEqual(f["/entry/cam0/data"].shape, (FRAMES, H, W))
            self.assertEqual(text(f["/entry"].attrs["compression"]), "none")
            self.assertEqual(text(f["/entry/metadata"].attrs["k"]), "v")
        r = run([self.py, "-m", "daq_client", "--address", self.addr, "recordings", "--json"],
                120, cwd=self.tmp, env=self.env())
        self.assertEqual(r.returncode, 0, r.stderr)
        names = {x["acquisition_id"]: x["name"] for x in json.loads(r.stdout)}
        self.assertEqual(names.get(summary["acquisition_id"]), "cli-run")
        r = self.cli("recordings", "--pattern", "cli-*")
        self.assertEqual(len(r.stdout.splitlines()), 1, r.stdout)
        self.assertIn(summary["output_path"], r.stdout)
        # No limit: SIGTERM (as Ctrl-C) stops the recording, prints its summary
        # and stops the stream that --start-stream started.
        p = subprocess.Popen([os.path.join(self.venv, "bin", "daq-client"), "--address",
                              self.addr, "record", "until-term", "--device", "cam0",
                              "--start-stream", "--json"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=self.tmp, env=self.env())
        try:
            ready, _, _ = select.select([p.stderr], [], [], 60)
            self.assertTrue(ready, "daq-client record printed nothing in 60 s")
            self.assertRegex(p.stderr.readline(), r"^recording [0-9a-f-]{36} -> .*until-term.*"
                                                  r"\(Ctrl-C stops\)$")
            time.sleep(0.5)  # 25 frames at 50 FPS
            p.send_signal(signal.SIGTERM)
            out, err = p.communicate(timeout=120)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertEqual(p.returncode, 0, err)
        summary = json.loads(out)
        self.assertGreater(summary["total_samples"], 0)
        self.assertEqual(summary["file_size_bytes"], os.path.getsize(summary["output_path"]))
        # --start-stream stopped the camera each time: nothing left to record.
        r = self.cli("record", "nothing", "--frames", "5", ok=False)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.strip(),
                         "daq_client: StartRecording: No streaming camera to record")

    # ---- 4: nothing written into the package at run time -------------------------------

    def test_4_site_packages_unchanged(self):
        after = tree(self.site)
        added = sorted(set(after) - set(self.site_after_install))
        gone = sorted(set(self.site_after_install) - set(after))
        changed = sorted(p for p in after if p in self.site_after_install
                         and after[p] != self.site_after_install[p])
        self.assertEqual((added, gone, changed), ([], [], []))
        self.assertFalse(os.path.exists(os.path.join(self.cache, "daq-client")),
                         "stubs were generated at run time")


# ---- the venv side -------------------------------------------------------------------

def child_api(addr, root):
    import grpc
    import h5py
    import numpy as np

    import daq_client
    from daq_client import Client, RecordingError, sim_pattern

    o = {"module_file": daq_client.__file__, "stubs_file": daq_client.stubs().daq.__file__}

    def refused(fn, *a, **kw):
        try:
            fn(*a, **kw)
        except RecordingError as e:
            return [e.rpc, str(e)]
        raise AssertionError("%s%r was not refused" % (fn.__name__, a))

    with Client(addr, timeout=30) as c:
        o["compression_before"] = c.storage_config()["hdf5_config"]["compression"]
        r = c.start_stream("cam0")
        assert r.success, r.error_message
        rec = c.record("pyclient", devices=["cam0"], frames=FRAMES, compression="lz4",
                       metadata={"operator": "test"}, scan_id="scan-7", run_uid="run-1")
        o["rec"] = rec
        o["status"] = c.wait_recording(rec["recording_id"], timeout=60)
        o["stop"] = c.stop_recording(rec["recording_id"])
        o["file_size"] = os.path.getsize(rec["output_path"])
        o["compression_after"] = c.storage_config()["hdf5_config"]["compression"]
        o["idle"] = refused(c.stop_recording)
        bad = []
        for kw in ({"frames": 0}, {"duration": -1},
                   {"devices": "cam0", "metadata": {"devices": "cam1"}}):
            try:
                c.record("bad", **kw)
            except ValueError as e:
                bad.append(str(e))
        o["bad_args"] = bad

        o["rec2"] = c.record("second")  # every streaming camera, no limit
        o["busy"] = refused(c.record, "third")
        deadline = time.monotonic() + 10
        while c.recording_status()["samples_recorded"] < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        o["recorded_before_flush"] = c.recording_status()["samples_recorded"]
        o["flush"] = c.flush_recording(sync=True)
        o["progress"] = list(c.recording_progress(interval_ms=100, max_updates=2))
        o["status2"] = c.recording_status()
        o["stop2"] = c.stop_recording(final_metadata={"note": "done"})
        with h5py.File(o["stop2"]["output_path"], "r") as f:
            o["final_metadata"] = {k: text(v) for k, v in f["/entry/final_metadata"].attrs.items()
                                   if k != "NX_class"}
        c.stop_stream("cam0")

        o["recordings"] = c.recordings()
        o["recordings_glob"] = c.recordings(pattern="pyc*")
        o["recordings_limit"] = c.recordings(limit=1)
        o["info"] = c.acquisition_info(rec["recording_id"])
        try:
            c.acquisition_info("00000000-0000-4000-8000-000000000000")
            o["not_found"] = "answered"
        except grpc.RpcError as e:
            o["not_found"] = e.code().name
        rid2 = o["rec2"]["recording_id"]
        o["delete_refused"] = refused(c.delete_acquisition, rid2)
        o["deleted"] = c.delete_acquisition(rid2, confirm=True)

    with h5py.File(rec["output_path"], "r") as f:
        d = f["/entry/cam0/data"]
        fn = f["/entry/cam0/frame_number"][:]
        o["shape"] = list(d.shape)
        o["frame_numbers"] = [int(n) for n in fn]
        o["bad_frames"] = [int(n) for i, n in enumerate(fn)
                           if not np.array_equal(d[i], sim_pattern(W, H, int(n)))]
        o["frames_checked"] = len(fn)
        o["filter"] = d.id.get_create_plist().get_filter(0)[0]
        o["entry"] = {k: text(f["/entry"].attrs[k]) for k in
                      ("name", "recording_id", "compression", "scan_id", "run_uid")}
        o["metadata"] = {k: text(v) for k, v in f["/entry/metadata"].attrs.items()
                         if k != "NX_class"}
    print(json.dumps(o))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        step, addr, root = sys.argv[2:5]
        {"api": child_api}[step](addr, root)
        sys.exit(0)
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    DAQD = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
