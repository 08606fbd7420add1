// The kernel structs that cross the ioctl boundary, read and written at the offsets the compiler
// computed from <linux/kvm.h> (see kvmLayout). 64-bit fields are bigint: a guest's addresses and
// registers do not fit in a double.
import { kvmLayout } from "./native.js";

/** struct kvm_regs: the general-purpose registers, rip and rflags. */
export interface Regs {
  rax: bigint; rbx: bigint; rcx: bigint; rdx: bigint;
  rsi: bigint; rdi: bigint; rsp: bigint; rbp: bigint;
  r8: bigint; r9: bigint; r10: bigint; r11: bigint;
  r12: bigint; r13: bigint; r14: bigint; r15: bigint;
  rip: bigint; rflags: bigint;
}

/** The field order of struct kvm_regs: each a __u64, starting at offset 0. */
export const REG_NAMES = [
  "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp",
  "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip", "rflags",
] as const satisfies readonly (keyof Regs)[];

/** struct kvm_segment: a segment register as the CPU caches it (base, limit, attributes). */
export interface Segment {
  base: bigint; limit: number; selector: number; type: number;
  present: number; dpl: number; db: number; s: number; l: number; g: number; avl: number;
  unusable: number;
}

/** struct kvm_dtable: GDTR / IDTR. */
export interface DescriptorTable { base: bigint; limit: number }

/** struct kvm_sregs: segment and control registers. */
export interface Sregs {
  cs: Segment; ds: Segment; es: Segment; fs: Segment; gs: Segment; ss: Segment;
  tr: Segment; ldt: Segment;
  gdt: DescriptorTable; idt: DescriptorTable;
  cr0: bigint; cr2: bigint; cr3: bigint; cr4: bigint; cr8: bigint;
  efer: bigint; apic_base: bigint;
  /** Pending external interrupts (256 bits); KVM_SET_SREGS queues the lowest one set. */
  interrupt_bitmap: [bigint, bigint, bigint, bigint];
}

const SEGMENTS = ["cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt"] as const;
const DTABLES = ["gdt", "idt"] as const;
const CONTROL = ["cr0", "cr2", "cr3", "cr4", "cr8", "efer", "apic_base"] as const;
const SEGMENT_BYTES = ["type", "present", "dpl", "db", "s", "l", "g", "avl", "unusable"] as const;

export function decodeRegs(view: DataView, base = 0): Regs {
  const regs = {} as Regs;
  const first = base + kvmLayout("regs.rax");
  REG_NAMES.forEach((name, i) => {
    regs[name] = view.getBigUint64(first + 8 * i, true);
  });
  return regs;
}

export function encodeRegs(view: DataView, regs: Regs, base = 0): void {
  const first = base + kvmLayout("regs.rax");
  REG_NAMES.forEach((name, i) => {
    view.setBigUint64(first + 8 * i, BigInt.asUintN(64, regs[name]), true);
  });
}

function decodeSegment(view: DataView, at: number): Segment {
  const seg = {
    base: view.getBigUint64(at + kvmLayout("segment.base"), true),
    limit: view.getUint32(at + kvmLayout("segment.limit"), true),
    selector: view.getUint16(at + kvmLayout("segment.selector"), true),
  } as Segment;
  for (const f of SEGMENT_BYTES) seg[f] = view.getUint8(at + kvmLayout(`segment.${f}`));
  return seg;
}

function encodeSegment(view: DataView, at: number, seg: Segment): void {
  view.setBigUint64(at + kvmLayout("segment.base"), BigInt.asUintN(64, seg.base), true);
  view.setUint32(at + kvmLayout("segment.limit"), seg.limit >>> 0, true);
  view.setUint16(at + kvmLayout("segment.selector"), seg.selector & 0xffff, true);
  for (const f of SEGMENT_BYTES) view.setUint8(at + kvmLayout(`segment.${f}`), seg[f] & 0xff);
}

export function decodeSregs(view: DataView, base = 0): Sregs {
  const s = {} as Sregs;
  for (const name of SEGMENTS) s[name] = decodeSegment(view, base + kvmLayout(`sregs.${name}`));
  for (const name of DTABLES) {
    const at = base + kvmLayout(`sregs.${name}`);
    s[name] = {
      base: view.getBigUint64(at + kvmLayout("dtable.base"), true),
      limit: view.getUint16(at + kvmLayout("dtable.limit"), true),
    };
  }
  for (const name of CONTROL) s[name] = view.getBigUint64(base + kvmLayout(`sregs.${name}`), true);
  const bitmap = base + kvmLayout("sregs.interrupt_bitmap");
  s.interrupt_bitmap = [0, 1, 2, 3].map((i) => view.getBigUint64(bitmap + 8 * i, true)) as Sregs["interrupt_bitmap"];
  return s;
}

export function encodeSregs(view: DataView, s: Sregs, base = 0): void {
  for (const name of SEGMENTS) encodeSegment(view, base + kvmLayout(`sregs.${name}`), s[name]);
  for (const name of DTABLES) {
    const at = base + kvmLayout(`sregs.${name}`);
    view.setBigUint64(at + kvmLayout("dtable.base"), BigInt.asUintN(64, s[name].base), true);
    view.setUint16(at + kvmLayout("dtable.limit"), s[name].limit & 0xffff, true);
  }
  for (const name of CONTROL) view.setBigUint64(base + kvmLayout(`sregs.${name}`), BigInt.asUintN(64, s[name]), true);
  const bitmap = base + kvmLayout("sregs.interrupt_bitmap");
  s.interrupt_bitmap.forEach((word, i) => view.setBigUint64(bitmap + 8 * i, BigInt.asUintN(64, word), true));
}

/** struct kvm_cpuid_entry2, one leaf (function) and sub-leaf (index) of CPUID. */
export interface CpuidEntry {
  function: number; index: number; flags: number;
  eax: number; ebx: number; ecx: number; edx: number;
}

const CPUID_FIELDS = ["function", "index", "flags", "eax", "ebx", "ecx", "edx"] as const;

export function decodeCpuid(bytes: Uint8Array): CpuidEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint32(kvmLayout("cpuid2.nent"), true);
  const entrySize = kvmLayout("kvm_cpuid_entry2");
  const entries: CpuidEntry[] = [];
  for (let i = 0; i < count; i++) {
    const at = kvmLayout("cpuid2.entries") + i * entrySize;
    const e = {} as CpuidEntry;
    for (const f of CPUID_FIELDS) e[f] = view.getUint32(at + kvmLayout(`cpuid_entry2.${f}`), true);
    entries.push(e);
  }
  return entries;
}

/** A struct kvm_cpuid2 holding `entries` (nent = entries.length). */
export function encodeCpuid(entries: readonly CpuidEntry[]): Uint8Array {
  const entrySize = kvmLayout("kvm_cpuid_entry2");
  const bytes = new Uint8Array(kvmLayout("cpuid2.entries") + entries.length * entrySize);
  const view = new DataView(bytes.buffer);
  view.setUint32(kvmLayout("cpuid2.nent"), entries.length, true);
  entries.forEach((e, i) => {
    const at = kvmLayout("cpuid2.entries") + i * entrySize;
    for (const f of CPUID_FIELDS) view.setUint32(at + kvmLayout(`cpuid_entry2.${f}`), e[f] >>> 0, true);
  });
  return bytes;
}

/** A zero-filled buffer of the named struct's size, with a DataView over it. */
export function structBuffer(name: string, extra = 0): { bytes: Uint8Array; view: DataView } {
  const bytes = new Uint8Array(kvmLayout(name) + extra);
  return { bytes, view: new DataView(bytes.buffer) };
}
