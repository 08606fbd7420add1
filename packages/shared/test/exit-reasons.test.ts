import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  EXIT_REASON_NAMES, exitReasonCode, exitReasonInfo, exitReasonName, internalErrorName, KvmExit, KvmInternalError,
  KvmSystemEvent, QEMU_RUN_LOOP, systemEventName,
} from "../src/index.js";

const HEADER = "/usr/include/linux/kvm.h";

/** `#define PREFIX_NAME <number>` pairs from the kernel header. */
function headerDefines(prefix: string): Map<string, number> {
  const out = new Map<string, number>();
  const re = new RegExp(`^#define\\s+(${prefix}[A-Z0-9_]+)\\s+(\\d+)\\b`, "gm");
  for (const m of readFileSync(HEADER, "utf8").matchAll(re)) out.set(m[1]!, Number(m[2]));
  return out;
}

describe("exit reasons", () => {
  it("names the codes a student meets with the header's numbers", () => {
    expect(exitReasonName(0)).toBe("KVM_EXIT_UNKNOWN");
    expect(exitReasonName(2)).toBe("KVM_EXIT_IO");
    expect(exitReasonName(5)).toBe("KVM_EXIT_HLT");
    expect(exitReasonName(6)).toBe("KVM_EXIT_MMIO");
    expect(exitReasonName(7)).toBe("KVM_EXIT_IRQ_WINDOW_OPEN");
    expect(exitReasonName(8)).toBe("KVM_EXIT_SHUTDOWN");
    expect(exitReasonName(10)).toBe("KVM_EXIT_INTR");
    expect(exitReasonName(17)).toBe("KVM_EXIT_INTERNAL_ERROR");
    expect(exitReasonName(24)).toBe("KVM_EXIT_SYSTEM_EVENT");
    expect(exitReasonName(37)).toBe("KVM_EXIT_NOTIFY");
    expect(EXIT_REASON_NAMES).toHaveLength(38);
  });

  it.skipIf(!existsSync(HEADER))("matches every KVM_EXIT_* code 0..37 in <linux/kvm.h> exactly", () => {
    const defines = headerDefines("KVM_EXIT_");
    // The header also defines the IO directions and Hyper-V/Xen sub-exits with small numbers;
    // the exit reasons are the ones named in our table.
    for (let code = 0; code <= 37; code++) {
      const name = EXIT_REASON_NAMES[code]!;
      expect(defines.get(name), name).toBe(code);
    }
  });

  it.skipIf(!existsSync(HEADER))("matches the header's internal-error suberrors and system-event types", () => {
    const internal = headerDefines("KVM_INTERNAL_ERROR_");
    for (const [short, n] of Object.entries(KvmInternalError)) expect(internal.get(`KVM_INTERNAL_ERROR_${short}`)).toBe(n);
    const events = headerDefines("KVM_SYSTEM_EVENT_");
    for (const [short, n] of Object.entries(KvmSystemEvent)) expect(events.get(`KVM_SYSTEM_EVENT_${short}`)).toBe(n);
  });

  it("names an unknown code KVM_EXIT_<code> and maps that name back to the code", () => {
    expect(exitReasonName(99)).toBe("KVM_EXIT_99");
    expect(exitReasonCode("KVM_EXIT_99")).toBe(99);
    expect(exitReasonCode("KVM_EXIT_MMIO")).toBe(KvmExit.MMIO);
    expect(exitReasonCode("MMIO")).toBeUndefined();
    expect(exitReasonCode("KVM_EXIT_99999999999")).toBeUndefined();
  });

  it("names internal-error suberrors and system-event types, unknown ones by number", () => {
    expect(internalErrorName(1)).toBe("KVM_INTERNAL_ERROR_EMULATION");
    expect(internalErrorName(4)).toBe("KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON");
    expect(internalErrorName(9)).toBe("KVM_INTERNAL_ERROR_9");
    expect(systemEventName(2)).toBe("KVM_SYSTEM_EVENT_RESET");
    expect(systemEventName(6)).toBe("KVM_SYSTEM_EVENT_SEV_TERM");
    expect(systemEventName(42)).toBe("KVM_SYSTEM_EVENT_42");
  });

  it("explains the common reasons and names the qemu-kvm 0.14 function that handled each", () => {
    const common = ["IO", "MMIO", "HLT", "IRQ_WINDOW_OPEN", "SHUTDOWN", "FAIL_ENTRY", "INTERNAL_ERROR", "SYSTEM_EVENT",
      "DEBUG", "INTR", "UNKNOWN", "EXCEPTION", "HYPERCALL"] as const;
    for (const r of common) {
      const info = exitReasonInfo(KvmExit[r]);
      expect(info?.explain, r).toMatch(/^[A-Z].{30,}\.$/);
    }
    expect(exitReasonInfo(KvmExit.IO)?.qemu).toEqual({ fn: "kvm_handle_io", file: "kvm-all.c" });
    expect(exitReasonInfo(KvmExit.MMIO)?.qemu.fn).toBe("cpu_physical_memory_rw");
    expect(exitReasonInfo(KvmExit.HLT)?.qemu).toEqual({ fn: "kvm_cpu_exec", file: "kvm-all.c" });
    expect(QEMU_RUN_LOOP).toEqual({ fn: "kvm_cpu_exec", file: "kvm-all.c", line: 912 });
    expect(exitReasonInfo(KvmExit.S390_TSCH)).toBeUndefined();
  });
});
