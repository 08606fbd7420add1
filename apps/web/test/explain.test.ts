import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  exitReasonName, internalErrorName, KVM_CAP_NAMES, KVMSCOPE_IOCTLS, KvmExit, type ExitRecord, type IoctlRecord, type IoPayload, type MmioPayload,
} from "@kvmscope/shared";
import { DEVICE_MODELS, rangeById, rangeOfPort } from "../src/lib/devices";
import {
  explainRecord, formatAccessData, formatByte, formatBytes, formatIoctlArgs, guestRegisters, ioctlDocUrl, markerText, recordFields,
} from "../src/lib/explain";
import { endMessage, outcomeLabel } from "../src/lib/outcomes";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const DOC = "https://docs.kernel.org/virt/kvm/api.html";

// Records shaped like the VMM's (`kvmscope run hello|echo|mmio|timer|triple-fault --format ndjson`).
function exit(code: number, extra: Partial<ExitRecord> = {}): ExitRecord {
  return {
    type: "exit", seq: 23, ts: 350104502, vcpu: 0, reason: exitReasonName(code), code, rip: 0x7c0d,
    guestNs: 204323, handleNs: 1045390, ifFlag: false, readyForInjection: false, requestedWindow: false, ...extra,
  };
}
const io = (port: number, direction: "in" | "out", data: number[], more: Partial<IoPayload> = {}): ExitRecord =>
  exit(KvmExit.IO, { io: { port, size: 1, direction, count: 1, data, ...more } });
const mmio = (addr: number, isWrite: boolean, data: number[]): ExitRecord =>
  exit(KvmExit.MMIO, { mmio: { addr, len: data.length, isWrite, data } satisfies MmioPayload });
function ioctl(name: string, args: Record<string, number>, ret: number, errno = 0, error?: string): IoctlRecord {
  const r: IoctlRecord = { type: "ioctl", seq: 9, ts: 10034186, thread: "main", name, fd: 19, args, ret, errno, durNs: 541204 };
  if (error !== undefined) r.error = error;
  return r;
}

