#!/usr/bin/python3
"""bench/bench_view.py - `daq-bench view [--json] [--seconds N] [--check]`:
the live view in headless Chromium against a daqd of its own, next to a
gRPC PREVIEW stream of the same camera measured in the same run.

The camera: the sim at 2048x2048x16 bit, 100 FPS ("realistic" timing), so
the daemon's own work per second is fixed and can be subtracted.  Phases,
N seconds each (default 10), one after the other on the same daemon:

  idle     streaming, nobody watching: the daemon's CPU (utime+stime of
           /proc/PID/stat) per second, the baseline subtracted below
  fast     one page, FAST (bin 4, the whole frame: 512x512 px), max fps 100
  full     the same page, FULL crop: bin 1, a 1024x1024 region (2 MiB a frame)
  preview  the page closed; one gRPC StreamFrames client, quality PREVIEW
           (2x2, 1024x1024), every frame (max_fps 0), reading raw messages

Figures: displayed fps (daqView.state().displayed over the window), latency
from the frame's arrival in the daemon (arrival_unix_ns in the frame header)
to its draw (daqView.latencies(), the window's frames: p50/p99), and daemon
CPU per displayed / received frame = (CPU in the window - idle CPU per
second x window) / frames.  Targets (issue 14): >= 30 displayed fps FAST,
p99 latency < 100 ms, CPU per displayed frame below PREVIEW's per frame;
each printed with met: true/false.  --check (make check's short run under
load) fails only if the JSON is incomplete or insane, never on a target.

usage: bench_view.py --daqd DAQD --build BUILD_DIR [--json] [--seconds N] [--check]
"""
import argparse
import json
import math
import os
import shutil
import signal
import sys
import threading
import time
import urllib.request

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(SRC, "tests", "browser"))
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
sys.path.insert(0, os.path.join(SRC, "clients", "python"))
import chromium  # noqa: E402
from daqd_harness import Daemon  # noqa: E402

SIDE, FPS = 2048, 100
CROP = {"x": 512, "y": 512, "w": 1024, "h": 1024}
CONFIG = """
[[devices]]
id = "cam0"
name = "Simulated camera"
autostart = true
[devices.driver]
type = "sim"
width = %d
height = %d
bit_depth = 16
frame_rate_hz = %.1f
timing = "realistic"
exposure_ms = 2.0
""" % (SIDE, SIDE, FPS)
TARGET_FPS, TARGET_P99_MS = 30.0, 100.0
TICK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print("daq-bench view: " + msg, file=sys.stderr, flush=True)


def cpu_seconds(pid):
    """utime + stime of the process, all threads (fields 14 and 15)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def quantile(v, q):
    if not v:
        return None
    v = sorted(v)
    return v[min(len(v) - 1, int(math.ceil(q * len(v))) - 1 if q > 0 else 0)]


class Window:
    """Wall time and the daemon's CPU over one phase."""

    def __init__(self, pid):
        self.pid = pid
        self.t0, self.c0 = time.monotonic(), cpu_seconds(pid)

    def end(self):
        self.dt = time.monotonic() - self.t0
        self.cpu = cpu_seconds(self.pid) - self.c0
        return self


