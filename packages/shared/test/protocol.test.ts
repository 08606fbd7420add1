import { describe, expect, it } from "vitest";
import {
  AdvanceBody, CreateSessionBody, EndSessionBody, JOIN_CODE_ALPHABET, LeadBody, normalizeJoinCode, normalizeLeadCode, RevealBody, SessionServerMessage, type SessionInfo,
  check, ClientMessage, consoleBytes, ConsoleBody, ControlBody, CreateRunBody, ExportQuery, ListRunsQuery, MAX_CONSOLE_BYTES,
  PROTOCOL_VERSION, RecordsQuery, RunInfo, ServerMessage, type Checked,
} from "../src/index.js";

function message<T>(r: Checked<T>): string {
  if (r.ok) throw new Error(`expected a failure, got ${JSON.stringify(r.value)}`);
  return r.message;
}

const run: RunInfo = {
  id: "abc", createdAt: "2025-01-01T00:00:00.000Z", guest: "hello", imageHash: "f".repeat(64), imageBytes: 30,
  config: { vcpus: 1, memMiB: 16, irqchip: "user", mode: "step", timeoutSec: null, maxExits: null },
  status: "paused", outcome: null, totals: null, startedAt: null, endedAt: null, recordCount: 3, imported: false, live: true, session: null,
};

describe("a run request", () => {
  it("takes a guest name or a base64 image, and the machine's shape", () => {
    expect(check(CreateRunBody, { guest: "hello" })).toEqual({ ok: true, value: { guest: "hello" } });
    const full = { image: "kEH06Q==", vcpus: 64, memMiB: 3072, irqchip: "kernel", mode: "step", timeoutSec: 0.5, maxExits: 1 };
    expect(check(CreateRunBody, full)).toEqual({ ok: true, value: full });
  });

  it("asks for exactly one of guest and image", () => {
    expect(message(check(CreateRunBody, {}))).toMatch(/^give exactly one of "guest"/);
    expect(message(check(CreateRunBody, { guest: "hello", image: "AA==" }))).toMatch(/^give exactly one of "guest"/);
  });

  it("says which field is wrong, what it expected and what it got", () => {
    expect(message(check(CreateRunBody, { guest: "hello", vcpus: 0 }))).toBe("vcpus: must be a whole number from 1 to 64, got 0");
    expect(message(check(CreateRunBody, { guest: "hello", memMiB: 3073 }))).toBe("memMiB: must be a whole number from 1 to 3072, got 3073");
    expect(message(check(CreateRunBody, { guest: "hello", maxExits: 2.5 }))).toBe("maxExits: must be a whole number from 1 to 9007199254740991, got 2.5");
    expect(message(check(CreateRunBody, { guest: "hello", mode: "fast" }))).toBe('mode: must be one of "live", "step", got "fast"');
    expect(message(check(CreateRunBody, { guest: 7 }))).toBe("guest: must be a teaching guest's name, got 7");
    expect(message(check(CreateRunBody, { image: "abc" }))).toMatch(/^image: must be base64/);
    expect(message(check(CreateRunBody, { image: "" }))).toMatch(/^image: must not be empty/);
    expect(message(check(CreateRunBody, { guest: "hello", timeoutSec: 0 }))).toBe("timeoutSec: must be a number of seconds from 0.001 to 86400, got 0");
  });

  it("never echoes a long value back whole", () => {
    expect(message(check(CreateRunBody, { guest: "x".repeat(500) }))).toBe("guest: must be at most 64 characters");
    expect(message(check(CreateRunBody, { guest: "hello", vcpus: "y".repeat(500) }))).toBe("vcpus: must be a whole number from 1 to 64, got a string of 500 characters");
  });

  it("rejects unknown fields by name and lists the allowed ones", () => {
    expect(message(check(CreateRunBody, { guest: "hello", ram: 1, cpus: 2 }))).toBe(
      'unknown fields "ram", "cpus" (a run request takes "guest", "image", "vcpus", "memMiB", "irqchip", "mode", "timeoutSec", "maxExits")',
    );
  });

  it("must be an object", () => {
    expect(message(check(CreateRunBody, null))).toBe("a run request must be a JSON object, got null");
    expect(message(check(CreateRunBody, ["hello"]))).toBe("a run request must be a JSON object, got an array");
  });
});

