#!/usr/bin/python3
"""TLS, bearer tokens, the audit log and explicit address families (issue 12,
deliverable 8), against a real daqd with certificates this test makes with
openssl (a CA, a server certificate for 127.0.0.1 / ::1, a client
certificate).

  * TLS + tokens on loopback: calls without a token or with a wrong one end
    UNAUTHENTICATED with the documented details -- unary (ListDevices,
    SetParameter) and streams (StreamFrames, StreamParameterChanges); the
    health Check stays open; with the CA and a token the Python client lists,
    sets, streams frames and parameter changes; a plaintext client cannot
    talk to the TLS port; the CLI takes --tls-ca and --token-file.
  * audit: one SetParameter with alice's token gives exactly one "daq::audit"
    line with the method, the client's address and token="alice"; no token
    text ever reaches the log.
  * HTTP: /metrics and /healthz stay open; any other path is 401 with
    "WWW-Authenticate: Bearer" without a valid token, 404 with one.
  * mutual TLS: a client without a certificate fails, one with the CA's
    client certificate (and a token) works.
  * bad files: each refused with one line and exit 1 before any device
    opens (key of another certificate, tokens readable by others, a
    duplicate name, a missing file).
  * families, inside a private network namespace (unshare -n; lo is its one
    interface): --bind 0.0.0.0 without TLS and tokens refuses with one line;
    with them it serves, and `ss` shows exactly what was asked for both the
    gRPC and the HTTP port -- 0.0.0.0 IPv4 only, :: IPv6 only, 0.0.0.0,::
    both -- and a connection of the other family is refused; the HTTP port
    serves HTTPS with the same certificate (http_tls on by itself beyond
    loopback).
  * [security] http_tls on loopback: HTTPS with the CA, plain HTTP refused,
    `daqd diagnose --tls-ca` writes a bundle over it.

usage: test_tls.py DAQD
"""
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python"))
import grpc  # noqa: E402
from daq_client import Client, stubs  # noqa: E402
from daqd_harness import Daemon  # noqa: E402

