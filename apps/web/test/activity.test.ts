import { describe, expect, it } from "vitest";
import { KvmExit, type ExitRecord, type IoctlRecord, type MarkerRecord, type StatsRecord, type TraceRecord } from "@kvmscope/shared";
import {
  activityAt, cursorRow, FOLLOW_MAX_RATE, followsSingleExits, formatRate, heatLevel, newestExitAt, nextExitAfter,
} from "../src/lib/activity";
import { TraceStore } from "../src/lib/trace-store";

// Records as the VMM wrote them (values copied from the NDJSON traces). Commands (from /work/main):
//   node apps/vmm/bin/kvmscope.js run hello --format ndjson --trace /tmp/h2-hello.ndjson
//   node apps/vmm/bin/kvmscope.js run smp --vcpus 2 --format ndjson --trace /tmp/h2-smp.ndjson
//   node apps/vmm/bin/kvmscope.js run timer --format ndjson --trace /tmp/h2-timer.ndjson
type Flags = { ifFlag: boolean; readyForInjection: boolean; requestedWindow: boolean };
const noFlags: Flags = { ifFlag: false, readyForInjection: false, requestedWindow: false };
function io(seq: number, ts: number, vcpu: number, rip: number, port: number, direction: "in" | "out", data: number[], guestNs: number, handleNs: number, flags = noFlags): ExitRecord {
  return { type: "exit", seq, ts, vcpu, reason: "KVM_EXIT_IO", code: KvmExit.IO, rip, guestNs, handleNs, ...flags, io: { port, size: 1, direction, count: 1, data } };
}
function bare(seq: number, ts: number, vcpu: number, code: number, rip: number, guestNs: number, handleNs: number, flags = noFlags): ExitRecord {
  const names: Record<number, string> = { [KvmExit.HLT]: "KVM_EXIT_HLT", [KvmExit.INTR]: "KVM_EXIT_INTR", [KvmExit.IRQ_WINDOW_OPEN]: "KVM_EXIT_IRQ_WINDOW_OPEN" };
  return { type: "exit", seq, ts, vcpu, reason: names[code] ?? `KVM_EXIT_${code}`, code, rip, guestNs, handleNs, ...flags };
}
function ioctl(seq: number, ts: number, thread: "main" | `vcpu${number}`, name: string, fd: number, args: Record<string, number>, ret: number, durNs: number, errno = 0): IoctlRecord {
  return { type: "ioctl", seq, ts, thread, name, fd, args, ret, errno, durNs };
}
function marker(seq: number, ts: number, thread: "main" | `vcpu${number}`, text: string): MarkerRecord {
  return { type: "marker", seq, ts, thread, text };
}
function stats(seq: number, ts: number, vcpu: number, exits: number): StatsRecord {
  return { type: "stats", seq, ts, vcpu, counters: { exits } };
}

/** hello, from the release to the HLT: 22 OUTs to COM1 within 2 ms, then HLT. */
const hello: TraceRecord[] = [
  ioctl(20, 389020144, "vcpu0", "KVM_GET_STATS_FD", 26, {}, 27, 16531),
  marker(21, 392101111, "main", "all 1 vCPU thread(s) created their vCPU; releasing them (qemu_system_ready)"),
  stats(22, 392303721, 0, 0),
  ...[72, 101, 108, 108, 111, 32, 102, 114, 111, 109, 32, 116, 104, 101, 32, 103, 117, 101, 115, 116, 33, 10].map((byte, i) =>
    io(23 + i, [395963243, 396738266, 396782740, 396858682, 396939033, 396994838, 397038229, 397069648, 397105635, 397298247, 397489325,
      397562122, 397616243, 397666036, 397698988, 397727702, 397755103, 397784989, 397842938, 397965347, 398014470, 398047662][i]!,
    0, 31757, 0x3f8, "out", [byte], 13000, 20000)),
  bare(45, 398076135, 0, KvmExit.HLT, 31761, 13485, 6412),
  ioctl(46, 406313552, "vcpu0", "close", 26, {}, 0, 24285),
];

/** smp --vcpus 2: each vCPU's lines, vCPU 1 first (it won the lock). */
const smp: TraceRecord[] = [
  marker(27, 448300272, "main", "all 2 vCPU thread(s) created their vCPU; releasing them (qemu_system_ready)"),
  io(30, 451013029, 1, 31869, 0xe9, "out", [108], 197070, 435286),
  io(31, 451471238, 1, 31869, 0xe9, "out", [111], 17844, 20468),
  io(36, 451817227, 1, 31869, 0xe9, "out", [97], 8596, 11762),
  io(80, 456290254, 0, 31869, 0xe9, "out", [116], 8806, 11402),
  io(87, 456839875, 0, 31857, 0x3f8, "out", [118], 22432, 148338),
  io(92, 457123887, 0, 31846, 0x3f8, "out", [48], 25898, 7154),
];

