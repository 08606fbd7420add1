// Every record in plain words: what the guest did (or what the VMM asked KVM), what our device
// models made of it, and where the KVM API document describes it. Pure: a record in, text out,
// in English or Japanese. Guest bytes are data: they are rendered as characters only when they
// are printable ASCII, and the caller renders the resulting strings as text, never as markup.
import {
  errnoName, type ExitRecord, KVM_CAP_NAMES, type IoctlRecord, type IoPayload, KvmExit, type MmioPayload, type TraceRecord,
} from "@kvmscope/shared";
import { rangeOfAddress, rangeOfPort } from "./devices";
import { formatCount, hex } from "./format";
import type { Lang } from "./i18n";
import { LCR_DLAB, MCR_LOOPBACK, UART_REG } from "./uart";

// The teaching device's registers (devices/mmio-teaching-device.ts). Which device answers at
// which port or address comes from devices.ts; this module adds what each register means.

/** Its registers, by offset from its page's base. */
export const TEACHING_REGS = { ID: 0x0, SCRATCH: 0x4, COUNTER: 0x8, DOORBELL: 0xc } as const;
export const TEACHING_DEVICE_ID = 0x534d564b;

// ---------------------------------------------------------------------------------------------
// The KVM API document. Its sections are rendered by Sphinx, whose section ids come from the
// heading text: docutils lower-cases it, turns every run of other characters into "-" and drops
// the leading section number, so "4.10 KVM_RUN" becomes #kvm-run and "5. The kvm_run structure"
// becomes #the-kvm-run-structure. The headings below were read in Documentation/virt/kvm/api.rst
// (the source of https://docs.kernel.org/virt/kvm/api.html), and the same ids appear in public
// code that links the page (#kvm-get-api-version, #kvm-run, #kvm-set-user-memory-region,
// #kvm-create-irqchip, #kvm-get-supported-cpuid, #the-kvm-run-structure). Exit reasons have no
// headings of their own: each is a commented member inside section 5, so every exit links there.
// KVM_SET_CPUID2 has no heading either; 4.20 KVM_SET_CPUID describes it and is what it links to.

export const KVM_API_DOC = "https://docs.kernel.org/virt/kvm/api.html";

const IOCTL_ANCHORS: Readonly<Record<string, string>> = {
  open: "file-descriptors", // 2. File descriptors: open("/dev/kvm") and what each fd is for
  close: "file-descriptors",
  KVM_GET_API_VERSION: "kvm-get-api-version", // 4.1
  KVM_CREATE_VM: "kvm-create-vm", // 4.2
  KVM_CHECK_EXTENSION: "kvm-check-extension", // 4.4
  KVM_GET_VCPU_MMAP_SIZE: "kvm-get-vcpu-mmap-size", // 4.5
  KVM_CREATE_VCPU: "kvm-create-vcpu", // 4.7
  KVM_RUN: "kvm-run", // 4.10
  KVM_GET_REGS: "kvm-get-regs", // 4.11
  KVM_SET_REGS: "kvm-set-regs", // 4.12
  KVM_GET_SREGS: "kvm-get-sregs", // 4.13
  KVM_SET_SREGS: "kvm-set-sregs", // 4.14
  KVM_INTERRUPT: "kvm-interrupt", // 4.16
  KVM_SET_CPUID2: "kvm-set-cpuid", // 4.20 (see above)
  KVM_CREATE_IRQCHIP: "kvm-create-irqchip", // 4.24
  KVM_IRQ_LINE: "kvm-irq-line", // 4.25
  KVM_SET_USER_MEMORY_REGION: "kvm-set-user-memory-region", // 4.35
  KVM_SET_TSS_ADDR: "kvm-set-tss-addr", // 4.36
  KVM_GET_MP_STATE: "kvm-get-mp-state", // 4.38
  KVM_SET_MP_STATE: "kvm-set-mp-state", // 4.39
  KVM_SET_IDENTITY_MAP_ADDR: "kvm-set-identity-map-addr", // 4.40
  KVM_GET_SUPPORTED_CPUID: "kvm-get-supported-cpuid", // 4.46
  KVM_CREATE_PIT2: "kvm-create-pit2", // 4.71
  KVM_SET_GUEST_DEBUG: "kvm-set-guest-debug", // 4.87
  KVM_GET_STATS_FD: "kvm-get-stats-fd", // 4.133
};
const KVM_RUN_STRUCTURE_ANCHOR = "the-kvm-run-structure";

/** The KVM API document's section for an ioctl name, or its API description when it has none. */
export function ioctlDocUrl(name: string): string {
  return `${KVM_API_DOC}#${IOCTL_ANCHORS[name] ?? "api-description"}`;
}

/** The KVM API document's section for an exit reason: the kvm_run structure, where each is described. */
export function exitDocUrl(_code: number): string {
  return `${KVM_API_DOC}#${KVM_RUN_STRUCTURE_ANCHOR}`;
}

// ---------------------------------------------------------------------------------------------
// Numbers and bytes

const CONTROL_NAMES: Readonly<Record<Lang, Readonly<Record<number, string>>>> = {
  en: { 0x00: "NUL", 0x07: "bell", 0x08: "backspace", 0x09: "tab", 0x0a: "newline", 0x0d: "carriage return", 0x1b: "escape", 0x7f: "delete" },
  ja: { 0x00: "NUL", 0x07: "ベル", 0x08: "バックスペース", 0x09: "タブ", 0x0a: "改行", 0x0d: "復帰 (CR)", 0x1b: "エスケープ", 0x7f: "DEL" },
};

function isPrintable(b: number): boolean {
  return b >= 0x20 && b <= 0x7e;
}

function hexByte(b: number): string {
  return `0x${b.toString(16).padStart(2, "0")}`;
}

/** One byte for a student: "'H' (0x48)" when printable ASCII, else "0x0a (newline)" or "0x90". */
export function formatByte(b: number, lang: Lang): string {
  if (isPrintable(b)) return `'${String.fromCharCode(b)}' (${hexByte(b)})`;
  const name = CONTROL_NAMES[lang][b];
  return name === undefined ? hexByte(b) : `${hexByte(b)} (${name})`;
}

/** Several bytes: a quoted string when every one is printable, else each byte as formatByte gives it. */
export function formatBytes(data: readonly number[], lang: Lang): string {
  if (data.length === 0) return "—";
  if (data.length === 1) return formatByte(data[0]!, lang);
  if (data.every(isPrintable)) return `"${String.fromCharCode(...data)}"`;
  return data.map((b) => formatByte(b, lang)).join(", ");
}

/** The little-endian value of up to 4 bytes (wider values keep their low 32 bits). */
export function littleEndian(data: readonly number[]): number {
  let v = 0;
  for (let i = Math.min(data.length, 4) - 1; i >= 0; i--) v = v * 256 + (data[i] ?? 0);
  return v;
}

/**
 * The data of an access `size` bytes wide as the guest meant it: bytes as characters
 * ("'H' (0x48)"), wider accesses as little-endian values ("0x1badc0de"), one per access.
 */
export function formatAccessData(data: readonly number[], size: number, lang: Lang): string {
  if (data.length === 0) return "—";
  if (size <= 1) return formatBytes(data, lang);
  const out: string[] = [];
  for (let i = 0; i < data.length; i += size) {
    const chunk = data.slice(i, i + size);
    const lo = littleEndian(chunk.slice(0, 4));
    out.push(chunk.length > 4 ? `0x${littleEndian(chunk.slice(4)).toString(16)}${lo.toString(16).padStart(8, "0")}` : hex(lo, chunk.length * 2));
  }
  return out.join(", ");
}

function bytesHex(data: readonly number[]): string {
  return data.map((b) => b.toString(16).padStart(2, "0")).join(" ");
}

// ---------------------------------------------------------------------------------------------
// Phrases. Each language implements the same interface, written in its own words (not translated
// sentence by sentence), so the type checker keeps the two in step.

type Dir = "in" | "out";

