// How a run's end becomes the exit status of `kvmscope run` (and the `status` of the NDJSON end
// object and of a stored run's outcome).
import type { GuestInfo } from "./guests.js";
import type { Outcome, RunResult } from "./machine.js";

/**
 * Exit statuses. Odd values belong to the guest (isa-debug-exit: (v << 1) | 1, as QEMU does), so
 * the VMM's own are even.
 */
export const EXIT_STATUS = {
  ok: 0,
  usage: 2,
  kvmUnavailable: 4,
  shutdown: 6,
  internalError: 8,
  failEntry: 10,
  systemEvent: 12,
  unhandledExit: 14,
  timeout: 16,
  exitLimit: 18,
  vmmError: 20,
  stopped: 130,
} as const;

const OUTCOME_STATUS: Record<Outcome, number> = {
  halted: EXIT_STATUS.ok,
  "debug-exit": EXIT_STATUS.ok, // replaced by (v << 1) | 1
  shutdown: EXIT_STATUS.shutdown,
  "internal-error": EXIT_STATUS.internalError,
  "fail-entry": EXIT_STATUS.failEntry,
  "system-event": EXIT_STATUS.systemEvent,
  "unhandled-exit": EXIT_STATUS.unhandledExit,
  timeout: EXIT_STATUS.timeout,
  "exit-limit": EXIT_STATUS.exitLimit,
  stopped: EXIT_STATUS.stopped,
  "vmm-error": EXIT_STATUS.vmmError,
};

/** The status `kvmscope run` exits with: 0 when the guest ended the way it is built to. */
export function exitStatusFor(result: RunResult, guest: GuestInfo | undefined): number {
  if (result.outcome === "debug-exit") return (((result.debugExitValue ?? 0) << 1) | 1) & 0xff;
  const expected = guest?.expect.outcome;
  if (expected === result.outcome) return EXIT_STATUS.ok;
  // A guest built to run until stopped (spin) ends as meant by either limit.
  if (expected === "timeout" && result.outcome === "exit-limit") return EXIT_STATUS.ok;
  return OUTCOME_STATUS[result.outcome];
}

