// The body of one vCPU thread (a worker_threads Worker): qemu-kvm 0.14's ap_main_loop
// (qemu-kvm.c). The main thread starts the Worker early (Node's start-up of a thread takes far
// longer than KVM's work), and the thread waits for its turn: a "create" message, sent to one
// vCPU thread at a time. Then it creates its own vCPU on the VM the main thread made, says so,
// waits until the main thread releases every vCPU at once, and runs the exit loop until the
// machine stops.
import { parentPort, workerData } from "node:worker_threads";
import { MP_STATE, Vm, currentTid, monotonicNs } from "@kvmscope/kvm-binding";
import { createDevices, type DeviceMemory } from "../devices/index.js";
import { Tracer } from "../trace/tracer.js";
import { MachineControl, StopReason, VcpuState } from "./control.js";
import { ExitAction, KVM_EXIT } from "./dispatch.js";
import { runExitLoop } from "./exit-loop.js";
import { resetToBootSector } from "./reset.js";
import type { FromVcpuThread, ToVcpuThread } from "./messages.js";

/** What a vCPU thread is started with; what only the built VM can say comes with its "create" message. */
export interface VcpuThreadData {
  id: number;
  t0: number;
  userIrqchip: boolean;
  controlSab: SharedArrayBuffer;
  ringSab: SharedArrayBuffer;
  deviceMemory: DeviceMemory;
}

const data = workerData as VcpuThreadData;
const post = (message: FromVcpuThread): void => parentPort?.postMessage(message);
const control = new MachineControl(data.controlSab);
const tracer = new Tracer(data.ringSab, data.id, data.t0, control.seqCounter);
const pendingMarkers: string[] = [];

function main(turn: Extract<ToVcpuThread, { type: "create" }>): void {
  const vm = Vm.adopt(turn.vmFd, tracer.ioctl);
  // qemu-kvm 0.14: kvm_create_vcpu, called by the new thread itself.
  const vcpu = vm.createVcpu(data.id, turn.mmapSize);
  let created = false;
  try {
    resetToBootSector(vcpu, turn.cpuid);
    // With an in-kernel irqchip every vCPU but the first starts "waiting for INIT/SIPI"; our
    // machine contract starts them all at 0x7c00 together.
    if (!data.userIrqchip && data.id !== 0) vcpu.setMpState(MP_STATE.RUNNABLE);
    vcpu.runPage.enableSyncRegs();
    const stats = vcpu.getStatsFd();
    control.setTid(data.id, currentTid());
    control.setState(data.id, VcpuState.Created);
    post({ type: "created", id: data.id, tid: currentTid(), vcpuFd: vcpu.fd, statsFd: stats.fd });
    created = true;

    control.waitForSystemReady(); // qemu-kvm 0.14: while (!qemu_system_ready) qemu_cond_wait(...)

    const devices = createDevices(data.deviceMemory, {
      marker: (text) => pendingMarkers.push(text),
      debugExit: (value) => control.requestStop(StopReason.DebugExit, value, data.id),
      now: monotonicNs,
    }, { userIrqchip: data.userIrqchip });

    runExitLoop({
      vcpu,
      buses: devices,
      control,
      tracer,
      pic: data.userIrqchip ? devices.pic : null,
      pendingMarkers,
      onFatalExit: (action, reason) => {
        const page = vcpu.runPage;
        const stop = STOP_FOR_ACTION[action] ?? StopReason.UnhandledExit;
        const detail: Record<string, number | string | number[]> = { exitReason: reason, rip: page.syncRip };
        if (reason === KVM_EXIT.INTERNAL_ERROR) {
          detail.suberror = page.internalSuberror;
          detail.data = page.internalData().map(Number);
          const sregs = vcpu.getSregs();
          detail.csBase = Number(sregs.cs.base);
          detail.cr0 = Number(sregs.cr0);
        } else if (reason === KVM_EXIT.FAIL_ENTRY) {
          detail.hardwareEntryFailureReason = Number(page.failEntryReason);
        } else if (reason === KVM_EXIT.SYSTEM_EVENT) {
          detail.systemEventType = page.systemEventType;
        }
        if (control.requestStop(stop, stop === StopReason.SystemEvent ? page.systemEventType : 0, data.id)) {
          post({ type: "fatal-exit", id: data.id, detail });
        }
      },
    });
  } finally {
    control.setState(data.id, VcpuState.Finished);
    if (created) control.waitUntilAdopted(data.id, 5000);
    vcpu.close();
  }
}

const STOP_FOR_ACTION: Partial<Record<ExitAction, StopReason>> = {
  [ExitAction.Shutdown]: StopReason.Shutdown,
  [ExitAction.InternalError]: StopReason.InternalError,
  [ExitAction.FailEntry]: StopReason.FailEntry,
  [ExitAction.SystemEvent]: StopReason.SystemEvent,
  [ExitAction.Unhandled]: StopReason.UnhandledExit,
};

// Started, the thread waits for its turn; from "create" on it never returns to its event loop
// until the machine stops.
parentPort?.once("message", (m: ToVcpuThread) => {
  if (m.type !== "create") return; // "quit": the VM was never built, or another vCPU failed first
  try {
    main(m);
    post({ type: "finished", id: data.id, lost: tracer.ring.lostTotal });
  } catch (err) {
    const e = err as Error & { code?: string; syscall?: string };
    control.requestStop(StopReason.VmmError, 0, data.id);
    post({ type: "error", id: data.id, message: e.message, code: e.code, syscall: e.syscall, stack: e.stack });
  }
});
