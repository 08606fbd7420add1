/*
 * qemu-bios/reset.S — a firmware-free 64 KiB `-bios` image that lets real QEMU run a kvmscope
 * guest under the same machine contract as our VMM (real mode, CS:IP = 0000:7c00, every segment
 * base 0, EFLAGS = 0x2, every general register 0).
 *
 * Why a wrapper at all: QEMU starts the bootstrap processor (BSP) at the x86 power-on state,
 * CS.base = 0xffff0000, IP = 0xfff0 (the last 16 bytes of the BIOS ROM), and keeps every other
 * vCPU in "wait for SIPI", as a real PC does. kvmscope instead puts every vCPU at 0000:7c00. So:
 *
 *   1. the reset vector (offset 0xfff0) jumps to bsp_entry;
 *   2. the BSP copies the guest image, stored in this ROM at PAYLOAD, to guest-physical 0x7c00;
 *   3. the BSP puts its local APIC in virtual-wire mode, as a PC BIOS leaves it, so the 8259 PIC
 *      interrupts it (our VMM wires the PIC to vCPU 0); with more than one vCPU it then wakes the
 *      others the way a PC BIOS does: an INIT IPI, then two STARTUP IPIs, vector 0xf0, so each
 *      application processor (AP) starts in real mode at F000:0000 = physical 0xf0000 = offset 0
 *      of this 64 KiB ROM. With QEMU's userspace local APIC (`--irqchip user`) these stores are
 *      the first KVM_EXIT_MMIO exits of a trace (0xfee000f0 read and write, 0xfee00350, then the
 *      IPIs at 0xfee00300): ours, before the guest's first instruction;
 *   4. every vCPU clears its registers and far-jumps to 0000:7c00.
 *
 * The local APIC's registers live at 0xfee00000, above what real mode can address. The BSP uses
 * "unreal mode" for the few stores it needs: it sets CR0.PE for two instructions, loads DS from a
 * flat 4 GiB data descriptor, clears PE again; DS keeps the 4 GiB limit in its hidden part until
 * it is loaded in protected mode again, which we do with a 64 KiB descriptor before the guest runs.
 *
 * Every descriptor below has its "accessed" bit set already: the GDT lives in this ROM, and a CPU
 * that had to set the bit itself would write to ROM (under KVM an MMIO write QEMU drops, retried
 * for ever).
 *
 * The build (guests/build.mjs) assembles this once into guests/build/qemu-bios.bin; the VMM
 * (apps/vmm/src/qemu/bios-image.ts) copies it, writes the guest's bytes at PAYLOAD, their count
 * in the 16-bit word at offset 0x10 and the wake flag at 0x12, and hands the result to `-bios`.
 * Nothing here makes a VM exit to QEMU's userspace except what the guest itself does, so a trace
 * of QEMU shows the guest's exits, not ours.
 */
        .code16
        .intel_syntax noprefix

        .set PAYLOAD, 0x1000            # where the guest's bytes are in this ROM (F000:1000)
        .set BOOT, 0x7c00               # where the guest runs (the kvmscope contract)
        .set LAPIC_SVR, 0xfee000f0      # spurious-interrupt vector register: bit 8 enables the APIC
        .set LAPIC_ICR_LO, 0xfee00300   # interrupt command register, low word: writing it sends
        .set ICR_INIT_OTHERS, 0x000c4500    # INIT, level assert, to all excluding self
        .set ICR_SIPI_OTHERS, 0x000c46f0    # STARTUP, vector 0xf0 (AP starts at F000:0000)
        .set LAPIC_LVT_LINT0, 0xfee00350    # local vector table entry of the LINT0 pin
        .set LVT_EXTINT, 0x700              # delivery mode ExtINT, not masked

        .section .text, "ax"
        .globl _start
_start:
/* Offset 0: where every application processor starts after the STARTUP IPI (CS = 0xf000). */
ap_entry:
        cli
        jmp     to_guest

        .org    0x10
payload_bytes:  .word 0                 # written by the VMM: the guest image's length
wake_aps:       .byte 0                 # written by the VMM: 1 if QEMU runs more than one vCPU

        .p2align 3
