// @kvmscope/vmm: the VMM as a library (the CLI, and the service later, sit on top of it).
export { Machine } from "./machine.js";
export type { MachineEvents, Outcome, RunResult } from "./machine.js";
export { ConfigError, LIMITS, validateConfig } from "./config.js";
export { StatusError, statusOf } from "./errors.js";
export type { MachineConfig, Irqchip } from "./config.js";
export { findGuest, guestImagePath, listGuests, loadGuestImage } from "./guests.js";
export { GUESTS_DIR, MIGRATIONS_DIR, RAW_LOOP, VMM_PACKAGE_DIR } from "./paths.js";
export type { GuestInfo } from "./guests.js";
export { main as cliMain, planRun } from "./cli.js";
export { EXIT_STATUS, exitStatusFor } from "./exit-status.js";
export { dispatchExit, ExitAction, KVM_EXIT } from "./vcpu/dispatch.js";
export { Attention, MachineControl, StopReason, VcpuState } from "./vcpu/control.js";
export type { Breakpoint } from "./vcpu/control.js";
export { RunManager, DEFAULT_LIMITS, parseImport } from "./service/run-manager.js";
export { startServer } from "./service/server.js";
export { CHUNK_RECORDS, DB_FILE, SCAN_BUDGET, Store } from "./store/store.js";
export type { RunStore, ServiceStore, SessionStore } from "./store/types.js";
export { ConflictError, ForbiddenError, LimitError, NotFoundError, UnavailableError } from "./service/types.js";
export type {
  ClassSessionService, ControlRequest, RecordQuery, RunAuth, RunInfo, RunListener, RunOwner, RunRequest, RunService, RunStatus,
  ServiceLimits, WalkthroughCatalog,
} from "./service/types.js";
export {
  checkAgainstVmm, definesFunction, FollowError, followWalkthrough, loadWalkthroughFile, loadWalkthroughs, REPO_ROOT,
  WALKTHROUGHS_DIR, WalkthroughFollower,
} from "./walkthroughs.js";
export type { FollowOptions, FollowResult, LoadedWalkthrough, LoadOptions, StepReached } from "./walkthroughs.js";
export { ClassSessions, loadWalkthroughCatalog, newJoinCode, NOT_TEACHER, tokenMatches } from "./service/sessions.js";
export type { SessionOptions } from "./service/sessions.js";