/** timer: around the first tick. Record 392 reached the store after 393, as it did in the real trace. */
const win: Flags = { ifFlag: true, readyForInjection: true, requestedWindow: true };
const timer: TraceRecord[] = [
  io(387, 431068820, 0, 31958, 0xe9, "out", [10], 301224, 57238, { ...noFlags, requestedWindow: true }),
  marker(388, 431130085, "vcpu0", "sti"),
  bare(389, 431602772, 0, KvmExit.IRQ_WINDOW_OPEN, 31862, 313097, 662051, win),
  ioctl(390, 433018617, "vcpu0", "KVM_INTERRUPT", 25, { vector: 32 }, 0, 257102),
  ioctl(391, 433496383, "vcpu0", "KVM_RUN", 25, {}, -1, 9327, 4),
  stats(393, 450597760, 0, 382),
  io(392, 433614344, 0, 31946, 0x3f8, "out", [116], 36779, 23995905),
  io(394, 457669300, 0, 31946, 0x3f8, "out", [105], 41508, 342702),
  io(400, 459128296, 0, 31926, 0x20, "out", [32], 14738, 308909),
];

function storeOf(records: TraceRecord[]): TraceStore {
  const s = new TraceStore();
  s.appendRecords(records);
  return s;
}

/** A pio-loop guest: OUTs to port 0x80 every `periodNs`, from `fromNs`. */
function pioLoop(n: number, fromNs: number, periodNs: number, firstSeq = 0): ExitRecord[] {
  const out: ExitRecord[] = [];
  for (let i = 0; i < n; i++) out.push(io(firstSeq + i, fromNs + i * periodNs, 0, 31750, 0x80, "out", [0], 1500, 1500));
  return out;
}

describe("activityAt", () => {
  it("counts the hello guest's 22 UART exits in the second before the HLT", () => {
    const a = activityAt(storeOf(hello), 44);
    expect(a.exits).toBe(22);
    expect(a.rate).toBeCloseTo(22);
    expect(a.vcpuRates.get(0)).toBeCloseTo(22);
    expect(a.deviceRates.get("uart")).toBeCloseTo(22);
    expect(a.pathRates.get("0:uart")).toBeCloseTo(22);
    expect(a.newest).toBe(44);
  });

  it("shows the state at the cursor, not at the newest record", () => {
    const store = storeOf(hello);
    const atRelease = activityAt(store, 21);
    expect(atRelease.exits).toBe(0);
    expect(atRelease.newest).toBeNull();
    const third = activityAt(store, 25);
    expect(third.exits).toBe(3);
    expect(third.newest).toBe(25);
    expect(activityAt(store, store.maxSeq).newest).toBe(45);
  });

  it("finds each vCPU's newest exit, also for a vCPU that went quiet earlier", () => {
    const a = activityAt(storeOf(smp), 92);
    expect(a.newestByVcpu.get(1)).toBe(36);
    expect(a.newestByVcpu.get(0)).toBe(92);
    expect(a.vcpuRates.get(1)).toBeCloseTo(3);
    expect(a.deviceRates.get("debugcon")).toBeCloseTo(4);
    expect(a.deviceRates.get("uart")).toBeCloseTo(2);
  });

  it("ignores a record that arrived before the cursor's row but comes after the cursor", () => {
    const store = storeOf(timer);
    expect(store.rowOfSeq(393)).toBeLessThan(store.rowOfSeq(392));
    const a = activityAt(store, 392);
    expect(a.newest).toBe(392);
    expect(a.exits).toBe(3); // 387, 389, 392
    expect(activityAt(store, 391).newest).toBe(389);
  });

  it("counts only the window before the cursor: a guest that speeds up reads slow before and fast after", () => {
    const slow = pioLoop(500, 0, 10e6); // 5 s at 100 exits/s
    const fast = pioLoop(5000, 5e9, 1e6, 500); // then 5 s at 1000 exits/s
    const store = storeOf([...slow, ...fast]);
    expect(activityAt(store, 400).rate).toBeCloseTo(100, -1);
    expect(activityAt(store, store.maxSeq).rate).toBeCloseTo(1000, -1);
    expect(activityAt(store, store.maxSeq).deviceRates.get("post")).toBeCloseTo(1000, -1);
  });

  it("reads at most maxRows rows and still measures the rate over what it read", () => {
    const store = storeOf(pioLoop(20_000, 0, 4_000)); // 250,000 exits/s
    const a = activityAt(store, store.maxSeq, { maxRows: 1000 });
    expect(a.truncated).toBe(true);
    expect(a.exits).toBe(1000);
    expect(a.rate).toBeGreaterThan(240_000);
    expect(a.rate).toBeLessThan(260_000);
  });

  it("gives an empty store no activity", () => {
    const a = activityAt(new TraceStore(), 0);
    expect(a.exits).toBe(0);
    expect(a.newest).toBeNull();
  });
});

