// What a vCPU thread tells the main thread. Only life-cycle events travel as messages; exits
// never do (they go into the thread's trace ring).
export type FromVcpuThread =
  | { type: "created"; id: number; tid: number; vcpuFd: number; statsFd: number }
  | { type: "fatal-exit"; id: number; detail: Record<string, number | string | number[]> }
  | { type: "finished"; id: number; lost: number }
  | { type: "error"; id: number; message: string; code?: string; syscall?: string; stack?: string };
