/*
 * lib/hex.S — print a register in hexadecimal, most significant digit first.
 *
 * Usage (.include "lib/hex.S" once, near the top; it emits no code by itself):
 *
 *   print_hex_routine NAME, BITS
 *       Defines a subroutine NAME: `call NAME` prints AX (BITS = 16: 4 digits), EAX (32: 8
 *       digits) or RAX (64: 16 digits) in lowercase hex with leading zeros; e.g. 0x500 with
 *       BITS = 64 prints 0000000000000500. Place it under the .code16/.code32/.code64 that
 *       matches BITS (lib/width.S); it needs a stack.
 *       Exits: one KVM_EXIT_IO (out, port 0x3f8, size 1) per digit, through `call putc` (the
 *       guest defines putc with uart_putc_routine from lib/uart.S). The arithmetic causes none.
 *       Clobbers AL only.
 *
 * How: the value is copied to DX (EDX, RDX) and rotated left by 4 bits per digit, which brings
 * the next nibble, from the most significant down, into the low 4 bits; AL = that nibble
 * turned into an ASCII digit.
 */
        .ifndef LIB_HEX
        .set LIB_HEX, 1
        .include "lib/width.S"

        .macro print_hex_routine name, bits
        at_width \bits, _print_hex, \name
        .endm

        # The body, written once; A..D are AX..DX at the routine's width (lib/width.S).
        .macro _print_hex name, bits, a, b, c, d
\name:
        push \c
        push \d
        mov \d, \a                      # D: the value, rotated one digit at a time
        mov \c, \bits / 4               # C: digits to go (4 bits each), counted down by `loop`
.Lprint_hex_digit\@:
        rol \d, 4                       # bring the next nibble to the bottom
        mov al, dl
        and al, 0x0f                    # AL = 0..15
        add al, '0'                     # 0..9 -> '0'..'9'
        cmp al, '9'
        jbe .Lprint_hex_put\@
        add al, 'a' - '0' - 10          # 10..15 -> 'a'..'f'
.Lprint_hex_put\@:
        call putc                       # KVM_EXIT_IO (out, port 0x3f8, size 1): one digit
        loop .Lprint_hex_digit\@
        pop \d
        pop \c
        ret
        .endm

        .endif
