// One palette for exit reasons and threads, shared by every view so that "HLT is orange" holds
// on the timeline, the thread model and the statistics alike. Canvas code reads these strings
// directly; CSS reads the same values through the custom properties in app/globals.css.
import { KvmExit } from "@kvmscope/shared";

const REASON_COLORS: Readonly<Record<number, string>> = {
  [KvmExit.IO]: "#3b82f6",
  [KvmExit.MMIO]: "#a855f7",
  [KvmExit.HLT]: "#f59e0b",
  [KvmExit.IRQ_WINDOW_OPEN]: "#10b981",
  [KvmExit.INTR]: "#64748b",
  [KvmExit.SHUTDOWN]: "#ef4444",
  [KvmExit.INTERNAL_ERROR]: "#dc2626",
  [KvmExit.FAIL_ENTRY]: "#b91c1c",
  [KvmExit.SYSTEM_EVENT]: "#f43f5e",
  [KvmExit.DEBUG]: "#14b8a6",
};

/** The colour of an exit reason (a neutral grey for the rare ones). */
export function reasonColor(code: number): string {
  return REASON_COLORS[code] ?? "#94a3b8";
}

/** Ioctls, markers, lost records: the non-exit kinds. */
export const KIND_COLORS = {
  ioctl: "#0ea5e9",
  marker: "#eab308",
  lost: "#ef4444",
  guest: "#22c55e",
} as const;
