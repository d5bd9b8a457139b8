/**
 * A one-line progress display on a terminal: `\r`-rewritten, at most ~10
 * updates a second, cleared at the end. Only used when stderr is a TTY.
 */
import type { Writable } from 'node:stream';

export class Progress {
  readonly #stream: Writable;
  readonly #intervalMs: number;
  #last = 0;
  #shown = false;

  constructor(stream: Writable, opts: { intervalMs?: number } = {}) {
    this.#stream = stream;
    this.#intervalMs = opts.intervalMs ?? 100;
  }

  /** Shows `text` unless the last update was less than the interval ago (or `force`). */
  update(text: string, force = false, now = Date.now()): void {
    if (!force && now - this.#last < this.#intervalMs) return;
    this.#last = now;
    // Cursor back to column 0 after the text, so a log line that follows overwrites it.
    this.#stream.write(`\r\u001b[K${text}\r`);
    this.#shown = true;
  }

  clear(): void {
    if (this.#shown) this.#stream.write('\r\u001b[K');
    this.#shown = false;
  }
}
