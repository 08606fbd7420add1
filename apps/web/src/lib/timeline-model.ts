// What the timeline draws, computed from the TraceStore's columns without React or a canvas
// (Perfetto's slice tracks: per-track row indexes sorted by start, culled to the visible window,
// bucketed per pixel when there are more records than pixels).
//
// A lane is one thread (0 = main, vCPU n = n + 1, as everywhere in the app). Per lane the model
// keeps two row indexes sorted by time: the exits (nearly every record of a run) and the few
// others (ioctls, markers, lost-record notes). Stats records are samples taken by the main thread
// for another thread's counters; they belong to the statistics view and are not drawn here.
//
// Time on a vCPU lane is a chain: KVM_RUN for `dur` ns (the guest runs), the exit at `ts`, then
// userspace handles it for `handle` ns and calls KVM_RUN again. So an exit's record covers
// [ts - dur, ts + handle), and the intervals of one thread follow each other without overlapping.
// That is why culling can binary-search on `ts` and only look one row past each edge, and why
// running sums of guest and handling time can summarise any stretch of a lane from its two ends.
import { lowerBound as firstAtLeast, RecordKind } from "@kvmscope/shared";
import { laneOfThread, type TraceStore } from "./trace-store";

/** Rows of one kind family in one lane, sorted by (ts, seq), with their ts copied alongside for the searches. */
export class RowIndex {
  rows = new Int32Array(64);
  ts = new Float64Array(64);
  length = 0;
  /** Length of the prefix known to be in order; rows past it arrived early and wait for `settle`. */
  protected sortedLength = 0;

  push(row: number, ts: number): void {
    if (this.length === this.rows.length) this.grow(this.length * 2);
    const i = this.length++;
    this.rows[i] = row;
    this.ts[i] = ts;
    if (this.sortedLength === i && (i === 0 || ts >= this.ts[i - 1]!)) this.sortedLength = i + 1;
  }

  /** Makes room for `n` rows in all (growing by doubling, so appends stay amortised O(1)). */
  reserve(n: number): void {
    if (n <= this.rows.length) return;
    let cap = this.rows.length;
    while (cap < n) cap *= 2;
    this.grow(cap);
  }

  protected grow(cap: number): void {
    const rows = new Int32Array(cap);
    rows.set(this.rows.subarray(0, this.length));
    this.rows = rows;
    const t = new Float64Array(cap);
    t.set(this.ts.subarray(0, this.length));
    this.ts = t;
  }

  /** True when rows arrived out of time order since the last `settle`. */
  get unsettled(): boolean {
    return this.sortedLength !== this.length;
  }

  /**
   * Restores time order after late rows. Only the tail from the first place a late row belongs is
   * sorted, so a page of history fetched late costs its own size, not the lane's. Returns the
   * first index that moved (length when nothing did).
   */
  settle(seq: Uint32Array): number {
    if (this.sortedLength === this.length) return this.length;
    let minLate = Infinity;
    for (let i = this.sortedLength; i < this.length; i++) if (this.ts[i]! < minLate) minLate = this.ts[i]!;
    const from = lowerBound(this.ts, this.sortedLength, minLate);
    const n = this.length - from;
    const order = new Array<number>(n);
    for (let k = 0; k < n; k++) order[k] = from + k;
    const ts = this.ts;
    const rows = this.rows;
    order.sort((a, b) => ts[a]! - ts[b]! || seq[rows[a]!]! - seq[rows[b]!]!);
    const sortedRows = new Int32Array(n);
    const sortedTs = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      sortedRows[k] = rows[order[k]!]!;
      sortedTs[k] = ts[order[k]!]!;
    }
    rows.set(sortedRows, from);
    ts.set(sortedTs, from);
    this.sortedLength = this.length;
    return from;
  }

  /** First index whose ts is >= t (length when none). */
  lowerBound(t: number): number {
    return lowerBound(this.ts, this.length, t);
  }
}

/**
 * A lane's exits, with running sums beside them so that any stretch of time can be summarised
 * without reading its rows (the zoomed-out view of a million exits reads a few per pixel column):
 * `guestSum[i]` is the guest time of exits 0..i-1 and `handleSum[i]` their handling time. For each
 * exit reason seen, `reasonAt[r]` lists the indexes of the exits with that reason, so how many of
 * them fall in a range is two binary searches.
 */
