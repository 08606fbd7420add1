// @kvmscope/kvm-binding: a thin, faithful binding of the Linux KVM API.
export { DEFAULT_KVM_PATH, GuestMemory, Kvm, MP_STATE, Vcpu, VcpuKicker, Vm, currentTid, monotonicNs } from "./kvm.js";
export type { IoctlEvent, IoctlObserver, MemoryRegion } from "./kvm.js";
export { KvmError, check } from "./errors.js";
export { KVM_RUN_OFFSETS, KvmRunPage } from "./run-page.js";
export { VcpuStats } from "./stats.js";
export type { StatDescriptor } from "./stats.js";
export { REG_NAMES, decodeRegs, decodeSregs, encodeRegs, encodeSregs } from "./structs.js";
export type { CpuidEntry, DescriptorTable, Regs, Segment, Sregs } from "./structs.js";
export { kvmConstant, kvmLayout } from "./native.js";
import { existsSync } from "node:fs";
import { accessSync, constants } from "node:fs";

/** Whether this process can open /dev/kvm for reading and writing (for test gates and hints). */
export function kvmAvailable(path = "/dev/kvm"): { ok: true } | { ok: false; reason: string } {
  if (!existsSync(path)) return { ok: false, reason: `${path} does not exist` };
  try {
    accessSync(path, constants.R_OK | constants.W_OK);
    return { ok: true };
  } catch {
    return { ok: false, reason: `no read/write permission on ${path}` };
  }
}
