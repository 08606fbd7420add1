// The HTTP layer of `kvmscope serve` on a real loopback socket, over FakeRunService: a stand-in
// for the run manager that only records what it was asked and throws the service's errors on
// cue. These tests are about validation, error mapping and streaming, not about VMs (the tests
// against the real run manager are in service-live.test.ts).
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeBatch, MAX_CONSOLE_BYTES, MAX_MEM_MIB, MAX_TIMEOUT_SEC, MAX_VCPUS, MIN_TIMEOUT_SEC, type TraceRecord } from "@kvmscope/shared";
import { ConfigError, LIMITS } from "../src/config.js";
import type { GuestInfo } from "../src/guests.js";
import { startServer, type RunningServer } from "../src/service/server.js";
import {
  type ClassSessionService, ConflictError, type ControlRequest, ForbiddenError, LimitError, NotFoundError, type RecordQuery,
  type RunAuth, type RunInfo, type RunListener, type RunRequest, type RunService, UnavailableError, type WalkthroughCatalog,
} from "../src/service/types.js";
import type { SessionInfo, StepAnswer, Walkthrough } from "@kvmscope/shared";
import { FollowError } from "../src/walkthroughs.js";
import { runInfo } from "./service-fixtures.js";

const MAX_BODY = 64 * 1024;

function sessionInfo(code: string): SessionInfo {
  return {
    code, walkthroughId: "exit-loop", status: "open", createdAt: "2025-01-01T00:00:00.000Z", updatedAt: "2025-01-01T00:00:00.000Z",
    step: -1, busy: false, reached: [], runs: { main: "live1", compare: null }, revealed: [], error: null,
    peek: false, answers: [], idleEndSec: 1800,
  };
}

/** Records what the server asked of it: one session, K7QH2M, whose teacher token is "secret". */
class FakeSessions implements ClassSessionService {
  calls: unknown[][] = [];

  catalog(): WalkthroughCatalog {
    return { walkthroughs: [{ id: "exit-loop" } as Walkthrough], problems: ["walkthroughs/09-x.yaml:1:1: id: broken"] };
  }

  walkthrough(id: string): Walkthrough | null {
    return id === "exit-loop" ? ({ id } as Walkthrough) : null;
  }

  async create(walkthroughId: string): Promise<{ session: SessionInfo; teacherToken: string }> {
    this.calls.push(["create", walkthroughId]);
    if (walkthroughId !== "exit-loop") throw new ConfigError(`no walkthrough "${walkthroughId}"`);
    return { session: sessionInfo("K7QH2M"), teacherToken: "secret" };
  }

  async get(code: string): Promise<SessionInfo | null> {
    return code === "K7QH2M" ? sessionInfo(code) : null;
  }

  #teacher(code: string, token: string | undefined): void {
    if (code !== "K7QH2M") throw new NotFoundError(`no class session with the join code ${code}`);
    if (token !== "secret") throw new ForbiddenError("only the teacher who started this session can do that (students follow with the join code)");
  }

  async advance(code: string, token: string | undefined, to?: number): Promise<SessionInfo> {
    this.calls.push(["advance", code, token, to]);
    this.#teacher(code, token);
    if (to === 7) throw new FollowError(7, "halt", "step 8 (halt): the main run ended (halted) before an exit");
    return { ...sessionInfo(code), step: to ?? 0 };
  }

  async reveal(code: string, token: string | undefined, step: number): Promise<SessionInfo> {
    this.calls.push(["reveal", code, token, step]);
    this.#teacher(code, token);
    return { ...sessionInfo(code), revealed: [step] };
  }

  async end(code: string, token: string | undefined): Promise<SessionInfo> {
    this.calls.push(["end", code, token]);
    this.#teacher(code, token);
    return { ...sessionInfo(code), status: "ended" };
  }

  walkthroughAnswers(id: string): StepAnswer[] {
    this.calls.push(["walkthroughAnswers", id]);
    return [];
  }

  async answers(code: string, token: string | undefined): Promise<StepAnswer[]> {
    this.calls.push(["answers", code, token]);
    this.#teacher(code, token);
    return [];
  }

  async heartbeat(code: string, token: string | undefined): Promise<SessionInfo> {
    this.calls.push(["heartbeat", code, token]);
    this.#teacher(code, token);
    return sessionInfo(code);
  }

  async leadCode(code: string, token: string | undefined): Promise<{ leadCode: string; expiresAt: string }> {
    this.calls.push(["leadCode", code, token]);
    this.#teacher(code, token);
    return { leadCode: "ABCDEFGH", expiresAt: "2025-01-01T00:10:00.000Z" };
  }

  async lead(code: string, leadCode: string): Promise<{ session: SessionInfo; teacherToken: string }> {
    this.calls.push(["lead", code, leadCode]);
    return { session: sessionInfo(code), teacherToken: "secret" };
  }

  async subscribe(_code: string, _listener: (s: SessionInfo) => void): Promise<() => void> {
    return () => {};
  }
}

