// Walkthroughs: guided tours over a real run, kept as YAML files in the repository's
// walkthroughs/ folder (walkthroughs/README.md documents the format with an example). A tour is an
// ordered list of steps; each says what to look at and why, in English and Japanese, and is tied
// to a point in the run: an ioctl, an exit matching a filter, a marker, or the start.
//
// This module is the format and the pure parts around it, shared by the VMM (which follows a tour
// on real KVM) and the web app (which shows one): parseWalkthrough validates a file and names the
// line, column and field of every problem; pointMatches / locatePoint / locateSteps find where
// each step's point is reached in a list of records. What shared cannot know (the guest catalog,
// whether a source file really defines a function) the VMM's loader checks.
//
// A point is searched from the previous step's point on (that record included) in the same run:
// `nth` counts matching records from there, so a step can dwell on the same exit as the step
// before it (nth 1), or move to the next match (nth 2). Any sequence of points is therefore
// reachable in order by construction, except "start", which can only open a run's steps.
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument } from "yaml";
import * as z from "zod";
import { threadIndex, type TraceRecord } from "./codec.js";
import { EXIT_REASON_NAMES, exitReasonCode, KvmExit } from "./exit-reasons.js";
import { IOCTLS, ioctlInfoByName } from "./ioctls.js";
import { lowerBound, sortedBySeq } from "./sorted.js";
import { MAX_MEM_MIB, MAX_VCPUS } from "./limits.js";
import { closestName, describeValue as describeYaml, didYouMean, listOf, YAML_WORDS } from "./messages.js";
import { qemu014LineProblem } from "./qemu-kvm-014.js";

/** The `version` every walkthrough file states; bumped only for a change old files cannot follow. */
export const WALKTHROUGH_VERSION = 1;

// ---------------------------------------------------------------------------------------------
// What a step may highlight

/** Parts of the thread model a step can highlight, besides "vcpu<N>" and "lifecycle:<step>". */
export const THREAD_MODEL_PARTS = [
  "main", "kvm", "kernel-irqchip", "guest",
  "dev:uart", "dev:pic", "dev:pit", "dev:debug-exit", "dev:debugcon", "dev:mmio", "dev:post",
] as const;

/**
 * Lifecycle steps that are not a single ioctl: the release of every vCPU (the VMM's
 * "qemu_system_ready" marker), each vCPU's first KVM_RUN, the exit loop, and the end of the run.
 * Every ioctl name in IOCTLS is a lifecycle step too ("lifecycle:KVM_CREATE_VM").
 */
export const LIFECYCLE_EVENTS = ["system-ready", "first-run", "exit-loop", "end"] as const;

/** Devices that exist only where the interrupt controllers do: in userspace, or in KVM. */
const USER_IRQCHIP_PARTS = new Set(["dev:pic", "dev:pit"]);
const KERNEL_IRQCHIP_PARTS = new Set(["kernel-irqchip"]);

// ---------------------------------------------------------------------------------------------
// The qemu-kvm 0.14 functions the article walks through (the seed article, for facts only)

/** A qemu-kvm 0.14 function a step can show beside ours, with the lines the article prints. */
export interface QemuArticleFunction {
  fn: string;
  /** Path in the qemu-kvm-0.14.0 tree. */
  file: string;
  /** The lines of its definition the article prints; absent when the article only shows a call. */
  shown?: { from: number; to: number };
  /** Lines (in `file`) where the article shows it being called. */
  calledAt?: readonly number[];
}

/**
 * Every function a walkthrough may cite as `code.qemu`: those of the article's listings, where
 * they are defined and which lines it prints. cpu_physical_memory_rw's file (exec.c) is the one
 * EXIT_REASON_INFO gives; the article shows only its call.
 */
export const QEMU_ARTICLE_FUNCTIONS: readonly QemuArticleFunction[] = [
  { fn: "kvm_init", file: "qemu-kvm.c", shown: { from: 149, to: 216 } },
  { fn: "kvm_create_context", file: "qemu-kvm.c", calledAt: [211] },
  { fn: "kvm_create_vm", file: "qemu-kvm.c", shown: { from: 308, to: 323 } },
  { fn: "pc_cpus_init", file: "hw/pc.c", shown: { from: 942, to: 950 } },
  { fn: "pc_new_cpu", file: "hw/pc.c", calledAt: [948] },
  { fn: "qemu_init_vcpu", file: "cpus.c", shown: { from: 265, to: 274 } },
  { fn: "kvm_init_vcpu", file: "qemu-kvm.c", shown: { from: 1470, to: 1479 } },
  { fn: "ap_main_loop", file: "qemu-kvm.c", shown: { from: 1505, to: 1543 } },
  { fn: "kvm_create_vcpu", file: "qemu-kvm.c", calledAt: [1527] },
  { fn: "kvm_main_loop_cpu", file: "qemu-kvm.c", shown: { from: 1486, to: 1503 } },
  { fn: "process_irqchip_events", file: "qemu-kvm.c", calledAt: [1491] },
  { fn: "kvm_main_loop_wait", file: "qemu-kvm.c", calledAt: [1496, 1498] },
  { fn: "kvm_cpu_exec", file: "kvm-all.c", shown: { from: 912, to: 1025 } },
  { fn: "kvm_handle_io", file: "kvm-all.c", calledAt: [964] },
  { fn: "cpu_physical_memory_rw", file: "exec.c" },
];

