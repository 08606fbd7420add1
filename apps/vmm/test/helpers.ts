// Shared by the VMM tests: run a real VM to its end and keep everything it produced.
import { kvmAvailable } from "@kvmscope/kvm-binding";
import type { ExitRecord, TraceRecord } from "@kvmscope/shared";
import { Machine, type RunResult, findGuest, loadGuestImage, validateConfig } from "@kvmscope/vmm";

export const kvm = kvmAvailable();
if (!kvm.ok) console.warn(`[vmm] skipping the tests that run guests: ${kvm.reason}`);

export interface FinishedRun {
  result: RunResult;
  records: TraceRecord[];
  exits: ExitRecord[];
  stdout: string;
}

export interface RunOptions {
  vcpus?: number;
  memMiB?: number;
  irqchip?: "user" | "kernel";
  timeoutSec?: number;
  maxExits?: number;
  stdin?: string;
  image?: Uint8Array;
}

/** Runs built-in guest `name` (its catalog defaults, overridden by `options`) to the end. */
export async function runGuest(name: string, options: RunOptions = {}): Promise<FinishedRun> {
  const guest = findGuest(name);
  if (!guest) throw new Error(`no guest ${name}`);
  return runImage(options.image ?? loadGuestImage(name), {
    vcpus: guest.vcpus, memMiB: guest.memMiB, irqchip: guest.irqchip, stdin: guest.expect.stdin, ...options,
  });
}

export async function runImage(image: Uint8Array, options: RunOptions = {}): Promise<FinishedRun> {
  const config = validateConfig({
    image, vcpus: options.vcpus, memMiB: options.memMiB, irqchip: options.irqchip,
    timeoutSec: options.timeoutSec ?? 20, maxExits: options.maxExits,
  });
  const records: TraceRecord[] = [];
  const out: Uint8Array[] = [];
  const machine = new Machine(config, {
    onRecords: (batch) => records.push(...batch),
    onConsole: (bytes) => out.push(Uint8Array.from(bytes)),
  });
  let input = options.stdin ? new TextEncoder().encode(options.stdin) : new Uint8Array(0);
  const feeder = setInterval(() => {
    if (input.length > 0) input = input.subarray(machine.pushConsoleInput(input));
  }, 5);
  try {
    const result = await machine.run();
    const exits = records.filter((r): r is ExitRecord => r.type === "exit");
    return { result, records, exits, stdout: Buffer.concat(out).toString("latin1") };
  } finally {
    clearInterval(feeder);
  }
}

/** A compact, comparable description of an exit: "IO out 0x3f8 [72]", "HLT", "MMIO read 0xd0000000 4". */
export function describeExit(e: ExitRecord): string {
  const name = e.reason.replace(/^KVM_EXIT_/, "");
  if (e.io) return `${name} ${e.io.direction} 0x${e.io.port.toString(16)} [${e.io.data.join(",")}]`;
  if (e.mmio) return `${name} ${e.mmio.isWrite ? "write" : "read"} 0x${e.mmio.addr.toString(16)} ${e.mmio.len}`;
  return name;
}
