// Which of the VMM's device models sits at which I/O port or guest-physical address: the web
// app's one copy of the machine's address map. The web app cannot import apps/vmm (it is Node
// code), so the port map of apps/vmm/src/devices/index.ts, at the ranges of
// apps/vmm/src/layout.ts, is restated here; test/devices.test.ts and test/explain.test.ts compare
// the two so they cannot drift apart silently. Everything else (the thread model, activity, the
// plain-words explanations, the source map, the console) takes ports and addresses from here.
//
// Device ids are also the thread model's highlight ids ("dev:uart", ...) and the walkthroughs'.
import { EXIT_IO, EXIT_MMIO, KvmExit, RecordKind, type TraceRecord } from "@kvmscope/shared";
import type { TraceStore } from "./trace-store";

export type DeviceId = "uart" | "pic" | "pit" | "post" | "debugcon" | "debug-exit" | "mmio" | "unassigned";

/**
 * One register file a model answers on, by what it is: a model can have several (the PIC's master
 * and slave chips, the PIT's counters and port B). The explanations and the source map decode by it.
 */
export type DeviceRangeId = "picMaster" | "picSlave" | "pit" | "portB" | "post" | "debugcon" | "debugExit" | "uart" | "teaching";

/** One range a device model answers on: I/O ports or guest-physical addresses. */
export interface DeviceRange {
  id: DeviceRangeId;
  space: "pio" | "mmio";
  base: number;
  length: number;
  /** The constant in apps/vmm/src/layout.ts that places this range. */
  layoutName: string;
}

export interface DeviceModel {
  id: DeviceId;
  /** What the device is, as its datasheet or QEMU calls it (the same in every language). */
  name: string;
  /** A few characters for a small box. */
  short: string;
  ranges: readonly DeviceRange[];
  /**
   * On the port bus only with the userspace irqchip: with `--irqchip kernel` KVM's own PIC and
   * PIT (KVM_CREATE_IRQCHIP, KVM_CREATE_PIT2 with KVM_PIT_SPEAKER_DUMMY, so port B 0x61 too)
   * answer these ports (and the PICs' ELCR, 0x4d0-0x4d1), and no access to them is an exit to the VMM.
   */
  userIrqchipOnly: boolean;
  /** Our model's source file. */
  file: string;
}

/** A device an exit reached: what the views draw and label. */
export interface DeviceRef {
  id: DeviceId;
  name: string;
  short: string;
}

/** The VMM's device models, in the order devices/index.ts registers them. */
export const DEVICE_MODELS: readonly DeviceModel[] = [
  {
    id: "pic", name: "8259A PIC (master 0x20, slave 0xa0)", short: "PIC",
    ranges: [
      { id: "picMaster", space: "pio", base: 0x20, length: 2, layoutName: "PIC_MASTER_PORTS" },
      { id: "picSlave", space: "pio", base: 0xa0, length: 2, layoutName: "PIC_SLAVE_PORTS" },
    ],
    userIrqchipOnly: true, file: "apps/vmm/src/devices/pic-8259.ts",
  },
  {
    // Port 0x61 (system control port B) is the PIT's counter-2 gate: the same model answers it.
    id: "pit", name: "8254 PIT (0x40-0x43, port B 0x61)", short: "PIT",
    ranges: [
      { id: "pit", space: "pio", base: 0x40, length: 4, layoutName: "PIT_PORTS" },
      { id: "portB", space: "pio", base: 0x61, length: 1, layoutName: "SYSTEM_CONTROL_PORT_B" },
    ],
    userIrqchipOnly: true, file: "apps/vmm/src/devices/pit-8254.ts",
  },
  {
    id: "post", name: "POST code port (0x80)", short: "POST",
    ranges: [{ id: "post", space: "pio", base: 0x80, length: 1, layoutName: "POST_CODE_PORT" }],
    userIrqchipOnly: false, file: "apps/vmm/src/devices/post-code.ts",
  },
  {
    id: "debugcon", name: "debugcon (0xe9)", short: "debugcon",
    ranges: [{ id: "debugcon", space: "pio", base: 0xe9, length: 1, layoutName: "DEBUGCON_PORT" }],
    userIrqchipOnly: false, file: "apps/vmm/src/devices/debugcon.ts",
  },
  {
    id: "debug-exit", name: "isa-debug-exit (0xf4)", short: "debug-exit",
    ranges: [{ id: "debugExit", space: "pio", base: 0xf4, length: 1, layoutName: "DEBUG_EXIT_PORT" }],
    userIrqchipOnly: false, file: "apps/vmm/src/devices/debug-exit.ts",
  },
  {
    id: "uart", name: "16550 UART, COM1 (0x3f8-0x3ff)", short: "UART",
    ranges: [{ id: "uart", space: "pio", base: 0x3f8, length: 8, layoutName: "COM1_PORTS" }],
    userIrqchipOnly: false, file: "apps/vmm/src/devices/uart-16550.ts",
  },
  {
    id: "mmio", name: "teaching MMIO device (0xd0000000)", short: "MMIO dev",
    ranges: [{ id: "teaching", space: "mmio", base: 0xd000_0000, length: 0x1000, layoutName: "TEACHING_DEVICE_MMIO" }],
    userIrqchipOnly: false, file: "apps/vmm/src/devices/mmio-teaching-device.ts",
  },
];

/** Where an access to a port or address nobody claims ends: the bus reads 0xff and drops writes. */
export const UNASSIGNED: DeviceRef = { id: "unassigned", name: "no device (reads 0xff, writes dropped)", short: "nothing" };

