#!/usr/bin/python3
"""Cross-language check of daq's FrameData encoding (ctest frame_encode.python).

What a Python client of rust-daq's API would do with our stream messages:
generate stubs from proto/daq.proto with protoc (into a temp dir), parse the
messages frame_encode_dump wrote, LZ4-decompress `data` the way lz4_flex's
decompress_size_prepended framing is read (4-byte LE length, raw block), and
compare the pixels with numpy: PREVIEW/FAST must equal the truncating 2x2 /
4x4 block means of the FULL image with the remainder cropped; 8-bit frames
pass through unchanged.  Also checks every metadata field and the presence
of the optional ones.

usage: frame_encode_python.py DUMP_PROGRAM PROTO_DIR
Run with /usr/bin/python3 (Debian's protobuf, lz4 and numpy).
"""
import json
import os
import subprocess
import sys
import tempfile

import lz4.block
import numpy as np


def stubs(proto_dir, out):
    subprocess.run(["protoc", "--python_out=" + out, "-I", proto_dir,
                    os.path.join(proto_dir, "daq.proto")], check=True)
    sys.path.insert(0, out)
    import daq_pb2  # noqa: E402 (generated just now)
    return daq_pb2


def pixels(msg, pb):
    data = msg.data
    if msg.compression == pb.COMPRESSION_LZ4:
        n = int.from_bytes(data[:4], "little")
        assert n == msg.uncompressed_size, (n, msg.uncompressed_size)
        data = lz4.block.decompress(data[4:], uncompressed_size=n)
        assert len(data) == n
    else:
        assert msg.compression == pb.COMPRESSION_NONE
        assert msg.uncompressed_size == 0, "implicit zero must be absent for raw data"
    dtype = np.dtype("<u2") if msg.bit_depth > 8 else np.uint8
    return np.frombuffer(data, dtype=dtype).reshape(msg.height, msg.width)


def block_mean(img, f):
    h, w = img.shape[0] // f * f, img.shape[1] // f * f
    blocks = img[:h, :w].astype(np.uint32).reshape(h // f, f, w // f, f)
    return (blocks.sum(axis=(1, 3)) // (f * f)).astype(np.uint16)


def check_meta(name, msg, entry, pb):
    assert msg.device_id == "camera_0", name
    assert msg.frame_number == entry["frame_number"], name
    assert msg.timestamp_ns == 1764000000123456789, name
    assert msg.bit_depth == entry["bit_depth"], name
    assert not msg.HasField("gain_mode") and not msg.HasField("trigger_mode"), name
    assert len(msg.metadata) == 0, name
    want_lz4 = entry["lz4"]
    assert msg.compression == (pb.COMPRESSION_LZ4 if want_lz4 else pb.COMPRESSION_NONE), name
    if entry["with_meta"]:
        assert (msg.roi_x, msg.roi_y) == (4, 2), name
        assert msg.HasField("metrics"), name
        m = msg.metrics
        assert (m.current_fps, m.frames_sent, m.frames_dropped, m.avg_latency_ms) == \
            (30.0, 1, 0, 0.5), name
    else:
        assert (msg.roi_x, msg.roi_y) == (0, 0), name
        assert not msg.HasField("metrics"), name
    # binning is never rescaled: the 16-bit source says 1 x 1, the 8-bit one
    # is at the neutral 1 x 1 of a cleared frame -- both present
    assert msg.HasField("binning_x") and msg.binning_x == 1, name
    assert msg.HasField("binning_y") and msg.binning_y == 1, name
    if entry["bit_depth"] > 8:  # the 16-bit source has exposure and temperature
        assert msg.HasField("exposure_ms") and msg.exposure_ms == 12.5, name
        assert msg.HasField("temperature_c") and msg.temperature_c == -20.0, name
    else:
        for field in ("exposure_ms", "temperature_c"):
            assert not msg.HasField(field), (name, field)


def main():
    dump, proto_dir = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp:
        pb = stubs(proto_dir, os.path.join(tmp))
        out = os.path.join(tmp, "out")
        os.mkdir(out)
        subprocess.run([dump, out], check=True)
        with open(os.path.join(out, "manifest.jsonl")) as f:
            entries = [json.loads(line) for line in f]
        msgs = {}
        for e in entries:
            msg = pb.FrameData()
            with open(os.path.join(out, e["file"]), "rb") as f:
                msg.ParseFromString(f.read())
            check_meta(e["file"], msg, e, pb)
            msgs[e["file"]] = (e, msg, pixels(msg, pb))

        full = msgs["full_raw.pb"][2]
        assert full.shape == (771, 1030) and full.dtype == np.dtype("<u2")
        assert np.array_equal(msgs["full_lz4.pb"][2], full)
        mono8 = msgs["mono8_full_raw.pb"][2]
        assert mono8.shape == (771, 1030) and mono8.dtype == np.uint8
        factor = {0: 1, 1: 2, 2: 4}
        checked = 0
        for name, (e, msg, img) in sorted(msgs.items()):
            f = factor[e["quality"]]
            if e["bit_depth"] <= 8:  # never downsampled: the FULL 8-bit image
                assert np.array_equal(img, mono8), name
            elif f > 1:
                want = block_mean(full, f)
                assert img.shape == (771 // f, 1030 // f), (name, img.shape)
                assert np.array_equal(img, want), name
            checked += 1
        print("frame_encode.python: %d messages parsed, decompressed and compared" % checked)
        assert checked == 8, checked


if __name__ == "__main__":
    main()
