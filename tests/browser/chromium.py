"""tests/browser/chromium.py - headless Chromium for the live view's tests and
benchmark, through tests/browser/driver.mjs (Node + puppeteer-core installed
into the build tree by tests/browser/npm_install.sh).

    with Browser(modules_dir) as b:
        b.open("a", "http://127.0.0.1:%d/#cam0" % port)
        st = b.eval("a", "() => daqView.state()")

Every call is one JSON line to the driver and one back (lockstep), with a
deadline: a hung browser fails the test instead of hanging it.  close()
always ends the driver and Chromium (Chromium's process group by the pid the
driver reported, should the driver itself be gone).

missing() says why the browser tests cannot run here (no /usr/bin/chromium,
no node): the tests exit 77 (skipped) then, and only then.
"""
import json
import os
import queue
import shutil
import signal
import subprocess
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DRIVER = os.path.join(HERE, "driver.mjs")
CHROMIUM = os.environ.get("DAQ_CHROMIUM", "/usr/bin/chromium")
SKIP = 77
# The browser (driver, Chromium and its renderers) runs at nice 10 on one
# CPU (the last; when there are two or more).  The tests run it on the
# daemon's machine, 2 cores here, where three renderers drawing 25 fps
# each saturate both: the sim's sensor thread, starved for more than a
# frame period, re-anchors its grid (sim_sensor.c) and the camera drops to
# 50-80 FPS with nothing lost -- a scheduler verdict, not one on the view's
# design (the view never makes acquisition wait).  A lab's browsers run on
# other machines; one CPU of its own keeps the daemon's threads runnable
# here as a second machine would.  nice alone is not enough: Chromium
# renices its renderers and raises its display threads to -8 (as root).
# daq-bench view measures the browser as it is (nice=0, pin=False).
NICE = 10


def missing():
    if not os.access(CHROMIUM, os.X_OK):
        return "%s not found (Debian's chromium: scripts/install-deps.sh)" % CHROMIUM
    if not shutil.which("node"):
        return "node not found (scripts/install-deps.sh)"
    return None


def install(build_dir):
    """puppeteer-core into build_dir/browser (cheap when there); returns the
    directory holding node_modules.  Raises on failure."""
    dst = os.path.join(build_dir, "browser")
    r = subprocess.run([os.path.join(HERE, "npm_install.sh"), HERE, dst], capture_output=True,
                       text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError("npm_install.sh failed (%d):\n%s%s" % (r.returncode, r.stdout, r.stderr))
    return dst


class BrowserError(RuntimeError):
    pass


class Browser:
    def __init__(self, modules_dir, timeout=30.0, nice=NICE, pin=True):
        self.timeout = timeout
        env = dict(os.environ, DAQ_BROWSER_MODULES=modules_dir, DAQ_CHROMIUM=CHROMIUM)
        self.stderr_lines = []
        cmd = ["node", DRIVER]
        if nice:
            cmd = ["nice", "-n", str(nice)] + cmd
        cpus = sorted(os.sched_getaffinity(0))
        if pin and len(cpus) >= 2 and shutil.which("taskset"):
            cmd = ["taskset", "-c", str(cpus[-1])] + cmd
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, text=True, bufsize=1)
        self.replies = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()
        self.chromium_pid = None
        try:
            hello = self._reply(60.0)
            if not hello.get("ok"):
                raise BrowserError(hello.get("error", "driver failed") + self.stderr())
            self.chromium_pid = hello["chromium_pid"]
            self.version = hello.get("version", "")
        except BaseException:
            self.close()
            raise

    def _read(self):
        for line in self.proc.stdout:
            try:
                self.replies.put(json.loads(line))
            except ValueError:
                self.stderr_lines.append("stdout: " + line)
        self.replies.put(None)

    def _read_err(self):
        for line in self.proc.stderr:
            if len(self.stderr_lines) < 200:
                self.stderr_lines.append(line)

    def stderr(self):
        return ("\ndriver stderr:\n" + "".join(self.stderr_lines)) if self.stderr_lines else ""

    def _reply(self, timeout):
        try:
            r = self.replies.get(timeout=timeout)
        except queue.Empty:
            raise BrowserError("the browser driver did not answer within %.0f s%s"
                               % (timeout, self.stderr()))
        if r is None:
            raise BrowserError("the browser driver exited%s" % self.stderr())
        return r

    def call(self, op, timeout=None, **kw):
        kw["op"] = op
        self.proc.stdin.write(json.dumps(kw) + "\n")
        self.proc.stdin.flush()
        r = self._reply(timeout or self.timeout)
        if not r.get("ok"):
            raise BrowserError("%s failed: %s" % (op, r.get("error")))
        return r.get("value")

    # -- the ops (see driver.mjs)
    def open(self, page, url, width=1280, height=800, intercept=True):
        return self.call("open", page=page, url=url, width=width, height=height, intercept=intercept)

    def eval(self, page, fn, *args):
        return self.call("eval", page=page, fn=fn, args=list(args))

    def wait(self, page, fn, *args, timeout=10.0):
        return self.call("wait", page=page, fn=fn, args=list(args), timeout_ms=int(timeout * 1000),
                         timeout=timeout + 10)

    def click(self, page, selector):
        return self.call("click", page=page, selector=selector)

    def mouse_click(self, page, x, y):
        return self.call("mouse_click", page=page, x=x, y=y)

    def type(self, page, selector, text):
        return self.call("type", page=page, selector=selector, text=text)

    def select(self, page, selector, value):
        return self.call("select", page=page, selector=selector, value=value)

    def throttle(self, page, rate):
        return self.call("throttle", page=page, rate=rate)

    def screenshot(self, page, path, clip=None):
        """A PNG of the viewport, or of clip {x, y, width, height} (CSS px)."""
        return self.call("screenshot", page=page, path=path, clip=clip)

    def requests(self, page):
        return self.call("requests", page=page)

    def recent(self, page):
        return self.call("recent", page=page)

    def logs(self, page):
        try:
            return self.call("logs", page=page, timeout=5)
        except BrowserError as e:
            return ["(no logs: %s)" % e]

    def external(self):
        return self.call("external")

    def close_page(self, page):
        return self.call("close", page=page)

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.proc.stdin.close()
            except (BrokenPipeError, OSError, ValueError):
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        if self.chromium_pid:
            # The driver kills Chromium on every exit it lives to see; this is
            # for the ones it does not (killed itself).
            try:
                os.killpg(self.chromium_pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.chromium_pid = None
        time.sleep(0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
