import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  type ExitRecord, type IoctlRecord, KvmExit, locatePoint, locateSteps, type MarkerRecord, parseWalkthrough,
  pointMatches, recordMatchesPoint, type TraceRecord, type WalkthroughPoint, WalkthroughError,
} from "../src/index.js";

// A small, valid walkthrough. Tests replace one line or append steps; the line numbers below are
// those of this text (line 1 is "version: 1").
const HEADER = `version: 1
id: demo
title: {en: Demo, ja: デモ}
summary: {en: A tour to test the format., ja: 書式を試すためのツアーです。}
run: {guest: hello, vcpus: 1, memMiB: 16, irqchip: user}
steps:
`;

function step(id: string, at: string, extra = ""): string {
  return `  - id: ${id}
    title: {en: Step ${id}, ja: ステップ ${id}}
    body:
      en: What to look at.
      ja: 見るべきところです。
    at: ${at}
    highlight: [vcpu0, kvm]
    code:
      ours: {file: apps/vmm/src/vcpu/dispatch.ts, fn: handleIo}
${extra}`;
}

const GOOD = HEADER + step("first-out", "{exit: {reason: KVM_EXIT_IO, port: 0x3f8, direction: out}}");

/** The error's message for `text`, which must be rejected. */
function rejection(text: string, file = "walkthroughs/demo.yaml"): WalkthroughError {
  try {
    parseWalkthrough(text, file);
  } catch (err) {
    expect(err).toBeInstanceOf(WalkthroughError);
    return err as WalkthroughError;
  }
  throw new Error("the file was accepted");
}