DAQD = None
CONFIG = """
[[devices]]
id = "cam0"
name = "sim"
autostart = true
[devices.driver]
type = "sim"
width = 64
height = 64
frame_rate_hz = 100.0
"""
ALICE = "alice-0123456789abcdef-secret"
BOB = "bob-fedcba9876543210-secret"
MISSING = "missing bearer token (metadata 'authorization: Bearer <token>')"
UNKNOWN = "unknown token"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(d):
    """ca.pem, server.pem/.key (127.0.0.1, ::1, localhost), client.pem/.key."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=daq test CA", cwd=d)
    with open(os.path.join(d, "server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n")
    for who, ext in (("server", ["-extfile", "server.ext"]), ("client", [])):
        openssl("req", *ec, "-keyout", who + ".key", "-out", who + ".csr",
                "-subj", "/CN=" + who, cwd=d)
        openssl("x509", "-req", "-in", who + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", who + ".pem", "-days", "2", *ext, cwd=d)


def write_tokens(path, text, mode=0o600):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def http_get(port, path, token=None, host="127.0.0.1"):
    req = urllib.request.Request("http://%s:%d%s" % (host, port, path))
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers)


class Tls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if shutil.which("openssl") is None:
            raise unittest.SkipTest("openssl is not installed (scripts/install-deps.sh)")
        cls.dir = tempfile.mkdtemp(prefix="daq-tls-")
        make_pki(cls.dir)
        cls.f = {k: os.path.join(cls.dir, k) for k in
                 ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")}
        cls.tokens = os.path.join(cls.dir, "tokens")
        write_tokens(cls.tokens, "# who  token\nalice %s\nbob   %s  # the second\n" % (ALICE, BOB))
        cls.alice_file = os.path.join(cls.dir, "alice.token")
        write_tokens(cls.alice_file, ALICE + "\n")
        cls.tls_args = ("--tls-cert", cls.f["server.pem"], "--tls-key", cls.f["server.key"],
                        "--tokens", cls.tokens)
        cls.d = Daemon(DAQD, CONFIG, extra_args=cls.tls_args, name="tls").start()
        cls.addr = "127.0.0.1:%d" % cls.d.grpc_port

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "d", None):
            cls.d.signal(signal.SIGTERM)
            code, _ = cls.d.wait(20)
            assert code == 0, cls.d.log()
            cls.d.kill()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def client(self, **kw):
        kw.setdefault("tls_ca", self.f["ca.pem"])
        return Client(self.addr, timeout=5, **kw)

    def assertUnauthenticated(self, fn, details):
        with self.assertRaises(grpc.RpcError) as cm:
            fn()
        self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        self.assertEqual(cm.exception.details(), details)

    def test_calls_without_a_valid_token_are_refused(self):
        for token, details in ((None, MISSING), ("x" * 20, UNKNOWN), (ALICE[:-1], UNKNOWN)):
            with self.subTest(token=token), self.client(token=token) as c:
                pb = c.pb
                self.assertUnauthenticated(c.list_devices, details)
                self.assertUnauthenticated(lambda: c.set("cam0", "exposure_ms", 3.0), details)
                frames = c.frame_stream("cam0")
                self.assertUnauthenticated(lambda: next(frames), details)
                changes = c.hw.StreamParameterChanges(
                    pb.StreamParameterChangesRequest(device_id="cam0"), timeout=5)
                self.assertUnauthenticated(lambda: next(changes), details)
                # health stays open for load balancers
                h = stubs().health
                self.assertEqual(c.health.Check(h.HealthCheckRequest(service=""),
                                                timeout=5).status,
                                 h.HealthCheckResponse.SERVING)

    def test_with_ca_and_token_everything_works(self):
        with self.client(token=BOB) as c:
            self.assertEqual([d.id for d in c.list_devices()], ["cam0"])
            changes = c.hw.StreamParameterChanges(
                c.pb.StreamParameterChangesRequest(device_id="cam0",
                                                   parameter_names=["exposure_ms"]), timeout=10)
            time.sleep(0.2)  # the subscription is in place
            self.assertEqual(c.set("cam0", "exposure_ms", 4.0), 4.0)
            change = next(changes)
            self.assertEqual((change.device_id, change.name), ("cam0", "exposure_ms"))
            changes.cancel()
            frames = list(c.frames("cam0", max_frames=3))
            self.assertEqual(len(frames), 3)
            self.assertEqual(frames[0].pixels.shape, (64, 64))

    def test_plaintext_client_cannot_talk_to_the_tls_port(self):
        with Client(self.addr, timeout=3, token=ALICE) as c:
            with self.assertRaises(grpc.RpcError) as cm:
                c.list_devices()
            self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE)

    def test_cli_flags(self):
        env = dict(os.environ, PYTHONPATH=os.path.join(HERE, "..", "..", "clients", "python"))
        base = [sys.executable, "-m", "daq_client", "--address", self.addr,
                "--tls-ca", self.f["ca.pem"]]
        ok = subprocess.run(base + ["--token-file", self.alice_file, "list"], env=env,
                            capture_output=True, text=True, timeout=30)
        self.assertEqual(ok.returncode, 0, ok.stderr)
        self.assertTrue(ok.stdout.startswith("cam0"), ok.stdout)
        ok = subprocess.run(base + ["--token", BOB, "list"], env=env, capture_output=True,
                            text=True, timeout=30)
        self.assertEqual(ok.returncode, 0, ok.stderr)
        no = subprocess.run(base + ["list"], env=env, capture_output=True, text=True, timeout=30)
        self.assertEqual(no.returncode, 1)
        self.assertEqual(no.stderr.strip(), "daq_client: UNAUTHENTICATED: " + MISSING)

    def test_audit_names_the_token_never_its_text(self):
        with self.client(token=ALICE) as c:
            c.set("cam0", "exposure_ms", 6.5)
            c.list_devices()  # not audited: it changes nothing
            try:  # a storage call (a stream in the rpc layer), refused: no recording runs
                c.flush_recording()
            except Exception:
                pass
        # Both audit lines are written as their status is sent: wait for
        # both (the storage call's may come after the client has its answer).
        deadline = time.monotonic() + 5
        lines = []
        while time.monotonic() < deadline:
            lines = [l for l in self.d.lines if "daq::audit" in l and "SetParameter" in l
                     and "token=\"alice\"" in l]
            if lines and [l for l in self.d.lines if "daq::audit" in l and "FlushToStorage" in l]:
                break
            time.sleep(0.05)
        self.assertEqual(len(lines), 1, self.d.log())
        self.assertRegex(lines[0], r'peer="ipv4:127\.0\.0\.1:\d+"')
        self.assertIn('device="cam0"', lines[0])
        self.assertIn("status=0", lines[0])
        self.assertFalse([l for l in self.d.lines if "daq::audit" in l and "ListDevices" in l])
        flush = [l for l in self.d.lines if "daq::audit" in l and "FlushToStorage" in l]
        self.assertEqual(len(flush), 1, self.d.log())
        self.assertIn('token="alice"', flush[0])
        log = self.d.log()
        for secret in (ALICE, BOB, ALICE[:-1]):
            self.assertNotIn(secret, log)

    def test_http_beyond_metrics_and_healthz_needs_the_token(self):
        mp = self.d.metrics_port
        self.assertEqual(http_get(mp, "/metrics")[0], 200)
        self.assertIn(http_get(mp, "/healthz")[0], (200, 503))
        for token in (None, "y" * 20):
            status, headers = http_get(mp, "/live", token)
            self.assertEqual(status, 401)
            self.assertTrue(headers.get("WWW-Authenticate", "").startswith("Bearer"), headers)
        self.assertEqual(http_get(mp, "/live", ALICE)[0], 404)

    def test_mutual_tls(self):
        d = Daemon(DAQD, CONFIG, extra_args=self.tls_args + ("--tls-client-ca",
                                                             self.f["ca.pem"]), name="mtls")
        d.start()
        try:
            addr = "127.0.0.1:%d" % d.grpc_port
            with Client(addr, timeout=3, tls_ca=self.f["ca.pem"], token=ALICE) as c:
                with self.assertRaises(grpc.RpcError) as cm:
                    c.list_devices()
                self.assertEqual(cm.exception.code(), grpc.StatusCode.UNAVAILABLE)
            with Client(addr, timeout=5, tls_ca=self.f["ca.pem"], tls_cert=self.f["client.pem"],
                        tls_key=self.f["client.key"], token=ALICE) as c:
                self.assertEqual([x.id for x in c.list_devices()], ["cam0"])
        finally:
            d.signal(signal.SIGTERM)
            code, _ = d.wait(20)
        self.assertEqual(code, 0, d.log())

    def test_bad_files_refused_with_one_line(self):
        f, t = self.f, os.path.join(self.dir, "t2")
        cases = [
            (("--tls-cert", f["server.pem"], "--tls-key", f["client.key"]), None,
             "daqd: TLS: %s: the key does not match the certificate in %s"
             % (f["client.key"], f["server.pem"])),
            (("--tls-cert", f["server.pem"]), None,
             "daqd: TLS: TLS needs both a certificate and its key (tls_cert, tls_key)"),
            (("--tls-cert", f["server.pem"], "--tls-key", f["server.key"], "--tls-client-ca",
              f["server.key"]), None, None),  # the key is no CA: message checked by prefix
            (("--tokens", t), ("alice %s\n" % ALICE, 0o644),
             "daqd: tokens: %s: mode 0644 lets others read or change the tokens "
             "(chmod o-rwx)" % t),
            (("--tokens", t), ("alice %s\n\nalice %s\n" % (ALICE, BOB), 0o600),
             "daqd: tokens: %s:3: name 'alice' is already used on line 1" % t),
            (("--tokens", t), ("alice short\n", 0o600),
             "daqd: tokens: %s:1: token of 'alice' is 5 characters, must be 16..256" % t),
            (("--tokens", t + ".absent"), None,
             "daqd: tokens: %s.absent: No such file or directory" % t),
        ]
        for args, tokens, want in cases:
            with self.subTest(args=args):
                if tokens:
                    write_tokens(t, *tokens)
                p = subprocess.run([DAQD, "daemon", "--hardware-config", self.d.config,
                                    "--port", "0", "--metrics-port", "0", *args],
                                   capture_output=True, text=True, timeout=20)
                self.assertEqual(p.returncode, 1, p.stderr)
                lines = p.stderr.splitlines()
                self.assertEqual(len(lines), 1, p.stderr)  # nothing opened, nothing logged
                if want:
                    self.assertEqual(lines[0], want)
                else:
                    self.assertTrue(lines[0].startswith("daqd: TLS: %s: no PEM certificate"
                                                        % f["server.key"]), lines[0])


# ---- keepalive: a dead peer is detected ------------------------------------------------

READER = """
import sys
sys.path.insert(0, sys.argv[2])
from daq_client import Client
c = Client(sys.argv[1])
for i, f in enumerate(c.frame_stream("cam0")):
    if i == 0:
        print("streaming", flush=True)
