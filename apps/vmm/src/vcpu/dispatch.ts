// What userspace does with each exit that KVM hands back: the switch in qemu-kvm 0.14's
// kvm_cpu_exec (kvm-all.c), in our words. The kvm_run union is decoded once, here, and each case
// is one call to a named handler. Device code sits behind the buses; nothing here issues an ioctl.
//
// dispatchExit works on any KvmRunPage, including one over a plain ArrayBuffer filled by a test:
// no KVM is needed to check what an exit does.
import type { KvmRunPage } from "@kvmscope/kvm-binding";
import {
  EXIT_DEBUG, EXIT_EXCEPTION, EXIT_FAIL_ENTRY, EXIT_HYPERCALL, EXIT_INTERNAL, EXIT_IO, EXIT_MMIO,
  EXIT_SYSTEM_EVENT, EXIT_UNKNOWN, H, IO_INLINE_BYTES, KvmExit, KvmExitIoDirection, RecordFlag,
} from "@kvmscope/shared";
import type { Bus } from "../devices/bus.js";

/** The KVM_EXIT_* codes (numbers from <linux/kvm.h>, via @kvmscope/shared). */
export const KVM_EXIT = KvmExit;

/** What the exit loop does once an exit has been handled. */
export const ExitAction = {
  /** Back into KVM_RUN. */
  Continue: 0,
  /** The guest executed HLT: wait for an interrupt (or for good, with IF=0). */
  Halt: 1,
  /** The guest triple-faulted: the machine is dead. */
  Shutdown: 2,
  /** KVM could not continue (emulation failure, ...). */
  InternalError: 3,
  /** The CPU refused to enter the guest (bad guest state). */
  FailEntry: 4,
  /** The guest asked the platform for shutdown, reset or crash. */
  SystemEvent: 5,
  /** An exit this VMM has no handler for (e.g. KVM_EXIT_DEBUG without a debugger). */
  Unhandled: 6,
} as const;
export type ExitAction = (typeof ExitAction)[keyof typeof ExitAction];

export interface Buses {
  pio: Bus;
  mmio: Bus;
}

// Per-thread scratch for one device access (every worker has its own module instance): the hot
// path allocates nothing.
const scratch: Uint8Array[] = [0, 1, 2, 3, 4, 5, 6, 7, 8].map((n) => new Uint8Array(n));

/**
 * Handles the exit described by `page` and fills the exit-specific part of the trace record at
 * `rec`/`at` (at < 0: the record was dropped because the ring is full; the exit is still handled).
 */
export function dispatchExit(page: KvmRunPage, buses: Buses, rec: DataView, at: number): ExitAction {
  switch (page.exitReason) {
    case KVM_EXIT.IO:
      return handleIo(page, buses.pio, rec, at); // qemu-kvm 0.14: kvm_handle_io
    case KVM_EXIT.MMIO:
      return handleMmio(page, buses.mmio, rec, at); // qemu-kvm 0.14: cpu_physical_memory_rw
    case KVM_EXIT.HLT:
      return ExitAction.Halt;
    case KVM_EXIT.IRQ_WINDOW_OPEN:
      return ExitAction.Continue; // the loop injects the pending interrupt before the next KVM_RUN
    case KVM_EXIT.INTR:
      return ExitAction.Continue; // a signal kicked us out; the loop looks at its control words
    case KVM_EXIT.SHUTDOWN:
      return ExitAction.Shutdown;
    case KVM_EXIT.FAIL_ENTRY:
      return recordFailEntry(page, rec, at);
    case KVM_EXIT.INTERNAL_ERROR:
      return recordInternalError(page, rec, at);
    case KVM_EXIT.SYSTEM_EVENT:
      return recordSystemEvent(page, rec, at);
    case KVM_EXIT.DEBUG:
      return recordDebug(page, rec, at);
    case KVM_EXIT.EXCEPTION:
      return recordException(page, rec, at);
    case KVM_EXIT.HYPERCALL:
      return recordHypercall(page, rec, at);
    case KVM_EXIT.UNKNOWN:
      return recordUnknown(page, rec, at);
    default:
      return ExitAction.Unhandled; // never skipped: the loop stops the run and names the reason
  }
}

/**
 * KVM_EXIT_IO: `count` accesses of `size` bytes to one port (count > 1 for string I/O, rep ins/outs),
 * their data back to back at io.data_offset inside the vCPU's mapping. For an IN, the KVM contract:
 * fill the data before the next KVM_RUN, which completes the guest's instruction with it.
 */
function handleIo(page: KvmRunPage, pio: Bus, rec: DataView, at: number): ExitAction {
  const port = page.ioPort;
  const size = page.ioSize;
  const count = page.ioCount;
  const isIn = page.ioDirection === KvmExitIoDirection.In;
  const base = page.ioDataOffset;
  const bytes = page.bytes;
  const data = scratch[size] ?? new Uint8Array(size);
  for (let i = 0; i < count; i++) {
    const off = base + i * size;
    if (isIn) {
      pio.read(port, data);
      for (let j = 0; j < size; j++) bytes[off + j] = data[j] ?? 0xff;
    } else {
      for (let j = 0; j < size; j++) data[j] = bytes[off + j] ?? 0;
      pio.write(port, data);
    }
  }
  if (at >= 0) {
    const total = size * count;
    const kept = Math.min(total, IO_INLINE_BYTES);
    rec.setUint16(at + EXIT_IO.port, port, true);
    rec.setUint8(at + EXIT_IO.size, size);
    rec.setUint8(at + EXIT_IO.direction, page.ioDirection);
    rec.setUint32(at + EXIT_IO.count, count, true);
    rec.setUint32(at + EXIT_IO.dataLen, total, true);
    for (let j = 0; j < kept; j++) rec.setUint8(at + EXIT_IO.data + j, bytes[base + j] ?? 0);
    if (kept < total) rec.setUint8(at + H.flags, RecordFlag.Truncated);
  }
  return ExitAction.Continue;
}

