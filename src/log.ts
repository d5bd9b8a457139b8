/**
 * pino loggers. JSON on the given stream (stdout for the daemon, stderr for the
 * one-shot tools whose stdout is data); pretty when that stream is a TTY.
 * Secrets are redacted wherever a config object or client options get logged.
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

const REDACT = ['password', '*.password', '*.*.password', 'config.*.password', 'auth.pass', '*.auth.pass'];

export interface LogOptions {
  level: LevelWithSilent;
  /** File descriptor to write to: 1 (stdout) or 2 (stderr). */
  fd?: 1 | 2;
  /** Force pretty (true) or JSON (false); default: pretty when the fd is a TTY. */
  pretty?: boolean;
}

export function createLogger(opts: LogOptions): Logger {
  const fd = opts.fd ?? 1;
  const stream = fd === 1 ? process.stdout : process.stderr;
  const pretty = opts.pretty ?? stream.isTTY === true;
  const base = { level: opts.level, redact: { paths: REDACT, censor: '***' }, base: { name: 'lpmqtt' } };
  if (pretty) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { destination: fd, colorize: true } } });
  }
  return pino(base, pino.destination({ fd, sync: fd === 2 }));
}
