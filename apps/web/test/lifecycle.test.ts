import { describe, expect, it } from "vitest";
import { IOCTLS, KVMSCOPE_IOCTLS, KvmExit, type ExitRecord, type IoctlRecord, type MarkerRecord, type StatsRecord, type TraceRecord } from "@kvmscope/shared";
import { IOCTL_PLACES } from "../src/lib/ioctl-places";
import {
  EVENT_PLACES, formatDuration, formatOffset, lifecycleAt, placeOf, type Lifecycle, type LifecycleStep,
} from "../src/lib/lifecycle";
import { TraceStore } from "../src/lib/trace-store";
import { defines } from "./vmm-source";

// Records as the VMM wrote them (values copied from the NDJSON traces; stats samples keep only
// their `exits` counter). Commands (from /work/main):
//   node apps/vmm/bin/kvmscope.js run hello --format ndjson --trace /tmp/h2-hello.ndjson
//   node apps/vmm/bin/kvmscope.js run smp --vcpus 2 --format ndjson --trace /tmp/h2-smp.ndjson
//   node apps/vmm/bin/kvmscope.js run hello --irqchip kernel --format ndjson --trace /tmp/h2-kernel.ndjson
//   node apps/vmm/bin/kvmscope.js run timer --format ndjson --trace /tmp/h2-timer.ndjson
type Thread = "main" | `vcpu${number}`;
type Flags = { ifFlag: boolean; readyForInjection: boolean; requestedWindow: boolean };
const noFlags: Flags = { ifFlag: false, readyForInjection: false, requestedWindow: false };
function ioctl(seq: number, ts: number, thread: Thread, name: string, fd: number, args: Record<string, number>, ret: number, durNs: number, errno = 0): IoctlRecord {
  return { type: "ioctl", seq, ts, thread, name, fd, args, ret, errno, durNs };
}
function io(seq: number, ts: number, vcpu: number, rip: number, port: number, direction: "in" | "out", data: number[], guestNs: number, handleNs: number, flags = noFlags): ExitRecord {
  return { type: "exit", seq, ts, vcpu, reason: "KVM_EXIT_IO", code: KvmExit.IO, rip, guestNs, handleNs, ...flags, io: { port, size: 1, direction, count: 1, data } };
}
function bare(seq: number, ts: number, vcpu: number, code: number, rip: number, guestNs: number, handleNs: number, flags = noFlags): ExitRecord {
  return { type: "exit", seq, ts, vcpu, reason: `KVM_EXIT_${code}`, code, rip, guestNs, handleNs, ...flags };
}
function marker(seq: number, ts: number, thread: Thread, text: string): MarkerRecord {
  return { type: "marker", seq, ts, thread, text };
}
function stats(seq: number, ts: number, vcpu: number, exits: number): StatsRecord {
  return { type: "stats", seq, ts, vcpu, counters: { exits } };
}

