import { describe, expect, it } from "vitest";
import { createDevices, type Devices } from "../src/devices/index.js";
import { PIT_INPUT_HZ } from "../src/devices/pit-8254.js";
import { allocateDeviceMemory } from "../src/devices/device-memory.js";
import type { DeviceHooks } from "../src/devices/shared-state.js";

/** Hooks whose now() is a clock the test sets by hand (nanoseconds). */
function fakeClockHooks(): DeviceHooks & { nowNs: number } {
  return {
    nowNs: 0,
    marker() {},
    debugExit() {},
    now() {
      return this.nowNs;
    },
  };
}

function machine(): { d: Devices; clock: ReturnType<typeof fakeClockHooks> } {
  const clock = fakeClockHooks();
  return { d: createDevices(allocateDeviceMemory(), clock, { userIrqchip: true }), clock };
}

const outb = (d: Devices, port: number, value: number): void => void d.pio.write(port, Uint8Array.of(value));
function inb(d: Devices, port: number): number {
  const data = new Uint8Array(1);
  d.pio.read(port, data);
  return data[0]!;
}

/** What a PC OS does: master at vectors 0x20-0x27, slave at 0x28-0x2f, cascade on IR2, 8086 mode. */
function initPics(d: Devices, icw4 = 0x01): void {
  outb(d, 0x20, 0x11); // ICW1: edge, cascade, ICW4 follows
  outb(d, 0x21, 0x20); // ICW2: vector base
  outb(d, 0x21, 0x04); // ICW3: slave on IR2
  outb(d, 0x21, icw4);
  outb(d, 0xa0, 0x11);
  outb(d, 0xa1, 0x28);
  outb(d, 0xa1, 0x02); // ICW3: slave ID 2
  outb(d, 0xa1, icw4);
}

const pulse = (d: Devices, irq: number): void => {
  d.pic.setIrq(irq, 1);
  d.pic.setIrq(irq, 0);
};
const EOI = 0x20;
/** OCW3: the next read of the command port returns ISR. */
function readIsr(d: Devices, port: number): number {
  outb(d, port, 0x0b);
  const isr = inb(d, port);
  outb(d, port, 0x0a);
  return isr;
}

