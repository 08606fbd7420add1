"use client";
// The Statistics panel: exits by reason and vCPU, how long each kind of exit takes, and the
// article's point made visible — most VM exits never leave KVM; only some come back to the VMM.
// Numbers come from src/lib/stats.ts (RunSummary's definitions); d3 computes scales and paths,
// React draws them.
import { memo, useEffect, useMemo, useRef, useState } from "react";
import { scaleLinear, scaleLog, type ScaleLogarithmic } from "d3-scale";
import { area, curveStepAfter } from "d3-shape";
import { RecordKind } from "@kvmscope/shared";
import { reasonColor } from "../lib/colors";
import { defineMessages, useT } from "../lib/i18n";
import { formatCount, formatNs } from "../lib/format";
import {
  LATENCY_BIN_COUNT, LATENCY_BINS_PER_DECADE, LATENCY_THRESHOLDS, mergeRounds, StatsAccumulator,
  type LatencyDistribution, type ReasonLatency, type SplitInterval, type StatsView,
} from "../lib/stats";
import type { TraceStore } from "../lib/trace-store";
import type { RunViewProps } from "../lib/view-props";
import styles from "./StatsPanel.module.css";

export const statsMessages = defineMessages({
  en: {
    title: "Statistics",
    reasonsTitle: "Exits by reason and vCPU",
    reasonsWhat: "Every exit that came back to kvmscope, counted by why KVM returned and which vCPU made it.",
    reason: "Reason",
    vcpu: "vCPU {n}",
    total: "Total",
    noExits: "No exit has reached kvmscope yet.",
    notKept: "Past this page's record cap: these figures cover the {kept} exits the page kept, not the {refused} more it was sent and did not keep. The header counts them all; the export has every record.",
    latencyTitle: "How long each kind of exit takes",
    latencyWhatHandle: "Handling time: how long kvmscope took over an exit before entering the guest again. Log scale; lines mark p50 (solid), p90 (dashed) and p99 (dotted).",
    latencyWhatGuest: "Time in the guest: how long the vCPU ran inside KVM_RUN before this exit. Log scale; lines mark p50 (solid), p90 (dashed) and p99 (dotted).",
    metricLabel: "Time shown",
    metricHandle: "handling in kvmscope",
    metricGuest: "in the guest (KVM_RUN)",
    exitsN: "{n} {n|exit|exits}",
    quantiles: "p50 {p50} · p90 {p90} · p99 {p99} · max {max}",
    selected: "selected exit: {v}",
    splitTitle: "Handled inside KVM, or back in kvmscope",
    splitWhat: "KVM counts every VM exit, and most never leave the kernel. For each 20 ms sample of KVM's statistics: the exits KVM handled itself, and the ones that came back to us.",
    splitSentence: "KVM handled {kernel} exits itself; {user} came back to kvmscope.",
    splitDetail: "{all} VM exits in the {span} KVM's statistics cover: {pct} never left the kernel.",
    legendKernel: "handled inside KVM",
    legendUser: "came back to kvmscope",
    rate: "{v} {v|exit|exits}/s",
    interval: "{from} – {to}: {kernel} inside KVM, {user} back to kvmscope",
    perVcpu: "vCPU {n}: {all} in all, {kernel} inside KVM, {user} back to kvmscope",
    noStatsYet: "No sample of KVM's statistics has arrived yet (the VMM reads them every 20 ms).",
    oneSample: "Waiting for a second sample of KVM's statistics: the split is the difference between two.",
    noCounter: "This kernel offers no \"exits\" statistic (an older kernel), so exits handled inside KVM cannot be counted.",
    lostNote: "{n} {n|record was|records were} lost: the exit counts are low by up to that many, and the kernel's share high.",
    negativeNote: "A return to kvmscope without a VM exit (a signal: KVM_EXIT_INTR) is a record but not an exit, so the kernel's count can come out slightly low.",
  },
  ja: {
    title: "統計",
    reasonsTitle: "exit 理由別・vCPU 別の VMM への exit 数",
    reasonsWhat: "kvmscope まで戻ってきた exit（VMM への exit）を、KVM_RUN が戻った理由と、それを起こした vCPU ごとに数えたものです。",
    reason: "理由",
    vcpu: "vCPU {n}",
    total: "合計",
    noExits: "VMM への exit はまだ kvmscope に届いていません。",
    latencyTitle: "exit の種類ごとの所要時間",
    latencyWhatHandle: "処理時間：kvmscope が VMM への exit を受け取ってから、処理を終えてゲストへ再突入するまでの時間です。横軸は対数目盛で、実線が p50、破線が p90、点線が p99 です。",
    latencyWhatGuest: "ゲスト内の時間：この exit の前に、vCPU が KVM_RUN の中で動いていた時間です。横軸は対数目盛で、実線が p50、破線が p90、点線が p99 です。",
    notKept: "このページのレコード上限を超えました。ここの数値はページが保持した {kept} 回の VMM への exit のもので、受け取ったが保持しなかった {refused} 回は含みません。ヘッダーの数はすべてを数えています。すべてのレコードは書き出しにあります。",
    metricLabel: "表示する時間",
    metricHandle: "kvmscope での処理",
    metricGuest: "ゲスト内（KVM_RUN）",
    exitsN: "{n} 回",
    quantiles: "p50 {p50} · p90 {p90} · p99 {p99} · 最大 {max}",
    selected: "選択中の exit：{v}",
    splitTitle: "KVM 内で処理されたか、kvmscope に戻ったか",
    splitWhat: "KVM はすべての VM exit を数えていますが、その多くはカーネルの外に出ません。KVM の統計を 20 ms ごとに読んだ区間ごとに、KVM が自分で処理した数と kvmscope に戻ってきた数（VMM への exit）を示します。",
    splitSentence: "KVM は {kernel} 回の VM exit を自分で処理し、{user} 回が kvmscope に戻ってきました。",
    splitDetail: "KVM の統計が捉えた {span} の間に VM exit は全部で {all} 回、そのうち {pct} はカーネルの中で完結しました。",
    legendKernel: "KVM 内で処理",
    legendUser: "kvmscope に戻った",
    rate: "毎秒 {v} 回",
    interval: "{from} – {to}：KVM 内 {kernel} 回、kvmscope へ {user} 回",
    perVcpu: "vCPU {n}：全 {all} 回、KVM 内 {kernel} 回、kvmscope へ {user} 回",
    noStatsYet: "KVM の統計はまだ届いていません（VMM は 20 ms ごとに読み取ります）。",
    oneSample: "KVM の統計の 2 回目のサンプルを待っています。内訳は 2 つのサンプルの差から求めます。",
    noCounter: "このカーネルには「exits」統計がありません（古いカーネルです）。KVM 内で処理された VM exit は数えられません。",
    lostNote: "{n} 件のレコードが失われました。exit の数はその分だけ少なく、KVM 内の数は多めに出ている可能性があります。",
    negativeNote: "VM exit を伴わずに kvmscope へ戻ること（シグナルによる KVM_EXIT_INTR）もレコードになるため、KVM 内の数がわずかに少なく出ることがあります。",
  },
});

