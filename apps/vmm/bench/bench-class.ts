// `kvmscope bench-class`: what a class of students costs the teacher and the VM.
//
// The service (RunManager + HTTP/WebSocket server) runs in this process, as `kvmscope serve`
// would. The students run in a child process (forked from this file), so their CPU time (40
// WebSocket clients reading frames) is not the service's event loop. Each student holds what a
// student's page holds: a session socket (/ws?session=CODE) and a run socket (/ws?run=ID) that
// reads every record batch (it counts the bytes; decoding them is the student's browser's work,
// on the student's machine).
//
// On one machine the students still share the cores with the service and the vCPU thread, which
// a classroom's browsers would not. So the class is measured twice: once "niced" (the students'
// process at nice 19: it gets only CPU time nobody else wants, which isolates what the service
// itself pays for 40 students) and once at normal priority ("same cores": everything on one box).
//
// Two measurements, each with 0 students, the niced class and the same-cores class, alternating,
// best kept over the rounds for exits/s and every sample kept for latencies:
// 1. the teacher's advance latency over every step of walkthrough "exit-loop" (POST .../advance
//    until the answer), median and p90; plus how long after the teacher's click the last
//    student's socket showed the step reached;
// 2. a free-running pio-loop run in the same service, watched by every student (run socket) while
//    their session sockets stay open: exits/s from the stored records' timestamps, and the CPU
//    time the service and the students' process used meanwhile.
import { fork } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, setPriority, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { WebSocket } from "ws";
import { decodeBatch, TEACHER_TOKEN_HEADER } from "@kvmscope/shared";
import type { RunManager } from "@kvmscope/vmm";

const STUDENTS_CHILD = "--kvmscope-class-bench-students";
const WALKTHROUGH = "exit-loop";

/** Wall-clock milliseconds with sub-millisecond resolution, comparable between the two processes. */
const now = (): number => performance.timeOrigin + performance.now();

// ---------------------------------------------------------------------------------------------
// The students (child process)

type ToStudents =
  | { type: "join"; url: string; code: string; runId: string; students: number }
  | { type: "watch"; runId: string }
  | { type: "report" }
  | { type: "leave" };

