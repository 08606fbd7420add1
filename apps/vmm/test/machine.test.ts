// The main thread's part, on real KVM: the order of the lifecycle, limits, teardown.
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { IoctlRecord, MarkerRecord, StatsRecord, TraceRecord } from "@kvmscope/shared";
import { Machine, type RunResult, loadGuestImage, validateConfig } from "@kvmscope/vmm";
import { kvm, runGuest, runImage } from "./helpers.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const until = async (what: () => boolean, label: string, ms = 20_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${label}`);
    await sleep(10);
  }
};

/** A step-mode machine (paused before its first KVM_RUN), its records as they arrive, and its end. */
function startPaused(guest: string, timeoutSec?: number): { machine: Machine; records: TraceRecord[]; done: Promise<RunResult> } {
  const records: TraceRecord[] = [];
  const machine = new Machine({ ...validateConfig({ image: loadGuestImage(guest), timeoutSec }), startPaused: true }, {
    onRecords: (batch) => records.push(...batch),
  });
  return { machine, records, done: machine.run() };
}

describe.skipIf(!kvm.ok)("the machine on real KVM", () => {
  it("follows qemu-kvm's order: open, API version, KVM_CREATE_VM, memory, one KVM_CREATE_VCPU per vCPU thread, release, then exits", async () => {
    const run = await runGuest("smp", { vcpus: 2 });
    const ioctls = run.records.filter((r): r is IoctlRecord => r.type === "ioctl");
    const main = ioctls.filter((r) => r.thread === "main").map((r) => r.name);
    expect(main.slice(0, 2)).toEqual(["open", "KVM_GET_API_VERSION"]);
    const at = (name: string) => main.indexOf(name);
    expect(at("KVM_CREATE_VM")).toBeGreaterThan(at("KVM_GET_API_VERSION"));
    expect(at("KVM_SET_USER_MEMORY_REGION")).toBeGreaterThan(at("KVM_CREATE_VM"));
    for (const id of [0, 1]) {
      const own = ioctls.filter((r) => r.thread === `vcpu${id}`).map((r) => r.name);
      expect(own[0]).toBe("KVM_CREATE_VCPU");
      expect(own).toEqual(expect.arrayContaining(["KVM_SET_CPUID2", "KVM_SET_SREGS", "KVM_SET_REGS", "KVM_GET_STATS_FD"]));
    }
    // One vCPU at a time, as qemu-kvm's kvm_init_vcpu: vCPU 1's thread creates its vCPU only after
    // the main thread saw vCPU 0's "created" (its setup ioctls all done), never in between.
    const seqOf = (pred: (r: TraceRecord) => boolean) => run.records.find(pred)?.seq ?? -1;
    const created0 = seqOf((r) => r.type === "marker" && r.thread === "main" && r.text === "vCPU 0 created (env->created = 1)");
    const created1 = seqOf((r) => r.type === "marker" && r.thread === "main" && r.text === "vCPU 1 created (env->created = 1)");
    const lastOf0 = run.records.findLast((r) => r.type === "ioctl" && r.thread === "vcpu0" && r.name === "KVM_GET_STATS_FD")?.seq ?? -1;
    const create1 = seqOf((r) => r.type === "ioctl" && r.thread === "vcpu1" && r.name === "KVM_CREATE_VCPU");
    expect(created0).toBeGreaterThan(lastOf0);
    expect(create1).toBeGreaterThan(created0);
    expect(created1).toBeGreaterThan(create1);
    const release = run.records.findIndex((r) => r.type === "marker" && (r as MarkerRecord).text.includes("qemu_system_ready"));
    const lastCreate = run.records.findLastIndex((r) => r.type === "ioctl" && r.name === "KVM_CREATE_VCPU");
    const firstExit = run.records.findIndex((r) => r.type === "exit");
    expect(release).toBeGreaterThan(lastCreate);
    expect(firstExit).toBeGreaterThan(release);
    // torn down: every fd closed at the end
    expect(main.at(-1)).toBe("close");
  });

  it("stops after exactly --max-exits exits with one vCPU", async () => {
    const run = await runGuest("pio-loop", { maxExits: 1000 });
    expect(run.result.outcome).toBe("exit-limit");
    expect(run.exits).toHaveLength(1000);
  });

  it("samples KVM's own counters for each vCPU: the exits the kernel kept and the ones it passed on", async () => {
    const run = await runGuest("pio-loop", { maxExits: 5000 });
    const stats = run.records.filter((r): r is StatsRecord => r.type === "stats" && r.vcpu === 0);
    expect(stats.length).toBeGreaterThanOrEqual(2);
    const first = stats[0]?.counters.exits ?? 0;
    const last = stats.at(-1)?.counters.exits ?? 0;
    // KVM counted at least the exits that reached us between the first and the last sample.
    expect(last - first).toBeGreaterThanOrEqual(run.exits.filter((e) => e.ts > (stats[0]?.ts ?? 0) && e.ts <= (stats.at(-1)?.ts ?? 0)).length);
  });

  it("runs VM after VM in one process", async () => {
    // Regression: on kvm-pvm a VM whose RAM reused the previous VM's address failed every other time.
    const image = loadGuestImage("add");
    const outcomes: string[] = [];
    for (let i = 0; i < 6; i++) outcomes.push((await runImage(image, { memMiB: 2 })).result.outcome);
    expect(outcomes).toEqual(Array(6).fill("halted"));
  });

  it("ends a guest that touches nothing but RAM forever by timeout, without losing the run", async () => {
    const run = await runGuest("spin", { timeoutSec: 0.3 });
    expect(run.result.outcome).toBe("timeout");
    expect(run.result.message).toMatch(/timed out after 0.3 s/);
  });

  it("lets the process exit while a vCPU is inside KVM_RUN (it is kicked out first)", () => {
    const vmm = new URL("../dist/index.js", import.meta.url).href;
    const script = `
      const { Machine, validateConfig, loadGuestImage } = await import(${JSON.stringify(vmm)});
      const m = new Machine(validateConfig({ image: loadGuestImage("spin"), timeoutSec: 60 }));
      void m.run();
      setTimeout(() => process.exit(3), 500);
    `;
    const file = join(mkdtempSync(join(tmpdir(), "kvmscope-exit-")), "exit.mjs");
    writeFileSync(file, script);
    const started = Date.now();
    const r = spawnSync(process.execPath, [file], { encoding: "utf8", timeout: 20_000 });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(3);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("runs 64 vCPUs, the most a VM may have, each on its own thread", async () => {
    const run = await runImage(loadGuestImage("hlt"), { vcpus: 64, memMiB: 2 });
    expect(run.result.outcome).toBe("halted");
    const halted = new Set(run.exits.filter((e) => e.reason === "KVM_EXIT_HLT").map((e) => e.vcpu));
    expect(halted.size).toBe(64);
  });

  it("keeps a step run's time limit for the time the guest runs: paused longer than the limit, it still steps", async () => {
    const { machine, records, done } = startPaused("add", 0.5);
    try {
      await until(() => machine.status === "paused", "the paused start");
      await sleep(1500); // three times the limit, paused
      expect(machine.status).toBe("paused");
      machine.step(1);
      await until(() => records.some((r) => r.type === "exit"), "the stepped exit");
      await until(() => machine.status === "paused", "the pause after the step");
      expect(records.filter((r) => r.type === "exit")).toHaveLength(1);
    } finally {
      machine.stop();
    }
    expect((await done).outcome).toBe("stopped");
  });

  it("still ends a step run whose guest ran for its time limit, and says paused time did not count", async () => {
    const { machine, done } = startPaused("spin", 0.4);
    await until(() => machine.status === "paused", "the paused start");
    await sleep(600);
    machine.resume();
    const result = await done;
    expect(result.outcome).toBe("timeout");
    expect(result.message).toMatch(/timed out after 0.4 s of running \(time paused does not count\)/);
  });

  it("ends a run paused for its idle limit in one stretch", async () => {
    const records: TraceRecord[] = [];
    const machine = new Machine({ ...validateConfig({ image: loadGuestImage("add"), timeoutSec: 60 }), startPaused: true, idleTimeoutMs: 300 }, {
      onRecords: (batch) => records.push(...batch),
    });
    const result = await machine.run();
    expect(result.outcome).toBe("timeout");
    expect(result.message).toMatch(/paused for 0.3 s .*idle limit/);
    expect(records.filter((r) => r.type === "exit")).toHaveLength(0);
  });

  it("writes (almost) nothing while paused: fewer than 100 records a minute", async () => {
    const { machine, records, done } = startPaused("hello");
    try {
      await until(() => machine.status === "paused", "the paused start");
      machine.step(3);
      await until(() => records.filter((r) => r.type === "exit").length === 3 && machine.status === "paused", "three stepped exits");
      await sleep(200); // the last of the stepping's records drain
      const before = records.length;
      const windowMs = 3000;
      await sleep(windowMs);
      const perMinute = ((records.length - before) * 60_000) / windowMs;
      expect(perMinute).toBeLessThan(100);
      machine.step(1); // still alive and stepping after the quiet
      await until(() => records.filter((r) => r.type === "exit").length === 4, "the fourth exit");
    } finally {
      machine.stop();
    }
    await done;
    // The run's ends still carry a sample each, so its kernel-side counts have both ends.
    const stats = records.filter((r): r is StatsRecord => r.type === "stats");
    expect(stats.length).toBeGreaterThanOrEqual(2);
  });

  it("lets the vCPU threads it started ahead go when the VM cannot be built (no hang, a clear error)", async () => {
    const machine = new Machine({ ...validateConfig({ image: loadGuestImage("hlt"), vcpus: 3 }), kvmPath: "/dev/null" });
    await expect(machine.run()).rejects.toThrow(/KVM_GET_API_VERSION|\/dev\/null/);
    expect(machine.status).toBe("finished");
  });
});