interface Phrases {
  ioHeadline(dir: Dir, port: string): string;
  mmioHeadline(isWrite: boolean, addr: string, len: number): string;
  /** "(a 2-byte access also reaches the next port)" */
  widerAccess(size: number): string;
  stringIo(count: number, size: number): string;
  truncated(total: number, kept: number): string;
  // UART (16550 at COM1)
  uartOut(reg: UartReg, value: string, detail: string): string;
  uartIn(reg: UartReg, value: string, detail: string): string;
  uartRegName(reg: UartReg): string;
  uartThrDetail: string;
  uartDllDetail: string;
  uartLcrDetail(dlab: boolean, bits: number): string;
  uartMcrDetail(loopback: boolean): string;
  uartLsrDetail(dataReady: boolean, txIdle: boolean, overrun: boolean): string;
  uartRbrDetail(empty: boolean): string;
  uartIirDetail: string;
  uartMsrDetail: string;
  uartScrDetail: string;
  uartIerDetail: string;
  uartFcrDetail: string;
  uartReadOnlyWrite: string;
  // 8259A PIC
  picName(slave: boolean): string;
  picIcw1(chip: string, value: string, icw4: boolean, single: boolean): string;
  picOcw2(chip: string, value: string, eoi: "nonspecific" | "specific" | "other", level: number): string;
  picOcw3(chip: string, value: string): string;
  picData(chip: string, value: string): string;
  picReadCommand(chip: string, value: string): string;
  picReadData(chip: string, value: string): string;
  // 8254 PIT
  pitControl(value: string, counter: number | "readback", access: string, mode: number, bcd: boolean): string;
  pitAccess(a: number): string;
  pitCounterWrite(counter: number, value: string): string;
  pitCounterRead(counter: number, value: string): string;
  pitControlRead(value: string): string;
  portBWrite(value: string, gate: boolean, speaker: boolean): string;
  portBRead(value: string, out2: boolean): string;
  // others
  postWrite(value: string): string;
  postRead(value: string): string;
  debugconWrite(value: string, newline: boolean): string;
  debugconRead(value: string): string;
  debugExitWrite(value: number, status: number): string;
  debugExitRead(value: string): string;
  unassignedWrite(port: string, value: string): string;
  unassignedRead(port: string, value: string): string;
  // MMIO
  teachingId(value: string): string;
  teachingScratchRead(value: string): string;
  teachingScratchWrite(value: string): string;
  teachingCounter(value: number): string;
  teachingDoorbell(value: number): string;
  teachingNoRegister(isWrite: boolean, offset: string, len: number): string;
  mmioUnassignedRead(addr: string, value: string): string;
  mmioUnassignedWrite(addr: string, value: string): string;
  // other exits
  hlt(ifFlag: boolean): string;
  irqWindow: string;
  intr: string;
  shutdown: string;
  internal(name: string, insn: string | null, data: string): string;
  internalSub(sub: number): string;
  failEntry(reason: string, cpu: number): string;
  systemEvent(name: string, data: string): string;
  debug(exception: number, pc: string): string;
  exception(vector: number, code: string): string;
  hypercall(nr: number): string;
  unknown(hw: string): string;
  unhandled(name: string): string;
  // other records
  marker(thread: string, text: string): string;
  stats(vcpu: number, n: number): string;
  lost(thread: string, count: number): string;
  // ioctls
  ioctl: IoctlPhrases;
  failed(errno: string): string;
}

interface IoctlPhrases {
  open(fd: number): string;
  close(fd: number): string;
  apiVersion(ret: number): string;
  checkExtension(cap: string, ret: number): string;
  mmapSize(ret: number): string;
  supportedCpuid(max: number): string;
  createVm(type: number, fd: number): string;
  memoryRegion(slot: number, gpa: string, end: string, size: string): string;
  tssAddr(addr: string): string;
  identityMap(addr: string): string;
  createIrqchip: string;
  createPit2(flags: number): string;
  irqLine(irq: number, level: number): string;
  createVcpu(id: number, fd: number): string;
  run: string;
  runInterrupted: string;
  getRegs: string;
  setRegs(rip: string): string;
  getSregs: string;
  setSregs(cr0: string, efer: string, mode: string): string;
  modeName(mode: "real" | "protected" | "paged" | "long"): string;
  setCpuid2(n: number): string;
  interrupt(vector: string): string;
  getMpState: string;
  setMpState(state: string): string;
  statsFd(fd: number): string;
  guestDebug(control: string, enable: boolean, step: boolean): string;
  unknown(name: string, args: string): string;
}

type UartReg = "RBR" | "THR" | "DLL" | "IER" | "DLM" | "IIR" | "FCR" | "LCR" | "MCR" | "LSR" | "MSR" | "SCR" | "past";

