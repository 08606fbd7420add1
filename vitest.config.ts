import { defineConfig } from "vitest/config";

// One runner for every workspace: tests live next to their package in test/.
export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts", "apps/*/test/**/*.test.{ts,tsx}"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // KVM tests start VMs with worker threads; two cores: keep files from fighting over them.
    fileParallelism: false,
    reporters: ["default"],
  },
});
