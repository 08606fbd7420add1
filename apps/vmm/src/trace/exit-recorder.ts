// One vCPU thread's exit records: what the exit loop hands the trace, kept out of the loop's way.
// An exit's record is opened when KVM_RUN returns (record) and published when its handling ends,
// just before the next KVM_RUN (finish): `handleNs` is the time in userspace between the two.
// Anything that writes another record first, or that waits (a pause, HLT), finishes it earlier.
//
// The fields KVM left in the kvm_run page are written at record(); the data bytes of an I/O or
// MMIO exit at finish(), after the handler ran, so that for an IN or an MMIO read they are what
// the VMM answered (the page still holds them: nothing touches it before the next KVM_RUN).
import type { KvmRunPage, Vcpu } from "@kvmscope/kvm-binding";
import { monotonicNs } from "@kvmscope/kvm-binding";
import {
  EXIT, EXIT_DEBUG, EXIT_EXCEPTION, EXIT_FAIL_ENTRY, EXIT_HYPERCALL, EXIT_INTERNAL, EXIT_IO, EXIT_MMIO,
  EXIT_SYSTEM_EVENT, EXIT_UNKNOWN, ExitFlag, H, IO_INLINE_BYTES, KvmExit, RecordFlag, RecordKind,
} from "@kvmscope/shared";
import type { RingWriter } from "./ring.js";
import type { Tracer } from "./tracer.js";

export class ExitRecorder {
  readonly #tracer: Tracer;
  readonly #ring: RingWriter;
  readonly #rec: DataView;
  readonly #f64: Float64Array;
  readonly #u32: Uint32Array;
  readonly #u8: Uint8Array;
  readonly #vcpu: Vcpu;
  readonly #page: KvmRunPage;
  readonly #stamps: Float64Array;
  readonly #t0: number;
  /** Byte offset of the open record in the ring, or -1 (none open, or the ring was full). */
  #at = -1;
  #reason = 0;
  #returned = 0;

  constructor(tracer: Tracer, vcpu: Vcpu) {
    this.#tracer = tracer;
    this.#ring = tracer.ring;
    this.#rec = tracer.ring.view;
    this.#f64 = tracer.ring.f64;
    this.#u32 = tracer.ring.u32;
    this.#u8 = new Uint8Array(this.#rec.buffer);
    this.#vcpu = vcpu;
    this.#page = vcpu.runPage;
    this.#stamps = vcpu.stamps;
    this.#t0 = tracer.t0;
  }

  /** KVM_RUN returned -EINTR/-EAGAIN before the guest ran (a kick): an ioctl record, not an exit. */
  interrupted(ret: number): void {
    const s = this.#stamps;
    this.#tracer.ioctl({ name: "KVM_RUN", fd: this.#vcpu.fd, args: [], ret: -1, errno: -ret, startNs: s[0] ?? 0, durNs: (s[1] ?? 0) - (s[0] ?? 0) });
  }

