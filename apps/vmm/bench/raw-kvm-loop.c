// raw-kvm-loop — the smallest VMM that honours kvmscope's machine contract.
//
// It is two things:
//   1. The benchmark baseline: `raw-kvm-loop pio-loop.bin --exits 200000` measures how many
//      KVM_EXIT_IO a bare C `ioctl(KVM_RUN)` loop gets per second on this host. The TypeScript
//      VMM is compared against that number (see /work/shared/design/architecture.md).
//   2. A harness for the teaching guests: it builds exactly the machine a guest is written for,
//      so every guest can be checked without the TypeScript VMM.
//
// The machine (apps/vmm guests rely on exactly this):
//   - RAM at guest-physical 0 (default 16 MiB), zero except the image, which is loaded at 0x7c00.
//   - Every vCPU starts in real mode at CS:IP 0000:7c00, all segment bases 0, EFLAGS = 0x2, all
//     general registers 0. All vCPUs start together (no INIT/SIPI).
//   - CPUID per vCPU: leaf 1 EBX[31:24] (initial APIC ID) = vCPU index.
//   - OUT 0x3f8: a byte to stdout (16550 THR). IN 0x3fd (LSR): 0x60 = transmitter empty, no data.
//     OUT 0xf4 (isa-debug-exit): end the run, exit status (value << 1) | 1, as QEMU does.
//     Every other IN reads all-ones, every other OUT is dropped. MMIO reads all-ones.
//   - HLT, SHUTDOWN (triple fault), INTERNAL_ERROR, FAIL_ENTRY end a vCPU (reason on stderr).
//
// Usage: raw-kvm-loop IMAGE [--exits N] [--irqchip] [--vcpus N] [--mem MIB]
//                           [--timeout SEC] [--trace] [--stdin] [--teaching-device] [--user-pic]
//   --exits N          stop after N exits (all vCPUs together); print, as the last stdout line,
//                      {"exits":N,"seconds":S,"exitsPerSec":R} timed around the run loops only.
//   --irqchip          KVM_CREATE_IRQCHIP + KVM_CREATE_PIT2 before the vCPUs: KVM's in-kernel
//                      8259 PIC pair, IOAPIC, local APICs and 8254 PIT answer ports 0x20/0xa0/0x40
//                      themselves. HLT then no longer exits to userspace (the in-kernel local APIC
//                      parks the vCPU inside KVM_RUN), so this loop kicks every vCPU every 50 ms
//                      and ends a vCPU that sits in KVM_MP_STATE_HALTED with RFLAGS.IF = 0.
//   --vcpus N          N vCPUs, one pthread each (qemu-kvm 0.14: one thread per vCPU).
//   --timeout SEC      stop after SEC seconds of wall time (kicks every vCPU out of KVM_RUN).
//   --trace            print every exit on stderr, one line each.
//   --stdin            extra, not part of the baseline: the UART receives stdin (LSR bit 0 when a
//                      byte is ready, RBR pops it), so the echo guest can be tested end to end.
//   --teaching-device  extra: the teaching MMIO device at 0xd0000000 (ID, SCRATCH, COUNTER,
//                      DOORBELL) instead of all-ones, so the mmio guest's output can be checked.
//   --user-pic         extra: a toy userspace PIC + PIT (IRQ0 only, vCPU 0 only), just enough to
//                      drive the timer guest through the userspace-irqchip path: HLT exits,
//                      request_interrupt_window / KVM_EXIT_IRQ_WINDOW_OPEN and KVM_INTERRUPT.
//                      Not a model of the 8259A or the 8254; kvmscope's real ones are in TypeScript.
//
// Build: gcc -O2 -Wall -Wextra -pthread -o raw-kvm-loop raw-kvm-loop.c (guests/build.mjs does it).

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define IMAGE_BASE 0x7c00u          // boot-sector convention: the image is loaded here
#define IMAGE_MAX (608u * 1024u)    // 0x7c00 + 608 KiB = 0xa3c00: stays below the ROM area
#define MAX_VCPUS 64
#define UART_THR 0x3f8              // 16550 transmit holding register / receive buffer
#define UART_LSR 0x3fd              // 16550 line status register
#define DEBUG_EXIT_PORT 0xf4        // QEMU isa-debug-exit
#define DEBUGCON_PORT 0xe9          // Bochs/QEMU debug console: guest-written trace markers
#define TEACHING_DEV_BASE 0xd0000000ull
#define KICK_SIGNAL SIGUSR1         // fine in C; the Node VMM must avoid SIGUSR1 (the inspector)

