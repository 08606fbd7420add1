import { describe, expect, it } from "vitest";
import { IOCTL_IDS, IOCTLS, ioctlArgs, ioctlId, ioctlInfo, ioctlName } from "../src/index.js";

// The table as the VMM's brief fixes it: stored ids depend on this exact order.
const EXPECTED: [string, string[]][] = [
  ["open", []], ["close", []], ["KVM_GET_API_VERSION", []], ["KVM_CHECK_EXTENSION", ["cap"]],
  ["KVM_GET_VCPU_MMAP_SIZE", []], ["KVM_GET_SUPPORTED_CPUID", ["maxEntries"]], ["KVM_CREATE_VM", ["type"]],
  ["KVM_SET_USER_MEMORY_REGION", ["slot", "guestPhysAddr", "memorySize"]], ["KVM_SET_TSS_ADDR", ["addr"]],
  ["KVM_SET_IDENTITY_MAP_ADDR", ["addr"]], ["KVM_CREATE_IRQCHIP", []], ["KVM_CREATE_PIT2", ["flags"]],
  ["KVM_IRQ_LINE", ["irq", "level"]], ["KVM_CREATE_VCPU", ["vcpuId"]], ["KVM_RUN", []], ["KVM_GET_REGS", []],
  ["KVM_SET_REGS", ["rip"]], ["KVM_GET_SREGS", []], ["KVM_SET_SREGS", ["cr0", "efer"]], ["KVM_SET_CPUID2", ["entries"]],
  ["KVM_INTERRUPT", ["vector"]], ["KVM_GET_MP_STATE", []], ["KVM_SET_MP_STATE", ["state"]], ["KVM_GET_STATS_FD", []],
  ["KVM_SET_GUEST_DEBUG", ["control"]],
];

describe("the ioctl table", () => {
  it("numbers the traced calls 1, 2, 3 ... in the fixed order with the fixed argument names", () => {
    // Stored runs hold these ids: the first 25 never move; later entries are only appended.
    expect(IOCTLS.slice(0, EXPECTED.length).map((i) => [i.name, [...i.args]])).toEqual(EXPECTED);
    IOCTLS.forEach((info, index) => expect(info.id).toBe(index + 1));
    expect(new Set(IOCTLS.map((i) => i.name)).size).toBe(IOCTLS.length);
  });

  it("says which fd kind each call is issued on", () => {
    expect(ioctlInfo(ioctlId("open"))?.fd).toBe("none");
    expect(ioctlInfo(ioctlId("KVM_CREATE_VM"))?.fd).toBe("system");
    expect(ioctlInfo(ioctlId("KVM_CREATE_VCPU"))?.fd).toBe("vm");
    expect(ioctlInfo(ioctlId("KVM_RUN"))?.fd).toBe("vcpu");
    for (const i of IOCTLS) expect(i.description.length, i.name).toBeGreaterThan(20);
  });

  it("looks ids and names up both ways and names an unknown id IOCTL_<id>", () => {
    expect(ioctlId("KVM_RUN")).toBe(15);
    expect(IOCTL_IDS.KVM_SET_GUEST_DEBUG).toBe(25);
    expect(ioctlName(8)).toBe("KVM_SET_USER_MEMORY_REGION");
    expect(ioctlName(200)).toBe("IOCTL_200");
    expect(ioctlId("IOCTL_200")).toBe(200);
  });

  it("refuses a call that is not in the table", () => {
    expect(() => ioctlId("KVM_NO_SUCH_CALL")).toThrow(RangeError);
  });

  it("names the binding's positional arguments", () => {
    expect(ioctlArgs("KVM_SET_USER_MEMORY_REGION", [0, 0, 0x10_0000])).toEqual({ slot: 0, guestPhysAddr: 0, memorySize: 0x10_0000 });
    expect(ioctlArgs("KVM_IRQ_LINE", [4, 1])).toEqual({ irq: 4, level: 1 });
    expect(ioctlArgs("KVM_RUN", [])).toEqual({});
    expect(() => ioctlArgs("KVM_IRQ_LINE", [4])).toThrow(RangeError);
  });
});
