// Shared by the HTTP and WebSocket tests of the service layer.
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { RunInfo } from "../src/service/types.js";

/** A RunInfo as the run manager would give it, for FakeRunService. */
export function runInfo(id: string, fields: Partial<RunInfo> = {}): RunInfo {
  return {
    id, createdAt: "2025-01-01T00:00:00.000Z", guest: "hello", imageHash: "0".repeat(64), imageBytes: 32,
    config: { vcpus: 1, memMiB: 16, irqchip: "user", mode: "live", timeoutSec: 10, maxExits: null },
    status: "running", outcome: null, totals: null, startedAt: null, endedAt: null, recordCount: 0, imported: false, live: true, session: null,
    ...fields,
  };
}

/** A `kvmscope serve` child process (the built CLI) on a free loopback port. */
export interface ServiceChild {
  url: string;
  child: ChildProcessWithoutNullStreams;
  stderr: string[];
  exited: Promise<number | null>;
}

const BIN = fileURLToPath(new URL("../bin/kvmscope.js", import.meta.url));

/** Starts `kvmscope serve --port 0 --data DIR` and resolves once it says where it listens. */
export async function startServeChild(dataDir: string): Promise<ServiceChild> {
  const child = spawn(process.execPath, [BIN, "serve", "--port", "0", "--data", dataDir], { stdio: ["pipe", "pipe", "pipe"] });
  const stderr: string[] = [];
  child.stderr.on("data", (d: Buffer) => stderr.push(d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /kvmscope service on (http:\/\/\S+) \(data in /.exec(out);
      if (m) resolve(m[1]!);
    });
    void exited.then((code) => reject(new Error(`kvmscope serve exited with ${code}: ${stderr.join("")}`)));
  });
  return { url, child, stderr, exited };
}
