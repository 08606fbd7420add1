// What qemu-kvm 0.14 really ran: the functions this project cites, with the lines where they are
// in the 0.14.1 sources, written from reading those sources (not from the article).
//
// Read in: TritonDataCenter/illumos-kvm-cmd at 68396ea9c0fe4f75ce30b1eba2c44c43c13344bb, "Initial
// commit of d32e8d0b8d9e… from qemu-kvm" (its VERSION file says 0.14.1). Issue 12 reports that its
// qemu-kvm.c, kvm-all.c, cpus.c, qemu-kvm-x86.c, target-i386/kvm.c and exec.c are byte-identical to
// ceph/qemu-kvm 080b695d7; hw/pc.c, target-i386/helper.c, vl.c, ioport.c and hw/serial.c were read
// in illumos-kvm-cmd only. Every entry below was read there (`read: "illumos-kvm-cmd@68396ea"`).
//
// The article the project grew from prints listings whose numbers agree with 0.14.1 up to
// kvm_init_vcpu (qemu-kvm.c 1470-1479) but are 76 lines later for kvm_main_loop_cpu and
// ap_main_loop; ARTICLE_VS_014 lists both. Its kvm_cpu_exec (kvm-all.c 912-1025) is real text of
// kvm-all.c, but inside #ifdef OBSOLETE_KVM_IMPL, which nothing defines: qemu-kvm 0.14 compiled
// qemu-kvm.c's own kvm_cpu_exec (kvm-all.c ends with #include "qemu-kvm.c").
// test/qemu-kvm-014.test.ts checks every qemu-kvm file:line the project cites against this table.

/** Where every entry was read. */
export const QEMU_KVM_014_SOURCE = {
  repo: "TritonDataCenter/illumos-kvm-cmd",
  commit: "68396ea9c0fe4f75ce30b1eba2c44c43c13344bb",
  version: "0.14.1",
  sameAs: "ceph/qemu-kvm 080b695d7 (qemu-kvm.c, kvm-all.c, cpus.c, qemu-kvm-x86.c, target-i386/kvm.c, exec.c)",
} as const;

/** A function of the qemu-kvm 0.14.1 tree: its definition's lines and the lines inside it that a step points at. */
export interface Qemu014Function {
  file: string;
  fn: string;
  /** The definition: the line of its name to the line of its closing brace. */
  from: number;
  to: number;
  /** Set when the preprocessor removes it: the condition that is never true. */
  compiledOut?: string;
  /** Lines inside the function worth pointing at, by what they show. */
  at?: Readonly<Record<string, number>>;
  read: "illumos-kvm-cmd@68396ea";
}

const R = "illumos-kvm-cmd@68396ea" as const;

