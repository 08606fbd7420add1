import { describe, expect, it } from "vitest";
import { formatSummary, KvmExit, LogHistogram, RunSummary, type TraceRecord } from "../src/index.js";
import { exit, ioctl, lost, marker, stats } from "./fixtures.js";

const io = (ts: number, handleNs = 1_000) =>
  exit(KvmExit.IO, { ts, handleNs, io: { port: 0xe9, size: 1, direction: "out", count: 1, data: [65] } });

describe("the latency histogram", () => {
  it("answers quantiles within its stated error bound", () => {
    // A seeded generator: the test checks the same values on every run.
    let x = 12345;
    const rand = () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const values = Array.from({ length: 5000 }, () => Math.floor(200 * Math.exp(rand() * 8)));
    const h = new LogHistogram();
    for (const v of values) h.add(v);
    const sorted = [...values].sort((a, b) => a - b);
    for (const q of [0.5, 0.9, 0.99]) {
      const exact = sorted[Math.ceil(q * sorted.length) - 1]!;
      expect(Math.abs(h.quantile(q) - exact) / exact, `q=${q}`).toBeLessThanOrEqual(LogHistogram.RELATIVE_ERROR);
    }
    expect(LogHistogram.RELATIVE_ERROR).toBeCloseTo(0.0443, 3);
    expect(h.max).toBe(sorted.at(-1));
  });

  it("is exact for a single value and zero when empty", () => {
    const h = new LogHistogram();
    expect(h.quantile(0.5)).toBe(0);
    h.add(1234);
    expect(h.quantile(0.99)).toBe(1234);
  });
});

