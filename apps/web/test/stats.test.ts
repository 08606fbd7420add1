import { describe, expect, it } from "vitest";
import {
  EXIT, encodeBatch, exitReasonName, H, KvmExit, RunSummary, STAT_NAMES,
  type ExitRecord, type IoctlRecord, type LostRecord, type StatName, type StatsRecord, type TraceRecord,
} from "@kvmscope/shared";
import { TraceStore } from "../src/lib/trace-store";
import {
  computeStats, LATENCY_BIN_COUNT, LATENCY_THRESHOLDS, latencyBin, mergeRounds, StatsAccumulator,
  type StatsView,
} from "../src/lib/stats";

// ---------------------------------------------------------------------------------------------
// Records shaped like the VMM's (see `kvmscope run timer --irqchip kernel --format ndjson`)

type Draft = Omit<ExitRecord, "seq"> | Omit<StatsRecord, "seq"> | Omit<IoctlRecord, "seq"> | Omit<LostRecord, "seq">;

function exitRec(vcpu: number, code: number, ts: number, guestNs: number, handleNs: number): Omit<ExitRecord, "seq"> {
  const r: Omit<ExitRecord, "seq"> = {
    type: "exit", ts, vcpu, reason: exitReasonName(code), code, rip: 0x7cd6, guestNs, handleNs,
    ifFlag: true, readyForInjection: false, requestedWindow: false,
  };
  if (code === KvmExit.IO) r.io = { port: 0x3f8, size: 1, direction: "out", count: 1, data: [0x74] };
  if (code === KvmExit.MMIO) r.mmio = { addr: 0xd000_0000, len: 4, isWrite: false, data: [0x4b, 0x56, 0x4d, 0x53] };
  return r;
}

/** Every counter the VMM samples, as a kernel that has them all reports them. */
function statsRec(vcpu: number, ts: number, exits: number, extra: Partial<Record<StatName, number>> = {}): Omit<StatsRecord, "seq"> {
  const counters: Partial<Record<StatName, number>> = {};
  for (const n of STAT_NAMES) counters[n] = 0;
  return { type: "stats", ts, vcpu, counters: { ...counters, exits, ...extra } };
}

function ioctlRec(ts: number, name: string, args: Record<string, number> = {}): Omit<IoctlRecord, "seq"> {
  return { type: "ioctl", ts, thread: "main", name, fd: 19, args, ret: 0, errno: 0, durNs: 5_000 };
}

/** One global seq counter in time order, as the VMM's rings give them. */
function sequence(drafts: Draft[], firstSeq = 0): TraceRecord[] {
  return [...drafts].sort((a, b) => a.ts - b.ts).map((d, i) => ({ ...d, seq: firstSeq + i }) as TraceRecord);
}

const MS = 1_000_000;

/**
 * A run like `timer --irqchip kernel`: a baseline sample per vCPU at 1 ms, then for each 20 ms
 * period some exits reach the VMM (`user`) while KVM handles others itself (`kernel`, visible
 * only in the `exits` counter), and each vCPU is sampled at the period's end.
 */
function simulatedRun(vcpus: number, periods: number, split: (vcpu: number, period: number) => { user: number; kernel: number }): TraceRecord[] {
  const drafts: Draft[] = [ioctlRec(100_000, "KVM_CREATE_VM", { type: 0 }), ioctlRec(200_000, "KVM_CREATE_IRQCHIP")];
  for (let v = 0; v < vcpus; v++) {
    let counter = 0;
    drafts.push(statsRec(v, 1 * MS + v * 40_000, 0));
    for (let p = 0; p < periods; p++) {
      const start = 1 * MS + p * 20 * MS;
      const { user, kernel } = split(v, p);
      for (let i = 0; i < user; i++) {
        const code = i % 5 === 4 ? KvmExit.HLT : KvmExit.IO;
        drafts.push(exitRec(v, code, start + ((i + 1) * 19 * MS) / (user + 1) + v * 1_000, 4_000 + 100 * i, 2_000 + 300 * i));
      }
      counter += user + kernel;
      drafts.push(statsRec(v, start + 20 * MS + v * 40_000, counter, { halt_exits: 0 }));
    }
  }
  return sequence(drafts);
}

function storeOf(records: readonly TraceRecord[]): TraceStore {
  const s = new TraceStore();
  s.appendRecords(records);
  return s;
}

/** The parts of a view a reader sees (storeVersion and the cursor aside). */
function content(v: StatsView): unknown {
  const { cursorSeq: _c, storeVersion: _s, ...rest } = v;
  return rest;
}

// ---------------------------------------------------------------------------------------------

