// A Chrome trace written by ChromeTraceWriter, back into records, so that a trace someone saved
// for Perfetto can be replayed too. Exits, ioctls, markers and lost-record notes come back with
// their own `seq`; KVM statistics samples (drawn as counters, which carry no seq) are rebuilt
// from the counters at each timestamp and numbered after every other record.
import { CHROME_GUEST_SPAN, chromeTid } from "./chrome.js";
import type { ExitRecord, IoctlRecord, LostRecord, MarkerRecord, StatsRecord, ThreadName, TraceRecord } from "./codec.js";
import { exitReasonCode } from "./exit-reasons.js";
import { ioctlInfoByName } from "./ioctls.js";
import { MAIN_THREAD, STAT_NAMES, type StatName } from "./record-layout.js";
import { bySeq } from "./sorted.js";

interface ChromeEvent {
  name?: unknown;
  cat?: unknown;
  ph?: unknown;
  ts?: unknown;
  dur?: unknown;
  tid?: unknown;
  args?: Record<string, unknown>;
}

const MAIN_TID = chromeTid(MAIN_THREAD);

function threadOf(tid: number): ThreadName {
  return tid === MAIN_TID ? "main" : `vcpu${tid - chromeTid(0)}`;
}

/** Chrome's microseconds back to our nanoseconds (the writer divided by 1000). */
function ns(us: unknown): number {
  return Math.round(Number(us) * 1000);
}

function num(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isFinite(v)) throw new TypeError(`${what} is not a number`);
  return v;
}

const STAT_SET = new Set<string>(STAT_NAMES);

export function recordsFromChrome(doc: unknown): { run: Record<string, unknown>; records: TraceRecord[]; end: Record<string, unknown> } {
  if (typeof doc !== "object" || doc === null || !Array.isArray((doc as { traceEvents?: unknown }).traceEvents)) {
    throw new TypeError('a Chrome trace is a JSON object with a "traceEvents" array');
  }
  const events = (doc as { traceEvents: ChromeEvent[] }).traceEvents;
  const metadata = ((doc as { metadata?: Record<string, unknown> }).metadata ?? {}) as Record<string, unknown>;
  const records: TraceRecord[] = [];
  const stats = new Map<string, StatsRecord>();
  let maxSeq = -1;
  events.forEach((ev, i) => {
    const where = `traceEvents[${i}]`;
    const args = ev.args ?? {};
    const tid = typeof ev.tid === "number" ? ev.tid : MAIN_TID;
    if (ev.ph === "X" && ev.cat === "exit") {
      const { seq, code, guestNs, handleNs, ifFlag, readyForInjection, requestedWindow, rip, ...payload } = args;
      const rec = {
        type: "exit", seq: num(seq, `${where}.args.seq`), ts: ns(ev.ts), vcpu: tid - chromeTid(0),
        reason: String(ev.name), code: typeof code === "number" ? code : (exitReasonCode(String(ev.name)) ?? 0),
        rip: typeof rip === "string" ? Number.parseInt(rip, 16) : num(rip, `${where}.args.rip`),
        guestNs: num(guestNs, `${where}.args.guestNs`), handleNs: num(handleNs, `${where}.args.handleNs`),
        ifFlag: ifFlag === true, readyForInjection: readyForInjection === true, requestedWindow: requestedWindow === true,
        ...payload,
      } as ExitRecord;
      records.push(rec);
    } else if (ev.ph === "X" && ev.cat === "ioctl") {
      const name = String(ev.name);
      const { seq, fd, ret, errno, error: _error, ...rest } = args;
      const argNames = ioctlInfoByName(name)?.args ?? [];
      const named: Record<string, number> = {};
      for (const a of argNames) if (typeof rest[a] === "number") named[a] = rest[a] as number;
      const rec: IoctlRecord = {
        type: "ioctl", seq: num(seq, `${where}.args.seq`), ts: ns(ev.ts), thread: threadOf(tid), name,
        fd: num(fd, `${where}.args.fd`), args: named, ret: num(ret, `${where}.args.ret`), errno: num(errno, `${where}.args.errno`),
        durNs: ns(ev.dur),
      };
      records.push(rec);
    } else if (ev.ph === "i" && ev.cat === "marker") {
      const rec: MarkerRecord = { type: "marker", seq: num(args.seq, `${where}.args.seq`), ts: ns(ev.ts), thread: threadOf(tid), text: String(ev.name) };
      records.push(rec);
    } else if (ev.ph === "i" && ev.cat === "lost") {
      const rec: LostRecord = { type: "lost", seq: num(args.seq, `${where}.args.seq`), ts: ns(ev.ts), thread: threadOf(tid), count: num(args.count, `${where}.args.count`) };
      records.push(rec);
    } else if (ev.ph === "C" && ev.cat === "kvm_stats") {
      const vcpu = tid - chromeTid(0);
      const key = `${vcpu}@${String(ev.ts)}`;
      let rec = stats.get(key);
      if (!rec) {
        rec = { type: "stats", seq: 0, ts: ns(ev.ts), vcpu, counters: {} };
        stats.set(key, rec);
      }
      for (const [stat, value] of Object.entries(args)) if (STAT_SET.has(stat) && typeof value === "number") rec.counters[stat as StatName] = value;
    } else if (ev.ph === "X" && ev.name === CHROME_GUEST_SPAN) {
      // the guest half of an exit: its numbers are in the exit span
    }
  });
  for (const r of records) maxSeq = Math.max(maxSeq, r.seq);
  const samples = [...stats.values()].sort((a, b) => a.ts - b.ts);
  for (const s of samples) s.seq = ++maxSeq;
  records.push(...samples);
  records.sort(bySeq);
  return { run: { ...metadata, type: "run" }, records, end: { ...metadata, type: "end" } };
}