struct options {
    const char *image;
    long long max_exits;            // 0 = unlimited
    int irqchip;
    int vcpus;
    unsigned mem_mib;
    double timeout;                 // seconds, 0 = none
    int trace;
    int serial_stdin;
    int teaching_device;
    int user_pic;
};

struct vcpu {
    int index;
    int fd;
    struct kvm_run *run;            // the shared kvm_run page, mmap'ed from the vCPU fd
    pthread_t thread;
    const char *end_reason;         // why this vCPU stopped (static string)
    double end_time;                // CLOCK_MONOTONIC seconds when its loop ended
    volatile int finished;          // set by the vCPU thread as its last action
};

static struct options opt = { .vcpus = 1, .mem_mib = 16 };
static int kvm_fd, vm_fd;
static uint8_t *ram;
static struct vcpu vcpus[MAX_VCPUS];
static long long total_exits;       // all vCPUs, updated atomically
static volatile int stop_all;       // set when the run must end (exit budget or timeout)
static pthread_barrier_t start_barrier;
static pthread_mutex_t device_lock = PTHREAD_MUTEX_INITIALIZER; // qemu's global mutex, in small

// Teaching-device and UART-input state (only with --teaching-device / --stdin).
static uint32_t dev_scratch, dev_counter;
static int stdin_byte = -1, stdin_eof;
static uint8_t last_stdout_byte = '\n';
static double trace_t0;             // --trace timestamps are seconds since the vCPUs started

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "raw-kvm-loop: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

