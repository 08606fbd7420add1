"use client";
// The Timeline: one lane per thread (the main thread, then each vCPU), time running left to right.
// On a vCPU lane a green band is time in the guest (inside KVM_RUN), a grey one is userspace
// handling an exit, and each exit is a tick in its reason's colour. Ioctls are slices on the lane
// of the thread that made them, markers are flags, lost records red marks.
//
// A run of a million records is drawn on one canvas (Perfetto's slice tracks): the model
// (lib/timeline-model.ts) keeps per-lane indexes, culls to the visible window and, when there are
// more exits than pixels, sums them per pixel column. Every redraw goes through the one
// requestAnimationFrame scheduler (lib/raf.ts) and is skipped when nothing it draws has changed.
// React draws the labels, toolbar and tooltip; the canvas draws only the lanes.
import { memo, useCallback, useEffect, useImperativeHandle, useMemo, useRef, useState, type KeyboardEvent, type PointerEvent, type ReactNode, type Ref } from "react";
import { ioctlName, RecordKind, type TraceRecord } from "@kvmscope/shared";
import { KIND_COLORS, reasonColor } from "../lib/colors";
import { formatNs, hex } from "../lib/format";
import { formatAccessData, markerText } from "../lib/explain";
import { defineMessages, useLang, useT, type Lang } from "../lib/i18n";
import { cancelRedraw, scheduleRedraw } from "../lib/raf";
import { TimeScale, formatTimestamp, type TimeSpan } from "../lib/time-scale";
import { bucketExits, exitsView, hitTest, rowSpan, separateLabels, TimelineModel, visibleRange, type ExitBuckets, type RowIndex, type TimelineLabel } from "../lib/timeline-model";
import { laneOfThread, type TraceStore } from "../lib/trace-store";
import type { RunViewProps } from "../lib/view-props";
import styles from "./Timeline.module.css";

export const timelineMessages = defineMessages({
  en: {
    title: "Timeline",
    main: "Main thread",
    vcpu: "vCPU {n}",
    zoomIn: "Zoom in",
    zoomOut: "Zoom out",
    fit: "Whole run",
    fitExits: "The exits",
    startup: "start-up until the first KVM_RUN (/dev/kvm, the VM, its vCPU threads) · {d}",
    follow: "Follow the newest",
    hint: "Wheel: zoom · drag: pan · double-click: whole run · click: select",
    canvas: "Timeline of {lanes} threads. Wheel or + and - zoom, drag or the arrow keys pan, 0 shows the whole run, a click selects the record under the mouse.",
    empty: "No records yet.",
    legendGuest: "in the guest (KVM_RUN)",
    legendHandle: "handling in userspace",
    legendIoctl: "ioctl",
    legendMarker: "marker",
    legendLost: "lost records",
    seq: "seq",
    thread: "Thread",
    time: "Time",
    guest: "Time in guest",
    handling: "Handling time",
    port: "Port",
    addr: "Address",
    data: "Data",
    duration: "Duration",
    result: "Result",
    text: "Text",
    read: "read",
    write: "write",
    marker: "Marker",
    lost: "{count} {count|record|records} lost",
    unknownKind: "a record of kind {kind}, unknown to this version",
    afterCursor: "Not yet reached at the cursor.",
  },
  ja: {
    title: "タイムライン",
    main: "メインスレッド",
    vcpu: "vCPU {n}",
    zoomIn: "拡大",
    zoomOut: "縮小",
    fit: "全体を表示",
    fitExits: "exit の範囲",
    startup: "最初の KVM_RUN までの起動 (/dev/kvm・VM・vCPU スレッドの作成) · {d}",
    follow: "最新に追従",
    hint: "ホイール: 拡大縮小 · ドラッグ: 移動 · ダブルクリック: 全体表示 · クリック: 選択",
    canvas: "{lanes} 本のスレッドのタイムライン。ホイールまたは + と - で拡大縮小、ドラッグまたは矢印キーで移動、0 で全体を表示、クリックでマウス位置のレコードを選択します。",
    empty: "まだレコードがありません。",
    legendGuest: "ゲスト実行中 (KVM_RUN)",
    legendHandle: "ユーザー空間で処理中",
    legendIoctl: "ioctl",
    legendMarker: "マーカー",
    legendLost: "失われたレコード",
    seq: "seq",
    thread: "スレッド",
    time: "時刻",
    guest: "ゲスト内の時間",
    handling: "処理時間",
    port: "ポート",
    addr: "アドレス",
    data: "データ",
    duration: "所要時間",
    result: "結果",
    text: "テキスト",
    read: "読み出し",
    write: "書き込み",
    marker: "マーカー",
    lost: "{count} 件のレコードが失われました",
    unknownKind: "このバージョンが知らない種類 {kind} のレコード",
    afterCursor: "カーソル位置ではまだ起きていません。",
  },
});

/** `paused` is not drawn: it is accepted so that the run page can pass the shared view props as they are. */
export interface TimelineProps extends Omit<RunViewProps, "paused">, Partial<Pick<RunViewProps, "paused">> {
  /** Keep the newest time in view while the reader has not zoomed or panned away. */
  follow: boolean;
  /** Total height in CSS px; by default each lane gets a fixed height. */
  height?: number;
  /** For benchmarks and tests: drive the view and draw synchronously. */
  handleRef?: Ref<TimelineHandle>;
}

/** What one draw cost and showed. */
export interface DrawStats {
  /** The whole draw, ms (including `indexMs`). */
  drawMs: number;
  /** Indexing rows that arrived since the previous draw, ms. */
  indexMs: number;
  /** Records represented: individually or inside a per-pixel bucket. */
  records: number;
  /** Rows read to draw them. */
  visited: number;
  /** True when nothing had changed and the canvas was left as it was. */
  skipped: boolean;
}

export interface TimelineHandle {
  fit(): void;
  /** Zooms by `factor` (> 1 in) about a point at `atFraction` of the width (default the middle). */
  zoom(factor: number, atFraction?: number): void;
  /** Pans by a fraction of the visible width (positive: later). */
  pan(fraction: number): void;
  view(): TimeSpan | null;
  /** Draws now instead of in the next frame; `force` false skips the draw when nothing changed, as a frame would. */
  drawNow(force?: boolean): DrawStats;
}

