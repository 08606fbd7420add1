// `kvmscope`: the command line. `guests` lists the teaching guests, `run` runs one (or a flat
// binary of your own) and traces it, `bench` measures the VMM against a raw C KVM_RUN loop.
import { readFileSync, statSync } from "node:fs";
import { parseArgs } from "node:util";
import { KvmError, kvmAvailable } from "@kvmscope/kvm-binding";
import { type RunLine, RunSummary, formatSummary } from "@kvmscope/shared";
import { ConfigError, LIMITS, type MachineConfig, validateConfig } from "./config.js";
import { findGuest, type GuestInfo, listGuests, loadGuestImage } from "./guests.js";
import { EXIT_STATUS, exitStatusFor } from "./exit-status.js";
import { Machine, type RunResult } from "./machine.js";
import { openTraceFile, type TraceFormat } from "./trace/trace-file.js";

const USAGE = `kvmscope — watch real KVM guests exit to userspace

Usage:
  kvmscope guests                 list the teaching guests
  kvmscope run <guest> [options]  run a teaching guest
  kvmscope run --image FILE [options]
                                  run your own flat binary (loaded at 0x7c00, real mode, CS:IP 0000:7c00)
  kvmscope bench [--exits N]      the VMM against a raw C KVM_RUN loop, same guest, same run
  kvmscope trace [--trace FILE] -- COMMAND [ARGS...]
                                  any KVM VMM (QEMU, …) under strace: its ioctls and exits as a trace
  kvmscope trace --pid PID [--seconds S] --trace FILE
                                  the same for a VMM already running
  kvmscope serve [--port 7070] [--host 127.0.0.1] [--data DIR]
                                  the service: live runs over HTTP and WebSocket, stored runs
  kvmscope bench-service [--exits N]  what storing, reading, exporting and viewers cost a guest
  kvmscope bench-class [--students 40]  what a class following a session costs the teacher and the VM
  kvmscope bench-store [--records N]  storing and paging a 1,000,000-record run

Run options:
  --vcpus N             vCPUs, ${LIMITS.vcpus.min}-${LIMITS.vcpus.max} (default: the guest's, else 1)
  --mem MiB             guest RAM from address 0, ${LIMITS.memMiB.min}-${LIMITS.memMiB.max} (default: the guest's, else 16)
  --irqchip user|kernel interrupt controllers in TypeScript (KVM_INTERRUPT) or inside KVM (KVM_CREATE_IRQCHIP)
  --trace FILE          write every ioctl and exit to FILE
  --format ndjson|chrome  trace format (default ndjson; chrome opens in Perfetto UI)
  --timeout SECONDS     end the run after this long (default 10; 0 = none)
  --max-exits N         end the run after N exits reached userspace
  --vmm kvmscope|qemu   whose VMM runs the guest: ours (default) or real QEMU, traced with strace
                        and QEMU's own trace events, same devices at the same ports

The guest's serial port is stdout (and stdin); the summary goes to stderr.
Exit status: 0 when the guest ended as it is built to, (v << 1) | 1 when it wrote v to port 0xf4,
otherwise an even number naming what happened (see the README).`;

/** The benchmarks (apps/vmm/bench, the package's "./bench" export): loaded only by the bench commands. */
interface BenchModule {
  runBench(args: string[]): Promise<number>;
  runServiceBench(args: string[]): Promise<number>;
  runClassBench(args: string[]): Promise<number>;
  runStoreBench(args: string[]): Promise<number>;
}
// A specifier the type checker does not follow: bench/ is built after (and from) this package.
const BENCH_MODULE: string = "@kvmscope/vmm/bench";
const loadBench = (): Promise<BenchModule> => import(BENCH_MODULE) as Promise<BenchModule>;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "guests":
        return guestsCommand();
      case "run":
        return await runCommand(rest);
      case "bench":
        return await (await loadBench()).runBench(rest);
      case "trace": {
        const { traceCommand } = await import("./qemu/trace-command.js");
        return await traceCommand(rest);
      }
      case "serve": {
        // Loaded on demand: `run` and `guests` never load Prisma or the HTTP stack.
        const { serveCommand } = await import("./service/serve-command.js");
        const { RunManager } = await import("./service/run-manager.js");
        return await serveCommand(rest, (opts) => RunManager.open(opts));
      }
      case "bench-service":
        return await (await loadBench()).runServiceBench(rest);
      case "bench-class":
        return await (await loadBench()).runClassBench(rest);
      case "bench-store":
        return await (await loadBench()).runStoreBench(rest);
      case undefined:
      case "help":
      case "--help":
      case "-h":
        process.stdout.write(`${USAGE}\n`);
        return command === undefined ? EXIT_STATUS.usage : EXIT_STATUS.ok;
      default:
        process.stderr.write(`kvmscope: unknown command "${command}"\n\n${USAGE}\n`);
        return EXIT_STATUS.usage;
    }
  } catch (err) {
    return reportError(err);
  }
}

