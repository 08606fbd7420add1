import { afterEach, describe, expect, it, vi } from "vitest";
import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { KvmExit, type ExitRecord, type IoctlRecord, type MarkerRecord, type TraceRecord } from "@kvmscope/shared";
import { RecordSummary, Timeline, timelineMessages, type TimelineProps } from "../src/components/Timeline";
import { translate, type Lang } from "../src/lib/i18n";
import { cancelRedraw, flushRedraws, isRedrawPending, scheduleRedraw } from "../src/lib/raf";
import { TraceStore } from "../src/lib/trace-store";

const outPort80 = (seq: number, vcpu: number, ts: number): ExitRecord => ({
  type: "exit", seq, ts, vcpu, reason: "KVM_EXIT_IO", code: KvmExit.IO, rip: 0x7c04, guestNs: 6_800, handleNs: 4_870,
  ifFlag: false, readyForInjection: false, requestedWindow: false,
  io: { port: 0x80, size: 1, direction: "out", count: 1, data: [0] },
});
const createVm: IoctlRecord = { type: "ioctl", seq: 0, ts: 9_396_750, thread: "main", name: "KVM_CREATE_VM", fd: 19, args: { type: 0 }, ret: 20, errno: 0, durNs: 478_597 };

function render(records: TraceRecord[], over: Partial<TimelineProps> = {}): string {
  const store = new TraceStore();
  store.appendRecords(records);
  const props: TimelineProps = {
    store, version: store.version, cursorSeq: store.maxSeq, selectedSeq: null, onSelect: () => {}, mode: "live", follow: true, ...over,
  };
  return renderToStaticMarkup(createElement(Timeline, props));
}

const summary = (rec: TraceRecord, lang: Lang = "en", afterCursor = false) =>
  renderToStaticMarkup(createElement(RecordSummary, { rec, afterCursor, t: (k, v) => translate(timelineMessages, lang, k, v) }));

