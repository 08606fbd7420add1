// The guest's address map: every guest-physical address and I/O port number kvmscope uses,
// each with the convention it comes from. Nothing else in the VMM spells these numbers out;
// the port map in devices/index.ts registers devices at these ranges.

/** A range of I/O ports or guest-physical addresses: `length` units starting at `base`. */
export interface AddressRange {
  readonly base: number;
  readonly length: number;
}

// ---------------------------------------------------------------------------------------------
// Guest-physical memory
// ---------------------------------------------------------------------------------------------

/** Guest RAM is one region starting at physical address 0, as on a PC. */
export const RAM_BASE = 0;

/**
 * Guest RAM must end at or below this: 3 GiB, where a PC's 32-bit PCI/MMIO hole begins. Above it
 * sit our MMIO teaching device and, on real PCs, the IOAPIC/LAPIC and firmware.
 */
export const RAM_LIMIT = 0xc000_0000;

/**
 * Where a flat guest binary is loaded and where the vCPU starts (CS:IP 0000:7c00, real mode).
 * PC BIOS convention: the BIOS loads the boot sector here; we have no BIOS and load it ourselves.
 */
export const BOOT_ENTRY = 0x7c00;

/**
 * A flat image must end below this: 0x9fc00, the top of conventional memory on a PC with 639 KiB
 * (the BIOS's extended data area usually starts there, then video memory at 0xa0000).
 */
export const IMAGE_LIMIT = 0x9_fc00;

/**
 * The kvmscope teaching device's register page (4 KiB). Ours: placed where a PC keeps its 32-bit
 * PCI hole (below the IOAPIC/LAPIC/firmware area that starts at 0xfec00000), so no RAM backs it and
 * every access is a KVM_EXIT_MMIO. Above RAM_LIMIT, so no guest RAM can cover it.
 */
export const TEACHING_DEVICE_MMIO: AddressRange = { base: 0xd000_0000, length: 0x1000 };

// ---------------------------------------------------------------------------------------------
// I/O ports (the 16-bit x86 port space)
// ---------------------------------------------------------------------------------------------

/**
 * 8259A master PIC: command 0x20, data 0x21. PC/AT convention (IBM PC/AT Technical Reference);
 * the AT decodes 0x20-0x3f but only the two low ports are meaningful, so we claim only those.
 */
export const PIC_MASTER_PORTS: AddressRange = { base: 0x20, length: 2 };

/** 8254 PIT: counters 0-2 at 0x40-0x42, control word at 0x43. PC/AT convention. */
export const PIT_PORTS: AddressRange = { base: 0x40, length: 4 };

/**
 * System control port B: bit 0 gates PIT counter 2, bit 1 feeds the speaker, bit 5 reads
 * counter 2's output. PC/AT convention (on the PC/XT it was port B of the 8255 PPI).
 */
export const SYSTEM_CONTROL_PORT_B: AddressRange = { base: 0x61, length: 1 };

/** POST diagnostic port: BIOSes write progress codes here; ISA POST cards display them. PC/AT. */
export const POST_CODE_PORT: AddressRange = { base: 0x80, length: 1 };

/** 8259A slave PIC: command 0xa0, data 0xa1, cascaded on the master's IRQ2. PC/AT convention. */
export const PIC_SLAVE_PORTS: AddressRange = { base: 0xa0, length: 2 };

/**
 * Debug console: bytes written here are a log line. Bochs's "port e9 hack", also QEMU's
 * `-debugcon`. Reading it returns 0xe9 so a guest can detect it.
 */
export const DEBUGCON_PORT: AddressRange = { base: 0xe9, length: 1 };

/**
 * QEMU's isa-debug-exit device: writing v ends the run with status (v << 1) | 1. QEMU's own
 * default is 0x501; 0xf4 is the base most hobby-OS test setups pass (`iobase=0xf4`), so ours.
 */
export const DEBUG_EXIT_PORT: AddressRange = { base: 0xf4, length: 1 };

/** First serial port, a 16550 UART: eight registers at 0x3f8-0x3ff. PC/AT convention (COM1). */
export const COM1_PORTS: AddressRange = { base: 0x3f8, length: 8 };

/** The IRQ line COM1 is wired to on the PC/AT (unused while our UART is polled-only). */
export const COM1_IRQ = 4;

/** The IRQ line PIT counter 0 drives on the PC/AT: the system timer. */
export const PIT_IRQ = 0;
