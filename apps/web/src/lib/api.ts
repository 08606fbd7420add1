// The web app's side of the VMM service's HTTP API (README: "The service"). Every answer is
// checked against the shared protocol schemas before the page uses it: a service of another
// version, or something else on that port, gives a clear error instead of a broken page.
import {
  AnswersAnswer, type ControlBody, type CreateRunBody, CreateSessionAnswer, ErrorBody, type ExportFormat, LeadAnswer, LeadCodeAnswer, RunInfo,
  RUN_ID_PATTERN, SessionInfo, type StepAnswer, TEACHER_TOKEN_HEADER, Walkthrough,
} from "@kvmscope/shared";
import { z } from "zod";

/** A teaching guest from the service's catalog. */
export const GuestInfo = z.looseObject({
  name: z.string(),
  title: z.string(),
  description: z.string(),
  shows: z.array(z.string()),
  vcpus: z.number(),
  memMiB: z.number(),
  irqchip: z.enum(["user", "kernel"]),
  /** How the guest ends when all goes as designed ("halted", "timeout" for guests that never stop ...). */
  expect: z.looseObject({ outcome: z.string() }).optional(),
  /** The title and description in Japanese. */
  ja: z.looseObject({ title: z.string(), description: z.string() }).optional(),
});
export type GuestInfo = z.infer<typeof GuestInfo>;

const GuestList = z.looseObject({ guests: z.array(GuestInfo) });
const RunList = z.looseObject({ runs: z.array(RunInfo), next: z.string().nullable() });
const WalkthroughList = z.looseObject({ walkthroughs: z.array(Walkthrough) });
/** `/_kvmscope/addresses` of npm start's front door: where students on the network can open this page. */
const Addresses = z.looseObject({ bind: z.string(), port: z.number(), urls: z.array(z.string()) });
export type Addresses = z.infer<typeof Addresses>;

/** The service answered with an error status (its message says why), or not at all (status 0). */
export class ServiceError extends Error {
  override name = "ServiceError";
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
  /** The service could not be reached at all: down, restarting, or a wrong address. */
  get unreachable(): boolean {
    return this.status === 0;
  }
}

export class ServiceClient {
  /** `baseUrl` "": the service is on this page's own origin (behind `npm start`'s front door). */
  constructor(readonly baseUrl: string) {}

  /** ws://… of the service: the page's own host when the service is on this origin. */
  private wsBase(): string {
    if (this.baseUrl !== "") return this.baseUrl.replace(/^http/, "ws");
    return `${window.location.protocol === "https:" ? "wss" : "ws"}://${window.location.host}`;
  }

