// The Statistics panel's numbers, computed from the TraceStore's columns up to the cursor:
// exits by reason and vCPU, a latency distribution per reason, and the split the article is
// about — exits KVM handled inside the kernel against exits that came back to the VMM.
//
// The definitions are RunSummary's (packages/shared/src/summary.ts), so the panel and the CLI's
// summary agree on the same trace: quantiles come from its LogHistogram, and "handled in the
// kernel" is the `exits` counter's delta between two stats samples of a vCPU minus that vCPU's
// exit records with ts in (previous sample, this sample]. The one difference is granularity: the
// summary reports the whole window from the first to the latest sample, the panel each interval
// between consecutive samples (their sum is the summary's window).
//
// Incremental: an accumulator remembers what it has counted, so while the cursor only moves
// forward (live, or replay playing) each update costs the new rows, not the run. Moving the
// cursor back starts again from the first record.
import { bisectLeft, bisectRight } from "d3-array";
import { exitReasonName, LogHistogram, RecordKind, type LostRecord, type StatsRecord } from "@kvmscope/shared";
import type { TraceStore } from "./trace-store";

// ---------------------------------------------------------------------------------------------
// Result shapes

/** Exits of one reason that reached userspace. */
export interface ReasonCounts {
  code: number;
  /** exitReasonName(code) */
  reason: string;
  total: number;
  /** Per vCPU, parallel to StatsView.vcpus. */
  byVcpu: number[];
}

/** One bar of a latency histogram: values in [x0, x1) ns. */
export interface LatencyBin {
  x0: number;
  x1: number;
  count: number;
}

