"use client";
// The walkthroughs: start one as a class session (you lead, students join with the code), or
// replay one over a stored or imported run (no /dev/kvm needed).
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useCallback, useEffect, useState } from "react";
import type { RunInfo, SessionInfo, Walkthrough } from "@kvmscope/shared";
import { defineMessages, type Lang, useLang, useT } from "@/lib/i18n";
import { forgetLedSession, ledSessions, saveTeacherToken, teacherToken } from "@/lib/session";
import { useService } from "@/lib/service-context";
import { useServiceData } from "@/lib/use-service-data";
import type { ServiceClient } from "@/lib/api";
import { formatDate } from "@/lib/format";
import { totalsExitCount } from "@/lib/trace-store";
import { ServiceDown } from "./ServiceDown";

const messages = defineMessages({
  en: {
    title: "Walkthroughs",
    intro: "Guided tours of a VM's life. Start one and you lead it: the run advances step by step to each point the tour talks about, and students who open the join link follow on their own screens.",
    start: "Start a class session",
    starting: "Starting…",
    steps: "{n} {n|step|steps}",
    run: "guest {guest} · {vcpus} {vcpus|vCPU|vCPUs} · irqchip {irq}",
    compare: " · then the same guest with irqchip {irq}",
    replay: "Replay over a stored run",
    choose: "choose a run",
    compareWith: "and the irqchip {irq} run",
    open: "Open",
    join: "Join a class with a code",
    loading: "Loading…",
    peek: "Students may show answers before I reveal them",
    yours: "Your class sessions",
    yoursHint: "Sessions this browser leads. One nobody leads for a while ends by itself; end the ones you are done with.",
    sessionLine: "{code} · {title} · step {step} of {total} · started {when}",
    lead: "Lead",
    endIt: "End",
    ended: "ended",
    forget: "Forget",
    exits: "{n} exits",
    classRun: "class {code}",
  },
  ja: {
    title: "ウォークスルー",
    intro: "VM の一生をたどるガイド付きツアーです。開始するとあなたが進行役になり、実行はツアーが説明する地点まで 1 ステップずつ進みます。参加リンクを開いた生徒は自分の画面でついてきます。",
    start: "クラスセッションを開始",
    starting: "開始中…",
    steps: "{n} ステップ",
    run: "ゲスト {guest} · vCPU {vcpus} 個 · irqchip {irq}",
    compare: " · 続いて同じゲストを irqchip {irq} で",
    replay: "保存済みの実行でリプレイ",
    choose: "実行を選ぶ",
    compareWith: "と irqchip {irq} の実行",
    open: "開く",
    join: "コードでクラスに参加",
    loading: "読み込み中…",
    peek: "先生が公開する前に生徒が答えを見てもよい",
    yours: "あなたのクラスセッション",
    yoursHint: "このブラウザーが進行しているセッションです。しばらく誰も進行しないセッションは自動で終わります。終わったものは終了してください。",
    sessionLine: "{code} · {title} · ステップ {step} / {total} · 開始 {when}",
    lead: "進行する",
    endIt: "終了",
    ended: "終了済み",
    forget: "一覧から外す",
    exits: "exit {n} 回",
    classRun: "クラス {code}",
  },
});

function RunSelect({ runs, value, onChange, testId }: { runs: RunInfo[]; value: string; onChange: (id: string) => void; testId: string }) {
  const t = useT(messages);
  const { lang } = useLang();
  return (
    <select value={value} onChange={(e) => onChange(e.target.value)} data-testid={testId}>
      <option value="">{t("choose")}</option>
      {runs.map((r) => {
        const outcome = typeof r.outcome?.outcome === "string" ? r.outcome.outcome : r.status;
        return (
          <option key={r.id} value={r.id}>
            {r.guest} · {formatDate(r.createdAt, lang)} · {outcome} · {t("exits", { n: totalsExitCount(r.totals) })}
            {r.session !== null ? ` · ${t("classRun", { code: r.session })}` : ""}
          </option>
        );
      })}
    </select>
  );
}

/**
 * Stored runs of the walkthrough's guest to replay it over (and, for a tour that compares, the
 * second run): ended runs of the same guest, vCPUs and irqchip that got as far as an exit.
 */
function ReplayPicker({ w, runs }: { w: Walkthrough; runs: RunInfo[] }) {
  const t = useT(messages);
  const fits = (irqchip: string) =>
    runs.filter((r) => r.guest === w.run.guest && r.config.vcpus === w.run.vcpus && r.config.irqchip === irqchip && !r.live && totalsExitCount(r.totals) > 0);
  const mains = fits(w.run.irqchip);
  const compares = w.compare !== undefined ? fits(w.compare.irqchip) : [];
  const [main, setMain] = useState("");
  const [compare, setCompare] = useState("");
  if (mains.length === 0) return null;
  const ready = main !== "" && (w.compare === undefined || compare !== "");
  const href = `/walkthroughs/${w.id}/replay?run=${encodeURIComponent(main)}${compare !== "" ? `&compare=${encodeURIComponent(compare)}` : ""}`;
  return (
    <div className="small">
      {t("replay")}: <RunSelect runs={mains} value={main} onChange={setMain} testId={`replay-run-${w.id}`} />{" "}
      {w.compare !== undefined && (
        <>
          {t("compareWith", { irq: w.compare.irqchip })} <RunSelect runs={compares} value={compare} onChange={setCompare} testId={`replay-compare-${w.id}`} />{" "}
        </>
      )}
      {ready && <Link href={href} data-testid={`replay-open-${w.id}`}>{t("open")}</Link>}
    </div>
  );
}

