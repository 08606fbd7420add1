// The built-in teaching guests: their catalog (guests/catalog.json, what a student reads before
// running one) and their images, assembled from guests/src at install time (guests/build.mjs).
import { readFileSync, existsSync } from "node:fs";
import path from "node:path";
import { GUESTS_DIR } from "./paths.js";

export interface GuestExpectation {
  outcome: "halted" | "shutdown" | "debug-exit" | "timeout";
  status?: number;
  stdout?: string;
  stdin?: string;
}

export interface GuestInfo {
  name: string;
  title: string;
  description: string;
  /**
   * The title and description in Japanese, for the web app's Japanese interface: the same facts
   * as the English text; identifiers (exit reasons, ports, instructions, registers) stay as they are.
   */
  ja?: { title: string; description: string };
  /** The exit reasons this guest is there to show. */
  shows: string[];
  vcpus: number;
  memMiB: number;
  irqchip: "user" | "kernel";
  expect: GuestExpectation;
}


let catalog: GuestInfo[] | undefined;

export function listGuests(): GuestInfo[] {
  catalog ??= JSON.parse(readFileSync(path.join(GUESTS_DIR, "catalog.json"), "utf8")) as GuestInfo[];
  return catalog;
}

export function findGuest(name: string): GuestInfo | undefined {
  return listGuests().find((g) => g.name === name);
}

/** The assembled image of a built-in guest. */
export function guestImagePath(name: string): string {
  return path.join(GUESTS_DIR, "build", `${name}.bin`);
}

export function loadGuestImage(name: string): Uint8Array {
  const path = guestImagePath(name);
  if (!existsSync(path)) throw new Error(`guest image ${path} is missing: run \`npm install\` (or \`npm run build\`) at the repository root to assemble the guests`);
  return readFileSync(path);
}
