#!/usr/bin/env node
// `npm run bench:web`: how the web app holds up, measured in Debian's Chromium against the real
// service and real KVM.
//  1. Frames per second on a run page while the fastest guest (pio-loop) streams its exits live,
//     against the same page showing a finished run (the baseline, same browser, same minute).
//  2. The timeline drawing 1,000,000 records (the /bench/timeline page builds them in the browser).
// Prints one JSON object. Needs `npm run build` first (npm install does it).
import { api, browserUnavailable, startApp, waitForRunEnd } from "../test/e2e/harness.mjs";

const why = browserUnavailable();
if (why !== null) {
  console.error(`bench:web: cannot run: ${why}`);
  process.exit(2);
}

const SECONDS = Number(process.env.KVMSCOPE_BENCH_SECONDS ?? 5);

/** rAF callbacks per second over `seconds`, and the longest gap between two frames. */
async function measureFps(page, seconds) {
  return page.evaluate(
    (ms) =>
      new Promise((resolve) => {
        let frames = 0;
        let longest = 0;
        const start = performance.now();
        let last = start;
        const tick = (now) => {
          frames++;
          longest = Math.max(longest, now - last);
          last = now;
          if (now - start < ms) requestAnimationFrame(tick);
          else resolve({ fps: (frames * 1000) / (now - start), longestFrameMs: longest });
        };
        requestAnimationFrame(tick);
      }),
    seconds * 1000,
  );
}

const app = await startApp();
const result = {};
try {
  const ctx = await app.browser.newContext({ viewport: { width: 1500, height: 1000 } });
  const page = await ctx.newPage();

  // Baseline: a finished run's page, nothing streaming.
  const { body: small } = await api(app.serviceUrl, "POST", "/api/runs", { guest: "hello" });
  await waitForRunEnd(app.serviceUrl, small.id);
  await page.goto(`${app.webUrl}/runs/${small.id}`);
  await page.locator('[data-testid="run-view"][data-connection="complete"]').waitFor();
  await page.waitForTimeout(500);
  const idle = await measureFps(page, SECONDS);

  // Streaming: pio-loop, every iteration an exit, as fast as the VMM goes.
  const { body: run } = await api(app.serviceUrl, "POST", "/api/runs", { guest: "pio-loop", timeoutSec: SECONDS + 15 });
  await page.goto(`${app.webUrl}/runs/${run.id}`);
  await page.locator('[data-testid="run-view"][data-connection="live"]').waitFor();
  await page.waitForTimeout(1500);
  const before = Number(await page.getByTestId("run-view").getAttribute("data-records"));
  const t0 = Date.now();
  const live = await measureFps(page, SECONDS);
  const after = Number(await page.getByTestId("run-view").getAttribute("data-records"));
  const recordsPerSec = Math.round(((after - before) * 1000) / (Date.now() - t0));
  await api(app.serviceUrl, "POST", `/api/runs/${run.id}/control`, { action: "stop" });
  await waitForRunEnd(app.serviceUrl, run.id);

  Object.assign(result, {
    idleFps: Math.round(idle.fps * 10) / 10,
    streamingFps: Math.round(live.fps * 10) / 10,
    fpsRatio: Math.round((live.fps / idle.fps) * 1000) / 1000,
    streamingLongestFrameMs: Math.round(live.longestFrameMs),
    recordsPerSecReceived: recordsPerSec,
    recordsHeld: after,
  });

  // The timeline with a million records.
  const bench = await ctx.newPage();
  await bench.goto(`${app.webUrl}/bench/timeline?n=1000000`);
  const text = await bench.getByTestId("bench-result").textContent({ timeout: 180_000 });
  await bench.waitForFunction(() => (window).__kvmscopeBench !== undefined, undefined, { timeout: 180_000 });
  result.timeline = await bench.evaluate(() => (window).__kvmscopeBench);
  if (result.timeline === undefined) result.timeline = text;
} finally {
  await app.stop();
}
console.log(JSON.stringify(result));