/** `run hello`: the whole run (1 vCPU, userspace irqchip), outcome "halted". */
const hello: TraceRecord[] = [
  ioctl(0, 8109516, "main", "open", 19, {}, 19, 56737),
  ioctl(1, 8771658, "main", "KVM_GET_API_VERSION", 19, {}, 12, 9834401),
  ioctl(2, 18947098, "main", "KVM_CHECK_EXTENSION", 19, {cap:66}, 1024, 4679),
  ioctl(3, 18979750, "main", "KVM_CHECK_EXTENSION", 19, {cap:74}, 7, 2414),
  ioctl(4, 18999987, "main", "KVM_CHECK_EXTENSION", 19, {cap:136}, 1, 1553),
  ioctl(5, 19016087, "main", "KVM_CHECK_EXTENSION", 19, {cap:203}, 1, 1463),
  ioctl(6, 19031777, "main", "KVM_CHECK_EXTENSION", 19, {cap:0}, 1, 1984),
  ioctl(7, 19348992, "main", "KVM_GET_VCPU_MMAP_SIZE", 19, {}, 12288, 4047),
  ioctl(8, 19673450, "main", "KVM_GET_SUPPORTED_CPUID", 19, {maxEntries:256}, 0, 150843),
  ioctl(9, 20477598, "main", "KVM_CREATE_VM", 19, {type:0}, 20, 534522),
  ioctl(10, 21258342, "main", "KVM_CHECK_EXTENSION", 19, {cap:4}, 1, 6112),
  ioctl(11, 21338573, "main", "KVM_SET_TSS_ADDR", 20, {addr:4294692864}, 0, 6842),
  ioctl(12, 21374971, "main", "KVM_CHECK_EXTENSION", 19, {cap:37}, 1, 5710),
  ioctl(13, 21465340, "main", "KVM_SET_IDENTITY_MAP_ADDR", 20, {addr:4294688768}, 0, 8676),
  ioctl(14, 21799346, "main", "KVM_SET_USER_MEMORY_REGION", 20, {slot:0,guestPhysAddr:0,memorySize:16777216}, 0, 112662),
  ioctl(15, 384641854, "vcpu0", "KVM_CREATE_VCPU", 20, {vcpuId:0}, 26, 446648),
  ioctl(16, 386726042, "vcpu0", "KVM_SET_CPUID2", 26, {entries:61}, 0, 72005),
  ioctl(17, 386956775, "vcpu0", "KVM_GET_SREGS", 26, {}, 0, 13275),
  ioctl(18, 387848437, "vcpu0", "KVM_SET_SREGS", 26, {cr0:1610612752,efer:0}, 0, 14046),
  ioctl(19, 388882997, "vcpu0", "KVM_SET_REGS", 26, {rip:31744}, 0, 14577),
  ioctl(20, 389020144, "vcpu0", "KVM_GET_STATS_FD", 26, {}, 27, 16531),
  marker(21, 392101111, "main", "all 1 vCPU thread(s) created their vCPU; releasing them (qemu_system_ready)"),
  stats(22, 392303721, 0, 0),
  io(23, 395963243, 0, 31757, 0x3f8, "out", [72], 209823, 745789),
  io(24, 396738266, 0, 31757, 0x3f8, "out", [101], 22181, 29836),
  io(25, 396782740, 0, 31757, 0x3f8, "out", [108], 11982, 28944),
  io(26, 396858682, 0, 31757, 0x3f8, "out", [108], 13064, 57378),
  io(27, 396939033, 0, 31757, 0x3f8, "out", [111], 14587, 39905),
  io(28, 396994838, 0, 31757, 0x3f8, "out", [32], 13275, 27852),
  io(29, 397038229, 0, 31757, 0x3f8, "out", [102], 13245, 17723),
  io(30, 397069648, 0, 31757, 0x3f8, "out", [114], 11862, 22242),
  io(31, 397105635, 0, 31757, 0x3f8, "out", [111], 11181, 166893),
  io(32, 397298247, 0, 31757, 0x3f8, "out", [109], 19687, 159238),
  io(33, 397489325, 0, 31757, 0x3f8, "out", [32], 18354, 54793),
  io(34, 397562122, 0, 31757, 0x3f8, "out", [116], 15149, 36899),
  io(35, 397616243, 0, 31757, 0x3f8, "out", [104], 14948, 31399),
  io(36, 397666036, 0, 31757, 0x3f8, "out", [101], 15809, 18445),
  io(37, 397698988, 0, 31757, 0x3f8, "out", [32], 12544, 15680),
  io(38, 397727702, 0, 31757, 0x3f8, "out", [103], 11492, 13305),
  io(39, 397755103, 0, 31757, 0x3f8, "out", [117], 12553, 14808),
  io(40, 397784989, 0, 31757, 0x3f8, "out", [101], 13425, 20318),
  io(41, 397842938, 0, 31757, 0x3f8, "out", [115], 31248, 102532),
  io(42, 397965347, 0, 31757, 0x3f8, "out", [116], 16951, 31450),
  io(43, 398014470, 0, 31757, 0x3f8, "out", [33], 15409, 17653),
  io(44, 398047662, 0, 31757, 0x3f8, "out", [10], 13696, 13545),
  bare(45, 398076135, 0, KvmExit.HLT, 31761, 13485, 6412),
  ioctl(46, 406313552, "vcpu0", "close", 26, {}, 0, 24285),
  stats(47, 419460684, 0, 23),
  stats(48, 425682160, 0, 23),
  ioctl(49, 426088783, "main", "close", 20, {}, 0, 826770),
  ioctl(50, 427024588, "main", "close", 19, {}, 0, 34745),
];

