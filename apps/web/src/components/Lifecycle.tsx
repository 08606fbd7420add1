"use client";
// The Lifecycle panel: the VM's life as the ordered ioctl sequence (lib/lifecycle.ts), each step
// lit when its record arrives, with its return value, its time since the run began, the thread
// that issued it, and the qemu-kvm 0.14 function that did the same. Clicking a step that has a
// record selects that record.
import { memo, useEffect, useMemo, useRef } from "react";
import { defineMessages, useLang, useT, type Lang } from "../lib/i18n";
import { outcomeLabel } from "../lib/outcomes";
import { formatDuration, formatOffset, lifecycleAt, type LifecycleStep } from "../lib/lifecycle";
import { formatCount } from "../lib/format";
import { formatIoctlArgs } from "../lib/explain";
import type { RunViewProps } from "../lib/view-props";
import styles from "./Lifecycle.module.css";

export interface LifecycleProps extends RunViewProps {
  /** vCPUs in the run's configuration. */
  vcpus: number;
  irqchip?: "user" | "kernel";
  /** The run's end object once it has finished (RunInfo.outcome: {outcome, message, ...}), else null. */
  outcome?: Readonly<Record<string, unknown>> | null;
  /** Step ids to emphasise, bare ("create-vm") or as walkthroughs write them ("lifecycle:create-vm"). */
  highlight?: string[];
}

const messages = defineMessages({
  en: {
    title: "Lifecycle",
    progress: "{done} of {total} steps",
    pending: "not yet",
    done: "done",
    failed: "failed",
    main: "main",
    vcpu: "vCPU {n}",
    ret: "ret {ret}",
    createVcpu: "KVM_CREATE_VCPU (vCPU {n})",
    release: "all vCPUs exist: released together (qemu_system_ready)",
    firstRun: "first KVM_RUN of vCPU {n}",
    exitLoop: "exit loop: {count} {count|exit|exits}",
    exitLoopIdle: "exit loop",
    loopIoctls: "also in the loop: {list}",
    closeVcpu: "close (the vCPU fd)",
    closeVm: "close (the VM fd)",
    closeKvm: "close (/dev/kvm)",
    end: "end",
    endOutcome: "end: {outcome}",
    waited: "waited {dur}",
    inGuest: "in the guest {dur}",
    qemu: "qemu-kvm 0.14:",
    qemuNone: "no counterpart in qemu-kvm 0.14",
    ours: "ours:",
    select: "select this record",
  },
  ja: {
    title: "ライフサイクル",
    progress: "{total} ステップ中 {done} 完了",
    pending: "未実行",
    done: "完了",
    failed: "失敗",
    main: "メイン",
    vcpu: "vCPU {n}",
    ret: "戻り値 {ret}",
    createVcpu: "KVM_CREATE_VCPU(vCPU {n})",
    release: "全 vCPU の作成完了:一斉に解放(qemu_system_ready)",
    firstRun: "vCPU {n} の最初の KVM_RUN",
    exitLoop: "exit ループ:{count} 回の exit",
    exitLoopIdle: "exit ループ",
    loopIoctls: "ループ中のその他の呼び出し:{list}",
    closeVcpu: "close(vCPU の fd)",
    closeVm: "close(VM の fd)",
    closeKvm: "close(/dev/kvm)",
    end: "終了",
    endOutcome: "終了:{outcome}",
    waited: "待ち時間 {dur}",
    inGuest: "ゲスト内 {dur}",
    qemu: "qemu-kvm 0.14:",
    qemuNone: "qemu-kvm 0.14 に対応する処理なし",
    ours: "kvmscope の VMM：",
    select: "このレコードを選択",
  },
});

type T = (key: keyof typeof messages.en, vars?: Readonly<Record<string, string | number>>) => string;

function labelOf(step: LifecycleStep, t: T, lang: Lang): string {
  switch (step.event) {
    case "release": return t("release");
    case "first-run": return t("firstRun", { n: step.vcpu ?? 0 });
    case "exit-loop": return step.state === "pending" ? t("exitLoopIdle") : t("exitLoop", { count: formatCount(step.count ?? 0) });
    case "end": return step.outcome !== undefined ? t("endOutcome", { outcome: outcomeLabel(step.outcome, lang) }) : t("end");
    default: break;
  }
  if (step.id.startsWith("create-vcpu-")) return t("createVcpu", { n: step.vcpu ?? 0 });
  if (step.id.startsWith("close-vcpu-")) return t("closeVcpu");
  if (step.id === "close-vm") return t("closeVm");
  if (step.id === "close-kvm") return t("closeKvm");
  return step.label;
}

function threadLabel(thread: string, t: T): string {
  return thread === "main" ? t("main") : t("vcpu", { n: thread.slice(4) });
}

/** Extra facts some steps carry: the arguments, the wait, the loop's other calls. */
function detailOf(step: LifecycleStep, t: T): string | null {
  if (step.event === "release" && step.durNs !== null) return t("waited", { dur: formatDuration(step.durNs) });
  if (step.event === "first-run" && step.durNs !== null) return t("inGuest", { dur: formatDuration(step.durNs) });
  if (step.event === "exit-loop") {
    const parts: string[] = [];
    if (step.countByVcpu !== undefined && step.countByVcpu.length > 1) {
      parts.push(step.countByVcpu.map((n, v) => `${t("vcpu", { n: v })}: ${formatCount(n)}`).join(" · "));
    }
    const loop = Object.entries(step.loopIoctls ?? {});
    if (loop.length > 0) parts.push(t("loopIoctls", { list: loop.map(([name, n]) => `${name} ×${n}`).join(", ") }));
    return parts.length > 0 ? parts.join(" — ") : null;
  }
  if (step.args !== undefined) {
    if (Object.keys(step.args).length > 0) return formatIoctlArgs(step.args);
  }
  return null;
}