/** Records what the server asked of it; guest names and texts make it throw the service's errors. */
class FakeRunService implements RunService {
  sessions: FakeSessions | undefined = new FakeSessions();
  auths: (RunAuth | undefined)[] = [];
  readonly runs = new Map<string, RunInfo>([
    ["live1", runInfo("live1")],
    ["done1", runInfo("done1", { status: "finished", live: false })],
  ]);
  created: RunRequest[] = [];
  controls: ControlRequest[] = [];
  typed: Uint8Array[] = [];
  queries: RecordQuery[] = [];
  imported: string[] = [];
  exportLength = 2000;
  exportChunks = 0;
  exportClosed = false;

  listGuests(): GuestInfo[] {
    return [{ name: "hello", title: "Hello", description: "prints", shows: ["KVM_EXIT_IO"], vcpus: 1, memMiB: 16, irqchip: "user", expect: { outcome: "halted" } }];
  }

  async createRun(req: RunRequest): Promise<RunInfo> {
    switch (req.guest) {
      case "nope": throw new ConfigError('no guest called "nope"');
      case "busy": throw new LimitError("4 runs are live; this service runs at most 4 at once");
      case "nokvm": throw new UnavailableError("this service cannot run guests: /dev/kvm is missing");
      case "crash": throw new Error("the disk caught fire");
    }
    if (req.image !== undefined && req.image.length > 100) throw new LimitError(`the image is ${req.image.length} bytes; this service accepts at most 100`, 413);
    this.created.push(req);
    const run = runInfo(`run${this.runs.size + 1}`, { guest: req.guest ?? null });
    this.runs.set(run.id, run);
    return run;
  }

  async getRun(id: string): Promise<RunInfo | null> {
    return this.runs.get(id) ?? null;
  }

  async listRuns(opts: { limit: number; before?: string }): Promise<{ runs: RunInfo[]; next: string | null }> {
    const all = [...this.runs.values()];
    return { runs: all.slice(0, opts.limit), next: all.length > opts.limit ? all[opts.limit - 1]!.id : null };
  }

  #known(id: string): RunInfo {
    const run = this.runs.get(id);
    if (!run) throw new NotFoundError(`no run ${id}`);
    return run;
  }

  async control(id: string, req: ControlRequest, auth?: RunAuth): Promise<RunInfo> {
    const run = this.#known(id);
    this.auths.push(auth);
    if (!run.live) throw new ConflictError(`run ${id} is not live`);
    this.controls.push(req);
    return run;
  }

  async consoleInput(id: string, bytes: Uint8Array): Promise<number> {
    if (!this.#known(id).live) throw new ConflictError(`run ${id} is not live`);
    this.typed.push(bytes);
    return bytes.length;
  }

  async readRecords(id: string, q: RecordQuery): Promise<{ records: TraceRecord[]; next: number | null }> {
    this.#known(id);
    this.queries.push(q);
    const rec: TraceRecord = { type: "marker", seq: q.fromSeq ?? 0, ts: 1, thread: "main", text: "<script>alert(1)</script>" };
    return { records: [rec], next: null };
  }

  async *exportRun(id: string, format: "ndjson" | "chrome"): AsyncIterable<string> {
    this.#known(id);
    this.exportChunks = 0;
    this.exportClosed = false;
    try {
      for (let i = 0; i < this.exportLength; i++) {
        this.exportChunks++;
        yield format === "ndjson" ? `{"type":"marker","seq":${i},"pad":"${"x".repeat(1000)}"}\n` : i === 0 ? `{"traceEvents":[` : `{},`;
      }
    } finally {
      this.exportClosed = true;
    }
  }

  async importRun(text: string): Promise<RunInfo> {
    if (text.startsWith("garbage")) throw new ConfigError("the import is not a kvmscope NDJSON export: line 1 is not JSON");
    if (text.startsWith("{\"traceEvents\":7")) throw new TypeError('a Chrome trace is a JSON object with a "traceEvents" array');
    this.imported.push(text);
    const run = runInfo(`imp${this.runs.size + 1}`, { imported: true, live: false, status: "finished" });
    this.runs.set(run.id, run);
    return run;
  }

  async subscribe(_id: string, _listener: RunListener): Promise<() => void> {
    return () => {};
  }

  async shutdown(): Promise<void> {}
}