/** `run smp --vcpus 2`: vCPU 1's thread created its vCPU first; a few exits of each; the closes. */
const smp: TraceRecord[] = [
  ioctl(0, 8098746, "main", "open", 19, {}, 19, 60363),
  ioctl(1, 8856978, "main", "KVM_GET_API_VERSION", 19, {}, 12, 89167),
  ioctl(2, 9044009, "main", "KVM_CHECK_EXTENSION", 19, {cap:66}, 1024, 4328),
  ioctl(3, 9082631, "main", "KVM_CHECK_EXTENSION", 19, {cap:74}, 7, 2915),
  ioctl(4, 9103269, "main", "KVM_CHECK_EXTENSION", 19, {cap:136}, 1, 1864),
  ioctl(5, 9119460, "main", "KVM_CHECK_EXTENSION", 19, {cap:203}, 1, 1633),
  ioctl(6, 9134979, "main", "KVM_CHECK_EXTENSION", 19, {cap:0}, 1, 2244),
  ioctl(7, 9381261, "main", "KVM_GET_VCPU_MMAP_SIZE", 19, {}, 12288, 3937),
  ioctl(8, 9596835, "main", "KVM_GET_SUPPORTED_CPUID", 19, {maxEntries:256}, 0, 135725),
  ioctl(9, 10422243, "main", "KVM_CREATE_VM", 19, {type:0}, 20, 591900),
  ioctl(10, 11271485, "main", "KVM_CHECK_EXTENSION", 19, {cap:4}, 1, 6983),
  ioctl(11, 11366083, "main", "KVM_SET_TSS_ADDR", 20, {addr:4294692864}, 0, 8636),
  ioctl(12, 11409945, "main", "KVM_CHECK_EXTENSION", 19, {cap:37}, 1, 6252),
  ioctl(13, 11490746, "main", "KVM_SET_IDENTITY_MAP_ADDR", 20, {addr:4294688768}, 0, 12664),
  ioctl(14, 11934208, "main", "KVM_SET_USER_MEMORY_REGION", 20, {slot:0,guestPhysAddr:0,memorySize:16777216}, 0, 114695),
  ioctl(15, 385820805, "vcpu1", "KVM_CREATE_VCPU", 20, {vcpuId:1}, 29, 583313),
  ioctl(16, 389160117, "vcpu1", "KVM_SET_CPUID2", 29, {entries:61}, 0, 123220),
  ioctl(17, 389492840, "vcpu1", "KVM_GET_SREGS", 29, {}, 0, 12824),
  ioctl(18, 391035743, "vcpu1", "KVM_SET_SREGS", 29, {cr0:1610612752,efer:0}, 0, 14498),
  ioctl(19, 391721780, "vcpu1", "KVM_SET_REGS", 29, {rip:31744}, 0, 11652),
  ioctl(20, 391957792, "vcpu1", "KVM_GET_STATS_FD", 29, {}, 30, 12864),
  ioctl(21, 443728129, "vcpu0", "KVM_CREATE_VCPU", 20, {vcpuId:0}, 31, 279855),
  ioctl(22, 445177747, "vcpu0", "KVM_SET_CPUID2", 31, {entries:61}, 0, 48150),
  ioctl(23, 445316698, "vcpu0", "KVM_GET_SREGS", 31, {}, 0, 9016),
  ioctl(24, 446079829, "vcpu0", "KVM_SET_SREGS", 31, {cr0:1610612752,efer:0}, 0, 15919),
  ioctl(25, 446418333, "vcpu0", "KVM_SET_REGS", 31, {rip:31744}, 0, 13776),
  ioctl(26, 446564287, "vcpu0", "KVM_GET_STATS_FD", 31, {}, 32, 10479),
  marker(27, 448300272, "main", "all 2 vCPU thread(s) created their vCPU; releasing them (qemu_system_ready)"),
  io(30, 451013029, 1, 31869, 0xe9, "out", [108], 197070, 435286),
  io(31, 451471238, 1, 31869, 0xe9, "out", [111], 17844, 20468),
  io(80, 456290254, 0, 31869, 0xe9, "out", [116], 8806, 11402),
  io(81, 456310843, 0, 31869, 0xe9, "out", [97], 8125, 9328),
  bare(119, 457927665, 0, KvmExit.HLT, 31811, 17774, 4318),
  ioctl(120, 461587698, "vcpu0", "close", 31, {}, 0, 311584),
  ioctl(121, 461794004, "vcpu1", "close", 29, {}, 0, 277120),
  ioctl(126, 486976705, "main", "close", 20, {}, 0, 1258951),
  ioctl(127, 488415774, "main", "close", 19, {}, 0, 8817),
];