describe("a control request", () => {
  it("is one of pause, resume, stop, step with a count, and break with a condition", () => {
    for (const body of [{ action: "pause" }, { action: "resume" }, { action: "stop" }, { action: "step" }, { action: "step", count: 1_000_000 }]) {
      expect(check(ControlBody, body)).toEqual({ ok: true, value: body });
    }
    const brk = { action: "break", when: { reason: "KVM_EXIT_MMIO", addr: 0xd0000000, direction: "write", vcpu: 3, port: 0 } };
    expect(check(ControlBody, brk)).toEqual({ ok: true, value: brk });
    expect(check(ControlBody, { action: "break", when: { reason: "KVM_EXIT_77" } }).ok).toBe(true);
  });

  it("names the allowed actions when the action is wrong or missing", () => {
    expect(message(check(ControlBody, { action: "rewind" }))).toBe('action: must be one of "pause", "resume", "stop", "step", "break", got "rewind"');
    expect(message(check(ControlBody, {}))).toBe('action: must be one of "pause", "resume", "stop", "step", "break", got nothing');
  });

  it("checks each action's own fields", () => {
    expect(message(check(ControlBody, { action: "step", count: 1_000_001 }))).toBe("count: must be a whole number from 1 to 1000000, got 1000001");
    expect(message(check(ControlBody, { action: "pause", count: 2 }))).toBe('unknown field "count" (a control request takes "action")');
    expect(message(check(ControlBody, { action: "break" }))).toBe("when: a breakpoint is required (a JSON object)");
    expect(message(check(ControlBody, { action: "break", when: {} }))).toMatch(/^when: give at least one of "reason", "port"/);
    expect(message(check(ControlBody, { action: "break", when: { reason: "IO", direction: "up" } }))).toBe(
      'when.reason: must be an exit reason name such as "KVM_EXIT_IO" or "KVM_EXIT_MMIO", got "IO"; when.direction: must be one of "in", "out", "read", "write", got "up"',
    );
  });
});

describe("console input", () => {
  it("is UTF-8 text or base64 bytes", () => {
    const text = check(ConsoleBody, { data: "é\n" });
    expect(text.ok && Array.from(consoleBytes(text.value))).toEqual([0xc3, 0xa9, 0x0a]);
    const b64 = check(ConsoleBody, { data: "AP8=", encoding: "base64" });
    expect(b64.ok && Array.from(consoleBytes(b64.value))).toEqual([0x00, 0xff]);
  });

  it("is at most 4096 bytes, counted after encoding, and never empty", () => {
    expect(check(ConsoleBody, { data: "x".repeat(MAX_CONSOLE_BYTES) }).ok).toBe(true);
    expect(message(check(ConsoleBody, { data: "é".repeat(2049) }))).toBe("data: must be at most 4096 bytes at a time");
    expect(message(check(ConsoleBody, { data: "A".repeat(5464), encoding: "base64" }))).toBe("data: must be at most 4096 bytes at a time");
    expect(message(check(ConsoleBody, { data: "" }))).toBe("data: must not be empty");
    expect(message(check(ConsoleBody, { data: "%%", encoding: "base64" }))).toMatch(/^data: must be base64/);
  });
});

