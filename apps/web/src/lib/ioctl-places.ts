// Where each ioctl is issued: by which function of our VMM, through which method of our KVM
// binding, and by which function of qemu-kvm 0.14. The one table both panels read: the Lifecycle
// panel (lifecycle.ts) and the Selected-exit panel's ioctl records (source-map.ts).
//
// `ours` names the function of our VMM whose body makes the call (test/ioctl-places.test.ts reads
// the body and looks for the binding method's call in it). `qemu` names the qemu-kvm 0.14 function
// that issues the ioctl, or the thin wrapper that does; every name was checked, and the comment on
// each entry says where:
//   [article] /work/shared/seed/qemu-kvm-vm-lifecycle.ja.txt, the article this project grew from
//             (qemu-kvm-0.14.0 listings with their line numbers; tests check each cited line).
//   [illumos] TritonDataCenter/illumos-kvm-cmd: Joyent's illumos port of qemu-kvm 0.14 (its
//             README.illumos installs it as qemu-14; its qemu-kvm.c kvm_init, kvm_create_vm,
//             kvm_main_loop_cpu and ap_main_loop read as the article's listings). Paths below are
//             that repository's; its target-i386/kvm.c ends with #include "qemu-kvm-x86.c", so
//             the static helpers of one are called from the other.
//   [ceph]    ceph/qemu-kvm at 92820536 (qemu-kvm.c) and ef390067 (kvm-all.c): a later qemu-kvm
//             (0.15 era), where it confirms what [illumos] shows.
//
// One thing the article gets wrong: it shows kvm_cpu_exec from kvm-all.c (KVM_RUN at its line
// 941), but in the qemu-kvm tree that body is upstream QEMU's, compiled out under
// #ifdef OBSOLETE_KVM_IMPL ([illumos] and [ceph] kvm-all.c). The kvm_cpu_exec that
// kvm_main_loop_cpu calls (article line 1495, qemu-kvm.c:1419) is qemu-kvm.c's own
// (qemu-kvm.c:1229), which calls kvm_run (qemu-kvm.c:555), which issues ioctl(fd, KVM_RUN, 0) at
// qemu-kvm.c:582 and switches on run->exit_reason at qemu-kvm.c:602. Each ArticleLine's `ran`
// says so beside the article's line (packages/shared/src/qemu-kvm-014.ts is the 0.14.1 table).
import type { KvmscopeIoctlName } from "@kvmscope/shared";
import {
  KVM_BINDING, VMM_EXIT_LOOP as LOOP, VMM_MACHINE as MACHINE, VMM_RESET as RESET, VMM_THREAD as THREAD,
} from "./vmm-files";

/** The thread a function of our VMM runs on: Machine.run's, or a vCPU thread (worker). */
export type VmmThread = "main" | "vcpu";

/** A function of our VMM that issues an ioctl. `fn` is "resetToBootSector", or "Machine.run" for a method. */
export interface Issuer {
  file: string;
  fn: string;
  thread: VmmThread;
}

/** A line of qemu-kvm 0.14.1 that ran (QEMU_KVM_014 in @kvmscope/shared, read from the sources). */
export interface RanLine {
  file: string;
  fn: string;
  line: number;
}

/**
 * A line the article shows: a line of `file`, inside function `fn`, containing `shows`; `ran` is
 * the 0.14.1 line that really did it (another number, or another function where the article's is
 * compiled out).
 */
export interface ArticleLine {
  file: string;
  fn: string;
  line: number;
  shows: string;
  ran?: RanLine;
}

/** The qemu-kvm 0.14 function that issued an ioctl (or thinly wrapped the call that did). */
export interface QemuPlace {
  fn: string;
  /** Path in the qemu-kvm-0.14.0 tree. */
  file: string;
  /**
   * True when the article names this function; `at` is then a line it shows at work, and without
   * `at` the article names it but elides the part that issues the ioctl. False when only the
   * qemu-kvm sources show it (the Selected-exit panel, which speaks of the article, leaves those out).
   */
  named: boolean;
  at?: ArticleLine;
}

export interface IoctlPlace {
  /** Our function that issues it (for close: the main thread's). Null: our VMM never issues it. */
  ours: Issuer | null;
  /** Other functions of ours that issue it too. */
  also?: readonly Issuer[];
  /** The method of the binding (packages/kvm-binding/lib/kvm.ts) that makes the system call. */
  binding: string;
  /** Null where qemu-kvm 0.14 had no function issuing this ioctl (the comment says why). */
  qemu: QemuPlace | null;
}

