"""daqd with an aravis camera: the GigE fake over loopback, configured from
TOML as users do, streaming on autostart, its driver figures on /metrics.

Run through tests/scripts/aravis_netns.sh (a private network namespace with
the fake on 127.0.0.1, its address in DAQ_ARAVIS_GV_CAMERA).  Checks that
the config keys reach the driver, frames flow with no loss and no copy, the
Aravis stream statistics are exported as daq_camera_events_total, and
SIGTERM stops cleanly.
usage: test_aravis_daemon.py path/to/daqd
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daqd_harness import Daemon  # noqa: E402

CONFIG = """
[[devices]]
id = "gige0"
autostart = true
[devices.driver]
type = "aravis"
camera = "%s"
pixel_format = "Mono8"
packet_size = 8972
socket_buffer = 4194304
buffers = 8
width = 512
height = 512
frame_rate_hz = 100.0
"""


def metric(text, name, **labels):
    want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
    for line in text.splitlines():
        m = re.match(r'(\w+)\{([^}]*)\} (\S+)$', line)
        if m and m.group(1) == name and ",".join(sorted(m.group(2).split(","))) == want:
            return float(m.group(3))
    raise AssertionError("no %s{%s} in /metrics" % (name, want))


def main():
    ip = os.environ.get("DAQ_ARAVIS_GV_CAMERA")
    if not ip:
        print("no DAQ_ARAVIS_GV_CAMERA: run me through tests/scripts/aravis_netns.sh")
        return 77
    d = Daemon(sys.argv[1], CONFIG % ip, name="aravis").start()
    try:
        deadline = time.monotonic() + 30
        while True:
            status, text = d.get("/metrics")
            assert status == 200, status
            delivered = metric(text, "daq_acquisition_frames_delivered_total", device="gige0")
            if delivered >= 200:
                break
            assert time.monotonic() < deadline, "only %d frames in 30 s:\n%s" % (delivered, d.log())
            time.sleep(0.2)
        ev = {}
        for name in ("memcpy_count", "failed_missing_packets", "stream_completed_buffers",
                     "stream_failures", "stream_missing_packets", "frame_id_wraps"):
            ev[name] = metric(text, "daq_camera_events_total", device="gige0", event=name)
        lost = metric(text, "daq_acquisition_frames_lost_total", device="gige0")
        print("delivered %d lost %d events %s" % (delivered, lost, ev))
        assert ev["memcpy_count"] == 0, ev
        assert ev["stream_completed_buffers"] >= delivered, ev
        assert ev["stream_failures"] == 0 and ev["stream_missing_packets"] == 0, ev
        assert lost == 0, lost
        assert 'aravis_id="%s"' % ip in d.log() and "gige=true" in d.log(), d.log()
        d.signal()
        code, secs = d.wait(10)
        assert code == 0, (code, d.log())
        assert "stream stopped" in d.log(), d.log()
        print("PASS (stopped in %.2f s)" % secs)
        return 0
    finally:
        d.kill()


if __name__ == "__main__":
    sys.exit(main())
