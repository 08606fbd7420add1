"use client";
// The kvm_run page: struct kvm_run as it stood at the selected exit, as a memory table. This is
// the memory KVM and the vCPU thread hand back and forth on every KVM_RUN; the union members of
// other exit reasons are greyed, fields the record does not carry say so, and fields that changed
// since the previous exit on the same vCPU are highlighted.
import { memo, useMemo, useState } from "react";
import type { ExitRecord } from "@kvmscope/shared";
import { defineMessages, useT } from "../lib/i18n";
import {
  exitRowFor, kvmRunView, type KvmRunRow, memberForReason, neighbourRow, type Writer,
} from "../lib/kvm-run-view";
import type { TraceStore } from "../lib/trace-store";
import type { RunViewProps } from "../lib/view-props";
import { newestExitAt } from "../lib/activity";
import styles from "./KvmRunPage.module.css";

export const kvmRunPageMessages = defineMessages({
  en: {
    title: "The kvm_run page",
    what: "struct kvm_run, mmapped from the vCPU fd: KVM fills it when KVM_RUN returns, the VMM reads it and writes its part before the next KVM_RUN. x86-64 offsets.",
    hint: "Select an exit to see the kvm_run page as it stood at that exit.",
    why: "One page shared by KVM and the VMM, so an exit costs no copy and no extra ioctl. io.data_offset is where, from the start of the page, the port data lives: KVM puts an OUT's bytes there, the VMM writes an IN's answer there.",
    irqchipNote: "if_flag, cr8 and apic_base are valid only without an in-kernel local APIC (irqchip user); with the in-kernel irqchip, ready_for_interrupt_injection is always 1 and KVM injects interrupts itself.",
    atExit: "vCPU {vcpu}, record {seq}: {reason}",
    viaRecord: "Record {seq} is not an exit; this is the page as the exit before it on vCPU {vcpu} left it.",
    atCursor: "Nothing selected: the page at the cursor.",
    noPrev: "First exit on this vCPU: nothing to compare with.",
    changedNote: "Highlighted: changed since this vCPU's previous exit (record {seq}).",
    offset: "Offset",
    field: "Field",
    type: "Type",
    value: "Value",
    writer: "Written by",
    notRecorded: "not recorded",
    otherMember: "—",
    union: "union at offset 32: {member}",
    unionNone: "union at offset 32: unused by {reason}",
    syncRegs: "after the union: sync regs (KVM_CAP_SYNC_REGS)",
    header: "header",
    kernel: "KVM, on exit",
    vmm: "VMM, before KVM_RUN",
    both: "both",
    showOthers: "Show the other union members ({n} {n|row|rows}: the same bytes, read as another exit reason would)",
    hideOthers: "Hide the other union members",
    changed: "changed",
    dataAt: "+data_offset",
  },
  ja: {
    title: "kvm_run ページ",
    what: "vCPU fd から mmap した struct kvm_run です。KVM_RUN から戻るときに KVM が書き込み、VMM はそれを読み、次の KVM_RUN の前に自分の担当部分を書き込みます。オフセットは x86-64 のものです。",
    hint: "exit を選ぶと、その exit の時点での kvm_run ページを表示します。",
    why: "KVM と VMM が共有する 1 枚のページなので、exit のたびにコピーも余分な ioctl も要りません。io.data_offset は、ポートのデータがページの先頭から何バイト目にあるかを示します。OUT なら KVM がそこにバイトを置き、IN なら VMM がそこに答えを書きます。",
    irqchipNote: "if_flag、cr8、apic_base が有効なのは、カーネル内にローカル APIC がないとき（irqchip user）だけです。カーネル内 irqchip では ready_for_interrupt_injection は常に 1 で、割り込みは KVM 自身が注入します。",
    atExit: "vCPU {vcpu}、レコード {seq}：{reason}",
    viaRecord: "レコード {seq} は exit ではないので、vCPU {vcpu} でその直前の exit が残したページを表示しています。",
    atCursor: "選択なし：カーソル位置でのページです。",
    noPrev: "この vCPU で最初の exit なので、比較対象はありません。",
    changedNote: "強調表示：この vCPU の前回の exit（レコード {seq}）から変わったフィールドです。",
    offset: "オフセット",
    field: "フィールド",
    type: "型",
    value: "値",
    writer: "書き込む側",
    notRecorded: "記録なし",
    otherMember: "—",
    union: "オフセット 32 の共用体：{member}",
    unionNone: "オフセット 32 の共用体：{reason} では未使用",
    syncRegs: "共用体の後：sync regs（KVM_CAP_SYNC_REGS）",
    header: "ヘッダ",
    kernel: "KVM（exit 時）",
    vmm: "VMM（KVM_RUN 前）",
    both: "両方",
    showOthers: "ほかの共用体メンバーも表示する（{n} 行：同じバイトを別の exit 理由として読んだもの）",
    hideOthers: "ほかの共用体メンバーを隠す",
    changed: "変更あり",
    dataAt: "+data_offset",
  },
});

/** onSelect, mode and paused are accepted as the run page passes them, not used. */
export interface KvmRunPageProps
  extends Pick<RunViewProps, "store" | "version" | "selectedSeq">, Partial<Omit<RunViewProps, "store" | "version" | "selectedSeq">> {
  /** With nothing selected, the page at the cursor (the last exit at or before it). */
  cursorSeq?: number;
  /** Start with the other exit reasons' union members listed (the reader can toggle them). */
  allMembers?: boolean;
}

interface PageState {
  rec: ExitRecord;
  prev: ExitRecord | null;
  rows: KvmRunRow[];
  /** Why this exit: it was selected, it precedes the selected record, or it is at the cursor. */
  via: "selected" | "record" | "cursor";
}

