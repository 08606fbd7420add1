"use client";
// A class session: the teacher's browser (it holds the session's secret) leads, every student's
// browser follows through the session socket. Both show the same run page, moved to the step's
// record with the step's parts highlighted; a student may wander and jump back.
//
// The banner gives the join address students can reach: the one this browser used unless that is
// loopback, else the machine's addresses on its networks (npm start's front door lists them). The
// teacher can carry the role to another browser (a one-use lead link) and keeps the session alive
// with a heartbeat while the page is open. Students get an answer only once it is revealed.
import Link from "next/link";
import { useCallback, useEffect, useMemo, useState } from "react";
import type { LeadCodeAnswer, SessionInfo, StepAnswer, Walkthrough } from "@kvmscope/shared";
import { normalizeJoinCode } from "@kvmscope/shared";
import type { Addresses } from "@/lib/api";
import { defineMessages, useLang, useT } from "@/lib/i18n";
import { isLoopbackHostname, saveTeacherToken, SessionConnection, type SessionState, teacherToken } from "@/lib/session";
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
    or: "or",
    onlyHere: "This address reaches this computer only. For students on the room's network, start kvmscope with npm start -- --host 0.0.0.0.",
    hidden: "The teacher reveals the answer when the class has thought it over.",
    leadElsewhere: "Lead from another device",
    leadLink: "Open this link on the other device (the projector's PC, your laptop) to lead from there too. It works once, for 10 minutes:",
    leadCode: "or type this lead code there:",
    leadAsk: "Are you this class's teacher? Lead code:",
    leadSubmit: "Lead",
    leading: "Taking the lead…",
    idle: "Nobody leading this class for {min} minutes ends it.",
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
    or: "または",
    onlyHere: "このアドレスはこのコンピューターからしか開けません。教室のネットワークの生徒には、npm start -- --host 0.0.0.0 で kvmscope を起動してください。",
    hidden: "答えは、クラスで考えたあとに先生が公開します。",
    leadElsewhere: "別の端末で進行する",
    leadLink: "別の端末（プロジェクターの PC、自分のノート PC など）でこのリンクを開くと、そこからも進行できます。有効なのは 1 回、10 分間です:",
    leadCode: "またはそこでこの進行コードを入力:",
    leadAsk: "このクラスの先生ですか? 進行コード:",
    leadSubmit: "進行する",
    leading: "進行役になっています…",
    idle: "進行する人がいないまま {min} 分たつと、このクラスは終了します。",
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
  const [loopback, setLoopback] = useState(false);
  const [addresses, setAddresses] = useState<Addresses | null>(null);
  const [allAnswers, setAllAnswers] = useState<StepAnswer[] | null>(null);
  const [offer, setOffer] = useState<LeadCodeAnswer | null>(null);
  const [leadText, setLeadText] = useState("");

  useEffect(() => {
    if (code === undefined) return;
    setToken(teacherToken(code) ?? undefined);
    setOrigin(window.location.origin);
    setLoopback(isLoopbackHostname(window.location.hostname));
    const c = new SessionConnection(service, code, setSession, setState);
    c.start();
    void service.addresses().then(setAddresses);
    return () => c.close();
  }, [service, code]);

  /** This browser becomes the teacher with a lead code (from the link's ?lead= or typed). */
  const takeLead = useCallback(
    async (leadCode: string) => {
      if (code === undefined) return;
      setBusy(true);
      setError(null);
      try {
        const got = await service.lead(code, leadCode);
        saveTeacherToken(code, got.teacherToken);
        setToken(got.teacherToken);
        setSession(got.session);
      } catch (err) {
        setError((err as Error).message);
      } finally {
        setBusy(false);
      }
    },
    [service, code],
  );
  useEffect(() => {
    const q = new URLSearchParams(window.location.search);
    const leadCode = q.get("lead");
    if (leadCode === null) return;
    // The code is used up either way: it leaves the address bar (and the history) at once.
    q.delete("lead");
    window.history.replaceState(null, "", `${window.location.pathname}${q.size > 0 ? `?${q}` : ""}`);
    void takeLead(leadCode);
  }, [takeLead]);

  const isOpen = session?.status === "open";
  useEffect(() => {
    if (code === undefined || token === undefined) return;
    service.sessionAnswers(code, token).then(setAllAnswers, () => setAllAnswers(null));
    if (!isOpen) return;
    // The teacher's page is open: the session is led (it ends after the service's idle limit otherwise).
    const beat = () => void service.heartbeat(code, token).catch(() => {});
    beat();
    const timer = setInterval(beat, 60_000);
    return () => clearInterval(timer);
  }, [service, code, token, isOpen]);

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
  const answers = useMemo(
    () => new Map((token !== undefined && allAnswers !== null ? allAnswers : (session?.answers ?? [])).map((a) => [a.step, a.answer])),
    [token, allAnswers, session],
  );

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
          <h2>
            {t("gone")}: <code>{code}</code>
          </h2>
          {!state.unknown && <p className="muted">{state.reason}</p>}
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
  // Where students join: this page's own address unless it is loopback, else the machine's others.
  const joinBases = !loopback ? [origin] : addresses !== null && addresses.urls.length > 0 ? addresses.urls : [origin];
  const onlyHere = loopback && (addresses === null || addresses.urls.length === 0);
  const makeOffer = () => {
    if (token === undefined) return;
    setError(null);
    service.leadCode(session.code, token).then(setOffer, (err: Error) => setError(err.message));
  };

  const panel = (
    <>
      <div className="small" data-testid="class-banner" data-role={isTeacher ? "teacher" : "student"} style={{ display: "flex", gap: 12, flexWrap: "wrap", alignItems: "baseline" }}>
        <strong>{isTeacher ? t("teacher") : t("student")}</strong>
        <span>
          {t("join", {
            url: joinBases.map((b) => `${b}/join`).join(` ${t("or")} `),
          })}{" "}
          <code data-testid="join-code" style={{ fontSize: "var(--fs-big)", letterSpacing: "0.15em" }}>{session.code}</code>
        </span>
        <span hidden data-testid="join-urls">{joinBases.map((b) => `${b}/join`).join(" ")}</span>
        {onlyHere && isTeacher && <span className="small" style={{ color: "var(--warn)" }} data-testid="only-here">{t("onlyHere")}</span>}
        {!open && <span style={{ color: "var(--warn)" }}>{t("ended")}</span>}
        {state.kind === "retrying" && <span style={{ color: "var(--warn)" }}>{state.reason}</span>}
        {isTeacher && open && (
          <>
            <button type="button" onClick={makeOffer} data-testid="lead-elsewhere">{t("leadElsewhere")}</button>
            <span className="muted">{t("idle", { min: Math.round(session.idleEndSec / 60) })}</span>
          </>
        )}
        {!isTeacher && open && (
          <form
            onSubmit={(e) => {
              e.preventDefault();
              void takeLead(leadText);
            }}
          >
            <label className="muted">
              {t("leadAsk")} <input value={leadText} onChange={(e) => setLeadText(e.target.value)} size={10} data-testid="lead-input" />
            </label>{" "}
            <button type="submit" disabled={busy || leadText.trim() === ""} data-testid="lead-submit">{busy ? t("leading") : t("leadSubmit")}</button>
          </form>
        )}
      </div>
      {isTeacher && offer !== null && (
        <p className="small" data-testid="lead-offer">
          {t("leadLink")} <code data-testid="lead-link">{`${joinBases[0]}/class/${session.code}?lead=${offer.leadCode}`}</code> {t("leadCode")}{" "}
          <code data-testid="lead-code">{offer.leadCode}</code>
        </p>
      )}
      <StepPanel
        walkthrough={walkthrough}
        index={index}
        reached={reached}
        revealed={revealed}
        answers={answers}
        hiddenNote={t("hidden")}
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
