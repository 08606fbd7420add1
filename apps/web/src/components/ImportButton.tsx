"use client";
// Import of an export file (NDJSON or Chrome/Perfetto JSON): the service stores it as a run that
// replays like any other, with no /dev/kvm needed.
import { useRouter } from "next/navigation";
import { useState } from "react";
import { defineMessages, useT } from "@/lib/i18n";
import { useService } from "@/lib/service-context";

const messages = defineMessages({
  en: {
    title: "Import a run",
    hint: "An NDJSON or Chrome trace (Perfetto) export from kvmscope, from this machine or another. It opens as a replay.",
    choose: "Choose an export file",
    importing: "Importing {name}…",
  },
  ja: {
    title: "実行の取り込み",
    hint: "kvmscope で書き出した NDJSON または Chrome トレース (Perfetto) ファイル。別のマシンのものでもかまいません。リプレイとして開きます。",
    choose: "書き出しファイルを選ぶ",
    importing: "{name} を取り込み中…",
  },
});

export function ImportButton({ onError }: { onError: (message: string | null) => void }) {
  const t = useT(messages);
  const service = useService();
  const router = useRouter();
  const [busy, setBusy] = useState<string | null>(null);
  return (
    <section className="panel">
      <h2>{t("title")}</h2>
      <p className="muted small">{t("hint")}</p>
      <label>
        <span className="sr-only">{t("choose")}</span>
        <input
          type="file"
          accept=".ndjson,.json,application/json,application/x-ndjson"
          data-testid="import-file"
          disabled={busy !== null}
          onChange={async (e) => {
            const file = e.target.files?.[0];
            if (file === undefined) return;
            setBusy(file.name);
            onError(null);
            try {
              const run = await service.importExport(await file.text());
              router.push(`/runs/${encodeURIComponent(run.id)}`);
            } catch (err) {
              onError((err as Error).message);
              setBusy(null);
              e.target.value = "";
            }
          }}
        />
      </label>
      {busy !== null && <p className="small">{t("importing", { name: busy })}</p>}
    </section>
  );
}
