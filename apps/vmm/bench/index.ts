// The benchmarks, apart from the VMM they measure: `kvmscope bench`, `bench-service`,
// `bench-class` and `bench-store` load this module (the package's "./bench" export, built to
// dist-bench/) on demand. They use the VMM only through @kvmscope/vmm, as any program would.
export { measure, rawExitsPerSec, runBench, vmmExitsPerSec } from "./bench.js";
export { runServiceBench } from "./bench-service.js";
export { runClassBench } from "./bench-class.js";
export { runStoreBench } from "./store-bench.js";
