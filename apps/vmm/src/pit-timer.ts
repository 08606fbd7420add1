// The userspace 8254's clock, run by the main thread (qemu's iothread played this role): the PIT
// device only records how the guest programmed channel 0; this turns that into IRQ0 edges on the
// PIC at that rate, and wakes the vCPU that takes PIC interrupts, so the interrupt is injected.
//
// Node timers fire at best every millisecond, so a guest that programs more than 1 kHz gets
// 1 kHz. Ticks that fall more than ten periods behind are skipped, not bunched up.
import type { Pic } from "./devices/pic-8259.js";
import type { Pit } from "./devices/pit-8254.js";

const MIN_PERIOD_NS = 1_000_000;
const IDLE_POLL_MS = 5;

export class PitTimer {
  #timer: NodeJS.Timeout | undefined;
  #generation = -1;
  #nextNs = 0;
  #firedOneShot = false;
  #stopped = false;
  ticks = 0;
  skipped = 0;

  constructor(private readonly pit: Pit, private readonly pic: Pic, private readonly now: () => number, private readonly wake: () => void) {}

  start(): void {
    this.#schedule(0);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
  }

  /** Whether an IRQ0 can still come: channel 0 programmed and periodic, or a one-shot not yet fired. */
  armed(): boolean {
    const ch = this.pit.channel0();
    if (ch === null) return false;
    return !ch.oneShot || ch.generation !== this.#generation || !this.#firedOneShot;
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => this.#tick(), ms);
  }

  #tick(): void {
    const ch = this.pit.channel0();
    const now = this.now();
    if (ch === null) {
      this.#generation = -1;
      this.#schedule(IDLE_POLL_MS);
      return;
    }
    const period = Math.max(ch.periodNs, MIN_PERIOD_NS);
    if (ch.generation !== this.#generation) {
      // Reprogrammed: the count starts over from now.
      this.#generation = ch.generation;
      this.#nextNs = now + period;
      this.#firedOneShot = false;
    }
    if (ch.oneShot && this.#firedOneShot) {
      this.#schedule(IDLE_POLL_MS);
      return;
    }
    if (now >= this.#nextNs) {
      // An edge on IRQ0: the 8259 latches rising edges.
      this.pic.setIrq(0, 1);
      this.pic.setIrq(0, 0);
      this.ticks++;
      this.wake();
      if (ch.oneShot) this.#firedOneShot = true;
      this.#nextNs += period;
      if (now - this.#nextNs > 10 * period) {
        const behind = Math.floor((now - this.#nextNs) / period);
        this.skipped += behind;
        this.#nextNs += behind * period;
      }
    }
    this.#schedule(Math.max(0, (this.#nextNs - this.now()) / 1e6));
  }
}
