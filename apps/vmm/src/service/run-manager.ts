// The service's heart: it starts machines for runs, keeps their records flowing to the store
// (at least every second) and to live viewers, applies the teacher's controls, and keeps stored
// runs readable, exportable and importable. The HTTP/WebSocket layer (server.ts) only validates
// and translates; everything that touches a VM or the database is here.
import { kvmAvailable } from "@kvmscope/kvm-binding";
import {
  bySeq, ChromeTraceWriter, NdjsonWriter, RECORD_SIZE, RunSummary, type TraceRecord, decodeBatch, encodeBatch,
  parseNdjson, recordsFromChrome,
} from "@kvmscope/shared";
import { exitStatusFor } from "../exit-status.js";
import { ConfigError, LIMITS, type MachineConfig, validateConfig } from "../config.js";
import { findGuest, type GuestInfo, listGuests, loadGuestImage } from "../guests.js";
import { Machine, type RunResult } from "../machine.js";
import { Store } from "../store/store.js";
import type { RunStore, ServiceStore, StoredRun } from "../store/types.js";
import type { LoadOptions } from "../walkthroughs.js";
import { ClassSessions, DEFAULT_SESSION_IDLE_SEC, loadWalkthroughCatalog, type SessionOptions } from "./sessions.js";
import {
  ConflictError, type ControlRequest, ForbiddenError, LimitError, NotFoundError, type RecordQuery, type RunAuth, type RunInfo,
  type RunListener, type RunOwner, type RunRequest, type RunService, type RunStatus, type ServiceLimits, UnavailableError,
} from "./types.js";

export const DEFAULT_LIMITS: ServiceLimits = {
  maxConcurrentRuns: 4,
  maxTotalVcpus: 64,
  maxTotalMemMiB: 4096,
  maxImageBytes: LIMITS.imageBytes.max,
  maxRunSeconds: 600,
  maxClassRunSeconds: 4 * 3600,
  sessionIdleSeconds: DEFAULT_SESSION_IDLE_SEC,
};

/** Records are written to the store at least this often while a run is live. */
const FLUSH_MS = 1000;
/** How often a live run's status (running / paused) is looked at, for viewers and the store. */
const STATUS_MS = 50;
/** The guest's serial output kept with a run, for replay (the end of it, if longer). */
const CONSOLE_KEEP = 64 * 1024;

/** One run whose VM lives in this process. */
class LiveRun {
  readonly listeners = new Set<RunListener>();
  readonly summary = new RunSummary();
  pending: Uint8Array[] = [];
  recordCount = 0;
  console = "";
  status: RunStatus = "created";
  statusWrite = false;
  #flushing: Promise<void> = Promise.resolve();
  done!: Promise<void>;

  constructor(readonly id: string, readonly machine: Machine, readonly config: MachineConfig, readonly guest: GuestInfo | undefined, private readonly store: RunStore) {}

  /** The last error a flush met (the records it could not write are retried at the next flush). */
  flushError: string | null = null;

  /** Writes what is pending as one batch; flushes never overlap and keep their order. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(async () => {
      if (this.pending.length === 0) return;
      const parts = this.pending;
      this.pending = [];
      const total = parts.reduce((n, p) => n + p.length, 0);
      const bytes = new Uint8Array(total);
      let at = 0;
      for (const p of parts) {
        bytes.set(p, at);
        at += p.length;
      }
      try {
        await this.store.appendRecords(this.id, bytes);
        this.flushError = null;
      } catch (err) {
        // Keep them, in order, ahead of whatever arrived meanwhile: nothing is dropped silently.
        this.pending.unshift(bytes);
        this.flushError = (err as Error).message;
      }
    });
    return this.#flushing;
  }
}

export class RunManager implements RunService {
  readonly #live = new Map<string, LiveRun>();
  /** Live runs that a class session owns: only its teacher (or the session itself) may control them. */
  readonly #owners = new Map<string, RunOwner>();
  readonly abortedAtStart: string[];
  readonly endedAtStart: string[];
  readonly sessions: ClassSessions;

  private constructor(
    readonly store: ServiceStore,
    readonly limits: ServiceLimits,
    aborted: string[],
    ended: string[],
    sessions: { catalog: ReturnType<typeof loadWalkthroughCatalog>; options: SessionOptions },
  ) {
    this.abortedAtStart = aborted;
    this.endedAtStart = ended;
    this.sessions = new ClassSessions(this, store, sessions.catalog, { idleEndSec: limits.sessionIdleSeconds, ...sessions.options });
  }

