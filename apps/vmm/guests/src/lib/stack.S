/*
 * lib/stack.S — where the guests keep their stack.
 *
 * The kvmscope machine loads the image at 0x7c00 (the boot-sector convention) and hands the
 * guest zeroed RAM. Below the image, 0x0500-0x7bff (about 30 KiB) is free: the first 0x500
 * bytes are where a PC keeps the real-mode interrupt vector table and BIOS data, which the
 * timer guest uses for its IVT entry. A stack grows *down*, so its top is the image's first
 * byte, 0x7c00: pushes fill the free RAM below it and never touch the code.
 *
 * Plain RAM: pushes, pops, calls and returns cause no exit to the VMM.
 *
 * Usage (.include "lib/stack.S" once, near the top; it emits no code by itself):
 *
 *   STACK_TOP
 *       0x7c00, the initial stack pointer in every mode (SP, ESP, RSP).
 *   real_mode_stack
 *       Inline, in .code16: SS:SP = 0000:7c00. Needed before the first `call`, `push` or
 *       interrupt (the contract starts with SP = 0, which would wrap to the top of the first
 *       64 KiB). No exits. Leaves AX = 0.
 */
        .ifndef LIB_STACK
        .set LIB_STACK, 1

        .set STACK_TOP, 0x7c00          # the image's first byte: the stack grows down from it

        .macro real_mode_stack
        xor ax, ax
        mov ss, ax                      # SS = 0 already (contract); set to be explicit
        mov sp, STACK_TOP               # physical SS * 16 + SP = 0x7c00
        .endm

        .endif
