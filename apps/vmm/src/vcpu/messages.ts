// What travels between the main thread and a vCPU thread. Only life-cycle events travel as
// messages; exits never do (they go into the thread's trace ring).
import type { CpuidEntry } from "@kvmscope/kvm-binding";

/** Main thread -> vCPU thread: its turn to create its vCPU (qemu-kvm 0.14: kvm_init_vcpu), or to leave unstarted. */
export type ToVcpuThread =
  | { type: "create"; vmFd: number; mmapSize: number; cpuid: CpuidEntry[] }
  | { type: "quit" };

export type FromVcpuThread =
  | { type: "created"; id: number; tid: number; vcpuFd: number; statsFd: number }
  | { type: "fatal-exit"; id: number; detail: Record<string, number | string | number[]> }
  | { type: "finished"; id: number; lost: number }
  | { type: "error"; id: number; message: string; code?: string; syscall?: string; stack?: string };
