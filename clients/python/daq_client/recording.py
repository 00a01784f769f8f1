"""daq_client/recording.py - recording to HDF5 through the StorageService.

The methods Client gains for rust-daq's StorageService (wire facts:
docs/facts/grpc-storage-api.md), as a mixin so the camera half of the
client stays readable.  Replies become plain dicts (field name -> value,
enums by name, unset optional fields None) so that callers need no stubs;
an application error (success = false) raises RecordingError with the
daemon's error_message unchanged, and transport or status errors
(NOT_FOUND "Acquisition not found", ...) stay grpc.RpcError.

StartRecordingRequest names no device: the daemon records every streaming
camera.  daq's extensions travel in its metadata map, as the daemon reads
them: "devices" (comma list), "max_frames" (per camera; the recording ends
by itself), "duration_ms".  A compression choice is a config_override,
which is a whole HDF5Config: its other fields are the daemon's current ones
(GetStorageConfig), so choosing a codec changes nothing else.
"""
import datetime
import time

# RecordingState names of a recording that has finished, well or not.
FINISHED = ("RECORDING_IDLE", "RECORDING_ERROR")
# Least deadline of a stop or a synchronous flush (seconds): both wait for
# the queue (up to max_buffer_mb per camera, default 256) to reach the disk.
SLOW_CALL_S = 120.0


class RecordingError(RuntimeError):
    """A StorageService call answered success = false.  str(e) is the
    daemon's error_message, whole (e.g. "Recording already in progress");
    e.rpc names the call."""

    def __init__(self, rpc, message):
        super().__init__(message)
        self.rpc = rpc


def message_to_dict(msg):
    """A protobuf message as a dict of its fields: nested messages as dicts,
    repeated fields as lists, maps as dicts, enums by name, optional fields
    that are not set as None.  64-bit integers stay ints (json_format would
    make them strings)."""
    out = {}
    for f in msg.DESCRIPTOR.fields:
        value = getattr(msg, f.name)
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            vf = f.message_type.fields_by_name["value"]
            out[f.name] = {k: (message_to_dict(v) if vf.message_type else v)
                           for k, v in value.items()}
        elif f.label == f.LABEL_REPEATED:
            out[f.name] = [message_to_dict(v) if f.message_type else _scalar(f, v)
                           for v in value]
        elif f.has_presence and not msg.HasField(f.name):
            out[f.name] = None
        elif f.message_type is not None:
            out[f.name] = message_to_dict(value)
        else:
            out[f.name] = _scalar(f, value)
    return out


def _scalar(f, v):
    if f.enum_type is not None:
        ev = f.enum_type.values_by_number.get(v)
        return ev.name if ev is not None else v
    return v


def _milliseconds(duration):
    """Seconds (int or float) or a timedelta -> whole milliseconds > 0."""
    if isinstance(duration, datetime.timedelta):
        duration = duration.total_seconds()
    ms = int(round(float(duration) * 1000))
    if ms <= 0:
        raise ValueError("duration: %r is not a positive time (seconds)" % (duration,))
    return ms


def _put(meta, key, value):
    if key in meta and meta[key] != value:
        raise ValueError("metadata[%r] = %r conflicts with the argument's %r"
                         % (key, meta[key], value))
    meta[key] = value


