// The store against a real SQLite file in a throwaway directory: migrations, images, runs, and
// trace records written as binary chunks and read back with the shared codec. No mocks.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { decodeBatch, encodeBatch, KvmExit, RECORD_SIZE, threadIndex, type ExitRecord, type TraceRecord } from "@kvmscope/shared";
import { CHUNK_RECORDS, DB_FILE, SCAN_BUDGET, Store } from "../src/store/store.js";
import { listMigrations, migrate } from "../src/store/migrate.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

const dirs: string[] = [];
const stores: Store[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), "kvmscope-store-"));
  dirs.push(d);
  return d;
}

async function openStore(dir = tempDir()): Promise<Store> {
  const s = await Store.open(dir);
  stores.push(s);
  return s;
}

async function closeStore(s: Store): Promise<void> {
  stores.splice(stores.indexOf(s), 1);
  await s.close();
}

/** A run ready to take records. */
async function newRun(s: Store, status: "created" | "running" | "paused" | "finished" = "running"): Promise<string> {
  const imageHash = await s.putImage(new TextEncoder().encode("\xf4 image"));
  return (await s.createRun({ guest: "hello", imageHash, config: { vcpus: 3, memMiB: 16, irqchip: "user", mode: "live" }, status })).id;
}

/**
 * A record of every kind, chosen by `seq`: IO exits mostly, as in a real run, from 3 vCPUs.
 * Self-contained (no imports used inside): the SIGKILL test's child process runs its source.
 */
function record(seq: number): TraceRecord {
  const IO = 2, HLT = 5, MMIO = 6; // KvmExit
  const vcpu = seq % 3;
  const ts = 5_000_000 + seq * 2_500 + (seq % 7) * 13;
  const exit = (code: number): ExitRecord => ({
    type: "exit", seq, ts, vcpu, reason: "", code, rip: 0x7c00 + (seq % 64), guestNs: 1_200 + (seq % 50), handleNs: 800 + (seq % 30),
    ifFlag: seq % 2 === 0, readyForInjection: seq % 4 === 0, requestedWindow: false,
  });
  switch (seq % 10) {
    case 0:
      return { type: "ioctl", seq, ts, thread: "main", name: "KVM_CHECK_EXTENSION", fd: 3, args: { cap: seq % 200 }, ret: 1, errno: 0, durNs: 500 };
    case 1:
      return { type: "marker", seq, ts, thread: `vcpu${vcpu}`, text: `step ${seq}` };
    case 2:
      return { ...exit(MMIO), mmio: { addr: 0xd0000000 + 4 * (seq % 4), len: 4, isWrite: seq % 4 === 2, data: [seq & 0xff, 1, 2, 3] } };
    case 3:
      return exit(HLT);
    case 4:
      return { type: "stats", seq, ts, vcpu, counters: { exits: seq, io_exits: seq >> 1 } };
    default:
      return { ...exit(IO), io: { port: 0x3f8, size: 1, direction: "out", count: 1, data: [seq & 0xff] } };
  }
}

function records(from: number, to: number): TraceRecord[] {
  const out: TraceRecord[] = [];
  for (let seq = from; seq < to; seq++) out.push(record(seq));
  return out;
}

/** What the store must give back for `recs`: the binary round trip through the shared codec. */
function expected(recs: TraceRecord[]): TraceRecord[] {
  return decodeBatch(encodeBatch(recs));
}

/** Every page of a query, following `next`. */
async function readAll(s: Store, runId: string, q: { limit: number; vcpu?: number; reason?: string; fromTs?: number; toTs?: number; fromSeq?: number }): Promise<{ records: TraceRecord[]; pages: number }> {
  const out: TraceRecord[] = [];
  let fromSeq: number | null = q.fromSeq ?? 0;
  let pages = 0;
  while (fromSeq !== null) {
    const page = await s.readRecords(runId, { ...q, fromSeq });
    expect(page.records.length).toBeLessThanOrEqual(q.limit);
    out.push(...page.records);
    fromSeq = page.next;
    if (++pages > 10_000) throw new Error("paging does not end");
  }
  return { records: out, pages };
}

