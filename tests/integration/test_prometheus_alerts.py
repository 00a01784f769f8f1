#!/usr/bin/python3
"""The shipped alert rules against a real Prometheus scraping a real daqd
(issue 13, deliverable 4; ctest rollback.alerts.prometheus).

1. A sim camera streams with injected frame loss (fault.jump_prob: every
   frame has a 5 % chance to skip 1..3 numbers, so ~5-15 frames/s are lost:
   the most reliable fault, no timing involved) and short [rollback] windows
   (window_s=5, warmup_s=2, clear_s=2, interval_ms=250).
2. Every metric name used in packaging/prometheus/daq-rollback.rules.yml and
   in packaging/grafana/daq-rollback.json (which must parse) exists in that
   daemon's /metrics (except Prometheus' own `up` and `ALERTS`).
3. Debian's /usr/bin/prometheus (scrape and evaluation every 1 s) loads the
   SHIPPED rules file unchanged -- DaqFrameLoss has no `for:` (daqd has
   debounced it already), so nothing needs rewriting -- and scrapes daqd on
   loopback.  DaqFrameLoss must fire for cam0 within 45 s, with the rule's
   labels and the plan's wording, and no other daq alert may fire.
4. StopStream, SetParameter fault.jump_prob = 0, StartStream over gRPC
   remove the fault (fault parameters cannot change while streaming): the
   alert must resolve within 45 s (daqd's window of 5 s and clear_s of 2 s,
   then one evaluation) while the camera streams again without loss.
Both processes are killed at the end, whatever happens.  ~25 s.

usage: test_prometheus_alerts.py DAQD SOURCE_DIR
"""
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python"))
sys.path.insert(0, HERE)
from daqd_harness import Daemon, wait_for  # noqa: E402

PROMETHEUS = "/usr/bin/prometheus"
FIRE_S = 45.0
RESOLVE_S = 45.0
BUDGET_S = 80.0  # the whole test, ctest TIMEOUT 90: every wait takes min(its own, what is left)
# Names a daemon does not export: Prometheus makes them.
SYNTHETIC = {"up", "ALERTS", "ALERTS_FOR_STATE"}
PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "bool", "offset", "inf", "nan", "le", "sum", "avg", "min", "max", "count", "rate",
    "increase", "irate", "changes", "resets", "absent", "histogram_quantile", "label_values",
}

CONFIG = """
[[devices]]
id = "cam0"
name = "sim with injected frame loss"
autostart = true
[devices.driver]
type = "sim"
width = 256
height = 256
bit_depth = 16
frame_rate_hz = 100.0
exposure_ms = 1.0
"fault.seed" = 7
"fault.jump_prob" = 0.05

[[devices.consumers]]
name = "stats"
kind = "stats"
policy = "drop-oldest"
queue_depth = 4

[rollback]
window_s = 5
warmup_s = 2
clear_s = 2
interval_ms = 250
"""


def fail(msg):
    raise AssertionError(msg)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metric_names(expr):
    """Metric names a PromQL expression reads: identifiers outside label
    matchers, strings, ranges and grouping clauses, not functions or
    keywords, not Grafana variables."""
    e = re.sub(r"label_values\((.*),\s*\w+\s*\)", r"(\1)", expr)
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', e)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\$\w+", " ", e)
    names = set()
    for m in re.finditer(r"(?<![\w.])([A-Za-z_:][\w:]*)(\s*\()?", e):
        word, call = m.group(1), m.group(2)
        if call or word in PROMQL_WORDS or re.fullmatch(r"\d+\w*", word):
            continue
        names.add(word)
    return names


def rule_exprs(path):
    """expr: values of a rules file, without a YAML module: `expr: x` on
    one line or `expr: >-` followed by a more indented block."""
    out, lines = [], open(path).read().splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)expr:\s*(.*)$", lines[i])
        i += 1
        if not m:
            continue
        if m.group(2) not in (">-", ">", "|", "|-"):
            out.append(m.group(2))
            continue
        block = []
        while i < len(lines) and (not lines[i].strip() or
                                  len(lines[i]) - len(lines[i].lstrip()) > len(m.group(1))):
            block.append(lines[i].strip())
            i += 1
        out.append(" ".join(block))
    return out


def dashboard_exprs(node):
    """Every PromQL the dashboard runs: panel targets and annotations
    (expr), and query variables (label_values(METRIC..., label))."""
    if isinstance(node, dict):
        if node.get("type") == "query" and isinstance(node.get("query"), dict):
            yield node["query"]["query"]
        for k, v in node.items():
            if k == "expr" and isinstance(v, str):
                yield v
            else:
                yield from dashboard_exprs(v)
    elif isinstance(node, list):
        for v in node:
            yield from dashboard_exprs(v)


