// The one codec between the fixed-size binary records (record-layout.ts) and plain objects. The
// decoded objects ARE the NDJSON contract: `JSON.stringify(decodeRecord(...))` is a valid NDJSON
// record line, with keys in the documented order. That keeps one shape for the VMM, the web app
// and exports, at the price of a few fields a record cannot carry back into binary unchanged
// (noted where they occur).
//
// Decoding is on the web app's hot path (a million records): each record is decoded by a flat
// switch into object literals, with no closures, no per-field lookups by name and no TextDecoder
// unless the record is a marker.
import { exitReasonName, internalErrorName, KvmExit, systemEventName } from "./exit-reasons.js";
import { errnoName } from "./errno.js";
import { ioctlArgNames, ioctlId, ioctlName } from "./ioctls.js";
import {
  EXIT, EXIT_INTERNAL, EXIT_IO, EXIT_MMIO, EXIT_PAYLOAD_BY_CODE, EXIT_SYSTEM_EVENT, ExitFlag, type FieldSpec, H,
  IO_INLINE_BYTES, IOCTL, LOST, MAIN_THREAD, MARKER, MARKER_TEXT_BYTES, RECORD_SIZE, RecordFlag, RecordKind,
  STAT_NAMES, type StatName, STATS,
} from "./record-layout.js";

// ---------------------------------------------------------------------------------------------
// Decoded record types (the NDJSON contract)

/** "main" for the VMM's main thread (binary MAIN_THREAD), "vcpu<N>" for vCPU N's thread. */
export type ThreadName = "main" | `vcpu${number}`;

/** Fields every record has. */
interface RecordBase {
  /** Global sequence number: one counter for the run, a total order across threads. */
  seq: number;
  /** Nanoseconds since the run began (CLOCK_MONOTONIC). */
  ts: number;
}

/** A system call on a KVM fd. `ts` is when it was issued; it took `durNs`. */
export interface IoctlRecord extends RecordBase {
  type: "ioctl";
  thread: ThreadName;
  /** IOCTLS name, or `IOCTL_<id>` for an id this version does not know. */
  name: string;
  fd: number;
  /** The numbers that say what was asked, named by IOCTLS[name].args. */
  args: Record<string, number>;
  /** Return value, or -1 when it failed. */
  ret: number;
  /** 0, or the errno it failed with. */
  errno: number;
  durNs: number;
  /** Symbolic errno ("EEXIST") when errno != 0 and ERRNO_NAMES knows it. Derived: not stored. */
  error?: string;
}

/** KVM_EXIT_IO: `size` bytes at `port`, `count` times (string I/O when count > 1). */
export interface IoPayload {
  port: number;
  /** 1, 2 or 4 */
  size: number;
  direction: "in" | "out";
  count: number;
  /** For OUT what the guest wrote, for IN what the VMM answered; at most IO_INLINE_BYTES bytes. */
  data: number[];
  /** Present only when truncated: size * count, the bytes moved in all. */
  dataLen?: number;
  /** Present (true) only when `data` holds fewer bytes than were moved. */
  truncated?: true;
}

/** KVM_EXIT_MMIO: one access of `len` bytes at guest-physical `addr`. */
export interface MmioPayload {
  addr: number;
  len: number;
  isWrite: boolean;
  /** The first `len` bytes: for a write what the guest wrote, for a read what the VMM answered. */
  data: number[];
}

/** KVM_EXIT_INTERNAL_ERROR */
export interface InternalPayload {
  suberror: number;
  suberrorName: string;
  /** The first internal.data values (the record keeps at most two). */
  data: number[];
  /** Bytes of the instruction at RIP that the VMM could read (at most 15). */
  insn: number[];
}

/** KVM_EXIT_FAIL_ENTRY */
export interface FailEntryPayload {
  /** hardware_entry_failure_reason (the VMX exit qualification / SVM exit code) */
  reason: number;
  cpu: number;
}

/** KVM_EXIT_SYSTEM_EVENT */
export interface SystemEventPayload {
  type: number;
  typeName: string;
  /** system_event.data[0]: the same u64 that kernels without KVM_CAP_SYSTEM_EVENT_DATA call `flags`. */
  data: number;
}

