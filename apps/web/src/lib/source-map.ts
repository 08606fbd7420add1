// Where each exit and ioctl is handled: in our VMM (file and function) and in qemu-kvm 0.14 (the
// function that played the same role in the article the project grew from). Pure data plus a
// lookup; the ioctls come from the one table in ioctl-places.ts. A test reads the named files and
// fails when a function moves or is renamed, and checks every article line number against the
// article's listings.
import { exitReasonInfo, IOCTLS, KvmExit, QEMU_RUN_LOOP, type TraceRecord } from "@kvmscope/shared";
import { rangeById, rangeOfAddress, rangeOfPort, type DeviceRangeId } from "./devices";
import { bindingOf, ioctlPlace, issuersOf, QEMU_VCPU_LOOP, type ArticleLine } from "./ioctl-places";
import {
  KVM_BINDING as BINDING, VMM_BUS as BUS, VMM_DISPATCH as DISPATCH, VMM_EXIT_LOOP as LOOP_FILE, VMM_EXIT_RECORDER as RECORDER, VMM_MACHINE as MACHINE,
  VMM_THREAD as THREAD,
} from "./vmm-files";

export type { ArticleLine } from "./ioctl-places";

/** What a piece of our code does for this record. */
export type CodeRole = "handler" | "loop" | "bus" | "device" | "caller" | "binding" | "afterwards";

/** A function in this repository. `fn` is "handleIo" for a module function, "Uart.write" or "Machine.#kickAll" for a method. */
export interface CodeRef {
  file: string;
  fn: string;
  role: CodeRole;
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

/** The vCPU loop every exit returns to. qemu-kvm 0.14: kvm_main_loop_cpu (qemu-kvm.c:1410), around kvm_cpu_exec (qemu-kvm.c:1229). */
export const EXIT_LOOP: { vmm: CodeRef; qemu: QemuRole } = {
  vmm: { file: LOOP_FILE, fn: "runExitLoop", role: "loop" },
  qemu: { fn: QEMU_VCPU_LOOP.fn, file: QEMU_VCPU_LOOP.file, at: QEMU_VCPU_LOOP.at },
};

// The article's listing of kvm_cpu_exec (kvm-all.c): KVM_RUN at 941, the switch on exit_reason at
// 961, the KVM_EXIT_IO case calling kvm_handle_io at 964, KVM_EXIT_MMIO calling
// cpu_physical_memory_rw at 972, and the KVM_EXIT_IRQ_WINDOW_OPEN case at 978. (That body is
// upstream QEMU's, compiled out in the qemu-kvm tree; qemu-kvm 0.14 switched on exit_reason in
// kvm_run, qemu-kvm.c: see ioctl-places.ts. The exits' qemu functions come from @kvmscope/shared.)
// Beside each, the line of qemu-kvm.c's kvm_run that ran (qemu-kvm 0.14.1).
const IN_KVM_CPU_EXEC = (line: number, shows: string, ranLine: number): ArticleLine => ({
  file: QEMU_RUN_LOOP.file, fn: QEMU_RUN_LOOP.fn, line, shows, ran: { file: "qemu-kvm.c", fn: "kvm_run", line: ranLine },
});
const EXIT_LINES: Readonly<Partial<Record<number, ArticleLine>>> = {
  [KvmExit.IO]: IN_KVM_CPU_EXEC(964, "kvm_handle_io", 617),
  [KvmExit.MMIO]: IN_KVM_CPU_EXEC(972, "cpu_physical_memory_rw", 628),
  [KvmExit.IRQ_WINDOW_OPEN]: IN_KVM_CPU_EXEC(978, "KVM_EXIT_IRQ_WINDOW_OPEN", 633),
};
/** Any other reason reaches a case of the same switch (or its default branch), which the article elides. */
const EXIT_SWITCH = IN_KVM_CPU_EXEC(961, "run->exit_reason", 602);

const dispatch = (fn: string): CodeRef => ({ file: DISPATCH, fn, role: "handler" });
const FATAL: CodeRef = { file: THREAD, fn: "main", role: "afterwards" }; // its onFatalExit ends the run
/** Where the trace keeps what KVM said about an exit that ends the run. */
const RECORDED: CodeRef = { file: RECORDER, fn: "recordPayload", role: "handler" };

const EXIT_VMM: Readonly<Partial<Record<number, CodeRef[]>>> = {
  [KvmExit.HLT]: [dispatch("dispatchExit"), { file: LOOP_FILE, fn: "waitWhileHalted", role: "afterwards" }],
  [KvmExit.IRQ_WINDOW_OPEN]: [dispatch("dispatchExit"), { file: LOOP_FILE, fn: "injectPendingInterrupt", role: "afterwards" }],
  // The kick comes from the main thread; the loop then reads its control words.
  [KvmExit.INTR]: [dispatch("dispatchExit"), { file: LOOP_FILE, fn: "passGate", role: "afterwards" }, { file: MACHINE, fn: "Machine.#wakePicVcpu", role: "caller" }, { file: BINDING, fn: "VcpuKicker.kick", role: "binding" }],
  [KvmExit.SHUTDOWN]: [dispatch("dispatchExit"), FATAL],
  [KvmExit.FAIL_ENTRY]: [dispatch("dispatchExit"), RECORDED, FATAL],
  [KvmExit.INTERNAL_ERROR]: [dispatch("dispatchExit"), RECORDED, { file: RECORDER, fn: "instructionBytes", role: "handler" }, FATAL],
  [KvmExit.SYSTEM_EVENT]: [dispatch("dispatchExit"), RECORDED, FATAL],
  [KvmExit.DEBUG]: [dispatch("dispatchExit"), RECORDED, FATAL],
  [KvmExit.EXCEPTION]: [dispatch("dispatchExit"), RECORDED, FATAL],
  [KvmExit.HYPERCALL]: [dispatch("dispatchExit"), RECORDED, FATAL],
  [KvmExit.UNKNOWN]: [dispatch("dispatchExit"), RECORDED, FATAL],
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

// Ioctls: the functions of ours that issue each one, then the binding method that makes the
// system call (ioctl-places.ts). The qemu side is shown only where the article names the function:
// the panel's words for the qemu side speak of the article.
/** Where an ioctl is issued (ours) and what issued it in qemu-kvm 0.14 (null where the article does not say). */
export function ioctlSource(name: string): SourceMapping {
  const binding = bindingOf(name);
  const vmm: CodeRef[] = [
    ...issuersOf(name).map(({ file, fn }): CodeRef => ({ file, fn, role: "caller" })),
    { ...binding, role: "binding" },
  ];
  const q = ioctlPlace(name)?.qemu ?? null;
  if (q === null || !q.named) return { vmm, qemu: null };
  return { vmm, qemu: q.at === undefined ? { fn: q.fn, file: q.file } : { fn: q.fn, file: q.file, at: q.at } };
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
