// The WebSocket layer of `kvmscope serve` on real loopback sockets, over FakeRunService: a
// stand-in for the run manager whose runs the test drives by hand (records, console output,
// status), so that what each viewer receives can be checked to the record.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import {
  decodeBatch, encodeBatch, type ExitRecord, H, RECORD_SIZE, type ServerMessage, ServerMessage as ServerMessageSchema, type SessionInfo,
  WsClose,
} from "@kvmscope/shared";
import type { GuestInfo } from "../src/guests.js";
import { startServer, type RunningServer } from "../src/service/server.js";
import {
  type ClassSessionService, ConflictError, type ControlRequest, NotFoundError, type RecordQuery, type RunInfo, type RunListener,
  type RunRequest, type RunService,
} from "../src/service/types.js";
import { runInfo } from "./service-fixtures.js";

const SESSION: SessionInfo = {
  code: "K7QH2M", walkthroughId: "exit-loop", status: "open", createdAt: "2025-01-01T00:00:00.000Z", updatedAt: "2025-01-01T00:00:00.000Z",
  step: -1, busy: false, reached: [], runs: { main: "live1", compare: null }, revealed: [], error: null,
};

/** One class session, K7QH2M, that never changes: enough for its socket. */
function fakeSessions(): ClassSessionService {
  const no = (): never => {
    throw new Error("not in these tests");
  };
  return {
    catalog: no, walkthrough: no, create: no, get: no, advance: no, reveal: no, end: no,
    subscribe: async (code, listener) => {
      if (code !== SESSION.code) throw new NotFoundError(`no class session with the join code ${code}`);
      listener(SESSION);
      return () => {};
    },
  };
}

/** Runs whose records, console output and status the test emits to every subscribed viewer. */
class FakeRunService implements RunService {
  readonly sessions = fakeSessions();
  readonly runs = new Map<string, RunInfo>([
    ["live1", runInfo("live1")],
    ["busy1", runInfo("busy1")],
    ["smp1", runInfo("smp1", { config: { vcpus: 2, memMiB: 16, irqchip: "user", mode: "live", timeoutSec: 10, maxExits: null } })],
    ["done1", runInfo("done1", { status: "finished", live: false })],
  ]);
  readonly listeners = new Map<string, Set<RunListener>>();
  controls: ControlRequest[] = [];
  typed: string[] = [];

  viewers(id: string): number {
    return this.listeners.get(id)?.size ?? 0;
  }

  emitRecords(id: string, batch: Uint8Array, firstSeq: number, lastSeq: number): void {
    for (const l of this.listeners.get(id) ?? []) l.onRecords(batch, firstSeq, lastSeq);
  }

  emitConsole(id: string, bytes: Uint8Array): void {
    for (const l of this.listeners.get(id) ?? []) l.onConsole(bytes);
  }

  emitStatus(id: string, fields: Partial<RunInfo>): void {
    const run = { ...this.runs.get(id)!, ...fields };
    this.runs.set(id, run);
    for (const l of this.listeners.get(id) ?? []) l.onStatus(run);
  }

  listGuests(): GuestInfo[] {
    return [];
  }

  async createRun(_req: RunRequest): Promise<RunInfo> {
    throw new Error("not in these tests");
  }

  async getRun(id: string): Promise<RunInfo | null> {
    return this.runs.get(id) ?? null;
  }

  async listRuns(): Promise<{ runs: RunInfo[]; next: string | null }> {
    return { runs: [...this.runs.values()], next: null };
  }

  async control(id: string, req: ControlRequest): Promise<RunInfo> {
    const run = this.runs.get(id);
    if (!run) throw new NotFoundError(`no run ${id}`);
    if (!run.live) throw new ConflictError(`run ${id} is not live`);
    this.controls.push(req);
    return { ...run, status: req.action === "pause" ? "paused" : run.status };
  }

  async consoleInput(id: string, bytes: Uint8Array): Promise<number> {
    if (!this.runs.get(id)?.live) throw new ConflictError(`run ${id} is not live`);
    this.typed.push(Buffer.from(bytes).toString("utf8"));
    return bytes.length;
  }

  async readRecords(_id: string, _q: RecordQuery): Promise<{ records: never[]; next: null }> {
    return { records: [], next: null };
  }

  async *exportRun(): AsyncIterable<string> {
    yield "";
  }

  async importRun(): Promise<RunInfo> {
    throw new Error("not in these tests");
  }

