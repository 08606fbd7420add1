// Three classes for the kernel's three kinds of KVM file descriptor, one method per ioctl, named
// after it: `Kvm` (/dev/kvm, the system), `Vm` (from KVM_CREATE_VM), `Vcpu` (from KVM_CREATE_VCPU).
// A VM can only come from a Kvm and a vCPU only from a VM, as in the kernel.
//
// Every ioctl goes through `IoctlIssuer.ioctl`, which times it and reports it to an optional
// observer (the VMM's tracer), then throws a KvmError if it failed. KVM_RUN is the exception: it
// is the hot path and reports through its own stamps (see Vcpu.run).
import { check, KvmError, openHint } from "./errors.js";
import { kvmConstant, kvmLayout, native } from "./native.js";
import { KvmRunPage } from "./run-page.js";
import {
  type CpuidEntry, decodeCpuid, decodeRegs, decodeSregs, encodeCpuid, encodeRegs, encodeSregs,
  type Regs, type Sregs, structBuffer,
} from "./structs.js";
import { VcpuStats } from "./stats.js";

/** One finished system call on a KVM fd, as the observer sees it. */
export interface IoctlEvent {
  /** The ioctl's name from the KVM API ("KVM_CREATE_VCPU"), or "open" / "close". */
  name: string;
  fd: number;
  /** Up to three numbers that say what was asked (see @kvmscope/shared IOCTLS for each name). */
  args: readonly number[];
  /** The return value (>= 0), or -1 when it failed. */
  ret: number;
  /** 0, or the errno it failed with. */
  errno: number;
  startNs: number;
  durNs: number;
}

export type IoctlObserver = (event: IoctlEvent) => void;

export const DEFAULT_KVM_PATH = "/dev/kvm";

/** What the three fd classes share: an fd, an observer, and the one way to issue an ioctl. */
abstract class IoctlIssuer {
  constructor(readonly fd: number, public observer: IoctlObserver | undefined) {}

  /** Issues `request` and reports it; returns the result or throws the KvmError for it. */
  protected ioctl(name: string, args: readonly number[], issue: () => number): number {
    const startNs = native.now();
    const ret = issue();
    const durNs = native.now() - startNs;
    this.observer?.({ name, fd: this.fd, args, ret: ret < 0 ? -1 : ret, errno: ret < 0 ? -ret : 0, startNs, durNs });
    return check(name, ret);
  }

  protected ioctlInt(name: string, arg = 0, args: readonly number[] = [arg]): number {
    return this.ioctl(name, args, () => native.ioctlInt(this.fd, kvmConstant(name), arg));
  }

  protected ioctlPtr(name: string, bytes: Uint8Array, args: readonly number[] = []): number {
    return this.ioctl(name, args, () => native.ioctlPtr(this.fd, kvmConstant(name), bytes));
  }

  #closed = false;
  /** Closes the fd (once; later calls do nothing). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.ioctl("close", [], () => native.close(this.fd));
  }
}

/** The system: an open /dev/kvm. qemu-kvm 0.14: kvm_init (qemu-kvm.c) opens it. */
export class Kvm extends IoctlIssuer {
  readonly path: string;

  private constructor(fd: number, path: string, observer: IoctlObserver | undefined) {
    super(fd, observer);
    this.path = path;
  }

  /** Opens /dev/kvm (or `path`). A missing device or a missing permission is a KvmError saying so. */
  static open(options: { path?: string; observer?: IoctlObserver } = {}): Kvm {
    const path = options.path ?? DEFAULT_KVM_PATH;
    const startNs = native.now();
    const fd = native.open(path);
    const durNs = native.now() - startNs;
    options.observer?.({ name: "open", fd: fd < 0 ? -1 : fd, args: [], ret: fd < 0 ? -1 : fd, errno: fd < 0 ? -fd : 0, startNs, durNs });
    if (fd < 0) throw KvmError.from(`open ${path}`, fd, openHint(path, native.errnoName(-fd)));
    return new Kvm(fd, path, options.observer);
  }

  /** KVM_GET_API_VERSION: 12 on every kernel since 2.6.22; anything else is not the API we speak. */
  getApiVersion(): number {
    return this.ioctlInt("KVM_GET_API_VERSION");
  }

  /** KVM_CHECK_EXTENSION: 0 when `cap` is missing, else 1 or a capability-specific number. */
  checkExtension(cap: number | string): number {
    const value = typeof cap === "string" ? kvmConstant(cap) : cap;
    return this.ioctlInt("KVM_CHECK_EXTENSION", value);
  }

