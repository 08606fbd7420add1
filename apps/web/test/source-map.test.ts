import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { EXIT_REASON_INFO, exitReasonName, KVMSCOPE_IOCTLS, KvmExit, type ExitRecord, type MarkerRecord } from "@kvmscope/shared";
import { IOCTL_PLACES } from "../src/lib/ioctl-places";
import { allMappings, EXIT_LOOP, exitSource, ioctlSource, sourceForRecord, type ArticleLine } from "../src/lib/source-map";
import { ARTICLE, articleLine, defines, exists } from "./vmm-source";

describe("the source map points at code that exists", () => {
  it("finds every named VMM function in the file it names", () => {
    const missing: string[] = [];
    for (const m of allMappings()) {
      for (const ref of m.vmm) {
        if (!exists(ref.file)) missing.push(`${ref.file} (no such file)`);
        else if (!defines(ref.file, ref.fn)) missing.push(`${ref.file}: ${ref.fn}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it("would notice a function that is not there", () => {
    expect(defines("apps/vmm/src/vcpu/dispatch.ts", "handleIo")).toBe(true);
    expect(defines("apps/vmm/src/vcpu/dispatch.ts", "handleIoRenamed")).toBe(false);
    expect(defines("apps/vmm/src/devices/uart-16550.ts", "Uart.write")).toBe(true);
    // `close` exists in kvm.ts, but not as a method of Vm itself.
    expect(defines("packages/kvm-binding/lib/kvm.ts", "Vm.close")).toBe(false);
    // A call (`this.#kickAll()`) is not a definition; the definition is found separately.
    expect(defines("apps/vmm/src/machine.ts", "Machine.#kickAll")).toBe(true);
    expect(defines("apps/vmm/src/machine.ts", "Machine.kickAll")).toBe(false);
  });
});

describe("exits map to our handler and to qemu-kvm 0.14's", () => {
  it("sends a write to COM1 through handleIo and the bus to the UART model, beside kvm_handle_io", () => {
    const m = exitSource(KvmExit.IO, { port: 0x3f8, write: true });
    expect(m.vmm.map((r) => [r.file, r.fn])).toEqual([
      ["apps/vmm/src/vcpu/dispatch.ts", "handleIo"],
      ["apps/vmm/src/devices/bus.ts", "Bus.write"],
      ["apps/vmm/src/devices/uart-16550.ts", "Uart.write"],
    ]);
    expect(m.qemu).toEqual({ fn: "kvm_handle_io", file: "kvm-all.c", at: { file: "kvm-all.c", fn: "kvm_cpu_exec", line: 964, shows: "kvm_handle_io", ran: { file: "qemu-kvm.c", fn: "kvm_run", line: 617 } } });
  });

  it("sends a teaching-device read through handleMmio to the device, beside cpu_physical_memory_rw", () => {
    const rec: ExitRecord = {
      type: "exit", seq: 100, ts: 345391936, vcpu: 0, reason: "KVM_EXIT_MMIO", code: KvmExit.MMIO, rip: 0x7c46,
      guestNs: 12303, handleNs: 451396, ifFlag: false, readyForInjection: false, requestedWindow: false,
      mmio: { addr: 0xd0000000, len: 4, isWrite: false, data: [75, 86, 77, 83] },
    };
    const m = sourceForRecord(rec);
    expect(m?.vmm.map((r) => r.fn)).toEqual(["handleMmio", "Bus.read", "MmioTeachingDevice.read"]);
    expect(m?.qemu?.fn).toBe("cpu_physical_memory_rw");
    expect(m?.qemu?.file).toBe("exec.c");
  });

  it("leaves the device out where no device answers", () => {
    expect(exitSource(KvmExit.IO, { port: 0x1234 }).vmm.map((r) => r.role)).toEqual(["handler", "bus"]);
  });

  it("uses the qemu function EXIT_REASON_INFO gives for every reason it explains", () => {
    for (const [code, info] of Object.entries(EXIT_REASON_INFO)) {
      const q = exitSource(Number(code)).qemu;
      expect(q?.fn, exitReasonName(Number(code))).toBe(info?.qemu.fn);
      expect(q?.file).toBe(info?.qemu.file);
    }
  });

  it("names the handler of every exit reason, and the loop they return to", () => {
    for (const code of Object.values(KvmExit)) expect(exitSource(code).vmm.length).toBeGreaterThan(0);
    expect(EXIT_LOOP.vmm.fn).toBe("runExitLoop");
    expect(EXIT_LOOP.qemu.fn).toBe("kvm_main_loop_cpu");
  });
});

describe("ioctls map to where they are issued", () => {
  it("has our caller or binding for every traced ioctl", () => {
    for (const { name } of KVMSCOPE_IOCTLS) expect(ioctlSource(name).vmm.length, name).toBeGreaterThan(0);
  });

  it("takes our callers, the binding and the qemu side from IOCTL_PLACES", () => {
    for (const { name } of KVMSCOPE_IOCTLS) {
      const place = IOCTL_PLACES[name];
      const m = ioctlSource(name);
      const ours = [place.ours, ...(place.also ?? [])].flatMap((i) => (i === null ? [] : [[i.file, i.fn, "caller"]]));
      expect(m.vmm.map((r) => [r.file, r.fn, r.role]), name).toEqual([...ours, ["packages/kvm-binding/lib/kvm.ts", place.binding, "binding"]]);
      // The panel speaks of the article: it shows the qemu side only where the article names the function.
      if (place.qemu === null || !place.qemu.named) expect(m.qemu, name).toBeNull();
      else expect(m.qemu, name).toEqual({ fn: place.qemu.fn, file: place.qemu.file, ...(place.qemu.at ? { at: place.qemu.at } : {}) });
    }
  });

  it("puts KVM_CREATE_VCPU on the vCPU thread, as ap_main_loop does", () => {
    const m = ioctlSource("KVM_CREATE_VCPU");
    expect(m.vmm[0]).toMatchObject({ file: "apps/vmm/src/vcpu/thread.ts", fn: "main" });
    expect(m.qemu).toMatchObject({ fn: "kvm_create_vcpu", at: { fn: "ap_main_loop", line: 1527 } });
  });

  it("names both closers of a close, and no qemu function for it", () => {
    const m = ioctlSource("close");
    expect(m.vmm.map((r) => r.fn)).toEqual(["Machine.#tearDown", "main", "IoctlIssuer.close"]);
    expect(m.qemu).toBeNull();
  });

  it("gives KVM_RUN the article's kvm_cpu_exec, which issues it at kvm-all.c line 941", () => {
    expect(ioctlSource("KVM_RUN").qemu).toEqual({ fn: "kvm_cpu_exec", file: "kvm-all.c", at: { file: "kvm-all.c", fn: "kvm_cpu_exec", line: 941, shows: "KVM_RUN", ran: { file: "qemu-kvm.c", fn: "kvm_run", line: 582 } } });
  });

  it("names only the binding for an ioctl our VMM never issues", () => {
    expect(ioctlSource("KVM_IRQ_LINE").vmm.map((r) => [r.fn, r.role])).toEqual([["Vm.irqLine", "binding"]]);
    expect(ioctlSource("KVM_IRQ_LINE").qemu).toBeNull(); // the article does not name kvm_set_irq_level
  });

  it("has nothing to map for a marker", () => {
    const marker: MarkerRecord = { type: "marker", seq: 21, ts: 1, thread: "main", text: "hello" };
    expect(sourceForRecord(marker)).toBeNull();
  });
});

describe.skipIf(!existsSync(ARTICLE))("the article's line numbers", () => {
  it("shows what the map says at every line it cites, in the file it names", () => {
    const cited: ArticleLine[] = [];
    for (const m of allMappings()) if (m.qemu?.at !== undefined) cited.push(m.qemu.at);
    expect(cited.length).toBeGreaterThan(5);
    for (const at of cited) {
      const found = articleLine(at.line);
      expect(found, `line ${at.line}`).not.toBeNull();
      expect(found?.text, `line ${at.line}`).toContain(at.shows);
      expect(found?.file, `line ${at.line}`).toBe(at.file);
    }
  });
});