export const QEMU_KVM_014: readonly Qemu014Function[] = [
  // qemu-kvm.c
  { file: "qemu-kvm.c", fn: "kvm_init", from: 149, to: 216, at: { 'open("/dev/kvm")': 155, KVM_GET_API_VERSION: 160, "lock qemu_mutex": 210, kvm_create_context: 211 }, read: R },
  { file: "qemu-kvm.c", fn: "kvm_create_vcpu", from: 247, to: 293, at: { KVM_CREATE_VCPU: 253, KVM_GET_VCPU_MMAP_SIZE: 263, "mmap kvm_run": 268, kvm_arch_init_vcpu: 282 }, read: R },
  { file: "qemu-kvm.c", fn: "kvm_create_vm", from: 308, to: 323, at: { KVM_CREATE_VM: 316 }, read: R },
  { file: "qemu-kvm.c", fn: "handle_mmio", from: 499, to: 512, at: { cpu_physical_memory_rw: 510 }, read: R },
  { file: "qemu-kvm.c", fn: "post_kvm_run", from: 535, to: 540, at: { "lock qemu_mutex": 537 }, read: R },
  { file: "qemu-kvm.c", fn: "pre_kvm_run", from: 542, to: 548, at: { kvm_arch_pre_run: 544, "unlock qemu_mutex": 546 }, read: R },
  {
    file: "qemu-kvm.c", fn: "kvm_run", from: 555, to: 664,
    at: {
      "again:": 562, "request_interrupt_window = kvm_arch_try_push_interrupts": 570, pre_kvm_run: 574, "KVM_RUN": 582, post_kvm_run: 591,
      "switch (run->exit_reason)": 602, "KVM_EXIT_IO: kvm_handle_io": 617, "KVM_EXIT_MMIO: handle_mmio": 628, "KVM_EXIT_HLT: kvm_arch_halt": 631,
      "KVM_EXIT_IRQ_WINDOW_OPEN": 633, "KVM_EXIT_SHUTDOWN: handle_shutdown": 636, "KVM_EXIT_INTERNAL_ERROR": 646, "if (!r) goto again": 660,
    },
    read: R,
  },
  { file: "qemu-kvm.c", fn: "kvm_inject_irq", from: 666, to: 672, at: { KVM_INTERRUPT: 671 }, read: R },
  { file: "qemu-kvm.c", fn: "kvm_update_interrupt_request", from: 1204, to: 1227, at: { "pthread_kill(SIG_IPI)": 1223 }, read: R },
  { file: "qemu-kvm.c", fn: "kvm_cpu_exec", from: 1229, to: 1240, at: { kvm_run: 1233 }, read: R },
  { file: "qemu-kvm.c", fn: "kvm_main_loop_wait", from: 1264, to: 1317, at: { "unlock qemu_mutex": 1279, sigtimedwait: 1281, "lock qemu_mutex": 1284 }, read: R },
  { file: "qemu-kvm.c", fn: "process_irqchip_events", from: 1403, to: 1408, at: { kvm_arch_process_irqchip_events: 1405, "env->halted = 0": 1407 }, read: R },
  { file: "qemu-kvm.c", fn: "kvm_main_loop_cpu", from: 1410, to: 1427, at: { process_irqchip_events: 1415, "run_cpu = !env->halted": 1416, kvm_cpu_exec: 1419, "kvm_main_loop_wait(env, 0)": 1420, "kvm_main_loop_wait(env, 1000)": 1422 }, read: R },
  {
    file: "qemu-kvm.c", fn: "ap_main_loop", from: 1429, to: 1468,
    at: { "lock qemu_mutex": 1448, kvm_create_vcpu: 1451, "created = 1": 1455, "signal qemu_vcpu_cond": 1456, "while (!qemu_system_ready)": 1459, "qemu_cond_wait(&qemu_system_cond)": 1460, kvm_main_loop_cpu: 1466 },
    read: R,
  },
  { file: "qemu-kvm.c", fn: "kvm_init_vcpu", from: 1470, to: 1479, at: { "pthread_create(ap_main_loop)": 1472, "while (env->created == 0)": 1474 }, read: R },
  { file: "qemu-kvm.c", fn: "kvm_main_loop", from: 1558, to: 1614, at: { "qemu_system_ready = 1": 1564, "broadcast qemu_system_cond": 1583, main_loop_wait: 1589 }, read: R },
  { file: "qemu-kvm.c", fn: "kvm_create_context", from: 1625, to: 1711, read: R },
  // kvm-all.c
  { file: "kvm-all.c", fn: "kvm_handle_io", from: 796, to: 833, at: { cpu_outb: 818 }, read: R },
  {
    file: "kvm-all.c", fn: "kvm_cpu_exec", from: 912, to: 1025, compiledOut: "OBSOLETE_KVM_IMPL (#ifdef at 881, #endif at 1027)",
    at: { KVM_RUN: 941, "switch (run->exit_reason)": 961, kvm_handle_io: 964, cpu_physical_memory_rw: 972, KVM_EXIT_IRQ_WINDOW_OPEN: 978, "while (ret > 0)": 1012 },
    read: R,
  },
  // cpus.c (the !CONFIG_IOTHREAD half, which qemu-kvm 0.14 builds)
  { file: "cpus.c", fn: "qemu_init_vcpu", from: 265, to: 274, at: { kvm_init_vcpu: 272 }, read: R },
  // hw/pc.c
  { file: "hw/pc.c", fn: "pc_cpu_reset", from: 908, to: 914, at: { "halted = !cpu_is_bsp(env)": 913 }, read: R },
  { file: "hw/pc.c", fn: "pc_new_cpu", from: 916, to: 940, at: { cpu_init: 928 }, read: R },
  { file: "hw/pc.c", fn: "pc_cpus_init", from: 942, to: 950, at: { pc_new_cpu: 948 }, read: R },
  // target-i386/helper.c (cpu_init is cpu_x86_init on x86)
  { file: "target-i386/helper.c", fn: "cpu_x86_init", from: 1203, to: 1230, at: { qemu_init_vcpu: 1227 }, read: R },
  // exec.c, ioport.c, hw/serial.c
  { file: "exec.c", fn: "cpu_physical_memory_rw", from: 3636, to: 3736, read: R },
  { file: "ioport.c", fn: "cpu_outb", from: 260, to: 265, read: R },
  { file: "hw/serial.c", fn: "serial_ioport_write", from: 365, to: 509, read: R },
  // qemu-kvm-x86.c (included by target-i386/kvm.c)
  { file: "qemu-kvm-x86.c", fn: "kvm_create_pit", from: 105, to: 125, at: { KVM_CREATE_PIT: 114 }, read: R },
  { file: "qemu-kvm-x86.c", fn: "kvm_arch_halt", from: 650, to: 659, at: { "env->halted = 1": 656 }, read: R },
  { file: "qemu-kvm-x86.c", fn: "kvm_arch_pre_run", from: 661, to: 667, at: { kvm_set_cr8: 664 }, read: R },
  { file: "qemu-kvm-x86.c", fn: "kvm_arch_try_push_interrupts", from: 679, to: 698, at: { kvm_inject_irq: 690 }, read: R },
  { file: "qemu-kvm-x86.c", fn: "kvm_arch_process_irqchip_events", from: 804, to: 814, at: { do_cpu_init: 808, do_cpu_sipi: 812 }, read: R },
  // target-i386/kvm.c: upstream's interrupt injection, compiled out like kvm-all.c's kvm_cpu_exec
  { file: "target-i386/kvm.c", fn: "kvm_arch_pre_run", from: 1457, to: 1497, compiledOut: "OBSOLETE_KVM_IMPL (#ifdef at 1367, #endif at 1498)", read: R },
  // vl.c
  { file: "vl.c", fn: "main_loop", from: 1424, to: 1480, at: { kvm_main_loop: 1429 }, read: R },
];

