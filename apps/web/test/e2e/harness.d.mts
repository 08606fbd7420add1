import type { Browser, Page } from "playwright-core";

export const CHROMIUM: string;
export const CHROMIUM_ARGS: string[];
export const ROOT: string;
export const WEB_DIR: string;
export function browserUnavailable(): string | null;
export function freePort(): Promise<number>;
export interface Child {
  url: string;
  stop(): Promise<void>;
}
export function startService(o: { port: number; dataDir: string; args?: string[] }): Promise<Child>;
export function startWeb(o: { port: number; serviceUrl?: string }): Promise<Child>;
export interface App {
  dataDir: string;
  webUrl: string;
  port: number;
  readonly serviceUrl: string;
  browser: Browser;
  stopService(): Promise<void>;
  restartService(): Promise<void>;
  newPage(opts?: { width?: number; height?: number }): Promise<Page>;
  stop(): Promise<void>;
}
export function startApp(o?: { host?: string; serviceArgs?: string[] }): Promise<App>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the service's JSON, as the tests read it
export function api(serviceUrl: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
export function waitForRunEnd(serviceUrl: string, id: string, timeoutMs?: number): Promise<Record<string, unknown>>;
