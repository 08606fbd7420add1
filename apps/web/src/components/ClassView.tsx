"use client";
// A class session: the teacher's browser (it holds the session's secret) leads, every student's
// browser follows through the session socket. Both show the same run page, moved to the step's
// record with the step's parts highlighted; a student may wander and jump back.
import Link from "next/link";
import { useCallback, useEffect, useMemo, useState } from "react";
import type { SessionInfo, Walkthrough } from "@kvmscope/shared";
import { normalizeJoinCode } from "@kvmscope/shared";
import { defineMessages, useLang, useT } from "@/lib/i18n";
import { SessionConnection, type SessionState, teacherToken } from "@/lib/session";
import { useService } from "@/lib/service-context";
import { RunView } from "./RunView";
import { ServiceDown } from "./ServiceDown";
import { StepPanel } from "./StepPanel";

const messages = defineMessages({
  en: {
    teacher: "You lead this class",
    student: "You follow this class",
    join: "Students join at {url} with the code",
    badCode: "“{code}” is not a join code: a join code is 6 letters and digits, like K7QH2M.",
    gone: "No class session with this join code",
    ended: "This session has ended; its run can still be replayed.",
    loading: "Joining…",
    home: "Back to the walkthroughs",
    waitingRun: "Starting the run…",
  },
  ja: {
    teacher: "あなたがこのクラスを進行しています",
    student: "このクラスに参加しています",
    join: "生徒は {url} でこのコードを入力して参加します",
    badCode: "「{code}」は参加コードではありません。参加コードは K7QH2M のような英数字 6 文字です。",
    gone: "この参加コードのクラスセッションはありません",
    ended: "このセッションは終了しました。実行はリプレイできます。",
    loading: "参加しています…",
    home: "ウォークスルー一覧に戻る",
    waitingRun: "実行を開始しています…",
  },
});

export function ClassView({ rawCode }: { rawCode: string }) {
  const t = useT(messages);
  const { lang } = useLang();
  const service = useService();
  const code = normalizeJoinCode(rawCode);
  const [session, setSession] = useState<SessionInfo | null>(null);
  const [state, setState] = useState<SessionState>({ kind: "connecting" });
  const [walkthrough, setWalkthrough] = useState<Walkthrough | null>(null);
  const [token, setToken] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [origin, setOrigin] = useState("");

  useEffect(() => {
    if (code === undefined) return;
    setToken(teacherToken(code) ?? undefined);
    setOrigin(window.location.origin);
    const c = new SessionConnection(service, code, setSession, setState);
    c.start();
    return () => c.close();
  }, [service, code]);

  const walkthroughId = session?.walkthroughId;
  useEffect(() => {
    if (walkthroughId === undefined) return;
    service.walkthrough(walkthroughId).then(
      setWalkthrough,
      (err: Error) => setError(err.message),
    );
  }, [service, walkthroughId]);

  const lead = useCallback(
    async (action: () => Promise<SessionInfo>) => {
      setBusy(true);
      setError(null);
      try {
        setSession(await action());
      } catch (err) {
        setError((err as Error).message);
      } finally {
        setBusy(false);
      }
    },
    [],
  );

  const reached = useMemo(() => new Map((session?.reached ?? []).map((r) => [r.stepIndex, r.seq])), [session]);
  const revealed = useMemo(() => new Set(session?.revealed ?? []), [session]);

  if (code === undefined) {
    return (
      <main style={{ padding: 16 }}>
        <p role="alert" data-testid="join-error">{t("badCode", { code: rawCode })}</p>
        <Link href="/join">{t("home")}</Link>
      </main>
    );
  }
  if (state.kind === "gone") {
    return (
      <main style={{ padding: 16 }}>
        <div role="alert" data-testid="join-error" className="panel">
          <h2>{t("gone")}</h2>
          <p className="muted">{state.reason}</p>
          <Link href="/walkthroughs">{t("home")}</Link>
        </div>
      </main>
    );
  }
  if (session === null || walkthrough === null) {
    return (
      <main style={{ padding: 16 }}>
        {state.kind === "retrying" && <ServiceDown reason={state.reason} />}
        {error !== null && <p role="alert">{error}</p>}
        <p className="muted">{t("loading")}</p>
      </main>
    );
  }

  const isTeacher = token !== undefined;
  const index = session.step;
  const step = index >= 0 ? walkthrough.steps[index] : undefined;
  const role = step?.run ?? "main";
  const runId = session.runs[role] ?? session.runs.main;
  const seq = reached.get(index) ?? null;
  const open = session.status === "open";

  const panel = (
    <>
      <div className="small" data-testid="class-banner" data-role={isTeacher ? "teacher" : "student"} style={{ display: "flex", gap: 12, flexWrap: "wrap", alignItems: "baseline" }}>
        <strong>{isTeacher ? t("teacher") : t("student")}</strong>
        <span>
          {t("join", { url: `${origin}/join` })}{" "}
          <code data-testid="join-code" style={{ fontSize: "var(--fs-big)", letterSpacing: "0.15em" }}>{session.code}</code>
        </span>
        {!open && <span style={{ color: "var(--warn)" }}>{t("ended")}</span>}
        {state.kind === "retrying" && <span style={{ color: "var(--warn)" }}>{state.reason}</span>}
      </div>
      <StepPanel
        walkthrough={walkthrough}
        index={index}
        reached={reached}
        revealed={revealed}
        error={error ?? session.error}
        lead={
          isTeacher && open
            ? {
                busy: busy || session.busy,
                onNext: () => void lead(() => service.advance(session.code, token, index + 1)),
                onGoto: (i) => void lead(() => service.advance(session.code, token, i)),
                onReveal: (i) => void lead(() => service.reveal(session.code, token, i)),
                onEnd: () => void lead(() => service.endSession(session.code, token)),
              }
            : undefined
        }
      />
    </>
  );

  if (runId === null || runId === undefined) return <main style={{ padding: 16 }}>{panel}<p className="muted">{t("waitingRun")}</p></main>;
  return (
    <div lang={lang}>
      <RunView
        key={runId}
        id={runId}
        guide={{ key: `${index}:${seq ?? ""}`, seq, highlight: step?.highlight ?? [], role: isTeacher ? "teacher" : "student", token, panel }}
      />
    </div>
  );
}