const service = new FakeRunService();
let server: RunningServer;
const logged: string[] = [];

beforeAll(async () => {
  server = await startServer(service, { port: 0, host: "127.0.0.1", maxBodyBytes: MAX_BODY, maxImportBytes: 256 * 1024, log: (m) => logged.push(m) });
});
afterAll(async () => {
  await server?.close();
});

interface Answer {
  status: number;
  headers: Headers;
  body: { error?: string } & Record<string, unknown>;
}

async function api(method: string, path: string, body?: unknown, contentType = "application/json"): Promise<Answer> {
  const init: RequestInit = { method };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    init.headers = { "content-type": contentType };
  }
  const res = await fetch(server.url + path, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: JSON.parse(text) as Answer["body"] };
}

/** After every failure the service must still answer. */
async function expectStillServing(): Promise<void> {
  const r = await api("GET", "/api/guests");
  expect(r.status).toBe(200);
}

/** A raw request, for what fetch will not send (chunked bodies, a foreign Host header). */
function rawRequest(opts: { method: string; path: string; headers?: Record<string, string>; chunks?: Buffer[] }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(server.url);
    const req = request({ host: url.hostname, port: url.port, method: opts.method, path: opts.path, headers: opts.headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    for (const c of opts.chunks ?? []) req.write(c);
    req.end();
  });
}

