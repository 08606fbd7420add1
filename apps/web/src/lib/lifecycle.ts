// The life of the VM as a list of steps, derived from the records at the cursor: the ioctl
// sequence the VMM issues (open /dev/kvm, KVM_GET_API_VERSION, KVM_CREATE_VM, guest memory, one
// KVM_CREATE_VCPU per vCPU thread, the release, each vCPU's first KVM_RUN, the exit loop, the
// closes), each step lit when its record has arrived. Steps the run will still take are listed
// as pending, so a step-mode run shows what comes next.
//
// Step ids (stable: walkthroughs highlight them as "lifecycle:<id>"):
//   open, api-version, create-vm, create-irqchip, create-pit2 (in-kernel irqchip only),
//   set-memory, create-vcpu-<n>, release, run-<n> (vCPU n's first KVM_RUN), exit-loop,
//   close-vcpu-<n>, close-vm, close-kvm, end;
//   ioctl-<seq> for any other ioctl the VMM issued (KVM_CHECK_EXTENSION, KVM_SET_CPUID2, ...).
//
// Cost: the ioctl and marker rows (few) plus, when the cursor is not at the newest record, one
// pass over the exit column to count exits at the cursor.
import {
  ioctlId, ioctlName, MAIN_THREAD, type QemuFunction, RecordKind, threadName, type IoctlRecord, type ThreadName,
} from "@kvmscope/shared";
import { formatNs } from "./format";
import type { TraceStore } from "./trace-store";
import { bindingOf, ioctlPlace, issuerOn, QEMU_VCPU_LOOP, type QemuPlace } from "./ioctl-places";
import { VMM_CONTROL as CONTROL, VMM_EXIT_LOOP as LOOP, VMM_MACHINE as MACHINE } from "./vmm-files";

export type StepState = "pending" | "done" | "failed";
export type LifecycleEvent = "release" | "first-run" | "exit-loop" | "end";

/** Where our VMM does a step: "Machine.run" in machine.ts, "main" in vcpu/thread.ts. */
export interface OurCode {
  file: string;
  fn: string;
}

export interface LifecycleStep {
  id: string;
  /** The ioctl's name, or the event's ("qemu_system_ready", "KVM_RUN", "exit loop", "end"). */
  label: string;
  /** Set for the steps that are not a single ioctl; views translate these. */
  event?: LifecycleEvent;
  /** The thread that issues it: known even for a pending step. */
  thread: ThreadName;
  /** The vCPU a per-vCPU step is about. */
  vcpu?: number;
  state: StepState;
  /** True for the steps every run takes; false for the other ioctls the VMM issued. */
  expected: boolean;
  ret: number | null;
  errno: number;
  /** Symbolic errno ("EINTR") when it failed and the name is known. */
  error?: string;
  /** ns since run start: when it was issued (for KVM_RUN: when the vCPU entered the guest). */
  ts: number | null;
  durNs: number | null;
  /** The record to select for this step (for the exit loop: the newest exit at the cursor). */
  seq: number | null;
  /** The ioctl's arguments as recorded. */
  args?: Readonly<Record<string, number>>;
  /** exit-loop: exits at the cursor, in all and per vCPU. */
  count?: number;
  countByVcpu?: number[];
  /** exit-loop: the ioctls issued inside the loop (KVM_INTERRUPT, a KVM_RUN cut short by EINTR...), by name. */
  loopIoctls?: Readonly<Record<string, number>>;
  /** end: how the run ended, when the caller knows (the run's end object). */
  outcome?: string;
  /** The qemu-kvm 0.14 function that did this, or null where qemu-kvm had no such step. */
  qemu: QemuFunction | null;
  ours: OurCode;
}

export interface Lifecycle {
  steps: LifecycleStep[];
  /** Id of the latest lit step (done or failed), null before any. */
  currentStep: string | null;
}

export interface LifecycleOptions {
  /** vCPUs in the run's configuration: one create / first-run / close step each. */
  vcpus: number;
  /** With "kernel" KVM_CREATE_IRQCHIP and KVM_CREATE_PIT2 are expected. Default "user". */
  irqchip?: "user" | "kernel";
  /** The run's end object ({outcome, message}), once the run has finished. */
  outcome?: { outcome: string; message?: string } | null;
}

