"use client";
// The Selected-exit panel: one record, all of its fields, the guest registers it carries, what it
// means in plain words (with the KVM API document's section), and where it is handled, in our
// VMM beside qemu-kvm 0.14. Everything from the record is rendered as text.
import { memo, useMemo } from "react";
import { RecordKind } from "@kvmscope/shared";
import { explainRecord, guestRegisters, recordFields } from "../lib/explain";
import { defineMessages, useLang, useT } from "../lib/i18n";
import { endsItsLoop, neighbourRow, uartDlabBefore } from "../lib/kvm-run-view";
import { baseName, type CodeRef, type CodeRole, EXIT_LOOP, type QemuRole, sourceForRecord } from "../lib/source-map";
import type { RunViewProps } from "../lib/view-props";
import { isDivisorLatchPort } from "../lib/uart";
import styles from "./SelectedExit.module.css";

export const selectedExitMessages = defineMessages({
  en: {
    title: "Selected exit",
    hint: "Select an exit (or an ioctl) on the timeline or the thread model to see its fields, what it means and where it is handled.",
    gone: "Record {seq} is not in this trace (yet).",
    prevVcpu: "◀ previous on vCPU {n}",
    nextVcpu: "next on vCPU {n} ▶",
    prevThread: "◀ previous on {thread}",
    nextThread: "next on {thread} ▶",
    prevSame: "◀ previous {name}",
    nextSame: "next {name} ▶",
    navLabel: "Move to a neighbouring record",
    doc: "KVM API documentation for this",
    codeTitle: "Where it is handled",
    ours: "our VMM",
    qemu: "qemu-kvm 0.14",
    qemuNone: "the article shows no qemu-kvm step for this",
    qemuAt: "article: {file} line {line}, in {fn}()",
    qemuNoLine: "the article names it but elides its body",
    qemuRan: "what ran in qemu-kvm 0.14.1: {file}:{line}, in {fn}()",
    loop: "back to the loop",
    loopEnds: "the loop ends here",
    roleHandler: "handles it",
    roleLoop: "loop",
    roleBus: "bus",
    roleDevice: "device model",
    roleCaller: "called from",
    roleBinding: "system call",
    roleAfterwards: "then",
    regsTitle: "Guest registers in this record",
    regsNotRecorded: "Not recorded: {list}. The record keeps only RIP (from the kvm_run page's sync regs) and the interrupt flag.",
    fieldsTitle: "All fields of the record",
  },
  ja: {
    title: "選択中の exit",
    hint: "タイムラインかスレッドモデルで exit（または ioctl）を選ぶと、そのフィールド、意味、処理している場所がここに表示されます。",
    gone: "レコード {seq} はこのトレースに（まだ）ありません。",
    prevVcpu: "◀ vCPU {n} の前のレコード",
    nextVcpu: "vCPU {n} の次のレコード ▶",
    prevThread: "◀ {thread} の前のレコード",
    nextThread: "{thread} の次のレコード ▶",
    prevSame: "◀ 前の {name}",
    nextSame: "次の {name} ▶",
    navLabel: "前後のレコードへ移動",
    doc: "この項目の KVM API ドキュメント",
    codeTitle: "処理している場所",
    ours: "kvmscope の VMM",
    qemu: "qemu-kvm 0.14",
    qemuNone: "記事にはこれに当たる qemu-kvm の処理が出てきません",
    qemuAt: "記事：{file} {line} 行目（{fn}() の中）",
    qemuNoLine: "記事は名前を挙げていますが、本体は省略されています",
    qemuRan: "qemu-kvm 0.14.1 で実際に動いた行：{file}:{line}（{fn}() の中）",
    loop: "ループへ戻る",
    loopEnds: "ここでループを抜ける",
    roleHandler: "処理",
    roleLoop: "ループ",
    roleBus: "バス",
    roleDevice: "デバイスモデル",
    roleCaller: "呼び出し元",
    roleBinding: "システムコール",
    roleAfterwards: "その後",
    regsTitle: "このレコードにあるゲストのレジスタ",
    regsNotRecorded: "記録されていないもの: {list}。レコードに残るのは RIP（kvm_run ページの sync regs から）と割り込みフラグだけです。",
    fieldsTitle: "レコードの全フィールド",
  },
});

