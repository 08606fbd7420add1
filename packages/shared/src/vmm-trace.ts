// Another VMM's KVM activity, from what the public tools print, as records of our one format.
//
// Two sources, read apart and then joined:
// - strace (`strace -f -ttt -T --kvm=vcpu`): every ioctl on a KVM fd by name, with the thread id,
//   the return value, the errno and the duration; for KVM_RUN the exit reason (`(KVM_EXIT_IO)`);
//   `clone`/`clone3` say which thread made which; `KVM_CREATE_VCPU` says which thread owns vCPU n.
//   No exit payload.
// - QEMU's own trace (`-msg timestamp=on -trace kvm_run_exit -trace memory_region_ops_read …
//   -D FILE`, the log backend): `TID@SEC.USEC:event args`. From it, each exit's device access:
//   address, size, value and the name of the memory region. QEMU 10.1 and later print an ISO time
//   and no thread id; such lines are read too, and joined by the vCPU index they carry.
//
// The join: the k-th `kvm_run_exit` of vCPU n in QEMU's log is the k-th KVM_RUN of vCPU n's thread
// that returned 0 in strace; its payload is the device access QEMU's log shows on that vCPU between
// that exit and its next KVM_RUN. What neither source shows is left out and said (`observed`),
// never made up: no RIP, no time in userspace handling for a run seen only through QEMU's log.
import type { ExitRecord, IoctlRecord, IoPayload, MmioPayload, ThreadName, TraceRecord } from "./codec.js";
import { ERRNO_NAMES } from "./errno.js";
import { ioctlInfoByName } from "./ioctls.js";
import { KVM_CAPS } from "./kvm-caps.js";
import { KvmExit, exitReasonCode, exitReasonName } from "./exit-reasons.js";

/** One line of strace output we understood. */
export interface StraceCall {
  tid: number;
  /** Microseconds since the epoch (-ttt) or since midnight (-tt), as strace printed it. */
  time: number;
  syscall: string;
  /** The raw argument text, between the parentheses. */
  args: string;
  ret: number;
  errno: string | null;
  /** For KVM_RUN with --kvm=vcpu: the exit reason name strace printed after the return value. */
  exitReason: string | null;
  /** Microseconds inside the call (-T). */
  dur: number | null;
}

/** A thread strace saw die or a process exit status, for the end of the run. */
export interface StraceEnd {
  /** The process's exit status (`+++ exited with N +++` of the first thread), or null. */
  exitStatus: number | null;
  /** The signal that killed it (`+++ killed by SIGTERM +++`), or null. */
  killedBy: string | null;
}

export interface StraceLog {
  calls: StraceCall[];
  end: StraceEnd;
  /** Lines that were neither a call nor a known notice: counted, never silently dropped. */
  unparsed: number;
}

const CALL = /^(\d+)\s+(\d+(?:[:.]\d+)*)\s+(\w+)\((.*)\)\s+=\s+(0x[0-9a-f]+|-?\d+|\?)(.*)$/;
const UNFINISHED = /^(\d+)\s+(\d+(?:[:.]\d+)*)\s+(\w+)\((.*?)\s*<unfinished \.\.\.>$/;
const RESUMED = /^(\d+)\s+(\d+(?:[:.]\d+)*)\s+<\.\.\. (\w+) resumed>(.*)\)\s+=\s+(0x[0-9a-f]+|-?\d+|\?)(.*)$/;
const EXITED = /^(\d+)\s+(?:\d+(?:[:.]\d+)*\s+)?\+\+\+ exited with (\d+) \+\+\+$/;
const KILLED = /^(\d+)\s+(?:\d+(?:[:.]\d+)*\s+)?\+\+\+ killed by (\w+)/;
const NOTICE = /^(\d+)\s+(?:\d+(?:[:.]\d+)*\s+)?(---|\+\+\+)/;

/** `1796700550.010195` or `03:29:10.113556` as whole microseconds (exact: no float seconds). */
function micros(text: string): number {
  const [whole, frac = ""] = text.split(".");
  let seconds = 0;
  for (const part of whole!.split(":")) seconds = seconds * 60 + Number(part);
  return seconds * 1_000_000 + Number(frac.padEnd(6, "0").slice(0, 6));
}

