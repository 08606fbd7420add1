"use client";
// Interface text in English and Japanese. Each component keeps its own messages next to it
// (`defineMessages`) so that no one file collects every string; `useT` picks the language the
// reader chose. Guest output and record fields are never passed through here: they are data.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { readStoredChoice, storeChoice, urlParam } from "./stored-choice";

export const LANGS = ["en", "ja"] as const;
export type Lang = (typeof LANGS)[number];

export function isLang(v: unknown): v is Lang {
  return v === "en" || v === "ja";
}

/** One component's strings, the same keys in both languages (the type checker holds them to it). */
export type Messages<K extends string> = { en: Record<K, string>; ja: Record<K, string> };

export function defineMessages<K extends string>(m: Messages<K>): Messages<K> {
  return m;
}

/**
 * Fills `{name}` placeholders; a placeholder with no value stays as written (easy to spot).
 * `{name|one|other}` picks the English singular or plural by the value: "{n} {n|exit|exits}"
 * reads "1 exit", "2 exits", "1,024 exits" (a formatted string counts as its digits).
 */
export function fill(template: string, vars?: Readonly<Record<string, string | number>>): string {
  if (vars === undefined) return template;
  return template.replace(/\{(\w+)(?:\|([^|{}]*)\|([^|{}]*))?\}/g, (whole, name: string, one?: string, other?: string) => {
    if (!(name in vars)) return whole;
    const v = vars[name]!;
    if (one === undefined) return String(v);
    return Number(typeof v === "number" ? v : v.replace(/,/g, "")) === 1 ? one : other!;
  });
}

/** The text of `key` in `lang`, outside React (pure code, tests). */
export function translate<K extends string>(m: Messages<K>, lang: Lang, key: K, vars?: Readonly<Record<string, string | number>>): string {
  return fill(m[lang][key], vars);
}

interface LangState {
  lang: Lang;
  setLang: (l: Lang) => void;
}

const LangContext = createContext<LangState>({ lang: "en", setLang: () => {} });

const STORAGE_KEY = "kvmscope.lang";

/** Holds the reader's language: `?lang=` in the address wins, then what they chose before, then the browser's. */
export function LangProvider({ children }: { children: ReactNode }) {
  const [lang, setLangState] = useState<Lang>("en");
  useEffect(() => {
    const fromUrl = urlParam("lang");
    const stored = readStoredChoice(STORAGE_KEY);
    const fromBrowser = navigator.language.toLowerCase().startsWith("ja") ? "ja" : "en";
    setLangState(isLang(fromUrl) ? fromUrl : isLang(stored) ? stored : fromBrowser);
  }, []);
  useEffect(() => {
    document.documentElement.lang = lang;
  }, [lang]);
  const setLang = useCallback((l: Lang) => {
    setLangState(l);
    storeChoice(STORAGE_KEY, l);
  }, []);
  const value = useMemo(() => ({ lang, setLang }), [lang, setLang]);
  return <LangContext.Provider value={value}>{children}</LangContext.Provider>;
}

export function useLang(): LangState {
  return useContext(LangContext);
}

/** `t(key, vars)` for one component's messages in the current language. */
export function useT<K extends string>(m: Messages<K>): (key: K, vars?: Readonly<Record<string, string | number>>) => string {
  const { lang } = useLang();
  return useCallback((key: K, vars?: Readonly<Record<string, string | number>>) => fill(m[lang][key], vars), [m, lang]);
}
