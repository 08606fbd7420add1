// The wire protocol of `kvmscope serve`: every HTTP request body and query, and every WebSocket
// message, as a zod schema with the type it validates (`type X = z.infer<typeof X>`). The server
// validates what clients send with these; a client (the web app) may validate what the server
// sends with the same schemas.
//
// WebSocket `/ws?run=ID`:
// - server -> client, JSON text frames discriminated by `type`: hello, status, console, skipped,
//   ack, error (ServerMessage);
// - server -> client, binary frames: one record batch each, exactly the shared codec's bytes
//   (n * RECORD_SIZE, decodeBatch reads it) and nothing else;
// - client -> server, JSON text frames: control and console (ClientMessage), each answered by
//   an `ack` or an `error` frame.
//
// Messages that clients send are strict (an unknown key is an error, so a typo never silently
// does nothing); messages that the server sends are not (a newer server may add fields).
import * as z from "zod";
import { exitReasonCode } from "./exit-reasons.js";
import { MAX_CONSOLE_BYTES, MAX_MEM_MIB, MAX_STEP_COUNT, MAX_TIMEOUT_SEC, MAX_VCPUS, MIN_TIMEOUT_SEC } from "./limits.js";
import { describeValue, listOf } from "./messages.js";
import type { Walkthrough } from "./walkthrough.js";

export const PROTOCOL_VERSION = 1;

// The bounds a request is checked against before it reaches the run manager are limits.ts's,
// which the VMM's LIMITS (apps/vmm/src/config.ts) are built from too.
export const RECORDS_PAGE_DEFAULT = 1000;
export const RECORDS_PAGE_MAX = 10_000;
export const RUNS_PAGE_DEFAULT = 20;
export const RUNS_PAGE_MAX = 100;
/** What a run id may look like (the store's ids are at most this); anything else is no run. */
export const RUN_ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

// ---------------------------------------------------------------------------------------------
// Readable messages

// (describeValue and listOf: messages.ts, shared with the walkthrough format.)

/** A strict object: unknown keys are an error that names them and lists the allowed ones. */
function strict<S extends z.ZodRawShape>(shape: S, what: string) {
  const allowed = Object.keys(shape);
  return z.strictObject(shape, {
    error: (iss) => {
      if (iss.code === "unrecognized_keys") {
        const keys = iss.keys;
        return `unknown field${keys.length > 1 ? "s" : ""} ${listOf(keys)} (${what} takes ${listOf(allowed)})`;
      }
      if (iss.code === "invalid_type") {
        return iss.input === undefined ? `${what} is required (a JSON object)` : `${what} must be a JSON object, got ${describeValue(iss.input)}`;
      }
      return undefined;
    },
  });
}

/** A loose object for what the server sends (clients ignore fields they do not know). */
function loose<S extends z.ZodRawShape>(shape: S) {
  return z.object(shape);
}

function int(min: number, max: number) {
  return z.int({ error: (iss) => `must be a whole number from ${min} to ${max}, got ${describeValue(iss.input)}` }).min(min).max(max);
}

function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: (iss) => `must be one of ${listOf(values)}, got ${describeValue(iss.input)}` });
}

function text(what: string, min: number, max: number) {
  return z.string({ error: (iss) => `must be ${what}, got ${describeValue(iss.input)}` })
    .min(min, { error: `must not be empty` })
    .max(max, { error: `must be at most ${max} characters` });
}

/** A KVM exit reason name ("KVM_EXIT_IO", or "KVM_EXIT_<n>"), as exitReasonCode knows them. */
export const ExitReasonName = z
  .string({ error: (iss) => `must be an exit reason name such as "KVM_EXIT_IO", got ${describeValue(iss.input)}` })
  .refine((s) => exitReasonCode(s) !== undefined, {
    error: (iss) => `must be an exit reason name such as "KVM_EXIT_IO" or "KVM_EXIT_MMIO", got ${describeValue(iss.input)}`,
  });

function fieldPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out === "" ? String(p) : `.${String(p)}`;
  }
  return out;
}

