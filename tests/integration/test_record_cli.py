#!/usr/bin/python3
"""tests/integration/test_record_cli.py - `daqd record`, the recorder
without gRPC (ctest storage.record_cli, tests/storage/daemon.cmake).

A real daqd process records a small sim camera into a fresh directory; h5py
(Debian's, with Debian's lz4 and bitshuffle filter plugins, found through
libhdf5's compiled-in plugin path) reads the file back:

  codecs      --frames N with none, gzip, lz4 and bslz4 (16-bit), and gzip
              and bslz4 on an 8-bit camera: exit 0, the summary on stdout
              matches the file, N frames each equal to sim_pattern of its
              frame_number, numbering continuous, the codec's filter on the
              dataset, mode 0640, the file complete (plain open, end_time)
  duration    --duration 1s: frames for about a second, one progress line
              a second on a non-terminal stderr, --name sanitised into the
              file name, --out created
  loss        a writer slower than the camera (DAQ_TEST_WRITE_DELAY_US, a
              1 MiB queue): exit 1 with the loss message; with --allow-loss
              exit 0; either way drops are counted in the summary and listed
              in the file (missing rows, reason 2; sequence gaps) and the
              camera lost nothing
  sigint      SIGINT during --duration 30s: the file is finalised, exit 1
  usage       usage errors exit 64 with one line; an unknown codec in
              --compression (64) and in [storage] (check-config and daemon
              start: 1, FILE:LINE:COL message)

sim_pattern is clients/python/daq_client's reference of the sim's pixels,
imported by path (the package is not installed for the test).

usage: test_record_cli.py DAQD REPO_DIR [TestName ...]
"""
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import unittest

import h5py
import numpy as np

DAQD = None
REPO = None

CODEC_FILTER = {"gzip": "gzip", "lz4": "32004", "bslz4": "32008"}
REASON_RECORDER = 2
FLAG_RECORDER_DROPPED = 2
UNSUPPORTED = "unsupported compression 'zstd' (supported: none, gzip, lz4, bslz4)"


def sim_config(width=96, height=64, bit_depth=16, fps=400.0, storage=""):
    return ("[[devices]]\nid = \"cam0\"\n[devices.driver]\ntype = \"sim\"\n"
            "width = %d\nheight = %d\nbit_depth = %d\nframe_rate_hz = %.1f\n"
            "exposure_ms = 1.0\ntiming = \"realistic\"\n\n[storage]\n%s"
            % (width, height, bit_depth, fps, storage))


def parse_summary(stdout):
    out = {}
    for line in stdout.splitlines():
        k, sep, v = line.partition(": ")
        if sep:
            out[k] = v
    return out


