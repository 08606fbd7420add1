/*
 * lib/uart.S — console output through COM1, an emulated 16550 UART at ports 0x3f8-0x3ff.
 *
 * The UART exists only as code in the VMM. The guests use two of its registers:
 *   0x3f8 (UART_DATA)  write: Transmit Holding Register (THR), the byte to send;
 *                      read:  Receive Buffer Register (RBR), the next received byte.
 *   0x3fd (UART_LSR)   read:  Line Status Register. Bit 0 (LSR_DATA_READY): a received byte
 *                      is waiting in RBR. Bits 5/6: the transmitter is empty — always set by
 *                      kvmscope's UART, so unlike code for real hardware the guests never poll
 *                      LSR before transmitting.
 * Each access to either port is a KVM_EXIT_IO: the VMM "transmits" a written byte to its
 * console, and answers a read by writing the value into the kvm_run page (at io.data_offset)
 * before KVM_RUN completes the guest's `in`.
 *
 * Usage (.include "lib/uart.S" once, near the top; it emits no code by itself):
 *
 *   write_string UART_DATA
 *       Inline (no stack needed): the 0-terminated string at DS:SI (ESI, RSI) to port 0x3f8.
 *   write_string_routine NAME, UART_DATA
 *       Defines a subroutine NAME (the guests call it `puts`): `call NAME` does the same.
 *       Both: one KVM_EXIT_IO (out, port 0x3f8, size 1) per byte; need DF = 0; clobber AL, DX,
 *       SI. (The macros are in lib/write-string.S, which this file includes.)
 *   uart_putc_routine NAME, BITS
 *       Defines a subroutine NAME (the guests call it `putc`, and lib/hex.S and lib/decimal.S
 *       print through a subroutine of that name): `call NAME` transmits AL. One KVM_EXIT_IO
 *       (out, port 0x3f8, size 1, data = AL). Preserves every register. BITS (16, 32 or 64)
 *       is the mode it is assembled for: place it under the matching .code16/32/64.
 */
        .ifndef LIB_UART
        .set LIB_UART, 1
        .include "lib/write-string.S"
        .include "lib/width.S"

        .set UART_DATA, 0x3f8           # write: transmit holding register, read: receive buffer
        .set UART_LSR,  0x3fd           # line status register
        .set LSR_DATA_READY, 0x01       # LSR bit 0: a received byte is waiting

        .macro uart_putc_routine name, bits
        at_width \bits, _uart_putc, \name
        .endm

        # The body, written once; A..D are AX..DX at the routine's width (lib/width.S).
        # `mov dx, ...` writes only the low 16 bits, but a caller may keep a value in all of
        # EDX or RDX (print_hex does), so D, the full-width DX, is saved.
        .macro _uart_putc name, bits, a, b, c, d
\name:
        push \d
        mov dx, UART_DATA
        # Exit to the VMM: KVM_EXIT_IO (out, port 0x3f8, size 1, data = AL). The VMM prints AL.
        out dx, al
        pop \d
        ret
        .endm

        .endif
