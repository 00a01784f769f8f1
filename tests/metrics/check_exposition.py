#!/usr/bin/python3
"""Checks a real daq exposition with the two reference readers.

usage: check_exposition.py [--storage] path/to/metrics_dump

1. Runs metrics_dump (the sim streaming into two consumers; one device with
   a quote and a backslash in its id, one that failed to come up, one idle
   engine without a pool) and keeps its stdout.
2. promtool check metrics (Debian's prometheus package) on it: any output
   at all fails the test -- format errors and lint problems alike -- except
   lines matching PROMTOOL_ALLOWED (none today: every family is named as
   promtool's linter wants).  Before that, promtool is shown a broken
   exposition and must complain, so a promtool that accepts anything cannot
   make this test pass.
3. prometheus_client's parser (Debian's python3-prometheus-client, hence
   /usr/bin/python3 by absolute path) must read it, and the content is
   checked: every expected family with its type, HELP and TYPE once per
   family with its samples grouped, histograms cumulative with +Inf equal
   to _count, the escaped device id read back intact, the failed device
   reported down.

With --storage (a build with libdaq-storage), metrics_dump also records a
fourth device (rec0) into a temporary directory, and the daq_recorder_*
families must be there and say so: frames and bytes written, at least one
flush in a histogram from 1 ms, recording 1, free disk, no error.  Without
it, no daq_recorder_* family may appear.
"""
import re
import shutil
import subprocess
import sys
import tempfile

from prometheus_client.parser import text_string_to_metric_families

PROMTOOL = "/usr/bin/promtool"

# promtool lint lines accepted on purpose (regular expressions).  Empty: if
# one is ever needed, say here why.
PROMTOOL_ALLOWED = []

STREAMING_ID = 'cam"0\\a'  # as metrics_dump names it: cam"0\a

# Families as prometheus_client names them (counters without _total) and
# their types.
EXPECTED = {
    "daq_device_info": "gauge",
    "daq_device_up": "gauge",
    "daq_acquisition_streaming": "gauge",
    "daq_acquisition_state": "gauge",
    "daq_acquisition_streams_started": "counter",
    "daq_acquisition_frames_captured": "counter",
    "daq_acquisition_frames_delivered": "counter",
    "daq_acquisition_frames_lost": "counter",
    "daq_acquisition_discontinuities": "counter",
    "daq_acquisition_backward_jumps": "counter",
    "daq_acquisition_duplicate_frames": "counter",
    "daq_acquisition_zero_frames": "counter",
    "daq_acquisition_alloc_dropped_frames": "counter",
    "daq_acquisition_heap_fallbacks": "counter",
    "daq_acquisition_copied_bytes": "counter",
    "daq_acquisition_delivery_fps": "gauge",
    "daq_acquisition_last_hw_frame_number": "gauge",
    "daq_pool_hits": "counter",
    "daq_pool_misses": "counter",
    "daq_pool_disabled": "counter",
    "daq_pool_heap_allocations": "counter",
    "daq_pool_heap_failures": "counter",
    "daq_pool_drops": "counter",
    "daq_pool_waits": "counter",
    "daq_pool_wait_timeouts": "counter",
    "daq_pool_returns": "counter",
    "daq_pool_slots": "gauge",
    "daq_pool_slots_in_use": "gauge",
    "daq_pool_heap_frames_in_use": "gauge",
    "daq_pool_slots_high_water": "gauge",
    "daq_pool_slots_free_low_water": "gauge",
    "daq_pool_hit_ratio": "gauge",
    "daq_pool_use_pool": "gauge",
    "daq_pool_slot_size_bytes": "gauge",
    "daq_pool_alloc_latency_seconds": "histogram",
    "daq_consumer_info": "gauge",
    "daq_consumer_frames_offered": "counter",
    "daq_consumer_frames_enqueued": "counter",
    "daq_consumer_frames_delivered": "counter",
    "daq_consumer_frames_dropped": "counter",
    "daq_consumer_frames_skipped": "counter",
    "daq_consumer_lossless_waits": "counter",
    "daq_consumer_lossless_wait_seconds": "counter",
    "daq_consumer_queued_frames": "gauge",
    "daq_consumer_queue_high_water_frames": "gauge",
    "daq_consumer_queue_depth_frames": "gauge",
    "daq_camera_frames_generated": "counter",
    "daq_camera_callbacks": "counter",
    "daq_camera_overruns": "counter",
    "daq_camera_readout_errors": "counter",
    "daq_camera_events": "counter",
    "daq_trigger": "counter",
    "daq_trigger_outcome": "counter",
    "daq_trigger_pending": "gauge",
    "daq_trigger_frames_extra": "counter",
    "daq_trigger_frames_late": "counter",
    "daq_trigger_armed": "gauge",
    "daq_sync_matched": "counter", "daq_sync_mismatch": "counter",
    "daq_sync_skew_seconds": "gauge", "daq_sync_open_sets": "gauge",
    "daq_clock_drift_ppm": "gauge",
    "daq_clock_residual_seconds": "gauge",
    "daq_grpc_streams_open": "gauge",
    "daq_grpc_subscribers_open": "gauge",
    "daq_grpc_streams_refused": "counter",
    "daq_grpc_streams_stalled": "counter",
    "process_resident_memory_bytes": "gauge",
    "process_virtual_memory_bytes": "gauge",
    "process_start_time_seconds": "gauge",
    "process_cpu_seconds": "counter",
    "daq_uptime_seconds": "gauge",
}