const qemuByFn = new Map(QEMU_ARTICLE_FUNCTIONS.map((f) => [f.fn, f]));

// ---------------------------------------------------------------------------------------------
// Small helpers for messages

/** A value in the words of a YAML file's author ("a list", "a mapping"). */
const describeValue = (v: unknown): string => describeYaml(v, YAML_WORDS);
const quoteList = listOf;


// ---------------------------------------------------------------------------------------------
// The schema

const ID_PATTERN = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

/** A strict mapping whose unknown-key message names the keys it takes (and the one a typo meant). */
function strict<S extends z.ZodRawShape>(shape: S, what: string) {
  const allowed = Object.keys(shape);
  return z.strictObject(shape, {
    error: (iss) => {
      if (iss.code !== "unrecognized_keys") return undefined;
      const keys = iss.keys.map((k) => {
        const guess = closestName(k, allowed);
        return `"${k}"${didYouMean(guess === undefined ? undefined : `"${guess}"`)}`;
      });
      return `unknown field${keys.length > 1 ? "s" : ""} ${keys.join(", ")}: ${what} takes ${quoteList(allowed)}`;
    },
  });
}

function id(what: string) {
  return z
    .string()
    .max(64, { error: `${what} must be at most 64 characters` })
    .regex(ID_PATTERN, { error: (iss) => `${what} must be lower-case letters, digits and single hyphens (like "first-exit"), got ${describeValue(iss.input)}` });
}

function text(max: number) {
  return z
    .string()
    .max(max, { error: `must be at most ${max} characters` })
    .refine((s) => s.trim().length > 0, { error: "must not be empty" });
}

/** Text in both languages the app offers; rendered as plain text, never as markup. */
function bilingual(max: number, what: string) {
  return strict({ en: text(max), ja: text(max) }, what);
}

const ExitReasonField = z.string().refine((s) => exitReasonCode(s) !== undefined, {
  error: (iss) => {
    const s = String(iss.input);
    const guess = closestName(s, EXIT_REASON_NAMES) ?? closestName(`KVM_EXIT_${s}`, EXIT_REASON_NAMES);
    return `${s} is not an exit reason${didYouMean(guess)}`;
  },
});

const IOCTL_NAMES: readonly string[] = IOCTLS.map((i) => i.name);
const IoctlField = z.string().refine((s) => ioctlInfoByName(s) !== undefined, {
  error: (iss) => `${String(iss.input)} is not a call kvmscope records${didYouMean(closestName(String(iss.input), IOCTL_NAMES))}`,
});

const ThreadField = z.string().refine((s) => threadIndex(s) !== undefined, {
  error: (iss) => `must be "main" or "vcpu<N>" (the thread that issued it), got ${describeValue(iss.input)}`,
});

const Nth = z.int().min(1).max(1_000_000).default(1);

/** Every field given must match; at least one is given (to follow any exit, name its vCPU). */
export const WalkthroughExitFilter = strict(
  {
    reason: ExitReasonField.optional(),
    port: z.int().min(0).max(0xffff).optional(),
    direction: z.enum(["in", "out", "read", "write"]).optional(),
    addr: z.int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
    vcpu: z.int().min(0).max(MAX_VCPUS - 1).optional(),
  },
  "an exit filter",
);
export type WalkthroughExitFilter = z.infer<typeof WalkthroughExitFilter>;

const StartPoint = z.literal("start");
const IoctlPoint = strict({ ioctl: IoctlField, thread: ThreadField.optional(), nth: Nth }, "an ioctl point");
const ExitPoint = strict({ exit: WalkthroughExitFilter, nth: Nth }, "an exit point");
const MarkerPoint = strict({ marker: text(200), thread: ThreadField.optional(), nth: Nth }, "a marker point");

/**
 * Where a step is reached: "start" (the run's first record); `{ioctl, thread?, nth}` (a recorded
 * call by name); `{exit: {reason?, port?, direction?, addr?, vcpu?}, nth}`; `{marker, thread?, nth}`
 * (a marker whose text contains `marker`). nth counts from the previous step's point, inclusive.
 */
export const WalkthroughPoint = z.union([StartPoint, IoctlPoint, ExitPoint, MarkerPoint]);
export type WalkthroughPoint = z.infer<typeof WalkthroughPoint>;
const POINT_KEYS = ["ioctl", "exit", "marker"] as const;

