#!/usr/bin/python3
"""The rollback plan's live symptom watch and automatic rollback (issue 13,
deliverables 2 and 3) against real daqds.

Every daemon runs the [rollback] watch with short windows (window 5 s,
warm-up 2 s, clear 2 s, a tick every 250 ms) and gets one symptom
injected:

* exhaustion: a 2-slot pool whose slots the stats consumer holds
  (DAQ_TEST_LEAK_FRAMES=2: the stream's first two frames, until its end):
  pool_exhausted;
* alloc_slow: DAQ_TEST_ALLOC_DELAY_US=1500 (every allocation 1.5 ms):
  alloc_slow;
* frame_loss: the sim's fault.jump_prob: frame_loss;
* rss: DAQ_TEST_LEAK_FRAMES with the pool off and 512 KiB frames (a
  leaking consumer; released at the end of the stream): rss_growth_warn and
  rss_growth (device "process");
* auto: exhaustion with [rollback] auto = true: use_pool goes off live, no
  frame lost, the hit rate reads 0, the event is in the log, the metrics,
  GetDeviceState and the parameters.

Each symptom case checks that exactly its own daq_rollback_symptom
becomes 1 (all others stay 0 at every look), its WARN line carries value,
threshold, window and the plan's action, and that after StopStream the
metric returns to 0 with an INFO "cleared" line.  The cases run
concurrently, each in its own daemon.  "clean" is the 60 s run of a sim
camera with a normal pool that must raise no symptom at all.

usage: test_symptoms.py DAQD symptoms|clean
"""
import os
import re
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python"))
from daq_client import Client  # noqa: E402
from daqd_harness import Daemon, wait_for  # noqa: E402

CAM = ["pool_exhausted", "alloc_slow", "frame_loss"]
PROC = ["rss_growth_warn", "rss_growth"]
POOL_ACTION = "set acquisition.use_pool=false (live) or PVCAM_USE_POOL=0 and restart"
LEAK_ACTION = "a code-level leak: roll back the build, or PVCAM_USE_POOL=0 and restart"

ROLLBACK = """
[rollback]
window_s = 5
warmup_s = 2
clear_s = 2
interval_ms = 250
"""


def config(width=128, height=128, rate=100.0, driver_extra="", consumer=None, pool="",
           rollback_extra=""):
    text = """
[[devices]]
id = "cam0"
autostart = true
[devices.driver]
type = "sim"
width = %d
height = %d
frame_rate_hz = %.1f
exposure_ms = 1.0
%s
""" % (width, height, rate, driver_extra)
    if consumer:
        text += "[[devices.consumers]]\n" + consumer
    if pool:
        text += "\n[pool]\n" + pool
    return text + ROLLBACK + rollback_extra


DEEP_STATS = 'name = "stats"\nkind = "stats"\npolicy = "lossless"\nqueue_depth = 64\n'
PLAIN_STATS = 'name = "stats"\nkind = "stats"\npolicy = "drop-oldest"\nqueue_depth = 4\n'

# The stats consumer holds the first 2 frames of the stream (both slots of
# the pool) until the stream ends: every later frame misses the pool.
HOLD_SLOTS = {"DAQ_TEST_LEAK_FRAMES": "2"}

# Under ASan (a sanitizer build of daqd) freed memory waits in a 256 MiB
# quarantine: heap frames would grow the RSS of every case and a released
# leak would not show.  Harmless without ASan.
ASAN_ENV = {"ASAN_OPTIONS": ":".join(
    o for o in (os.environ.get("ASAN_OPTIONS", ""), "quarantine_size_mb=0") if o)}

SAMPLE = re.compile(r'^(daq_rollback_\w+)\{([^}]*)\} (\S+)$', re.M)


def rollback_metrics(d):
    """{(family, device, symptom or None): value} of the daq_rollback_* families."""
    status, text = d.get("/metrics")
    assert status == 200, text
    out = {}
    for name, labels, value in SAMPLE.findall(text):
        l = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        out[(name, l.get("device"), l.get("symptom"))] = float(value)
    return out


def active(m):
    """The (device, symptom) pairs whose daq_rollback_symptom is 1."""
    return {(dev, sym) for (name, dev, sym), v in m.items()
            if name == "daq_rollback_symptom" and v == 1}


def fields(line):
    return {k: v.strip('"') for k, v in re.findall(r'(\w+)=("[^"]*"|\S+)', line)}


def lines(d, text):
    return [l for l in d.log().splitlines() if text in l]