# With --storage: the recorder's families (libdaq-storage).
RECORDER = {
    "daq_recorder_frames": "counter",
    "daq_recorder_bytes": "counter",
    "daq_recorder_dropped_frames": "counter",
    "daq_recorder_errors": "counter",
    "daq_recorder_disk_free_bytes": "gauge",
    "daq_recorder_recording": "gauge",
    "daq_recorder_queue_fill_ratio": "gauge",
    "daq_recorder_flush_duration_seconds": "histogram",
}

# First upper bound of each histogram, in seconds: daq_pool's log2 ns
# buckets start at 2 ns, the recorder's log2 ms buckets at 1 ms.
FIRST_LE = {"daq_pool_alloc_latency_seconds": 2e-9,
            "daq_recorder_flush_duration_seconds": 1e-3}

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def promtool(text):
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    lines = [l for l in r.stdout.decode(errors="replace").splitlines() if l.strip()]
    return r.returncode, lines


def check_promtool_catches_errors():
    broken = ("# HELP bad_counter A counter without _total.\n"
              "# TYPE bad_counter counter\n"
              "bad_counter 1\n")
    rc, lines = promtool(broken)
    if rc == 0 and not lines:
        fail("promtool accepted a counter without _total: it cannot be trusted here")
    twice = ("# HELP a_total A.\n# TYPE a_total counter\na_total 1\n"
             "# HELP a_total A.\n# TYPE a_total counter\na_total 2\n")
    rc, lines = promtool(twice)
    if rc == 0:
        fail("promtool accepted a family described twice: it cannot be trusted here")
    # (promtool does accept a family's samples split around another family,
    # which is why check_layout below checks the grouping itself.)


def check_promtool(text):
    rc, lines = promtool(text)
    bad = [l for l in lines if not any(re.search(p, l) for p in PROMTOOL_ALLOWED)]
    for l in bad:
        fail("promtool: " + l)
    if rc != 0 and bad:
        fail("promtool exited %d" % rc)
    if rc != 0 and not lines:
        fail("promtool exited %d without saying why" % rc)


