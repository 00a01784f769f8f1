// lz4.js - decoder of one raw LZ4 block (the view's lz4=1 frame payload:
// no frame header, no length prefix; the decoded size is known from the
// frame header: width * height * bytes_per_pixel).
//
// Written from the block format: a sequence is a token byte (high nibble:
// literal count, low nibble: match length - 4; a nibble of 15 continues in
// following bytes, each added, until one is < 255), the literals, a 2-byte
// little-endian offset (1..65535 back into the output) and the match, which
// may overlap its own output (offset < length repeats a pattern).  The last
// sequence is literals only and ends the input.
//
// Speed: a 512x512x16 frame is 512 KiB and a 2048x2048 one 8 MiB; copying
// byte by byte in JS costs ~1-2 ns/byte once warm (40 ns cold), so literal
// runs over 16 bytes and matches over 32 go through TypedArray.set /
// copyWithin (memcpy; an overlapping match by doubling copies), and only
// short ones use the loop (measured: 100 KB of zeros 4 ms -> 0.24 ms).  Every offset and length is
// checked against both buffers: a corrupt block throws instead of reading
// or writing out of bounds (typed arrays would not fault, they would
// silently produce a wrong image).

export function lz4DecodeBlock(src, dst) {
  const srcLen = src.length;
  const dstLen = dst.length;
  let s = 0;
  let d = 0;
  for (;;) {
    if (s >= srcLen) throw new Error('lz4: truncated block (no token)');
    const token = src[s++];
    // literals
    let lit = token >>> 4;
    if (lit === 15) {
      let b;
      do {
        if (s >= srcLen) throw new Error('lz4: truncated literal length');
        b = src[s++];
        lit += b;
      } while (b === 255);
    }
    if (lit > 0) {
      if (s + lit > srcLen) throw new Error('lz4: literals run past the input');
      if (d + lit > dstLen) throw new Error('lz4: literals run past the output');
      if (lit > 16) {
        dst.set(src.subarray(s, s + lit), d);
      } else {
        for (let k = 0; k < lit; k++) dst[d + k] = src[s + k];
      }
      s += lit;
      d += lit;
    }
    if (s === srcLen) break; // the last sequence: literals only
    // match
    if (s + 2 > srcLen) throw new Error('lz4: truncated match offset');
    const off = src[s] | (src[s + 1] << 8);
    s += 2;
    if (off === 0 || off > d) throw new Error(`lz4: bad match offset ${off} at output ${d}`);
    let mlen = token & 15;
    if (mlen === 15) {
      let b;
      do {
        if (s >= srcLen) throw new Error('lz4: truncated match length');
        b = src[s++];
        mlen += b;
      } while (b === 255);
    }
    mlen += 4;
    if (d + mlen > dstLen) throw new Error('lz4: match runs past the output');
    let from = d - off;
    if (mlen <= 32) {
      const end = d + mlen;
      while (d < end) dst[d++] = dst[from++];
    } else {
      // Overlap (off < mlen) repeats the last off bytes: copy what is already
      // there, doubling; d - from stays a multiple of off, so each copy
      // continues the period exactly (a run of zeros costs log2(n) memcpys).
      while (mlen > 0) {
        const n = Math.min(mlen, d - from);
        dst.copyWithin(d, from, from + n);
        d += n;
        mlen -= n;
      }
    }
  }
  if (d !== dstLen) throw new Error(`lz4: block decodes to ${d} bytes, expected ${dstLen}`);
  return d;
}