/** KVM_EXIT_DEBUG (x86 kvm_debug_exit_arch) */
export interface DebugPayload {
  exception: number;
  pc: number;
  dr6: number;
  dr7: number;
}

/** KVM_EXIT_EXCEPTION */
export interface ExceptionPayload {
  exception: number;
  errorCode: number;
}

/** KVM_EXIT_HYPERCALL */
export interface HypercallPayload {
  nr: number;
}

/** KVM_EXIT_UNKNOWN */
export interface UnknownPayload {
  hardwareExitReason: number;
}

/**
 * One return from KVM_RUN. `ts` is when KVM_RUN returned; the vCPU was inside KVM_RUN for
 * `guestNs` before that and userspace took `handleNs` after it, until the next KVM_RUN.
 * Exactly one payload is present, chosen by `code` (none for HLT, SHUTDOWN, IRQ_WINDOW_OPEN, ...).
 */
export interface ExitRecord extends RecordBase {
  type: "exit";
  vcpu: number;
  /** exitReasonName(code) */
  reason: string;
  code: number;
  /** Guest RIP at the exit; exact below 2^53 (see record-layout.ts). */
  rip: number;
  guestNs: number;
  handleNs: number;
  /** kvm_run.if_flag: the guest had interrupts enabled */
  ifFlag: boolean;
  /** kvm_run.ready_for_interrupt_injection */
  readyForInjection: boolean;
  /** kvm_run.request_interrupt_window was set for the KVM_RUN that ended here */
  requestedWindow: boolean;
  /**
   * Present (true) when the payload was not observed (a trace of another VMM, which saw only the
   * reason): the record then carries no payload even where its reason has one.
   */
  unobserved?: true;
  io?: IoPayload;
  mmio?: MmioPayload;
  internal?: InternalPayload;
  failEntry?: FailEntryPayload;
  systemEvent?: SystemEventPayload;
  debug?: DebugPayload;
  exception?: ExceptionPayload;
  hypercall?: HypercallPayload;
  unknown?: UnknownPayload;
}

/** A label from the guest's debug console (port 0xe9) or from the VMM. */
export interface MarkerRecord extends RecordBase {
  type: "marker";
  thread: ThreadName;
  text: string;
  /** Present (true) when the label was longer than MARKER_TEXT_BYTES of UTF-8. */
  truncated?: true;
}

/** One sample of a vCPU's KVM_GET_STATS_FD counters. */
export interface StatsRecord extends RecordBase {
  type: "stats";
  vcpu: number;
  /** The counters this kernel has; those it lacks (stored as -1) are left out. */
  counters: Partial<Record<StatName, number>>;
}

/** Records a thread's ring had to drop since its previous Lost record. */
export interface LostRecord extends RecordBase {
  type: "lost";
  thread: ThreadName;
  count: number;
}

/**
 * A record of a kind this version does not know (written by a newer one: a register snapshot,
 * say). Its header is kept; its payload is not decoded, and encoding it writes the header only.
 */
export interface UnknownRecord extends RecordBase {
  type: "unknown";
  /** The binary RecordKind it had. */
  kind: number;
  thread: ThreadName;
}

export type TraceRecord = IoctlRecord | ExitRecord | MarkerRecord | StatsRecord | LostRecord | UnknownRecord;
export type TraceRecordType = TraceRecord["type"];

// ---------------------------------------------------------------------------------------------
// Threads

// "vcpu<N>" strings are cached so that decoding a million records does not build a million
// identical strings.
const threadNameCache: string[] = [];

/** The contract's name for a binary `thread` value. */
export function threadName(thread: number): ThreadName {
  if (thread === MAIN_THREAD) return "main";
  return (threadNameCache[thread] ??= `vcpu${thread}`) as ThreadName;
}

/** The binary `thread` value for a contract thread name, or undefined if it is malformed. */
export function threadIndex(name: string): number | undefined {
  if (name === "main") return MAIN_THREAD;
  const m = /^vcpu(\d{1,5})$/.exec(name);
  if (m === null) return undefined;
  const n = Number(m[1]);
  // MAIN_THREAD itself is not a vCPU index.
  return n < MAIN_THREAD ? n : undefined;
}