describe("Timeline", () => {
  it("shows one lane label per thread: the main thread, then each vCPU", () => {
    const html = render([createVm, outPort80(1, 0, 482_000_000), outPort80(2, 1, 482_007_000)]);
    expect(html).toContain('data-testid="timeline"');
    const labels = [...html.matchAll(/style="top:\d+(?:\.\d+)?px;height:40px">([^<]+)</g)].map((m) => m[1]);
    expect(labels).toEqual(["Main thread", "vCPU 0", "vCPU 1"]);
    expect(html).toMatch(/<canvas[^>]*tabindex="0"[^>]*aria-label="Timeline of 3 threads/);
  });

  it("shares a given height out among the lanes", () => {
    const html = render([createVm, outPort80(1, 0, 1_000_000)], { height: 224 });
    // 224 px less the 24 px axis, over two lanes.
    expect(html).toContain("height:100px");
  });

  it("offers the follow toggle only while the page follows the newest records", () => {
    expect(render([createVm], { follow: true })).toContain('data-testid="timeline-follow"');
    expect(render([createVm], { follow: false })).not.toContain('data-testid="timeline-follow"');
  });

  it("says so when there is nothing to draw yet", () => {
    expect(render([])).toContain("No records yet.");
    expect(render([createVm])).not.toContain("No records yet.");
  });
});

describe("the hover tooltip", () => {
  it("tells an exit's reason, seq, vCPU, time, guest and handling times and port", () => {
    const html = summary(outPort80(126, 1, 497_992_432));
    for (const s of ["KVM_EXIT_IO", ">126<", "vCPU 1", "0.497992432 s", "6.80 µs", "4.87 µs", "0x80 out · 1 B", ">0x00 (NUL)<"]) expect(html).toContain(s);
  });

  it("tells an MMIO exit's address and direction", () => {
    const rec: ExitRecord = {
      type: "exit", seq: 7, ts: 1_000_000, vcpu: 0, reason: "KVM_EXIT_MMIO", code: KvmExit.MMIO, rip: 0x7c20, guestNs: 9_000, handleNs: 3_000,
      ifFlag: false, readyForInjection: false, requestedWindow: false, mmio: { addr: 0xd0000000, len: 4, isWrite: true, data: [1, 2, 3, 4] },
    };
    expect(summary(rec)).toContain("0xd0000000 write · 4 B");
  });

  it("tells an ioctl's name, thread, duration and result, with the errno's name when it failed", () => {
    const failed: IoctlRecord = { ...createVm, seq: 3, name: "KVM_CREATE_VCPU", thread: "vcpu0", ret: -1, errno: 17, error: "EEXIST" };
    const html = summary(failed);
    for (const s of ["KVM_CREATE_VCPU", "vCPU 0", "478.6 µs", "-1 (EEXIST)"]) expect(html).toContain(s);
  });

  it("shows a guest's marker text as text, never as markup", () => {
    const rec: MarkerRecord = { type: "marker", seq: 55, ts: 1_300_098_457, thread: "vcpu0", text: '<img src=x onerror="alert(1)">' };
    const html = summary(rec);
    expect(html).not.toContain("<img");
    expect(html).toContain("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;");
  });

  it("says when the record comes after the replay cursor", () => {
    expect(summary(outPort80(9, 0, 1_000), "en", true)).toContain("Not yet reached at the cursor.");
    expect(summary(outPort80(9, 0, 1_000), "en", false)).not.toContain("Not yet reached");
  });

  it("speaks Japanese when the reader chose it", () => {
    const html = summary(outPort80(126, 1, 497_992_432), "ja");
    expect(html).toContain("ゲスト内の時間");
    expect(html).toContain("処理時間");
    expect(html).toContain("ポート");
  });
});

// The Timeline redraws through the shared frame scheduler; these pin what it relies on.
describe("redraw scheduling", () => {
  afterEach(() => {
    flushRedraws();
    vi.unstubAllGlobals();
  });

  function fakeFrames() {
    const frames: ((t: number) => void)[] = [];
    vi.stubGlobal("requestAnimationFrame", (cb: (t: number) => void) => frames.push(cb));
    vi.stubGlobal("cancelAnimationFrame", () => {});
    return { frames, run: (t = 16) => frames.splice(0).forEach((f) => f(t)) };
  }

  it("draws a view once per frame however often it asks, with its latest drawing", () => {
    const { frames, run } = fakeFrames();
    const view = {};
    const drawn: string[] = [];
    for (let i = 0; i < 50; i++) scheduleRedraw(view, () => drawn.push(`batch ${i}`));
    expect(frames.length).toBe(1);
    run();
    expect(drawn).toEqual(["batch 49"]);
    expect(isRedrawPending(view)).toBe(false);
  });

  it("draws every view that asked in the same frame", () => {
    const { frames, run } = fakeFrames();
    const drawn: string[] = [];
    scheduleRedraw("timeline", () => drawn.push("timeline"));
    scheduleRedraw("stats", () => drawn.push("stats"));
    expect(frames.length).toBe(1);
    run();
    expect(drawn).toEqual(["timeline", "stats"]);
  });

  it("gives a redraw asked for during a frame the next frame", () => {
    const { frames, run } = fakeFrames();
    const drawn: number[] = [];
    scheduleRedraw("anim", (t) => {
      drawn.push(t);
      scheduleRedraw("anim", (t2) => drawn.push(t2));
    });
    run(16);
    expect(drawn).toEqual([16]);
    expect(frames.length).toBe(1);
    run(32);
    expect(drawn).toEqual([16, 32]);
  });

  it("forgets the redraw of a view that went away", () => {
    const { run } = fakeFrames();
    const drawn: string[] = [];
    scheduleRedraw("gone", () => drawn.push("gone"));
    cancelRedraw("gone");
    run();
    expect(drawn).toEqual([]);
  });

  it("still draws the other views when one throws", () => {
    const { run } = fakeFrames();
    const reported: unknown[] = [];
    vi.stubGlobal("reportError", (e: unknown) => reported.push(e));
    const drawn: string[] = [];
    scheduleRedraw("broken", () => {
      throw new Error("bad draw");
    });
    scheduleRedraw("fine", () => drawn.push("fine"));
    run();
    expect(drawn).toEqual(["fine"]);
    expect(reported.map((e) => (e as Error).message)).toEqual(["bad draw"]);
  });
});
