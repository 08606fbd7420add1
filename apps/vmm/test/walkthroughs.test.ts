// The walkthroughs in walkthroughs/: every file validates against this VMM, and following each one
// on real KVM reaches every step's point, in order, at the record a finished trace says it is.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  locateSteps, parseWalkthrough, recordMatchesPoint, type RunRole, type TraceRecord, WalkthroughError,
} from "@kvmscope/shared";
import { RunManager } from "@kvmscope/vmm";
import {
  definesFunction, followWalkthrough, loadWalkthroughs, REPO_ROOT, WALKTHROUGHS_DIR,
} from "../src/walkthroughs.js";
import { kvm } from "./helpers.js";

const loaded = loadWalkthroughs();
const byId = new Map(loaded.map((l) => [l.walkthrough.id, l.walkthrough]));

describe("the walkthrough files", () => {
  it("all validate, one file per tour, in the order of their file names", () => {
    expect(loaded.map((l) => l.file)).toEqual([
      "walkthroughs/01-vm-life.yaml",
      "walkthroughs/02-exit-loop.yaml",
      "walkthroughs/03-several-vcpus.yaml",
      "walkthroughs/04-interrupts.yaml",
    ]);
  });

  it("cite for every step a function that its file really defines", () => {
    for (const { file, walkthrough } of loaded) {
      for (const step of walkthrough.steps) {
        const { file: source, fn } = step.code.ours;
        expect(definesFunction(readFileSync(join(REPO_ROOT, source), "utf8"), fn), `${file} ${step.id}: ${fn} in ${source}`).toBe(true);
      }
    }
  });

  it("tell a call from a definition when checking code references", () => {
    const thread = readFileSync(join(REPO_ROOT, "apps/vmm/src/vcpu/thread.ts"), "utf8");
    expect(definesFunction(thread, "main")).toBe(true);
    expect(definesFunction(thread, "runExitLoop")).toBe(false); // thread.ts only calls it
    const machine = readFileSync(join(REPO_ROOT, "apps/vmm/src/machine.ts"), "utf8");
    expect(definesFunction(machine, "Machine.#wakePicVcpu")).toBe(true);
    expect(definesFunction(machine, "Vcpu.#wakePicVcpu")).toBe(false); // no class Vcpu in machine.ts
  });

  it("follow the order of the issue: the VM's life, the exit loop, several vCPUs, interrupts", () => {
    const points = (id: string) => byId.get(id)?.steps.map((s) => JSON.stringify(s.at)) ?? [];
    expect(points("vm-life")).toEqual(expect.arrayContaining([
      JSON.stringify({ ioctl: "open", thread: "main", nth: 1 }),
      JSON.stringify({ ioctl: "KVM_CREATE_VM", nth: 1 }),
      JSON.stringify({ ioctl: "KVM_SET_USER_MEMORY_REGION", nth: 1 }),
      JSON.stringify({ marker: "qemu_system_ready", nth: 1 }),
    ]));
    expect(points("exit-loop").join()).toMatch(/KVM_EXIT_IO.*KVM_EXIT_MMIO.*KVM_EXIT_HLT/);
    expect(byId.get("several-vcpus")?.run.vcpus).toBeGreaterThan(1);
    const interrupts = byId.get("interrupts");
    expect(interrupts?.run.irqchip).toBe("user");
    expect(interrupts?.compare).toEqual({ irqchip: "kernel" });
    expect(points("interrupts").join()).toMatch(/KVM_EXIT_IRQ_WINDOW_OPEN.*KVM_INTERRUPT.*KVM_EXIT_HLT.*KVM_CREATE_IRQCHIP/);
    for (const w of loaded) expect(w.walkthrough.steps.some((s) => s.question !== undefined), w.file).toBe(true);
  });
});

describe("loading a folder with a broken walkthrough", () => {
  const good = readFileSync(join(WALKTHROUGHS_DIR, "01-vm-life.yaml"), "utf8");
  const folder = (files: Record<string, string>): string => {
    const dir = mkdtempSync(join(tmpdir(), "kvmscope-walkthroughs-"));
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    return dir;
  };
  const problemsOf = (dir: string): string[] => {
    try {
      loadWalkthroughs({ dir });
    } catch (err) {
      expect(err).toBeInstanceOf(WalkthroughError);
      return (err as Error).message.split("\n").map((line) => (line.startsWith(`${dir}/`) ? line.slice(dir.length + 1) : line));
    }
    throw new Error("the folder was accepted");
  };

  it("names a guest that is not in the catalog, with the line and the guest that was meant", () => {
    const dir = folder({ "01-vm-life.yaml": good.replace("guest: hello", "guest: helo") });
    const line = good.split("\n").findIndex((l) => l.includes("guest: hello")) + 1;
    expect(problemsOf(dir)).toEqual([expect.stringMatching(new RegExp(`^01-vm-life\\.yaml:${line}:10: run\\.guest: there is no teaching guest "helo" \\(did you mean "hello"\\?\\); the guests are hello, add, `))]);
  });

  it("names a function that the cited file does not define", () => {
    const dir = folder({ "01-vm-life.yaml": good.replace("fn: Kvm.createVm", "fn: Kvm.createVirtualMachine") });
    expect(problemsOf(dir)).toEqual([expect.stringMatching(/^01-vm-life\.yaml:\d+:\d+: steps\[2\]\.code\.ours\.fn: packages\/kvm-binding\/lib\/kvm\.ts defines no Kvm\.createVirtualMachine$/)]);
  });

  it("wants the file named after the walkthrough's id, and ids unique across files", () => {
    const dir = folder({ "01-life.yaml": good, "02-vm-life.yaml": good, "03-vm-life.yaml": good });
    expect(problemsOf(dir)).toEqual([
      expect.stringMatching(/^01-life\.yaml:\d+:5: id: the file must be named vm-life\.yaml/),
      expect.stringMatching(/^03-vm-life\.yaml:\d+:5: id: "vm-life" is already the id of .*02-vm-life\.yaml: walkthrough ids must be unique$/),
    ]);
  });

  it("reports the problems of every broken file at once, and ignores files that are not .yaml", () => {
    const dir = folder({
      "01-vm-life.yaml": good.replace("vcpus: 1", "vcpus: 0"),
      "02-other.yaml": "version: 1\nid: other\n",
      "notes.md": "not a walkthrough",
    });
    const problems = problemsOf(dir);
    expect(problems[0]).toMatch(/^01-vm-life\.yaml:\d+:\d+: run\.vcpus: must be at least 1, got 0$/);
    expect(problems.slice(1).every((p) => p.startsWith("02-other.yaml:"))).toBe(true);
    expect(problems.some((p) => /02-other\.yaml:1:1: steps: is required/.test(p))).toBe(true);
  });
});

