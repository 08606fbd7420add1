import { describe, expect, it } from "vitest";
import { KvmExit, type ExitRecord, type IoctlRecord, type LostRecord, type MarkerRecord, type StatsRecord, type TraceRecord } from "@kvmscope/shared";
import { TraceStore } from "../src/lib/trace-store";
import { bucketExits, exitsView, hitTest, rowSpan, TimelineModel, visibleRange, type RowIndex, separateLabels } from "../src/lib/timeline-model";

// Records shaped like the VMM's: pio-loop's `out 0x80` exits, HLTs, the main thread's setup ioctls.
let nextSeq = 0;

function io(vcpu: number, ts: number, guestNs = 6_800, handleNs = 4_900, seq = nextSeq++): ExitRecord {
  return {
    type: "exit", seq, ts, vcpu, reason: "KVM_EXIT_IO", code: KvmExit.IO, rip: 0x7c04, guestNs, handleNs,
    ifFlag: false, readyForInjection: false, requestedWindow: false,
    io: { port: 0x80, size: 1, direction: "out", count: 1, data: [0] },
  };
}

function hlt(vcpu: number, ts: number, guestNs: number, handleNs: number): ExitRecord {
  return {
    type: "exit", seq: nextSeq++, ts, vcpu, reason: "KVM_EXIT_HLT", code: KvmExit.HLT, rip: 0x7c10, guestNs, handleNs,
    ifFlag: true, readyForInjection: true, requestedWindow: false,
  };
}

function ioctl(thread: "main" | `vcpu${number}`, name: string, ts: number, durNs: number, args: Record<string, number> = {}): IoctlRecord {
  return { type: "ioctl", seq: nextSeq++, ts, thread, name, fd: 20, args, ret: 0, errno: 0, durNs };
}

function marker(thread: "main" | `vcpu${number}`, ts: number, text: string): MarkerRecord {
  return { type: "marker", seq: nextSeq++, ts, thread, text };
}

function stats(vcpu: number, ts: number, exits: number): StatsRecord {
  return { type: "stats", seq: nextSeq++, ts, vcpu, counters: { exits } };
}

function lost(thread: `vcpu${number}`, ts: number, count: number): LostRecord {
  return { type: "lost", seq: nextSeq++, ts, thread, count };
}

function storeOf(records: TraceRecord[]): TraceStore {
  const s = new TraceStore();
  s.appendRecords(records);
  return s;
}

function seqsOf(store: TraceStore, index: RowIndex): number[] {
  return Array.from(index.rows.subarray(0, index.length), (row) => store.seq[row]!);
}

