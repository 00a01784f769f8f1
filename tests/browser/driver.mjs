// tests/browser/driver.mjs - drives Debian's headless Chromium for the live
// view's tests and benchmark (issue 14), one JSON command per stdin line, one
// JSON reply per stdout line (lockstep).  The test logic lives in Python
// (tests/browser/chromium.py, tests/integration/test_view_browser.py,
// bench/bench_view.py), which also checks the daemon independently over
// gRPC; this script only does what needs a browser.
//
//   node driver.mjs            env DAQ_BROWSER_MODULES=<dir holding node_modules>
//                              (the build tree: npm ci never writes to the source tree)
//                              DAQ_CHROMIUM=/usr/bin/chromium (default)
//   -> {"ok":true,"ready":true,"chromium_pid":N,"trap_port":P}
//   <- {"op":"open","page":"a","url":"http://127.0.0.1:N/#cam0","width":1280,"height":800,
//       "intercept":true}
//   -> {"ok":true,"value":...} or {"ok":false,"error":"..."}
//
// Ops: open (a page in a window of its own), goto, eval (fn: a function's
// source, args: its arguments; the value must be JSON), wait
// (waitForFunction), click, mouse_click, mouse_move, type, select, throttle
// (CDP CPU throttling rate), screenshot (optionally a clip), requests
// (status counts per method and path), recent (the last 50 request URLs),
// external (every non-loopback request seen), logs, close, quit.
//
// "No request leaves the machine" is checked two ways, so that a request
// from a context page events do not see (a worker, a prefetch) still counts:
//  * per page: request events from the DevTools Network domain, and with
//    intercept on, request interception that aborts anything non-loopback
//    (the page then gets a network error, never a reply from the outside);
//  * the whole browser: --proxy-server points at a trap proxy in this
//    process.  Chromium never proxies loopback (its implicit bypass rules),
//    so any request that reaches the trap was for another host: it is
//    recorded and answered 403 (except Chromium's own background requests,
//    BROWSER_OWN below).
// Interception costs a DevTools round trip per request, so the
// benchmark and the three-viewer test open pages without it; the trap and
// the Network events still watch them.
//
// Chromium runs with a fresh --user-data-dir (removed at exit) and is killed
// at exit whatever happened: on quit, stdin EOF, SIGTERM, or an uncaught
// error.  Its pid is reported so the Python side can kill its process group
// if this process itself dies (puppeteer starts it as a group leader).
import { createRequire } from 'node:module';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

const modules = process.env.DAQ_BROWSER_MODULES;
if (!modules) {
  process.stdout.write(JSON.stringify({ ok: false, error: 'DAQ_BROWSER_MODULES is not set' }) + '\n');
  process.exit(2);
}
const require = createRequire(path.join(modules, 'package.json'));
const puppeteer = require('puppeteer-core');

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

function isLocal(url) {
  if (url.startsWith('data:') || url.startsWith('blob:') || url.startsWith('about:')) return true;
  try {
    const u = new URL(url);
    return LOOPBACK.has(u.hostname);
  } catch {
    return false;
  }
}

const external = []; // {url, via}
function noteExternal(url, via) {
  if (external.length < 100) external.push({ url, via });
}

// Chromium's own background traffic, seen by the trap with nothing but a
// blank data: page open, which no command-line switch turns off in
// Chromium 156 as Debian builds it: sign-in (accounts.google.com, Debian
// ships API keys), the extension updater (Debian's wrapper passes
// --enable-remote-extensions) and network time.  Only the trap ignores
// these hosts; a page's own request to them still fails the test (page
// events and interception have no exceptions).
const BROWSER_OWN = new Set(['accounts.google.com', 'update.googleapis.com', 'clients2.google.com']);
function trapHost(url) {
  try {
    return url.startsWith('connect://') ? url.slice(10).replace(/:\d+$/, '') : new URL(url).hostname;
  } catch {
    return '';
  }
}

// ---- the trap proxy -----------------------------------------------------------------
const trap = http.createServer((req, res) => {
  if (!BROWSER_OWN.has(trapHost(req.url))) noteExternal(req.url, 'proxy');
  res.writeHead(403, { 'Content-Type': 'text/plain' });
  res.end('daq browser test: no request may leave the machine\n');
});
trap.on('connect', (req, socket) => {
  if (!BROWSER_OWN.has(trapHost('connect://' + req.url))) noteExternal('connect://' + req.url, 'proxy');
  socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
});
await new Promise((resolve) => trap.listen(0, '127.0.0.1', resolve));
const trapPort = trap.address().port;

// ---- Chromium ---------------------------------------------------------------------
const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'daq-chromium-'));
let browser = null;
let closing = false;

async function shutdown(code) {
  if (closing) return;
  closing = true;
  try {
    if (browser) {
      const proc = browser.process();
      await Promise.race([browser.close(), new Promise((r) => setTimeout(r, 3000))]);
      if (proc && proc.exitCode === null) {
        try {
          process.kill(-proc.pid, 'SIGKILL');
        } catch {
          try { proc.kill('SIGKILL'); } catch { /* gone */ }
        }
      }
    }
  } catch { /* the browser is being torn down anyway */ }
  fs.rmSync(userDataDir, { recursive: true, force: true });
  trap.close();
  process.exit(code);
}
process.on('SIGTERM', () => shutdown(143));
process.on('SIGINT', () => shutdown(130));
process.on('uncaughtException', (e) => {
  process.stderr.write('driver: uncaught ' + (e && e.stack ? e.stack : e) + '\n');
  shutdown(1);
});

