"""Starts and stops a real daqd process for integration tests.

The daemon runs on ephemeral loopback ports (--metrics-port 0); the test
learns the ports from the "daqd ready" log line.  Nothing here mocks the
daemon: tests talk to it over HTTP (and later gRPC) as users do.
"""
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request


class Daemon:
    def __init__(self, daqd, config_text, extra_args=(), env=None, name="test"):
        self.dir = tempfile.mkdtemp(prefix="daqd-it-")
        self.config = os.path.join(self.dir, name + ".toml")
        with open(self.config, "w") as f:
            f.write(config_text)
        self.args = [daqd, "daemon", "--hardware-config", self.config,
                     "--port", "0", "--metrics-port", "0", *extra_args]
        self.env = dict(os.environ)
        self.env.setdefault("DAQ_LOG", "info")
        if env:
            self.env.update(env)
        self.lines = []
        self.ready = threading.Event()
        self.fields = {}
        self.proc = None

    def start(self, timeout=20.0):
        self.proc = subprocess.Popen(self.args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     env=self.env, text=True, bufsize=1)
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(timeout):
            self.kill()
            raise AssertionError("daqd did not get ready:\n" + self.log())
        return self

    def _read(self):
        with self.proc.stderr:
            for line in self.proc.stderr:
                self.lines.append(line)
                if "daqd ready" in line:
                    self.fields = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', line))
                    self.ready.set()

    def log(self):
        return "".join(self.lines)

    @property
    def metrics_port(self):
        return int(self.fields["metrics_port"])

    @property
    def grpc_port(self):
        return int(self.fields["grpc_port"])

    def get(self, path, timeout=5.0):
        url = "http://127.0.0.1:%d%s" % (self.metrics_port, path)
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        t0 = time.monotonic()
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("daqd did not exit within %.1f s:\n%s" % (timeout, self.log()))
        return code, time.monotonic() - t0

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class CallReader:
    """Reads one streaming gRPC call on a thread of its own: n counts the
    messages, code and details are the final status (None while it runs),
    first is set by the first message or the end.  reading=False stops
    after the first message -- a client that never reads again -- until
    drain() resumes reading to collect the status."""

    def __init__(self, call, reading=True):
        self.call = call
        self.reading = reading
        self.n = 0
        self.code = None
        self.details = ""
        self.first = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        import grpc  # only the gRPC tests pay for the import
        try:
            for _ in self.call:
                self.n += 1
                self.first.set()
                if not self.reading:
                    return  # stops reading; drain() collects the status
            self.code = grpc.StatusCode.OK
        except grpc.RpcError as e:
            self.code, self.details = e.code(), e.details()
        self.first.set()

    def drain(self, timeout):
        """The final status, reading on what was buffered: "HUNG" when the
        call has not ended within timeout (it is cancelled then)."""
        if not self.reading:
            self.reading = True
            self.t.join(timeout)
            self.t = threading.Thread(target=self._run, daemon=True)
            self.t.start()
        self.t.join(timeout)
        if self.t.is_alive():
            self.call.cancel()
            self.t.join(5)
            return "HUNG"
        return self.code

    def close(self):
        self.call.cancel()


def wait_for(pred, timeout=5.0, step=0.05):
    """pred()'s first true value within timeout, polled every step seconds;
    after the deadline, one last pred() (so a late truth still counts)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def run(args, env=None, timeout=60):
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run(args, capture_output=True, text=True, env=e, timeout=timeout)


def sync_pair_config(miss_every, jitter_us=0.0, extra=""):
    """Two 64x64 sim cameras, "left" and "right", in external_edge mode on
    the line "laser" of the sync group "pair" (match_timeout_ms 200): left's
    generator pulses the line at 200 Hz, right misses every miss_every-th
    pulse, both with a trigger jitter of 0..jitter_us; extra is appended
    (a [storage] table, ...).  For the sync group tests (issue 15)."""
    camera = """
[[devices]]
id = "%s"
autostart = true
[devices.driver]
type = "sim"
width = 64
height = 64
exposure_ms = 0.5
frame_rate_hz = 1000.0
"trigger.mode" = "external_edge"
"fault.trigger_jitter_us" = %.1f
%s
"""
    return (camera % ("left", jitter_us, '"trigger.line_hz" = 200.0')
            + camera % ("right", jitter_us, '"fault.trigger_miss_every" = %d' % miss_every)
            + """
[[sync_groups]]
name = "pair"
devices = ["left", "right"]
line = "laser"
match_timeout_ms = 200
""" + extra)
