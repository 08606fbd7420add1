// The browser's copy of a run's trace: the 128-byte records exactly as the service sends them
// (binary WebSocket batches, or JSON pages re-encoded with the shared codec), kept in fixed-size
// chunks, plus a few typed-array columns that every view reads by row (Perfetto's columnar slice
// tables). A full record object is decoded only when someone looks at one row (hover, select).
//
// Rows are in arrival order. Within one thread that is time order (each thread has its own ring,
// drained in order); across threads it is only roughly so. `rowOfSeq` finds a record by its
// sequence number whatever order it came in (a `skipped` range fetched later, a page of history).
import {
  decodeRecord, encodeBatch, EXIT, EXIT_IO, EXIT_MMIO, H, KvmExit, MAIN_THREAD, RECORD_SIZE, RecordKind, type TraceRecord,
} from "@kvmscope/shared";
import { COM1 } from "./uart";

/** Records per raw chunk: 65,536 × 128 bytes = 8 MiB, so a million records never need one huge copy. */
const CHUNK_SHIFT = 16;
const CHUNK_RECORDS = 1 << CHUNK_SHIFT;
const CHUNK_MASK = CHUNK_RECORDS - 1;

/** Lane of a thread in every per-thread view: the main thread first, then vCPU n at n + 1. */
export function laneOfThread(thread: number): number {
  return thread === MAIN_THREAD ? 0 : thread + 1;
}
export function threadOfLane(lane: number): number {
  return lane === 0 ? MAIN_THREAD : lane - 1;
}

function grow<T extends Float64Array | Uint32Array | Uint16Array | Uint8Array | Int32Array>(a: T, need: number, make: (n: number) => T): T {
  if (need <= a.length) return a;
  let n = Math.max(1024, a.length);
  while (n < need) n *= 2;
  const b = make(n);
  b.set(a);
  return b;
}

/**
 * The store keeps every record up to this many (about 180 bytes each with the columns: ~360 MB).
 * A guest that exits 140,000 times a second for minutes would otherwise take the tab down. Past
 * the cap it keeps only the records a reader must still see (`keptPastCap`): the console output,
 * every ioctl, marker, stats sample and lost record, and every exit that is not port or MMIO
 * traffic (HLT, SHUTDOWN, ... — the run's last steps). Those are few, and bounded again by
 * `maxRecords / 4`; the rest is counted in `refused` (each seq once) and the page points to the
 * export, which has every record.
 */
export const STORE_MAX_RECORDS = 2_000_000;

/**
 * The cap a page asked for with `?cap=N` (tests reach it in seconds, a teacher can lower it on a
 * small laptop); otherwise STORE_MAX_RECORDS. N from 1,000 to STORE_MAX_RECORDS.
 */
export function storeCapFromQuery(search: string): number {
  const raw = new URLSearchParams(search).get("cap");
  if (raw === null || !/^\d+$/.test(raw)) return STORE_MAX_RECORDS;
  return Math.min(STORE_MAX_RECORDS, Math.max(1000, Number(raw)));
}

/** Exits a run made, from its stored totals (the run summary: exits per vCPU); 0 while none are stored. */
export function totalsExitCount(totals: Record<string, unknown> | null | undefined): number {
  const vcpus = totals?.vcpus;
  if (!Array.isArray(vcpus)) return 0;
  return vcpus.reduce((n: number, v: unknown) => n + (typeof (v as { exits?: unknown }).exits === "number" ? (v as { exits: number }).exits : 0), 0);
}

/** Exits the run made, as far as is known: the service's totals once it has ended, else every exit offered to the store (kept or not). */
export function runExitCount(store: TraceStore, totals: Record<string, unknown> | null | undefined): number {
  return Math.max(totalsExitCount(totals), store.exitCount + store.refusedExits);
}

