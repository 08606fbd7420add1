// The HTTP and WebSocket face of `kvmscope serve`. It validates every request and message with
// the shared protocol schemas, translates them into RunService calls, maps the service's errors
// to HTTP statuses, and streams records to live viewers without ever letting a slow viewer slow
// the VM. Everything that touches a VM or the database is the RunService's.
//
// Routes (JSON unless said otherwise; errors are {"error": "..."}):
//   GET  /api/guests                      200 {"guests": GuestInfo[]}
//   POST /api/runs                        201 RunInfo (Location: /api/runs/ID)
//   GET  /api/runs?limit&before           200 {"runs": RunInfo[], "next": string | null}
//   GET  /api/runs/:id                    200 RunInfo
//   POST /api/runs/:id/control            200 RunInfo (after the action)
//   POST /api/runs/:id/console            200 {"accepted": bytes}
//   GET  /api/runs/:id/records?...        200 {"records": TraceRecord[], "next": number | null} (format=binary: codec bytes)
//   GET  /api/runs/:id/export?format=     200 NDJSON or Chrome trace JSON, streamed, as an attachment
//   POST /api/import                      201 RunInfo (body: an NDJSON or Chrome export)
//   GET  /api/walkthroughs                200 {"walkthroughs": Walkthrough[], "problems": string[]}
//   GET  /api/walkthroughs/:id            200 Walkthrough
//   POST /api/sessions                    201 {"session": SessionInfo, "teacherToken"} (Location: /api/sessions/CODE)
//   GET  /api/sessions/:code              200 SessionInfo
//   POST /api/sessions/:code/advance      200 SessionInfo, once the step is reached   } with the header
//   POST /api/sessions/:code/reveal       200 SessionInfo                             } X-Kvmscope-Token:
//   POST /api/sessions/:code/end          200 SessionInfo, once its runs stopped      } the teacher token
//   GET  /api/sessions/:code/answers      200 {"answers"}: every answer              }
//   POST /api/sessions/:code/heartbeat    200 SessionInfo (the teacher's page is open) }
//   POST /api/sessions/:code/lead-code    201 {"leadCode","expiresAt"}: one use        }
//   POST /api/sessions/:code/lead {"leadCode"}  200 {"session","teacherToken"}: another browser leads too
//   GET  /api/walkthroughs/:id/answers    200 {"answers"}, 403 while a class on it hides them
//   WebSocket /ws?run=ID                  see packages/shared/src/protocol.ts
//   WebSocket /ws?session=CODE            a `session` frame on connect and after every change; it takes
//                                         no messages (the first one closes it, 4400)
// A run that a class session owns is controlled (and typed into) only with its teacher token.
// Pages from `allowedOrigins` (the web app on its own port) may call the API from the browser:
// they get CORS headers and answered preflights; no other origin does.
import { createServer, type IncomingMessage, type ServerResponse, STATUS_CODES } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocket, WebSocketServer, type RawData } from "ws";
import {
  AdvanceBody, type ClientMessage, ClientMessage as ClientMessageSchema, type ControlBody, ControlBody as ControlBodySchema,
  type AnswersAnswer, ConsoleBody, CreateRunBody, CreateSessionBody, EndSessionBody, ExportQuery, JOIN_CODE_HINT, LeadBody, ListRunsQuery, PROTOCOL_VERSION,
  RECORD_SIZE, RecordsQuery, RevealBody, RUN_ID_PATTERN, type RunInfo as WireRunInfo, type ServerMessage, type SessionInfo,
  type SessionServerMessage, TEACHER_TOKEN_HEADER, type WalkthroughsAnswer, WsClose, check, consoleBytes, decodeBase64,
  describeValue, encodeBatch, exitReasonCode, NdjsonError, normalizeJoinCode,
} from "@kvmscope/shared";
import { StatusError, statusOf } from "../errors.js";
import {
  type ClassSessionService, type ControlRequest, NotFoundError, type RunAuth, type RunInfo, type RunListener, type RunRequest,
  type RunService,
} from "./types.js";

export interface ServerOptions {
  port: number;
  /** 127.0.0.1 unless the service is meant to be reached from other machines. */
  host: string;
  /** Largest JSON request body (a base64 image is the biggest); larger ones get 413. */
  maxBodyBytes: number;
  /** Largest POST /api/import body (an export file). Default 256 MiB. */
  maxImportBytes?: number;
  /** A viewer whose socket holds more than this many unsent bytes gets no record batches until it catches up. Default 4 MiB. */
  slowViewerBytes?: number;
  /** A viewer that falls this far behind even so (console and status frames are never thinned) is disconnected. Default 64 MiB. */
  maxViewerBytes?: number;
  /** Origins (e.g. "http://localhost:5173") besides the service's own whose pages may open WebSockets. */
  allowedOrigins?: readonly string[];
  /** Where request failures (500s) are reported. Default: console.error. */
  log?: (message: string) => void;
}

export interface RunningServer {
  /** http://HOST:PORT, with the port actually bound (useful with port 0). */
  url: string;
  port: number;
  /** Stops accepting, closes every viewer (1001), waits briefly for requests in flight. Does not shut the service down. */
  close(): Promise<void>;
}