const basename = (file: string): string => file.slice(file.lastIndexOf("/") + 1);

function LifecycleView(props: LifecycleProps) {
  const { store, version, cursorSeq, selectedSeq, onSelect, vcpus, irqchip, outcome, highlight } = props;
  const t = useT(messages);
  const { lang } = useLang();
  // Keyed on the outcome's name, so a caller building a fresh object each render costs nothing.
  const outcomeName = typeof outcome?.outcome === "string" ? outcome.outcome : undefined;
  const lifecycle = useMemo(
    () => lifecycleAt(store, cursorSeq, { vcpus, irqchip, outcome: outcomeName !== undefined ? { outcome: outcomeName } : null }),
    // The store mutates in place: `version` is what says it changed.
    [store, version, cursorSeq, vcpus, irqchip, outcomeName],
  );
  const highlightKey = (highlight ?? []).join("\n");
  const emphasised = useMemo(
    () => new Set(highlightKey === "" ? [] : highlightKey.split("\n").map((h) => (h.startsWith("lifecycle:") ? h.slice(10) : h))),
    [highlightKey],
  );
  const listRef = useRef<HTMLOListElement>(null);
  const current = lifecycle.currentStep;

  // Scroll the list itself (never the page) so the current step is in view, also when steps or
  // details above it appear after it became current (a replay loading). A reader who scrolled the
  // list is left where they are until the next step becomes current.
  const readerScrolled = useRef(false);
  const ourScroll = useRef(false);
  useEffect(() => {
    readerScrolled.current = false;
  }, [current]);
  useEffect(() => {
    const list = listRef.current;
    if (list === null || current === null || readerScrolled.current) return;
    const item = list.querySelector<HTMLElement>(`[data-step-id="${current}"]`);
    if (item === null) return;
    const l = list.getBoundingClientRect();
    const i = item.getBoundingClientRect();
    const by = i.top < l.top ? i.top - l.top : i.bottom > l.bottom ? i.bottom - l.bottom : 0;
    if (by === 0) return;
    ourScroll.current = true;
    list.scrollTop += by;
  }, [current, lifecycle]);
  const onScroll = () => {
    if (ourScroll.current) ourScroll.current = false;
    else readerScrolled.current = true;
  };

  const lit = lifecycle.steps.filter((s) => s.state !== "pending").length;
  return (
    <section className={`panel ${styles.panel}`} data-testid="lifecycle">
      <h2>{t("title")}</h2>
      <p className="small muted">{t("progress", { done: lit, total: lifecycle.steps.length })}</p>
      <ol className={styles.list} ref={listRef} onScroll={onScroll}>
        {lifecycle.steps.map((step) => {
          const isCurrent = step.id === current;
          const selected = step.seq !== null && step.seq === selectedSeq;
          const detail = detailOf(step, t);
          const cls = [
            styles.step, styles[step.state], step.expected ? "" : styles.extra,
            isCurrent ? styles.current : "", selected ? styles.selected : "", emphasised.has(step.id) ? styles.highlight : "",
          ].filter(Boolean).join(" ");
          return (
            <li key={step.id} className={cls} data-step-id={step.id} data-state={step.state} aria-current={isCurrent ? "step" : undefined}>
              <button
                type="button"
                disabled={step.seq === null}
                aria-pressed={selected}
                title={step.seq !== null ? t("select") : undefined}
                onClick={() => { if (step.seq !== null) onSelect(step.seq); }}
              >
                <span className={styles.mark} aria-hidden="true">{step.state === "done" ? "✓" : step.state === "failed" ? "✗" : "○"}</span>
                <span className="sr-only">{t(step.state)}</span>
                <span className={styles.label}>
                  <span className={step.event === undefined ? "mono" : undefined}>{labelOf(step, t, lang)}</span>
                  {detail !== null && <span className={`${styles.detail} small muted mono`}>{detail}</span>}
                </span>
                <span className={`${styles.thread} small`}>{threadLabel(step.thread, t)}</span>
                <span className={`${styles.ret} small mono`}>
                  {step.state === "failed" && step.errno !== 0
                    ? `${step.ret ?? -1} ${step.error ?? `errno ${step.errno}`}`
                    : step.ret !== null ? t("ret", { ret: step.ret }) : ""}
                </span>
                <span className={`${styles.time} small mono`}>
                  {step.ts !== null ? formatOffset(step.ts) : ""}
                  {step.durNs !== null && step.event === undefined ? <span className="muted"> ({formatDuration(step.durNs)})</span> : null}
                </span>
                <span className={`${styles.code} small`}>
                  {step.qemu !== null
                    ? <><span className="muted">{t("qemu")} </span><span className="mono">{step.qemu.fn}()</span><span className="muted"> {step.qemu.file}</span></>
                    : <span className="muted">{t("qemuNone")}</span>}
                  <span className="muted"> · {t("ours")} </span>
                  <span className="mono" title={step.ours.file}>{basename(step.ours.file)} {step.ours.fn}()</span>
                </span>
              </button>
            </li>
          );
        })}
      </ol>
    </section>
  );
}

/** The Lifecycle panel (`data-testid="lifecycle"`; each step `data-step-id`, `data-state`). */
export const Lifecycle = memo(LifecycleView);
export default Lifecycle;
