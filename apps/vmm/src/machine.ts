// The main thread's side of one VM: qemu-kvm 0.14's main thread / iothread. It opens /dev/kvm,
// creates the VM and its memory, starts one thread per vCPU, waits until every vCPU exists,
// releases them together, and then, while they run, drains their trace rings, drives the
// userspace timer, moves console bytes, samples KVM's statistics and decides when the machine
// has finished. It never sees an exit on its way: those stay on the vCPU threads.
import { GuestMemory, Kvm, KvmError, type Vm, type CpuidEntry, monotonicNs } from "@kvmscope/kvm-binding";
import { MAIN_THREAD, STAT_NAMES, type TraceRecord } from "@kvmscope/shared";
import { allocateDeviceMemory, createDevices, type DeviceMemory, type Devices } from "./devices/index.js";
import { BOOT_ENTRY, RAM_BASE } from "./layout.js";
import { type MachineConfig, validateAgainstHost } from "./config.js";
import { PitTimer } from "./pit-timer.js";
import { RunClock } from "./run-clock.js";
import { TraceCollector } from "./trace/collector.js";
import { Tracer } from "./trace/tracer.js";
import { Attention, type Breakpoint, MachineControl, StopReason, VcpuState } from "./vcpu/control.js";
import { cpuidFor } from "./vcpu/reset.js";
import { VcpuThreads } from "./vcpu/threads.js";

/** How a run ended. `outcome` names are part of the NDJSON contract (the end object). */
export type Outcome =
  | "halted" | "debug-exit" | "shutdown" | "internal-error" | "fail-entry" | "system-event"
  | "timeout" | "exit-limit" | "stopped" | "vmm-error" | "unhandled-exit";

export interface RunResult {
  outcome: Outcome;
  /** One line a person can read: what happened, and where. */
  message: string;
  /** isa-debug-exit: the value the guest wrote. */
  debugExitValue?: number;
  /** The vCPU that ended the run, if one did. */
  vcpu?: number;
  /** Exit-specific facts for the fatal exits (suberror, RIP, instruction bytes, ...). */
  detail?: Record<string, unknown>;
  /** Wall time from open("/dev/kvm") to the last vCPU thread gone, ns. */
  durationNs: number;
  /** Records the rings had to drop (each also reported in the trace by a Lost record). */
  lostRecords: number;
  /** Console bytes dropped because the guest wrote faster than we drained. */
  droppedConsoleBytes: number;
  /** Timer ticks delivered to the userspace PIC. */
  timerTicks: number;
}

export interface MachineEvents {
  /** Records in sequence order, in batches, as they are drained (about every 5 ms). */
  onRecords?(records: TraceRecord[]): void;
  /** The same batches as the binary codec's bytes (n * RECORD_SIZE), with their decoded form. */
  onRawRecords?(bytes: Uint8Array, records: TraceRecord[]): void;
  /** Bytes the guest wrote to its serial port. */
  onConsole?(bytes: Uint8Array): void;
}

const DRAIN_MS = 5;
/** How often KVM's statistics are read; a sample is written only when a counter changed (a paused run writes none). */
const STATS_MS = 20;
/** With an in-kernel irqchip HLT never reaches us: the machine counts as halted after this long with every vCPU blocked in KVM and no exit counted. */
const KERNEL_IDLE_NS = 500e6;
const MiB = 1024 * 1024;

/** The stop value of a Timeout that the idle limit (not the time limit) asked for. */
const IDLE = 1;

/** What a run has opened, closed again by its tear-down whatever happened. */
interface Held {
  kvm?: Kvm;
  vm?: Vm;
  memory?: GuestMemory;
}

/** The built VM, as the later parts of a run need it. */
interface Built {
  vm: Vm;
  devices: Devices;
  mmapSize: number;
  supportedCpuid: CpuidEntry[];
  userIrqchip: boolean;
}

export class Machine {
  readonly control: MachineControl;
  #devices: Devices | undefined;
  #timer: PitTimer | undefined;
  #released = false;
  #finished = false;
  readonly #threads: VcpuThreads;
  readonly #clock = new RunClock();

  constructor(readonly config: MachineConfig, private readonly events: MachineEvents = {}) {
    this.control = new MachineControl(MachineControl.allocate(config.vcpus));
    this.#threads = new VcpuThreads(this.control);
    // Step mode: nothing runs until told. Set here, not when the vCPUs are released, so that a
    // resume or step that arrives while the machine is still being built is not undone.
    if (config.startPaused) this.control.pause();
  }

