// `kvmscope bench-service`: what the service costs a guest. Same-run ratios on the pio-loop guest
// (one KVM_EXIT_IO per iteration): storing every record against not storing; reading a page from
// the middle of a long stored run; exporting it; and a live run watched by 0 and by 20 viewers.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { WebSocket } from "ws";
import { type TraceRecord, decodeBatch } from "@kvmscope/shared";
import { ConfigError, RunManager, startServer } from "@kvmscope/vmm";
import { vmmExitsPerSec } from "./bench.js";

/** Exits/s of a stored run in its steady state (after its first 10% of exits), from its records. */
async function storedExitsPerSec(m: RunManager, id: string, exits: number): Promise<number> {
  const skip = Math.floor(exits / 10);
  let count = 0;
  let first = 0;
  let last = 0;
  for await (const bytes of m.store.streamRecords(id)) {
    for (const r of decodeBatch(bytes)) {
      if (r.type !== "exit") continue;
      count++;
      if (count === skip) first = r.ts;
      last = r.ts;
    }
  }
  return ((count - skip) * 1e9) / (last - first);
}

async function storedRun(m: RunManager, exits: number): Promise<{ id: string; rate: number }> {
  const run = await m.createRun({ guest: "pio-loop", maxExits: exits, memMiB: 2 });
  await m.whenFinished(run.id);
  return { id: run.id, rate: await storedExitsPerSec(m, run.id, exits) };
}

/** A live run watched by `viewers` WebSocket clients that read everything; exits/s of the VM. */
async function watchedRate(m: RunManager, url: string, exits: number, viewers: number): Promise<number> {
  const run = await m.createRun({ guest: "pio-loop", maxExits: exits, memMiB: 2, mode: "step" });
  const sockets = await Promise.all(Array.from({ length: viewers }, () => new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(`${url.replace("http", "ws")}/ws?run=${run.id}`);
    ws.on("open", () => resolve(ws));
    ws.on("error", reject);
  })));
  let received = 0;
  for (const ws of sockets) ws.on("message", (data, isBinary) => { if (isBinary) received += (data as Buffer).length; });
  await m.control(run.id, { action: "resume" });
  await m.whenFinished(run.id);
  for (const ws of sockets) ws.close();
  const rate = await storedExitsPerSec(m, run.id, exits);
  return viewers > 0 && received === 0 ? Number.NaN : rate;
}

export async function runServiceBench(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, strict: true, options: { exits: { type: "string" }, rounds: { type: "string" } } });
  const exits = Number(values.exits ?? 1_000_000);
  const rounds = Number(values.rounds ?? 2);
  if (!Number.isInteger(exits) || exits < 20_000) throw new ConfigError(`--exits must be a whole number >= 20000, got ${values.exits}`);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 10) throw new ConfigError(`--rounds must be 1-10, got ${values.rounds}`);
  const dataDir = mkdtempSync(join(tmpdir(), "kvmscope-bench-"));
  const m = await RunManager.open({ dataDir, limits: { maxRunSeconds: 3600 } });
  const server = await startServer(m, { port: 0, host: "127.0.0.1", maxBodyBytes: 16 * 1024 * 1024 });
  try {
    const out = (line: string) => process.stdout.write(`${line}\n`);
    out(`pio-loop, ${exits} exits per run, best of ${rounds} alternating runs (steady state: after the first 10% of exits)`);

    let off = 0;
    let on = 0;
    let lastId = "";
    for (let i = 0; i < rounds; i++) {
      off = Math.max(off, await vmmExitsPerSec(exits, 1));
      const stored = await storedRun(m, exits);
      on = Math.max(on, stored.rate);
      lastId = stored.id;
    }
    const storeRatio = on / off;
    out(`storing: ${Math.round(on)} exits/s stored vs ${Math.round(off)} not stored, ratio ${storeRatio.toFixed(3)}`);

    const info = await m.getRun(lastId);
    const total = info?.recordCount ?? 0;
    const middle = Math.floor(total / 2);
    const times: number[] = [];
    let page: TraceRecord[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      page = (await m.readRecords(lastId, { fromSeq: middle, limit: 10_000 })).records;
      times.push(performance.now() - t);
    }
    const readMs = Math.min(...times);
    out(`reading: a page of ${page.length} records from seq ${middle} of ${total}: ${readMs.toFixed(1)} ms (best of 5), median ${times.sort((a, b) => a - b)[2]?.toFixed(1)} ms`);

    const rssBefore = process.memoryUsage().rss;
    let peak = rssBefore;
    let bytes = 0;
    const t = performance.now();
    for await (const chunk of m.exportRun(lastId, "chrome")) {
      bytes += chunk.length;
      peak = Math.max(peak, process.memoryUsage().rss);
    }
    out(`export: Chrome trace of ${total} records, ${(bytes / 1e6).toFixed(0)} MB in ${((performance.now() - t) / 1000).toFixed(1)} s, resident memory grew by at most ${((peak - rssBefore) / 1e6).toFixed(0)} MB`);

    let zero = 0;
    let twenty = 0;
    const watchExits = Math.min(exits, 300_000);
    for (let i = 0; i < rounds; i++) {
      zero = Math.max(zero, await watchedRate(m, server.url, watchExits, 0));
      twenty = Math.max(twenty, await watchedRate(m, server.url, watchExits, 20));
    }
    out(`viewers: ${Math.round(zero)} exits/s with 0 viewers, ${Math.round(twenty)} with 20, ratio ${(twenty / zero).toFixed(3)}`);
    out(JSON.stringify({
      storedExitsPerSec: Math.round(on), unstoredExitsPerSec: Math.round(off), storeRatio: Number(storeRatio.toFixed(3)),
      pageRecords: page.length, pageReadMs: Number(readMs.toFixed(1)), exportMB: Math.round(bytes / 1e6), exportRssGrowthMB: Math.round((peak - rssBefore) / 1e6),
      viewers0ExitsPerSec: Math.round(zero), viewers20ExitsPerSec: Math.round(twenty), viewersRatio: Number((twenty / zero).toFixed(3)),
    }));
    return 0;
  } finally {
    await server.close();
    await m.shutdown();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
