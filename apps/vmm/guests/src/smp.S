/*
 * smp — several vCPUs run the same code at the same time and share one UART.
 *
 * The VMM creates N vCPUs (default 4), one thread each, and starts them all at 0000:7c00.
 * Every vCPU runs this very code, so each must first find out who it is: CPUID leaf 1 returns
 * the "initial APIC ID" in EBX[31:24], and the VMM set that to the vCPU index (KVM_SET_CPUID2
 * per vCPU). With it each vCPU picks its own stack, then prints "vCPU <n> is alive\n".
 *
 * The lines must not mix: N vCPUs writing one character at a time may interleave into
 * gibberish. So printing is a critical section guarded by a spinlock in shared RAM. `xchg` with
 * a memory operand is atomic (the CPU locks it implicitly, no `lock` prefix needed): it stores 1
 * and returns the old value in one indivisible step, so exactly one vCPU sees 0 (the lock was
 * free, and now it owns it). The others spin, re-reading the lock with plain loads until it
 * looks free, then try again. Releasing is a plain store of 0.
 *
 * What to look for in the trace: per vCPU, one KVM_EXIT_IO (out, 0x3f8) per byte of its line,
 * never interleaved with another vCPU's line; the debugcon markers (out 0xe9) "lock taken" /
 * "releasing lock" around each line; and one KVM_EXIT_HLT per vCPU. The order of the vCPUs
 * varies from run to run: whoever wins the xchg prints first. CPUID and the spinning cause no
 * exits to the VMM: CPUID is a VM exit KVM answers itself, and the lock lives in RAM (spinning
 * with `pause` on Intel makes PAUSE-loop VM exits, which KVM handles by running another vCPU).
 *
 * Works for any number of vCPUs up to 62 (two-digit indexes are printed as two digits).
 *
 * Entry (every vCPU): real mode, CS:IP = 0000:7c00, EFLAGS = 0x2 (IF = 0), registers 0.
 */
        .code16
        .intel_syntax noprefix
        .include "lib/uart.S"           # putc, puts: text to the UART (port 0x3f8)
        .include "lib/debugcon.S"       # mark: trace markers on port 0xe9
        .include "lib/decimal.S"        # print_decimal
        .include "lib/stack.S"          # STACK_TOP = 0x7c00: stacks grow down from the image...
        .set STACK_SIZE, 0x200          # ...512 bytes per vCPU: vCPU n uses [top-(n+1)*512, top-n*512)

        .section .text.start, "ax"
        .globl _start
_start:
        cli
        cld

        # Who am I? CPUID leaf 1: EBX[31:24] = initial APIC ID = our vCPU index.
        # (On VMX/SVM CPUID traps to KVM, which answers from the table the VMM gave it with
        # KVM_SET_CPUID2: no exit to the VMM.) CPUID clobbers EAX, EBX, ECX, EDX.
        mov eax, 1
        cpuid
        shr ebx, 24
        mov di, bx                      # DI = vCPU index for the rest of the program

        # A stack of our own. Two vCPUs sharing one stack would corrupt each other's return
        # addresses the moment both call a subroutine.
        mov ax, STACK_SIZE
        mul di                          # AX = index * STACK_SIZE (DX = high half, 0)
        xor dx, dx
        mov ss, dx                      # SS = 0 (already, by the contract; made explicit)
        mov sp, STACK_TOP
        sub sp, ax                      # SP = 0x7c00 - index * 512

        call lock_acquire
        # ---- critical section: only one vCPU at a time gets here ----
        mov si, offset m_locked         # "lock taken\n"
        call mark                       # marker: one KVM_EXIT_IO (out 0xe9) per byte
        mov si, offset s_vcpu
        call puts                       # UART: "vCPU ", KVM_EXIT_IO (out 0x3f8) per byte
        mov ax, di
        call print_decimal              # UART: "3", KVM_EXIT_IO (out 0x3f8) per digit
        mov si, offset s_alive
        call puts                       # UART: " is alive\n", KVM_EXIT_IO (out 0x3f8) per byte
        mov si, offset m_unlocking      # "releasing lock\n"
        call mark                       # marker: one KVM_EXIT_IO (out 0xe9) per byte
        # ---- end of the critical section ----
        call lock_release

halt:
        cli
        # Exit to the VMM: KVM_EXIT_HLT. Each vCPU halts on its own; the run ends when all have.
        hlt
        jmp halt

# lock_acquire: spin until we own `lock_byte` (test-and-test-and-set).
lock_acquire:
        mov al, 1
        xchg al, [lock_byte]            # atomically: AL <- old value, lock_byte <- 1
        test al, al
        jz 2f                           # it was 0: the lock is ours
1:      pause                           # a spin-wait hint to the CPU; to KVM a PAUSE-loop VM exit
        cmp byte ptr [lock_byte], 0     # wait with plain reads, which do not bounce the cache
        jne 1b                          # line between CPUs the way repeated xchg would
        jmp lock_acquire
2:      ret

# lock_release: a plain store is enough on x86: stores are not reordered with earlier
# loads and stores, so everything done inside the critical section is visible first.
lock_release:
        mov byte ptr [lock_byte], 0
        ret

# The shared helpers (lib/), assembled here as 16-bit real-mode code. Every vCPU runs this same
# code on its own stack; the helpers keep nothing in memory, so they need no lock of their own.
        # putc: AL -> UART. One KVM_EXIT_IO (out 0x3f8, size 1).
        uart_putc_routine putc, 16
        # puts: the string at SI -> UART. One KVM_EXIT_IO (out 0x3f8) per byte.
        write_string_routine puts, UART_DATA
        # mark: the string at SI -> a trace marker. One KVM_EXIT_IO (out 0xe9) per byte.
        write_string_routine mark, DEBUGCON
        # print_decimal: AX in decimal, via putc. One KVM_EXIT_IO (out 0x3f8) per digit.
        print_decimal_routine print_decimal, 16

s_vcpu:         .asciz "vCPU "
s_alive:        .asciz " is alive\n"
m_locked:       .asciz "lock taken\n"
m_unlocking:    .asciz "releasing lock\n"
lock_byte:      .byte 0                 # the spinlock: 0 = free, 1 = taken (shared by all vCPUs)
