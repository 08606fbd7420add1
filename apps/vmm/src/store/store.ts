// The service's storage: runs, uploaded guest images, and every trace record, in one SQLite file
// (`${dataDir}/kvmscope.db`, WAL mode). The service is the one writer; this class is the only thing
// it uses to reach the database.
//
// Two connections to the one file, both better-sqlite3:
// - Prisma Client over @prisma/adapter-better-sqlite3 for runs and image metadata (typed queries,
//   the schema in prisma/schema.prisma);
// - a plain better-sqlite3 connection for the BLOB columns (RecordChunk.data, Image.bytes) and the
//   chunk bookkeeping around them. Prisma 6's adapter turns every BLOB byte into a JS number on
//   the way out (Array.from) and base64 on the way in: reading four 55 KB chunks took 45 ms through
//   Prisma against 0.6 ms with prepared statements, which alone would miss the 50 ms page target.
// Every write, on either connection, goes through one queue (#write), so the two never write at
// once: no SQLITE_BUSY, no synchronous busy-wait on the main thread.
//
// What is stored where (the chunk layout, where an append puts each record, what a query wants)
// is chunks.ts, apart from SQLite. Nothing here depends on being the only writer: the order of
// runs (createdAt) and the end of a run's records (Run.lastSeq, the last RecordChunk) are read
// from the database in the transaction that changes them, and an append whose plan the database
// no longer matches (another writer got there first) is planned again.
//
// The main thread is not held for long: (de)compression runs on libuv's thread pool (async zlib),
// WAL checkpoints (and their fsync) on a worker (checkpointer.ts); an append's SQLite work is one
// synchronous transaction of plain inserts (about 1 ms per 4096-record chunk).
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { PrismaBetterSQLite3 } from "@prisma/adapter-better-sqlite3";
import Database from "better-sqlite3";
import { decodeRecord, RECORD_SIZE, type TraceRecord } from "@kvmscope/shared";
import { Prisma, PrismaClient } from "./generated/client.js";
import { Checkpointer } from "./checkpointer.js";
import { migrate } from "./migrate.js";
import {
  chunksWanted, compileQuery, compress, describe, firstAtOrAfter, inflate, mergeInto, planAppend, READ_GROUP, requireInt, SCAN_BUDGET, seqAt,
  sortedBySeq, viewOf, type ChunkRef, type RunTail,
} from "./chunks.js";
import {
  LIVE_STATUSES, type NewRun, type RecordPage, type RecordQuery, type RunPatch, type ServiceStore, type SessionPatch, type StoredReachedStep,
  type StoredRun, type StoredSession,
} from "./types.js";

export { CHUNK_RECORDS, SCAN_BUDGET } from "./chunks.js";
export type * from "./types.js";

/** The database file's name in the data directory. */
export const DB_FILE = "kvmscope.db";
/** An append planned against a tail the database no longer has is planned again, this many times at most. */
const APPEND_ATTEMPTS = 5;
/** Runs whose last chunk's records are kept uncompressed between appends (saves reading them back). */
const LAST_CHUNK_CACHE = 64;

type RunRow = Prisma.RunGetPayload<{ include: { image: { select: { size: true } } } }>;
const WITH_IMAGE_SIZE = { image: { select: { size: true } } } as const;

/** A run's last chunk as this process last wrote it; used only while the database still matches it. */
interface LastChunk {
  index: number;
  count: number;
  firstSeq: number;
  lastSeq: number;
  raw: Uint8Array;
}

/** Thrown inside an append's transaction when the database moved on since the append was planned. */
class TailMoved extends Error {}

export class Store implements ServiceStore {
  readonly file: string;
  readonly #prisma: PrismaClient;
  readonly #db: Database.Database;
  readonly #sql: ReturnType<typeof prepare>;
  #insertRun: ReturnType<typeof prepareInsertRun> | undefined;
  readonly #checkpointer: Checkpointer;
  /** Every write, on either connection, goes through this chain: one at a time. */
  #writes: Promise<unknown> = Promise.resolve();
  /** Appends to one run run one after another (each depends on where the previous one ended). */
  readonly #appends = new Map<string, Promise<unknown>>();
  /** A cache, checked against the database before use (see #append). */
  readonly #lastChunks = new Map<string, LastChunk>();
  #closed = false;

