import { describe, expect, it } from "vitest";
import { ChromeTraceWriter, KvmExit, decodeBatch, encodeBatch, recordsFromChrome, type TraceRecord } from "../src/index.js";
import { exit, ioctl, lost, marker, stats } from "./fixtures.js";

function roundTrip(records: TraceRecord[]) {
  let text = "";
  const w = new ChromeTraceWriter((c) => { text += c; }, { metadata: { type: "run", guest: "hello", vcpus: 2 }, vcpus: 2 });
  for (const r of records) w.write(r);
  w.end({ type: "end", outcome: "halted" });
  return recordsFromChrome(JSON.parse(text));
}

describe("importing a Chrome trace", () => {
  it("gives back exits, ioctls, markers and lost notes exactly, as the binary codec sees them", () => {
    const original = decodeBatch(encodeBatch([
      ioctl({ seq: 1, ts: 1_234_567, name: "KVM_SET_USER_MEMORY_REGION", args: { slot: 0, guestPhysAddr: 0, memorySize: 16777216 } }),
      exit(KvmExit.IO, { seq: 2, ts: 9_876_543_210, vcpu: 1, io: { port: 0x3f8, size: 1, direction: "out", count: 1, data: [72] } }),
      exit(KvmExit.MMIO, { seq: 3, mmio: { addr: 0xd0000004, len: 4, isWrite: true, data: [0xde, 0xc0, 0xad, 0x1b] } }),
      marker({ seq: 4, text: "entering protected mode" }),
      lost({ seq: 5, count: 3 }),
      ioctl({ seq: 6, thread: "vcpu1", name: "KVM_CREATE_VCPU", args: { vcpuId: 1 }, ret: -1, errno: 17 }),
    ]));
    const back = roundTrip(original);
    expect(decodeBatch(encodeBatch(back.records))).toEqual(original);
    expect(back.run).toMatchObject({ type: "run", guest: "hello" });
    expect(back.end).toMatchObject({ type: "end", outcome: "halted" });
  });

  it("rebuilds KVM statistics samples from their counters and numbers them after the rest", () => {
    const back = roundTrip([exit(KvmExit.HLT, { seq: 10 }), stats(1, 5_000, { exits: 40, halt_exits: 2 })]);
    expect(back.records.at(-1)).toEqual({ type: "stats", seq: 11, ts: 5_000, vcpu: 1, counters: { exits: 40, halt_exits: 2 } });
  });

  it("refuses JSON that is not a Chrome trace, saying what it expected", () => {
    expect(() => recordsFromChrome({ events: [] })).toThrow(/"traceEvents" array/);
    expect(() => recordsFromChrome({ traceEvents: [{ ph: "i", cat: "marker", name: "x", ts: 1, tid: 1, args: {} }] })).toThrow(/traceEvents\[0\]\.args\.seq is not a number/);
  });
});
