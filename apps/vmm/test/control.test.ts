// The teacher's controls on real KVM: start paused, step exactly N exits, break on an exit, pause and resume.
import { describe, expect, it } from "vitest";
import type { ExitRecord, MarkerRecord, TraceRecord } from "@kvmscope/shared";
import { KVM_EXIT, Machine, type RunResult, loadGuestImage, validateConfig } from "@kvmscope/vmm";
import { describeExit, kvm } from "./helpers.js";

function start(guest: string, startPaused = true) {
  const records: TraceRecord[] = [];
  const config = { ...validateConfig({ image: loadGuestImage(guest), timeoutSec: 30 }), startPaused };
  const machine = new Machine(config, { onRecords: (batch) => records.push(...batch) });
  const done: Promise<RunResult> = machine.run();
  const exits = () => records.filter((r): r is ExitRecord => r.type === "exit");
  const until = async (what: () => boolean, ms = 10_000) => {
    const end = Date.now() + ms;
    while (!what()) {
      if (Date.now() > end) throw new Error("timed out waiting");
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const settle = () => new Promise((r) => setTimeout(r, 150));
  return { machine, records, exits, until, settle, done };
}

describe.skipIf(!kvm.ok)("run control on real KVM", () => {
  it("starts paused before the first KVM_RUN and steps exactly N exits at a time", async () => {
    const t = start("hello");
    await t.until(() => t.machine.status === "paused");
    await t.settle();
    expect(t.exits()).toHaveLength(0);

    t.machine.step(1);
    await t.until(() => t.exits().length === 1 && t.machine.status === "paused");
    await t.settle();
    expect(t.exits().map(describeExit)).toEqual(["IO out 0x3f8 [72]"]);

    t.machine.step(4);
    await t.until(() => t.exits().length === 5 && t.machine.status === "paused");
    await t.settle();
    expect(t.exits()).toHaveLength(5);

    t.machine.resume();
    const result = await t.done;
    expect(result.outcome).toBe("halted");
    expect(t.exits()).toHaveLength(23);
  });

  it("pauses right after the next exit that matches a breakpoint", async () => {
    const t = start("mmio", false);
    t.machine.setBreakpoint({ reason: KVM_EXIT.MMIO, addr: 0xd0000004, direction: "write" });
    await t.until(() => t.machine.status === "paused");
    await t.settle();
    const last = t.exits().at(-1);
    expect(last?.mmio).toMatchObject({ addr: 0xd0000004, isWrite: true });
    const marker = t.records.find((r): r is MarkerRecord => r.type === "marker" && r.text.startsWith("breakpoint"));
    expect(marker?.text).toBe("breakpoint: paused after KVM_EXIT_MMIO on vCPU 0");
    t.machine.resume();
    expect((await t.done).outcome).toBe("halted");
  });

  it("pauses a guest that is busy in KVM_RUN and resumes it", async () => {
    const t = start("pio-loop", false);
    await t.until(() => t.exits().length > 1000);
    t.machine.pause();
    await t.until(() => t.machine.status === "paused");
    await t.settle();
    const frozen = t.exits().length;
    await t.settle();
    expect(t.exits().length).toBe(frozen);
    t.machine.resume();
    await t.until(() => t.exits().length > frozen + 1000);
    t.machine.stop();
    expect((await t.done).outcome).toBe("stopped");
  });

  it("does not lose a resume sent while the step-mode machine is still being built", async () => {
    const t = start("add");
    t.machine.resume(); // before the vCPU threads even exist
    expect((await t.done).outcome).toBe("halted");
    expect(t.exits()).toHaveLength(3);
  });

  it("pauses on a breakpoint at a HLT that nothing will wake, and ends as halted once resumed", async () => {
    const t = start("hello", false);
    t.machine.setBreakpoint({ reason: KVM_EXIT.HLT });
    await t.until(() => t.machine.status === "paused");
    await t.settle();
    expect(t.machine.status).toBe("paused");
    expect(t.exits().at(-1)?.reason).toBe("KVM_EXIT_HLT");
    t.machine.resume();
    expect((await t.done).outcome).toBe("halted");
  });

  it("delivers an exit's record while the guest goes on running without exiting", async () => {
    // out 0x80, al ; jmp $  -- one exit, then the guest stays in KVM_RUN
    const records: TraceRecord[] = [];
    const machine = new Machine(validateConfig({ image: Uint8Array.from([0xe6, 0x80, 0xeb, 0xfe]), timeoutSec: 30 }), { onRecords: (b) => records.push(...b) });
    const done = machine.run();
    const end = Date.now() + 5000;
    while (!records.some((r) => r.type === "exit") && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    expect(records.filter((r): r is ExitRecord => r.type === "exit").map((e) => e.io?.port)).toEqual([0x80]);
    machine.stop();
    expect((await done).outcome).toBe("stopped");
  });

  it("pauses a guest that never exits (it is kicked out of KVM_RUN) and resumes it", async () => {
    const t = start("spin", false);
    await t.until(() => t.machine.status === "running");
    await new Promise((r) => setTimeout(r, 200));
    t.machine.pause();
    await t.until(() => t.machine.status === "paused", 3000);
    expect(t.exits().at(-1)?.reason).toBe("KVM_EXIT_INTR"); // the kick, seen from the loop
    t.machine.resume();
    await t.until(() => t.machine.status === "running", 3000);
    t.machine.stop();
    expect((await t.done).outcome).toBe("stopped");
  });

  it("stops a paused machine", async () => {
    const t = start("hello");
    await t.until(() => t.machine.status === "paused");
    t.machine.stop();
    const result = await t.done;
    expect(result.outcome).toBe("stopped");
    expect(t.exits()).toHaveLength(0);
  });
});
