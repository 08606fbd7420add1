// Chrome Trace Event JSON (the format chrome://tracing and Perfetto UI open), written as a stream:
// the run is never held in memory, only the current chunk of text. The picture it draws is
// qemu-kvm's thread model: one process, a track for the main thread and one per vCPU thread, and
// on each vCPU track the rhythm of KVM_RUN: time in the guest, then the exit being handled.
//
// Format notes (Trace Event Format document): 'X' complete events carry ts and dur, 'i' instant
// events with s:'t' are drawn on their thread, 'C' counters are per process and keyed by name,
// 'M' metadata names processes and threads. Times are microseconds; we keep nanosecond precision
// as fractions and say so with displayTimeUnit "ns".
import { ChunkBuffer } from "./chunk-buffer.js";
import type { ExitRecord, IoctlRecord, TraceRecord } from "./codec.js";
import { threadIndex } from "./codec.js";
import { MAIN_THREAD } from "./record-layout.js";
import { recordToJson } from "./ndjson.js";
import { hex } from "./sorted.js";

/** The one process: the VMM (qemu-kvm's single process). */
export const CHROME_PID = 1;
export const CHROME_PROCESS_NAME = "kvmscope VMM";
/** Name of the span a vCPU spends inside KVM_RUN before each exit. */
export const CHROME_GUEST_SPAN = "in guest (KVM_RUN)";

/**
 * The Chrome tid for a binary thread value: the main thread is 1, vCPU n is n + 2. Small, distinct,
 * and never 0, which some importers treat as "no thread".
 */
export function chromeTid(thread: number): number {
  return thread === MAIN_THREAD ? 1 : thread + 2;
}

function threadLabel(thread: number): string {
  return thread === MAIN_THREAD ? "main thread" : `vCPU ${thread} thread`;
}

/** Tracks sort as main thread first, then vCPUs in order. */
function sortIndex(thread: number): number {
  return thread === MAIN_THREAD ? 0 : thread + 1;
}

const us = (ns: number): number => ns / 1000;

export interface ChromeTraceOptions {
  /** Goes into the trace's top-level `metadata` (e.g. the run line); end() may add more. */
  metadata?: Record<string, unknown>;
  /** Name this many vCPU tracks up front, so they appear in order even before their first record. */
  vcpus?: number;
  /** Characters buffered before the sink is called. */
  chunkChars?: number;
}

/**
 * Streams one trace: construct (writes the header and the process/main-thread metadata),
 * write() each record in any order, end() once. The sink receives consecutive pieces of a single
 * JSON object `{"traceEvents":[...],"displayTimeUnit":"ns","metadata":{...}}`.
 */
export class ChromeTraceWriter {
  readonly #out: ChunkBuffer;
  readonly #metadata: Record<string, unknown>;
  readonly #named = new Set<number>();
  #events = 0;
  #ended = false;

  constructor(sink: (chunk: string) => void, options: ChromeTraceOptions = {}) {
    this.#out = new ChunkBuffer(sink, options.chunkChars);
    this.#metadata = { ...options.metadata };
    this.#out.append(`{"traceEvents":[`);
    this.#event({ name: "process_name", ph: "M", pid: CHROME_PID, tid: chromeTid(MAIN_THREAD), args: { name: CHROME_PROCESS_NAME } });
    this.#nameThread(MAIN_THREAD);
    for (let v = 0; v < (options.vcpus ?? 0); v++) this.#nameThread(v);
  }

  /** Trace events written so far, metadata included. */
  get eventCount(): number {
    return this.#events;
  }