const REFS = new Map<DeviceId, DeviceRef>(DEVICE_MODELS.map((d) => [d.id, { id: d.id, name: d.name, short: d.short }]));
REFS.set("unassigned", UNASSIGNED);

/** Every device id, "unassigned" last: the index a hot loop can count by (deviceIndexOfRow). */
export const DEVICE_IDS: readonly DeviceId[] = [...DEVICE_MODELS.map((d) => d.id), "unassigned"];
const UNASSIGNED_INDEX = DEVICE_IDS.length - 1;
const REF_BY_INDEX: readonly DeviceRef[] = DEVICE_IDS.map((id) => REFS.get(id)!);

/** The device models on the buses for a run with this irqchip (the thread model draws these). */
export function devicesFor(irqchip: "user" | "kernel"): DeviceModel[] {
  return DEVICE_MODELS.filter((d) => irqchip === "user" || !d.userIrqchipOnly);
}

export function deviceRef(id: DeviceId): DeviceRef {
  return REFS.get(id) ?? UNASSIGNED;
}

// A flat table for the hot path (activity walks thousands of rows per update).
interface TableEntry {
  base: number;
  end: number;
  index: number;
  model: DeviceModel;
  range: DeviceRange;
}
const PIO_TABLE: TableEntry[] = [];
const MMIO_TABLE: TableEntry[] = [];
const RANGES = new Map<DeviceRangeId, { model: DeviceModel; range: DeviceRange }>();
for (const model of DEVICE_MODELS) {
  for (const range of model.ranges) {
    (range.space === "pio" ? PIO_TABLE : MMIO_TABLE)
      .push({ base: range.base, end: range.base + range.length, index: DEVICE_IDS.indexOf(model.id), model, range });
    RANGES.set(range.id, { model, range });
  }
}

function entryIn(table: readonly TableEntry[], at: number): TableEntry | undefined {
  for (const e of table) if (at >= e.base && at < e.end) return e;
  return undefined;
}

function indexIn(table: readonly TableEntry[], at: number): number {
  return entryIn(table, at)?.index ?? UNASSIGNED_INDEX;
}

/** A port or address inside one of a model's ranges: `offset` units past the range's base. */
export interface RangeHit {
  model: DeviceModel;
  range: DeviceRange;
  offset: number;
}

function hitIn(table: readonly TableEntry[], at: number): RangeHit | null {
  const e = entryIn(table, at);
  return e === undefined ? null : { model: e.model, range: e.range, offset: at - e.base };
}

/** The range (and model) I/O port `port` falls in, with its offset there; null where nothing answers. */
export function rangeOfPort(port: number): RangeHit | null {
  return hitIn(PIO_TABLE, port);
}

/** The range (and model) guest-physical address `addr` falls in, with its offset there; null where nothing answers. */
export function rangeOfAddress(addr: number): RangeHit | null {
  return hitIn(MMIO_TABLE, addr);
}

/** A range by its id, with the model that answers on it. */
export function rangeById(id: DeviceRangeId): { model: DeviceModel; range: DeviceRange } {
  return RANGES.get(id)!;
}

/** The model that owns I/O port `port` (KVM_EXIT_IO), or UNASSIGNED. */
export function deviceOfPort(port: number): DeviceRef {
  return REF_BY_INDEX[indexIn(PIO_TABLE, port)]!;
}

/** The model that owns guest-physical address `addr` (KVM_EXIT_MMIO), or UNASSIGNED. */
export function deviceOfAddress(addr: number): DeviceRef {
  return REF_BY_INDEX[indexIn(MMIO_TABLE, addr)]!;
}

/**
 * The device model an exit goes to: IO exits by port, MMIO exits by address. Null for records
 * that are not exits, and for exits no device handles (HLT, IRQ window, INTR, SHUTDOWN, ...).
 */
export function deviceOfExit(record: TraceRecord): DeviceRef | null {
  if (record.type !== "exit") return null;
  if (record.code === KvmExit.IO) return record.io ? deviceOfPort(record.io.port) : UNASSIGNED;
  if (record.code === KvmExit.MMIO) return record.mmio ? deviceOfAddress(record.mmio.addr) : UNASSIGNED;
  return null;
}

// One DataView per raw chunk, so reading a row's port or address allocates nothing but the
// subarray rawBytes returns.
const chunkViews = new WeakMap<ArrayBufferLike, DataView>();
function viewOf(bytes: Uint8Array): DataView {
  let v = chunkViews.get(bytes.buffer);
  if (v === undefined) {
    v = new DataView(bytes.buffer);
    chunkViews.set(bytes.buffer, v);
  }
  return v;
}

/**
 * The index in DEVICE_IDS of the device a store row's exit goes to, or -1 (not an IO or MMIO
 * exit); read from the raw record without decoding it.
 */
export function deviceIndexOfRow(store: TraceStore, row: number): number {
  if (store.kind[row] !== RecordKind.Exit) return -1;
  const code = store.code[row];
  if (code !== KvmExit.IO && code !== KvmExit.MMIO) return -1;
  const bytes = store.rawBytes(row);
  const view = viewOf(bytes);
  return code === KvmExit.IO
    ? indexIn(PIO_TABLE, view.getUint16(bytes.byteOffset + EXIT_IO.port, true))
    : indexIn(MMIO_TABLE, view.getFloat64(bytes.byteOffset + EXIT_MMIO.addr, true));
}

/** deviceOfExit for a store row, read from the raw record without decoding it. */
export function deviceOfRow(store: TraceStore, row: number): DeviceRef | null {
  const i = deviceIndexOfRow(store, row);
  return i < 0 ? null : REF_BY_INDEX[i]!;
}
