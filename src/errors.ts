/**
 * The error family of lpmqtt. Each class carries the context a reader needs
 * (file, key, mail) and keeps the underlying error as `cause`. The CLI maps
 * them to exit codes: ConfigError and UsageError → 2, the rest → 1.
 */

export class LpmqttError extends Error {
  override name = 'LpmqttError';
}

/**
 * Invalid configuration. `problems` holds every problem found, each already
 * naming the file and the dotted key (`lpmqtt.yaml: imap.port: expected …`);
 * the message lists them all, one per line.
 */
export class ConfigError extends LpmqttError {
  override name = 'ConfigError';
  readonly problems: readonly string[];
  readonly file: string | undefined;

  constructor(problems: readonly string[], opts: { file?: string | undefined; cause?: unknown } = {}) {
    const head = problems.length === 1 ? 'invalid configuration:' : `invalid configuration (${problems.length} problems):`;
    super(`${head}\n${problems.map((p) => `  ${p}`).join('\n')}`, opts.cause === undefined ? {} : { cause: opts.cause });
    this.problems = problems;
    this.file = opts.file;
  }
}

/** Bad command-line usage (a missing argument, a path that does not exist, …). */
export class UsageError extends LpmqttError {
  override name = 'UsageError';
}

/** A mail (file, mbox message, stdin) could not be read. `source` names it. */
export class MailSourceError extends LpmqttError {
  override name = 'MailSourceError';
  readonly source: string;

  constructor(source: string, reason: string, opts: { cause?: unknown } = {}) {
    super(`${source}: ${reason}`, opts.cause === undefined ? {} : { cause: opts.cause });
    this.source = source;
  }
}

/** Reason text of any thrown value, for one log line. */
export function errorReason(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code !== undefined && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
