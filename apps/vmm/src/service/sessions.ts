// Class sessions: a teacher leads a class through a walkthrough on live runs, and students follow.
//
// - The teacher starts a session (create): it gets a join code, which students type, and a teacher
//   token, which only the teacher's browser holds. The session's main run is created at once, in
//   step mode and paused before its first KVM_RUN, so students can open it straight away; a
//   compare run is created when the first step that needs it is reached.
// - The teacher advances (advance): one WalkthroughFollower per open session moves the run to the
//   step's point (walkthroughs.ts). One advance at a time: a second one is refused (409), never
//   queued, so a double click cannot skip a step. Going back to a step already reached only moves
//   `step`: the run stays where it is, and the step's record is known (its seq).
// - Everyone follows: listeners (the server's session sockets) get the session after every change.
// - The session's runs are the teacher's: RunManager refuses control and console input on them
//   without the token (RunOwner). The follower drives them with the session's own key instead.
// - Progress (step, reached, revealed, error, runs) is written on every change. A service that
//   stops (or is killed) ends its open sessions: their runs are gone, their progress stays readable.
// - The session listens to its runs: one that ends while the session is open (its time limit, a
//   stop, a failure) cannot be led any further, and the session says so in `error` at once.
//   The runs' time limit is the service's class limit (--max-class-seconds, 4 hours by default).
//
// - Answers: the service sends a step's answer only once the teacher revealed it (or to everyone
//   from the start, if the session was created with `peek`); the teacher gets them all with the
//   token. The walkthrough endpoints leave answers out, and the self-study answers of a walkthrough
//   (GET /api/walkthroughs/:id/answers) are refused while a class on it hides them.
// - The teacher's role moves: the teacher makes a lead code (one use, LEAD_CODE_TTL_MS), another
//   browser trades it for the teacher token (lead). The token itself never appears on a screen.
// - A session nobody leads ends by itself: no request with the token (the teacher's page sends a
//   heartbeat while it is open) for `idleEndSec` (--session-idle-seconds, 30 minutes by default)
//   ends it and stops its runs, as the teacher's own end would.
//
// The token is 32 random bytes (base64url); only its sha256 is stored, and checked in constant
// time (timingSafeEqual of the two hashes). The join code is not a secret: it lets you watch.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import {
  formatProblem, JOIN_CODE_ALPHABET, JOIN_CODE_LENGTH, LEAD_CODE_LENGTH, normalizeLeadCode, type RunRole, runSpecOf, type SessionInfo,
  type StepAnswer, type TraceRecord, type Walkthrough, WalkthroughError,
} from "@kvmscope/shared";
import { ConfigError } from "../config.js";
import type { GuestInfo } from "../guests.js";
import type { SessionPatch, SessionStore, StoredReachedStep, StoredSession } from "../store/types.js";
import { type LoadOptions, loadWalkthroughFile, WALKTHROUGHS_DIR, WalkthroughFollower } from "../walkthroughs.js";
import {
  type ClassSessionService, ConflictError, type ControlRequest, ForbiddenError, NotFoundError, type RecordQuery, type RunAuth,
  type RunInfo, type RunListener, type RunOwner, type RunRequest, type RunService, type WalkthroughCatalog,
} from "./types.js";

export const NOT_TEACHER = "only the teacher who started this session can do that (students follow with the join code)";

/** How long a lead code works (it works once). */
export const LEAD_CODE_TTL_MS = 10 * 60_000;
/** Wrong lead codes a session takes before its lead code stops working (the teacher makes another). */
const LEAD_CODE_TRIES = 5;
/** The default of --session-idle-seconds. */
export const DEFAULT_SESSION_IDLE_SEC = 30 * 60;

