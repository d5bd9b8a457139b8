/**
 * Keeps the IMAP sessions on the watched folder alive and says when there may
 * be mail to handle: after every (re)connect (catch up on everything), on
 * EXISTS during IDLE (new mail), on a poll tick when the server has no IDLE,
 * and when told to (MQTT is back, a retry is due). Every `watchdog_timeout` s
 * a NOOP under a deadline proves each connection alive; one that does not
 * answer is dropped and both are opened again, with exponential backoff and
 * jitter.
 *
 * Two connections when the server has IDLE: a read-only one that does
 * nothing but IDLE, and one that does the work. IDLE is then never broken
 * and re-entered per mail, which would cost two round trips, and more: a
 * server without TCP_NODELAY (Cyrus) holds an EXISTS written within our
 * delayed-ACK time (40 ms) of its "+ idling" until that ACK comes, so mail
 * arriving right after the previous one waited ~40 ms for its EXISTS.
 */
import { EventEmitter } from 'node:events';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import { ImapFatalError, imapReason } from './errors.js';
import { ImapSession } from './session.js';

/** `full`: everything pending; `new`: what arrived since the last fetch (`arrived` mails by the EXISTS count). */
export type WorkRequest = { kind: 'full' } | { kind: 'new'; arrived: number };

export interface WatcherEvents {
  connection: [up: boolean];
  /** IDLE (re)entered, or a NOOP/poll proved the connection alive. */
  idle: [Date];
  /** A failure that retrying with the same configuration will not cure (credentials, folder). */
  fatal: [Error];
}

export interface WatcherOptions {
  config: Config['imap'];
  log: Logger;
  /**
   * Handles mail on the working session. Runs on the watcher's loop, one call
   * at a time; throwing drops the connections.
   */
  work: (session: ImapSession, request: WorkRequest) => Promise<void>;
}

/** Delay before reconnect attempt `n` (1-based): exponential, capped, with jitter. */
export function reconnectDelay(n: number, capSeconds: number, random: () => number = Math.random): number {
  const base = Math.min(capSeconds * 1000, 500 * 2 ** Math.min(n - 1, 20));
  return Math.round(base * (0.5 + random() * 0.5));
}

export class MailboxWatcher extends EventEmitter<WatcherEvents> {
  readonly #config: Config['imap'];
  readonly #log: Logger;
  readonly #work: WatcherOptions['work'];
  #stopping = false;
  #sessions: ImapSession[] = [];
  #pendingFull = false;
  #pendingNew = false;
  /** Mails the EXISTS count says arrived since the last round of work. */
  #arrived = 0;
  #wakeup: (() => void) | undefined;
  #loop: Promise<void> | undefined;

  constructor(opts: WatcherOptions) {
    super();
    this.#config = opts.config;
    this.#log = opts.log;
    this.#work = opts.work;
  }

