// The service's run manager on real KVM and a real SQLite file: runs are stored as they go,
// controlled, exported and imported, and survive a killed service.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TraceRecord, decodeBatch } from "@kvmscope/shared";
import { ConfigError, ConflictError, DEFAULT_LIMITS, LimitError, NotFoundError, RunManager, type RunListener } from "@kvmscope/vmm";
import { parseImport } from "../src/service/run-manager.js";
import { kvm } from "./helpers.js";

async function readAll(m: RunManager, id: string): Promise<TraceRecord[]> {
  const out: TraceRecord[] = [];
  let fromSeq: number | undefined = 0;
  while (fromSeq !== undefined) {
    const page = await m.readRecords(id, { fromSeq, limit: 500 });
    out.push(...page.records);
    fromSeq = page.next ?? undefined;
  }
  return out;
}

function collector(): RunListener & { records: TraceRecord[]; console: string; statuses: string[] } {
  const c = {
    records: [] as TraceRecord[],
    console: "",
    statuses: [] as string[],
    onRecords: (batch: Uint8Array) => c.records.push(...decodeBatch(batch)),
    onConsole: (bytes: Uint8Array) => { c.console += Buffer.from(bytes).toString("latin1"); },
    onStatus: (info: { status: string }) => c.statuses.push(info.status),
  };
  return c;
}