type T = (key: keyof (typeof statsMessages)["en"], vars?: Readonly<Record<string, string | number>>) => string;

export interface StatsPanelProps extends RunViewProps {}

type Metric = "handle" | "guest";

/** Recomputation at most this often: live data arrives every few ms, and 1,000,000 rows are a lot to walk. */
const LIVE_GAP_MS = 250;
/** Scrubbing a replay: quicker, so the panel follows the hand. */
const SCRUB_GAP_MS = 100;

/** An axis label: "1 µs" rather than "1.00 µs". */
function tickLabel(ns: number): string {
  return formatNs(ns).replace(/\.0+ /, " ");
}

/**
 * The view at the cursor, recomputed (leading and trailing edge) no more often than gapMs, and
 * never more than a quarter of the time: scrubbing a replay backwards recounts from the start.
 */
function useThrottledStats(store: TraceStore, version: number, cursorSeq: number, gapMs: number): StatsView {
  const acc = useMemo(() => new StatsAccumulator(), [store]);
  const [view, setView] = useState(() => acc.update(store, cursorSeq));
  const lastRun = useRef(-Infinity);
  const lastCost = useRef(0);
  useEffect(() => {
    const run = (): void => {
      const t0 = performance.now();
      setView(acc.update(store, cursorSeq));
      lastRun.current = t0;
      lastCost.current = performance.now() - t0;
    };
    const wait = lastRun.current + Math.max(gapMs, 3 * lastCost.current) - performance.now();
    if (wait <= 0) {
      run();
      return;
    }
    // Props changing again before the deadline replace the timer with one for the same deadline.
    const id = setTimeout(run, wait);
    return () => clearTimeout(id);
  }, [acc, store, version, cursorSeq, gapMs]);
  return view;
}