  /**
   * Opens the store in `dataDir` (migrating it), marks runs a killed service left live as aborted
   * and the class sessions they belonged to as ended, and loads the walkthroughs (a broken file is
   * logged and left out, never fatal).
   */
  static async open(opts: { dataDir: string; limits?: Partial<ServiceLimits>; walkthroughs?: LoadOptions; sessions?: SessionOptions }): Promise<RunManager> {
    const store: ServiceStore = await Store.open(opts.dataDir); // the SQLite implementation
    const aborted = await store.markLiveRunsAborted();
    const ended = await store.endOpenClassSessions();
    const catalog = loadWalkthroughCatalog(opts.walkthroughs, opts.sessions?.log);
    return new RunManager(store, { ...DEFAULT_LIMITS, ...opts.limits }, aborted, ended, { catalog, options: opts.sessions ?? {} });
  }

  listGuests(): GuestInfo[] {
    return listGuests();
  }

  async createRun(req: RunRequest): Promise<RunInfo> {
    if ((req.guest === undefined) === (req.image === undefined)) throw new ConfigError('give exactly one of "guest" and "image"');
    let guest: GuestInfo | undefined;
    let image: Uint8Array;
    if (req.guest !== undefined) {
      guest = findGuest(req.guest);
      if (!guest) throw new ConfigError(`no guest called "${req.guest}"; the guests are: ${listGuests().map((g) => g.name).join(", ")}`);
      image = loadGuestImage(req.guest);
    } else {
      image = req.image as Uint8Array;
      if (image.length > this.limits.maxImageBytes) throw new LimitError(`the image is ${image.length} bytes; this service accepts at most ${this.limits.maxImageBytes}`, 413);
    }
    // The time limit counts only the time the guest was allowed to run (Machine's RunClock), so a
    // step run paused while a teacher talks keeps its limit; a class run gets the class limit.
    // A run paused for the class limit in one stretch ends (the idle limit): nobody is coming back.
    const maxSeconds = req.owner ? this.limits.maxClassRunSeconds : this.limits.maxRunSeconds;
    const timeoutSec = Math.min(req.timeoutSec ?? maxSeconds, maxSeconds);
    const config: MachineConfig = {
      ...validateConfig({
        image,
        vcpus: req.vcpus ?? guest?.vcpus,
        memMiB: req.memMiB ?? guest?.memMiB,
        irqchip: req.irqchip ?? guest?.irqchip,
        timeoutSec,
        maxExits: req.maxExits,
      }, "api"),
      startPaused: req.mode === "step",
      idleTimeoutMs: this.limits.maxClassRunSeconds * 1000,
    };
    this.#checkCapacity(config);
    const kvm = kvmAvailable();
    if (!kvm.ok) throw new UnavailableError(`this service cannot run guests: ${kvm.reason}; stored runs can still be read, exported and imported`);

    const imageHash = await this.store.putImage(image);
    const stored = await this.store.createRun({
      guest: guest?.name ?? null,
      imageHash,
      config: { vcpus: config.vcpus, memMiB: config.memMiB, irqchip: config.irqchip, mode: req.mode ?? "live", timeoutSec, maxExits: config.maxExits ?? null },
      status: "created",
      sessionCode: req.owner?.session ?? null,
    });
    // Owned before the VM exists: there is no moment at which anyone else could control it.
    if (req.owner) this.#owners.set(stored.id, req.owner);
    this.#start(stored.id, config, guest);
    return this.#info(stored);
  }

  #checkCapacity(config: MachineConfig): void {
    const live = [...this.#live.values()];
    if (live.length + 1 > this.limits.maxConcurrentRuns) throw new LimitError(`${live.length} runs are live; this service runs at most ${this.limits.maxConcurrentRuns} at once`);
    const vcpus = live.reduce((n, r) => n + r.config.vcpus, 0);
    if (vcpus + config.vcpus > this.limits.maxTotalVcpus) throw new LimitError(`${vcpus} vCPUs are in use; ${config.vcpus} more would pass this service's limit of ${this.limits.maxTotalVcpus}`);
    const mem = live.reduce((n, r) => n + r.config.memMiB, 0);
    if (mem + config.memMiB > this.limits.maxTotalMemMiB) throw new LimitError(`${mem} MiB of guest RAM are in use; ${config.memMiB} MiB more would pass this service's limit of ${this.limits.maxTotalMemMiB} MiB`);
  }