/**
 * One sentence per problem, prefixed by the field it is about ("vcpus: must be a whole number from
 * 1 to 64, got 100; image: ..."). Issues at the top level have no prefix.
 */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  const parts: string[] = [];
  for (const iss of issues) {
    let message = iss.message;
    if (iss.code === "invalid_union" && "discriminator" in iss && typeof iss.discriminator === "string") {
      // zod puts the whole object in `input` (a non-object is an invalid_type instead): say what
      // the discriminator held.
      const options = "options" in iss && Array.isArray(iss.options) ? (iss.options as string[]) : [];
      const input = iss.input as Record<string, unknown> | undefined;
      message = `must be one of ${listOf(options)}, got ${describeValue(input?.[iss.discriminator])}`;
    } else if (iss.code === "invalid_type" && message.startsWith("Invalid input")) {
      message = `must be ${iss.expected === "object" ? "a JSON object" : `a ${iss.expected}`}, got ${describeValue(iss.input)}`;
    }
    const where = fieldPath(iss.path);
    parts.push(where === "" ? message : `${where}: ${message}`);
  }
  return parts.join("; ");
}

/** A validation result the server can answer with: the value, or one readable message. */
export type Checked<T> = { ok: true; value: T } | { ok: false; message: string };

/** Validates `value` with `schema`; on failure, `formatIssues` of every problem. */
export function check<S extends z.ZodType>(schema: S, value: unknown): Checked<z.output<S>> {
  const r = schema.safeParse(value, { reportInput: true });
  return r.success ? { ok: true, value: r.data } : { ok: false, message: formatIssues(r.error.issues) };
}

// ---------------------------------------------------------------------------------------------
// Base64 (the browser and Node both have atob)

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Bytes that a canonical base64 string decodes to, or undefined if it is not base64. */
export function base64Bytes(s: string): number | undefined {
  if (!BASE64.test(s)) return undefined;
  return (s.length / 4) * 3 - (s.endsWith("==") ? 2 : s.endsWith("=") ? 1 : 0);
}

export function decodeBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// ---------------------------------------------------------------------------------------------
// HTTP request bodies

/** POST /api/runs: a teaching guest by name, or a flat image; the rest defaults to the guest's catalog entry. */
export const CreateRunBody = strict(
  {
    guest: text("a teaching guest's name", 1, 64).optional(),
    /** A flat binary (boot-sector convention), base64. */
    image: z
      .string({ error: (iss) => `must be the image as a base64 string, got ${describeValue(iss.input)}` })
      .refine((s) => s.length > 0, { error: "must not be empty: a guest needs at least one instruction at 0x7c00" })
      .refine((s) => s.length === 0 || base64Bytes(s) !== undefined, { error: "must be base64 (A-Z a-z 0-9 + /, padded with = to a multiple of 4 characters)" })
      .optional(),
    vcpus: int(1, MAX_VCPUS).optional(),
    memMiB: int(1, MAX_MEM_MIB).optional(),
    irqchip: oneOf(["user", "kernel"]).optional(),
    mode: oneOf(["live", "step"]).optional(),
    /** Seconds; without it the service's own run-length limit applies. */
    timeoutSec: z
      .number({ error: (iss) => `must be a number of seconds from ${MIN_TIMEOUT_SEC} to ${MAX_TIMEOUT_SEC}, got ${describeValue(iss.input)}` })
      .min(MIN_TIMEOUT_SEC)
      .max(MAX_TIMEOUT_SEC)
      .optional(),
    maxExits: int(1, Number.MAX_SAFE_INTEGER).optional(),
  },
  "a run request",
).refine((b) => (b.guest === undefined) !== (b.image === undefined), {
  error: `give exactly one of "guest" (a teaching guest's name, see GET /api/guests) or "image" (a flat binary, base64)`,
});
export type CreateRunBody = z.infer<typeof CreateRunBody>;