def exported_names(text):
    names = set()
    for line in text.splitlines():
        m = re.match(r"^(?:# TYPE )?([A-Za-z_:][\w:]*)", line)
        if m:
            names.add(m.group(1))
    return names


class Prometheus:
    def __init__(self, rules, target, workdir):
        self.port = free_port()
        self.dir = workdir
        cfg = os.path.join(workdir, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "rule_files:\n  - %s\n"
                    "scrape_configs:\n  - job_name: daqd\n    static_configs:\n"
                    "      - targets: ['%s']\n" % (rules, target))
        self.log_path = os.path.join(workdir, "prometheus.log")
        self.log = open(self.log_path, "w")
        args = [PROMETHEUS, "--config.file=" + cfg,
                "--storage.tsdb.path=" + os.path.join(workdir, "tsdb"),
                "--web.listen-address=127.0.0.1:%d" % self.port, "--log.level=info"]
        # PR_SET_PDEATHSIG: a test killed by ctest's timeout takes its Prometheus along.
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     preexec_fn=lambda: ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0))

    def api(self, path, **params):
        url = "http://127.0.0.1:%d/api/v1/%s" % (self.port, path)
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return json.loads(r.read().decode())["data"]
        except (OSError, ValueError):
            return None

    def alerts(self):
        d = self.api("alerts")
        return None if d is None else d["alerts"]

    def firing(self, name=None):
        return [a for a in (self.alerts() or []) if a["state"] == "firing" and
                (name is None or a["labels"]["alertname"] == name)]

    def tail(self):
        self.log.flush()
        return "".join(open(self.log_path).readlines()[-20:])

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def check_names(d, src):
    """Every metric the rules and the dashboard read exists in daqd's /metrics."""
    rules = os.path.join(src, "packaging", "prometheus", "daq-rollback.rules.yml")
    with open(os.path.join(src, "packaging", "grafana", "daq-rollback.json")) as f:
        dash = json.load(f)  # must parse
    if not dash.get("panels") or dash.get("uid") != "daq-rollback":
        fail("dashboard without panels or uid")
    if not any(v.get("type") == "datasource" for v in dash["templating"]["list"]):
        fail("dashboard datasource is not a variable")
    used = {}
    for expr in rule_exprs(rules):
        for n in metric_names(expr):
            used.setdefault(n, "rules")
    for expr in dashboard_exprs(dash):
        for n in metric_names(expr):
            used.setdefault(n, "dashboard")
    if len(used) < 10:
        fail("only %d metric names found in rules and dashboard: %s" % (len(used), sorted(used)))
    # daq_rollback_auto_total and the symptoms appear with the watch's
    # first tick: give it a moment.
    have = set()

    def complete():
        have.clear()
        have.update(exported_names(d.get("/metrics")[1]))
        return not (set(used) - SYNTHETIC - have)
    if not wait_for(complete, timeout=5.0, step=0.25):
        missing = sorted(set(used) - SYNTHETIC - have)
        fail("metric names used but not exported by daqd: %s" %
             ", ".join("%s (%s)" % (n, used[n]) for n in missing))
    print("names: %d metric names of rules and dashboard all exported by daqd" % len(used))


