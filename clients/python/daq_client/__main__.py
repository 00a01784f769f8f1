"""python3 -m daq_client [--address HOST:PORT] list | info | stream DEVICE [-n N] [--quality q]"""
import argparse

from . import Client


def main():
    ap = argparse.ArgumentParser(prog="daq_client")
    ap.add_argument("--address", default="127.0.0.1:50051")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("info")
    sub.add_parser("list")
    st = sub.add_parser("stream")
    st.add_argument("device")
    st.add_argument("-n", type=int, default=10)
    st.add_argument("--quality", default="full", choices=["full", "preview", "fast"])
    st.add_argument("--max-fps", type=int, default=0)
    a = ap.parse_args()
    with Client(a.address) as c:
        if a.cmd == "info":
            print(c.daemon_info())
        elif a.cmd == "list":
            for d in c.list_devices():
                print("%s  %s  (%s)  %sx%s" % (d.id, d.name, d.driver_type,
                                               d.metadata.frame_width, d.metadata.frame_height))
        else:
            for f in c.frames(a.device, a.max_fps, a.quality, max_frames=a.n):
                print("frame %d  %dx%d  mean %.1f  %d bytes on the wire" %
                      (f.number, f.width, f.height, f.pixels.mean(), f.compressed_bytes))


if __name__ == "__main__":
    main()
