// The web app end to end, in Debian's Chromium, against the real service and real KVM: what a
// student does in class. Each test drives the page as a person would (clicks, keys, files) and
// reads only what the page shows.
import { mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { kvmAvailable } from "@kvmscope/kvm-binding";
import { api, browserUnavailable, startApp, waitForRunEnd, WEB_DIR } from "./harness.mjs";
import "./matchers";

const kvm = kvmAvailable();
const noBrowser = browserUnavailable();
const skip = !kvm.ok ? kvm.reason : noBrowser;
if (skip !== null) console.warn(`[web] skipping the browser tests: ${skip}`);

const OUTPUT = join(WEB_DIR, "test", "output");

type App = Awaited<ReturnType<typeof startApp>>;

describe.skipIf(skip !== null)("the web app in Chromium", () => {
  let app: App;
  let helloRun = "";

  beforeAll(async () => {
    app = await startApp();
  }, 120_000);
  afterAll(async () => {
    await app?.stop();
  });

  const newPage = (): Promise<Page> => app.newPage();

  const attr = async (page: Page, testId: string, name: string): Promise<string | null> => page.getByTestId(testId).first().getAttribute(name);
  const num = async (page: Page, testId: string, name: string): Promise<number> => Number(await attr(page, testId, name));
  /** hello in step mode, started from the home page: its page, paused before the first exit. */
  const startStepHello = async (): Promise<{ page: Page; id: string }> => {
    const page = await newPage();
    await page.goto(app.webUrl);
    await page.getByTestId("step-hello").click();
    await page.waitForURL(/\/runs\/[^/?]+$/);
    const id = decodeURIComponent(new URL(page.url()).pathname.split("/").at(-1)!);
    await page.locator('[data-testid="run-status"][data-status="paused"]').waitFor({ timeout: 20_000 });
    return { page, id };
  };

  it("runs hello from the home page: its text appears in the console and the exits are counted", async () => {
    const page = await newPage();
    await page.goto(app.webUrl);
    await expect(page.getByTestId("guest-hello")).toBeVisible();
    await page.getByTestId("run-hello").click();
    await page.waitForURL(/\/runs\/[^/?]+$/);
    helloRun = decodeURIComponent(new URL(page.url()).pathname.split("/").at(-1)!);
    await page.locator('[data-testid="run-status"][data-status="finished"]').waitFor({ timeout: 20_000 });
    // 22 bytes through the UART and the final HLT: all exits reached the page.
    await page.locator('[data-testid="run-view"][data-connection="complete"]').waitFor();
    expect(await num(page, "run-view", "data-exits")).toBe(23);
    // Over before its page loaded, it opened at its first exit; at the end the whole text is there.
    await page.getByTestId("scrubber").focus();
    await page.getByTestId("scrubber").press("End");
    await page.getByTestId("console").and(page.locator('[data-text*="Hello from the guest!"]')).waitFor();
    await page.close();
  });

  it("shows the exit counts rising while a guest runs", async () => {
    const { body: run } = await api(app.serviceUrl, "POST", "/api/runs", { guest: "pio-loop", timeoutSec: 30 });
    const page = await newPage();
    await page.goto(`${app.webUrl}/runs/${run.id}`);
    await page.locator('[data-testid="run-view"][data-connection="live"]').waitFor();
    // Rising, however fast this machine is: each reading is followed by a higher one.
    let last = 0;
    for (let i = 0; i < 4; i++) {
      await page.waitForFunction((n) => Number(document.querySelector('[data-testid="run-view"]')?.getAttribute("data-exits")) > n, last, { timeout: 15_000 });
      const now = await num(page, "run-view", "data-exits");
      expect(now).toBeGreaterThan(last);
      last = now;
    }
    await page.getByTestId("stop").click();
    await waitForRunEnd(app.serviceUrl, run.id);
    await page.close();
  });

  it("steps a step-mode run exactly one exit per click, and the lifecycle shows where it is", async () => {
    const { page, id } = await startStepHello();
    expect(await num(page, "run-view", "data-exits")).toBe(0);
    // Before the first exit the VM, its memory and its vCPU exist: the lifecycle has lit them.
    await page.locator('[data-testid="lifecycle"] [data-state="done"]').first().waitFor();
    for (let n = 1; n <= 3; n++) {
      await page.getByTestId("step").click();
      await page.locator(`[data-testid="run-view"][data-exits="${n}"]`).waitFor();
      await page.locator('[data-testid="run-status"][data-status="paused"]').waitFor();
      await page.waitForTimeout(150);
      expect(await num(page, "run-view", "data-exits")).toBe(n); // one click, one exit: never two
    }
    expect(await attr(page, "console", "data-text")).toBe("Hel");
    const current = page.locator('[data-testid="lifecycle"] [aria-current="step"]');
    await expect(current.getAttribute("data-step-id")).resolves.toMatch(/run|loop|exit/i);
    // the keyboard does the same: n takes one exit
    await page.locator("body").press("n");
    await page.locator('[data-testid="run-view"][data-exits="4"]').waitFor();
    await page.getByTestId("stop").click();
    await waitForRunEnd(app.serviceUrl, id);
    await page.close();
  });

  it("shows slow motion on a paused run as running slowly, not as paused, and Pause stops it", async () => {
    const { page, id } = await startStepHello();
    await page.getByTestId("slow-motion").selectOption("2");
    await page.locator('[data-testid="run-status"][data-status="slow"]').waitFor();
    await expect(page.getByTestId("run-status")).toContainText("slow motion, 2 exits/s");
    await page.locator('[data-testid="run-view"][data-exits="2"]').waitFor({ timeout: 20_000 });
    // While it advances, nothing says "paused": the badge, the thread model, the button.
    await expect(page.getByTestId("pause")).toBeVisible();
    expect(await page.getByTestId("thread-model").locator("p").first().textContent()).not.toContain("paused");
    await page.getByTestId("pause").click();
    await page.locator('[data-testid="run-status"][data-status="paused"]').waitFor();
    await expect(page.getByTestId("resume")).toBeVisible();
    await page.waitForTimeout(1_000); // a step already on its way when Pause was clicked lands first
    const stopped = await num(page, "run-view", "data-exits");
    await page.waitForTimeout(1_500);
    expect(await num(page, "run-view", "data-exits")).toBe(stopped);
    await page.getByTestId("stop").click();
    await waitForRunEnd(app.serviceUrl, id);
    await page.close();
  });

  it("replays a stored run with the scrubber, and opens a deep link at one exit", async () => {
    expect(helloRun).not.toBe("");
    const page = await newPage();
    await page.goto(`${app.webUrl}/runs/${helloRun}`);
    await page.locator('[data-testid="run-view"][data-connection="complete"][data-mode="replay"]').waitFor();
    // it opens at its first exit; the end is one key away
    await page.getByTestId("scrubber").focus();
    await page.getByTestId("scrubber").press("End");
    await page.getByTestId("console").and(page.locator('[data-text*="Hello from the guest!"]')).waitFor();
    // the lifecycle shows where the run is: its current step (the end) scrolled into its list
    const currentInView = await page.evaluate(() => {
      const list = document.querySelector('[data-testid="lifecycle"] ol')!;
      const item = list.querySelector('[aria-current="step"]') as HTMLElement;
      const l = list.getBoundingClientRect();
      const i = item.getBoundingClientRect();
      return { id: item.dataset.stepId, inView: i.top >= l.top - 1 && i.bottom <= l.bottom + 1 };
    });
    expect(currentInView).toEqual({ id: "end", inView: true });
    // back to the very start: nothing printed yet
    await page.getByTestId("scrubber").focus();
    await page.getByTestId("scrubber").press("Home");
    await page.locator('[data-testid="run-view"][data-cursor-seq="0"]').waitFor();
    expect(await attr(page, "console", "data-text")).toBe("");
    // play it back at full speed to the end
    await page.getByTestId("replay-play").click();
    await page.getByTestId("console").and(page.locator('[data-text*="Hello from the guest!"]')).waitFor();

    // a shared link: record 20 of that run, with the selected-exit panel in view
    const { body: page1 } = await api(app.serviceUrl, "GET", `/api/runs/${helloRun}/records?limit=1000`);
    const exit = page1.records.find((r: { type: string; reason?: string }) => r.type === "exit" && r.reason === "KVM_EXIT_IO");
    const link = await newPage();
    await link.goto(`${app.webUrl}/runs/${helloRun}?seq=${exit.seq}&view=exit`);
    await link.locator(`[data-testid="run-view"][data-cursor-seq="${exit.seq}"]`).waitFor();
    await expect(link.getByTestId("selected-exit")).toContainText("KVM_EXIT_IO");
    await expect(link.getByTestId("selected-exit")).toContainText("0x3f8");
    await expect(link.getByTestId("kvm-run-page")).toContainText("exit_reason");
    mkdirSync(OUTPUT, { recursive: true });
    await link.screenshot({ path: join(OUTPUT, "run-page.png"), fullPage: true });
    await link.close();
    await page.close();
  });

  it("counts a re-imported Chrome export's records the same way in the header and the replay bar", async () => {
    const { body: run } = await api(app.serviceUrl, "POST", "/api/runs", { guest: "hello" });
    await waitForRunEnd(app.serviceUrl, run.id);
    const res = await fetch(`${app.serviceUrl}/api/runs/${run.id}/export?format=chrome`);
    const file = join(tmpdir(), `kvmscope-e2e-${process.pid}-chrome.json`);
    writeFileSync(file, await res.text());
    const page = await newPage();
    await page.goto(app.webUrl);
    await page.getByTestId("import-file").setInputFiles(file);
    await page.waitForURL((u) => u.pathname.startsWith("/runs/") && !u.pathname.endsWith(run.id));
    await page.locator('[data-testid="run-view"][data-connection="complete"]').waitFor();
    const records = await num(page, "run-view", "data-records");
    expect(records).toBeGreaterThan(20);
    await expect(page.getByTestId("record-count")).toContainText(`${records} records`);
    await expect(page.getByTestId("cursor-position")).toHaveText(`record ${records} of ${records}`);
    await page.close();
  });

  it("imports an export file and opens it as a replay with the same records", async () => {
    const res = await fetch(`${app.serviceUrl}/api/runs/${helloRun}/export?format=ndjson`);
    const file = join(tmpdir(), `kvmscope-e2e-${process.pid}.ndjson`);
    writeFileSync(file, await res.text());
    const original = (await api(app.serviceUrl, "GET", `/api/runs/${helloRun}`)).body;
    const page = await newPage();
    await page.goto(app.webUrl);
    await page.getByTestId("import-file").setInputFiles(file);
    await page.waitForURL((u) => u.pathname.startsWith("/runs/") && !u.pathname.endsWith(helloRun));
    await page.locator('[data-testid="run-view"][data-connection="complete"]').waitFor();
    expect(await num(page, "run-view", "data-records")).toBe(original.recordCount);
    await page.getByTestId("scrubber").focus();
    await page.getByTestId("scrubber").press("End");
    await page.getByTestId("console").and(page.locator('[data-text*="Hello from the guest!"]')).waitFor();
    await expect(page.getByTestId("run-status")).toContainText("imported");
    // a file that is not an export: a clear error, and the page keeps working
    const bad = join(tmpdir(), `kvmscope-e2e-${process.pid}.json`);
    writeFileSync(bad, "this is not an export\n");
    await page.goto(app.webUrl);
    await page.getByTestId("import-file").setInputFiles(bad);
    await expect(page.getByTestId("error")).toContainText("is not a kvmscope");
    await page.close();
  });

  it("steps N exits at once, and pauses at an exit breakpoint", async () => {
    const { body: run } = await api(app.serviceUrl, "POST", "/api/runs", { guest: "mmio", mode: "step" });
    const page = await newPage();
    await page.goto(`${app.webUrl}/runs/${run.id}`);
    await page.locator('[data-testid="run-status"][data-status="paused"]').waitFor({ timeout: 20_000 });
    await page.getByTestId("step-count").fill("2");
    await page.getByTestId("step-n").click();
    await page.locator('[data-testid="run-view"][data-exits="2"]').waitFor();
    // break on the first MMIO exit, then let the guest run
    await page.getByText("Exit breakpoint").click();
    await page.getByTestId("break-reason").selectOption("KVM_EXIT_MMIO");
    await page.getByTestId("break-arm").click();
    await expect(page.getByTestId("break-armed")).toContainText("reason=KVM_EXIT_MMIO");
    await page.getByTestId("resume").click();
    await page.locator('[data-testid="run-status"][data-status="paused"]').waitFor();
    await page.locator('[data-testid="break-armed"]').waitFor({ state: "detached" });
    const { body } = await api(app.serviceUrl, "GET", `/api/runs/${run.id}/records?limit=10000`);
    const exits = body.records.filter((r: { type: string }) => r.type === "exit");
    expect(exits.at(-1).reason).toBe("KVM_EXIT_MMIO");
    expect(exits.filter((r: { reason: string }) => r.reason === "KVM_EXIT_MMIO")).toHaveLength(1);
    await page.locator(`[data-testid="run-view"][data-exits="${exits.length}"]`).waitFor();
    // the breakpoint's exit is the one selected
    await page.locator(`[data-testid="selected-exit"][data-seq="${exits.at(-1).seq}"]`).waitFor();
    await page.getByTestId("stop").click();
    await waitForRunEnd(app.serviceUrl, run.id);
    await page.close();
  });

  it("switches the interface to Japanese and keeps the choice", async () => {
    const page = await newPage();
    await page.goto(app.webUrl);
    await page.locator('[data-testid="lang-switch"] [data-lang="ja"]').click();
    await expect(page.getByRole("link", { name: "実行履歴" })).toBeVisible();
    await expect(page.getByTestId("run-hello")).toHaveText("実行");
    expect(await page.locator("html").getAttribute("lang")).toBe("ja");
    await page.goto(`${app.webUrl}/runs/${helloRun}`);
    await expect(page.getByTestId("live-controls")).toContainText("一時停止");
    await page.locator('[data-testid="lang-switch"] [data-lang="en"]').click();
    await expect(page.getByRole("link", { name: "Runs" })).toBeVisible();
    // projector mode for the classroom: one switch, remembered like the language
    await page.getByTestId("projector-toggle").check();
    expect(await page.locator("html").getAttribute("data-projector")).toBe("on");
    const size = await page.evaluate(() => getComputedStyle(document.body).fontSize);
    expect(parseFloat(size)).toBeGreaterThanOrEqual(20);
    await page.reload();
    await page.locator('html[data-projector="on"]').waitFor();
    await page.getByTestId("projector-toggle").uncheck();
    await page.close();
  });

  it("shows guest output as text, never as markup", async () => {
    const { body: run } = await api(app.serviceUrl, "POST", "/api/runs", { guest: "echo", timeoutSec: 20 });
    const page = await newPage();
    await page.goto(`${app.webUrl}/runs/${run.id}`);
    await page.locator('[data-testid="run-view"][data-connection="live"]').waitFor();
    await page.locator(".xterm").click();
    await page.keyboard.type("<img src=x onerror=window.__owned=1>");
    await page.keyboard.press("Enter");
    await page.getByTestId("console").and(page.locator('[data-text*="<IMG SRC=X"]')).waitFor({ timeout: 20_000 });
    expect(await page.locator("img").count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __owned?: number }).__owned)).toBeUndefined();
    await waitForRunEnd(app.serviceUrl, run.id);
    await page.close();
  });

  it("says when the service is down or a run is gone, and recovers when the service returns", async () => {
    const page = await newPage();
    await page.goto(`${app.webUrl}/runs/no-such-run`);
    await expect(page.getByTestId("run-gone")).toBeVisible();

    await page.goto(app.webUrl);
    await expect(page.getByTestId("guest-hello")).toBeVisible();
    await app.stopService();
    try {
      await page.reload();
      await expect(page.getByTestId("service-down")).toBeVisible();
    } finally {
      await app.restartService();
    }
    await expect(page.getByTestId("service-down")).toBeHidden({ timeout: 15_000 });
    await expect(page.getByTestId("guest-hello")).toBeVisible();
    await page.close();
  });
});

