/*
 * lib/protected-mode.S — from 16-bit real mode to 32-bit protected mode with a flat GDT.
 *
 * Real mode addresses memory as segment * 16 + offset with 16-bit offsets: about 1 MiB. To
 * reach anything above (a device at 0xd0000000, page tables for long mode, a proper IDT), a
 * guest switches the CPU to protected mode, where a segment register holds a *selector*: an
 * index into the Global Descriptor Table (GDT), whose 8-byte descriptors give each segment a
 * base, a limit and its kind (code or data, 16/32/64-bit, privilege ring). A "flat" GDT gives
 * base 0 and a 4 GiB limit to every segment, so an offset is simply a physical address.
 *
 * None of this causes an exit to the VMM. lgdt and the far jump the CPU does alone; the write to
 * CR0 that sets PE is a VM exit on VMX (a control-register access), which KVM handles and resumes
 * from without returning from KVM_RUN. Only a guest's debugcon markers around the switch make it
 * visible in a trace (and KVM's statistics, which count every VM exit).
 *
 * Usage (.include "lib/protected-mode.S" once, near the top; it emits no code by itself):
 *
 *   enter_protected_mode
 *       Inline, in .code16 with interrupts disabled (there is no IDT for protected mode):
 *       loads GDTR from gdt_descriptor, sets CR0.PE, far-jumps to load CS with the 32-bit code
 *       selector, then loads DS, ES and SS with the flat data selector and sets ESP = 0x7c00
 *       (the stack grows down below the image). Assembly continues in .code32 after it.
 *       Exits: none. Clobbers EAX.
 *   flat_gdt [code64=1]
 *       Emits the table and its descriptor (labels gdt, gdt_end, gdt_descriptor) where the
 *       guest keeps its data. With code64=1 a fourth descriptor, a 64-bit code segment for
 *       long mode, is added (selector SEL_CODE64).
 */
        .ifndef LIB_PROTECTED_MODE
        .set LIB_PROTECTED_MODE, 1
        .include "lib/stack.S"          # STACK_TOP

        .set CR0_PE, 1 << 0             # CR0 bit 0, Protection Enable
        # Selectors: byte offsets into the GDT (index * 8; the low 3 bits, table indicator and
        # requested privilege level, are 0: GDT, ring 0).
        .set SEL_CODE32, 0x08           # flat 32-bit code
        .set SEL_DATA,   0x10           # flat data, writable
        .set SEL_CODE64, 0x18           # 64-bit code (only with flat_gdt code64=1)

        .macro enter_protected_mode
        # Load GDTR with the table's base and limit. The CPU reads the table only when a
        # segment register is loaded, below.
        lgdt [gdt_descriptor]
        mov eax, cr0
        or eax, CR0_PE                  # protected mode on...
        mov cr0, eax
        # ...but CS still holds a real-mode segment and the CPU still decodes 16-bit code. A
        # far jump loads CS with the 32-bit code selector: from the next instruction on, the
        # CPU decodes 32-bit code.
        ljmp SEL_CODE32, offset .Lprotected_mode\@
        .code32
.Lprotected_mode\@:
        mov ax, SEL_DATA                # flat data (base 0, limit 4 GiB) for every data segment
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov esp, STACK_TOP              # 0x7c00: the stack grows down below the image, as before
        .endm

        .macro flat_gdt code64=0
        .balign 8
# The Global Descriptor Table. Each 8-byte descriptor packs base, limit and flags:
#   0x00cf9a000000ffff: base 0, limit 0xfffff x 4 KiB = 4 GiB, present, ring 0, code, 32-bit
#   0x00cf92000000ffff: the same, but a writable data segment
#   0x00af9a000000ffff: code with L = 1 (bit 53) and D = 0: 64-bit code for long mode
gdt:
        .quad 0                         # entry 0: the null descriptor (required)
        .quad 0x00cf9a000000ffff        # selector 0x08 (SEL_CODE32): flat 32-bit code, ring 0
        .quad 0x00cf92000000ffff        # selector 0x10 (SEL_DATA): flat data, writable, ring 0
        .if \code64
        .quad 0x00af9a000000ffff        # selector 0x18 (SEL_CODE64): 64-bit code, ring 0
        .endif
gdt_end:
gdt_descriptor:                         # the 6 bytes lgdt reads:
        .word gdt_end - gdt - 1         # limit: size of the table minus one
        .long gdt                       # linear base address
        .endm

        .endif
