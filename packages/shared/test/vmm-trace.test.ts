import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { IOCTLS, KvmExit, decodeBatch, encodeBatch, importVmmRun, kvmFdKind, parseQemuTrace, parseStrace, recordToJson, validateRecord } from "../src/index.js";

// Lines in the form strace 6.1 prints with `-f -ttt -T --kvm=vcpu` (seen on Debian 12 tracing QEMU 7.2).
const STRACE = `100 1796700550.000100 openat(AT_FDCWD, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC) = 3 <0.000027>
100 1796700550.000200 close(3) = 0 <0.000010>
100 1796700550.001000 openat(AT_FDCWD, "/dev/kvm", O_RDWR|O_CLOEXEC) = 3 <0.000030>
100 1796700550.001100 ioctl(3, KVM_GET_API_VERSION, 0) = 12 <0.000010>
100 1796700550.001200 ioctl(3, KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT) = 1 <0.000010>
100 1796700550.001300 ioctl(3, KVM_CREATE_VM, 0) = 9 <0.000400>
100 1796700550.001400 ioctl(9, KVM_GET_MSR_INDEX_LIST, 0x7ffc) = -1 E2BIG (Argument list too long) <0.000010>
100 1796700550.002000 clone3({flags=CLONE_VM|CLONE_THREAD, child_tid=0x7f}, 88) = 102 <0.000100>
102 1796700550.002100 ioctl(9, KVM_CREATE_VCPU, 0) = 11 <0.002000>
102 1796700550.010000 ioctl(11, KVM_RUN, 0) = -1 EINTR (Interrupted system call) <0.000060>
102 1796700550.010100 ioctl(11, KVM_RUN, 0 <unfinished ...>
100 1796700550.010150 ioctl(4, TCGETS, 0x7ffc) = 0 <0.000010>
102 1796700550.010200 <... ioctl resumed>) = 0 (KVM_EXIT_IO) <0.000090>
102 1796700550.010400 ioctl(11, KVM_RUN, 0) = 0 (KVM_EXIT_IO) <0.000030>
102 1796700550.010600 ioctl(11, KVM_RUN, 0) = 0 (KVM_EXIT_HLT) <0.000020>
100 1796700550.020000 --- SIGTERM {si_signo=SIGTERM, si_code=SI_USER, si_pid=1} ---
102 1796700550.020100 +++ exited with 0 +++
100 1796700550.020200 +++ exited with 0 +++
`;

// QEMU 7.2's log backend with -msg timestamp=on: TID@SEC.USEC:event fields.
const QEMU = `102@1796700550.010190:kvm_run_exit cpu_index 0, reason 2
102@1796700550.010195:memory_region_ops_write cpu 0 mr 0x55ba0f4f9640 addr 0x3f8 value 0x48 size 1 name 'serial'
102@1796700550.010300:kvm_vcpu_ioctl cpu_index 0, type 0xae80, arg (nil)
102@1796700550.010420:kvm_run_exit cpu_index 0, reason 2
102@1796700550.010425:memory_region_ops_read cpu 0 mr 0x55ba0f4f9640 addr 0x3fd value 0x60 size 1 name 'serial'
102@1796700550.010500:kvm_vcpu_ioctl cpu_index 0, type 0xae80, arg (nil)
102@1796700550.010610:kvm_run_exit cpu_index 0, reason 5
qemu-system-x86_64: terminating on signal 15 from pid 1
`;

describe("parseStrace", () => {
  it("joins an unfinished call with its resumption, keeps errno, exit reason and duration", () => {
    const log = parseStrace(STRACE);
    expect(log.unparsed).toBe(0);
    const runs = log.calls.filter((c) => c.args.includes("KVM_RUN"));
    expect(runs.map((c) => [c.ret, c.errno, c.exitReason])).toEqual([
      [-1, "EINTR", null], [0, null, "KVM_EXIT_IO"], [0, null, "KVM_EXIT_IO"], [0, null, "KVM_EXIT_HLT"],
    ]);
    expect(runs[1]!.time).toBe(1796700550_010100); // the start of the call, not its resumption
    expect(runs[1]!.dur).toBe(90);
    expect(log.end).toEqual({ exitStatus: 0, killedBy: null });
  });

  it("reads -tt times (seconds since midnight) too, and counts lines it does not know", () => {
    const log = parseStrace("7 03:29:10.113556 ioctl(9, KVM_CREATE_VCPU, 0) = 11 <0.002237>\nnot strace at all\n");
    expect(log.calls[0]!.time).toBe((3 * 3600 + 29 * 60 + 10) * 1e6 + 113556);
    expect(log.unparsed).toBe(1);
  });
});