export interface SessionOptions {
  /** Give up on one step after this long (default: the follower's 30 s). */
  stepTimeoutMs?: number;
  /** The runs' time limit in seconds; default: the service's limit for class runs (--max-class-seconds), since a class can take a while. */
  runTimeoutSec?: number;
  /** Where problems with walkthrough files are reported. Default: console.warn. */
  log?: (message: string) => void;
  /** An open session with no request carrying its token for this long ends (default DEFAULT_SESSION_IDLE_SEC). */
  idleEndSec?: number;
  /** How often idle sessions are looked for (default: a quarter of the limit, at most a minute). */
  idleCheckMs?: number;
}

// ---------------------------------------------------------------------------------------------
// The walkthroughs, loaded once

/**
 * Every walkthroughs/*.yaml that loads, in file-name order. Unlike loadWalkthroughs (which throws
 * for any broken file, right for a test or a CI check), a broken file here is logged and left
 * out: one typo in one tour must not keep a class from using the others.
 */
export function loadWalkthroughCatalog(opts: LoadOptions = {}, log: (message: string) => void = (m) => console.warn(m)): WalkthroughCatalog {
  const dir = opts.dir ?? WALKTHROUGHS_DIR;
  const walkthroughs: Walkthrough[] = [];
  const problems: string[] = [];
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort();
  } catch (err) {
    problems.push(`${dir}: the walkthroughs folder cannot be read: ${(err as Error).message}`);
  }
  const byId = new Map<string, string>();
  for (const f of files) {
    try {
      const { file, walkthrough } = loadWalkthroughFile(join(dir, f), opts);
      const other = byId.get(walkthrough.id);
      if (other !== undefined) {
        problems.push(`${file}: id: "${walkthrough.id}" is already the id of ${other}: walkthrough ids must be unique`);
        continue;
      }
      byId.set(walkthrough.id, file);
      walkthroughs.push(walkthrough);
    } catch (err) {
      if (err instanceof WalkthroughError) problems.push(...err.problems.map(formatProblem));
      else problems.push(`${f}: ${(err as Error).message}`);
    }
  }
  for (const p of problems) log(`[service] a walkthrough was left out: ${p}`);
  return { walkthroughs, problems };
}

// ---------------------------------------------------------------------------------------------
// Codes and tokens

/** A fresh code of `length` letters: uniform over the alphabet (bytes past the last whole multiple are redrawn). */
function newCode(length: number): string {
  const n = JOIN_CODE_ALPHABET.length;
  const limit = Math.floor(256 / n) * n;
  let code = "";
  while (code.length < length) {
    for (const b of randomBytes(length * 2)) {
      if (b < limit && code.length < length) code += JOIN_CODE_ALPHABET[b % n];
    }
  }
  return code;
}

export function newJoinCode(): string {
  return newCode(JOIN_CODE_LENGTH);
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

/** Whether `token` is the one whose sha256 (hex) is `tokenHash`; the same time for every wrong token. */
export function tokenMatches(tokenHash: string, token: string | undefined): boolean {
  if (token === undefined || token === "") return false;
  const want = Buffer.from(tokenHash, "hex");
  const got = sha256(token);
  return want.length === got.length && timingSafeEqual(want, got);
}

export function unknownSession(code: string): NotFoundError {
  return new NotFoundError(`no class session with the join code ${code}`);
}

/** A class session that has ended: 409, whoever asks for what only an open session does. */
function endedSession(code: string): ConflictError {
  return new ConflictError(`the class session ${code} has ended; its runs can still be replayed`);
}

/**
 * Resolves once run `id` is no longer live, as the run's own status event tells (the service
 * calls onStatus when it ends; a run already ended, or unknown, resolves at once), or after
 * `ms` at the latest. No polling.
 */
async function whenEnded(service: RunService, id: string, ms: number): Promise<void> {
  let settled = false;
  let unsubscribe: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve) => {
      const done = (): void => {
        settled = true;
        resolve();
      };
      timer = setTimeout(done, ms);
      service.subscribe(id, { onRecords() {}, onConsole() {}, onStatus: (info) => { if (!info.live) done(); } }).then(
        (u) => {
          if (settled) u();
          else unsubscribe = u;
        },
        done, // no such run: nothing to wait for
      );
    });
  } finally {
    clearTimeout(timer);
    unsubscribe?.();
  }
}

