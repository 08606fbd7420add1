import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { KvmExit, type ExitRecord, type IoctlRecord, type MarkerRecord, type TraceRecord } from "@kvmscope/shared";
import {
  exitJourney, highlightIds, stageCaptions, ThreadModel, threadModelLayout, tokenAt, type ThreadModelProps,
} from "../src/components/ThreadModel";
import styles from "../src/components/ThreadModel.module.css";
import { TraceStore } from "../src/lib/trace-store";

// Records as the VMM wrote them (values from the NDJSON traces). Commands (from /work/main):
//   node apps/vmm/bin/kvmscope.js run hello --format ndjson --trace /tmp/h2-hello.ndjson
//   node apps/vmm/bin/kvmscope.js run mmio --format ndjson --trace /tmp/h2-mmio.ndjson
//   node apps/vmm/bin/kvmscope.js run smp --vcpus 2 --format ndjson --trace /tmp/h2-smp.ndjson
const noFlags = { ifFlag: false, readyForInjection: false, requestedWindow: false };
function io(seq: number, ts: number, vcpu: number, rip: number, port: number, data: number[], guestNs: number, handleNs: number): ExitRecord {
  return { type: "exit", seq, ts, vcpu, reason: "KVM_EXIT_IO", code: KvmExit.IO, rip, guestNs, handleNs, ...noFlags, io: { port, size: 1, direction: "out", count: 1, data } };
}
function bare(seq: number, ts: number, vcpu: number, code: number, reason: string, rip: number, guestNs: number, handleNs: number): ExitRecord {
  return { type: "exit", seq, ts, vcpu, reason, code, rip, guestNs, handleNs, ...noFlags };
}
function ioctl(seq: number, ts: number, thread: "main" | `vcpu${number}`, name: string, fd: number, args: Record<string, number>, ret: number, durNs: number): IoctlRecord {
  return { type: "ioctl", seq, ts, thread, name, fd, args, ret, errno: 0, durNs };
}
function marker(seq: number, ts: number, text: string): MarkerRecord {
  return { type: "marker", seq, ts, thread: "main", text };
}

const HELLO_TS = [395963243, 396738266, 396782740, 396858682, 396939033, 396994838, 397038229, 397069648, 397105635, 397298247, 397489325,
  397562122, 397616243, 397666036, 397698988, 397727702, 397755103, 397784989, 397842938, 397965347, 398014470, 398047662];
/** hello, from vCPU 0's creation to the HLT: "Hello from the guest!\n", one OUT to 0x3f8 per byte. */
const hello: TraceRecord[] = [
  ioctl(15, 384641854, "vcpu0", "KVM_CREATE_VCPU", 20, { vcpuId: 0 }, 26, 446648),
  marker(21, 392101111, "all 1 vCPU thread(s) created their vCPU; releasing them (qemu_system_ready)"),
  ...[...Buffer.from("Hello from the guest!\n")].map((b, i) => io(23 + i, HELLO_TS[i]!, 0, 31757, 0x3f8, [b], 13000, 20000)),
  bare(45, 398076135, 0, KvmExit.HLT, "KVM_EXIT_HLT", 31761, 13485, 6412),
];

function storeOf(records: readonly TraceRecord[]): TraceStore {
  const s = new TraceStore();
  s.appendRecords(records);
  return s;
}

function render(over: Partial<ThreadModelProps> & { store: TraceStore }): string {
  const props: ThreadModelProps = {
    version: over.store.version, cursorSeq: over.store.maxSeq, selectedSeq: null, onSelect: () => {},
    mode: "live", paused: false, vcpus: 1, irqchip: "user", ...over,
  };
  return renderToStaticMarkup(<ThreadModel {...props} />);
}

const attr = (html: string, name: string): string | undefined => new RegExp(`${name}="([^"]*)"`).exec(html)?.[1];

