"""A small Python client for daqd (and rust-daq's daemon): list devices,
start and stop acquisition, stream frames as numpy arrays, get and set
parameters, record to HDF5 (recording.py).

Uses Debian's python3-grpcio, python3-protobuf, python3-lz4 and python3-numpy
(run it with /usr/bin/python3).  An installed package carries the gRPC stubs
its build generated from the project's proto files (setup.py); run from the
source tree, they are generated on first use into a per-user cache (see
stubs()).  Nothing is ever written into the package's own directory.

    from daq_client import Client
    with Client("127.0.0.1:50051") as c:   # or Client(addr, tls_ca=..., token=...)
        print(c.list_devices())
        c.start_stream("cam0")
        for frame in c.frames("cam0", max_frames=10):
            print(frame.number, frame.pixels.shape, frame.pixels.mean())
        c.set("cam0", "trigger.mode", "software")   # then: one frame per trigger
        c.arm("cam0")
        print(c.trigger("cam0").success)           # False: ignored, see error_message
        rec = c.record("run1", frames=100, compression="lz4")
        c.wait_recording(rec["recording_id"])       # ends by itself after 100 frames
        print(c.stop_recording(rec["recording_id"])["total_samples"])
        c.stop_stream("cam0")

    from daq_client import TapReader           # the zero-copy tap (tap.py), same host
    with TapReader("/run/user/1000/daq/tap-50051.sock") as tap:
        with tap.next(timeout=1.0) as f:        # a read-only numpy view, no copy
            print(f.hw_frame_number, f.array.mean())
"""
import importlib
import importlib.util
import json
import os
import stat
import sys
import tempfile
from collections import namedtuple

import lz4.block
import numpy as np

from . import _protogen
from .auth import make_channel
from .recording import RecordingError, RecordingMixin, message_to_dict
from .tap import TapClosed, TapError, TapReader

__all__ = ["Client", "Frame", "RecordingError", "Stubs", "TapClosed", "TapError", "TapReader",
           "decode_pixels", "mean_downsample", "message_to_dict", "sim_pattern", "stubs"]

HERE = os.path.dirname(os.path.abspath(__file__))
# The daq source tree's protos, for a run from clients/python (no build).
SOURCE_PROTO_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "..", "proto"))
MAX_MESSAGE = 100 * 1024 * 1024  # as rust-daq's client

_stubs = None
Stubs = namedtuple("Stubs", "daq daq_grpc health health_grpc")


