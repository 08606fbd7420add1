// `kvmscope serve [--port 7070] [--host 127.0.0.1] [--data DIR]`: opens the run service on a data
// directory, serves it over HTTP and WebSocket, and on SIGTERM / SIGINT stops serving, then shuts
// the service down (live runs stopped, every record flushed) and exits 0.
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import * as z from "zod";
import { LIMITS } from "../config.js";
import { startServer, type RunningServer } from "./server.js";
import type { RunService, ServiceLimits } from "./types.js";

export const SERVE_USAGE = "usage: kvmscope serve [--port 7070] [--host 127.0.0.1] [--data DIR] [--max-runs N] [--max-vcpus N] [--max-mem MiB] [--max-run-seconds S] [--max-class-seconds S] [--session-idle-seconds S] [--allow-origin ORIGIN]...";

export const SERVE_DEFAULTS = {
  port: 7070,
  host: "127.0.0.1",
  dataDir: "./data",
  /** A JSON body: a base64 image of at most 608 KiB is about 811 KiB. */
  maxBodyBytes: 1024 * 1024,
} as const;

/** What `open` gets: where the database and stored images live, and the limits given on the command line. */
export interface OpenOptions {
  dataDir: string;
  limits?: Partial<Pick<ServiceLimits, "maxConcurrentRuns" | "maxTotalVcpus" | "maxTotalMemMiB" | "maxRunSeconds" | "maxClassRunSeconds" | "sessionIdleSeconds">>;
}

/** The limit flags and the ServiceLimits field each one sets. */
const LIMIT_FLAGS = {
  "max-runs": "maxConcurrentRuns",
  "max-vcpus": "maxTotalVcpus",
  "max-mem": "maxTotalMemMiB",
  "max-run-seconds": "maxRunSeconds",
  "max-class-seconds": "maxClassRunSeconds",
  "session-idle-seconds": "sessionIdleSeconds",
} as const;

/** The most a time-limit flag may say: the longest timeout a run takes (24 hours). */
const MAX_SECONDS = LIMITS.timeoutSec.max;
const SECONDS_FLAGS: ReadonlySet<string> = new Set(["max-run-seconds", "max-class-seconds", "session-idle-seconds"]);

export interface ServeDeps {
  env: NodeJS.ProcessEnv;
  out: (line: string) => void;
  err: (line: string) => void;
  /** Resolves with the signal's name when the service should stop (default: SIGTERM or SIGINT). */
  stopSignal: () => Promise<string>;
}

// ---- The environment, read once and checked

const portText = z.string().regex(/^\d{1,5}$/, { error: "must be a port number from 0 to 65535" }).transform(Number)
  .pipe(z.int().max(65535, { error: "must be a port number from 0 to 65535" }));

const ServeEnv = z.object({
  KVMSCOPE_PORT: portText.optional(),
  KVMSCOPE_HOST: z.string().optional(),
  KVMSCOPE_DATA: z.string().optional(),
  /** Comma-separated origins, as --allow-origin. */
  KVMSCOPE_ALLOW_ORIGINS: z.string().optional(),
});
export type ServeEnv = z.infer<typeof ServeEnv>;

/** KVMSCOPE_PORT / KVMSCOPE_HOST / KVMSCOPE_DATA (empty counts as unset), or a sentence saying what is wrong. */
export function readServeEnv(env: NodeJS.ProcessEnv): { ok: true; value: ServeEnv } | { ok: false; message: string } {
  const picked = Object.fromEntries(
    (["KVMSCOPE_PORT", "KVMSCOPE_HOST", "KVMSCOPE_DATA", "KVMSCOPE_ALLOW_ORIGINS"] as const).flatMap((k) => (env[k] === undefined || env[k] === "" ? [] : [[k, env[k]]])),
  );
  const r = ServeEnv.safeParse(picked);
  if (r.success) return { ok: true, value: r.data };
  const issue = r.error.issues[0]!;
  return { ok: false, message: `${issue.path.join(".")}=${JSON.stringify(picked[String(issue.path[0])] ?? "")} ${issue.message}` };
}

/**
 * One Ctrl-C can arrive twice: SIGINT from the terminal and SIGTERM from a parent that forwards it
 * (a wrapper whose children share the terminal's process group). A signal of the other kind this
 * soon after the first is that echo, and is ignored.
 */
export const SIGNAL_ECHO_MS = 1000;

/**
 * Resolves with the first SIGTERM / SIGINT. After it, the echo of the same stop (the other signal
 * within SIGNAL_ECHO_MS) is ignored; any other signal of the two ends the process at once, as if
 * nothing handled it: a second Ctrl-C quits without waiting for the shutdown.
 */
function waitForSignal(): Promise<string> {
  return new Promise((resolveSignal) => {
    let first: { signal: NodeJS.Signals; at: number } | undefined;
    const on = (signal: NodeJS.Signals): void => {
      if (first === undefined) {
        first = { signal, at: Date.now() };
        resolveSignal(signal);
        return;
      }
      if (signal !== first.signal && Date.now() - first.at < SIGNAL_ECHO_MS) return;
      process.off("SIGTERM", on);
      process.off("SIGINT", on);
      process.kill(process.pid, signal); // the default action now: the process ends at once
    };
    process.on("SIGTERM", on);
    process.on("SIGINT", on);
  });
}

function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}

/**
 * Runs the service until SIGTERM / SIGINT; resolves with the exit status: 0 after a clean
 * shutdown, 2 for bad arguments, environment or an address that cannot be bound, 20 when the
 * service itself failed.
 */