/** Our function: a path from the repository root and a function, method ("Class.method") or "Class.#private". */
const OurCode = strict(
  {
    file: z.string().regex(/^(?:apps|packages)\/(?:[A-Za-z0-9_.-]+\/)*[A-Za-z0-9_-]+\.tsx?$/, {
      error: (iss) => `must be a TypeScript file's path from the repository root, like "apps/vmm/src/machine.ts", got ${describeValue(iss.input)}`,
    }).refine((s) => !s.split("/").includes(".."), { error: "must not climb out of the repository (..)" }),
    fn: z.string().regex(/^(?:[A-Za-z_$][\w$]*\.)?#?[A-Za-z_$][\w$]*$/, {
      error: (iss) => `must be a function name, "Class.method" or "Class.#privateMethod", got ${describeValue(iss.input)}`,
    }),
  },
  "code.ours",
);

const QemuCode = strict(
  {
    file: z.string().min(1),
    fn: z.string().min(1),
    line: z.int().min(1).optional(),
  },
  "code.qemu",
);

/** What qemu-kvm 0.14.1 really ran here (QEMU_KVM_014), where it differs from the article's listing or the article has none. */
const RanCode = strict(
  {
    file: z.string().min(1),
    fn: z.string().min(1),
    line: z.int().min(1),
  },
  "code.ran",
);

export const WalkthroughStep = strict(
  {
    id: id("a step id"),
    /** Which run the point is in: the walkthrough's run ("main") or its comparison run. */
    run: z.enum(["main", "compare"]).default("main"),
    title: bilingual(120, "a title"),
    body: bilingual(2000, "a body"),
    at: WalkthroughPoint,
    highlight: z.array(z.string()).min(1, { error: "needs at least one part to highlight" }).max(16),
    code: strict({ ours: OurCode, qemu: QemuCode.optional(), ran: RanCode.optional() }, "code"),
    question: bilingual(500, "a question").optional(),
    answer: bilingual(2000, "an answer").optional(),
  },
  "a step",
);
export type WalkthroughStep = z.infer<typeof WalkthroughStep>;

const Irqchip = z.enum(["user", "kernel"]);

/** The run a walkthrough needs: all four given, so a change to the guest catalog cannot change a tour. */
export const WalkthroughRun = strict(
  {
    guest: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, { error: (iss) => `must be a teaching guest's name, got ${describeValue(iss.input)}` }),
    vcpus: z.int().min(1).max(MAX_VCPUS),
    memMiB: z.int().min(1).max(MAX_MEM_MIB),
    irqchip: Irqchip,
  },
  "run",
);
export type WalkthroughRun = z.infer<typeof WalkthroughRun>;

export const Walkthrough = strict(
  {
    version: z.literal(WALKTHROUGH_VERSION),
    id: id("a walkthrough id"),
    title: bilingual(120, "a title"),
    summary: bilingual(1000, "a summary"),
    run: WalkthroughRun,
    /** A second run of the same guest with the other interrupt controller, for comparing the two. */
    compare: strict({ irqchip: Irqchip }, "compare").optional(),
    steps: z.array(WalkthroughStep).min(1, { error: "needs at least one step" }).max(100),
  },
  "a walkthrough",
);
export type Walkthrough = z.infer<typeof Walkthrough>;

export type RunRole = WalkthroughStep["run"];

/** The configuration of a walkthrough's run `role` (the comparison run differs only in its irqchip). */
export function runSpecOf(w: Walkthrough, role: RunRole): WalkthroughRun {
  return role === "compare" && w.compare ? { ...w.run, irqchip: w.compare.irqchip } : w.run;
}

// ---------------------------------------------------------------------------------------------
// Errors that name the line

export interface WalkthroughProblem {
  file: string;
  /** 1-based */
  line: number;
  /** 1-based */
  col: number;
  /** The field, like "steps[3].at.exit.reason"; "" for the file as a whole. */
  path: string;
  reason: string;
}

export function formatProblem(p: WalkthroughProblem): string {
  return `${p.file}:${p.line}:${p.col}: ${p.path === "" ? "" : `${p.path}: `}${p.reason}`;
}

/** A walkthrough file that cannot be used; `message` has one line per problem, `file:line:col: field: reason`. */
export class WalkthroughError extends Error {
  override name = "WalkthroughError";
  constructor(readonly problems: readonly WalkthroughProblem[]) {
    super(problems.map(formatProblem).join("\n"));
  }
  get first(): WalkthroughProblem {
    return this.problems[0]!;
  }
}

export type FieldPath = readonly (string | number)[];

export function fieldPath(path: FieldPath): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : out === "" ? p : `.${p}`;
  return out;
}

/** A parsed file and where each of its fields is, for checks made after parsing (the VMM's loader). */
export interface ParsedWalkthrough {
  walkthrough: Walkthrough;
  fileName: string;
  /** Line and column of the field at `path` (its key when `key` is true), or of its nearest ancestor. */
  positionOf(path: FieldPath, key?: boolean): { line: number; col: number };
  /** A problem at `path`, for a WalkthroughError. */
  problemAt(path: FieldPath, reason: string): WalkthroughProblem;
}

