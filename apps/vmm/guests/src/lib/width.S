/*
 * lib/width.S — one routine body, assembled as 16-, 32- or 64-bit code.
 *
 * The shared routines (putc, print_hex, print_decimal) are the same instructions in every CPU
 * mode; only the width of the registers differs: AX in real mode, EAX in protected mode, RAX
 * in long mode. So each routine's body is written once, as a macro whose registers are
 * parameters, and at_width fills them in for the mode the guest asks for.
 *
 *   at_width BITS, MACRO, NAME
 *       Expands to `MACRO NAME, BITS, A, B, C, D`, where A, B, C and D are the AX, BX, CX and
 *       DX registers of width BITS:
 *           BITS = 16:  ax,  bx,  cx,  dx
 *           BITS = 32:  eax, ebx, ecx, edx
 *           BITS = 64:  rax, rbx, rcx, rdx
 *       Anything else stops the assembly with an error. The code is assembled in whatever
 *       .code16/.code32/.code64 is in force; BITS must match it.
 *
 * (Instructions that name no register width — lodsb, `out dx, al`, `loop` — need no such
 * help: the CPU mode alone picks SI/ESI/RSI and CX/ECX/RCX for them.)
 */
        .ifndef LIB_WIDTH
        .set LIB_WIDTH, 1

        .macro at_width bits, macro, name
        .if \bits == 16
        \macro \name, 16, ax, bx, cx, dx
        .elseif \bits == 32
        \macro \name, 32, eax, ebx, ecx, edx
        .elseif \bits == 64
        \macro \name, 64, rax, rbx, rcx, rdx
        .else
        .error "at_width: BITS must be 16, 32 or 64"
        .endif
        .endm

        .endif
