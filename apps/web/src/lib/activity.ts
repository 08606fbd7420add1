// How busy each vCPU and each device model is at the cursor: exits per second over a trailing
// window of trace time, and the newest exit of each vCPU. The thread model uses it to choose
// between following single exits (animated one by one) and showing rates as heat.
//
// Cost: proportional to the window, never to the trace. The walk starts at the cursor's row and
// goes back until it leaves the window (or has read `maxRows` rows), so scrubbing a
// million-record trace costs the same as watching a short one.
import { MAIN_THREAD, RecordKind } from "@kvmscope/shared";
import { DEVICE_IDS, deviceIndexOfRow, type DeviceId } from "./devices";
import type { TraceStore } from "./trace-store";
import type { ViewMode } from "./view-props";

/** Below this many exits per second a person can follow each one (the animation takes ~1.5 s). */
export const FOLLOW_MAX_RATE = 4;
/** Default trailing window: one second of trace time. */
export const DEFAULT_WINDOW_NS = 1e9;
/** Rows read at most per update; beyond it the rate is measured over the part of the window read. */
export const DEFAULT_MAX_ROWS = 20_000;
/**
 * Rows arrive per thread in time order but only roughly so across threads (each thread's ring is
 * drained every few ms): the walk goes this far in time before the window start before it trusts
 * that nothing older than the window is still to come.
 */
const ORDER_SLACK_NS = 50e6;
/** Rows after the cursor's row that may still hold a record at or before the cursor (arrived late). */
const FORWARD_SLACK_ROWS = 256;
/** How far past the window the walk may go to find each vCPU's newest exit (a quiet or paused vCPU). */
const NEWEST_EXTRA_ROWS = 20_000;

export interface ActivityOptions {
  windowNs?: number;
  maxRows?: number;
}

export interface Activity {
  /** The cursor record's ts (ns since run start); 0 when the store is empty. */
  cursorTs: number;
  /** The trace time the rates are measured over, ns (the window, or less when maxRows cut it). */
  spanNs: number;
  /** True when maxRows stopped the walk before the window's start. */
  truncated: boolean;
  /** Exits inside the span. */
  exits: number;
  /** All exits per second. */
  rate: number;
  /** Exits per second by vCPU index (vCPUs without exits in the span are absent). */
  vcpuRates: Map<number, number>;
  /** Exits per second by device model (IO and MMIO exits only). */
  deviceRates: Map<DeviceId, number>;
  /** Exits per second from one vCPU to one device, keyed `${vcpu}:${deviceId}`: the heat of each path. */
  pathRates: Map<string, number>;
  /** Seq of each vCPU's newest exit at or before the cursor (searched past the window, within bounds). */
  newestByVcpu: Map<number, number>;
  /** Seq of the newest exit at or before the cursor, or null. */
  newest: number | null;
}

const EMPTY: Activity = {
  cursorTs: 0, spanNs: DEFAULT_WINDOW_NS, truncated: false, exits: 0, rate: 0,
  vcpuRates: new Map(), deviceRates: new Map(), pathRates: new Map(), newestByVcpu: new Map(), newest: null,
};

/**
 * The row of the cursor: the record with seq `cursorSeq`, or, when that seq is not held (a
 * skipped range), the row of the nearest lower seq that is. -1 for an empty store or a cursor
 * before every record.
 */
export function cursorRow(store: TraceStore, cursorSeq: number): number {
  if (store.count === 0 || cursorSeq < 0) return -1;
  if (cursorSeq >= store.maxSeq) {
    const r = store.rowOfSeq(store.maxSeq);
    return r >= 0 ? r : store.count - 1;
  }
  const direct = store.rowOfSeq(Math.floor(cursorSeq));
  if (direct >= 0) return direct;
  // A hole in the seqs: a few steps down usually find a held one; past that, one linear scan.
  for (let s = Math.floor(cursorSeq) - 1, tries = 0; s >= 0 && tries < 4096; s--, tries++) {
    const r = store.rowOfSeq(s);
    if (r >= 0) return r;
  }
  let best = -1;
  let bestSeq = -1;
  for (let r = 0; r < store.count; r++) {
    const s = store.seq[r]!;
    if (s <= cursorSeq && s > bestSeq) {
      best = r;
      bestSeq = s;
    }
  }
  return best;
}

