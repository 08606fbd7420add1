// The reasons KVM_RUN gives for handing a vCPU back to userspace (`kvm_run.exit_reason`), with the
// numbers exactly as <linux/kvm.h> defines them. These numbers are kernel ABI: a trace stores the
// number (record field `code`) and the name is derived from it, so a trace taken on a newer kernel
// that knows more reasons still decodes (as `KVM_EXIT_<n>`).

/** KVM_EXIT_* codes, keyed by the name without its `KVM_EXIT_` prefix. */
export const KvmExit = {
  UNKNOWN: 0,
  EXCEPTION: 1,
  IO: 2,
  HYPERCALL: 3,
  DEBUG: 4,
  HLT: 5,
  MMIO: 6,
  IRQ_WINDOW_OPEN: 7,
  SHUTDOWN: 8,
  FAIL_ENTRY: 9,
  INTR: 10,
  SET_TPR: 11,
  TPR_ACCESS: 12,
  S390_SIEIC: 13,
  S390_RESET: 14,
  /** Deprecated in the header; kept so that 15 still has its name. */
  DCR: 15,
  NMI: 16,
  INTERNAL_ERROR: 17,
  OSI: 18,
  PAPR_HCALL: 19,
  S390_UCONTROL: 20,
  WATCHDOG: 21,
  S390_TSCH: 22,
  EPR: 23,
  SYSTEM_EVENT: 24,
  S390_STSI: 25,
  IOAPIC_EOI: 26,
  HYPERV: 27,
  ARM_NISV: 28,
  X86_RDMSR: 29,
  X86_WRMSR: 30,
  DIRTY_RING_FULL: 31,
  AP_RESET_HOLD: 32,
  X86_BUS_LOCK: 33,
  XEN: 34,
  RISCV_SBI: 35,
  RISCV_CSR: 36,
  NOTIFY: 37,
} as const;
export type KvmExitCode = (typeof KvmExit)[keyof typeof KvmExit];

/** `kvm_run.io.direction` (KVM_EXIT_IO_IN / KVM_EXIT_IO_OUT). */
export const KvmExitIoDirection = { In: 0, Out: 1 } as const;

/** Full names ("KVM_EXIT_IO") indexed by code; built from KvmExit so the two cannot disagree. */
export const EXIT_REASON_NAMES: readonly string[] = (() => {
  const names: string[] = [];
  for (const [short, code] of Object.entries(KvmExit)) names[code] = `KVM_EXIT_${short}`;
  return names;
})();

const codeByName = new Map<string, number>(EXIT_REASON_NAMES.map((name, code) => [name, code]));

/** The header's name for an exit reason; a code this table does not know reads `KVM_EXIT_<code>`. */
export function exitReasonName(code: number): string {
  return EXIT_REASON_NAMES[code] ?? `KVM_EXIT_${code}`;
}

/**
 * The code for a full exit-reason name ("KVM_EXIT_MMIO" -> 6). Also accepts the `KVM_EXIT_<n>`
 * spelling exitReasonName produces for unknown codes, so names round-trip. Undefined otherwise.
 */
export function exitReasonCode(name: string): number | undefined {
  const known = codeByName.get(name);
  if (known !== undefined) return known;
  const m = /^KVM_EXIT_(\d{1,10})$/.exec(name);
  if (m === null) return undefined;
  const n = Number(m[1]);
  return n <= 0xffff_ffff ? n : undefined;
}

/** `kvm_run.internal.suberror` values for KVM_EXIT_INTERNAL_ERROR. */
export const KvmInternalError = {
  /** KVM's instruction emulator could not emulate the instruction at RIP. */
  EMULATION: 1,
  /** An exception arrived while KVM was delivering another one. */
  SIMUL_EX: 2,
  /** A VM exit happened while an event (interrupt, exception) was being delivered to the guest. */
  DELIVERY_EV: 3,
  /** The hardware reported an exit reason KVM has no handler for. */
  UNEXPECTED_EXIT_REASON: 4,
} as const;

/** "KVM_INTERNAL_ERROR_EMULATION" for 1; `KVM_INTERNAL_ERROR_<n>` for a suberror not listed. */
export function internalErrorName(suberror: number): string {
  for (const [short, n] of Object.entries(KvmInternalError)) if (n === suberror) return `KVM_INTERNAL_ERROR_${short}`;
  return `KVM_INTERNAL_ERROR_${suberror}`;
}

/** `kvm_run.system_event.type` values for KVM_EXIT_SYSTEM_EVENT. */
export const KvmSystemEvent = {
  SHUTDOWN: 1,
  RESET: 2,
  CRASH: 3,
  WAKEUP: 4,
  SUSPEND: 5,
  SEV_TERM: 6,
} as const;

/** "KVM_SYSTEM_EVENT_RESET" for 2; `KVM_SYSTEM_EVENT_<n>` for a type not listed. */
export function systemEventName(type: number): string {
  for (const [short, n] of Object.entries(KvmSystemEvent)) if (n === type) return `KVM_SYSTEM_EVENT_${short}`;
  return `KVM_SYSTEM_EVENT_${type}`;
}

/** A function of qemu-kvm 0.14 that a class can open next to our trace. */
export interface QemuFunction {
  /** Function name, e.g. "kvm_handle_io". */
  fn: string;
  /** Source file in the qemu-kvm-0.14.0 tree, e.g. "kvm-all.c". */
  file: string;
}