function StatsPanelImpl({ store, version, cursorSeq, selectedSeq, mode }: StatsPanelProps) {
  const t = useT(statsMessages);
  const view = useThrottledStats(store, version, cursorSeq, mode === "live" ? LIVE_GAP_MS : SCRUB_GAP_MS);
  const [metric, setMetric] = useState<Metric>("handle");

  const selected = useMemo(() => {
    if (selectedSeq === null || selectedSeq > cursorSeq) return null;
    const row = store.rowOfSeq(selectedSeq);
    if (row < 0 || store.kind[row] !== RecordKind.Exit) return null;
    return { code: store.code[row]!, handle: store.handle[row]!, guest: store.dur[row]! };
    // version: the row may arrive after the selection was made
  }, [store, version, selectedSeq, cursorSeq]);

  return (
    <section className={`panel ${styles.root}`} data-testid="stats-panel">
      <h2>{t("title")}</h2>
      {store.refusedExits > 0 && (
        <p className="small" style={{ color: "var(--warn)" }} data-testid="stats-not-kept">
          {t("notKept", { kept: formatCount(store.exitCount), refused: formatCount(store.refusedExits) })}
        </p>
      )}
      <ReasonTable view={view} t={t} />
      <LatencySection view={view} t={t} metric={metric} onMetric={setMetric} selected={selected} />
      <SplitSection view={view} t={t} />
    </section>
  );
}

export const StatsPanel = memo(StatsPanelImpl);
export default StatsPanel;

// ---------------------------------------------------------------------------------------------
// Exits by reason × vCPU

const ReasonTable = memo(function ReasonTable({ view, t }: { view: StatsView; t: T }) {
  let max = 0;
  for (const r of view.reasons) for (const n of r.byVcpu) if (n > max) max = n;
  return (
    <div className={styles.part}>
      <h3 className={styles.partTitle}>{t("reasonsTitle")}</h3>
      <p className={`muted small ${styles.what}`}>{t("reasonsWhat")}</p>
      <div className={styles.tableWrap}>
        <table className={styles.table}>
          <thead>
            <tr>
              <th scope="col">{t("reason")}</th>
              {view.vcpus.map((v) => <th scope="col" key={v}>{t("vcpu", { n: v })}</th>)}
              <th scope="col" className={styles.num}>{t("total")}</th>
            </tr>
          </thead>
          <tbody>
            {view.reasons.length === 0 && (
              <tr><td className="muted" colSpan={view.vcpus.length + 2}>{t("noExits")}</td></tr>
            )}
            {view.reasons.map((r) => (
              <tr key={r.code}>
                <th scope="row" className={`mono ${styles.reasonName}`}>
                  <span className={styles.swatch} style={{ background: reasonColor(r.code) }} aria-hidden />
                  {r.reason}
                </th>
                {r.byVcpu.map((n, i) => (
                  <td key={view.vcpus[i]} className={styles.barCell}>
                    <span className={styles.bar} style={{ width: `${max > 0 ? (100 * n) / max : 0}%`, background: reasonColor(r.code) }} aria-hidden />
                    <span className={styles.barLabel}>{formatCount(n)}</span>
                  </td>
                ))}
                <td className={styles.num} data-value={r.total}>{formatCount(r.total)}</td>
              </tr>
            ))}
          </tbody>
          <tfoot>
            <tr>
              <th scope="row">{t("total")}</th>
              {view.vcpuExits.map((n, i) => (
                <td key={view.vcpus[i]} data-value={n}>{formatCount(n)}</td>
              ))}
              <td className={`${styles.num} ${styles.grand}`} data-testid="exit-count-total" data-value={String(view.exits)}>
                {formatCount(view.exits)}
              </td>
            </tr>
          </tfoot>
        </table>
      </div>
    </div>
  );
});

