import { describe, expect, it } from "vitest";
import { KvmExit, type ExitRecord } from "@kvmscope/shared";
import {
  DEVICE_MODELS, deviceOfAddress, deviceOfExit, deviceOfPort, deviceOfRow, devicesFor,
} from "../src/lib/devices";
import { TraceStore } from "../src/lib/trace-store";
import * as layout from "../../vmm/src/layout";

// Exit records as the VMM wrote them. Commands (run from /work/main):
//   node apps/vmm/bin/kvmscope.js run hello --format ndjson --trace /tmp/h2-hello.ndjson
//   node apps/vmm/bin/kvmscope.js run timer --format ndjson --trace /tmp/h2-timer.ndjson
//   node apps/vmm/bin/kvmscope.js run mmio  --format ndjson --trace /tmp/h2-mmio.ndjson
//   node apps/vmm/bin/kvmscope.js run smp --vcpus 2 --format ndjson --trace /tmp/h2-smp.ndjson
const base = { ifFlag: false, readyForInjection: false, requestedWindow: false };
function io(seq: number, ts: number, vcpu: number, rip: number, port: number, direction: "in" | "out", data: number[], guestNs: number, handleNs: number): ExitRecord {
  return { type: "exit", seq, ts, vcpu, reason: "KVM_EXIT_IO", code: KvmExit.IO, rip, guestNs, handleNs, ...base, io: { port, size: 1, direction, count: 1, data } };
}
function mmio(seq: number, ts: number, vcpu: number, rip: number, addr: number, isWrite: boolean, data: number[], guestNs: number, handleNs: number): ExitRecord {
  return { type: "exit", seq, ts, vcpu, reason: "KVM_EXIT_MMIO", code: KvmExit.MMIO, rip, guestNs, handleNs, ...base, mmio: { addr, len: data.length, isWrite, data } };
}
function bare(seq: number, ts: number, vcpu: number, code: number, rip: number, guestNs: number, handleNs: number): ExitRecord {
  return { type: "exit", seq, ts, vcpu, reason: code === KvmExit.HLT ? "KVM_EXIT_HLT" : `KVM_EXIT_${code}`, code, rip, guestNs, handleNs, ...base };
}

const observed: ExitRecord[] = [
  // hello: the UART's transmit register
  io(23, 395963243, 0, 31757, 0x3f8, "out", [72], 209823, 745789),
  bare(45, 398076135, 0, KvmExit.HLT, 31761, 13485, 6412),
  // timer: PIC, PIT, debugcon
  io(380, 427410040, 0, 31846, 0x20, "in", [0], 8746, 247263),
  io(400, 459128296, 0, 31926, 0x20, "out", [32], 14738, 308909),
  io(383, 430057474, 0, 31958, 0xe9, "out", [115], 28173, 282840),
  // mmio: the teaching device's ID, SCRATCH, DOORBELL, and an address where nothing lives
  mmio(100, 312841649, 0, 31814, 0xd0000000, false, [75, 86, 77, 83], 10249, 1515402),
  mmio(117, 318673114, 0, 31887, 0xd0000004, true, [222, 192, 173, 27], 112010, 534122),
  mmio(227, 329064830, 0, 31972, 0xd000000c, true, [1, 0, 0, 0], 8205, 24716),
  mmio(284, 330381619, 0, 31992, 0xe0000000, false, [255, 255, 255, 255], 9838, 12754),
  // smp: vCPU 1 on the debug console
  io(30, 451013029, 1, 31869, 0xe9, "out", [108], 197070, 435286),
];

describe("deviceOfExit", () => {
  it("sends the hello guest's OUT to port 0x3f8 to the UART", () => {
    expect(deviceOfExit(observed[0]!)?.id).toBe("uart");
  });

  it("names no device for a HLT: the vCPU thread handles it itself", () => {
    expect(deviceOfExit(observed[1]!)).toBeNull();
  });

  it("sends the timer guest's accesses to port 0x20 to the PIC and its markers to debugcon", () => {
    expect(deviceOfExit(observed[2]!)?.id).toBe("pic");
    expect(deviceOfExit(observed[3]!)?.id).toBe("pic");
    expect(deviceOfExit(observed[4]!)?.id).toBe("debugcon");
  });

  it("sends MMIO exits inside the teaching device's page to it, and the read at 0xe0000000 to nobody", () => {
    expect(observed.slice(5, 8).map((r) => deviceOfExit(r)?.id)).toEqual(["mmio", "mmio", "mmio"]);
    expect(deviceOfExit(observed[8]!)?.id).toBe("unassigned");
  });

  it("gives ioctls and markers no device", () => {
    expect(deviceOfExit({ type: "marker", seq: 1, ts: 1, thread: "main", text: "x" })).toBeNull();
  });
});

describe("the port map", () => {
  it("places every device model at the range apps/vmm/src/layout.ts gives it", () => {
    const expected: [layout.AddressRange, string][] = [
      [layout.PIC_MASTER_PORTS, "pic"],
      [layout.PIC_SLAVE_PORTS, "pic"],
      [layout.PIT_PORTS, "pit"],
      [layout.SYSTEM_CONTROL_PORT_B, "pit"],
      [layout.POST_CODE_PORT, "post"],
      [layout.DEBUGCON_PORT, "debugcon"],
      [layout.DEBUG_EXIT_PORT, "debug-exit"],
      [layout.COM1_PORTS, "uart"],
    ];
    for (const [range, id] of expected) {
      expect(deviceOfPort(range.base).id).toBe(id);
      expect(deviceOfPort(range.base + range.length - 1).id).toBe(id);
      expect(deviceOfPort(range.base + range.length).id).not.toBe(id);
    }
    const mm = layout.TEACHING_DEVICE_MMIO;
    expect(deviceOfAddress(mm.base).id).toBe("mmio");
    expect(deviceOfAddress(mm.base + mm.length - 1).id).toBe("mmio");
    expect(deviceOfAddress(mm.base + mm.length).id).toBe("unassigned");
    expect(deviceOfAddress(mm.base - 1).id).toBe("unassigned");
  });

  it("claims no port that layout.ts does not list", () => {
    const listed = new Set<number>();
    for (const r of [layout.PIC_MASTER_PORTS, layout.PIC_SLAVE_PORTS, layout.PIT_PORTS, layout.SYSTEM_CONTROL_PORT_B,
      layout.POST_CODE_PORT, layout.DEBUGCON_PORT, layout.DEBUG_EXIT_PORT, layout.COM1_PORTS]) {
      for (let p = r.base; p < r.base + r.length; p++) listed.add(p);
    }
    const claimed: string[] = [];
    for (let port = 0; port < 0x10000; port++) {
      if (!listed.has(port) && deviceOfPort(port).id !== "unassigned") claimed.push(`0x${port.toString(16)}`);
    }
    expect(claimed).toEqual([]);
  });

  it("leaves the PIC and PIT off the userspace buses when the irqchip is in the kernel", () => {
    expect(devicesFor("user").map((d) => d.id)).toEqual(DEVICE_MODELS.map((d) => d.id));
    expect(devicesFor("kernel").map((d) => d.id)).toEqual(["post", "debugcon", "debug-exit", "uart", "mmio"]);
  });
});

describe("deviceOfRow", () => {
  it("agrees with deviceOfExit for every exit held in a store, without decoding the record", () => {
    const store = new TraceStore();
    store.appendRecords([...observed].sort((a, b) => a.seq - b.seq));
    for (let row = 0; row < store.count; row++) {
      expect(deviceOfRow(store, row)?.id ?? null).toBe(deviceOfExit(store.record(row))?.id ?? null);
    }
  });
});