describe("cursorRow", () => {
  it("falls back to the nearest lower seq the store holds when the cursor's seq is missing", () => {
    const store = storeOf(smp);
    expect(store.seq[cursorRow(store, 50)]).toBe(36);
    expect(cursorRow(store, 10)).toBe(-1);
  });
});

describe("newestExitAt", () => {
  it("finds the exit a view follows: the newest at or before the cursor, skipping ioctls and markers", () => {
    const store = storeOf(timer);
    expect(newestExitAt(store, 391)).toBe(389);
    expect(newestExitAt(store, 392)).toBe(392);
    expect(newestExitAt(store, 393)).toBe(392);
    expect(newestExitAt(store, store.maxSeq)).toBe(400);
    expect(newestExitAt(storeOf(hello), 22)).toBeNull();
  });

  it("finds a vCPU's exit from long ago in a run that has been paused since", () => {
    const store = storeOf([...pioLoop(3, 0, 1e6), ...Array.from({ length: 500 }, (_, i) => ioctl(3 + i, 1e9 + i, "vcpu0", "KVM_RUN", 25, {}, -1, 5000, 4))]);
    expect(newestExitAt(store, store.maxSeq)).toBe(2);
  });
});

describe("followsSingleExits", () => {
  it("follows single exits in step mode and while paused, whatever the rate", () => {
    expect(followsSingleExits("step", false, 250_000)).toBe(true);
    expect(followsSingleExits("replay", true, 250_000)).toBe(true);
    expect(followsSingleExits("live", true, 250_000)).toBe(true);
  });

  it("follows a free run only while a person can keep up", () => {
    expect(followsSingleExits("live", false, FOLLOW_MAX_RATE - 1)).toBe(true);
    expect(followsSingleExits("live", false, 22)).toBe(false);
    expect(followsSingleExits("replay", false, 22)).toBe(false);
  });
});

describe("formatRate and heatLevel", () => {
  it("writes rates compactly", () => {
    expect(formatRate(0)).toBe("0/s");
    expect(formatRate(2.5)).toBe("2.5/s");
    expect(formatRate(22)).toBe("22/s");
    expect(formatRate(3400)).toBe("3.4k/s");
    expect(formatRate(250_000)).toBe("250k/s");
    expect(formatRate(1_200_000)).toBe("1.2M/s");
  });

  it("grows heat with the rate, from 0 when idle to 1 at the full rate", () => {
    expect(heatLevel(0)).toBe(0);
    expect(heatLevel(100)).toBeGreaterThan(heatLevel(10));
    expect(heatLevel(100_000)).toBe(1);
    expect(heatLevel(1e7)).toBe(1);
  });
});

describe("nextExitAfter: exit by exit", () => {
  it("finds the next exit after a seq, skipping other records, whatever order they arrived in", () => {
    const store = new TraceStore();
    store.appendRecords([
      ioctl(0, 0, "main", "KVM_CREATE_VM", 3, { type: 0 }, 4, 10),
      io(3, 300, 0, 0x7c00, 0x3f8, "out", [0x48], 100, 10),
      marker(1, 100, "main", "all vCPU threads created"),
      io(2, 200, 0, 0x7c00, 0x3f8, "out", [0x48], 100, 10),
      bare(5, 500, 0, KvmExit.HLT, 0x7c10, 100, 10),
    ]);
    expect(nextExitAfter(store, -1)).toBe(2);
    expect(nextExitAfter(store, 2)).toBe(3);
    expect(nextExitAfter(store, 3)).toBe(5);
    expect(nextExitAfter(store, 5)).toBeNull();
  });

  it("looks at rows when seqs are sparse", () => {
    const store = new TraceStore();
    store.appendRecords([io(0, 0, 0, 0, 0x80, "out", [1], 1, 1), io(4_000_000_000, 10, 0, 0, 0x80, "out", [2], 1, 1)]);
    expect(nextExitAfter(store, 0)).toBe(4_000_000_000);
  });
});
