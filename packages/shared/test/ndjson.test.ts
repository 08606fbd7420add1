import { describe, expect, it } from "vitest";
import {
  decodeRecord, encodeRecord, KvmExit, NdjsonError, NdjsonWriter, parseNdjson, RECORD_FORMAT_VERSION, RECORD_SIZE, recordToJson, type TraceRecord,
  validateRecord,
} from "../src/index.js";
import { exit, ioctl, lost, marker, stats } from "./fixtures.js";

/** The NDJSON line a record becomes after a trip through the ring format. */
function line(rec: TraceRecord): string {
  const view = new DataView(new ArrayBuffer(RECORD_SIZE));
  encodeRecord(rec, view, 0);
  return JSON.stringify(recordToJson(decodeRecord(view, 0)));
}

describe("the NDJSON contract", () => {
  it("writes an IO exit with exactly the documented names, in order", () => {
    const rec = exit(KvmExit.IO, { seq: 7, ts: 1_000_000, io: { port: 0x3f8, size: 1, direction: "out", count: 1, data: [0x48] } });
    expect(line(rec)).toBe(
      '{"type":"exit","seq":7,"ts":1000000,"vcpu":0,"reason":"KVM_EXIT_IO","code":2,"rip":31749,"guestNs":6000,"handleNs":1500,' +
        '"ifFlag":true,"readyForInjection":false,"requestedWindow":false,' +
        '"io":{"port":1016,"size":1,"direction":"out","count":1,"data":[72]}}',
    );
  });

  it("adds dataLen and truncated to an IO exit whose data did not fit", () => {
    const rec = exit(KvmExit.IO, { seq: 8, io: { port: 0xe9, size: 1, direction: "out", count: 70, data: new Array(70).fill(0x2e) } });
    const io = JSON.parse(line(rec)).io;
    expect(Object.keys(io)).toEqual(["port", "size", "direction", "count", "data", "dataLen", "truncated"]);
    expect(io.data).toHaveLength(64);
    expect(io.dataLen).toBe(70);
    expect(io.truncated).toBe(true);
  });

  it("writes an MMIO exit with the first len bytes of data", () => {
    const rec = exit(KvmExit.MMIO, {
      seq: 9, ts: 2_500, vcpu: 1, rip: 0x1000, guestNs: 300, handleNs: 40, ifFlag: false,
      mmio: { addr: 0xd000_0000, len: 2, isWrite: false, data: [0x34, 0x12] },
    });
    expect(line(rec)).toBe(
      '{"type":"exit","seq":9,"ts":2500,"vcpu":1,"reason":"KVM_EXIT_MMIO","code":6,"rip":4096,"guestNs":300,"handleNs":40,' +
        '"ifFlag":false,"readyForInjection":false,"requestedWindow":false,' +
        '"mmio":{"addr":3489660928,"len":2,"isWrite":false,"data":[52,18]}}',
    );
  });

  it("writes an ioctl with named args, and a symbolic error only when it failed", () => {
    const ok = ioctl({ seq: 3, ts: 120, name: "KVM_IRQ_LINE", fd: 4, args: { irq: 4, level: 1 }, ret: 0, durNs: 800 });
    expect(line(ok)).toBe(
      '{"type":"ioctl","seq":3,"ts":120,"thread":"main","name":"KVM_IRQ_LINE","fd":4,"args":{"irq":4,"level":1},"ret":0,"errno":0,"durNs":800}',
    );
    const failed = ioctl({ seq: 4, ts: 130, name: "KVM_CREATE_VM", fd: 3, args: { type: 0 }, ret: -1, errno: 22, durNs: 900 });
    expect(line(failed)).toBe(
      '{"type":"ioctl","seq":4,"ts":130,"thread":"main","name":"KVM_CREATE_VM","fd":3,"args":{"type":0},"ret":-1,"errno":22,"durNs":900,"error":"EINVAL"}',
    );
    // An errno outside the static table has no "error".
    expect(JSON.parse(line(ioctl({ ret: -1, errno: 200 })))).not.toHaveProperty("error");
  });

  it("writes a marker, flagging one that was cut", () => {
    expect(line(marker({ seq: 5, ts: 77, thread: "vcpu0", text: "hello" }))).toBe(
      '{"type":"marker","seq":5,"ts":77,"thread":"vcpu0","text":"hello"}',
    );
    expect(JSON.parse(line(marker({ text: "x".repeat(200) })))).toMatchObject({ text: "x".repeat(94), truncated: true });
  });

  it("writes stats without the counters the kernel lacks, and lost counts", () => {
    expect(line(stats(2, 10, { exits: 5, halt_exits: 1 }))).toMatch(/"vcpu":2,"counters":\{"exits":5,"halt_exits":1\}\}$/);
    expect(line(lost({ seq: 6, ts: 11, thread: "main", count: 3 }))).toBe('{"type":"lost","seq":6,"ts":11,"thread":"main","count":3}');
  });

  it("decodes every kind straight into the contract shape, so no conversion is needed on the hot path", () => {
    const all: TraceRecord[] = [
      ioctl({ ret: -1, errno: 17 }), marker({ text: "y".repeat(120) }), stats(0, 1, { exits: 1, irq_exits: 2 }), lost(),
      exit(KvmExit.IO, { io: { port: 1, size: 1, direction: "in", count: 80, data: new Array(80).fill(7) } }),
      exit(KvmExit.MMIO, { mmio: { addr: 1, len: 1, isWrite: true, data: [1] } }),
      exit(KvmExit.INTERNAL_ERROR, { internal: { suberror: 3, suberrorName: "KVM_INTERNAL_ERROR_DELIVERY_EV", data: [1], insn: [] } }),
      exit(KvmExit.SYSTEM_EVENT, { systemEvent: { type: 1, typeName: "KVM_SYSTEM_EVENT_SHUTDOWN", data: 0 } }),
      exit(KvmExit.SHUTDOWN),
    ];
    for (const rec of all) {
      const view = new DataView(new ArrayBuffer(RECORD_SIZE));
      encodeRecord(rec, view, 0);
      const decoded = decodeRecord(view, 0);
      expect(JSON.stringify(decoded)).toBe(JSON.stringify(recordToJson(decoded)));
      expect(validateRecord(JSON.parse(JSON.stringify(decoded)))).toBeUndefined();
    }
  });

  it("drops properties that are not part of the contract", () => {
    const rec = { ...marker({ seq: 1, ts: 1 }), extra: 1 } as TraceRecord;
    expect(Object.keys(recordToJson(rec))).toEqual(["type", "seq", "ts", "thread", "text"]);
  });
});

