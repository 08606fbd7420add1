// The words every thread of one VM shares, in one SharedArrayBuffer: the run's sequence counter,
// qemu's `qemu_system_ready`, the stop request, and one small block per vCPU with its state.
// Threads change a word with Atomics and wake waiters with Atomics.notify: no messages on the
// exit path.

/**
 * A vCPU thread's life, as a named state machine (each value is what the thread is doing now):
 *
 *   Creating --KVM_CREATE_VCPU done--> Created --qemu_system_ready--> Running
 *   Running --KVM_EXIT_HLT, IF=1--> HaltedWaiting --interrupt pending--> Running
 *   Running --KVM_EXIT_HLT, IF=0--> Halted   (only an NMI or INIT could wake it; we send neither)
 *   Running --pause, or step budget spent (before the next KVM_RUN)--> Paused --resume / step--> Running
 *   any --stop requested / fatal exit / error--> Finished
 */
export const VcpuState = {
  Creating: 0,
  Created: 1,
  Running: 2,
  HaltedWaiting: 3,
  Halted: 4,
  Finished: 5,
  /** Waiting before its next KVM_RUN because the machine is paused (or its step budget is spent). */
  Paused: 6,
} as const;
export type VcpuState = (typeof VcpuState)[keyof typeof VcpuState];
export const VCPU_STATE_NAMES = ["creating", "created", "running", "halted-waiting", "halted", "finished", "paused"] as const;

/** Why the run is ending: written once, by whoever asks for the stop first. */
export const StopReason = {
  None: 0,
  /** the machine decided: every vCPU halted with nothing to wake it */
  AllHalted: 1,
  /** the guest wrote to isa-debug-exit (value in STOP_VALUE) */
  DebugExit: 2,
  /** KVM_EXIT_SHUTDOWN: a triple fault (vCPU in STOP_VCPU) */
  Shutdown: 3,
  /** KVM_EXIT_INTERNAL_ERROR: KVM could not go on (details in the vCPU's message) */
  InternalError: 4,
  /** KVM_EXIT_FAIL_ENTRY: the hardware refused to enter the guest */
  FailEntry: 5,
  /** KVM_EXIT_SYSTEM_EVENT: the guest asked for shutdown / reset (type in STOP_VALUE) */
  SystemEvent: 6,
  /** --timeout */
  Timeout: 7,
  /** --max-exits */
  ExitLimit: 8,
  /** the user (Ctrl-C, or a stop request) */
  Stopped: 9,
  /** the VMM itself failed: a KVM ioctl error, an exception in a vCPU thread */
  VmmError: 10,
  /** an exit we do not handle (KVM_EXIT_DEBUG without a debugger, KVM_EXIT_UNKNOWN, ...) */
  UnhandledExit: 11,
} as const;
export type StopReason = (typeof StopReason)[keyof typeof StopReason];

/**
 * Bits of the ATTENTION word. A vCPU thread reads this one word before every KVM_RUN; while it
 * is 0 nothing else is looked at, so pausing and stepping cost the exit path a single load.
 */
export const Attention = {
  Stop: 1,
  Pause: 2,
  Step: 4,
  Break: 8,
} as const;

/** Bits 8-30 of the Attention word count the teacher's commands (pause, resume, step). */
const GENERATION_ONE = 1 << 8;
const GENERATION_MASK = 0x7fffff00;
const FLAGS_MASK = 0xff;

/** "Pause right after the next exit that matches": every field that is set must match. */
export interface Breakpoint {
  /** Exit reason code (KVM_EXIT_*). */
  reason?: number;
  /** I/O port (KVM_EXIT_IO). */
  port?: number;
  /** Guest-physical address (KVM_EXIT_MMIO). */
  addr?: number;
  vcpu?: number;
  /** "in"/"out" for port I/O, "read"/"write" for MMIO. */
  direction?: "in" | "out" | "read" | "write";
}

const DIRECTIONS = ["in", "out", "read", "write"] as const;

// Int32 slots
const SEQ = 0; // next record sequence number (Atomics.add)
const SYSTEM_READY = 1; // 0 until the main thread releases every vCPU
const STOP = 2; // StopReason, 0 while running
const STOP_VALUE = 3; // debug-exit value, system event type, ...
const STOP_VCPU = 4; // the vCPU that asked for the stop, or -1
const EXITS = 5; // userspace exits so far, all vCPUs (for --max-exits)
const MAX_EXITS = 6; // 0: no limit
const ATTENTION = 7; // Attention bits: what a vCPU must look at before its next KVM_RUN
const STEP_BUDGET = 8; // exits still allowed while stepping
const BREAK_WORDS = 9; // 9-15: the armed exit breakpoint (see armBreak)
const VCPU_BASE = 16;
const VCPU_WORDS = 4;
const V_STATE = 0;
const V_TID = 1;
const V_ADOPTED = 2; // 1 once the main thread holds its own view of the vCPU's fds

