// view.js - the live view page: frames in, pixels out, controls through the
// daemon's gRPC bridge (docs/adr/0010-live-view.md, docs/live-view.md).
//
// Frame loop (one per tab, never more than one request in flight): GET
// /api/view/<dev>/frame?after=<last seq>&wait_ms=1000&...; the daemon always
// answers with its newest frame, so a slow tab just sees fewer frames, and
// it costs the daemon nothing while the tab does not ask.  A request starts
// at most max-fps times a second, and only after the previous frame was
// painted: painting waits for the next animation frame (or 250 ms), so a
// frozen or CPU-starved tab asks as slowly as it paints, never faster.  A
// hidden tab gets no animation frames (headless Chromium: every page of a
// window but the front one), so it paints as soon as a frame is in; the
// browser's own throttling of hidden tabs' timers (~1 Hz) then slows it.
//
// Display: #image's backing store is exactly the payload (1 canvas px = 1
// payload px, so getImageData(i, j) is payload pixel (i, j) after mapping);
// zoom and pan are a CSS transform of it, pixelated.  The view is kept in
// full-resolution coordinates (centre, zoom relative to "fit"), so a new
// frame with another crop or bin lands at the right place.  Mapping goes
// through a 2^bit_depth lookup table (colormap.js).  Measured in headless
// Chromium on the (busy) 2-core test machine, 2048x2048x16 at 100 FPS,
// FAST (512x512 payload): 1.8 ms of script per painted frame (histogram,
// window, LUT, mapping), ~14 ms of main-thread work in all (fetch, commit,
// paint); 58 displayed fps at max-fps 100, latency p50 17 ms / p99 28 ms.
// Per frame the page writes only what changed and never reads layout
// (sizes come from a ResizeObserver), so no frame forces a layout.
//
// Control: POST /api/rpc/<pkg.Service>/<Method> with the protobuf request
// (pb.js); a refusal (HTTP error text, or success = false with
// error_message) is shown verbatim in #message.  A 401 anywhere stops the
// loops and shows #login; the token lives in sessionStorage only.
//
// window.daqView: synchronous hooks for the browser tests (contract:
// docs/live-view.md; state, raw, valueAt, set, latencies, lut).

import { M, RECORDING_STATES, decode, encode } from './pb.js';
import { lz4DecodeBlock } from './lz4.js';
import { buildLut, histCdf, histMinMax, histPercentile } from './colormap.js';

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = 'daq.view.token';
const MODE_BIN = { fast: 4, preview: 2, full: 1 };
const WAIT_MS = 1000;
const STATUS_MS = 500;
const REC_MS = 1000;
const UI_MS = 250;
const LAT_KEEP = 1000;
const ZOOM_MIN = 1;
const ZOOM_MAX = 64;
const HEADER_LEN = 128;

class AuthError extends Error {}
class HttpError extends Error {
  constructor(msg, status) {
    super(msg);
    this.status = status;
  }
}

function randomId() {
  const b = new Uint8Array(12);
  crypto.getRandomValues(b);
  return 'v' + Array.from(b, (x) => x.toString(36).padStart(2, '0')).join('').slice(0, 20);
}

const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
const nowWallMs = () => performance.timeOrigin + performance.now();

// ---- state ------------------------------------------------------------------------------

const S = {
  token: sessionStorage.getItem(TOKEN_KEY) || '',
  loggedIn: false,
  triedToken: !!sessionStorage.getItem(TOKEN_KEY),
  devices: [],
  device: null,
  devInfo: null,
  viewer: randomId(),
  gen: 0, // bumps on device switch and login: loops of an older gen end
  abort: null,
  // frames
  seq: 0,
  cur: null, // the painted frame
  pending: null, // received, not yet painted
  received: 0,
  displayed: 0,
  dropped: 0,
  lastFn: null,
  recvTimes: [],
  paintTimes: [],
  latencies: [],
  timing: [],
  status: null,
  message: { text: '', source: '' },
  // display
  mode: 'fast',
  maxFps: 30,
  lz4: false,
  contrastMode: 'percentile',
  lo: 0,
  hi: 65535,
  pctLow: 0.1,
  pctHigh: 99.9,
  gamma: 1,
  colormap: 'gray',
  saturation: false,
  // view (full-resolution coordinates)
  zoom: 1,
  cx: null,
  cy: null,
  cropOverride: null,
  tool: 'crosshair',
  cross: null,
  hover: null,
  roi: null,
  line: null,
  // caches
  lut: null,
  lutKey: '',
  hist: null,
  cdf: null,
  img: null,
  lastHistDraw: 0,
  recId: null,
  lastKey: '',
  shownExposure: null,
  recUnavailable: false,
};

// ---- messages ---------------------------------------------------------------------------

function showMessage(text, source = 'control') {
  S.message = { text, source };
  $('message').textContent = text;
  $('message').title = text ? `${new Date().toLocaleTimeString()}  ${text}` : '';
}

function clearMessage(source) {
  if (!source || S.message.source === source) showMessage('', '');
}

// ---- HTTP -------------------------------------------------------------------------------

function showLogin() {
  S.loggedIn = false;
  S.gen++;
  if (S.abort) S.abort.abort();
  $('login').hidden = false;
  $('login-error').textContent = S.triedToken ? 'wrong token' : '';
  $('token').focus();
}

async function apiFetch(url, opts = {}) {
  const headers = new Headers(opts.headers || {});
  if (S.token) headers.set('Authorization', `Bearer ${S.token}`);
  const r = await fetch(url, { ...opts, headers, cache: 'no-store', credentials: 'omit' });
  if (r.status === 401) {
    showLogin();
    throw new AuthError('unauthorized');
  }
  return r;
}

async function errorText(r) {
  let t = '';
  try {
    t = await r.text();
  } catch {
    /* the body is gone: fall back to the header */
  }
  t = t.replace(/\r?\n$/, '');
  if (!t) {
    const g = r.headers.get('Grpc-Message');
    if (g) {
      try {
        t = decodeURIComponent(g);
      } catch {
        t = g;
      }
    }
  }
  return t || `HTTP ${r.status} ${r.statusText}`;
}

async function getJson(url) {
  const r = await apiFetch(url);
  if (!r.ok) throw new HttpError(await errorText(r), r.status);
  return r.json();
}

