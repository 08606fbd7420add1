// `kvmscope serve` as a command: its arguments and environment, the line it prints, and the order
// of its shutdown (stop serving, then shut the service down), over a service that does nothing.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { serveCommand, readServeEnv, type OpenOptions } from "../src/service/serve-command.js";
import type { RunService } from "../src/service/types.js";

/** The smallest RunService: a catalog, no runs; it notes when it is shut down. */
function idleService(events: string[]): RunService {
  return {
    listGuests: () => [],
    createRun: () => Promise.reject(new Error("no")),
    getRun: async () => null,
    listRuns: async () => ({ runs: [], next: null }),
    control: () => Promise.reject(new Error("no")),
    consoleInput: () => Promise.reject(new Error("no")),
    readRecords: () => Promise.reject(new Error("no")),
    exportRun: () => ({ [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new Error("no")) }) }),
    importRun: () => Promise.reject(new Error("no")),
    subscribe: async () => () => {},
    shutdown: async () => {
      events.push("shutdown");
    },
  };
}

interface Session {
  status: Promise<number>;
  out: string[];
  err: string[];
  events: string[];
  opened: OpenOptions[];
  stop: (signal: string) => void;
}

function serve(args: string[], env: Record<string, string> = {}): Session {
  const s = { out: [] as string[], err: [] as string[], events: [] as string[], opened: [] as OpenOptions[] } as Omit<Session, "status" | "stop">;
  let stop!: (signal: string) => void;
  const stopped = new Promise<string>((r) => (stop = r));
  const status = serveCommand(
    args,
    async (opts) => {
      s.opened.push(opts);
      return idleService(s.events);
    },
    { env, out: (l) => s.out.push(l), err: (l) => s.err.push(l), stopSignal: () => stopped },
  );
  return { ...s, status, stop };
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
}