/**
 * The vCPU run loop the article shows: kvm_cpu_exec of kvm-all.c (its line 912), which issues
 * KVM_RUN and switches on `run->exit_reason`. In qemu-kvm 0.14 that function is compiled out
 * (#ifdef OBSOLETE_KVM_IMPL); what ran is qemu-kvm.c's kvm_run (qemu-kvm.c:555, KVM_RUN at
 * qemu-kvm.c:582, the switch at qemu-kvm.c:602), reached through qemu-kvm.c's own kvm_cpu_exec
 * (qemu-kvm.c:1229). QEMU_KVM_014 (qemu-kvm-014.ts) has both; the panels show the two side by side.
 */
export const QEMU_RUN_LOOP: QemuFunction & { line: number } = { fn: "kvm_cpu_exec", file: "kvm-all.c", line: 912 };

/** What the web app shows for an exit reason a student is likely to meet. */
export interface ExitReasonInfo {
  /** One sentence, for a student, on why the vCPU came back to userspace. */
  explain: string;
  /** Where qemu-kvm 0.14 handled this reason. */
  qemu: QemuFunction;
}

const IN_RUN_LOOP: QemuFunction = { fn: QEMU_RUN_LOOP.fn, file: QEMU_RUN_LOOP.file };

/**
 * Explanations for the common reasons, keyed by code. The qemu mapping for IO and MMIO is the one
 * the article shows in kvm_cpu_exec's switch (lines 962-976); the others are cases of that same
 * switch (or, in kvm_cpu_exec, reached through its default branch to the per-architecture handler).
 */
export const EXIT_REASON_INFO: Readonly<Partial<Record<number, ExitReasonInfo>>> = {
  [KvmExit.IO]: {
    explain: "The guest executed an IN or OUT instruction (a VM exit) on a port that no in-kernel device owns, so KVM returns from KVM_RUN and asks the VMM's device model to perform it.",
    qemu: { fn: "kvm_handle_io", file: "kvm-all.c" },
  },
  [KvmExit.MMIO]: {
    explain: "The guest read or wrote a guest-physical address that no RAM and no in-kernel device (such as the local APIC or IOAPIC of an in-kernel irqchip) covers, so KVM decodes the instruction and the VMM must emulate the device register there.",
    qemu: { fn: "cpu_physical_memory_rw", file: "exec.c" },
  },
  [KvmExit.HLT]: {
    explain: "The guest executed HLT to wait for an interrupt, and with the interrupt controller in userspace only the VMM can decide when to wake it (with the in-kernel irqchip every interrupt source is in KVM, which keeps the HLT itself).",
    qemu: IN_RUN_LOOP,
  },
  [KvmExit.IRQ_WINDOW_OPEN]: {
    explain: "The VMM asked to be told when the guest can accept an interrupt, and now it can: this is the moment to inject one with KVM_INTERRUPT.",
    qemu: IN_RUN_LOOP,
  },
  [KvmExit.SHUTDOWN]: {
    explain: "The CPU escalated a fault it could not deliver into a triple fault (or the guest otherwise asked for a shutdown); that VM exit on a real PC resets the machine, and KVM hands it to the VMM.",
    qemu: IN_RUN_LOOP,
  },
  [KvmExit.FAIL_ENTRY]: {
    explain: "The hardware refused to enter the guest because some guest state (segment, control register) is invalid for the mode it is in.",
    qemu: IN_RUN_LOOP,
  },
  [KvmExit.INTERNAL_ERROR]: {
    explain: "KVM itself got stuck, most often because its instruction emulator met an instruction it cannot emulate.",
    qemu: IN_RUN_LOOP,
  },
  [KvmExit.SYSTEM_EVENT]: {
    explain: "The guest asked, through a firmware-level interface, to shut down, reset or report a crash.",
    qemu: IN_RUN_LOOP,
  },
  [KvmExit.DEBUG]: {
    explain: "A breakpoint or single step set with KVM_SET_GUEST_DEBUG fired, and the debugger in the VMM gets control.",
    qemu: IN_RUN_LOOP,
  },
  [KvmExit.INTR]: {
    explain: "A signal reached the vCPU thread while the guest ran (how the VMM kicks a vCPU out to pause or stop it), so KVM_RUN returned early.",
    qemu: IN_RUN_LOOP,
  },
  [KvmExit.UNKNOWN]: {
    explain: "The hardware exited for a reason KVM does not pass on in any named form; the raw hardware exit reason is attached.",
    qemu: IN_RUN_LOOP,
  },
  [KvmExit.EXCEPTION]: {
    explain: "Unused on x86: KVM never returns this reason there (exceptions are delivered to the guest, or reported through KVM_EXIT_DEBUG when a debugger asked for them).",
    qemu: IN_RUN_LOOP,
  },
  [KvmExit.HYPERCALL]: {
    explain: "The guest made a hypercall (VMCALL/VMMCALL) that KVM forwards to the VMM to service.",
    qemu: IN_RUN_LOOP,
  },
};

/** The explanation and qemu function for `code`, or undefined for reasons students rarely see. */
export function exitReasonInfo(code: number): ExitReasonInfo | undefined {
  return EXIT_REASON_INFO[code];
}
