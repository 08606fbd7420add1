"use client";
// A walkthrough over a stored run (one a class made, or an imported export): the steps are found
// in the run's records with the same matcher the VMM's follower uses, and the reader moves from
// step to step; nothing runs, so no /dev/kvm is needed.
import { useEffect, useMemo, useState } from "react";
import { decodeBatch, locateSteps, type StepAnswer, type TraceRecord, type Walkthrough } from "@kvmscope/shared";
import { ServiceError } from "@/lib/api";
import { defineMessages, useT } from "@/lib/i18n";
import { useService } from "@/lib/service-context";
import { RunView } from "./RunView";
import { StepPanel } from "./StepPanel";

const messages = defineMessages({
  en: {
    loading: "Finding the steps in the run…", unknown: "No walkthrough “{id}”.", noRun: "Give the run to replay: ?run=ID", notFound: "Step {n} ({id}) is not in this run: {reason}",
    classHides: "A class is working through this walkthrough now: its answers come back once the class has ended.",
    noAnswers: "The answers could not be loaded: {reason}",
  },
  ja: {
    loading: "実行の中からステップを探しています…", unknown: "ウォークスルー「{id}」はありません。", noRun: "リプレイする実行を ?run=ID で指定してください", notFound: "ステップ {n}（{id}）はこの実行にありません: {reason}",
    classHides: "いまこのウォークスルーでクラスが進行中です。答えはクラスが終わると見られるようになります。",
    noAnswers: "答えを読み込めませんでした: {reason}",
  },
});

async function allRecords(service: ReturnType<typeof useService>, id: string): Promise<TraceRecord[]> {
  const out: TraceRecord[] = [];
  let next: number | null = 0;
  while (next !== null) {
    const page: { bytes: Uint8Array; next: number | null } = await service.recordPage(id, next);
    out.push(...decodeBatch(page.bytes));
    next = page.next;
  }
  return out;
}

export function WalkthroughReplay({ walkthroughId }: { walkthroughId: string }) {
  const t = useT(messages);
  const service = useService();
  // The address is read once: a language switch must not reload the records or reset the step.
  const [runs, setRuns] = useState<{ main: string; compare: string | null } | null | undefined>(undefined);
  useEffect(() => {
    const q = new URLSearchParams(window.location.search);
    const main = q.get("run");
    setRuns(main === null ? null : { main, compare: q.get("compare") });
  }, []);
  const [w, setW] = useState<Walkthrough | null | undefined>(undefined);
  const [reached, setReached] = useState<Map<number, number> | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notFound, setNotFound] = useState<{ n: number; id: string; reason: string } | null>(null);
  const [index, setIndex] = useState(-1);

  const [answers, setAnswers] = useState<StepAnswer[]>([]);
  const [answersNote, setAnswersNote] = useState<string | null>(null);
  useEffect(() => {
    service.walkthrough(walkthroughId).then(setW, (err: Error) => setError(err.message));
    // Studying alone, every answer is there, unless a class on this walkthrough hides them now.
    service.walkthroughAnswers(walkthroughId).then(setAnswers, (err: Error) => {
      setAnswersNote(err instanceof ServiceError && err.status === 403 ? "classHides" : `!${err.message}`);
    });
  }, [service, walkthroughId]);
  const answerMap = useMemo(() => new Map(answers.map((a) => [a.step, a.answer])), [answers]);

  useEffect(() => {
    if (w == null || runs == null) return;
    let cancelled = false;
    void (async () => {
      try {
        const main = await allRecords(service, runs.main);
        const compare = runs.compare !== null ? await allRecords(service, runs.compare) : undefined;
        if (cancelled) return;
        const located = locateSteps(w, compare === undefined ? { main } : { main, compare });
        setReached(new Map(located.steps.map((s) => [s.index, s.seq])));
        if (!located.ok) setNotFound({ n: located.failed.index + 1, id: located.failed.stepId, reason: located.failed.reason });
        setIndex(0);
      } catch (err) {
        if (!cancelled) setError((err as Error).message);
      }
    })();
    return () => {
      cancelled = true;
    };
  }, [service, w, runs]);

  const revealed = useMemo(() => new Set<number>(), []);
  const problem = runs === null ? t("noRun") : notFound !== null ? t("notFound", notFound) : error;
  if (w === null) return <main style={{ padding: 16 }}><p role="alert">{t("unknown", { id: walkthroughId })}</p></main>;
  if (w === undefined || runs == null || reached === null) return <main style={{ padding: 16 }}>{problem !== null ? <p role="alert">{problem}</p> : <p className="muted">{t("loading")}</p>}</main>;

  const step = w.steps[index];
  const runId = step?.run === "compare" && runs.compare !== null ? runs.compare : runs.main;
  const seq = reached.get(index) ?? null;
  const panel = (
    <StepPanel
      walkthrough={w}
      index={index}
      reached={reached}
      revealed={revealed}
      answers={answerMap}
      hiddenNote={answersNote === null ? "" : answersNote.startsWith("!") ? t("noAnswers", { reason: answersNote.slice(1) }) : t("classHides")}
      error={problem}
      lead={{ busy: false, onNext: () => setIndex((i) => Math.min(i + 1, w.steps.length - 1)), onGoto: (i) => setIndex(Math.max(0, i)) }}
    />
  );
  return <RunView key={runId} id={runId} guide={{ key: `${index}:${seq ?? ""}`, seq, highlight: step?.highlight ?? [], role: "reader", panel }} />;
}
