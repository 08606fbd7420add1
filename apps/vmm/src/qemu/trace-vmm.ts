// Tracing a VMM that is not ours: run it (or attach to it) under strace, add QEMU's own trace
// events when it is QEMU, and turn what both print into records (packages/shared vmm-trace.ts).
// The traced process keeps our stdio, so a guest's serial port still reaches the terminal.
import { spawn } from "node:child_process";
import { closeSync, fstatSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { type ImportedVmmRun, type KnownFds, importVmmRun, kvmFdKind, parseQemuTrace, parseStrace } from "@kvmscope/shared";
import { readlinkSync } from "node:fs";
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
   * When every vCPU thread's last KVM_RUN returned KVM_EXIT_HLT and strace printed nothing for this
   * long, the guest has halted for good: end the VMM (QEMU would wait for ever). Null: never.
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

/** The KVM fds a running process holds (for --pid: the trace starts after they were made). */
function knownKvmFds(pid: number): Map<number, NonNullable<ReturnType<typeof kvmFdKind>>> {
  const fds = new Map<number, NonNullable<ReturnType<typeof kvmFdKind>>>();
  let entries: string[];
  try {
    entries = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return fds;
  }
  for (const fd of entries) {
    try {
      const kind = kvmFdKind(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (kind !== null) fds.set(Number(fd), kind);
    } catch {
      // closed meanwhile
    }
  }
  return fds;
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

/**
 * Follows strace's output as it grows (strace writes each line as it happens; QEMU's own log is
 * buffered) and says whether every vCPU thread's last KVM_RUN returned KVM_EXIT_HLT: with the
 * userspace irqchip QEMU then waits in userspace, and with interrupts off nothing will wake it.
 */
class HaltWatch {
  #offset = 0;
  #partial = "";
  readonly #vcpuThreads = new Set<string>();
  readonly #lastExit = new Map<string, string>();
  constructor(private readonly file: string) {}

  /**
   * Reads what was added; true if any of it was a system call. Signal notices do not count: QEMU's
   * main thread keeps kicking a halted vCPU thread (SIG_IPI) while its timers tick.
   */
  poll(): boolean {
    let fd: number;
    try {
      fd = openSync(this.file, "r");
    } catch {
      return false;
    }
    try {
      const size = fstatSync(fd).size;
      if (size <= this.#offset) return false;
      const buf = Buffer.alloc(Math.min(size - this.#offset, 4 << 20));
      const n = readSync(fd, buf, 0, buf.length, this.#offset);
      this.#offset += n;
      const lines = (this.#partial + buf.toString("utf8", 0, n)).split("\n");
      this.#partial = lines.pop() ?? "";
      let calls = false;
      for (const line of lines) {
        const tid = /^(\d+) /.exec(line)?.[1];
        if (tid === undefined || /^\d+\s+[\d.]+\s+(---|\+\+\+)/.test(line)) continue;
        calls = true;
        if (/ioctl\(\d+, KVM_CREATE_VCPU, /.test(line) && !/= -1/.test(line)) this.#vcpuThreads.add(tid);
        const run = /ioctl\(\d+, KVM_RUN, .*= (?:0 \((KVM_EXIT_\w+)\)|-1 (\w+))/.exec(line) ?? /<\.\.\. ioctl resumed>.*= (?:0 \((KVM_EXIT_\w+)\)|-1 (\w+))/.exec(line);
        if (run) this.#lastExit.set(tid, run[1] ?? run[2]!);
      }
      return calls;
    } finally {
      closeSync(fd);
    }
  }

  get allHalted(): boolean {
    return this.#vcpuThreads.size > 0 && [...this.#vcpuThreads].every((t) => this.#lastExit.get(t) === "KVM_EXIT_HLT");
  }
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
  const knownFds: KnownFds = o.pid === null ? new Map() : knownKvmFds(o.pid);
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
  const halts = new HaltWatch(straceFile);
  let signalled = false;
  let killTimer: NodeJS.Timeout | undefined;
  /**
   * Ends the VMM we started: SIGTERM (QEMU shuts down cleanly), then SIGKILL a second later for a
   * QEMU that did not act on it (seen here with a halted guest: its main loop never woke).
   */
  const endVmm = (): void => {
    if (signalled || vmmPid === null) return;
    signalled = true;
    const pid = vmmPid;
    const kill = (signal: NodeJS.Signals): void => {
      try {
        process.kill(pid, signal);
      } catch {
        // it exited meanwhile
      }
    };
    kill("SIGTERM");
    killTimer = setTimeout(() => kill("SIGKILL"), 1000);
  };
  const poll = setInterval(() => {
    if (vmmPid === null && child.pid !== undefined) vmmPid = childOf(child.pid);
    if (vmmPid !== null) readNames(vmmPid, names);
    if (o.haltedQuietMs !== null && vmmPid !== null) {
      if (halts.poll()) quietSince = Date.now();
      else if (Date.now() - quietSince >= o.haltedQuietMs && halts.allHalted) {
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
  // If kvmscope itself is told to stop, the VMM it started stops too (it would outlive us otherwise).
  const onStop = (): void => {
    if (o.command === null) child.kill("SIGINT");
    else endVmm();
  };
  process.on("SIGTERM", onStop);
  process.on("SIGINT", onStop);
  const { code, signal } = await new Promise<{ code: number | null; signal: string | null }>((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", (c, s) => resolve({ code: c, signal: s }));
  }).finally(() => {
    process.off("SIGTERM", onStop);
    process.off("SIGINT", onStop);
  });
  clearInterval(poll);
  if (timer) clearTimeout(timer);
  if (killTimer) clearTimeout(killTimer);
  try {
    const strace = parseStrace(readFileSync(straceFile, "utf8"));
    let qemu = null;
    try {
      qemu = parseQemuTrace(readFileSync(qemuFile, "utf8"));
    } catch {
      qemu = null; // not QEMU, or it wrote nothing
    }
    const imported = importVmmRun(strace, qemu, { names, knownFds, mainTid: o.pid ?? undefined });
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