const until = async (what: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!(await what())) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe.skipIf(!kvm.ok)("the run manager on real KVM and SQLite", () => {
  let dataDir: string;
  let m: RunManager;
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "kvmscope-runs-"));
    m = await RunManager.open({ dataDir });
  });
  afterAll(async () => {
    await m.shutdown();
  });

  it("stores a run as it goes: the records paged back equal what was streamed live", async () => {
    const run = await m.createRun({ guest: "hello" });
    const viewer = collector();
    await m.subscribe(run.id, viewer);
    await m.whenFinished(run.id);
    const stored = await m.getRun(run.id);
    expect(stored).toMatchObject({ status: "finished", live: false, guest: "hello" });
    expect(stored?.outcome).toMatchObject({ outcome: "halted", status: 0 });
    expect(stored?.totals).toBeTruthy();
    const paged = await readAll(m, run.id);
    expect(paged.length).toBe(stored?.recordCount);
    // A viewer that subscribed after creation saw the tail of the run, record for record as stored.
    const firstSeen = viewer.records[0]?.seq ?? 0;
    expect(viewer.records).toEqual(paged.filter((r) => r.seq >= firstSeen));
    expect(paged.filter((r) => r.type === "exit")).toHaveLength(23);
    expect(viewer.statuses.at(-1)).toBe("finished");
  });

  it("filters stored records by vCPU, reason and time", async () => {
    const run = await m.createRun({ guest: "smp", vcpus: 2 });
    await m.whenFinished(run.id);
    const hlt = await m.readRecords(run.id, { limit: 1000, reason: "KVM_EXIT_HLT" });
    expect(hlt.records.map((r) => (r.type === "exit" ? r.vcpu : -1)).sort()).toEqual([0, 1]);
    const one = await m.readRecords(run.id, { limit: 1000, vcpu: 1 });
    expect(one.records.length).toBeGreaterThan(0);
    expect(one.records.every((r) => (r.type === "exit" || r.type === "stats" ? r.vcpu === 1 : r.thread === "vcpu1"))).toBe(true);
  });

  it("starts a step-mode run paused and lets exactly N exits happen per step", async () => {
    const run = await m.createRun({ guest: "add", mode: "step" });
    await until(async () => (await m.getRun(run.id))?.status === "paused");
    const exits = async () => (await readAll(m, run.id)).filter((r) => r.type === "exit").length;
    expect(await exits()).toBe(0);
    await m.control(run.id, { action: "step", count: 2 });
    await until(async () => (await exits()) === 2 && (await m.getRun(run.id))?.status === "paused");
    await m.control(run.id, { action: "resume" });
    await m.whenFinished(run.id);
    expect(await exits()).toBe(3);
  });

  it("keeps a step run's time limit while it is paused: paused three times its limit, it still steps", async () => {
    const run = await m.createRun({ guest: "add", mode: "step", timeoutSec: 0.5 });
    await until(async () => (await m.getRun(run.id))?.status === "paused");
    await new Promise((r) => setTimeout(r, 1500));
    expect((await m.getRun(run.id))?.status).toBe("paused");
    await m.control(run.id, { action: "step", count: 1 });
    const exits = async () => (await readAll(m, run.id)).filter((r) => r.type === "exit").length;
    await until(async () => (await exits()) === 1 && (await m.getRun(run.id))?.status === "paused");
    await m.control(run.id, { action: "stop" });
    await m.whenFinished(run.id);
    expect((await m.getRun(run.id))?.outcome).toMatchObject({ outcome: "stopped" });
  });

  it("types console input into the guest and keeps its output with the run", async () => {
    const run = await m.createRun({ guest: "echo" });
    await m.consoleInput(run.id, new TextEncoder().encode("kvm\n"));
    await m.whenFinished(run.id);
    const stored = await m.getRun(run.id);
    expect(stored?.outcome?.console).toBe("Type a line: KVM\nYou typed 3 characters.\n");
  });

  it("exports a run as NDJSON and imports it back as an identical stored run", async () => {
    const run = await m.createRun({ guest: "mmio" });
    await m.whenFinished(run.id);
    let text = "";
    for await (const chunk of m.exportRun(run.id, "ndjson")) text += chunk;
    const imported = await m.importRun(text);
    expect(imported).toMatchObject({ imported: true, status: "finished", guest: "mmio", live: false });
    expect(await readAll(m, imported.id)).toEqual(await readAll(m, run.id));
    expect(imported.outcome).toMatchObject({ outcome: "halted" });
  });

  it("imports a Chrome export for replay, with every exit and ioctl in place", async () => {
    const run = await m.createRun({ guest: "add" });
    await m.whenFinished(run.id);
    let text = "";
    for await (const chunk of m.exportRun(run.id, "chrome")) text += chunk;
    const imported = await m.importRun(text);
    const pick = (rs: TraceRecord[]) => rs.filter((r) => r.type === "exit" || r.type === "ioctl" || r.type === "marker");
    expect(pick(await readAll(m, imported.id))).toEqual(pick(await readAll(m, run.id)));
  });

  it("refuses control of a finished run and names unknown runs", async () => {
    const run = await m.createRun({ guest: "hlt" });
    await m.whenFinished(run.id);
    await expect(m.control(run.id, { action: "pause" })).rejects.toBeInstanceOf(ConflictError);
    await expect(m.control("nosuchrun", { action: "pause" })).rejects.toBeInstanceOf(NotFoundError);
    await expect(m.readRecords("nosuchrun", { limit: 10 })).rejects.toBeInstanceOf(NotFoundError);
  });

  it("answers control of a run that is just ending with a conflict, never a crash", async () => {
    const run = await m.createRun({ guest: "hello" });
    const outcomes = new Set<string>();
    let live = true;
    while (live) {
      await new Promise((r) => setTimeout(r, 2)); // as requests do: with I/O in between
      for (const action of ["pause", "resume"] as const) {
        try {
          await m.control(run.id, { action });
          outcomes.add("ok");
        } catch (err) {
          expect(err).toBeInstanceOf(ConflictError);
          outcomes.add("conflict");
          live = false;
        }
      }
    }
    await m.whenFinished(run.id);
    expect(outcomes.has("conflict")).toBe(true);
    await expect(m.listRuns({ limit: 5, before: "zzz" })).rejects.toBeInstanceOf(ConfigError);
    // Settings are named as the API names them, not as CLI flags.
    await expect(m.createRun({ guest: "hello", memMiB: 99_999 })).rejects.toThrow(/^memMiB must be between 1 and 3072 MiB/);
  });

  it("answers limits with clear errors and keeps serving", async () => {
    const small = await RunManager.open({ dataDir: mkdtempSync(join(tmpdir(), "kvmscope-limits-")), limits: { maxConcurrentRuns: 1, maxImageBytes: 64 } });
    try {
      const first = await small.createRun({ guest: "spin" });
      await expect(small.createRun({ guest: "hello" })).rejects.toThrow(/runs at most 1 at once/);
      await expect(small.createRun({ image: new Uint8Array(100) })).rejects.toMatchObject({ httpStatus: 413 });
      await expect(small.createRun({ guest: "hello" })).rejects.toBeInstanceOf(LimitError);
      await small.control(first.id, { action: "stop" });
      await small.whenFinished(first.id);
      const next = await small.createRun({ guest: "hello" });
      await small.whenFinished(next.id);
      expect((await small.getRun(next.id))?.outcome).toMatchObject({ outcome: "halted" });
    } finally {
      await small.shutdown();
    }
  });

  it("marks a run aborted after the service was killed with SIGKILL, keeping every record it had flushed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kvmscope-kill-"));
    const vmm = new URL("../dist/index.js", import.meta.url).href;
    const script = join(dir, "service.mjs");
    writeFileSync(script, `
      const { RunManager } = await import(${JSON.stringify(vmm)});
      const m = await RunManager.open({ dataDir: ${JSON.stringify(dir)} });
      const run = await m.createRun({ guest: "echo" });  // polls the UART: a steady flow of exits
      setTimeout(() => console.log(run.id), 2500);       // past two flushes
    `);
    const child = spawn(process.execPath, [script], { stdio: ["ignore", "pipe", "inherit"] });
    const id = await new Promise<string>((resolve) => child.stdout.on("data", (d: Buffer) => resolve(d.toString().trim())));
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));

    const again = await RunManager.open({ dataDir: dir });
    try {
      expect(again.abortedAtStart).toContain(id);
      const run = await again.getRun(id);
      expect(run?.status).toBe("aborted");
      const records = await readAll(again, id);
      expect(records.length).toBeGreaterThan(1000);
      expect(records[0]).toMatchObject({ type: "ioctl", name: "open" });
      const seqs = records.map((r) => r.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    } finally {
      await again.shutdown();
    }
  });
});