function parseRest(rest: string): { errno: string | null; exitReason: string | null; dur: number | null } {
  const errno = /^\s*([A-Z][A-Z0-9]+) \(/.exec(rest)?.[1] ?? null;
  const exitReason = /\((KVM_EXIT_[A-Z0-9_]+)\)/.exec(rest)?.[1] ?? null;
  const durText = /<(\d+\.\d+)>\s*$/.exec(rest)?.[1];
  return { errno, exitReason, dur: durText === undefined ? null : micros(durText) };
}

/**
 * Reads `strace -f -ttt -T` output (with or without `--kvm=vcpu`, `-tt` accepted too). The first
 * thread seen is the process; `<unfinished …>` / `<… resumed>` pairs are joined into one call.
 */
export function parseStrace(text: string): StraceLog {
  const calls: StraceCall[] = [];
  const pending = new Map<number, { time: number; syscall: string; args: string }>();
  const end: StraceEnd = { exitStatus: null, killedBy: null };
  let first: number | null = null;
  let unparsed = 0;
  for (const raw of text.split("\n")) {
    const line = raw.trimEnd();
    if (line === "") continue;
    let m = CALL.exec(line);
    if (m) {
      const tid = Number(m[1]);
      first ??= tid;
      calls.push({ tid, time: micros(m[2]!), syscall: m[3]!, args: m[4]!, ret: m[5] === "?" ? NaN : Number(m[5]), ...parseRest(m[6]!) });
      continue;
    }
    m = UNFINISHED.exec(line);
    if (m) {
      const tid = Number(m[1]);
      first ??= tid;
      pending.set(tid, { time: micros(m[2]!), syscall: m[3]!, args: m[4]! });
      continue;
    }
    m = RESUMED.exec(line);
    if (m) {
      const tid = Number(m[1]);
      const start = pending.get(tid);
      pending.delete(tid);
      if (start === undefined || start.syscall !== m[3]) {
        unparsed++;
        continue;
      }
      calls.push({ tid, time: start.time, syscall: start.syscall, args: start.args + m[4]!, ret: m[5] === "?" ? NaN : Number(m[5]), ...parseRest(m[6]!) });
      continue;
    }
    m = EXITED.exec(line);
    if (m) {
      if (Number(m[1]) === first) end.exitStatus = Number(m[2]);
      continue;
    }
    m = KILLED.exec(line);
    if (m) {
      if (Number(m[1]) === first) end.killedBy = m[2]!;
      continue;
    }
    if (NOTICE.test(line)) continue; // signals and thread exits: known, nothing to record
    unparsed++;
  }
  // Calls strace printed in pieces land in the order they finished; the record order is start time.
  calls.sort((a, b) => a.time - b.time);
  return { calls, end, unparsed };
}

/** One event of QEMU's log trace backend. */
export interface QemuTraceEvent {
  /** The emitting thread (QEMU ≤ 10.0 with `-msg timestamp=on`), or null. */
  tid: number | null;
  /** Microseconds since the epoch. */
  time: number;
  event: string;
  /** `key value` pairs of the event's text (`cpu_index 0, reason 2` → {cpu_index: "0", reason: "2"}). */
  fields: Record<string, string>;
}

const QEMU_TID_LINE = /^(\d+)@(\d+\.\d+):(\w+) (.*)$/;
const QEMU_ISO_LINE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z?)[: ]\s*(\w+) (.*)$/;

/** `cpu 0 mr 0x55 addr 0x3f8 value 0x48 size 1 name 'serial'` → fields. Quoted values keep their text. */
function qemuFields(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  const re = /(\w+)\s+('[^']*'|[^\s,]+),?/g;
  for (const m of text.matchAll(re)) {
    const value = m[2]!;
    fields[m[1]!] = value.startsWith("'") ? value.slice(1, -1) : value;
  }
  return fields;
}

export interface QemuTrace {
  events: QemuTraceEvent[];
  /** Lines that were not trace events (QEMU's own messages, warnings): counted. */
  other: number;
}