describe("explaining port I/O exits", () => {
  it("says which character the guest sent to COM1 and what the UART model did with it", () => {
    const e = explainRecord(io(0x3f8, "out", [0x48]), "en");
    expect(e.headline).toBe("KVM_EXIT_IO, OUT, port 0x3f8");
    expect(e.sentence).toContain("'H' (0x48)");
    expect(e.sentence).toContain("COM1's transmit holding register (THR)");
    expect(e.sentence).toContain("console");
    expect(e.docUrl).toBe(`${DOC}#the-kvm-run-structure`);
  });

  it("names a control byte instead of printing it", () => {
    expect(explainRecord(io(0x3f8, "out", [0x0a]), "en").sentence).toContain("0x0a (newline)");
    expect(explainRecord(io(0x3f8, "out", [0x0a]), "ja").sentence).toContain("0x0a (改行)");
  });

  it("reads the LSR bits a polling guest waits on", () => {
    const idle = explainRecord(io(0x3fd, "in", [0x60]), "en").sentence;
    expect(idle).toContain("line status register (LSR)");
    expect(idle).toContain("no received byte is waiting (DR=0)");
    expect(idle).toContain("transmitter is empty");
    expect(explainRecord(io(0x3fd, "in", [0x61]), "en").sentence).toContain("a received byte is waiting (DR=1)");
  });

  it("treats ports 0x3f8/0x3f9 as the divisor latch when the caller knows DLAB is set", () => {
    expect(explainRecord(io(0x3f8, "out", [0x01]), "en", { uartDlab: true }).sentence).toContain("divisor latch, low byte (DLL)");
    expect(explainRecord(io(0x3fb, "out", [0x83]), "en").sentence).toContain("DLAB is set");
  });

  it("explains the debug console, the exit device and the POST port", () => {
    expect(explainRecord(io(0xe9, "out", [0x70]), "en").sentence).toContain("'p' (0x70) to the debug console");
    expect(explainRecord(io(0xe9, "out", [0x0a]), "en").sentence).toContain("ends the line");
    const bye = explainRecord(io(0xf4, "out", [0x01]), "en").sentence;
    expect(bye).toContain("isa-debug-exit");
    expect(bye).toContain("= 3");
    expect(explainRecord(io(0x80, "out", [0x55]), "en").sentence).toContain("POST code 0x55");
  });

  it("decodes what the timer guest programs into the PIC and the PIT", () => {
    expect(explainRecord(io(0x20, "out", [0x11]), "en").sentence).toContain("ICW1");
    expect(explainRecord(io(0xa0, "out", [0x11]), "en").sentence).toContain("the slave 8259A PIC");
    expect(explainRecord(io(0x20, "out", [0x20]), "en").sentence).toContain("non-specific EOI");
    const imr = explainRecord(io(0x21, "out", [0x20]), "en").sentence;
    expect(imr).toContain("interrupt mask (IMR)");
    // A register value is a number, not a character (0x20 is not "a space" here).
    expect(imr).toContain("wrote 0x20 to");
    const pit = explainRecord(io(0x43, "out", [0x34]), "en").sentence;
    expect(pit).toContain("counter 0");
    expect(pit).toContain("low byte then high byte");
    expect(pit).toContain("mode 2 (rate generator");
    expect(explainRecord(io(0x40, "out", [0x9c]), "en").sentence).toContain("PIT counter 0");
  });

  it("says a port with no device reads as 0xff and drops writes", () => {
    expect(explainRecord(io(0x1234, "in", [0xff]), "en").sentence).toContain("no device sits: the VMM answered 0xff");
    expect(explainRecord(io(0x1234, "out", [0x00]), "en").sentence).toContain("drops the write");
  });

  it("shows string I/O as one exit of many accesses, and says when the record cut the data", () => {
    const bytes = Array.from("Hello", (c) => c.charCodeAt(0));
    const e = explainRecord(io(0x3f8, "out", bytes, { count: 5 }), "en");
    expect(e.sentence).toContain("5 accesses of 1 byte");
    expect(e.sentence).toContain('"Hello"');
    const long = explainRecord(io(0xe9, "out", new Array(64).fill(0x41), { count: 100, dataLen: 100, truncated: true }), "en");
    expect(long.sentence).toContain("first 64 of 100 bytes");
  });
});

describe("explaining MMIO exits", () => {
  it("reads the teaching device's registers by offset", () => {
    const base = rangeById("teaching").range.base;
    const id = explainRecord(mmio(base, false, [75, 86, 77, 83]), "en");
    expect(id.headline).toBe("KVM_EXIT_MMIO, read, 0xd0000000 (4 bytes)");
    expect(id.sentence).toContain("ID register: 0x534d564b");
    expect(explainRecord(mmio(base + 4, true, [0xde, 0xc0, 0xad, 0x1b]), "en").sentence).toContain("stored 0x1badc0de in the teaching device's SCRATCH");
    expect(explainRecord(mmio(base + 8, false, [2, 0, 0, 0]), "en").sentence).toContain("COUNTER: 2");
    expect(explainRecord(mmio(base + 0xc, true, [1, 0, 0, 0]), "en").sentence).toContain('"doorbell 1"');
    expect(explainRecord(mmio(base + 2, false, [0]), "en").sentence).toContain("no register answers");
  });

  it("says nothing backs an address outside RAM and the device", () => {
    expect(explainRecord(mmio(0xe000_0000, false, [255, 255, 255, 255]), "en").sentence).toContain("no RAM and no device there");
  });
});