describe("importing an export whose seqs are not 0..n-1", () => {
  const ndjson = (seqs: number[]): string =>
    [
      JSON.stringify({ type: "run", version: 1, id: "x", guest: "hello", vcpus: 1, memMiB: 16, irqchip: "user" }),
      ...seqs.map((seq, i) => JSON.stringify({ type: "marker", seq, ts: i, thread: "main", text: `m${i}` })),
      JSON.stringify({ type: "end", outcome: "halted" }),
    ].join("\n") + "\n";
  const texts = (rs: TraceRecord[]): string[] => rs.map((r) => (r.type === "marker" ? r.text : r.type));

  it("numbers the records densely from 0 in seq order, so a seq near 2^32 costs one record, not 2^32", () => {
    const { records } = parseImport(ndjson([0, 4294967280]));
    expect(records.map((r) => r.seq)).toEqual([0, 1]);
    expect(texts(records)).toEqual(["m0", "m1"]);
    // Out of order, repeated, with gaps: sorted by seq (ties in file order), then renumbered.
    const shuffled = parseImport(ndjson([70, 5, 9000, 5, 12]));
    expect(shuffled.records.map((r) => r.seq)).toEqual([0, 1, 2, 3, 4]);
    expect(texts(shuffled.records)).toEqual(["m1", "m3", "m4", "m0", "m2"]);
    // Seqs that already increase within twice the record count are an export's own: kept.
    expect(parseImport(ndjson([0, 1, 2, 3])).records.map((r) => r.seq)).toEqual([0, 1, 2, 3]);
    expect(parseImport(ndjson([0, 2, 3, 7])).records.map((r) => r.seq)).toEqual([0, 2, 3, 7]);
    expect(parseImport(ndjson([0, 2, 3, 8])).records.map((r) => r.seq)).toEqual([0, 1, 2, 3]);
  });

  it("stores them renumbered", async () => {
    const m = await RunManager.open({ dataDir: mkdtempSync(join(tmpdir(), "kvmscope-import-")) });
    try {
      const run = await m.importRun(ndjson([0, 4294967280]));
      expect(run).toMatchObject({ imported: true, recordCount: 2 });
      const stored = await readAll(m, run.id);
      expect(stored.map((r) => r.seq)).toEqual([0, 1]);
      expect(texts(stored)).toEqual(["m0", "m1"]);
    } finally {
      await m.shutdown();
    }
  });
});

describe("the service's time limits", () => {
  it("give a class session's runs 4 hours by default, a run of one's own 10 minutes", () => {
    expect(DEFAULT_LIMITS).toMatchObject({ maxRunSeconds: 600, maxClassRunSeconds: 4 * 3600 });
  });
});
