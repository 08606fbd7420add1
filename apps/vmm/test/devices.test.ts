import { describe, expect, it } from "vitest";
import { Bus, BusRange, type BusDevice } from "../src/devices/bus.js";
import { DEBUGCON_LINE_MAX } from "../src/devices/debugcon.js";
import { createDevices, type Devices } from "../src/devices/index.js";
import { allocateDeviceMemory } from "../src/devices/device-memory.js";
import { SharedLock, type DeviceHooks } from "../src/devices/shared-state.js";
import { COM1_PORTS, DEBUG_EXIT_PORT, DEBUGCON_PORT, POST_CODE_PORT, TEACHING_DEVICE_MMIO } from "../src/layout.js";

/** Hooks for tests: a clock the test sets by hand, and lists of what the devices reported. */
function fakeHooks(): DeviceHooks & { nowNs: number; markers: string[]; exits: number[] } {
  return {
    nowNs: 0,
    markers: [],
    exits: [],
    marker(text) {
      this.markers.push(text);
    },
    debugExit(value) {
      this.exits.push(value);
    },
    now() {
      return this.nowNs;
    },
  };
}

/** A device that remembers every access it saw. */
function recordingDevice(name: string, fill = 0x42): BusDevice & { log: string[] } {
  const log: string[] = [];
  return {
    name,
    log,
    read(offset, data) {
      log.push(`read ${offset} x${data.length}`);
      data.fill(fill);
    },
    write(offset, data) {
      log.push(`write ${offset} ${Array.from(data).join(",")}`);
    },
  };
}

function machine(userIrqchip = true): { devices: Devices; hooks: ReturnType<typeof fakeHooks> } {
  const hooks = fakeHooks();
  return { devices: createDevices(allocateDeviceMemory(), hooks, { userIrqchip }), hooks };
}

const outb = (d: Devices, port: number, value: number): string | null => d.pio.write(port, Uint8Array.of(value));
function inb(d: Devices, port: number): number {
  const data = new Uint8Array(1);
  d.pio.read(port, data);
  return data[0]!;
}
const u32 = (value: number): Uint8Array => new Uint8Array(Uint32Array.of(value).buffer);
function mmioRead32(d: Devices, addr: number): number {
  const data = new Uint8Array(4);
  d.mmio.read(addr, data);
  return new Uint32Array(data.buffer)[0]!;
}

describe("Bus", () => {
  it("routes a 1-byte OUT to the device at offset 0", () => {
    const bus = new Bus("pio");
    const device = recordingDevice("probe");
    bus.insert(new BusRange(0x3f8, 8), device);
    expect(bus.write(0x3f8, Uint8Array.of(0x41))).toBe("probe");
    expect(device.log).toEqual(["write 0 65"]);
  });

  it("hands the device offsets relative to its base, on both buses", () => {
    const pio = new Bus("pio");
    const mmio = new Bus("mmio");
    const port = recordingDevice("ports");
    const page = recordingDevice("page");
    pio.insert(new BusRange(0x40, 4), port);
    mmio.insert(new BusRange(0xd000_0000, 0x1000), page);
    pio.read(0x43, new Uint8Array(1));
    mmio.write(0xd000_0ffc, new Uint8Array(4));
    expect(port.log).toEqual(["read 3 x1"]);
    expect(page.log).toEqual(["write 4092 0,0,0,0"]);
  });

  it("finds the right device among many MMIO ranges and none in the gaps", () => {
    const mmio = new Bus("mmio");
    const devices = [0x3000, 0x1000, 0x5000].map((base) => {
      const device = recordingDevice(`at ${base.toString(16)}`);
      mmio.insert(new BusRange(base, 0x100), device);
      return device;
    });
    expect(mmio.read(0x10ff, new Uint8Array(1))).toBe("at 1000");
    expect(mmio.read(0x1100, new Uint8Array(1))).toBeNull();
    expect(mmio.read(0x3000, new Uint8Array(1))).toBe("at 3000");
    expect(mmio.read(0x50ff, new Uint8Array(1))).toBe("at 5000");
    expect(mmio.read(0x0fff, new Uint8Array(1))).toBeNull();
    expect(devices.map((d) => d.log.length)).toEqual([1, 1, 1]);
  });

  it("reads an unassigned port or address as all ones and reports no device", () => {
    const pio = new Bus("pio");
    const mmio = new Bus("mmio");
    const data = new Uint8Array(4);
    expect(pio.read(0x1234, data)).toBeNull();
    expect(Array.from(data)).toEqual([0xff, 0xff, 0xff, 0xff]);
    data.fill(0);
    expect(mmio.read(0xfee0_0000, data)).toBeNull();
    expect(Array.from(data)).toEqual([0xff, 0xff, 0xff, 0xff]);
    expect(pio.write(0x1234, data)).toBeNull();
  });

  it("refuses an overlapping range, naming both devices", () => {
    const bus = new Bus("pio");
    bus.insert(new BusRange(0x3f8, 8), recordingDevice("16550 UART (COM1)"));
    expect(() => bus.insert(new BusRange(0x3fc, 8), recordingDevice("impostor"))).toThrow(/impostor.*overlaps.*16550 UART \(COM1\)/);
    // Adjacent ranges do not overlap.
    expect(() => bus.insert(new BusRange(0x400, 1), recordingDevice("neighbour"))).not.toThrow();
  });

  it("rejects zero-length and overflowing ranges", () => {
    expect(() => new BusRange(0x3f8, 0)).toThrow(RangeError);
    expect(() => new BusRange(2 ** 53 - 4, 8)).toThrow(RangeError);
    expect(() => new BusRange(-1, 1)).toThrow(RangeError);
    expect(() => new BusRange(0x10, 1.5)).toThrow(RangeError);
    // A port range must also fit the 16-bit port space.
    expect(() => new Bus("pio").insert(new BusRange(0xfffe, 4), recordingDevice("too high"))).toThrow(/16-bit port/);
  });

  it("lists its ranges sorted by address", () => {
    const bus = new Bus("pio");
    bus.insert(new BusRange(0x3f8, 8), recordingDevice("uart"));
    bus.insert(new BusRange(0x20, 2), recordingDevice("pic"));
    expect(bus.ranges()).toEqual([
      { base: 0x20, length: 2, name: "pic" },
      { base: 0x3f8, length: 8, name: "uart" },
    ]);
  });
});