const MiB = 1024 * 1024;
const JSON_TYPE = "application/json; charset=utf-8";
/** WebSocket messages from clients are small: a control or a console line. */
const MAX_CLIENT_MESSAGE_BYTES = 64 * 1024;
/** After a 413, what is still discarded before the connection is cut instead. */
const DISCARD_AFTER_413 = 1 * MiB;
const PING_MS = 30_000;
/** How often a viewer that is skipping records looks whether its socket has drained. */
const DRAIN_POLL_MS = 20;
/** A session socket carries small frames at the teacher's pace: one this far behind is gone. */
const SESSION_VIEWER_MAX_BYTES = 1 * MiB;
/** A run socket whose client sends this many refused messages in a row is closed (4400). */
const MAX_REFUSED_IN_A_ROW = 20;

// Every response: never sniffed as HTML, never framed, never cached.
const COMMON_HEADERS = {
  "x-content-type-options": "nosniff",
  "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
  "cache-control": "no-store",
} as const;

// Compile-time check that what the service returns is what the protocol says the wire carries.
const asWireRunInfo = (r: RunInfo): WireRunInfo => r;

/** A failure of the request itself, with its status (and any headers it answers with). */
class HttpError extends StatusError {
  constructor(status: number, message: string, readonly headers: Record<string, string> = {}) {
    super(status, message);
  }
}

/** The status an error from the service (or from us) answers with: its own `status` (errors.ts), else 500. */
export const httpStatusOf = statusOf;

function errorMessage(err: unknown, status: number): string {
  const message = err instanceof Error ? err.message : String(err);
  return status >= 500 && status !== 503 ? `internal error: ${message}` : message;
}

// ---------------------------------------------------------------------------------------------
// Responses

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...COMMON_HEADERS, "content-type": JSON_TYPE, "content-length": String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

function waitDrainOrClose(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}

// ---------------------------------------------------------------------------------------------
// Requests

function mediaType(req: IncomingMessage): string {
  return (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
}

/**
 * Only these content types are accepted for bodies. Never the ones a cross-site HTML form or a
 * "simple" fetch can send (text/plain, form encodings, none): a page on another origin cannot
 * start VMs on a service bound to loopback.
 */
function requireMediaType(req: IncomingMessage, accepted: readonly string[]): void {
  const got = mediaType(req);
  if (!accepted.includes(got)) {
    throw new HttpError(415, `send the body with Content-Type: ${accepted.join(" or ")} (got ${got === "" ? "none" : got})`);
  }
}

/** After a 413 the rest of the body is read and dropped, up to a point; then the connection is cut. */
function abandonBody(req: IncomingMessage): void {
  let extra = 0;
  const socket = req.socket;
  const timer = setTimeout(() => socket.destroy(), 5000);
  timer.unref();
  const stop = (): void => clearTimeout(timer);
  req.on("data", (chunk: Buffer) => {
    extra += chunk.length;
    if (extra > DISCARD_AFTER_413) {
      stop();
      socket.destroy();
    }
  });
  req.once("end", stop);
  req.once("close", stop);
  req.resume();
}

function tooLarge(limit: number, got: string): HttpError {
  return new HttpError(413, `the body is ${got}; this service accepts at most ${limit} bytes here`);
}

/** The whole body, never more than `limit` bytes of it held: past the limit, 413. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > limit) {
    abandonBody(req);
    return Promise.reject(tooLarge(limit, `${declared} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        chunks.length = 0;
        abandonBody(req);
        reject(tooLarge(limit, `more than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onClose = (): void => {
      cleanup();
      reject(new HttpError(400, "the request was aborted before its body ended"));
    };
    const cleanup = (): void => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("close", onClose);
      req.off("error", onClose);
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("close", onClose);
    req.on("error", onClose);
  });
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function bodyText(buf: Buffer, what: string): string {
  try {
    return utf8.decode(buf);
  } catch {
    throw new HttpError(400, `${what} is not valid UTF-8 text`);
  }
}

/** A JSON body (Content-Type: application/json), parsed: malformed JSON is a 400 that says so. */
async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  requireMediaType(req, ["application/json"]);
  const text = bodyText(await readBody(req, limit), "the body");
  if (text.trim() === "") throw new HttpError(400, "the body is empty: send a JSON object");
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new HttpError(400, `malformed JSON in the body: ${(err as Error).message}`);
  }
}

/** A JSON body that may also be left out (no body at all counts as `{}`); one that is sent is read as readJson does. */
async function readOptionalJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const length = req.headers["content-length"];
  if (req.headers["transfer-encoding"] === undefined && (length === undefined || length === "0")) return {};
  return readJson(req, limit);
}

function validated<T>(result: { ok: true; value: T } | { ok: false; message: string }, what: string): T {
  if (!result.ok) throw new HttpError(400, `${what}: ${result.message}`);
  return result.value;
}

/** The query as an object of strings; a parameter given twice is an error rather than a guess. */
function queryObject(url: URL): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of url.searchParams) {
    if (Object.hasOwn(out, k)) throw new HttpError(400, `the query parameter "${k}" is given more than once`);
    out[k] = v;
  }
  return out;
}

/** The teacher token a request carries (TEACHER_TOKEN_HEADER), if any. */
function teacherTokenOf(req: IncomingMessage): string | undefined {
  const v = req.headers[TEACHER_TOKEN_HEADER];
  return typeof v === "string" ? v : undefined;
}

function authOf(req: IncomingMessage): RunAuth {
  return { token: teacherTokenOf(req) };
}

