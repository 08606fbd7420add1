// The vCPU thread's main loop: qemu-kvm 0.14's kvm_main_loop_cpu (qemu-kvm.c) around kvm_cpu_exec
// (kvm-all.c), in our own words. Each turn reads top to bottom: the gate (pause, step, stop), the
// pre-run (a pending interrupt), KVM_RUN, the record of the exit, its dispatch, and what the
// dispatch says to do. The trace's bookkeeping lives in trace/exit-recorder.ts.
import type { Vcpu } from "@kvmscope/kvm-binding";
import { KVM_RUN_OFFSETS } from "@kvmscope/kvm-binding";
import { exitReasonName, KvmExit } from "@kvmscope/shared";
import type { Pic } from "../devices/pic-8259.js";
import { ExitRecorder } from "../trace/exit-recorder.js";
import type { Tracer } from "../trace/tracer.js";
import { Attention, type MachineControl, StopReason, VcpuState } from "./control.js";
import { type Buses, ExitAction, KVM_EXIT, dispatchExit } from "./dispatch.js";

export interface ExitLoopContext {
  vcpu: Vcpu;
  buses: Buses;
  control: MachineControl;
  tracer: Tracer;
  /** The userspace 8259 PIC when the irqchip is in userspace (the article's !kvm_irqchip_in_kernel()), else null. */
  pic: Pic | null;
  /** Markers the devices asked for while an exit record was open; written right after it. */
  pendingMarkers: string[];
  /** Called once when the loop ends because of an exit (internal error, shutdown, ...). */
  onFatalExit(action: ExitAction, exitReason: number): void;
}

/** Written into kvm_run.exit_reason before each KVM_RUN: if it is still there after -EINTR, the guest never ran. */
const NOT_ENTERED = 0xffffffff;

export function runExitLoop(ctx: ExitLoopContext): void {
  const { vcpu, control, pic } = ctx;
  const page = vcpu.runPage;
  const recorder = new ExitRecorder(ctx.tracer, vcpu);
  const exitReasonAt = KVM_RUN_OFFSETS.exitReason;
  // The 8259's INTR pin is wired to the first vCPU only (as on a PC without an APIC).
  const takesPicInterrupts = pic !== null && vcpu.id === 0;
  const limited = control.maxExits > 0;

  control.setState(vcpu.id, VcpuState.Running);
  try {
    for (;;) {
      // 1. The gate: one load in a free run; pause, step, breakpoints and stop are all behind it.
      let claimedStep = false;
      if (control.attention() !== 0) {
        recorder.finish(); // what follows may wait: the last exit's record goes out first
        const gate = passGate(control, vcpu.id);
        if (gate === Gate.Stop) break;
        claimedStep = gate === Gate.RunClaimed;
      }
      // 2. Pre-run: a pending interrupt from the userspace PIC.
      if (takesPicInterrupts) injectPendingInterrupt(vcpu, pic, recorder);
      const requestedWindow = page.requestInterruptWindow;
      page.view.setUint32(exitReasonAt, NOT_ENTERED, true);
      // The last exit's handling ends here: its record goes out now, not after the next exit
      // (the guest may stay in KVM_RUN for the rest of the run).
      recorder.finish();

      // 3. KVM_RUN
      const ret = vcpu.run();
      if (ret < 0) {
        // -EINTR / -EAGAIN: kicked (or hit by a signal Node handles). immediate_exit stays set
        // until we clear it, and must be cleared before we look at the control words, so a kick
        // that lands after this point still makes the next KVM_RUN return at once.
        page.immediateExit = 0;
        if (page.exitReason === NOT_ENTERED) {
          if (claimedStep) control.returnStep(); // no exit happened: the step is still owed
          recorder.interrupted(ret);
          continue;
        }
        // else the signal arrived while the guest ran: KVM reports it as KVM_EXIT_INTR, an exit like any other.
      }

      // 4. Record, 5. dispatch (qemu-kvm 0.14: the switch on run->exit_reason in kvm_cpu_exec), 6. act.
      recorder.record(requestedWindow);
      const action = dispatchExit(page, ctx.buses);
      if (!act(ctx, recorder, action, limited)) return;
    }
  } finally {
    recorder.finish();
  }
}

/** What follows a handled exit: its markers, the exit limit, a breakpoint, then the action. False: the loop ends. */
function act(ctx: ExitLoopContext, recorder: ExitRecorder, action: ExitAction, limited: boolean): boolean {
  const { control, vcpu } = ctx;
  if (ctx.pendingMarkers.length > 0) {
    recorder.finish();
    for (const text of ctx.pendingMarkers) ctx.tracer.marker(text);
    ctx.pendingMarkers.length = 0;
  }
  if (limited && control.countExit()) control.requestStop(StopReason.ExitLimit, control.maxExits, vcpu.id);
  // A breakpoint looks at this exit, fresh from KVM, and pauses the machine right after it.
  if ((control.attention() & Attention.Break) !== 0 && breakpointHit(ctx)) {
    recorder.finish();
    ctx.tracer.marker(`breakpoint: paused after ${exitReasonName(vcpu.runPage.exitReason)} on vCPU ${vcpu.id}`);
  }
  switch (action) {
    case ExitAction.Continue:
      return true;
    case ExitAction.Halt:
      recorder.finish(); // the wait that follows is idle time, not handling
      waitWhileHalted(ctx, vcpu.runPage.ifFlag !== 0);
      return true;
    default:
      recorder.finish();
      ctx.onFatalExit(action, vcpu.runPage.exitReason);
      return false;
  }
}