class Case:
    def __init__(self, name, cfg, own, env=None):
        self.name, self.cfg, self.own, self.env = name, cfg, set(own), env or {}
        self.notes = []

    def start(self):
        self.d = Daemon(DAQD, self.cfg, env=dict(ASAN_ENV, **self.env), name=self.name).start()
        self.c = Client("127.0.0.1:%d" % self.d.grpc_port)

    def stop(self):
        try:
            self.c.close()
        finally:
            self.d.signal()
            code, _ = self.d.wait(20)
            # 0 also means no leak under ASan (the leaking consumer frees at its stop)
            assert code == 0, "%s: daqd exited %d:\n%s" % (self.name, code, self.d.log())

    def watch_others(self, m):
        extra = active(m) - self.own
        assert not extra, "%s: other symptoms active: %s\n%s" % (self.name, extra, self.d.log())

    def run_symptom(self):
        """Its own symptoms rise (and nothing else), the WARN lines, clear after StopStream."""
        def risen():
            m = rollback_metrics(self.d)
            self.watch_others(m)
            return self.own <= active(m)
        assert wait_for(risen, timeout=25, step=0.25), \
            "%s: %s never rose:\n%s" % (self.name, self.own, self.d.log())
        t_rise = time.monotonic()
        for dev, sym in self.own:
            warn = [fields(l) for l in lines(self.d, "rollback symptom ")
                    if " WARN " in l and 'symptom="%s"' % sym in l]
            assert warn, "%s: no WARN line for %s:\n%s" % (self.name, sym, self.d.log())
            f = warn[0]
            assert f["device"] == dev and f["window_s"] == "5", f
            assert float(f["value"]) > float(f["threshold"]), f
            action = LEAK_ACTION if sym in PROC else POOL_ACTION
            assert f["action"].startswith(action), f
        # Still its own only a little later (one more window's worth of looks).
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            self.watch_others(rollback_metrics(self.d))
            time.sleep(0.25)
        self.c.stop_stream("cam0")
        t_stop = time.monotonic()

        def cleared():
            m = rollback_metrics(self.d)
            self.watch_others(m)
            return not (active(m) & self.own)
        assert wait_for(cleared, timeout=20, step=0.25), \
            "%s: %s did not clear after StopStream:\n%s" % (self.name, self.own, self.d.log())
        for dev, sym in self.own:
            info = [fields(l) for l in lines(self.d, "rollback symptom cleared")
                    if 'symptom="%s"' % sym in l]
            assert info and info[0]["device"] == dev, \
                "%s: no cleared line for %s:\n%s" % (self.name, sym, self.d.log())
        m = rollback_metrics(self.d)
        for dev, sym in self.own:
            assert m[("daq_rollback_symptom_raised_total", dev, sym)] >= 1, m
        self.notes.append("rose %.1f s after start checks, cleared %.1f s after StopStream"
                          % (t_rise - self.t0, time.monotonic() - t_stop))

    def subscribe_changes(self):
        """StreamParameterChanges for cam0's use_pool, read on a thread."""
        pb = self.c.pb
        self.call = self.c.hw.StreamParameterChanges(pb.StreamParameterChangesRequest(
            device_id="cam0", parameter_names=["acquisition.use_pool"]))
        self.changes = []

        def read():
            try:
                for ch in self.call:
                    self.changes.append(ch)
            except Exception:
                pass  # cancelled
        threading.Thread(target=read, daemon=True).start()

    def run_auto(self):
        self.subscribe_changes()  # the flip comes after warm-up (2 s) + auto_after_s

        def flipped():
            return rollback_metrics(self.d)[("daq_rollback_auto_total", "cam0", None)] == 1
        assert wait_for(flipped, timeout=25, step=0.25), \
            "auto: no automatic rollback:\n" + self.d.log()
        assert self.c.get("cam0", "acquisition.use_pool") is False
        st = self.c.device_state("cam0")
        assert st.HasField("use_pool") and not st.use_pool, st
        assert st.auto_rollbacks == 1 and st.auto_rollback_reason, st
        assert "pool_exhausted" in st.auto_rollback_reason, st
        assert self.c.get("cam0", "rollback.auto_rollbacks") == 1
        warn = [fields(l) for l in lines(self.d, "automatic rollback: use_pool off")]
        assert len(warn) == 1 and " WARN " in lines(self.d, "automatic rollback")[0], warn
        f = warn[0]
        assert f["device"] == "cam0" and f["symptom"] == "pool_exhausted", f
        assert "hit_rate" in f and "misses" in f and "value" in f and "threshold" in f, f
        # Frames keep flowing through the heap path: more delivered, none lost.
        n0 = self.c.get("cam0", "acquisition.frames_delivered")
        assert wait_for(lambda: self.c.get("cam0", "acquisition.frames_delivered") > n0 + 50,
                        timeout=5), "auto: frames stopped after the flip"
        assert self.c.get("cam0", "acquisition.frames_lost") == 0
        assert self.c.get("cam0", "acquisition.pool_hit_rate") == 0
        assert self.c.get("cam0", "acquisition.streaming") is True
        # Never flipped back, never twice.
        time.sleep(1.5)
        assert self.c.get("cam0", "acquisition.use_pool") is False
        assert rollback_metrics(self.d)[("daq_rollback_auto_total", "cam0", None)] == 1
        # Published to parameter-change subscribers like a SetParameter.
        assert wait_for(lambda: self.changes, timeout=5), "auto: no ParameterChange"
        self.call.cancel()
        ch = self.changes[0]
        assert (ch.device_id, ch.name, ch.old_value, ch.new_value, ch.source) == \
            ("cam0", "acquisition.use_pool", "true", "false", "rollback"), ch
        self.notes.append("flipped; reason: " + st.auto_rollback_reason)

    def run(self):
        self.t0 = time.monotonic()
        self.start()
        try:
            (self.run_auto if self.name == "auto" else self.run_symptom)()
        finally:
            self.stop()


