import { describe, expect, it } from "vitest";
import { KvmExit, type TraceRecord } from "@kvmscope/shared";
import { buildDeepLink, parseDeepLink, seqOfNthExit } from "../src/lib/deep-link";
import { TraceStore } from "../src/lib/trace-store";

const hlt = (seq: number, vcpu: number): TraceRecord => ({
  type: "exit", seq, ts: seq, vcpu, reason: "KVM_EXIT_HLT", code: KvmExit.HLT, rip: 0, guestNs: 1, handleNs: 1,
  ifFlag: true, readyForInjection: true, requestedWindow: false,
});

describe("deep links", () => {
  it("read a record, an n-th exit of a vCPU and a view from the address", () => {
    expect(parseDeepLink("?seq=1204&view=exit")).toEqual({ seq: 1204, view: "exit" });
    expect(parseDeepLink("exit=12&vcpu=1&view=timeline&lang=ja")).toEqual({ exit: 12, vcpu: 1, view: "timeline" });
  });

  it("ignore what is malformed, so a bad link still opens the run", () => {
    expect(parseDeepLink("?seq=-1&view=<script>&vcpu=999&exit=0")).toEqual({});
    expect(parseDeepLink("?seq=1e3")).toEqual({});
  });

  it("keep other parameters and round-trip", () => {
    const q = buildDeepLink({ seq: 7, view: "kvm-run" }, new URLSearchParams("lang=ja&seq=1&projector=1"));
    expect(new URLSearchParams(q).get("lang")).toBe("ja");
    expect(new URLSearchParams(q).get("projector")).toBe("1");
    expect(parseDeepLink(q)).toEqual({ seq: 7, view: "kvm-run" });
    expect(parseDeepLink(buildDeepLink({ exit: 3, vcpu: 1 }))).toEqual({ exit: 3, vcpu: 1 });
  });

  it("find the n-th exit of a vCPU", () => {
    const s = new TraceStore();
    s.appendRecords([hlt(0, 0), hlt(1, 1), hlt(2, 1), hlt(4, 0), hlt(3, 1)]);
    expect(seqOfNthExit(s, 1, 1)).toBe(1);
    expect(seqOfNthExit(s, 3, 1)).toBe(3);
    expect(seqOfNthExit(s, 2, 0)).toBe(4);
    expect(seqOfNthExit(s, 4, 1)).toBeUndefined();
    expect(seqOfNthExit(s, 5)).toBe(4);
  });
  it("leaves out the page's slow motion from a shared link", () => {
    expect(buildDeepLink({ seq: 5 }, new URLSearchParams("slow=0.5&lang=ja"))).toBe("?lang=ja&seq=5");
  });
});