  private constructor(file: string, prisma: PrismaClient, db: Database.Database) {
    this.file = file;
    this.#prisma = prisma;
    this.#db = db;
    this.#sql = prepare(db);
    this.#checkpointer = new Checkpointer(file, (why) => {
      // Without the worker, SQLite checkpoints on commit again (on the main thread, but bounded).
      if (this.#closed) return;
      console.warn(`[store] WAL checkpoints are back on the main thread: ${why}`);
      db.pragma("wal_autocheckpoint = 1000");
      prisma.$queryRawUnsafe("PRAGMA wal_autocheckpoint = 1000").catch(() => {});
    });
  }

  /**
   * Opens (creating) `${dataDir}/kvmscope.db`, applies the pending migrations from
   * prisma/migrations in-process (see migrate.ts: same bookkeeping as `prisma migrate deploy`),
   * and returns a ready store.
   */
  static async open(dataDir: string): Promise<Store> {
    mkdirSync(dataDir, { recursive: true });
    const file = path.resolve(dataDir, DB_FILE);
    migrate(file);
    const prisma = new PrismaClient({ adapter: new PrismaBetterSQLite3({ url: `file:${file}`, timeout: 10_000 }) });
    let db: Database.Database | undefined;
    try {
      await prisma.$connect();
      // WAL (set by migrate, persistent in the file): with synchronous=NORMAL a commit survives
      // the process being killed (SIGKILL); a power cut can take the last commits back, never
      // corrupt the file.
      // Checkpoints run on a worker (checkpointer.ts), not inside our commits.
      await prisma.$executeRawUnsafe("PRAGMA synchronous = NORMAL");
      await prisma.$executeRawUnsafe("PRAGMA foreign_keys = ON");
      await prisma.$queryRawUnsafe("PRAGMA wal_autocheckpoint = 0");
      db = new Database(file, { timeout: 10_000 });
      db.pragma("synchronous = NORMAL");
      db.pragma("foreign_keys = ON");
      db.pragma("wal_autocheckpoint = 0");
      db.pragma("cache_size = -32768"); // 32 MiB of page cache for chunk reads
      return new Store(file, prisma, db);
    } catch (err) {
      db?.close();
      await prisma.$disconnect().catch(() => {});
      throw err;
    }
  }

  /** Waits for pending writes, then closes the database. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled([...this.#appends.values()]);
    await this.#writes.catch(() => {});
    await this.#checkpointer.close();
    await this.#prisma.$disconnect();
    this.#db.close(); // the last connection: checkpoints what is left and removes the WAL
  }

  // -------------------------------------------------------------------------------------------
  // Images

  /** Stores `bytes` once by content; returns the sha256 hex. Idempotent. */
  async putImage(bytes: Uint8Array): Promise<string> {
    this.#assertOpen();
    const hash = createHash("sha256").update(bytes).digest("hex");
    await this.#write(async () => {
      this.#sql.putImage.run(hash, bytes.byteLength, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), prismaTime(new Date()));
    });
    return hash;
  }

  async getImage(hash: string): Promise<Uint8Array | null> {
    this.#assertOpen();
    const row = this.#sql.getImage.get(hash);
    return row === undefined ? null : new Uint8Array(row.bytes.buffer, row.bytes.byteOffset, row.bytes.byteLength);
  }

  // -------------------------------------------------------------------------------------------
  // Runs

  /** `sessionCode`: the class session that owns the run (it must exist: createClassSession first). */
  async createRun(input: NewRun): Promise<StoredRun> {
    this.#assertOpen();
    const id = await this.#write(async () => {
      for (let attempt = 0; ; attempt++) {
        const id = newRunId();
        try {
          // createdAt is strictly increasing, so "newest first" is creation order even for runs
          // created within one millisecond: the newest is read and the run inserted in one
          // immediate (write-locked) transaction, whoever else writes to the file.
          this.#db.transaction(() => {
            const newest = this.#sql.newestRunCreatedAt.get();
            const ms = Math.max(Date.now(), newest === undefined ? 0 : Date.parse(newest.createdAt) + 1);
            const at = prismaTime(new Date(ms));
            this.#insertRun ??= prepareInsertRun(this.#db);
            this.#insertRun.run(id, at, at, input.guest, input.imageHash, JSON.stringify(input.config), input.status ?? "created", input.imported ? 1 : 0, input.sessionCode ?? null);
          }).immediate();
          return id;
        } catch (err) {
          if (sqliteCode(err) === "SQLITE_CONSTRAINT_PRIMARYKEY" && attempt < 3) continue; // an id collision: draw again
          if (sqliteCode(err) === "SQLITE_CONSTRAINT_FOREIGNKEY") {
            throw new Error(`no image ${input.imageHash}${input.sessionCode ? ` or class session ${input.sessionCode}` : ""} in the store: putImage() (createClassSession()) it first`, { cause: err });
          }
          throw err;
        }
      }
    });
    const run = await this.getRun(id);
    if (run === null) throw new Error(`run ${id} vanished as it was created`);
    return run;
  }

  async updateRun(id: string, patch: RunPatch): Promise<void> {
    this.#assertOpen();
    const data: Prisma.RunUpdateInput = {};
    if (patch.status !== undefined) data.status = patch.status;
    if (patch.outcome !== undefined) data.outcome = patch.outcome === null ? null : JSON.stringify(patch.outcome);
    if (patch.totals !== undefined) data.totals = patch.totals === null ? null : JSON.stringify(patch.totals);
    if (patch.startedAt !== undefined) data.startedAt = patch.startedAt;
    if (patch.endedAt !== undefined) data.endedAt = patch.endedAt;
    await this.#write(async () => {
      try {
        await this.#prisma.run.update({ where: { id }, data });
      } catch (err) {
        if (isKnown(err, "P2025")) throw new Error(`no run ${id} in the store`, { cause: err });
        throw err;
      }
    });
  }

  async getRun(id: string): Promise<StoredRun | null> {
    this.#assertOpen();
    const row = await this.#prisma.run.findUnique({ where: { id }, include: WITH_IMAGE_SIZE });
    return row === null ? null : toStoredRun(row);
  }

  /** Newest first. `before` is the `next` of the previous page (opaque). */
  async listRuns(opts: { limit: number; before?: string }): Promise<{ runs: StoredRun[]; next: string | null }> {
    this.#assertOpen();
    requireInt("limit", opts.limit, 1);
    let where: Prisma.RunWhereInput = {};
    if (opts.before !== undefined) {
      const c = parseCursor(opts.before);
      where = { OR: [{ createdAt: { lt: c.createdAt } }, { createdAt: c.createdAt, id: { lt: c.id } }] };
    }
    const rows = await this.#prisma.run.findMany({
      where,
      orderBy: [{ createdAt: "desc" }, { id: "desc" }],
      take: opts.limit + 1,
      include: WITH_IMAGE_SIZE,
    });
    const more = rows.length > opts.limit;
    const runs = rows.slice(0, opts.limit).map(toStoredRun);
    const last = runs[runs.length - 1];
    return { runs, next: more && last !== undefined ? makeCursor(last) : null };
  }

  /** At service start: runs a killed service left created/running/paused become aborted (their records stay). Returns their ids. */
  async markLiveRunsAborted(): Promise<string[]> {
    this.#assertOpen();
    return this.#write(async () => {
      const live = await this.#prisma.run.findMany({ where: { status: { in: LIVE_STATUSES } }, select: { id: true }, orderBy: { createdAt: "asc" } });
      const ids = live.map((r) => r.id);
      if (ids.length > 0) await this.#prisma.run.updateMany({ where: { id: { in: ids }, status: { in: LIVE_STATUSES } }, data: { status: "aborted" } });
      return ids;
    });
  }

  // -------------------------------------------------------------------------------------------
  // Class sessions

  /** A new open session; null when `code` is already taken (draw another). */
  async createClassSession(input: { code: string; walkthroughId: string; tokenHash: string }): Promise<StoredSession | null> {
    this.#assertOpen();
    return this.#write(async () => {
      try {
        return toStoredSession(await this.#prisma.classSession.create({ data: { code: input.code, walkthroughId: input.walkthroughId, tokenHash: input.tokenHash } }));
      } catch (err) {
        if (isKnown(err, "P2002")) return null;
        throw err;
      }
    });
  }

  async getClassSession(code: string): Promise<StoredSession | null> {
    this.#assertOpen();
    const row = await this.#prisma.classSession.findUnique({ where: { code } });
    return row === null ? null : toStoredSession(row);
  }

  /** Writes the fields given; returns the session as stored now (its new updatedAt). */
  async updateClassSession(code: string, patch: SessionPatch): Promise<StoredSession> {
    this.#assertOpen();
    const data: Prisma.ClassSessionUpdateInput = {};
    if (patch.status !== undefined) data.status = patch.status;
    if (patch.stepIndex !== undefined) data.stepIndex = patch.stepIndex;
    if (patch.reached !== undefined) data.reachedJson = JSON.stringify(patch.reached);
    if (patch.revealed !== undefined) data.revealedJson = JSON.stringify(patch.revealed);
    if (patch.mainRunId !== undefined) data.mainRunId = patch.mainRunId;
    if (patch.compareRunId !== undefined) data.compareRunId = patch.compareRunId;
    if (patch.error !== undefined) data.error = patch.error;
    return this.#write(async () => {
      try {
        return toStoredSession(await this.#prisma.classSession.update({ where: { code }, data }));
      } catch (err) {
        if (isKnown(err, "P2025")) throw new Error(`no class session ${code} in the store`, { cause: err });
        throw err;
      }
    });
  }

  /** For a session whose first run could not be created: as if it had never been. */
  async deleteClassSession(code: string): Promise<void> {
    this.#assertOpen();
    await this.#write(async () => {
      await this.#prisma.classSession.deleteMany({ where: { code } });
    });
  }

  /**
   * At service start (and shutdown): sessions still open end, since the runs they led are gone
   * (aborted or stopped). Their progress stays readable. Returns their codes.
   */
  async endOpenClassSessions(): Promise<string[]> {
    this.#assertOpen();
    return this.#write(async () => {
      const open = await this.#prisma.classSession.findMany({ where: { status: "open" }, select: { code: true }, orderBy: { createdAt: "asc" } });
      const codes = open.map((r) => r.code);
      if (codes.length > 0) await this.#prisma.classSession.updateMany({ where: { code: { in: codes }, status: "open" }, data: { status: "ended" } });
      return codes;
    });
  }

  // -------------------------------------------------------------------------------------------
  // Records

  /**
   * Appends `records` (n * RECORD_SIZE bytes, the binary layout; expected in seq order, sorted here
   * if not) as chunks of at most CHUNK_RECORDS, in one transaction. Appends to one run apply in
   * call order. Compression runs off the main thread.
   */
  appendRecords(runId: string, records: Uint8Array): Promise<void> {
    if (records.byteLength % RECORD_SIZE !== 0) {
      return Promise.reject(new RangeError(`records are whole ${RECORD_SIZE}-byte records; got ${records.byteLength} bytes`));
    }
    if (this.#closed) return Promise.reject(new Error(`the store ${this.file} is closed`));
    if (records.byteLength === 0) return Promise.resolve();
    const previous = this.#appends.get(runId) ?? Promise.resolve();
    const job = previous.then(() => this.#append(runId, records));
    const settled = job.catch(() => {});
    this.#appends.set(runId, settled);
    void settled.then(() => {
      if (this.#appends.get(runId) === settled) this.#appends.delete(runId);
    });
    return job;
  }

  async #append(runId: string, input: Uint8Array): Promise<void> {
    const records = sortedBySeq(input);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#appendOnce(runId, records);
      } catch (err) {
        this.#lastChunks.delete(runId); // read it back next time
        if (!(err instanceof TailMoved) || attempt === APPEND_ATTEMPTS) throw err;
      }
    }
  }

  /** Plans against the tail the database has now, compresses, and commits if the tail is still the same. */
  async #appendOnce(runId: string, records: Uint8Array): Promise<void> {
    const sql = this.#sql;
    const tail = this.#readTail(runId);
    const plan = planAppend(records, tail, (seq) => sql.chunksFromSeq.all(runId, seq), runId);
    const cached = this.#lastChunks.get(runId);
    const usable = cached !== undefined && tail.last !== null && cached.index === tail.last.index && cached.count === tail.last.count
      && cached.firstSeq === tail.last.firstSeq && cached.lastSeq === tail.lastSeq;

    // The new contents, compressed on the thread pool.
    const updated: { index: number; count: number; raw: Uint8Array }[] = [];
    for (const [index, r] of plan.rewrites) {
      const raw = usable && index === cached.index ? cached.raw : await this.#inflateChunk(runId, index);
      updated.push({ index, count: r.count, raw: mergeInto(raw, r.add) });
    }
    const packed = await Promise.all([...updated.map((u) => u.raw), ...plan.created].map(compress));
    const nextIndex = tail.last === null ? 0 : tail.last.index + 1;

    await this.#write(async () => {
      this.#db.transaction(() => {
        // Every row changes only if it is still what the plan saw: otherwise someone else wrote
        // to this run meanwhile, and the append is planned again.
        const bumped = sql.bumpRun.run(records.byteLength / RECORD_SIZE, plan.lastSeq, prismaTime(new Date()), runId, tail.lastSeq).changes;
        if (bumped !== 1) {
          if (sql.runLastSeq.get(runId) === undefined) throw new Error(`no run ${runId} in the store`);
          throw new TailMoved();
        }
        updated.forEach((u, i) => {
          const d = describe(u.raw);
          if (sql.updateChunk.run(d.firstSeq, d.lastSeq, d.firstTs, d.lastTs, d.count, packed[i]!, runId, u.index, u.count).changes !== 1) throw new TailMoved();
        });
        plan.created.forEach((raw, i) => {
          const d = describe(raw);
          sql.insertChunk.run(runId, nextIndex + i, d.firstSeq, d.lastSeq, d.firstTs, d.lastTs, d.count, packed[updated.length + i]!);
        });
      }).immediate();
    });

    // The last chunk's records, kept for the next append. (A copy of a new chunk: it is a view of
    // the caller's buffer, or of a whole sorted batch.)
    const lastIndex = nextIndex + plan.created.length - 1;
    const lastRaw = plan.created.length > 0 ? plan.created[plan.created.length - 1]!.slice() : updated.find((u) => u.index === tail.last?.index)?.raw;
    if (lastRaw !== undefined) {
      const view = viewOf(lastRaw);
      const count = lastRaw.byteLength / RECORD_SIZE;
      this.#lastChunks.delete(runId);
      this.#lastChunks.set(runId, { index: lastIndex, count, firstSeq: seqAt(view, 0), lastSeq: seqAt(view, count - 1), raw: lastRaw });
      if (this.#lastChunks.size > LAST_CHUNK_CACHE) this.#lastChunks.delete(this.#lastChunks.keys().next().value!);
    }
  }

  /** Where the run's records end, as the database has it now. */
  #readTail(runId: string): RunTail {
    const run = this.#sql.runLastSeq.get(runId);
    if (run === undefined) throw new Error(`no run ${runId} in the store`);
    return { lastSeq: run.lastSeq, last: this.#sql.lastChunk.get(runId) ?? null };
  }

  #inflateChunk(runId: string, index: number): Promise<Uint8Array> {
    const row = this.#sql.chunkData.get(runId, index);
    if (row === undefined) return Promise.reject(new Error(`run ${runId}: record chunk ${index} vanished`));
    return inflate(row.data, row.count);
  }

  /** A page of records in seq order, filtered, decoded with the shared codec. */
  async readRecords(runId: string, q: RecordQuery): Promise<RecordPage> {
    this.#assertOpen();
    const f = compileQuery(q);
    const { fromSeq, filtered } = f;
    const wanted = chunksWanted(f);
    const metas = this.#sql.chunksForRead.all(runId, fromSeq, q.fromTs ?? -Number.MAX_VALUE, q.toTs ?? Number.MAX_VALUE, wanted + 1);
    const moreChunks = metas.length > wanted;
    if (moreChunks) metas.pop();

    const records: TraceRecord[] = [];
    let scanned = 0;
    let lastLooked = -1; // seq of the last record looked at
    for (let g = 0; g < metas.length; ) {
      // The next few chunks, inflated together (in parallel): as many as can still be needed, going
      // by the share of records that matched so far (all, to begin with).
      const share = scanned === 0 ? 1 : Math.max(records.length / scanned, 1 / 64);
      let end = g + 1;
      for (let have = metas[g]!.count; end < metas.length && end - g < READ_GROUP && have * share < q.limit - records.length; end++) have += metas[end]!.count;
      const raws = await Promise.all(metas.slice(g, end).map((m) => {
        const row = this.#sql.chunkDataById.get(m.id);
        if (row === undefined) throw new Error(`run ${runId}: a record chunk vanished while being read`);
        return inflate(row.data, m.count);
      }));
      for (let j = 0; j < raws.length; j++) {
        const raw = raws[j]!;
        const lastChunk = g + j === metas.length - 1 && !moreChunks;
        const view = viewOf(raw);
        const n = raw.byteLength / RECORD_SIZE;
        for (let i = firstAtOrAfter(view, n, fromSeq); i < n; i++) {
          const o = i * RECORD_SIZE;
          lastLooked = seqAt(view, i);
          scanned++;
          if (filtered && !f.matches(view, o)) continue;
          records.push(decodeRecord(view, o));
          if (records.length === q.limit) return { records, next: lastChunk && i === n - 1 ? null : lastLooked + 1 };
        }
        if (filtered && scanned >= SCAN_BUDGET) return { records, next: lastChunk ? null : lastLooked + 1 };
      }
      g = end;
    }
    return { records, next: moreChunks ? lastLooked + 1 : null };
  }

  /** Every record of a run in seq order, one chunk (binary, uncompressed) at a time. */
  async *streamRecords(runId: string): AsyncIterable<Uint8Array> {
    this.#assertOpen();
    let nextIndex = 0;
    for (;;) {
      const rows = this.#sql.chunksFromIndex.all(runId, nextIndex, READ_GROUP);
      if (rows.length === 0) return;
      const raws = await Promise.all(rows.map((r) => inflate(r.data, r.count)));
      for (const raw of raws) yield new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
      nextIndex = rows[rows.length - 1]!.index + 1;
      if (this.#closed) return;
    }
  }

  // -------------------------------------------------------------------------------------------

  #assertOpen(): void {
    // (Prisma would silently reconnect.)
    if (this.#closed) throw new Error(`the store ${this.file} is closed`);
  }

  #write<T>(fn: () => Promise<T>): Promise<T> {
    const job = this.#writes.then(fn);
    this.#writes = job.then(
      () => this.#checkpointer.request(),
      () => {},
    );
    return job;
  }
}

