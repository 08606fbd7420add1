"use client";
// The two words every panel and tour keeps apart: a VM exit (the hardware leaves the guest) and
// an exit to the VMM (KVM_RUN returns with a KVM_EXIT_* reason), tied to the article's words.
import { defineMessages, useT } from "../lib/i18n";

export const glossaryMessages = defineMessages({
  en: {
    title: "Glossary: VM exit and exit to the VMM",
    vmExit: "VM exit",
    vmExitBody:
      "The hardware leaves the guest and gives the CPU back to KVM: VMX's VM exit, SVM's #VMEXIT. It happens far more often than kvmscope records: changing CR0.PE or CR0.PG, setting CR4.PAE, writing EFER, the first touch of each guest RAM page (an EPT or NPT fault), a PAUSE loop, an external interrupt. KVM's exit handlers deal with most of them and enter the guest again without KVM_RUN returning. KVM counts them (the exits statistic that kvmscope samples).",
    toVmm: "Exit to the VMM",
    toVmmBody:
      "A VM exit that KVM cannot finish by itself: KVM fills the shared kvm_run page and KVM_RUN returns to the VMM with exit_reason KVM_EXIT_IO, KVM_EXIT_MMIO, KVM_EXIT_HLT and so on. Every exit record in kvmscope's trace is one of these. The VMM handles it and calls KVM_RUN again.",
    article: "In the article",
    articleBody:
      "The article calls the first a VMEXIT, and describes the second as KVM “returning control to qemu-kvm” (「qemu-kvmへ制御を戻す」): the VMEXITs whose cause KVM cannot remove itself.",
    rule: "So “no exit” is never quite true: say “no exit to the VMM” when KVM handled the VM exits itself.",
  },
  ja: {
    title: "用語集：VM exit と VMM への exit",
    vmExit: "VM exit",
    vmExitBody:
      "ハードウェアがゲストを抜け出し、CPU を KVM に返すことです。VMX では VM exit、SVM では #VMEXIT と呼びます。kvmscope が記録するよりずっと頻繁に起こります。CR0.PE や CR0.PG の変更、CR4.PAE のセット、EFER への書き込み、ゲスト RAM の各ページへの最初のアクセス（EPT/NPT フォールト）、PAUSE のループ、外部割り込みなどです。その大半は KVM の exit ハンドラが処理し、KVM_RUN から戻らずにゲストへ再突入します。KVM はその回数を数えています（kvmscope が採取する exits 統計）。",
    toVmm: "VMM への exit",
    toVmmBody:
      "KVM が自分では片付けられない VM exit です。KVM は共有の kvm_run ページを埋め、KVM_RUN は exit_reason（KVM_EXIT_IO、KVM_EXIT_MMIO、KVM_EXIT_HLT など）を伴って VMM に戻ります。kvmscope のトレースにある exit のレコードは、すべてこちらです。VMM はそれを処理し、もう一度 KVM_RUN を呼びます。",
    article: "記事では",
    articleBody:
      "記事は前者を VMEXIT と呼び、後者を「qemu-kvmへ制御を戻す」と表しています。KVM が自分で原因を取り除けない VMEXIT のことです。",
    rule: "ですから「exit は起きない」は正確ではありません。KVM が VM exit を自分で処理したときは「VMM への exit は起きない」と言います。",
  },
});

export function GlossaryView() {
  const t = useT(glossaryMessages);
  return (
    <main style={{ padding: 16, maxWidth: 760, margin: "0 auto" }} data-testid="glossary">
      <h1>{t("title")}</h1>
      <h2 id="vm-exit">{t("vmExit")}</h2>
      <p>{t("vmExitBody")}</p>
      <h2 id="exit-to-vmm">{t("toVmm")}</h2>
      <p>{t("toVmmBody")}</p>
      <h2 id="article">{t("article")}</h2>
      <p>{t("articleBody")}</p>
      <p><strong>{t("rule")}</strong></p>
    </main>
  );
}
