// The real thing for browser tests and the web benchmark: `kvmscope serve` (real KVM, a
// throwaway SQLite file) and the web app's production build (`next start`), each a child process
// on a free loopback port, behind the front door `npm start` uses (scripts/front.mjs, in this
// process: the page calls the service on its own origin), and Debian's Chromium driven by playwright-core. Plain JavaScript so
// that the benchmark script (node, no TypeScript loader) and the vitest tests share it.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, startFront } from "../../../../scripts/front.mjs";

const WEB_DIR = fileURLToPath(new URL("../..", import.meta.url));
const ROOT = join(WEB_DIR, "..", "..");
const KVMSCOPE = join(ROOT, "apps", "vmm", "bin", "kvmscope.js");

export const CHROMIUM = process.env.KVMSCOPE_CHROMIUM ?? "/usr/bin/chromium";
export const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
  "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
];

/** Why the browser tests cannot run here, or null when they can. */
export function browserUnavailable() {
  if (!existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM} (apt-get install chromium)`;
  if (!existsSync(join(WEB_DIR, ".next", "BUILD_ID"))) return "the web app is not built (npm run build)";
  return null;
}

export { freePort };

function waitForLine(child, pattern, what, timeoutMs) {
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    const timer = setTimeout(() => reject(new Error(`${what} did not start within ${timeoutMs} ms:\n${out}\n${err}`)), timeoutMs);
    child.stdout.on("data", (d) => {
      out += d.toString();
      const m = pattern.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
    child.stderr.on("data", (d) => {
      err += d.toString();
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code}:\n${out}\n${err}`));
    });
  });
}

function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/** Starts `kvmscope serve` on loopback `port` (`args`: more flags). */
export async function startService({ port, dataDir, args = [] }) {
  const child = spawn(process.execPath, [KVMSCOPE, "serve", "--port", String(port), "--host", "127.0.0.1", "--data", dataDir, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const m = await waitForLine(child, /kvmscope service on (http:\/\/\S+) /, "kvmscope serve", 30_000);
  return { url: m[1], child, stop: () => stopChild(child) };
}

/** Starts the web app's production build on loopback `port`; `serviceUrl` "": the service on the page's origin. */
export async function startWeb({ port, serviceUrl = "" }) {
  const nextBin = createRequire(join(WEB_DIR, "package.json")).resolve("next/dist/bin/next");
  const child = spawn(process.execPath, [nextBin, "start", WEB_DIR, "--port", String(port), "--hostname", "127.0.0.1"], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, KVMSCOPE_SERVICE_URL: serviceUrl, NEXT_TELEMETRY_DISABLED: "1" },
  });
  await waitForLine(child, /Ready|started server|Local:/i, "next start", 60_000);
  return { url: `http://127.0.0.1:${port}`, child, stop: () => stopChild(child) };
}

/**
 * The service, the web app, the front door and a browser; `stop()` ends them all and removes the
 * data. `host`: where the front listens (0.0.0.0: every address; pages still open on 127.0.0.1).
 * `serviceArgs`: more `kvmscope serve` flags.
 */
export async function startApp({ host = "127.0.0.1", serviceArgs = [] } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), "kvmscope-web-"));
  const nextPort = await freePort();
  const servicePort = await freePort();
  let service = await startService({ port: servicePort, dataDir, args: serviceArgs });
  const web = await startWeb({ port: nextPort });
  const front = await startFront({ host, port: 0, web: { host: "127.0.0.1", port: nextPort }, service: { host: "127.0.0.1", port: servicePort } });
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const app = {
    dataDir,
    webUrl: `http://127.0.0.1:${front.port}`,
    /** The front's port: the pages open on http://ANY-ADDRESS:port when it listens on 0.0.0.0. */
    port: front.port,
    get serviceUrl() {
      return service.url;
    },
    browser,
    /** Stops the service (as if it crashed or was restarted) ... */
    stopService: () => service.stop(),
    /** ... and brings it back on the same port with the same data. */
    async restartService() {
      service = await startService({ port: servicePort, dataDir, args: serviceArgs });
    },
    /** A page in a context of its own (its own storage: one person), in English; page errors are logged. */
    async newPage({ width = 1500, height = 1000 } = {}) {
      const ctx = await browser.newContext({ viewport: { width, height }, locale: "en-US" });
      const page = await ctx.newPage();
      page.on("pageerror", (err) => console.warn(`[web] page error: ${err.message}`));
      return page;
    },
    async stop() {
      await browser.close().catch(() => {});
      await front.close();
      await Promise.all([web.stop(), service.stop()]);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return app;
}

/** JSON from the service's API (for setting up a test's runs without clicking). */
export async function api(serviceUrl, method, path, body) {
  const res = await fetch(serviceUrl + path, body === undefined ? { method } : { method, headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text === "" ? null : JSON.parse(text) };
}

/** Polls the service until run `id` is no longer live. */
export async function waitForRunEnd(serviceUrl, id, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await api(serviceUrl, "GET", `/api/runs/${id}`);
    if (body !== null && body.live === false && !["created", "running", "paused"].includes(body.status)) return body;
    if (Date.now() > deadline) throw new Error(`run ${id} still ${body?.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export { ROOT, WEB_DIR };
