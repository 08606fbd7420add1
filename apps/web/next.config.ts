import type { NextConfig } from "next";
import { fileURLToPath } from "node:url";

// Everything is built and served offline: no fonts or images fetched, no telemetry.
const config: NextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  images: { unoptimized: true },
  typedRoutes: false,
  // The monorepo root holds the lockfile; say so rather than let Next guess.
  turbopack: { root: fileURLToPath(new URL("../..", import.meta.url)) },
  outputFileTracingRoot: fileURLToPath(new URL("../..", import.meta.url)),
};

export default config;
