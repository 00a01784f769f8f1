#!/usr/bin/python3
"""The Python reader of `daq-bench tap`: daq_client.tap.TapReader at full
speed for --seconds, touching one row of every frame (a numpy sum over the
read-only view: the pixels are really there, and the view costs O(1), not
an 8 MiB copy), then one JSON line on stdout.

Figures, all measured after --warmup frames: delivered frames per second,
drops (the daemon's per-reader count, FRAME.dropped, plus gaps in the
camera's frame numbers as a cross-check), this process's CPU per frame and
as a share of one core (resource.getrusage: user + system), and the
publish -> receive latency (FRAME.publish_mono_ns, stamped by the daemon
when it sends, to receive_mono_ns, taken right after recv; both
CLOCK_MONOTONIC) p50/p99 with a blocking wait.  Each loop is bounded: the
run stops at --seconds, a wait at 1 s.

usage: PYTHONPATH=clients/python /usr/bin/python3 bench/tap_py_reader.py SOCKET
       [--seconds S] [--warmup N] [--device ID]
"""
import argparse
import json
import resource
import sys
import time

from daq_client.tap import TapReader


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def quantile(v, q):
    if not v:
        return None
    v = sorted(v)
    return v[min(len(v) - 1, int(q * (len(v) - 1) + 0.5))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("socket")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--device", default="")
    a = ap.parse_args()

    lat = []
    frames = invalid = gaps = 0
    last_hw = None
    drop0 = drop1 = 0
    row_sum = 0
    t0 = c0 = None
    end = time.monotonic() + a.seconds + 10.0  # warm-up bound
    with TapReader(a.socket, device=a.device) as tap:
        seen = 0
        while time.monotonic() < end:
            f = tap.next(1.0)
            if f is None:
                continue
            with f:
                arr = f.array
                row_sum += int(arr[f.height // 2].sum())
                if not f.valid():
                    invalid += 1
                seen += 1
                if seen == a.warmup:
                    t0, c0 = time.monotonic(), cpu_seconds()
                    end = t0 + a.seconds
                    drop0 = f.dropped
                    last_hw = f.hw_frame_number
                elif seen > a.warmup:
                    frames += 1
                    lat.append(f.receive_mono_ns - f.publish_mono_ns)
                    if f.hw_frame_number != last_hw + 1:
                        gaps += 1
                    last_hw = f.hw_frame_number
                    drop1 = f.dropped
        t1, c1 = time.monotonic(), cpu_seconds()
    if t0 is None or frames == 0:
        print(json.dumps({"error": "fewer than %d frames" % (a.warmup + 1)}))
        return 1
    secs = t1 - t0
    cpu = c1 - c0
    p50, p99 = quantile(lat, 0.5), quantile(lat, 0.99)
    print(json.dumps({
        "frames": frames, "seconds": secs, "fps": frames / secs,
        "drops": drop1 - drop0, "gaps": gaps, "invalid": invalid,
        "cpu_per_frame_us": cpu / frames * 1e6, "cpu_pct": cpu / secs * 100.0,
        "p50_us": p50 / 1e3, "p99_us": p99 / 1e3, "row_sum": row_sum}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
