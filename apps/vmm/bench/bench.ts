// `kvmscope bench`: exits per second of our VMM (TypeScript exit loop in a worker, tracing on)
// against a raw C loop that does nothing but KVM_RUN and the minimum of port I/O, on the same
// guest (pio-loop: `out dx, al; jmp` forever, one KVM_EXIT_IO per iteration), in the same run.
// The machines here are shared and noisy, so what counts is the ratio, and each side is run
// several times, alternating, keeping each side's best.
import { execFile } from "node:child_process";
import { parseArgs } from "node:util";
import { promisify } from "node:util";
import type { TraceRecord } from "@kvmscope/shared";
import { ConfigError, guestImagePath, loadGuestImage, Machine, RAW_LOOP, validateConfig } from "@kvmscope/vmm";

const run = promisify(execFile);

export interface BenchPoint {
  vcpus: number;
  vmmExitsPerSec: number;
  rawExitsPerSec: number;
  ratio: number;
}

/** The raw C loop: its last stdout line is {"exits","seconds","exitsPerSec"}. */
export async function rawExitsPerSec(exits: number, vcpus: number): Promise<number> {
  const { stdout } = await run(RAW_LOOP, [guestImagePath("pio-loop"), "--exits", String(exits), "--vcpus", String(vcpus)], { maxBuffer: 16 * 1024 * 1024 });
  const last = stdout.trim().split("\n").pop() ?? "";
  const parsed = JSON.parse(last) as { exitsPerSec: number };
  return parsed.exitsPerSec;
}

/**
 * Our VMM with every record written to the rings, drained, decoded and summed on the main thread,
 * as in a real run. Exits/s in the steady state: from the exit at 10% of the run to the last one
 * (the first exits run while V8 is still compiling the loop; the C loop has no such start).
 */
export async function vmmExitsPerSec(exits: number, vcpus: number): Promise<number> {
  const config = validateConfig({ image: loadGuestImage("pio-loop"), vcpus, memMiB: 2, irqchip: "user", maxExits: exits, timeoutSec: 120 });
  const skip = Math.floor(exits / 10);
  let count = 0;
  let first = 0;
  let last = 0;
  const machine = new Machine(config, {
    onRecords: (records: TraceRecord[]) => {
      for (const r of records) {
        if (r.type !== "exit") continue;
        count++;
        if (count === skip) first = r.ts;
        if (r.ts > last) last = r.ts;
      }
    },
  });
  const result = await machine.run();
  if (result.outcome !== "exit-limit") throw new Error(`bench run ended with ${result.outcome}: ${result.message}`);
  if (count <= skip + 1 || last <= first) throw new Error("bench run recorded too few exits to time");
  return ((count - skip) * 1e9) / (last - first);
}

export async function measure(exits: number, vcpus: number, rounds: number): Promise<BenchPoint> {
  let raw = 0;
  let vmm = 0;
  for (let i = 0; i < rounds; i++) {
    raw = Math.max(raw, await rawExitsPerSec(exits, vcpus));
    vmm = Math.max(vmm, await vmmExitsPerSec(exits, vcpus));
  }
  return { vcpus, vmmExitsPerSec: Math.round(vmm), rawExitsPerSec: Math.round(raw), ratio: Number((vmm / raw).toFixed(3)) };
}

export async function runBench(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, strict: true, options: { exits: { type: "string" }, rounds: { type: "string" } } });
  const exits = Number(values.exits ?? 200_000);
  const rounds = Number(values.rounds ?? 5);
  if (!Number.isInteger(exits) || exits < 1000) throw new ConfigError(`--exits must be a whole number >= 1000, got ${values.exits}`);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) throw new ConfigError(`--rounds must be 1-20, got ${values.rounds}`);
  process.stdout.write(`pio-loop, ${exits} exits per run, best of ${rounds} alternating runs (VMM timed after its first 10% of exits)\n`);
  const one = await measure(exits, 1, rounds);
  process.stdout.write(`1 vCPU : vmm ${one.vmmExitsPerSec} exits/s, raw C ${one.rawExitsPerSec} exits/s, ratio ${one.ratio}\n`);
  const two = await measure(exits, 2, rounds);
  process.stdout.write(`2 vCPUs: vmm ${two.vmmExitsPerSec} exits/s, raw C ${two.rawExitsPerSec} exits/s, ratio ${two.ratio}\n`);
  process.stdout.write(`${JSON.stringify({ vmmExitsPerSec: one.vmmExitsPerSec, rawExitsPerSec: one.rawExitsPerSec, ratio: one.ratio, vcpus2: two })}\n`);
  return 0;
}
