// npm start's front door (scripts/front.mjs): the service and the web app on one origin, and the
// DNS-rebinding and cross-site checks that replace CORS there. Against two small loopback servers
// standing in for the service and the web app: they echo what reached them.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket, WebSocketServer } from "ws";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
interface Front {
  port: number;
  url: string;
  close(): Promise<void>;
}
const front = (await import(pathToFileURL(join(ROOT, "scripts", "front.mjs")).href)) as {
  startFront(o: { host: string; port: number; web: { host: string; port: number }; service: { host: string; port: number }; allowHosts?: string[] }): Promise<Front>;
  hostAllowed(host: string | undefined, allow?: string[]): boolean;
  reachableUrls(bind: string, port: number): string[];
};

function echoServer(name: string): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer((req, res) => {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ name, url: req.url, host: req.headers.host, origin: req.headers.origin ?? null, forwardedHost: req.headers["x-forwarded-host"] ?? null }));
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ server, port: (server.address() as AddressInfo).port })));
}

const nonLoopback = Object.values(networkInterfaces()).flat().filter((a) => a !== undefined && !a.internal && a.family === "IPv4").map((a) => a!.address);

describe("the front door", () => {
  let service: Awaited<ReturnType<typeof echoServer>>;
  let web: Awaited<ReturnType<typeof echoServer>>;
  let wss: WebSocketServer;
  let f: Front;

  beforeAll(async () => {
    service = await echoServer("service");
    web = await echoServer("web");
    wss = new WebSocketServer({ server: service.server });
    wss.on("connection", (ws, req) => ws.send(JSON.stringify({ url: req.url, host: req.headers.host, origin: req.headers.origin ?? null })));
    f = await front.startFront({ host: "0.0.0.0", port: 0, web: { host: "127.0.0.1", port: web.port }, service: { host: "127.0.0.1", port: service.port }, allowHosts: ["kvmscope.lan"] });
  });
  afterAll(async () => {
    await f?.close();
    wss?.close();
    service?.server.close();
    web?.server.close();
  });

  /** A raw request with the Host (and Origin) a browser would send. */
  function get(path: string, host: string, origin?: string): Promise<{ status: number; body: Record<string, unknown> }> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { host };
      if (origin !== undefined) headers.origin = origin;
      http.get({ host: "127.0.0.1", port: f.port, path, headers }, (res) => {
        let text = "";
        res.on("data", (d: Buffer) => (text += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode!, body: JSON.parse(text) as Record<string, unknown> }));
      }).on("error", reject);
    });
  }

  it("sends /api to the service (as a loopback request without Origin) and the rest to the web app", async () => {
    const api = await get("/api/guests", `127.0.0.1:${f.port}`, `http://127.0.0.1:${f.port}`);
    expect(api.status).toBe(200);
    expect(api.body).toMatchObject({ name: "service", url: "/api/guests", host: `127.0.0.1:${service.port}`, origin: null, forwardedHost: `127.0.0.1:${f.port}` });
    const page = await get("/class/ABCDEF", `127.0.0.2:${f.port}`);
    expect(page.body).toMatchObject({ name: "web", url: "/class/ABCDEF", host: `127.0.0.2:${f.port}` });
  });

  it("answers to this machine's addresses, localhost and --allow-host names, and refuses any other Host (DNS rebinding)", async () => {
    for (const host of [`127.0.0.1:${f.port}`, `127.0.0.2:${f.port}`, `localhost:${f.port}`, `[::1]:${f.port}`, `KVMScope.lan:${f.port}`, ...nonLoopback.map((a) => `${a}:${f.port}`)]) {
      expect((await get("/api/guests", host)).status, host).toBe(200);
    }
    for (const host of [`evil.example:${f.port}`, `203.0.113.9:${f.port}`, `127.0.0.1.evil.example:${f.port}`]) {
      const r = await get("/api/guests", host);
      expect(r.status, host).toBe(403);
      expect(String(r.body.error)).toContain("answers only to this machine's IP addresses");
    }
    expect((await get("/", `evil.example:${f.port}`)).status).toBe(403); // pages too
  });

  it("refuses API calls from another site's page (an Origin that is not the page's own)", async () => {
    const r = await get("/api/runs", `127.0.0.1:${f.port}`, "http://evil.example");
    expect(r.status).toBe(403);
    expect(String(r.body.error)).toContain("pages from http://evil.example may not use this kvmscope");
    // the same page seen through another address of the machine is its own origin there
    expect((await get("/api/runs", `127.0.0.2:${f.port}`, `http://127.0.0.2:${f.port}`)).status).toBe(200);
  });

  it("tunnels the /ws upgrade to the service, and refuses one from another site", async () => {
    const opened = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.2:${f.port}/ws?session=ABCDEF`, { origin: `http://127.0.0.2:${f.port}` });
      ws.once("message", (d) => {
        resolve(JSON.parse(d.toString()) as Record<string, unknown>);
        ws.close();
      });
      ws.once("error", reject);
    });
    expect(opened).toEqual({ url: "/ws?session=ABCDEF", host: `127.0.0.1:${service.port}`, origin: null });
    const refused = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${f.port}/ws?run=x`, { origin: "http://evil.example" });
      ws.once("unexpected-response", (_req, res) => resolve(res.statusCode!));
      ws.once("open", () => resolve(101));
      ws.once("error", () => {});
    });
    expect(refused).toBe(403);
  });

  it("lists the addresses students can open, and says the service is down when it is", async () => {
    const a = await get("/_kvmscope/addresses", `127.0.0.1:${f.port}`);
    expect(a.body).toEqual({ bind: "0.0.0.0", port: f.port, urls: nonLoopback.map((ip) => `http://${ip}:${f.port}`) });
    expect(front.reachableUrls("127.0.0.1", 3000)).toEqual([]);
    expect(front.reachableUrls("192.0.2.7", 3000)).toEqual(["http://192.0.2.7:3000"]);
    expect(front.hostAllowed(undefined)).toBe(false);
    expect(front.hostAllowed("")).toBe(false);

    const down = await front.startFront({ host: "127.0.0.1", port: 0, web: { host: "127.0.0.1", port: web.port }, service: { host: "127.0.0.1", port: 1 } });
    try {
      const res = await fetch(`http://127.0.0.1:${down.port}/api/guests`);
      expect(res.status).toBe(502);
      expect(res.headers.get("x-kvmscope-unreachable")).toBe("1");
    } finally {
      await down.close();
    }
  });
});
