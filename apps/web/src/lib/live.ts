// One run's records in the browser: the stored history (binary pages from the records API) and,
// while the run is live, the service's WebSocket (binary record batches as the VMM drains its
// rings, JSON frames for status and answers). Both feed one TraceStore, which drops a record it
// already holds, so history and live stream may overlap freely. When the socket drops (the
// service restarted, the network blinked) it reconnects with backoff and fills the gap from the
// records API; a `skipped` frame (this viewer was too slow) is filled the same way.
import {
  type ControlBody, PROTOCOL_VERSION, type RunInfo, ServerMessage, WsClose,
} from "@kvmscope/shared";
import { type ServiceClient, ServiceError } from "./api";
import type { TraceStore } from "./trace-store";

export type ConnectionState =
  | { kind: "loading" }
  /** Receiving live records. */
  | { kind: "live" }
  /** All records of a run that is no longer live are here. */
  | { kind: "complete" }
  /** The service is unreachable; retrying. */
  | { kind: "retrying"; inMs: number; reason: string }
  /** The run does not exist (or is not a run id). */
  | { kind: "gone"; reason: string };

export interface ConnectionEvents {
  onRun(run: RunInfo): void;
  onState(state: ConnectionState): void;
  /** Records were added to the store. */
  onRecords(): void;
  /** A control or console message was refused. */
  onError?(message: string): void;
}

interface Pending {
  resolve: (run: RunInfo) => void;
  reject: (err: Error) => void;
}

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000];

export class RunConnection {
  private ws: WebSocket | null = null;
  private closed = false;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private filling: Promise<void> = Promise.resolve();
  private run: RunInfo | null = null;

  constructor(
    private readonly client: ServiceClient,
    private readonly runId: string,
    private readonly store: TraceStore,
    private readonly events: ConnectionEvents,
  ) {}

  start(): void {
    void this.connect();
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.ws?.close();
    this.ws = null;
    for (const p of this.pending.values()) p.reject(new Error("the page left this run"));
    this.pending.clear();
  }

