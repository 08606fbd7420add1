// What userspace does with each exit that KVM hands back: the switch in qemu-kvm 0.14's
// kvm_cpu_exec (kvm-all.c), in our words. Each case is one call to a named handler, and the
// answer is what the exit loop does next (Firecracker's handle_kvm_exit). Device code sits behind
// the buses; nothing here issues an ioctl or writes the trace (trace/exit-recorder.ts does that).
//
// dispatchExit works on any KvmRunPage, including one over a plain ArrayBuffer filled by a test:
// no KVM is needed to check what an exit does.
import type { KvmRunPage } from "@kvmscope/kvm-binding";
import { KvmExit, KvmExitIoDirection } from "@kvmscope/shared";
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

/** Handles the exit described by `page` and says what the loop does next. */
export function dispatchExit(page: KvmRunPage, buses: Buses): ExitAction {
  switch (page.exitReason) {
    case KVM_EXIT.IO:
      return handleIo(page, buses.pio); // qemu-kvm 0.14: kvm_handle_io
    case KVM_EXIT.MMIO:
      return handleMmio(page, buses.mmio); // qemu-kvm 0.14: cpu_physical_memory_rw
    case KVM_EXIT.HLT:
      return ExitAction.Halt;
    case KVM_EXIT.IRQ_WINDOW_OPEN:
      return ExitAction.Continue; // the loop injects the pending interrupt before the next KVM_RUN
    case KVM_EXIT.INTR:
      return ExitAction.Continue; // a signal kicked us out; the loop looks at its control words
    case KVM_EXIT.SHUTDOWN:
      return ExitAction.Shutdown;
    case KVM_EXIT.FAIL_ENTRY:
      return ExitAction.FailEntry;
    case KVM_EXIT.INTERNAL_ERROR:
      return ExitAction.InternalError;
    case KVM_EXIT.SYSTEM_EVENT:
      return ExitAction.SystemEvent;
    case KVM_EXIT.DEBUG:
      return ExitAction.Unhandled; // no debugger is attached in this VMM (yet)
    default:
      return ExitAction.Unhandled; // never skipped: the loop stops the run and names the reason
  }
}

/**
 * KVM_EXIT_IO: `count` accesses of `size` bytes to one port (count > 1 for string I/O, rep ins/outs),
 * their data back to back at io.data_offset inside the vCPU's mapping. For an IN, the KVM contract:
 * fill the data before the next KVM_RUN, which completes the guest's instruction with it.
 */
function handleIo(page: KvmRunPage, pio: Bus): ExitAction {
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
  return ExitAction.Continue;
}

/** KVM_EXIT_MMIO: one access of `len` (1-8) bytes to guest-physical memory no memory slot backs. */
function handleMmio(page: KvmRunPage, mmio: Bus): ExitAction {
  const addr = page.mmioPhysAddrNumber;
  const len = page.mmioLen;
  const base = page.mmioDataOffset;
  const bytes = page.bytes;
  const data = scratch[len] ?? new Uint8Array(len);
  if (page.mmioIsWrite !== 0) {
    for (let j = 0; j < len; j++) data[j] = bytes[base + j] ?? 0;
    mmio.write(addr, data);
  } else {
    mmio.read(addr, data);
    for (let j = 0; j < len; j++) bytes[base + j] = data[j] ?? 0xff; // filled before the next KVM_RUN
  }
  return ExitAction.Continue;
}
