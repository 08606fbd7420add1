// The compiled addon (src/kvm_binding.cc) and the types of what it exports. Every function returns
// the kernel's result or -errno; ./errors.ts turns a negative result into a KvmError.
import { createRequire } from "node:module";

export interface NativeBinding {
  open(path: string): number;
  close(fd: number): number;
  ioctlInt(fd: number, request: number, arg: number): number;
  ioctlPtr(fd: number, request: number, bytes: Uint8Array): number;
  run(fd: number, stamps: Float64Array): number;
  mapShared(fd: number, length: number): ArrayBuffer | number;
  mapAnonymous(length: number): { buffer: ArrayBuffer; address: bigint } | number;
  unmap(buffer: ArrayBuffer): number;
  pread(fd: number, bytes: Uint8Array, offset: number): number;
  now(): number;
  gettid(): number;
  kick(tid: number): number;
  errnoName(errno: number): string;
  errnoMessage(errno: number): string;
  /** ioctl numbers, capabilities and flags, as <linux/kvm.h> defines them on the build host. */
  constants: Record<string, number>;
  /** sizeof and offsetof for the kernel structs we read and write, computed by the compiler. */
  layout: Record<string, number>;
}

const require = createRequire(import.meta.url);
// dist/native.js -> ../build/Release: node-gyp's output, built by `npm install` (npm run build).
export const native: NativeBinding = require("../build/Release/kvm_binding.node") as NativeBinding;

/** A constant from <linux/kvm.h>; a typo is an error at load time, not a silent 0. */
export function kvmConstant(name: string): number {
  const value = native.constants[name];
  if (value === undefined) throw new Error(`kvm-binding: <linux/kvm.h> constant ${name} is not exported`);
  return value;
}

/** sizeof or offsetof from the compiled layout table (keys like "kvm_regs" or "run.io.port"). */
export function kvmLayout(name: string): number {
  const value = native.layout[name];
  if (value === undefined) throw new Error(`kvm-binding: layout entry ${name} is not exported`);
  return value;
}