/** Is a record of this kind worth keeping once the cap is reached? Port and MMIO exits are the bulk (a polling guest makes 100,000 a second); the console's own writes are kept. */
export function keptPastCap(kind: number, code: number, port: number, out: boolean): boolean {
  if (kind !== RecordKind.Exit) return true;
  if (code === KvmExit.MMIO) return false;
  if (code === KvmExit.IO) return out && port >= COM1.base && port < COM1.base + COM1.length;
  return true;
}

export class TraceStore {
  /** Rows held. */
  count = 0;
  /** Records offered and not kept (each seq counted once): port and MMIO exits past the cap, anything past `hardLimit`. */
  refused = 0;
  /** Exits among `refused`: with `exitCount`, every exit this store was offered. */
  refusedExits = 0;
  /** Seq of the first record not kept, or -1: every record before it is held. */
  firstRefusedSeq = -1;
  /** Seq index entries beyond this are kept in a Map: one record with a huge seq must not allocate gigabytes. */
  private static readonly DENSE_SEQ_SLACK = 1 << 20;

  constructor(readonly maxRecords = STORE_MAX_RECORDS) {}

  /** True once maxRecords are held: from then on only `keptPastCap` records are kept, up to `hardLimit`. */
  get full(): boolean {
    return this.count >= this.maxRecords;
  }
  /** Rows never exceed this, whatever their kind. */
  get hardLimit(): number {
    return this.maxRecords + Math.max(1, Math.floor(this.maxRecords / 4));
  }
  /** Bumped on every change: views memoize on it. */
  version = 0;

  private chunks: Uint8Array[] = [];
  private views: DataView[] = [];

  // Columns, indexed by row (valid below `count`).
  seq = new Uint32Array(0);
  kind = new Uint8Array(0);
  /** The record's thread: MAIN_THREAD or a vCPU index (for a stats record, the vCPU sampled). */
  thread = new Uint16Array(0);
  /** ns since the run began: when KVM_RUN returned (exit) or the ioctl was issued. */
  ts = new Float64Array(0);
  /** ns: time inside KVM_RUN before an exit; an ioctl's duration. */
  dur = new Float64Array(0);
  /** Exit reason code, ioctl id, or 0. */
  code = new Uint32Array(0);
  /** ns spent handling an exit in userspace before the next KVM_RUN (0 for other kinds). */
  handle = new Float64Array(0);
  /** KVM_EXIT_IO: the port; KVM_EXIT_MMIO: the guest-physical address; else 0. Filters read it without decoding. */
  addr = new Float64Array(0);

  private seqRow = new Int32Array(0);
  /** Highest seq held, -1 when empty. */
  maxSeq = -1;
  /** Latest ts seen, ns. */
  endTs = 0;
  /** vCPU indexes seen in any record, sorted. */
  vcpus: number[] = [];
  /** Rows of ioctl, marker, stats and lost records (few; exits are the bulk). */
  ioctlRows: number[] = [];
  markerRows: number[] = [];
  statsRows: number[] = [];
  lostRows: number[] = [];
  exitCount = 0;