describe("TimelineModel lanes", () => {
  it("puts each thread's records on its own lane and leaves the statistics samples out", () => {
    const store = storeOf([
      ioctl("main", "KVM_CREATE_VM", 9_000_000, 480_000, { type: 0 }),
      ioctl("vcpu0", "KVM_CREATE_VCPU", 300_000_000, 500_000, { vcpuId: 0 }),
      marker("main", 480_000_000, "all 2 vCPU thread(s) created their vCPU; releasing them (qemu_system_ready)"),
      stats(0, 481_000_000, 0),
      io(0, 482_000_000),
      io(1, 482_007_000),
      lost("vcpu1", 482_100_000, 17),
    ]);
    const m = new TimelineModel();
    expect(m.update(store)).toBe(true);
    expect(m.lanes()).toEqual([0, 1, 2]);
    expect(m.lane(0)!.others.length).toBe(2);
    expect(m.lane(0)!.exits.length).toBe(0);
    expect(m.lane(1)!.exits.length).toBe(1);
    expect(m.lane(1)!.others.length).toBe(1);
    expect(m.lane(2)!.exits.length).toBe(1);
    expect(m.lane(2)!.others.length).toBe(1);
    expect(m.indexed).toBe(6);
    // The run's extent runs from the first record to the end of the last exit's handling.
    expect(m.minTs).toBe(9_000_000);
    expect(m.maxTs).toBe(482_100_000);
  });

  it("indexes only the rows that arrived since the last update", () => {
    const store = storeOf([io(0, 1_000_000), io(0, 1_012_000)]);
    const m = new TimelineModel();
    m.update(store);
    const v = m.version;
    expect(m.update(store)).toBe(false);
    expect(m.version).toBe(v);
    store.appendRecords([io(0, 1_024_000), io(1, 1_030_000)]);
    expect(m.update(store)).toBe(true);
    expect(m.version).toBeGreaterThan(v);
    expect(m.lane(1)!.exits.length).toBe(3);
    expect(m.lane(2)!.exits.length).toBe(1);
    expect(Array.from(m.lane(1)!.exits.ts.subarray(0, 3))).toEqual([1_000_000, 1_012_000, 1_024_000]);
  });

  it("puts a page of history that arrives late back in time order within its lane", () => {
    const a = io(0, 1_000_000);
    const b = io(0, 1_012_000);
    const c = io(0, 1_024_000);
    const d = io(0, 1_036_000);
    const e = io(0, 1_048_000);
    const store = storeOf([a, d, e]);
    const m = new TimelineModel();
    m.update(store);
    // The `skipped` range is fetched afterwards: older rows, higher row numbers.
    store.appendRecords([b, c]);
    m.update(store);
    const lane = m.lane(1)!.exits;
    expect(seqsOf(store, lane)).toEqual([a.seq, b.seq, c.seq, d.seq, e.seq]);
    expect(Array.from(lane.ts.subarray(0, 5))).toEqual([1_000_000, 1_012_000, 1_024_000, 1_036_000, 1_048_000]);
    expect(lane.unsettled).toBe(false);
    // And the searches agree with the new order.
    expect(lane.lowerBound(1_020_000)).toBe(2);
  });

  it("orders records of the same instant by sequence number", () => {
    const first = io(0, 2_000_000);
    const second = io(0, 2_000_000);
    const store = storeOf([io(0, 3_000_000), second, first]);
    const m = new TimelineModel();
    m.update(store);
    expect(seqsOf(store, m.lane(1)!.exits).slice(0, 2)).toEqual([first.seq, second.seq]);
  });

  it("starts afresh when the store is cleared for a new run", () => {
    const store = storeOf([io(0, 1_000_000), io(1, 1_007_000)]);
    const m = new TimelineModel();
    m.update(store);
    store.clear();
    store.appendRecords([io(3, 5_000)]);
    expect(m.update(store)).toBe(true);
    expect(m.lanes()).toEqual([4]);
    expect(m.minTs).toBe(5_000 - 6_800);
  });

  it("starts afresh when a cleared store was refilled before it looked again", () => {
    const store = storeOf([io(0, 1_000_000)]);
    const m = new TimelineModel();
    m.update(store);
    store.clear();
    store.appendRecords([io(1, 50_000), io(1, 60_000)]);
    m.update(store);
    expect(m.lanes()).toEqual([2]);
    expect(m.lane(2)!.exits.length).toBe(2);
  });
});

