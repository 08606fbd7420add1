/*
 * hlt — the smallest guest: leave a marker in the trace, then halt for good.
 *
 * What to look for in the trace:
 *   - 14 KVM_EXIT_IO exits, out, port 0xe9 (the Bochs/QEMU "debugcon" port), one per byte of
 *     "about to halt\n". The VMM collects them and shows the line as a labelled marker: this is
 *     how every kvmscope guest annotates its own timeline.
 *   - 1 KVM_EXIT_HLT. HLT stops the CPU until the next interrupt. KVM cannot know when the VMM's
 *     devices will raise one (they live in userspace), so it hands HLT to the VMM. The guest
 *     halts with interrupts disabled (IF = 0): nothing can wake it, so the VMM ends the run with
 *     exit status 0.
 *
 * With the in-kernel irqchip (KVM_CREATE_IRQCHIP) KVM emulates the local APIC itself, so it
 * keeps a halted vCPU inside KVM_RUN instead of exiting: the HLT exit disappears from the trace.
 *
 * Entry: real mode, CS:IP = 0000:7c00, EFLAGS = 0x2 (IF = 0), registers 0.
 */
        .code16
        .intel_syntax noprefix
        .include "lib/debugcon.S"       # DEBUGCON, and write_string: a string to a port
        .section .text.start, "ax"
        .globl _start
_start:
        mov si, offset marker
        cld
        write_string DEBUGCON           # "about to halt\n": 14 x KVM_EXIT_IO out 0xe9 (a marker)

halt:
        cli                             # IF is already 0; stated so the intent is visible
        # Exit to the VMM: KVM_EXIT_HLT — the last exit of this run.
        hlt
        jmp halt                        # only an NMI could get here; halt again

marker:
        .asciz "about to halt\n"
