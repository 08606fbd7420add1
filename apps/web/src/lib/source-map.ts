// Where each exit and ioctl is handled: in our VMM (file and function) and in qemu-kvm 0.14 (the
// function that played the same role in the article the project grew from). Pure data plus a
// lookup. A test reads the named files and fails when a function moves or is renamed, and checks
// every article line number against the article's listings.
import { exitReasonInfo, IOCTLS, KvmExit, QEMU_RUN_LOOP, type TraceRecord } from "@kvmscope/shared";
import { rangeById, rangeOfAddress, rangeOfPort, type DeviceRangeId } from "./devices";
import {
  KVM_BINDING as BINDING, VMM_BUS as BUS, VMM_DISPATCH as DISPATCH, VMM_EXIT_LOOP as LOOP_FILE, VMM_MACHINE as MACHINE,
  VMM_RESET as RESET, VMM_THREAD as THREAD,
} from "./vmm-files";

/** What a piece of our code does for this record. */
export type CodeRole = "handler" | "loop" | "bus" | "device" | "caller" | "binding" | "afterwards";

/** A function in this repository. `fn` is "handleIo" for a module function, "Uart.write" or "Machine.#kickAll" for a method. */
export interface CodeRef {
  file: string;
  fn: string;
  role: CodeRole;
}

/** A line the article shows: a line of `file`, inside function `fn`, containing `shows`. */
export interface ArticleLine {
  file: string;
  fn: string;
  line: number;
  shows: string;
}

/** The qemu-kvm 0.14 function that played this role, and where the article shows it at work (when it does). */
export interface QemuRole {
  fn: string;
  /** In the qemu-kvm-0.14.0 tree. */
  file: string;
  at?: ArticleLine;
}

export interface SourceMapping {
  /** Our code, most specific first: the handler, then what it calls or what acts on its result. */
  vmm: CodeRef[];
  /** The qemu-kvm 0.14 counterpart, or null where the article shows none. */
  qemu: QemuRole | null;
}

/** The vCPU loop every exit returns to. qemu-kvm 0.14: kvm_main_loop_cpu (qemu-kvm.c) around kvm_cpu_exec (kvm-all.c). */
export const EXIT_LOOP: { vmm: CodeRef; qemu: QemuRole } = {
  vmm: { file: LOOP_FILE, fn: "runExitLoop", role: "loop" },
  qemu: { fn: "kvm_main_loop_cpu", file: "qemu-kvm.c", at: { file: "qemu-kvm.c", fn: "kvm_main_loop_cpu", line: 1495, shows: "kvm_cpu_exec" } },
};

// The article's listing of kvm_cpu_exec (kvm-all.c): KVM_RUN at 941, the switch on exit_reason at
// 961, the KVM_EXIT_IO case calling kvm_handle_io at 964, KVM_EXIT_MMIO calling
// cpu_physical_memory_rw at 972, and the KVM_EXIT_IRQ_WINDOW_OPEN case at 978.
const IN_KVM_CPU_EXEC = (line: number, shows: string): ArticleLine => ({ file: QEMU_RUN_LOOP.file, fn: QEMU_RUN_LOOP.fn, line, shows });
const EXIT_LINES: Readonly<Partial<Record<number, ArticleLine>>> = {
  [KvmExit.IO]: IN_KVM_CPU_EXEC(964, "kvm_handle_io"),
  [KvmExit.MMIO]: IN_KVM_CPU_EXEC(972, "cpu_physical_memory_rw"),
  [KvmExit.IRQ_WINDOW_OPEN]: IN_KVM_CPU_EXEC(978, "KVM_EXIT_IRQ_WINDOW_OPEN"),
};
/** Any other reason reaches a case of the same switch (or its default branch), which the article elides. */
const EXIT_SWITCH = IN_KVM_CPU_EXEC(961, "run->exit_reason");

const dispatch = (fn: string): CodeRef => ({ file: DISPATCH, fn, role: "handler" });
const FATAL: CodeRef = { file: THREAD, fn: "main", role: "afterwards" }; // its onFatalExit ends the run