// ---------------------------------------------------------------------------------------------
// The statements of the plain connection (table and column names as prisma/schema.prisma has them)

/** Prepared when first used: a database migrated to some other Run table can still be read. */
function prepareInsertRun(db: Database.Database) {
  return db.prepare<[string, string, string, string | null, string, string, string, number, string | null]>(
    `INSERT INTO "Run" ("id", "createdAt", "updatedAt", "guest", "imageHash", "config", "status", "imported", "sessionCode") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
}

function prepare(db: Database.Database) {
  return {
    putImage: db.prepare<[string, number, Buffer, string]>(`INSERT OR IGNORE INTO "Image" ("hash", "size", "bytes", "createdAt") VALUES (?, ?, ?, ?)`),
    getImage: db.prepare<[string], { bytes: Buffer }>(`SELECT "bytes" FROM "Image" WHERE "hash" = ?`),
    newestRunCreatedAt: db.prepare<[], { createdAt: string }>(`SELECT "createdAt" FROM "Run" ORDER BY "createdAt" DESC LIMIT 1`),
    runLastSeq: db.prepare<[string], { lastSeq: number }>(`SELECT "lastSeq" FROM "Run" WHERE "id" = ?`),
    /** Only if the run's lastSeq is still the one the append was planned against. */
    bumpRun: db.prepare<[number, number, string, string, number]>(`UPDATE "Run" SET "recordCount" = "recordCount" + ?, "lastSeq" = ?, "updatedAt" = ? WHERE "id" = ? AND "lastSeq" = ?`),
    lastChunk: db.prepare<[string], ChunkRef>(`SELECT "index", "firstSeq", "count" FROM "RecordChunk" WHERE "runId" = ? ORDER BY "index" DESC LIMIT 1`),
    chunksFromSeq: db.prepare<[string, number], ChunkRef>(
      `SELECT "index", "firstSeq", "count" FROM "RecordChunk" WHERE "runId" = ? AND "lastSeq" >= ? ORDER BY "index"`,
    ),
    chunkData: db.prepare<[string, number], { count: number; data: Buffer }>(`SELECT "count", "data" FROM "RecordChunk" WHERE "runId" = ? AND "index" = ?`),
    chunkDataById: db.prepare<[number], { data: Buffer }>(`SELECT "data" FROM "RecordChunk" WHERE "id" = ?`),
    insertChunk: db.prepare<[string, number, number, number, number, number, number, Buffer]>(
      `INSERT INTO "RecordChunk" ("runId", "index", "firstSeq", "lastSeq", "firstTs", "lastTs", "count", "data") VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    /** Only if the chunk still holds the count of records the append was planned against. */
    updateChunk: db.prepare<[number, number, number, number, number, Buffer, string, number, number]>(
      `UPDATE "RecordChunk" SET "firstSeq" = ?, "lastSeq" = ?, "firstTs" = ?, "lastTs" = ?, "count" = ?, "data" = ? WHERE "runId" = ? AND "index" = ? AND "count" = ?`,
    ),
    chunksForRead: db.prepare<[string, number, number, number, number], { id: number; count: number }>(
      `SELECT "id", "count" FROM "RecordChunk" WHERE "runId" = ? AND "lastSeq" >= ? AND "lastTs" >= ? AND "firstTs" <= ? ORDER BY "index" LIMIT ?`,
    ),
    chunksFromIndex: db.prepare<[string, number, number], { index: number; count: number; data: Buffer }>(
      `SELECT "index", "count", "data" FROM "RecordChunk" WHERE "runId" = ? AND "index" >= ? ORDER BY "index" LIMIT ?`,
    ),
  };
}