describe("the port map", () => {
  it("registers every device at its layout.ts address", () => {
    const { devices } = machine();
    expect(devices.pio.ranges().map((r) => [r.base, r.length])).toEqual([
      [0x20, 2],
      [0x40, 4],
      [0x61, 1],
      [0x80, 1],
      [0xa0, 2],
      [0xe9, 1],
      [0xf4, 1],
      [0x3f8, 8],
    ]);
    expect(devices.mmio.ranges()).toEqual([{ base: TEACHING_DEVICE_MMIO.base, length: 0x1000, name: "kvmscope teaching device (MMIO)" }]);
  });

  it("leaves the PIC, PIT and port B to KVM when the irqchip is in the kernel", () => {
    const { devices } = machine(false);
    expect(devices.pio.ranges().map((r) => r.base)).toEqual([0x80, 0xe9, 0xf4, 0x3f8]);
  });
});

describe("16550 UART", () => {
  const THR = COM1_PORTS.base;
  const IER = THR + 1;
  const IIR = THR + 2;
  const LCR = THR + 3;
  const MCR = THR + 4;
  const LSR = THR + 5;
  const MSR = THR + 6;
  const SCR = THR + 7;

  it("delivers THR bytes to drainOutput in order, once", () => {
    const { devices } = machine();
    for (const byte of new TextEncoder().encode("hi!\n")) expect(outb(devices, THR, byte)).toBe("16550 UART (COM1)");
    expect(new TextDecoder().decode(devices.uart.drainOutput())).toBe("hi!\n");
    expect(devices.uart.drainOutput().length).toBe(0);
  });

  it("keeps the transmitter empty and reports no interrupt pending", () => {
    const { devices } = machine();
    expect(inb(devices, LSR) & 0x60).toBe(0x60);
    expect(inb(devices, IIR)).toBe(0x01);
    outb(devices, IIR, 0x07); // FCR: enable and clear the FIFOs
    expect(inb(devices, IIR)).toBe(0xc1);
  });

  it("raises LSR data-ready while pushed input is waiting and reads it from RBR", () => {
    const { devices } = machine();
    expect(inb(devices, LSR) & 0x01).toBe(0);
    expect(devices.uart.pushInput(Uint8Array.of(0x61, 0x62))).toBe(2);
    expect(inb(devices, LSR) & 0x01).toBe(1);
    expect(inb(devices, THR)).toBe(0x61);
    expect(inb(devices, THR)).toBe(0x62);
    expect(inb(devices, LSR) & 0x01).toBe(0);
    expect(inb(devices, THR)).toBe(0); // empty RBR
  });

  it("accepts only as much input as the queue holds", () => {
    const { devices } = machine();
    const accepted = devices.uart.pushInput(new Uint8Array(10_000));
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThan(10_000);
    expect(devices.uart.pushInput(Uint8Array.of(1))).toBe(0);
  });

  it("switches ports 0 and 1 to the divisor latch while LCR.DLAB is set", () => {
    const { devices } = machine();
    outb(devices, IER, 0x05);
    outb(devices, LCR, 0x83); // DLAB, 8N1
    outb(devices, THR, 0x01); // DLL: 115200 baud
    outb(devices, IER, 0x00); // DLM
    expect(inb(devices, THR)).toBe(0x01);
    expect(inb(devices, IER)).toBe(0x00);
    outb(devices, LCR, 0x03);
    expect(inb(devices, IER)).toBe(0x05);
    expect(devices.uart.drainOutput().length).toBe(0); // the divisor write was not transmitted
  });

  it("keeps the scratch register and loops back in loopback mode as a driver's probe expects", () => {
    const { devices } = machine();
    outb(devices, SCR, 0x5a);
    expect(inb(devices, SCR)).toBe(0x5a);
    expect(inb(devices, MSR)).toBe(0xb0);
    outb(devices, MCR, 0x1a); // loopback | OUT2 | RTS
    expect(inb(devices, MSR) & 0xf0).toBe(0x90);
    outb(devices, THR, 0x55);
    expect(inb(devices, LSR) & 0x01).toBe(1);
    expect(inb(devices, THR)).toBe(0x55);
    expect(devices.uart.drainOutput().length).toBe(0);
  });

  it("splits a 16-bit OUT into two register writes", () => {
    const { devices } = machine();
    devices.pio.write(SCR - 1, Uint8Array.of(0x0b, 0x77)); // MSR (ignored), SCR
    expect(inb(devices, SCR)).toBe(0x77);
  });

  it("drops and counts output when the guest floods faster than the main thread drains", () => {
    const { devices } = machine();
    const byte = Uint8Array.of(0x2e);
    const sent = 70_000;
    for (let i = 0; i < sent; i++) devices.pio.write(THR, byte);
    const drained = devices.uart.drainOutput();
    expect(drained.length).toBe(64 * 1024);
    expect(devices.uart.droppedOutputBytes()).toBe(sent - drained.length);
    // After draining, output flows again and the ring wraps correctly.
    for (const b of [1, 2, 3]) outb(devices, THR, b);
    expect(Array.from(devices.uart.drainOutput())).toEqual([1, 2, 3]);
  });
});

