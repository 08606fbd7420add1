// The PC/AT's pair of 8259A programmable interrupt controllers: a master at 0x20/0x21 whose INT pin
// is the CPU's INTR line, and a slave at 0xa0/0xa1 whose INT pin drives the master's input 2.
// Used only with a userspace irqchip (no KVM_CREATE_IRQCHIP): the vCPU loop asks
// hasPendingInterrupt(), and when the guest can take it, acknowledge() plays the CPU's INTA cycle
// and the loop injects the vector with KVM_INTERRUPT.
//
// Modelled: the ICW1-ICW4 initialization sequence, IMR (OCW1), non-specific, specific and rotating
// EOI and set-priority (OCW2), reading IRR/ISR and poll mode and special mask mode (OCW3),
// auto-EOI (with rotation), edge-triggered inputs, and the spurious IRQ7. Not modelled: level-
// triggered mode (ICW1.LTIM, and the ELCR), special fully nested mode, buffered mode, 8080 mode
// (ICW4.uPM = 0 behaves as 8086 mode).
//
// Shared state (under the device lock): two 16-byte chip blocks, then the pending word.

import type { BusDevice } from "./bus.js";
import type { SharedLock } from "./shared-state.js";

const CHIP_BYTES = 16;
const MASTER = 0;
const SLAVE = CHIP_BYTES;
const PENDING_WORD_OFFSET = 2 * CHIP_BYTES;
export const PIC_MEMORY_BYTES = PENDING_WORD_OFFSET + 4;

// Chip block fields
/** Interrupt request register: inputs that have seen an edge and are not yet acknowledged. */
const IRR = 0;
/** In-service register: acknowledged, awaiting EOI. */
const ISR = 1;
/** Interrupt mask register (OCW1). */
const IMR = 2;
/** The level each input was last driven to, for edge detection. */
const INPUT_LEVEL = 3;
/** ICW2: the vector of IR0; IRn delivers VECTOR_BASE + n. */
const VECTOR_BASE = 4;
/** Which ICW the data port expects next: 0 = none (operational), 2, 3 or 4. */
const NEXT_ICW = 5;
const FLAGS = 6;
/** Rotation: the input PRIORITY_ADD has the highest priority (0 = IR0 highest, the reset state). */
const PRIORITY_ADD = 7;
/** The chip's INT output as last computed (master: the CPU's INTR line). */
const OUTPUT = 8;

// FLAGS bits
const ICW4_NEEDED = 0x01;
const SINGLE_MODE = 0x02;
const AUTO_EOI = 0x04;
const READ_ISR = 0x08;
const POLL = 0x10;
const SPECIAL_MASK = 0x20;
const ROTATE_ON_AUTO_EOI = 0x40;
/** The initialization sequence has completed since power-on or the last ICW1. */
const INITIALIZED = 0x80;

/** On the AT, the slave's INT is wired to the master's IR2. */
const CASCADE_INPUT = 2;
/** The PC/XT's IRQ2 bus pin is rerouted to the slave's IR1 (IRQ9) on the AT. */
const REDIRECTED_IRQ2 = 9;
/** What an INTA with nothing to report returns: the vector of IR7, with no ISR bit set. */
const SPURIOUS_INPUT = 7;
/** "No input" from #priority. */
const NONE = 8;

/** A snapshot of both chips, for tests and the UI. */
export interface PicState {
  master: PicChipState;
  slave: PicChipState;
  /** The CPU's INTR line. */
  intr: boolean;
}
export interface PicChipState {
  irr: number;
  isr: number;
  imr: number;
  vectorBase: number;
  initialized: boolean;
}

export class Pic {
  /** Ports 0x20 (command) and 0x21 (data). */
  readonly master: BusDevice;
  /** Ports 0xa0 (command) and 0xa1 (data). */
  readonly slave: BusDevice;
  readonly #lock: SharedLock;
  readonly #s: Uint8Array;
  readonly #pending: Int32Array;

  constructor(memory: SharedArrayBuffer, lock: SharedLock) {
    this.#lock = lock;
    this.#s = new Uint8Array(memory, 0, 2 * CHIP_BYTES);
    this.#pending = new Int32Array(memory, PENDING_WORD_OFFSET, 1);
    this.master = this.#ports(MASTER, "8259A PIC (master)");
    this.slave = this.#ports(SLAVE, "8259A PIC (slave)");
  }