// ---------------------------------------------------------------------------------------------
// Latency histograms, one per reason

const HIST_W = 240;
const HIST_H = 60;
const MIN_HIST_BINS = 2 * LATENCY_BINS_PER_DECADE;

interface Selected {
  code: number;
  handle: number;
  guest: number;
}

const LatencySection = memo(function LatencySection({ view, t, metric, onMetric, selected }: {
  view: StatsView; t: T; metric: Metric; onMetric: (m: Metric) => void; selected: Selected | null;
}) {
  // One x domain for every small multiple, so their shapes compare: the occupied bins, one spare each side.
  const x = useMemo(() => {
    let lo = LATENCY_BIN_COUNT;
    let hi = -1;
    for (const r of view.latency) {
      r[metric].bins.forEach((b, k) => {
        if (b.count > 0) {
          if (k < lo) lo = k;
          if (k > hi) hi = k;
        }
      });
    }
    if (hi < 0) [lo, hi] = [10, 20]; // nothing yet: 1 µs … 100 µs, where exits usually fall
    lo = Math.max(0, lo - 1);
    hi = Math.min(LATENCY_BIN_COUNT - 1, hi + 1);
    // At least two decades, so the axis has labels to read it by.
    while (hi - lo + 1 < MIN_HIST_BINS && (lo > 0 || hi < LATENCY_BIN_COUNT - 1)) {
      if (lo > 0) lo--;
      if (hi < LATENCY_BIN_COUNT - 1 && hi - lo + 1 < MIN_HIST_BINS) hi++;
    }
    return scaleLog().domain([LATENCY_THRESHOLDS[lo]!, LATENCY_THRESHOLDS[hi + 1]!]).range([0, HIST_W]).clamp(true);
  }, [view, metric]);
  const decades = useMemo(() => {
    const [d0, d1] = x.domain() as [number, number];
    const out: number[] = [];
    for (let p = Math.ceil(Math.log10(d0)); 10 ** p <= d1; p++) out.push(10 ** p);
    return out;
  }, [x]);

  return (
    <div className={styles.part}>
      <h3 className={styles.partTitle}>{t("latencyTitle")}</h3>
      <p className={`muted small ${styles.what}`}>{t(metric === "handle" ? "latencyWhatHandle" : "latencyWhatGuest")}</p>
      <div className={styles.toggle} role="group" aria-label={t("metricLabel")}>
        {(["handle", "guest"] as const).map((m) => (
          <button key={m} type="button" aria-pressed={metric === m} className={metric === m ? styles.on : undefined} onClick={() => onMetric(m)}>
            {t(m === "handle" ? "metricHandle" : "metricGuest")}
          </button>
        ))}
      </div>
      {view.latency.length === 0 ? (
        <p className="muted small">{t("noExits")}</p>
      ) : (
        <div className={styles.multiples}>
          {view.latency.map((r) => (
            <Histogram key={r.code} r={r} d={r[metric]} x={x} decades={decades} t={t}
              mark={selected !== null && selected.code === r.code ? selected[metric] : null} />
          ))}
        </div>
      )}
    </div>
  );
});