describe("exits by reason and vCPU", () => {
  it("counts each vCPU's exits by reason, most frequent reason first", () => {
    const recs = sequence([
      ioctlRec(10, "KVM_CREATE_VM", { type: 0 }),
      exitRec(0, KvmExit.IO, 100, 1, 1), exitRec(0, KvmExit.IO, 200, 1, 1), exitRec(0, KvmExit.HLT, 300, 1, 1),
      exitRec(1, KvmExit.IO, 150, 1, 1), exitRec(1, KvmExit.MMIO, 250, 1, 1), exitRec(1, KvmExit.MMIO, 260, 1, 1),
      exitRec(1, KvmExit.MMIO, 270, 1, 1),
    ]);
    const v = computeStats(storeOf(recs), Infinity);
    expect(v.exits).toBe(7);
    expect(v.vcpus).toEqual([0, 1]);
    expect(v.vcpuExits).toEqual([3, 4]);
    expect(v.reasons.map((r) => [r.reason, r.total, r.byVcpu])).toEqual([
      ["KVM_EXIT_IO", 3, [2, 1]],
      ["KVM_EXIT_MMIO", 3, [0, 3]],
      ["KVM_EXIT_HLT", 1, [1, 0]],
    ]);
  });

  it("shows only what had happened at the cursor, however the cursor got there", () => {
    const recs = simulatedRun(2, 6, (v, p) => ({ user: 3 + v + p, kernel: 10 }));
    const store = storeOf(recs);
    const mid = recs[Math.floor(recs.length / 2)]!.seq;
    const direct = computeStats(store, mid);
    expect(direct.exits).toBe(recs.filter((r) => r.type === "exit" && r.seq <= mid).length);
    expect(direct.exits).toBeLessThan(computeStats(store, store.maxSeq).exits);

    const acc = new StatsAccumulator();
    acc.update(store, 3);
    acc.update(store, store.maxSeq); // forward to the end
    expect(content(acc.update(store, mid))).toEqual(content(direct)); // and back
    expect(content(acc.update(store, store.maxSeq))).toEqual(content(computeStats(store, store.maxSeq)));
  });

  it("counts records of an earlier page that arrive after the cursor has passed their seqs", () => {
    const recs = simulatedRun(1, 4, (_v, p) => ({ user: 4, kernel: p }));
    const gap = recs.slice(10, 20);
    const store = new TraceStore();
    store.appendRecords([...recs.slice(0, 10), ...recs.slice(20)]);
    const acc = new StatsAccumulator();
    const before = acc.update(store, store.maxSeq);
    store.appendRecords(gap); // a `skipped` range fetched later
    const after = acc.update(store, store.maxSeq);
    expect(after.exits).toBe(before.exits + gap.filter((r) => r.type === "exit").length);
    expect(content(after)).toEqual(content(computeStats(store, store.maxSeq)));
  });

  it("starts again when the store is cleared and filled with another run", () => {
    const store = storeOf(simulatedRun(1, 3, () => ({ user: 5, kernel: 1 })));
    const acc = new StatsAccumulator();
    expect(acc.update(store, store.maxSeq).exits).toBe(15);
    store.clear();
    store.appendRecords(simulatedRun(2, 3, () => ({ user: 7, kernel: 0 })));
    expect(acc.update(store, store.maxSeq).exits).toBe(42);
  });

  it("adds up the records the VMM says it lost", () => {
    const recs = sequence([
      exitRec(0, KvmExit.IO, 100, 1, 1),
      { type: "lost", ts: 200, thread: "vcpu0", count: 17 },
      { type: "lost", ts: 300, thread: "vcpu0", count: 3 },
    ]);
    expect(computeStats(storeOf(recs), Infinity).lost).toBe(20);
    expect(computeStats(storeOf(recs), recs[1]!.seq).lost).toBe(17);
  });
});

