// pb.js - the few protobuf messages of proto/daq.proto the live view sends
// and reads through the unary gRPC bridge (POST /api/rpc/<pkg.Service>/<Method>).
//
// Why hand-written: the page has no build step and loads nothing from the
// network, and the ~20 messages it needs use five wire features (varint,
// fixed64 double, fixed32 float, length-delimited strings/messages/packed
// scalars, map entries as nested messages).  A schema is a list of
// [name, field number, type, flags]; field numbers are the contract and are
// copied from proto/daq.proto (numbers >= 1000 are daq's extensions).
//
// Encoding follows proto3: a scalar equal to its default is left out unless
// the field is `optional` (explicit presence), so the daemon's protobuf-c sees
// exactly what a generated client would send.  Decoding keeps the last value
// of a scalar field, collects repeated fields (packed or not) and skips
// unknown fields by wire type, as a generated parser does.  64-bit integers
// decode to Number when they fit in 2^53 (counters, sizes) and to BigInt
// otherwise, so no value is silently rounded.

const WT_VARINT = 0;
const WT_I64 = 1;
const WT_LEN = 2;
const WT_I32 = 5;

const utf8enc = new TextEncoder();
const utf8dec = new TextDecoder('utf-8');

// ---- writer -----------------------------------------------------------------------------

