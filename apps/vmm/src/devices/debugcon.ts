// The debug console at port 0xe9 (Bochs's "port e9 hack", QEMU's -debugcon): the cheapest way for a
// guest to print, one OUT per byte, no status polling. Each finished line becomes a marker on the
// run's timeline, recorded by the thread whose vCPU wrote the newline.
//
// Several vCPUs may write at once, so the partial line lives in shared memory under the device
// lock (their bytes interleave, as they would on the real port). Shared state:
//   [0, 4)    Uint32  bytes in the partial line
//   [4, 204)  Uint8   the partial line

import type { BusDevice } from "./bus.js";
import type { DeviceHooks, SharedLock } from "./shared-state.js";

/** A line this long is flushed as a marker without waiting for its newline, so a guest that never prints one still shows up. */
export const DEBUGCON_LINE_MAX = 200;
export const DEBUGCON_MEMORY_BYTES = 4 + DEBUGCON_LINE_MAX;

/** What a read of the port returns: Bochs's detection value (the port's own number). */
const DETECTION_VALUE = 0xe9;
const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

const utf8 = new TextDecoder("utf-8");

export class Debugcon implements BusDevice {
  readonly name = "debugcon (Bochs port 0xe9)";
  readonly #lock: SharedLock;
  readonly #hooks: DeviceHooks;
  readonly #length: Uint32Array;
  readonly #line: Uint8Array;

  constructor(memory: SharedArrayBuffer, lock: SharedLock, hooks: DeviceHooks) {
    this.#lock = lock;
    this.#hooks = hooks;
    this.#length = new Uint32Array(memory, 0, 1);
    this.#line = new Uint8Array(memory, 4, DEBUGCON_LINE_MAX);
  }

  read(_offset: number, data: Uint8Array): void {
    data.fill(DETECTION_VALUE);
  }

  write(_offset: number, data: Uint8Array): void {
    // Finished lines are collected under the lock and handed to the hook after it is released: a
    // hook records a trace marker and must not run inside the device lock.
    let finished: string[] | null = null;
    this.#lock.acquire();
    try {
      for (let i = 0; i < data.length; i++) {
        const byte = data[i]!;
        if (byte === NEWLINE) {
          (finished ??= []).push(this.#takeLine());
          continue;
        }
        const length = this.#length[0]!;
        this.#line[length] = byte;
        this.#length[0] = length + 1;
        if (length + 1 === DEBUGCON_LINE_MAX) (finished ??= []).push(this.#takeLine());
      }
    } finally {
      this.#lock.release();
    }
    if (finished !== null) for (const line of finished) if (line !== "") this.#hooks.marker(line);
  }

  /** End of run: a partial line left without its newline becomes a marker too (on the calling thread). */
  flush(): void {
    this.#lock.acquire();
    let line: string;
    try {
      line = this.#takeLine();
    } finally {
      this.#lock.release();
    }
    if (line !== "") this.#hooks.marker(line);
  }

  /** Empty the partial line and return it (lock held). A CR before the newline is dropped; blank lines come back as "". */
  #takeLine(): string {
    let length = this.#length[0]!;
    this.#length[0] = 0;
    if (length > 0 && this.#line[length - 1] === CARRIAGE_RETURN) length--;
    // slice() copies into an ordinary ArrayBuffer: TextDecoder does not accept shared memory.
    return utf8.decode(this.#line.slice(0, length));
  }
}
