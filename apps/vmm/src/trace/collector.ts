// The main thread's end of a run's trace: one ring per writing thread (the main thread's own and
// one per vCPU thread), drained together into batches in sequence order (the rings are per
// thread; `seq` is the run's one total order), handed on as codec bytes and decoded records.
import { H, RECORD_SIZE, type TraceRecord, decodeBatch } from "@kvmscope/shared";
import { RingReader, TraceRing } from "./ring.js";

export class TraceCollector {
  readonly #readers: RingReader[] = [];
  #scratch = new Uint8Array(RECORD_SIZE * 1024);
  /** Records the rings had to drop, from the Lost records drained so far. */
  lostRecords = 0;

  /** @param capacity records per ring (a power of two) */
  constructor(readonly capacity: number, private readonly sink: (bytes: Uint8Array, records: TraceRecord[]) => void) {}

  /** A new ring for one writing thread, drained with the others from now on. */
  addRing(): SharedArrayBuffer {
    const sab = TraceRing.allocate(this.capacity);
    this.#readers.push(new RingReader(sab));
    return sab;
  }

  /** Takes whatever every ring holds now and hands it on as one batch (nothing when they are empty). */
  drain(): void {
    let n = 0;
    for (const reader of this.#readers) {
      reader.drain((view, at) => {
        if ((n + 1) * RECORD_SIZE > this.#scratch.length) {
          const bigger = new Uint8Array(this.#scratch.length * 2);
          bigger.set(this.#scratch);
          this.#scratch = bigger;
        }
        this.#scratch.set(new Uint8Array(view.buffer, at, RECORD_SIZE), n * RECORD_SIZE);
        n++;
      });
    }
    if (n === 0) return;
    const unordered = this.#scratch.subarray(0, n * RECORD_SIZE);
    const seqs = new Uint32Array(n);
    const dv = new DataView(unordered.buffer, unordered.byteOffset, unordered.byteLength);
    for (let i = 0; i < n; i++) seqs[i] = dv.getUint32(i * RECORD_SIZE + H.seq, true);
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (seqs[a] ?? 0) - (seqs[b] ?? 0));
    const bytes = new Uint8Array(n * RECORD_SIZE);
    order.forEach((from, to) => bytes.set(unordered.subarray(from * RECORD_SIZE, (from + 1) * RECORD_SIZE), to * RECORD_SIZE));
    const records = decodeBatch(bytes);
    for (const r of records) if (r.type === "lost") this.lostRecords += r.count;
    this.sink(bytes, records);
  }
}
