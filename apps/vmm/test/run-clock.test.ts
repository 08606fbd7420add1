// The run's clock: the time limit counts time the guest was allowed to run, not time paused.
import { describe, expect, it } from "vitest";
import { RunClock } from "../src/run-clock.js";

describe("RunClock", () => {
  it("counts running time only, and one stretch of paused time apart", () => {
    const c = new RunClock();
    c.tick(1_000, false); // the first tick only starts the clock
    expect(c.activeNs).toBe(0);
    c.tick(3_000, false);
    expect(c.activeNs).toBe(2_000);
    c.tick(10_000, true);
    c.tick(50_000, true);
    expect(c.activeNs).toBe(2_000);
    expect(c.pausedNs).toBe(47_000);
    expect(c.everPaused).toBe(true);
    c.tick(51_000, false); // running again: the paused stretch is over
    expect(c.pausedNs).toBe(0);
    expect(c.activeNs).toBe(3_000);
  });

  it("never runs backwards", () => {
    const c = new RunClock();
    c.tick(5_000, false);
    c.tick(4_000, false);
    expect(c.activeNs).toBe(0);
    expect(c.everPaused).toBe(false);
  });
});