  async subscribe(id: string, listener: RunListener): Promise<() => void> {
    const run = this.runs.get(id);
    if (!run) throw new NotFoundError(`no run ${id}`);
    listener.onStatus(run);
    if (!run.live) return () => {};
    let set = this.listeners.get(id);
    if (!set) this.listeners.set(id, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  async shutdown(): Promise<void> {}
}

// ---------------------------------------------------------------------------------------------
// A viewer: a real `ws` client that keeps every frame it got

type Frame = { kind: "json"; msg: ServerMessage } | { kind: "binary"; bytes: Buffer };

class Viewer {
  readonly frames: Frame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly opened: Promise<void>;
  #waiters: (() => void)[] = [];

  constructor(readonly ws: WebSocket) {
    ws.on("message", (data, isBinary) => {
      const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      if (isBinary) this.frames.push({ kind: "binary", bytes });
      else this.frames.push({ kind: "json", msg: ServerMessageSchema.parse(JSON.parse(bytes.toString("utf8"))) });
      for (const w of this.#waiters.splice(0)) w();
    });
    this.opened = new Promise((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    this.closed = new Promise((resolve) => ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static connect(query: string, headers: Record<string, string> = {}): Viewer {
    return new Viewer(new WebSocket(`${server.url.replace("http", "ws")}/ws${query}`, { headers }));
  }

  get json(): ServerMessage[] {
    return this.frames.flatMap((f) => (f.kind === "json" ? [f.msg] : []));
  }

  /** Resolves when `done()` holds, checking after every frame. */
  async until(done: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${this.frames.length} frames`);
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  async nextJson<T extends ServerMessage["type"]>(type: T): Promise<Extract<ServerMessage, { type: T }>> {
    let found: ServerMessage | undefined;
    await this.until(() => (found = this.json.find((m) => m.type === type)) !== undefined, `a ${type} frame`);
    this.frames.splice(this.frames.findIndex((f) => f.kind === "json" && f.msg === found), 1);
    return found as Extract<ServerMessage, { type: T }>;
  }

  send(value: unknown): void {
    this.ws.send(typeof value === "string" ? value : JSON.stringify(value));
  }
}

function ioExit(seq: number, byte: number): ExitRecord {
  return {
    type: "exit", seq, ts: seq * 1000, vcpu: 0, reason: "KVM_EXIT_IO", code: 2, rip: 0x7c05, guestNs: 500, handleNs: 200,
    ifFlag: false, readyForInjection: false, requestedWindow: false,
    io: { port: 0x3f8, size: 1, direction: "out", count: 1, data: [byte] },
  };
}

/** A fresh batch of `n` records numbered from `firstSeq` (a template with its seq fields rewritten). */
const TEMPLATE = encodeBatch(Array.from({ length: 256 }, (_, i) => ioExit(i, 0x41)));
function batch(firstSeq: number, n: number): Uint8Array {
  const bytes = TEMPLATE.slice(0, n * RECORD_SIZE);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < n; i++) view.setUint32(i * RECORD_SIZE + H.seq, firstSeq + i, true);
  return bytes;
}

function seqsOf(bytes: Buffer): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: number[] = [];
  for (let o = 0; o < bytes.byteLength; o += RECORD_SIZE) out.push(view.getUint32(o + H.seq, true));
  return out;
}

const SLOW_BYTES = 1024 * 1024;
const service = new FakeRunService();
let server: RunningServer;

beforeAll(async () => {
  server = await startServer(service, { port: 0, host: "127.0.0.1", maxBodyBytes: 64 * 1024, slowViewerBytes: SLOW_BYTES, log: () => {} });
});
afterAll(async () => {
  await server?.close();
});

describe("watching a run over a WebSocket", () => {
  it("says hello with the protocol version and the run, then streams status, records and console output", async () => {
    const v = Viewer.connect("?run=live1");
    await v.until(() => v.json.length > 0 && service.viewers("live1") === 1, "the hello and the subscription");
    const hello = v.json[0];
    expect(hello).toMatchObject({ type: "hello", protocol: 1, run: { id: "live1", status: "running" } });

    const sent = [ioExit(1, 0x48), ioExit(2, 0x69)];
    service.emitRecords("live1", encodeBatch(sent), 1, 2);
    service.emitConsole("live1", Uint8Array.from([0x48, 0x69, 0xc3])); // "Hi" and half of "é"
    service.emitConsole("live1", Uint8Array.from([0xa9, 0x0a]));
    service.emitStatus("live1", { status: "paused" });
    await v.until(() => v.frames.filter((f) => f.kind === "json" && f.msg.type === "status").length >= 2, "the paused status");

    const binary = v.frames.filter((f) => f.kind === "binary");
    expect(binary.length).toBe(1);
    expect(decodeBatch(binary[0]!.kind === "binary" ? binary[0]!.bytes : Buffer.alloc(0))).toEqual(sent);
    const text = v.json.flatMap((m) => (m.type === "console" ? [m.data] : [])).join("");
    expect(text).toBe("Hié\n");
    expect(v.json.at(-1)).toMatchObject({ type: "status", run: { status: "paused" } });
    service.emitStatus("live1", { status: "running" });
    v.ws.close();
    await v.closed;
    await v.until(() => service.viewers("live1") === 0, "the unsubscription");
  });

  it("sends every viewer of a run the same stream", async () => {
    const before = service.viewers("live1");
    const viewers = [Viewer.connect("?run=live1"), Viewer.connect("?run=live1"), Viewer.connect("?run=live1")];
    await viewers[0]!.until(() => service.viewers("live1") === before + 3, "three subscriptions");
    service.emitRecords("live1", batch(100, 10), 100, 109);
    for (const v of viewers) {
      await v.until(() => v.frames.some((f) => f.kind === "binary"), "a batch");
      const b = v.frames.find((f) => f.kind === "binary");
      expect(b?.kind === "binary" && seqsOf(b.bytes)).toEqual(Array.from({ length: 10 }, (_, i) => 100 + i));
      v.ws.close();
      await v.closed;
    }
  });

  it("tells a viewer of a finished run its status and sends no records", async () => {
    const v = Viewer.connect("?run=done1");
    const status = await v.nextJson("status");
    expect(status.run.status).toBe("finished");
    expect(v.json[0]).toMatchObject({ type: "hello", run: { live: false } });
    v.ws.close();
  });

  it("answers an unknown run with an error frame and close code 4404", async () => {
    const v = Viewer.connect("?run=nosuch");
    const closed = await v.closed;
    expect(closed.code).toBe(WsClose.UnknownRun);
    expect(v.json).toEqual([{ type: "error", message: 'no run "nosuch"', status: 404 }]);
  });

  it("answers a missing run parameter with an error frame and close code 4400", async () => {
    const v = Viewer.connect("");
    expect((await v.closed).code).toBe(WsClose.BadRequest);
    expect(v.json[0]).toMatchObject({ type: "error", status: 400 });
  });

  it("refuses to upgrade anywhere but /ws, and for pages from other origins", async () => {
    const wrongPath = new WebSocket(`${server.url.replace("http", "ws")}/api/runs?run=live1`);
    const status = await new Promise<number>((resolve) => wrongPath.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0)));
    expect(status).toBe(404);
    const foreign = new WebSocket(`${server.url.replace("http", "ws")}/ws?run=live1`, { headers: { origin: "https://attacker.example" } });
    expect(await new Promise<number>((resolve) => foreign.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0)))).toBe(403);
    const own = Viewer.connect("?run=live1", { origin: server.url });
    await own.opened;
    own.ws.close();
  });
});

describe("controlling a run over its WebSocket", () => {
  it("acknowledges a control with the run and the message's id", async () => {
    const v = Viewer.connect("?run=live1");
    await v.nextJson("hello");
    v.send({ type: "control", action: "break", when: { reason: "KVM_EXIT_HLT", vcpu: 0 }, id: "b1" });
    const ack = await v.nextJson("ack");
    expect(ack).toMatchObject({ type: "ack", action: "break", id: "b1", run: { id: "live1" } });
    expect(service.controls.at(-1)).toEqual({ action: "break", when: { reason: 5, vcpu: 0 } });
    v.send({ type: "console", data: "hi\n", id: 2 });
    expect(await v.nextJson("ack")).toMatchObject({ action: "console", accepted: 3, id: 2 });
    expect(service.typed.at(-1)).toBe("hi\n");
    v.ws.close();
  });

  it("answers every bad message with an error frame and keeps the socket open", async () => {
    const v = Viewer.connect("?run=live1");
    await v.nextJson("hello");
    const bad: [unknown, RegExp][] = [
      ["{not json", /^malformed JSON: /],
      [{ type: "dance" }, /^bad message: type: must be one of "control", "console", got "dance"$/],
      [{ type: "control", action: "step", count: "many", id: 9 }, /^bad message: count: must be a whole number from 1 to 1000000, got "many"$/],
      [{ type: "console", data: "x", colour: "red" }, /^bad message: unknown field "colour"/],
      [[1, 2], /^bad message: must be a JSON object/],
    ];
    for (const [message, expected] of bad) {
      v.send(message);
      const err = await v.nextJson("error");
      expect(err.message).toMatch(expected);
      expect(err.status).toBe(400);
    }
    v.ws.send(Buffer.from([1, 2, 3]));
    expect((await v.nextJson("error")).message).toMatch(/binary messages are not understood/);
    v.send({ type: "control", action: "pause" });
    expect(await v.nextJson("ack")).toMatchObject({ action: "pause", run: { status: "paused" } });
    expect(v.ws.readyState).toBe(WebSocket.OPEN);
    v.ws.close();
  });

  it("answers a control of a finished run with an error frame carrying 409", async () => {
    const v = Viewer.connect("?run=done1");
    await v.nextJson("hello");
    v.send({ type: "control", action: "resume", id: "r" });
    expect(await v.nextJson("error")).toEqual({ type: "error", message: "run done1 is not live", status: 409, id: "r" });
    v.ws.close();
  });
});

describe("a client that sends what is refused", () => {
  const closedWithin = (v: Viewer, ms: number): Promise<number | "still open"> =>
    Promise.race([v.closed.then((c) => c.code), new Promise<"still open">((r) => setTimeout(() => r("still open"), ms))]);
  const errors = (v: Viewer): number => v.json.filter((m) => m.type === "error").length;

  it("is closed (4400) on a run socket after 20 refused messages in a row; an acknowledged one starts the count again", async () => {
    const v = Viewer.connect("?run=live1");
    await v.nextJson("hello");
    for (let i = 0; i < 19; i++) v.send("{not json");
    await v.until(() => errors(v) === 19, "19 refusals");
    v.send({ type: "control", action: "pause" });
    await v.nextJson("ack");
    for (let i = 0; i < 19; i++) v.send({ type: "dance" });
    await v.until(() => errors(v) === 38, "19 more refusals");
    expect(v.ws.readyState).toBe(WebSocket.OPEN);
    v.send({ type: "dance" });
    expect(await closedWithin(v, 5000)).toBe(WsClose.BadRequest);
    expect(errors(v)).toBe(39);
  });

  it("costs a flooding run socket 20 error frames, however much it sends", async () => {
    const v = Viewer.connect("?run=done1"); // every control of a finished run is refused (409)
    await v.nextJson("hello");
    for (let i = 0; i < 2000; i++) v.send({ type: "control", action: "resume", id: i });
    expect(await closedWithin(v, 5000)).toBe(WsClose.BadRequest);
    expect(errors(v)).toBe(20);
    expect(v.json.filter((m) => m.type === "error").every((m) => m.type === "error" && m.status === 409)).toBe(true);
  });

  it("is closed (4400) on a session socket at its first message, with one error frame", async () => {
    const ws = new WebSocket(`${server.url.replace("http", "ws")}/ws?session=K7QH2M`);
    const frames: { type: string; status?: number }[] = [];
    ws.on("message", (data) => frames.push(JSON.parse(String(data)) as { type: string }));
    const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
    await new Promise<void>((resolve) => ws.once("open", () => resolve()));
    for (let i = 0; i < 2000; i++) ws.send("x");
    const code = await Promise.race([closed, new Promise<"still open">((r) => setTimeout(() => r("still open"), 5000))]);
    expect(code).toBe(WsClose.BadRequest);
    expect(frames.map((f) => f.type)).toEqual(["session", "error"]);
    expect(frames[1]).toMatchObject({ status: 400, message: expect.stringMatching(/^a session socket only listens/) });
  });
});

describe("a slow viewer", () => {
  it("gets a skipped marker covering exactly what it missed, while a fast viewer of the same run gets everything", async () => {
    const fast = Viewer.connect("?run=busy1");
    const slow = Viewer.connect("?run=busy1");
    await fast.until(() => service.viewers("busy1") === 2, "both subscriptions");
    await slow.nextJson("hello");
    // The slow viewer stops reading its socket: TCP fills, then the server's send buffer grows.
    const slowSocket = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    slowSocket.pause();

    const PER_BATCH = 256; // 32 KiB
    const BATCHES = 768; // 24 MiB, far more than the kernel's buffers and the 1 MiB threshold
    const fastBatches = (): number => fast.frames.filter((f) => f.kind === "binary").length;
    let seq = 1;
    for (let b = 0; b < BATCHES; b++) {
      service.emitRecords("busy1", batch(seq, PER_BATCH), seq, seq + PER_BATCH - 1);
      seq += PER_BATCH;
      // Pace the run to the fast viewer (a few batches ahead at most), as a real one would be.
      if (b - fastBatches() > 4) await fast.until(() => b - fastBatches() <= 2, "the fast viewer");
    }
    const total = seq - 1;
    await fast.until(() => fastBatches() === BATCHES, "every batch at the fast viewer");
    const fastSeqs = fast.frames.flatMap((f) => (f.kind === "binary" ? seqsOf(f.bytes) : []));
    expect(fastSeqs).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(fast.json.some((m) => m.type === "skipped")).toBe(false);

    slowSocket.resume();
    // Every record either arrives or is named by a marker; the marker comes once the socket drained.
    const accounted = (): number =>
      slow.frames.reduce((n, f) => n + (f.kind === "binary" ? f.bytes.byteLength / RECORD_SIZE : f.msg.type === "skipped" ? f.msg.count : 0), 0);
    await slow.until(() => accounted() >= total, "the slow viewer to account for every record", 20_000);

    const seen = new Map<number, number>();
    let last = 0;
    let markers = 0;
    for (const f of slow.frames) {
      if (f.kind === "binary") {
        for (const s of seqsOf(f.bytes)) {
          expect(s).toBeGreaterThan(last); // in order, nothing twice
          last = s;
          seen.set(s, (seen.get(s) ?? 0) + 1);
        }
      } else if (f.msg.type === "skipped") {
        markers++;
        const { fromSeq, toSeq, count } = f.msg;
        expect(fromSeq).toBe(last + 1); // the gap starts right after what arrived
        expect(count).toBe(toSeq - fromSeq + 1);
        for (let s = fromSeq; s <= toSeq; s++) seen.set(s, (seen.get(s) ?? 0) + 1);
        last = toSeq;
      }
    }
    expect(markers).toBeGreaterThan(0);
    expect(seen.size).toBe(total);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect(last).toBe(total);

    // Caught up, it gets the live stream again.
    service.emitRecords("busy1", batch(total + 1, 3), total + 1, total + 3);
    await slow.until(() => slow.frames.at(-1)?.kind === "binary", "the next batch");
    const next = slow.frames.at(-1)!;
    expect(next.kind === "binary" && seqsOf(next.bytes)).toEqual([total + 1, total + 2, total + 3]);
    fast.ws.close();
    slow.ws.close();
  });

  it("gets a skipped frame spanning every record it missed when a later batch (another vCPU's) holds lower seqs", async () => {
    const slow = Viewer.connect("?run=smp1");
    await slow.nextJson("status");
    const slowSocket = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    slowSocket.pause();
    // vCPU 1's batches, until the viewer has long been dropping them ...
    const FROM = 100_000;
    let seq = FROM;
    for (let b = 0; b < 768; b++) {
      service.emitRecords("smp1", batch(seq, 256), seq, seq + 255);
      seq += 256;
      if (b % 8 === 0) await new Promise((r) => setImmediate(r));
    }
    // ... then vCPU 0's, drained after them, with lower seqs.
    service.emitRecords("smp1", batch(1000, 10), 1000, 1009);
    slowSocket.resume();
    await slow.until(() => slow.json.some((m) => m.type === "skipped"), "the skipped frame", 20_000);
    const markers = slow.json.flatMap((m) => (m.type === "skipped" ? [m] : []));
    expect(markers).toHaveLength(1);
    const received = slow.frames.reduce((n, f) => n + (f.kind === "binary" ? f.bytes.byteLength / RECORD_SIZE : 0), 0);
    expect(markers[0]).toEqual({ type: "skipped", fromSeq: 1000, toSeq: seq - 1, count: seq - FROM - received + 10 });
    slow.ws.close();
  });

  it("learns of a gap before it learns that the run has ended", async () => {
    const slow = Viewer.connect("?run=busy1");
    await slow.nextJson("status");
    const slowSocket = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    slowSocket.pause();
    for (let b = 0; b < 768; b++) {
      service.emitRecords("busy1", batch(1 + b * 256, 256), 1 + b * 256, 256 + b * 256);
      if (b % 8 === 0) await new Promise((r) => setImmediate(r));
    }
    service.emitStatus("busy1", { status: "finished", live: false });
    slowSocket.resume();
    await slow.until(() => slow.json.some((m) => m.type === "status" && m.run.status === "finished"), "the finished status", 20_000);
    const types = slow.json.map((m) => m.type);
    expect(types.indexOf("skipped")).toBeGreaterThan(-1);
    expect(types.lastIndexOf("skipped")).toBeLessThan(types.lastIndexOf("status"));
    slow.ws.close();
  });
});
