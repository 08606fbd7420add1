// A single-writer, single-reader ring of fixed-size trace records in a SharedArrayBuffer: one per
// thread that writes records (the main thread and each vCPU thread), drained by the main thread.
// One ring per writer is what makes it lock-free: a ring shared by two vCPUs would corrupt.
//
// The writer never waits. When the ring is full it drops the record and counts it; the next record
// that fits is preceded by a Lost record carrying that count, so a reader always knows how many
// records are missing and where (architecture.md: "counted, never silently dropped").
import { H, LOST, MAIN_THREAD, RECORD_SIZE, RecordKind } from "@kvmscope/shared";

/** Int32 slots of the ring header. Indices are free-running counters; a slot is counter & mask. */
const WRITE = 0; // records published by the writer
const READ = 1; // records consumed by the reader
const HEADER_BYTES = 64;

export class TraceRing {
  readonly sab: SharedArrayBuffer;
  readonly capacity: number;

  /**
   * @param capacity records, a power of two. The memory is touched here, on the main thread, so
   * the vCPU thread does not take a page fault every 32 records the first time round the ring
   * (each one an expensive trip through the host kernel under nested virtualization).
   */
  static allocate(capacity: number): SharedArrayBuffer {
    if (!Number.isInteger(Math.log2(capacity))) throw new RangeError(`ring capacity ${capacity} is not a power of two`);
    const sab = new SharedArrayBuffer(HEADER_BYTES + capacity * RECORD_SIZE);
    const words = new Int32Array(sab);
    for (let i = 0; i < words.length; i += 1024) words[i] = 0; // one write per 4 KiB page
    return sab;
  }

  constructor(sab: SharedArrayBuffer) {
    this.sab = sab;
    this.capacity = (sab.byteLength - HEADER_BYTES) / RECORD_SIZE;
  }
}

/** The writing end; lives on the ring's one writer thread. */
export class RingWriter {
  readonly view: DataView;
  /** The same memory as typed arrays, for the hot path (every field is aligned to its size). */
  readonly u32: Uint32Array;
  readonly f64: Float64Array;
  readonly #header: Int32Array;
  readonly #seq: Int32Array;
  readonly #seqIndex: number;
  readonly #threadWord: number;
  readonly #mask: number;
  readonly #capacity: number;
  #written: number;
  #readSeen: number;
  #lost = 0;
  /** Total records dropped because the ring was full, over the writer's life. */
  lostTotal = 0;

  /**
   * @param seqCounter the run's one sequence counter, shared by every thread's writer
   * @param nowTs the current time as a record `ts` (for Lost records)
   */
  constructor(sab: SharedArrayBuffer, thread: number, seqCounter: { array: Int32Array; index: number }, private readonly nowTs: () => number) {
    this.view = new DataView(sab);
    this.u32 = new Uint32Array(sab);
    this.f64 = new Float64Array(sab);
    this.#seq = seqCounter.array;
    this.#seqIndex = seqCounter.index;
    // kind (u8), flags (u8) and thread (u16) share the record's first little-endian u32.
    this.#threadWord = (thread & 0xffff) << 16;
    this.#header = new Int32Array(sab, 0, 2);
    this.#capacity = (sab.byteLength - HEADER_BYTES) / RECORD_SIZE;
    this.#mask = this.#capacity - 1;
    this.#written = Atomics.load(this.#header, WRITE);
    this.#readSeen = Atomics.load(this.#header, READ);
  }

  /**
   * Byte offset of a free slot for the next record, with kind, thread and seq already filled in,
   * or -1 when the ring is full (the record is counted as lost). Fill the rest, then publish().
   */
  reserve(kind: RecordKind): number {
    if (this.#lost > 0 && !this.#flushLost()) {
      this.#lost++;
      this.lostTotal++;
      return -1;
    }
    const at = this.#slot();
    if (at < 0) {
      this.#lost++;
      this.lostTotal++;
      return -1;
    }
    this.#stamp(at, kind);
    return at;
  }

  /** Makes the reserved record visible to the reader. */
  publish(): void {
    this.#written = (this.#written + 1) | 0;
    Atomics.store(this.#header, WRITE, this.#written);
  }

  #slot(): number {
    // The reader only moves READ forward, so a stale copy can only underestimate the free space:
    // look at the shared word again only when the copy says the ring is full.
    if (((this.#written - this.#readSeen) | 0) >= this.#capacity) {
      this.#readSeen = Atomics.load(this.#header, READ);
      if (((this.#written - this.#readSeen) | 0) >= this.#capacity) return -1;
    }
    return HEADER_BYTES + (this.#written & this.#mask) * RECORD_SIZE;
  }

  #stamp(at: number, kind: RecordKind): void {
    const w = at >> 2;
    this.u32[w + (H.kind >> 2)] = (this.#threadWord | kind) >>> 0; // flags = 0
    this.u32[w + (H.seq >> 2)] = Atomics.add(this.#seq, this.#seqIndex, 1);
    this.u32[w + (H.code >> 2)] = 0;
    this.u32[w + (H.aux >> 2)] = 0;
    this.f64[(at + H.dur) >> 3] = 0;
  }

  /** Writes the pending Lost record if there is room; false if the ring is still full. */
  #flushLost(): boolean {
    const at = this.#slot();
    if (at < 0) return false;
    this.#stamp(at, RecordKind.Lost);
    this.view.setFloat64(at + H.ts, this.nowTs(), true);
    this.view.setFloat64(at + LOST.count, this.#lost, true);
    this.#lost = 0;
    this.publish();
    return true;
  }
}

/** The reading end; lives on the main thread. */
export class RingReader {
  readonly view: DataView;
  readonly #header: Int32Array;
  readonly #mask: number;
  #read: number;

  constructor(sab: SharedArrayBuffer) {
    this.view = new DataView(sab);
    this.#header = new Int32Array(sab, 0, 2);
    this.#mask = (sab.byteLength - HEADER_BYTES) / RECORD_SIZE - 1;
    this.#read = Atomics.load(this.#header, READ);
  }

  /** Calls visit(view, byteOffset) for every published record, in order, then frees their slots. Returns how many. */
  drain(visit: (view: DataView, at: number) => void): number {
    const written = Atomics.load(this.#header, WRITE);
    let n = 0;
    while (this.#read !== written) {
      visit(this.view, HEADER_BYTES + (this.#read & this.#mask) * RECORD_SIZE);
      this.#read = (this.#read + 1) | 0;
      n++;
    }
    Atomics.store(this.#header, READ, this.#read);
    return n;
  }
}

export { MAIN_THREAD };
