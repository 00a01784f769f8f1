#!/usr/bin/python3
"""Strict input (issue 12, deliverable 10) against a real daqd: a name with
a NUL, a control character or DEL is INVALID_ARGUMENT and never reaches a
device (protobuf-c would hand "cam0\\0x" over as "cam0"); an enum value the
proto does not declare (StreamFrames' quality) is INVALID_ARGUMENT naming
it, instead of a FULL stream.  Each refusal is checked to have changed
nothing: use_pool stays on, the camera stays stopped.

usage: test_strict_input.py DAQD
"""
import os
import signal
import sys
import unittest

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python"))
from daq_client import Client  # noqa: E402
from daqd_harness import Daemon  # noqa: E402

DAQD = None

CONFIG = """
[[devices]]
id = "cam0"
name = "Simulated camera"
[devices.driver]
type = "sim"
width = 64
height = 64
frame_rate_hz = 50.0
exposure_ms = 2.0
"""

# (id as sent, the status details daqd must answer with)
BAD_IDS = [
    ("cam0\x00x", 'device_id "cam0\\x00x": control character 0x00 at byte 4 '
                  "(names are printable text)"),
    ("cam0\x00", 'device_id "cam0\\x00": control character 0x00 at byte 4 '
                 "(names are printable text)"),
    ("\x00", 'device_id "\\x00": control character 0x00 at byte 0 (names are printable text)'),
    ("cam0\n", 'device_id "cam0\\x0a": control character 0x0a at byte 4 '
               "(names are printable text)"),
    ("\x1b[31mcam0", 'device_id "\\x1b[31mcam0": control character 0x1b at byte 0 '
                     "(names are printable text)"),
    ("cam\x7f0", 'device_id "cam\\x7f0": control character 0x7f at byte 3 '
                 "(names are printable text)"),
    ("c\"\\\x01" + "x" * 40, 'device_id "c\\"\\\\\\x01' + "x" * 28 + '...": control character '
                             "0x01 at byte 3 (names are printable text)"),
]

QUALITY_MSG = ("quality: %d is not a StreamQuality (STREAM_QUALITY_FULL, STREAM_QUALITY_PREVIEW, "
               "STREAM_QUALITY_FAST)")


