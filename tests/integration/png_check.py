"""A pure-stdlib PNG reader for the tests: parses the chunks, checks every
CRC, inflates the IDAT stream, undoes all five filter types (None, Sub, Up,
Average, Paeth) and returns width, height and the pixels as RGB tuples.

Supports 8-bit greyscale, RGB, palette, grey+alpha and RGBA, no interlace:
enough to validate what daqd writes, and strict, so a broken file fails.

    w, h, pixels = png_check.read("rss.png")   # pixels[y][x] = (r, g, b)
"""
import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


class PngError(ValueError):
    pass


def chunks(data):
    if data[:8] != SIGNATURE:
        raise PngError("not a PNG: bad signature")
    at = 8
    while at < len(data):
        if at + 12 > len(data):
            raise PngError("truncated chunk header at %d" % at)
        (length,) = struct.unpack(">I", data[at:at + 4])
        ctype = data[at + 4:at + 8]
        body = data[at + 8:at + 8 + length]
        if len(body) != length or at + 12 + length > len(data):
            raise PngError("truncated %r chunk" % ctype)
        (crc,) = struct.unpack(">I", data[at + 8 + length:at + 12 + length])
        if zlib.crc32(ctype + body) & 0xFFFFFFFF != crc:
            raise PngError("bad CRC in %r chunk" % ctype)
        yield ctype, body
        at += 12 + length
        if ctype == b"IEND":
            if at != len(data):
                raise PngError("bytes after IEND")
            return
    raise PngError("no IEND chunk")


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def unfilter(raw, width, height, bpp):
    stride = width * bpp
    if len(raw) != height * (stride + 1):
        raise PngError("image data is %d bytes, expected %d" % (len(raw), height * (stride + 1)))
    rows, prev = [], bytearray(stride)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 0:
                pass
            elif ftype == 1:
                line[i] = (line[i] + a) & 0xFF
            elif ftype == 2:
                line[i] = (line[i] + b) & 0xFF
            elif ftype == 3:
                line[i] = (line[i] + ((a + b) >> 1)) & 0xFF
            elif ftype == 4:
                line[i] = (line[i] + paeth(a, b, c)) & 0xFF
            else:
                raise PngError("row %d: unknown filter type %d" % (y, ftype))
        rows.append(bytes(line))
        prev = line
    return rows


def read_bytes(data):
    header, palette, idat = None, None, b""
    for ctype, body in chunks(data):
        if header is None and ctype != b"IHDR":
            raise PngError("first chunk is %r, not IHDR" % ctype)
        if ctype == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif ctype == b"PLTE":
            if len(body) % 3:
                raise PngError("PLTE length not a multiple of 3")
            palette = [tuple(body[i:i + 3]) for i in range(0, len(body), 3)]
        elif ctype == b"IDAT":
            idat += body
    width, height, depth, ctype_, comp, filt, interlace = header
    if depth != 8 or ctype_ not in CHANNELS or comp or filt or interlace:
        raise PngError("unsupported PNG: depth %d colour type %d interlace %d"
                       % (depth, ctype_, interlace))
    if ctype_ == 3 and not palette:
        raise PngError("palette image without PLTE")
    if width == 0 or height == 0:
        raise PngError("empty image")
    bpp = CHANNELS[ctype_]
    rows = unfilter(zlib.decompress(idat), width, height, bpp)
    pixels = []
    for row in rows:
        if ctype_ == 3:
            try:
                pixels.append([palette[v] for v in row])
            except IndexError:
                raise PngError("palette index out of range")
        elif ctype_ in (0, 4):
            pixels.append([(row[i],) * 3 for i in range(0, len(row), bpp)])
        else:
            pixels.append([tuple(row[i:i + 3]) for i in range(0, len(row), bpp)])
    return width, height, pixels


def read(path):
    with open(path, "rb") as f:
        return read_bytes(f.read())


def _self_test():
    """Encodes a small RGB image with each filter type and reads it back."""
    w, h = 5, 4
    img = [[((x * 40 + y) & 255, (y * 60) & 255, (x * y * 7) & 255) for x in range(w)]
           for y in range(h)]
    for ftype in range(5):
        raw, prev = b"", bytes(w * 3)
        for y in range(h):
            line = bytes(v for px in img[y] for v in px)
            out = bytearray()
            for i in range(len(line)):
                a = line[i - 3] if i >= 3 else 0
                b = prev[i]
                c = prev[i - 3] if i >= 3 else 0
                pred = [0, a, b, (a + b) >> 1, paeth(a, b, c)][ftype]
                out.append((line[i] - pred) & 0xFF)
            raw += bytes([ftype]) + bytes(out)
            prev = line

        def chunk(t, b):
            return struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b))
        data = (SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
        assert read_bytes(data) == (w, h, img), ftype
        bad = bytearray(data)
        bad[-20] ^= 1
        try:
            read_bytes(bytes(bad))
        except (PngError, zlib.error):
            pass
        else:
            raise AssertionError("a flipped bit went unnoticed")


if __name__ == "__main__":
    _self_test()
    print("png_check: self test passed")
