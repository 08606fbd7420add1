// Every qemu-kvm line a panel shows beside the article's (ArticleLine.ran) is a line of qemu-kvm
// 0.14.1 that ran, by the table read from the sources (packages/shared/src/qemu-kvm-014.ts).
import { describe, expect, it } from "vitest";
import { KVMSCOPE_IOCTLS, KvmExit, qemu014LineProblem } from "@kvmscope/shared";
import { IOCTL_PLACES, QEMU_VCPU_LOOP, type ArticleLine } from "../src/lib/ioctl-places";
import { exitSource } from "../src/lib/source-map";

describe("the qemu-kvm 0.14.1 lines beside the article's", () => {
  const lines: [string, ArticleLine][] = [["the vCPU loop", QEMU_VCPU_LOOP.at]];
  for (const { name } of KVMSCOPE_IOCTLS) {
    const at = IOCTL_PLACES[name].qemu?.at;
    if (at !== undefined) lines.push([name, at]);
  }
  for (const code of Object.values(KvmExit)) {
    const at = exitSource(code).qemu?.at;
    if (at !== undefined) lines.push([`exit ${code}`, at]);
  }

  it("are given for every article line a panel shows", () => {
    expect(lines.length).toBeGreaterThan(5);
    expect(lines.filter(([, at]) => at.ran === undefined).map(([what]) => what)).toEqual([]);
  });

  it("each ran in qemu-kvm 0.14.1 (no compiled-out function, no line outside its function)", () => {
    for (const [what, at] of lines) expect(qemu014LineProblem(at.ran!.file, at.ran!.line, at.ran!.fn), what).toBeNull();
  });

  it("the article's KVM_RUN, compiled out in 0.14, sits beside the one that ran", () => {
    const run = IOCTL_PLACES.KVM_RUN.qemu?.at;
    expect(qemu014LineProblem(run!.file, run!.line)).toMatch(/compiled out/);
    expect(run?.ran).toEqual({ file: "qemu-kvm.c", fn: "kvm_run", line: 582 });
  });
});
