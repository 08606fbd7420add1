"use client";
// The timeline benchmark: builds a pio-loop-like trace of N records in the browser, the way the
// run page receives one (codec bytes appended to a TraceStore), and times the Timeline on it:
// the store build, the first draw at "whole run" (which also indexes every row), full redraws at
// that zoom, ten zoom steps and a pan. The figures go, as JSON text, into
// [data-testid="bench-result"] and onto window.__kvmscopeBench for the script that opens the page.
import { useEffect, useRef, useState } from "react";
import {
  encodeRecord, KvmExit, RECORD_SIZE, STAT_NAMES,
  type ExitRecord, type IoctlName, type IoctlRecord, type StatName, type TraceRecord,
} from "@kvmscope/shared";
import { TraceStore } from "../../lib/trace-store";
import { Timeline, type DrawStats, type TimelineHandle } from "../Timeline";

export const DEFAULT_RECORDS = 1_000_000;
export const MAX_RECORDS = 5_000_000;

/** `?n=` as a record count: an integer in 1..MAX_RECORDS, DEFAULT_RECORDS when absent or unreadable. */
export function clampRecordCount(raw: string | null | undefined): number {
  if (raw === null || raw === undefined || raw.trim() === "") return DEFAULT_RECORDS;
  const n = Math.floor(Number(raw));
  if (!Number.isFinite(n)) return DEFAULT_RECORDS;
  return Math.min(MAX_RECORDS, Math.max(1, n));
}

/** A small seeded generator (mulberry32): the same trace on every run of the benchmark. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface BuiltTrace {
  store: TraceStore;
  /** Making the record objects and encoding them to bytes (everything but appending), ms. */
  encodeMs: number;
  /** TraceStore.appendBytes, ms. */
  appendMs: number;
}

/**
 * A trace shaped like `kvmscope run pio-loop --vcpus 2`: the main thread's setup ioctls, each vCPU
 * thread's own, the release marker, then both vCPUs doing `out 0x80` about every 7 µs between
 * them (each KVM_RUN ~6.8 µs in the guest, ~4.9 µs of handling, now and then a slow one), a HLT
 * with a long wait in userspace now and then, and KVM's statistics for each vCPU every 20 ms.
 * Seq numbers follow time; rows arrive as the VMM's main thread drains the per-thread rings every
 * 5 ms (vCPU 0's batch, vCPU 1's, then its own), so rows are in time order per thread only.
 */
