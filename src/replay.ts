/**
 * One-shot replay of stored mail (SPEC §5, §6): read files, folders, mbox
 * files or stdin, turn each mail into events with the pure core, and either
 * print them as §5 JSON lines (`--dry-run`) or publish them and wait for the
 * broker's acknowledgements. One bad mail is logged and counted; it never
 * stops the run.
 */
import type { Writable, Readable } from 'node:stream';
import type { Config } from './config/schema.js';
import { parseMail, parseOptionsFromConfig } from './core/index.js';
import type { LpEvent, ParseOutcome } from './core/types.js';
import { errorReason } from './errors.js';
import type { Logger } from './log.js';
import { dryRunLines } from './replay/line.js';
import { orderedMap } from './replay/ordered.js';
import { defaultWorkerCount, ParsePool, type BatchResult, type MailRecord } from './replay/pool.js';
import { planSources, readSources, type SourceItem } from './replay/sources.js';
import type { Verifier } from './verify.js';

/** Where events go when not a dry run (the MQTT Publisher, or a test double). */
export interface EventSink {
  publish(events: readonly LpEvent[]): Promise<void>;
}

export interface ReplayOptions {
  paths: readonly string[];
  config: Config;
  log: Logger;
  /** Dry run: write §5 lines here. */
  out?: Writable;
  /** Publish here (not a dry run). Exactly one of `out` and `sink` is given. */
  sink?: EventSink;
  /** Sender verification; undefined: off. */
  verify?: Verifier | undefined;
  stdin?: Readable;
  /** Events in flight to the broker at most (default 500). */
  maxInFlight?: number;
  /**
   * Parse worker threads for a dry run without verification (the output is
   * the same either way): 0 parses on the main thread; default:
   * defaultWorkerCount() when there are at least WORKER_MIN_ENTRIES files.
   */
  workers?: number;
  /** Progress callback (files done, files total, running summary). */
  onProgress?: (done: number, total: number, summary: Readonly<ReplaySummary>) => void;
}

export interface ReplaySummary {
  /** Files, folders and stdin entries to read. */
  files: number;
  /** Mails read (a file, an mbox message, stdin). */
  mails: number;
  /** Events produced. */
  events: number;
  /** Events acknowledged by the broker (not in a dry run). */
  published: number;
  /** Not a Launchpad mail: not published, not a failure. */
  foreign: number;
  /** Private bug mail set aside (`private_bugs: skip`). */
  private: number;
  /** Sender verification said no: not published, not a failure. */
  rejected: number;
  /** Mails that could not be processed: unreadable, invalid, verification error, publish failure. */
  failed: number;
  /** True when stdout went away (EPIPE) and the run stopped early. */
  aborted: boolean;
}

