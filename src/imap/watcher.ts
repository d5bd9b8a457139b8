/**
 * Keeps one IMAP session alive on the watched folder and says when there may
 * be mail to handle: after every (re)connect (catch up on everything), on
 * EXISTS during IDLE (new mail), on a poll tick when the server has no IDLE,
 * and when told to (MQTT is back, a retry is due). In between it IDLEs and
 * proves the connection alive with a NOOP under a deadline every
 * `watchdog_timeout` s; a connection that does not answer is dropped and a
 * new one opened, with exponential backoff and jitter.
 */
import { EventEmitter } from 'node:events';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import { ImapFatalError } from './errors.js';
import { ImapSession } from './session.js';

export type WorkKind = 'full' | 'new';

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
   * Handles mail: `full` = everything pending, `new` = only what arrived since
   * the last fetch. Runs on the watcher's loop, one call at a time; throwing
   * drops the connection.
   */
  work: (session: ImapSession, kind: WorkKind) => Promise<void>;
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
  #session: ImapSession | undefined;
  #pendingFull = false;
  #pendingNew = false;
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
    let first: ImapSession | undefined;
    while (!this.#stopping && !first) {
      try {
        first = await ImapSession.open(this.#config, this.#log);
      } catch (err) {
        if (err instanceof ImapFatalError) throw err;
        attempt += 1;
        const ms = reconnectDelay(attempt, this.#config.reconnect_max_delay);
        this.#log.warn({ err: { message: (err as Error).message }, retryInMs: ms }, 'IMAP connection failed; retrying');
        await this.#sleep(ms);
      }
    }
    if (!first) return;
    if (this.#stopping) {
      await first.logout();
      return;
    }
    this.#loop = this.#run(first);
  }

  /** Asks for a round of work soon: `full` re-reads everything pending. */
  wake(kind: WorkKind): void {
    if (kind === 'full') this.#pendingFull = true;
    else this.#pendingNew = true;
    this.#wakeup?.();
  }

  /**
   * Stops: no new work; waits up to `graceMs` for the current round, then
   * logs out (bounded) and drops the connection.
   */
  async stop(graceMs = 5_000): Promise<void> {
    this.#stopping = true;
    this.#wakeup?.();
    const loop = this.#loop;
    if (loop) {
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs);
      });
      await Promise.race([loop, grace]);
      clearTimeout(timer);
    }
    const session = this.#session;
    if (session) await session.logout();
    if (loop) await loop;
  }

  async #run(first: ImapSession): Promise<void> {
    let session: ImapSession | undefined = first;
    let failures = 0;
    while (!this.#stopping) {
      if (!session) {
        try {
          session = await ImapSession.open(this.#config, this.#log);
          failures = 0;
        } catch (err) {
          failures += 1;
          const ms = reconnectDelay(failures, this.#config.reconnect_max_delay);
          if (err instanceof ImapFatalError) {
            this.#log.error({ err: { message: err.message }, retryInMs: ms }, 'IMAP refuses the configuration');
            this.emit('fatal', err);
          } else {
            this.#log.warn({ err: { message: (err as Error).message }, retryInMs: ms }, 'IMAP reconnect failed');
          }
          await this.#sleep(ms);
          continue;
        }
      }
      this.#session = session;
      this.#log.info(
        { host: this.#config.host, folder: this.#config.folder, idle: session.hasIdle },
        'IMAP connected, folder selected',
      );
      this.emit('connection', true);
      try {
        await this.#serve(session);
      } catch (err) {
        if (!this.#stopping) this.#log.warn({ err: { message: (err as Error).message } }, 'IMAP session failed');
      }
      session.close();
      this.#session = undefined;
      session = undefined;
      this.emit('connection', false);
      if (this.#stopping) break;
      failures += 1;
      const ms = reconnectDelay(failures, this.#config.reconnect_max_delay);
      this.#log.warn({ retryInMs: ms }, 'IMAP connection lost; reconnecting');
      await this.#sleep(ms);
    }
  }

  async #serve(session: ImapSession): Promise<void> {
    const c = this.#config;
    let known = session.exists;
    session.on('exists', (count) => {
      if (count > known) this.wake('new');
      known = count;
    });
    session.on('close', () => this.#wakeup?.());
    // Whatever arrived while we were away.
    this.#pendingFull = true;
    const useIdle = session.hasIdle;
    while (!this.#stopping && !session.isClosed) {
      if (this.#pendingFull || this.#pendingNew) {
        const kind: WorkKind = this.#pendingFull ? 'full' : 'new';
        this.#pendingFull = false;
        this.#pendingNew = false;
        await this.#work(session, kind);
        continue;
      }
      if (useIdle) {
        void session.idle();
        this.emit('idle', new Date());
        if ((await this.#sleep(c.watchdog_timeout * 1000)) === 'timeout' && !this.#stopping && !session.isClosed) {
          await session.noop(c.watchdog_timeout * 1000);
          this.emit('idle', new Date());
        }
      } else if ((await this.#sleep(c.poll_interval * 1000)) === 'timeout' && !this.#stopping && !session.isClosed) {
        await session.noop(c.watchdog_timeout * 1000);
        this.emit('idle', new Date());
        this.#pendingNew = true;
      }
    }
    if (session.isClosed && !this.#stopping) throw new Error('IMAP connection closed');
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