const Gate = { Stop: 0, Run: 1, RunClaimed: 2 } as const;
type Gate = (typeof Gate)[keyof typeof Gate];

/**
 * Before a KVM_RUN, when the Attention word is not 0: leave on a stop, wait while the machine is
 * paused, and while stepping take one exit from the budget, pausing the machine when it is spent
 * (so a step of N lets exactly N exits happen, whichever vCPUs they come from).
 */
function passGate(control: MachineControl, id: number): Gate {
  for (;;) {
    const word = control.attentionWord();
    const a = word & 0xff;
    if ((a & Attention.Stop) !== 0) return Gate.Stop;
    if ((a & Attention.Pause) !== 0) {
      if (control.state(id) !== VcpuState.Paused) control.setState(id, VcpuState.Paused);
      control.waitForAttention(word, 100);
      continue;
    }
    if ((a & Attention.Step) !== 0) {
      if (control.claimStep()) {
        control.setState(id, VcpuState.Running);
        return Gate.RunClaimed;
      }
      control.pauseIfUnchanged(word); // the budget is spent: the step is over (unless a new command came)
      continue;
    }
    if (control.state(id) !== VcpuState.Running) control.setState(id, VcpuState.Running);
    return Gate.Run;
  }
}

/** Whether the exit still described by the kvm_run page matches the armed breakpoint; if so it pauses the machine. */
function breakpointHit(ctx: ExitLoopContext): boolean {
  const page = ctx.vcpu.runPage;
  const reason = page.exitReason;
  const isIo = reason === KvmExit.IO;
  const isMmio = reason === KvmExit.MMIO;
  const hit = ctx.control.breakMatches({
    reason,
    vcpu: ctx.vcpu.id,
    port: isIo ? page.ioPort : -1,
    addr: isMmio ? page.mmioPhysAddrNumber : -1,
    direction: isIo ? page.ioDirection : isMmio ? 2 + page.mmioIsWrite : -1,
  });
  if (hit) {
    ctx.control.disarmBreak();
    ctx.control.pause();
  }
  return hit;
}

/**
 * Userspace irqchip only, before every KVM_RUN (qemu's kvm_arch_pre_run): if the PIC has an
 * interrupt for us and the guest can take it now, KVM_INTERRUPT it; if it cannot (IF=0, or in an
 * interrupt shadow), ask KVM to come back the moment it can: request_interrupt_window, which ends
 * in KVM_EXIT_IRQ_WINDOW_OPEN.
 */
function injectPendingInterrupt(vcpu: Vcpu, pic: Pic, recorder: ExitRecorder): void {
  const page = vcpu.runPage;
  if (!pic.hasPendingInterrupt()) {
    if (page.requestInterruptWindow !== 0) page.requestInterruptWindow = 0;
    return;
  }
  if (page.readyForInterruptInjection && page.ifFlag) {
    const vector = pic.acknowledge();
    recorder.finish(); // KVM_INTERRUPT writes its own record
    if (vector !== null) vcpu.interrupt(vector);
    // One at a time: KVM queues a single external interrupt; another may still be pending.
    page.requestInterruptWindow = pic.hasPendingInterrupt() ? 1 : 0;
  } else {
    page.requestInterruptWindow = 1;
  }
}

/**
 * KVM_EXIT_HLT with a userspace irqchip: the vCPU sleeps here, not in the kernel. With interrupts
 * enabled it waits for the PIC to have one (only the first vCPU is wired to the PIC: the others
 * can never be woken); with interrupts disabled nothing but an NMI or INIT could wake it, so it
 * is halted for good. Either way the main thread sees the state and decides whether the machine
 * has finished. qemu-kvm 0.14: env->halted and kvm_main_loop_wait in kvm_main_loop_cpu.
 */
function waitWhileHalted(ctx: ExitLoopContext, interruptsEnabled: boolean): void {
  const { control, vcpu, pic } = ctx;
  const wakeable = interruptsEnabled && pic !== null && vcpu.id === 0;
  control.setState(vcpu.id, wakeable ? VcpuState.HaltedWaiting : VcpuState.Halted);
  if (wakeable) {
    const word = pic.pendingWord();
    while (!control.stopRequested()) {
      const seen = Atomics.load(word.array, word.index);
      if (pic.hasPendingInterrupt()) break;
      Atomics.wait(word.array, word.index, seen, 50);
    }
  } else {
    while (!control.stopRequested()) control.waitForStop(100);
  }
  if (!control.stopRequested()) control.setState(vcpu.id, VcpuState.Running);
}

export { KVM_EXIT };