function requireThreadIndex(name: string): number {
  const t = threadIndex(name);
  if (t === undefined) throw new TypeError(`thread ${JSON.stringify(name)} is neither "main" nor "vcpu<N>"`);
  return t;
}

// ---------------------------------------------------------------------------------------------
// Decoding

function readBytes(view: DataView, at: number, n: number): number[] {
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = view.getUint8(at + i);
  return out;
}

const utf8Decoder = new TextDecoder();

/** Decodes the record at `offset`. A kind this version does not know decodes as an UnknownRecord. */
export function decodeRecord(view: DataView, offset: number): TraceRecord {
  if (offset < 0 || offset + RECORD_SIZE > view.byteLength) {
    throw new RangeError(`no whole record at byte ${offset} of a ${view.byteLength}-byte view`);
  }
  const kind = view.getUint8(offset + H.kind);
  switch (kind) {
    case RecordKind.Exit:
      return decodeExit(view, offset);
    case RecordKind.Ioctl:
      return decodeIoctl(view, offset);
    case RecordKind.Marker:
      return decodeMarker(view, offset);
    case RecordKind.Stats:
      return decodeStats(view, offset);
    case RecordKind.Lost:
      return {
        type: "lost",
        seq: view.getUint32(offset + H.seq, true),
        ts: view.getFloat64(offset + H.ts, true),
        thread: threadName(view.getUint16(offset + H.thread, true)),
        count: view.getFloat64(offset + LOST.count, true),
      };
    default:
      return {
        type: "unknown",
        seq: view.getUint32(offset + H.seq, true),
        ts: view.getFloat64(offset + H.ts, true),
        kind,
        thread: threadName(view.getUint16(offset + H.thread, true)),
      };
  }
}

// The plain exit payloads (RECORD_SCHEMA.exitPayloads with plain: true) are decoded, encoded and
// validated from their field lists; the rest have hand-written code for what they derive.

function readField(view: DataView, o: number, f: FieldSpec): number {
  switch (f.type) {
    case "u8": return view.getUint8(o + f.at);
    case "u16": return view.getUint16(o + f.at, true);
    case "u32": return view.getUint32(o + f.at, true);
    case "i32": return view.getInt32(o + f.at, true);
    default: return view.getFloat64(o + f.at, true);
  }
}

function writeField(view: DataView, o: number, f: FieldSpec, v: number): void {
  switch (f.type) {
    case "u8": view.setUint8(o + f.at, v); return;
    case "u16": view.setUint16(o + f.at, v, true); return;
    case "u32": view.setUint32(o + f.at, v, true); return;
    case "i32": view.setInt32(o + f.at, v, true); return;
    default: view.setFloat64(o + f.at, v, true);
  }
}

function decodePlain(view: DataView, o: number, fields: readonly FieldSpec[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of fields) out[f.name] = readField(view, o, f);
  return out;
}

