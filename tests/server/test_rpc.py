#!/usr/bin/python3
"""The gRPC server core (src/server/rpc*.c) and the health service, over the
wire, from Debian's grpcio client: tests/server/rpc_test_server.c is the
server.

Health Check/Watch, UNIMPLEMENTED for unknown paths, garbage payloads, zero-
copy streams of 8 MiB messages checked byte for byte, client cancel, a
client that stops reading, client processes that die mid-stream, SIGTERM
during active streams.  After every test that ends calls, the server's own
counters must return to idle (no call, body, producer thread or Watch left);
each server must exit 0 on SIGTERM, which it does only when everything was
released.

usage: test_rpc.py RPC_TEST_SERVER PROTO_DIR     (run with /usr/bin/python3)
"""
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import grpc

SERVER = None
PROTO_DIR = None
hpb = hgrpc = None  # generated at start: health_pb2, health_pb2_grpc

MIB = 1 << 20
OPTS = [("grpc.max_receive_message_length", 100 * MIB),
        ("grpc.max_send_message_length", 100 * MIB)]
PATTERN = bytes(range(256)) * (64 * MIB // 256 + 2)
IDLE_TIMEOUT_S = 30  # generous: sanitizer builds on two shared cores


def generate_stubs(out):
    plugin = shutil.which("grpc_python_plugin")
    if not plugin:
        raise RuntimeError("grpc_python_plugin not found (protobuf-compiler-grpc)")
    subprocess.run(["protoc", f"--python_out={out}", f"--grpc_out={out}",
                    f"--plugin=protoc-gen-grpc={plugin}", "-I", PROTO_DIR,
                    os.path.join(PROTO_DIR, "health.proto")], check=True)
    sys.path.insert(0, out)
    global hpb, hgrpc
    import health_pb2
    import health_pb2_grpc
    hpb, hgrpc = health_pb2, health_pb2_grpc


def stream_req(count, size, timeout_ms=0):
    return struct.pack("<III", count, size, timeout_ms)


def check_msg(tc, msg, seq, size):
    tc.assertEqual(len(msg), 8 + size)
    tc.assertEqual(struct.unpack("<Q", msg[:8])[0], seq)
    off = seq & 0xFF
    tc.assertTrue(msg[8:] == PATTERN[off:off + size], f"message {seq}: body differs")


class Server:
    """rpc_test_server as a child process."""

    def __init__(self, port=0):
        self.err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([SERVER, str(port)], stdout=subprocess.PIPE,
                                     stderr=self.err)
        self.port = None
        line = self._line(60)
        if line.startswith("port="):
            self.port = int(line[5:])
        self.first_line = line

    def _line(self, timeout):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return ""
        return self.proc.stdout.readline().decode().strip()

    def addr(self):
        return f"127.0.0.1:{self.port}"

    def stderr(self):
        self.err.seek(0)
        return self.err.read().decode(errors="replace")

    def stop(self, timeout=120):
        """SIGTERM; returns (exit code, last stdout line)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None, "timed out"
        rest = self.proc.stdout.read().decode().strip().splitlines()
        return self.proc.returncode, (rest[-1] if rest else "")

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.err.close()


def stats(channel):
    text = channel.unary_unary("/daq.test.Test/Stats")(b"", timeout=10).decode()
    return {k: int(v) for k, v in (kv.split("=") for kv in text.split())}


def wait_idle(tc, channel, what=""):
    """Until only the Stats call itself is alive and nothing is held."""
    deadline = time.monotonic() + IDLE_TIMEOUT_S
    while True:
        s = stats(channel)
        if (s["live_calls"] == 1 and s["bodies_out"] == 0 and s["producers"] == 0
                and s["watchers"] == 0):
            return s
        if time.monotonic() > deadline:
            tc.fail(f"server not idle after {what}: {s}")
        time.sleep(0.05)


def read_in_thread(it):
    """Reads the next message of it on a thread; returns (thread, result list)."""
    out = []

    def run():
        try:
            out.append(next(it))
        except grpc.RpcError as e:
            out.append(e)
        except StopIteration:
            out.append(StopIteration)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


CHILD_EXIT = r"""
import os, struct, sys, grpc
ch = grpc.insecure_channel(sys.argv[1], options=[("grpc.max_receive_message_length", 100 << 20)])
it = ch.unary_stream("/daq.test.Test/Stream")(struct.pack("<III", 0, int(sys.argv[2]), 0))
for i, m in enumerate(it):
    if i == 2:
        print("got", flush=True)
        os._exit(0)
"""

CHILD_STALL = r"""
import struct, sys, time, grpc
ch = grpc.insecure_channel(sys.argv[1], options=[("grpc.max_receive_message_length", 100 << 20)])
it = ch.unary_stream("/daq.test.Test/Stream")(struct.pack("<III", 0, int(sys.argv[2]), 0))
next(it)
print("got", flush=True)
time.sleep(600)
"""


class TimedCase(unittest.TestCase):
    """Reports slow tests (no timing assertions: shared cores, sanitizers)."""

    def setUp(self):
        self.t0 = time.monotonic()

    def tearDown(self):
        dt = time.monotonic() - self.t0
        if dt > 3:
            print(f"\n  slow: {self.id()} took {dt:.1f} s", file=sys.stderr)


class RpcTest(TimedCase):
    """One server for the whole class; it must exit 0 at the end."""

    @classmethod
    def setUpClass(cls):
        cls.server = Server()
        if cls.server.port is None:
            cls.server.cleanup()
            raise RuntimeError(f"server did not start: {cls.server.first_line!r} "
                               f"{cls.server.stderr()}")
        cls.channel = grpc.insecure_channel(cls.server.addr(), options=OPTS)
        grpc.channel_ready_future(cls.channel).result(timeout=30)
        cls.health = hgrpc.HealthStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        rc, last = cls.server.stop()
        err = cls.server.stderr()
        cls.server.cleanup()
        if rc != 0 or "released=all" not in last:
            raise AssertionError(f"server exit {rc}: {last}\n{err}")

    def idle(self, what=""):
        return wait_idle(self, self.channel, what)

    # ---- health -------------------------------------------------------------------

    def test_check_serving(self):
        for name in ("", "daq.ControlService", "daq.HardwareService"):
            r = self.health.Check(hpb.HealthCheckRequest(service=name), timeout=10)
            self.assertEqual(r.status, hpb.HealthCheckResponse.SERVING, name)

    def test_check_unknown_is_not_found(self):
        with self.assertRaises(grpc.RpcError) as cm:
            self.health.Check(hpb.HealthCheckRequest(service="daq.NoSuchService"), timeout=10)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.NOT_FOUND)
        self.assertEqual(cm.exception.details(), "Unknown service: daq.NoSuchService")

    def test_watch_stays_open_until_cancelled(self):
        call = self.health.Watch(hpb.HealthCheckRequest(service="daq.HardwareService"))
        self.assertEqual(next(call).status, hpb.HealthCheckResponse.SERVING)
        t, out = read_in_thread(call)
        time.sleep(0.5)
        self.assertTrue(t.is_alive(), f"Watch ended: {out}")  # still open, nothing more
        self.assertEqual(stats(self.channel)["watchers"], 1)
        call.cancel()
        t.join(10)
        self.assertFalse(t.is_alive())
        self.assertIsInstance(out[0], grpc.RpcError)
        self.assertEqual(out[0].code(), grpc.StatusCode.CANCELLED)
        self.idle("Watch cancelled")

    def test_watch_unknown_service(self):
        call = self.health.Watch(hpb.HealthCheckRequest(service="nope"))
        self.assertEqual(next(call).status, hpb.HealthCheckResponse.SERVICE_UNKNOWN)
        call.cancel()
        self.idle("Watch(unknown) cancelled")

    def test_watch_default_service(self):
        call = self.health.Watch(hpb.HealthCheckRequest())
        self.assertEqual(next(call).status, hpb.HealthCheckResponse.SERVING)
        call.cancel()
        self.idle("Watch('') cancelled")

    # ---- unknown methods, bad payloads --------------------------------------------------

    def test_unknown_method_is_unimplemented_at_once(self):
        path = "/daq.HardwareService/MoveAbsolute"
        with self.assertRaises(grpc.RpcError) as cm:
            self.channel.unary_unary(path)(b"\x0a\x03cam", timeout=1.0)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.UNIMPLEMENTED)
        self.assertEqual(cm.exception.details(), f"method {path} is not implemented by daqd")
        # a stream too (the Python client streams without a deadline)
        it = self.channel.unary_stream("/daq.HardwareService/StreamObservables")(b"", timeout=5)
        with self.assertRaises(grpc.RpcError) as cm:
            next(it)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.UNIMPLEMENTED)
        self.idle("unimplemented calls")

    def test_garbage_payload(self):
        garbage = b"\x0a\x05ab"  # field 1, length 5, only 2 bytes follow
        check = self.channel.unary_unary("/grpc.health.v1.Health/Check")
        with self.assertRaises(grpc.RpcError) as cm:
            check(garbage, timeout=10)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        watch = self.channel.unary_stream("/grpc.health.v1.Health/Watch")
        with self.assertRaises(grpc.RpcError) as cm:
            next(watch(garbage, timeout=10))
        self.assertEqual(cm.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        with self.assertRaises(grpc.RpcError) as cm:
            next(self.channel.unary_stream("/daq.test.Test/Stream")(b"xyz", timeout=10))
        self.assertEqual(cm.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.test_check_serving()  # still serving
        self.idle("garbage payloads")

    def test_no_request_message(self):
        # a client stream that half-closes at once: the server gets a NULL payload
        for path in ("/grpc.health.v1.Health/Check", "/daq.test.Test/Echo"):
            with self.assertRaises(grpc.RpcError) as cm:
                self.channel.stream_unary(path)(iter([]), timeout=10)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.INVALID_ARGUMENT, path)
        it = self.channel.stream_stream("/daq.test.Test/Stream")(iter([]), timeout=10)
        with self.assertRaises(grpc.RpcError) as cm:
            next(it)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.idle("calls without a request message")

    def test_two_request_messages(self):
        # more than the one message a unary method reads: the first one counts
        req = hpb.HealthCheckRequest(service="daq.ControlService").SerializeToString()
        try:
            out = self.channel.stream_unary("/daq.test.Test/Echo")(iter([req, req]), timeout=10)
            self.assertEqual(out, req)
        except grpc.RpcError as e:  # gRPC may refuse the extra message; only no hang/crash
            self.assertNotEqual(e.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
        self.idle("two request messages")

    def test_compressed_request(self):
        # gzip'd request messages are inflated before the handler sees them
        r = self.health.Check(hpb.HealthCheckRequest(service="daq.HardwareService"),
                              timeout=10, compression=grpc.Compression.Gzip)
        self.assertEqual(r.status, hpb.HealthCheckResponse.SERVING)
        req = hpb.HealthCheckRequest(service="daq" * 100000).SerializeToString()
        out = self.channel.unary_unary("/daq.test.Test/Echo")(req, timeout=10,
                                                              compression=grpc.Compression.Gzip)
        self.assertEqual(out, req)

    def test_client_deadline_mid_stream(self):
        it = self.channel.unary_stream("/daq.test.Test/Hang")(b"", timeout=0.5)
        with self.assertRaises(grpc.RpcError) as cm:
            next(it)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
        it = self.channel.unary_stream("/daq.test.Test/Stream")(stream_req(0, 1 * MIB),
                                                                timeout=1.0)
        with self.assertRaises(grpc.RpcError) as cm:
            for _ in it:
                pass
        self.assertEqual(cm.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)
        self.idle("deadlines")

    def test_empty_request_message(self):
        # all-default request = 0 bytes on the wire
        r = self.health.Check(hpb.HealthCheckRequest(), timeout=10)
        self.assertEqual(r.status, hpb.HealthCheckResponse.SERVING)

    def test_echo(self):
        echo = self.channel.unary_unary(
            "/daq.test.Test/Echo", request_serializer=hpb.HealthCheckRequest.SerializeToString,
            response_deserializer=hpb.HealthCheckRequest.FromString)
        for n in (0, 1, 1000, 3 * MIB):
            req = hpb.HealthCheckRequest(service="x" * n)
            self.assertEqual(echo(req, timeout=30), req)

    # ---- streams ---------------------------------------------------------------------------

    def test_stream_8mib_messages_intact(self):
        n, size = 16, 8 * MIB
        it = self.channel.unary_stream("/daq.test.Test/Stream")(stream_req(n, size), timeout=120)
        got = 0
        for seq, msg in enumerate(it):
            check_msg(self, msg, seq, size)
            got += 1
        self.assertEqual(got, n)
        self.assertEqual(it.code(), grpc.StatusCode.OK)
        s = self.idle("8 MiB stream")
        self.assertGreaterEqual(s["bodies_released"], n)

    def test_stream_odd_sizes(self):
        for size in (0, 1, 255, 65537):
            it = self.channel.unary_stream("/daq.test.Test/Stream")(stream_req(5, size), timeout=30)
            msgs = list(it)
            self.assertEqual(len(msgs), 5, size)
            for seq, msg in enumerate(msgs):
                check_msg(self, msg, seq, size)
        self.idle("small streams")

    def test_stream_too_big_for_default_client(self):
        # default receive limit 4 MiB: the client fails the stream, the server frees it
        with grpc.insecure_channel(self.server.addr()) as ch:
            it = ch.unary_stream("/daq.test.Test/Stream")(stream_req(0, 8 * MIB), timeout=30)
            with self.assertRaises(grpc.RpcError) as cm:
                next(it)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.idle("oversized message")

    def test_cancel_mid_stream(self):
        it = self.channel.unary_stream("/daq.test.Test/Stream")(stream_req(0, 1 * MIB))
        for seq in range(5):
            check_msg(self, next(it), seq, 1 * MIB)
        it.cancel()
        self.idle("cancel mid-stream")
        self.test_check_serving()

    def test_client_stops_reading(self):
        before = stats(self.channel)["busy"]
        it = self.channel.unary_stream("/daq.test.Test/Stream")(stream_req(0, 4 * MIB, 50))
        check_msg(self, next(it), 0, 4 * MIB)
        # flow control stops the server's writes; its producer keeps getting BUSY
        deadline = time.monotonic() + IDLE_TIMEOUT_S
        while stats(self.channel)["busy"] <= before + 3:
            self.assertLess(time.monotonic(), deadline, "producer never saw BUSY")
            time.sleep(0.1)
        self.test_check_serving()  # other calls on the same connection still served
        it.cancel()
        self.idle("stalled stream cancelled")

    def test_hang_stream_cancel(self):
        it = self.channel.unary_stream("/daq.test.Test/Hang")(b"")
        t, out = read_in_thread(it)
        time.sleep(0.3)
        self.assertEqual(stats(self.channel)["producers"], 1)
        it.cancel()
        t.join(10)
        self.idle("Hang cancelled")

    def test_forgotten_stream_ends_internal(self):
        it = self.channel.unary_stream("/daq.test.Test/Forget")(b"", timeout=10)
        with self.assertRaises(grpc.RpcError) as cm:
            next(it)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.INTERNAL)
        self.idle("forgotten stream")

    def test_rejected_stream(self):
        it = self.channel.unary_stream("/daq.test.Test/Reject")(b"", timeout=10)
        with self.assertRaises(grpc.RpcError) as cm:
            next(it)
        self.assertEqual(cm.exception.code(), grpc.StatusCode.FAILED_PRECONDITION)
        self.assertEqual(cm.exception.details(), "rejected")
        self.idle("rejected stream")

    def test_client_process_exits_mid_stream(self):
        for size in (64 * 1024, 8 * MIB):
            child = subprocess.run([sys.executable, "-c", CHILD_EXIT, self.server.addr(),
                                    str(size)], capture_output=True, text=True, timeout=120)
            self.assertEqual(child.stdout.strip(), "got", child.stderr)
            self.idle(f"client os._exit mid-stream ({size} B messages)")
        self.test_check_serving()

    def test_client_process_killed_while_stalled(self):
        child = subprocess.Popen([sys.executable, "-c", CHILD_STALL, self.server.addr(),
                                  str(8 * MIB)], stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(child.stdout.readline().strip(), "got")
            time.sleep(0.5)  # let the server's writes block on flow control
            self.assertEqual(stats(self.channel)["producers"], 1)
        finally:
            child.kill()
            child.wait()
            child.stdout.close()
        self.idle("stalled client killed")

    def test_concurrent_streams_and_calls(self):
        errors = []

        def streamer(size):
            try:
                it = self.channel.unary_stream("/daq.test.Test/Stream")(stream_req(10, size),
                                                                         timeout=120)
                for seq, msg in enumerate(it):
                    check_msg(self, msg, seq, size)
            except Exception as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=streamer, args=(s,))
                   for s in (2 * MIB, 1 * MIB, 100000, 3)]
        for t in threads:
            t.start()
        for _ in range(50):
            self.test_check_serving()
        for t in threads:
            t.join(120)
        self.assertEqual(errors, [])
        self.idle("concurrent streams")

    def test_many_calls(self):
        for i in range(200):
            self.health.Check(hpb.HealthCheckRequest(service=""), timeout=10)
        s = self.idle("200 calls")
        self.assertEqual(s["states_created"] - s["states_freed"], 1 + 8 + 1)  # Stats, posted

    def test_port_in_use(self):
        other = Server(self.server.port)
        try:
            rc = other.proc.wait(60)
            self.assertEqual(rc, 2)
            self.assertIn(f"127.0.0.1:{self.server.port}: cannot bind: Address already in use",
                          other.stderr())
        finally:
            other.cleanup()

    def test_throughput_8mib(self):
        n, size = 64, 8 * MIB
        it = self.channel.unary_stream("/daq.test.Test/Stream")(stream_req(n, size), timeout=300)
        t0 = time.monotonic()
        total = sum(len(m) for m in it)
        dt = time.monotonic() - t0
        self.assertEqual(total, n * (size + 8))
        print(f"\n  throughput: {n} x 8 MiB in {dt:.2f} s = {n / dt:.1f} msg/s, "
              f"{total / dt / 1e6:.0f} MB/s (sync client)", file=sys.stderr)
        self.idle("throughput stream")


class ShutdownTest(TimedCase):
    """SIGTERM while calls are active: the server must exit 0 (all released)."""

    def run_server(self):
        srv = Server()
        self.addCleanup(srv.cleanup)
        self.assertIsNotNone(srv.port, srv.stderr())
        ch = grpc.insecure_channel(srv.addr(), options=OPTS)
        self.addCleanup(ch.close)
        return srv, ch

    def assert_clean_exit(self, srv):
        rc, last = srv.stop()
        self.assertEqual(rc, 0, f"{last}\n{srv.stderr()}")
        self.assertIn("released=all", last)

    def test_sigterm_idle(self):
        srv, ch = self.run_server()
        self.assert_clean_exit(srv)

    def test_sigterm_during_active_streams(self):
        srv, ch = self.run_server()
        stream = ch.unary_stream("/daq.test.Test/Stream")(stream_req(0, 8 * MIB))
        for seq in range(3):
            check_msg(self, next(stream), seq, 8 * MIB)
        watch = hgrpc.HealthStub(ch).Watch(hpb.HealthCheckRequest())
        next(watch)
        hang = ch.unary_stream("/daq.test.Test/Hang")(b"")
        ht, hout = read_in_thread(hang)
        time.sleep(0.3)
        errors = []

        def drain():  # keep reading while the server stops
            try:
                for _ in stream:
                    pass
            except grpc.RpcError as e:
                errors.append(e.code())
        t = threading.Thread(target=drain, daemon=True)
        t.start()
        self.assert_clean_exit(srv)
        t.join(30)
        ht.join(30)
        self.assertEqual(len(errors), 1)
        self.assertIn(errors[0], (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED))
        self.assertIs(hout[0], StopIteration)  # Hang finished OK during the drain

    def test_sigterm_with_stalled_client(self):
        # the producer waits forever for its write slot; stop must still end it
        srv, ch = self.run_server()
        stream = ch.unary_stream("/daq.test.Test/Stream")(stream_req(0, 8 * MIB, 0))
        next(stream)
        time.sleep(0.5)
        self.assertEqual(stats(ch)["producers"], 1)
        self.assert_clean_exit(srv)
        stream.cancel()


def main():
    global SERVER, PROTO_DIR
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    SERVER, PROTO_DIR = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    with tempfile.TemporaryDirectory(prefix="daq-rpc-stubs-") as gen:
        generate_stubs(gen)
        prog = unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[3:], exit=False)
    sys.exit(0 if prog.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
