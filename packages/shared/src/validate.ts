// Shape checks for records that arrive as JSON (an imported NDJSON file). Hand-written rather
// than zod (which protocol.ts uses for requests and messages): a million records are checked one
// by one on import, and these plain checks are fast and double as the contract's description.
//
// Each check returns the first problem as a sentence, or undefined when the value is a valid
// record; callers add where it was (line number, message id).
import { exitReasonName, KvmExit } from "./exit-reasons.js";
import { ioctlArgNames, ioctlId } from "./ioctls.js";
import { EXIT_PAYLOAD_BY_CODE, type FieldSpec, MAIN_THREAD, RecordKind, STAT_NAMES } from "./record-layout.js";
import { threadIndex } from "./codec.js";

type Obj = Record<string, unknown>;

const U32_MAX = 0xffff_ffff;
const statNames = new Set<string>(STAT_NAMES);
const KNOWN_KINDS = new Set<number>(Object.values(RecordKind));

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A problem with `o[key]` if it is not a finite number (optionally an integer in [min, max]). */
function num(o: Obj, key: string, int = false, min = -Infinity, max = Infinity): string | undefined {
  const v = o[key];
  if (typeof v !== "number" || !Number.isFinite(v)) return `"${key}" must be a finite number`;
  if (int && !Number.isInteger(v)) return `"${key}" must be an integer`;
  if (v < min || v > max) return `"${key}" must be between ${min} and ${max}`;
  return undefined;
}

function bool(o: Obj, key: string): string | undefined {
  return typeof o[key] === "boolean" ? undefined : `"${key}" must be true or false`;
}

function bytes(o: Obj, key: string, maxLen: number): string | undefined {
  const v = o[key];
  if (!Array.isArray(v)) return `"${key}" must be an array of bytes`;
  if (v.length > maxLen) return `"${key}" holds ${v.length} bytes, more than ${maxLen}`;
  for (const b of v) if (typeof b !== "number" || !Number.isInteger(b) || b < 0 || b > 255) return `"${key}" must hold integers 0..255`;
  return undefined;
}

function optionalTrue(o: Obj, key: string): string | undefined {
  return o[key] === undefined || o[key] === true ? undefined : `"${key}", when present, must be true`;
}

function thread(o: Obj): string | undefined {
  const t = o.thread;
  return typeof t === "string" && threadIndex(t) !== undefined ? undefined : `"thread" must be "main" or "vcpu<N>"`;
}

function sub(o: Obj, key: string): Obj | string {
  const v = o[key];
  return isObj(v) ? v : `"${key}" must be an object`;
}

/** The first of the checks that fails, prefixed with `where`. */
function first(where: string, ...checks: (string | undefined)[]): string | undefined {
  for (const c of checks) if (c !== undefined) return where === "" ? c : `${where}: ${c}`;
  return undefined;
}

function checkIoctl(o: Obj): string | undefined {
  const basic = first("", thread(o), typeof o.name === "string" ? undefined : `"name" must be a string`,
    num(o, "fd", true, 0, U32_MAX), num(o, "ret", true, -(2 ** 31), 2 ** 31 - 1), num(o, "errno", true, 0, U32_MAX),
    num(o, "durNs", false, 0), o.error === undefined || typeof o.error === "string" ? undefined : `"error" must be a string`);
  if (basic !== undefined) return basic;
  let id: number;
  try {
    id = ioctlId(o.name as string);
  } catch {
    return `"name" ${JSON.stringify(o.name)} is not a traced call`;
  }
  const args = sub(o, "args");
  if (typeof args === "string") return args;
  const keys = Object.keys(args);
  const expected = ioctlArgNames(id, keys.length);
  if (keys.length !== expected.length || expected.some((k) => !(k in args))) {
    return `"args" of ${o.name as string} must have exactly ${expected.length === 0 ? "no keys" : expected.join(", ")}`;
  }
  for (const k of expected) {
    const p = num(args, k);
    if (p !== undefined) return `args: ${p}`;
  }
  return undefined;
}

/** A plain payload (record-layout.ts): each field a number its binary type can hold (f64: >= 0). */
function checkPlain(o: Obj, key: string, fields: readonly FieldSpec[]): string | undefined {
  const p = sub(o, key);
  if (typeof p === "string") return p;
  return first(key, ...fields.map((f) => (f.type === "f64" ? num(p, f.name, false, 0) : num(p, f.name, true, 0, U32_MAX))));
}

