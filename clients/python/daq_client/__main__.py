"""python3 -m daq_client (or daq-client) [--address HOST:PORT] COMMAND

  info | list | stream DEVICE [-n N] [--quality q]
  state DEVICE | start DEVICE | stop DEVICE | arm DEVICE | trigger DEVICE [-n N]
  get DEVICE PARAM | set DEVICE PARAM VALUE | params DEVICE
  record NAME [--device ID ...] [--frames N | --duration S] [--compression C]
              [--meta KEY=VALUE ...] [--start-stream] [--json]
  recordings [--pattern GLOB] [--limit N] [--json]
  tap SOCKET [--device ID] [-n N] [--timeout S]

arm starts DEVICE's stream in its trigger.mode (set it first: set DEVICE
trigger.mode software); trigger sends N software triggers (default 1), one
line each, and exits 1 when the camera ignored any of them.

record waits for a recording with a limit (--frames, --duration) to end by
itself, and for one without until Ctrl-C, then stops it and prints its
summary (one JSON object with --json).  Progress goes to stderr.  Exit
status 1 when the daemon refuses or the recording ends in error.

tap reads N frames (default 10) straight from the daemon's pool through its
tap socket ([tap] path; same host, no gRPC, --address unused), one line
each; exit 1 when the daemon refuses (the reason on stderr) or no frame
comes within --timeout seconds.
"""
import argparse
import datetime
import json
import signal
import sys
import time

import grpc

from . import Client, RecordingError
from .tap import TapClosed, TapError, TapReader

POLL_S = 0.2  # how often record looks at the recording's status


def _meta(pairs):
    out = {}
    for p in pairs:
        k, sep, v = p.partition("=")
        if not sep or not k:
            raise SystemExit("daq_client: --meta %r is not KEY=VALUE" % p)
        out[k] = v
    return out


