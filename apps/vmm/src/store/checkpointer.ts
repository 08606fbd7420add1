// WAL checkpoints on a worker thread. SQLite's automatic checkpoint runs inside the commit that
// crosses 1000 WAL pages (4 MiB), on the thread that commits, and fsyncs the database file:
// measured here, a 60 KB commit takes 0.2 ms, and 40 ms when it is the one that checkpoints. The
// service commits on its main thread (which also drains the vCPUs' trace rings and serves HTTP),
// so the store turns automatic checkpoints off and asks this worker, after each append, to copy
// the WAL back into the database with its own connection (PASSIVE: it never waits for, nor holds
// up, the writer or the readers).
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

// Plain CommonJS, evaluated in the worker: the worker needs no file of its own, so it runs the
// same from src/ (tests) and dist/.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.file, { timeout: 10000 });
parentPort.on("message", (m) => {
  if (m === "close") {
    db.close();
    parentPort.close();
    return;
  }
  let error = null;
  try {
    db.pragma("wal_checkpoint(PASSIVE)");
  } catch (err) {
    error = String(err && err.message || err);
  }
  parentPort.postMessage({ error });
});
`;

export class Checkpointer {
  readonly #worker: Worker;
  readonly #exited: Promise<void>;
  #busy = false;
  #again = false;
  #dead = false;

  /** @param onDead called once if the worker cannot checkpoint (the caller turns automatic checkpoints back on). */
  constructor(file: string, onDead: (why: string) => void) {
    const driver = createRequire(import.meta.url).resolve("better-sqlite3");
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, driver }, name: "kvmscope store checkpointer" });
    this.#worker.unref();
    const die = (why: string): void => {
      if (this.#dead) return;
      this.#dead = true;
      onDead(why);
    };
    this.#exited = new Promise((resolve) => this.#worker.once("exit", () => resolve()));
    this.#worker.on("error", (err) => die(err.message));
    this.#worker.on("exit", () => die("the checkpoint worker exited"));
    this.#worker.on("message", (m: { error: string | null }) => {
      if (m.error !== null) return die(m.error);
      this.#busy = false;
      if (this.#again) {
        this.#again = false;
        this.request();
      }
    });
  }

  /** Asks for a checkpoint; requests made while one runs become one more, after it. */
  request(): void {
    if (this.#dead) return;
    if (this.#busy) {
      this.#again = true;
      return;
    }
    this.#busy = true;
    this.#worker.postMessage("checkpoint");
  }

  /** Lets a running checkpoint finish, closes the worker's connection, and waits for it to exit. */
  async close(): Promise<void> {
    this.#dead = true;
    // Unref'd, the worker would not keep the event loop alive while we wait for it: a process
    // whose last task is closing the store would end mid-await (exit code 13 at top level).
    this.#worker.ref();
    this.#worker.postMessage("close");
    await this.#exited;
  }
}
