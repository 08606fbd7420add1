// `kvmscope serve` for real: the built CLI in a child process on a free loopback port, a real
// SQLite file, real KVM guests, a real WebSocket client. What a browser and a classroom do.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { kvmAvailable } from "@kvmscope/kvm-binding";
import { decodeBatch, type RunInfo, type ServerMessage, ServerMessage as ServerMessageSchema, type TraceRecord } from "@kvmscope/shared";
import { type ServiceChild, startServeChild } from "./service-fixtures.js";

const kvm = kvmAvailable();
if (!kvm.ok) console.warn(`[vmm] skipping the service tests that run guests: ${kvm.reason}`);


const dirs: string[] = [];
function dataDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `kvmscope-${name}-`));
  dirs.push(dir);
  return dir;
}

type Service = ServiceChild;
const startService = startServeChild;

async function api<T = Record<string, unknown>>(svc: Service, method: string, path: string, body?: unknown, type = "application/json"): Promise<{ status: number; body: T }> {
  const res = await fetch(svc.url + path, body === undefined ? { method } : { method, body: typeof body === "string" ? body : JSON.stringify(body), headers: { "content-type": type } });
  return { status: res.status, body: (await res.json()) as T };
}

/** Every stored record of a run, page by page through the records API. */
async function readAll(svc: Service, id: string): Promise<TraceRecord[]> {
  const out: TraceRecord[] = [];
  let fromSeq: number | null = 0;
  while (fromSeq !== null) {
    const page: { status: number; body: { records: TraceRecord[]; next: number | null } } = await api(svc, "GET", `/api/runs/${id}/records?fromSeq=${fromSeq}&limit=500`);
    expect(page.status).toBe(200);
    out.push(...page.body.records);
    fromSeq = page.body.next;
  }
  return out;
}

async function until(what: () => boolean | Promise<boolean>, label: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await what())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A viewer: every JSON frame, every record decoded from the binary frames, the console text. */
class Viewer {
  readonly messages: ServerMessage[] = [];
  readonly records: TraceRecord[] = [];
  console = "";
  readonly closed: Promise<number>;

  constructor(readonly ws: WebSocket) {
    ws.on("message", (data, isBinary) => {
      const bytes = data as Buffer;
      if (isBinary) {
        this.records.push(...decodeBatch(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)));
        return;
      }
      const msg = ServerMessageSchema.parse(JSON.parse(bytes.toString("utf8")));
      this.messages.push(msg);
      if (msg.type === "console") this.console += msg.data;
    });
    this.closed = new Promise((resolve) => ws.once("close", (code) => resolve(code)));
  }

  static async watch(svc: Service, id: string): Promise<Viewer> {
    const v = new Viewer(new WebSocket(`${svc.url.replace("http", "ws")}/ws?run=${id}`));
    await until(() => v.messages.some((m) => m.type === "hello"), "hello");
    return v;
  }

  get exits(): number {
    return this.records.filter((r) => r.type === "exit").length;
  }

  get status(): string | undefined {
    return this.messages.flatMap((m) => (m.type === "status" || m.type === "hello" ? [m.run.status] : [])).at(-1);
  }
}