// Every ioctl goes through here so a failure names the ioctl and the errno.
static long xioctl(int fd, unsigned long req, unsigned long arg, const char *name)
{
    long r = ioctl(fd, req, arg);
    if (r < 0)
        die("%s failed: %s", name, strerror(errno));
    return r;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *exit_reason_name(uint32_t r)
{
    static const char *names[] = {
        "UNKNOWN", "EXCEPTION", "IO", "HYPERCALL", "DEBUG", "HLT", "MMIO",
        "IRQ_WINDOW_OPEN", "SHUTDOWN", "FAIL_ENTRY", "INTR", "SET_TPR", "TPR_ACCESS",
        "S390_SIEIC", "S390_RESET", "DCR", "NMI", "INTERNAL_ERROR", "OSI", "PAPR_HCALL",
        "S390_UCONTROL", "WATCHDOG", "S390_TSCH", "EPR", "SYSTEM_EVENT", "S390_STSI",
        "IOAPIC_EOI", "HYPERV", "ARM_NISV", "X86_RDMSR", "X86_WRMSR", "DIRTY_RING_FULL",
        "AP_RESET_HOLD", "X86_BUS_LOCK", "XEN", "RISCV_SBI", "RISCV_CSR", "NOTIFY",
    };
    return r < sizeof names / sizeof names[0] ? names[r] : "?";
}

// ---------------------------------------------------------------- --user-pic: a toy PIC + PIT

// Just enough of a master 8259A and PIT channel 0 for the timer guest: ICW1-ICW4 (only ICW2,
// the vector base, matters), the mask register, OCW3 register select, non-specific EOI, and a
// channel-0 reload value that sets the tick period. IRQ0 is the only line.
static struct {
    int icw_next;               // 0: operational; 2/3/4: the next write to 0x21 is that ICW
    int icw4_needed;
    uint8_t vector_base, imr, read_isr;
    int irr, isr;               // IRQ0 requested / in service
    int pit_hibyte_next;
    uint8_t pit_lo;
    double period, next_tick;   // seconds (CLOCK_MONOTONIC); period 0 = PIT not programmed
} pic = { .imr = 0xff };

static void pic_update_clock(void)
{
    if (pic.period <= 0)
        return;
    double t = now_seconds();
    if (t >= pic.next_tick) {
        pic.irr = 1;            // edge-triggered: ticks that came while IRR was set merge into one
        while (pic.next_tick <= t)
            pic.next_tick += pic.period;
    }
}

// Is there an interrupt the PIC would present to the CPU (the INTR line)?
static int pic_intr(void)
{
    return pic.irr && !pic.isr && !(pic.imr & 1);
}

static int pic_port_out(uint16_t port, uint8_t v)
{
    switch (port) {
    case 0x20:
        if (v & 0x10) {                             // ICW1
            pic.icw_next = 2;
            pic.icw4_needed = v & 1;
            pic.imr = 0;
            pic.irr = pic.isr = 0;
        } else if ((v & 0x18) == 0x08) {            // OCW3: which register port 0x20 reads
            if (v & 2)
                pic.read_isr = v & 1;
        } else if ((v & 0xe0) == 0x20) {            // OCW2: (non-specific) EOI
            pic.isr = 0;
        }
        return 1;
    case 0x21:
        if (pic.icw_next == 2) { pic.vector_base = v & 0xf8; pic.icw_next = 3; }
        else if (pic.icw_next == 3) pic.icw_next = pic.icw4_needed ? 4 : 0;
        else if (pic.icw_next == 4) pic.icw_next = 0;
        else pic.imr = v;
        return 1;
    case 0x43:
        if ((v & 0xc0) == 0)                        // a new mode for channel 0: lobyte first
            pic.pit_hibyte_next = 0;
        return 1;
    case 0x40:
        if (!pic.pit_hibyte_next) {
            pic.pit_lo = v;
            pic.pit_hibyte_next = 1;
        } else {
            unsigned reload = pic.pit_lo | (v << 8);
            pic.period = (reload ? reload : 65536) / 1193182.0;
            pic.next_tick = now_seconds() + pic.period;
            pic.pit_hibyte_next = 0;
        }
        return 1;
    }
    return port == 0xa0 || port == 0xa1;            // the slave PIC: accepted, ignored
}

static int pic_port_in(uint16_t port, uint8_t *v)
{
    pic_update_clock();
    if (port == 0x20) { *v = pic.read_isr ? pic.isr : pic.irr; return 1; }
    if (port == 0x21) { *v = pic.imr; return 1; }
    return 0;
}

// Before every KVM_RUN of vCPU 0 (qemu-kvm 0.14: kvm_arch_pre_run): inject if the guest can
// take an interrupt now, else ask KVM to exit as soon as it can (KVM_EXIT_IRQ_WINDOW_OPEN).
static void pic_pre_run(struct kvm_run *run, int vcpu_fd, int trace)
{
    pic_update_clock();
    run->request_interrupt_window = 0;
    if (!pic_intr())
        return;
    if (run->ready_for_interrupt_injection) {
        struct kvm_interrupt irq = { .irq = pic.vector_base };
        xioctl(vcpu_fd, KVM_INTERRUPT, (unsigned long)&irq, "KVM_INTERRUPT");
        pic.irr = 0;
        pic.isr = 1;
        if (trace)
            fprintf(stderr, "   ioctl KVM_INTERRUPT vector 0x%x\n", irq.irq);
    } else {
        run->request_interrupt_window = 1;
        if (trace)
            fprintf(stderr, "   IRQ0 pending, guest not ready (IF=0 or STI shadow): "
                    "request_interrupt_window = 1\n");
    }
}

// A HLT exit with IF = 1: sleep until the PIC has something, as the CPU would.
// Returns 0 if nothing can ever wake the vCPU.
static int pic_wait_for_interrupt(void)
{
    for (;;) {
        pic_update_clock();
        if (pic_intr())
            return 1;
        if (pic.period <= 0 || (pic.imr & 1) || pic.isr || stop_all)
            return 0;
        double wait = pic.next_tick - now_seconds();
        if (wait > 0)
            usleep((useconds_t)(wait * 1e6) + 1);
    }
}

// ---------------------------------------------------------------- devices (port and MMIO)

// The UART's receive side, only with --stdin: one byte of look-ahead from a non-blocking stdin.
static int serial_peek(void)
{
    if (stdin_byte < 0 && !stdin_eof) {
        struct pollfd p = { .fd = 0, .events = POLLIN };
        if (poll(&p, 1, 0) == 1) {
            unsigned char c;
            ssize_t n = read(0, &c, 1);
            if (n == 1)
                stdin_byte = c;
            else
                stdin_eof = 1;
        }
    }
    return stdin_byte;
}

static uint8_t port_in(uint16_t port)
{
    uint8_t v;
    if (opt.user_pic && pic_port_in(port, &v))
        return v;
    if (port == UART_LSR) {
        // bit 5 THR empty, bit 6 transmitter empty: output never waits. Bit 0: data ready.
        return 0x60 | (opt.serial_stdin && serial_peek() >= 0 ? 0x01 : 0);
    }
    if (port == UART_THR && opt.serial_stdin) {
        int c = serial_peek();
        stdin_byte = -1;
        return c < 0 ? 0 : (uint8_t)c;
    }
    return 0xff;    // unassigned port: the ISA bus floats high
}

static void port_out(uint16_t port, uint8_t value)
{
    if (opt.user_pic && pic_port_out(port, value))
        return;
    if (port == UART_THR) {
        if (write(1, &value, 1) != 1)
            die("write to stdout failed");
        last_stdout_byte = value;
    } else if (port == DEBUG_EXIT_PORT) {
        // The whole process ends here, from whichever vCPU thread wrote the port, as in QEMU.
        fprintf(stderr, "raw-kvm-loop: isa-debug-exit: OUT 0x%x, 0x%02x -> exit status %d\n",
                port, value, (value << 1) | 1);
        exit((value << 1) | 1);
    }
    // 0xe9 debugcon markers and everything else: nothing to do here.
}

static void mmio_access(uint64_t addr, uint8_t *data, uint32_t len, int is_write)
{
    uint32_t v = 0xffffffff;
    if (!opt.teaching_device || addr < TEACHING_DEV_BASE || addr >= TEACHING_DEV_BASE + 0x1000) {
        if (!is_write)
            memset(data, 0xff, len);    // unassigned MMIO reads all-ones, writes are dropped
        return;
    }
    switch (addr - TEACHING_DEV_BASE) {
    case 0x0: v = 0x534d564b; break;                    // ID "KVMS"
    case 0x4: if (is_write) memcpy(&dev_scratch, data, len > 4 ? 4 : len); v = dev_scratch; break;
    case 0x8: if (!is_write) dev_counter++; v = dev_counter; break; // reads so far, this one included
    case 0xc: v = 0; break;                              // DOORBELL: write-only
    }
    if (!is_write)
        memcpy(data, &v, len > 4 ? 4 : len);
}

// ---------------------------------------------------------------- one exit

static void trace_exit(struct vcpu *v, long long seq)
{
    struct kvm_run *run = v->run;
    char buf[256];
    int n = snprintf(buf, sizeof buf, "#%lld %.6f vcpu%d %s", seq, now_seconds() - trace_t0,
                     v->index, exit_reason_name(run->exit_reason));
    if (run->exit_reason == KVM_EXIT_IO) {
        uint8_t *d = (uint8_t *)run + run->io.data_offset;
        n += snprintf(buf + n, sizeof buf - n, " %s port=0x%x size=%u count=%u data=0x%02x",
                      run->io.direction == KVM_EXIT_IO_OUT ? "out" : "in", run->io.port,
                      run->io.size, run->io.count, d[0]);
        if (run->io.direction == KVM_EXIT_IO_OUT && d[0] >= 0x20 && d[0] < 0x7f)
            n += snprintf(buf + n, sizeof buf - n, " '%c'", d[0]);
        else if (run->io.direction == KVM_EXIT_IO_OUT && d[0] == '\n')
            n += snprintf(buf + n, sizeof buf - n, " '\\n'");
    } else if (run->exit_reason == KVM_EXIT_MMIO) {
        uint32_t val = 0;
        memcpy(&val, run->mmio.data, run->mmio.len > 4 ? 4 : run->mmio.len);
        n += snprintf(buf + n, sizeof buf - n, " %s addr=0x%llx len=%u data=0x%x",
                      run->mmio.is_write ? "write" : "read",
                      (unsigned long long)run->mmio.phys_addr, run->mmio.len, val);
    }
    fprintf(stderr, "%s\n", buf);
}

// Handles one exit. Returns NULL to run again, or a reason to stop this vCPU.
// qemu-kvm 0.14: the switch in kvm_cpu_exec (kvm-all.c).
static const char *handle_exit(struct vcpu *v)
{
    struct kvm_run *run = v->run;
    switch (run->exit_reason) {
    case KVM_EXIT_IO: {
        // String I/O (rep ins/outs) can carry io.count items of io.size bytes each.
        uint8_t *d = (uint8_t *)run + run->io.data_offset;
        pthread_mutex_lock(&device_lock);
        for (uint32_t i = 0; i < run->io.count; i++, d += run->io.size) {
            if (run->io.direction == KVM_EXIT_IO_OUT) {
                port_out(run->io.port, d[0]);
            } else {
                // KVM contract: fill the data before the next KVM_RUN, which completes the IN.
                memset(d, 0xff, run->io.size);
                d[0] = port_in(run->io.port);
            }
        }
        pthread_mutex_unlock(&device_lock);
        return NULL;
    }
    case KVM_EXIT_MMIO:
        // KVM contract as for IN: a read's data is filled in before the next KVM_RUN.
        pthread_mutex_lock(&device_lock);
        mmio_access(run->mmio.phys_addr, run->mmio.data, run->mmio.len, run->mmio.is_write);
        pthread_mutex_unlock(&device_lock);
        return NULL;
    case KVM_EXIT_IRQ_WINDOW_OPEN:
        return NULL;    // only --user-pic asks for it; its pic_pre_run now injects
    case KVM_EXIT_INTR:
        return NULL;    // a kick arrived while the guest ran; the loop looks at stop_all
    case KVM_EXIT_HLT:
        if (opt.user_pic && v->index == 0 && run->if_flag && pic_wait_for_interrupt())
            return NULL;    // woken by IRQ0: the next pic_pre_run injects it
        return "KVM_EXIT_HLT";
    case KVM_EXIT_SHUTDOWN:
        return "KVM_EXIT_SHUTDOWN (triple fault)";
    case KVM_EXIT_FAIL_ENTRY:
        fprintf(stderr, "raw-kvm-loop: vcpu%d FAIL_ENTRY hardware_entry_failure_reason=0x%llx\n",
                v->index, (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
        return "KVM_EXIT_FAIL_ENTRY";
    case KVM_EXIT_INTERNAL_ERROR: {
        struct kvm_regs regs;
        fprintf(stderr, "raw-kvm-loop: vcpu%d INTERNAL_ERROR suberror=%u", v->index,
                run->internal.suberror);
        for (uint32_t i = 0; i < run->internal.ndata && i < 16; i++)
            fprintf(stderr, " data[%u]=0x%llx", i, (unsigned long long)run->internal.data[i]);
        if (ioctl(v->fd, KVM_GET_REGS, &regs) == 0)
            fprintf(stderr, " rip=0x%llx", (unsigned long long)regs.rip);
        fprintf(stderr, "\n");
        return "KVM_EXIT_INTERNAL_ERROR";
    }
    default:
        fprintf(stderr, "raw-kvm-loop: vcpu%d unhandled exit reason %u (%s)\n", v->index,
                run->exit_reason, exit_reason_name(run->exit_reason));
        return "unhandled exit";
    }
}

static void kick_all(void)
{
    for (int i = 0; i < opt.vcpus; i++) {
        if (vcpus[i].finished)
            continue;
        vcpus[i].run->immediate_exit = 1;   // if the kick lands before KVM_RUN, KVM_RUN returns EINTR
        pthread_kill(vcpus[i].thread, KICK_SIGNAL);     // threads are joined only at the very end
    }
}

// With the in-kernel irqchip a HLT never leaves KVM_RUN. After a kick, this tells whether the
// vCPU is parked in HLT with interrupts disabled, i.e. can never run again (NMIs aside).
static int halted_for_good(struct vcpu *v)
{
    struct kvm_mp_state mp;
    struct kvm_regs regs;
    if (ioctl(v->fd, KVM_GET_MP_STATE, &mp) < 0 || ioctl(v->fd, KVM_GET_REGS, &regs) < 0)
        return 0;
    return mp.mp_state == KVM_MP_STATE_HALTED && !(regs.rflags & (1u << 9));
}

// qemu-kvm 0.14: ap_main_loop + kvm_main_loop_cpu — one thread per vCPU, looping on KVM_RUN.
static void *vcpu_thread(void *arg)
{
    struct vcpu *v = arg;
    pthread_barrier_wait(&start_barrier);   // qemu's qemu_system_ready: all vCPUs start together
    for (;;) {
        if (stop_all) {
            v->end_reason = v->end_reason ? v->end_reason : "stopped";
            break;
        }
        if (opt.user_pic && v->index == 0) {
            pthread_mutex_lock(&device_lock);
            pic_pre_run(v->run, v->fd, opt.trace);
            pthread_mutex_unlock(&device_lock);
        }
        int r = ioctl(v->fd, KVM_RUN, 0);
        if (r < 0) {
            if (errno != EINTR && errno != EAGAIN)
                die("vcpu%d KVM_RUN failed: %s", v->index, strerror(errno));
            if (opt.trace)
                fprintf(stderr, "   vcpu%d KVM_RUN -> %s (kicked; kvm_run.exit_reason = %s)\n",
                        v->index, errno == EINTR ? "EINTR" : "EAGAIN",
                        exit_reason_name(v->run->exit_reason));
            v->run->immediate_exit = 0;     // it stays set until cleared (or every KVM_RUN fails)
            if (opt.irqchip && halted_for_good(v)) {
                v->end_reason = "halted with IF=0 (in-kernel irqchip: no KVM_EXIT_HLT)";
                break;
            }
            continue;
        }
        long long seq = __atomic_add_fetch(&total_exits, 1, __ATOMIC_RELAXED);
        const char *end = handle_exit(v);
        if (opt.trace)
            trace_exit(v, seq);     // after handling, so an IN or MMIO read shows its answer
        if (end) {
            v->end_reason = end;
            break;
        }
        if (opt.max_exits && seq >= opt.max_exits) {
            v->end_reason = "exit budget reached";
            if (!stop_all) {
                stop_all = 1;
                kick_all();
            }
            break;
        }
    }
    v->end_time = now_seconds();
    v->finished = 1;
    return NULL;
}

static void on_kick(int sig) { (void)sig; }    // exists only so the signal interrupts KVM_RUN

// ---------------------------------------------------------------- machine setup

static void set_cpuid(struct vcpu *v)
{
    int n = 1024;                       // plenty: KVM fails with E2BIG if the table is larger
    struct kvm_cpuid2 *c = calloc(1, sizeof *c + n * sizeof(struct kvm_cpuid_entry2));
    c->nent = n;
    xioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, (unsigned long)c, "KVM_GET_SUPPORTED_CPUID");
    for (uint32_t i = 0; i < c->nent; i++) {
        struct kvm_cpuid_entry2 *e = &c->entries[i];
        if (e->function == 1)           // EBX[31:24]: initial APIC ID — our vCPU index
            e->ebx = (e->ebx & 0x00ffffff) | ((uint32_t)v->index << 24);
        if (e->function == 0xb || e->function == 0x1f)  // EDX: x2APIC ID
            e->edx = v->index;
    }
    xioctl(v->fd, KVM_SET_CPUID2, (unsigned long)c, "KVM_SET_CPUID2");
    free(c);
}

// Real mode at 0000:7c00, every segment base 0, EFLAGS = 0x2, every general register 0.
static void set_reset_state(struct vcpu *v)
{
    struct kvm_sregs s;
    xioctl(v->fd, KVM_GET_SREGS, (unsigned long)&s, "KVM_GET_SREGS");
    struct kvm_segment *segs[] = { &s.cs, &s.ds, &s.es, &s.fs, &s.gs, &s.ss };
    for (unsigned i = 0; i < 6; i++) {
        segs[i]->selector = 0;          // KVM's reset CS is f000 with base ffff0000: no BIOS here
        segs[i]->base = 0;
    }
    xioctl(v->fd, KVM_SET_SREGS, (unsigned long)&s, "KVM_SET_SREGS");
    struct kvm_regs r;
    memset(&r, 0, sizeof r);
    r.rip = IMAGE_BASE;
    r.rflags = 0x2;                     // bit 1 is reserved and always 1; IF = 0
    xioctl(v->fd, KVM_SET_REGS, (unsigned long)&r, "KVM_SET_REGS");
    if (opt.irqchip) {
        // With an in-kernel local APIC only vCPU 0 (the BSP) is runnable at reset; the others
        // wait for INIT/SIPI. The contract starts every vCPU at once, so make them runnable.
        struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_RUNNABLE };
        xioctl(v->fd, KVM_SET_MP_STATE, (unsigned long)&mp, "KVM_SET_MP_STATE");
    }
}

static void load_image(void)
{
    int fd = open(opt.image, O_RDONLY);
    if (fd < 0)
        die("cannot open %s: %s", opt.image, strerror(errno));
    ssize_t n = read(fd, ram + IMAGE_BASE, IMAGE_MAX + 1);
    if (n < 0)
        die("cannot read %s: %s", opt.image, strerror(errno));
    if ((size_t)n > IMAGE_MAX)
        die("%s is larger than %u KiB", opt.image, IMAGE_MAX / 1024);
    close(fd);
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--exits") && next) opt.max_exits = atoll(argv[++i]);
        else if (!strcmp(a, "--vcpus") && next) opt.vcpus = atoi(argv[++i]);
        else if (!strcmp(a, "--mem") && next) opt.mem_mib = atoi(argv[++i]);
        else if (!strcmp(a, "--timeout") && next) opt.timeout = atof(argv[++i]);
        else if (!strcmp(a, "--irqchip")) opt.irqchip = 1;
        else if (!strcmp(a, "--trace")) opt.trace = 1;
        else if (!strcmp(a, "--stdin")) opt.serial_stdin = 1;
        else if (!strcmp(a, "--teaching-device")) opt.teaching_device = 1;
        else if (!strcmp(a, "--user-pic")) opt.user_pic = 1;
        else if (a[0] != '-' && !opt.image) opt.image = a;
        else die("usage: raw-kvm-loop IMAGE [--exits N] [--irqchip] [--vcpus N] [--mem MIB] "
                 "[--timeout SEC] [--trace] [--stdin] [--teaching-device] [--user-pic]");
    }
    if (!opt.image)
        die("no image given");
    if (opt.vcpus < 1 || opt.vcpus > MAX_VCPUS)
        die("--vcpus must be 1..%d", MAX_VCPUS);
    if (opt.user_pic && opt.irqchip)
        die("--user-pic and --irqchip exclude each other: KVM_INTERRUPT needs a userspace irqchip");
    if (opt.mem_mib < 1 || opt.mem_mib >= 3072)
        die("--mem must be 1..3071 MiB (RAM stays below 0xc0000000)");
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);

    // The kick: a no-op handler installed WITHOUT SA_RESTART, so KVM_RUN returns EINTR.
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_kick;
    sigaction(KICK_SIGNAL, &sa, NULL);

    // qemu-kvm 0.14: kvm_init opens /dev/kvm, kvm_create_vm issues KVM_CREATE_VM.
    kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm_fd < 0)
        die("cannot open /dev/kvm: %s (is KVM enabled, and may this user open it?)",
            strerror(errno));
    if (xioctl(kvm_fd, KVM_GET_API_VERSION, 0, "KVM_GET_API_VERSION") != KVM_API_VERSION)
        die("unexpected KVM API version");
    vm_fd = xioctl(kvm_fd, KVM_CREATE_VM, 0, "KVM_CREATE_VM");

    // Intel VMX without unrestricted guest needs a TSS and an identity-map page to run real
    // mode; both sit in the last 4 GiB below the BIOS, far above our RAM. Other backends
    // (SVM, kvm-pvm) accept or ignore them, so a failure is only worth a warning.
    if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_TSS_ADDR) > 0) {
        if (ioctl(vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000ul) < 0)
            fprintf(stderr, "raw-kvm-loop: warning: KVM_SET_TSS_ADDR: %s\n", strerror(errno));
        uint64_t identity = 0xfffbc000ull;
        if (ioctl(vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0)
            fprintf(stderr, "raw-kvm-loop: warning: KVM_SET_IDENTITY_MAP_ADDR: %s\n",
                    strerror(errno));
    }

    if (opt.irqchip) {
        // Must precede KVM_CREATE_VCPU: each vCPU then gets an in-kernel local APIC.
        xioctl(vm_fd, KVM_CREATE_IRQCHIP, 0, "KVM_CREATE_IRQCHIP");
        struct kvm_pit_config pit = { .flags = 0 };
        xioctl(vm_fd, KVM_CREATE_PIT2, (unsigned long)&pit, "KVM_CREATE_PIT2");
    }

    size_t ram_size = (size_t)opt.mem_mib << 20;
    ram = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
               -1, 0);
    if (ram == MAP_FAILED)
        die("cannot allocate %u MiB of guest RAM", opt.mem_mib);
    struct kvm_userspace_memory_region region = {
        .slot = 0, .guest_phys_addr = 0, .memory_size = ram_size, .userspace_addr = (uintptr_t)ram,
    };
    xioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, (unsigned long)&region, "KVM_SET_USER_MEMORY_REGION");
    load_image();

    long run_size = xioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0, "KVM_GET_VCPU_MMAP_SIZE");
    for (int i = 0; i < opt.vcpus; i++) {
        struct vcpu *v = &vcpus[i];
        v->index = i;
        v->fd = xioctl(vm_fd, KVM_CREATE_VCPU, i, "KVM_CREATE_VCPU");
        v->run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
        if (v->run == MAP_FAILED)
            die("cannot mmap the kvm_run page of vcpu%d", i);
        set_cpuid(v);
        set_reset_state(v);
    }

    pthread_barrier_init(&start_barrier, NULL, opt.vcpus + 1);
    for (int i = 0; i < opt.vcpus; i++)
        pthread_create(&vcpus[i].thread, NULL, vcpu_thread, &vcpus[i]);
    double t0 = now_seconds();
    trace_t0 = t0;
    pthread_barrier_wait(&start_barrier);

    // The main thread plays qemu's main loop: it only watches the clock here (the timing
    // above and below brackets the vCPU loops only, not the VM set-up).
    for (;;) {
        int running = 0;
        for (int i = 0; i < opt.vcpus; i++)
            running += !vcpus[i].finished;
        if (!running)
            break;
        usleep(opt.irqchip ? 50000 : 2000);
        if (opt.timeout && now_seconds() - t0 >= opt.timeout && !stop_all) {
            stop_all = 1;
            for (int i = 0; i < opt.vcpus; i++)
                if (!vcpus[i].end_reason)
                    vcpus[i].end_reason = "timeout";
        }
        if (stop_all || opt.irqchip)
            kick_all();     // in-kernel irqchip: look for vCPUs halted with IF=0
    }
    // The run lasted until the last vCPU loop ended (not until this thread noticed).
    double seconds = 0;
    for (int i = 0; i < opt.vcpus; i++) {
        pthread_join(vcpus[i].thread, NULL);
        if (vcpus[i].end_time - t0 > seconds)
            seconds = vcpus[i].end_time - t0;
    }

    for (int i = 0; i < opt.vcpus; i++)
        fprintf(stderr, "raw-kvm-loop: vcpu%d: %s\n", i, vcpus[i].end_reason);
    fprintf(stderr, "raw-kvm-loop: %lld exits in %.3f s\n", total_exits, seconds);
    if (opt.max_exits)
        printf("%s{\"exits\":%lld,\"seconds\":%.6f,\"exitsPerSec\":%.0f}\n",
               last_stdout_byte == '\n' ? "" : "\n",   // the JSON must be a line of its own
               total_exits, seconds, total_exits / seconds);
    return 0;
}
