"""Read frames straight out of a daqd pool: the zero-copy tap's Python
reader (ADR 0012, wire format include/daq/tap_proto.h "daq-slots-v1",
guide docs/tap.md).  Standard library and numpy only.

    from daq_client.tap import TapReader
    with TapReader("/run/user/1000/daq/tap-50051.sock", device="cam0") as tap:
        for f in tap.frames(100):          # each released when the loop moves on
            print(f.hw_frame_number, f.array.mean())
        with tap.next(timeout=1.0) as f:   # or one at a time (None on timeout)
            row = f.array[0].copy()        # keep data past the release: copy it
            assert f.valid()               # the slot still held f's frame

Why it looks like this:
* The daemon sends a camera pool's two sealed memfds (pixels, 64-byte slot
  headers) once per pool; they are mapped PROT_READ, MAP_SHARED and
  prefaulted once (MAP_POPULATE: first touches of shared pages cost 2.6 us
  per 4 KiB here, 5.3 ms per 8 MiB frame -- never on the frame path).
* Each FRAME packet (176 bytes) is the notification and a lease.  Frame.array
  is a numpy view made over the mapping at the frame's offset -- no copy,
  about 1 us -- and read-only because the mapping is (a write faults in
  this process; the memfds are sealed, so it cannot be made writable).
* Per frame: one recvmsg_into into a preallocated buffer (ancillary space
  included, because a MAP may carry fds and a plain recv would drop them;
  measured here 1.2 us against recv_into's 0.8 us, so no peeking scheme)
  and one struct.unpack_from.  With frames queued that is about 20 us of
  CPU per frame, view and validity check included (18,000 frames/s from a
  local test server); when every frame wakes the reader, 70-90 us (daqd's
  sim at 600 frames/s on a loaded 2-core host: 5 % of a core), so 2,000
  frames/s should cost 15-18 % of a core.  Releases are queued and sent in
  one RELEASE of up to 62 leases at the next next() (or when 62 are
  pending, or at close): one send per batch, not per frame.  The wait is
  the recv itself (SO_RCVTIMEO set only when the timeout changes).
* Release is a promise, not a guard: after release() (or the end of a
  `with`) the daemon may reuse the slot, and an array still referenced then
  shows whatever frame is written there next.  numpy views cannot be
  invalidated; Frame.valid() says whether the slot still held the frame
  when called (read pixels first, then check).  A lease held past the
  daemon's lease_timeout_ms is revoked the same way.  Arrays never point at
  unmapped memory: a mapping with live views outlives close() until the
  last view dies.

Threading: one TapReader per thread.
"""
import errno
import mmap
import os
import socket
import struct
import time

import numpy as np

__all__ = ["Frame", "TapClosed", "TapError", "TapReader", "tap_info",
           "NOT_ALLOWED", "BAD_MESSAGE", "BAD_HELLO", "NO_DEVICE", "TOO_MANY",
           "HELLO_TIMEOUT", "SHUTDOWN"]

MAGIC = 0x50415444  # "DTAP"
VERSION = 1
FORMAT = "daq-slots-v1"
DEVICE_MAX = 64
MAX_RELEASE = 62
MESSAGE_MAX = 512

HELLO, WELCOME, MAP, FRAME, RELEASE, REVOKED, EOS, BYE, ERROR = range(1, 10)
READY = 10
HELLO_READY = 1  # HELLO flag: READY is sent after the first MAP
(NOT_ALLOWED, BAD_MESSAGE, BAD_HELLO, NO_DEVICE, TOO_MANY, HELLO_TIMEOUT,
 SHUTDOWN) = range(1, 8)

# daq_pixel_format (include/daq/frame.h): MONO12 is 12 bits stored in 16.
PIXEL_MONO8, PIXEL_MONO12, PIXEL_MONO16 = 1, 2, 3
_DTYPE = {PIXEL_MONO8: np.dtype(np.uint8), PIXEL_MONO12: np.dtype("<u2"),
          PIXEL_MONO16: np.dtype("<u2")}

