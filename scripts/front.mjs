// The web app's front door (`npm start` runs it; so do the browser tests): one HTTP server on the
// address and port people open. `/api/*` and the `/ws` WebSocket upgrade go to the VMM service on
// loopback, everything else to the web app (Next.js) on loopback. The page therefore calls the
// service on its own origin, with relative URLs: whatever address the browser used (127.0.0.1,
// the machine's address on the room's network, localhost), there is no cross-origin request and no
// CORS. `/_kvmscope/addresses` says where students can reach this machine (the class banner).
//
// DNS rebinding: a page from an attacker's name that resolves to this machine would be same-origin
// with us. So every request's Host must be an IP literal that is one of this machine's addresses
// (any 127.x.x.x and ::1 included), `localhost` / `*.localhost`, or a name given with --allow-host;
// any other Host gets 403. And a request to /api or /ws that carries an Origin must come from the
// page's own origin (http://<its Host>): a page of another site can neither call the API nor open a
// WebSocket (which CORS never covers). The service behind stays on loopback and keeps its own checks.
import http from "node:http";
import net from "node:net";
import { networkInterfaces } from "node:os";

/** A loopback port that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** "host:port", "[v6]:port" or "host" -> the host name, lower-cased, without brackets. */
export function hostnameOf(hostHeader) {
  const h = hostHeader.trim().toLowerCase();
  if (h.startsWith("[")) {
    const end = h.indexOf("]");
    return end < 0 ? h : h.slice(1, end);
  }
  const colon = h.lastIndexOf(":");
  // more than one colon and no brackets: a bare IPv6 literal, no port
  if (colon >= 0 && h.indexOf(":") === colon) return h.slice(0, colon);
  return h;
}

function isLoopbackIp(ip) {
  if (net.isIPv4(ip)) return ip.startsWith("127.");
  if (ip === "::1") return true;
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(ip);
  return v4 !== null && v4[1].startsWith("127.");
}

let ipsCache = { at: -Infinity, ips: [] };

/** Every address of this machine's interfaces, at most a second old (a laptop's Wi-Fi address changes). */
function machineIps() {
  const now = Date.now();
  if (now - ipsCache.at < 1000) return ipsCache.ips;
  const out = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) out.push({ address: a.address.toLowerCase(), family: a.family, internal: a.internal });
  }
  ipsCache = { at: now, ips: out };
  return out;
}

/**
 * Whether a request with this Host header is for us: an IP literal of this machine, localhost, or a
 * name the operator allowed (`allowHosts`, lower-case). Anything else may be DNS rebinding.
 */
export function hostAllowed(hostHeader, allowHosts = []) {
  if (typeof hostHeader !== "string" || hostHeader === "") return false;
  const h = hostnameOf(hostHeader);
  if (h === "localhost" || h.endsWith(".localhost")) return true;
  if (allowHosts.includes(h)) return true;
  if (net.isIP(h) === 0) return false;
  if (isLoopbackIp(h)) return true;
  const plain = h.replace(/%.*$/, "");
  return machineIps().some((a) => a.address.replace(/%.*$/, "") === plain);
}

/**
 * The addresses students on the network can open, for a server bound to `bindHost` on `port`:
 * every non-loopback address for 0.0.0.0 (IPv4) or :: (IPv4 and IPv6, link-local left out), the
 * address itself for a concrete non-loopback one, none for loopback (this machine only).
 */
export function reachableUrls(bindHost, port) {
  const any4 = bindHost === "0.0.0.0";
  const any6 = bindHost === "::" || bindHost === "[::]";
  const url = (ip) => `http://${ip.includes(":") ? `[${ip}]` : ip}:${port}`;
  if (!any4 && !any6) {
    const h = hostnameOf(bindHost);
    if (h === "localhost" || (net.isIP(h) !== 0 && isLoopbackIp(h))) return [];
    return [url(h)];
  }
  return machineIps()
    .filter((a) => !a.internal && !isLoopbackIp(a.address))
    .filter((a) => (a.family === "IPv4" || a.family === 4 ? true : any6 && !a.address.startsWith("fe80:")))
    .map((a) => url(a.address));
}

const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"]);

/** The header of a 502 that means "the service behind is down", which the page shows as such. */
export const UNREACHABLE_HEADER = "x-kvmscope-unreachable";

function refuse(res, status, message, extra = {}) {
  const body = JSON.stringify({ error: message });
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body), "cache-control": "no-store", ...extra });
  res.end(body);
}

function refuseUpgrade(socket, status, message) {
  const text = { 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 502: "Bad Gateway" }[status] ?? "Error";
  socket.end(`HTTP/1.1 ${status} ${text}\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(message)}\r\n\r\n${message}`);
}