def _cache_root():
    """A per-user directory for stubs generated from a source tree: never
    the package's own directory (an installed package is read-only to us,
    and another user's /tmp entry must not be imported)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    root = os.path.join(base, "daq-client")
    try:
        os.makedirs(root, mode=0o700, exist_ok=True)
        if os.access(root, os.W_OK):
            return root
    except OSError:
        pass
    root = os.path.join(tempfile.gettempdir(), "daq-client-%d" % os.getuid())
    os.makedirs(root, mode=0o700, exist_ok=True)
    st = os.lstat(root)
    if st.st_uid != os.getuid() or not stat.S_ISDIR(st.st_mode) or st.st_mode & 0o022:
        raise RuntimeError("%s: not a private directory of this user" % root)
    return root


def _load_generated(pkg_dir):
    """Imports pkg_dir (a _protogen package outside daq_client) as
    daq_client._generated."""
    name = __name__ + "." + _protogen.PACKAGE
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(pkg_dir, "__init__.py"), submodule_search_locations=[pkg_dir])
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)


def stubs(proto_dir=None, cache_dir=None):
    """daq_pb2, daq_pb2_grpc, health_pb2, health_pb2_grpc as a Stubs tuple.

    An installed package imports the stubs it was built with
    (daq_client._generated).  Run from the source tree it has none: they are
    generated once from proto_dir ($DAQ_PROTO_DIR, else the tree's proto/)
    into cache_dir (default: a per-user cache, keyed by the protos' digest),
    never into the package.  Passing proto_dir or setting DAQ_PROTO_DIR
    forces the generation."""
    global _stubs
    if _stubs is not None:
        return _stubs
    proto_dir = proto_dir or os.environ.get("DAQ_PROTO_DIR")
    if proto_dir is None:
        # Looked for, not tried: an import error inside the packaged stubs
        # (a protobuf too old for them) must surface as itself.
        if importlib.util.find_spec(__name__ + "." + _protogen.PACKAGE) is not None:
            from ._generated import daq_pb2, daq_pb2_grpc, health_pb2, health_pb2_grpc
            _stubs = Stubs(daq_pb2, daq_pb2_grpc, health_pb2, health_pb2_grpc)
            return _stubs
        proto_dir = SOURCE_PROTO_DIR
    found = _protogen.find_proto_dir([proto_dir])
    if found is None:
        raise RuntimeError("daq_client: no stubs in the package and no %s in %s (install the "
                           "package: pip install ./clients/python, or set DAQ_PROTO_DIR)"
                           % (" and ".join(_protogen.PROTO_FILES), proto_dir))
    if cache_dir is None:
        cache_dir = os.path.join(_cache_root(), "stubs-" + _protogen.proto_digest(found)[:16])
    pkg = _protogen.generate(found, cache_dir, replace=False)
    _load_generated(pkg)
    mods = [importlib.import_module("%s.%s.%s" % (__name__, _protogen.PACKAGE, m))
            for m in _protogen.MODULES]
    _stubs = Stubs(*mods)
    return _stubs


# trigger_index: the software or hardware trigger the frame answers (0: not
# triggered; daq's FrameData extension, 0 from a daemon without it).
Frame = namedtuple("Frame", "device_id number width height bit_depth timestamp_ns "
                            "exposure_ms pixels metrics compressed_bytes trigger_index",
                   defaults=(0,))

QUALITY = {"full": 0, "preview": 1, "fast": 2}


def decode_pixels(msg):
    """FrameData.data -> numpy array (height, width), LZ4 undone."""
    data = msg.data
    if msg.compression == 1:
        n = int.from_bytes(data[:4], "little")
        data = lz4.block.decompress(data[4:], uncompressed_size=n)
        if len(data) != msg.uncompressed_size:
            raise ValueError("Decompressed size mismatch")
    elif msg.compression != 0:
        raise ValueError("unknown compression %d" % msg.compression)
    dtype = np.uint8 if msg.bit_depth <= 8 else np.dtype("<u2")
    return np.frombuffer(data, dtype=dtype).reshape(msg.height, msg.width)


class Client(RecordingMixin):
    """One channel to daqd: cameras (HardwareService), daemon info
    (ControlService), recording (StorageService: RecordingMixin)."""

    def __init__(self, address="127.0.0.1:50051", timeout=10.0, tls_ca=None, tls_cert=None,
                 tls_key=None, token=None, token_file=None, tls_server_name=None):
        """tls_ca (PEM file): TLS, verifying daqd's certificate; tls_cert and
        tls_key: the client's own (mutual TLS); token or token_file: the
        bearer token sent with every call (see auth.py)."""
        s = stubs()
        self.timeout = timeout
        self.channel = make_channel(address, options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE),
            ("grpc.max_send_message_length", MAX_MESSAGE)], tls_ca=tls_ca, tls_cert=tls_cert,
            tls_key=tls_key, token=token, token_file=token_file, tls_server_name=tls_server_name)
        self.pb = s.daq
        self.hw = s.daq_grpc.HardwareServiceStub(self.channel)
        self.control = s.daq_grpc.ControlServiceStub(self.channel)
        self.health = s.health_grpc.HealthStub(self.channel)
        self.storage = s.daq_grpc.StorageServiceStub(self.channel)

    def close(self):
        self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def daemon_info(self):
        return self.control.GetDaemonInfo(self.pb.DaemonInfoRequest(), timeout=self.timeout)

    def list_devices(self, capability=None):
        req = self.pb.ListDevicesRequest()
        if capability is not None:
            req.capability_filter = capability
        return list(self.hw.ListDevices(req, timeout=self.timeout).devices)

    def device_state(self, device_id):
        return self.hw.GetDeviceState(self.pb.DeviceStateRequest(device_id=device_id),
                                      timeout=self.timeout)

    def set_exposure(self, device_id, ms):
        return self.hw.SetExposure(self.pb.SetExposureRequest(device_id=device_id,
                                                              exposure_ms=ms),
                                   timeout=self.timeout).actual_exposure_ms

    def exposure(self, device_id):
        return self.hw.GetExposure(self.pb.GetExposureRequest(device_id=device_id),
                                   timeout=self.timeout).exposure_ms

    def start_stream(self, device_id, frame_count=None):
        req = self.pb.StartStreamRequest(device_id=device_id)
        if frame_count is not None:
            req.frame_count = frame_count
        return self.hw.StartStream(req, timeout=self.timeout)

    def stop_stream(self, device_id):
        return self.hw.StopStream(self.pb.StopStreamRequest(device_id=device_id),
                                  timeout=self.timeout).frames_captured

    def arm(self, device_id):
        """Arm: (re)starts device_id's stream in its trigger.mode, waiting
        for triggers; set the mode first (set(device_id, "trigger.mode",
        "software")).  Refused in internal mode (grpc.RpcError,
        FAILED_PRECONDITION).  Returns ArmResponse.armed; StopStream disarms."""
        return self.hw.Arm(self.pb.ArmRequest(device_id=device_id), timeout=self.timeout).armed

    def trigger(self, device_id):
        """One software trigger.  Returns the TriggerResponse: success True
        when the camera took it (trigger_timestamp_ns: host time just
        before), False when it ignored it (error_message "ID: trigger
        ignored: why").  A trigger that cannot be sent raises grpc.RpcError
        (FAILED_PRECONDITION "ID: not armed", or an external mode)."""
        return self.hw.Trigger(self.pb.TriggerRequest(device_id=device_id),
                               timeout=self.timeout)

    def parameters(self, device_id):
        return list(self.hw.ListParameters(
            self.pb.ListParametersRequest(device_id=device_id), timeout=self.timeout).parameters)

    def get(self, device_id, name):
        v = self.hw.GetParameter(self.pb.GetParameterRequest(device_id=device_id,
                                                             parameter_name=name),
                                 timeout=self.timeout)
        return json.loads(v.value)

    def set(self, device_id, name, value):
        r = self.hw.SetParameter(self.pb.SetParameterRequest(
            device_id=device_id, parameter_name=name, value=json.dumps(value)),
            timeout=self.timeout)
        if not r.success:
            raise RuntimeError(r.error_message)
        return json.loads(r.actual_value)

    def frame_stream(self, device_id, max_fps=0, quality="full"):
        """The raw gRPC stream of FrameData (cancel() it to stop)."""
        return self.hw.StreamFrames(self.pb.StreamFramesRequest(
            device_id=device_id, max_fps=max_fps, quality=QUALITY[quality]))

    def frames(self, device_id, max_fps=0, quality="full", max_frames=None):
        """Yields Frame tuples with numpy pixels until the stream ends or
        max_frames were received (then the call is cancelled)."""
        call = self.frame_stream(device_id, max_fps, quality)
        try:
            for i, msg in enumerate(call):
                yield Frame(msg.device_id, msg.frame_number, msg.width, msg.height,
                            msg.bit_depth, msg.timestamp_ns,
                            msg.exposure_ms if msg.HasField("exposure_ms") else None,
                            decode_pixels(msg), msg.metrics, len(msg.data),
                            getattr(msg, "trigger_index", 0))
                if max_frames is not None and i + 1 >= max_frames:
                    break
        finally:
            call.cancel()


# ---- the simulated camera's pattern (include/daq/sim.h), for checking frames ----

def sim_pattern(width, height, n, bit_depth=16):
    """The sim's frame n as a numpy array, stamp included."""
    x = np.arange(width, dtype=np.uint64)[None, :]
    y = np.arange(height, dtype=np.uint64)[:, None]
    m32 = np.uint64(0xFFFFFFFF)
    h = ((x * np.uint64(2654435761)) & m32) ^ ((y * np.uint64(2246822519)) & m32) \
        ^ np.uint64(((n % 4) * 3266489917) & 0xFFFFFFFF)
    h ^= h >> np.uint64(15)
    h &= np.uint64((1 << bit_depth) - 1)
    dtype = np.uint8 if bit_depth <= 8 else np.dtype("<u2")
    img = h.astype(dtype)
    stamp = (n.to_bytes(8, "little") + (0x53514144).to_bytes(4, "little")
             + (((n * 2654435761) & 0xFFFFFFFF) ^ width ^ (height << 16) & 0xFFFFFFFF)
             .to_bytes(4, "little"))
    raw = bytearray(img.tobytes())
    raw[:16] = stamp
    return np.frombuffer(bytes(raw), dtype=dtype).reshape(height, width)


def mean_downsample(img, factor):
    """rust-daq's PREVIEW (2) / FAST (4): truncating block means, remainder cropped."""
    h, w = img.shape[0] // factor, img.shape[1] // factor
    blocks = img[:h * factor, :w * factor].astype(np.uint32)
    blocks = blocks.reshape(h, factor, w, factor).sum(axis=(1, 3))
    return (blocks // (factor * factor)).astype(np.dtype("<u2"))