# The structs of daq/tap_proto.h, little-endian, no padding ("<"): each
# field at the C offset, each total asserted against the C sizes.
HEAD = struct.Struct("<IHH")
HELLO_S = struct.Struct("<IHH64sIIIIdII")
WELCOME_S = struct.Struct("<IHHQ64sIIIIII16s")
MAP_S = struct.Struct("<IHHQQQQQII")
FRAME_S = struct.Struct("<IHHQQQQIIIIIHH13QII")
RELEASE_HEAD = struct.Struct("<IHHII")  # + count * uint64
REVOKED_S = struct.Struct("<IHHQQII")
ERROR_S = struct.Struct("<IHHII240s")
GENERATION = struct.Struct("<Q")  # daq_slot_header.generation, at offset 0
assert HEAD.size == 8 and HELLO_S.size == 104 and WELCOME_S.size == 120
assert MAP_S.size == 56 and FRAME_S.size == 176 and REVOKED_S.size == 32
assert ERROR_S.size == 256 and RELEASE_HEAD.size + 8 * MAX_RELEASE == 512

FRAME_FIELDS = ("lease", "pool_serial", "generation", "offset", "slot", "payload_bytes",
                "width", "height", "stride_bytes", "pixel_format", "bit_depth", "sequence",
                "hw_frame_number", "bof_ns", "eof_ns", "exposure_ns", "cam_bof_ns",
                "cam_eof_ns", "arrival_mono_ns", "arrival_real_ns", "exposure_start_real_ns",
                "trigger_index", "publish_mono_ns", "dropped", "flags", "leases_held")
_ANC = socket.CMSG_SPACE(2 * 4)  # a MAP's two fds