describe("the NDJSON writer and parser", () => {
  const records: TraceRecord[] = [
    ioctl({ seq: 1, ts: 10 }),
    exit(KvmExit.IO, { seq: 2, ts: 20, io: { port: 0xe9, size: 1, direction: "out", count: 1, data: [65] } }),
    marker({ seq: 3, ts: 30 }),
    stats(0, 40, { exits: 9 }),
    exit(KvmExit.HLT, { seq: 4, ts: 50 }),
  ];

  function write(chunkChars?: number): { text: string; chunks: number } {
    const chunks: string[] = [];
    const w = new NdjsonWriter((c) => chunks.push(c), { type: "run", id: "r1", guest: "hello" }, chunkChars === undefined ? {} : { chunkChars });
    for (const r of records) w.write(r);
    w.end({ type: "end", outcome: "halted" });
    return { text: chunks.join(""), chunks: chunks.length };
  }

  it("writes the run line, the records, then the end line", () => {
    const lines = write().text.trimEnd().split("\n").map((l) => JSON.parse(l));
    expect(lines).toHaveLength(records.length + 2);
    // The writer adds the record format's version to the run line (record-layout.ts).
    expect(lines[0]).toEqual({ type: "run", id: "r1", guest: "hello", recordFormat: RECORD_FORMAT_VERSION });
    expect(lines.at(-1)).toEqual({ type: "end", outcome: "halted" });
    expect(lines.slice(1).map((l) => l.type)).toEqual(["ioctl", "exit", "marker", "stats", "exit", "end"]);
  });

  it("hands the sink chunks, not the whole run, and refuses records after the end", () => {
    const { text, chunks } = write(100);
    expect(chunks).toBeGreaterThan(3);
    expect(text).toBe(write().text);
    const w = new NdjsonWriter(() => {}, { type: "run" });
    w.end({ type: "end" });
    expect(() => w.write(records[0]!)).toThrow(/after end/);
  });

  it("parses what it wrote back into the same records", () => {
    const parsed = parseNdjson(write().text);
    expect(parsed.run).toEqual({ type: "run", id: "r1", guest: "hello", recordFormat: RECORD_FORMAT_VERSION });
    expect(parsed.end).toEqual({ type: "end", outcome: "halted" });
    expect(parsed.records).toEqual(records.map(recordToJson));
  });

  function badLine(text: string): number {
    try {
      parseNdjson(text);
    } catch (e) {
      expect(e).toBeInstanceOf(NdjsonError);
      return (e as NdjsonError).line;
    }
    throw new Error("parseNdjson accepted a bad file");
  }

  it("reports the first bad line: a reason that does not match its code", () => {
    const lines = write().text.split("\n");
    lines[2] = lines[2]!.replace('"reason":"KVM_EXIT_IO"', '"reason":"KVM_EXIT_MMIO"');
    lines[4] = "not json";
    expect(badLine(lines.join("\n"))).toBe(3);
  });

  it("reports a line that is not JSON, an IO exit without io, and a missing end line", () => {
    const lines = write().text.split("\n");
    expect(badLine([...lines.slice(0, 2), "{oops", ...lines.slice(2)].join("\n"))).toBe(3);
    const noIo = JSON.parse(lines[2]!);
    delete noIo.io;
    expect(badLine([lines[0], lines[1], JSON.stringify(noIo)].join("\n"))).toBe(3);
    expect(badLine(lines.slice(0, 4).join("\n"))).toBe(5);
    expect(badLine('{"type":"exit"}\n')).toBe(1);
  });

  it("explains why a value is not a record", () => {
    expect(validateRecord({ type: "lost", seq: 1, ts: 2, thread: "cpu0", count: 1 })).toMatch(/thread/);
    expect(validateRecord({ type: "ioctl", seq: 1, ts: 2, thread: "main", name: "KVM_IRQ_LINE", fd: 3, args: { irq: 1 }, ret: 0, errno: 0, durNs: 1 }))
      .toMatch(/irq, level/);
    expect(validateRecord(recordToJson(records[1]!))).toBeUndefined();
  });
});
