// Reading the repository's own sources and the article, for the tests that check what the web
// app says about them (source-map, ioctl-places, lifecycle). Not a test file itself.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root, with a trailing slash. */
export const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

const ARTICLE_FILE = "qemu-kvm-vm-lifecycle.ja.txt";
/**
 * The article the project grew from: $KVMSCOPE_SEED/<file>, else shared/seed/<file> in the
 * nearest folder above the repository that has one (CI keeps shared/ beside the clone). The tests
 * against it skip, saying why, when it is in neither place.
 */
export const ARTICLE = findArticle();

function findArticle(): string {
  const given = process.env.KVMSCOPE_SEED;
  if (given !== undefined && given !== "") return resolve(given, ARTICLE_FILE);
  const tried: string[] = [];
  for (let dir = dirname(resolve(ROOT)); ; dir = dirname(dir)) {
    const file = join(dir, "shared", "seed", ARTICLE_FILE);
    if (existsSync(file)) return file;
    tried.push(file);
    if (dirname(dir) === dir) break;
  }
  console.warn(`[vmm-source] the article is not here (tried ${tried.join(", ")}; set KVMSCOPE_SEED to its folder): its tests are skipped`);
  return tried[0]!;
}

const sources = new Map<string, string>();
/** A file of the repository, by its path from the root. */
export function source(file: string): string {
  let s = sources.get(file);
  if (s === undefined) {
    s = readFileSync(`${ROOT}${file}`, "utf8");
    sources.set(file, s);
  }
  return s;
}

export function exists(file: string): boolean {
  return existsSync(`${ROOT}${file}`);
}

/** Every .ts file under a directory of the repository, by path from the root. */
export function tsFilesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(`${ROOT}${dir}`, { withFileTypes: true })) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory()) out.push(...tsFilesUnder(path));
    else if (e.name.endsWith(".ts") && !e.name.endsWith(".d.ts")) out.push(path);
  }
  return out;
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\#]/g, "\\$&");

/**
 * The text of `fn`'s definition in `file`, from its first line to its closing brace, or null when
 * it is not defined there: "name" as a module function, "Class.method" as a method (or
 * "Class.#private", "Class.constructor") inside that class's body. Our classes close with a "}" in
 * column 0, which is where the body ends; a function or method ends at the first "}" line indented
 * as its first line was.
 */
export function bodyOf(file: string, fn: string): string | null {
  const text = source(file);
  const dot = fn.indexOf(".");
  let scope = text;
  let head: RegExp;
  if (dot < 0) {
    head = new RegExp(`^()(?:export\\s+)?(?:async\\s+)?function\\s+${escape(fn)}\\s*[(<]`, "m");
  } else {
    const cls = fn.slice(0, dot);
    const start = new RegExp(`^(?:export\\s+)?(?:abstract\\s+)?class\\s+${escape(cls)}\\b`, "m").exec(text);
    if (start === null) return null;
    const rest = text.slice(start.index);
    const end = /\n\}/.exec(rest);
    scope = end === null ? rest : rest.slice(0, end.index);
    // A definition starts its line (after modifiers); a call has "this." or "." before the name.
    head = new RegExp(`^(\\s+)(?:(?:static|async|get|set|override|public|private|protected)\\s+)*${escape(fn.slice(dot + 1))}\\s*[(<]`, "m");
  }
  const m = head.exec(scope);
  if (m === null) return null;
  const from = scope.slice(m.index);
  const close = new RegExp(`\\n${escape(m[1] ?? "")}\\}`).exec(from);
  return close === null ? from : from.slice(0, close.index + close[0].length);
}

/** Whether `fn` is defined in `file` (see bodyOf). */
export function defines(file: string, fn: string): boolean {
  return bodyOf(file, fn) !== null;
}

/** The article's numbered line `line`, with the file of the listing it is in, or null. */
export function articleLine(line: number): { text: string; file: string } | null {
  if (!existsSync(ARTICLE)) return null;
  // Each listing in the article starts with its path ("qemu-kvm-0.14.0/kvm-all.c") and numbers its lines.
  let file = "";
  for (const l of readFileSync(ARTICLE, "utf8").split("\n")) {
    const head = /^qemu(?:-kvm)?-0\.14\.0\/(\S+)$/.exec(l.trim());
    if (head !== null) file = head[1]!;
    const m = /^(\d+) (.*)$/.exec(l);
    if (m !== null && Number(m[1]) === line) return { text: m[2]!, file };
  }
  return null;
}

/** Whether the article mentions `word` anywhere (names a function, in prose or in a listing). */
export function articleMentions(word: string): boolean {
  return existsSync(ARTICLE) && new RegExp(`\\b${escape(word)}\\b`).test(readFileSync(ARTICLE, "utf8"));
}
