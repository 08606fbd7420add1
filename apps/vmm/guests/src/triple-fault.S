/*
 * triple-fault — what happens when the CPU cannot even report an error.
 *
 * The guest enters 32-bit protected mode, then loads an Interrupt Descriptor Table with limit 0:
 * there is no valid entry for any exception. Then it executes `ud2`, an instruction defined to
 * be invalid:
 *   1. ud2 raises #UD (vector 6). The CPU looks up IDT entry 6: it lies beyond the IDT limit,
 *      which is itself a fault: #GP (vector 13).
 *   2. Delivering #GP needs IDT entry 13: also beyond the limit -> a second fault while
 *      delivering a fault: the CPU escalates to #DF, the double fault (vector 8).
 *   3. IDT entry 8 is beyond the limit too: a fault while delivering #DF is a TRIPLE FAULT. A
 *      real CPU gives up and signals shutdown (on a PC the chipset then resets the machine).
 * KVM models the shutdown as KVM_EXIT_SHUTDOWN: the vCPU cannot continue, and the VMM decides
 * what that means (qemu resets the VM; kvmscope ends the run with the "shutdown" outcome).
 *
 * What to look for in the trace: the debugcon markers (out 0xe9) for each phase, then a single
 * KVM_EXIT_SHUTDOWN. None of the three exceptions is an exit to the VMM: the CPU itself escalates
 * #UD to #GP to #DF to a triple fault, the triple fault is a VM exit, and KVM reports it as
 * KVM_EXIT_SHUTDOWN, the only exit that reaches the VMM.
 *
 * Why not `int3` or real mode: on a software KVM backend (kvm-pvm) `int3` fails emulation
 * (KVM_EXIT_INTERNAL_ERROR) and a real-mode triple fault just hangs; `ud2` in protected mode
 * gives the shutdown on every backend.
 *
 * Entry: real mode, CS:IP = 0000:7c00, EFLAGS = 0x2 (IF = 0), registers 0, segment bases 0.
 */
        .intel_syntax noprefix
        .include "lib/debugcon.S"       # mark16, mark: trace markers on port 0xe9
        .include "lib/protected-mode.S" # enter_protected_mode, flat_gdt
        .include "lib/stack.S"          # real_mode_stack

        .code16
        .section .text.start, "ax"
        .globl _start
_start:
        cli
        real_mode_stack                 # SS:SP = 0000:7c00 for mark16's call; no exits to the VMM
        cld
        mov si, offset m_entering       # "entering protected mode\n"
        call mark16                     # marker: one KVM_EXIT_IO (out 0xe9) per byte

        # Flat GDT, CR0.PE, far jump: from here on the CPU decodes 32-bit code. No exits.
        enter_protected_mode            # real mode -> 32-bit protected mode (lib/protected-mode.S)
        .code32                         # (the macro already switched the assembler to 32-bit)

        mov esi, offset m_idt           # "loading an empty IDT\n"
        call mark                       # marker: one KVM_EXIT_IO (out 0xe9) per byte

        # IDTR.limit = 0: not even the first 8-byte gate fits, so every vector is out of range.
        lidt [empty_idt]

        mov esi, offset m_fault         # "ud2: #UD -> #GP -> #DF -> triple fault\n"
        call mark                       # marker: one KVM_EXIT_IO (out 0xe9) per byte

        # #UD -> #GP -> #DF -> shutdown, all inside KVM.
        # Exit to the VMM: KVM_EXIT_SHUTDOWN. The vCPU never comes back from here.
        ud2

        # Never reached. Should a backend ever deliver something else, halt rather than run
        # into the data below.
halt:
        cli
        hlt
        jmp halt

# The shared helpers (lib/), assembled once per mode their callers run in.
        # mark: the string at ESI -> a trace marker. One KVM_EXIT_IO (out 0xe9) per byte.
        write_string_routine mark, DEBUGCON

        .code16
        # mark16: the string at SI -> a trace marker. One KVM_EXIT_IO (out 0xe9) per byte.
        write_string_routine mark16, DEBUGCON

# ---------------------------------------------------------------- data

        flat_gdt                        # the GDT: null, flat 32-bit code (0x08), flat data (0x10)
empty_idt:
        .word 0                         # limit 0: no usable gate at all
        .long 0                         # base (irrelevant)

m_entering:     .asciz "entering protected mode\n"
m_idt:          .asciz "loading an empty IDT\n"
m_fault:        .asciz "ud2: #UD -> #GP -> #DF -> triple fault\n"