const EN: Phrases = {
  ioHeadline: (dir, port) => `KVM_EXIT_IO, ${dir.toUpperCase()}, port ${port}`,
  mmioHeadline: (w, addr, len) => `KVM_EXIT_MMIO, ${w ? "write" : "read"}, ${addr} (${len} byte${len === 1 ? "" : "s"})`,
  widerAccess: (size) => ` (a ${size}-byte access also reaches the next ${size - 1 === 1 ? "port" : `${size - 1} ports`}, as on the ISA bus)`,
  stringIo: (count, size) => `String I/O (rep ins/outs): ${count} accesses of ${size} byte${size === 1 ? "" : "s"} in one exit. `,
  truncated: (total, kept) => ` The record keeps the first ${kept} of ${total} bytes.`,
  uartOut: (reg, value, detail) => `The guest wrote ${value} into COM1's ${EN.uartRegName(reg)}; ${detail}`,
  uartIn: (reg, value, detail) => `The guest read COM1's ${EN.uartRegName(reg)} and the UART model answered ${value}; ${detail}`,
  uartRegName: (reg) => ({
    RBR: "receive buffer (RBR)", THR: "transmit holding register (THR)", DLL: "divisor latch, low byte (DLL)",
    IER: "interrupt enable register (IER)", DLM: "divisor latch, high byte (DLM)", IIR: "interrupt identification register (IIR)",
    FCR: "FIFO control register (FCR)", LCR: "line control register (LCR)", MCR: "modem control register (MCR)",
    LSR: "line status register (LSR)", MSR: "modem status register (MSR)", SCR: "scratch register (SCR)",
    past: "ports past its register file",
  })[reg],
  uartThrDetail: "the UART model passed it to the console at once (its transmitter is never busy).",
  uartDllDetail: "with LCR.DLAB set this is the baud-rate divisor, which the model stores and otherwise ignores.",
  uartLcrDetail: (dlab, bits) => dlab
    ? `DLAB is set, so ports 0x3f8/0x3f9 now reach the baud-rate divisor; ${bits} data bits.`
    : `DLAB is clear, so port 0x3f8 is the data register again; ${bits} data bits.`,
  uartMcrDetail: (loop) => loop ? "loopback is on: what the guest transmits comes back to its own receiver." : "loopback is off.",
  uartLsrDetail: (dr, idle, oe) =>
    `${dr ? "a received byte is waiting (DR=1)" : "no received byte is waiting (DR=0)"}${idle ? ", the transmitter is empty (THRE, TEMT)" : ""}${oe ? ", and an overrun was flagged" : ""}. A polling guest reads this until the bit it needs is set.`,
  uartRbrDetail: (empty) => empty ? "nothing had been typed, so the model returns 0." : "this is the next byte typed on the console.",
  uartIirDetail: "our model never raises an interrupt, so bit 0 always says none is pending.",
  uartMsrDetail: "a terminal appears connected (CTS, DSR, DCD), or in loopback the modem outputs come back.",
  uartScrDetail: "the scratch register just keeps a byte; drivers use it to check that a UART is present.",
  uartIerDetail: "the model stores it but, polled only, never raises an interrupt.",
  uartFcrDetail: "it turns the FIFOs on or off (which empties them) or clears the receive FIFO.",
  uartReadOnlyWrite: "that register is read-only, so the write has no effect.",
  picName: (slave) => slave ? "the slave 8259A PIC" : "the master 8259A PIC",
  picIcw1: (chip, v, icw4, single) => `The guest wrote ${v} to ${chip}'s command port: ICW1, which starts its initialization sequence${icw4 ? " (ICW4 will follow)" : ""}${single ? ", single-chip mode" : ", cascaded"}. The next writes to the data port are ICW2 (vector base) and the rest.`,
  picOcw2: (chip, v, eoi, level) => eoi === "nonspecific"
    ? `The guest wrote ${v} to ${chip}'s command port: a non-specific EOI. The interrupt handler is done, so the highest in-service IRQ is cleared and lower ones may be delivered again.`
    : eoi === "specific"
      ? `The guest wrote ${v} to ${chip}'s command port: a specific EOI for IR${level}.`
      : `The guest wrote ${v} to ${chip}'s command port: OCW2 (priority rotation or EOI control).`,
  picOcw3: (chip, v) => `The guest wrote ${v} to ${chip}'s command port: OCW3, which picks what the next read of the command port returns (IRR or ISR), poll mode, or special mask mode.`,
  picData: (chip, v) => `The guest wrote ${v} to ${chip}'s data port: during initialization this is ICW2–ICW4 (vector base, cascade wiring, mode); afterwards it sets the interrupt mask (IMR), where a 1 bit masks that IRQ.`,
  picReadCommand: (chip, v) => `The guest read ${chip}'s command port: ${v}, the request (IRR) or in-service (ISR) register, whichever OCW3 last selected.`,
  picReadData: (chip, v) => `The guest read ${chip}'s interrupt mask (IMR): ${v}.`,
  pitControl: (v, counter, access, mode, bcd) => counter === "readback"
    ? `The guest wrote ${v} to the 8254 PIT's control port: a read-back command, latching counts or status for the next reads.`
    : `The guest wrote ${v} to the 8254 PIT's control port: counter ${counter}, ${access}, mode ${mode}${mode === 2 ? " (rate generator: a periodic tick)" : mode === 3 ? " (square wave)" : mode === 0 ? " (interrupt on terminal count: one shot)" : ""}${bcd ? ", BCD counting" : ", binary counting"}.`,
  pitAccess: (a) => ["a counter latch command", "low byte only", "high byte only", "low byte then high byte"][a] ?? "",
  pitCounterWrite: (c, v) => `The guest wrote ${v} to PIT counter ${c}: one byte of its reload value. ${c === 0 ? "Once the whole count is loaded, our timer on the main thread raises IRQ 0 at the rate it gives (1,193,182 Hz ÷ count)." : c === 2 ? "Counter 2 drives the PC speaker, gated through port B." : "On the PC, counter 1 paced DRAM refresh."}`,
  pitCounterRead: (c, v) => `The guest read PIT counter ${c}: ${v}, a byte of its current (or latched) count.`,
  pitControlRead: (v) => `The guest read the PIT's control port, which has no read path: the bus floats and the VMM answered ${v}.`,
  portBWrite: (v, gate, spk) => `The guest wrote ${v} to system control port B: PIT counter 2's gate is ${gate ? "on" : "off"} and the speaker is ${spk ? "driven" : "off"}.`,
  portBRead: (v, out2) => `The guest read system control port B: ${v}; counter 2's output (bit 5) is ${out2 ? "high" : "low"}.`,
  postWrite: (v) => `The guest wrote POST code ${v} to port 0x80, where a BIOS reports its progress. Our POST port ignores it; OSes also use this write as a short I/O delay.`,
  postRead: (v) => `The guest read the POST port 0x80; nothing drives the bus, so it read ${v}.`,
  debugconWrite: (v, nl) => nl
    ? `The guest wrote ${v} to the debug console (port 0xe9): that ends the line, and the debugcon model turns it into a marker on the timeline.`
    : `The guest wrote ${v} to the debug console (port 0xe9); the debugcon model adds it to the current line, which becomes a marker on the timeline at the next newline.`,
  debugconRead: (v) => `The guest read the debug console port: ${v}, the value that tells a guest the port e9 console is there.`,
  debugExitWrite: (v, status) => `The guest wrote ${v} to isa-debug-exit (port 0xf4): it asks to end the run, and the VMM will exit with status (${v} << 1) | 1 = ${status}.`,
  debugExitRead: (v) => `The guest read isa-debug-exit (port 0xf4), which answers ${v}; only writes mean anything there.`,
  unassignedWrite: (port, v) => `The guest wrote ${v} to port ${port}, where no device sits: our port bus drops the write.`,
  unassignedRead: (port, v) => `The guest read port ${port}, where no device sits: the VMM answered ${v}, what a floating ISA data bus reads as.`,
  teachingId: (v) => `The guest read the teaching device's ID register: ${v}, the bytes "KVMS" in memory order. Nothing backs this page with RAM, so KVM had to ask the VMM.`,
  teachingScratchRead: (v) => `The guest read the teaching device's SCRATCH register: ${v}, whatever was last stored there (by any vCPU).`,
  teachingScratchWrite: (v) => `The guest stored ${v} in the teaching device's SCRATCH register, which every vCPU shares.`,
  teachingCounter: (n) => `The guest read the teaching device's COUNTER: ${n}, the number of reads so far, this one included.`,
  teachingDoorbell: (n) => `The guest rang the teaching device's DOORBELL with ${n}: the device recorded the marker "doorbell ${n}" on the timeline.`,
  teachingNoRegister: (w, off, len) => `The guest ${w ? "wrote" : "read"} ${len} byte${len === 1 ? "" : "s"} at offset ${off} of the teaching device, where no register answers that access (only aligned 4-byte ID, SCRATCH, COUNTER and DOORBELL accesses do): ${w ? "the write is ignored" : "it reads as 0"}.`,
  mmioUnassignedRead: (addr, v) => `The guest read ${addr}: no RAM and no device there, so the VMM answered ${v}.`,
  mmioUnassignedWrite: (addr, v) => `The guest wrote ${v} to ${addr}: no RAM and no device there, so the write is dropped.`,
  hlt: (ifFlag) => ifFlag
    ? "The guest executed HLT with interrupts enabled (IF=1) to wait for one. With the interrupt controller in userspace, the vCPU thread now sleeps in our VMM until the PIC has an interrupt for it (only vCPU 0 is wired to the PIC)."
    : "The guest executed HLT with interrupts disabled (IF=0): nothing but an NMI or INIT could wake it, so this vCPU is halted for good. When every vCPU is, the run ends.",
  irqWindow: "The VMM had set request_interrupt_window because the PIC had an interrupt waiting while the guest could not take one. Now the guest can (IF=1, no interrupt shadow): before the next KVM_RUN the loop injects it with KVM_INTERRUPT.",
  intr: "A signal reached the vCPU thread while the guest was running: the main thread kicked it (to deliver a timer interrupt, to pause, or to stop), so KVM_RUN returned before the guest exited on its own.",
  shutdown: "The guest triple-faulted: an exception struck while the CPU was delivering a double fault. A PC resets itself then; KVM reports KVM_EXIT_SHUTDOWN and our VMM ends the run.",
  internal: (name, insn, data) => `KVM could not continue: ${name}.${insn === null ? "" : ` The instruction at RIP starts with the bytes ${insn}.`}${data === "" ? "" : ` internal.data: ${data}.`} The VMM ends the run.`,
  internalSub: (s) => ({ 1: "its instruction emulator met an instruction it cannot emulate", 2: "an exception arrived while another was being delivered", 3: "a VM exit happened while an event was being delivered", 4: "the hardware gave an exit reason KVM has no handler for" } as Record<number, string>)[s] ?? `suberror ${s}`,
  failEntry: (reason, cpu) => `The CPU refused to enter the guest (VM entry failed) on host CPU ${cpu}; hardware_entry_failure_reason = ${reason}. Some guest state is invalid for the mode it is in. The VMM ends the run.`,
  systemEvent: (name, data) => `The guest asked the platform for ${name} (data ${data}). The VMM ends the run.`,
  debug: (exc, pc) => `A debug event fired (exception ${exc}) at ${pc}. This VMM attaches no debugger, so it ends the run.`,
  exception: (v, code) => `The guest raised CPU exception ${v} (error code ${code}), which KVM handed to userspace. This VMM has no handler for it and ends the run.`,
  hypercall: (nr) => `The guest made hypercall ${nr}, which KVM passed on. This VMM services none and ends the run.`,
  unknown: (hw) => `The hardware exited for a reason KVM passes on only as a raw number: ${hw}. The VMM ends the run.`,
  unhandled: (name) => `${name} is an exit reason this VMM has no handler for; rather than skip it, the run ends and says so.`,
  marker: (thread, text) => `A marker on ${thread}: a line the guest printed on the debug console (port 0xe9), or a note the VMM added. Its text: ${text}`,
  stats: (vcpu, n) => `A sample of vCPU ${vcpu}'s KVM statistics (${n} counters), read from the fd KVM_GET_STATS_FD gave. They count every VM exit, including those KVM handled without waking the VMM.`,
  lost: (thread, count) => `${thread}'s trace ring was full: ${count} record${count === 1 ? " was" : "s were"} dropped here, and this record says so.`,
  ioctl: {
    open: (fd) => `The VMM opened /dev/kvm and got fd ${fd}: the system fd that every later KVM call starts from.`,
    close: (fd) => `The VMM closed fd ${fd} (a vCPU, VM, statistics or /dev/kvm fd).`,
    apiVersion: (ret) => `The VMM asked for the KVM API version; KVM answered ${ret}${ret === 12 ? ", the one stable version, so every basic ioctl is there." : ": anything but 12 means an incompatible kernel."}`,
    checkExtension: (cap, ret) => `The VMM asked whether ${cap} is available; KVM answered ${ret}${ret === 0 ? " (not available)." : " (available; some capabilities answer with a number, such as a limit)."}`,
    mmapSize: (ret) => `The VMM asked how much to mmap from each vCPU fd: ${ret} bytes (${ret / 4096} pages), the kvm_run structure and the pages after it, such as the one port I/O data passes through.`,
    supportedCpuid: (max) => `The VMM asked (room for ${max} entries) which CPUID leaves this host and KVM can offer a guest.`,
    createVm: (type, fd) => `The VMM asked KVM for a new, empty virtual machine (type ${type}); KVM returned VM fd ${fd}. It has no vCPUs and no memory yet.`,
    memoryRegion: (slot, gpa, end, size) => `The VMM gave the guest ${size} of its own memory as guest-physical ${gpa}–${end} (memory slot ${slot}). Guest accesses there run at full speed; anything outside it exits as MMIO.`,
    tssAddr: (addr) => `The VMM reserved three guest-physical pages at ${addr} for the TSS that Intel VMX needs to run real-mode code.`,
    identityMap: (addr) => `The VMM reserved the guest-physical page at ${addr} for the identity page table VMX uses while the guest runs unpaged.`,
    createIrqchip: "The VMM moved the interrupt controllers (PIC, IOAPIC, local APICs) into the kernel: their ports no longer exit to userspace.",
    createPit2: (flags) => `The VMM created the 8254 timer inside the kernel (flags ${flags}${(flags & 1) !== 0 ? ", KVM_PIT_SPEAKER_DUMMY: port 0x61 is answered inside KVM too" : ""}): it ticks without waking the VMM.`,
    irqLine: (irq, level) => `The VMM drove interrupt line ${irq} of the in-kernel interrupt controller ${level ? "high" : "low"}.`,
    createVcpu: (id, fd) => `This thread added vCPU ${id} to the VM; KVM returned vCPU fd ${fd}, which the thread will mmap for its kvm_run page.`,
    run: "The vCPU thread entered the guest with KVM_RUN.",
    runInterrupted: "KVM_RUN returned without entering the guest: immediate_exit was set or a signal was pending (the main thread had kicked this vCPU: to deliver an interrupt, or to pause, step or stop it). No exit happened; the loop looks at its control words and goes round again.",
    getRegs: "The VMM read the general-purpose registers, RIP and RFLAGS (the values are not recorded).",
    setRegs: (rip) => `The VMM wrote the general-purpose registers: RIP = ${rip}, where the guest image was loaded, the rest 0.`,
    getSregs: "The VMM read the segment, control and descriptor-table registers (the values are not recorded).",
    setSregs: (cr0, efer, mode) => `The VMM wrote the segment and control registers: CR0 = ${cr0}, EFER = ${efer}, so the guest starts in ${mode}.`,
    modeName: (m) => ({ real: "real mode (CR0.PE = 0)", protected: "protected mode (CR0.PE = 1)", paged: "protected mode with paging", long: "long mode (EFER.LME and paging)" })[m],
    setCpuid2: (n) => `The VMM gave this vCPU ${n} CPUID leaves: the host's, with this vCPU's APIC ID filled in.`,
    interrupt: (v) => `The VMM injected external interrupt vector ${v}: the PIC's answer to the CPU's acknowledge cycle. KVM delivers it on the next entry.`,
    getMpState: "The VMM read the vCPU's multiprocessing state (the value is not recorded).",
    setMpState: (s) => `The VMM set the vCPU's multiprocessing state to ${s}.`,
    statsFd: (fd) => `The VMM opened the vCPU's binary statistics as fd ${fd}; the main thread samples it to count exits KVM handled itself.`,
    guestDebug: (c, en, step) => `The VMM set guest debugging to ${c}: ${en ? "enabled" : "disabled"}${step ? ", single-stepping" : ""}.`,
    unknown: (name, args) => `${name}: an ioctl this version of the web app does not know${args === "" ? "" : ` (arguments ${args})`}.`,
  },
  failed: (err) => ` It failed with ${err}.`,
};

