"use client";
// The thread model: the kvmscope process (its main thread and one lane per vCPU thread), the
// kernel (/dev/kvm, KVM, the in-kernel irqchip when there is one), the guest and its vCPUs, and
// the device models. While single exits can be followed (step mode, a paused or scrubbed replay,
// a slow guest) the newest exit is animated in full: a token travels guest vCPU → KVM → vCPU
// thread → device → back into KVM_RUN, with a caption per stage. At higher rates the view shows
// exits per second and a heat colour per lane, device and path, refreshed a few times a second.
//
// Positions are computed by pure functions below (threadModelLayout, exitJourney, tokenAt);
// React draws the SVG.
//
// Highlight ids (the `highlight` prop; walkthroughs use the same):
//   "process"          the kvmscope process          "main"            its main thread
//   "vcpu<N>"          vCPU N's thread               "kernel"          the Linux kernel box
//   "dev-kvm"          /dev/kvm                      "kvm"             KVM
//   "kernel-irqchip"   the in-kernel PIC/IOAPIC/LAPIC and PIT (irqchip "kernel" only)
//   "guest"            the guest                     "guest-vcpu<N>"   vCPU N as the guest sees it
//   "devices"          the device models as a group  "dev:<id>"        one model: dev:uart, dev:pic,
//                      dev:pit, dev:post, dev:debugcon, dev:debug-exit, dev:mmio (lib/devices.ts)
import { memo, useEffect, useMemo, useRef, useState } from "react";
import { KvmExit, type ExitRecord } from "@kvmscope/shared";
import { activityAt, followsSingleExits, formatRate, heatLevel, newestExitAt, type Activity } from "../lib/activity";
import { reasonColor } from "../lib/colors";
import { formatAccessData } from "../lib/explain";
import { hex } from "../lib/format";
import { endsItsLoop, LOOP_ENDING_EXITS } from "../lib/kvm-run-view";
import { deviceOfExit, devicesFor, type DeviceId, type DeviceRef } from "../lib/devices";
import { defineMessages, translate, useLang, type Lang } from "../lib/i18n";
import { cancelRedraw, scheduleRedraw } from "../lib/raf";
import type { RunViewProps } from "../lib/view-props";
import styles from "./ThreadModel.module.css";

export interface ThreadModelProps extends RunViewProps {
  /** vCPUs in the run's configuration: one thread lane and one guest vCPU each. */
  vcpus: number;
  irqchip: "user" | "kernel";
  /** Parts to emphasise (ids in the module comment); the rest is dimmed. */
  highlight?: string[];
}

// ---------------------------------------------------------------------------------------------
// Layout (pure)