  /** KVM_GET_VCPU_MMAP_SIZE: the bytes to mmap from a vCPU fd (struct kvm_run and what follows). */
  getVcpuMmapSize(): number {
    return this.ioctlInt("KVM_GET_VCPU_MMAP_SIZE");
  }

  /** KVM_GET_SUPPORTED_CPUID: the CPUID leaves this host's KVM can present to a guest. */
  getSupportedCpuid(maxEntries = 256): CpuidEntry[] {
    const { bytes, view } = structBuffer("kvm_cpuid2", maxEntries * kvmLayout("kvm_cpuid_entry2"));
    view.setUint32(kvmLayout("cpuid2.nent"), maxEntries, true);
    this.ioctlPtr("KVM_GET_SUPPORTED_CPUID", bytes, [maxEntries]);
    return decodeCpuid(bytes);
  }

  /** KVM_CREATE_VM. qemu-kvm 0.14: kvm_create_vm (qemu-kvm.c). */
  createVm(type = 0): Vm {
    const fd = this.ioctlInt("KVM_CREATE_VM", type);
    return new Vm(fd, this.observer);
  }
}

/** One memory slot: guest-physical [guestPhysAddr, +memorySize) backed by host memory at userspaceAddr. */
export interface MemoryRegion {
  slot: number;
  flags?: number;
  guestPhysAddr: bigint;
  memorySize: bigint;
  userspaceAddr: bigint;
}

/** A VM fd. */
export class Vm extends IoctlIssuer {
  /**
   * A VM fd created elsewhere in this process (a worker thread receives the number from the main
   * thread: fds belong to the process, not to a thread). The adopter does not own it: close() is
   * the creator's job.
   */
  static adopt(fd: number, observer?: IoctlObserver): Vm {
    return new Vm(fd, observer);
  }

  /** KVM_SET_USER_MEMORY_REGION: creates, moves or (memorySize 0) deletes a memory slot. */
  setUserMemoryRegion(region: MemoryRegion): void {
    const { bytes, view } = structBuffer("kvm_userspace_memory_region");
    view.setUint32(kvmLayout("region.slot"), region.slot, true);
    view.setUint32(kvmLayout("region.flags"), region.flags ?? 0, true);
    view.setBigUint64(kvmLayout("region.guest_phys_addr"), region.guestPhysAddr, true);
    view.setBigUint64(kvmLayout("region.memory_size"), region.memorySize, true);
    view.setBigUint64(kvmLayout("region.userspace_addr"), region.userspaceAddr, true);
    this.ioctlPtr("KVM_SET_USER_MEMORY_REGION", bytes, [region.slot, Number(region.guestPhysAddr), Number(region.memorySize)]);
  }

  /** KVM_SET_TSS_ADDR: three pages of guest-physical space Intel VMX needs for real-mode emulation. */
  setTssAddr(addr: number): void {
    this.ioctlInt("KVM_SET_TSS_ADDR", addr);
  }

  /** KVM_SET_IDENTITY_MAP_ADDR: one page for the identity page table VMX uses in real mode. */
  setIdentityMapAddr(addr: bigint): void {
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setBigUint64(0, addr, true);
    this.ioctlPtr("KVM_SET_IDENTITY_MAP_ADDR", bytes, [Number(addr)]);
  }

  /** KVM_CREATE_IRQCHIP: an in-kernel PIC pair, IOAPIC and a local APIC per vCPU. */
  createIrqchip(): void {
    this.ioctlInt("KVM_CREATE_IRQCHIP", 0, []);
  }

  /**
   * KVM_CREATE_PIT2: an in-kernel 8254 timer on ports 0x40-0x43. The default flags ask for
   * KVM_PIT_SPEAKER_DUMMY, which also puts port 0x61 (system control port B, counter 2's gate
   * and output) inside KVM, as qemu-kvm's in-kernel PIT did; with 0, a guest's access to 0x61
   * would come back to the VMM as KVM_EXIT_IO.
   */
  createPit2(flags = kvmConstant("KVM_PIT_SPEAKER_DUMMY")): void {
    const { bytes, view } = structBuffer("kvm_pit_config");
    view.setUint32(kvmLayout("pit_config.flags"), flags, true);
    this.ioctlPtr("KVM_CREATE_PIT2", bytes, [flags]);
  }

