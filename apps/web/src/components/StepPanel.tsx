"use client";
// One walkthrough step: what to look at and why, the code that is running (ours beside
// qemu-kvm 0.14's), a question with its answer, and — for whoever leads — the buttons that move
// the class on. The text comes from the walkthrough files and is rendered as text.
import Link from "next/link";
import { useEffect, useState } from "react";
import type { Walkthrough } from "@kvmscope/shared";
import { defineMessages, useLang, useT } from "@/lib/i18n";
import { InlineCode } from "./InlineCode";
import styles from "./StepPanel.module.css";

const messages = defineMessages({
  en: {
    step: "Step {n} of {total}",
    notStarted: "The tour has not started yet.",
    notStartedLead: "Press “Next step” to take the run to the first step's point.",
    ours: "Running in our VMM",
    qemu: "The same role in the article's qemu-kvm 0.14 listing",
    ran: "What qemu-kvm 0.14.1 really ran",
    glossary: "VM exit or exit to the VMM?",
    line: "line {n}",
    noQemu: "(the article shows no qemu-kvm counterpart)",
    question: "Check your understanding",
    show: "Show the answer",
    hide: "Hide the answer",
    revealAll: "Reveal to everyone",
    revealed: "The teacher revealed the answer.",
    next: "Next step",
    prev: "Previous step",
    advancing: "Taking the run to the next point…",
    end: "End the session",
    steps: "Steps",
    reachedAt: "record {seq}",
    compareRun: "comparison run",
  },
  ja: {
    step: "ステップ {n} / {total}",
    notStarted: "ツアーはまだ始まっていません。",
    notStartedLead: "「次のステップ」を押すと、実行が最初のステップの地点まで進みます。",
    ours: "いま動いている kvmscope の VMM のコード",
    qemu: "記事の qemu-kvm 0.14 のリストで同じ役割をする関数",
    ran: "qemu-kvm 0.14.1 で実際に動いていた関数",
    glossary: "VM exit と VMM への exit の違い",
    line: "{n} 行目",
    noQemu: "（記事には qemu-kvm 側の対応箇所がありません）",
    question: "理解度チェック",
    show: "答えを見る",
    hide: "答えを隠す",
    revealAll: "全員に答えを見せる",
    revealed: "先生が答えを公開しました。",
    next: "次のステップ",
    prev: "前のステップ",
    advancing: "実行を次の地点まで進めています…",
    end: "セッションを終了",
    steps: "ステップ一覧",
    reachedAt: "レコード {seq}",
    compareRun: "比較用の実行",
  },
});

export interface StepPanelProps {
  walkthrough: Walkthrough;
  /** The current step's index; -1 before the first. */
  index: number;
  /** Seq reached by each step so far (by index). */
  reached: ReadonlyMap<number, number>;
  revealed: ReadonlySet<number>;
  /** The answers this reader may see, by step (the service sends no others). */
  answers: ReadonlyMap<number, { en: string; ja: string }>;
  /** Said where a question's answer is not here (yet): e.g. the teacher reveals it. */
  hiddenNote: string;
  /** Present for whoever may move the class on (or the reader alone, in a replay). */
  lead?: {
    busy: boolean;
    onNext: () => void;
    onGoto: (index: number) => void;
    /** Reveals an answer to every student (a class's teacher only). */
    onReveal?: (index: number) => void;
    onEnd?: () => void;
  };
  error?: string | null;
}

