"use client";
// Shown while the VMM service cannot be reached or a run is gone. Retries on its own, so the page
// recovers as soon as the service is back.
import { useEffect } from "react";
import { defineMessages, useT } from "@/lib/i18n";

const messages = defineMessages({
  en: { title: "The kvmscope service is not answering", retry: "Try again now", auto: "Trying again every few seconds. Is `npm start` still running?" },
  ja: { title: "kvmscope サービスが応答しません", retry: "今すぐ再試行", auto: "数秒ごとに再試行しています。`npm start` は動いていますか？" },
});

export function ServiceDown({ reason, onRetry, everyMs = 3000 }: { reason: string; onRetry?: () => void; everyMs?: number }) {
  const t = useT(messages);
  useEffect(() => {
    if (onRetry === undefined) return;
    const timer = setInterval(onRetry, everyMs);
    return () => clearInterval(timer);
  }, [onRetry, everyMs]);
  return (
    <div role="alert" data-testid="service-down" style={{ border: "1px solid var(--warn)", padding: "8px 12px", borderRadius: "var(--radius)", margin: "8px 0" }}>
      <strong>{t("title")}</strong>
      <div className="small">{reason}</div>
      {onRetry !== undefined && (
        <div className="small muted">
          {t("auto")}{" "}
          <button type="button" onClick={onRetry}>
            {t("retry")}
          </button>
        </div>
      )}
    </div>
  );
}
