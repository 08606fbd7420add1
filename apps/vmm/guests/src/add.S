/*
 * add — the first guest of every KVM API tutorial: compute 2 + 2 and print the answer.
 *
 * What to look for in the trace: exactly three exits, the whole life of a VM in miniature:
 *   1. KVM_EXIT_IO  out port 0x3f8 size 1 data 0x34 ('4')
 *   2. KVM_EXIT_IO  out port 0x3f8 size 1 data 0x0a ('\n')
 *   3. KVM_EXIT_HLT                                         -> the run ends
 * Everything else (the moves, the add, the ASCII conversion) runs without leaving the guest:
 * ordinary instructions on registers never need the VMM, so KVM never returns to userspace for
 * them. (Tutorials usually let the VMM preload AL and BL with KVM_SET_REGS; our contract starts
 * every register at 0, so the guest loads its own operands.)
 *
 * Entry: real mode, CS:IP = 0000:7c00, EFLAGS = 0x2 (interrupts off), registers 0.
 */
        .code16
        .intel_syntax noprefix
        .section .text.start, "ax"
        .globl _start
_start:
        mov al, 2
        mov bl, 2
        add al, bl                      # AL = 4: pure register work, no exit
        add al, '0'                     # 4 -> the ASCII digit '4' (0x34)
        mov dx, 0x3f8                   # COM1 transmit register, a port the VMM emulates
        # Exit to the VMM: KVM_EXIT_IO (out, port 0x3f8, size 1, data 0x34 '4'). The VMM prints it.
        out dx, al
        mov al, '\n'
        # Exit to the VMM: KVM_EXIT_IO (out, port 0x3f8, size 1, data 0x0a '\n').
        out dx, al
        # Exit to the VMM: KVM_EXIT_HLT. Interrupts have been off since reset, so this vCPU can never
        # wake up again: the VMM ends the run normally.
        hlt
