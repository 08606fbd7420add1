"use client";
// A run's page, live and replay alike. It owns the run's TraceStore (fed by RunConnection), the
// cursor (the newest record while following a live run, the scrubber's position in a replay),
// the selected record, and the controls; every panel draws from those.
import Link from "next/link";
import { type ReactNode, useCallback, useEffect, useMemo, useRef, useState } from "react";
import { type BreakCondition, type ControlBody, RecordKind, type RunInfo } from "@kvmscope/shared";
import { ConsoleTranscript } from "@/lib/console-text";
import { buildDeepLink, parseDeepLink, seqOfNthExit, type View } from "@/lib/deep-link";
import { newestExitAt, nextExitAfter } from "@/lib/activity";
import { formatCount } from "@/lib/format";
import { lifecycleHighlight, threadModelHighlight } from "@/lib/guide";
import { defineMessages, useLang, useT } from "@/lib/i18n";
import { type ConnectionState, RunConnection } from "@/lib/live";
import { useService } from "@/lib/service-context";
import { endMessage } from "@/lib/outcomes";
import { runExitCount, storeCapFromQuery, TraceStore } from "@/lib/trace-store";
import { Console } from "./Console";
import { KvmRunPage } from "./KvmRunPage";
import { Lifecycle } from "./Lifecycle";
import { ExportLinks, LiveControls, ReplayBar } from "./RunControls";
import { RunStatusBadge } from "./RunStatusBadge";
import { SelectedExit } from "./SelectedExit";
import { ServiceDown } from "./ServiceDown";
import { StatsPanel } from "./StatsPanel";
import { JOURNEY_MS, ThreadModel } from "./ThreadModel";
import { Timeline } from "./Timeline";
import styles from "./RunView.module.css";

const messages = defineMessages({
  en: {
    loading: "Loading the run…",
    gone: "This run does not exist (any more)",
    back: "Back to the guests",
    retrying: "Reconnecting in {s} s: {reason}",
    records: "{n} {n|record|records}",
    exits: "{n} {n|exit|exits}",
    live: "live",
    replay: "replay",
    complete: "all records loaded",
    config: "{vcpus} {vcpus|vCPU|vCPUs} · {mem} MiB · irqchip {irq} · {mode}",
    irq_user: "user", irq_kernel: "kernel", mode_live: "live", mode_step: "step mode",
    image: "own image",
    ended: "Ended: {message}",
    lost: "{n} {n|record was|records were} lost (a trace ring overflowed)",
    backToStep: "Back to the teacher's step",
    backToStepTeacher: "Back to this step",
    studentNote: "The teacher controls this run; you can look around freely.",
    firstExit: "This run has ended; the page opened at its first exit. Watch it exit by exit, or scrub anywhere.",
    full: "This page keeps every record up to its cap of {cap}; after that only the console output, ioctls, markers, statistics samples and exits other than port and MMIO traffic. {more} records (from record {from} on) were not kept here, {exits} of them exits. Export the run for every record.",
    completeFull: "every record received; {n} kept",
  },
  ja: {
    loading: "実行を読み込み中…",
    gone: "この実行は存在しません（削除されたか、ID が違います）",
    back: "ゲスト一覧に戻る",
    retrying: "{s} 秒後に再接続します: {reason}",
    records: "レコード {n} 件",
    exits: "exit {n} 回",
    live: "ライブ",
    replay: "リプレイ",
    complete: "全レコード読み込み済み",
    config: "vCPU {vcpus} 個 · {mem} MiB · irqchip {irq} · {mode}",
    irq_user: "ユーザー空間", irq_kernel: "カーネル内", mode_live: "連続実行", mode_step: "ステップ実行",
    image: "独自イメージ",
    ended: "終了: {message}",
    lost: "{n} 件のレコードが失われました（トレースリングのあふれ）",
    backToStep: "先生のステップに戻る",
    backToStepTeacher: "このステップに戻る",
    studentNote: "この実行は先生が操作しています。自由に見て回ってかまいません。",
    firstExit: "この実行は終了しています。最初の exit の位置で開きました。exit をひとつずつ見るか、好きな位置に移動してください。",
    full: "このページは上限の {cap} 件まではすべてのレコードを保持し、それ以降はコンソール出力・ioctl・マーカー・統計サンプル・ポートと MMIO 以外の exit だけを保持します。レコード {from} 以降の {more} 件（うち exit {exits} 回）はここに保持していません。すべてのレコードは書き出してご覧ください。",
    completeFull: "全レコード受信済み（保持 {n} 件）",
  },
});

