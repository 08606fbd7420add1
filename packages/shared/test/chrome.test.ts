import { describe, expect, it } from "vitest";
import { CHROME_GUEST_SPAN, ChromeTraceWriter, chromeTid, KvmExit, MAIN_THREAD, type TraceRecord } from "../src/index.js";
import { exit, ioctl, lost, marker, stats } from "./fixtures.js";

interface Ev {
  name: string;
  ph: string;
  ts?: number;
  dur?: number;
  pid: number;
  tid: number;
  s?: string;
  args?: Record<string, unknown>;
}

function render(records: TraceRecord[], chunkChars?: number): { json: { traceEvents: Ev[]; displayTimeUnit: string; metadata: Record<string, unknown> }; chunks: number } {
  const chunks: string[] = [];
  const w = new ChromeTraceWriter((c) => chunks.push(c), { metadata: { runId: "r1" }, vcpus: 1, ...(chunkChars ? { chunkChars } : {}) });
  for (const r of records) w.write(r);
  w.end({ exits: 2 });
  return { json: JSON.parse(chunks.join("")), chunks: chunks.length };
}

const records: TraceRecord[] = [
  ioctl({ seq: 1, ts: 1_000, durNs: 2_500, name: "KVM_CREATE_VM", fd: 3, args: { type: 0 }, ret: 4 }),
  ioctl({ seq: 2, ts: 5_000, durNs: 700, thread: "vcpu1", name: "KVM_SET_REGS", fd: 6, args: { rip: 0x7c00 }, ret: 0 }),
  exit(KvmExit.IO, { seq: 3, vcpu: 0, ts: 1_000_000, guestNs: 6_000, handleNs: 1_500, io: { port: 0xe9, size: 1, direction: "out", count: 1, data: [72] } }),
  exit(KvmExit.HLT, { seq: 4, vcpu: 1, ts: 2_000_000, guestNs: 10_000, handleNs: 250 }),
  marker({ seq: 5, ts: 1_200_000, thread: "vcpu0", text: "hello" }),
  stats(0, 3_000_000, { exits: 120, io_exits: 100 }),
  lost({ seq: 6, ts: 3_500_000, thread: "vcpu1", count: 4 }),
];

describe("the Chrome trace writer", () => {
  it("produces one JSON object with traceEvents, displayTimeUnit and merged metadata", () => {
    const { json } = render(records);
    expect(Array.isArray(json.traceEvents)).toBe(true);
    expect(json.displayTimeUnit).toBe("ns");
    expect(json.metadata).toEqual({ runId: "r1", exits: 2 });
  });

  it("names one process and one track per thread: the main thread and each vCPU thread", () => {
    const { json } = render(records);
    const meta = json.traceEvents.filter((e) => e.ph === "M");
    expect(meta.filter((e) => e.name === "process_name").map((e) => e.args?.name)).toEqual(["kvmscope VMM"]);
    const names = meta.filter((e) => e.name === "thread_name").map((e) => [e.tid, e.args?.name]);
    expect(names).toEqual([[chromeTid(MAIN_THREAD), "main thread"], [chromeTid(0), "vCPU 0 thread"], [chromeTid(1), "vCPU 1 thread"]]);
    expect(new Set(names.map(([tid]) => tid)).size).toBe(3);
    const sort = meta.filter((e) => e.name === "thread_sort_index").map((e) => [e.tid, e.args?.sort_index]);
    expect(sort).toEqual([[1, 0], [2, 1], [3, 2]]);
    expect(json.traceEvents.every((e) => e.pid === 1)).toBe(true);
  });

  it("draws each exit as time in the guest followed by the reason's handling, in microseconds", () => {
    const { json } = render(records);
    const onVcpu0 = json.traceEvents.filter((e) => e.ph === "X" && e.tid === chromeTid(0));
    expect(onVcpu0.map((e) => [e.name, e.ts, e.dur])).toEqual([
      [CHROME_GUEST_SPAN, 994, 6],
      ["KVM_EXIT_IO", 1000, 1.5],
    ]);
    expect(onVcpu0[1]!.args).toMatchObject({ seq: 3, code: 2, rip: "0x7c05", io: { port: 0xe9, direction: "out", data: [72] } });
    const hlt = json.traceEvents.find((e) => e.name === "KVM_EXIT_HLT");
    expect(hlt).toMatchObject({ tid: chromeTid(1), ts: 2000, dur: 0.25 });
  });

  it("puts each ioctl on the thread that issued it", () => {
    const { json } = render(records);
    expect(json.traceEvents.find((e) => e.name === "KVM_CREATE_VM")).toMatchObject({ ph: "X", tid: 1, ts: 1, dur: 2.5, args: { fd: 3, type: 0, ret: 4 } });
    expect(json.traceEvents.find((e) => e.name === "KVM_SET_REGS")).toMatchObject({ tid: chromeTid(1), ts: 5, args: { rip: 0x7c00 } });
  });

  it("marks markers and lost records as thread-scoped instants and stats as raw counters", () => {
    const { json } = render(records);
    expect(json.traceEvents.find((e) => e.name === "hello")).toMatchObject({ ph: "i", s: "t", tid: chromeTid(0), ts: 1200 });
    expect(json.traceEvents.find((e) => e.name === "lost 4 records")).toMatchObject({ ph: "i", s: "t", tid: chromeTid(1), ts: 3500 });
    const counters = json.traceEvents.filter((e) => e.ph === "C").map((e) => [e.name, e.ts, e.args]);
    expect(counters).toEqual([
      ["vCPU 0 exits", 3000, { exits: 120 }],
      ["vCPU 0 io_exits", 3000, { io_exits: 100 }],
    ]);
  });

  it("streams in chunks whose concatenation is the same document", () => {
    const small = render(records, 200);
    expect(small.chunks).toBeGreaterThan(3);
    expect(small.json).toEqual(render(records).json);
  });

  it("is valid JSON even with no records", () => {
    const chunks: string[] = [];
    const w = new ChromeTraceWriter((c) => chunks.push(c));
    w.end();
    expect(JSON.parse(chunks.join("")).traceEvents.map((e: Ev) => e.name)).toEqual(["process_name", "thread_name", "thread_sort_index"]);
  });
});
