#!/usr/bin/python3
"""A group recording in a real daqd (issue 15 deliverable 5, ADR 0011
decision 6: "a group recording writes matched frames with one index").

Two sim cameras (64x64) in external_edge mode on one simulated line, "left"
pulsing it at 200 Hz (trigger.line_hz), "right" missing every 10th pulse it
sees (fault.trigger_miss_every), both in the [[sync_groups]] group "pair".
StartRecording with metadata sync_group = "pair" (the Python client's
record()), ~1.5 s, StopRecording; then h5py reads the file:

  * /entry/sync/pair/trigger_index is exactly numpy's intersection of the
    members' recorded trigger_index datasets, ascending;
  * /entry/sync/pair/left and /right are rows whose frames carry that index;
  * unmatched_left is the pulses "right" missed inside the common window
    (its gaps, each a single pulse, about one in ten), unmatched_right is 0,
    and per member triggered = matched + unmatched + edge;
  * an unknown group is refused with the list of groups, and so is a
    "devices" list that differs from the group's members;
  * a recording that ends by its max_frames writes the sets as well.

usage: test_group_recording.py DAQD
"""
import os
import shutil
import signal
import sys
import tempfile
import time
import unittest

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python"))
from daq_client import Client, RecordingError  # noqa: E402
from daqd_harness import Daemon, sync_pair_config, wait_for  # noqa: E402

DAQD = None
MISS_EVERY = 10

CONFIG = sync_pair_config(MISS_EVERY, extra="""
[storage]
root = "%s"
compression = "none"
""")


def attr(v):
    return v.decode() if isinstance(v, bytes) else v


