import { describe, expect, it } from "vitest";
import { formatDuration, formatTimestamp, MIN_DURATION_NS, niceStep, TimeScale } from "../src/lib/time-scale";

describe("TimeScale", () => {
  it("maps run time to pixels and back", () => {
    const s = new TimeScale(1_000, 11_000, 500);
    expect(s.nsPerPx).toBe(20);
    expect(s.toPx(1_000)).toBe(0);
    expect(s.toPx(11_000)).toBe(500);
    expect(s.toPx(6_000)).toBe(250);
    expect(s.toNs(250)).toBe(6_000);
    expect(s.durationToPx(400)).toBe(20);
  });

  it("fits a whole run with a little room on each side", () => {
    const s = TimeScale.fit({ start: 0, end: 1_000_000 }, 1000, 0.01);
    expect(s.start).toBe(-10_000);
    expect(s.end).toBe(1_010_000);
    expect(s.toPx(0)).toBeGreaterThan(0);
    expect(s.toPx(1_000_000)).toBeLessThan(1000);
  });

  it("fits a run of one instant to a minimal window centred on it", () => {
    const s = TimeScale.fit({ start: 5_000, end: 5_000 }, 800);
    expect(s.duration).toBe(MIN_DURATION_NS);
    expect(s.toPx(5_000)).toBe(400);
  });

  it("keeps the time under the mouse in place when zooming about it", () => {
    const s = new TimeScale(0, 1_000_000, 1000);
    const under = s.toNs(300);
    const z = s.zoom(4, 300);
    expect(z.duration).toBe(250_000);
    expect(z.toNs(300)).toBeCloseTo(under, 6);
    const back = z.zoom(0.25, 300);
    expect(back.start).toBeCloseTo(0, 6);
    expect(back.end).toBeCloseTo(1_000_000, 6);
  });

  it("stops zooming in at the narrowest window", () => {
    let s = new TimeScale(0, 1_000_000, 1000);
    for (let i = 0; i < 40; i++) s = s.zoom(2, 500);
    expect(s.duration).toBe(MIN_DURATION_NS);
    expect(s.zoom(Number.NaN)).toBe(s);
  });

  it("pans by the time a dragged distance covers", () => {
    const s = new TimeScale(0, 10_000, 100);
    const p = s.pan(25);
    expect(p.start).toBe(2_500);
    expect(p.end).toBe(12_500);
    expect(p.pan(-25).start).toBe(0);
  });

  it("slides a window that hangs over the end of the run back inside without changing its length", () => {
    const run = { start: 0, end: 100_000 };
    const late = new TimeScale(90_000, 110_000, 200).clamp(run);
    expect([late.start, late.end]).toEqual([80_000, 100_000]);
    const early = new TimeScale(-5_000, 15_000, 200).clamp(run);
    expect([early.start, early.end]).toEqual([0, 20_000]);
    const inside = new TimeScale(10_000, 30_000, 200);
    expect(inside.clamp(run)).toBe(inside);
  });

  it("shrinks a window wider than the run to the run", () => {
    const s = new TimeScale(-50_000, 500_000, 200).clamp({ start: 0, end: 100_000 });
    expect([s.start, s.end]).toEqual([0, 100_000]);
  });

  it("keeps the shown window when the canvas is resized", () => {
    const s = new TimeScale(100, 900, 400).withWidth(800);
    expect([s.start, s.end, s.width, s.nsPerPx]).toEqual([100, 900, 800, 1]);
  });

  it("centres a window on a record without changing the zoom", () => {
    const s = new TimeScale(0, 1_000, 100).centreOn(10_000);
    expect([s.start, s.end]).toEqual([9_500, 10_500]);
  });
});

describe("axis ticks", () => {
  it("fall on round times about every target distance, labelled in seconds for a whole run", () => {
    const ticks = new TimeScale(0, 1e9, 1000).ticks(100);
    expect(ticks.map((t) => t.ns)).toEqual([0, 1e8, 2e8, 3e8, 4e8, 5e8, 6e8, 7e8, 8e8, 9e8, 1e9]);
    expect(ticks.map((t) => t.px)).toEqual([0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]);
    expect(ticks.slice(0, 3).map((t) => t.label)).toEqual(["0 s", "0.1 s", "0.2 s"]);
  });

  it("switch to microseconds when zoomed to a few exits", () => {
    const labels = new TimeScale(20_000, 70_000, 500).ticks(100).map((t) => t.label);
    expect(labels).toEqual(["20 µs", "30 µs", "40 µs", "50 µs", "60 µs", "70 µs"]);
  });

  it("count from the first tick when absolute times would need too many digits", () => {
    // 400 ns shown five seconds into a run: "5000000100 ns" is unreadable, "+100 ns" is not.
    const ticks = new TimeScale(5e9, 5e9 + 400, 400).ticks(100);
    expect(ticks[0]!.label).toBe("5.000000000 s");
    expect(ticks.slice(1).map((t) => t.label)).toEqual(["+100 ns", "+200 ns", "+300 ns", "+400 ns"]);
  });

  it("are none for an empty canvas", () => {
    expect(new TimeScale(0, 100, 0).ticks()).toEqual([]);
  });
});

describe("nice steps and durations", () => {
  it("round a step up to 1, 2 or 5 times a power of ten", () => {
    expect([0.3, 1, 1.5, 2, 3, 7, 12, 4_999, 70_000].map(niceStep)).toEqual([1, 1, 2, 2, 5, 10, 20, 5_000, 100_000]);
  });

  it("write durations with a unit a person reads at a glance", () => {
    expect(formatDuration(850)).toBe("850 ns");
    expect(formatDuration(12_500)).toBe("12.5 µs");
    expect(formatDuration(6_783)).toBe("6.78 µs");
    expect(formatDuration(3_070_000)).toBe("3.07 ms");
    expect(formatDuration(1_250_000_000)).toBe("1.25 s");
    expect(formatDuration(Number.NaN)).toBe("–");
  });

  it("write a record's timestamp exact to the nanosecond", () => {
    expect(formatTimestamp(1_282_352_140)).toBe("1.282352140 s");
  });
});