/** A join code from a path or a query, normalized; a malformed one is a 400 that shows what one looks like. */
function joinCodeOf(raw: string): string {
  let text = raw;
  try {
    text = decodeURIComponent(raw);
  } catch {
    // keep it as it came: it is not a join code either way
  }
  const code = normalizeJoinCode(text);
  if (code === undefined) throw new HttpError(400, `${JOIN_CODE_HINT} (got ${describeValue(text)})`);
  return code;
}

function toControlRequest(body: ControlBody): ControlRequest {
  if (body.action !== "break") return body.action === "step" ? { action: "step", count: body.count ?? 1 } : { action: body.action };
  const w = body.when;
  return {
    action: "break",
    when: {
      ...(w.reason !== undefined ? { reason: exitReasonCode(w.reason)! } : {}),
      ...(w.port !== undefined ? { port: w.port } : {}),
      ...(w.addr !== undefined ? { addr: w.addr } : {}),
      ...(w.vcpu !== undefined ? { vcpu: w.vcpu } : {}),
      ...(w.direction !== undefined ? { direction: w.direction } : {}),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Host and origin checks

const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "::1", "[::1]"]);

function isLoopbackName(host: string): boolean {
  const h = host.toLowerCase();
  return LOOPBACK_NAMES.has(h) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h.endsWith(".localhost");
}

/** "host:port" or "[v6]:port" -> host */
function hostnameOf(hostHeader: string): string {
  if (hostHeader.startsWith("[")) return hostHeader.slice(0, hostHeader.indexOf("]") + 1);
  const colon = hostHeader.lastIndexOf(":");
  return colon < 0 ? hostHeader : hostHeader.slice(0, colon);
}

// ---------------------------------------------------------------------------------------------
// Live viewers

interface ViewerOptions {
  high: number;
  low: number;
  max: number;
}

/**
 * What both kinds of socket (a run's viewer, a class session's) share: JSON frames, cut off once
 * more than `max` bytes pile up unsent (never queued without bound), an error frame, one close,
 * and the unsubscribe from whatever the socket follows.
 */
abstract class SocketViewer<Message extends { type: string }> {
  #unsubscribe: (() => void) | undefined;
  #closed = false;
  alive = true;

  constructor(readonly ws: WebSocket, private readonly max: number) {}

  get open(): boolean {
    return !this.#closed && this.ws.readyState === WebSocket.OPEN;
  }

  /** A frame already serialized (the same text may go to many sockets). */
  sendText(text: string): void {
    if (!this.open) return;
    if (this.ws.bufferedAmount > this.max) {
      this.close(WsClose.TooSlow, "this viewer fell too far behind");
      this.ws.terminate();
      return;
    }
    this.beforeFrame();
    this.ws.send(text);
  }

  send(msg: Message): void {
    this.sendText(JSON.stringify(msg));
  }

  /** An error frame, then (with a code) the socket is closed. */
  fail(status: number, message: string, closeCode?: number, id?: string | number): void {
    this.send({ type: "error", message, status, ...(id !== undefined ? { id } : {}) } as unknown as Message);
    if (closeCode !== undefined) this.close(closeCode, message);
  }

  setUnsubscribe(unsubscribe: () => void): void {
    if (this.#closed) unsubscribe();
    else this.#unsubscribe = unsubscribe;
  }

  close(code: number, reason: string): void {
    this.dispose();
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      // A close reason is at most 123 bytes.
      this.ws.close(code, Buffer.from(reason).subarray(0, 123).toString());
    }
  }

  dispose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.onDispose();
    const unsubscribe = this.#unsubscribe;
    this.#unsubscribe = undefined;
    unsubscribe?.();
  }

  /** Called before each JSON frame goes out. */
  protected beforeFrame(): void {}
  /** Called once, when the socket stops following. */
  protected onDispose(): void {}
}

/**
 * One WebSocket watching one run. Record batches are dropped (never queued without bound, never
 * waited for) while the socket holds more than `high` unsent bytes, and resume once it is back
 * under `low`, after one `skipped` marker naming exactly the records that were dropped.
 */
class Viewer extends SocketViewer<ServerMessage> implements RunListener {
  #dropping = false;
  #dropFrom = 0;
  #dropTo = 0;
  #dropCount = 0;
  #pollTimer: NodeJS.Timeout | undefined;
  #queue: Promise<void> = Promise.resolve();
  readonly #console = new TextDecoder("utf-8");
  /** Client messages refused in a row (an error frame each); an acknowledged one starts again at 0. */
  refused = 0;

  constructor(ws: WebSocket, readonly runId: string, private readonly o: ViewerOptions) {
    super(ws, o.max);
  }

  /** Runs `task` after every task queued before it: messages are answered in the order they came. */
  enqueue(task: () => Promise<void>): void {
    this.#queue = this.#queue.then(task).catch(() => {});
  }

  onRecords(batch: Uint8Array, firstSeq: number, lastSeq: number): void {
    if (!this.open) return;
    const buffered = this.ws.bufferedAmount;
    if (this.#dropping ? buffered > this.o.low : buffered > this.o.high) {
      this.#drop(firstSeq, lastSeq, Math.floor(batch.byteLength / RECORD_SIZE));
      return;
    }
    this.#flushSkipped();
    // ws sends the bytes as they are; a view of shared memory could change under it, so copy that.
    const bytes = batch.buffer instanceof SharedArrayBuffer ? batch.slice() : batch;
    this.ws.send(bytes, { binary: true });
  }

  onConsole(bytes: Uint8Array): void {
    if (!this.open) return;
    const text = this.#console.decode(bytes, { stream: true });
    if (text !== "") this.send({ type: "console", data: text });
  }

