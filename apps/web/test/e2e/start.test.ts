// `npm start` as a newcomer runs it: both servers come up, the address is printed, the page is
// served and talks to the service, and Ctrl-C (SIGTERM here) stops both.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { browserUnavailable, freePort, ROOT } from "./harness.mjs";

const notBuilt = browserUnavailable();

describe.skipIf(notBuilt !== null && notBuilt.includes("not built"))("npm start", () => {
  it("serves the web app and the service together, prints where, and stops both on SIGTERM", async () => {
    const data = mkdtempSync(join(tmpdir(), "kvmscope-start-"));
    const web = await freePort();
    const service = await freePort();
    const child = spawn(process.execPath, [join(ROOT, "scripts", "start.mjs"), "--port", String(web), "--service-port", String(service), "--data", data], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    try {
      for (let i = 0; i < 600 && !out.includes("kvmscope is ready"); i++) await new Promise((r) => setTimeout(r, 100));
      expect(out).toContain(`kvmscope is ready: open http://127.0.0.1:${web} (the VMM service is on http://127.0.0.1:${service})`);
      const page = await fetch(`http://127.0.0.1:${web}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain(`http://127.0.0.1:${service}`); // the page knows where the service is
      const pre = await fetch(`http://127.0.0.1:${service}/api/guests`, { method: "OPTIONS", headers: { origin: `http://127.0.0.1:${web}` } });
      expect(pre.status).toBe(204); // and the service admits the page's origin
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      await expect(fetch(`http://127.0.0.1:${web}/`)).rejects.toThrow();
      await expect(fetch(`http://127.0.0.1:${service}/api/guests`)).rejects.toThrow();
    } finally {
      child.kill("SIGKILL");
      rmSync(data, { recursive: true, force: true });
    }
  }, 90_000);

  it("refuses bad ports before starting anything", async () => {
    const child = spawn(process.execPath, [join(ROOT, "scripts", "start.mjs"), "--port", "http"], { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
    expect(code).toBe(2);
    expect(err).toContain('--port must be a port number from 1 to 65535, got "http"');
  });
});
