#!/usr/bin/python3
"""tests/storage/swmr_reader.py - a reader of a recording while it is written,
in a process of its own (as a user's viewer would be): h5py swmr=True and
refresh(), never a reopen.

It opens FILE (retrying while the recorder has not switched to SWMR writing
yet), then polls GROUP/data and GROUP/frame_number every 20 ms and prints one
JSON line per size it sees: {"event": "grew", "t": <unix s>, "n": <frames>,
"verified": <the newest frame equals the sim pattern>}.  The two datasets
are extended one after the other, so it reads min(len(data),
len(frame_number)).  It ends when its stdin closes or after SECONDS.

usage: swmr_reader.py FILE GROUP SECONDS
"""
import json
import os
import sys
import threading
import time

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python"))
from daq_client import sim_pattern  # noqa: E402


def emit(**kw):
    kw["t"] = time.time()
    print(json.dumps(kw), flush=True)


def main():
    path, group, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    deadline = time.monotonic() + seconds
    done = threading.Event()

    def watch_stdin():
        sys.stdin.read()
        done.set()
    threading.Thread(target=watch_stdin, daemon=True).start()

    f, last_err = None, None
    while f is None and time.monotonic() < deadline and not done.is_set():
        try:
            f = h5py.File(path, "r", swmr=True)
            data, fn = f[group + "/data"], f[group + "/frame_number"]
        except (OSError, KeyError) as e:
            if f is not None:
                f.close()
            f, last_err = None, e
            time.sleep(0.02)
    if f is None:
        emit(event="bad", error="never opened: %s" % last_err)
        return 1
    emit(event="open")
    last = -1
    with f:
        while time.monotonic() < deadline and not done.is_set():
            data.refresh()
            fn.refresh()
            n = min(data.shape[0], fn.shape[0])
            if n > last:
                ok = True
                if n:
                    num = int(fn[n - 1])
                    px = data[n - 1]
                    ok = bool(np.array_equal(px, sim_pattern(px.shape[1], px.shape[0], num)))
                emit(event="grew", n=n, verified=ok)
                last = n
            elif n < last:
                emit(event="bad", error="shrank from %d to %d" % (last, n))
            time.sleep(0.02)
    return 0


if __name__ == "__main__":
    sys.exit(main())
