// The binary statistics fd from KVM_GET_STATS_FD (Documentation/virt/kvm/api.rst, "KVM_GET_STATS_FD"):
// a header, then one descriptor per statistic (name, type, size, offset), then the values as __u64.
// The layout is fixed for the fd's lifetime, so the descriptors are read once and every sample is
// one pread of the data block.
import { check } from "./errors.js";
import { kvmConstant, kvmLayout, native } from "./native.js";

export interface StatDescriptor {
  name: string;
  /** KVM_STATS_TYPE_*: cumulative counter, instant value, peak, histogram. */
  type: "cumulative" | "instant" | "peak" | "linear-hist" | "log-hist" | "unknown";
  /** Number of __u64 values (1, or the bucket count of a histogram). */
  size: number;
  /** Byte offset of the first value inside the data block. */
  offset: number;
}

function statType(flags: number): StatDescriptor["type"] {
  const t = flags & kvmConstant("KVM_STATS_TYPE_MASK");
  if (t === kvmConstant("KVM_STATS_TYPE_CUMULATIVE")) return "cumulative";
  if (t === kvmConstant("KVM_STATS_TYPE_INSTANT")) return "instant";
  if (t === kvmConstant("KVM_STATS_TYPE_PEAK")) return "peak";
  if (t === kvmConstant("KVM_STATS_TYPE_LINEAR_HIST")) return "linear-hist";
  if (t === kvmConstant("KVM_STATS_TYPE_LOG_HIST")) return "log-hist";
  return "unknown";
}

export class VcpuStats {
  readonly descriptors: StatDescriptor[] = [];
  readonly #byName = new Map<string, StatDescriptor>();
  readonly #dataOffset: number;
  readonly #data: Uint8Array;
  readonly #dataView: DataView;
  #closed = false;

  constructor(readonly fd: number) {
    const header = new Uint8Array(kvmLayout("kvm_stats_header"));
    check("pread (stats header)", native.pread(fd, header, 0));
    const hv = new DataView(header.buffer);
    const nameSize = hv.getUint32(kvmLayout("stats_header.name_size"), true);
    const count = hv.getUint32(kvmLayout("stats_header.num_desc"), true);
    const descOffset = hv.getUint32(kvmLayout("stats_header.desc_offset"), true);
    this.#dataOffset = hv.getUint32(kvmLayout("stats_header.data_offset"), true);

    const descSize = kvmLayout("kvm_stats_desc") + nameSize;
    const descs = new Uint8Array(descSize * count);
    check("pread (stats descriptors)", native.pread(fd, descs, descOffset));
    const dv = new DataView(descs.buffer);
    let dataBytes = 0;
    for (let i = 0; i < count; i++) {
      const at = i * descSize;
      const nameStart = at + kvmLayout("stats_desc.name");
      const nameBytes = descs.subarray(nameStart, nameStart + nameSize);
      const end = nameBytes.indexOf(0);
      const d: StatDescriptor = {
        name: new TextDecoder().decode(nameBytes.subarray(0, end < 0 ? nameSize : end)),
        type: statType(dv.getUint32(at + kvmLayout("stats_desc.flags"), true)),
        size: dv.getUint16(at + kvmLayout("stats_desc.size"), true),
        offset: dv.getUint32(at + kvmLayout("stats_desc.offset"), true),
      };
      this.descriptors.push(d);
      this.#byName.set(d.name, d);
      dataBytes = Math.max(dataBytes, d.offset + 8 * d.size);
    }
    this.#data = new Uint8Array(dataBytes);
    this.#dataView = new DataView(this.#data.buffer);
  }

  has(name: string): boolean {
    return this.#byName.has(name);
  }

  /** One pread of every value; then read them with value(). Returns the sample time (CLOCK_MONOTONIC ns). */
  refresh(): number {
    check("pread (stats data)", native.pread(this.fd, this.#data, this.#dataOffset));
    return native.now();
  }

  /** The first __u64 of statistic `name` as of the last refresh(), or undefined if this kernel lacks it. */
  value(name: string): number | undefined {
    const d = this.#byName.get(name);
    return d === undefined ? undefined : Number(this.#dataView.getBigUint64(d.offset, true));
  }

  /** refresh(), then every single-valued statistic by name. */
  readAll(): Record<string, number> {
    this.refresh();
    const out: Record<string, number> = {};
    for (const d of this.descriptors) if (d.size === 1) out[d.name] = Number(this.#dataView.getBigUint64(d.offset, true));
    return out;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    native.close(this.fd);
  }
}
