// Shared by the HTTP and WebSocket tests of the service layer.
import type { RunInfo } from "../src/service/types.js";

/** A RunInfo as the run manager would give it, for FakeRunService. */
export function runInfo(id: string, fields: Partial<RunInfo> = {}): RunInfo {
  return {
    id, createdAt: "2025-01-01T00:00:00.000Z", guest: "hello", imageHash: "0".repeat(64), imageBytes: 32,
    config: { vcpus: 1, memMiB: 16, irqchip: "user", mode: "live", timeoutSec: 10, maxExits: null },
    status: "running", outcome: null, totals: null, startedAt: null, endedAt: null, recordCount: 0, imported: false, live: true, session: null,
    ...fields,
  };
}
