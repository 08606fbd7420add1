import { defineConfig } from "vitest/config";

// One runner for every workspace (tests live next to their package in test/), in three projects
// that run one after another (sequence.groupOrder):
// - unit: pure code (no /dev/kvm, no child processes, no servers): files in parallel;
// - kvm: tests that start VMs, services or child processes: one file at a time, since VMs with a
//   thread per vCPU on two cores would fight over them;
// - browser: Chromium against the real service and web app, one file at a time, last.
// `npx vitest run --project unit` runs one of them. A new test file is a kvm test unless it is
// listed under UNIT (or is a web unit test): being listed wrongly costs speed, never correctness.
const UNIT = [
  "packages/shared/test/**/*.test.ts",
  "apps/web/test/*.test.{ts,tsx}",
  ...["devices", "devices-interrupts", "dispatch", "ring", "store-writers", "core-boundary", "errors"].map((f) => `apps/vmm/test/${f}.test.ts`),
];
const BROWSER = ["apps/web/test/e2e/**/*.test.ts"];
const ALL = ["packages/*/test/**/*.test.ts", "apps/*/test/**/*.test.{ts,tsx}"];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ["default"],
    projects: [
      { extends: true, test: { name: "unit", include: UNIT, fileParallelism: true, isolate: false, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: "kvm", include: ALL, exclude: [...UNIT, ...BROWSER], fileParallelism: false, sequence: { groupOrder: 1 } } },
      { extends: true, test: { name: "browser", include: BROWSER, fileParallelism: false, sequence: { groupOrder: 2 } } },
    ],
  },
});
