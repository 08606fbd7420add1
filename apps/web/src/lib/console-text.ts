// The guest's serial console rebuilt from the trace: every byte the guest printed was an OUT to
// COM1's transmit register, and each is an exit record. Rebuilding it from records (rather than
// from the service's console frames) means the console shows exactly what had been printed at
// the cursor: scrub a replay back and the text goes back with it.
//
// The UART registers that decide whether an OUT to offset 0 is a character: LCR's DLAB bit
// (offset 0 is then the divisor latch) and MCR's loopback bit (the byte goes to the receiver).
import { KvmExit, RecordKind } from "@kvmscope/shared";
import type { TraceStore } from "./trace-store";
import { COM1, LCR_DLAB, MCR_LOOPBACK, UART_REG } from "./uart";

/** Past this many bytes only the newest are kept: a guest flooding its console cannot take the page down. */
export const CONSOLE_MAX_BYTES = 1 << 20;

interface UartWrite {
  seq: number;
  offset: number;
  bytes: number[];
}

/** Follows one TraceStore; `textAt(cursorSeq)` is what the console showed after that record. */
export class ConsoleTranscript {
  private seen = 0;
  private writes: UartWrite[] = [];
  private sorted = true;
  private decoder = new TextDecoder();

  /** Picks up rows added to the store since the last call. */
  update(store: TraceStore): void {
    if (store.count < this.seen) this.reset(); // the store was cleared
    for (let row = this.seen; row < store.count; row++) {
      if (store.kind[row] !== RecordKind.Exit || store.code[row] !== KvmExit.IO) continue;
      const port = store.addr[row]!;
      if (port < COM1.base || port >= COM1.base + COM1.length) continue;
      const rec = store.record(row);
      if (rec.type !== "exit" || rec.io === undefined || rec.io.direction !== "out") continue;
      const last = this.writes.at(-1);
      if (last !== undefined && last.seq > rec.seq) this.sorted = false;
      this.writes.push({ seq: rec.seq, offset: port - COM1.base, bytes: rec.io.data });
    }
    this.seen = store.count;
  }

  /** The console text after record `cursorSeq` (inclusive). */
  textAt(cursorSeq: number): string {
    if (!this.sorted) {
      this.writes.sort((a, b) => a.seq - b.seq);
      this.sorted = true;
    }
    let lcr = 0;
    let mcr = 0;
    const out: number[] = [];
    for (const w of this.writes) {
      if (w.seq > cursorSeq) break;
      for (const b of w.bytes) {
        if (w.offset === UART_REG.LCR) lcr = b;
        else if (w.offset === UART_REG.MCR) mcr = b;
        else if (w.offset === UART_REG.THR && (lcr & LCR_DLAB) === 0 && (mcr & MCR_LOOPBACK) === 0) out.push(b);
      }
    }
    const bytes = Uint8Array.from(out.length > CONSOLE_MAX_BYTES ? out.slice(out.length - CONSOLE_MAX_BYTES) : out);
    return this.decoder.decode(bytes);
  }

  private reset(): void {
    this.seen = 0;
    this.writes = [];
    this.sorted = true;
  }
}