describe("8259A PIC", () => {
  it("raises nothing and answers no INTA before it is initialized", () => {
    const { d } = machine();
    pulse(d, 0);
    expect(d.pic.hasPendingInterrupt()).toBe(false);
    expect(d.pic.acknowledge()).toBeNull();
  });

  it("delivers IRQ0 as the vector base after the ICW1-ICW4 sequence", () => {
    const { d } = machine();
    initPics(d);
    expect(d.pic.state().master).toMatchObject({ vectorBase: 0x20, initialized: true, imr: 0 });
    pulse(d, 0);
    expect(d.pic.hasPendingInterrupt()).toBe(true);
    expect(d.pic.acknowledge()).toBe(0x20);
    expect(d.pic.hasPendingInterrupt()).toBe(false);
    expect(readIsr(d, 0x20)).toBe(0x01);
    outb(d, 0x20, EOI);
    expect(readIsr(d, 0x20)).toBe(0x00);
  });

  it("holds a masked request in IRR until OCW1 unmasks it", () => {
    const { d } = machine();
    initPics(d);
    outb(d, 0x21, 0x01);
    expect(inb(d, 0x21)).toBe(0x01);
    pulse(d, 0);
    expect(d.pic.hasPendingInterrupt()).toBe(false);
    expect(inb(d, 0x20)).toBe(0x01); // IRR (the default OCW3 read)
    outb(d, 0x21, 0x00);
    expect(d.pic.hasPendingInterrupt()).toBe(true);
    expect(d.pic.acknowledge()).toBe(0x20);
  });

  it("latches an input on its rising edge only", () => {
    const { d } = machine();
    initPics(d);
    d.pic.setIrq(1, 1);
    expect(d.pic.acknowledge()).toBe(0x21);
    outb(d, 0x20, EOI);
    d.pic.setIrq(1, 1); // still high: no new edge
    expect(d.pic.hasPendingInterrupt()).toBe(false);
    d.pic.setIrq(1, 0);
    d.pic.setIrq(1, 1);
    expect(d.pic.acknowledge()).toBe(0x21);
  });

  it("serves the lowest-numbered IRQ first and nests only higher priorities", () => {
    const { d } = machine();
    initPics(d);
    pulse(d, 3);
    pulse(d, 1);
    expect(d.pic.acknowledge()).toBe(0x21);
    // IRQ1 in service: IRQ3 waits, IRQ0 may interrupt it.
    expect(d.pic.hasPendingInterrupt()).toBe(false);
    pulse(d, 0);
    expect(d.pic.acknowledge()).toBe(0x20);
    expect(readIsr(d, 0x20)).toBe(0x03);
    outb(d, 0x20, EOI); // non-specific: ends IRQ0, the highest in service
    expect(readIsr(d, 0x20)).toBe(0x02);
    expect(d.pic.hasPendingInterrupt()).toBe(false);
    outb(d, 0x20, 0x60 | 1); // specific EOI for IRQ1
    expect(d.pic.acknowledge()).toBe(0x23);
  });

  it("rotates priority on a rotating EOI", () => {
    const { d } = machine();
    initPics(d);
    pulse(d, 0);
    expect(d.pic.acknowledge()).toBe(0x20);
    outb(d, 0x20, 0xa0); // rotate on non-specific EOI: IRQ0 becomes the lowest
    pulse(d, 0);
    pulse(d, 4);
    expect(d.pic.acknowledge()).toBe(0x24);
  });

  it("delivers a slave IRQ through the cascade with the slave's vector", () => {
    const { d } = machine();
    initPics(d);
    pulse(d, 8);
    expect(d.pic.hasPendingInterrupt()).toBe(true);
    expect(d.pic.acknowledge()).toBe(0x28);
    expect(readIsr(d, 0x20)).toBe(0x04); // the master's IR2 is in service too
    expect(readIsr(d, 0xa0)).toBe(0x01);
    pulse(d, 14);
    expect(d.pic.hasPendingInterrupt()).toBe(false); // blocked behind IR2 until the master's EOI
    outb(d, 0xa0, EOI);
    outb(d, 0x20, EOI);
    expect(d.pic.acknowledge()).toBe(0x2e);
  });

  it("sends IRQ2 to the slave's IR1, as the AT rewired it", () => {
    const { d } = machine();
    initPics(d);
    pulse(d, 2);
    expect(d.pic.acknowledge()).toBe(0x29);
  });

  it("answers a request withdrawn before INTA with the spurious IRQ7 vector and no ISR bit", () => {
    const { d } = machine();
    initPics(d);
    pulse(d, 5);
    expect(d.pic.hasPendingInterrupt()).toBe(true);
    outb(d, 0x21, 0x20); // the guest masks IRQ5 between INTR and INTA
    expect(d.pic.acknowledge()).toBe(0x27);
    expect(readIsr(d, 0x20)).toBe(0x00);
  });

  it("clears ISR at INTA in auto-EOI mode", () => {
    const { d } = machine();
    initPics(d, 0x03);
    pulse(d, 0);
    expect(d.pic.acknowledge()).toBe(0x20);
    expect(readIsr(d, 0x20)).toBe(0x00);
    pulse(d, 0);
    expect(d.pic.acknowledge()).toBe(0x20); // no EOI needed
  });

  it("answers a poll command with the pending level and acknowledges it", () => {
    const { d } = machine();
    initPics(d);
    outb(d, 0x21, 0xff);
    pulse(d, 6);
    outb(d, 0x21, 0xbf);
    outb(d, 0x20, 0x0c); // OCW3 poll
    expect(inb(d, 0x20)).toBe(0x86);
    expect(readIsr(d, 0x20)).toBe(0x40);
    outb(d, 0x20, 0x0c);
    expect(inb(d, 0x20)).toBe(0x00);
  });

  it("changes the pending word when an interrupt becomes pending, and only then", () => {
    const { d } = machine();
    initPics(d);
    const { array, index } = d.pic.pendingWord();
    const before = Atomics.load(array, index);
    outb(d, 0x21, 0x01);
    pulse(d, 0); // masked: INTR stays low
    expect(Atomics.load(array, index)).toBe(before);
    outb(d, 0x21, 0x00); // unmasking raises INTR
    expect(Atomics.load(array, index)).toBe(before + 1);
    expect(Atomics.wait(array, index, before, 0)).toBe("not-equal");
    d.pic.acknowledge();
    d.pic.wakeWaiters();
    expect(Atomics.load(array, index)).toBe(before + 2);
  });
});