  private async request(path: string, init: RequestInit = {}): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(this.baseUrl + path, { ...init, cache: "no-store" });
    } catch {
      throw new ServiceError(`the kvmscope service at ${this.baseUrl === "" ? window.location.origin : this.baseUrl} does not answer`, 0);
    }
    if (res.ok) return res;
    // npm start's front door answers for a service that is down (scripts/front.mjs).
    const down = res.headers.get("x-kvmscope-unreachable") === "1";
    let message = `${res.status} ${res.statusText}`;
    try {
      const body = ErrorBody.safeParse(await res.json());
      if (body.success) message = body.data.error;
    } catch {
      // not JSON: keep the status line
    }
    throw new ServiceError(message, down ? 0 : res.status);
  }

  private async json<S extends z.ZodType>(schema: S, path: string, init?: RequestInit): Promise<z.output<S>> {
    const res = await this.request(path, init);
    const parsed = schema.safeParse(await res.json().catch(() => undefined));
    if (!parsed.success) throw new ServiceError(`the service's answer to ${path} is not what this page expects (${parsed.error.issues[0]?.message ?? "?"})`, 502);
    return parsed.data;
  }

  private post<S extends z.ZodType>(schema: S, path: string, body: unknown, token?: string): Promise<z.output<S>> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (token !== undefined) headers[TEACHER_TOKEN_HEADER] = token;
    return this.json(schema, path, { method: "POST", headers, body: JSON.stringify(body) });
  }

  async guests(): Promise<GuestInfo[]> {
    return (await this.json(GuestList, "/api/guests")).guests;
  }

  listRuns(limit = 20, before?: string): Promise<z.output<typeof RunList>> {
    const q = new URLSearchParams({ limit: String(limit) });
    if (before !== undefined) q.set("before", before);
    return this.json(RunList, `/api/runs?${q}`);
  }

  getRun(id: string): Promise<RunInfo> {
    return this.json(RunInfo, `/api/runs/${runPath(id)}`);
  }

  createRun(body: CreateRunBody): Promise<RunInfo> {
    return this.post(RunInfo, "/api/runs", body);
  }

  /** `token`: the teacher's secret, for a run a class session owns. */
  control(id: string, body: ControlBody, token?: string): Promise<RunInfo> {
    return this.post(RunInfo, `/api/runs/${runPath(id)}/control`, body, token);
  }

  consoleInput(id: string, data: string, token?: string): Promise<unknown> {
    return this.post(z.unknown(), `/api/runs/${runPath(id)}/console`, { data }, token);
  }

  // ---- walkthroughs and class sessions

  async walkthroughs(): Promise<Walkthrough[]> {
    return (await this.json(WalkthroughList, "/api/walkthroughs")).walkthroughs;
  }

  /** One walkthrough by id, or null when the service has none by that id. */
  async walkthrough(id: string): Promise<Walkthrough | null> {
    try {
      return await this.json(Walkthrough, `/api/walkthroughs/${encodeURIComponent(id)}`);
    } catch (err) {
      if (err instanceof ServiceError && err.status === 404) return null;
      throw err;
    }
  }

  /** `peek`: students may show answers before the teacher reveals them. */
  createSession(walkthrough: string, peek = false): Promise<{ session: SessionInfo; teacherToken: string }> {
    return this.post(CreateSessionAnswer, "/api/sessions", peek ? { walkthrough, peek } : { walkthrough });
  }

  /** Every answer of the session's walkthrough (the teacher's token). */
  async sessionAnswers(code: string, token: string): Promise<StepAnswer[]> {
    const headers = { [TEACHER_TOKEN_HEADER]: token };
    return (await this.json(AnswersAnswer, `/api/sessions/${encodeURIComponent(code)}/answers`, { headers })).answers;
  }

  /** A walkthrough's answers for studying alone; a ServiceError 403 while a class on it hides them. */
  async walkthroughAnswers(id: string): Promise<StepAnswer[]> {
    return (await this.json(AnswersAnswer, `/api/walkthroughs/${encodeURIComponent(id)}/answers`)).answers;
  }

  /** The teacher's page is open (a session nobody leads ends after the service's idle limit). */
  heartbeat(code: string, token: string): Promise<SessionInfo> {
    return this.post(SessionInfo, `/api/sessions/${encodeURIComponent(code)}/heartbeat`, {}, token);
  }

  /** A one-use code with which another browser becomes the teacher. */
  leadCode(code: string, token: string): Promise<LeadCodeAnswer> {
    return this.post(LeadCodeAnswer, `/api/sessions/${encodeURIComponent(code)}/lead-code`, {}, token);
  }

  /** This browser becomes the teacher with a lead code. */
  lead(code: string, leadCode: string): Promise<LeadAnswer> {
    return this.post(LeadAnswer, `/api/sessions/${encodeURIComponent(code)}/lead`, { leadCode });
  }

  /** Where students can open this page, from npm start's front door; null without one (a separate service). */
  async addresses(): Promise<Addresses | null> {
    if (this.baseUrl !== "") return null;
    try {
      const res = await fetch("/_kvmscope/addresses", { cache: "no-store" });
      if (!res.ok) return null;
      const parsed = Addresses.safeParse(await res.json());
      return parsed.success ? parsed.data : null;
    } catch {
      return null;
    }
  }

  getSession(code: string): Promise<SessionInfo> {
    return this.json(SessionInfo, `/api/sessions/${encodeURIComponent(code)}`);
  }

  advance(code: string, token: string, to?: number): Promise<SessionInfo> {
    return this.post(SessionInfo, `/api/sessions/${encodeURIComponent(code)}/advance`, to === undefined ? {} : { to }, token);
  }

  reveal(code: string, token: string, step: number): Promise<SessionInfo> {
    return this.post(SessionInfo, `/api/sessions/${encodeURIComponent(code)}/reveal`, { step }, token);
  }

  endSession(code: string, token: string): Promise<SessionInfo> {
    return this.post(SessionInfo, `/api/sessions/${encodeURIComponent(code)}/end`, {}, token);
  }

  sessionSocketUrl(code: string): string {
    return `${this.wsBase()}/ws?session=${encodeURIComponent(code)}`;
  }

  /** A page of stored records as codec bytes, and the `fromSeq` of the next page (null at the end). */
  async recordPage(id: string, fromSeq: number, limit = 10_000): Promise<{ bytes: Uint8Array; next: number | null }> {
    const res = await this.request(`/api/runs/${runPath(id)}/records?fromSeq=${fromSeq}&limit=${limit}&format=binary`);
    const next = res.headers.get("x-kvmscope-next");
    return { bytes: new Uint8Array(await res.arrayBuffer()), next: next === null || next === "" ? null : Number(next) };
  }

  /** Where the browser downloads an export (a plain link: the service names the file). */
  exportUrl(id: string, format: ExportFormat): string {
    return `${this.baseUrl}/api/runs/${runPath(id)}/export?format=${format}`;
  }

  /** Stores an NDJSON or Chrome export as a new run (replayable without /dev/kvm). */
  importExport(text: string): Promise<RunInfo> {
    // A Chrome trace is one JSON object; an NDJSON export is one per line.
    const type = /^\s*\{\s*"traceEvents"/.test(text.slice(0, 200)) ? "application/json" : "application/x-ndjson";
    return this.json(RunInfo, "/api/import", { method: "POST", headers: { "content-type": type }, body: text });
  }

  webSocketUrl(id: string): string {
    return `${this.wsBase()}/ws?run=${encodeURIComponent(id)}`;
  }
}

function runPath(id: string): string {
  if (!RUN_ID_PATTERN.test(id)) throw new ServiceError(`"${id}" is not a run id`, 404);
  return encodeURIComponent(id);
}