const onMain = (fn: string, file = MACHINE): Issuer => ({ file, fn, thread: "main" });
const onVcpu = (file: string, fn: string): Issuer => ({ file, fn, thread: "vcpu" });
/** Building the VM (Machine.run's first part): /dev/kvm, the VM, its memory and devices. */
const IN_RUN = onMain("Machine.#build");
/** Tearing it down (Machine.run's last part). */
const IN_TEARDOWN = onMain("Machine.#tearDown");
const VCPU_MAIN = onVcpu(THREAD, "main");
const RESET_VCPU = onVcpu(RESET, "resetToBootSector");

const named = (fn: string, file: string, at?: ArticleLine): QemuPlace => (at === undefined ? { fn, file, named: true } : { fn, file, named: true, at });
const fromSources = (fn: string, file: string): QemuPlace => ({ fn, file, named: false });

/** The vCPU thread's loop, which calls kvm_cpu_exec at article line 1495 ([article] 1486-1503; [illumos] qemu-kvm.c). */
export const QEMU_VCPU_LOOP: QemuPlace & { at: ArticleLine } = {
  fn: "kvm_main_loop_cpu", file: "qemu-kvm.c", named: true,
  at: { file: "qemu-kvm.c", fn: "kvm_main_loop_cpu", line: 1495, shows: "kvm_cpu_exec", ran: { file: "qemu-kvm.c", fn: "kvm_main_loop_cpu", line: 1419 } },
};