export async function serveCommand(
  args: string[],
  open: (opts: OpenOptions) => Promise<RunService>,
  deps: Partial<ServeDeps> = {},
): Promise<number> {
  const out = deps.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const err = deps.err ?? ((line: string) => process.stderr.write(`${line}\n`));
  const env = readServeEnv(deps.env ?? process.env);
  if (!env.ok) {
    err(`kvmscope serve: ${env.message}`);
    return 2;
  }

  let values: { port?: string; host?: string; data?: string; help?: boolean; "allow-origin"?: string[] } & Partial<Record<keyof typeof LIMIT_FLAGS, string>>;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: "string" },
        host: { type: "string" },
        data: { type: "string" },
        "max-runs": { type: "string" },
        "max-vcpus": { type: "string" },
        "max-mem": { type: "string" },
        "max-run-seconds": { type: "string" },
        "max-class-seconds": { type: "string" },
        "session-idle-seconds": { type: "string" },
        "allow-origin": { type: "string", multiple: true },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (e) {
    err(`kvmscope serve: ${(e as Error).message}\n${SERVE_USAGE}`);
    return 2;
  }
  if (values.help === true) {
    out(SERVE_USAGE);
    out("  --port  TCP port (0: any free one; env KVMSCOPE_PORT, default 7070)");
    out("  --host  address to bind (env KVMSCOPE_HOST, default 127.0.0.1: this machine only)");
    out("  --data  directory of the database and stored images (env KVMSCOPE_DATA, default ./data)");
    out("  --max-runs, --max-vcpus, --max-mem MiB, --max-run-seconds  limits on the VMs running at once (defaults 4, 64, 4096, 600)");
    out("  --max-class-seconds  the time limit of a class session's runs, paused time included (default 14400: 4 hours)");
    out("  --session-idle-seconds  an open class session nobody leads (the teacher's page closed) this long ends and stops its runs (default 1800: 30 minutes)");
    out("  --allow-origin  a web page origin (e.g. http://127.0.0.1:3000) that may use the API and WebSockets from the browser; repeatable (env KVMSCOPE_ALLOW_ORIGINS, comma-separated)");
    return 0;
  }
  const allowedOrigins: string[] = [];
  for (const o of values["allow-origin"] ?? env.value.KVMSCOPE_ALLOW_ORIGINS?.split(",").map((x) => x.trim()).filter((x) => x !== "") ?? []) {
    let origin: string | undefined;
    try {
      origin = new URL(o).origin;
    } catch {
      origin = undefined;
    }
    if (origin === undefined || origin !== o || !/^https?:/.test(o)) {
      err(`kvmscope serve: --allow-origin takes an origin such as http://127.0.0.1:3000 (scheme, host and port, no path), got "${o}"`);
      return 2;
    }
    allowedOrigins.push(origin);
  }
  const limits: NonNullable<OpenOptions["limits"]> = {};
  for (const [flag, field] of Object.entries(LIMIT_FLAGS) as [keyof typeof LIMIT_FLAGS, (typeof LIMIT_FLAGS)[keyof typeof LIMIT_FLAGS]][]) {
    const text = values[flag];
    if (text === undefined) continue;
    const n = Number(text);
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1) {
      err(`kvmscope serve: --${flag} must be a whole number of at least 1, got "${text}"`);
      return 2;
    }
    if (SECONDS_FLAGS.has(flag) && n > MAX_SECONDS) {
      err(`kvmscope serve: --${flag} must be at most ${MAX_SECONDS} (24 hours), got "${text}"`);
      return 2;
    }
    limits[field] = n;
  }
  let port: number = env.value.KVMSCOPE_PORT ?? SERVE_DEFAULTS.port;
  if (values.port !== undefined) {
    const p = parsePort(values.port);
    if (p === undefined) {
      err(`kvmscope serve: --port must be a port number from 0 to 65535, got "${values.port}"`);
      return 2;
    }
    port = p;
  }
  const host = values.host ?? env.value.KVMSCOPE_HOST ?? SERVE_DEFAULTS.host;
  if (host.trim() === "") {
    err("kvmscope serve: --host must not be empty");
    return 2;
  }
  const dataArg = values.data ?? env.value.KVMSCOPE_DATA ?? SERVE_DEFAULTS.dataDir;
  if (dataArg.trim() === "") {
    err("kvmscope serve: --data must not be empty");
    return 2;
  }
  const dataDir = resolve(dataArg);

  let service: RunService;
  try {
    service = await open({ dataDir, limits });
  } catch (e) {
    err(`kvmscope serve: could not open the data in ${dataDir}: ${(e as Error).message}`);
    return (e as Error).name === "ConfigError" ? 2 : 20;
  }

  let server: RunningServer;
  try {
    server = await startServer(service, { port, host, maxBodyBytes: SERVE_DEFAULTS.maxBodyBytes, allowedOrigins });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === "EADDRINUSE" ? `port ${port} on ${host} is already in use (choose another with --port)`
      : code === "EACCES" ? `not allowed to listen on port ${port} of ${host} (choose a port above 1023 with --port)`
      : code === "EADDRNOTAVAIL" || code === "ENOTFOUND" ? `${host} is not an address of this machine (--host)`
      : (e as Error).message;
    err(`kvmscope serve: ${why}`);
    await service.shutdown().catch((e2: unknown) => err(`kvmscope serve: shutting the service down failed: ${(e2 as Error).message}`));
    return code === undefined ? 20 : 2;
  }
  out(`kvmscope service on ${server.url} (data in ${dataDir})`);

  const signal = await (deps.stopSignal ?? waitForSignal)();
  err(`kvmscope serve: ${signal}: stopping live runs and storing their last records (again to quit at once)`);
  try {
    await server.close();
    await service.shutdown();
  } catch (e) {
    err(`kvmscope serve: the shutdown failed: ${(e as Error).stack ?? String(e)}`);
    return 20;
  }
  err("kvmscope serve: stopped");
  return 0;
}