export class MachineControl {
  readonly words: Int32Array;

  static allocate(vcpus: number): SharedArrayBuffer {
    return new SharedArrayBuffer(4 * (VCPU_BASE + VCPU_WORDS * vcpus));
  }

  constructor(readonly sab: SharedArrayBuffer) {
    this.words = new Int32Array(sab);
  }

  get seqCounter(): { array: Int32Array; index: number } {
    return { array: this.words, index: SEQ };
  }

  // --- qemu_system_ready ---
  /** Main thread: lets every vCPU thread waiting in waitForSystemReady go. */
  releaseAll(): void {
    Atomics.store(this.words, SYSTEM_READY, 1);
    Atomics.notify(this.words, SYSTEM_READY);
  }

  /** vCPU thread: blocks until releaseAll() (or a stop). qemu-kvm 0.14: the wait on qemu_system_cond in ap_main_loop. */
  waitForSystemReady(): void {
    while (Atomics.load(this.words, SYSTEM_READY) === 0 && !this.stopRequested()) {
      Atomics.wait(this.words, SYSTEM_READY, 0, 100);
    }
  }

  // --- stopping ---
  /** Asks every thread to stop; the first reason wins. Returns true if this call set it. */
  requestStop(reason: StopReason, value = 0, vcpu = -1): boolean {
    if (Atomics.compareExchange(this.words, STOP, StopReason.None, reason) !== StopReason.None) return false;
    Atomics.store(this.words, STOP_VALUE, value);
    Atomics.store(this.words, STOP_VCPU, vcpu);
    Atomics.or(this.words, ATTENTION, Attention.Stop);
    Atomics.notify(this.words, SYSTEM_READY);
    Atomics.notify(this.words, STOP);
    Atomics.notify(this.words, ATTENTION);
    return true;
  }

  // --- pause, step, break: the teacher's controls ---
  /** The Attention bits; 0 in a free run. */
  attention(): number {
    return Atomics.load(this.words, ATTENTION) & FLAGS_MASK;
  }

  /** The whole Attention word, command generation included (for pauseIfUnchanged and waiting). */
  attentionWord(): number {
    return Atomics.load(this.words, ATTENTION);
  }

