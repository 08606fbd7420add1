import { describe, expect, it } from "vitest";
import { renderToStaticMarkup } from "react-dom/server";
import { GlossaryView, glossaryMessages } from "../src/components/GlossaryView";

describe("the glossary the step panel links to", () => {
  it("keeps VM exit and exit to the VMM apart, with anchors, and ties them to the article's words", () => {
    const html = renderToStaticMarkup(<GlossaryView />);
    expect(html).toContain('id="vm-exit"');
    expect(html).toContain('id="exit-to-vmm"');
    expect(html).toContain("VMEXIT");
    expect(html).toContain("「qemu-kvmへ制御を戻す」");
  });

  it("says the same in Japanese, key for key", () => {
    expect(Object.keys(glossaryMessages.ja).sort()).toEqual(Object.keys(glossaryMessages.en).sort());
    expect(glossaryMessages.ja.articleBody).toContain("VMEXIT");
    expect(glossaryMessages.ja.articleBody).toContain("「qemu-kvmへ制御を戻す」");
    expect(glossaryMessages.ja.toVmm).toBe("VMM への exit");
  });
});
