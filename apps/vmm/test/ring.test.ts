// The per-thread trace ring, across the boundary that matters: a full ring.
import { describe, expect, it } from "vitest";
import { decodeRecord, type TraceRecord } from "@kvmscope/shared";
import { RingReader, TraceRing } from "../src/trace/ring.js";
import { Tracer } from "../src/trace/tracer.js";

function setup(capacity: number) {
  const sab = TraceRing.allocate(capacity);
  const seq = { array: new Int32Array(new SharedArrayBuffer(4)), index: 0 };
  const tracer = new Tracer(sab, 0, 0, seq);
  const reader = new RingReader(sab);
  const drain = (): TraceRecord[] => {
    const out: TraceRecord[] = [];
    reader.drain((view, at) => out.push(decodeRecord(view, at)));
    return out;
  };
  return { tracer, drain };
}

describe("the trace ring", () => {
  it("hands records to the reader in the order they were written, with one sequence", () => {
    const { tracer, drain } = setup(8);
    for (let i = 0; i < 5; i++) tracer.marker(`m${i}`, i);
    const got = drain();
    expect(got.map((r) => (r.type === "marker" ? r.text : ""))).toEqual(["m0", "m1", "m2", "m3", "m4"]);
    expect(got.map((r) => r.seq)).toEqual([0, 1, 2, 3, 4]);
  });

  it("never blocks the writer: a full ring drops records and says how many with a Lost record", () => {
    const { tracer, drain } = setup(4);
    for (let i = 0; i < 10; i++) tracer.marker(`m${i}`, i);
    const first = drain();
    expect(first).toHaveLength(4);
    expect(tracer.ring.lostTotal).toBe(6);
    tracer.marker("after", 20);
    const second = drain();
    expect(second[0]).toMatchObject({ type: "lost", count: 6 });
    expect(second[1]).toMatchObject({ type: "marker", text: "after" });
  });

  it("keeps a marker's UTF-8 whole when it has to cut it", () => {
    const { tracer, drain } = setup(4);
    tracer.marker("é".repeat(60), 0); // 120 bytes, two per character
    const [r] = drain();
    expect(r?.type).toBe("marker");
    if (r?.type === "marker") {
      expect(r.truncated).toBe(true);
      expect(r.text).toBe("é".repeat(47));
    }
  });
});