  #start(id: string, config: MachineConfig, guest: GuestInfo | undefined): void {
    let live!: LiveRun;
    const machine = new Machine(config, {
      onRawRecords: (bytes, records) => {
        live.pending.push(bytes);
        live.recordCount += records.length;
        for (const r of records) live.summary.add(r);
        const first = records[0]?.seq ?? 0;
        const last = records.at(-1)?.seq ?? 0;
        for (const l of live.listeners) l.onRecords(bytes, first, last);
      },
      onConsole: (bytes) => {
        live.console = (live.console + Buffer.from(bytes).toString("latin1")).slice(-CONSOLE_KEEP);
        for (const l of live.listeners) l.onConsole(bytes);
      },
    });
    live = new LiveRun(id, machine, config, guest, this.store);
    this.#live.set(id, live);

    const flusher = setInterval(() => void live.flush(), FLUSH_MS);
    const watcher = setInterval(() => void this.#watchStatus(live), STATUS_MS);
    const started = new Date();
    live.done = machine.run().then(
      (result) => this.#finish(live, result, started),
      (err: Error) => this.#finish(live, null, started, err),
    ).finally(() => {
      clearInterval(flusher);
      clearInterval(watcher);
    });
  }

  /** Never rejects: it runs from a timer, and a failed write is simply tried again on the next tick. */
  async #watchStatus(live: LiveRun): Promise<void> {
    const s = live.machine.status;
    if (s === "finished" || s === live.status || live.statusWrite) return;
    live.statusWrite = true;
    try {
      const first = live.status === "created" && s !== "created";
      await this.store.updateRun(live.id, { status: s, ...(first ? { startedAt: new Date() } : {}) });
      live.status = s;
      await this.#notify(live);
    } catch (err) {
      console.warn(`[service] run ${live.id}: status ${s} not stored yet: ${(err as Error).message}`);
    } finally {
      live.statusWrite = false;
    }
  }

  /** Never rejects: whatever happens, the run leaves #live and its viewers are let go. */
  async #finish(live: LiveRun, result: RunResult | null, started: Date, err?: Error): Promise<void> {
    try {
      await this.#store(live, result, started, err);
    } catch (e) {
      console.warn(`[service] run ${live.id}: its end could not be stored: ${(e as Error).message}`);
    } finally {
      this.#live.delete(live.id);
      this.#owners.delete(live.id);
      try {
        await this.#notify(live);
      } catch {
        // a viewer that cannot be told is gone anyway
      }
      live.listeners.clear();
    }
  }

  async #store(live: LiveRun, result: RunResult | null, started: Date, err?: Error): Promise<void> {
    await live.flush();
    if (live.pending.length > 0) await live.flush(); // one retry of what the last flush could not write
    const unstored = live.pending.reduce((n, p) => n + p.length / RECORD_SIZE, 0);
    const outcome = result
      ? { type: "end", ...result, status: exitStatusFor(result, live.guest), console: live.console, ...(unstored > 0 ? { unstoredRecords: unstored, storeError: live.flushError } : {}) }
      : { type: "end", outcome: "vmm-error", message: `the VM could not be built: ${err?.message ?? "unknown error"}`, status: 20, console: live.console };
    const status: RunStatus = outcome.outcome === "vmm-error" ? "failed" : "finished";
    live.status = status;
    await this.store.updateRun(live.id, {
      status, outcome, totals: live.summary.toJSON() as unknown as Record<string, unknown>,
      startedAt: started, endedAt: new Date(),
    });
  }

  async #notify(live: LiveRun): Promise<void> {
    if (live.listeners.size === 0) return;
    const info = await this.getRun(live.id);
    if (info) for (const l of live.listeners) l.onStatus(info);
  }

  async getRun(id: string): Promise<RunInfo | null> {
    const stored = await this.store.getRun(id);
    return stored ? this.#info(stored) : null;
  }

  async listRuns(opts: { limit: number; before?: string }): Promise<{ runs: RunInfo[]; next: string | null }> {
    let page: Awaited<ReturnType<RunStore["listRuns"]>>;
    try {
      page = await this.store.listRuns(opts);
    } catch (err) {
      if (err instanceof RangeError) throw new ConfigError(`bad runs query: ${err.message}`);
      throw err;
    }
    return { runs: page.runs.map((r) => this.#info(r)), next: page.next };
  }

  #info(r: StoredRun): RunInfo {
    const live = this.#live.get(r.id);
    return {
      id: r.id,
      createdAt: r.createdAt.toISOString(),
      guest: r.guest,
      imageHash: r.imageHash,
      imageBytes: r.imageBytes,
      config: r.config as unknown as RunInfo["config"],
      status: live ? live.status : r.status,
      outcome: r.outcome,
      totals: r.totals,
      startedAt: r.startedAt?.toISOString() ?? null,
      endedAt: r.endedAt?.toISOString() ?? null,
      recordCount: live ? live.recordCount : r.recordCount,
      imported: r.imported,
      live: live !== undefined,
      session: r.sessionCode,
    };
  }

  #liveRun(id: string): LiveRun {
    const live = this.#live.get(id);
    if (!live || live.machine.status === "finished") throw new ConflictError(`run ${id} is not live: only a run whose VM is running can be controlled or typed into`);
    return live;
  }

  async #known(id: string): Promise<void> {
    if (!this.#live.has(id) && !(await this.store.getRun(id))) throw new NotFoundError(`no run ${id}`);
  }

  /** A class session's run answers to its teacher only (a finished one to nobody: it is not live). */
  #authorize(id: string, auth: RunAuth | undefined): void {
    const owner = this.#owners.get(id);
    if (owner !== undefined && !owner.allows(auth)) {
      throw new ForbiddenError(`run ${id} belongs to the class session ${owner.session}: only the teacher who started this session can do that (students follow with the join code)`);
    }
  }

  async control(id: string, req: ControlRequest, auth?: RunAuth): Promise<RunInfo> {
    await this.#known(id);
    this.#authorize(id, auth);
    const live = this.#liveRun(id);
    switch (req.action) {
      case "pause":
        live.machine.pause();
        break;
      case "resume":
        live.machine.resume();
        break;
      case "step":
        live.machine.step(req.count ?? 1);
        break;
      case "stop":
        live.machine.stop();
        break;
      case "break":
        live.machine.setBreakpoint(req.when);
        break;
    }
    const info = await this.getRun(id);
    if (!info) throw new NotFoundError(`no run ${id}`);
    return info;
  }

  async consoleInput(id: string, bytes: Uint8Array, auth?: RunAuth): Promise<number> {
    await this.#known(id);
    this.#authorize(id, auth);
    return this.#liveRun(id).machine.pushConsoleInput(bytes);
  }

  async readRecords(id: string, q: RecordQuery): Promise<{ records: TraceRecord[]; next: number | null }> {
    await this.#known(id);
    await this.#live.get(id)?.flush(); // a live run's newest records are in the store before we read
    return this.store.readRecords(id, q);
  }

  async *exportRun(id: string, format: "ndjson" | "chrome"): AsyncIterable<string> {
    const run = await this.store.getRun(id);
    if (!run) throw new NotFoundError(`no run ${id}`);
    await this.#live.get(id)?.flush();
    const chunks: string[] = [];
    const sink = (chunk: string): void => {
      chunks.push(chunk);
    };
    const runLine = { type: "run" as const, version: 1, id: run.id, guest: run.guest, imageHash: run.imageHash, imageBytes: run.imageBytes, ...run.config, startedAt: run.startedAt?.toISOString() ?? null };
    const ndjson = format === "ndjson" ? new NdjsonWriter(sink, runLine) : undefined;
    const chrome = format === "chrome" ? new ChromeTraceWriter(sink, { metadata: runLine, vcpus: Number(run.config.vcpus) || undefined }) : undefined;
    for await (const bytes of this.store.streamRecords(id)) {
      for (const r of decodeBatch(bytes)) {
        ndjson?.write(r);
        chrome?.write(r);
      }
      yield* chunks.splice(0);
    }
    const end = { type: "end" as const, ...(run.outcome ?? { outcome: run.status }), totals: run.totals };
    ndjson?.end(end);
    chrome?.end(end);
    yield* chunks.splice(0);
  }

  async importRun(text: string): Promise<RunInfo> {
    const { run, records, end } = parseImport(text);
    const imageHash = await this.store.putImage(new Uint8Array(0));
    const stored = await this.store.createRun({
      guest: typeof run.guest === "string" ? run.guest : null,
      imageHash,
      config: {
        vcpus: Number(run.vcpus) || 1, memMiB: Number(run.memMiB) || 0, irqchip: run.irqchip === "kernel" ? "kernel" : "user",
        mode: "live", timeoutSec: typeof run.timeoutSec === "number" ? run.timeoutSec : null, maxExits: typeof run.maxExits === "number" ? run.maxExits : null,
      },
      status: "finished",
      imported: true,
    });
    const summary = new RunSummary();
    for (const r of records) summary.add(r);
    for (let i = 0; i < records.length; i += 4096) await this.store.appendRecords(stored.id, encodeBatch(records.slice(i, i + 4096)));
    const { type: _type, totals: _totals, ...outcome } = end;
    await this.store.updateRun(stored.id, { status: "finished", outcome: { type: "end", ...outcome }, totals: summary.toJSON() as unknown as Record<string, unknown>, endedAt: new Date() });
    const info = await this.getRun(stored.id);
    if (!info) throw new Error("the imported run vanished");
    return info;
  }

  async subscribe(id: string, listener: RunListener): Promise<() => void> {
    await this.#known(id);
    // Listen first, then say where the run stands: a run that ends meanwhile still reaches the
    // listener (#finish notifies it), and one that already ended is told by the status below.
    const live = this.#live.get(id);
    live?.listeners.add(listener);
    const info = await this.getRun(id);
    if (info) listener.onStatus(info);
    return () => live?.listeners.delete(listener);
  }

  /** Stops every live run, waits until each has flushed its last records, closes the store. */
  async shutdown(): Promise<void> {
    // First, so that no advance starts on a run that is about to stop, and the sessions' last
    // writes are in before the store closes.
    await this.sessions.shutdown();
    const live = [...this.#live.values()];
    for (const r of live) {
      try {
        r.machine.stop();
      } catch (err) {
        console.warn(`[service] run ${r.id}: stop failed: ${(err as Error).message}`);
      }
    }
    await Promise.all(live.map((r) => r.done));
    await this.store.close();
  }

  /** For tests and the bench: resolves when run `id` has finished (or at once if it is not live). */
  async whenFinished(id: string): Promise<void> {
    await this.#live.get(id)?.done;
  }
}