const JA: Phrases = {
  ioHeadline: (dir, port) => `KVM_EXIT_IO、${dir.toUpperCase()}、ポート ${port}`,
  mmioHeadline: (w, addr, len) => `KVM_EXIT_MMIO、${w ? "書き込み" : "読み出し"}、${addr}（${len} バイト）`,
  widerAccess: (size) => `（${size} バイトのアクセスなので、ISA バスと同じく続く ${size - 1} 個のポートにも届きます）`,
  stringIo: (count, size) => `ストリング I/O（rep ins/outs）: ${size} バイトのアクセス ${count} 回分を 1 回の exit でまとめて処理しました。`,
  truncated: (total, kept) => `レコードには ${total} バイトのうち先頭 ${kept} バイトだけが残っています。`,
  uartOut: (reg, value, detail) => `ゲストが COM1 の${JA.uartRegName(reg)}に ${value} を書き込みました。${detail}`,
  uartIn: (reg, value, detail) => `ゲストが COM1 の${JA.uartRegName(reg)}を読み、UART モデルは ${value} を返しました。${detail}`,
  uartRegName: (reg) => ({
    RBR: "受信バッファ（RBR）", THR: "送信保持レジスタ（THR）", DLL: "分周ラッチ下位バイト（DLL）",
    IER: "割り込み許可レジスタ（IER）", DLM: "分周ラッチ上位バイト（DLM）", IIR: "割り込み識別レジスタ（IIR）",
    FCR: "FIFO 制御レジスタ（FCR）", LCR: "ライン制御レジスタ（LCR）", MCR: "モデム制御レジスタ（MCR）",
    LSR: "ライン状態レジスタ（LSR）", MSR: "モデム状態レジスタ（MSR）", SCR: "スクラッチレジスタ（SCR）",
    past: "レジスタの範囲外のポート",
  })[reg],
  uartThrDetail: "送信器が埋まることはないので、UART モデルはそのままコンソールへ出力しました。",
  uartDllDetail: "LCR の DLAB が立っているため、ここはボーレートの分周値です。モデルは値を保持するだけです。",
  uartLcrDetail: (dlab, bits) => dlab
    ? `DLAB が立ったので、ポート 0x3f8/0x3f9 はボーレート分周値のレジスタになります（データ ${bits} ビット）。`
    : `DLAB が下りたので、ポート 0x3f8 はデータレジスタに戻ります（データ ${bits} ビット）。`,
  uartMcrDetail: (loop) => loop ? "ループバックが有効です。送信したデータが自分の受信側に戻ってきます。" : "ループバックは無効です。",
  uartLsrDetail: (dr, idle, oe) =>
    `${dr ? "受信済みのバイトがあります（DR=1）" : "受信済みのバイトはありません（DR=0）"}${idle ? "。送信器は空です（THRE、TEMT）" : ""}${oe ? "。オーバーランも記録されています" : ""}。ポーリングするゲストは、必要なビットが立つまでこれを読み続けます。`,
  uartRbrDetail: (empty) => empty ? "コンソールからの入力がまだないので、モデルは 0 を返します。" : "コンソールで入力された次の 1 バイトです。",
  uartIirDetail: "このモデルは割り込みを上げないので、ビット 0 は常に「保留中の割り込みなし」を示します。",
  uartMsrDetail: "端末が接続されているように見せています（CTS、DSR、DCD）。ループバック中はモデム出力がそのまま返ります。",
  uartScrDetail: "スクラッチレジスタは 1 バイトを保持するだけで、ドライバは UART の有無を確かめるのに使います。",
  uartIerDetail: "モデルは値を保持しますが、ポーリング専用なので割り込みは発生しません。",
  uartFcrDetail: "FIFO の有効・無効を切り替える（その際 FIFO は空になる）か、受信 FIFO をクリアします。",
  uartReadOnlyWrite: "このレジスタは読み出し専用なので、書き込みは何の効果もありません。",
  picName: (slave) => slave ? "スレーブ 8259A PIC" : "マスター 8259A PIC",
  picIcw1: (chip, v, icw4, single) => `ゲストが${chip} のコマンドポートに ${v} を書き込みました。ICW1 で、初期化シーケンスの開始です（${icw4 ? "ICW4 あり、" : ""}${single ? "単独構成" : "カスケード構成"}）。続くデータポートへの書き込みが ICW2（ベクタの基点）以降になります。`,
  picOcw2: (chip, v, eoi, level) => eoi === "nonspecific"
    ? `ゲストが${chip} のコマンドポートに ${v} を書き込みました。非特定 EOI です。割り込みハンドラの処理が終わったので、処理中の最上位 IRQ が解除され、それより低い優先度の割り込みも再び届くようになります。`
    : eoi === "specific"
      ? `ゲストが${chip} のコマンドポートに ${v} を書き込みました。IR${level} に対する特定 EOI です。`
      : `ゲストが${chip} のコマンドポートに ${v} を書き込みました。OCW2（優先度の回転や EOI の制御）です。`,
  picOcw3: (chip, v) => `ゲストが${chip} のコマンドポートに ${v} を書き込みました。OCW3 で、次にコマンドポートを読んだときに返すレジスタ（IRR か ISR）、ポールモード、特殊マスクモードを選びます。`,
  picData: (chip, v) => `ゲストが${chip} のデータポートに ${v} を書き込みました。初期化中なら ICW2〜ICW4（ベクタの基点、カスケード接続、動作モード）、初期化後なら割り込みマスク（IMR）で、ビットが 1 の IRQ はマスクされます。`,
  picReadCommand: (chip, v) => `ゲストが${chip} のコマンドポートを読みました。値は ${v} で、OCW3 で最後に選ばれた要求レジスタ（IRR）か処理中レジスタ（ISR）の内容です。`,
  picReadData: (chip, v) => `ゲストが${chip} の割り込みマスク（IMR）を読みました。値は ${v} です。`,
  pitControl: (v, counter, access, mode, bcd) => counter === "readback"
    ? `ゲストが 8254 PIT の制御ポートに ${v} を書き込みました。リードバックコマンドで、次の読み出しのためにカウント値や状態をラッチします。`
    : `ゲストが 8254 PIT の制御ポートに ${v} を書き込みました。カウンタ ${counter}、${access}、モード ${mode}${mode === 2 ? "（レートジェネレータ: 周期的なティック）" : mode === 3 ? "（方形波）" : mode === 0 ? "（ターミナルカウントで割り込み: ワンショット）" : ""}、${bcd ? "BCD" : "2 進"}カウントの設定です。`,
  pitAccess: (a) => ["カウンタラッチコマンド", "下位バイトのみ", "上位バイトのみ", "下位バイト→上位バイトの順"][a] ?? "",
  pitCounterWrite: (c, v) => `ゲストが PIT のカウンタ ${c} に ${v} を書き込みました。リロード値の 1 バイト分です。${c === 0 ? "カウント値がそろうと、メインスレッドのタイマーがその周期（1,193,182 Hz ÷ カウント値）で IRQ 0 を発生させます。" : c === 2 ? "カウンタ 2 は PC のスピーカーを鳴らすもので、ポート B でゲートされます。" : "PC では、カウンタ 1 は DRAM リフレッシュの周期を作っていました。"}`,
  pitCounterRead: (c, v) => `ゲストが PIT のカウンタ ${c} を読みました。値は ${v} で、現在の（またはラッチされた）カウント値の 1 バイトです。`,
  pitControlRead: (v) => `ゲストが PIT の制御ポートを読みました。このポートに読み出し経路はなく、バスが浮いているので VMM は ${v} を返しました。`,
  portBWrite: (v, gate, spk) => `ゲストがシステム制御ポート B に ${v} を書き込みました。PIT カウンタ 2 のゲートは${gate ? "オン" : "オフ"}、スピーカーは${spk ? "駆動中" : "オフ"}です。`,
  portBRead: (v, out2) => `ゲストがシステム制御ポート B を読みました。値は ${v} で、カウンタ 2 の出力（ビット 5）は${out2 ? " High" : " Low"} です。`,
  postWrite: (v) => `ゲストがポート 0x80 に POST コード ${v} を書き込みました。BIOS が進行状況を知らせるポートです。このモデルは値を無視します。OS は短い I/O ウェイトとしてもこの書き込みを使います。`,
  postRead: (v) => `ゲストが POST ポート 0x80 を読みました。バスを駆動するものがないので、値は ${v} です。`,
  debugconWrite: (v, nl) => nl
    ? `ゲストがデバッグコンソール（ポート 0xe9）に ${v} を書き込みました。これで行が終わり、debugcon モデルがその行をタイムライン上のマーカーにします。`
    : `ゲストがデバッグコンソール（ポート 0xe9）に ${v} を書き込みました。debugcon モデルは現在の行に追加し、次の改行でその行をタイムライン上のマーカーにします。`,
  debugconRead: (v) => `ゲストがデバッグコンソールのポートを読みました。値は ${v} で、port e9 コンソールが存在することをゲストに知らせる値です。`,
  debugExitWrite: (v, status) => `ゲストが isa-debug-exit（ポート 0xf4）に ${v} を書き込みました。実行終了の要求で、VMM は終了ステータス (${v} << 1) | 1 = ${status} で終わります。`,
  debugExitRead: (v) => `ゲストが isa-debug-exit（ポート 0xf4）を読みました。返る値は ${v} で、意味があるのは書き込みだけです。`,
  unassignedWrite: (port, v) => `ゲストがポート ${port} に ${v} を書き込みましたが、そこにデバイスはありません。ポートバスは書き込みを捨てます。`,
  unassignedRead: (port, v) => `ゲストがポート ${port} を読みましたが、そこにデバイスはありません。VMM は浮いた ISA データバスと同じ ${v} を返しました。`,
  teachingId: (v) => `ゲストが教材デバイスの ID レジスタを読みました。値は ${v} で、メモリ上の並びでは "KVMS" の 4 バイトです。このページには RAM がないため、KVM は VMM に処理を任せました。`,
  teachingScratchRead: (v) => `ゲストが教材デバイスの SCRATCH レジスタを読みました。値は ${v} で、（どの vCPU であれ）最後に書き込まれた値です。`,
  teachingScratchWrite: (v) => `ゲストが教材デバイスの SCRATCH レジスタに ${v} を格納しました。このレジスタは全 vCPU で共有されます。`,
  teachingCounter: (n) => `ゲストが教材デバイスの COUNTER を読みました。値は ${n} で、今回を含めたこれまでの読み出し回数です。`,
  teachingDoorbell: (n) => `ゲストが教材デバイスの DOORBELL を ${n} で鳴らしました。デバイスはタイムラインに "doorbell ${n}" というマーカーを記録しました。`,
  teachingNoRegister: (w, off, len) => `ゲストが教材デバイスのオフセット ${off} で ${len} バイトの${w ? "書き込み" : "読み出し"}を行いましたが、このアクセスに応えるレジスタはありません（応えるのは ID、SCRATCH、COUNTER、DOORBELL への境界の揃った 4 バイトアクセスだけです）。${w ? "書き込みは無視されます" : "読み出し値は 0 です"}。`,
  mmioUnassignedRead: (addr, v) => `ゲストが ${addr} を読みましたが、そこには RAM もデバイスもないので、VMM は ${v} を返しました。`,
  mmioUnassignedWrite: (addr, v) => `ゲストが ${addr} に ${v} を書き込みましたが、そこには RAM もデバイスもないので、書き込みは捨てられます。`,
  hlt: (ifFlag) => ifFlag
    ? "ゲストは割り込みを待つため、割り込み許可（IF=1）の状態で HLT を実行しました。割り込みコントローラがユーザー空間にあるので、vCPU スレッドは PIC から割り込みが来るまで VMM の中で眠ります（PIC につながっているのは vCPU 0 だけです）。"
    : "ゲストは割り込み禁止（IF=0）の状態で HLT を実行しました。NMI か INIT 以外に起こす手段がないので、この vCPU はこのまま停止します。全 vCPU がこの状態になると実行は終わります。",
  irqWindow: "PIC に割り込みが待っているのにゲストが受け取れない状態だったので、VMM は request_interrupt_window を立てていました。いまゲストが受け取れる状態（IF=1、割り込みシャドウなし）になったので、ループは次の KVM_RUN の前に KVM_INTERRUPT でその割り込みを注入します。",
  intr: "ゲストの実行中に vCPU スレッドへシグナルが届きました。メインスレッドが（タイマー割り込みの配送、一時停止、停止のために）この vCPU をキックしたので、ゲスト自身の理由で exit する前に KVM_RUN が戻りました。",
  shutdown: "ゲストがトリプルフォルトを起こしました。ダブルフォルトの配送中にさらに例外が起きた状態です。実機の PC ならリセットされるところで、KVM は KVM_EXIT_SHUTDOWN を返し、kvmscope の VMM は実行を終えます。",
  internal: (name, insn, data) => `KVM が処理を続けられなくなりました: ${name}。${insn === null ? "" : `RIP の命令は ${insn} のバイト列で始まります。`}${data === "" ? "" : `internal.data: ${data}。`}VMM は実行を終えます。`,
  internalSub: (s) => ({ 1: "命令エミュレータがエミュレートできない命令に出会いました", 2: "例外の配送中に別の例外が起きました", 3: "イベントの配送中に VM exit が起きました", 4: "KVM にハンドラのない exit 理由がハードウェアから返されました" } as Record<number, string>)[s] ?? `サブエラー ${s}`,
  failEntry: (reason, cpu) => `ホスト CPU ${cpu} で、CPU がゲストへの VM エントリを拒否しました（hardware_entry_failure_reason = ${reason}）。現在のモードに対して不正なゲスト状態があります。VMM は実行を終えます。`,
  systemEvent: (name, data) => `ゲストがプラットフォームに ${name} を要求しました（data ${data}）。VMM は実行を終えます。`,
  debug: (exc, pc) => `${pc} でデバッグイベント（例外 ${exc}）が発生しました。kvmscope の VMM はデバッガを持たないので、実行を終えます。`,
  exception: (v, code) => `ゲストが CPU 例外 ${v}（エラーコード ${code}）を起こし、KVM がそれをユーザー空間に渡しました。kvmscope の VMM には対応するハンドラがないので、実行を終えます。`,
  hypercall: (nr) => `ゲストがハイパーコール ${nr} を発行し、KVM がそれを VMM に渡しました。kvmscope の VMM はハイパーコールを扱わないので、実行を終えます。`,
  unknown: (hw) => `KVM が生の番号でしか伝えられない理由でハードウェアが exit しました: ${hw}。VMM は実行を終えます。`,
  unhandled: (name) => `${name} は kvmscope の VMM にハンドラのない exit 理由です。黙って読み飛ばさず、実行を終えてその旨を伝えます。`,
  marker: (thread, text) => `${thread} のマーカーです。ゲストがデバッグコンソール（ポート 0xe9）に出力した 1 行、または VMM が付けた注記で、内容は次のとおりです: ${text}`,
  stats: (vcpu, n) => `KVM_GET_STATS_FD で得た fd から読んだ、vCPU ${vcpu} の KVM 統計（${n} 個のカウンタ）のサンプルです。VMM を起こさずに KVM が処理した exit も含め、すべての VM exit を数えています。`,
  lost: (thread, count) => `${thread} のトレースリングが満杯になり、ここで ${count} 件のレコードが失われました。このレコードはその記録です。`,
  ioctl: {
    open: (fd) => `VMM が /dev/kvm を開き、fd ${fd} を得ました。以降のすべての KVM 呼び出しの起点になるシステム fd です。`,
    close: (fd) => `VMM が fd ${fd}（vCPU、VM、統計、または /dev/kvm の fd）を閉じました。`,
    apiVersion: (ret) => `VMM が KVM API のバージョンを問い合わせ、KVM は ${ret} と答えました。${ret === 12 ? "唯一の安定版なので、基本的な ioctl はすべて使えます。" : "12 以外は互換性のないカーネルです。"}`,
    checkExtension: (cap, ret) => `VMM が ${cap} を使えるかを問い合わせ、KVM は ${ret} と答えました${ret === 0 ? "（使えません）。" : "（使えます。上限値などの数で答える機能もあります）。"}`,
    mmapSize: (ret) => `VMM が各 vCPU fd から mmap すべき大きさを問い合わせました。答えは ${ret} バイト（${ret / 4096} ページ）で、kvm_run 構造体と、ポート I/O のデータが通るページなど、その後に続くページの分です。`,
    supportedCpuid: (max) => `VMM が、このホストと KVM がゲストに提供できる CPUID リーフを問い合わせました（最大 ${max} エントリ分の領域）。`,
    createVm: (type, fd) => `VMM が KVM に空の仮想マシンを作らせ（type ${type}）、VM fd ${fd} を得ました。この時点では vCPU もメモリもありません。`,
    memoryRegion: (slot, gpa, end, size) => `VMM が自分のメモリ ${size} を、ゲスト物理アドレス ${gpa}〜${end} としてゲストに与えました（メモリスロット ${slot}）。この範囲へのアクセスはそのままの速度で動き、範囲外へのアクセスは MMIO として exit します。`,
    tssAddr: (addr) => `Intel VMX がリアルモードのコードを動かすのに必要な TSS 用に、ゲスト物理アドレス ${addr} から 3 ページを予約しました。`,
    identityMap: (addr) => `ゲストがページングなしで動く間に VMX が使う恒等ページテーブル用に、ゲスト物理アドレス ${addr} の 1 ページを予約しました。`,
    createIrqchip: "VMM が割り込みコントローラ（PIC、IOAPIC、ローカル APIC）をカーネル内に移しました。それらのポートはもうユーザー空間へ exit しません。",
    createPit2: (flags) => `VMM がカーネル内に 8254 タイマーを作りました（flags ${flags}${(flags & 1) !== 0 ? "、KVM_PIT_SPEAKER_DUMMY：ポート 0x61 も KVM の中で応答します" : ""}）。VMM を起こさずにティックします。`,
    irqLine: (irq, level) => `VMM がカーネル内割り込みコントローラの割り込みライン ${irq} を ${level ? "High" : "Low"} にしました。`,
    createVcpu: (id, fd) => `このスレッドが VM に vCPU ${id} を追加し、KVM は vCPU fd ${fd} を返しました。スレッドはこの fd を mmap して kvm_run ページを得ます。`,
    run: "vCPU スレッドが KVM_RUN でゲストに入りました。",
    runInterrupted: "KVM_RUN はゲストに入らずに戻りました。immediate_exit が立っていたか、シグナルが保留中でした（割り込みの配送、一時停止・ステップ・停止のいずれかのため、メインスレッドがこの vCPU をキックしていました）。exit は起きていないので、ループは制御ワードを確認してもう一周します。",
    getRegs: "VMM が汎用レジスタ、RIP、RFLAGS を読みました（値は記録されていません）。",
    setRegs: (rip) => `VMM が汎用レジスタを書き込みました。RIP = ${rip}（ゲストイメージを読み込んだ位置）で、残りは 0 です。`,
    getSregs: "VMM がセグメント・制御・ディスクリプタテーブルの各レジスタを読みました（値は記録されていません）。",
    setSregs: (cr0, efer, mode) => `VMM がセグメント・制御レジスタを書き込みました。CR0 = ${cr0}、EFER = ${efer} なので、ゲストは${mode}で始まります。`,
    modeName: (m) => ({ real: "リアルモード（CR0.PE = 0）", protected: "プロテクトモード（CR0.PE = 1）", paged: "ページング有効のプロテクトモード", long: "ロングモード（EFER.LME とページング）" })[m],
    setCpuid2: (n) => `VMM がこの vCPU に ${n} 個の CPUID リーフを設定しました。ホストの値に、この vCPU の APIC ID を書き込んだものです。`,
    interrupt: (v) => `VMM が外部割り込みベクタ ${v} を注入しました。CPU の割り込み応答サイクルに対する PIC の答えです。KVM は次のエントリ時にこれを配送します。`,
    getMpState: "VMM が vCPU のマルチプロセッサ状態を読みました（値は記録されていません）。",
    setMpState: (s) => `VMM が vCPU のマルチプロセッサ状態を ${s} にしました。`,
    statsFd: (fd) => `VMM が vCPU のバイナリ統計を fd ${fd} として開きました。メインスレッドがこれを定期的に読み、KVM が自分で処理した exit を数えます。`,
    guestDebug: (c, en, step) => `VMM がゲストデバッグを ${c} に設定しました（${en ? "有効" : "無効"}${step ? "、シングルステップ" : ""}）。`,
    unknown: (name, args) => `${name}：このバージョンの Web アプリが知らない ioctl です${args === "" ? "" : `（引数 ${args}）`}。`,
  },
  failed: (err) => `${err} で失敗しました。`,
};