  /**
   * Opens the first session and starts the loop. Retries through network
   * errors; rejects with ImapFatalError when the server refuses the
   * configuration; resolves early (without a session) when stop() is called.
   */
  async start(): Promise<void> {
    if (this.#loop) throw new Error('MailboxWatcher.start() called twice');
    let attempt = 0;
    let first: ImapSession[] | undefined;
    while (!this.#stopping && !first) {
      try {
        first = await this.#open();
      } catch (err) {
        if (err instanceof ImapFatalError) throw err;
        attempt += 1;
        const ms = reconnectDelay(attempt, this.#config.reconnect_max_delay);
        this.#log.warn({ err: { message: imapReason(err) }, retryInMs: ms }, 'IMAP connection failed; retrying');
        await this.#sleep(ms);
      }
    }
    if (!first) return;
    if (this.#stopping) {
      await Promise.all(first.map((s) => s.logout()));
      return;
    }
    this.#loop = this.#run(first);
  }

  /** The working session, plus a read-only one for IDLE when the server has IDLE. */
  async #open(): Promise<ImapSession[]> {
    const worker = await ImapSession.open(this.#config, this.#log);
    if (!worker.hasIdle) return [worker];
    try {
      return [worker, await ImapSession.open(this.#config, this.#log.child({ conn: 'idle' }), { readOnly: true })];
    } catch (err) {
      worker.close();
      throw err;
    }
  }

  /** Asks for a round of work soon: `full` re-reads everything pending. */
  wake(kind: WorkRequest['kind'], arrived = 0): void {
    if (kind === 'full') this.#pendingFull = true;
    else this.#pendingNew = true;
    this.#arrived += arrived;
    this.#wakeup?.();
  }

  /**
   * Stops: no new work; waits up to `graceMs` for the current round and then
   * for `finish` (work still in flight elsewhere), then logs out (bounded) and
   * drops the connections.
   */
  async stop(graceMs = 5_000, finish?: () => Promise<void>): Promise<void> {
    this.#stopping = true;
    this.#wakeup?.();
    const deadline = Date.now() + graceMs;
    const loop = this.#loop;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), graceMs);
    });
    // The loop first (it may still start a batch), then whatever it left in flight.
    let outcome = await Promise.race([loop, grace]);
    if (outcome !== 'late' && finish) outcome = await Promise.race([finish(), grace]);
    clearTimeout(timer);
    if (outcome === 'late' || Date.now() > deadline) this.#log.warn('IMAP: in-flight mail did not finish in time; it stays unmarked');
    await Promise.all(this.#sessions.map((s) => s.logout()));
    if (loop) await loop;
  }

  async #run(first: ImapSession[]): Promise<void> {
    let sessions: ImapSession[] | undefined = first;
    let failures = 0;
    while (!this.#stopping) {
      if (!sessions) {
        try {
          sessions = await this.#open();
          failures = 0;
        } catch (err) {
          failures += 1;
          const ms = reconnectDelay(failures, this.#config.reconnect_max_delay);
          if (err instanceof ImapFatalError && err.refused === 'folder') {
            // Deleted to be recreated (UIDVALIDITY changes), or by mistake: wait for it to come back.
            this.#log.error({ err: { message: err.message }, retryInMs: ms }, 'IMAP: the watched folder is gone; waiting for it to return');
          } else if (err instanceof ImapFatalError) {
            this.#log.error({ err: { message: err.message }, retryInMs: ms }, 'IMAP refuses the configuration');
            this.emit('fatal', err);
          } else {
            this.#log.warn({ err: { message: imapReason(err) }, retryInMs: ms }, 'IMAP reconnect failed');
          }
          await this.#sleep(ms);
          continue;
        }
      }
      this.#sessions = sessions;
      const [worker, idler] = sessions as [ImapSession, ImapSession | undefined];
      this.#log.info(
        { host: this.#config.host, folder: this.#config.folder, idle: idler !== undefined },
        'IMAP connected, folder selected',
      );
      this.emit('connection', true);
      try {
        await this.#serve(worker, idler);
      } catch (err) {
        if (!this.#stopping) this.#log.warn({ err: { message: imapReason(err) } }, 'IMAP session failed');
      }
      for (const s of sessions) s.close();
      this.#sessions = [];
      sessions = undefined;
      this.emit('connection', false);
      if (this.#stopping) break;
      failures += 1;
      const ms = reconnectDelay(failures, this.#config.reconnect_max_delay);
      this.#log.warn({ retryInMs: ms }, 'IMAP connection lost; reconnecting');
      await this.#sleep(ms);
    }
  }

  async #serve(worker: ImapSession, idler: ImapSession | undefined): Promise<void> {
    const c = this.#config;
    const watched = idler ?? worker;
    let known = watched.exists;
    watched.on('exists', (count) => {
      if (count > known) this.wake('new', count - known);
      known = count;
    });
    const closed = (): boolean => worker.isClosed || (idler?.isClosed ?? false);
    for (const s of [worker, idler]) s?.on('close', () => this.#wakeup?.());
    // Whatever arrived while we were away.
    this.#pendingFull = true;
    this.#arrived = 0;
    const tick = (idler ? c.watchdog_timeout : c.poll_interval) * 1000;
    let lastCheck = Date.now();
    while (!this.#stopping && !closed()) {
      if (this.#pendingFull || this.#pendingNew) {
        const request: WorkRequest = this.#pendingFull ? { kind: 'full' } : { kind: 'new', arrived: this.#arrived };
        this.#pendingFull = false;
        this.#pendingNew = false;
        this.#arrived = 0;
        await this.#work(worker, request);
        continue;
      }
      if (idler) {
        void idler.idle();
        this.emit('idle', new Date());
      }
      const woke = await this.#sleep(Math.max(0, lastCheck + tick - Date.now()));
      if (woke === 'wake' || this.#stopping || closed()) continue;
      // Watchdog (and, without IDLE, the poll): every connection answers a NOOP in time or is dropped.
      const deadline = c.watchdog_timeout * 1000;
      await Promise.all([worker.noop(deadline), idler?.noop(deadline)]);
      lastCheck = Date.now();
      this.emit('idle', new Date());
      if (!idler) this.#pendingNew = true;
    }
    if (closed() && !this.#stopping) throw new Error('IMAP connection closed');
  }

  /** Sleeps `ms`, or less when woken (wake(), stop(), the session closing). */
  #sleep(ms: number): Promise<'wake' | 'timeout'> {
    if (this.#stopping) return Promise.resolve('wake');
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wakeup = undefined;
        resolve('timeout');
      }, ms);
      this.#wakeup = () => {
        clearTimeout(timer);
        this.#wakeup = undefined;
        resolve('wake');
      };
    });
  }
}
