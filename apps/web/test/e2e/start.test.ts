// `npm start` as a newcomer runs it: both servers come up behind one origin, the address is
// printed (and, bound to 0.0.0.0, where students join), the page is served and reaches the
// service through its own origin, and Ctrl-C (SIGTERM here) stops both.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { browserUnavailable, freePort, ROOT } from "./harness.mjs";

const notBuilt = browserUnavailable();

describe.skipIf(notBuilt !== null && notBuilt.includes("not built"))("npm start", () => {
  it("serves the web app and the service on one origin, prints where, and stops both on SIGTERM", async () => {
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
      expect(out).toContain(`kvmscope is ready: open http://127.0.0.1:${web} (the VMM service is on http://127.0.0.1:${service}, behind it)`);
      expect(out).toContain("Only this machine can open it; for a class on the room's network: npm start -- --host 0.0.0.0");
      const page = await fetch(`http://127.0.0.1:${web}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).not.toContain(`:${service}`); // the page calls the service on its own origin
      const guests = await fetch(`http://127.0.0.1:${web}/api/guests`, { headers: { origin: `http://127.0.0.1:${web}` } });
      expect(guests.status).toBe(200);
      expect(((await guests.json()) as { guests: unknown[] }).guests.length).toBeGreaterThan(0);
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      await expect(fetch(`http://127.0.0.1:${web}/`)).rejects.toThrow();
      await expect(fetch(`http://127.0.0.1:${service}/api/guests`)).rejects.toThrow();
    } finally {
      child.kill("SIGKILL");
      rmSync(data, { recursive: true, force: true });
    }
  }, 90_000);

  it("with --host 0.0.0.0 answers on every address of the machine and lists where students join", async () => {
    const data = mkdtempSync(join(tmpdir(), "kvmscope-start-"));
    const web = await freePort();
    const service = await freePort();
    const child = spawn(process.execPath, [join(ROOT, "scripts", "start.mjs"), "--host", "0.0.0.0", "--port", String(web), "--service-port", String(service), "--data", data], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    const room = Object.values(networkInterfaces()).flat().filter((a) => a !== undefined && !a.internal && a.family === "IPv4").map((a) => a!.address);
    try {
      for (let i = 0; i < 600 && !out.includes("kvmscope is ready"); i++) await new Promise((r) => setTimeout(r, 100));
      expect(out).toContain(`kvmscope is ready: open http://127.0.0.1:${web}`);
      for (const ip of room) expect(out).toContain(`  http://${ip}:${web}/join`);
      for (const base of [`http://127.0.0.1:${web}`, `http://127.0.0.2:${web}`, ...room.map((ip) => `http://${ip}:${web}`)]) {
        const res = await fetch(`${base}/api/guests`, { headers: { origin: base } });
        expect(res.status, base).toBe(200);
      }
      // the service itself stays on loopback
      for (const ip of room) await expect(fetch(`http://${ip}:${service}/api/guests`)).rejects.toThrow();
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
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
