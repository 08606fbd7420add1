// The binary trace record: fixed size, little-endian, the same in the per-thread rings, on the
// wire and in stored chunks. Every multi-byte field sits at a multiple of its size, so writers may
// use typed-array views as well as DataView.
//
// A record is RECORD_SIZE bytes: a 32-byte header common to every kind, then a 96-byte payload
// whose meaning depends on `kind` (and, for exits, on the exit reason).

export const RECORD_SIZE = 128;

/** What a record is. */
export const RecordKind = {
  /** An ioctl (or open/close) the VMM issued on a KVM fd. */
  Ioctl: 1,
  /** One return from KVM_RUN with an exit reason: a VM exit that reached userspace. */
  Exit: 2,
  /** A label the guest wrote to the debug console (port 0xe9), or one the VMM adds. */
  Marker: 3,
  /** A sample of one vCPU's KVM_GET_STATS_FD counters (exits KVM handled itself, among others). */
  Stats: 4,
  /** Records this thread's ring had to drop since the previous Lost record (never silently). */
  Lost: 5,
} as const;
export type RecordKind = (typeof RecordKind)[keyof typeof RecordKind];

/** `thread` value of the main thread; vCPU n's thread is n. */
export const MAIN_THREAD = 0xffff;

/** Header, common to every kind. */
export const H = {
  /** u8: RecordKind */
  kind: 0,
  /** u8: bit flags, see RecordFlag */
  flags: 1,
  /** u16: MAIN_THREAD, or the vCPU index (for a Stats record: the vCPU whose counters these are, whichever thread sampled them) */
  thread: 2,
  /** u32: global sequence number, one counter for the whole run (a total order across threads) */
  seq: 4,
  /** f64: nanoseconds since the run began (CLOCK_MONOTONIC; for an exit: when KVM_RUN returned; for an ioctl: when it was issued) */
  ts: 8,
  /** u32: ioctl id (IOCTL_IDS) | exit reason code | 0 */
  code: 16,
  /** u32: ioctl fd | exit: ExitFlag bits | 0 */
  aux: 20,
  /** f64: ioctl: its duration in ns | exit: ns spent inside KVM_RUN (in the guest, and in KVM) */
  dur: 24,
} as const;

export const RecordFlag = {
  /** The payload could not hold everything (IO data, marker text); `dataLen`/`textLen` says how much there was. */
  Truncated: 1,
  /** An exit whose payload nobody saw (another VMM traced with strace alone): the payload bytes mean nothing. */
  NotObserved: 2,
} as const;

/** Exit record `aux` bits: the kvm_run flags as they stood at this exit. */
export const ExitFlag = {
  /** kvm_run.if_flag: the guest had interrupts enabled */
  IfFlag: 1,
  /** kvm_run.ready_for_interrupt_injection */
  ReadyForInjection: 2,
  /** kvm_run.request_interrupt_window was set for the KVM_RUN that ended here */
  RequestedWindow: 4,
} as const;

/** Exit payload, common part. */
export const EXIT = {
  /** f64: ns from KVM_RUN's return to the next KVM_RUN call (handling it in userspace) */
  handleNs: 32,
  /** f64: guest RIP at the exit (from KVM_CAP_SYNC_REGS); exact below 2^53 */
  rip: 40,
} as const;

/** KVM_EXIT_IO */
export const EXIT_IO = {
  port: 48, // u16
  size: 50, // u8: 1, 2 or 4
  direction: 51, // u8: 0 in, 1 out (KVM_EXIT_IO_IN / _OUT)
  count: 52, // u32: repetitions (string I/O)
  dataLen: 56, // u32: size * count, the bytes moved in all
  data: 60, // up to IO_INLINE_BYTES bytes: for OUT what the guest wrote, for IN what the VMM answered
} as const;
export const IO_INLINE_BYTES = 64;

/** KVM_EXIT_MMIO */
export const EXIT_MMIO = {
  addr: 48, // f64: guest-physical address
  len: 56, // u32: 1..8
  isWrite: 60, // u8
  data: 64, // 8 bytes: for a write what the guest wrote, for a read what the VMM answered
} as const;

/** KVM_EXIT_INTERNAL_ERROR */
export const EXIT_INTERNAL = {
  suberror: 48, // u32: KVM_INTERNAL_ERROR_*
  ndata: 52, // u32
  data0: 56, // f64: internal.data[0]
  data1: 64, // f64: internal.data[1]
  insnLen: 72, // u8: bytes of the instruction at RIP that the VMM could read (0..15)
  insn: 73, // up to 15 bytes
} as const;

/** KVM_EXIT_FAIL_ENTRY */
export const EXIT_FAIL_ENTRY = {
  reason: 48, // f64: hardware_entry_failure_reason
  cpu: 56, // u32
} as const;

/** KVM_EXIT_SYSTEM_EVENT */
export const EXIT_SYSTEM_EVENT = {
  type: 48, // u32: KVM_SYSTEM_EVENT_*
  ndata: 52, // u32
  data0: 56, // f64
} as const;

/** KVM_EXIT_DEBUG */
export const EXIT_DEBUG = {
  exception: 48, // u32
  pc: 56, // f64
  dr6: 64, // f64
  dr7: 72, // f64
} as const;

/** KVM_EXIT_EXCEPTION */
export const EXIT_EXCEPTION = {
  exception: 48, // u32
  errorCode: 52, // u32
} as const;

/** KVM_EXIT_HYPERCALL */
export const EXIT_HYPERCALL = {
  nr: 48, // f64
} as const;

/** KVM_EXIT_UNKNOWN */
export const EXIT_UNKNOWN = {
  hardwareExitReason: 48, // f64
} as const;

/** Ioctl payload. */
export const IOCTL = {
  ret: 32, // i32: return value, or -1
  errno: 36, // u32: 0 or the errno
  args: 40, // f64[3] at 40, 48, 56: see IOCTLS[name].args for what each means
  nargs: 64, // u8
} as const;

/** Marker payload. */
export const MARKER = {
  textLen: 32, // u16: UTF-8 bytes of the whole label (may exceed what is stored)
  text: 34, // up to MARKER_TEXT_BYTES bytes of UTF-8
} as const;
export const MARKER_TEXT_BYTES = RECORD_SIZE - 34;

/** Stats payload: STAT_NAMES.length f64 values, -1 where this kernel has no such statistic. */
export const STATS = {
  values: 32,
} as const;

/**
 * The KVM_GET_STATS_FD counters a Stats record carries, in this order. Each counts exits or events
 * that KVM handled *inside the kernel* as well as those it passed on (`exits` counts every VM exit;
 * `io_exits`, `mmio_exits`, `halt_exits` are those of that kind, whether KVM completed them in the
 * kernel or returned to userspace).
 */
export const STAT_NAMES = [
  "exits",
  "io_exits",
  "mmio_exits",
  "halt_exits",
  "irq_exits",
  "irq_window_exits",
  "signal_exits",
  "request_irq_exits",
  "insn_emulation",
  "hypercalls",
  "halt_wakeup",
  "irq_injections",
] as const;
export type StatName = (typeof STAT_NAMES)[number];

/** Lost payload. */
export const LOST = {
  count: 32, // f64: records dropped since the previous Lost record from this thread
} as const;