describe("explaining the other exits", () => {
  it("tells a halt that waits for an interrupt from one that is final", () => {
    const waits = explainRecord(exit(KvmExit.HLT, { ifFlag: true }), "en").sentence;
    const final = explainRecord(exit(KvmExit.HLT, { ifFlag: false }), "en").sentence;
    expect(waits).toContain("IF=1");
    expect(final).toContain("halted for good");
  });

  it("explains the interrupt window, a kick and a triple fault", () => {
    expect(explainRecord(exit(KvmExit.IRQ_WINDOW_OPEN), "en").sentence).toContain("KVM_INTERRUPT");
    expect(explainRecord(exit(KvmExit.INTR), "en").sentence).toContain("kicked");
    expect(explainRecord(exit(KvmExit.SHUTDOWN), "en").sentence).toContain("triple-faulted");
  });

  it("shows an internal error's suberror and the instruction bytes KVM could not emulate", () => {
    const e = explainRecord(exit(KvmExit.INTERNAL_ERROR, {
      internal: { suberror: 1, suberrorName: internalErrorName(1), data: [1, 2], insn: [0x0f, 0x0b] },
    }), "en");
    expect(e.headline).toBe("KVM_EXIT_INTERNAL_ERROR, KVM_INTERNAL_ERROR_EMULATION");
    expect(e.sentence).toContain("0f 0b");
    expect(e.sentence).toContain("cannot emulate");
  });

  it("has words in both languages for every exit reason, and a link to the kvm_run structure", () => {
    for (const code of Object.values(KvmExit)) {
      const en = explainRecord(exit(code), "en");
      const ja = explainRecord(exit(code), "ja");
      expect(en.sentence.length).toBeGreaterThan(20);
      expect(ja.sentence).toMatch(/[\u3040-\u30ff\u4e00-\u9fff]/);
      expect(ja.sentence).not.toBe(en.sentence);
      expect(en.docUrl).toBe(`${DOC}#the-kvm-run-structure`);
    }
  });
});

describe("explaining ioctls", () => {
  it("says what each call asked and what KVM returned", () => {
    const vm = explainRecord(ioctl("KVM_CREATE_VM", { type: 0 }, 20), "en");
    expect(vm.headline).toBe("KVM_CREATE_VM → 20");
    expect(vm.sentence).toContain("VM fd 20");
    expect(vm.docUrl).toBe(`${DOC}#kvm-create-vm`);
    expect(explainRecord(ioctl("KVM_CHECK_EXTENSION", { cap: 66 }, 1024), "en").sentence).toContain("KVM_CAP_MAX_VCPUS (66)");
    const mem = explainRecord(ioctl("KVM_SET_USER_MEMORY_REGION", { slot: 0, guestPhysAddr: 0, memorySize: 16777216 }, 0), "en").sentence;
    expect(mem).toContain("16 MiB");
    expect(mem).toContain("0x0–0xffffff");
    expect(explainRecord(ioctl("KVM_SET_SREGS", { cr0: 0x60000010, efer: 0 }, 0), "en").sentence).toContain("real mode");
    expect(explainRecord(ioctl("KVM_INTERRUPT", { vector: 32 }, 0), "en").sentence).toContain("0x20 (32)");
  });

  it("explains a KVM_RUN that was interrupted before the guest ran, with its errno", () => {
    const e = explainRecord(ioctl("KVM_RUN", {}, -1, 4, "EINTR"), "en");
    expect(e.headline).toBe("KVM_RUN → -1 (EINTR)");
    expect(e.sentence).toContain("without entering the guest");
    expect(e.docUrl).toBe(`${DOC}#kvm-run`);
  });

  it("reports a failed call's errno", () => {
    expect(explainRecord(ioctl("KVM_CREATE_VCPU", { vcpuId: 0 }, -1, 17, "EEXIST"), "en").sentence).toContain("failed with EEXIST (17)");
  });

  it("links every traced ioctl to its own section, named as Sphinx names headings", () => {
    for (const { name } of KVMSCOPE_IOCTLS) {
      const url = ioctlDocUrl(name);
      expect(url.startsWith(`${DOC}#`)).toBe(true);
      expect(url).not.toContain("#api-description");
      // "4.2 KVM_CREATE_VM" -> #kvm-create-vm; the exceptions are documented in explain.ts.
      if (name.startsWith("KVM_") && name !== "KVM_SET_CPUID2") expect(url).toBe(`${DOC}#${name.toLowerCase().replaceAll("_", "-")}`);
    }
    expect(ioctlDocUrl("IOCTL_99")).toBe(`${DOC}#api-description`);
  });

  it("has words in both languages for every traced ioctl", () => {
    for (const { name, args } of KVMSCOPE_IOCTLS) {
      const a = Object.fromEntries(args.map((k) => [k, 1]));
      const en = explainRecord(ioctl(name, a, 0), "en").sentence;
      const ja = explainRecord(ioctl(name, a, 0), "ja").sentence;
      expect(en).not.toBe(ja);
      expect(ja).toMatch(/[\u3040-\u30ff\u4e00-\u9fff]/);
    }
  });
});

