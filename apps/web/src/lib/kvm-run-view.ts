// struct kvm_run as it stood at one exit, rebuilt from the exit's trace record: the page the kernel
// fills when KVM_RUN returns and the VMM reads (and partly writes) before the next KVM_RUN. The
// record carries only part of the page; every field says whether its value is known from the
// record or not recorded, and which side writes it. Offsets are x86-64, from <linux/kvm.h>
// (a test compiles offsetof() against the installed header and compares).
import { EXIT_IO, type ExitRecord, ioctlId, KvmExit, MAIN_THREAD, RecordKind } from "@kvmscope/shared";
import type { TraceStore } from "./trace-store";
import { formatAccessData } from "./explain";
import { hex } from "./format";
import { COM1, LCR_DLAB, UART_REG } from "./uart";

/** The union member an exit reason uses (none: the reason carries no payload, e.g. HLT). */
export type RunMember =
  | "header" | "hw" | "fail_entry" | "ex" | "io" | "debug" | "mmio" | "hypercall" | "internal" | "system_event" | "sync_regs";

/** Who writes a field: KVM when KVM_RUN returns, the VMM before the next KVM_RUN, or both. */
export type Writer = "kernel" | "vmm" | "both";

export interface KvmRunField {
  /** The C member path inside struct kvm_run, e.g. "io.port" (the io data row: "io data"). */
  path: string;
  cType: string;
  /** Byte offset in struct kvm_run on x86-64; null for the io data, which lives at kvm_run + io.data_offset. */
  offset: number | null;
  size: number;
  member: RunMember;
  writer: Writer;
}