/** `run hello --irqchip kernel`: KVM_CREATE_IRQCHIP and KVM_CREATE_PIT2; the run ends with a kick (KVM_EXIT_INTR). */
const kernel: TraceRecord[] = [
  ioctl(0, 15011198, "main", "open", 19, {}, 19, 57828),
  ioctl(1, 16732476, "main", "KVM_GET_API_VERSION", 19, {}, 12, 261530),
  ioctl(2, 17453438, "main", "KVM_CHECK_EXTENSION", 19, {cap:66}, 1024, 5350),
  ioctl(3, 17490427, "main", "KVM_CHECK_EXTENSION", 19, {cap:74}, 7, 2775),
  ioctl(4, 17511887, "main", "KVM_CHECK_EXTENSION", 19, {cap:136}, 1, 2204),
  ioctl(5, 17529119, "main", "KVM_CHECK_EXTENSION", 19, {cap:203}, 1, 1724),
  ioctl(6, 17545440, "main", "KVM_CHECK_EXTENSION", 19, {cap:0}, 1, 1934),
  ioctl(7, 17759031, "main", "KVM_GET_VCPU_MMAP_SIZE", 19, {}, 12288, 4278),
  ioctl(8, 17982289, "main", "KVM_GET_SUPPORTED_CPUID", 19, {maxEntries:256}, 0, 127579),
  ioctl(9, 18700907, "main", "KVM_CREATE_VM", 19, {type:0}, 20, 396734),
  ioctl(10, 19549558, "main", "KVM_CHECK_EXTENSION", 19, {cap:4}, 1, 77365),
  ioctl(11, 19865561, "main", "KVM_SET_TSS_ADDR", 20, {addr:4294692864}, 0, 7684),
  ioctl(12, 19992268, "main", "KVM_CHECK_EXTENSION", 19, {cap:37}, 1, 7484),
  ioctl(13, 20313661, "main", "KVM_SET_IDENTITY_MAP_ADDR", 20, {addr:4294688768}, 0, 122700),
  ioctl(14, 20479031, "main", "KVM_CREATE_IRQCHIP", 20, {}, 0, 140033),
  ioctl(15, 20872889, "main", "KVM_CREATE_PIT2", 20, {flags:0}, 0, 264406),
  ioctl(16, 21906818, "main", "KVM_SET_USER_MEMORY_REGION", 20, {slot:0,guestPhysAddr:0,memorySize:16777216}, 0, 5892510),
  ioctl(17, 387895916, "vcpu0", "KVM_CREATE_VCPU", 20, {vcpuId:0}, 25, 125245),
  ioctl(18, 388913735, "vcpu0", "KVM_SET_CPUID2", 25, {entries:61}, 0, 45094),
  ioctl(19, 389034612, "vcpu0", "KVM_GET_SREGS", 25, {}, 0, 8646),
  ioctl(20, 389582549, "vcpu0", "KVM_SET_SREGS", 25, {cr0:1610612752,efer:0}, 0, 12093),
  ioctl(21, 389808052, "vcpu0", "KVM_SET_REGS", 25, {rip:31744}, 0, 10079),
  ioctl(22, 389884615, "vcpu0", "KVM_GET_STATS_FD", 25, {}, 26, 8937),
  marker(23, 391608819, "main", "all 1 vCPU thread(s) created their vCPU; releasing them (qemu_system_ready)"),
  io(25, 393459529, 0, 31757, 0x3f8, "out", [72], 265648, 458930, { ifFlag: false, readyForInjection: true, requestedWindow: false }),
  io(26, 393939559, 0, 31757, 0x3f8, "out", [101], 16671, 21320, { ifFlag: false, readyForInjection: true, requestedWindow: false }),
  bare(73, 915883022, 0, KvmExit.INTR, 31761, 520205113, 286277, { ifFlag: false, readyForInjection: true, requestedWindow: false }),
  ioctl(74, 916546406, "vcpu0", "close", 25, {}, 0, 24355),
  ioctl(76, 929490648, "main", "close", 20, {}, 0, 14250652),
  ioctl(77, 944050389, "main", "close", 19, {}, 0, 8957),
];

/** `run timer`: the first tick, injected with KVM_INTERRUPT; one KVM_RUN cut short by the PIT's kick (EINTR). */
const timerLoop: TraceRecord[] = [
  io(387, 431068820, 0, 31958, 0xe9, "out", [10], 301224, 57238, { ...noFlags, requestedWindow: true }),
  marker(388, 431130085, "vcpu0", "sti"),
  bare(389, 431602772, 0, KvmExit.IRQ_WINDOW_OPEN, 31862, 313097, 662051, { ifFlag: true, readyForInjection: true, requestedWindow: true }),
  ioctl(390, 433018617, "vcpu0", "KVM_INTERRUPT", 25, { vector: 32 }, 0, 257102),
  ioctl(391, 433496383, "vcpu0", "KVM_RUN", 25, {}, -1, 9327, 4),
  io(392, 433614344, 0, 31946, 0x3f8, "out", [116], 36779, 23995905),
  bare(401, 459810355, 0, KvmExit.IRQ_WINDOW_OPEN, 31862, 367740, 37310, { ifFlag: true, readyForInjection: true, requestedWindow: true }),
  ioctl(402, 459892849, "vcpu0", "KVM_INTERRUPT", 25, { vector: 32 }, 0, 290315),
  io(403, 460271209, 0, 31946, 0x3f8, "out", [116], 32531, 364473),
];

