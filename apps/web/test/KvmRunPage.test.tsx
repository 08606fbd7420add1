import { describe, expect, it } from "vitest";
import { renderToStaticMarkup } from "react-dom/server";
import { exitReasonName, KvmExit, type ExitRecord, type IoctlRecord, type TraceRecord } from "@kvmscope/shared";
import { KvmRunPage } from "../src/components/KvmRunPage";
import { TraceStore } from "../src/lib/trace-store";

// Shaped like `kvmscope run timer`: the guest polls the PIC, an interrupt window opens, the VMM
// injects vector 0x20, and the guest writes 't' to COM1.
function exit(seq: number, code: number, extra: Partial<ExitRecord> = {}): ExitRecord {
  return {
    type: "exit", seq, ts: 266_000_000 + seq * 1000, vcpu: 0, reason: exitReasonName(code), code, rip: 0x7c76,
    guestNs: 7094, handleNs: 124_884, ifFlag: false, readyForInjection: false, requestedWindow: false, ...extra,
  };
}
const picRead = exit(920, KvmExit.IO, { rip: 0x7c66, io: { port: 0x20, size: 1, direction: "in", count: 1, data: [0x00] } });
const window = exit(929, KvmExit.IRQ_WINDOW_OPEN, { ifFlag: true, readyForInjection: true, requestedWindow: true });
const inject: IoctlRecord = {
  type: "ioctl", seq: 930, ts: 267_126_307, thread: "vcpu0", name: "KVM_INTERRUPT", fd: 25, args: { vector: 32 }, ret: 0, errno: 0, durNs: 10_520,
};
const uart = exit(931, KvmExit.IO, { rip: 0x7cca, io: { port: 0x3f8, size: 1, direction: "out", count: 1, data: [0x74] } });

function storeWith(records: TraceRecord[]): TraceStore {
  const s = new TraceStore();
  s.appendRecords(records);
  return s;
}
const store = storeWith([picRead, window, inject, uart]);
const render = (selectedSeq: number | null, cursorSeq?: number): string =>
  renderToStaticMarkup(<KvmRunPage store={store} version={store.version} selectedSeq={selectedSeq} cursorSeq={cursorSeq} />);
/** The <tr> of one field. */
function row(html: string, path: string): string {
  const m = new RegExp(`<tr[^>]*data-field="${path.replace(/[.[\]]/g, "\\$&")}"[^>]*>.*?</tr>`).exec(html);
  if (m === null) throw new Error(`no row for ${path}`);
  return m[0];
}

describe("the kvm_run page", () => {
  it("asks for a selection when there is neither a selection nor a cursor", () => {
    const html = render(null);
    expect(html).toContain('data-testid="kvm-run-page"');
    expect(html).toContain("Select an exit");
  });

  it("lays out struct kvm_run as a memory table with offsets, types, values and writers", () => {
    const html = render(931);
    expect(html).toContain("vCPU 0, record 931: KVM_EXIT_IO");
    expect(row(html, "exit_reason")).toMatch(/<td[^>]*>8<\/td><td class="mono">exit_reason<\/td><td class="mono">__u32<\/td><td class="mono">2 \(KVM_EXIT_IO\)/);
    expect(row(html, "io.port")).toContain("0x3f8");
    expect(row(html, "io data")).toContain("+data_offset");
    expect(row(html, "io data")).toContain("&#x27;t&#x27; (0x74)");
    expect(row(html, "request_interrupt_window")).toContain("VMM, before KVM_RUN");
  });

  it("lists only this exit's union member, and the others (greyed) on demand", () => {
    const html = render(931);
    expect(() => row(html, "mmio.phys_addr")).toThrow();
    expect(html).toMatch(/Show the other union members \(\d+ rows/);
    const all = renderToStaticMarkup(<KvmRunPage store={store} version={store.version} selectedSeq={931} allMembers />);
    expect(row(all, "mmio.phys_addr")).toContain('data-active="false"');
    expect(all).toContain("Hide the other union members");
  });

  it("says which fields are not recorded", () => {
    const html = render(931);
    expect(row(html, "io.port")).toContain('data-active="true"');
    expect(row(html, "io.data_offset")).toContain("not recorded");
    expect(row(html, "cr8")).toContain("not recorded");
  });

  it("highlights what changed since the previous exit on the same vCPU", () => {
    const html = render(931);
    expect(html).toContain("changed since this vCPU&#x27;s previous exit (record 929)");
    expect(row(html, "exit_reason")).toContain('data-changed="true"');
    expect(row(html, "io.port")).toContain('data-changed="true"');
    // The flags of the window exit (1, 1, 1) went back to 0: that is a change too.
    expect(row(html, "if_flag")).toContain('data-changed="true"');
    const first = render(920);
    expect(first).toContain("First exit on this vCPU");
    expect(first).not.toContain('data-changed="true"');
  });

  it("shows the VMM's side of an interrupt window: request_interrupt_window set, the guest ready", () => {
    const html = render(929);
    expect(row(html, "request_interrupt_window")).toMatch(/<td class="mono">1/);
    expect(row(html, "ready_for_interrupt_injection")).toMatch(/<td class="mono">1/);
    expect(html).toContain("union at offset 32: unused by KVM_EXIT_IRQ_WINDOW_OPEN");
  });

  it("shows, for an ioctl on a vCPU thread, the page its last exit left", () => {
    const html = render(930);
    expect(html).toContain("vCPU 0, record 929: KVM_EXIT_IRQ_WINDOW_OPEN");
    expect(html).toContain("Record 930 is not an exit");
  });

  it("shows the page at the cursor when nothing is selected", () => {
    const html = render(null, 930);
    expect(html).toContain("record 929");
    expect(html).toContain("the page at the cursor");
  });
});
