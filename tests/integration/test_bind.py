"""daqd refuses to serve a non-loopback address without TLS and tokens
unless --insecure (issue 12: a reachable daqd without them is an open door
to the cameras).  With them it serves: tests/integration/test_tls.py.

  * --bind 0.0.0.0 / :: / 192.0.2.1 / 0.0.0.0,::: exit 1 with one line on
    stderr, before any device is opened (nothing streams, no port is bound)
  * --bind localhost: refused too, host names are not bind addresses
  * --bind 127.0.0.2: loopback, served
  * --bind 0.0.0.0 --insecure: served -- only inside a private network
    namespace (unshare -n), where lo is the one interface; skipped with a
    message where unshare is refused

usage: test_bind.py DAQD
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daqd_harness import Daemon  # noqa: E402

DAQD = sys.argv.pop(1)
CONFIG = """
[[devices]]
id = "cam0"
name = "sim"
autostart = true
[devices.driver]
type = "sim"
width = 64
height = 64
frame_rate_hz = 50.0
"""


class Bind(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="daq-bind-")
        cls.cfg = os.path.join(cls.dir, "bind.toml")
        with open(cls.cfg, "w") as f:
            f.write(CONFIG)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_non_loopback_refused_with_one_line(self):
        for addr in ("0.0.0.0", "::", "192.0.2.1", "0.0.0.0,::", "localhost"):
            with self.subTest(addr=addr):
                p = subprocess.run([DAQD, "daemon", "--hardware-config", self.cfg, "--bind", addr,
                                    "--port", "0", "--metrics-port", "0"], cwd=self.dir,
                                   capture_output=True, text=True, timeout=20)
                self.assertEqual(p.returncode, 1, p.stderr)
                lines = p.stderr.splitlines()
                self.assertEqual(len(lines), 1, p.stderr)
                if addr == "localhost":
                    self.assertEqual(lines[0], "daqd: --bind 'localhost': 'localhost' is not an "
                                     "IPv4 or IPv6 address (e.g. 127.0.0.1, 0.0.0.0, ::1, ::, "
                                     "or 0.0.0.0,:: for both)")
                    continue
                self.assertEqual(lines[0], "daqd: refusing to serve on %s without TLS and "
                                 "tokens (no TLS and tokens): set --tls-cert, --tls-key and "
                                 "--tokens ([security] in the config), or pass --insecure to "
                                 "accept that anyone who can reach it controls the cameras" % addr)

    def test_loopback_served(self):
        for addr in ("127.0.0.2", "::1"):
            with self.subTest(addr=addr):
                d = Daemon(DAQD, CONFIG, extra_args=("--bind", addr), name="bind").start()
                try:
                    self.assertEqual(d.fields["bind"], '"%s"' % addr)
                finally:
                    d.signal(signal.SIGTERM)
                    code, _ = d.wait(20)
                self.assertEqual(code, 0, d.log())

    def test_insecure_in_a_private_network_namespace(self):
        if shutil.which("unshare") is None or subprocess.run(
                ["unshare", "-n", "true"], capture_output=True).returncode != 0:
            self.skipTest("unshare -n is not possible here")
        script = ('ip link set lo up && exec "$0" daemon --hardware-config "$1" --bind 0.0.0.0 '
                  '--insecure --port 0 --metrics-port 0')
        p = subprocess.Popen(["unshare", "-n", "sh", "-c", script, DAQD, self.cfg],
                             cwd=self.dir, stderr=subprocess.PIPE, text=True)
        try:
            ready = False
            for line in p.stderr:
                if "daqd ready" in line:
                    ready = True
                    break
            self.assertTrue(ready, "daqd --insecure did not get ready")
        finally:
            p.send_signal(signal.SIGTERM)
            rest = p.communicate(timeout=20)[1]
        self.assertEqual(p.returncode, 0, rest)


if __name__ == "__main__":
    unittest.main(verbosity=2)