const EXIT_VMM: Readonly<Partial<Record<number, CodeRef[]>>> = {
  [KvmExit.HLT]: [dispatch("dispatchExit"), { file: LOOP_FILE, fn: "waitWhileHalted", role: "afterwards" }],
  [KvmExit.IRQ_WINDOW_OPEN]: [dispatch("dispatchExit"), { file: LOOP_FILE, fn: "injectPendingInterrupt", role: "afterwards" }],
  // The kick comes from the main thread; the loop then reads its control words.
  [KvmExit.INTR]: [dispatch("dispatchExit"), { file: LOOP_FILE, fn: "passGate", role: "afterwards" }, { file: MACHINE, fn: "Machine.#wakePicVcpu", role: "caller" }, { file: BINDING, fn: "VcpuKicker.kick", role: "binding" }],
  [KvmExit.SHUTDOWN]: [dispatch("dispatchExit"), FATAL],
  [KvmExit.FAIL_ENTRY]: [dispatch("recordFailEntry"), FATAL],
  [KvmExit.INTERNAL_ERROR]: [dispatch("recordInternalError"), dispatch("instructionBytes"), FATAL],
  [KvmExit.SYSTEM_EVENT]: [dispatch("recordSystemEvent"), FATAL],
  [KvmExit.DEBUG]: [dispatch("recordDebug"), FATAL],
  [KvmExit.EXCEPTION]: [dispatch("recordException"), FATAL],
  [KvmExit.HYPERCALL]: [dispatch("recordHypercall"), FATAL],
  [KvmExit.UNKNOWN]: [dispatch("recordUnknown"), FATAL],
};

/** The class behind each device range (its file is the model's, in devices.ts). */
export const DEVICE_CODE: Readonly<Record<DeviceRangeId, { cls: string; methods: "read/write" | "ports" }>> = {
  uart: { cls: "Uart", methods: "read/write" },
  picMaster: { cls: "Pic", methods: "ports" },
  picSlave: { cls: "Pic", methods: "ports" },
  pit: { cls: "Pit", methods: "read/write" },
  // Port B is a small BusDevice object the Pit builds in its constructor.
  portB: { cls: "Pit", methods: "ports" },
  post: { cls: "PostCode", methods: "read/write" },
  debugcon: { cls: "Debugcon", methods: "read/write" },
  debugExit: { cls: "DebugExit", methods: "read/write" },
  teaching: { cls: "MmioTeachingDevice", methods: "read/write" },
};

function deviceRef(id: DeviceRangeId, write: boolean): CodeRef {
  const d = DEVICE_CODE[id];
  const file = rangeById(id).model.file;
  if (d.methods === "ports") {
    return { file, fn: id === "portB" ? `${d.cls}.constructor` : `${d.cls}.#ports`, role: "device" };
  }
  return { file, fn: `${d.cls}.${write ? "write" : "read"}`, role: "device" };
}

/** Where an exit is handled. `access` narrows IO and MMIO exits down to the device model. */
export function exitSource(code: number, access?: { port?: number; addr?: number; write?: boolean }): SourceMapping {
  const info = exitReasonInfo(code);
  const qemu: QemuRole | null = info === undefined ? null : { fn: info.qemu.fn, file: info.qemu.file, at: EXIT_LINES[code] ?? EXIT_SWITCH };
  const write = access?.write ?? false;
  if (code === KvmExit.IO) {
    const vmm: CodeRef[] = [dispatch("handleIo"), { file: BUS, fn: write ? "Bus.write" : "Bus.read", role: "bus" }];
    const where = access?.port === undefined ? null : rangeOfPort(access.port);
    if (where !== null) vmm.push(deviceRef(where.range.id, write));
    return { vmm, qemu };
  }
  if (code === KvmExit.MMIO) {
    const vmm: CodeRef[] = [dispatch("handleMmio"), { file: BUS, fn: write ? "Bus.write" : "Bus.read", role: "bus" }];
    const where = access?.addr === undefined ? null : rangeOfAddress(access.addr);
    if (where !== null) vmm.push(deviceRef(where.range.id, write));
    return { vmm, qemu };
  }
  return { vmm: EXIT_VMM[code] ?? [dispatch("dispatchExit")], qemu };
}

// Ioctls: who issues each one (ours), and the binding method that makes the system call.
const caller = (file: string, fn: string): CodeRef => ({ file, fn, role: "caller" });
const binding = (fn: string): CodeRef => ({ file: BINDING, fn, role: "binding" });
const IN_RUN = caller(MACHINE, "Machine.run");