"""


def https_get(host, port, path, ca=None, token=None):
    """(status, body) over HTTPS with the CA ca (None: the system's)."""
    ctx = ssl.create_default_context(cafile=ca)
    c = http.client.HTTPSConnection(host, port, timeout=5, context=ctx)
    try:
        c.request("GET", path, headers={"Authorization": "Bearer " + token} if token else {})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


class HttpTls(unittest.TestCase):
    """[security] http_tls: the HTTP port (live view, /debug, /metrics) over
    the gRPC port's certificate; daqd diagnose reads it with --tls-ca."""

    @classmethod
    def setUpClass(cls):
        if shutil.which("openssl") is None:
            raise unittest.SkipTest("openssl is not installed (scripts/install-deps.sh)")
        cls.dir = tempfile.mkdtemp(prefix="daq-httptls-")
        make_pki(cls.dir)
        cls.f = {k: os.path.join(cls.dir, k) for k in ("ca.pem", "server.pem", "server.key")}
        cls.tokens = os.path.join(cls.dir, "tokens")
        write_tokens(cls.tokens, "alice %s\n" % ALICE)
        cls.alice_file = os.path.join(cls.dir, "alice.token")
        write_tokens(cls.alice_file, ALICE + "\n")
        cls.d = Daemon(DAQD, CONFIG + "\n[security]\nhttp_tls = true\n",
                       extra_args=("--tls-cert", cls.f["server.pem"], "--tls-key",
                                   cls.f["server.key"], "--tokens", cls.tokens),
                       name="httptls").start()

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "d", None):
            cls.d.signal(signal.SIGTERM)
            code, _ = cls.d.wait(20)
            assert code == 0, cls.d.log()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_https_serves_and_plain_http_does_not(self):
        m = self.d.metrics_port
        self.assertEqual(https_get("127.0.0.1", m, "/metrics", self.f["ca.pem"])[0], 200)
        self.assertEqual(https_get("localhost", m, "/", self.f["ca.pem"])[0], 200)
        self.assertEqual(https_get("127.0.0.1", m, "/api/view/devices", self.f["ca.pem"])[0], 401)
        st, body = https_get("127.0.0.1", m, "/api/view/devices", self.f["ca.pem"], ALICE)
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(body)["devices"][0]["id"], "cam0")
        with self.assertRaises((ConnectionError, http.client.HTTPException, OSError)):
            http_get(m, "/metrics")
        with self.assertRaises(ssl.SSLCertVerificationError):
            https_get("127.0.0.1", m, "/metrics")  # not signed by a system CA
        ready = [ln for ln in self.d.lines if "daqd ready" in ln]
        self.assertIn('live_view="https://127.0.0.1:%d/"' % m, ready[0])

    def diagnose(self, *args):
        out = os.path.join(self.dir, "bundle-%d" % len(os.listdir(self.dir)))
        p = subprocess.run([DAQD, "diagnose", "--address", "127.0.0.1:%d" % self.d.metrics_port,
                            "--out", out, "--token-file", self.alice_file, *args],
                           capture_output=True, text=True, timeout=60)
        return p.returncode, p.stderr.strip(), out

    def test_diagnose_over_https(self):
        code, err, out = self.diagnose("--tls-ca", self.f["ca.pem"])
        self.assertEqual(code, 0, err)
        with open(os.path.join(out, "metrics.txt")) as f:
            self.assertIn("daq_pool_hits_total{device=\"cam0\"}", f.read())
        code, err, _ = self.diagnose()
        self.assertEqual(code, 1)
        self.assertIn("127.0.0.1:%d" % self.d.metrics_port, err)
        code, err, _ = self.diagnose("--https")
        self.assertEqual(code, 1)
        self.assertRegex(err, r"^daqd diagnose: 127\.0\.0\.1:\d+: TLS handshake failed: "
                              r"unable to get local issuer certificate")

    def test_http_tls_needs_a_certificate(self):
        path = os.path.join(self.dir, "nocert.toml")
        with open(path, "w") as f:
            f.write(CONFIG + "\n[security]\nhttp_tls = true\n")
        p = subprocess.run([DAQD, "daemon", "--hardware-config", path, "--port", "0",
                            "--metrics-port", "0"], capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stderr.strip().splitlines()[-1],
                         "daqd: TLS: [security] http_tls needs tls_cert and tls_key")


