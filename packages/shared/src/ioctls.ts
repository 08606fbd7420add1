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

export const IOCTLS = [
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

export type IoctlName = (typeof IOCTLS)[number]["name"];

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