describe("latency per reason", () => {
  it("reports the same handling-time percentiles as the CLI's run summary", () => {
    const recs = simulatedRun(2, 5, (v, p) => ({ user: 20 + 7 * v + p, kernel: 3 }));
    const summary = new RunSummary();
    for (const r of recs) summary.add(r);
    // The summary is per vCPU; with one vCPU's records the two must match exactly.
    const one = recs.filter((r) => r.type !== "exit" || r.vcpu === 1);
    const v = computeStats(storeOf(one), Infinity);
    const s = summary.toJSON().vcpus.find((x) => x.vcpu === 1)!;
    for (const r of s.reasons) {
      const l = v.latency.find((x) => x.code === r.code)!;
      expect([l.count, l.handle.p50, l.handle.p90, l.handle.p99, l.handle.max]).toEqual([r.count, r.handleP50Ns, r.handleP90Ns, r.handleP99Ns, r.handleMaxNs]);
    }
  });

  it("puts each exit's handling time and guest time into the log-spaced bin that holds them", () => {
    const recs = sequence([
      exitRec(0, KvmExit.IO, 100, 12_000, 3_300),
      exitRec(0, KvmExit.IO, 200, 12_500, 3_400),
      exitRec(0, KvmExit.IO, 300, 2_000_000, 900_000),
      exitRec(0, KvmExit.HLT, 400, 5, 500e9), // beyond both ends: kept in the end bins
    ]);
    const v = computeStats(storeOf(recs), Infinity);
    const io = v.latency.find((l) => l.code === KvmExit.IO)!;
    expect(io.handle.bins).toHaveLength(LATENCY_BIN_COUNT);
    expect(io.handle.bins.reduce((s, b) => s + b.count, 0)).toBe(3);
    const bin33 = io.handle.bins[latencyBin(3_300)]!;
    expect(bin33.x0).toBeLessThanOrEqual(3_300);
    expect(bin33.x1).toBeGreaterThan(3_400);
    expect(bin33.count).toBe(2);
    expect(io.guest.bins[latencyBin(2_000_000)]!.count).toBe(1);
    expect(io.guest.p50).toBeGreaterThan(11_000);
    expect(io.guest.p50).toBeLessThan(13_500);
    const hlt = v.latency.find((l) => l.code === KvmExit.HLT)!;
    expect(hlt.guest.bins[0]!.count).toBe(1);
    expect(hlt.handle.bins[LATENCY_BIN_COUNT - 1]!.count).toBe(1);
  });

  it("spaces the bins evenly on a log scale, each holding its lower edge and not its upper one", () => {
    const ratios = LATENCY_THRESHOLDS.slice(1).map((t, k) => t / LATENCY_THRESHOLDS[k]!);
    for (const r of ratios) expect(r).toBeCloseTo(ratios[0]!, 9);
    expect(ratios[0]!).toBeGreaterThan(1);
    for (let k = 1; k < LATENCY_BIN_COUNT; k++) {
      const edge = LATENCY_THRESHOLDS[k]!;
      expect(latencyBin(edge)).toBe(k);
      expect(latencyBin(edge * (1 - 1e-12))).toBe(k - 1);
    }
  });
});

