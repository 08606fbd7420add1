// Where the VMM finds what it did not compile: its guests and benchmark loop (in its own package,
// found by package resolution) and the repository's prisma/migrations and walkthroughs/ (found
// from the package's place in the workspace, or given by the environment). No path here depends
// on how deep the file that asks sits in src/ or dist/.
//
//   KVMSCOPE_ROOT        the repository (default: the nearest folder above @kvmscope/vmm whose
//                        package.json declares `workspaces`)
//   KVMSCOPE_MIGRATIONS  the migrations folder (default: <root>/prisma/migrations)
//   KVMSCOPE_WALKTHROUGHS the walkthroughs folder (default: <root>/walkthroughs)
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const env = (name: string): string | undefined => {
  const v = process.env[name];
  return v === undefined || v === "" ? undefined : path.resolve(v);
};

/** apps/vmm: the folder of the @kvmscope/vmm package (its package.json), wherever it is installed. */
export const VMM_PACKAGE_DIR = path.dirname(createRequire(import.meta.url).resolve("@kvmscope/vmm/package.json"));

/** The repository root: $KVMSCOPE_ROOT, or the workspace root above this package. */
export function findRepoRoot(from: string = VMM_PACKAGE_DIR): string {
  const given = env("KVMSCOPE_ROOT");
  if (given !== undefined) return given;
  for (let dir = path.dirname(from); ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, "package.json");
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, "utf8")) as { workspaces?: unknown }).workspaces !== undefined) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no workspace root above ${from}: set KVMSCOPE_ROOT to the kvmscope repository`);
  }
}

export const REPO_ROOT = findRepoRoot();
/** The teaching guests: sources, catalog.json and build/*.bin. */
export const GUESTS_DIR = path.join(VMM_PACKAGE_DIR, "guests");
/** The raw C KVM_RUN loop `kvmscope bench` compares against (built by guests/build.mjs). */
export const RAW_LOOP = path.join(VMM_PACKAGE_DIR, "bench", "build", "raw-kvm-loop");
/** prisma/migrations, which the store applies when it opens a database. */
export const MIGRATIONS_DIR = env("KVMSCOPE_MIGRATIONS") ?? path.join(REPO_ROOT, "prisma", "migrations");
/** walkthroughs/, the guided tours. */
export const WALKTHROUGHS_DIR = env("KVMSCOPE_WALKTHROUGHS") ?? path.join(REPO_ROOT, "walkthroughs");
