// Tracing a VMM that is not ours: run it (or attach to it) under strace, add QEMU's own trace
// events when it is QEMU, and turn what both print into records (packages/shared vmm-trace.ts).
// The traced process keeps our stdio, so a guest's serial port still reaches the terminal.
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { type ImportedVmmRun, importVmmRun, parseQemuTrace, parseStrace } from "@kvmscope/shared";
import { QEMU_TRACE_EVENTS } from "./qemu-command.js";

export const STRACE_BINARY = "strace";

/** The system calls kvmscope asks strace for: KVM ioctls, the opens and closes of KVM fds, and thread creation. */
const STRACE_CALLS = "trace=ioctl,open,openat,close,clone,clone3,fork,vfork";

export interface TraceVmmOptions {
  /** The VMM to start (argv), or null to attach to `pid`. */
  command: readonly string[] | null;
  pid: number | null;
  /** End the trace after this long (SIGTERM to the VMM when we started it, detach otherwise). */
  timeoutMs: number | null;
  /**
   * When every vCPU's last exit was KVM_EXIT_HLT and QEMU's trace stayed quiet this long, the guest
   * has halted for good: end QEMU (it would wait for ever). Null: never (a VMM we do not know).
   */
  haltedQuietMs: number | null;
  /** Where the VMM's stdin/stdout/stderr go. */
  stdio: "inherit" | "pipe";
  /** Called with the VMM's stdout when stdio is "pipe". */
  onStdout?: (bytes: Buffer) => void;
  /** Bytes for the VMM's stdin when stdio is "pipe". */
  stdin?: string;
  strace?: string;
}

export interface TracedVmm {
  imported: ImportedVmmRun;
  /** The traced process's exit status, or null when it was killed by a signal or we detached. */
  exitCode: number | null;
  signal: string | null;
  /** How the trace ended: the VMM exited, kvmscope ended it when the guest halted, the timeout, or a detach. */
  ending: "exited" | "halted" | "timeout" | "detached";
  wallMs: number;
  /** True when QEMU's trace events were added (the command is a qemu-system binary). */
  qemuEvents: boolean;
  stderr: string;
}

/** QEMU's binaries are `qemu-system-<arch>`; for them kvmscope adds QEMU's own trace events. */
export function isQemu(argv0: string): boolean {
  return /^qemu-system-/.test(basename(argv0));
}

/**
 * The QEMU arguments that add what strace cannot see: the trace events (with the thread id and a
 * µs time on each line) and thread names (`debug-threads=on`: "CPU 0/KVM", "call_rcu", …).
 */
export function qemuTracingArgs(args: readonly string[], traceFile: string): string[] {
  const extra = ["-msg", "timestamp=on", "-D", traceFile];
  for (const e of QEMU_TRACE_EVENTS) extra.push("-trace", e);
  if (!args.includes("-name")) extra.push("-name", "kvmscope,debug-threads=on");
  return [...args, ...extra];
}

function readNames(pid: number, into: Map<number, string>): void {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return;
  }
  for (const t of tasks) {
    try {
      into.set(Number(t), readFileSync(`/proc/${pid}/task/${t}/comm`, "utf8").trim());
    } catch {
      // the thread ended meanwhile
    }
  }
}

function childOf(pid: number): number | null {
  try {
    const text = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim();
    const first = Number(text.split(/\s+/)[0]);
    return Number.isInteger(first) && first > 0 ? first : null;
  } catch {
    return null;
  }
}

/** Whether QEMU's trace says every vCPU sits in HLT: its last kvm_run_exit per vCPU was reason 5. */
function allHalted(traceText: string): boolean {
  const last = new Map<string, string>();
  for (const m of traceText.matchAll(/kvm_run_exit cpu_index (\d+), reason (\d+)/g)) last.set(m[1]!, m[2]!);
  for (const m of traceText.matchAll(/kvm_vcpu_ioctl cpu_index (\d+), type 0xae80/g)) if (!last.has(m[1]!)) last.set(m[1]!, "run");
  return last.size > 0 && [...last.values()].every((r) => r === "5");
}

