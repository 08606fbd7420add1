// Files of our VMM and its KVM binding that the pages point readers to, as paths from the
// repository root (the device models' own files are in devices.ts). test/source-map.test.ts,
// test/ioctl-places.test.ts and test/lifecycle.test.ts check that each named function is still
// defined where these say.
export const VMM_MACHINE = "apps/vmm/src/machine.ts";
export const VMM_THREAD = "apps/vmm/src/vcpu/thread.ts";
export const VMM_RESET = "apps/vmm/src/vcpu/reset.ts";
export const VMM_EXIT_LOOP = "apps/vmm/src/vcpu/exit-loop.ts";
export const VMM_CONTROL = "apps/vmm/src/vcpu/control.ts";
export const VMM_DISPATCH = "apps/vmm/src/vcpu/dispatch.ts";
export const VMM_EXIT_RECORDER = "apps/vmm/src/trace/exit-recorder.ts";
export const VMM_BUS = "apps/vmm/src/devices/bus.ts";
export const KVM_BINDING = "packages/kvm-binding/lib/kvm.ts";