describe("reading a walkthrough file", () => {
  it("accepts a well-formed file and fills in the defaults (nth 1, the main run)", () => {
    const w = parseWalkthrough(GOOD, "demo.yaml");
    expect(w.id).toBe("demo");
    expect(w.run).toEqual({ guest: "hello", vcpus: 1, memMiB: 16, irqchip: "user" });
    expect(w.steps).toHaveLength(1);
    expect(w.steps[0]).toMatchObject({
      id: "first-out",
      run: "main",
      // YAML's 0x3f8 is the number 1016.
      at: { exit: { reason: "KVM_EXIT_IO", port: 0x3f8, direction: "out" }, nth: 1 },
      highlight: ["vcpu0", "kvm"],
      code: { ours: { file: "apps/vmm/src/vcpu/dispatch.ts", fn: "handleIo" } },
    });
  });

  it("reads the example in walkthroughs/README.md as a valid walkthrough", () => {
    const readme = readFileSync(new URL("../../../walkthroughs/README.md", import.meta.url), "utf8");
    const example = /```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(example).toBeDefined();
    const w = parseWalkthrough(example!, "README.md");
    expect(w.steps[0]?.question?.ja).toMatch(/バイト/);
  });

  it("names the line, column and field of a misspelt exit reason, and suggests the right one", () => {
    const err = rejection(GOOD.replace("reason: KVM_EXIT_IO,", "reason: KVM_EXIT_IOO,"));
    expect(err.message).toBe("walkthroughs/demo.yaml:12:25: steps[0].at.exit.reason: KVM_EXIT_IOO is not an exit reason (did you mean KVM_EXIT_IO?)");
    expect(err.first).toMatchObject({ file: "walkthroughs/demo.yaml", line: 12, col: 25, path: "steps[0].at.exit.reason" });
  });

  it("points at an unknown field's key and suggests the field that was meant, without also calling that field missing", () => {
    const err = rejection(GOOD.replace("    highlight:", "    hightlight:"));
    expect(err.problems).toHaveLength(1);
    expect(err.message).toMatch(/^walkthroughs\/demo\.yaml:13:5: steps\[0\]\.hightlight: unknown field "hightlight" \(did you mean "highlight"\?\)/);
  });

  it("says which field is missing and points at the mapping that lacks it", () => {
    const err = rejection(GOOD.replace("      ja: 見るべきところです。\n", ""));
    expect(err.message).toBe("walkthroughs/demo.yaml:10:7: steps[0].body.ja: is required");
  });

  it("reports broken YAML at the line where it breaks", () => {
    const err = rejection(GOOD.replace("    highlight: [vcpu0, kvm]", "    highlight: [vcpu0, kvm"));
    expect(err.first.line).toBeGreaterThanOrEqual(13);
    expect(err.first.reason).toMatch(/^not valid YAML: /);
  });

  it("rejects a key given twice in one mapping", () => {
    const err = rejection(GOOD.replace("    at: {exit:", "    id: again\n    at: {exit:"));
    expect(err.message).toMatch(/^walkthroughs\/demo\.yaml:12:5: not valid YAML: .*unique/);
  });

  it("rejects a point that names two kinds of point at once", () => {
    const err = rejection(HEADER + step("x", "{ioctl: KVM_CREATE_VM, exit: {vcpu: 0}}"));
    expect(err.message).toBe('walkthroughs/demo.yaml:12:9: steps[0].at: give one of "ioctl", "exit", not 2: a step is reached at one point');
  });

  it("rejects a point that is neither \"start\" nor a known form", () => {
    const err = rejection(HEADER + step("x", "beginning"));
    expect(err.first.reason).toBe('must be "start" or a mapping with one of "ioctl", "exit", "marker", got "beginning"');
  });

  it("suggests the ioctl a misspelt name meant", () => {
    const err = rejection(HEADER + step("x", "{ioctl: KVM_CREAT_VCPU}"));
    expect(err.message).toBe("walkthroughs/demo.yaml:12:17: steps[0].at.ioctl: KVM_CREAT_VCPU is not a call kvmscope records (did you mean KVM_CREATE_VCPU?)");
  });

  it("refuses KVM_RUN as an ioctl point, because KVM_RUN is recorded as the exit it returns with", () => {
    const err = rejection(HEADER + step("x", "{ioctl: KVM_RUN}"));
    expect(err.first.path).toBe("steps[0].at.ioctl");
    expect(err.first.reason).toMatch(/at\.exit/);
  });

  it("rejects a step id used twice, pointing at the second", () => {
    const err = rejection(GOOD + step("first-out", "{exit: {vcpu: 0}, nth: 2}"));
    expect(err.message).toBe('walkthroughs/demo.yaml:16:9: steps[1].id: "first-out" is already the id of steps[0]: step ids must be unique');
  });

  it("allows \"start\" only as the first step of a run, since a later step cannot go back", () => {
    expect(parseWalkthrough(HEADER + step("a", "start") + step("b", "{ioctl: open}"), "x.yaml").steps[0]?.at).toBe("start");
    const err = rejection(HEADER + step("a", "{ioctl: open}") + step("b", "start"));
    expect(err.first).toMatchObject({ line: 21, path: "steps[1].at" });
  });

  it("rejects exit filters that no exit can match", () => {
    const mmioPort = rejection(HEADER + step("x", "{exit: {reason: KVM_EXIT_MMIO, port: 0x3f8}}"));
    expect(mmioPort.first).toMatchObject({ path: "steps[0].at.exit.port", reason: "only KVM_EXIT_IO has a port, and the reason here is KVM_EXIT_MMIO" });
    const ioRead = rejection(HEADER + step("x", "{exit: {port: 0x3f8, direction: read}}"));
    expect(ioRead.first.path).toBe("steps[0].at.exit.direction");
    const empty = rejection(HEADER + step("x", "{exit: {}}"));
    expect(empty.first.reason).toMatch(/at least one of "reason", "port"/);
    const noSuchVcpu = rejection(HEADER + step("x", "{exit: {vcpu: 1}}"));
    expect(noSuchVcpu.first).toMatchObject({ path: "steps[0].at.exit.vcpu", reason: "the run has 1 vCPU(s), numbered from 0" });
  });

  it("rejects points the run's interrupt controller makes impossible", () => {
    const kernel = HEADER.replace("irqchip: user", "irqchip: kernel");
    expect(rejection(kernel + step("x", "{ioctl: KVM_INTERRUPT}")).first.reason).toMatch(/only issued with the userspace irqchip/);
    expect(rejection(kernel + step("x", "{exit: {reason: KVM_EXIT_HLT}}")).first.reason).toMatch(/never reaches userspace with the in-kernel irqchip/);
    expect(rejection(HEADER + step("x", "{ioctl: KVM_CREATE_IRQCHIP}")).first.reason).toMatch(/only issued with the in-kernel irqchip/);
  });

  it("checks highlight ids against the thread model's parts and the run", () => {
    const err = rejection(GOOD.replace("highlight: [vcpu0, kvm]", 'highlight: [vcpu0, vcpu1, dev:uat, "lifecycle:KVM_CREATE_VMM", kernel-irqchip]'));
    expect(err.problems.map((p) => p.path)).toEqual(["steps[0].highlight[1]", "steps[0].highlight[2]", "steps[0].highlight[3]", "steps[0].highlight[4]"]);
    const [vcpu1, uart, lifecycle, irqchip] = err.problems.map((p) => p.reason);
    expect(vcpu1).toBe("the run has 1 vCPU(s), so there is no vcpu1");
    expect(uart).toMatch(/^"dev:uat" is not a part of the thread model \(did you mean dev:uart\?\)/);
    expect(lifecycle).toMatch(/^"KVM_CREATE_VMM" is not a lifecycle step \(did you mean KVM_CREATE_VM\?\)/);
    expect(irqchip).toMatch(/^"kernel-irqchip" exists only with irqchip kernel/);
  });

  it("accepts only qemu-kvm functions the article shows, in their file, at lines it prints", () => {
    const qemu = (ref: string) => GOOD + `      qemu: ${ref}\n`;
    expect(parseWalkthrough(qemu("{file: kvm-all.c, fn: kvm_cpu_exec, line: 941}"), "x.yaml").steps[0]?.code.qemu).toEqual({ file: "kvm-all.c", fn: "kvm_cpu_exec", line: 941 });
    expect(rejection(qemu("{file: kvm-all.c, fn: kvm_cpu_exec, line: 1100}")).first.reason).toBe("the article shows kvm_cpu_exec at lines 912-1025; 1100 is outside it");
    expect(rejection(qemu("{file: qemu-kvm.c, fn: kvm_cpu_exec}")).first.reason).toBe("kvm_cpu_exec is in kvm-all.c in qemu-kvm 0.14, not qemu-kvm.c");
    expect(rejection(qemu("{file: kvm-all.c, fn: kvm_cpu_exe}")).first.reason).toMatch(/^kvm_cpu_exe is not one of the article's qemu-kvm 0\.14 functions \(did you mean kvm_cpu_exec\?\)/);
    expect(rejection(qemu("{file: kvm-all.c, fn: kvm_handle_io, line: 1}")).first.reason).toMatch(/does not show kvm_handle_io's body; it shows its call at line 964/);
  });

  it("accepts as code.ran only a line of qemu-kvm 0.14.1 that ran (the table read from the sources)", () => {
    const ran = (ref: string) => GOOD + `      ran: ${ref}\n`;
    expect(parseWalkthrough(ran("{file: qemu-kvm.c, fn: kvm_run, line: 582}"), "x.yaml").steps[0]?.code.ran).toEqual({ file: "qemu-kvm.c", fn: "kvm_run", line: 582 });
    expect(rejection(ran("{file: kvm-all.c, fn: kvm_cpu_exec, line: 941}")).first.reason).toMatch(/compiled out in qemu-kvm 0\.14 \(OBSOLETE_KVM_IMPL/);
    expect(rejection(ran("{file: qemu-kvm.c, fn: kvm_main_loop_cpu, line: 1495}")).first.reason).toBe("kvm_main_loop_cpu is qemu-kvm.c:1410-1427 in qemu-kvm 0.14.1; 1495 is outside it");
    expect(rejection(ran("{file: qemu-kvm.c, fn: kvm_run}")).first.path).toBe("steps[0].code.ran.line");
  });

  it("wants Japanese in ja and English in en", () => {
    const err = rejection(GOOD.replace("title: {en: Step first-out, ja: ステップ first-out}", "title: {en: ステップ, ja: Step}"));
    expect(err.problems.map((p) => p.path)).toEqual(["steps[0].title.en", "steps[0].title.ja"]);
  });

  it("wants a question and its answer together", () => {
    const err = rejection(GOOD + "    question: {en: Why?, ja: なぜでしょうか。}\n");
    expect(err.message).toBe("walkthroughs/demo.yaml:16:15: steps[0].question: a question needs an answer (answer: {en, ja})");
  });

  it("checks the comparison run: another irqchip, and used by a step", () => {
    const withCompare = (irqchip: string) => HEADER.replace("steps:\n", `compare: {irqchip: ${irqchip}}\nsteps:\n`);
    const same = rejection(withCompare("user") + step("x", "{ioctl: open}", "    run: compare\n"));
    expect(same.first).toMatchObject({ path: "compare.irqchip", line: 6 });
    const unused = rejection(withCompare("kernel") + step("x", "{ioctl: open}"));
    expect(unused.first.reason).toMatch(/no step is in the compare run/);
    const missing = rejection(GOOD + "    run: compare\n");
    expect(missing.first).toMatchObject({ path: "steps[0].run", reason: 'there is no compare run: add "compare: {irqchip: ...}" at the top level' });
    const ok = parseWalkthrough(withCompare("kernel") + step("x", "{ioctl: KVM_CREATE_IRQCHIP}", "    run: compare\n"), "x.yaml");
    expect(ok.compare).toEqual({ irqchip: "kernel" });
  });

  it("reports every problem of a file, in file order", () => {
    const err = rejection(GOOD.replace("vcpus: 1", "vcpus: 0").replace("port: 0x3f8", "port: 70000"));
    expect(err.problems.map((p) => [p.line, p.path])).toEqual([[5, "run.vcpus"], [12, "steps[0].at.exit.port"]]);
    expect(err.message.split("\n")).toHaveLength(2);
    expect(err.problems[1]?.reason).toBe("must be at most 0xffff, got 70000");
  });

  it("says an empty file is empty", () => {
    expect(rejection("").message).toBe("walkthroughs/demo.yaml:1:1: the file is empty: a walkthrough is a YAML mapping with version, id, title, summary, run and steps");
  });
});

// Records shaped as the VMM writes them (from `kvmscope run hello --vcpus 2 --format ndjson`, cut down).
let seq = 0;
const ioctl = (thread: IoctlRecord["thread"], name: string, args: Record<string, number> = {}, ret = 0): IoctlRecord =>
  ({ type: "ioctl", seq: seq++, ts: seq * 1000, thread, name, fd: thread === "main" ? 19 : 20, args, ret, errno: 0, durNs: 3000 });
const marker = (thread: MarkerRecord["thread"], text: string): MarkerRecord => ({ type: "marker", seq: seq++, ts: seq * 1000, thread, text });
const exitRec = (vcpu: number, code: number, extra: Partial<ExitRecord> = {}): ExitRecord => ({
  type: "exit", seq: seq++, ts: seq * 1000, vcpu, reason: code === KvmExit.IO ? "KVM_EXIT_IO" : code === KvmExit.MMIO ? "KVM_EXIT_MMIO" : "KVM_EXIT_HLT",
  code, rip: 0x7c0d, guestNs: 15_000, handleNs: 20_000, ifFlag: false, readyForInjection: false, requestedWindow: false, ...extra,
});
const out = (vcpu: number, port: number, byte: number): ExitRecord => exitRec(vcpu, KvmExit.IO, { io: { port, size: 1, direction: "out", count: 1, data: [byte] } });
const mmio = (addr: number, isWrite: boolean): ExitRecord => exitRec(0, KvmExit.MMIO, { mmio: { addr, len: 4, isWrite, data: [0x4b, 0x56, 0x4d, 0x53] } });

const TRACE: TraceRecord[] = [
  ioctl("main", "open", {}, 19), // 0
  ioctl("main", "KVM_CREATE_VM", { type: 0 }, 20), // 1
  ioctl("vcpu1", "KVM_CREATE_VCPU", { vcpuId: 1 }, 25), // 2
  ioctl("vcpu0", "KVM_CREATE_VCPU", { vcpuId: 0 }, 27), // 3
  marker("main", "all 2 vCPU thread(s) created their vCPU; releasing them (qemu_system_ready)"), // 4
  out(0, 0x3f8, 72), // 5
  out(1, 0x3f8, 72), // 6
  out(0, 0x3f8, 101), // 7
  out(0, 0xe9, 10), // 8
  marker("vcpu0", "entering protected mode"), // 9
  mmio(0xd0000000, false), // 10
  mmio(0xd0000004, true), // 11
  exitRec(0, KvmExit.HLT), // 12
  exitRec(1, KvmExit.HLT), // 13
];

const at = (p: WalkthroughPoint) => p;

describe("matching points against records", () => {
  it("matches an exit filter on every field given", () => {
    const io3f8 = at({ exit: { reason: "KVM_EXIT_IO", port: 0x3f8, direction: "out", vcpu: 1 }, nth: 1 });
    expect(TRACE.filter((r) => recordMatchesPoint(io3f8, r)).map((r) => r.seq)).toEqual([6]);
    const writes = at({ exit: { direction: "write" }, nth: 1 });
    expect(TRACE.filter((r) => recordMatchesPoint(writes, r)).map((r) => r.seq)).toEqual([11]);
    const idRegister = at({ exit: { addr: 0xd0000000 }, nth: 1 });
    expect(TRACE.filter((r) => recordMatchesPoint(idRegister, r)).map((r) => r.seq)).toEqual([10]);
    const vcpu0 = at({ exit: { vcpu: 0 }, nth: 1 });
    expect(TRACE.filter((r) => recordMatchesPoint(vcpu0, r)).map((r) => r.seq)).toEqual([5, 7, 8, 10, 11, 12]);
  });

  it("matches ioctls by name and thread, and markers by the text they contain", () => {
    expect(TRACE.filter((r) => recordMatchesPoint(at({ ioctl: "KVM_CREATE_VCPU", nth: 1 }), r)).map((r) => r.seq)).toEqual([2, 3]);
    expect(TRACE.filter((r) => recordMatchesPoint(at({ ioctl: "KVM_CREATE_VCPU", thread: "vcpu0", nth: 1 }), r)).map((r) => r.seq)).toEqual([3]);
    expect(TRACE.filter((r) => recordMatchesPoint(at({ marker: "qemu_system_ready", nth: 1 }), r)).map((r) => r.seq)).toEqual([4]);
  });

  it("is reached at the nth match, counting the matches passed so far", () => {
    const second = at({ ioctl: "KVM_CREATE_VCPU", nth: 2 });
    const first = TRACE[2]!;
    expect(pointMatches(second, first, { matched: 0 })).toBe(false);
    expect(pointMatches(second, TRACE[3]!, { matched: 1 })).toBe(true);
    expect(pointMatches(second, TRACE[1]!, { matched: 1 })).toBe(false); // not a KVM_CREATE_VCPU at all
    expect(pointMatches("start", TRACE[0]!, { matched: 0 })).toBe(true);
  });

  it("searches from a given seq on, that record included", () => {
    const io = { exit: { reason: "KVM_EXIT_IO" }, nth: 1 } satisfies WalkthroughPoint;
    expect(locatePoint(io, TRACE, 6)).toMatchObject({ found: true, seq: 6 });
    expect(locatePoint({ ...io, nth: 3 }, TRACE, 6)).toMatchObject({ found: true, seq: 8 });
    const tooFew = locatePoint({ ...io, nth: 5 }, TRACE, 6);
    expect(tooFew).toEqual({ found: false, matched: 3, reason: "only 3 KVM_EXIT_IO from seq 6 on, and this step wants the 5th KVM_EXIT_IO" });
    expect(locatePoint(at({ marker: "nowhere", nth: 1 }), TRACE)).toMatchObject({ found: false, matched: 0, reason: 'no marker containing "nowhere"' });
  });
});

describe("locating a walkthrough's steps in a run", () => {
  const tour = (steps: string) => parseWalkthrough(HEADER.replace("vcpus: 1", "vcpus: 2") + steps, "tour.yaml");

  it("finds each step from the previous step's point on, so the same record can serve two steps", () => {
    const w = tour(
      step("created", "{ioctl: KVM_CREATE_VCPU}")
        + step("other", "{ioctl: KVM_CREATE_VCPU, nth: 2}")
        + step("released", "{marker: qemu_system_ready}")
        + step("first-byte", "{exit: {reason: KVM_EXIT_IO, port: 0x3f8}}")
        + step("same-byte", "{exit: {reason: KVM_EXIT_IO}}")
        + step("next-on-vcpu0", "{exit: {vcpu: 0}, nth: 2}")
        + step("first-halt", "{exit: {reason: KVM_EXIT_HLT}}")
        + step("second-halt", "{exit: {reason: KVM_EXIT_HLT}, nth: 2}"),
    );
    const located = locateSteps(w, TRACE);
    expect(located.ok).toBe(true);
    expect(located.steps.map((s) => [s.stepId, s.seq])).toEqual([
      ["created", 2], ["other", 3], ["released", 4], ["first-byte", 5], ["same-byte", 5], ["next-on-vcpu0", 7], ["first-halt", 12], ["second-halt", 13],
    ]);
  });

  it("gives the same answer for records that arrive out of seq order", () => {
    const w = tour(step("mmio", "{exit: {reason: KVM_EXIT_MMIO}}") + step("write", "{exit: {direction: write}}"));
    const shuffled = [...TRACE].reverse();
    expect(locateSteps(w, shuffled)).toEqual(locateSteps(w, TRACE));
  });

  it("names the step that cannot be reached and why, keeping the steps before it", () => {
    const w = tour(step("halt", "{exit: {reason: KVM_EXIT_HLT}, nth: 2}") + step("then-open", "{ioctl: open}"));
    const located = locateSteps(w, TRACE);
    expect(located).toEqual({
      ok: false,
      steps: [{ index: 0, stepId: "halt", run: "main", seq: 13 }],
      failed: { index: 1, stepId: "then-open", run: "main", reason: "no open from seq 13 on" },
    });
  });

  it("looks for the comparison run's steps in that run's own records", () => {
    const w = parseWalkthrough(
      HEADER.replace("steps:\n", "compare: {irqchip: kernel}\nsteps:\n")
        + step("user-halt", "{exit: {reason: KVM_EXIT_HLT}}")
        + step("kernel-irqchip", "{ioctl: KVM_CREATE_IRQCHIP}", "    run: compare\n")
        + step("kernel-first-out", "{exit: {reason: KVM_EXIT_IO, port: 0x3f8}}", "    run: compare\n"),
      "compare.yaml",
    );
    seq = 0;
    const kernelRun = [ioctl("main", "open"), ioctl("main", "KVM_CREATE_VM"), ioctl("main", "KVM_CREATE_IRQCHIP"), out(0, 0x3f8, 116)];
    const located = locateSteps(w, { main: TRACE, compare: kernelRun });
    expect(located.steps.map((s) => [s.run, s.seq])).toEqual([["main", 12], ["compare", 2], ["compare", 3]]);
    expect(locateSteps(w, TRACE)).toMatchObject({ ok: false, failed: { stepId: "kernel-irqchip", reason: "no records of the compare run were given" } });
  });
});