const UNKNOWN = -2;
// Which device each row's exit went to, worked out once per row: rows never change once appended,
// and the same window is walked again a few times a second. Keyed on the store's kind column,
// which is a new array after clear() (and after a growth, which merely costs a recount).
const deviceCaches = new WeakMap<Uint8Array, Int8Array>();
function deviceIndexCache(store: TraceStore): Int8Array {
  let c = deviceCaches.get(store.kind);
  if (c === undefined || c.length < store.count) {
    const bigger = new Int8Array(Math.max(1024, store.kind.length)).fill(UNKNOWN);
    if (c !== undefined) bigger.set(c);
    c = bigger;
    deviceCaches.set(store.kind, c);
  }
  return c;
}

/** Exit rates and newest exits at the cursor. See the module comment for the cost. */
export function activityAt(store: TraceStore, cursorSeq: number, options: ActivityOptions = {}): Activity {
  const windowNs = options.windowNs ?? DEFAULT_WINDOW_NS;
  const maxRows = options.maxRows ?? DEFAULT_MAX_ROWS;
  const start = cursorRow(store, cursorSeq);
  if (start < 0) return { ...EMPTY, spanNs: windowNs, vcpuRates: new Map(), deviceRates: new Map(), pathRates: new Map(), newestByVcpu: new Map() };
  const { seq, kind, thread, ts } = store;
  const cursorTs = ts[start]!;
  const windowStart = cursorTs - windowNs;

  // Counts by vCPU index, and per vCPU by device index (DEVICE_IDS): no strings or maps per row.
  const vcpuCounts: number[] = [];
  const pathCounts: Float64Array[] = [];
  const newestSeq: number[] = [];
  const devices = deviceIndexCache(store);
  let newest = -1;
  let exits = 0;
  let truncated = false;
  let coveredFrom = windowStart;

  const look = (row: number, inWindow: boolean): void => {
    if (kind[row] !== RecordKind.Exit) return;
    const s = seq[row]!;
    const v = thread[row]!;
    if (v === MAIN_THREAD) return;
    if (s > (newestSeq[v] ?? -1)) newestSeq[v] = s;
    if (s > newest) newest = s;
    if (!inWindow) return;
    exits++;
    vcpuCounts[v] = (vcpuCounts[v] ?? 0) + 1;
    let dev = devices[row]!;
    if (dev === UNKNOWN) dev = devices[row] = deviceIndexOfRow(store, row);
    if (dev >= 0) (pathCounts[v] ??= new Float64Array(DEVICE_IDS.length))[dev]!++;
  };

  // Records that arrived after the cursor's row but belong before it.
  const forwardEnd = Math.min(store.count, start + 1 + FORWARD_SLACK_ROWS);
  for (let r = start + 1; r < forwardEnd; r++) {
    if (seq[r]! <= cursorSeq) look(r, ts[r]! > windowStart);
  }

  let r = start;
  let read = 0;
  for (; r >= 0; r--) {
    if (seq[r]! > cursorSeq) continue;
    const t = ts[r]!;
    if (t < windowStart - ORDER_SLACK_NS) break;
    if (read >= maxRows) {
      truncated = true;
      coveredFrom = t;
      break;
    }
    read++;
    look(r, t > windowStart);
  }

  // A vCPU with no exit in the window still has a newest exit for the thread model to show.
  const wanted = store.vcpus.length;
  const found = (): number => newestSeq.reduce((n) => n + 1, 0); // a sparse array: holes are skipped
  for (let extra = 0; r >= 0 && extra < NEWEST_EXTRA_ROWS; r--, extra++) {
    if (extra % 256 === 0 && found() >= wanted) break;
    if (seq[r]! <= cursorSeq) look(r, false);
  }

  const spanNs = truncated ? Math.max(1, cursorTs - coveredFrom) : windowNs;
  const perSecond = 1e9 / spanNs;
  const vcpuRates = new Map<number, number>();
  const deviceRates = new Map<DeviceId, number>();
  const pathRates = new Map<string, number>();
  vcpuCounts.forEach((n, v) => vcpuRates.set(v, n * perSecond));
  pathCounts.forEach((counts, v) => {
    counts.forEach((n, d) => {
      if (n === 0) return;
      const id = DEVICE_IDS[d]!;
      pathRates.set(`${v}:${id}`, n * perSecond);
      deviceRates.set(id, (deviceRates.get(id) ?? 0) + n * perSecond);
    });
  });
  const newestByVcpu = new Map<number, number>();
  newestSeq.forEach((s, v) => newestByVcpu.set(v, s));
  return {
    cursorTs, spanNs, truncated, exits, rate: exits * perSecond, vcpuRates, deviceRates, pathRates, newestByVcpu,
    newest: newest >= 0 ? newest : null,
  };
}

