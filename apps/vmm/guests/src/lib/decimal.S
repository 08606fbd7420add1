/*
 * lib/decimal.S — print an unsigned register in decimal, without leading zeros.
 *
 * Usage (.include "lib/decimal.S" once, near the top; it emits no code by itself):
 *
 *   print_decimal_routine NAME, BITS
 *       Defines a subroutine NAME: `call NAME` prints AX (BITS = 16: 0..65535), EAX (32) or
 *       RAX (64: up to 20 digits, 18446744073709551615) in decimal; 0 prints as "0". Place it
 *       under the .code16/.code32/.code64 that matches BITS (lib/width.S); it needs a stack.
 *       Exits: one KVM_EXIT_IO (out, port 0x3f8, size 1) per digit, through `call putc` (the
 *       guest defines putc with uart_putc_routine from lib/uart.S). The arithmetic causes none.
 *       Clobbers AX and DX (EAX and EDX, RAX and RDX); preserves BX and CX.
 *
 * How: `div` by 10 leaves the quotient in AX and the remainder — the lowest decimal digit — in
 * DX. Dividing until the quotient is 0 yields the digits least significant first, so each is
 * pushed on the stack, and popping them prints the most significant first.
 */
        .ifndef LIB_DECIMAL
        .set LIB_DECIMAL, 1
        .include "lib/width.S"

        .macro print_decimal_routine name, bits
        at_width \bits, _print_decimal, \name
        .endm

        # The body, written once; A..D are AX..DX at the routine's width (lib/width.S).
        .macro _print_decimal name, bits, a, b, c, d
\name:
        push \c
        push \b
        mov \b, 10                      # B: the divisor
        xor \c, \c                      # C: how many digits are on the stack
.Lprint_decimal_divide\@:
        xor \d, \d                      # the dividend is D:A (DX:AX, EDX:EAX, RDX:RAX)
        div \b                          # A = quotient, D = remainder (0..9)
        push \d
        inc \c
        test \a, \a
        jnz .Lprint_decimal_divide\@    # more digits while the quotient is not 0
.Lprint_decimal_print\@:
        pop \a
        add al, '0'                     # 0..9 -> '0'..'9'
        call putc                       # KVM_EXIT_IO (out, port 0x3f8, size 1): one digit
        loop .Lprint_decimal_print\@    # C -= 1; again while not 0
        pop \b
        pop \c
        ret
        .endm

        .endif