function decodeExit(view: DataView, o: number): ExitRecord {
  const code = view.getUint32(o + H.code, true);
  const aux = view.getUint32(o + H.aux, true);
  const seq = view.getUint32(o + H.seq, true);
  const ts = view.getFloat64(o + H.ts, true);
  const vcpu = view.getUint16(o + H.thread, true);
  const reason = exitReasonName(code);
  const rip = view.getFloat64(o + EXIT.rip, true);
  const guestNs = view.getFloat64(o + H.dur, true);
  const handleNs = view.getFloat64(o + EXIT.handleNs, true);
  const ifFlag = (aux & ExitFlag.IfFlag) !== 0;
  const readyForInjection = (aux & ExitFlag.ReadyForInjection) !== 0;
  const requestedWindow = (aux & ExitFlag.RequestedWindow) !== 0;
  // IO and MMIO are nearly every exit of a teaching run: build them in one literal, so the object
  // is allocated at its final shape (adding the payload afterwards costs a transition and an
  // out-of-object property store; measured ~10% less retained memory for a million records).
  const unobserved = (view.getUint8(o + H.flags) & RecordFlag.PayloadUnobserved) !== 0;
  if (code === KvmExit.IO && !unobserved) {
    return { type: "exit", seq, ts, vcpu, reason, code, rip, guestNs, handleNs, ifFlag, readyForInjection, requestedWindow, io: decodeIo(view, o) };
  }
  if (code === KvmExit.MMIO && !unobserved) {
    return { type: "exit", seq, ts, vcpu, reason, code, rip, guestNs, handleNs, ifFlag, readyForInjection, requestedWindow, mmio: decodeMmio(view, o) };
  }
  const rec: ExitRecord = { type: "exit", seq, ts, vcpu, reason, code, rip, guestNs, handleNs, ifFlag, readyForInjection, requestedWindow };
  if (unobserved) {
    rec.unobserved = true;
    return rec;
  }
  const payload = EXIT_PAYLOAD_BY_CODE.get(code);
  if (payload?.plain) {
    (rec as unknown as Record<string, unknown>)[payload.key] = decodePlain(view, o, payload.fields);
    return rec;
  }
  switch (code) {
    case KvmExit.INTERNAL_ERROR: {
      const suberror = view.getUint32(o + EXIT_INTERNAL.suberror, true);
      const ndata = Math.min(view.getUint32(o + EXIT_INTERNAL.ndata, true), 2);
      const data: number[] = [];
      if (ndata > 0) data.push(view.getFloat64(o + EXIT_INTERNAL.data0, true));
      if (ndata > 1) data.push(view.getFloat64(o + EXIT_INTERNAL.data1, true));
      rec.internal = {
        suberror,
        suberrorName: internalErrorName(suberror),
        data,
        insn: readBytes(view, o + EXIT_INTERNAL.insn, Math.min(view.getUint8(o + EXIT_INTERNAL.insnLen), 15)),
      };
      break;
    }
    case KvmExit.SYSTEM_EVENT: {
      const type = view.getUint32(o + EXIT_SYSTEM_EVENT.type, true);
      rec.systemEvent = { type, typeName: systemEventName(type), data: view.getFloat64(o + EXIT_SYSTEM_EVENT.data0, true) };
      break;
    }
    default:
      // HLT, IRQ_WINDOW_OPEN, SHUTDOWN, INTR and the rest carry nothing beyond the common fields.
      break;
  }
  return rec;
}

function decodeIo(view: DataView, o: number): IoPayload {
  const dataLen = view.getUint32(o + EXIT_IO.dataLen, true);
  const io: IoPayload = {
    port: view.getUint16(o + EXIT_IO.port, true),
    size: view.getUint8(o + EXIT_IO.size),
    direction: view.getUint8(o + EXIT_IO.direction) === 0 ? "in" : "out",
    count: view.getUint32(o + EXIT_IO.count, true),
    data: readBytes(view, o + EXIT_IO.data, Math.min(dataLen, IO_INLINE_BYTES)),
  };
  if ((view.getUint8(o + H.flags) & RecordFlag.Truncated) !== 0 || dataLen > IO_INLINE_BYTES) {
    io.dataLen = dataLen;
    io.truncated = true;
  }
  return io;
}

function decodeMmio(view: DataView, o: number): MmioPayload {
  const len = view.getUint32(o + EXIT_MMIO.len, true);
  return {
    addr: view.getFloat64(o + EXIT_MMIO.addr, true),
    len,
    isWrite: view.getUint8(o + EXIT_MMIO.isWrite) !== 0,
    data: readBytes(view, o + EXIT_MMIO.data, Math.min(len, 8)),
  };
}

