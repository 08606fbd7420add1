import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { KvmExit, type ExitRecord, type IoctlRecord, type MarkerRecord, type TraceRecord } from "@kvmscope/shared";
import { Lifecycle, type LifecycleProps } from "../src/components/Lifecycle";
import styles from "../src/components/Lifecycle.module.css";
import { TraceStore } from "../src/lib/trace-store";

// Records as the VMM wrote them (values from the NDJSON trace). Command (from /work/main):
//   node apps/vmm/bin/kvmscope.js run hello --format ndjson --trace /tmp/h2-hello.ndjson
type Thread = "main" | `vcpu${number}`;
function ioctl(seq: number, ts: number, thread: Thread, name: string, fd: number, args: Record<string, number>, ret: number, durNs: number, errno = 0): IoctlRecord {
  return { type: "ioctl", seq, ts, thread, name, fd, args, ret, errno, durNs };
}
function marker(seq: number, ts: number, thread: Thread, text: string): MarkerRecord {
  return { type: "marker", seq, ts, thread, text };
}
const noFlags = { ifFlag: false, readyForInjection: false, requestedWindow: false };
function io(seq: number, ts: number, data: number, guestNs: number, handleNs: number): ExitRecord {
  return { type: "exit", seq, ts, vcpu: 0, reason: "KVM_EXIT_IO", code: KvmExit.IO, rip: 31757, guestNs, handleNs, ...noFlags, io: { port: 0x3f8, size: 1, direction: "out", count: 1, data: [data] } };
}

/** hello up to its first exits (the HLT and the closes are left out: the run is still going). */
const hello: TraceRecord[] = [
  ioctl(0, 8109516, "main", "open", 19, {}, 19, 56737),
  ioctl(1, 8771658, "main", "KVM_GET_API_VERSION", 19, {}, 12, 9834401),
  ioctl(2, 18947098, "main", "KVM_CHECK_EXTENSION", 19, { cap: 66 }, 1024, 4679),
  ioctl(3, 18979750, "main", "KVM_CHECK_EXTENSION", 19, { cap: 74 }, 7, 2414),
  ioctl(4, 18999987, "main", "KVM_CHECK_EXTENSION", 19, { cap: 136 }, 1, 1553),
  ioctl(5, 19016087, "main", "KVM_CHECK_EXTENSION", 19, { cap: 203 }, 1, 1463),
  ioctl(6, 19031777, "main", "KVM_CHECK_EXTENSION", 19, { cap: 0 }, 1, 1984),
  ioctl(7, 19348992, "main", "KVM_GET_VCPU_MMAP_SIZE", 19, {}, 12288, 4047),
  ioctl(8, 19673450, "main", "KVM_GET_SUPPORTED_CPUID", 19, { maxEntries: 256 }, 0, 150843),
  ioctl(9, 20477598, "main", "KVM_CREATE_VM", 19, { type: 0 }, 20, 534522),
  ioctl(10, 21258342, "main", "KVM_CHECK_EXTENSION", 19, { cap: 4 }, 1, 6112),
  ioctl(11, 21338573, "main", "KVM_SET_TSS_ADDR", 20, { addr: 4294692864 }, 0, 6842),
  ioctl(12, 21374971, "main", "KVM_CHECK_EXTENSION", 19, { cap: 37 }, 1, 5710),
  ioctl(13, 21465340, "main", "KVM_SET_IDENTITY_MAP_ADDR", 20, { addr: 4294688768 }, 0, 8676),
  ioctl(14, 21799346, "main", "KVM_SET_USER_MEMORY_REGION", 20, { slot: 0, guestPhysAddr: 0, memorySize: 16777216 }, 0, 112662),
  ioctl(15, 384641854, "vcpu0", "KVM_CREATE_VCPU", 20, { vcpuId: 0 }, 26, 446648),
  ioctl(16, 386726042, "vcpu0", "KVM_SET_CPUID2", 26, { entries: 61 }, 0, 72005),
  ioctl(17, 386956775, "vcpu0", "KVM_GET_SREGS", 26, {}, 0, 13275),
  ioctl(18, 387848437, "vcpu0", "KVM_SET_SREGS", 26, { cr0: 1610612752, efer: 0 }, 0, 14046),
  ioctl(19, 388882997, "vcpu0", "KVM_SET_REGS", 26, { rip: 31744 }, 0, 14577),
  ioctl(20, 389020144, "vcpu0", "KVM_GET_STATS_FD", 26, {}, 27, 16531),
  marker(21, 392101111, "main", "all 1 vCPU thread(s) created their vCPU; releasing them (qemu_system_ready)"),
  io(23, 395963243, 72, 209823, 745789),
  io(24, 396738266, 101, 22181, 29836),
  io(25, 396782740, 108, 11982, 28944),
];