gdt:    .quad   0                       # null descriptor
        .quad   0x00cf93000000ffff      # 0x08: data, base 0, limit 4 GiB, writable, accessed
        .quad   0x000093000000ffff      # 0x10: data, base 0, limit 64 KiB (real mode's), accessed
        .quad   0x00009b0f0000ffff      # 0x18: 16-bit code, base 0xf0000 (this ROM), 64 KiB, accessed
gdt_end:
gdt_desc:
        .word   gdt_end - gdt - 1
        .long   0xf0000 + gdt           # linear address: this ROM is seen at 0xf0000

/* The BSP, from the reset vector. */
bsp_entry:
        cli
        cld
        mov     ax, 0xf000
        mov     ds, ax                  # DS:SI = the payload in this ROM
        xor     ax, ax
        mov     es, ax                  # ES:DI = guest-physical 0x7c00
        mov     si, PAYLOAD
        mov     di, BOOT
        mov     cx, [payload_bytes]
        rep     movsb

        lgdt    [gdt_desc]
        mov     bx, 0x08                # DS: base 0, limit 4 GiB (kept after PE is cleared)
        call    load_ds                 # back in real mode with an "unreal" DS

        mov     ebx, LAPIC_SVR
        or      dword ptr [ebx], 0x100  # software-enable the local APIC (LVT masks stick otherwise)
        # Virtual-wire mode, as a PC BIOS leaves it: the 8259's INTR reaches the BSP through its
        # LINT0 pin as an external interrupt (our VMM wires the PIC to vCPU 0 the same way).
        mov     ebx, LAPIC_LVT_LINT0
        mov     dword ptr [ebx], LVT_EXTINT

        # Wake the other vCPUs, only if there are any: with QEMU's userspace local APIC
        # (kernel-irqchip=off) every store to the APIC is a KVM_EXIT_MMIO of ours, not the guest's.
        cmp     byte ptr cs:[wake_aps], 0   # DS is the flat 4 GiB one here
        je      apic_done
        mov     ebx, LAPIC_ICR_LO
        mov     dword ptr [ebx], ICR_INIT_OTHERS
        call    settle
        mov     dword ptr [ebx], ICR_SIPI_OTHERS
        call    settle
        mov     dword ptr [ebx], ICR_SIPI_OTHERS    # the second STARTUP, as the MP spec says
        call    settle
apic_done:

        # DS back to a 64 KiB limit, so the guest sees exactly the state the contract promises.
        mov     bx, 0x10
        call    load_ds
        lgdt    cs:[reset_gdt]          # GDTR as at power-on: base 0, limit 0xffff


/* Every vCPU: the contract's register state, then the guest's first instruction. */
to_guest:
        xor     eax, eax
        mov     ds, ax
        mov     es, ax
        mov     fs, ax
        mov     gs, ax
        mov     ss, ax
        xor     ebx, ebx
        xor     ecx, ecx
        xor     edx, edx
        xor     esi, esi
        xor     edi, edi
        xor     ebp, ebp
        xor     esp, esp
        push    0                       # one word below SP 0 wraps to 0xfffe: popped at once
        popf                            # EFLAGS = 0x2 (bit 1 always reads 1)
        xor     esp, esp
        ljmp    0x0000, BOOT

/* Loads DS from descriptor BX in protected mode and comes back to real mode: the hidden base
 * and limit stay what the descriptor said until DS is loaded in protected mode again. CS is
 * reloaded on the way in and out (the CPU must not run protected-mode code with a real-mode CS). */
load_ds:
        mov     eax, cr0
        or      al, 1
        mov     cr0, eax
        ljmp    0x18, 1f                # 16-bit protected-mode code, same offsets
1:      mov     ds, bx
        and     al, 0xfe
        mov     cr0, eax
        ljmp    0xf000, 2f              # real mode again
2:      ret

/* A short wait between IPIs; in a VM the IPIs are delivered at once, this keeps real-PC order. */
settle:
        mov     ecx, 0x100
1:      loop    1b
        ret

reset_gdt:
        .word   0xffff
        .long   0

/* The reset vector: the first instruction the BSP runs (CS.base 0xffff0000, IP 0xfff0). */
        .org    0xfff0
        ljmp    0xf000, bsp_entry
        .org    0x10000