function decodeIoctl(view: DataView, o: number): IoctlRecord {
  const id = view.getUint32(o + H.code, true);
  const nargs = Math.min(view.getUint8(o + IOCTL.nargs), 3);
  const names = ioctlArgNames(id, nargs);
  const args: Record<string, number> = {};
  const n = Math.min(names.length, nargs);
  for (let i = 0; i < n; i++) args[names[i]!] = view.getFloat64(o + IOCTL.args + 8 * i, true);
  const errno = view.getUint32(o + IOCTL.errno, true);
  const rec: IoctlRecord = {
    type: "ioctl",
    seq: view.getUint32(o + H.seq, true),
    ts: view.getFloat64(o + H.ts, true),
    thread: threadName(view.getUint16(o + H.thread, true)),
    name: ioctlName(id),
    fd: view.getUint32(o + H.aux, true),
    args,
    ret: view.getInt32(o + IOCTL.ret, true),
    errno,
    durNs: view.getFloat64(o + H.dur, true),
  };
  if (errno !== 0) {
    const error = errnoName(errno);
    if (error !== undefined) rec.error = error;
  }
  return rec;
}

function decodeMarker(view: DataView, o: number): MarkerRecord {
  const textLen = view.getUint16(o + MARKER.textLen, true);
  const truncated = (view.getUint8(o + H.flags) & RecordFlag.Truncated) !== 0 || textLen > MARKER_TEXT_BYTES;
  let n = Math.min(textLen, MARKER_TEXT_BYTES);
  // A truncated label was cut at a character boundary, leaving zero padding before the end.
  if (truncated) while (n > 0 && view.getUint8(o + MARKER.text + n - 1) === 0) n--;
  // slice() copies into a fresh, unshared buffer: browsers' TextDecoder rejects views over a
  // SharedArrayBuffer, which is what the rings are.
  const bytes = new Uint8Array(view.buffer, view.byteOffset + o + MARKER.text, n).slice();
  const rec: MarkerRecord = {
    type: "marker",
    seq: view.getUint32(o + H.seq, true),
    ts: view.getFloat64(o + H.ts, true),
    thread: threadName(view.getUint16(o + H.thread, true)),
    text: utf8Decoder.decode(bytes),
  };
  if (truncated) rec.truncated = true;
  return rec;
}

function decodeStats(view: DataView, o: number): StatsRecord {
  const counters: Partial<Record<StatName, number>> = {};
  for (let i = 0; i < STAT_NAMES.length; i++) {
    const v = view.getFloat64(o + STATS.values + 8 * i, true);
    // -1 marks a statistic this kernel does not have (NaN would also fail this test).
    if (v >= 0) counters[STAT_NAMES[i]!] = v;
  }
  return {
    type: "stats",
    seq: view.getUint32(o + H.seq, true),
    ts: view.getFloat64(o + H.ts, true),
    vcpu: view.getUint16(o + H.thread, true),
    counters,
  };
}

