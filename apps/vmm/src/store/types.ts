// What the service asks of its storage, as small interfaces: `RunStore` (guest images, runs and
// their trace records) and `SessionStore` (class sessions). The service and the class sessions
// depend on these, not on a database; `Store` (store.ts) is the SQLite implementation, and a
// second one (PostgreSQL) implements the same two. Nothing here assumes a single writer: the
// order of runs and the end of a run's records are kept in the database, not in the process.
import type { TraceRecord } from "@kvmscope/shared";

export type RunStatus = "created" | "running" | "paused" | "finished" | "failed" | "aborted";
export const LIVE_STATUSES: RunStatus[] = ["created", "running", "paused"];

export interface StoredRun {
  id: string;
  createdAt: Date;
  updatedAt: Date;
  /** Catalog guest name; null for an uploaded image. */
  guest: string | null;
  imageHash: string;
  /** Size of the image, bytes. */
  imageBytes: number;
  /** { vcpus, memMiB, irqchip, timeoutSec, maxExits, mode, ... } as given to createRun. */
  config: Record<string, unknown>;
  status: RunStatus;
  /** The NDJSON `end` object once the run has ended. */
  outcome: Record<string, unknown> | null;
  /** RunSummary.toJSON(). */
  totals: Record<string, unknown> | null;
  startedAt: Date | null;
  endedAt: Date | null;
  /** Records stored so far. */
  recordCount: number;
  /** Highest seq stored; -1 when none. */
  lastSeq: number;
  /** Made by importing an export, not by running a VM here. */
  imported: boolean;
  /** The join code of the class session that owns the run, or null. */
  sessionCode: string | null;
}

export interface NewRun {
  guest: string | null;
  imageHash: string;
  config: Record<string, unknown>;
  status?: RunStatus;
  imported?: boolean;
  /** The class session that owns the run (it must exist: createClassSession first). */
  sessionCode?: string | null;
}

export type RunPatch = Partial<Pick<StoredRun, "status" | "outcome" | "totals" | "startedAt" | "endedAt">>;

export type SessionStatus = "open" | "ended";

/** A step a class session reached: where (run role and id) and at which record. */
export interface StoredReachedStep {
  stepIndex: number;
  stepId: string;
  run: "main" | "compare";
  runId: string;
  seq: number;
}

/** A class session as stored (prisma/schema.prisma, ClassSession). */
export interface StoredSession {
  code: string;
  walkthroughId: string;
  /** sha256 hex of the teacher token. */
  tokenHash: string;
  status: SessionStatus;
  /** -1 before the first advance. */
  stepIndex: number;
  reached: StoredReachedStep[];
  revealed: number[];
  mainRunId: string | null;
  compareRunId: string | null;
  error: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export type SessionPatch = Partial<Pick<StoredSession, "status" | "stepIndex" | "reached" | "revealed" | "mainRunId" | "compareRunId" | "error">>;

export interface RecordQuery {
  /** The first seq wanted (default 0). */
  fromSeq?: number;
  /** Records wanted, at least 1. */
  limit: number;
  /** Only records of this vCPU: its thread's ioctls, markers and lost counts, its exits and stats samples. */
  vcpu?: number;
  /** Only exits with this reason: "KVM_EXIT_IO" (the NDJSON `reason`), or "IO" for short. */
  reason?: string;
  /** Only records with fromTs <= ts <= toTs (ns since the run began). */
  fromTs?: number;
  toTs?: number;
}

export interface RecordPage {
  /** In seq order, decoded with the shared codec (the NDJSON shape). */
  records: TraceRecord[];
  /**
   * The fromSeq of the next page, or null when every stored record up to now has been looked at.
   * A filtered query stops after a scan budget, so a page may hold fewer than `limit` records
   * (even none) and still have a `next`: keep asking until it is null.
   */
  next: number | null;
}

/** Guest images, runs and their records. */
export interface RunStore {
  /** Stores `bytes` once by content; returns the sha256 hex. Idempotent. */
  putImage(bytes: Uint8Array): Promise<string>;
  getImage(hash: string): Promise<Uint8Array | null>;
  /** A new run; its createdAt is later than every run's before it (creation order = list order). */
  createRun(input: NewRun): Promise<StoredRun>;
  updateRun(id: string, patch: RunPatch): Promise<void>;
  getRun(id: string): Promise<StoredRun | null>;
  /** Newest first. `before` is the `next` of the previous page (opaque). */
  listRuns(opts: { limit: number; before?: string }): Promise<{ runs: StoredRun[]; next: string | null }>;
  /** At service start: runs left created/running/paused become aborted (their records stay). Returns their ids. */
  markLiveRunsAborted(): Promise<string[]>;
  /** Appends binary records (n * RECORD_SIZE bytes); appends to one run apply in call order. */
  appendRecords(runId: string, records: Uint8Array): Promise<void>;
  /** A page of records in seq order, filtered, decoded with the shared codec. */
  readRecords(runId: string, q: RecordQuery): Promise<RecordPage>;
  /** Every record of a run in seq order, in binary pieces. */
  streamRecords(runId: string): AsyncIterable<Uint8Array>;
}

/** Class sessions. */
export interface SessionStore {
  /** A new open session; null when `code` is already taken (draw another). */
  createClassSession(input: { code: string; walkthroughId: string; tokenHash: string }): Promise<StoredSession | null>;
  getClassSession(code: string): Promise<StoredSession | null>;
  /** Writes the fields given; returns the session as stored now (its new updatedAt). */
  updateClassSession(code: string, patch: SessionPatch): Promise<StoredSession>;
  /** For a session whose first run could not be created: as if it had never been. */
  deleteClassSession(code: string): Promise<void>;
  /** At service start (and shutdown): sessions still open end. Returns their codes. */
  endOpenClassSessions(): Promise<string[]>;
}

/** The whole of what the service opens. */
export interface ServiceStore extends RunStore, SessionStore {
  close(): Promise<void>;
}