const PHRASES: Readonly<Record<Lang, Phrases>> = { en: EN, ja: JA };

// ---------------------------------------------------------------------------------------------
/** Ioctl arguments that are addresses, sizes or bit masks: shown in hex. */
const HEX_ARG_KEYS = new Set(["rip", "addr", "guestPhysAddr", "memorySize", "cr0", "efer", "control"]);

/** One ioctl argument as the pages show it: "cap=KVM_CAP_MAX_VCPUS (66)", "rip=0x7c00", "vcpuId=0". */
export function formatIoctlArg(key: string, value: number): string {
  if (key === "cap") return `cap=${KVM_CAP_NAMES[value] ?? "KVM_CAP"} (${value})`;
  return `${key}=${HEX_ARG_KEYS.has(key) && Number.isInteger(value) ? hex(value) : String(value)}`;
}

/** An ioctl's arguments, `sep` between them. */
export function formatIoctlArgs(args: Readonly<Record<string, number>>, sep = " "): string {
  return Object.entries(args).map(([k, v]) => formatIoctlArg(k, v)).join(sep);
}

/** KVM_MP_STATE_* by value (<linux/kvm.h>). */
export const KVM_MP_STATE_NAMES: readonly string[] = [
  "KVM_MP_STATE_RUNNABLE", "KVM_MP_STATE_UNINITIALIZED", "KVM_MP_STATE_INIT_RECEIVED", "KVM_MP_STATE_HALTED",
  "KVM_MP_STATE_SIPI_RECEIVED", "KVM_MP_STATE_STOPPED", "KVM_MP_STATE_CHECK_STOP", "KVM_MP_STATE_OPERATING",
  "KVM_MP_STATE_LOAD", "KVM_MP_STATE_AP_RESET_HOLD", "KVM_MP_STATE_SUSPENDED",
];

