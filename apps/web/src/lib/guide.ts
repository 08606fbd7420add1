// What a walkthrough step asks the run page to emphasise, in the ids each panel understands.
// Walkthrough files name thread-model parts ("vcpu0", "kvm", "dev:uart") and lifecycle steps by
// ioctl or event ("lifecycle:KVM_CREATE_VCPU", "lifecycle:system-ready"); the lifecycle panel
// names its steps by id ("create-vcpu-0", "release").
const LIFECYCLE_IDS: Readonly<Record<string, (vcpus: number) => string[]>> = {
  open: () => ["open"],
  KVM_GET_API_VERSION: () => ["api-version"],
  KVM_CREATE_VM: () => ["create-vm"],
  KVM_CREATE_IRQCHIP: () => ["create-irqchip"],
  KVM_CREATE_PIT2: () => ["create-pit2"],
  KVM_SET_USER_MEMORY_REGION: () => ["set-memory"],
  KVM_CREATE_VCPU: (n) => perVcpu("create-vcpu", n),
  KVM_RUN: (n) => perVcpu("run", n),
  // KVM_INTERRUPT is issued inside the exit loop; the lifecycle counts it there.
  KVM_INTERRUPT: () => ["exit-loop"],
  "system-ready": () => ["release"],
  "first-run": (n) => perVcpu("run", n),
  "exit-loop": () => ["exit-loop"],
  end: () => ["end"],
};

function perVcpu(prefix: string, n: number): string[] {
  return Array.from({ length: Math.max(1, n) }, (_, i) => `${prefix}-${i}`);
}

/** The thread-model part ids of a step's highlight list (lifecycle entries left out). */
export function threadModelHighlight(highlight: readonly string[]): string[] {
  return highlight.filter((h) => !h.startsWith("lifecycle:"));
}

/** The lifecycle step ids a step's highlight list names, for a run of `vcpus` vCPUs. */
export function lifecycleHighlight(highlight: readonly string[], vcpus: number): string[] {
  const out: string[] = [];
  for (const h of highlight) {
    if (!h.startsWith("lifecycle:")) continue;
    const name = h.slice("lifecycle:".length);
    out.push(...(LIFECYCLE_IDS[name]?.(vcpus) ?? [name]));
  }
  return out;
}