type Key = keyof (typeof selectedExitMessages)["en"];

const ROLE_KEY: Readonly<Record<CodeRole, Key>> = {
  handler: "roleHandler", loop: "roleLoop", bus: "roleBus", device: "roleDevice",
  caller: "roleCaller", binding: "roleBinding", afterwards: "roleAfterwards",
};

/** Shows the selected record: cursorSeq, mode and paused are accepted as the run page passes them, not used. */
export interface SelectedExitProps
  extends Pick<RunViewProps, "store" | "version" | "selectedSeq" | "onSelect">, Partial<Pick<RunViewProps, "cursorSeq" | "mode" | "paused">> {}

function fnLabel(ref: { fn: string }): string {
  return `${ref.fn}()`;
}

function CodeLine({ refs, t }: { refs: CodeRef[]; t: (k: Key) => string }) {
  return (
    <ul className={styles.refs}>
      {refs.map((r) => (
        <li key={`${r.file}:${r.fn}`}>
          <span className={styles.role}>{t(ROLE_KEY[r.role])}</span>{" "}
          <code title={r.file}>{baseName(r.file)} {fnLabel(r)}</code>
        </li>
      ))}
    </ul>
  );
}

function QemuLine({ q, t }: { q: QemuRole | null; t: (k: Key, v?: Record<string, string | number>) => string }) {
  if (q === null) return <p className="small muted">{t("qemuNone")}</p>;
  return (
    <p className={styles.qemu}>
      <code>{q.file} {fnLabel(q)}</code>{" "}
      <span className="small muted">
        {q.at !== undefined ? t("qemuAt", { file: q.at.file, line: q.at.line, fn: q.at.fn }) : t("qemuNoLine")}
      </span>
      {q.at?.ran !== undefined && (
        <span className="small muted" data-testid="qemu-ran">
          {" · "}
          {t("qemuRan", { file: q.at.ran.file, line: q.at.ran.line, fn: q.at.ran.fn })}
        </span>
      )}
    </p>
  );
}

