// dispatchExit on hand-made exits: a kvm_run page in a plain ArrayBuffer, real devices, no KVM.
import { describe, expect, it } from "vitest";
import { KvmRunPage, kvmLayout, monotonicNs } from "@kvmscope/kvm-binding";
import { EXIT_IO, EXIT_MMIO, H, RECORD_SIZE, RecordFlag, decodeRecord } from "@kvmscope/shared";
import { ExitAction, KVM_EXIT, dispatchExit } from "../src/vcpu/dispatch.js";
import { allocateDeviceMemory, createDevices } from "../src/devices/index.js";

function fixture() {
  const page = new KvmRunPage(new ArrayBuffer(3 * 4096));
  const markers: string[] = [];
  const exits: number[] = [];
  const devices = createDevices(allocateDeviceMemory(), { marker: (t) => markers.push(t), debugExit: (v) => exits.push(v), now: monotonicNs }, { userIrqchip: true });
  const rec = new DataView(new ArrayBuffer(RECORD_SIZE));
  return { page, v: page.view, devices, rec, markers, exits };
}

function ioExit(v: DataView, port: number, direction: 0 | 1, size: number, data: number[], count = 1): void {
  v.setUint32(kvmLayout("run.exit_reason"), KVM_EXIT.IO, true);
  v.setUint8(kvmLayout("run.io.direction"), direction);
  v.setUint8(kvmLayout("run.io.size"), size);
  v.setUint16(kvmLayout("run.io.port"), port, true);
  v.setUint32(kvmLayout("run.io.count"), count, true);
  v.setBigUint64(kvmLayout("run.io.data_offset"), 4096n, true);
  data.forEach((b, i) => v.setUint8(4096 + i, b));
}

describe("dispatchExit (no KVM needed)", () => {
  it("routes a 1-byte OUT on port 0x3f8 to the UART, whose output the main thread drains", () => {
    const f = fixture();
    ioExit(f.v, 0x3f8, 1, 1, [0x41]);
    expect(dispatchExit(f.page, f.devices, f.rec, 0)).toBe(ExitAction.Continue);
    expect([...f.devices.uart.drainOutput()]).toEqual([0x41]);
    expect(f.rec.getUint16(EXIT_IO.port, true)).toBe(0x3f8);
    expect(f.rec.getUint8(EXIT_IO.data)).toBe(0x41);
  });

  it("answers an IN from an unassigned port with all-ones, in the kvm_run data before the next KVM_RUN", () => {
    const f = fixture();
    ioExit(f.v, 0x1234, 0, 2, [0, 0]);
    dispatchExit(f.page, f.devices, f.rec, 0);
    expect([f.v.getUint8(4096), f.v.getUint8(4097)]).toEqual([0xff, 0xff]);
    expect(f.rec.getUint32(EXIT_IO.dataLen, true)).toBe(2);
  });

  it("loops string I/O count times, advancing by size, and records how much it could keep", () => {
    const f = fixture();
    const text = [...Array(100)].map((_, i) => 0x30 + (i % 10));
    ioExit(f.v, 0x3f8, 1, 1, text, 100);
    dispatchExit(f.page, f.devices, f.rec, 0);
    expect([...f.devices.uart.drainOutput()]).toEqual(text);
    const r = decodeRecord(new DataView(withHeader(f.rec).buffer), 0);
    expect(r.type === "exit" && r.io?.truncated).toBe(true);
    expect(r.type === "exit" && r.io?.dataLen).toBe(100);
    expect(f.rec.getUint8(H.flags) & RecordFlag.Truncated).toBe(RecordFlag.Truncated);
  });

  it("turns debugcon bytes into a marker at the newline and a write to 0xf4 into a debug exit", () => {
    const f = fixture();
    for (const b of [..."phase 1\n"].map((c) => c.charCodeAt(0))) {
      ioExit(f.v, 0xe9, 1, 1, [b]);
      dispatchExit(f.page, f.devices, f.rec, 0);
    }
    expect(f.markers).toEqual(["phase 1"]);
    ioExit(f.v, 0xf4, 1, 1, [3]);
    dispatchExit(f.page, f.devices, f.rec, 0);
    expect(f.exits).toEqual([3]);
  });

  it("answers an MMIO read of the teaching device's ID register and records address, length and data", () => {
    const f = fixture();
    f.v.setUint32(kvmLayout("run.exit_reason"), KVM_EXIT.MMIO, true);
    f.v.setBigUint64(kvmLayout("run.mmio.phys_addr"), 0xd0000000n, true);
    f.v.setUint32(kvmLayout("run.mmio.len"), 4, true);
    f.v.setUint8(kvmLayout("run.mmio.is_write"), 0);
    dispatchExit(f.page, f.devices, f.rec, 0);
    expect(f.v.getUint32(kvmLayout("run.mmio.data"), true)).toBe(0x534d564b);
    expect(f.rec.getFloat64(EXIT_MMIO.addr, true)).toBe(0xd0000000);
    expect(f.rec.getUint32(EXIT_MMIO.data, true)).toBe(0x534d564b);
  });

  it("drops an MMIO write where nothing lives, and still records it", () => {
    const f = fixture();
    f.v.setUint32(kvmLayout("run.exit_reason"), KVM_EXIT.MMIO, true);
    f.v.setBigUint64(kvmLayout("run.mmio.phys_addr"), 0xe0000000n, true);
    f.v.setUint32(kvmLayout("run.mmio.len"), 2, true);
    f.v.setUint8(kvmLayout("run.mmio.is_write"), 1);
    f.v.setUint16(kvmLayout("run.mmio.data"), 0xbeef, true);
    expect(dispatchExit(f.page, f.devices, f.rec, 0)).toBe(ExitAction.Continue);
    expect(f.rec.getUint8(EXIT_MMIO.isWrite)).toBe(1);
    expect(f.rec.getUint16(EXIT_MMIO.data, true)).toBe(0xbeef);
  });

  it("maps HLT, SHUTDOWN, INTERNAL_ERROR and an unknown reason to what the loop must do", () => {
    const f = fixture();
    const action = (reason: number) => {
      f.v.setUint32(kvmLayout("run.exit_reason"), reason, true);
      return dispatchExit(f.page, f.devices, f.rec, -1);
    };
    expect(action(KVM_EXIT.HLT)).toBe(ExitAction.Halt);
    expect(action(KVM_EXIT.IRQ_WINDOW_OPEN)).toBe(ExitAction.Continue);
    expect(action(KVM_EXIT.SHUTDOWN)).toBe(ExitAction.Shutdown);
    expect(action(KVM_EXIT.INTERNAL_ERROR)).toBe(ExitAction.InternalError);
    expect(action(KVM_EXIT.FAIL_ENTRY)).toBe(ExitAction.FailEntry);
    expect(action(KVM_EXIT.SYSTEM_EVENT)).toBe(ExitAction.SystemEvent);
    expect(action(KVM_EXIT.DEBUG)).toBe(ExitAction.Unhandled);
    expect(action(999)).toBe(ExitAction.Unhandled);
  });
});

/** The payload test above needs a decodable record: give it an exit header. */
function withHeader(rec: DataView): DataView {
  rec.setUint8(H.kind, 2);
  rec.setUint32(H.code, KVM_EXIT.IO, true);
  return rec;
}