  /** Appends a batch of whole records (codec bytes). Records already held (same seq) are skipped. Returns rows added. */
  appendBytes(bytes: Uint8Array): number {
    if (bytes.byteLength % RECORD_SIZE !== 0) {
      throw new RangeError(`a record batch is a whole number of ${RECORD_SIZE}-byte records; got ${bytes.byteLength} bytes`);
    }
    const n = bytes.byteLength / RECORD_SIZE;
    if (n === 0) return 0;
    const src = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.reserve(Math.min(this.count + n, this.hardLimit));
    let added = 0;
    for (let i = 0; i < n; i++) {
      const o = i * RECORD_SIZE;
      const seq = src.getUint32(o + H.seq, true);
      if (this.seen(seq)) continue;
      if (this.full) {
        const k = src.getUint8(o + H.kind);
        const c = src.getUint32(o + H.code, true);
        if (this.count >= this.hardLimit || !keptPastCap(k, c, src.getUint16(o + EXIT_IO.port, true), src.getUint8(o + EXIT_IO.direction) === 1)) {
          this.refused++;
          if (k === RecordKind.Exit) this.refusedExits++;
          if (this.firstRefusedSeq < 0 || seq < this.firstRefusedSeq) this.firstRefusedSeq = seq;
          this.markRefused(seq);
          this.version++;
          continue;
        }
      }
      const row = this.count;
      const chunk = row >>> CHUNK_SHIFT;
      if (chunk === this.chunks.length) {
        const c = new Uint8Array(CHUNK_RECORDS * RECORD_SIZE);
        this.chunks.push(c);
        this.views.push(new DataView(c.buffer));
      }
      const at = (row & CHUNK_MASK) * RECORD_SIZE;
      this.chunks[chunk]!.set(bytes.subarray(o, o + RECORD_SIZE), at);
      const kind = src.getUint8(o + H.kind);
      const thread = src.getUint16(o + H.thread, true);
      const ts = src.getFloat64(o + H.ts, true);
      this.seq[row] = seq;
      this.kind[row] = kind;
      this.thread[row] = thread;
      this.ts[row] = ts;
      this.dur[row] = src.getFloat64(o + H.dur, true);
      this.code[row] = src.getUint32(o + H.code, true);
      this.handle[row] = kind === RecordKind.Exit ? src.getFloat64(o + EXIT.handleNs, true) : 0;
      const code = this.code[row]!;
      this.addr[row] =
        kind !== RecordKind.Exit ? 0
        : code === KvmExit.IO ? src.getUint16(o + EXIT_IO.port, true)
        : code === KvmExit.MMIO ? src.getFloat64(o + EXIT_MMIO.addr, true)
        : 0;
      this.setRowOfSeq(seq, row);
      if (seq > this.maxSeq) this.maxSeq = seq;
      if (ts > this.endTs) this.endTs = ts;
      if (thread !== MAIN_THREAD && !this.vcpus.includes(thread)) {
        this.vcpus.push(thread);
        this.vcpus.sort((a, b) => a - b);
      }
      switch (kind) {
        case RecordKind.Exit: this.exitCount++; break;
        case RecordKind.Ioctl: this.ioctlRows.push(row); break;
        case RecordKind.Marker: this.markerRows.push(row); break;
        case RecordKind.Stats: this.statsRows.push(row); break;
        case RecordKind.Lost: this.lostRows.push(row); break;
      }
      this.count++;
      added++;
    }
    if (added > 0) this.version++;
    return added;
  }

  /** Appends decoded records (a JSON page from the records API, an imported file). */
  appendRecords(records: readonly TraceRecord[]): number {
    return records.length === 0 ? 0 : this.appendBytes(encodeBatch(records));
  }

  private contiguous = 0;
  private sparseSeqRow = new Map<number, number>();

  private setRowOfSeq(seq: number, row: number): void {
    if (seq < this.count * 4 + TraceStore.DENSE_SEQ_SLACK) {
      this.seqRow = grow(this.seqRow, seq + 1, (k) => new Int32Array(k).fill(-1));
      this.seqRow[seq] = row;
    } else this.sparseSeqRow.set(seq, row);
  }

  /** The lowest sequence number never offered (where a gap in the history starts), amortised O(1). Records not kept past the cap count as offered. */
  firstMissingSeq(): number {
    while (this.seen(this.contiguous)) this.contiguous++;
    return this.contiguous;
  }

  // Seqs offered and not kept: one bit each (a polling guest refuses 100,000 a second for minutes:
  // 10 MiB for 84 million), growing with the sequence; a stray huge seq goes to a Set.
  private refusedBits = new Uint8Array(0);
  private refusedSparse = new Set<number>();

  private markRefused(seq: number): void {
    const byte = seq >>> 3;
    if (Number.isInteger(seq) && seq >= 0 && byte < this.refusedBits.length * 2 + (1 << 20)) {
      if (byte >= this.refusedBits.length) this.refusedBits = grow(this.refusedBits, byte + 1, (k) => new Uint8Array(k));
      this.refusedBits[byte]! |= 1 << (seq & 7);
    } else this.refusedSparse.add(seq);
  }