class StrictInput(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(DAQD, CONFIG).start()
        cls.c = Client("127.0.0.1:%d" % cls.d.grpc_port, timeout=10)
        cls.pb = cls.c.pb

    @classmethod
    def tearDownClass(cls):
        cls.c.close()
        cls.d.signal(signal.SIGTERM)
        code, _ = cls.d.wait(15)
        if code != 0:
            raise AssertionError("daqd exited %d\n%s" % (code, cls.d.log()))

    def refused(self, call, details):
        with self.assertRaises(grpc.RpcError) as e:
            r = call()
            if hasattr(r, "__next__"):  # a stream: its status comes with the first read
                next(r)
        self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT,
                         e.exception.details())
        self.assertEqual(e.exception.details(), details)

    def assert_untouched(self):
        self.assertIs(self.c.get("cam0", "acquisition.use_pool"), True)
        self.assertIs(self.c.get("cam0", "acquisition.streaming"), False)
        st = self.c.device_state("cam0")
        self.assertTrue(st.online)
        self.assertFalse(st.streaming)

    def test_good_names_still_work(self):
        self.assertEqual(self.c.device_state("cam0").device_id, "cam0")
        # printable non-ASCII is a name like any other: not found, not refused
        with self.assertRaises(grpc.RpcError) as e:
            self.c.device_state("cämera")
        self.assertEqual(e.exception.code(), grpc.StatusCode.NOT_FOUND)
        self.assertEqual(e.exception.details(), "Device not found: cämera")

    def test_get_device_state(self):
        for bad, details in BAD_IDS:
            with self.subTest(id=bad):
                self.refused(lambda: self.c.hw.GetDeviceState(
                    self.pb.DeviceStateRequest(device_id=bad), timeout=10), details)

    def test_set_parameter(self):
        for bad, details in BAD_IDS:
            with self.subTest(id=bad):
                self.refused(lambda: self.c.hw.SetParameter(self.pb.SetParameterRequest(
                    device_id=bad, parameter_name="acquisition.use_pool", value="false"),
                    timeout=10), details)
        self.assert_untouched()

    def test_parameter_names(self):
        self.refused(lambda: self.c.hw.SetParameter(self.pb.SetParameterRequest(
            device_id="cam0", parameter_name="acquisition.use_pool\x00junk", value="false"),
            timeout=10),
            'parameter_name "acquisition.use_pool\\x00junk": control character 0x00 at byte 20 '
            "(names are printable text)")
        self.refused(lambda: self.c.hw.GetParameter(self.pb.GetParameterRequest(
            device_id="cam0", parameter_name="exposure_ms\t"), timeout=10),
            'parameter_name "exposure_ms\\x09": control character 0x09 at byte 11 '
            "(names are printable text)")
        self.refused(lambda: self.c.hw.StreamParameterChanges(
            self.pb.StreamParameterChangesRequest(
                device_id="cam0", parameter_names=["exposure_ms", "acquisition.use_pool\x00"]),
            timeout=10),
            'parameter_names[1] "acquisition.use_pool\\x00": control character 0x00 at byte 20 '
            "(names are printable text)")
        self.refused(lambda: self.c.hw.StreamParameterChanges(
            self.pb.StreamParameterChangesRequest(device_id="cam0\x00"), timeout=10),
            'device_id "cam0\\x00": control character 0x00 at byte 4 (names are printable text)')
        self.assert_untouched()

    def test_capability_filter(self):
        # "movable\0x" used to filter as "movable"
        self.refused(lambda: self.c.hw.ListDevices(
            self.pb.ListDevicesRequest(capability_filter="frame_producer\x00x"), timeout=10),
            'capability_filter "frame_producer\\x00x": control character 0x00 at byte 14 '
            "(names are printable text)")
        self.assertEqual([d.id for d in self.c.list_devices("frame_producer")], ["cam0"])

    def test_start_stream(self):
        for bad, details in BAD_IDS:
            with self.subTest(id=bad):
                self.refused(lambda: self.c.hw.StartStream(
                    self.pb.StartStreamRequest(device_id=bad, frame_count=5), timeout=10),
                    details)
        self.assert_untouched()

    def test_stream_frames(self):
        for bad, details in BAD_IDS:
            with self.subTest(id=bad):
                self.refused(lambda: self.c.hw.StreamFrames(
                    self.pb.StreamFramesRequest(device_id=bad), timeout=10), details)

    def test_every_unary_camera_call(self):
        bad, details = BAD_IDS[0]
        pb, hw = self.pb, self.c.hw
        calls = {
            "SetExposure": lambda: hw.SetExposure(
                pb.SetExposureRequest(device_id=bad, exposure_ms=5.0), timeout=10),
            "GetExposure": lambda: hw.GetExposure(pb.GetExposureRequest(device_id=bad),
                                                  timeout=10),
            "Arm": lambda: hw.Arm(pb.ArmRequest(device_id=bad), timeout=10),
            "Trigger": lambda: hw.Trigger(pb.TriggerRequest(device_id=bad), timeout=10),
            "StopStream": lambda: hw.StopStream(pb.StopStreamRequest(device_id=bad), timeout=10),
            "ListParameters": lambda: hw.ListParameters(
                pb.ListParametersRequest(device_id=bad), timeout=10),
            "GetParameter": lambda: hw.GetParameter(
                pb.GetParameterRequest(device_id=bad, parameter_name="exposure_ms"), timeout=10),
        }
        for name, call in calls.items():
            with self.subTest(method=name):
                self.refused(call, details)
        self.assertEqual(self.c.get("cam0", "exposure_ms"), 2.0)
        self.assert_untouched()

    def test_unknown_quality(self):
        self.c.start_stream("cam0")
        try:
            for q in (3, 7, -1, 2**31 - 1):
                with self.subTest(quality=q):
                    self.refused(lambda: self.c.hw.StreamFrames(
                        self.pb.StreamFramesRequest(device_id="cam0", quality=q), timeout=10),
                        QUALITY_MSG % q)
            # the declared ones still stream
            for q in (0, 1, 2):
                s = self.c.hw.StreamFrames(self.pb.StreamFramesRequest(device_id="cam0",
                                                                       quality=q), timeout=10)
                self.assertEqual(next(s).device_id, "cam0")
                s.cancel()
        finally:
            self.c.stop_stream("cam0")


if __name__ == "__main__":
    DAQD = sys.argv.pop(1)
    unittest.main(verbosity=2)