/** Lines outside any function that the project cites. */
export const QEMU_KVM_014_LINES: readonly { file: string; line: number; shows: string }[] = [
  { file: "qemu-kvm.c", line: 53, shows: "int kvm_irqchip = 1;" },
  { file: "vl.c", line: 2582, shows: "-no-kvm-irqchip: kvm_irqchip = 0;" },
  { file: "kvm-all.c", line: 881, shows: "#ifdef OBSOLETE_KVM_IMPL" },
  { file: "kvm-all.c", line: 1415, shows: '#include "qemu-kvm.c"' },
];

/** Where the article's listing and the 0.14.1 sources number the same function differently. */
export const ARTICLE_VS_014: readonly { file: string; fn: string; article: { from: number; to: number }; real: { from: number; to: number } }[] = [
  { file: "qemu-kvm.c", fn: "kvm_main_loop_cpu", article: { from: 1486, to: 1503 }, real: { from: 1410, to: 1427 } },
  { file: "qemu-kvm.c", fn: "ap_main_loop", article: { from: 1505, to: 1543 }, real: { from: 1429, to: 1468 } },
];

/** The 0.14.1 entry for `fn` in `file`, if the table has it. */
export function qemu014Function(file: string, fn: string): Qemu014Function | undefined {
  return QEMU_KVM_014.find((f) => f.file === file && f.fn === fn);
}

/**
 * What the table says is at `file:line`: a function of QEMU_KVM_014 containing it (the one named
 * `fn`, when given) or a line of QEMU_KVM_014_LINES; a reason otherwise.
 */
export function qemu014Locate(file: string, line: number, fn?: string): { entry?: Qemu014Function; problem?: string } {
  if (fn === undefined && QEMU_KVM_014_LINES.some((l) => l.file === file && l.line === line)) return {};
  const inFile = QEMU_KVM_014.filter((f) => f.file === file);
  if (inFile.length === 0) return { problem: `${file} is not a file of the qemu-kvm 0.14.1 table (QEMU_KVM_014)` };
  const holder = fn === undefined ? inFile.find((f) => line >= f.from && line <= f.to) : inFile.find((f) => f.fn === fn);
  if (holder === undefined) {
    return { problem: fn === undefined ? `${file}:${line} is inside no function of the qemu-kvm 0.14.1 table` : `${fn} is not in ${file} in the qemu-kvm 0.14.1 table` };
  }
  if (line < holder.from || line > holder.to) return { problem: `${holder.fn} is ${file}:${holder.from}-${holder.to} in qemu-kvm 0.14.1; ${line} is outside it` };
  return { entry: holder };
}

/** Why `file:line` (in `fn`, when given) is not a line of qemu-kvm 0.14.1 that ran, or null when it is. */
export function qemu014LineProblem(file: string, line: number, fn?: string): string | null {
  const { entry, problem } = qemu014Locate(file, line, fn);
  if (problem !== undefined) return problem;
  if (entry?.compiledOut !== undefined) return `${file}:${line} is in ${entry.fn}, compiled out in qemu-kvm 0.14 (${entry.compiledOut})`;
  return null;
}
