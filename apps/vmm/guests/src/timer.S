/*
 * timer — hardware interrupts: the 8254 PIT ticks at 100 Hz, the 8259A PIC turns each tick into
 * IRQ0, and the CPU runs our handler. Five ticks, then the guest stops.
 *
 * Set-up, all through port I/O:
 *   - the real-mode interrupt vector table (IVT, at address 0): entry 0x20 -> irq0_handler;
 *   - the master PIC (ports 0x20/0x21) and the slave (0xa0/0xa1) are initialised with ICW1-ICW4
 *     so that IRQ0..7 arrive as vectors 0x20..0x27 (and 8..15 as 0x28..0x2f), and every IRQ
 *     line except IRQ0 is masked;
 *   - PIT channel 0 (ports 0x40/0x43): mode 2 (rate generator), reload 11932 = 1193182 Hz / 100.
 * Then the guest waits, interrupts still disabled, until the PIC reports IRQ0 pending in its
 * Interrupt Request Register, and only then enables interrupts with `sti`. From there on it
 * sleeps in `hlt`, and each tick wakes it: the handler prints "tick <n>" and acknowledges the
 * interrupt with an EOI. After the fifth tick: "done", and a final halt with interrupts off.
 *
 * The console shows exactly:  tick 1 / tick 2 / tick 3 / tick 4 / tick 5 / done  (one a line)
 *
 * What to look for in the trace depends on where the interrupt controllers live.
 *   Userspace irqchip (kvmscope's default; the PIC and PIT are TypeScript in the VMM):
 *   - KVM_EXIT_IO for every PIC/PIT port access (ports 0x20, 0x21, 0xa0, 0xa1, 0x40, 0x43).
 *   - KVM_EXIT_IO in 0x20, repeated: polling the IRR. When the PIT fires, the VMM's PIC has an
 *     interrupt for the CPU, but RFLAGS.IF = 0: kvm_run.ready_for_interrupt_injection is 0. So
 *     the VMM sets kvm_run.request_interrupt_window = 1 and runs the guest on.
 *   - KVM_EXIT_IRQ_WINDOW_OPEN soon after the guest's `sti`: the guest can now take an
 *     interrupt, and the VMM injects vector 0x20 with the KVM_INTERRUPT ioctl.
 *   - Then, per tick: KVM_EXIT_HLT (the guest sleeps; the VMM waits for its PIT to fire and
 *     then injects with KVM_INTERRUPT), the handler's output (out 0x3f8) and its EOI (out 0x20).
 *     (qemu-kvm 0.14: in kvm_run, request_interrupt_window = kvm_arch_try_push_interrupts(env),
 *     qemu-kvm.c:570, which calls kvm_inject_irq -> KVM_INTERRUPT; !kvm_irqchip_in_kernel().)
 *   In-kernel irqchip (KVM_CREATE_IRQCHIP + KVM_CREATE_PIT2): KVM itself emulates the PIC, the
 *   PIT and the local APIC; with every interrupt source inside KVM, a HLT can wait there too.
 *   The PIC/PIT port accesses, the IRR polling, the HLTs and the interrupt injection all stay
 *   inside the kernel: the trace keeps only the UART output and
 *   the markers. The guest is the same; only the exits differ.
 *
 * Entry: real mode, CS:IP = 0000:7c00, EFLAGS = 0x2 (IF = 0), registers 0, segment bases 0.
 */
        .code16
        .intel_syntax noprefix
        .include "lib/uart.S"           # putc, puts: text to the UART (port 0x3f8)
        .include "lib/debugcon.S"       # mark: trace markers on port 0xe9
        .include "lib/stack.S"          # real_mode_stack

        .set PIC1_CMD, 0x20             # master 8259A: command/status
        .set PIC1_DATA, 0x21            # master 8259A: data (ICW2-4, mask register IMR)
        .set PIC2_CMD, 0xa0             # slave 8259A
        .set PIC2_DATA, 0xa1
        .set PIT_CH0, 0x40              # 8254 channel 0 counter (wired to IRQ0)
        .set PIT_CMD, 0x43              # 8254 mode/command register
        .set VECTOR_BASE, 0x20          # IRQ0 -> vector 0x20 (0..0x1f are CPU exceptions)
        .set PIT_HZ, 1193182            # the PC's PIT input clock
        .set TICK_HZ, 100
        .set PIT_RELOAD, (PIT_HZ + TICK_HZ / 2) / TICK_HZ  # 11932: about 10 ms per IRQ0
        .set TICKS_WANTED, 5
        .set EOI, 0x20                  # OCW2: non-specific end of interrupt

        .section .text.start, "ax"
        .globl _start