  /** Was `seq` offered to the store (held, or not kept past the cap)? */
  seen(seq: number): boolean {
    if (this.rowOfSeq(seq) >= 0) return true;
    if (this.refused === 0) return false;
    const byte = seq >>> 3;
    if (Number.isInteger(seq) && seq >= 0 && byte < this.refusedBits.length && (this.refusedBits[byte]! & (1 << (seq & 7))) !== 0) return true;
    return this.refusedSparse.has(seq);
  }

  /** The row holding sequence number `seq`, or -1. */
  rowOfSeq(seq: number): number {
    if (Number.isInteger(seq) && seq >= 0 && seq < this.seqRow.length) {
      const row = this.seqRow[seq]!;
      if (row >= 0) return row;
    }
    return this.sparseSeqRow.get(seq) ?? -1;
  }

  private heldCache = { version: -1, seq: -1, n: 0 };

  /**
   * How many held records have a seq at or before `seq` (a replay's "record n of count": seqs can
   * have gaps, e.g. in an imported trace). O(1) at the newest record; moving forward costs the
   * distance moved, moving back a recount.
   */
  heldUpTo(seq: number): number {
    if (seq >= this.maxSeq) return this.count;
    if (seq < 0) return 0;
    const c = this.heldCache;
    if (c.version !== this.version || seq < c.seq) {
      c.version = this.version;
      c.seq = -1;
      c.n = 0;
    }
    if (seq - c.seq > this.count) {
      // A long way to go (or seqs far apart): one pass over the rows is shorter.
      let n = 0;
      for (let r = 0; r < this.count; r++) if (this.seq[r]! <= seq) n++;
      c.n = n;
    } else {
      for (let s = c.seq + 1; s <= seq; s++) if (this.rowOfSeq(s) >= 0) c.n++;
    }
    c.seq = seq;
    return c.n;
  }

  /** The whole record at `row`, decoded (the NDJSON shape). */
  record(row: number): TraceRecord {
    if (!(row >= 0 && row < this.count)) throw new RangeError(`no row ${row} (the store holds ${this.count})`);
    return decodeRecord(this.views[row >>> CHUNK_SHIFT]!, (row & CHUNK_MASK) * RECORD_SIZE);
  }

  /** A read-only view of the raw 128 bytes of `row` (for the kvm_run page view, hex dumps). */
  rawBytes(row: number): Uint8Array {
    if (!(row >= 0 && row < this.count)) throw new RangeError(`no row ${row} (the store holds ${this.count})`);
    const at = (row & CHUNK_MASK) * RECORD_SIZE;
    return this.chunks[row >>> CHUNK_SHIFT]!.subarray(at, at + RECORD_SIZE);
  }

  /** Lanes in drawing order: 0 = the main thread, then one per vCPU seen (n + 1). */
  lanes(): number[] {
    return [0, ...this.vcpus.map((v) => v + 1)];
  }

  /** Forgets everything (a new run in the same view). */
  clear(): void {
    const v = this.version + 1;
    Object.assign(this, new TraceStore(this.maxRecords));
    this.version = v;
  }

  private reserve(n: number): void {
    this.seq = grow(this.seq, n, (k) => new Uint32Array(k));
    this.kind = grow(this.kind, n, (k) => new Uint8Array(k));
    this.thread = grow(this.thread, n, (k) => new Uint16Array(k));
    this.ts = grow(this.ts, n, (k) => new Float64Array(k));
    this.dur = grow(this.dur, n, (k) => new Float64Array(k));
    this.code = grow(this.code, n, (k) => new Uint32Array(k));
    this.handle = grow(this.handle, n, (k) => new Float64Array(k));
    this.addr = grow(this.addr, n, (k) => new Float64Array(k));
  }
}