/** A latency distribution: display bins plus quantiles (LogHistogram's, within 4.4%). */
export interface LatencyDistribution {
  count: number;
  /** LATENCY_BIN_COUNT log-spaced bins; the first and last also hold what falls outside LATENCY_RANGE_NS. */
  bins: LatencyBin[];
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface ReasonLatency {
  code: number;
  reason: string;
  count: number;
  /** `handle`: ns the VMM took to handle the exit before the next KVM_RUN. */
  handle: LatencyDistribution;
  /** `dur`: ns inside KVM_RUN (guest, and KVM) before the exit. */
  guest: LatencyDistribution;
}

/** Exits between two statistics samples, split by where they were handled. */
export interface SplitInterval {
  /** Previous sample's ts (exclusive) … this sample's ts (inclusive), ns since the run began. */
  fromTs: number;
  toTs: number;
  /** Delta of KVM's `exits` counter: every VM exit, wherever it was handled. */
  all: number;
  /** Exit records with ts in the interval: the exits handed to the VMM. */
  userspace: number;
  /**
   * all - userspace: handled inside KVM. Can dip below zero: a return to userspace that followed
   * no VM exit (a signal or immediate_exit noticed before entry, KVM_EXIT_INTR) is a record but
   * not a VM exit. Lost records make it high.
   */
  kernel: number;
}

export interface VcpuSplit {
  vcpu: number;
  /** Between consecutive samples, in time order. */
  intervals: SplitInterval[];
}

export interface KernelSplit {
  /** Stats records at the cursor, with or without the `exits` counter. */
  samples: number;
  /** Samples arrived but none carried `exits`: the kernel has no such statistic (an older kernel). */
  counterMissing: boolean;
  perVcpu: VcpuSplit[];
  /**
   * Summed over vCPUs, one entry per sampling round (the VMM samples every vCPU in one 20 ms tick;
   * interval ends closer than ROUND_NS fall in one round). Time order.
   */
  rounds: SplitInterval[];
  /** Sum of every interval; null while no vCPU has two samples. */
  totals: SplitInterval | null;
}

export interface StatsView {
  /** The cursor this view describes (as asked, before clamping to what the store holds). */
  cursorSeq: number;
  /** store.version when computed. */
  storeVersion: number;
  /** Exit records with seq <= cursor. */
  exits: number;
  /** vCPUs with an exit or a stats record at the cursor, ascending. */
  vcpus: number[];
  /** Exits per vCPU, parallel to vcpus. */
  vcpuExits: number[];
  /** Most frequent first (ties: lower code first), like RunSummary. */
  reasons: ReasonCounts[];
  /** Same order as reasons. */
  latency: ReasonLatency[];
  split: KernelSplit;
  /** Records lost (Lost records at the cursor): counts are low by up to this many. */
  lost: number;
}

// ---------------------------------------------------------------------------------------------
// Latency bins

/** Display bins per decade. */
export const LATENCY_BINS_PER_DECADE = 5;
const BINS_PER_DECADE = LATENCY_BINS_PER_DECADE;
/** The bins cover 10 ns … 100 s; shorter or longer values go into the end bins. */
export const LATENCY_RANGE_NS = [10, 100e9] as const;
export const LATENCY_BIN_COUNT = BINS_PER_DECADE * Math.round(Math.log10(LATENCY_RANGE_NS[1] / LATENCY_RANGE_NS[0]));
/** Bin edges, LATENCY_BIN_COUNT + 1 of them. */
export const LATENCY_THRESHOLDS: readonly number[] = Array.from(
  { length: LATENCY_BIN_COUNT + 1 },
  (_, k) => LATENCY_RANGE_NS[0] * 10 ** (k / BINS_PER_DECADE),
);

// Read once: the per-row loop runs a million times, and a bundler may turn each imported name
// into a property read.
const KIND_EXIT: number = RecordKind.Exit;
const KIND_STATS: number = RecordKind.Stats;
const KIND_LOST: number = RecordKind.Lost;

/** The display bin of a value in ns (values outside the range clamp to the end bins). */
export function latencyBin(ns: number): number {
  // Arithmetic rather than a search: it runs twice per exit. Rounding can put a value that sits
  // on an edge one bin off; the thresholds themselves settle it.
  if (!(ns >= LATENCY_THRESHOLDS[1]!)) return 0;
  let k = Math.floor(Math.log10(ns / LATENCY_RANGE_NS[0]) * BINS_PER_DECADE);
  if (k >= LATENCY_BIN_COUNT) return LATENCY_BIN_COUNT - 1;
  if (ns < LATENCY_THRESHOLDS[k]!) k--;
  else if (ns >= LATENCY_THRESHOLDS[k + 1]!) k++;
  return Math.min(k, LATENCY_BIN_COUNT - 1);
}

interface DistAcc {
  // Quantiles from the summary's histogram, so the panel's p99 is the CLI's p99; the coarser
  // display bins beside it exist because LogHistogram keeps its bucket counts private.
  hist: LogHistogram;
  bins: Float64Array;
}

function distAcc(): DistAcc {
  return { hist: new LogHistogram(), bins: new Float64Array(LATENCY_BIN_COUNT) };
}

function addTo(d: DistAcc, ns: number): void {
  if (!(ns >= 0)) return; // as LogHistogram: a clock glitch, not a latency
  d.hist.add(ns);
  d.bins[latencyBin(ns)]!++;
}

function distribution(d: DistAcc): LatencyDistribution {
  const bins: LatencyBin[] = [];
  for (let k = 0; k < LATENCY_BIN_COUNT; k++) {
    bins.push({ x0: LATENCY_THRESHOLDS[k]!, x1: LATENCY_THRESHOLDS[k + 1]!, count: d.bins[k]! });
  }
  return {
    count: d.hist.count,
    bins,
    // Whole nanoseconds, as RunSummary rounds them.
    p50: Math.round(d.hist.quantile(0.5)),
    p90: Math.round(d.hist.quantile(0.9)),
    p99: Math.round(d.hist.quantile(0.99)),
    max: d.hist.max,
  };
}

// ---------------------------------------------------------------------------------------------
// Kernel vs userspace, per vCPU

/** Interval ends closer than this belong to one sampling round (one tick samples every vCPU within microseconds). */
export const ROUND_NS = 2_000_000;

class VcpuSplitAcc {
  readonly sampleTs: number[] = [];
  readonly sampleExits: number[] = [];
  /** userspace[i]: exit records with ts in (sampleTs[i-1], sampleTs[i]]; userspace[0] is unused. */
  readonly userspace: number[] = [];
  /** ts of exits after the latest sample: their interval is not known until the next sample. */
  pending: number[] = [];
  /** One thread writes a vCPU's exits, so they nearly always come in time order. */
  #pendingSorted = true;