class RecordingMixin:
    """Needs self.pb (daq_pb2), self.storage (StorageServiceStub) and
    self.timeout (seconds per unary call)."""

    def _slow(self, timeout):
        return timeout if timeout is not None else max(self.timeout, SLOW_CALL_S)

    def _check(self, rpc, reply):
        if not reply.success:
            raise RecordingError(rpc, reply.error_message)
        return reply

    def _hdf5_config(self, compression=None, compression_level=None, chunk_size=None,
                     filename_pattern=None, include_timestamps=None,
                     include_device_metadata=None, base=None):
        """The daemon's current HDF5Config with the given fields replaced."""
        cfg = self.pb.HDF5Config()
        cfg.CopyFrom(base if base is not None else self._storage_config().hdf5_config)
        for name, value in (("compression", compression),
                            ("compression_level", compression_level),
                            ("chunk_size", chunk_size),
                            ("filename_pattern", filename_pattern),
                            ("include_timestamps", include_timestamps),
                            ("include_device_metadata", include_device_metadata)):
            if value is not None:
                setattr(cfg, name, value)
        return cfg

    def _storage_config(self):
        return self.storage.GetStorageConfig(self.pb.GetStorageConfigRequest(),
                                             timeout=self.timeout)

    # ---- settings ----------------------------------------------------------------

    def storage_config(self):
        """GetStorageConfig as a dict: output_directory, hdf5_config (dict),
        flush_interval_ms, max_buffer_mb, disk_space_available_bytes,
        disk_space_used_bytes."""
        return message_to_dict(self._storage_config())

    def configure_storage(self, output_directory=None, compression=None, compression_level=None,
                          chunk_size=None, filename_pattern=None, include_timestamps=None,
                          include_device_metadata=None, flush_interval_ms=None,
                          max_buffer_mb=None):
        """ConfigureStorage.  Arguments left None keep the daemon's current
        value (the request carries whole fields, so they are read first).
        output_directory is relative to the daemon's storage root or an
        absolute path inside it.  Returns the resolved output directory;
        raises RecordingError when refused ("Invalid output path: ...")."""
        cur = self._storage_config()
        req = self.pb.ConfigureStorageRequest(
            output_directory=cur.output_directory if output_directory is None
            else output_directory,
            hdf5_config=self._hdf5_config(compression, compression_level, chunk_size,
                                          filename_pattern, include_timestamps,
                                          include_device_metadata, base=cur.hdf5_config),
            flush_interval_ms=cur.flush_interval_ms if flush_interval_ms is None
            else flush_interval_ms,
            max_buffer_mb=cur.max_buffer_mb if max_buffer_mb is None else max_buffer_mb)
        r = self._check("ConfigureStorage",
                        self.storage.ConfigureStorage(req, timeout=self.timeout))
        return r.resolved_output_directory

    # ---- one recording -----------------------------------------------------------

    def record(self, name, devices=None, frames=None, duration=None, compression=None,
               metadata=None, scan_id=None, run_uid=None, compression_level=None,
               sync_group=None):
        """StartRecording of the streaming cameras (or devices: an id or a
        list of ids; or sync_group: the cameras of that [[sync_groups]]
        group, whose matched sets the file gets in /entry/sync/<group>).  frames: stop by itself after that many frames per
        camera; duration: after that long (seconds or a timedelta).
        compression: "none", "gzip", "lz4" or "bslz4" for this recording
        only.  metadata (str -> str) is stored in the file's /entry/metadata.
        Returns {"recording_id", "output_path"}; raises RecordingError when
        refused ("Recording already in progress", "No streaming camera to
        record", ...)."""
        meta = {str(k): str(v) for k, v in (metadata or {}).items()}
        if devices is not None:
            ids = [devices] if isinstance(devices, str) else list(devices)
            if not ids or any(not d or "," in d for d in ids):
                raise ValueError("devices: %r is not a list of device ids" % (devices,))
            _put(meta, "devices", ",".join(ids))
        if sync_group is not None:
            _put(meta, "sync_group", str(sync_group))
        if frames is not None:
            if int(frames) <= 0:
                raise ValueError("frames: %r is not a positive count" % (frames,))
            _put(meta, "max_frames", str(int(frames)))
        if duration is not None:
            _put(meta, "duration_ms", str(_milliseconds(duration)))
        req = self.pb.StartRecordingRequest(name=name, metadata=meta)
        if compression is not None or compression_level is not None:
            req.config_override.CopyFrom(self._hdf5_config(compression, compression_level))
        if scan_id is not None:
            req.scan_id = scan_id
        if run_uid is not None:
            req.run_uid = run_uid
        r = self._check("StartRecording", self.storage.StartRecording(req, timeout=self.timeout))
        return {"recording_id": r.recording_id, "output_path": r.output_path}

    def stop_recording(self, recording_id=None, final_metadata=None, timeout=None):
        """StopRecording (of the current recording when recording_id is None;
        a recording that ended by itself answers with its final figures).
        final_metadata (str -> str) goes into /entry/final_metadata.
        timeout: seconds (default: the client's, at least SLOW_CALL_S).
        Returns {"acquisition_id", "output_path", "file_size_bytes",
        "total_samples", "duration_ns"}; raises RecordingError ("No active
        recording", "Recording <id> not found")."""
        req = self.pb.StopRecordingRequest(
            final_metadata={str(k): str(v) for k, v in (final_metadata or {}).items()})
        if recording_id is not None:
            req.recording_id = recording_id
        r = self._check("StopRecording",
                        self.storage.StopRecording(req, timeout=self._slow(timeout)))
        d = message_to_dict(r)
        del d["success"], d["error_message"]
        return d

    def recording_status(self, recording_id=None):
        """GetRecordingStatus as a dict; state by name ("RECORDING_ACTIVE",
        "RECORDING_IDLE", "RECORDING_ERROR" with error_message, ...)."""
        req = self.pb.GetRecordingStatusRequest()
        if recording_id is not None:
            req.recording_id = recording_id
        return message_to_dict(self.storage.GetRecordingStatus(req, timeout=self.timeout))

    def wait_recording(self, recording_id=None, timeout=None, poll_s=0.1):
        """Polls GetRecordingStatus until the recording has finished (state
        RECORDING_IDLE, or RECORDING_ERROR with its error_message) and
        returns that status.  Raises TimeoutError after timeout seconds
        (None: no limit)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            st = self.recording_status(recording_id)
            if st["state"] in FINISHED:
                return st
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError("recording %s still %s after %.1f s"
                                   % (st["recording_id"], st["state"], timeout))
            time.sleep(poll_s)

    def flush_recording(self, sync=True, recording_id=None, timeout=None):
        """FlushToStorage.  With sync the call returns once every camera's
        frames so far are on disk (timeout as stop_recording's).  Returns {"samples_flushed",
        "bytes_written"}; raises RecordingError ("No active recording")."""
        req = self.pb.FlushToStorageRequest(sync=sync)
        if recording_id is not None:
            req.recording_id = recording_id
        r = self._check("FlushToStorage",
                        self.storage.FlushToStorage(req, timeout=self._slow(timeout)))
        return {"samples_flushed": r.samples_flushed, "bytes_written": r.bytes_written}

    def recording_progress(self, interval_ms=500, scan_id="", max_updates=None):
        """Yields StreamRecordingProgress reports as dicts (state is a
        ScanState name) every interval_ms, until the daemon ends the stream,
        max_updates were yielded, or the generator is closed (the call is
        cancelled then)."""
        call = self.storage.StreamRecordingProgress(self.pb.StreamRecordingProgressRequest(
            scan_id=scan_id, update_interval_ms=interval_ms))
        try:
            for i, msg in enumerate(call):
                yield message_to_dict(msg)
                if max_updates is not None and i + 1 >= max_updates:
                    break
        finally:
            call.cancel()

    # ---- finished recordings ------------------------------------------------------

    def recordings(self, pattern=None, limit=None, offset=None, after_ns=None, before_ns=None):
        """ListAcquisitions: the recordings under the daemon's storage root
        (read from the files, so they outlive a daemon restart), as dicts
        (acquisition_id, name, file_path, file_size_bytes, created_at_ns,
        duration_ns, sample_count).  pattern is a glob on the name; limit
        defaults to the daemon's (100)."""
        req = self.pb.ListAcquisitionsRequest()
        for field, value in (("name_pattern", pattern), ("limit", limit), ("offset", offset),
                             ("after_timestamp_ns", after_ns), ("before_timestamp_ns", before_ns)):
            if value is not None:
                setattr(req, field, value)
        r = self.storage.ListAcquisitions(req, timeout=self.timeout)
        return [message_to_dict(a) for a in r.acquisitions]

    def acquisition_info(self, acquisition_id):
        """GetAcquisitionInfo as a dict (datasets, metadata, structure, ...).
        An unknown id raises grpc.RpcError NOT_FOUND "Acquisition not
        found"."""
        return message_to_dict(self.storage.GetAcquisitionInfo(
            self.pb.GetAcquisitionInfoRequest(acquisition_id=acquisition_id),
            timeout=self.timeout))

    def delete_acquisition(self, acquisition_id, confirm=False):
        """DeleteAcquisition: removes the recording's file; the daemon
        refuses without confirm ("Deletion requires confirm=true", raised as
        RecordingError).  Returns the bytes freed."""
        r = self._check("DeleteAcquisition", self.storage.DeleteAcquisition(
            self.pb.DeleteAcquisitionRequest(acquisition_id=acquisition_id, confirm=confirm),
            timeout=self.timeout))
        return r.bytes_freed