describe("the service's JSON API", () => {
  it("lists the teaching guests as JSON that no browser would render as HTML", async () => {
    const r = await api("GET", "/api/guests");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(r.headers.get("x-content-type-options")).toBe("nosniff");
    expect((r.body.guests as GuestInfo[])[0]!.name).toBe("hello");
  });

  it("creates a run from a guest name with 201, the run and its location", async () => {
    const r = await api("POST", "/api/runs", { guest: "hello", vcpus: 2, memMiB: 32, irqchip: "kernel", mode: "step", timeoutSec: 2.5, maxExits: 100 });
    expect(r.status).toBe(201);
    expect(r.headers.get("location")).toBe(`/api/runs/${String(r.body.id)}`);
    expect(service.created.at(-1)).toEqual({ guest: "hello", vcpus: 2, memMiB: 32, irqchip: "kernel", mode: "step", timeoutSec: 2.5, maxExits: 100 });
  });

  it("creates a run from a base64 image and hands the service the decoded bytes", async () => {
    const image = Uint8Array.from([0xb0, 0x41, 0xe6, 0xe9, 0xf4]);
    const r = await api("POST", "/api/runs", { image: Buffer.from(image).toString("base64") });
    expect(r.status).toBe(201);
    expect(Array.from(service.created.at(-1)!.image!)).toEqual(Array.from(image));
  });

  it("answers malformed JSON with 400 saying so, and keeps serving", async () => {
    const r = await api("POST", "/api/runs", '{"guest": "hello",');
    expect(r.status).toBe(400);
    expect(r.body.error).toMatch(/^malformed JSON in the body: /);
    await expectStillServing();
  });

  it("answers an empty body and a body that is not UTF-8 with 400", async () => {
    expect((await api("POST", "/api/runs", "")).body.error).toMatch(/the body is empty/);
    const bad = await rawRequest({ method: "POST", path: "/api/runs", headers: { "content-type": "application/json" }, chunks: [Buffer.from([0x7b, 0xff, 0x7d])] });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatch(/not valid UTF-8/);
    await expectStillServing();
  });

  it("answers wrong types with 400 naming each field and what it expected", async () => {
    const r = await api("POST", "/api/runs", { guest: "hello", vcpus: "4", memMiB: 1.5, irqchip: "both" });
    expect(r.status).toBe(400);
    expect(r.body.error).toBe(
      'bad run request: vcpus: must be a whole number from 1 to 64, got "4"; memMiB: must be a whole number from 1 to 3072, got 1.5; irqchip: must be one of "user", "kernel", got "both"',
    );
    await expectStillServing();
  });

  it("answers out-of-range numbers with 400 that give the allowed range", async () => {
    const r = await api("POST", "/api/runs", { guest: "hello", vcpus: 65, timeoutSec: -1 });
    expect(r.status).toBe(400);
    expect(r.body.error).toContain("vcpus: must be a whole number from 1 to 64, got 65");
    expect(r.body.error).toContain("timeoutSec: must be a number of seconds from 0.001 to 86400, got -1");
  });

  it("answers unknown keys with 400 naming them and the allowed ones", async () => {
    const r = await api("POST", "/api/runs", { guest: "hello", cpus: 2 });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatch(/unknown field "cpus" \(a run request takes "guest", "image", "vcpus"/);
    await expectStillServing();
  });

  it("asks for exactly one of guest and image", async () => {
    for (const body of [{}, { guest: "hello", image: "AAAA" }]) {
      const r = await api("POST", "/api/runs", body);
      expect(r.status).toBe(400);
      expect(r.body.error).toMatch(/give exactly one of "guest".*or "image"/);
    }
    const notBase64 = await api("POST", "/api/runs", { image: "not base64!" });
    expect(notBase64.body.error).toMatch(/image: must be base64/);
  });

  it("answers a body that is not a JSON object with 400", async () => {
    for (const body of ["[1,2]", "null", "42"]) {
      const r = await api("POST", "/api/runs", body);
      expect(r.status).toBe(400);
      expect(r.body.error).toMatch(/a run request must be a JSON object, got/);
    }
  });

  it("refuses bodies that a page on another site could send (415 unless application/json)", async () => {
    const r = await api("POST", "/api/runs", JSON.stringify({ guest: "hello" }), "text/plain");
    expect(r.status).toBe(415);
    expect(r.body.error).toMatch(/Content-Type: application\/json \(got text\/plain\)/);
    await expectStillServing();
  });

  it("answers a body over the limit with 413 before reading it, and keeps serving", async () => {
    const r = await api("POST", "/api/runs", { image: "A".repeat(MAX_BODY) });
    expect(r.status).toBe(413);
    expect(r.body.error).toMatch(new RegExp(`at most ${MAX_BODY} bytes`));
    await expectStillServing();
  });

  it("stops reading a chunked body at the limit and answers 413", async () => {
    const chunk = Buffer.alloc(16 * 1024, 0x20);
    const chunks = [Buffer.from('{"image":"'), ...Array.from({ length: 8 }, () => chunk)];
    const r = await rawRequest({ method: "POST", path: "/api/runs", headers: { "content-type": "application/json", "transfer-encoding": "chunked" }, chunks });
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body).error).toMatch(/more than 65536 bytes/);
    await expectStillServing();
  });

  it("maps the service's errors: ConfigError 400, LimitError 429 or 413, UnavailableError 503", async () => {
    expect(await api("POST", "/api/runs", { guest: "nope" })).toMatchObject({ status: 400, body: { error: 'no guest called "nope"' } });
    expect(await api("POST", "/api/runs", { guest: "busy" })).toMatchObject({ status: 429, body: { error: expect.stringMatching(/at most 4 at once/) } });
    expect((await api("POST", "/api/runs", { image: Buffer.alloc(101, 0x90).toString("base64") })).status).toBe(413);
    expect((await api("POST", "/api/runs", { guest: "nokvm" })).status).toBe(503);
    await expectStillServing();
  });

  it("answers anything else the service throws with 500 and its message, logs it, and keeps serving", async () => {
    const r = await api("POST", "/api/runs", { guest: "crash" });
    expect(r.status).toBe(500);
    expect(r.body.error).toBe("internal error: the disk caught fire");
    expect(logged.some((l) => l.includes("the disk caught fire"))).toBe(true);
    await expectStillServing();
  });

  it("answers 404 for an unknown run on every route, and for ids no run can have", async () => {
    const routes: [string, string, unknown?][] = [
      ["GET", "/api/runs/nosuch"],
      ["POST", "/api/runs/nosuch/control", { action: "pause" }],
      ["POST", "/api/runs/nosuch/console", { data: "x" }],
      ["GET", "/api/runs/nosuch/records"],
      ["GET", "/api/runs/nosuch/export?format=chrome"],
      ["GET", "/api/runs/..%2Fetc/records"],
    ];
    for (const [method, path, body] of routes) {
      const r = await api(method, path, body);
      expect(r.status, `${method} ${path}`).toBe(404);
      expect(r.body.error).toMatch(/no run/);
    }
    await expectStillServing();
  });

  it("answers an unknown endpoint with 404 and a wrong method with 405 and Allow", async () => {
    expect((await api("GET", "/api/nothing")).status).toBe(404);
    const r = await api("DELETE", "/api/runs/live1");
    expect(r.status).toBe(405);
    expect(r.headers.get("allow")).toBe("GET");
  });

  it("refuses a Host header that is not loopback (no DNS rebinding)", async () => {
    const r = await rawRequest({ method: "GET", path: "/api/guests", headers: { host: "attacker.example:7070" } });
    expect(r.status).toBe(403);
    expect((await rawRequest({ method: "GET", path: "/api/guests", headers: { host: "localhost:7070" } })).status).toBe(200);
  });
});