  write(rec: TraceRecord): void {
    if (this.#ended) throw new Error("ChromeTraceWriter: write() after end()");
    switch (rec.type) {
      case "exit":
        this.#exit(rec);
        return;
      case "ioctl":
        this.#ioctl(rec);
        return;
      case "marker": {
        const thread = this.#thread(rec.thread);
        this.#event({ name: rec.text, cat: "marker", ph: "i", s: "t", ts: us(rec.ts), pid: CHROME_PID, tid: chromeTid(thread), args: { seq: rec.seq } });
        return;
      }
      case "stats": {
        const tid = this.#threadTid(rec.vcpu);
        // One counter per statistic: Chrome stacks the series of a multi-valued counter, which
        // would add unrelated cumulative counts together. Each is the raw cumulative value, so
        // "exits" climbing faster than exit spans appear on the vCPU's track is KVM handling
        // exits in the kernel without returning to us.
        for (const [stat, value] of Object.entries(rec.counters)) {
          this.#event({ name: `vCPU ${rec.vcpu} ${stat}`, cat: "kvm_stats", ph: "C", ts: us(rec.ts), pid: CHROME_PID, tid, args: { [stat]: value } });
        }
        return;
      }
      case "lost": {
        const thread = this.#thread(rec.thread);
        this.#event({
          name: `lost ${rec.count} records`, cat: "lost", ph: "i", s: "t", ts: us(rec.ts), pid: CHROME_PID, tid: chromeTid(thread),
          args: { seq: rec.seq, count: rec.count },
        });
        return;
      }
    }
  }

  /** Closes the JSON object (adding `metadata` to the constructor's) and flushes. */
  end(metadata: Record<string, unknown> = {}): void {
    if (this.#ended) throw new Error("ChromeTraceWriter: end() called twice");
    this.#ended = true;
    this.#out.append(`],"displayTimeUnit":"ns","metadata":${JSON.stringify({ ...this.#metadata, ...metadata })}}`);
    this.flush();
  }

  flush(): void {
    this.#out.flush();
  }

  #exit(rec: ExitRecord): void {
    const tid = this.#threadTid(rec.vcpu);
    // qemu-kvm 0.14: the first span is the KVM_RUN ioctl inside kvm_cpu_exec (kvm-all.c), the
    // second the switch on run->exit_reason that follows it.
    this.#event({ name: CHROME_GUEST_SPAN, cat: "guest", ph: "X", ts: us(rec.ts - rec.guestNs), dur: us(rec.guestNs), pid: CHROME_PID, tid });
    const { type: _type, ts: _ts, vcpu: _vcpu, reason: _reason, rip, ...fields } = recordToJson(rec) as ExitRecord;
    this.#event({ name: rec.reason, cat: "exit", ph: "X", ts: us(rec.ts), dur: us(rec.handleNs), pid: CHROME_PID, tid, args: { ...fields, rip: hex(rip) } });
  }

  #ioctl(rec: IoctlRecord): void {
    const thread = this.#thread(rec.thread);
    const args: Record<string, unknown> = { seq: rec.seq, fd: rec.fd, ...rec.args, ret: rec.ret, errno: rec.errno };
    if (rec.error !== undefined) args.error = rec.error;
    this.#event({ name: rec.name, cat: "ioctl", ph: "X", ts: us(rec.ts), dur: us(rec.durNs), pid: CHROME_PID, tid: chromeTid(thread), args });
  }

  /** The binary thread for a contract name, naming its track the first time it is seen. */
  #thread(name: string): number {
    const thread = threadIndex(name);
    if (thread === undefined) throw new TypeError(`thread ${JSON.stringify(name)} is neither "main" nor "vcpu<N>"`);
    if (!this.#named.has(thread)) this.#nameThread(thread);
    return thread;
  }

  #threadTid(vcpu: number): number {
    if (!this.#named.has(vcpu)) this.#nameThread(vcpu);
    return chromeTid(vcpu);
  }

  #nameThread(thread: number): void {
    this.#named.add(thread);
    const tid = chromeTid(thread);
    this.#event({ name: "thread_name", ph: "M", pid: CHROME_PID, tid, args: { name: threadLabel(thread) } });
    this.#event({ name: "thread_sort_index", ph: "M", pid: CHROME_PID, tid, args: { sort_index: sortIndex(thread) } });
  }

  #event(ev: Record<string, unknown>): void {
    this.#out.append((this.#events === 0 ? "" : ",") + JSON.stringify(ev));
    this.#events++;
  }
}
