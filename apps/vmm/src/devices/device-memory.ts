// The shared memory of every device, allocated once per VM on the main thread and handed to each
// vCPU thread in workerData. Here, not in shared-state.ts: this is the one file that knows every
// device's size, and the devices themselves import only shared-state.ts (the lock and hooks).
import { DEBUGCON_MEMORY_BYTES } from "./debugcon.js";
import { TEACHING_DEVICE_MEMORY_BYTES } from "./mmio-teaching-device.js";
import { PIC_MEMORY_BYTES } from "./pic-8259.js";
import { PIT_MEMORY_BYTES } from "./pit-8254.js";
import { UART_MEMORY_BYTES } from "./uart-16550.js";

/**
 * Every device's shared state for one VM: SharedArrayBuffers only, in a plain object, so it can
 * travel in workerData (structured clone shares, rather than copies, a SharedArrayBuffer).
 */
export interface DeviceMemory {
  /** Int32[1]: the device lock (the analogue of qemu's global mutex). */
  readonly lock: SharedArrayBuffer;
  readonly uart: SharedArrayBuffer;
  readonly debugcon: SharedArrayBuffer;
  readonly pic: SharedArrayBuffer;
  readonly pit: SharedArrayBuffer;
  readonly teachingDevice: SharedArrayBuffer;
}

const MEMORY_BYTES: Readonly<Record<keyof DeviceMemory, number>> = {
  lock: Int32Array.BYTES_PER_ELEMENT,
  uart: UART_MEMORY_BYTES,
  debugcon: DEBUGCON_MEMORY_BYTES,
  pic: PIC_MEMORY_BYTES,
  pit: PIT_MEMORY_BYTES,
  teachingDevice: TEACHING_DEVICE_MEMORY_BYTES,
};

/**
 * Allocate the shared state of every device (main thread, once per VM). Zero-filled memory is
 * every device's power-on state.
 */
export function allocateDeviceMemory(): DeviceMemory {
  return {
    lock: new SharedArrayBuffer(MEMORY_BYTES.lock),
    uart: new SharedArrayBuffer(MEMORY_BYTES.uart),
    debugcon: new SharedArrayBuffer(MEMORY_BYTES.debugcon),
    pic: new SharedArrayBuffer(MEMORY_BYTES.pic),
    pit: new SharedArrayBuffer(MEMORY_BYTES.pit),
    teachingDevice: new SharedArrayBuffer(MEMORY_BYTES.teachingDevice),
  };
}

/** Throws a TypeError naming the field when `memory` is not what allocateDeviceMemory made (e.g. lost in a postMessage). */
export function checkDeviceMemory(memory: DeviceMemory): void {
  for (const [field, bytes] of Object.entries(MEMORY_BYTES) as [keyof DeviceMemory, number][]) {
    const buffer: unknown = memory[field];
    if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength !== bytes) {
      throw new TypeError(`DeviceMemory.${field} must be the ${bytes}-byte SharedArrayBuffer from allocateDeviceMemory(); pass the same object to every thread in workerData`);
    }
  }
}
