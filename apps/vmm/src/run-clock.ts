// The time a run's guest was allowed to run. A run's time limit counts this, not wall time: a
// teacher who keeps a step-mode run paused while the class talks does not use it up. Time spent
// paused in one stretch is counted apart, for the idle limit (a run nobody resumes ends, so a
// forgotten tab does not hold a VM for ever).

export class RunClock {
  #last: number | undefined;
  #activeNs = 0;
  #pausedNs = 0;
  /** Whether the run was ever paused (the timeout's message then says that paused time did not count). */
  everPaused = false;

  /** Advances the clock to `nowNs`; the time since the last tick counts as paused or as running. */
  tick(nowNs: number, paused: boolean): void {
    if (this.#last !== undefined) {
      const d = Math.max(0, nowNs - this.#last);
      if (paused) {
        this.#pausedNs += d;
        this.everPaused = true;
      }
      else {
        this.#activeNs += d;
        this.#pausedNs = 0;
      }
    }
    this.#last = nowNs;
  }

  /** Time the guest was allowed to run (not paused), ns. */
  get activeNs(): number {
    return this.#activeNs;
  }

  /** How long the run has been paused in its current stretch, ns (0 while it runs). */
  get pausedNs(): number {
    return this.#pausedNs;
  }
}
