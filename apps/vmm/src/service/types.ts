// What the HTTP/WebSocket layer (server.ts) needs from the run manager, and the errors that map
// to HTTP statuses. The run manager owns the machines, the store and the live viewers; the
// server only validates, translates and streams.
import type { TraceRecord } from "@kvmscope/shared";
import type { GuestInfo } from "../guests.js";
import type { RecordQuery, RunStatus } from "../store/store.js";
import type { Breakpoint } from "../vcpu/control.js";

export type { RecordQuery, RunStatus };

export interface RunConfigView {
  vcpus: number;
  memMiB: number;
  irqchip: "user" | "kernel";
  mode: "live" | "step";
  timeoutSec: number | null;
  maxExits: number | null;
}

/** A run as the API shows it (GET /api/runs/:id). */
export interface RunInfo {
  id: string;
  createdAt: string;
  guest: string | null;
  imageHash: string;
  imageBytes: number;
  config: RunConfigView;
  status: RunStatus;
  /** The end object (outcome, message, status, ...) once finished; null before. */
  outcome: Record<string, unknown> | null;
  /** RunSummary.toJSON(): exits by reason per vCPU with p50/p90/p99, guest vs userspace time, KVM's counters. */
  totals: Record<string, unknown> | null;
  startedAt: string | null;
  endedAt: string | null;
  recordCount: number;
  imported: boolean;
  /** Whether a VM is running for it in this service now (control and console need one). */
  live: boolean;
}

export interface RunRequest {
  guest?: string;
  /** A flat image (the server decodes base64). */
  image?: Uint8Array;
  vcpus?: number;
  memMiB?: number;
  irqchip?: "user" | "kernel";
  mode?: "live" | "step";
  timeoutSec?: number;
  maxExits?: number;
}

export type ControlRequest =
  | { action: "pause" }
  | { action: "resume" }
  | { action: "step"; count?: number }
  | { action: "stop" }
  | { action: "break"; when: Breakpoint };

/** A live viewer of one run. Called on the main thread; must not block. */
export interface RunListener {
  /** A batch of binary records (n * RECORD_SIZE bytes, the shared codec), in sequence order. */
  onRecords(batch: Uint8Array, firstSeq: number, lastSeq: number): void;
  /** Bytes the guest wrote to its serial port. */
  onConsole(bytes: Uint8Array): void;
  /** The run's status changed (running/paused/finished ...). */
  onStatus(info: RunInfo): void;
}

export interface ServiceLimits {
  maxConcurrentRuns: number;
  maxTotalVcpus: number;
  maxTotalMemMiB: number;
  maxImageBytes: number;
  maxRunSeconds: number;
}

export interface RunService {
  listGuests(): GuestInfo[];
  createRun(req: RunRequest): Promise<RunInfo>;
  getRun(id: string): Promise<RunInfo | null>;
  listRuns(opts: { limit: number; before?: string }): Promise<{ runs: RunInfo[]; next: string | null }>;
  control(id: string, req: ControlRequest): Promise<RunInfo>;
  consoleInput(id: string, bytes: Uint8Array): Promise<number>;
  readRecords(id: string, q: RecordQuery): Promise<{ records: TraceRecord[]; next: number | null }>;
  /** Streams an export in pieces (never the whole run in memory). */
  exportRun(id: string, format: "ndjson" | "chrome"): AsyncIterable<string>;
  /** An NDJSON or Chrome export becomes a stored run (replayable without /dev/kvm). */
  importRun(text: string): Promise<RunInfo>;
  /** Live records/console/status of a run; returns the unsubscribe function. For a finished run only onStatus is called once. */
  subscribe(id: string, listener: RunListener): Promise<() => void>;
  /** SIGTERM: stop live runs, flush every record, close the store. */
  shutdown(): Promise<void>;
}

/** 404 */
export class NotFoundError extends Error {
  override name = "NotFoundError";
}
/** 409: e.g. control of a run that is not live */
export class ConflictError extends Error {
  override name = "ConflictError";
}
/** 429 / 413: a configured limit (concurrent VMs, total vCPUs or memory, image size) */
export class LimitError extends Error {
  override name = "LimitError";
  constructor(message: string, readonly httpStatus: 413 | 429 = 429) {
    super(message);
  }
}
/** 503: this host cannot run guests (no /dev/kvm); stored runs still work */
export class UnavailableError extends Error {
  override name = "UnavailableError";
}
