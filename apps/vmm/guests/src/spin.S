/*
 * spin — a guest that never exits: one marker, then a tight loop forever.
 *
 * What to look for in the trace: 20 KVM_EXIT_IO exits (out, port 0xe9, the marker
 * "spinning forever...\n"), then nothing at all. `jmp` to itself is pure computation: there is
 * nothing for KVM to hand to the VMM, so the vCPU thread stays inside the KVM_RUN ioctl for good.
 * The run ends only because the VMM gives up: its timeout (or exit limit) fires, it sets
 * kvm_run.immediate_exit and signals the vCPU thread, and KVM_RUN returns with EINTR
 * (KVM_EXIT_INTR). That is how any VMM stops, pauses or single-steps a running vCPU.
 *
 * Entry: real mode, CS:IP = 0000:7c00, EFLAGS = 0x2 (IF = 0, so not even a timer interrupt
 * could enter), registers 0.
 */
        .code16
        .intel_syntax noprefix
        .include "lib/debugcon.S"       # DEBUGCON, and write_string: a string to a port
        .section .text.start, "ax"
        .globl _start
_start:
        mov si, offset marker
        cld
        write_string DEBUGCON           # "spinning forever...\n": 20 x KVM_EXIT_IO out 0xe9

forever:
        # No exits to the VMM from here on: the CPU (or, on a software KVM backend, KVM's instruction
        # emulator) executes this jump again and again without ever needing the VMM.
        jmp forever

marker:
        .asciz "spinning forever...\n"
