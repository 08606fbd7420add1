import { describe, expect, it } from "vitest";
import { encodeBatch, KvmExit, MAIN_THREAD, RecordKind, type TraceRecord } from "@kvmscope/shared";
import { laneOfThread, threadOfLane, TraceStore } from "../src/lib/trace-store";

const ioExit = (seq: number, vcpu: number, port: number, data: number[], ts = seq * 1000, direction: "in" | "out" = "out"): TraceRecord => ({
  type: "exit", seq, ts, vcpu, reason: "KVM_EXIT_IO", code: KvmExit.IO, rip: 0x7c10, guestNs: 700, handleNs: 300,
  ifFlag: false, readyForInjection: false, requestedWindow: false,
  io: { port, size: 1, direction, count: 1, data },
});


const ioctl = (seq: number, name: string): TraceRecord => ({
  type: "ioctl", seq, ts: seq * 10, thread: "main", name, fd: 3, args: {}, ret: 0, errno: 0, durNs: 5000,
});

describe("TraceStore", () => {
  it("counts the records held up to a seq, so a replay with gaps in its seqs says 'record n of count'", () => {
    const s = new TraceStore();
    // seqs 0..5 and 9, 10: an imported trace without the records 6-8 (330 records whose seqs ran to 331)
    s.appendRecords([0, 1, 2, 3, 4, 5, 9, 10].map((q) => ioExit(q, 0, 0x80, [q])));
    expect(s.count).toBe(8);
    expect(s.heldUpTo(s.maxSeq)).toBe(8);
    expect(s.heldUpTo(0)).toBe(1);
    expect(s.heldUpTo(5)).toBe(6);
    expect(s.heldUpTo(8)).toBe(6);
    expect(s.heldUpTo(9)).toBe(7);
    expect(s.heldUpTo(3)).toBe(4); // backwards: a recount
    expect(s.heldUpTo(-1)).toBe(0);
    s.appendRecords([ioExit(7, 0, 0x80, [7])]);
    expect(s.heldUpTo(8)).toBe(7); // a new record invalidates what was counted
  });

  it("keeps every record's columns and decodes the whole record on demand", () => {
    const s = new TraceStore();
    s.appendRecords([ioctl(0, "KVM_GET_API_VERSION"), ioExit(1, 0, 0x3f8, [0x48])]);
    expect(s.count).toBe(2);
    expect([...s.kind.subarray(0, 2)]).toEqual([RecordKind.Ioctl, RecordKind.Exit]);
    expect(s.thread[0]).toBe(MAIN_THREAD);
    expect(s.code[1]).toBe(KvmExit.IO);
    expect(s.addr[1]).toBe(0x3f8);
    expect(s.handle[1]).toBe(300);
    expect(s.ioctlRows).toEqual([0]);
    expect(s.exitCount).toBe(1);
    const rec = s.record(1);
    expect(rec.type === "exit" && rec.io?.data).toEqual([0x48]);
    expect(s.rawBytes(1).byteLength).toBe(128);
  });

  it("drops a record it already holds, so history pages and the live stream may overlap", () => {
    const s = new TraceStore();
    const batch = encodeBatch([ioExit(0, 0, 0x80, [1]), ioExit(1, 0, 0x80, [2])]);
    expect(s.appendBytes(batch)).toBe(2);
    const v = s.version;
    expect(s.appendBytes(batch)).toBe(0);
    expect(s.version).toBe(v); // nothing changed, no redraw
    expect(s.appendRecords([ioExit(1, 0, 0x80, [2]), ioExit(2, 0, 0x80, [3])])).toBe(1);
    expect(s.count).toBe(3);
  });

  it("finds records by seq whatever order they came in, and names the first gap", () => {
    const s = new TraceStore();
    s.appendRecords([ioExit(5, 1, 0x80, [0]), ioExit(6, 0, 0x80, [0])]);
    expect(s.firstMissingSeq()).toBe(0);
    s.appendRecords([ioExit(0, 0, 0x80, [0]), ioExit(1, 0, 0x80, [0]), ioExit(2, 0, 0x80, [0])]);
    expect(s.firstMissingSeq()).toBe(3);
    expect(s.rowOfSeq(5)).toBe(0);
    expect(s.rowOfSeq(2)).toBe(4);
    expect(s.rowOfSeq(4)).toBe(-1);
    expect(s.rowOfSeq(99)).toBe(-1);
    expect(s.maxSeq).toBe(6);
    expect(s.vcpus).toEqual([0, 1]);
    expect(s.lanes()).toEqual([0, 1, 2]);
  });

  it("holds more records than one chunk without losing any", () => {
    const s = new TraceStore();
    const n = 70_000; // past the 65,536-record chunk
    const recs: TraceRecord[] = [];
    for (let i = 0; i < n; i++) recs.push(ioExit(i, i % 2, 0x80, [i & 0xff]));
    s.appendBytes(encodeBatch(recs));
    expect(s.count).toBe(n);
    const last = s.record(n - 1);
    expect(last.seq).toBe(n - 1);
    expect(last.type === "exit" && last.io?.data).toEqual([(n - 1) & 0xff]);
    expect(() => s.record(n)).toThrow(RangeError);
  });

  it("keeps a record with a huge seq without allocating an index that large", () => {
    const s = new TraceStore();
    s.appendRecords([ioExit(0, 0, 0x80, [0]), ioExit(4294967280, 0, 0x80, [1])]);
    expect(s.count).toBe(2);
    expect(s.rowOfSeq(4294967280)).toBe(1);
    expect(s.firstMissingSeq()).toBe(1);
    expect(s.maxSeq).toBe(4294967280);
  });

  it("stops at its record cap and counts what it refused", () => {
    const s = new TraceStore(3);
    expect(s.appendRecords([0, 1, 2, 3, 4].map((i) => ioExit(i, 0, 0x80, [i])))).toBe(3);
    expect(s.full).toBe(true);
    expect(s.refused).toBe(2);
    expect(s.appendRecords([ioExit(9, 0, 0x80, [9])])).toBe(0);
    expect(s.count).toBe(3);
  });

  it("refuses a batch that is not whole records", () => {
    expect(() => new TraceStore().appendBytes(new Uint8Array(100))).toThrow(/whole number of 128-byte records/);
  });

  it("puts the main thread in lane 0 and vCPU n in lane n + 1", () => {
    expect(laneOfThread(MAIN_THREAD)).toBe(0);
    expect(laneOfThread(3)).toBe(4);
    expect(threadOfLane(0)).toBe(MAIN_THREAD);
    expect(threadOfLane(4)).toBe(3);
  });
});
