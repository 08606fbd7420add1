#!/usr/bin/env node
// `npm start`: the VMM service and the web app (its production build), each in its own process,
// started together and stopped together, behind one front door (scripts/front.mjs) on the address
// and port people open: `/api` and `/ws` go to the service, the rest to the web app, both of
// which listen on loopback only. Prints where to open it once everything answers.
//
// Each child runs in a process group of its own (detached): Ctrl-C in the terminal reaches this
// script alone, which then sends each child one SIGTERM. Were they in the terminal's group, the
// service would get the terminal's SIGINT and our SIGTERM at once, and a second signal may end it
// before it has stored the last records of its live runs. The status is not 0 if a child did not
// stop cleanly: killed by a signal, or a status other than the ones it ends with when it has
// handled SIGTERM (the service: 0; Next.js: 143, 128 + SIGTERM, after its own cleanup).
//
//   npm start [-- --port 3000] [--service-port 7070] [--host 127.0.0.1] [--allow-host NAME]... [--data ./data]
//   env: KVMSCOPE_WEB_PORT, KVMSCOPE_PORT, KVMSCOPE_HOST, KVMSCOPE_ALLOW_HOSTS, KVMSCOPE_DATA
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { freePort, reachableUrls, startFront } from "./front.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const webDir = join(root, "apps", "web");

function fail(message) {
  process.stderr.write(`kvmscope start: ${message}\n`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    args: process.argv.slice(2),
    strict: true,
    options: {
      port: { type: "string" },
      "service-port": { type: "string" },
      host: { type: "string" },
      "allow-host": { type: "string", multiple: true },
      "session-idle-seconds": { type: "string" },
      data: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  }));
} catch (e) {
  fail(`${e.message}\nusage: npm start -- [--port 3000] [--service-port 7070] [--host 127.0.0.1] [--allow-host NAME]... [--session-idle-seconds S] [--data DIR]`);
}
if (values.help) {
  process.stdout.write(
    "usage: npm start -- [--port 3000] [--service-port 7070] [--host 127.0.0.1] [--allow-host NAME]... [--session-idle-seconds S] [--data DIR]\n" +
      "  --port          the web app's port (env KVMSCOPE_WEB_PORT, default 3000)\n" +
      "  --service-port  the VMM service's port on 127.0.0.1 (env KVMSCOPE_PORT, default 7070)\n" +
      "  --host          the address the web app listens on (env KVMSCOPE_HOST, default 127.0.0.1: this machine only;\n" +
      "                  0.0.0.0: every address of this machine, for a class on the room's network)\n" +
      "  --allow-host    a host name besides this machine's IP addresses and localhost that the page may be\n" +
      "                  opened by (e.g. kvmscope.lan); repeatable (env KVMSCOPE_ALLOW_HOSTS, comma-separated)\n" +
      "  --session-idle-seconds  a class session nobody leads this long ends (default 1800: 30 minutes)\n" +
      "  --data          where runs are stored (env KVMSCOPE_DATA, default ./data)\n",
  );
  process.exit(0);
}

function port(text, what) {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) fail(`${what} must be a port number from 1 to 65535, got "${text}"`);
  return Number(text);
}
const env = (k) => (process.env[k] === undefined || process.env[k] === "" ? undefined : process.env[k]);
const webPort = port(values.port ?? env("KVMSCOPE_WEB_PORT") ?? "3000", "--port");
const servicePort = port(values["service-port"] ?? env("KVMSCOPE_PORT") ?? "7070", "--service-port");
if (webPort === servicePort) fail(`the web app and the service cannot share port ${webPort}`);
const host = values.host ?? env("KVMSCOPE_HOST") ?? "127.0.0.1";
if (host.trim() === "") fail("--host must not be empty");
const allowHosts = (values["allow-host"] ?? env("KVMSCOPE_ALLOW_HOSTS")?.split(",") ?? []).map((h) => h.trim()).filter((h) => h !== "");
for (const h of allowHosts) if (!/^[a-z0-9.-]+$/i.test(h)) fail(`--allow-host takes a host name such as kvmscope.lan, got "${h}"`);
// The service and the web app listen on loopback only; the front door is what others reach.
const serviceUrl = `http://127.0.0.1:${servicePort}`;

if (!existsSync(join(webDir, ".next", "BUILD_ID"))) fail("the web app is not built: run `npm run build` (npm install does it) first");
const nextBin = createRequire(join(webDir, "package.json")).resolve("next/dist/bin/next");

// The web app's own port, behind the front door.
const nextPort = await freePort();

