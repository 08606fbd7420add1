// The system calls the VMM traces, each with a stable numeric id. An ioctl record stores the id in
// its `code` field and up to three numbers in `args`; this table says what those numbers mean.
//
// The ids are part of the stored trace format: a run recorded today must decode the same way
// later. So entries are only ever appended, never reordered or removed (a test pins id = index + 1).

/** Which kind of file descriptor a call is issued on (kvm-ioctls' Kvm / VmFd / VcpuFd split). */
export type FdKind = "system" | "vm" | "vcpu" | "none";

export interface IoctlInfo {
  /** 1-based, stable: the record's `code`. */
  readonly id: number;
  /** The name from the KVM API documentation, or the plain system call. */
  readonly name: string;
  readonly fd: FdKind;
  /** Names of the numeric arguments the record keeps, in the order they are stored. */
  readonly args: readonly string[];
  readonly description: string;
}

/** The calls our own VMM issues (ids 1-25). */
export const KVMSCOPE_IOCTLS = [
  { id: 1, name: "open", fd: "none", args: [], description: "Opens /dev/kvm: the system fd every later call starts from." },
  { id: 2, name: "close", fd: "none", args: [], description: "Closes a KVM fd (system, VM, vCPU or statistics)." },
  { id: 3, name: "KVM_GET_API_VERSION", fd: "system", args: [], description: "Asks for the KVM API version; anything but 12 means an incompatible kernel." },
  { id: 4, name: "KVM_CHECK_EXTENSION", fd: "system", args: ["cap"], description: "Asks whether an optional capability (KVM_CAP_*) is available, and often how much of it." },
  { id: 5, name: "KVM_GET_VCPU_MMAP_SIZE", fd: "system", args: [], description: "Asks how many bytes to mmap from a vCPU fd to reach its shared kvm_run page." },
  { id: 6, name: "KVM_GET_SUPPORTED_CPUID", fd: "system", args: ["maxEntries"], description: "Reads the CPUID leaves this host and KVM can offer a guest." },
  { id: 7, name: "KVM_CREATE_VM", fd: "system", args: ["type"], description: "Creates an empty virtual machine and returns its VM fd." },
  { id: 8, name: "KVM_SET_USER_MEMORY_REGION", fd: "vm", args: ["slot", "guestPhysAddr", "memorySize"], description: "Maps a range of the VMM's memory into the guest's physical address space." },
  { id: 9, name: "KVM_SET_TSS_ADDR", fd: "vm", args: ["addr"], description: "Reserves three guest-physical pages Intel VMX needs for real-mode emulation." },
  { id: 10, name: "KVM_SET_IDENTITY_MAP_ADDR", fd: "vm", args: ["addr"], description: "Reserves the guest-physical page VMX uses for an identity page table in unpaged modes." },
  { id: 11, name: "KVM_CREATE_IRQCHIP", fd: "vm", args: [], description: "Moves the PIC, IOAPIC and local APICs into the kernel." },
  { id: 12, name: "KVM_CREATE_PIT2", fd: "vm", args: ["flags"], description: "Creates the i8254 timer inside the kernel." },
  { id: 13, name: "KVM_IRQ_LINE", fd: "vm", args: ["irq", "level"], description: "Raises or lowers an interrupt line of the in-kernel interrupt controller." },
  { id: 14, name: "KVM_CREATE_VCPU", fd: "vm", args: ["vcpuId"], description: "Adds a virtual CPU to the VM and returns its vCPU fd." },
  { id: 15, name: "KVM_RUN", fd: "vcpu", args: [], description: "Runs the guest on this vCPU until something needs userspace: the VM exit." },
  { id: 16, name: "KVM_GET_REGS", fd: "vcpu", args: [], description: "Reads the general-purpose registers, RIP and RFLAGS." },
  { id: 17, name: "KVM_SET_REGS", fd: "vcpu", args: ["rip"], description: "Writes the general-purpose registers, RIP and RFLAGS." },
  { id: 18, name: "KVM_GET_SREGS", fd: "vcpu", args: [], description: "Reads segment, control and descriptor-table registers." },
  { id: 19, name: "KVM_SET_SREGS", fd: "vcpu", args: ["cr0", "efer"], description: "Writes segment, control and descriptor-table registers (this is how a guest starts in a chosen mode)." },
  { id: 20, name: "KVM_SET_CPUID2", fd: "vcpu", args: ["entries"], description: "Sets the CPUID leaves the guest will see on this vCPU." },
  { id: 21, name: "KVM_INTERRUPT", fd: "vcpu", args: ["vector"], description: "Injects an external interrupt (userspace interrupt controller only)." },
  { id: 22, name: "KVM_GET_MP_STATE", fd: "vcpu", args: [], description: "Reads the vCPU's multiprocessing state (runnable, halted, waiting for SIPI...)." },
  { id: 23, name: "KVM_SET_MP_STATE", fd: "vcpu", args: ["state"], description: "Sets the vCPU's multiprocessing state." },
  { id: 24, name: "KVM_GET_STATS_FD", fd: "vcpu", args: [], description: "Opens the binary statistics fd with the vCPU's counters (exits handled in the kernel, among others)." },
  { id: 25, name: "KVM_SET_GUEST_DEBUG", fd: "vcpu", args: ["control"], description: "Enables single-stepping or hardware breakpoints for this vCPU." },
] as const satisfies readonly IoctlInfo[];

