// The walkthroughs in the repository's walkthroughs/ folder: loaded, checked against this VMM
// (its guest catalog, and the source files they cite), and followed on real KVM.
//
// Following a walkthrough creates its run(s) in step mode through the RunService and advances
// each run only as far as the next step's point:
// - an exit point becomes a breakpoint ("break" with the filter's reason, port, addr, vCPU and
//   direction) and a resume. The vCPU thread compares every exit with the armed condition as it
//   comes out of KVM_RUN and pauses the machine right after the first match, so the run stops
//   at the point itself, however many exits away it is, with no round trip per exit. nth > 1
//   arms it again for each further match.
// - an ioctl or marker point cannot be a break condition, so the run goes one exit at a time
//   ("step" with count 1), looking at the records after each: it stops on the exit that
//   produced the point, or that follows it (a KVM_INTERRUPT belongs to the exit after it).
// Either way the seq reported is found in the records themselves (locatePoint, the same search
// locateSteps does over a finished trace), never guessed from counts.
import { readdirSync, readFileSync } from "node:fs";
import { basename, join, relative, sep } from "node:path";
import {
  bySeq, closestName, decodeBatch, describePoint, exitReasonCode, locatePoint, parseWalkthroughDocument, pointKind,
  recordMatchesPoint, runSpecOf, type ParsedWalkthrough, type RunRole, type TraceRecord, type Walkthrough,
  WalkthroughError, type WalkthroughPoint, type WalkthroughProblem,
} from "@kvmscope/shared";
import { type GuestInfo, listGuests } from "./guests.js";
import { REPO_ROOT, WALKTHROUGHS_DIR } from "./paths.js";
import type { ControlRequest, RunInfo, RunListener, RunService } from "./service/types.js";
import { StatusError } from "./errors.js";

/** The repository root and its walkthroughs folder: paths.ts (configuration or package resolution). */
export { REPO_ROOT, WALKTHROUGHS_DIR } from "./paths.js";

// ---------------------------------------------------------------------------------------------
// Loading

export interface LoadedWalkthrough {
  /** The file, from the repository root: "walkthroughs/01-vm-life.yaml". */
  file: string;
  walkthrough: Walkthrough;
}

export interface LoadOptions {
  /** Default: the repository's walkthroughs/ folder. */
  dir?: string;
  /** Default: the VMM's catalog (guests/catalog.json). */
  guests?: readonly GuestInfo[];
  /** Where code.ours.file paths start. Default: the repository root. */
  repoRoot?: string;
  /** Check that every code.ours.fn is defined in its file (default true). */
  checkCode?: boolean;
}

/**
 * Every walkthroughs/*.yaml, in file-name order, each parsed and checked. Throws one
 * WalkthroughError listing the problems of every broken file (`file:line:col: field: reason`).
 */
export function loadWalkthroughs(opts: LoadOptions = {}): LoadedWalkthrough[] {
  const dir = opts.dir ?? WALKTHROUGHS_DIR;
  const files = readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort();
  const loaded: LoadedWalkthrough[] = [];
  const problems: WalkthroughProblem[] = [];
  const byId = new Map<string, string>();
  for (const f of files) {
    try {
      const { parsed, loaded: one } = load(join(dir, f), opts);
      const other = byId.get(one.walkthrough.id);
      if (other !== undefined) {
        problems.push(parsed.problemAt(["id"], `"${one.walkthrough.id}" is already the id of ${other}: walkthrough ids must be unique`));
        continue;
      }
      byId.set(one.walkthrough.id, one.file);
      loaded.push(one);
    } catch (err) {
      if (!(err instanceof WalkthroughError)) throw err;
      problems.push(...err.problems);
    }
  }
  if (problems.length > 0) throw new WalkthroughError(problems);
  return loaded;
}

/** One walkthrough file, parsed and checked against this VMM; throws a WalkthroughError. */
export function loadWalkthroughFile(path: string, opts: LoadOptions = {}): LoadedWalkthrough {
  return load(path, opts).loaded;
}

