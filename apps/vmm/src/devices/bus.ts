// The I/O bus: who answers an IN/OUT or an MMIO access. The bus owns the address ranges; a device
// only ever sees an offset from the start of its own range, so the same device class could sit at
// COM1 or COM2 without knowing.
//
// qemu-kvm 0.14: kvm_handle_io (kvm-all.c) hands a port access to qemu's ioport table (ioport.c),
// and a KVM_EXIT_MMIO goes to cpu_physical_memory_rw; Bus.read/Bus.write play both roles, one
// instance per address space (the PIO bus and the MMIO bus are kept apart, as rust-vmm does).

/** A device model on a bus. Called on whichever thread took the exit (see shared-state.ts). */
export interface BusDevice {
  /** Shown in traces and in the port map, e.g. "16550 UART (COM1)". */
  readonly name: string;
  /**
   * Fill `data` (its length is the access size: 1, 2 or 4 for port I/O, up to 8 for MMIO) with
   * the value read at `offset` from the start of the device's range, little-endian.
   */
  read(offset: number, data: Uint8Array): void;
  /** `data` holds the value the guest wrote at `offset`, little-endian. */
  write(offset: number, data: Uint8Array): void;
}

/** One past the largest address a JS number holds exactly: the top of the MMIO bus. */
const MMIO_SPACE_END = 2 ** 53;
/** x86 port space: 16-bit port numbers. */
const PIO_SPACE_END = 0x1_0000;

const hex = (n: number): string => `0x${n.toString(16)}`;

/** A half-open range [base, base + length). */
export class BusRange {
  readonly base: number;
  readonly length: number;

  constructor(base: number, length: number) {
    if (!Number.isSafeInteger(base) || base < 0) {
      throw new RangeError(`BusRange: base must be a non-negative integer below 2^53, got ${base}`);
    }
    if (!Number.isSafeInteger(length) || length <= 0) {
      throw new RangeError(`BusRange: length must be a positive integer, got ${length} (at ${hex(base)})`);
    }
    // Written as a subtraction: MMIO_SPACE_END - base is exact, base + length might round.
    if (length > MMIO_SPACE_END - base) {
      throw new RangeError(`BusRange: ${hex(base)} + ${hex(length)} overflows the 2^53 address space`);
    }
    this.base = base;
    this.length = length;
  }

  /** One past the last address. */
  get end(): number {
    return this.base + this.length;
  }

  overlaps(other: BusRange): boolean {
    return this.base < other.end && other.base < this.end;
  }

  toString(): string {
    return `${hex(this.base)}-${hex(this.end - 1)}`;
  }
}

/** One address space. Two instances per VM: the PIO bus (ports) and the MMIO bus. */
export class Bus {
  readonly kind: "pio" | "mmio";
  // Registered ranges sorted by base; parallel arrays so the hot path touches no objects but
  // the device itself.
  #bases: number[] = [];
  #ends: number[] = [];
  #devices: BusDevice[] = [];
  /**
   * PIO only: port -> 1 + index into the arrays above (0 = unassigned). 128 KiB per bus; turns a
   * port lookup into one load, for the guests that do an OUT per instruction.
   */
  #portIndex: Uint16Array | null;

  constructor(kind: "pio" | "mmio") {
    if (kind !== "pio" && kind !== "mmio") throw new TypeError(`Bus: kind must be "pio" or "mmio", got ${String(kind)}`);
    this.kind = kind;
    this.#portIndex = kind === "pio" ? new Uint16Array(PIO_SPACE_END) : null;
  }

  /** Register `device` at `range`. Throws if the range leaves the address space or overlaps. */
  insert(range: BusRange, device: BusDevice): void {
    const limit = this.kind === "pio" ? PIO_SPACE_END : MMIO_SPACE_END;
    if (range.end > limit) {
      throw new RangeError(`${this.kind} bus: ${range} for "${device.name}" lies beyond the ${this.kind === "pio" ? "16-bit port" : "2^53 address"} space`);
    }
    for (let i = 0; i < this.#devices.length; i++) {
      const other = new BusRange(this.#bases[i]!, this.#ends[i]! - this.#bases[i]!);
      if (range.overlaps(other)) {
        throw new Error(`${this.kind} bus: ${range} for "${device.name}" overlaps ${other} of "${this.#devices[i]!.name}"`);
      }
    }
    let at = 0;
    while (at < this.#bases.length && this.#bases[at]! < range.base) at++;
    this.#bases.splice(at, 0, range.base);
    this.#ends.splice(at, 0, range.end);
    this.#devices.splice(at, 0, device);
    if (this.#portIndex !== null) {
      // Indices after `at` shifted: rebuild the table (insertions happen once, at machine setup).
      this.#portIndex.fill(0);
      for (let i = 0; i < this.#devices.length; i++) this.#portIndex.fill(i + 1, this.#bases[i]!, this.#ends[i]!);
    }
  }

  /**
   * A guest read (IN, or an MMIO load) at `addr`. Routed by the access's first address and handed
   * whole to that device; our byte-wide ISA devices split a wider access into byte accesses at
   * consecutive offsets, as the ISA bus splits a 16-bit cycle aimed at an 8-bit card.
   * Returns the device name that handled it, or null when unassigned (then data is filled with
   * 0xff, what a floating ISA data bus reads as).
   */
  read(addr: number, data: Uint8Array): string | null {
    const i = this.#find(addr);
    if (i < 0) {
      data.fill(0xff);
      return null;
    }
    const device = this.#devices[i]!;
    device.read(addr - this.#bases[i]!, data);
    return device.name;
  }

  /** A guest write (OUT, or an MMIO store). Returns the device name, or null when unassigned (the write is dropped). */
  write(addr: number, data: Uint8Array): string | null {
    const i = this.#find(addr);
    if (i < 0) return null;
    const device = this.#devices[i]!;
    device.write(addr - this.#bases[i]!, data);
    return device.name;
  }

  /** The port map (or MMIO map), sorted by address: for docs, traces and the UI. */
  ranges(): { base: number; length: number; name: string }[] {
    return this.#devices.map((device, i) => ({ base: this.#bases[i]!, length: this.#ends[i]! - this.#bases[i]!, name: device.name }));
  }

  /** Index of the range containing addr, or -1. */
  #find(addr: number): number {
    if (this.#portIndex !== null) {
      // Out-of-range or fractional ports index to undefined: unassigned.
      return (this.#portIndex[addr] ?? 0) - 1;
    }
    // Binary search for the last range whose base <= addr.
    let lo = 0;
    let hi = this.#bases.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#bases[mid]! <= addr) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found >= 0 && addr < this.#ends[found]! ? found : -1;
  }
}

/** The little-endian value of an access's data (1 to 4 bytes; wider accesses keep the low 32 bits). */
export function dataToUint32(data: Uint8Array): number {
  let value = 0;
  const n = Math.min(data.length, 4);
  for (let i = n - 1; i >= 0; i--) value = (value << 8) | data[i]!;
  return value >>> 0;
}

/** Store `value` little-endian into an access's data; bytes beyond the low 32 bits read as 0. */
export function uint32ToData(value: number, data: Uint8Array): void {
  for (let i = 0; i < data.length; i++) data[i] = i < 4 ? (value >>> (8 * i)) & 0xff : 0;
}
