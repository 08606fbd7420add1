// The streaming writers' output buffer: text collects until about `chunkChars`, then goes to the
// sink in one piece, so a writer never holds more than one chunk of a run.
export const DEFAULT_CHUNK_CHARS = 64 * 1024;

export class ChunkBuffer {
  #buffer = "";

  constructor(private readonly sink: (chunk: string) => void, private readonly chunkChars = DEFAULT_CHUNK_CHARS) {}

  append(text: string): void {
    this.#buffer += text;
    if (this.#buffer.length >= this.chunkChars) this.flush();
  }

  /** Pushes a partial chunk out (e.g. for live streaming, or at the end). */
  flush(): void {
    if (this.#buffer.length === 0) return;
    const chunk = this.#buffer;
    this.#buffer = "";
    this.sink(chunk);
  }
}
