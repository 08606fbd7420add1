"use client";
import { formatDate } from "@/lib/format";
import { useLang } from "@/lib/i18n";

/** A date and time in the page's language (formatDate), with the exact moment as its title. */
export function LocalDate({ when }: { when: string | number | Date }) {
  const { lang } = useLang();
  const d = when instanceof Date ? when : new Date(when);
  return <time dateTime={Number.isNaN(d.getTime()) ? undefined : d.toISOString()}>{formatDate(d, lang)}</time>;
}
