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
// Records are stored in chunks, not one row per exit: up to CHUNK_RECORDS binary records (the
// shared 128-byte layout) back to back, in seq order, compressed with deflate-raw level 1. Measured
// on a real pio-loop trace, 4096-record chunks (test/store-bench.test.ts prints the same for
// pio-loop-like records):
//   deflate-raw L1: 12.0 bytes/record, compress ~430 MB/s, inflate ~1100 MB/s
//   brotli q1:      11.7 bytes/record, compress ~500 MB/s, decompress ~630 MB/s
//   brotli q0:      15.0 bytes/record; deflate L6 11.0 bytes/record at ~80 MB/s
// Brotli q1 is 3% smaller but decompresses at half the speed, and reads are what must be fast.
//
// Invariants the readers rely on, kept by appendRecords:
// - within a chunk, records are sorted by seq; chunk `index` order is seq order: chunks of a run
//   never overlap. Records that arrive late (a seq at or below what is already stored: a vCPU
//   thread can publish a record after a later-numbered one was drained) are merged into the
//   chunk they belong to, which is rewritten.
// - every chunk but the run's last holds at least CHUNK_RECORDS / 2 records: an append first tops
//   up a last chunk that is less than half full (a slow guest flushing a few records a second
//   still gets big chunks), so a page of N records touches at most N / 2048 + 2 chunks.
//
// The main thread is not held for long: (de)compression runs on libuv's thread pool (async zlib),
// WAL checkpoints (and their fsync) on a worker (checkpointer.ts); an append's SQLite work is one
// synchronous transaction of plain inserts (about 1 ms per 4096-record chunk).
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import zlib from "node:zlib";
import { PrismaBetterSQLite3 } from "@prisma/adapter-better-sqlite3";
import Database from "better-sqlite3";
import { decodeRecord, exitReasonCode, H, RECORD_SIZE, RecordKind, type TraceRecord } from "@kvmscope/shared";
import { Prisma, PrismaClient } from "./generated/client.js";
import { Checkpointer } from "./checkpointer.js";
import { migrate } from "./migrate.js";

/** Records per stored chunk (at most; a chunk late records were merged into may hold a few more). */
export const CHUNK_RECORDS = 4096;
/** The database file's name in the data directory. */
export const DB_FILE = "kvmscope.db";
/** deflate-raw level: 1, the fastest (see the measurements above). */
const DEFLATE_LEVEL = 1;
/** A filtered readRecords call looks at no more than this many records before it answers (with `next`). */
export const SCAN_BUDGET = 64 * CHUNK_RECORDS;
/** Chunks fetched and inflated together while reading. */
const READ_GROUP = 4;

const deflateRawAsync = promisify(zlib.deflateRaw);
const inflateRawAsync = promisify(zlib.inflateRaw);

// On the thread pool. One output buffer the size of the result: with zlib's default 16 KiB
// chunkSize an async call goes back and forth between threads for every 16 KiB (measured: four
// 512 KiB chunks inflated in 8.1 ms that way, 2.9 ms like this, 4.4 ms with inflateRawSync).
function compress(raw: Uint8Array): Promise<Buffer> {
  return deflateRawAsync(raw, { level: DEFLATE_LEVEL, chunkSize: Math.max(raw.byteLength, 64) });
}
function inflate(data: Uint8Array, count: number): Promise<Buffer> {
  return inflateRawAsync(data, { chunkSize: Math.max(count * RECORD_SIZE, 64) });
}

export type RunStatus = "created" | "running" | "paused" | "finished" | "failed" | "aborted";
const LIVE_STATUSES: RunStatus[] = ["created", "running", "paused"];

export interface StoredRun {
  id: string;
  createdAt: Date;
  updatedAt: Date;
  /** Catalog guest name; null for an uploaded image. */
  guest: string | null;
  imageHash: string;
  /** Size of the image, bytes. */
  imageBytes: number;
  /** { vcpus, memMiB, irqchip, timeoutSec, maxExits, mode, ... } as given to createRun. */
  config: Record<string, unknown>;
  status: RunStatus;
  /** The NDJSON `end` object once the run has ended. */
  outcome: Record<string, unknown> | null;
  /** RunSummary.toJSON(). */
  totals: Record<string, unknown> | null;
  startedAt: Date | null;
  endedAt: Date | null;
  /** Records stored so far. */
  recordCount: number;
  /** Highest seq stored; -1 when none. */
  lastSeq: number;
  /** Made by importing an export, not by running a VM here. */
  imported: boolean;
  /** The join code of the class session that owns the run, or null. */
  sessionCode: string | null;
}