// ---------------------------------------------------------------------------------------------
// Where each step lives: ours, and qemu-kvm 0.14's. The ioctls' come from the one table in
// ioctl-places.ts (shared with the Selected-exit panel), where each qemu name says where it was
// confirmed; the steps that are not a single ioctl are here.

type Place = { ours: OurCode; qemu: QemuFunction | null };

const qemuFunction = (q: QemuPlace | null): QemuFunction | null => (q === null ? null : { fn: q.fn, file: q.file });

/**
 * Where a record of `name` issued on `thread` comes from: the function of ours that issues it on
 * that kind of thread (close: Machine.run on the main thread, the vCPU thread's main on its own),
 * or, for an ioctl our VMM never issues, the binding method that would; and the qemu-kvm 0.14
 * function that issued it.
 */
export function placeOf(name: string, thread: ThreadName): Place {
  const issuer = issuerOn(name, thread === "main" ? "main" : "vcpu");
  const { file, fn } = issuer ?? bindingOf(name);
  return { ours: { file, fn }, qemu: qemuFunction(ioctlPlace(name)?.qemu ?? null) };
}

export const EVENT_PLACES: Readonly<Record<LifecycleEvent, Place>> = {
  // qemu-kvm 0.14: kvm_main_loop (qemu-kvm.c) sets qemu_system_ready = 1 and broadcasts
  // qemu_system_cond, which ap_main_loop waits on (article lines 1535-1536). Confirmed in
  // TritonDataCenter/illumos-kvm-cmd qemu-kvm.c (and ceph/qemu-kvm qemu-kvm.c).
  release: { ours: { file: CONTROL, fn: "MachineControl.releaseAll" }, qemu: { fn: "kvm_main_loop", file: "qemu-kvm.c" } },
  "first-run": placeOf("KVM_RUN", threadName(0)),
  "exit-loop": { ours: { file: LOOP, fn: "runExitLoop" }, qemu: qemuFunction(QEMU_VCPU_LOOP) },
  end: { ours: { file: MACHINE, fn: "Machine.run" }, qemu: null },
};

// ---------------------------------------------------------------------------------------------

const ID = {
  open: ioctlId("open"),
  close: ioctlId("close"),
  apiVersion: ioctlId("KVM_GET_API_VERSION"),
  createVm: ioctlId("KVM_CREATE_VM"),
  setMemory: ioctlId("KVM_SET_USER_MEMORY_REGION"),
  createIrqchip: ioctlId("KVM_CREATE_IRQCHIP"),
  createPit2: ioctlId("KVM_CREATE_PIT2"),
  createVcpu: ioctlId("KVM_CREATE_VCPU"),
  run: ioctlId("KVM_RUN"),
};

/** The main thread's marker when every vCPU exists and they are let go (machine.ts). */
const RELEASE_MARKER = "qemu_system_ready";
/** The main thread's note that vCPU N reported "created" (machine.ts; vCPUs are created one at a time). */
const CREATED_MARKER = /^vCPU (\d+) created \(env->created = 1\)$/;

interface Slot {
  step: LifecycleStep;
  /** Position in the expected order (pending steps are placed by it). */
  order: number;
  /** Seq that places a lit step in the list (for the exit loop: its first exit). */
  startSeq: number;
  /** Seq of the step's latest record: the current step is the lit one with the highest. */
  lastSeq: number;
}

function pendingStep(id: string, label: string, thread: ThreadName, place: Place, extra: Partial<LifecycleStep> = {}): LifecycleStep {
  return {
    id, label, thread, state: "pending", expected: true, ret: null, errno: 0, ts: null, durNs: null, seq: null,
    qemu: place.qemu, ours: place.ours, ...extra,
  };
}

function lightFromIoctl(step: LifecycleStep, rec: IoctlRecord): void {
  step.state = rec.errno !== 0 ? "failed" : "done";
  step.ret = rec.ret;
  step.errno = rec.errno;
  if (rec.error !== undefined) step.error = rec.error;
  step.ts = rec.ts;
  step.durNs = rec.durNs;
  step.seq = rec.seq;
  step.args = rec.args;
}

