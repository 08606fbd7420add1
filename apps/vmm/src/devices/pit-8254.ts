// The PC/AT's 8254 programmable interval timer: three 16-bit down-counters clocked at 1.193182 MHz.
// Counter 0 drives IRQ0 (the system timer), counter 1 once refreshed DRAM, counter 2 feeds the
// speaker and is gated through system control port B (0x61), which lives here too because its
// interesting bits are counter 2's gate and output.
//
// Nothing ticks. A counter remembers when its count was loaded, and every read computes the
// current value from hooks.now(); the interrupt itself is the main thread's job: it reads
// channel0() and raises IRQ0 at that rate (the PIT here never calls the PIC).
//
// Modelled: the control word (counter select, access mode LSB/MSB/both, modes 0-5, counter latch),
// the read-back command (count and status), gates and the OUT pins as port B and status report them.
// Simplified: a count written while counting takes effect at once (the hardware waits for the end of
// the current cycle in modes 2 and 3); modes 1 and 5 start at the count write, or at a gate rising
// edge on counter 2 (the hardware waits for a gate edge on every counter); BCD counting is not
// modelled (the BCD bit is stored and read back, the count is binary).
//
// Shared state (under the device lock):
//   [0, 48)    Float64  per counter: load time (ns), elapsed ns frozen while the gate is low
//   [48, 56)   Int32    channel 0 generation, port B
//   [56, 68)   Uint16   per counter: count (0 means 65536), latched count
//   [68, 104)  Uint8    per counter: the fields below

import type { BusDevice } from "./bus.js";
import type { DeviceHooks, SharedLock } from "./shared-state.js";

/** The PC's 14.31818 MHz crystal divided by 12. */
export const PIT_INPUT_HZ = 1_193_182;
/** DRAM refresh request period on the AT: port B bit 4 toggles at this rate (~66 kHz). */
const REFRESH_TOGGLE_NS = 15_085;

const TIMES_OFFSET = 0;
const WORDS_OFFSET = 48;
const COUNTS_OFFSET = 56;
const FIELDS_OFFSET = 68;
const FIELD_BYTES = 12;
export const PIT_MEMORY_BYTES = FIELDS_OFFSET + 3 * FIELD_BYTES;

// Float64 per counter (index counter * 2 + ...)
const LOAD_TIME = 0;
const FROZEN_ELAPSED = 1;
// Int32 words
const GENERATION = 0;
const PORT_B = 1;
// Uint16 per counter (index counter * 2 + ...)
const COUNT = 0;
const LATCHED_COUNT = 1;
// Uint8 per counter (index counter * FIELD_BYTES + ...)
const MODE = 0;
/** Access mode from the control word: 1 LSB only, 2 MSB only, 3 LSB then MSB (0 only before any control word). */
const ACCESS = 1;
const BCD = 2;
/** Access mode 3: the next unlatched read returns the MSB. */
const READ_MSB_NEXT = 3;
/** Access mode 3: the LSB has been written and the MSB is awaited. */
const WRITE_MSB_NEXT = 4;
const WRITTEN_LSB = 5;
/** Bytes of LATCHED_COUNT still to be read (0 = not latched). */
const LATCH_BYTES = 6;
const STATUS_LATCHED = 7;
const STATUS = 8;
/** A count has been written since the last control word: the counter is running. */
const LOADED = 9;
/** Status bit 6: a control word was written and no count has been loaded since. */
const NULL_COUNT = 10;

const ACCESS_LSB = 1;
const ACCESS_MSB = 2;
const ACCESS_BOTH = 3;

// Port B bits
const PORT_B_GATE2 = 0x01;
/** Bits 0-3 read back as written: counter 2's gate, speaker data (bit 1; no speaker is modelled), the AT's parity/channel-check enables. */
const PORT_B_WRITABLE = 0x0f;
const PORT_B_REFRESH = 0x10;
const PORT_B_OUT2 = 0x20;

const CONTROL_PORT = 3;

