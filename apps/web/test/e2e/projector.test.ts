// Projector mode on a classroom's 1280×720 projector, in Debian's Chromium against the real
// service and real KVM: no page may scroll sideways, in either language. The tests also save
// screenshots of the home page and of a run's page (English and Japanese, at 1440×900 and in
// projector mode at 1280×720) to apps/web/test/output/ for people to look at.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { kvmAvailable } from "@kvmscope/kvm-binding";
import { api, browserUnavailable, startApp, waitForRunEnd, WEB_DIR } from "./harness.mjs";

const kvm = kvmAvailable();
const noBrowser = browserUnavailable();
const skip = !kvm.ok ? kvm.reason : noBrowser;
if (skip !== null) console.warn(`[projector] skipping the browser tests: ${skip}`);

const OUTPUT = join(WEB_DIR, "test", "output");

type App = Awaited<ReturnType<typeof startApp>>;

/** How far the page scrolls sideways, and the elements that stick out of the viewport (for the failure message). */
async function overflow(page: Page): Promise<{ scrollWidth: number; viewport: number; culprits: string[] }> {
  return page.evaluate(() => {
    const viewport = window.innerWidth;
    const scrollWidth = document.documentElement.scrollWidth;
    const culprits: string[] = [];
    for (const el of Array.from(document.querySelectorAll("body *"))) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.right <= viewport + 0.5) continue;
      // Only the innermost offenders: a parent that sticks out because of them says nothing new.
      if (Array.from(el.children).some((c) => c.getBoundingClientRect().right > viewport + 0.5)) continue;
      const name = `${el.tagName.toLowerCase()}${el.getAttribute("data-testid") ? `[${el.getAttribute("data-testid")}]` : ""}.${String(el.className).slice(0, 40)}`;
      culprits.push(`${name} right=${Math.round(r.right)} "${(el.textContent ?? "").trim().slice(0, 30)}"`);
      if (culprits.length >= 8) break;
    }
    // Text that runs out of its box (a long word) widens the page without any element doing so.
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n !== null && culprits.length < 12; n = walker.nextNode()) {
      const range = document.createRange();
      range.selectNodeContents(n);
      const r = range.getBoundingClientRect();
      if (r.width > 0 && r.right > viewport + 0.5) culprits.push(`text in ${n.parentElement?.tagName.toLowerCase()} right=${Math.round(r.right)} "${(n.textContent ?? "").trim().slice(0, 30)}"`);
    }
    return { scrollWidth, viewport, culprits };
  });
}

describe.skipIf(skip !== null)("projector mode at 1280×720", () => {
  let app: App;
  let runId = "";
  let walkthroughId = "";

  beforeAll(async () => {
    app = await startApp();
    mkdirSync(OUTPUT, { recursive: true });
    // A finished run of hello, as a class would open it after watching it.
    const { body: run } = await api(app.serviceUrl, "POST", "/api/runs", { guest: "hello" });
    runId = run.id;
    await waitForRunEnd(app.serviceUrl, runId);
    // The first walkthrough follows hello: that run serves its replay.
    const { body: list } = await api(app.serviceUrl, "GET", "/api/walkthroughs");
    walkthroughId = list.walkthroughs.find((w: { guest?: string; run?: { guest?: string } }) => (w.run?.guest ?? w.guest) === "hello")?.id ?? list.walkthroughs[0].id;
  }, 180_000);
  afterAll(async () => {
    await app?.stop();
  });

  const pages = (): [string, string, string][] => [
    ["home", "/", '[data-testid^="guest-"]'],
    ["runs", "/runs", "table"],
    ["run", `/runs/${encodeURIComponent(runId)}`, '[data-testid="run-view"][data-connection="complete"]'],
    ["walkthroughs", "/walkthroughs", "main"],
    ["walkthrough", `/walkthroughs/${encodeURIComponent(walkthroughId)}/replay?run=${encodeURIComponent(runId)}`, '[data-testid="run-view"]'],
    ["join", "/join", "main"],
  ];

  for (const lang of ["en", "ja"] as const) {
    it(`has no horizontal overflow on any page (${lang})`, async () => {
      const page = await app.newPage({ width: 1280, height: 720 });
      const found: string[] = [];
      for (const [name, path, ready] of pages()) {
        await page.goto(`${app.webUrl}${path}${path.includes("?") ? "&" : "?"}projector=1&lang=${lang}`);
        await page.locator(ready).first().waitFor({ timeout: 20_000 });
        await page.locator('html[data-projector="on"]').waitFor();
        await page.waitForTimeout(300); // let the panels draw what they were given
        const o = await overflow(page);
        if (o.scrollWidth > o.viewport) found.push(`${name}: scrollWidth ${o.scrollWidth} > ${o.viewport}: ${o.culprits.join("; ")}`);
      }
      await page.context().close();
      expect(found).toEqual([]);
    }, 120_000);
  }

  it("saves screenshots of the home and run pages in both languages, at 1440×900 and 1280×720 projector", async () => {
    const shots: string[] = [];
    for (const [size, w, h, projector] of [["1440x900", 1440, 900, false], ["1280x720-projector", 1280, 720, true]] as const) {
      for (const lang of ["en", "ja"] as const) {
        const page = await app.newPage({ width: w, height: h });
        for (const [name, path, ready] of pages().filter(([n]) => n === "home" || n === "run")) {
          await page.goto(`${app.webUrl}${path}?projector=${projector ? 1 : 0}&lang=${lang}`);
          await page.locator(ready).first().waitFor({ timeout: 20_000 });
          await page.locator(`html[lang="${lang}"]`).waitFor();
          await page.waitForTimeout(1_800); // the thread model's journey runs ~1.5 s
          const file = join(OUTPUT, `${name}-${lang}-${size}.png`);
          await page.screenshot({ path: file, fullPage: true });
          shots.push(file);
        }
        await page.context().close();
      }
    }
    expect(shots).toHaveLength(8);
  }, 180_000);
});
