// The timeline's horizontal scale: a window [start, end) of run time in ns mapped onto `width`
// pixels (Perfetto's ui/src/base/time_scale.ts). It is immutable: every zoom or pan returns a new
// scale, so a drawn frame can keep the scale it was drawn with and compare it with the next one.
// Plain numbers are enough here: a run is at most hours long, and ns since its start stay far
// below 2^53, so the float arithmetic is exact to well under a nanosecond.

/** A stretch of run time, ns. */
export interface TimeSpan {
  start: number;
  end: number;
}

/** One axis tick: where it goes and what it says. */
export interface Tick {
  ns: number;
  px: number;
  label: string;
}

/** The narrowest window a zoom may reach, 1 µs: a fraction of one exit's round trip is detail enough. */
export const MIN_DURATION_NS = 1_000;

const UNITS = [
  { ns: 1, name: "ns" },
  { ns: 1e3, name: "µs" },
  { ns: 1e6, name: "ms" },
  { ns: 1e9, name: "s" },
] as const;

/** The unit in which `ns` reads as a number of at least 1 (ns for anything below a µs). */
function unitFor(ns: number): (typeof UNITS)[number] {
  const a = Math.abs(ns);
  if (a >= 1e9) return UNITS[3];
  if (a >= 1e6) return UNITS[2];
  if (a >= 1e3) return UNITS[1];
  return UNITS[0];
}

/** The smallest 1, 2 or 5 × 10^k that is at least `rough` (the steps people read without effort). */
export function niceStep(rough: number): number {
  if (!(rough > 0) || !Number.isFinite(rough)) return 1;
  const p = 10 ** Math.floor(Math.log10(rough));
  const f = rough / p;
  // The small tolerance stops 2.0000000001 (float noise) from jumping to 5.
  const m = f <= 1 + 1e-9 ? 1 : f <= 2 + 1e-9 ? 2 : f <= 5 + 1e-9 ? 5 : 10;
  return Math.max(1, m * p);
}

/** Decimals needed to tell multiples of `step` apart when written in `unitNs`. */
function decimalsFor(step: number, unitNs: number): number {
  return Math.max(0, Math.min(9, Math.ceil(-Math.log10(step / unitNs) - 1e-9)));
}

function trim(s: string): string {
  return s.includes(".") ? s.replace(/\.?0+$/, "") : s;
}

/** A duration for people: "850 ns", "12.5 µs", "3.07 ms", "1.25 s" (three significant digits). */
export function formatDuration(ns: number): string {
  if (!Number.isFinite(ns)) return "–";
  const u = unitFor(ns);
  const v = ns / u.ns;
  const digits = Math.abs(v) >= 100 || u.ns === 1 ? 0 : Math.abs(v) >= 10 ? 1 : 2;
  return `${trim(v.toFixed(digits))} ${u.name}`;
}

/** A run timestamp exact to the nanosecond, in seconds: "1.282352140 s". */
export function formatTimestamp(ns: number): string {
  if (!Number.isFinite(ns)) return "–";
  return `${(ns / 1e9).toFixed(9)} s`;
}

export class TimeScale {
  /** ns per pixel; 1 for a degenerate scale so that nothing divides by zero. */
  readonly nsPerPx: number;

  constructor(
    readonly start: number,
    readonly end: number,
    readonly width: number,
  ) {
    const d = end - start;
    this.nsPerPx = d > 0 && width > 0 ? d / width : 1;
  }

  /** The scale showing `span` whole, with `padFraction` of its length spare on each side. */
  static fit(span: TimeSpan, width: number, padFraction = 0.01): TimeScale {
    let { start, end } = span;
    if (!(end > start)) {
      // Nothing or a single instant: centre a minimal window on it.
      const mid = Number.isFinite(start) ? start : 0;
      return new TimeScale(mid - MIN_DURATION_NS / 2, mid + MIN_DURATION_NS / 2, width);
    }
    const pad = (end - start) * padFraction;
    start -= pad;
    end += pad;
    return new TimeScale(start, end, width);
  }