/** An exit breakpoint: the run pauses right after the next exit that matches every field given. */
export const BreakCondition = strict(
  {
    reason: ExitReasonName.optional(),
    port: int(0, 0xffff).optional(),
    addr: int(0, Number.MAX_SAFE_INTEGER).optional(),
    vcpu: int(0, MAX_VCPUS - 1).optional(),
    direction: oneOf(["in", "out", "read", "write"]).optional(),
  },
  "a breakpoint",
).refine((w) => Object.values(w).some((v) => v !== undefined), {
  error: `give at least one of "reason", "port", "addr", "vcpu", "direction" (to stop after the very next exit, use {"action":"step"})`,
});
export type BreakCondition = z.infer<typeof BreakCondition>;

const controlShapes = {
  pause: { action: z.literal("pause") },
  resume: { action: z.literal("resume") },
  stop: { action: z.literal("stop") },
  step: { action: z.literal("step"), count: int(1, MAX_STEP_COUNT).optional() },
  break: { action: z.literal("break"), when: BreakCondition },
} as const;

/** POST /api/runs/:id/control. `step` lets exactly `count` exits happen (default 1), then pauses. */
export const ControlBody = z.discriminatedUnion("action", [
  strict(controlShapes.pause, "a control request"),
  strict(controlShapes.resume, "a control request"),
  strict(controlShapes.stop, "a control request"),
  strict(controlShapes.step, "a control request"),
  strict(controlShapes.break, "a control request"),
]);
export type ControlBody = z.infer<typeof ControlBody>;
export type ControlAction = ControlBody["action"];

const consoleShape = {
  /** Text typed by the user (sent as UTF-8), or base64 bytes with `encoding: "base64"`. */
  data: z.string({ error: (iss) => `must be a string, got ${describeValue(iss.input)}` }),
  encoding: oneOf(["utf8", "base64"]).optional(),
};

function checkConsole(b: { data: string; encoding?: "utf8" | "base64" | undefined }, ctx: z.core.$RefinementCtx): void {
  let n: number | undefined;
  if (b.encoding === "base64") {
    n = base64Bytes(b.data);
    if (n === undefined) {
      ctx.addIssue({ code: "custom", path: ["data"], message: "must be base64 (A-Z a-z 0-9 + /, padded with = to a multiple of 4 characters)", input: b.data });
      return;
    }
  } else {
    // A UTF-16 code unit is at most 3 UTF-8 bytes: skip encoding a string that is obviously too long.
    n = b.data.length > MAX_CONSOLE_BYTES ? MAX_CONSOLE_BYTES + 1 : new TextEncoder().encode(b.data).length;
  }
  if (n === 0) ctx.addIssue({ code: "custom", path: ["data"], message: "must not be empty", input: b.data });
  if (n > MAX_CONSOLE_BYTES) ctx.addIssue({ code: "custom", path: ["data"], message: `must be at most ${MAX_CONSOLE_BYTES} bytes at a time`, input: b.data });
}

/** POST /api/runs/:id/console: bytes typed into the guest's serial port (at most MAX_CONSOLE_BYTES). */
export const ConsoleBody = strict(consoleShape, "console input").superRefine(checkConsole);
export type ConsoleBody = z.infer<typeof ConsoleBody>;

/** The bytes a (valid) console body types. */
export function consoleBytes(body: { data: string; encoding?: "utf8" | "base64" | undefined }): Uint8Array {
  return body.encoding === "base64" ? decodeBase64(body.data) : new TextEncoder().encode(body.data);
}

// ---------------------------------------------------------------------------------------------
// HTTP queries (values arrive as strings)

function intParam(min: number, max: number) {
  return z
    .string()
    .regex(/^\d{1,16}$/, { error: (iss) => `must be a whole number from ${min} to ${max}, got ${describeValue(iss.input)}` })
    .transform(Number)
    .pipe(int(min, max));
}

function numberParam(min: number) {
  return z
    .string()
    .regex(/^\d{1,20}(?:\.\d{1,9})?$/, { error: (iss) => `must be a number of nanoseconds (at least ${min}), got ${describeValue(iss.input)}` })
    .transform(Number)
    .pipe(z.number().min(min));
}

