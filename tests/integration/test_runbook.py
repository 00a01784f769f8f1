"""rollback.runbook: every command of docs/rollback.md, run as written.

The runbook's `sh` blocks are read from the page itself (not copied here),
each line run with /bin/sh against a real daqd on loopback with the page's
variables set ($CFG, $DEV, $GRPC, $HTTP, $OUT); `daqd` and `daq-client`
are first on PATH.  A line must exit 0 (validate: PASS) and its output must
show what the page says it shows (the checks below, keyed by the command's
leading words).  The `systemd` block needs a systemd host: its paths are
checked against the shipped unit, and the sequence itself is the test
rollback.unit_guard.  The `build` block is checked against what `make
check-nopool` builds.  A command added to the page without a check here
fails the test, so the page and its test cannot drift apart.

usage: test_runbook.py DAQD SOURCE_DIR
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

DAQD, SRC = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
PAGE = os.path.join(SRC, "docs", "rollback.md")

CONFIG = """
[[devices]]
id = "cam0"
name = "runbook camera"
autostart = true
[devices.driver]
type = "sim"
width = 256
height = 256
frame_rate_hz = 100.0

[acquisition]
trace_every = 50

[rollback]
window_s = 5
warmup_s = 2
clear_s = 2
interval_ms = 250
"""


def blocks(text):
    """(kind, [lines]) for every fenced block of the page."""
    out = []
    for m in re.finditer(r"^```(\w+)\n(.*?)^```", text, re.S | re.M):
        lines = [l for l in m.group(2).splitlines() if l.strip()]
        out.append((m.group(1), lines))
    return out


def wait_ready(log, proc, timeout=20.0):
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if proc.poll() is not None:
            raise AssertionError("daqd exited %d:\n%s" % (proc.returncode, read(log)))
        m = re.search(r"daqd ready.*grpc_port=(\d+).*metrics_port=(\d+)", read(log))
        if m:
            return int(m.group(1)), int(m.group(2))
        time.sleep(0.1)
    raise AssertionError("daqd did not get ready:\n" + read(log))


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


# What each command must show besides exit 0: leading words -> check(stdout).
def check_validate(out, cmd):
    assert "verdict" in out.lower() or "PASS" in out, out
    m = re.search(r"--report (\S+)", cmd)
    if m:
        rep = json.load(open(os.path.expandvars(m.group(1))))
        assert rep["verdict"] == "PASS", rep
        for k in ("versions", "config_digest", "machine"):
            assert k in rep, (k, rep.keys())
    if cmd.startswith("PVCAM_USE_POOL=0"):
        assert "use_pool=false" in out, out


def check_grep_log(out, cmd):
    assert re.search(r"pool_hit_rate|frame_loss", out), out[-2000:]


def check_metrics(out, cmd):
    got = re.findall(r'^daq_rollback_symptom\{device="([^"]+)",symptom="([^"]+)"\} (\d)', out, re.M)
    syms = {s for _, s, _ in got}
    assert {"pool_exhausted", "alloc_slow", "frame_loss", "rss_growth"} <= syms, out
    assert ("cam0", "pool_exhausted") in {(d, s) for d, s, _ in got}, out


def check_set(out, cmd):
    assert out.strip() == "false", out


def check_get(out, cmd):
    assert float(out.strip()) == 0.0, out


def check_state(out, cmd):
    st = json.loads(out)
    assert st["device_id"] == "cam0" and st["use_pool"] is False, st


def check_diagnose(out, cmd):
    d = os.path.expandvars("$OUT/bundle")
    for f in ("summary.txt", "log.txt", "metrics.txt", "config.toml", "facts.json", "rss.csv",
              "rss.png", "histograms.csv", "symptoms.txt"):
        assert os.path.getsize(os.path.join(d, f)) > 0, f


def check_cat_summary(out, cmd):
    assert out.strip(), "empty summary"


CHECKS = [
    ("PVCAM_USE_POOL=0 daqd validate", check_validate),
    ("daqd validate", check_validate),
    ("grep -E", check_grep_log),
    ("curl -s", check_metrics),
    ("daq-client --address $GRPC set", check_set),
    ("daq-client --address $GRPC get", check_get),
    ("daq-client --address $GRPC state", check_state),
    ("daqd diagnose", check_diagnose),
    ("cat $OUT/bundle/summary.txt", check_cat_summary),
]


def main():
    page = read(PAGE)
    bl = blocks(page)
    sh = [l for k, lines in bl if k == "sh" for l in lines]
    assert len(sh) >= 10, "the runbook lost its commands: %r" % sh

    # The systemd block's paths are the unit's; the build block is make check-nopool's.
    unit = read(os.path.join(SRC, "packaging", "daqd.service.in"))
    for k, lines in bl:
        if k == "systemd":
            for l in lines:
                for path in re.findall(r"(/var/lib/daq/\S+)", l):
                    assert "EnvironmentFile=-" + path in unit, (path, "not the unit's")
        elif k == "build":
            mk = read(os.path.join(SRC, "Makefile"))
            for flag in re.findall(r"-DDAQ_FRAME_POOL=\w+", " ".join(lines)):
                assert flag in mk, (flag, "not what make check-nopool builds")
        elif k != "sh":
            raise AssertionError("unknown block kind %r in the runbook" % k)

    tmp = tempfile.mkdtemp(prefix="daq-runbook-")
    proc = None
    try:
        out_dir = os.path.join(tmp, "out")
        os.mkdir(out_dir)
        bindir = os.path.join(tmp, "bin")
        os.mkdir(bindir)
        os.symlink(DAQD, os.path.join(bindir, "daqd"))
        with open(os.path.join(bindir, "daq-client"), "w") as f:
            f.write("#!/bin/sh\nexec /usr/bin/python3 -m daq_client \"$@\"\n")
        os.chmod(os.path.join(bindir, "daq-client"), 0o755)
        cfg = os.path.join(tmp, "hardware.toml")
        with open(cfg, "w") as f:
            f.write(CONFIG)
        log = os.path.join(out_dir, "daemon.log")
        env = dict(os.environ)
        env.update({"PATH": bindir + ":" + env.get("PATH", "/usr/bin:/bin"),
                    "PYTHONPATH": os.path.join(SRC, "clients", "python"),
                    "DAQ_LOG": "info,pvcam_alloc_trace=debug",
                    "CFG": cfg, "DEV": "cam0", "OUT": out_dir})
        proc = subprocess.Popen([DAQD, "daemon", "--hardware-config", cfg, "--port", "0",
                                 "--metrics-port", "0", "--log-file", log],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        gport, mport = wait_ready(log, proc)
        env["GRPC"] = "127.0.0.1:%d" % gport
        env["HTTP"] = "127.0.0.1:%d" % mport
        time.sleep(1.0)  # a few alloc-trace lines into the log
        ran = 0
        for cmd in sh:
            check = next((c for prefix, c in CHECKS if cmd.startswith(prefix)), None)
            assert check, "no check for runbook command %r: add one to %s" % (cmd, __file__)
            t0 = time.monotonic()
            r = subprocess.run(["/bin/sh", "-c", cmd], env=env, capture_output=True, text=True,
                               timeout=120)
            print("$ %s   -> exit %d in %.1f s" % (cmd, r.returncode, time.monotonic() - t0))
            assert r.returncode == 0, "%r exited %d:\n%s\n%s" % (cmd, r.returncode, r.stdout,
                                                                r.stderr)
            os.environ.update({k: env[k] for k in ("CFG", "DEV", "OUT", "GRPC", "HTTP")})
            check(r.stdout, cmd)
            ran += 1
        print("runbook: %d commands ran and showed what docs/rollback.md says" % ran)
    finally:
        if proc and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
