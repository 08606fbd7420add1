"use client";
import Link from "next/link";
import { defineMessages, LANGS, useLang, useT } from "@/lib/i18n";
import { useProjector } from "@/lib/projector";
import styles from "./Header.module.css";

const messages = defineMessages({
  en: { home: "Guests", runs: "Runs", walkthroughs: "Walkthroughs", join: "Join a class", glossary: "Glossary", projector: "Projector mode", language: "Language", tagline: "watch a real KVM guest, exit by exit" },
  ja: { home: "ゲスト", runs: "実行履歴", walkthroughs: "ウォークスルー", join: "クラスに参加", glossary: "用語集", projector: "プロジェクタ表示", language: "言語", tagline: "本物の KVM ゲストを exit 単位で観察する" },
});

const LANG_LABEL = { en: "English", ja: "日本語" } as const;

export function Header() {
  const t = useT(messages);
  const { lang, setLang } = useLang();
  const [projector, setProjector] = useProjector();
  return (
    <header className={styles.header}>
      <Link href="/" className={styles.brand}>
        kvmscope
      </Link>
      <span className={`muted small ${styles.tagline}`}>{t("tagline")}</span>
      <nav className={styles.nav}>
        <Link href="/">{t("home")}</Link>
        <Link href="/runs">{t("runs")}</Link>
        <Link href="/walkthroughs">{t("walkthroughs")}</Link>
        <Link href="/join">{t("join")}</Link>
        <Link href="/glossary">{t("glossary")}</Link>
      </nav>
      <div className={styles.tools}>
        <div role="group" aria-label={t("language")} data-testid="lang-switch">
          {LANGS.map((l) => (
            <button key={l} type="button" aria-pressed={lang === l} className={lang === l ? styles.on : undefined} onClick={() => setLang(l)} data-lang={l}>
              {LANG_LABEL[l]}
            </button>
          ))}
        </div>
        <label className="small">
          <input type="checkbox" checked={projector} onChange={(e) => setProjector(e.target.checked)} data-testid="projector-toggle" /> {t("projector")}
        </label>
      </div>
    </header>
  );
}