async function readAll(m: RunManager, id: string): Promise<TraceRecord[]> {
  const out: TraceRecord[] = [];
  let fromSeq: number | null = 0;
  while (fromSeq !== null) {
    const page: { records: TraceRecord[]; next: number | null } = await m.readRecords(id, { fromSeq, limit: 5000 });
    out.push(...page.records);
    fromSeq = page.next;
  }
  return out;
}

describe.skipIf(!kvm.ok)("following the walkthroughs on real KVM", () => {
  let m: RunManager;
  beforeAll(async () => {
    m = await RunManager.open({ dataDir: mkdtempSync(join(tmpdir(), "kvmscope-walkthrough-runs-")) });
  });
  afterAll(async () => {
    await m?.shutdown();
  });

  for (const { file, walkthrough } of loaded) {
    it(`reaches every step of ${file}, in order, where the stored trace says each point is`, async () => {
      const result = await followWalkthrough(m, walkthrough);
      expect(result.failure).toBeUndefined();
      expect(result.ok).toBe(true);
      expect(result.steps.map((s) => s.stepId)).toEqual(walkthrough.steps.map((s) => s.id));

      const records: Partial<Record<RunRole, TraceRecord[]>> = {};
      for (const [role, id] of Object.entries(result.runIds) as [RunRole, string][]) {
        const info = await m.getRun(id);
        expect(info?.live, `${role} run is stopped after the tour`).toBe(false);
        records[role] = await readAll(m, id);
      }
      for (const reached of result.steps) {
        const step = walkthrough.steps[reached.index]!;
        expect(recordMatchesPoint(step.at, reached.record), `${step.id} at seq ${reached.seq}`).toBe(true);
      }
      const located = locateSteps(walkthrough, records);
      expect(located.ok ? undefined : located.failed).toBeUndefined();
      expect(located.steps.map((s) => [s.stepId, s.run, s.seq])).toEqual(result.steps.map((s) => [s.stepId, s.run, s.seq]));
    });
  }

  it("says which step was not reached and why, and stops the run", async () => {
    const w = parseWalkthrough(`version: 1
id: never
title: {en: Never, ja: 届かない}
summary: {en: The hello guest never touches MMIO., ja: hello ゲストは MMIO に触れません。}
run: {guest: hello, vcpus: 1, memMiB: 16, irqchip: user}
steps:
  - id: released
    title: {en: Released, ja: 解放}
    body: {en: All vCPUs exist., ja: すべての vCPU がそろいました。}
    at: {marker: qemu_system_ready}
    highlight: [main]
    code: {ours: {file: apps/vmm/src/vcpu/control.ts, fn: MachineControl.releaseAll}}
  - id: mmio
    title: {en: MMIO, ja: MMIO の exit}
    body: {en: There is none., ja: ありません。}
    at: {exit: {reason: KVM_EXIT_MMIO}}
    highlight: [vcpu0]
    code: {ours: {file: apps/vmm/src/vcpu/dispatch.ts, fn: handleMmio}}
`, "never.yaml");
    const result = await followWalkthrough(m, w);
    expect(result.ok).toBe(false);
    expect(result.steps.map((s) => s.stepId)).toEqual(["released"]);
    expect(result.failure).toMatchObject({ index: 1, stepId: "mmio" });
    expect(result.failure?.reason).toMatch(/^step 2 \(mmio\): the main run ended \(halted: .*\) before the first KVM_EXIT_MMIO: no KVM_EXIT_MMIO/);
    expect((await m.getRun(result.runIds.main!))?.live).toBe(false);
  });

  it("can leave the run paused at the last step, as a class would", async () => {
    const w = byId.get("vm-life")!;
    const result = await followWalkthrough(m, w, { keepRuns: true });
    expect(result.ok).toBe(true);
    const id = result.runIds.main!;
    const deadline = Date.now() + 5000;
    let info = await m.getRun(id);
    while (info?.status !== "paused" && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      info = await m.getRun(id);
    }
    expect(info).toMatchObject({ live: true, status: "paused" });
    // Exactly the exits the tour needed: it stopped at the first one.
    const exits = (await readAll(m, id)).filter((r) => r.type === "exit");
    expect(exits.map((e) => e.seq)).toEqual([result.steps.at(-1)!.seq]);
    await m.control(id, { action: "stop" });
    await m.whenFinished(id);
  });
});
