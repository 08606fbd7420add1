// Class sessions for real: the run manager on real KVM and a real SQLite file behind the real
// HTTP/WebSocket server, a teacher with the token and students with the join code only. What a
// classroom does: the teacher advances, every student's screen follows; students cannot steer.
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import {
  type CreateSessionAnswer, locateSteps, type RunInfo, type ServerMessage, ServerMessage as ServerMessageSchema,
  type SessionInfo, type SessionServerMessage, SessionServerMessage as SessionServerMessageSchema, TEACHER_TOKEN_HEADER,
  type TraceRecord, WsClose,
} from "@kvmscope/shared";
import { RunManager } from "@kvmscope/vmm";
import { startServer, type RunningServer } from "../src/service/server.js";
import { loadWalkthroughs, WALKTHROUGHS_DIR } from "../src/walkthroughs.js";
import { kvm } from "./helpers.js";
import { startServeChild } from "./service-fixtures.js";

const NOT_TEACHER = "only the teacher who started this session can do that (students follow with the join code)";
const exitLoop = loadWalkthroughs().find((l) => l.walkthrough.id === "exit-loop")!.walkthrough;

const dirs: string[] = [];
function tempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `kvmscope-${name}-`));
  dirs.push(dir);
  return dir;
}

async function until(what: () => boolean | Promise<boolean>, label: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await what())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

type Answer<T> = { status: number; body: T };

function client(base: () => string) {
  return async function api<T = Record<string, unknown>>(method: string, path: string, body?: unknown, token?: string): Promise<Answer<T>> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["content-type"] = "application/json";
    if (token !== undefined) headers[TEACHER_TOKEN_HEADER] = token;
    const res = await fetch(base() + path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    return { status: res.status, body: (await res.json()) as T };
  };
}

/** A student's browser tab: the session socket, every frame it got. */
class Student {
  readonly frames: SessionServerMessage[] = [];
  readonly closed: Promise<number>;

  constructor(readonly ws: WebSocket) {
    ws.on("message", (data) => this.frames.push(SessionServerMessageSchema.parse(JSON.parse(String(data)))));
    this.closed = new Promise((resolve) => ws.once("close", (code) => resolve(code)));
  }

  static async join(url: string, code: string): Promise<Student> {
    const s = new Student(new WebSocket(`${url.replace("http", "ws")}/ws?session=${encodeURIComponent(code)}`));
    await until(() => s.frames.length > 0, "the first session frame");
    return s;
  }

  get sessions(): SessionInfo[] {
    return this.frames.flatMap((f) => (f.type === "session" ? [f.session] : []));
  }

  get last(): SessionInfo {
    return this.sessions.at(-1)!;
  }
}

/** A run socket (/ws?run=ID): what a student would use to try to steer the VM. */
class RunSocket {
  readonly messages: ServerMessage[] = [];
  constructor(readonly ws: WebSocket) {
    ws.on("message", (data, isBinary) => {
      if (!isBinary) this.messages.push(ServerMessageSchema.parse(JSON.parse(String(data))));
    });
  }
  static async open(url: string, id: string): Promise<RunSocket> {
    const s = new RunSocket(new WebSocket(`${url.replace("http", "ws")}/ws?run=${id}`));
    await until(() => s.messages.some((m) => m.type === "hello"), "hello");
    return s;
  }
}

describe("walkthroughs in the service", () => {
  it("leaves a broken walkthrough file out, says why, and serves the others", async () => {
    const dir = tempDir("walkthroughs");
    copyFileSync(join(WALKTHROUGHS_DIR, "02-exit-loop.yaml"), join(dir, "02-exit-loop.yaml"));
    writeFileSync(join(dir, "05-broken.yaml"), "version: 1\nid: broken\ntitle: {en: x}\n");
    const logged: string[] = [];
    const m = await RunManager.open({ dataDir: tempDir("catalog"), walkthroughs: { dir }, sessions: { log: (line) => logged.push(line) } });
    const server = await startServer(m, { port: 0, host: "127.0.0.1", maxBodyBytes: 1 << 20 });
    try {
      const api = client(() => server.url);
      const list = await api<{ walkthroughs: { id: string }[]; problems: string[] }>("GET", "/api/walkthroughs");
      expect(list.status).toBe(200);
      expect(list.body.walkthroughs.map((w) => w.id)).toEqual(["exit-loop"]);
      expect(list.body.problems.length).toBeGreaterThan(0);
      expect(list.body.problems[0]).toMatch(/05-broken\.yaml:\d+:\d+: /);
      expect(logged).toEqual(list.body.problems.map((p) => `[service] a walkthrough was left out: ${p}`));
      expect((await api("GET", "/api/walkthroughs/exit-loop")).body).toMatchObject({ id: "exit-loop", steps: exitLoop.steps.map((s) => ({ id: s.id })) });
      expect(await api("GET", "/api/walkthroughs/broken")).toEqual({ status: 404, body: { error: 'no walkthrough "broken" (see GET /api/walkthroughs)' } });
      const nope = await api<{ error: string }>("POST", "/api/sessions", { walkthrough: "broken" });
      expect(nope.status).toBe(400);
      expect(nope.body.error).toBe('no walkthrough "broken"; the walkthroughs are "exit-loop" (some walkthrough files could not be loaded: see "problems" in GET /api/walkthroughs)');
    } finally {
      await server.close();
      await m.shutdown();
    }
  });
});

