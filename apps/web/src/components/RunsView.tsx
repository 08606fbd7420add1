"use client";
// Every stored run, newest first: its guest, outcome and totals; open one to replay it.
import Link from "next/link";
import { useState } from "react";
import type { RunInfo } from "@kvmscope/shared";
import { formatCount, formatNs } from "@/lib/format";
import { defineMessages, useT } from "@/lib/i18n";
import { useService } from "@/lib/service-context";
import { useServiceData } from "@/lib/use-service-data";
import type { ServiceClient } from "@/lib/api";
import { totalsExitCount } from "@/lib/trace-store";
import { ImportButton } from "./ImportButton";
import { LocalDate } from "./LocalDate";
import { RunStatusBadge } from "./RunStatusBadge";
import { ServiceDown } from "./ServiceDown";

const messages = defineMessages({
  en: {
    title: "Runs",
    run: "Run", guest: "Guest", status: "Status", config: "Machine", exits: "Exits", records: "Records", duration: "Duration", created: "Started",
    more: "Older runs", none: "No runs stored yet.", image: "own image", loading: "Loading…",
    cfg: "{vcpus} {vcpus|vCPU|vCPUs} · {mem} MiB · irqchip {irq}", irq_user: "user", irq_kernel: "kernel",
  },
  ja: {
    title: "実行履歴",
    run: "実行", guest: "ゲスト", status: "状態", config: "マシン構成", exits: "exit 数", records: "レコード数", duration: "所要時間", created: "開始",
    more: "さらに古い実行", none: "保存された実行はまだありません。", image: "独自イメージ", loading: "読み込み中…",
    cfg: "vCPU {vcpus} 個 · {mem} MiB · irqchip {irq}", irq_user: "ユーザー空間", irq_kernel: "カーネル内",
  },
});

function durationOf(run: RunInfo): string {
  const d = run.outcome?.durationNs;
  if (typeof d === "number") return formatNs(d);
  if (run.startedAt !== null && run.endedAt !== null) return formatNs((Date.parse(run.endedAt) - Date.parse(run.startedAt)) * 1e6);
  return "–";
}

function loadFirstPage(service: ServiceClient) {
  return service.listRuns(50);
}

export function RunsView() {
  const t = useT(messages);
  const service = useService();
  const { data: first, down: firstDown, reload: load } = useServiceData(loadFirstPage);
  // Older pages the reader asked for, after the first.
  const [older, setOlder] = useState<{ runs: RunInfo[]; next: string | null } | null>(null);
  const [moreDown, setMoreDown] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const runs = first === null ? null : [...first.runs, ...(older?.runs ?? [])];
  const next = older !== null ? older.next : (first?.next ?? null);
  const down = firstDown ?? moreDown;

  const more = async () => {
    if (next === null) return;
    try {
      const page = await service.listRuns(50, next);
      setOlder((o) => ({ runs: [...(o?.runs ?? []), ...page.runs], next: page.next }));
      setMoreDown(null);
    } catch (err) {
      setMoreDown((err as Error).message);
    }
  };

  return (
    <main style={{ padding: 16, maxWidth: 1400, margin: "0 auto" }}>
      <h1>{t("title")}</h1>
      {down !== null && <ServiceDown reason={down} onRetry={load} />}
      {error !== null && <p role="alert" style={{ color: "var(--bad)" }}>{error}</p>}
      {runs === null ? (
        <p className="muted">{t("loading")}</p>
      ) : runs.length === 0 ? (
        <p className="muted">{t("none")}</p>
      ) : (
        <table data-testid="runs-table" style={{ width: "100%" }}>
          <thead>
            <tr>
              <th>{t("run")}</th>
              <th>{t("guest")}</th>
              <th>{t("status")}</th>
              <th>{t("config")}</th>
              <th>{t("exits")}</th>
              <th>{t("records")}</th>
              <th>{t("duration")}</th>
              <th>{t("created")}</th>
            </tr>
          </thead>
          <tbody>
            {runs.map((r) => (
              <tr key={r.id} data-run-id={r.id}>
                <td>
                  <Link href={`/runs/${encodeURIComponent(r.id)}`} className="mono">
                    {r.id}
                  </Link>
                </td>
                <td>{r.guest ?? t("image")}</td>
                <td>
                  <RunStatusBadge run={r} />
                </td>
                <td className="small">{t("cfg", { vcpus: r.config.vcpus, mem: r.config.memMiB, irq: t(`irq_${r.config.irqchip}`) })}</td>
                <td className="mono">{formatCount(totalsExitCount(r.totals))}</td>
                <td className="mono">{formatCount(r.recordCount)}</td>
                <td className="mono">{durationOf(r)}</td>
                <td className="small"><LocalDate when={r.createdAt} /></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {next !== null && (
        <button type="button" onClick={more}>
          {t("more")}
        </button>
      )}
      <div style={{ marginTop: 20, maxWidth: 500 }}>
        <ImportButton onError={setError} />
      </div>
    </main>
  );
}
