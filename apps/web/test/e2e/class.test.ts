// Classroom walkthroughs end to end: a teacher and two students in separate Chromium contexts
// (separate storage: only the teacher's holds the session's secret), against the real service
// and real KVM, over a room's network as npm start serves it: the front door bound to 0.0.0.0,
// the teacher on http://127.0.0.1:PORT, the students on http://127.0.0.2:PORT (another address of
// the machine), the teacher's second browser on the join link's address.
import { readFileSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { kvmAvailable } from "@kvmscope/kvm-binding";
import { parseWalkthrough } from "@kvmscope/shared";
import { api, browserUnavailable, ROOT, startApp } from "./harness.mjs";
import "./matchers";

const exitLoop = parseWalkthrough(readFileSync(join(ROOT, "walkthroughs", "02-exit-loop.yaml"), "utf8"), "02-exit-loop.yaml");
const QUESTION = exitLoop.steps.findIndex((s) => s.question !== undefined);
const ANSWER = exitLoop.steps[QUESTION]!.answer!.en;
/** This machine's addresses on its networks: where the join link must send students. */
const ROOM = Object.values(networkInterfaces()).flat().filter((a) => a !== undefined && !a.internal && a.family === "IPv4").map((a) => a!.address);

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
    app = await startApp({ host: "0.0.0.0" });
  }, 120_000);
  afterAll(async () => {
    await app?.stop();
  });

  const newPage = (): Promise<Page> => app.newPage({ width: 1400 });
  /** Pages of the test running now: their contexts close when it ends, passed or not. */
  let pages: Page[] = [];
  const track = async (p: Promise<Page>): Promise<Page> => {
    const page = await p;
    pages.push(page);
    return page;
  };
  afterEach(async () => {
    for (const p of pages) await p.context().close().catch(() => {});
    pages = [];
  });

  const stepOf = async (p: Page) => ({
    index: await p.getByTestId("step-panel").getAttribute("data-step-index"),
    id: await p.getByTestId("step-panel").getAttribute("data-step-id"),
    cursor: await p.getByTestId("run-view").getAttribute("data-cursor-seq"),
  });

  it("keeps a teacher (127.0.0.1) and two students (127.0.0.2) on the same step, answers hidden until revealed, and only the teacher can move the class", async () => {
    expect(QUESTION).toBeGreaterThan(0);
    const teacherUrl = `http://127.0.0.1:${app.port}`;
    const studentUrl = `http://127.0.0.2:${app.port}`;
    const teacher = await track(newPage());
    await teacher.goto(`${teacherUrl}/walkthroughs`);
    await teacher.getByTestId("start-exit-loop").click();
    await teacher.waitForURL(/\/class\/[A-Z0-9]{6}$/);
    code = (await teacher.getByTestId("join-code").textContent())!.trim();
    expect(teacher.url()).toMatch(new RegExp(`/class/${code}$`));
    await expect(teacher.getByTestId("class-banner")).toContainText("You lead this class");
    // The teacher's own address is loopback: the banner sends students to the machine's others.
    const joinUrls = ROOM.length > 0 ? ROOM.map((ip) => `http://${ip}:${app.port}/join`) : [`${teacherUrl}/join`];
    await expect(teacher.getByTestId("class-banner")).toContainText(joinUrls[0]!);
    expect(((await teacher.getByTestId("join-urls").textContent()) ?? "").split(" ")).toEqual(joinUrls);
    expect(await teacher.getByTestId("class-banner").textContent()).not.toContain("127.0.0.1");

    // students join with the code through another address, one by the join form, one by the link
    const alice = await track(newPage());
    await alice.goto(`${studentUrl}/join`);
    await alice.getByTestId("join-input").fill(code.toLowerCase());
    await alice.getByTestId("join-submit").click();
    await alice.waitForURL(new RegExp(`/class/${code}$`));
    const bob = await track(newPage());
    await bob.goto(`${studentUrl}/class/${code}`);
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
      if (n !== QUESTION) continue;
      // "Check your understanding": the students cannot show the answer; it is not on their page
      // nor anywhere their browser can fetch it; the teacher can.
      for (const s of [alice, bob]) {
        await expect(s.getByTestId("answer-hidden")).toContainText("The teacher reveals the answer");
        expect(await s.getByTestId("show-answer").count()).toBe(0);
        expect(await s.content()).not.toContain(ANSWER);
      }
      const fetched = await bob.evaluate(async (id) => {
        const texts = await Promise.all([`/api/walkthroughs/${id}`, "/api/walkthroughs", `/api/walkthroughs/${id}/answers`].map(async (u) => {
          const r = await fetch(u);
          return `${r.status} ${await r.text()}`;
        }));
        return texts;
      }, "exit-loop");
      for (const text of fetched) expect(text).not.toContain(ANSWER);
      expect(fetched[2]).toMatch(/^403 /);
      await teacher.getByTestId("show-answer").click();
      await expect(teacher.getByTestId("step-answer")).toContainText(ANSWER);
      await teacher.getByTestId("reveal-all").click();
      for (const s of [alice, bob]) await expect(s.getByTestId("step-answer")).toContainText(ANSWER);
    }

    // a student looks around on their own, then jumps back to the teacher
    await alice.getByTestId("scrubber").focus();
    await alice.getByTestId("scrubber").press("Home");
    await alice.locator('[data-testid="run-view"][data-cursor-seq="0"]').waitFor();
    expect((await stepOf(bob)).cursor).not.toBe("0"); // nobody else moved
    await alice.getByTestId("back-to-step").click();
    expect((await stepOf(alice)).cursor).toBe((await stepOf(teacher)).cursor);

    // a student's browser cannot control the run: the service refuses without the teacher's secret
    const session = (await api(app.serviceUrl, "GET", `/api/sessions/${code}`)).body;
    mainRun = session.runs.main;
    const refused = await bob.evaluate(async (run) => {
      const res = await fetch(`/api/runs/${run}/control`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ action: "resume" }) });
      return { status: res.status, body: await res.json() };
    }, mainRun);
    expect(refused.status).toBe(403);
    const advance = await bob.evaluate(async (code) => {
      const res = await fetch(`/api/sessions/${code}/advance`, { method: "POST", headers: { "content-type": "application/json", "x-kvmscope-token": code }, body: "{}" });
      return res.status;
    }, code);
    expect(advance).toBe(403);
    expect((await stepOf(alice)).index).toBe("3");

    // the teacher carries the role to the projector's PC with a one-use link ...
    await teacher.getByTestId("lead-elsewhere").click();
    const link = (await teacher.getByTestId("lead-link").textContent())!.trim();
    expect(link.startsWith(joinUrls[0]!.replace(/\/join$/, ""))).toBe(true);
    const projector = await track(newPage());
    await projector.goto(link);
    await expect(projector.getByTestId("class-banner")).toContainText("You lead this class", { timeout: 30_000 });
    expect(projector.url()).not.toContain("lead="); // the code leaves the address bar
    // opened through a non-loopback address, the banner sends students to that one
    const projectorOrigin = new URL(link).origin;
    if (ROOM.length > 0) expect(await projector.getByTestId("join-urls").textContent()).toBe(`${projectorOrigin}/join`);
    await projector.getByTestId("next-step").click();
    for (const s of [projector, teacher, alice, bob]) await s.locator('[data-testid="step-panel"][data-step-index="4"]').waitFor({ timeout: 30_000 });
    // ... which a student cannot reuse
    await alice.goto(link.replace(/^http:\/\/[^/]+/, studentUrl));
    await expect(alice.getByTestId("class-banner")).toContainText("You follow this class", { timeout: 30_000 });
    await expect(alice.getByTestId("step-panel").locator('[role="alert"]')).toContainText("no lead code in force", { timeout: 30_000 });
    expect(await alice.getByTestId("class-banner").getAttribute("data-role")).toBe("student");
    // the teacher closes the tab and takes the class back in a new one
    const ctx = teacher.context();
    await teacher.close();
    const back = await ctx.newPage();
    pages.push(back);
    await back.goto(`${teacherUrl}/class/${code}`);
    await expect(back.getByTestId("class-banner")).toContainText("You lead this class", { timeout: 30_000 });
    await back.getByTestId("prev-step").click();
    await bob.locator('[data-testid="step-panel"][data-step-index="3"]').waitFor({ timeout: 15_000 });

    // the teacher's stale sessions are listed for them (only them) to end
    await back.goto(`${teacherUrl}/walkthroughs`);
    await expect(back.getByTestId(`led-${code}`)).toContainText(code, { timeout: 30_000 });
    expect(await bob.context().newPage().then(async (p) => {
      await p.goto(`${studentUrl}/walkthroughs`);
      await p.getByTestId("walkthrough-exit-loop").waitFor();
      return p.getByTestId("led-sessions").count();
    })).toBe(0);
    await back.getByTestId(`end-${code}`).click();
    await back.locator(`[data-testid="led-${code}"][data-status="ended"]`).waitFor({ timeout: 30_000 });
    await expect(bob.getByTestId("class-banner")).toContainText("This session has ended", { timeout: 30_000 });

  }, 300_000);

  it("says clearly when a join code is malformed or unknown", async () => {
    const page = await track(newPage());
    await page.goto(`${app.webUrl}/join`);
    await page.getByTestId("join-input").fill("12");
    await page.getByTestId("join-submit").click();
    await expect(page.getByTestId("join-error")).toContainText("6 letters and digits");
    await page.goto(`${app.webUrl}/class/ZZZZZZ`);
    await expect(page.getByTestId("join-error")).toContainText("No class session");
    // said once, not again in the service's English underneath
    expect((await page.getByTestId("join-error").textContent())!.match(/no class session/gi)?.length).toBe(1);
    await page.context().close();
  });

  it("replays the class's run as a walkthrough from an imported export, without KVM", async () => {
    expect(mainRun).not.toBe("");
    const exported = await (await fetch(`${app.serviceUrl}/api/runs/${mainRun}/export?format=ndjson`)).text();
    const imported = (await fetch(`${app.serviceUrl}/api/import`, { method: "POST", headers: { "content-type": "application/x-ndjson" }, body: exported }).then((r) => r.json())) as { id: string };
    const page = await track(newPage());
    // the picker names the run by guest, time and outcome, and offers it
    await page.goto(`${app.webUrl}/walkthroughs`);
    const option = page.getByTestId("replay-run-exit-loop").locator(`option[value="${imported.id}"]`);
    await expect(option).toContainText("mmio");
    expect(await option.textContent()).not.toContain(imported.id);
    await page.goto(`${app.webUrl}/walkthroughs/exit-loop/replay?run=${imported.id}`);
    await page.locator('[data-testid="step-panel"][data-step-index="0"]').waitFor({ timeout: 20_000 });
    const first = await stepOf(page);
    await page.getByTestId("next-step").click();
    await page.locator('[data-testid="step-panel"][data-step-index="1"]').waitFor();
    const second = await stepOf(page);
    expect(Number(second.cursor)).toBeGreaterThanOrEqual(Number(first.cursor));
    // alone, nobody controls the run for you, a step shows its exit (not rates), and answers are yours to show
    expect(await page.getByTestId("student-note").count()).toBe(0);
    expect(await page.getByTestId("run-view").textContent()).not.toContain("exits/s: showing rates");
    for (let n = 2; n <= QUESTION; n++) await page.getByTestId("next-step").click();
    await page.locator(`[data-testid="step-panel"][data-step-index="${QUESTION}"]`).waitFor();
    await page.getByTestId("show-answer").click();
    await expect(page.getByTestId("step-answer")).toContainText(ANSWER);
    expect(await page.getByTestId("reveal-all").count()).toBe(0);
    await page.context().close();
  }, 120_000);
});