export function parseQemuTrace(text: string): QemuTrace {
  const events: QemuTraceEvent[] = [];
  let other = 0;
  for (const raw of text.split("\n")) {
    const line = raw.trimEnd();
    if (line === "") continue;
    let m = QEMU_TID_LINE.exec(line);
    if (m) {
      events.push({ tid: Number(m[1]), time: micros(m[2]!), event: m[3]!, fields: qemuFields(m[4]!) });
      continue;
    }
    m = QEMU_ISO_LINE.exec(line);
    if (m && /^[a-z0-9_]+$/.test(m[2]!)) {
      // Date.parse keeps milliseconds only; the microseconds come back from the text.
      const seconds = Math.floor(Date.parse(`${m[1]!.replace(/\.\d+/, "").replace(/Z$/, "")}Z`) / 1000);
      const frac = /\.(\d+)/.exec(m[1]!)?.[1] ?? "";
      events.push({ tid: null, time: micros(`${seconds}.${frac}`), event: m[2]!, fields: qemuFields(m[3]!) });
      continue;
    }
    other++;
  }
  return { events, other };
}

/** What kvmscope knows of one thread of the traced VMM. */
export interface VmmThread {
  tid: number;
  /** `main`: the process's first thread; `vcpu`: the thread that created vCPU `vcpu`; else `other`. */
  role: "main" | "vcpu" | "other";
  vcpu?: number;
  /** /proc/PID/task/TID/comm where it was read (QEMU names its threads with `-name debug-threads=on`). */
  name?: string;
  /** The thread that created this one (clone), where strace saw it. */
  parent?: number;
}

export interface ImportedVmmRun {
  threads: VmmThread[];
  records: TraceRecord[];
  /** What was observed, for the page to say (never to draw as zero). */
  observed: {
    /** Exit payloads (port, data, MMIO address) came from QEMU's trace. */
    exitPayloads: boolean;
    /** strace's durations: time inside each ioctl, KVM_RUN included. */
    ioctlDurations: boolean;
    /** Each exit's handling time: from KVM_RUN's return to the thread's next KVM_RUN (strace's cost included). */
    handling: boolean;
    /** Neither source gives the guest's RIP at an exit. */
    rip: false;
  };
  /** Ioctls on KVM fds from threads that are neither the main thread nor a vCPU's: not in records. */
  otherThreadIoctls: number;
  /** KVM ioctls strace named that our ioctl table does not know (by name, how many): not in records. */
  unknownIoctls: Record<string, number>;
  /** Exits QEMU's log showed with no KVM_RUN return in strace to pair with, and the reverse. */
  unpaired: { qemuExits: number; straceExits: number };
  end: StraceEnd;
  /** The first traced moment, µs since the epoch (or midnight, for -tt): records' ts are nanoseconds after it. */
  t0: number;
}

/** First argument of a call: the fd. */
function fdOf(args: string): number {
  const n = Number(/^\s*(-?\d+)/.exec(args)?.[1]);
  return Number.isFinite(n) ? n : -1;
}

/** `ioctl(9, KVM_CREATE_VCPU, 0)` → "KVM_CREATE_VCPU"; the request as strace named it. */
function requestOf(args: string): string {
  return /^\s*-?\d+,\s*([A-Za-z0-9_]+|_IOC\([^)]*\)|0x[0-9a-f]+)/.exec(args)?.[1] ?? "?";
}

/** The numeric third argument where strace printed one (`KVM_CHECK_EXTENSION, KVM_CAP_X` → none). */
function numericArg(args: string): number | undefined {
  const m = /^\s*-?\d+,\s*[^,]+,\s*(0x[0-9a-f]+|-?\d+)\s*$/.exec(args);
  return m ? Number(m[1]) : undefined;
}

function capArg(args: string): string | undefined {
  return /,\s*(KVM_CAP_[A-Z0-9_]+)\s*$/.exec(args)?.[1];
}

/** Ioctls whose third argument is a value, not a pointer: strace's number is the argument itself. */
const BY_VALUE: Record<string, string> = { KVM_CREATE_VM: "type", KVM_CREATE_VCPU: "vcpuId", KVM_SET_TSS_ADDR: "addr" };
/** For the ioctls our table gives arguments, where strace's decoded struct has each (`{slot=0, …}`). */
const STRUCT_FIELDS: Record<string, Record<string, string>> = {
  KVM_SET_USER_MEMORY_REGION: { slot: "slot", guestPhysAddr: "guest_phys_addr", memorySize: "memory_size" },
  KVM_SET_REGS: { rip: "rip" },
  KVM_SET_SREGS: { cr0: "cr0", efer: "efer" },
  KVM_SET_CPUID2: { entries: "nent" },
  KVM_GET_SUPPORTED_CPUID: { maxEntries: "nent" },
  KVM_IRQ_LINE: { irq: "irq", level: "level" },
  KVM_INTERRUPT: { vector: "irq" },
  KVM_SET_MP_STATE: { state: "mp_state" },
  KVM_CREATE_PIT2: { flags: "flags" },
  KVM_SET_GUEST_DEBUG: { control: "control" },
};