export interface Box {
  id: string;
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface ThreadModelLayout {
  width: number;
  height: number;
  /** Height of one vCPU row (lane, guest vCPU, KVM band). */
  rowH: number;
  process: Box;
  main: Box;
  /** vCPU n's thread lane at index n. */
  lanes: Box[];
  devicesBox: Box;
  devices: (Box & { device: DeviceId; name: string; short: string })[];
  kernel: Box;
  devKvm: Box;
  kvm: Box;
  /** The in-kernel irqchip (irqchip "kernel"), else null. */
  irqchip: Box | null;
  guest: Box;
  /** vCPU n inside the guest at index n. */
  guestVcpus: Box[];
}

const WIDTH = 820;
const TOP = 30; // below the column titles
const COL = {
  guest: { x: 8, w: 140 },
  kernel: { x: 164, w: 196 },
  process: { x: 376, w: 436 },
} as const;

/** Where every part of the thread model sits, for `vcpus` vCPUs (1-64). */
export function threadModelLayout(vcpus: number, irqchip: "user" | "kernel"): ThreadModelLayout {
  const n = Math.max(1, Math.min(64, Math.floor(vcpus)));
  const rowH = n <= 4 ? 34 : n <= 8 ? 26 : n <= 16 ? 18 : 12;
  const gap = n <= 16 ? 8 : 3;
  const mainH = 30;
  const laneX = COL.process.x + 12;
  const laneW = 228;
  const main: Box = { id: "main", x: laneX, y: TOP + 8, w: laneW, h: mainH };
  const y0 = main.y + mainH + 22;
  const rowY = (i: number): number => y0 + i * (rowH + gap);
  const rowsEnd = rowY(n - 1) + rowH;

  const lanes: Box[] = [];
  const guestVcpus: Box[] = [];
  for (let i = 0; i < n; i++) {
    lanes.push({ id: `vcpu${i}`, x: laneX, y: rowY(i), w: laneW, h: rowH });
    guestVcpus.push({ id: `guest-vcpu${i}`, x: COL.guest.x + 12, y: rowY(i), w: COL.guest.w - 24, h: rowH });
  }

  const devX = laneX + laneW + 20;
  const devW = COL.process.x + COL.process.w - 12 - devX;
  const devH = 28;
  const devGap = 6;
  const models = devicesFor(irqchip);
  const devices = models.map((d, i) => ({
    id: `dev:${d.id}`, device: d.id, name: d.name, short: d.short,
    x: devX + 8, y: TOP + 30 + i * (devH + devGap), w: devW - 16, h: devH,
  }));
  const devicesBox: Box = { id: "devices", x: devX, y: TOP + 8, w: devW, h: 30 + models.length * (devH + devGap) };

  const devKvm: Box = { id: "dev-kvm", x: COL.kernel.x + 12, y: main.y, w: COL.kernel.w - 24, h: mainH };
  const kvm: Box = { id: "kvm", x: COL.kernel.x + 12, y: y0 - 16, w: COL.kernel.w - 24, h: rowsEnd - y0 + 24 };
  const irq: Box | null = irqchip === "kernel"
    ? { id: "kernel-irqchip", x: COL.kernel.x + 12, y: kvm.y + kvm.h + 10, w: COL.kernel.w - 24, h: 40 }
    : null;

  const bottom = Math.max(rowsEnd + 8, kvm.y + kvm.h, irq ? irq.y + irq.h : 0, devicesBox.y + devicesBox.h) + 12;
  const colBox = (id: string, c: { x: number; w: number }): Box => ({ id, x: c.x, y: 4, w: c.w, h: bottom - 4 });
  return {
    width: WIDTH, height: bottom + 4, rowH,
    process: colBox("process", COL.process), main, lanes, devicesBox, devices,
    kernel: colBox("kernel", COL.kernel), devKvm, kvm, irqchip: irq,
    guest: colBox("guest", COL.guest), guestVcpus,
  };
}

// ---------------------------------------------------------------------------------------------
// One exit's journey (pure)

export type StageKey = "exit" | "return" | "dispatch" | "device" | "handle" | "enter" | "resume" | "stop";

export interface Point {
  x: number;
  y: number;
}

export interface Journey {
  seq: number;
  vcpu: number;
  code: number;
  device: DeviceRef | null;
  /** The token's waypoints; stage i runs from points[i] to points[i + 1]. */
  points: Point[];
  stages: StageKey[];
}


const center = (b: Box): Point => ({ x: b.x + b.w / 2, y: b.y + b.h / 2 });

/**
 * The path an exit takes through the layout: guest vCPU → KVM → thread → device → thread → KVM →
 * guest; for the thread's last exit (`lastOfLoop`: a final HLT) or a fatal one it stops at the thread.
 */
export function exitJourney(layout: ThreadModelLayout, exit: ExitRecord, lastOfLoop = false): Journey {
  const i = Math.min(Math.max(0, exit.vcpu), layout.lanes.length - 1);
  const lane = layout.lanes[i]!;
  const g = center(layout.guestVcpus[i]!);
  const rowY = lane.y + lane.h / 2;
  const k: Point = { x: layout.kvm.x + layout.kvm.w / 2, y: rowY };
  const th: Point = { x: lane.x + 36, y: rowY };
  const device = deviceOfExit(exit);
  const box = device !== null ? layout.devices.find((d) => d.device === device.id) : undefined;
  const base = { seq: exit.seq, vcpu: exit.vcpu, code: exit.code, device };
  if (lastOfLoop || LOOP_ENDING_EXITS.has(exit.code) || (exit.code !== KvmExit.IO && exit.code !== KvmExit.MMIO && !KNOWN_CONTINUE.has(exit.code))) {
    return { ...base, points: [g, k, th, th], stages: ["exit", "return", "stop"] };
  }
  if (device !== null) {
    // A device the layout does not draw (UNASSIGNED): the token goes to the devices' frame.
    const d = box !== undefined ? { x: box.x + 14, y: box.y + box.h / 2 } : { x: layout.devicesBox.x + 10, y: layout.devicesBox.y + 14 };
    return { ...base, points: [g, k, th, d, th, k, g], stages: ["exit", "return", "dispatch", "device", "enter", "resume"] };
  }
  return { ...base, points: [g, k, th, th, k, g], stages: ["exit", "return", "handle", "enter", "resume"] };
}

/** Exit reasons without a device after which the loop enters KVM_RUN again. */
const KNOWN_CONTINUE = new Set<number>([KvmExit.HLT, KvmExit.IRQ_WINDOW_OPEN, KvmExit.INTR]);

/** The token's place and stage at progress `p` (0..1) along a journey; every stage takes equal time. */
export function tokenAt(journey: Journey, p: number): Point & { stage: number } {
  const n = journey.stages.length;
  const clamped = Math.min(1, Math.max(0, p));
  const stage = Math.min(n - 1, Math.floor(clamped * n));
  const local = clamped * n - stage;
  const a = journey.points[stage]!;
  const b = journey.points[stage + 1] ?? a;
  return { x: a.x + (b.x - a.x) * local, y: a.y + (b.y - a.y) * local, stage };
}

/** Full journey time (~1.5 s): long enough to read a caption, short enough to step on. */
export const JOURNEY_MS = 1500;

// ---------------------------------------------------------------------------------------------
// Text

const messages = defineMessages({
  en: {
    title: "Thread model",
    process: "kvmscope process (userspace)",
    kernel: "Linux kernel",
    guest: "guest",
    main: "main thread",
    lane: "vCPU {n} thread",
    guestVcpu: "vCPU {n}",
    devKvm: "/dev/kvm",
    kvm: "KVM",
    irqchip: "in-kernel irqchip + PIT",
    devices: "device models",
    following: "following each exit",
    rates: "{rate} {rate|exit|exits}/s: showing rates",
    paused: "paused",
    waiting: "no exit yet",
    exitOf: "seq {seq}: {reason} on vCPU {n}",
    exit: "vCPU {n} leaves the guest: a VM exit ({reason})",
    return: "KVM cannot finish it inside the kernel, so KVM_RUN returns to vCPU thread {n}",
    dispatch: "the thread reads exit_reason from its kvm_run page and calls the {device} model",
    dispatchNone: "the thread reads exit_reason from its kvm_run page and looks for a device at that address",
    device: "{device} handles {detail}",
    handleHlt: "HLT: the thread lets the vCPU wait in userspace until an interrupt can wake it",
    handleWindow: "the guest can take an interrupt now: the thread injects it with KVM_INTERRUPT",
    handleIntr: "a signal kicked the thread out of KVM_RUN: it checks the control words (pause, step, stop)",
    handleOther: "vCPU thread {n} handles {reason}",
    enter: "vCPU thread {n} calls KVM_RUN again",
    resume: "the guest continues after the instruction that exited",
    resumeIrq: "the guest takes the interrupt: the vCPU enters its interrupt handler",
    stop: "{reason} ends the run: the thread leaves its loop",
    stopHlt: "HLT with interrupts off: nothing can wake vCPU {n}, so its thread leaves the loop and closes its vCPU",
    ioOut: "an OUT of {data} to port {port}",
    ioIn: "an IN from port {port}, answer {data}",
    mmioWrite: "a {len}-byte write of {data} at {addr}",
    mmioRead: "a {len}-byte read at {addr}, answer {data}",
    nothing: "no device is there: the bus reads 0xff and drops writes",
    diagram: "Thread model: the kvmscope process with its main thread and {n} vCPU {n|thread|threads}, the kernel with /dev/kvm and KVM, the guest, and the device models",
  },
  ja: {
    title: "スレッドモデル",
    process: "kvmscope プロセス（ユーザー空間）",
    kernel: "Linux カーネル",
    guest: "ゲスト",
    main: "メインスレッド",
    lane: "vCPU {n} スレッド",
    guestVcpu: "vCPU {n}",
    devKvm: "/dev/kvm",
    kvm: "KVM",
    irqchip: "カーネル内 irqchip + PIT",
    devices: "デバイスモデル",
    following: "exit を 1 件ずつ表示中",
    rates: "毎秒 {rate} 回の exit:頻度を表示中",
    paused: "一時停止中",
    waiting: "まだ exit はありません",
    exitOf: "seq {seq}:vCPU {n} の {reason}",
    exit: "vCPU {n} がゲストから抜ける:VM exit({reason})",
    return: "KVM はカーネル内で処理を完了できないため、KVM_RUN が vCPU スレッド {n} に戻る",
    dispatch: "スレッドが kvm_run ページの exit_reason を読み、{device} のモデルを呼ぶ",
    dispatchNone: "スレッドが kvm_run ページの exit_reason を読み、そのアドレスのデバイスを探す",
    device: "{device} が {detail}を処理する",
    handleHlt: "HLT:スレッドは割り込みで起こされるまで vCPU をユーザー空間で待たせる",
    handleWindow: "ゲストが割り込みを受け付けられる状態になった:スレッドが KVM_INTERRUPT で注入する",
    handleIntr: "シグナルで KVM_RUN から抜けた：スレッドは制御ワード（一時停止・ステップ・停止）を確認する",
    handleOther: "vCPU スレッド {n} が {reason} を処理する",
    enter: "vCPU スレッド {n} が再び KVM_RUN を呼ぶ",
    resume: "ゲストは exit した命令の次から実行を続ける",
    resumeIrq: "ゲストが割り込みを受け付け、vCPU は割り込みハンドラに入る",
    stop: "{reason} で実行が終わる:スレッドはループを抜ける",
    stopHlt: "割り込み禁止の HLT:vCPU {n} を起こせるものはないため、スレッドはループを抜けて vCPU を閉じる",
    ioOut: "ポート {port} への OUT:{data}",
    ioIn: "ポート {port} からの IN:応答 {data}",
    mmioWrite: "{addr} への {len} バイト書き込み:{data}",
    mmioRead: "{addr} からの {len} バイト読み出し:応答 {data}",
    nothing: "そこにデバイスはない:バスは読み出しに 0xff を返し、書き込みを捨てる",
    diagram: "スレッドモデル:メインスレッドと {n} 個の vCPU スレッドを持つ kvmscope プロセス、/dev/kvm と KVM を含むカーネル、ゲスト、デバイスモデル",
  },
});
type Key = keyof typeof messages.en;

/** What the device did with this exit, in words: "an OUT of 'H' (0x48) to port 0x3f8". */
export function exitDetail(exit: ExitRecord, lang: Lang): string {
  if (exit.io !== undefined) {
    const v = { port: hex(exit.io.port), data: formatAccessData(exit.io.data, exit.io.size, lang) };
    return translate(messages, lang, exit.io.direction === "out" ? "ioOut" : "ioIn", v);
  }
  if (exit.mmio !== undefined) {
    const v = { addr: hex(exit.mmio.addr), len: exit.mmio.len, data: formatAccessData(exit.mmio.data, exit.mmio.len, lang) };
    return translate(messages, lang, exit.mmio.isWrite ? "mmioWrite" : "mmioRead", v);
  }
  return "";
}

/** The caption of each stage of a journey, in order. */
export function stageCaptions(journey: Journey, exit: ExitRecord, lang: Lang): string[] {
  const n = journey.vcpu;
  const reason = exit.reason;
  const device = journey.device?.name ?? "";
  return journey.stages.map((stage) => {
    switch (stage) {
      case "exit": return translate(messages, lang, "exit", { n, reason });
      case "return": return translate(messages, lang, "return", { n });
      case "dispatch":
        return journey.device?.id === "unassigned"
          ? translate(messages, lang, "dispatchNone")
          : translate(messages, lang, "dispatch", { device: journey.device?.short ?? "" });
      case "device":
        return journey.device?.id === "unassigned"
          ? `${exitDetail(exit, lang)}: ${translate(messages, lang, "nothing")}`
          : translate(messages, lang, "device", { device, detail: exitDetail(exit, lang) });
      case "handle": {
        const key: Key = exit.code === KvmExit.HLT ? "handleHlt" : exit.code === KvmExit.IRQ_WINDOW_OPEN ? "handleWindow" : exit.code === KvmExit.INTR ? "handleIntr" : "handleOther";
        return translate(messages, lang, key, { n, reason });
      }
      case "enter": return translate(messages, lang, "enter", { n });
      case "resume": return translate(messages, lang, exit.code === KvmExit.IRQ_WINDOW_OPEN ? "resumeIrq" : "resume");
      case "stop": return translate(messages, lang, exit.code === KvmExit.HLT ? "stopHlt" : "stop", { reason, n });
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Hooks

/** Rates change with every batch; people read them a few times a second at most. */
const RATE_REFRESH_MS = 250;

/** `compute()` when `key` changes, but no more often than every `ms` (the last change always lands). */
function useThrottled<T>(compute: () => T, key: unknown, ms: number): T {
  const [value, setValue] = useState(compute);
  const latest = useRef(compute);
  latest.current = compute;
  const last = useRef(0);
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      last.current = performance.now();
      return;
    }
    const wait = Math.max(0, last.current + ms - performance.now());
    const id = setTimeout(() => {
      last.current = performance.now();
      setValue(latest.current());
    }, wait);
    return () => clearTimeout(id);
  }, [key, ms]);
  return value;
}

function usePrefersReducedMotion(): boolean {
  const [reduced, setReduced] = useState(false);
  useEffect(() => {
    if (typeof window === "undefined" || typeof window.matchMedia !== "function") return;
    const q = window.matchMedia("(prefers-reduced-motion: reduce)");
    setReduced(q.matches);
    const on = (e: MediaQueryListEvent): void => setReduced(e.matches);
    q.addEventListener("change", on);
    return () => q.removeEventListener("change", on);
  }, []);
  return reduced;
}

/**
 * 0..1 over JOURNEY_MS from when `seq` changes, a step per animation frame through the page's one
 * frame scheduler (lib/raf.ts); 1 at once with reduced motion.
 */
function useJourneyProgress(seq: number | null, reduced: boolean): number {
  const [progress, setProgress] = useState(0);
  useEffect(() => {
    if (seq === null) return;
    if (reduced) {
      setProgress(1);
      return;
    }
    const key = { journey: seq };
    const start = performance.now();
    // performance.now(), not the frame's argument: without requestAnimationFrame the scheduler
    // passes Date.now(), another clock.
    const tick = (): void => {
      const p = Math.min(1, (performance.now() - start) / JOURNEY_MS);
      setProgress(p);
      if (p < 1) scheduleRedraw(key, tick);
    };
    setProgress(0);
    scheduleRedraw(key, tick);
    return () => cancelRedraw(key);
  }, [seq, reduced]);
  return progress;
}

// ---------------------------------------------------------------------------------------------
// Drawing

interface DiagramProps {
  layout: ThreadModelLayout;
  lang: Lang;
  highlight: ReadonlySet<string>;
  /** Boxes go under the moving parts, labels over them (with a halo), so a path never hides a name. */
  layer: "box" | "label";
}

function BoxRect({ box, label, className, highlight, layer, labelAt = "middle", small }: {
  box: Box; label: string; className: string | undefined; highlight: ReadonlySet<string>; layer: "box" | "label";
  labelAt?: "top" | "middle"; small?: boolean;
}) {
  const hl = highlight.size === 0 ? undefined : highlight.has(box.id) ? styles.hl : styles.dim;
  const cls = [className, hl].filter(Boolean).join(" ");
  if (layer === "box") {
    return (
      <g className={cls} data-part={box.id}>
        <rect x={box.x} y={box.y} width={box.w} height={box.h} rx={4} />
      </g>
    );
  }
  const fontSize = small ? Math.min(11, Math.max(7, box.h * 0.6)) : 12;
  return (
    <g className={cls}>
      <text
        className={styles.label}
        x={box.x + 8}
        y={labelAt === "top" ? box.y + 16 : box.y + box.h / 2}
        dominantBaseline={labelAt === "top" ? "auto" : "central"}
        fontSize={fontSize}
      >
        {label}
      </text>
    </g>
  );
}

/** Everything that does not move: memoized on layout, language, highlight and layer only. */
const Diagram = memo(function Diagram({ layout, lang, highlight, layer }: DiagramProps) {
  const t = (k: Key, v?: Record<string, string | number>): string => translate(messages, lang, k, v);
  const small = layout.rowH < 20;
  const common = { highlight, layer };
  return (
    <g aria-hidden={layer === "label" ? undefined : "true"}>
      <BoxRect box={layout.guest} label={t("guest")} className={styles.column} labelAt="top" {...common} />
      <BoxRect box={layout.kernel} label={t("kernel")} className={styles.column} labelAt="top" {...common} />
      <BoxRect box={layout.process} label={t("process")} className={styles.column} labelAt="top" {...common} />
      {layer === "box" && (
        <>
          {/* the main thread opened /dev/kvm and made the VM through it */}
          <line className={styles.wire} x1={layout.main.x} y1={layout.main.y + layout.main.h / 2} x2={layout.devKvm.x + layout.devKvm.w} y2={layout.devKvm.y + layout.devKvm.h / 2} />
          {layout.lanes.map((lane, i) => {
            const y = lane.y + lane.h / 2;
            const g = layout.guestVcpus[i]!;
            return <line key={lane.id} className={styles.wire} x1={g.x + g.w} y1={y} x2={lane.x} y2={y} />;
          })}
        </>
      )}
      <BoxRect box={layout.devKvm} label={t("devKvm")} className={styles.kernelPart} {...common} />
      <BoxRect box={layout.kvm} label={t("kvm")} className={styles.kvm} labelAt="top" {...common} />
      {layout.irqchip !== null && <BoxRect box={layout.irqchip} label={t("irqchip")} className={styles.kernelPart} {...common} />}
      <BoxRect box={layout.main} label={t("main")} className={styles.lane} {...common} />
      {layout.lanes.map((lane, i) => (
        <BoxRect key={lane.id} box={lane} label={t("lane", { n: i })} className={styles.lane} small={small} {...common} />
      ))}
      {layout.guestVcpus.map((g, i) => (
        <BoxRect key={g.id} box={g} label={t("guestVcpu", { n: i })} className={styles.guestVcpu} small={small} {...common} />
      ))}
      <BoxRect box={layout.devicesBox} label={t("devices")} className={styles.devicesBox} labelAt="top" {...common} />
      {layout.devices.map((d) => (
        <g key={d.id}>
          {layer === "label" && <title>{d.name}</title>}
          <BoxRect box={d} label={d.short} className={styles.device} {...common} />
        </g>
      ))}
    </g>
  );
});

/** Rates and heat at high exit rates: redrawn only when the throttled activity changes. */
const Heat = memo(function Heat({ layout, activity }: { layout: ThreadModelLayout; activity: Activity }) {
  const rateText = (x: number, y: number, rate: number, key: string) => (
    <text key={key} className={styles.rate} x={x} y={y} textAnchor="end" dominantBaseline="central" fontSize={Math.min(11, Math.max(7, layout.rowH * 0.55))}>
      {formatRate(rate)}
    </text>
  );
  const out = [];
  for (let i = 0; i < layout.lanes.length; i++) {
    const rate = activity.vcpuRates.get(i) ?? 0;
    if (rate <= 0) continue;
    const lane = layout.lanes[i]!;
    const level = heatLevel(rate);
    const y = lane.y + lane.h / 2;
    const g = layout.guestVcpus[i]!;
    out.push(
      <g key={`lane${i}`}>
        <rect className={styles.heat} x={lane.x} y={lane.y} width={lane.w} height={lane.h} rx={4} style={{ fillOpacity: 0.1 + 0.6 * level }} />
        <rect className={styles.heat} x={layout.kvm.x} y={lane.y} width={layout.kvm.w} height={lane.h} style={{ fillOpacity: 0.05 + 0.45 * level }} />
        <line className={styles.hotWire} x1={g.x + g.w} y1={y} x2={lane.x} y2={y} style={{ strokeOpacity: 0.3 + 0.7 * level, strokeWidth: 1 + 3 * level }} />
        {rateText(lane.x + lane.w - 6, y, rate, "r")}
      </g>,
    );
  }
  for (const [key, rate] of activity.pathRates) {
    const [v, dev] = key.split(":");
    const lane = layout.lanes[Number(v)];
    const box = layout.devices.find((d) => d.device === dev);
    if (lane === undefined || box === undefined || rate <= 0) continue;
    const level = heatLevel(rate);
    out.push(
      <line key={`p${key}`} className={styles.hotWire} x1={lane.x + lane.w} y1={lane.y + lane.h / 2} x2={box.x} y2={box.y + box.h / 2}
        style={{ strokeOpacity: 0.3 + 0.7 * level, strokeWidth: 1 + 3 * level }} />,
    );
  }
  for (const d of layout.devices) {
    const rate = activity.deviceRates.get(d.device) ?? 0;
    if (rate <= 0) continue;
    out.push(
      <g key={d.id}>
        <rect className={styles.heat} x={d.x} y={d.y} width={d.w} height={d.h} rx={4} style={{ fillOpacity: 0.1 + 0.6 * heatLevel(rate) }} />
        {rateText(d.x + d.w - 6, d.y + d.h / 2, rate, "r")}
      </g>,
    );
  }
  return <g aria-hidden="true">{out}</g>;
});

function Token({ journey, progress, reduced }: { journey: Journey; progress: number; reduced: boolean }) {
  const at = tokenAt(journey, progress);
  const colour = reasonColor(journey.code);
  const travelled = journey.points.slice(0, at.stage + 1).concat([{ x: at.x, y: at.y }]);
  const all = journey.points.map((p) => `${p.x},${p.y}`).join(" ");
  return (
    <g aria-hidden="true">
      <polyline className={styles.journey} points={all} />
      <polyline className={styles.travelled} points={(reduced ? journey.points : travelled).map((p) => `${p.x},${p.y}`).join(" ")} style={{ stroke: colour }} />
      <circle className={styles.token} cx={at.x} cy={at.y} r={7} style={{ fill: colour }} />
    </g>
  );
}

// ---------------------------------------------------------------------------------------------

function ThreadModelView(props: ThreadModelProps) {
  const { store, version, cursorSeq, mode, paused, vcpus, irqchip, highlight } = props;
  const { lang } = useLang();
  const t = (k: Key, v?: Record<string, string | number>): string => translate(messages, lang, k, v);
  // A vCPU the configuration did not mention still gets a lane once a record names it.
  const lastSeen = store.vcpus.length === 0 ? -1 : store.vcpus[store.vcpus.length - 1]!;
  const laneCount = Math.max(vcpus, lastSeen + 1, 1);
  const layout = useMemo(() => threadModelLayout(laneCount, irqchip), [laneCount, irqchip]);
  // Keyed on the ids, so a caller passing a fresh array each render does not redraw the diagram.
  const highlightKey = (highlight ?? []).join("\n");
  const highlightSet = useMemo(() => new Set(highlightKey === "" ? [] : highlightKey.split("\n")), [highlightKey]);

  // Rates are throttled; the newest exit is not (step mode must show the step that just happened).
  const activity = useThrottled(() => activityAt(store, cursorSeq), `${version}:${cursorSeq}`, RATE_REFRESH_MS);
  const follow = followsSingleExits(mode, paused, activity.rate);
  const newestSeq = useMemo(() => (follow ? newestExitAt(store, cursorSeq) : null), [follow, store, version, cursorSeq]);
  const exit = useMemo(() => {
    if (newestSeq === null) return null;
    const row = store.rowOfSeq(newestSeq);
    if (row < 0) return null;
    const rec = store.record(row);
    return rec.type === "exit" ? rec : null;
  }, [store, newestSeq]);
  // Whether this exit was its thread's last is known once the thread's close has arrived.
  const last = exit !== null && endsItsLoop(store, store.rowOfSeq(exit.seq));
  const journey = useMemo(() => (exit !== null ? exitJourney(layout, exit, last) : null), [layout, exit, last]);
  const captions = useMemo(() => (journey !== null && exit !== null ? stageCaptions(journey, exit, lang) : []), [journey, exit, lang]);

  const reduced = usePrefersReducedMotion();
  const progress = useJourneyProgress(journey?.seq ?? null, reduced);
  const stage = journey !== null ? tokenAt(journey, progress).stage : -1;

  const status = paused ? t("paused") : follow ? t("following") : t("rates", { rate: formatRate(activity.rate).replace("/s", "") });
  return (
    <section
      className={`panel ${styles.panel}`}
      data-testid="thread-model"
      data-animating-seq={journey !== null ? String(journey.seq) : ""}
      data-following={follow ? "true" : "false"}
    >
      <h2>{t("title")}</h2>
      <p className={`small muted ${styles.status}`}>{status}</p>
      <svg
        className={styles.svg}
        viewBox={`0 0 ${layout.width} ${layout.height}`}
        role="img"
        aria-label={t("diagram", { n: layout.lanes.length })}
      >
        <Diagram layout={layout} lang={lang} highlight={highlightSet} layer="box" />
        {!follow && <Heat layout={layout} activity={activity} />}
        {follow && journey !== null && <Token journey={journey} progress={progress} reduced={reduced} />}
        <Diagram layout={layout} lang={lang} highlight={highlightSet} layer="label" />
      </svg>
      {follow && (
        journey !== null && exit !== null ? (
          <div className={styles.caption}>
            <p className="small mono" aria-live="polite">
              <button type="button" className={styles.exitButton} aria-pressed={props.selectedSeq === exit.seq} onClick={() => props.onSelect(exit.seq)}>
                {t("exitOf", { seq: exit.seq, reason: exit.reason, n: exit.vcpu })}
              </button>
            </p>
            <ol className={styles.stages}>
              {captions.map((c, i) => (
                <li key={i} className={reduced || i <= stage ? styles.reached : styles.ahead} aria-current={!reduced && i === stage ? "step" : undefined}>
                  {c}
                </li>
              ))}
            </ol>
          </div>
        ) : (
          <p className="small muted">{t("waiting")}</p>
        )
      )}
    </section>
  );
}

/**
 * The thread model panel (`data-testid="thread-model"`; `data-animating-seq` holds the seq of the
 * exit shown in full, or "" while rates are shown).
 */
export const ThreadModel = memo(ThreadModelView);
export default ThreadModel;

/** Every id the `highlight` prop understands for this layout (see the module comment). */
export function highlightIds(layout: ThreadModelLayout): string[] {
  return [
    layout.process.id, layout.main.id, ...layout.lanes.map((l) => l.id), layout.kernel.id, layout.devKvm.id, layout.kvm.id,
    ...(layout.irqchip ? [layout.irqchip.id] : []), layout.guest.id, ...layout.guestVcpus.map((g) => g.id),
    layout.devicesBox.id, ...layout.devices.map((d) => d.id),
  ];
}