/** Parses and checks a walkthrough file; throws a WalkthroughError naming every problem's line. */
export function parseWalkthrough(text: string, fileName: string): Walkthrough {
  return parseWalkthroughDocument(text, fileName).walkthrough;
}

export function parseWalkthroughDocument(text: string, fileName: string): ParsedWalkthrough {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, strict: true });
  const pos = (offset: number): { line: number; col: number } => lineCounter.linePos(Math.max(0, Math.min(offset, text.length)));
  if (doc.errors.length > 0) {
    // Only the first: the errors after a syntax error mostly follow from it.
    const e = doc.errors[0]!;
    throw new WalkthroughError([{ file: fileName, ...pos(e.pos[0]), path: "", reason: `not valid YAML: ${yamlReason(e.message)}` }]);
  }

  const positionOf = (path: FieldPath, key = false): { line: number; col: number } => {
    let node: unknown = doc.contents;
    let at = rangeStart(node) ?? 0;
    for (let i = 0; i < path.length; i++) {
      const part = path[i]!;
      let next: unknown;
      let keyNode: unknown;
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(part));
        keyNode = pair?.key;
        next = pair?.value;
      } else if (isSeq(node) && typeof part === "number") {
        next = node.items[part];
      }
      if (key && i === path.length - 1 && keyNode !== undefined) return pos(rangeStart(keyNode) ?? at);
      if (next === undefined || next === null) {
        // The field is missing (or empty): point at its key if it has one, else at its parent.
        return pos(rangeStart(keyNode) ?? at);
      }
      node = next;
      at = rangeStart(node) ?? at;
    }
    return pos(at);
  };
  const problemAt = (path: FieldPath, reason: string, key = false): WalkthroughProblem => ({ file: fileName, ...positionOf(path, key), path: fieldPath(path), reason });

  const value: unknown = doc.toJS({ maxAliasCount: 100 });
  if (value === null || value === undefined) {
    throw new WalkthroughError([problemAt([], "the file is empty: a walkthrough is a YAML mapping with version, id, title, summary, run and steps")]);
  }
  const parsed = Walkthrough.safeParse(value, { reportInput: true });
  if (!parsed.success) {
    const problems: WalkthroughProblem[] = [];
    const misspelt = new Set<string>();
    for (const iss of parsed.error.issues) collectIssue(iss, [], problems, problemAt, misspelt);
    // "highlight: is required" says nothing new when the same mapping has "hightlight" in it.
    throw new WalkthroughError(inFileOrder(dedupe(problems.filter((p) => !(p.reason === "is required" && misspelt.has(p.path))))));
  }
  const problems = crossCheck(parsed.data, problemAt);
  if (problems.length > 0) throw new WalkthroughError(inFileOrder(problems));
  return { walkthrough: parsed.data, fileName, positionOf, problemAt: (path, reason) => problemAt(path, reason) };
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
  return range?.[0];
}

function yamlReason(message: string): string {
  // yaml appends " at line L, column C" (we give the position up front) and sometimes a code frame.
  return message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
}

function inFileOrder(problems: WalkthroughProblem[]): WalkthroughProblem[] {
  return problems.map((p, i) => ({ p, i })).sort((a, b) => a.p.line - b.p.line || a.p.col - b.p.col || a.i - b.i).map((x) => x.p);
}

function dedupe(problems: WalkthroughProblem[]): WalkthroughProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const k = formatProblem(p);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

type ProblemAt = (path: FieldPath, reason: string, key?: boolean) => WalkthroughProblem;

