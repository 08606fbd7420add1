import { describe, expect, it } from "vitest";
import { KvmExit, type TraceRecord } from "@kvmscope/shared";
import { ConsoleTranscript } from "../src/lib/console-text";
import { TraceStore } from "../src/lib/trace-store";

const out = (seq: number, port: number, byte: number, vcpu = 0): TraceRecord => ({
  type: "exit", seq, ts: seq * 1000, vcpu, reason: "KVM_EXIT_IO", code: KvmExit.IO, rip: 0x7c00, guestNs: 1, handleNs: 1,
  ifFlag: false, readyForInjection: false, requestedWindow: false,
  io: { port, size: 1, direction: "out", count: 1, data: [byte] },
});
const text = (s: string, from: number, port = 0x3f8): TraceRecord[] => [...s].map((c, i) => out(from + i, port, c.charCodeAt(0)));

describe("the console rebuilt from the UART's records", () => {
  it("shows what the guest had printed at the cursor, and less when the cursor goes back", () => {
    const store = new TraceStore();
    store.appendRecords(text("Hello\n", 0));
    const t = new ConsoleTranscript();
    t.update(store);
    expect(t.textAt(5)).toBe("Hello\n");
    expect(t.textAt(1)).toBe("He");
    expect(t.textAt(-1)).toBe("");
    store.appendRecords(text("ok", 6));
    t.update(store);
    expect(t.textAt(100)).toBe("Hello\nok");
  });

  it("prints in sequence order even when records arrive out of order", () => {
    const store = new TraceStore();
    store.appendRecords([out(2, 0x3f8, 0x43), out(0, 0x3f8, 0x41), out(1, 0x3f8, 0x42)]);
    const t = new ConsoleTranscript();
    t.update(store);
    expect(t.textAt(10)).toBe("ABC");
  });

  it("leaves out divisor-latch writes, loopback bytes and other ports", () => {
    const store = new TraceStore();
    store.appendRecords([
      out(0, 0x3fb, 0x80), // LCR: DLAB on
      out(1, 0x3f8, 0x01), // divisor low byte, not a character
      out(2, 0x3fb, 0x03), // DLAB off, 8N1
      out(3, 0x3f8, 0x61), // 'a'
      out(4, 0x3fc, 0x10), // MCR: loopback on
      out(5, 0x3f8, 0x62), // 'b' goes to the receiver, not the screen
      out(6, 0x3fc, 0x00),
      out(7, 0xe9, 0x63), // debugcon, not COM1
      out(8, 0x80, 0x64), // POST port
      out(9, 0x3f8, 0x65), // 'e'
    ]);
    const t = new ConsoleTranscript();
    t.update(store);
    expect(t.textAt(100)).toBe("ae");
  });

  it("answers any cursor quickly after a guest printed a lot, and keeps only the newest megabyte", () => {
    const store = new TraceStore();
    // rep outsb: 64 bytes an exit, 1.2 MiB in all
    const n = 20_000;
    const recs: TraceRecord[] = [];
    for (let i = 0; i < n; i++) {
      const r = out(i, 0x3f8, 0);
      if (r.type === "exit" && r.io !== undefined) r.io = { ...r.io, count: 64, data: Array.from({ length: 64 }, (_, k) => 0x61 + ((i * 64 + k) % 26)) };
      recs.push(r);
    }
    store.appendRecords(recs);
    const t = new ConsoleTranscript();
    t.update(store);
    expect(t.textAt(n).length).toBe(1 << 20);
    expect(t.textAt(n).endsWith(String.fromCharCode(0x61 + ((n * 64 - 1) % 26)))).toBe(true);
    expect(t.textAt(0)).toBe("abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl");
    // The work of a cursor move does not depend on how much was printed before it.
    const started = performance.now();
    for (let i = 0; i < 200; i++) t.textAt((i * 7919) % 1000);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it("decodes UTF-8 that the guest writes byte by byte", () => {
    const store = new TraceStore();
    const bytes = [...new TextEncoder().encode("日本")];
    store.appendRecords(bytes.map((b, i) => out(i, 0x3f8, b)));
    const t = new ConsoleTranscript();
    t.update(store);
    expect(t.textAt(100)).toBe("日本");
  });
});