describe("8254 PIT", () => {
  it("reports counter 0 as a timer period from the programmed divisor", () => {
    const { d, clock } = machine();
    expect(d.pit.channel0()).toBeNull();
    clock.nowNs = 5_000;
    outb(d, 0x43, 0x34); // counter 0, LSB then MSB, mode 2
    expect(d.pit.channel0()).toBeNull(); // no count yet
    outb(d, 0x40, 11932 & 0xff);
    outb(d, 0x40, 11932 >> 8);
    const timer = d.pit.channel0();
    expect(timer).not.toBeNull();
    expect(timer!.periodNs).toBeCloseTo((11932 / PIT_INPUT_HZ) * 1e9, 3); // ~10 ms: 100 Hz
    expect(timer!.oneShot).toBe(false);
    expect(timer!.startNs).toBe(5_000);
  });

  it("bumps the generation on every reprogramming and reports one-shot modes", () => {
    const { d } = machine();
    outb(d, 0x43, 0x36); // mode 3
    outb(d, 0x40, 0x00);
    outb(d, 0x40, 0x00); // 0 means 65536: 18.2 Hz
    const first = d.pit.channel0()!;
    expect(first.periodNs).toBeCloseTo((65536 / PIT_INPUT_HZ) * 1e9, 3);
    outb(d, 0x43, 0x30); // mode 0: interrupt on terminal count
    outb(d, 0x40, 0x10);
    outb(d, 0x40, 0x00);
    const second = d.pit.channel0()!;
    expect(second.oneShot).toBe(true);
    expect(second.generation).toBeGreaterThan(first.generation);
    expect(second.periodNs).toBeCloseTo((16 / PIT_INPUT_HZ) * 1e9, 6);
  });

  it("reads a decreasing count through the counter latch as the fake clock advances", () => {
    const { d, clock } = machine();
    outb(d, 0x43, 0x34);
    outb(d, 0x40, 0xff);
    outb(d, 0x40, 0xff); // 65535
    const latched = (): number => {
      outb(d, 0x43, 0x00); // latch counter 0
      const lo = inb(d, 0x40);
      return lo | (inb(d, 0x40) << 8);
    };
    expect(latched()).toBe(65535);
    clock.nowNs = 1_000_000; // 1 ms = 1193 input clocks
    const a = latched();
    expect(a).toBe(65535 - 1193);
    clock.nowNs = 20_000_000;
    const b = latched();
    expect(b).toBe(65535 - 23863);
    expect(b).toBeLessThan(a);
  });

  it("holds a latched count while the clock moves on", () => {
    const { d, clock } = machine();
    outb(d, 0x43, 0x34);
    outb(d, 0x40, 0x00);
    outb(d, 0x40, 0x10); // 4096
    clock.nowNs = 1_000_000;
    outb(d, 0x43, 0x00);
    clock.nowNs = 2_000_000;
    const lo = inb(d, 0x40);
    expect(lo | (inb(d, 0x40) << 8)).toBe(4096 - 1193);
  });

  it("counts exactly over long runs", () => {
    const { d, clock } = machine();
    outb(d, 0x43, 0x30); // mode 0, the count wraps past 0
    outb(d, 0x40, 0x00);
    outb(d, 0x40, 0x00);
    const ns = 3_600_123_456_789; // an hour in: past the point where ns * 1193182 loses precision
    clock.nowNs = ns;
    outb(d, 0x43, 0x00);
    const lo = inb(d, 0x40);
    const ticks = (BigInt(ns) * BigInt(PIT_INPUT_HZ)) / 1_000_000_000n;
    expect(lo | (inb(d, 0x40) << 8)).toBe(Number((65536n - ticks) & 0xffffn));
  });

  it("latches status with the read-back command", () => {
    const { d } = machine();
    outb(d, 0x43, 0xb0); // counter 2, LSB then MSB, mode 0
    outb(d, 0x43, 0xe8); // read-back: status only, counter 2
    expect(inb(d, 0x42)).toBe(0x70); // OUT low, null count, access 3, mode 0
  });

  it("gates counter 2 from port B and shows its output in bit 5", () => {
    const { d, clock } = machine();
    outb(d, 0x61, 0x00); // gate closed
    outb(d, 0x43, 0xb0); // counter 2, mode 0
    outb(d, 0x42, 100);
    outb(d, 0x42, 0);
    clock.nowNs = 1_000_000; // would have expired, but the gate is closed
    expect(inb(d, 0x61) & 0x20).toBe(0);
    outb(d, 0x61, 0x01);
    expect(inb(d, 0x61) & 0x21).toBe(0x01);
    clock.nowNs += 100_000; // 119 clocks
    expect(inb(d, 0x61) & 0x20).toBe(0x20);
  });
});