/** GET /api/runs/:id/records?fromSeq&limit&vcpu&reason&fromTs&toTs&format */
export const RecordsQuery = strict(
  {
    /** The first sequence number wanted (records with seq >= fromSeq). */
    fromSeq: intParam(0, 0xffff_ffff).optional(),
    limit: intParam(1, RECORDS_PAGE_MAX).default(RECORDS_PAGE_DEFAULT),
    vcpu: intParam(0, MAX_VCPUS - 1).optional(),
    reason: ExitReasonName.optional(),
    fromTs: numberParam(0).optional(),
    toTs: numberParam(0).optional(),
    /** json (default): `{"records": [...], "next"}`; binary: the records as codec bytes, `next` in the X-Kvmscope-Next header. */
    format: oneOf(["json", "binary"]).default("json"),
  },
  "the records query",
).refine((q) => q.fromTs === undefined || q.toTs === undefined || q.fromTs <= q.toTs, {
  error: "fromTs must not be after toTs",
});
export type RecordsQuery = z.infer<typeof RecordsQuery>;

/** GET /api/runs?limit&before: newest first; `before` is the `next` of the previous page. */
export const ListRunsQuery = strict(
  {
    limit: intParam(1, RUNS_PAGE_MAX).default(RUNS_PAGE_DEFAULT),
    before: text("a cursor from a previous page's \"next\"", 1, 256).optional(),
  },
  "the runs query",
);
export type ListRunsQuery = z.infer<typeof ListRunsQuery>;

/** GET /api/runs/:id/export?format=ndjson|chrome */
export const ExportQuery = strict({ format: oneOf(["ndjson", "chrome"]).default("ndjson") }, "the export query");
export type ExportQuery = z.infer<typeof ExportQuery>;
export type ExportFormat = ExportQuery["format"];

// ---------------------------------------------------------------------------------------------
// What the server says about a run (GET /api/runs/:id, and WebSocket hello/status/ack)

export const RunStatus = z.enum(["created", "running", "paused", "finished", "failed", "aborted"]);
export type RunStatus = z.infer<typeof RunStatus>;

export const RunConfigView = loose({
  vcpus: z.number(),
  memMiB: z.number(),
  irqchip: z.enum(["user", "kernel"]),
  mode: z.enum(["live", "step"]),
  timeoutSec: z.number().nullable(),
  maxExits: z.number().nullable(),
});
export type RunConfigView = z.infer<typeof RunConfigView>;

export const RunInfo = loose({
  id: z.string(),
  createdAt: z.string(),
  guest: z.string().nullable(),
  imageHash: z.string(),
  imageBytes: z.number(),
  config: RunConfigView,
  status: RunStatus,
  /** The end object (outcome, message, status, ...) once finished; null before. */
  outcome: z.record(z.string(), z.unknown()).nullable(),
  /** The run summary (exits by reason per vCPU with percentiles, guest vs userspace time, KVM's counters). */
  totals: z.record(z.string(), z.unknown()).nullable(),
  startedAt: z.string().nullable(),
  endedAt: z.string().nullable(),
  recordCount: z.number(),
  imported: z.boolean(),
  /** A VM is running for it in the service now (control and console need one). */
  live: z.boolean(),
  /**
   * The join code of the class session that owns the run, or null. A session's runs are
   * teacher-led: only the teacher (the TEACHER_TOKEN_HEADER) may control them or type into them.
   */
  session: z.string().nullable(),
});
export type RunInfo = z.infer<typeof RunInfo>;

/** The JSON body of every 4xx/5xx answer. */
export const ErrorBody = loose({ error: z.string() });
export type ErrorBody = z.infer<typeof ErrorBody>;

// ---------------------------------------------------------------------------------------------
// WebSocket: client -> server

/** Optional id a client may put on a message; the server echoes it in the ack or error that answers it. */
const messageId = z.union([z.string().max(64), z.int()], { error: "must be a string (at most 64 characters) or a whole number" }).optional();

export const ControlMessage = z.discriminatedUnion("action", [
  strict({ type: z.literal("control"), id: messageId, ...controlShapes.pause }, "a control message"),
  strict({ type: z.literal("control"), id: messageId, ...controlShapes.resume }, "a control message"),
  strict({ type: z.literal("control"), id: messageId, ...controlShapes.stop }, "a control message"),
  strict({ type: z.literal("control"), id: messageId, ...controlShapes.step }, "a control message"),
  strict({ type: z.literal("control"), id: messageId, ...controlShapes.break }, "a control message"),
]);
export type ControlMessage = z.infer<typeof ControlMessage>;