  /**
   * Changes the Attention word in one atomic step (a vCPU must never see a state half made: no
   * Step and no Pause yet, say, and run an exit nobody allowed). `bump` also advances the
   * command generation in the high bits, so a vCPU that decided from an older value cannot
   * overwrite a newer command (see pauseIfUnchanged).
   */
  #update(change: (old: number) => number, bump = false): void {
    for (;;) {
      const old = Atomics.load(this.words, ATTENTION);
      let next = change(old);
      if (bump) next = (next & ~GENERATION_MASK) | ((old + GENERATION_ONE) & GENERATION_MASK);
      if (Atomics.compareExchange(this.words, ATTENTION, old, next) === old) break;
    }
    Atomics.notify(this.words, ATTENTION);
  }

  /** vCPUs stop before their next KVM_RUN (the main thread kicks those inside one). */
  pause(): void {
    this.#update((a) => (a & ~Attention.Step) | Attention.Pause, true);
  }

  /** A vCPU that found the step budget spent pauses the machine, unless a new command came since it looked. */
  pauseIfUnchanged(seen: number): boolean {
    const next = (seen & ~Attention.Step) | Attention.Pause;
    return Atomics.compareExchange(this.words, ATTENTION, seen, next) === seen;
  }

  resume(): void {
    this.#update((a) => a & ~(Attention.Pause | Attention.Step), true);
  }

  /** Lets exactly `count` more exits happen, all vCPUs together, then pauses again. */
  step(count: number): void {
    Atomics.store(this.words, STEP_BUDGET, count);
    this.#update((a) => (a & ~Attention.Pause) | Attention.Step, true);
  }

  /** A vCPU about to enter KVM_RUN while stepping takes one exit from the budget; false when none is left. */
  claimStep(): boolean {
    for (;;) {
      const left = Atomics.load(this.words, STEP_BUDGET);
      if (left <= 0) return false;
      if (Atomics.compareExchange(this.words, STEP_BUDGET, left, left - 1) === left) return true;
    }
  }

  /** Gives back a claimed step that produced no exit (KVM_RUN returned -EINTR before entering). */
  returnStep(): void {
    Atomics.add(this.words, STEP_BUDGET, 1);
  }

  get stepsLeft(): number {
    return Atomics.load(this.words, STEP_BUDGET);
  }

  /** Sleeps while the Attention word still reads `seen` (at most `ms`). */
  waitForAttention(seen: number, ms: number): void {
    Atomics.wait(this.words, ATTENTION, seen, ms);
  }

  armBreak(when: Breakpoint): void {
    this.disarmBreak(); // the fields change below; no vCPU may match half of them
    const w = this.words;
    let mask = 0;
    const set = (bit: number, slot: number, value: number | undefined): void => {
      if (value === undefined) return;
      mask |= bit;
      Atomics.store(w, BREAK_WORDS + slot, value | 0);
    };
    set(1, 0, when.reason);
    set(2, 1, when.port);
    if (when.addr !== undefined) {
      mask |= 4;
      Atomics.store(w, BREAK_WORDS + 2, when.addr % 0x1_0000_0000 | 0);
      Atomics.store(w, BREAK_WORDS + 3, Math.floor(when.addr / 0x1_0000_0000) | 0);
    }
    set(8, 4, when.vcpu);
    set(16, 5, when.direction === undefined ? undefined : DIRECTIONS.indexOf(when.direction));
    Atomics.store(w, BREAK_WORDS + 6, mask);
    Atomics.or(w, ATTENTION, Attention.Break);
  }

  disarmBreak(): void {
    Atomics.and(this.words, ATTENTION, ~Attention.Break);
  }

  /** Whether an exit matches the armed breakpoint (the fields of the exit as the kvm_run page holds them). */
  breakMatches(exit: { reason: number; vcpu: number; port: number; addr: number; direction: number }): boolean {
    const w = this.words;
    const mask = Atomics.load(w, BREAK_WORDS + 6);
    if (mask & 1 && exit.reason !== Atomics.load(w, BREAK_WORDS)) return false;
    if (mask & 2 && exit.port !== Atomics.load(w, BREAK_WORDS + 1)) return false;
    if (mask & 4 && exit.addr !== (Atomics.load(w, BREAK_WORDS + 2) >>> 0) + Atomics.load(w, BREAK_WORDS + 3) * 0x1_0000_0000) return false;
    if (mask & 8 && exit.vcpu !== Atomics.load(w, BREAK_WORDS + 4)) return false;
    if (mask & 16 && exit.direction !== Atomics.load(w, BREAK_WORDS + 5)) return false;
    return true;
  }

  /** Sleeps until a stop is requested or `ms` pass. */
  waitForStop(ms: number): void {
    Atomics.wait(this.words, STOP, StopReason.None, ms);
  }

  stopRequested(): boolean {
    return Atomics.load(this.words, STOP) !== StopReason.None;
  }

  get stopReason(): StopReason {
    return Atomics.load(this.words, STOP) as StopReason;
  }
  get stopValue(): number {
    return Atomics.load(this.words, STOP_VALUE);
  }
  get stopVcpu(): number {
    return Atomics.load(this.words, STOP_VCPU);
  }

  // --- exit budget ---
  set maxExits(n: number) {
    Atomics.store(this.words, MAX_EXITS, n);
  }
  get maxExits(): number {
    return Atomics.load(this.words, MAX_EXITS);
  }
  /** Counts one userspace exit; true when that reaches --max-exits. */
  countExit(): boolean {
    const n = Atomics.add(this.words, EXITS, 1) + 1;
    const max = this.words[MAX_EXITS] ?? 0;
    return max > 0 && n >= max;
  }
  get exits(): number {
    return Atomics.load(this.words, EXITS);
  }

  // --- per vCPU ---
  state(vcpu: number): VcpuState {
    return Atomics.load(this.words, VCPU_BASE + VCPU_WORDS * vcpu + V_STATE) as VcpuState;
  }
  setState(vcpu: number, state: VcpuState): void {
    const i = VCPU_BASE + VCPU_WORDS * vcpu + V_STATE;
    Atomics.store(this.words, i, state);
    Atomics.notify(this.words, i);
  }
  tid(vcpu: number): number {
    return Atomics.load(this.words, VCPU_BASE + VCPU_WORDS * vcpu + V_TID);
  }
  setTid(vcpu: number, tid: number): void {
    Atomics.store(this.words, VCPU_BASE + VCPU_WORDS * vcpu + V_TID, tid);
  }

  /**
   * The main thread maps the vCPU's kvm_run page and reads its statistics fd by fd number, so the
   * vCPU thread must not close those fds before the main thread has taken its own hold of them
   * (a closed number can be reused at once by another open). Main: adopted(); vCPU thread, before
   * closing: waitUntilAdopted().
   */
  adopted(vcpu: number): void {
    const i = VCPU_BASE + VCPU_WORDS * vcpu + V_ADOPTED;
    Atomics.store(this.words, i, 1);
    Atomics.notify(this.words, i);
  }

  waitUntilAdopted(vcpu: number, ms: number): boolean {
    const i = VCPU_BASE + VCPU_WORDS * vcpu + V_ADOPTED;
    return Atomics.wait(this.words, i, 0, ms) !== "timed-out" || Atomics.load(this.words, i) === 1;
  }
}