function reportError(err: unknown): number {
  if (err instanceof ConfigError || (err instanceof TypeError && (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS"))) {
    process.stderr.write(`kvmscope: ${err.message}\n`);
    return EXIT_STATUS.usage;
  }
  if (err instanceof KvmError) {
    process.stderr.write(`kvmscope: ${err.message}\n`);
    return EXIT_STATUS.kvmUnavailable;
  }
  const e = err as Error;
  process.stderr.write(`kvmscope: ${e.message ?? String(err)}\n`);
  return EXIT_STATUS.vmmError;
}

function guestsCommand(): number {
  for (const g of listGuests()) {
    const defaults = [`${g.vcpus} vCPU${g.vcpus > 1 ? "s" : ""}`, `${g.memMiB} MiB`, `irqchip ${g.irqchip}`].join(", ");
    process.stdout.write(`${g.name.padEnd(14)} ${g.title}\n${" ".repeat(15)}shows: ${g.shows.join(", ")} (${defaults})\n`);
    for (const line of wrap(g.description, 84)) process.stdout.write(`${" ".repeat(15)}${line}\n`);
    process.stdout.write("\n");
  }
  process.stdout.write("Run one with: npx kvmscope run <name>\n");
  return EXIT_STATUS.ok;
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

function numberOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || Number.isNaN(n)) throw new ConfigError(`${name} expects a number, got "${value}"`);
  return n;
}

const MAX_IMAGE_FILE = LIMITS.imageBytes.max;

function readImageFile(path: string): Uint8Array {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new ConfigError(`--image ${path} is not a regular file`);
    size = st.size;
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = (err as { code?: string }).code;
    throw new ConfigError(code === "ENOENT" ? `--image ${path} does not exist` : `--image ${path} cannot be read (${code ?? String(err)})`);
  }
  if (size > MAX_IMAGE_FILE) {
    throw new ConfigError(`the image is ${size} bytes; a flat image loaded at 0x7c00 may be at most ${MAX_IMAGE_FILE} bytes (it must end below 0x9fc00)`);
  }
  return readFileSync(path);
}

export interface RunPlan {
  config: MachineConfig;
  guest?: GuestInfo;
  imagePath?: string;
  trace?: { path: string; format: TraceFormat };
  /** Whose VMM runs it: ours, or real QEMU (traced through strace and QEMU's own events). */
  vmm: "kvmscope" | "qemu";
}

/** Parses `run` arguments into a validated plan (no KVM touched). */
export function planRun(args: string[]): RunPlan {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      image: { type: "string" },
      vcpus: { type: "string" },
      mem: { type: "string" },
      irqchip: { type: "string" },
      trace: { type: "string" },
      format: { type: "string" },
      timeout: { type: "string" },
      "max-exits": { type: "string" },
      vmm: { type: "string" },
    },
  });
  const vmm = values.vmm ?? "kvmscope";
  if (vmm !== "kvmscope" && vmm !== "qemu") throw new ConfigError(`--vmm must be "kvmscope" or "qemu", got "${vmm}"`);
  if (positionals.length > 1) throw new ConfigError(`run takes one guest name, got ${positionals.length}: ${positionals.join(" ")}`);
  const name = positionals[0];
  if (name !== undefined && values.image !== undefined) throw new ConfigError("give either a guest name or --image FILE, not both");
  if (name === undefined && values.image === undefined) throw new ConfigError("run needs a guest name (see `kvmscope guests`) or --image FILE");
  let guest: GuestInfo | undefined;
  let image: Uint8Array;
  if (name !== undefined) {
    guest = findGuest(name);
    if (!guest) throw new ConfigError(`no guest called "${name}"; the guests are: ${listGuests().map((g) => g.name).join(", ")}`);
    image = loadGuestImage(name);
  } else {
    image = readImageFile(values.image as string);
  }
  const format = values.format ?? "ndjson";
  if (format !== "ndjson" && format !== "chrome") throw new ConfigError(`--format must be "ndjson" or "chrome", got "${format}"`);
  if (values.format !== undefined && values.trace === undefined) throw new ConfigError("--format needs --trace FILE (stdout carries the guest's serial output)");
  const timeoutSec = numberOption("--timeout", values.timeout) ?? 10;
  const config = validateConfig({
    image,
    vcpus: numberOption("--vcpus", values.vcpus) ?? guest?.vcpus,
    memMiB: numberOption("--mem", values.mem) ?? guest?.memMiB,
    irqchip: values.irqchip ?? guest?.irqchip,
    timeoutSec: timeoutSec === 0 ? undefined : timeoutSec,
    maxExits: numberOption("--max-exits", values["max-exits"]),
  });
  return { config, guest, imagePath: values.image, trace: values.trace ? { path: values.trace, format } : undefined, vmm };
}