/** The fields of struct kvm_run shown in the memory table, in offset order within each part. */
export const KVM_RUN_FIELDS: readonly KvmRunField[] = [
  { path: "request_interrupt_window", cType: "__u8", offset: 0, size: 1, member: "header", writer: "vmm" },
  { path: "immediate_exit", cType: "__u8", offset: 1, size: 1, member: "header", writer: "vmm" },
  { path: "exit_reason", cType: "__u32", offset: 8, size: 4, member: "header", writer: "kernel" },
  { path: "ready_for_interrupt_injection", cType: "__u8", offset: 12, size: 1, member: "header", writer: "kernel" },
  { path: "if_flag", cType: "__u8", offset: 13, size: 1, member: "header", writer: "kernel" },
  { path: "flags", cType: "__u16", offset: 14, size: 2, member: "header", writer: "kernel" },
  { path: "cr8", cType: "__u64", offset: 16, size: 8, member: "header", writer: "both" },
  { path: "apic_base", cType: "__u64", offset: 24, size: 8, member: "header", writer: "both" },
  // The union at offset 32: one member per exit reason.
  { path: "hw.hardware_exit_reason", cType: "__u64", offset: 32, size: 8, member: "hw", writer: "kernel" },
  { path: "fail_entry.hardware_entry_failure_reason", cType: "__u64", offset: 32, size: 8, member: "fail_entry", writer: "kernel" },
  { path: "fail_entry.cpu", cType: "__u32", offset: 40, size: 4, member: "fail_entry", writer: "kernel" },
  { path: "ex.exception", cType: "__u32", offset: 32, size: 4, member: "ex", writer: "kernel" },
  { path: "ex.error_code", cType: "__u32", offset: 36, size: 4, member: "ex", writer: "kernel" },
  { path: "io.direction", cType: "__u8", offset: 32, size: 1, member: "io", writer: "kernel" },
  { path: "io.size", cType: "__u8", offset: 33, size: 1, member: "io", writer: "kernel" },
  { path: "io.port", cType: "__u16", offset: 34, size: 2, member: "io", writer: "kernel" },
  { path: "io.count", cType: "__u32", offset: 36, size: 4, member: "io", writer: "kernel" },
  { path: "io.data_offset", cType: "__u64", offset: 40, size: 8, member: "io", writer: "kernel" },
  // Not in the struct: the bytes at kvm_run + data_offset (the next page of the vCPU mapping).
  // The kernel fills them for OUT; for IN the VMM fills them before the next KVM_RUN.
  { path: "io data", cType: "__u8[size * count]", offset: null, size: 0, member: "io", writer: "both" },
  { path: "debug.arch.exception", cType: "__u32", offset: 32, size: 4, member: "debug", writer: "kernel" },
  { path: "debug.arch.pc", cType: "__u64", offset: 40, size: 8, member: "debug", writer: "kernel" },
  { path: "debug.arch.dr6", cType: "__u64", offset: 48, size: 8, member: "debug", writer: "kernel" },
  { path: "debug.arch.dr7", cType: "__u64", offset: 56, size: 8, member: "debug", writer: "kernel" },
  { path: "mmio.phys_addr", cType: "__u64", offset: 32, size: 8, member: "mmio", writer: "kernel" },
  // For a write the kernel fills data; for a read the VMM does, before the next KVM_RUN.
  { path: "mmio.data", cType: "__u8[8]", offset: 40, size: 8, member: "mmio", writer: "both" },
  { path: "mmio.len", cType: "__u32", offset: 48, size: 4, member: "mmio", writer: "kernel" },
  { path: "mmio.is_write", cType: "__u8", offset: 52, size: 1, member: "mmio", writer: "kernel" },
  { path: "hypercall.nr", cType: "__u64", offset: 32, size: 8, member: "hypercall", writer: "kernel" },
  { path: "hypercall.args", cType: "__u64[6]", offset: 40, size: 48, member: "hypercall", writer: "kernel" },
  { path: "internal.suberror", cType: "__u32", offset: 32, size: 4, member: "internal", writer: "kernel" },
  { path: "internal.ndata", cType: "__u32", offset: 36, size: 4, member: "internal", writer: "kernel" },
  { path: "internal.data[0]", cType: "__u64", offset: 40, size: 8, member: "internal", writer: "kernel" },
  { path: "internal.data[1]", cType: "__u64", offset: 48, size: 8, member: "internal", writer: "kernel" },
  { path: "system_event.type", cType: "__u32", offset: 32, size: 4, member: "system_event", writer: "kernel" },
  { path: "system_event.ndata", cType: "__u32", offset: 36, size: 4, member: "system_event", writer: "kernel" },
  { path: "system_event.data[0]", cType: "__u64", offset: 40, size: 8, member: "system_event", writer: "kernel" },
  // After the union (KVM_CAP_SYNC_REGS): the VMM asks for the registers, KVM stores them on every exit.
  { path: "kvm_valid_regs", cType: "__u64", offset: 288, size: 8, member: "sync_regs", writer: "vmm" },
  { path: "kvm_dirty_regs", cType: "__u64", offset: 296, size: 8, member: "sync_regs", writer: "vmm" },
  { path: "s.regs.regs.rip", cType: "__u64", offset: 432, size: 8, member: "sync_regs", writer: "kernel" },
  { path: "s.regs.regs.rflags", cType: "__u64", offset: 440, size: 8, member: "sync_regs", writer: "kernel" },
];

/** The union member each exit reason fills in. */
export function memberForReason(code: number): RunMember | null {
  switch (code) {
    case KvmExit.UNKNOWN: return "hw";
    case KvmExit.FAIL_ENTRY: return "fail_entry";
    case KvmExit.EXCEPTION: return "ex";
    case KvmExit.IO: return "io";
    case KvmExit.DEBUG: return "debug";
    case KvmExit.MMIO: return "mmio";
    case KvmExit.HYPERCALL: return "hypercall";
    case KvmExit.INTERNAL_ERROR: return "internal";
    case KvmExit.SYSTEM_EVENT: return "system_event";
    default: return null;
  }
}

export interface KvmRunRow extends KvmRunField {
  /** Header and sync-regs rows always; union rows only for the member this exit reason uses. */
  active: boolean;
  /** The record carries this value. */
  known: boolean;
  /** The value, language-neutral (numbers, hex, bytes); null when not known or not active. */
  display: string | null;
  /** Who wrote the value in this particular exit (the io data and mmio.data depend on the direction). */
  writtenBy: Writer;
  /** Known, active, and different from the previous exit on the same vCPU (or newly active). */
  changed: boolean;
}

function flag(b: boolean): string {
  return b ? "1" : "0";
}