export async function traceVmm(o: TraceVmmOptions): Promise<TracedVmm> {
  const dir = mkdtempSync(join(tmpdir(), "kvmscope-trace-"));
  const straceFile = join(dir, "strace.log");
  const qemuFile = join(dir, "qemu-trace.log");
  const qemuEvents = o.command !== null && isQemu(o.command[0]!);
  const command = o.command === null ? null : qemuEvents ? qemuTracingArgs(o.command, qemuFile) : [...o.command];
  const straceArgs = ["-f", "-ttt", "-T", "--kvm=vcpu", "-e", STRACE_CALLS, "-o", straceFile];
  if (command !== null) straceArgs.push("--", ...command);
  else straceArgs.push("-p", String(o.pid));
  const started = Date.now();
  const child = spawn(o.strace ?? STRACE_BINARY, straceArgs, { stdio: o.stdio === "inherit" ? "inherit" : ["pipe", "pipe", "pipe"] });
  let stderr = "";
  if (o.stdio === "pipe") {
    child.stdout?.on("data", (b: Buffer) => o.onStdout?.(b));
    child.stderr?.on("data", (b: Buffer) => {
      if (stderr.length < 64 * 1024) stderr += b.toString("utf8");
    });
    if (o.stdin !== undefined) child.stdin?.end(o.stdin);
  }
  const names = new Map<number, string>();
  let vmmPid = o.pid;
  let ending: TracedVmm["ending"] = o.command === null ? "detached" : "exited";
  let quietSince = Date.now();
  let lastSize = 0;
  let signalled = false;
  /** Ends the VMM we started (once; it may be gone already). */
  const endVmm = (): void => {
    if (signalled || vmmPid === null) return;
    signalled = true;
    try {
      process.kill(vmmPid, "SIGTERM");
    } catch {
      // it exited meanwhile
    }
  };
  const poll = setInterval(() => {
    if (vmmPid === null && child.pid !== undefined) vmmPid = childOf(child.pid);
    if (vmmPid !== null) readNames(vmmPid, names);
    if (o.haltedQuietMs !== null && qemuEvents && vmmPid !== null) {
      let size = 0;
      try {
        size = statSync(qemuFile).size;
      } catch {
        return;
      }
      if (size !== lastSize) {
        lastSize = size;
        quietSince = Date.now();
      } else if (Date.now() - quietSince >= o.haltedQuietMs && allHalted(readFileSync(qemuFile, "utf8"))) {
        if (!signalled) ending = "halted";
        endVmm();
      }
    }
  }, 20);
  const timer = o.timeoutMs === null ? null : setTimeout(() => {
    ending = o.command === null ? "detached" : "timeout";
    if (o.command === null) child.kill("SIGINT"); // strace detaches on SIGINT
    else endVmm();
  }, o.timeoutMs);
  const { code, signal } = await new Promise<{ code: number | null; signal: string | null }>((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", (c, s) => resolve({ code: c, signal: s }));
  });
  clearInterval(poll);
  if (timer) clearTimeout(timer);
  try {
    const strace = parseStrace(readFileSync(straceFile, "utf8"));
    let qemu = null;
    try {
      qemu = parseQemuTrace(readFileSync(qemuFile, "utf8"));
    } catch {
      qemu = null; // not QEMU, or it wrote nothing
    }
    const imported = importVmmRun(strace, qemu, names);
    // strace exits with the traced command's status (or 128+signal, as a shell would report it).
    const killedBy = imported.end.killedBy;
    return {
      imported,
      exitCode: killedBy !== null ? null : imported.end.exitStatus ?? code,
      signal: killedBy ?? signal,
      ending,
      wallMs: Date.now() - started,
      qemuEvents,
      stderr,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