export function buildPioLoopTrace(n: number, seed = 1): BuiltTrace {
  const rnd = random(seed);
  const store = new TraceStore();
  const BATCH = 8192;
  const buf = new Uint8Array(BATCH * RECORD_SIZE);
  const view = new DataView(buf.buffer);
  let inBuf = 0;
  let appendMs = 0;
  const started = performance.now();
  let seq = 0;
  let made = 0;

  const flushBuf = () => {
    if (inBuf === 0) return;
    const t = performance.now();
    store.appendBytes(buf.subarray(0, inBuf * RECORD_SIZE));
    appendMs += performance.now() - t;
    inBuf = 0;
  };
  const emit = (recs: readonly TraceRecord[]) => {
    for (const r of recs) {
      encodeRecord(r, view, inBuf * RECORD_SIZE);
      if (++inBuf === BATCH) flushBuf();
    }
  };
  const ioctl = (thread: IoctlRecord["thread"], name: IoctlName, ts: number, durNs: number, args: Record<string, number>, ret: number): IoctlRecord =>
    ({ type: "ioctl", seq: seq++, ts, thread, name, fd: thread === "main" ? 19 : 25, args, ret, errno: 0, durNs });

  // Setup, in the order machine.ts issues it.
  const setup: TraceRecord[] = [];
  let ts = 7_094_202;
  const mainCalls: [IoctlName, Record<string, number>, number, number][] = [
    ["open", {}, 19, 80_000], ["KVM_GET_API_VERSION", {}, 12, 95_000],
    ["KVM_CHECK_EXTENSION", { cap: 66 }, 1024, 4_400], ["KVM_CHECK_EXTENSION", { cap: 74 }, 7, 2_100],
    ["KVM_CHECK_EXTENSION", { cap: 136 }, 1, 1_700], ["KVM_CHECK_EXTENSION", { cap: 203 }, 1, 1_500],
    ["KVM_GET_VCPU_MMAP_SIZE", {}, 12288, 5_000], ["KVM_GET_SUPPORTED_CPUID", { maxEntries: 256 }, 0, 140_000],
    ["KVM_CREATE_VM", { type: 0 }, 20, 480_000], ["KVM_SET_TSS_ADDR", { addr: 0xfffbd000 }, 0, 7_200],
    ["KVM_SET_IDENTITY_MAP_ADDR", { addr: 0xfffbc000 }, 0, 10_000],
    ["KVM_SET_USER_MEMORY_REGION", { slot: 0, guestPhysAddr: 0, memorySize: 16 << 20 }, 0, 115_000],
  ];
  for (const [name, args, ret, dur] of mainCalls) {
    setup.push(ioctl("main", name, ts, dur, args, ret));
    ts += dur + 60_000;
  }
  for (let v = 0; v < 2; v++) {
    let t = 328_530_848 + v * 1_900_000;
    const thread = `vcpu${v}` as const;
    const calls: [IoctlName, Record<string, number>, number, number][] = [
      ["KVM_CREATE_VCPU", { vcpuId: v }, 25 + v, 507_000], ["KVM_SET_CPUID2", { entries: 61 }, 0, 103_000],
      ["KVM_GET_SREGS", {}, 0, 13_000], ["KVM_SET_SREGS", { cr0: 0x60000010, efer: 0 }, 0, 21_600],
      ["KVM_SET_REGS", { rip: 0x7c00 }, 0, 9_000], ["KVM_GET_STATS_FD", {}, 27 + v, 40_000],
    ];
    for (const [name, args, ret, dur] of calls) {
      setup.push(ioctl(thread, name, t, dur, args, ret));
      t += dur + 250_000;
    }
  }
  setup.sort((a, b) => a.ts - b.ts);
  // Seq follows time across threads.
  seq = 0;
  for (const r of setup) r.seq = seq++;
  const release = 482_919_298;
  setup.push({ type: "marker", seq: seq++, ts: release, thread: "main", text: "all 2 vCPU thread(s) created their vCPU; releasing them (qemu_system_ready)" });
  const take = setup.slice(0, n);
  emit(take);
  made = take.length;

  // The exit loops. Each vCPU: KVM_RUN (guest) → exit at ts → handling → KVM_RUN ...
  const counters = [0, 0];
  // Each vCPU's next KVM_RUN stretch is drawn before its exit, so that handling ends exactly
  // where the next stretch in the guest begins.
  const nextGuest = [Math.round(6_400 + rnd() * 1_000), Math.round(6_400 + rnd() * 1_000)];
  const nextExit = [release + 170_000 + nextGuest[0]!, release + 173_500 + nextGuest[1]!];
  const pendingStats: TraceRecord[] = [];
  let nextStats = release + 214_000;
  let drainAt = release + 5_000_000;
  const perThread: TraceRecord[][] = [[], []];
  const io = { port: 0x80, size: 1, direction: "out" as const, count: 1, data: [0] };
  while (made < n) {
    // The earliest of: vCPU 0's next exit, vCPU 1's, the next stats sample, the next drain.
    const v = nextExit[0]! <= nextExit[1]! ? 0 : 1;
    const tExit = nextExit[v]!;
    if (drainAt <= tExit && drainAt <= nextStats) {
      for (const list of perThread) {
        emit(list);
        list.length = 0;
      }
      emit(pendingStats);
      pendingStats.length = 0;
      drainAt += 5_000_000;
      continue;
    }
    if (nextStats <= tExit) {
      for (let c = 0; c < 2 && made < n; c++) {
        const exits = counters[c]!;
        const values: Partial<Record<StatName, number>> = {};
        for (const s of STAT_NAMES) values[s] = 0;
        values.exits = exits;
        values.io_exits = exits;
        values.insn_emulation = exits * 2;
        pendingStats.push({ type: "stats", seq: seq++, ts: nextStats + c * 40_000, vcpu: c, counters: values });
        made++;
      }
      nextStats += 20_000_000;
      continue;
    }
    const guestNs = nextGuest[v]!;
    const halt = rnd() < 1 / 2_000;
    // A vCPU's KVM_RUN starts when its previous handling ended; the guest then runs `guestNs`.
    const r = rnd();
    const handleNs = halt ? Math.round(100_000 + rnd() * 400_000) : r < 0.005 ? Math.round(40_000 + rnd() * 110_000) : Math.round(4_400 + rnd() * 1_000);
    const rec: ExitRecord = halt
      ? { type: "exit", seq: seq++, ts: tExit, vcpu: v, reason: "KVM_EXIT_HLT", code: KvmExit.HLT, rip: 0x7c06, guestNs, handleNs, ifFlag: true, readyForInjection: true, requestedWindow: false }
      : { type: "exit", seq: seq++, ts: tExit, vcpu: v, reason: "KVM_EXIT_IO", code: KvmExit.IO, rip: 0x7c04, guestNs, handleNs, ifFlag: false, readyForInjection: false, requestedWindow: false, io };
    perThread[v]!.push(rec);
    counters[v]!++;
    made++;
    nextGuest[v] = Math.round(6_400 + rnd() * 1_000);
    nextExit[v] = tExit + handleNs + nextGuest[v]!;
  }
  for (const list of perThread) emit(list);
  emit(pendingStats);
  flushBuf();
  return { store, encodeMs: performance.now() - started - appendMs, appendMs };
}