class GroupRecording(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="daq-grec-", dir="/dev/shm")
        cls.d = Daemon(DAQD, CONFIG % cls.root).start()
        cls.c = Client("127.0.0.1:%d" % cls.d.grpc_port, timeout=15.0)

    @classmethod
    def tearDownClass(cls):
        cls.c.close()
        cls.d.signal(signal.SIGTERM)
        code, _ = cls.d.wait(15)
        shutil.rmtree(cls.root, ignore_errors=True)
        if code != 0:
            raise AssertionError("daqd exited %d\n%s" % (code, cls.d.log()))

    def refused(self, metadata):
        with self.assertRaises(RecordingError) as cm:
            self.c.record("bad", metadata=metadata)
        return str(cm.exception)

    def test_group_recording(self):
        # refusals first: they leave no recording behind
        self.assertEqual(self.refused({"sync_group": "nope"}),
                         "Unknown sync group 'nope' (groups: pair)")
        self.assertEqual(self.refused({"sync_group": "pair", "devices": "left"}),
                         "Metadata devices 'left' differ from sync group 'pair' (left, right)")

        # both members stream (autostart, armed on the line) before recording
        r = wait_for(lambda: self.record_or_none({"sync_group": "pair",
                                                  "devices": "right,left"}), timeout=10)
        self.assertIsNotNone(r, self.d.log())
        time.sleep(1.5)
        self.c.stop_recording()
        self.assertIn("group recording matched", self.d.log())

        with h5py.File(r["output_path"], "r") as f:
            e = f["entry"]
            self.assertEqual(attr(e.attrs["sync_group"]), "pair")
            self.assertEqual(attr(e.attrs["devices"]), "left,right")  # the group's order
            ti = {d: e[d]["trigger_index"][...] for d in ("left", "right")}
            n_data = {d: e[d]["data"].shape[0] for d in ("left", "right")}
            flags = {d: e[d]["flags"][...] for d in ("left", "right")}
            g = e["sync/pair"]
            got = g["trigger_index"][...]
            rank = g["rank"][...]
            rows = {d: g[d][...] for d in ("left", "right")}
            at = {k: attr(v) for k, v in g.attrs.items()}

        for d in ("left", "right"):
            self.assertEqual(ti[d].shape, (n_data[d],))
            self.assertTrue(np.all(ti[d] > 0), d)  # every frame answers a pulse
            self.assertTrue(np.all((flags[d] & 16) == 0), d)  # no surplus frames
            self.assertTrue(np.all(np.diff(ti[d].astype(np.int64)) > 0), d)  # one frame per pulse
        # "left" misses nothing; "right" misses single pulses, one in ten
        self.assertTrue(np.all(np.diff(ti["left"].astype(np.int64)) == 1))
        gaps = np.diff(ti["right"].astype(np.int64)) - 1
        self.assertTrue(set(np.unique(gaps)) <= {0, 1}, np.unique(gaps))
        seen = len(ti["right"]) + int(gaps.sum())
        self.assertLessEqual(abs(int(gaps.sum()) - seen // MISS_EVERY), 1, (gaps.sum(), seen))
        self.assertGreaterEqual(int(gaps.sum()), 15)

        # the matched sets: exactly numpy's intersection, ascending
        want = np.intersect1d(ti["left"], ti["right"])
        self.assertGreaterEqual(len(want), 200)  # ~1.5 s at 200 Hz
        self.assertEqual(got.dtype, np.uint64)
        self.assertTrue(np.array_equal(got, want))
        self.assertTrue(np.all(rank == 0))
        for d in ("left", "right"):
            self.assertEqual(rows[d].dtype, np.uint64)
            self.assertTrue(np.all(rows[d] < n_data[d]), d)
            self.assertTrue(np.array_equal(ti[d][rows[d]], want), d)
        self.assertEqual(at["matched"], len(want))
        self.assertEqual(at["devices"], "left,right")

        # unmatched: the pulses "right" missed inside the common window
        lo = max(ti["left"][0], ti["right"][0])
        hi = min(ti["left"][-1], ti["right"][-1])
        missed = np.setdiff1d(ti["left"], ti["right"])
        inside = missed[(missed >= lo) & (missed <= hi)]
        self.assertEqual(len(inside), int(gaps.sum()))  # "left" covers right's span
        self.assertEqual(at["unmatched_left"], len(inside))
        self.assertEqual(at["unmatched_right"], 0)
        self.assertEqual(at["edge_left"], len(missed) - len(inside))
        self.assertEqual(at["edge_right"], len(np.setdiff1d(ti["right"], ti["left"])))
        for d in ("left", "right"):
            self.assertEqual(at["triggered_" + d], len(ti[d]))
            self.assertEqual(at["extra_" + d], 0)
            self.assertEqual(at["triggered_" + d],
                             at["matched"] + at["unmatched_" + d] + at["edge_" + d])

    def test_ended_by_its_frame_limit(self):
        # a recording that finalises by itself (max_frames) writes the sets
        # too; the client's own arguments this time (sync_group=, frames=)
        r = wait_for(lambda: self.record_or_none(None, sync_group="pair", frames=60),
                     timeout=10)
        self.assertIsNotNone(r, self.d.log())
        st = self.c.wait_recording(r["recording_id"], timeout=15)
        self.assertEqual(st["state"], "RECORDING_IDLE", st)
        with h5py.File(r["output_path"], "r") as f:
            ti = {d: f["entry"][d]["trigger_index"][...] for d in ("left", "right")}
            g = f["entry/sync/pair"]
            got = g["trigger_index"][...]
            rows = {d: g[d][...] for d in ("left", "right")}
            matched = g.attrs["matched"]
        self.assertEqual(len(ti["left"]), 60)
        self.assertEqual(len(ti["right"]), 60)
        want = np.intersect1d(ti["left"], ti["right"])
        self.assertGreaterEqual(len(want), 45)  # the limit cuts "right" ~6 pulses later
        self.assertTrue(np.array_equal(got, want))
        self.assertEqual(matched, len(want))
        for d in ("left", "right"):
            self.assertTrue(np.array_equal(ti[d][rows[d]], want), d)

    def record_or_none(self, metadata, **kw):
        """StartRecording, or None while a member is not streaming yet or the
        other test's recording is still closing."""
        try:
            return self.c.record("grp", metadata=metadata, **kw)
        except RecordingError as e:
            if "is not streaming" not in str(e) and "already in progress" not in str(e):
                raise
            return None


if __name__ == "__main__":
    DAQD = sys.argv.pop(1)
    unittest.main()
