// One thread's trace writer: turns what happens on this thread into records in its own ring.
// The vCPU exit loop writes its exit records straight into the ring (see vcpu/exit-loop.ts); every
// other kind goes through here.
import type { IoctlEvent } from "@kvmscope/kvm-binding";
import { monotonicNs } from "@kvmscope/kvm-binding";
import {
  H, IOCTL, MARKER, MARKER_TEXT_BYTES, RecordFlag, RecordKind, STATS, STAT_NAMES, ioctlId,
} from "@kvmscope/shared";
import { RingWriter } from "./ring.js";

const encoder = new TextEncoder();

export class Tracer {
  readonly ring: RingWriter;

  /**
   * @param thread MAIN_THREAD or the vCPU index
   * @param t0 CLOCK_MONOTONIC ns when the run began: every `ts` is relative to it
   * @param seqCounter the run's one sequence counter (an Int32Array slot shared by all threads)
   */
  constructor(ringSab: SharedArrayBuffer, readonly thread: number, readonly t0: number, seqCounter: { array: Int32Array; index: number }) {
    this.ring = new RingWriter(ringSab, thread, seqCounter, () => monotonicNs() - t0);
  }

  /** The IoctlObserver for this thread's Kvm / Vm / Vcpu objects. */
  readonly ioctl = (e: IoctlEvent): void => {
    const at = this.ring.reserve(RecordKind.Ioctl);
    if (at < 0) return;
    const v = this.ring.view;
    v.setFloat64(at + H.ts, e.startNs - this.t0, true);
    v.setUint32(at + H.code, ioctlId(e.name), true);
    v.setUint32(at + H.aux, e.fd < 0 ? 0xffffffff : e.fd, true);
    v.setFloat64(at + H.dur, e.durNs, true);
    v.setInt32(at + IOCTL.ret, e.ret, true);
    v.setUint32(at + IOCTL.errno, e.errno, true);
    const n = Math.min(e.args.length, 3);
    for (let i = 0; i < 3; i++) v.setFloat64(at + IOCTL.args + 8 * i, i < n ? (e.args[i] ?? 0) : 0, true);
    v.setUint8(at + IOCTL.nargs, n);
    this.ring.publish();
  };

  /** A label on this thread's timeline (the guest's debugcon lines, or the VMM's own notes). */
  marker(text: string, tsNs = monotonicNs() - this.t0): void {
    const at = this.ring.reserve(RecordKind.Marker);
    if (at < 0) return;
    const v = this.ring.view;
    const bytes = encoder.encode(text);
    let stored = Math.min(bytes.length, MARKER_TEXT_BYTES);
    // Never cut a UTF-8 sequence in half: back up to the start of a character.
    while (stored < bytes.length && stored > 0 && ((bytes[stored] ?? 0) & 0xc0) === 0x80) stored--;
    v.setFloat64(at + H.ts, tsNs, true);
    v.setUint16(at + MARKER.textLen, bytes.length, true);
    new Uint8Array(v.buffer, at + MARKER.text, stored).set(bytes.subarray(0, stored));
    if (stored < bytes.length) v.setUint8(at + H.flags, RecordFlag.Truncated);
    this.ring.publish();
  }

  /** A sample of vCPU `vcpu`'s kernel statistics, values in STAT_NAMES order (-1: not on this kernel). */
  stats(vcpu: number, values: readonly number[], tsNs: number): void {
    const at = this.ring.reserve(RecordKind.Stats);
    if (at < 0) return;
    const v = this.ring.view;
    v.setUint16(at + H.thread, vcpu, true);
    v.setFloat64(at + H.ts, tsNs, true);
    for (let i = 0; i < STAT_NAMES.length; i++) v.setFloat64(at + STATS.values + 8 * i, values[i] ?? -1, true);
    this.ring.publish();
  }
}