export class ExitIndex extends RowIndex {
  guestSum = new Float64Array(65);
  handleSum = new Float64Array(65);
  /** Exit reason codes seen on this lane, in the order first seen. */
  reasonCodes: number[] = [];
  /** Per reason (parallel to reasonCodes): indexes of its exits, ascending, and how many. */
  reasonAt: Int32Array[] = [];
  reasonCount: number[] = [];
  private lastCode = -1;
  private lastReason = -1;

  /** Earliest KVM_RUN start and latest end of handling among the exits appended so far. */
  minStart = Infinity;
  maxEnd = -Infinity;

  /**
   * Appends the exits at store rows [from, to), all of this lane's thread, in arrival order. One
   * tight loop over locals: it runs for every exit of a million-record run when one is opened.
   */
  appendRange(store: TraceStore, from: number, to: number): void {
    this.reserve(this.length + (to - from));
    const rows = this.rows;
    const tsA = this.ts;
    const gs = this.guestSum;
    const hs = this.handleSum;
    const { ts, dur, handle, code } = store;
    let len = this.length;
    let sortedLen = this.sortedLength;
    let prevTs = len > 0 ? tsA[len - 1]! : -Infinity;
    let g = gs[len]!;
    let h = hs[len]!;
    let minStart = this.minStart;
    let maxEnd = this.maxEnd;
    // The current reason's list, kept in locals while the reason stays the same (it mostly does).
    let curCode = this.lastCode;
    let at = curCode >= 0 ? this.reasonAt[this.lastReason]! : EMPTY;
    let atN = curCode >= 0 ? this.reasonCount[this.lastReason]! : 0;
    for (let row = from; row < to; row++) {
      const t = ts[row]!;
      const d = dur[row]!;
      const hd = handle[row]!;
      rows[len] = row;
      tsA[len] = t;
      g += d;
      h += hd;
      gs[len + 1] = g;
      hs[len + 1] = h;
      if (sortedLen === len && t >= prevTs) sortedLen = len + 1;
      prevTs = t;
      if (t - d < minStart) minStart = t - d;
      if (t + hd > maxEnd) maxEnd = t + hd;
      const c = code[row]!;
      if (c === curCode && atN < at.length) {
        at[atN++] = len;
      } else {
        if (curCode >= 0) this.reasonCount[this.lastReason] = atN;
        this.addToReason(c, len);
        curCode = c;
        at = this.reasonAt[this.lastReason]!;
        atN = this.reasonCount[this.lastReason]!;
      }
      len++;
    }
    if (curCode >= 0) this.reasonCount[this.lastReason] = atN;
    this.length = len;
    this.sortedLength = sortedLen;
    this.minStart = minStart;
    this.maxEnd = maxEnd;
  }

  /** Adds exit index `i` to its reason's list (the slow path: a new reason, or a list to grow). */
  private addToReason(code: number, i: number): void {
    let r = this.lastReason;
    if (code !== this.lastCode) {
      r = this.reasonCodes.indexOf(code);
      if (r < 0) {
        r = this.reasonCodes.length;
        this.reasonCodes.push(code);
        this.reasonAt.push(new Int32Array(16));
        this.reasonCount.push(0);
      }
      this.lastCode = code;
      this.lastReason = r;
    }
    let at = this.reasonAt[r]!;
    const k = this.reasonCount[r]!;
    if (k === at.length) {
      const bigger = new Int32Array(k * 2);
      bigger.set(at);
      this.reasonAt[r] = at = bigger;
    }
    at[k] = i;
    this.reasonCount[r] = k + 1;
  }

  /** How many exits with indexes in [lo, hi) have the reason at position `r` of reasonCodes. */
  reasonCountIn(r: number, lo: number, hi: number): number {
    const at = this.reasonAt[r]!;
    const k = this.reasonCount[r]!;
    return lowerBound(at, k, hi) - lowerBound(at, k, lo);
  }

  protected override grow(cap: number): void {
    super.grow(cap);
    const g = new Float64Array(cap + 1);
    g.set(this.guestSum.subarray(0, this.length + 1));
    this.guestSum = g;
    const h = new Float64Array(cap + 1);
    h.set(this.handleSum.subarray(0, this.length + 1));
    this.handleSum = h;
  }