describe("kvmscope serve", () => {
  it("says where it listens and where its data is, serves, and on SIGTERM stops serving before it shuts the service down", async () => {
    const s = serve(["--port", "0", "--data", "some/dir"]);
    await until(() => s.out.length > 0);
    const m = /^kvmscope service on (http:\/\/127\.0\.0\.1:(\d+)) \(data in (.+)\)$/.exec(s.out[0] ?? "");
    expect(m, s.out[0]).not.toBeNull();
    expect(m![3]).toBe(resolve("some/dir"));
    expect(s.opened).toEqual([{ dataDir: resolve("some/dir"), limits: {} }]);
    const res = await fetch(`${m![1]}/api/runs`);
    expect(await res.json()).toEqual({ runs: [], next: null });

    s.stop("SIGTERM");
    expect(await s.status).toBe(0);
    expect(s.events).toEqual(["shutdown"]);
    await expect(fetch(`${m![1]}/api/runs`)).rejects.toThrow(); // no longer listening
    expect(s.err.join("\n")).toMatch(/SIGTERM: stopping live runs/);
  });

  it("takes its defaults from KVMSCOPE_PORT, KVMSCOPE_HOST and KVMSCOPE_DATA, which flags override", async () => {
    const s = serve([], { KVMSCOPE_PORT: "0", KVMSCOPE_HOST: "127.0.0.1", KVMSCOPE_DATA: "/tmp/kvmscope-env-data" });
    await until(() => s.out.length > 0);
    expect(s.out[0]).toMatch(/^kvmscope service on http:\/\/127\.0\.0\.1:\d+ \(data in \/tmp\/kvmscope-env-data\)$/);
    s.stop("SIGINT");
    expect(await s.status).toBe(0);
  });

  it("hands the limits given as flags to the service", async () => {
    const s = serve(["--port", "0", "--max-runs", "2", "--max-vcpus", "8", "--max-mem", "512", "--max-run-seconds", "30", "--max-class-seconds", "7200", "--session-idle-seconds", "600"]);
    await until(() => s.out.length > 0);
    expect(s.opened[0]?.limits).toEqual({ maxConcurrentRuns: 2, maxTotalVcpus: 8, maxTotalMemMiB: 512, maxRunSeconds: 30, maxClassRunSeconds: 7200, sessionIdleSeconds: 600 });
    s.stop("SIGTERM");
    expect(await s.status).toBe(0);
  });

  it("lets pages from --allow-origin (or KVMSCOPE_ALLOW_ORIGINS) call the API from the browser", async () => {
    for (const [args, env] of [[["--allow-origin", "http://127.0.0.1:3000"], {}], [[], { KVMSCOPE_ALLOW_ORIGINS: "http://localhost:3001, http://127.0.0.1:3000" }]] as const) {
      const s = serve(["--port", "0", ...args], env);
      await until(() => s.out.length > 0);
      const url = /on (http:\S+)/.exec(s.out[0] ?? "")![1]!;
      const res = await fetch(`${url}/api/runs`, { method: "OPTIONS", headers: { origin: "http://127.0.0.1:3000" } });
      expect(res.status).toBe(204);
      expect(res.headers.get("access-control-allow-origin")).toBe("http://127.0.0.1:3000");
      s.stop("SIGTERM");
      expect(await s.status).toBe(0);
    }
  });

  it("uses port 7070 and ./data when nothing says otherwise", () => {
    expect(readServeEnv({})).toEqual({ ok: true, value: {} });
    expect(readServeEnv({ KVMSCOPE_PORT: "" })).toEqual({ ok: true, value: {} });
    expect(readServeEnv({ KVMSCOPE_PORT: "7071" })).toEqual({ ok: true, value: { KVMSCOPE_PORT: 7071 } });
  });

  it("refuses a bad environment, unknown options and bad ports with status 2 and a reason", async () => {
    const cases: [string[], Record<string, string>, RegExp][] = [
      [[], { KVMSCOPE_PORT: "seventy" }, /KVMSCOPE_PORT="seventy" must be a port number from 0 to 65535/],
      [[], { KVMSCOPE_PORT: "70000" }, /KVMSCOPE_PORT="70000" must be a port number/],
      [["--prot", "1"], {}, /Unknown option '--prot'[\s\S]*usage: kvmscope serve/],
      [["--port", "http"], {}, /--port must be a port number from 0 to 65535, got "http"/],
      [["--max-runs", "0"], {}, /--max-runs must be a whole number of at least 1, got "0"/],
      [["--max-mem", "lots"], {}, /--max-mem must be a whole number of at least 1, got "lots"/],
      [["--max-class-seconds", "0"], {}, /--max-class-seconds must be a whole number of at least 1, got "0"/],
      [["--max-class-seconds", "86401"], {}, /--max-class-seconds must be at most 86400 \(24 hours\), got "86401"/],
      [["extra"], {}, /Unexpected argument 'extra'|positional/i],
      [["--allow-origin", "http://127.0.0.1:3000/runs"], {}, /--allow-origin takes an origin such as http:\/\/127\.0\.0\.1:3000 .*got "http:\/\/127\.0\.0\.1:3000\/runs"/],
      [[], { KVMSCOPE_ALLOW_ORIGINS: "localhost:3000" }, /--allow-origin takes an origin/],
    ];
    for (const [args, env, expected] of cases) {
      const s = serve(args, env);
      expect(await s.status).toBe(2);
      expect(s.err.join("\n")).toMatch(expected);
      expect(s.opened).toEqual([]);
    }
  });

  it("says when the port is taken, and shuts the service it opened down", async () => {
    const first = serve(["--port", "0"]);
    await until(() => first.out.length > 0);
    const port = /:(\d+) /.exec(first.out[0]!)![1]!;
    const second = serve(["--port", port]);
    expect(await second.status).toBe(2);
    expect(second.err.join("\n")).toMatch(new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use`));
    expect(second.events).toEqual(["shutdown"]);
    first.stop("SIGTERM");
    expect(await first.status).toBe(0);
  });
});

describe("kvmscope serve and its signals", () => {
  const SERVE = new URL("../dist/service/serve-command.js", import.meta.url).href;

  /** `kvmscope serve` in a process of its own, over a service whose shutdown takes `shutdownMs`. */
  async function serveProcess(shutdownMs: number): Promise<{ pid: number; stderr: () => string; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> }> {
    const dir = mkdtempSync(join(tmpdir(), "kvmscope-signals-"));
    const script = join(dir, "serve.mjs");
    writeFileSync(script, `
      const { serveCommand } = await import(${JSON.stringify(SERVE)});
      const service = {
        listGuests: () => [],
        async shutdown() {
          await new Promise((r) => setTimeout(r, ${shutdownMs}));
          process.stderr.write("records stored\\n");
        },
      };
      process.exitCode = await serveCommand(["--port", "0", "--data", ${JSON.stringify(dir)}], async () => service);
    `);
    const child = spawn(process.execPath, [script], { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once("exit", (code, signal) => {
      rmSync(dir, { recursive: true, force: true });
      r({ code, signal });
    }));
    await new Promise<void>((r) => child.stdout.on("data", (d: Buffer) => d.toString().includes("kvmscope service on") && r()));
    // The line is printed just before the handlers are installed: give the process that moment.
    await new Promise((r) => setTimeout(r, 200));
    return { pid: child.pid!, stderr: () => err, exited };
  }

  it("takes SIGINT and SIGTERM together (one Ctrl-C, from the terminal and from a wrapper) as one stop, and finishes it", async () => {
    const s = await serveProcess(1000);
    process.kill(s.pid, "SIGINT");
    await new Promise((r) => setTimeout(r, 50));
    process.kill(s.pid, "SIGTERM");
    expect(await s.exited).toEqual({ code: 0, signal: null });
    expect(s.stderr()).toMatch(/SIGINT: stopping live runs[\s\S]*records stored[\s\S]*kvmscope serve: stopped/);
  });

  it("quits at once on a second Ctrl-C", async () => {
    const s = await serveProcess(5000);
    process.kill(s.pid, "SIGINT");
    await new Promise((r) => setTimeout(r, 50));
    process.kill(s.pid, "SIGINT");
    expect(await s.exited).toEqual({ code: null, signal: "SIGINT" });
    expect(s.stderr()).not.toMatch(/records stored/);
  });
});