def check_layout(text):
    """HELP and TYPE once per family, first, with every sample right after."""
    seen_help, seen_type = set(), {}
    current = None
    for line in text.splitlines():
        m = re.match(r"# (HELP|TYPE) (\S+) ?(.*)", line)
        if m:
            kind, name, rest = m.groups()
            if kind == "HELP":
                if name in seen_help:
                    fail("second HELP for " + name)
                seen_help.add(name)
                if not rest:
                    fail("empty HELP for " + name)
                current = name
            else:
                if name in seen_type:
                    fail("second TYPE for " + name)
                if name != current:
                    fail("TYPE %s not right after its HELP" % name)
                seen_type[name] = rest
            continue
        if not line or line.startswith("#"):
            continue
        name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
        fam = current
        allowed = {fam}
        if seen_type.get(fam) == "histogram":
            allowed |= {fam + "_bucket", fam + "_sum", fam + "_count"}
        if name not in allowed:
            fail("sample %s outside its family (current family %s)" % (name, fam))
    if seen_help != set(seen_type):
        fail("HELP and TYPE name different families: %s" % (seen_help ^ set(seen_type)))


def check_histogram(fam):
    series = {}
    for s in fam.samples:
        key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
        series.setdefault(key, {"buckets": [], "sum": None, "count": None})
        if s.name.endswith("_bucket"):
            series[key]["buckets"].append((float(s.labels["le"]), s.value))
        elif s.name.endswith("_sum"):
            series[key]["sum"] = s.value
        elif s.name.endswith("_count"):
            series[key]["count"] = s.value
    if not series:
        fail("histogram %s has no series" % fam.name)
    for key, h in series.items():
        b = h["buckets"]
        les = [le for le, _ in b]
        counts = [c for _, c in b]
        if len(b) < 2 or les[-1] != float("inf"):
            fail("%s %s: does not end in +Inf" % (fam.name, key))
            continue
        if les != sorted(les) or len(set(les)) != len(les):
            fail("%s %s: le not increasing" % (fam.name, key))
        if any(later < earlier for earlier, later in zip(counts, counts[1:])):
            fail("%s %s: buckets not cumulative" % (fam.name, key))
        if h["count"] is None or counts[-1] != h["count"]:
            fail("%s %s: +Inf %s != _count %s" % (fam.name, key, counts[-1], h["count"]))
        if h["sum"] is None or h["sum"] < 0:
            fail("%s %s: bad _sum %s" % (fam.name, key, h["sum"]))
        if les[0] != FIRST_LE.get(fam.name):
            fail("%s %s: first bucket le=%s, want %s" % (fam.name, key, les[0],
                                                        FIRST_LE.get(fam.name)))


def value(fams, fam, **labels):
    for s in fams[fam].samples:
        if all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    fail("no sample of %s with %s" % (fam, labels))
    return None