export type SessionStatus = "open" | "ended";

/** A step a class session reached: where (run role and id) and at which record. */
export interface StoredReachedStep {
  stepIndex: number;
  stepId: string;
  run: "main" | "compare";
  runId: string;
  seq: number;
}

/** A class session as stored (prisma/schema.prisma, ClassSession). */
export interface StoredSession {
  code: string;
  walkthroughId: string;
  /** sha256 hex of the teacher token. */
  tokenHash: string;
  status: SessionStatus;
  /** -1 before the first advance. */
  stepIndex: number;
  reached: StoredReachedStep[];
  revealed: number[];
  mainRunId: string | null;
  compareRunId: string | null;
  error: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export type SessionPatch = Partial<Pick<StoredSession, "status" | "stepIndex" | "reached" | "revealed" | "mainRunId" | "compareRunId" | "error">>;

export interface RecordQuery {
  /** The first seq wanted (default 0). */
  fromSeq?: number;
  /** Records wanted, at least 1. */
  limit: number;
  /** Only records of this vCPU: its thread's ioctls, markers and lost counts, its exits and stats samples. */
  vcpu?: number;
  /** Only exits with this reason: "KVM_EXIT_IO" (the NDJSON `reason`), or "IO" for short. */
  reason?: string;
  /** Only records with fromTs <= ts <= toTs (ns since the run began). */
  fromTs?: number;
  toTs?: number;
}

export interface RecordPage {
  /** In seq order, decoded with the shared codec (the NDJSON shape). */
  records: TraceRecord[];
  /**
   * The fromSeq of the next page, or null when every stored record up to now has been looked at.
   * A filtered query stops after SCAN_BUDGET records, so a page may hold fewer than `limit`
   * records (even none) and still have a `next`: keep asking until it is null.
   */
  next: number | null;
}

type RunRow = Prisma.RunGetPayload<{ include: { image: { select: { size: true } } } }>;
const WITH_IMAGE_SIZE = { image: { select: { size: true } } } as const;

/** What appendRecords knows about the end of a run's records (valid because we are the one writer). */
interface Tail {
  nextIndex: number;
  lastSeq: number;
  last: { index: number; count: number } | null;
  /** The last chunk's records, uncompressed, when we wrote it ourselves (saves reading it back). */
  lastRaw: Uint8Array | null;
}

export class Store {
  readonly file: string;
  readonly #prisma: PrismaClient;
  readonly #db: Database.Database;
  readonly #sql: ReturnType<typeof prepare>;
  readonly #checkpointer: Checkpointer;
  /** Every write, on either connection, goes through this chain: one at a time. */
  #writes: Promise<unknown> = Promise.resolve();
  /** Appends to one run run one after another (each depends on where the previous one ended). */
  readonly #appends = new Map<string, Promise<unknown>>();
  readonly #tails = new Map<string, Tail>();
  #lastCreatedMs = 0;
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
      const store = new Store(file, prisma, db);
      const newest = await prisma.run.findFirst({ orderBy: { createdAt: "desc" }, select: { createdAt: true } });
      store.#lastCreatedMs = newest?.createdAt.getTime() ?? 0;
      return store;
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
  async createRun(input: { guest: string | null; imageHash: string; config: Record<string, unknown>; status?: RunStatus; imported?: boolean; sessionCode?: string | null }): Promise<StoredRun> {
    this.#assertOpen();
    return this.#write(async () => {
      // createdAt is strictly increasing (one writer), so "newest first" is creation order even
      // for runs created within one millisecond.
      const ms = Math.max(Date.now(), this.#lastCreatedMs + 1);
      for (let attempt = 0; ; attempt++) {
        try {
          const row = await this.#prisma.run.create({
            data: {
              id: newRunId(),
              createdAt: new Date(ms),
              guest: input.guest,
              imageHash: input.imageHash,
              config: JSON.stringify(input.config),
              status: input.status ?? "created",
              imported: input.imported ?? false,
              sessionCode: input.sessionCode ?? null,
            },
            include: WITH_IMAGE_SIZE,
          });
          this.#lastCreatedMs = ms;
          return toStoredRun(row);
        } catch (err) {
          if (isKnown(err, "P2002") && attempt < 3) continue; // an id collision: draw again
          if (isKnown(err, "P2003")) {
            throw new Error(`no image ${input.imageHash}${input.sessionCode ? ` or class session ${input.sessionCode}` : ""} in the store: putImage() (createClassSession()) it first`, { cause: err });
          }
          throw err;
        }
      }
    });
  }

  async updateRun(id: string, patch: Partial<Pick<StoredRun, "status" | "outcome" | "totals" | "startedAt" | "endedAt">>): Promise<void> {
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
    const sql = this.#sql;
    const tail = this.#tails.get(runId) ?? this.#loadTail(runId);
    try {
      const records = sortedBySeq(input);
      const n = records.byteLength / RECORD_SIZE;
      const view = viewOf(records);
      // Records at or below the stored lastSeq arrived late: they go into the chunks they belong to.
      let k = 0;
      while (k < n && seqAt(view, k) <= tail.lastSeq) k++;
      let fresh = records.subarray(k * RECORD_SIZE);

      /** Existing chunks that get records, by index: rewritten whole. */
      const rewrites = new Map<number, { raw: Uint8Array | Promise<Uint8Array>; count: number; add: Uint8Array[] }>();
      const rewrite = (index: number, count: number): { add: Uint8Array[] } => {
        let r = rewrites.get(index);
        if (r === undefined) {
          const raw = tail.last?.index === index && tail.lastRaw !== null ? tail.lastRaw : this.#inflateChunk(runId, index);
          if (raw instanceof Promise) raw.catch(() => {}); // awaited below; not "unhandled" if we throw first
          r = { raw, count, add: [] };
          rewrites.set(index, r);
        }
        return r;
      };
      if (k > 0) {
        const metas = sql.chunksFromSeq.all(runId, seqAt(view, 0));
        for (let i = 0; i < k; i++) {
          const s = seqAt(view, i);
          let target = metas[0];
          for (const m of metas) if (m.firstSeq <= s) target = m;
          if (target === undefined) throw new Error(`run ${runId}: no chunk holds seq ${tail.lastSeq}, yet it is the run's lastSeq`);
          rewrite(target.index, target.count).add.push(records.subarray(i * RECORD_SIZE, (i + 1) * RECORD_SIZE));
        }
      }
      // Top up a last chunk that is less than half full.
      if (tail.last !== null && fresh.byteLength > 0) {
        const count = tail.last.count + (rewrites.get(tail.last.index)?.add.length ?? 0);
        if (count < CHUNK_RECORDS / 2) {
          const take = Math.min(CHUNK_RECORDS - count, fresh.byteLength / RECORD_SIZE);
          rewrite(tail.last.index, tail.last.count).add.push(fresh.subarray(0, take * RECORD_SIZE));
          fresh = fresh.subarray(take * RECORD_SIZE);
        }
      }

      // The new contents, compressed on the thread pool.
      const updated: { index: number; raw: Uint8Array }[] = [];
      for (const [index, r] of rewrites) updated.push({ index, raw: sortedBySeq(concat([await r.raw, ...r.add])) });
      const created: Uint8Array[] = [];
      for (let at = 0; at < fresh.byteLength; at += CHUNK_RECORDS * RECORD_SIZE) {
        created.push(fresh.subarray(at, Math.min(at + CHUNK_RECORDS * RECORD_SIZE, fresh.byteLength)));
      }
      const packed = await Promise.all([...updated.map((u) => u.raw), ...created].map(compress));

      const lastSeq = Math.max(tail.lastSeq, seqAt(view, n - 1));
      await this.#write(async () => {
        this.#db.transaction(() => {
          updated.forEach((u, i) => {
            const d = describe(u.raw);
            sql.updateChunk.run(d.firstSeq, d.lastSeq, d.firstTs, d.lastTs, d.count, packed[i]!, runId, u.index);
          });
          created.forEach((raw, i) => {
            const d = describe(raw);
            sql.insertChunk.run(runId, tail.nextIndex + i, d.firstSeq, d.lastSeq, d.firstTs, d.lastTs, d.count, packed[updated.length + i]!);
          });
          const changed = sql.bumpRun.run(n, lastSeq, prismaTime(new Date()), runId).changes;
          if (changed !== 1) throw new Error(`no run ${runId} in the store`);
        }).immediate();
      });

      // Where the run's records end now.
      tail.lastSeq = lastSeq;
      tail.nextIndex += created.length;
      // (A copy of a new chunk: it is a view of the caller's buffer, or of a whole sorted batch.)
      const lastRaw = created.length > 0 ? created[created.length - 1]!.slice() : updated.find((u) => u.index === tail.last?.index)?.raw;
      if (lastRaw !== undefined) {
        tail.last = { index: tail.nextIndex - 1, count: lastRaw.byteLength / RECORD_SIZE };
        tail.lastRaw = lastRaw;
      }
    } catch (err) {
      this.#tails.delete(runId); // reload from the database next time
      throw err;
    }
  }

  #loadTail(runId: string): Tail {
    const run = this.#sql.runLastSeq.get(runId);
    if (run === undefined) throw new Error(`no run ${runId} in the store`);
    const last = this.#sql.lastChunk.get(runId) ?? null;
    const tail: Tail = { nextIndex: last === null ? 0 : last.index + 1, lastSeq: run.lastSeq, last, lastRaw: null };
    this.#tails.set(runId, tail);
    return tail;
  }

  #inflateChunk(runId: string, index: number): Promise<Uint8Array> {
    const row = this.#sql.chunkData.get(runId, index);
    if (row === undefined) return Promise.reject(new Error(`run ${runId}: record chunk ${index} vanished`));
    return inflate(row.data, row.count);
  }

  /** A page of records in seq order, filtered, decoded with the shared codec. */
  async readRecords(runId: string, q: RecordQuery): Promise<RecordPage> {
    this.#assertOpen();
    requireInt("limit", q.limit, 1);
    const fromSeq = q.fromSeq ?? 0;
    requireInt("fromSeq", fromSeq, 0);
    if (q.vcpu !== undefined) requireInt("vcpu", q.vcpu, 0);
    let reasonCode: number | undefined;
    if (q.reason !== undefined) {
      reasonCode = exitReasonCode(q.reason) ?? exitReasonCode(`KVM_EXIT_${q.reason.toUpperCase()}`);
      if (reasonCode === undefined) throw new RangeError(`unknown exit reason ${JSON.stringify(q.reason)} (e.g. "KVM_EXIT_IO")`);
    }
    for (const k of ["fromTs", "toTs"] as const) {
      const v = q[k];
      if (v !== undefined && !Number.isFinite(v)) throw new RangeError(`${k} must be a number of ns`);
    }
    const fromTs = q.fromTs ?? -Infinity;
    const toTs = q.toTs ?? Infinity;
    const vcpu = q.vcpu ?? -1;
    const filtered = q.vcpu !== undefined || reasonCode !== undefined || q.fromTs !== undefined || q.toTs !== undefined;

    // Chunks that can hold what is asked: every chunk but a run's last has >= CHUNK_RECORDS / 2 records.
    const wanted = filtered ? Math.ceil(SCAN_BUDGET / (CHUNK_RECORDS / 2)) : Math.ceil(q.limit / (CHUNK_RECORDS / 2)) + 2;
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
          lastLooked = view.getUint32(o + H.seq, true);
          scanned++;
          if (filtered) {
            if (q.vcpu !== undefined && view.getUint16(o + H.thread, true) !== vcpu) continue;
            if (reasonCode !== undefined && (view.getUint8(o + H.kind) !== RecordKind.Exit || view.getUint32(o + H.code, true) !== reasonCode)) continue;
            const ts = view.getFloat64(o + H.ts, true);
            if (ts < fromTs || ts > toTs) continue;
          }
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

function prepare(db: Database.Database) {
  return {
    putImage: db.prepare<[string, number, Buffer, string]>(`INSERT OR IGNORE INTO "Image" ("hash", "size", "bytes", "createdAt") VALUES (?, ?, ?, ?)`),
    getImage: db.prepare<[string], { bytes: Buffer }>(`SELECT "bytes" FROM "Image" WHERE "hash" = ?`),
    runLastSeq: db.prepare<[string], { lastSeq: number }>(`SELECT "lastSeq" FROM "Run" WHERE "id" = ?`),
    bumpRun: db.prepare<[number, number, string, string]>(`UPDATE "Run" SET "recordCount" = "recordCount" + ?, "lastSeq" = ?, "updatedAt" = ? WHERE "id" = ?`),
    lastChunk: db.prepare<[string], { index: number; count: number }>(`SELECT "index", "count" FROM "RecordChunk" WHERE "runId" = ? ORDER BY "index" DESC LIMIT 1`),
    chunksFromSeq: db.prepare<[string, number], { index: number; firstSeq: number; count: number }>(
      `SELECT "index", "firstSeq", "count" FROM "RecordChunk" WHERE "runId" = ? AND "lastSeq" >= ? ORDER BY "index"`,
    ),
    chunkData: db.prepare<[string, number], { count: number; data: Buffer }>(`SELECT "count", "data" FROM "RecordChunk" WHERE "runId" = ? AND "index" = ?`),
    chunkDataById: db.prepare<[number], { data: Buffer }>(`SELECT "data" FROM "RecordChunk" WHERE "id" = ?`),
    insertChunk: db.prepare<[string, number, number, number, number, number, number, Buffer]>(
      `INSERT INTO "RecordChunk" ("runId", "index", "firstSeq", "lastSeq", "firstTs", "lastTs", "count", "data") VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    updateChunk: db.prepare<[number, number, number, number, number, Buffer, string, number]>(
      `UPDATE "RecordChunk" SET "firstSeq" = ?, "lastSeq" = ?, "firstTs" = ?, "lastTs" = ?, "count" = ?, "data" = ? WHERE "runId" = ? AND "index" = ?`,
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

function requireInt(name: string, v: number, min: number): void {
  if (!Number.isSafeInteger(v) || v < min) throw new RangeError(`${name} must be an integer >= ${min}; got ${v}`);
}

function isKnown(err: unknown, code: string): boolean {
  return err instanceof Prisma.PrismaClientKnownRequestError && err.code === code;
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function seqAt(view: DataView, i: number): number {
  return view.getUint32(i * RECORD_SIZE + H.seq, true);
}

/** Index of the first record with seq >= seq in a chunk sorted by seq. */
function firstAtOrAfter(view: DataView, n: number, seq: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (seqAt(view, mid) < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** `records` if already in seq order, else a sorted copy (stable). */
function sortedBySeq(records: Uint8Array): Uint8Array {
  const n = records.byteLength / RECORD_SIZE;
  const view = viewOf(records);
  let sorted = true;
  for (let i = 1; i < n && sorted; i++) sorted = seqAt(view, i - 1) <= seqAt(view, i);
  if (sorted) return records;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => seqAt(view, a) - seqAt(view, b) || a - b);
  const out = new Uint8Array(records.byteLength);
  order.forEach((from, to) => out.set(records.subarray(from * RECORD_SIZE, (from + 1) * RECORD_SIZE), to * RECORD_SIZE));
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** The chunk columns of `raw` (sorted records). */
function describe(raw: Uint8Array): { firstSeq: number; lastSeq: number; firstTs: number; lastTs: number; count: number } {
  const view = viewOf(raw);
  const count = raw.byteLength / RECORD_SIZE;
  let firstTs = Infinity;
  let lastTs = -Infinity;
  for (let i = 0; i < count; i++) {
    const ts = view.getFloat64(i * RECORD_SIZE + H.ts, true);
    if (ts < firstTs) firstTs = ts;
    if (ts > lastTs) lastTs = ts;
  }
  return { firstSeq: seqAt(view, 0), lastSeq: seqAt(view, count - 1), firstTs, lastTs, count };
}
