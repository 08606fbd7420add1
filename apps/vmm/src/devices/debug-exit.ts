// QEMU's isa-debug-exit: a guest writes a value to end the run, which is how test guests report
// pass/fail without a shutdown path. QEMU exits with status (value << 1) | 1, so a guest can never
// produce status 0 this way; the CLI keeps that convention. No state, so no lock.

import { dataToUint32, type BusDevice } from "./bus.js";
import type { DeviceHooks } from "./shared-state.js";

export class DebugExit implements BusDevice {
  readonly name = "isa-debug-exit";
  readonly #hooks: DeviceHooks;

  constructor(hooks: DeviceHooks) {
    this.#hooks = hooks;
  }

  read(_offset: number, data: Uint8Array): void {
    data.fill(0xff);
  }

  /** Any write size: QEMU takes the whole value written (a guest may use OUT imm8, AL or OUT DX, EAX). */
  write(_offset: number, data: Uint8Array): void {
    this.#hooks.debugExit(dataToUint32(data));
  }
}