/** KVM_EXIT_MMIO: one access of `len` (1-8) bytes to guest-physical memory no memory slot backs. */
function handleMmio(page: KvmRunPage, mmio: Bus, rec: DataView, at: number): ExitAction {
  const addr = page.mmioPhysAddrNumber;
  const len = page.mmioLen;
  const isWrite = page.mmioIsWrite !== 0;
  const base = page.mmioDataOffset;
  const bytes = page.bytes;
  const data = scratch[len] ?? new Uint8Array(len);
  if (isWrite) {
    for (let j = 0; j < len; j++) data[j] = bytes[base + j] ?? 0;
    mmio.write(addr, data);
  } else {
    mmio.read(addr, data);
    for (let j = 0; j < len; j++) bytes[base + j] = data[j] ?? 0xff; // filled before the next KVM_RUN
  }
  if (at >= 0) {
    rec.setFloat64(at + EXIT_MMIO.addr, addr, true);
    rec.setUint32(at + EXIT_MMIO.len, len, true);
    rec.setUint8(at + EXIT_MMIO.isWrite, isWrite ? 1 : 0);
    for (let j = 0; j < 8; j++) rec.setUint8(at + EXIT_MMIO.data + j, j < len ? (bytes[base + j] ?? 0) : 0);
  }
  return ExitAction.Continue;
}

function recordFailEntry(page: KvmRunPage, rec: DataView, at: number): ExitAction {
  if (at >= 0) {
    rec.setFloat64(at + EXIT_FAIL_ENTRY.reason, Number(page.failEntryReason), true);
    rec.setUint32(at + EXIT_FAIL_ENTRY.cpu, page.failEntryCpu, true);
  }
  return ExitAction.FailEntry;
}

/**
 * KVM_EXIT_INTERNAL_ERROR. For an emulation failure, kernels that set
 * KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES in data[0] put the instruction's length in
 * data[1] and its bytes from data[2] on; we keep those. Otherwise the main thread reads the bytes
 * at RIP from guest RAM for the error message.
 */
function recordInternalError(page: KvmRunPage, rec: DataView, at: number): ExitAction {
  if (at >= 0) {
    const data = page.internalData();
    rec.setUint32(at + EXIT_INTERNAL.suberror, page.internalSuberror, true);
    rec.setUint32(at + EXIT_INTERNAL.ndata, data.length, true);
    rec.setFloat64(at + EXIT_INTERNAL.data0, Number(data[0] ?? 0n), true);
    rec.setFloat64(at + EXIT_INTERNAL.data1, Number(data[1] ?? 0n), true);
    const insn = instructionBytes(page);
    rec.setUint8(at + EXIT_INTERNAL.insnLen, insn.length);
    insn.forEach((b, i) => rec.setUint8(at + EXIT_INTERNAL.insn + i, b));
  }
  return ExitAction.InternalError;
}

const EMULATION_SUBERROR = 1; // KVM_INTERNAL_ERROR_EMULATION
const FLAG_INSTRUCTION_BYTES = 1n; // KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES

/** The failing instruction's bytes when KVM supplied them (at most 15), else []. */
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

function recordSystemEvent(page: KvmRunPage, rec: DataView, at: number): ExitAction {
  if (at >= 0) {
    const data = page.systemEventData();
    rec.setUint32(at + EXIT_SYSTEM_EVENT.type, page.systemEventType, true);
    rec.setUint32(at + EXIT_SYSTEM_EVENT.ndata, data.length, true);
    rec.setFloat64(at + EXIT_SYSTEM_EVENT.data0, Number(data[0] ?? 0n), true);
  }
  return ExitAction.SystemEvent;
}

function recordDebug(page: KvmRunPage, rec: DataView, at: number): ExitAction {
  if (at >= 0) {
    rec.setUint32(at + EXIT_DEBUG.exception, page.debugException, true);
    rec.setFloat64(at + EXIT_DEBUG.pc, Number(page.debugPc), true);
    rec.setFloat64(at + EXIT_DEBUG.dr6, Number(page.debugDr6), true);
    rec.setFloat64(at + EXIT_DEBUG.dr7, Number(page.debugDr7), true);
  }
  return ExitAction.Unhandled; // no debugger is attached in this VMM (yet)
}

function recordException(page: KvmRunPage, rec: DataView, at: number): ExitAction {
  if (at >= 0) {
    rec.setUint32(at + EXIT_EXCEPTION.exception, page.exception, true);
    rec.setUint32(at + EXIT_EXCEPTION.errorCode, page.exceptionErrorCode, true);
  }
  return ExitAction.Unhandled;
}

function recordHypercall(page: KvmRunPage, rec: DataView, at: number): ExitAction {
  if (at >= 0) rec.setFloat64(at + EXIT_HYPERCALL.nr, Number(page.hypercallNr), true);
  return ExitAction.Unhandled;
}

function recordUnknown(page: KvmRunPage, rec: DataView, at: number): ExitAction {
  if (at >= 0) rec.setFloat64(at + EXIT_UNKNOWN.hardwareExitReason, Number(page.hardwareExitReason), true);
  return ExitAction.Unhandled;
}