/** The value the record gives for one field, or null when the record does not carry it. */
function valueOf(path: string, rec: ExitRecord): string | null {
  const io = rec.io;
  const mmio = rec.mmio;
  switch (path) {
    case "request_interrupt_window": return flag(rec.requestedWindow);
    case "exit_reason": return `${rec.code} (${rec.reason})`;
    case "ready_for_interrupt_injection": return flag(rec.readyForInjection);
    case "if_flag": return flag(rec.ifFlag);
    case "io.direction": return io ? `${io.direction === "in" ? 0 : 1} (KVM_EXIT_IO_${io.direction.toUpperCase()})` : null;
    case "io.size": return io ? String(io.size) : null;
    case "io.port": return io ? hex(io.port) : null;
    case "io.count": return io ? String(io.count) : null;
    case "io data": {
      if (!io) return null;
      const shown = formatAccessData(io.data, io.size, "en");
      return io.truncated === true ? `${shown}, … (${io.dataLen ?? "?"} B)` : shown;
    }
    case "mmio.phys_addr": return mmio ? hex(mmio.addr) : null;
    case "mmio.data": return mmio ? formatAccessData(mmio.data, mmio.len, "en") : null;
    case "mmio.len": return mmio ? String(mmio.len) : null;
    case "mmio.is_write": return mmio ? flag(mmio.isWrite) : null;
    case "hw.hardware_exit_reason": return rec.unknown ? hex(rec.unknown.hardwareExitReason) : null;
    case "fail_entry.hardware_entry_failure_reason": return rec.failEntry ? hex(rec.failEntry.reason) : null;
    case "fail_entry.cpu": return rec.failEntry ? String(rec.failEntry.cpu) : null;
    case "ex.exception": return rec.exception ? String(rec.exception.exception) : null;
    case "ex.error_code": return rec.exception ? hex(rec.exception.errorCode) : null;
    case "debug.arch.exception": return rec.debug ? String(rec.debug.exception) : null;
    case "debug.arch.pc": return rec.debug ? hex(rec.debug.pc) : null;
    case "debug.arch.dr6": return rec.debug ? hex(rec.debug.dr6) : null;
    case "debug.arch.dr7": return rec.debug ? hex(rec.debug.dr7) : null;
    case "hypercall.nr": return rec.hypercall ? String(rec.hypercall.nr) : null;
    case "internal.suberror": return rec.internal ? `${rec.internal.suberror} (${rec.internal.suberrorName})` : null;
    case "internal.data[0]": return rec.internal?.data[0] !== undefined ? hex(rec.internal.data[0]) : null;
    case "internal.data[1]": return rec.internal?.data[1] !== undefined ? hex(rec.internal.data[1]) : null;
    case "system_event.type": return rec.systemEvent ? `${rec.systemEvent.type} (${rec.systemEvent.typeName})` : null;
    case "system_event.data[0]": return rec.systemEvent ? hex(rec.systemEvent.data) : null;
    case "s.regs.regs.rip": return hex(rec.rip);
    // immediate_exit, flags, cr8, apic_base, io.data_offset, the hypercall arguments, the ndata
    // counts, the dirty/valid masks and RFLAGS beyond IF are not in the record.
    default: return null;
  }
}

function writtenBy(f: KvmRunField, rec: ExitRecord): Writer {
  if (f.path === "io data" && rec.io) return rec.io.direction === "out" ? "kernel" : "vmm";
  if (f.path === "mmio.data" && rec.mmio) return rec.mmio.isWrite ? "kernel" : "vmm";
  return f.writer;
}

/**
 * The page at `rec`. With `prev` (the previous exit on the same vCPU), rows that changed since it
 * are marked: the page is per vCPU, so only that exit's page is the one this one overwrote.
 */
export function kvmRunView(rec: ExitRecord, prev: ExitRecord | null = null): KvmRunRow[] {
  const member = memberForReason(rec.code);
  const prevMember = prev === null ? null : memberForReason(prev.code);
  return KVM_RUN_FIELDS.map((f) => {
    const active = f.member === "header" || f.member === "sync_regs" || f.member === member;
    const display = active ? valueOf(f.path, rec) : null;
    let changed = false;
    if (prev !== null && active && display !== null) {
      const wasActive = f.member === "header" || f.member === "sync_regs" || f.member === prevMember;
      changed = !wasActive || valueOf(f.path, prev) !== display;
    }
    return { ...f, active, known: display !== null, display, writtenBy: writtenBy(f, rec), changed };
  });
}