  /**
   * Drive interrupt line `irq` (0-15: 0-7 the master's inputs, 8-15 the slave's) to `level`.
   * Inputs are edge-triggered: a 0->1 transition latches the request in IRR, which stays latched
   * when the line drops again, so a timer may pulse setIrq(0, 1); setIrq(0, 0). IRQ2 is the
   * cascade, so as on the AT a device raising IRQ2 reaches the slave's IR1 (IRQ9). Any thread.
   */
  setIrq(irq: number, level: 0 | 1): void {
    if (!Number.isInteger(irq) || irq < 0 || irq > 15) throw new RangeError(`Pic.setIrq: irq must be 0-15, got ${irq}`);
    if (irq === CASCADE_INPUT) irq = REDIRECTED_IRQ2;
    this.#lock.acquire();
    try {
      if (irq < 8) this.#setInput(MASTER, irq, level);
      else this.#setInput(SLAVE, irq - 8, level);
      this.#update();
    } finally {
      this.#lock.release();
    }
  }

  /**
   * The CPU's INTR line: an unmasked request outranks everything in service. The first vCPU asks
   * before every KVM_RUN, so this takes no lock: the line is one byte, always written under the
   * lock, and an atomic read of it is a consistent answer. Acting on it happens in acknowledge(),
   * under the lock, which answers a request that vanished meanwhile as the hardware does.
   */
  hasPendingInterrupt(): boolean {
    return Atomics.load(this.#s, MASTER + OUTPUT) === 1;
  }

  /**
   * The CPU's interrupt-acknowledge cycle (INTA): returns the vector to inject, moving the request
   * from IRR to ISR (unless auto-EOI). If the request went away between INTR and INTA (masked,
   * say), the 8259A answers with IR7's vector and sets no ISR bit: the spurious interrupt a guest
   * must recognize by finding ISR bit 7 clear. A cascaded request is answered by the slave, with
   * the master's IR2 in service too. Returns null only while the master has never completed its
   * initialization sequence: then it has no vector base to answer with (and never raises INTR).
   */
  acknowledge(): number | null {
    this.#lock.acquire();
    try {
      const s = this.#s;
      if ((s[MASTER + FLAGS]! & INITIALIZED) === 0) return null;
      let vector: number;
      const irq = this.#highestRequest(MASTER);
      if (irq === NONE) {
        vector = s[MASTER + VECTOR_BASE]! + SPURIOUS_INPUT;
      } else {
        this.#intack(MASTER, irq);
        if (irq === CASCADE_INPUT && (s[MASTER + FLAGS]! & SINGLE_MODE) === 0) {
          const slaveIrq = this.#highestRequest(SLAVE);
          if (slaveIrq === NONE) {
            vector = s[SLAVE + VECTOR_BASE]! + SPURIOUS_INPUT;
          } else {
            this.#intack(SLAVE, slaveIrq);
            vector = s[SLAVE + VECTOR_BASE]! + slaveIrq;
          }
        } else {
          vector = s[MASTER + VECTOR_BASE]! + irq;
        }
      }
      this.#update();
      return vector & 0xff;
    } finally {
      this.#lock.release();
    }
  }

  /**
   * A word a halted vCPU thread can sleep on. Protocol: the value is a counter that the PIC
   * increments (then Atomics.notify's) every time INTR rises. To wait without missing a wake-up:
   *
   *   const seen = Atomics.load(array, index);        // 1. read the counter first
   *   if (!pic.hasPendingInterrupt())                   // 2. then check the line
   *     Atomics.wait(array, index, seen, timeoutMs);    // 3. sleeps only if nothing rose since 1
   *
   * Anyone may bump it to wake sleepers for another reason (wakeWaiters(), e.g. to stop or pause
   * a vCPU); a waiter must always re-check its state after waking. Read it with Atomics only.
   */
  pendingWord(): { array: Int32Array; index: number } {
    return { array: this.#pending, index: 0 };
  }

  /** Wake every thread sleeping on pendingWord() (a stop or pause request, not an interrupt). */
  wakeWaiters(): void {
    Atomics.add(this.#pending, 0, 1);
    Atomics.notify(this.#pending, 0);
  }

  /** Both chips' registers, for tests and the UI. */
  state(): PicState {
    this.#lock.acquire();
    try {
      return { master: this.#chipState(MASTER), slave: this.#chipState(SLAVE), intr: this.#s[MASTER + OUTPUT] === 1 };
    } finally {
      this.#lock.release();
    }
  }

  // --- everything below runs with the lock held -------------------------------------------------

  #chipState(c: number): PicChipState {
    const s = this.#s;
    return { irr: s[c + IRR]!, isr: s[c + ISR]!, imr: s[c + IMR]!, vectorBase: s[c + VECTOR_BASE]!, initialized: (s[c + FLAGS]! & INITIALIZED) !== 0 };
  }

  #ports(c: number, name: string): BusDevice {
    return {
      name,
      // Byte-wide chip: a wider access reaches consecutive ports (an `out 0x20, ax` writes 0x20 then 0x21).
      read: (offset, data) => {
        this.#lock.acquire();
        try {
          for (let i = 0; i < data.length; i++) data[i] = this.#readPort(c, offset + i);
        } finally {
          this.#lock.release();
        }
      },
      write: (offset, data) => {
        this.#lock.acquire();
        try {
          for (let i = 0; i < data.length; i++) this.#writePort(c, offset + i, data[i]!);
        } finally {
          this.#lock.release();
        }
      },
    };
  }

  #setInput(c: number, input: number, level: 0 | 1): void {
    const s = this.#s;
    const bit = 1 << input;
    if (level) {
      if ((s[c + INPUT_LEVEL]! & bit) === 0) s[c + IRR] = s[c + IRR]! | bit;
      s[c + INPUT_LEVEL] = s[c + INPUT_LEVEL]! | bit;
    } else {
      s[c + INPUT_LEVEL] = s[c + INPUT_LEVEL]! & ~bit;
    }
  }

  /**
   * Priority order: 0 for the highest-priority bit set in mask, 7 for the lowest, NONE if empty.
   * Without rotation IR0 is highest; after rotation, PRIORITY_ADD is.
   */
  #priority(c: number, mask: number): number {
    if (mask === 0) return NONE;
    const add = this.#s[c + PRIORITY_ADD]!;
    let p = 0;
    while ((mask & (1 << ((p + add) & 7))) === 0) p++;
    return p;
  }

  /** The input the chip would present at INTA: the best unmasked request that outranks everything in service; NONE otherwise. */
  #highestRequest(c: number): number {
    const s = this.#s;
    const request = this.#priority(c, s[c + IRR]! & ~s[c + IMR]!);
    if (request === NONE) return NONE;
    let inService = s[c + ISR]!;
    // Special mask mode: a masked in-service level no longer blocks lower priorities.
    if (s[c + FLAGS]! & SPECIAL_MASK) inService &= ~s[c + IMR]!;
    return request < this.#priority(c, inService) ? (request + s[c + PRIORITY_ADD]!) & 7 : NONE;
  }

