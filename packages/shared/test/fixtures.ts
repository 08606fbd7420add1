// Hand-made records for the tests: each builder fills the common fields, a test overrides what it
// is about.
import type { ExitRecord, IoctlRecord, LostRecord, MarkerRecord, StatsRecord } from "../src/index.js";
import { exitReasonName } from "../src/index.js";

let nextSeq = 1;

export function exit(code: number, fields: Partial<ExitRecord> = {}): ExitRecord {
  return {
    type: "exit",
    seq: nextSeq++,
    ts: 1_000_000,
    vcpu: 0,
    reason: exitReasonName(code),
    code,
    rip: 0x7c05,
    guestNs: 6_000,
    handleNs: 1_500,
    ifFlag: true,
    readyForInjection: false,
    requestedWindow: false,
    ...fields,
  };
}

export function ioctl(fields: Partial<IoctlRecord> = {}): IoctlRecord {
  return {
    type: "ioctl",
    seq: nextSeq++,
    ts: 500,
    thread: "main",
    name: "KVM_CREATE_VCPU",
    fd: 4,
    args: { vcpuId: 0 },
    ret: 5,
    errno: 0,
    durNs: 42_000,
    ...fields,
  };
}

export function marker(fields: Partial<MarkerRecord> = {}): MarkerRecord {
  return { type: "marker", seq: nextSeq++, ts: 2_000_000, thread: "vcpu0", text: "hello", ...fields };
}

export function stats(vcpu: number, ts: number, counters: StatsRecord["counters"]): StatsRecord {
  return { type: "stats", seq: nextSeq++, ts, vcpu, counters };
}

export function lost(fields: Partial<LostRecord> = {}): LostRecord {
  return { type: "lost", seq: nextSeq++, ts: 3_000_000, thread: "vcpu1", count: 17, ...fields };
}