def established(port):
    """Server-side connections of port (ss: local port = port)."""
    out = subprocess.run(["ss", "-tnH", "state", "established", "( sport = :%d )" % port],
                         capture_output=True, text=True, check=True).stdout
    return len(out.splitlines())


class Keepalive(unittest.TestCase):
    def test_a_frozen_client_is_dropped(self):
        """A client that stops answering (SIGSTOP: its kernel still ACKs TCP,
        nothing answers HTTP/2 PINGs) loses its connection within keepalive
        + timeout (1 s + 1 s here); before, gRPC's server default of 2 h
        kept it and its stream."""
        if shutil.which("ss") is None:
            self.skipTest("ss is not available here")
        d = Daemon(DAQD, CONFIG + "[limits]\nkeepalive_ms = 1000\n", name="ka").start()
        reader = None
        try:
            reader = subprocess.Popen(
                [sys.executable, "-c", READER, "127.0.0.1:%d" % d.grpc_port,
                 os.path.join(HERE, "..", "..", "clients", "python")],
                stdout=subprocess.PIPE, text=True)
            self.assertEqual(reader.stdout.readline().strip(), "streaming")
            self.assertEqual(established(d.grpc_port), 1)
            reader.send_signal(signal.SIGSTOP)
            t0 = time.monotonic()
            while established(d.grpc_port) and time.monotonic() - t0 < 10:
                time.sleep(0.1)
            gone = time.monotonic() - t0
            self.assertEqual(established(d.grpc_port), 0, "still connected after %.1f s" % gone)
            print("keepalive: dropped after %.2f s" % gone, file=sys.stderr)
            self.assertLess(gone, 6.0)
        finally:
            if reader:
                reader.kill()
                reader.wait()
            d.signal(signal.SIGTERM)
            code, _ = d.wait(20)
        self.assertEqual(code, 0, d.log())