  /** Re-sorts after late rows, then redoes the running sums and reason lists from the first index that moved. */
  settleExits(store: TraceStore): void {
    const from = this.settle(store.seq);
    if (from >= this.length) return;
    const { dur, handle, code } = store;
    for (let r = 0; r < this.reasonCodes.length; r++) this.reasonCount[r] = lowerBound(this.reasonAt[r]!, this.reasonCount[r]!, from);
    this.lastCode = -1;
    for (let i = from; i < this.length; i++) {
      const row = this.rows[i]!;
      this.guestSum[i + 1] = this.guestSum[i]! + dur[row]!;
      this.handleSum[i + 1] = this.handleSum[i]! + handle[row]!;
      this.addToReason(code[row]!, i);
    }
  }
}

const EMPTY = new Int32Array(0);

/** First position in a[from..n) holding a value >= v (a ascending there). */
function lowerBound(a: Int32Array | Float64Array, n: number, v: number, from = 0): number {
  return firstAtLeast(n, (i) => a[i]! < v, from);
}

/** One lane's indexes. */
export interface LaneRows {
  lane: number;
  exits: ExitIndex;
  /** Ioctls, markers and lost-record notes of this thread. */
  others: RowIndex;
}

/** End of the run of exits of one thread that starts at `row`. */
function runEnd(kind: Uint8Array, thread: Uint16Array, row: number, n: number): number {
  const th = thread[row];
  let end = row + 1;
  while (end < n && kind[end] === RecordKind.Exit && thread[end] === th) end++;
  return end;
}

/**
 * The per-lane indexes of one store, brought up to date by `update` with only the rows added since
 * the last call.
 */
export class TimelineModel {
  /** Bumped whenever the indexes change (the draw cache's key). */
  version = 0;
  /** Bumped when the indexes start over (another store, or the store was cleared for a new run). */
  generation = 0;
  /** Earliest time any record covers (an exit's KVM_RUN start), ns; Infinity when empty. */
  minTs = Infinity;
  /** Latest time any record covers (an exit's end of handling, an ioctl's return), ns; -Infinity when empty. */
  maxTs = -Infinity;
  /** When the first exit's KVM_RUN began (the end of the start-up: the VM, its memory and vCPU threads made), ns; Infinity before any exit. */
  exitsStart = Infinity;
  /** When the handling of the last exit ended, ns; -Infinity before any exit. */
  exitsEnd = -Infinity;

  // Indexed by lane number (small integers), so the per-row lookup is an array load.
  private byLane: (LaneRows | undefined)[] = [];
  private store: TraceStore | null = null;
  private processed = 0;
  // The last row indexed, to notice a store that was cleared and refilled between two updates.
  private lastSeq = -1;
  private lastTs = NaN;

  /** Indexes the rows `store` gained since the last call. Returns whether anything changed. */
  update(store: TraceStore): boolean {
    let changed = false;
    if (store !== this.store || store.count < this.processed || (this.processed > 0 && !this.sameLastRow(store))) {
      this.reset(store);
      this.version++;
      this.generation++;
      changed = true;
    }
    const n = store.count;
    if (n === this.processed) return changed;
    const { kind, thread, ts, dur } = store;
    let minTs = this.minTs;
    let maxTs = this.maxTs;
    // Rows come in runs of one thread's exits (one drained ring batch each): each run is appended
    // in one call, reading the columns in order.
    let row = this.processed;
    while (row < n) {
      const k = kind[row]!;
      if (k !== RecordKind.Exit) {
        if (k !== RecordKind.Stats) {
          const t = ts[row]!;
          this.laneRows(laneOfThread(thread[row]!)).others.push(row, t);
          const end = k === RecordKind.Ioctl ? t + dur[row]! : t;
          if (t < minTs) minTs = t;
          if (end > maxTs) maxTs = end;
        }
        row++;
        continue;
      }
      const end = runEnd(kind, thread, row, n);
      const ex = this.laneRows(laneOfThread(thread[row]!)).exits;
      ex.appendRange(store, row, end);
      if (ex.minStart < minTs) minTs = ex.minStart;
      if (ex.maxEnd > maxTs) maxTs = ex.maxEnd;
      if (ex.minStart < this.exitsStart) this.exitsStart = ex.minStart;
      if (ex.maxEnd > this.exitsEnd) this.exitsEnd = ex.maxEnd;
      row = end;
    }
    this.minTs = minTs;
    this.maxTs = maxTs;
    for (const l of this.byLane) {
      if (l === undefined) continue;
      l.exits.settleExits(store);
      l.others.settle(store.seq);
    }
    this.processed = n;
    this.lastSeq = store.seq[n - 1]!;
    this.lastTs = store.ts[n - 1]!;
    this.version++;
    return true;
  }

