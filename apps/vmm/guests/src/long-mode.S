/*
 * long-mode — from 16-bit real mode to 64-bit long mode, the way every x86-64 kernel boots.
 *
 * The walk (each step is what the CPU requires before the next):
 *   1. real mode        -> load a GDT, set CR0.PE, far-jump      -> 32-bit protected mode
 *   2. protected mode   -> build 4-level page tables mapping 0..2 MiB to itself with one 2 MiB
 *                          page, CR4.PAE = 1, CR3 = the top table, EFER.LME = 1 (wrmsr),
 *                          CR0.PG = 1                             -> IA-32e compatibility mode
 *   3. compatibility    -> far-jump to a code segment whose L bit is set -> 64-bit long mode
 * Then it prints "Hello from 64-bit long mode", EFER (now with LMA, "long mode active", set by
 * the CPU itself) and 20! = 2432902008176640000, a number that needs 62 bits: only a 64-bit
 * register holds it, and `imul`/`div` on RAX do the whole computation and the decimal printing.
 *
 * What to look for in the trace: none of the mode switches is an exit. CR0/CR3/CR4 writes,
 * lgdt, the far jumps and even wrmsr to EFER are handled by KVM (on VMX/SVM largely by the CPU
 * itself) without returning to the VMM. The only exits are port output — the debugcon markers
 * on 0xe9 that label each phase and the text on 0x3f8 — and the final KVM_EXIT_HLT. The markers
 * are the only way to see the switches at all.
 *
 * Entry: real mode, CS:IP = 0000:7c00, EFLAGS = 0x2 (IF = 0), registers 0, segment bases 0.
 */
        .intel_syntax noprefix
        .set UART, 0x3f8
        .set DEBUGCON, 0xe9
        .set PML4, 0x1000               # page-map level 4   (the table CR3 points to)
        .set PDPT, 0x2000               # page-directory-pointer table
        .set PD,   0x3000               # page directory: entry 0 maps a 2 MiB page at 0
        .set MSR_EFER, 0xc0000080
        .set EFER_LME, 1 << 8           # long mode enable (we set it)
        .set CR0_PE, 1 << 0
        .set CR0_PG, 1 << 31
        .set CR4_PAE, 1 << 5

        .code16
        .section .text.start, "ax"
        .globl _start
_start:
        cli                             # IF is 0 since reset; we have no IDT for any mode anyway
        xor ax, ax
        mov ss, ax
        mov sp, 0x7c00
        cld
        mov si, offset m_real
        call mark16                     # "real mode: entering protected mode"

        # --- Step 1: protected mode.
        lgdt [gdt_descriptor]
        mov eax, cr0
        or eax, CR0_PE
        mov cr0, eax
        ljmp 0x08, offset pm32          # CS = 0x08: 32-bit code; the CPU now decodes 32-bit

        .code32
pm32:
        mov ax, 0x10                    # flat data for every data segment
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov esp, 0x7c00
        mov esi, offset m_pm
        call mark32                     # "32-bit protected mode: building page tables"

        # --- Step 2: paging structures. RAM is zero, so only three entries need writing.
        # Bits: 0x1 present, 0x2 writable, 0x80 (in a PD entry) "page size": a 2 MiB page.
        mov dword ptr [PML4], PDPT | 0x3        # PML4[0] -> PDPT
        mov dword ptr [PDPT], PD | 0x3          # PDPT[0] -> PD
        mov dword ptr [PD], 0x0 | 0x83          # PD[0]   -> 2 MiB page at physical 0
        # Guest-virtual 0..2 MiB now maps to guest-physical 0..2 MiB: the code keeps running at
        # the same addresses once paging is on.

        mov esi, offset m_paging
        call mark32                     # "enabling PAE, EFER.LME and paging"

        mov eax, cr4
        or eax, CR4_PAE                 # long mode requires PAE-format (64-bit) page entries
        mov cr4, eax
        mov eax, PML4
        mov cr3, eax                    # the root of the page tables

        mov ecx, MSR_EFER               # EFER is a model-specific register: rdmsr/wrmsr
        rdmsr                           # EDX:EAX = EFER
        or eax, EFER_LME
        wrmsr                           # long mode *enabled*, not yet *active*

        mov eax, cr0
        or eax, CR0_PG                  # paging on: with LME set, the CPU sets EFER.LMA and
        mov cr0, eax                    # is now in IA-32e "compatibility mode" (still 32-bit code)

        # --- Step 3: a far jump to a code segment with L = 1 makes the CPU decode 64-bit code.
        ljmp 0x18, offset lm64

        .code64