describe("bucketExits", () => {
  // 0..1000 ns over 10 columns: 100 ns per column.
  it("counts exits per column and splits each column's time into guest and handling", () => {
    // KVM_RUN from 50 to 150 (guest), exit at 150, userspace handles it until 200.
    const store = storeOf([io(0, 150, 100, 50)]);
    const m = new TimelineModel();
    m.update(store);
    const b = bucketExits(store, m.lane(1)!.exits, 0, 1_000, 10);
    expect(Array.from(b.count)).toEqual([0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(b.guest)).toEqual([0.5, 0.5, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(b.handle)).toEqual([0, 0.5, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(b.reason[1]).toBe(KvmExit.IO);
    expect(b.reason[0]).toBe(-1);
    expect(b.records).toBe(1);
    expect(b.maxCount).toBe(1);
  });

  it("colours a column by its most frequent exit reason", () => {
    const store = storeOf([io(0, 510, 1, 1), hlt(0, 520, 1, 1), hlt(0, 530, 1, 1), io(0, 540, 1, 1), hlt(0, 550, 1, 1), io(0, 720, 1, 1)]);
    const m = new TimelineModel();
    m.update(store);
    const b = bucketExits(store, m.lane(1)!.exits, 0, 1_000, 10);
    expect(b.count[5]).toBe(5);
    expect(b.reason[5]).toBe(KvmExit.HLT);
    expect(b.reason[7]).toBe(KvmExit.IO);
    expect(b.maxCount).toBe(5);
  });

  it("fills every column a long halt covers, including from an exit past the right edge", () => {
    // A HLT whose KVM_RUN began at 100 and returned at 5,000: the whole window was guest time.
    const store = storeOf([io(0, 100, 50, 0), hlt(0, 5_000, 4_900, 10)]);
    const m = new TimelineModel();
    m.update(store);
    const b = bucketExits(store, m.lane(1)!.exits, 0, 1_000, 10);
    expect(Array.from(b.guest)).toEqual([0.5, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    expect(b.records).toBe(1);
  });

  it("counts handling time that began before the window's left edge", () => {
    // A vCPU halted in userspace (userspace irqchip) from 0 until 10,000.
    const store = storeOf([hlt(0, 0, 0, 10_000), io(0, 20_000, 10_000, 0)]);
    const m = new TimelineModel();
    m.update(store);
    const b = bucketExits(store, m.lane(1)!.exits, 5_000, 15_000, 10);
    expect(Array.from(b.handle)).toEqual([1, 1, 1, 1, 1, 0, 0, 0, 0, 0]);
    expect(Array.from(b.guest)).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
    expect(b.records).toBe(0);
  });

  it("never reports more than the whole of a column for overlapping records", () => {
    const store = storeOf([io(0, 500, 500, 0), io(0, 500, 500, 0)]);
    const m = new TimelineModel();
    m.update(store);
    const b = bucketExits(store, m.lane(1)!.exits, 0, 1_000, 10);
    expect(Math.max(...b.guest)).toBe(1);
    expect(b.count[5]).toBe(2);
  });

  it("reads a few exits per column, not every exit in view, however many the window holds", () => {
    const recs: ExitRecord[] = [];
    for (let i = 0; i < 20_000; i++) recs.push(io(0, 1_000_000 + i * 11_700, 6_800, 4_900));
    const store = storeOf(recs);
    const m = new TimelineModel();
    m.update(store);
    const lane = m.lane(1)!.exits;
    const all = bucketExits(store, lane, 0, 1e9, 800);
    expect(all.records).toBe(20_000);
    expect(all.count.reduce((a, n) => a + n, 0)).toBe(20_000);
    expect(all.visited).toBeLessThanOrEqual(4 * 800);
    // Where exits are dense the columns are mostly guest time: 6.8 of every 11.7 µs.
    const dense = all.guest[Math.floor(((1_000_000 + 10_000 * 11_700) / 1e9) * 800)]!;
    expect(dense).toBeCloseTo(6_800 / 11_700, 2);
  });

  it("culls to the exits in view, plus one on each side, when zoomed in", () => {
    const recs: ExitRecord[] = [];
    for (let i = 0; i < 20_000; i++) recs.push(io(0, 1_000_000 + i * 11_700, 6_800, 4_900));
    const store = storeOf(recs);
    const m = new TimelineModel();
    m.update(store);
    const lane = m.lane(1)!.exits;
    const t0 = 1_000_000 + 10_000 * 11_700;
    expect(visibleRange(lane, t0, t0 + 100 * 11_700)).toEqual({ from: 9_999, to: 10_101, inside: 100 });
    expect(bucketExits(store, lane, t0, t0 + 100 * 11_700, 800).records).toBe(100);
  });

  it("summarises late rows exactly as if they had come in order", () => {
    const recs: ExitRecord[] = [];
    for (let i = 0; i < 300; i++) recs.push(i % 7 === 3 ? hlt(0, 10_000 + i * 12_000, 7_000, 5_000) : io(0, 10_000 + i * 12_000, 7_000, 5_000));
    const inOrder = storeOf(recs);
    const late = storeOf(recs.slice(0, 100).concat(recs.slice(200)));
    const a = new TimelineModel();
    a.update(inOrder);
    const b = new TimelineModel();
    b.update(late);
    late.appendRecords(recs.slice(100, 200));
    b.update(late);
    const x = bucketExits(inOrder, a.lane(1)!.exits, 0, 3_700_000, 50);
    const y = bucketExits(late, b.lane(1)!.exits, 0, 3_700_000, 50);
    expect(Array.from(y.count)).toEqual(Array.from(x.count));
    expect(Array.from(y.reason)).toEqual(Array.from(x.reason));
    expect(Array.from(y.guest)).toEqual(Array.from(x.guest));
    expect(Array.from(y.handle)).toEqual(Array.from(x.handle));
  });

  it("recycles the arrays of the previous buckets of the same width", () => {
    const store = storeOf([io(0, 150, 100, 50)]);
    const m = new TimelineModel();
    m.update(store);
    const lane = m.lane(1)!.exits;
    const a = bucketExits(store, lane, 0, 1_000, 10);
    const b = bucketExits(store, lane, 500, 1_500, 10, a);
    expect(b.count).toBe(a.count);
    expect(b.count.reduce((x, n) => x + n, 0)).toBe(0);
    expect(bucketExits(store, lane, 0, 1_000, 20, b).count.length).toBe(20);
  });
});

describe("hitTest", () => {
  const setup = () => {
    const first = io(0, 100_000, 6_800, 4_900);
    const second = io(0, 111_700, 6_800, 4_900);
    const flag = marker("vcpu0", 140_000, "lock taken");
    const late = io(0, 140_000, 20_000, 1_000);
    const regs = ioctl("vcpu0", "KVM_SET_REGS", 50_000, 8_000, { rip: 0x7c00 });
    const store = storeOf([regs, first, second, flag, late]);
    const m = new TimelineModel();
    m.update(store);
    return { store, m, first, second, flag, late, regs };
  };
  // 100 ns per pixel: 4 px is 400 ns.
  const nsPerPx = 100;

  it("finds the exit whose tick is under the mouse, within a few pixels", () => {
    const { store, m, first, second } = setup();
    expect(store.seq[hitTest(store, m, 1, 100_250, nsPerPx)]).toBe(first.seq);
    expect(store.seq[hitTest(store, m, 1, 111_500, nsPerPx)]).toBe(second.seq);
  });

  it("finds the exit whose guest or handling time the mouse is over", () => {
    const { store, m, late, first } = setup();
    // 125,000 is inside `late`'s KVM_RUN (120,000..140,000), far from any tick.
    expect(store.seq[hitTest(store, m, 1, 125_000, nsPerPx)]).toBe(late.seq);
    // 103,000 is inside `first`'s handling (100,000..104,900).
    expect(store.seq[hitTest(store, m, 1, 103_000, nsPerPx)]).toBe(first.seq);
  });

  it("prefers a marker to an exit at the same place", () => {
    const { store, m, flag, late } = setup();
    expect(store.seq[hitTest(store, m, 1, 140_050, nsPerPx)]).toBe(flag.seq);
    expect(store.seq[hitTest(store, m, 1, 140_000 + 1_000 - 50, nsPerPx)]).toBe(late.seq);
  });

  it("finds an ioctl anywhere along its slice", () => {
    const { store, m, regs } = setup();
    expect(store.seq[hitTest(store, m, 1, 56_000, nsPerPx)]).toBe(regs.seq);
  });

  it("finds nothing on empty stretches or lanes", () => {
    const { store, m } = setup();
    expect(hitTest(store, m, 1, 80_000, nsPerPx)).toBe(-1);
    expect(hitTest(store, m, 1, 10_000_000, nsPerPx)).toBe(-1);
    expect(hitTest(store, m, 0, 100_000, nsPerPx)).toBe(-1);
  });
});

describe("rowSpan", () => {
  it("spans an exit from its KVM_RUN to the end of its handling and an ioctl over its duration", () => {
    const store = storeOf([io(0, 10_000, 6_000, 2_000), ioctl("main", "KVM_CREATE_VM", 1_000, 500, { type: 0 }), marker("main", 3_000, "x")]);
    expect(rowSpan(store, 0)).toEqual({ start: 4_000, at: 10_000, end: 12_000 });
    expect(rowSpan(store, 1)).toEqual({ start: 1_000, at: 1_000, end: 1_500 });
    expect(rowSpan(store, 2)).toEqual({ start: 3_000, at: 3_000, end: 3_000 });
  });
});

describe("timeline labels", () => {
  it("cuts each label before the next one on its line and drops those left with too little room", () => {
    const y = 10;
    const out = separateLabels([
      { x: 200, y, text: "close", maxW: 300 },
      { x: 100, y, text: "HLT", maxW: 500 },
      { x: 120, y, text: "15 ticks done", maxW: 400 },
      { x: 100, y: 30, text: "KVM_RUN", maxW: 90 },
    ], 40, 6);
    expect(out.map((l) => l.text)).toEqual(["15 ticks done", "close", "KVM_RUN"]);
    expect(out[0]!.maxW).toBe(200 - 120 - 6);
    expect(out[1]!.maxW).toBe(300);
    expect(out[2]!.maxW).toBe(90);
    for (let i = 0; i + 1 < out.length; i++) {
      if (out[i]!.y === out[i + 1]!.y) expect(out[i]!.x + out[i]!.maxW).toBeLessThanOrEqual(out[i + 1]!.x);
    }
  });
});

describe("exitsView: where a timeline opens", () => {
  it("opens on the exits when the start-up would take most of the width, just before the first KVM_RUN", () => {
    // 420 ms of start-up, then 8 ms of exits (hello run freely)
    const v = exitsView({ start: 0, end: 428e6 }, 420e6);
    expect(v.end).toBe(428e6);
    expect(v.start).toBeLessThan(420e6);
    expect(v.start).toBeGreaterThan(419e6);
    expect((420e6 - v.start) / (v.end - v.start)).toBeLessThan(0.1); // the exits fill the width
  });

  it("ends just after the last exit when the close after it would take much of the width", () => {
    // 420 ms start-up, 2 ms of exits, then 90 ms until the run's last record
    const v = exitsView({ start: 0, end: 512e6 }, 420e6, 422e6);
    expect(v.start).toBeGreaterThan(419e6);
    expect(v.end).toBeGreaterThanOrEqual(422e6);
    expect(v.end).toBeLessThan(423e6);
    // a long run of exits with a short close keeps its end
    expect(exitsView({ start: 0, end: 10e9 }, 400e6, 9.9e9)).toEqual({ start: 0, end: 10e9 });
  });

  it("shows the whole span when the start-up is a small part of it, or there are no exits", () => {
    expect(exitsView({ start: 0, end: 10e9 }, 400e6)).toEqual({ start: 0, end: 10e9 });
    expect(exitsView({ start: 0, end: 5e6 }, Infinity)).toEqual({ start: 0, end: 5e6 });
  });

  it("records where the first exit's KVM_RUN began", () => {
    const store = new TraceStore();
    const m = new TimelineModel();
    store.appendRecords([
      { type: "ioctl", seq: 0, ts: 1000, thread: "main", name: "KVM_CREATE_VM", fd: 3, args: { type: 0 }, ret: 4, errno: 0, durNs: 10 },
      {
        type: "exit", seq: 1, ts: 500_000, vcpu: 0, reason: "KVM_EXIT_HLT", code: KvmExit.HLT, rip: 0, guestNs: 2000, handleNs: 10,
        ifFlag: false, readyForInjection: false, requestedWindow: false,
      },
    ]);
    m.update(store);
    expect(m.exitsStart).toBe(498_000);
    expect(m.exitsEnd).toBe(500_010);
    expect(m.minTs).toBe(1000);
  });
});