describe("parseQemuTrace", () => {
  it("reads the thread id, the µs time and the fields; QEMU's own messages are counted apart", () => {
    const t = parseQemuTrace(QEMU);
    expect(t.other).toBe(1);
    expect(t.events[1]).toEqual({
      tid: 102, time: 1796700550_010195, event: "memory_region_ops_write",
      fields: { cpu: "0", mr: "0x55ba0f4f9640", addr: "0x3f8", value: "0x48", size: "1", name: "serial" },
    });
  });

  it("reads the ISO-time form of newer QEMU (no thread id)", () => {
    const t = parseQemuTrace("2026-12-08T03:27:40.348350Z kvm_run_exit cpu_index 1, reason 2\n");
    expect(t.events).toEqual([{ tid: null, time: Date.parse("2026-12-08T03:27:40Z") * 1000 + 348350, event: "kvm_run_exit", fields: { cpu_index: "1", reason: "2" } }]);
  });
});

describe("importVmmRun", () => {
  it("attached mid-run, takes KVM fds and vCPU indexes from /proc/PID/fd and the main thread from the pid", () => {
    const mid = `102 1.000010 ioctl(11, KVM_RUN, 0) = 0 (KVM_EXIT_IO) <0.000030>\n100 1.000020 ioctl(9, KVM_IRQ_LINE_STATUS, 0x7f) = 0 <0.000010>\n`;
    const fds = new Map([[9, { kind: "vm" as const }], [11, { kind: "vcpu" as const, vcpu: 2 }]]);
    const r = importVmmRun(parseStrace(mid), null, { knownFds: fds, mainTid: 100 });
    expect(r.threads).toEqual([{ tid: 100, role: "main" }, { tid: 102, role: "vcpu", vcpu: 2 }]);
    expect(r.records.map((x) => (x.type === "exit" ? `exit vcpu${x.vcpu}` : x.type === "ioctl" ? `${x.thread} ${x.name}` : x.type))).toEqual([
      "vcpu2 KVM_RUN", "exit vcpu2", "main KVM_IRQ_LINE_STATUS",
    ]);
    expect([kvmFdKind("anon_inode:kvm-vcpu:3"), kvmFdKind("/dev/kvm"), kvmFdKind("pipe:[1]")]).toEqual([{ kind: "vcpu", vcpu: 3 }, { kind: "system" }, null]);
  });

  const run = importVmmRun(parseStrace(STRACE), parseQemuTrace(QEMU), { names: new Map([[102, "CPU 0/KVM"]]) });

  it("names threads by role: the process's first thread is main, the creator of vCPU n is vCPU n", () => {
    expect(run.threads).toEqual([
      { tid: 100, role: "main" },
      { tid: 102, role: "vcpu", vcpu: 0, name: "CPU 0/KVM", parent: 100 },
    ]);
  });

  it("keeps only calls on KVM fds, from their open to their close (fd 3 before /dev/kvm is not KVM's)", () => {
    const ioctls = run.records.filter((r) => r.type === "ioctl").map((r) => (r.type === "ioctl" ? `${r.thread} ${r.name}` : ""));
    expect(ioctls).toEqual([
      "main open", "main KVM_GET_API_VERSION", "main KVM_CHECK_EXTENSION", "main KVM_CREATE_VM", "main KVM_GET_MSR_INDEX_LIST",
      "vcpu0 KVM_CREATE_VCPU", "vcpu0 KVM_RUN", "vcpu0 KVM_RUN", "vcpu0 KVM_RUN", "vcpu0 KVM_RUN",
    ]);
    const cap = run.records.find((r) => r.type === "ioctl" && r.name === "KVM_CHECK_EXTENSION");
    expect(cap?.type === "ioctl" && cap.args.cap).toBe(136); // KVM_CAP_IMMEDIATE_EXIT
    const region = importVmmRun(parseStrace(`1 1.0 openat(AT_FDCWD, "/dev/kvm", O_RDWR) = 3 <0.1>\n1 1.1 ioctl(3, KVM_CREATE_VM, 0) = 9 <0.1>\n` +
      `1 1.2 ioctl(9, KVM_SET_USER_MEMORY_REGION, {slot=1, flags=0, guest_phys_addr=0xfffc0000, memory_size=262144, userspace_addr=0x7f}) = 0 <0.1>\n`), null);
    expect(region.records.map((r) => (r.type === "ioctl" ? r.args : null))).toEqual([{}, { type: 0 }, { slot: 1, guestPhysAddr: 0xfffc0000, memorySize: 262144 }]);
    const e2big = run.records.find((r) => r.type === "ioctl" && r.name === "KVM_GET_MSR_INDEX_LIST");
    expect(e2big?.type === "ioctl" && [e2big.ret, e2big.errno, e2big.error]).toEqual([-1, 7, "E2BIG"]);
  });

  it("gives each exit the device access QEMU logged for it, and its handling time until the next KVM_RUN", () => {
    const exits = run.records.filter((r) => r.type === "exit");
    expect(exits.map((e) => (e.type === "exit" ? e.code : -1))).toEqual([KvmExit.IO, KvmExit.IO, KvmExit.HLT]);
    const [out, inb] = exits;
    expect(out?.type === "exit" && out.io).toEqual({ port: 0x3f8, size: 1, direction: "out", count: 1, data: [0x48] });
    expect(inb?.type === "exit" && inb.io).toEqual({ port: 0x3fd, size: 1, direction: "in", count: 1, data: [0x60] });
    // Returned at 010100 + 90 µs, next KVM_RUN issued at 010400: 210 µs in userspace.
    expect(out?.type === "exit" && out.handleNs).toBe(210_000);
    expect(out?.type === "exit" && out.guestNs).toBe(90_000);
    expect(run.unpaired).toEqual({ qemuExits: 0, straceExits: 0 });
    expect(run.observed.exitPayloads).toBe(true);
  });

  it("without QEMU's trace the exits keep their reasons and say the payload was not observed", () => {
    const bare = importVmmRun(parseStrace(STRACE), null);
    expect(bare.observed.exitPayloads).toBe(false);
    const exits = bare.records.filter((r) => r.type === "exit");
    expect(exits.map((e) => (e.type === "exit" ? [e.reason, e.io ?? null, e.unobserved ?? false] : null))).toEqual([
      ["KVM_EXIT_IO", null, true], ["KVM_EXIT_IO", null, true], ["KVM_EXIT_HLT", null, false],
    ]);
    // …and they survive the binary codec and the NDJSON contract as such.
    const back = decodeBatch(encodeBatch(bare.records));
    expect(back).toEqual(bare.records.map((r) => recordToJson(r)));
    for (const r of bare.records) expect(validateRecord(recordToJson(r)), JSON.stringify(r)).toBeUndefined();
  });

  it("counts the exits the two sources cannot pair instead of inventing them", () => {
    const more = `${QEMU}102@1796700550.020000:kvm_run_exit cpu_index 0, reason 2\n`;
    expect(importVmmRun(parseStrace(STRACE), parseQemuTrace(more)).unpaired).toEqual({ qemuExits: 1, straceExits: 0 });
  });

  it("gives records a total order with increasing seq and ns timestamps from the first call", () => {
    const seqs = run.records.map((r) => r.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i));
    expect(run.records[0]!.ts).toBe(900_000); // /dev/kvm opened 900 µs after the first traced call
  });
});

