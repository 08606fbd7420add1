// `kvmscope bench-store`: the store holding a 1,000,000-record run (the target: one page of
// 10,000 records from the middle of a 1,000,000-record run in under 50 ms). A measurement, not a
// test: it prints its numbers, and fails only if what it read back is wrong.
//
// Records are pio-loop-like (the exit benchmark's guest: an OUT to one port, over and over, with
// jittered times, and a stats sample every 20 ms), built with the shared codec.
import { statSync, mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import zlib from "node:zlib";
import { parseArgs } from "node:util";
import { encodeBatch, KvmExit, type TraceRecord } from "@kvmscope/shared";
import { CHUNK_RECORDS, ConfigError, DB_FILE, Store } from "@kvmscope/vmm";

const BATCH = 4_000;
let TOTAL = 1_000_000;

/** What was read back is not what was written: the store is wrong, whatever the numbers say. */
function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`bench-store read back the wrong records: ${what}`);
}

/** Deterministic jitter. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function batches(): Uint8Array[] {
  const rand = prng(42);
  const out: Uint8Array[] = [];
  let ts = 30_000_000;
  let nextStats = ts;
  let exits = 0;
  for (let seq = 0; seq < TOTAL; ) {
    const recs: TraceRecord[] = [];
    while (recs.length < BATCH) {
      if (ts >= nextStats) {
        recs.push({ type: "stats", seq: seq++, ts, vcpu: 0, counters: { exits: exits * 1.02, io_exits: exits, mmio_exits: 0, halt_exits: 0, irq_exits: Math.floor(exits / 500), signal_exits: 0 } });
        nextStats += 20_000_000;
        continue;
      }
      const guestNs = Math.round(700 + rand() * 400);
      const handleNs = Math.round(1_500 + rand() * 1_500 + (rand() < 0.01 ? 20_000 : 0));
      ts += guestNs;
      recs.push({
        type: "exit", seq: seq++, ts, vcpu: 0, reason: "KVM_EXIT_IO", code: KvmExit.IO, rip: 0x7c0a, guestNs, handleNs,
        ifFlag: false, readyForInjection: true, requestedWindow: false,
        io: { port: 0x80, size: 1, direction: "out", count: 1, data: [exits & 0xff] },
      });
      ts += handleNs;
      exits++;
    }
    out.push(encodeBatch(recs));
  }
  return out;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

function fmt(ms: number): string {
  return `${ms.toFixed(1)} ms`;
}

export async function runStoreBench(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { records: { type: "string" } }, strict: true });
  if (values.records !== undefined) {
    TOTAL = Number(values.records);
    if (!Number.isSafeInteger(TOTAL) || TOTAL < 600_000 || TOTAL % BATCH !== 0) throw new ConfigError(`--records must be a multiple of ${BATCH} from 600000 on; got ${values.records}`);
  }
  const dir = mkdtempSync(path.join(tmpdir(), "kvmscope-store-bench-"));
  try {
    await measureStore(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return 0;
}

async function measureStore(dir: string): Promise<void> {
  const say = (s: string): void => {
    process.stdout.write(`  ${s}\n`);
  };
  process.stdout.write("[store bench]\n");
  const input = batches();
  say(`${TOTAL.toLocaleString("en")} records in ${input.length} batches of ${BATCH}, ${CHUNK_RECORDS} records a chunk`);

  // Compression of these records, chunk by chunk (the store uses deflate-raw level 1).
  const sample = Buffer.concat(input.slice(0, 25)); // 100k records
  for (const [name, comp, decomp] of [
    ["deflate-raw level 1", (b: Buffer) => zlib.deflateRawSync(b, { level: 1 }), (b: Buffer) => zlib.inflateRawSync(b)],
    ["brotli quality 1", (b: Buffer) => zlib.brotliCompressSync(b, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 1, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: b.length } }), (b: Buffer) => zlib.brotliDecompressSync(b)],
    ["brotli quality 0", (b: Buffer) => zlib.brotliCompressSync(b, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 0, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: b.length } }), (b: Buffer) => zlib.brotliDecompressSync(b)],
  ] as const) {
    let size = 0;
    let ct = 0;
    let dt = 0;
    for (let at = 0; at < sample.length; at += CHUNK_RECORDS * 128) {
      const chunk = sample.subarray(at, at + CHUNK_RECORDS * 128);
      let t = performance.now();
      const c = comp(chunk);
      ct += performance.now() - t;
      t = performance.now();
      decomp(c);
      dt += performance.now() - t;
      size += c.length;
    }
    const mb = sample.length / 1e6;
    say(`  ${name.padEnd(20)} ${(size / (sample.length / 128)).toFixed(2)} bytes/record, compress ${(mb / (ct / 1e3)).toFixed(0)} MB/s, decompress ${(mb / (dt / 1e3)).toFixed(0)} MB/s`);
  }

  const store = await Store.open(dir);
  const imageHash = await store.putImage(new Uint8Array([0xe6, 0x80, 0xeb, 0xfc]));
  const run = await store.createRun({ guest: "pio-loop", imageHash, config: { vcpus: 1 }, status: "running" });

  // Appends, one after another as the service's flush does; how long the main thread stalls meanwhile.
  const delay = monitorEventLoopDelay({ resolution: 1 });
  const times: number[] = [];
  delay.enable();
  const t0 = performance.now();
  for (const b of input) {
    const t = performance.now();
    await store.appendRecords(run.id, b);
    times.push(performance.now() - t);
  }
  const appendMs = performance.now() - t0;
  delay.disable();
  times.sort((a, b) => a - b);
  say(`append: ${fmt(appendMs)} in all (${Math.round(TOTAL / (appendMs / 1e3)).toLocaleString("en")} records/s); per ${BATCH}-record append p50 ${fmt(pct(times, 50))}, p99 ${fmt(pct(times, 99))}, max ${fmt(times[times.length - 1]!)}`);
  say(`main thread stalls while appending: event-loop delay p99 ${fmt(delay.percentile(99) / 1e6)}, max ${fmt(delay.max / 1e6)}`);

  // One flush of a busy second: 300,000 records in one call.
  const big = await store.createRun({ guest: "pio-loop", imageHash, config: { vcpus: 1 }, status: "running" });
  const second = Buffer.concat(input.slice(0, 75));
  delay.reset();
  delay.enable();
  let t = performance.now();
  await store.appendRecords(big.id, second);
  const bigMs = performance.now() - t;
  delay.disable();
  say(`one append of 300,000 records (a busy second's flush): ${fmt(bigMs)}; event-loop delay max ${fmt(delay.max / 1e6)}`);
  await store.close();

  const size = statSync(path.join(dir, DB_FILE)).size + (existsSync(path.join(dir, `${DB_FILE}-wal`)) ? statSync(path.join(dir, `${DB_FILE}-wal`)).size : 0);
  say(`on disk: ${(size / 1e6).toFixed(1)} MB for ${(TOTAL + 300_000).toLocaleString("en")} records = ${(size / (TOTAL + 300_000)).toFixed(2)} bytes/record (raw: 128)`);

  // Reads, from a freshly opened store.
  const reader = await Store.open(dir);
  const pageTimes: number[] = [];
  for (let i = 0; i < 11; i++) {
    t = performance.now();
    const page = await reader.readRecords(run.id, { fromSeq: 500_000, limit: 10_000 });
    pageTimes.push(performance.now() - t);
    check(page.records.length === 10_000 && page.records[0]!.seq === 500_000 && page.records[9_999]!.seq === 509_999 && page.next === 510_000, "the page from seq 500,000");
  }
  const first = pageTimes[0]!;
  const warm = pageTimes.slice(1).sort((a, b) => a - b);
  say(`readRecords(fromSeq 500,000, limit 10,000): first ${fmt(first)}, then median ${fmt(pct(warm, 50))}, max ${fmt(warm[warm.length - 1]!)} (target < 50 ms)`);

  t = performance.now();
  const filteredPage = await reader.readRecords(run.id, { fromSeq: 500_000, limit: 10_000, reason: "KVM_EXIT_IO", vcpu: 0 });
  say(`the same page, filtered (reason KVM_EXIT_IO, vcpu 0): ${fmt(performance.now() - t)}`);
  check(filteredPage.records.length === 10_000, "the filtered page");
  const mid = filteredPage.records[0]!.ts;
  t = performance.now();
  const tsPage = await reader.readRecords(run.id, { fromTs: mid, toTs: mid + 20_000_000, limit: 10_000 });
  say(`a ts window page (20 ms of guest time from the middle, ${tsPage.records.length} records): ${fmt(performance.now() - t)}`);

  const rss0 = process.memoryUsage().rss;
  let peak = rss0;
  let n = 0;
  t = performance.now();
  for await (const bytes of reader.streamRecords(run.id)) {
    n += bytes.byteLength / 128;
    peak = Math.max(peak, process.memoryUsage().rss);
  }
  say(`streamRecords over the whole run: ${fmt(performance.now() - t)} for ${n.toLocaleString("en")} records, RSS grew ${((peak - rss0) / 1e6).toFixed(0)} MB at most`);
  check(n === TOTAL, `the stream gave ${n} records`);
  await reader.close();
}
