// What the HTTP/WebSocket layer (server.ts) needs from the run manager, and the errors that map
// to HTTP statuses. The run manager owns the machines, the store and the live viewers; the
// server only validates, translates and streams.
import type { SessionInfo, StepAnswer, TraceRecord, Walkthrough } from "@kvmscope/shared";
import type { GuestInfo } from "../guests.js";
import type { RecordQuery, RunStatus } from "../store/types.js";
import type { Breakpoint } from "../vcpu/control.js";
import { StatusError } from "../errors.js";

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
  /** The join code of the class session that owns the run (its teacher alone controls it), or null. */
  session: string | null;
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
  /** The class session that owns the run: control and console input then need its allows(). Never from a request. */
  owner?: RunOwner;
}

/** Who asks to control a run or type into it. */
export interface RunAuth {
  /** The request's TEACHER_TOKEN_HEADER, as sent (undefined without one). */
  token?: string | undefined;
  /** The class session's own key (its follower drives the run); never comes from the network. */
  key?: object | undefined;
}

/** The owner of a teacher-led run: a class session. */
export interface RunOwner {
  /** The session's join code (RunInfo.session, and the 403 message). */
  readonly session: string;
  /** Whether `auth` is the session's teacher (or the session itself). Constant time in the token. */
  allows(auth: RunAuth | undefined): boolean;
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
  /** The longest a run may live (wall clock, paused time included), in seconds. */
  maxRunSeconds: number;
  /** The same for a run a class session owns: a class pauses on a step for as long as it talks. */
  maxClassRunSeconds: number;
  /** An open class session that nobody leads (no request with its teacher token) for this long ends, and its runs stop. */
  sessionIdleSeconds: number;
}

export interface RunService {
  listGuests(): GuestInfo[];
  createRun(req: RunRequest): Promise<RunInfo>;
  getRun(id: string): Promise<RunInfo | null>;
  listRuns(opts: { limit: number; before?: string }): Promise<{ runs: RunInfo[]; next: string | null }>;
  /** A run owned by a class session needs `auth` to be its teacher's: ForbiddenError otherwise. */
  control(id: string, req: ControlRequest, auth?: RunAuth): Promise<RunInfo>;
  /** As control: a class session's run takes input from its teacher only. */
  consoleInput(id: string, bytes: Uint8Array, auth?: RunAuth): Promise<number>;
  readRecords(id: string, q: RecordQuery): Promise<{ records: TraceRecord[]; next: number | null }>;
  /** Streams an export in pieces (never the whole run in memory). */
  exportRun(id: string, format: "ndjson" | "chrome"): AsyncIterable<string>;
  /** An NDJSON or Chrome export becomes a stored run (replayable without /dev/kvm). */
  importRun(text: string): Promise<RunInfo>;
  /** Live records/console/status of a run; returns the unsubscribe function. For a finished run only onStatus is called once. */
  subscribe(id: string, listener: RunListener): Promise<() => void>;
  /** SIGTERM: stop live runs, flush every record, close the store. */
  shutdown(): Promise<void>;
  /** Class sessions on walkthroughs; a service without them answers 404 on /api/walkthroughs and /api/sessions. */
  readonly sessions?: ClassSessionService;
}

/** The walkthroughs the service loaded, and why any other file was left out. */
export interface WalkthroughCatalog {
  walkthroughs: Walkthrough[];
  /** One line per problem ("walkthroughs/05-x.yaml:3:1: id: ..."). */
  problems: string[];
}

/**
 * Class sessions (sessions.ts): a teacher leads a walkthrough on live runs, students follow by
 * join code. Every method that changes a session needs the teacher token (ForbiddenError).
 * Codes given here are already normalized (normalizeJoinCode).
 */
export interface ClassSessionService {
  /** The walkthroughs, without their answers. */
  catalog(): WalkthroughCatalog;
  /** One walkthrough, without its answers. */
  walkthrough(id: string): Walkthrough | null;
  /** Every answer of a walkthrough; ForbiddenError while an open class on it hides them, NotFoundError for an unknown id. */
  walkthroughAnswers(id: string): StepAnswer[];
  /** Creates the session and its main run (step mode): LimitError / UnavailableError as createRun. `peek`: students may show answers at once. */
  create(walkthroughId: string, options?: { peek?: boolean }): Promise<{ session: SessionInfo; teacherToken: string }>;
  get(code: string): Promise<SessionInfo | null>;
  /** To step `to` (default: the next one); resolves once it is reached. ConflictError while another advance runs; FollowError if the run cannot get there. */
  advance(code: string, token: string | undefined, to?: number): Promise<SessionInfo>;
  reveal(code: string, token: string | undefined, step: number): Promise<SessionInfo>;
  /** Stops the session's runs and ends it (an ended session's answer, again, for a second call). */
  end(code: string, token: string | undefined): Promise<SessionInfo>;
  /** Every answer of the session's walkthrough, for its teacher. */
  answers(code: string, token: string | undefined): Promise<StepAnswer[]>;
  /** The teacher's page is still open (an open session nobody leads ends after a while). */
  heartbeat(code: string, token: string | undefined): Promise<SessionInfo>;
  /** A one-use code with which another browser becomes the teacher too (lead). */
  leadCode(code: string, token: string | undefined): Promise<{ leadCode: string; expiresAt: string }>;
  /** Trades a lead code for a teacher token: ForbiddenError for a wrong, used or expired code. */
  lead(code: string, leadCode: string): Promise<{ session: SessionInfo; teacherToken: string }>;
  /** `listener` gets the session now and after every change; returns the unsubscribe function. NotFoundError for an unknown code. */
  subscribe(code: string, listener: (session: SessionInfo) => void): Promise<() => void>;
}

/** 404 */
export class NotFoundError extends StatusError {
  override name = "NotFoundError";
  constructor(message: string) {
    super(404, message);
  }
}
/** 403: a class session's run or session, and a request without its teacher token */
export class ForbiddenError extends StatusError {
  override name = "ForbiddenError";
  constructor(message: string) {
    super(403, message);
  }
}
/** 409: e.g. control of a run that is not live */
export class ConflictError extends StatusError {
  override name = "ConflictError";
  constructor(message: string) {
    super(409, message);
  }
}
/** 429 / 413: a configured limit (concurrent VMs, total vCPUs or memory, image size) */
export class LimitError extends StatusError {
  override name = "LimitError";
  constructor(message: string, readonly httpStatus: 413 | 429 = 429) {
    super(httpStatus, message);
  }
}
/** 503: this host cannot run guests (no /dev/kvm); stored runs still work */
export class UnavailableError extends StatusError {
  override name = "UnavailableError";
  constructor(message: string) {
    super(503, message);
  }
}