export const IOCTL_PLACES: Readonly<Record<KvmscopeIoctlName, IoctlPlace>> = {
  // [article] kvm_init opens /dev/kvm at line 155.
  open: { ours: IN_RUN, binding: "Kvm.open", qemu: named("kvm_init", "qemu-kvm.c", { file: "qemu-kvm.c", fn: "kvm_init", line: 155, shows: "/dev/kvm", ran: { file: "qemu-kvm.c", fn: "kvm_init", line: 155 } }) },
  // The main thread closes the VM and /dev/kvm fds after the vCPU threads have ended; each vCPU
  // thread closes its own vCPU fd. qemu-kvm 0.14 closed none of them on a normal run: the
  // process exit did. kvm_finalize (qemu-kvm.c) runs only when setup fails, with its vCPU and VM
  // closes commented out ("FIXME") [illumos][ceph]; kvm_init's close(fd) ([article] line 214) is
  // also the failure path.
  close: { ours: IN_TEARDOWN, also: [VCPU_MAIN], binding: "IoctlIssuer.close", qemu: null },
  // [article] names kvm_init and elides its middle (lines 160-210); [illumos] qemu-kvm.c kvm_init
  // issues ioctl(fd, KVM_GET_API_VERSION, 0) right after the open.
  KVM_GET_API_VERSION: { ours: IN_RUN, binding: "Kvm.getApiVersion", qemu: named("kvm_init", "qemu-kvm.c") },
  // [illumos] kvm-all.c kvm_check_extension: kvm_ioctl(s, KVM_CHECK_EXTENSION, extension). (kvm_init
  // does not issue it itself; qemu-kvm.c also calls kvm_ioctl(..., KVM_CHECK_EXTENSION, ...) in places.)
  KVM_CHECK_EXTENSION: { ours: IN_RUN, binding: "Kvm.checkExtension", qemu: fromSources("kvm_check_extension", "kvm-all.c") },
  // [illumos] qemu-kvm.c kvm_create_vcpu asks for the size right after KVM_CREATE_VCPU, on the vCPU
  // thread; we ask once, on the main thread. [article] names kvm_create_vcpu (line 1527), not this part.
  KVM_GET_VCPU_MMAP_SIZE: { ours: IN_RUN, binding: "Kvm.getVcpuMmapSize", qemu: named("kvm_create_vcpu", "qemu-kvm.c") },
  // [illumos] target-i386/kvm.c kvm_arch_get_supported_cpuid, through its static try_get_cpuid,
  // which issues KVM_GET_SUPPORTED_CPUID.
  KVM_GET_SUPPORTED_CPUID: { ours: IN_RUN, binding: "Kvm.getSupportedCpuid", qemu: fromSources("kvm_arch_get_supported_cpuid", "target-i386/kvm.c") },
  // [article] kvm_create_vm, KVM_CREATE_VM at line 316.
  KVM_CREATE_VM: { ours: IN_RUN, binding: "Kvm.createVm", qemu: named("kvm_create_vm", "qemu-kvm.c", { file: "qemu-kvm.c", fn: "kvm_create_vm", line: 316, shows: "KVM_CREATE_VM", ran: { file: "qemu-kvm.c", fn: "kvm_create_vm", line: 316 } }) },
  // [illumos] kvm-all.c kvm_set_user_memory_region (static), reached through the memory client
  // that qemu-kvm.c kvm_init registers.
  KVM_SET_USER_MEMORY_REGION: { ours: IN_RUN, binding: "Vm.setUserMemoryRegion", qemu: fromSources("kvm_set_user_memory_region", "kvm-all.c") },
  // [illumos] qemu-kvm-x86.c kvm_set_tss_addr, called from kvm_init_tss in kvm_arch_create.
  KVM_SET_TSS_ADDR: { ours: IN_RUN, binding: "Vm.setTssAddr", qemu: fromSources("kvm_set_tss_addr", "qemu-kvm-x86.c") },
  // [illumos] qemu-kvm-x86.c kvm_set_identity_map_addr (static), called from
  // kvm_init_identity_map_page in kvm_arch_create.
  KVM_SET_IDENTITY_MAP_ADDR: { ours: IN_RUN, binding: "Vm.setIdentityMapAddr", qemu: fromSources("kvm_set_identity_map_addr", "qemu-kvm-x86.c") },
  // [illumos][ceph] qemu-kvm.c kvm_create_irqchip.
  KVM_CREATE_IRQCHIP: { ours: IN_RUN, binding: "Vm.createIrqchip", qemu: fromSources("kvm_create_irqchip", "qemu-kvm.c") },
  // qemu-kvm 0.14 never issued KVM_CREATE_PIT2: its kvm_create_pit (qemu-kvm-x86.c, called from
  // kvm_arch_create) created the in-kernel PIT with the older KVM_CREATE_PIT [illumos][ceph].
  KVM_CREATE_PIT2: { ours: IN_RUN, binding: "Vm.createPit2", qemu: null },
  // Our VMM never raises an in-kernel irqchip line (with the in-kernel irqchip, the in-kernel PIT
  // drives IRQ 0 itself).
  // [illumos][ceph] qemu-kvm.c kvm_set_irq_level issues KVM_IRQ_LINE (KVM_IRQ_LINE_STATUS where the
  // kernel has it).
  KVM_IRQ_LINE: { ours: null, binding: "Vm.irqLine", qemu: fromSources("kvm_set_irq_level", "qemu-kvm.c") },
  // [article] ap_main_loop calls kvm_create_vcpu on the new thread, line 1527; [illumos] qemu-kvm.c
  // kvm_create_vcpu issues KVM_CREATE_VCPU.
  KVM_CREATE_VCPU: { ours: VCPU_MAIN, binding: "Vm.createVcpu", qemu: named("kvm_create_vcpu", "qemu-kvm.c", { file: "qemu-kvm.c", fn: "ap_main_loop", line: 1527, shows: "kvm_create_vcpu", ran: { file: "qemu-kvm.c", fn: "ap_main_loop", line: 1451 } }) },
  // [article] kvm-all.c kvm_cpu_exec issues KVM_RUN at line 941. We show the article's function,
  // because the class reads the article beside the trace, and beside it (ran) the KVM_RUN that
  // qemu-kvm 0.14 really issued: kvm_run, qemu-kvm.c:582 (the top of this file says why).
  KVM_RUN: { ours: onVcpu(LOOP, "runExitLoop"), binding: "Vcpu.run", qemu: named("kvm_cpu_exec", "kvm-all.c", { file: "kvm-all.c", fn: "kvm_cpu_exec", line: 941, shows: "KVM_RUN", ran: { file: "qemu-kvm.c", fn: "kvm_run", line: 582 } }) },
  // Our VMM never reads the general registers with an ioctl (KVM_CAP_SYNC_REGS gives them in
  // kvm_run). [illumos] target-i386/kvm.c kvm_getput_regs(env, 0), called from kvm_arch_save_regs.
  KVM_GET_REGS: { ours: null, binding: "Vcpu.getRegs", qemu: fromSources("kvm_getput_regs", "target-i386/kvm.c") },
  // [illumos] target-i386/kvm.c kvm_getput_regs(env, 1), called from kvm_arch_load_regs
  // (qemu-kvm-x86.c). (qemu-kvm.c also has a one-line kvm_set_regs; kvm_arch_load_regs does not use it.)
  KVM_SET_REGS: { ours: RESET_VCPU, binding: "Vcpu.setRegs", qemu: fromSources("kvm_getput_regs", "target-i386/kvm.c") },
  // Ours reads the reset state to change it, and reads it again after KVM_EXIT_INTERNAL_ERROR.
  // [illumos] target-i386/kvm.c kvm_get_sregs (static), called from kvm_arch_save_regs (qemu-kvm-x86.c).
  KVM_GET_SREGS: { ours: RESET_VCPU, also: [VCPU_MAIN], binding: "Vcpu.getSregs", qemu: fromSources("kvm_get_sregs", "target-i386/kvm.c") },
  // [illumos] target-i386/kvm.c kvm_put_sregs (static), called from kvm_arch_load_regs (qemu-kvm-x86.c).
  KVM_SET_SREGS: { ours: RESET_VCPU, binding: "Vcpu.setSregs", qemu: fromSources("kvm_put_sregs", "target-i386/kvm.c") },
  // [illumos] target-i386/kvm.c kvm_arch_init_vcpu, called from kvm_create_vcpu (qemu-kvm.c).
  KVM_SET_CPUID2: { ours: RESET_VCPU, binding: "Vcpu.setCpuid2", qemu: fromSources("kvm_arch_init_vcpu", "target-i386/kvm.c") },
  // [illumos][ceph] qemu-kvm.c kvm_inject_irq, called before each KVM_RUN from
  // kvm_arch_try_push_interrupts (qemu-kvm-x86.c) when the irqchip is in userspace.
  KVM_INTERRUPT: { ours: onVcpu(LOOP, "injectPendingInterrupt"), binding: "Vcpu.interrupt", qemu: fromSources("kvm_inject_irq", "qemu-kvm.c") },
  // Our VMM never reads the MP state. [illumos] qemu-kvm.c kvm_get_mpstate.
  KVM_GET_MP_STATE: { ours: null, binding: "Vcpu.getMpState", qemu: fromSources("kvm_get_mpstate", "qemu-kvm.c") },
  // [illumos] qemu-kvm.c kvm_set_mpstate, called from kvm_arch_load_mpstate (qemu-kvm-x86.c).
  KVM_SET_MP_STATE: { ours: VCPU_MAIN, binding: "Vcpu.setMpState", qemu: fromSources("kvm_set_mpstate", "qemu-kvm.c") },
  // The binary statistics fd arrived in Linux 5.14, long after qemu-kvm 0.14.
  KVM_GET_STATS_FD: { ours: VCPU_MAIN, binding: "Vcpu.getStatsFd", qemu: null },
  // Our VMM never single-steps its guests. [illumos][ceph] kvm-all.c kvm_invoke_set_guest_debug
  // (static), run on the vCPU thread by kvm_update_guest_debug.
  KVM_SET_GUEST_DEBUG: { ours: null, binding: "Vcpu.setGuestDebug", qemu: fromSources("kvm_invoke_set_guest_debug", "kvm-all.c") },
};

/** The table entry for a record's name, undefined for a name the table does not know. */
export function ioctlPlace(name: string): IoctlPlace | undefined {
  return Object.hasOwn(IOCTL_PLACES, name) ? IOCTL_PLACES[name as KvmscopeIoctlName] : undefined;
}

/** Every function of ours that issues `name`, the usual one first. */
export function issuersOf(name: string): Issuer[] {
  const place = ioctlPlace(name);
  if (place === undefined || place.ours === null) return [];
  return [place.ours, ...(place.also ?? [])];
}

/** The function of ours that issued `name` on a thread of this kind, or null when none of ours does. */
export function issuerOn(name: string, thread: VmmThread): Issuer | null {
  const all = issuersOf(name);
  return all.find((i) => i.thread === thread) ?? all[0] ?? null;
}

/** The binding method for `name` as a function of ours ("Kvm.createVm" in kvm.ts). */
export function bindingOf(name: string): { file: string; fn: string } {
  return { file: KVM_BINDING, fn: ioctlPlace(name)?.binding ?? "IoctlIssuer.ioctl" };
}
