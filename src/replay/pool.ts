/**
 * A small pool of parse workers for `replay --dry-run` on big inputs. The
 * parser is pure and CPU-bound; reading files and writing stdout stay on the
 * main thread, so with workers both run at once. Jobs are answered in the
 * order they were submitted (each job's promise is awaited in order by the
 * caller).
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { ParseOptions } from '../core/types.js';

export interface BatchJob {
  seq: number;
  /** The mails of the batch, back to back (transferred, not copied). */
  buffer: ArrayBuffer;
  /** Mail i is buffer[offsets[i], offsets[i+1]). */
  offsets: number[];
  sources: string[];
}

export type MailRecord =
  | { kind: 'events'; events: number }
  | { kind: 'private'; messageId?: string }
  | { kind: 'foreign' | 'invalid'; reason: string; messageId?: string };

export interface BatchResult {
  seq: number;
  /** The §5 lines of the batch as UTF-8, each ending in a newline (transferred). */
  lines: ArrayBuffer;
  /** One per mail, in batch order. */
  records: MailRecord[];
}

/**
 * Workers to start: one per core beyond the main thread's, at most 4; none
 * on one or two cores, where handing mails to a worker and lines back costs
 * more CPU (measured: about +15% for one worker) than it wins.
 */
export function defaultWorkerCount(cores = availableParallelism()): number {
  return cores >= 3 ? Math.min(4, cores - 1) : 0;
}

/**
 * Starts dist/replay/worker.js. Under tsx (tests, `node --import tsx
 * src/cli.ts`) the worker is the .ts file; Node 20 does not apply `--import`
 * hooks inside workers, so it is loaded through tsx's tsImport.
 */
function startWorker(workerData: unknown): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./worker.js', import.meta.url), { workerData });
  const api = import.meta.resolve('tsx/esm/api');
  const self = new URL('./worker.ts', import.meta.url).href;
  const boot = `import(${JSON.stringify(api)}).then(({ tsImport }) => tsImport(${JSON.stringify(self)}, ${JSON.stringify(import.meta.url)}))`;
  return new Worker(boot, { eval: true, workerData });
}

export class ParsePool {
  readonly #workers: Worker[] = [];
  /** Per worker: the jobs sent and not answered yet, oldest first. */
  readonly #waiting: Array<Array<{ resolve: (r: BatchResult) => void; reject: (e: Error) => void }>> = [];
  #next = 0;
  #seq = 0;
  #failed: Error | undefined;

  constructor(opts: { parseOptions: ParseOptions; workers?: number }) {
    const n = Math.max(1, opts.workers ?? defaultWorkerCount());
    const workerData = { parseOptions: opts.parseOptions };
    for (let i = 0; i < n; i++) {
      const w = startWorker(workerData);
      const waiting: Array<{ resolve: (r: BatchResult) => void; reject: (e: Error) => void }> = [];
      w.on('message', (r: BatchResult) => waiting.shift()?.resolve(r));
      const fail = (err: Error): void => {
        this.#failed ??= err;
        for (const p of waiting.splice(0)) p.reject(err);
      };
      w.on('error', fail);
      w.on('exit', (code) => {
        if (waiting.length > 0) fail(new Error(`parse worker exited (code ${code}) with ${waiting.length} batches unanswered`));
      });
      this.#workers.push(w);
      this.#waiting.push(waiting);
    }
  }

  get size(): number {
    return this.#workers.length;
  }

  /** Sends a batch (round robin); the promise resolves with its result. */
  submit(mails: ReadonlyArray<{ source: string; raw: Buffer }>): Promise<BatchResult> {
    if (this.#failed) return Promise.reject(this.#failed);
    let total = 0;
    for (const m of mails) total += m.raw.length;
    // allocUnsafeSlow: a buffer of its own (not a slice of the shared pool), safe to transfer.
    const buf = Buffer.allocUnsafeSlow(total);
    const offsets = [0];
    let off = 0;
    for (const m of mails) {
      m.raw.copy(buf, off);
      off += m.raw.length;
      offsets.push(off);
    }
    const i = this.#next;
    this.#next = (this.#next + 1) % this.#workers.length;
    const job: BatchJob = { seq: this.#seq++, buffer: buf.buffer as ArrayBuffer, offsets, sources: mails.map((m) => m.source) };
    return new Promise<BatchResult>((resolve, reject) => {
      this.#waiting[i]!.push({ resolve, reject });
      this.#workers[i]!.postMessage(job, [job.buffer]);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}