describe.skipIf(!kvm.ok)("kvmscope serve on real KVM and SQLite", () => {
  let svc: Service;

  beforeAll(async () => {
    svc = await startService(dataDir("serve"));
  });
  afterAll(async () => {
    if (svc) {
      svc.child.kill("SIGTERM");
      await svc.exited;
    }
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it("creates a step-mode run over HTTP, steps exactly N exits over the WebSocket, and streams what it stores", async () => {
    const created = await api<RunInfo>(svc, "POST", "/api/runs", { guest: "add", mode: "step" });
    expect(created.status).toBe(201);
    const id = created.body.id;
    await until(async () => (await api<RunInfo>(svc, "GET", `/api/runs/${id}`)).body.status === "paused", "the paused run");
    const v = await Viewer.watch(svc, id);
    expect(v.messages[0]).toMatchObject({ type: "hello", protocol: 1, run: { id, guest: "add", live: true } });

    v.ws.send(JSON.stringify({ type: "control", action: "step", count: 2, id: "s" }));
    await until(() => v.messages.some((m) => m.type === "ack"), "the ack");
    expect(v.messages.find((m) => m.type === "ack")).toMatchObject({ action: "step", id: "s" });
    await until(async () => v.exits === 2 && (await api<RunInfo>(svc, "GET", `/api/runs/${id}`)).body.status === "paused", "two exits");
    await new Promise((r) => setTimeout(r, 300));
    expect(v.exits).toBe(2);

    expect((await api(svc, "POST", `/api/runs/${id}/control`, { action: "resume" })).status).toBe(200);
    await until(() => v.status === "finished", "the end of the run");
    expect(v.exits).toBe(3);
    expect(v.console).toBe("4\n");

    const stored = await readAll(svc, id);
    const first = v.records[0]!.seq;
    expect(v.records).toEqual(stored.filter((r) => r.seq >= first));
    const run = (await api<RunInfo>(svc, "GET", `/api/runs/${id}`)).body;
    expect(run).toMatchObject({ status: "finished", live: false, recordCount: stored.length, outcome: { outcome: "halted" } });
    expect((await api(svc, "POST", `/api/runs/${id}/control`, { action: "pause" })).status).toBe(409);
  });

  it("types console input over HTTP into the echo guest and shows its echo to a viewer", async () => {
    const { body: run } = await api<RunInfo>(svc, "POST", "/api/runs", { guest: "echo" });
    const v = await Viewer.watch(svc, run.id);
    expect((await api(svc, "POST", `/api/runs/${run.id}/console`, { data: "kvm\n" })).body).toEqual({ accepted: 4 });
    await until(() => v.status === "finished", "the end of the run");
    expect(v.console).toMatch(/KVM\nYou typed 3 characters\.\n$/);
  });

  it("exports a run over HTTP and imports it back with identical records", async () => {
    const { body: run } = await api<RunInfo>(svc, "POST", "/api/runs", { guest: "mmio" });
    await until(async () => (await api<RunInfo>(svc, "GET", `/api/runs/${run.id}`)).body.status === "finished", "the end of the run");
    const res = await fetch(`${svc.url}/api/runs/${run.id}/export?format=ndjson`);
    expect(res.headers.get("content-disposition")).toBe(`attachment; filename="kvmscope-${run.id}.ndjson"`);
    const text = await res.text();
    const imported = await api<RunInfo>(svc, "POST", "/api/import", text, "application/x-ndjson");
    expect(imported.status).toBe(201);
    expect(imported.body).toMatchObject({ imported: true, status: "finished", guest: "mmio" });
    expect(await readAll(svc, imported.body.id)).toEqual(await readAll(svc, run.id));

    const chrome = await (await fetch(`${svc.url}/api/runs/${run.id}/export?format=chrome`)).text();
    const fromChrome = await api<RunInfo>(svc, "POST", "/api/import", chrome, "application/json");
    expect(fromChrome.status).toBe(201);
    const pick = (rs: TraceRecord[]) => rs.filter((r) => r.type === "exit" || r.type === "ioctl" || r.type === "marker");
    expect(pick(await readAll(svc, fromChrome.body.id))).toEqual(pick(await readAll(svc, run.id)));
  });

  it("answers malformed JSON, wrong types, an unknown run, an oversized image and exceeded limits with the right 4xx, and keeps serving", async () => {
    expect((await api(svc, "POST", "/api/runs", "{guest:")).status).toBe(400);
    expect((await api(svc, "POST", "/api/runs", { guest: "hello", vcpus: "2" })).body).toEqual({
      error: 'bad run request: vcpus: must be a whole number from 1 to 64, got "2"',
    });
    expect((await api(svc, "POST", "/api/runs", { guest: "nosuchguest" })).status).toBe(400);
    expect((await api(svc, "GET", "/api/runs/nosuchrun")).status).toBe(404);
    expect((await api(svc, "GET", "/api/runs/nosuchrun/records")).status).toBe(404);
    const ws = new Viewer(new WebSocket(`${svc.url.replace("http", "ws")}/ws?run=nosuchrun`));
    expect(await ws.closed).toBe(4404);

    const image = await api(svc, "POST", "/api/runs", { image: Buffer.alloc(700 * 1024, 0x90).toString("base64") });
    expect(image.status).toBe(413);
    expect((await api(svc, "POST", "/api/runs", { image: Buffer.alloc(2 * 1024 * 1024).toString("base64") })).status).toBe(413);

    // The default limit is 4 runs at once: the fifth is refused until one ends.
    const spins: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await api<RunInfo>(svc, "POST", "/api/runs", { guest: "spin", timeoutSec: 60 });
      expect(r.status).toBe(201);
      spins.push(r.body.id);
    }
    const fifth = await api<{ error: string }>(svc, "POST", "/api/runs", { guest: "hello" });
    expect(fifth.status).toBe(429);
    expect(fifth.body.error).toMatch(/at most 4 at once/);
    for (const id of spins) expect((await api(svc, "POST", `/api/runs/${id}/control`, { action: "stop" })).status).toBe(200);
    for (const id of spins) await until(async () => !(await api<RunInfo>(svc, "GET", `/api/runs/${id}`)).body.live, "the stopped run");

    const { body: run } = await api<RunInfo>(svc, "POST", "/api/runs", { guest: "hello" });
    await until(async () => (await api<RunInfo>(svc, "GET", `/api/runs/${run.id}`)).body.status === "finished", "a run after all that");
    const list = await api<{ runs: RunInfo[] }>(svc, "GET", "/api/runs?limit=2");
    expect(list.body.runs[0]!.id).toBe(run.id);
  });

  it("keeps every flushed record of a run whose service was killed with SIGKILL, and marks it aborted", async () => {
    const dir = dataDir("serve-kill");
    const first = await startService(dir);
    const { body: run } = await api<RunInfo>(first, "POST", "/api/runs", { guest: "echo" }); // polls the UART: a steady flow of exits
    // Wait for a steady flow (a loaded machine starts the VM late), then past two flushes.
    await until(async () => (await api<RunInfo>(first, "GET", `/api/runs/${run.id}`)).body.recordCount > 2000, "records flowing");
    await new Promise((r) => setTimeout(r, 2500));
    first.child.kill("SIGKILL");
    await first.exited;

    const again = await startService(dir);
    try {
      expect((await api<RunInfo>(again, "GET", `/api/runs/${run.id}`)).body).toMatchObject({ status: "aborted", live: false });
      const records = await readAll(again, run.id);
      expect(records.length).toBeGreaterThan(1000);
      expect(records[0]).toMatchObject({ type: "ioctl", name: "open" });
    } finally {
      again.child.kill("SIGTERM");
      expect(await again.exited).toBe(0);
    }
  });

  it("stops on SIGTERM with status 0", async () => {
    const dir = dataDir("serve-term");
    const s = await startService(dir);
    const { body: run } = await api<RunInfo>(s, "POST", "/api/runs", { guest: "spin", timeoutSec: 60 });
    const v = await Viewer.watch(s, run.id);
    s.child.kill("SIGTERM");
    expect(await s.exited).toBe(0);
    expect(await v.closed).toBe(1001);
  });
});
