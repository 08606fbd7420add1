/*
 * mmio — memory-mapped I/O: a device that looks like memory, but is not.
 *
 * The VMM puts a small teaching device at guest-physical 0xd0000000 (4 KiB):
 *   +0x0 ID        read-only, reads 0x534d564b ("KVMS" in little-endian ASCII)
 *   +0x4 SCRATCH   read/write: keeps what was written
 *   +0x8 COUNTER   read-only: every read returns the next number
 *   +0xc DOORBELL  write-only: a write just "rings" (shows up in the trace)
 * No RAM backs those addresses (no KVM memory slot covers them). When the guest touches one,
 * the access faults inside KVM (an EPT/NPT violation on VMX/SVM hosts), KVM decodes the
 * instruction, sees that nobody in the kernel owns the address, and returns to the VMM with
 * KVM_EXIT_MMIO: phys_addr, len, is_write and, for a write, the data. For a read the VMM writes
 * the value into kvm_run.mmio.data, and the next KVM_RUN finishes the `mov` with it.
 *
 * 0xd0000000 is above 1 MiB, out of reach of real mode's 16-bit segment:offset addresses, so the
 * guest first switches to 32-bit protected mode with a flat GDT (base 0, limit 4 GiB).
 *
 * What to look for in the trace (besides UART output and debugcon markers on 0xe9):
 *   KVM_EXIT_MMIO read  0xd0000000 len 4 -> 0x534d564b        (ID)
 *   KVM_EXIT_MMIO write 0xd0000004 len 4    0x1badc0de        (SCRATCH)
 *   KVM_EXIT_MMIO read  0xd0000004 len 4 -> 0x1badc0de        (SCRATCH, read back)
 *   KVM_EXIT_MMIO read  0xd0000008 len 4 -> 1, then 2         (COUNTER, twice: reads so far)
 *   KVM_EXIT_MMIO write 0xd000000c len 4    0x00000001        (DOORBELL)
 *   KVM_EXIT_MMIO read  0xe0000000 len 4 -> 0xffffffff        (nothing there: all-ones)
 *   KVM_EXIT_HLT
 * The switch to protected mode itself (lgdt, mov cr0, the far jump) causes no exit to the VMM:
 * the mov to CR0 is a VM exit that KVM handles itself; lgdt and the jump the CPU does alone.
 *
 * Entry: real mode, CS:IP = 0000:7c00, EFLAGS = 0x2 (IF = 0), registers 0, segment bases 0.
 */
        .intel_syntax noprefix
        .set DEV,       0xd0000000      # the teaching device
        .set DEV_ID,       DEV + 0x0
        .set DEV_SCRATCH,  DEV + 0x4
        .set DEV_COUNTER,  DEV + 0x8
        .set DEV_DOORBELL, DEV + 0xc
        .set UNASSIGNED, 0xe0000000     # outside RAM, no device: reads float to all-ones
        .include "lib/uart.S"           # putc, puts: text to the UART (port 0x3f8)
        .include "lib/debugcon.S"       # mark16, mark: trace markers on port 0xe9
        .include "lib/hex.S"            # print_hex32
        .include "lib/protected-mode.S" # enter_protected_mode, flat_gdt
        .include "lib/stack.S"          # real_mode_stack

        .code16
        .section .text.start, "ax"
        .globl _start
_start:
        cli                             # no interrupts while the CPU changes modes (IF=0 anyway)
        real_mode_stack                 # SS:SP = 0000:7c00 for mark16's call; no exits to the VMM
        cld
        mov si, offset m_entering       # "entering protected mode\n"
        call mark16                     # marker: one KVM_EXIT_IO (out 0xe9) per byte

        # Load the flat GDT (base 0, limit 4 GiB), set CR0.PE and far-jump into 32-bit code;
        # DS/ES/SS = flat data, ESP = 0x7c00. None of it is an exit to the VMM (the CR0 write is a
        # VM exit KVM handles itself).
        enter_protected_mode            # real mode -> 32-bit protected mode (lib/protected-mode.S)
        .code32                         # (the macro already switched the assembler to 32-bit)

        mov esi, offset m_pm            # now ESI: addresses are 32 bits wide
        call mark                       # marker: one KVM_EXIT_IO (out 0xe9) per byte

        # --- ID. VM exit: KVM_EXIT_MMIO (read, 0xd0000000, len 4). The VMM answers "KVMS".
        mov esi, offset s_id
        call puts                       # UART: the label, KVM_EXIT_IO (out 0x3f8) per byte
        mov eax, [DEV_ID]
        mov [id_value], eax             # keep it to print as text too (RAM: no exit to the VMM)
        call print_hex32                # UART: EAX as 8 hex digits, one KVM_EXIT_IO per digit
        mov esi, offset s_quote
        call puts                       # UART: ' "', KVM_EXIT_IO (out 0x3f8) per byte
        mov esi, offset id_value        # the four bytes of the ID are ASCII: 'K' 'V' 'M' 'S'
        mov ecx, 4
1:      lodsb
        cmp al, 0x20                    # anything unprintable (e.g. all-ones from a VMM
        jb 2f                           # without the device) shows as '?'
        cmp al, 0x7e
        jbe 3f
