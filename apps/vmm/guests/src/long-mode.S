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
 * What to look for in the trace: none of the mode switches is an exit to the VMM. They do cause
 * VM exits: on VMX a mov to CR0 changing PE or PG and a mov to CR4 setting PAE are
 * control-register exits (the guest owns only CR0.TS/WP), wrmsr to EFER is intercepted, and the
 * first touch of each RAM page is an EPT/NPT fault; KVM handles all of them and resumes the guest
 * without returning from KVM_RUN (its statistics count them). lgdt and the far jumps the CPU does
 * alone. The only exits to the VMM are port output — the debugcon markers on 0xe9 that label each
 * phase and the text on 0x3f8 — and the final KVM_EXIT_HLT. The markers are the only way to see
 * the switches in the trace.
 *
 * Entry: real mode, CS:IP = 0000:7c00, EFLAGS = 0x2 (IF = 0), registers 0, segment bases 0.
 */
        .intel_syntax noprefix
        .include "lib/uart.S"           # putc, puts: text to the UART (port 0x3f8)
        .include "lib/debugcon.S"       # mark16, mark32, mark64: trace markers on port 0xe9
        .include "lib/hex.S"            # print_hex64
        .include "lib/decimal.S"        # print_dec64
        .include "lib/protected-mode.S" # enter_protected_mode, flat_gdt, SEL_CODE64
        .include "lib/stack.S"          # real_mode_stack, STACK_TOP
        .set PML4, 0x1000               # page-map level 4   (the table CR3 points to)
        .set PDPT, 0x2000               # page-directory-pointer table
        .set PD,   0x3000               # page directory: entry 0 maps a 2 MiB page at 0
        .set MSR_EFER, 0xc0000080
        .set EFER_LME, 1 << 8           # long mode enable (we set it)
        .set CR0_PG, 1 << 31
        .set CR4_PAE, 1 << 5

        .code16
        .section .text.start, "ax"
        .globl _start
_start:
        cli                             # IF is 0 since reset; we have no IDT for any mode anyway
        real_mode_stack                 # SS:SP = 0000:7c00 for mark16's call; no exits to the VMM
        cld
        mov si, offset m_real           # "real mode: entering protected mode\n"
        call mark16                     # marker: one KVM_EXIT_IO (out 0xe9) per byte

        # --- Step 1: protected mode. lgdt with the flat GDT below, CR0.PE = 1, and a far jump
        # to selector 0x08 (32-bit code): the CPU now decodes 32-bit code. DS/ES/SS = 0x10
        # (flat data), ESP = 0x7c00. The same switch as mmio and triple-fault make.
        enter_protected_mode            # real mode -> 32-bit protected mode (lib/protected-mode.S)
        .code32                         # (the macro already switched the assembler to 32-bit)

        mov esi, offset m_pm            # "32-bit protected mode: building page tables\n"
        call mark32                     # marker: one KVM_EXIT_IO (out 0xe9) per byte

        # --- Step 2: paging structures. RAM is zero, so only three entries need writing.
        # Bits: 0x1 present, 0x2 writable, 0x80 (in a PD entry) "page size": a 2 MiB page.
        mov dword ptr [PML4], PDPT | 0x3        # PML4[0] -> PDPT
        mov dword ptr [PDPT], PD | 0x3          # PDPT[0] -> PD
        mov dword ptr [PD], 0x0 | 0x83          # PD[0]   -> 2 MiB page at physical 0
        # Guest-virtual 0..2 MiB now maps to guest-physical 0..2 MiB: the code keeps running at
        # the same addresses once paging is on.

        mov esi, offset m_paging        # "enabling PAE, EFER.LME and paging\n"
        call mark32                     # marker: one KVM_EXIT_IO (out 0xe9) per byte

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
        ljmp SEL_CODE64, offset lm64    # selector 0x18: the GDT's 64-bit code descriptor

        .code64