/** DateTime as Prisma's SQLite adapter writes it (iso8601, "+00:00"), so Prisma reads ours back. */
function prismaTime(d: Date): string {
  return d.toISOString().replace("Z", "+00:00");
}

// ---------------------------------------------------------------------------------------------
// Helpers

function toStoredRun(row: RunRow): StoredRun {
  return {
    id: row.id,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    guest: row.guest,
    imageHash: row.imageHash,
    imageBytes: row.image.size,
    config: JSON.parse(row.config) as Record<string, unknown>,
    status: row.status,
    outcome: row.outcome === null ? null : (JSON.parse(row.outcome) as Record<string, unknown>),
    totals: row.totals === null ? null : (JSON.parse(row.totals) as Record<string, unknown>),
    startedAt: row.startedAt,
    endedAt: row.endedAt,
    recordCount: row.recordCount,
    lastSeq: row.lastSeq,
    imported: row.imported,
    sessionCode: row.sessionCode,
  };
}

function toStoredSession(row: Prisma.ClassSessionGetPayload<object>): StoredSession {
  return {
    code: row.code,
    walkthroughId: row.walkthroughId,
    tokenHash: row.tokenHash,
    status: row.status,
    stepIndex: row.stepIndex,
    reached: JSON.parse(row.reachedJson) as StoredReachedStep[],
    revealed: JSON.parse(row.revealedJson) as number[],
    mainRunId: row.mainRunId,
    compareRunId: row.compareRunId,
    error: row.error,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

const ID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz";
/** 10 characters of [0-9a-z]: 52 bits, URL-safe. */
function newRunId(): string {
  const bytes = randomBytes(10);
  let id = "";
  for (const b of bytes) id += ID_ALPHABET[b % 36];
  return id;
}

function makeCursor(run: StoredRun): string {
  return Buffer.from(`${run.createdAt.getTime()}.${run.id}`).toString("base64url");
}

function parseCursor(cursor: string): { createdAt: Date; id: string } {
  const m = /^(\d{1,15})\.([0-9a-z]{1,64})$/.exec(Buffer.from(cursor, "base64url").toString());
  if (m === null) throw new RangeError(`not a runs cursor: ${JSON.stringify(cursor)} (use the \`next\` of the previous page)`);
  return { createdAt: new Date(Number(m[1])), id: m[2]! };
}


function sqliteCode(err: unknown): string | undefined {
  return err instanceof Database.SqliteError ? err.code : undefined;
}

function isKnown(err: unknown, code: string): boolean {
  return err instanceof Prisma.PrismaClientKnownRequestError && err.code === code;
}