export function StepPanel({ walkthrough, index, reached, revealed, answers, hiddenNote, lead, error }: StepPanelProps) {
  const t = useT(messages);
  const { lang } = useLang();
  const step = index >= 0 ? walkthrough.steps[index] : undefined;
  const [showAnswer, setShowAnswer] = useState(false);
  useEffect(() => setShowAnswer(false), [index]);
  const answer = answers.get(index);
  const answerVisible = answer !== undefined && (showAnswer || revealed.has(index));
  const total = walkthrough.steps.length;

  return (
    <section className={`panel ${styles.panel}`} data-testid="step-panel" data-step-index={index} data-step-id={step?.id ?? ""}>
      <div className={styles.main}>
        <p className="muted small">
          {walkthrough.title[lang]} · {step !== undefined ? t("step", { n: index + 1, total }) : t("notStarted")}
          {step?.run === "compare" ? ` · ${t("compareRun")}` : ""}
        </p>
        {step === undefined ? (
          <p>{lead !== undefined ? t("notStartedLead") : walkthrough.summary[lang]}</p>
        ) : (
          <>
            <h2 data-testid="step-title">{step.title[lang]}</h2>
            <p className={styles.body}><InlineCode text={step.body[lang]} /></p>
            <p className="muted small"><Link href="/glossary" data-testid="glossary-link">{t("glossary")}</Link></p>
            <div className={styles.code} data-testid="step-code">
              <div>
                <div className="muted small">{t("ours")}</div>
                <code>{step.code.ours.file}</code> <code className={styles.fn}>{step.code.ours.fn}()</code>
              </div>
              <div>
                <div className="muted small">{t("qemu")}</div>
                {step.code.qemu !== undefined ? (
                  <>
                    <code>{step.code.qemu.file}</code> <code className={styles.fn}>{step.code.qemu.fn}()</code>
                    {step.code.qemu.line !== undefined && <span className="muted small"> {t("line", { n: step.code.qemu.line })}</span>}
                  </>
                ) : (
                  <span className="muted small">{t("noQemu")}</span>
                )}
              </div>
              {step.code.ran !== undefined && (
                <div data-testid="step-code-ran">
                  <div className="muted small">{t("ran")}</div>
                  <code>{step.code.ran.file}</code> <code className={styles.fn}>{step.code.ran.fn}()</code>
                  <span className="muted small"> {t("line", { n: step.code.ran.line })}</span>
                </div>
              )}
            </div>
            {step.question !== undefined && (
              <div className={styles.question} data-testid="step-question">
                <strong>{t("question")}: </strong>
                {step.question[lang]}
                <div>
                  {answer !== undefined && !revealed.has(index) && (
                    <button type="button" onClick={() => setShowAnswer(!showAnswer)} data-testid="show-answer">
                      {showAnswer ? t("hide") : t("show")}
                    </button>
                  )}
                  {lead?.onReveal !== undefined && !revealed.has(index) && (
                    <button type="button" onClick={() => lead.onReveal?.(index)} data-testid="reveal-all">
                      {t("revealAll")}
                    </button>
                  )}
                  {answer === undefined && (
                    <span className="small muted" data-testid="answer-hidden">
                      {hiddenNote}
                    </span>
                  )}
                </div>
                {answerVisible && (
                  <p className={styles.answer} data-testid="step-answer">
                    {revealed.has(index) && <span className="muted small">{t("revealed")} </span>}
                    {answer[lang]}
                  </p>
                )}
              </div>
            )}
          </>
        )}
        {error != null && error !== "" && (
          <p role="alert" className={styles.error}>
            {error}
          </p>
        )}
        {lead !== undefined && (
          <div className={styles.lead}>
            <button type="button" disabled={lead.busy || index <= 0} onClick={() => lead.onGoto(index - 1)} data-testid="prev-step">
              {t("prev")}
            </button>
            <button type="button" className="primary" disabled={lead.busy || index >= total - 1} onClick={lead.onNext} data-testid="next-step">
              {t("next")}
            </button>
            {lead.busy && <span className="small muted">{t("advancing")}</span>}
            {lead.onEnd !== undefined && (
              <button type="button" onClick={lead.onEnd} data-testid="end-session">
                {t("end")}
              </button>
            )}
          </div>
        )}
      </div>
      <ol className={styles.steps} aria-label={t("steps")}>
        {walkthrough.steps.map((s, i) => {
          const seq = reached.get(i);
          const canGo = lead !== undefined && seq !== undefined && !lead.busy;
          return (
            <li key={s.id} aria-current={i === index ? "step" : undefined} className={i === index ? styles.current : seq !== undefined ? styles.done : undefined} data-reached={seq !== undefined}>
              {canGo ? (
                <button type="button" className={styles.stepLink} onClick={() => lead.onGoto(i)}>
                  {s.title[lang]}
                </button>
              ) : (
                <span>{s.title[lang]}</span>
              )}
              {seq !== undefined && <span className="muted small"> · {t("reachedAt", { seq })}</span>}
            </li>
          );
        })}
      </ol>
    </section>
  );
}
