#!/bin/sh
# The code rollback through systemd (issue 13, deliverable 3; ctest
# rollback.unit_guard): the shipped unit (packaging/daqd.service.in,
# configured as CMake does) restarts a daqd that crashes at pool init
# (DAQ_TEST_CRASH_POOL_INIT=1, a sim camera with autostart) until its guard
# (packaging/daqd-rollback-guard) switches the pool off:
#   starts 1..N   ExecStartPre guard pre; ExecStart daqd -> SIGABRT;
#                 ExecStopPost guard post counts (SERVICE_RESULT != success)
#   start N+1     guard pre writes PVCAM_USE_POOL=0 to rollback.env, the
#                 unit's EnvironmentFile= hands it to daqd: up, /healthz 200,
#                 "acquisition started ... use_pool=false"
#   clean stop    SIGTERM -> exit 0, SERVICE_RESULT=success: count reset,
#                 rollback.env kept (going back is manual)
#   rm the file   the next start (crash knob off) uses the pool again.
# Where systemd is PID 1 and systemd-run works, the sequence runs as a
# transient service built from the unit's own lines (systemd-run -p ...).
# Here PID 1 is usually not systemd: the sequence is then EMULATED from the
# configured unit file -- its ExecStartPre/ExecStart/ExecStopPost command
# lines in order, Environment= and EnvironmentFile= (re-read before every
# command, as systemd.exec(5) documents), STATE_DIRECTORY, and
# SERVICE_RESULT/EXIT_CODE/EXIT_STATUS as systemd.exec(5)'s table defines
# them; Restart=on-failure with RestartSec=, and StartLimitBurst= within
# StartLimitIntervalSec= is checked not to stop the rollback start.  Paths
# the test rewrites, and says so: /var/lib/<StateDirectory> -> a scratch
# state directory; ExecStart's --port 50051 / --hardware-config -> port 0
# and a sim config.
# usage: test_unit_rollback.sh BUILD_DIR SOURCE_DIR [GUARD]
set -eu
build=$1
src=$(cd "$2" && pwd)
PY=/usr/bin/python3
fail() { echo "FAIL: $*"; exit 1; }
daqd=$(cd "$build" && pwd)/daqd
[ -x "$daqd" ] || fail "$daqd not built"
guard=${3:-$(dirname "$daqd")/daqd-rollback-guard}
[ -x "$guard" ] || guard=$src/packaging/daqd-rollback-guard
tmp=$(mktemp -d /tmp/daq-unit-rb-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

prefix=$(dirname "$(dirname "$daqd")")
bindir=$(basename "$(dirname "$daqd")")
sed -e "s|@CMAKE_INSTALL_PREFIX@/@CMAKE_INSTALL_LIBEXECDIR@/daq/daqd-rollback-guard|$guard|g" \
    -e "s|@CMAKE_INSTALL_PREFIX@|$prefix|g" -e "s|@CMAKE_INSTALL_BINDIR@|$bindir|g" \
    "$src/packaging/daqd.service.in" >"$tmp/daqd.service"
grep -q '@[A-Z_]*@' "$tmp/daqd.service" && fail "unsubstituted @VAR@ in the unit"
cat >"$tmp/hardware.toml" <<'EOF'
[[devices]]
id = "cam0"
autostart = true
[devices.driver]
type = "sim"
width = 128
height = 128
frame_rate_hz = 50.0
exposure_ms = 1.0
EOF

if [ "$(ps -p 1 -o comm= 2>/dev/null)" = systemd ] &&
    timeout 10 systemd-run --quiet --no-ask-password --wait --collect -p Type=exec /bin/true \
        2>/dev/null; then
    mode=systemd
else
    mode=emulated
    echo "systemd: SKIP (PID 1 is '$(ps -p 1 -o comm= 2>/dev/null || echo ?)', not systemd, or" \
        "systemd-run does not work here): the unit's sequence is emulated from its command lines"
fi

MODE=$mode UNIT=$tmp/daqd.service CFG=$tmp/hardware.toml TMP=$tmp DAQD=$daqd \
    exec "$PY" - <<'EOF'
import os, re, shlex, signal, subprocess, sys, time, urllib.request, resource

unit, tmp, cfg = os.environ["UNIT"], os.environ["TMP"], os.environ["CFG"]
CRASH = {"DAQ_TEST_CRASH_POOL_INIT": "1"}

def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)

