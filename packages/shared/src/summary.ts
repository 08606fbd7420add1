// A run's summary, accumulated one record at a time in memory that does not grow with the run:
// counts and sums per vCPU and exit reason, a fixed-size latency histogram per reason, and two
// samples (first and latest) of each vCPU's KVM statistics. A million exits cost the same memory
// as ten.
import type { ExitRecord, StatsRecord, TraceRecord } from "./codec.js";
import { threadIndex } from "./codec.js";
import { exitReasonName, KvmExit } from "./exit-reasons.js";
import { MAIN_THREAD, STAT_NAMES, type StatName } from "./record-layout.js";

// ---------------------------------------------------------------------------------------------
// Latency histogram

/** Buckets per doubling of the value. */
const SUB_BUCKETS = 8;
/** Doublings covered above 1 ns: 2^48 ns is about 78 hours; anything longer shares the top bucket. */
const OCTAVES = 48;
const BUCKETS = 1 + OCTAVES * SUB_BUCKETS;

/**
 * Log-scale histogram of non-negative values (nanoseconds). Bucket 0 holds values below 1; bucket
 * k >= 1 holds [2^((k-1)/8), 2^(k/8)). A quantile is reported as its bucket's geometric midpoint,
 * which is within a factor 2^(1/16) of every value in the bucket: relative error at most 4.4%.
 * Clamping the answer to the exact observed min and max makes single-valued data exact.
 * Fixed memory: 385 counters (about 3 KiB), whatever the number of values.
 */
export class LogHistogram {
  readonly #counts = new Float64Array(BUCKETS);
  #total = 0;
  #min = Infinity;
  #max = -Infinity;

  /** The largest relative error of quantile() against the exact nearest-rank quantile. */
  static readonly RELATIVE_ERROR = 2 ** (1 / (2 * SUB_BUCKETS)) - 1;

