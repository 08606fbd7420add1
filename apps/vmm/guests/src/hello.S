/*
 * hello — port output: the guest talks to the world one `out` at a time.
 *
 * What to look for in the trace: 22 KVM_EXIT_IO exits (direction out, port 0x3f8, size 1),
 * one per character of "Hello from the guest!\n", then one KVM_EXIT_HLT that ends the run.
 *
 * Why every byte is an exit: the CPU cannot complete an `out` by itself. Port 0x3f8 is the
 * transmit register of a 16550 UART, and that UART exists only as code in the VMM. So on each
 * `out` KVM stops the guest, fills kvm_run.io (direction, port, size, count, data_offset) and
 * returns from the KVM_RUN ioctl to the VMM, which "transmits" the byte to its console and calls
 * KVM_RUN again. The guest resumes at the next instruction, unaware that it was paused.
 *
 * Machine state at entry (the kvmscope contract): real mode, CS:IP = 0000:7c00, every segment
 * base 0, EFLAGS = 0x2 (interrupts disabled), every general register 0, RAM zero but this image.
 */
        .code16                         # the CPU starts in 16-bit real mode, like an 8086
        .intel_syntax noprefix
        .include "lib/uart.S"           # UART_DATA, and write_string: a string to a port
        .section .text.start, "ax"
        .globl _start
_start:
        # DS = 0 already (contract), so [si] addresses guest-physical memory directly.
        # No stack is needed: this guest never calls, pushes or takes an interrupt.
        mov si, offset message
        cld                             # lodsb walks forward through the string
        # Each byte: lodsb (ordinary memory, no exit to the VMM), then `out dx, al` to port 0x3f8, the
        # COM1 transmit holding register (THR): one KVM_EXIT_IO (out, port 0x3f8, size 1,
        # data = the byte). The VMM's UART prints it; KVM_RUN then resumes us right after the
        # `out`. The loop itself is in lib/write-string.S, shared by every guest.
        write_string UART_DATA          # "Hello from the guest!\n": 22 x KVM_EXIT_IO out 0x3f8

done:
        cli                             # IF is already 0 since reset; said again to be explicit
        # Exit to the VMM: KVM_EXIT_HLT. With interrupts disabled nothing can ever wake this vCPU,
        # so the VMM ends the run (a normal end, exit status 0).
        hlt
        jmp done                        # never reached; a guard in case an NMI wakes us

message:
        .asciz "Hello from the guest!\n"