/** What the main thread's timer needs to raise IRQ0 at the rate the guest programmed. */
export interface PitChannel0 {
  /** Time between interrupts (or until the one interrupt, when oneShot): count / 1193182 Hz. */
  periodNs: number;
  /** Modes 0, 1, 4, 5 fire once; modes 2 and 3 fire every period. */
  oneShot: boolean;
  /** Increments on every control word or count written to counter 0: reschedule when it changes. */
  generation: number;
  /** hooks.now() when the count was loaded: interrupts are due at startNs + k * periodNs, k >= 1. */
  startNs: number;
}

/** Whole input-clock ticks in `ns` nanoseconds, exact for any elapsed time a run can reach. */
function ticksIn(ns: number): number {
  if (ns <= 0) return 0;
  // ns * 1193182 would pass 2^53 after ~7.5 s and lose ticks; split off whole seconds first.
  const seconds = Math.floor(ns / 1e9);
  return seconds * PIT_INPUT_HZ + Math.floor(((ns - seconds * 1e9) * PIT_INPUT_HZ) / 1e9);
}

export class Pit implements BusDevice {
  readonly name = "8254 PIT";
  /** Port 0x61. Registered next to the PIT (and, like it, only with a userspace irqchip: KVM's in-kernel PIT claims 0x61 too). */
  readonly portB: BusDevice;
  readonly #lock: SharedLock;
  readonly #hooks: DeviceHooks;
  readonly #times: Float64Array;
  readonly #words: Int32Array;
  readonly #counts: Uint16Array;
  readonly #f: Uint8Array;

