// The device models across real threads: a worker_threads Worker (a stand-in vCPU thread) builds
// its own Devices over the same DeviceMemory and runs the real device code, compiled to plain JS
// for it in beforeAll (a Worker cannot load TypeScript the way vitest does).

import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDevices } from "../src/devices/index.js";
import { allocateDeviceMemory } from "../src/devices/device-memory.js";
import type { DeviceHooks } from "../src/devices/shared-state.js";
import { COM1_PORTS, TEACHING_DEVICE_MMIO } from "../src/layout.js";

const srcDir = join(dirname(fileURLToPath(import.meta.url)), "../src");
let outDir = "";
let devicesUrl = "";

beforeAll(() => {
  outDir = mkdtempSync(join(tmpdir(), "kvmscope-devices-"));
  writeFileSync(join(outDir, "package.json"), JSON.stringify({ type: "module" }));
  const files = ["layout.ts", ...readdirSync(join(srcDir, "devices")).filter((f) => f.endsWith(".ts")).map((f) => `devices/${f}`)];
  mkdirSync(join(outDir, "devices"));
  for (const file of files) {
    const { outputText } = ts.transpileModule(readFileSync(join(srcDir, file), "utf8"), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
      fileName: file,
    });
    writeFileSync(join(outDir, file.replace(/\.ts$/, ".js")), outputText);
  }
  devicesUrl = pathToFileURL(join(outDir, "devices/index.js")).href;
});

afterAll(() => {
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

const hooks = (): DeviceHooks => ({ marker() {}, debugExit() {}, now: () => 0 });

/**
 * The stand-in vCPU thread. Waits on a "go" word so both threads start their loops together, then
 * does what a vCPU's exit handlers would: MMIO and port writes, COUNTER reads, an IRQ. The "lock"
 * task instead runs a deliberately slow read-modify-write under the devices' lock.
 */
const WORKER = `
const { workerData, parentPort } = require("node:worker_threads");
import(workerData.devicesUrl).then(({ createDevices }) => {
  const { memory, go, reads, task, cell } = workerData;
  const d = createDevices(memory, { marker() {}, debugExit() {}, now: () => 0 }, { userIrqchip: true });
  parentPort.postMessage("ready");
  Atomics.wait(go, 0, 0);
  if (task === "lock") {
    for (let i = 0; i < reads; i++) d.lock.withLock(() => { const v = cell[0]; for (let k = 0; k < 20; k++) cell[1] += k; cell[0] = v + 1; });
  } else {
    const u32 = (v) => new Uint8Array(Uint32Array.of(v).buffer);
    d.mmio.write(${TEACHING_DEVICE_MMIO.base + 4}, u32(0xcafef00d));
    for (const byte of new TextEncoder().encode("hello from the vCPU thread\\n")) d.pio.write(${COM1_PORTS.base}, Uint8Array.of(byte));
    const data = new Uint8Array(4);
    for (let i = 0; i < reads; i++) d.mmio.read(${TEACHING_DEVICE_MMIO.base + 8}, data);
    d.pic.setIrq(0, 1);
    d.pic.setIrq(0, 0);
  }
  parentPort.postMessage("done");
});
`;

function startWorker(
  memory: object,
  go: Int32Array,
  reads: number,
  task: "devices" | "lock" = "devices",
  cell: Int32Array | null = null,
): { worker: Worker; message: (text: string) => Promise<void> } {
  const worker = new Worker(WORKER, { eval: true, workerData: { devicesUrl, memory, go, reads, task, cell } });
  const seen: string[] = [];
  const waiters: { text: string; resolve: () => void }[] = [];
  worker.on("message", (text: string) => {
    seen.push(text);
    for (const w of waiters.filter((w) => w.text === text)) w.resolve();
  });
  const failed = new Promise<never>((_, reject) => {
    worker.on("error", reject);
    worker.on("exit", (code) => code !== 0 && reject(new Error(`worker exited with ${code}`)));
  });
  const message = (text: string): Promise<void> =>
    Promise.race([failed, seen.includes(text) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ text, resolve }))]);
  return { worker, message };
}

describe("devices across worker threads", () => {
  it("shares registers, the UART ring, the lock and the PIC's pending word with a real Worker", async () => {
    const memory = allocateDeviceMemory();
    const main = createDevices(memory, hooks(), { userIrqchip: true });
    // Program the PICs from the main thread, as a guest on another vCPU would have.
    for (const [port, value] of [[0x20, 0x11], [0x21, 0x20], [0x21, 0x04], [0x21, 0x01], [0xa0, 0x11], [0xa1, 0x28], [0xa1, 0x02], [0xa1, 0x01]] as const) {
      main.pio.write(port, Uint8Array.of(value));
    }
    const { array, index } = main.pic.pendingWord();
    const seenBefore = Atomics.load(array, index);

    const reads = 1_000_000; // enough for the loops to run JIT-compiled and overlap: without the lock, increments are lost
    const go = new Int32Array(new SharedArrayBuffer(4));
    const { worker, message } = startWorker(memory, go, reads);
    try {
      await message("ready");
      Atomics.store(go, 0, 1);
      Atomics.notify(go, 0);
      // Both threads hammer COUNTER at once: every increment must survive the contention.
      const data = new Uint8Array(4);
      for (let i = 0; i < reads; i++) main.mmio.read(TEACHING_DEVICE_MMIO.base + 8, data);
      // The halted-vCPU protocol: sleep on the pending word until the worker's IRQ0 raises INTR.
      const woke = Atomics.wait(array, index, seenBefore, 10_000);
      expect(woke === "ok" || woke === "not-equal").toBe(true);
      await message("done");
    } finally {
      await worker.terminate();
    }

    expect(main.pic.hasPendingInterrupt()).toBe(true);
    expect(main.pic.acknowledge()).toBe(0x20);
    const data = new Uint8Array(4);
    main.mmio.read(TEACHING_DEVICE_MMIO.base + 4, data);
    expect(new Uint32Array(data.buffer)[0]).toBe(0xcafef00d);
    main.mmio.read(TEACHING_DEVICE_MMIO.base + 8, data);
    expect(new Uint32Array(data.buffer)[0]).toBe(2 * reads + 1);
    expect(new TextDecoder().decode(main.uart.drainOutput())).toBe("hello from the vCPU thread\n");
  });

  it("keeps a slow read-modify-write whole when two threads take the device lock at once", async () => {
    const memory = allocateDeviceMemory();
    const main = createDevices(memory, hooks(), { userIrqchip: true });
    // Plain (non-atomic) accesses: only the lock keeps the two threads' increments from colliding.
    const cell = new Int32Array(new SharedArrayBuffer(8));
    const rounds = 200_000;
    const go = new Int32Array(new SharedArrayBuffer(4));
    const { worker, message } = startWorker(memory, go, rounds, "lock", cell);
    try {
      await message("ready");
      Atomics.store(go, 0, 1);
      Atomics.notify(go, 0);
      for (let i = 0; i < rounds; i++) {
        main.lock.withLock(() => {
          const v = cell[0]!;
          for (let k = 0; k < 20; k++) cell[1] = cell[1]! + k;
          cell[0] = v + 1;
        });
      }
      await message("done");
    } finally {
      await worker.terminate();
    }
    expect(cell[0]).toBe(2 * rounds);
  });
});