// ---------------------------------------------------------------------------------------------
// Moving between records in the store. Rows are in arrival order, which within one thread is time
// order, so "the previous exit on this vCPU" is the nearest earlier row of that thread.

/**
 * The nearest row before (dir -1) or after (dir 1) `row` that has the same kind and thread, and
 * with `sameCode` also the same exit reason / ioctl id. -1 when there is none.
 */
export function neighbourRow(store: TraceStore, row: number, dir: -1 | 1, sameCode = false): number {
  if (!(row >= 0 && row < store.count)) return -1;
  const kind = store.kind[row]!;
  const thread = store.thread[row]!;
  const code = store.code[row]!;
  for (let r = row + dir; r >= 0 && r < store.count; r += dir) {
    if (store.kind[r] === kind && store.thread[r] === thread && (!sameCode || store.code[r] === code)) return r;
  }
  return -1;
}

/** Exit reasons after which the vCPU thread leaves its loop instead of entering KVM_RUN again. */
export const LOOP_ENDING_EXITS: ReadonlySet<number> = new Set<number>([KvmExit.SHUTDOWN, KvmExit.INTERNAL_ERROR, KvmExit.FAIL_ENTRY, KvmExit.SYSTEM_EVENT, KvmExit.UNKNOWN]);

const CLOSE = ioctlId("close");
const LAST_EXIT_SCAN_LIMIT = 200_000;

/**
 * True when the exit at `row` ends its vCPU thread's loop: a reason that always does (SHUTDOWN,
 * ...), or the thread's next record (statistics aside) is the close of its vCPU fd (a final HLT
 * with interrupts off). False while the thread's next record is another exit or has not arrived.
 */
export function endsItsLoop(store: TraceStore, row: number): boolean {
  if (!(row >= 0 && row < store.count) || store.kind[row] !== RecordKind.Exit) return false;
  if (LOOP_ENDING_EXITS.has(store.code[row]!)) return true;
  const thread = store.thread[row]!;
  const end = Math.min(store.count, row + 1 + LAST_EXIT_SCAN_LIMIT);
  for (let r = row + 1; r < end; r++) {
    if (store.thread[r] !== thread || store.kind[r] === RecordKind.Stats) continue;
    return store.kind[r] === RecordKind.Ioctl && store.code[r] === CLOSE;
  }
  return false;
}

/**
 * The exit whose page a view shows for `row`: the exit itself, or for another record of a vCPU
 * thread (an ioctl such as KVM_INTERRUPT) the last exit on that thread before it. -1 when none.
 */
export function exitRowFor(store: TraceStore, row: number): number {
  if (!(row >= 0 && row < store.count)) return -1;
  if (store.kind[row] === RecordKind.Exit) return row;
  const thread = store.thread[row]!;
  if (thread === MAIN_THREAD || store.kind[row] === RecordKind.Stats) return -1;
  for (let r = row - 1; r >= 0; r--) {
    if (store.kind[r] === RecordKind.Exit && store.thread[r] === thread) return r;
  }
  return -1;
}

/** COM1's line control register (LCR), whose bit 7 (DLAB) turns COM1's first two ports into the divisor latch. */
const COM1_LCR = COM1.base + UART_REG.LCR;
const DLAB_SCAN_LIMIT = 200_000;

/**
 * LCR.DLAB as the guest left it before `row`: the last OUT to COM1's LCR, from any vCPU (the UART
 * is shared). False when the guest never wrote LCR (its reset value is 0); undefined when the
 * answer lies further back than the scan goes. Reads the port from the raw record, not a decode.
 */
export function uartDlabBefore(store: TraceStore, row: number): boolean | undefined {
  const end = Math.max(-1, row - DLAB_SCAN_LIMIT);
  for (let r = row - 1; r > end; r--) {
    if (store.kind[r] !== RecordKind.Exit || store.code[r] !== KvmExit.IO) continue;
    const b = store.rawBytes(r);
    const port = b[EXIT_IO.port]! | (b[EXIT_IO.port + 1]! << 8);
    if (port === COM1_LCR && b[EXIT_IO.direction] === 1) return (b[EXIT_IO.data]! & LCR_DLAB) !== 0;
  }
  return end < 0 ? false : undefined;
}
