// `kvmscope trace -- COMMAND…` / `kvmscope trace --pid PID`: any KVM VMM's ioctls and exits as a
// kvmscope trace; `kvmscope run <guest> --vmm qemu`: one of our guests under real QEMU, traced.
import { writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type EndLine, KvmExit, type RunLine, RunSummary, type TraceRecord, formatSummary } from "@kvmscope/shared";
import { ConfigError } from "../config.js";
import { EXIT_STATUS } from "../exit-status.js";
import { openTraceFile, type TraceFormat } from "../trace/trace-file.js";
import { qemuBiosImage } from "./bios-image.js";
import { findQemu, qemuGuestArgs } from "./qemu-command.js";
import { type TracedVmm, traceVmm } from "./trace-vmm.js";

export const TRACE_USAGE = `kvmscope trace [--trace FILE] [--format ndjson|chrome] [--timeout SECONDS] -- COMMAND [ARGS...]
kvmscope trace --pid PID [--seconds S] [--trace FILE] [--format ndjson|chrome]
  Runs COMMAND (a KVM VMM: QEMU, or any other) under strace, or attaches to a running one, and
  writes its KVM ioctls and exits to FILE as a kvmscope trace. For qemu-system-* binaries QEMU's own
  trace events are added, so each exit carries its port or MMIO address and data.`;

function traceFormat(value: string | undefined): TraceFormat {
  const format = value ?? "ndjson";
  if (format !== "ndjson" && format !== "chrome") throw new ConfigError(`--format must be "ndjson" or "chrome", got "${format}"`);
  return format;
}

function seconds(name: string, value: string | undefined): number | null {
  if (value === undefined) return null;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0) throw new ConfigError(`${name} expects a number of seconds, got "${value}"`);
  return n === 0 ? null : n * 1000;
}

export async function traceCommand(argv: string[]): Promise<number> {
  const dash = argv.indexOf("--");
  const own = dash < 0 ? argv : argv.slice(0, dash);
  const command = dash < 0 ? null : argv.slice(dash + 1);
  const { values } = parseArgs({
    args: own, strict: true, allowPositionals: false,
    options: { trace: { type: "string" }, format: { type: "string" }, timeout: { type: "string" }, pid: { type: "string" }, seconds: { type: "string" }, name: { type: "string" } },
  });
  if ((command === null || command.length === 0) && values.pid === undefined) throw new ConfigError(`trace needs a command after "--" or --pid PID\n\n${TRACE_USAGE}`);
  if (command !== null && command.length > 0 && values.pid !== undefined) throw new ConfigError("give either a command after \"--\" or --pid PID, not both");
  const pid = values.pid === undefined ? null : Number(values.pid);
  if (pid !== null && (!Number.isInteger(pid) || pid <= 0)) throw new ConfigError(`--pid expects a process id, got "${values.pid}"`);
  const format = traceFormat(values.format);
  if (values.trace === undefined) throw new ConfigError("trace needs --trace FILE (stdout is the traced program's)");
  const traced = await traceVmm({
    command: pid === null ? command : null, pid, stdio: "inherit", haltedQuietMs: null,
    timeoutMs: seconds(pid === null ? "--timeout" : "--seconds", pid === null ? values.timeout : values.seconds),
  });
  const run: RunLine = { type: "run", version: 1, vmm: traced.qemuEvents ? "qemu" : "other", name: values.name ?? null, command: command ?? null, pid, startedAt: new Date().toISOString() };
  return writeTraced(traced, run, { path: values.trace, format });
}

/** What `--vmm qemu` runs: a catalog guest or image under real QEMU with our machine's devices. */
export interface QemuGuestRun {
  image: Uint8Array;
  guest: string | null;
  vcpus: number;
  memMiB: number;
  irqchip: "user" | "kernel";
  timeoutMs: number | null;
  stdio: "inherit" | "pipe";
  onStdout?: (bytes: Buffer) => void;
  stdin?: string;
}

