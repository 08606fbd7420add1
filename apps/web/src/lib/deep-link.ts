// A run page's address says what to show: `/runs/<id>?seq=1204&view=exit` opens the run at record
// 1204 with the selected-exit panel in view; `?exit=12&vcpu=1` names "the 12th exit of vCPU 1"
// instead. `projector=1` and `lang=ja` are read by their own providers. Pure: parse and build.
import { RecordKind } from "@kvmscope/shared";
import type { TraceStore } from "./trace-store";

export const VIEWS = ["thread", "lifecycle", "timeline", "stats", "console", "exit", "kvm-run"] as const;
export type View = (typeof VIEWS)[number];

export interface DeepLink {
  /** A record's global sequence number. */
  seq?: number;
  /** The n-th exit (1-based) of `vcpu`, when no seq is given. */
  exit?: number;
  vcpu?: number;
  view?: View;
}

function wholeNumber(s: string | null, max: number): number | undefined {
  if (s === null || !/^\d{1,10}$/.test(s)) return undefined;
  const n = Number(s);
  return n <= max ? n : undefined;
}

/** What a query string asks for; anything malformed is ignored (a bad link still opens the run). */
export function parseDeepLink(search: string | URLSearchParams): DeepLink {
  const q = typeof search === "string" ? new URLSearchParams(search) : search;
  const link: DeepLink = {};
  const seq = wholeNumber(q.get("seq"), 0xffff_ffff);
  if (seq !== undefined) link.seq = seq;
  const exit = wholeNumber(q.get("exit"), 0xffff_ffff);
  if (exit !== undefined && exit >= 1) link.exit = exit;
  const vcpu = wholeNumber(q.get("vcpu"), 63);
  if (vcpu !== undefined) link.vcpu = vcpu;
  const view = q.get("view");
  if (view !== null && (VIEWS as readonly string[]).includes(view)) link.view = view as View;
  return link;
}

/**
 * The query string for a link (keeps other parameters such as lang and projector, but not this
 * page's own `slow`: a shared link must not start a second page pacing the run).
 */
export function buildDeepLink(link: DeepLink, keep?: URLSearchParams): string {
  const q = new URLSearchParams(keep);
  for (const k of ["seq", "exit", "vcpu", "view", "slow"]) q.delete(k);
  if (link.seq !== undefined) q.set("seq", String(link.seq));
  else if (link.exit !== undefined) {
    q.set("exit", String(link.exit));
    if (link.vcpu !== undefined) q.set("vcpu", String(link.vcpu));
  }
  if (link.view !== undefined) q.set("view", link.view);
  const s = q.toString();
  return s === "" ? "" : `?${s}`;
}

/** The seq of the n-th exit (1-based) of vCPU `vcpu` (any vCPU when undefined), or undefined if the store does not hold it yet. */
export function seqOfNthExit(store: TraceStore, n: number, vcpu?: number): number | undefined {
  // Rows of one thread arrive in order, so the n-th row of that thread is its n-th exit.
  const seqs: number[] = [];
  for (let row = 0; row < store.count; row++) {
    if (store.kind[row] !== RecordKind.Exit || (vcpu !== undefined && store.thread[row] !== vcpu)) continue;
    seqs.push(store.seq[row]!);
  }
  if (seqs.length < n) return undefined;
  seqs.sort((a, b) => a - b);
  return seqs[n - 1];
}
