// kvmscope's own MMIO device: four 32-bit registers in a 4 KiB page with no RAM behind it, so every
// load and store the guest makes there is a KVM_EXIT_MMIO a student can watch.
//
//   0x0  ID        read-only   0x534d564b: the bytes "KVMS" in memory order (little-endian)
//   0x4  SCRATCH   read/write  holds any value; shared by every vCPU
//   0x8  COUNTER   read-only   each read returns how many reads there have been, this one included
//   0xc  DOORBELL  write-only  a write records the marker "doorbell <value>" (decimal) on the timeline
//
// Only aligned 32-bit accesses to those four offsets do anything. Every other access (other sizes,
// unaligned offsets, the rest of the page, writes to ID/COUNTER, reads of DOORBELL) reads as 0 and
// writes are ignored.
//
// Shared state (under the device lock): Uint32 [0] SCRATCH, [1] COUNTER.

import { dataToUint32, uint32ToData, type BusDevice } from "./bus.js";
import type { DeviceHooks, SharedLock } from "./shared-state.js";

export const TEACHING_DEVICE_MEMORY_BYTES = 8;

export const TEACHING_DEVICE_ID = 0x534d564b;
export const TEACHING_REG_ID = 0x0;
export const TEACHING_REG_SCRATCH = 0x4;
export const TEACHING_REG_COUNTER = 0x8;
export const TEACHING_REG_DOORBELL = 0xc;

const SCRATCH = 0;
const COUNTER = 1;

export class MmioTeachingDevice implements BusDevice {
  readonly name = "kvmscope teaching device (MMIO)";
  readonly #lock: SharedLock;
  readonly #hooks: DeviceHooks;
  readonly #regs: Uint32Array;

  constructor(memory: SharedArrayBuffer, lock: SharedLock, hooks: DeviceHooks) {
    this.#lock = lock;
    this.#hooks = hooks;
    this.#regs = new Uint32Array(memory, 0, 2);
  }

  read(offset: number, data: Uint8Array): void {
    let value = 0;
    if (data.length === 4) {
      if (offset === TEACHING_REG_ID) value = TEACHING_DEVICE_ID;
      else if (offset === TEACHING_REG_SCRATCH || offset === TEACHING_REG_COUNTER) {
        this.#lock.acquire();
        try {
          if (offset === TEACHING_REG_COUNTER) this.#regs[COUNTER] = this.#regs[COUNTER]! + 1; // wraps at 2^32
          value = this.#regs[offset === TEACHING_REG_SCRATCH ? SCRATCH : COUNTER]!;
        } finally {
          this.#lock.release();
        }
      }
    }
    uint32ToData(value, data);
  }

  write(offset: number, data: Uint8Array): void {
    if (data.length !== 4) return;
    if (offset === TEACHING_REG_SCRATCH) {
      this.#lock.acquire();
      try {
        this.#regs[SCRATCH] = dataToUint32(data);
      } finally {
        this.#lock.release();
      }
    } else if (offset === TEACHING_REG_DOORBELL) {
      // Stateless: no lock, and the hook runs on the vCPU thread that rang.
      this.#hooks.marker(`doorbell ${dataToUint32(data)}`);
    }
  }
}