  onStatus(info: RunInfo): void {
    this.send({ type: "status", run: asWireRunInfo(info) });
  }

  /** JSON frames are never thinned (a viewer so far behind that they pile up past `max` is cut off); a gap is told first. */
  protected override beforeFrame(): void {
    this.#flushSkipped(true);
  }

  protected override onDispose(): void {
    this.#stopPolling();
  }

  #drop(firstSeq: number, lastSeq: number, count: number): void {
    // Each vCPU's batches come in seq order, but not the batches of several vCPUs together: a
    // later batch may hold lower seqs. The marker spans every dropped record.
    if (this.#dropCount === 0) {
      this.#dropFrom = firstSeq;
      this.#dropTo = lastSeq;
    } else {
      this.#dropFrom = Math.min(this.#dropFrom, firstSeq);
      this.#dropTo = Math.max(this.#dropTo, lastSeq);
    }
    this.#dropCount += count;
    this.#dropping = true;
    this.#pollTimer ??= setInterval(() => {
      if (!this.open) this.#stopPolling();
      else if (this.ws.bufferedAmount <= this.o.low) this.#flushSkipped();
    }, DRAIN_POLL_MS);
    this.#pollTimer.unref();
  }

  #stopPolling(): void {
    if (this.#pollTimer !== undefined) clearInterval(this.#pollTimer);
    this.#pollTimer = undefined;
  }

  /**
   * Sends the pending `skipped` marker once the socket has drained under `low` (or, with `force`,
   * before a JSON frame, so a viewer learns of a gap before it learns that the run has ended).
   */
  #flushSkipped(force = false): void {
    if (this.#dropCount === 0) return;
    if (!force && this.ws.bufferedAmount > this.o.low) return;
    const msg: ServerMessage = { type: "skipped", fromSeq: this.#dropFrom, toSeq: this.#dropTo, count: this.#dropCount };
    this.#dropCount = 0;
    this.#dropping = this.ws.bufferedAmount > this.o.low;
    if (!this.#dropping) this.#stopPolling();
    this.ws.send(JSON.stringify(msg));
  }
}

/**
 * One WebSocket following one class session: a `session` frame now and after every change. The
 * frames are small and come at the teacher's pace, so nothing is thinned; a socket that still
 * piles up past `max` unsent bytes (a student's laptop closed without a goodbye) is cut off.
 */
class SessionViewer extends SocketViewer<SessionServerMessage> {}

/**
 * Serializes each SessionInfo once for all its sockets: with 40 students a change costs one
 * JSON.stringify, not 40. Keyed by the object the session service hands to every listener.
 */
const sessionFrames = new WeakMap<SessionInfo, string>();
function sessionFrame(session: SessionInfo): string {
  let text = sessionFrames.get(session);
  if (text === undefined) {
    text = JSON.stringify({ type: "session", session } satisfies SessionServerMessage);
    sessionFrames.set(session, text);
  }
  return text;
}

function rawText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString("utf8");
  if (Array.isArray(data)) return Buffer.concat(data).toString("utf8");
  return Buffer.from(data).toString("utf8");
}

function messageIdOf(value: unknown): string | number | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const id = (value as { id?: unknown }).id;
  return (typeof id === "string" && id.length <= 64) || (typeof id === "number" && Number.isSafeInteger(id)) ? id : undefined;
}

// ---------------------------------------------------------------------------------------------
// The server