  /** Bytes typed into the guest's serial port; returns how many fitted in its receive queue. */
  pushConsoleInput(bytes: Uint8Array): number {
    return this.#devices?.uart.pushInput(bytes) ?? 0;
  }

  /** Pauses every vCPU before its next KVM_RUN; those inside one are kicked out of it. */
  pause(): void {
    this.control.pause();
    this.#kickAll();
  }

  resume(): void {
    this.control.resume();
  }

  /** Lets exactly `count` exits happen (all vCPUs together), then pauses again. */
  step(count = 1): void {
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`step count must be a whole number >= 1, got ${count}`);
    this.control.step(count);
  }

  /** Pauses right after the next exit that matches `when` (null: disarm). */
  setBreakpoint(when: Breakpoint | null): void {
    if (when === null) this.control.disarmBreak();
    else this.control.armBreak(when);
  }

  /** What the machine is doing: "created" before the vCPUs are released, then "running" or "paused", then "finished". */
  get status(): "created" | "running" | "paused" | "finished" {
    if (this.#finished) return "finished";
    if (!this.#released) return "created";
    const paused = (this.control.attention() & Attention.Pause) !== 0;
    if (!paused) return "running";
    for (let id = 0; id < this.config.vcpus; id++) {
      const s = this.control.state(id);
      if (s === VcpuState.Running) return "running"; // still on its way to the pause
    }
    return "paused";
  }

  /** Asks the machine to stop (Ctrl-C, a stop button): the run ends with outcome "stopped". */
  stop(): void {
    this.control.requestStop(StopReason.Stopped);
    this.#kickAll();
  }

  /**
   * Makes the whole VM, runs it to the end, tears it down. Throws only if the VM cannot be built.
   * The four parts read in the order of a VM's life: build, start the vCPU threads, supervise,
   * tear down.
   */
  async run(): Promise<RunResult> {
    const cfg = this.config;
    const control = this.control;
    const t0 = monotonicNs();
    const trace = new TraceCollector(cfg.vcpus <= 4 ? 65536 : 16384, (bytes, records) => {
      this.events.onRawRecords?.(bytes, records);
      this.events.onRecords?.(records);
    });
    const tracer = new Tracer(trace.addRing(), MAIN_THREAD, t0, control.seqCounter);
    const deviceMemory = allocateDeviceMemory();
    const userIrqchip = cfg.irqchip === "user";
    // The vCPU threads start before KVM is touched: Node's start-up of each Worker overlaps
    // building the VM, and none creates its vCPU before its turn (see vcpu/threads.ts).
    const threads = this.#threads;
    threads.spawn((id) => ({ id, t0, userIrqchip, controlSab: control.sab, ringSab: trace.addRing(), deviceMemory }), cfg.vcpus);

    // process.exit() waits for worker threads, and one sitting in KVM_RUN never returns unless
    // kicked: whatever ends the process early (an uncaught exception, an exit call) kicks first.
    const kickOnExit = (): void => {
      control.requestStop(StopReason.Stopped);
      this.#kickAll();
    };
    process.on("exit", kickOnExit);
    const held: Held = {};
    try {
      const built = this.#build(held, tracer, deviceMemory);
      // False when asked to stop while the vCPUs were being made: nothing to supervise then.
      if (await this.#startVcpus(built, tracer)) await this.#supervise(built, tracer, trace, t0);
    } finally {
      await this.#tearDown(held, trace);
      process.off("exit", kickOnExit);
      this.#finished = true;
    }
    return this.#result(t0, trace.lostRecords);
  }

  /**
   * qemu-kvm 0.14: kvm_init (qemu-kvm.c) opens /dev/kvm and checks the API version; kvm_create_vm
   * makes the VM; then guest RAM and the devices. What it opens goes into `held` as it is opened,
   * so that a failure half way closes exactly that.
   */
  #build(held: Held, tracer: Tracer, deviceMemory: DeviceMemory): Built {
    const cfg = this.config;
    const control = this.control;
    const kvm = Kvm.open({ path: cfg.kvmPath, observer: tracer.ioctl });
    held.kvm = kvm;
    const api = kvm.getApiVersion();
    if (api !== 12) throw new KvmError(`KVM API version ${api}; this VMM speaks version 12`, "KVM_GET_API_VERSION", 0);
    validateAgainstHost(cfg, {
      maxVcpus: kvm.checkExtension("KVM_CAP_MAX_VCPUS") || kvm.checkExtension("KVM_CAP_NR_VCPUS") || 4,
      syncRegs: kvm.checkExtension("KVM_CAP_SYNC_REGS"),
      immediateExit: kvm.checkExtension("KVM_CAP_IMMEDIATE_EXIT"),
      statsFd: kvm.checkExtension("KVM_CAP_BINARY_STATS_FD"),
      irqchip: kvm.checkExtension("KVM_CAP_IRQCHIP"),
    });
    const mmapSize = kvm.getVcpuMmapSize();
    const supportedCpuid = kvm.getSupportedCpuid();

    // qemu-kvm 0.14: kvm_create_vm (qemu-kvm.c), KVM_CREATE_VM.
    const vm = kvm.createVm();
    held.vm = vm;
    // Intel VMX runs real mode through a TSS and an identity page table in guest-physical
    // space; both go just below 4 GiB, far above our RAM. Harmless where unsupported.
    if (kvm.checkExtension("KVM_CAP_SET_TSS_ADDR")) vm.setTssAddr(0xfffbd000);
    if (kvm.checkExtension("KVM_CAP_SET_IDENTITY_MAP_ADDR")) vm.setIdentityMapAddr(0xfffbc000n);
    const userIrqchip = cfg.irqchip === "user";
    if (!userIrqchip) {
      // The article's kvm_irqchip_in_kernel() case: PIC, IOAPIC, LAPICs and the PIT live in KVM.
      vm.createIrqchip();
      vm.createPit2();
    }

    const memory = new GuestMemory(cfg.memMiB * MiB);
    held.memory = memory;
    memory.bytes.set(cfg.image, BOOT_ENTRY);
    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: BigInt(RAM_BASE), memorySize: BigInt(cfg.memMiB * MiB), userspaceAddr: memory.address });

    const devices = createDevices(deviceMemory, {
      marker: (text) => tracer.marker(text),
      debugExit: (value) => control.requestStop(StopReason.DebugExit, value),
      now: monotonicNs,
    }, { userIrqchip });
    this.#devices = devices;
    control.maxExits = cfg.maxExits ?? 0;
    return { vm, devices, mmapSize, supportedCpuid, userIrqchip };
  }

  /**
   * qemu-kvm 0.14: pc_cpus_init (hw/pc.c) -> kvm_init_vcpu, one vCPU at a time, each waiting for
   * `env->created`; then qemu_system_ready releases them all together.
   */
  async #startVcpus(built: Built, tracer: Tracer): Promise<boolean> {
    const threads = this.#threads;
    await threads.createInOrder(
      { vmFd: built.vm.fd, mmapSize: built.mmapSize, cpuidFor: (id) => cpuidFor(built.supportedCpuid, id) },
      (id) => tracer.marker(`vCPU ${id} created (env->created = 1)`),
    );
    if (!threads.allCreated) return false; // asked to stop while they were being made
    tracer.marker(`all ${this.config.vcpus} vCPU thread(s) created their vCPU; releasing them (qemu_system_ready)`);
    return true;
  }

  /** The main loop while the guest runs: qemu-kvm 0.14's main thread (the iothread) in kvm_main_loop. */
  async #supervise(built: Built, tracer: Tracer, trace: TraceCollector, t0: number): Promise<void> {
    const cfg = this.config;
    const control = this.control;
    const threads = this.#threads;
    const { devices, userIrqchip } = built;

    // Statistics first, so the run's kernel-side counts have a baseline before the guest runs.
    // In between, a vCPU's sample is written only when one of its counters moved: a paused or
    // halted vCPU writes nothing (each sample is a record every viewer and the store must carry).
    const lastSample = new Map<number, number[]>();
    const sampleStats = (always: boolean): void => {
      for (const v of threads.handles) {
        if (!v.stats) continue;
        const ts = v.stats.refresh() - t0;
        const values = STAT_NAMES.map((n) => v.stats?.value(n) ?? -1);
        const last = lastSample.get(v.id);
        if (!always && last !== undefined && values.every((x, i) => x === last[i])) continue;
        lastSample.set(v.id, values);
        tracer.stats(v.id, values, ts);
      }
    };
    sampleStats(true);

    if (userIrqchip) {
      this.#timer = new PitTimer(devices.pit, devices.pic, monotonicNs, () => this.#wakePicVcpu());
      this.#timer.start();
    }
    // The time limit counts the time the guest was allowed to run; the idle limit, one stretch paused.
    const clock = this.#clock;
    const limitNs = cfg.timeoutMs === undefined ? Infinity : cfg.timeoutMs * 1e6;
    const idleLimitNs = cfg.idleTimeoutMs === undefined ? Infinity : cfg.idleTimeoutMs * 1e6;

    control.releaseAll(); // qemu-kvm 0.14: qemu_system_ready = 1, broadcast qemu_system_cond
    this.#released = true;

    let idleSinceNs = 0;
    let idleExits = -1;
    let allGone = false;
    void threads.joined().then(() => { allGone = true; });
    const statsTimer = setInterval(() => {
      sampleStats(false);
      if (!userIrqchip) {
        const idle = this.#kernelIdle();
        if (idle === null) idleSinceNs = 0;
        else if (idle !== idleExits || idleSinceNs === 0) { idleExits = idle; idleSinceNs = monotonicNs(); }
        else if (monotonicNs() - idleSinceNs >= KERNEL_IDLE_NS) control.requestStop(StopReason.AllHalted);
      }
    }, STATS_MS);
    try {
      while (!allGone) {
        await new Promise((resolve) => setTimeout(resolve, DRAIN_MS));
        trace.drain();
        this.#flushConsole();
        const paused = (control.attention() & Attention.Pause) !== 0;
        clock.tick(monotonicNs(), paused);
        if (clock.activeNs >= limitNs) control.requestStop(StopReason.Timeout);
        else if (clock.pausedNs >= idleLimitNs) control.requestStop(StopReason.Timeout, IDLE);
        if (control.stopRequested()) {
          this.#kickAll();
        } else if (paused) {
          // A breakpoint or a spent step paused the machine from a vCPU thread, or pause() kicked
          // everyone: a vCPU still running is inside KVM_RUN (a guest that does not exit) or missed
          // its kick; kick it again, every tick, until it has stopped.
          for (const v of threads.handles) if (control.state(v.id) === VcpuState.Running) v.kicker?.kick();
        } else if (userIrqchip && this.#allHaltedForGood()) {
          control.requestStop(StopReason.AllHalted);
          this.#kickAll();
        }
      }
    } finally {
      // Timers hold this run's rings and fds: none may outlive it.
      clearInterval(statsTimer);
      this.#timer?.stop();
    }
    devices.debugcon.flush(); // a last debugcon line without its newline still becomes a marker
    sampleStats(true);
    trace.drain();
    this.#flushConsole();
  }

  /** Every vCPU thread out and gone, then the main thread's fds, the VM, guest RAM, /dev/kvm; the last records. */
  async #tearDown(held: Held, trace: TraceCollector): Promise<void> {
    const control = this.control;
    const threads = this.#threads;
    this.#timer?.stop();
    if (!control.stopRequested()) control.requestStop(StopReason.VmmError);
    threads.dismissUnstarted();
    this.#kickAll();
    await threads.joined();
    threads.close();
    held.vm?.close();
    held.memory?.close();
    held.kvm?.close();
    trace.drain();
  }


  /** Gets every vCPU thread to look at the control words now: out of KVM_RUN, or out of a HLT wait. */
  #kickAll(): void {
    this.#threads.kickAll();
    this.#devices?.pic.wakeWaiters();
  }

  /** An interrupt is pending for the vCPU wired to the PIC: wake it from HLT, or kick it out of KVM_RUN. */
  #wakePicVcpu(): void {
    const first = this.#threads.handles[0];
    if (!first || !this.#devices) return;
    if (this.control.state(0) === VcpuState.HaltedWaiting) {
      const word = this.#devices.pic.pendingWord();
      Atomics.notify(word.array, word.index);
    } else {
      first.kicker?.kick();
    }
  }

  #flushConsole(): void {
    const out = this.#devices?.uart.drainOutput();
    if (out && out.length > 0) this.events.onConsole?.(out);
  }

  /**
   * Userspace irqchip: every vCPU halted and nothing can ever wake one. A vCPU halted with IF=0
   * is halted for good; one waiting with IF=1 only if it is the PIC's vCPU and the PIC has nothing
   * pending and the timer will not fire again (the others are wired to nothing).
   */
  #allHaltedForGood(): boolean {
    for (let id = 0; id < this.config.vcpus; id++) {
      const s = this.control.state(id);
      if (s === VcpuState.Halted || s === VcpuState.Finished) continue;
      if (s !== VcpuState.HaltedWaiting) return false;
      if (id === 0 && (this.#devices?.pic.hasPendingInterrupt() || this.#timer?.armed())) return false;
    }
    return true;
  }

  /** In-kernel irqchip: the total of KVM's `exits` counters if every vCPU is blocked in KVM (halted), else null. */
  #kernelIdle(): number | null {
    let exits = 0;
    for (const v of this.#threads.handles) {
      if (!v.stats || v.stats.value("blocking") !== 1) return null;
      exits += v.stats.value("exits") ?? 0;
    }
    return exits;
  }

  #result(t0: number, lostRecords: number): RunResult {
    const c = this.control;
    const { fatal, vmmError } = this.#threads;
    const base = {
      durationNs: monotonicNs() - t0,
      lostRecords,
      droppedConsoleBytes: this.#devices?.uart.droppedOutputBytes() ?? 0,
      timerTicks: this.#timer?.ticks ?? 0,
    };
    const vcpu = c.stopVcpu >= 0 ? c.stopVcpu : undefined;
    const at = vcpu !== undefined ? `vCPU ${vcpu}` : "the machine";
    const rip = typeof fatal?.detail.rip === "number" ? ` at RIP 0x${fatal.detail.rip.toString(16)}` : "";
    switch (c.stopReason) {
      case StopReason.AllHalted:
        return { ...base, outcome: "halted", message: this.config.irqchip === "user" ? "every vCPU halted with nothing left to wake it" : "every vCPU blocked in KVM's HLT with no exit for 0.5 s (in-kernel irqchip)" };
      case StopReason.DebugExit:
        return { ...base, outcome: "debug-exit", vcpu, debugExitValue: c.stopValue, message: `the guest wrote ${c.stopValue} (0x${c.stopValue.toString(16)}) to isa-debug-exit (port 0xf4) on ${at}` };
      case StopReason.Shutdown:
        return { ...base, outcome: "shutdown", vcpu, detail: fatal?.detail, message: `KVM_EXIT_SHUTDOWN on ${at}${rip}: the guest triple-faulted (an exception while delivering a double fault)` };
      case StopReason.InternalError:
        return { ...base, outcome: "internal-error", vcpu, detail: fatal?.detail, message: `KVM_EXIT_INTERNAL_ERROR on ${at}${rip}: ${describeInternal(fatal?.detail)}` };
      case StopReason.FailEntry:
        return { ...base, outcome: "fail-entry", vcpu, detail: fatal?.detail, message: `KVM_EXIT_FAIL_ENTRY on ${at}${rip}: the CPU refused to enter the guest (hardware reason 0x${Number(fatal?.detail.hardwareEntryFailureReason ?? 0).toString(16)})` };
      case StopReason.SystemEvent:
        return { ...base, outcome: "system-event", vcpu, detail: fatal?.detail, message: `KVM_EXIT_SYSTEM_EVENT on ${at}: the guest asked for ${["", "shutdown", "reset", "crash"][c.stopValue] ?? `event ${c.stopValue}`}` };
      case StopReason.Timeout:
        return c.stopValue === IDLE
          ? { ...base, outcome: "timeout", message: `the run was paused for ${(this.config.idleTimeoutMs ?? 0) / 1000} s with nothing resuming or stepping it (the idle limit)` }
          : { ...base, outcome: "timeout", message: `the run timed out after ${(this.config.timeoutMs ?? 0) / 1000} s${this.#clock.everPaused ? " of running (time paused does not count)" : ""}` };
      case StopReason.ExitLimit:
        return { ...base, outcome: "exit-limit", vcpu, message: `the run reached its limit of ${c.maxExits} exits` };
      case StopReason.Stopped:
        return { ...base, outcome: "stopped", message: "stopped on request" };
      case StopReason.UnhandledExit:
        return { ...base, outcome: "unhandled-exit", vcpu, detail: fatal?.detail, message: `an exit this VMM does not handle on ${at}${rip} (exit reason ${String(fatal?.detail.exitReason)})` };
      default:
        return { ...base, outcome: "vmm-error", vcpu: vmmError?.id, message: vmmError ? `vCPU ${vmmError.id} thread failed: ${vmmError.message}` : "the VMM failed" };
    }
  }
}

const SUBERRORS: Record<number, string> = {
  1: "KVM could not emulate an instruction (KVM_INTERNAL_ERROR_EMULATION)",
  2: "an exception occurred while delivering another (KVM_INTERNAL_ERROR_SIMUL_EX)",
  3: "an event could not be delivered (KVM_INTERNAL_ERROR_DELIVERY_EV)",
  4: "an unexpected VM exit reason (KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON)",
};

function describeInternal(detail: Record<string, unknown> | undefined): string {
  const sub = Number(detail?.suberror ?? 0);
  const insn = Array.isArray(detail?.insn) && detail.insn.length > 0
    ? `; instruction bytes ${(detail.insn as number[]).map((b) => b.toString(16).padStart(2, "0")).join(" ")}`
    : "";
  return `${SUBERRORS[sub] ?? `suberror ${sub}`}${insn}`;
}