/** The lifecycle at the cursor. */
export function lifecycleAt(store: TraceStore, cursorSeq: number, options: LifecycleOptions): Lifecycle {
  const vcpus = Math.max(0, Math.floor(options.vcpus));
  const kernelIrqchip = options.irqchip === "kernel";
  const slots: Slot[] = [];
  const byId = new Map<string, Slot>();
  let order = 0;
  const expectStep = (step: LifecycleStep): Slot => {
    const slot: Slot = { step, order: order++, startSeq: Infinity, lastSeq: -1 };
    slots.push(slot);
    byId.set(step.id, slot);
    return slot;
  };

  // The expected order: the article's (kvm_init, kvm_create_vm, memory, one vCPU per thread,
  // qemu_system_ready, the run loops), with our VMM's own steps where it takes them.
  expectStep(pendingStep("open", "open", "main", placeOf("open", "main")));
  expectStep(pendingStep("api-version", "KVM_GET_API_VERSION", "main", placeOf("KVM_GET_API_VERSION", "main")));
  expectStep(pendingStep("create-vm", "KVM_CREATE_VM", "main", placeOf("KVM_CREATE_VM", "main")));
  if (kernelIrqchip) {
    expectStep(pendingStep("create-irqchip", "KVM_CREATE_IRQCHIP", "main", placeOf("KVM_CREATE_IRQCHIP", "main")));
    expectStep(pendingStep("create-pit2", "KVM_CREATE_PIT2", "main", placeOf("KVM_CREATE_PIT2", "main")));
  }
  expectStep(pendingStep("set-memory", "KVM_SET_USER_MEMORY_REGION", "main", placeOf("KVM_SET_USER_MEMORY_REGION", "main")));
  for (let n = 0; n < vcpus; n++) {
    expectStep(pendingStep(`create-vcpu-${n}`, "KVM_CREATE_VCPU", threadName(n), placeOf("KVM_CREATE_VCPU", threadName(n)), { vcpu: n }));
  }
  expectStep(pendingStep("release", RELEASE_MARKER, "main", EVENT_PLACES.release, { event: "release" }));
  for (let n = 0; n < vcpus; n++) {
    expectStep(pendingStep(`run-${n}`, "KVM_RUN", threadName(n), EVENT_PLACES["first-run"], { event: "first-run", vcpu: n }));
  }
  const loop = expectStep(pendingStep("exit-loop", "exit loop", "vcpu0", EVENT_PLACES["exit-loop"], { event: "exit-loop", count: 0 }));
  for (let n = 0; n < vcpus; n++) {
    expectStep(pendingStep(`close-vcpu-${n}`, "close", threadName(n), placeOf("close", threadName(n)), { vcpu: n }));
  }
  expectStep(pendingStep("close-vm", "close", "main", placeOf("close", "main")));
  expectStep(pendingStep("close-kvm", "close", "main", placeOf("close", "main")));
  const end = expectStep(pendingStep("end", "end", "main", EVENT_PLACES.end, { event: "end" }));

  const light = (id: string, rec: IoctlRecord): boolean => {
    const slot = byId.get(id);
    if (slot === undefined || slot.step.state !== "pending") return false;
    lightFromIoctl(slot.step, rec);
    slot.startSeq = slot.lastSeq = rec.seq;
    return true;
  };

  // First entries into the guest, and the exit count at the cursor: from the exit column.
  const tally = exitTally(store, cursorSeq);
  const firstExitRow = tally.firstRow;
  const exitCount = tally.count;
  const countByVcpu = Array.from({ length: Math.max(vcpus, tally.byVcpu.length) }, (_, i) => tally.byVcpu[i] ?? 0);
  const newestExitSeq = tally.newestSeq;
  const firstEntrySeq = new Map<number, number>();
  for (const [v, row] of firstExitRow) {
    const rec = store.record(row);
    if (rec.type !== "exit") continue;
    const slot = byId.get(`run-${v}`);
    firstEntrySeq.set(v, rec.seq);
    if (slot === undefined) continue;
    const st = slot.step;
    st.state = "done";
    st.ret = 0;
    st.ts = rec.ts - rec.guestNs; // KVM_RUN went in guestNs before it returned
    st.durNs = rec.guestNs;
    st.seq = rec.seq;
    slot.startSeq = slot.lastSeq = rec.seq;
  }

  // Ioctls and the release marker, in seq order (rows are only roughly so across threads).
  const rows = [...store.ioctlRows, ...store.markerRows]
    .filter((r) => store.seq[r]! <= cursorSeq)
    .sort((a, b) => store.seq[a]! - store.seq[b]!);
  let vmFd = -1;
  let kvmFd = -1;
  let released = false;
  const loopIoctls: Record<string, number> = {};
  let loopLastSeq = -1;
  for (const row of rows) {
    const code = store.code[row]!;
    const t = store.thread[row]!;
    if (store.kind[row] === RecordKind.Marker) {
      if (t !== MAIN_THREAD || released) continue;
      const rec = store.record(row);
      if (rec.type !== "marker") continue;
      // The main thread saw vCPU N created (env->created) and only now gives vCPU N+1 its turn:
      // until then, vCPU N's creation is where the run stands.
      const created = CREATED_MARKER.exec(rec.text);
      if (created) {
        const slot = byId.get(`create-vcpu-${created[1]}`);
        if (slot !== undefined && slot.step.state !== "pending") slot.lastSeq = rec.seq;
        continue;
      }
      if (!rec.text.includes(RELEASE_MARKER)) continue;
      released = true;
      const slot = byId.get("release")!;
      const st = slot.step;
      st.state = "done";
      st.seq = rec.seq;
      st.ts = rec.ts;
      // How long the main thread waited: from its last ioctl before the release to the release.
      let waitFrom = -1;
      for (const r2 of rows) {
        if (store.seq[r2]! >= rec.seq) break;
        if (store.kind[r2] === RecordKind.Ioctl && store.thread[r2] === MAIN_THREAD) waitFrom = store.ts[r2]! + store.dur[r2]!;
      }
      st.durNs = waitFrom >= 0 ? Math.max(0, rec.ts - waitFrom) : null;
      slot.startSeq = slot.lastSeq = rec.seq;
      continue;
    }
    // The vCPU thread's own ioctls once it is in its loop: injections, runs cut short by a kick.
    const s = store.seq[row]!;
    if (t !== MAIN_THREAD && code !== ID.close) {
      const entered = firstEntrySeq.get(t);
      if (code === ID.run || (entered !== undefined && s > entered)) {
        if (code === ID.run && entered === undefined) {
          // A first KVM_RUN that never reached the guest: the step failed, with its errno.
          const rec = store.record(row);
          if (rec.type === "ioctl" && rec.errno !== 0) light(`run-${t}`, rec);
        }
        const name = ioctlName(code);
        loopIoctls[name] = (loopIoctls[name] ?? 0) + 1;
        if (s > loopLastSeq) loopLastSeq = s;
        continue;
      }
    }
    const rec = store.record(row);
    if (rec.type !== "ioctl") continue;
    let matched = false;
    switch (code) {
      case ID.open:
        matched = t === MAIN_THREAD && light("open", rec);
        if (matched) kvmFd = rec.ret;
        break;
      case ID.apiVersion:
        matched = light("api-version", rec);
        // This VMM speaks API version 12 only: another answer ends the run as surely as an error.
        if (matched && rec.errno === 0 && rec.ret !== 12) byId.get("api-version")!.step.state = "failed";
        break;
      case ID.createVm:
        matched = light("create-vm", rec);
        if (matched && rec.errno === 0) vmFd = rec.ret;
        break;
      case ID.setMemory:
        matched = light("set-memory", rec);
        break;
      case ID.createIrqchip:
        matched = light("create-irqchip", rec);
        break;
      case ID.createPit2:
        matched = light("create-pit2", rec);
        break;
      case ID.createVcpu: {
        const id = rec.args.vcpuId ?? (t !== MAIN_THREAD ? t : -1);
        matched = light(`create-vcpu-${id}`, rec);
        break;
      }
      case ID.close:
        if (t !== MAIN_THREAD) matched = light(`close-vcpu-${t}`, rec);
        else if (released && rec.fd === vmFd && vmFd >= 0) matched = light("close-vm", rec);
        else if (released && rec.fd === kvmFd && kvmFd >= 0) matched = light("close-kvm", rec);
        break;
      default:
        break;
    }
    if (matched) continue;
    if (released && t === MAIN_THREAD && code !== ID.close) {
      // The main thread's calls while the guest runs (none today; KVM_IRQ_LINE would be one) belong to the loop.
      loopIoctls[rec.name] = (loopIoctls[rec.name] ?? 0) + 1;
      if (s > loopLastSeq) loopLastSeq = s;
      continue;
    }
    const place = placeOf(rec.name, rec.thread);
    const step: LifecycleStep = {
      id: `ioctl-${rec.seq}`, label: rec.name, thread: rec.thread, state: "pending", expected: false,
      ret: null, errno: 0, ts: null, durNs: null, seq: null, qemu: place.qemu, ours: place.ours,
    };
    if (t !== MAIN_THREAD) step.vcpu = t;
    lightFromIoctl(step, rec);
    slots.push({ step, order: -1, startSeq: rec.seq, lastSeq: rec.seq });
  }

  // The exit loop: lit by the first exit of any vCPU, counting every exit at the cursor.
  {
    const st = loop.step;
    st.count = exitCount;
    st.countByVcpu = countByVcpu;
    st.loopIoctls = loopIoctls;
    if (exitCount > 0 || loopLastSeq >= 0) {
      let firstSeq = Infinity;
      let firstTs = Infinity;
      for (let n = 0; n < vcpus; n++) {
        const r = byId.get(`run-${n}`)!;
        if (r.step.state !== "pending" && r.startSeq < firstSeq) {
          firstSeq = r.startSeq;
          firstTs = r.step.ts ?? firstTs;
        }
      }
      for (const [v] of firstEntrySeq) {
        if (v >= vcpus) {
          const row = firstExitRow.get(v)!;
          if (store.seq[row]! < firstSeq) {
            firstSeq = store.seq[row]!;
            firstTs = store.ts[row]! - store.dur[row]!;
          }
        }
      }
      if (firstSeq === Infinity) firstSeq = loopLastSeq;
      st.state = "done";
      st.seq = newestExitSeq >= 0 ? newestExitSeq : loopLastSeq;
      const lastSeq = Math.max(newestExitSeq, loopLastSeq);
      const lastRow = store.rowOfSeq(lastSeq);
      st.ts = Number.isFinite(firstTs) ? firstTs : null;
      st.durNs = st.ts !== null && lastRow >= 0 ? Math.max(0, store.ts[lastRow]! - st.ts) : null;
      // Listed after every vCPU's first KVM_RUN that has happened: the loops run side by side.
      let lastEntry = firstSeq;
      for (let n = 0; n < vcpus; n++) {
        const r = byId.get(`run-${n}`)!;
        if (r.step.state !== "pending") lastEntry = Math.max(lastEntry, r.startSeq);
      }
      loop.startSeq = lastEntry + 0.5;
      loop.lastSeq = lastSeq;
    }
    // The loop runs on every vCPU thread; name the one that made the newest exit.
    if (st.seq !== null) {
      const row = store.rowOfSeq(st.seq);
      if (row >= 0 && store.thread[row] !== MAIN_THREAD) st.thread = threadName(store.thread[row]!);
    }
  }

  // The end: known for certain from the run's end object; failing that, the last close.
  {
    const st = end.step;
    const closeKvm = byId.get("close-kvm")!;
    // The outcome is the run's, known before the cursor gets there: a cursor before the last
    // close (or, with no close recorded, before the newest record) has not reached the end yet.
    const reached = closeKvm.step.state !== "pending" || cursorSeq >= store.maxSeq;
    if (options.outcome && reached) {
      st.state = "done";
      st.outcome = options.outcome.outcome;
      st.label = options.outcome.outcome;
    } else if (closeKvm.step.state !== "pending") {
      st.state = "done";
    }
    if (st.state === "done" && closeKvm.step.state !== "pending") {
      st.ts = (closeKvm.step.ts ?? 0) + (closeKvm.step.durNs ?? 0);
      st.seq = closeKvm.step.seq;
      end.startSeq = end.lastSeq = closeKvm.lastSeq + 0.5;
    } else if (st.state === "done") {
      end.startSeq = end.lastSeq = store.maxSeq + 0.5;
    }
  }

  return { steps: arrange(slots), currentStep: current(slots) };
}

