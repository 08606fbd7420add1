// NDJSON export and import: one JSON object per line, a `run` line first, then records in the
// contract of codec.ts, then an `end` line. The run and end objects are built by the VMM (they
// hold its configuration and outcome); this module only frames and checks them.
import type {
  ExitRecord, IoctlRecord, IoPayload, MarkerRecord, TraceRecord,
} from "./codec.js";
import { errnoName } from "./errno.js";
import { KvmExit } from "./exit-reasons.js";
import { EXIT_PAYLOAD_BY_CODE, IO_INLINE_BYTES, RECORD_FORMAT_VERSION } from "./record-layout.js";
import { validateRecord } from "./validate.js";
import { ChunkBuffer } from "./chunk-buffer.js";

/** The first line. Its other fields are the VMM's to define, but for `recordFormat` (RECORD_FORMAT_VERSION), which the writer adds. */
export interface RunLine {
  type: "run";
  [key: string]: unknown;
}

/** The last line. Its other fields are the VMM's to define (a RunSummary's toJSON() fits here). */
export interface EndLine {
  type: "end";
  [key: string]: unknown;
}

// IO and MMIO data are cut exactly as the binary payload cuts them, so that what the writer emits
// always passes parseNdjson and equals what a binary round trip would give.
function copyIo(io: IoPayload): IoPayload {
  const dataLen = io.dataLen ?? io.data.length;
  const data = io.data.length > IO_INLINE_BYTES ? io.data.slice(0, IO_INLINE_BYTES) : io.data;
  const out: IoPayload = { port: io.port, size: io.size, direction: io.direction, count: io.count, data };
  if (io.truncated === true || dataLen > data.length) {
    out.dataLen = dataLen;
    out.truncated = true;
  }
  return out;
}

function exitToJson(rec: ExitRecord): ExitRecord {
  const out: ExitRecord = {
    type: "exit", seq: rec.seq, ts: rec.ts, vcpu: rec.vcpu, reason: rec.reason, code: rec.code, rip: rec.rip,
    guestNs: rec.guestNs, handleNs: rec.handleNs, ifFlag: rec.ifFlag, readyForInjection: rec.readyForInjection,
    requestedWindow: rec.requestedWindow,
  };
  if (rec.unobserved === true) {
    out.unobserved = true;
    return out;
  }
  // Only the payload that belongs to the code, as the binary codec would keep it. A plain payload
  // is its schema's fields, in the schema's order.
  const plain = EXIT_PAYLOAD_BY_CODE.get(rec.code);
  if (plain?.plain) {
    const values = (rec as unknown as Record<string, Record<string, number> | undefined>)[plain.key];
    if (values) (out as unknown as Record<string, unknown>)[plain.key] = Object.fromEntries(plain.fields.map((f) => [f.name, values[f.name]]));
    return out;
  }
  switch (rec.code) {
    case KvmExit.IO: if (rec.io) out.io = copyIo(rec.io); break;
    case KvmExit.MMIO: if (rec.mmio) out.mmio = { addr: rec.mmio.addr, len: rec.mmio.len, isWrite: rec.mmio.isWrite, data: rec.mmio.data.slice(0, Math.min(rec.mmio.len, 8)) }; break;
    case KvmExit.INTERNAL_ERROR: if (rec.internal) out.internal = { suberror: rec.internal.suberror, suberrorName: rec.internal.suberrorName, data: rec.internal.data.slice(0, 2), insn: rec.internal.insn.slice(0, 15) }; break;
    case KvmExit.SYSTEM_EVENT: if (rec.systemEvent) out.systemEvent = { type: rec.systemEvent.type, typeName: rec.systemEvent.typeName, data: rec.systemEvent.data }; break;
    default: break;
  }
  return out;
}

/**
 * The contract object for a record: exactly the documented keys, in the documented order, and
 * nothing else (a record built by hand may carry extra properties; a decoded one already has
 * this shape). Payload arrays are cut to what the binary payload holds (IO data to
 * IO_INLINE_BYTES and flagged truncated, MMIO data to `len`), so the result is what a binary round
 * trip would give; marker text is left whole, as JSON has no limit on it.
 */