describe("ThreadModel", () => {
  it("follows the exit a step just let happen: the first OUT of hello, on its way to the UART", () => {
    const store = storeOf(hello);
    const html = render({ store, cursorSeq: 23, mode: "step", paused: true });
    expect(html).toContain('data-testid="thread-model"');
    expect(attr(html, "data-animating-seq")).toBe("23");
    expect(html).toContain("seq 23: KVM_EXIT_IO on vCPU 0");
    expect(html).toContain("16550 UART, COM1 (0x3f8-0x3ff) handles an OUT of &#x27;H&#x27; (0x48) to port 0x3f8");
    expect(html).toContain("vCPU thread 0 calls KVM_RUN again");
  });

  it("has nothing to animate in step mode before the first exit", () => {
    const html = render({ store: storeOf(hello), cursorSeq: 21, mode: "step", paused: true });
    expect(attr(html, "data-animating-seq")).toBe("");
    expect(html).toContain("no exit yet");
  });

  it("shows rates instead of single exits when a free run exits faster than a person can follow", () => {
    const store = storeOf(hello);
    const html = render({ store, cursorSeq: 44 });
    expect(attr(html, "data-animating-seq")).toBe("");
    expect(attr(html, "data-following")).toBe("false");
    expect(html).toContain("22 exits/s: showing rates");
    expect(html.match(/>22\/s</g)?.length).toBe(2); // vCPU 0's lane and the UART
  });

  it("follows single exits again while a fast run is paused", () => {
    const html = render({ store: storeOf(hello), cursorSeq: 44, paused: true });
    expect(attr(html, "data-animating-seq")).toBe("44");
  });

  it("draws the in-kernel irqchip and leaves the PIC and PIT models out when the irqchip is in the kernel", () => {
    const user = render({ store: new TraceStore(), irqchip: "user" });
    const kernel = render({ store: new TraceStore(), irqchip: "kernel" });
    expect(user).toContain('data-part="dev:pic"');
    expect(user).not.toContain('data-part="kernel-irqchip"');
    expect(kernel).toContain('data-part="kernel-irqchip"');
    expect(kernel).not.toContain('data-part="dev:pic"');
    expect(kernel).not.toContain('data-part="dev:pit"');
  });

  it("draws one thread lane and one guest vCPU per vCPU of the run", () => {
    const html = render({ store: new TraceStore(), vcpus: 4 });
    for (let i = 0; i < 4; i++) {
      expect(html).toContain(`data-part="vcpu${i}"`);
      expect(html).toContain(`data-part="guest-vcpu${i}"`);
    }
    expect(html).not.toContain('data-part="vcpu4"');
  });

  it("emphasises the highlighted parts and dims the rest", () => {
    const html = render({ store: new TraceStore(), vcpus: 2, highlight: ["vcpu1", "dev:uart"] });
    const classOf = (part: string): string => new RegExp(`<g class="([^"]*)" data-part="${part}"`).exec(html)?.[1] ?? "";
    expect(classOf("vcpu1")).toContain(styles.hl);
    expect(classOf("dev:uart")).toContain(styles.hl);
    expect(classOf("vcpu0")).toContain(styles.dim);
    expect(classOf("kvm")).toContain(styles.dim);
  });
});

describe("threadModelLayout", () => {
  it("puts each guest vCPU on the same row as its thread lane, with no lane overlapping the next", () => {
    for (const n of [1, 2, 4, 8, 16, 64]) {
      const l = threadModelLayout(n, "user");
      expect(l.lanes).toHaveLength(n);
      for (let i = 0; i < n; i++) {
        const lane = l.lanes[i]!;
        const g = l.guestVcpus[i]!;
        expect(g.y + g.h / 2).toBe(lane.y + lane.h / 2);
        if (i > 0) expect(lane.y).toBeGreaterThanOrEqual(l.lanes[i - 1]!.y + l.lanes[i - 1]!.h);
        expect(lane.y + lane.h).toBeLessThanOrEqual(l.height);
      }
      expect(l.main.y + l.main.h).toBeLessThanOrEqual(l.lanes[0]!.y);
    }
  });

  it("offers every documented highlight id", () => {
    const ids = highlightIds(threadModelLayout(2, "kernel"));
    for (const id of ["process", "main", "vcpu0", "vcpu1", "kernel", "dev-kvm", "kvm", "kernel-irqchip", "guest", "guest-vcpu0", "devices", "dev:uart", "dev:mmio", "dev:debugcon", "dev:debug-exit", "dev:post"]) {
      expect(ids).toContain(id);
    }
  });
});