interface ExitTally {
  /** Exits at or before the cursor. */
  count: number;
  byVcpu: number[];
  /** Each vCPU's first exit (its lowest seq), by row. */
  firstRow: Map<number, number>;
  /** Seq of the newest exit at or before the cursor, -1 when none. */
  newestSeq: number;
  /** Rows counted (for the incremental tally at the newest record). */
  rows: number;
  /** ts of the last row counted: a store cleared and refilled to more rows than before differs here. */
  lastTs: number;
}

// Live, the cursor is the newest record and the store only grows: the tally goes on from where
// it stopped instead of counting a million rows again for every batch.
const liveTallies = new WeakMap<TraceStore, ExitTally>();

function countRows(store: TraceStore, from: number, cursorSeq: number, into: ExitTally): void {
  const { kind, seq, thread } = store;
  const exitKind = RecordKind.Exit;
  // Each vCPU's first exit, by row, in a plain array for the loop (a Map lookup per row costs 10x).
  const first: number[] = [];
  for (const [v, r] of into.firstRow) first[v] = r;
  const byVcpu = into.byVcpu;
  let count = into.count;
  let newestSeq = into.newestSeq;
  for (let r = from; r < store.count; r++) {
    if (kind[r] !== exitKind) continue;
    const s = seq[r]!;
    if (s > cursorSeq) continue;
    const v = thread[r]!;
    const f = first[v];
    if (f === undefined || s < seq[f]!) first[v] = r;
    count++;
    byVcpu[v] = (byVcpu[v] ?? 0) + 1;
    if (s > newestSeq) newestSeq = s;
  }
  first.forEach((r, v) => into.firstRow.set(v, r));
  into.count = count;
  into.newestSeq = newestSeq;
  into.rows = store.count;
  into.lastTs = store.count > 0 ? store.ts[store.count - 1]! : 0;
}