  constructor(memory: SharedArrayBuffer, lock: SharedLock, hooks: DeviceHooks) {
    this.#lock = lock;
    this.#hooks = hooks;
    this.#times = new Float64Array(memory, TIMES_OFFSET, 6);
    this.#words = new Int32Array(memory, WORDS_OFFSET, 2);
    this.#counts = new Uint16Array(memory, COUNTS_OFFSET, 6);
    this.#f = new Uint8Array(memory, FIELDS_OFFSET, 3 * FIELD_BYTES);
    this.portB = {
      name: "system control port B (PIT counter 2 gate, speaker)",
      read: (_offset, data) => {
        const now = this.#hooks.now();
        this.#lock.acquire();
        try {
          data.fill(this.#readPortB(now));
        } finally {
          this.#lock.release();
        }
      },
      write: (_offset, data) => {
        const now = this.#hooks.now();
        this.#lock.acquire();
        try {
          this.#writePortB(data[0]!, now);
        } finally {
          this.#lock.release();
        }
      },
    };
  }

  // Byte-wide ports: a wider access reaches consecutive ports, as on the ISA bus. The clock is read
  // before taking the lock: no hook runs inside it.
  read(offset: number, data: Uint8Array): void {
    const now = this.#hooks.now();
    this.#lock.acquire();
    try {
      for (let i = 0; i < data.length; i++) {
        const port = offset + i;
        // The control port has no read path on the 8254 (the bus floats).
        data[i] = port < CONTROL_PORT ? this.#readCounter(port, now) : 0xff;
      }
    } finally {
      this.#lock.release();
    }
  }

  write(offset: number, data: Uint8Array): void {
    const now = this.#hooks.now();
    this.#lock.acquire();
    try {
      for (let i = 0; i < data.length; i++) {
        const port = offset + i;
        if (port < CONTROL_PORT) this.#writeCounter(port, data[i]!, now);
        else if (port === CONTROL_PORT) this.#writeControl(data[i]!, now);
      }
    } finally {
      this.#lock.release();
    }
  }

  /** Counter 0 as the main thread's timer should run it, or null while no count is loaded. (Its gate is tied high on the PC.) Any thread. */
  channel0(): PitChannel0 | null {
    this.#lock.acquire();
    try {
      if (!this.#f[LOADED]) return null;
      const mode = this.#f[MODE]!;
      return {
        periodNs: (this.#reload(0) * 1e9) / PIT_INPUT_HZ,
        oneShot: mode !== 2 && mode !== 3,
        generation: this.#words[GENERATION]!,
        startNs: this.#times[LOAD_TIME]!,
      };
    } finally {
      this.#lock.release();
    }
  }

  // --- everything below runs with the lock held -------------------------------------------------

  #reload(counter: number): number {
    return this.#counts[counter * 2 + COUNT]! || 0x1_0000;
  }

  #gate(counter: number): boolean {
    // Counters 0 and 1 have their gates tied high on the PC; counter 2's is port B bit 0.
    return counter !== 2 || (this.#words[PORT_B]! & PORT_B_GATE2) !== 0;
  }

  /** Input-clock ticks counted since the count was loaded (not counting while the gate was low). */
  #ticks(counter: number, now: number): number {
    const t = counter * 2;
    return ticksIn(this.#gate(counter) ? now - this.#times[t + LOAD_TIME]! : this.#times[t + FROZEN_ELAPSED]!);
  }

  #counterValue(counter: number, now: number): number {
    const d = this.#ticks(counter, now);
    const n = this.#reload(counter);
    switch (this.#f[counter * FIELD_BYTES + MODE]) {
      case 2: // rate generator: n, n-1, ..., 1, reload
        return (n - (d % n)) & 0xffff;
      case 3: // square wave: counts down by two, twice per period
        return (n - ((2 * d) % n)) & 0xffff;
      default: // modes 0, 1, 4, 5: after terminal count the counter wraps to 0xffff and keeps going
        return (n - d) & 0xffff;
    }
  }

  /** The counter's OUT pin. */
  #out(counter: number, now: number): number {
    const f = counter * FIELD_BYTES;
    const mode = this.#f[f + MODE]!;
    if (!this.#f[f + LOADED]) return mode === 0 ? 0 : 1; // a mode 0 control word drives OUT low; the others high
    if ((mode === 2 || mode === 3) && !this.#gate(counter)) return 1;
    const d = this.#ticks(counter, now);
    const n = this.#reload(counter);
    switch (mode) {
      case 0: // interrupt on terminal count: low until the count runs out, then high
      case 1:
        return d >= n ? 1 : 0;
      case 2: // high, low for the one clock when the count reaches 1
        return d % n === n - 1 ? 0 : 1;
      case 3: // high for the first half of the period (the longer half when n is odd)
        return d % n < (n + 1) >> 1 ? 1 : 0;
      default: // 4, 5: strobe: low for one clock at terminal count
        return d === n ? 0 : 1;
    }
  }

  #writeControl(value: number, now: number): void {
    const select = value >> 6;
    if (select === 3) {
      // Read-back: bits 3-1 pick counters; bit 5 low latches counts, bit 4 low latches status.
      for (let counter = 0; counter < 3; counter++) {
        if ((value & (2 << counter)) === 0) continue;
        if ((value & 0x20) === 0) this.#latchCount(counter, now);
        const f = counter * FIELD_BYTES;
        if ((value & 0x10) === 0 && !this.#f[f + STATUS_LATCHED]) {
          this.#f[f + STATUS] =
            (this.#out(counter, now) << 7) | (this.#f[f + NULL_COUNT]! << 6) | (this.#f[f + ACCESS]! << 4) | (this.#f[f + MODE]! << 1) | this.#f[f + BCD]!;
          this.#f[f + STATUS_LATCHED] = 1;
        }
      }
      return;
    }
    const access = (value >> 4) & 3;
    if (access === 0) {
      this.#latchCount(select, now);
      return;
    }
    // A new control word resets the counter's logic: it stops until a count is written.
    const f = select * FIELD_BYTES;
    const mode = (value >> 1) & 7;
    this.#f[f + MODE] = mode > 5 ? mode - 4 : mode; // 6 and 7 are aliases of 2 and 3
    this.#f[f + ACCESS] = access;
    this.#f[f + BCD] = value & 1;
    this.#f[f + READ_MSB_NEXT] = 0;
    this.#f[f + WRITE_MSB_NEXT] = 0;
    this.#f[f + LATCH_BYTES] = 0;
    this.#f[f + STATUS_LATCHED] = 0;
    this.#f[f + LOADED] = 0;
    this.#f[f + NULL_COUNT] = 1;
    if (select === 0) this.#words[GENERATION] = this.#words[GENERATION]! + 1;
  }

  /** Counter latch command: freeze the current count for reading; a second latch before it is read is ignored. */
  #latchCount(counter: number, now: number): void {
    const f = counter * FIELD_BYTES;
    if (this.#f[f + LATCH_BYTES]) return;
    this.#counts[counter * 2 + LATCHED_COUNT] = this.#counterValue(counter, now);
    this.#f[f + LATCH_BYTES] = this.#f[f + ACCESS] === ACCESS_BOTH ? 2 : 1;
  }

  #writeCounter(counter: number, value: number, now: number): void {
    const f = counter * FIELD_BYTES;
    switch (this.#f[f + ACCESS]) {
      case ACCESS_MSB:
        this.#load(counter, value << 8, now);
        return;
      case ACCESS_BOTH:
        if (!this.#f[f + WRITE_MSB_NEXT]) {
          this.#f[f + WRITTEN_LSB] = value;
          this.#f[f + WRITE_MSB_NEXT] = 1;
        } else {
          this.#f[f + WRITE_MSB_NEXT] = 0;
          this.#load(counter, this.#f[f + WRITTEN_LSB]! | (value << 8), now);
        }
        return;
      case ACCESS_LSB:
      default: // (a counter never given a control word takes LSBs too)
        this.#load(counter, value, now);
        return;
    }
  }

  #load(counter: number, count: number, now: number): void {
    const f = counter * FIELD_BYTES;
    this.#counts[counter * 2 + COUNT] = count;
    this.#times[counter * 2 + LOAD_TIME] = now;
    this.#times[counter * 2 + FROZEN_ELAPSED] = 0;
    this.#f[f + LOADED] = 1;
    this.#f[f + NULL_COUNT] = 0;
    if (counter === 0) this.#words[GENERATION] = this.#words[GENERATION]! + 1;
  }