export async function traceQemuGuest(r: QemuGuestRun): Promise<{ traced: TracedVmm; run: RunLine }> {
  const qemu = findQemu();
  if (qemu === null) throw new ConfigError("QEMU is not installed (qemu-system-x86_64 on the PATH, or KVMSCOPE_QEMU): apt-get install qemu-system-x86");
  const dir = mkdtempSync(join(tmpdir(), "kvmscope-qemu-"));
  try {
    const biosPath = join(dir, "guest.bios");
    writeFileSync(biosPath, qemuBiosImage(r.image, r.vcpus));
    const args = qemuGuestArgs({ biosPath, vcpus: r.vcpus, memMiB: r.memMiB, irqchip: r.irqchip, debugconPath: null, trace: null });
    const traced = await traceVmm({
      command: [qemu, ...args], pid: null, stdio: r.stdio, onStdout: r.onStdout, stdin: r.stdin,
      // QEMU waits for ever in HLT; 300 ms of silence after every vCPU's HLT means the guest is done.
      haltedQuietMs: r.irqchip === "user" ? 300 : null, timeoutMs: r.timeoutMs,
    });
    const run: RunLine = {
      type: "run", version: 1, vmm: "qemu", guest: r.guest, imageBytes: r.image.length, vcpus: r.vcpus, memMiB: r.memMiB,
      irqchip: r.irqchip, timeoutSec: r.timeoutMs === null ? null : r.timeoutMs / 1000, command: [qemu, ...args.map((a) => (a === biosPath ? "<guest>.bios" : a))],
      startedAt: new Date().toISOString(),
    };
    return { traced, run };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** How a traced run ended, in the words and statuses `kvmscope run` uses. */
export function tracedOutcome(t: TracedVmm): { outcome: string; message: string; status: number } {
  const recs = t.imported.records;
  let lastExit: TraceRecord | undefined;
  for (let k = recs.length - 1; k >= 0 && lastExit === undefined; k--) if (recs[k]!.type === "exit") lastExit = recs[k];
  if (lastExit?.type === "exit" && lastExit.code === KvmExit.SHUTDOWN) {
    return { outcome: "shutdown", message: "KVM_EXIT_SHUTDOWN: the guest triple-faulted (QEMU's -no-reboot ended it)", status: EXIT_STATUS.shutdown };
  }
  if (t.ending === "halted") return { outcome: "halted", message: "every vCPU halted (QEMU waits in HLT for ever: kvmscope ended it)", status: EXIT_STATUS.ok };
  if (t.ending === "timeout") return { outcome: "timeout", message: "the time limit ran out", status: EXIT_STATUS.timeout };
  if (t.ending === "detached") return { outcome: "detached", message: "kvmscope stopped tracing and detached", status: EXIT_STATUS.ok };
  if (t.exitCode !== null) {
    const debugExit = (t.exitCode & 1) === 1 && t.exitCode > 1;
    return {
      outcome: t.exitCode === 0 ? "exited" : debugExit ? "debug-exit" : "exited",
      message: debugExit ? `the guest wrote ${(t.exitCode - 1) >> 1} to isa-debug-exit (QEMU exit status ${t.exitCode})` : `the VMM exited with status ${t.exitCode}`,
      status: t.exitCode,
    };
  }
  return { outcome: "killed", message: `the VMM was killed by ${t.signal ?? "a signal"}`, status: EXIT_STATUS.stopped };
}

export async function writeTraced(t: TracedVmm, run: RunLine, to: { path: string; format: TraceFormat } | undefined): Promise<number> {
  const i = t.imported;
  const vcpus = i.threads.filter((th) => th.role === "vcpu").length;
  const file = to === undefined ? undefined : openTraceFile(to.path, to.format);
  file?.begin({ ...run, vcpus: run.vcpus ?? vcpus, threads: i.threads, observed: i.observed, otherThreadIoctls: i.otherThreadIoctls, unknownIoctls: i.unknownIoctls, unpaired: i.unpaired });
  const summary = new RunSummary();
  for (const r of i.records) summary.add(r);
  file?.records(i.records);
  const end = tracedOutcome(t);
  const totals = summary.toJSON();
  const endLine: EndLine = { type: "end", ...end, ending: t.ending, exitCode: t.exitCode, signal: t.signal, wallMs: t.wallMs, totals };
  file?.end(endLine);
  await file?.close();
  process.stderr.write(`\n${formatSummary(totals)}\n`);
  process.stderr.write(`kvmscope: traced ${i.threads.length} threads (${vcpus} vCPU), ${i.records.length} records${i.observed.exitPayloads ? "" : "; no exit payloads (not QEMU: strace shows reasons only)"}\n`);
  process.stderr.write(`kvmscope: ${end.outcome}: ${end.message} (exit status ${end.status})\n`);
  return end.status;
}