# ---- families, in a private network namespace ----------------------------------------

NETNS_CHILD = "--netns-child"


def listening(port):
    """The local addresses listening on port, as ss prints them."""
    out = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        local = line.split()[3]
        if local.rsplit(":", 1)[1] == str(port):
            found.append(local.rsplit(":", 1)[0])
    return sorted(found)


def connects(host, port):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        return s.connect_ex((host, port)) == 0


def netns_child(daqd, cfg_dir, tls_args):
    """Runs in `unshare -n`: prints one JSON object of findings."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    out = {}
    p = subprocess.run([daqd, "daemon", "--hardware-config", os.path.join(cfg_dir, "tls.toml"),
                        "--bind", "0.0.0.0", "--port", "0", "--metrics-port", "0"],
                       capture_output=True, text=True, timeout=20)
    out["refused"] = [p.returncode, p.stderr.splitlines()]
    for spec in ("0.0.0.0", "::", "0.0.0.0,::"):
        d = Daemon(daqd, CONFIG, extra_args=("--bind", spec) + tuple(tls_args), name="fam")
        d.start()
        try:
            g, m = d.grpc_port, d.metrics_port
            out[spec] = {"grpc": listening(g), "http": listening(m),
                         "v4": [connects("127.0.0.1", g), connects("127.0.0.1", m)],
                         "v6": [connects("::1", g), connects("::1", m)]}
            # TLS and beyond loopback: the HTTP port serves HTTPS by itself
            host = "::1" if spec == "::" else "127.0.0.1"
            out[spec]["https"] = https_get(host, m, "/metrics", os.path.join(cfg_dir, "ca.pem"))[0]
        finally:
            d.signal(signal.SIGTERM)
            out[spec]["exit"] = d.wait(20)[0]
    print(json.dumps(out))


class Families(unittest.TestCase):
    def test_what_listens_is_what_was_asked(self):
        if shutil.which("unshare") is None or shutil.which("ss") is None or subprocess.run(
                ["unshare", "-n", "true"], capture_output=True).returncode != 0:
            self.skipTest("unshare -n or ss is not available here")
        if shutil.which("openssl") is None:
            self.skipTest("openssl is not installed")
        d = tempfile.mkdtemp(prefix="daq-fam-")
        try:
            make_pki(d)
            write_tokens(os.path.join(d, "tokens"), "alice %s\n" % ALICE)
            with open(os.path.join(d, "tls.toml"), "w") as f:
                f.write(CONFIG)
            tls = ["--tls-cert", os.path.join(d, "server.pem"), "--tls-key",
                   os.path.join(d, "server.key"), "--tokens", os.path.join(d, "tokens")]
            p = subprocess.run(["unshare", "-n", sys.executable, os.path.abspath(__file__),
                                NETNS_CHILD, DAQD, d, *tls], capture_output=True, text=True,
                               timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr)
            r = json.loads(p.stdout.strip().splitlines()[-1])
        finally:
            shutil.rmtree(d, ignore_errors=True)
        code, lines = r["refused"]
        self.assertEqual(code, 1)
        self.assertEqual(len(lines), 1, lines)
        self.assertTrue(lines[0].startswith("daqd: refusing to serve on 0.0.0.0 without TLS and "
                                            "tokens (no TLS and tokens)"), lines[0])
        # 0.0.0.0: IPv4 only (before: gRPC's one dual-stack socket, ss "*")
        self.assertEqual(r["0.0.0.0"]["grpc"], ["0.0.0.0"])
        self.assertEqual(r["0.0.0.0"]["http"], ["0.0.0.0"])
        self.assertEqual(r["0.0.0.0"]["v4"], [True, True])
        self.assertEqual(r["0.0.0.0"]["v6"], [False, False])
        # :: : IPv6 only (IPV6_V6ONLY: ss "[::]", not "*")
        self.assertEqual(r["::"]["grpc"], ["[::]"])
        self.assertEqual(r["::"]["http"], ["[::]"])
        self.assertEqual(r["::"]["v4"], [False, False])
        self.assertEqual(r["::"]["v6"], [True, True])
        # both: gRPC two listeners, HTTP one dual-stack socket ("*")
        self.assertEqual(r["0.0.0.0,::"]["grpc"], ["0.0.0.0", "[::]"])
        self.assertEqual(r["0.0.0.0,::"]["http"], ["*"])
        self.assertEqual(r["0.0.0.0,::"]["v4"], [True, True])
        self.assertEqual(r["0.0.0.0,::"]["v6"], [True, True])
        for spec in ("0.0.0.0", "::", "0.0.0.0,::"):
            self.assertEqual(r[spec]["exit"], 0)
            self.assertEqual(r[spec]["https"], 200, spec)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == NETNS_CHILD:
        netns_child(sys.argv[2], sys.argv[3], sys.argv[4:])
        sys.exit(0)
    DAQD = sys.argv.pop(1)
    unittest.main(verbosity=2)