function SelectedExitImpl({ store, version, selectedSeq, onSelect }: SelectedExitProps) {
  const { lang } = useLang();
  const t = useT(selectedExitMessages);
  const row = selectedSeq === null ? -1 : store.rowOfSeq(selectedSeq);
  // `version` is in the deps so a record that arrives after being selected shows up.
  const record = useMemo(() => (row >= 0 ? store.record(row) : null), [store, row, version]);
  const nav = useMemo(() => {
    if (row < 0) return null;
    const seqOf = (r: number): number | null => (r >= 0 ? store.seq[r]! : null);
    return {
      prev: seqOf(neighbourRow(store, row, -1)),
      next: seqOf(neighbourRow(store, row, 1)),
      prevSame: seqOf(neighbourRow(store, row, -1, true)),
      nextSame: seqOf(neighbourRow(store, row, 1, true)),
    };
  }, [store, row, version]);
  // Ports 0x3f8/0x3f9 mean the divisor latch while LCR.DLAB is set: look back for it only when it matters.
  const dlab = useMemo(() => {
    const port = record?.type === "exit" ? record.io?.port : undefined;
    return port !== undefined && isDivisorLatchPort(port) ? uartDlabBefore(store, row) : undefined;
  }, [store, row, record]);
  const exp = useMemo(() => (record === null ? null : explainRecord(record, lang, dlab === undefined ? {} : { uartDlab: dlab })), [record, lang, dlab]);
  const fields = useMemo(() => (record === null ? [] : recordFields(record, lang)), [record, lang]);
  const source = useMemo(() => (record === null ? null : sourceForRecord(record)), [record]);

  if (selectedSeq === null || record === null || exp === null || nav === null) {
    return (
      <section className="panel" data-testid="selected-exit">
        <h2>{t("title")}</h2>
        <p className="muted">{selectedSeq === null ? t("hint") : t("gone", { seq: selectedSeq })}</p>
      </section>
    );
  }

  const isExit = record.type === "exit";
  // The thread's last exit (a final HLT, a SHUTDOWN): its loop ends here instead of going round again.
  const loopLabel = isExit && endsItsLoop(store, row) ? t("loopEnds") : t("loop");
  const threadLabel = record.type === "exit" || record.type === "stats" ? `vcpu${record.vcpu}` : record.thread;
  const sameName = record.type === "exit" ? record.reason : record.type === "ioctl" ? record.name : record.type;
  const navButton = (seq: number | null, label: string, testId: string) => (
    <button type="button" disabled={seq === null} onClick={() => seq !== null && onSelect(seq)} data-testid={testId}>
      {label}
    </button>
  );
  const vcpuN = record.type === "exit" ? record.vcpu : -1;
  const regs = record.type === "exit" ? guestRegisters(record) : null;

  return (
    <section className="panel" data-testid="selected-exit" data-seq={record.seq}>
      <h2>{t("title")}</h2>
      <nav className={styles.nav} aria-label={t("navLabel")}>
        {navButton(nav.prev, vcpuN >= 0 ? t("prevVcpu", { n: vcpuN }) : t("prevThread", { thread: threadLabel }), "prev")}
        {navButton(nav.next, vcpuN >= 0 ? t("nextVcpu", { n: vcpuN }) : t("nextThread", { thread: threadLabel }), "next")}
        {store.kind[row] !== RecordKind.Marker && navButton(nav.prevSame, t("prevSame", { name: sameName }), "prev-same")}
        {store.kind[row] !== RecordKind.Marker && navButton(nav.nextSame, t("nextSame", { name: sameName }), "next-same")}
      </nav>

      <p className={styles.headline} data-testid="headline">{exp.headline}</p>
      <p className={styles.sentence} data-testid="sentence">{exp.sentence}</p>
      {exp.docUrl !== null && (
        <p className="small">
          <a href={exp.docUrl} rel="noreferrer" target="_blank" data-testid="doc-link">{t("doc")}</a>
        </p>
      )}

      {source !== null && (
        <div className={styles.code} data-testid="code-map">
          <h3 className={styles.sub}>{t("codeTitle")}</h3>
          <div className={styles.sideBySide}>
            <div>
              <p className={styles.side}>{t("ours")}</p>
              <CodeLine refs={source.vmm} t={t} />
              {isExit && (
                <p className="small muted">
                  {loopLabel}: <code title={EXIT_LOOP.vmm.file}>{baseName(EXIT_LOOP.vmm.file)} {fnLabel(EXIT_LOOP.vmm)}</code>
                </p>
              )}
            </div>
            <div>
              <p className={styles.side}>{t("qemu")}</p>
              <QemuLine q={source.qemu} t={t} />
              {isExit && (
                <p className="small muted">
                  {loopLabel}: <code>{EXIT_LOOP.qemu.file} {fnLabel(EXIT_LOOP.qemu)}</code>
                </p>
              )}
            </div>
          </div>
        </div>
      )}

      {regs !== null && (
        <div>
          <h3 className={styles.sub}>{t("regsTitle")}</h3>
          <dl className={styles.fields} data-testid="registers">
            {regs.known.map((r) => (
              <div key={r.name} className={styles.field}>
                <dt>{r.name}</dt>
                <dd className="mono">{r.value}</dd>
              </div>
            ))}
          </dl>
          <p className="small muted">{t("regsNotRecorded", { list: regs.notRecorded.join(", ") })}</p>
        </div>
      )}

      <h3 className={styles.sub}>{t("fieldsTitle")}</h3>
      <dl className={styles.fields} data-testid="fields">
        {fields.map((f) => (
          <div key={f.key} className={styles.field}>
            <dt className="mono">{f.key}</dt>
            <dd className="mono">{f.value}</dd>
          </div>
        ))}
      </dl>
    </section>
  );
}

export const SelectedExit = memo(SelectedExitImpl, (a, b) =>
  a.store === b.store && a.version === b.version && a.selectedSeq === b.selectedSeq && a.onSelect === b.onSelect);