  /**
   * KVM_RUN returned with an exit: opens its record with what KVM left in the kvm_run page
   * (`requestedWindow`: whether we had asked for an interrupt window before entering).
   */
  record(requestedWindow: number): void {
    const page = this.#page;
    const reason = page.exitReason;
    const returned = this.#stamps[1] ?? 0;
    this.#reason = reason;
    this.#returned = returned;
    const at = this.#ring.reserve(RecordKind.Exit);
    this.#at = at;
    if (at < 0) return; // dropped (the ring is full) and counted; the exit is handled all the same
    const f64 = this.#f64;
    const u32 = this.#u32;
    f64[(at + H.ts) >> 3] = returned - this.#t0;
    u32[(at + H.code) >> 2] = reason;
    u32[(at + H.aux) >> 2] = (page.ifFlag ? ExitFlag.IfFlag : 0) | (page.readyForInterruptInjection ? ExitFlag.ReadyForInjection : 0) | (requestedWindow ? ExitFlag.RequestedWindow : 0);
    f64[(at + H.dur) >> 3] = returned - (this.#stamps[0] ?? 0);
    f64[(at + EXIT.rip) >> 3] = page.syncRip;
    if (reason !== KvmExit.IO && reason !== KvmExit.MMIO) recordPayload(page, this.#rec, at, reason);
  }

  /** The open record's handling is over: its data bytes, its handleNs, and out it goes. */
  finish(): void {
    const at = this.#at;
    if (at < 0) return;
    this.#at = -1;
    if (this.#reason === KvmExit.IO) this.#ioPayload(at);
    else if (this.#reason === KvmExit.MMIO) this.#mmioPayload(at);
    this.#f64[(at + EXIT.handleNs) >> 3] = monotonicNs() - this.#returned;
    this.#ring.publish();
  }

  #ioPayload(at: number): void {
    const page = this.#page;
    const rec = this.#rec;
    const size = page.ioSize;
    const count = page.ioCount;
    const total = size * count;
    const kept = Math.min(total, IO_INLINE_BYTES);
    rec.setUint16(at + EXIT_IO.port, page.ioPort, true);
    rec.setUint8(at + EXIT_IO.size, size);
    rec.setUint8(at + EXIT_IO.direction, page.ioDirection);
    rec.setUint32(at + EXIT_IO.count, count, true);
    rec.setUint32(at + EXIT_IO.dataLen, total, true);
    const bytes = page.bytes;
    const base = page.ioDataOffset;
    const u8 = this.#u8;
    for (let j = 0; j < kept; j++) u8[at + EXIT_IO.data + j] = bytes[base + j] ?? 0;
    if (kept < total) rec.setUint8(at + H.flags, RecordFlag.Truncated);
  }

  #mmioPayload(at: number): void {
    const page = this.#page;
    const rec = this.#rec;
    const len = page.mmioLen;
    const base = page.mmioDataOffset;
    const bytes = page.bytes;
    rec.setFloat64(at + EXIT_MMIO.addr, page.mmioPhysAddrNumber, true);
    rec.setUint32(at + EXIT_MMIO.len, len, true);
    rec.setUint8(at + EXIT_MMIO.isWrite, page.mmioIsWrite !== 0 ? 1 : 0);
    for (let j = 0; j < 8; j++) rec.setUint8(at + EXIT_MMIO.data + j, j < len ? (bytes[base + j] ?? 0) : 0);
  }
}

/** The payload of the exits that end the run (or that we do not handle), as KVM described them. */
function recordPayload(page: KvmRunPage, rec: DataView, at: number, reason: number): void {
  switch (reason) {
    case KvmExit.FAIL_ENTRY:
      rec.setFloat64(at + EXIT_FAIL_ENTRY.reason, Number(page.failEntryReason), true);
      rec.setUint32(at + EXIT_FAIL_ENTRY.cpu, page.failEntryCpu, true);
      break;
    case KvmExit.INTERNAL_ERROR: {
      const data = page.internalData();
      rec.setUint32(at + EXIT_INTERNAL.suberror, page.internalSuberror, true);
      rec.setUint32(at + EXIT_INTERNAL.ndata, data.length, true);
      rec.setFloat64(at + EXIT_INTERNAL.data0, Number(data[0] ?? 0n), true);
      rec.setFloat64(at + EXIT_INTERNAL.data1, Number(data[1] ?? 0n), true);
      const insn = instructionBytes(page);
      rec.setUint8(at + EXIT_INTERNAL.insnLen, insn.length);
      insn.forEach((b, i) => rec.setUint8(at + EXIT_INTERNAL.insn + i, b));
      break;
    }
    case KvmExit.SYSTEM_EVENT: {
      const data = page.systemEventData();
      rec.setUint32(at + EXIT_SYSTEM_EVENT.type, page.systemEventType, true);
      rec.setUint32(at + EXIT_SYSTEM_EVENT.ndata, data.length, true);
      rec.setFloat64(at + EXIT_SYSTEM_EVENT.data0, Number(data[0] ?? 0n), true);
      break;
    }
    case KvmExit.DEBUG:
      rec.setUint32(at + EXIT_DEBUG.exception, page.debugException, true);
      rec.setFloat64(at + EXIT_DEBUG.pc, Number(page.debugPc), true);
      rec.setFloat64(at + EXIT_DEBUG.dr6, Number(page.debugDr6), true);
      rec.setFloat64(at + EXIT_DEBUG.dr7, Number(page.debugDr7), true);
      break;
    case KvmExit.EXCEPTION:
      rec.setUint32(at + EXIT_EXCEPTION.exception, page.exception, true);
      rec.setUint32(at + EXIT_EXCEPTION.errorCode, page.exceptionErrorCode, true);
      break;
    case KvmExit.HYPERCALL:
      rec.setFloat64(at + EXIT_HYPERCALL.nr, Number(page.hypercallNr), true);
      break;
    case KvmExit.UNKNOWN:
      rec.setFloat64(at + EXIT_UNKNOWN.hardwareExitReason, Number(page.hardwareExitReason), true);
      break;
    default:
      break; // HLT, IRQ_WINDOW_OPEN, INTR, SHUTDOWN: the header says it all
  }
}

const EMULATION_SUBERROR = 1; // KVM_INTERNAL_ERROR_EMULATION
const FLAG_INSTRUCTION_BYTES = 1n; // KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES

/**
 * KVM_EXIT_INTERNAL_ERROR: for an emulation failure, kernels that set
 * KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES in data[0] put the instruction's length in
 * data[1] and its bytes from data[2] on. Those bytes (at most 15), else [] (the main thread then
 * reads the bytes at RIP from guest RAM for the error message).
 */
export function instructionBytes(page: KvmRunPage): number[] {
  if (page.internalSuberror !== EMULATION_SUBERROR) return [];
  const data = page.internalData();
  if (data.length < 3 || ((data[0] ?? 0n) & FLAG_INSTRUCTION_BYTES) === 0n) return [];
  const len = Math.min(Number(data[1] ?? 0n), 15);
  const out: number[] = [];
  for (let i = 0; i < len; i++) {
    const word = data[2 + (i >> 3)] ?? 0n;
    out.push(Number((word >> BigInt(8 * (i & 7))) & 0xffn));
  }
  return out;
}