  /** The lane's indexes, or undefined when the thread has no drawable record yet. */
  lane(lane: number): LaneRows | undefined {
    return this.byLane[lane];
  }

  /** Lanes that hold drawable records, in order. */
  lanes(): number[] {
    const out: number[] = [];
    this.byLane.forEach((l, i) => {
      if (l !== undefined) out.push(i);
    });
    return out;
  }

  /** Rows indexed so far (all kinds but stats). */
  get indexed(): number {
    let n = 0;
    for (const l of this.byLane) if (l !== undefined) n += l.exits.length + l.others.length;
    return n;
  }

  private laneRows(lane: number): LaneRows {
    let l = this.byLane[lane];
    if (l === undefined) {
      l = { lane, exits: new ExitIndex(), others: new RowIndex() };
      this.byLane[lane] = l;
    }
    return l;
  }

  private sameLastRow(store: TraceStore): boolean {
    const i = this.processed - 1;
    return store.seq[i] === this.lastSeq && Object.is(store.ts[i], this.lastTs);
  }

  private reset(store: TraceStore): void {
    this.store = store;
    this.byLane = [];
    this.processed = 0;
    this.minTs = Infinity;
    this.maxTs = -Infinity;
    this.exitsStart = Infinity;
    this.exitsEnd = -Infinity;
    this.lastSeq = -1;
    this.lastTs = NaN;
  }
}

/**
 * The span a timeline opens on: the exits, from just before the first exit's KVM_RUN to just after
 * the last exit's handling, where the start-up (opening /dev/kvm up to the first KVM_RUN: hundreds
 * of ms of thread creation) or the close after the last exit is longer than a third of the exits'
 * own span; else the whole span. The rest stays reachable by zooming out or "Whole run".
 */
export function exitsView(whole: { start: number; end: number }, exitsStart: number, exitsEnd = whole.end): { start: number; end: number } {
  if (!Number.isFinite(exitsStart) || !Number.isFinite(exitsEnd) || exitsStart >= exitsEnd) return whole;
  const exits = exitsEnd - exitsStart;
  const pad = Math.max(exits * 0.04, 1000);
  const start = exitsStart - whole.start > exits / 3 ? Math.max(whole.start, exitsStart - pad) : whole.start;
  const end = whole.end - exitsEnd > exits / 3 ? Math.min(whole.end, exitsEnd + pad) : whole.end;
  return { start, end };
}

/** Exits of one lane summarised per pixel column, for zoom levels with more exits than pixels. */
export interface ExitBuckets {
  t0: number;
  t1: number;
  width: number;
  /** Exits whose `ts` falls in the column. */
  count: Uint32Array;
  /** The most frequent exit reason code in the column, -1 for none. */
  reason: Int32Array;
  /** Fraction (0..1) of the column's time the vCPU spent in KVM_RUN. */
  guest: Float32Array;
  /** Fraction (0..1) of the column's time userspace spent handling an exit. */
  handle: Float32Array;
  /** Largest `count` of any column. */
  maxCount: number;
  /** Exits with `ts` in [t0, t1): what these buckets represent. */
  records: number;
  /** Rows read to build them: a few per column, however many exits the window holds. */
  visited: number;
}

function makeBuckets(width: number): ExitBuckets {
  return {
    t0: 0,
    t1: 0,
    width,
    count: new Uint32Array(width),
    reason: new Int32Array(width),
    guest: new Float32Array(width),
    handle: new Float32Array(width),
    maxCount: 0,
    records: 0,
    visited: 0,
  };
}

let edges = new Int32Array(0);

