// Classroom walkthroughs end to end: a teacher and two students in separate Chromium contexts
// (separate storage: only the teacher's holds the session's secret), against the real service
// and real KVM.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { kvmAvailable } from "@kvmscope/kvm-binding";
import { api, browserUnavailable, startApp } from "./harness.mjs";
import "./matchers";

const kvm = kvmAvailable();
const noBrowser = browserUnavailable();
const skip = !kvm.ok ? kvm.reason : noBrowser;
if (skip !== null) console.warn(`[web] skipping the classroom browser tests: ${skip}`);

type App = Awaited<ReturnType<typeof startApp>>;

describe.skipIf(skip !== null)("a class following a walkthrough in Chromium", () => {
  let app: App;
  let code = "";
  let mainRun = "";

  beforeAll(async () => {
    app = await startApp();
  }, 120_000);
  afterAll(async () => {
    await app?.stop();
  });

  const newPage = (): Promise<Page> => app.newPage({ width: 1400 });

  const stepOf = async (p: Page) => ({
    index: await p.getByTestId("step-panel").getAttribute("data-step-index"),
    id: await p.getByTestId("step-panel").getAttribute("data-step-id"),
    cursor: await p.getByTestId("run-view").getAttribute("data-cursor-seq"),
  });

  it("keeps a teacher and two students on the same step, and only the teacher can move the class", async () => {
    const teacher = await newPage();
    await teacher.goto(`${app.webUrl}/walkthroughs`);
    await teacher.getByTestId("start-exit-loop").click();
    await teacher.waitForURL(/\/class\/[A-Z0-9]{6}$/);
    code = (await teacher.getByTestId("join-code").textContent())!.trim();
    expect(teacher.url()).toMatch(new RegExp(`/class/${code}$`));
    await expect(teacher.getByTestId("class-banner")).toContainText("You lead this class");

    // students join with the code, one by the join form, one by the link
    const alice = await newPage();
    await alice.goto(`${app.webUrl}/join`);
    await alice.getByTestId("join-input").fill(code.toLowerCase());
    await alice.getByTestId("join-submit").click();
    await alice.waitForURL(new RegExp(`/class/${code}$`));
    const bob = await newPage();
    await bob.goto(`${app.webUrl}/class/${code}`);
    for (const s of [alice, bob]) {
      await expect(s.getByTestId("class-banner")).toContainText("You follow this class");
      expect(await s.getByTestId("next-step").count()).toBe(0); // no buttons that lead
      expect(await s.getByTestId("live-controls").count()).toBe(0); // no run controls
    }

    for (let n = 0; n < 4; n++) {
      await teacher.getByTestId("next-step").click();
      await teacher.locator(`[data-testid="step-panel"][data-step-index="${n}"]`).waitFor({ timeout: 30_000 });
      const t = await stepOf(teacher);
      for (const s of [alice, bob]) {
        await s.locator(`[data-testid="step-panel"][data-step-index="${n}"]`).waitFor({ timeout: 15_000 });
        await s.locator(`[data-testid="run-view"][data-cursor-seq="${t.cursor}"]`).waitFor({ timeout: 15_000 });
        expect(await stepOf(s)).toEqual(t);
      }
    }

    // a student looks around on their own, then jumps back to the teacher
    await alice.getByTestId("scrubber").focus();
    await alice.getByTestId("scrubber").press("Home");
    await alice.locator('[data-testid="run-view"][data-cursor-seq="0"]').waitFor();
    expect((await stepOf(bob)).cursor).not.toBe("0"); // nobody else moved
    await alice.getByTestId("back-to-step").click();
    expect((await stepOf(alice)).cursor).toBe((await stepOf(teacher)).cursor);

    // the teacher reveals an answer to everyone
    const session = (await api(app.serviceUrl, "GET", `/api/sessions/${code}`)).body;
    mainRun = session.runs.main;
    const withQuestion = (await api(app.serviceUrl, "GET", "/api/walkthroughs/exit-loop")).body.steps
      .findIndex((s: { question?: unknown }, i: number) => i <= session.step && s.question !== undefined);
    if (withQuestion >= 0 && withQuestion === session.step) {
      await teacher.getByTestId("reveal-all").click();
      await bob.getByTestId("step-answer").waitFor();
    }

    // a student's browser cannot control the run: the service refuses without the teacher's secret
    const refused = await bob.evaluate(async ({ service, run }) => {
      const res = await fetch(`${service}/api/runs/${run}/control`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ action: "resume" }) });
      return { status: res.status, body: await res.json() };
    }, { service: app.serviceUrl, run: mainRun });
    expect(refused.status).toBe(403);
    const advance = await bob.evaluate(async ({ service, code }) => {
      const res = await fetch(`${service}/api/sessions/${code}/advance`, { method: "POST", headers: { "content-type": "application/json", "x-kvmscope-token": code }, body: "{}" });
      return res.status;
    }, { service: app.serviceUrl, code });
    expect(advance).toBe(403);
    expect((await stepOf(alice)).index).toBe("3");

    for (const p of [teacher, alice, bob]) await p.context().close();
  });

  it("says clearly when a join code is malformed or unknown", async () => {
    const page = await newPage();
    await page.goto(`${app.webUrl}/join`);
    await page.getByTestId("join-input").fill("12");
    await page.getByTestId("join-submit").click();
    await expect(page.getByTestId("join-error")).toContainText("6 letters and digits");
    await page.goto(`${app.webUrl}/class/ZZZZZZ`);
    await expect(page.getByTestId("join-error")).toContainText("No class session");
    await page.context().close();
  });

  it("replays the class's run as a walkthrough from an imported export, without KVM", async () => {
    expect(mainRun).not.toBe("");
    const exported = await (await fetch(`${app.serviceUrl}/api/runs/${mainRun}/export?format=ndjson`)).text();
    const imported = (await fetch(`${app.serviceUrl}/api/import`, { method: "POST", headers: { "content-type": "application/x-ndjson" }, body: exported }).then((r) => r.json())) as { id: string };
    const page = await newPage();
    await page.goto(`${app.webUrl}/walkthroughs/exit-loop/replay?run=${imported.id}`);
    await page.locator('[data-testid="step-panel"][data-step-index="0"]').waitFor({ timeout: 20_000 });
    const first = await stepOf(page);
    await page.getByTestId("next-step").click();
    await page.locator('[data-testid="step-panel"][data-step-index="1"]').waitFor();
    const second = await stepOf(page);
    expect(Number(second.cursor)).toBeGreaterThanOrEqual(Number(first.cursor));
    await page.context().close();
  });
});
