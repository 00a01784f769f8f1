"""`daqd diagnose` and the daemon's diagnostics (issue 13, deliverable 5).

A real daqd streams a sim camera on ephemeral loopback ports; the tests
take bundles from it with `daqd diagnose` and check every file: the
summary's first line, metrics.txt through prometheus_client's parser,
rss.csv's times, the histograms' counts, each PNG decoded by
png_check.py (size, non-blank, several colours).  Then: a rollback symptom
(alloc_slow, forced with DAQ_TEST_ALLOC_DELAY_US) named on the summary's
first line with its WARN line; tokens (401 without --token, a bundle with
--token or --token-file); a refused connection; a refused non-empty
--out; --log-file with `mv` + SIGHUP (the new file gets the lines, the
old one stops growing) and the plan's grep pipeline.

usage: test_diagnose.py DAQD
"""
import csv
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import unittest

from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import png_check  # noqa: E402
from daqd_harness import Daemon, wait_for  # noqa: E402

DAQD = None
UMASK = os.umask(0o022)
os.umask(UMASK)

SIM = """
[rollback]
interval_ms = 200
window_s = 2
warmup_s = 0
avg_alloc_us = 500

[[devices]]
id = "cam0"
autostart = true
[devices.driver]
type = "sim"
width = 64
height = 64
frame_rate_hz = 100.0
exposure_ms = 1.0
"""

FILES = ["summary.txt", "log.txt", "metrics.txt", "config.toml", "facts.json", "rss.csv",
         "histograms.csv", "symptoms.txt", "rss.png", "frame_interval_cam0.png",
         "alloc_latency_cam0.png"]
TOKEN = "diagnose-test-token-0123456789"
GREP = "(pool_hit_rate|frame_loss|WARN|ERROR)"


def diagnose(port, out, *extra):
    return subprocess.run([DAQD, "diagnose", "--address", "127.0.0.1:%d" % port, "--out", out,
                           *extra], capture_output=True, text=True, timeout=30)


def slurp(path):
    """The file's text; "" if it does not exist."""
    if not os.path.exists(path):
        return ""
    with open(path) as f:
        return f.read()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Base(unittest.TestCase):
    def tmp(self, name):
        d = tempfile.mkdtemp(prefix="daqd-diag-")
        self.addCleanup(shutil.rmtree, d, True)
        return os.path.join(d, name)

    def start(self, extra=(), env=None):
        d = Daemon(DAQD, SIM, extra_args=("--bind", "127.0.0.1", *extra), env=env).start()
        self.addCleanup(shutil.rmtree, d.dir, True)
        self.addCleanup(d.kill)
        return d

    def stop(self, d):
        d.signal(signal.SIGTERM)
        code, _ = d.wait(15)
        self.assertEqual(code, 0, d.log())


