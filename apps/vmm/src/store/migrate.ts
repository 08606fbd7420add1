// Applies prisma/migrations to a SQLite file in-process, the way `prisma migrate deploy` does and
// in its bookkeeping table, so the two can be used on the same file interchangeably:
//
// - each `prisma/migrations/<name>/migration.sql`, in name order, not yet in `_prisma_migrations`
//   is applied, and a row is written there with the same columns and checksum (sha256 of the file)
//   as Prisma writes; `prisma migrate status` then reports the database up to date.
// - a migration and its row are one transaction (SQLite DDL is transactional): a migration that
//   fails leaves nothing behind, and the next open tries it again.
// - foreign-key enforcement is off while migrating (SQLite's recipe for redefining a table, which
//   is what Prisma's SQLite migrations do: `DROP TABLE "Run"` with enforcement on would cascade and
//   delete every record chunk); `PRAGMA foreign_key_check` must come out empty before COMMIT.
//
// Why not spawn `prisma migrate deploy`? It needs the CLI and its config at run time (and the CLI
// tries the network for engines unless configured exactly so), costs ~1-2 s of process start on
// every service start, and its errors reach us as text. This is ~100 lines, synchronous, offline.
import { createHash, randomUUID } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";

import { MIGRATIONS_DIR } from "../paths.js";

export { MIGRATIONS_DIR };

export interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

/** The migrations in `dir`, in the order they apply (their folder names sort by timestamp). */
export function listMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  if (!existsSync(dir)) throw new Error(`no migrations folder at ${dir}`);
  return readdirSync(dir)
    .filter((name) => statSync(path.join(dir, name)).isDirectory() && existsSync(path.join(dir, name, "migration.sql")))
    .sort()
    .map((name) => {
      const bytes = readFileSync(path.join(dir, name, "migration.sql"));
      return { name, sql: bytes.toString("utf8"), checksum: createHash("sha256").update(bytes).digest("hex") };
    });
}

/** Prisma's own bookkeeping table, as `prisma migrate deploy` creates it on SQLite. */
const PRISMA_MIGRATIONS_DDL = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    TEXT PRIMARY KEY NOT NULL,
    "checksum"              TEXT NOT NULL,
    "finished_at"           DATETIME,
    "migration_name"        TEXT NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        DATETIME,
    "started_at"            DATETIME NOT NULL DEFAULT current_timestamp,
    "applied_steps_count"   INTEGER UNSIGNED NOT NULL DEFAULT 0
)`;

/** Prisma's timestamp spelling in that table: 2026-11-29T09:17:14.964+00:00 */
function prismaTime(d: Date): string {
  return d.toISOString().replace("Z", "+00:00");
}

/**
 * Brings the database at `file` (created if missing) up to date. Also makes it a WAL database
 * (persistent in the file). Returns the names of the migrations it applied.
 * Safe against another process migrating the same file at once (BEGIN IMMEDIATE, re-check inside).
 */
export function migrate(file: string, migrations: Migration[] = listMigrations()): string[] {
  const db = new Database(file, { timeout: 10_000 });
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("foreign_keys = OFF"); // only takes effect outside a transaction: hence here
    db.exec(PRISMA_MIGRATIONS_DDL);
    const applied: string[] = [];
    const state = db.prepare<[string], { finished_at: string | null; rolled_back_at: string | null }>(
      `SELECT finished_at, rolled_back_at FROM "_prisma_migrations" WHERE migration_name = ? ORDER BY started_at`,
    );
    const record = db.prepare(
      `INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count)
       VALUES (?, ?, ?, ?, NULL, NULL, ?, 1)`,
    );
    for (const m of migrations) {
      const done = (rows: { finished_at: string | null; rolled_back_at: string | null }[]): boolean => {
        if (rows.some((r) => r.finished_at !== null && r.rolled_back_at === null)) return true;
        // `prisma migrate deploy` left a failed attempt: it refuses to go on (P3009), and so do we.
        if (rows.some((r) => r.finished_at === null && r.rolled_back_at === null)) {
          throw new Error(`migration ${m.name} failed in an earlier attempt (see _prisma_migrations in ${file}); resolve it with \`prisma migrate resolve\``);
        }
        return false;
      };
      if (done(state.all(m.name))) continue;
      db.exec("BEGIN IMMEDIATE");
      try {
        if (done(state.all(m.name))) {
          db.exec("ROLLBACK");
          continue;
        }
        const started = prismaTime(new Date());
        db.exec(m.sql);
        const broken = db.pragma("foreign_key_check") as unknown[];
        if (broken.length > 0) throw new Error(`migration ${m.name} leaves ${broken.length} rows violating foreign keys`);
        record.run(randomUUID(), m.checksum, prismaTime(new Date()), m.name, started);
        db.exec("COMMIT");
        applied.push(m.name);
      } catch (err) {
        if (db.inTransaction) db.exec("ROLLBACK");
        throw new Error(`migration ${m.name} failed on ${file}: ${(err as Error).message}`, { cause: err });
      }
    }
    return applied;
  } finally {
    db.close();
  }
}
