// The binary trace record: fixed size, little-endian, the same in the per-thread rings, on the
// wire and in stored chunks. Every multi-byte field sits at a multiple of its size, so writers may
// use typed-array views as well as DataView.
//
// A record is RECORD_SIZE bytes: a 32-byte header common to every kind, then a 96-byte payload
// whose meaning depends on `kind` (and, for exits, on the exit reason).
//
// The layout is written down once, as data: RECORD_SCHEMA below lists every field of the header,
// of each kind and of each exit payload (name, offset, type). The offset tables everyone uses (H,
// EXIT_IO, IOCTL, ...: the VMM's writers, the codec, the web app's columns) are derived from it,
// the codec decodes, encodes and validates the plain payloads from its field lists, and
// checkSchema() holds it to the rules above (inside the record, aligned, no overlaps).
import { KvmExit } from "./exit-reasons.js";

/**
 * The record format's version, carried by every NDJSON export's `run` line (`recordFormat`).
 * Kinds 1-5 as laid out here are format 1; a new kind or payload that old readers can skip keeps
 * it, a change to an existing field's meaning or place would not.
 */
export const RECORD_FORMAT_VERSION = 1;

export const RECORD_SIZE = 128;

/** What a record is. */
export const RecordKind = {
  /** An ioctl (or open/close) the VMM issued on a KVM fd. */
  Ioctl: 1,
  /** One return from KVM_RUN with an exit reason: a VM exit that reached userspace. */
  Exit: 2,
  /** A label the guest wrote to the debug console (port 0xe9), or one the VMM adds. */
  Marker: 3,
  /** A sample of one vCPU's KVM_GET_STATS_FD counters (exits KVM handled itself, among others). */
  Stats: 4,
  /** Records this thread's ring had to drop since the previous Lost record (never silently). */
  Lost: 5,
  // 6 is kept for a register snapshot (the vCPU's registers at an exit), the next kind to come.
  // A reader meets kinds it does not know as "unknown" records (codec.ts), never as an error.
} as const;
export type RecordKind = (typeof RecordKind)[keyof typeof RecordKind];

/** `thread` value of the main thread; vCPU n's thread is n. */
export const MAIN_THREAD = 0xffff;

export const RecordFlag = {
  /** The payload could not hold everything (IO data, marker text); `dataLen`/`textLen` says how much there was. */
  Truncated: 1,
  /** The exit's payload was not observed (a trace of another VMM, which saw only the reason): the payload bytes mean nothing. */
  PayloadUnobserved: 2,
} as const;

/** Exit record `aux` bits: the kvm_run flags as they stood at this exit. */
export const ExitFlag = {
  /** kvm_run.if_flag: the guest had interrupts enabled */
  IfFlag: 1,
  /** kvm_run.ready_for_interrupt_injection */
  ReadyForInjection: 2,
  /** kvm_run.request_interrupt_window was set for the KVM_RUN that ended here */
  RequestedWindow: 4,
} as const;

// ---------------------------------------------------------------------------------------------
// The schema

/** How a field is stored: little-endian numbers, or `count` raw bytes. `f64x` is `count` f64 values. */
export type FieldType = "u8" | "u16" | "u32" | "i32" | "f64" | "bytes" | "f64x";

export interface FieldSpec {
  readonly name: string;
  /** Byte offset from the record's start. */
  readonly at: number;
  readonly type: FieldType;
  /** For "bytes" and "f64x": how many. */
  readonly count?: number;
  readonly doc: string;
}

const field = <const N extends string>(name: N, at: number, type: FieldType, doc: string, count?: number) =>
  (count === undefined ? { name, at, type, doc } : { name, at, type, doc, count }) as { readonly name: N; readonly at: number; readonly type: FieldType; readonly count?: number; readonly doc: string };

/** Bytes a field takes. */
export function fieldBytes(f: FieldSpec): number {
  switch (f.type) {
    case "u8": return 1;
    case "u16": return 2;
    case "u32": case "i32": return 4;
    case "f64": return 8;
    case "bytes": return f.count ?? 0;
    case "f64x": return 8 * (f.count ?? 0);
  }
}

