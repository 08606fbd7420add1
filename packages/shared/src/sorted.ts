// The few helpers every part needs over sorted data: one binary search, one seq order, one hex.

/**
 * The first index in [from, n) for which `below(i)` is false, given that `below` is true for
 * every index before it and false from it on (the "lower bound" of a sorted sequence).
 */
export function lowerBound(n: number, below: (i: number) => boolean, from = 0): number {
  let lo = from;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (below(mid)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Orders anything with a seq by it (records, console writes). */
export function bySeq(a: { seq: number }, b: { seq: number }): number {
  return a.seq - b.seq;
}

/** `items` if already in seq order, else a sorted copy (stable). */
export function sortedBySeq<T extends { seq: number }>(items: readonly T[]): readonly T[] {
  for (let i = 1; i < items.length; i++) if (items[i - 1]!.seq > items[i]!.seq) return [...items].sort(bySeq);
  return items;
}

/** 1016 → "0x3f8"; `width` pads the digits ("0x0080"); a negative number reads "-0x…". */
export function hex(n: number, width = 0): string {
  const digits = Math.abs(n).toString(16).padStart(width, "0");
  return n < 0 ? `-0x${digits}` : `0x${digits}`;
}
