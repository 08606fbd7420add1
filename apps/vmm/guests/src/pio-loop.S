/*
 * pio-loop — the benchmark guest: one KVM_EXIT_IO per loop iteration, forever.
 *
 * Each iteration is `out dx, al` to port 0x80 (the PC's "POST code" port, where a BIOS writes
 * its progress codes; the VMM registers a do-nothing device there) and a jump back. So the
 * run is nothing but the round trip guest -> KVM -> VMM -> KVM -> guest, and exits per second
 * measures exactly that round trip. Compare it with apps/vmm/bench/raw-kvm-loop (a bare C
 * KVM_RUN loop) running this same image: the difference is what the VMM's own exit handling
 * costs. The run ends only by the VMM's exit limit or timeout.
 *
 * What to look for in the trace: KVM_EXIT_IO, out, port 0x80, size 1, data 0x00, repeated.
 *
 * Entry: real mode, CS:IP = 0000:7c00, EFLAGS = 0x2, every register 0 (so AL = 0).
 */
        .code16
        .intel_syntax noprefix
        .section .text.start, "ax"
        .globl _start
_start:
        mov dx, 0x80                    # POST code port
loop:
        # Exit to the VMM: KVM_EXIT_IO (out, port 0x80, size 1, data = AL = 0). The VMM's handler does
        # nothing; KVM_RUN resumes at the jmp.
        out dx, al
        jmp loop
