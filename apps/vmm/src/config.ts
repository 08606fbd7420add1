// What a run may ask for, checked before anything touches KVM: every violation is a ConfigError
// with a sentence saying what is wrong and what is allowed.
import { RUN_LIMITS } from "@kvmscope/shared";
import { BOOT_ENTRY, IMAGE_LIMIT, RAM_LIMIT } from "./layout.js";
import { StatusError } from "./errors.js";

export type Irqchip = "user" | "kernel";

export interface MachineConfig {
  /** The flat binary, loaded at BOOT_ENTRY (0x7c00). */
  image: Uint8Array;
  vcpus: number;
  memMiB: number;
  /** "user": 8259 PIC + 8254 PIT in TypeScript, KVM_INTERRUPT; "kernel": KVM_CREATE_IRQCHIP + KVM_CREATE_PIT2. */
  irqchip: Irqchip;
  /** End the run after its guest was allowed to run this long (ms): time spent paused does not count. */
  timeoutMs?: number;
  /** End the run once it has been paused this long in one stretch (ms): the idle limit. */
  idleTimeoutMs?: number;
  /** End the run after this many exits reached userspace (all vCPUs together). */
  maxExits?: number;
  kvmPath?: string;
  /** Step mode: every vCPU waits before its first KVM_RUN until resumed or stepped. */
  startPaused?: boolean;
}

/** A configuration that cannot run (400 when a request gave it). */
export class ConfigError extends StatusError {
  override name = "ConfigError";
  constructor(message: string) {
    super(400, message);
  }
}

const MiB = 1024 * 1024;

/** What a run may ask for: the shared bounds (packages/shared/src/limits.ts) and the guest layout's. */
export const LIMITS = {
  vcpus: RUN_LIMITS.vcpus,
  /** RAM starts at 0 and must stay below 0xc0000000 (the PCI/MMIO hole; our MMIO device is at 0xd0000000). */
  memMiB: RUN_LIMITS.memMiB,
  /** From 0x7c00 up to the end of conventional memory (0x9fc00), as a boot sector's world allows. */
  imageBytes: { min: 1, max: IMAGE_LIMIT - BOOT_ENTRY },
  timeoutSec: RUN_LIMITS.timeoutSec,
  maxExits: { min: 1, max: Number.MAX_SAFE_INTEGER },
} as const;
if (LIMITS.memMiB.max * MiB !== RAM_LIMIT) throw new Error(`limits.ts MAX_MEM_MIB (${LIMITS.memMiB.max}) is not layout.ts's RAM_LIMIT (${RAM_LIMIT / MiB} MiB)`);

function integerIn(name: string, value: number, min: number, max: number, unit = ""): number {
  if (!Number.isFinite(value) || !Number.isInteger(value)) throw new ConfigError(`${name} must be a whole number, got ${value}`);
  if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max}${unit}, got ${value}${unit}`);
  return value;
}

export interface ConfigInput {
  image: Uint8Array;
  vcpus?: number;
  memMiB?: number;
  irqchip?: string;
  timeoutSec?: number;
  maxExits?: number;
  kvmPath?: string;
}

/** How a message names each setting: as the CLI's flag, or as the HTTP API's field. */
const NAMES = {
  cli: { vcpus: "--vcpus", memMiB: "--mem", irqchip: "--irqchip", timeoutSec: "--timeout", maxExits: "--max-exits" },
  api: { vcpus: "vcpus", memMiB: "memMiB", irqchip: "irqchip", timeoutSec: "timeoutSec", maxExits: "maxExits" },
} as const;

export function validateConfig(input: ConfigInput, namedFor: keyof typeof NAMES = "cli"): MachineConfig {
  const n = NAMES[namedFor];
  const vcpus = integerIn(n.vcpus, input.vcpus ?? 1, LIMITS.vcpus.min, LIMITS.vcpus.max);
  const memMiB = integerIn(n.memMiB, input.memMiB ?? 16, LIMITS.memMiB.min, LIMITS.memMiB.max, " MiB");
  const irqchip = input.irqchip ?? "user";
  if (irqchip !== "user" && irqchip !== "kernel") throw new ConfigError(`${n.irqchip} must be "user" or "kernel", got "${irqchip}"`);
  const size = input.image.length;
  if (size === 0) throw new ConfigError("the image is empty: a guest needs at least one instruction at 0x7c00");
  if (size > LIMITS.imageBytes.max) {
    throw new ConfigError(`the image is ${size} bytes; a flat image loaded at 0x7c00 may be at most ${LIMITS.imageBytes.max} bytes (it must end below 0x9fc00)`);
  }
  if (BOOT_ENTRY + size > memMiB * MiB) throw new ConfigError(`${n.memMiB} ${memMiB} MiB cannot hold an image of ${size} bytes at 0x7c00`);
  let timeoutMs: number | undefined;
  if (input.timeoutSec !== undefined) {
    const t = input.timeoutSec;
    if (!Number.isFinite(t) || t < LIMITS.timeoutSec.min || t > LIMITS.timeoutSec.max) {
      throw new ConfigError(`${n.timeoutSec} must be between ${LIMITS.timeoutSec.min} and ${LIMITS.timeoutSec.max} seconds, got ${t}`);
    }
    timeoutMs = Math.round(t * 1000);
  }
  const maxExits = input.maxExits === undefined ? undefined : integerIn(n.maxExits, input.maxExits, LIMITS.maxExits.min, LIMITS.maxExits.max);
  return { image: input.image, vcpus, memMiB, irqchip, timeoutMs, maxExits, kvmPath: input.kvmPath };
}

export interface HostLimits {
  maxVcpus: number;
  syncRegs: number;
  immediateExit: number;
  statsFd: number;
  irqchip: number;
}

/** What only the host can say: how many vCPUs it allows, and the capabilities we rely on. */
export function validateAgainstHost(cfg: MachineConfig, host: HostLimits): void {
  if (cfg.vcpus > host.maxVcpus) throw new ConfigError(`--vcpus ${cfg.vcpus}: this host's KVM allows at most ${host.maxVcpus} vCPUs per VM (KVM_CAP_MAX_VCPUS)`);
  const missing: string[] = [];
  if (!host.syncRegs) missing.push("KVM_CAP_SYNC_REGS (guest registers in the kvm_run page)");
  if (!host.immediateExit) missing.push("KVM_CAP_IMMEDIATE_EXIT (stopping a running vCPU)");
  if (!host.statsFd) missing.push("KVM_CAP_BINARY_STATS_FD (KVM's per-vCPU statistics, Linux 5.14+)");
  if (cfg.irqchip === "kernel" && !host.irqchip) missing.push("KVM_CAP_IRQCHIP (an in-kernel irqchip; use --irqchip user)");
  if (missing.length > 0) throw new ConfigError(`this host's KVM lacks ${missing.join(", ")}`);
}