/** Replays the mails; resolves with the counts (the caller picks the exit code from `failed`). */
export async function replay(opts: ReplayOptions): Promise<ReplaySummary> {
  const { log, config } = opts;
  const parseOpts = parseOptionsFromConfig(config);
  const summary: ReplaySummary = {
    files: 0,
    mails: 0,
    events: 0,
    published: 0,
    foreign: 0,
    private: 0,
    rejected: 0,
    failed: 0,
    aborted: false,
  };

  const entries = await planSources(opts.paths);
  summary.files = entries.length;
  let done = 0;
  const items = readSources(entries, {
    ...(opts.stdin ? { stdin: opts.stdin } : {}),
    onEntryDone: () => {
      done += 1;
      opts.onProgress?.(done, entries.length, summary);
    },
  });

  const out = opts.out ? new LineWriter(opts.out) : undefined;
  const publisher = opts.sink ? new InFlight(opts.sink, opts.maxInFlight ?? 500, summary, log) : undefined;
  const debug = log.isLevelEnabled('debug');

  const failedItem = (item: { source: string; reason: string }): void => {
    summary.failed += 1;
    log.error({ source: item.source, reason: item.reason }, `${item.source}: ${item.reason}`);
  };
  /** Counts and logs what one mail turned into. */
  const account = (source: string, rec: MailRecord): void => {
    summary.mails += 1;
    switch (rec.kind) {
      case 'foreign':
        summary.foreign += 1;
        log.info({ source, reason: rec.reason }, `${source}: not a Launchpad mail, skipped: ${rec.reason}`);
        break;
      case 'private':
        summary.private += 1;
        log.info({ source, messageId: rec.messageId }, `${source}: private bug mail, skipped`);
        break;
      case 'invalid':
        summary.failed += 1;
        log.error({ source, reason: rec.reason, messageId: rec.messageId }, `${source}: ${rec.reason}`);
        break;
      case 'events':
        summary.events += rec.events;
        if (debug) log.debug({ source, events: rec.events }, 'mail parsed');
        break;
    }
  };
  /** Parses one mail here (no worker); returns a promise only when it must wait (publish window full). */
  const handle = (item: SourceItem): Promise<void> | undefined => {
    if (item.kind === 'error') {
      failedItem(item);
      return undefined;
    }
    const outcome = parseMail(item.raw, parseOpts);
    account(item.source, recordOf(outcome));
    if (outcome.kind !== 'events') return undefined;
    if (out) {
      for (const l of dryRunLines(outcome.events, item.source)) out.add(l);
      return undefined;
    }
    return publisher?.submit(item.source, outcome.events);
  };

  const verify = opts.verify;
  const workers = opts.workers ?? (entries.length >= WORKER_MIN_ENTRIES ? defaultWorkerCount() : 0);
  try {
    if (verify) {
      const checked = orderedMap(flatten(items), VERIFY_CONCURRENCY, async (item) => {
        if (item.kind !== 'mail') return { item, verdict: undefined };
        try {
          return { item, verdict: await verify(item.raw) };
        } catch (err) {
          return { item, verdict: { verdict: 'temperror', reason: errorReason(err) } as const };
        }
      });
      for await (const { item, verdict } of checked) {
        if (verdict !== undefined && verdict.verdict !== 'pass') {
          summary.mails += 1;
          if (verdict.verdict === 'fail') {
            summary.rejected += 1;
            log.warn({ source: item.source, reason: verdict.reason }, `${item.source}: rejected by sender verification: ${verdict.reason}`);
          } else {
            summary.failed += 1;
            log.error({ source: item.source, reason: verdict.reason }, `${item.source}: sender verification failed: ${verdict.reason}`);
          }
          continue;
        }
        await handle(item);
        if (out?.full) await out.flush();
      }
    } else if (out && workers > 0) {
      await viaWorkers(items, out, new ParsePool({ parseOptions: parseOpts, workers }), failedItem, account);
    } else {
      for await (const batch of items) {
        for (const item of batch) {
          const wait = handle(item);
          if (wait) await wait;
        }
        if (out?.full) await out.flush();
      }
    }
  } catch (err) {
    if (!isEpipe(err)) throw err;
    summary.aborted = true;
    log.debug('stdout closed; stopping');
  }
  try {
    await out?.flush();
  } catch (err) {
    if (!isEpipe(err)) throw err;
    summary.aborted = true;
  }
  await publisher?.drain();
  return summary;
}

/** One human sentence of the counts, for the summary log line. */
export function describeSummary(s: Readonly<ReplaySummary>, dryRun: boolean): string {
  const parts = [
    `${s.mails} mail${s.mails === 1 ? '' : 's'} read`,
    `${s.events} event${s.events === 1 ? '' : 's'}${dryRun ? '' : ` (${s.published} published)`}`,
    `${s.foreign} foreign`,
    `${s.private} private`,
  ];
  if (s.rejected > 0) parts.push(`${s.rejected} rejected`);
  parts.push(`${s.failed} failed`);
  const stopped = s.aborted ? ' (stopped early: stdout was closed)' : '';
  return `replay${dryRun ? ' (dry run)' : ''}: ${parts.join(', ')}${stopped}`;
}

export { dryRunLine, dryRunLines } from './replay/line.js';

/** Below this many files, starting workers costs more than it saves. */
export const WORKER_MIN_ENTRIES = 200;

function recordOf(outcome: ParseOutcome): MailRecord {
  switch (outcome.kind) {
    case 'events':
      return { kind: 'events', events: outcome.events.length };
    case 'private':
      return outcome.info.messageId === undefined ? { kind: 'private' } : { kind: 'private', messageId: outcome.info.messageId };
    default:
      return outcome.info.messageId === undefined
        ? { kind: outcome.kind, reason: outcome.reason }
        : { kind: outcome.kind, reason: outcome.reason, messageId: outcome.info.messageId };
  }
}

/**
 * The dry run with parse workers: batches go out as they are read (at most
 * two per worker waiting), results come back in order; logs, counts and
 * stdout stay on this thread.
 */
async function viaWorkers(
  items: AsyncIterable<SourceItem[]>,
  out: LineWriter,
  pool: ParsePool,
  failedItem: (item: { source: string; reason: string }) => void,
  account: (source: string, rec: MailRecord) => void,
): Promise<void> {
  const queue: Array<{ batch: SourceItem[]; result: Promise<BatchResult> | undefined }> = [];
  const finishOne = async (): Promise<void> => {
    const { batch, result } = queue.shift()!;
    const r = result ? await result : undefined;
    let k = 0;
    for (const item of batch) {
      if (item.kind === 'error') failedItem(item);
      else account(item.source, r!.records[k++]!);
    }
    if (r && r.lines.byteLength > 0) out.addBytes(Buffer.from(r.lines));
    if (out.full) await out.flush();
  };
  try {
    for await (const batch of items) {
      const mails = batch.filter((i): i is Extract<SourceItem, { kind: 'mail' }> => i.kind === 'mail');
      const result = mails.length > 0 ? pool.submit(mails) : undefined;
      // Awaited in turn below; keep an early failure from counting as unhandled meanwhile.
      result?.catch(() => undefined);
      queue.push({ batch, result });
      while (queue.length > pool.size * 2) await finishOne();
    }
    while (queue.length > 0) await finishOne();
  } finally {
    await pool.close();
  }
}