describe("queries", () => {
  it("turn record query strings into numbers, with the default page of 1000", () => {
    expect(check(RecordsQuery, {})).toEqual({ ok: true, value: { limit: 1000, format: "json" } });
    expect(check(RecordsQuery, { fromSeq: "5", limit: "10000", vcpu: "3", reason: "KVM_EXIT_HLT", fromTs: "1.5", toTs: "99", format: "binary" })).toEqual({
      ok: true, value: { fromSeq: 5, limit: 10000, vcpu: 3, reason: "KVM_EXIT_HLT", fromTs: 1.5, toTs: 99, format: "binary" },
    });
  });

  it("refuse what is not a number, out of range, unknown or backwards", () => {
    expect(message(check(RecordsQuery, { limit: "0" }))).toBe("limit: must be a whole number from 1 to 10000, got 0");
    expect(message(check(RecordsQuery, { limit: "10001" }))).toBe("limit: must be a whole number from 1 to 10000, got 10001");
    expect(message(check(RecordsQuery, { fromSeq: "-1" }))).toBe('fromSeq: must be a whole number from 0 to 4294967295, got "-1"');
    expect(message(check(RecordsQuery, { fromTs: "soon" }))).toBe('fromTs: must be a number of nanoseconds (at least 0), got "soon"');
    expect(message(check(RecordsQuery, { fromTs: "9", toTs: "8" }))).toBe("fromTs must not be after toTs");
    expect(message(check(RecordsQuery, { seq: "1" }))).toMatch(/^unknown field "seq" \(the records query takes "fromSeq"/);
  });

  it("page runs 20 at a time by default and export NDJSON by default", () => {
    expect(check(ListRunsQuery, {})).toEqual({ ok: true, value: { limit: 20 } });
    expect(check(ListRunsQuery, { limit: "100", before: "abc" })).toEqual({ ok: true, value: { limit: 100, before: "abc" } });
    expect(check(ExportQuery, {})).toEqual({ ok: true, value: { format: "ndjson" } });
    expect(message(check(ExportQuery, { format: "csv" }))).toBe('format: must be one of "ndjson", "chrome", got "csv"');
  });
});

describe("WebSocket messages", () => {
  it("from a client are a control or console input, each with an optional id", () => {
    expect(check(ClientMessage, { type: "control", action: "step", count: 3, id: 1 })).toEqual({
      ok: true, value: { type: "control", action: "step", count: 3, id: 1 },
    });
    expect(check(ClientMessage, { type: "console", data: "ls\n" }).ok).toBe(true);
    expect(message(check(ClientMessage, { type: "shout" }))).toBe('type: must be one of "control", "console", got "shout"');
    expect(message(check(ClientMessage, { type: "control", action: "fly" }))).toMatch(/^action: must be one of "pause"/);
    expect(message(check(ClientMessage, { type: "console", data: "x", enc: "b" }))).toMatch(/^unknown field "enc"/);
    expect(message(check(ClientMessage, "pause"))).toBe('must be a JSON object, got "pause"');
  });

  it("from the server are hello, status, console, skipped, ack and error", () => {
    const frames = [
      { type: "hello", protocol: PROTOCOL_VERSION, run },
      { type: "status", run },
      { type: "console", data: "Hello\n" },
      { type: "skipped", fromSeq: 10, toSeq: 19, count: 10 },
      { type: "ack", action: "step", run, id: "s1" },
      { type: "ack", action: "console", run, accepted: 3 },
      { type: "error", message: "run x is not live", status: 409 },
    ];
    for (const f of frames) expect(ServerMessage.parse(f)).toEqual(f);
    expect(ServerMessage.safeParse({ type: "skipped", fromSeq: 1 }).success).toBe(false);
  });

  it("from the server may carry fields a client does not know yet", () => {
    expect(ServerMessage.parse({ type: "console", data: "x", channel: 2 })).toEqual({ type: "console", data: "x" });
  });
});

describe("class sessions", () => {
  it("read a join code as a student may type it: any case, with spaces or a dash", () => {
    expect(normalizeJoinCode("K7QH2M")).toBe("K7QH2M");
    expect(normalizeJoinCode(" k7q-h2m ")).toBe("K7QH2M");
    expect(normalizeJoinCode("k7q h2m")).toBe("K7QH2M");
  });

  it("refuse a join code of the wrong length or with letters a projector makes ambiguous", () => {
    for (const bad of ["", "K7QH2", "K7QH2MM", "K7QH2O", "K7QH20", "K7QH2I", "K7QH21", "K7QH2L", "K7QH2!", "K7QH2\u00c9"]) {
      expect(normalizeJoinCode(bad), bad).toBeUndefined();
    }
    expect(JOIN_CODE_ALPHABET).not.toMatch(/[0O1IL]/);
    expect(new Set(JOIN_CODE_ALPHABET).size).toBe(JOIN_CODE_ALPHABET.length);
  });

  it("check what a teacher sends, naming the field", () => {
    expect(check(CreateSessionBody, { walkthrough: "exit-loop" })).toEqual({ ok: true, value: { walkthrough: "exit-loop" } });
    expect(message(check(CreateSessionBody, { walkthrough: "../x" }))).toMatch(/^walkthrough: must be a walkthrough's id such as "exit-loop"/);
    expect(check(AdvanceBody, {})).toEqual({ ok: true, value: {} });
    expect(message(check(AdvanceBody, { to: 100 }))).toBe("to: must be a whole number from 0 to 99, got 100");
    expect(message(check(RevealBody, { step: -1 }))).toBe("step: must be a whole number from 0 to 99, got -1");
    expect(message(check(EndSessionBody, { reason: "done" }))).toBe('unknown field "reason" (an end request takes no fields)');
    expect(check(CreateSessionBody, { walkthrough: "exit-loop", peek: true })).toEqual({ ok: true, value: { walkthrough: "exit-loop", peek: true } });
    expect(message(check(CreateSessionBody, { walkthrough: "exit-loop", peek: 1 }))).toBe("peek: must be true or false, got 1");
    expect(message(check(LeadBody, {}))).toMatch(/^leadCode: must be the lead code the teacher's page shows/);
    expect(normalizeLeadCode(" abcd-efgh ")).toBe("ABCDEFGH");
    expect(normalizeLeadCode("ABCDEFG0")).toBeUndefined(); // 0 is not in the alphabet
  });

  it("parse the session frames the service sends, and its errors, on the session socket", () => {
    const session: SessionInfo = {
      code: "K7QH2M", walkthroughId: "exit-loop", status: "open", createdAt: "2025-01-01T00:00:00.000Z", updatedAt: "2025-01-01T00:00:01.000Z",
      step: 0, busy: false, reached: [{ stepIndex: 0, stepId: "loop", run: "main", runId: "abc", seq: 31 }], runs: { main: "abc", compare: null },
      revealed: [0], error: null, peek: false, answers: [{ step: 0, answer: { en: "Because", ja: "なぜなら" } }], idleEndSec: 1800,
    };
    expect(SessionServerMessage.parse({ type: "session", session })).toEqual({ type: "session", session });
    expect(SessionServerMessage.parse({ type: "error", message: "no class session with the join code K7QH2M", status: 404 }).type).toBe("error");
    expect(SessionServerMessage.safeParse({ type: "session", session: { ...session, busy: "no" } }).success).toBe(false);
  });
});
