// The machine's devices and THE port map: every device is registered here, once, at the address
// layout.ts gives it. Each thread (the main thread and every vCPU worker) calls createDevices over
// the same DeviceMemory and gets its own objects viewing the same shared state.

import {
  COM1_PORTS,
  DEBUG_EXIT_PORT,
  DEBUGCON_PORT,
  PIC_MASTER_PORTS,
  PIC_SLAVE_PORTS,
  PIT_PORTS,
  POST_CODE_PORT,
  SYSTEM_CONTROL_PORT_B,
  TEACHING_DEVICE_MMIO,
  type AddressRange,
} from "../layout.js";
import { Bus, BusRange } from "./bus.js";
import { DebugExit } from "./debug-exit.js";
import { Debugcon } from "./debugcon.js";
import { MmioTeachingDevice } from "./mmio-teaching-device.js";
import { Pic } from "./pic-8259.js";
import { Pit } from "./pit-8254.js";
import { PostCode } from "./post-code.js";
import { checkDeviceMemory, type DeviceMemory } from "./device-memory.js";
import { SharedLock, type DeviceHooks } from "./shared-state.js";
import { Uart } from "./uart-16550.js";

export { Bus, BusRange, dataToUint32, uint32ToData, type BusDevice } from "./bus.js";
export { DebugExit } from "./debug-exit.js";
export { Debugcon, DEBUGCON_LINE_MAX } from "./debugcon.js";
export { MmioTeachingDevice, TEACHING_DEVICE_ID, TEACHING_REG_COUNTER, TEACHING_REG_DOORBELL, TEACHING_REG_ID, TEACHING_REG_SCRATCH } from "./mmio-teaching-device.js";
export { Pic, type PicChipState, type PicState } from "./pic-8259.js";
export { Pit, PIT_INPUT_HZ, type PitChannel0 } from "./pit-8254.js";
export { PostCode } from "./post-code.js";
export { allocateDeviceMemory, checkDeviceMemory, type DeviceMemory } from "./device-memory.js";
export { SharedLock, type DeviceHooks } from "./shared-state.js";
export { Uart } from "./uart-16550.js";

export interface Devices {
  /** Port I/O: KVM_EXIT_IO goes here. */
  readonly pio: Bus;
  /** KVM_EXIT_MMIO goes here. */
  readonly mmio: Bus;
  /** The one device lock. Device methods take it themselves; exposed for state the VMM keeps beside the devices. */
  readonly lock: SharedLock;
  readonly uart: Uart;
  /** With the in-kernel irqchip (userIrqchip false) this PIC is not on the bus and never sees an interrupt: use KVM_IRQ_LINE instead. */
  readonly pic: Pic;
  /** With the in-kernel irqchip this PIT is not on the bus: KVM_CREATE_PIT2's counter runs instead. */
  readonly pit: Pit;
  readonly debugcon: Debugcon;
  readonly debugExit: DebugExit;
  readonly postCode: PostCode;
  readonly teachingDevice: MmioTeachingDevice;
  readonly userIrqchip: boolean;
}

const at = (range: AddressRange): BusRange => new BusRange(range.base, range.length);

/**
 * Build this thread's device objects over the VM's shared device memory. `userIrqchip` false means
 * KVM's in-kernel PIC and PIT (KVM_CREATE_IRQCHIP, KVM_CREATE_PIT2) own ports 0x20/0x21, 0xa0/0xa1
 * and the ELCR pair 0x4d0/0x4d1 (the PICs), 0x40-0x43 (the PIT) and 0x61 (Vm.createPit2 passes
 * KVM_PIT_SPEAKER_DUMMY; without it 0x61 would exit to us with nothing behind it); KVM never
 * exits to us for them, and ours stay off the bus.
 */
export function createDevices(memory: DeviceMemory, hooks: DeviceHooks, options: { userIrqchip: boolean }): Devices {
  checkDeviceMemory(memory);
  const lock = new SharedLock(new Int32Array(memory.lock), 0);
  const pio = new Bus("pio");
  const mmio = new Bus("mmio");

  const uart = new Uart(memory.uart, lock);
  const pic = new Pic(memory.pic, lock);
  const pit = new Pit(memory.pit, lock, hooks);
  const debugcon = new Debugcon(memory.debugcon, lock, hooks);
  const debugExit = new DebugExit(hooks);
  const postCode = new PostCode();
  const teachingDevice = new MmioTeachingDevice(memory.teachingDevice, lock, hooks);

  if (options.userIrqchip) {
    /* 0x0020 - 0x0021 - 8259A PIC 1 (master): command, data (IMR / ICW2-4) */
    pio.insert(at(PIC_MASTER_PORTS), pic.master);
    /* 0x0040 - 0x0043 - 8254 PIT: counters 0-2, control word */
    pio.insert(at(PIT_PORTS), pit);
    /* 0x0061 - 0x0061 - system control port B: PIT counter 2 gate and output, speaker */
    pio.insert(at(SYSTEM_CONTROL_PORT_B), pit.portB);
  }
  /* 0x0080 - 0x0080 - POST diagnostic port (writes ignored; also the classic I/O delay) */
  pio.insert(at(POST_CODE_PORT), postCode);
  if (options.userIrqchip) {
    /* 0x00A0 - 0x00A1 - 8259A PIC 2 (slave, cascaded on IRQ2) */
    pio.insert(at(PIC_SLAVE_PORTS), pic.slave);
  }
  /* 0x00E9 - 0x00E9 - debugcon (Bochs port e9 hack): a marker per line */
  pio.insert(at(DEBUGCON_PORT), debugcon);
  /* 0x00F4 - 0x00F4 - isa-debug-exit (QEMU): ends the run with status (v << 1) | 1 */
  pio.insert(at(DEBUG_EXIT_PORT), debugExit);
  /* 0x03F8 - 0x03FF - 16550 UART (COM1), polled */
  pio.insert(at(COM1_PORTS), uart);

  /* 0xD0000000 - 0xD0000FFF - kvmscope teaching device: ID, SCRATCH, COUNTER, DOORBELL */
  mmio.insert(at(TEACHING_DEVICE_MMIO), teachingDevice);

  return { pio, mmio, lock, uart, pic, pit, debugcon, debugExit, postCode, teachingDevice, userIrqchip: options.userIrqchip };
}
