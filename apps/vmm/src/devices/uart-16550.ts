// A 16550A UART, polled mode: the guest's console. Enough of the register file behaves for a
// guest's serial driver to probe and use it (scratch register, divisor latch, loopback test, FIFO
// bits in IIR), but there is no baud-rate timing and no interrupt: the transmitter is always
// empty, and IIR always reads "no interrupt pending". IER is stored and read back only.
//
// Bytes the guest transmits go into a shared ring that the main thread drains; when the main
// thread falls behind, bytes are dropped and counted, never waited for: a vCPU must not block on
// the console. Bytes the main thread pushes in are queued for RBR.
//
// Shared state (one SharedArrayBuffer, every access under the device lock):
//   [0, 8)     Float64  dropped output bytes
//   [8, 24)    Uint32   tx read, tx write, rx read, rx write (free-running counters, wrap at 2^32)
//   [24, 40)   Uint8    registers (see REG_*)
//   [40, ...)  the TX ring, then the RX ring

import type { BusDevice } from "./bus.js";
import type { SharedLock } from "./shared-state.js";

/** Output ring: at the ~100 kB/s a flooding guest manages, several hundred ms of slack. */
const TX_CAPACITY = 64 * 1024;
/** Input queue. A real 16550 holds 16 bytes; more is harmless and spares the main thread retries. */
const RX_CAPACITY = 4 * 1024;

const COUNTERS_OFFSET = 8;
const REGS_OFFSET = 24;
const TX_OFFSET = 40;
const RX_OFFSET = TX_OFFSET + TX_CAPACITY;
export const UART_MEMORY_BYTES = RX_OFFSET + RX_CAPACITY;

// Counters
const TX_READ = 0;
const TX_WRITE = 1;
const RX_READ = 2;
const RX_WRITE = 3;

// Stored registers (index into the register bytes)
const REG_IER = 0;
const REG_LCR = 1;
const REG_MCR = 2;
const REG_SCR = 3;
const REG_DLL = 4;
const REG_DLM = 5;
/** FCR bit 0 (FIFOs enabled): FCR itself is write-only, but IIR reports this bit. */
const REG_FIFO_ENABLED = 6;
/** LSR bit 1 (overrun error), sticky until LSR is read. Only loopback can overrun: pushInput never does. */
const REG_OVERRUN = 7;

// Register offsets from the base port (the 8250 family's register file)
const RBR_THR_DLL = 0;
const IER_DLM = 1;
const IIR_FCR = 2;
const LCR = 3;
const MCR = 4;
const LSR = 5;
const MSR = 6;
const SCR = 7;

const LCR_DLAB = 0x80;
const MCR_LOOPBACK = 0x10;
const IIR_NO_INTERRUPT = 0x01;
const IIR_FIFOS_ENABLED = 0xc0;
const LSR_DATA_READY = 0x01;
const LSR_OVERRUN = 0x02;
/** THR empty and transmitter empty: we "send" a byte the moment it is written. */
const LSR_TX_IDLE = 0x60;
/** Carrier detect, data set ready, clear to send: a terminal is attached. */
const MSR_CONNECTED = 0xb0;
const FCR_ENABLE_FIFOS = 0x01;
const FCR_CLEAR_RX = 0x02;

export class Uart implements BusDevice {
  readonly name: string;
  readonly #lock: SharedLock;
  readonly #dropped: Float64Array;
  readonly #counters: Uint32Array;
  readonly #regs: Uint8Array;
  readonly #tx: Uint8Array;
  readonly #rx: Uint8Array;

  constructor(memory: SharedArrayBuffer, lock: SharedLock, name = "16550 UART (COM1)") {
    this.name = name;
    this.#lock = lock;
    this.#dropped = new Float64Array(memory, 0, 1);
    this.#counters = new Uint32Array(memory, COUNTERS_OFFSET, 4);
    this.#regs = new Uint8Array(memory, REGS_OFFSET, 8);
    this.#tx = new Uint8Array(memory, TX_OFFSET, TX_CAPACITY);
    this.#rx = new Uint8Array(memory, RX_OFFSET, RX_CAPACITY);
  }

  // --- the guest's side (a vCPU thread) -------------------------------------------------------

  read(offset: number, data: Uint8Array): void {
    // The UART is byte-wide: a wider IN reads consecutive registers, as an ISA bus would.
    this.#lock.acquire();
    try {
      for (let i = 0; i < data.length; i++) data[i] = this.#readRegister(offset + i);
    } finally {
      this.#lock.release();
    }
  }

  write(offset: number, data: Uint8Array): void {
    this.#lock.acquire();
    try {
      for (let i = 0; i < data.length; i++) this.#writeRegister(offset + i, data[i]!);
    } finally {
      this.#lock.release();
    }
  }

  // --- the host's side (main thread) ----------------------------------------------------------

