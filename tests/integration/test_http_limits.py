#!/usr/bin/python3
"""The metrics endpoint under a slowloris (issue 12, deliverable 4).

A real daqd on ephemeral loopback ports.  An attacker holds 64 sockets from
127.0.0.1, each sending one byte of a request header per second and
reconnecting (on its next tick) when the server closes it; meanwhile a
scraper asks for /metrics and /healthz every 0.5 s from 127.0.0.2 (its
socket bound there: Linux routes all of 127/8 to lo) and from 127.0.0.1, the
attacker's own address.  Every scrape from 127.0.0.2 must be answered, 200,
in under 1 s; from 127.0.0.1, which shares the attacker's 8 per-client
slots, at least 75 % (a scrape that lands right after a burst of the
attacker's reconnects finds every slot younger than the eviction's 100 ms
and is refused: 2 to 4 of 48 in 12 s, 3 of 120 in 30 s).  Afterwards
daq_http_rejected_connections_total must be > 0 and the rejection log
lines rate-limited.

The attack lasts ATTACK_S = 12 s by default (--seconds N to change it):
over twice the 5 s header deadline, so every admitted attacker socket is
cut at least once.  Bounded: at most 64 sockets, one connect per socket per
second, one scrape pair per address per 0.5 s.

usage: test_http_limits.py DAQD [--seconds N] [--report]
  --report  prints the figures and does not assert (for before/after runs)
"""
import socket
import sys
import threading
import time

from daqd_harness import Daemon

CONFIG = """
[[devices]]
id = "cam0"
autostart = true
[devices.driver]
type = "sim"
width = 64
height = 64
frame_rate_hz = 50.0
"""

SOCKETS = 64
SCRAPE_PERIOD_S = 0.5
SCRAPE_LIMIT_S = 1.0
PARTIAL = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 4096


class Attacker:
    """SOCKETS sockets from src, one header byte per second each."""

    def __init__(self, port, src="127.0.0.1"):
        self.port, self.src = port, src
        self.stop = threading.Event()
        self.connects = 0
        self.closed_by_server = 0
        self.lock = threading.Lock()

    def _connect(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(1.0)
        s.bind((self.src, 0))
        try:
            s.connect(("127.0.0.1", self.port))
        except OSError:
            s.close()
            return None
        s.setblocking(False)
        with self.lock:
            self.connects += 1
        return [s, 0]

    def run(self):
        conns = [self._connect() for _ in range(SOCKETS)]
        while not self.stop.wait(1.0):
            for i, c in enumerate(conns):
                if c is None:
                    conns[i] = self._connect()
                    continue
                s, pos = c
                try:
                    # A server that closed us shows as EOF (or a reset) on read.
                    try:
                        if s.recv(4096) == b"":
                            raise ConnectionResetError
                    except BlockingIOError:
                        pass
                    s.send(PARTIAL[pos:pos + 1])
                    c[1] = (pos + 1) % len(PARTIAL)
                except OSError:
                    s.close()
                    with self.lock:
                        self.closed_by_server += 1
                    conns[i] = self._connect()
        for c in conns:
            if c:
                c[0].close()


def scrape(port, src, path):
    """One GET from src; (seconds, status or error text)."""
    t0 = time.monotonic()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5.0)
    try:
        s.bind((src, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
        line = data.split(b"\r\n", 1)[0].decode(errors="replace")
        status = int(line.split()[1]) if line.startswith("HTTP/1.") else line or "empty reply"
    except OSError as e:
        status = "%s" % e
    finally:
        s.close()
    return time.monotonic() - t0, status


class Scraper:
    def __init__(self, port, src):
        self.port, self.src = port, src
        self.results = []  # (path, seconds, status)
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            t0 = time.monotonic()
            for path in ("/metrics", "/healthz"):
                dt, status = scrape(self.port, self.src, path)
                self.results.append((path, dt, status))
            self.stop.wait(max(0.0, SCRAPE_PERIOD_S - (time.monotonic() - t0)))


def rejected(text):
    out = {}
    for line in text.splitlines():
        if line.startswith("daq_http_rejected_connections_total{"):
            reason = line.split('reason="', 1)[1].split('"', 1)[0]
            out[reason] = float(line.rsplit(" ", 1)[1])
    return out


def main(argv):
    daqd = argv[1]
    seconds = float(argv[argv.index("--seconds") + 1]) if "--seconds" in argv else 12.0
    report = "--report" in argv
    d = Daemon(daqd, CONFIG, name="http_limits").start()
    failures = []
    try:
        port = d.metrics_port
        atk = Attacker(port)
        scrapers = [Scraper(port, "127.0.0.2"), Scraper(port, "127.0.0.1")]
        at = threading.Thread(target=atk.run)
        at.start()
        time.sleep(1.0)  # the attacker's sockets are in before the first scrape
        threads = [threading.Thread(target=s.run) for s in scrapers]
        for t in threads:
            t.start()
        time.sleep(seconds)
        for s in scrapers:
            s.stop.set()
        for t in threads:
            t.join()
        atk.stop.set()
        at.join()

        for s in scrapers:
            n = len(s.results)
            bad = [r for r in s.results if r[2] != 200 or r[1] >= SCRAPE_LIMIT_S]
            worst = max((r[1] for r in s.results), default=0.0)
            print("scrapes from %s: %d, failed or >= %.1f s: %d, slowest %.3f s"
                  % (s.src, n, SCRAPE_LIMIT_S, len(bad), worst))
            for r in bad[:5]:
                print("   %s %.3f s %s" % r)
            if n < seconds / SCRAPE_PERIOD_S / 2:
                failures.append("%s: only %d scrapes in %.0f s" % (s.src, n, seconds))
            allowed = 0 if s.src != "127.0.0.1" else n // 4
            if len(bad) > allowed:
                failures.append("%s: %d of %d scrapes failed or took >= %.1f s (allowed %d)"
                                % (s.src, len(bad), n, SCRAPE_LIMIT_S, allowed))
        print("attacker: %d connects, %d closed by the server" % (atk.connects,
                                                                 atk.closed_by_server))
        rej = {}
        for _ in range(10):  # the server may still be closing the attacker's sockets
            try:
                status, text = d.get("/metrics")
            except OSError:
                time.sleep(0.5)
                continue
            rej = rejected(text) if status == 200 else {}
            break
        print("daq_http_rejected_connections_total:", rej or "absent")
        if sum(rej.values()) <= 0:
            failures.append("daq_http_rejected_connections_total is not > 0: %s" % rej)
        throttled = sum(1 for line in d.lines if "daq::http" in line)
        print("daq::http log lines: %d" % throttled)
        if throttled > 40:
            failures.append("%d rejection log lines: not rate-limited" % throttled)
    finally:
        d.signal()
        code, _ = d.wait(10)
        if code != 0:
            failures.append("daqd exited %d" % code)
    if failures and not report:
        print("FAIL:\n  " + "\n  ".join(failures))
        print(d.log()[-3000:])
        return 1
    print("OK" if not failures else "report only: " + "; ".join(failures))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