try {
  browser = await puppeteer.launch({
    executablePath: process.env.DAQ_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    userDataDir,
    protocolTimeout: 30000,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-default-apps', '--disable-extensions', '--no-default-browser-check',
      '--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication,NetworkTimeServiceQuerying,CertificateTransparencyComponentUpdater,DialMediaRouteProvider',
      '--disable-client-side-phishing-detection', '--disable-domain-reliability', '--no-pings',
      '--disable-breakpad', '--metrics-recording-only', '--disable-component-extensions-with-background-pages',
      '--safebrowsing-disable-auto-update', '--no-service-autorun', '--password-store=basic',
      // Background tabs keep drawing: the three-viewer test has three tabs.
      '--disable-background-timer-throttling', '--disable-renderer-backgrounding',
      '--disable-backgrounding-occluded-windows',
      `--proxy-server=http://127.0.0.1:${trapPort}`,
    ],
  });
} catch (e) {
  process.stdout.write(JSON.stringify({ ok: false, error: 'chromium did not start: ' + e.message }) + '\n');
  await shutdown(3);
}

// ---- pages ------------------------------------------------------------------------
const pages = new Map(); // name -> {page, cdp, statuses: Map, logs: []}

function pageOf(name) {
  const p = pages.get(name);
  if (!p) throw new Error(`no page "${name}"`);
  return p;
}

function statusKey(req, status) {
  let p = req.url();
  try { p = new URL(p).pathname; } catch { /* keep the URL */ }
  return `${req.method()} ${p} ${status}`;
}

async function openPage(cmd) {
  if (pages.has(cmd.page)) throw new Error(`page "${cmd.page}" is open`);
  // A window of its own: a background tab is hidden, and a hidden page
  // draws no animation frames (the three-viewer test saw 3.7 fps in two
  // background tabs next to 30 in the front one).
  const page = await browser.newPage({ type: 'window' });
  const entry = { page, cdp: null, statuses: new Map(), logs: [], recent: [] };
  pages.set(cmd.page, entry);
  const count = (k) => entry.statuses.set(k, (entry.statuses.get(k) || 0) + 1);
  const log = (s) => { if (entry.logs.length < 200) entry.logs.push(s); };
  page.on('console', (m) => log(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log(`pageerror: ${e.message}`));
  page.on('request', (req) => {
    entry.recent.push(req.url());
    if (entry.recent.length > 50) entry.recent.shift();
    if (!isLocal(req.url())) noteExternal(req.url(), 'page ' + cmd.page);
    if (cmd.intercept) {
      if (isLocal(req.url())) req.continue();
      else req.abort('blockedbyclient');
    }
  });
  page.on('response', (res) => count(statusKey(res.request(), res.status())));
  page.on('requestfailed', (req) => count(statusKey(req, 'failed')));
  if (cmd.intercept) await page.setRequestInterception(true);
  await page.setViewport({ width: cmd.width || 1280, height: cmd.height || 800 });
  if (cmd.url) await page.goto(cmd.url, { waitUntil: 'load', timeout: 15000 });
  return true;
}

function asFunction(src) {
  // eslint-disable-next-line no-new-func
  return new Function(`return (${src});`)();
}

async function run(cmd) {
  switch (cmd.op) {
    case 'open':
      return openPage(cmd);
    case 'goto':
      await pageOf(cmd.page).page.goto(cmd.url, { waitUntil: 'load', timeout: 15000 });
      return true;
    case 'eval':
      return pageOf(cmd.page).page.evaluate(asFunction(cmd.fn), ...(cmd.args || []));
    case 'wait': {
      const h = await pageOf(cmd.page).page.waitForFunction(asFunction(cmd.fn),
        { timeout: cmd.timeout_ms || 10000, polling: cmd.polling || 50 }, ...(cmd.args || []));
      return h.jsonValue();
    }
    case 'click':
      await pageOf(cmd.page).page.click(cmd.selector);
      return true;
    case 'mouse_click':
      await pageOf(cmd.page).page.mouse.click(cmd.x, cmd.y);
      return true;
    case 'mouse_move':
      await pageOf(cmd.page).page.mouse.move(cmd.x, cmd.y);
      return true;
    case 'type': {
      const { page } = pageOf(cmd.page);
      await page.$eval(cmd.selector, (el) => { el.value = ''; });
      await page.type(cmd.selector, cmd.text);
      return true;
    }
    case 'select':
      return pageOf(cmd.page).page.select(cmd.selector, cmd.value);
    case 'throttle': {
      const p = pageOf(cmd.page);
      if (!p.cdp) p.cdp = await p.page.createCDPSession();
      await p.cdp.send('Emulation.setCPUThrottlingRate', { rate: cmd.rate });
      return true;
    }
    case 'screenshot':
      await pageOf(cmd.page).page.screenshot({ path: cmd.path, type: 'png', clip: cmd.clip || undefined });
      return fs.statSync(cmd.path).size;
    case 'requests':
      return Object.fromEntries(pageOf(cmd.page).statuses);
    case 'recent':
      return pageOf(cmd.page).recent;
    case 'logs':
      return pageOf(cmd.page).logs;
    case 'external':
      return external;
    case 'close': {
      const p = pageOf(cmd.page);
      pages.delete(cmd.page);
      await p.page.close();
      return true;
    }
    case 'quit':
      await shutdown(0);
      return true;
    default:
      throw new Error(`unknown op "${cmd.op}"`);
  }
}

process.stdout.write(JSON.stringify({
  ok: true, ready: true, chromium_pid: browser.process().pid, trap_port: trapPort,
  version: await browser.version(),
}) + '\n');

const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  let reply;
  try {
    const cmd = JSON.parse(line);
    const value = await run(cmd);
    reply = { ok: true, value: value === undefined ? null : value };
  } catch (e) {
    reply = { ok: false, error: String(e && e.message ? e.message : e) };
  }
  process.stdout.write(JSON.stringify(reply) + '\n');
}
await shutdown(0);
