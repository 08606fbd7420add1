// The pieces every validation message is made of, shared by the protocol's zod schemas
// (protocol.ts: JSON requests) and the walkthrough format's (walkthrough.ts: YAML files), so the
// two say "got …" the same way, each in the words its readers use for a list and an object.

/** How values are named: JSON's words for an HTTP client, YAML's for a walkthrough's author. */
export interface ValueWords {
  array: string;
  object: string;
  null: string;
}
export const JSON_WORDS: ValueWords = { array: "an array", object: "an object", null: "null" };
export const YAML_WORDS: ValueWords = { array: "a list", object: "a mapping", null: "null (an empty value)" };

/** A short rendering of what was given, for "got ..." in messages (never the whole of a long string). */
export function describeValue(v: unknown, words: ValueWords = JSON_WORDS): string {
  if (v === undefined) return "nothing";
  if (v === null) return words.null;
  if (Array.isArray(v)) return words.array;
  if (typeof v === "object") return words.object;
  if (typeof v === "string") return v.length > 40 ? `a string of ${v.length} characters` : JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return String(v);
}

/** "\"a\", \"b\", 3": values as they would be written, comma-separated. */
export function listOf(values: readonly (string | number | boolean | null | undefined | symbol | bigint)[]): string {
  return values.map((v) => JSON.stringify(typeof v === "symbol" || typeof v === "bigint" ? String(v) : v)).join(", ");
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j]!;
      row[j] = Math.min(up + 1, row[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return row[b.length]!;
}

/** The candidate a typo most likely meant, if one is close enough to suggest; used by the VMM's loader too. */
export function closestName(word: string, candidates: readonly string[]): string | undefined {
  const upper = word.toUpperCase();
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    if (c.toUpperCase() === upper) return c;
    const d = editDistance(upper, c.toUpperCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 4)) ? best : undefined;
}

/** " (did you mean X?)", or nothing. */
export const didYouMean = (s: string | undefined): string => (s === undefined ? "" : ` (did you mean ${s}?)`);