const AXIS_H = 24;
const LANE_H = 40;
const MIN_LANE_H = 22;
/** A label is drawn only where it has this many CSS px to itself. */
const LABEL_MIN_PX = 40;
/** Individual exits are drawn while each has at least this many px on average; buckets below. */
const FINE_PX_PER_EXIT = 3;
const HIT_RADIUS_PX = 5;
const WHEEL_ZOOM_PER_PX = 0.0015;
const KEY_ZOOM = 1.5;

interface Theme {
  fg: string;
  muted: string;
  border: string;
  panel: string;
  panel2: string;
  accent: string;
  bad: string;
  mono: string;
  fsSmall: number;
}

function readTheme(el: Element): Theme {
  const cs = getComputedStyle(el);
  const v = (name: string, fallback: string) => cs.getPropertyValue(name).trim() || fallback;
  return {
    fg: v("--fg", "#e2e8f0"),
    muted: v("--muted", "#94a3b8"),
    border: v("--border", "#263454"),
    panel: v("--panel", "#111c33"),
    panel2: v("--panel-2", "#16223d"),
    accent: v("--accent", "#38bdf8"),
    bad: v("--bad", KIND_COLORS.lost),
    mono: v("--mono", "monospace"),
    fsSmall: parseFloat(v("--fs-small", "12")) || 12,
  };
}

/** Mutable per-instance state of the canvas: what React does not need to see. */
interface DrawState {
  scale: TimeScale | null;
  /** Showing the whole run, or its exits (`whole` false), and keeps doing so as it grows. */
  fitted: boolean;
  /** The fitted view is the whole run, start-up included (else it opens on the exits). */
  whole: boolean;
  /** The start-up band's label for a duration. */
  startupLabel: (ns: number) => string;
  /** Padded extent of the run at the last draw: where zoom and pan may go. */
  extent: TimeSpan;
  cssW: number;
  /** The model generation the view was made for: a new run starts at "whole run" again. */
  generation: number;
  themeStamp: number;
  lastSig: string;
  lastStats: DrawStats;
  buckets: Map<number, { version: number; b: ExitBuckets }>;
  props: { store: TraceStore; cursorSeq: number; selectedSeq: number | null; mode: TimelineProps["mode"]; following: boolean; lanes: number[]; laneH: number; lang: Lang };
}

interface Hover {
  row: number;
  x: number;
  y: number;
}