def cases():
    return [
        Case("exhaustion", config(consumer=DEEP_STATS, pool="slots = 2\n"),
             [("cam0", "pool_exhausted")], env=HOLD_SLOTS),
        Case("alloc_slow", config(rate=50.0, consumer=PLAIN_STATS), [("cam0", "alloc_slow")],
             env={"DAQ_TEST_ALLOC_DELAY_US": "1500"}),
        Case("frame_loss", config(driver_extra='"fault.jump_prob" = 0.05', consumer=PLAIN_STATS),
             [("cam0", "frame_loss")]),
        Case("rss", config(width=512, height=512, rate=50.0, consumer=PLAIN_STATS,
                           pool="use_pool = false\n"),
             [("process", "rss_growth_warn"), ("process", "rss_growth")],
             env={"DAQ_TEST_LEAK_FRAMES": "300"}),
        Case("auto", config(consumer=DEEP_STATS, pool="slots = 2\n",
                            rollback_extra="auto = true\nauto_after_s = 1\n"),
             [("cam0", "pool_exhausted")], env=HOLD_SLOTS),
    ]


def run_concurrently(todo):
    errors = []

    def one(case):
        try:
            case.run()
        except Exception:
            errors.append("%s:\n%s" % (case.name, traceback.format_exc()))
    threads = [threading.Thread(target=one, args=(c,)) for c in todo]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in todo:
        for n in c.notes:
            print("%s: %s" % (c.name, n))
    return errors


def clean():
    """60 s of a sim camera with a normal pool: no symptom, no WARN."""
    d = Daemon(DAQD, config(consumer=PLAIN_STATS), name="clean").start()
    try:
        t_end = time.monotonic() + 60
        while time.monotonic() < t_end:
            m = rollback_metrics(d)
            assert not active(m), "clean: symptom raised: %s\n%s" % (active(m), d.log())
            time.sleep(1)
        m = rollback_metrics(d)
        raised = {k: v for k, v in m.items()
                  if k[0] == "daq_rollback_symptom_raised_total" and v}
        assert not raised, raised
        assert not [l for l in lines(d, "daq::rollback") if " WARN " in l], d.log()
        assert not lines(d, "rollback symptom cleared"), d.log()
        c = Client("127.0.0.1:%d" % d.grpc_port)
        assert c.get("cam0", "rollback.symptoms") == ""
        assert c.get("cam0", "acquisition.streaming") is True
        st = c.device_state("cam0")
        assert st.use_pool and list(st.rollback_symptoms) == [] and st.auto_rollbacks == 0, st
        c.close()
        print("clean: 60 s, no symptom; values:",
              {k[2]: v for k, v in m.items() if k[0] == "daq_rollback_symptom_value"})
    finally:
        d.signal()
        d.wait(20)
    return []


def main():
    global DAQD
    DAQD = sys.argv[1]
    mode = sys.argv[2] if len(sys.argv) > 2 else "symptoms"
    only = sys.argv[3:]
    if mode == "clean":
        errors = clean()
    else:
        errors = run_concurrently([c for c in cases() if not only or c.name in only])
    for e in errors:
        print(e, file=sys.stderr)
    print("FAIL" if errors else "OK")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
