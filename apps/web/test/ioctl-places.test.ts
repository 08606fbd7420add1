import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { KVMSCOPE_IOCTLS as IOCTLS } from "@kvmscope/shared";
import { bindingOf, IOCTL_PLACES, issuerOn, issuersOf, QEMU_VCPU_LOOP, type ArticleLine, type Issuer, type QemuPlace } from "../src/lib/ioctl-places";
import { KVM_BINDING, VMM_EXIT_LOOP, VMM_MACHINE, VMM_RESET, VMM_THREAD } from "../src/lib/vmm-files";
import { ARTICLE, articleLine, articleMentions, bodyOf, source, tsFilesUnder } from "./vmm-source";

const entries = Object.entries(IOCTL_PLACES) as [string, (typeof IOCTL_PLACES)[keyof typeof IOCTL_PLACES]][];
const method = (binding: string): string => binding.slice(binding.indexOf(".") + 1);
const callOf = (binding: string): RegExp => new RegExp(`\\.${method(binding)}\\(`);

/** The thread each file of ours that issues ioctls runs on. */
const THREAD_OF_FILE: Readonly<Record<string, Issuer["thread"]>> = {
  [VMM_MACHINE]: "main",
  [VMM_THREAD]: "vcpu",
  [VMM_RESET]: "vcpu",
  [VMM_EXIT_LOOP]: "vcpu",
};

describe("IOCTL_PLACES", () => {
  it("has one entry for every ioctl the trace knows, and no other", () => {
    expect(Object.keys(IOCTL_PLACES).sort()).toEqual(IOCTLS.map((i) => i.name).sort());
  });

  it("names binding methods that exist and make the system call they are listed for", () => {
    for (const [name, place] of entries) {
      const body = bodyOf(KVM_BINDING, place.binding);
      expect(body, `${place.binding} for ${name}`).not.toBeNull();
      expect(body, `${place.binding} for ${name}`).toContain(`"${name}"`);
    }
  });

  it("names, for each ioctl, functions of ours that exist and call its binding method", () => {
    for (const [name, place] of entries) {
      for (const issuer of issuersOf(name)) {
        const body = bodyOf(issuer.file, issuer.fn);
        expect(body, `${issuer.fn} in ${issuer.file}`).not.toBeNull();
        expect(callOf(place.binding).test(body ?? ""), `${issuer.fn} calls ${place.binding} (${name})`).toBe(true);
        expect(THREAD_OF_FILE[issuer.file], `${issuer.fn}: thread`).toBe(issuer.thread);
      }
    }
  });

  it("misses no file of ours that calls a binding method, and says null only where none does", () => {
    // open, close and run are too common a method name to find this way (machine.run(), store.close()...).
    const vmmFiles = tsFilesUnder("apps/vmm/src");
    for (const [name, place] of entries) {
      if (["open", "close", "run"].includes(method(place.binding))) continue;
      const callers = vmmFiles.filter((f) => callOf(place.binding).test(source(f)));
      expect(callers.sort(), name).toEqual([...new Set(issuersOf(name).map((i) => i.file))].sort());
    }
  });

  it("picks the issuer on the record's thread: close is Machine.#tearDown's on the main thread, main's on a vCPU thread", () => {
    expect(issuerOn("close", "main")).toMatchObject({ file: VMM_MACHINE, fn: "Machine.#tearDown" });
    expect(issuerOn("close", "vcpu")).toMatchObject({ file: VMM_THREAD, fn: "main" });
    expect(issuerOn("KVM_GET_SREGS", "vcpu")).toMatchObject({ file: VMM_RESET, fn: "resetToBootSector" });
    expect(issuerOn("KVM_IRQ_LINE", "main")).toBeNull();
    expect(bindingOf("KVM_IRQ_LINE")).toEqual({ file: KVM_BINDING, fn: "Vm.irqLine" });
    expect(bindingOf("IOCTL_99")).toEqual({ file: KVM_BINDING, fn: "IoctlIssuer.ioctl" });
    expect(bodyOf(KVM_BINDING, "IoctlIssuer.ioctl")).not.toBeNull();
  });
});