_start:
        cli                             # IF = 0 since reset; said explicitly
        # Interrupts push FLAGS, CS, IP: we need a stack.
        real_mode_stack                 # SS:SP = 0000:7c00 (and AX = 0); plain RAM, no exits to the VMM
        mov ds, ax                      # DS = 0: the IVT and our variables, by address
        cld

        # ---- 1. The IVT entry. In real mode vector v's handler address (offset, then
        # segment) is at physical v*4. Plain RAM writes: no exits.
        mov si, offset m_ivt            # "IVT: vector 0x20 -> IRQ0 handler\n"
        call mark                       # marker: one KVM_EXIT_IO (out 0xe9) per byte
        mov word ptr [VECTOR_BASE * 4], offset irq0_handler
        mov word ptr [VECTOR_BASE * 4 + 2], 0

        # ---- 2. Initialise both PICs. Every `out` below is a KVM_EXIT_IO with a userspace
        # irqchip (ports 0x20/0x21/0xa0/0xa1); with the in-kernel irqchip KVM handles them.
        mov si, offset m_pic            # "PIC: IRQ0-7 -> vectors 0x20-0x27, only IRQ0 unmasked\n"
        call mark                       # marker: one KVM_EXIT_IO (out 0xe9) per byte
        mov al, 0x11                    # ICW1: edge triggered, cascaded, ICW4 follows
        out PIC1_CMD, al
        out PIC2_CMD, al
        mov al, VECTOR_BASE             # ICW2: vector base of the master (IRQ0..7 -> 0x20..0x27)
        out PIC1_DATA, al
        mov al, VECTOR_BASE + 8         # ICW2: vector base of the slave (IRQ8..15 -> 0x28..0x2f)
        out PIC2_DATA, al
        mov al, 0x04                    # ICW3 (master): a slave hangs on IRQ2 (bit 2)
        out PIC1_DATA, al
        mov al, 0x02                    # ICW3 (slave): its cascade identity is 2
        out PIC2_DATA, al
        mov al, 0x01                    # ICW4: 8086/88 mode, normal (not automatic) EOI
        out PIC1_DATA, al
        out PIC2_DATA, al
        mov al, 0xfe                    # OCW1 (IMR): mask every IRQ except IRQ0 (bit 0 clear)
        out PIC1_DATA, al
        mov al, 0xff                    # OCW1: mask every IRQ on the slave
        out PIC2_DATA, al

        # ---- 3. PIT channel 0: 100 Hz. From the second byte on, it counts down and raises
        # IRQ0 at every wrap.
        mov si, offset m_pit            # "PIT: channel 0 at 100 Hz\n"
        call mark                       # marker: one KVM_EXIT_IO (out 0xe9) per byte
        mov al, 0x34                    # channel 0, access lobyte then hibyte, mode 2, binary
        out PIT_CMD, al
        mov al, PIT_RELOAD & 0xff
        out PIT_CH0, al
        mov al, PIT_RELOAD >> 8
        out PIT_CH0, al

        # ---- 4. Wait, with interrupts still disabled, until IRQ0 is pending at the PIC.
        # OCW3 0x0a selects the Interrupt Request Register for reads of port 0x20. Each read
        # is a KVM_EXIT_IO (in, port 0x20) with a userspace irqchip. Once the PIT has fired, the
        # VMM holds an interrupt it cannot inject (IF = 0) and asks KVM for an interrupt window.
        # The poll gives up after 65535 reads, so a PIC without IRR reads cannot hang us here.
        mov si, offset m_wait           # "waiting for IRQ0 with interrupts off\n"
        call mark                       # marker: one KVM_EXIT_IO (out 0xe9) per byte
        mov al, 0x0a
        out PIC1_CMD, al
        mov cx, 0xffff
