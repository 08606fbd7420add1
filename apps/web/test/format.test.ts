import { describe, expect, it } from "vitest";
import { formatCount, formatNs, hex, parseNumber } from "../src/lib/format";

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
});