/** The sessions this browser leads, with where each is now; the teacher ends the stale ones here. */
function LedSessions({ walkthroughs }: { walkthroughs: Walkthrough[] }) {
  const t = useT(messages);
  const { lang } = useLang();
  const service = useService();
  const [list, setList] = useState<SessionInfo[]>([]);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(async () => {
    const found = await Promise.all(ledSessions().map((code) => service.getSession(code).catch(() => null)));
    setList(found.filter((s): s is SessionInfo => s !== null));
  }, [service]);
  useEffect(() => {
    void load();
  }, [load]);
  if (list.length === 0) return null;
  const end = async (code: string) => {
    const token = teacherToken(code);
    if (token === null) return;
    setError(null);
    try {
      await service.endSession(code, token);
    } catch (err) {
      setError((err as Error).message);
    }
    await load();
  };
  return (
    <section className="panel" data-testid="led-sessions">
      <h2>{t("yours")}</h2>
      <p className="small muted">{t("yoursHint")}</p>
      {error !== null && <p role="alert" style={{ color: "var(--bad)" }}>{error}</p>}
      <ul>
        {list.map((s) => {
          const w = walkthroughs.find((x) => x.id === s.walkthroughId);
          return (
            <li key={s.code} data-testid={`led-${s.code}`} data-status={s.status}>
              {t("sessionLine", { code: s.code, title: w?.title[lang] ?? s.walkthroughId, step: s.step + 1, total: w?.steps.length ?? "?", when: formatDate(s.createdAt, lang) })}{" "}
              {s.status === "open" ? (
                <>
                  <Link href={`/class/${s.code}`}>{t("lead")}</Link>{" "}
                  <button type="button" onClick={() => void end(s.code)} data-testid={`end-${s.code}`}>{t("endIt")}</button>
                </>
              ) : (
                <>
                  <span className="muted">{t("ended")}</span>{" "}
                  <button
                    type="button"
                    onClick={() => {
                      forgetLedSession(s.code);
                      void load();
                    }}
                  >
                    {t("forget")}
                  </button>
                </>
              )}
            </li>
          );
        })}
      </ul>
    </section>
  );
}

async function loadWalkthroughs(service: ServiceClient): Promise<{ walkthroughs: Walkthrough[]; runs: RunInfo[] }> {
  const [walkthroughs, page] = await Promise.all([service.walkthroughs(), service.listRuns(100)]);
  return { walkthroughs, runs: page.runs };
}

export function WalkthroughsView() {
  const t = useT(messages);
  const { lang } = useLang();
  const service = useService();
  const router = useRouter();
  const { data, down, reload: load } = useServiceData(loadWalkthroughs);
  const list = data?.walkthroughs ?? null;
  const runs = data?.runs ?? [];
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [peek, setPeek] = useState(false);

  const start = async (w: Walkthrough) => {
    setBusy(w.id);
    setError(null);
    try {
      const { session, teacherToken } = await service.createSession(w.id, peek);
      saveTeacherToken(session.code, teacherToken);
      router.push(`/class/${session.code}`);
    } catch (err) {
      setError((err as Error).message);
      setBusy(null);
    }
  };

  return (
    <main style={{ padding: 16, maxWidth: 1200, margin: "0 auto" }}>
      <h1>{t("title")}</h1>
      <p style={{ maxWidth: "80ch", lineHeight: 1.5 }}>{t("intro")}</p>
      <p>
        <Link href="/join">{t("join")}</Link>
      </p>
      {down !== null && <ServiceDown reason={down} onRetry={load} />}
      {error !== null && <p role="alert" data-testid="error" style={{ color: "var(--bad)" }}>{error}</p>}
      {list !== null && <LedSessions walkthroughs={list} />}
      <p>
        <label>
          <input type="checkbox" checked={peek} onChange={(e) => setPeek(e.target.checked)} data-testid="peek" /> {t("peek")}
        </label>
      </p>
      {list === null ? (
        <p className="muted">{t("loading")}</p>
      ) : (
        <div style={{ display: "grid", gap: "var(--gap)" }}>
          {list.map((w) => (
            <article key={w.id} className="panel" data-testid={`walkthrough-${w.id}`}>
              <h2>{w.title[lang]}</h2>
              <p style={{ lineHeight: 1.5 }}>{w.summary[lang]}</p>
              <p className="small muted">
                {t("steps", { n: w.steps.length })} · {t("run", { guest: w.run.guest, vcpus: w.run.vcpus, irq: w.run.irqchip })}
                {w.compare !== undefined ? t("compare", { irq: w.compare.irqchip }) : ""}
              </p>
              <button type="button" className="primary" disabled={busy !== null} onClick={() => void start(w)} data-testid={`start-${w.id}`}>
                {busy === w.id ? t("starting") : t("start")}
              </button>
              <ReplayPicker w={w} runs={runs} />
            </article>
          ))}
        </div>
      )}
    </main>
  );
}