type Offsets<F extends readonly FieldSpec[]> = { readonly [K in F[number] as K["name"]]: number };

/** `{ name: offset }` for a list of fields: the tables the writers and readers index with. */
function offsets<const F extends readonly FieldSpec[]>(fields: F): Offsets<F> {
  return Object.fromEntries(fields.map((f) => [f.name, f.at])) as Offsets<F>;
}

export const IO_INLINE_BYTES = 64;
export const MARKER_TEXT_BYTES = RECORD_SIZE - 34;

const HEADER_FIELDS = [
  field("kind", 0, "u8", "RecordKind"),
  field("flags", 1, "u8", "bit flags, see RecordFlag"),
  field("thread", 2, "u16", "MAIN_THREAD, or the vCPU index (for a Stats record: the vCPU whose counters these are, whichever thread sampled them)"),
  field("seq", 4, "u32", "global sequence number, one counter for the whole run (a total order across threads)"),
  field("ts", 8, "f64", "nanoseconds since the run began (CLOCK_MONOTONIC; for an exit: when KVM_RUN returned; for an ioctl: when it was issued)"),
  field("code", 16, "u32", "ioctl id (IOCTL_IDS) | exit reason code | 0"),
  field("aux", 20, "u32", "ioctl fd | exit: ExitFlag bits | 0"),
  field("dur", 24, "f64", "ioctl: its duration in ns | exit: ns spent inside KVM_RUN (in the guest, and in KVM)"),
] as const;

const IOCTL_FIELDS = [
  field("ret", 32, "i32", "return value, or -1"),
  field("errno", 36, "u32", "0 or the errno"),
  field("args", 40, "f64x", "the call's numbers: see IOCTLS[name].args for what each means", 3),
  field("nargs", 64, "u8", "how many of args are set"),
] as const;

const EXIT_FIELDS = [
  field("handleNs", 32, "f64", "ns from KVM_RUN's return to the next KVM_RUN call (handling it in userspace)"),
  field("rip", 40, "f64", "guest RIP at the exit (from KVM_CAP_SYNC_REGS); exact below 2^53"),
] as const;

const MARKER_FIELDS = [
  field("textLen", 32, "u16", "UTF-8 bytes of the whole label (may exceed what is stored)"),
  field("text", 34, "bytes", "UTF-8, cut at a character boundary", MARKER_TEXT_BYTES),
] as const;

/**
 * The KVM_GET_STATS_FD counters a Stats record carries, in this order. Each counts exits or events
 * that KVM handled *inside the kernel* as well as those it passed on (`exits` counts every VM exit;
 * `io_exits`, `mmio_exits`, `halt_exits` are those of that kind, whether KVM completed them in the
 * kernel or returned to userspace).
 */
export const STAT_NAMES = [
  "exits",
  "io_exits",
  "mmio_exits",
  "halt_exits",
  "irq_exits",
  "irq_window_exits",
  "signal_exits",
  "request_irq_exits",
  "insn_emulation",
  "hypercalls",
  "halt_wakeup",
  "irq_injections",
] as const;
export type StatName = (typeof STAT_NAMES)[number];

const STATS_FIELDS = [field("values", 32, "f64x", "STAT_NAMES.length values, -1 where this kernel has no such statistic", STAT_NAMES.length)] as const;

const LOST_FIELDS = [field("count", 32, "f64", "records dropped since the previous Lost record from this thread")] as const;

const IO_FIELDS = [
  field("port", 48, "u16", "I/O port"),
  field("size", 50, "u8", "1, 2 or 4"),
  field("direction", 51, "u8", "0 in, 1 out (KVM_EXIT_IO_IN / _OUT)"),
  field("count", 52, "u32", "repetitions (string I/O)"),
  field("dataLen", 56, "u32", "size * count, the bytes moved in all"),
  field("data", 60, "bytes", "for OUT what the guest wrote, for IN what the VMM answered", IO_INLINE_BYTES),
] as const;

const MMIO_FIELDS = [
  field("addr", 48, "f64", "guest-physical address"),
  field("len", 56, "u32", "1..8"),
  field("isWrite", 60, "u8", "0 read, 1 write"),
  field("data", 64, "bytes", "for a write what the guest wrote, for a read what the VMM answered", 8),
] as const;

