"use client";
import type { RunInfo } from "@kvmscope/shared";
import { defineMessages, useT } from "@/lib/i18n";

const messages = defineMessages({
  en: { created: "starting", running: "running", paused: "paused", finished: "finished", failed: "failed", aborted: "aborted", imported: "imported" },
  ja: { created: "起動中", running: "実行中", paused: "一時停止", finished: "終了", failed: "失敗", aborted: "中断", imported: "取り込み" },
});

const COLORS: Record<RunInfo["status"], string> = {
  created: "var(--muted)", running: "var(--ok)", paused: "var(--warn)", finished: "var(--accent)", failed: "var(--bad)", aborted: "var(--bad)",
};

/** The run's status, and for a finished run its outcome as the VMM named it (e.g. "halted", "shutdown"). */
export function RunStatusBadge({ run }: { run: RunInfo }) {
  const t = useT(messages);
  const outcome = typeof run.outcome?.outcome === "string" ? run.outcome.outcome : null;
  return (
    <span data-testid="run-status" data-status={run.status} style={{ color: COLORS[run.status], fontWeight: 600 }}>
      {t(run.status)}
      {outcome !== null && run.status !== "running" && run.status !== "paused" ? ` (${outcome})` : ""}
      {run.imported ? ` · ${t("imported")}` : ""}
    </span>
  );
}