function pageAt(store: TraceStore, selectedSeq: number | null, cursorSeq: number | undefined): PageState | null {
  let row = -1;
  let via: PageState["via"] = "selected";
  if (selectedSeq !== null) {
    const sel = store.rowOfSeq(selectedSeq);
    row = exitRowFor(store, sel);
    if (row >= 0 && row !== sel) via = "record";
  } else if (cursorSeq !== undefined) {
    // The page as the newest exit at the cursor left it (the thread model follows the same exit).
    const seq = newestExitAt(store, cursorSeq);
    row = seq === null ? -1 : store.rowOfSeq(seq);
    via = "cursor";
  }
  if (row < 0) return null;
  const rec = store.record(row);
  if (rec.type !== "exit") return null;
  const prevRow = neighbourRow(store, row, -1);
  const prevRec = prevRow >= 0 ? store.record(prevRow) : null;
  const prev = prevRec !== null && prevRec.type === "exit" ? prevRec : null;
  return { rec, prev, rows: kvmRunView(rec, prev), via };
}

const WRITER_KEY: Readonly<Record<Writer, "kernel" | "vmm" | "both">> = { kernel: "kernel", vmm: "vmm", both: "both" };

function KvmRunPageImpl({ store, version, selectedSeq, cursorSeq, allMembers = false }: KvmRunPageProps) {
  const t = useT(kvmRunPageMessages);
  // With a selection the cursor does not matter: leave it out so scrubbing does not recompute.
  const cursor = selectedSeq === null ? cursorSeq : undefined;
  const page = useMemo(() => pageAt(store, selectedSeq, cursor), [store, version, selectedSeq, cursor]);
  // The union holds one member per exit reason: this exit's is shown, the ~40 others on demand.
  const [showOthers, setShowOthers] = useState(allMembers);

  if (page === null) {
    return (
      <section className="panel" data-testid="kvm-run-page">
        <h2>{t("title")}</h2>
        <p className="muted">{t("hint")}</p>
      </section>
    );
  }

  const { rec, prev, rows, via } = page;
  const member = memberForReason(rec.code);
  const unionRows = rows.filter((r) => r.member !== "header" && r.member !== "sync_regs");
  const others = unionRows.filter((r) => !r.active).length;
  const groups: { key: string; label: string; rows: KvmRunRow[] }[] = [
    { key: "header", label: t("header"), rows: rows.filter((r) => r.member === "header") },
    {
      key: "union",
      label: member === null ? t("unionNone", { reason: rec.reason }) : t("union", { member }),
      // The member in use first, then (when asked for) the others, greyed.
      rows: [...unionRows.filter((r) => r.active), ...(showOthers ? unionRows.filter((r) => !r.active) : [])],
    },
    { key: "sync", label: t("syncRegs"), rows: rows.filter((r) => r.member === "sync_regs") },
  ];

  return (
    <section className="panel" data-testid="kvm-run-page">
      <h2>{t("title")}</h2>
      <p className="small muted">{t("what")}</p>
      <p className="small muted" data-testid="kvm-run-notes">{t("why")} {t("irqchipNote")}</p>
      <p className={styles.caption} data-testid="kvm-run-caption">
        {t("atExit", { vcpu: rec.vcpu, seq: rec.seq, reason: rec.reason })}
      </p>
      {via === "record" && selectedSeq !== null && <p className="small muted">{t("viaRecord", { seq: selectedSeq, vcpu: rec.vcpu })}</p>}
      {via === "cursor" && <p className="small muted">{t("atCursor")}</p>}
      <p className="small muted">{prev === null ? t("noPrev") : t("changedNote", { seq: prev.seq })}</p>
      <div className={styles.wrap}>
        <table className={styles.table}>
          <thead>
            <tr>
              <th className={styles.num}>{t("offset")}</th>
              <th>{t("field")}</th>
              <th>{t("type")}</th>
              <th>{t("value")}</th>
              <th>{t("writer")}</th>
            </tr>
          </thead>
          {groups.map((g) => (
            <tbody key={g.key}>
              <tr className={styles.group}>
                <th colSpan={5}>{g.label}</th>
              </tr>
              {g.rows.map((r) => (
                <tr
                  key={r.path}
                  className={[r.active ? "" : styles.inactive, r.changed ? styles.changed : ""].join(" ").trim() || undefined}
                  data-field={r.path}
                  data-active={r.active}
                  data-known={r.known}
                  data-changed={r.changed}
                >
                  <td className={`${styles.num} mono`}>{r.offset === null ? t("dataAt") : r.offset}</td>
                  <td className="mono">{r.path}</td>
                  <td className="mono">{r.cType}</td>
                  <td className="mono">
                    {!r.active ? t("otherMember") : r.display !== null ? r.display : <span className="muted">{t("notRecorded")}</span>}
                    {r.changed && <span className="sr-only"> ({t("changed")})</span>}
                  </td>
                  <td className="small">{r.active ? t(WRITER_KEY[r.writtenBy]) : t(WRITER_KEY[r.writer])}</td>
                </tr>
              ))}
            </tbody>
          ))}
        </table>
      </div>
      {others > 0 && (
        <button type="button" className="small" aria-expanded={showOthers} onClick={() => setShowOthers((v) => !v)} data-testid="kvm-run-others">
          {showOthers ? t("hideOthers") : t("showOthers", { n: others })}
        </button>
      )}
    </section>
  );
}

export const KvmRunPage = memo(KvmRunPageImpl, (a, b) =>
  a.store === b.store && a.version === b.version && a.selectedSeq === b.selectedSeq &&
  (a.selectedSeq !== null || a.cursorSeq === b.cursorSeq));