# ---- the configured unit, as systemd would read it ---------------------------
sections, sec = {}, None
for raw in open(unit):
    line = raw.strip()
    if line.startswith("["):
        sec = sections.setdefault(line.strip("[]"), {})
    elif sec is not None and "=" in line and not line.startswith(("#", ";")):
        k, v = line.split("=", 1)
        sec.setdefault(k, []).append(v)
svc, un = sections["Service"], sections["Unit"]
def one(d, k, default=None):
    return d.get(k, [default])[-1]
def seconds(v):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|min)?", v)
    return float(m.group(1)) * {"ms": 0.001, "min": 60.0}.get(m.group(2), 1.0)
after = None
for v in svc.get("Environment", []):
    for kv in shlex.split(v):
        if kv.startswith("DAQ_ROLLBACK_GUARD_AFTER="):
            after = int(kv.split("=", 1)[1])
if after is None:
    fail("the unit sets no DAQ_ROLLBACK_GUARD_AFTER=")
burst = int(one(un, "StartLimitBurst", "5"))
interval = seconds(one(un, "StartLimitIntervalSec", "10"))
restart_sec = seconds(one(svc, "RestartSec", "0.1"))
if one(svc, "Restart") != "on-failure":
    fail("Restart=%s, not on-failure" % one(svc, "Restart"))
if burst < after + 1:
    fail("StartLimitBurst=%d leaves no start for the rollback after %d failures" % (burst, after))
state_name = one(svc, "StateDirectory")
envfiles = svc.get("EnvironmentFile", [])
if "-/var/lib/%s/rollback.env" % state_name not in envfiles:
    fail("no EnvironmentFile=-/var/lib/%s/rollback.env in the unit: %s" % (state_name, envfiles))
pre, start, post = svc.get("ExecStartPre", []), one(svc, "ExecStart"), svc.get("ExecStopPost", [])
if not any("daqd-rollback-guard pre" in c for c in pre) or \
        not any("daqd-rollback-guard post" in c for c in post):
    fail("the unit does not run the guard: ExecStartPre=%s ExecStopPost=%s" % (pre, post))
argv = shlex.split(start)
if "--port" not in argv or "--hardware-config" not in argv:
    fail("ExecStart changed shape: %s" % start)
argv[argv.index("--port") + 1] = "0"
argv[argv.index("--hardware-config") + 1] = cfg
argv += ["--metrics-port", "0"]
print("unit: ExecStartPre=%s ExecStopPost=%s, after %d failures, StartLimitBurst=%d/%gs, RestartSec=%gs"
      % (pre, post, after, burst, interval, restart_sec))

state = os.path.join(tmp, "state")
os.makedirs(state)
env_file = os.path.join(state, "rollback.env")

if os.environ["MODE"] == "systemd":
    # ---- a transient service from the unit's own lines ------------------------
    name = "daq-rollback-test-%d" % os.getpid()
    props = ["Type=exec", "Restart=on-failure", "RestartSec=%gs" % restart_sec,
             "StartLimitBurst=%d" % burst, "StartLimitIntervalSec=%gs" % interval,
             "Environment=DAQ_TEST_CRASH_POOL_INIT=1 STATE_DIRECTORY=" + state,
             "EnvironmentFile=-" + env_file]
    props += ["Environment=" + v for v in svc.get("Environment", [])]
    props += ["ExecStartPre=" + c for c in pre] + ["ExecStopPost=" + c for c in post]
    cmd = ["systemd-run", "--no-ask-password", "--unit", name, "--collect"]
    cmd += sum((["-p", p] for p in props), []) + argv
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        fail("systemd-run: %s" % r.stderr)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if os.path.exists(env_file) and subprocess.run(
                    ["systemctl", "is-active", "--quiet", name]).returncode == 0:
                time.sleep(2)
                if subprocess.run(["systemctl", "is-active", "--quiet", name]).returncode == 0:
                    break
            time.sleep(0.5)
        else:
            fail("no rollback start within 60 s")
        j = subprocess.run(["journalctl", "-u", name, "--no-pager", "-o", "cat"],
                           capture_output=True, text=True).stdout
        for want in ("failed run %d/%d" % (after, after), "code rollback:", "use_pool=false"):
            if want not in j:
                fail("journal lacks %r:\n%s" % (want, j))
        subprocess.run(["systemctl", "stop", name], check=True)
        if os.path.exists(os.path.join(state, "rollback.failures")):
            fail("clean stop did not reset the count")
    finally:
        subprocess.run(["systemctl", "stop", name], capture_output=True)
        subprocess.run(["systemctl", "reset-failed", name], capture_output=True)
    print("PASS (systemd-run)")
    sys.exit(0)