// One unary call through the bridge: the reply message, or HttpError with
// the daemon's text.
async function rpc(service, method, reqSchema, req, respSchema) {
  const r = await apiFetch(`/api/rpc/daq.${service}/${method}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-protobuf' },
    body: encode(reqSchema, req),
  });
  if (!r.ok) throw new HttpError(await errorText(r), r.status);
  return decode(respSchema, new Uint8Array(await r.arrayBuffer()));
}

// Runs a control action: any refusal goes to #message verbatim.
async function act(btn, fn) {
  if (btn) btn.disabled = true;
  try {
    await fn();
  } catch (e) {
    if (!(e instanceof AuthError)) showMessage(e.message || String(e));
  } finally {
    if (btn) btn.disabled = false;
  }
}

function refused(reply) {
  if (reply.success === false) {
    showMessage(reply.error_message || 'refused (no reason given)');
    return true;
  }
  return false;
}

// ---- frames -----------------------------------------------------------------------------

function u64(dv, off) {
  return Number(dv.getBigUint64(off, true));
}

function parseFrame(buf) {
  if (buf.byteLength < HEADER_LEN) throw new Error(`frame: ${buf.byteLength} bytes, shorter than its header`);
  const dv = new DataView(buf);
  if (dv.getUint32(0, false) !== 0x44415156) throw new Error('frame: bad magic (not DAQV)');
  const version = dv.getUint16(4, true);
  if (version !== 1) throw new Error(`frame: version ${version} (this page reads 1)`);
  const hl = dv.getUint16(6, true);
  const f = {
    flags: dv.getUint32(8, true),
    bpp: dv.getUint32(12, true),
    seq: u64(dv, 16),
    frame_number: u64(dv, 24),
    hw_timestamp_ns: dv.getBigUint64(32, true),
    arrival_unix_ns: dv.getBigUint64(40, true),
    sent_unix_ns: dv.getBigUint64(48, true),
    full_width: dv.getUint32(56, true),
    full_height: dv.getUint32(60, true),
    x: dv.getUint32(64, true),
    y: dv.getUint32(68, true),
    width: dv.getUint32(72, true),
    height: dv.getUint32(76, true),
    bin: dv.getUint32(80, true),
    bit_depth: dv.getUint32(84, true),
    frames_delivered: u64(dv, 88),
    frames_lost: u64(dv, 96),
    pool_misses: u64(dv, 104),
    payload_len: dv.getUint32(112, true),
    // ADR 0011, in what were reserved bytes (still version 1): the trigger
    // this frame answers (low 32 bits, 0 = not triggered) and the estimated
    // exposure start, Unix ns (0 = unknown; a BigInt, beyond 2^53)
    trigger_index: dv.getUint32(116, true),
    exposure_start_ns: dv.getBigUint64(120, true),
  };
  if (hl < HEADER_LEN || hl + f.payload_len > buf.byteLength)
    throw new Error(`frame: header ${hl} + payload ${f.payload_len} > ${buf.byteLength} bytes`);
  if (f.bpp !== 1 && f.bpp !== 2) throw new Error(`frame: ${f.bpp} bytes per pixel`);
  const n = f.width * f.height;
  let bytes = new Uint8Array(buf, hl, f.payload_len);
  if (f.flags & 1) {
    const out = new Uint8Array(n * f.bpp);
    lz4DecodeBlock(bytes, out);
    bytes = out;
  } else if (bytes.length !== n * f.bpp) {
    throw new Error(`frame: payload ${bytes.length} bytes for ${f.width}x${f.height}x${f.bpp}`);
  }
  if (f.bpp === 2 && bytes.byteOffset % 2) bytes = bytes.slice();
  f.data = f.bpp === 2 ? new Uint16Array(bytes.buffer, bytes.byteOffset, n) : bytes;
  f.arrival_ms = Number(f.arrival_unix_ns / 1000n) / 1000;
  return f;
}

function fullSize() {
  const f = S.cur || S.pending;
  if (f) return [f.full_width, f.full_height];
  if (S.devInfo && S.devInfo.width) return [S.devInfo.width, S.devInfo.height];
  return [0, 0];
}

// The next frame request: [url, key].  key names what the request asks for
// (bin, crop); when it differs from what the painted frame was asked with,
// the newest frame may come again (after = seq - 1), re-cut: a stopped
// camera's last frame can still be zoomed into at full resolution.
function frameRequest() {
  const bin = MODE_BIN[S.mode] || 4;
  let crop = S.cropOverride;
  if (!crop && S.mode === 'full' && S.zoom > 1) crop = visibleRegion();
  const key = crop ? `${bin}:${crop.x},${crop.y},${crop.w},${crop.h}` : `${bin}:all`;
  const p = new URLSearchParams();
  p.set('after', String(key === S.lastKey ? S.seq : Math.max(0, S.seq - 1)));
  p.set('wait_ms', String(WAIT_MS));
  p.set('bin', String(bin));
  if (crop) {
    p.set('x', String(crop.x));
    p.set('y', String(crop.y));
    p.set('w', String(crop.w));
    p.set('h', String(crop.h));
  }
  if (S.lz4) p.set('lz4', '1');
  p.set('viewer', S.viewer);
  return [`/api/view/${encodeURIComponent(S.device)}/frame?${p}`, key];
}

function onReceived(f) {
  const t = performance.now();
  f.recv_ms = nowWallMs();
  S.received++;
  S.recvTimes.push(t);
  if (S.lastFn !== null && f.frame_number > S.lastFn + 1) S.dropped += f.frame_number - S.lastFn - 1;
  S.lastFn = f.frame_number;
  S.seq = Math.max(S.seq, f.seq);
  S.pending = f;
}

// Resolves after the pending frame was painted: on the next animation
// frame, or after 250 ms when there is none (hidden tab).
function paintSoon(gen) {
  if (document.visibilityState === 'hidden') {
    // no animation frames come to a hidden tab: paint now
    const f = S.pending;
    S.pending = null;
    if (f) paint(f, true);
    return Promise.resolve();
  }
  return new Promise((res) => {
    let done = false;
    let timer = 0;
    const go = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (gen === S.gen && S.pending) {
        const f = S.pending;
        S.pending = null;
        paint(f, true);
      }
      res();
    };
    requestAnimationFrame(go);
    timer = setTimeout(go, 250);
  });
}

async function frameLoop(gen) {
  let backoff = 250;
  let lastStart = -1e9;
  while (gen === S.gen) {
    const gap = 1000 / Math.max(0.1, S.maxFps || 30);
    const wait = lastStart + gap - performance.now();
    if (wait > 0) await sleep(wait);
    if (gen !== S.gen) return;
    lastStart = performance.now();
    let r;
    const ac = new AbortController();
    S.abort = ac;
    try {
      const [url, key] = frameRequest();
      r = await apiFetch(url, { signal: ac.signal });
      if (r.status === 204) {
        // X-Daq-Seq below ours: a restarted daemon (seq starts again at 1)
        const latest = Number(r.headers.get('X-Daq-Seq'));
        if (Number.isFinite(latest) && latest < S.seq) S.seq = latest;
        await r.arrayBuffer().catch(() => null);
        continue;
      }
      if (!r.ok) throw new HttpError(await errorText(r), r.status);
      const buf = await r.arrayBuffer();
      if (gen !== S.gen) return;
      const f = parseFrame(buf);
      backoff = 250;
      clearMessage('frames');
      S.lastKey = key;
      onReceived(f);
      await paintSoon(gen);
    } catch (e) {
      if (e instanceof AuthError || gen !== S.gen) return;
      if (e.name === 'AbortError') continue;
      const text = e instanceof HttpError ? e.message : `frames: ${e.message || e}`;
      showMessage(text, 'frames');
      await sleep(backoff);
      backoff = Math.min(backoff * 2, 4000);
    }
  }
}

// ---- mapping and painting ---------------------------------------------------------------

function ensureHist(size) {
  if (!S.hist || S.hist.length !== size) {
    S.hist = new Uint32Array(size);
    S.cdf = new Float64Array(size);
  }
  return S.hist;
}

function computeHist(f) {
  const size = f.bpp === 2 ? 65536 : 256;
  const h = ensureHist(size);
  h.fill(0);
  const d = f.data;
  for (let i = 0, n = d.length; i < n; i++) h[d[i]]++;
  f.n = d.length;
  [f.min, f.max] = histMinMax(h);
}

// The window of frame f under the current contrast mode.
function computeWindow(f) {
  switch (S.contrastMode) {
    case 'auto':
      return [f.min, f.max];
    case 'percentile':
      return [histPercentile(S.hist, f.n, S.pctLow), histPercentile(S.hist, f.n, S.pctHigh)];
    case 'equalize':
      return [f.min, f.max];
    default:
      return [S.lo, S.hi];
  }
}

function maxValue(bd) {
  return 2 ** Math.min(16, Math.max(1, bd || 16)) - 1;
}

function updateLut(f) {
  const size = f.bpp === 2 ? 65536 : 256;
  const maxv = maxValue(f.bit_depth);
  const eq = S.contrastMode === 'equalize';
  const key = [size, maxv, S.lo, S.hi, S.gamma, S.colormap, S.saturation].join('|');
  if (!S.lut || S.lut.length !== size) S.lut = new Uint32Array(size);
  if (!eq && key === S.lutKey) return;
  buildLut(S.lut, {
    maxv,
    lo: S.lo,
    hi: S.hi,
    gamma: S.gamma,
    colormap: S.colormap,
    saturation: S.saturation,
    cdf: eq ? histCdf(S.hist, f.n, S.cdf) : null,
  });
  S.lutKey = eq ? '' : key;
}

// Maps frame f onto #image.  fresh: a newly received frame (counted as
// displayed, latency measured); otherwise a re-map of the painted frame
// after a display setting changed.
function paint(f, fresh) {
  computeHist(f); // ~1 ms per 512x512; S.hist is always the painted frame's
  if (S.contrastMode !== 'manual') {
    const [lo, hi] = computeWindow(f);
    S.lo = lo;
    S.hi = hi;
  }
  updateLut(f);
  const cv = $('image');
  if (cv.width !== f.width || cv.height !== f.height) {
    cv.width = f.width;
    cv.height = f.height;
    S.img = null;
  }
  // CPU-backed: the page only puts pixels (the compositor scales them) and
  // tests read them back; a GPU canvas would add a readback per read.
  const ctx = cv.getContext('2d', { alpha: false, willReadFrequently: true });
  if (!S.img || S.img.width !== f.width || S.img.height !== f.height)
    S.img = ctx.createImageData(f.width, f.height);
  const out = new Uint32Array(S.img.data.buffer);
  const lut = S.lut;
  const d = f.data;
  for (let i = 0, n = d.length; i < n; i++) out[i] = lut[d[i]];
  ctx.putImageData(S.img, 0, 0);
  const resized = !S.cur || S.cur.full_width !== f.full_width || S.cur.full_height !== f.full_height;
  S.cur = f;
  if (fresh) {
    const t = performance.now();
    S.displayed++;
    S.paintTimes.push(t);
    const now = nowWallMs();
    S.latencies.push(now - f.arrival_ms);
    if (S.latencies.length > LAT_KEEP) S.latencies.splice(0, S.latencies.length - LAT_KEEP);
    // where the latency goes: in the daemon (arrival -> reply built), on the
    // wire and in decoding (-> received), waiting to paint (-> painted)
    const sent = Number(f.sent_unix_ns / 1000n) / 1000;
    S.timing.push([sent - f.arrival_ms, f.recv_ms - sent, now - f.recv_ms]);
    if (S.timing.length > LAT_KEEP) S.timing.shift();
    setText($('frame-number'), String(f.frame_number));
    $('frame-trigger').hidden = f.trigger_index === 0; // free-running: no trigger
    setText($('trigger-index'), String(f.trigger_index));
    $('nosignal').hidden = true;
  }
  // Per frame only what the frame changes: the image's place (its crop or
  // bin may differ), the numbers; the overlay (screen geometry) is redrawn
  // by view and tool changes, not by frames.
  if (resized || S.cx === null) resetView(false); // new camera ROI / binning: fit it
  placeImage();
  setText($('frame-geom'),
    `${f.width}×${f.height} @ (${f.x}, ${f.y}) bin ${f.bin} · ${f.bit_depth}-bit` +
    ` of ${f.full_width}×${f.full_height}`);
  updateReadout();
  if (S.roi) updateRoiStats();
  if (S.line || !fresh) drawProfile();
  const t = performance.now();
  if (!fresh || t - S.lastHistDraw > 100) {
    S.lastHistDraw = t;
    drawHistogram();
    showWindow(); // with the histogram: its marks and #min/#max name one window
  }
}

function remap() {
  if (S.cur) paint(S.cur, false);
  else drawHistogram();
}

function setIfIdle(el, v) {
  if (document.activeElement !== el && el.value !== String(v)) el.value = String(v);
}

// Writes only a changed text (an unchanged one still costs a style pass).
function setText(el, t) {
  if (el.textContent !== t) el.textContent = t;
}

// ---- view geometry (full-resolution coordinates) -------------------------------------------

// Element sizes, kept by a ResizeObserver: reading clientWidth after the
// frame's DOM writes would force a synchronous layout on every frame.
const sizes = new Map();
function sizeOf(el) {
  let sz = sizes.get(el);
  if (!sz) {
    sz = [el.clientWidth, el.clientHeight];
    sizes.set(el, sz);
  }
  return sz;
}

function vpSize() {
  const [w, h] = sizeOf($('viewport'));
  return [w || 1, h || 1];
}

function scale() {
  const [fw, fh] = fullSize();
  const [vw, vh] = vpSize();
  if (!fw || !fh) return 1;
  return Math.min(vw / fw, vh / fh) * S.zoom;
}

function toScreen(fx, fy) {
  const [vw, vh] = vpSize();
  const s = scale();
  return [vw / 2 + (fx - S.cx) * s, vh / 2 + (fy - S.cy) * s];
}

function toFull(sx, sy) {
  const [vw, vh] = vpSize();
  const s = scale();
  return [S.cx + (sx - vw / 2) / s, S.cy + (sy - vh / 2) / s];
}

function visibleRegion() {
  const [fw, fh] = fullSize();
  if (!fw || !fh) return null;
  const [vw, vh] = vpSize();
  const [x0f, y0f] = toFull(0, 0);
  const [x1f, y1f] = toFull(vw, vh);
  const x0 = Math.max(0, Math.floor(x0f));
  const y0 = Math.max(0, Math.floor(y0f));
  const x1 = Math.min(fw, Math.ceil(x1f));
  const y1 = Math.min(fh, Math.ceil(y1f));
  if (x1 <= x0 || y1 <= y0) return null;
  return { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
}

// Keeps the frame in view: a dimension that fits in the viewport is
// centred, one that does not may pan only until its edge meets the
// viewport's (so zoom 1 always shows the whole frame, centred).
function clampView() {
  const [fw, fh] = fullSize();
  S.zoom = Math.min(ZOOM_MAX, Math.max(ZOOM_MIN, S.zoom || 1));
  if (!fw || !fh) return;
  const [vw, vh] = vpSize();
  const s = scale();
  const hw = vw / 2 / s;
  const hh = vh / 2 / s;
  const cx = S.cx ?? fw / 2;
  const cy = S.cy ?? fh / 2;
  S.cx = fw <= 2 * hw ? fw / 2 : Math.min(fw - hw, Math.max(hw, cx));
  S.cy = fh <= 2 * hh ? fh / 2 : Math.min(fh - hh, Math.max(hh, cy));
}

function resetView(userAction) {
  const [fw, fh] = fullSize();
  S.zoom = 1;
  S.cx = fw / 2;
  S.cy = fh / 2;
  if (userAction) S.cropOverride = null;
  viewChanged();
}

function placeImage() {
  const f = S.cur;
  const cv = $('image');
  if (!f) return;
  const s = scale();
  const [sx, sy] = toScreen(f.x, f.y);
  const t = `translate(${sx}px, ${sy}px) scale(${s * f.bin})`;
  if (cv.style.transform !== t) cv.style.transform = t;
}

function viewChanged() {
  clampView();
  placeImage();
  drawOverlay();
  $('zoom-level').textContent = `${S.zoom.toFixed(2)}×`;
}

function zoomAt(factor, sx, sy) {
  const [vw, vh] = vpSize();
  if (sx === undefined) {
    sx = vw / 2;
    sy = vh / 2;
  }
  const [fx, fy] = toFull(sx, sy);
  S.zoom = Math.min(ZOOM_MAX, Math.max(ZOOM_MIN, S.zoom * factor));
  const s = scale();
  S.cx = fx - (sx - vw / 2) / s;
  S.cy = fy - (sy - vh / 2) / s;
  S.cropOverride = null;
  viewChanged();
}

// ---- readouts -----------------------------------------------------------------------------

function rawAt(f, i, j) {
  if (!f || i < 0 || j < 0 || i >= f.width || j >= f.height) return null;
  return f.data[j * f.width + i];
}

function valueAt(fx, fy) {
  const f = S.cur;
  if (!f) return null;
  fx = Math.floor(fx);
  fy = Math.floor(fy);
  if (fx < f.x || fy < f.y) return null;
  return rawAt(f, Math.floor((fx - f.x) / f.bin), Math.floor((fy - f.y) / f.bin));
}

function updateReadout() {
  const p = S.cross || S.hover;
  if (!p) return;
  const fx = Math.floor(p[0]);
  const fy = Math.floor(p[1]);
  const v = valueAt(fx, fy);
  setText($('readout'), `x=${fx}, y=${fy}, value=${v === null ? '—' : v}`);
}

function normRect(a, b) {
  const x0 = Math.floor(Math.min(a[0], b[0]));
  const y0 = Math.floor(Math.min(a[1], b[1]));
  const x1 = Math.floor(Math.max(a[0], b[0])) + 1;
  const y1 = Math.floor(Math.max(a[1], b[1])) + 1;
  return { x0, y0, x1, y1 };
}

// ROI statistics over the payload pixels whose block's top-left lies in the
// ROI (at bin 1: exactly the ROI's pixels); std is the population one.
function roiStats() {
  const f = S.cur;
  if (!f || !S.roi) return null;
  const r = normRect(S.roi.a, S.roi.b);
  const i0 = Math.max(0, Math.ceil((r.x0 - f.x) / f.bin));
  const i1 = Math.min(f.width, Math.ceil((r.x1 - f.x) / f.bin));
  const j0 = Math.max(0, Math.ceil((r.y0 - f.y) / f.bin));
  const j1 = Math.min(f.height, Math.ceil((r.y1 - f.y) / f.bin));
  let n = 0;
  let sum = 0;
  let sum2 = 0;
  let mn = Infinity;
  let mx = -Infinity;
  for (let j = j0; j < j1; j++) {
    const row = j * f.width;
    for (let i = i0; i < i1; i++) {
      const v = f.data[row + i];
      n++;
      sum += v;
      sum2 += v * v;
      if (v < mn) mn = v;
      if (v > mx) mx = v;
    }
  }
  if (!n) return { n: 0 };
  const mean = sum / n;
  const std = Math.sqrt(Math.max(0, sum2 / n - mean * mean));
  return { mean, min: mn, max: mx, std, n };
}

function updateRoiStats() {
  const st = roiStats();
  const el = $('roi-stats');
  if (!st || !st.n) {
    el.textContent = 'mean=— min=— max=— std=— n=0';
    return;
  }
  el.textContent =
    `mean=${st.mean.toFixed(2)} min=${st.min} max=${st.max} std=${st.std.toFixed(2)} n=${st.n}`;
}

function profileValues() {
  if (!S.line || !S.cur) return [];
  const [x0, y0] = S.line.a.map(Math.floor);
  const [x1, y1] = S.line.b.map(Math.floor);
  const steps = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0));
  const vals = [];
  for (let k = 0; k <= steps; k++) {
    const t = steps ? k / steps : 0;
    vals.push(valueAt(Math.round(x0 + (x1 - x0) * t), Math.round(y0 + (y1 - y0) * t)));
  }
  return vals;
}

// ---- drawing: overlay, histogram, profile ----------------------------------------------------

function fitCanvas(cv) {
  const dpr = window.devicePixelRatio || 1;
  const [cw, ch] = sizeOf(cv);
  const w = Math.max(1, Math.round(cw * dpr));
  const h = Math.max(1, Math.round(ch * dpr));
  if (cv.width !== w || cv.height !== h) {
    cv.width = w;
    cv.height = h;
  }
  const ctx = cv.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return [ctx, cw, ch];
}

function drawOverlay() {
  const [ctx, w, h] = fitCanvas($('overlay'));
  ctx.clearRect(0, 0, w, h);
  if (!S.cur) return;
  const s = scale();
  ctx.lineWidth = 1;
  if (S.cross) {
    const [sx, sy] = toScreen(Math.floor(S.cross[0]) + 0.5, Math.floor(S.cross[1]) + 0.5);
    ctx.strokeStyle = 'rgba(95, 179, 255, 0.9)';
    ctx.setLineDash([]);
    ctx.beginPath();
    ctx.moveTo(0, Math.round(sy) + 0.5);
    ctx.lineTo(w, Math.round(sy) + 0.5);
    ctx.moveTo(Math.round(sx) + 0.5, 0);
    ctx.lineTo(Math.round(sx) + 0.5, h);
    ctx.stroke();
    if (s > 4) {
      const [px, py] = toScreen(Math.floor(S.cross[0]), Math.floor(S.cross[1]));
      ctx.strokeRect(px + 0.5, py + 0.5, s - 1, s - 1);
    }
  }
  if (S.roi) {
    const r = normRect(S.roi.a, S.roi.b);
    const [ax, ay] = toScreen(r.x0, r.y0);
    const [bx, by] = toScreen(r.x1, r.y1);
    ctx.strokeStyle = '#f2b43c';
    ctx.setLineDash([5, 3]);
    ctx.strokeRect(ax + 0.5, ay + 0.5, bx - ax, by - ay);
    ctx.setLineDash([]);
    ctx.fillStyle = '#f2b43c';
    ctx.font = '11px ui-monospace, monospace';
    ctx.fillText(`${r.x1 - r.x0}×${r.y1 - r.y0}`, ax + 3, ay - 4);
  }
  if (S.line) {
    const [ax, ay] = toScreen(Math.floor(S.line.a[0]) + 0.5, Math.floor(S.line.a[1]) + 0.5);
    const [bx, by] = toScreen(Math.floor(S.line.b[0]) + 0.5, Math.floor(S.line.b[1]) + 0.5);
    ctx.strokeStyle = '#3ccf7a';
    ctx.setLineDash([]);
    ctx.beginPath();
    ctx.moveTo(ax, ay);
    ctx.lineTo(bx, by);
    ctx.stroke();
    ctx.fillStyle = '#3ccf7a';
    for (const [x, y] of [[ax, ay], [bx, by]]) ctx.fillRect(x - 2, y - 2, 4, 4);
  }
}

// Log counts over the span that matters: the frame's values and the
// window, padded 4 % (a 16-bit camera often uses a tenth of its range, which
// on a 0..65535 axis would be a few pixels wide).  The window is shaded,
// its ends marked and labelled; the axis ends are labelled below.
function drawHistogram() {
  const [ctx, w, h] = fitCanvas($('histogram'));
  ctx.clearRect(0, 0, w, h);
  const f = S.cur;
  if (!f || !S.hist) return;
  const maxv = maxValue(f.bit_depth);
  const hist = S.hist;
  let a = Math.min(f.min, S.lo);
  let b = Math.max(f.max, S.hi);
  const pad = Math.max(1, (b - a) * 0.04);
  a = Math.max(0, Math.floor(a - pad));
  b = Math.min(maxv, Math.ceil(b + pad));
  if (b <= a) b = Math.min(maxv, a + 1);
  const range = b - a + 1;
  const bins = Math.max(1, Math.floor(w));
  const counts = new Float64Array(bins);
  const lim = Math.min(hist.length - 1, b);
  for (let v = a; v <= lim; v++) {
    const c = hist[v];
    if (c) counts[Math.min(bins - 1, Math.floor(((v - a) * bins) / range))] += c;
  }
  let top = 0;
  for (let k = 0; k < bins; k++) top = Math.max(top, Math.log1p(counts[k]));
  const plotH = h - 12;
  const xOf = (v) => ((v - a) / range) * w;
  const lx = Math.max(0, Math.min(w, xOf(S.lo)));
  const hx = Math.max(0, Math.min(w, xOf(S.hi + 1)));
  ctx.fillStyle = 'rgba(95, 179, 255, 0.08)';
  ctx.fillRect(lx, 0, Math.max(1, hx - lx), plotH);
  ctx.fillStyle = '#8a93a3';
  for (let k = 0; k < bins; k++) {
    if (!counts[k]) continue;
    const bh = top ? (Math.log1p(counts[k]) / top) * (plotH - 4) : 0;
    ctx.fillRect(k, plotH - bh, 1, bh);
  }
  if (S.saturation && maxv < hist.length && hist[maxv] && b === maxv) {
    ctx.fillStyle = '#ff5d5d';
    ctx.fillRect(w - 2, 0, 2, plotH);
  }
  ctx.strokeStyle = '#5fb3ff';
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(Math.round(lx) + 0.5, 0);
  ctx.lineTo(Math.round(lx) + 0.5, plotH);
  ctx.moveTo(Math.round(hx) - 0.5, 0);
  ctx.lineTo(Math.round(hx) - 0.5, plotH);
  ctx.stroke();
  ctx.font = '10px ui-monospace, "DejaVu Sans Mono", monospace';
  const label = (text, x, y, color) => {
    const tw = ctx.measureText(text).width;
    // beside the line, on the side with room
    const tx = Math.max(1, x + 3 + tw <= w ? x + 3 : x - 3 - tw);
    ctx.fillStyle = 'rgba(10, 11, 13, 0.85)';
    ctx.fillRect(tx - 2, y - 9, tw + 4, 11);
    ctx.fillStyle = color;
    ctx.fillText(text, tx, y);
  };
  label(`lo ${Math.round(S.lo)}`, lx, 10, '#5fb3ff');
  label(`hi ${Math.round(S.hi)}`, hx, 21, '#5fb3ff');
  ctx.fillStyle = '#5c6473';
  ctx.fillText(String(a), 1, h - 2);
  ctx.textAlign = 'right';
  ctx.fillText(String(b), w - 1, h - 2);
  ctx.textAlign = 'left';
}

function drawProfile() {
  const [ctx, w, h] = fitCanvas($('profile'));
  ctx.clearRect(0, 0, w, h);
  const vals = profileValues().filter((v) => v !== null);
  ctx.font = '10px ui-monospace, monospace';
  if (vals.length < 2) {
    ctx.fillStyle = '#8a93a3';
    ctx.fillText(S.tool === 'line' ? 'drag on the image to draw a line' : 'line profile (tool: line)', 6, h / 2 + 3);
    return;
  }
  let mn = Infinity;
  let mx = -Infinity;
  for (const v of vals) {
    if (v < mn) mn = v;
    if (v > mx) mx = v;
  }
  const span = mx - mn || 1;
  ctx.strokeStyle = '#3ccf7a';
  ctx.lineWidth = 1;
  ctx.beginPath();
  vals.forEach((v, k) => {
    const x = (k / (vals.length - 1)) * (w - 2) + 1;
    const y = h - 3 - ((v - mn) / span) * (h - 16);
    if (k) ctx.lineTo(x, y);
    else ctx.moveTo(x, y);
  });
  ctx.stroke();
  ctx.fillStyle = '#8a93a3';
  ctx.fillText(`max ${mx}`, 4, 10);
  ctx.textAlign = 'right';
  ctx.fillText(`min ${mn} · ${vals.length} px`, w - 4, 10);
  ctx.textAlign = 'left';
}

// ---- counters and status ------------------------------------------------------------------

function rate(times) {
  const t = performance.now();
  while (times.length && times[0] < t - 2000) times.shift();
  let n = 0;
  for (let k = times.length - 1; k >= 0 && times[k] >= t - 1000; k--) n++;
  return n;
}

function pct(sorted, p) {
  if (!sorted.length) return null;
  const k = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[k];
}

function latencyStats() {
  const s = S.latencies.slice().sort((a, b) => a - b);
  return { p50: pct(s, 50), p99: pct(s, 99), n: s.length };
}

const fmt = (v, d = 1) => (v === null || v === undefined || Number.isNaN(v) ? '—' : Number(v).toFixed(d));

// The computed window in #min/#max, when the histogram is redrawn (at most
// 10 times a second: an input's repaint per frame is wasted on a number
// nobody reads at 30 Hz).
function showWindow() {
  if (S.contrastMode === 'manual') return;
  setIfIdle($('min'), S.lo);
  setIfIdle($('max'), S.hi);
}

function uiTick() {
  setText($('fps-delivered'), fmt(rate(S.recvTimes), 0));
  setText($('fps-displayed'), fmt(rate(S.paintTimes), 0));
  setText($('dropped'), String(S.dropped));
  const l = latencyStats();
  setText($('latency'), l.n ? `${fmt(l.p50)} / ${fmt(l.p99)}` : '—');
}

const orDash = (v) => (v === null || v === undefined ? '—' : String(v));

function renderStatus(st) {
  S.status = st;
  setText($('fps-camera'), fmt(st.camera_fps));
  setText($('frames-lost'), orDash(st.frames_lost));
  setText($('pool-hit'), typeof st.pool_hit_rate === 'number'
    ? `${(st.pool_hit_rate * 100).toFixed(1)} %`
    : '—');
  setText($('heap-fallbacks'), orDash(st.heap_fallbacks));
  setText($('pool-use'), typeof st.pool_slots === 'number'
    ? `${orDash(st.pool_in_use)} / ${st.pool_slots}`
    : '—');
  setText($('auto-rollbacks'), orDash(st.auto_rollbacks));
  $('auto-rollbacks').title = st.auto_rollback_reason || '';
  const up = st.use_pool;
  const ups = $('use-pool-state');
  setText(ups, up === true ? 'on (pool)' : up === false ? 'off (heap)' : '—');
  ups.className = 'pill ' + (up === true ? 'on' : up === false ? 'warn' : '');
  if (!$('confirm').open && typeof up === 'boolean') $('use-pool').checked = up;
  const pill = $('stream-pill');
  setText(pill, st.streaming ? 'streaming' : 'stopped');
  pill.className = 'pill ' + (st.streaming ? 'on' : 'off');
  // only a changed exposure is written: a value being typed (or set by a
  // script before it clicks Set) is not overwritten by every poll
  if (typeof st.exposure_ms === 'number' && st.exposure_ms !== S.shownExposure) {
    S.shownExposure = st.exposure_ms;
    setIfIdle($('exposure'), st.exposure_ms);
  }
  setText($('dev-info'), `${st.width}×${st.height} · ${st.bit_depth}-bit`);
  setText($('viewers'), orDash(st.view ? st.view.viewers : null));
  renderSymptoms($('symptoms'), st.symptoms || [], true);
  renderConsumers($('consumers'), st.consumers || []);
}

// One line per subscriber of the camera's frames: name, policy, delivered
// and dropped.  Rebuilt only when something changed.
function renderConsumers(ul, list) {
  const key = JSON.stringify(list);
  if (ul.dataset.key === key) return;
  ul.dataset.key = key;
  ul.textContent = '';
  for (const c of list) {
    const li = document.createElement('li');
    const b = document.createElement('b');
    b.textContent = c.name;
    li.append(b, ` ${c.policy} · ${c.delivered} delivered · ${c.dropped} dropped`);
    if (c.dropped > 0) li.className = 'dropping';
    ul.append(li);
  }
}

function renderSymptoms(ul, list, rich) {
  const key = JSON.stringify(list);
  if (ul.dataset.key === key) return;
  ul.dataset.key = key;
  ul.textContent = '';
  for (const s of list) {
    const li = document.createElement('li');
    const b = document.createElement('b');
    b.textContent = s.symptom;
    li.append(b);
    if (rich) li.append(` ${fmt(s.value, 2)} (threshold ${fmt(s.threshold, 2)})`);
    if (s.action) {
      const d = document.createElement('div');
      d.textContent = s.action;
      li.append(d);
    }
    ul.append(li);
  }
}

async function statusLoop(gen) {
  while (gen === S.gen) {
    try {
      const st = await getJson(`/api/view/${encodeURIComponent(S.device)}/status`);
      if (gen !== S.gen) return;
      renderStatus(st);
      clearMessage('status');
    } catch (e) {
      if (e instanceof AuthError || gen !== S.gen) return;
      showMessage(e.message, 'status');
    }
    await sleep(STATUS_MS);
  }
}

function renderRecording(rs) {
  const state = RECORDING_STATES[rs.state] || String(rs.state);
  const parts = [state.toLowerCase()];
  if (rs.recording_id || rs.samples_recorded) {
    parts.push(`frames ${rs.samples_recorded}`, `${fmtBytes(rs.bytes_written)}`);
    if (rs.output_path) parts.push(rs.output_path);
  }
  if (rs.error_message) parts.push(rs.error_message);
  const el = $('rec-status');
  el.textContent = parts.join(' · ');
  el.title = el.textContent;
  if (rs.state === 2) S.recId = rs.recording_id || S.recId;
}

function fmtBytes(n) {
  n = Number(n);
  if (n < 1024) return `${n} B`;
  const u = ['KiB', 'MiB', 'GiB', 'TiB'];
  let k = -1;
  do {
    n /= 1024;
    k++;
  } while (n >= 1024 && k < u.length - 1);
  return `${n.toFixed(n < 10 ? 2 : 1)} ${u[k]}`;
}

async function recLoop(gen) {
  while (gen === S.gen && !S.recUnavailable) {
    await refreshRecording();
    await sleep(REC_MS);
  }
}

async function refreshRecording() {
  try {
    const rs = await rpc('StorageService', 'GetRecordingStatus', M.GetRecordingStatusRequest, {},
      M.RecordingStatus);
    renderRecording(rs);
  } catch (e) {
    if (e instanceof AuthError) return;
    if (e instanceof HttpError && e.status === 501) S.recUnavailable = true;
    $('rec-status').textContent = e.message;
  }
}

// ---- device and parameters ------------------------------------------------------------------

async function loadParams() {
  const dev = S.device;
  const fields = [['roi.x', 'roi-x'], ['roi.y', 'roi-y'], ['roi.width', 'roi-w'],
    ['roi.height', 'roi-h'], ['binning', 'binning']];
  for (const [name, id] of fields) {
    try {
      const pv = await rpc('HardwareService', 'GetParameter', M.GetParameterRequest,
        { device_id: dev, parameter_name: name }, M.ParameterValue);
      if (dev !== S.device) return;
      let v = pv.value;
      try {
        v = JSON.parse(v);
      } catch {
        /* a bare string */
      }
      $(id).value = String(v);
    } catch (e) {
      if (e instanceof AuthError) return;
      $(id).value = '';
    }
  }
  try {
    const ex = await rpc('HardwareService', 'GetExposure', M.GetExposureRequest, { device_id: dev },
      M.GetExposureResponse);
    if (dev === S.device) {
      S.shownExposure = ex.exposure_ms;
      setIfIdle($('exposure'), ex.exposure_ms);
    }
  } catch {
    /* the status poll fills it too */
  }
}

function resetFrames() {
  S.seq = 0;
  S.lastKey = '';
  S.cur = null;
  S.pending = null;
  S.received = 0;
  S.displayed = 0;
  S.dropped = 0;
  S.lastFn = null;
  S.recvTimes = [];
  S.paintTimes = [];
  S.latencies = [];
  S.timing = [];
  S.status = null;
  S.shownExposure = null;
  S.cx = null;
  S.cy = null;
  S.zoom = 1;
  S.cropOverride = null;
  S.cross = null;
  S.roi = null;
  S.line = null;
  S.lutKey = '';
  $('nosignal').hidden = false;
  $('frame-number').textContent = '—';
  const cv = $('image');
  cv.width = 1;
  cv.height = 1;
}

function selectDevice(id) {
  const info = S.devices.find((d) => d.id === id) || S.devices[0];
  if (!info) {
    showMessage('the daemon has no camera to view', 'devices');
    return;
  }
  if (S.abort) S.abort.abort();
  S.gen++;
  const gen = S.gen;
  S.device = info.id;
  S.devInfo = info;
  $('device').value = info.id;
  if (location.hash !== `#${info.id}`) history.replaceState(null, '', `#${info.id}`);
  document.title = `${info.id} · daq live view`;
  resetFrames();
  S.cx = info.width / 2;
  S.cy = info.height / 2;
  viewChanged();
  frameLoop(gen);
  statusLoop(gen);
  recLoop(gen);
  loadParams();
}

async function start() {
  S.gen++;
  let body;
  try {
    body = await getJson('/api/view/devices');
  } catch (e) {
    if (e instanceof AuthError) return;
    showMessage(e.message, 'devices');
    setTimeout(start, 2000);
    return;
  }
  S.loggedIn = true;
  $('login').hidden = true;
  clearMessage('devices');
  S.devices = body.devices || [];
  const sel = $('device');
  sel.textContent = '';
  for (const d of S.devices) {
    const o = document.createElement('option');
    o.value = d.id;
    o.textContent = d.name && d.name !== d.id ? `${d.id} — ${d.name}` : d.id;
    sel.append(o);
  }
  const want = decodeURIComponent(location.hash.replace(/^#/, ''));
  selectDevice(S.devices.some((d) => d.id === want) ? want : S.devices[0]?.id);
}

// ---- controls -----------------------------------------------------------------------------

function num(el, dflt) {
  const v = parseFloat(el.value);
  return Number.isFinite(v) ? v : dflt;
}

// Reads the display controls into S and re-maps the painted frame.
function readDisplayControls() {
  S.mode = $('mode').value in MODE_BIN ? $('mode').value : 'fast';
  S.maxFps = Math.max(0.1, num($('max-fps'), 30));
  S.lz4 = $('lz4').checked;
  S.contrastMode = $('contrast-mode').value;
  S.pctLow = num($('pct-low'), 0.1);
  S.pctHigh = num($('pct-high'), 99.9);
  S.gamma = num($('gamma'), 1) > 0 ? num($('gamma'), 1) : 1;
  S.colormap = $('colormap').value;
  S.saturation = $('saturation').checked;
  if (S.contrastMode === 'manual') {
    S.lo = num($('min'), S.lo);
    S.hi = num($('max'), S.hi);
  }
  remap();
}

function onWindowEdit() {
  // typing a window means "manual" (as in ImageJ's B&C)
  $('contrast-mode').value = 'manual';
  readDisplayControls();
}

function setParam(name, value) {
  return rpc('HardwareService', 'SetParameter', M.SetParameterRequest,
    { device_id: S.device, parameter_name: name, value: String(value) }, M.SetParameterResponse);
}

function wireControls() {
  for (const id of ['mode', 'max-fps', 'lz4', 'contrast-mode', 'pct-low', 'pct-high', 'gamma',
    'colormap', 'saturation'])
    $(id).addEventListener(id === 'max-fps' || id.startsWith('pct') || id === 'gamma' ? 'input' : 'change',
      readDisplayControls);
  $('mode').addEventListener('change', () => {
    if (S.abort) S.abort.abort();
  });
  $('min').addEventListener('input', onWindowEdit);
  $('max').addEventListener('input', onWindowEdit);
  $('tool').addEventListener('change', () => {
    S.tool = $('tool').value;
    drawProfile();
  });
  $('device').addEventListener('change', () => selectDevice($('device').value));
  window.addEventListener('hashchange', () => {
    const id = decodeURIComponent(location.hash.replace(/^#/, ''));
    if (S.loggedIn && id && id !== S.device && S.devices.some((d) => d.id === id)) selectDevice(id);
  });
  $('message-clear').addEventListener('click', () => showMessage('', ''));

  $('zoom-in').addEventListener('click', () => zoomAt(1.5));
  $('zoom-out').addEventListener('click', () => zoomAt(1 / 1.5));
  $('zoom-reset').addEventListener('click', () => resetView(true));

  $('btn-start').addEventListener('click', (ev) =>
    act(ev.currentTarget, async () => {
      const r = await rpc('HardwareService', 'StartStream', M.StartStreamRequest,
        { device_id: S.device }, M.StartStreamResponse);
      refused(r);
    }));
  $('btn-stop').addEventListener('click', (ev) =>
    act(ev.currentTarget, async () => {
      await rpc('HardwareService', 'StopStream', M.StopStreamRequest, { device_id: S.device },
        M.StopStreamResponse);
    }));
  $('exposure-set').addEventListener('click', (ev) =>
    act(ev.currentTarget, async () => {
      const v = parseFloat($('exposure').value);
      if (!Number.isFinite(v)) {
        showMessage(`exposure: "${$('exposure').value}" is not a number`);
        return;
      }
      const r = await rpc('HardwareService', 'SetExposure', M.SetExposureRequest,
        { device_id: S.device, exposure_ms: v }, M.SetExposureResponse);
      if (!refused(r)) {
        S.shownExposure = r.actual_exposure_ms;
        $('exposure').value = String(r.actual_exposure_ms);
      }
    }));
  $('exposure').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter') $('exposure-set').click();
  });
  $('params-apply').addEventListener('click', (ev) =>
    act(ev.currentTarget, async () => {
      const fields = [['roi.x', 'roi-x'], ['roi.y', 'roi-y'], ['roi.width', 'roi-w'],
        ['roi.height', 'roi-h'], ['binning', 'binning']];
      for (const [name, id] of fields) {
        const raw = $(id).value.trim();
        if (raw === '') continue;
        if (!/^\d+$/.test(raw)) {
          showMessage(`${name}: "${raw}" is not a whole number`);
          return;
        }
        const r = await setParam(name, raw);
        if (refused(r)) return;
      }
      await loadParams();
    }));

  $('rec-start').addEventListener('click', (ev) =>
    act(ev.currentTarget, async () => {
      const r = await rpc('StorageService', 'StartRecording', M.StartRecordingRequest,
        { name: $('rec-name').value.trim(), metadata: { devices: S.device } },
        M.StartRecordingResponse);
      if (refused(r)) return;
      S.recId = r.recording_id;
      await refreshRecording();
    }));
  $('rec-stop').addEventListener('click', (ev) =>
    act(ev.currentTarget, async () => {
      const req = S.recId ? { recording_id: S.recId } : {};
      // StopRecording returns once every buffered frame is on disk: with a
      // slow codec that takes seconds.
      $('rec-status').textContent = 'stopping · writing the buffered frames…';
      const r = await rpc('StorageService', 'StopRecording', M.StopRecordingRequest, req,
        M.StopRecordingResponse);
      if (refused(r)) return;
      S.recId = null;
      $('rec-status').textContent =
        `stopped · frames ${r.total_samples} · ${fmtBytes(r.file_size_bytes)} · ${r.output_path}`;
      $('rec-status').title = $('rec-status').textContent;
    }));

  // use_pool: the checkbox shows the daemon's state; a change asks first.
  $('use-pool').addEventListener('change', () => {
    const want = $('use-pool').checked;
    $('use-pool').checked = !want;
    openConfirm(want);
  });
  $('confirm-cancel').addEventListener('click', () => $('confirm').close('cancel'));
  $('confirm-ok').addEventListener('click', (ev) => {
    const want = $('confirm').dataset.want === 'true';
    $('confirm').close('ok');
    act(ev.currentTarget, async () => {
      const r = await setParam('acquisition.use_pool', want ? 'true' : 'false');
      if (!refused(r)) $('use-pool').checked = want;
    });
  });

  wirePointer();
  const ro = new ResizeObserver((entries) => {
    for (const e of entries) sizes.set(e.target, [e.contentRect.width, e.contentRect.height]);
    viewChanged();
    drawHistogram();
    drawProfile();
  });
  for (const id of ['viewport', 'overlay', 'histogram', 'profile']) ro.observe($(id));
}

function openConfirm(want) {
  const st = S.status || {};
  const dlg = $('confirm');
  dlg.dataset.want = String(want);
  $('confirm-title').textContent =
    `Turn acquisition.use_pool ${want ? 'ON' : 'OFF'} for ${S.device}?`;
  $('confirm-advice').textContent = st.rollback_advice || '(the daemon gave no rollback advice)';
  const syms = st.symptoms || [];
  renderSymptoms($('confirm-symptoms'), syms, false);
  if (!syms.length) {
    const li = document.createElement('li');
    li.textContent = 'none active';
    $('confirm-symptoms').append(li);
    $('confirm-symptoms').dataset.key = '';
  }
  $('confirm-ok').textContent = want ? 'Turn the pool on' : 'Turn the pool off';
  if (!dlg.open) dlg.showModal();
}

// ---- pointer: pan, zoom, crosshair, ROI, line --------------------------------------------------

function wirePointer() {
  const vp = $('viewport');
  let drag = null;
  const pos = (ev) => {
    const r = vp.getBoundingClientRect();
    return [ev.clientX - r.left, ev.clientY - r.top];
  };
  vp.addEventListener('contextmenu', (ev) => ev.preventDefault());
  vp.addEventListener('wheel', (ev) => {
    ev.preventDefault();
    const [sx, sy] = pos(ev);
    zoomAt(Math.exp(-ev.deltaY * (ev.deltaMode === 1 ? 0.05 : 0.0015)), sx, sy);
  }, { passive: false });
  vp.addEventListener('pointerdown', (ev) => {
    if (ev.target.closest('.zoombar')) return;
    const p = pos(ev);
    const f = toFull(...p);
    const pan = ev.button !== 0 || S.tool === 'crosshair';
    drag = { pan, start: p, cx: S.cx, cy: S.cy, moved: false, f };
    if (!pan && S.tool === 'roi') S.roi = { a: f, b: f };
    if (!pan && S.tool === 'line') S.line = { a: f, b: f };
    vp.setPointerCapture(ev.pointerId);
  });
  vp.addEventListener('pointermove', (ev) => {
    const p = pos(ev);
    const f = toFull(...p);
    S.hover = f;
    if (drag) {
      const dx = p[0] - drag.start[0];
      const dy = p[1] - drag.start[1];
      if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
      if (drag.pan && drag.moved) {
        vp.classList.add('panning');
        const s = scale();
        S.cx = drag.cx - dx / s;
        S.cy = drag.cy - dy / s;
        S.cropOverride = null;
        viewChanged();
      } else if (!drag.pan && S.tool === 'roi') {
        S.roi.b = f;
        updateRoiStats();
        drawOverlay();
      } else if (!drag.pan && S.tool === 'line') {
        S.line.b = f;
        drawOverlay();
        drawProfile();
      }
    }
    if (!S.cross) updateReadout();
  });
  const end = (ev) => {
    if (!drag) return;
    vp.classList.remove('panning');
    if (drag.pan && !drag.moved && ev.button === 0) {
      // a click without a drag pins (or unpins) the crosshair
      const f = drag.f;
      const same = S.cross && Math.floor(S.cross[0]) === Math.floor(f[0]) &&
        Math.floor(S.cross[1]) === Math.floor(f[1]);
      S.cross = same ? null : f;
      updateReadout();
      drawOverlay();
    }
    drag = null;
  };
  vp.addEventListener('pointerup', end);
  vp.addEventListener('pointercancel', end);
  vp.addEventListener('pointerleave', () => {
    S.hover = null;
  });
  vp.addEventListener('dblclick', () => resetView(true));
  vp.addEventListener('keydown', (ev) => {
    if (ev.key === '+' || ev.key === '=') zoomAt(1.5);
    else if (ev.key === '-') zoomAt(1 / 1.5);
    else if (ev.key === '0') resetView(true);
  });
}

// ---- login ------------------------------------------------------------------------------------

function wireLogin() {
  $('login').addEventListener('submit', (ev) => {
    ev.preventDefault();
    S.token = $('token').value.trim();
    S.triedToken = true;
    if (S.token) sessionStorage.setItem(TOKEN_KEY, S.token);
    else sessionStorage.removeItem(TOKEN_KEY);
    $('login-error').textContent = '';
    start();
  });
}

// ---- test hooks (window.daqView; synchronous) -------------------------------------------------

function state() {
  const f = S.cur;
  const l = latencyStats();
  const st = S.status;
  return {
    device: S.device,
    seq: f ? f.seq : 0,
    frame_number: f ? f.frame_number : null,
    full_width: f ? f.full_width : null,
    full_height: f ? f.full_height : null,
    x: f ? f.x : null,
    y: f ? f.y : null,
    width: f ? f.width : null,
    height: f ? f.height : null,
    bin: f ? f.bin : null,
    bit_depth: f ? f.bit_depth : null,
    trigger_index: f ? f.trigger_index : null,
    // a decimal string: exact (a Number would round Unix ns to 256 ns) and
    // JSON-safe (a BigInt is not)
    exposure_start_ns: f ? f.exposure_start_ns.toString() : null,
    received: S.received,
    displayed: S.displayed,
    dropped: S.dropped,
    fps: {
      camera: st && typeof st.camera_fps === 'number' ? st.camera_fps : null,
      delivered: rate(S.recvTimes),
      displayed: rate(S.paintTimes),
    },
    latency_ms: l,
    contrast: { mode: S.contrastMode, lo: S.lo, hi: S.hi, gamma: S.gamma },
    colormap: S.colormap,
    zoom: S.zoom,
    streaming: st ? !!st.streaming : null,
    logged_in: S.loggedIn,
  };
}

function set(o) {
  const put = (id, v) => {
    const el = $(id);
    if (el.type === 'checkbox') el.checked = !!v;
    else el.value = String(v);
  };
  if (o.mode !== undefined) put('mode', o.mode);
  if (o.maxFps !== undefined) put('max-fps', o.maxFps);
  if (o.lz4 !== undefined) put('lz4', o.lz4);
  if (o.pctLow !== undefined) put('pct-low', o.pctLow);
  if (o.pctHigh !== undefined) put('pct-high', o.pctHigh);
  if (o.gamma !== undefined) put('gamma', o.gamma);
  if (o.colormap !== undefined) put('colormap', o.colormap);
  if (o.saturation !== undefined) put('saturation', o.saturation);
  if (o.lo !== undefined || o.hi !== undefined) {
    // as typing in #min/#max: the window goes manual
    if (o.lo !== undefined) put('min', o.lo);
    if (o.hi !== undefined) put('max', o.hi);
    put('contrast-mode', 'manual');
  }
  if (o.contrastMode !== undefined) put('contrast-mode', o.contrastMode);
  if (o.mode !== undefined && o.mode !== S.mode && S.abort) S.abort.abort();
  readDisplayControls();
  if (o.crop) {
    const c = o.crop;
    S.cropOverride = { x: c.x, y: c.y, w: c.w, h: c.h };
    const [fw, fh] = fullSize();
    const [vw, vh] = vpSize();
    if (fw && fh) {
      const fit = Math.min(vw / fw, vh / fh);
      S.zoom = Math.min(vw / c.w, vh / c.h) / fit;
    }
    S.cx = c.x + c.w / 2;
    S.cy = c.y + c.h / 2;
    viewChanged();
  }
  if (o.zoom !== undefined || o.center) {
    S.cropOverride = o.crop ? S.cropOverride : null;
    if (o.zoom !== undefined) S.zoom = Number(o.zoom);
    if (o.center) [S.cx, S.cy] = o.center.map(Number);
    viewChanged();
  }
  return state();
}

function lutHook() {
  const f = S.cur;
  const bd = f ? f.bit_depth : S.devInfo ? S.devInfo.bit_depth : 16;
  const n = maxValue(bd) + 1;
  const out = new Array(n);
  const lut = S.lut;
  for (let v = 0; v < n; v++) {
    const w = lut && v < lut.length ? lut[v] : 0;
    out[v] = [w & 255, (w >>> 8) & 255, (w >>> 16) & 255];
  }
  return out;
}

window.daqView = {
  state,
  raw: (i, j) => rawAt(S.cur, i, j),
  valueAt,
  set,
  latencies: () => S.latencies.slice(),
  // not in the contract: per painted frame [daemon ms, transfer+decode ms,
  // wait-for-paint ms], the last 1000 (where the latency goes)
  timing: () => S.timing.slice(),
  lut: lutHook,
};

// ---- start ------------------------------------------------------------------------------------

wireControls();
wireLogin();
readDisplayControls();
setInterval(uiTick, UI_MS);
start();
