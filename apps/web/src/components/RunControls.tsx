"use client";
// The teacher's controls over a live run (pause, resume, step one, step N, stop, slow motion,
// an exit breakpoint) and, for any run, the replay scrubber, exports and a shareable link.
import { memo, useState } from "react";
import { type BreakCondition, EXIT_REASON_NAMES, type ExportFormat } from "@kvmscope/shared";
import { formatCount, parseNumber } from "@/lib/format";
import { defineMessages, useT } from "@/lib/i18n";
import styles from "./RunControls.module.css";

const messages = defineMessages({
  en: {
    pause: "Pause", resume: "Resume", step: "Step one exit", stepN: "Step", stop: "Stop",
    stepCount: "exits to step",
    slow: "Slow motion", slowOff: "off", slowRate: "{n} {n|exit|exits}/s",
    keys: "Keys: space = pause/resume (play in a replay), n = one exit",
    breakTitle: "Exit breakpoint", reason: "reason", anyReason: "any reason", port: "port", addr: "address", vcpu: "vCPU", direction: "direction", any: "any",
    arm: "Pause at the next match", armed: "armed: pauses after the next exit matching {what}",
    replay: "Replay", play: "Play", pausePlay: "Pause", speed: "speed", toEnd: "Follow the newest",
    position: "record {n} of {total}",
    exitByExit: "Watch exit by exit", exitByExitStop: "Stop watching",
    exitByExitHint: "Replays the run one exit at a time, each drawn on its way guest → KVM → vCPU thread → device and back.",
    exportNd: "Export NDJSON", exportChrome: "Export Chrome / Perfetto",
    share: "Copy link to this exit", copied: "Link copied",
    notLive: "This run is not live: controls act on running VMs only.",
  },
  ja: {
    pause: "一時停止", resume: "再開", step: "1 exit 進める", stepN: "進める", stop: "停止",
    stepCount: "進める exit 数",
    slow: "スローモーション", slowOff: "なし", slowRate: "毎秒 {n} exit",
    keys: "キー: スペース = 一時停止/再開（リプレイでは再生）、n = 1 exit",
    breakTitle: "exit ブレークポイント", reason: "理由", anyReason: "すべての理由", port: "ポート", addr: "アドレス", vcpu: "vCPU", direction: "方向", any: "すべて",
    arm: "次に一致したら一時停止", armed: "設定済み: {what} に一致する次の exit の後で一時停止します",
    replay: "リプレイ", play: "再生", pausePlay: "一時停止", speed: "速度", toEnd: "最新に追従",
    position: "レコード {n} / {total}",
    exitByExit: "exit をひとつずつ見る", exitByExitStop: "見るのをやめる",
    exitByExitHint: "exit をひとつずつ再生し、ゲスト → KVM → vCPU スレッド → デバイス → 戻りの道筋をそれぞれ描きます。",
    exportNd: "NDJSON で書き出す", exportChrome: "Chrome / Perfetto 形式で書き出す",
    share: "この exit へのリンクをコピー", copied: "リンクをコピーしました",
    notLive: "この実行はもう動いていません。操作できるのは実行中の VM だけです。",
  },
});

export const SLOW_RATES = [0.5, 1, 2, 5] as const;
export const REPLAY_SPEEDS = [1, 10, 100, 1000, 10000] as const;

export interface LiveControlProps {
  live: boolean;
  paused: boolean;
  busy: boolean;
  slow: number | null;
  armed: BreakCondition | null;
  onControl: (action: "pause" | "resume" | "stop") => void;
  onStep: (count: number) => void;
  onSlow: (rate: number | null) => void;
  onBreak: (when: BreakCondition) => void;
}