/** Ioctls other VMMs issue (QEMU, seen through strace), appended after ours: names and meanings from the KVM API document. */
export const OTHER_VMM_IOCTLS = [
  { id: 26, name: "KVM_ENABLE_CAP", fd: "vm", args: [], description: "Turns on an optional capability for this VM or vCPU (KVM_CAP_*), with its arguments." },
  { id: 27, name: "KVM_IOEVENTFD", fd: "vm", args: [], description: "Lets KVM answer a guest's write to a port or MMIO address itself by signalling an eventfd, with no exit to the VMM." },
  { id: 28, name: "KVM_IRQFD", fd: "vm", args: [], description: "Connects an eventfd to an interrupt line of the in-kernel irqchip: a write to it raises the interrupt." },
  { id: 29, name: "KVM_SET_GSI_ROUTING", fd: "vm", args: [], description: "Sets how global interrupt numbers (GSIs) reach the in-kernel PIC, IOAPIC or an MSI." },
  { id: 30, name: "KVM_IRQ_LINE_STATUS", fd: "vm", args: [], description: "Raises or lowers an interrupt line of the in-kernel irqchip and reports whether it was delivered." },
  { id: 31, name: "KVM_SIGNAL_MSI", fd: "vm", args: [], description: "Injects a message-signalled interrupt directly." },
  { id: 32, name: "KVM_REGISTER_COALESCED_MMIO", fd: "vm", args: [], description: "Marks an MMIO range whose writes KVM may batch in a ring instead of exiting for each." },
  { id: 33, name: "KVM_UNREGISTER_COALESCED_MMIO", fd: "vm", args: [], description: "Removes a coalesced MMIO range." },
  { id: 34, name: "KVM_SET_BOOT_CPU_ID", fd: "vm", args: [], description: "Chooses which vCPU is the bootstrap processor." },
  { id: 35, name: "KVM_GET_CLOCK", fd: "vm", args: [], description: "Reads the VM's kvmclock value." },
  { id: 36, name: "KVM_SET_CLOCK", fd: "vm", args: [], description: "Sets the VM's kvmclock value." },
  { id: 37, name: "KVM_X86_SET_MSR_FILTER", fd: "vm", args: [], description: "Chooses which MSR accesses exit to the VMM instead of being handled by KVM." },
  { id: 38, name: "KVM_GET_DIRTY_LOG", fd: "vm", args: [], description: "Reads which pages of a memory slot the guest wrote since the last call." },
  { id: 39, name: "KVM_CLEAR_DIRTY_LOG", fd: "vm", args: [], description: "Clears part of a memory slot's dirty log." },
  { id: 40, name: "KVM_SET_IRQCHIP", fd: "vm", args: [], description: "Writes the state of the in-kernel PIC or IOAPIC." },
  { id: 41, name: "KVM_GET_IRQCHIP", fd: "vm", args: [], description: "Reads the state of the in-kernel PIC or IOAPIC." },
  { id: 42, name: "KVM_SET_PIT2", fd: "vm", args: [], description: "Writes the state of the in-kernel i8254 timer." },
  { id: 43, name: "KVM_GET_PIT2", fd: "vm", args: [], description: "Reads the state of the in-kernel i8254 timer." },
  { id: 44, name: "KVM_GET_DEVICE_ATTR", fd: "system", args: [], description: "Reads an attribute of a KVM device, VM, vCPU or the system." },
  { id: 45, name: "KVM_SET_DEVICE_ATTR", fd: "vm", args: [], description: "Writes an attribute of a KVM device, VM or vCPU." },
  { id: 46, name: "KVM_HAS_DEVICE_ATTR", fd: "vm", args: [], description: "Asks whether a device, VM or vCPU attribute exists." },
  { id: 47, name: "KVM_GET_MSR_INDEX_LIST", fd: "system", args: [], description: "Lists the MSRs KVM saves and restores for a guest." },
  { id: 48, name: "KVM_GET_MSR_FEATURE_INDEX_LIST", fd: "system", args: [], description: "Lists the feature MSRs a VMM may read with KVM_GET_MSRS on the system fd." },
  { id: 49, name: "KVM_GET_EMULATED_CPUID", fd: "system", args: [], description: "Reads the CPUID features KVM emulates even where the host lacks them." },
  { id: 50, name: "KVM_X86_GET_MCE_CAP_SUPPORTED", fd: "system", args: [], description: "Reads the machine-check capabilities KVM can give a guest." },
  { id: 51, name: "KVM_GET_MSRS", fd: "vcpu", args: [], description: "Reads model-specific registers of this vCPU." },
  { id: 52, name: "KVM_SET_MSRS", fd: "vcpu", args: [], description: "Writes model-specific registers of this vCPU." },
  { id: 53, name: "KVM_GET_FPU", fd: "vcpu", args: [], description: "Reads the x87/SSE state." },
  { id: 54, name: "KVM_SET_FPU", fd: "vcpu", args: [], description: "Writes the x87/SSE state." },
  { id: 55, name: "KVM_GET_XSAVE", fd: "vcpu", args: [], description: "Reads the extended (XSAVE) register state." },
  { id: 56, name: "KVM_GET_XSAVE2", fd: "vcpu", args: [], description: "Reads the extended (XSAVE) register state, of any size." },
  { id: 57, name: "KVM_SET_XSAVE", fd: "vcpu", args: [], description: "Writes the extended (XSAVE) register state." },
  { id: 58, name: "KVM_GET_XCRS", fd: "vcpu", args: [], description: "Reads the extended control registers (XCR0)." },
  { id: 59, name: "KVM_SET_XCRS", fd: "vcpu", args: [], description: "Writes the extended control registers (XCR0)." },
  { id: 60, name: "KVM_GET_VCPU_EVENTS", fd: "vcpu", args: [], description: "Reads pending exceptions, interrupts, NMIs and the interrupt shadow." },
  { id: 61, name: "KVM_SET_VCPU_EVENTS", fd: "vcpu", args: [], description: "Writes pending exceptions, interrupts, NMIs and the interrupt shadow." },
  { id: 62, name: "KVM_GET_DEBUGREGS", fd: "vcpu", args: [], description: "Reads the debug registers DR0-DR7." },
  { id: 63, name: "KVM_SET_DEBUGREGS", fd: "vcpu", args: [], description: "Writes the debug registers DR0-DR7." },
  { id: 64, name: "KVM_GET_SREGS2", fd: "vcpu", args: [], description: "Reads the special registers, with the PDPTRs of PAE paging." },
  { id: 65, name: "KVM_SET_SREGS2", fd: "vcpu", args: [], description: "Writes the special registers, with the PDPTRs of PAE paging." },
  { id: 66, name: "KVM_GET_LAPIC", fd: "vcpu", args: [], description: "Reads the in-kernel local APIC's registers." },
  { id: 67, name: "KVM_SET_LAPIC", fd: "vcpu", args: [], description: "Writes the in-kernel local APIC's registers." },
  { id: 68, name: "KVM_GET_TSC_KHZ", fd: "vcpu", args: [], description: "Reads the guest's TSC frequency." },
  { id: 69, name: "KVM_SET_TSC_KHZ", fd: "vcpu", args: [], description: "Sets the guest's TSC frequency." },
  { id: 70, name: "KVM_KVMCLOCK_CTRL", fd: "vcpu", args: [], description: "Tells the guest's kvmclock that the vCPU was paused (no soft lockup warnings)." },
  { id: 71, name: "KVM_X86_SETUP_MCE", fd: "vcpu", args: [], description: "Sets up machine-check banks for this vCPU." },
  { id: 72, name: "KVM_SET_SIGNAL_MASK", fd: "vcpu", args: [], description: "Sets the signals blocked while this vCPU is inside KVM_RUN." },
  { id: 73, name: "KVM_NMI", fd: "vcpu", args: [], description: "Injects a non-maskable interrupt (userspace local APIC only)." },
  { id: 74, name: "KVM_SMI", fd: "vcpu", args: [], description: "Injects a system-management interrupt." },
  { id: 75, name: "KVM_TRANSLATE", fd: "vcpu", args: [], description: "Translates a guest-virtual address the way this vCPU's page tables do." },
  { id: 76, name: "KVM_GET_CPUID2", fd: "vcpu", args: [], description: "Reads the CPUID leaves this vCPU was given." },
] as const satisfies readonly IoctlInfo[];

