/**
 * One-shot replay of stored mail (SPEC §5, §6): read files, folders, mbox
 * files or stdin, turn each mail into events with the pure core, and either
 * print them as §5 JSON lines (`--dry-run`) or publish them and wait for the
 * broker's acknowledgements. One bad mail is logged and counted; it never
 * stops the run.
 */
import type { Writable, Readable } from 'node:stream';
import type { Config } from './config/schema.js';
import { parseMail, parseOptionsFromConfig, serializePayload } from './core/index.js';
import type { LpEvent } from './core/types.js';
import { errorReason } from './errors.js';
import type { Logger } from './log.js';
import { orderedMap } from './replay/ordered.js';
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
  /** Files read at once (default 32). */
  readConcurrency?: number;
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
    concurrency: opts.readConcurrency ?? 32,
    onEntryDone: () => {
      done += 1;
      opts.onProgress?.(done, entries.length, summary);
    },
  });

  const out = opts.out ? new LineWriter(opts.out) : undefined;
  const publisher = opts.sink ? new InFlight(opts.sink, opts.maxInFlight ?? 500, summary, log) : undefined;

  type Checked = { item: SourceItem; verdict?: Awaited<ReturnType<Verifier>> | { verdict: 'temperror'; reason: string } };
  const verify = opts.verify;
  const checked: AsyncIterable<Checked> = verify
    ? orderedMap(items, 32, async (item): Promise<Checked> => {
        if (item.kind !== 'mail') return { item };
        try {
          return { item, verdict: await verify(item.raw) };
        } catch (err) {
          return { item, verdict: { verdict: 'temperror', reason: errorReason(err) } };
        }
      })
    : mapSync(items, (item) => ({ item }));

  try {
    for await (const { item, verdict } of checked) {
      if (item.kind === 'error') {
        summary.failed += 1;
        log.error({ source: item.source, reason: item.reason }, `${item.source}: ${item.reason}`);
        continue;
      }
      summary.mails += 1;
      const { source } = item;
      if (verdict !== undefined && verdict.verdict !== 'pass') {
        if (verdict.verdict === 'fail') {
          summary.rejected += 1;
          log.warn({ source, reason: verdict.reason }, `${source}: rejected by sender verification: ${verdict.reason}`);
        } else {
          summary.failed += 1;
          log.error({ source, reason: verdict.reason }, `${source}: sender verification failed: ${verdict.reason}`);
        }
        continue;
      }
      const outcome = parseMail(item.raw, parseOpts);
      switch (outcome.kind) {
        case 'foreign':
          summary.foreign += 1;
          log.info({ source, reason: outcome.reason }, `${source}: not a Launchpad mail, skipped: ${outcome.reason}`);
          break;
        case 'private':
          summary.private += 1;
          log.info({ source, messageId: outcome.info.messageId }, `${source}: private bug mail, skipped`);
          break;
        case 'invalid':
          summary.failed += 1;
          log.error({ source, reason: outcome.reason, messageId: outcome.info.messageId }, `${source}: ${outcome.reason}`);
          break;
        case 'events':
          summary.events += outcome.events.length;
          if (log.isLevelEnabled('debug')) log.debug({ source, events: outcome.events.length }, 'mail parsed');
          if (out) {
            for (const e of outcome.events) out.add(dryRunLine(e, source));
            if (out.full) await out.flush();
          } else if (publisher) {
            await publisher.submit(source, outcome.events);
          }
          break;
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

/** A SPEC §5 line (without the newline). */
export function dryRunLine(event: LpEvent, source: string): string {
  return `{"topic":${JSON.stringify(event.topic)},"payload":${serializePayload(event.payload)},"source":${JSON.stringify(source)}}`;
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
  return `replay${dryRun ? ' (dry run)' : ''}: ${parts.join(', ')}`;
}

async function* mapSync<T, R>(src: AsyncIterable<T>, fn: (t: T) => R): AsyncGenerator<R> {
  for await (const t of src) yield fn(t);
}

function isEpipe(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'EPIPE';
}

/**
 * Buffers lines and writes them in big chunks (one write per ~256 KiB),
 * waiting for 'drain' when the stream asks for it.
 */
class LineWriter {
  readonly #stream: Writable;
  #parts: string[] = [];
  #size = 0;
  #error: Error | undefined;

  constructor(stream: Writable) {
    this.#stream = stream;
    stream.on('error', (err: Error) => {
      this.#error = err;
    });
  }

  add(line: string): void {
    this.#parts.push(line, '\n');
    this.#size += line.length + 1;
  }

  get full(): boolean {
    return this.#size >= 256 * 1024;
  }

  async flush(): Promise<void> {
    if (this.#error) throw this.#error;
    if (this.#parts.length === 0) return;
    const chunk = this.#parts.join('');
    this.#parts = [];
    this.#size = 0;
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

  async submit(source: string, events: readonly LpEvent[]): Promise<void> {
    while (this.#events >= this.#max && this.#pending.size > 0) await Promise.race(this.#pending);
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
  }

  async #send(events: readonly LpEvent[]): Promise<void> {
    await this.#sink.publish(events);
  }

  async drain(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all(this.#pending);
  }
}