def page_phase(b, pid, seconds, idle_cpu_per_s, opts, want):
    b.eval("v", "(o) => { daqView.set(o); return true; }", opts)
    fn = """(want) => { const s = daqView.state();
      for (const k in want) if (s[k] !== want[k]) return null;
      return s.displayed >= 1 ? s : null; }"""
    b.wait("v", fn, want, timeout=15)
    time.sleep(1.0)  # settle: the first frames of a new mode pay for buffers
    s0 = b.eval("v", "() => daqView.state()")
    w = Window(pid)
    time.sleep(seconds)
    r = b.eval("v", "() => ({s: daqView.state(), lat: daqView.latencies()})")
    w.end()
    s1, lat = r["s"], r["lat"]
    frames = s1["displayed"] - s0["displayed"]
    lat = lat[-min(frames, len(lat)):] if frames > 0 else []
    extra = w.cpu - idle_cpu_per_s * w.dt
    return {
        "displayed_fps": frames / w.dt,
        "frames": frames,
        "seconds": w.dt,
        "width": s1["width"], "height": s1["height"], "bin": s1["bin"], "x": s1["x"], "y": s1["y"],
        "received": s1["received"] - s0["received"],
        "dropped": s1["dropped"] - s0["dropped"],
        "latency_ms": {"p50": quantile(lat, 0.5), "p99": quantile(lat, 0.99),
                       "max": max(lat) if lat else None, "n": len(lat)},
        "daemon_cpu_percent": 100.0 * w.cpu / w.dt,
        "daemon_cpu_ms_per_frame": 1000.0 * extra / frames if frames else None,
    }


def preview_phase(grpc_port, pid, seconds, idle_cpu_per_s):
    """One gRPC StreamFrames PREVIEW client reading raw messages (no parsing:
    the same work whatever the payload), in a thread of this process."""
    import grpc
    from daq_client import stubs
    pb = stubs().daq
    req = pb.StreamFramesRequest(device_id="cam0", max_fps=0, quality=1).SerializeToString()
    ch = grpc.insecure_channel("127.0.0.1:%d" % grpc_port,
                               options=[("grpc.max_receive_message_length", 64 << 20)])
    call = ch.unary_stream("/daq.HardwareService/StreamFrames")(req)
    count = {"n": 0, "bytes": 0}
    first = threading.Event()

    def read():
        try:
            for msg in call:
                count["n"] += 1
                count["bytes"] += len(msg)
                first.set()
        except grpc.RpcError:
            pass
        first.set()

    t = threading.Thread(target=read, daemon=True)
    t.start()
    first.wait(10)
    time.sleep(1.0)
    n0, w = count["n"], Window(pid)
    time.sleep(seconds)
    n1 = count["n"]
    w.end()
    call.cancel()
    t.join(5)
    ch.close()
    frames = n1 - n0
    extra = w.cpu - idle_cpu_per_s * w.dt
    # daqd's default (rust-daq's): FrameData LZ4-framed, so the baseline is
    # what a PREVIEW client gets out of the box.
    return {"fps": frames / w.dt, "frames": frames, "seconds": w.dt, "compression": "lz4",
            "bytes_per_frame": count["bytes"] / max(1, count["n"]),
            "daemon_cpu_percent": 100.0 * w.cpu / w.dt,
            "daemon_cpu_ms_per_frame": 1000.0 * extra / frames if frames else None}