const INTERNAL_FIELDS = [
  field("suberror", 48, "u32", "KVM_INTERNAL_ERROR_*"),
  field("ndata", 52, "u32", "internal.ndata (the record keeps at most two values)"),
  field("data0", 56, "f64", "internal.data[0]"),
  field("data1", 64, "f64", "internal.data[1]"),
  field("insnLen", 72, "u8", "bytes of the instruction at RIP that the VMM could read (0..15)"),
  field("insn", 73, "bytes", "the instruction's bytes", 15),
] as const;

const FAIL_ENTRY_FIELDS = [
  field("reason", 48, "f64", "hardware_entry_failure_reason (the VMX exit qualification / SVM exit code)"),
  field("cpu", 56, "u32", "the host CPU"),
] as const;

const SYSTEM_EVENT_FIELDS = [
  field("type", 48, "u32", "KVM_SYSTEM_EVENT_*"),
  field("ndata", 52, "u32", "system_event.ndata"),
  field("data0", 56, "f64", "system_event.data[0] (`flags` on kernels without KVM_CAP_SYSTEM_EVENT_DATA)"),
] as const;

const DEBUG_FIELDS = [
  field("exception", 48, "u32", "the exception vector"),
  field("pc", 56, "f64", "guest PC"),
  field("dr6", 64, "f64", "DR6"),
  field("dr7", 72, "f64", "DR7"),
] as const;

const EXCEPTION_FIELDS = [
  field("exception", 48, "u32", "the exception vector"),
  field("errorCode", 52, "u32", "its error code"),
] as const;

const HYPERCALL_FIELDS = [field("nr", 48, "f64", "hypercall number")] as const;

const UNKNOWN_FIELDS = [field("hardwareExitReason", 48, "f64", "the hardware's exit reason KVM did not know")] as const;

export interface KindSchema {
  readonly kind: RecordKind;
  /** The decoded record's `type`. */
  readonly type: "ioctl" | "exit" | "marker" | "stats" | "lost";
  readonly fields: readonly FieldSpec[];
}

export interface ExitPayloadSchema {
  readonly code: number;
  /** The decoded exit record's key for this payload ("io", "failEntry", ...). */
  readonly key: string;
  readonly fields: readonly FieldSpec[];
  /**
   * True when the decoded payload is exactly these fields, each a number (the codec then decodes,
   * encodes and validates it from this list alone); false when the codec derives more (IO's
   * "in"/"out", INTERNAL_ERROR's suberror name, ...).
   */
  readonly plain: boolean;
}

/** Every record kind and every exit payload, as data. */
export const RECORD_SCHEMA: {
  readonly header: readonly FieldSpec[];
  readonly kinds: readonly KindSchema[];
  readonly exitPayloads: readonly ExitPayloadSchema[];
} = {
  header: HEADER_FIELDS,
  kinds: [
    { kind: RecordKind.Ioctl, type: "ioctl", fields: IOCTL_FIELDS },
    { kind: RecordKind.Exit, type: "exit", fields: EXIT_FIELDS },
    { kind: RecordKind.Marker, type: "marker", fields: MARKER_FIELDS },
    { kind: RecordKind.Stats, type: "stats", fields: STATS_FIELDS },
    { kind: RecordKind.Lost, type: "lost", fields: LOST_FIELDS },
  ],
  exitPayloads: [
    { code: KvmExit.IO, key: "io", fields: IO_FIELDS, plain: false },
    { code: KvmExit.MMIO, key: "mmio", fields: MMIO_FIELDS, plain: false },
    { code: KvmExit.INTERNAL_ERROR, key: "internal", fields: INTERNAL_FIELDS, plain: false },
    { code: KvmExit.FAIL_ENTRY, key: "failEntry", fields: FAIL_ENTRY_FIELDS, plain: true },
    { code: KvmExit.SYSTEM_EVENT, key: "systemEvent", fields: SYSTEM_EVENT_FIELDS, plain: false },
    { code: KvmExit.DEBUG, key: "debug", fields: DEBUG_FIELDS, plain: true },
    { code: KvmExit.EXCEPTION, key: "exception", fields: EXCEPTION_FIELDS, plain: true },
    { code: KvmExit.HYPERCALL, key: "hypercall", fields: HYPERCALL_FIELDS, plain: true },
    { code: KvmExit.UNKNOWN, key: "unknown", fields: UNKNOWN_FIELDS, plain: true },
  ],
};