function load(path: string, opts: LoadOptions): { parsed: ParsedWalkthrough; loaded: LoadedWalkthrough } {
  const root = opts.repoRoot ?? REPO_ROOT;
  const rel = relative(root, path);
  const file = rel.startsWith("..") ? path : rel.split(sep).join("/");
  const parsed = parseWalkthroughDocument(readFileSync(path, "utf8"), file);
  const problems = checkAgainstVmm(parsed, opts);
  if (problems.length > 0) throw new WalkthroughError(problems);
  return { parsed, loaded: { file, walkthrough: parsed.walkthrough } };
}

/** What the shared format cannot check: the file's name, the guest, and the functions cited. */
export function checkAgainstVmm(parsed: ParsedWalkthrough, opts: LoadOptions = {}): WalkthroughProblem[] {
  const w = parsed.walkthrough;
  const problems: WalkthroughProblem[] = [];
  const name = basename(parsed.fileName);
  if (!new RegExp(`^(?:\\d+-)?${w.id}\\.yaml$`).test(name)) {
    problems.push(parsed.problemAt(["id"], `the file must be named ${w.id}.yaml, optionally with an order prefix (01-${w.id}.yaml); it is ${name}`));
  }
  const guests = opts.guests ?? listGuests();
  if (!guests.some((g) => g.name === w.run.guest)) {
    const names = guests.map((g) => g.name);
    const guess = closestName(w.run.guest, names);
    problems.push(parsed.problemAt(["run", "guest"], `there is no teaching guest "${w.run.guest}"${guess ? ` (did you mean "${guess}"?)` : ""}; the guests are ${names.join(", ")}`));
  }
  if (opts.checkCode ?? true) {
    const root = opts.repoRoot ?? REPO_ROOT;
    const sources = new Map<string, string | null>();
    w.steps.forEach((step, i) => {
      const { file, fn } = step.code.ours;
      if (!sources.has(file)) {
        let text: string | null = null;
        try {
          text = readFileSync(join(root, file), "utf8");
        } catch {
          text = null;
        }
        sources.set(file, text);
      }
      const source = sources.get(file);
      if (source === null || source === undefined) problems.push(parsed.problemAt(["steps", i, "code", "ours", "file"], `${file} does not exist in this repository`));
      else if (!definesFunction(source, fn)) problems.push(parsed.problemAt(["steps", i, "code", "ours", "fn"], `${file} defines no ${fn}`));
    });
  }
  return problems;
}

const escapeRegex = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * Whether TypeScript `source` defines `fn`: a function, class or const of that name, or a method
 * ("Class.method", "Class.#private") declared in class Class. A call is not a definition.
 */
export function definesFunction(source: string, fn: string): boolean {
  const dot = fn.indexOf(".");
  const owner = dot < 0 ? undefined : fn.slice(0, dot);
  const member = escapeRegex(dot < 0 ? fn : fn.slice(dot + 1));
  const forms = [
    new RegExp(`\\bfunction\\*?\\s+${member}\\s*[<(]`),
    new RegExp(`\\bclass\\s+${member}\\b`),
    new RegExp(`\\b(?:const|let|var)\\s+${member}\\s*[=:]`),
    // A method: its name and whole parameter list on one line that opens the body.
    new RegExp(`^[ \\t]*(?:(?:public|private|protected|static|async|override|readonly|get|set)\\s+)*${member}\\s*(?:<[^\\n]*>)?\\([^\\n]*\\)[^\\n;]*\\{[ \\t]*$`, "m"),
  ];
  if (!forms.some((f) => f.test(source))) return false;
  return owner === undefined || new RegExp(`\\bclass\\s+${escapeRegex(owner)}\\b`).test(source);
}

// ---------------------------------------------------------------------------------------------
// Following on real KVM

export interface FollowOptions {
  /** Give up on a step after this long (default 30 s). */
  stepTimeoutMs?: number;
  /** Single steps allowed while looking for one ioctl or marker point (default 500). */
  maxSingleSteps?: number;
  /** Leave the runs live (paused where the tour ended), as a class would; by default they are stopped. */
  keepRuns?: boolean;
  /** Each run's time limit in seconds (default 300; the service's own limit may be lower). */
  runTimeoutSec?: number;
  /** Told as each step is reached. */
  onStep?(reached: StepReached): void;
}

