// dispatchExit and the exit recorder on hand-made exits: a kvm_run page in a plain ArrayBuffer,
// real devices, a real trace ring, no KVM.
import { describe, expect, it } from "vitest";
import { KvmRunPage, type Vcpu, kvmLayout, monotonicNs } from "@kvmscope/kvm-binding";
import { EXIT_IO, EXIT_MMIO, H, RECORD_SIZE, RecordFlag, type TraceRecord, decodeBatch } from "@kvmscope/shared";
import { ExitAction, KVM_EXIT, dispatchExit } from "../src/vcpu/dispatch.js";
import { allocateDeviceMemory, createDevices } from "../src/devices/index.js";
import { ExitRecorder } from "../src/trace/exit-recorder.js";
import { RingReader, TraceRing } from "../src/trace/ring.js";
import { Tracer } from "../src/trace/tracer.js";

function fixture() {
  const page = new KvmRunPage(new ArrayBuffer(3 * 4096));
  const markers: string[] = [];
  const exits: number[] = [];
  const devices = createDevices(allocateDeviceMemory(), { marker: (t) => markers.push(t), debugExit: (v) => exits.push(v), now: monotonicNs }, { userIrqchip: true });
  const ringSab = TraceRing.allocate(16);
  const tracer = new Tracer(ringSab, 0, monotonicNs(), { array: new Int32Array(new SharedArrayBuffer(4)), index: 0 });
  const vcpu = { id: 0, fd: 3, runPage: page, stamps: new Float64Array([monotonicNs(), monotonicNs()]) } as unknown as Vcpu;
  const recorder = new ExitRecorder(tracer, vcpu);
  const reader = new RingReader(ringSab);
  // The exit loop's steps 4-6 for one exit: record, dispatch, handling over. The record as bytes, and decoded.
  const handle = (): { action: ExitAction; bytes: DataView; record: TraceRecord } => {
    recorder.record(0);
    const action = dispatchExit(page, devices);
    recorder.finish();
    const raw = new Uint8Array(RECORD_SIZE);
    reader.drain((view, at) => raw.set(new Uint8Array(view.buffer, at, RECORD_SIZE)));
    return { action, bytes: new DataView(raw.buffer), record: decodeBatch(raw)[0]! };
  };
  return { page, v: page.view, devices, markers, exits, handle };
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
    const { action, bytes } = f.handle();
    expect(action).toBe(ExitAction.Continue);
    expect([...f.devices.uart.drainOutput()]).toEqual([0x41]);
    expect(bytes.getUint16(EXIT_IO.port, true)).toBe(0x3f8);
    expect(bytes.getUint8(EXIT_IO.data)).toBe(0x41);
  });

  it("answers an IN from an unassigned port with all-ones, in the kvm_run data before the next KVM_RUN", () => {
    const f = fixture();
    ioExit(f.v, 0x1234, 0, 2, [0, 0]);
    const { bytes, record } = f.handle();
    expect([f.v.getUint8(4096), f.v.getUint8(4097)]).toEqual([0xff, 0xff]);
    expect(bytes.getUint32(EXIT_IO.dataLen, true)).toBe(2);
    // The record keeps what the VMM answered, not what the page held before the handler ran.
    expect(record.type === "exit" && record.io?.data).toEqual([0xff, 0xff]);
  });

  it("loops string I/O count times, advancing by size, and records how much it could keep", () => {
    const f = fixture();
    const text = [...Array(100)].map((_, i) => 0x30 + (i % 10));
    ioExit(f.v, 0x3f8, 1, 1, text, 100);
    const { bytes, record: r } = f.handle();
    expect([...f.devices.uart.drainOutput()]).toEqual(text);
    expect(r.type === "exit" && r.io?.truncated).toBe(true);
    expect(r.type === "exit" && r.io?.dataLen).toBe(100);
    expect(bytes.getUint8(H.flags) & RecordFlag.Truncated).toBe(RecordFlag.Truncated);
  });

  it("turns debugcon bytes into a marker at the newline and a write to 0xf4 into a debug exit", () => {
    const f = fixture();
    for (const b of [..."phase 1\n"].map((c) => c.charCodeAt(0))) {
      ioExit(f.v, 0xe9, 1, 1, [b]);
      f.handle();
    }
    expect(f.markers).toEqual(["phase 1"]);
    ioExit(f.v, 0xf4, 1, 1, [3]);
    f.handle();
    expect(f.exits).toEqual([3]);
  });

  it("answers an MMIO read of the teaching device's ID register and records address, length and data", () => {
    const f = fixture();
    f.v.setUint32(kvmLayout("run.exit_reason"), KVM_EXIT.MMIO, true);
    f.v.setBigUint64(kvmLayout("run.mmio.phys_addr"), 0xd0000000n, true);
    f.v.setUint32(kvmLayout("run.mmio.len"), 4, true);
    f.v.setUint8(kvmLayout("run.mmio.is_write"), 0);
    const { bytes } = f.handle();
    expect(f.v.getUint32(kvmLayout("run.mmio.data"), true)).toBe(0x534d564b);
    expect(bytes.getFloat64(EXIT_MMIO.addr, true)).toBe(0xd0000000);
    expect(bytes.getUint32(EXIT_MMIO.data, true)).toBe(0x534d564b);
  });

  it("drops an MMIO write where nothing lives, and still records it", () => {
    const f = fixture();
    f.v.setUint32(kvmLayout("run.exit_reason"), KVM_EXIT.MMIO, true);
    f.v.setBigUint64(kvmLayout("run.mmio.phys_addr"), 0xe0000000n, true);
    f.v.setUint32(kvmLayout("run.mmio.len"), 2, true);
    f.v.setUint8(kvmLayout("run.mmio.is_write"), 1);
    f.v.setUint16(kvmLayout("run.mmio.data"), 0xbeef, true);
    const { action, bytes } = f.handle();
    expect(action).toBe(ExitAction.Continue);
    expect(bytes.getUint8(EXIT_MMIO.isWrite)).toBe(1);
    expect(bytes.getUint16(EXIT_MMIO.data, true)).toBe(0xbeef);
  });

  it("maps HLT, SHUTDOWN, INTERNAL_ERROR and an unknown reason to what the loop must do", () => {
    const f = fixture();
    const action = (reason: number) => {
      f.v.setUint32(kvmLayout("run.exit_reason"), reason, true);
      return dispatchExit(f.page, f.devices);
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

  it("records an exit that ends the run with what KVM said about it, and its handling time", () => {
    const f = fixture();
    f.v.setUint32(kvmLayout("run.exit_reason"), KVM_EXIT.FAIL_ENTRY, true);
    f.v.setBigUint64(kvmLayout("run.fail_entry.hardware_entry_failure_reason"), 0x21n, true);
    const { action, record } = f.handle();
    expect(action).toBe(ExitAction.FailEntry);
    expect(record).toMatchObject({ type: "exit", reason: "KVM_EXIT_FAIL_ENTRY", failEntry: { reason: 0x21 } });
    expect(record.type === "exit" && record.handleNs).toBeGreaterThanOrEqual(0);
  });
});
