import { describe, expect, it } from "vitest";
import { formatCount, formatDate, formatNs, hex, parseNumber, splitCodeSpans } from "../src/lib/format";
import { fill } from "../src/lib/i18n";

describe("formatting", () => {
  it("puts times in the unit a person reads best", () => {
    expect(formatNs(812)).toBe("812 ns");
    expect(formatNs(3400)).toBe("3.40 µs");
    expect(formatNs(12_500_000)).toBe("12.5 ms");
    expect(formatNs(2_310_000_000)).toBe("2.31 s");
    expect(formatNs(Number.NaN)).toBe("–");
  });

  it("groups counts and reads the numbers people type for ports and addresses", () => {
    expect(formatCount(1234567)).toBe("1,234,567");
    expect(formatCount(999)).toBe("999");
    expect(formatCount(1000)).toBe("1,000");
    expect(formatCount(-12345.6)).toBe("-12,346");
    expect(formatCount(0)).toBe("0");
    expect(hex(0x3f8)).toBe("0x3f8");
    expect(hex(0x80, 4)).toBe("0x0080");
    expect(hex(-16)).toBe("-0x10");
    expect(parseNumber("0x3f8")).toBe(0x3f8);
    expect(parseNumber("3F8h")).toBe(0x3f8);
    expect(parseNumber(" 1016 ")).toBe(1016);
    expect(parseNumber("port")).toBeUndefined();
    expect(parseNumber("")).toBeUndefined();
  });

  it("formats dates for the page's language, never in the US form", () => {
    const when = "2026-12-08T01:51:00.000Z";
    expect(formatDate(when, "en", "UTC")).toBe("8 Dec 2026, 01:51");
    expect(formatDate(when, "ja", "UTC")).toBe("2026/12/08 1:51");
    expect(formatDate(when, "en", "UTC")).not.toMatch(/12\/8\/2026|AM|PM/);
    expect(formatDate("not a date", "en")).toBe("–");
  });

  it("picks the English singular or plural by the number, formatted or not", () => {
    expect(fill("{n} {n|exit|exits}", { n: 1 })).toBe("1 exit");
    expect(fill("{n} {n|exit|exits}", { n: 0 })).toBe("0 exits");
    expect(fill("{n} {n|vCPU|vCPUs}", { n: 4 })).toBe("4 vCPUs");
    expect(fill("{n} {n|record|records}", { n: "1,024" })).toBe("1,024 records");
    expect(fill("{n} {n|record|records}", { n: "1" })).toBe("1 record");
    expect(fill("{m} {m|a|b}", { n: 1 })).toBe("{m} {m|a|b}");
  });

  it("finds `code` spans in catalog and walkthrough text", () => {
    expect(splitCodeSpans("run `hello` then `echo`.")).toEqual([
      { code: false, text: "run " }, { code: true, text: "hello" }, { code: false, text: " then " }, { code: true, text: "echo" }, { code: false, text: "." },
    ]);
    expect(splitCodeSpans("no code")).toEqual([{ code: false, text: "no code" }]);
    expect(splitCodeSpans("a lone ` stays")).toEqual([{ code: false, text: "a lone ` stays" }]);
    expect(splitCodeSpans("`<b>x</b>`")).toEqual([{ code: true, text: "<b>x</b>" }]);
    expect(splitCodeSpans("")).toEqual([{ code: false, text: "" }]);
  });
});