describe.skipIf(!kvm.ok)("class sessions on real KVM and SQLite", () => {
  let m: RunManager;
  let server: RunningServer;
  const api = client(() => server.url);

  async function start(): Promise<{ code: string; token: string; session: SessionInfo }> {
    const r = await api<CreateSessionAnswer>("POST", "/api/sessions", { walkthrough: "exit-loop" });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return { code: r.body.session.code, token: r.body.teacherToken, session: r.body.session };
  }

  async function records(id: string): Promise<TraceRecord[]> {
    const out: TraceRecord[] = [];
    let fromSeq: number | null = 0;
    while (fromSeq !== null) {
      const page: Answer<{ records: TraceRecord[]; next: number | null }> = await api("GET", `/api/runs/${id}/records?fromSeq=${fromSeq}&limit=10000`);
      out.push(...page.body.records);
      fromSeq = page.body.next;
    }
    return out;
  }

  beforeAll(async () => {
    m = await RunManager.open({ dataDir: tempDir("sessions"), limits: { maxConcurrentRuns: 8 } });
    server = await startServer(m, { port: 0, host: "127.0.0.1", maxBodyBytes: 1 << 20 });
  });
  afterAll(async () => {
    await server?.close();
    await m?.shutdown();
  });

  it("starts a session with a join code and a paused step-mode run that only it owns", async () => {
    const { code, token, session } = await start();
    expect(code).toMatch(/^[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{6}$/);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(session).toMatchObject({ code, walkthroughId: "exit-loop", status: "open", step: -1, busy: false, reached: [], revealed: [], error: null, runs: { compare: null } });
    const main = session.runs.main!;
    await until(async () => (await api<RunInfo>("GET", `/api/runs/${main}`)).body.status === "paused", "the paused main run");
    expect((await api<RunInfo>("GET", `/api/runs/${main}`)).body).toMatchObject({ session: code, live: true, guest: "mmio", config: { mode: "step" } });
    // A run of one's own stays one's own.
    const plain = await api<RunInfo>("POST", "/api/runs", { guest: "hello" });
    expect(plain.body.session).toBeNull();
    expect((await api<SessionInfo>("GET", `/api/sessions/${code}`)).body).toEqual(session);
  });

  it("moves every student's screen with the teacher, step by step, to the records where the steps are", async () => {
    const { code, token, session } = await start();
    const students = [await Student.join(server.url, code), await Student.join(server.url, code.toLowerCase())];
    for (const s of students) expect(s.frames[0]).toEqual({ type: "session", session });

    for (let i = 0; i < exitLoop.steps.length; i++) {
      const r = await api<SessionInfo>("POST", `/api/sessions/${code}/advance`, {}, token);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body).toMatchObject({ step: i, busy: false, error: null });
      expect(r.body.reached.map((x) => x.stepId)).toEqual(exitLoop.steps.slice(0, i + 1).map((s) => s.id));
      for (const s of students) {
        await until(() => s.last.step === i && !s.last.busy, `student at step ${i}`);
        expect(s.last).toEqual(r.body);
        // They saw the teacher's advance start too (the page shows "moving the VM...").
        expect(s.sessions.some((x) => x.busy && x.step === i - 1)).toBe(true);
      }
    }
    const last = students[0]!.last;
    expect(students[1]!.last).toEqual(last);
    expect((await api("POST", `/api/sessions/${code}/advance`, {}, token)).status).toBe(409);

    // Each step's seq is where the stored trace says the step is reached.
    const located = locateSteps(exitLoop, await records(session.runs.main!));
    expect(located.ok).toBe(true);
    if (located.ok) expect(last.reached.map((x) => x.seq)).toEqual(located.steps.map((x) => x.seq));
    expect(last.reached.every((x) => x.run === "main" && x.runId === session.runs.main)).toBe(true);
    for (const s of students) s.ws.close();
  });

  it("does not let a student advance, reveal, end, control or type into the session's run, with or without a guessed token", async () => {
    const { code, token, session } = await start();
    expect((await api("POST", `/api/sessions/${code}/advance`, {}, token)).status).toBe(200);
    const main = session.runs.main!;
    const exits = async (): Promise<number> => (await records(main)).filter((r) => r.type === "exit").length;
    const before = await exits();
    const socket = await RunSocket.open(server.url, main);
    const runRefusal = `run ${main} belongs to the class session ${code}: ${NOT_TEACHER}`;

    for (const guess of [undefined, "wrong", code, token.slice(0, -1)]) {
      expect(await api("POST", `/api/sessions/${code}/advance`, {}, guess)).toEqual({ status: 403, body: { error: NOT_TEACHER } });
      expect(await api("POST", `/api/sessions/${code}/advance`, { to: 3 }, guess)).toEqual({ status: 403, body: { error: NOT_TEACHER } });
      expect(await api("POST", `/api/sessions/${code}/reveal`, { step: 0 }, guess)).toEqual({ status: 403, body: { error: NOT_TEACHER } });
      expect(await api("POST", `/api/sessions/${code}/end`, {}, guess)).toEqual({ status: 403, body: { error: NOT_TEACHER } });
      expect(await api("POST", `/api/runs/${main}/control`, { action: "resume" }, guess)).toEqual({ status: 403, body: { error: runRefusal } });
      expect(await api("POST", `/api/runs/${main}/control`, { action: "stop" }, guess)).toEqual({ status: 403, body: { error: runRefusal } });
      expect(await api("POST", `/api/runs/${main}/console`, { data: "x" }, guess)).toEqual({ status: 403, body: { error: runRefusal } });
    }
    socket.ws.send(JSON.stringify({ type: "control", action: "resume", id: 1 }));
    socket.ws.send(JSON.stringify({ type: "console", data: "x", id: 2 }));
    await until(() => socket.messages.filter((x) => x.type === "error").length === 2, "two refusals");
    expect(socket.messages.filter((x) => x.type === "error")).toEqual([
      { type: "error", message: runRefusal, status: 403, id: 1 },
      { type: "error", message: runRefusal, status: 403, id: 2 },
    ]);
    expect(socket.messages.some((x) => x.type === "ack")).toBe(false);

    // Nothing moved: the run is where the teacher left it (statistics samples still come while
    // it is paused, exits do not), the session too.
    await new Promise((r) => setTimeout(r, 200));
    expect((await api<RunInfo>("GET", `/api/runs/${main}`)).body).toMatchObject({ status: "paused", live: true });
    expect(await exits()).toBe(before);
    expect((await api<SessionInfo>("GET", `/api/sessions/${code}`)).body).toMatchObject({ status: "open", step: 0, revealed: [] });

    // The teacher's token is what makes the difference.
    expect((await api<RunInfo>("POST", `/api/runs/${main}/control`, { action: "pause" }, token)).status).toBe(200);
    expect((await api<number>("POST", `/api/runs/${main}/console`, { data: "x" }, token)).status).toBe(200);
    socket.ws.close();
  });

  it("goes back to a step already reached without touching the run, and forward again to new ones", async () => {
    const { code, token, session } = await start();
    for (let i = 0; i < 3; i++) expect((await api("POST", `/api/sessions/${code}/advance`, {}, token)).status).toBe(200);
    const main = session.runs.main!;
    const count = async (): Promise<number> => (await records(main)).filter((r) => r.type === "exit").length;
    const exits = await count();

    const back = await api<SessionInfo>("POST", `/api/sessions/${code}/advance`, { to: 0 }, token);
    expect(back.body).toMatchObject({ step: 0, busy: false });
    expect(back.body.reached).toHaveLength(3);
    expect((await api<SessionInfo>("POST", `/api/sessions/${code}/advance`, {}, token)).body).toMatchObject({ step: 1 });
    await new Promise((r) => setTimeout(r, 200));
    expect(await count()).toBe(exits);

    // Steps 2-7 all explain the first UART exit; step 8 is the next exit, so reaching it runs the VM.
    const on = await api<SessionInfo>("POST", `/api/sessions/${code}/advance`, { to: 8 }, token);
    expect(on.body).toMatchObject({ step: 8 });
    expect(on.body.reached.map((x) => x.stepIndex)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(await count()).toBeGreaterThan(exits);
    expect((await api<{ error: string }>("POST", `/api/sessions/${code}/advance`, { to: 15 }, token)).body.error)
      .toBe('to: the walkthrough "exit-loop" has 15 steps (0 to 14), got 15');
  });

  it("refuses a second advance while the first is on its way (409), so a double click cannot skip a step", async () => {
    const { code, token } = await start();
    const [a, b] = await Promise.all([
      api<SessionInfo>("POST", `/api/sessions/${code}/advance`, {}, token),
      api<{ error: string }>("POST", `/api/sessions/${code}/advance`, {}, token),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 409]);
    const refused = (a.status === 409 ? a : b).body as { error: string };
    expect(refused.error).toBe('step 1 is still being reached: wait until it is (the session socket says "busy": false)');
    expect((await api<SessionInfo>("GET", `/api/sessions/${code}`)).body).toMatchObject({ step: 0, busy: false });
  });

  it("reveals an answer to everyone, and ends the session: its runs stop, it stays readable", async () => {
    const { code, token, session } = await start();
    const student = await Student.join(server.url, code);
    const withAnswer = exitLoop.steps.findIndex((s) => s.answer !== undefined);
    const revealed = await api<SessionInfo>("POST", `/api/sessions/${code}/reveal`, { step: withAnswer }, token);
    expect(revealed.body.revealed).toEqual([withAnswer]);
    await until(() => student.last.revealed.includes(withAnswer), "the revealed answer");
    const without = exitLoop.steps.findIndex((s) => s.answer === undefined);
    if (without >= 0) expect((await api("POST", `/api/sessions/${code}/reveal`, { step: without }, token)).status).toBe(400);

    expect((await api("POST", `/api/sessions/${code}/advance`, {}, token)).status).toBe(200);
    const ended = await api<SessionInfo>("POST", `/api/sessions/${code}/end`, undefined, token);
    expect(ended.body).toMatchObject({ status: "ended", step: 0, revealed: [withAnswer] });
    await until(() => student.last.status === "ended", "the end on the student's screen");
    expect((await api<RunInfo>("GET", `/api/runs/${session.runs.main}`)).body).toMatchObject({ live: false, status: "finished", session: code });
    expect(await api("POST", `/api/sessions/${code}/advance`, {}, token)).toEqual({
      status: 409, body: { error: `the class session ${code} has ended; its runs can still be replayed` },
    });
    expect((await api("POST", `/api/sessions/${code}/end`, {}, token)).body).toEqual(ended.body);
    expect((await api<SessionInfo>("GET", `/api/sessions/${code}`)).body).toEqual(ended.body);
    // A student joining late still sees where the class got to.
    expect((await Student.join(server.url, code)).last).toEqual(ended.body);
  });

  it("says why a step could not be reached (422), on the teacher's answer and every student's screen", async () => {
    const { code, token, session } = await start();
    const student = await Student.join(server.url, code);
    expect((await api("POST", `/api/runs/${session.runs.main}/control`, { action: "stop" }, token)).status).toBe(200);
    await until(async () => !(await api<RunInfo>("GET", `/api/runs/${session.runs.main}`)).body.live, "the stopped run");
    // The session said so the moment the run ended, before anyone tried to go on.
    const ended = "the main run ended (stopped: stopped on request): end this session and start a new one";
    await until(() => student.last.error === ended, "the run's end on the student's screen");
    expect((await api<SessionInfo>("GET", `/api/sessions/${code}`)).body).toMatchObject({ error: ended, status: "open" });
    const r = await api<{ error: string }>("POST", `/api/sessions/${code}/advance`, {}, token);
    expect(r.status).toBe(422);
    expect(r.body.error).toMatch(/^step 1 \(loop\): the main run ended/);
    await until(() => student.last.error === r.body.error, "the error on the student's screen");
    expect(student.last).toMatchObject({ error: r.body.error, busy: false, step: -1, status: "open" });
  });

  it("answers a malformed join code with 400 and an unknown one with 404, over HTTP and WebSocket", async () => {
    const { code } = await start();
    expect(await api("GET", "/api/sessions/abc")).toEqual({ status: 400, body: { error: 'a join code is 6 letters and digits, like K7QH2M (got "abc")' } });
    expect(await api("GET", "/api/sessions/K7QH2O")).toEqual({ status: 400, body: { error: 'a join code is 6 letters and digits, like K7QH2M (got "K7QH2O")' } });
    expect((await api("POST", "/api/sessions/abc/advance", {})).status).toBe(400);
    const unknown = code === "K7QH2M" ? "K7QH2N" : "K7QH2M";
    expect(await api("GET", `/api/sessions/${unknown}`)).toEqual({ status: 404, body: { error: `no class session with the join code ${unknown}` } });
    expect(await api("POST", `/api/sessions/${unknown}/advance`, {}, "x")).toEqual({ status: 404, body: { error: `no class session with the join code ${unknown}` } });
    const typed = `${code.slice(0, 3).toLowerCase()}-${code.slice(3)}`;
    expect((await api<SessionInfo>("GET", `/api/sessions/${typed}`)).body.code).toBe(code);

    const bad = new Student(new WebSocket(`${server.url.replace("http", "ws")}/ws?session=abc`));
    expect(await bad.closed).toBe(WsClose.BadRequest);
    expect(bad.frames).toEqual([{ type: "error", status: 400, message: 'a join code is 6 letters and digits, like K7QH2M (got "abc")' }]);
    const none = new Student(new WebSocket(`${server.url.replace("http", "ws")}/ws?session=${unknown}`));
    expect(await none.closed).toBe(WsClose.UnknownSession);
    expect(none.frames).toEqual([{ type: "error", status: 404, message: `no class session with the join code ${unknown}` }]);
    const both = new Student(new WebSocket(`${server.url.replace("http", "ws")}/ws?session=${code}&run=x`));
    expect(await both.closed).toBe(WsClose.BadRequest);

    // A session socket only listens: what a student sends there moves nothing.
    const talker = await Student.join(server.url, code);
    talker.ws.send(JSON.stringify({ type: "control", action: "resume" }));
    expect(await talker.closed).toBe(WsClose.BadRequest);
    expect(talker.frames.find((f) => f.type === "error")).toMatchObject({ status: 400, message: expect.stringMatching(/^a session socket only listens/) });

    expect((await api<{ error: string }>("POST", "/api/sessions", { walkthrough: "no-such-tour" })).status).toBe(400);
    expect((await api<{ error: string }>("POST", "/api/sessions", { walkthrough: "exit-loop", extra: 1 })).body.error)
      .toBe('bad session request: unknown field "extra" (a session request takes "walkthrough", "peek")');
  });
});

describe.skipIf(!kvm.ok)("class sessions and the service's limits", () => {
  it("count a session's run against the concurrent-run limit (429), and leave nothing behind when refused", async () => {
    const m = await RunManager.open({ dataDir: tempDir("session-limits"), limits: { maxConcurrentRuns: 1 } });
    const server = await startServer(m, { port: 0, host: "127.0.0.1", maxBodyBytes: 1 << 20 });
    const api = client(() => server.url);
    try {
      const first = await api<CreateSessionAnswer>("POST", "/api/sessions", { walkthrough: "exit-loop" });
      expect(first.status).toBe(201);
      const second = await api<{ error: string }>("POST", "/api/sessions", { walkthrough: "exit-loop" });
      expect(second).toEqual({ status: 429, body: { error: "1 runs are live; this service runs at most 1 at once" } });
      expect(m.sessions.openCodes).toEqual([first.body.session.code]);
      await api("POST", `/api/sessions/${first.body.session.code}/end`, {}, first.body.teacherToken);
      expect((await api("POST", "/api/sessions", { walkthrough: "exit-loop" })).status).toBe(201);
    } finally {
      await server.close();
      await m.shutdown();
    }
  });
});

describe.skipIf(!kvm.ok)("class sessions and time limits", () => {
  it("give a session's runs the class limit (--max-class-seconds), not --max-run-seconds", async () => {
    const m = await RunManager.open({ dataDir: tempDir("session-class-limit"), limits: { maxRunSeconds: 1 } });
    try {
      const { session, teacherToken } = await m.sessions.create("exit-loop");
      expect((await m.getRun(session.runs.main!))?.config.timeoutSec).toBe(4 * 3600);
      expect((await m.createRun({ guest: "hello", mode: "step" })).config.timeoutSec).toBe(1);
      await m.sessions.advance(session.code, teacherToken);
      // The class talks step 1 over for longer than a run of one's own may live.
      await new Promise((r) => setTimeout(r, 1500));
      expect(await m.getRun(session.runs.main!)).toMatchObject({ live: true, status: "paused" });
      expect(await m.sessions.advance(session.code, teacherToken)).toMatchObject({ step: 1, error: null, status: "open" });
    } finally {
      await m.shutdown();
    }
  });

  it("say on every student's screen, at once, when a run ends while the session is open", async () => {
    const m = await RunManager.open({ dataDir: tempDir("session-run-ends"), limits: { maxClassRunSeconds: 2 } });
    const server = await startServer(m, { port: 0, host: "127.0.0.1", maxBodyBytes: 1 << 20 });
    const api = client(() => server.url);
    try {
      const created = await api<CreateSessionAnswer>("POST", "/api/sessions", { walkthrough: "exit-loop" });
      const { code } = created.body.session;
      const token = created.body.teacherToken;
      expect((await api<RunInfo>("GET", `/api/runs/${created.body.session.runs.main}`)).body.config.timeoutSec).toBe(2);
      const student = await Student.join(server.url, code);
      expect((await api<SessionInfo>("POST", `/api/sessions/${code}/advance`, {}, token)).body).toMatchObject({ step: 0, error: null });
      const ended = "the main run ended (timeout: the run was paused for 2 s with nothing resuming or stepping it (the idle limit)): end this session and start a new one";
      await until(() => student.last.error === ended, "the run's end on the student's screen", 10_000);
      expect(student.last).toMatchObject({ status: "open", step: 0, busy: false });
      expect((await api<SessionInfo>("GET", `/api/sessions/${code}`)).body.error).toBe(ended);
      // Going back to a step already reached still works, and still says the run is gone.
      expect((await api<SessionInfo>("POST", `/api/sessions/${code}/advance`, { to: 0 }, token)).body).toMatchObject({ step: 0, error: ended });
      expect((await api("POST", `/api/sessions/${code}/advance`, {}, token)).status).toBe(422);
      expect((await api<SessionInfo>("POST", `/api/sessions/${code}/end`, {}, token)).body).toMatchObject({ status: "ended" });
      await until(() => student.last.status === "ended", "the end on the student's screen");
    } finally {
      await server.close();
      await m.shutdown();
    }
  });
});

describe.skipIf(!kvm.ok)("a class session across a service restart", () => {
  const serve = startServeChild;

  it("is ended after a clean shutdown too, with its run finished, not aborted", async () => {
    const dir = tempDir("session-shutdown");
    let m = await RunManager.open({ dataDir: dir });
    let server = await startServer(m, { port: 0, host: "127.0.0.1", maxBodyBytes: 1 << 20 });
    const api = client(() => server.url);
    const created = await api<CreateSessionAnswer>("POST", "/api/sessions", { walkthrough: "exit-loop" });
    const { code } = created.body.session;
    const at = await api<SessionInfo>("POST", `/api/sessions/${code}/advance`, {}, created.body.teacherToken);
    await server.close();
    await m.shutdown();

    m = await RunManager.open({ dataDir: dir });
    server = await startServer(m, { port: 0, host: "127.0.0.1", maxBodyBytes: 1 << 20 });
    try {
      expect(m.endedAtStart).toEqual([]); // the shutdown itself ended it
      expect((await api<SessionInfo>("GET", `/api/sessions/${code}`)).body).toEqual({ ...at.body, status: "ended", updatedAt: expect.any(String) });
      expect((await api<RunInfo>("GET", `/api/runs/${at.body.runs.main}`)).body).toMatchObject({ status: "finished", session: code });
    } finally {
      await server.close();
      await m.shutdown();
    }
  });

  it("is ended but readable after the service was killed: its progress, its aborted run and the run's records", async () => {
    const dir = tempDir("session-restart");
    const first = await serve(dir);
    let api = client(() => first.url);
    const created = await api<CreateSessionAnswer>("POST", "/api/sessions", { walkthrough: "exit-loop" });
    const { code } = created.body.session;
    const token = created.body.teacherToken;
    await api("POST", `/api/sessions/${code}/advance`, {}, token);
    const at = await api<SessionInfo>("POST", `/api/sessions/${code}/advance`, { to: 2 }, token);
    await api("POST", `/api/sessions/${code}/advance`, { to: 1 }, token);
    const withAnswer = exitLoop.steps.findIndex((s) => s.answer !== undefined);
    expect((await api("POST", `/api/sessions/${code}/reveal`, { step: withAnswer }, token)).status).toBe(200);
    first.child.kill("SIGKILL");
    await first.exited;

    const again = await serve(dir);
    api = client(() => again.url);
    try {
      const s = await api<SessionInfo>("GET", `/api/sessions/${code}`);
      expect(s.status).toBe(200);
      expect(s.body).toMatchObject({ code, status: "ended", step: 1, busy: false, reached: at.body.reached, revealed: [withAnswer], runs: at.body.runs });
      const run = await api<RunInfo>("GET", `/api/runs/${at.body.runs.main}`);
      expect(run.body).toMatchObject({ status: "aborted", live: false, session: code });
      // The records up to the last step reached were stored before the teacher's answer came.
      const lastSeq = at.body.reached.at(-1)!.seq;
      const page = await api<{ records: TraceRecord[] }>("GET", `/api/runs/${at.body.runs.main}/records?fromSeq=${lastSeq}&limit=1`);
      expect(page.body.records[0]?.seq).toBe(lastSeq);
      expect(await api("POST", `/api/sessions/${code}/advance`, {}, token)).toEqual({
        status: 409, body: { error: `the class session ${code} has ended; its runs can still be replayed` },
      });
    } finally {
      again.child.kill("SIGTERM");
      expect(await again.exited).toBe(0);
    }
  });
});

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!kvm.ok)("class sessions: answers, a second teacher's browser, the idle end", () => {
  let m: RunManager;
  let server: RunningServer;
  const api = client(() => server.url);
  const withAnswer = exitLoop.steps.map((s, i) => (s.answer !== undefined ? i : -1)).filter((i) => i >= 0);
  type Answers = { answers: { step: number; answer: { en: string; ja: string } }[] };

  beforeAll(async () => {
    m = await RunManager.open({ dataDir: tempDir("sessions-lead"), limits: { maxConcurrentRuns: 8 } });
    server = await startServer(m, { port: 0, host: "127.0.0.1", maxBodyBytes: 1 << 20 });
  });
  afterAll(async () => {
    await server?.close();
    await m?.shutdown();
  });

  it("never sends an answer before the teacher reveals it, unless the session was started with peek", async () => {
    expect(withAnswer.length).toBeGreaterThan(1);
    const pub = await api<{ steps: { answer?: unknown; question?: unknown }[] }>("GET", "/api/walkthroughs/exit-loop");
    expect(pub.body.steps.some((s) => s.question !== undefined)).toBe(true);
    expect(pub.body.steps.every((s) => s.answer === undefined)).toBe(true);
    const list = await api<{ walkthroughs: { steps: { answer?: unknown }[] }[] }>("GET", "/api/walkthroughs");
    expect(list.body.walkthroughs.flatMap((w) => w.steps).every((s) => s.answer === undefined)).toBe(true);
    // with no class on it, a walkthrough's answers are there for studying alone
    const alone = await api<Answers>("GET", "/api/walkthroughs/exit-loop/answers");
    expect(alone.body.answers.map((a) => a.step)).toEqual(withAnswer);

    const r = await api<CreateSessionAnswer>("POST", "/api/sessions", { walkthrough: "exit-loop" });
    const { session: { code }, teacherToken: token } = r.body;
    expect(r.body.session).toMatchObject({ peek: false, answers: [] });
    const student = await Student.join(server.url, code);
    expect(JSON.stringify(student.frames)).not.toContain(exitLoop.steps[withAnswer[0]!]!.answer!.en);
    const hidden = await api<{ error: string }>("GET", "/api/walkthroughs/exit-loop/answers");
    expect(hidden.status).toBe(403);
    expect(hidden.body.error).toContain('a class is working through "exit-loop" now');
    expect((await api("GET", `/api/sessions/${code}/answers`)).status).toBe(403); // a student
    expect((await api<Answers>("GET", `/api/sessions/${code}/answers`, undefined, token)).body.answers.map((a) => a.step)).toEqual(withAnswer);

    await api("POST", `/api/sessions/${code}/reveal`, { step: withAnswer[1] }, token);
    await until(() => student.last.answers.length === 1, "the revealed answer");
    expect(student.last.answers).toEqual([{ step: withAnswer[1], answer: exitLoop.steps[withAnswer[1]!]!.answer }]);
    expect(JSON.stringify(student.frames)).not.toContain(exitLoop.steps[withAnswer[0]!]!.answer!.en);

    const peek = await api<CreateSessionAnswer>("POST", "/api/sessions", { walkthrough: "exit-loop", peek: true });
    expect(peek.body.session.peek).toBe(true);
    expect(peek.body.session.answers.map((a) => a.step)).toEqual(withAnswer);
    expect((await api("POST", "/api/sessions", { walkthrough: "exit-loop", peek: "yes" })).status).toBe(400);

    for (const [c, t] of [[code, token], [peek.body.session.code, peek.body.teacherToken]] as const) await api("POST", `/api/sessions/${c}/end`, {}, t);
    expect((await api("GET", "/api/walkthroughs/exit-loop/answers")).status).toBe(200);
    student.ws.close();
  });

  it("lets the teacher carry the role to another browser with a one-use lead code", async () => {
    const r = await api<CreateSessionAnswer>("POST", "/api/sessions", { walkthrough: "exit-loop" });
    const { session: { code }, teacherToken: token } = r.body;
    expect((await api("POST", `/api/sessions/${code}/lead-code`, {})).status).toBe(403); // not the teacher
    const made = await api<{ leadCode: string; expiresAt: string }>("POST", `/api/sessions/${code}/lead-code`, {}, token);
    expect(made.status).toBe(201);
    expect(made.body.leadCode).toMatch(/^[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{8}$/);
    expect(Date.parse(made.body.expiresAt)).toBeGreaterThan(Date.now());

    const wrong = await api<{ error: string }>("POST", `/api/sessions/${code}/lead`, { leadCode: "AAAAAAAA" === made.body.leadCode ? "BBBBBBBB" : "AAAAAAAA" });
    expect(wrong.status).toBe(403);
    expect(wrong.body.error).toContain("that is not the lead code of this session");
    const typed = `${made.body.leadCode.slice(0, 4).toLowerCase()}-${made.body.leadCode.slice(4)}`;
    const led = await api<{ session: SessionInfo; teacherToken: string }>("POST", `/api/sessions/${code}/lead`, { leadCode: typed });
    expect(led.status, JSON.stringify(led.body)).toBe(200);
    expect(led.body.teacherToken).not.toBe(token);
    // the second browser leads; the first one still does too
    expect((await api<SessionInfo>("POST", `/api/sessions/${code}/advance`, {}, led.body.teacherToken)).body.step).toBe(0);
    expect((await api<SessionInfo>("POST", `/api/sessions/${code}/heartbeat`, {}, token)).status).toBe(200);
    expect((await api<RunInfo>("POST", `/api/runs/${r.body.session.runs.main}/control`, { action: "pause" }, led.body.teacherToken)).status).not.toBe(403);
    // used up
    expect((await api<{ error: string }>("POST", `/api/sessions/${code}/lead`, { leadCode: made.body.leadCode })).body.error).toContain("no lead code in force");

    // five wrong tries and a lead code stops working
    const again = await api<{ leadCode: string }>("POST", `/api/sessions/${code}/lead-code`, {}, token);
    const other = again.body.leadCode === "AAAAAAAA" ? "BBBBBBBB" : "AAAAAAAA";
    for (let i = 0; i < 5; i++) await api("POST", `/api/sessions/${code}/lead`, { leadCode: other });
    expect((await api("POST", `/api/sessions/${code}/lead`, { leadCode: again.body.leadCode })).status).toBe(403);
    expect((await api("POST", `/api/sessions/${code}/lead`, { leadCode: 12 })).status).toBe(400);
    await api("POST", `/api/sessions/${code}/end`, {}, token);
    expect((await api("POST", `/api/sessions/${code}/lead`, { leadCode: again.body.leadCode })).status).toBe(409);
  });

  it("ends a session nobody leads for --session-idle-seconds and stops its run", async () => {
    const idle = await RunManager.open({ dataDir: tempDir("sessions-idle"), limits: { sessionIdleSeconds: 1 }, sessions: { idleCheckMs: 100 } });
    try {
      const { session } = await idle.sessions.create("exit-loop");
      expect(session.idleEndSec).toBe(1);
      let now = session;
      await until(async () => (now = (await idle.sessions.get(session.code))!).status === "ended", "the idle end", 30_000);
      expect(now.error).toContain("nobody led this class");
      await until(async () => (await idle.getRun(session.runs.main!))?.live === false, "the run's end", 30_000);
      expect((await idle.getRun(session.runs.main!))?.status).toBe("finished");
    } finally {
      await idle.shutdown();
    }
  });
});