  /** Take everything the guest has transmitted since the last call (empty when nothing). */
  drainOutput(): Uint8Array {
    this.#lock.acquire();
    try {
      const c = this.#counters;
      const count = (c[TX_WRITE]! - c[TX_READ]!) >>> 0;
      const out = new Uint8Array(count);
      const start = c[TX_READ]! % TX_CAPACITY;
      const first = Math.min(count, TX_CAPACITY - start);
      out.set(this.#tx.subarray(start, start + first), 0);
      out.set(this.#tx.subarray(0, count - first), first);
      c[TX_READ] = c[TX_WRITE]!;
      return out;
    } finally {
      this.#lock.release();
    }
  }

  /** Bytes the guest transmitted that were dropped because the output ring was full. */
  droppedOutputBytes(): number {
    this.#lock.acquire();
    try {
      return this.#dropped[0]!;
    } finally {
      this.#lock.release();
    }
  }

  /** Queue bytes for the guest to read from RBR. Returns how many fit; keep the rest and retry later. */
  pushInput(bytes: Uint8Array): number {
    this.#lock.acquire();
    try {
      let accepted = 0;
      while (accepted < bytes.length && this.#pushRx(bytes[accepted]!)) accepted++;
      return accepted;
    } finally {
      this.#lock.release();
    }
  }

  // --- registers (lock held) --------------------------------------------------------------------

  #readRegister(offset: number): number {
    const r = this.#regs;
    const dlab = (r[REG_LCR]! & LCR_DLAB) !== 0;
    switch (offset) {
      case RBR_THR_DLL:
        return dlab ? r[REG_DLL]! : this.#popRx();
      case IER_DLM:
        return dlab ? r[REG_DLM]! : r[REG_IER]!;
      case IIR_FCR:
        return IIR_NO_INTERRUPT | (r[REG_FIFO_ENABLED] ? IIR_FIFOS_ENABLED : 0);
      case LCR:
        return r[REG_LCR]!;
      case MCR:
        return r[REG_MCR]!;
      case LSR: {
        const overrun = r[REG_OVERRUN] ? LSR_OVERRUN : 0;
        r[REG_OVERRUN] = 0; // error bits clear when LSR is read
        return LSR_TX_IDLE | overrun | (this.#rxCount() > 0 ? LSR_DATA_READY : 0);
      }
      case MSR: {
        const mcr = r[REG_MCR]!;
        if ((mcr & MCR_LOOPBACK) === 0) return MSR_CONNECTED;
        // Loopback ties the modem outputs to the inputs: RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD.
        // A serial driver's probe writes RTS|OUT2 in loopback and expects CTS|DCD (0x90) back.
        return ((mcr & 0x02) << 3) | ((mcr & 0x01) << 5) | ((mcr & 0x04) << 4) | ((mcr & 0x08) << 4);
      }
      case SCR:
        return r[REG_SCR]!;
      default:
        return 0xff; // past the register file (a wide access at the top of the range)
    }
  }

  #writeRegister(offset: number, value: number): void {
    const r = this.#regs;
    const dlab = (r[REG_LCR]! & LCR_DLAB) !== 0;
    switch (offset) {
      case RBR_THR_DLL:
        if (dlab) r[REG_DLL] = value;
        else if (r[REG_MCR]! & MCR_LOOPBACK) {
          // Loopback: the transmitter feeds the receiver and nothing leaves the chip.
          if (!this.#pushRx(value)) r[REG_OVERRUN] = 1;
        } else this.#pushTx(value);
        return;
      case IER_DLM:
        if (dlab) r[REG_DLM] = value;
        else r[REG_IER] = value & 0x0f;
        return;
      case IIR_FCR: {
        const enable = value & FCR_ENABLE_FIFOS;
        // Turning the FIFOs on or off empties them, as does the RX-clear bit.
        if (enable !== r[REG_FIFO_ENABLED] || value & FCR_CLEAR_RX) this.#counters[RX_READ] = this.#counters[RX_WRITE]!;
        r[REG_FIFO_ENABLED] = enable;
        return;
      }
      case LCR:
        r[REG_LCR] = value;
        return;
      case MCR:
        r[REG_MCR] = value & 0x1f;
        return;
      case SCR:
        r[REG_SCR] = value;
        return;
      default:
        return; // LSR and MSR are read-only (LSR writes are a factory test mode); beyond 7: nothing
    }
  }

  #pushTx(byte: number): void {
    const c = this.#counters;
    if (((c[TX_WRITE]! - c[TX_READ]!) >>> 0) === TX_CAPACITY) {
      this.#dropped[0] = this.#dropped[0]! + 1;
      return;
    }
    this.#tx[c[TX_WRITE]! % TX_CAPACITY] = byte;
    c[TX_WRITE] = c[TX_WRITE]! + 1; // the Uint32Array store wraps at 2^32, as the arithmetic expects
  }

  #rxCount(): number {
    return (this.#counters[RX_WRITE]! - this.#counters[RX_READ]!) >>> 0;
  }

  #pushRx(byte: number): boolean {
    const c = this.#counters;
    if (this.#rxCount() === RX_CAPACITY) return false;
    this.#rx[c[RX_WRITE]! % RX_CAPACITY] = byte;
    c[RX_WRITE] = c[RX_WRITE]! + 1;
    return true;
  }

  /** RBR with nothing received reads 0. */
  #popRx(): number {
    if (this.#rxCount() === 0) return 0;
    const c = this.#counters;
    const byte = this.#rx[c[RX_READ]! % RX_CAPACITY]!;
    c[RX_READ] = c[RX_READ]! + 1;
    return byte;
  }
}
