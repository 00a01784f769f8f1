#!/usr/bin/python3
"""Writes the seed corpus of fuzz_rpc (tests/fuzz/corpus/rpc/): valid
requests of every served method, encoded with the stubs generated from
proto/daq.proto, each prefixed with the byte fuzz_rpc reads as the method
(its index in the table it prints with FUZZ_RPC_LIST=1).

usage: make_rpc_corpus.py FUZZ_RPC_BINARY
Run again when a method is added (the indexes shift).
"""
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python"))
from daq_client import stubs  # noqa: E402

OUT = os.path.join(HERE, "corpus", "rpc")


def method_table(binary):
    with tempfile.NamedTemporaryFile() as empty:
        p = subprocess.run([binary, "-runs=1", empty.name], env=dict(os.environ, FUZZ_RPC_LIST="1"),
                           stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, check=True)
    return {m[1]: int(m[0]) for m in re.findall(r"fuzz_rpc method (\d+) /[\w.]+/(\w+)", p.stderr)}


def seeds(pb):
    yield "GetDaemonInfo", "plain", pb.DaemonInfoRequest()
    yield "ListDevices", "all", pb.ListDevicesRequest()
    yield "ListDevices", "filter", pb.ListDevicesRequest(capability_filter="exposure_control")
    yield "GetDeviceState", "cam0", pb.DeviceStateRequest(device_id="cam0")
    yield "GetDeviceState", "gone", pb.DeviceStateRequest(device_id="gone")
    yield "SetExposure", "cam0", pb.SetExposureRequest(device_id="cam0", exposure_ms=5.0)
    yield "GetExposure", "cam0", pb.GetExposureRequest(device_id="cam0")
    yield "Arm", "cam0", pb.ArmRequest(device_id="cam0")
    yield "Trigger", "cam0", pb.TriggerRequest(device_id="cam0")
    yield "StartStream", "cam0", pb.StartStreamRequest(device_id="cam0")
    yield "StartStream", "count", pb.StartStreamRequest(device_id="cam0", frame_count=3)
    yield "StopStream", "cam0", pb.StopStreamRequest(device_id="cam0")
    yield "StreamFrames", "preview", pb.StreamFramesRequest(device_id="cam0", max_fps=10,
                                                            quality=1)
    yield "ListParameters", "cam0", pb.ListParametersRequest(device_id="cam0")
    yield "GetParameter", "use_pool", pb.GetParameterRequest(device_id="cam0",
                                                             parameter_name="acquisition.use_pool")
    yield "SetParameter", "use_pool", pb.SetParameterRequest(
        device_id="cam0", parameter_name="acquisition.use_pool", value="false")
    yield "SetParameter", "policy", pb.SetParameterRequest(
        device_id="cam0", parameter_name="acquisition.exhaustion_policy", value='"drop"')
    yield "SetParameter", "width", pb.SetParameterRequest(device_id="cam0", parameter_name="width",
                                                          value="48")
    yield "SetParameter", "scene", pb.SetParameterRequest(device_id="cam0", parameter_name="scene",
                                                          value='"smooth"')
    yield "StreamParameterChanges", "names", pb.StreamParameterChangesRequest(
        device_id="cam0", parameter_names=["exposure_ms", "acquisition.use_pool"])


def main():
    table = method_table(sys.argv[1])
    pb = stubs().daq
    os.makedirs(OUT, exist_ok=True)
    for method, what, msg in seeds(pb):
        with open(os.path.join(OUT, "%s-%s.bin" % (method, what)), "wb") as f:
            f.write(bytes([table[method]]) + msg.SerializeToString())
    print("%d seeds in %s" % (len(list(seeds(pb))), OUT))


if __name__ == "__main__":
    main()
