"use client";
import type { RunInfo } from "@kvmscope/shared";
import { defineMessages, useLang, useT } from "@/lib/i18n";
import { outcomeLabel } from "@/lib/outcomes";

const messages = defineMessages({
  en: { created: "starting", running: "running", paused: "paused", finished: "finished", failed: "failed", aborted: "aborted", imported: "imported", slow: "slow motion, {n} {n|exit|exits}/s" },
  ja: { created: "起動中", running: "実行中", paused: "一時停止", finished: "終了", failed: "失敗", aborted: "中断", imported: "取り込み", slow: "スローモーション（毎秒 {n} exit）" },
});

const COLORS: Record<RunInfo["status"], string> = {
  created: "var(--muted)", running: "var(--ok)", paused: "var(--warn)", finished: "var(--accent)", failed: "var(--bad)", aborted: "var(--bad)",
};

/**
 * The run's status, and for a finished run its outcome as the VMM named it ("halted", "shutdown"),
 * in the reader's language. `slow`: the page is stepping the run at that rate (slow motion).
 */
export function RunStatusBadge({ run, slow = null }: { run: RunInfo; slow?: number | null }) {
  const t = useT(messages);
  const { lang } = useLang();
  const outcome = typeof run.outcome?.outcome === "string" ? run.outcome.outcome : null;
  const slowing = slow !== null && (run.status === "paused" || run.status === "running");
  return (
    <span data-testid="run-status" data-status={slowing ? "slow" : run.status} style={{ color: COLORS[slowing ? "running" : run.status], fontWeight: 600 }}>
      {slowing ? t("slow", { n: slow }) : t(run.status)}
      {outcome !== null && run.status !== "running" && run.status !== "paused" ? ` (${outcomeLabel(outcome, lang)})` : ""}
      {run.imported ? ` · ${t("imported")}` : ""}
    </span>
  );
}
