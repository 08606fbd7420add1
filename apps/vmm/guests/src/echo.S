/*
 * echo — port input: read a line from the UART, echo it back in capitals, count it.
 *
 * What to look for in the trace:
 *   - KVM_EXIT_IO out port 0x3f8 for each byte of the prompt "Type a line: ".
 *   - KVM_EXIT_IO *in* port 0x3fd (the UART's Line Status Register), over and over: the guest
 *     polls LSR bit 0 ("data ready"). An IN is an exit too — the CPU cannot know what a device
 *     that lives in the VMM would answer, so KVM returns to the VMM, which writes the answer
 *     into the kvm_run page (at io.data_offset) before calling KVM_RUN again; KVM then completes
 *     the `in` with that value. While nobody types, every poll is one more exit: busy-waiting
 *     on a virtual device is expensive, and you can watch it happen.
 *   - KVM_EXIT_IO in port 0x3f8 (the Receive Buffer Register) once data is ready: it pops one
 *     typed byte. Then KVM_EXIT_IO out 0x3f8 echoes it, uppercased.
 *   - After Enter ('\n' or '\r'): "You typed <n> characters.\n", then KVM_EXIT_HLT.
 * The markers on port 0xe9 ("polling the UART", "line complete") label the phases.
 *
 * With "hello\n" as input the console shows exactly:
 *   Type a line: HELLO
 *   You typed 5 characters.
 *
 * Entry: real mode, CS:IP = 0000:7c00, EFLAGS = 0x2 (IF = 0), registers 0, segment bases 0.
 */
        .code16
        .intel_syntax noprefix
        .include "lib/uart.S"           # UART_DATA, UART_LSR, LSR_DATA_READY; putc and puts
        .include "lib/debugcon.S"       # mark: trace markers on port 0xe9
        .include "lib/decimal.S"        # print_decimal
        .include "lib/stack.S"          # real_mode_stack
        .section .text.start, "ax"
        .globl _start

_start:
        # A stack, because this guest calls subroutines: it grows down from the image into the
        # free RAM below it (0x0500-0x7bff).
        real_mode_stack                 # SS:SP = 0000:7c00; plain RAM, no exits to the VMM
        cld

        mov si, offset prompt
        call puts                       # UART: "Type a line: ", KVM_EXIT_IO (out 0x3f8) per byte
        mov si, offset marker_polling   # "polling the UART\n"
        call mark                       # marker: one KVM_EXIT_IO (out 0xe9) per byte

        xor cx, cx                      # CX counts the characters of the line
read_loop:
        call getc                       # AL = next typed byte (polls LSR, then reads RBR)
        cmp al, '\n'
        je line_done
        cmp al, '\r'                    # a terminal in raw mode sends CR for Enter
        je line_done
        inc cx
        cmp al, 'a'                     # lowercase a..z -> uppercase: clear bit 5 (0x20)
        jb 1f
        cmp al, 'z'
        ja 1f
        sub al, 'a' - 'A'
1:      call putc                       # UART: the echo, one KVM_EXIT_IO (out 0x3f8)
        jmp read_loop

line_done:
        mov al, '\n'
        call putc                       # UART: '\n', one KVM_EXIT_IO (out 0x3f8)
        mov si, offset marker_done      # "line complete\n"
        call mark                       # marker: one KVM_EXIT_IO (out 0xe9) per byte
        mov si, offset you_typed
        call puts                       # UART: "You typed ", KVM_EXIT_IO (out 0x3f8) per byte
        mov ax, cx
        call print_decimal              # UART: CX in decimal, KVM_EXIT_IO (out 0x3f8) per digit
        mov si, offset characters
        cmp cx, 1                       # "1 character", "5 characters"
        jne 2f
        mov si, offset character
2:      call puts                       # UART: the rest of the line, KVM_EXIT_IO per byte

halt:
        cli
        # Exit to the VMM: KVM_EXIT_HLT with IF = 0 — the run ends normally.
        hlt
        jmp halt

# getc: wait for a received byte and return it in AL.
getc:
        mov dx, UART_LSR
poll:
        # Exit to the VMM: KVM_EXIT_IO (in, port 0x3fd, size 1). The VMM answers with its LSR value:
        # bits 5/6 (transmitter empty) always set, bit 0 set when an input byte is waiting.
        in al, dx
        test al, LSR_DATA_READY
        jz poll                         # nothing yet: ask again (another exit)
        mov dx, UART_DATA
        # Exit to the VMM: KVM_EXIT_IO (in, port 0x3f8, size 1). The VMM pops one input byte into AL.
        in al, dx
        ret

# The shared helpers (lib/), assembled here as 16-bit real-mode code. Our UART's transmitter is
# always empty (LSR bits 5/6 = 1), so unlike code for real hardware putc does not poll LSR first.
        # putc: AL -> UART. One KVM_EXIT_IO (out 0x3f8, size 1).
        uart_putc_routine putc, 16
        # puts: the string at SI -> UART. One KVM_EXIT_IO (out 0x3f8) per byte.
        write_string_routine puts, UART_DATA
        # mark: the string at SI -> a trace marker. One KVM_EXIT_IO (out 0xe9) per byte.
        write_string_routine mark, DEBUGCON
        # print_decimal: AX in decimal, via putc. One KVM_EXIT_IO (out 0x3f8) per digit.
        print_decimal_routine print_decimal, 16

prompt:         .asciz "Type a line: "
you_typed:      .asciz "You typed "
characters:     .asciz " characters.\n"
character:      .asciz " character.\n"
marker_polling: .asciz "polling the UART\n"
marker_done:    .asciz "line complete\n"