  addExit(ts: number): void {
    const n = this.sampleTs.length;
    if (n === 0 || ts > this.sampleTs[n - 1]!) {
      const p = this.pending;
      if (p.length > 0 && ts < p[p.length - 1]!) this.#pendingSorted = false;
      p.push(ts);
      return;
    }
    if (ts <= this.sampleTs[0]!) return; // before the first sample: outside every interval
    // A late arrival whose interval is already closed: its place is known by its ts.
    this.userspace[bisectLeft(this.sampleTs, ts)]!++;
  }

  /** false when the sample is older than the latest one held: it was not used. */
  addSample(ts: number, exits: number): boolean {
    const n = this.sampleTs.length;
    if (n > 0 && ts <= this.sampleTs[n - 1]!) return ts === this.sampleTs[n - 1]!;
    this.sampleTs.push(ts);
    this.sampleExits.push(exits);
    if (!this.#pendingSorted) {
      this.pending.sort((a, b) => a - b);
      this.#pendingSorted = true;
    }
    const moved = bisectRight(this.pending, ts);
    this.pending = this.pending.slice(moved);
    this.userspace.push(n === 0 ? 0 : moved); // before the first sample: dropped
    return true;
  }

  intervals(): SplitInterval[] {
    const out: SplitInterval[] = [];
    for (let i = 1; i < this.sampleTs.length; i++) {
      const all = this.sampleExits[i]! - this.sampleExits[i - 1]!;
      const userspace = this.userspace[i]!;
      out.push({ fromTs: this.sampleTs[i - 1]!, toTs: this.sampleTs[i]!, all, userspace, kernel: all - userspace });
    }
    return out;
  }
}

/** Sums intervals into one: from the earliest start to the latest end. */
export function sumIntervals(list: readonly SplitInterval[]): SplitInterval | null {
  if (list.length === 0) return null;
  const s: SplitInterval = { fromTs: Infinity, toTs: -Infinity, all: 0, userspace: 0, kernel: 0 };
  for (const i of list) {
    if (i.fromTs < s.fromTs) s.fromTs = i.fromTs;
    if (i.toTs > s.toTs) s.toTs = i.toTs;
    s.all += i.all;
    s.userspace += i.userspace;
    s.kernel += i.kernel;
  }
  return s;
}

/** Groups the vCPUs' intervals into sampling rounds (see KernelSplit.rounds). */
function roundsOf(perVcpu: readonly VcpuSplit[]): SplitInterval[] {
  const all = perVcpu.flatMap((v) => v.intervals).sort((a, b) => a.toTs - b.toTs);
  const rounds: SplitInterval[] = [];
  let group: SplitInterval[] = [];
  for (const i of all) {
    if (group.length > 0 && i.toTs - group[0]!.toTs >= ROUND_NS) {
      rounds.push(sumIntervals(group)!);
      group = [];
    }
    group.push(i);
  }
  if (group.length > 0) rounds.push(sumIntervals(group)!);
  return rounds;
}

/**
 * At most `max` entries for a chart: consecutive rounds merged in equal runs. Sums stay exact,
 * so a merged entry's rate (count / its span) is the mean rate over the rounds it holds.
 */
export function mergeRounds(rounds: readonly SplitInterval[], max: number): SplitInterval[] {
  if (rounds.length <= max || max < 1) return rounds.slice();
  const per = Math.ceil(rounds.length / max);
  const out: SplitInterval[] = [];
  for (let i = 0; i < rounds.length; i += per) out.push(sumIntervals(rounds.slice(i, i + per))!);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Accumulator

interface ReasonAcc {
  code: number;
  byVcpu: number[];
  total: number;
  handle: DistAcc;
  guest: DistAcc;
}

/**
 * Keeps the panel's numbers for one TraceStore. Call update() with the cursor whenever the store
 * or the cursor changed; it returns a fresh StatsView (the same object when nothing changed).
 *
 * What it has counted: every row below `rows` whose seq is <= `upTo`. Moving forward therefore
 * needs (1) rows that arrived since, with seq <= upTo (a page of history fetched late), and
 * (2) the seqs in (upTo, new cursor], found by store.rowOfSeq — in any arrival order.
 */
export class StatsAccumulator {
  #store: TraceStore | null = null;
  #rows = 0;
  #upTo = -1;
  /** seq and ts of row #rows - 1 when counted: a different pair means the store was cleared and refilled. */
  #lastSeq = -1;
  #lastTs = -1;
  #exits = 0;
  #lost = 0;
  #samples = 0;
  #samplesWithExits = 0;
  #reasons = new Map<number, ReasonAcc>();
  #split = new Map<number, VcpuSplitAcc>();
  // Exits come in runs of one reason from one vCPU: remembering the last lookup skips most Map reads.
  #lastReason: ReasonAcc | null = null;
  #lastSplit: VcpuSplitAcc | null = null;
  #lastVcpu = -1;
  /** A stats row's `exits` counter (NaN when the kernel lacks it), decoded once per store. */
  #statsExits = new Map<number, number>();
  #outOfOrder = false;
  #view: StatsView | null = null;
  #viewCursor = NaN;

  update(store: TraceStore, cursorSeq: number): StatsView {
    if (this.#view !== null && store === this.#store && this.#view.storeVersion === store.version && this.#viewCursor === cursorSeq) {
      return this.#view;
    }
    const cleared = store !== this.#store || store.count < this.#rows ||
      (this.#rows > 0 && (store.seq[this.#rows - 1] !== this.#lastSeq || store.ts[this.#rows - 1] !== this.#lastTs));
    if (cleared) {
      this.#statsExits.clear();
      this.#store = store;
    }
    // Seqs above maxSeq are not held yet; counting up to maxSeq keeps the seq walk bounded.
    const target = Math.min(Math.floor(cursorSeq), store.maxSeq);
    if (cleared || target < this.#upTo) this.#reset();

    const n = store.count;
    this.#outOfOrder = false;
    this.#walk(store, n, target);
    if (this.#outOfOrder) {
      // A sample older than one already used (a page of history that came late) splits an
      // interval whose exits were counted as a whole: only a pass in seq order places them.
      this.#reset();
      this.#walk(store, n, target);
    }
    if (n > 0) {
      this.#lastSeq = store.seq[n - 1]!;
      this.#lastTs = store.ts[n - 1]!;
    }
    this.#view = this.#snapshot(cursorSeq, store.version);
    this.#viewCursor = cursorSeq;
    return this.#view;
  }

  #walk(store: TraceStore, n: number, target: number): void {
    if (this.#upTo >= 0) {
      for (let row = this.#rows; row < n; row++) if (store.seq[row]! <= this.#upTo) this.#add(store, row);
    }
    this.#rows = n;
    for (let seq = this.#upTo + 1; seq <= target; seq++) {
      const row = store.rowOfSeq(seq);
      if (row >= 0 && row < n) this.#add(store, row);
    }
    if (target > this.#upTo) this.#upTo = target;
  }

  #reset(): void {
    this.#rows = 0;
    this.#upTo = -1;
    this.#exits = 0;
    this.#lost = 0;
    this.#samples = 0;
    this.#samplesWithExits = 0;
    this.#reasons = new Map();
    this.#split = new Map();
    this.#lastReason = null;
    this.#lastSplit = null;
    this.#lastVcpu = -1;
  }

  #splitOf(vcpu: number): VcpuSplitAcc {
    let s = this.#split.get(vcpu);
    if (s === undefined) {
      s = new VcpuSplitAcc();
      this.#split.set(vcpu, s);
    }
    return s;
  }

  #add(store: TraceStore, row: number): void {
    const kind = store.kind[row];
    if (kind === KIND_EXIT) {
      const vcpu = store.thread[row]!;
      const code = store.code[row]!;
      this.#exits++;
      let r = this.#lastReason;
      if (r === null || r.code !== code) {
        r = this.#reasons.get(code) ?? null;
        if (r === null) {
          r = { code, byVcpu: [], total: 0, handle: distAcc(), guest: distAcc() };
          this.#reasons.set(code, r);
        }
        this.#lastReason = r;
      }
      r.total++;
      r.byVcpu[vcpu] = (r.byVcpu[vcpu] ?? 0) + 1;
      addTo(r.handle, store.handle[row]!);
      addTo(r.guest, store.dur[row]!);
      if (vcpu !== this.#lastVcpu || this.#lastSplit === null) {
        this.#lastSplit = this.#splitOf(vcpu);
        this.#lastVcpu = vcpu;
      }
      this.#lastSplit.addExit(store.ts[row]!);
    } else if (kind === KIND_STATS) {
      this.#samples++;
      let exits = this.#statsExits.get(row);
      if (exits === undefined) {
        // A few hundred rows a run, against a million exits: decoding them through the codec is cheap.
        const rec = store.record(row) as StatsRecord;
        exits = rec.counters.exits ?? NaN;
        this.#statsExits.set(row, exits);
      }
      if (Number.isNaN(exits)) return;
      this.#samplesWithExits++;
      if (!this.#splitOf(store.thread[row]!).addSample(store.ts[row]!, exits)) this.#outOfOrder = true;
    } else if (kind === KIND_LOST) {
      this.#lost += (store.record(row) as LostRecord).count;
    }
  }

  #snapshot(cursorSeq: number, storeVersion: number): StatsView {
    const vcpuExits: number[] = [];
    for (const r of this.#reasons.values()) r.byVcpu.forEach((n, v) => { vcpuExits[v] = (vcpuExits[v] ?? 0) + n; });
    const seen = new Set<number>(this.#split.keys());
    vcpuExits.forEach((_, v) => seen.add(v));
    const vcpus = [...seen].sort((a, b) => a - b);
    const accs = [...this.#reasons.values()].sort((a, b) => b.total - a.total || a.code - b.code);
    const reasons: ReasonCounts[] = accs.map((r) => ({
      code: r.code,
      reason: exitReasonName(r.code),
      total: r.total,
      byVcpu: vcpus.map((v) => r.byVcpu[v] ?? 0),
    }));
    const latency: ReasonLatency[] = accs.map((r) => ({
      code: r.code,
      reason: exitReasonName(r.code),
      count: r.total,
      handle: distribution(r.handle),
      guest: distribution(r.guest),
    }));
    const perVcpu: VcpuSplit[] = [...this.#split.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([vcpu, s]) => ({ vcpu, intervals: s.intervals() }));
    const rounds = roundsOf(perVcpu);
    return {
      cursorSeq,
      storeVersion,
      exits: this.#exits,
      vcpus,
      vcpuExits: vcpus.map((v) => vcpuExits[v] ?? 0),
      reasons,
      latency,
      split: {
        samples: this.#samples,
        counterMissing: this.#samples > 0 && this.#samplesWithExits === 0,
        perVcpu,
        rounds,
        totals: sumIntervals(rounds),
      },
      lost: this.#lost,
    };
  }
}

/** The panel's numbers at `cursorSeq`, computed from scratch (tests, one-off use). */
export function computeStats(store: TraceStore, cursorSeq: number): StatsView {
  return new StatsAccumulator().update(store, cursorSeq);
}
