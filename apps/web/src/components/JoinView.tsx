"use client";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { normalizeJoinCode } from "@kvmscope/shared";
import { defineMessages, useT } from "@/lib/i18n";

const messages = defineMessages({
  en: {
    title: "Join a class",
    hint: "Type the join code your teacher shows (6 letters and digits).",
    code: "Join code",
    join: "Join",
    bad: "“{code}” is not a join code: a join code is 6 letters and digits, like K7QH2M.",
  },
  ja: {
    title: "クラスに参加",
    hint: "先生が表示している参加コード（英数字 6 文字）を入力してください。",
    code: "参加コード",
    join: "参加",
    bad: "「{code}」は参加コードではありません。参加コードは K7QH2M のような英数字 6 文字です。",
  },
});

export function JoinView() {
  const t = useT(messages);
  const router = useRouter();
  const [text, setText] = useState("");
  const [error, setError] = useState<string | null>(null);
  return (
    <main style={{ padding: 16, maxWidth: 600, margin: "0 auto" }}>
      <h1>{t("title")}</h1>
      <p className="muted">{t("hint")}</p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          const code = normalizeJoinCode(text);
          if (code === undefined) {
            setError(t("bad", { code: text }));
            return;
          }
          router.push(`/class/${code}`);
        }}
      >
        <label>
          {t("code")}{" "}
          <input value={text} onChange={(e) => setText(e.target.value)} autoFocus data-testid="join-input" style={{ fontSize: "var(--fs-big)", letterSpacing: "0.15em", width: "8em" }} />
        </label>{" "}
        <button type="submit" className="primary" data-testid="join-submit">{t("join")}</button>
      </form>
      {error !== null && <p role="alert" data-testid="join-error" style={{ color: "var(--bad)" }}>{error}</p>}
    </main>
  );
}
