"use client";
// The home page: the guest catalogue as cards (what each guest does, which exits it shows, and
// the choices a run takes), recent runs, and import of an export file.
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { exitReasonCode, type RunInfo } from "@kvmscope/shared";
import type { GuestInfo } from "@/lib/api";
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
    intro: "Each guest below is a few hundred bytes of assembly that makes the hypervisor do one thing. Run one and watch kvmscope's VMM — one main thread and one thread per vCPU, as in qemu-kvm — open /dev/kvm, create the VM and its vCPUs, and handle every VM exit that comes back from KVM_RUN.",
    guests: "Teaching guests",
    shows: "Shows",
    vcpus: "vCPUs",
    memory: "Memory (MiB)",
    irqchip: "Interrupt controller",
    irqUser: "in our VMM (userspace)",
    irqKernel: "in KVM (in-kernel)",
    mode: "Mode",
    modeLive: "run freely",
    modeStep: "step by step (starts paused)",
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
    intro: "下のゲストはどれも数百バイトのアセンブリで、ハイパーバイザにひとつのことをさせます。実行すると、kvmscope の VMM（qemu-kvm と同じくメインスレッド 1 本と仮想プロセッサ（vCPU）ごとのスレッド）が /dev/kvm を開き、VM と vCPU を作り、KVM_RUN から戻ってくる VM exit をひとつずつ処理する様子を観察できます。",
    guests: "教材ゲスト",
    shows: "見られる exit",
    vcpus: "vCPU 数",
    memory: "メモリ (MiB)",
    irqchip: "割り込みコントローラ",
    irqUser: "VMM 側（ユーザー空間）",
    irqKernel: "KVM 側（カーネル内）",
    mode: "モード",
    modeLive: "そのまま実行",
    modeStep: "ステップ実行（一時停止で開始）",
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
      <p className={styles.desc}><InlineCode text={text.description} /></p>
      <p className="small">
        <span className="muted">{t("shows")}: </span>
        {guest.shows.map((s) => (
          <span key={s} className={styles.chip} style={{ borderColor: reasonColor(exitReasonCode(s) ?? -1) }}>
            {s}
          </span>
        ))}
      </p>
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
        <label htmlFor={`${id}-mode`}>{t("mode")}</label>
        <select id={`${id}-mode`} value={c.mode} onChange={(e) => setC({ ...c, mode: e.target.value as Choice["mode"] })} data-testid={`mode-${guest.name}`}>
          <option value="live">{t("modeLive")}</option>
          <option value="step">{t("modeStep")}</option>
        </select>
        <label htmlFor={`${id}-limit`}>{t("limit")}</label>
        <input id={`${id}-limit`} type="number" min={1} max={86400} value={c.timeoutSec} onChange={(e) => setC({ ...c, timeoutSec: Number(e.target.value) })} data-testid={`limit-${guest.name}`} />
      </div>
      <button type="button" className="primary" disabled={busy} onClick={() => onRun(guest, c)} data-testid={`run-${guest.name}`}>
        {busy ? t("starting") : t("run")}
      </button>
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

  const run = async (g: GuestInfo, c: Choice) => {
    setBusy(g.name);
    setError(null);
    try {
      const created = await service.createRun({ guest: g.name, vcpus: c.vcpus, memMiB: c.memMiB, irqchip: c.irqchip, mode: c.mode, timeoutSec: c.timeoutSec });
      router.push(`/runs/${encodeURIComponent(created.id)}`);
    } catch (err) {
      setError((err as Error).message);
      setBusy(null);
    }
  };

  return (
    <main className={styles.main}>
      <p className={styles.intro}>{t("intro")}</p>
      {down !== null && <ServiceDown reason={down} onRetry={load} />}
      {error !== null && (
        <p role="alert" className={styles.error} data-testid="error">
          {error}
        </p>
      )}
      <h2>{t("guests")}</h2>
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
                    <LocalDate when={r.createdAt} /> · {t("exits", { n: exitTotal(r) })}
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

/** The run's exit count from its stored totals (0 while none are stored). */
export function exitTotal(run: RunInfo): number {
  const vcpus = (run.totals as { vcpus?: unknown } | null)?.vcpus;
  if (!Array.isArray(vcpus)) return 0;
  return vcpus.reduce((n: number, v: unknown) => n + (typeof (v as { exits?: unknown }).exits === "number" ? (v as { exits: number }).exits : 0), 0);
}
