// `npm start` (scripts/start.mjs) and Ctrl-C: the terminal signals its whole foreground process
// group. The service must hear of it once, from start.mjs (SIGTERM), and have the time to store
// the last records of its live runs; start.mjs says, by its status, whether both stopped cleanly.
// The web app's own start is tested in apps/web/test/e2e/start.test.ts.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const START = join(ROOT, "scripts", "start.mjs");
const built = existsSync(join(ROOT, "apps", "web", ".next", "BUILD_ID"));
if (!built) console.warn("[vmm] skipping the npm start tests: the web app is not built (npm run build)");

const dirs: string[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** start.mjs in a process group of its own, as a terminal runs a command: the group is what Ctrl-C signals. */
async function start(): Promise<Started> {
  const data = mkdtempSync(join(tmpdir(), "kvmscope-start-signals-"));
  dirs.push(data);
  const child = spawn(process.execPath, [START, "--port", String(await freePort()), "--service-port", String(await freePort()), "--data", data], {
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once("exit", (code, signal) => r({ code, signal })));
  for (let i = 0; i < 600 && !out.includes("kvmscope is ready"); i++) await new Promise((r) => setTimeout(r, 100));
  expect(out).toContain("kvmscope is ready");
  return { child, output: () => out, exited };
}

function children(parent: number): { pid: number; args: string }[] {
  let text = "";
  try {
    text = execFileSync("ps", ["-o", "pid=,args=", "--ppid", String(parent)], { encoding: "utf8" });
  } catch {
    return []; // ps exits 1 when there are none
  }
  return text.split("\n").filter((l) => l.trim() !== "").map((l) => {
    const [pid, ...args] = l.trim().split(/\s+/);
    return { pid: Number(pid), args: args.join(" ") };
  });
}

/** The pid of start.mjs's child whose command line contains `word`. */
function childPid(parent: number, word: string): number {
  const found = children(parent).find((c) => c.args.includes(word));
  if (found === undefined) throw new Error(`no child of ${parent} runs ${word}`);
  return found.pid;
}

/** Whatever a failed test left running: start.mjs and its children (each in a group of its own). */
function killAll(s: Started): void {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return;
  for (const c of children(s.child.pid!)) {
    try {
      process.kill(c.pid, "SIGKILL");
    } catch {
      // gone already
    }
  }
  s.child.kill("SIGKILL");
}

describe.skipIf(!built)("npm start and Ctrl-C", () => {
  it("stops the service once, with SIGTERM from start.mjs, when the terminal signals the whole group", async () => {
    const s = await start();
    try {
      process.kill(-s.child.pid!, "SIGINT"); // what Ctrl-C in a terminal does
      expect(await s.exited).toEqual({ code: 0, signal: null });
      // The terminal's SIGINT reached start.mjs alone; the service heard one SIGTERM and finished its shutdown.
      expect(s.output()).toContain("kvmscope serve: SIGTERM: stopping live runs");
      expect(s.output()).not.toContain("kvmscope serve: SIGINT");
      expect(s.output()).toContain("kvmscope serve: stopped");
    } finally {
      killAll(s);
    }
  }, 90_000);

  it("exits with a status other than 0 when a child is killed while they stop", async () => {
    const s = await start();
    try {
      const service = childPid(s.child.pid!, " serve ");
      // Held still, the service cannot finish before start.mjs has begun to stop; then it is killed.
      process.kill(service, "SIGSTOP");
      s.child.kill("SIGTERM");
      await new Promise((r) => setTimeout(r, 500));
      process.kill(service, "SIGKILL");
      const end = await s.exited;
      expect(end.code).not.toBe(0);
      expect(end.code).not.toBeNull();
      expect(s.output()).toMatch(/the VMM service did not stop cleanly \(SIGKILL\)/);
    } finally {
      killAll(s);
    }
  }, 90_000);
});

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
