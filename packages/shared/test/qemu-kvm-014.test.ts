// Every qemu-kvm file:line the project cites must be what the 0.14.1 table (qemu-kvm-014.ts, read
// from the sources) says is there, and every tour step that cites the article's listing at a line
// shows the 0.14.1 function and line that really ran beside it.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  ARTICLE_VS_014, QEMU_ARTICLE_FUNCTIONS, QEMU_KVM_014, QEMU_KVM_014_LINES, parseWalkthrough, qemu014Function, qemu014LineProblem, qemu014Locate,
} from "../src/index.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

function walk(dir: string, keep: (path: string) => boolean): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(ROOT, dir))) {
    if (name === "node_modules" || name === "dist" || name === ".next" || name === "build") continue;
    const rel = join(dir, name);
    if (statSync(join(ROOT, rel)).isDirectory()) out.push(...walk(rel, keep));
    else if (keep(rel)) out.push(rel);
  }
  return out;
}

/** Everything that teaches: tours, docs, panels' text, the shared tables, guest sources and catalog. */
function citingFiles(): string[] {
  return [
    "ARCHITECTURE.md", "README.md", "DEVELOPERS.md", "walkthroughs/README.md", "apps/vmm/guests/catalog.json",
    ...walk("walkthroughs", (p) => p.endsWith(".yaml")),
    ...walk("apps/web/src", (p) => /\.tsx?$/.test(p)),
    ...walk("packages/shared/src", (p) => p.endsWith(".ts") && !p.endsWith("qemu-kvm-014.ts")),
    ...walk("apps/vmm/src", (p) => p.endsWith(".ts")),
    ...walk("apps/vmm/guests/src", (p) => p.endsWith(".S")),
  ];
}

const QEMU_FILE = String.raw`(?:qemu-kvm-x86\.c|qemu-kvm\.c|kvm-all\.c|cpus\.c|hw/pc\.c|exec\.c|target-i386/kvm\.c|target-i386/helper\.c|vl\.c|ioport\.c|hw/serial\.c)`;
/** "qemu-kvm.c:1229" or "qemu-kvm.c:1459-1461": the form a 0.14.1 line is cited in. */
const CITATION = new RegExp(String.raw`(?<![\w/.-])(${QEMU_FILE}):(\d+)(?:-(\d+))?`, "g");

describe("the qemu-kvm 0.14.1 table", () => {
  it("is consistent: each landmark inside its function, no two functions of a file overlapping", () => {
    for (const f of QEMU_KVM_014) {
      expect(f.from, f.fn).toBeLessThan(f.to);
      for (const [what, line] of Object.entries(f.at ?? {})) {
        expect(line >= f.from && line <= f.to, `${f.file} ${f.fn}: "${what}" at ${line}`).toBe(true);
      }
      for (const g of QEMU_KVM_014) {
        if (g !== f && g.file === f.file) expect(g.to < f.from || g.from > f.to, `${f.fn} and ${g.fn} overlap in ${f.file}`).toBe(true);
      }
    }
    for (const l of QEMU_KVM_014_LINES) expect(qemu014Locate(l.file, l.line).problem).toBeUndefined();
  });

  it("says where the article's numbers differ, and they differ by the same 76 lines", () => {
    for (const d of ARTICLE_VS_014) {
      const real = qemu014Function(d.file, d.fn);
      expect(real).toMatchObject({ from: d.real.from, to: d.real.to });
      const article = QEMU_ARTICLE_FUNCTIONS.find((f) => f.fn === d.fn);
      expect(article?.shown).toEqual(d.article);
      expect(d.article.from - d.real.from).toBe(76);
    }
  });

  it("knows the article's kvm_cpu_exec is compiled out and what ran instead", () => {
    expect(qemu014LineProblem("kvm-all.c", 941)).toMatch(/compiled out.*OBSOLETE_KVM_IMPL/);
    expect(qemu014LineProblem("qemu-kvm.c", 582, "kvm_run")).toBeNull();
    expect(qemu014Function("qemu-kvm.c", "kvm_run")?.at?.["KVM_RUN"]).toBe(582);
    expect(qemu014LineProblem("qemu-kvm.c", 1230, "kvm_run")).toMatch(/outside/);
    expect(qemu014LineProblem("qemu-kvm.c", 9999)).toMatch(/inside no function/);
    expect(qemu014LineProblem("nosuch.c", 1)).toMatch(/not a file/);
  });
});

describe("every qemu-kvm file:line the project cites", () => {
  const files = citingFiles();

  it("finds the files it reads (a moved tree would make this test check nothing)", () => {
    expect(files).toContain("walkthroughs/02-exit-loop.yaml");
    expect(files).toContain("apps/web/src/lib/ioctl-places.ts");
    expect(files.length).toBeGreaterThan(40);
  });

  it("is a line of the 0.14.1 table (written file:line, or file:from-to)", () => {
    const bad: string[] = [];
    let seen = 0;
    for (const path of files) {
      const text = readFileSync(join(ROOT, path), "utf8");
      for (const m of text.matchAll(CITATION)) {
        seen++;
        const [, file, from, to] = m;
        for (const line of [from, to]) {
          if (line === undefined) continue;
          const problem = qemu014Locate(file!, Number(line)).problem;
          if (problem !== undefined) bad.push(`${relative(ROOT, join(ROOT, path))}: ${m[0]}: ${problem}`);
        }
      }
    }
    expect(bad).toEqual([]);
    expect(seen).toBeGreaterThan(10);
  });

  it("in a tour step: every article line has the 0.14.1 function and line that ran beside it", () => {
    const missing: string[] = [];
    for (const path of walk("walkthroughs", (p) => p.endsWith(".yaml"))) {
      const w = parseWalkthrough(readFileSync(join(ROOT, path), "utf8"), path);
      for (const step of w.steps) {
        if (step.code.qemu?.line !== undefined && step.code.ran === undefined) missing.push(`${path} ${step.id}`);
        if (step.code.ran !== undefined) expect(qemu014LineProblem(step.code.ran.file, step.code.ran.line, step.code.ran.fn), `${path} ${step.id}`).toBeNull();
      }
    }
    expect(missing).toEqual([]);
  });
});