/** One zod issue (at `prefix`) as problems: readable reasons, and the right option of a point's union. */
function collectIssue(iss: z.core.$ZodIssue, prefix: FieldPath, out: WalkthroughProblem[], problemAt: ProblemAt, misspelt: Set<string>): void {
  const path: (string | number)[] = [...prefix, ...(iss.path as (string | number)[])];
  const input = (iss as { input?: unknown }).input;
  switch (iss.code) {
    case "invalid_union": {
      // Only points are unions. Choose the form the author meant by the keys given.
      const options = iss.errors;
      let chosen: number | undefined;
      if (typeof input === "string") chosen = 0;
      else if (input !== null && typeof input === "object" && !Array.isArray(input)) {
        const keys = POINT_KEYS.filter((k) => k in input);
        if (keys.length > 1) {
          out.push(problemAt(path, `give one of ${quoteList(keys)}, not ${keys.length}: a step is reached at one point`));
          return;
        }
        if (keys.length === 1) chosen = 1 + POINT_KEYS.indexOf(keys[0]!);
      }
      if (chosen === 0) {
        out.push(problemAt(path, `must be "start" or a mapping with one of ${quoteList(POINT_KEYS)}, got ${describeValue(input)}`));
        return;
      }
      const branch = chosen === undefined ? undefined : options[chosen];
      if (branch === undefined) {
        out.push(problemAt(path, `must be "start" or a mapping with one of ${quoteList(POINT_KEYS)} (an ioctl, an exit filter, a marker), got ${describeValue(input)}`));
        return;
      }
      for (const sub of branch) collectIssue(sub, path, out, problemAt, misspelt);
      return;
    }
    case "unrecognized_keys": {
      out.push(problemAt([...path, iss.keys[0]!], iss.message, true));
      for (const m of iss.message.matchAll(/did you mean "([^"]+)"/g)) misspelt.add(fieldPath([...path, m[1]!]));
      return;
    }
    case "invalid_type": {
      if (input === undefined) out.push(problemAt(path, "is required"));
      else out.push(problemAt(path, `must be ${article(iss.expected)}, got ${describeValue(input)}`));
      return;
    }
    case "invalid_value": {
      const values = iss.values.map((v) => JSON.stringify(v));
      out.push(problemAt(path, values.length === 1 ? `must be ${values[0]}, got ${describeValue(input)}` : `must be one of ${values.join(", ")}, got ${describeValue(input)}`));
      return;
    }
    case "too_small": {
      if (iss.message !== "" && !iss.message.startsWith("Too small")) out.push(problemAt(path, iss.message));
      else if (iss.origin === "string") out.push(problemAt(path, "must not be empty"));
      else if (iss.origin === "array") out.push(problemAt(path, `needs at least ${iss.minimum} item(s)`));
      else out.push(problemAt(path, `must be at least ${iss.minimum}, got ${describeValue(input)}`));
      return;
    }
    case "too_big": {
      if (iss.message !== "" && !iss.message.startsWith("Too big")) out.push(problemAt(path, iss.message));
      else if (iss.origin === "array") out.push(problemAt(path, `may have at most ${iss.maximum} items`));
      else out.push(problemAt(path, `must be at most ${formatBound(path, Number(iss.maximum))}, got ${describeValue(input)}`));
      return;
    }
    default:
      out.push(problemAt(path, iss.message));
  }
}

