/*
 * lib/write-string.S — the loop every guest uses to send a string to a port.
 *
 * Like every file in lib/, it only defines constants and macros: including it emits no bytes.
 * Code appears where a guest *uses* a macro, assembled for the mode (.code16, .code32 or
 * .code64) in force at that spot. The same lines of source thus serve a real-mode, a
 * protected-mode and a long-mode guest: `lodsb` reads through SI, ESI or RSI, whichever is the
 * address register of the current mode. (lib/uart.S and lib/debugcon.S include this file; a
 * guest includes those, for the port numbers.)
 *
 *   write_string PORT
 *       Inline: sends the 0-terminated string at DS:SI (ESI, RSI) to the I/O port PORT, one
 *       `out` per byte, and stops at the 0 byte (which is not sent). For a guest that has no
 *       stack to call a subroutine with.
 *   write_string_routine NAME, PORT
 *       Defines a subroutine NAME: `call NAME` does the same and returns. Place it where the
 *       guest keeps its helpers, under the .code16/.code32/.code64 of the mode its callers run
 *       in; a guest that needs it in two modes defines it twice (e.g. mark16 and mark).
 *   Both:
 *       Exits: one KVM_EXIT_IO (direction out, port PORT, size 1, data = the byte) per byte.
 *       Need: DF = 0 (`cld`), so that lodsb walks forward.
 *       Leave: SI (ESI, RSI) just past the 0 byte; AL = 0; DX = PORT. Flags changed.
 *
 * Why every byte is an exit: the CPU cannot complete an `out` by itself. The device behind
 * the port (a 16550 UART, the debug console...) exists only as code in the VMM, so on each
 * `out` KVM stops the guest, fills kvm_run.io (direction, port, size, count, data_offset) and
 * returns from the KVM_RUN ioctl; the VMM handles the byte and calls KVM_RUN again, and the
 * guest resumes at the next instruction, unaware that it was paused. Reading the string
 * (`lodsb`) is ordinary memory: no exit to the VMM.
 */
        .ifndef LIB_WRITE_STRING        # include guard: uart.S and debugcon.S both include us
        .set LIB_WRITE_STRING, 1

        .macro write_string port
        mov dx, \port                   # `out` to a port above 0xff needs the port in DX
.Lwrite_string_next\@:                  # (\@ makes the labels unique for each use)
        lodsb                           # AL = [SI], SI += 1 — ordinary memory: no exit to the VMM
        test al, al                     # the string ends with a 0 byte
        jz .Lwrite_string_done\@
        # Exit to the VMM: KVM_EXIT_IO (out, port \port, size 1, data = AL). KVM_RUN then resumes
        # the guest right after this instruction.
        out dx, al
        jmp .Lwrite_string_next\@
.Lwrite_string_done\@:
        .endm

        .macro write_string_routine name, port
\name:
        write_string \port
        ret
        .endm

        .endif
