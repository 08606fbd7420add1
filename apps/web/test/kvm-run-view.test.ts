import { newestExitAt } from "../src/lib/activity";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { exitReasonName, KvmExit, type ExitRecord, type IoctlRecord, type IoPayload, type TraceRecord } from "@kvmscope/shared";
import {
  exitRowFor, KVM_RUN_FIELDS, kvmRunView, memberForReason, neighbourRow, uartDlabBefore, type KvmRunRow, endsItsLoop,
} from "../src/lib/kvm-run-view";
import { TraceStore } from "../src/lib/trace-store";

function exit(seq: number, vcpu: number, code: number, extra: Partial<ExitRecord> = {}): ExitRecord {
  return {
    type: "exit", seq, ts: 350_000_000 + seq * 1000, vcpu, reason: exitReasonName(code), code, rip: 0x7c0d,
    guestNs: 20_000, handleNs: 40_000, ifFlag: false, readyForInjection: false, requestedWindow: false, ...extra,
  };
}
const ioExit = (seq: number, vcpu: number, io: Partial<IoPayload> & { data: number[] }): ExitRecord =>
  exit(seq, vcpu, KvmExit.IO, { io: { port: 0x3f8, size: 1, direction: "out", count: 1, ...io } });
function ioctl(seq: number, thread: "main" | `vcpu${number}`, name: string, args: Record<string, number> = {}): IoctlRecord {
  return { type: "ioctl", seq, ts: 350_000_000 + seq * 1000, thread, name, fd: 25, args, ret: 0, errno: 0, durNs: 10_000 };
}
const byPath = (rows: KvmRunRow[]): Record<string, KvmRunRow> => Object.fromEntries(rows.map((r) => [r.path, r]));

const HEADER = "/usr/include/linux/kvm.h";
function haveCompiler(): boolean {
  try {
    execFileSync("cc", ["--version"], { stdio: "ignore" });
    return existsSync(HEADER);
  } catch {
    return false;
  }
}

