import { describe, expect, it } from "vitest";
import { renderToStaticMarkup } from "react-dom/server";
import { exitReasonName, KvmExit, STAT_NAMES, type StatName, type TraceRecord } from "@kvmscope/shared";
import { StatsPanel } from "../src/components/StatsPanel";
import { TraceStore } from "../src/lib/trace-store";

const MS = 1_000_000;

type Draft = Record<string, unknown> & { ts: number };

function exitRec(vcpu: number, code: number, ts: number, handleNs = 2_300): Draft {
  const r: Draft = {
    type: "exit", ts, vcpu, reason: exitReasonName(code), code, rip: 0x7cd6, guestNs: 9_000, handleNs,
    ifFlag: true, readyForInjection: false, requestedWindow: false,
  };
  if (code === KvmExit.IO) r.io = { port: 0x3f8, size: 1, direction: "out", count: 1, data: [0x74] };
  return r;
}

function statsRec(vcpu: number, ts: number, counters: Partial<Record<StatName, number>>): Draft {
  return { type: "stats", ts, vcpu, counters };
}

function allCounters(exits: number): Partial<Record<StatName, number>> {
  const c: Partial<Record<StatName, number>> = {};
  for (const n of STAT_NAMES) c[n] = 0;
  return { ...c, exits };
}

function sequence(drafts: Draft[]): TraceRecord[] {
  return [...drafts].sort((a, b) => a.ts - b.ts).map((d, i) => ({ ...d, seq: i }) as unknown as TraceRecord);
}

/** Two vCPUs; per 20 ms period each sends 5 exits to the VMM while KVM handles 15 more itself. */
function run(periods = 2): TraceRecord[] {
  const drafts: Draft[] = [];
  for (let v = 0; v < 2; v++) {
    drafts.push(statsRec(v, 1 * MS, allCounters(0)));
    for (let p = 0; p < periods; p++) {
      const start = 1 * MS + p * 20 * MS;
      for (let i = 0; i < 5; i++) drafts.push(exitRec(v, i === 4 ? KvmExit.HLT : KvmExit.IO, start + (i + 1) * 3 * MS + v * 1_000));
      drafts.push(statsRec(v, start + 20 * MS + v * 30_000, allCounters(20 * (p + 1))));
    }
  }
  return sequence(drafts);
}

function render(records: TraceRecord[], cursorSeq?: number, selectedSeq: number | null = null): string {
  const store = new TraceStore();
  store.appendRecords(records);
  return renderToStaticMarkup(
    <StatsPanel store={store} version={store.version} cursorSeq={cursorSeq ?? store.maxSeq}
      selectedSeq={selectedSeq} onSelect={() => {}} mode="replay" paused={false} />,
  );
}

function totalCell(html: string): string | undefined {
  return /data-testid="exit-count-total"[^>]*data-value="(\d+)"|data-value="(\d+)"[^>]*data-testid="exit-count-total"/.exec(html)?.slice(1).find((x) => x !== undefined);
}

describe("StatsPanel", () => {
  it("puts the number of exits at the cursor in the total cell, for the end-to-end test to read", () => {
    const recs = run();
    const html = render(recs);
    expect(html).toContain('data-testid="stats-panel"');
    expect(totalCell(html)).toBe("20");
    const early = recs.filter((r) => r.type === "exit")[6]!.seq;
    expect(totalCell(render(recs, early))).toBe("7");
  });

  it("has a row per reason and a column per vCPU", () => {
    const html = render(run());
    expect(html).toContain("KVM_EXIT_IO");
    expect(html).toContain("KVM_EXIT_HLT");
    expect(html).toContain("vCPU 0");
    expect(html).toContain("vCPU 1");
  });

  it("says how many exits KVM handled itself and how many came back", () => {
    const html = render(run());
    // 2 vCPUs × 2 periods × (20 counted by KVM - 5 that reached the VMM)
    expect(html).toContain("KVM handled 60 exits itself; 20 came back to kvmscope.");
    expect(html).toMatch(/<path[^>]+d="M[^"]+"/); // the stacked chart
    expect((html.match(/<figure/g) ?? []).length).toBe(2 + 1); // a histogram per reason, and the chart
  });

  it("says when no statistics sample has arrived yet", () => {
    const html = render(sequence([exitRec(0, KvmExit.IO, 5 * MS)]));
    expect(html).toContain("No sample of KVM&#x27;s statistics has arrived yet");
    expect(html).not.toContain("stats-split-sentence");
  });

  it("says when the kernel offers no exits statistic", () => {
    const html = render(sequence([
      statsRec(0, 1 * MS, { halt_exits: 0 }),
      exitRec(0, KvmExit.IO, 5 * MS),
      statsRec(0, 21 * MS, { halt_exits: 0 }),
    ]));
    expect(html).toContain("an older kernel");
    expect(html).not.toContain("stats-split-sentence");
  });

  it("waits for a second sample before splitting", () => {
    const html = render(sequence([statsRec(0, 1 * MS, allCounters(0)), exitRec(0, KvmExit.IO, 5 * MS)]));
    expect(html).toContain("Waiting for a second sample");
    expect(html).not.toContain("stats-split-sentence");
  });

  it("marks the selected exit's handling time on its reason's histogram", () => {
    const recs = sequence([exitRec(0, KvmExit.IO, 2 * MS, 4_700), exitRec(0, KvmExit.IO, 3 * MS, 2_000)]);
    const html = render(recs, undefined, recs[0]!.seq);
    expect(html).toContain("selected exit: 4.70 µs");
  });
});