class Bundle(Base):
    def check_png(self, path):
        w, h, px = png_check.read(path)
        self.assertEqual((w, h), (800, 400), path)
        flat = [p for row in px for p in row]
        non_white = sum(p != (255, 255, 255) for p in flat)
        self.assertGreater(non_white / len(flat), 0.01, path)
        self.assertGreaterEqual(len(set(flat)), 3, path)  # white, black, a data colour
        return set(flat)

    def test_bundle_of_a_healthy_daemon(self):
        d = self.start()
        # Two watch ticks for the RSS timeline (interval 200 ms), frames for the histograms.
        self.assertTrue(wait_for(lambda: d.get("/debug/rss.csv")[1].count("\n") >= 4, 10),
                        d.get("/debug/rss.csv"))
        out = self.tmp("bundle")
        r = diagnose(d.metrics_port, out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("diagnostics bundle written to " + out, r.stdout)
        self.assertEqual(sorted(os.listdir(out)), sorted(FILES))
        self.assertEqual(os.stat(out).st_mode & 0o777, 0o750)

        summary = slurp(os.path.join(out, "summary.txt")).splitlines()
        self.assertEqual(summary[0], "no rollback symptom active")
        self.assertIn("source: daqd at 127.0.0.1:%d (daqd diagnose)" % d.metrics_port, summary)
        self.assertTrue(any(l.startswith("versions: {\"daqd\": ") for l in summary), summary)
        self.assertIn('  daq_pool_use_pool{device="cam0"} 1', summary)

        families = {f.name: f for f in text_string_to_metric_families(
            slurp(os.path.join(out, "metrics.txt")))}
        self.assertIn("daq_pool_use_pool", families)
        self.assertIn("daq_rollback_symptom", families)

        with open(os.path.join(out, "rss.csv")) as f:
            rows = list(csv.DictReader(f))
        times = [float(r["t_s"]) for r in rows]
        self.assertGreaterEqual(len(times), 3)
        self.assertEqual(times[0], 0.0)
        self.assertTrue(all(a < b for a, b in zip(times, times[1:])), times)
        self.assertTrue(all(int(r["rss_bytes"]) > 1 << 20 for r in rows))

        with open(os.path.join(out, "histograms.csv")) as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(set(rows[0]), {"device", "histogram", "le_ns", "count"})
        sums = {}
        for r in rows:
            sums[r["histogram"]] = sums.get(r["histogram"], 0) + int(r["count"])
        self.assertGreater(sums.get("frame_interval", 0), 0, sums)
        self.assertGreater(sums.get("alloc_pool", 0), 0, sums)
        # 100 FPS: most intervals in the 8..16 ms bucket.
        fi = {r["le_ns"]: int(r["count"]) for r in rows if r["histogram"] == "frame_interval"}
        self.assertEqual(max(fi, key=fi.get), str(1 << 24), fi)

        for png in (p for p in FILES if p.endswith(".png")):
            colours = self.check_png(os.path.join(out, png))
            self.assertIn((31, 119, 180), colours, png)  # the data colour: bars or the line

        symptoms = slurp(os.path.join(out, "symptoms.txt")).splitlines()
        self.assertEqual([l.split()[:2] for l in symptoms],
                         [["cam0", "pool_exhausted"], ["cam0", "alloc_slow"],
                          ["cam0", "frame_loss"], ["process", "rss_growth_warn"],
                          ["process", "rss_growth"]])
        self.assertEqual(slurp(os.path.join(out, "config.toml")), SIM)
        facts = json.loads(slurp(os.path.join(out, "facts.json")))
        self.assertIn("versions", facts)
        self.assertTrue(facts["config_digest"].startswith("sha256:"))
        log = slurp(os.path.join(out, "log.txt"))
        self.assertIn("daqd ready", log)
        self.assertIn("acquisition started", log)

        # The same dir again: refused, nothing overwritten.
        r = diagnose(d.metrics_port, out)
        self.assertEqual(r.returncode, 1)
        self.assertIn("exists and is not empty", r.stderr)
        # An unknown path names the debug endpoints.
        status, body = d.get("/debug/nope")
        self.assertEqual(status, 404)
        self.assertIn("/debug/log", body)
        self.assertIn("/debug/symptoms", body)
        self.stop(d)

    def test_symptom_named_first(self):
        d = self.start(env={"DAQ_TEST_ALLOC_DELAY_US": "1000"})
        self.assertTrue(wait_for(lambda: "alloc_slow active=1" in d.get("/debug/symptoms")[1],
                                 15), d.log())
        out = self.tmp("bundle")
        r = diagnose(d.metrics_port, out)
        self.assertEqual(r.returncode, 0, r.stderr)
        summary = slurp(os.path.join(out, "summary.txt")).splitlines()
        self.assertEqual(summary[0], "rollback symptoms active now: cam0 alloc_slow")
        i = summary.index("rollback symptom WARN lines in the log:")
        self.assertIn('WARN daq::rollback: rollback symptom device="cam0" symptom="alloc_slow"',
                      summary[i + 1])
        self.check_png(os.path.join(out, "alloc_latency_cam0.png"))
        self.stop(d)


class Access(Base):
    def test_tokens(self):
        tokens = self.tmp("tokens")
        with open(tokens, "w") as f:
            f.write("# name token\nops %s\n" % TOKEN)
        os.chmod(tokens, 0o600)
        d = self.start(extra=("--tokens", tokens))
        self.assertEqual(d.get("/metrics")[0], 200)  # still open
        self.assertEqual(d.get("/debug/log")[0], 401)
        r = diagnose(d.metrics_port, self.tmp("no-token"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("answered 401 for /debug/log: the daemon has tokens configured; pass "
                      "--token TOKEN or --token-file FILE", r.stderr)
        r = diagnose(d.metrics_port, self.tmp("bad-token"), "--token", "wrong-token-0123456789")
        self.assertEqual(r.returncode, 1)
        self.assertIn("401", r.stderr)
        out = self.tmp("with-token")
        r = diagnose(d.metrics_port, out, "--token", TOKEN)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(os.listdir(out)), len(FILES))
        r = diagnose(d.metrics_port, self.tmp("token-file"), "--token-file", tokens)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.stop(d)

    def test_refused_old_daemon_and_usage(self):
        port = free_port()
        r = diagnose(port, self.tmp("x"))
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.strip(),
                         "daqd diagnose: cannot connect to 127.0.0.1:%d: Connection refused "
                         "(is daqd running, and is this its metrics port?)" % port)
        # Something on the port that is not a daqd with diagnostics: an older daqd's 404.
        class Old(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(404 if self.path.startswith("/debug/") else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass
        srv = http.server.HTTPServer(("127.0.0.1", 0), Old)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        out = self.tmp("old")
        r = diagnose(srv.server_address[1], out)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.strip(), "daqd diagnose: 127.0.0.1:%d has no /debug/log (404): "
                         "an older daqd without diagnostics?" % srv.server_address[1])
        self.assertFalse(os.path.exists(out))  # nothing written on failure
        r = subprocess.run([DAQD, "diagnose", "--out", self.tmp("y")], capture_output=True,
                           text=True, timeout=10)
        self.assertEqual(r.returncode, 64)
        r = subprocess.run([DAQD, "diagnose", "--address", "nocolon", "--out", "z"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertIn("expected HOST:PORT", r.stderr)


class LogFile(Base):
    def test_log_file_rotation_and_grep(self):
        dirn = os.path.dirname(self.tmp("x"))
        cfg = os.path.join(dirn, "c.toml")
        with open(cfg, "w") as f:
            f.write(SIM)
        log = os.path.join(dirn, "daemon.log")
        with open(log, "w") as f:
            f.write("an older line\n")
        env = dict(os.environ, DAQ_LOG="info", DAQ_TEST_ALLOC_DELAY_US="1000")
        p = subprocess.Popen([DAQD, "daemon", "--hardware-config", cfg, "--port", "0",
                              "--metrics-port", "0", "--bind", "127.0.0.1", "--log-file", log],
                             stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env, text=True)
        self.addCleanup(lambda: p.poll() is None and (p.kill(), p.wait()))
        read = slurp
        self.assertTrue(wait_for(lambda: "daqd ready" in read(log), 20), read(log))
        text = read(log)
        self.assertTrue(text.startswith("an older line\n"))  # appended

        # The plan's pipeline, as written, finds lines while the daemon runs.
        grep = subprocess.Popen(["sh", "-c", 'exec tail -n +1 -f "$0" | grep --line-buffered -E '
                                 '"%s"' % GREP, log], stdout=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            first = grep.stdout.readline()
        finally:
            os.killpg(grep.pid, signal.SIGTERM)
            grep.wait()
            grep.stdout.close()
        self.assertIn("WARN", first)

        # logrotate's mv + SIGHUP: the new file gets the lines, the old stops.
        old = log + ".1"
        os.rename(log, old)
        p.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "log file reopened" in read(log), 10), read(old))
        self.assertIsNone(p.poll())  # SIGHUP does not stop the daemon
        self.assertEqual(os.stat(log).st_mode & 0o777, 0o640 & ~UMASK)  # created by daqd
        size = os.path.getsize(old)
        p.send_signal(signal.SIGHUP)  # a second line into the new file
        self.assertTrue(wait_for(lambda: read(log).count("log file reopened") == 2, 10))
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(15), 0)
        self.assertEqual(os.path.getsize(old), size)
        new = read(log)
        self.assertIn("shutting down", new)
        self.assertIn("daqd stopped", new)
        self.assertNotIn("daqd stopped", read(old))
        self.assertEqual(p.stderr.read(), "")  # nothing on stderr with --log-file
        p.stderr.close()
        # grep over the whole file: the stream's summary carries pool_hit_rate_pct.
        r = subprocess.run(["grep", "-E", GREP, log], capture_output=True, text=True)
        self.assertIn("pool_hit_rate_pct=", r.stdout)

    def test_log_file_unwritable(self):
        r = subprocess.run([DAQD, "daemon", "--hardware-config", "/nonexistent.toml",
                            "--log-file", "/nonexistent-dir/daemon.log"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr, "daqd: --log-file /nonexistent-dir/daemon.log: "
                                   "No such file or directory\n")


if __name__ == "__main__":
    DAQD = sys.argv.pop(1)
    unittest.main(verbosity=2)