// ---------------------------------------------------------------------------------------------
// One open session

/** A walkthrough as anyone may read it: without the answers. */
export function withoutAnswers(w: Walkthrough): Walkthrough {
  return { ...w, steps: w.steps.map(({ answer: _answer, ...step }) => step) };
}

/** The answers of `w`'s steps that `shown` admits. */
function answersOf(w: Walkthrough | null, shown: (step: number) => boolean): StepAnswer[] {
  if (w === null) return [];
  return w.steps.flatMap((st, i) => (st.answer !== undefined && shown(i) ? [{ step: i, answer: st.answer }] : []));
}

/** What a session shows, from its stored row (and, for an open one, whether an advance runs and its options). */
function infoOf(s: StoredSession, busy: boolean, w: Walkthrough | null, opts: { peek: boolean; idleEndSec: number }): SessionInfo {
  return {
    code: s.code,
    walkthroughId: s.walkthroughId,
    status: s.status,
    createdAt: s.createdAt.toISOString(),
    updatedAt: s.updatedAt.toISOString(),
    step: s.stepIndex,
    busy,
    reached: s.reached.map((r) => ({ ...r })),
    runs: { main: s.mainRunId, compare: s.compareRunId },
    revealed: [...s.revealed],
    error: s.error,
    peek: opts.peek,
    answers: answersOf(w, (i) => opts.peek || s.revealed.includes(i)),
    idleEndSec: opts.idleEndSec,
  };
}

class OpenSession {
  /** The follower's credential for the session's runs: an object no request can produce. */
  readonly key = Object.freeze({});
  readonly owner: RunOwner;
  readonly listeners = new Set<(session: SessionInfo) => void>();
  /** The session as it is now; written to the store after every change (the store's queue keeps the order). */
  state: StoredSession;
  busy = false;
  /** The step the advance in progress is going to. */
  busyTarget = -1;
  follower!: WalkthroughFollower;
  runs!: SessionRuns;
  /** Why the class cannot go on (a run of the session ended while it was open), or null. */
  runEnded: string | null = null;
  /** Lets go of the session's runs (their status subscriptions). */
  readonly unwatch: (() => void)[] = [];
  /** When a request with the token last came (Date.now()). */
  lastLedAt = Date.now();
  /** The lead code in force, if the teacher made one. */
  lead: { code: string; expiresAt: number; wrong: number } | null = null;
  /** The sha256 of the tokens given to other browsers by `lead` (kept while the session is open). */
  readonly extraTokenHashes: string[] = [];

  constructor(
    stored: StoredSession,
    readonly walkthrough: Walkthrough,
    readonly peek: boolean,
    readonly idleEndSec: number,
  ) {
    this.state = stored;
    const key = this.key;
    this.owner = {
      session: stored.code,
      allows: (auth: RunAuth | undefined) => auth?.key === key || this.isTeacher(auth?.token),
    };
  }

  /** Whether `token` is the teacher's: the first browser's or one a lead code gave. */
  isTeacher(token: string | undefined): boolean {
    return tokenMatches(this.state.tokenHash, token) || this.extraTokenHashes.some((h) => tokenMatches(h, token));
  }

  get code(): string {
    return this.state.code;
  }

  info(): SessionInfo {
    return infoOf(this.state, this.busy, this.walkthrough, { peek: this.peek, idleEndSec: this.idleEndSec });
  }

  notify(): void {
    if (this.listeners.size === 0) return;
    const info = this.info();
    for (const l of this.listeners) {
      try {
        l(info);
      } catch {
        // a listener that throws is the listener's problem; the others still hear
      }
    }
  }
}