2:      mov al, '?'
3:      call putc                       # UART: one ID byte, one KVM_EXIT_IO (out 0x3f8)
        loop 1b
        mov esi, offset s_endquote
        call puts                       # UART: '"\n', KVM_EXIT_IO (out 0x3f8) per byte

        # --- SCRATCH. VM exit: KVM_EXIT_MMIO (write, 0xd0000004, len 4, data 0x1badc0de);
        # the VMM stores the value. Then a read of the same address: another KVM_EXIT_MMIO.
        mov dword ptr [DEV_SCRATCH], 0x1badc0de
        mov esi, offset s_scratch
        call puts                       # UART: the label, KVM_EXIT_IO (out 0x3f8) per byte
        mov eax, [DEV_SCRATCH]          # Exit to the VMM: KVM_EXIT_MMIO (read, 0xd0000004, len 4)
        call print_hex32                # UART: EAX as 8 hex digits, one KVM_EXIT_IO per digit
        call newline                    # UART: '\n', one KVM_EXIT_IO (out 0x3f8)

        # --- COUNTER, twice. Two identical instructions, two different answers: that is a
        # device, not memory. Each read is one KVM_EXIT_MMIO (read, 0xd0000008, len 4).
        mov esi, offset s_counter
        call puts                       # UART: the label, KVM_EXIT_IO (out 0x3f8) per byte
        mov eax, [DEV_COUNTER]
        call print_hex32                # UART: EAX as 8 hex digits, one KVM_EXIT_IO per digit
        call newline                    # UART: '\n', one KVM_EXIT_IO (out 0x3f8)
        mov esi, offset s_counter
        call puts                       # UART: the label, KVM_EXIT_IO (out 0x3f8) per byte
        mov eax, [DEV_COUNTER]
        call print_hex32                # UART: EAX as 8 hex digits, one KVM_EXIT_IO per digit
        call newline                    # UART: '\n', one KVM_EXIT_IO (out 0x3f8)

        # --- DOORBELL. VM exit: KVM_EXIT_MMIO (write, 0xd000000c, len 4, data 1).
        mov dword ptr [DEV_DOORBELL], 1
        mov esi, offset s_doorbell
        call puts                       # UART: "DOORBELL ... rung\n", KVM_EXIT_IO per byte

        # --- Unassigned. VM exit: KVM_EXIT_MMIO (read, 0xe0000000, len 4). No device answers,
        # so the VMM returns all-ones, as an empty bus does on a PC.
        mov esi, offset s_unassigned
        call puts                       # UART: the label, KVM_EXIT_IO (out 0x3f8) per byte
        mov eax, [UNASSIGNED]
        call print_hex32                # UART: EAX as 8 hex digits, one KVM_EXIT_IO per digit
        mov esi, offset s_nothing
        call puts                       # UART: " (nothing there)\n", KVM_EXIT_IO per byte

        mov esi, offset m_done          # "MMIO tour done\n"
        call mark                       # marker: one KVM_EXIT_IO (out 0xe9) per byte
halt:
        cli
        hlt                             # Exit to the VMM: KVM_EXIT_HLT with IF = 0: the run ends
        jmp halt

# ---------------------------------------------------------------- helpers

# The shared helpers (lib/), assembled once per mode their callers run in.
        # putc: AL -> UART. One KVM_EXIT_IO (out 0x3f8, size 1).
        uart_putc_routine putc, 32
        # puts: the string at ESI -> UART. One KVM_EXIT_IO (out 0x3f8) per byte.
        write_string_routine puts, UART_DATA
        # mark: the string at ESI -> a trace marker. One KVM_EXIT_IO (out 0xe9) per byte.
        write_string_routine mark, DEBUGCON
        # print_hex32: EAX as 8 hex digits, via putc. One KVM_EXIT_IO (out 0x3f8) per digit.
        print_hex_routine print_hex32, 32

newline:                                # '\n' -> UART: 1 KVM_EXIT_IO (out 0x3f8)
        mov al, '\n'
        jmp putc

        .code16
        # mark16: the string at SI -> a trace marker. One KVM_EXIT_IO (out 0xe9) per byte.
        write_string_routine mark16, DEBUGCON

# ---------------------------------------------------------------- data

        flat_gdt                        # the GDT: null, flat 32-bit code (0x08), flat data (0x10)

id_value:       .long 0
s_id:           .asciz "ID         (0xd0000000) = "
s_quote:        .asciz " \""
s_endquote:     .asciz "\"\n"
s_scratch:      .asciz "SCRATCH    (0xd0000004) = "
s_counter:      .asciz "COUNTER    (0xd0000008) = "
s_doorbell:     .asciz "DOORBELL   (0xd000000c) rung\n"
s_unassigned:   .asciz "unassigned (0xe0000000) = "
s_nothing:      .asciz " (nothing there)\n"
m_entering:     .asciz "entering protected mode\n"
m_pm:           .asciz "in 32-bit protected mode\n"
m_done:         .asciz "MMIO tour done\n"
