// Numbers and times as the pages show them. Pure, so the same figures appear in every panel.

/** ns → "812 ns", "3.40 µs", "12.5 ms", "2.31 s" (seconds with `secondsDigits` decimals). */
export function formatNs(ns: number, secondsDigits = 2): string {
  if (!Number.isFinite(ns)) return "–";
  const a = Math.abs(ns);
  if (a < 1e3) return `${Math.round(ns)} ns`;
  if (a < 1e6) return `${(ns / 1e3).toFixed(a < 1e4 ? 2 : 1)} µs`;
  if (a < 1e9) return `${(ns / 1e6).toFixed(a < 1e7 ? 2 : 1)} ms`;
  return `${(ns / 1e9).toFixed(secondsDigits)} s`;
}

/** 1234567 → "1,234,567" (the same in both languages). Not toLocaleString: panels call this thousands of times a second. */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return "–";
  const digits = String(Math.round(Math.abs(n)));
  let out = "";
  for (let i = digits.length; i > 0; i -= 3) out = (i > 3 ? "," : "") + digits.slice(Math.max(0, i - 3), i) + out;
  return n < 0 ? `-${out}` : out;
}

/** 1016 → "0x3f8" (the one hex of packages/shared, for every panel). */
export { hex } from "@kvmscope/shared";

/** Parses "0x3f8", "1016" or "3f8h" style numbers a person types; undefined if it is not one. */
export function parseNumber(text: string): number | undefined {
  const s = text.trim().toLowerCase();
  if (s === "") return undefined;
  if (/^0x[0-9a-f]+$/.test(s)) return parseInt(s.slice(2), 16);
  if (/^[0-9a-f]+h$/.test(s)) return parseInt(s.slice(0, -1), 16);
  if (/^\d+$/.test(s)) return Number(s);
  return undefined;
}

const DATE_FORMATS = new Map<string, Intl.DateTimeFormat>();

/**
 * A date and time for the page's language: "8 Dec 2026, 01:51" in English, "2026/12/08 1:51" in
 * Japanese (the reader's time zone; `timeZone` for tests). The one date formatter of the pages.
 */
export function formatDate(when: string | number | Date, lang: "en" | "ja", timeZone?: string): string {
  const d = when instanceof Date ? when : new Date(when);
  if (Number.isNaN(d.getTime())) return "–";
  const key = `${lang}|${timeZone ?? ""}`;
  let f = DATE_FORMATS.get(key);
  if (f === undefined) {
    f = new Intl.DateTimeFormat(lang === "ja" ? "ja-JP" : "en-GB", { dateStyle: "medium", timeStyle: "short", ...(timeZone !== undefined ? { timeZone } : {}) });
    DATE_FORMATS.set(key, f);
  }
  return f.format(d);
}

/**
 * "run `hello` now" → [text "run ", code "hello", text " now"]: Markdown-style code spans. A
 * backtick without a partner stays as written; an empty pair (``) is text.
 */
export function splitCodeSpans(text: string): { code: boolean; text: string }[] {
  const out: { code: boolean; text: string }[] = [];
  const re = /`([^`]+)`/g;
  let last = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    if (m.index > last) out.push({ code: false, text: text.slice(last, m.index) });
    out.push({ code: true, text: m[1]! });
    last = m.index + m[0].length;
  }
  if (last < text.length || out.length === 0) out.push({ code: false, text: text.slice(last) });
  return out;
}