class Writer {
  constructor() {
    this.buf = new Uint8Array(64);
    this.len = 0;
  }
  ensure(n) {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }
  byte(b) {
    this.ensure(1);
    this.buf[this.len++] = b;
  }
  varint(v) {
    // Number or BigInt, >= 0 (negative int32/int64 are 10-byte two's complement).
    let x = typeof v === 'bigint' ? v : BigInt(Math.trunc(v));
    if (x < 0n) x = BigInt.asUintN(64, x);
    if (x < 0x80n) {
      this.byte(Number(x));
      return;
    }
    while (x >= 0x80n) {
      this.byte(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.byte(Number(x));
  }
  tag(field, wt) {
    this.varint(field * 8 + wt);
  }
  bytes(u8) {
    this.varint(u8.length);
    this.ensure(u8.length);
    this.buf.set(u8, this.len);
    this.len += u8.length;
  }
  double(v) {
    this.ensure(8);
    new DataView(this.buf.buffer).setFloat64(this.len, v, true);
    this.len += 8;
  }
  float(v) {
    this.ensure(4);
    new DataView(this.buf.buffer).setFloat32(this.len, v, true);
    this.len += 4;
  }
  fixed32(v) {
    this.ensure(4);
    new DataView(this.buf.buffer).setUint32(this.len, v >>> 0, true);
    this.len += 4;
  }
  fixed64(v) {
    this.ensure(8);
    new DataView(this.buf.buffer).setBigUint64(this.len, BigInt.asUintN(64, BigInt(v)), true);
    this.len += 8;
  }
  finish() {
    return this.buf.slice(0, this.len);
  }
}

const VARINT_TYPES = new Set(['uint32', 'uint64', 'int32', 'int64', 'bool', 'enum']);

function isDefault(type, v) {
  switch (type) {
    case 'string':
      return v === '';
    case 'bytes':
      return v.length === 0;
    case 'bool':
      return v === false;
    case 'message':
      return false;
    default:
      return v === 0 || v === 0n;
  }
}

function writeScalar(w, field, type, v) {
  switch (type) {
    case 'string':
      w.tag(field, WT_LEN);
      w.bytes(utf8enc.encode(String(v)));
      return;
    case 'bytes':
      w.tag(field, WT_LEN);
      w.bytes(v);
      return;
    case 'double':
      w.tag(field, WT_I64);
      w.double(Number(v));
      return;
    case 'float':
      w.tag(field, WT_I32);
      w.float(Number(v));
      return;
    case 'fixed32':
      w.tag(field, WT_I32);
      w.fixed32(Number(v));
      return;
    case 'fixed64':
      w.tag(field, WT_I64);
      w.fixed64(v);
      return;
    case 'bool':
      w.tag(field, WT_VARINT);
      w.varint(v ? 1 : 0);
      return;
    default:
      if (!VARINT_TYPES.has(type)) throw new Error(`pb: unknown type ${type}`);
      w.tag(field, WT_VARINT);
      w.varint(v);
  }
}

// schema entry: [name, field, type, flags]; flags: {optional, repeated, map, message}
function writeMessage(w, schema, obj) {
  for (const [name, field, type, flags = {}] of schema) {
    const v = obj[name];
    if (v === undefined || v === null) continue;
    if (flags.map) {
      // map<string, string>: repeated entry {key = 1; value = 2}
      for (const [k, val] of Object.entries(v)) {
        const e = new Writer();
        writeScalar(e, 1, 'string', k);
        writeScalar(e, 2, 'string', val);
        w.tag(field, WT_LEN);
        w.bytes(e.finish());
      }
      continue;
    }
    const vals = flags.repeated ? v : [v];
    for (const one of vals) {
      if (type === 'message') {
        const sub = new Writer();
        writeMessage(sub, flags.message, one);
        w.tag(field, WT_LEN);
        w.bytes(sub.finish());
      } else {
        if (!flags.repeated && !flags.optional && isDefault(type, one)) continue;
        writeScalar(w, field, type, one);
      }
    }
  }
}

export function encode(schema, obj) {
  const w = new Writer();
  writeMessage(w, schema, obj);
  return w.finish();
}

// ---- reader -----------------------------------------------------------------------------

class Reader {
  constructor(u8) {
    this.b = u8;
    this.pos = 0;
    this.dv = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  }
  eof() {
    return this.pos >= this.b.length;
  }
  varint() {
    // Fast path for values below 2^28, BigInt beyond (uint64 counters).
    let r = 0;
    let shift = 0;
    for (let i = 0; i < 4; i++) {
      if (this.pos >= this.b.length) throw new Error('pb: truncated varint');
      const c = this.b[this.pos++];
      r |= (c & 0x7f) << shift;
      if (c < 0x80) return r >>> 0;
      shift += 7;
    }
    let big = BigInt(r >>> 0);
    let s = 28n;
    for (let i = 4; i < 10; i++) {
      if (this.pos >= this.b.length) throw new Error('pb: truncated varint');
      const c = this.b[this.pos++];
      big |= BigInt(c & 0x7f) << s;
      if (c < 0x80) return big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
      s += 7n;
    }
    throw new Error('pb: varint longer than 10 bytes');
  }
  need(n) {
    if (this.pos + n > this.b.length) throw new Error('pb: truncated field');
  }
  len() {
    const n = Number(this.varint());
    this.need(n);
    const out = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  skip(wt) {
    switch (wt) {
      case WT_VARINT:
        this.varint();
        return;
      case WT_I64:
        this.need(8);
        this.pos += 8;
        return;
      case WT_LEN:
        this.len();
        return;
      case WT_I32:
        this.need(4);
        this.pos += 4;
        return;
      default:
        throw new Error(`pb: wire type ${wt} not supported`);
    }
  }
}

function defaultOf(type, flags) {
  if (flags.repeated) return [];
  if (flags.map) return {};
  if (flags.optional || type === 'message') return null;
  switch (type) {
    case 'string':
      return '';
    case 'bytes':
      return new Uint8Array(0);
    case 'bool':
      return false;
    default:
      return 0;
  }
}

function readScalar(r, type, wt) {
  switch (type) {
    case 'string':
      return utf8dec.decode(r.len());
    case 'bytes':
      return r.len().slice();
    case 'double': {
      r.need(8);
      const v = r.dv.getFloat64(r.pos, true);
      r.pos += 8;
      return v;
    }
    case 'float': {
      r.need(4);
      const v = r.dv.getFloat32(r.pos, true);
      r.pos += 4;
      return v;
    }
    case 'fixed32': {
      r.need(4);
      const v = r.dv.getUint32(r.pos, true);
      r.pos += 4;
      return v;
    }
    case 'fixed64': {
      r.need(8);
      const v = r.dv.getBigUint64(r.pos, true);
      r.pos += 8;
      return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
    }
    case 'bool':
      return Number(r.varint()) !== 0;
    case 'int32': {
      const v = r.varint();
      return Number(BigInt.asIntN(32, BigInt(v)));
    }
    case 'int64': {
      const v = BigInt.asIntN(64, BigInt(r.varint()));
      return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(v)
        : v;
    }
    default:
      if (wt !== WT_VARINT) throw new Error(`pb: wire type ${wt} for ${type}`);
      return r.varint();
  }
}

const PACKABLE = new Set(['uint32', 'uint64', 'int32', 'int64', 'bool', 'enum', 'double',
  'float', 'fixed32', 'fixed64']);

function wireTypeOf(type) {
  switch (type) {
    case 'string':
    case 'bytes':
    case 'message':
      return WT_LEN;
    case 'double':
    case 'fixed64':
      return WT_I64;
    case 'float':
    case 'fixed32':
      return WT_I32;
    default:
      return WT_VARINT;
  }
}

function readMessage(u8, schema) {
  const byField = new Map();
  const out = {};
  for (const ent of schema) {
    const [name, field, type, flags = {}] = ent;
    byField.set(field, ent);
    out[name] = defaultOf(type, flags);
  }
  const r = new Reader(u8);
  while (!r.eof()) {
    const key = r.varint();
    const field = Math.floor(Number(key) / 8);
    const wt = Number(key) & 7;
    const ent = byField.get(field);
    if (!ent) {
      r.skip(wt);
      continue;
    }
    const [name, , type, flags = {}] = ent;
    if (flags.map) {
      if (wt !== WT_LEN) throw new Error(`pb: ${name}: map entry with wire type ${wt}`);
      const e = readMessage(r.len(), [['key', 1, 'string'], ['value', 2, 'string']]);
      out[name][e.key] = e.value;
    } else if (type === 'message') {
      if (wt !== WT_LEN) throw new Error(`pb: ${name}: message with wire type ${wt}`);
      const v = readMessage(r.len(), flags.message);
      if (flags.repeated) out[name].push(v);
      else out[name] = v;
    } else if (flags.repeated && PACKABLE.has(type) && wt === WT_LEN) {
      const sub = new Reader(r.len());
      while (!sub.eof()) out[name].push(readScalar(sub, type, wireTypeOf(type)));
    } else {
      if (wt !== wireTypeOf(type)) throw new Error(`pb: ${name}: wire type ${wt} for ${type}`);
      const v = readScalar(r, type, wt);
      if (flags.repeated) out[name].push(v);
      else out[name] = v;
    }
  }
  return out;
}

export function decode(schema, u8) {
  return readMessage(u8 instanceof Uint8Array ? u8 : new Uint8Array(u8), schema);
}

// ---- the messages (proto/daq.proto) -------------------------------------------------------

const OPT = { optional: true };
const REP = { repeated: true };
const MAP = { map: true };

export const M = {
  DeviceId: [['device_id', 1, 'string']],
  StartStreamRequest: [['device_id', 1, 'string'], ['frame_count', 2, 'uint32', OPT]],
  StartStreamResponse: [['success', 1, 'bool'], ['error_message', 2, 'string']],
  StopStreamRequest: [['device_id', 1, 'string']],
  StopStreamResponse: [['success', 1, 'bool'], ['frames_captured', 2, 'uint64']],
  SetExposureRequest: [['device_id', 1, 'string'], ['exposure_ms', 2, 'double']],
  SetExposureResponse: [['success', 1, 'bool'], ['error_message', 2, 'string'],
    ['actual_exposure_ms', 3, 'double']],
  GetExposureRequest: [['device_id', 1, 'string']],
  GetExposureResponse: [['exposure_ms', 1, 'double']],
  DeviceStateRequest: [['device_id', 1, 'string']],
  DeviceStateResponse: [
    ['device_id', 1, 'string'], ['online', 2, 'bool'], ['position', 10, 'double', OPT],
    ['last_reading', 11, 'double', OPT], ['armed', 12, 'bool', OPT],
    ['streaming', 13, 'bool', OPT], ['exposure_ms', 14, 'double', OPT],
    ['use_pool', 1000, 'bool', OPT], ['rollback_symptoms', 1001, 'string', REP],
    ['auto_rollbacks', 1002, 'uint64'], ['auto_rollback_reason', 1003, 'string'],
  ],
  GetParameterRequest: [['device_id', 1, 'string'], ['parameter_name', 2, 'string']],
  ParameterValue: [['device_id', 1, 'string'], ['name', 2, 'string'], ['value', 3, 'string'],
    ['units', 4, 'string'], ['timestamp_ns', 5, 'uint64']],
  SetParameterRequest: [['device_id', 1, 'string'], ['parameter_name', 2, 'string'],
    ['value', 3, 'string']],
  SetParameterResponse: [['success', 1, 'bool'], ['error_message', 2, 'string'],
    ['actual_value', 3, 'string']],
  StartRecordingRequest: [['name', 1, 'string'], ['metadata', 2, 'string', MAP],
    ['scan_id', 10, 'string', OPT], ['run_uid', 11, 'string', OPT]],
  StartRecordingResponse: [['success', 1, 'bool'], ['error_message', 2, 'string'],
    ['recording_id', 3, 'string'], ['output_path', 4, 'string']],
  StopRecordingRequest: [['recording_id', 1, 'string', OPT], ['final_metadata', 2, 'string', MAP]],
  StopRecordingResponse: [['success', 1, 'bool'], ['error_message', 2, 'string'],
    ['acquisition_id', 3, 'string'], ['output_path', 4, 'string'],
    ['file_size_bytes', 5, 'uint64'], ['total_samples', 6, 'uint64'], ['duration_ns', 7, 'uint64']],
  GetRecordingStatusRequest: [['recording_id', 1, 'string', OPT]],
  RecordingStatus: [
    ['recording_id', 1, 'string'], ['state', 2, 'enum'], ['output_path', 3, 'string'],
    ['samples_recorded', 10, 'uint64'], ['bytes_written', 11, 'uint64'],
    ['start_time_ns', 12, 'uint64'], ['elapsed_ns', 13, 'uint64'],
    ['buffer_fill_percent', 20, 'uint32'], ['pending_samples', 21, 'uint64'],
    ['flushes_completed', 22, 'uint64'], ['error_message', 30, 'string'],
  ],
};

export const RECORDING_STATES = ['UNSPECIFIED', 'IDLE', 'ACTIVE', 'FLUSHING', 'FINALIZING', 'ERROR'];