function exitTally(store: TraceStore, cursorSeq: number): ExitTally {
  const fresh = (): ExitTally => ({ count: 0, byVcpu: [], firstRow: new Map(), newestSeq: -1, rows: 0, lastTs: 0 });
  if (cursorSeq < store.maxSeq) {
    const t = fresh();
    countRows(store, 0, cursorSeq, t);
    return t;
  }
  let t = liveTallies.get(store);
  if (t === undefined || t.rows > store.count || (t.rows > 0 && store.ts[t.rows - 1] !== t.lastTs)) {
    t = fresh();
    liveTallies.set(store, t);
  }
  // Every held record is at or before the newest seq, so the tally needs no cursor filter here.
  countRows(store, t.rows, Infinity, t);
  return { ...t, byVcpu: [...t.byVcpu], firstRow: new Map(t.firstRow) };
}

/**
 * Lit steps in seq order; a pending step just before the first lit step that comes after it in
 * the expected order (in a trace of a VMM that created vCPU 1 before vCPU 0, as ours did before
 * it made them one at a time: "create vCPU 0" waits above it), or at the end when nothing after
 * it has happened yet.
 */
function arrange(slots: Slot[]): LifecycleStep[] {
  const expected = slots.filter((s) => s.order >= 0).sort((a, b) => a.order - b.order);
  const key = new Map<Slot, [number, number, number]>();
  let nextLit = Infinity;
  for (let i = expected.length - 1; i >= 0; i--) {
    const s = expected[i]!;
    if (s.step.state === "pending") key.set(s, [nextLit, 0, s.order]);
    else {
      key.set(s, [s.startSeq, 1, 0]);
      nextLit = Math.min(nextLit, s.startSeq);
    }
  }
  for (const s of slots) if (s.order < 0) key.set(s, [s.startSeq, 1, 0]);
  return [...slots]
    .sort((a, b) => {
      const ka = key.get(a)!;
      const kb = key.get(b)!;
      return ka[0] - kb[0] || ka[1] - kb[1] || ka[2] - kb[2];
    })
    .map((s) => s.step);
}

function current(slots: Slot[]): string | null {
  let best: Slot | null = null;
  for (const s of slots) {
    if (s.step.state === "pending") continue;
    if (best === null || s.lastSeq > best.lastSeq) best = s;
  }
  return best?.step.id ?? null;
}

// ---------------------------------------------------------------------------------------------
// Formatting (shared by the Lifecycle panel and the thread model)

/** A duration: "850 ns", "12.3 µs", "4.56 ms", "1.234 s". */
export function formatDuration(ns: number): string {
  return ns >= 0 ? formatNs(ns, 3) : "–";
}

/** A time since run start: "+392.1 ms". */
export function formatOffset(ns: number): string {
  return `+${formatDuration(ns)}`;
}