function article(expected: string): string {
  if (expected === "object") return YAML_WORDS.object;
  if (expected === "array") return YAML_WORDS.array;
  if (expected === "int") return "a whole number";
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

function formatBound(path: FieldPath, n: number): string {
  const last = path.at(-1);
  return last === "port" || last === "addr" ? `0x${n.toString(16)}` : String(n);
}

// ---------------------------------------------------------------------------------------------
// Checks across fields (the schema checks each field alone)

const JAPANESE = /[\u3040-\u30ff\u3400-\u9fff]/;
const BILINGUAL_FIELDS = ["title", "body", "question", "answer"] as const;

function crossCheck(w: Walkthrough, problemAt: ProblemAt): WalkthroughProblem[] {
  const out: WalkthroughProblem[] = [];
  const checkText = (path: FieldPath, t: { en: string; ja: string } | undefined): void => {
    if (t === undefined) return;
    if (!JAPANESE.test(t.ja)) out.push(problemAt([...path, "ja"], "has no Japanese in it: write the Japanese text here (the English goes in en)"));
    if (JAPANESE.test(t.en)) out.push(problemAt([...path, "en"], "contains Japanese: the English text goes here, the Japanese in ja"));
  };
  checkText(["title"], w.title);
  checkText(["summary"], w.summary);

  if (w.compare && w.compare.irqchip === w.run.irqchip) {
    out.push(problemAt(["compare", "irqchip"], `is the same as run.irqchip (${w.run.irqchip}): the comparison run exists to use the other one`));
  }
  if (w.compare && !w.steps.some((s) => s.run === "compare")) {
    out.push(problemAt(["compare"], 'no step is in the compare run: give at least one step "run: compare", or leave compare out'));
  }

  const firstIndex = new Map<string, number>();
  const seenRun = new Set<RunRole>();
  w.steps.forEach((step, i) => {
    const at = (...rest: (string | number)[]): FieldPath => ["steps", i, ...rest];
    const earlier = firstIndex.get(step.id);
    if (earlier !== undefined) out.push(problemAt(at("id"), `"${step.id}" is already the id of steps[${earlier}]: step ids must be unique`));
    else firstIndex.set(step.id, i);
    for (const f of BILINGUAL_FIELDS) checkText(at(f), step[f]);
    if ((step.question === undefined) !== (step.answer === undefined)) {
      out.push(problemAt(at(step.question ? "question" : "answer"), step.question ? "a question needs an answer (answer: {en, ja})" : "an answer needs its question (question: {en, ja})"));
    }

    if (step.run === "compare" && !w.compare) {
      out.push(problemAt(at("run"), 'there is no compare run: add "compare: {irqchip: ...}" at the top level'));
      return;
    }
    const spec = runSpecOf(w, step.run);
    const point = step.at;
    if (point === "start" && seenRun.has(step.run)) {
      out.push(problemAt(at("at"), `"start" can only be the first step of the ${step.run} run: a later step cannot go back to it`));
    }
    seenRun.add(step.run);
    checkPoint(point, spec, (rest, reason) => out.push(problemAt(at("at", ...rest), reason)));
    checkHighlights(step.highlight, spec, (j, reason) => out.push(problemAt(at("highlight", j), reason)));
    checkQemu(step.code.qemu, (rest, reason) => out.push(problemAt(at("code", "qemu", ...rest), reason)));
    if (step.code.ran !== undefined) {
      const problem = qemu014LineProblem(step.code.ran.file, step.code.ran.line, step.code.ran.fn);
      if (problem !== null) out.push(problemAt(at("code", "ran"), problem));
    }
  });
  return out;
}

function checkThread(thread: string | undefined, spec: WalkthroughRun, report: (path: FieldPath, reason: string) => void): void {
  if (thread === undefined || thread === "main") return;
  const n = threadIndex(thread) ?? 0;
  if (n >= spec.vcpus) report(["thread"], `the run has ${spec.vcpus} vCPU(s), so there is no thread ${thread}`);
}

const USER_IRQCHIP_IOCTLS = new Set(["KVM_INTERRUPT"]);
const KERNEL_IRQCHIP_IOCTLS = new Set(["KVM_CREATE_IRQCHIP", "KVM_CREATE_PIT2", "KVM_IRQ_LINE"]);
/** Exits that never reach userspace with the in-kernel irqchip: KVM sleeps the vCPU and opens windows itself. */
const USER_IRQCHIP_EXITS = new Set<number>([KvmExit.HLT, KvmExit.IRQ_WINDOW_OPEN]);

function checkPoint(point: WalkthroughPoint, spec: WalkthroughRun, report: (path: FieldPath, reason: string) => void): void {
  if (point === "start") return;
  if ("ioctl" in point) {
    if (point.ioctl === "KVM_RUN") {
      report(["ioctl"], "KVM_RUN is recorded as the exit it returns with: point at it with at.exit (an ioctl record of KVM_RUN appears only when it fails with EINTR)");
    } else if (USER_IRQCHIP_IOCTLS.has(point.ioctl) && spec.irqchip !== "user") {
      report(["ioctl"], `${point.ioctl} is only issued with the userspace irqchip; this run has irqchip ${spec.irqchip}`);
    } else if (KERNEL_IRQCHIP_IOCTLS.has(point.ioctl) && spec.irqchip !== "kernel") {
      report(["ioctl"], `${point.ioctl} is only issued with the in-kernel irqchip; this run has irqchip ${spec.irqchip}`);
    }
    checkThread(point.thread, spec, report);
    return;
  }
  if ("marker" in point) {
    checkThread(point.thread, spec, report);
    return;
  }
  const f = point.exit;
  const p = (k: string): FieldPath => ["exit", k];
  if (Object.values(f).every((v) => v === undefined)) {
    report(["exit"], 'give at least one of "reason", "port", "direction", "addr", "vcpu" (for the next exit of any kind, name its vCPU)');
    return;
  }
  const code = f.reason === undefined ? undefined : exitReasonCode(f.reason);
  const isIoDirection = f.direction === "in" || f.direction === "out";
  const isMmioDirection = f.direction === "read" || f.direction === "write";
  if (f.port !== undefined && f.addr !== undefined) report(p("addr"), "an exit has a port (KVM_EXIT_IO) or an address (KVM_EXIT_MMIO), never both");
  if ((f.port !== undefined || isIoDirection) && code !== undefined && code !== KvmExit.IO) {
    report(p(f.port !== undefined ? "port" : "direction"), `only KVM_EXIT_IO has ${f.port !== undefined ? "a port" : `direction "${f.direction}"`}, and the reason here is ${f.reason}`);
  }
  if ((f.addr !== undefined || isMmioDirection) && code !== undefined && code !== KvmExit.MMIO) {
    report(p(f.addr !== undefined ? "addr" : "direction"), `only KVM_EXIT_MMIO has ${f.addr !== undefined ? "an address" : `direction "${f.direction}"`}, and the reason here is ${f.reason}`);
  }
  if (f.port !== undefined && isMmioDirection) report(p("direction"), `port I/O goes "in" or "out"; "${f.direction}" is for KVM_EXIT_MMIO`);
  if (f.addr !== undefined && isIoDirection) report(p("direction"), `MMIO is a "read" or a "write"; "${f.direction}" is for KVM_EXIT_IO`);
  if (f.vcpu !== undefined && f.vcpu >= spec.vcpus) report(p("vcpu"), `the run has ${spec.vcpus} vCPU(s), numbered from 0`);
  if (code !== undefined && USER_IRQCHIP_EXITS.has(code) && spec.irqchip === "kernel") {
    report(p("reason"), `${f.reason} never reaches userspace with the in-kernel irqchip (KVM handles it): this run has irqchip kernel`);
  }
}

function checkHighlights(ids: readonly string[], spec: WalkthroughRun, report: (index: number, reason: string) => void): void {
  const seen = new Set<string>();
  ids.forEach((h, j) => {
    if (seen.has(h)) report(j, `"${h}" is listed twice`);
    seen.add(h);
    const vcpu = /^vcpu(\d+)$/.exec(h);
    if (vcpu) {
      if (Number(vcpu[1]) >= spec.vcpus) report(j, `the run has ${spec.vcpus} vCPU(s), so there is no ${h}`);
      return;
    }
    if (h.startsWith("lifecycle:")) {
      const step = h.slice("lifecycle:".length);
      const known: readonly string[] = [...LIFECYCLE_EVENTS, ...IOCTL_NAMES];
      if (!known.includes(step)) report(j, `"${step}" is not a lifecycle step${didYouMean(closestName(step, known))}: use an ioctl name or one of ${quoteList(LIFECYCLE_EVENTS)}`);
      return;
    }
    const parts: readonly string[] = THREAD_MODEL_PARTS;
    if (!parts.includes(h)) {
      report(j, `"${h}" is not a part of the thread model${didYouMean(closestName(h, parts))}: use ${quoteList(parts)}, "vcpu<N>" or "lifecycle:<step>"`);
      return;
    }
    if (USER_IRQCHIP_PARTS.has(h) && spec.irqchip !== "user") report(j, `"${h}" is in userspace only with irqchip user; this run has the in-kernel irqchip ("kernel-irqchip")`);
    if (KERNEL_IRQCHIP_PARTS.has(h) && spec.irqchip !== "kernel") report(j, `"${h}" exists only with irqchip kernel; this run keeps its PIC and PIT in userspace ("dev:pic", "dev:pit")`);
  });
}

function checkQemu(q: { file: string; fn: string; line?: number | undefined } | undefined, report: (path: FieldPath, reason: string) => void): void {
  if (q === undefined) return;
  const known = qemuByFn.get(q.fn);
  if (!known) {
    report(["fn"], `${q.fn} is not one of the article's qemu-kvm 0.14 functions${didYouMean(closestName(q.fn, [...qemuByFn.keys()]))} (see QEMU_ARTICLE_FUNCTIONS)`);
    return;
  }
  if (q.file !== known.file) report(["file"], `${q.fn} is in ${known.file} in qemu-kvm 0.14, not ${q.file}`);
  if (q.line === undefined) return;
  if (known.shown) {
    if (q.line < known.shown.from || q.line > known.shown.to) report(["line"], `the article shows ${q.fn} at lines ${known.shown.from}-${known.shown.to}; ${q.line} is outside it`);
  } else if (!(known.calledAt ?? []).includes(q.line)) {
    const calls = known.calledAt ?? [];
    report(["line"], `the article does not show ${q.fn}'s body${calls.length > 0 ? `; it shows its call at line ${calls.join(" and ")} of ${known.file}` : ""}: leave line out${calls.length > 0 ? " or give the call's line" : ""}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Matching points against records (pure)

export type PointKind = "start" | "ioctl" | "exit" | "marker";

export function pointKind(point: WalkthroughPoint): PointKind {
  if (point === "start") return "start";
  if ("ioctl" in point) return "ioctl";
  if ("exit" in point) return "exit";
  return "marker";
}

function nthOf(point: WalkthroughPoint): number {
  return point === "start" ? 1 : point.nth;
}

/** Whether `record` is of the kind `point` names (nth aside). "start" is matched by any record. */
export function recordMatchesPoint(point: WalkthroughPoint, record: TraceRecord): boolean {
  if (point === "start") return true;
  if ("ioctl" in point) return record.type === "ioctl" && record.name === point.ioctl && (point.thread === undefined || record.thread === point.thread);
  if ("marker" in point) return record.type === "marker" && record.text.includes(point.marker) && (point.thread === undefined || record.thread === point.thread);
  if (record.type !== "exit") return false;
  const f = point.exit;
  if (f.reason !== undefined && record.reason !== f.reason && record.code !== exitReasonCode(f.reason)) return false;
  if (f.vcpu !== undefined && record.vcpu !== f.vcpu) return false;
  if (f.port !== undefined && record.io?.port !== f.port) return false;
  if (f.addr !== undefined && record.mmio?.addr !== f.addr) return false;
  if (f.direction !== undefined) {
    const direction = record.io ? record.io.direction : record.mmio ? (record.mmio.isWrite ? "write" : "read") : undefined;
    if (direction !== f.direction) return false;
  }
  return true;
}

/** How far a search for one point has got: records matching its kind passed since the search began. */
export interface PointCounter {
  matched: number;
}

/**
 * Pure: whether `record` is where `point` is reached, when `counter.matched` records matching
 * it were passed before this one (since the previous step's point). The caller counts.
 */
export function pointMatches(point: WalkthroughPoint, record: TraceRecord, counter: Readonly<PointCounter>): boolean {
  return recordMatchesPoint(point, record) && counter.matched + 1 === nthOf(point);
}

const ordinal = (n: number): string => {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? "th" : ["th", "st", "nd", "rd"][n % 10] ?? "th";
  return `${n}${suffix}`;
};

/** The point in words: "the 2nd KVM_EXIT_IO out on port 0x3f8 on vCPU 0". */
export function describePoint(point: WalkthroughPoint): string {
  if (point === "start") return "the start of the run";
  return `${point.nth === 1 ? "the first" : `the ${ordinal(point.nth)}`} ${describeKind(point)}`;
}

/** What records a point looks for, nth aside: "KVM_EXIT_IO out on port 0x3f8". */
export function describeKind(point: WalkthroughPoint): string {
  if (point === "start") return "record";
  if ("ioctl" in point) return `${point.ioctl}${point.thread ? ` on thread ${point.thread}` : ""}`;
  if ("marker" in point) return `marker containing ${JSON.stringify(point.marker)}${point.thread ? ` on thread ${point.thread}` : ""}`;
  const f = point.exit;
  const parts = [f.reason ?? "exit"];
  if (f.direction) parts.push(f.direction);
  if (f.port !== undefined) parts.push(`on port 0x${f.port.toString(16)}`);
  if (f.addr !== undefined) parts.push(`at 0x${f.addr.toString(16)}`);
  if (f.vcpu !== undefined) parts.push(`on vCPU ${f.vcpu}`);
  return parts.join(" ");
}

export type PointSearch =
  | { found: true; seq: number; index: number }
  | { found: false; matched: number; reason: string };

/**
 * Searches `records` (sorted by seq) from the first record with seq >= `fromSeq` for `point`.
 * On failure says how many matching records there were, so "not yet" can be told from "never".
 */
export function locatePoint(point: WalkthroughPoint, records: readonly TraceRecord[], fromSeq = 0): PointSearch {
  const counter: PointCounter = { matched: 0 };
  let i = lowerBound(records.length, (k) => records[k]!.seq < fromSeq);
  for (; i < records.length; i++) {
    const r = records[i]!;
    if (pointMatches(point, r, counter)) return { found: true, seq: r.seq, index: i };
    if (recordMatchesPoint(point, r)) counter.matched++;
  }
  const from = fromSeq > 0 ? ` from seq ${fromSeq} on` : "";
  const reason = counter.matched === 0
    ? `no ${describeKind(point)}${from}`
    : `only ${counter.matched} ${describeKind(point)}${from}, and this step wants ${describePoint(point)}`;
  return { found: false, matched: counter.matched, reason };
}


export interface LocatedStep {
  index: number;
  stepId: string;
  run: RunRole;
  seq: number;
}

export type LocateResult =
  | { ok: true; steps: LocatedStep[] }
  | { ok: false; steps: LocatedStep[]; failed: { index: number; stepId: string; run: RunRole; reason: string } };

/** Records of each run of a walkthrough; a plain array is the main run's. */
export type RunRecords = readonly TraceRecord[] | { main?: readonly TraceRecord[]; compare?: readonly TraceRecord[] };

/**
 * Where each step is reached in the runs' records, in order: each step's point is searched from
 * the previous point of the same run on. Stops at the first step that cannot be reached, saying why.
 */
export function locateSteps(w: Walkthrough, records: RunRecords): LocateResult {
  const byRun: Partial<Record<RunRole, readonly TraceRecord[]>> = Array.isArray(records)
    ? { main: records as readonly TraceRecord[] }
    : (records as { main?: readonly TraceRecord[]; compare?: readonly TraceRecord[] });
  const sorted: Partial<Record<RunRole, readonly TraceRecord[]>> = {};
  const cursor: Partial<Record<RunRole, number>> = {};
  const steps: LocatedStep[] = [];
  for (let index = 0; index < w.steps.length; index++) {
    const step = w.steps[index]!;
    const fail = (reason: string): LocateResult => ({ ok: false, steps, failed: { index, stepId: step.id, run: step.run, reason } });
    let recs = sorted[step.run];
    if (recs === undefined) {
      const given = byRun[step.run];
      if (given === undefined) return fail(`no records of the ${step.run} run were given`);
      recs = sortedBySeq(given);
      sorted[step.run] = recs;
    }
    const from = cursor[step.run] ?? 0;
    const hit = locatePoint(step.at, recs, from);
    if (!hit.found) return fail(hit.reason);
    cursor[step.run] = hit.seq;
    steps.push({ index, stepId: step.id, run: step.run, seq: hit.seq });
  }
  return { ok: true, steps };
}

