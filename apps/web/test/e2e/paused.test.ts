// Nothing breaks while a teacher thinks, in Chromium against the real service and real KVM: a
// step-mode run paused for longer than its time limit still steps, and while it waits it writes
// (almost) no records.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kvmAvailable } from "@kvmscope/kvm-binding";
import { api, browserUnavailable, startApp } from "./harness.mjs";
import "./matchers";

const kvm = kvmAvailable();
const noBrowser = browserUnavailable();
const skip = !kvm.ok ? kvm.reason : noBrowser;
if (skip !== null) console.warn(`[paused] skipping the browser tests: ${skip}`);

type App = Awaited<ReturnType<typeof startApp>>;

describe.skipIf(skip !== null)("a paused run, in Chromium", () => {
  let app: App;

  beforeAll(async () => {
    app = await startApp();
  }, 120_000);
  afterAll(async () => {
    await app?.stop();
  });

  it("paused for twice its 2-second time limit, a step run still steps, and it wrote no records meanwhile", async () => {
    const page = await app.newPage();
    await page.goto(app.webUrl);
    await page.getByTestId("options-hello").locator("summary").click();
    await page.getByTestId("limit-hello").fill("2");
    await page.getByTestId("step-hello").click();
    await page.waitForURL(/\/runs\/[^/?]+$/);
    const id = decodeURIComponent(new URL(page.url()).pathname.split("/").at(-1)!);
    await page.locator('[data-testid="run-status"][data-status="paused"]').waitFor({ timeout: 20_000 });
    const stored = async (): Promise<number> => {
      const r = await api(app.serviceUrl, "GET", `/api/runs/${encodeURIComponent(id)}`);
      return Number(r.body.recordCount);
    };
    // Let the start-up's records settle, then count what a paused run adds in 4 s (2x the limit).
    await page.waitForTimeout(1000);
    const before = await stored();
    expect(Number.isFinite(before), "the service reports the run's record count").toBe(true);
    await page.waitForTimeout(4000);
    const after = await stored();
    // Fewer than 100 records a minute: at most 6 in 4 s (a stats sample at each end allowed).
    expect(after - before).toBeLessThanOrEqual(6);
    await expect(page.locator('[data-testid="run-status"][data-status="paused"]')).toBeVisible();
    // The limit counts running time only: the run still steps.
    await page.getByTestId("step").click();
    await expect.poll(async () => Number(await page.getByTestId("run-view").getAttribute("data-exits")), { timeout: 20_000 }).toBe(1);
    const run = await api(app.serviceUrl, "GET", `/api/runs/${encodeURIComponent(id)}`);
    expect(run.body.live, "the run's VM is still there").toBe(true);
    await api(app.serviceUrl, "POST", `/api/runs/${encodeURIComponent(id)}/control`, { action: "stop" });
  }, 120_000);
});
