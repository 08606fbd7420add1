// The store keeps no state that is valid only while it is the one writer: two Store objects on
// the same SQLite file (as two service processes would be) append to one run and create runs in
// turn, and every reader sees one consistent run. Plus the pure chunk planner on its own.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { decodeBatch, encodeBatch, type TraceRecord } from "@kvmscope/shared";
import { CHUNK_RECORDS, planAppend, type ChunkRef } from "../src/store/chunks.js";
import { Store } from "../src/store/store.js";

const dirs: string[] = [];
const stores: Store[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function twoWriters(): Promise<[Store, Store]> {
  const dir = mkdtempSync(path.join(tmpdir(), "kvmscope-writers-"));
  dirs.push(dir);
  const a = await Store.open(dir);
  stores.push(a);
  const b = await Store.open(dir);
  stores.push(b);
  return [a, b];
}

function marks(from: number, to: number): TraceRecord[] {
  const out: TraceRecord[] = [];
  for (let seq = from; seq < to; seq++) out.push({ type: "marker", seq, ts: 1_000 + seq * 10, thread: "main", text: `m${seq}` } as TraceRecord);
  return out;
}

async function readAll(s: Store, runId: string): Promise<TraceRecord[]> {
  const out: TraceRecord[] = [];
  for (let from: number | null = 0; from !== null; ) {
    const page = await s.readRecords(runId, { fromSeq: from, limit: 3000 });
    out.push(...page.records);
    from = page.next;
  }
  return out;
}

describe("two writers on one database", () => {
  it("append to one run in turn (late records too) and both read the same whole run", async () => {
    const [a, b] = await twoWriters();
    const imageHash = await a.putImage(new Uint8Array([0xf4]));
    const { id } = await a.createRun({ guest: "hello", imageHash, config: {}, status: "running" });
    // Each writer's view of the run's end would be stale if it were kept in the process.
    await a.appendRecords(id, encodeBatch(marks(0, 100)));
    await b.appendRecords(id, encodeBatch(marks(100, 300)));
    await a.appendRecords(id, encodeBatch(marks(300, CHUNK_RECORDS + 500)));
    await b.appendRecords(id, encodeBatch([...marks(50, 51).map((r) => ({ ...r, text: "late" })), ...marks(CHUNK_RECORDS + 500, CHUNK_RECORDS + 900)]));
    await a.appendRecords(id, encodeBatch(marks(CHUNK_RECORDS + 900, 2 * CHUNK_RECORDS + 10)));

    const want = decodeBatch(encodeBatch([...marks(0, 51), ...marks(50, 51).map((r) => ({ ...r, text: "late" })), ...marks(51, 2 * CHUNK_RECORDS + 10)]));
    const fromA = await readAll(a, id);
    expect(fromA.map((r) => r.seq)).toEqual(want.map((r) => r.seq));
    expect(fromA).toEqual(want);
    expect(await readAll(b, id)).toEqual(want);
    const run = await b.getRun(id);
    expect(run?.recordCount).toBe(want.length);
    expect(run?.lastSeq).toBe(2 * CHUNK_RECORDS + 9);
  });

  it("create runs that list newest first in the order they were created, whichever writer made them", async () => {
    const [a, b] = await twoWriters();
    const imageHash = await a.putImage(new Uint8Array([0xf4]));
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push((await (i % 2 === 0 ? a : b).createRun({ guest: `g${i}`, imageHash, config: { i } })).id);
    const listed = (await b.listRuns({ limit: 50 })).runs;
    expect(listed.map((r) => r.id)).toEqual([...ids].reverse());
    const times = listed.map((r) => r.createdAt.getTime());
    for (let i = 1; i < times.length; i++) expect(times[i]).toBeLessThan(times[i - 1]!);
  });
});

describe("planAppend (no database)", () => {
  const batch = (from: number, to: number): Uint8Array => encodeBatch(marks(from, to));

  it("tops up a last chunk under half full, then cuts whole chunks", () => {
    const last: ChunkRef = { index: 3, firstSeq: 900, count: 100 };
    const plan = planAppend(batch(1000, 1000 + 3 * CHUNK_RECORDS), { lastSeq: 999, last }, () => [], "r");
    expect([...plan.rewrites.keys()]).toEqual([3]);
    const added = plan.rewrites.get(3)!.add.reduce((n, p) => n + p.byteLength / 128, 0);
    expect(added).toBe(CHUNK_RECORDS - 100);
    expect(plan.created.map((c) => c.byteLength / 128)).toEqual([CHUNK_RECORDS, CHUNK_RECORDS, 100]);
    expect(plan.lastSeq).toBe(1000 + 3 * CHUNK_RECORDS - 1);
  });

  it("sends late records to the chunk whose range holds them, and says so when none can", () => {
    const chunks: ChunkRef[] = [{ index: 0, firstSeq: 0, count: 3000 }, { index: 1, firstSeq: 3000, count: 3000 }];
    const plan = planAppend(encodeBatch([...marks(10, 11), ...marks(3005, 3006), ...marks(6000, 6002)]), { lastSeq: 5999, last: chunks[1]! }, () => chunks, "r");
    expect(plan.rewrites.get(0)!.add.length).toBe(1);
    expect(plan.rewrites.get(1)!.add.length).toBe(1);
    expect(plan.created.map((c) => c.byteLength / 128)).toEqual([2]);
    expect(() => planAppend(batch(5, 6), { lastSeq: 10, last: null }, () => [], "r9")).toThrow(/run r9: no chunk holds seq 10/);
  });
});
