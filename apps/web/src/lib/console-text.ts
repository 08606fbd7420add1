// The guest's serial console rebuilt from the trace: every byte the guest printed was an OUT to
// COM1's transmit register, and each is an exit record. Rebuilding it from records (rather than
// from the service's console frames) means the console shows exactly what had been printed at
// the cursor: scrub a replay back and the text goes back with it.
//
// The UART registers that decide whether an OUT to offset 0 is a character: LCR's DLAB bit
// (offset 0 is then the divisor latch) and MCR's loopback bit (the byte goes to the receiver).
import { bySeq, KvmExit, lowerBound, RecordKind } from "@kvmscope/shared";
import type { TraceStore } from "./trace-store";
import { COM1, LCR_DLAB, MCR_LOOPBACK, UART_REG } from "./uart";

/** Past this many bytes only the newest are kept: a guest flooding its console cannot take the page down. */
export const CONSOLE_MAX_BYTES = 1 << 20;

interface UartWrite {
  seq: number;
  offset: number;
  bytes: number[];
}

/**
 * Follows one TraceStore; `textAt(cursorSeq)` is what the console showed after that record.
 * The printed bytes are kept once, in seq order, each with the seq of the OUT that printed it, so
 * a cursor move costs a binary search and one decode of at most CONSOLE_MAX_BYTES — never a walk
 * over everything the guest ever printed.
 */
export class ConsoleTranscript {
  private seen = 0;
  private writes: UartWrite[] = [];
  /** writes[0, applied) are folded into printed/printedSeq; LCR and MCR as they stood after them. */
  private applied = 0;
  private lcr = 0;
  private mcr = 0;
  private printed = new Uint8Array(1024);
  private printedSeq = new Uint32Array(1024);
  private printedCount = 0;
  private decoder = new TextDecoder();
  private cache: { n: number; text: string } = { n: 0, text: "" };

  /** Picks up rows added to the store since the last call. */
  update(store: TraceStore): void {
    if (store.count < this.seen) this.reset(); // the store was cleared
    let outOfOrder = false;
    for (let row = this.seen; row < store.count; row++) {
      if (store.kind[row] !== RecordKind.Exit || store.code[row] !== KvmExit.IO) continue;
      const port = store.addr[row]!;
      if (port < COM1.base || port >= COM1.base + COM1.length) continue;
      const rec = store.record(row);
      if (rec.type !== "exit" || rec.io === undefined || rec.io.direction !== "out") continue;
      const last = this.writes.at(-1);
      if (last !== undefined && last.seq > rec.seq) outOfOrder = true;
      this.writes.push({ seq: rec.seq, offset: port - COM1.base, bytes: rec.io.data });
    }
    this.seen = store.count;
    if (outOfOrder) {
      // A late record (history filled in after live ones): fold everything again, in seq order. Rare.
      this.writes.sort(bySeq);
      this.applied = 0;
      this.lcr = 0;
      this.mcr = 0;
      this.printedCount = 0;
      this.cache = { n: 0, text: "" };
    }
    for (; this.applied < this.writes.length; this.applied++) {
      const w = this.writes[this.applied]!;
      for (const b of w.bytes) {
        if (w.offset === UART_REG.LCR) this.lcr = b;
        else if (w.offset === UART_REG.MCR) this.mcr = b;
        else if (w.offset === UART_REG.THR && (this.lcr & LCR_DLAB) === 0 && (this.mcr & MCR_LOOPBACK) === 0) this.print(b, w.seq);
      }
    }
  }

  /** The console text after record `cursorSeq` (inclusive). */
  textAt(cursorSeq: number): string {
    // The number of bytes printed by records with seq <= cursorSeq.
    const lo = lowerBound(this.printedCount, (i) => this.printedSeq[i]! <= cursorSeq);
    if (lo !== this.cache.n) {
      this.cache = { n: lo, text: this.decoder.decode(this.printed.subarray(Math.max(0, lo - CONSOLE_MAX_BYTES), lo)) };
    }
    return this.cache.text;
  }

  private print(byte: number, seq: number): void {
    if (this.printedCount === this.printed.length) {
      const bytes = new Uint8Array(this.printed.length * 2);
      bytes.set(this.printed);
      this.printed = bytes;
      const seqs = new Uint32Array(this.printedSeq.length * 2);
      seqs.set(this.printedSeq);
      this.printedSeq = seqs;
    }
    this.printed[this.printedCount] = byte;
    this.printedSeq[this.printedCount] = seq;
    this.printedCount++;
  }

  private reset(): void {
    this.seen = 0;
    this.writes = [];
    this.applied = 0;
    this.lcr = 0;
    this.mcr = 0;
    this.printedCount = 0;
    this.cache = { n: 0, text: "" };
  }
}