function TimelineView({ store, version, cursorSeq, selectedSeq, onSelect, mode, follow, height, handleRef }: TimelineProps) {
  const t = useT(timelineMessages);
  const { lang } = useLang();
  const model = useMemo(() => new TimelineModel(), []);
  const rootRef = useRef<HTMLElement>(null);
  const plotRef = useRef<HTMLDivElement>(null);
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const [detached, setDetached] = useState(false);
  const [hover, setHover] = useState<Hover | null>(null);
  const [dragging, setDragging] = useState(false);
  const drag = useRef<{ x: number; scale: TimeScale; moved: boolean; id: number } | null>(null);

  // `version` stands for the store's contents: lanes appear as threads do.
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const lanes = useMemo(() => store.lanes(), [store, version]);
  const laneH = height !== undefined ? Math.max(MIN_LANE_H, (height - AXIS_H) / Math.max(1, lanes.length)) : LANE_H;
  const cssH = Math.round(AXIS_H + lanes.length * laneH);
  const following = follow && !detached;

  const stRef = useRef<DrawState | null>(null);
  if (stRef.current === null) {
    stRef.current = {
      scale: null,
      fitted: true,
      whole: false,
      startupLabel: () => "",
      extent: { start: 0, end: 0 },
      cssW: 0,
      generation: -1,
      themeStamp: 0,
      lastSig: "",
      lastStats: { drawMs: 0, indexMs: 0, records: 0, visited: 0, skipped: true },
      buckets: new Map(),
      props: { store, cursorSeq, selectedSeq, mode, following, lanes, laneH, lang },
    };
  }
  const st = stRef.current;
  st.startupLabel = (ns: number) => t("startup", { d: formatNs(ns) });

  const draw = useCallback(
    (force: boolean): DrawStats => {
      const canvas = canvasRef.current;
      const root = rootRef.current;
      if (canvas === null || root === null || st.cssW <= 0) return st.lastStats;
      const started = performance.now();
      // A forced draw (the benchmark, a test) recomputes everything, the buckets included.
      if (force) st.buckets.clear();
      const p = st.props;
      model.update(p.store);
      const indexMs = performance.now() - started;
      const w = st.cssW;
      const h = Math.round(AXIS_H + p.lanes.length * p.laneH);
      const scale = resolveScale(st, model, p.store, w, p.following);
      const dpr = window.devicePixelRatio || 1;
      const sig = `${model.version}|${scale.start}|${scale.end}|${w}|${h}|${dpr}|${p.cursorSeq}|${p.selectedSeq}|${p.mode}|${st.themeStamp}|${p.lanes.join(",")}|${p.lang}`;
      if (!force && sig === st.lastSig) {
        st.lastStats = { ...st.lastStats, skipped: true, drawMs: performance.now() - started, indexMs };
        return st.lastStats;
      }
      const bw = Math.max(1, Math.round(w * dpr));
      const bh = Math.max(1, Math.round(h * dpr));
      if (canvas.width !== bw) canvas.width = bw;
      if (canvas.height !== bh) canvas.height = bh;
      const ctx = canvas.getContext("2d");
      if (ctx === null) return st.lastStats;
      const startup = Number.isFinite(model.exitsStart) && model.exitsStart > model.minTs
        ? { start: model.minTs, end: model.exitsStart, label: st.startupLabel(model.exitsStart - model.minTs) }
        : null;
      const painted = paint(ctx, {
        store: p.store, model, scale, lanes: p.lanes, laneH: p.laneH, w, h, dpr: bw / w, startup,
        theme: readTheme(root), cursorTs: cursorTime(p.store, p.cursorSeq), selectedRow: p.selectedSeq === null ? -1 : p.store.rowOfSeq(p.selectedSeq),
        buckets: st.buckets, lang: p.lang,
      });
      st.lastSig = sig;
      const drawMs = performance.now() - started;
      st.lastStats = { drawMs, indexMs, records: painted.records, visited: painted.visited, skipped: false };
      // Read by tests and the benchmark page; set here, not through React, so that a draw never re-renders.
      canvas.dataset.drawnRecords = String(painted.records);
      canvas.dataset.viewStart = String(scale.start);
      canvas.dataset.viewEnd = String(scale.end);
      canvas.dataset.drawMs = drawMs.toFixed(2);
      canvas.dataset.indexMs = indexMs.toFixed(2);
      canvas.dataset.visitedRows = String(painted.visited);
      canvas.dataset.viewStart = String(scale.start);
      canvas.dataset.viewEnd = String(scale.end);
      return st.lastStats;
    },
    [model, st],
  );

  const requestDraw = useCallback(() => scheduleRedraw(st, () => draw(false)), [st, draw]);

  useEffect(() => {
    st.props = { store, cursorSeq, selectedSeq, mode, following, lanes, laneH, lang };
    requestDraw();
  }, [st, requestDraw, store, version, cursorSeq, selectedSeq, mode, following, lanes, laneH, lang]);

  useEffect(() => {
    // The run page turning following back on (its own "follow" button) re-attaches the view too.
    if (follow) setDetached(false);
  }, [follow]);

  useEffect(() => {
    const plot = plotRef.current;
    if (plot === null) return;
    st.cssW = plot.clientWidth;
    requestDraw();
    const ro = new ResizeObserver((entries) => {
      const e = entries[entries.length - 1];
      if (e === undefined) return;
      const w = Math.floor(e.contentRect.width);
      if (w !== st.cssW) {
        st.cssW = w;
        requestDraw();
      }
    });
    ro.observe(plot);
    // Projector mode and theme changes swap the custom properties the canvas reads.
    const mo = new MutationObserver(() => {
      st.themeStamp++;
      requestDraw();
    });
    mo.observe(document.documentElement, { attributes: true, attributeFilter: ["data-projector", "class", "style", "data-theme"] });
    return () => {
      ro.disconnect();
      mo.disconnect();
      cancelRedraw(st);
    };
  }, [st, requestDraw]);

  /** Shows `s`: the reader moved the view, so it stops showing the whole run and stops following. */
  const moveTo = useCallback(
    (s: TimeScale) => {
      st.scale = s.clamp(st.extent);
      st.fitted = false;
      if (st.props.following) {
        st.props = { ...st.props, following: false };
        setDetached(true);
      }
      requestDraw();
    },
    [st, requestDraw],
  );

  const fit = useCallback(() => {
    st.fitted = true;
    st.whole = true;
    setDetached(false);
    requestDraw();
  }, [st, requestDraw]);
  const fitExits = useCallback(() => {
    st.fitted = true;
    st.whole = false;
    setDetached(false);
    requestDraw();
  }, [st, requestDraw]);

  const zoomBy = useCallback(
    (factor: number, px?: number) => {
      if (st.scale === null) return;
      moveTo(st.scale.zoom(factor, px ?? st.scale.width / 2));
    },
    [st, moveTo],
  );

  const panBy = useCallback(
    (dpx: number) => {
      if (st.scale === null) return;
      moveTo(st.scale.pan(dpx));
    },
    [st, moveTo],
  );

  const reattach = useCallback(() => {
    setDetached(false);
  }, []);

  // A record selected elsewhere (the exit list, a deep link) and out of view: bring it into view.
  useEffect(() => {
    if (selectedSeq === null) return;
    const row = store.rowOfSeq(selectedSeq);
    const s = st.scale;
    if (row < 0 || s === null || st.fitted) return;
    // Clicking the record's guest band selects it with its tick off screen: that is in view enough.
    const span = rowSpan(store, row);
    if (span.end < s.start || span.start > s.end) moveTo(s.centreOn(span.at));
    // Only a new selection moves the view; new records arriving must not.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [selectedSeq]);

  useEffect(() => {
    const canvas = canvasRef.current;
    if (canvas === null) return;
    // React's wheel listeners are passive: the page would scroll as well as the timeline zoom.
    const onWheel = (e: WheelEvent) => {
      if (st.scale === null) return;
      e.preventDefault();
      const unit = e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? canvas.clientWidth : 1;
      const x = e.offsetX;
      if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
        panBy((e.shiftKey && e.deltaX === 0 ? e.deltaY : e.deltaX) * unit);
      } else {
        zoomBy(Math.exp(-e.deltaY * unit * WHEEL_ZOOM_PER_PX), x);
      }
    };
    canvas.addEventListener("wheel", onWheel, { passive: false });
    return () => canvas.removeEventListener("wheel", onWheel);
  }, [st, panBy, zoomBy]);

  const pick = useCallback(
    (x: number, y: number): number => {
      const s = st.scale;
      if (s === null || y < AXIS_H) return -1;
      const lane = st.props.lanes[Math.floor((y - AXIS_H) / st.props.laneH)];
      if (lane === undefined) return -1;
      return hitTest(st.props.store, model, lane, s.toNs(x), s.nsPerPx, HIT_RADIUS_PX);
    },
    [st, model],
  );

  const onPointerDown = (e: PointerEvent<HTMLCanvasElement>) => {
    if (e.button !== 0 || st.scale === null) return;
    e.currentTarget.setPointerCapture(e.pointerId);
    drag.current = { x: e.nativeEvent.offsetX, scale: st.scale, moved: false, id: e.pointerId };
  };
  const onPointerMove = (e: PointerEvent<HTMLCanvasElement>) => {
    const x = e.nativeEvent.offsetX;
    const y = e.nativeEvent.offsetY;
    const d = drag.current;
    if (d !== null) {
      const dx = x - d.x;
      if (!d.moved && Math.abs(dx) < 3) return;
      if (!d.moved) {
        d.moved = true;
        setDragging(true);
        setHover(null);
      }
      moveTo(d.scale.pan(-dx));
      return;
    }
    const row = pick(x, y);
    if (row >= 0) setHover({ row, x, y });
    else if (hover !== null) setHover(null);
  };
  const endDrag = (e: PointerEvent<HTMLCanvasElement>, click: boolean) => {
    const d = drag.current;
    if (d === null) return;
    drag.current = null;
    setDragging(false);
    if (e.currentTarget.hasPointerCapture(d.id)) e.currentTarget.releasePointerCapture(d.id);
    if (click && !d.moved) {
      const row = pick(e.nativeEvent.offsetX, e.nativeEvent.offsetY);
      if (row >= 0) onSelect(st.props.store.seq[row]!);
    }
  };
  const onKeyDown = (e: KeyboardEvent<HTMLCanvasElement>) => {
    const s = st.scale;
    if (s === null) return;
    const step = s.width * (e.shiftKey ? 0.5 : 0.1);
    switch (e.key) {
      case "+":
      case "=":
        zoomBy(KEY_ZOOM);
        break;
      case "-":
      case "_":
        zoomBy(1 / KEY_ZOOM);
        break;
      case "0":
        fit();
        break;
      case "ArrowLeft":
        panBy(-step);
        break;
      case "ArrowRight":
        panBy(step);
        break;
      case "Escape":
        onSelect(null);
        break;
      default:
        return;
    }
    e.preventDefault();
  };

  useImperativeHandle(
    handleRef,
    () => ({
      fit,
      zoom: (factor, atFraction = 0.5) => zoomBy(factor, (st.scale?.width ?? 0) * atFraction),
      pan: (fraction) => panBy((st.scale?.width ?? 0) * fraction),
      view: () => (st.scale === null ? null : { start: st.scale.start, end: st.scale.end }),
      drawNow: (force = true) => {
        cancelRedraw(st);
        return draw(force);
      },
    }),
    [st, fit, zoomBy, panBy, draw],
  );

  const hoverRecord = useMemo(() => {
    if (hover === null || hover.row >= store.count) return null;
    return store.record(hover.row);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [hover?.row, store, version]);

  const selectedLane = useMemo(() => {
    if (selectedSeq === null) return -1;
    const row = store.rowOfSeq(selectedSeq);
    return row < 0 ? -1 : laneOfThread(store.thread[row]!);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [selectedSeq, store, version]);

  const laneName = (lane: number) => (lane === 0 ? t("main") : t("vcpu", { n: lane - 1 }));
  const empty = store.count === store.statsRows.length;

  return (
    <section ref={rootRef} className={`panel ${styles.root}`} data-testid="timeline" data-following={following ? "yes" : "no"}>
      <h2>{t("title")}</h2>
      <div className={styles.toolbar}>
        <button type="button" onClick={() => zoomBy(KEY_ZOOM)} aria-label={t("zoomIn")} title={t("zoomIn")}>
          +
        </button>
        <button type="button" onClick={() => zoomBy(1 / KEY_ZOOM)} aria-label={t("zoomOut")} title={t("zoomOut")}>
          −
        </button>
        <button type="button" onClick={fitExits} data-testid="timeline-fit-exits">
          {t("fitExits")}
        </button>
        <button type="button" onClick={fit} data-testid="timeline-fit">
          {t("fit")}
        </button>
        {follow && (
          <button type="button" className={following ? styles.on : undefined} aria-pressed={following} onClick={reattach} data-testid="timeline-follow">
            {t("follow")}
          </button>
        )}
        <ul className={`${styles.legend} small`}>
          <LegendItem color={KIND_COLORS.guest}>{t("legendGuest")}</LegendItem>
          <LegendItem color="var(--muted)">{t("legendHandle")}</LegendItem>
          <LegendItem color={KIND_COLORS.ioctl}>{t("legendIoctl")}</LegendItem>
          <LegendItem color={KIND_COLORS.marker}>{t("legendMarker")}</LegendItem>
          <LegendItem color={KIND_COLORS.lost}>{t("legendLost")}</LegendItem>
        </ul>
        <span className={`${styles.hint} small muted`}>{t("hint")}</span>
      </div>
      <div className={styles.body}>
        <div className={`${styles.labels} small`} style={{ height: cssH }}>
          {lanes.map((lane, i) => (
            <div key={lane} className={lane === selectedLane ? `${styles.label} ${styles.selected}` : styles.label} style={{ top: AXIS_H + i * laneH, height: laneH }}>
              {laneName(lane)}
            </div>
          ))}
        </div>
        <div ref={plotRef} className={styles.plot} style={{ height: cssH }}>
          <canvas
            ref={canvasRef}
            className={dragging ? `${styles.canvas} ${styles.dragging}` : styles.canvas}
            style={{ height: cssH }}
            tabIndex={0}
            role="img"
            aria-label={t("canvas", { lanes: lanes.length })}
            onPointerDown={onPointerDown}
            onPointerMove={onPointerMove}
            onPointerUp={(e) => endDrag(e, true)}
            onPointerCancel={(e) => endDrag(e, false)}
            onPointerLeave={() => {
              if (drag.current === null) setHover(null);
            }}
            onDoubleClick={fit}
            onKeyDown={onKeyDown}
          />
          {empty && <p className={`${styles.empty} muted`}>{t("empty")}</p>}
          {hover !== null && hoverRecord !== null && (
            <Tooltip x={hover.x} y={hover.y} width={st.cssW}>
              <RecordSummary rec={hoverRecord} t={t} afterCursor={hoverRecord.seq > cursorSeq} />
            </Tooltip>
          )}
        </div>
      </div>
    </section>
  );
}

function LegendItem({ color, children }: { color: string; children: ReactNode }) {
  return (
    <li>
      <span className={styles.swatch} style={{ background: color }} aria-hidden="true" />
      {children}
    </li>
  );
}

function Tooltip({ x, y, width, children }: { x: number; y: number; width: number; children: ReactNode }) {
  // Opens away from the nearer side edge, and always downwards: opening upwards from a low lane
  // it covered the legend above the plot (a few lanes are shorter than the tooltip).
  const style: Record<string, number> = {};
  if (x > width / 2) style.right = width - x + 14;
  else style.left = x + 14;
  style.top = y + 14;
  return (
    <div className={styles.tooltip} style={style} role="tooltip" data-testid="timeline-tooltip">
      {children}
    </div>
  );
}

type T = (key: keyof (typeof timelineMessages)["en"], vars?: Readonly<Record<string, string | number>>) => string;

function threadLabel(thread: string, t: T): string {
  return thread === "main" ? t("main") : t("vcpu", { n: thread.slice(4) });
}

/** An access's data as the guest meant it ("'H' (0x48)", "0x1badc0de"), the first 16 bytes of a longer one. */
function accessData(data: readonly number[], size: number, lang: Lang): string {
  const shown = formatAccessData(data.slice(0, 16), size, lang);
  return data.length > 16 ? `${shown} …` : shown;
}

/** The tooltip's text for one record: every value is a React text child, never markup. */
export function RecordSummary({ rec, t, afterCursor }: { rec: TraceRecord; t: T; afterCursor: boolean }) {
  const { lang } = useLang();
  let title: string;
  const rows: [string, string, boolean?][] = [];
  switch (rec.type) {
    case "exit":
      title = rec.reason;
      rows.push([t("seq"), String(rec.seq)], [t("thread"), t("vcpu", { n: rec.vcpu })], [t("time"), formatTimestamp(rec.ts)]);
      rows.push([t("guest"), formatNs(rec.guestNs)], [t("handling"), formatNs(rec.handleNs)]);
      if (rec.io !== undefined) {
        const io = rec.io;
        rows.push([t("port"), `${hex(io.port)} ${io.direction} · ${io.size} B${io.count > 1 ? ` × ${io.count}` : ""}`]);
        if (io.data.length > 0) rows.push([t("data"), accessData(io.data, io.size, lang)]);
      }
      if (rec.mmio !== undefined) {
        const m = rec.mmio;
        rows.push([t("addr"), `${hex(m.addr)} ${m.isWrite ? t("write") : t("read")} · ${m.len} B`]);
        if (m.data.length > 0) rows.push([t("data"), accessData(m.data, m.len, lang)]);
      }
      break;
    case "ioctl":
      title = rec.name;
      rows.push([t("seq"), String(rec.seq)], [t("thread"), threadLabel(rec.thread, t)], [t("time"), formatTimestamp(rec.ts)], [t("duration"), formatNs(rec.durNs)]);
      rows.push([t("result"), rec.errno !== 0 ? `${rec.ret} (${rec.error ?? `errno ${rec.errno}`})` : String(rec.ret)]);
      break;
    case "marker":
      title = t("marker");
      rows.push([t("text"), markerText(rec.thread, rec.text, lang), true], [t("seq"), String(rec.seq)], [t("thread"), threadLabel(rec.thread, t)], [t("time"), formatTimestamp(rec.ts)]);
      break;
    case "lost":
      title = t("lost", { count: rec.count });
      rows.push([t("seq"), String(rec.seq)], [t("thread"), threadLabel(rec.thread, t)], [t("time"), formatTimestamp(rec.ts)]);
      break;
    case "stats":
      title = t("vcpu", { n: rec.vcpu });
      rows.push([t("seq"), String(rec.seq)], [t("time"), formatTimestamp(rec.ts)]);
      break;
    case "unknown":
      title = t("unknownKind", { kind: rec.kind });
      rows.push([t("seq"), String(rec.seq)], [t("thread"), threadLabel(rec.thread, t)], [t("time"), formatTimestamp(rec.ts)]);
      break;
  }
  return (
    <>
      <p className={`${styles.title} mono`}>{title}</p>
      <table>
        <tbody>
          {rows.map(([k, v, wrap]) => (
            <tr key={k}>
              <th>{k}</th>
              <td className={wrap === true ? `${styles.wrap} mono` : "mono"}>{v}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {afterCursor && <p className="muted small">{t("afterCursor")}</p>}
    </>
  );
}

// ---------------------------------------------------------------------------------------------
// The view: which window of time the canvas shows at this draw.

function resolveScale(st: DrawState, model: TimelineModel, store: TraceStore, w: number, following: boolean): TimeScale {
  const span: TimeSpan = Number.isFinite(model.minTs) ? { start: model.minTs, end: Math.max(model.maxTs, store.endTs) } : { start: 0, end: 0 };
  const whole = TimeScale.fit(span, w);
  st.extent = { start: whole.start, end: whole.end };
  if (model.generation !== st.generation) {
    st.generation = model.generation;
    st.fitted = true;
    st.whole = false;
  }
  let s: TimeScale;
  if (st.scale === null || st.fitted) {
    s = st.whole ? whole : TimeScale.fit(exitsView(span, model.exitsStart, following ? span.end : model.exitsEnd), w);
  } else {
    s = st.scale.width === w ? st.scale : st.scale.withWidth(w);
    // Following: keep the zoom, slide so that the newest time is at the right edge.
    if (following) s = new TimeScale(whole.end - s.duration, whole.end, w);
    s = s.clamp(st.extent);
  }
  st.scale = s;
  return s;
}

/** The ts of the cursor's record when the cursor is behind the newest record, else null. */
function cursorTime(store: TraceStore, cursorSeq: number): number | null {
  if (!(cursorSeq < store.maxSeq)) return null;
  // A cursor on a seq the store lacks (lost, not fetched yet) stands at the nearest one before it.
  for (let s = Math.floor(cursorSeq), n = 0; s >= 0 && n < 256; s--, n++) {
    const row = store.rowOfSeq(s);
    if (row >= 0) return store.ts[row]!;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Painting

interface PaintInput {
  store: TraceStore;
  model: TimelineModel;
  scale: TimeScale;
  lanes: number[];
  laneH: number;
  w: number;
  h: number;
  dpr: number;
  theme: Theme;
  cursorTs: number | null;
  selectedRow: number;
  /** The start-up before the first exit, drawn as a labelled band; null before any exit. */
  startup: { start: number; end: number; label: string } | null;
  buckets: Map<number, { version: number; b: ExitBuckets }>;
  lang: Lang;
}

type Label = TimelineLabel;

function paint(ctx: CanvasRenderingContext2D, inp: PaintInput): { records: number; visited: number } {
  const { store, model, scale, lanes, laneH, w, h, dpr, theme } = inp;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  ctx.globalAlpha = 1;
  const font = `${theme.fsSmall}px ${theme.mono}`;
  ctx.font = font;
  ctx.textBaseline = "middle";

  // Lanes: alternate shading, separators.
  for (let i = 0; i < lanes.length; i++) {
    const y = AXIS_H + i * laneH;
    if (i % 2 === 1) {
      ctx.globalAlpha = 0.6;
      ctx.fillStyle = theme.panel2;
      ctx.fillRect(0, y, w, laneH);
      ctx.globalAlpha = 1;
    }
    ctx.fillStyle = theme.border;
    ctx.fillRect(0, y + laneH - 1, w, 1);
  }

  if (inp.startup !== null) paintStartup(ctx, inp.startup, scale, w, h, theme, "band");

  // Axis: ticks and their grid lines.
  const ticks = scale.ticks(Math.max(90, theme.fsSmall * 9));
  ctx.fillStyle = theme.border;
  ctx.fillRect(0, AXIS_H - 1, w, 1);
  ctx.globalAlpha = 0.5;
  for (const tk of ticks) ctx.fillRect(Math.round(tk.px * dpr) / dpr, AXIS_H, 1 / dpr, h - AXIS_H);
  ctx.globalAlpha = 1;
  ctx.fillStyle = theme.muted;
  for (const tk of ticks) {
    ctx.fillRect(Math.round(tk.px * dpr) / dpr, AXIS_H - 6, 1, 5);
    if (tk.px + 3 < w - 20) ctx.fillText(tk.label, tk.px + 3, AXIS_H / 2 - 1);
  }

  let records = 0;
  let visited = 0;
  const labels: Label[] = [];
  for (let i = 0; i < lanes.length; i++) {
    const l = model.lane(lanes[i]!);
    if (l === undefined) continue;
    const y = AXIS_H + i * laneH;
    const geom = laneGeometry(y, laneH);
    const r = visibleRange(l.exits, scale.start, scale.end);
    if (r.inside * FINE_PX_PER_EXIT <= w) {
      paintExits(ctx, store, l.exits, r, scale, geom, w, theme, labels);
      records += r.inside;
      visited += r.to - r.from;
    } else {
      const bw = Math.max(1, Math.round(w * dpr));
      const cached = inp.buckets.get(l.lane);
      let b: ExitBuckets;
      if (cached !== undefined && cached.version === model.version && cached.b.t0 === scale.start && cached.b.t1 === scale.end && cached.b.width === bw) {
        b = cached.b;
      } else {
        b = bucketExits(store, l.exits, scale.start, scale.end, bw, cached?.b);
        inp.buckets.set(l.lane, { version: model.version, b });
        visited += b.visited;
      }
      paintBuckets(ctx, b, geom, 1 / dpr, theme);
      records += b.records;
    }
    const o = paintOthers(ctx, store, l.others, scale, geom, w, theme, labels, inp.lang);
    records += o.records;
    visited += o.visited;
  }

  // Labels last, above everything they describe.
  if (labels.length > 0) {
    ctx.fillStyle = theme.fg;
    ctx.font = font;
    for (const lb of separateLabels(labels, LABEL_MIN_PX)) fitText(ctx, lb);
  }
  // Over the records' labels: it names what the band is.
  if (inp.startup !== null) paintStartup(ctx, inp.startup, scale, w, h, theme, "label");

  // Replay: what has not happened yet at the cursor is veiled.
  if (inp.cursorTs !== null) {
    const x = scale.toPx(inp.cursorTs);
    if (x < w) {
      const x0 = Math.max(0, x);
      ctx.globalAlpha = 0.6;
      ctx.fillStyle = theme.panel;
      ctx.fillRect(x0, AXIS_H, w - x0, h - AXIS_H);
      ctx.globalAlpha = 1;
    }
    if (x >= 0 && x <= w) {
      ctx.fillStyle = theme.accent;
      ctx.fillRect(x - 1, 0, 2, h);
    }
  }

  if (inp.selectedRow >= 0 && inp.selectedRow < store.count) paintSelection(ctx, store, inp.selectedRow, scale, lanes, laneH, w, theme);

  ctx.globalAlpha = 1;
  return { records, visited };
}

interface LaneGeometry {
  /** Exit ticks and labels. */
  stripTop: number;
  stripBottom: number;
  /** Guest time, ioctl slices. */
  bandTop: number;
  bandBottom: number;
  /** Handling time, under the guest band. */
  handleTop: number;
  handleBottom: number;
  top: number;
  bottom: number;
}

function laneGeometry(y: number, lh: number): LaneGeometry {
  const top = y + 2;
  const bottom = y + lh - 3;
  const stripBottom = y + Math.round(lh * 0.42);
  const bandTop = stripBottom + 2;
  const handleBottom = bottom;
  const handleTop = bandTop + Math.round((handleBottom - bandTop) * 0.62);
  return { stripTop: top, stripBottom, bandTop, bandBottom: handleTop, handleTop, handleBottom, top, bottom };
}

/**
 * Paints column runs: `keyOf(p)` gives each device-pixel column a style key (-1 for nothing);
 * neighbouring columns with the same key become one rectangle, and each key one fill, so a
 * zoomed-out lane costs a handful of fills rather than one per column.
 */
function fillColumns(ctx: CanvasRenderingContext2D, width: number, colW: number, y: number, hgt: number, keyOf: (p: number) => number, styleOf: (key: number) => [string, number]): void {
  const runs = new Map<number, number[]>();
  let runKey = -1;
  let runStart = 0;
  for (let p = 0; p <= width; p++) {
    const k = p < width ? keyOf(p) : -1;
    if (k === runKey) continue;
    if (runKey >= 0) {
      let list = runs.get(runKey);
      if (list === undefined) runs.set(runKey, (list = []));
      list.push(runStart, p - runStart);
    }
    runKey = k;
    runStart = p;
  }
  for (const [key, list] of runs) {
    const [color, alpha] = styleOf(key);
    ctx.fillStyle = color;
    ctx.globalAlpha = alpha;
    ctx.beginPath();
    for (let i = 0; i < list.length; i += 2) ctx.rect(list[i]! * colW, y, list[i + 1]! * colW, hgt);
    ctx.fill();
  }
  ctx.globalAlpha = 1;
}

const HEAT_LEVELS = 6;
const BAND_LEVELS = 8;

/** The start-up as what it is: a shaded, labelled band; when it is left of the view, a label at the left edge says what lies there. */
function paintStartup(ctx: CanvasRenderingContext2D, su: { start: number; end: number; label: string }, scale: TimeScale, w: number, h: number, theme: Theme, part: "band" | "label"): void {
  const x0 = Math.max(0, scale.toPx(su.start));
  const x1 = Math.min(w, scale.toPx(su.end));
  const y = h - theme.fsSmall;
  if (part === "band") {
    if (x1 > x0) {
      ctx.globalAlpha = 0.14;
      ctx.fillStyle = theme.muted;
      ctx.fillRect(x0, AXIS_H, x1 - x0, h - AXIS_H);
      ctx.globalAlpha = 1;
    }
    return;
  }
  const visible = x1 - x0;
  const textW = ctx.measureText(su.label).width;
  if (visible >= textW + 8) {
    ctx.fillStyle = theme.muted;
    ctx.fillText(su.label, x0 + (visible - textW) / 2, y);
  } else if (x1 < textW + 24) {
    // Mostly off to the left: say so at the edge.
    const text = `◀ ${su.label}`;
    const tw = ctx.measureText(text).width;
    ctx.globalAlpha = 0.92;
    ctx.fillStyle = theme.panel2;
    ctx.fillRect(2, y - theme.fsSmall / 2 - 2, tw + 8, theme.fsSmall + 4);
    ctx.globalAlpha = 1;
    ctx.fillStyle = theme.muted;
    ctx.fillText(text, 6, y);
  }
}

function paintBuckets(ctx: CanvasRenderingContext2D, b: ExitBuckets, g: LaneGeometry, colW: number, theme: Theme): void {
  const { count, reason, guest, handle, width } = b;
  fillColumns(ctx, width, colW, g.bandTop, g.bandBottom - g.bandTop, (p) => Math.round(guest[p]! * BAND_LEVELS) || -1, (k) => [KIND_COLORS.guest, (0.85 * k) / BAND_LEVELS]);
  fillColumns(ctx, width, colW, g.handleTop, g.handleBottom - g.handleTop, (p) => Math.round(handle[p]! * BAND_LEVELS) || -1, (k) => [theme.muted, (0.7 * k) / BAND_LEVELS]);
  // Exit density: the colour is the column's dominant reason, the strength its count (log scale,
  // so a lone exit still shows next to columns holding hundreds).
  const logMax = Math.log1p(Math.max(1, b.maxCount));
  fillColumns(
    ctx, width, colW, g.stripTop, g.stripBottom - g.stripTop,
    (p) => {
      const n = count[p]!;
      if (n === 0) return -1;
      const level = Math.min(HEAT_LEVELS, 1 + Math.floor(((HEAT_LEVELS - 1) * Math.log1p(n)) / logMax));
      return reason[p]! * (HEAT_LEVELS + 1) + level;
    },
    (k) => [reasonColor(Math.floor(k / (HEAT_LEVELS + 1))), 0.3 + (0.7 * (k % (HEAT_LEVELS + 1))) / HEAT_LEVELS],
  );
}

function exitLabel(rec: TraceRecord): string {
  if (rec.type !== "exit") return "";
  const short = rec.reason.startsWith("KVM_EXIT_") ? rec.reason.slice(9) : rec.reason;
  if (rec.io !== undefined) return `${short} ${rec.io.direction} ${hex(rec.io.port)}`;
  if (rec.mmio !== undefined) return `${short} ${rec.mmio.isWrite ? "W" : "R"} ${hex(rec.mmio.addr)}`;
  return short;
}

function paintExits(
  ctx: CanvasRenderingContext2D, store: TraceStore, idx: RowIndex,
  r: { from: number; to: number }, scale: TimeScale, g: LaneGeometry, w: number, theme: Theme, labels: Label[],
): void {
  const pxPerNs = 1 / scale.nsPerPx;
  const lo = idx.lowerBound(scale.start);
  const hi = idx.lowerBound(scale.end);
  const guest = new Path2D();
  const handling = new Path2D();
  const ticks = new Map<number, Path2D>();
  const { dur, handle, code } = store;
  for (let i = r.from; i < r.to; i++) {
    const row = idx.rows[i]!;
    const x = scale.toPx(idx.ts[i]!);
    const g0 = Math.max(-1, x - dur[row]! * pxPerNs);
    const g1 = Math.min(w + 1, x);
    if (g1 > g0) guest.rect(g0, g.bandTop, Math.max(0.5, g1 - g0), g.bandBottom - g.bandTop);
    const h0 = Math.max(-1, x);
    const h1 = Math.min(w + 1, x + handle[row]! * pxPerNs);
    if (h1 > h0) handling.rect(h0, g.handleTop, Math.max(0.5, h1 - h0), g.handleBottom - g.handleTop);
    if (i < lo || i >= hi) continue;
    const c = code[row]!;
    let path = ticks.get(c);
    if (path === undefined) ticks.set(c, (path = new Path2D()));
    path.rect(x - 0.75, g.stripTop, 1.5, g.bandBottom - g.stripTop);
    const next = i + 1 < idx.length ? scale.toPx(idx.ts[i + 1]!) : Infinity;
    const room = Math.min(next, w) - x - 6;
    if (room >= LABEL_MIN_PX) labels.push({ x: x + 3, y: (g.stripTop + g.stripBottom) / 2, text: exitLabel(store.record(row)), maxW: room });
  }
  ctx.globalAlpha = 0.75;
  ctx.fillStyle = KIND_COLORS.guest;
  ctx.fill(guest);
  ctx.globalAlpha = 0.55;
  ctx.fillStyle = theme.muted;
  ctx.fill(handling);
  ctx.globalAlpha = 1;
  for (const [c, path] of ticks) {
    ctx.fillStyle = reasonColor(c);
    ctx.fill(path);
  }
}

function paintOthers(
  ctx: CanvasRenderingContext2D, store: TraceStore, idx: RowIndex,
  scale: TimeScale, g: LaneGeometry, w: number, theme: Theme, labels: Label[], lang: Lang,
): { records: number; visited: number } {
  if (idx.length === 0) return { records: 0, visited: 0 };
  const r = visibleRange(idx, scale.start, scale.end);
  const slices = new Path2D();
  const flags = new Path2D();
  const lost = new Path2D();
  let lastCol = -Infinity;
  let records = 0;
  for (let i = r.from; i < r.to; i++) {
    const row = idx.rows[i]!;
    const ts = idx.ts[i]!;
    const x = scale.toPx(ts);
    if (ts >= scale.start && ts < scale.end) records++;
    const kind = store.kind[row];
    const next = i + 1 < idx.length ? scale.toPx(idx.ts[i + 1]!) : Infinity;
    if (kind === RecordKind.Ioctl) {
      const x1 = scale.toPx(ts + store.dur[row]!);
      if (x1 < 0 || x > w) continue;
      // Many ioctls in one pixel (KVM_INTERRUPT on every timer tick, zoomed out): one rectangle.
      const col = Math.floor(x);
      if (x1 - x < 1 && col === lastCol) continue;
      lastCol = col;
      slices.rect(Math.max(-1, x), g.bandTop, Math.max(1, Math.min(w + 1, x1) - Math.max(-1, x)), g.handleBottom - g.bandTop);
      // The name goes inside a wide slice, else above it when the next record leaves room.
      const inside = Math.min(x1, w) - Math.max(0, x) - 6;
      const after = Math.min(next, w) - x - 6;
      if (inside >= LABEL_MIN_PX || after >= LABEL_MIN_PX) {
        const name = ioctlName(store.code[row]!);
        if (inside >= LABEL_MIN_PX) labels.push({ x: Math.max(0, x) + 3, y: (g.bandTop + g.handleBottom) / 2, text: name, maxW: inside });
        else labels.push({ x: x + 3, y: (g.stripTop + g.stripBottom) / 2, text: name, maxW: after });
      }
    } else if (kind === RecordKind.Marker || kind === RecordKind.Lost) {
      if (x < -4 || x > w + 4) continue;
      if (kind === RecordKind.Marker) {
        flags.rect(x - 0.75, g.top, 1.5, g.bottom - g.top);
        flags.moveTo(x, g.top);
        flags.lineTo(x + 7, g.top + 3.5);
        flags.lineTo(x, g.top + 7);
        flags.closePath();
        const room = Math.min(next, w) - x - 12;
        if (room >= LABEL_MIN_PX) {
          const rec = store.record(row);
          if (rec.type === "marker") labels.push({ x: x + 9, y: (g.stripTop + g.stripBottom) / 2, text: markerText(rec.thread, rec.text, lang), maxW: room });
        }
      } else {
        lost.rect(x - 1.5, g.top, 3, g.bottom - g.top);
      }
    }
  }
  ctx.fillStyle = KIND_COLORS.ioctl;
  ctx.globalAlpha = 0.85;
  ctx.fill(slices);
  ctx.globalAlpha = 1;
  ctx.fillStyle = KIND_COLORS.marker;
  ctx.fill(flags);
  ctx.fillStyle = theme.bad;
  ctx.fill(lost);
  return { records, visited: r.to - r.from };
}

function paintSelection(ctx: CanvasRenderingContext2D, store: TraceStore, row: number, scale: TimeScale, lanes: number[], laneH: number, w: number, theme: Theme): void {
  const i = lanes.indexOf(laneOfThread(store.thread[row]!));
  if (i < 0) return;
  const s = rowSpan(store, row);
  const x = scale.toPx(s.at);
  const y = AXIS_H + i * laneH;
  ctx.strokeStyle = theme.accent;
  ctx.fillStyle = theme.accent;
  ctx.lineWidth = 2;
  let x0 = scale.toPx(s.start);
  let x1 = scale.toPx(s.end);
  if (x1 - x0 < 6) {
    x0 = x - 3;
    x1 = x + 3;
  }
  if (x1 >= -2 && x0 <= w + 2) ctx.strokeRect(Math.max(-2, x0), y + 1, Math.min(w + 2, x1) - Math.max(-2, x0), laneH - 3);
  if (x >= 0 && x <= w) {
    // A pointer in the axis, so the selection is findable even when the lane is crowded.
    ctx.beginPath();
    ctx.moveTo(x - 5, AXIS_H - 8);
    ctx.lineTo(x + 5, AXIS_H - 8);
    ctx.lineTo(x, AXIS_H - 1);
    ctx.closePath();
    ctx.fill();
  }
}

/** Draws a label, cut with an ellipsis to the room it has. */
function fitText(ctx: CanvasRenderingContext2D, lb: Label): void {
  let text = lb.text;
  if (text === "") return;
  let width = ctx.measureText(text).width;
  if (width > lb.maxW) {
    // One estimate, then trim: labels are short and this runs for few of them.
    let n = Math.max(0, Math.floor((text.length * lb.maxW) / width) - 1);
    text = `${lb.text.slice(0, n)}…`;
    width = ctx.measureText(text).width;
    while (n > 0 && width > lb.maxW) {
      n--;
      text = `${lb.text.slice(0, n)}…`;
      width = ctx.measureText(text).width;
    }
    if (n === 0) return;
  }
  ctx.fillText(text, lb.x, lb.y);
}

function sameDrawnProps(a: TimelineProps, b: TimelineProps): boolean {
  return (
    a.store === b.store && a.version === b.version && a.cursorSeq === b.cursorSeq && a.selectedSeq === b.selectedSeq &&
    a.onSelect === b.onSelect && a.mode === b.mode && a.follow === b.follow && a.height === b.height && a.handleRef === b.handleRef
  );
}

/** The Timeline panel. Re-renders only when something it draws changes (not on `paused`). */
export const Timeline = memo(TimelineView, sameDrawnProps);
