// A trace written to a file while the run goes on, in either export format, streamed: nothing of
// the run is held in memory beyond one chunk. Writes are synchronous appends (the main thread can
// afford them: the vCPU threads never wait for it, their rings buffer meanwhile).
import { closeSync, openSync, writeSync } from "node:fs";
import { ChromeTraceWriter, type EndLine, NdjsonWriter, type RunLine, type TraceRecord } from "@kvmscope/shared";

export type TraceFormat = "ndjson" | "chrome";

export interface TraceFile {
  begin(run: RunLine): void;
  records(batch: readonly TraceRecord[]): void;
  end(end: EndLine): void;
  close(): Promise<void>;
}

export function openTraceFile(path: string, format: TraceFormat): TraceFile {
  const fd = openSync(path, "w");
  const sink = (chunk: string): void => {
    writeSync(fd, chunk);
  };
  let ndjson: NdjsonWriter | undefined;
  let chrome: ChromeTraceWriter | undefined;
  return {
    begin(run) {
      if (format === "ndjson") ndjson = new NdjsonWriter(sink, run);
      else chrome = new ChromeTraceWriter(sink, { metadata: run, vcpus: typeof run.vcpus === "number" ? run.vcpus : undefined });
    },
    records(batch) {
      for (const r of batch) {
        ndjson?.write(r);
        chrome?.write(r);
      }
    },
    end(end) {
      ndjson?.end(end);
      chrome?.end(end);
    },
    async close() {
      closeSync(fd);
    },
  };
}
