import { describe, expect, it } from "vitest";
import { encodeBatch, KvmExit, MAIN_THREAD, RecordKind, type TraceRecord } from "@kvmscope/shared";
import { laneOfThread, runExitCount, STORE_MAX_RECORDS, storeCapFromQuery, threadOfLane, TraceStore } from "../src/lib/trace-store";

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

  it("past its cap keeps what a reader must see (console output, ioctls, markers, HLT) and counts each refused seq once", () => {
    const s = new TraceStore(4 * 4); // room for 4 more past the cap
    const hlt: TraceRecord = {
      type: "exit", seq: 10, ts: 10_000, vcpu: 0, reason: "KVM_EXIT_HLT", code: KvmExit.HLT, rip: 0x7c20, guestNs: 1, handleNs: 1,
      ifFlag: false, readyForInjection: false, requestedWindow: false,
    };
    const marker: TraceRecord = { type: "marker", seq: 9, ts: 9000, thread: "main", text: "done" };
    const polls = [4, 5, 6].map((i) => ioExit(i, 0, 0x3fd, [0x60], i * 1000, "in")); // LSR polls: the bulk
    const early = Array.from({ length: 16 }, (_, i) => ioExit(100 + i, 0, 0x80, [i]));
    const batch = [0, 1, 2, 3].map((i) => ioExit(i, 0, 0x80, [i]));
    expect(s.appendRecords([...early, ...batch])).toBe(16);
    expect(s.appendRecords([...polls, ioExit(7, 0, 0x3f8, [0x21]), ioctl(8, "KVM_RUN"), marker, hlt])).toBe(4);
    expect(s.full).toBe(true);
    expect(s.refused).toBe(7);
    expect(s.refusedExits).toBe(7);
    expect(s.firstRefusedSeq).toBe(0);
    expect(s.rowOfSeq(5)).toBe(-1);
    expect(s.seen(5)).toBe(true);
    expect(s.firstMissingSeq()).toBe(11); // refused records are not a gap to fetch again
    expect(s.exitCount + s.refusedExits).toBe(16 + 9);
    expect(s.record(s.rowOfSeq(10)).type).toBe("exit");
    // The same records offered again (a refilled page) change nothing.
    expect(s.appendRecords(polls)).toBe(0);
    expect(s.refused).toBe(7);
  });

  it("remembers refused seqs compactly, far past its rows and at a stray huge seq", () => {
    const s = new TraceStore(1000);
    s.appendRecords(Array.from({ length: 1000 }, (_, i) => ioExit(i, 0, 0x80, [1])));
    const late = [5_000_000, 5_000_001, 4_000_000_000].map((q) => ioExit(q, 0, 0x3fd, [0x60], q, "in"));
    expect(s.appendRecords(late)).toBe(0);
    expect(s.refused).toBe(3);
    for (const q of [5_000_000, 5_000_001, 4_000_000_000]) expect(s.seen(q)).toBe(true);
    expect(s.seen(5_000_002)).toBe(false);
    expect(s.appendRecords(late)).toBe(0);
    expect(s.refused).toBe(3);
  });

  it("keeps even wanted records only up to a quarter more than its cap", () => {
    const s = new TraceStore(8);
    expect(s.hardLimit).toBe(10);
    expect(s.appendRecords(Array.from({ length: 20 }, (_, i) => ioctl(i, "KVM_RUN")))).toBe(10);
    expect(s.refused).toBe(10);
    expect(s.refusedExits).toBe(0);
  });

  it("takes its cap from ?cap=N within bounds, else the default", () => {
    expect(storeCapFromQuery("?cap=20000")).toBe(20_000);
    expect(storeCapFromQuery("?cap=5")).toBe(1000);
    expect(storeCapFromQuery("?cap=99999999999")).toBe(STORE_MAX_RECORDS);
    expect(storeCapFromQuery("?cap=abc")).toBe(STORE_MAX_RECORDS);
    expect(storeCapFromQuery("")).toBe(STORE_MAX_RECORDS);
  });

  it("counts a run's exits from the service's totals once known, else from every exit it was offered", () => {
    const s = new TraceStore(1000);
    s.appendRecords(Array.from({ length: 1200 }, (_, i) => ioExit(i, 0, 0x3fd, [0x60], i, "in")));
    expect(s.exitCount).toBe(1000);
    expect(runExitCount(s, null)).toBe(1200);
    expect(runExitCount(s, { vcpus: [{ vcpu: 0, exits: 3000 }, { vcpu: 1, exits: 5 }] })).toBe(3005);
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