function checkExitPayload(o: Obj, code: number): string | undefined {
  if (o.unobserved !== undefined) return optionalTrue(o, "unobserved");
  const plain = EXIT_PAYLOAD_BY_CODE.get(code);
  if (plain?.plain) return checkPlain(o, plain.key, plain.fields);
  switch (code) {
    case KvmExit.IO: {
      const io = sub(o, "io");
      if (typeof io === "string") return io;
      return first("io", num(io, "port", true, 0, 0xffff), num(io, "size", true, 0, 255),
        io.direction === "in" || io.direction === "out" ? undefined : `"direction" must be "in" or "out"`,
        num(io, "count", true, 0, U32_MAX), bytes(io, "data", 64),
        io.dataLen === undefined ? undefined : num(io, "dataLen", true, 0, U32_MAX), optionalTrue(io, "truncated"));
    }
    case KvmExit.MMIO: {
      const m = sub(o, "mmio");
      if (typeof m === "string") return m;
      return first("mmio", num(m, "addr", true, 0), num(m, "len", true, 0, U32_MAX), bool(m, "isWrite"), bytes(m, "data", 8));
    }
    case KvmExit.INTERNAL_ERROR: {
      const i = sub(o, "internal");
      if (typeof i === "string") return i;
      const data = Array.isArray(i.data) && i.data.length <= 2 && i.data.every((d) => typeof d === "number" && Number.isFinite(d))
        ? undefined : `"data" must be an array of at most 2 numbers`;
      return first("internal", num(i, "suberror", true, 0, U32_MAX),
        typeof i.suberrorName === "string" ? undefined : `"suberrorName" must be a string`, data, bytes(i, "insn", 15));
    }
    case KvmExit.SYSTEM_EVENT: {
      const e = sub(o, "systemEvent");
      if (typeof e === "string") return e;
      return first("systemEvent", num(e, "type", true, 0, U32_MAX),
        typeof e.typeName === "string" ? undefined : `"typeName" must be a string`, num(e, "data", false, 0));
    }
    default:
      return undefined;
  }
}

function checkExit(o: Obj): string | undefined {
  const basic = first("", num(o, "vcpu", true, 0, MAIN_THREAD - 1), num(o, "code", true, 0, U32_MAX),
    typeof o.reason === "string" ? undefined : `"reason" must be a string`,
    num(o, "rip", false, 0), num(o, "guestNs", false, 0), num(o, "handleNs", false, 0),
    bool(o, "ifFlag"), bool(o, "readyForInjection"), bool(o, "requestedWindow"));
  if (basic !== undefined) return basic;
  const code = o.code as number;
  if (exitReasonName(code) !== o.reason) return `"reason" ${JSON.stringify(o.reason)} does not match code ${code} (${exitReasonName(code)})`;
  return checkExitPayload(o, code);
}

function checkStats(o: Obj): string | undefined {
  const v = num(o, "vcpu", true, 0, MAIN_THREAD - 1);
  if (v !== undefined) return v;
  const counters = sub(o, "counters");
  if (typeof counters === "string") return counters;
  for (const k of Object.keys(counters)) {
    if (!statNames.has(k)) return `counters: "${k}" is not one of STAT_NAMES`;
    const p = num(counters, k, false, 0);
    if (p !== undefined) return `counters: ${p}`;
  }
  return undefined;
}

/** The first problem that stops `value` being a TraceRecord in the NDJSON contract, or undefined. */
export function validateRecord(value: unknown): string | undefined {
  if (!isObj(value)) return "a record must be a JSON object";
  const common = first("", num(value, "seq", true, 0, U32_MAX), num(value, "ts", false, 0));
  switch (value.type) {
    case "ioctl":
      return common ?? checkIoctl(value);
    case "exit":
      return common ?? checkExit(value);
    case "marker":
      return common ?? first("", thread(value), typeof value.text === "string" ? undefined : `"text" must be a string`, optionalTrue(value, "truncated"));
    case "stats":
      return common ?? checkStats(value);
    case "lost":
      return common ?? first("", thread(value), num(value, "count", false, 0));
    case "unknown":
      // A kind a newer writer knows: its header only (codec.ts UnknownRecord).
      return common ?? first("", thread(value), num(value, "kind", true, 0, 255),
        KNOWN_KINDS.has(value.kind as number) ? `"kind" ${String(value.kind)} is a known kind: write it as its own type` : undefined);
    default:
      return `"type" ${JSON.stringify(value.type)} is not a record type (ioctl, exit, marker, stats, lost, unknown)`;
  }
}