def main():
    daqd, src = sys.argv[1], os.path.abspath(sys.argv[2])
    rules = os.path.join(src, "packaging", "prometheus", "daq-rollback.rules.yml")
    if not os.access(PROMETHEUS, os.X_OK):
        fail("%s missing (Debian package: prometheus)" % PROMETHEUS)
    work = tempfile.mkdtemp(prefix="daq-prom-")
    d = Daemon(daqd, CONFIG)
    prom = None
    t0 = time.monotonic()

    def left(cap):
        return max(1.0, min(cap, BUDGET_S - (time.monotonic() - t0)))
    try:
        d.start()
        check_names(d, src)
        prom = Prometheus(rules, "127.0.0.1:%d" % d.metrics_port, work)
        if not wait_for(lambda: prom.api("rules") is not None, timeout=left(15.0), step=0.2):
            fail("prometheus did not answer on port %d:\n%s" % (prom.port, prom.tail()))
        groups = prom.api("rules")["groups"]
        loaded = {r["name"]: r for g in groups for r in g["rules"] if r["type"] == "alerting"}
        for name in ("DaqPoolExhausted", "DaqAllocSlow", "DaqFrameLoss", "DaqRssGrowth",
                     "DaqAutoRollback", "DaqPoolHitRateLow", "DaqDaemonDown", "DaqRestartLoop"):
            if name not in loaded:
                fail("rule %s not loaded by prometheus: %s" % (name, sorted(loaded)))
        if loaded["DaqFrameLoss"].get("duration", 0):
            fail("DaqFrameLoss has a `for:` now: this test would have to rewrite it")

        # ---- fires ----
        t_fire0 = time.monotonic()
        fired = wait_for(lambda: prom.firing("DaqFrameLoss"), timeout=left(FIRE_S), step=0.5)
        if not fired:
            fail("DaqFrameLoss not firing within %.0f s; alerts: %s\nprometheus:\n%s\ndaqd:\n%s" % (
                FIRE_S, json.dumps(prom.alerts()), prom.tail(), d.log()[-3000:]))
        t_fired = time.monotonic() - t_fire0
        a = fired[0]
        want = {"alertname": "DaqFrameLoss", "severity": "critical", "device": "cam0",
                "symptom": "frame_loss", "job": "daqd"}
        for k, v in want.items():
            if a["labels"].get(k) != v:
                fail("DaqFrameLoss label %s=%r, want %r: %s" % (k, a["labels"].get(k), v, a))
        ann = a["annotations"]
        value = float(a["value"])
        if value <= 0:
            fail("DaqFrameLoss value %r is not a frame count" % a["value"])
        if "cam0" not in ann.get("description", "") or "Frame loss on cam0" != ann.get("summary"):
            fail("annotations do not name the device: %s" % ann)
        if not ann.get("action", "").startswith("Immediate rollback: set acquisition.use_pool=false live"):
            fail("action annotation is not the plan's: %r" % ann.get("action"))
        if "docs/rollback.md#" not in ann["action"]:
            fail("action annotation does not point to the runbook: %r" % ann["action"])
        others = [x["labels"]["alertname"] for x in prom.firing()
                  if x["labels"]["alertname"] != "DaqFrameLoss"]
        if others:
            fail("other alerts fire with only frame loss injected: %s" % others)
        if "rollback symptom" not in d.log() or 'symptom="frame_loss"' not in d.log():
            fail("no WARN rollback symptom line for frame_loss in daqd's log")
        print("fired: DaqFrameLoss for cam0 after %.1f s (value %s lost frames), labels and "
              "annotations as shipped" % (t_fired, a["value"]))

        # ---- resolves ----
        from daq_client import Client
        c = Client("127.0.0.1:%d" % d.grpc_port)
        # Fault parameters are fixed while streaming: stop, clear, start again
        # (daqd's warm-up then runs again; the camera streams healthy).
        c.stop_stream("cam0")
        c.set("cam0", "fault.jump_prob", 0.0)
        c.start_stream("cam0")
        t_res0 = time.monotonic()
        if not wait_for(lambda: prom.alerts() is not None and not prom.firing("DaqFrameLoss")
                        and not [x for x in prom.alerts() if x["labels"]["alertname"] == "DaqFrameLoss"],
                        timeout=left(RESOLVE_S), step=0.5):
            fail("DaqFrameLoss still active %.0f s after the fault was removed: %s\ndaqd:\n%s" % (
                RESOLVE_S, json.dumps(prom.alerts()), d.log()[-3000:]))
        t_res = time.monotonic() - t_res0
        if "rollback symptom cleared" not in d.log():
            fail("no INFO rollback symptom cleared line in daqd's log")
        q = prom.api("query", query='daq_rollback_symptom{symptom="frame_loss",device="cam0"}')
        if not q or q["result"][0]["value"][1] != "0":
            fail("prometheus does not read the symptom as 0 after it cleared: %s" % q)
        others = [x["labels"]["alertname"] for x in prom.firing()]
        if others:
            fail("alerts firing after the fault was removed: %s" % others)
        if not re.search(r'^daq_acquisition_streaming\{device="cam0"\} 1$', d.get("/metrics")[1], re.M):
            fail("cam0 is not streaming again after the fault was removed")
        print("resolved: %.1f s after the fault was removed (fault.jump_prob=0); total %.1f s"
              % (t_res, time.monotonic() - t0))
    finally:
        if prom:
            prom.kill()
        d.kill()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(d.dir, ignore_errors=True)
    print("PASS")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print("FAIL: %s" % e)
        sys.exit(1)