describe.skipIf(!haveCompiler())("the field offsets", () => {
  it("are the ones the C compiler gives for struct kvm_run in <linux/kvm.h>", () => {
    const fields = KVM_RUN_FIELDS.filter((f) => f.offset !== null);
    const dir = mkdtempSync(join(tmpdir(), "kvm-run-offsets-"));
    try {
      const lines = fields.map((f) => `  printf("%zu %zu\\n", offsetof(struct kvm_run, ${f.path}), sizeof(((struct kvm_run *)0)->${f.path}));`);
      writeFileSync(join(dir, "o.c"), `#include <stddef.h>\n#include <stdio.h>\n#include <linux/kvm.h>\nint main(void) {\n${lines.join("\n")}\n  return 0;\n}\n`);
      execFileSync("cc", ["-o", join(dir, "o"), join(dir, "o.c")]);
      const out = execFileSync(join(dir, "o"), { encoding: "utf8" }).trim().split("\n").map((l) => l.split(" ").map(Number));
      const got = fields.map((f, i) => ({ path: f.path, offset: out[i]![0], size: out[i]![1] }));
      expect(got).toEqual(fields.map((f) => ({ path: f.path, offset: f.offset, size: f.size })));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the kvm_run page at one exit", () => {
  it("shows the io member of a port write, and says what the record does not carry", () => {
    const rows = byPath(kvmRunView(ioExit(23, 0, { data: [0x48] })));
    expect(rows["exit_reason"]).toMatchObject({ display: "2 (KVM_EXIT_IO)", known: true, writtenBy: "kernel" });
    expect(rows["io.direction"]?.display).toBe("1 (KVM_EXIT_IO_OUT)");
    expect(rows["io.port"]?.display).toBe("0x3f8");
    expect(rows["io data"]).toMatchObject({ display: "'H' (0x48)", writtenBy: "kernel", offset: null });
    expect(rows["io.data_offset"]).toMatchObject({ active: true, known: false, display: null });
    expect(rows["immediate_exit"]).toMatchObject({ known: false });
    expect(rows["cr8"]).toMatchObject({ known: false, writer: "both" });
    expect(rows["s.regs.regs.rip"]?.display).toBe("0x7c0d");
    expect(rows["mmio.phys_addr"]).toMatchObject({ active: false, display: null });
  });

  it("says the VMM fills the data of an IN and of an MMIO read before the next KVM_RUN", () => {
    expect(byPath(kvmRunView(ioExit(54, 0, { port: 0x3fd, direction: "in", data: [0x60] })))["io data"]?.writtenBy).toBe("vmm");
    const read = byPath(kvmRunView(exit(100, 0, KvmExit.MMIO, { mmio: { addr: 0xd0000000, len: 4, isWrite: false, data: [75, 86, 77, 83] } })));
    expect(read["mmio.data"]).toMatchObject({ writtenBy: "vmm", display: "0x534d564b" });
    expect(read["mmio.phys_addr"]?.display).toBe("0xd0000000");
    const write = byPath(kvmRunView(exit(117, 0, KvmExit.MMIO, { mmio: { addr: 0xd0000004, len: 4, isWrite: true, data: [1, 2, 3, 4] } })));
    expect(write["mmio.data"]?.writtenBy).toBe("kernel");
  });

  it("uses no union member for HLT, and keeps the interrupt flags of the header", () => {
    const rows = kvmRunView(exit(45, 0, KvmExit.HLT, { ifFlag: true, readyForInjection: true, requestedWindow: true }));
    expect(memberForReason(KvmExit.HLT)).toBeNull();
    expect(rows.filter((r) => r.active).every((r) => r.member === "header" || r.member === "sync_regs")).toBe(true);
    const h = byPath(rows);
    expect([h["if_flag"]?.display, h["ready_for_interrupt_injection"]?.display, h["request_interrupt_window"]?.display]).toEqual(["1", "1", "1"]);
    expect(h["request_interrupt_window"]?.writer).toBe("vmm");
  });

  it("marks what changed since the previous exit on the vCPU, and only that", () => {
    const prev = ioExit(23, 0, { data: [0x48] });
    const cur = ioExit(24, 0, { data: [0x65] });
    expect(kvmRunView(cur, prev).filter((r) => r.changed).map((r) => r.path)).toEqual(["io data"]);
    const hlt = exit(45, 0, KvmExit.HLT, { rip: 0x7c11 });
    expect(kvmRunView(hlt, cur).filter((r) => r.changed).map((r) => r.path)).toEqual(["exit_reason", "s.regs.regs.rip"]);
    expect(kvmRunView(cur, hlt).filter((r) => r.changed).map((r) => r.path)).toEqual([
      "exit_reason", "io.direction", "io.size", "io.port", "io.count", "io data", "s.regs.regs.rip",
    ]);
    expect(kvmRunView(cur).some((r) => r.changed)).toBe(false);
  });

  it("shows the internal-error member with its suberror", () => {
    const rows = byPath(kvmRunView(exit(9, 0, KvmExit.INTERNAL_ERROR, {
      internal: { suberror: 1, suberrorName: "KVM_INTERNAL_ERROR_EMULATION", data: [0x1], insn: [] },
    })));
    expect(rows["internal.suberror"]?.display).toBe("1 (KVM_INTERNAL_ERROR_EMULATION)");
    expect(rows["internal.data[0]"]?.display).toBe("0x1");
    expect(rows["internal.data[1]"]).toMatchObject({ active: true, known: false });
  });
});

describe("moving between records", () => {
  // Two vCPUs whose records arrive interleaved, plus a main-thread ioctl and a KVM_INTERRUPT.
  const records: TraceRecord[] = [
    ioctl(0, "main", "KVM_CREATE_VM", { type: 0 }),
    ioExit(1, 0, { data: [0x48] }),
    ioExit(2, 1, { data: [0x49] }),
    exit(3, 0, KvmExit.HLT),
    ioctl(4, "vcpu0", "KVM_INTERRUPT", { vector: 32 }),
    ioExit(5, 0, { data: [0x69] }),
    exit(6, 1, KvmExit.HLT),
  ];
  const store = new TraceStore();
  store.appendRecords(records);
  const row = (seq: number): number => store.rowOfSeq(seq);
  const seqOf = (r: number): number | null => (r < 0 ? null : store.seq[r]!);

  it("steps to the previous and next exit on the same vCPU, skipping the other vCPU", () => {
    expect(seqOf(neighbourRow(store, row(3), -1))).toBe(1);
    expect(seqOf(neighbourRow(store, row(3), 1))).toBe(5);
    expect(seqOf(neighbourRow(store, row(1), -1))).toBeNull();
    expect(seqOf(neighbourRow(store, row(2), 1))).toBe(6);
  });

  it("steps to the previous and next exit of the same reason", () => {
    expect(seqOf(neighbourRow(store, row(5), -1, true))).toBe(1);
    expect(seqOf(neighbourRow(store, row(1), 1, true))).toBe(5);
    expect(seqOf(neighbourRow(store, row(3), 1, true))).toBeNull();
  });

  it("shows an ioctl on a vCPU thread the page its last exit left, and none for the main thread", () => {
    expect(seqOf(exitRowFor(store, row(4)))).toBe(3);
    expect(exitRowFor(store, row(0))).toBe(-1);
    expect(seqOf(exitRowFor(store, row(5)))).toBe(5);
  });

  it("finds the page at the cursor", () => {
    // The kvm_run page at the cursor is the one the newest exit there left (activity.ts).
    expect(newestExitAt(store, 4)).toBe(3);
    expect(newestExitAt(store, 100)).toBe(6);
    expect(newestExitAt(store, 0)).toBeNull();
  });
});

describe("the UART's divisor-latch bit", () => {
  it("follows the guest's last LCR write, from any vCPU", () => {
    const store = new TraceStore();
    store.appendRecords([
      ioExit(1, 0, { data: [0x48] }),
      ioExit(2, 1, { port: 0x3fb, data: [0x80] }), // DLAB on (another vCPU)
      ioExit(3, 0, { data: [0x01] }), // divisor low byte
      ioExit(4, 0, { port: 0x3fb, data: [0x03] }), // DLAB off, 8 data bits
      ioExit(5, 0, { data: [0x48] }),
    ]);
    expect(uartDlabBefore(store, store.rowOfSeq(1))).toBe(false);
    expect(uartDlabBefore(store, store.rowOfSeq(3))).toBe(true);
    expect(uartDlabBefore(store, store.rowOfSeq(5))).toBe(false);
  });
});

describe("the last exit of a vCPU thread's loop", () => {
  it("is the exit the thread's close follows, and known only once that close is here", () => {
    const store = new TraceStore();
    store.appendRecords([exit(40, 0, KvmExit.HLT), exit(41, 1, KvmExit.HLT), ioctl(42, "vcpu1", "KVM_INTERRUPT", { vector: 8 }), exit(43, 1, KvmExit.HLT)]);
    expect(endsItsLoop(store, store.rowOfSeq(40))).toBe(false);
    store.appendRecords([{ type: "stats", seq: 44, ts: 1, vcpu: 0, counters: { exits: 3 } }, ioctl(45, "vcpu0", "close"), ioctl(46, "main", "close")]);
    expect(endsItsLoop(store, store.rowOfSeq(40))).toBe(true);
    expect(endsItsLoop(store, store.rowOfSeq(41))).toBe(false);
    expect(endsItsLoop(store, store.rowOfSeq(43))).toBe(false);
    expect(endsItsLoop(store, store.rowOfSeq(45))).toBe(false);
  });
});
