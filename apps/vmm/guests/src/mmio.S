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
 * The switch to protected mode itself (lgdt, mov cr0, the far jump) causes no exit: KVM
 * handles control registers and descriptor tables without the VMM.
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
        .set UART, 0x3f8
        .set DEBUGCON, 0xe9

        .code16
        .section .text.start, "ax"
        .globl _start
_start:
        cli                             # no interrupts while the CPU changes modes (IF=0 anyway)
        xor ax, ax
        mov ss, ax
        mov sp, 0x7c00                  # a real-mode stack below the image for mark16's call
        cld
        mov si, offset m_entering
        call mark16                     # KVM_EXIT_IO out 0xe9 per byte: "entering protected mode"

        # Load GDTR with our table's base and limit. The CPU only reads the table when a segment
        # register is loaded below; KVM lets the guest do this without any exit.
        lgdt [gdt_descriptor]
        mov eax, cr0
        or eax, 1                       # CR0.PE: protected mode on
        mov cr0, eax
        # CS still holds a real-mode segment; a far jump loads it with selector 0x08 (our 32-bit
        # code descriptor) and from the next instruction on the CPU decodes 32-bit code.
        ljmp 0x08, offset pm32

        .code32
pm32:
        mov ax, 0x10                    # selector 0x10: flat 32-bit data, base 0, limit 4 GiB
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov esp, 0x7c00
        mov esi, offset m_pm
        call mark                       # "in 32-bit protected mode"

        # --- ID. VM exit: KVM_EXIT_MMIO (read, 0xd0000000, len 4). The VMM answers "KVMS".
        mov esi, offset s_id
        call puts
        mov eax, [DEV_ID]
        mov [id_value], eax             # keep it to print as text too (RAM: no exit)
        call print_hex32
        mov esi, offset s_quote
        call puts
        mov esi, offset id_value        # the four bytes of the ID are ASCII: 'K' 'V' 'M' 'S'
        mov ecx, 4
1:      lodsb
        cmp al, 0x20                    # anything unprintable (e.g. all-ones from a VMM
        jb 2f                           # without the device) shows as '?'
        cmp al, 0x7e
        jbe 3f
2:      mov al, '?'
3:      call putc
        loop 1b
        mov esi, offset s_endquote
        call puts

        # --- SCRATCH. VM exit: KVM_EXIT_MMIO (write, 0xd0000004, len 4, data 0x1badc0de);
        # the VMM stores the value. Then a read of the same address: another KVM_EXIT_MMIO.
        mov dword ptr [DEV_SCRATCH], 0x1badc0de
        mov esi, offset s_scratch
        call puts
        mov eax, [DEV_SCRATCH]          # VM exit: KVM_EXIT_MMIO (read, 0xd0000004, len 4)
        call print_hex32
        call newline

        # --- COUNTER, twice. Two identical instructions, two different answers: that is a
        # device, not memory. Each read is one KVM_EXIT_MMIO (read, 0xd0000008, len 4).
        mov esi, offset s_counter
        call puts
        mov eax, [DEV_COUNTER]
        call print_hex32
        call newline
        mov esi, offset s_counter
        call puts
        mov eax, [DEV_COUNTER]
        call print_hex32
        call newline

        # --- DOORBELL. VM exit: KVM_EXIT_MMIO (write, 0xd000000c, len 4, data 1).
        mov dword ptr [DEV_DOORBELL], 1
        mov esi, offset s_doorbell
        call puts

        # --- Unassigned. VM exit: KVM_EXIT_MMIO (read, 0xe0000000, len 4). No device answers,
        # so the VMM returns all-ones, as an empty bus does on a PC.
        mov esi, offset s_unassigned
        call puts
        mov eax, [UNASSIGNED]
        call print_hex32
        mov esi, offset s_nothing
        call puts

        mov esi, offset m_done
        call mark
halt:
        cli
        hlt                             # VM exit: KVM_EXIT_HLT with IF = 0: the run ends
        jmp halt

# ---------------------------------------------------------------- 32-bit helpers

# putc: AL to the UART. VM exit: KVM_EXIT_IO (out, port 0x3f8, size 1).
putc:
        push edx
        mov dx, UART
        out dx, al
        pop edx
        ret

newline:
        mov al, '\n'
        jmp putc

# puts: the 0-terminated string at ESI to the UART.
puts:
        lodsb
        test al, al
        jz 1f
        call putc
        jmp puts
1:      ret

# mark: the 0-terminated string at ESI to debugcon (port 0xe9): a trace marker.
mark:
        mov dx, DEBUGCON
1:      lodsb
        test al, al
        jz 2f
        out dx, al                      # VM exit: KVM_EXIT_IO (out, port 0xe9, size 1)
        jmp 1b
2:      ret

# print_hex32: EAX as 8 hex digits, most significant first.
print_hex32:
        push ecx
        push edx
        mov edx, eax
        mov ecx, 8
1:      rol edx, 4                      # bring the next nibble to the bottom
        mov al, dl
        and al, 0x0f
        add al, '0'
        cmp al, '9'
        jbe 2f
        add al, 'a' - '0' - 10
2:      call putc
        loop 1b
        pop edx
        pop ecx
        ret

# ---------------------------------------------------------------- 16-bit helper

        .code16
mark16:
        mov dx, DEBUGCON
1:      lodsb
        test al, al
        jz 2f
        out dx, al                      # VM exit: KVM_EXIT_IO (out, port 0xe9, size 1)
        jmp 1b
2:      ret

# ---------------------------------------------------------------- data

        .balign 8
# The Global Descriptor Table. Each 8-byte descriptor packs base, limit and flags:
#   0x00cf9a000000ffff: base 0, limit 0xfffff x 4 KiB = 4 GiB, present, ring 0, code, 32-bit
#   0x00cf92000000ffff: the same, but a writable data segment
gdt:
        .quad 0                         # entry 0: the null descriptor (required)
        .quad 0x00cf9a000000ffff        # selector 0x08: flat 32-bit code
        .quad 0x00cf92000000ffff        # selector 0x10: flat 32-bit data
gdt_end:
gdt_descriptor:
        .word gdt_end - gdt - 1         # limit: size of the table minus one
        .long gdt                       # linear base address

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