export const IOCTLS = [...KVMSCOPE_IOCTLS, ...OTHER_VMM_IOCTLS] as const;

export type IoctlName = (typeof IOCTLS)[number]["name"];
/** A call our own VMM issues: the lifecycle and source panels know where in our code. */
export type KvmscopeIoctlName = (typeof KVMSCOPE_IOCTLS)[number]["name"];

/** Name -> id, the map form that record-layout.ts's `code` comment calls IOCTL_IDS. */
export const IOCTL_IDS: Readonly<Record<IoctlName, number>> = Object.fromEntries(IOCTLS.map((i) => [i.name, i.id])) as Record<IoctlName, number>;

const byName = new Map<string, IoctlInfo>(IOCTLS.map((i) => [i.name, i]));

/** The table entry for an id, or undefined for an id this version does not know. */
export function ioctlInfo(id: number): IoctlInfo | undefined {
  // ids are dense and 1-based, so the entry is at id - 1 (pinned by a test).
  return (IOCTLS as readonly IoctlInfo[])[id - 1];
}

/** The table entry for a name, or undefined. */
export function ioctlInfoByName(name: string): IoctlInfo | undefined {
  return byName.get(name);
}

/**
 * The id to store for `name`. Accepts the `IOCTL_<id>` spelling ioctlName gives unknown ids, so a
 * trace from a newer VMM round-trips; throws a RangeError for anything else (a VMM bug: every
 * traced call must be in the table).
 */