/**
 * The RunService as the session's follower sees it: the main run made at create() is handed over
 * when the follower asks for it, any other run is created owned by the session, and the follower's
 * controls carry the session's key (every other caller needs the teacher token).
 */
class SessionRuns implements RunService {
  /** The role of the step being advanced to: which run a createRun call is for. */
  role: RunRole = "main";
  #mainHandedOver = false;

  constructor(
    private readonly inner: RunService,
    private readonly session: OpenSession,
    private readonly main: RunInfo,
    private readonly runTimeoutSec: number | undefined,
    private readonly onRun: (role: RunRole, run: RunInfo) => Promise<void>,
  ) {}

  listGuests(): GuestInfo[] {
    return this.inner.listGuests();
  }

  async createRun(req: RunRequest): Promise<RunInfo> {
    if (this.role === "main" && !this.#mainHandedOver) {
      this.#mainHandedOver = true;
      return this.main;
    }
    // The follower's own default time limit suits a tour run through at once, not a class.
    const { timeoutSec: _timeout, ...rest } = req;
    const run = await this.inner.createRun({ ...rest, ...(this.runTimeoutSec !== undefined ? { timeoutSec: this.runTimeoutSec } : {}), owner: this.session.owner });
    await this.onRun(this.role, run);
    return run;
  }

  getRun(id: string): Promise<RunInfo | null> {
    return this.inner.getRun(id);
  }

  listRuns(opts: { limit: number; before?: string }): Promise<{ runs: RunInfo[]; next: string | null }> {
    return this.inner.listRuns(opts);
  }

  control(id: string, req: ControlRequest): Promise<RunInfo> {
    return this.inner.control(id, req, { key: this.session.key });
  }

  consoleInput(id: string, bytes: Uint8Array): Promise<number> {
    return this.inner.consoleInput(id, bytes, { key: this.session.key });
  }

  readRecords(id: string, q: RecordQuery): Promise<{ records: TraceRecord[]; next: number | null }> {
    return this.inner.readRecords(id, q);
  }

  exportRun(id: string, format: "ndjson" | "chrome"): AsyncIterable<string> {
    return this.inner.exportRun(id, format);
  }

  importRun(text: string): Promise<RunInfo> {
    return this.inner.importRun(text);
  }

  subscribe(id: string, listener: RunListener): Promise<() => void> {
    return this.inner.subscribe(id, listener);
  }

  async shutdown(): Promise<void> {
    throw new Error("a class session does not shut the service down");
  }
}

// ---------------------------------------------------------------------------------------------
// The sessions of one service

export class ClassSessions implements ClassSessionService {
  readonly #open = new Map<string, OpenSession>();
  readonly #byId = new Map<string, Walkthrough>();
  readonly #public: Walkthrough[];
  #closing = false;
  readonly #idleEndSec: number;
  readonly #idleTimer: ReturnType<typeof setInterval>;
  /** Idle sessions being ended (shutdown waits for them). */
  readonly #ending = new Set<Promise<void>>();