/**
 * `run smp --vcpus 2` as the VMM creates vCPUs today: one at a time (qemu-kvm's kvm_init_vcpu waits
 * for env->created before the next), the main thread marking each "created". The smp records
 * above, renumbered into that order.
 */
const smpInOrder: TraceRecord[] = (() => {
  const byThread = (t: string) => smp.filter((r) => r.type === "ioctl" && r.seq < 27 && r.thread === t);
  const setup = smp.filter((r) => r.seq < 15);
  const vcpu0 = byThread("vcpu0");
  const vcpu1 = byThread("vcpu1");
  const rest = smp.filter((r) => r.seq >= 27);
  let ts = 384_000_000;
  const reorder = (r: TraceRecord, seq: number): TraceRecord => ({ ...r, seq, ts: (ts += 1_000_000) });
  const created = (seq: number, id: number) => marker(seq, (ts += 1_000_000), "main", `vCPU ${id} created (env->created = 1)`);
  return [
    ...setup,
    ...vcpu0.map((r, i) => reorder(r, 15 + i)), created(21, 0),
    ...vcpu1.map((r, i) => reorder(r, 22 + i)), created(28, 1),
    ...rest.map((r) => ({ ...r, seq: r.seq + 2 })),
  ];
})();

function storeOf(records: readonly TraceRecord[]): TraceStore {
  const s = new TraceStore();
  s.appendRecords(records);
  return s;
}
const ids = (l: Lifecycle): string[] => l.steps.map((s) => s.id);
const step = (l: Lifecycle, id: string): LifecycleStep => {
  const s = l.steps.find((x) => x.id === id);
  if (s === undefined) throw new Error(`no step ${id} in ${ids(l).join(", ")}`);
  return s;
};
const expectedIds = (l: Lifecycle): string[] => l.steps.filter((s) => s.expected).map((s) => s.id);