describe("the run summary", () => {
  it("counts exits per vCPU and reason with handling-latency percentiles", () => {
    const s = new RunSummary();
    const handle = [...new Array(50).fill(1_000), ...new Array(40).fill(2_000), ...new Array(9).fill(10_000), 100_000];
    handle.forEach((h, i) => s.add(io(i * 10_000, h)));
    s.add(exit(KvmExit.HLT, { vcpu: 1, ts: 5, guestNs: 100, handleNs: 30 }));
    const json = s.toJSON();
    expect(json.vcpus.map((v) => v.vcpu)).toEqual([0, 1]);
    const r = json.vcpus[0]!.reasons[0]!;
    expect(r).toMatchObject({ reason: "KVM_EXIT_IO", code: 2, count: 100, handleNs: 50_000 + 80_000 + 90_000 + 100_000, handleMaxNs: 100_000 });
    const near = (got: number, want: number) => expect(Math.abs(got - want) / want).toBeLessThanOrEqual(LogHistogram.RELATIVE_ERROR);
    near(r.handleP50Ns, 1_000);
    near(r.handleP90Ns, 2_000);
    near(r.handleP99Ns, 10_000);
    expect(json.vcpus[0]!.guestNs).toBe(100 * 6_000);
    expect(json.vcpus[1]!.reasons).toMatchObject([{ reason: "KVM_EXIT_HLT", count: 1, handleP50Ns: 30 }]);
  });

  it("splits VM exits into kernel-handled and userspace from two stats samples", () => {
    const s = new RunSummary();
    s.add(io(500)); // before the first sample: outside the window
    s.add(stats(0, 1_000, { exits: 100, io_exits: 50, mmio_exits: 10, halt_exits: 5 }));
    for (let i = 0; i < 30; i++) s.add(io(1_100 + i));
    for (let i = 0; i < 4; i++) s.add(exit(KvmExit.MMIO, { ts: 2_000 + i, mmio: { addr: 0xd000_0000, len: 1, isWrite: true, data: [1] } }));
    s.add(exit(KvmExit.HLT, { ts: 3_000 }));
    s.add(stats(0, 5_000, { exits: 180, io_exits: 110, mmio_exits: 14, halt_exits: 6 }));
    s.add(io(6_000)); // after the latest sample: outside the window
    s.add(io(4_000)); // arrives late but belongs inside the window
    const k = s.toJSON().vcpus[0]!.kvmStats!;
    expect(k.fromTs).toBe(1_000);
    expect(k.toTs).toBe(5_000);
    expect(k.counters.exits).toEqual({ first: 100, latest: 180, delta: 80 });
    expect(k.userspaceExits).toBe(36);
    expect(k.kernelExits).toBe(80 - 36);
    expect(k.byKind).toEqual([
      { stat: "io_exits", reason: "KVM_EXIT_IO", total: 60, userspace: 31, kernel: 29 },
      { stat: "mmio_exits", reason: "KVM_EXIT_MMIO", total: 4, userspace: 4, kernel: 0 },
      { stat: "halt_exits", reason: "KVM_EXIT_HLT", total: 1, userspace: 1, kernel: 0 },
    ]);
  });

  it("does not invent a kernel share for a kind the host counts under another counter", () => {
    // kvm-pvm emulates real mode: the OUTs reach userspace but io_exits stays 0.
    const s = new RunSummary();
    s.add(stats(0, 0, { exits: 0, io_exits: 0 }));
    for (let i = 0; i < 3; i++) s.add(io(10 + i));
    s.add(stats(0, 100, { exits: 3, io_exits: 0 }));
    const json = s.toJSON();
    expect(json.vcpus[0]!.kvmStats!.byKind[0]).toEqual({ stat: "io_exits", reason: "KVM_EXIT_IO", total: 0, userspace: 3, kernel: null });
    expect(formatSummary(json)).toMatch(/io_exits: 0 counted by KVM, 3 reached userspace \(this host counts these exits under another counter/);
    expect(formatSummary(json)).not.toMatch(/-3 in the kernel/);
  });

  it("counts exits up to a third sample once it arrives", () => {
    const s = new RunSummary();
    s.add(stats(0, 0, { exits: 0 }));
    s.add(io(10));
    s.add(stats(0, 20, { exits: 5 }));
    s.add(io(30));
    s.add(io(40));
    s.add(stats(0, 50, { exits: 12 }));
    const k = s.toJSON().vcpus[0]!.kvmStats!;
    expect(k.userspaceExits).toBe(3);
    expect(k.kernelExits).toBe(9);
  });

  it("counts ioctls, failures, markers and lost records", () => {
    const recs: TraceRecord[] = [
      ioctl({ ts: 1 }), ioctl({ ts: 2, name: "KVM_CREATE_VM", args: { type: 0 }, ret: -1, errno: 22 }), ioctl({ ts: 3 }),
      marker({ ts: 4 }), lost({ ts: 5, thread: "vcpu1", count: 7 }), lost({ ts: 6, thread: "main", count: 2 }),
    ];
    const s = new RunSummary();
    for (const r of recs) s.add(r);
    const json = s.toJSON();
    expect(json).toMatchObject({ records: 6, firstTs: 1, lastTs: 6, markers: 1, lost: 9 });
    expect(json.ioctls).toEqual({ count: 3, failed: 1, byName: { KVM_CREATE_VCPU: 2, KVM_CREATE_VM: 1 }, failures: { "KVM_CREATE_VM errno 22": 1 } });
    expect(formatSummary(json)).toContain("3 ioctls (1 failed: KVM_CREATE_VM errno 22), 1 marker, 9 lost");
    expect(json.vcpus).toMatchObject([{ vcpu: 1, lost: 7, exits: 0 }]);
  });

  it("says that a failed KVM_RUN with EINTR is a kick", () => {
    const s = new RunSummary();
    s.add(ioctl({ ts: 1, name: "KVM_RUN", args: {}, ret: -1, errno: 4, error: "EINTR" }));
    s.add(ioctl({ ts: 2, name: "KVM_RUN", args: {}, ret: -1, errno: 4, error: "EINTR" }));
    expect(formatSummary(s.toJSON())).toContain("2 ioctls (2 failed: 2× KVM_RUN EINTR, a kick cutting KVM_RUN short as designed), 0 markers");
  });

  it("formats a table with counts, microseconds, time shares and the kernel split", () => {
    const s = new RunSummary();
    s.add(stats(0, 0, { exits: 0, io_exits: 0 }));
    s.add(exit(KvmExit.IO, { ts: 10_000, guestNs: 6_000, handleNs: 2_000, io: { port: 1, size: 1, direction: "out", count: 1, data: [1] } }));
    s.add(exit(KvmExit.IO, { ts: 20_000, guestNs: 6_000, handleNs: 2_000, io: { port: 1, size: 1, direction: "out", count: 1, data: [1] } }));
    s.add(stats(0, 30_000, { exits: 8, io_exits: 5 }));
    const text = formatSummary(s.toJSON());
    expect(text).toContain("vCPU 0: 2 exits to userspace; in guest (KVM_RUN) 12.0 µs (75.0%), handling in userspace 4.0 µs (25.0%)");
    expect(text).toMatch(/KVM_EXIT_IO\s+2\s+2\.00\s+2\.00/);
    expect(text).toContain("8 VM exits, 2 reached userspace (25.0%), 6 handled in the kernel (75.0%)");
    expect(text).toContain("io_exits: 5 in all, 2 to userspace, 3 in the kernel");
  });
});