describe("bytes and fields", () => {
  it("shows a byte as a character only when it is printable ASCII", () => {
    expect(formatByte(0x48, "en")).toBe("'H' (0x48)");
    expect(formatByte(0x0a, "en")).toBe("0x0a (newline)");
    expect(formatByte(0x90, "en")).toBe("0x90");
    expect(formatBytes([0x4b, 0x56, 0x4d, 0x53], "en")).toBe('"KVMS"');
    expect(formatBytes([0x41, 0x00], "en")).toBe("'A' (0x41), 0x00 (NUL)");
  });

  it("lists every field of an exit record, payload included", () => {
    const keys = recordFields(io(0x3f8, "out", [0x48]), "en").map((f) => f.key);
    expect(keys).toEqual([
      "type", "seq", "ts", "vcpu", "reason", "code", "rip", "guestNs", "handleNs", "ifFlag", "readyForInjection",
      "requestedWindow", "io.port", "io.size", "io.direction", "io.count", "io.data",
    ]);
    const fields = Object.fromEntries(recordFields(io(0x3f8, "out", [0x48]), "en").map((f) => [f.key, f.value]));
    expect(fields["io.port"]).toBe("0x3f8 (1016)");
    expect(fields["rip"]).toBe("0x7c0d (31757)");
    expect(fields["io.data"]).toBe("'H' (0x48)");
  });

  it("says plainly which guest registers an exit record does not carry", () => {
    const regs = guestRegisters(exit(KvmExit.HLT, { rip: 0x7c11, ifFlag: true }));
    expect(regs.known).toEqual([{ name: "RIP", value: "0x7c11" }, { name: "RFLAGS.IF", value: "1" }]);
    expect(regs.notRecorded).toContain("RAX");
    expect(regs.notRecorded).toContain("CR0");
  });
});

describe("the address map", () => {
  it("matches the ranges in apps/vmm/src/layout.ts", () => {
    const layout = readFileSync(`${ROOT}apps/vmm/src/layout.ts`, "utf8");
    const ranges = new Map<string, { base: number; length: number }>();
    for (const m of layout.matchAll(/export const (\w+): AddressRange = \{ base: ([0-9a-fx_]+), length: ([0-9a-fx_]+) \}/g)) {
      ranges.set(m[1]!, { base: Number(m[2]!.replaceAll("_", "")), length: Number(m[3]!.replaceAll("_", "")) });
    }
    for (const d of DEVICE_MODELS.flatMap((m) => m.ranges)) {
      expect(ranges.get(d.layoutName), d.layoutName).toEqual({ base: d.base, length: d.length });
    }
    expect(rangeOfPort(0x3fd)).toMatchObject({ range: { id: "uart" }, offset: 5 });
    expect(rangeOfPort(0x3f7)).toBeNull();
  });

  it.skipIf(!existsSync("/usr/include/linux/kvm.h"))("names capabilities with the numbers <linux/kvm.h> gives them", () => {
    const header = readFileSync("/usr/include/linux/kvm.h", "utf8");
    for (const [n, name] of Object.entries(KVM_CAP_NAMES)) {
      const m = new RegExp(`#define ${name}\\s+(\\d+)`).exec(header);
      expect(m?.[1], name).toBe(n);
    }
  });
});

