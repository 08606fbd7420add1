import { describe, expect, it } from "vitest";
import { renderToStaticMarkup } from "react-dom/server";
import { exitReasonName, KvmExit, type ExitRecord, type IoctlRecord, type IoPayload, type TraceRecord } from "@kvmscope/shared";
import { SelectedExit } from "../src/components/SelectedExit";
import { TraceStore } from "../src/lib/trace-store";

// The start of `kvmscope run hello`: setup ioctls, then 'H', 'e' to COM1 and a HLT.
function exit(seq: number, code: number, extra: Partial<ExitRecord> = {}): ExitRecord {
  return {
    type: "exit", seq, ts: 350_104_502 + seq * 1000, vcpu: 0, reason: exitReasonName(code), code, rip: 0x7c0d,
    guestNs: 204_323, handleNs: 1_045_390, ifFlag: false, readyForInjection: false, requestedWindow: false, ...extra,
  };
}
const out = (seq: number, data: number[], more: Partial<IoPayload> = {}): ExitRecord =>
  exit(seq, KvmExit.IO, { io: { port: 0x3f8, size: 1, direction: "out", count: 1, data, ...more } });
const createVm: IoctlRecord = {
  type: "ioctl", seq: 9, ts: 10_034_186, thread: "main", name: "KVM_CREATE_VM", fd: 19, args: { type: 0 }, ret: 20, errno: 0, durNs: 541_204,
};

function storeWith(records: TraceRecord[]): TraceStore {
  const s = new TraceStore();
  s.appendRecords(records);
  return s;
}
const hello = storeWith([createVm, out(23, [0x48]), out(24, [0x65]), exit(45, KvmExit.HLT, { rip: 0x7c11 })]);
const render = (store: TraceStore, seq: number | null): string =>
  renderToStaticMarkup(<SelectedExit store={store} version={store.version} selectedSeq={seq} onSelect={() => {}} />);

describe("the Selected-exit panel", () => {
  it("asks for a selection when nothing is selected", () => {
    const html = render(hello, null);
    expect(html).toContain('data-testid="selected-exit"');
    expect(html).toContain("Select an exit");
  });

  it("explains a write to COM1 with a link to the KVM API document", () => {
    const html = render(hello, 23);
    expect(html).toContain("KVM_EXIT_IO, OUT, port 0x3f8");
    expect(html).toContain("The guest wrote &#x27;H&#x27; (0x48) into COM1&#x27;s transmit holding register (THR)");
    expect(html).toMatch(/<a href="https:\/\/docs\.kernel\.org\/virt\/kvm\/api\.html#the-kvm-run-structure" rel="noreferrer" target="_blank"/);
  });

  it("puts our handler beside the qemu-kvm 0.14 function that played its role", () => {
    const html = render(hello, 23);
    expect(html).toContain("dispatch.ts handleIo()");
    expect(html).toContain("uart-16550.ts Uart.write()");
    expect(html).toContain("kvm-all.c kvm_handle_io()");
    expect(html).toContain("kvm-all.c line 964, in kvm_cpu_exec()");
    expect(html).toContain("exit-loop.ts runExitLoop()");
    expect(html).toContain("qemu-kvm.c kvm_main_loop_cpu()");
  });

  it("shows the registers the record has and says which it has not", () => {
    const html = render(hello, 45);
    expect(html).toMatch(/<dt>RIP<\/dt><dd class="mono">0x7c11<\/dd>/);
    expect(html).toContain("RFLAGS.IF");
    expect(html).toContain("Not recorded: RAX, RBX");
  });

  it("lists every field of the record", () => {
    const html = render(hello, 23);
    for (const key of ["seq", "vcpu", "reason", "rip", "guestNs", "handleNs", "ifFlag", "io.port", "io.direction", "io.data"]) {
      expect(html).toContain(`<dt class="mono">${key}</dt>`);
    }
    expect(html).toContain("0x3f8 (1016)");
  });

  it("offers the neighbouring exits on the vCPU and of the same reason", () => {
    const first = render(hello, 23);
    expect(first).toMatch(/<button type="button" disabled="" data-testid="prev">/);
    expect(first).toMatch(/<button type="button" data-testid="next">/);
    expect(first).toMatch(/<button type="button" data-testid="next-same">next KVM_EXIT_IO/);
    const last = render(hello, 45);
    expect(last).toMatch(/<button type="button" disabled="" data-testid="next">/);
    expect(last).toMatch(/<button type="button" disabled="" data-testid="prev-same">/);
  });

  it("explains an ioctl in the same panel", () => {
    const html = render(hello, 9);
    expect(html).toContain("KVM_CREATE_VM → 20");
    expect(html).toContain("VM fd 20");
    expect(html).toContain("#kvm-create-vm");
    expect(html).toContain("qemu-kvm.c kvm_create_vm()");
    expect(html).toContain("machine.ts Machine.#build()");
    // Ioctl records carry no guest registers.
    expect(html).not.toContain('data-testid="registers"');
  });

  it("renders what the guest wrote through the UART as text, never as markup", () => {
    const evil = Array.from("<img src=x onerror=alert(1)>", (c) => c.charCodeAt(0));
    const store = storeWith([out(23, evil, { count: evil.length })]);
    const html = render(store, 23);
    expect(html).toContain("&lt;img src=x onerror=alert(1)&gt;");
    expect(html).not.toContain("<img");
    expect(html).not.toMatch(/<[^>]*onerror/);
  });

  it("calls port 0x3f8 the divisor latch while the guest has LCR.DLAB set", () => {
    const store = storeWith([out(20, [0x80], { port: 0x3fb }), out(21, [0x01]), out(22, [0x03], { port: 0x3fb }), out(23, [0x48])]);
    expect(render(store, 21)).toContain("divisor latch, low byte (DLL)");
    expect(render(store, 23)).toContain("transmit holding register (THR)");
  });

  it("says so when the selected record is not in the store", () => {
    expect(render(hello, 999)).toContain("Record 999 is not in this trace");
  });
});
