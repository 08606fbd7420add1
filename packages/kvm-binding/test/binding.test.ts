import { spawnSync } from "node:child_process";
import { Worker } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import {
  GuestMemory, type IoctlEvent, Kvm, KvmError, MP_STATE, type Vcpu, VcpuKicker, type Vm, kvmAvailable, kvmConstant, kvmLayout,
} from "@kvmscope/kvm-binding";

const kvm = kvmAvailable();
if (!kvm.ok) console.warn(`[kvm-binding] skipping the KVM tests: ${kvm.reason}`);

const KVM_EXIT_IO = 2;
const KVM_EXIT_HLT = 5;

/** A VM with 64 KiB of RAM at 0 holding `code` at 0x1000, and one vCPU in real mode at 0000:1000. */
function tinyMachine(code: number[], observer?: (e: IoctlEvent) => void, inKernel?: { pitFlags?: number }) {
  const sys = Kvm.open({ observer });
  const vm = sys.createVm();
  if (inKernel !== undefined) {
    vm.createIrqchip();
    if (inKernel.pitFlags === undefined) vm.createPit2();
    else vm.createPit2(inKernel.pitFlags);
  }
  const memory = new GuestMemory(0x10000);
  memory.bytes.set(code, 0x1000);
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0n, memorySize: 0x10000n, userspaceAddr: memory.address });
  const vcpu = vm.createVcpu(0, sys.getVcpuMmapSize());
  const sregs = vcpu.getSregs();
  sregs.cs.base = 0n;
  sregs.cs.selector = 0;
  vcpu.setSregs(sregs);
  const regs = vcpu.getRegs();
  regs.rip = 0x1000n;
  regs.rflags = 2n;
  vcpu.setRegs(regs);
  vcpu.runPage.enableSyncRegs();
  const close = () => {
    vcpu.close();
    vm.close();
    memory.close();
    sys.close();
  };
  return { sys, vm, vcpu, memory, close };
}