  get duration(): number {
    return this.end - this.start;
  }

  toPx(ns: number): number {
    return (ns - this.start) / this.nsPerPx;
  }

  toNs(px: number): number {
    return this.start + px * this.nsPerPx;
  }

  durationToPx(ns: number): number {
    return ns / this.nsPerPx;
  }

  contains(ns: number): boolean {
    return ns >= this.start && ns <= this.end;
  }

  equals(o: TimeScale | null | undefined): boolean {
    return o != null && o.start === this.start && o.end === this.end && o.width === this.width;
  }

  /** The same window on a canvas of another width (a resize keeps what is shown). */
  withWidth(width: number): TimeScale {
    return new TimeScale(this.start, this.end, width);
  }

  /**
   * Zooms by `factor` (> 1 in, < 1 out) keeping the time under pixel `px` where it is, as a
   * wheel zoom about the mouse should. Never narrower than `minDuration`.
   */
  zoom(factor: number, px = this.width / 2, minDuration = MIN_DURATION_NS): TimeScale {
    if (!(factor > 0) || !Number.isFinite(factor)) return this;
    const anchor = this.toNs(px);
    const duration = Math.max(minDuration, this.duration / factor);
    const frac = this.width > 0 ? px / this.width : 0.5;
    const start = anchor - duration * frac;
    return new TimeScale(start, start + duration, this.width);
  }

  /** Moves the window by `dpx` pixels of content: positive shows later time (the view moves right). */
  pan(dpx: number): TimeScale {
    const dt = dpx * this.nsPerPx;
    return new TimeScale(this.start + dt, this.end + dt, this.width);
  }

  /** The same duration centred on `ns`. */
  centreOn(ns: number): TimeScale {
    const half = this.duration / 2;
    return new TimeScale(ns - half, ns + half, this.width);
  }

  /**
   * Keeps the window inside `extent`: a window longer than the extent becomes the extent, one that
   * hangs over an edge is slid back without changing its length.
   */
  clamp(extent: TimeSpan): TimeScale {
    const ext = extent.end - extent.start;
    if (!(ext > 0)) return this;
    const d = this.duration;
    if (d >= ext) {
      return this.start === extent.start && this.end === extent.end ? this : new TimeScale(extent.start, extent.end, this.width);
    }
    let start = this.start;
    if (start < extent.start) start = extent.start;
    if (start + d > extent.end) start = extent.end - d;
    return start === this.start ? this : new TimeScale(start, start + d, this.width);
  }

  /**
   * Axis ticks about every `targetPx` pixels, at round times (1, 2, 5 × 10^k ns). Labels use the
   * unit of the step. When the absolute value would need too many digits (zoomed deep into a long
   * run), the first tick says where we are and the others count from it ("+200 ns").
   */
  ticks(targetPx = 100): Tick[] {
    if (!(this.width > 0) || !(this.duration > 0)) return [];
    const step = niceStep(this.nsPerPx * Math.max(10, targetPx));
    const first = Math.ceil(this.start / step) * step;
    // One unit coarser than the step's own when the step is large in it: "1.2 s", not "1200 ms".
    const unit = unitFor(step * 10);
    const decimals = decimalsFor(step, unit.ns);
    const relative = Math.abs(this.end / unit.ns) >= 1e5;
    const out: Tick[] = [];
    for (let i = 0; ; i++) {
      const ns = first + i * step;
      if (ns > this.end || i > 1000) break;
      let label: string;
      if (!relative) {
        label = `${trim((ns / unit.ns).toFixed(decimals))} ${unit.name}`;
      } else if (i === 0) {
        label = formatTimestamp(ns);
      } else {
        label = `+${formatDuration(ns - first)}`;
      }
      out.push({ ns, px: this.toPx(ns), label });
    }
    return out;
  }
}
