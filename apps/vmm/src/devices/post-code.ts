// Port 0x80, the POST diagnostic port: a PC BIOS writes its progress codes here, and since writing
// it is harmless and takes about a microsecond on ISA, OSes also use `out 0x80, al` as an I/O delay.
// Writes are accepted and ignored; nothing is stored, so no lock (the benchmark guest hammers it).

import type { BusDevice } from "./bus.js";

export class PostCode implements BusDevice {
  readonly name = "POST diagnostic port";

  read(_offset: number, data: Uint8Array): void {
    data.fill(0xff); // nothing drives the bus on a read
  }

  write(_offset: number, _data: Uint8Array): void {}
}
