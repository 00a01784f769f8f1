#!/usr/bin/python3
"""daqd validate --checkpoint pilot: pool on vs pool off in windows of one run,
baselines, report facts and the diagnostics bundle (issue 13, deliverable 1).

Two sim cameras:
  instant - 2048x1024 8-bit, timing = instant: throughput bound, fps is what
            the acquisition thread's frame path can do (a 2 MiB copy per
            frame), so DAQ_TEST_POOL_SLOW_PCT=10 (pool frames cost 10 % more
            acquisition-thread time) must show.  Run with GLIBC_TUNABLES that
            keep heap frames mapped (mmap/trim thresholds up) and pool huge
            pages off: otherwise a pool-off window measures page faults (the
            pool is then 2-4x faster and no 10 % knob could turn it).  Even
            so the pool stays 2-6 % faster (see the ratios below).
  paced   - 64x64, 1000 fps realistic timing, ring of 1024 frames (1 s of
            slack for a preempted thread): both kinds deliver the camera's
            rate, ratio 1.00 +- 0.01, so a baseline doctored to 20 % more fps
            must say ROLLBACK and an honest one PASS.
Windows are short and many (--window 100ms, 64 for the instant pair):
load bursts from other processes last seconds; the within-run rule takes
the median of the window pairs' on/off ratios.  Measured on the 2-core test
machine at load 6-12 (median pair ratio, 10 runs each): clean 1.006-1.048,
with the 10 % knob 0.83-0.96 (one run in ten above 0.95, so the knob case
gets one second run).  p99 is compared with
--min-p99-increase-us 50000: this machine preempts for tens of ms, which is
no property of the pool.

usage: test_pilot.py DAQD
"""
import hashlib
import json
import os
import shutil
import sys
import tempfile
import unittest

from daqd_harness import run

DAQD = None

CONFIG = """
[[devices]]
id = "cam0"
name = "pilot sim"
autostart = false

[devices.driver]
type = "sim"
bit_depth = 8
exposure_ms = 0.01
{timing}

[pool]
huge_pages = false

[log]
filter = "warn"
"""
INSTANT = 'width = 2048\nheight = 1024\ntiming = "instant"'
PACED = 'width = 64\nheight = 64\ntiming = "realistic"\nframe_rate_hz = 1000.0\nring_frames = 1024'
# heap frames stay mapped: pool-off windows measure the frame path, not page faults
HEAP_MAPPED = {"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=33554432:"
                                 "glibc.malloc.trim_threshold=1073741824"}

FAST = ["--window", "100ms", "--settle", "20ms", "--min-p99-increase-us", "50000"]
# the throughput pair: 64 windows, and a settle long enough for the heap
# blocks malloc_trim gave back at the last switch to be faulted in again
THROUGHPUT = ["--windows", "64", "--settle", "50ms"]


class PilotTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="daq-pilot-")
        cls.configs = {}
        for name, timing in (("instant", INSTANT), ("paced", PACED),
                             ("lossy", PACED + '\n"fault.jump_prob" = 0.02')):
            path = os.path.join(cls.dir, name + ".toml")
            with open(path, "w") as f:
                f.write(CONFIG.format(timing=timing))
            cls.configs[name] = path

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def pilot(self, config, *args, windows=20, env=None, name=None):
        report = os.path.join(self.dir, (name or self.id().split(".")[-1]) + ".json")
        r = run([DAQD, "validate", "--hardware-config", self.configs[config], "--device", "cam0",
                 "--checkpoint", "pilot", "--windows", str(windows), "--report", report, *FAST,
                 *args], env=env, timeout=60)
        rep = None
        if os.path.exists(report):
            with open(report) as f:
                rep = json.load(f)
        return r, rep, report

    def criteria(self, rep):
        return {c["name"]: c for c in rep["criteria"]}

    def check_facts(self, rep, config):
        v = rep["versions"]
        for k in ("daqd", "git", "build_type", "grpc", "hdf5"):
            self.assertIsInstance(v[k], str, k)
            self.assertTrue(v[k], k)
        self.assertIs(v["frame_pool"], True)
        with open(self.configs[config], "rb") as f:
            digest = "sha256:" + hashlib.sha256(f.read()).hexdigest()
        self.assertEqual(rep["config_digest"], digest)
        m = rep["machine"]
        self.assertEqual(m["hostname"], os.uname().nodename)
        self.assertEqual(m["kernel"], os.uname().release)
        self.assertEqual(m["cpus"], os.cpu_count())
        self.assertGreater(m["mem_total_mib"], 0)
        self.assertIsInstance(m["hugepages_total"], int)
        self.assertTrue(m["cpu_model"])

    def check_windows(self, rep, windows):
        p = rep["pilot"]
        self.assertEqual(p["windows"], windows)
        self.assertEqual(len(p["per_window"]), windows)
        # on, off, off, on, on, off, ...: the alternation is in the report
        self.assertEqual([w["pool"] for w in p["per_window"][:6]],
                         [True, False, False, True, True, False])
        for w in p["per_window"]:
            self.assertGreater(w["frames"], 0, w)
            self.assertEqual(w["hit_pct"], 100 if w["pool"] else 0, w)
        for kind in ("pool_on", "pool_off"):
            k = p[kind]
            self.assertGreater(k["fps"], 0)
            self.assertGreater(k["stats"]["receipts"], 0)
            # lossless: every frame, give or take the queue (16 + 1) at each window's edges
            self.assertLessEqual(abs(k["stats"]["receipts"] - k["frames"]), 17 * windows)
            self.assertGreater(k["latest"]["receipts"], 0)
            self.assertGreater(k["stats"]["p99_us"], 0)
            self.assertGreaterEqual(k["stats"]["p99_us"], k["stats"]["p50_us"])

    def test_clean_pass(self):
        r, rep, _ = self.pilot("instant", *THROUGHPUT, env=HEAP_MAPPED)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout.strip().splitlines()[-1], "PASS")
        c = self.criteria(rep)
        for name in ("fps on vs off", "p99 on vs off", "lost frames", "disconnects",
                     "stream errors"):
            self.assertTrue(c[name]["pass"], c[name])
        self.assertEqual(c["fps on vs off"]["threshold"], 5)
        self.assertNotIn("fps vs baseline", c)
        self.check_windows(rep, 64)
        print("\nclean: fps on/off %.3f (pair median), %.3f (sums)" % (
            rep["pilot"]["fps_ratio_pair_median"],
            rep["pilot"]["pool_on"]["fps"] / rep["pilot"]["pool_off"]["fps"]), file=sys.stderr)
        self.check_facts(rep, "instant")
        self.assertIsNone(rep["diagnostics"])
        self.assertFalse(os.path.exists(os.path.join(self.dir, "test_clean_pass.json.diag")))
        for line in ("fps on vs off", "p99 on vs off", "window", "all      on"):
            self.assertIn(line, r.stdout)

    def test_slow_pool_rolls_back_with_bundle(self):
        env = dict(HEAP_MAPPED, DAQ_TEST_POOL_SLOW_PCT="10")
        r, rep, report = self.pilot("instant", *THROUGHPUT, env=env)
        if r.returncode == 0:
            # The margin is thin by construction: a 10 % slower pool that is
            # itself 1-5 % faster than the heap lands at on/off 0.83-0.96
            # against the 0.95 threshold (1 run in 10 above it here).  One
            # second run; a knob that does nothing fails both.
            print("\nslow pool 10 %%, first run PASS at on/off %.3f: once more"
                  % rep["pilot"]["fps_ratio_pair_median"], file=sys.stderr)
            shutil.rmtree(report + ".diag", ignore_errors=True)
            r, rep, report = self.pilot("instant", *THROUGHPUT, env=env)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertEqual(r.stdout.strip().splitlines()[-1],
                         "ROLLBACK: set PVCAM_USE_POOL=0 and restart")
        c = self.criteria(rep)
        self.assertTrue(c["fps on vs off"]["rollback"], c["fps on vs off"])
        self.assertGreater(c["fps on vs off"]["measured"], 5)
        p = rep["pilot"]
        print("\nslow pool 10 %%: fps on/off %.3f (pair median), %.3f (sums)" % (
            p["fps_ratio_pair_median"], p["pool_on"]["fps"] / p["pool_off"]["fps"]),
            file=sys.stderr)
        self.assertLess(p["fps_ratio_pair_median"], 0.95)
        self.check_facts(rep, "instant")
        # the bundle, next to the report, with the failed criterion first
        diag = report + ".diag"
        self.assertEqual(rep["diagnostics"], diag)
        self.assertIn("diagnostics bundle: " + diag, r.stdout)
        with open(os.path.join(diag, "summary.txt")) as f:
            summary = f.read()
        self.assertIn("fps on vs off", summary)
        self.assertIn("ROLLBACK", summary)

    def test_baseline_round_trip_and_doctored(self):
        base = os.path.join(self.dir, "baseline.json")
        r, rep, _ = self.pilot("paced", "--save-baseline", base, name="save")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("baseline saved: " + base, r.stderr)
        self.check_windows(rep, 20)
        ratio = rep["pilot"]["pool_on"]["fps"] / rep["pilot"]["pool_off"]["fps"]
        self.assertLess(abs(ratio - 1), 0.03, ratio)
        with open(base) as f:
            b = json.load(f)
        self.assertEqual(b["checkpoint"], "pilot")
        self.assertEqual(b["device"], "cam0")
        self.assertEqual(b["pool_off"]["fps"], rep["pilot"]["pool_off"]["fps"])
        self.check_facts(b, "paced")

        r, rep, _ = self.pilot("paced", "--baseline", base, name="compare")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        c = self.criteria(rep)
        for name in ("fps vs baseline", "p99 vs baseline"):
            self.assertTrue(c[name]["pass"], c[name])
        self.assertEqual(rep["baseline"]["file"], base)
        self.assertEqual(rep["baseline"]["pool_off"]["fps"], b["pool_off"]["fps"])
        self.assertIsNone(rep["warning"])  # same machine, config and build

        # 20 % faster than what this machine does: the pool "lost" 17 %
        b["pool_off"]["fps"] *= 1.2
        doctored = os.path.join(self.dir, "doctored.json")
        with open(doctored, "w") as f:
            json.dump(b, f, indent=1)
        r, rep, report = self.pilot("paced", "--baseline", doctored, name="doctored")
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        c = self.criteria(rep)
        self.assertTrue(c["fps vs baseline"]["rollback"], c["fps vs baseline"])
        self.assertGreater(c["fps vs baseline"]["measured"], 10)
        self.assertFalse(c["fps on vs off"]["rollback"])
        self.assertTrue(os.path.exists(os.path.join(report + ".diag", "summary.txt")))

        # another machine / config: compared, with the warning
        b["pool_off"]["fps"] /= 1.2
        b["machine"]["hostname"] = "elsewhere"
        b["config_digest"] = "sha256:" + "0" * 64
        other = os.path.join(self.dir, "other.json")
        with open(other, "w") as f:
            json.dump(b, f)
        r, rep, _ = self.pilot("paced", "--baseline", other, windows=4, name="other")
        self.assertIn(r.returncode, (0, 2), r.stdout + r.stderr)
        self.assertIn("comparing across machines/configs", rep["warning"])
        self.assertIn("elsewhere", rep["warning"])
        self.assertIn("config", rep["warning"])
        self.assertIn("warning: comparing across machines/configs", r.stdout)

    def test_bad_baselines_are_usage_errors(self):
        base = os.path.join(self.dir, "b.json")
        good = {"format": "daqd-pilot-baseline/1", "checkpoint": "pilot", "device": "cam0"}
        cases = [
            (None, "cannot read: No such file or directory"),
            ('{"format": "daqd-pilot-baseline/1",', "malformed at byte"),
            ('{"a": 1} x', "malformed at byte 9: trailing characters"),
            ('{"a": 1, "a": 2}', 'duplicate member "a"'),
            (json.dumps(dict(good, format="other/2")), 'format "other/2" is not'),
            (json.dumps(dict(good, checkpoint="soak")), 'checkpoint "soak" is not pilot'),
            (json.dumps(dict(good, device="cam9")), 'device "cam9" is not cam0'),
            (json.dumps(good), '"pool_on.seconds" is missing'),
        ]
        for text, why in cases:
            if os.path.exists(base):
                os.unlink(base)
            if text is not None:
                with open(base, "w") as f:
                    f.write(text)
            r = run([DAQD, "validate", "--hardware-config", self.configs["paced"], "--device",
                     "cam0", "--checkpoint", "pilot", "--baseline", base], timeout=20)
            self.assertEqual(r.returncode, 64, (text, r.stdout + r.stderr))
            self.assertIn("daqd: validate: baseline " + base + ": ", r.stderr)
            self.assertIn(why, r.stderr)
        for args, why in ((["--windows", "3"], "--windows must be even"),
                          (["--windows", "0"], "--windows must be even"),
                          (["--window", "soon"], "is not a duration")):
            r = run([DAQD, "validate", "--hardware-config", self.configs["paced"], "--device",
                     "cam0", "--checkpoint", "pilot", *args], timeout=20)
            self.assertEqual(r.returncode, 64, r.stderr)
            self.assertIn(why, r.stderr)

    def test_loss_fails(self):
        r, rep, report = self.pilot("lossy", windows=4)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(r.stdout.strip().splitlines()[-1], "FAIL")
        c = self.criteria(rep)
        self.assertFalse(c["lost frames"]["pass"])
        self.assertGreater(rep["pilot"]["lost"], 0)
        self.check_facts(rep, "lossy")
        with open(os.path.join(report + ".diag", "summary.txt")) as f:
            self.assertIn("lost frames", f.read())

    def test_help_names_the_pilot_options(self):
        r = run([DAQD, "validate", "--help"], timeout=10)
        self.assertEqual(r.returncode, 0)
        for opt in ("--checkpoint smoke|soak|pilot", "--windows 6", "--window 5s",
                    "--stall-ms 100", "--save-baseline FILE", "--baseline FILE",
                    "--max-fps-drop-pct 5", "--max-p99-increase-pct 50",
                    "--min-p99-increase-us 5000", "--diagnostics DIR"):
            self.assertIn(opt, r.stdout)


if __name__ == "__main__":
    DAQD = sys.argv[1]
    unittest.main(argv=sys.argv[:1], verbosity=2)