class RecordCli(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="daq-record-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def config(self, text, name="hw.toml"):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def record(self, config, *args, env=None, timeout=120):
        e = dict(os.environ)
        e.pop("DAQ_LOG", None)
        e.pop("DAQ_TEST_WRITE_DELAY_US", None)
        e.update(env or {})
        return subprocess.run([DAQD, "record", "--hardware-config", config, "--device", "cam0",
                               *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=timeout, env=e)

    def check_file(self, summary, width, height, bit_depth, codec, frames=None):
        """Reads the recording back; returns (frame_number, sequence, flags, missing)."""
        path = summary["file"]
        self.assertTrue(os.path.isfile(path), path)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o640)
        written = int(summary["frames_written"])
        if frames is not None:
            self.assertEqual(written, frames)
        with h5py.File(path, "r") as f:  # a plain open: the file was closed properly
            entry = f["entry"]
            self.assertEqual(entry.attrs["recording_id"], summary["recording_id"])
            self.assertIn("end_time", entry.attrs)
            self.assertEqual(int(entry.attrs["frames_written"]), written)
            self.assertEqual(entry.attrs["compression"], codec)
            cam = entry["cam0"]
            data = cam["data"]
            self.assertEqual(data.shape, (written, height, width))
            self.assertEqual(data.dtype, np.uint8 if bit_depth <= 8 else np.uint16)
            self.assertEqual(data.chunks, (1, height, width))
            if codec == "none":
                self.assertEqual(list(data._filters), [])
            else:
                self.assertIn(CODEC_FILTER[codec], data._filters)
            fn = cam["frame_number"][:]
            seq = cam["sequence"][:]
            flags = cam["flags"][:]
            for name in ("frame_number", "sequence", "timestamp_ns", "exposure_ms", "flags"):
                self.assertEqual(cam[name].shape, (written,), name)
            for i in range(written):
                want = sim_pattern(width, height, int(fn[i]), bit_depth)
                if not np.array_equal(data[i], want):
                    self.fail("frame %d (frame_number %d) differs from the sim pattern"
                              % (i, fn[i]))
            self.assertEqual(int(cam.attrs["frames_written"]), written)
            self.assertEqual(int(cam.attrs["frames_dropped"]), int(summary["frames_dropped"]))
            self.assertEqual(int(cam.attrs["frames_lost"]), int(summary["frames_lost"]))
            missing = cam["missing"][:] if "missing" in cam else np.zeros((0, 3), np.uint64)
        return fn, seq, flags, missing

    # ---- the codecs ------------------------------------------------------------

    def test_codecs(self):
        cases = [("none", 16), ("gzip", 16), ("lz4", 16), ("bslz4", 16), ("gzip", 8),
                 ("bslz4", 8)]
        n = 40
        for codec, depth in cases:
            with self.subTest(codec=codec, bit_depth=depth):
                cfg = self.config(sim_config(bit_depth=depth), "hw_%s_%d.toml" % (codec, depth))
                out = os.path.join(self.dir, "out_%s_%d" % (codec, depth))
                r = self.record(cfg, "--frames", str(n), "--out", out, "--compression", codec)
                self.assertEqual(r.returncode, 0, r.stderr)
                s = parse_summary(r.stdout)
                for k in ("file", "recording_id", "device", "compression", "frames_written",
                          "frames_dropped", "frames_lost", "mb", "mb_written", "mb_per_s",
                          "duration_s"):
                    self.assertIn(k, s, r.stdout)
                self.assertEqual(s["compression"], codec)
                self.assertEqual(s["device"], "cam0")
                self.assertEqual((s["frames_dropped"], s["frames_lost"]), ("0", "0"))
                self.assertEqual(os.path.dirname(s["file"]), os.path.realpath(out))
                # pixels in: frames x frame bytes, 10^6 bytes, 3 decimals
                frame_bytes = 96 * 64 * (1 if depth <= 8 else 2)
                self.assertEqual(s["mb"], "%.3f" % (n * frame_bytes / 1e6))
                if codec == "none":
                    self.assertEqual(s["mb_written"], s["mb"])
                fn, seq, flags, missing = self.check_file(s, 96, 64, depth, codec, frames=n)
                self.assertTrue(np.all(np.diff(fn) == 1), "frame numbers not continuous")
                self.assertTrue(np.all(np.diff(seq) == 1), "sequence not continuous")
                self.assertEqual(len(missing), 0)
                self.assertFalse(np.any(flags & 3), "loss flags without loss")

    def test_codec_from_the_config(self):
        cfg = self.config(sim_config(storage='compression = "lz4"\nflush_interval_ms = 50\n'))
        out = os.path.join(self.dir, "out")
        r = self.record(cfg, "--frames", "10", "--out", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        s = parse_summary(r.stdout)
        self.assertEqual(s["compression"], "lz4")
        self.check_file(s, 96, 64, 16, "lz4", frames=10)

    # ---- duration, name, progress ------------------------------------------------

    def test_duration_name_and_progress(self):
        cfg = self.config(sim_config(fps=100.0))
        out = os.path.join(self.dir, "a", "b")  # created
        t0 = time.monotonic()
        r = self.record(cfg, "--duration", "2s", "--out", out, "--name", "run 1",
                        "--compression", "none")
        took = time.monotonic() - t0
        self.assertEqual(r.returncode, 0, r.stderr)
        s = parse_summary(r.stdout)
        self.assertTrue(os.path.basename(s["file"]).startswith("run_1_"), s["file"])
        self.assertTrue(1.8 <= float(s["duration_s"]) <= 6, s["duration_s"])
        self.assertGreaterEqual(took, 1.8)
        written = int(s["frames_written"])
        self.assertTrue(120 <= written <= 260, written)  # 2 s at 100 FPS
        self.check_file(s, 96, 64, 16, "none")
        progress = [l for l in r.stderr.splitlines() if l.startswith("record cam0: ")]
        self.assertTrue(1 <= len(progress) <= 8, r.stderr)  # a line per second, not a TTY's 4
        self.assertNotIn("\r", r.stderr)
        m = re.match(r"record cam0: [\d.]+/2\.0 s  [\d.]+ fps  [\d.]+ MB/s  queue \d+ %  "
                     r"dropped 0  lost 0$", progress[-1])
        self.assertTrue(m, progress[-1])

    # ---- loss ---------------------------------------------------------------------

    def test_loss_exit_codes(self):
        # 128 KiB frames at 400 FPS; the writer sleeps 20 ms a frame (50 FPS);
        # the recorder's queue holds 1 MiB (8 frames): it must drop.
        cfg = self.config(sim_config(width=256, height=256, fps=400.0,
                                     storage="max_buffer_mb = 1\n"))
        env = {"DAQ_TEST_WRITE_DELAY_US": "20000"}
        for allow in (False, True):
            with self.subTest(allow_loss=allow):
                out = os.path.join(self.dir, "loss_%d" % allow)
                args = ["--frames", "50", "--out", out, "--compression", "none"]
                r = self.record(cfg, *args, *(["--allow-loss"] if allow else []), env=env)
                s = parse_summary(r.stdout)
                dropped, lost = int(s["frames_dropped"]), int(s["frames_lost"])
                self.assertGreater(dropped, 0, r.stdout)
                self.assertEqual(lost, 0, "the camera lost frames: the pool was not sized")
                if allow:
                    self.assertEqual(r.returncode, 0, r.stderr)
                else:
                    self.assertEqual(r.returncode, 1, r.stderr)
                    self.assertIn("daqd: record: %d frames dropped by the recorder, 0 lost by "
                                  "the camera (--allow-loss accepts that)" % dropped,
                                  r.stderr.splitlines())
                fn, seq, flags, missing = self.check_file(s, 256, 256, 16, "none", frames=50)
                # every drop is in the file: missing rows (reason 2), sequence
                # gaps, and the flag on the frame after each gap
                rec = missing[missing[:, 2] == REASON_RECORDER] if len(missing) else missing
                self.assertEqual(int(rec[:, 1].sum()) if len(rec) else 0, dropped)
                gaps = np.diff(seq) - 1
                self.assertEqual(int(gaps.sum()), int(rec[:, 1].sum()) if len(rec) else 0)
                after_gap = np.nonzero(gaps)[0] + 1
                self.assertTrue(np.all(flags[after_gap] & FLAG_RECORDER_DROPPED))

    # ---- SIGINT -------------------------------------------------------------------

    def test_sigint_finalises(self):
        cfg = self.config(sim_config(fps=100.0))
        out = os.path.join(self.dir, "out")
        e = dict(os.environ)
        e.pop("DAQ_TEST_WRITE_DELAY_US", None)
        p = subprocess.Popen([DAQD, "record", "--hardware-config", cfg, "--device", "cam0",
                              "--duration", "30s", "--out", out, "--compression", "lz4"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e)
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not (os.path.isdir(out) and os.listdir(out)):
                time.sleep(0.05)
            time.sleep(1.0)
            p.send_signal(signal.SIGINT)
            stdout, stderr = p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertEqual(p.returncode, 1, stderr)
        self.assertIn("daqd: record: interrupted by SIGINT: the recording is short",
                      stderr.splitlines())
        s = parse_summary(stdout)
        self.assertGreater(int(s["frames_written"]), 0)
        self.assertLess(float(s["duration_s"]), 20)
        self.check_file(s, 96, 64, 16, "lz4")

    # ---- usage and config errors ---------------------------------------------------

    def test_usage_errors(self):
        cfg = self.config(sim_config())
        out = os.path.join(self.dir, "out")
        base = ["--hardware-config", cfg, "--device", "cam0", "--out", out]
        cases = [
            ([], "daqd: record: --hardware-config FILE is required (see daqd record --help)"),
            (["--hardware-config", cfg, "--device", "cam0", "--frames", "5"],
             "daqd: record: --out DIR is required (see daqd record --help)"),
            (base, "daqd: record: give either --frames N or --duration D "
                   "(see daqd record --help)"),
            (base + ["--frames", "5", "--duration", "1s"],
             "daqd: record: give either --frames N or --duration D (see daqd record --help)"),
            (base + ["--frames", "0"], "daqd: record: --frames: '0' is not a positive number "
                                       "of frames (see daqd record --help)"),
            (base + ["--frames", "x"], "daqd: record: --frames: 'x' is not a positive number "
                                       "of frames (see daqd record --help)"),
            (base + ["--duration", "soon"], "daqd: record: --duration: 'soon' is not a duration "
                                            "above 0 (30s, 2m, 500ms) (see daqd record --help)"),
            (base + ["--frames", "5", "--bogus"],
             "daqd: record: unknown option '--bogus' (see daqd record --help)"),
            (base + ["--frames"], "daqd: record: --frames needs a value (see daqd record --help)"),
            (base + ["--frames", "5", "--compression", "zstd"],
             "daqd: record: --compression: %s (see daqd record --help)" % UNSUPPORTED),
        ]
        for args, want in cases:
            with self.subTest(args=args):
                r = subprocess.run([DAQD, "record", *args], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, timeout=30)
                self.assertEqual(r.returncode, 64, r.stderr)
                self.assertEqual(r.stderr.strip().splitlines(), [want])
                self.assertEqual(r.stdout, "")
        self.assertFalse(os.path.exists(out), "a usage error created --out")
        r = subprocess.run([DAQD, "record", "--help"], stdout=subprocess.PIPE, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 0)
        self.assertIn("--allow-loss", r.stdout)
        r = subprocess.run([DAQD, "--help"], stdout=subprocess.PIPE, text=True, timeout=30)
        self.assertIn("  record --hardware-config FILE --device ID", r.stdout)

    def test_unknown_device_and_bad_env(self):
        cfg = self.config(sim_config())
        out = os.path.join(self.dir, "out")
        r = subprocess.run([DAQD, "record", "--hardware-config", cfg, "--device", "nope",
                            "--frames", "5", "--out", out], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.strip(),
                         'daqd: record: %s: no camera device with id "nope"' % cfg)
        r = self.record(cfg, "--frames", "5", "--out", out,
                        env={"DAQ_TEST_WRITE_DELAY_US": "fast"})
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.strip(), "DAQ_TEST_WRITE_DELAY_US='fast' is not a number of "
                                            "microseconds (0..10000000)")

    def test_unknown_codec_in_config(self):
        # the check needs libdaq-storage's codec table: check-config, the
        # daemon and record all refuse it with the file position
        cfg = self.config(sim_config(storage='root = "%s"\ncompression = "zstd"\n'
                                     % os.path.join(self.dir, "root")))
        want = "%s:14:15: storage.compression: %s" % (cfg, UNSUPPORTED)
        r = subprocess.run([DAQD, "check-config", cfg], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30)
        self.assertEqual((r.returncode, r.stderr.strip()), (1, want))
        r = subprocess.run([DAQD, "daemon", "--hardware-config", cfg, "--port", "0",
                            "--metrics-port", "0"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30)
        self.assertEqual((r.returncode, r.stderr.strip()), (1, "daqd: " + want))
        r = self.record(cfg, "--frames", "5", "--out", os.path.join(self.dir, "out"))
        self.assertEqual((r.returncode, r.stderr.strip()), (1, want))
        # refused before anything is made: not even the root
        self.assertFalse(os.path.exists(os.path.join(self.dir, "root")))


def main():
    global DAQD, REPO, sim_pattern
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    DAQD, REPO = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    sys.path.insert(0, os.path.join(REPO, "clients", "python"))
    from daq_client import sim_pattern as sp
    sim_pattern = sp
    prog = unittest.main(argv=[sys.argv[0], "-v", *sys.argv[3:]], exit=False)
    return 0 if prog.result.wasSuccessful() else 1


sim_pattern = None

if __name__ == "__main__":
    sys.exit(main())