def check_content(text, storage):
    expected = dict(EXPECTED, **RECORDER) if storage else EXPECTED
    fams = {}
    for f in text_string_to_metric_families(text):
        if f.name in fams:
            fail("family %s parsed twice" % f.name)
        fams[f.name] = f
    for name, typ in expected.items():
        if name not in fams:
            fail("family %s missing" % name)
        elif fams[name].type != typ:
            fail("family %s is %s, want %s" % (name, fams[name].type, typ))
    for name in fams:
        if name not in expected:
            fail("unexpected family %s (add it to EXPECTED or RECORDER)" % name)
    if failures:
        return

    seen = set()
    for f in fams.values():
        for s in f.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            if key in seen:
                fail("duplicate series %s" % (key,))
            seen.add(key)
            if f.type == "counter" and s.value < 0:
                fail("negative counter %s" % (key,))
        if f.type == "histogram":
            check_histogram(f)

    devices = {s.labels["device"] for s in fams["daq_device_info"].samples}
    want_devices = {STREAMING_ID, "broken", "idle"} | ({"rec0"} if storage else set())
    if devices != want_devices:
        fail("devices read back as %s" % sorted(devices))
    if value(fams, "daq_device_up", device="broken") != 0:
        fail("the device without an engine is not reported down")
    if value(fams, "daq_device_up", device=STREAMING_ID) != 1:
        fail("the streaming device is not reported up")
    if value(fams, "daq_acquisition_streaming", device=STREAMING_ID) != 1:
        fail("the streaming device is not reported streaming")
    if value(fams, "daq_acquisition_state", device=STREAMING_ID, state="streaming") != 1:
        fail("state{streaming} is not 1")
    if value(fams, "daq_acquisition_state", device="idle", state="idle") != 1:
        fail("the idle engine's state{idle} is not 1")
    delivered = value(fams, "daq_acquisition_frames_delivered", device=STREAMING_ID)
    if not delivered or delivered < 10:
        fail("the stream delivered only %s frames" % delivered)
    ratio = value(fams, "daq_pool_hit_ratio", device=STREAMING_ID)
    if ratio is None or not 0 <= ratio <= 1:
        fail("hit ratio %s outside 0..1" % ratio)
    consumers = {s.labels["consumer"] for s in fams["daq_consumer_info"].samples}
    if consumers != {"recorder", "viewer"}:
        fail("consumers read back as %s" % sorted(consumers))
    reasons = {s.labels["reason"] for s in fams["daq_consumer_frames_dropped"].samples}
    if reasons != {"full", "oldest", "timeout"}:
        fail("drop reasons %s" % sorted(reasons))
    reasons = {s.labels["reason"] for s in fams["daq_pool_heap_allocations"].samples}
    if reasons != {"exhausted", "disabled"}:
        fail("heap allocation reasons %s" % sorted(reasons))
    for fam in ("daq_pool_slots", "daq_pool_alloc_latency_seconds"):
        if any(s.labels.get("device") in ("idle", "broken") for s in fams[fam].samples):
            fail("%s has samples for a device without a pool" % fam)
    if value(fams, "process_resident_memory_bytes") <= 0:
        fail("resident memory not positive")
    if value(fams, "process_start_time_seconds") < 1e9:
        fail("process start time is not a Unix time")
    if storage:
        check_recorder(fams)
    print("prometheus_client: %d families, %d series" % (len(fams), len(seen)))


def check_recorder(fams):
    """metrics_dump recorded 50 frames, then started a second recording."""
    frames = value(fams, "daq_recorder_frames")
    if frames is None or frames < 50:
        fail("daq_recorder_frames %s < the 50 frames recorded" % frames)
    nbytes = value(fams, "daq_recorder_bytes")
    if nbytes is None or nbytes <= 0:
        fail("daq_recorder_bytes %s after a recording" % nbytes)
    if value(fams, "daq_recorder_recording") != 1:
        fail("daq_recorder_recording is not 1 while a recording runs")
    fill = value(fams, "daq_recorder_queue_fill_ratio")
    if fill is None or not 0 <= fill <= 1:
        fail("queue fill ratio %s outside 0..1" % fill)
    if value(fams, "daq_recorder_errors") != 0:
        fail("recorder errors without a disk fault")
    if not value(fams, "daq_recorder_disk_free_bytes"):
        fail("no free disk reported")
    fam = fams["daq_recorder_flush_duration_seconds"]
    count = next((s.value for s in fam.samples if s.name.endswith("_count")), None)
    if not count or count < 1:
        fail("no flush counted after a finished recording (_count %s)" % count)


def main():
    args = sys.argv[1:]
    storage = bool(args) and args[0] == "--storage"
    if storage:
        args = args[1:]
    if len(args) != 1:
        print(__doc__)
        return 2
    root = tempfile.mkdtemp(prefix="daq-metrics-") if storage else None
    try:
        cmd = [args[0], "1"] + (["--storage", root] if storage else [])
        r = subprocess.run(cmd, stdout=subprocess.PIPE, timeout=120)
    finally:
        if root:
            shutil.rmtree(root, ignore_errors=True)
    if r.returncode != 0:
        print("FAIL: %s exited %d" % (" ".join(cmd), r.returncode))
        return 1
    text = r.stdout.decode("utf-8")
    check_promtool_catches_errors()
    check_promtool(text)
    check_layout(text)
    check_content(text, storage)
    if failures:
        print("--- exposition ---\n" + text)
        print("%d failure(s)" % len(failures))
        return 1
    print("PASS: promtool clean, prometheus_client parsed it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
