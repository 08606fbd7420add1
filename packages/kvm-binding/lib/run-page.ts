// struct kvm_run, read and written in place: the page the kernel fills on every exit from KVM_RUN
// and reads on the next entry. No copies: every getter reads the shared memory as it is now.
// Offsets come from the compiler (kvmLayout), so they match the kernel headers this was built with.
import { kvmConstant, kvmLayout, native } from "./native.js";

const OFF = {
  requestInterruptWindow: kvmLayout("run.request_interrupt_window"),
  immediateExit: kvmLayout("run.immediate_exit"),
  exitReason: kvmLayout("run.exit_reason"),
  readyForInterruptInjection: kvmLayout("run.ready_for_interrupt_injection"),
  ifFlag: kvmLayout("run.if_flag"),
  flags: kvmLayout("run.flags"),
  cr8: kvmLayout("run.cr8"),
  apicBase: kvmLayout("run.apic_base"),
  hardwareExitReason: kvmLayout("run.hw.hardware_exit_reason"),
  failEntryReason: kvmLayout("run.fail_entry.hardware_entry_failure_reason"),
  failEntryCpu: kvmLayout("run.fail_entry.cpu"),
  exException: kvmLayout("run.ex.exception"),
  exErrorCode: kvmLayout("run.ex.error_code"),
  ioDirection: kvmLayout("run.io.direction"),
  ioSize: kvmLayout("run.io.size"),
  ioPort: kvmLayout("run.io.port"),
  ioCount: kvmLayout("run.io.count"),
  ioDataOffset: kvmLayout("run.io.data_offset"),
  debugException: kvmLayout("run.debug.arch.exception"),
  debugPc: kvmLayout("run.debug.arch.pc"),
  debugDr6: kvmLayout("run.debug.arch.dr6"),
  debugDr7: kvmLayout("run.debug.arch.dr7"),
  mmioPhysAddr: kvmLayout("run.mmio.phys_addr"),
  mmioData: kvmLayout("run.mmio.data"),
  mmioLen: kvmLayout("run.mmio.len"),
  mmioIsWrite: kvmLayout("run.mmio.is_write"),
  hypercallNr: kvmLayout("run.hypercall.nr"),
  internalSuberror: kvmLayout("run.internal.suberror"),
  internalNdata: kvmLayout("run.internal.ndata"),
  internalData: kvmLayout("run.internal.data"),
  systemEventType: kvmLayout("run.system_event.type"),
  systemEventNdata: kvmLayout("run.system_event.ndata"),
  systemEventData: kvmLayout("run.system_event.data"),
  validRegs: kvmLayout("run.kvm_valid_regs"),
  dirtyRegs: kvmLayout("run.kvm_dirty_regs"),
  syncRegs: kvmLayout("run.s.regs"),
  syncRip: kvmLayout("run.s.regs") + kvmLayout("regs.rip"),
  syncRflags: kvmLayout("run.s.regs") + kvmLayout("regs.rflags"),
} as const;

export const KVM_RUN_OFFSETS: Readonly<Record<keyof typeof OFF, number>> = OFF;

export class KvmRunPage {
  /** The whole mapping (struct kvm_run, then the pages KVM puts after it, e.g. the PIO data page). */
  readonly bytes: Uint8Array;
  readonly view: DataView;

  constructor(readonly buffer: ArrayBuffer) {
    this.bytes = new Uint8Array(buffer);
    this.view = new DataView(buffer);
  }

  // --- set by userspace before KVM_RUN ---
  /** Ask KVM to exit with KVM_EXIT_IRQ_WINDOW_OPEN as soon as the guest can take an interrupt. */
  get requestInterruptWindow(): number { return this.view.getUint8(OFF.requestInterruptWindow); }
  set requestInterruptWindow(v: number) { this.view.setUint8(OFF.requestInterruptWindow, v); }
  /** Non-zero: KVM_RUN returns -EINTR at once instead of entering the guest. Stays set until cleared. */
  get immediateExit(): number { return this.view.getUint8(OFF.immediateExit); }
  set immediateExit(v: number) { this.view.setUint8(OFF.immediateExit, v); }

  // --- set by KVM on exit ---
  get exitReason(): number { return this.view.getUint32(OFF.exitReason, true); }
  /** The guest can take an external interrupt now (KVM_INTERRUPT would be delivered at the next entry). */
  get readyForInterruptInjection(): number { return this.view.getUint8(OFF.readyForInterruptInjection); }
  /** The guest's RFLAGS.IF at the exit. */
  get ifFlag(): number { return this.view.getUint8(OFF.ifFlag); }
  get flags(): number { return this.view.getUint16(OFF.flags, true); }
  get cr8(): bigint { return this.view.getBigUint64(OFF.cr8, true); }
  get apicBase(): bigint { return this.view.getBigUint64(OFF.apicBase, true); }