describe("exitJourney and tokenAt", () => {
  const layout = threadModelLayout(2, "user");
  const uartOut = io(87, 456839875, 0, 31857, 0x3f8, [118], 22432, 148338);
  const mmioRead: ExitRecord = {
    type: "exit", seq: 100, ts: 312841649, vcpu: 0, reason: "KVM_EXIT_MMIO", code: KvmExit.MMIO, rip: 31814, guestNs: 10249, handleNs: 1515402,
    ...noFlags, mmio: { addr: 0xd0000000, len: 4, isWrite: false, data: [75, 86, 77, 83] },
  };

  it("takes an IO exit from the guest vCPU through KVM and its thread to the device and back into KVM_RUN", () => {
    const j = exitJourney(layout, uartOut);
    expect(j.stages).toEqual(["exit", "return", "dispatch", "device", "enter", "resume"]);
    const uart = layout.devices.find((d) => d.device === "uart")!;
    const atDevice = j.points[3]!;
    expect(atDevice.y).toBe(uart.y + uart.h / 2);
    expect(atDevice.x).toBeGreaterThanOrEqual(uart.x);
    expect(j.points[0]).toEqual(j.points[j.points.length - 1]);
  });

  it("keeps a HLT in the vCPU thread: no device on the way", () => {
    const j = exitJourney(layout, bare(45, 398076135, 1, KvmExit.HLT, "KVM_EXIT_HLT", 31761, 13485, 6412));
    expect(j.stages).toEqual(["exit", "return", "handle", "enter", "resume"]);
    expect(j.points[0]!.y).toBe(layout.lanes[1]!.y + layout.lanes[1]!.h / 2);
  });

  it("ends the journey in the thread for an exit that ends the run", () => {
    const j = exitJourney(layout, bare(60, 1, 0, KvmExit.SHUTDOWN, "KVM_EXIT_SHUTDOWN", 0, 1, 1));
    expect(j.stages).toEqual(["exit", "return", "stop"]);
  });

  it("narrates an interrupt window as the guest taking the interrupt, not as carrying on after the instruction", () => {
    const w = bare(61, 1, 0, KvmExit.IRQ_WINDOW_OPEN, "KVM_EXIT_IRQ_WINDOW_OPEN", 0, 1, 1);
    const j = exitJourney(layout, w);
    const en = stageCaptions(j, w, "en");
    expect(j.stages[j.stages.length - 1]).toBe("resume");
    expect(en[en.length - 1]).toBe("the guest takes the interrupt: the vCPU enters its interrupt handler");
    expect(stageCaptions(j, w, "ja").at(-1)).toContain("割り込みハンドラ");
    const out = stageCaptions(exitJourney(layout, uartOut), uartOut, "en");
    expect(out.at(-1)).toBe("the guest continues after the instruction that exited");
  });

  it("ends a final HLT in the thread, which leaves its loop, instead of going back into KVM_RUN", () => {
    const h = bare(62, 1, 0, KvmExit.HLT, "KVM_EXIT_HLT", 0, 1, 1);
    expect(exitJourney(layout, h).stages).toContain("enter");
    const j = exitJourney(layout, h, true);
    expect(j.stages).toEqual(["exit", "return", "stop"]);
    expect(stageCaptions(j, h, "en")[2]).toBe("HLT with interrupts off: nothing can wake vCPU 0, so its thread leaves the loop and closes its vCPU");
    const sd = bare(63, 1, 0, KvmExit.SHUTDOWN, "KVM_EXIT_SHUTDOWN", 0, 1, 1);
    expect(stageCaptions(exitJourney(layout, sd), sd, "en")[2]).toBe("KVM_EXIT_SHUTDOWN ends the run: the thread leaves its loop");
  });

  it("moves the token from the guest vCPU at the start to the guest vCPU at the end, one stage at a time", () => {
    const j = exitJourney(layout, uartOut);
    expect(tokenAt(j, 0)).toMatchObject({ ...j.points[0], stage: 0 });
    expect(tokenAt(j, 1)).toMatchObject({ ...j.points[j.points.length - 1], stage: j.stages.length - 1 });
    let last = -1;
    for (let p = 0; p <= 1; p += 0.05) {
      const s = tokenAt(j, p).stage;
      expect(s).toBeGreaterThanOrEqual(last);
      last = s;
    }
  });

  it("captions each stage in both languages, with the device and what it did", () => {
    const j = exitJourney(layout, mmioRead);
    const en = stageCaptions(j, mmioRead, "en");
    const ja = stageCaptions(j, mmioRead, "ja");
    expect(en).toHaveLength(j.stages.length);
    expect(ja).toHaveLength(j.stages.length);
    expect(en[3]).toBe("teaching MMIO device (0xd0000000) handles a 4-byte read at 0xd0000000, answer 0x534d564b");
    expect(ja[3]).toBe("teaching MMIO device (0xd0000000) が 0xd0000000 からの 4 バイト読み出し:応答 0x534d564bを処理する");
    expect(ja[0]).toContain("VM exit(KVM_EXIT_MMIO)");
  });

  it("says so when an access reaches an address where no device lives", () => {
    const nowhere: ExitRecord = { ...mmioRead, seq: 284, mmio: { addr: 0xe0000000, len: 4, isWrite: false, data: [255, 255, 255, 255] } };
    const j = exitJourney(layout, nowhere);
    expect(j.device?.id).toBe("unassigned");
    const en = stageCaptions(j, nowhere, "en");
    expect(en[2]).toBe("the thread reads exit_reason from its kvm_run page and looks for a device at that address");
    expect(en[3]).toBe("a 4-byte read at 0xe0000000, answer 0xffffffff: no device is there: the bus reads 0xff and drops writes");
  });
});
