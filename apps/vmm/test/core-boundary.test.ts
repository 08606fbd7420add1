// The VMM core — the machine, its vCPU threads, devices, tracing and guests — is a part of
// apps/vmm that knows nothing of HTTP, WebSockets or the database: it can be used and tested
// without the service. This check holds that boundary: every import of a core file must be
// another core file, @kvmscope/shared, @kvmscope/kvm-binding, or a Node built-in that is not
// networking. (A folder with a check rather than its own package while the core files are
// being reworked; see ARCHITECTURE.md, "The VMM core".)
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SRC = fileURLToPath(new URL("../src/", import.meta.url));

/** The core, relative to apps/vmm/src: files and whole folders. */
export const CORE = ["machine.ts", "config.ts", "layout.ts", "guests.ts", "paths.ts", "errors.ts", "pit-timer.ts", "run-clock.ts", "exit-status.ts", "devices/", "trace/", "vcpu/"];
const PACKAGES = new Set(["@kvmscope/shared", "@kvmscope/kvm-binding"]);
const NETWORK_BUILTINS = new Set(["http", "https", "http2", "net", "tls", "dgram"]);

function coreFiles(): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    const abs = path.join(SRC, rel);
    if (statSync(abs).isDirectory()) for (const name of readdirSync(abs).sort()) walk(path.posix.join(rel, name));
    else if (rel.endsWith(".ts")) out.push(rel);
  };
  for (const c of CORE) walk(c.replace(/\/$/, ""));
  return out;
}

function isCore(rel: string): boolean {
  return CORE.some((c) => (c.endsWith("/") ? rel.startsWith(c) : rel === c));
}

/** Every module specifier a TypeScript source imports or re-exports (static, dynamic, type-only). */
export function importsOf(source: string): string[] {
  const out: string[] = [];
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  for (const m of code.matchAll(/\b(?:import|export)\b[^"'`;]*?\bfrom\s*["']([^"']+)["']|\bimport\s*["']([^"']+)["']|\bimport\s*\(\s*["'`]([^"'`]+)["'`]\s*\)/g)) {
    out.push((m[1] ?? m[2] ?? m[3])!);
  }
  return out;
}

/** Why `spec`, imported by core file `from` (relative to src), crosses the boundary; null if it does not. */
export function violation(from: string, spec: string): string | null {
  if (spec.startsWith(".")) {
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(from), spec)).replace(/\.js$/, ".ts");
    return isCore(target) ? null : `imports ${target}, which is not part of the core`;
  }
  if (spec.startsWith("node:")) return NETWORK_BUILTINS.has(spec.slice(5)) ? `imports ${spec} (networking belongs to the service)` : null;
  if (PACKAGES.has(spec)) return null;
  return `imports the package ${spec} (the core uses only @kvmscope/shared, @kvmscope/kvm-binding and Node)`;
}

describe("the VMM core's boundary", () => {
  it("core files import only the core, the shared package, the binding and Node (no HTTP, WebSocket, store or Prisma)", () => {
    const files = coreFiles();
    expect(files.length).toBeGreaterThan(20);
    const crossings: string[] = [];
    for (const f of files) {
      for (const spec of importsOf(readFileSync(path.join(SRC, f), "utf8"))) {
        const why = violation(f, spec);
        if (why !== null) crossings.push(`${f}: ${why}`);
      }
    }
    expect(crossings).toEqual([]);
  });

  it("catches each way across: the service, the store, ws, Prisma, node:http, a dynamic import", () => {
    const source = [
      `import { RunManager } from "../service/run-manager.js";`,
      `import type { Store } from "../store/store.js";`,
      `import { WebSocketServer } from "ws";`,
      `export { PrismaClient } from "@prisma/client";`,
      `import http from "node:http";`,
      `const s = await import("../store/migrate.js");`,
      `import { Kvm } from "@kvmscope/kvm-binding";`,
      `import { tracer } from "../trace/tracer.js";`,
      `import { readFileSync } from "node:fs";`,
    ].join("\n");
    const found = importsOf(source).map((spec) => violation("vcpu/thread.ts", spec));
    expect(found.map((v) => v !== null)).toEqual([true, true, true, true, true, true, false, false, false]);
    expect(found[1]).toBe("imports store/store.ts, which is not part of the core");
  });
});