interface StepFigure {
  step: number;
  viewMs: number;
  drawMs: number;
  records: number;
  visited: number;
}

export interface BenchResult {
  n: number;
  records: number;
  exits: number;
  lanes: number;
  canvasCssWidth: number;
  devicePixelRatio: number;
  userAgent: string;
  build: { encodeMs: number; appendMs: number; totalMs: number };
  firstDraw: { drawMs: number; indexMs: number; rasterMs: number; records: number; visited: number };
  fitRedraw: { medianMs: number; minMs: number; maxMs: number; rasterMedianMs: number; records: number; visited: number };
  zoomSteps: StepFigure[];
  pan: { drawMs: number; records: number; visited: number };
  unchangedRedrawMs: number;
}

const round = (x: number) => Math.round(x * 100) / 100;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
};

/** Waits for the browser to lay out and paint (two frames). */
function frames(k = 2): Promise<void> {
  return new Promise((resolve) => {
    const step = (left: number) => (left === 0 ? resolve() : requestAnimationFrame(() => step(left - 1)));
    step(k);
  });
}

/** `nParam`: the page's `?n=`, clamped by clampRecordCount. */
export function TimelineBench({ nParam }: { nParam?: string | null }) {
  const n = clampRecordCount(nParam);
  const [store, setStore] = useState<TraceStore | null>(null);
  const [state, setState] = useState<"building" | "drawing" | "done" | "error">("building");
  const [text, setText] = useState("");
  const [selected, setSelected] = useState<number | null>(null);
  const handle = useRef<TimelineHandle>(null);
  const build = useRef<{ encodeMs: number; appendMs: number; totalMs: number } | null>(null);
  const rootRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    let live = true;
    // After a first paint, so the page says what it is doing while the trace is built.
    const id = setTimeout(() => {
      const t = performance.now();
      const built = buildPioLoopTrace(n);
      build.current = { encodeMs: round(built.encodeMs), appendMs: round(built.appendMs), totalMs: round(performance.now() - t) };
      if (live) {
        setStore(built.store);
        setState("drawing");
      }
    }, 30);
    return () => {
      live = false;
      clearTimeout(id);
    };
  }, [n]);

  // The measuring run for a store, once: React's development double effects must not start a
  // second run that interleaves its zooms with the first (or finds the rows already indexed).
  const measured = useRef<TraceStore | null>(null);
  useEffect(() => {
    if (store === null || measured.current === store) return;
    measured.current = store;
    (async () => {
      // No frame may pass before the first draw: it must be the one that indexes every row.
      const h = handle.current;
      const canvas = rootRef.current?.querySelector("canvas") ?? null;
      if (h === null || canvas === null) throw new Error("the timeline did not mount");
      const ctx = canvas.getContext("2d");
      // Reading one pixel back makes the browser finish rasterising what was drawn, so the
      // "raster" figures include the canvas's own work, not only the JavaScript that issued it.
      const raster = (f: () => DrawStats) => {
        const t = performance.now();
        const s = f();
        ctx?.getImageData(0, 0, 1, 1);
        return { s, ms: performance.now() - t };
      };
      h.fit();
      const first = raster(() => h.drawNow());
      await frames(1);
      const fits: number[] = [];
      const fitRaster: number[] = [];
      let fitStats = first.s;
      for (let i = 0; i < 7; i++) {
        const r = raster(() => h.drawNow());
        fits.push(r.s.drawMs);
        fitRaster.push(r.ms);
        fitStats = r.s;
        await frames(1);
      }
      const zoomSteps: StepFigure[] = [];
      for (let i = 1; i <= 10; i++) {
        h.zoom(2, 0.4);
        const s = h.drawNow();
        const v = h.view();
        zoomSteps.push({ step: i, viewMs: round(v === null ? 0 : (v.end - v.start) / 1e6), drawMs: round(s.drawMs), records: s.records, visited: s.visited });
        await frames(1);
      }
      h.pan(0.5);
      const pan = h.drawNow();
      await frames(1);
      // A frame with nothing new (a re-render, a hover) must cost next to nothing.
      const unchanged = h.drawNow(false);
      h.fit();
      h.drawNow();
      const result: BenchResult = {
        n,
        records: store.count,
        exits: store.exitCount,
        lanes: store.lanes().length,
        canvasCssWidth: canvas.clientWidth,
        devicePixelRatio: window.devicePixelRatio,
        userAgent: navigator.userAgent,
        build: build.current ?? { encodeMs: 0, appendMs: 0, totalMs: 0 },
        firstDraw: { drawMs: round(first.s.drawMs), indexMs: round(first.s.indexMs), rasterMs: round(first.ms), records: first.s.records, visited: first.s.visited },
        fitRedraw: { medianMs: round(median(fits)), minMs: round(Math.min(...fits)), maxMs: round(Math.max(...fits)), rasterMedianMs: round(median(fitRaster)), records: fitStats.records, visited: fitStats.visited },
        zoomSteps,
        pan: { drawMs: round(pan.drawMs), records: pan.records, visited: pan.visited },
        unchangedRedrawMs: round(unchanged.drawMs),
      };
      (window as unknown as { __kvmscopeBench?: BenchResult }).__kvmscopeBench = result;
      setText(JSON.stringify(result, null, 2));
      setState("done");
    })().catch((e: unknown) => {
      setText(e instanceof Error ? e.message : String(e));
      setState("error");
    });
  }, [store, n]);

  return (
    <main ref={rootRef} style={{ padding: "var(--gap)", display: "flex", flexDirection: "column", gap: "var(--gap)" }}>
      <h1 style={{ fontSize: "var(--fs-big)", margin: 0 }}>Timeline benchmark: {n.toLocaleString("en-US")} records</h1>
      <p className="muted small" style={{ margin: 0 }}>
        {state === "building" ? "Building the trace…" : state === "drawing" ? "Drawing…" : state === "done" ? "Done." : "Failed."}
      </p>
      {store !== null && (
        <Timeline
          store={store} version={store.version} cursorSeq={store.maxSeq} selectedSeq={selected} onSelect={setSelected}
          mode="replay" follow={false} handleRef={handle}
        />
      )}
      <pre data-testid="bench-result" data-state={state} className="panel small" style={{ margin: 0, whiteSpace: "pre-wrap" }}>
        {text}
      </pre>
    </main>
  );
}