// The front door first: a port already taken (or an address not of this machine) stops us before
// anything else starts.
let front;
try {
  front = await startFront({ host, port: webPort, web: { host: "127.0.0.1", port: nextPort }, service: { host: "127.0.0.1", port: servicePort }, allowHosts });
} catch (e) {
  const why =
    e.code === "EADDRINUSE" ? `port ${webPort} on ${host} is already in use (choose another with --port)`
    : e.code === "EADDRNOTAVAIL" || e.code === "ENOTFOUND" ? `${host} is not an address of this machine (--host)`
    : e.code === "EACCES" ? `not allowed to listen on port ${webPort} of ${host} (choose a port above 1023 with --port)`
    : e.message;
  fail(why);
}

const children = new Set();
let stopping = false;

function start(name, args, extraEnv, stoppedStatuses = [0]) {
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1", TURBO_TELEMETRY_DISABLED: "1", ...extraEnv },
    stdio: ["ignore", "pipe", "inherit"],
    detached: true,
  });
  children.add(child);
  // Next's banner names its own loopback port ("- Local: http://127.0.0.1:34059"): nobody should
  // open that one (the front door is the address to use), so those lines are left out.
  child.stdout.on("data", (chunk) => {
    const text = String(chunk).split("\n").filter((line) => !/^\s*- (Local|Network):/.test(line)).join("\n");
    if (text !== "") process.stdout.write(text);
  });
  child.on("exit", (code, signal) => {
    children.delete(child);
    if (!stopping) {
      process.stderr.write(`kvmscope start: the ${name} ended (${signal ?? `status ${code}`}); stopping the rest\n`);
      stop(code === 0 ? 1 : code ?? 1);
      return;
    }
    if (signal !== null || !stoppedStatuses.includes(code)) {
      process.stderr.write(`kvmscope start: the ${name} did not stop cleanly (${signal ?? `status ${code}`})\n`);
      if (!process.exitCode) process.exitCode = 1;
    }
    if (children.size === 0) process.exit(process.exitCode ?? 0);
  });
  return child;
}

function stop(status) {
  if (stopping) return;
  stopping = true;
  process.exitCode = status;
  front.close();
  if (children.size === 0) process.exit(status);
  // The service stores the last records of live runs on SIGTERM before it exits.
  for (const c of children) c.kill("SIGTERM");
}

process.on("SIGINT", () => stop(0));
process.on("SIGTERM", () => stop(0));
// The terminal closing no longer reaches the children (their own groups): it stops them through us.
process.on("SIGHUP", () => stop(0));
// If this script ends any other way (an error of its own), it does not leave the children running.
process.on("exit", () => {
  for (const c of children) c.kill("SIGTERM");
});

start("VMM service", [
  join(root, "apps", "vmm", "bin", "kvmscope.js"), "serve", "--port", String(servicePort), "--host", "127.0.0.1",
  ...(values.data !== undefined ? ["--data", values.data] : []),
  // checked by kvmscope serve, which says what is wrong with it
  ...(values["session-idle-seconds"] !== undefined ? ["--session-idle-seconds", values["session-idle-seconds"]] : []),
]);
// KVMSCOPE_SERVICE_URL empty: the page calls the service on its own origin (through the front door).
start("web app", [nextBin, "start", webDir, "--port", String(nextPort), "--hostname", "127.0.0.1"], { KVMSCOPE_SERVICE_URL: "" }, [0, 143]);

async function answers(url) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return res.status < 500;
  } catch {
    return false;
  }
}

// Where this machine opens the page: the front door's own address (loopback for 0.0.0.0 / ::).
const webUrl = front.url;
const deadline = Date.now() + 120_000;
while (!stopping) {
  if ((await answers(`${webUrl}/api/guests`)) && (await answers(webUrl))) {
    const room = reachableUrls(host, webPort);
    const lines = [`kvmscope is ready: open ${webUrl} (the VMM service is on ${serviceUrl}, behind it). Ctrl-C stops both.`];
    if (room.length > 0) lines.push("Students on this machine's networks open:", ...room.map((u) => `  ${u}/join`));
    else if (host === "0.0.0.0" || host === "::") lines.push("This machine has no network address besides loopback: students cannot reach it.");
    else lines.push("Only this machine can open it; for a class on the room's network: npm start -- --host 0.0.0.0");
    process.stdout.write(`\n${lines.join("\n")}\n\n`);
    break;
  }
  if (Date.now() > deadline) {
    process.stderr.write("kvmscope start: the service or the web app did not answer within 2 minutes; stopping\n");
    stop(1);
    break;
  }
  await new Promise((r) => setTimeout(r, 300));
}
