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
        .section .text.start, "ax"
        .globl _start

        .set UART_DATA, 0x3f8           # write: transmit holding register, read: receive buffer
        .set UART_LSR,  0x3fd           # line status register
        .set LSR_DATA_READY, 0x01
        .set DEBUGCON,  0xe9

_start:
        # A stack, because this guest calls subroutines. SS = 0 already; the 30 KiB below the
        # image (0x0500-0x7bff) is free RAM, and the stack grows down from 0x7c00 into it.
        xor ax, ax
        mov ss, ax
        mov sp, 0x7c00
        cld

        mov si, offset prompt
        call puts                       # one KVM_EXIT_IO (out 0x3f8) per prompt byte
        mov si, offset marker_polling
        call mark                       # KVM_EXIT_IO out 0xe9 per byte: a trace marker

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
1:      call putc                       # KVM_EXIT_IO out 0x3f8: the echo
        jmp read_loop

line_done:
        mov al, '\n'
        call putc
        mov si, offset marker_done
        call mark
        mov si, offset you_typed
        call puts
        mov ax, cx
        call print_decimal
        mov si, offset characters
        cmp cx, 1                       # "1 character", "5 characters"
        jne 2f
        mov si, offset character
2:      call puts

halt:
        cli
        # VM exit: KVM_EXIT_HLT with IF = 0 — the run ends normally.
        hlt
        jmp halt

# getc: wait for a received byte and return it in AL.
getc:
        mov dx, UART_LSR
poll:
        # VM exit: KVM_EXIT_IO (in, port 0x3fd, size 1). The VMM answers with its LSR value:
        # bits 5/6 (transmitter empty) always set, bit 0 set when an input byte is waiting.
        in al, dx
        test al, LSR_DATA_READY
        jz poll                         # nothing yet: ask again (another exit)
        mov dx, UART_DATA
        # VM exit: KVM_EXIT_IO (in, port 0x3f8, size 1). The VMM pops one input byte into AL.
        in al, dx
        ret

# putc: transmit AL. Our UART's transmitter is always empty (LSR bits 5/6 = 1), so unlike
# code for real hardware we do not poll LSR before writing.
putc:
        mov dx, UART_DATA
        # VM exit: KVM_EXIT_IO (out, port 0x3f8, size 1, data = AL).
        out dx, al
        ret

# puts: transmit the 0-terminated string at DS:SI.
puts:
        lodsb
        test al, al
        jz 1f
        call putc
        jmp puts
1:      ret

# mark: send the 0-terminated string at DS:SI to debugcon (port 0xe9); the VMM turns each
# '\n'-terminated line into a labelled marker on this vCPU's timeline.
mark:
        mov dx, DEBUGCON
1:      lodsb
        test al, al
        jz 2f
        # VM exit: KVM_EXIT_IO (out, port 0xe9, size 1).
        out dx, al
        jmp 1b
2:      ret

# print_decimal: print AX (0..65535) in decimal. Digits come out of `div` least significant
# first, so they are pushed and printed in reverse.
print_decimal:
        push cx
        mov bx, 10
        xor cx, cx
1:      xor dx, dx
        div bx                          # DX:AX / 10 -> AX quotient, DX remainder (0..9)
        push dx
        inc cx
        test ax, ax
        jnz 1b
2:      pop ax
        add al, '0'
        call putc
        loop 2b
        pop cx
        ret

prompt:         .asciz "Type a line: "
you_typed:      .asciz "You typed "
characters:     .asciz " characters.\n"
character:      .asciz " character.\n"
marker_polling: .asciz "polling the UART\n"
marker_done:    .asciz "line complete\n"