export interface StudentsReport {
  type: "report";
  /** Per step index: when (now()) the last student's session socket showed it reached and not busy. */
  lastSawStep: (number | null)[];
  /** The lowest, over students, of the highest step each saw. */
  minStepSeen: number;
  sessionFrames: number;
  runBytes: number;
  skippedFrames: number;
  /** The students' process's CPU time so far (user + system), ms. */
  cpuMs: number;
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function openSocket(url: string, onMessage: (data: Buffer, isBinary: boolean) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.on("message", (data, isBinary) => onMessage(data as Buffer, isBinary));
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

async function studentsChild(): Promise<void> {
  interface Student {
    session: WebSocket;
    run: WebSocket | null;
    maxStep: number;
    sawFirst: Promise<void>;
  }
  let students: Student[] = [];
  let base = "";
  let lastSawStep: (number | null)[] = [];
  let sessionFrames = 0;
  let runBytes = 0;
  let skippedFrames = 0;
  const send = (msg: unknown): void => void process.send?.(msg);

  const watch = async (runId: string): Promise<void> => {
    await Promise.all(students.map(async (s) => {
      s.run?.close();
      let hello!: () => void;
      const greeted = new Promise<void>((resolve) => (hello = resolve));
      s.run = await openSocket(`${base}/ws?run=${runId}`, (data, isBinary) => {
        if (isBinary) {
          runBytes += data.byteLength;
          return;
        }
        const msg = JSON.parse(data.toString("utf8")) as { type: string };
        if (msg.type === "hello") hello();
        if (msg.type === "skipped") skippedFrames++;
      });
      await greeted;
    }));
  };

  process.on("message", (raw) => {
    const msg = raw as ToStudents;
    void (async () => {
      switch (msg.type) {
        case "join": {
          base = msg.url.replace(/^http/, "ws");
          lastSawStep = [];
          students = await Promise.all(Array.from({ length: msg.students }, async () => {
            let first!: () => void;
            const s: Student = { session: null as unknown as WebSocket, run: null, maxStep: -1, sawFirst: new Promise((resolve) => (first = resolve)) };
            s.session = await openSocket(`${base}/ws?session=${msg.code}`, (data) => {
              const at = now();
              sessionFrames++;
              const frame = JSON.parse(data.toString("utf8")) as { type: string; session?: { step: number; busy: boolean } };
              if (frame.type !== "session" || !frame.session) return;
              first();
              const { step, busy } = frame.session;
              if (!busy && step >= 0) {
                s.maxStep = Math.max(s.maxStep, step);
                // The last student to see it decides when "the class" saw it.
                const prev = lastSawStep[step];
                if (prev === undefined || prev === null || at > prev) lastSawStep[step] = at;
              }
            });
            return s;
          }));
          await Promise.all(students.map((s) => s.sawFirst));
          await watch(msg.runId);
          send({ type: "joined", cpuMs: cpuMs() });
          break;
        }
        case "watch":
          await watch(msg.runId);
          send({ type: "watching" });
          break;
        case "report": {
          const report: StudentsReport = {
            type: "report", lastSawStep, minStepSeen: Math.min(...students.map((s) => s.maxStep)), sessionFrames, runBytes, skippedFrames, cpuMs: cpuMs(),
          };
          send(report);
          break;
        }
        case "leave":
          for (const s of students) {
            s.session.close();
            s.run?.close();
          }
          students = [];
          sessionFrames = 0;
          runBytes = 0;
          skippedFrames = 0;
          send({ type: "left" });
          break;
      }
    })().catch((err: unknown) => {
      send({ type: "failed", message: (err as Error).stack ?? String(err) });
    });
  });
  send({ type: "ready" });
}

if (process.argv[2] === STUDENTS_CHILD && process.send !== undefined) void studentsChild();

// ---------------------------------------------------------------------------------------------
// The teacher and the service (this process)

class Students {
  readonly #child = fork(fileURLToPath(import.meta.url), [STUDENTS_CHILD], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  #waiting: { type: string; resolve: (msg: Record<string, unknown>) => void; reject: (err: Error) => void } | null = null;

  constructor(readonly count: number, nice: boolean) {
    if (nice && this.#child.pid !== undefined) setPriority(this.#child.pid, 19);
    this.#child.on("message", (raw) => {
      const msg = raw as Record<string, unknown> & { type: string };
      const w = this.#waiting;
      if (w === null) return;
      this.#waiting = null;
      if (msg.type === "failed") w.reject(new Error(`the students' process failed: ${String(msg.message)}`));
      else if (msg.type !== w.type) w.reject(new Error(`the students' process said ${msg.type}, not ${w.type}`));
      else w.resolve(msg);
    });
    this.#child.on("exit", (code) => this.#waiting?.reject(new Error(`the students' process exited with ${code}`)));
  }

  ready(): Promise<unknown> {
    return this.#expect("ready");
  }

  ask(msg: ToStudents, reply: string): Promise<Record<string, unknown>> {
    const answer = this.#expect(reply);
    this.#child.send(msg);
    return answer;
  }

  #expect(type: string): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      this.#waiting = { type, resolve, reject };
    });
  }

  kill(): void {
    this.#child.kill();
  }
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

function stats(samples: readonly number[]): { median: number; p90: number; max: number; n: number } {
  const s = [...samples].sort((a, b) => a - b);
  const round = (x: number): number => Number(x.toFixed(1));
  return { median: round(quantile(s, 0.5)), p90: round(quantile(s, 0.9)), max: round(s.at(-1) ?? Number.NaN), n: s.length };
}