/**
 * Buckets one lane's exits into `width` columns over [t0, t1): per column the exit count, the
 * dominant reason, and how much of the column was guest time and handling time.
 *
 * It reads no exit inside a column, only the running sums at the column's edges and the exits
 * that straddle them: the exits with ts in a column end their guest time there, and all but the
 * first began it there too (a thread's KVM_RUN stretches do not overlap), so the column's guest
 * time is the difference of the running sums, less what the first exit ran before the column,
 * plus what the next exit (ts past the column) ran inside it. Handling time mirrors this. A
 * window with a million exits therefore costs about as much as one with a thousand.
 * Pass the previous result as `reuse` to recycle its arrays.
 */
export function bucketExits(store: TraceStore, index: ExitIndex, t0: number, t1: number, width: number, reuse?: ExitBuckets): ExitBuckets {
  width = Math.max(0, Math.floor(width));
  const b = reuse !== undefined && reuse.width === width ? reuse : makeBuckets(width);
  b.t0 = t0;
  b.t1 = t1;
  b.maxCount = 0;
  b.records = 0;
  b.visited = 0;
  const n = index.length;
  if (width === 0 || !(t1 > t0) || n === 0) {
    b.count.fill(0);
    b.reason.fill(-1);
    b.guest.fill(0);
    b.handle.fill(0);
    return b;
  }
  const colNs = (t1 - t0) / width;
  // edges[p] = first exit with ts >= the left edge of column p; edges[width] = first past t1.
  if (edges.length < width + 1) edges = new Int32Array(width + 1);
  const ts = index.ts;
  let from = 0;
  for (let p = 0; p <= width; p++) {
    const edge = p === width ? t1 : t0 + p * colNs;
    // The edges only move right: search from the previous one.
    from = lowerBound(ts, n, edge, from);
    edges[p] = from;
  }
  const rows = index.rows;
  const gs = index.guestSum;
  const hs = index.handleSum;
  const codes = index.reasonCodes;
  const reasons = codes.length;
  const { dur, handle: hdl } = store;
  const { count, reason, guest, handle } = b;
  let max = 0;
  let visited = 0;
  for (let p = 0; p < width; p++) {
    const c0 = t0 + p * colNs;
    const c1 = p === width - 1 ? t1 : c0 + colNs;
    const lo = edges[p]!;
    const hi = edges[p + 1]!;
    const k = hi - lo;
    count[p] = k;
    if (k > max) max = k;
    let g = gs[hi]! - gs[lo]!;
    let h = hs[hi]! - hs[lo]!;
    if (k > 0) {
      // The first exit's KVM_RUN may have begun before the column; the last one's handling may run past it.
      const first = rows[lo]!;
      const gStart = ts[lo]! - dur[first]!;
      if (gStart < c0) g -= Math.min(dur[first]!, c0 - gStart);
      const last = rows[hi - 1]!;
      const hEnd = ts[hi - 1]! + hdl[last]!;
      if (hEnd > c1) h -= Math.min(hdl[last]!, hEnd - c1);
      visited += first === last ? 1 : 2;
      // The dominant reason: most lanes see one or two, so this is a couple of searches.
      let best = -1;
      let bestN = 0;
      for (let r = 0; r < reasons; r++) {
        const m = reasons === 1 ? k : index.reasonCountIn(r, lo, hi);
        const code = codes[r]!;
        if (m > bestN || (m === bestN && m > 0 && code < best)) {
          best = code;
          bestN = m;
        }
      }
      reason[p] = best;
    } else {
      reason[p] = -1;
    }
    if (hi < n) {
      // The next exit's KVM_RUN may have begun inside (or before) this column.
      const next = rows[hi]!;
      const gStart = ts[hi]! - dur[next]!;
      if (gStart < c1) g += c1 - Math.max(c0, gStart);
      visited++;
    }
    if (lo > 0) {
      // The previous exit's handling may last into this column.
      const prev = rows[lo - 1]!;
      const hEnd = ts[lo - 1]! + hdl[prev]!;
      if (hEnd > c0) h += Math.min(hEnd, c1) - c0;
      visited++;
    }
    // Records that overlap (clock steps, a malformed trace) must not paint more than a full column.
    const gf = g / colNs;
    const hf = h / colNs;
    guest[p] = gf > 1 ? 1 : gf < 0 ? 0 : gf;
    handle[p] = hf > 1 ? 1 : hf < 0 ? 0 : hf;
  }
  b.maxCount = max;
  b.records = edges[width]! - edges[0]!;
  b.visited = visited;
  return b;
}