  constructor(
    private readonly service: RunService,
    private readonly store: SessionStore,
    private readonly loaded: WalkthroughCatalog,
    private readonly opts: SessionOptions = {},
  ) {
    for (const w of loaded.walkthroughs) this.#byId.set(w.id, w);
    this.#public = loaded.walkthroughs.map(withoutAnswers);
    this.#idleEndSec = opts.idleEndSec ?? DEFAULT_SESSION_IDLE_SEC;
    const every = opts.idleCheckMs ?? Math.min(60_000, Math.max(250, (this.#idleEndSec * 1000) / 4));
    this.#idleTimer = setInterval(() => this.#endIdle(), every);
    this.#idleTimer.unref();
  }

  /** The walkthroughs without their answers (answers come from a session, or walkthroughAnswers). */
  catalog(): WalkthroughCatalog {
    return { walkthroughs: this.#public, problems: this.loaded.problems };
  }

  /** One walkthrough without its answers. */
  walkthrough(id: string): Walkthrough | null {
    return this.#public.find((w) => w.id === id) ?? null;
  }

  /**
   * Every answer of walkthrough `id`, for studying alone (a replay); ForbiddenError while an open
   * class on it keeps answers hidden until its teacher reveals them.
   */
  walkthroughAnswers(id: string): StepAnswer[] {
    const w = this.#byId.get(id);
    if (w === undefined) throw new NotFoundError(`no walkthrough "${id}" (see GET /api/walkthroughs)`);
    if ([...this.#open.values()].some((s) => s.walkthrough.id === id && !s.peek)) {
      throw new ForbiddenError(`a class is working through "${id}" now: its answers are shown as its teacher reveals them (they are here again once the class has ended)`);
    }
    return answersOf(w, () => true);
  }

  #info(s: StoredSession): SessionInfo {
    // An ended session: its options were the open session's; only revealed answers are shown.
    return infoOf(s, false, this.#byId.get(s.walkthroughId) ?? null, { peek: false, idleEndSec: this.#idleEndSec });
  }

  /** The join codes of the sessions open now. */
  get openCodes(): string[] {
    return [...this.#open.keys()];
  }

  async create(walkthroughId: string, options: { peek?: boolean } = {}): Promise<{ session: SessionInfo; teacherToken: string }> {
    if (this.#closing) throw new ConflictError("the service is shutting down");
    const walkthrough = this.#byId.get(walkthroughId);
    if (walkthrough === undefined) {
      const ids = [...this.#byId.keys()].map((id) => `"${id}"`).join(", ");
      const left = this.loaded.problems.length > 0 ? ` (some walkthrough files could not be loaded: see "problems" in GET /api/walkthroughs)` : "";
      throw new ConfigError(`no walkthrough "${walkthroughId}"; the walkthroughs are ${ids === "" ? "none" : ids}${left}`);
    }
    const teacherToken = randomBytes(32).toString("base64url");
    const tokenHash = sha256(teacherToken).toString("hex");
    let stored: StoredSession | null = null;
    // 31^6 codes: a collision is rare until a service has hosted millions of classes.
    for (let attempt = 0; attempt < 16 && stored === null; attempt++) {
      stored = await this.store.createClassSession({ code: newJoinCode(), walkthroughId, tokenHash });
    }
    if (stored === null) throw new Error("no free join code was found in 16 draws");
    const session = new OpenSession(stored, walkthrough, options.peek === true, this.#idleEndSec);

    // The main run now, so that students who join before the first step see the VM already.
    const spec = runSpecOf(walkthrough, "main");
    let main: RunInfo;
    try {
      main = await this.service.createRun({
        guest: spec.guest, vcpus: spec.vcpus, memMiB: spec.memMiB, irqchip: spec.irqchip, mode: "step",
        ...(this.opts.runTimeoutSec !== undefined ? { timeoutSec: this.opts.runTimeoutSec } : {}),
        owner: session.owner,
      });
    } catch (err) {
      // No run, no session: the teacher tries again once a run slot is free (429) or elsewhere (503).
      await this.store.deleteClassSession(stored.code).catch(() => {});
      throw err;
    }
    session.runs = new SessionRuns(this.service, session, main, this.opts.runTimeoutSec, async (role, run) => {
      await this.#watch(session, role, run.id);
      if (role === "compare") await this.#save(session, { compareRunId: run.id });
    });
    session.follower = new WalkthroughFollower(session.runs, walkthrough, {
      ...(this.opts.stepTimeoutMs !== undefined ? { stepTimeoutMs: this.opts.stepTimeoutMs } : {}),
    });
    await this.#save(session, { mainRunId: main.id });
    await this.#watch(session, "main", main.id);
    this.#open.set(session.code, session);
    return { session: session.info(), teacherToken };
  }

  async get(code: string): Promise<SessionInfo | null> {
    const open = this.#open.get(code);
    if (open) return open.info();
    const stored = await this.store.getClassSession(code);
    return stored === null ? null : this.#info(stored);
  }

  /** The open session `code` if `token` is its teacher's; 404, 403, then 409 for an ended one. */
  async #teacher(code: string, token: string | undefined): Promise<OpenSession | StoredSession> {
    const open = this.#open.get(code);
    if (open) {
      if (!open.isTeacher(token)) throw new ForbiddenError(NOT_TEACHER);
      open.lastLedAt = Date.now();
      return open;
    }
    const stored = await this.store.getClassSession(code);
    if (stored === null) throw unknownSession(code);
    if (!tokenMatches(stored.tokenHash, token)) throw new ForbiddenError(NOT_TEACHER);
    // An ended session is never open again; one that is open but not here was ended meanwhile.
    return this.#open.get(code) ?? stored;
  }

  async #openForTeacher(code: string, token: string | undefined): Promise<OpenSession> {
    const s = await this.#teacher(code, token);
    if (s instanceof OpenSession) return s;
    throw endedSession(code);
  }

  async advance(code: string, token: string | undefined, to?: number): Promise<SessionInfo> {
    const session = await this.#openForTeacher(code, token);
    const steps = session.walkthrough.steps;
    const id = session.walkthrough.id;
    if (session.busy) {
      throw new ConflictError(`step ${session.busyTarget + 1} is still being reached: wait until it is (the session socket says "busy": false)`);
    }
    if (to !== undefined && to >= steps.length) throw new ConfigError(`to: the walkthrough "${id}" has ${steps.length} steps (0 to ${steps.length - 1}), got ${to}`);
    const target = to ?? session.state.stepIndex + 1;
    if (target >= steps.length) throw new ConflictError(`the class is on the last step of "${id}" (${steps.length}): there is no next step`);

    const reached = session.state.reached;
    if (target < reached.length) {
      // Shown again, not re-run: the run stays where the class left it.
      await this.#save(session, { stepIndex: target, error: session.runEnded });
      return session.info();
    }

    session.busy = true;
    session.busyTarget = target;
    session.notify();
    let failure: unknown;
    try {
      while (session.state.reached.length <= target && session.state.status === "open") {
        const next = session.state.reached.length;
        session.runs.role = steps[next]!.run;
        const r = await session.follower.advance();
        // The step's record is in the store before the step is: a service killed right after
        // still replays every step it said was reached (reading a live run flushes it first).
        await this.service.readRecords(r.runId, { fromSeq: r.seq, limit: 1 });
        const step: StoredReachedStep = { stepIndex: r.index, stepId: r.stepId, run: r.run, runId: r.runId, seq: r.seq };
        await this.#save(session, { reached: [...session.state.reached, step], stepIndex: r.index, error: session.runEnded });
      }
    } catch (err) {
      failure = err;
    }
    session.busy = false;
    session.busyTarget = -1;
    if (session.state.status !== "open") {
      session.notify();
      throw new ConflictError(`the class session ${code} was ended while step ${target + 1} was being reached`);
    }
    if (failure !== undefined) {
      await this.#save(session, { error: (failure as Error).message ?? String(failure) });
      throw failure;
    }
    session.notify();
    return session.info();
  }

  async reveal(code: string, token: string | undefined, step: number): Promise<SessionInfo> {
    const session = await this.#openForTeacher(code, token);
    const w = session.walkthrough;
    if (step >= w.steps.length) throw new ConfigError(`step: the walkthrough "${w.id}" has ${w.steps.length} steps (0 to ${w.steps.length - 1}), got ${step}`);
    if (w.steps[step]!.answer === undefined) throw new ConfigError(`step ${step + 1} of "${w.id}" (${w.steps[step]!.id}) has no answer to reveal`);
    if (!session.state.revealed.includes(step)) {
      await this.#save(session, { revealed: [...session.state.revealed, step].sort((a, b) => a - b) });
    }
    return session.info();
  }

  async end(code: string, token: string | undefined): Promise<SessionInfo> {
    const s = await this.#teacher(code, token);
    if (!(s instanceof OpenSession)) return this.#info(s);
    return this.#end(s);
  }

  /** Ends open session `s`: stored as ended (with `error`, if given), its runs stopped. */
  async #end(s: OpenSession, error?: string): Promise<SessionInfo> {
    if (!this.#open.delete(s.code)) return s.info(); // being ended already

    await this.#save(s, { status: "ended", ...(error !== undefined ? { error } : {}) });
    s.listeners.clear();
    s.lead = null;
    await this.#stopRuns(s);
    for (const unwatch of s.unwatch.splice(0)) unwatch();
    return s.info();
  }

  /** Every answer of the session's walkthrough, for its teacher. */
  async answers(code: string, token: string | undefined): Promise<StepAnswer[]> {
    const s = await this.#teacher(code, token);
    const walkthrough = s instanceof OpenSession ? s.walkthrough : this.#byId.get(s.walkthroughId) ?? null;
    return answersOf(walkthrough, () => true);
  }

  /** The teacher's page is open: the session is led (see idleEndSec). */
  async heartbeat(code: string, token: string | undefined): Promise<SessionInfo> {
    return (await this.#openForTeacher(code, token)).info();
  }

  /** A lead code for another browser (one use, LEAD_CODE_TTL_MS); it replaces any earlier one. */
  async leadCode(code: string, token: string | undefined): Promise<{ leadCode: string; expiresAt: string }> {
    const s = await this.#openForTeacher(code, token);
    s.lead = { code: newCode(LEAD_CODE_LENGTH), expiresAt: Date.now() + LEAD_CODE_TTL_MS, wrong: 0 };
    return { leadCode: s.lead.code, expiresAt: new Date(s.lead.expiresAt).toISOString() };
  }

  /** Trades a lead code for the teacher token; the code is used up. ForbiddenError for a wrong, used or old one. */
  async lead(code: string, leadCode: string): Promise<{ session: SessionInfo; teacherToken: string }> {
    const s = this.#open.get(code);
    if (s === undefined) {
      if ((await this.store.getClassSession(code)) === null) throw unknownSession(code);
      throw endedSession(code);
    }
    const given = normalizeLeadCode(leadCode);
    const lead = s.lead;
    const again = "ask the teacher's page for a new one (Lead from another device)";
    if (lead === null || lead.expiresAt < Date.now()) {
      s.lead = null;
      throw new ForbiddenError(`this session has no lead code in force (one works once, for ${LEAD_CODE_TTL_MS / 60_000} minutes): ${again}`);
    }
    if (given === undefined || !timingSafeEqual(sha256(given), sha256(lead.code))) {
      if (++lead.wrong >= LEAD_CODE_TRIES) s.lead = null;
      throw new ForbiddenError(`that is not the lead code of this session${s.lead === null ? " (too many wrong codes: it no longer works)" : ""}: ${again}`);
    }
    s.lead = null;
    // A new token for the new browser; the first one keeps working too (one teacher, two screens).
    const teacherToken = randomBytes(32).toString("base64url");
    s.extraTokenHashes.push(sha256(teacherToken).toString("hex"));
    s.lastLedAt = Date.now();
    return { session: s.info(), teacherToken };
  }

  /** Ends the open sessions nobody has led for idleEndSec. */
  #endIdle(): void {
    if (this.#closing) return;
    const limitMs = this.#idleEndSec * 1000;
    const sec = this.#idleEndSec;
    const idle = sec >= 120 ? `${Math.round(sec / 60)} minutes` : `${sec} seconds`;
    for (const s of [...this.#open.values()]) {
      if (s.busy || Date.now() - s.lastLedAt < limitMs) continue;
      const ending = this.#end(s, `ended: nobody led this class for ${idle} (the service's --session-idle-seconds is ${sec})`).then(
        () => {},
        (err: unknown) => console.warn(`[service] class session ${s.code}: ending it after ${idle} nobody led it failed: ${(err as Error).message}`),
      );
      this.#ending.add(ending);
      void ending.finally(() => this.#ending.delete(ending));
    }
  }

  async subscribe(code: string, listener: (session: SessionInfo) => void): Promise<() => void> {
    const open = this.#open.get(code);
    if (open) {
      open.listeners.add(listener);
      listener(open.info());
      return () => open.listeners.delete(listener);
    }
    const stored = await this.store.getClassSession(code);
    if (stored === null) throw unknownSession(code);
    // Ended: this is all there will ever be to say.
    listener(this.#info(stored));
    return () => {};
  }

  /**
   * The service is stopping: open sessions end (their runs are about to stop with the service).
   * The runs themselves are the RunManager's to stop.
   */
  async shutdown(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#idleTimer);
    await Promise.all([...this.#ending]);
    const open = [...this.#open.values()];
    this.#open.clear();
    for (const s of open) {
      try {
        await this.#save(s, { status: "ended" });
      } catch (err) {
        console.warn(`[service] class session ${s.code}: its end could not be stored: ${(err as Error).message}`);
      }
      s.listeners.clear();
      for (const unwatch of s.unwatch.splice(0)) unwatch();
    }
  }

  /** Listens to run `id` of `session`: if it ends while the session is open, the session says so. */
  async #watch(session: OpenSession, role: RunRole, id: string): Promise<void> {
    const unsubscribe = await this.service.subscribe(id, {
      onRecords: () => {},
      onConsole: () => {},
      onStatus: (info) => this.#runStatus(session, role, info),
    });
    if (session.state.status === "open" && !this.#closing) session.unwatch.push(unsubscribe);
    else unsubscribe();
  }

  #runStatus(session: OpenSession, role: RunRole, info: RunInfo): void {
    if (info.live || session.state.status !== "open" || this.#closing || session.runEnded !== null) return;
    const o = info.outcome as { outcome?: unknown; message?: unknown } | null;
    const reason = [o?.outcome, o?.message].filter((x): x is string => typeof x === "string" && x !== "").join(": ");
    session.runEnded = `the ${role} run ended (${reason === "" ? info.status : reason}): end this session and start a new one`;
    // An advance on its way says why it failed (or, if it got there, the run's end) when it is done.
    if (session.busy) return;
    this.#save(session, { error: session.runEnded }).catch((err: unknown) => {
      console.warn(`[service] class session ${session.code}: the end of its ${role} run could not be stored: ${(err as Error).message}`);
    });
  }

  /** Writes `patch` (the store's queue keeps writes in call order), then tells every listener. */
  async #save(session: OpenSession, patch: SessionPatch): Promise<void> {
    // The state changes at once, so a change made while this one is being written builds on it.
    session.state = { ...session.state, ...patch };
    const row = await this.store.updateClassSession(session.code, patch);
    if (row.updatedAt > session.state.updatedAt) session.state = { ...session.state, updatedAt: row.updatedAt };
    session.notify();
  }

  /** Stops the session's runs and waits (a while) until they have ended and stored their last records. */
  async #stopRuns(session: OpenSession): Promise<void> {
    const ids = [session.state.mainRunId, session.state.compareRunId].filter((id): id is string => id !== null);
    for (const id of ids) {
      try {
        await this.service.control(id, { action: "stop" }, { key: session.key });
      } catch (err) {
        if ((err as Error).name !== "ConflictError") throw err; // already ended
      }
    }
    await session.follower.close({ stop: false });
    await Promise.all(ids.map((id) => whenEnded(this.service, id, 15_000)));
  }
}