const IOCTL_VMM: Readonly<Record<string, CodeRef[]>> = {
  open: [IN_RUN, binding("Kvm.open")],
  close: [IN_RUN, caller(THREAD, "main"), binding("IoctlIssuer.close")],
  KVM_GET_API_VERSION: [IN_RUN, binding("Kvm.getApiVersion")],
  KVM_CHECK_EXTENSION: [IN_RUN, binding("Kvm.checkExtension")],
  KVM_GET_VCPU_MMAP_SIZE: [IN_RUN, binding("Kvm.getVcpuMmapSize")],
  KVM_GET_SUPPORTED_CPUID: [IN_RUN, binding("Kvm.getSupportedCpuid")],
  KVM_CREATE_VM: [IN_RUN, binding("Kvm.createVm")],
  KVM_SET_USER_MEMORY_REGION: [IN_RUN, binding("Vm.setUserMemoryRegion")],
  KVM_SET_TSS_ADDR: [IN_RUN, binding("Vm.setTssAddr")],
  KVM_SET_IDENTITY_MAP_ADDR: [IN_RUN, binding("Vm.setIdentityMapAddr")],
  KVM_CREATE_IRQCHIP: [IN_RUN, binding("Vm.createIrqchip")],
  KVM_CREATE_PIT2: [IN_RUN, binding("Vm.createPit2")],
  KVM_IRQ_LINE: [binding("Vm.irqLine")],
  KVM_CREATE_VCPU: [caller(THREAD, "main"), binding("Vm.createVcpu")],
  KVM_RUN: [caller(LOOP_FILE, "runExitLoop"), binding("Vcpu.run")],
  KVM_GET_REGS: [binding("Vcpu.getRegs")],
  KVM_SET_REGS: [caller(RESET, "resetToBootSector"), binding("Vcpu.setRegs")],
  KVM_GET_SREGS: [caller(RESET, "resetToBootSector"), caller(THREAD, "main"), binding("Vcpu.getSregs")],
  KVM_SET_SREGS: [caller(RESET, "resetToBootSector"), binding("Vcpu.setSregs")],
  KVM_SET_CPUID2: [caller(RESET, "resetToBootSector"), binding("Vcpu.setCpuid2")],
  KVM_INTERRUPT: [caller(LOOP_FILE, "injectPendingInterrupt"), binding("Vcpu.interrupt")],
  KVM_GET_MP_STATE: [binding("Vcpu.getMpState")],
  KVM_SET_MP_STATE: [caller(THREAD, "main"), binding("Vcpu.setMpState")],
  KVM_GET_STATS_FD: [caller(THREAD, "main"), binding("Vcpu.getStatsFd")],
  KVM_SET_GUEST_DEBUG: [binding("Vcpu.setGuestDebug")],
};

// Only the steps the article shows (or names) get a qemu counterpart: kvm_init opens /dev/kvm
// (qemu-kvm.c line 155) and sets KVM up; kvm_create_vm issues KVM_CREATE_VM (line 316);
// ap_main_loop calls kvm_create_vcpu on the new thread (line 1527); kvm_cpu_exec issues KVM_RUN
// (kvm-all.c line 941).
const IOCTL_QEMU: Readonly<Record<string, QemuRole>> = {
  open: { fn: "kvm_init", file: "qemu-kvm.c", at: { file: "qemu-kvm.c", fn: "kvm_init", line: 155, shows: "/dev/kvm" } },
  KVM_GET_API_VERSION: { fn: "kvm_init", file: "qemu-kvm.c" },
  KVM_CHECK_EXTENSION: { fn: "kvm_init", file: "qemu-kvm.c" },
  KVM_CREATE_VM: { fn: "kvm_create_vm", file: "qemu-kvm.c", at: { file: "qemu-kvm.c", fn: "kvm_create_vm", line: 316, shows: "KVM_CREATE_VM" } },
  KVM_CREATE_VCPU: { fn: "kvm_create_vcpu", file: "qemu-kvm.c", at: { file: "qemu-kvm.c", fn: "ap_main_loop", line: 1527, shows: "kvm_create_vcpu" } },
  KVM_RUN: { fn: QEMU_RUN_LOOP.fn, file: QEMU_RUN_LOOP.file, at: IN_KVM_CPU_EXEC(941, "KVM_RUN") },
};

/** Where an ioctl is issued (ours) and what issued it in qemu-kvm 0.14 (null where the article does not say). */
export function ioctlSource(name: string): SourceMapping {
  return { vmm: IOCTL_VMM[name] ?? [], qemu: IOCTL_QEMU[name] ?? null };
}

/** The mapping for any record: exits and ioctls; null for markers, statistics and lost records. */
export function sourceForRecord(record: TraceRecord): SourceMapping | null {
  if (record.type === "exit") {
    const access = record.io
      ? { port: record.io.port, write: record.io.direction === "out" }
      : record.mmio ? { addr: record.mmio.addr, write: record.mmio.isWrite } : undefined;
    return exitSource(record.code, access);
  }
  if (record.type === "ioctl") return ioctlSource(record.name);
  return null;
}

/** Every mapping this module can return (for the test that checks them against the source tree). */
export function allMappings(): SourceMapping[] {
  const out: SourceMapping[] = [];
  for (const code of Object.values(KvmExit)) {
    out.push(exitSource(code));
    out.push(exitSource(code, { write: true }));
  }
  for (const id of Object.keys(DEVICE_CODE) as DeviceRangeId[]) {
    out.push({ vmm: [deviceRef(id, false), deviceRef(id, true)], qemu: null });
  }
  for (const i of IOCTLS) out.push(ioctlSource(i.name));
  out.push({ vmm: [EXIT_LOOP.vmm], qemu: EXIT_LOOP.qemu });
  return out;
}

/** "dispatch.ts" from "apps/vmm/src/vcpu/dispatch.ts". */
export function baseName(file: string): string {
  return file.slice(file.lastIndexOf("/") + 1);
}