describe("debugcon", () => {
  const PORT = DEBUGCON_PORT.base;

  it("turns each line into one marker", () => {
    const { devices, hooks } = machine();
    for (const byte of new TextEncoder().encode("boot ok\r\nsecond\n\n")) outb(devices, PORT, byte);
    expect(hooks.markers).toEqual(["boot ok", "second"]);
  });

  it("flushes a line that reaches 200 bytes without a newline", () => {
    const { devices, hooks } = machine();
    for (let i = 0; i < DEBUGCON_LINE_MAX + 3; i++) outb(devices, PORT, 0x78);
    expect(hooks.markers).toEqual(["x".repeat(DEBUGCON_LINE_MAX)]);
    devices.debugcon.flush();
    expect(hooks.markers[1]).toBe("xxx");
  });

  it("reads back 0xe9 so a guest can detect it", () => {
    const { devices } = machine();
    expect(inb(devices, PORT)).toBe(0xe9);
  });
});

describe("isa-debug-exit", () => {
  it("hands the written value to the debugExit hook", () => {
    const { devices, hooks } = machine();
    expect(outb(devices, DEBUG_EXIT_PORT.base, 0x10)).toBe("isa-debug-exit");
    devices.pio.write(DEBUG_EXIT_PORT.base, u32(0x1234));
    expect(hooks.exits).toEqual([0x10, 0x1234]);
    expect(inb(devices, DEBUG_EXIT_PORT.base)).toBe(0xff);
  });
});

describe("POST code port", () => {
  it("accepts writes and reads all ones", () => {
    const { devices } = machine();
    expect(outb(devices, POST_CODE_PORT.base, 0x55)).toBe("POST diagnostic port");
    expect(inb(devices, POST_CODE_PORT.base)).toBe(0xff);
  });
});