// ---------------------------------------------------------------------------------------------
// The explanation

export interface Explanation {
  /** Short and technical, e.g. "KVM_EXIT_IO, OUT, port 0x3f8". */
  headline: string;
  /** What happened, in plain words. */
  sentence: string;
  /** The KVM API document's section, or null (markers, lost records: not KVM's). */
  docUrl: string | null;
}

export interface ExplainContext {
  /** LCR.DLAB as the guest last set it, when the caller knows: ports 0x3f8/0x3f9 are then the divisor latch. */
  uartDlab?: boolean;
}

/**
 * A marker's text for the page: the notes the VMM itself writes, in the reader's language (the
 * release on the main thread, a breakpoint's pause); anything else (a line the guest printed) as written.
 */
export function markerText(thread: string, text: string, lang: Lang): string {
  const release = thread === "main" ? /^all (\d+) vCPU thread\(s\) created their vCPU; releasing them \(qemu_system_ready\)$/.exec(text) : null;
  if (release !== null) {
    const n = Number(release[1]);
    return lang === "ja"
      ? `${n} 個の vCPU スレッドすべてが vCPU を作成した。スレッドを解放する (qemu_system_ready)`
      : `${n === 1 ? "the vCPU thread has" : `all ${n} vCPU threads have`} created ${n === 1 ? "its vCPU" : "their vCPUs"}; releasing ${n === 1 ? "it" : "them"} (qemu_system_ready)`;
  }
  const bp = thread !== "main" ? /^breakpoint: paused after (KVM_EXIT_\w+) on vCPU (\d+)$/.exec(text) : null;
  if (bp !== null && lang === "ja") return `ブレークポイント: vCPU ${bp[2]} の ${bp[1]} の後で一時停止`;
  return text;
}