  /** Sends a control over the socket (so its answer comes in order with the records); HTTP when there is none. */
  control(body: ControlBody): Promise<RunInfo> {
    const ws = this.ws;
    if (ws === null || ws.readyState !== WebSocket.OPEN) return this.client.control(this.runId, body);
    const id = this.nextId++;
    return new Promise<RunInfo>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ type: "control", id, ...body }));
    });
  }

  /** Types text into the guest's serial port; resolves with the bytes it accepted. */
  typeInto(text: string): Promise<RunInfo> {
    const ws = this.ws;
    if (ws === null || ws.readyState !== WebSocket.OPEN) return Promise.reject(new Error("not connected to the run"));
    const id = this.nextId++;
    return new Promise<RunInfo>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ type: "console", id, data: text }));
    });
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    this.events.onState({ kind: "loading" });
    let run: RunInfo;
    try {
      run = await this.client.getRun(this.runId);
    } catch (err) {
      this.failed(err);
      return;
    }
    if (this.closed) return;
    this.setRun(run);
    if (!run.live) {
      // A stored or imported run: everything is in the records API.
      try {
        await this.fill(0);
        if (this.closed) return;
        this.attempt = 0;
        this.events.onState({ kind: "complete" });
      } catch (err) {
        this.failed(err);
      }
      return;
    }
    this.openSocket();
  }

  private openSocket(): void {
    const ws = new WebSocket(this.client.webSocketUrl(this.runId));
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    let greeted = false;
    ws.onmessage = (ev: MessageEvent<ArrayBuffer | string>) => {
      if (typeof ev.data !== "string") {
        if (this.store.appendBytes(new Uint8Array(ev.data)) > 0 || this.store.full) this.events.onRecords();
        return;
      }
      let msg: ServerMessage;
      try {
        const parsed = ServerMessage.safeParse(JSON.parse(ev.data));
        if (!parsed.success) return; // a frame type from a newer service: nothing this page can show
        msg = parsed.data;
      } catch {
        return;
      }
      switch (msg.type) {
        case "hello":
          greeted = true;
          if (msg.protocol !== PROTOCOL_VERSION) this.events.onError?.(`the service speaks protocol ${msg.protocol}; this page speaks ${PROTOCOL_VERSION}`);
          this.attempt = 0;
          this.setRun(msg.run);
          this.events.onState({ kind: "live" });
          // Everything stored before this socket's first batch (and any gap while we were away).
          void this.queueFill(this.store.firstMissingSeq());
          break;
        case "status":
          this.setRun(msg.run);
          if (!msg.run.live) {
            // The run ended: fill every gap still open (a thinned stream, a failed page), then the
            // socket has nothing more to say.
            void this.queueFill(this.store.firstMissingSeq()).then(() => {
              if (this.closed) return;
              this.events.onState({ kind: "complete" });
              ws.close();
            });
          }
          break;
        case "skipped":
          void this.queueFill(msg.fromSeq, msg.toSeq);
          break;
        case "ack": {
          this.setRun(msg.run);
          const p = typeof msg.id === "number" ? this.pending.get(msg.id) : undefined;
          if (p !== undefined && typeof msg.id === "number") {
            this.pending.delete(msg.id);
            p.resolve(msg.run);
          }
          break;
        }
        case "error": {
          const p = typeof msg.id === "number" ? this.pending.get(msg.id) : undefined;
          if (p !== undefined && typeof msg.id === "number") {
            this.pending.delete(msg.id);
            p.reject(new ServiceError(msg.message, msg.status ?? 400));
          } else this.events.onError?.(msg.message);
          break;
        }
        case "console":
          // The console view is rebuilt from the UART's records (so it follows the replay cursor too).
          break;
      }
    };
    ws.onclose = (ev) => {
      if (this.ws === ws) this.ws = null;
      for (const p of this.pending.values()) p.reject(new Error("the connection to the service closed"));
      this.pending.clear();
      if (this.closed) return;
      if (ev.code === WsClose.UnknownRun) {
        this.events.onState({ kind: "gone", reason: ev.reason || `no run ${this.runId}` });
        return;
      }
      if (greeted && this.run !== null && !this.run.live) return; // it ended; the store is complete
      this.retry(greeted ? "the connection to the service closed" : "the service does not answer");
    };
  }

  /** Fetches stored records from `fromSeq` (to `toSeq`) into the store, one fill at a time. */
  private queueFill(fromSeq: number, toSeq = Infinity): Promise<void> {
    // One retry after a short pause: a page that failed (the service restarting) must not leave a
    // hole that the page then calls complete.
    const attempt = () =>
      this.fill(fromSeq, toSeq).catch(async () => {
        await new Promise((r) => setTimeout(r, 1000));
        return this.fill(Math.max(fromSeq, this.store.firstMissingSeq()), toSeq);
      });
    this.filling = this.filling.then(attempt, attempt).catch((err: unknown) => {
      this.events.onError?.(`could not load stored records: ${(err as Error).message}`);
    });
    return this.filling;
  }

  private async fill(fromSeq: number, toSeq = Infinity): Promise<void> {
    let next: number | null = fromSeq;
    // Past the store's cap pages are still read: the store keeps the few records a reader must see
    // (console output, ioctls, the run's last exits) and counts the rest.
    while (next !== null && next <= toSeq && !this.closed && this.store.count < this.store.hardLimit) {
      // Pages the store already holds are skipped by seq; start past what we have when we can.
      const page: { bytes: Uint8Array; next: number | null } = await this.client.recordPage(this.runId, next);
      if (this.closed) return;
      if (this.store.appendBytes(page.bytes) > 0 || this.store.full) this.events.onRecords();
      next = page.next;
    }
  }

  private setRun(run: RunInfo): void {
    this.run = run;
    this.events.onRun(run);
  }

  private failed(err: unknown): void {
    if (this.closed) return;
    if (err instanceof ServiceError && err.status === 404) {
      this.events.onState({ kind: "gone", reason: err.message });
      return;
    }
    this.retry(err instanceof Error ? err.message : String(err));
  }

  private retry(reason: string): void {
    const inMs = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)]!;
    this.attempt++;
    this.events.onState({ kind: "retrying", inMs, reason });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.connect();
    }, inMs);
  }
}
