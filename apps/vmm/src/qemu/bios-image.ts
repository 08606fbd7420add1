// A kvmscope guest as a `-bios` image for real QEMU. The template (guests/src/qemu-bios/reset.S,
// assembled at install into guests/build/qemu-bios.bin) is a 64 KiB ROM whose reset vector copies
// a guest image to 0x7c00, wakes the other vCPUs with INIT/SIPI when there are several, and enters
// the guest under our machine contract (real mode, CS:IP 0000:7c00, registers 0). This file writes
// a guest into a copy of it. The offsets are the template's header, see reset.S.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { GUESTS_DIR } from "../paths.js";

export const QEMU_BIOS_LAYOUT = {
  /** The whole ROM: QEMU maps a 64 KiB `-bios` at 0xf0000 and just below 4 GiB. */
  bytes: 0x10000,
  /** u16: how many bytes of guest image follow at `payload`. */
  length: 0x10,
  /** u8: 1 to send INIT/SIPI to the other vCPUs before entering the guest. */
  wakeAps: 0x12,
  /** Where the guest image sits in the ROM. */
  payload: 0x1000,
  /** The reset vector: the payload must end before it. */
  resetVector: 0xfff0,
} as const;

/** The largest guest image that fits the 64 KiB ROM between the payload offset and the reset vector. */
export const QEMU_BIOS_MAX_GUEST_BYTES = QEMU_BIOS_LAYOUT.resetVector - QEMU_BIOS_LAYOUT.payload;

const TEMPLATE = join(GUESTS_DIR, "build", "qemu-bios.bin");

let template: Uint8Array | undefined;

/** The assembled template; a clear error where the build did not make it. */
export function loadQemuBiosTemplate(): Uint8Array {
  if (template) return template;
  const path = TEMPLATE;
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`npm run build\` at the repository root to assemble the QEMU -bios template`);
  const bytes = new Uint8Array(readFileSync(path));
  if (bytes.length !== QEMU_BIOS_LAYOUT.bytes) throw new Error(`${path}: ${bytes.length} bytes, expected ${QEMU_BIOS_LAYOUT.bytes}`);
  template = bytes;
  return bytes;
}

/**
 * The `-bios` image that runs `guest` under QEMU with `vcpus` vCPUs. Throws a RangeError for an
 * image that cannot fit (the contract allows 608 KiB under our VMM; under QEMU 61,424 bytes).
 */
export function qemuBiosImage(guest: Uint8Array, vcpus: number, base: Uint8Array = loadQemuBiosTemplate()): Uint8Array {
  if (guest.length === 0) throw new RangeError("the guest image is empty");
  if (guest.length > QEMU_BIOS_MAX_GUEST_BYTES) {
    throw new RangeError(`the guest image is ${guest.length} bytes; under QEMU's -bios wrapper it may be at most ${QEMU_BIOS_MAX_GUEST_BYTES}`);
  }
  if (!Number.isInteger(vcpus) || vcpus < 1) throw new RangeError(`vcpus must be a positive integer, got ${vcpus}`);
  const rom = new Uint8Array(base);
  rom.set(guest, QEMU_BIOS_LAYOUT.payload);
  new DataView(rom.buffer).setUint16(QEMU_BIOS_LAYOUT.length, guest.length, true);
  rom[QEMU_BIOS_LAYOUT.wakeAps] = vcpus > 1 ? 1 : 0;
  return rom;
}