export function explainRecord(record: TraceRecord, lang: Lang, ctx: ExplainContext = {}): Explanation {
  const p = PHRASES[lang];
  switch (record.type) {
    case "exit":
      return explainExit(record, p, lang, ctx);
    case "ioctl":
      return explainIoctl(record, p);
    case "marker":
      return { headline: lang === "ja" ? "マーカー" : "marker", sentence: p.marker(record.thread, markerText(record.thread, record.text, lang)), docUrl: null };
    case "stats":
      return { headline: "KVM_GET_STATS_FD", sentence: p.stats(record.vcpu, Object.keys(record.counters).length), docUrl: ioctlDocUrl("KVM_GET_STATS_FD") };
    case "lost":
      return { headline: lang === "ja" ? "欠落レコード" : "lost records", sentence: p.lost(record.thread, record.count), docUrl: null };
    case "unknown":
      return {
        headline: lang === "ja" ? `不明な種類のレコード (${record.kind})` : `unknown record kind ${record.kind}`,
        sentence: lang === "ja"
          ? `このバージョンの kvmscope が知らない種類 ${record.kind} のレコードです。新しいバージョンが書いたもので、時刻とスレッドだけを読めます。`
          : `A record of kind ${record.kind}, which this version of kvmscope does not know: a newer version wrote it. Only its time and thread can be read.`,
        docUrl: null,
      };
  }
}

function explainExit(rec: ExitRecord, p: Phrases, lang: Lang, ctx: ExplainContext): Explanation {
  const docUrl = exitDocUrl(rec.code);
  switch (rec.code) {
    case KvmExit.IO:
      if (rec.io) return { headline: p.ioHeadline(rec.io.direction, hex(rec.io.port)), sentence: explainIo(rec.io, p, lang, ctx), docUrl };
      break;
    case KvmExit.MMIO:
      if (rec.mmio) return { headline: p.mmioHeadline(rec.mmio.isWrite, hex(rec.mmio.addr), rec.mmio.len), sentence: explainMmio(rec.mmio, p, lang), docUrl };
      break;
    case KvmExit.HLT:
      return { headline: rec.reason, sentence: p.hlt(rec.ifFlag), docUrl };
    case KvmExit.IRQ_WINDOW_OPEN:
      return { headline: rec.reason, sentence: p.irqWindow, docUrl };
    case KvmExit.INTR:
      return { headline: rec.reason, sentence: p.intr, docUrl };
    case KvmExit.SHUTDOWN:
      return { headline: rec.reason, sentence: p.shutdown, docUrl };
    case KvmExit.INTERNAL_ERROR:
      if (rec.internal) {
        const i = rec.internal;
        return {
          headline: `${rec.reason}, ${i.suberrorName}`,
          sentence: p.internal(p.internalSub(i.suberror), i.insn.length > 0 ? bytesHex(i.insn) : null, i.data.map(hex).join(", ")),
          docUrl,
        };
      }
      break;
    case KvmExit.FAIL_ENTRY:
      if (rec.failEntry) return { headline: rec.reason, sentence: p.failEntry(hex(rec.failEntry.reason), rec.failEntry.cpu), docUrl };
      break;
    case KvmExit.SYSTEM_EVENT:
      if (rec.systemEvent) {
        return { headline: `${rec.reason}, ${rec.systemEvent.typeName}`, sentence: p.systemEvent(rec.systemEvent.typeName, hex(rec.systemEvent.data)), docUrl };
      }
      break;
    case KvmExit.DEBUG:
      if (rec.debug) return { headline: rec.reason, sentence: p.debug(rec.debug.exception, hex(rec.debug.pc)), docUrl };
      break;
    case KvmExit.EXCEPTION:
      if (rec.exception) return { headline: rec.reason, sentence: p.exception(rec.exception.exception, hex(rec.exception.errorCode)), docUrl };
      break;
    case KvmExit.HYPERCALL:
      if (rec.hypercall) return { headline: rec.reason, sentence: p.hypercall(rec.hypercall.nr), docUrl };
      break;
    case KvmExit.UNKNOWN:
      if (rec.unknown) return { headline: rec.reason, sentence: p.unknown(hex(rec.unknown.hardwareExitReason)), docUrl };
      break;
    default:
      break;
  }
  return { headline: rec.reason, sentence: p.unhandled(rec.reason), docUrl };
}

function explainIo(io: IoPayload, p: Phrases, lang: Lang, ctx: ExplainContext): string {
  const out = io.direction === "out";
  const first = io.data.slice(0, io.size);
  const v = first[0] ?? 0;
  // Data the guest sends or receives as text (UART data register, debug console) is shown as
  // characters; register values as numbers.
  const asText = io.size === 1 ? (io.count > 1 ? formatBytes(io.data, lang) : formatByte(v, lang)) : hex(littleEndian(first));
  const asNumber = io.count > 1 ? io.data.map(hexByte).join(" ") : io.size === 1 ? hexByte(v) : hex(littleEndian(first));
  let prefix = "";
  let suffix = "";
  if (io.count > 1) {
    prefix = p.stringIo(io.count, io.size);
    if (io.truncated === true && io.dataLen !== undefined) suffix = p.truncated(io.dataLen, io.data.length);
  }
  const where = rangeOfPort(io.port);
  // Byte-wide devices take a wider access as consecutive ports.
  const wide = where !== null && io.size > 1 && where.range.id !== "debugExit" ? p.widerAccess(io.size) : "";
  let shown = asNumber;
  let s: string;
  if (where === null) {
    s = out ? p.unassignedWrite(hex(io.port), shown) : p.unassignedRead(hex(io.port), shown);
  } else {
    const { range, offset } = where;
    switch (range.id) {
      case "uart":
        s = explainUart(offset, out, v, offset === UART_REG.THR && ctx.uartDlab !== true ? asText : asNumber, p, ctx);
        break;
      case "picMaster":
      case "picSlave": {
        const chip = p.picName(range.id === "picSlave");
        if (offset === 0) {
          if (!out) s = p.picReadCommand(chip, shown);
          else if ((v & 0x10) !== 0) s = p.picIcw1(chip, shown, (v & 0x01) !== 0, (v & 0x02) !== 0);
          else if ((v & 0x08) !== 0) s = p.picOcw3(chip, shown);
          else {
            const kind = (v >> 5) & 7;
            s = p.picOcw2(chip, shown, kind === 1 ? "nonspecific" : kind === 3 ? "specific" : "other", v & 7);
          }
        } else {
          s = out ? p.picData(chip, shown) : p.picReadData(chip, shown);
        }
        break;
      }
      case "pit":
        if (offset === 3) {
          if (!out) s = p.pitControlRead(shown);
          else {
            const sc = (v >> 6) & 3;
            // Modes 6 and 7 are modes 2 and 3 with a don't-care top bit.
            const mode = (v >> 1) & 7;
            s = p.pitControl(shown, sc === 3 ? "readback" : sc, p.pitAccess((v >> 4) & 3), mode >= 6 ? mode - 4 : mode, (v & 1) !== 0);
          }
        } else {
          s = out ? p.pitCounterWrite(offset, shown) : p.pitCounterRead(offset, shown);
        }
        break;
      case "portB":
        s = out ? p.portBWrite(shown, (v & 1) !== 0, (v & 2) !== 0) : p.portBRead(shown, (v & 0x20) !== 0);
        break;
      case "post":
        s = out ? p.postWrite(shown) : p.postRead(shown);
        break;
      case "debugcon":
        shown = out ? asText : asNumber;
        s = out ? p.debugconWrite(shown, io.data.includes(0x0a)) : p.debugconRead(shown);
        break;
      case "debugExit": {
        const written = littleEndian(first);
        // QEMU's isa-debug-exit: status (v << 1) | 1, computed on the whole written value.
        s = out ? p.debugExitWrite(written, written * 2 + 1) : p.debugExitRead(shown);
        break;
      }
      case "teaching": // not on the port bus
        s = out ? p.unassignedWrite(hex(io.port), shown) : p.unassignedRead(hex(io.port), shown);
        break;
    }
  }
  return prefix + s + wide + suffix;
}

function explainUart(offset: number, out: boolean, v: number, shown: string, p: Phrases, ctx: ExplainContext): string {
  const dlab = ctx.uartDlab === true;
  switch (offset) {
    case UART_REG.THR:
      if (dlab) return out ? p.uartOut("DLL", shown, p.uartDllDetail) : p.uartIn("DLL", shown, p.uartDllDetail);
      return out ? p.uartOut("THR", shown, p.uartThrDetail) : p.uartIn("RBR", shown, p.uartRbrDetail(v === 0));
    case UART_REG.IER:
      if (dlab) return out ? p.uartOut("DLM", shown, p.uartDllDetail) : p.uartIn("DLM", shown, p.uartDllDetail);
      return out ? p.uartOut("IER", shown, p.uartIerDetail) : p.uartIn("IER", shown, p.uartIerDetail);
    case UART_REG.IIR:
      return out ? p.uartOut("FCR", shown, p.uartFcrDetail) : p.uartIn("IIR", shown, p.uartIirDetail);
    case UART_REG.LCR: {
      const detail = p.uartLcrDetail((v & LCR_DLAB) !== 0, 5 + (v & 3));
      return out ? p.uartOut("LCR", shown, detail) : p.uartIn("LCR", shown, detail);
    }
    case UART_REG.MCR: {
      const detail = p.uartMcrDetail((v & MCR_LOOPBACK) !== 0);
      return out ? p.uartOut("MCR", shown, detail) : p.uartIn("MCR", shown, detail);
    }
    case UART_REG.LSR:
      return out ? p.uartOut("LSR", shown, p.uartReadOnlyWrite) : p.uartIn("LSR", shown, p.uartLsrDetail((v & 1) !== 0, (v & 0x60) === 0x60, (v & 2) !== 0));
    case UART_REG.MSR:
      return out ? p.uartOut("MSR", shown, p.uartReadOnlyWrite) : p.uartIn("MSR", shown, p.uartMsrDetail);
    default:
      return out ? p.uartOut("SCR", shown, p.uartScrDetail) : p.uartIn("SCR", shown, p.uartScrDetail);
  }
}