describe("lifecycleAt: one vCPU (hello)", () => {
  const store = storeOf(hello);

  it("lists every step a run takes, in the article's order, before any record has arrived", () => {
    const l = lifecycleAt(new TraceStore(), -1, { vcpus: 1 });
    expect(ids(l)).toEqual([
      "open", "api-version", "create-vm", "set-memory", "create-vcpu-0", "release", "run-0", "exit-loop",
      "close-vcpu-0", "close-vm", "close-kvm", "end",
    ]);
    expect(l.steps.every((s) => s.state === "pending")).toBe(true);
    expect(l.currentStep).toBeNull();
  });

  it("shows a step-mode run paused at the release with its first KVM_RUN still to come", () => {
    // A step-mode run stops right here: every vCPU exists, none has entered the guest.
    const l = lifecycleAt(store, 22, { vcpus: 1 });
    expect(l.currentStep).toBe("release");
    expect(step(l, "release").state).toBe("done");
    expect(step(l, "run-0").state).toBe("pending");
    expect(step(l, "exit-loop").state).toBe("pending");
    const order = ids(l);
    expect(order.indexOf("release")).toBeLessThan(order.indexOf("run-0"));
    expect(order.slice(order.indexOf("run-0"))).toEqual(["run-0", "exit-loop", "close-vcpu-0", "close-vm", "close-kvm", "end"]);
  });

  it("lights each step with its record's return value, time and duration", () => {
    const l = lifecycleAt(store, 22, { vcpus: 1 });
    expect(step(l, "open")).toMatchObject({ state: "done", ret: 19, ts: 8109516, durNs: 56737, seq: 0, thread: "main" });
    expect(step(l, "api-version")).toMatchObject({ state: "done", ret: 12, seq: 1 });
    expect(step(l, "create-vm")).toMatchObject({ state: "done", ret: 20, seq: 9 });
    expect(step(l, "set-memory")).toMatchObject({ state: "done", seq: 14, args: { slot: 0, guestPhysAddr: 0, memorySize: 16777216 } });
    expect(step(l, "create-vcpu-0")).toMatchObject({ state: "done", ret: 26, seq: 15, thread: "vcpu0", vcpu: 0 });
  });

  it("measures how long the main thread waited for the vCPU threads before releasing them", () => {
    const release = step(lifecycleAt(store, 22, { vcpus: 1 }), "release");
    // From the end of KVM_SET_USER_MEMORY_REGION (the main thread's last ioctl) to the marker.
    expect(release.durNs).toBe(392101111 - (21799346 + 112662));
    expect(release.qemu?.fn).toBe("kvm_main_loop");
  });

  it("keeps the other ioctls the VMM issued, in order, among the expected steps", () => {
    const l = lifecycleAt(store, 22, { vcpus: 1 });
    expect(ids(l).slice(0, 17)).toEqual([
      "open", "api-version", "ioctl-2", "ioctl-3", "ioctl-4", "ioctl-5", "ioctl-6", "ioctl-7", "ioctl-8",
      "create-vm", "ioctl-10", "ioctl-11", "ioctl-12", "ioctl-13", "set-memory", "create-vcpu-0", "ioctl-16",
    ]);
    expect(step(l, "ioctl-2")).toMatchObject({ label: "KVM_CHECK_EXTENSION", expected: false, args: { cap: 66 }, ret: 1024 });
    expect(step(l, "ioctl-16")).toMatchObject({ label: "KVM_SET_CPUID2", thread: "vcpu0", ours: { fn: "resetToBootSector" } });
  });

  it("dates the first KVM_RUN from its exit: it went in guestNs before it came back", () => {
    const run = step(lifecycleAt(store, 23, { vcpus: 1 }), "run-0");
    expect(run).toMatchObject({ state: "done", seq: 23, ts: 395963243 - 209823, durNs: 209823 });
  });

  it("counts the exits of the loop at the cursor", () => {
    const mid = lifecycleAt(store, 30, { vcpus: 1 });
    expect(mid.currentStep).toBe("exit-loop");
    expect(step(mid, "exit-loop")).toMatchObject({ state: "done", count: 8, seq: 30 });
    const all = lifecycleAt(store, store.maxSeq, { vcpus: 1 });
    expect(step(all, "exit-loop")).toMatchObject({ count: 23, countByVcpu: [23], seq: 45 });
  });

  it("ends with the closes and the outcome once the run is over", () => {
    const l = lifecycleAt(store, store.maxSeq, { vcpus: 1, outcome: { outcome: "halted", message: "every vCPU halted" } });
    expect(l.steps.filter((s) => s.expected).every((s) => s.state === "done")).toBe(true);
    expect(step(l, "close-vcpu-0")).toMatchObject({ seq: 46, thread: "vcpu0" });
    expect(step(l, "close-vm")).toMatchObject({ seq: 49, args: {} });
    expect(step(l, "close-kvm")).toMatchObject({ seq: 50 });
    expect(step(l, "end")).toMatchObject({ state: "done", outcome: "halted", label: "halted" });
    expect(l.currentStep).toBe("end");
    expect(ids(l).slice(-4)).toEqual(["close-vcpu-0", "close-vm", "close-kvm", "end"]);
  });

  it("keeps the end pending at a cursor before the last close, even when the run's outcome is known", () => {
    const outcome = { outcome: "halted", message: "every vCPU halted" };
    for (const cursor of [23, 30, 46, 49]) {
      const l = lifecycleAt(store, cursor, { vcpus: 1, outcome });
      expect(step(l, "close-kvm").state).toBe("pending");
      expect(step(l, "end").state).toBe("pending");
    }
    expect(step(lifecycleAt(store, 50, { vcpus: 1, outcome }), "end")).toMatchObject({ state: "done", label: "halted" });
  });

  it("lights the end from the last close when the outcome is not known", () => {
    const l = lifecycleAt(store, store.maxSeq, { vcpus: 1 });
    expect(step(l, "end").state).toBe("done");
    expect(lifecycleAt(store, 49, { vcpus: 1 }).currentStep).toBe("close-vm");
    expect(step(lifecycleAt(store, 49, { vcpus: 1 }), "end").state).toBe("pending");
  });
});