/** Mails verified at the same time (DNS lookups). */
const VERIFY_CONCURRENCY = 32;

async function* flatten<T>(src: AsyncIterable<T[]>): AsyncGenerator<T> {
  for await (const batch of src) yield* batch;
}

function isEpipe(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'EPIPE';
}

/**
 * Buffers lines and writes them in big chunks (one write per ~256 KiB),
 * waiting for 'drain' when the stream asks for it. Lines are UTF-8 encoded
 * straight into the chunk: no giant joined string, no second copy.
 */
class LineWriter {
  static readonly CHUNK = 256 * 1024;
  readonly #stream: Writable;
  #chunk = Buffer.allocUnsafe(LineWriter.CHUNK);
  #used = 0;
  /** Finished chunks (and encoded lines from parse workers), in output order. */
  #ready: Buffer[] = [];
  #error: Error | undefined;

  constructor(stream: Writable) {
    this.#stream = stream;
    stream.on('error', (err: Error) => {
      this.#error = err;
    });
  }

  add(line: string): void {
    // A UTF-16 code unit takes at most 3 UTF-8 bytes.
    const worst = line.length * 3 + 1;
    if (this.#used + worst > this.#chunk.length) {
      this.#seal();
      if (worst > this.#chunk.length) {
        this.#ready.push(Buffer.from(`${line}\n`));
        return;
      }
    }
    this.#used += this.#chunk.write(line, this.#used);
    this.#chunk[this.#used++] = 0x0a;
  }

  /** Adds encoded lines (each already ending in a newline). */
  addBytes(bytes: Buffer): void {
    this.#seal();
    this.#ready.push(bytes);
  }

  #seal(): void {
    if (this.#used === 0) return;
    this.#ready.push(this.#chunk.subarray(0, this.#used));
    this.#chunk = Buffer.allocUnsafe(LineWriter.CHUNK);
    this.#used = 0;
  }

  get full(): boolean {
    return this.#ready.length > 0;
  }

  async flush(): Promise<void> {
    if (this.#error) throw this.#error;
    this.#seal();
    if (this.#ready.length === 0) return;
    const chunk = this.#ready.length === 1 ? (this.#ready[0] as Buffer) : Buffer.concat(this.#ready);
    this.#ready = [];
    if (!this.#stream.write(chunk)) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = (): void => {
          this.#stream.off('error', onError);
          resolve();
        };
        const onError = (err: Error): void => {
          this.#stream.off('drain', onDrain);
          reject(err);
        };
        this.#stream.once('drain', onDrain);
        this.#stream.once('error', onError);
      });
    }
    if (this.#error) throw this.#error;
  }
}

/**
 * Publishes without waiting for each mail's round trip: up to `max` events
 * are in flight; a failed publish counts its mail as failed.
 */
class InFlight {
  readonly #sink: EventSink;
  readonly #max: number;
  readonly #summary: ReplaySummary;
  readonly #log: Logger;
  readonly #pending = new Set<Promise<void>>();
  #events = 0;

  constructor(sink: EventSink, max: number, summary: ReplaySummary, log: Logger) {
    this.#sink = sink;
    this.#max = Math.max(1, max);
    this.#summary = summary;
    this.#log = log;
  }

  /** Sends; returns a promise to wait for only when the window is full. */
  submit(source: string, events: readonly LpEvent[]): Promise<void> | undefined {
    if (this.#events >= this.#max && this.#pending.size > 0) {
      return Promise.race(this.#pending).then(() => this.submit(source, events));
    }
    const n = events.length;
    this.#events += n;
    let p: Promise<void>;
    const settle = (): void => {
      this.#events -= n;
      this.#pending.delete(p);
    };
    p = this.#send(events).then(
      () => {
        this.#summary.published += n;
        settle();
      },
      (err: unknown) => {
        this.#summary.failed += 1;
        this.#log.error({ source, err }, `${source}: publish failed: ${errorReason(err)}`);
        settle();
      },
    );
    this.#pending.add(p);
    return undefined;
  }

  async #send(events: readonly LpEvent[]): Promise<void> {
    await this.#sink.publish(events);
  }

  async drain(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all(this.#pending);
  }
}
