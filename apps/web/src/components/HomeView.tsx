"use client";
// The home page: "start here" (one click to watch a first VM exit travel, step by step), the
// guest catalogue as compact cards (what each guest does, which exits it shows; the choices a run
// takes folded away with sensible defaults), recent runs, and import of an export file.
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { type CreateRunBody, exitReasonCode, type RunInfo } from "@kvmscope/shared";
import type { GuestInfo } from "@/lib/api";
import { totalsExitCount } from "@/lib/trace-store";
import { reasonColor } from "@/lib/colors";
import { defineMessages, useLang, useT } from "@/lib/i18n";
import { useService } from "@/lib/service-context";
import { useServiceData } from "@/lib/use-service-data";
import type { ServiceClient } from "@/lib/api";
import { ImportButton } from "./ImportButton";
import { InlineCode } from "./InlineCode";
import { LocalDate } from "./LocalDate";
import { RunStatusBadge } from "./RunStatusBadge";
import { ServiceDown } from "./ServiceDown";
import styles from "./HomeView.module.css";

const messages = defineMessages({
  en: {
    startTitle: "Start here: watch your first VM exit",
    startText: "One click starts the hello guest paused before its first KVM_RUN, then lets it take one exit every two seconds. Each exit is drawn on its way: the guest stops, KVM hands the exit to the vCPU thread, the thread's device model handles it, and the thread enters KVM_RUN again. The selected-exit panel explains each one.",
    startButton: "Watch the first exit",
    startOr: "Or pick a guest below, or follow a guided walkthrough.",
    walkthroughs: "Walkthroughs",
    step: "Step by step",
    options: "Options",
    intro: "Each guest below is a few hundred bytes of assembly that makes the hypervisor do one thing. Run one and watch kvmscope's VMM — one main thread and one thread per vCPU, as in qemu-kvm — open /dev/kvm, create the VM and its vCPUs, and handle every VM exit that comes back from KVM_RUN.",
    guests: "Teaching guests",
    shows: "Shows",
    vcpus: "vCPUs",
    memory: "Memory (MiB)",
    irqchip: "Interrupt controller",
    irqUser: "in our VMM (userspace)",
    irqKernel: "in KVM (in-kernel)",
    limit: "Stop after (s)",
    run: "Run",
    starting: "Starting…",
    recent: "Recent runs",
    allRuns: "All runs",
    noRuns: "No runs yet: start one above.",
    loading: "Loading…",
    exits: "{n} {n|exit|exits}",
  },
  ja: {
    startTitle: "まずはここから：最初の VM exit を見る",
    startText: "ボタンひとつで hello ゲストを最初の KVM_RUN の前で一時停止した状態で起動し、2 秒ごとに exit をひとつずつ進めます。exit ごとに道筋を描きます。ゲストが止まり、KVM が exit を vCPU スレッドに渡し、スレッドのデバイスモデルが処理して、スレッドが再び KVM_RUN に入ります。選択中の exit パネルがそれぞれを説明します。",
    startButton: "最初の exit を見る",
    startOr: "下のゲストを選ぶか、ガイド付きウォークスルーをたどることもできます。",
    walkthroughs: "ウォークスルー",
    step: "ステップ実行",
    options: "オプション",
    intro: "下のゲストはどれも数百バイトのアセンブリで、ハイパーバイザにひとつのことをさせます。実行すると、kvmscope の VMM（qemu-kvm と同じくメインスレッド 1 本と仮想プロセッサ（vCPU）ごとのスレッド）が /dev/kvm を開き、VM と vCPU を作り、KVM_RUN から戻ってくる VM exit をひとつずつ処理する様子を観察できます。",
    guests: "教材ゲスト",
    shows: "見られる exit",
    vcpus: "vCPU 数",
    memory: "メモリ (MiB)",
    irqchip: "割り込みコントローラ",
    irqUser: "VMM 側（ユーザー空間）",
    irqKernel: "KVM 側（カーネル内）",
    limit: "打ち切るまでの秒数",
    run: "実行",
    starting: "起動中…",
    recent: "最近の実行",
    allRuns: "すべての実行",
    noRuns: "まだ実行はありません。上から始めてください。",
    loading: "読み込み中…",
    exits: "exit {n} 回",
  },
});

