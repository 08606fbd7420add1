// How a run ended, in the reader's language. The VMM's end object names the outcome ("halted",
// "shutdown", ...) and carries an English message plus the facts it was built from (vCPU, value
// written to isa-debug-exit); the pages rebuild the sentence from those facts. Where the message
// holds text only the VMM has (an error it caught), that text is quoted as data.
import type { Lang } from "./i18n";

const LABELS: Readonly<Record<Lang, Readonly<Record<string, string>>>> = {
  en: {
    halted: "halted", "debug-exit": "debug exit", shutdown: "shutdown", "internal-error": "internal error", "fail-entry": "entry failed",
    "system-event": "system event", timeout: "timed out", "exit-limit": "exit limit", stopped: "stopped", "unhandled-exit": "unhandled exit",
    "vmm-error": "VMM error",
  },
  ja: {
    halted: "HLT で停止", "debug-exit": "debug exit", shutdown: "シャットダウン", "internal-error": "内部エラー", "fail-entry": "ゲストに入れない",
    "system-event": "システムイベント", timeout: "時間切れ", "exit-limit": "exit 数の上限", stopped: "停止要求", "unhandled-exit": "未対応の exit",
    "vmm-error": "VMM のエラー",
  },
};

/** The outcome's name for a badge: "halted" / "HLT で停止"; an unknown name as the VMM wrote it. */
export function outcomeLabel(outcome: string, lang: Lang): string {
  return LABELS[lang][outcome] ?? outcome;
}

/** The end object's facts this module reads (RunInfo.outcome). */
export type EndObject = Readonly<Record<string, unknown>>;

const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

/** The part of the VMM's message after "on vCPU n...: ", the VMM's own words for a failure. */
function tail(message: string): string {
  const i = message.indexOf(": ");
  return i >= 0 ? message.slice(i + 2) : message;
}

/** Japanese end messages, built from the end object's facts; undefined for an outcome not known here. */
function japanese(end: EndObject, message: string): string | undefined {
  const vcpu = num(end.vcpu);
  const on = vcpu !== undefined ? `vCPU ${vcpu} で` : "";
  switch (end.outcome) {
    case "halted":
      return message.includes("in-kernel")
        ? "すべての vCPU が KVM 内の HLT で止まり、0.5 秒間 exit がなかった（カーネル内 irqchip）"
        : "すべての vCPU が HLT で止まり、起こすものが残っていない";
    case "debug-exit": {
      const v = num(end.debugExitValue);
      return v === undefined ? undefined : `${on}ゲストが isa-debug-exit（ポート 0xf4）に ${v}（0x${v.toString(16)}）を書き込んだ`;
    }
    case "shutdown":
      return `${on}KVM_EXIT_SHUTDOWN：ゲストがトリプルフォールトした（ダブルフォールトの配送中にさらに例外）`;
    case "internal-error":
      return `${on}KVM_EXIT_INTERNAL_ERROR：${tail(message)}`;
    case "fail-entry":
      return `${on}KVM_EXIT_FAIL_ENTRY：CPU がゲストへの進入を拒んだ（${/hardware reason (0x[0-9a-f]+)/.exec(message)?.[1] ?? "?"}）`;
    case "system-event":
      return `${on}KVM_EXIT_SYSTEM_EVENT：ゲストが ${/asked for (.*)$/.exec(message)?.[1] ?? "?"} を要求した`;
    case "timeout": {
      const s = /after ([\d.]+) s/.exec(message)?.[1];
      return s === undefined ? "時間切れで実行を終えた" : `${s} 秒の制限時間で実行を終えた`;
    }
    case "exit-limit": {
      const n = /limit of (\d+) exits/.exec(message)?.[1];
      return n === undefined ? "exit 数の上限に達した" : `exit 数の上限 ${n} に達した`;
    }
    case "stopped":
      return "停止の要求で終了した";
    case "unhandled-exit":
      return `${on}この VMM が扱わない exit で終了した（${/exit reason ([^)]*)\)/.exec(message)?.[1] ?? "?"}）`;
    case "vmm-error":
      return `VMM のエラーで終了した：${tail(message)}`;
    default:
      return undefined;
  }
}

/** The end message in `lang`: the VMM's (English) message, or its Japanese rebuilding. Null without one. */
export function endMessage(end: EndObject | null | undefined, lang: Lang): string | null {
  const message = typeof end?.message === "string" ? end.message : null;
  if (end === null || end === undefined || message === null) return null;
  if (lang === "en") return message;
  return japanese(end, message) ?? message;
}
