// The bounds of a run, in one place: the HTTP protocol checks requests against them
// (protocol.ts), a walkthrough's run settings are checked against them (walkthrough.ts), and
// the VMM's LIMITS (apps/vmm/src/config.ts) are built from them. Nothing here imports anything.

export const MIN_VCPUS = 1;
export const MAX_VCPUS = 64;
export const MIN_MEM_MIB = 1;
/** RAM starts at 0 and stays below 0xc0000000 (the PCI/MMIO hole): 3 GiB. */
export const MAX_MEM_MIB = 3072;
export const MIN_TIMEOUT_SEC = 0.001;
export const MAX_TIMEOUT_SEC = 24 * 3600;
export const MAX_STEP_COUNT = 1_000_000;
/** Bytes one console message may type into the guest's serial port. */
export const MAX_CONSOLE_BYTES = 4096;

/** The same bounds as {min, max} pairs, as the VMM's LIMITS spell them. */
export const RUN_LIMITS = {
  vcpus: { min: MIN_VCPUS, max: MAX_VCPUS },
  memMiB: { min: MIN_MEM_MIB, max: MAX_MEM_MIB },
  timeoutSec: { min: MIN_TIMEOUT_SEC, max: MAX_TIMEOUT_SEC },
} as const;
