/**
 * Health of a running bridge, derived only from the events it emits: both
 * connections up and IDLE seen recently. `/healthz` and the systemd watchdog
 * read the same state, so they can never disagree.
 */
import { EventEmitter } from 'node:events';

export type MailResult = 'published' | 'foreign' | 'private' | 'rejected' | 'failed' | 'deferred';
export type Side = 'imap' | 'mqtt';

/** The bridge events health, metrics and systemd listen to (a subset of the Bridge's). */
export interface BridgeSignals {
  mail: [{ uid: number; messageId?: string | undefined; result: MailResult; reason?: string | undefined }];
  published: [{ events: number; latencyMs: number }];
  connection: [{ side: Side; up: boolean }];
  idle: [Date];
  backlog: [number];
  fatal: [Error];
}

/** Anything that emits the bridge's events: the Bridge itself, or a plain EventEmitter in tests. */
export type BridgeLike = EventEmitter<BridgeSignals>;

export interface HealthState {
  healthy: boolean;
  imap: boolean;
  mqtt: boolean;
  /** Last time the bridge reported IDLE (or a poll) as alive; null before the first. */
  lastIdle: Date | null;
  idleAlive: boolean;
  backlog: number;
  mails: Record<MailResult, number>;
  events: number;
  fatal: string | null;
  /** Why it is not healthy, one short phrase each (empty when healthy). */
  problems: string[];
}

export interface HealthOptions {
  /** IDLE counts as alive while its last sign is at most this old. */
  idleMaxAgeMs: number;
  now?: () => number;
}

/**
 * How old the last IDLE sign may be before the bridge counts as stuck. The
 * watcher reports one every `watchdog_timeout` s while IDLE-ing (a NOOP
 * checks the connection) and every `poll_interval` s when the server has no
 * IDLE; one missed report and one slow NOOP are tolerated.
 */
export function idleMaxAgeMs(imap: { poll_interval: number; watchdog_timeout: number }): number {
  return (2 * Math.max(imap.watchdog_timeout, imap.poll_interval) + imap.watchdog_timeout) * 1000;
}

export class Health extends EventEmitter<{ change: [HealthState] }> {
  private imap = false;
  private mqtt = false;
  private lastIdle: Date | null = null;
  /** IDLE sign or a mail handled: a bridge busy with a long backlog does not IDLE, yet is alive. */
  private lastAlive: number | null = null;
  private backlog = 0;
  private events = 0;
  private fatal: string | null = null;
  private readonly mails: Record<MailResult, number> = {
    published: 0, foreign: 0, private: 0, rejected: 0, failed: 0, deferred: 0,
  };
  private readonly now: () => number;
  private readonly detachers: (() => void)[] = [];

  constructor(bridge: BridgeLike, private readonly opts: HealthOptions) {
    super();
    this.now = opts.now ?? Date.now;
    this.listen(bridge, 'connection', ({ side, up }) => {
      if (side === 'imap') this.imap = up;
      else this.mqtt = up;
    });
    this.listen(bridge, 'idle', (at) => {
      this.lastIdle = at;
      this.lastAlive = Math.max(this.lastAlive ?? 0, at.getTime());
    });
    this.listen(bridge, 'backlog', (n) => {
      this.backlog = n;
    });
    this.listen(bridge, 'mail', ({ result }) => {
      this.mails[result] += 1;
      if (this.lastIdle !== null) this.lastAlive = Math.max(this.lastAlive ?? 0, this.now());
    });
    this.listen(bridge, 'published', ({ events }) => {
      this.events += events;
    });
    this.listen(bridge, 'fatal', (err) => {
      this.fatal = err.message;
    });
  }

  private listen<K extends keyof BridgeSignals>(
    bridge: BridgeLike,
    name: K,
    fn: (...args: BridgeSignals[K]) => void,
  ): void {
    const listener = (...args: BridgeSignals[K]): void => {
      fn(...args);
      this.emit('change', this.state());
    };
    // The generic overloads of EventEmitter<T> do not narrow through K; the map guarantees the shape.
    const emitter = bridge as unknown as EventEmitter;
    emitter.on(name, listener as (...a: unknown[]) => void);
    this.detachers.push(() => emitter.off(name, listener as (...a: unknown[]) => void));
  }

  state(): HealthState {
    const problems: string[] = [];
    if (this.fatal !== null) problems.push(`fatal: ${this.fatal}`);
    if (!this.imap) problems.push('imap down');
    if (!this.mqtt) problems.push('mqtt down');
    let idleAlive = false;
    if (this.lastIdle === null || this.lastAlive === null) {
      problems.push('no IDLE yet');
    } else {
      const age = this.now() - this.lastAlive;
      idleAlive = age <= this.opts.idleMaxAgeMs;
      if (!idleAlive) problems.push(`no IDLE for ${Math.round(age / 1000)} s`);
    }
    return {
      healthy: problems.length === 0,
      imap: this.imap,
      mqtt: this.mqtt,
      lastIdle: this.lastIdle,
      idleAlive,
      backlog: this.backlog,
      mails: { ...this.mails },
      events: this.events,
      fatal: this.fatal,
      problems,
    };
  }

  /** Stop listening to the bridge. */
  close(): void {
    for (const detach of this.detachers.splice(0)) detach();
    this.removeAllListeners();
  }
}
