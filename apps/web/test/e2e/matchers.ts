// Playwright-style assertions on locators for vitest: each polls the page until it holds or the
// timeout passes, as @playwright/test's do (which we do not install: it would want its own browsers).
import { expect } from "vitest";
import type { Locator } from "playwright-core";

const TIMEOUT = 10_000;

async function poll(check: () => Promise<boolean>, timeout: number): Promise<boolean> {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      if (await check()) return true;
    } catch {
      // the element may be re-rendering: try again
    }
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function text(l: Locator): Promise<string> {
  return (await l.first().textContent({ timeout: 1000 })) ?? "";
}

expect.extend({
  async toBeVisible(l: Locator, opts?: { timeout?: number }) {
    const pass = await poll(() => l.first().isVisible(), opts?.timeout ?? TIMEOUT);
    return { pass, message: () => `expected ${l.toString()} to be visible` };
  },
  async toBeHidden(l: Locator, opts?: { timeout?: number }) {
    const pass = await poll(async () => !(await l.first().isVisible()), opts?.timeout ?? TIMEOUT);
    return { pass, message: () => `expected ${l.toString()} to be hidden` };
  },
  async toContainText(l: Locator, expected: string, opts?: { timeout?: number }) {
    let last = "";
    const pass = await poll(async () => (last = await text(l)).includes(expected), opts?.timeout ?? TIMEOUT);
    return { pass, message: () => `expected ${l.toString()} to contain ${JSON.stringify(expected)}, it reads ${JSON.stringify(last.slice(0, 400))}` };
  },
  async toHaveText(l: Locator, expected: string, opts?: { timeout?: number }) {
    let last = "";
    const pass = await poll(async () => (last = (await text(l)).trim()) === expected, opts?.timeout ?? TIMEOUT);
    return { pass, message: () => `expected ${l.toString()} to have text ${JSON.stringify(expected)}, it reads ${JSON.stringify(last)}` };
  },
});

declare module "vitest" {
  interface Assertion<T> {
    toBeVisible(opts?: { timeout?: number }): Promise<void>;
    toBeHidden(opts?: { timeout?: number }): Promise<void>;
    toContainText(text: string, opts?: { timeout?: number }): Promise<void>;
    toHaveText(text: string, opts?: { timeout?: number }): Promise<void>;
  }
}