function describeBreak(w: BreakCondition): string {
  return Object.entries(w)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${k === "port" || k === "addr" ? `0x${(v as number).toString(16)}` : String(v)}`)
    .join(", ");
}

export const LiveControls = memo(function LiveControls(p: LiveControlProps) {
  const t = useT(messages);
  const [count, setCount] = useState("10");
  const [reason, setReason] = useState("");
  const [port, setPort] = useState("");
  const [addr, setAddr] = useState("");
  const [vcpu, setVcpu] = useState("");
  const [direction, setDirection] = useState("");
  const [formError, setFormError] = useState<string | null>(null);
  const dis = !p.live || p.busy;

  const arm = () => {
    const when: BreakCondition = {};
    if (reason !== "") when.reason = reason as BreakCondition["reason"];
    for (const [text, key, max] of [[port, "port", 0xffff], [addr, "addr", Number.MAX_SAFE_INTEGER], [vcpu, "vcpu", 63]] as const) {
      if (text.trim() === "") continue;
      const n = parseNumber(text);
      if (n === undefined || n > max) {
        setFormError(`${key}: "${text}"`);
        return;
      }
      when[key] = n;
    }
    if (direction !== "") when.direction = direction as BreakCondition["direction"];
    if (Object.keys(when).length === 0) {
      setFormError(t("anyReason"));
      return;
    }
    setFormError(null);
    p.onBreak(when);
  };

  return (
    <div className={styles.bar} data-testid="live-controls">
      {!p.live && <span className="muted small">{t("notLive")}</span>}
      <div className={styles.group}>
        {p.paused ? (
          <button type="button" className="primary" disabled={dis} onClick={() => p.onControl("resume")} data-testid="resume">{t("resume")}</button>
        ) : (
          <button type="button" disabled={dis} onClick={() => p.onControl("pause")} data-testid="pause">{t("pause")}</button>
        )}
        <button type="button" disabled={dis} onClick={() => p.onStep(1)} data-testid="step" title="n">{t("step")}</button>
        <input aria-label={t("stepCount")} className={styles.num} value={count} onChange={(e) => setCount(e.target.value)} disabled={dis} data-testid="step-count" />
        <button type="button" disabled={dis || !(Number(count) >= 1)} onClick={() => p.onStep(Math.min(1_000_000, Math.floor(Number(count))))} data-testid="step-n">{t("stepN")}</button>
        <button type="button" disabled={dis} onClick={() => p.onControl("stop")} data-testid="stop">{t("stop")}</button>
      </div>
      <label className={styles.group}>
        {t("slow")}
        <select value={p.slow ?? ""} disabled={!p.live} onChange={(e) => p.onSlow(e.target.value === "" ? null : Number(e.target.value))} data-testid="slow-motion">
          <option value="">{t("slowOff")}</option>
          {SLOW_RATES.map((r) => (
            <option key={r} value={r}>{t("slowRate", { n: r })}</option>
          ))}
        </select>
      </label>
      <details className={styles.break}>
        <summary>{t("breakTitle")}</summary>
        <div className={styles.breakForm}>
          <label>{t("reason")} <select value={reason} onChange={(e) => setReason(e.target.value)} data-testid="break-reason">
            <option value="">{t("anyReason")}</option>
            {EXIT_REASON_NAMES.filter((n) => n !== "").map((n) => <option key={n} value={n}>{n}</option>)}
          </select></label>
          <label>{t("port")} <input className={styles.num} value={port} onChange={(e) => setPort(e.target.value)} placeholder="0x3f8" /></label>
          <label>{t("addr")} <input className={styles.addr} value={addr} onChange={(e) => setAddr(e.target.value)} placeholder="0xd0000000" /></label>
          <label>{t("vcpu")} <input className={styles.num} value={vcpu} onChange={(e) => setVcpu(e.target.value)} placeholder="0" /></label>
          <label>{t("direction")} <select value={direction} onChange={(e) => setDirection(e.target.value)}>
            <option value="">{t("any")}</option>
            {["in", "out", "read", "write"].map((d) => <option key={d} value={d}>{d}</option>)}
          </select></label>
          <button type="button" disabled={dis} onClick={arm} data-testid="break-arm">{t("arm")}</button>
          {formError !== null && <span className={styles.err}>{formError}</span>}
        </div>
      </details>
      {p.armed !== null && <span className="small" data-testid="break-armed">{t("armed", { what: describeBreak(p.armed) })}</span>}
      <span className="muted small">{t("keys")}</span>
    </div>
  );
});

export interface ReplayProps {
  cursorSeq: number;
  maxSeq: number;
  /** Records held at the cursor and in all (seqs can have gaps: the position counts records). */
  heldAtCursor: number;
  held: number;
  following: boolean;
  playing: boolean;
  speed: number;
  onSeek: (seq: number) => void;
  onFollow: () => void;
  onPlay: (playing: boolean) => void;
  onSpeed: (speed: number) => void;
  /** Replaying one exit at a time with each exit's journey drawn; undefined: not offered (a live run). */
  exitByExit?: boolean | undefined;
  onExitByExit?: ((on: boolean) => void) | undefined;
}

export const ReplayBar = memo(function ReplayBar(p: ReplayProps) {
  const t = useT(messages);
  const max = Math.max(0, p.maxSeq);
  return (
    <div className={styles.bar} data-testid="replay-bar">
      <strong>{t("replay")}</strong>
      {p.exitByExit !== undefined && p.onExitByExit !== undefined && (
        <button type="button" className={p.exitByExit ? undefined : "primary"} title={t("exitByExitHint")} onClick={() => p.onExitByExit!(!p.exitByExit)} data-testid="replay-exits" aria-pressed={p.exitByExit}>
          {p.exitByExit ? t("exitByExitStop") : t("exitByExit")}
        </button>
      )}
      <button type="button" onClick={() => p.onPlay(!p.playing)} data-testid="replay-play">{p.playing ? t("pausePlay") : t("play")}</button>
      <input
        type="range"
        min={0}
        max={max}
        value={Math.min(p.cursorSeq, max)}
        onChange={(e) => p.onSeek(Number(e.target.value))}
        className={styles.scrubber}
        aria-label={t("replay")}
        data-testid="scrubber"
      />
      <span className="mono small" data-testid="cursor-position">{t("position", { n: formatCount(p.heldAtCursor), total: formatCount(p.held) })}</span>
      <label className="small">{t("speed")} <select value={p.speed} onChange={(e) => p.onSpeed(Number(e.target.value))}>
        {REPLAY_SPEEDS.map((s) => <option key={s} value={s}>{s}/s</option>)}
      </select></label>
      <button type="button" disabled={p.following} onClick={p.onFollow} data-testid="follow">{t("toEnd")}</button>
    </div>
  );
});

export function ExportLinks({ exportUrl, shareUrl }: { exportUrl: (f: ExportFormat) => string; shareUrl: string }) {
  const t = useT(messages);
  const [copied, setCopied] = useState(false);
  return (
    <div className={styles.group}>
      <a href={exportUrl("ndjson")} download data-testid="export-ndjson">{t("exportNd")}</a>
      <a href={exportUrl("chrome")} download data-testid="export-chrome">{t("exportChrome")}</a>
      <button
        type="button"
        data-testid="share"
        data-url={shareUrl}
        onClick={() => {
          void navigator.clipboard?.writeText(shareUrl).then(() => setCopied(true), () => setCopied(false));
        }}
      >
        {copied ? t("copied") : t("share")}
      </button>
    </div>
  );
}