function explainMmio(m: MmioPayload, p: Phrases, lang: Lang): string {
  const value = m.len <= 4 ? hex(littleEndian(m.data)) : formatBytes(m.data, lang);
  const where = rangeOfAddress(m.addr);
  if (where?.range.id !== "teaching") return m.isWrite ? p.mmioUnassignedWrite(hex(m.addr), value) : p.mmioUnassignedRead(hex(m.addr), value);
  const { offset } = where;
  const n = littleEndian(m.data);
  if (m.len === 4) {
    if (!m.isWrite && offset === TEACHING_REGS.ID) return p.teachingId(value);
    if (offset === TEACHING_REGS.SCRATCH) return m.isWrite ? p.teachingScratchWrite(value) : p.teachingScratchRead(value);
    if (!m.isWrite && offset === TEACHING_REGS.COUNTER) return p.teachingCounter(n);
    if (m.isWrite && offset === TEACHING_REGS.DOORBELL) return p.teachingDoorbell(n);
  }
  return p.teachingNoRegister(m.isWrite, hex(offset), m.len);
}

function explainIoctl(rec: IoctlRecord, p: Phrases): Explanation {
  const q = p.ioctl;
  const a = rec.args;
  const n = (k: string): number => a[k] ?? 0;
  const failedRun = rec.name === "KVM_RUN" && rec.ret < 0;
  let s: string;
  switch (rec.name) {
    case "open": s = q.open(rec.ret); break;
    case "close": s = q.close(rec.fd); break;
    case "KVM_GET_API_VERSION": s = q.apiVersion(rec.ret); break;
    case "KVM_CHECK_EXTENSION": {
      const cap = n("cap");
      s = q.checkExtension(`${KVM_CAP_NAMES[cap] ?? "KVM_CAP"} (${cap})`, rec.ret);
      break;
    }
    case "KVM_GET_VCPU_MMAP_SIZE": s = q.mmapSize(rec.ret); break;
    case "KVM_GET_SUPPORTED_CPUID": s = q.supportedCpuid(n("maxEntries")); break;
    case "KVM_CREATE_VM": s = q.createVm(n("type"), rec.ret); break;
    case "KVM_SET_USER_MEMORY_REGION": {
      const gpa = n("guestPhysAddr");
      const size = n("memorySize");
      s = q.memoryRegion(n("slot"), hex(gpa), hex(gpa + Math.max(size, 1) - 1), formatSize(size));
      break;
    }
    case "KVM_SET_TSS_ADDR": s = q.tssAddr(hex(n("addr"))); break;
    case "KVM_SET_IDENTITY_MAP_ADDR": s = q.identityMap(hex(n("addr"))); break;
    case "KVM_CREATE_IRQCHIP": s = q.createIrqchip; break;
    case "KVM_CREATE_PIT2": s = q.createPit2(n("flags")); break;
    case "KVM_IRQ_LINE": s = q.irqLine(n("irq"), n("level")); break;
    case "KVM_CREATE_VCPU": s = q.createVcpu(n("vcpuId"), rec.ret); break;
    case "KVM_RUN": s = failedRun ? q.runInterrupted : q.run; break;
    case "KVM_GET_REGS": s = q.getRegs; break;
    case "KVM_SET_REGS": s = q.setRegs(hex(n("rip"))); break;
    case "KVM_GET_SREGS": s = q.getSregs; break;
    case "KVM_SET_SREGS": {
      const cr0 = n("cr0");
      const efer = n("efer");
      // CR0.PE is bit 0 and CR0.PG bit 31; EFER.LME is bit 8.
      const pg = cr0 >= 0x8000_0000;
      const mode = (efer & 0x100) !== 0 && pg ? "long" : pg ? "paged" : (cr0 & 1) !== 0 ? "protected" : "real";
      s = q.setSregs(hex(cr0), hex(efer), q.modeName(mode));
      break;
    }
    case "KVM_SET_CPUID2": s = q.setCpuid2(n("entries")); break;
    case "KVM_INTERRUPT": s = q.interrupt(`${hex(n("vector"))} (${n("vector")})`); break;
    case "KVM_GET_MP_STATE": s = q.getMpState; break;
    case "KVM_SET_MP_STATE": s = q.setMpState(KVM_MP_STATE_NAMES[n("state")] ?? String(n("state"))); break;
    case "KVM_GET_STATS_FD": s = q.statsFd(rec.ret); break;
    case "KVM_SET_GUEST_DEBUG": {
      const c = n("control");
      s = q.guestDebug(hex(c), (c & 1) !== 0, (c & 2) !== 0);
      break;
    }
    default:
      s = q.unknown(rec.name, formatIoctlArgs(a, ", "));
      break;
  }
  if (rec.errno !== 0 && !failedRun) s += p.failed(`${rec.error ?? errnoName(rec.errno) ?? "errno"} (${rec.errno})`);
  const err = rec.errno !== 0 ? ` (${rec.error ?? errnoName(rec.errno) ?? `errno ${rec.errno}`})` : "";
  return { headline: `${rec.name} → ${rec.ret}${err}`, sentence: s, docUrl: ioctlDocUrl(rec.name) };
}

function formatSize(bytes: number): string {
  if (bytes >= 1 << 30 && bytes % (1 << 30) === 0) return `${bytes / (1 << 30)} GiB`;
  if (bytes >= 1 << 20 && bytes % (1 << 20) === 0) return `${bytes / (1 << 20)} MiB`;
  if (bytes >= 1 << 10 && bytes % (1 << 10) === 0) return `${bytes / (1 << 10)} KiB`;
  return `${bytes} B`;
}

// ---------------------------------------------------------------------------------------------
// A record's fields, flattened for a definition list, and the guest registers an exit carries.

export interface RecordField {
  /** The NDJSON key path, e.g. "io.port". */
  key: string;
  value: string;
}

const HEX_KEYS = new Set(["rip", "io.port", "mmio.addr", "failEntry.reason", "debug.pc", "debug.dr6", "debug.dr7", "unknown.hardwareExitReason", "systemEvent.data", "exception.errorCode"]);
const NS_KEYS = new Set(["guestNs", "handleNs", "durNs", "ts"]);

/** Every field of the record, in the record's own key order (nested payloads as "io.port" and so on). */
export function recordFields(record: TraceRecord, lang: Lang): RecordField[] {
  const out: RecordField[] = [];
  const walk = (obj: object, prefix: string): void => {
    for (const [k, v] of Object.entries(obj)) {
      const key = prefix === "" ? k : `${prefix}.${k}`;
      if (Array.isArray(v)) {
        const nums = v as unknown[];
        const data = nums as number[];
        const value = record.type === "exit" && key === "io.data" && record.io !== undefined ? formatAccessData(data, record.io.size, lang)
          : record.type === "exit" && key === "mmio.data" && record.mmio !== undefined ? formatAccessData(data, record.mmio.len, lang)
          : key === "internal.insn" ? formatBytes(data, lang)
          : nums.map((x) => (typeof x === "number" ? hex(x) : String(x))).join(", ");
        out.push({ key, value });
      } else if (v !== null && typeof v === "object") {
        walk(v as object, key);
      } else if (typeof v === "number") {
        const arg = prefix === "args" && record.type === "ioctl" ? formatIoctlArg(k, v).slice(k.length + 1) : null;
        out.push({ key, value: HEX_KEYS.has(key) ? `${hex(v)} (${v})` : NS_KEYS.has(key) ? `${formatCount(v)} ns` : arg ?? String(v) });
      } else {
        out.push({ key, value: String(v) });
      }
    }
  };
  walk(record, "");
  return out;
}

export interface GuestRegisters {
  /** Registers the record carries, with their values. */
  known: { name: string; value: string }[];
  /** Registers the record does not carry (the VMM reads only RIP from the kvm_run page's sync regs). */
  notRecorded: string[];
}

/** The guest state an exit record carries: RIP (from the kvm_run page's sync regs) and RFLAGS.IF. */
export function guestRegisters(rec: ExitRecord): GuestRegisters {
  return {
    known: [
      { name: "RIP", value: hex(rec.rip) },
      { name: "RFLAGS.IF", value: rec.ifFlag ? "1" : "0" },
    ],
    // RFLAGS is listed although IF is known: its other bits are not.
    notRecorded: ["RAX", "RBX", "RCX", "RDX", "RSI", "RDI", "RSP", "RBP", "R8–R15", "RFLAGS", "CS", "DS", "ES", "FS", "GS", "SS", "CR0", "CR2", "CR3", "CR4", "EFER"],
  };
}
