// The chunk engine, apart from any database: how a run's trace records are laid out in chunks,
// where an append puts each record, and which records of a chunk a query wants. Pure functions
// over the shared 128-byte records (plus zlib on the thread pool); store.ts keeps the chunks in
// SQLite, and another implementation of RunStore can keep them anywhere with the same rules.
//
// A chunk: up to CHUNK_RECORDS binary records back to back, in seq order, compressed with
// deflate-raw level 1. Measured on a real pio-loop trace, 4096-record chunks
// (`npx kvmscope bench-store` prints the same for pio-loop-like records):
//   deflate-raw L1: 12.0 bytes/record, compress ~430 MB/s, inflate ~1100 MB/s
//   brotli q1:      11.7 bytes/record, compress ~500 MB/s, decompress ~630 MB/s
//   brotli q0:      15.0 bytes/record; deflate L6 11.0 bytes/record at ~80 MB/s
// Brotli q1 is 3% smaller but decompresses at half the speed, and reads are what must be fast.
//
// Invariants the readers rely on, kept by planAppend:
// - within a chunk, records are sorted by seq; chunk `index` order is seq order: chunks of a run
//   never overlap. Records that arrive late (a seq at or below what is already stored: a vCPU
//   thread can publish a record after a later-numbered one was drained) are merged into the
//   chunk they belong to, which is rewritten.
// - every chunk but the run's last holds at least CHUNK_RECORDS / 2 records: an append first tops
//   up a last chunk that is less than half full (a slow guest flushing a few records a second
//   still gets big chunks), so a page of N records touches at most N / 2048 + 2 chunks.
import { promisify } from "node:util";
import zlib from "node:zlib";
import { exitReasonCode, H, lowerBound, RECORD_SIZE, RecordKind } from "@kvmscope/shared";
import type { RecordQuery } from "./types.js";

/** Records per stored chunk (at most; a chunk late records were merged into may hold a few more). */
export const CHUNK_RECORDS = 4096;
/** A filtered readRecords call looks at no more than this many records before it answers (with `next`). */
export const SCAN_BUDGET = 64 * CHUNK_RECORDS;
/** Chunks fetched and inflated together while reading. */
export const READ_GROUP = 4;
/** deflate-raw level: 1, the fastest (see the measurements above). */
const DEFLATE_LEVEL = 1;

const deflateRawAsync = promisify(zlib.deflateRaw);
const inflateRawAsync = promisify(zlib.inflateRaw);

// On the thread pool. One output buffer the size of the result: with zlib's default 16 KiB
// chunkSize an async call goes back and forth between threads for every 16 KiB (measured: four
// 512 KiB chunks inflated in 8.1 ms that way, 2.9 ms like this, 4.4 ms with inflateRawSync).
export function compress(raw: Uint8Array): Promise<Buffer> {
  return deflateRawAsync(raw, { level: DEFLATE_LEVEL, chunkSize: Math.max(raw.byteLength, 64) });
}
export function inflate(data: Uint8Array, count: number): Promise<Buffer> {
  return inflateRawAsync(data, { chunkSize: Math.max(count * RECORD_SIZE, 64) });
}

export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function seqAt(view: DataView, i: number): number {
  return view.getUint32(i * RECORD_SIZE + H.seq, true);
}

/** Index of the first record with seq >= seq in records sorted by seq. */
export function firstAtOrAfter(view: DataView, n: number, seq: number): number {
  return lowerBound(n, (i) => seqAt(view, i) < seq);
}

/** `records` if already in seq order, else a sorted copy (stable). */
export function sortedBySeq(records: Uint8Array): Uint8Array {
  const n = records.byteLength / RECORD_SIZE;
  const view = viewOf(records);
  let sorted = true;
  for (let i = 1; i < n && sorted; i++) sorted = seqAt(view, i - 1) <= seqAt(view, i);
  if (sorted) return records;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => seqAt(view, a) - seqAt(view, b) || a - b);
  const out = new Uint8Array(records.byteLength);
  order.forEach((from, to) => out.set(records.subarray(from * RECORD_SIZE, (from + 1) * RECORD_SIZE), to * RECORD_SIZE));
  return out;
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** The columns a chunk is found by. */
export interface ChunkColumns {
  firstSeq: number;
  lastSeq: number;
  firstTs: number;
  lastTs: number;
  count: number;
}

/** The chunk columns of `raw` (sorted records). */
export function describe(raw: Uint8Array): ChunkColumns {
  const view = viewOf(raw);
  const count = raw.byteLength / RECORD_SIZE;
  let firstTs = Infinity;
  let lastTs = -Infinity;
  for (let i = 0; i < count; i++) {
    const ts = view.getFloat64(i * RECORD_SIZE + H.ts, true);
    if (ts < firstTs) firstTs = ts;
    if (ts > lastTs) lastTs = ts;
  }
  return { firstSeq: seqAt(view, 0), lastSeq: seqAt(view, count - 1), firstTs, lastTs, count };
}

// ---------------------------------------------------------------------------------------------
// Appending

/** An existing chunk, as an append sees it. */
export interface ChunkRef {
  index: number;
  firstSeq: number;
  count: number;
}

/** Where a run's records end, as read from the store just before planning. */
export interface RunTail {
  /** Highest seq stored; -1 when none. */
  lastSeq: number;
  /** The run's last chunk, or null when it has none. */
  last: ChunkRef | null;
}

/** What one append does: existing chunks that get records (rewritten whole), and new chunks. */
export interface AppendPlan {
  /** By chunk index: the chunk's record count when planned, and the records it gets. */
  rewrites: Map<number, { count: number; add: Uint8Array[] }>;
  /** New chunks' records (sorted), to go after the last chunk in this order. */
  created: Uint8Array[];
  /** The run's lastSeq once the append is in. */
  lastSeq: number;
}