def _progress(st, tty):
    line = "%s  %d frames  %.1f MB  queue %d%%  %.1f s" % (
        st["state"].replace("RECORDING_", "").lower(), st["samples_recorded"],
        st["bytes_written"] / 1e6, st["buffer_fill_percent"], st["elapsed_ns"] / 1e9)
    if tty:
        sys.stderr.write("\r\033[K" + line)
        sys.stderr.flush()


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _value(text):
    """A SetParameter value as typed: JSON (false, 12.5, "x") or a bare word."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def cmd_state(c, a):
    """GetDeviceState as one JSON object; daq's extension fields (use_pool,
    rollback_symptoms, auto_rollbacks, ...) are printed when the daemon sent
    them, so the rollback runbook reads them here."""
    st = c.device_state(a.device)
    out = {}
    for f, v in st.ListFields():
        out[f.name] = list(v) if f.label == f.LABEL_REPEATED else v
    # The extension fields (numbers from 1000) are shown at their defaults
    # too: "auto_rollbacks": 0 says something an absent key does not.
    if "use_pool" in out:
        for f in st.DESCRIPTOR.fields:
            if f.number >= 1000 and f.name not in out:
                v = getattr(st, f.name)
                out[f.name] = list(v) if f.label == f.LABEL_REPEATED else v
    print(json.dumps(out, sort_keys=True))


def cmd_trigger(c, a):
    """N triggers, one line each; 1 when any was ignored (the camera said
    no: not a failure of the call, but not what was asked either)."""
    ignored = 0
    for _ in range(a.n):
        r = c.trigger(a.device)
        if r.success:
            print("%s: triggered at %d" % (a.device, r.trigger_timestamp_ns))
        else:
            print(r.error_message)
            ignored += 1
    return 1 if ignored else 0


def cmd_record(c, a):
    # SIGTERM stops the recording as Ctrl-C does, rather than leaving it
    # running in the daemon with nobody to stop it.
    signal.signal(signal.SIGTERM, _interrupt)
    started = []
    try:
        if a.start_stream:
            if not a.devices:
                raise SystemExit("daq_client: --start-stream needs --device")
            for d in a.devices:
                r = c.start_stream(d)
                if not r.success:
                    raise RecordingError("StartStream", "%s: %s" % (d, r.error_message))
                started.append(d)
        rec = c.record(a.name, devices=a.devices, frames=a.frames, duration=a.duration,
                       compression=a.compression, metadata=_meta(a.meta), scan_id=a.scan_id,
                       run_uid=a.run_uid)
        rid = rec["recording_id"]
        print("recording %s -> %s%s" % (rid, rec["output_path"],
                                        "" if a.frames or a.duration else "  (Ctrl-C stops)"),
              file=sys.stderr)
        tty = sys.stderr.isatty()
        st = None
        try:
            while True:
                st = c.recording_status(rid)
                _progress(st, tty)
                if st["state"] in ("RECORDING_IDLE", "RECORDING_ERROR"):
                    break
                time.sleep(POLL_S)
        except KeyboardInterrupt:
            pass
        if tty:
            sys.stderr.write("\n")
        if st is not None and st["state"] == "RECORDING_ERROR":
            raise RecordingError("GetRecordingStatus", st["error_message"])
        final = c.stop_recording(rid)
    finally:
        for d in started:
            c.stop_stream(d)
    if a.json:
        print(json.dumps(final, sort_keys=True))
    else:
        print("%s: %d frames, %d bytes, %.3f s -> %s" % (
            final["acquisition_id"], final["total_samples"], final["file_size_bytes"],
            final["duration_ns"] / 1e9, final["output_path"]))


def cmd_recordings(c, a):
    recs = c.recordings(pattern=a.pattern, limit=a.limit)
    if a.json:
        print(json.dumps(recs, sort_keys=True))
        return
    for r in recs:
        created = datetime.datetime.fromtimestamp(r["created_at_ns"] / 1e9, datetime.timezone.utc)
        print("%s  %-20s %8d frames %10.1f MB %8.1f s  %s  %s" % (
            created.strftime("%Y-%m-%dT%H:%M:%SZ"), r["name"], r["sample_count"],
            r["file_size_bytes"] / 1e6, r["duration_ns"] / 1e9, r["acquisition_id"],
            r["file_path"]))


def cmd_tap(a):
    """N frames from the tap, one line each; no gRPC channel is opened."""
    try:
        with TapReader(a.socket, device=a.device) as tap:
            w = tap.welcome
            print("tap: reader %d on %s, lease cap %d, %s" % (w["reader_id"], w["device"],
                                                            w["lease_cap"], w["format"]))
            for _ in range(a.n):
                f = tap.next(a.timeout)
                if f is None:
                    print("daq_client: tap: no frame within %.1f s" % a.timeout,
                          file=sys.stderr)
                    return 1
                with f:
                    line = "frame %d  seq %d  %dx%d  mean %.1f  dropped %d" % (
                        f.hw_frame_number, f.sequence, f.width, f.height, f.array.mean(),
                        f.dropped)
                    ok = f.valid()
                print(line if ok else line + "  (revoked while read)")
    except (TapError, TapClosed, OSError) as e:
        print("daq_client: %s" % e, file=sys.stderr)
        return 1
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(prog="daq_client", description="daqd's gRPC client")
    ap.add_argument("--address", default="127.0.0.1:50051")
    ap.add_argument("--tls-ca", metavar="FILE", help="CA of daqd's certificate: use TLS")
    ap.add_argument("--tls-cert", metavar="FILE", help="client certificate (mutual TLS)")
    ap.add_argument("--tls-key", metavar="FILE", help="client key (mutual TLS)")
    ap.add_argument("--tls-server-name", metavar="NAME",
                    help="the name daqd's certificate carries, if not the address's host")
    tok = ap.add_mutually_exclusive_group()
    tok.add_argument("--token", help="bearer token (visible in ps: prefer --token-file)")
    tok.add_argument("--token-file", metavar="FILE", help="file whose first line is the token")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("info")
    sub.add_parser("list")
    st = sub.add_parser("stream")
    st.add_argument("device")
    st.add_argument("-n", type=int, default=10)
    st.add_argument("--quality", default="full", choices=["full", "preview", "fast"])
    st.add_argument("--max-fps", type=int, default=0)
    for name, hlp in (("state", "GetDeviceState as JSON"), ("start", "StartStream"),
                      ("stop", "StopStream"), ("params", "ListParameters")):
        sub.add_parser(name, help=hlp).add_argument("device")
    sub.add_parser("arm", help="Arm: start in trigger.mode, waiting for triggers"
                   ).add_argument("device")
    tr = sub.add_parser("trigger", help="Trigger: N software triggers (exit 1 if any "
                                        "was ignored)")
    tr.add_argument("device")
    tr.add_argument("-n", type=int, default=1)
    g = sub.add_parser("get", help="GetParameter: prints the value as JSON")
    g.add_argument("device")
    g.add_argument("param")
    s_ = sub.add_parser("set", help="SetParameter: VALUE is JSON or a bare word; prints "
                                    "the value the daemon applied")
    s_.add_argument("device")
    s_.add_argument("param")
    s_.add_argument("value")
    rec = sub.add_parser("record", help="record the streaming cameras to HDF5")
    rec.add_argument("name")
    rec.add_argument("--device", action="append", dest="devices", metavar="ID",
                     help="a camera to record (repeat for more; default: every streaming one)")
    lim = rec.add_mutually_exclusive_group()
    lim.add_argument("--frames", type=int, help="end after N frames per camera")
    lim.add_argument("--duration", type=float, metavar="S", help="end after S seconds")
    rec.add_argument("--compression", help="none, gzip, lz4, bslz4 (default: the daemon's)")
    rec.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE",
                     help="stored in the file's /entry/metadata")
    rec.add_argument("--scan-id")
    rec.add_argument("--run-uid")
    rec.add_argument("--start-stream", action="store_true",
                     help="start the --device cameras first, stop them after")
    rec.add_argument("--json", action="store_true", help="print the summary as JSON")
    ls = sub.add_parser("recordings", help="the recordings under the daemon's storage root")
    ls.add_argument("--pattern", help="glob on the recording's name")
    ls.add_argument("--limit", type=int)
    ls.add_argument("--json", action="store_true")
    tp = sub.add_parser("tap", help="frames from the zero-copy tap socket (same host)")
    tp.add_argument("socket", help="the daemon's [tap] path")
    tp.add_argument("--device", default="", help="camera id (default: the first)")
    tp.add_argument("-n", type=int, default=10)
    tp.add_argument("--timeout", type=float, default=5.0, metavar="S")
    a = ap.parse_args(argv)
    if a.cmd == "tap":
        return cmd_tap(a)
    try:
        with Client(a.address, tls_ca=a.tls_ca, tls_cert=a.tls_cert, tls_key=a.tls_key,
                    token=a.token, token_file=a.token_file,
                    tls_server_name=a.tls_server_name) as c:
            if a.cmd == "info":
                print(c.daemon_info())
            elif a.cmd == "list":
                for d in c.list_devices():
                    print("%s  %s  (%s)  %sx%s" % (d.id, d.name, d.driver_type,
                                                   d.metadata.frame_width,
                                                   d.metadata.frame_height))
            elif a.cmd == "stream":
                for f in c.frames(a.device, a.max_fps, a.quality, max_frames=a.n):
                    print("frame %d  %dx%d  mean %.1f  %d bytes on the wire%s" %
                          (f.number, f.width, f.height, f.pixels.mean(), f.compressed_bytes,
                           "  trigger %d" % f.trigger_index if f.trigger_index else ""))
            elif a.cmd == "state":
                cmd_state(c, a)
            elif a.cmd == "start":
                c.start_stream(a.device)
                print("%s: streaming" % a.device)
            elif a.cmd == "stop":
                print("%s: stopped after %d frames" % (a.device, c.stop_stream(a.device)))
            elif a.cmd == "arm":
                c.arm(a.device)
                print("%s: armed" % a.device)
            elif a.cmd == "trigger":
                return cmd_trigger(c, a)
            elif a.cmd == "params":
                for p in c.parameters(a.device):
                    print("%-36s %s" % (p.name, p.description))
            elif a.cmd == "get":
                print(json.dumps(c.get(a.device, a.param)))
            elif a.cmd == "set":
                print(json.dumps(c.set(a.device, a.param, _value(a.value))))
            elif a.cmd == "record":
                cmd_record(c, a)
            else:
                cmd_recordings(c, a)
    except RecordingError as e:
        print("daq_client: %s: %s" % (e.rpc, e), file=sys.stderr)
        return 1
    except grpc.RpcError as e:
        print("daq_client: %s: %s" % (e.code().name, e.details()), file=sys.stderr)
        return 1
    except (OSError, ValueError, RuntimeError) as e:
        print("daq_client: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