describe("lifecycleAt: several vCPUs (smp --vcpus 2)", () => {
  const store = storeOf(smp);

  it("keeps vCPU 0's creation pending above vCPU 1's, which its thread got to first", () => {
    const l = lifecycleAt(store, 20, { vcpus: 2 });
    const order = ids(l);
    expect(step(l, "create-vcpu-1").state).toBe("done");
    expect(step(l, "create-vcpu-0").state).toBe("pending");
    expect(order.indexOf("create-vcpu-0")).toBe(order.indexOf("create-vcpu-1") - 1);
  });

  it("orders the creations as they happened once both vCPUs exist", () => {
    const l = lifecycleAt(store, 27, { vcpus: 2 });
    const created = ids(l).filter((id) => id.startsWith("create-vcpu"));
    expect(created).toEqual(["create-vcpu-1", "create-vcpu-0"]);
    expect(step(l, "create-vcpu-0")).toMatchObject({ seq: 21, thread: "vcpu0", ret: 31 });
    expect(l.currentStep).toBe("release");
  });

  it("has a first KVM_RUN per vCPU and counts the loop's exits per vCPU", () => {
    const l = lifecycleAt(store, store.maxSeq, { vcpus: 2 });
    expect(step(l, "run-1")).toMatchObject({ state: "done", seq: 30 });
    expect(step(l, "run-0")).toMatchObject({ state: "done", seq: 80 });
    expect(step(l, "exit-loop")).toMatchObject({ count: 5, countByVcpu: [3, 2] });
    expect(step(l, "close-vcpu-0").seq).toBe(120);
    expect(step(l, "close-vcpu-1").seq).toBe(121);
    expect(expectedIds(l).filter((id) => id.startsWith("run-") || id === "exit-loop")).toEqual(["run-1", "run-0", "exit-loop"]);
  });

  it("keeps vCPU 0's first KVM_RUN pending, above vCPU 1's and the exit loop, while vCPU 1 already runs", () => {
    const l = lifecycleAt(store, 31, { vcpus: 2 });
    expect(step(l, "exit-loop").state).toBe("done");
    expect(step(l, "run-0").state).toBe("pending");
    expect(expectedIds(l).filter((id) => id.startsWith("run-") || id === "exit-loop")).toEqual(["run-0", "run-1", "exit-loop"]);
  });

  it("shows a vCPU the configuration promised but no record mentions yet as pending", () => {
    const l = lifecycleAt(store, store.maxSeq, { vcpus: 3 });
    expect(step(l, "create-vcpu-2").state).toBe("pending");
    expect(step(l, "run-2").state).toBe("pending");
  });
});

describe("lifecycleAt: vCPUs created one at a time (today's VMM)", () => {
  const store = storeOf(smpInOrder);

  it("lists the creations in vCPU order, each after the previous vCPU was created, then the release", () => {
    const l = lifecycleAt(store, store.maxSeq, { vcpus: 2 });
    const order = expectedIds(l);
    expect(order.slice(order.indexOf("set-memory"), order.indexOf("release") + 1)).toEqual(["set-memory", "create-vcpu-0", "create-vcpu-1", "release"]);
    expect(step(l, "create-vcpu-0").seq).toBeLessThan(step(l, "create-vcpu-1").seq!);
  });

  it("stays on vCPU 0's creation while the main thread has seen it created and vCPU 1's turn has not come", () => {
    const l = lifecycleAt(store, 21, { vcpus: 2 });
    expect(step(l, "create-vcpu-0").state).toBe("done");
    expect(step(l, "create-vcpu-1").state).toBe("pending");
    expect(l.currentStep).toBe("create-vcpu-0");
    const order = expectedIds(l);
    expect(order.indexOf("create-vcpu-1")).toBe(order.indexOf("create-vcpu-0") + 1);
  });
});

describe("lifecycleAt: in-kernel irqchip", () => {
  it("expects KVM_CREATE_IRQCHIP and KVM_CREATE_PIT2 between the VM and its memory", () => {
    const l = lifecycleAt(storeOf(kernel), 23, { vcpus: 1, irqchip: "kernel" });
    const order = expectedIds(l);
    expect(order.slice(0, 6)).toEqual(["open", "api-version", "create-vm", "create-irqchip", "create-pit2", "set-memory"]);
    expect(step(l, "create-irqchip")).toMatchObject({ state: "done", seq: 14, qemu: { fn: "kvm_create_irqchip" } });
    expect(step(l, "create-pit2")).toMatchObject({ state: "done", seq: 15, args: { flags: 0 } });
  });

  it("does not expect them with the userspace irqchip", () => {
    expect(ids(lifecycleAt(new TraceStore(), -1, { vcpus: 1, irqchip: "user" }))).not.toContain("create-irqchip");
  });
});

