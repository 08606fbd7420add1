// A class session as one browser sees it: the session socket (`/ws?session=CODE`) delivers the
// teacher's step, the steps reached and the answers revealed, to the teacher and every student
// alike; it reconnects on its own when the service comes back. Whether this browser is the
// teacher is a secret it holds (the token, kept in this browser's storage), never the join code.
import { SessionServerMessage, type SessionInfo, WsClose } from "@kvmscope/shared";
import type { ServiceClient } from "./api";
import { readStoredChoice, storeChoice } from "./stored-choice";

const BACKOFF_MS = [500, 1000, 2000, 4000];
const TOKEN_KEY = (code: string) => `kvmscope.teacher.${code}`;
/** The join codes of the sessions this browser leads (or led), newest first. */
const LED_KEY = "kvmscope.teacher.sessions";

export function saveTeacherToken(code: string, token: string): void {
  // Without storage the teacher stays teacher until the page is reloaded.
  storeChoice(TOKEN_KEY(code), token);
  storeChoice(LED_KEY, JSON.stringify([code, ...ledSessions().filter((c) => c !== code)].slice(0, 20)));
}

/** The sessions this browser holds the teacher's secret of, newest first. */
export function ledSessions(): string[] {
  try {
    const list: unknown = JSON.parse(readStoredChoice(LED_KEY) ?? "[]");
    return Array.isArray(list) ? list.filter((c): c is string => typeof c === "string" && teacherToken(c) !== null) : [];
  } catch {
    return [];
  }
}

/** Forgets a session this browser led (it has ended). */
export function forgetLedSession(code: string): void {
  storeChoice(LED_KEY, JSON.stringify(ledSessions().filter((c) => c !== code)));
}

/** Loopback names: a join link with one of these reaches only this machine. */
export function isLoopbackHostname(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, "");
  return h === "localhost" || h.endsWith(".localhost") || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

export function teacherToken(code: string): string | null {
  return readStoredChoice(TOKEN_KEY(code));
}

/** `gone.unknown`: the service knows no session with this code (the reason then says only that). */
export type SessionState = { kind: "connecting" } | { kind: "open" } | { kind: "retrying"; reason: string } | { kind: "gone"; reason: string; unknown: boolean };

export class SessionConnection {
  private ws: WebSocket | null = null;
  private closed = false;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly client: ServiceClient,
    private readonly code: string,
    private readonly onSession: (s: SessionInfo) => void,
    private readonly onState: (s: SessionState) => void,
  ) {}

  start(): void {
    this.connect();
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.ws?.close();
  }

  private connect(): void {
    if (this.closed) return;
    this.onState({ kind: "connecting" });
    const ws = new WebSocket(this.client.sessionSocketUrl(this.code));
    this.ws = ws;
    let greeted = false;
    ws.onmessage = (ev: MessageEvent) => {
      if (typeof ev.data !== "string") return;
      let parsed;
      try {
        parsed = SessionServerMessage.safeParse(JSON.parse(ev.data));
      } catch {
        return;
      }
      if (!parsed.success) return;
      const msg = parsed.data;
      if (msg.type === "session") {
        greeted = true;
        this.attempt = 0;
        this.onState({ kind: "open" });
        this.onSession(msg.session);
      }
    };
    ws.onclose = (ev) => {
      if (this.closed) return;
      if (ev.code >= 4400 && ev.code < 4500) {
        this.onState({ kind: "gone", reason: ev.reason || `no class session ${this.code}`, unknown: ev.code === WsClose.UnknownSession });
        return;
      }
      const inMs = BACKOFF_MS[Math.min(this.attempt++, BACKOFF_MS.length - 1)]!;
      this.onState({ kind: "retrying", reason: greeted ? "the connection to the service closed" : "the service does not answer" });
      this.timer = setTimeout(() => this.connect(), inMs);
    };
  }
}