export interface StepReached {
  index: number;
  stepId: string;
  run: RunRole;
  runId: string;
  /** The record where the step's point is reached. */
  seq: number;
  record: TraceRecord;
  /** How the run was advanced to it: not at all (already in the records), by breakpoints, or one exit at a time. */
  advancedBy: "none" | "break" | "step";
  /** Control commands sent for this step. */
  commands: number;
  ms: number;
}

export interface FollowResult {
  ok: boolean;
  /** The service's run ids: "main", and "compare" when the walkthrough has one and got that far. */
  runIds: Partial<Record<RunRole, string>>;
  steps: StepReached[];
  failure?: { index: number; stepId: string; reason: string };
  ms: number;
}

/** A step whose point the run did not reach: the run ended first, or time ran out. */
/** 422: the request was fine, the run was not. */
export class FollowError extends StatusError {
  override name = "FollowError";
  constructor(readonly index: number, readonly stepId: string, message: string) {
    super(422, message);
  }
}

/** Records are looked at this often while waiting for the run to do what it was told. */
const POLL_MS = 5;
/** The machine counts as settled after this long with no new record but statistics samples. */
const SETTLE_MS = 30;
/** How often getRun is asked whether a run has ended, in case a status message was missed. */
const STATUS_POLL_MS = 250;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** One run being followed: every record it produced so far, live from a subscription. */
class FollowedRun {
  readonly bySeq = new Map<number, TraceRecord>();
  /** In arrival order: what came after a command is evidence that the command took effect. */
  readonly arrivals: TraceRecord[] = [];
  #sorted: TraceRecord[] | null = [];
  /** Date.now() of the last record that was not a statistics sample (those keep coming while paused). */
  lastActivity = Date.now();
  status: RunInfo["status"] = "created";
  ended = false;
  outcome: string | null = null;
  /** The seq of the previous step's point in this run: the next search starts there. */
  cursorSeq = 0;
  unsubscribe: () => void = () => {};

  constructor(readonly role: RunRole, readonly id: string) {}

  add(records: readonly TraceRecord[]): void {
    for (const r of records) {
      if (this.bySeq.has(r.seq)) continue;
      this.bySeq.set(r.seq, r);
      this.arrivals.push(r);
      if (r.type !== "stats") this.lastActivity = Date.now();
      this.#sorted = null;
    }
  }

  /** Every record so far in seq order (a thread's records can arrive after a later seq of another thread). */
  get sorted(): readonly TraceRecord[] {
    this.#sorted ??= [...this.bySeq.values()].sort(bySeq);
    return this.#sorted;
  }

  get maxSeq(): number {
    let max = -1;
    for (const seq of this.bySeq.keys()) if (seq > max) max = seq;
    return max;
  }

  noteStatus(info: RunInfo): void {
    this.status = info.status;
    if (!info.live || info.status === "finished" || info.status === "failed" || info.status === "aborted") {
      this.ended = true;
      const o = info.outcome as { outcome?: unknown; message?: unknown } | null;
      if (o) this.outcome = `${String(o.outcome ?? info.status)}: ${String(o.message ?? "")}`;
    }
  }
}

/**
 * Follows one walkthrough step by step on a RunService; for a class that moves on when the
 * teacher says so. followWalkthrough drives it to the end.
 */
export class WalkthroughFollower {
  readonly #runs = new Map<RunRole, FollowedRun>();
  #next = 0;

  constructor(private readonly service: RunService, readonly walkthrough: Walkthrough, private readonly opts: FollowOptions = {}) {}

  /** The index of the step advance() will reach next. */
  get nextIndex(): number {
    return this.#next;
  }

  get done(): boolean {
    return this.#next >= this.walkthrough.steps.length;
  }

