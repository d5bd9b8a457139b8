/**
 * sd_notify(3) for `Type=notify` units: READY=1 once the bridge is connected
 * and IDLE-ing, WATCHDOG=1 every WATCHDOG_USEC/2 while it is healthy,
 * STATUS= lines, STOPPING=1 on shutdown. A no-op when NOTIFY_SOCKET is unset.
 *
 * Node has no AF_UNIX datagram sockets and the npm bindings (sd-notify,
 * unix-dgram) compile native code against downloaded Node headers, so the
 * messages go through systemd's own `systemd-notify` binary. It sends from its
 * own PID, hence `NotifyAccess=all` in deploy/lpmqtt.service; and it waits
 * (BARRIER=1) until systemd has read the message, so a message is never lost
 * because the sender exited first (systemd ≥ 246).
 */
import { execFile } from 'node:child_process';
import type { Health, HealthState } from './health.js';
import type { Logger } from './log.js';

export interface NotifierOptions {
  log: Logger;
  /** Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** The sender binary (default `systemd-notify`, found on PATH). */
  command?: string;
  /** Our PID, to honour WATCHDOG_PID (default process.pid). */
  pid?: number;
}

/** Sends `KEY=VALUE` lines to the service manager, one message at a time, in order. */
export class SdNotifier {
  readonly enabled: boolean;
  /** WATCHDOG_USEC in ms when the watchdog is on for this process, else undefined. */
  readonly watchdogMs: number | undefined;
  private readonly env: NodeJS.ProcessEnv;
  private readonly command: string;
  private readonly log: Logger;
  private chain: Promise<void> = Promise.resolve();
  private broken = false;

  constructor(opts: NotifierOptions) {
    this.env = opts.env ?? process.env;
    this.command = opts.command ?? 'systemd-notify';
    this.log = opts.log.child({ component: 'systemd' });
    this.enabled = typeof this.env.NOTIFY_SOCKET === 'string' && this.env.NOTIFY_SOCKET !== '';
    const watchdogPid = this.env.WATCHDOG_PID;
    const usec = Number(this.env.WATCHDOG_USEC);
    this.watchdogMs =
      this.enabled && Number.isFinite(usec) && usec > 0 && (watchdogPid === undefined || watchdogPid === String(opts.pid ?? process.pid))
        ? usec / 1000
        : undefined;
  }

  /** Queue one message; resolves when it was delivered (or failed and was logged). Never rejects. */
  notify(fields: Record<string, string>): Promise<void> {
    if (!this.enabled || this.broken) return this.chain;
    // A value must stay on one line: systemd reads the datagram as KEY=VALUE\n pairs.
    const args = Object.entries(fields).map(([k, v]) => `${k}=${v.replace(/[\r\n]+/g, ' ')}`);
    this.chain = this.chain.then(() => this.send(args));
    return this.chain;
  }

  private send(args: string[]): Promise<void> {
    return new Promise((resolve) => {
      execFile(this.command, args, { env: this.env, timeout: 10_000 }, (err, _stdout, stderr) => {
        if (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
            this.broken = true;
            this.log.warn({ command: this.command }, 'NOTIFY_SOCKET is set but systemd-notify was not found; no sd_notify messages will be sent');
          } else {
            this.log.warn({ err, stderr: stderr.trim(), message: args }, 'sd_notify message failed');
          }
        } else {
          this.log.debug({ message: args }, 'sd_notify');
        }
        resolve();
      });
    });
  }
}

export interface SystemdHandle {
  /** True once READY=1 went out. */
  readonly ready: boolean;
  /** STOPPING=1 (and a final STATUS); resolves once delivered. Stops the watchdog. */
  stopping(status?: string): Promise<void>;
  /** Stop timers and listeners without sending anything. */
  close(): void;
}

function statusClass(s: HealthState): string {
  return s.healthy ? 'ok' : s.problems.join(', ');
}

function statusText(s: HealthState): string {
  const counts = `${s.mails.published} mails published (${s.events} events), ${s.mails.failed + s.mails.rejected + s.mails.foreign} set aside, backlog ${s.backlog}`;
  return s.healthy ? `IDLE; ${counts}` : `degraded: ${s.problems.join(', ')}; ${counts}`;
}

/**
 * Follow `health` and tell systemd: READY=1 the first time the bridge is
 * healthy, STATUS= on every change of state (counts at most every
 * `statusIntervalMs`), WATCHDOG=1 every WATCHDOG_USEC/2 while healthy, so a
 * wedged or long-disconnected daemon is restarted by systemd.
 */
export function startSystemd(health: Health, opts: NotifierOptions & { statusIntervalMs?: number }): SystemdHandle {
  const sd = new SdNotifier(opts);
  const statusIntervalMs = opts.statusIntervalMs ?? 10_000;
  let ready = false;
  let closed = false;
  let lastClass = '';
  let lastText = '';
  let lastStatusAt = 0;
  let statusTimer: NodeJS.Timeout | undefined;
  let watchdogTimer: NodeJS.Timeout | undefined;

  const sendStatus = (s: HealthState): void => {
    lastClass = statusClass(s);
    lastText = statusText(s);
    lastStatusAt = Date.now();
    void sd.notify({ STATUS: lastText });
  };

  const onChange = (s: HealthState): void => {
    if (closed || !sd.enabled) return;
    if (!ready && s.healthy) {
      ready = true;
      lastClass = statusClass(s);
      lastText = statusText(s);
      lastStatusAt = Date.now();
      void sd.notify({ READY: '1', STATUS: lastText });
      return;
    }
    if (statusClass(s) !== lastClass) {
      if (statusTimer) clearTimeout(statusTimer);
      statusTimer = undefined;
      sendStatus(s);
      return;
    }
    // Same state, new counts: refresh the STATUS line, but not once per mail.
    if (statusText(s) !== lastText && statusTimer === undefined) {
      const wait = Math.max(0, lastStatusAt + statusIntervalMs - Date.now());
      statusTimer = setTimeout(() => {
        statusTimer = undefined;
        if (!closed) sendStatus(health.state());
      }, wait);
      statusTimer.unref();
    }
  };

  if (sd.enabled) {
    health.on('change', onChange);
    void sd.notify({ STATUS: 'connecting' });
    if (sd.watchdogMs !== undefined) {
      watchdogTimer = setInterval(() => {
        if (health.state().healthy) void sd.notify({ WATCHDOG: '1' });
      }, Math.max(1, Math.floor(sd.watchdogMs / 2)));
      watchdogTimer.unref();
    }
    onChange(health.state());
  }

  const close = (): void => {
    closed = true;
    health.off('change', onChange);
    if (statusTimer) clearTimeout(statusTimer);
    if (watchdogTimer) clearInterval(watchdogTimer);
  };

  return {
    get ready() {
      return ready;
    },
    stopping: async (status = 'stopping') => {
      close();
      await sd.notify({ STOPPING: '1', STATUS: status });
    },
    close,
  };
}
