// colormap.js - raw camera value -> screen colour, as one lookup table.
//
// Why a LUT: a 16-bit frame has at most 65,536 distinct values, a 512x512
// payload 262,144 pixels and a 2048x2048 one 4.2 M, so mapping each value
// once (65,536 pow() calls, ~1 ms) and then each pixel by one typed-array
// load and store (~1 ms per 512x512) beats any per-pixel arithmetic.  The
// table holds packed RGBA words in ImageData's byte order (little-endian:
// 0xAABBGGRR), so a frame is mapped straight into an ImageData's Uint32
// view.  It is rebuilt only when the window, gamma, colormap, saturation
// flag or bit depth change (equalize: every frame, its cdf changes).
//
// The contract's mapping (docs/live-view.md; the browser tests compare
// canvas pixels with it, rounding included):
//   t   = clamp((v - lo) / (hi - lo), 0, 1)    (hi <= lo: t = v > lo ? 1 : 0)
//   out = round(255 * t^(1/gamma))             (Math.round: halves round up)
//   equalize: t = cdf(v) = #pixels <= v / #pixels, then the same out
//   gray r=g=b=out; inverted 255-out; uniform UNIFORM[out]
//   saturation on: v >= 2^bit_depth - 1 -> pure red.
//
// The "uniform" map is computed here at load time, not pasted from any
// published table: CIELAB L* rises linearly from 15 to 95 (so equal steps in
// value are equal steps in perceived lightness, and the map prints sensibly
// in grey) while the hue angle turns from blue-violet (300 deg) through
// cyan and green to yellow (95 deg); the chroma wanted is 60, reduced by
// bisection until the colour fits in sRGB (Lab D65 -> XYZ -> linear sRGB ->
// sRGB transfer curve) and then smoothed (at most 0.2 per step, lowering
// only) so the gamut boundary's corners do not show as bands.  Dark blue-violet and light yellow are where sRGB
// has room for chroma, so the ends stay saturated and the middle (where
// sRGB is narrow at a fixed lightness) dims a little.

const L0 = 15;
const L1 = 92;
const H0 = 300;
const H1 = 100;
const C_WANT = 60;
const C_SLOPE = 0.2; /* chroma units per step of 256 */

// Lab (D65) -> linear sRGB, components unclamped.
function labToLinear(L, a, b) {
  const fy = (L + 16) / 116;
  const fx = fy + a / 500;
  const fz = fy - b / 200;
  const d = 6 / 29;
  const finv = (t) => (t > d ? t * t * t : 3 * d * d * (t - 4 / 29));
  const X = 0.95047 * finv(fx);
  const Y = 1.0 * finv(fy);
  const Z = 1.08883 * finv(fz);
  return [
    3.2404542 * X - 1.5371385 * Y - 0.4985314 * Z,
    -0.969266 * X + 1.8760108 * Y + 0.041556 * Z,
    0.0556434 * X - 0.2040259 * Y + 1.0572252 * Z,
  ];
}

function inGamut(rgb) {
  const eps = 1e-9;
  return rgb.every((c) => c >= -eps && c <= 1 + eps);
}

function encodeSrgb(c) {
  const x = Math.min(1, Math.max(0, c));
  const e = x <= 0.0031308 ? 12.92 * x : 1.055 * Math.pow(x, 1 / 2.4) - 0.055;
  return Math.round(255 * e);
}

