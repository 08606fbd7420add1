// The QEMU command line that runs a kvmscope guest with the same devices at the same places as
// our VMM: the 16550 UART at 0x3f8 (`-serial`), isa-debug-exit at 0xf4, the debug console at 0xe9,
// RAM from 0, the PIC/PIT in userspace or in KVM as `--irqchip` says, and no firmware but the
// `-bios` wrapper (bios-image.ts). What QEMU has and we do not (its PCI host bridge, RTC, i8042,
// …) stays as `-M pc -nodefaults` leaves it; our MMIO teaching device at 0xd0000000 QEMU lacks.
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

export const QEMU_BINARY = "qemu-system-x86_64";

/** Where the QEMU binary is: KVMSCOPE_QEMU, else the PATH; null where there is none. */
export function findQemu(env: NodeJS.ProcessEnv = process.env): string | null {
  const candidates = env.KVMSCOPE_QEMU ? [env.KVMSCOPE_QEMU] : (env.PATH ?? "").split(delimiter).filter(Boolean).map((d) => join(d, QEMU_BINARY));
  for (const path of candidates) {
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  return null;
}

export interface QemuGuestOptions {
  /** The `-bios` file (qemuBiosImage written out). */
  biosPath: string;
  vcpus: number;
  memMiB: number;
  /** `user`: QEMU emulates the PIC, PIT and local APICs itself (kernel-irqchip=off), as our VMM does. */
  irqchip: "user" | "kernel";
  /** Where the debug console's bytes go (port 0xe9); null drops them. */
  debugconPath: string | null;
  /** QEMU's own trace (`-trace` events, `-D` file), for the exits' payloads; null for none. */
  trace: { file: string; events: readonly string[] } | null;
}

/**
 * QEMU's own trace events that complete what strace sees: each exit's reason and the device
 * access it led to (address, size, value, region), with the emitting thread's id.
 */
export const QEMU_TRACE_EVENTS = ["kvm_run_exit", "kvm_vcpu_ioctl", "kvm_vm_ioctl", "memory_region_ops_read", "memory_region_ops_write"] as const;

export function qemuGuestArgs(o: QemuGuestOptions): string[] {
  const args = [
    "-machine", `pc,accel=kvm,kernel-irqchip=${o.irqchip === "user" ? "off" : "on"}`,
    // The default model: `-cpu host` asks for MSRs some nested hosts refuse (kvm-pvm: 0x10a).
    "-cpu", "qemu64",
    "-smp", String(o.vcpus),
    "-m", String(o.memMiB),
    "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
    // Thread names a trace can show: "CPU 0/KVM", "call_rcu", "worker" (/proc/PID/task/TID/comm).
    "-name", "kvmscope,debug-threads=on",
    "-bios", o.biosPath,
    "-serial", "stdio",
    "-device", "isa-debug-exit,iobase=0xf4,iosize=0x01",
  ];
  if (o.debugconPath !== null) args.push("-debugcon", `file:${o.debugconPath}`);
  if (o.trace) {
    args.push("-msg", "timestamp=on", "-D", o.trace.file);
    for (const event of o.trace.events) args.push("-trace", event);
  }
  return args;
}
