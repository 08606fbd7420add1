// One animation-frame scheduler for every canvas on the page (Perfetto's
// ui/src/core/raf_scheduler.ts). A view asks for a redraw as often as it likes (each wheel event,
// each batch of records); all requests made before the next frame become one call per key in that
// frame, so a burst of 50 record batches costs one draw, and two canvases share one frame.

export type RedrawFn = (nowMs: number) => void;

const pending = new Map<unknown, RedrawFn>();
let frameHandle: number | ReturnType<typeof setTimeout> | null = null;
let frameIsRaf = false;

function requestFrame(): void {
  if (frameHandle !== null) return;
  // Looked up on each call rather than captured once, so that tests can install a fake frame clock.
  const raf = (globalThis as { requestAnimationFrame?: (cb: (t: number) => void) => number }).requestAnimationFrame;
  if (typeof raf === "function") {
    frameIsRaf = true;
    frameHandle = raf.call(globalThis, runFrame);
  } else {
    // Server rendering or a worker: no frames, but a redraw asked for must still happen.
    frameIsRaf = false;
    frameHandle = setTimeout(() => runFrame(Date.now()), 16);
  }
}

function runFrame(nowMs: number): void {
  frameHandle = null;
  flushRedraws(nowMs);
}

/**
 * Asks for `fn` to run in the next animation frame. Calls with the same `key` before then
 * coalesce: only the latest `fn` runs, once. Use the view object (or a ref) as the key.
 */
export function scheduleRedraw(key: unknown, fn: RedrawFn): void {
  pending.set(key, fn);
  requestFrame();
}

/** Forgets a redraw asked for with `key` (a view being unmounted). */
export function cancelRedraw(key: unknown): void {
  pending.delete(key);
  if (pending.size === 0 && frameHandle !== null) {
    const caf = (globalThis as { cancelAnimationFrame?: (h: number) => void }).cancelAnimationFrame;
    if (frameIsRaf && typeof caf === "function") caf.call(globalThis, frameHandle as number);
    else if (!frameIsRaf) clearTimeout(frameHandle as ReturnType<typeof setTimeout>);
    frameHandle = null;
  }
}

/** Whether a redraw is waiting for `key` (or any key when none is given). */
export function isRedrawPending(key?: unknown): boolean {
  return key === undefined ? pending.size > 0 : pending.has(key);
}

/**
 * Runs every waiting redraw now, in the order they were first asked for. A redraw that asks for
 * another (an animation) gets it in the next frame, not in this loop. One view's exception does
 * not cost the others their frame: it goes to `reportError` (the window's error event) instead.
 * Benchmarks and tests call this to draw synchronously.
 */
export function flushRedraws(nowMs: number = typeof performance !== "undefined" ? performance.now() : Date.now()): void {
  if (pending.size === 0) return;
  const batch = [...pending.values()];
  pending.clear();
  for (const fn of batch) {
    try {
      fn(nowMs);
    } catch (e) {
      const report = (globalThis as { reportError?: (e: unknown) => void }).reportError;
      if (typeof report === "function") report.call(globalThis, e);
      else console.error(e);
    }
  }
}