/**
 * Seq of the newest exit at or before the cursor, or null: the exit a view follows. Walks back from
 * the cursor's row, so it costs the distance to that exit (one row in a busy trace).
 */
export function newestExitAt(store: TraceStore, cursorSeq: number, maxRows = NEWEST_EXTRA_ROWS): number | null {
  const start = cursorRow(store, cursorSeq);
  if (start < 0) return null;
  const { seq, kind } = store;
  let best = -1;
  const forwardEnd = Math.min(store.count, start + 1 + FORWARD_SLACK_ROWS);
  for (let r = start + 1; r < forwardEnd; r++) {
    if (kind[r] === RecordKind.Exit && seq[r]! <= cursorSeq && seq[r]! > best) best = seq[r]!;
  }
  // Past the first exit found, rows from other threads may still hold a later seq: look a little further.
  let slack = -1;
  for (let r = start, n = 0; r >= 0 && n < maxRows && slack !== 0; r--, n++) {
    if (slack > 0) slack--;
    if (kind[r] !== RecordKind.Exit || seq[r]! > cursorSeq) continue;
    if (seq[r]! > best) best = seq[r]!;
    if (slack < 0) slack = FORWARD_SLACK_ROWS;
  }
  return best >= 0 ? best : null;
}

/**
 * Whether the views should follow single exits (animate each one in full) rather than show
 * rates and heat: always in step mode and while paused (a replay being stepped or scrubbed, a
 * paused live run), otherwise only while exits come slowly enough for a person to follow.
 */
export function followsSingleExits(mode: ViewMode, paused: boolean, rate: number): boolean {
  if (mode === "step" || paused) return true;
  return rate < FOLLOW_MAX_RATE;
}

/** A rate for a small label: "0.5/s", "12/s", "3.4k/s", "1.2M/s". */
export function formatRate(perSecond: number): string {
  if (!(perSecond > 0)) return "0/s";
  if (perSecond < 10) return `${perSecond.toFixed(1).replace(/\.0$/, "")}/s`;
  if (perSecond < 1000) return `${Math.round(perSecond)}/s`;
  if (perSecond < 1e6) return `${(perSecond / 1e3).toFixed(perSecond < 1e4 ? 1 : 0)}k/s`;
  return `${(perSecond / 1e6).toFixed(1)}M/s`;
}

/**
 * 0..1 for a heat colour: logarithmic, because a PIO loop makes ~10^5 exits/s and a timer guest
 * ~10^2, and both must read as "busy" next to a quiet lane. 1 at `full` exits/s and above.
 */
export function heatLevel(perSecond: number, full = 100_000): number {
  if (!(perSecond > 0)) return 0;
  return Math.min(1, Math.log10(1 + perSecond) / Math.log10(1 + full));
}

/** The seq of the first exit after `afterSeq` that the store holds, or null (walks seqs upward: cheap between exits a person watches one at a time). */
export function nextExitAfter(store: TraceStore, afterSeq: number): number | null {
  if (store.maxSeq - afterSeq > store.count) {
    // Sparse seqs (an imported file): look at the rows instead.
    let best: number | null = null;
    for (let r = 0; r < store.count; r++) {
      const s = store.seq[r]!;
      if (store.kind[r] === RecordKind.Exit && s > afterSeq && (best === null || s < best)) best = s;
    }
    return best;
  }
  for (let s = Math.max(0, Math.floor(afterSeq) + 1); s <= store.maxSeq; s++) {
    const row = store.rowOfSeq(s);
    if (row >= 0 && store.kind[row] === RecordKind.Exit) return s;
  }
  return null;
}