export const ConsoleMessage = strict({ type: z.literal("console"), id: messageId, ...consoleShape }, "a console message").superRefine(checkConsole);
export type ConsoleMessage = z.infer<typeof ConsoleMessage>;

export const ClientMessage = z.discriminatedUnion("type", [ControlMessage, ConsoleMessage]);
export type ClientMessage = z.infer<typeof ClientMessage>;

// ---------------------------------------------------------------------------------------------
// WebSocket: server -> client (JSON text frames; record batches are binary frames)

/** First frame on every socket. Live records follow from the first binary batch on; earlier ones are in the records API. */
export const HelloMessage = loose({ type: z.literal("hello"), protocol: z.number(), run: RunInfo });
export type HelloMessage = z.infer<typeof HelloMessage>;

/** The run's status changed (running, paused, finished ...). */
export const StatusMessage = loose({ type: z.literal("status"), run: RunInfo });
export type StatusMessage = z.infer<typeof StatusMessage>;

/** Guest serial output, decoded as UTF-8 (a sequence split between frames is kept whole). */
export const ConsoleOutputMessage = loose({ type: z.literal("console"), data: z.string() });
export type ConsoleOutputMessage = z.infer<typeof ConsoleOutputMessage>;

/**
 * This viewer was too slow: the server dropped `count` records with sequence numbers fromSeq..toSeq
 * (inclusive) instead of slowing the VM. Fetch them from GET /api/runs/:id/records?fromSeq=...
 * Records before the marker and after it arrive as usual.
 */
export const SkippedMessage = loose({ type: z.literal("skipped"), fromSeq: z.number(), toSeq: z.number(), count: z.number() });
export type SkippedMessage = z.infer<typeof SkippedMessage>;

/** A control or console message was done; `run` is the run after it. */
export const AckMessage = loose({
  type: z.literal("ack"),
  action: z.enum(["pause", "resume", "stop", "step", "break", "console"]),
  run: RunInfo,
  /** For console: the bytes the guest's serial port accepted. */
  accepted: z.number().optional(),
  id: z.union([z.string(), z.number()]).optional(),
});
export type AckMessage = z.infer<typeof AckMessage>;

/** A message was refused (or the run is unknown). `status` is the HTTP status the same request would get. */
export const ErrorMessage = loose({
  type: z.literal("error"),
  message: z.string(),
  status: z.number().optional(),
  id: z.union([z.string(), z.number()]).optional(),
});
export type ErrorMessage = z.infer<typeof ErrorMessage>;

export const ServerMessage = z.discriminatedUnion("type", [HelloMessage, StatusMessage, ConsoleOutputMessage, SkippedMessage, AckMessage, ErrorMessage]);
export type ServerMessage = z.infer<typeof ServerMessage>;

/** WebSocket close codes of this protocol (4000-4999 are the application's). */
export const WsClose = {
  /** The `run` (or `session`) parameter is missing or malformed. */
  BadRequest: 4400,
  /** No such run. */
  UnknownRun: 4404,
  /** No class session with that join code. */
  UnknownSession: 4405,
  /** The viewer fell so far behind that even thinning could not keep up. */
  TooSlow: 4408,
} as const;


// ---------------------------------------------------------------------------------------------
// Class sessions
//
// A teacher starts a session from a walkthrough (POST /api/sessions) and gets a join code, which
// students type, and a teacher token, which stays in the teacher's browser: advancing, revealing,
// ending and controlling the session's runs need the token in the TEACHER_TOKEN_HEADER header.
// Everyone (teacher and students) follows on WebSocket `/ws?session=CODE`: a `session` frame on
// connect and after every change. The runs themselves are watched on `/ws?run=ID` as usual.