/**
 * The numbers our ioctl table keeps for `name`, read from what strace printed. Where strace showed
 * only a pointer (it decodes some structs, not all) the argument is 0: the record format has a
 * slot for it, but strace did not observe it.
 */
function ioctlArgsFromStrace(name: string, text: string): Record<string, number> {
  const info = ioctlInfoByName(name);
  const args: Record<string, number> = {};
  if (info === undefined) return args;
  for (const a of info.args) args[a] = 0;
  if (name === "KVM_CHECK_EXTENSION") {
    const cap = capArg(text);
    const n = cap === undefined ? numericArg(text) : KVM_CAPS[cap];
    if (n !== undefined) args.cap = n;
    return args;
  }
  const byValue = BY_VALUE[name];
  if (byValue !== undefined) {
    const n = numericArg(text);
    if (n !== undefined) args[byValue] = n;
    return args;
  }
  const fields = STRUCT_FIELDS[name];
  if (fields !== undefined) {
    for (const [arg, field] of Object.entries(fields)) {
      const m = new RegExp(`[{ ,]${field}=(0x[0-9a-f]+|-?\\d+)`).exec(text);
      if (m) args[arg] = Number(m[1]);
    }
  }
  return args;
}

const CLONE_CHILD = /^(?:clone3?|fork|vfork)$/;

/**
 * KVM fds a process already held when tracing began (attach with --pid), from /proc/PID/fd:
 * `/dev/kvm`, `anon_inode:kvm-vm`, `anon_inode:kvm-vcpu:N`. Without them an attached trace could
 * not tell a KVM ioctl from any other, nor which vCPU a thread runs.
 */
export type KnownFds = ReadonlyMap<number, { kind: "system" | "vm" | "vcpu" | "other"; vcpu?: number }>;

/** What a /proc/PID/fd link target says about the fd, or null when it is not KVM's. */
export function kvmFdKind(target: string): { kind: "system" | "vm" | "vcpu" | "other"; vcpu?: number } | null {
  if (target === "/dev/kvm") return { kind: "system" };
  if (target === "anon_inode:kvm-vm") return { kind: "vm" };
  const vcpu = /^anon_inode:kvm-vcpu:(\d+)$/.exec(target);
  if (vcpu) return { kind: "vcpu", vcpu: Number(vcpu[1]) };
  if (/^anon_inode:kvm-/.test(target)) return { kind: "other" }; // stats fds, devices
  return null;
}

/**
 * Joins a strace log and (optionally) QEMU's trace of the same run into threads and records.
 */
export interface ImportOptions {
  /** Thread id → name, where the tracer could read /proc/PID/task/TID/comm. */
  names?: ReadonlyMap<number, string>;
  /** KVM fds the process held before the trace began (attach). */
  knownFds?: KnownFds;
  /** The process's main thread; by default the first thread strace printed (right for a launch, not an attach). */
  mainTid?: number;
}