/**
 * Plans appending `records` (sorted by seq) after `tail`. `chunksHolding(seq)` lists the run's
 * chunks whose lastSeq >= seq in index order (asked only when some records arrived late).
 */
export function planAppend(records: Uint8Array, tail: RunTail, chunksHolding: (seq: number) => ChunkRef[], runId: string): AppendPlan {
  const n = records.byteLength / RECORD_SIZE;
  const view = viewOf(records);
  const rewrites: AppendPlan["rewrites"] = new Map();
  const rewrite = (chunk: ChunkRef): Uint8Array[] => {
    let r = rewrites.get(chunk.index);
    if (r === undefined) rewrites.set(chunk.index, (r = { count: chunk.count, add: [] }));
    return r.add;
  };
  // Records at or below the stored lastSeq arrived late: they go into the chunks they belong to.
  let k = 0;
  while (k < n && seqAt(view, k) <= tail.lastSeq) k++;
  if (k > 0) {
    const chunks = chunksHolding(seqAt(view, 0));
    for (let i = 0; i < k; i++) {
      const s = seqAt(view, i);
      let target = chunks[0];
      for (const c of chunks) if (c.firstSeq <= s) target = c;
      if (target === undefined) throw new Error(`run ${runId}: no chunk holds seq ${tail.lastSeq}, yet it is the run's lastSeq`);
      rewrite(target).push(records.subarray(i * RECORD_SIZE, (i + 1) * RECORD_SIZE));
    }
  }
  let fresh = records.subarray(k * RECORD_SIZE);
  // Top up a last chunk that is less than half full.
  if (tail.last !== null && fresh.byteLength > 0) {
    const count = tail.last.count + (rewrites.get(tail.last.index)?.add.length ?? 0);
    if (count < CHUNK_RECORDS / 2) {
      const take = Math.min(CHUNK_RECORDS - count, fresh.byteLength / RECORD_SIZE);
      rewrite(tail.last).push(fresh.subarray(0, take * RECORD_SIZE));
      fresh = fresh.subarray(take * RECORD_SIZE);
    }
  }
  const created: Uint8Array[] = [];
  for (let at = 0; at < fresh.byteLength; at += CHUNK_RECORDS * RECORD_SIZE) {
    created.push(fresh.subarray(at, Math.min(at + CHUNK_RECORDS * RECORD_SIZE, fresh.byteLength)));
  }
  return { rewrites, created, lastSeq: n === 0 ? tail.lastSeq : Math.max(tail.lastSeq, seqAt(view, n - 1)) };
}

/** A chunk's records with `add` merged in, in seq order. */
export function mergeInto(raw: Uint8Array, add: Uint8Array[]): Uint8Array {
  return sortedBySeq(concat([raw, ...add]));
}

// ---------------------------------------------------------------------------------------------
// Reading

/** A checked RecordQuery, ready to test records with. */
export interface RecordFilter {
  fromSeq: number;
  limit: number;
  /** Any condition beyond fromSeq (the scan budget applies). */
  filtered: boolean;
  /** Bounds for choosing chunks by their ts columns. */
  fromTs: number;
  toTs: number;
  /** Whether the record at byte offset `o` of `view` is wanted (fromSeq aside). */
  matches(view: DataView, o: number): boolean;
}

/** Checks `q` (a RangeError says what is wrong) and compiles it into a filter. */
export function compileQuery(q: RecordQuery): RecordFilter {
  requireInt("limit", q.limit, 1);
  const fromSeq = q.fromSeq ?? 0;
  requireInt("fromSeq", fromSeq, 0);
  if (q.vcpu !== undefined) requireInt("vcpu", q.vcpu, 0);
  let reasonCode: number | undefined;
  if (q.reason !== undefined) {
    reasonCode = exitReasonCode(q.reason) ?? exitReasonCode(`KVM_EXIT_${q.reason.toUpperCase()}`);
    if (reasonCode === undefined) throw new RangeError(`unknown exit reason ${JSON.stringify(q.reason)} (e.g. "KVM_EXIT_IO")`);
  }
  for (const k of ["fromTs", "toTs"] as const) {
    const v = q[k];
    if (v !== undefined && !Number.isFinite(v)) throw new RangeError(`${k} must be a number of ns`);
  }
  const fromTs = q.fromTs ?? -Infinity;
  const toTs = q.toTs ?? Infinity;
  const vcpu = q.vcpu;
  const filtered = vcpu !== undefined || reasonCode !== undefined || q.fromTs !== undefined || q.toTs !== undefined;
  return {
    fromSeq,
    limit: q.limit,
    filtered,
    fromTs,
    toTs,
    matches(view, o) {
      if (vcpu !== undefined && view.getUint16(o + H.thread, true) !== vcpu) return false;
      if (reasonCode !== undefined && (view.getUint8(o + H.kind) !== RecordKind.Exit || view.getUint32(o + H.code, true) !== reasonCode)) return false;
      const ts = view.getFloat64(o + H.ts, true);
      return ts >= fromTs && ts <= toTs;
    },
  };
}

/** How many chunks a read fetches at most (every chunk but a run's last has >= CHUNK_RECORDS / 2 records). */
export function chunksWanted(f: RecordFilter): number {
  return f.filtered ? Math.ceil(SCAN_BUDGET / (CHUNK_RECORDS / 2)) : Math.ceil(f.limit / (CHUNK_RECORDS / 2)) + 2;
}

export function requireInt(name: string, v: number, min: number): void {
  if (!Number.isSafeInteger(v) || v < min) throw new RangeError(`${name} must be an integer >= ${min}; got ${v}`);
}