describe("runs, records and controls over HTTP", () => {
  it("lists runs newest first with a page size, and validates the query", async () => {
    const r = await api("GET", "/api/runs?limit=1");
    expect(r.status).toBe(200);
    expect((r.body.runs as RunInfo[]).length).toBe(1);
    expect(typeof r.body.next).toBe("string");
    expect((await api("GET", "/api/runs?limit=1000")).body.error).toBe("bad query: limit: must be a whole number from 1 to 100, got 1000");
  });

  it("passes a control to the service, turning a breakpoint's reason name into its code", async () => {
    const r = await api("POST", "/api/runs/live1/control", { action: "break", when: { reason: "KVM_EXIT_MMIO", addr: 0xd0000000, direction: "write" } });
    expect(r.status).toBe(200);
    expect(r.body.id).toBe("live1");
    expect(service.controls.at(-1)).toEqual({ action: "break", when: { reason: 6, addr: 0xd0000000, direction: "write" } });
    await api("POST", "/api/runs/live1/control", { action: "step" });
    expect(service.controls.at(-1)).toEqual({ action: "step", count: 1 });
  });

  it("answers a bad control with 400 and a control of a finished run with 409", async () => {
    expect((await api("POST", "/api/runs/live1/control", { action: "jump" })).body.error).toBe(
      'bad control request: action: must be one of "pause", "resume", "stop", "step", "break", got "jump"',
    );
    expect((await api("POST", "/api/runs/live1/control", { action: "step", count: 0 })).status).toBe(400);
    expect((await api("POST", "/api/runs/live1/control", { action: "break", when: { reason: "KVM_EXIT_NOPE" } })).body.error).toMatch(
      /when\.reason: must be an exit reason name/,
    );
    const r = await api("POST", "/api/runs/done1/control", { action: "resume" });
    expect(r.status).toBe(409);
    expect(r.body.error).toBe("run done1 is not live");
  });

  it("types console input as UTF-8 or base64 bytes, at most 4096 of them", async () => {
    expect((await api("POST", "/api/runs/live1/console", { data: "hé\n" })).body).toEqual({ accepted: 4 });
    expect(Array.from(service.typed.at(-1)!)).toEqual([0x68, 0xc3, 0xa9, 0x0a]);
    await api("POST", "/api/runs/live1/console", { data: "AAEC", encoding: "base64" });
    expect(Array.from(service.typed.at(-1)!)).toEqual([0, 1, 2]);
    const big = await api("POST", "/api/runs/live1/console", { data: "x".repeat(MAX_CONSOLE_BYTES + 1) });
    expect(big.status).toBe(400);
    expect(big.body.error).toBe("bad console input: data: must be at most 4096 bytes at a time");
  });

  it("reads records with the query checked and the default page of 1000", async () => {
    const r = await api("GET", "/api/runs/live1/records?fromSeq=10&reason=KVM_EXIT_IO&vcpu=0&fromTs=5&toTs=100.5");
    expect(r.status).toBe(200);
    expect(service.queries.at(-1)).toEqual({ fromSeq: 10, limit: 1000, reason: "KVM_EXIT_IO", vcpu: 0, fromTs: 5, toTs: 100.5 });
    expect(r.body).toEqual({ records: [{ type: "marker", seq: 10, ts: 1, thread: "main", text: "<script>alert(1)</script>" }], next: null });
    expect((await api("GET", "/api/runs/live1/records?limit=10001")).status).toBe(400);
    expect((await api("GET", "/api/runs/live1/records?from_seq=1")).body.error).toMatch(/unknown field "from_seq"/);
    expect((await api("GET", "/api/runs/live1/records?limit=1&limit=2")).body.error).toMatch(/"limit" is given more than once/);
  });

  it("reads a page of records as codec bytes for the web app's replay", async () => {
    const res = await fetch(`${server.url}/api/runs/live1/records?fromSeq=7&format=binary`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/octet-stream");
    expect(res.headers.get("x-kvmscope-next")).toBe("");
    expect(decodeBatch(new Uint8Array(await res.arrayBuffer()))).toEqual([{ type: "marker", seq: 7, ts: 1, thread: "main", text: "<script>alert(1)</script>" }]);
    expect(service.queries.at(-1)).toEqual({ fromSeq: 7, limit: 1000 });
    expect((await api("GET", "/api/runs/live1/records?format=xml")).status).toBe(400);
  });

  it("streams an export with its content type and file name", async () => {
    const res = await fetch(`${server.url}/api/runs/done1/export?format=ndjson`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/x-ndjson; charset=utf-8");
    expect(res.headers.get("content-disposition")).toBe('attachment; filename="kvmscope-done1.ndjson"');
    expect(res.headers.get("content-length")).toBeNull(); // chunked: streamed, not buffered
    const lines = (await res.text()).trimEnd().split("\n");
    expect(lines.length).toBe(2000);
    expect(JSON.parse(lines[1999]!).seq).toBe(1999);
    const chrome = await fetch(`${server.url}/api/runs/done1/export?format=chrome`);
    expect(chrome.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(chrome.headers.get("content-disposition")).toBe('attachment; filename="kvmscope-done1.trace.json"');
    await chrome.arrayBuffer();
    expect((await api("GET", "/api/runs/done1/export?format=csv")).status).toBe(400);
  });

  it("stops pulling an export when the client goes away", async () => {
    service.exportLength = 100_000; // 100 MB if it were all pulled
    const controller = new AbortController();
    const res = await fetch(`${server.url}/api/runs/done1/export`, { signal: controller.signal });
    const reader = res.body!.getReader();
    await reader.read();
    controller.abort();
    await expect.poll(() => service.exportClosed, { timeout: 5000 }).toBe(true);
    expect(service.exportChunks).toBeLessThan(100_000);
    service.exportLength = 2000;
    await expectStillServing();
  });

  it("imports an export with 201, and answers a file that is not one with 400", async () => {
    const ok = await api("POST", "/api/import", '{"type":"run"}\n{"type":"end"}\n', "application/x-ndjson");
    expect(ok.status).toBe(201);
    expect(ok.body.imported).toBe(true);
    expect((await api("POST", "/api/import", "garbage", "application/x-ndjson")).status).toBe(400);
    const chrome = await api("POST", "/api/import", '{"traceEvents":7}', "application/json");
    expect(chrome.status).toBe(400);
    expect(chrome.body.error).toMatch(/^the import is not a kvmscope export: a Chrome trace/);
    expect((await api("POST", "/api/import", "x".repeat(300 * 1024), "application/x-ndjson")).status).toBe(413);
    expect((await api("POST", "/api/import", '{"type":"run"}', "text/plain")).status).toBe(415);
    await expectStillServing();
  });
});

describe("walkthroughs and class sessions over HTTP", () => {
  const sessions = service.sessions!;
  const teacher = (token: string) => ({ "content-type": "application/json", "x-kvmscope-token": token });
  async function post(path: string, body: unknown, token?: string): Promise<Answer> {
    const res = await fetch(server.url + path, { method: "POST", headers: token === undefined ? { "content-type": "application/json" } : teacher(token), body: JSON.stringify(body) });
    return { status: res.status, headers: res.headers, body: JSON.parse(await res.text()) as Answer["body"] };
  }

  it("lists the walkthroughs with the problems of the files left out, and serves one by id", async () => {
    expect((await api("GET", "/api/walkthroughs")).body).toEqual({ walkthroughs: [{ id: "exit-loop" }], problems: ["walkthroughs/09-x.yaml:1:1: id: broken"] });
    expect((await api("GET", "/api/walkthroughs/exit-loop")).body).toEqual({ id: "exit-loop" });
    expect(await api("GET", "/api/walkthroughs/nope")).toMatchObject({ status: 404, body: { error: 'no walkthrough "nope" (see GET /api/walkthroughs)' } });
  });

  it("starts a session with 201, its location and the teacher token", async () => {
    const r = await post("/api/sessions", { walkthrough: "exit-loop" });
    expect(r.status).toBe(201);
    expect(r.headers.get("location")).toBe("/api/sessions/K7QH2M");
    expect(r.body).toEqual({ session: sessionInfo("K7QH2M"), teacherToken: "secret" });
  });

  it("answers a session request that is not one with 400 naming the field", async () => {
    expect((await post("/api/sessions", { walkthrough: 5 })).body.error).toBe("bad session request: walkthrough: must be a walkthrough's id (see GET /api/walkthroughs), got 5");
    expect((await post("/api/sessions", { walkthrough: "Exit Loop" })).body.error).toBe(
      'bad session request: walkthrough: must be a walkthrough\'s id such as "exit-loop" (see GET /api/walkthroughs), got "Exit Loop"',
    );
    expect((await post("/api/sessions", {})).body.error).toBe("bad session request: walkthrough: must be a walkthrough's id (see GET /api/walkthroughs), got nothing");
    expect((await post("/api/sessions", { walkthrough: "exit-loop", run: "x" })).body.error).toBe('bad session request: unknown field "run" (a session request takes "walkthrough", "peek")');
    expect((await post("/api/sessions", { walkthrough: "nope" })).status).toBe(400);
  });

  it("answers bad advance, reveal and end bodies with 400 before asking the service", async () => {
    const before = sessions.calls.length;
    expect((await post("/api/sessions/K7QH2M/advance", { to: -1 }, "secret")).body.error).toBe("bad advance request: to: must be a whole number from 0 to 99, got -1");
    expect((await post("/api/sessions/K7QH2M/advance", { to: "2" }, "secret")).body.error).toBe('bad advance request: to: must be a whole number from 0 to 99, got "2"');
    expect((await post("/api/sessions/K7QH2M/advance", { step: 2 }, "secret")).body.error).toBe('bad advance request: unknown field "step" (an advance request takes "to")');
    expect((await post("/api/sessions/K7QH2M/reveal", {}, "secret")).body.error).toBe("bad reveal request: step: must be a whole number from 0 to 99, got nothing");
    expect((await post("/api/sessions/K7QH2M/reveal", { step: 1.5 }, "secret")).body.error).toBe("bad reveal request: step: must be a whole number from 0 to 99, got 1.5");
    expect((await post("/api/sessions/K7QH2M/end", { now: true }, "secret")).body.error).toBe('bad end request: unknown field "now" (an end request takes no fields)');
    expect((await post("/api/sessions/K7QH2M/advance", [], "secret")).body.error).toBe("bad advance request: an advance request must be a JSON object, got an array");
    expect(sessions.calls.length).toBe(before);
  });

  it("routes the lead code, the lead, the heartbeat and the answers, with the token where the teacher's is needed", async () => {
    expect((await post("/api/sessions/k7qh2m/lead-code", {}, "secret")).status).toBe(201);
    expect(sessions.calls.at(-1)).toEqual(["leadCode", "K7QH2M", "secret"]);
    expect((await post("/api/sessions/K7QH2M/lead-code", {})).status).toBe(403);
    expect((await post("/api/sessions/K7QH2M/lead", { leadCode: "abcd-efgh" })).body).toEqual({ session: sessionInfo("K7QH2M"), teacherToken: "secret" });
    expect(sessions.calls.at(-1)).toEqual(["lead", "K7QH2M", "abcd-efgh"]);
    expect((await post("/api/sessions/K7QH2M/lead", {})).body.error).toMatch(/^bad lead request: leadCode: must be the lead code the teacher's page shows/);
    expect((await post("/api/sessions/K7QH2M/heartbeat", {}, "secret")).status).toBe(200);
    expect((await post("/api/sessions/K7QH2M/heartbeat", {}, "guess")).status).toBe(403);
    expect((await fetch(`${server.url}/api/sessions/K7QH2M/answers`, { headers: { "x-kvmscope-token": "secret" } })).status).toBe(200);
    expect((await fetch(`${server.url}/api/sessions/K7QH2M/answers`)).status).toBe(403);
    expect(await (await fetch(`${server.url}/api/walkthroughs/exit-loop/answers`)).json()).toEqual({ answers: [] });
    expect(sessions.calls.at(-1)).toEqual(["walkthroughAnswers", "exit-loop"]);
  });

  it("passes the teacher token and the step on, and takes an advance or an end without a body", async () => {
    expect((await post("/api/sessions/K7QH2M/advance", { to: 3 }, "secret")).body.step).toBe(3);
    expect(sessions.calls.at(-1)).toEqual(["advance", "K7QH2M", "secret", 3]);
    const bare = await fetch(`${server.url}/api/sessions/K7QH2M/advance`, { method: "POST", headers: { "x-kvmscope-token": "secret" } });
    expect(bare.status).toBe(200);
    expect(sessions.calls.at(-1)).toEqual(["advance", "K7QH2M", "secret", undefined]);
    expect((await fetch(`${server.url}/api/sessions/K7QH2M/end`, { method: "POST", headers: { "x-kvmscope-token": "secret" } })).status).toBe(200);
    expect((await post("/api/sessions/K7QH2M/reveal", { step: 2 }, "secret")).body.revealed).toEqual([2]);
  });

  it("maps a missing or wrong token to 403, an unreachable step to 422, and normalizes a typed join code", async () => {
    expect(await post("/api/sessions/K7QH2M/advance", {})).toMatchObject({
      status: 403, body: { error: "only the teacher who started this session can do that (students follow with the join code)" },
    });
    expect((await post("/api/sessions/K7QH2M/end", {}, "K7QH2M")).status).toBe(403);
    expect(await post("/api/sessions/K7QH2M/advance", { to: 7 }, "secret")).toMatchObject({ status: 422, body: { error: "step 8 (halt): the main run ended (halted) before an exit" } });
    expect((await api("GET", "/api/sessions/k7qh-2m")).body.code).toBe("K7QH2M");
    expect((await api("GET", "/api/sessions/k7q%20h2m")).body.code).toBe("K7QH2M");
  });

  it("answers a malformed join code with 400 on every session route, and an unknown one with 404", async () => {
    const hint = "a join code is 6 letters and digits, like K7QH2M";
    expect(await api("GET", "/api/sessions/K7QH2")).toMatchObject({ status: 400, body: { error: `${hint} (got "K7QH2")` } });
    expect(await api("GET", "/api/sessions/K7QH20")).toMatchObject({ status: 400, body: { error: `${hint} (got "K7QH20")` } });
    for (const action of ["advance", "reveal", "end"]) expect((await post(`/api/sessions/ABC/${action}`, { step: 0 }, "secret")).status).toBe(400);
    expect(await api("GET", "/api/sessions/ABCDEF")).toMatchObject({ status: 404, body: { error: "no class session with the join code ABCDEF" } });
    expect((await post("/api/sessions/ABCDEF/advance", {}, "secret")).status).toBe(404);
  });

  it("hands a run's control the request's teacher token", async () => {
    await fetch(`${server.url}/api/runs/live1/control`, { method: "POST", headers: teacher("secret"), body: JSON.stringify({ action: "pause" }) });
    expect(service.auths.at(-1)).toEqual({ token: "secret" });
    await api("POST", "/api/runs/live1/control", { action: "pause" });
    expect(service.auths.at(-1)).toEqual({ token: undefined });
  });

  it("answers 404 on the session routes of a service without class sessions", async () => {
    const bare = new FakeRunService();
    bare.sessions = undefined;
    const other = await startServer(bare, { port: 0, host: "127.0.0.1", maxBodyBytes: MAX_BODY, log: () => {} });
    try {
      const r = await fetch(`${other.url}/api/walkthroughs`);
      expect(r.status).toBe(404);
      expect(await r.json()).toEqual({ error: "this service has no class sessions" });
    } finally {
      await other.close();
    }
  });
});

describe("the protocol's bounds", () => {
  it("are the VMM's own limits", () => {
    expect(MAX_VCPUS).toBe(LIMITS.vcpus.max);
    expect(MAX_MEM_MIB).toBe(LIMITS.memMiB.max);
    expect(MIN_TIMEOUT_SEC).toBe(LIMITS.timeoutSec.min);
    expect(MAX_TIMEOUT_SEC).toBe(LIMITS.timeoutSec.max);
  });
});

describe("the web app on another origin", () => {
  const webOrigin = "http://127.0.0.1:3000";
  let corsServer: RunningServer;
  beforeAll(async () => {
    corsServer = await startServer(service, { port: 0, host: "127.0.0.1", maxBodyBytes: MAX_BODY, allowedOrigins: [webOrigin], log: () => {} });
  });
  afterAll(async () => {
    await corsServer?.close();
  });

  it("answers the allowed origin's preflight and lets its page read the answers", async () => {
    const pre = await fetch(`${corsServer.url}/api/runs`, {
      method: "OPTIONS",
      headers: { origin: webOrigin, "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe(webOrigin);
    expect(pre.headers.get("access-control-allow-methods")).toBe("GET, POST");
    expect(pre.headers.get("access-control-allow-headers")).toBe("Content-Type, X-Kvmscope-Token");
    const created = await fetch(`${corsServer.url}/api/runs`, {
      method: "POST", headers: { origin: webOrigin, "content-type": "application/json" }, body: JSON.stringify({ guest: "hello" }),
    });
    expect(created.status).toBe(201);
    expect(created.headers.get("access-control-allow-origin")).toBe(webOrigin);
    expect(created.headers.get("access-control-expose-headers")).toMatch(/Location/);
  });

  it("gives any other origin neither a preflight nor CORS headers", async () => {
    const pre = await fetch(`${corsServer.url}/api/runs`, { method: "OPTIONS", headers: { origin: "https://attacker.example", "access-control-request-method": "POST" } });
    expect(pre.status).toBe(403);
    expect(pre.headers.get("access-control-allow-origin")).toBeNull();
    expect(((await pre.json()) as { error: string }).error).toMatch(/--allow-origin/);
    const read = await fetch(`${corsServer.url}/api/runs`, { headers: { origin: "https://attacker.example" } });
    expect(read.headers.get("access-control-allow-origin")).toBeNull();
    // and the default server, with no allowed origins, admits none
    expect((await fetch(`${server.url}/api/runs`, { method: "OPTIONS", headers: { origin: webOrigin } })).status).toBe(403);
  });
});
