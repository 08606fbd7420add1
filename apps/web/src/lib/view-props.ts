// The props every panel of the run page is handed alike: the trace, where the reader is in it,
// and how the run is being watched. Each panel's props extend these (a panel that does not need
// one may take it as optional, so that the run page can pass them all as they are).
import type { TraceStore } from "./trace-store";

/**
 * How the run is being watched: live (records arrive as the guest runs), step (the run is driven
 * one exit at a time) or replay (a finished or imported trace, scrubbed back and forth).
 */
export type ViewMode = "live" | "step" | "replay";

export interface RunViewProps {
  /** The run's records. */
  store: TraceStore;
  /** store.version: a new value means new records (so memoised panels see appends). */
  version: number;
  /** Records with seq <= cursorSeq have happened; later ones are drawn faded or not at all. */
  cursorSeq: number;
  /** The record the reader selected, or null. */
  selectedSeq: number | null;
  /** Selects a record (null: clear the selection). */
  onSelect(seq: number | null): void;
  /** live, step or replay: see ViewMode. */
  mode: ViewMode;
  /** Whether the run is paused (its status is "paused"): views then follow single exits as in step mode. */
  paused: boolean;
}
