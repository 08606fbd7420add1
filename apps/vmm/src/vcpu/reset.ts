// The state every vCPU starts in (the machine contract the guests are written for): real mode,
// CS:IP = 0000:7c00, all segment bases 0, EFLAGS = 0x2 (bit 1 is always set), every other
// general register 0. KVM's own reset state is the x86 power-on state (CS base 0xffff0000,
// IP 0xfff0: the BIOS entry), which we replace because there is no BIOS.
import type { CpuidEntry, Vcpu } from "@kvmscope/kvm-binding";
import { REG_NAMES, type Regs } from "@kvmscope/kvm-binding";
import { BOOT_ENTRY } from "../layout.js";

/**
 * CPUID as this host supports it, with this vCPU's identity: leaf 1 EBX[31:24] is the initial
 * APIC ID, which our guests read to learn which vCPU they are; leaves 0xB and 0x1F carry the
 * x2APIC ID in EDX.
 */
export function cpuidFor(supported: readonly CpuidEntry[], vcpuId: number): CpuidEntry[] {
  return supported.map((e) => {
    if (e.function === 1) return { ...e, ebx: ((e.ebx & 0x00ffffff) | (vcpuId << 24)) >>> 0 };
    if (e.function === 0xb || e.function === 0x1f) return { ...e, edx: vcpuId >>> 0 };
    return e;
  });
}

export function resetToBootSector(vcpu: Vcpu, cpuid: readonly CpuidEntry[]): void {
  vcpu.setCpuid2(cpuid);
  const sregs = vcpu.getSregs();
  for (const seg of [sregs.cs, sregs.ds, sregs.es, sregs.fs, sregs.gs, sregs.ss]) {
    seg.base = 0n;
    seg.selector = 0;
  }
  vcpu.setSregs(sregs);
  const regs = Object.fromEntries(REG_NAMES.map((r) => [r, 0n])) as unknown as Regs;
  regs.rip = BigInt(BOOT_ENTRY);
  regs.rflags = 0x2n;
  vcpu.setRegs(regs);
}
