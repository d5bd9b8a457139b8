/**
 * The composition root of `lpmqtt run`: mailbox watcher → parser → verifier →
 * publisher → marker. At-least-once: a mail is marked (seen, deleted or moved)
 * only after the broker has acknowledged every one of its events; anything
 * that fails stays unmarked and is tried again later with backoff.
 *
 * Per piece of the backlog: one UID FETCH whose mails are parsed and
 * published as they arrive, all events in flight at once, then one STORE
 * (or EXPUNGE, MOVE) for the acknowledged ones. Up to PIPELINE_DEPTH pieces
 * overlap, so the next FETCH streams in while the broker acknowledges the
 * previous piece and its STORE waits its turn; a piece is
 * `imap.batch_size / PIPELINE_DEPTH` mails, so no more than
 * `imap.batch_size` mails are ever published and not yet marked: a crash
 * re-publishes at most one batch.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Config } from './config/schema.js';
import { parseMail, parseOptionsFromConfig } from './core/index.js';
import type { MailInfo, ParseOptions } from './core/types.js';
import type { Logger } from './log.js';
import { PublishError } from './mqtt/errors.js';
import { Publisher } from './mqtt/publisher.js';
import type { FetchedMail, ImapSession } from './imap/session.js';
import { chunks, toUidSet } from './imap/uidset.js';
import { MailboxWatcher, type WorkRequest } from './imap/watcher.js';
import type { Verifier } from './verify.js';

export type MailResult = 'published' | 'foreign' | 'private' | 'rejected' | 'failed' | 'deferred';

export interface MailEvent {
  uid: number;
  messageId?: string | undefined;
  result: MailResult;
  reason?: string | undefined;
}

export interface BridgeEvents {
  /** One per mail handled (or deferred). */
  mail: [MailEvent];
  /** A mail's events were all acknowledged; latency from its fetch to the last ack. */
  published: [{ events: number; latencyMs: number }];
  connection: [{ side: 'imap' | 'mqtt'; up: boolean }];
  /** IDLE (re)entered, or a NOOP/poll proved the IMAP connection alive. */
  idle: [Date];
  /** Mails known to be waiting (unseen, not yet handled). */
  backlog: [number];
  /** A failure that needs a person (refused credentials, missing folder). */
  fatal: [Error];
}

export interface BridgeDeps {
  config: Config;
  log: Logger;
  /** Sender verification; 'fail' sets the mail aside, 'temperror' retries it later. */
  verifier?: Verifier | undefined;
  /**
   * For a one-shot run beside the daemon (`replay --imap-folder`): a client id
   * suffix so the daemon is not disconnected, and no online/offline status.
   */
  publisher?: { clientIdSuffix: string; status: false } | undefined;
}

/** Up to this many new mails are fetched directly on EXISTS; more go through SEARCH and batches. */
const LIVE_MAX = 3;
/** Pieces published and not yet marked at once (measured: 3 drains fastest; with 2 the connection waits on each STORE). */
const PIPELINE_DEPTH = 3;
const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 300_000;
/** How long stop() lets in-flight mail finish (acked and marked) before dropping it unmarked. */
const STOP_GRACE_MS = 4_000;

type Verdict =
  | { kind: 'done'; result: 'published' | 'private' }
  | { kind: 'failed'; result: 'foreign' | 'rejected' | 'failed'; reason: string }
  | { kind: 'deferred'; reason: string };

interface Handled {
  uid: number;
  info: MailInfo;
  topics: string[];
  verdict: Verdict;
}