def status(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/api/view/cam0/status" % port, timeout=5) as r:
        return json.loads(r.read().decode())


def run(args):
    modules = chromium.install(args.build)
    d = Daemon(args.daqd, CONFIG, name="bench-view")
    tmp = d.dir
    # A storage root in the daemon's scratch directory: without one daqd
    # makes ./data wherever the benchmark was started.
    with open(d.config, "a") as f:
        f.write("\n[storage]\nroot = %s\n" % json.dumps(os.path.join(tmp, "rec")))
    os.mkdir(os.path.join(tmp, "rec"))
    b = None
    try:
        d.start()
        pid = d.proc.pid
        # The browser as a user runs it: neither niced nor pinned (the tests
        # do both, for their frame-rate verdicts; see chromium.py).
        b = chromium.Browser(modules, nice=0, pin=False)
        # idle: the camera streams, nobody watches (the browser is up, no page)
        time.sleep(1.0)
        w = Window(pid)
        time.sleep(args.seconds)
        w.end()
        idle = w.cpu / w.dt
        log("idle: daemon %.1f %% CPU" % (100 * idle))
        b.open("v", "http://127.0.0.1:%d/#cam0" % d.metrics_port, width=1280, height=900,
               intercept=False)
        fast = page_phase(b, pid, args.seconds, idle,
                          {"mode": "fast", "zoom": 1, "maxFps": FPS, "lz4": False},
                          {"bin": 4, "width": SIDE // 4})
        log("fast: %.1f fps, p99 %s ms" % (fast["displayed_fps"], fast["latency_ms"]["p99"]))
        # The same reduction as the gRPC baseline (2x2 means): like for like.
        prev_view = page_phase(b, pid, args.seconds, idle,
                               {"mode": "preview", "zoom": 1, "maxFps": FPS, "lz4": False},
                               {"bin": 2, "width": SIDE // 2})
        log("preview (view): %.1f fps, p99 %s ms" % (prev_view["displayed_fps"],
                                                    prev_view["latency_ms"]["p99"]))
        full = page_phase(b, pid, args.seconds, idle,
                          {"mode": "full", "crop": CROP, "maxFps": FPS},
                          {"bin": 1, "width": CROP["w"], "height": CROP["h"]})
        log("full crop: %.1f fps, p99 %s ms" % (full["displayed_fps"], full["latency_ms"]["p99"]))
        b.close_page("v")
        time.sleep(0.5)
        preview = preview_phase(d.grpc_port, pid, args.seconds, idle)
        log("preview: %.1f fps" % preview["fps"])
        st = status(d.metrics_port)
        version = b.version
    finally:
        if b:
            b.close()
        if d.proc and d.proc.poll() is None:
            d.signal(signal.SIGTERM)
            d.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)

    def ratio(a, p):
        return a / p if a is not None and p else None

    fast_vs = ratio(fast["daemon_cpu_ms_per_frame"], preview["daemon_cpu_ms_per_frame"])
    full_vs = ratio(full["daemon_cpu_ms_per_frame"], preview["daemon_cpu_ms_per_frame"])
    prev_vs = ratio(prev_view["daemon_cpu_ms_per_frame"], preview["daemon_cpu_ms_per_frame"])
    p99 = [x["latency_ms"]["p99"] for x in (fast, full)]
    return {
        "suite": "view",
        "camera": {"width": SIDE, "height": SIDE, "bit_depth": 16, "fps": FPS},
        "browser": version,
        "seconds_per_phase": args.seconds,
        "idle": {"daemon_cpu_percent": 100.0 * idle},
        "fast": fast,
        "preview_view": prev_view,
        "full_crop": full,
        "baseline_preview_grpc": preview,
        "ratios": {"fast_cpu_per_frame_vs_preview": fast_vs,
                   "preview_view_cpu_per_frame_vs_preview": prev_vs,
                   "full_crop_cpu_per_frame_vs_preview": full_vs},
        "camera_fps": st.get("camera_fps"),
        "frames_lost": st.get("frames_lost"),
        "targets": {
            "fast_displayed_fps": {"target": ">= %g" % TARGET_FPS, "value": fast["displayed_fps"],
                                   "met": fast["displayed_fps"] >= TARGET_FPS},
            "latency_p99_ms": {"target": "< %g (FAST and FULL crop)" % TARGET_P99_MS,
                               "value": max(p for p in p99 if p is not None) if any(
                                   p is not None for p in p99) else None,
                               "met": all(p is not None and p < TARGET_P99_MS for p in p99)},
            "cpu_per_displayed_frame_vs_preview": {
                "target": "< 1 (FAST / PREVIEW daemon CPU per frame)",
                "value": fast_vs, "met": fast_vs is not None and fast_vs < 1.0},
        },
    }


def check(r):
    """Complete and sane: every figure there, finite, in its range."""
    bad = []

    def num(path, v, lo=None, hi=None):
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
            bad.append("%s = %r is not a number" % (path, v))
        elif (lo is not None and v < lo) or (hi is not None and v > hi):
            bad.append("%s = %r not in [%s, %s]" % (path, v, lo, hi))

    num("idle.daemon_cpu_percent", r["idle"]["daemon_cpu_percent"], 0, 400)
    for k, w in (("fast", SIDE // 4), ("preview_view", SIDE // 2), ("full_crop", CROP["w"])):
        x = r[k]
        num(k + ".displayed_fps", x["displayed_fps"], 0.5, FPS * 1.2)
        num(k + ".frames", x["frames"], 1)
        if x["width"] != w:
            bad.append("%s.width = %r, want %d" % (k, x["width"], w))
        num(k + ".latency_ms.n", x["latency_ms"]["n"], 1)
        num(k + ".latency_ms.p50", x["latency_ms"]["p50"], 0, 10000)
        num(k + ".latency_ms.p99", x["latency_ms"]["p99"], 0, 10000)
        if not bad and x["latency_ms"]["p50"] > x["latency_ms"]["p99"]:
            bad.append("%s: p50 > p99" % k)
        num(k + ".daemon_cpu_percent", x["daemon_cpu_percent"], 0, 400)
        num(k + ".daemon_cpu_ms_per_frame", x["daemon_cpu_ms_per_frame"], -1000, 1000)
    p = r["baseline_preview_grpc"]
    num("baseline_preview_grpc.fps", p["fps"], 0.5, FPS * 1.2)
    num("baseline_preview_grpc.daemon_cpu_ms_per_frame", p["daemon_cpu_ms_per_frame"], -1000, 1000)
    num("camera_fps", r["camera_fps"], 1, FPS * 1.2)
    num("frames_lost", r["frames_lost"], 0)
    for k, t in r["targets"].items():
        if not isinstance(t.get("met"), bool) or "target" not in t or "value" not in t:
            bad.append("targets.%s incomplete: %r" % (k, t))
    return bad


def table(r):
    rows = [("idle daemon CPU", "%.1f %%" % r["idle"]["daemon_cpu_percent"])]
    for k in ("fast", "preview_view", "full_crop"):
        x = r[k]
        rows += [("%s: %dx%d bin %d" % (k, x["width"], x["height"], x["bin"]),
                  "%.1f displayed fps" % x["displayed_fps"]),
                 ("%s latency p50 / p99" % k, "%s / %s ms" % (
                     _f(x["latency_ms"]["p50"]), _f(x["latency_ms"]["p99"]))),
                 ("%s daemon CPU per frame" % k, "%s ms" % _f(x["daemon_cpu_ms_per_frame"], 3))]
    p = r["baseline_preview_grpc"]
    rows += [("gRPC PREVIEW", "%.1f fps" % p["fps"]),
             ("gRPC PREVIEW daemon CPU per frame", "%s ms" % _f(p["daemon_cpu_ms_per_frame"], 3))]
    for k, t in r["targets"].items():
        rows.append(("target %s %s" % (k, t["target"]),
                     "%s  %s" % (_f(t["value"], 3), "met" if t["met"] else "NOT met")))
    print("daq-bench view: the live view in headless Chromium, 2048x2048x16 at 100 FPS")
    for k, v in rows:
        print("  %-58s %s" % (k, v))


def _f(v, digits=1):
    return "-" if v is None else "%.*f" % (digits, v)


def main():
    ap = argparse.ArgumentParser(prog="daq-bench view")
    ap.add_argument("--daqd", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--check", action="store_true",
                    help="fail (1) when the result is incomplete or insane (not on targets)")
    args = ap.parse_args()
    why = chromium.missing()
    if why:
        print("daq-bench view: skipped: " + why, file=sys.stderr)
        return chromium.SKIP
    if not 0.5 <= args.seconds <= 600:
        ap.error("--seconds: must be 0.5..600")
    r = run(args)
    if args.json:
        print(json.dumps(r, indent=None, sort_keys=False))
    else:
        table(r)
    if args.check:
        bad = check(r)
        if bad:
            print("daq-bench view --check: " + "; ".join(bad), file=sys.stderr)
            return 1
        log("--check: the JSON is complete and sane")
    return 0


if __name__ == "__main__":
    sys.exit(main())