  get runIds(): Partial<Record<RunRole, string>> {
    const out: Partial<Record<RunRole, string>> = {};
    for (const [role, run] of this.#runs) out[role] = run.id;
    return out;
  }

  /** Advances the step's run to the next step's point. Throws a FollowError if it cannot be reached. */
  async advance(): Promise<StepReached> {
    const index = this.#next;
    const step = this.walkthrough.steps[index];
    if (step === undefined) throw new RangeError("the walkthrough has no more steps");
    const started = Date.now();
    const deadline = started + (this.opts.stepTimeoutMs ?? 30_000);
    const fail = (reason: string): FollowError => new FollowError(index, step.id, `step ${index + 1} (${step.id}): ${reason}`);
    const run = await this.#run(step.run, deadline, fail);
    const point = step.at;
    const kind = pointKind(point);
    let commands = 0;
    let singleSteps = 0;
    let advancedBy: StepReached["advancedBy"] = "none";
    for (;;) {
      const hit = locatePoint(point, run.sorted, run.cursorSeq);
      if (hit.found) {
        run.cursorSeq = hit.seq;
        this.#next++;
        const reached: StepReached = {
          index, stepId: step.id, run: step.run, runId: run.id, seq: hit.seq, record: run.sorted[hit.index]!,
          advancedBy, commands, ms: Date.now() - started,
        };
        this.opts.onStep?.(reached);
        return reached;
      }
      if (run.ended) throw fail(`the ${step.run} run ended (${run.outcome ?? run.status}) before ${describePoint(point)}: ${hit.reason}`);
      if (Date.now() > deadline) throw fail(`gave up after ${this.opts.stepTimeoutMs ?? 30_000} ms looking for ${describePoint(point)}: ${hit.reason}`);

      const before = run.arrivals.length;
      const maxSeq = run.maxSeq;
      let evidence: (r: TraceRecord) => boolean;
      if (kind === "exit") {
        const f = (point as Extract<WalkthroughPoint, { exit: unknown }>).exit;
        advancedBy = "break";
        const when = {
          ...(f.reason !== undefined ? { reason: exitReasonCode(f.reason) } : {}),
          ...(f.port !== undefined ? { port: f.port } : {}),
          ...(f.addr !== undefined ? { addr: f.addr } : {}),
          ...(f.vcpu !== undefined ? { vcpu: f.vcpu } : {}),
          ...(f.direction !== undefined ? { direction: f.direction } : {}),
        };
        await this.#control(run, { action: "break", when });
        await this.#control(run, { action: "resume" });
        commands += 2;
        evidence = (r) => recordMatchesPoint(point, r);
      } else {
        if (singleSteps >= (this.opts.maxSingleSteps ?? 500)) {
          throw fail(`${describePoint(point)} did not come within ${singleSteps} exits of the previous step: ${hit.reason}`);
        }
        advancedBy = "step";
        await this.#control(run, { action: "step", count: 1 });
        commands++;
        singleSteps++;
        evidence = (r) => r.type === "exit";
      }
      await this.#waitFor(run, deadline, () => {
        for (let i = before; i < run.arrivals.length; i++) {
          const r = run.arrivals[i]!;
          if (r.seq > maxSeq && evidence(r)) return true;
        }
        return false;
      });
      await this.#settle(run, deadline);
    }
  }

  /** Lets go of the runs: stops them (unless `stop` is false) and waits until they have ended. */
  async close(opts: { stop?: boolean } = {}): Promise<void> {
    const stop = opts.stop ?? true;
    for (const run of this.#runs.values()) {
      if (stop && !run.ended) {
        await this.#control(run, { action: "stop" });
        const deadline = Date.now() + 15_000;
        while (!run.ended && Date.now() < deadline) {
          await sleep(20);
          await this.#pollStatus(run, true);
        }
      }
      run.unsubscribe();
    }
  }

  /** The run for `role`, created in step mode on first use and settled where the vCPUs wait for their first KVM_RUN. */
  async #run(role: RunRole, deadline: number, fail: (reason: string) => FollowError): Promise<FollowedRun> {
    const existing = this.#runs.get(role);
    if (existing) return existing;
    const spec = runSpecOf(this.walkthrough, role);
    const info = await this.service.createRun({
      guest: spec.guest, vcpus: spec.vcpus, memMiB: spec.memMiB, irqchip: spec.irqchip,
      mode: "step", timeoutSec: this.opts.runTimeoutSec ?? 300,
    });
    const run = new FollowedRun(role, info.id);
    this.#runs.set(role, run);
    const listener: RunListener = {
      onRecords: (batch) => run.add(decodeBatch(batch)),
      onConsole: () => {},
      onStatus: (status) => run.noteStatus(status),
    };
    run.unsubscribe = await this.service.subscribe(info.id, listener);
    // Records drained before the subscription began are in the store (or on their way to it).
    await this.#backfill(run);
    // "created" lasts until every vCPU exists and they are released; in step mode they then stop
    // before their first KVM_RUN.
    await this.#waitFor(run, deadline, () => run.status !== "created", true);
    if (run.status === "created" && !run.ended) throw fail(`the ${role} run was not ready in time`);
    await this.#settle(run, deadline);
    return run;
  }

  async #backfill(run: FollowedRun): Promise<void> {
    let fromSeq: number | null = 0;
    while (fromSeq !== null) {
      const page: { records: TraceRecord[]; next: number | null } = await this.service.readRecords(run.id, { fromSeq, limit: 10_000 });
      run.add(page.records);
      fromSeq = page.next;
    }
  }

  async #control(run: FollowedRun, req: ControlRequest): Promise<void> {
    try {
      run.noteStatus(await this.service.control(run.id, req));
    } catch (err) {
      // The run ended between two looks (the classes may come from another copy of the module).
      if ((err as Error).name === "ConflictError") {
        await this.#pollStatus(run, true);
        run.ended = true;
        return;
      }
      throw err;
    }
  }

  #lastStatusPoll = 0;

  async #pollStatus(run: FollowedRun, now = false): Promise<void> {
    if (!now && Date.now() - this.#lastStatusPoll < STATUS_POLL_MS) return;
    this.#lastStatusPoll = Date.now();
    const info = await this.service.getRun(run.id);
    if (info) run.noteStatus(info);
  }

  /** Until `done()`, the run ends, or the deadline; `statusToo` also asks getRun on every look. */
  async #waitFor(run: FollowedRun, deadline: number, done: () => boolean, statusToo = false): Promise<void> {
    while (!done() && !run.ended && Date.now() < deadline) {
      await sleep(POLL_MS);
      await this.#pollStatus(run, statusToo);
    }
    if (run.ended) await this.#backfill(run); // the last records of a run are stored before it says it ended
  }

  /**
   * Waits until the run has been quiet for SETTLE_MS. After a step or a breakpoint every vCPU
   * is paused (or halted) and has published its records, but a record another thread wrote
   * with a lower seq may still be on its way: only a quiet machine has a final order.
   */
  async #settle(run: FollowedRun, deadline: number): Promise<void> {
    while (!run.ended && Date.now() - run.lastActivity < SETTLE_MS && Date.now() < deadline) {
      await sleep(POLL_MS);
      await this.#pollStatus(run);
    }
    if (run.ended) await this.#backfill(run);
  }
}

/**
 * Follows `walkthrough` on `service` from its first step to its last, creating its run(s) in
 * step mode, and reports the seq where each step was reached (or which step was not, and why).
 * The runs are stopped at the end unless `opts.keepRuns`.
 */
export async function followWalkthrough(service: RunService, walkthrough: Walkthrough, opts: FollowOptions = {}): Promise<FollowResult> {
  const t0 = Date.now();
  const follower = new WalkthroughFollower(service, walkthrough, opts);
  const steps: StepReached[] = [];
  try {
    while (!follower.done) steps.push(await follower.advance());
    return { ok: true, runIds: follower.runIds, steps, ms: Date.now() - t0 };
  } catch (err) {
    if (!(err instanceof FollowError)) throw err;
    return { ok: false, runIds: follower.runIds, steps, failure: { index: err.index, stepId: err.stepId, reason: err.message }, ms: Date.now() - t0 };
  } finally {
    await follower.close({ stop: !opts.keepRuns });
  }
}