export function ioctlId(name: string): number {
  const info = byName.get(name);
  if (info !== undefined) return info.id;
  const m = /^IOCTL_(\d{1,10})$/.exec(name);
  if (m !== null && Number(m[1]) <= 0xffff_ffff) return Number(m[1]);
  throw new RangeError(`ioctl ${JSON.stringify(name)} is not in IOCTLS: add it at the end of the table`);
}

/** The name for a stored id; `IOCTL_<id>` when this version does not know it. */
export function ioctlName(id: number): string {
  return ioctlInfo(id)?.name ?? `IOCTL_${id}`;
}

/**
 * The argument names for an id: the table's, or `arg0`..`argN-1` for an unknown id with `n` stored
 * arguments (so a newer trace still shows its numbers).
 */
export function ioctlArgNames(id: number, n: number): readonly string[] {
  const info = ioctlInfo(id);
  if (info !== undefined) return info.args;
  return GENERIC_ARG_NAMES.slice(0, n);
}
const GENERIC_ARG_NAMES = ["arg0", "arg1", "arg2"] as const;

/**
 * The `args` object of an ioctl record from the positional numbers the binding reports
 * (`IoctlEvent.args`): `ioctlArgs("KVM_IRQ_LINE", [4, 1])` -> `{ irq: 4, level: 1 }`.
 */
export function ioctlArgs(name: string, values: readonly number[]): Record<string, number> {
  const names = ioctlArgNames(ioctlId(name), values.length);
  if (values.length < names.length) {
    throw new RangeError(`${name} records ${names.length} argument(s) (${names.join(", ")}) but got ${values.length}`);
  }
  const out: Record<string, number> = {};
  for (let i = 0; i < names.length; i++) out[names[i]!] = values[i]!;
  return out;
}