# ---- emulation ---------------------------------------------------------------
journal = []  # what the journal would hold: the guard's and daqd's stderr

def read_env_file(path):
    """EnvironmentFile= syntax, the subset a guard writes: KEY=VALUE lines,
    # and ; comments, optional quotes."""
    out = {}
    for line in open(path):
        line = line.strip()
        if not line or line.startswith(("#", ";")) or "=" not in line:
            continue
        k, v = line.split("=", 1)
        v = v.strip()
        if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
            v = v[1:-1]
        out[k.strip()] = v
    return out

def environment(extra):
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "STATE_DIRECTORY": state}
    for v in svc.get("Environment", []):
        for kv in shlex.split(v):
            k, _, val = kv.partition("=")
            env[k] = val
    env.update(extra)  # the test's drop-in: Environment=DAQ_TEST_CRASH_POOL_INIT=1
    for f in envfiles:  # read when the command is spawned (systemd.exec(5))
        optional = f.startswith("-")
        path = f.lstrip("-").replace("/var/lib/%s/" % state_name, state + "/")
        if os.path.exists(path):
            env.update(read_env_file(path))
        elif not optional:
            fail("EnvironmentFile=%s missing" % f)
    return env

def run_cmds(lines, extra):
    for line in lines:
        ignore = line.startswith("-")
        r = subprocess.run(shlex.split(line.lstrip("-")), env=environment(extra),
                           capture_output=True, text=True, timeout=10)
        journal.extend(r.stderr.splitlines())
        if r.returncode and not ignore:
            fail("%s exited %d" % (line, r.returncode))

def waitstatus(p, timeout=None):
    """The raw wait status (Popen's returncode hides a core dump), or None
    while it runs.  Signals go through os.kill: Popen must not reap it."""
    if getattr(p, "raw", None) is None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            pid, st = os.waitpid(p.pid, os.WNOHANG)
            if pid:
                p.raw = st
                break
            if deadline is None or time.monotonic() > deadline:
                return None
            time.sleep(0.02)
    return p.raw

def stop(p, sig=signal.SIGKILL, timeout=10):
    if waitstatus(p) is None:
        os.kill(p.pid, sig)
    return waitstatus(p, timeout)

def no_core():
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

def result_of(status):
    """SERVICE_RESULT, EXIT_CODE, EXIT_STATUS of systemd.exec(5) table 6."""
    if os.WIFEXITED(status):
        code = os.WEXITSTATUS(status)
        return ("success" if code == 0 else "exit-code"), "exited", str(code)
    sig = os.WTERMSIG(status)
    name = signal.Signals(sig).name[3:]
    if os.WCOREDUMP(status):
        return "core-dump", "dumped", name
    clean = name in ("HUP", "INT", "TERM", "PIPE")
    return ("success" if clean else "signal"), "killed", name

def healthz(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port, timeout=3) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0

starts = []