describe("exits handled in the kernel against exits that came back", () => {
  it("splits every stats interval into the exits KVM handled itself and those that reached the VMM", () => {
    const recs = simulatedRun(1, 4, (_v, p) => ({ user: 5, kernel: 10 * p }));
    const v = computeStats(storeOf(recs), Infinity);
    expect(v.split.perVcpu[0]!.intervals.map((i) => [i.all, i.userspace, i.kernel])).toEqual([
      [5, 5, 0], [15, 5, 10], [25, 5, 20], [35, 5, 30],
    ]);
    expect(v.split.totals).toMatchObject({ all: 80, userspace: 20, kernel: 60 });
  });

  it("agrees with the run summary's kernel-handled count for every vCPU", () => {
    const recs = simulatedRun(3, 7, (v, p) => ({ user: 2 + ((v * 3 + p) % 5), kernel: (v + 1) * p }));
    const summary = new RunSummary();
    for (const r of recs) summary.add(r);
    const v = computeStats(storeOf(recs), Infinity);
    for (const s of summary.toJSON().vcpus) {
      const mine = v.split.perVcpu.find((p) => p.vcpu === s.vcpu)!.intervals;
      expect(mine.reduce((n, i) => n + i.kernel, 0)).toBe(s.kvmStats!.kernelExits);
      expect(mine.reduce((n, i) => n + i.userspace, 0)).toBe(s.kvmStats!.userspaceExits);
    }
  });

  it("leaves out exits before the first sample and places a late-arriving exit by its timestamp", () => {
    const recs = sequence([
      exitRec(0, KvmExit.IO, 50, 1, 1), // before the baseline: in no interval
      statsRec(0, 100, 1),
      exitRec(0, KvmExit.IO, 150, 1, 1),
      statsRec(0, 200, 4),
      statsRec(0, 300, 6),
    ]);
    // The exit at ts 250 arrives last (its ring drained after the main thread's samples).
    const late: TraceRecord = { ...exitRec(0, KvmExit.IO, 250, 1, 1), seq: 99 } as TraceRecord;
    const store = storeOf([...recs, late]);
    const v = computeStats(store, Infinity);
    expect(v.split.perVcpu[0]!.intervals.map((i) => [i.fromTs, i.toTs, i.all, i.userspace, i.kernel])).toEqual([
      [100, 200, 3, 1, 2],
      [200, 300, 2, 1, 1],
    ]);
  });

  it("adds up the vCPUs sampled in one tick as one point in time", () => {
    const recs = simulatedRun(2, 3, (v) => ({ user: 1 + v, kernel: 4 }));
    const v = computeStats(storeOf(recs), Infinity);
    expect(v.split.rounds).toHaveLength(3);
    expect(v.split.rounds.map((r) => [r.userspace, r.kernel])).toEqual([[3, 8], [3, 8], [3, 8]]);
  });

  it("keeps the totals when a chart merges intervals to fit its width", () => {
    const recs = simulatedRun(1, 25, (_v, p) => ({ user: 1, kernel: p }));
    const { rounds, totals } = computeStats(storeOf(recs), Infinity).split;
    const merged = mergeRounds(rounds, 10);
    expect(merged.length).toBeLessThanOrEqual(10);
    expect(merged.reduce((n, r) => n + r.kernel, 0)).toBe(totals!.kernel);
    expect(merged[0]!.fromTs).toBe(rounds[0]!.fromTs);
    expect(merged[merged.length - 1]!.toTs).toBe(rounds[rounds.length - 1]!.toTs);
  });

  it("tells apart no sample yet, a single sample, and a kernel without the exits counter", () => {
    const none = computeStats(storeOf(sequence([exitRec(0, KvmExit.IO, 100, 1, 1)])), Infinity).split;
    expect([none.samples, none.counterMissing, none.totals]).toEqual([0, false, null]);

    const one = computeStats(storeOf(sequence([statsRec(0, 50, 0), exitRec(0, KvmExit.IO, 100, 1, 1)])), Infinity).split;
    expect([one.samples, one.counterMissing, one.totals]).toEqual([1, false, null]);

    // An older kernel: the VMM stores -1, the codec leaves the counter out.
    const old = sequence([
      { type: "stats", ts: 50, vcpu: 0, counters: { halt_exits: 0 } },
      exitRec(0, KvmExit.IO, 100, 1, 1),
      { type: "stats", ts: 150, vcpu: 0, counters: { halt_exits: 1 } },
    ]);
    const missing = computeStats(storeOf(old), Infinity).split;
    expect([missing.samples, missing.counterMissing, missing.totals]).toEqual([2, true, null]);
  });
});

describe("cost on a large run", () => {
  it("walks a million rows once, then only the rows added since", () => {
    const BATCH = 1 << 16;
    const template = encodeBatch([{ ...exitRec(0, KvmExit.IO, 0, 3_000, 2_000), seq: 0 } as TraceRecord]);
    const store = new TraceStore();
    let seq = 0;
    const append = (rows: number): void => {
      const buf = new Uint8Array(rows * 128);
      const dv = new DataView(buf.buffer);
      for (let i = 0; i < rows; i++, seq++) {
        buf.set(template, i * 128);
        dv.setUint32(i * 128 + H.seq, seq, true);
        dv.setUint16(i * 128 + H.thread, seq & 1, true);
        dv.setFloat64(i * 128 + H.ts, 1_000 + seq * 1_000, true);
        dv.setUint32(i * 128 + H.code, seq % 7 === 0 ? KvmExit.HLT : KvmExit.IO, true);
        dv.setFloat64(i * 128 + EXIT.handleNs, 1_000 + (seq % 997) * 10, true);
      }
      store.appendBytes(buf);
    };
    while (seq < 1_000_000) append(Math.min(BATCH, 1_000_000 - seq));
    store.appendRecords(sequence([statsRec(0, 500, 0), statsRec(1, 500, 0), statsRec(0, 2e9, 900_000), statsRec(1, 2e9, 900_000)], seq));
    seq += 4;

    const acc = new StatsAccumulator();
    const t0 = performance.now();
    const full = acc.update(store, store.maxSeq);
    const fullMs = performance.now() - t0;
    append(1_000);
    const t1 = performance.now();
    const more = acc.update(store, store.maxSeq);
    const incMs = performance.now() - t1;
    console.log(`stats over 1,000,004 rows: ${fullMs.toFixed(0)} ms; 1,000 more: ${incMs.toFixed(1)} ms`);

    expect(full.exits).toBe(1_000_000);
    expect(more.exits).toBe(1_001_000);
    expect(full.split.totals!.userspace).toBe(1_000_000); // every exit lies between the two samples
    // Loose bounds, far above what this takes: they catch an accidental quadratic, not a slow CI.
    expect(fullMs).toBeLessThan(20_000);
    expect(incMs).toBeLessThan(fullMs);
  }, 120_000);
});