export function recordToJson(rec: TraceRecord): TraceRecord {
  switch (rec.type) {
    case "exit":
      return exitToJson(rec);
    case "ioctl": {
      const out: IoctlRecord = {
        type: "ioctl", seq: rec.seq, ts: rec.ts, thread: rec.thread, name: rec.name, fd: rec.fd, args: { ...rec.args },
        ret: rec.ret, errno: rec.errno, durNs: rec.durNs,
      };
      if (rec.errno !== 0) {
        // A name the caller already has (the binding knows every errno) wins over our short table.
        const error = rec.error ?? errnoName(rec.errno);
        if (error !== undefined) out.error = error;
      }
      return out;
    }
    case "marker": {
      const out: MarkerRecord = { type: "marker", seq: rec.seq, ts: rec.ts, thread: rec.thread, text: rec.text };
      if (rec.truncated === true) out.truncated = true;
      return out;
    }
    case "stats":
      return { type: "stats", seq: rec.seq, ts: rec.ts, vcpu: rec.vcpu, counters: { ...rec.counters } };
    case "lost":
      return { type: "lost", seq: rec.seq, ts: rec.ts, thread: rec.thread, count: rec.count };
    case "unknown":
      return { type: "unknown", seq: rec.seq, ts: rec.ts, kind: rec.kind, thread: rec.thread };
  }
}

/** Default size at which the writer hands buffered lines to its sink: few sink calls, bounded memory. */

/**
 * Writes a run as NDJSON through `sink`, never holding more than one chunk: the run line at
 * construction, `write()` per record, `end()` for the end line. Lines are batched into chunks of
 * about `chunkChars` characters; call `flush()` to push a partial chunk out (e.g. live streaming).
 */
export class NdjsonWriter {
  readonly #out: ChunkBuffer;
  #ended = false;
  #records = 0;

  constructor(sink: (chunk: string) => void, run: RunLine, options: { chunkChars?: number } = {}) {
    if (run.type !== "run") throw new TypeError(`the first NDJSON line must have type "run", not ${JSON.stringify(run.type)}`);
    this.#out = new ChunkBuffer(sink, options.chunkChars);
    // Every export says which record format its records follow (record-layout.ts).
    this.#line(JSON.stringify({ ...run, recordFormat: run.recordFormat ?? RECORD_FORMAT_VERSION }));
  }

  /** Records written so far. */
  get recordCount(): number {
    return this.#records;
  }

  write(rec: TraceRecord): void {
    if (this.#ended) throw new Error("NdjsonWriter: write() after end()");
    this.#line(JSON.stringify(recordToJson(rec)));
    this.#records++;
  }

  /** Writes the end line and flushes. The writer accepts nothing afterwards. */
  end(end: EndLine): void {
    if (this.#ended) throw new Error("NdjsonWriter: end() called twice");
    if (end.type !== "end") throw new TypeError(`the last NDJSON line must have type "end", not ${JSON.stringify(end.type)}`);
    this.#line(JSON.stringify(end));
    this.#ended = true;
    this.flush();
  }

  flush(): void {
    this.#out.flush();
  }

  #line(json: string): void {
    this.#out.append(json + "\n");
  }
}

/** An NDJSON file that is not a valid run; `line` is the 1-based line of the first problem. */
export class NdjsonError extends Error {
  readonly line: number;

  constructor(line: number, problem: string) {
    super(`line ${line}: ${problem}`);
    this.name = "NdjsonError";
    this.line = line;
  }
}

export interface ParsedRun {
  run: RunLine;
  records: TraceRecord[];
  end: EndLine;
}

/**
 * Parses and checks a whole NDJSON run: a `run` line, valid records, an `end` line, nothing after
 * it. Blank lines are skipped (but still counted, so line numbers match an editor's). Throws an
 * NdjsonError naming the first bad line. Records come back in the contract shape (recordToJson).
 */
export function parseNdjson(text: string): ParsedRun {
  const lines = text.split("\n");
  let run: RunLine | undefined;
  let end: EndLine | undefined;
  const records: TraceRecord[] = [];
  let lastLine = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim(); // also drops a Windows "\r"
    if (line === "") continue;
    const lineNo = i + 1;
    lastLine = lineNo;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      throw new NdjsonError(lineNo, `not JSON (${(e as Error).message})`);
    }
    const type = typeof value === "object" && value !== null ? (value as { type?: unknown }).type : undefined;
    if (end !== undefined) throw new NdjsonError(lineNo, `nothing may follow the "end" line`);
    if (run === undefined) {
      if (type !== "run") throw new NdjsonError(lineNo, `the first line must be the "run" object, not ${JSON.stringify(type)}`);
      run = value as RunLine;
      continue;
    }
    if (type === "end") {
      end = value as EndLine;
      continue;
    }
    if (type === "run") throw new NdjsonError(lineNo, `a second "run" line`);
    const problem = validateRecord(value);
    if (problem !== undefined) throw new NdjsonError(lineNo, problem);
    records.push(recordToJson(value as TraceRecord));
  }
  if (run === undefined) throw new NdjsonError(1, `empty: no "run" line`);
  if (end === undefined) throw new NdjsonError(lastLine + 1, `missing the "end" line (was the export cut short?)`);
  return { run, records, end };
}