describe("lifecycleAt: inside the exit loop", () => {
  it("folds the loop's KVM_INTERRUPT and the KVM_RUN a kick cut short into the exit-loop step", () => {
    const l = lifecycleAt(storeOf(timerLoop), 403, { vcpus: 1 });
    expect(ids(l).filter((id) => id.startsWith("ioctl-"))).toEqual([]);
    expect(step(l, "exit-loop")).toMatchObject({ count: 5, loopIoctls: { KVM_INTERRUPT: 2, KVM_RUN: 1 }, seq: 403 });
  });

  it("marks a failed ioctl failed, with its errno's name", () => {
    // What a second KVM_CREATE_VCPU with the same id returns (the kernel's EEXIST), on vCPU 0's thread.
    const records = [...hello.slice(0, 15), ioctl(15, 384641854, "vcpu0", "KVM_CREATE_VCPU", 20, { vcpuId: 0 }, -1, 20000, 17)];
    const l = lifecycleAt(storeOf(records), 15, { vcpus: 1 });
    expect(step(l, "create-vcpu-0")).toMatchObject({ state: "failed", errno: 17, error: "EEXIST", ret: -1 });
    expect(l.currentStep).toBe("create-vcpu-0");
  });

  it("fails the API-version step when KVM answers anything but 12", () => {
    const l = lifecycleAt(storeOf([hello[0]!, ioctl(1, 8771658, "main", "KVM_GET_API_VERSION", 19, {}, 11, 9834401)]), 1, { vcpus: 1 });
    expect(step(l, "api-version")).toMatchObject({ state: "failed", ret: 11 });
  });
});

describe("the code a step names", () => {
  const places = [
    ...IOCTLS.flatMap(({ name }) => [placeOf(name, "main"), placeOf(name, "vcpu0")]),
    ...Object.values(EVENT_PLACES),
  ];

  it("names functions that exist in the named files of our VMM", () => {
    for (const { ours } of places) expect(defines(ours.file, ours.fn), `${ours.fn} in ${ours.file}`).toBe(true);
  });

  it("takes every ioctl's place from IOCTL_PLACES", () => {
    for (const { name } of KVMSCOPE_IOCTLS) {
      const p = IOCTL_PLACES[name];
      const q = p.qemu === null ? null : { fn: p.qemu.fn, file: p.qemu.file };
      expect(placeOf(name, "main").qemu, name).toEqual(q);
      if (p.ours !== null && p.also === undefined) {
        for (const t of ["main", "vcpu1"] as const) expect(placeOf(name, t).ours, `${name} on ${t}`).toEqual({ file: p.ours.file, fn: p.ours.fn });
      }
    }
    expect(placeOf("close", "main").ours).toEqual({ file: "apps/vmm/src/machine.ts", fn: "Machine.#tearDown" });
    expect(placeOf("close", "vcpu2").ours).toEqual({ file: "apps/vmm/src/vcpu/thread.ts", fn: "main" });
    // Our VMM never issues KVM_IRQ_LINE: the binding method that would is all there is to name.
    expect(placeOf("KVM_IRQ_LINE", "main").ours).toEqual({ file: "packages/kvm-binding/lib/kvm.ts", fn: "Vm.irqLine" });
    expect(EVENT_PLACES["first-run"]).toEqual(placeOf("KVM_RUN", "vcpu0"));
  });

  it("names the qemu-kvm 0.14 functions of the article for the steps it describes", () => {
    const l = lifecycleAt(storeOf(hello), 45, { vcpus: 1 });
    expect(step(l, "open").qemu).toEqual({ fn: "kvm_init", file: "qemu-kvm.c" });
    expect(step(l, "create-vm").qemu).toEqual({ fn: "kvm_create_vm", file: "qemu-kvm.c" });
    expect(step(l, "create-vcpu-0").qemu).toEqual({ fn: "kvm_create_vcpu", file: "qemu-kvm.c" });
    // The article's kvm_cpu_exec (kvm-all.c) issues KVM_RUN at its line 941.
    expect(step(l, "run-0").qemu).toEqual({ fn: "kvm_cpu_exec", file: "kvm-all.c" });
    expect(step(l, "exit-loop").qemu).toEqual({ fn: "kvm_main_loop_cpu", file: "qemu-kvm.c" });
    expect(step(l, "ioctl-2")).toMatchObject({ label: "KVM_CHECK_EXTENSION", ours: { fn: "Machine.#build" }, qemu: { fn: "kvm_check_extension", file: "kvm-all.c" } });
    expect(step(l, "close-vcpu-0")).toMatchObject({ ours: { fn: "main" }, qemu: null });
    expect(step(l, "close-kvm")).toMatchObject({ ours: { fn: "Machine.#tearDown" }, qemu: null });
  });
});

describe("formatDuration and formatOffset", () => {
  it("picks a unit a person can read at a glance", () => {
    expect(formatDuration(850)).toBe("850 ns");
    expect(formatDuration(56737)).toBe("56.7 µs");
    expect(formatDuration(4679)).toBe("4.68 µs");
    expect(formatDuration(9834401)).toBe("9.83 ms");
    expect(formatOffset(392101111)).toBe("+392.1 ms");
    expect(formatDuration(1_234_000_000)).toBe("1.234 s");
  });
});