describe("MMIO teaching device", () => {
  const base = TEACHING_DEVICE_MMIO.base;

  it("reads its ID as the bytes KVMS", () => {
    const { devices } = machine();
    const data = new Uint8Array(4);
    expect(devices.mmio.read(base, data)).toBe("kvmscope teaching device (MMIO)");
    expect(new TextDecoder().decode(data)).toBe("KVMS");
  });

  it("keeps SCRATCH, counts COUNTER reads and rings the doorbell as a marker", () => {
    const { devices, hooks } = machine();
    devices.mmio.write(base + 4, u32(0xdeadbeef));
    expect(mmioRead32(devices, base + 4)).toBe(0xdeadbeef);
    expect([mmioRead32(devices, base + 8), mmioRead32(devices, base + 8), mmioRead32(devices, base + 8)]).toEqual([1, 2, 3]);
    devices.mmio.write(base + 0xc, u32(42));
    expect(hooks.markers).toEqual(["doorbell 42"]);
  });

  it("reads 0 and ignores writes for other sizes and offsets", () => {
    const { devices, hooks } = machine();
    devices.mmio.write(base + 4, u32(7));
    devices.mmio.write(base + 4, Uint8Array.of(0xff)); // 1-byte write: ignored
    devices.mmio.write(base + 0, u32(1)); // ID is read-only
    devices.mmio.write(base + 0xc, Uint8Array.of(1, 0)); // 2-byte doorbell: ignored
    const byte = new Uint8Array(1);
    devices.mmio.read(base + 4, byte);
    expect(byte[0]).toBe(0);
    expect(mmioRead32(devices, base + 0x10)).toBe(0);
    expect(mmioRead32(devices, base + 0xc)).toBe(0);
    expect(mmioRead32(devices, base + 2)).toBe(0);
    const wide = new Uint8Array(8).fill(0xaa);
    devices.mmio.read(base, wide);
    expect(Array.from(wide)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(mmioRead32(devices, base + 4)).toBe(7);
    expect(mmioRead32(devices, base)).toBe(0x534d564b);
    expect(hooks.markers).toEqual([]);
  });
});

describe("shared device memory", () => {
  it("lets two Devices built over the same memory see the same state", () => {
    const memory = allocateDeviceMemory();
    const a = createDevices(memory, fakeHooks(), { userIrqchip: true });
    const b = createDevices(memory, fakeHooks(), { userIrqchip: true });
    a.mmio.write(TEACHING_DEVICE_MMIO.base + 4, u32(0xcafef00d));
    expect(mmioRead32(b, TEACHING_DEVICE_MMIO.base + 4)).toBe(0xcafef00d);
    outb(a, COM1_PORTS.base, 0x21);
    expect(Array.from(b.uart.drainOutput())).toEqual([0x21]);
  });

  it("survives a structured clone, as workerData does", () => {
    const memory = allocateDeviceMemory();
    const clone = structuredClone(memory);
    expect(clone.pic).toBeInstanceOf(SharedArrayBuffer);
    const a = createDevices(memory, fakeHooks(), { userIrqchip: true });
    const b = createDevices(clone, fakeHooks(), { userIrqchip: true });
    a.mmio.write(TEACHING_DEVICE_MMIO.base + 4, u32(5));
    expect(mmioRead32(b, TEACHING_DEVICE_MMIO.base + 4)).toBe(5);
  });

  it("rejects memory that is not what allocateDeviceMemory made", () => {
    const memory = { ...allocateDeviceMemory(), uart: new ArrayBuffer(8) as unknown as SharedArrayBuffer };
    expect(() => createDevices(memory, fakeHooks(), { userIrqchip: true })).toThrow(/DeviceMemory\.uart/);
  });
});

describe("SharedLock", () => {
  it("refuses a nested acquire instead of deadlocking", () => {
    const lock = new SharedLock(new Int32Array(new SharedArrayBuffer(4)), 0);
    lock.acquire();
    expect(() => lock.acquire()).toThrow(/not reentrant/);
    lock.release();
    expect(() => lock.release()).toThrow(/without a matching acquire/);
    expect(lock.withLock(() => 7)).toBe(7);
  });

  it("refuses a lock word outside shared memory", () => {
    expect(() => new SharedLock(new Int32Array(1), 0)).toThrow(TypeError);
  });

  it("releases the lock when the guarded code throws", () => {
    const word = new Int32Array(new SharedArrayBuffer(4));
    const lock = new SharedLock(word, 0);
    expect(() =>
      lock.withLock(() => {
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(Atomics.load(word, 0)).toBe(0);
  });
});