  /** KVM_IRQ_LINE: sets an in-kernel irqchip input line (GSI `irq`) to `level`. */
  irqLine(irq: number, level: number): void {
    const { bytes, view } = structBuffer("kvm_irq_level");
    view.setUint32(kvmLayout("irq_level.irq"), irq, true);
    view.setUint32(kvmLayout("irq_level.level"), level, true);
    this.ioctlPtr("KVM_IRQ_LINE", bytes, [irq, level]);
  }

  /**
   * KVM_CREATE_VCPU. Call it on the thread that will run the vCPU: that thread maps its own view
   * of the kvm_run page here. qemu-kvm 0.14: kvm_create_vcpu, called from ap_main_loop.
   */
  createVcpu(id: number, mmapSize: number): Vcpu {
    const fd = this.ioctlInt("KVM_CREATE_VCPU", id);
    return new Vcpu(fd, id, mmapSize, this.observer);
  }
}

/** KVM_GET_MP_STATE / KVM_SET_MP_STATE values (x86). */
export const MP_STATE = {
  RUNNABLE: 0,
  UNINITIALIZED: 1,
  INIT_RECEIVED: 2,
  HALTED: 3,
  SIPI_RECEIVED: 4,
} as const;

/** A vCPU fd, with this thread's view of its kvm_run page. */
export class Vcpu extends IoctlIssuer {
  readonly id: number;
  /** The shared struct kvm_run, read in place after every KVM_RUN. */
  readonly runPage: KvmRunPage;
  /** [entered KVM_RUN, returned from it], CLOCK_MONOTONIC ns, written by every run(). */
  readonly stamps = new Float64Array(2);

  /** @internal use Vm.createVcpu */
  constructor(fd: number, id: number, mmapSize: number, observer: IoctlObserver | undefined) {
    super(fd, observer);
    this.id = id;
    const mapped = native.mapShared(fd, mmapSize);
    if (typeof mapped === "number") throw KvmError.from("mmap (vCPU kvm_run)", mapped);
    this.runPage = new KvmRunPage(mapped);
  }

  /**
   * KVM_RUN: enters the guest until it exits. Returns 0 (read runPage.exitReason), or -EINTR /
   * -EAGAIN: the thread was kicked or hit by some other signal before or while in the guest; the
   * caller looks at its control word and calls again. Any other failure throws.
   */
  run(): number {
    const ret = native.run(this.fd, this.stamps);
    if (ret >= 0 || ret === EINTR || ret === EAGAIN) return ret;
    throw KvmError.from("KVM_RUN", ret);
  }

  /** KVM_GET_REGS */
  getRegs(): Regs {
    const { bytes, view } = structBuffer("kvm_regs");
    this.ioctlPtr("KVM_GET_REGS", bytes);
    return decodeRegs(view);
  }

  /** KVM_SET_REGS */
  setRegs(regs: Regs): void {
    const { bytes, view } = structBuffer("kvm_regs");
    encodeRegs(view, regs);
    this.ioctlPtr("KVM_SET_REGS", bytes, [Number(regs.rip)]);
  }

  /** KVM_GET_SREGS */
  getSregs(): Sregs {
    const { bytes, view } = structBuffer("kvm_sregs");
    this.ioctlPtr("KVM_GET_SREGS", bytes);
    return decodeSregs(view);
  }

  /** KVM_SET_SREGS */
  setSregs(sregs: Sregs): void {
    const { bytes, view } = structBuffer("kvm_sregs");
    encodeSregs(view, sregs);
    this.ioctlPtr("KVM_SET_SREGS", bytes, [Number(sregs.cr0), Number(sregs.efer)]);
  }

  /** KVM_SET_CPUID2: what CPUID answers inside the guest. */
  setCpuid2(entries: readonly CpuidEntry[]): void {
    this.ioctlPtr("KVM_SET_CPUID2", encodeCpuid(entries), [entries.length]);
  }

  /**
   * KVM_INTERRUPT: queues external interrupt `vector` for injection at the next KVM_RUN. Only
   * without an in-kernel irqchip, and only when runPage.readyForInterruptInjection says the guest
   * can take one (else set requestInterruptWindow and wait for KVM_EXIT_IRQ_WINDOW_OPEN).
   */
  interrupt(vector: number): void {
    const { bytes, view } = structBuffer("kvm_interrupt");
    view.setUint32(kvmLayout("interrupt.irq"), vector, true);
    this.ioctlPtr("KVM_INTERRUPT", bytes, [vector]);
  }

  /** KVM_GET_MP_STATE: RUNNABLE, HALTED, ... (see MP_STATE). */
  getMpState(): number {
    const { bytes, view } = structBuffer("kvm_mp_state");
    this.ioctlPtr("KVM_GET_MP_STATE", bytes);
    return view.getUint32(kvmLayout("mp_state.mp_state"), true);
  }