/** The letters and digits of a join code: no 0/O, 1/I/L, which are easily misread on a projector. */
export const JOIN_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";
export const JOIN_CODE_LENGTH = 6;
/** What a join code looks like, for messages ("a join code is 6 letters and digits, like K7QH2M (got ...)"). */
export const JOIN_CODE_HINT = `a join code is ${JOIN_CODE_LENGTH} letters and digits, like K7QH2M`;

/**
 * A join code as the service knows it, from what a student typed: trimmed, upper-cased, without
 * spaces or dashes ("k7q-h2m" is "K7QH2M"); undefined when that is not 6 characters of the alphabet.
 */
export function normalizeJoinCode(s: string): string | undefined {
  return normalizeCode(s, JOIN_CODE_LENGTH);
}

/** `s` trimmed, upper-cased, without spaces and dashes, if that is `length` letters of the alphabet. */
function normalizeCode(s: string, length: number): string | undefined {
  if (typeof s !== "string" || s.length > 64) return undefined;
  const code = s.trim().toUpperCase().replace(/[\s-]/g, "");
  if (code.length !== length) return undefined;
  for (const c of code) if (!JOIN_CODE_ALPHABET.includes(c)) return undefined;
  return code;
}

/** The HTTP header that carries the teacher token (the answer to POST /api/sessions gives it, once). */
export const TEACHER_TOKEN_HEADER = "x-kvmscope-token";

/** POST /api/sessions: start a class session on one of GET /api/walkthroughs. */
export const CreateSessionBody = strict(
  {
    walkthrough: z
      .string({ error: (iss) => `must be a walkthrough's id (see GET /api/walkthroughs), got ${describeValue(iss.input)}` })
      .regex(/^[a-z0-9]+(?:-[a-z0-9]+)*$/, { error: (iss) => `must be a walkthrough's id such as "exit-loop" (see GET /api/walkthroughs), got ${describeValue(iss.input)}` })
      .max(64, { error: "must be at most 64 characters" }),
    /** Students may show a step's answer before the teacher reveals it (default: they may not). */
    peek: z.boolean({ error: (iss) => `must be true or false, got ${describeValue(iss.input)}` }).optional(),
  },
  "a session request",
);
export type CreateSessionBody = z.infer<typeof CreateSessionBody>;

/** Step indexes in requests; a walkthrough has at most 100 steps, the service says if there are fewer. */
const MAX_STEP_INDEX = 99;

/**
 * POST /api/sessions/:code/advance: to step `to` (0-based), or without it to the next step. A step
 * not reached yet is reached on the run (every step in between too); an earlier one is shown again
 * without touching the run.
 */
export const AdvanceBody = strict({ to: int(0, MAX_STEP_INDEX).optional() }, "an advance request");
export type AdvanceBody = z.infer<typeof AdvanceBody>;

/** POST /api/sessions/:code/reveal: show everyone the answer of step `step` (0-based). */
export const RevealBody = strict({ step: int(0, MAX_STEP_INDEX) }, "a reveal request");
export type RevealBody = z.infer<typeof RevealBody>;

/** POST /api/sessions/:code/end: no fields (an empty body is taken too). */
export const EndSessionBody = z.strictObject({}, {
  error: (iss) => {
    if (iss.code === "unrecognized_keys") return `unknown field${iss.keys.length > 1 ? "s" : ""} ${listOf(iss.keys)} (an end request takes no fields)`;
    if (iss.code === "invalid_type") return `an end request must be a JSON object, got ${describeValue(iss.input)}`;
    return undefined;
  },
});
export type EndSessionBody = z.infer<typeof EndSessionBody>;

/** The letters of a lead code: the join code's alphabet. */
export const LEAD_CODE_LENGTH = 8;

/** A lead code as typed ("abcd-efgh" is "ABCDEFGH"), or undefined when it cannot be one. */
export function normalizeLeadCode(s: string): string | undefined {
  return normalizeCode(s, LEAD_CODE_LENGTH);
}

/**
 * POST /api/sessions/:code/lead: another browser (the projector's PC, the teacher's laptop after a
 * closed tab) becomes the teacher with a lead code the teacher made (POST .../lead-code).
 */