function Histogram({ r, d, x, decades, t, mark }: {
  r: ReasonLatency; d: LatencyDistribution; x: ScaleLogarithmic<number, number>; decades: number[]; t: T; mark: number | null;
}) {
  let top = 0;
  for (const b of d.bins) if (b.count > top) top = b.count;
  const y = scaleLinear().domain([0, top || 1]).range([HIST_H, 0]);
  const color = reasonColor(r.code);
  const [d0, d1] = x.domain() as [number, number];
  const pct = (v: number) => `${(100 * x(v)) / HIST_W}%`;
  return (
    <figure className={styles.multiple}>
      <figcaption className={styles.multipleHead}>
        <span className={styles.swatch} style={{ background: color }} aria-hidden />
        <span className="mono">{r.reason}</span>
        <span className="muted small">{t("exitsN", { n: formatCount(d.count) })}</span>
      </figcaption>
      <svg className={styles.histSvg} viewBox={`0 0 ${HIST_W} ${HIST_H}`} preserveAspectRatio="none" aria-hidden>
        {decades.map((v) => <line key={v} className={styles.grid} x1={x(v)} x2={x(v)} y1={0} y2={HIST_H} />)}
        {d.bins.map((b, k) => b.count > 0 && b.x1 > d0 && b.x0 < d1 ? (
          // A lone exit in the tail still gets a visible sliver.
          <rect key={k} x={x(b.x0)} width={Math.max(0.5, x(b.x1) - x(b.x0) - 0.5)} y={Math.min(y(b.count), HIST_H - 1.5)}
            height={Math.max(1.5, HIST_H - y(b.count))} fill={color} />
        ) : null)}
        {d.count > 0 && (
          <>
            <line className={styles.p50} x1={x(d.p50)} x2={x(d.p50)} y1={0} y2={HIST_H} />
            <line className={styles.p90} x1={x(d.p90)} x2={x(d.p90)} y1={0} y2={HIST_H} />
            <line className={styles.p99} x1={x(d.p99)} x2={x(d.p99)} y1={0} y2={HIST_H} />
          </>
        )}
        {mark !== null && <line className={styles.mark} x1={x(mark)} x2={x(mark)} y1={0} y2={HIST_H} />}
      </svg>
      <div className={styles.axis} aria-hidden>
        {decades.map((v) => <span key={v} className={styles.tick} style={{ left: pct(v) }}>{tickLabel(v)}</span>)}
      </div>
      <p className={`small mono ${styles.quantiles}`}>
        {t("quantiles", { p50: formatNs(d.p50), p90: formatNs(d.p90), p99: formatNs(d.p99), max: formatNs(d.max) })}
      </p>
      {mark !== null && <p className={`small ${styles.markText}`}>{t("selected", { v: formatNs(mark) })}</p>}
    </figure>
  );
}

// ---------------------------------------------------------------------------------------------
// Kernel vs userspace over time

const SPLIT_W = 600;
const SPLIT_H = 120;
/** More bars than this would be thinner than a pixel on a panel: merge rounds to fit. */
const SPLIT_MAX_BARS = 150;

interface RatePoint {
  ts: number;
  kernel: number;
  user: number;
}