type Mode = "live" | "step" | "replay";

/** How often, at most, the panels take in newly arrived records. */
const PANEL_HZ = 8;

/** A walkthrough leading this page (a class session): where to look, and who may control the run. */
export interface RunGuide {
  /** Changes with every step, so that returning to a step re-applies it. */
  key: string;
  /** The record the step is at; null before the first step. */
  seq: number | null;
  /** Parts to emphasise (walkthrough ids: "vcpu0", "dev:uart", "lifecycle:KVM_CREATE_VM" ...). */
  highlight: readonly string[];
  /** "reader": a walkthrough replayed alone (no teacher, nothing live to control). */
  role: "teacher" | "student" | "reader";
  /** The teacher's secret, sent with every control. */
  token?: string | undefined;
  /** The step's text, questions and the teacher's buttons, shown above the panels. */
  panel: ReactNode;
}

/** `?slow=N`: slow motion at N exits a second from the start (0.5 to 5), or null. */
function slowFromQuery(search: string): number | null {
  const raw = new URLSearchParams(search).get("slow");
  const n = raw === null ? NaN : Number(raw);
  return Number.isFinite(n) && n >= 0.5 && n <= 5 ? n : null;
}

/** Is this key press ours, or is the person typing into a field or the terminal? */
function typingInto(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ["INPUT", "SELECT", "TEXTAREA"].includes(target.tagName) || target.closest(".xterm") !== null;
}