export const LeadBody = strict(
  {
    leadCode: z.string({ error: (iss) => `must be the lead code the teacher's page shows, got ${describeValue(iss.input)}` }).max(64, { error: "must be at most 64 characters" }),
  },
  "a lead request",
);
export type LeadBody = z.infer<typeof LeadBody>;

/** 201 to POST /api/sessions/:code/lead-code: one use, until `expiresAt`. */
export const LeadCodeAnswer = loose({ leadCode: z.string(), expiresAt: z.string() });
export type LeadCodeAnswer = z.infer<typeof LeadCodeAnswer>;

export const SessionStatus = z.enum(["open", "ended"]);
export type SessionStatus = z.infer<typeof SessionStatus>;

/** A step the session reached, and the record where it is reached (in run `runId`). */
export const ReachedStep = loose({
  stepIndex: z.number(),
  stepId: z.string(),
  run: z.enum(["main", "compare"]),
  runId: z.string(),
  seq: z.number(),
});
export type ReachedStep = z.infer<typeof ReachedStep>;

/** GET /api/sessions/:code, and every `session` frame. */
export const SessionInfo = loose({
  code: z.string(),
  walkthroughId: z.string(),
  /** "ended" after POST .../end, or once the service that ran it has stopped (its runs stay readable). */
  status: SessionStatus,
  createdAt: z.string(),
  updatedAt: z.string(),
  /** The index of the step the teacher is on; -1 before the first advance. */
  step: z.number(),
  /** An advance is in progress (the run is on its way to a step). */
  busy: z.boolean(),
  /** Every step reached so far, in order (reached[i].stepIndex === i). */
  reached: z.array(ReachedStep),
  /** The session's runs: "main" from the start, "compare" once a step needs it. */
  runs: loose({ main: z.string().nullable(), compare: z.string().nullable() }),
  /** Steps whose answer the teacher revealed to everyone, ascending. */
  revealed: z.array(z.number()),
  /** Why the last advance failed; null after one that succeeded. */
  error: z.string().nullable(),
  /** Students may show answers before the teacher reveals them (a choice made at the start). */
  peek: z.boolean(),
  /** The answers everyone may see: the revealed steps' (every step's with `peek`). No other answer is sent. */
  answers: z.array(loose({ step: z.number(), answer: loose({ en: z.string(), ja: z.string() }) })),
  /** An open session nobody leads (no request with the teacher token) for this many seconds ends by itself. */
  idleEndSec: z.number(),
});
export type SessionInfo = z.infer<typeof SessionInfo>;
export type StepAnswer = SessionInfo["answers"][number];

/** 200 to POST /api/sessions/:code/lead: this browser's teacher token (the same secret as the first one). */
export const LeadAnswer = loose({ session: SessionInfo, teacherToken: z.string() });
export type LeadAnswer = z.infer<typeof LeadAnswer>;

/** GET /api/sessions/:code/answers (the teacher) and GET /api/walkthroughs/:id/answers (no class on it). */
export const AnswersAnswer = loose({ answers: SessionInfo.shape.answers });
export type AnswersAnswer = z.infer<typeof AnswersAnswer>;

/** 201 to POST /api/sessions. The only time the teacher token is shown: keep it, it is not stored. */
export const CreateSessionAnswer = loose({ session: SessionInfo, teacherToken: z.string() });
export type CreateSessionAnswer = z.infer<typeof CreateSessionAnswer>;

/** GET /api/walkthroughs: every walkthrough the service could load, and why any other file was left out. */
export interface WalkthroughsAnswer {
  walkthroughs: Walkthrough[];
  /** "walkthroughs/05-x.yaml:3:1: id: ..." per problem of a file that was left out. */
  problems: string[];
}

/** `/ws?session=CODE`: the session, on connect and after every change. */
export const SessionMessage = loose({ type: z.literal("session"), session: SessionInfo });
export type SessionMessage = z.infer<typeof SessionMessage>;

/** What a session socket carries (server -> client; it takes no messages). */
export const SessionServerMessage = z.discriminatedUnion("type", [SessionMessage, ErrorMessage]);
export type SessionServerMessage = z.infer<typeof SessionServerMessage>;