/** Decodes `bytes.length / RECORD_SIZE` records laid back to back. */
export function decodeBatch(bytes: Uint8Array): TraceRecord[] {
  if (bytes.byteLength % RECORD_SIZE !== 0) {
    throw new RangeError(`a batch is a whole number of ${RECORD_SIZE}-byte records; got ${bytes.byteLength} bytes`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.byteLength / RECORD_SIZE;
  const out = new Array<TraceRecord>(n);
  for (let i = 0; i < n; i++) out[i] = decodeRecord(view, i * RECORD_SIZE);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Encoding

const utf8Encoder = new TextEncoder();

/** UTF-8 byte length of `s` from UTF-16 index `from` (TextEncoder cannot measure without encoding). */
function utf8Length(s: string, from: number): number {
  let n = 0;
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4; // a surrogate pair is one 4-byte code point
      i++;
    } else n += 3; // includes a lone surrogate, which TextEncoder writes as U+FFFD (3 bytes)
  }
  return n;
}

function writeBytes(view: DataView, at: number, data: readonly number[], n: number): void {
  for (let i = 0; i < n; i++) view.setUint8(at + i, data[i]!);
}

function missingPayload(rec: ExitRecord, field: string): never {
  throw new TypeError(`a ${rec.reason} exit record (seq ${rec.seq}) needs its "${field}" payload`);
}

/**
 * Writes `rec` as RECORD_SIZE bytes at `offset`, zeroing the slot first so stale bytes from a
 * reused ring slot never leak into a payload. An exit's payload is chosen by `code`, not by which
 * payload fields happen to be present. IO data longer than IO_INLINE_BYTES and marker text longer
 * than MARKER_TEXT_BYTES are cut (marker text at a character boundary) and flagged Truncated.
 */
export function encodeRecord(rec: TraceRecord, view: DataView, offset: number): void {
  if (offset < 0 || offset + RECORD_SIZE > view.byteLength) {
    throw new RangeError(`no room for a record at byte ${offset} of a ${view.byteLength}-byte view`);
  }
  new Uint8Array(view.buffer, view.byteOffset + offset, RECORD_SIZE).fill(0);
  view.setUint32(offset + H.seq, rec.seq, true);
  view.setFloat64(offset + H.ts, rec.ts, true);
  switch (rec.type) {
    case "exit":
      view.setUint8(offset + H.kind, RecordKind.Exit);
      encodeExit(rec, view, offset);
      return;
    case "ioctl":
      view.setUint8(offset + H.kind, RecordKind.Ioctl);
      encodeIoctl(rec, view, offset);
      return;
    case "marker":
      view.setUint8(offset + H.kind, RecordKind.Marker);
      encodeMarker(rec, view, offset);
      return;
    case "stats":
      view.setUint8(offset + H.kind, RecordKind.Stats);
      view.setUint16(offset + H.thread, rec.vcpu, true);
      for (let i = 0; i < STAT_NAMES.length; i++) {
        view.setFloat64(offset + STATS.values + 8 * i, rec.counters[STAT_NAMES[i]!] ?? -1, true);
      }
      return;
    case "lost":
      view.setUint8(offset + H.kind, RecordKind.Lost);
      view.setUint16(offset + H.thread, requireThreadIndex(rec.thread), true);
      view.setFloat64(offset + LOST.count, rec.count, true);
      return;
    case "unknown":
      view.setUint8(offset + H.kind, rec.kind);
      view.setUint16(offset + H.thread, requireThreadIndex(rec.thread), true);
      return;
    default: {
      const never: never = rec;
      throw new TypeError(`unknown record type ${JSON.stringify((never as { type?: unknown }).type)}`);
    }
  }
}

function encodeExit(rec: ExitRecord, view: DataView, o: number): void {
  view.setUint16(o + H.thread, rec.vcpu, true);
  view.setUint32(o + H.code, rec.code, true);
  const aux = (rec.ifFlag ? ExitFlag.IfFlag : 0)
    | (rec.readyForInjection ? ExitFlag.ReadyForInjection : 0)
    | (rec.requestedWindow ? ExitFlag.RequestedWindow : 0);
  view.setUint32(o + H.aux, aux, true);
  view.setFloat64(o + H.dur, rec.guestNs, true);
  view.setFloat64(o + EXIT.handleNs, rec.handleNs, true);
  view.setFloat64(o + EXIT.rip, rec.rip, true);
  if (rec.unobserved === true) {
    view.setUint8(o + H.flags, RecordFlag.PayloadUnobserved);
    return;
  }
  const plain = EXIT_PAYLOAD_BY_CODE.get(rec.code);
  if (plain?.plain) {
    const values = (rec as unknown as Record<string, Record<string, number> | undefined>)[plain.key] ?? missingPayload(rec, plain.key);
    for (const f of plain.fields) writeField(view, o, f, values[f.name] ?? 0);
    return;
  }
  switch (rec.code) {
    case KvmExit.IO: {
      const io = rec.io ?? missingPayload(rec, "io");
      const dataLen = io.dataLen ?? io.data.length;
      const n = Math.min(io.data.length, IO_INLINE_BYTES);
      if (io.truncated === true || dataLen > n) view.setUint8(o + H.flags, RecordFlag.Truncated);
      view.setUint16(o + EXIT_IO.port, io.port, true);
      view.setUint8(o + EXIT_IO.size, io.size);
      view.setUint8(o + EXIT_IO.direction, io.direction === "in" ? 0 : 1);
      view.setUint32(o + EXIT_IO.count, io.count, true);
      view.setUint32(o + EXIT_IO.dataLen, dataLen, true);
      writeBytes(view, o + EXIT_IO.data, io.data, n);
      return;
    }
    case KvmExit.MMIO: {
      const mmio = rec.mmio ?? missingPayload(rec, "mmio");
      view.setFloat64(o + EXIT_MMIO.addr, mmio.addr, true);
      view.setUint32(o + EXIT_MMIO.len, mmio.len, true);
      view.setUint8(o + EXIT_MMIO.isWrite, mmio.isWrite ? 1 : 0);
      writeBytes(view, o + EXIT_MMIO.data, mmio.data, Math.min(mmio.len, 8, mmio.data.length));
      return;
    }
    case KvmExit.INTERNAL_ERROR: {
      const internal = rec.internal ?? missingPayload(rec, "internal");
      const ndata = Math.min(internal.data.length, 2);
      view.setUint32(o + EXIT_INTERNAL.suberror, internal.suberror, true);
      // The layout has room for two values; a larger kernel ndata is not kept.
      view.setUint32(o + EXIT_INTERNAL.ndata, ndata, true);
      if (ndata > 0) view.setFloat64(o + EXIT_INTERNAL.data0, internal.data[0]!, true);
      if (ndata > 1) view.setFloat64(o + EXIT_INTERNAL.data1, internal.data[1]!, true);
      const insnLen = Math.min(internal.insn.length, 15);
      view.setUint8(o + EXIT_INTERNAL.insnLen, insnLen);
      writeBytes(view, o + EXIT_INTERNAL.insn, internal.insn, insnLen);
      return;
    }
    case KvmExit.SYSTEM_EVENT: {
      const e = rec.systemEvent ?? missingPayload(rec, "systemEvent");
      view.setUint32(o + EXIT_SYSTEM_EVENT.type, e.type, true);
      // The decoded record keeps one value, so that is what ndata says on the way back.
      view.setUint32(o + EXIT_SYSTEM_EVENT.ndata, 1, true);
      view.setFloat64(o + EXIT_SYSTEM_EVENT.data0, e.data, true);
      return;
    }
    default:
      return;
  }
}

function encodeIoctl(rec: IoctlRecord, view: DataView, o: number): void {
  const id = ioctlId(rec.name);
  const names = ioctlArgNames(id, Math.min(Object.keys(rec.args).length, 3));
  view.setUint16(o + H.thread, requireThreadIndex(rec.thread), true);
  view.setUint32(o + H.code, id, true);
  view.setUint32(o + H.aux, rec.fd, true);
  view.setFloat64(o + H.dur, rec.durNs, true);
  view.setInt32(o + IOCTL.ret, rec.ret, true);
  view.setUint32(o + IOCTL.errno, rec.errno, true);
  for (let i = 0; i < names.length; i++) {
    const v = rec.args[names[i]!];
    if (v === undefined) throw new TypeError(`${rec.name} record (seq ${rec.seq}) lacks argument "${names[i]}"`);
    view.setFloat64(o + IOCTL.args + 8 * i, v, true);
  }
  view.setUint8(o + IOCTL.nargs, names.length);
}

function encodeMarker(rec: MarkerRecord, view: DataView, o: number): void {
  view.setUint16(o + H.thread, requireThreadIndex(rec.thread), true);
  const dest = new Uint8Array(view.buffer, view.byteOffset + o + MARKER.text, MARKER_TEXT_BYTES);
  // encodeInto never writes part of a character, so a cut label still decodes cleanly.
  const { read, written } = utf8Encoder.encodeInto(rec.text, dest);
  const whole = read === rec.text.length;
  const textLen = whole ? written : written + utf8Length(rec.text, read);
  if (!whole || rec.truncated === true) view.setUint8(o + H.flags, RecordFlag.Truncated);
  view.setUint16(o + MARKER.textLen, Math.min(textLen, 0xffff), true);
}

/** Encodes `records` back to back into one new buffer of `records.length * RECORD_SIZE` bytes. */
export function encodeBatch(records: readonly TraceRecord[]): Uint8Array {
  const bytes = new Uint8Array(records.length * RECORD_SIZE);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < records.length; i++) encodeRecord(records[i]!, view, i * RECORD_SIZE);
  return bytes;
}