const SplitSection = memo(function SplitSection({ view, t }: { view: StatsView; t: T }) {
  const { split } = view;
  const totals = split.totals;
  const chart = useMemo(() => {
    const rounds = mergeRounds(split.rounds, SPLIT_MAX_BARS);
    if (rounds.length === 0) return null;
    const perSec = (n: number, i: SplitInterval) => (Math.max(0, n) * 1e9) / Math.max(1, i.toTs - i.fromTs);
    const pts: RatePoint[] = rounds.map((i) => ({ ts: i.fromTs, kernel: perSec(i.kernel, i), user: perSec(i.userspace, i) }));
    const last = pts[pts.length - 1]!;
    // curveStepAfter holds each value until the next point: one more point closes the last step.
    pts.push({ ...last, ts: rounds[rounds.length - 1]!.toTs });
    let top = 0;
    for (const p of pts) top = Math.max(top, p.kernel + p.user);
    const x = scaleLinear().domain([rounds[0]!.fromTs, rounds[rounds.length - 1]!.toTs]).range([0, SPLIT_W]);
    const y = scaleLinear().domain([0, top || 1]).nice().range([SPLIT_H, 0]);
    const kernelPath = area<RatePoint>().x((p) => x(p.ts)).y0(SPLIT_H).y1((p) => y(p.kernel)).curve(curveStepAfter)(pts) ?? "";
    const userPath = area<RatePoint>().x((p) => x(p.ts)).y0((p) => y(p.kernel)).y1((p) => y(p.kernel + p.user)).curve(curveStepAfter)(pts) ?? "";
    return { rounds, x, yTop: y.domain()[1]!, kernelPath, userPath };
  }, [split.rounds]);

  let note: string | null = null;
  if (split.samples === 0) note = t("noStatsYet");
  else if (split.counterMissing) note = t("noCounter");
  else if (totals === null) note = t("oneSample");

  return (
    <div className={styles.part}>
      <h3 className={styles.partTitle}>{t("splitTitle")}</h3>
      <p className={`muted small ${styles.what}`}>{t("splitWhat")}</p>
      {note !== null && <p className={styles.note} data-testid="stats-split-note">{note}</p>}
      {totals !== null && !split.counterMissing && (
        <>
          <p className={styles.sentence} data-testid="stats-split-sentence">
            {t("splitSentence", { kernel: formatCount(Math.max(0, totals.kernel)), user: formatCount(totals.userspace) })}
          </p>
          <p className="muted small">
            {t("splitDetail", {
              all: formatCount(totals.all),
              span: formatNs(totals.toTs - totals.fromTs),
              pct: totals.all > 0 ? `${((100 * Math.max(0, totals.kernel)) / totals.all).toFixed(1)}%` : "-",
            })}
          </p>
        </>
      )}
      {chart !== null && !split.counterMissing && (
        <figure className={styles.splitFigure}>
          <div className={styles.legend}>
            <span><span className={`${styles.swatch} ${styles.kernelSwatch}`} aria-hidden />{t("legendKernel")}</span>
            <span><span className={`${styles.swatch} ${styles.userSwatch}`} aria-hidden />{t("legendUser")}</span>
          </div>
          <div className={styles.splitChart}>
            <span className={`small muted ${styles.yTop}`}>{t("rate", { v: formatCount(chart.yTop) })}</span>
            <svg className={styles.splitSvg} viewBox={`0 0 ${SPLIT_W} ${SPLIT_H}`} preserveAspectRatio="none" role="img" aria-label={t("splitTitle")}>
              <path className={styles.kernelArea} d={chart.kernelPath} />
              <path className={styles.userArea} d={chart.userPath} />
              {chart.rounds.map((i) => (
                <rect key={i.toTs} className={styles.hit} x={chart.x(i.fromTs)} width={Math.max(0, chart.x(i.toTs) - chart.x(i.fromTs))} y={0} height={SPLIT_H}>
                  <title>{t("interval", { from: formatNs(i.fromTs), to: formatNs(i.toTs), kernel: formatCount(i.kernel), user: formatCount(i.userspace) })}</title>
                </rect>
              ))}
            </svg>
            <div className={`small muted ${styles.xAxis}`}>
              <span>{formatNs(chart.x.domain()[0]!)}</span>
              <span>{formatNs(chart.x.domain()[1]!)}</span>
            </div>
          </div>
          {split.perVcpu.length > 1 && (
            <ul className={`small ${styles.perVcpu}`}>
              {split.perVcpu.map((v) => {
                const all = v.intervals.reduce((s, i) => s + i.all, 0);
                const user = v.intervals.reduce((s, i) => s + i.userspace, 0);
                return <li key={v.vcpu}>{t("perVcpu", { n: v.vcpu, all: formatCount(all), kernel: formatCount(all - user), user: formatCount(user) })}</li>;
              })}
            </ul>
          )}
        </figure>
      )}
      {totals !== null && totals.kernel < 0 && <p className="muted small">{t("negativeNote")}</p>}
      {view.lost > 0 && <p className={`small ${styles.warn}`}>{t("lostNote", { n: formatCount(view.lost) })}</p>}
    </div>
  );
});