async function runCommand(args: string[]): Promise<number> {
  const plan = planRun(args);
  if (plan.vmm === "qemu") {
    const { traceQemuGuest, writeTraced } = await import("./qemu/trace-command.js");
    const c = plan.config;
    const { traced, run } = await traceQemuGuest({
      image: c.image, guest: plan.guest?.name ?? null, vcpus: c.vcpus, memMiB: c.memMiB, irqchip: c.irqchip,
      timeoutMs: c.timeoutMs ?? null, stdio: "inherit",
    });
    return await writeTraced(traced, run, plan.trace);
  }
  const kvm = kvmAvailable();
  if (!kvm.ok) throw new KvmError(`cannot run a guest: ${kvm.reason}. kvmscope runs real KVM guests and needs read/write access to /dev/kvm.`, "open /dev/kvm", 0);

  const summary = new RunSummary();
  const trace = plan.trace ? openTraceFile(plan.trace.path, plan.trace.format) : undefined;
  const runInfo = runObject(plan);
  trace?.begin(runInfo);

  const machine = new Machine(plan.config, {
    onRecords: (records) => {
      for (const r of records) summary.add(r);
      trace?.records(records);
    },
    onConsole: (bytes) => process.stdout.write(bytes),
  });
  const input = forwardStdin(machine);
  const onSignal = (): void => machine.stop();
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  let result: RunResult;
  try {
    result = await machine.run();
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    input.close();
  }
  const status = exitStatusFor(result, plan.guest);
  const totals = summary.toJSON();
  trace?.end({ type: "end", ...result, status, totals });
  await trace?.close();
  process.stderr.write(`\n${formatSummary(totals)}\n`);
  process.stderr.write(`kvmscope: ${result.outcome}: ${result.message} (exit status ${status})\n`);
  if (result.lostRecords > 0) process.stderr.write(`kvmscope: ${result.lostRecords} trace records were dropped (rings full); the trace marks where\n`);
  return status;
}

function runObject(plan: RunPlan): RunLine {
  const c = plan.config;
  return {
    type: "run",
    version: 1,
    guest: plan.guest?.name ?? null,
    image: plan.imagePath ?? null,
    imageBytes: c.image.length,
    vcpus: c.vcpus,
    memMiB: c.memMiB,
    irqchip: c.irqchip,
    timeoutSec: c.timeoutMs === undefined ? null : c.timeoutMs / 1000,
    maxExits: c.maxExits ?? null,
    startedAt: new Date().toISOString(),
    host: { kernel: process.platform === "linux" ? readFirstLine("/proc/sys/kernel/osrelease") : null, node: process.version },
  };
}

function readFirstLine(path: string): string | null {
  try {
    return readFileSync(path, "utf8").split("\n")[0] ?? null;
  } catch {
    return null;
  }
}

/**
 * The user's keystrokes (or piped input) go to the guest's UART. In a terminal the input is raw,
 * so each key reaches the guest at once; Ctrl-C then stops the VM (it is not passed on). Input the
 * UART's receive queue cannot take yet waits here and is retried.
 */
function forwardStdin(machine: Machine): { close(): void } {
  const stdin = process.stdin;
  let pending = new Uint8Array(0);
  const pump = (): void => {
    if (pending.length === 0) return;
    const n = machine.pushConsoleInput(pending);
    pending = pending.subarray(n);
  };
  const timer = setInterval(pump, 10);
  timer.unref();
  const onData = (chunk: Buffer): void => {
    let bytes: Uint8Array = chunk;
    if (stdin.isTTY && bytes.includes(0x03)) {
      machine.stop();
      bytes = bytes.filter((b) => b !== 0x03);
    }
    const joined = new Uint8Array(pending.length + bytes.length);
    joined.set(pending);
    joined.set(bytes, pending.length);
    pending = joined;
    pump();
  };
  if (stdin.isTTY) stdin.setRawMode(true);
  stdin.on("data", onData);
  stdin.on("error", () => {});
  return {
    close: () => {
      clearInterval(timer);
      stdin.off("data", onData);
      if (stdin.isTTY) stdin.setRawMode(false);
      stdin.pause();
      stdin.unref?.();
    },
  };
}