describe.skipIf(!kvm.ok)("the KVM binding on real /dev/kvm", () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    while (cleanups.length) cleanups.pop()?.();
  });

  it("opens /dev/kvm and reports API version 12", () => {
    const sys = Kvm.open();
    cleanups.push(() => sys.close());
    expect(sys.getApiVersion()).toBe(12);
    expect(sys.getVcpuMmapSize()).toBeGreaterThanOrEqual(4096);
    expect(sys.checkExtension("KVM_CAP_USER_MEMORY")).toBe(1);
  });

  it("lists the CPUID leaves KVM supports, leaf 0 first", () => {
    const sys = Kvm.open();
    cleanups.push(() => sys.close());
    const leaves = sys.getSupportedCpuid();
    expect(leaves.length).toBeGreaterThan(3);
    expect(leaves[0]?.function).toBe(0);
    expect(leaves.some((e) => e.function === 1)).toBe(true);
  });

  it("runs a real-mode guest: an OUT exits with KVM_EXIT_IO, then HLT exits with KVM_EXIT_HLT", () => {
    // mov al, 0x41 ; out 0x10, al ; hlt
    const m = tinyMachine([0xb0, 0x41, 0xe6, 0x10, 0xf4]);
    cleanups.push(m.close);
    expect(m.vcpu.run()).toBe(0);
    const page = m.vcpu.runPage;
    expect(page.exitReason).toBe(KVM_EXIT_IO);
    expect(page.ioPort).toBe(0x10);
    expect(page.ioSize).toBe(1);
    expect(page.ioDirection).toBe(1);
    expect(page.bytes[page.ioDataOffset]).toBe(0x41);
    expect(page.syncRip).toBe(0x1004); // KVM has already advanced past the OUT
    expect(m.vcpu.run()).toBe(0);
    expect(page.exitReason).toBe(KVM_EXIT_HLT);
    expect(m.vcpu.stamps[1]).toBeGreaterThan(m.vcpu.stamps[0] ?? Infinity);
  });

  it("lets userspace answer an IN before the next KVM_RUN", () => {
    // in al, 0x20 ; out 0x21, al ; hlt
    const m = tinyMachine([0xe4, 0x20, 0xe6, 0x21, 0xf4]);
    cleanups.push(m.close);
    m.vcpu.run();
    const page = m.vcpu.runPage;
    expect(page.ioDirection).toBe(0);
    page.bytes[page.ioDataOffset] = 0x5a;
    m.vcpu.run();
    expect(page.ioPort).toBe(0x21);
    expect(page.bytes[page.ioDataOffset]).toBe(0x5a);
  });

  it("reports every ioctl to the observer with its name, result and timing", () => {
    const events: IoctlEvent[] = [];
    const m = tinyMachine([0xf4], (e) => events.push(e));
    cleanups.push(m.close);
    const names = events.map((e) => e.name);
    expect(names.slice(0, 4)).toEqual(["open", "KVM_CREATE_VM", "KVM_SET_USER_MEMORY_REGION", "KVM_GET_VCPU_MMAP_SIZE"]);
    const create = events.find((e) => e.name === "KVM_CREATE_VCPU");
    expect(create?.args).toEqual([0]);
    expect(create?.ret).toBeGreaterThan(2);
    expect(create?.durNs).toBeGreaterThan(0);
  });

  it("throws a KvmError naming the ioctl and errno when a vCPU id is used twice", () => {
    const m = tinyMachine([0xf4]);
    cleanups.push(m.close);
    let err: unknown;
    try {
      m.vm.createVcpu(0, m.sys.getVcpuMmapSize());
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KvmError);
    expect((err as KvmError).syscall).toBe("KVM_CREATE_VCPU");
    expect((err as KvmError).code).toBe("EEXIST");
    expect((err as KvmError).errno).toBe(17);
  });

  it("rejects an invalid memory slot with EINVAL", () => {
    const sys = Kvm.open();
    const vm = sys.createVm();
    cleanups.push(() => { vm.close(); sys.close(); });
    expect(() => vm.setUserMemoryRegion({ slot: 0x7fff, guestPhysAddr: 0n, memorySize: 0x1000n, userspaceAddr: 0x1000n }))
      .toThrow(expect.objectContaining({ code: "EINVAL", syscall: "KVM_SET_USER_MEMORY_REGION" }));
  });

  it("fails with EBADF on a file descriptor that has been closed", () => {
    const sys = Kvm.open();
    sys.close();
    expect(() => sys.getApiVersion()).toThrow(expect.objectContaining({ code: "EBADF" }));
  });

  it("creates an in-kernel irqchip and PIT, drives an IRQ line and reads the vCPU's MP state", () => {
    const sys = Kvm.open();
    const vm = sys.createVm();
    vm.createIrqchip();
    vm.createPit2();
    vm.irqLine(4, 1);
    vm.irqLine(4, 0);
    const memory = new GuestMemory(0x10000);
    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0n, memorySize: 0x10000n, userspaceAddr: memory.address });
    const bsp = vm.createVcpu(0, sys.getVcpuMmapSize());
    const ap = vm.createVcpu(1, sys.getVcpuMmapSize());
    cleanups.push(() => { ap.close(); bsp.close(); vm.close(); memory.close(); sys.close(); });
    // With an in-kernel LAPIC the boot processor is runnable and the others wait for INIT/SIPI.
    expect(bsp.getMpState()).toBe(MP_STATE.RUNNABLE);
    expect(ap.getMpState()).toBe(MP_STATE.UNINITIALIZED);
    ap.setMpState(MP_STATE.RUNNABLE);
    expect(ap.getMpState()).toBe(MP_STATE.RUNNABLE);
    expect(() => vm.createIrqchip()).toThrow(expect.objectContaining({ syscall: "KVM_CREATE_IRQCHIP" }));
  });

  it("keeps port 0x61 inside KVM with the in-kernel PIT (KVM_PIT_SPEAKER_DUMMY by default), and hands it over without the flag", () => {
    // in al, 0x61 ; out 0x80, al
    const code = [0xe4, 0x61, 0xe6, 0x80];
    const withDummy = tinyMachine(code, undefined, {});
    cleanups.push(withDummy.close);
    expect(withDummy.vcpu.run()).toBe(0);
    expect(withDummy.vcpu.runPage.exitReason).toBe(KVM_EXIT_IO);
    expect(withDummy.vcpu.runPage.ioPort).toBe(0x80); // the IN from 0x61 never reached us
    const without = tinyMachine(code, undefined, { pitFlags: 0 });
    cleanups.push(without.close);
    expect(without.vcpu.run()).toBe(0);
    expect(without.vcpu.runPage.exitReason).toBe(KVM_EXIT_IO);
    expect(without.vcpu.runPage.ioPort).toBe(0x61);
    expect(without.vcpu.runPage.ioDirection).toBe(0); // KVM_EXIT_IO_IN
  });

  it("injects an interrupt with KVM_INTERRUPT only without an in-kernel irqchip", () => {
    const m = tinyMachine([0xf4]);
    cleanups.push(m.close);
    expect(() => m.vcpu.interrupt(0x20)).not.toThrow();
    const sys = Kvm.open();
    const vm = sys.createVm();
    vm.createIrqchip();
    const vcpu = vm.createVcpu(0, sys.getVcpuMmapSize());
    cleanups.push(() => { vcpu.close(); vm.close(); sys.close(); });
    expect(() => vcpu.interrupt(0x20)).toThrow(expect.objectContaining({ syscall: "KVM_INTERRUPT", code: "ENXIO" }));
  });

  it("says plainly when the KVM device does not exist", () => {
    expect(() => Kvm.open({ path: "/dev/no-such-kvm" })).toThrow(/does not exist: this machine exposes no KVM/);
  });

  it("reads the kernel's binary statistics: exits KVM counted for this vCPU", () => {
    const m = tinyMachine([0xb0, 0x41, 0xe6, 0x10, 0xf4]);
    cleanups.push(m.close);
    const stats = m.vcpu.getStatsFd();
    cleanups.push(() => stats.close());
    m.vcpu.run();
    m.vcpu.run();
    stats.refresh();
    // `exits` counts every VM exit, the two handed to us included. (Which kind-specific counter
    // an OUT bumps depends on the host: kvm-pvm emulates real mode and counts it as
    // insn_emulation, VMX counts io_exits; HLT is halt_exits everywhere.)
    expect(stats.value("exits")).toBeGreaterThanOrEqual(2);
    expect(stats.value("halt_exits")).toBeGreaterThanOrEqual(1);
    expect(stats.value("no_such_stat")).toBeUndefined();
  });

  it("detaches guest RAM after it is closed, so no view can reach unmapped memory", async () => {
    const memory = new GuestMemory(0x2000);
    const view = new Uint8Array(memory.buffer);
    memory.close();
    expect(memory.closed).toBe(true);
    await new Promise((r) => setTimeout(r, 1100)); // the grace period (see GuestMemory.close)
    expect(memory.buffer.byteLength).toBe(0);
    expect(view.length).toBe(0);
  });

  it("never lets a late finalizer unmap a newer mapping that reuses the address", () => {
    // Regression: finalizers went by address, so garbage-collecting an explicitly unmapped
    // kvm_run view unmapped whatever the kernel had since mapped there, and the process crashed.
    const binding = new URL("../dist/index.js", import.meta.url).href;
    const script = `
      const b = await import(${JSON.stringify(binding)});
      const sys = b.Kvm.open(); const vm = sys.createVm(); const size = sys.getVcpuMmapSize();
      const vcpu = vm.createVcpu(0, size);
      let seen = 0;
      for (let i = 0; i < 200; i++) {
        let old = new b.VcpuKicker(vcpu.fd, size);
        old.close();                       // explicit unmap: the address is free again
        old = null;
        const fresh = new b.VcpuKicker(vcpu.fd, size); // usually lands at that same address
        globalThis.gc();                   // the old, detached buffer's finalizer runs now
        await new Promise((r) => setImmediate(r));
        seen += fresh.runPage.exitReason >= 0 ? 1 : 0; // touches the fresh mapping
        fresh.close();
      }
      console.log("ok", seen);
    `;
    const r = spawnSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", script], { encoding: "utf8", timeout: 30_000 });
    expect(r.signal).toBeNull();
    expect(r.stdout.trim()).toBe("ok 200");
  });

  it("takes struct offsets from the compiler: kvm_regs.rip is the 17th __u64, cpuid2 entries start at 8", () => {
    expect(kvmLayout("regs.rip")).toBe(128);
    expect(kvmLayout("cpuid2.entries")).toBe(8);
    expect(kvmLayout("stats_desc.name")).toBe(16);
    expect(kvmConstant("KVM_RUN")).toBe(0xae80);
  });

  it("kicks a vCPU out of KVM_RUN from another thread: run() returns -EINTR", async () => {
    // A guest that never exits (jmp $) runs in a worker; the main thread kicks it.
    const sys = Kvm.open();
    const vm: Vm = sys.createVm();
    const memory = new GuestMemory(0x10000);
    memory.bytes.set([0xeb, 0xfe], 0x1000);
    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0n, memorySize: 0x10000n, userspaceAddr: memory.address });
    const mmapSize = sys.getVcpuMmapSize();
    const binding = new URL("../dist/index.js", import.meta.url).href;
    const worker = new Worker(`
      const { parentPort, workerData } = require("node:worker_threads");
      import(workerData.binding).then((b) => {
        const vm = b.Vm.adopt(workerData.vmFd);
        const vcpu = vm.createVcpu(0, workerData.mmapSize);
        const sregs = vcpu.getSregs(); sregs.cs.base = 0n; sregs.cs.selector = 0; vcpu.setSregs(sregs);
        const regs = vcpu.getRegs(); regs.rip = 0x1000n; regs.rflags = 2n; vcpu.setRegs(regs);
        parentPort.postMessage({ tid: b.currentTid(), fd: vcpu.fd });
        let ret = 0;
        while ((ret = vcpu.run()) === 0) {}
        const page = vcpu.runPage;
        const result = { ret, exitReason: page.exitReason, immediateExit: page.immediateExit };
        vcpu.close();
        parentPort.postMessage(result);
      });
    `, { eval: true, workerData: { binding, vmFd: vm.fd, mmapSize } });
    const messages: Record<string, number>[] = [];
    const done = new Promise<void>((resolve, reject) => {
      worker.on("message", (m) => { messages.push(m); if (messages.length === 2) resolve(); });
      worker.on("error", reject);
    });
    while (messages.length === 0) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 50)); // let it enter the guest
    const kicker = new VcpuKicker(messages[0]?.fd ?? -1, mmapSize, messages[0]?.tid ?? 0);
    expect(kicker.kick()).toBe(true);
    // As the VMM does when it stops a run, kick again until the thread answers: once in a CI run
    // under heavy load a single kick went unanswered (see the issue note); one kick is the norm.
    const rekick = setInterval(() => kicker.kick(), 200);
    await done;
    clearInterval(rekick);
    await new Promise((r) => worker.once("exit", r));
    kicker.close();
    vm.close();
    memory.close();
    sys.close();
    expect(messages[1]?.ret).toBe(-4); // -EINTR
    expect(messages[1]?.immediateExit).toBe(1); // stays set until the vCPU thread clears it
  });
});

describe("the KVM binding without KVM", () => {
  it("exports struct sizes computed by the C compiler", () => {
    expect(kvmLayout("kvm_regs")).toBe(18 * 8);
    expect(() => kvmLayout("no.such.field")).toThrow(/not exported/);
  });
});

export type { Vcpu };