export async function startServer(service: RunService, opts: ServerOptions): Promise<RunningServer> {
  const maxImportBytes = opts.maxImportBytes ?? 256 * MiB;
  const high = opts.slowViewerBytes ?? 4 * MiB;
  const viewerOptions: ViewerOptions = { high, low: Math.floor(high / 4), max: Math.max(opts.maxViewerBytes ?? 64 * MiB, 2 * high) };
  const log = opts.log ?? ((m: string) => console.error(m));
  const loopbackOnly = isLoopbackName(opts.host);
  const viewers = new Set<Viewer>();
  const sessionViewers = new Set<SessionViewer>();

  /** DNS rebinding: a service on loopback answers only to loopback names. */
  function checkHost(hostHeader: string | undefined): void {
    if (!loopbackOnly) return;
    if (hostHeader === undefined || !isLoopbackName(hostnameOf(hostHeader))) {
      throw new HttpError(403, `this service listens on ${opts.host} and answers only to a loopback host name (got Host: ${hostHeader ?? "none"})`);
    }
  }

  function originAllowed(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    if (origin === undefined) return true; // not a browser
    if (opts.allowedOrigins?.includes(origin)) return true;
    try {
      return new URL(origin).host === req.headers.host;
    } catch {
      return false;
    }
  }

  // ---- HTTP routes

  type Handler = (req: IncomingMessage, res: ServerResponse, url: URL, id: string) => Promise<void>;

  const sessionsOf = (): ClassSessionService => {
    if (service.sessions === undefined) throw new HttpError(404, "this service has no class sessions");
    return service.sessions;
  };

  const getRun = async (id: string): Promise<RunInfo> => {
    const run = await service.getRun(id);
    if (run === null) throw new HttpError(404, `no run ${id}`);
    return run;
  };

  // `param`: what the path's one parameter is. A run id is checked against RUN_ID_PATTERN (404
  // otherwise), a join code is normalized (400 otherwise), a walkthrough id is looked up as it is.
  const routes: { pattern: RegExp; param?: "run" | "session" | "walkthrough"; methods: Record<string, Handler> }[] = [
    {
      pattern: /^\/api\/guests$/,
      methods: {
        GET: async (_req, res) => sendJson(res, 200, { guests: service.listGuests() }),
      },
    },
    {
      pattern: /^\/api\/runs$/,
      methods: {
        GET: async (_req, res, url) => {
          const q = validated(check(ListRunsQuery, queryObject(url)), "bad query");
          const page = await service.listRuns({ limit: q.limit, ...(q.before !== undefined ? { before: q.before } : {}) });
          sendJson(res, 200, { runs: page.runs.map(asWireRunInfo), next: page.next });
        },
        POST: async (req, res) => {
          const body = validated(check(CreateRunBody, await readJson(req, opts.maxBodyBytes)), "bad run request");
          const { image, ...rest } = body;
          const request: RunRequest = { ...rest, ...(image !== undefined ? { image: decodeBase64(image) } : {}) };
          const run = await service.createRun(request);
          sendJson(res, 201, asWireRunInfo(run), { location: `/api/runs/${encodeURIComponent(run.id)}` });
        },
      },
    },
    {
      pattern: /^\/api\/runs\/([^/]+)$/,
      methods: {
        GET: async (_req, res, _url, id) => sendJson(res, 200, asWireRunInfo(await getRun(id))),
      },
    },
    {
      pattern: /^\/api\/runs\/([^/]+)\/control$/,
      methods: {
        POST: async (req, res, _url, id) => {
          const body = validated(check(ControlBodySchema, await readJson(req, opts.maxBodyBytes)), "bad control request");
          sendJson(res, 200, asWireRunInfo(await service.control(id, toControlRequest(body), authOf(req))));
        },
      },
    },
    {
      pattern: /^\/api\/runs\/([^/]+)\/console$/,
      methods: {
        POST: async (req, res, _url, id) => {
          const body = validated(check(ConsoleBody, await readJson(req, opts.maxBodyBytes)), "bad console input");
          sendJson(res, 200, { accepted: await service.consoleInput(id, consoleBytes(body), authOf(req)) });
        },
      },
    },
    {
      pattern: /^\/api\/runs\/([^/]+)\/records$/,
      methods: {
        GET: async (_req, res, url, id) => {
          const { format, ...q } = validated(check(RecordsQuery, queryObject(url)), "bad query");
          const page = await service.readRecords(id, q);
          if (format === "json") {
            sendJson(res, 200, page);
            return;
          }
          // The web app's replay: the same bytes the WebSocket carries, no JSON to build or parse.
          const bytes = encodeBatch(page.records);
          res.writeHead(200, {
            ...COMMON_HEADERS,
            "content-type": "application/octet-stream",
            "content-length": String(bytes.byteLength),
            "x-kvmscope-next": page.next === null ? "" : String(page.next),
          });
          res.end(bytes);
        },
      },
    },
    {
      pattern: /^\/api\/runs\/([^/]+)\/export$/,
      methods: {
        GET: async (_req, res, url, id) => {
          const { format } = validated(check(ExportQuery, queryObject(url)), "bad query");
          await streamExport(res, id, format);
        },
      },
    },
    {
      pattern: /^\/api\/import$/,
      methods: {
        POST: async (req, res) => {
          requireMediaType(req, ["application/x-ndjson", "application/json", "application/octet-stream"]);
          const text = bodyText(await readBody(req, maxImportBytes), "the export");
          if (text.trim() === "") throw new HttpError(400, "the body is empty: send an NDJSON or Chrome trace export");
          let run: RunInfo;
          try {
            run = await service.importRun(text);
          } catch (err) {
            // A parser's own complaint about the file is the client's problem, not ours.
            if (err instanceof SyntaxError || err instanceof TypeError || err instanceof RangeError || err instanceof NdjsonError) {
              throw new HttpError(400, `the import is not a kvmscope export: ${err.message}`);
            }
            throw err;
          }
          sendJson(res, 201, asWireRunInfo(run), { location: `/api/runs/${encodeURIComponent(run.id)}` });
        },
      },
    },
    {
      pattern: /^\/api\/walkthroughs$/,
      methods: {
        GET: async (_req, res) => {
          const { walkthroughs, problems } = sessionsOf().catalog();
          sendJson(res, 200, { walkthroughs, problems } satisfies WalkthroughsAnswer);
        },
      },
    },
    {
      pattern: /^\/api\/walkthroughs\/([^/]+)$/,
      param: "walkthrough",
      methods: {
        GET: async (_req, res, _url, id) => {
          const w = sessionsOf().walkthrough(id);
          if (w === null) throw new HttpError(404, `no walkthrough ${describeValue(id)} (see GET /api/walkthroughs)`);
          sendJson(res, 200, w);
        },
      },
    },
    {
      pattern: /^\/api\/walkthroughs\/([^/]+)\/answers$/,
      param: "walkthrough",
      methods: {
        GET: async (_req, res, _url, id) => {
          sendJson(res, 200, { answers: sessionsOf().walkthroughAnswers(id) } satisfies AnswersAnswer);
        },
      },
    },
    {
      pattern: /^\/api\/sessions$/,
      methods: {
        POST: async (req, res) => {
          const body = validated(check(CreateSessionBody, await readJson(req, opts.maxBodyBytes)), "bad session request");
          const answer = await sessionsOf().create(body.walkthrough, body.peek !== undefined ? { peek: body.peek } : {});
          sendJson(res, 201, answer, { location: `/api/sessions/${answer.session.code}` });
        },
      },
    },
    {
      pattern: /^\/api\/sessions\/([^/]+)$/,
      param: "session",
      methods: {
        GET: async (_req, res, _url, code) => {
          const session = await sessionsOf().get(code);
          if (session === null) throw new HttpError(404, `no class session with the join code ${code}`);
          sendJson(res, 200, session);
        },
      },
    },
    {
      pattern: /^\/api\/sessions\/([^/]+)\/advance$/,
      param: "session",
      methods: {
        POST: async (req, res, _url, code) => {
          const body = validated(check(AdvanceBody, await readOptionalJson(req, opts.maxBodyBytes)), "bad advance request");
          sendJson(res, 200, await sessionsOf().advance(code, teacherTokenOf(req), body.to));
        },
      },
    },
    {
      pattern: /^\/api\/sessions\/([^/]+)\/reveal$/,
      param: "session",
      methods: {
        POST: async (req, res, _url, code) => {
          const body = validated(check(RevealBody, await readJson(req, opts.maxBodyBytes)), "bad reveal request");
          sendJson(res, 200, await sessionsOf().reveal(code, teacherTokenOf(req), body.step));
        },
      },
    },
    {
      pattern: /^\/api\/sessions\/([^/]+)\/end$/,
      param: "session",
      methods: {
        POST: async (req, res, _url, code) => {
          validated(check(EndSessionBody, await readOptionalJson(req, opts.maxBodyBytes)), "bad end request");
          sendJson(res, 200, await sessionsOf().end(code, teacherTokenOf(req)));
        },
      },
    },
    {
      pattern: /^\/api\/sessions\/([^/]+)\/answers$/,
      param: "session",
      methods: {
        GET: async (req, res, _url, code) => {
          sendJson(res, 200, { answers: await sessionsOf().answers(code, teacherTokenOf(req)) } satisfies AnswersAnswer);
        },
      },
    },
    {
      pattern: /^\/api\/sessions\/([^/]+)\/heartbeat$/,
      param: "session",
      methods: {
        POST: async (req, res, _url, code) => {
          validated(check(EndSessionBody, await readOptionalJson(req, opts.maxBodyBytes)), "bad heartbeat");
          sendJson(res, 200, await sessionsOf().heartbeat(code, teacherTokenOf(req)));
        },
      },
    },
    {
      pattern: /^\/api\/sessions\/([^/]+)\/lead-code$/,
      param: "session",
      methods: {
        POST: async (req, res, _url, code) => {
          validated(check(EndSessionBody, await readOptionalJson(req, opts.maxBodyBytes)), "bad lead-code request");
          sendJson(res, 201, await sessionsOf().leadCode(code, teacherTokenOf(req)));
        },
      },
    },
    {
      pattern: /^\/api\/sessions\/([^/]+)\/lead$/,
      param: "session",
      methods: {
        POST: async (req, res, _url, code) => {
          const body = validated(check(LeadBody, await readJson(req, opts.maxBodyBytes)), "bad lead request");
          sendJson(res, 200, await sessionsOf().lead(code, body.leadCode));
        },
      },
    },
  ];

  async function streamExport(res: ServerResponse, id: string, format: "ndjson" | "chrome"): Promise<void> {
    const it = service.exportRun(id, format)[Symbol.asyncIterator]();
    // The first piece before the headers: an unknown run is still a 404, not a broken stream.
    let next = await it.next();
    res.writeHead(200, {
      ...COMMON_HEADERS,
      "content-type": format === "ndjson" ? "application/x-ndjson; charset=utf-8" : JSON_TYPE,
      "content-disposition": `attachment; filename="kvmscope-${id}.${format === "ndjson" ? "ndjson" : "trace.json"}"`,
    });
    try {
      while (!next.done) {
        if (res.destroyed) break;
        if (next.value !== "" && !res.write(next.value)) await waitDrainOrClose(res);
        if (res.destroyed) break;
        next = await it.next();
      }
      if (!next.done) await it.return?.();
      else res.end();
    } catch (err) {
      // The status line is gone: all that can be said is a cut-off stream.
      log(`kvmscope service: the export of run ${id} failed midway: ${(err as Error).stack ?? String(err)}`);
      res.destroy(err as Error);
    }
  }

  /**
   * CORS for the allowed origins only. A browser sends a preflight before any POST we accept
   * (requireMediaType admits no "simple" content type), so a page from any other origin can
   * neither start VMs nor read answers.
   */
  function corsHeaders(req: IncomingMessage, res: ServerResponse): boolean {
    const origin = req.headers.origin;
    if (origin === undefined || opts.allowedOrigins?.includes(origin) !== true) return false;
    res.setHeader("access-control-allow-origin", origin);
    res.setHeader("vary", "Origin");
    res.setHeader("access-control-expose-headers", "Location, Content-Disposition, X-Kvmscope-Next");
    return true;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      checkHost(req.headers.host);
      const cors = corsHeaders(req, res);
      if (req.method === "OPTIONS") {
        if (!cors) throw new HttpError(403, `pages from ${req.headers.origin ?? "nowhere"} may not call this service (start it with --allow-origin to admit one)`);
        res.writeHead(204, {
          ...COMMON_HEADERS,
          "access-control-allow-methods": "GET, POST",
          // The teacher token travels in a header of its own (never in a URL, which ends up in logs and history).
          "access-control-allow-headers": "Content-Type, X-Kvmscope-Token",
          "access-control-max-age": "600",
        });
        res.end();
        return;
      }
      const raw = req.url ?? "";
      if (!raw.startsWith("/")) throw new HttpError(400, `cannot route ${JSON.stringify(raw)}`);
      const url = new URL(`http://localhost${raw}`);
      for (const route of routes) {
        const m = route.pattern.exec(url.pathname);
        if (m === null) continue;
        let id = m[1] ?? "";
        const handler = route.methods[req.method ?? ""];
        if (handler === undefined) {
          const allow = Object.keys(route.methods).join(", ");
          throw new HttpError(405, `${url.pathname} takes ${allow}, not ${req.method ?? "?"}`, { allow });
        }
        if (m[1] !== undefined) {
          const param = route.param ?? "run";
          if (param === "run" && !RUN_ID_PATTERN.test(id)) throw new HttpError(404, `no run ${JSON.stringify(id)}`);
          if (param === "session") id = joinCodeOf(id);
        }
        await handler(req, res, url, id);
        return;
      }
      throw new HttpError(404, `no such endpoint: ${req.method ?? "?"} ${url.pathname} (see /api/guests, /api/runs, /api/import, /api/walkthroughs, /api/sessions, /ws?run=ID, /ws?session=CODE)`);
    } catch (err) {
      const status = httpStatusOf(err);
      if (status >= 500 && status !== 503) log(`kvmscope service: ${req.method ?? "?"} ${req.url ?? ""} failed: ${(err as Error).stack ?? String(err)}`);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendJson(res, status, { error: errorMessage(err, status) }, err instanceof HttpError ? err.headers : {});
    }
  }

  // ---- WebSocket

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_CLIENT_MESSAGE_BYTES, perMessageDeflate: false, clientTracking: false });

  function rejectUpgrade(socket: Duplex, status: number, message: string): void {
    const body = JSON.stringify({ error: message });
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\nConnection: close\r\nContent-Type: ${JSON_TYPE}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }

  function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on("error", () => {});
    try {
      checkHost(req.headers.host);
    } catch (err) {
      rejectUpgrade(socket, 403, (err as Error).message);
      return;
    }
    const raw = req.url ?? "";
    const url = raw.startsWith("/") ? new URL(`http://localhost${raw}`) : null;
    if (url === null || url.pathname !== "/ws") {
      rejectUpgrade(socket, 404, "WebSockets are served on /ws?run=ID and /ws?session=CODE only");
      return;
    }
    if (!originAllowed(req)) {
      rejectUpgrade(socket, 403, `pages from ${req.headers.origin ?? "?"} may not open this service's WebSockets`);
      return;
    }
    const session = url.searchParams.get("session");
    if (session !== null) {
      const both = url.searchParams.has("run");
      wss.handleUpgrade(req, socket, head, (ws) => onSessionConnection(ws, session, both));
      return;
    }
    const runId = url.searchParams.get("run");
    wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, runId));
  }

  function onSessionConnection(ws: WebSocket, raw: string, withRun: boolean): void {
    const viewer = new SessionViewer(ws, Math.min(SESSION_VIEWER_MAX_BYTES, viewerOptions.max));
    sessionViewers.add(viewer);
    ws.on("close", () => {
      viewer.dispose();
      sessionViewers.delete(viewer);
    });
    ws.on("error", () => {});
    ws.on("pong", () => {
      viewer.alive = true;
    });
    ws.on("message", () => {
      if (!viewer.open) return;
      // Nothing is ever expected here: the first message closes the socket, so a client that
      // floods it costs one error frame, not one per message.
      viewer.fail(400, `a session socket only listens: the teacher advances with POST /api/sessions/CODE/advance and the header ${TEACHER_TOKEN_HEADER}`, WsClose.BadRequest);
    });
    if (withRun) {
      viewer.fail(400, "give either run=ID (a run's records) or session=CODE (a class session), not both", WsClose.BadRequest);
      return;
    }
    const code = normalizeJoinCode(raw);
    if (code === undefined) {
      viewer.fail(400, `${JOIN_CODE_HINT} (got ${describeValue(raw)})`, WsClose.BadRequest);
      return;
    }
    if (service.sessions === undefined) {
      viewer.fail(404, "this service has no class sessions", WsClose.UnknownSession);
      return;
    }
    service.sessions.subscribe(code, (session) => viewer.sendText(sessionFrame(session))).then(
      (unsubscribe) => viewer.setUnsubscribe(unsubscribe),
      (err: unknown) => {
        const status = httpStatusOf(err);
        if (status >= 500 && status !== 503) log(`kvmscope service: following class session ${code} failed: ${(err as Error).stack ?? String(err)}`);
        viewer.fail(status, errorMessage(err, status), status === 404 ? WsClose.UnknownSession : 1011);
      },
    );
  }

  function onConnection(ws: WebSocket, runId: string | null): void {
    const viewer = new Viewer(ws, runId ?? "", viewerOptions);
    viewers.add(viewer);
    ws.on("close", () => {
      viewer.dispose();
      viewers.delete(viewer);
    });
    ws.on("error", () => {}); // a broken peer: "close" follows
    ws.on("pong", () => {
      viewer.alive = true;
    });
    ws.on("message", (data, isBinary) => {
      if (viewer.open) viewer.enqueue(() => onClientMessage(viewer, data, isBinary));
    });

    viewer.enqueue(async () => {
      if (runId === null || runId === "") {
        viewer.fail(400, "say which run to watch: /ws?run=ID", WsClose.BadRequest);
        return;
      }
      try {
        const run = RUN_ID_PATTERN.test(runId) ? await service.getRun(runId) : null;
        if (run === null) {
          viewer.fail(404, `no run ${JSON.stringify(runId)}`, WsClose.UnknownRun);
          return;
        }
        viewer.send({ type: "hello", protocol: PROTOCOL_VERSION, run: asWireRunInfo(run) });
        if (!viewer.open) return;
        viewer.setUnsubscribe(await service.subscribe(runId, viewer));
      } catch (err) {
        const status = httpStatusOf(err);
        if (status >= 500 && status !== 503) log(`kvmscope service: watching run ${runId} failed: ${(err as Error).stack ?? String(err)}`);
        viewer.fail(status, errorMessage(err, status), status === 404 ? WsClose.UnknownRun : 1011);
      }
    });
  }

  /**
   * An error frame answering a client message. A client that sends nothing but refused messages
   * (MAX_REFUSED_IN_A_ROW in a row) is closed: each would cost an error frame, and one that does
   * not read its socket would pile them up.
   */
  function refuse(viewer: Viewer, status: number, message: string, id?: string | number): void {
    viewer.refused++;
    if (viewer.refused < MAX_REFUSED_IN_A_ROW) {
      viewer.fail(status, message, undefined, id);
      return;
    }
    viewer.send({ type: "error", message, status, ...(id !== undefined ? { id } : {}) });
    viewer.close(WsClose.BadRequest, `${MAX_REFUSED_IN_A_ROW} refused messages in a row: closing this socket`);
  }

  async function onClientMessage(viewer: Viewer, data: RawData, isBinary: boolean): Promise<void> {
    if (!viewer.open) return;
    if (isBinary) {
      refuse(viewer, 400, "binary messages are not understood: send JSON text ({\"type\":\"control\",...} or {\"type\":\"console\",...})");
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(rawText(data));
    } catch (err) {
      refuse(viewer, 400, `malformed JSON: ${(err as Error).message}`);
      return;
    }
    const id = messageIdOf(value);
    const checked = check(ClientMessageSchema, value);
    if (!checked.ok) {
      refuse(viewer, 400, `bad message: ${checked.message}`, id);
      return;
    }
    const msg: ClientMessage = checked.value;
    const idField = msg.id !== undefined ? { id: msg.id } : {};
    try {
      if (msg.type === "control") {
        const { type: _type, id: _id, ...body } = msg;
        const run = await service.control(viewer.runId, toControlRequest(body));
        viewer.refused = 0;
        viewer.send({ type: "ack", action: msg.action, run: asWireRunInfo(run), ...idField });
      } else {
        const accepted = await service.consoleInput(viewer.runId, consoleBytes(msg));
        const run = await service.getRun(viewer.runId);
        if (run === null) throw new NotFoundError(`no run ${viewer.runId}`);
        viewer.refused = 0;
        viewer.send({ type: "ack", action: "console", run: asWireRunInfo(run), accepted, ...idField });
      }
    } catch (err) {
      const status = httpStatusOf(err);
      if (status >= 500 && status !== 503) log(`kvmscope service: a message on run ${viewer.runId} failed: ${(err as Error).stack ?? String(err)}`);
      refuse(viewer, status, errorMessage(err, status), msg.id);
    }
  }

  // ---- Listening

  const http = createServer((req, res) => void handle(req, res));
  // Expect: 100-continue (curl sends it for big bodies): refuse an oversized body before it is sent.
  http.on("checkContinue", (req, res) => {
    const declared = Number(req.headers["content-length"] ?? 0);
    const limit = req.url?.startsWith("/api/import") === true ? maxImportBytes : opts.maxBodyBytes;
    if (declared > limit) {
      sendJson(res, 413, { error: tooLarge(limit, `${declared} bytes`).message }, { connection: "close" });
      return;
    }
    res.writeContinue();
    void handle(req, res);
  });
  http.on("upgrade", onUpgrade);
  http.on("clientError", (_err, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    http.once("error", onError);
    http.listen(opts.port, opts.host, () => {
      http.off("error", onError);
      resolve();
    });
  });
  http.on("error", (err) => log(`kvmscope service: ${err.message}`));

  const ping = setInterval(() => {
    for (const v of [...viewers, ...sessionViewers]) {
      if (!v.alive) {
        v.dispose();
        v.ws.terminate();
        continue;
      }
      v.alive = false;
      v.ws.ping();
    }
  }, PING_MS);
  ping.unref();

  const address = http.address() as AddressInfo;
  const hostForUrl = address.family === "IPv6" ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;

  return {
    url: `http://${hostForUrl}:${address.port}`,
    port: address.port,
    close(): Promise<void> {
      closing ??= (async () => {
        clearInterval(ping);
        const closed = new Promise<void>((resolve) => http.close(() => resolve()));
        for (const v of [...viewers, ...sessionViewers]) v.close(1001, "the service is shutting down");
        http.closeIdleConnections();
        // Requests in flight (an export) and viewers' close handshakes get a moment, then are cut.
        const grace = new Promise<void>((resolve) => setTimeout(resolve, 2000).unref());
        await Promise.race([closed, grace]);
        for (const v of [...viewers, ...sessionViewers]) v.ws.terminate();
        http.closeAllConnections();
        await closed;
      })();
      return closing;
    },
  };
}