describe("the qemu-kvm 0.14 side of IOCTL_PLACES", () => {
  const qemus = entries.flatMap(([name, p]) => (p.qemu === null ? [] : [[name, p.qemu] as [string, QemuPlace]]));

  it("names C functions in the qemu-kvm 0.14 files it was checked against", () => {
    const files = new Set(["qemu-kvm.c", "qemu-kvm-x86.c", "kvm-all.c", "target-i386/kvm.c"]);
    for (const [name, q] of qemus) {
      expect(q.fn, name).toMatch(/^[a-z_][a-z0-9_]*$/);
      expect(files.has(q.file), `${name}: ${q.file}`).toBe(true);
      if (q.at !== undefined) expect(q.named, `${name}: a cited line means the article names it`).toBe(true);
    }
  });

  it("keeps the decisions the sources forced", () => {
    // The article's kvm_cpu_exec (kvm-all.c, KVM_RUN at line 941), as every panel and walkthrough shows it.
    expect(IOCTL_PLACES.KVM_RUN.qemu).toEqual({ fn: "kvm_cpu_exec", file: "kvm-all.c", named: true, at: { file: "kvm-all.c", fn: "kvm_cpu_exec", line: 941, shows: "KVM_RUN", ran: { file: "qemu-kvm.c", fn: "kvm_run", line: 582 } } });
    // qemu-kvm 0.14 created its in-kernel PIT with KVM_CREATE_PIT, never KVM_CREATE_PIT2.
    expect(IOCTL_PLACES.KVM_CREATE_PIT2.qemu).toBeNull();
    // It closed no KVM fd on a normal run, and had no statistics fd.
    expect(IOCTL_PLACES.close.qemu).toBeNull();
    expect(IOCTL_PLACES.KVM_GET_STATS_FD.qemu).toBeNull();
    // The functions that issue the ioctl, not their callers: kvm_arch_create, kvm_arch_save_regs,
    // kvm_arch_load_regs and kvm_arch_try_push_interrupts only call them.
    expect(IOCTL_PLACES.KVM_SET_TSS_ADDR.qemu).toMatchObject({ fn: "kvm_set_tss_addr", file: "qemu-kvm-x86.c" });
    expect(IOCTL_PLACES.KVM_SET_CPUID2.qemu).toMatchObject({ fn: "kvm_arch_init_vcpu", file: "target-i386/kvm.c" });
    expect(IOCTL_PLACES.KVM_SET_SREGS.qemu).toMatchObject({ fn: "kvm_put_sregs", file: "target-i386/kvm.c" });
    expect(IOCTL_PLACES.KVM_INTERRUPT.qemu).toMatchObject({ fn: "kvm_inject_irq", file: "qemu-kvm.c" });
  });

  describe.skipIf(!existsSync(ARTICLE))("against the article", () => {
    it("cites lines that show what it says, in the file it names", () => {
      const cited: ArticleLine[] = [QEMU_VCPU_LOOP.at, ...qemus.flatMap(([, q]) => (q.at === undefined ? [] : [q.at]))];
      expect(cited.length).toBeGreaterThanOrEqual(4);
      for (const at of cited) {
        const found = articleLine(at.line);
        expect(found, `line ${at.line}`).not.toBeNull();
        expect(found?.text, `line ${at.line}`).toContain(at.shows);
        expect(found?.file, `line ${at.line}`).toBe(at.file);
        expect(articleMentions(at.fn), at.fn).toBe(true);
      }
    });

    it("says the article names a function exactly when it does", () => {
      for (const [name, q] of qemus) expect(articleMentions(q.fn), `${name}: ${q.fn}`).toBe(q.named);
    });
  });
});