def start_once(extra, expect_crash):
    """One activation: ExecStartPre, ExecStart; a crash runs ExecStopPost
    at once and returns its result, a start that stays up returns (proc, log)."""
    now = time.monotonic()
    starts.append(now)
    recent = [t for t in starts if now - t < interval]
    if len(recent) > burst:
        fail("start %d: StartLimitBurst=%d within %gs hit: systemd would give up here"
             % (len(starts), burst, interval))
    run_cmds(pre, extra)
    logf = open(os.path.join(tmp, "daqd-%d.log" % len(starts)), "w+")
    p = subprocess.Popen(argv, env=environment(extra), stdout=subprocess.DEVNULL, stderr=logf,
                         preexec_fn=no_core)
    deadline = time.monotonic() + 20
    port = None
    while time.monotonic() < deadline:
        if waitstatus(p) is not None:
            break
        logf.seek(0)
        m = re.search(r"daqd ready .*metrics_port=(\d+)", logf.read())
        if m and not expect_crash:
            port = int(m.group(1))
            time.sleep(1.0)  # stays up: a crash at pool init comes before this
            if waitstatus(p) is None:
                break
        time.sleep(0.05)
    logf.seek(0)
    log = logf.read()
    journal.extend(log.splitlines())
    if waitstatus(p) is None:
        if expect_crash:
            stop(p)
            fail("start %d: daqd did not crash (DAQ_TEST_CRASH_POOL_INIT=1):\n%s" % (len(starts), log))
        return p, port, log
    res = result_of(waitstatus(p))
    run_cmds(post, dict(extra, SERVICE_RESULT=res[0], EXIT_CODE=res[1], EXIT_STATUS=res[2]))
    if not expect_crash:
        fail("start %d: daqd exited %s instead of staying up:\n%s" % (len(starts), res, log))
    return res, None, log

t0 = time.monotonic()
for i in range(1, after + 1):
    res, _, log = start_once(CRASH, expect_crash=True)
    if res[0] == "success" or res[2] != "ABRT":
        fail("start %d: %s, want a SIGABRT crash:\n%s" % (i, res, log))
    if "test only: crashing at pool init" not in log:
        fail("start %d: crashed, but not at pool init:\n%s" % (i, log))
    if i < after and os.path.exists(env_file):
        fail("rollback.env written after %d failures (< %d)" % (i, after))
    print("start %d: daqd crashed at pool init (%s/%s/%s), guard counted it" % ((i,) + res))
    time.sleep(restart_sec)  # Restart=on-failure, RestartSec=

p, port, log = start_once(CRASH, expect_crash=False)
try:
    if read_env_file(env_file).get("PVCAM_USE_POOL") != "0":
        fail("rollback.env does not set PVCAM_USE_POOL=0: %s" % open(env_file).read())
    code = healthz(port)
    if code != 200:
        fail("start %d: /healthz %d" % (len(starts), code))
    if not re.search(r"acquisition started .*device=\"cam0\".*use_pool=false", log):
        fail("start %d: daqd does not say use_pool=false:\n%s" % (len(starts), log))
    for want in ["failed run %d/%d" % (k, after) for k in range(1, after + 1)] + \
            ["code rollback: %d failed runs in a row" % after, "wrote PVCAM_USE_POOL=0"]:
        if not any(want in l for l in journal):
            fail("guard line %r missing:\n%s" % (want, "\n".join(journal)))
    print("start %d: guard wrote PVCAM_USE_POOL=0, daqd up without the pool (/healthz 200,"
          " use_pool=false) %.1f s after the first start" % (len(starts), time.monotonic() - t0))
    # clean stop: systemctl stop sends KillSignal=SIGTERM
    status = stop(p, signal.SIGTERM, float(one(svc, "TimeoutStopSec", "10")))
    if status is None:
        fail("daqd did not stop within TimeoutStopSec")
    res = result_of(status)
finally:
    stop(p)
run_cmds(post, dict(SERVICE_RESULT=res[0], EXIT_CODE=res[1], EXIT_STATUS=res[2]))
if res[0] != "success":
    fail("SIGTERM stop was %s" % (res,))
if os.path.exists(os.path.join(state, "rollback.failures")):
    fail("a clean stop did not reset the failure count")
if not any("failure count %d reset to 0" % after in l for l in journal):
    fail("no reset line from the guard:\n%s" % "\n".join(journal))
if not os.path.exists(env_file):
    fail("the clean stop removed rollback.env: going back to the pool must be manual")
print("clean stop: %s/%s/%s, failure count reset, rollback.env kept" % res)

# the documented way back: remove the file, restart (the crash fixed)
os.unlink(env_file)
p, port, log = start_once({}, expect_crash=False)
try:
    if not re.search(r"acquisition started .*use_pool=true", log):
        fail("after rm rollback.env the pool is not back:\n%s" % log)
finally:
    stop(p, signal.SIGTERM)
    stop(p)
print("rm rollback.env: the next start uses the pool again")
print("PASS (emulated from the unit file; %.1f s)" % (time.monotonic() - t0))
EOF