const KVM_H = "/usr/include/linux/kvm.h";
const ASM_KVM_H = "/usr/include/x86_64-linux-gnu/asm/kvm.h";

describe.skipIf(!existsSync(KVM_H))("the KVM names strace prints, against this machine's <linux/kvm.h>", () => {
  const header = readFileSync(KVM_H, "utf8") + (existsSync(ASM_KVM_H) ? readFileSync(ASM_KVM_H, "utf8") : "");
  it("every KVM ioctl in the table is defined by the kernel header", () => {
    const missing = IOCTLS.filter((i) => i.name.startsWith("KVM_") && !new RegExp(`#define ${i.name}\\s`).test(header)).map((i) => i.name);
    expect(missing).toEqual([]);
  });
  it("KVM_CHECK_EXTENSION's capability names map to the header's numbers", () => {
    const caps = [...header.matchAll(/#define (KVM_CAP_[A-Z0-9_]+)\s+(\d+)\s*$/gm)];
    expect(caps.length).toBeGreaterThan(100);
    for (const [, name, value] of caps) {
      const line = `100 1.0 openat(AT_FDCWD, "/dev/kvm", O_RDWR) = 3 <0.1>\n100 1.1 ioctl(3, KVM_CHECK_EXTENSION, ${name}) = 1 <0.1>\n`;
      const rec = importVmmRun(parseStrace(line), null).records[1];
      expect(rec?.type === "ioctl" && rec.args.cap, name).toBe(Number(value));
    }
  });
});