/** The busy key of the start-here button (a guest's name is the key of its card). */
const START_HERE = " start-here";
/** Exits a second of the start-here run: one journey (~1.5 s) drawn in full before the next exit. */
const FIRST_EXIT_SLOW = 0.5;

interface Choice {
  vcpus: number;
  memMiB: number;
  irqchip: "user" | "kernel";
  mode: "live" | "step";
  timeoutSec: number;
}

/**
 * A guest that never stops by itself (pio-loop, spin) gets a short default limit: at ~140,000
 * exits a second, minutes of records would only fill the page. Others get time to be typed at.
 */
function defaultTimeout(g: GuestInfo): number {
  return g.expect?.outcome === "timeout" ? 5 : 120;
}

function GuestCard({ guest, onRun, busy }: { guest: GuestInfo; onRun: (g: GuestInfo, c: Choice) => void; busy: boolean }) {
  const t = useT(messages);
  const { lang } = useLang();
  const text = lang === "ja" && guest.ja !== undefined ? guest.ja : guest;
  const [c, setC] = useState<Choice>({ vcpus: guest.vcpus, memMiB: guest.memMiB, irqchip: guest.irqchip, mode: "live", timeoutSec: defaultTimeout(guest) });
  const id = `guest-${guest.name}`;
  return (
    <article className={`panel ${styles.card}`} data-testid={`guest-${guest.name}`}>
      <h3 className={styles.cardTitle}>
        {text.title} <code className="muted small">{guest.name}</code>
      </h3>
      <p className={styles.desc} title={text.description.replace(/`/g, "")}><InlineCode text={text.description} /></p>
      <p className={`small ${styles.shows}`}>
        <span className="muted">{t("shows")}: </span>
        {guest.shows.map((s) => (
          <span key={s} className={styles.chip} style={{ borderColor: reasonColor(exitReasonCode(s) ?? -1) }}>
            {s}
          </span>
        ))}
      </p>
      <div className={styles.actions}>
        <button type="button" className="primary" disabled={busy} onClick={() => onRun(guest, { ...c, mode: "live" })} data-testid={`run-${guest.name}`}>
          {busy ? t("starting") : t("run")}
        </button>
        <button type="button" disabled={busy} onClick={() => onRun(guest, { ...c, mode: "step" })} data-testid={`step-${guest.name}`}>
          {t("step")}
        </button>
      </div>
      <details className={styles.options} data-testid={`options-${guest.name}`}>
        <summary className="small">{t("options")}</summary>
        <div className={styles.form}>
          <label htmlFor={`${id}-vcpus`}>{t("vcpus")}</label>
          <input id={`${id}-vcpus`} type="number" min={1} max={64} value={c.vcpus} onChange={(e) => setC({ ...c, vcpus: Number(e.target.value) })} />
          <label htmlFor={`${id}-mem`}>{t("memory")}</label>
          <select id={`${id}-mem`} value={c.memMiB} onChange={(e) => setC({ ...c, memMiB: Number(e.target.value) })}>
            {[...new Set([1, 2, 4, 16, 64, 256, guest.memMiB])].sort((a, b) => a - b).map((m) => (
              <option key={m} value={m}>{m}</option>
            ))}
          </select>
          <label htmlFor={`${id}-irq`}>{t("irqchip")}</label>
          <select id={`${id}-irq`} value={c.irqchip} onChange={(e) => setC({ ...c, irqchip: e.target.value as Choice["irqchip"] })}>
            <option value="user">{t("irqUser")}</option>
            <option value="kernel">{t("irqKernel")}</option>
          </select>
          <label htmlFor={`${id}-limit`}>{t("limit")}</label>
          <input id={`${id}-limit`} type="number" min={1} max={86400} value={c.timeoutSec} onChange={(e) => setC({ ...c, timeoutSec: Number(e.target.value) })} data-testid={`limit-${guest.name}`} />
        </div>
      </details>
    </article>
  );
}

async function loadHome(service: ServiceClient): Promise<{ guests: GuestInfo[]; runs: RunInfo[] }> {
  const [guests, page] = await Promise.all([service.guests(), service.listRuns(8)]);
  return { guests, runs: page.runs };
}

export function HomeView() {
  const t = useT(messages);
  const service = useService();
  const router = useRouter();
  const { data, down, reload: load } = useServiceData(loadHome);
  const guests = data?.guests ?? null;
  const runs = data?.runs ?? null;
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);

  const start = async (busyKey: string, body: CreateRunBody, query = "") => {
    setBusy(busyKey);
    setError(null);
    try {
      const created = await service.createRun(body);
      router.push(`/runs/${encodeURIComponent(created.id)}${query}`);
    } catch (err) {
      setError((err as Error).message);
      setBusy(null);
    }
  };
  const run = (g: GuestInfo, c: Choice) =>
    void start(g.name, { guest: g.name, vcpus: c.vcpus, memMiB: c.memMiB, irqchip: c.irqchip, mode: c.mode, timeoutSec: c.timeoutSec });
  // hello in step mode, paced by the run page's slow motion (one exit every FIRST_EXIT_SLOW⁻¹ s).
  const startHere = () => void start(START_HERE, { guest: "hello", mode: "step", timeoutSec: 600 }, `?slow=${FIRST_EXIT_SLOW}`);

  return (
    <main className={styles.main}>
      {down !== null && <ServiceDown reason={down} onRetry={load} />}
      {error !== null && (
        <p role="alert" className={styles.error} data-testid="error">
          {error}
        </p>
      )}
      <section className={`panel ${styles.start}`} data-testid="start-here">
        <h2 className={styles.startTitle}>{t("startTitle")}</h2>
        <p className={styles.startText}>{t("startText")}</p>
        <div className={styles.actions}>
          <button type="button" className={`primary ${styles.startButton}`} disabled={busy !== null || down !== null} onClick={startHere} data-testid="start-first-exit">
            {busy === START_HERE ? t("starting") : t("startButton")}
          </button>
          <span className="small muted">
            {t("startOr")} <Link href="/walkthroughs">{t("walkthroughs")}</Link>
          </span>
        </div>
      </section>
      <h2>{t("guests")}</h2>
      <p className={styles.intro}>{t("intro")}</p>
      {guests === null ? (
        <p className="muted">{t("loading")}</p>
      ) : (
        <div className={styles.grid}>
          {guests.map((g) => (
            <GuestCard key={g.name} guest={g} onRun={run} busy={busy === g.name} />
          ))}
        </div>
      )}
      <div className={styles.row}>
        <section className={`panel ${styles.recent}`}>
          <h2>{t("recent")}</h2>
          {runs === null ? (
            <p className="muted">{t("loading")}</p>
          ) : runs.length === 0 ? (
            <p className="muted">{t("noRuns")}</p>
          ) : (
            <ul className={styles.runList} data-testid="recent-runs">
              {runs.map((r) => (
                <li key={r.id}>
                  <Link href={`/runs/${encodeURIComponent(r.id)}`}>{r.guest ?? r.id}</Link> <RunStatusBadge run={r} />{" "}
                  <span className="muted small">
                    <LocalDate when={r.createdAt} /> · {t("exits", { n: totalsExitCount(r.totals) })}
                  </span>
                </li>
              ))}
            </ul>
          )}
          <Link href="/runs">{t("allRuns")}</Link>
        </section>
        <ImportButton onError={setError} />
      </div>
    </main>
  );
}

