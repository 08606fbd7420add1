import { describe, expect, it } from "vitest";
import {
  decodeBatch, decodeRecord, encodeBatch, encodeRecord, EXIT_IO, EXIT_MMIO, H, IO_INLINE_BYTES, IOCTL, KvmExit, MAIN_THREAD,
  MARKER, MARKER_TEXT_BYTES, RECORD_SIZE, RecordFlag, RecordKind, STATS, type TraceRecord, validateRecord,
} from "../src/index.js";
import { exit, ioctl, lost, marker, stats } from "./fixtures.js";

function roundTrip(rec: TraceRecord): TraceRecord {
  const view = new DataView(new ArrayBuffer(RECORD_SIZE));
  encodeRecord(rec, view, 0);
  return decodeRecord(view, 0);
}

function encoded(rec: TraceRecord): DataView {
  const view = new DataView(new ArrayBuffer(RECORD_SIZE));
  encodeRecord(rec, view, 0);
  return view;
}

describe("the binary codec", () => {
  it("round-trips an ioctl with its named arguments", () => {
    const rec = ioctl({ name: "KVM_SET_USER_MEMORY_REGION", args: { slot: 0, guestPhysAddr: 0, memorySize: 0x20_0000 }, ret: 0, fd: 4 });
    expect(roundTrip(rec)).toEqual(rec);
  });

  it("round-trips a failed ioctl and adds its symbolic errno", () => {
    const rec = ioctl({ name: "KVM_CREATE_VCPU", args: { vcpuId: 0 }, ret: -1, errno: 17, thread: "vcpu0" });
    expect(roundTrip(rec)).toEqual({ ...rec, error: "EEXIST" });
  });

  it("stores the main thread as MAIN_THREAD and an ioctl's fd in aux", () => {
    const view = encoded(ioctl({ thread: "main", fd: 9 }));
    expect(view.getUint8(H.kind)).toBe(RecordKind.Ioctl);
    expect(view.getUint16(H.thread, true)).toBe(MAIN_THREAD);
    expect(view.getUint32(H.aux, true)).toBe(9);
    expect(view.getUint32(H.code, true)).toBe(14); // KVM_CREATE_VCPU
    expect(view.getUint8(IOCTL.nargs)).toBe(1);
  });

  it("round-trips an OUT exit and lays it out at the offsets record-layout.ts gives", () => {
    const rec = exit(KvmExit.IO, { vcpu: 3, io: { port: 0x3f8, size: 1, direction: "out", count: 1, data: [0x41] } });
    expect(roundTrip(rec)).toEqual(rec);
    const view = encoded(rec);
    expect(view.getUint8(H.kind)).toBe(RecordKind.Exit);
    expect(view.getUint16(H.thread, true)).toBe(3);
    expect(view.getUint32(H.code, true)).toBe(2);
    expect(view.getUint32(H.aux, true)).toBe(1); // ifFlag only
    expect(view.getFloat64(H.dur, true)).toBe(6_000);
    expect(view.getUint16(EXIT_IO.port, true)).toBe(0x3f8);
    expect(view.getUint8(EXIT_IO.direction)).toBe(1);
    expect(view.getUint32(EXIT_IO.dataLen, true)).toBe(1);
    expect(view.getUint8(EXIT_IO.data)).toBe(0x41);
    expect(view.getUint8(H.flags)).toBe(0);
  });

  it("round-trips an IN exit with the VMM's answer and every kvm_run flag set", () => {
    const rec = exit(KvmExit.IO, {
      ifFlag: true, readyForInjection: true, requestedWindow: true,
      io: { port: 0x60, size: 2, direction: "in", count: 2, data: [1, 2, 3, 4] },
    });
    expect(roundTrip(rec)).toEqual(rec);
    expect(encoded(rec).getUint32(H.aux, true)).toBe(7);
  });

  it("truncates string I/O beyond IO_INLINE_BYTES and says how much there was", () => {
    const data = Array.from({ length: 100 }, (_, i) => i);
    const rec = exit(KvmExit.IO, { io: { port: 0xe9, size: 1, direction: "out", count: 100, data } });
    const view = encoded(rec);
    expect(view.getUint8(H.flags) & RecordFlag.Truncated).toBe(RecordFlag.Truncated);
    expect(view.getUint32(EXIT_IO.dataLen, true)).toBe(100);
    const back = decodeRecord(view, 0);
    expect(back.type === "exit" && back.io).toEqual({
      port: 0xe9, size: 1, direction: "out", count: 100, data: data.slice(0, IO_INLINE_BYTES), dataLen: 100, truncated: true,
    });
    // Decoded-then-re-encoded stays truncated with the original length.
    expect(roundTrip(back)).toEqual(back);
  });

  it("round-trips an MMIO write exit through the binary codec", () => {
    const rec = exit(KvmExit.MMIO, { mmio: { addr: 0xfee0_0300, len: 4, isWrite: true, data: [0xef, 0xbe, 0xad, 0xde] } });
    expect(roundTrip(rec)).toEqual(rec);
    const view = encoded(rec);
    expect(view.getFloat64(EXIT_MMIO.addr, true)).toBe(0xfee0_0300);
    expect(view.getUint8(EXIT_MMIO.data + 3)).toBe(0xde);
  });

  it("round-trips an 8-byte MMIO read exit", () => {
    const rec = exit(KvmExit.MMIO, { mmio: { addr: 0xd000_0000, len: 8, isWrite: false, data: [1, 2, 3, 4, 5, 6, 7, 8] } });
    expect(roundTrip(rec)).toEqual(rec);
  });

  it("round-trips an internal error with its data and instruction bytes", () => {
    const rec = exit(KvmExit.INTERNAL_ERROR, {
      internal: { suberror: 1, suberrorName: "KVM_INTERNAL_ERROR_EMULATION", data: [1, 0x0f], insn: [0x0f, 0x01, 0xd9] },
    });
    expect(roundTrip(rec)).toEqual(rec);
  });

  it("round-trips the payloads of FAIL_ENTRY, SYSTEM_EVENT, DEBUG, EXCEPTION, HYPERCALL and UNKNOWN exits", () => {
    const recs = [
      exit(KvmExit.FAIL_ENTRY, { failEntry: { reason: 0x80000021, cpu: 1 } }),
      exit(KvmExit.SYSTEM_EVENT, { systemEvent: { type: 2, typeName: "KVM_SYSTEM_EVENT_RESET", data: 0 } }),
      exit(KvmExit.DEBUG, { debug: { exception: 1, pc: 0x7c10, dr6: 0xffff4ff0, dr7: 0x400 } }),
      exit(KvmExit.EXCEPTION, { exception: { exception: 13, errorCode: 0x18 } }),
      exit(KvmExit.HYPERCALL, { hypercall: { nr: 9 } }),
      exit(KvmExit.UNKNOWN, { unknown: { hardwareExitReason: 0x7b } }),
    ];
    for (const rec of recs) expect(roundTrip(rec), rec.reason).toEqual(rec);
  });

  it("round-trips exits that carry no payload, and a reason code this table does not know", () => {
    for (const code of [KvmExit.HLT, KvmExit.SHUTDOWN, KvmExit.IRQ_WINDOW_OPEN, KvmExit.INTR, 99]) {
      const rec = exit(code);
      expect(roundTrip(rec)).toEqual(rec);
    }
    expect(roundTrip(exit(99))).toMatchObject({ reason: "KVM_EXIT_99", code: 99 });
  });

  it("refuses to encode an IO exit without its io payload", () => {
    expect(() => encoded(exit(KvmExit.IO))).toThrow(TypeError);
  });

  it("round-trips a marker, and cuts a long one at a character boundary", () => {
    const rec = marker({ text: "boot: real mode ✓" });
    expect(roundTrip(rec)).toEqual(rec);

    const long = marker({ text: "é".repeat(50) }); // 100 bytes of UTF-8
    const view = encoded(long);
    expect(view.getUint16(MARKER.textLen, true)).toBe(100);
    expect(view.getUint8(H.flags)).toBe(RecordFlag.Truncated);
    const back = decodeRecord(view, 0);
    expect(back).toEqual({ ...long, text: "é".repeat(MARKER_TEXT_BYTES / 2), truncated: true });
  });

  it("round-trips a stats sample and stores a counter the kernel lacks as -1", () => {
    const rec = stats(1, 5_000, { exits: 1234, io_exits: 1000, halt_exits: 3 });
    expect(roundTrip(rec)).toEqual(rec);
    const view = encoded(rec);
    expect(view.getFloat64(STATS.values, true)).toBe(1234);
    expect(view.getFloat64(STATS.values + 8 * 2, true)).toBe(-1); // mmio_exits
  });

  it("round-trips a lost-records count", () => {
    const rec = lost({ thread: "vcpu1", count: 17 });
    expect(roundTrip(rec)).toEqual(rec);
  });

  it("encodes and decodes a batch of records back to back, from any offset of a shared buffer", () => {
    const recs: TraceRecord[] = [
      ioctl(), exit(KvmExit.HLT), marker(), stats(0, 9, { exits: 1 }), lost(),
      exit(KvmExit.IO, { io: { port: 1, size: 4, direction: "out", count: 1, data: [1, 2, 3, 4] } }),
    ];
    const bytes = encodeBatch(recs);
    expect(bytes.byteLength).toBe(recs.length * RECORD_SIZE);
    expect(decodeBatch(bytes)).toEqual(recs);

    const shared = new Uint8Array(new SharedArrayBuffer(bytes.byteLength + 16));
    shared.set(bytes, 16);
    expect(decodeBatch(shared.subarray(16))).toEqual(recs);
  });

  it("rejects a batch whose length is not a whole number of records", () => {
    expect(() => decodeBatch(new Uint8Array(RECORD_SIZE + 1))).toThrow(RangeError);
  });

  it("decodes a record kind it does not know as \"unknown\", keeping its header, and writes that header back", () => {
    const bytes = new Uint8Array(RECORD_SIZE);
    const view = new DataView(bytes.buffer);
    bytes[H.kind] = 9;
    view.setUint16(H.thread, 1, true);
    view.setUint32(H.seq, 77, true);
    view.setFloat64(H.ts, 1234.5, true);
    view.setFloat64(40, 99, true); // a payload this version cannot read
    const [rec] = decodeBatch(bytes);
    expect(rec).toEqual({ type: "unknown", seq: 77, ts: 1234.5, kind: 9, thread: "vcpu1" });
    const again = encodeBatch([rec!]);
    expect([...again.subarray(0, 32)]).toEqual([...bytes.subarray(0, 32)]);
    expect(validateRecord(rec)).toBeUndefined();
    expect(validateRecord({ ...rec, kind: 2 })).toMatch(/known kind/);
  });

  it("carries an exit whose payload was not observed without one, flagged, both ways", () => {
    const rec = exit(KvmExit.IO, { unobserved: true });
    const bytes = encodeBatch([rec]);
    expect(bytes[H.flags]! & RecordFlag.PayloadUnobserved).toBe(RecordFlag.PayloadUnobserved);
    const [back] = decodeBatch(bytes);
    expect(back).toEqual(rec);
    expect(back).not.toHaveProperty("io");
    expect(validateRecord(back)).toBeUndefined();
  });

  it("zeroes a reused slot so an earlier payload cannot leak into a later record", () => {
    const view = new DataView(new ArrayBuffer(RECORD_SIZE));
    encodeRecord(exit(KvmExit.IO, { io: { port: 1, size: 1, direction: "out", count: 64, data: new Array(64).fill(0xaa) } }), view, 0);
    encodeRecord(exit(KvmExit.HLT), view, 0);
    expect(new Uint8Array(view.buffer, 48).every((b) => b === 0)).toBe(true);
  });

  // How fast is a benchmark's question (npm run bench:web times the page's decoding), not a test's.
  it("decodes a hundred thousand exit records in one batch, each the record that was encoded", () => {
    const rec = exit(KvmExit.IO, { io: { port: 0xe9, size: 1, direction: "out", count: 1, data: [65] } });
    const one = encodeBatch([rec]);
    const bytes = new Uint8Array(100_000 * RECORD_SIZE);
    for (let i = 0; i < 100_000; i++) bytes.set(one, i * RECORD_SIZE);
    const out = decodeBatch(bytes);
    expect(out).toHaveLength(100_000);
    expect(out[0]).toEqual(decodeBatch(one)[0]);
    expect(out[99_999]).toEqual(out[0]);
  });
});
