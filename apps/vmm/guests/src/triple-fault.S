/*
 * triple-fault — what happens when the CPU cannot even report an error.
 *
 * The guest enters 32-bit protected mode, then loads an Interrupt Descriptor Table with limit 0:
 * there is no valid entry for any exception. Then it executes `ud2`, an instruction defined to
 * be invalid:
 *   1. ud2 raises #UD (vector 6). The CPU looks up IDT entry 6: it lies beyond the IDT limit,
 *      which is itself a fault: #GP (vector 13).
 *   2. Delivering #GP needs IDT entry 13: also beyond the limit -> a second fault while
 *      delivering a fault: the CPU escalates to #DF, the double fault (vector 8).
 *   3. IDT entry 8 is beyond the limit too: a fault while delivering #DF is a TRIPLE FAULT. A
 *      real CPU gives up and signals shutdown (on a PC the chipset then resets the machine).
 * KVM models the shutdown as KVM_EXIT_SHUTDOWN: the vCPU cannot continue, and the VMM decides
 * what that means (qemu resets the VM; kvmscope ends the run with the "shutdown" outcome).
 *
 * What to look for in the trace: the debugcon markers (out 0xe9) for each phase, then a single
 * KVM_EXIT_SHUTDOWN. None of the three exceptions is an exit of its own: KVM handles exception
 * delivery internally, and only the final shutdown reaches the VMM.
 *
 * Why not `int3` or real mode: on a software KVM backend (kvm-pvm) `int3` fails emulation
 * (KVM_EXIT_INTERNAL_ERROR) and a real-mode triple fault just hangs; `ud2` in protected mode
 * gives the shutdown on every backend.
 *
 * Entry: real mode, CS:IP = 0000:7c00, EFLAGS = 0x2 (IF = 0), registers 0, segment bases 0.
 */
        .intel_syntax noprefix
        .set DEBUGCON, 0xe9

        .code16
        .section .text.start, "ax"
        .globl _start
_start:
        cli
        xor ax, ax
        mov ss, ax
        mov sp, 0x7c00
        cld
        mov si, offset m_entering
        call mark16                     # "entering protected mode"

        lgdt [gdt_descriptor]           # flat code and data segments (see mmio.S for details)
        mov eax, cr0
        or eax, 1                       # CR0.PE
        mov cr0, eax
        ljmp 0x08, offset pm32          # reload CS: from here on the CPU decodes 32-bit code

        .code32
pm32:
        mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov esp, 0x7c00
        mov esi, offset m_idt
        call mark                       # "loading an empty IDT"

        # IDTR.limit = 0: not even the first 8-byte gate fits, so every vector is out of range.
        lidt [empty_idt]

        mov esi, offset m_fault
        call mark                       # "ud2: #UD -> #GP -> #DF -> triple fault"

        # #UD -> #GP -> #DF -> shutdown, all inside KVM.
        # VM exit: KVM_EXIT_SHUTDOWN. The vCPU never comes back from here.
        ud2

        # Never reached. Should a backend ever deliver something else, halt rather than run
        # into the data below.
halt:
        cli
        hlt
        jmp halt

# mark: the 0-terminated string at ESI to debugcon (port 0xe9): a trace marker.
mark:
        mov dx, DEBUGCON
1:      lodsb
        test al, al
        jz 2f
        out dx, al                      # VM exit: KVM_EXIT_IO (out, port 0xe9, size 1)
        jmp 1b
2:      ret

        .code16
mark16:
        mov dx, DEBUGCON
1:      lodsb
        test al, al
        jz 2f
        out dx, al                      # VM exit: KVM_EXIT_IO (out, port 0xe9, size 1)
        jmp 1b
2:      ret

        .balign 8
gdt:
        .quad 0                         # the null descriptor
        .quad 0x00cf9a000000ffff        # 0x08: flat 32-bit code, ring 0
        .quad 0x00cf92000000ffff        # 0x10: flat 32-bit data, ring 0
gdt_end:
gdt_descriptor:
        .word gdt_end - gdt - 1
        .long gdt
empty_idt:
        .word 0                         # limit 0: no usable gate at all
        .long 0                         # base (irrelevant)

m_entering:     .asciz "entering protected mode\n"
m_idt:          .asciz "loading an empty IDT\n"
m_fault:        .asciz "ud2: #UD -> #GP -> #DF -> triple fault\n"
