#!/usr/bin/python3
"""The unary worker pool (src/server/rpc_workers.c) over the wire, from
Debian's grpcio client against tests/server/rpc_workers_server.c.

* lanes: 4 workers, 5 slow calls that change state (600 ms each) at once:
  at most 3 run together (one thread stays for reads), the other 2 wait
  their turn; reads sent meanwhile are answered in < 100 ms each.
* busy: 2 workers (1 for slow calls), 400 slow calls of 5 ms at once: the
  queue holds 256, the rest are answered RESOURCE_EXHAUSTED "server busy:
  N calls queued (at most 256)" at once; every other call succeeds.
* stop: SIGTERM with 3 slow calls running and 10 queued: the running ones
  finish OK, the queued ones get UNAVAILABLE "daqd is shutting down", the
  server stops in < 2 s, exits 0 with every call state released.

usage: test_rpc_workers.py RPC_WORKERS_SERVER
"""
import signal
import struct
import subprocess
import sys
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

import grpc

SERVER = None


class Server:
    def __init__(self, workers):
        self.p = subprocess.Popen([SERVER, str(workers)], stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        if not line.startswith("port="):
            self.p.kill()
            raise AssertionError("server did not start: %r" % line)
        self.port = int(line.split("=")[1])
        self.ch = grpc.insecure_channel("127.0.0.1:%d" % self.port)
        self.slow = self.ch.unary_unary("/t.W/Slow")
        self.quick = self.ch.unary_unary("/t.W/Quick")

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        out, _ = self.p.communicate(timeout=20)
        self.ch.close()
        return self.p.returncode, out


def u32(b):
    return struct.unpack("<I", b)[0]


class Workers(unittest.TestCase):
    def tearDown(self):
        if self.s.p.poll() is None:
            code, out = self.s.stop()
            self.assertEqual(code, 0, out)
            self.assertIn("released=all", out)

    def test_lanes(self):
        self.s = s = Server(4)
        s.quick(b"", timeout=10)  # connected
        pool = ThreadPoolExecutor(8)
        t0 = time.monotonic()

        def one():
            r = u32(s.slow(struct.pack("<I", 600), timeout=30))
            return r, time.monotonic() - t0

        slow = [pool.submit(one) for _ in range(5)]
        time.sleep(0.15)
        reads = []
        while time.monotonic() - t0 < 0.55:
            t = time.monotonic()
            running = u32(s.quick(b"", timeout=10))
            reads.append(((time.monotonic() - t) * 1000, running))
        results = [f.result(timeout=30) for f in slow]
        pool.shutdown()
        worst = max(ms for ms, _ in reads)
        print("figure: 5 slow calls on 4 workers: running together at most %d, last done "
              "after %.2f s; %d reads meanwhile, worst %.1f ms"
              % (max(r for r, _ in results), max(t for _, t in results), len(reads), worst))
        self.assertEqual(max(r for r, _ in results), 3, "slow calls take at most workers - 1")
        self.assertEqual(max(r for _, r in reads), 3)
        self.assertGreater(max(t for _, t in results), 1.1, "two slow calls waited their turn")
        self.assertLess(worst, 100.0, "a read waited behind slow calls")

    def test_busy(self):
        self.s = s = Server(2)
        s.quick(b"", timeout=10)
        futures = [s.slow.future(struct.pack("<I", 5), timeout=60) for _ in range(400)]
        ok, busy, other = 0, [], []
        for f in futures:
            try:
                f.result()
                ok += 1
            except grpc.RpcError as e:
                (busy if e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED else other).append(e)
        print("figure: 400 slow calls on 1 control thread: %d answered, %d refused busy (%s)"
              % (ok, len(busy), busy[0].details() if busy else "-"))
        self.assertEqual(other, [])
        self.assertGreater(len(busy), 0, "the queue never filled")
        self.assertGreaterEqual(ok, 256)
        self.assertRegex(busy[0].details(), r"^server busy: \d+ calls queued \(at most 256\)")

    def test_stop(self):
        self.s = s = Server(4)
        s.quick(b"", timeout=10)
        futures = [s.slow.future(struct.pack("<I", 300), timeout=30) for _ in range(13)]
        time.sleep(0.1)
        t0 = time.monotonic()
        code, out = s.stop()
        took = time.monotonic() - t0
        codes = []
        for f in futures:
            try:
                f.result()
                codes.append("OK")
            except grpc.RpcError as e:
                codes.append(e.code().name)
                if e.code() == grpc.StatusCode.UNAVAILABLE:
                    self.assertIn("daqd is shutting down", e.details())
        print("figure: SIGTERM with 3 slow calls running, 10 queued: %s in %.2f s; %s"
              % (out.strip(), took, ", ".join("%s x%d" % (c, codes.count(c))
                                              for c in sorted(set(codes)))))
        self.assertEqual(code, 0, out)
        self.assertIn("released=all", out)
        self.assertLess(took, 2.0)
        self.assertEqual(codes.count("OK"), 3, codes)
        self.assertEqual(codes.count("UNAVAILABLE"), 10, codes)


if __name__ == "__main__":
    SERVER = sys.argv[1]
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[2:])