export function RunView({ id, guide }: { id: string; guide?: RunGuide | undefined }) {
  const t = useT(messages);
  const { lang } = useLang();
  const service = useService();
  const store = useMemo(() => new TraceStore(typeof window === "undefined" ? undefined : storeCapFromQuery(window.location.search)), []);
  const transcript = useMemo(() => new ConsoleTranscript(), []);
  const [version, setVersion] = useState(0);
  const [run, setRun] = useState<RunInfo | null>(null);
  const [conn, setConn] = useState<ConnectionState>({ kind: "loading" });
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [selectedSeq, setSelectedSeq] = useState<number | null>(null);
  const [following, setFollowing] = useState(true);
  const [cursor, setCursor] = useState(0);
  const [playing, setPlaying] = useState(false);
  const [speed, setSpeed] = useState(10);
  const [slow, setSlow] = useState<number | null>(null);
  const [armed, setArmed] = useState<{ when: BreakCondition; atExits: number } | null>(null);
  const [focusView, setFocusView] = useState<View | null>(null);
  const connection = useRef<RunConnection | null>(null);
  const [detached, setDetached] = useState(false);
  const guideToken = guide?.token;
  const student = guide?.role === "student";
  const pendingLink = useRef(parseDeepLink(""));
  /** Replaying one exit at a time, each with its journey drawn. */
  const [exitByExit, setExitByExit] = useState(false);
  /** Where exit by exit starts: the seq after which its first exit is looked for. */
  const exitByExitFrom = useRef(-1);
  /** The page opened a run that had already ended, at its first exit (not a deep link, not a class). */
  const [openedAtFirst, setOpenedAtFirst] = useState(false);
  /** A step, `n`, a breakpoint or slow motion selects the exit the run stopped at, until the reader selects another. */
  const autoSelect = useRef(true);
  const guided = guide !== undefined;
  const guidedRef = useRef(guided);
  guidedRef.current = guided;

  /** Puts the cursor on record `seq` and selects it (a deep link, a walkthrough step, exit by exit). */
  const showRecord = useCallback((seq: number) => {
    setFollowing(false);
    setCursor(seq);
    setSelectedSeq(seq);
  }, []);

  // ---- the connection: history + live stream into the store
  useEffect(() => {
    const link = parseDeepLink(window.location.search);
    pendingLink.current = link;
    if (link.view !== undefined) setFocusView(link.view);
    let frame = 0;
    let timer: ReturnType<typeof setTimeout> | null = null;
    let last = 0;
    const publish = () => {
      frame = 0;
      last = performance.now();
      setVersion(store.version);
    };
    let first = true;
    const slowAsked = slowFromQuery(window.location.search);
    const c = new RunConnection(service, id, store, {
      onRun: (r) => {
        if (first) {
          first = false;
          // A run that ended before its page opened (every catalog guest run freely does) opens at
          // its first exit, not at the end: that is where a newcomer should start reading.
          const link = pendingLink.current;
          if (!r.live && !guidedRef.current && link.seq === undefined && link.exit === undefined) {
            pendingLink.current = { ...link, exit: 1 };
            setOpenedAtFirst(true);
          }
          // `?slow=N` (the home page's "start here"): slow motion from the first exit on.
          if (r.live && slowAsked !== null && !guidedRef.current) setSlow(slowAsked);
        }
        setRun(r);
      },
      onState: setConn,
      onRecords: () => {
        // The panels redraw at most PANEL_HZ times a second however fast records arrive: a
        // guest making 100,000 exits a second must not cost the page a React pass per batch.
        // A record after a quiet spell (a single step) shows on the next frame.
        if (frame !== 0 || timer !== null) return;
        const wait = last + 1000 / PANEL_HZ - performance.now();
        if (wait <= 0) frame = requestAnimationFrame(publish);
        else timer = setTimeout(() => {
          timer = null;
          frame = requestAnimationFrame(publish);
        }, wait);
      },
      onError: setError,
    });
    connection.current = c;
    c.start();
    return () => {
      cancelAnimationFrame(frame);
      if (timer !== null) clearTimeout(timer);
      c.close();
      connection.current = null;
    };
  }, [service, id, store]);

  // ---- a deep link resolves once its record is here
  useEffect(() => {
    const link = pendingLink.current;
    let seq: number | undefined = link.seq;
    if (seq === undefined && link.exit !== undefined) {
      // "The n-th exit" is only known once every record before it is here: live batches can
      // arrive before the history that precedes them.
      const found = seqOfNthExit(store, link.exit, link.vcpu);
      if (found !== undefined && found < store.firstMissingSeq()) seq = found;
    }
    if (seq === undefined || store.rowOfSeq(seq) < 0) return;
    pendingLink.current = {};
    showRecord(seq);
  }, [version, store, showRecord]);

  // ---- a step, `n`, a breakpoint hit: select the exit the run stopped at
  const liveNow = run?.live === true;
  const pausedNow = run?.status === "paused";
  const stepping = liveNow && (run?.config.mode === "step" || slow !== null || pausedNow);
  useEffect(() => {
    if (guided || !following || !stepping || !autoSelect.current) return;
    const seq = newestExitAt(store, store.maxSeq);
    if (seq !== null) setSelectedSeq(seq);
  }, [version, store, guided, following, stepping]);

  // ---- exit by exit: the cursor moves to the next exit once the previous journey has been drawn
  useEffect(() => {
    if (!exitByExit) return;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const next = (afterSeq: number) => {
      const seq = nextExitAfter(store, afterSeq);
      if (seq === null) {
        setExitByExit(false);
        return;
      }
      showRecord(seq);
      timer = setTimeout(() => next(seq), JOURNEY_MS + 300);
    };
    next(exitByExitFrom.current);
    return () => {
      if (timer !== null) clearTimeout(timer);
    };
  }, [exitByExit, store, showRecord]);

  // ---- a walkthrough step: everyone's page moves to its record (until the reader looks elsewhere)
  const guideKey = guide?.key;
  const guideSeq = guide?.seq ?? null;
  const applyGuide = useCallback(() => {
    setDetached(false);
    setPlaying(false);
    if (guideSeq === null) {
      setFollowing(true);
      return;
    }
    showRecord(guideSeq);
  }, [guideSeq, showRecord]);
  useEffect(() => {
    if (guideKey !== undefined) applyGuide();
  }, [guideKey, applyGuide]);

  const live = liveNow;
  const maxSeq = store.maxSeq;
  const cursorSeq = following ? maxSeq : Math.min(cursor, maxSeq);
  const cursorRef = useRef(cursorSeq);
  cursorRef.current = cursorSeq;
  const mode: Mode = exitByExit ? "step" : !following || !live ? "replay" : run?.config.mode === "step" || slow !== null ? "step" : "live";
  // Slow motion keeps the run paused between its steps: to the reader it is running, slowly.
  const slowing = slow !== null && live;
  const paused = run?.status === "paused" && !slowing;
  // A breakpoint is spent once the run has paused after an exit that came after it was armed.
  const armedShown = armed !== null && !(paused && store.exitCount > armed.atExits) ? armed.when : null;

  // ---- console text at the cursor
  const consoleText = useMemo(() => {
    transcript.update(store);
    return transcript.textAt(cursorSeq);
    // eslint-disable-next-line react-hooks/exhaustive-deps -- version stands for the store's contents
  }, [transcript, store, version, cursorSeq]);

  // ---- controls
  // A teacher-led run takes controls over HTTP with the teacher's secret; any other run over its socket.
  const send = useCallback(
    async (body: ControlBody): Promise<RunInfo | undefined> => {
      if (guideToken !== undefined) return service.control(id, body, guideToken);
      return connection.current?.control(body);
    },
    [service, id, guideToken],
  );
  const control = useCallback(
    async (body: ControlBody) => {
      setBusy(true);
      setError(null);
      try {
        const r = await send(body);
        if (r !== undefined) setRun(r);
      } catch (err) {
        setError((err as Error).message);
      } finally {
        setBusy(false);
      }
    },
    [send],
  );
  const onControl = useCallback((action: "pause" | "resume" | "stop") => {
    setSlow(null); // pausing a slow-motion run stops it where it is
    autoSelect.current = true;
    void control({ action });
  }, [control]);
  const onStep = useCallback((count: number) => {
    autoSelect.current = true;
    // Show the exit the step makes (a class page keeps its walkthrough's cursor).
    if (!guidedRef.current) setFollowing(true);
    void control({ action: "step", count });
  }, [control]);
  const onSlow = useCallback((rate: number | null) => {
    autoSelect.current = true;
    setSlow(rate);
  }, []);
  const onBreak = useCallback((when: BreakCondition) => {
    autoSelect.current = true;
    setArmed({ when, atExits: store.exitCount });
    void control({ action: "break", when });
  }, [control, store]);

  // Slow motion: the page paces the run itself, one exit per tick, so a class can follow each one.
  useEffect(() => {
    if (slow === null || !live) return;
    let stopped = false;
    void (async () => {
      try {
        await send({ action: "pause" });
        while (!stopped) {
          await new Promise((r) => setTimeout(r, 1000 / slow));
          if (stopped) break;
          const r = await send({ action: "step", count: 1 });
          if (r !== undefined) setRun(r);
        }
      } catch (err) {
        if (!stopped) setError((err as Error).message);
        setSlow(null);
      }
    })();
    return () => {
      stopped = true;
    };
  }, [slow, live, send]);

  // Replay playback: the cursor walks forward at `speed` records per second of wall time.
  useEffect(() => {
    if (!playing) return;
    let last = performance.now();
    let carry = 0;
    let frame = requestAnimationFrame(function tick(now) {
      carry += ((now - last) / 1000) * speed;
      last = now;
      const step = Math.floor(carry);
      if (step > 0) {
        carry -= step;
        setCursor((c) => {
          const next = Math.min(c + step, store.maxSeq);
          if (next >= store.maxSeq) setPlaying(false);
          return next;
        });
      }
      frame = requestAnimationFrame(tick);
    });
    return () => cancelAnimationFrame(frame);
  }, [playing, speed, store]);

  const seek = useCallback((seq: number) => {
    setExitByExit(false);
    setFollowing(false);
    setCursor(seq);
    setDetached(true);
  }, []);
  const play = useCallback((on: boolean) => {
    if (on) {
      setExitByExit(false);
      // From what is on screen (while following, that is the newest record), or from the start at the end.
      setFollowing(false);
      setCursor(cursorSeq >= store.maxSeq ? 0 : cursorSeq);
    }
    setPlaying(on);
  }, [store, cursorSeq]);
  const follow = useCallback(() => {
    setExitByExit(false);
    setPlaying(false);
    setFollowing(true);
  }, []);
  const watchExits = useCallback((on: boolean) => {
    setPlaying(false);
    if (on) {
      // From the exit at the cursor (drawn again, on its way this time); from the start when nothing is ahead.
      const at = cursorRef.current;
      const row = store.rowOfSeq(at);
      const from = row >= 0 && store.kind[row] === RecordKind.Exit ? at - 1 : at;
      exitByExitFrom.current = nextExitAfter(store, from) === null ? -1 : from;
    }
    setExitByExit(on);
  }, [store]);
  const select = useCallback((seq: number | null) => {
    autoSelect.current = false;
    setSelectedSeq(seq);
    setDetached(true);
  }, []);

  // ---- keyboard: space pauses/resumes (plays a replay), n takes one exit
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.ctrlKey || e.metaKey || e.altKey || typingInto(e.target)) return;
      if (e.key === " ") {
        e.preventDefault();
        if (student) return;
        if (mode !== "replay" && live) onControl(paused ? "resume" : "pause");
        else play(!playing);
      } else if (e.key === "n") {
        e.preventDefault();
        if (mode !== "replay" && live && !student) onStep(1);
        else seek(Math.min(cursorSeq + 1, store.maxSeq));
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [mode, live, paused, playing, cursorSeq, onControl, onStep, play, seek, store, student]);

  // ---- a deep link's view: bring that panel into sight
  const panelRef = useCallback(
    (view: View) => (el: HTMLElement | null) => {
      if (el !== null && focusView === view) {
        el.scrollIntoView({ block: "center" });
        setFocusView(null);
      }
    },
    [focusView],
  );

  const highlightKey = (guide?.highlight ?? []).join(" ");
  const guideThread = useMemo(() => (highlightKey === "" ? undefined : threadModelHighlight(highlightKey.split(" "))), [highlightKey]);
  const guideLifecycle = useMemo(
    () => (highlightKey === "" ? undefined : lifecycleHighlight(highlightKey.split(" "), run?.config.vcpus ?? 1)),
    [highlightKey, run?.config.vcpus],
  );
  const typeInto = useCallback(
    (data: string) => {
      const p = guideToken !== undefined ? service.consoleInput(id, data, guideToken) : connection.current?.typeInto(data);
      void p?.catch((err: Error) => setError(err.message));
    },
    [service, id, guideToken],
  );

  const shareUrl = useMemo(() => {
    if (typeof window === "undefined") return "";
    const keep = new URLSearchParams(window.location.search);
    return `${window.location.origin}/runs/${encodeURIComponent(id)}${buildDeepLink({ seq: selectedSeq ?? undefined, view: selectedSeq !== null ? "exit" : undefined }, keep)}`;
  }, [id, selectedSeq]);

  useEffect(() => {
    document.title = `kvmscope · ${run?.guest ?? id}`;
  }, [run?.guest, id]);

  if (conn.kind === "gone") {
    return (
      <main className={styles.main}>
        <div role="alert" data-testid="run-gone" className="panel">
          <h2>{t("gone")}</h2>
          <p className="muted">{conn.reason}</p>
          <Link href="/">{t("back")}</Link>
        </div>
      </main>
    );
  }

  const lost = typeof run?.outcome?.lostRecords === "number" ? run.outcome.lostRecords : 0;
  const ended = endMessage(run?.outcome, lang);
  const vcpus = run?.config.vcpus ?? Math.max(1, store.vcpus.length);
  const exitTotal = runExitCount(store, run?.totals);

  return (
    <main className={styles.main} data-testid="run-view" data-mode={mode} data-cursor-seq={cursorSeq} data-records={store.count} data-exits={exitTotal} data-not-kept={store.refused} data-connection={conn.kind}>
      <header className={styles.head}>
        <h1 className={styles.title}>
          {run?.guest ?? t("image")} <code className="muted small">{id}</code>
        </h1>
        {run !== null && <RunStatusBadge run={run} slow={slowing ? slow : null} />}
        <span className="small muted">
          {run !== null && t("config", { vcpus: run.config.vcpus, mem: run.config.memMiB, irq: t(`irq_${run.config.irqchip}`), mode: t(`mode_${run.config.mode}`) })}
        </span>
        <span className="small" data-testid="record-count" data-value={store.count}>
          {t("records", { n: formatCount(store.count) })} · {t("exits", { n: formatCount(exitTotal) })} ·{" "}
          {conn.kind === "live" ? t("live") : conn.kind === "complete" ? (store.refused > 0 ? t("completeFull", { n: formatCount(store.count) }) : t("complete")) : conn.kind === "loading" ? t("loading") : ""}
        </span>
        <ExportLinks exportUrl={(f) => service.exportUrl(id, f)} shareUrl={shareUrl} />
      </header>
      {conn.kind === "retrying" && <ServiceDown reason={t("retrying", { s: Math.round(conn.inMs / 1000), reason: conn.reason })} />}
      {error !== null && (
        <p role="alert" className={styles.error} data-testid="error">
          {error}
        </p>
      )}
      {ended !== null && !live && <p className="small" data-testid="end-message">{t("ended", { message: ended })}</p>}
      {lost > 0 && <p className="small" style={{ color: "var(--warn)" }}>{t("lost", { n: formatCount(lost) })}</p>}
      {store.refused > 0 && (
        <p className="small" style={{ color: "var(--warn)" }} data-testid="store-full">
          {t("full", { cap: formatCount(store.maxRecords), more: formatCount(store.refused), from: formatCount(store.firstRefusedSeq), exits: formatCount(store.refusedExits) })}
        </p>
      )}
      {guide?.panel}
      {guide !== undefined && detached && (
        <button type="button" className="primary" onClick={applyGuide} data-testid="back-to-step">
          {student ? t("backToStep") : t("backToStepTeacher")}
        </button>
      )}
      {student ? (
        <p className="small muted" data-testid="student-note">{t("studentNote")}</p>
      ) : (
        <LiveControls live={live} paused={paused} busy={busy} slow={slow} armed={armedShown} onControl={onControl} onStep={onStep} onSlow={onSlow} onBreak={onBreak} />
      )}
      <ReplayBar cursorSeq={cursorSeq} maxSeq={maxSeq} heldAtCursor={store.heldUpTo(cursorSeq)} held={store.count} following={following} playing={playing} speed={speed} onSeek={seek} onFollow={follow} onPlay={play} onSpeed={setSpeed} exitByExit={live ? undefined : exitByExit} onExitByExit={watchExits} />
      {openedAtFirst && !live && (
        <p className="small muted" data-testid="opened-at-first">{t("firstExit")}</p>
      )}

      <div className={styles.grid}>
        <div className={styles.thread} ref={panelRef("thread")}>
          <ThreadModel store={store} version={version} cursorSeq={cursorSeq} selectedSeq={selectedSeq} onSelect={select} mode={mode} paused={paused || (mode === "replay" && !playing)} vcpus={vcpus} irqchip={run?.config.irqchip ?? "user"} highlight={guideThread} />
        </div>
        <div className={styles.lifecycle} ref={panelRef("lifecycle")}>
          <Lifecycle store={store} version={version} cursorSeq={cursorSeq} selectedSeq={selectedSeq} onSelect={select} mode={mode} paused={paused} vcpus={vcpus} irqchip={run?.config.irqchip} outcome={run?.outcome} highlight={guideLifecycle} />
        </div>
        <div className={styles.timeline} ref={panelRef("timeline")}>
          <Timeline store={store} version={version} cursorSeq={cursorSeq} selectedSeq={selectedSeq} onSelect={select} mode={mode} paused={paused} follow={following} />
        </div>
        <div className={styles.exit} ref={panelRef("exit")}>
          <SelectedExit store={store} version={version} cursorSeq={cursorSeq} selectedSeq={selectedSeq} onSelect={select} mode={mode} paused={paused} />
        </div>
        <div className={styles.kvmrun} ref={panelRef("kvm-run")}>
          <KvmRunPage store={store} version={version} cursorSeq={cursorSeq} selectedSeq={selectedSeq} onSelect={select} mode={mode} paused={paused} />
        </div>
        <div className={styles.console} ref={panelRef("console")}>
          <Console text={consoleText} onInput={live && !student ? typeInto : undefined} />
        </div>
        <div className={styles.stats} ref={panelRef("stats")}>
          <StatsPanel store={store} version={version} cursorSeq={cursorSeq} selectedSeq={selectedSeq} onSelect={select} mode={mode} paused={paused} />
        </div>
      </div>
    </main>
  );
}