  #intack(c: number, input: number): void {
    const s = this.#s;
    const flags = s[c + FLAGS]!;
    if (flags & AUTO_EOI) {
      if (flags & ROTATE_ON_AUTO_EOI) s[c + PRIORITY_ADD] = (input + 1) & 7;
    } else {
      s[c + ISR] = s[c + ISR]! | (1 << input);
    }
    s[c + IRR] = s[c + IRR]! & ~(1 << input); // edge-triggered: the latched request is consumed
  }

  /** Recompute the cascade and INTR after any change; bump the pending word when INTR rises. */
  #update(): void {
    const s = this.#s;
    const slaveOut = this.#operational(SLAVE) && this.#highestRequest(SLAVE) !== NONE ? 1 : 0;
    s[SLAVE + OUTPUT] = slaveOut;
    // The cascade input latches whenever the slave has something to present, not only on the
    // slave's rising edge (KVM's i8259 pulses IR2 the same way): otherwise a second slave request
    // arriving while the slave's INT is still high (auto-EOI) would never reach the master.
    if (slaveOut) s[MASTER + IRR] = s[MASTER + IRR]! | (1 << CASCADE_INPUT);
    const intr = this.#operational(MASTER) && this.#highestRequest(MASTER) !== NONE ? 1 : 0;
    if (intr !== s[MASTER + OUTPUT]) {
      s[MASTER + OUTPUT] = intr;
      if (intr) {
        Atomics.add(this.#pending, 0, 1);
        Atomics.notify(this.#pending, 0);
      }
    }
  }

  /** Initialized and not in the middle of a new ICW sequence: the 8259A raises INT only then. */
  #operational(c: number): boolean {
    return (this.#s[c + FLAGS]! & INITIALIZED) !== 0 && this.#s[c + NEXT_ICW] === 0;
  }

  #readPort(c: number, port: number): number {
    const s = this.#s;
    if (port > 1) return 0xff; // a wide access past the chip's two ports
    if (s[c + FLAGS]! & POLL) {
      // OCW3 poll: this read is the acknowledge; it returns 0x80 | level, or 0 when nothing is pending.
      s[c + FLAGS] = s[c + FLAGS]! & ~POLL;
      const input = this.#highestRequest(c);
      if (input === NONE) return 0;
      this.#intack(c, input);
      this.#update();
      return 0x80 | input;
    }
    if (port === 1) return s[c + IMR]!;
    return s[c + FLAGS]! & READ_ISR ? s[c + ISR]! : s[c + IRR]!;
  }

  #writePort(c: number, port: number, value: number): void {
    if (port === 0) this.#writeCommand(c, value);
    else if (port === 1) this.#writeData(c, value);
    this.#update();
  }

  #writeCommand(c: number, value: number): void {
    const s = this.#s;
    if (value & 0x10) {
      // ICW1: restart initialization. IMR, ISR and IRR clear, IR0 gets top priority, reads select
      // IRR, ICW4 features reset. Input levels are kept: an input already high must go low and
      // high again to request (the edge-sense circuit resets).
      s[c + IRR] = 0;
      s[c + ISR] = 0;
      s[c + IMR] = 0;
      s[c + PRIORITY_ADD] = 0;
      s[c + FLAGS] = (value & 0x01 ? ICW4_NEEDED : 0) | (value & 0x02 ? SINGLE_MODE : 0);
      s[c + NEXT_ICW] = 2;
    } else if (value & 0x08) {
      // OCW3
      let flags = s[c + FLAGS]!;
      if (value & 0x04) flags |= POLL;
      if (value & 0x02) flags = value & 0x01 ? flags | READ_ISR : flags & ~READ_ISR;
      if (value & 0x40) flags = value & 0x20 ? flags | SPECIAL_MASK : flags & ~SPECIAL_MASK;
      s[c + FLAGS] = flags;
    } else {
      // OCW2: bits 7-5 select the operation, bits 2-0 the level for the specific ones.
      const level = value & 7;
      switch (value >> 5) {
        case 0b001: // non-specific EOI: the highest-priority level in service ends
        case 0b101: {
          // ... and with rotation, it becomes the lowest priority
          const p = this.#priority(c, s[c + ISR]!);
          if (p === NONE) break;
          const input = (p + s[c + PRIORITY_ADD]!) & 7;
          s[c + ISR] = s[c + ISR]! & ~(1 << input);
          if (value >> 5 === 0b101) s[c + PRIORITY_ADD] = (input + 1) & 7;
          break;
        }
        case 0b011: // specific EOI
          s[c + ISR] = s[c + ISR]! & ~(1 << level);
          break;
        case 0b111: // rotate on specific EOI
          s[c + ISR] = s[c + ISR]! & ~(1 << level);
          s[c + PRIORITY_ADD] = (level + 1) & 7;
          break;
        case 0b110: // set priority: `level` becomes the lowest
          s[c + PRIORITY_ADD] = (level + 1) & 7;
          break;
        case 0b100: // rotate in auto-EOI mode: set
          s[c + FLAGS] = s[c + FLAGS]! | ROTATE_ON_AUTO_EOI;
          break;
        case 0b000: // rotate in auto-EOI mode: clear
          s[c + FLAGS] = s[c + FLAGS]! & ~ROTATE_ON_AUTO_EOI;
          break;
        default: // 0b010: no operation
          break;
      }
    }
  }

  #writeData(c: number, value: number): void {
    const s = this.#s;
    const flags = s[c + FLAGS]!;
    switch (s[c + NEXT_ICW]) {
      case 0: // OCW1
        s[c + IMR] = value;
        return;
      case 2: // ICW2: the vector base (its low 3 bits are the input number in 8086 mode)
        s[c + VECTOR_BASE] = value & 0xf8;
        s[c + NEXT_ICW] = flags & SINGLE_MODE ? (flags & ICW4_NEEDED ? 4 : 0) : 3;
        break;
      case 3: // ICW3: the cascade wiring, fixed on the AT (slave on IR2, slave ID 2): accepted, not checked
        s[c + NEXT_ICW] = flags & ICW4_NEEDED ? 4 : 0;
        break;
      case 4: // ICW4: only AEOI (bit 1) changes behaviour here
        s[c + FLAGS] = value & 0x02 ? flags | AUTO_EOI : flags & ~AUTO_EOI;
        s[c + NEXT_ICW] = 0;
        break;
    }
    if (s[c + NEXT_ICW] === 0) s[c + FLAGS] = s[c + FLAGS]! | INITIALIZED;
  }
}