class TapError(Exception):
    """The daemon said ERROR (code: NOT_ALLOWED, ...; message: "tap: ..."),
    or the conversation broke the protocol (code 0)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


class TapClosed(Exception):
    """The daemon closed the connection (EOF or BYE)."""


def _cstr(b):
    return b.split(b"\0", 1)[0].decode("utf-8", "replace")


class _Pool:
    """One MAP: the two read-only mappings and their layout."""
    __slots__ = ("serial", "arena", "headers", "slot_stride", "slot_bytes", "slot_count",
                 "header_size", "held")

    def __init__(self, fields, fds):
        (_, _, _, self.serial, arena_bytes, header_bytes, self.slot_stride, self.slot_bytes,
         self.slot_count, self.header_size) = fields
        self.held = 0
        try:
            self.arena = _map_readonly(fds[0], arena_bytes)
            self.headers = _map_readonly(fds[1], header_bytes)
        finally:
            for fd in fds:
                os.close(fd)

    def unmap(self):
        """Closes the mappings unless a numpy view still uses them (then
        they live until the last view dies: never a dangling array)."""
        for m in (self.arena, self.headers):
            try:
                m.close()
            except BufferError:
                pass
        self.arena = self.headers = None


def _map_readonly(fd, size):
    populate = getattr(mmap, "MAP_POPULATE", 0)
    m = mmap.mmap(fd, size, flags=mmap.MAP_SHARED | populate, prot=mmap.PROT_READ)
    if not populate:  # touch each page once now, not on the frame path
        page = mmap.PAGESIZE
        for off in range(0, size, page):
            m[off]
    return m


class Frame:
    """One frame: a lease on a slot of the daemon's pool.  The fields of
    the FRAME message are attributes (sequence, hw_frame_number, bof_ns,
    eof_ns, exposure_ns, cam_bof_ns, cam_eof_ns, arrival_mono_ns,
    arrival_real_ns, exposure_start_real_ns, trigger_index,
    publish_mono_ns, dropped, flags, lease, slot, generation, ...);
    receive_mono_ns is when this process took it.  Do not use .array after
    release() (see the module's docstring); valid() tells."""

    __slots__ = FRAME_FIELDS + ("receive_mono_ns", "_tap", "_pool", "_array", "released")

    def __init__(self, tap, pool, fields, now):
        for name, v in zip(FRAME_FIELDS, fields[3:]):
            setattr(self, name, v)
        self.receive_mono_ns = now
        self._tap = tap
        self._pool = pool
        self._array = None
        self.released = False

    @property
    def array(self):
        """The pixels, (height, width), a read-only view over the mapping."""
        a = self._array
        if a is None:
            dt = _DTYPE.get(self.pixel_format)
            if dt is None:
                raise TapError(0, "tap: pixel format %d unknown" % self.pixel_format)
            a = np.ndarray((self.height, self.width), dt, self._pool.arena, self.offset,
                           (self.stride_bytes, dt.itemsize))
            assert not a.flags.writeable
            self._array = a
        return a

    @property
    def meta(self):
        """The FRAME's fields as a dict."""
        return {name: getattr(self, name) for name in FRAME_FIELDS}

    def valid(self):
        """True if the slot's header still holds this frame's generation:
        pixels read before this call were this frame's."""
        p = self._pool
        if p.headers is None:
            return False
        return GENERATION.unpack_from(p.headers, self.slot * p.header_size)[0] == self.generation

    def release(self):
        """Gives the lease back (queued; sent with the next next() or
        close).  Idempotent."""
        if not self.released:
            self.released = True
            self._tap._release(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()

    def __repr__(self):
        return "<tap Frame seq %d hw %d %dx%d lease %d slot %d>" % (
            self.sequence, self.hw_frame_number, self.width, self.height, self.lease, self.slot)


class TapReader:
    """A connection to daqd's tap socket: HELLO, WELCOME, then frames.

    path: the socket ([tap] path); device: "" = the first camera; lease_cap,
    queue_depth, history, decimate, max_fps as in daq_tap_hello (0 = the
    daemon's defaults); timeout: for connecting and the WELCOME.  Raises
    TapError (the daemon's ERROR, e.g. code NOT_ALLOWED) or OSError."""

    def __init__(self, path, device="", lease_cap=0, queue_depth=0, history=0, decimate=0,
                 max_fps=0.0, timeout=5.0):
        dev = device.encode()
        if len(dev) >= DEVICE_MAX:
            raise ValueError("device id longer than %d bytes" % (DEVICE_MAX - 1))
        self._pools = {}
        self._held = {}  # lease -> _Pool
        self._pending = []
        self._rcvtimeo = -1.0
        self._buf = bytearray(MESSAGE_MAX)
        self._view = memoryview(self._buf)
        self._relbuf = bytearray(RELEASE_HEAD.size + 8 * MAX_RELEASE)
        self.frames_received = self.released = self.revoked = self.maps = self.eos = 0
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.sock.settimeout(timeout)
            self.sock.connect(path)
            self.sock.settimeout(None)  # blocking; waits use SO_RCVTIMEO
            try:
                self.sock.send(HELLO_S.pack(MAGIC, VERSION, HELLO, dev, lease_cap, queue_depth,
                                            history, decimate, float(max_fps), HELLO_READY, 0))
            except OSError:
                # A refused peer may be closed on before its HELLO is sent;
                # the daemon's ERROR (the reason) is still queued here.
                self._recv(0.0)
                raise
            msg = self._recv(timeout)
            if msg is None:
                raise TapError(0, "tap: no WELCOME within %.1f s" % timeout)
            if msg != WELCOME:
                raise TapError(0, "tap: expected WELCOME, got message type %d" % msg)
            f = WELCOME_S.unpack_from(self._buf)
            self._flush_at = max(1, f[5] // 2)
            self.welcome = {"reader_id": f[3], "device": _cstr(f[4]), "lease_cap": f[5],
                            "queue_depth": f[6], "history": f[7], "lease_timeout_ms": f[8],
                            "daemon_pid": f[9], "format": _cstr(f[11])}
            if self.welcome["format"] != FORMAT:
                raise TapError(0, "tap: format %r, not %r" % (self.welcome["format"], FORMAT))
        except BaseException:
            self._shutdown(bye=False)
            raise

    # -- receiving

    def _recv(self, timeout, poll=False):
        """One message into self._buf: its type, or None on timeout (poll:
        at once, without touching the socket's timeout).  MAP, ERROR and EOF
        are handled here (ERROR raises TapError)."""
        if not poll and timeout != self._rcvtimeo:
            self._set_rcvtimeo(timeout)
        try:
            n, anc, flags, _ = self.sock.recvmsg_into((self._view,), _ANC,
                                                      socket.MSG_DONTWAIT if poll else 0)
        except BlockingIOError:
            return None
        if n == 0:
            raise TapClosed("tap: the daemon closed the connection")
        if n < 8:
            raise TapError(0, "tap: a %d-byte message" % n)
        magic, version, typ = HEAD.unpack_from(self._buf)
        if anc:
            fds = []
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.extend(struct.unpack("%di" % (len(data) // 4), data[:len(data) // 4 * 4]))
            if typ != MAP or len(fds) != 2:
                for fd in fds:
                    os.close(fd)
                raise TapError(0, "tap: %d fds with message type %d" % (len(fds), typ))
            if n != MAP_S.size or magic != MAGIC or version != VERSION:
                for fd in fds:
                    os.close(fd)
                raise TapError(0, "tap: a bad MAP message")
            self._map(fds)
            return MAP
        if magic != MAGIC or version != VERSION:
            raise TapError(0, "tap: bad magic or version (%#x, %d)" % (magic, version))
        if typ == ERROR and n == ERROR_S.size:
            f = ERROR_S.unpack_from(self._buf)
            raise TapError(f[3], _cstr(f[5]))
        if typ == BYE:
            raise TapClosed("tap: the daemon said BYE")
        if typ == MAP:
            raise TapError(0, "tap: a MAP without its fds")
        return typ

    def _set_rcvtimeo(self, timeout):
        if timeout is None:
            tv = struct.pack("qq", 0, 0)  # forever
        else:
            sec = int(max(timeout, 0.0))
            usec = int((max(timeout, 0.0) - sec) * 1e6)
            tv = struct.pack("qq", sec, usec if sec or usec else 1)  # 0 would mean forever
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
        self._rcvtimeo = timeout

    def _map(self, fds):
        p = _Pool(MAP_S.unpack_from(self._buf), fds)
        old = self._pools.get(p.serial)
        self._pools[p.serial] = p
        self.maps += 1
        if old is not None and old.held == 0:
            old.unmap()
        self._gc()
        # Mapped and prefaulted: READY starts the stream (HELLO_READY: the
        # daemon holds frames back until then; after later MAPs harmless).
        self.sock.send(HEAD.pack(MAGIC, VERSION, READY))

    def _gc(self):
        """Unmaps older pools no lease points into any more."""
        newest = max(self._pools) if self._pools else 0
        for s in [s for s, p in self._pools.items() if s != newest and p.held == 0]:
            self._pools.pop(s).unmap()

    def next(self, timeout=None):
        """The next frame, or None when none came within timeout seconds
        (None: wait forever).  Raises TapError on ERROR, TapClosed when the
        daemon closed.

        Queued releases go out before it would wait, or once half the lease
        cap is queued: a reader that keeps up with the camera sends one
        RELEASE per batch of frames, not one per frame (the daemon counts a
        queued release as a held lease until it arrives)."""
        if len(self._pending) >= self._flush_at:
            self.flush()
        deadline = None
        t = timeout
        while True:
            typ = self._recv(0, poll=True) if self._pending else None
            if typ is None:
                if self._pending:
                    self.flush()
                typ = self._recv(t)
            if typ == FRAME:
                f = FRAME_S.unpack_from(self._buf)
                pool = self._pools.get(f[4])
                if pool is None:
                    raise TapError(0, "tap: a FRAME of pool %d before its MAP" % f[4])
                fr = Frame(self, pool, f, time.monotonic_ns())
                pool.held += 1
                self._held[fr.lease] = pool
                self.frames_received += 1
                return fr
            if typ is None:
                return None
            if typ == REVOKED:
                lease = REVOKED_S.unpack_from(self._buf)[3]
                pool = self._held.pop(lease, None)
                if pool is not None:
                    pool.held -= 1
                self.revoked += 1
            elif typ == EOS:
                self.eos += 1
            # MAP was handled in _recv; anything else of a later version: skipped
            if timeout is not None:
                if deadline is None:
                    deadline = time.monotonic() + timeout
                t = deadline - time.monotonic()
                if t <= 0:
                    return None

    def frames(self, n=None, timeout=5.0):
        """Yields up to n frames (forever if None), each released when the
        loop asks for the next; ends early when none comes within timeout."""
        i = 0
        while n is None or i < n:
            f = self.next(timeout)
            if f is None:
                return
            try:
                yield f
            finally:
                f.release()
            i += 1

    # -- releasing

    def _release(self, frame):
        pool = self._held.pop(frame.lease, None)
        if pool is None:
            return  # revoked: the daemon already dropped it
        pool.held -= 1
        self._pending.append(frame.lease)
        self.released += 1
        if len(self._pending) >= MAX_RELEASE:
            self.flush()

    def flush(self):
        """Sends the queued releases now (batches of up to 62)."""
        pend = self._pending
        while pend:
            batch = pend[:MAX_RELEASE]
            n = len(batch)
            RELEASE_HEAD.pack_into(self._relbuf, 0, MAGIC, VERSION, RELEASE, n, 0)
            struct.pack_into("<%dQ" % n, self._relbuf, RELEASE_HEAD.size, *batch)
            self.sock.send(memoryview(self._relbuf)[:RELEASE_HEAD.size + 8 * n])
            del pend[:n]
        if len(self._pools) > 1:
            self._gc()

    @property
    def leases_held(self):
        return len(self._held)

    def fileno(self):
        """The socket, for select/poll (readable: next(timeout=0))."""
        return self.sock.fileno()

    # -- closing

    def _shutdown(self, bye):
        if self.sock is None:
            return
        try:
            if bye:
                try:
                    self.flush()
                    self.sock.send(HEAD.pack(MAGIC, VERSION, BYE))
                except OSError as e:
                    if e.errno not in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                        raise
        finally:
            self.sock.close()
            self.sock = None
            for p in self._pools.values():
                p.unmap()
            self._pools.clear()
            self._held.clear()
            self._pending = []

    def close(self):
        """Releases what is queued, says BYE, closes.  Leases still held are
        released by the daemon (socket EOF)."""
        self._shutdown(bye=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self._shutdown(bye=False)
        except Exception:
            pass


def tap_info(channel):
    """rust-daq's StorageService.GetRingBufferTapInfo on a gRPC channel
    (daq_client.Client(...).channel): the tap's socket path and
    data_format "daq-slots-v1", as a dict of the reply's fields.  Raises
    NotImplementedError when the client's protos do not declare it."""
    from . import stubs
    from .recording import message_to_dict
    s = stubs()
    req_type = getattr(s.daq, "GetRingBufferTapInfoRequest", None)
    stub = s.daq_grpc.StorageServiceStub(channel)
    if req_type is None or not hasattr(stub, "GetRingBufferTapInfo"):
        raise NotImplementedError("proto/daq.proto has no GetRingBufferTapInfo")
    return message_to_dict(stub.GetRingBufferTapInfo(req_type(), timeout=10))