/**
 * Index range [from, to) of the rows that can show in [t0, t1): those with ts inside it plus one
 * on each side (an earlier slice may last into the window, a later exit's guest time may start in it).
 * `inside` counts those with ts in [t0, t1).
 */
export function visibleRange(index: RowIndex, t0: number, t1: number): { from: number; to: number; inside: number } {
  const lo = index.lowerBound(t0);
  const hi = index.lowerBound(t1);
  return { from: lo > 0 ? lo - 1 : 0, to: hi < index.length ? hi + 1 : hi, inside: hi - lo };
}

/** Where a record sits on its lane, ns: [start, end) and the instant `at` its mark is drawn. */
export function rowSpan(store: TraceStore, row: number): { start: number; at: number; end: number } {
  const t = store.ts[row]!;
  switch (store.kind[row]) {
    case RecordKind.Exit:
      return { start: t - store.dur[row]!, at: t, end: t + store.handle[row]! };
    case RecordKind.Ioctl:
      return { start: t, at: t, end: t + store.dur[row]! };
    default:
      return { start: t, at: t, end: t };
  }
}

/**
 * The record under pixel `x` on `lane`: the nearest mark (exit tick, ioctl slice, marker flag,
 * lost note) within `radiusPx`, else the exit whose guest or handling time contains x. Returns
 * its row, or -1. `t` is the time under x and `nsPerPx` the scale.
 */
export function hitTest(store: TraceStore, model: TimelineModel, lane: number, t: number, nsPerPx: number, radiusPx = 4): number {
  const l = model.lane(lane);
  if (l === undefined || !(nsPerPx > 0)) return -1;
  let best = -1;
  let bestDist = radiusPx * nsPerPx;
  // Others first, so a marker or an ioctl on top of a dense run of exits can still be picked.
  const o = l.others;
  if (o.length > 0) {
    const i = o.lowerBound(t);
    for (let k = Math.max(0, i - 2); k < Math.min(o.length, i + 2); k++) {
      const row = o.rows[k]!;
      const s = rowSpan(store, row);
      const d = t < s.start ? s.start - t : t > s.end ? t - s.end : 0;
      if (d <= bestDist && (best < 0 || d < bestDist)) {
        best = row;
        bestDist = d;
      }
    }
  }
  const e = l.exits;
  if (e.length > 0) {
    const i = e.lowerBound(t);
    for (let k = Math.max(0, i - 1); k < Math.min(e.length, i + 1); k++) {
      const d = Math.abs(e.ts[k]! - t);
      // Strictly nearer: an other (a marker) keeps a tie with an exit tick.
      if (d < bestDist || (best < 0 && d <= bestDist)) {
        best = e.rows[k]!;
        bestDist = d;
      }
    }
    if (best < 0) {
      // Not near any mark: inside an exit's guest time (before its tick) or handling time (after).
      if (i < e.length) {
        const row = e.rows[i]!;
        if (t >= e.ts[i]! - store.dur[row]!) return row;
      }
      if (i > 0) {
        const row = e.rows[i - 1]!;
        if (t < e.ts[i - 1]! + store.handle[row]!) return row;
      }
    }
  }
  return best;
}

/** A text label the timeline draws: at (x, y), cut to maxW pixels. */
export interface TimelineLabel {
  x: number;
  y: number;
  text: string;
  maxW: number;
}

/**
 * Labels on one line never overlap: exits, ioctls and markers of a lane place their labels
 * independently, so each is cut to end `gap` px before the next label on the same line, and one
 * left with less than `minW` px is dropped. Returns the labels to draw, left to right per line.
 */
export function separateLabels<L extends TimelineLabel>(labels: readonly L[], minW: number, gap = 6): L[] {
  const sorted = [...labels].sort((a, b) => a.y - b.y || a.x - b.x);
  const out: L[] = [];
  for (let i = 0; i < sorted.length; i++) {
    const lb = sorted[i]!;
    const prev = out[out.length - 1];
    // A label starting where the one kept before it may still be drawn (same line, too close) goes.
    if (prev !== undefined && prev.y === lb.y && lb.x < prev.x + minW + gap) continue;
    let maxW = lb.maxW;
    const next = sorted[i + 1];
    if (next !== undefined && next.y === lb.y) maxW = Math.min(maxW, next.x - lb.x - gap);
    if (maxW >= minW) out.push({ ...lb, maxW });
  }
  return out;
}