  #readCounter(counter: number, now: number): number {
    const f = counter * FIELD_BYTES;
    if (this.#f[f + STATUS_LATCHED]) {
      this.#f[f + STATUS_LATCHED] = 0;
      return this.#f[f + STATUS]!;
    }
    const access = this.#f[f + ACCESS]!;
    const latchBytes = this.#f[f + LATCH_BYTES]!;
    if (latchBytes > 0) {
      const latched = this.#counts[counter * 2 + LATCHED_COUNT]!;
      this.#f[f + LATCH_BYTES] = latchBytes - 1;
      const msb = access === ACCESS_MSB || (access === ACCESS_BOTH && latchBytes === 1);
      return msb ? latched >> 8 : latched & 0xff;
    }
    const value = this.#counterValue(counter, now);
    if (access === ACCESS_MSB) return value >> 8;
    if (access === ACCESS_BOTH) {
      const msb = this.#f[f + READ_MSB_NEXT]!;
      this.#f[f + READ_MSB_NEXT] = msb ^ 1;
      return msb ? value >> 8 : value & 0xff;
    }
    return value & 0xff;
  }

  #readPortB(now: number): number {
    const refresh = Math.floor(now / REFRESH_TOGGLE_NS) & 1 ? PORT_B_REFRESH : 0;
    return (this.#words[PORT_B]! & PORT_B_WRITABLE) | refresh | (this.#out(2, now) ? PORT_B_OUT2 : 0);
  }

  #writePortB(value: number, now: number): void {
    const wasOpen = this.#gate(2);
    this.#words[PORT_B] = value & PORT_B_WRITABLE;
    const open = this.#gate(2);
    const t = 2 * 2;
    if (wasOpen && !open) {
      // Gate falls: counting pauses where it is.
      this.#times[t + FROZEN_ELAPSED] = now - this.#times[t + LOAD_TIME]!;
    } else if (!wasOpen && open) {
      const mode = this.#f[2 * FIELD_BYTES + MODE]!;
      // Gate rises: modes 1, 2, 3, 5 (re)start from the full count; modes 0 and 4 resume.
      this.#times[t + LOAD_TIME] = mode === 0 || mode === 4 ? now - this.#times[t + FROZEN_ELAPSED]! : now;
      this.#times[t + FROZEN_ELAPSED] = 0;
    }
  }
}