/**
 * An export file back into a run line, records and an end line: NDJSON, or Chrome trace JSON.
 * The records come back in seq order, renumbered 0..n-1 where their own seqs would not do (see
 * renumberRecords).
 */
export function parseImport(text: string): { run: Record<string, unknown>; records: TraceRecord[]; end: Record<string, unknown> } {
  const parsed = parseImportFile(text);
  return { ...parsed, records: renumberRecords(parsed.records) };
}

/**
 * The records in seq order (ties keep the file's order). Their seqs stay as they are when they
 * already increase and stay below twice the number of records: an export of ours (dense from 0;
 * from a Chrome trace, with the gaps where statistics samples were, which come back at the end),
 * where a seq names the same record as in the run it came from. Otherwise they are numbered
 * densely from 0: a file whose seqs run far past its records (one near 2^32) would make every
 * reader that indexes records by seq, the browser's trace store first, allocate for the seqs it
 * names rather than for the records it holds.
 */
export function renumberRecords(records: TraceRecord[]): TraceRecord[] {
  const increasing = records.every((r, i) => i === 0 || records[i - 1]!.seq < r.seq);
  if (increasing && (records.at(-1)?.seq ?? 0) < 2 * records.length) return records;
  const sorted = [...records].sort(bySeq);
  return sorted.map((r, i) => (r.seq === i ? r : { ...r, seq: i }));
}

function parseImportFile(text: string): { run: Record<string, unknown>; records: TraceRecord[]; end: Record<string, unknown> } {
  const trimmed = text.trimStart();
  if (trimmed.startsWith("{\"traceEvents\"") || (trimmed.startsWith("{") && !trimmed.includes("\n{"))) {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      throw new ConfigError(`the import is neither NDJSON nor valid Chrome trace JSON: ${(err as Error).message}`);
    }
    try {
      return recordsFromChrome(doc);
    } catch (err) {
      throw new ConfigError(`the import is not a kvmscope Chrome trace: ${(err as Error).message}`);
    }
  }
  try {
    const parsed = parseNdjson(text);
    return { run: parsed.run as Record<string, unknown>, records: parsed.records, end: parsed.end as Record<string, unknown> };
  } catch (err) {
    throw new ConfigError(`the import is not a kvmscope NDJSON export: ${(err as Error).message}`);
  }
}