/** Why this request may not go on (DNS rebinding, another site's page), or null. */
function refusal(req, toService, allowHosts) {
  const host = req.headers.host;
  if (!hostAllowed(host, allowHosts)) {
    return `this kvmscope answers only to this machine's IP addresses, localhost and the names given with --allow-host (got Host: ${host ?? "none"})`;
  }
  const origin = req.headers.origin;
  if (toService && origin !== undefined && origin.toLowerCase() !== `http://${host.toLowerCase()}`) {
    return `pages from ${origin} may not use this kvmscope (only its own pages, from http://${host})`;
  }
  return null;
}

const isServicePath = (url) => url === "/api" || url.startsWith("/api/") || url.startsWith("/api?") || url === "/ws" || url.startsWith("/ws?") || url.startsWith("/ws/");

/**
 * Starts the front on `host`:`port` (0: any free port), in front of the web app at `web` and the
 * service at `service` ({host, port} each, on loopback). Resolves with its url, port and close().
 */
export function startFront({ host, port, web, service, allowHosts = [], log = (m) => process.stderr.write(`${m}\n`) }) {
  const allowed = allowHosts.map((h) => h.toLowerCase());
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  let boundPort = port;

  const server = http.createServer((req, res) => {
    const url = req.url ?? "/";
    const toService = isServicePath(url);
    const why = refusal(req, toService, allowed);
    if (why !== null) return refuse(res, 403, why);
    if (url === "/_kvmscope/addresses") {
      const body = JSON.stringify({ bind: host, port: boundPort, urls: reachableUrls(host, boundPort) });
      res.writeHead(200, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
      return res.end(body);
    }
    const target = toService ? service : web;
    const headers = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k)) headers[k] = v;
    if (toService) {
      // The service sees a loopback request from a non-browser: its Host and origin checks pass,
      // ours above are the ones that count.
      headers.host = `${service.host}:${service.port}`;
      delete headers.origin;
    }
    headers["x-forwarded-host"] = req.headers.host;
    const upstream = http.request({ host: target.host, port: target.port, method: req.method, path: url, headers, agent }, (ures) => {
      const raw = [];
      for (let i = 0; i < ures.rawHeaders.length; i += 2) {
        if (!HOP_BY_HOP.has(ures.rawHeaders[i].toLowerCase())) raw.push(ures.rawHeaders[i], ures.rawHeaders[i + 1]);
      }
      res.writeHead(ures.statusCode ?? 502, ures.statusMessage, raw);
      ures.pipe(res);
      ures.on("error", () => res.destroy());
    });
    upstream.on("error", (err) => {
      if (!res.headersSent) refuse(res, 502, `the ${toService ? "VMM service" : "web app"} does not answer (${err.code ?? err.message})`, { [UNREACHABLE_HEADER]: "1" });
      else res.destroy();
    });
    res.on("close", () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  });

  const tunnels = new Set();
  server.on("upgrade", (req, socket, head) => {
    socket.on("error", () => socket.destroy());
    tunnels.add(socket);
    socket.on("close", () => tunnels.delete(socket));
    const url = req.url ?? "/";
    const why = refusal(req, true, allowed);
    if (why !== null) return refuseUpgrade(socket, 403, why);
    if (!isServicePath(url)) return refuseUpgrade(socket, 404, "WebSockets are served on /ws only");
    const up = net.connect(service.port, service.host, () => {
      let text = `${req.method} ${url} HTTP/1.1\r\n`;
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const k = req.rawHeaders[i].toLowerCase();
        if (k === "host" || k === "origin") continue;
        text += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
      }
      text += `Host: ${service.host}:${service.port}\r\n\r\n`;
      up.write(text);
      if (head.length > 0) up.write(head);
      up.pipe(socket);
      socket.pipe(up);
    });
    up.on("error", () => {
      if (socket.writable && up.bytesRead === 0) refuseUpgrade(socket, 502, "the VMM service does not answer");
      else socket.destroy();
    });
    socket.on("close", () => up.destroy());
    up.on("close", () => socket.destroy());
  });

  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      boundPort = server.address().port;
      server.on("error", (err) => log(`kvmscope front: ${err.message}`));
      const shown = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
      resolve({
        port: boundPort,
        url: `http://${shown}:${boundPort}`,
        close: () =>
          new Promise((r) => {
            server.close(() => r());
            server.closeAllConnections?.();
            for (const s of tunnels) s.destroy();
            agent.destroy();
          }),
      });
    });
  });
}