// The largest chroma <= want that fits in sRGB at lightness L, hue hDeg.
function maxChroma(L, want, hDeg) {
  const h = (hDeg * Math.PI) / 180;
  const fits = (C) => inGamut(labToLinear(L, C * Math.cos(h), C * Math.sin(h)));
  if (fits(want)) return want;
  let lo = 0;
  let hi = want;
  for (let i = 0; i < 30; i++) {
    const mid = (lo + hi) / 2;
    if (fits(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

function makeUniform() {
  const L = (i) => L0 + ((L1 - L0) * i) / 255;
  const H = (i) => H0 + ((H1 - H0) * i) / 255;
  // Chroma: the gamut's limit, then only lowered so that it changes by at
  // most C_SLOPE per step: the limit has corners (where sRGB's boundary
  // turns) that would show as bands; a lower envelope stays in gamut.
  const C = new Float64Array(256);
  for (let i = 0; i < 256; i++) C[i] = maxChroma(L(i), C_WANT, H(i));
  for (let i = 1; i < 256; i++) C[i] = Math.min(C[i], C[i - 1] + C_SLOPE);
  for (let i = 254; i >= 0; i--) C[i] = Math.min(C[i], C[i + 1] + C_SLOPE);
  const t = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const h = (H(i) * Math.PI) / 180;
    const rgb = labToLinear(L(i), C[i] * Math.cos(h), C[i] * Math.sin(h)).map(encodeSrgb);
    t.set(rgb, i * 3);
  }
  return t;
}

// 256 x [r, g, b] of the perceptually uniform map.
export const UNIFORM = makeUniform();

export const COLORMAPS = ['gray', 'inverted', 'uniform'];

const pack = (r, g, b) => ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;
export const SATURATED = pack(255, 0, 0);

// The 256 packed colours of a colormap, indexed by out.
export function palette(name) {
  const p = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    if (name === 'inverted') p[i] = pack(255 - i, 255 - i, 255 - i);
    else if (name === 'uniform') p[i] = pack(UNIFORM[i * 3], UNIFORM[i * 3 + 1], UNIFORM[i * 3 + 2]);
    else p[i] = pack(i, i, i);
  }
  return p;
}

// out for one value (the contract's formula; the LUT uses the same code).
export function windowOut(v, lo, hi, gamma) {
  let t;
  if (hi > lo) t = Math.min(1, Math.max(0, (v - lo) / (hi - lo)));
  else t = v > lo ? 1 : 0;
  return Math.round(255 * (gamma === 1 ? t : Math.pow(t, 1 / gamma)));
}

// Fills lut (Uint32Array, one entry per possible raw value: 256 for 1-byte
// pixels, 65,536 for 2-byte ones, so an out-of-range 12-bit value still
// maps) for the window lo..hi, or, when cdf (Float64Array over values) is
// given, for histogram equalisation.  maxv = 2^bit_depth - 1.
export function buildLut(lut, { maxv, lo, hi, gamma, colormap, saturation, cdf }) {
  const pal = palette(colormap);
  const g = gamma > 0 && Number.isFinite(gamma) ? gamma : 1;
  const n = lut.length;
  if (cdf) {
    for (let v = 0; v < n; v++) {
      const t = v < cdf.length ? cdf[v] : 1;
      lut[v] = pal[Math.round(255 * (g === 1 ? t : Math.pow(t, 1 / g)))];
    }
  } else if (hi > lo) {
    // below lo: out 0, above hi: out 255, between: the formula per value
    const a = Math.max(0, Math.min(n, Math.floor(lo) + 1));
    const b = Math.max(0, Math.min(n, Math.ceil(hi)));
    lut.fill(pal[0], 0, a);
    const span = hi - lo;
    for (let v = a; v < b; v++) {
      const t = (v - lo) / span;
      lut[v] = pal[Math.round(255 * (g === 1 ? t : Math.pow(t, 1 / g)))];
    }
    lut.fill(pal[255], b, n);
  } else {
    const a = Math.max(0, Math.min(n, Math.floor(lo) + 1));
    lut.fill(pal[0], 0, a);
    lut.fill(pal[255], a, n);
  }
  if (saturation && maxv < n) lut.fill(SATURATED, maxv, n);
  return lut;
}

// Histogram helpers.  hist: Uint32Array over raw values, n: pixel count.

export function histMinMax(hist) {
  let lo = 0;
  while (lo < hist.length - 1 && hist[lo] === 0) lo++;
  let hi = hist.length - 1;
  while (hi > 0 && hist[hi] === 0) hi--;
  return hi < lo ? [0, 0] : [lo, hi];
}

// The p-th percentile (0..100) of the pixel values: the smallest v with
// #pixels <= v >= max(1, p/100 * n) (p = 0: the minimum, p = 100: the maximum).
export function histPercentile(hist, n, p) {
  const want = Math.max(1, (Math.min(100, Math.max(0, p)) / 100) * n);
  let acc = 0;
  for (let v = 0; v < hist.length; v++) {
    acc += hist[v];
    if (acc >= want) return v;
  }
  return hist.length - 1;
}

export function histCdf(hist, n, out) {
  let acc = 0;
  for (let v = 0; v < hist.length; v++) {
    acc += hist[v];
    out[v] = n > 0 ? acc / n : 0;
  }
  return out;
}
