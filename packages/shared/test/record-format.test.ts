// Kinds 1-5 stay bit-identical: fixtures written by the codec of record format 1 (before the record
// schema became data) must decode to the same objects, and those objects must encode back to the
// very same bytes. Stored runs and old exports depend on it.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  ChromeTraceWriter, EXIT, EXIT_IO, MARKER, NdjsonWriter, RECORD_SCHEMA, RECORD_SIZE, RunSummary, STAT_NAMES, type TraceRecord,
  checkSchema, decodeBatch, encodeBatch, parseNdjson,
} from "../src/index.js";

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url);
const bytes = new Uint8Array(readFileSync(fixture("records-v1.bin")));
const decoded = JSON.parse(readFileSync(fixture("records-v1.json"), "utf8")) as TraceRecord[];

describe("record format 1, pinned by fixtures", () => {
  it("holds every kind and every exit payload", () => {
    expect(bytes.length).toBe(decoded.length * RECORD_SIZE);
    expect(new Set(decoded.map((r) => r.type))).toEqual(new Set(["ioctl", "exit", "marker", "stats", "lost"]));
    const payloads = decoded.flatMap((r) => (r.type === "exit" ? Object.keys(r).filter((k) => ["io", "mmio", "internal", "failEntry", "systemEvent", "debug", "exception", "hypercall", "unknown"].includes(k)) : []));
    expect(new Set(payloads).size).toBe(9);
  });

  it("decodes the stored bytes to the stored objects", () => {
    expect(decodeBatch(bytes)).toEqual(decoded);
  });

  it("encodes the objects back to the same bytes, byte for byte", () => {
    const again = encodeBatch(decoded);
    // A truncated marker's textLen counts the whole label, which its object no longer holds (the
    // one field a decoded record cannot carry back, see codec.ts): every other byte must match.
    const lossy = (i: number) => (decoded[Math.floor(i / RECORD_SIZE)] as { truncated?: true }).truncated === true && i % RECORD_SIZE >= MARKER.textLen && i % RECORD_SIZE < MARKER.textLen + 2;
    const firstDiff = again.findIndex((b, i) => b !== bytes[i] && !lossy(i));
    expect(firstDiff === -1 ? "identical" : `record ${Math.floor(firstDiff / RECORD_SIZE)}, byte ${firstDiff % RECORD_SIZE}`).toBe("identical");
  });
});

describe("the record schema (record-layout.ts)", () => {
  it("keeps every field inside the record, aligned, and no two fields of one record overlapping", () => {
    expect(checkSchema()).toEqual([]);
  });

  it("finds an overlap and a misaligned field when there is one", () => {
    const broken = {
      ...RECORD_SCHEMA,
      exitPayloads: [{ code: 99, key: "bad", plain: true, fields: [{ name: "a", at: 48, type: "f64", doc: "" }, { name: "b", at: 52, type: "u32", doc: "" }, { name: "c", at: 61, type: "u16", doc: "" }] }],
    } as const;
    const problems = checkSchema(broken);
    expect(problems).toContain("exit.bad.a overlaps exit.bad.b");
    expect(problems).toContain("exit.bad.c at 61 is not aligned to 2");
  });

  it("is where the offset tables come from, and holds one value per statistic", () => {
    const exitKind = RECORD_SCHEMA.kinds.find((k) => k.type === "exit")!;
    expect(exitKind.fields.find((f) => f.name === "rip")?.at).toBe(EXIT.rip);
    expect(RECORD_SCHEMA.exitPayloads.find((p) => p.key === "io")?.fields.find((f) => f.name === "port")?.at).toBe(EXIT_IO.port);
    expect(RECORD_SCHEMA.kinds.find((k) => k.type === "stats")?.fields[0]?.count).toBe(STAT_NAMES.length);
  });
});

describe("a record of a kind this version does not know", () => {
  it("passes through the summary, the NDJSON writer and parser and the Chrome writer without an error", () => {
    const bytes = new Uint8Array(RECORD_SIZE);
    bytes[0] = 6; // the kind kept for register snapshots
    const [rec] = decodeBatch(bytes);
    expect(rec?.type).toBe("unknown");
    const summary = new RunSummary();
    summary.add(rec!);
    let text = "";
    const nd = new NdjsonWriter((c) => { text += c; }, { type: "run" });
    nd.write(rec!);
    nd.end({ type: "end" });
    expect(parseNdjson(text).records).toEqual([rec]);
    let chrome = "";
    const cw = new ChromeTraceWriter((c) => { chrome += c; }, { metadata: {} });
    cw.write(rec!);
    cw.end({ type: "end" });
    expect(() => JSON.parse(chrome)).not.toThrow();
  });
});
