// @kvmscope/shared: what the VMM, the web app and the tests agree on about a trace.
export * from "./record-layout.js";
export * from "./sorted.js";
export * from "./limits.js";
export * from "./messages.js";
export * from "./exit-reasons.js";
export * from "./ioctls.js";
export * from "./errno.js";
export * from "./codec.js";
export * from "./validate.js";
export * from "./ndjson.js";
export * from "./chrome.js";
export * from "./summary.js";
export * from "./chrome-import.js";
export * from "./protocol.js";
export * from "./walkthrough.js";
export * from "./qemu-kvm-014.js";
export * from "./vmm-trace.js";
