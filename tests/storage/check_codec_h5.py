"""tests/storage/check_codec_h5.py - the recorder's chunks as h5py sees them.

    check_codec_h5.py CODEC_H5WRITE OUTDIR

Runs codec_h5write (chunks encoded by src/storage/codec.c, written with
H5Dwrite_chunk), then:
  1. plain h5py, nothing imported but h5py: every frame of every codec and
     shape equals the raw truth the writer dumped; shapes, chunks, maxshape
     and the filters in each dataset's creation properties are the ones the
     design names (Debian's libhdf5 finds its plugin directory by itself);
  2. byte identity with the reference writers for the same frames: bslz4
     chunks against python-bitshuffle's compress_lz4 (plus the filter's
     12-byte header) and against a chunk hdf5plugin.Bitshuffle writes; lz4
     chunks against hdf5plugin.LZ4; gzip chunks against h5py's gzip at the
     same level (where HDF5 did compress: it stores a chunk that would grow
     uncompressed, with a filter mask, and we never do).
Exit status 0 only when everything matched.
"""
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np

CODECS = ("none", "gzip", "lz4", "bslz4")
SHAPES = {"u16": (5, 192, 256, np.uint16), "u8": (4, 96, 128, np.uint8),
          "odd": (3, 29, 37, np.uint16)}
GZIP_LEVEL = 5
BSHUF_MAJOR, BSHUF_MINOR = 0, 3  # bitshuffle 0.3.5, Debian's


def bshuf_block(elem_size):
    """bitshuffle's default block, in elements."""
    return max(8192 // elem_size // 8 * 8, 128)


def check_read(path, truth, failures):
    with h5py.File(path, "r") as f:
        for codec in CODECS:
            for name, (n, h, w, dtype) in SHAPES.items():
                ds = f[codec][name]
                where = f"{codec}/{name}"
                if ds.shape != (n, h, w) or ds.dtype != np.dtype(dtype):
                    failures.append(f"{where}: shape {ds.shape} {ds.dtype}")
                    continue
                if ds.chunks != (1, h, w) or ds.maxshape != (None, h, w):
                    failures.append(f"{where}: chunks {ds.chunks} maxshape {ds.maxshape}")
                for i in range(n):
                    if not np.array_equal(ds[i], truth[name][i]):
                        failures.append(f"{where}[{i}]: frame differs from the raw truth")
                plist = ds.id.get_create_plist()
                filters = [plist.get_filter(k)[:3] for k in range(plist.get_nfilters())]
                elem = np.dtype(dtype).itemsize
                want = {"none": [],
                        "gzip": [(h5py.h5z.FILTER_DEFLATE, h5py.h5z.FLAG_OPTIONAL,
                                  (GZIP_LEVEL,))],
                        "lz4": [(32004, h5py.h5z.FLAG_MANDATORY, (0,))],
                        "bslz4": [(32008, h5py.h5z.FLAG_MANDATORY,
                                   (BSHUF_MAJOR, BSHUF_MINOR, elem, bshuf_block(elem), 2))]}
                if filters != want[codec]:
                    failures.append(f"{where}: filters {filters}, want {want[codec]}")


def reference_chunks(tmp, name, frames, **create):
    """Chunks h5py + a reference filter writes for frames: [(mask, bytes)]."""
    path = os.path.join(tmp, f"ref-{name}.h5")
    with h5py.File(path, "w") as f:
        f.create_dataset("d", data=frames, chunks=(1,) + frames.shape[1:], **create)
    with h5py.File(path, "r") as f:
        ds = f["d"]
        return [ds.id.read_direct_chunk((i, 0, 0)) for i in range(frames.shape[0])]


def check_bytes(path, truth, tmp, failures, counts):
    import bitshuffle
    import hdf5plugin

    with h5py.File(path, "r") as f:
        for name, frames in truth.items():
            refs = {
                "bslz4": reference_chunks(tmp, f"bslz4-{name}", frames,
                                          **hdf5plugin.Bitshuffle(nelems=0, cname="lz4")),
                "lz4": reference_chunks(tmp, f"lz4-{name}", frames, **hdf5plugin.LZ4()),
                "gzip": reference_chunks(tmp, f"gzip-{name}", frames, compression="gzip",
                                         compression_opts=GZIP_LEVEL),
            }
            for codec, ref in refs.items():
                ds = f[codec][name]
                for i in range(frames.shape[0]):
                    mask, ours = ds.id.read_direct_chunk((i, 0, 0))
                    where = f"{codec}/{name}[{i}]"
                    if mask != 0:
                        failures.append(f"{where}: filter mask {mask}")
                    ref_mask, theirs = ref[i]
                    if codec == "gzip" and ref_mask != 0:
                        counts["gzip stored raw by HDF5 (not compared)"] += 1
                        continue
                    if ours != theirs:
                        failures.append(f"{where}: {len(ours)} bytes differ from the reference "
                                        f"writer's {len(theirs)}")
                    else:
                        counts[f"{codec} identical to the reference writer"] += 1
                    if codec == "bslz4":
                        frame = np.ascontiguousarray(frames[i]).reshape(-1)
                        blocks = bitshuffle.compress_lz4(frame).tobytes()
                        header = (frame.nbytes.to_bytes(8, "big")
                                  + (bshuf_block(frame.itemsize) * frame.itemsize)
                                  .to_bytes(4, "big"))
                        if ours != header + blocks:
                            failures.append(f"{where}: differs from bitshuffle.compress_lz4")
                        else:
                            counts["bslz4 identical to bitshuffle.compress_lz4"] += 1


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    writer, outdir = sys.argv[1], sys.argv[2]
    shutil.rmtree(outdir, ignore_errors=True)
    os.makedirs(outdir)
    path = os.path.join(outdir, "codecs.h5")
    subprocess.run([writer, "write", path], check=True, timeout=120)
    truth = {}
    for name, (n, h, w, dtype) in SHAPES.items():
        raw = np.fromfile(f"{path}.{name}.raw", dtype=dtype)
        if raw.size != n * h * w:
            sys.exit(f"{name}: {raw.size} raw elements, want {n * h * w}")
        truth[name] = raw.reshape(n, h, w)

    failures = []
    check_read(path, truth, failures)
    from collections import Counter
    counts = Counter()
    check_bytes(path, truth, outdir, failures, counts)
    for what, k in sorted(counts.items()):
        print(f"{k:3d} chunks: {what}")
    if failures:
        print(f"{len(failures)} failures:", *failures, sep="\n  ")
        sys.exit(1)
    print("every frame of every codec read back by h5py equal to what was written")


if __name__ == "__main__":
    main()