describe("numbers as the pages show them", () => {
  it("shows ioctl arguments with capabilities by name and addresses in hex", () => {
    expect(formatIoctlArgs({ rip: 31744 })).toBe("rip=0x7c00");
    expect(formatIoctlArgs({ cap: 66 })).toBe("cap=KVM_CAP_MAX_VCPUS (66)");
    expect(formatIoctlArgs({ cap: 999 })).toBe("cap=KVM_CAP (999)");
    expect(formatIoctlArgs({ slot: 0, guestPhysAddr: 0, memorySize: 16777216 })).toBe("slot=0 guestPhysAddr=0x0 memorySize=0x1000000");
    const fields = recordFields(ioctl("KVM_SET_REGS", { rip: 31744 }, 0), "en");
    expect(fields.find((f) => f.key === "args.rip")?.value).toBe("0x7c00");
  });

  it("reads wider accesses as the little-endian value the guest wrote", () => {
    expect(formatAccessData([0xde, 0xc0, 0xad, 0x1b], 4, "en")).toBe("0x1badc0de");
    expect(formatAccessData([0x01, 0x00], 2, "en")).toBe("0x0001");
    expect(formatAccessData([0x48], 1, "en")).toBe("'H' (0x48)");
    expect(formatAccessData([1, 0, 0, 0, 2, 0, 0, 0], 4, "en")).toBe("0x00000001, 0x00000002");
    expect(formatAccessData([0x78, 0x56, 0x34, 0x12, 0x01, 0, 0, 0], 8, "en")).toBe("0x112345678");
    const fields = recordFields(mmio(0xd0000004, true, [0xde, 0xc0, 0xad, 0x1b]), "en");
    expect(fields.find((f) => f.key === "mmio.data")?.value).toBe("0x1badc0de");
  });

  it("words the VMM's own markers in the reader's language and leaves the guest's as written", () => {
    const release = "all 1 vCPU thread(s) created their vCPU; releasing them (qemu_system_ready)";
    expect(markerText("main", release, "en")).toBe("the vCPU thread has created its vCPU; releasing it (qemu_system_ready)");
    expect(markerText("main", release.replace("1", "4"), "en")).toBe("all 4 vCPU threads have created their vCPUs; releasing them (qemu_system_ready)");
    expect(markerText("main", release, "ja")).toContain("qemu_system_ready");
    expect(markerText("main", release, "ja")).not.toContain("thread(s)");
    expect(markerText("vcpu0", release, "ja")).toBe(release);
    expect(markerText("vcpu0", "15 ticks done", "ja")).toBe("15 ticks done");
    expect(explainRecord({ type: "marker", seq: 21, ts: 1, thread: "main", text: release }, "ja").sentence).not.toContain("thread(s)");
  });

  it("says how a run ended in Japanese, from the end object's facts", () => {
    expect(outcomeLabel("halted", "ja")).not.toBe("halted");
    expect(outcomeLabel("something-new", "ja")).toBe("something-new");
    const halted = { outcome: "halted", message: "every vCPU halted with nothing left to wake it" };
    expect(endMessage(halted, "en")).toBe(halted.message);
    expect(endMessage(halted, "ja")).not.toMatch(/[a-z]{4,}/);
    expect(endMessage({ outcome: "stopped", message: "stopped on request" }, "ja")).toBe("停止の要求で終了した");
    expect(endMessage({ outcome: "debug-exit", vcpu: 0, debugExitValue: 1, message: "the guest wrote 1 (0x1) to isa-debug-exit (port 0xf4) on vCPU 0" }, "ja"))
      .toBe("vCPU 0 でゲストが isa-debug-exit（ポート 0xf4）に 1（0x1）を書き込んだ");
    expect(endMessage({ outcome: "timeout", message: "the run timed out after 120 s" }, "ja")).toBe("120 秒の制限時間で実行を終えた");
    expect(endMessage({ outcome: "new-kind", message: "as the VMM said" }, "ja")).toBe("as the VMM said");
    expect(endMessage(null, "ja")).toBeNull();
  });
});