lm64:
        mov ax, SEL_DATA                # data segments are mostly ignored in 64-bit mode
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov rsp, STACK_TOP              # the same stack, now addressed through RSP
        lea rsi, [rip + m_lm]           # RIP-relative addressing: new in 64-bit mode
        call mark64                     # marker: one KVM_EXIT_IO (out 0xe9) per byte

        lea rsi, [rip + s_hello]
        call puts                       # UART: the greeting, KVM_EXIT_IO (out 0x3f8) per byte

        # EFER now reads 0x500: LME (bit 8, ours) and LMA (bit 10, set by the CPU).
        lea rsi, [rip + s_efer]
        call puts                       # UART: "EFER = 0x", KVM_EXIT_IO (out 0x3f8) per byte
        mov ecx, MSR_EFER
        rdmsr
        shl rdx, 32
        or rax, rdx
        call print_hex64                # UART: RAX as 16 hex digits, one KVM_EXIT_IO per digit
        lea rsi, [rip + s_efer_tail]
        call puts                       # UART: the explanation, KVM_EXIT_IO per byte

        # 20! with 64-bit multiplies: 2432902008176640000 = 0x21c3677c82b40000.
        mov eax, 1                      # writing EAX zero-extends into RAX
        mov ecx, 1
1:      imul rax, rcx                   # RAX *= RCX, all 64 bits
        inc ecx
        cmp ecx, 20
        jbe 1b
        mov rbx, rax
        lea rsi, [rip + s_fact]
        call puts                       # UART: "20! = ", KVM_EXIT_IO (out 0x3f8) per byte
        mov rax, rbx                    # (the helpers preserve RBX: 20! stays there)
        call print_dec64                # UART: RAX in decimal, one KVM_EXIT_IO per digit
        lea rsi, [rip + s_fact_hex]
        call puts                       # UART: " = 0x", KVM_EXIT_IO (out 0x3f8) per byte
        mov rax, rbx
        call print_hex64                # UART: RAX as 16 hex digits, one KVM_EXIT_IO per digit
        lea rsi, [rip + s_fact_tail]
        call puts                       # UART: the explanation, KVM_EXIT_IO per byte

        lea rsi, [rip + m_done]         # "long-mode guest done\n"
        call mark64                     # marker: one KVM_EXIT_IO (out 0xe9) per byte
halt:
        cli
        hlt                             # Exit to the VMM: KVM_EXIT_HLT with IF = 0: the run ends
        jmp halt

# ---------------------------------------------------------------- helpers

# The shared helpers (lib/), assembled once per mode their callers run in. In 64-bit mode they
# use the 64-bit registers: print_dec64 divides all of RDX:RAX by 10 with one `div`.
        # putc: AL -> UART. One KVM_EXIT_IO (out 0x3f8, size 1).
        uart_putc_routine putc, 64
        # puts: the string at RSI -> UART. One KVM_EXIT_IO (out 0x3f8) per byte.
        write_string_routine puts, UART_DATA
        # mark64: the string at RSI -> a trace marker. One KVM_EXIT_IO (out 0xe9) per byte.
        write_string_routine mark64, DEBUGCON
        # print_hex64: RAX as 16 hex digits, via putc. One KVM_EXIT_IO (out 0x3f8) per digit.
        print_hex_routine print_hex64, 64
        # print_dec64: RAX in decimal, via putc. One KVM_EXIT_IO (out 0x3f8) per digit.
        print_decimal_routine print_dec64, 64

        .code32
        # mark32: the string at ESI -> a trace marker. One KVM_EXIT_IO (out 0xe9) per byte.
        write_string_routine mark32, DEBUGCON

        .code16
        # mark16: the string at SI -> a trace marker. One KVM_EXIT_IO (out 0xe9) per byte.
        write_string_routine mark16, DEBUGCON

# ---------------------------------------------------------------- data

        flat_gdt code64=1               # the GDT: null, 32-bit code, data, 64-bit code (0x18)

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