1:      in al, PIC1_CMD                 # AL = IRR: bit 0 = IRQ0 requested
        test al, 1
        loopz 1b                        # again while bit 0 is clear (and CX not exhausted)

        mov si, offset m_sti            # "sti\n"
        call mark                       # marker: one KVM_EXIT_IO (out 0xe9) per byte
        # `sti` takes effect after the NEXT instruction (the one-instruction "STI shadow"); from
        # then on the interrupt window is open. With a userspace irqchip, KVM sees the window the VMM asked
        # for and returns KVM_EXIT_IRQ_WINDOW_OPEN; the VMM injects vector 0x20 with
        # KVM_INTERRUPT, and the CPU pushes FLAGS, CS, IP, clears IF and enters irq0_handler:
        # tick 1. On VMX/SVM that happens right after the `mov cx` (the instruction in the
        # shadow).
        # Why a busy loop with interrupts on, rather than just `sti; nop`: a software KVM
        # backend such as kvm-pvm emulates this code in batches of ~1000 instructions and only
        # checks for an open window between batches. Keeping IF = 1 for 4096 instructions
        # makes sure it notices; otherwise the tick would only be injected at the next HLT
        # exit (correct too, but the KVM_EXIT_IRQ_WINDOW_OPEN would never show).
        sti
        mov cx, 4096
1:      loop 1b                         # no exits: pure computation with IF = 1

        # ---- 5. Sleep between ticks. The check runs with interrupts off, then `sti; hlt`:
        # the STI shadow covers the hlt, so a tick cannot slip in between the check and the
        # hlt (which would sleep through it). The tick wakes the hlt, the handler runs, and
        # execution continues after the hlt.
wait_tick:
        cli
        cmp byte ptr [ticks], TICKS_WANTED
        jae finished
        sti
        # VM exit (userspace irqchip): KVM_EXIT_HLT. The VMM waits for its PIT to fire, then
        # injects vector 0x20 with KVM_INTERRUPT and calls KVM_RUN again.
        hlt
        jmp wait_tick

finished:
        # IF = 0 here. Mask IRQ0 too, so that the PIC has nothing pending for the CPU any more:
        # the VMM sees a vCPU that is halted with nothing that could ever wake it.
        mov al, 0xff
        out PIC1_DATA, al
        mov si, offset s_done
        call puts                       # UART: "done\n", KVM_EXIT_IO (out 0x3f8) per byte
        mov si, offset m_done           # "5 ticks: done\n"
        call mark                       # marker: one KVM_EXIT_IO (out 0xe9) per byte
halt:
        cli
        # Exit to the VMM: KVM_EXIT_HLT with IF = 0 (userspace irqchip): the run ends. With the
        # in-kernel irqchip the vCPU stays halted inside KVM_RUN instead (no exit); the VMM
        # notices a halted vCPU with IF = 0 on its own.
        hlt
        jmp halt

# ---- The IRQ0 handler. The CPU arrives here with FLAGS, CS and IP pushed and IF = 0.
irq0_handler:
        push ax
        push dx
        push si
        inc byte ptr [ticks]
        mov si, offset s_tick
        call puts                       # UART: "tick ", KVM_EXIT_IO (out 0x3f8) per byte
        mov al, [ticks]
        add al, '0'                     # 1..5: a single digit
        call putc                       # UART: the digit, one KVM_EXIT_IO (out 0x3f8)
        mov al, '\n'
        call putc                       # UART: '\n', one KVM_EXIT_IO (out 0x3f8)
        # End Of Interrupt: without it the PIC keeps IRQ0 "in service" and never delivers it
        # again. With a userspace irqchip: KVM_EXIT_IO (out, port 0x20, data 0x20).
        mov al, EOI
        out PIC1_CMD, al
        pop si
        pop dx
        pop ax
        iret                            # pops IP, CS, FLAGS (IF = 1 again): back to the hlt

# The shared helpers (lib/), assembled here as 16-bit real-mode code. The handler calls them
# too, with interrupts off (IF = 0 inside a handler), so a tick cannot re-enter them.
        # putc: AL -> UART. One KVM_EXIT_IO (out 0x3f8, size 1).
        uart_putc_routine putc, 16
        # puts: the string at SI -> UART. One KVM_EXIT_IO (out 0x3f8) per byte.
        write_string_routine puts, UART_DATA
        # mark: the string at SI -> a trace marker. One KVM_EXIT_IO (out 0xe9) per byte.
        write_string_routine mark, DEBUGCON

ticks:          .byte 0
s_tick:         .asciz "tick "
s_done:         .asciz "done\n"
m_ivt:          .asciz "IVT: vector 0x20 -> IRQ0 handler\n"
m_pic:          .asciz "PIC: IRQ0-7 -> vectors 0x20-0x27, only IRQ0 unmasked\n"
m_pit:          .asciz "PIT: channel 0 at 100 Hz\n"
m_wait:         .asciz "waiting for IRQ0 with interrupts off\n"
m_sti:          .asciz "sti\n"
m_done:         .asciz "5 ticks: done\n"
