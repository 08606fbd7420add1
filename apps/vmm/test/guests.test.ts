// The teaching guests: their catalog (Japanese text for every entry), and every guest on real KVM:
// the exits it must produce, its output, how it ends.
import { describe, expect, it } from "vitest";
import type { IoctlRecord, MarkerRecord } from "@kvmscope/shared";
import { listGuests } from "@kvmscope/vmm";
import { describeExit, kvm, runGuest } from "./helpers.js";

const bytes = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));

describe("the teaching-guest catalog", () => {
  it("gives every guest a non-empty Japanese title and description", () => {
    const guests = listGuests();
    expect(guests.length).toBeGreaterThan(0);
    const filled = (s: unknown): boolean => typeof s === "string" && s.trim() !== "";
    for (const g of guests) {
      // Keyed by name, so a failure says which guest lacks its Japanese text.
      expect({ guest: g.name, title: filled(g.ja?.title), description: filled(g.ja?.description) }).toEqual({ guest: g.name, title: true, description: true });
    }
  });
});

describe.skipIf(!kvm.ok)("the teaching guests on real KVM", () => {
  it("hello: one KVM_EXIT_IO per byte on port 0x3f8, then one KVM_EXIT_HLT", async () => {
    const run = await runGuest("hello");
    const text = "Hello from the guest!\n";
    expect(run.stdout).toBe(text);
    expect(run.exits.map(describeExit)).toEqual([...bytes(text).map((b) => `IO out 0x3f8 [${b}]`), "HLT"]);
    expect(run.result.outcome).toBe("halted");
  });

  it("add: exactly three exits, the digit 4, a newline, HLT", async () => {
    const run = await runGuest("add");
    expect(run.exits.map(describeExit)).toEqual(["IO out 0x3f8 [52]", "IO out 0x3f8 [10]", "HLT"]);
    expect(run.stdout).toBe("4\n");
  });

  it("echo: reads the typed line through IN exits and answers in capitals", async () => {
    const run = await runGuest("echo");
    expect(run.stdout).toBe("Type a line: HELLO\nYou typed 5 characters.\n");
    const ins = run.exits.filter((e) => e.io?.direction === "in");
    // Every typed byte was read from RBR (0x3f8) with the value the VMM put into kvm_run.
    const reads = ins.filter((e) => e.io?.port === 0x3f8).map((e) => e.io?.data[0]);
    expect(reads).toEqual(bytes("hello\n"));
    expect(ins.some((e) => e.io?.port === 0x3fd)).toBe(true);
    expect(run.result.outcome).toBe("halted");
  });

  it("mmio: each device register access is a KVM_EXIT_MMIO with address, length and data", async () => {
    const run = await runGuest("mmio");
    const mmio = run.exits.filter((e) => e.mmio);
    expect(mmio.map(describeExit)).toEqual([
      "MMIO read 0xd0000000 4",
      "MMIO write 0xd0000004 4",
      "MMIO read 0xd0000004 4",
      "MMIO read 0xd0000008 4",
      "MMIO read 0xd0000008 4",
      "MMIO write 0xd000000c 4",
      "MMIO read 0xe0000000 4",
    ]);
    expect(mmio[0]?.mmio?.data).toEqual([0x4b, 0x56, 0x4d, 0x53]); // "KVMS", as the VMM answered
    expect(mmio[6]?.mmio?.data).toEqual([0xff, 0xff, 0xff, 0xff]); // nothing there: all-ones
    expect(run.stdout).toContain('ID         (0xd0000000) = 534d564b "KVMS"');
    expect(run.stdout).toContain("unassigned (0xe0000000) = ffffffff");
    const doorbell = run.records.find((r): r is MarkerRecord => r.type === "marker" && r.text.startsWith("doorbell"));
    expect(doorbell).toBeDefined();
  });

  it("hlt: a debugcon marker, then a single KVM_EXIT_HLT ends the run", async () => {
    const run = await runGuest("hlt");
    const markers = run.records.filter((r): r is MarkerRecord => r.type === "marker" && r.thread === "vcpu0");
    expect(markers.map((m) => m.text)).toContain("about to halt");
    expect(run.exits.filter((e) => e.reason === "KVM_EXIT_HLT")).toHaveLength(1);
    expect(run.exits.at(-1)?.reason).toBe("KVM_EXIT_HLT");
    expect(run.result.outcome).toBe("halted");
  });

  it("smp: every vCPU announces itself once, from its own thread", async () => {
    const run = await runGuest("smp", { vcpus: 4 });
    const lines = run.stdout.trim().split("\n").sort();
    expect(lines).toEqual(["vCPU 0 is alive", "vCPU 1 is alive", "vCPU 2 is alive", "vCPU 3 is alive"]);
    for (let id = 0; id < 4; id++) {
      expect(run.exits.filter((e) => e.vcpu === id && e.reason === "KVM_EXIT_HLT")).toHaveLength(1);
      const created = run.records.find((r): r is IoctlRecord => r.type === "ioctl" && r.name === "KVM_CREATE_VCPU" && r.args.vcpuId === id);
      expect(created?.thread).toBe(`vcpu${id}`); // created by its own thread, as ap_main_loop does
    }
    expect(run.result.outcome).toBe("halted");
  });

  it("timer (userspace irqchip): the PIT's IRQ0 arrives through KVM_INTERRUPT with vector 0x20, five times", async () => {
    const run = await runGuest("timer", { irqchip: "user" });
    expect(run.stdout).toBe("tick 1\ntick 2\ntick 3\ntick 4\ntick 5\ndone\n");
    const injected = run.records.filter((r): r is IoctlRecord => r.type === "ioctl" && r.name === "KVM_INTERRUPT");
    expect(injected.length).toBeGreaterThanOrEqual(5);
    expect(new Set(injected.map((r) => r.args.vector))).toEqual(new Set([0x20]));
    // The guest waits with sti; hlt, and KVM hands those HLTs to us with a userspace irqchip
    // (how many depends on whether a tick lands before the HLT, so: some, and no more than ticks).
    const halts = run.exits.filter((e) => e.reason === "KVM_EXIT_HLT").length;
    expect(halts).toBeGreaterThanOrEqual(1);
    expect(halts).toBeLessThanOrEqual(injected.length + 1);
    expect(run.result.outcome).toBe("halted");
  });

  it("timer (in-kernel irqchip): the same output, with no KVM_INTERRUPT and no HLT reaching userspace", async () => {
    const run = await runGuest("timer", { irqchip: "kernel" });
    expect(run.stdout).toBe("tick 1\ntick 2\ntick 3\ntick 4\ntick 5\ndone\n");
    const names = run.records.filter((r): r is IoctlRecord => r.type === "ioctl").map((r) => r.name);
    expect(names).toContain("KVM_CREATE_IRQCHIP");
    expect(names).toContain("KVM_CREATE_PIT2");
    expect(names).not.toContain("KVM_INTERRUPT");
    expect(run.exits.filter((e) => e.reason === "KVM_EXIT_HLT")).toHaveLength(0);
    expect(run.result.outcome).toBe("halted");
  });

  it("triple-fault: ends with KVM_EXIT_SHUTDOWN, and the run says so", async () => {
    const run = await runGuest("triple-fault");
    expect(run.exits.at(-1)?.reason).toBe("KVM_EXIT_SHUTDOWN");
    expect(run.result.outcome).toBe("shutdown");
    expect(run.result.message).toMatch(/triple-fault/);
  });

  it("long-mode: switches to 64-bit mode by itself and prints from there", async () => {
    const run = await runGuest("long-mode");
    expect(run.stdout).toContain("Hello from 64-bit long mode");
    expect(run.result.outcome).toBe("halted");
  });

  it("spin: never exits, so the timeout ends it cleanly with its records complete", async () => {
    const run = await runGuest("spin", { timeoutSec: 0.5 });
    expect(run.result.outcome).toBe("timeout");
    // The trace is whole: ioctls from open to the vCPU's creation, the guest's marker, stats.
    const names = run.records.filter((r): r is IoctlRecord => r.type === "ioctl").map((r) => r.name);
    expect(names[0]).toBe("open");
    expect(names).toContain("KVM_CREATE_VCPU");
    expect(run.records.some((r) => r.type === "marker" && r.thread === "vcpu0")).toBe(true);
    expect(run.records.some((r) => r.type === "stats")).toBe(true);
    const seqs = run.records.map((r) => r.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
  });

  it("every guest in the catalog with an expected output produces exactly it", async () => {
    for (const g of listGuests()) {
      if (g.expect.stdout === undefined || g.expect.outcome === "timeout") continue;
      const run = await runGuest(g.name);
      expect({ guest: g.name, stdout: run.stdout, outcome: run.result.outcome }).toEqual({ guest: g.name, stdout: g.expect.stdout, outcome: g.expect.outcome });
    }
  });
});