lm64:
        mov ax, 0x10                    # data segments are mostly ignored in 64-bit mode
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov rsp, 0x7c00
        lea rsi, [rip + m_lm]           # RIP-relative addressing: new in 64-bit mode
        call mark64                     # "64-bit long mode"

        lea rsi, [rip + s_hello]
        call puts                       # "Hello from 64-bit long mode\n"

        # EFER now reads 0x500: LME (bit 8, ours) and LMA (bit 10, set by the CPU).
        lea rsi, [rip + s_efer]
        call puts
        mov ecx, MSR_EFER
        rdmsr
        shl rdx, 32
        or rax, rdx
        call print_hex64
        lea rsi, [rip + s_efer_tail]
        call puts

        # 20! with 64-bit multiplies: 2432902008176640000 = 0x21c3677c82b40000.
        mov eax, 1                      # writing EAX zero-extends into RAX
        mov ecx, 1
1:      imul rax, rcx                   # RAX *= RCX, all 64 bits
        inc ecx
        cmp ecx, 20
        jbe 1b
        mov rbx, rax
        lea rsi, [rip + s_fact]
        call puts
        mov rax, rbx
        call print_dec64
        lea rsi, [rip + s_fact_hex]
        call puts
        mov rax, rbx
        call print_hex64
        lea rsi, [rip + s_fact_tail]
        call puts

        lea rsi, [rip + m_done]
        call mark64
halt:
        cli
        hlt                             # VM exit: KVM_EXIT_HLT with IF = 0: the run ends
        jmp halt

# ---------------------------------------------------------------- 64-bit helpers

putc:                                   # AL -> UART. VM exit: KVM_EXIT_IO (out, 0x3f8, size 1)
        push rdx
        mov dx, UART
        out dx, al
        pop rdx
        ret

puts:                                   # 0-terminated string at RSI -> UART
        lodsb
        test al, al
        jz 1f
        call putc
        jmp puts
1:      ret

mark64:                                 # 0-terminated string at RSI -> debugcon: a marker
        mov dx, DEBUGCON
1:      lodsb
        test al, al
        jz 2f
        out dx, al                      # VM exit: KVM_EXIT_IO (out, port 0xe9, size 1)
        jmp 1b
2:      ret

print_hex64:                            # RAX as 16 hex digits
        push rcx
        push rdx
        mov rdx, rax
        mov ecx, 16
1:      rol rdx, 4
        mov al, dl
        and al, 0x0f
        add al, '0'
        cmp al, '9'
        jbe 2f
        add al, 'a' - '0' - 10
2:      call putc
        loop 1b
        pop rdx
        pop rcx
        ret

print_dec64:                            # RAX (unsigned) in decimal, up to 20 digits
        mov ecx, 10
        xor r8d, r8d                    # R8: digit count (R8-R15 exist only in 64-bit mode)
1:      xor edx, edx
        div rcx                         # RDX:RAX / 10 -> RAX quotient, RDX remainder
        push rdx
        inc r8
        test rax, rax
        jnz 1b
2:      pop rax
        add al, '0'
        call putc
        dec r8
        jnz 2b
        ret

# ---------------------------------------------------------------- 32-bit and 16-bit helpers

        .code32
mark32:
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

# ---------------------------------------------------------------- data

        .balign 8
gdt:
        .quad 0                         # 0x00: null descriptor
        .quad 0x00cf9a000000ffff        # 0x08: 32-bit code (D = 1), flat, ring 0
        .quad 0x00cf92000000ffff        # 0x10: data, flat, writable
        .quad 0x00af9a000000ffff        # 0x18: 64-bit code: L = 1 (bit 53), D = 0, ring 0
gdt_end:
gdt_descriptor:
        .word gdt_end - gdt - 1
        .long gdt

s_hello:        .asciz "Hello from 64-bit long mode\n"
s_efer:         .asciz "EFER = 0x"
s_efer_tail:    .asciz " (LME: long mode enabled, LMA: long mode active)\n"
s_fact:         .asciz "20! = "
s_fact_hex:     .asciz " = 0x"
s_fact_tail:    .asciz " (62 bits: needs a 64-bit register)\n"
m_real:         .asciz "real mode: entering protected mode\n"
m_pm:           .asciz "32-bit protected mode: building page tables\n"
m_paging:       .asciz "enabling PAE, EFER.LME and paging\n"
m_lm:           .asciz "64-bit long mode\n"
m_done:         .asciz "long-mode guest done\n"
