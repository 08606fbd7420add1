// Prisma CLI configuration (prisma 6.19): no Rust engines — the schema engine runs as JS/wasm and
// talks to SQLite through the better-sqlite3 driver adapter, so `prisma generate`, `migrate diff`,
// `migrate status` and `migrate deploy` work offline. The service itself never runs the CLI:
// Store.open (apps/vmm/src/store) applies prisma/migrations on start.
//
// The CLI's database: $KVMSCOPE_DATA/kvmscope.db (default ./data), as `kvmscope serve` has it.
import path from "node:path";
import { defineConfig } from "prisma/config";
import { PrismaBetterSQLite3 } from "@prisma/adapter-better-sqlite3";

export default defineConfig({
  engine: "js",
  experimental: { adapter: true },
  schema: path.join("prisma", "schema.prisma"),
  migrations: { path: path.join("prisma", "migrations") },
  async adapter() {
    const dataDir = process.env["KVMSCOPE_DATA"] ?? "data";
    return new PrismaBetterSQLite3({ url: `file:${path.join(dataDir, "kvmscope.db")}` });
  },
});
