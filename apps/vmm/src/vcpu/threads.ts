// The main thread's hold on the vCPU threads: qemu-kvm 0.14's pc_cpus_init (hw/pc.c) ->
// pc_new_cpu -> cpu_x86_init -> qemu_init_vcpu -> kvm_init_vcpu, which started one thread per
// vCPU and waited `while (env->created == 0)` before starting the next.
//
// Node takes hundreds of milliseconds to start a Worker, KVM a few to create a vCPU, so the
// Workers are started first, all at once, while the main thread builds the VM (spawn). Each then
// waits for its turn: createInOrder sends vCPU 0 its "create", waits for its "created", then
// sends vCPU 1 its own, and so on: the order qemu-kvm had, without Node's start-up in between.
import { Worker } from "node:worker_threads";
import { type CpuidEntry, VcpuKicker, VcpuStats } from "@kvmscope/kvm-binding";
import { type MachineControl, StopReason } from "./control.js";
import type { FromVcpuThread, ToVcpuThread } from "./messages.js";
import type { VcpuThreadData } from "./thread.js";

const WORKER_URL = new URL("./thread.js", import.meta.url);

export interface VcpuHandle {
  id: number;
  worker: Worker;
  /** Set once the thread reported "created": the main thread's own hold on its kvm_run page and statistics. */
  kicker?: VcpuKicker;
  stats?: VcpuStats;
  /** Whether the thread was given its turn to create its vCPU. */
  started: boolean;
  /** Resolves on "created"; rejects if the thread fails or ends first. */
  created: Promise<void>;
  exited: Promise<void>;
}

/** What the VM can tell a vCPU thread only once it exists. */
export interface VcpuCreateArgs {
  vmFd: number;
  mmapSize: number;
  cpuidFor(id: number): CpuidEntry[];
}

export class VcpuThreads {
  readonly handles: VcpuHandle[] = [];
  /** The exit that ended the run, as its vCPU thread described it. */
  fatal: { id: number; detail: Record<string, unknown> } | undefined;
  /** The first failure of a vCPU thread (an ioctl error, an exception). */
  vmmError: { id: number; message: string } | undefined;
  #mmapSize = 0;

  constructor(private readonly control: MachineControl) {}

  /** Starts one Worker per vCPU now; none touches KVM before its turn. */
  spawn(data: (id: number) => VcpuThreadData, count: number): void {
    for (let id = 0; id < count; id++) {
      const worker = new Worker(WORKER_URL, { workerData: data(id), name: `vCPU ${id}` });
      const handle: VcpuHandle = {
        id, worker, started: false,
        created: Promise.resolve(),
        exited: new Promise((resolve) => worker.once("exit", () => resolve())),
      };
      handle.created = this.#watch(handle);
      handle.created.catch(() => {}); // awaited in its turn; a thread that fails earlier must not be an unhandled rejection
      this.handles.push(handle);
    }
  }

  /**
   * Gives each vCPU thread its turn in vCPU order, waiting for its "created" before the next
   * (qemu-kvm 0.14: kvm_init_vcpu's `while (env->created == 0) qemu_cond_wait(...)`). Stops
   * early, without error, when the machine is asked to stop meanwhile.
   */
  async createInOrder(args: VcpuCreateArgs, onCreated: (id: number) => void): Promise<void> {
    this.#mmapSize = args.mmapSize;
    for (const h of this.handles) {
      if (this.control.stopRequested()) return;
      h.started = true;
      const turn: ToVcpuThread = { type: "create", vmFd: args.vmFd, mmapSize: args.mmapSize, cpuid: args.cpuidFor(h.id) };
      h.worker.postMessage(turn);
      await h.created;
      onCreated(h.id);
    }
  }

  /** Whether every vCPU thread has created its vCPU. */
  get allCreated(): boolean {
    return this.handles.every((h) => h.kicker !== undefined);
  }

  /** Tells the threads that never got their turn to leave (their Workers end without touching KVM). */
  dismissUnstarted(): void {
    for (const h of this.handles) {
      if (h.started) continue;
      h.started = true;
      const quit: ToVcpuThread = { type: "quit" };
      h.worker.postMessage(quit);
    }
  }

  /** Every vCPU thread out of KVM_RUN (the caller wakes the ones waiting in HLT). */
  kickAll(): void {
    for (const h of this.handles) h.kicker?.kick();
  }

  /** Resolves when every Worker has ended. */
  async joined(): Promise<void> {
    await Promise.all(this.handles.map((h) => h.exited));
  }

  /** Closes the main thread's hold on each vCPU (after joined()). */
  close(): void {
    for (const h of this.handles) {
      h.kicker?.close();
      h.stats?.close();
    }
  }

  #watch(handle: VcpuHandle): Promise<void> {
    const { id, worker } = handle;
    const control = this.control;
    return new Promise((resolve, reject) => {
      worker.on("message", (m: FromVcpuThread) => {
        switch (m.type) {
          case "created":
            try {
              handle.stats = new VcpuStats(m.statsFd); // ours from now on: closed in close(), even if the next line fails
              handle.kicker = new VcpuKicker(m.vcpuFd, this.#mmapSize, m.tid);
              resolve();
            } catch (err) {
              this.vmmError ??= { id, message: `cannot take hold of vCPU ${id}: ${(err as Error).message}` };
              control.requestStop(StopReason.VmmError, 0, id);
              reject(err as Error);
            } finally {
              control.adopted(id); // the vCPU thread may close its fds now
            }
            break;
          case "fatal-exit":
            this.fatal = { id: m.id, detail: m.detail };
            break;
          case "finished":
            break;
          case "error": {
            // Keep what the binding said about the failing call: "KVM_CREATE_VCPU: EEXIST", say.
            const where = [m.syscall, m.code].filter(Boolean).join(": ");
            const message = where && !m.message.includes(where) ? `${m.message} (${where})` : m.message;
            this.vmmError ??= { id: m.id, message };
            reject(new Error(`vCPU ${m.id}: ${message}`));
            break;
          }
        }
      });
      worker.once("error", (err) => {
        this.vmmError ??= { id, message: err.message };
        control.requestStop(StopReason.VmmError, 0, id);
        reject(err);
      });
      worker.once("exit", () => reject(new Error(`vCPU ${id} thread ended before creating its vCPU`)));
    });
  }
}