function chunkRows(file: string, runId: string): { index: number; count: number; firstSeq: number; lastSeq: number }[] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(`SELECT "index", count, firstSeq, lastSeq FROM RecordChunk WHERE runId = ? ORDER BY "index"`).all(runId) as { index: number; count: number; firstSeq: number; lastSeq: number }[];
  } finally {
    db.close();
  }
}

/** Tables, columns, indexes and foreign keys of a database, ignoring how their SQL was spelled. */
function shapeOf(db: Database.Database): unknown {
  const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != '_prisma_migrations' ORDER BY name`).all() as { name: string }[];
  return tables.map(({ name }) => ({
    name,
    columns: db.pragma(`table_info("${name}")`),
    foreignKeys: db.pragma(`foreign_key_list("${name}")`),
    indexes: (db.pragma(`index_list("${name}")`) as { name: string; unique: number; origin: string; partial: number }[])
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((i) => ({ ...i, seq: undefined, columns: db.pragma(`index_info("${i.name}")`) })),
  }));
}

describe("opening the store", () => {
  it("creates the database file in the data directory and applies every migration", async () => {
    const dir = path.join(tempDir(), "nested", "data");
    const s = await openStore(dir);
    expect(s.file).toBe(path.join(dir, DB_FILE));
    expect(existsSync(s.file)).toBe(true);
    await closeStore(s);
    const db = new Database(path.join(dir, DB_FILE), { readonly: true });
    const rows = db.prepare(`SELECT migration_name, checksum, finished_at, applied_steps_count FROM _prisma_migrations ORDER BY migration_name`).all();
    const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all().map((r) => (r as { name: string }).name);
    const journal = db.pragma("journal_mode", { simple: true });
    db.close();
    const migrations = listMigrations();
    expect(migrations.length).toBeGreaterThan(0);
    expect(rows).toEqual(migrations.map((m) => ({ migration_name: m.name, checksum: m.checksum, finished_at: expect.any(String), applied_steps_count: 1 })));
    expect(tables).toEqual(expect.arrayContaining(["Image", "RecordChunk", "Run", "_prisma_migrations"]));
    expect(journal).toBe("wal");
  });

  it("reopening a migrated database applies nothing and keeps what it holds", async () => {
    const dir = tempDir();
    const s = await openStore(dir);
    const id = await newRun(s);
    await s.appendRecords(id, encodeBatch(records(0, 100)));
    await closeStore(s);
    expect(migrate(path.join(dir, DB_FILE))).toEqual([]);
    const again = await openStore(dir);
    expect((await again.getRun(id))?.recordCount).toBe(100);
    expect((await again.readRecords(id, { limit: 1000 })).records).toEqual(expected(records(0, 100)));
  });

  it("leaves a database that `prisma migrate status` reports up to date (same bookkeeping as migrate deploy)", async () => {
    const dir = tempDir();
    await closeStore(await openStore(dir));
    const r = spawnSync(process.execPath, [path.join(ROOT, "node_modules/prisma/build/index.js"), "migrate", "status"], {
      cwd: ROOT, encoding: "utf8", timeout: 60_000, env: { ...process.env, KVMSCOPE_DATA: dir, CHECKPOINT_DISABLE: "1", PRISMA_HIDE_UPDATE_MESSAGE: "1" },
    });
    expect(r.stdout + r.stderr).toContain("Database schema is up to date");
    expect(r.status).toBe(0);
  });

  it("has migrations that build exactly the tables prisma/schema.prisma describes (no forgotten migration)", async () => {
    const dir = tempDir();
    await closeStore(await openStore(path.join(dir, "migrated")));
    const sqlFile = path.join(dir, "from-schema.sql");
    const r = spawnSync(process.execPath, [path.join(ROOT, "node_modules/prisma/build/index.js"), "migrate", "diff", "--from-empty", "--to-schema-datamodel", "prisma/schema.prisma", "--script", "-o", sqlFile], {
      cwd: ROOT, encoding: "utf8", timeout: 60_000, env: { ...process.env, KVMSCOPE_DATA: dir, CHECKPOINT_DISABLE: "1", PRISMA_HIDE_UPDATE_MESSAGE: "1" },
    });
    expect(r.status, r.stderr).toBe(0);
    const fromSchema = new Database(":memory:");
    fromSchema.exec(readFileSync(sqlFile, "utf8"));
    const migrated = new Database(path.join(dir, "migrated", DB_FILE), { readonly: true });
    expect(shapeOf(migrated)).toEqual(shapeOf(fromSchema));
    migrated.close();
    fromSchema.close();
  });

  it("applies a later migration that redefines the Run table without cascading into its record chunks", async () => {
    const dir = tempDir();
    const s = await openStore(dir);
    const id = await newRun(s);
    await s.appendRecords(id, encodeBatch(records(0, 10_000)));
    await closeStore(s);
    // What `prisma migrate diff` writes for making Run.guest required: DROP TABLE "Run" would
    // delete every chunk (ON DELETE CASCADE) if foreign keys were enforced while it runs.
    const redefine = `-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Run" (
    "id" TEXT NOT NULL PRIMARY KEY, "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP, "updatedAt" DATETIME NOT NULL,
    "guest" TEXT NOT NULL DEFAULT '', "imageHash" TEXT NOT NULL, "config" TEXT NOT NULL, "status" TEXT NOT NULL DEFAULT 'created',
    "outcome" TEXT, "totals" TEXT, "startedAt" DATETIME, "endedAt" DATETIME, "recordCount" INTEGER NOT NULL DEFAULT 0,
    "lastSeq" INTEGER NOT NULL DEFAULT -1, "imported" BOOLEAN NOT NULL DEFAULT false,
    CONSTRAINT "Run_imageHash_fkey" FOREIGN KEY ("imageHash") REFERENCES "Image" ("hash") ON DELETE RESTRICT ON UPDATE CASCADE
);
INSERT INTO "new_Run" ("config", "createdAt", "endedAt", "guest", "id", "imageHash", "imported", "lastSeq", "outcome", "recordCount", "startedAt", "status", "totals", "updatedAt") SELECT "config", "createdAt", "endedAt", coalesce("guest", '') AS "guest", "id", "imageHash", "imported", "lastSeq", "outcome", "recordCount", "startedAt", "status", "totals", "updatedAt" FROM "Run";
DROP TABLE "Run";
ALTER TABLE "new_Run" RENAME TO "Run";
CREATE INDEX "Run_createdAt_id_idx" ON "Run"("createdAt", "id");
CREATE INDEX "Run_status_idx" ON "Run"("status");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
`;
    const file = path.join(dir, DB_FILE);
    const later = { name: "29991231000000_guest_required", sql: redefine, checksum: createHash("sha256").update(redefine).digest("hex") };
    expect(migrate(file, [...listMigrations(), later])).toEqual([later.name]);
    expect(chunkRows(file, id).reduce((n, c) => n + c.count, 0)).toBe(10_000);
    const again = await openStore(dir);
    expect((await readAll(again, id, { limit: 5000 })).records).toEqual(expected(records(0, 10_000)));
  });

  it("leaves nothing behind when a migration fails, and says which one", async () => {
    const dir = tempDir();
    await closeStore(await openStore(dir));
    const file = path.join(dir, DB_FILE);
    const bad = { name: "29991231000000_bad", sql: `CREATE TABLE "Half" ("a" INTEGER);\nSELECT nonsense FROM "Nowhere";`, checksum: "0" };
    expect(() => migrate(file, [...listMigrations(), bad])).toThrow(/29991231000000_bad failed/);
    const db = new Database(file, { readonly: true });
    expect(db.prepare(`SELECT name FROM sqlite_master WHERE name = 'Half'`).all()).toEqual([]);
    expect(db.prepare(`SELECT count(*) AS n FROM _prisma_migrations WHERE migration_name = ?`).get(bad.name)).toEqual({ n: 0 });
    db.close();
    await closeStore(await openStore(dir)); // and the store still opens
  });

  it("closes completely: a script whose last step is closing the store finishes it and exits 0", () => {
    const dir = tempDir();
    const storeJs = new URL("../dist/store/store.js", import.meta.url);
    const script = path.join(dir, "close.mjs");
    writeFileSync(script, `
      import { Store } from ${JSON.stringify(storeJs.href)};
      const store = await Store.open(${JSON.stringify(path.join(dir, "data"))});
      await store.putImage(new Uint8Array([1, 2, 3]));
      await store.close();
      console.log("closed");
    `);
    const r = spawnSync(process.execPath, [script], { encoding: "utf8", timeout: 30_000 });
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("closed\n");
    expect(r.status).toBe(0);
    expect(existsSync(path.join(dir, "data", `${DB_FILE}-wal`))).toBe(false); // checkpointed and removed on close
  });

  it("refuses to work once closed", async () => {
    const s = await openStore();
    await closeStore(s);
    await expect(s.getRun("x")).rejects.toThrow(/closed/);
    await expect(s.appendRecords("x", new Uint8Array(RECORD_SIZE))).rejects.toThrow(/closed/);
  });
});

describe("images", () => {
  it("are stored once by their sha256 and read back byte for byte", async () => {
    const s = await openStore();
    const bytes = Uint8Array.from({ length: 5000 }, (_, i) => (i * 7) & 0xff);
    const hash = await s.putImage(bytes);
    expect(hash).toBe(createHash("sha256").update(bytes).digest("hex"));
    expect(await s.putImage(Uint8Array.from(bytes))).toBe(hash);
    expect(await s.getImage(hash)).toEqual(bytes);
    const other = await s.putImage(new Uint8Array([1]));
    expect(other).not.toBe(hash);
    expect(await s.getImage("0".repeat(64))).toBeNull();
    const empty = await s.putImage(new Uint8Array(0)); // imported runs have no image
    expect(await s.getImage(empty)).toEqual(new Uint8Array(0));
    await closeStore(s);
    const db = new Database(s.file, { readonly: true });
    expect(db.prepare("SELECT count(*) AS n FROM Image").get()).toEqual({ n: 3 });
    db.close();
  });
});

describe("runs", () => {
  it("go from created to running to finished, keeping configuration, outcome and totals", async () => {
    const s = await openStore();
    const imageHash = await s.putImage(new Uint8Array([0xf4]));
    const config = { vcpus: 2, memMiB: 16, irqchip: "kernel", timeoutSec: 10, maxExits: null, mode: "step" };
    const run = await s.createRun({ guest: null, imageHash, config });
    expect(run).toMatchObject({ guest: null, imageHash, imageBytes: 1, config, status: "created", outcome: null, totals: null, startedAt: null, endedAt: null, recordCount: 0, lastSeq: -1, imported: false });
    expect(run.id).toMatch(/^[0-9a-z]{10}$/);
    const startedAt = new Date("2026-01-02T03:04:05.678Z");
    await s.updateRun(run.id, { status: "running", startedAt });
    expect(await s.getRun(run.id)).toMatchObject({ status: "running", startedAt });
    const outcome = { type: "end", outcome: "halted", message: "every vCPU halted", status: 0 };
    const totals = { records: 3, firstTs: 0, lastTs: 10, vcpus: [{ vcpu: 0, exits: 2 }] };
    const endedAt = new Date("2026-01-02T03:04:06.000Z");
    await s.updateRun(run.id, { status: "finished", outcome, totals, endedAt });
    const done = await s.getRun(run.id);
    expect(done).toMatchObject({ status: "finished", outcome, totals, startedAt, endedAt, config });
    expect(done!.updatedAt.getTime()).toBeGreaterThanOrEqual(done!.createdAt.getTime());
  });

  it("are refused with a clear error for an unknown image, and updates to an unknown run fail", async () => {
    const s = await openStore();
    await expect(s.createRun({ guest: "hello", imageHash: "ab".repeat(32), config: {} })).rejects.toThrow(/no image/);
    await expect(s.updateRun("nosuchrun0", { status: "running" })).rejects.toThrow(/no run nosuchrun0/);
    expect(await s.getRun("nosuchrun0")).toBeNull();
    await expect(s.appendRecords("nosuchrun0", encodeBatch(records(0, 1)))).rejects.toThrow(/no run nosuchrun0/);
  });

  it("are listed newest first, a page at a time", async () => {
    const s = await openStore();
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push(await newRun(s, "finished"));
    const newestFirst = [...ids].reverse();
    const p1 = await s.listRuns({ limit: 3 });
    const p2 = await s.listRuns({ limit: 3, before: p1.next! });
    const p3 = await s.listRuns({ limit: 3, before: p2.next! });
    expect([p1, p2, p3].map((p) => p.runs.map((r) => r.id))).toEqual([newestFirst.slice(0, 3), newestFirst.slice(3, 6), newestFirst.slice(6)]);
    expect(p3.next).toBeNull();
    expect((await s.listRuns({ limit: 7 })).next).toBeNull();
    expect((await s.listRuns({ limit: 100 })).runs.map((r) => r.id)).toEqual(newestFirst);
    await expect(s.listRuns({ limit: 3, before: "garbage!" })).rejects.toThrow(RangeError);
    await expect(s.listRuns({ limit: 0 })).rejects.toThrow(RangeError);
  });

  it("left live by a killed service are marked aborted at start, with their records kept; ended runs are left alone", async () => {
    const dir = tempDir();
    const s = await openStore(dir);
    const created = await newRun(s, "created");
    const running = await newRun(s, "running");
    const paused = await newRun(s, "paused");
    const finished = await newRun(s, "finished");
    await s.appendRecords(running, encodeBatch(records(0, 5000)));
    await s.appendRecords(finished, encodeBatch(records(0, 10)));
    await closeStore(s);
    const again = await openStore(dir);
    expect((await again.markLiveRunsAborted()).sort()).toEqual([created, running, paused].sort());
    for (const id of [created, running, paused]) expect((await again.getRun(id))?.status).toBe("aborted");
    expect((await again.getRun(finished))?.status).toBe("finished");
    expect((await again.getRun(running))?.recordCount).toBe(5000);
    expect((await readAll(again, running, { limit: 2000 })).records).toEqual(expected(records(0, 5000)));
    expect(await again.markLiveRunsAborted()).toEqual([]);
  });
});

describe("trace records", () => {
  it("read back equal to what was appended, through every chunk and batch boundary", async () => {
    const s = await openStore();
    const id = await newRun(s);
    const sizes = [1, 7, CHUNK_RECORDS - 8, CHUNK_RECORDS, 2 * CHUNK_RECORDS + 3, 500, 1];
    let seq = 0;
    for (const n of sizes) {
      await s.appendRecords(id, encodeBatch(records(seq, seq + n)));
      seq += n;
    }
    const all = expected(records(0, seq));
    const page = await s.readRecords(id, { limit: seq + 10 });
    expect(page.records).toEqual(all);
    expect(page.next).toBeNull();
    expect(await s.getRun(id)).toMatchObject({ recordCount: seq, lastSeq: seq - 1 });
    // Streaming gives the same records as binary, chunk by chunk.
    const parts: Uint8Array[] = [];
    for await (const bytes of s.streamRecords(id)) parts.push(bytes);
    expect(parts.length).toBe(chunkRows(s.file, id).length);
    expect(parts.flatMap((p) => decodeBatch(p))).toEqual(all);
    expect(Buffer.concat(parts).equals(encodeBatch(records(0, seq)))).toBe(true);
  });

  it("of a slow run that flushes a few at a time are packed into large chunks, not one per flush", async () => {
    const s = await openStore();
    const id = await newRun(s);
    for (let i = 0; i < 300; i++) await s.appendRecords(id, encodeBatch(records(i * 10, i * 10 + 10)));
    const chunks = chunkRows(s.file, id);
    expect(chunks.length).toBe(2); // 3000 records: one chunk topped up to 2048+, then the next
    expect(chunks.every((c, i) => i === chunks.length - 1 || c.count >= CHUNK_RECORDS / 2)).toBe(true);
    expect(chunks.reduce((n, c) => n + c.count, 0)).toBe(3000);
    expect((await readAll(s, id, { limit: 777 })).records).toEqual(expected(records(0, 3000)));
  });

  it("page with next so that every record is read exactly once, in seq order", async () => {
    const s = await openStore();
    const id = await newRun(s);
    for (let seq = 0; seq < 20_000; seq += 3_000) await s.appendRecords(id, encodeBatch(records(seq, Math.min(seq + 3_000, 20_000))));
    for (const limit of [1, 999, 4096, 10_000]) {
      const from = limit === 1 ? 19_990 : 0; // limit 1: only the last few, one page each
      const { records: got, pages } = await readAll(s, id, { limit, fromSeq: from });
      expect(got.map((r) => r.seq)).toEqual(Array.from({ length: 20_000 - from }, (_, i) => from + i));
      expect(pages).toBe(Math.ceil((20_000 - from) / limit)); // the page that reaches the last record says so
    }
    const middle = await s.readRecords(id, { fromSeq: 12_345, limit: 10 });
    expect(middle.records).toEqual(expected(records(12_345, 12_355)));
    expect(middle.next).toBe(12_355);
    expect(await s.readRecords(id, { fromSeq: 20_000, limit: 10 })).toEqual({ records: [], next: null });
    await expect(s.readRecords(id, { limit: 0 })).rejects.toThrow(RangeError);
  });

  it("that arrive out of order or late (below what is stored) are merged in seq order", async () => {
    const s = await openStore();
    const id = await newRun(s);
    const all = records(0, 12_000);
    const lateSeqs = new Set([0, 17, 4095, 4096, 8191, 9000, 11_998]);
    const first = all.filter((r) => !lateSeqs.has(r.seq) && r.seq < 11_000);
    // One batch out of order: the store sorts it.
    await s.appendRecords(id, encodeBatch([...first.slice(5000), ...first.slice(0, 5000)]));
    await s.appendRecords(id, encodeBatch(all.filter((r) => !lateSeqs.has(r.seq) && r.seq >= 11_000)));
    await s.appendRecords(id, encodeBatch(all.filter((r) => lateSeqs.has(r.seq))));
    expect(await s.getRun(id)).toMatchObject({ recordCount: 12_000, lastSeq: 11_999 });
    expect((await readAll(s, id, { limit: 1000 })).records).toEqual(expected(all));
    const chunks = chunkRows(s.file, id);
    for (let i = 1; i < chunks.length; i++) expect(chunks[i]!.firstSeq).toBeGreaterThan(chunks[i - 1]!.lastSeq);
  });

  it("filter by vcpu, exit reason and ts range, across pages", async () => {
    const s = await openStore();
    const id = await newRun(s);
    const all = expected(records(0, 30_000));
    for (let seq = 0; seq < 30_000; seq += 7_500) await s.appendRecords(id, encodeBatch(records(seq, seq + 7_500)));
    const vcpuOf = (r: TraceRecord): number | undefined => ("vcpu" in r ? r.vcpu : threadIndex(r.thread));
    const tsOf = (seq: number): number => all[seq]!.ts;
    const cases: [string, Parameters<typeof readAll>[2], (r: TraceRecord) => boolean][] = [
      ["vcpu 1", { limit: 500, vcpu: 1 }, (r) => vcpuOf(r) === 1],
      ["MMIO exits", { limit: 500, reason: "KVM_EXIT_MMIO" }, (r) => r.type === "exit" && r.code === KvmExit.MMIO],
      ["HLT exits, short name", { limit: 10_000, reason: "HLT" }, (r) => r.type === "exit" && r.code === KvmExit.HLT],
      ["a ts window", { limit: 333, fromTs: tsOf(9_000), toTs: tsOf(21_000) }, (r) => r.ts >= tsOf(9_000) && r.ts <= tsOf(21_000)],
      ["IO exits of vcpu 2 after a ts", { limit: 100, vcpu: 2, reason: "KVM_EXIT_IO", fromTs: tsOf(25_000) }, (r) => vcpuOf(r) === 2 && r.type === "exit" && r.code === KvmExit.IO && r.ts >= tsOf(25_000)],
      ["nothing (vcpu 9)", { limit: 100, vcpu: 9 }, () => false],
    ];
    for (const [, q, keep] of cases) {
      const want = all.filter(keep);
      const got = await readAll(s, id, q);
      expect(got.records).toEqual(want);
    }
    await expect(s.readRecords(id, { limit: 10, reason: "KVM_EXIT_NONSENSE" })).rejects.toThrow(/unknown exit reason/);
  });

  it("a sparse filter answers within its scan budget and says where to go on", async () => {
    const s = await openStore();
    const id = await newRun(s);
    const n = SCAN_BUDGET + 3 * CHUNK_RECORDS;
    for (let seq = 0; seq < n; seq += 50_000) await s.appendRecords(id, encodeBatch(records(seq, Math.min(seq + 50_000, n))));
    // Only the very last record matches.
    const last = n - 1;
    const first = await s.readRecords(id, { limit: 10, fromTs: record(last).ts });
    expect(first.records.map((r) => r.seq)).toEqual([last]); // pruned by the chunks' ts range: no budget spent
    const page = await s.readRecords(id, { limit: 10, reason: "KVM_EXIT_MMIO", vcpu: 0, fromSeq: 0, toTs: 0 });
    expect(page.records).toEqual([]);
    expect(page.next).toBeNull(); // no chunk starts at or before ts 0
    const sparse = await s.readRecords(id, { limit: 10, vcpu: 7 });
    expect(sparse.records).toEqual([]);
    expect(sparse.next).toBeGreaterThanOrEqual(SCAN_BUDGET); // scanned its budget, then gave a place to go on from
    expect((await readAll(s, id, { limit: 10, vcpu: 7 })).records).toEqual([]);
  });
});

describe("a service killed with SIGKILL in the middle of appending", () => {
  it("leaves a database that opens, with every committed chunk and the run marked aborted", async () => {
    const dir = tempDir();
    const storeJs = new URL("../dist/store/store.js", import.meta.url);
    if (!existsSync(storeJs)) throw new Error("apps/vmm/dist/store/store.js is missing: build first (npm run build)");
    const shared = new URL("../../../packages/shared/dist/index.js", import.meta.url).href;
    // The child appends batches of 4000 records (record(seq) below, the same as this file's),
    // printing each lastSeq once its append has committed, until it is killed.
    const child = path.join(dir, "child.mjs");
    writeFileSync(child, `
      import { Store } from ${JSON.stringify(storeJs.href)};
      import { encodeBatch } from ${JSON.stringify(shared)};
      const record = ${record.toString()};
      const store = await Store.open(${JSON.stringify(path.join(dir, "data"))});
      const imageHash = await store.putImage(new Uint8Array([1]));
      const run = await store.createRun({ guest: "pio-loop", imageHash, config: {}, status: "running" });
      process.stdout.write("run " + run.id + "\\n");
      for (let seq = 0; ; seq += 4000) {
        const batch = [];
        for (let i = seq; i < seq + 4000; i++) batch.push(record(i));
        await store.appendRecords(run.id, encodeBatch(batch));
        process.stdout.write("committed " + (seq + 3999) + "\\n");
      }
    `);
    const proc = spawn(process.execPath, [child], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    let runId = "";
    let committed = -1;
    let commits = 0;
    await new Promise<void>((resolve, reject) => {
      let buf = "";
      proc.on("exit", (code) => reject(new Error(`the child exited (${code}) before it was killed: ${stderr}`)));
      proc.stdout.on("data", (d: Buffer) => {
        buf += d.toString();
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.startsWith("run ")) runId = line.slice(4);
          if (line.startsWith("committed ")) {
            committed = Number(line.slice(10));
            // Kill at some point after the 20th commit: most likely inside the next append.
            if (++commits === 20) setTimeout(() => { proc.removeAllListeners("exit"); proc.kill("SIGKILL"); resolve(); }, Math.random() * 15);
          }
        }
      });
    });
    await new Promise((r) => proc.once("close", r));
    expect(proc.signalCode).toBe("SIGKILL");

    const s = await openStore(path.join(dir, "data"));
    expect(await s.markLiveRunsAborted()).toEqual([runId]);
    const run = await s.getRun(runId);
    expect(run?.status).toBe("aborted");
    // Everything reported committed is there; maybe one more batch that committed before the kill.
    expect(run!.recordCount).toBeGreaterThanOrEqual(committed + 1);
    expect(run!.recordCount % 4000).toBe(0);
    expect(run!.lastSeq).toBe(run!.recordCount - 1);
    const got = await readAll(s, runId, { limit: 20_000 });
    expect(got.records.length).toBe(run!.recordCount);
    expect(got.records).toEqual(expected(records(0, run!.recordCount)));
    // And the store goes on taking records for new runs.
    const next = await newRun(s);
    await s.appendRecords(next, encodeBatch(records(0, 10)));
    expect((await s.readRecords(next, { limit: 100 })).records).toEqual(expected(records(0, 10)));
  });
});