export class Bridge extends EventEmitter<BridgeEvents> {
  readonly #config: Config;
  readonly #log: Logger;
  readonly #verifier: Verifier | undefined;
  readonly #parseOptions: ParseOptions;
  readonly #publisher: Publisher;
  readonly #watcher: MailboxWatcher;
  #state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  /** Highest UID fetched in this UIDVALIDITY; new mail is looked for above it. */
  #lastUid = 0;
  #uidValidity: bigint | undefined;
  /** Fetched and not yet finished: never fetched a second time meanwhile. */
  readonly #inFlight = new Set<number>();
  /** Mail that failed for a passing reason, with when it may be tried again. */
  readonly #retry = new Map<number, { attempts: number; notBefore: number }>();
  /** Mail that could be neither marked failed nor flagged: skipped for the life of the process. */
  readonly #givenUp = new Set<number>();
  #retryTimer: NodeJS.Timeout | undefined;
  /** Fetched batches not yet done (acknowledged and marked); never reject. */
  readonly #batches = new Set<Promise<void>>();
  #backlog = 0;

  constructor(deps: BridgeDeps) {
    super();
    this.#config = deps.config;
    this.#log = deps.log;
    this.#verifier = deps.verifier;
    this.#parseOptions = parseOptionsFromConfig(deps.config);
    this.#publisher = new Publisher({ config: deps.config.mqtt, log: deps.log.child({ component: 'mqtt' }), ...deps.publisher });
    this.#watcher = new MailboxWatcher({
      config: deps.config.imap,
      log: deps.log.child({ component: 'imap' }),
      work: (session, request) => this.#work(session, request),
    });
    this.#publisher.on('connect', () => {
      this.emit('connection', { side: 'mqtt', up: true });
      // Mail that waited while the broker was away.
      this.#watcher.wake('full');
    });
    this.#publisher.on('offline', () => this.emit('connection', { side: 'mqtt', up: false }));
    this.#watcher.on('connection', (up) => this.emit('connection', { side: 'imap', up }));
    this.#watcher.on('idle', (at) => this.emit('idle', at));
    this.#watcher.on('fatal', (err) => this.emit('fatal', err));
  }

  /**
   * Connects to both sides and starts handling mail. Resolves once both are up
   * (network trouble is retried meanwhile); rejects when either refuses the
   * configuration. Resolves without connecting when stop() comes first.
   */
  async start(): Promise<void> {
    if (this.#state !== 'new') throw new Error('Bridge.start() called twice');
    this.#state = 'starting';
    const mqtt = this.#publisher.connect();
    const imap = this.#watcher.start();
    try {
      await Promise.all([mqtt, imap]);
    } catch (err) {
      // Both settle before stop() runs, so nothing is left half-open.
      await Promise.allSettled([mqtt, imap]);
      if ((this.#state as string) === 'starting') {
        this.#state = 'stopping';
        await this.#watcher.stop(0);
        await this.#publisher.close();
        this.#state = 'stopped';
        throw err;
      }
      return;
    }
    if ((this.#state as string) === 'starting') this.#state = 'running';
  }

  /**
   * Stops taking mail, lets in-flight mail finish for a few seconds, then
   * closes both connections. Nothing unacknowledged is ever marked. Bounded
   * (about 10 s) even when a server hangs.
   */
  async stop(): Promise<void> {
    if (this.#state === 'stopping' || this.#state === 'stopped') return;
    this.#state = 'stopping';
    clearTimeout(this.#retryTimer);
    this.#log.info({ inFlight: this.#inFlight.size }, 'stopping');
    // In-flight mail gets a few seconds to be acknowledged and marked before the connections go.
    const deadline = Date.now() + STOP_GRACE_MS;
    await this.#watcher.stop(STOP_GRACE_MS, () => this.#settleBatches(deadline));
    await this.#publisher.close();
    this.#state = 'stopped';
    this.#log.info('stopped');
  }

  /** Pieces in flight at once; fewer than PIPELINE_DEPTH only for a batch_size below it. */
  get #depth(): number {
    return Math.min(PIPELINE_DEPTH, this.#config.imap.batch_size);
  }

  get #stopping(): boolean {
    return this.#state === 'stopping' || this.#state === 'stopped';
  }

  async #work(session: ImapSession, request: WorkRequest): Promise<void> {
    if (this.#stopping || !this.#publisher.connected) return;
    if (session.uidValidity !== this.#uidValidity) {
      if (this.#uidValidity !== undefined) this.#log.warn('IMAP UIDVALIDITY changed: every UID known is void');
      this.#uidValidity = session.uidValidity;
      this.#lastUid = 0;
      this.#retry.clear();
      this.#givenUp.clear();
    }
    if (request.kind === 'new' && request.arrived <= LIVE_MAX && this.#lastUid > 0) {
      // A trickle of live mail: fetched straight away, no SEARCH first.
      const started = performance.now();
      const mails = await session.fetchNew(this.#lastUid);
      const at = performance.now();
      if (mails.length === 0) return;
      this.#log.debug({ count: mails.length, ms: Math.round(at - started) }, 'new mail fetched');
      for (const m of mails) {
        this.#inFlight.add(m.uid);
        this.#lastUid = Math.max(this.#lastUid, m.uid);
      }
      this.#setBacklog(this.#backlog + mails.length);
      await this.#startBatch(session, mails, at);
      return;
    }
    const found = await session.searchPending(request.kind === 'full' ? 0 : this.#lastUid);
    const now = Date.now();
    const uids = found.filter((uid) => {
      if (this.#inFlight.has(uid) || this.#givenUp.has(uid)) return false;
      const r = this.#retry.get(uid);
      return r === undefined || r.notBefore <= now;
    });
    // Everything below UIDNEXT at SELECT is covered by this search: new mail is looked for above.
    if (request.kind === 'full') this.#lastUid = Math.max(this.#lastUid, session.uidNextAtOpen - 1);
    if (request.kind === 'full') this.#setBacklog(uids.length);
    else this.#setBacklog(this.#backlog + uids.length);
    if (uids.length === 0) return;
    this.#log.debug({ kind: request.kind, count: uids.length }, 'mail to handle');
    await this.#drain(session, uids);
  }

  async #drain(session: ImapSession, uids: number[]): Promise<void> {
    const pieces = chunks(uids, Math.max(1, Math.floor(this.#config.imap.batch_size / this.#depth)));
    for (const piece of pieces) {
      // A piece starts only when fewer than #depth are published and unmarked:
      // at most batch_size mails in all, so a crash re-publishes at most one batch.
      while (this.#batches.size >= this.#depth) await Promise.race(this.#batches);
      if (this.#stopping || !this.#publisher.connected || session.isClosed) return;
      await this.#fetchAndHandle(session, piece);
    }
  }

  /**
   * One UID FETCH, each mail parsed and published as it arrives (the CPU works
   * while the server still sends, and through the ~40 ms stalls when Cyrus
   * holds a segment back for our delayed ACK); the piece is then marked once
   * every mail of it is acknowledged, without waiting here. The UIDs count as
   * in flight from here until they are marked.
   */
  async #fetchAndHandle(session: ImapSession, piece: number[]): Promise<void> {
    for (const uid of piece) this.#inFlight.add(uid);
    const started = performance.now();
    const uids: number[] = [];
    const jobs: Promise<Handled>[] = [];
    let failure: unknown;
    try {
      await session.fetchEach(piece, (mail) => {
        // Stopping: mail still arriving stays unmarked for the next run.
        if (this.#stopping) return;
        uids.push(mail.uid);
        jobs.push(this.#handleMail(mail, performance.now()));
      });
    } catch (err) {
      failure = err;
    }
    const handled = new Set(uids);
    // Expunged meanwhile, arrived after stop(), or never came because the connection failed.
    for (const uid of piece) if (!handled.has(uid)) this.#inFlight.delete(uid);
    if (failure === undefined) this.#lastUid = Math.max(this.#lastUid, ...piece);
    this.#log.debug({ count: uids.length, ms: Math.round(performance.now() - started) }, 'batch fetched');
    // What was published before a failure is still marked if the session allows (or retried later).
    if (jobs.length > 0) this.#track(this.#handleBatch(session, uids, jobs, started));
    if (failure !== undefined) throw failure;
  }

  /**
   * Live mail (already fetched): handed to #handleBatch without waiting for
   * it, once fewer than #depth batches are outstanding.
   */
  async #startBatch(session: ImapSession, mails: FetchedMail[], fetchedAt: number): Promise<void> {
    while (this.#batches.size >= this.#depth) await Promise.race(this.#batches);
    const uids = mails.map((m) => m.uid);
    const jobs = mails.map((m) => this.#handleMail(m, fetchedAt));
    mails.length = 0;
    this.#track(this.#handleBatch(session, uids, jobs, fetchedAt));
  }

  #track(batch: Promise<void>): void {
    this.#batches.add(batch);
    void batch.finally(() => this.#batches.delete(batch));
  }

  /** Waits for the outstanding batches, at most until `deadline` (epoch ms). */
  async #settleBatches(deadline: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
    });
    await Promise.race([Promise.all([...this.#batches]), late]);
    clearTimeout(timer);
  }

  /** Waits for a batch's mails to be handled (published, set aside or deferred), then marks them. Never rejects. */
  async #handleBatch(session: ImapSession, uids: number[], jobs: Promise<Handled>[], fetchedAt: number): Promise<void> {
    const handled = await Promise.all(jobs);
    const ackedAt = performance.now();
    try {
      await this.#mark(session, handled);
      this.#log.debug(
        { count: uids.length, publishMs: Math.round(ackedAt - fetchedAt), markMs: Math.round(performance.now() - ackedAt) },
        'batch done',
      );
    } finally {
      for (const uid of uids) this.#inFlight.delete(uid);
      this.#setBacklog(Math.max(0, this.#backlog - uids.length));
    }
  }

  async #handleMail(mail: FetchedMail, fetchedAt: number): Promise<Handled> {
    if (mail.cutFrom !== undefined) {
      this.#log.warn({ uid: mail.uid, size: mail.cutFrom, read: mail.source.length }, 'mail larger than lpmqtt reads: only its beginning was fetched');
    }
    const outcome = parseMail(mail.source, this.#parseOptions);
    const base = { uid: mail.uid, info: outcome.info, topics: [] as string[] };
    switch (outcome.kind) {
      case 'foreign':
        return { ...base, verdict: { kind: 'failed', result: 'foreign', reason: outcome.reason } };
      case 'invalid':
        return { ...base, verdict: { kind: 'failed', result: 'failed', reason: outcome.reason } };
      case 'private':
        return { ...base, verdict: { kind: 'done', result: 'private' } };
      case 'events':
        break;
    }
    if (this.#verifier) {
      const v = await this.#verifier(mail.source).catch((err: unknown) => ({
        verdict: 'temperror' as const,
        reason: `verifier failed: ${(err as Error).message}`,
      }));
      if (v.verdict === 'fail') return { ...base, verdict: { kind: 'failed', result: 'rejected', reason: v.reason } };
      if (v.verdict === 'temperror') return { ...base, verdict: { kind: 'deferred', reason: v.reason } };
    }
    // Nothing of the parsed mail but its topics and count stays referenced while the acks are awaited.
    const topics = outcome.events.map((e) => e.topic);
    const count = topics.length;
    try {
      await this.#publisher.publish(outcome.events);
    } catch (err) {
      const reason = (err as Error).message;
      if (err instanceof PublishError && err.permanent) {
        return { ...base, topics, verdict: { kind: 'failed', result: 'failed', reason } };
      }
      return { ...base, topics, verdict: { kind: 'deferred', reason } };
    }
    this.emit('published', { events: count, latencyMs: performance.now() - fetchedAt });
    return { ...base, topics, verdict: { kind: 'done', result: 'published' } };
  }

  /** One STORE/EXPUNGE/MOVE for the handled mails, one MOVE (or flag) for the failed ones; logs and events per mail. */
  async #mark(session: ImapSession, handled: Handled[]): Promise<void> {
    const done = handled.filter((h) => h.verdict.kind === 'done');
    const failed = handled.filter((h) => h.verdict.kind === 'failed');
    const deferred = handled.filter((h) => h.verdict.kind === 'deferred');
    const mode = this.#config.imap.after_publish;

    if (done.length > 0) {
      let marked = true;
      try {
        await session.markProcessed(done.map((h) => h.uid));
      } catch (err) {
        marked = false;
        this.#log.warn(
          { uids: toUidSet(done.map((h) => h.uid)), err: { message: (err as Error).message } },
          'could not mark handled mail; it will be handled again',
        );
        for (const h of done) this.#deferRetry(h.uid);
      }
      for (const h of done) {
        const v = h.verdict as Extract<Verdict, { kind: 'done' }>;
        const fields = { uid: h.uid, messageId: h.info.messageId, marked: marked ? mode : false };
        if (v.result === 'published') this.#log.info({ ...fields, topics: h.topics }, 'published');
        else this.#log.info({ uid: h.uid, bug: h.info.bugNumber, marked: marked ? mode : false }, 'private bug: not published');
        if (marked) this.#retry.delete(h.uid);
        this.emit('mail', { uid: h.uid, messageId: h.info.messageId, result: v.result });
      }
    }

    if (failed.length > 0) {
      const uids = failed.map((h) => h.uid);
      let where: string;
      try {
        where = (await session.setAside(uids)) === 'moved' ? `moved to ${this.#config.imap.failed_folder}` : 'flagged $LpmqttFailed';
      } catch (err) {
        // Not even the flag could be set: skip these for the life of the process instead of failing them again and again.
        where = 'left in place (could not be moved or flagged)';
        for (const uid of uids) this.#givenUp.add(uid);
        this.#log.error({ uids: toUidSet(uids), err: { message: (err as Error).message } }, 'could not set failed mail aside');
      }
      for (const h of failed) {
        const v = h.verdict as Extract<Verdict, { kind: 'failed' }>;
        this.#retry.delete(h.uid);
        this.#log.warn({ uid: h.uid, messageId: h.info.messageId, result: v.result, reason: v.reason, where }, 'mail not published');
        this.emit('mail', { uid: h.uid, messageId: h.info.messageId, result: v.result, reason: v.reason });
      }
    }

    for (const h of deferred) {
      const v = h.verdict as Extract<Verdict, { kind: 'deferred' }>;
      const inMs = this.#deferRetry(h.uid);
      this.#log.warn({ uid: h.uid, messageId: h.info.messageId, reason: v.reason, retryInMs: inMs }, 'mail deferred; left unmarked');
      this.emit('mail', { uid: h.uid, messageId: h.info.messageId, result: 'deferred', reason: v.reason });
    }
  }

  /** Schedules another try of `uid` with exponential backoff; returns the delay. */
  #deferRetry(uid: number): number {
    const attempts = (this.#retry.get(uid)?.attempts ?? 0) + 1;
    const ms = Math.round(Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** (attempts - 1)) * (0.8 + Math.random() * 0.4));
    this.#retry.set(uid, { attempts, notBefore: Date.now() + ms });
    this.#armRetryTimer();
    return ms;
  }

  #armRetryTimer(): void {
    if (this.#stopping) return;
    let next = Infinity;
    for (const r of this.#retry.values()) next = Math.min(next, r.notBefore);
    if (next === Infinity) return;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#watcher.wake('full');
      // Later entries get their own turn.
      const now = Date.now();
      if ([...this.#retry.values()].some((r) => r.notBefore > now)) this.#armRetryTimer();
    }, Math.max(0, next - Date.now()) + 10);
    this.#retryTimer.unref();
  }

  #setBacklog(n: number): void {
    if (n === this.#backlog) return;
    this.#backlog = n;
    this.emit('backlog', n);
  }
}