  add(value: number): void {
    if (!(value >= 0)) return; // negative or NaN: a clock glitch, not a latency
    const k = value < 1 ? 0 : Math.min(BUCKETS - 1, 1 + Math.floor(Math.log2(value) * SUB_BUCKETS));
    this.#counts[k]!++;
    this.#total++;
    if (value < this.#min) this.#min = value;
    if (value > this.#max) this.#max = value;
  }

  get count(): number {
    return this.#total;
  }

  get max(): number {
    return this.#total === 0 ? 0 : this.#max;
  }

  /** Nearest-rank quantile (q in [0, 1]) within RELATIVE_ERROR; 0 when empty. */
  quantile(q: number): number {
    if (this.#total === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.#total));
    let seen = 0;
    for (let k = 0; k < BUCKETS; k++) {
      seen += this.#counts[k]!;
      if (seen >= rank) {
        const mid = k === 0 ? 0 : 2 ** ((k - 0.5) / SUB_BUCKETS);
        return Math.min(this.#max, Math.max(this.#min, mid));
      }
    }
    return this.#max;
  }
}

// ---------------------------------------------------------------------------------------------
// Plain-data result (goes into the NDJSON end line)

export interface ReasonSummary {
  reason: string;
  code: number;
  count: number;
  /** Total ns inside KVM_RUN before exits of this reason. */
  guestNs: number;
  /** Total ns userspace spent handling exits of this reason. */
  handleNs: number;
  /** Handling-latency quantiles, within LogHistogram.RELATIVE_ERROR (4.4%). */
  handleP50Ns: number;
  handleP90Ns: number;
  handleP99Ns: number;
  handleMaxNs: number;
}

/** One KVM counter next to the exits of the matching kind that reached userspace. */
export interface KernelVsUserspace {
  stat: StatName;
  reason: string;
  /** Counter delta over the window: every exit of this kind, wherever handled. */
  total: number;
  /** Exit records of this reason in the window: the ones handed to userspace. */
  userspace: number;
  /**
   * total - userspace: handled inside KVM without returning to us. null when the counter saw fewer
   * exits than reached userspace: this host counts that kind elsewhere (kvm-pvm, which emulates
   * real-mode and 32-bit code, counts an emulated OUT under insn_emulation, not io_exits), so the
   * difference would mean nothing.
   */
  kernel: number | null;
}

/** What the vCPU's KVM_GET_STATS_FD counters say over the window between two samples. */
export interface KvmStatsSummary {
  /** ts of the first sample */
  fromTs: number;
  /** ts of the latest sample */
  toTs: number;
  /** Per counter the kernel has: first and latest sampled values and their difference. */
  counters: Partial<Record<StatName, { first: number; latest: number; delta: number }>>;
  /** Exit records of this vCPU with fromTs < ts <= toTs. */
  userspaceExits: number;
  /** delta(exits) - userspaceExits; absent when the kernel has no `exits` counter. */
  kernelExits?: number;
  /** The same split for the counters that have an exit reason of their own (io, mmio, halt). */
  byKind: KernelVsUserspace[];
}

export interface VcpuSummary {
  vcpu: number;
  exits: number;
  guestNs: number;
  handleNs: number;
  /** Records this vCPU's ring dropped: its counts (and kernelExits) are off by up to this many. */
  lost: number;
  /** Most frequent first. */
  reasons: ReasonSummary[];
  /** Present once the vCPU has at least two stats samples. */
  kvmStats?: KvmStatsSummary;
}

export interface RunSummaryJson {
  records: number;
  /** ts of the earliest and latest record seen (0 when none) */
  firstTs: number;
  lastTs: number;
  /** `failures`: the failed ones by "NAME ERRNO" ("KVM_RUN EINTR": a kick cut a KVM_RUN short). */
  ioctls: { count: number; failed: number; byName: Record<string, number>; failures: Record<string, number> };
  markers: number;
  /** Records lost across all threads. */
  lost: number;
  vcpus: VcpuSummary[];
}

// ---------------------------------------------------------------------------------------------
// Accumulator

/**
 * KVM counters that count one kind of exit, paired with the exit reason userspace sees for that
 * kind. Each counts every such exit, including the ones KVM finished in the kernel (e.g. an OUT to
 * the in-kernel PIT still bumps io_exits; a HLT with the in-kernel LAPIC still bumps halt_exits),
 * which is what makes "counter delta - exit records" the number handled in the kernel. Counters
 * such as signal_exits and request_irq_exits count only returns to userspace, so they are
 * reported raw and not split.
 */
const KIND_PAIRS: readonly (readonly [StatName, number])[] = [
  ["io_exits", KvmExit.IO],
  ["mmio_exits", KvmExit.MMIO],
  ["halt_exits", KvmExit.HLT],
];

interface ReasonAcc {
  count: number;
  guestNs: number;
  handleNs: number;
  hist: LogHistogram;
}

interface StatsSample {
  ts: number;
  counters: Partial<Record<StatName, number>>;
}

interface VcpuAcc {
  exits: number;
  guestNs: number;
  handleNs: number;
  lost: number;
  reasons: Map<number, ReasonAcc>;
  first?: StatsSample;
  latest?: StatsSample;
  /** Userspace exits by code inside (first.ts, latest.ts]. */
  window: Map<number, number>;
  /** Userspace exits by code since the latest sample, not yet known to be inside the window. */
  pending: Map<number, number>;
}

function bump(m: Map<number, number>, key: number, by = 1): void {
  m.set(key, (m.get(key) ?? 0) + by);
}

/**
 * Feed it every record of a run with add(); read it with toJSON().
 *
 * Kernel-handled exits. KVM's `exits` statistic counts every VM exit of the vCPU, the ones KVM
 * dealt with itself *and* the ones it handed to us; each exit record is one of the latter. So
 * between two stats samples, `exits` delta minus the exit records in that window is the number
 * of exits that never left the kernel. Two caveats, both stated in the output: a return to
 * userspace that did not follow a VM exit (a signal or immediate_exit noticed before guest entry,
 * KVM_EXIT_INTR) makes the result slightly low, and lost records make it high.
 *
 * Ordering: records of one vCPU (its exits and its stats samples) must arrive in that vCPU's
 * time order, which holds when the vCPU thread writes both into its own ring, or when the input
 * is sorted by seq. Across vCPUs any interleaving is fine. An exit that arrives after a later
 * sample of its vCPU is still placed by its ts.
 */
export class RunSummary {
  #records = 0;
  #firstTs = Infinity;
  #lastTs = -Infinity;
  #ioctls = 0;
  #ioctlsFailed = 0;
  readonly #ioctlsByName = new Map<string, number>();
  readonly #ioctlFailures = new Map<string, number>();
  #markers = 0;
  #lost = 0;
  readonly #vcpus = new Map<number, VcpuAcc>();

  add(rec: TraceRecord): void {
    this.#records++;
    if (rec.ts < this.#firstTs) this.#firstTs = rec.ts;
    if (rec.ts > this.#lastTs) this.#lastTs = rec.ts;
    switch (rec.type) {
      case "exit":
        this.#exit(rec);
        return;
      case "stats":
        this.#stats(rec);
        return;
      case "ioctl":
        this.#ioctls++;
        if (rec.errno !== 0) {
          this.#ioctlsFailed++;
          const key = `${rec.name} ${rec.error ?? `errno ${rec.errno}`}`;
          this.#ioctlFailures.set(key, (this.#ioctlFailures.get(key) ?? 0) + 1);
        }
        this.#ioctlsByName.set(rec.name, (this.#ioctlsByName.get(rec.name) ?? 0) + 1);
        return;
      case "marker":
        this.#markers++;
        return;
      case "lost": {
        this.#lost += rec.count;
        const t = threadIndex(rec.thread);
        if (t !== undefined && t !== MAIN_THREAD) this.#vcpu(t).lost += rec.count;
        return;
      }
    }
  }

  #vcpu(n: number): VcpuAcc {
    let v = this.#vcpus.get(n);
    if (v === undefined) {
      v = { exits: 0, guestNs: 0, handleNs: 0, lost: 0, reasons: new Map(), window: new Map(), pending: new Map() };
      this.#vcpus.set(n, v);
    }
    return v;
  }

  #exit(rec: ExitRecord): void {
    const v = this.#vcpu(rec.vcpu);
    v.exits++;
    v.guestNs += rec.guestNs;
    v.handleNs += rec.handleNs;
    let r = v.reasons.get(rec.code);
    if (r === undefined) {
      r = { count: 0, guestNs: 0, handleNs: 0, hist: new LogHistogram() };
      v.reasons.set(rec.code, r);
    }
    r.count++;
    r.guestNs += rec.guestNs;
    r.handleNs += rec.handleNs;
    r.hist.add(rec.handleNs);

    // Exits before the first sample are outside every window.
    if (v.first === undefined || v.latest === undefined || rec.ts <= v.first.ts) return;
    if (rec.ts <= v.latest.ts) bump(v.window, rec.code); // arrived late, but its place is known
    else bump(v.pending, rec.code); // joins the window when the next sample arrives
  }

  #stats(rec: StatsRecord): void {
    const v = this.#vcpu(rec.vcpu);
    const sample: StatsSample = { ts: rec.ts, counters: rec.counters };
    if (v.first === undefined || v.latest === undefined) {
      v.first = v.latest = sample;
      v.pending.clear();
      return;
    }
    if (rec.ts <= v.latest.ts) return; // an older sample than one we have: nothing to add
    for (const [code, n] of v.pending) bump(v.window, code, n);
    v.pending.clear();
    v.latest = sample;
  }

  toJSON(): RunSummaryJson {
    const vcpus: VcpuSummary[] = [];
    for (const n of [...this.#vcpus.keys()].sort((a, b) => a - b)) {
      const v = this.#vcpus.get(n)!;
      const reasons: ReasonSummary[] = [...v.reasons].map(([code, r]) => ({
        reason: exitReasonName(code),
        code,
        count: r.count,
        guestNs: r.guestNs,
        handleNs: r.handleNs,
        // Whole nanoseconds: the histogram's 4.4% dwarfs the half nanosecond rounding adds.
        handleP50Ns: Math.round(r.hist.quantile(0.5)),
        handleP90Ns: Math.round(r.hist.quantile(0.9)),
        handleP99Ns: Math.round(r.hist.quantile(0.99)),
        handleMaxNs: r.hist.max,
      }));
      reasons.sort((a, b) => b.count - a.count || a.code - b.code);
      const s: VcpuSummary = { vcpu: n, exits: v.exits, guestNs: v.guestNs, handleNs: v.handleNs, lost: v.lost, reasons };
      const kvmStats = statsSummary(v);
      if (kvmStats !== undefined) s.kvmStats = kvmStats;
      vcpus.push(s);
    }
    return {
      records: this.#records,
      firstTs: this.#records === 0 ? 0 : this.#firstTs,
      lastTs: this.#records === 0 ? 0 : this.#lastTs,
      ioctls: { count: this.#ioctls, failed: this.#ioctlsFailed, byName: Object.fromEntries(this.#ioctlsByName), failures: Object.fromEntries(this.#ioctlFailures) },
      markers: this.#markers,
      lost: this.#lost,
      vcpus,
    };
  }
}

function statsSummary(v: VcpuAcc): KvmStatsSummary | undefined {
  const { first, latest } = v;
  if (first === undefined || latest === undefined || first === latest) return undefined;
  const counters: KvmStatsSummary["counters"] = {};
  for (const name of STAT_NAMES) {
    const a = first.counters[name];
    const b = latest.counters[name];
    if (a !== undefined && b !== undefined) counters[name] = { first: a, latest: b, delta: b - a };
  }
  let userspaceExits = 0;
  for (const n of v.window.values()) userspaceExits += n;
  const out: KvmStatsSummary = { fromTs: first.ts, toTs: latest.ts, counters, userspaceExits, byKind: [] };
  const exits = counters.exits;
  if (exits !== undefined) out.kernelExits = exits.delta - userspaceExits;
  for (const [stat, code] of KIND_PAIRS) {
    const c = counters[stat];
    if (c === undefined) continue;
    const userspace = v.window.get(code) ?? 0;
    out.byKind.push({ stat, reason: exitReasonName(code), total: c.delta, userspace, kernel: c.delta >= userspace ? c.delta - userspace : null });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Text table for a terminal

function int(n: number): string {
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

function micros(ns: number): string {
  return (ns / 1000).toFixed(ns < 10_000 ? 2 : 1);
}

/** A duration in the unit that keeps three significant digits readable: µs, ms or s. */
function duration(ns: number): string {
  if (ns < 1e6) return `${(ns / 1e3).toFixed(1)} µs`;
  if (ns < 1e9) return `${(ns / 1e6).toFixed(2)} ms`;
  return `${(ns / 1e9).toFixed(3)} s`;
}

function pct(part: number, whole: number): string {
  return whole > 0 ? `${((100 * part) / whole).toFixed(1)}%` : "-";
}

/** What the failed ioctls were: " (1 failed: KVM_RUN EINTR, a kick cutting KVM_RUN short as designed)", "" when none. */
function failures(io: RunSummaryJson["ioctls"]): string {
  if (io.failed === 0) return "";
  const parts = Object.entries(io.failures ?? {}).map(([what, n]) =>
    `${n > 1 ? `${int(n)}× ` : ""}${what}${what === "KVM_RUN EINTR" ? ", a kick cutting KVM_RUN short as designed" : ""}`);
  return ` (${int(io.failed)} failed${parts.length > 0 ? `: ${parts.join("; ")}` : ""})`;
}

/** A compact, fixed-width summary for a CLI's stderr. */
export function formatSummary(s: RunSummaryJson): string {
  const lines: string[] = [];
  lines.push(
    `${int(s.records)} records over ${duration(s.lastTs - s.firstTs)}; ${int(s.ioctls.count)} ioctls${failures(s.ioctls)}, ` +
      `${int(s.markers)} ${s.markers === 1 ? "marker" : "markers"}, ${int(s.lost)} lost`,
  );
  for (const v of s.vcpus) {
    const inRun = v.guestNs + v.handleNs;
    lines.push("");
    lines.push(
      `vCPU ${v.vcpu}: ${int(v.exits)} exits to userspace; in guest (KVM_RUN) ${duration(v.guestNs)} (${pct(v.guestNs, inRun)}), ` +
        `handling in userspace ${duration(v.handleNs)} (${pct(v.handleNs, inRun)})`,
    );
    if (v.reasons.length > 0) {
      const w = Math.max(6, ...v.reasons.map((r) => r.reason.length));
      lines.push(`  ${"reason".padEnd(w)}  ${"count".padStart(10)}  ${"p50 µs".padStart(9)}  ${"p99 µs".padStart(9)}`);
      for (const r of v.reasons) {
        lines.push(`  ${r.reason.padEnd(w)}  ${int(r.count).padStart(10)}  ${micros(r.handleP50Ns).padStart(9)}  ${micros(r.handleP99Ns).padStart(9)}`);
      }
    }
    const k = v.kvmStats;
    if (k !== undefined) {
      if (k.kernelExits !== undefined) {
        const total = k.counters.exits?.delta ?? 0;
        lines.push(
          `  KVM stats over ${duration(k.toTs - k.fromTs)}: ${int(total)} VM exits, ${int(k.userspaceExits)} reached userspace (${pct(k.userspaceExits, total)}), ` +
            `${int(k.kernelExits)} handled in the kernel (${pct(k.kernelExits, total)})`,
        );
      } else {
        lines.push(`  KVM stats over ${duration(k.toTs - k.fromTs)}: this kernel has no "exits" counter`);
      }
      for (const b of k.byKind) {
        lines.push(b.kernel === null
          ? `    ${b.stat}: ${int(b.total)} counted by KVM, ${int(b.userspace)} reached userspace (this host counts these exits under another counter, e.g. insn_emulation)`
          : `    ${b.stat}: ${int(b.total)} in all, ${int(b.userspace)} to userspace, ${int(b.kernel)} in the kernel`);
      }
    }
    if (v.lost > 0) lines.push(`  warning: ${int(v.lost)} records of this vCPU were lost; counts above are low by up to that many`);
  }
  return lines.join("\n") + "\n";
}