/** The exit payload of each exit reason that has one. */
export const EXIT_PAYLOAD_BY_CODE: ReadonlyMap<number, ExitPayloadSchema> = new Map(RECORD_SCHEMA.exitPayloads.map((p) => [p.code, p]));

/**
 * The problems with the schema, [] when there are none: every field inside the record, at a
 * multiple of its element size, the header's fields in the first 32 bytes, and no two fields of
 * one record (header, kind, exit payload) overlapping.
 */
export function checkSchema(schema = RECORD_SCHEMA): string[] {
  const problems: string[] = [];
  const check = (where: string, fields: readonly FieldSpec[]): void => {
    const sorted = [...fields].sort((a, b) => a.at - b.at);
    for (const [i, f] of sorted.entries()) {
      const size = fieldBytes(f);
      const align = f.type === "bytes" ? 1 : f.type === "f64x" ? 8 : size;
      if (f.at < 0 || f.at + size > RECORD_SIZE) problems.push(`${where}.${f.name} (${f.at}+${size}) is outside the ${RECORD_SIZE}-byte record`);
      if (f.at % align !== 0) problems.push(`${where}.${f.name} at ${f.at} is not aligned to ${align}`);
      const next = sorted[i + 1];
      if (next && f.at + size > next.at) problems.push(`${where}.${f.name} overlaps ${where}.${next.name}`);
    }
  };
  check("header", schema.header);
  for (const f of schema.header) if (f.at + fieldBytes(f) > 32) problems.push(`header.${f.name} is past the 32-byte header`);
  const exitFields = schema.kinds.find((k) => k.type === "exit")?.fields ?? [];
  for (const k of schema.kinds) check(k.type, [...schema.header, ...k.fields]);
  for (const p of schema.exitPayloads) check(`exit.${p.key}`, [...schema.header, ...exitFields, ...p.fields]);
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Offset tables, derived from the schema

/** Header, common to every kind. */
export const H = offsets(HEADER_FIELDS);
/** Exit payload, common part. */
export const EXIT = offsets(EXIT_FIELDS);
/** KVM_EXIT_IO */
export const EXIT_IO = offsets(IO_FIELDS);
/** KVM_EXIT_MMIO */
export const EXIT_MMIO = offsets(MMIO_FIELDS);
/** KVM_EXIT_INTERNAL_ERROR */
export const EXIT_INTERNAL = offsets(INTERNAL_FIELDS);
/** KVM_EXIT_FAIL_ENTRY */
export const EXIT_FAIL_ENTRY = offsets(FAIL_ENTRY_FIELDS);
/** KVM_EXIT_SYSTEM_EVENT */
export const EXIT_SYSTEM_EVENT = offsets(SYSTEM_EVENT_FIELDS);
/** KVM_EXIT_DEBUG */
export const EXIT_DEBUG = offsets(DEBUG_FIELDS);
/** KVM_EXIT_EXCEPTION */
export const EXIT_EXCEPTION = offsets(EXCEPTION_FIELDS);
/** KVM_EXIT_HYPERCALL */
export const EXIT_HYPERCALL = offsets(HYPERCALL_FIELDS);
/** KVM_EXIT_UNKNOWN */
export const EXIT_UNKNOWN = offsets(UNKNOWN_FIELDS);
/** Ioctl payload. */
export const IOCTL = offsets(IOCTL_FIELDS);
/** Marker payload. */
export const MARKER = offsets(MARKER_FIELDS);
/** Stats payload: STAT_NAMES.length f64 values, -1 where this kernel has no such statistic. */
export const STATS = offsets(STATS_FIELDS);
/** Lost payload. */
export const LOST = offsets(LOST_FIELDS);