export function importVmmRun(strace: StraceLog, qemu: QemuTrace | null, options: ImportOptions = {}): ImportedVmmRun {
  const names = options.names ?? new Map<number, string>();
  const knownFds = options.knownFds ?? new Map();
  // Which fds are KVM's at each call: from the open (or the ioctl that returned them) to their close,
  // so an fd number reused before /dev/kvm was opened or after a close is not taken for one.
  const kvmFdAt: boolean[] = [];
  const live = new Set<number>(knownFds.keys());
  const vcpuOfFd = new Map<number, number>();
  for (const [fd, k] of knownFds) if (k.kind === "vcpu" && k.vcpu !== undefined) vcpuOfFd.set(fd, k.vcpu);
  const vcpuOfTid = new Map<number, number>();
  const parents = new Map<number, number>();
  const firstTid = options.mainTid ?? strace.calls[0]?.tid ?? null;
  for (const c of strace.calls) {
    const fd = fdOf(c.args);
    kvmFdAt.push(c.syscall === "ioctl" || c.syscall === "close" ? live.has(fd) : false);
    if (c.syscall === "openat" || c.syscall === "open") {
      if (/"\/dev\/kvm"/.test(c.args) && c.ret >= 0) {
        live.add(c.ret);
        kvmFdAt[kvmFdAt.length - 1] = true;
      }
    } else if (c.syscall === "close") {
      live.delete(fd);
    } else if (CLONE_CHILD.test(c.syscall) && c.ret > 0) {
      parents.set(c.ret, c.tid);
    } else if (c.syscall === "ioctl" && live.has(fd)) {
      const req = requestOf(c.args);
      // The ioctls that hand out a new KVM fd: VM, vCPU, statistics, devices.
      if ((req === "KVM_CREATE_VM" || req === "KVM_CREATE_VCPU" || req === "KVM_GET_STATS_FD" || req === "KVM_CREATE_DEVICE") && c.ret >= 0) live.add(c.ret);
      if (req === "KVM_CREATE_VCPU" && c.ret >= 0) {
        const id = numericArg(c.args);
        if (id !== undefined && !vcpuOfTid.has(c.tid)) vcpuOfTid.set(c.tid, id);
        if (id !== undefined) vcpuOfFd.set(c.ret, id);
      }
      // Attached mid-run: the thread that runs KVM_RUN on vCPU n's fd is vCPU n's thread.
      if (req === "KVM_RUN" && !vcpuOfTid.has(c.tid) && vcpuOfFd.has(fd)) vcpuOfTid.set(c.tid, vcpuOfFd.get(fd)!);
    }
  }

  const tids = new Set<number>();
  for (const c of strace.calls) tids.add(c.tid);
  for (const child of parents.keys()) tids.add(child);
  const threads: VmmThread[] = [...tids].sort((a, b) => a - b).map((tid) => {
    const t: VmmThread = { tid, role: tid === firstTid ? "main" : vcpuOfTid.has(tid) ? "vcpu" : "other" };
    if (t.role === "vcpu") t.vcpu = vcpuOfTid.get(tid)!;
    const name = names.get(tid);
    if (name !== undefined) t.name = name;
    const parent = parents.get(tid);
    if (parent !== undefined) t.parent = parent;
    return t;
  });
  const threadName = (tid: number): ThreadName | null => (tid === firstTid ? "main" : vcpuOfTid.has(tid) ? `vcpu${vcpuOfTid.get(tid)!}` : null);

  // QEMU's exits and their device accesses, per vCPU, in order.
  interface QemuExit { reason: number; access: { read: boolean; addr: number; size: number; value: number; region: string } | null }
  const qemuExits = new Map<number, QemuExit[]>();
  if (qemu) {
    const cpuOfTid = new Map<number, number>();
    for (const [tid, vcpu] of vcpuOfTid) cpuOfTid.set(tid, vcpu);
    const last = new Map<number, QemuExit>();
    for (const e of qemu.events) {
      if (e.event === "kvm_run_exit") {
        const cpu = Number(e.fields.cpu_index);
        const x: QemuExit = { reason: Number(e.fields.reason), access: null };
        const list = qemuExits.get(cpu) ?? [];
        list.push(x);
        qemuExits.set(cpu, list);
        last.set(cpu, x);
      } else if (e.event === "kvm_vcpu_ioctl" && Number(e.fields.type) === 0xae80) {
        last.delete(Number(e.fields.cpu_index)); // a new KVM_RUN: later accesses belong to no exit
      } else if (e.event === "memory_region_ops_read" || e.event === "memory_region_ops_write") {
        const cpu = Number(e.fields.cpu);
        const x = last.get(cpu);
        if (x !== undefined && x.access === null) {
          x.access = { read: e.event.endsWith("read"), addr: Number(e.fields.addr), size: Number(e.fields.size), value: Number(e.fields.value), region: e.fields.name ?? "" };
        }
      }
    }
  }

  const t0 = strace.calls[0]?.time ?? 0;
  const records: TraceRecord[] = [];
  const taken = new Map<number, number>();
  let otherThreadIoctls = 0;
  const unknownIoctls = new Map<string, number>();
  let straceUnpaired = 0;
  let seq = 0;
  // The exit each vCPU thread returned from last, until its next KVM_RUN: that gap is the time the
  // VMM spent handling it in userspace (strace's own cost included: it slows every call).
  const openExit = new Map<number, ExitRecord>();
  for (let ci = 0; ci < strace.calls.length; ci++) {
    const c = strace.calls[ci]!;
    if (!kvmFdAt[ci]) continue;
    const isOpen = c.syscall === "openat" || c.syscall === "open";
    const isClose = c.syscall === "close";
    const thread = threadName(c.tid);
    if (thread === null) {
      otherThreadIoctls++;
      continue;
    }
    const ts = Math.max(0, (c.time - t0) * 1000);
    const durNs = c.dur === null ? 0 : c.dur * 1000;
    const name = isOpen ? "open" : isClose ? "close" : requestOf(c.args);
    const errno = c.errno === null ? 0 : ERRNO_BY_NAME.get(c.errno) ?? 0;
    if (name === "KVM_RUN") {
      const before = openExit.get(c.tid);
      if (before !== undefined) before.handleNs = Math.max(0, ts - before.ts);
      openExit.delete(c.tid);
    }
    if (name === "KVM_RUN" && c.ret === 0 && thread !== "main") {
      const vcpu = vcpuOfTid.get(c.tid)!;
      const k = taken.get(vcpu) ?? 0;
      taken.set(vcpu, k + 1);
      const q = qemuExits.get(vcpu)?.[k];
      const code = q?.reason ?? (c.exitReason === null ? undefined : exitReasonCode(c.exitReason)) ?? KvmExit.UNKNOWN;
      if (q === undefined && qemu) straceUnpaired++;
      const ioctl: IoctlRecord = { type: "ioctl", seq: seq++, ts, thread, name, fd: fdOf(c.args), args: {}, ret: c.ret, errno, durNs };
      records.push(ioctl);
      const exit: ExitRecord = {
        type: "exit", seq: seq++, ts: ts + durNs, vcpu, reason: exitReasonName(code), code, rip: 0, guestNs: durNs, handleNs: 0,
        ifFlag: false, readyForInjection: false, requestedWindow: false,
      };
      const payload = q?.access ? toPayload(code, q.access) : null;
      if (payload?.io) exit.io = payload.io;
      else if (payload?.mmio) exit.mmio = payload.mmio;
      else if (code === KvmExit.IO || code === KvmExit.MMIO) exit.unobserved = true; // never a made-up port 0
      records.push(exit);
      openExit.set(c.tid, exit);
      continue;
    }
    if (ioctlInfoByName(name) === undefined) {
      unknownIoctls.set(name, (unknownIoctls.get(name) ?? 0) + 1); // not in our table: said, not stored
      continue;
    }
    const args = ioctlArgsFromStrace(name, c.args);
    // An open's fd is the one it returned (as our own VMM records it).
    const fd = isOpen ? Math.max(0, c.ret) : fdOf(c.args);
    const rec: IoctlRecord = { type: "ioctl", seq: seq++, ts, thread, name, fd, args, ret: Number.isNaN(c.ret) ? -1 : c.ret, errno, durNs };
    if (errno !== 0) rec.error = c.errno!;
    records.push(rec);
  }
  let qemuUnpaired = 0;
  for (const [vcpu, list] of qemuExits) qemuUnpaired += Math.max(0, list.length - (taken.get(vcpu) ?? 0));
  return {
    threads, records,
    observed: { exitPayloads: qemu !== null, ioctlDurations: true, handling: true, rip: false },
    otherThreadIoctls,
    unknownIoctls: Object.fromEntries(unknownIoctls),
    unpaired: { qemuExits: qemuUnpaired, straceExits: straceUnpaired },
    end: strace.end,
    t0,
  };
}

function toPayload(code: number, a: { read: boolean; addr: number; size: number; value: number }): { io?: IoPayload; mmio?: MmioPayload } | null {
  const bytes: number[] = [];
  for (let i = 0; i < a.size && i < 8; i++) bytes.push(Math.floor(a.value / 2 ** (8 * i)) & 0xff);
  if (code === KvmExit.IO) return { io: { port: a.addr, size: a.size, direction: a.read ? "in" : "out", count: 1, data: bytes } };
  if (code === KvmExit.MMIO) return { mmio: { addr: a.addr, len: a.size, isWrite: !a.read, data: bytes } };
  return null;
}

const ERRNO_BY_NAME = new Map(Object.entries(ERRNO_NAMES).map(([n, name]) => [name, Number(n)]));