  /** KVM_SET_MP_STATE */
  setMpState(state: number): void {
    const { bytes, view } = structBuffer("kvm_mp_state");
    view.setUint32(kvmLayout("mp_state.mp_state"), state, true);
    this.ioctlPtr("KVM_SET_MP_STATE", bytes, [state]);
  }

  /** KVM_SET_GUEST_DEBUG: e.g. KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP for KVM_EXIT_DEBUG after each instruction. */
  setGuestDebug(control: number): void {
    const { bytes, view } = structBuffer("kvm_guest_debug");
    view.setUint32(kvmLayout("guest_debug.control"), control, true);
    this.ioctlPtr("KVM_SET_GUEST_DEBUG", bytes, [control]);
  }

  /** KVM_GET_STATS_FD: the kernel's binary statistics for this vCPU (exits it handled itself, ...). */
  getStatsFd(): VcpuStats {
    const fd = this.ioctlInt("KVM_GET_STATS_FD", 0, []);
    return new VcpuStats(fd);
  }

  /** Unmaps this thread's kvm_run view and closes the fd. */
  override close(): void {
    this.runPage.unmap();
    super.close();
  }
}

const EINTR = -4;
const EAGAIN = -11;

/**
 * The main thread's handle for kicking a vCPU out of KVM_RUN: its own view of that vCPU's kvm_run
 * page (to set immediate_exit) and the vCPU thread's kernel tid (to signal it).
 */
export class VcpuKicker {
  readonly runPage: KvmRunPage;

  constructor(readonly vcpuFd: number, mmapSize: number, public tid = 0) {
    const mapped = native.mapShared(vcpuFd, mmapSize);
    if (typeof mapped === "number") throw KvmError.from("mmap (vCPU kvm_run)", mapped);
    this.runPage = new KvmRunPage(mapped);
  }

  /**
   * Makes the vCPU's current or next KVM_RUN return -EINTR. immediate_exit first: if the signal
   * lands just before the thread enters KVM_RUN, the kernel still sees the flag and returns at once.
   * The vCPU thread clears immediate_exit itself when it handles the EINTR. Returns false when the
   * thread is gone (ESRCH).
   */
  kick(): boolean {
    if (this.#closed) return false;
    this.runPage.immediateExit = 1;
    if (this.tid === 0) return false;
    return native.kick(this.tid) === 0;
  }

  #closed = false;

  /** Unmaps this view; kick() does nothing afterwards. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.runPage.unmap();
  }
}

/** This thread's kernel thread id (what a VcpuKicker needs). */
export function currentTid(): number {
  return native.gettid();
}

/** CLOCK_MONOTONIC in ns: the clock of Vcpu.stamps and IoctlEvent.startNs. */
export function monotonicNs(): number {
  return native.now();
}

/**
 * Guest RAM: anonymous host memory, given to a VM with Vm.setUserMemoryRegion({ userspaceAddr:
 * address }). Owned by the main thread, which closes it after the VM fd is closed (the kernel may
 * touch it as long as the memory slot exists).
 */
export class GuestMemory {
  readonly buffer: ArrayBuffer;
  readonly bytes: Uint8Array;
  readonly address: bigint;

  constructor(readonly size: number) {
    const mapped = native.mapAnonymous(size);
    if (typeof mapped === "number") throw KvmError.from(`mmap (${size} bytes of guest RAM)`, mapped);
    this.buffer = mapped.buffer;
    this.bytes = new Uint8Array(mapped.buffer);
    this.address = mapped.address;
  }

  #closed = false;

  /**
   * Unmaps the memory (and detaches `buffer`, which then reads as empty) after a short grace
   * period. Why not at once: measured on a kvm-pvm host, a VM created right after another one was
   * closed, whose guest RAM mmap lands at the very address the old VM's RAM had, fails its first
   * instruction fetch (KVM_EXIT_INTERNAL_ERROR, emulation) about every second time; keeping the old
   * range mapped for a few milliseconds makes the new mmap land elsewhere, and 16 VMs in a row
   * then all ran (5 ms was enough; we wait 1 s). The timer does not keep the process alive.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const buffer = this.buffer;
    setTimeout(() => {
      if (buffer.byteLength > 0) native.unmap(buffer);
    }, GUEST_MEMORY_UNMAP_GRACE_MS).unref();
  }

  get closed(): boolean {
    return this.#closed;
  }
}

const GUEST_MEMORY_UNMAP_GRACE_MS = 1000;