  // KVM_EXIT_IO. For an IN, userspace fills data before the next KVM_RUN.
  get ioDirection(): number { return this.view.getUint8(OFF.ioDirection); }
  get ioSize(): number { return this.view.getUint8(OFF.ioSize); }
  get ioPort(): number { return this.view.getUint16(OFF.ioPort, true); }
  get ioCount(): number { return this.view.getUint32(OFF.ioCount, true); }
  /** Where in this mapping the data bytes are (count * size of them, in guest order). */
  get ioDataOffset(): number {
    // A __u64 inside a page-sized mapping: the high half is 0 (read as two halves: no BigInt on the hot path).
    return this.view.getUint32(OFF.ioDataOffset, true) + this.view.getUint32(OFF.ioDataOffset + 4, true) * 0x1_0000_0000;
  }

  // KVM_EXIT_MMIO. For a read, userspace fills data before the next KVM_RUN.
  get mmioPhysAddr(): bigint { return this.view.getBigUint64(OFF.mmioPhysAddr, true); }
  /** The low 53 bits of the MMIO address as a number: enough for any guest-physical address on x86. */
  get mmioPhysAddrNumber(): number {
    return this.view.getUint32(OFF.mmioPhysAddr, true) + this.view.getUint32(OFF.mmioPhysAddr + 4, true) * 0x1_0000_0000;
  }
  get mmioLen(): number { return this.view.getUint32(OFF.mmioLen, true); }
  get mmioIsWrite(): number { return this.view.getUint8(OFF.mmioIsWrite); }
  /** Offset of the 8-byte mmio.data array inside the page. */
  get mmioDataOffset(): number { return OFF.mmioData; }

  // KVM_EXIT_FAIL_ENTRY
  get failEntryReason(): bigint { return this.view.getBigUint64(OFF.failEntryReason, true); }
  get failEntryCpu(): number { return this.view.getUint32(OFF.failEntryCpu, true); }
  // KVM_EXIT_UNKNOWN
  get hardwareExitReason(): bigint { return this.view.getBigUint64(OFF.hardwareExitReason, true); }
  // KVM_EXIT_EXCEPTION
  get exception(): number { return this.view.getUint32(OFF.exException, true); }
  get exceptionErrorCode(): number { return this.view.getUint32(OFF.exErrorCode, true); }
  // KVM_EXIT_DEBUG
  get debugException(): number { return this.view.getUint32(OFF.debugException, true); }
  get debugPc(): bigint { return this.view.getBigUint64(OFF.debugPc, true); }
  get debugDr6(): bigint { return this.view.getBigUint64(OFF.debugDr6, true); }
  get debugDr7(): bigint { return this.view.getBigUint64(OFF.debugDr7, true); }
  // KVM_EXIT_HYPERCALL
  get hypercallNr(): bigint { return this.view.getBigUint64(OFF.hypercallNr, true); }
  // KVM_EXIT_INTERNAL_ERROR
  get internalSuberror(): number { return this.view.getUint32(OFF.internalSuberror, true); }
  /** internal.data[0 .. ndata): for emulation failures, insn length and bytes among others. */
  internalData(): bigint[] {
    const n = Math.min(this.view.getUint32(OFF.internalNdata, true), 16);
    return Array.from({ length: n }, (_, i) => this.view.getBigUint64(OFF.internalData + 8 * i, true));
  }
  // KVM_EXIT_SYSTEM_EVENT
  get systemEventType(): number { return this.view.getUint32(OFF.systemEventType, true); }
  systemEventData(): bigint[] {
    const n = Math.min(this.view.getUint32(OFF.systemEventNdata, true), 16);
    return Array.from({ length: n }, (_, i) => this.view.getBigUint64(OFF.systemEventData + 8 * i, true));
  }

  // --- KVM_CAP_SYNC_REGS: registers in the page, no KVM_GET_REGS needed ---
  /** Which register sets KVM copies into the page on every exit (KVM_SYNC_X86_REGS, ...). */
  get validRegs(): bigint { return this.view.getBigUint64(OFF.validRegs, true); }
  set validRegs(v: bigint) { this.view.setBigUint64(OFF.validRegs, v, true); }
  set dirtyRegs(v: bigint) { this.view.setBigUint64(OFF.dirtyRegs, v, true); }
  /** Ask KVM to store the general registers in the page on every exit. */
  enableSyncRegs(): void {
    this.validRegs = BigInt(kvmConstant("KVM_SYNC_X86_REGS"));
  }
  /** Guest RIP at the exit (needs enableSyncRegs), as a number: exact below 2^53. */
  get syncRip(): number {
    return this.view.getUint32(OFF.syncRip, true) + this.view.getUint32(OFF.syncRip + 4, true) * 0x1_0000_0000;
  }
  get syncRflags(): number { return this.view.getUint32(OFF.syncRflags, true); }
  /** Offset of struct kvm_regs inside the page (sync regs). */
  get syncRegsOffset(): number { return OFF.syncRegs; }

  /** Releases this thread's view (see native unmap): the page reads as empty afterwards. */
  unmap(): void {
    if (this.buffer.byteLength > 0) native.unmap(this.buffer);
  }
}