function storeOf(records: readonly TraceRecord[]): TraceStore {
  const s = new TraceStore();
  s.appendRecords(records);
  return s;
}

function render(over: Partial<LifecycleProps> & { store: TraceStore }): string {
  const props: LifecycleProps = {
    version: over.store.version, cursorSeq: over.store.maxSeq, selectedSeq: null, onSelect: () => {},
    mode: "live", paused: false, vcpus: 1, ...over,
  };
  return renderToStaticMarkup(<Lifecycle {...props} />);
}

/** The <li> of one step. */
function stepHtml(html: string, id: string): string {
  const at = html.indexOf(`data-step-id="${id}"`);
  if (at < 0) throw new Error(`no step ${id}`);
  const start = html.lastIndexOf("<li", at);
  return html.slice(start, html.indexOf("</li>", at) + 5);
}

describe("Lifecycle", () => {
  it("marks the release as the current step of a step-mode run that has not entered the guest", () => {
    const html = render({ store: storeOf(hello), cursorSeq: 21, mode: "step", paused: true });
    expect(html).toContain('data-testid="lifecycle"');
    const release = stepHtml(html, "release");
    expect(release).toContain('aria-current="step"');
    expect(release).toContain('data-state="done"');
    expect(release).toContain("qemu_system_ready");
    expect(html.match(/aria-current="step"/g)).toHaveLength(1);
  });

  it("shows what comes next as pending steps that cannot be clicked", () => {
    const html = render({ store: storeOf(hello), cursorSeq: 21, mode: "step", paused: true });
    const run = stepHtml(html, "run-0");
    expect(run).toContain('data-state="pending"');
    expect(run).toContain("first KVM_RUN of vCPU 0");
    expect(run).toMatch(/<button[^>]*disabled=""/);
    expect(stepHtml(html, "exit-loop")).toContain('data-state="pending"');
  });

  it("gives a done step its return value, its time since the run began, its thread and the qemu function", () => {
    const create = stepHtml(render({ store: storeOf(hello), cursorSeq: 21 }), "create-vcpu-0");
    expect(create).toContain("KVM_CREATE_VCPU (vCPU 0)");
    expect(create).toContain("ret 26");
    expect(create).toContain("+384.6 ms");
    expect(create).toContain("(446.6 µs)");
    expect(create).toContain("vCPU 0");
    expect(create).toContain("kvm_create_vcpu()");
    expect(create).toContain("qemu-kvm.c");
    expect(create).toContain("thread.ts main()");
  });

  it("counts the loop's exits as they arrive", () => {
    const html = render({ store: storeOf(hello), cursorSeq: 25 });
    const loop = stepHtml(html, "exit-loop");
    expect(loop).toContain("exit loop: 3 exits");
    expect(loop).toContain('aria-current="step"');
    expect(stepHtml(html, "run-0")).toContain('data-state="done"');
  });

  it("shows a failed ioctl in red with its errno's name", () => {
    // KVM_CREATE_VCPU for an id that already exists fails with EEXIST (17).
    const records = [...hello.slice(0, 15), ioctl(15, 384641854, "vcpu0", "KVM_CREATE_VCPU", 20, { vcpuId: 0 }, -1, 20000, 17)];
    const html = render({ store: storeOf(records) });
    const create = stepHtml(html, "create-vcpu-0");
    expect(create).toContain('data-state="failed"');
    expect(create).toContain(styles.failed);
    expect(create).toContain("-1 EEXIST");
  });

  it("emphasises the steps a walkthrough names", () => {
    const html = render({ store: storeOf(hello), highlight: ["lifecycle:create-vm"] });
    expect(stepHtml(html, "create-vm")).toContain(styles.highlight);
    expect(stepHtml(html, "set-memory")).not.toContain(styles.highlight);
  });

  it("renders an outcome it was given as text, never as markup", () => {
    const html = render({ store: storeOf(hello), outcome: { outcome: "<img src=x onerror=alert(1)>" } });
    expect(html).not.toContain("<img");
    expect(html).toContain("&lt;img src=x onerror=alert(1)&gt;");
  });
});