async function post(url: string, body: unknown, token?: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token !== undefined) headers[TEACHER_TOKEN_HEADER] = token;
  const res = await fetch(url, { method: "POST", headers, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Exits/s of a stored run in its steady state (after its first 10% of exits), from its records. */
async function storedExitsPerSec(m: RunManager, id: string): Promise<{ rate: number; lost: number }> {
  const ts: number[] = [];
  let lost = 0;
  for await (const bytes of m.store.streamRecords(id)) {
    for (const r of decodeBatch(bytes)) {
      if (r.type === "exit") ts.push(r.ts);
      else if (r.type === "lost") lost += r.count;
    }
  }
  const skip = Math.floor(ts.length / 10);
  const first = ts[skip] ?? 0;
  let last = first;
  for (let i = skip; i < ts.length; i++) if (ts[i]! > last) last = ts[i]!;
  return { rate: ((ts.length - 1 - skip) * 1e9) / (last - first), lost };
}

interface AdvanceRound {
  teacherMs: number[];
  /** From the teacher's click to the last student's socket showing the step reached. */
  classSawMs: number[];
  everyStudentSawEveryStep: boolean;
  sessionFrames: number;
}

async function advanceRound(base: string, students: Students | null): Promise<AdvanceRound> {
  const created = await post(`${base}/api/sessions`, { walkthrough: WALKTHROUGH });
  if (created.status !== 201) throw new Error(`POST /api/sessions: ${created.status} ${JSON.stringify(created.body)}`);
  const session = created.body.session as { code: string; runs: { main: string } };
  const token = created.body.teacherToken as string;
  if (students) await students.ask({ type: "join", url: base, code: session.code, runId: session.runs.main, students: students.count }, "joined");
  const teacherMs: number[] = [];
  const clicks: number[] = [];
  for (let step = 0; ; step++) {
    const t0 = now();
    const r = await post(`${base}/api/sessions/${session.code}/advance`, {}, token);
    const t1 = now();
    if (r.status === 409 && String(r.body.error).includes("last step")) break;
    if (r.status !== 200) throw new Error(`advance to step ${step + 1}: ${r.status} ${JSON.stringify(r.body)}`);
    teacherMs.push(t1 - t0);
    clicks.push(t0);
  }
  let classSawMs: number[] = [];
  let everyStudentSawEveryStep = true;
  let sessionFrames = 0;
  if (students) {
    // The last frame may still be on its way when the teacher's answer arrives.
    await new Promise((r) => setTimeout(r, 200));
    const report = (await students.ask({ type: "report" }, "report")) as unknown as StudentsReport;
    classSawMs = clicks.map((t, i) => (report.lastSawStep[i] ?? Number.NaN) - t);
    everyStudentSawEveryStep = report.minStepSeen === clicks.length - 1 && classSawMs.every(Number.isFinite);
    sessionFrames = report.sessionFrames;
    await students.ask({ type: "leave" }, "left");
  }
  const end = await post(`${base}/api/sessions/${session.code}/end`, {}, token);
  if (end.status !== 200) throw new Error(`end: ${end.status} ${JSON.stringify(end.body)}`);
  return { teacherMs, classSawMs, everyStudentSawEveryStep, sessionFrames };
}

interface WatchedRound {
  rate: number;
  lost: number;
  runBytes: number;
  skippedFrames: number;
  /** CPU time over the run's wall time: the service's process and the students', in cores. */
  serviceCores: number;
  studentsCores: number;
}

async function watchedRound(m: RunManager, base: string, students: Students | null, exits: number): Promise<WatchedRound> {
  // The students sit in a class session (session sockets open) and all watch the free run.
  const created = await post(`${base}/api/sessions`, { walkthrough: WALKTHROUGH });
  const session = created.body.session as { code: string };
  const token = created.body.teacherToken as string;
  const run = await m.createRun({ guest: "pio-loop", maxExits: exits, memMiB: 2, mode: "step" });
  let runBytes = 0;
  let skippedFrames = 0;
  let studentsCpu = 0;
  if (students) {
    const joined = await students.ask({ type: "join", url: base, code: session.code, runId: run.id, students: students.count }, "joined");
    studentsCpu = -Number(joined.cpuMs);
  }
  const cpu0 = process.cpuUsage();
  const t0 = now();
  await m.control(run.id, { action: "resume" });
  await m.whenFinished(run.id);
  const wall = now() - t0;
  const cpu = process.cpuUsage(cpu0);
  if (students) {
    await new Promise((r) => setTimeout(r, 200));
    const report = (await students.ask({ type: "report" }, "report")) as unknown as StudentsReport;
    runBytes = report.runBytes;
    skippedFrames = report.skippedFrames;
    studentsCpu += report.cpuMs;
    await students.ask({ type: "leave" }, "left");
  }
  await post(`${base}/api/sessions/${session.code}/end`, {}, token);
  const { rate, lost } = await storedExitsPerSec(m, run.id);
  // The service's process includes the vCPU thread (one core while the guest runs).
  return { rate, lost, runBytes, skippedFrames, serviceCores: (cpu.user + cpu.system) / 1000 / wall, studentsCores: studentsCpu / (wall + 200) };
}

export async function runClassBench(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, strict: true, options: { students: { type: "string" }, rounds: { type: "string" }, exits: { type: "string" } } });
  // Loaded here, not at the top: the students' process loads this file too and needs none of the VMM.
  const { ConfigError, RunManager, startServer } = await import("@kvmscope/vmm");
  const n = Number(values.students ?? 40);
  const rounds = Number(values.rounds ?? 3);
  const exits = Number(values.exits ?? 300_000);
  if (!Number.isInteger(n) || n < 1 || n > 500) throw new ConfigError(`--students must be 1-500, got ${values.students}`);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) throw new ConfigError(`--rounds must be 1-20, got ${values.rounds}`);
  if (!Number.isInteger(exits) || exits < 20_000) throw new ConfigError(`--exits must be a whole number >= 20000, got ${values.exits}`);

  const dataDir = mkdtempSync(join(tmpdir(), "kvmscope-bench-class-"));
  const m = await RunManager.open({ dataDir, limits: { maxConcurrentRuns: 8, maxRunSeconds: 3600 } });
  const server = await startServer(m, { port: 0, host: "127.0.0.1", maxBodyBytes: 1024 * 1024 });
  const niced = new Students(n, true);
  const sameCores = new Students(n, false);
  const out = (line: string): void => void process.stdout.write(`${line}\n`);
  try {
    await Promise.all([niced.ready(), sameCores.ready()]);
    out(`walkthrough ${WALKTHROUGH}, every step, ${rounds} rounds; pio-loop ${exits} exits per run, best of ${rounds}. ${n} students, each a session socket and a run socket, in a child process: "niced" at nice 19, "same cores" at normal priority, on this ${cpus().length}-core host`);

    const groups = [
      { name: "0 students", students: null },
      { name: `${n} students (niced)`, students: niced },
      { name: `${n} students (same cores)`, students: sameCores },
    ] as const;
    const advances: AdvanceRound[][] = groups.map(() => []);
    for (let i = 0; i < rounds; i++) {
      for (const [g, group] of groups.entries()) advances[g]!.push(await advanceRound(server.url, group.students));
    }
    const teacher = advances.map((rs) => stats(rs.flatMap((r) => r.teacherMs)));
    const classSaw = advances.map((rs) => stats(rs.flatMap((r) => r.classSawMs)));
    groups.forEach((group, g) => {
      const t = teacher[g]!;
      const c = classSaw[g]!;
      out(`  advance, ${group.name}: teacher median ${t.median} ms, p90 ${t.p90} ms${group.students ? `; the last student saw the step ${c.median} ms (median), ${c.p90} ms (p90) after the click` : ""}`);
    });

    const watched: WatchedRound[] = groups.map(() => ({ rate: 0, lost: 0, runBytes: 0, skippedFrames: 0, serviceCores: 0, studentsCores: 0 }));
    for (let i = 0; i < rounds; i++) {
      for (const [g, group] of groups.entries()) {
        const w = await watchedRound(m, server.url, group.students, exits);
        if (w.rate > watched[g]!.rate) watched[g] = w;
      }
    }
    groups.forEach((group, g) => {
      const w = watched[g]!;
      out(`  pio-loop, ${group.name}: ${Math.round(w.rate)} exits/s; service process ${w.serviceCores.toFixed(2)} cores (vCPU thread included), students ${w.studentsCores.toFixed(2)} cores; ${(w.runBytes / 1e6).toFixed(0)} MB read, ${w.skippedFrames} thinning markers, ${w.lost} records lost`);
    });

    const ratio = (a: number, b: number): number => Number((a / b).toFixed(3));
    const [t0, tN, tS] = teacher as [ReturnType<typeof stats>, ReturnType<typeof stats>, ReturnType<typeof stats>];
    const [w0, wN, wS] = watched as [WatchedRound, WatchedRound, WatchedRound];
    out(JSON.stringify({
      students: n,
      rounds,
      cores: cpus().length,
      steps: t0.n / rounds,
      advanceMs: { alone: t0, niced: tN, sameCores: tS },
      advanceMedianRatio: { niced: ratio(tN.median, t0.median), sameCores: ratio(tS.median, t0.median) },
      advanceP90Ratio: { niced: ratio(tN.p90, t0.p90), sameCores: ratio(tS.p90, t0.p90) },
      lastStudentSawStepMs: { niced: classSaw[1], sameCores: classSaw[2] },
      everyStudentSawEveryStep: advances.slice(1).every((rs) => rs.every((r) => r.everyStudentSawEveryStep)),
      exitsPerSec: { alone: Math.round(w0.rate), niced: Math.round(wN.rate), sameCores: Math.round(wS.rate) },
      exitsRatio: { niced: ratio(wN.rate, w0.rate), sameCores: ratio(wS.rate, w0.rate) },
      serviceCores: { alone: ratio(w0.serviceCores, 1), niced: ratio(wN.serviceCores, 1), sameCores: ratio(wS.serviceCores, 1) },
      studentsCores: { niced: ratio(wN.studentsCores, 1), sameCores: ratio(wS.studentsCores, 1) },
      recordMBPerStudent: { niced: Math.round(wN.runBytes / n / 1e6), sameCores: Math.round(wS.runBytes / n / 1e6) },
      skippedFrames: { niced: wN.skippedFrames, sameCores: wS.skippedFrames },
      lostRecords: { alone: w0.lost, niced: wN.lost, sameCores: wS.lost },
    }));
    return 0;
  } finally {
    niced.kill();
    sameCores.kill();
    await server.close();
    await m.shutdown();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
